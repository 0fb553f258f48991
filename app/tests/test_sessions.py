"""Sessions come from Redis (no session query per signed-in request) and survive a Redis outage."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

# A port nothing listens on: the cache fails at once, as when Redis is down.
DOWN = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0",
                    "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}


def _session_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/reports/", secure=True).status_code == 200
    return sum("django_session" in query["sql"] for query in queries.captured_queries)


@pytest.mark.django_db
def test_a_signed_in_request_reads_its_session_from_redis(client, staff):
    client.force_login(staff)
    assert _session_queries(client) == 0


@pytest.mark.django_db
def test_sessions_fall_back_to_the_database_when_redis_is_down(client, staff, settings):
    settings.CACHES = DOWN
    client.force_login(staff)  # written to the database although the cache write fails
    assert _session_queries(client) == 1  # read from the database, and the request still succeeds
