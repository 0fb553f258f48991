"""Report builders: each turns filters into a ReportData whose rows stream from the database."""
from __future__ import annotations

from collections.abc import Callable

from apranova.reports import analytics, batches, payments, users
from core.report_utils import ReportData

BUILDERS: dict[str, Callable[[dict], ReportData]] = {
    "users": users.build,
    "payments": payments.build,
    "batches": batches.build,
    "analytics": analytics.build,
}


def build(report_type: str, filters: dict) -> ReportData:
    return BUILDERS[report_type](filters)
