"""Whether an older release's code runs on today's schema, and if not, how to take the schema back.

A rollback starts an older release against the database as the newer releases left it. The older
code expects the schema of its own last migrations: every table and column it names must exist
with the same type, and every column it does not know must accept its INSERTs (nullable, or with a
database default). Expand migrations keep that true by construction; a contract migration (or a
column added NOT NULL by a release that was then allowed to contract) may not.

When the older code cannot run, the migrations it does not have are reversed, but only by the
serving release: its image holds their files, the older one does not. They are reversed only when
every one of them can be: an operation Django cannot undo (Python or SQL without a reverse), or a
dropped NOT NULL column without a default (its rows would need a value nobody knows), refuses the
rollback instead. The deploy role takes a restore point first; data written to a dropped column
since it was dropped is not brought back by the reversal, only by that restore point.

The comparison is by table and column (name, type, NULL); constraints and indexes are not compared:
an older release whose writes a newer CHECK refuses would fail on those rows only, and loudly.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from django.core.management import call_command
from django.db import connections, migrations, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import NOT_PROVIDED

Key = tuple[str, str]


@dataclass
class RollbackPlan:
    target: list[str]
    # Applied migrations the target release does not have, oldest first.
    ahead: list[str] = field(default_factory=list)
    # Why the target's code cannot run on the schema as it is.
    problems: list[str] = field(default_factory=list)
    # Migrations to unapply, in the order Django unapplies them (when there are problems).
    reverse: list[str] = field(default_factory=list)
    # Why some of them cannot be unapplied.
    irreversible: list[str] = field(default_factory=list)
    # What the serving release would miss between the reversal and the switch.
    serving_breaks: list[str] = field(default_factory=list)

    @property
    def compatible(self) -> bool:
        return not self.problems

    @property
    def possible(self) -> bool:
        return self.compatible or not self.irreversible

    def as_dict(self) -> dict:
        return {"target": self.target, "ahead": self.ahead, "problems": self.problems, "reverse": self.reverse,
                "irreversible": self.irreversible, "serving_breaks": self.serving_breaks,
                "compatible": self.compatible, "possible": self.possible}


def label(key: Key) -> str:
    return f"{key[0]}.{key[1]}"


def parse_keys(labels: list[str]) -> list[Key]:
    keys = []
    for text in labels:
        app, _, name = text.partition(".")
        if not app or not name:
            raise ValueError(f"not a migration (app.name): {text!r}")
        keys.append((app, name))
    return keys


def leaf_labels() -> list[str]:
    """This release's last migration of each app, from its files alone (no database needed). The role
    asks an older release the same through `manage shell`, which releases older than this module have."""
    return sorted(label(key) for key in MigrationLoader(None, ignore_no_migrations=True).graph.leaf_nodes())


def applied_leaves(loader: MigrationLoader) -> list[Key]:
    """The last applied migration of each app that this release's graph knows."""
    applied = {key for key in loader.applied_migrations if key in loader.graph.nodes}
    return [key for key in applied
            if not any(child.key in applied for child in loader.graph.node_map[key].children if child.key[0] == key[0])]


def _tables(state: ProjectState) -> list[type[models.Model]]:
    """The models that own a table (a proxy shares its concrete model's)."""
    return [model for model in state.apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy]


def schema_problems(code: ProjectState, schema: ProjectState, connection: BaseDatabaseWrapper) -> list[str]:
    """Why code written for the `code` state would fail against a database in the `schema` state."""
    tables = {model._meta.db_table: model for model in _tables(schema)}
    found = []
    for model in _tables(code):
        meta = model._meta
        there = tables.get(meta.db_table)
        if there is None:
            found.append(f"table {meta.db_table}: the code reads it; the database has no such table")
            continue
        expected = {f.column: f for f in meta.local_concrete_fields}
        present = {f.column: f for f in there._meta.local_concrete_fields}
        for column, wanted in expected.items():
            actual = present.get(column)
            if actual is None:
                found.append(f"{meta.db_table}.{column}: the code selects it; the column is gone")
            elif wanted.db_type(connection) != actual.db_type(connection):
                found.append(f"{meta.db_table}.{column}: the code expects {wanted.db_type(connection)}, "
                             f"the column is {actual.db_type(connection)}")
            elif wanted.null and not actual.null:
                found.append(f"{meta.db_table}.{column}: the code may write NULL; the column is NOT NULL")
        for column, extra in present.items():
            if column not in expected and not extra.null and extra.db_default is NOT_PROVIDED:
                found.append(f"{meta.db_table}.{column}: NOT NULL without a database default, "
                             "unknown to the code: its inserts fail")
    return found


