"""One beat for the environment: redbeat's lock in Redis, and the heartbeat that shows it sends."""
from __future__ import annotations

import time
import warnings

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client

from apranova.tasks import beat_heartbeat
from core.celery import app
from core.metrics import BEAT_HEARTBEAT_KEY


def test_beat_uses_redbeat_with_a_lock_it_renews_in_time():
    from redbeat.schedulers import RedBeatConfig

    assert app.conf.beat_scheduler == "redbeat.RedBeatScheduler"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to the broker's URL or options
        conf = RedBeatConfig(app)
    assert conf.redis_url == settings.REDIS_URL
    assert conf.lock_key and conf.lock_timeout == settings.CELERY_REDBEAT_LOCK_TIMEOUT
    # The holder renews the lock once per tick, and a waiting beat asks for it once per tick: at
    # least five ticks per timeout, as the scheduler beat runs has them (the default tick is 300 s).
    from redbeat.schedulers import RedBeatScheduler

    scheduler = RedBeatScheduler(app, lazy=True)
    assert scheduler.lock_timeout == settings.CELERY_REDBEAT_LOCK_TIMEOUT
    assert scheduler.max_interval * 5 <= scheduler.lock_timeout
    assert app.conf.beat_schedule["beat-heartbeat"]["task"] == "apranova.tasks.beat_heartbeat"


def test_a_second_beat_cannot_take_the_lock_while_the_first_holds_it():
    from redbeat.schedulers import RedBeatConfig

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{RedBeatConfig(app).lock_key}:test-{time.time_ns()}"
    first = client.lock(key, timeout=10, sleep=0.1)
    second = client.lock(key, timeout=10, sleep=0.1)
    try:
        assert first.acquire(blocking=False)
        assert not second.acquire(blocking=True, blocking_timeout=0.5)
        first.release()
        assert second.acquire(blocking=False)  # the first beat stopped: the other takes over
    finally:
        client.delete(key)


@pytest.mark.django_db
def test_heartbeat_is_recorded_and_exported():
    cache.delete(BEAT_HEARTBEAT_KEY)
    assert "apranova_beat_heartbeat_timestamp_seconds" not in Client().get("/metrics").content.decode()
    before = time.time()
    beat_heartbeat()
    text = Client().get("/metrics").content.decode()
    line = next(line for line in text.splitlines() if line.startswith("apranova_beat_heartbeat_timestamp_seconds "))
    assert float(line.split()[1]) >= before
