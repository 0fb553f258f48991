"""A cache whose failures cost speed, never a request: sessions and throttles keep working while Redis is down."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class ForgivingCache:
    """The cache calls sessions and DRF throttles make; a failing read is a miss, a failing write a no-op."""

    def __init__(self, cache: Any) -> None:
        self._cache = cache

    def _try(self, action: str, call: Callable[[], T], fallback: T) -> T:
        try:
            return call()
        except Exception as error:  # The backend's own errors (redis.ConnectionError, timeouts...).
            log.warning("cache %s failed, going on without it: %s", action, error)
            return fallback

    def get(self, key: str, default: Any = None) -> Any:
        return self._try("read", lambda: self._cache.get(key, default), default)

    def set(self, key: str, value: Any, timeout: Any = None) -> None:
        self._try("write", lambda: self._cache.set(key, value, timeout), None)

    def add(self, key: str, value: Any, timeout: Any = None) -> bool:
        return self._try("write", lambda: self._cache.add(key, value, timeout), False)

    def incr(self, key: str, delta: int = 1) -> int:
        return self._try("write", lambda: self._cache.incr(key, delta), 0)

    def delete(self, key: str) -> None:
        self._try("delete", lambda: self._cache.delete(key), None)

    def __contains__(self, key: str) -> bool:
        return self._try("read", lambda: key in self._cache, False)
