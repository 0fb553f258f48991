"""Migrations are sorted into expand (the serving release survives them) and contract (it does not)."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import migrations, models
from django.db.migrations.loader import MigrationLoader

from core import health
from core.migration_safety import pending, problems_of


@contextmanager
def migrated_back_to(app: str, name: str) -> Iterator[None]:
    """The database with `app` migrated back to `name` for the block, then fully migrated again."""
    call_command("migrate", app, name, verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", verbosity=0)


@pytest.fixture
def json_codes_as_contract(monkeypatch) -> None:
    """Every loader sees 0004 declared as a contract migration."""
    contract = MigrationLoader(None).disk_migrations[("apranova", "0004_json_safe_codes")]
    monkeypatch.setattr(contract, "phase", "contract", raising=False)
    original = MigrationLoader.load_disk

    def load_disk(self):
        original(self)
        self.disk_migrations[(contract.app_label, contract.name)] = contract

    monkeypatch.setattr(MigrationLoader, "load_disk", load_disk)


def migration(*operations, phase: str | None = None) -> migrations.Migration:
    made = migrations.Migration("0099_test", "apranova")
    made.operations = list(operations)
    if phase:
        made.phase = phase
    return made


@pytest.mark.parametrize("operation", [
    migrations.RemoveField("payment", "provider"),
    migrations.RenameField("payment", "provider", "gateway"),
    migrations.DeleteModel("profile"),
    migrations.AlterField("payment", "provider", models.CharField(max_length=8)),
    migrations.AddField("payment", "channel", models.CharField(max_length=8)),  # NOT NULL, no database default
    migrations.RunSQL("UPDATE apranova_payment SET provider = 'x'"),
])
def test_what_breaks_the_serving_release_is_found(operation):
    assert problems_of(migration(operation))


@pytest.mark.parametrize("operation", [
    migrations.AddField("payment", "channel", models.CharField(max_length=8, null=True)),
    migrations.AddField("payment", "channel", models.CharField(max_length=8, db_default="web")),
    migrations.AddIndex("payment", models.Index(fields=["provider"], name="payment_provider_idx")),
    migrations.CreateModel("Note", [("id", models.BigAutoField(primary_key=True))]),
])
def test_additions_the_serving_release_ignores_are_expand(operation):
    assert problems_of(migration(operation)) == []


def test_declared_phases_are_believed_for_code_that_cannot_be_read():
    assert problems_of(migration(migrations.RunSQL("SELECT 1"), phase="expand")) == []


@pytest.mark.django_db
def test_nothing_pending_on_a_migrated_database():
    assert pending() == []
    out = io.StringIO()
    call_command("check_migrations", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"pending": [], "expand": [], "contract": [], "unsafe": []}


@pytest.mark.django_db(transaction=True)
def test_the_app_own_migrations_are_all_expand():
    # Unapply the app's migrations, then ask: every one of them is safe for the release before it.
    with migrated_back_to("apranova", "0001"):
        verdicts = pending()
        assert [v.label for v in verdicts][:3] == ["apranova.0002_invoice_sequence", "apranova.0003_report_view_all_permission",
                                                   "apranova.0004_json_safe_codes"]
        assert all(v.phase == "expand" and not v.problems for v in verdicts), verdicts


@pytest.mark.django_db(transaction=True)
def test_expand_stops_before_the_first_contract_migration(json_codes_as_contract):
    # With 0004 a contract migration, expand applies 0003 only, contract the rest.
    with migrated_back_to("apranova", "0002"):
        call_command("migrate_phase", "expand", stdout=io.StringIO())
        assert [v.name for v in pending()] == ["0004_json_safe_codes"]
        call_command("migrate_phase", "contract", stdout=io.StringIO())
        assert pending() == []


def test_migrations_get_lock_and_statement_timeouts(tmp_path):
    env = dict(os.environ, DB_LOCK_TIMEOUT="5s", DB_STATEMENT_TIMEOUT="10min", DJANGO_SETTINGS_MODULE="core.settings",
               APROVOVA_REPORTS_DIR=str(tmp_path))
    code = "import django; django.setup(); from django.db import connection as c; c.ensure_connection(); " \
           "cur = c.cursor(); cur.execute('SHOW lock_timeout'); print(cur.fetchone()[0])"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent, env=env,
                         capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "5s"


@pytest.mark.django_db(transaction=True)
def test_a_fresh_database_applies_django_history_without_a_verdict_against_it():
    # Django's own migrations (contenttypes drops a column, auth alters many) are not ours to judge.
    with migrated_back_to("contenttypes", "zero"):
        flagged = [v.label for v in pending() if v.problems]
        assert flagged == [], flagged


@pytest.mark.django_db(transaction=True)
def test_a_release_is_ready_while_only_its_contract_migrations_wait(request):
    with migrated_back_to("apranova", "0003"):
        assert health.check_migrations() == "1 migration(s) not applied"
        request.getfixturevalue("json_codes_as_contract")
        assert health.check_migrations() is None