def why_irreversible(loader: MigrationLoader, key: Key) -> list[str]:
    migration = loader.graph.nodes[key]
    found = []
    before = None
    for operation in migration.operations:
        if not operation.reversible:
            found.append(f"{label(key)}: {operation.describe()} cannot be reversed")
        elif isinstance(operation, migrations.RemoveField):
            before = before or loader.project_state(key, at_end=False)
            dropped = before.models[key[0], operation.model_name_lower].fields[operation.name_lower]
            if not dropped.null and not dropped.has_default() and dropped.db_default is NOT_PROVIDED:
                found.append(f"{label(key)}: {operation.describe()}: bringing back a NOT NULL column without "
                             "a default needs a value for every row")
    return found


def make_plan(target_labels: list[str], loader: MigrationLoader, connection: BaseDatabaseWrapper) -> RollbackPlan:
    """What rolling back to a release whose last migrations are `target_labels` takes."""
    targets = parse_keys(target_labels)
    unknown = [label(key) for key in targets if key not in loader.graph.nodes]
    if unknown:
        raise ValueError(f"the target release has migrations this release does not: {', '.join(unknown)}; "
                         "roll back only to a release this one was built on")
    plan = RollbackPlan(target=sorted(target_labels))
    known = {key for target in targets for key in loader.graph.forwards_plan(target)}
    plan.ahead = [label(key) for key in _applied_in_order(loader) if key not in known]
    now = loader.project_state(applied_leaves(loader), at_end=True)
    wanted = loader.project_state(targets, at_end=True)
    plan.problems = schema_problems(wanted, now, connection)
    if plan.compatible:
        return plan
    executor = MigrationExecutor(connection)
    executor.loader = loader
    # Apps the target release does not have at all go back to zero.
    full = targets + [(app, None) for app in {key[0] for key in loader.graph.leaf_nodes()} - {t[0] for t in targets}]
    steps = [migration for migration, backwards in executor.migration_plan(full) if backwards]
    plan.reverse = [label((m.app_label, m.name)) for m in steps]
    plan.irreversible = [why for m in steps for why in why_irreversible(loader, (m.app_label, m.name))]
    serving = loader.project_state(loader.graph.leaf_nodes(), at_end=True)
    plan.serving_breaks = schema_problems(serving, wanted, connection)
    return plan


def _applied_in_order(loader: MigrationLoader) -> list[Key]:
    order: dict[Key, None] = {}  # insertion-ordered and without repeats: apps share ancestors
    for leaf in sorted(loader.graph.leaf_nodes()):
        order.update((key, None) for key in loader.graph.forwards_plan(leaf) if key in loader.applied_migrations)
    return list(order)


def plan_for(target_labels: list[str], database: str = "default") -> RollbackPlan:
    connection = connections[database]
    return make_plan(target_labels, MigrationLoader(connection), connection)


def reverse(plan: RollbackPlan, verbosity: int = 1) -> None:
    """Unapply the plan's migrations: each app back to the target's last migration (or zero)."""
    if not plan.possible:
        raise ValueError("cannot reverse: " + "; ".join(plan.irreversible))
    targets = dict(parse_keys(plan.target))
    for app in dict.fromkeys(key[0] for key in parse_keys(plan.reverse)):
        call_command("migrate", app, targets.get(app, "zero"), interactive=False, verbosity=verbosity)
