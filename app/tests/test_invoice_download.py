"""Invoices download through the API: a learner gets their own, staff with view_payment any, nobody else's."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from apranova.invoices import render_invoice
from tests.conftest import _client


@pytest.fixture
def paid(make_payment, learner):
    payment = make_payment("mine", user=learner)
    payment.mark_paid()
    render_invoice(payment)
    return payment


def _url(payment) -> str:
    return f"/api/payments/{payment.pk}/invoice/"


@pytest.mark.django_db
def test_the_payer_downloads_their_invoice(paid, learner_client):
    response = learner_client.get(_url(paid))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert f'filename="{paid.invoice_number}.pdf"' in response["Content-Disposition"]


@pytest.mark.django_db
def test_someone_elses_invoice_is_a_404_even_for_staff_without_the_permission(paid, staff_client, make_payment):
    assert staff_client.get(_url(paid)).status_code == 404


@pytest.mark.django_db
def test_staff_with_view_payment_download_any_invoice(paid, staff):
    staff.user_permissions.add(Permission.objects.get(codename="view_payment"))
    assert _client(staff).get(_url(paid)).status_code == 200


@pytest.mark.django_db
def test_unpaid_payment_has_no_invoice_and_anonymous_gets_401(make_payment, learner, learner_client, anon_client):
    pending = make_payment("pending", user=learner)
    response = learner_client.get(_url(pending))
    assert response.status_code == 409 and response.json()["status"] == "pending"
    assert anon_client.get(_url(pending)).status_code == 401


@pytest.mark.django_db
def test_behind_nginx_the_invoice_is_handed_to_its_internal_location(paid, learner_client, settings):
    settings.APROVOVA_X_ACCEL_REDIRECT = True
    response = learner_client.get(_url(paid))
    assert response["X-Accel-Redirect"] == f"/_aprovova/payment_reports/invoices/{paid.invoice_number}.pdf"
