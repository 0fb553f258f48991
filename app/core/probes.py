"""/healthz, /readyz and /metrics, served before host validation and the HTTPS redirect.

Load balancers, Docker's HEALTHCHECK and Prometheus call these by IP over plain HTTP;
routing them through ALLOWED_HOSTS and SECURE_SSL_REDIRECT would turn every probe into a 400 or 301.
Keep /metrics off the public nginx server (it lists nothing secret, but it is not for visitors).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core import health, metrics


def healthz(request: HttpRequest) -> HttpResponse:
    # Liveness: the process answers. Touches no dependency on purpose, so a database outage
    # does not make the orchestrator restart every web container.
    return JsonResponse({"status": "ok", "release": settings.APP_RELEASE, "environment": settings.APP_ENVIRONMENT})


_ready_lock = threading.Lock()
_ready_cache: tuple[float, dict[str, str]] = (float("-inf"), {})


def _readiness() -> dict[str, str]:
    """The checks' results, run again only when older than READYZ_CACHE_SECONDS."""
    global _ready_cache
    with _ready_lock:
        checked_at, results = _ready_cache
        if time.monotonic() - checked_at >= settings.READYZ_CACHE_SECONDS:
            results = health.run_checks(settings.READYZ_CHECKS)
            _ready_cache = (time.monotonic(), results)
        return results


def _may_see_details(request: HttpRequest) -> bool:
    proxied = "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_X_REAL_IP" in request.META
    return not proxied and request.META.get("REMOTE_ADDR") in settings.READYZ_DETAIL_ADDRESSES


def readyz(request: HttpRequest) -> HttpResponse:
    results = _readiness()
    failing = [name for name, outcome in results.items() if outcome != "ok"]
    body: dict = {"status": "fail" if failing else "ok"}
    if _may_see_details(request):
        body |= {"checks": results, "failing": failing, "release": settings.APP_RELEASE}
    return JsonResponse(body, status=503 if failing else 200)


def metrics_view(request: HttpRequest) -> HttpResponse:
    payload, content_type = metrics.render()
    return HttpResponse(payload, content_type=content_type)


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # The exact path only: nginx keeps /metrics from the public by its exact location, so
        # /metrics/ (or any other spelling) must not reach the metrics here either.
        probe = PROBES.get(request.path_info)
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
