"""Sessions cached in Redis, kept in PostgreSQL: Redis makes them fast, never makes them fail.

Django's cached_db store reads the cache first and writes both, but a cache that is down raises
on the write-back after a database read: every signed-in page would fail during a Redis outage.
Here a cache error is logged and the database answers alone.

Known limit: a logout while Redis is down deletes the row but not the cached copy; if that same
Redis comes back with its data, the session works again until it expires.
"""
from __future__ import annotations

from django.contrib.sessions.backends import cached_db

from core.forgiving_cache import ForgivingCache


class SessionStore(cached_db.SessionStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        self._cache = ForgivingCache(self._cache)
