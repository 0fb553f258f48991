"""Date-range filters as index-friendly half-open datetime ranges."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def apply_date_range(queryset: QuerySet, field: str, filters: dict) -> QuerySet:
    """Filter `field` (a DateTimeField) to [date_from 00:00, date_to + 1 day 00:00)."""
    if filters.get("date_from"):
        queryset = queryset.filter(**{f"{field}__gte": _start_of(date.fromisoformat(filters["date_from"]))})
    if filters.get("date_to"):
        queryset = queryset.filter(**{f"{field}__lt": _start_of(date.fromisoformat(filters["date_to"]) + timedelta(days=1))})
    return queryset


def apply_limit(queryset: QuerySet, filters: dict) -> QuerySet:
    limit = filters.get("limit")
    return queryset[: int(limit)] if limit else queryset
