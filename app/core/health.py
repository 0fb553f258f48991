"""Readiness checks: each returns None when healthy, or a short reason."""
from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from core import aprovova, migration_safety, report_store

log = logging.getLogger(__name__)


def check_database() -> str | None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
    return None


def check_redis() -> str | None:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    finally:
        client.close()
    return None


def check_aprovova() -> str | None:
    problems = aprovova.tree_problems()
    return "; ".join(problems) if problems else None


def check_storage() -> str | None:
    return report_store.check()


def check_migrations() -> str | None:
    # Contract migrations wait, by design, until the release before this one has stopped: this
    # release must become ready (and serve) without them.
    missing = [verdict for verdict in migration_safety.pending() if verdict.phase != migration_safety.CONTRACT]
    return f"{len(missing)} migration(s) not applied" if missing else None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "redis": check_redis,
    "aprovova": check_aprovova,
    "storage": check_storage,
    "migrations": check_migrations,
}


def run_checks(names: list[str]) -> dict[str, str]:
    """Map each check to "ok" or its failure; one failing check never hides the others."""
    results = {}
    for name in names:
        try:
            problem = CHECKS[name]()
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready".
            # The exception's text names hosts, ports and users: it goes to the log, not the response.
            log.warning("readiness check %s failed", name, exc_info=True)
            problem = f"{type(exc).__name__} (details in the app's log)"
        results[name] = "ok" if problem is None else problem
    return results
