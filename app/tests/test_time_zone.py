"""The business time zone (TIME_ZONE) sets day boundaries, invoice years and printed dates; exports stay UTC."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest
from pypdf import PdfReader

from apranova.invoices import render_invoice
from apranova.models import Payment, Report
from apranova.services import run_report
from core import aprovova

AUCKLAND = "Pacific/Auckland"  # UTC+13 in January: its new year starts at 11:00 UTC on 31 December.
NEW_YEAR_LOCAL = datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc)  # 01:00 on 1 January 2027 in Auckland


def _report(fmt: str, **filters) -> Report:
    report = run_report(Report.objects.create(report_type="payments", format=fmt, filters=filters))
    assert report.status == Report.Status.SUCCEEDED, report.error
    return report


@pytest.mark.django_db
def test_invoice_year_and_printed_date_follow_the_business_time_zone(settings, make_payment):
    settings.TIME_ZONE = AUCKLAND
    payment = make_payment()
    payment.mark_paid(when=NEW_YEAR_LOCAL)
    assert payment.invoice_number.startswith("INV-2027-")
    text = PdfReader(render_invoice(payment)).pages[0].extract_text()
    assert "2027-01-01" in text


@pytest.mark.django_db
def test_day_filters_use_local_days_and_exports_stay_utc(settings, make_payment):
    settings.TIME_ZONE = AUCKLAND
    make_payment("late-utc", created_at=NEW_YEAR_LOCAL)  # 31 December in UTC, 1 January in Auckland
    assert _report("csv", date_from="2026-12-31", date_to="2026-12-31").row_count == 0
    report = _report("csv", date_from="2027-01-01", date_to="2027-01-01")
    with (aprovova.root() / report.path).open(newline="") as handle:
        row = list(csv.DictReader(handle))[0]
    assert row["created_at"] == "2026-12-31 12:00:00+00"  # stored and exported in UTC, offset shown


@pytest.mark.django_db
def test_json_generated_at_carries_the_local_offset(settings, make_payment):
    settings.TIME_ZONE = AUCKLAND
    make_payment()
    document = json.loads((aprovova.root() / _report("json").path).read_text())
    assert document["generated_at"].endswith(("+13:00", "+12:00"))
