from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

from django.db.models import Count, Q

from apranova.models import Batch, Enrollment
from apranova.reports.filters import apply_limit
from core.report_utils import ReportData

COLUMNS = ["code", "course", "start_date", "end_date", "capacity", "enrolled", "fill_rate_percent"]


def build(filters: dict) -> ReportData:
    queryset = Batch.objects.select_related("course").order_by("start_date", "code").annotate(
        enrolled=Count("enrollments", filter=~Q(enrollments__status=Enrollment.Status.CANCELLED))
    )
    # Batches are filtered by their start date: "batches that started in this range".
    if filters.get("date_from"):
        queryset = queryset.filter(start_date__gte=date.fromisoformat(filters["date_from"]))
    if filters.get("date_to"):
        queryset = queryset.filter(start_date__lte=date.fromisoformat(filters["date_to"]))
    return ReportData("Apra Nova batches: enrollment and fill rate", COLUMNS, _rows(apply_limit(queryset, filters)))


def _rows(queryset) -> Iterator[list]:
    for batch in queryset.iterator(chunk_size=2000):
        rate = (Decimal(batch.enrolled * 100) / batch.capacity).quantize(Decimal("0.1")) if batch.capacity else Decimal(0)
        yield [batch.code, batch.course.title, batch.start_date, batch.end_date, batch.capacity, batch.enrolled, rate]
