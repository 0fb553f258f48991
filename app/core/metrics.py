"""Prometheus metrics: request counters, report outcomes and the release as a label.

With several gunicorn workers, PROMETHEUS_MULTIPROC_DIR (set by the image's entrypoint) makes
every worker write its samples there so one scrape sees them all.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

HTTP_REQUESTS = Counter("apranova_http_requests_total", "HTTP requests", ["method", "status"])
HTTP_LATENCY = Histogram("apranova_http_request_duration_seconds", "HTTP request latency", ["method"])
REPORTS_GENERATED = Counter("apranova_reports_generated_total", "Reports generated", ["type", "format", "outcome"])
REPORT_DURATION = Histogram(
    "apranova_report_duration_seconds", "Report generation time", ["type", "format"], buckets=(0.5, 1, 5, 15, 60, 300, 1800)
)
# Where the beat's heartbeat task (apranova.tasks.beat_heartbeat) records when it last ran.
BEAT_HEARTBEAT_KEY = "apranova:beat:heartbeat"
APP_INFO = Gauge("apranova_app_info", "Release and environment of this process", ["version", "environment"], multiprocess_mode="max")


class ReportsByStatusCollector:
    """Counts of Report rows by status, read at scrape time (one small GROUP BY)."""

    def collect(self):
        from django.db.models import Count

        from apranova.models import Report

        family = GaugeMetricFamily("apranova_reports", "Report records by type and status", labels=["type", "status"])
        try:
            for row in Report.objects.values("report_type", "status").annotate(n=Count("id")):
                family.add_metric([row["report_type"], row["status"]], row["n"])
        except Exception:  # noqa: BLE001 - a database outage must not break the scrape.
            return
        yield family


class BeatHeartbeatCollector:
    """When a worker last ran the beat's heartbeat, read from the cache at scrape time."""

    def collect(self):
        from django.core.cache import cache

        try:
            last = cache.get(BEAT_HEARTBEAT_KEY)
        except Exception:  # noqa: BLE001 - a Redis outage must not break the scrape.
            return
        if last is None:
            return
        family = GaugeMetricFamily("apranova_beat_heartbeat_timestamp_seconds",
                                   "When a worker last ran the heartbeat the beat sends (Unix time)")
        family.add_metric([], float(last))
        yield family


def render() -> tuple[bytes, str]:
    APP_INFO.labels(settings.APP_RELEASE, settings.APP_ENVIRONMENT).set(1)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY as registry
    payload = generate_latest(registry)
    extra = CollectorRegistry()
    extra.register(ReportsByStatusCollector())
    extra.register(BeatHeartbeatCollector())
    return payload + generate_latest(extra), CONTENT_TYPE_LATEST


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        HTTP_LATENCY.labels(request.method).observe(time.perf_counter() - started)
        HTTP_REQUESTS.labels(request.method, str(response.status_code)).inc()
        return response
