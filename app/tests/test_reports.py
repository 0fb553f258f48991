"""Every report type in every format, read back; plus charts and invoices."""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from PIL import Image
from pypdf import PdfReader

from apranova.invoices import render_invoice
from apranova.models import Payment, Report
from apranova.services import run_report
from core import aprovova

TYPES = ["users", "payments", "batches", "analytics"]


def _generate(report_type: str, fmt: str, **filters) -> Report:
    report = run_report(Report.objects.create(report_type=report_type, format=fmt, filters=filters))
    assert report.status == Report.Status.SUCCEEDED, report.error
    return report


def _path(report: Report):
    return aprovova.root() / report.path


@pytest.mark.parametrize("report_type", TYPES)
def test_csv_parses_back_with_every_row(demo_data, report_type):
    report = _generate(report_type, "csv")
    with _path(report).open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] in ("id", "code", "date")
    assert len(rows) - 1 == report.row_count > 0
    assert report.path.startswith({"users": "user_reports/csv/", "payments": "payment_reports/csv/",
                                   "batches": "batch_reports/csv/", "analytics": "analytics_reports/csv/"}[report_type])
    if report_type == "payments":
        assert report.row_count == Payment.objects.count()


@pytest.mark.parametrize("report_type", TYPES)
def test_json_parses_back(demo_data, report_type):
    report = _generate(report_type, "json")
    document = json.loads(_path(report).read_text())
    assert document["report_type"] == report_type
    assert len(document["rows"]) == report.row_count > 0
    assert set(document["rows"][0]) == set(document["columns"])


@pytest.mark.parametrize("report_type", TYPES)
def test_pdf_opens_with_title_and_pages(demo_data, report_type):
    report = _generate(report_type, "pdf")
    reader = PdfReader(_path(report))
    assert len(reader.pages) >= 1
    first = reader.pages[0].extract_text()
    assert "Apra Nova" in first and "Generated" in first


def test_pdf_table_paginates_with_header_on_every_page(demo_data):
    report = _generate("payments", "pdf")
    reader = PdfReader(_path(report))
    assert len(reader.pages) > 5  # 300 rows do not fit on one page
    assert all("invoice_number" in page.extract_text() for page in reader.pages)


def test_payments_csv_values_are_exact(demo_data):
    report = _generate("payments", "csv")
    with _path(report).open(newline="") as handle:
        rows = {int(row["id"]): row for row in csv.DictReader(handle)}
    payment = Payment.objects.filter(status="paid").first()
    row = rows[payment.pk]
    assert Decimal(row["amount"]) == payment.amount
    assert row["invoice_number"] == payment.invoice_number
    assert row["created_at"] == payment.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00")
    assert datetime.fromisoformat(row["created_at"]) == payment.created_at.replace(microsecond=0)


def test_date_range_filters_payments(demo_data):
    payment = Payment.objects.order_by("created_at").last()
    day = payment.created_at.date().isoformat()
    report = _generate("payments", "csv", date_from=day, date_to=day)
    expected = Payment.objects.filter(created_at__date=payment.created_at.date()).count()
    assert report.row_count == expected >= 1


def test_analytics_writes_png_charts(demo_data):
    report = _generate("analytics", "csv")
    assert len(report.artifacts) == 2
    for relative in report.artifacts:
        path = aprovova.root() / relative
        assert relative.startswith("analytics_reports/charts/")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size == (1000, 400)


def test_batches_report_fill_rate(demo_data):
    report = _generate("batches", "json")
    rows = json.loads(_path(report).read_text())["rows"]
    for row in rows:
        assert Decimal(row["fill_rate_percent"]) == (Decimal(row["enrolled"] * 100) / row["capacity"]).quantize(Decimal("0.1"))


def test_invoice_pdf_per_paid_payment(demo_data):
    payment = Payment.objects.filter(status="pending").select_related("user", "batch__course").first()
    payment.mark_paid()
    assert payment.invoice_number.startswith("INV-")
    path = render_invoice(payment)
    assert path.parent == aprovova.type_dir("payments") / "invoices"
    reader = PdfReader(path)
    assert len(reader.pages) == 1
    assert payment.invoice_number in reader.pages[0].extract_text()


def test_invoice_numbers_unique_and_only_for_paid(demo_data):
    paid = Payment.objects.filter(status="paid")
    assert paid.filter(invoice_number__isnull=True).count() == 0
    assert Payment.objects.exclude(status="paid").filter(invoice_number__isnull=False).count() == 0
    numbers = list(paid.values_list("invoice_number", flat=True))
    assert len(numbers) == len(set(numbers))


def test_failed_generation_is_recorded(db, monkeypatch):
    monkeypatch.setattr("apranova.reports.BUILDERS", {"users": lambda filters: 1 / 0})
    report = run_report(Report.objects.create(report_type="users", format="csv"))
    assert report.status == Report.Status.FAILED
    assert "ZeroDivisionError" in report.error


def test_report_rows_stream_from_a_server_side_cursor(demo_data):
    from apranova.reports import payments

    rows = payments.build({}).rows
    assert not isinstance(rows, (list, tuple))  # a lazy iterator, consumed row by row
    assert len(next(iter(rows))) == len(payments.COLUMNS)


def test_copy_fast_path_writes_the_same_csv_as_python(demo_data):
    from dataclasses import replace

    from apranova.reports import payments
    from core.report_utils import ReportGenerator

    generator = ReportGenerator("payments")
    fast = generator.generate_csv(payments.build({"date_from": "2000-01-01"}))
    slow = generator.generate_csv(replace(payments.build({"date_from": "2000-01-01"}), csv_copy=None))
    assert fast.read_bytes() == slow.read_bytes()
    assert generator.last_row_count == 300
