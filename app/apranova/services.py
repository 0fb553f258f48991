"""Running a Report record: claim it, build rows, write the file, record path, size and checksum.

A report runs at most once: a worker claims the row (PENDING -> RUNNING) under a row lock, so a
second delivery of the same task finds it taken and does nothing. The outcome is written only
into a row that still exists and is still RUNNING: a report deleted (or failed by the sweeper)
meanwhile stays so, and the file written for it is discarded.
"""
from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apranova import reports
from apranova.charts import render_analytics_charts
from apranova.models import Report
from apranova.report_errors import failure_reason
from apranova.reports.size import rows_up_to
from core import metrics, report_store
from core.report_utils import ReportData, ReportGenerator

log = logging.getLogger(__name__)


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def claim(report: Report) -> bool:
    """Take a PENDING report for this worker; False when it is gone or another delivery has it."""
    with transaction.atomic():
        current = Report.objects.select_for_update().filter(pk=report.pk).values("status").first()
        if current is None or current["status"] != Report.Status.PENDING:
            return False
        report.status, report.started_at, report.error = Report.Status.RUNNING, timezone.now(), ""
        Report.objects.filter(pk=report.pk).update(status=report.status, started_at=report.started_at, error="")
    return True


def run_report(report: Report) -> Report | None:
    """Generate the report's file; on failure record the error instead of raising.

    Returns the report as recorded, or None when its row no longer exists. A report that is not
    PENDING (running elsewhere, finished, failed) is returned as it is, untouched.
    """
    if not claim(report):
        current = Report.objects.filter(pk=report.pk).first()
        if current is not None:
            log.info("report not claimed", extra={"report_id": report.pk, "status": current.status})
        return current
    started = time.perf_counter()
    written: list[Path] = []  # Files of this run, discarded unless the row records them.
    try:
        # The API refuses these up front; nightly or command-line reports meet the same bound here.
        refusal = pdf_refusal(report.report_type, report.format, report.filters)
        if refusal:
            raise ReportTooLarge(refusal)
        data = reports.build(report.report_type, report.filters)
        if report.report_type == Report.Type.ANALYTICS:
            rows = list(data.rows)  # One row per day and currency: small, and needed twice.
            data = ReportData(data.title, data.columns, rows)
            charts = render_analytics_charts(rows)
            written += charts
            report.artifacts = [_relative(path) for path in charts]
        generator = ReportGenerator(report.report_type)
        path = generator.generate(report.format, data)
        written.append(path)
        report.path = _relative(path)
        report.size_bytes = path.stat().st_size
        report.checksum_sha256 = sha256_of(path)
        report.row_count = generator.last_row_count
        for finished in written:
            report_store.publish(finished)
        report.status = Report.Status.SUCCEEDED
        # Inside the try: a failed final write is a failed report, not a row stuck RUNNING.
        kept = _record_outcome(report, ["path", "artifacts", "size_bytes", "checksum_sha256", "row_count"])
    except Exception as exc:  # noqa: BLE001 - the record must say why, whatever went wrong.
        log.exception("report failed", extra={"report_id": report.pk, "report_type": report.report_type})
        _discard(written)
        written = []
        report.path, report.artifacts, report.size_bytes, report.checksum_sha256, report.row_count = "", [], None, "", None
        report.status, report.error = Report.Status.FAILED, failure_reason(exc)
        try:
            kept = _record_outcome(report, ["error"])
        except Exception:  # noqa: BLE001 - the database is gone; the sweeper fails the row later.
            log.exception("could not record the failure", extra={"report_id": report.pk})
            kept = False
    if not kept:
        _discard(written)
    elapsed = time.perf_counter() - started
    outcome = report.status if kept else "discarded"
    metrics.REPORTS_GENERATED.labels(report.report_type, report.format, outcome).inc()
    metrics.REPORT_DURATION.labels(report.report_type, report.format).observe(elapsed)
    log.info("report finished", extra={"report_id": report.pk, "status": outcome, "rows": report.row_count, "seconds": round(elapsed, 3)})
    if not kept:
        # Deleted through the API or failed by the sweeper while it ran: the row says what is true.
        return Report.objects.filter(pk=report.pk).first()
    return report


class ReportTooLarge(Exception):
    """The report would exceed the row limit of its format."""


def pdf_refusal(report_type: str, fmt: str, filters: dict) -> str | None:
    """Why a PDF of this report is refused (too many rows for ReportLab's memory), or None."""
    limit = settings.APROVOVA_PDF_MAX_ROWS
    if fmt != Report.Format.PDF or rows_up_to(report_type, filters, limit) <= limit:
        return None
    return (f"A PDF report is limited to {limit:,} rows and this one has more. "
            "Ask for CSV (or JSON) instead, which have no row limit, or narrow date_from/date_to.")


def _record_outcome(report: Report, fields: list[str]) -> bool:
    """Write the outcome into the row only while it exists and is still ours (RUNNING). Never inserts."""
    report.finished_at = timezone.now()
    values: dict[str, Any] = {name: getattr(report, name) for name in [*fields, "status", "finished_at"]}
    with transaction.atomic():  # A savepoint: a failed write leaves the connection usable.
        return Report.objects.filter(pk=report.pk, status=Report.Status.RUNNING).update(**values) == 1


def fail(report_id: int, reason: str) -> bool:
    """Mark a report that has not finished as failed, with a reason the API shows."""
    updated = Report.objects.filter(pk=report_id, status__in=[Report.Status.PENDING, Report.Status.RUNNING]).update(
        status=Report.Status.FAILED, error=reason, finished_at=timezone.now())
    return updated == 1


def delete_report_files(report: Report) -> None:
    """Remove the report's file and artifacts, only ever inside APROVOVA (or its bucket)."""
    for relative in [report.path, *report.artifacts]:
        if relative:
            report_store.remove(relative)


def _discard(paths: list[Path]) -> None:
    for path in paths:
        report_store.discard(path)


def _relative(path: Path) -> str:
    return report_store.relative_key(path)
