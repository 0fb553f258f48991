"""Format values in PostgreSQL rather than Python.

Django parses every timestamptz in Python and builds a Decimal per amount; for a million
rows that is most of the report's time. Text from the server is ready for CSV, JSON and PDF.
"""
from collections.abc import Callable
from typing import IO

from django.db import connections
from django.db.models import CharField, F, Func, QuerySet
from django.db.models.functions import Cast


def iso_utc(field: str) -> Func:
    """ISO 8601 in UTC, e.g. 2026-11-26T10:09:48Z (NULL stays NULL)."""
    return Func(
        F(field), function="to_char", output_field=CharField(),
        template="to_char(%(expressions)s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
    )


def as_text(field: str) -> Cast:
    return Cast(field, output_field=CharField())


def copy_csv(queryset: QuerySet) -> Callable[[IO[bytes]], int]:
    """Stream the queryset's rows as CSV straight from PostgreSQL (COPY ... TO STDOUT).

    The server formats the CSV and psycopg hands over blocks of bytes: no Python object per
    value, and memory bounded by the block size however many rows there are.
    """

    def write(handle: IO[bytes]) -> int:
        sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
        connection = connections[queryset.db]
        with connection.cursor() as cursor:
            raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy().
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for block in copy:
                    handle.write(block)
            return raw.rowcount

    return write
