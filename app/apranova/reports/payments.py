from __future__ import annotations

from apranova.models import Payment
from apranova.reports.filters import apply_date_range, apply_limit
from apranova.reports.sql import JsonLine, as_text, copy_csv, copy_json, utc_text
from core.report_utils import ReportData

COLUMNS = ["id", "invoice_number", "user_email", "batch", "amount", "currency", "status", "provider",
           "provider_reference", "created_at", "paid_at"]
# What each column is read from (annotations below format values in PostgreSQL).
FIELDS = ["id", "invoice_number", "user__email", "batch__code", "amount_text", "currency", "status", "provider",
          "provider_reference", "created_text", "paid_text"]
# How PostgreSQL writes each value in JSON: "word" columns are held to JSON-safe characters by the
# Payment and Batch check constraints, or formatted by the query; free text is escaped.
JSON_KINDS = ["number", "word", "text", "word", "word", "word", "word", "word", "text", "word", "word"]
# Rows arrive through a server-side cursor in chunks of this size: memory stays flat at any row count.
STREAM_CHUNK = 5000


def build(filters: dict) -> ReportData:
    payments = apply_date_range(
        Payment.objects.order_by("id").annotate(
            amount_text=as_text("amount"), created_text=utc_text("created_at"), paid_text=utc_text("paid_at")),
        "created_at", filters)
    rows = apply_limit(payments.values_list(*FIELDS), filters)
    lines = apply_limit(payments.values_list(JsonLine(list(zip(COLUMNS, FIELDS, JSON_KINDS)))), filters)
    # Every column is text or an integer, so COPY's CSV is identical to the Python writer's, and
    # PostgreSQL's JSON has the same values (the id a number, money an exact string).
    return ReportData("Apra Nova payments", COLUMNS, rows.iterator(chunk_size=STREAM_CHUNK), csv_copy=copy_csv(rows),
                      json_copy=copy_json(lines))
