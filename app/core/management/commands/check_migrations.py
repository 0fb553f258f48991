"""`manage.py check_migrations`: the pending migrations, their phase, and what would break the serving release."""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from core.migration_safety import CONTRACT, pending


class Command(BaseCommand):
    help = "List pending migrations as expand or contract; fail when one would break the serving release."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON document, for the deploy to read")

    def handle(self, *args, as_json: bool = False, **options) -> None:
        verdicts = pending()
        unsafe = [v for v in verdicts if v.problems]
        if as_json:
            self.stdout.write(json.dumps({
                "pending": [{"migration": v.label, "phase": v.phase, "problems": v.problems} for v in verdicts],
                # Before the switch: every migration up to the first contract one, per app.
                "expand": [v.label for v in verdicts if v.phase != CONTRACT],
                "contract": [v.label for v in verdicts if v.phase == CONTRACT],
                "unsafe": [f"{v.label}: {problem}" for v in unsafe for problem in v.problems],
            }))
            return
        for verdict in verdicts:
            self.stdout.write(f"{verdict.phase:<8} {verdict.label}")
            for problem in verdict.problems:
                self.stdout.write(f"         ! {problem}")
        if unsafe:
            raise CommandError(f"{len(unsafe)} migration(s) would break the serving release: declare them phase = 'contract'")

