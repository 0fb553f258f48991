from __future__ import annotations

from apranova.models import Payment
from apranova.reports.filters import apply_date_range, apply_limit
from apranova.reports.sql import as_text, copy_csv, copy_json, utc_text
from core.report_utils import ReportData

COLUMNS = ["id", "invoice_number", "user_email", "batch", "amount", "currency", "status", "provider",
           "provider_reference", "created_at", "paid_at"]
# What each column is read from (annotations below format values in PostgreSQL).
FIELDS = ["id", "invoice_number", "user__email", "batch__code", "amount_text", "currency", "status", "provider",
          "provider_reference", "created_text", "paid_text"]
# Rows arrive through a server-side cursor in chunks of this size: memory stays flat at any row count.
STREAM_CHUNK = 5000


def build(filters: dict) -> ReportData:
    queryset = (
        Payment.objects.order_by("id")
        .annotate(amount_text=as_text("amount"), created_text=utc_text("created_at"), paid_text=utc_text("paid_at"))
        .values_list(*FIELDS)
    )
    queryset = apply_limit(apply_date_range(queryset, "created_at", filters), filters)
    # Every column is text or an integer, so COPY's CSV is identical to the Python writer's, and
    # PostgreSQL's JSON has the same values (the id a number, money an exact string).
    return ReportData("Apra Nova payments", COLUMNS, queryset.iterator(chunk_size=STREAM_CHUNK), csv_copy=copy_csv(queryset),
                      json_copy=copy_json(queryset, COLUMNS, numbers=["id"], plain=["amount", "created_at", "paid_at"]))
