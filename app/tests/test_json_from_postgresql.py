"""JSON reports of payments are written by PostgreSQL (one JSON line per row through COPY): the same document as Python's."""
from __future__ import annotations

import dataclasses
import json

import pytest
from django.db import IntegrityError, transaction

from apranova.models import Batch, Payment
from apranova.reports import payments
from core import aprovova
from core.report_utils import ReportGenerator

# Everything JSON must escape, and what it must not: quotes, backslashes, control characters, non-ASCII.
AWKWARD = 'q"uote \\back\\slash\nnew\tline\x01ctrl é 😀 ,\x02'


def _document(report_data) -> dict:
    path = ReportGenerator("payments").generate_json(report_data)
    return json.loads(path.read_text(encoding="utf-8")), path.read_bytes()


@pytest.mark.django_db
def test_server_json_equals_the_python_writers(make_payment):
    for index in range(3):
        make_payment(f"ref-{index}")
    make_payment(AWKWARD).mark_paid()
    fast = payments.build({})
    assert fast.json_copy is not None  # the payments report takes the server's path
    slow = dataclasses.replace(payments.build({}), json_copy=None)
    (fast_doc, fast_bytes), (slow_doc, _) = _document(fast), _document(slow)
    assert fast_doc["rows"] == slow_doc["rows"] and len(fast_doc["rows"]) == 4
    assert [row["id"] for row in fast_doc["rows"]] == sorted(Payment.objects.values_list("id", flat=True))
    assert fast_doc["rows"][-1]["provider_reference"] == AWKWARD
    assert fast_doc["rows"][-1]["amount"] == "10.00"  # money stays an exact string
    assert b'\n,{"id":' in fast_bytes  # written by PostgreSQL: one row per line, comma first


@pytest.mark.django_db
@pytest.mark.parametrize("filters", [{"date_from": "1999-01-01", "date_to": "1999-01-02"}, {"limit": 1}])
def test_server_json_with_no_row_or_one_row(make_payment, filters):
    make_payment("a"), make_payment("b")
    document, _ = _document(payments.build(filters))
    assert len(document["rows"]) == (1 if "limit" in filters else 0)
    assert not any(p.name.endswith(".part") for p in aprovova.format_dir("payments", "json").iterdir())


@pytest.mark.django_db
@pytest.mark.parametrize("field, value", [("provider", 'stri"pe'), ("currency", "I\\R"), ("status", "paid\n"), ("invoice_number", "INV\x01")])
def test_codes_written_unescaped_refuse_what_json_would_need_to_escape(make_payment, field, value):
    # The JSON report quotes these columns without escaping them: the database is what makes that safe.
    payment = make_payment("p1")
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.filter(pk=payment.pk).update(**{field: value})


@pytest.mark.django_db
def test_batch_codes_are_slugs_in_the_database(make_payment):
    batch = make_payment("p1").batch
    with pytest.raises(IntegrityError), transaction.atomic():
        Batch.objects.filter(pk=batch.pk).update(code='b"1')


@pytest.mark.django_db
def test_free_text_is_escaped_in_every_column_that_can_hold_it(make_payment, django_user_model):
    user = django_user_model.objects.create_user("awkward", '"q\\"@example.com', "x")
    make_payment(AWKWARD, user=user)
    document, _ = _document(payments.build({}))
    assert document["rows"][0]["user_email"] == '"q\\"@example.com' and document["rows"][0]["provider_reference"] == AWKWARD
