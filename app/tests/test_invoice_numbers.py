"""Invoice numbers: one per payment, even when two workers mark it paid at the same moment."""
from __future__ import annotations

import threading

import pytest
from django.db import connection

from apranova.models import INVOICE_SEQUENCE, Payment
from core import aprovova
from tests.conftest import run_in_threads


def _sequence_value() -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT last_value + CASE WHEN is_called THEN 0 ELSE -1 END FROM {INVOICE_SEQUENCE}")
        return cursor.fetchone()[0]


def _invoices() -> list[str]:
    return sorted(p.name for p in (aprovova.type_dir("payments") / "invoices").iterdir() if not p.name.startswith("."))


@pytest.mark.django_db
def test_marking_a_paid_payment_again_changes_nothing(make_payment, django_capture_on_commit_callbacks):
    payment = make_payment()
    with django_capture_on_commit_callbacks(execute=True) as first:
        payment.mark_paid()
    number, paid_at, used = payment.invoice_number, payment.paid_at, _sequence_value()
    again = Payment.objects.get(pk=payment.pk)
    with django_capture_on_commit_callbacks(execute=True) as second:
        again.mark_paid()
    assert (again.invoice_number, again.paid_at) == (number, paid_at)
    assert _sequence_value() == used  # no number drawn for nothing
    assert len(first) == 1 and len(second) == 0  # no second invoice task
    assert _invoices() == [f"{number}.pdf"]


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_mark_paid_give_one_number_and_one_invoice(make_payment):
    payment = make_payment()
    before = _sequence_value()
    start = threading.Barrier(2)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def pay() -> None:
        try:
            mine = Payment.objects.get(pk=payment.pk)
            start.wait()
            mine.mark_paid()
            numbers.append(mine.invoice_number)
        except BaseException as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    run_in_threads(pay)
    assert errors == []
    stored = Payment.objects.get(pk=payment.pk).invoice_number
    assert numbers == [stored, stored]
    assert _sequence_value() == before + 1
    assert _invoices() == [f"{stored}.pdf"]
