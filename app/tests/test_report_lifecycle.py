"""A report runs once, finishes only into its own row, and never sticks in pending or running."""
from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apranova import reports
from apranova.models import Report
from apranova.services import run_report
from apranova import tasks
from apranova.tasks import generate_report
from core import aprovova
from core.report_utils import ReportData
from tests.conftest import run_in_threads

SMALL = ReportData("t", ["a"], [[1], [2]])


def _report_files() -> list[Path]:
    return [p for p in aprovova.root().rglob("*") if p.is_file() and not p.name.startswith(".")]


# ------------------------------------------------------------------ 2. a deleted report stays deleted
@pytest.mark.django_db
def test_report_deleted_while_running_does_not_come_back(monkeypatch):
    report = Report.objects.create(report_type="users", format="csv")

    def build_then_deleted_through_the_api(filters):
        Report.objects.filter(pk=report.pk).delete()
        return SMALL

    monkeypatch.setitem(reports.BUILDERS, "users", build_then_deleted_through_the_api)
    run_report(report)
    assert not Report.objects.filter(pk=report.pk).exists()
    assert _report_files() == []  # its file is discarded, not left as an orphan


@pytest.mark.django_db
def test_analytics_deleted_while_running_leaves_no_chart(monkeypatch, demo_data):
    report = Report.objects.create(report_type="analytics", format="csv")
    real = reports.BUILDERS["analytics"]

    def build_then_deleted(filters):
        Report.objects.filter(pk=report.pk).delete()
        return real(filters)

    monkeypatch.setitem(reports.BUILDERS, "analytics", build_then_deleted)
    run_report(report)
    assert not Report.objects.exists() and _report_files() == []


# ------------------------------------------------------------------ 3. never twice, never stuck
@pytest.mark.django_db
def test_second_delivery_of_a_claimed_report_does_nothing():
    report = Report.objects.create(report_type="users", format="csv", status=Report.Status.RUNNING, started_at=timezone.now())
    assert generate_report(report.pk) == "running"
    assert _report_files() == []
    report.refresh_from_db()
    assert report.status == Report.Status.RUNNING


@pytest.mark.django_db
def test_redelivery_after_failure_does_not_run_again():
    report = Report.objects.create(report_type="users", format="csv", status=Report.Status.FAILED, error="x")
    assert generate_report(report.pk) == "failed"
    assert _report_files() == []


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_deliveries_write_one_file(monkeypatch):
    report = Report.objects.create(report_type="users", format="csv")

    def slow_build(filters):
        time.sleep(0.3)  # both deliveries are in flight at once
        return ReportData("t", ["a"], [[1]])

    monkeypatch.setitem(reports.BUILDERS, "users", slow_build)
    outcomes: list[str] = []

    run_in_threads(lambda: outcomes.append(generate_report(report.pk)))
    assert sorted(outcomes) == ["running", "succeeded"] or sorted(outcomes) == ["succeeded", "succeeded"]
    assert len(_report_files()) == 1
    report.refresh_from_db()
    assert report.status == Report.Status.SUCCEEDED and (aprovova.root() / report.path).exists()


@pytest.mark.django_db
def test_failure_of_the_final_save_is_recorded_and_the_file_discarded(monkeypatch):
    # A path longer than the column: the final write fails in the database, after the file exists.
    monkeypatch.setattr("apranova.services._relative", lambda path: "x" * 600)
    report = run_report(Report.objects.create(report_type="users", format="csv"))
    report.refresh_from_db()
    assert report.status == Report.Status.FAILED and "DataError" in report.error
    assert report.path == "" and _report_files() == []


def test_celery_never_loses_or_duplicates_a_report():
    from core.celery import app

    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    # Redis redelivers an unacknowledged task after the visibility timeout: it must outlast any run.
    assert conf.broker_transport_options["visibility_timeout"] > conf.task_time_limit
    assert conf.task_soft_time_limit < conf.task_time_limit
    assert any(entry["task"] == "apranova.tasks.fail_stuck_reports" for entry in conf.beat_schedule.values())


@pytest.mark.django_db
def test_sweeper_fails_reports_stuck_past_the_limit_and_the_api_shows_why(settings, staff, staff_client):
    settings.APROVOVA_REPORT_RUNNING_LIMIT_SECONDS = 3600
    settings.APROVOVA_REPORT_PENDING_LIMIT_SECONDS = 7200
    now = timezone.now()
    running = Report.objects.create(report_type="users", format="csv", status="running", created_by=staff,
                                    created_at=now - timedelta(hours=3), started_at=now - timedelta(hours=2))
    pending = Report.objects.create(report_type="users", format="pdf", created_by=staff, created_at=now - timedelta(hours=3))
    busy = Report.objects.create(report_type="users", format="json", status="running", created_by=staff,
                                 created_at=now - timedelta(hours=3), started_at=now - timedelta(minutes=10))
    queued = Report.objects.create(report_type="batches", format="csv", created_by=staff, created_at=now - timedelta(hours=1))
    done = Report.objects.create(report_type="batches", format="pdf", status="succeeded", created_by=staff,
                                 created_at=now - timedelta(days=3), started_at=now - timedelta(days=3))

    assert tasks.fail_stuck_reports() == {"running": 1, "pending": 1}
    statuses = dict(Report.objects.values_list("pk", "status"))
    assert statuses == {running.pk: "failed", pending.pk: "failed", busy.pk: "running", queued.pk: "pending", done.pk: "succeeded"}
    shown = staff_client.get(f"/api/reports/{running.pk}/").json()
    assert shown["status"] == "failed" and "worker" in shown["error"] and shown["finished_at"]
    assert "queue" in staff_client.get(f"/api/reports/{pending.pk}/").json()["error"]
    # A swept report that is delivered late does nothing.
    assert generate_report(pending.pk) == "failed" and _report_files() == []


@pytest.mark.django_db
def test_late_finish_of_a_swept_report_keeps_it_failed(monkeypatch):
    report = Report.objects.create(report_type="users", format="csv")

    def build_then_swept(filters):
        Report.objects.filter(pk=report.pk).update(status="failed", error="swept")
        return SMALL

    monkeypatch.setitem(reports.BUILDERS, "users", build_then_swept)
    run_report(report)
    report.refresh_from_db()
    assert report.status == "failed" and report.error == "swept" and _report_files() == []


@pytest.mark.django_db
@pytest.mark.parametrize("status", ["pending", "running"])
def test_worker_killed_by_the_hard_limit_records_why(status):
    from billiard.exceptions import WorkerLostError
    from celery.exceptions import TimeLimitExceeded

    report = Report.objects.create(report_type="users", format="csv", status=status)
    generate_report.on_failure(TimeLimitExceeded(3600), "task-id", (report.pk,), {}, None)
    report.refresh_from_db()
    assert report.status == "failed" and "TimeLimitExceeded" in report.error and report.finished_at
    done = Report.objects.create(report_type="users", format="csv", status="succeeded")
    generate_report.on_failure(WorkerLostError("killed"), "task-id", (done.pk,), {}, None)
    done.refresh_from_db()
    assert done.status == "succeeded"
