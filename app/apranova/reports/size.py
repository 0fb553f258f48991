"""How many rows a report would have, counted only up to a cap (a bounded COUNT over a LIMIT)."""
from __future__ import annotations

from datetime import date

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from apranova.models import Batch, Payment
from apranova.reports.filters import apply_date_range


def _source(report_type: str, filters: dict) -> QuerySet | None:
    """The rows behind a report type, filtered as its builder filters them; None for bounded types."""
    if report_type == "payments":
        return apply_date_range(Payment.objects.all(), "created_at", filters)
    if report_type == "users":
        return apply_date_range(get_user_model().objects.all(), "date_joined", filters)
    if report_type == "batches":
        batches = Batch.objects.all()
        if filters.get("date_from"):
            batches = batches.filter(start_date__gte=date.fromisoformat(filters["date_from"]))
        if filters.get("date_to"):
            batches = batches.filter(start_date__lte=date.fromisoformat(filters["date_to"]))
        return batches
    # Analytics has one row per day and currency: bounded by the calendar, not by the data.
    return None


def rows_up_to(report_type: str, filters: dict, cap: int) -> int:
    """The report's row count, or cap + 1 when it has more than cap (never counts further)."""
    source = _source(report_type, filters)
    if source is None:
        return 0
    limit = int(filters["limit"]) if filters.get("limit") else None
    counted = source.order_by()[: cap + 1].count()
    return min(counted, limit) if limit is not None else counted
