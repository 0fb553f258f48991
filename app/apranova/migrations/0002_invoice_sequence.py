"""The invoice number sequence: PostgreSQL hands out numbers atomically, even to concurrent workers."""
from django.db import migrations

from apranova.models import INVOICE_SEQUENCE


def create_sequence(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {INVOICE_SEQUENCE}")


def drop_sequence(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {INVOICE_SEQUENCE}")


class Migration(migrations.Migration):
    # A new sequence: the release before it never reads it (see core.migration_safety).
    phase = "expand"
    dependencies = [("apranova", "0001_initial")]
    operations = [migrations.RunPython(create_sequence, drop_sequence)]
