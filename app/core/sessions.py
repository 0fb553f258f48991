"""Sessions cached in Redis, kept in PostgreSQL: Redis makes them fast, never makes them fail.

Django's cached_db store reads the cache first and writes both, but a cache that is down raises
on the write-back after a database read: every signed-in page would fail during a Redis outage.
Here a cache error is logged and the database answers alone.
"""
from __future__ import annotations

import logging
from typing import Any

from django.contrib.sessions.backends import cached_db

log = logging.getLogger(__name__)


class _ForgivingCache:
    """The cache calls cached_db makes; each one that fails is a miss (reads) or a no-op (writes)."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def _try(self, action: str, call, fallback: Any) -> Any:
        try:
            return call()
        except Exception as error:  # The backend's own errors (redis.ConnectionError, timeouts...).
            log.warning("session cache %s failed, using the database: %s", action, error)
            return fallback

    def get(self, key: str, default: Any = None) -> Any:
        return self._try("read", lambda: self._cache.get(key, default), default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self._try("write", lambda: self._cache.set(key, value, timeout), None)

    def delete(self, key: str) -> None:
        self._try("delete", lambda: self._cache.delete(key), None)

    def __contains__(self, key: str) -> bool:
        return self._try("read", lambda: key in self._cache, False)


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = _ForgivingCache(self._cache)
