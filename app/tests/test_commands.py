"""Management commands and periodic tasks."""
from __future__ import annotations

import io
import os
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from apranova.models import Batch, Enrollment, Payment, Profile, Report
from apranova.tasks import cleanup_old_reports, generate_daily_reports
from core import aprovova

pytestmark = pytest.mark.django_db


def test_seed_demo_creates_consistent_data():
    call_command("seed_demo", users=40, payments=500, batches=4, chunk=150, stdout=io.StringIO())
    assert get_user_model().objects.count() == Profile.objects.count() == 40
    assert Batch.objects.count() == 4 and Payment.objects.count() == 500
    assert Enrollment.objects.count() >= 40
    paid = Payment.objects.filter(status="paid")
    assert paid.count() > 300 and not paid.filter(paid_at__isnull=True).exists()
    # A second run adds data under its own tag instead of clashing.
    call_command("seed_demo", users=5, payments=10, batches=1, stdout=io.StringIO())
    assert Payment.objects.count() == 510


def _payment_schema() -> list[tuple]:
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'apranova_payment' ORDER BY 1")
        indexes = cursor.fetchall()
        cursor.execute("SELECT conname, pg_get_constraintdef(oid), condeferrable FROM pg_constraint"
                       " WHERE conrelid = 'apranova_payment'::regclass ORDER BY 1")
        return indexes + cursor.fetchall()


def test_bulk_seed_rebuilds_every_index_and_constraint():
    before = _payment_schema()
    assert any("UNIQUE" in str(row) for row in before) and any("FOREIGN KEY" in str(row) for row in before)
    call_command("seed_demo", users=20, payments=400, batches=3, bulk_from=100, stdout=io.StringIO())
    assert Payment.objects.count() == 400
    assert _payment_schema() == before


def test_bulk_seed_that_fails_leaves_the_table_as_it_was(monkeypatch):
    from apranova.management.commands import seed_demo
    before = _payment_schema()

    def broken(self, *args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(seed_demo.Command, "_payments", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        call_command("seed_demo", users=5, payments=200, batches=1, bulk_from=100, stdout=io.StringIO())
    assert _payment_schema() == before and get_user_model().objects.count() == 0


def test_ensure_admin_is_idempotent(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "first-password-123")
    out = io.StringIO()
    call_command("ensure_admin", username="ops", email="ops@example.com", stdout=out)
    call_command("ensure_admin", username="ops", email="ops@example.com", stdout=out)
    monkeypatch.setenv("ADMIN_PASSWORD", "second-password-456")
    call_command("ensure_admin", username="ops", stdout=out)
    assert out.getvalue().split("\n")[:3] == ["created admin ops", "unchanged admin ops", "updated admin ops"]
    user = get_user_model().objects.get(username="ops")
    assert user.is_staff and user.is_superuser and user.check_password("second-password-456")


def test_ensure_admin_needs_a_password(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="ADMIN_PASSWORD"):
        call_command("ensure_admin", username="ops")


def test_daily_reports_task(demo_data):
    ids = generate_daily_reports()
    reports = Report.objects.filter(pk__in=ids)
    assert sorted(reports.values_list("report_type", flat=True)) == ["analytics", "batches", "payments", "users"]
    assert set(reports.values_list("status", flat=True)) == {"succeeded"}


def test_cleanup_task_removes_old_records_and_files(settings):
    settings.APROVOVA_RETENTION_DAYS = 30
    from apranova.services import run_report

    old = run_report(Report.objects.create(report_type="batches", format="csv"))
    fresh = run_report(Report.objects.create(report_type="batches", format="json"))
    Report.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    old_file = aprovova.root() / old.path
    ancient = timezone.now().timestamp() - 40 * 86400
    os.utime(old_file, (ancient, ancient))
    result = cleanup_old_reports()
    assert result["records"] == 1
    assert not old_file.exists() and (aprovova.root() / fresh.path).exists()
    assert list(Report.objects.values_list("pk", flat=True)) == [fresh.pk]


def test_generate_report_command_prints_stats(demo_data):
    out = io.StringIO()
    call_command("generate_report", type="payments", format="csv", limit=50, stats=True, stdout=out)
    assert '"rows": 50' in out.getvalue()


def test_ensure_admin_reads_the_password_from_stdin(monkeypatch):
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin-Pa55\n"))
    call_command("ensure_admin", "--password-stdin", username="ops2", stdout=io.StringIO())
    assert get_user_model().objects.get(username="ops2").check_password("from-stdin-Pa55")
