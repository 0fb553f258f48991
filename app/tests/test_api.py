"""Reports API: permissions, the create/status/download/delete cycle, bad input, path safety."""
from __future__ import annotations

import csv
import io
import os

import pytest
from rest_framework.authtoken.models import Token

from apranova.models import Report
from core import aprovova

pytestmark = pytest.mark.django_db


def _create(client, django_capture_on_commit_callbacks, **body):
    # The task is queued on commit; run the callbacks so the eager Celery task executes.
    with django_capture_on_commit_callbacks(execute=True):
        return client.post("/api/reports/", body, format="json")


def test_anonymous_gets_401_with_basic_challenge(anon_client):
    response = anon_client.get("/api/reports/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic")


def test_non_staff_gets_403(learner_client):
    assert learner_client.get("/api/reports/").status_code == 403
    assert learner_client.post("/api/reports/", {"type": "users", "format": "csv"}, format="json").status_code == 403


def test_plain_http_is_redirected_to_https(staff):
    from rest_framework.test import APIClient

    assert APIClient().get("/api/reports/").status_code == 301


def test_create_poll_download_delete(staff_client, demo_data, django_capture_on_commit_callbacks):
    response = _create(staff_client, django_capture_on_commit_callbacks, type="payments", format="csv")
    assert response.status_code == 202
    status_url = response.json()["status_url"]
    assert status_url.startswith("https://testserver/api/reports/") and response["Location"] == status_url

    status = staff_client.get(status_url).json()
    assert status["status"] == "succeeded" and status["created_by"] == "staffer"
    assert status["row_count"] == 300 and len(status["checksum_sha256"]) == 64

    download = staff_client.get(status["download_url"])
    assert download.status_code == 200 and download.streaming
    body = b"".join(download.streaming_content).decode()
    assert len(list(csv.reader(io.StringIO(body)))) == 301
    assert 'attachment; filename="payments_report_' in download["Content-Disposition"]

    report = Report.objects.get(pk=status["id"])
    path = aprovova.root() / report.path
    assert staff_client.delete(status_url).status_code == 204
    assert not path.exists() and not Report.objects.filter(pk=report.pk).exists()
    assert staff_client.get(status_url).status_code == 404


def test_token_auth_works(staff, demo_data):
    from tests.conftest import HttpsAPIClient

    client = HttpsAPIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    assert client.get("/api/reports/").status_code == 200


def test_x_accel_redirect_hands_the_file_to_nginx(staff_client, settings, django_capture_on_commit_callbacks):
    settings.APROVOVA_X_ACCEL_REDIRECT = True
    report_id = _create(staff_client, django_capture_on_commit_callbacks, type="batches", format="pdf").json()["id"]
    response = staff_client.get(f"/api/reports/{report_id}/download/")
    report = Report.objects.get(pk=report_id)
    assert response.status_code == 200 and response.content == b""
    assert response["X-Accel-Redirect"] == "/_aprovova/" + report.path
    assert response["Content-Type"] == "application/pdf"


def test_list_filters(staff_client, django_capture_on_commit_callbacks):
    _create(staff_client, django_capture_on_commit_callbacks, type="users", format="csv")
    _create(staff_client, django_capture_on_commit_callbacks, type="batches", format="json")
    listing = staff_client.get("/api/reports/", {"type": "batches"}).json()
    assert listing["count"] == 1 and listing["results"][0]["format"] == "json"
    assert staff_client.get("/api/reports/", {"format": "csv", "status": "succeeded"}).json()["count"] == 1
    assert staff_client.get("/api/reports/", {"status": "failed"}).json()["count"] == 0


@pytest.mark.parametrize(
    ("query", "field"), [({"type": "secrets"}, "type"), ({"format": "docx"}, "format"), ({"status": "lost"}, "status")]
)
def test_bad_list_filter_is_400_naming_the_field(staff_client, query, field):
    response = staff_client.get("/api/reports/", query)
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"format": "csv"}, "type"),
        ({"type": "users", "format": "xlsx"}, "format"),
        ({"type": "gossip", "format": "csv"}, "type"),
        ({"type": "users", "format": "csv", "date_from": "yesterday"}, "date_from"),
        ({"type": "users", "format": "csv", "date_from": "2026-02-01", "date_to": "2026-01-01"}, "date_to"),
    ],
)
def test_bad_create_is_400_naming_the_field(staff_client, body, field):
    response = staff_client.post("/api/reports/", body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert field in response.json()["errors"]
    assert Report.objects.count() == 0


def test_unknown_report_is_404(staff_client):
    assert staff_client.get("/api/reports/999999/").status_code == 404
    assert staff_client.get("/api/reports/999999/download/").status_code == 404
    assert staff_client.delete("/api/reports/999999/").status_code == 404


def test_download_of_unfinished_report_is_409(staff, staff_client):
    report = Report.objects.create(report_type="users", format="csv", created_by=staff)
    response = staff_client.get(f"/api/reports/{report.pk}/download/")
    assert response.status_code == 409 and response.json()["status"] == "pending"


@pytest.mark.parametrize("evil", ["../../../etc/passwd", "/etc/passwd", "user_reports/../../outside.txt", "link-out", "user_reports"])
def test_paths_leaving_aprovova_are_404_never_a_file(staff, staff_client, aprovova_dir, evil):
    outside = aprovova_dir.parent / "outside.txt"
    outside.write_text("secret")
    os.symlink(outside, aprovova_dir / "link-out")
    report = Report.objects.create(report_type="users", format="csv", status="succeeded", path=evil, created_by=staff)
    response = staff_client.get(f"/api/reports/{report.pk}/download/")
    assert response.status_code == 404
    assert b"secret" not in (b"".join(response.streaming_content) if response.streaming else response.content)
    # Deleting such a record must not touch the file outside either.
    assert staff_client.delete(f"/api/reports/{report.pk}/").status_code == 204
    assert outside.exists()
