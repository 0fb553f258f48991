"""Revenue and enrollments per day; the aggregation runs in PostgreSQL, Python only merges the two series."""
from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal

from django.db.models import Count, Sum
from django.db.models.functions import TruncDate

from apranova.models import Enrollment, Payment
from apranova.reports.filters import apply_date_range
from core.report_utils import ReportData

COLUMNS = ["date", "currency", "paid_payments", "revenue", "new_enrollments"]


def daily_series(filters: dict) -> list[list]:
    paid = apply_date_range(Payment.objects.filter(status=Payment.Status.PAID), "paid_at", filters)
    revenue = paid.annotate(day=TruncDate("paid_at")).values("day", "currency").annotate(n=Count("id"), total=Sum("amount"))
    enrollments = (
        apply_date_range(Enrollment.objects.all(), "enrolled_at", filters)
        .annotate(day=TruncDate("enrolled_at")).values("day").annotate(n=Count("id"))
    )
    by_day: dict[date, dict[str, tuple[int, Decimal]]] = defaultdict(dict)
    for row in revenue:
        by_day[row["day"]][row["currency"]] = (row["n"], row["total"])
    new_enrollments = {row["day"]: row["n"] for row in enrollments}
    rows = []
    for day in sorted(set(by_day) | set(new_enrollments)):
        # Enrollments are not per currency: report them once per day, on its first row.
        currencies = by_day.get(day) or {"": (0, Decimal("0.00"))}
        for index, (currency, (count, total)) in enumerate(sorted(currencies.items())):
            rows.append([day, currency, count, total, new_enrollments.get(day, 0) if index == 0 else 0])
    return rows


def build(filters: dict) -> ReportData:
    return ReportData("Apra Nova analytics: revenue and enrollments per day", COLUMNS, daily_series(filters))
