"""Running a Report record: build rows, write the file, record path, size and checksum."""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from django.utils import timezone

from apranova import reports
from apranova.charts import render_analytics_charts
from apranova.models import Report
from core import aprovova, metrics
from core.report_utils import ReportData, ReportGenerator

log = logging.getLogger(__name__)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def run_report(report: Report) -> Report:
    """Generate the report's file; on failure record the error instead of raising."""
    started = time.perf_counter()
    report.status, report.started_at, report.error = Report.Status.RUNNING, timezone.now(), ""
    report.save(update_fields=["status", "started_at", "error"])
    try:
        data = reports.build(report.report_type, report.filters)
        if report.report_type == Report.Type.ANALYTICS:
            rows = list(data.rows)  # One row per day and currency: small, and needed twice.
            data = ReportData(data.title, data.columns, rows)
            report.artifacts = [_relative(path) for path in render_analytics_charts(rows)]
        generator = ReportGenerator(report.report_type)
        path = generator.generate(report.format, data)
        report.path = _relative(path)
        report.size_bytes = path.stat().st_size
        report.checksum_sha256 = sha256_of(path)
        report.row_count = generator.last_row_count
        report.status = Report.Status.SUCCEEDED
    except Exception as exc:  # noqa: BLE001 - the record must say why, whatever went wrong.
        log.exception("report failed", extra={"report_id": report.pk, "report_type": report.report_type})
        report.status, report.error = Report.Status.FAILED, f"{type(exc).__name__}: {exc}"
    report.finished_at = timezone.now()
    report.save()
    elapsed = time.perf_counter() - started
    metrics.REPORTS_GENERATED.labels(report.report_type, report.format, report.status).inc()
    metrics.REPORT_DURATION.labels(report.report_type, report.format).observe(elapsed)
    log.info("report finished", extra={"report_id": report.pk, "status": report.status, "rows": report.row_count, "seconds": round(elapsed, 3)})
    return report


def delete_report_files(report: Report) -> None:
    """Remove the report's file and artifacts, only ever inside APROVOVA."""
    for relative in [report.path, *report.artifacts]:
        path = aprovova.resolve_inside(relative) if relative else None
        if path is not None:
            path.unlink(missing_ok=True)


def _relative(path: Path) -> str:
    return str(path.resolve().relative_to(aprovova.root().resolve()))
