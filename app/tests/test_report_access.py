"""Reports belong to their creator; the view_all_reports permission (the admin has it) shows everyone's."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from apranova.models import Batch, Course, Payment, Report
from tests.conftest import PASSWORD, _client

pytestmark = pytest.mark.django_db


@pytest.fixture
def other_staff(django_user_model):
    return django_user_model.objects.create_user("second", "second@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def reports(staff, other_staff, django_capture_on_commit_callbacks):
    created = {}
    for user in (staff, other_staff):
        with django_capture_on_commit_callbacks(execute=True):
            response = _client(user).post("/api/reports/", {"type": "batches", "format": "csv"}, format="json")
        created[user.username] = response.json()["id"]
    created["beat"] = Report.objects.create(report_type="users", format="csv").pk  # nightly: nobody's
    return created


def test_staff_list_only_their_own(staff, other_staff, reports):
    for user in (staff, other_staff):
        listing = _client(user).get("/api/reports/").json()
        assert [row["id"] for row in listing["results"]] == [reports[user.username]]


def test_others_reports_are_404_for_status_download_and_delete(staff, other_staff, reports):
    client = _client(other_staff)
    theirs = reports[staff.username]
    assert client.get(f"/api/reports/{theirs}/").status_code == 404
    download = client.get(f"/api/reports/{theirs}/download/")
    assert download.status_code == 404 and not download.streaming
    assert client.delete(f"/api/reports/{theirs}/").status_code == 404
    assert Report.objects.filter(pk=theirs).exists()
    assert client.get(f"/api/reports/{reports['second']}/download/").status_code == 200


def test_view_all_reports_permission_shows_everyone(other_staff, reports):
    other_staff.user_permissions.add(Permission.objects.get(codename="view_all_reports", content_type__app_label="apranova"))
    client = _client(type(other_staff).objects.get(pk=other_staff.pk))
    assert client.get("/api/reports/").json()["count"] == 3
    assert client.get(f"/api/reports/{reports['staffer']}/download/").status_code == 200


def test_seeded_admin_has_view_all_reports(monkeypatch, reports, django_user_model):
    monkeypatch.setenv("ADMIN_PASSWORD", PASSWORD)
    call_command("ensure_admin", username="admin", email="ops@example.com", stdout=open("/dev/null", "w"))
    admin = django_user_model.objects.get(username="admin")
    assert admin.has_perm("apranova.view_all_reports")
    assert _client(admin).get("/api/reports/").json()["count"] == 3


def test_invoice_number_is_read_only_in_the_admin(admin_user, client, settings):
    # The manifest storage needs collectstatic (done at image build); plain storage renders the page here.
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    course = Course.objects.create(code="c", title="C", price="1.00")
    batch = Batch.objects.create(course=course, code="b", start_date="2026-01-01", end_date="2026-01-02", capacity=1)
    payment = Payment.objects.create(user=admin_user, batch=batch, amount="1.00", provider_reference="r", invoice_number="INV-2026-00000001")
    client.force_login(admin_user)
    page = client.get(f"/admin/apranova/payment/{payment.pk}/change/", secure=True)
    assert page.status_code == 200
    assert b'name="invoice_number"' not in page.content and b"INV-2026-00000001" in page.content


def test_admin_report_list_follows_the_same_rule(other_staff, reports, client, settings):
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    other_staff.user_permissions.add(Permission.objects.get(codename="view_report", content_type__app_label="apranova"))
    client.force_login(other_staff)
    page = client.get("/admin/apranova/report/", secure=True)
    assert page.status_code == 200
    assert f"/admin/apranova/report/{reports['second']}/change/".encode() in page.content
    assert f"/admin/apranova/report/{reports['staffer']}/change/".encode() not in page.content
