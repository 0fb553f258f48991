"""Which pending migrations the serving release survives (expand), and which it does not (contract).

During a blue/green deploy the old release keeps serving while the new one's migrations run, so
every migration applied before the switch must leave a schema the old code still reads and
writes. Django's own operations say enough to tell: dropping or renaming a column or table breaks
the old code's queries, changing a column may break its writes, and a NOT NULL column without a
database default breaks its INSERTs. Such a migration must declare `phase = "contract"`: it then
runs only once the old release has stopped. Raw SQL and Python cannot be read, so their author
declares the phase (`phase = "expand"` or `"contract"`).

Own rules rather than django-migration-linter: these are the few operations this app uses, the
check runs inside the release's own image against the live migration state (no second
database, no git history), and its verdict feeds the deploy directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from django.apps import apps
from django.conf import settings
from django.db import connections, migrations
from django.db.migrations.executor import MigrationExecutor
from django.db.models import NOT_PROVIDED

EXPAND, CONTRACT = "expand", "contract"

# Operations the serving release cannot run against, and why.
_BREAKING = {
    migrations.RemoveField: "drops a column the serving release still selects",
    migrations.DeleteModel: "drops a table the serving release still reads",
    migrations.RenameField: "renames a column the serving release still names",
    migrations.RenameModel: "renames a table the serving release still names",
    migrations.AlterModelTable: "renames a table the serving release still names",
    migrations.AlterField: "changes a column the serving release still writes",
}
_OPAQUE = (migrations.RunSQL, migrations.RunPython)


@dataclass
class Verdict:
    app: str
    name: str
    phase: str
    problems: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"


def problems_of(migration: migrations.Migration) -> list[str]:
    """What in this migration the release before it would not survive."""
    found = []
    for operation in migration.operations:
        reason = next((why for kind, why in _BREAKING.items() if isinstance(operation, kind)), None)
        if isinstance(operation, migrations.AddField):
            column = operation.field
            if not column.null and column.db_default is NOT_PROVIDED and not column.many_to_many:
                reason = "adds a NOT NULL column without a database default: the serving release's inserts fail"
        if isinstance(operation, _OPAQUE) and getattr(migration, "phase", None) is None:
            reason = "runs SQL or Python that cannot be checked: declare phase = 'expand' or 'contract'"
        if reason:
            found.append(f"{operation.describe()}: {reason}")
    return found


def _is_ours(app_label: str) -> bool:
    """The project's own apps. Django's and the libraries' migrations are taken as written: their
    authors ship them for upgrades of running sites, and their history (a fresh database applies
    all of it) is full of operations these rules would flag."""
    path = Path(apps.get_app_config(app_label).path)
    return path.is_relative_to(settings.BASE_DIR) and "site-packages" not in path.parts  # a venv inside the app


def pending(database: str = "default") -> list[Verdict]:
    """The migrations `migrate` would apply, in order, each with its phase and problems."""
    executor = MigrationExecutor(connections[database])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    verdicts = []
    for migration, backwards in plan:
        if backwards:
            continue
        declared = getattr(migration, "phase", None)
        problems = problems_of(migration) if _is_ours(migration.app_label) else []
        verdicts.append(Verdict(migration.app_label, migration.name, declared or (CONTRACT if problems else EXPAND),
                                [] if declared == CONTRACT else problems))
    return verdicts
