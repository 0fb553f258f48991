"""A rollback is planned against the schema: the older code runs as it is, or what it cannot run with is reversed."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, migrations, models
from django.db.migrations.loader import MigrationLoader

from core.rollback_plan import leaf_labels, make_plan

HEAD = "apranova.0004_json_safe_codes"


def made(name: str, after: str, *operations, **options) -> migrations.Migration:
    migration = migrations.Migration(name, "apranova")
    migration.dependencies = [("apranova", after)]
    migration.operations = list(operations)
    return migration


def with_migrations(monkeypatch, *extra: migrations.Migration) -> None:
    """Every loader also finds these migrations on disk, as if a newer release had shipped them."""
    original = MigrationLoader.load_disk

    def load_disk(self):
        original(self)
        for migration in extra:
            self.disk_migrations[migration.app_label, migration.name] = migration

    monkeypatch.setattr(MigrationLoader, "load_disk", load_disk)


def loader_with_applied(*names: str) -> MigrationLoader:
    """The live migration state, plus these app migrations marked applied (without running them)."""
    loader = MigrationLoader(connection)
    loader.applied_migrations = {**loader.applied_migrations, **{("apranova", name): None for name in names}}
    return loader


def target(last_app_migration: str) -> list[str]:
    return [f"apranova.{last_app_migration}" if item.startswith("apranova.") else item for item in leaf_labels()]


ADD_SUBTITLE = made("9001_add_subtitle", "0004_json_safe_codes",
                    migrations.AddField("course", "subtitle", models.CharField(max_length=200, null=True)))
DROP_SUBTITLE = made("9002_drop_subtitle", "9001_add_subtitle", migrations.RemoveField("course", "subtitle"))


def test_a_release_knows_its_last_migrations_without_a_database():
    assert HEAD in leaf_labels()


@pytest.mark.django_db
def test_a_release_before_an_additive_migration_runs_on_the_schema_as_it_is():
    plan = make_plan(target("0003_report_view_all_permission"), MigrationLoader(connection), connection)
    assert plan.ahead == [HEAD]
    assert plan.compatible and plan.reverse == [], plan


@pytest.mark.django_db
def test_a_column_dropped_since_the_target_is_brought_back(monkeypatch):
    with_migrations(monkeypatch, ADD_SUBTITLE, DROP_SUBTITLE)
    plan = make_plan(target("9001_add_subtitle"), loader_with_applied("9001_add_subtitle", "9002_drop_subtitle"), connection)
    assert plan.problems == ["apranova_course.subtitle: the code selects it; the column is gone"]
    assert plan.reverse == ["apranova.9002_drop_subtitle"] and plan.possible
    # A nullable column the serving release does not know: it keeps serving through the reversal.
    assert plan.serving_breaks == []


@pytest.mark.django_db
def test_a_not_null_column_the_target_does_not_know_breaks_its_inserts(monkeypatch):
    add_level = made("9001_add_level", "0004_json_safe_codes",
                    migrations.AddField("course", "level", models.CharField(max_length=8, default="x")))
    with_migrations(monkeypatch, add_level)
    plan = make_plan(target("0004_json_safe_codes"), loader_with_applied("9001_add_level"), connection)
    assert plan.problems == ["apranova_course.level: NOT NULL without a database default, unknown to the code: its inserts fail"]
    assert plan.reverse == ["apranova.9001_add_level"] and plan.possible
    assert plan.serving_breaks == ["apranova_course.level: the code selects it; the column is gone"]


@pytest.mark.django_db
def test_a_dropped_not_null_column_without_a_default_cannot_come_back(monkeypatch):
    drop_provider = made("9001_drop_provider", "0004_json_safe_codes", migrations.RemoveField("payment", "provider_reference"))
    with_migrations(monkeypatch, drop_provider)
    plan = make_plan(target("0004_json_safe_codes"), loader_with_applied("9001_drop_provider"), connection)
    assert "apranova_payment.provider_reference: the code selects it; the column is gone" in plan.problems
    assert not plan.possible and "needs a value for every row" in plan.irreversible[0]


@pytest.mark.django_db
def test_code_without_a_reverse_cannot_be_reversed(monkeypatch):
    backfill = made("9001_backfill", "0004_json_safe_codes",
                    migrations.AddField("course", "level", models.CharField(max_length=8, default="x")),
                    migrations.RunPython(lambda apps, schema_editor: None))
    with_migrations(monkeypatch, backfill)
    plan = make_plan(target("0004_json_safe_codes"), loader_with_applied("9001_backfill"), connection)
    assert not plan.possible and "cannot be reversed" in plan.irreversible[0]


@pytest.mark.django_db
def test_a_target_with_migrations_this_release_lacks_is_refused():
    with pytest.raises(CommandError, match="this release does not: apranova.9999_elsewhere"):
        call_command("rollback_plan", "--to", "apranova.9999_elsewhere", stdout=io.StringIO())


def column_exists(table: str, column: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.columns WHERE table_name = %s AND column_name = %s",
                       [table, column])
        return cursor.fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_apply_reverses_for_real_and_leaves_the_other_apps_alone(monkeypatch):
    add_level = made("9001_add_level", "0004_json_safe_codes",
                    migrations.AddField("course", "level", models.CharField(max_length=8, default="x")))
    before = target("0004_json_safe_codes")
    with_migrations(monkeypatch, add_level)
    call_command("migrate", "apranova", verbosity=0)
    try:
        assert column_exists("apranova_course", "level")
        out = io.StringIO()
        call_command("rollback_plan", "--to", ",".join(before), "--apply", "--json", stdout=out)
        plan = json.loads(out.getvalue())
        assert plan["reverse"] == ["apranova.9001_add_level"]
        assert not column_exists("apranova_course", "level")
        assert ("apranova", "9001_add_level") not in MigrationLoader(connection).applied_migrations
        # Asked again, the plan has nothing left to do.
        again = io.StringIO()
        call_command("rollback_plan", "--to", ",".join(before), "--json", stdout=again)
        assert json.loads(again.getvalue())["compatible"] is True
    finally:
        call_command("migrate", "apranova", "0004", verbosity=0)
