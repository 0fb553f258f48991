from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Count, DecimalField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from apranova.models import Enrollment, Payment
from apranova.reports.filters import apply_date_range, apply_limit
from apranova.reports.sql import utc_text
from core.report_utils import ReportData

COLUMNS = ["id", "username", "email", "first_name", "last_name", "joined_text", "is_active", "enrollments", "total_paid"]
STREAM_CHUNK = 5000


def build(filters: dict) -> ReportData:
    # Correlated subqueries rather than JOIN + GROUP BY: no row explosion and no sort over all users.
    enrollments = Enrollment.objects.filter(user=OuterRef("pk")).values("user").annotate(n=Count("id")).values("n")
    paid = (
        Payment.objects.filter(user=OuterRef("pk"), status=Payment.Status.PAID)
        .values("user").annotate(total=Sum("amount")).values("total")
    )
    queryset = (
        get_user_model().objects.order_by("id")
        .annotate(joined_text=utc_text("date_joined"),
                  enrollment_count=Coalesce(Subquery(enrollments), Value(0)),
                  total_paid=Coalesce(Subquery(paid), Value(0), output_field=DecimalField(max_digits=14, decimal_places=2)))
        .values_list("id", "username", "email", "first_name", "last_name", "joined_text", "is_active", "enrollment_count", "total_paid")
    )
    queryset = apply_limit(apply_date_range(queryset, "date_joined", filters), filters)
    return ReportData("Apra Nova users", COLUMNS, queryset.iterator(chunk_size=STREAM_CHUNK))
