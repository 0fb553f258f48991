"""Celery application: Redis broker, tasks from the Django apps, the nightly schedule."""
from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from celery.signals import beat_init, worker_init

from core.env import env_int

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

app = Celery("apranova")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _redbeat_settings(sender: Celery, **kwargs) -> None:
    """redbeat reads its settings by their own names, outside Celery's CELERY_ namespace."""
    from django.conf import settings

    sender.conf.update(
        redbeat_redis_url=settings.REDIS_URL,
        redbeat_lock_timeout=settings.CELERY_REDBEAT_LOCK_TIMEOUT,
        # Its own client options, not the broker's transport options.
        redbeat_redis_options={},
    )

app.conf.beat_schedule = {
    "beat-heartbeat": {"task": "apranova.tasks.beat_heartbeat",
                       "schedule": float(env_int("APROVOVA_BEAT_HEARTBEAT_SECONDS", 60, minimum=1))},
    "daily-reports": {"task": "apranova.tasks.generate_daily_reports", "schedule": crontab(hour=2, minute=0)},
    "cleanup-old-reports": {"task": "apranova.tasks.cleanup_old_reports", "schedule": crontab(hour=3, minute=30)},
    # Cheap (two indexed UPDATEs): often enough that a lost report is reported within minutes of its limit.
    "fail-stuck-reports": {"task": "apranova.tasks.fail_stuck_reports", "schedule": crontab(minute="*/10")},
}


@worker_init.connect
@beat_init.connect
def _check_aprovova(**kwargs) -> None:
    from django.core.exceptions import ImproperlyConfigured

    from core.startup import assert_aprovova_ready

    try:
        assert_aprovova_ready()
    except ImproperlyConfigured as error:
        # Celery logs and swallows exceptions from signal handlers; SystemExit is not swallowed.
        raise SystemExit(f"refusing to start: {error}") from error
