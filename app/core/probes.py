"""/healthz, /readyz and /metrics, served before host validation and the HTTPS redirect.

Load balancers, Docker's HEALTHCHECK and Prometheus call these by IP over plain HTTP;
routing them through ALLOWED_HOSTS and SECURE_SSL_REDIRECT would turn every probe into a 400 or 301.
Keep /metrics off the public nginx server (it lists nothing secret, but it is not for visitors).
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from core import health, metrics


def healthz(request: HttpRequest) -> HttpResponse:
    # Liveness: the process answers. Touches no dependency on purpose, so a database outage
    # does not make the orchestrator restart every web container.
    return JsonResponse({"status": "ok", "release": settings.APP_RELEASE, "environment": settings.APP_ENVIRONMENT})


def readyz(request: HttpRequest) -> HttpResponse:
    results = health.run_checks(settings.READYZ_CHECKS)
    failing = [name for name, outcome in results.items() if outcome != "ok"]
    body = {"status": "fail" if failing else "ok", "checks": results, "failing": failing, "release": settings.APP_RELEASE}
    return JsonResponse(body, status=503 if failing else 200)


def metrics_view(request: HttpRequest) -> HttpResponse:
    payload, content_type = metrics.render()
    return HttpResponse(payload, content_type=content_type)


PROBES: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz, "/metrics": metrics_view}


class ProbeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        probe = PROBES.get(request.path_info.rstrip("/") or "/")
        if probe is not None and request.method in ("GET", "HEAD"):
            return probe(request)
        return self.get_response(request)
