"""Format values in PostgreSQL rather than Python.

Django parses every timestamptz in Python and builds a Decimal per amount; for a million
rows that is most of the report's time. Text from the server is ready for CSV, JSON and PDF.
"""
from collections.abc import Callable
from typing import IO

from django.db import connections, transaction
from django.db.models import CharField, F, Func, QuerySet
from django.db.models.functions import Cast


def utc_text(field: str) -> Func:
    """The time to the second in UTC, as PostgreSQL writes it: 2026-11-26 10:09:48+00 (RFC 3339
    with a space; NULL stays NULL). Django's connections run in UTC. PostgreSQL's own output
    costs half of a to_char() pattern, a second per timestamp column at a million rows."""
    return Func(F(field), output_field=CharField(), template="date_trunc('second', %(expressions)s)::text")


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
        with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
            # For an ordered export of every row the planner picks index scans with nested
            # loops; hash joins over one sequential scan take a third less time (measured at
            # a million payments). Only for this statement.
            cursor.execute("SET LOCAL enable_nestloop = off")
            raw = cursor.cursor  # psycopg's own cursor: Django's wrapper has no copy().
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for block in copy:
                    handle.write(block)
            written = raw.rowcount  # read before the next statement resets it
            cursor.execute("SET LOCAL enable_nestloop TO DEFAULT")
            return written

    return write
