"""Bulk loads into a PostgreSQL table without row-by-row index and foreign-key upkeep."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def indexes_set_aside(table: str) -> Iterator[None]:
    """Drop `table`'s secondary indexes, unique and foreign-key constraints; rebuild them on exit.

    Must run inside a transaction: the drops and rebuilds commit or roll back with the load,
    so no one ever sees the table without its constraints, and a duplicate or dangling row
    makes the rebuild (and so the whole load) fail. The primary key stays: appending to it
    is cheap. Each index is rebuilt in one sort, and each foreign key validated in one join.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_set_aside needs a transaction (transaction.atomic)")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid = %s::regclass AND contype IN ('u', 'f') ORDER BY contype DESC, conname",
            [table],
        )
        constraints = cursor.fetchall()  # unique before foreign keys, which may need them
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
            " WHERE x.indrelid = %s::regclass AND NOT x.indisprimary"
            " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.conrelid = x.indrelid)"
            " ORDER BY i.relname",
            [table],
        )
        indexes = cursor.fetchall()
        quoted = connection.ops.quote_name(table)
        # A table with pending deferred checks (rows this transaction added) cannot be
        # altered: run those checks now, then defer again as Django's keys expect.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        for name, _definition in reversed(constraints):
            cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {connection.ops.quote_name(name)}")
        for name, _definition in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    yield
    with connection.cursor() as cursor:
        # More sort memory for the rebuilds of this transaction only.
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for _name, definition in indexes:
            cursor.execute(definition)
        for name, definition in constraints:
            cursor.execute(f"ALTER TABLE {quoted} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")
