"""Retention: reports expire, invoices (business records) never do unless their own setting says so."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from apranova.tasks import cleanup_old_reports
from core import aprovova
from core.env import env_int
from core.report_utils import ReportGenerator, cleanup_old_reports as cleanup_files

pytestmark = pytest.mark.django_db
APP_DIR = Path(__file__).resolve().parent.parent
YEAR_AGO = time.time() - 365 * 86400


def _old_invoice(name: str = "INV-2025-00000001.pdf") -> Path:
    invoice = aprovova.type_dir("payments") / "invoices" / name
    invoice.write_bytes(b"%PDF-1.4 invoice")
    os.utime(invoice, (YEAR_AGO, YEAR_AGO))
    return invoice


def test_nightly_cleanup_keeps_invoices_older_than_the_retention(settings):
    settings.APROVOVA_RETENTION_DAYS = 30
    invoice = _old_invoice()
    old_report = ReportGenerator("payments").generate_csv([{"a": 1}])
    os.utime(old_report, (YEAR_AGO, YEAR_AGO))
    cleanup_old_reports()
    assert invoice.exists()
    assert not old_report.exists()


def test_file_cleanup_never_walks_into_invoices_even_from_the_payments_branch():
    invoice = _old_invoice()
    assert invoice not in cleanup_files(1)
    assert invoice not in ReportGenerator("payments").cleanup_old_reports(1)
    assert invoice.exists()


def test_invoice_retention_is_off_by_default_and_applies_only_when_set(settings):
    assert settings.APROVOVA_INVOICE_RETENTION_DAYS == 0
    invoice = _old_invoice()
    cleanup_old_reports()
    assert invoice.exists()
    settings.APROVOVA_INVOICE_RETENTION_DAYS = 400
    assert cleanup_old_reports()["invoices"] == 0 and invoice.exists()
    settings.APROVOVA_INVOICE_RETENTION_DAYS = 300
    assert cleanup_old_reports()["invoices"] == 1 and not invoice.exists()


@pytest.mark.parametrize("days", [0, -1])
def test_cleanup_task_refuses_a_retention_that_deletes_everything(days):
    invoice = _old_invoice()
    fresh = ReportGenerator("users").generate_csv([{"a": 1}])
    with pytest.raises(ValueError, match="at least 1"):
        cleanup_old_reports(days)
    with override_settings(APROVOVA_RETENTION_DAYS=days), pytest.raises(ValueError, match="at least 1"):
        cleanup_old_reports()
    assert fresh.exists() and invoice.exists()


def test_env_int_enforces_a_minimum(monkeypatch):
    monkeypatch.setenv("SOME_DAYS", "0")
    with pytest.raises(ValueError, match="SOME_DAYS=0 .*at least 1"):
        env_int("SOME_DAYS", 90, minimum=1)
    monkeypatch.setenv("SOME_DAYS", "5")
    assert env_int("SOME_DAYS", 90, minimum=1) == 5


@pytest.mark.parametrize(("name", "value"), [("APROVOVA_RETENTION_DAYS", "0"), ("APROVOVA_RETENTION_DAYS", "-3"),
                                             ("APROVOVA_INVOICE_RETENTION_DAYS", "-1")])
def test_settings_refuse_a_retention_below_the_minimum(name, value):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", name: value}
    result = subprocess.run([sys.executable, "-c", "import django; django.setup()"], cwd=APP_DIR, env=env,
                            capture_output=True, text=True)
    assert result.returncode != 0
    assert f"{name}={value}" in result.stderr
