"""Celery tasks: on-demand reports, the nightly set, invoices, retention cleanup and the beat's heartbeat."""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from billiard.exceptions import WorkerLostError
from celery import Task, shared_task
from celery.exceptions import TimeLimitExceeded
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from apranova.models import Payment, Report
from apranova.services import delete_report_files, fail, run_report
from core import aprovova, report_store
from core.metrics import BEAT_HEARTBEAT_KEY
from core.report_utils import cleanup_old_invoices
from core.report_utils import cleanup_old_reports as cleanup_files

log = logging.getLogger(__name__)


class ReportTask(Task):
    """Records a report as failed when its worker process is killed (hard time limit, OOM killer).

    Celery calls on_failure in the parent worker process for those, so the row says why at once;
    the sweeper (fail_stuck_reports) catches whatever is missed, e.g. a whole container killed.
    """

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        report_id = args[0] if args else kwargs.get("report_id")
        if report_id is not None and isinstance(exc, (TimeLimitExceeded, WorkerLostError)):
            fail(report_id, f"{type(exc).__name__}: the worker was stopped before the report was finished; request it again.")


@shared_task(name="apranova.tasks.generate_report", base=ReportTask)
def generate_report(report_id: int) -> str:
    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return "deleted"  # Deleted through the API before a worker got to it.
    # run_report claims the row under a lock: a redelivered or duplicate task does nothing.
    outcome = run_report(report)
    return "deleted" if outcome is None else str(outcome.status)


@shared_task(name="apranova.tasks.beat_heartbeat", ignore_result=True)
def beat_heartbeat() -> float:
    """Record when the beat last sent its heartbeat, for the metrics: a stale one means no beat runs."""
    now = time.time()
    cache.set(BEAT_HEARTBEAT_KEY, now, timeout=None)
    return now


@shared_task(name="apranova.tasks.fail_stuck_reports")
def fail_stuck_reports() -> dict[str, int]:
    """Fail reports left RUNNING by a lost worker or PENDING by a lost task, past their limits."""
    now = timezone.now()
    running_cutoff = now - timedelta(seconds=settings.APROVOVA_REPORT_RUNNING_LIMIT_SECONDS)
    pending_cutoff = now - timedelta(seconds=settings.APROVOVA_REPORT_PENDING_LIMIT_SECONDS)
    stuck_running = Report.objects.filter(status=Report.Status.RUNNING).filter(
        Q(started_at__lt=running_cutoff) | Q(started_at__isnull=True, created_at__lt=running_cutoff))
    stuck_pending = Report.objects.filter(status=Report.Status.PENDING, created_at__lt=pending_cutoff)
    # update() with the status in its filter: a report that finishes meanwhile is left alone.
    running = stuck_running.update(status=Report.Status.FAILED, finished_at=now, error=(
        f"Still running after {settings.APROVOVA_REPORT_RUNNING_LIMIT_SECONDS} s: its worker was lost "
        "(killed, out of memory or past the time limit). Request the report again."))
    pending = stuck_pending.update(status=Report.Status.FAILED, finished_at=now, error=(
        f"Not started within {settings.APROVOVA_REPORT_PENDING_LIMIT_SECONDS} s: its task was lost by the queue "
        "(broker outage?) or the workers are down. Request the report again."))
    if running or pending:
        log.warning("stuck reports failed", extra={"running": running, "pending": pending})
    return {"running": running, "pending": pending}


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
    if report_store.is_remote():
        # The bucket too: stray objects of deleted rows, and invoices past their own retention.
        invoices_prefix = report_store.relative_key(aprovova.invoice_dir()) + "/"
        files += len(report_store.remove_older_than(days, skip_prefix=invoices_prefix))
        if invoice_days > 0:
            invoices += len(report_store.remove_older_than(invoice_days, prefix=invoices_prefix))
    log.info("cleanup finished", extra={"records": records, "files": files, "invoices": invoices, "retention_days": days})
    return {"records": records, "files": files, "invoices": invoices}
