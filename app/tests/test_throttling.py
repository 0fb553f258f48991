"""API throttles: 429 with Retry-After per user and after failed Basic sign-ins.

(Anonymous requests are refused with 401 before any throttle: the API has no anonymous view.)
"""
from __future__ import annotations

import base64

import pytest
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

from core import throttling

from tests.conftest import PASSWORD, HttpsAPIClient, _client


@pytest.fixture
def rates(settings):
    cache.clear()  # counters of earlier tests (user ids repeat across tests)
    settings.APROVOVA_THROTTLE_RATES = {"user": "5/min", "failed_sign_in": "3/min"}
    yield settings.APROVOVA_THROTTLE_RATES
    cache.clear()


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@pytest.mark.django_db
def test_a_user_over_the_rate_gets_429_with_retry_after(rates, staff):
    client = _client(staff)
    codes = [client.get("/api/reports/").status_code for _ in range(6)]
    assert codes == [200] * 5 + [429]
    refused = client.get("/api/reports/")
    assert int(refused["Retry-After"]) > 0 and "detail" in refused.json()


@pytest.mark.django_db
def test_failed_basic_sign_ins_are_throttled_even_with_the_right_password_after(rates, staff):
    client = HttpsAPIClient()
    client.credentials(HTTP_AUTHORIZATION=_basic(staff.username, "wrong-guess"))
    assert [client.get("/api/reports/").status_code for _ in range(3)] == [401] * 3
    client.credentials(HTTP_AUTHORIZATION=_basic(staff.username, PASSWORD))
    refused = client.get("/api/reports/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    # Another address is not locked out by this one's guesses.
    other = HttpsAPIClient(REMOTE_ADDR="192.0.2.44")
    other.credentials(HTTP_AUTHORIZATION=_basic(staff.username, PASSWORD))
    assert other.get("/api/reports/").status_code == 200


@pytest.mark.django_db
def test_the_client_is_the_address_nginx_forwards(rates, staff):
    for address in ("198.51.100.1", "198.51.100.2"):
        client = HttpsAPIClient(HTTP_X_FORWARDED_FOR=address)
        client.credentials(HTTP_AUTHORIZATION=_basic(staff.username, "wrong-guess"))
        assert [client.get("/api/reports/").status_code for _ in range(3)] == [401] * 3


@pytest.mark.django_db
def test_with_redis_down_the_api_still_answers(rates, staff, monkeypatch):
    down = RedisCache("redis://127.0.0.1:1/0", {"OPTIONS": {"socket_connect_timeout": 1}})
    monkeypatch.setattr(throttling._cache, "_cache", down)
    assert _client(staff).get("/api/reports/").status_code == 200
