"""API throttles: per user, and for failed sign-ins (Basic authentication
included, where every guess costs the server a full password hash). Counters live in Redis, shared
by every worker; while Redis is down they count nothing rather than fail requests.

Rates come from settings at request time (APROVOVA_THROTTLE_RATES), so they can be changed per
environment; the client is the address nginx saw (REST_FRAMEWORK NUM_PROXIES), not nginx itself.
"""
from __future__ import annotations

from django.conf import settings
from django.core.cache import cache as default_cache
from rest_framework.authentication import BasicAuthentication
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.throttling import SimpleRateThrottle, UserRateThrottle

from core.forgiving_cache import ForgivingCache

_cache = ForgivingCache(default_cache)


class _RatesFromSettings(SimpleRateThrottle):
    cache = _cache

    def get_rate(self) -> str:
        return settings.APROVOVA_THROTTLE_RATES[self.scope]


class UserThrottle(_RatesFromSettings, UserRateThrottle):
    pass


class _FailedSignIns(_RatesFromSettings):
    """Counts failed sign-ins per client address; only failures count."""

    scope = "failed_sign_in"

    def __init__(self, request) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = f"apranova:failed-sign-in:{self.get_ident(request)}"

    def refused_for(self) -> int | None:
        """Seconds until the client may try again, or None while it is under the limit."""
        failures = self.cache.get(self.key) or 0
        return self.duration if failures >= self.num_requests else None

    def record_failure(self) -> None:
        self.cache.add(self.key, 0, self.duration)  # The window starts at the first failure.
        self.cache.incr(self.key)


class ThrottledBasicAuthentication(BasicAuthentication):
    """Basic authentication that refuses a client with too many recent failures: 429 and Retry-After."""

    def authenticate(self, request):
        failures = _FailedSignIns(request)
        wait = failures.refused_for()
        if wait is not None and request.META.get("HTTP_AUTHORIZATION", "").lower().startswith("basic "):
            raise Throttled(wait=wait, detail="Too many failed sign-ins from this address; try again later.")
        try:
            return super().authenticate(request)
        except AuthenticationFailed:
            failures.record_failure()
            raise
