"""`manage.py migrate_phase expand|contract`: the migrations of one phase of a two-phase deploy.

expand: everything pending up to the first contract migration (see core.migration_safety), while
the old release still serves; contract: the rest, once it has stopped. Refuses to run a pending
migration that would break the serving release but does not say so (phase = "contract") before
the switch; contract is also the phase of a first deploy, with nothing serving.
"""
from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from core.migration_safety import CONTRACT, pending


class Command(BaseCommand):
    help = "Apply the expand migrations (before the switch) or every pending one (contract, after it)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("phase", choices=["expand", "contract"])

    def handle(self, *args, phase: str, **options) -> None:
        verdicts = pending()
        unsafe = [f"{v.label}: {problem}" for v in verdicts for problem in v.problems]
        # After the old release stopped (or with none ever serving) nothing is left to break.
        if unsafe and phase == "expand":
            raise CommandError("refusing migrations that would break the serving release: " + "; ".join(unsafe))
        if phase == "contract" or not any(v.phase == CONTRACT for v in verdicts):
            call_command("migrate", interactive=False, verbosity=options["verbosity"])
            return
        # The plan is in dependency order: migrating each app to its last migration before the
        # first contract one applies exactly that prefix.
        targets: dict[str, str] = {}
        for verdict in verdicts:
            if verdict.phase == CONTRACT:
                break
            targets[verdict.app] = verdict.name
        for app, name in targets.items():
            call_command("migrate", app, name, interactive=False, verbosity=options["verbosity"])
        self.stdout.write(f"expand: {len(targets)} app(s) migrated; contract migrations wait for the old release to stop")
