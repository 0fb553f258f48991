"""PDF memory is bounded: a PDF over the row limit is refused with a 400 naming the limit; CSV is not limited."""
from __future__ import annotations

import pytest

from apranova.models import Payment, Report
from apranova.services import run_report

pytestmark = pytest.mark.django_db


def _post(client, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/reports/", body, format="json")


def test_pdf_over_the_row_limit_is_a_400_naming_the_limit_and_csv(staff_client, demo_data, settings, django_capture_on_commit_callbacks):
    settings.APROVOVA_PDF_MAX_ROWS = 250  # demo_data has 300 payments
    response = _post(staff_client, django_capture_on_commit_callbacks, type="payments", format="pdf")
    assert response.status_code == 400 and response["Content-Type"] == "application/json"
    body = response.json()
    assert "250" in body["detail"] and "CSV" in body["detail"]
    assert body["max_pdf_rows"] == 250 and "format" in body["errors"]
    assert Report.objects.count() == 0


def test_pdf_within_the_limit_and_csv_of_any_size_are_accepted(staff_client, demo_data, settings, django_capture_on_commit_callbacks):
    settings.APROVOVA_PDF_MAX_ROWS = 250
    day = Payment.objects.order_by("created_at").last().created_at.date().isoformat()
    narrowed = _post(staff_client, django_capture_on_commit_callbacks, type="payments", format="pdf", date_from=day, date_to=day)
    assert narrowed.status_code == 202
    assert _post(staff_client, django_capture_on_commit_callbacks, type="payments", format="csv").status_code == 202
    assert _post(staff_client, django_capture_on_commit_callbacks, type="analytics", format="pdf").status_code == 202


def test_worker_refuses_an_oversized_pdf_it_was_given_anyway(demo_data, settings):
    settings.APROVOVA_PDF_MAX_ROWS = 100  # e.g. a nightly payments:pdf
    report = run_report(Report.objects.create(report_type="users", format="pdf"))
    assert report.status == "succeeded"  # 30 users
    report = run_report(Report.objects.create(report_type="payments", format="pdf"))
    assert report.status == "failed" and "limited to 100 rows" in report.error and not report.path
    assert run_report(Report.objects.create(report_type="payments", format="pdf", filters={"limit": 100})).status == "succeeded"
