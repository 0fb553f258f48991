"""Celery tasks: on-demand reports, the nightly set, invoices and retention cleanup."""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from apranova.models import Payment, Report
from apranova.services import delete_report_files, run_report
from core import aprovova
from core.report_utils import cleanup_old_invoices
from core.report_utils import cleanup_old_reports as cleanup_files

log = logging.getLogger(__name__)


@shared_task(name="apranova.tasks.generate_report")
def generate_report(report_id: int) -> str:
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return "deleted"  # Deleted through the API before a worker got to it.
    if report.status == Report.Status.SUCCEEDED:
        return report.status  # Redelivered after success (acks_late): don't redo the work.
    return run_report(report).status


@shared_task(name="apranova.tasks.generate_daily_reports")
def generate_daily_reports() -> list[int]:
    """Yesterday's reports, for each type:format pair in APROVOVA_DAILY_REPORTS."""
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    ids = []
    for pair in settings.APROVOVA_DAILY_REPORTS:
        report_type, _, fmt = pair.partition(":")
        filters = {} if report_type == "batches" else {"date_from": yesterday, "date_to": yesterday}
        report = Report.objects.create(report_type=report_type, format=fmt or "csv", filters=filters)
        generate_report.delay(report.pk)
        ids.append(report.pk)
    return ids


@shared_task(name="apranova.tasks.generate_invoice")
def generate_invoice(payment_id: int) -> str:
    from apranova.invoices import render_invoice

    payment = Payment.objects.select_related("user", "batch__course").get(pk=payment_id)
    return str(render_invoice(payment))


@shared_task(name="apranova.tasks.cleanup_old_reports")
def cleanup_old_reports(days: int | None = None) -> dict[str, int]:
    """Delete Report rows and files older than the retention, then any stray old file.

    Invoices are kept unless APROVOVA_INVOICE_RETENTION_DAYS (0: forever, the default) says otherwise.
    """
    days = settings.APROVOVA_RETENTION_DAYS if days is None else days
    if days < 1:
        # Settings refuse it too; a task called by hand with 0 would wipe every report.
        raise ValueError(f"report retention must be at least 1 day, not {days}")
    cutoff = timezone.now() - timedelta(days=days)
    old = Report.objects.filter(created_at__lt=cutoff)
    records = 0
    for report in old.iterator():
        delete_report_files(report)
        records += 1
    old.delete()
    files = sum(len(cleanup_files(days, directory)) for directory in aprovova.report_roots())
    invoice_days = settings.APROVOVA_INVOICE_RETENTION_DAYS
    invoices = len(cleanup_old_invoices(invoice_days)) if invoice_days > 0 else 0
    log.info("cleanup finished", extra={"records": records, "files": files, "invoices": invoices, "retention_days": days})
    return {"records": records, "files": files, "invoices": invoices}
