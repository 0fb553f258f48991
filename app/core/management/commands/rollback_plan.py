"""`manage.py rollback_plan --to app.name,...`: can the release with these last migrations run on today's schema?

Run by the serving release (its image has the migrations the older one lacks). Prints the plan;
`--apply` reverses the migrations the older code cannot run with, and fails, changing nothing, when
one of them cannot be reversed. See core.rollback_plan.
"""
from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from core.rollback_plan import plan_for, reverse


class Command(BaseCommand):
    help = "Check that an older release runs on the current schema; with --apply, reverse what it cannot run with."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--to", required=True, help="the older release's last migrations, comma-separated app.name")
        parser.add_argument("--json", action="store_true", dest="as_json", help="one JSON document, for the role to read")
        parser.add_argument("--apply", action="store_true", help="reverse the migrations the older release cannot run with")

    def handle(self, *args, to: str, as_json: bool = False, apply: bool = False, **options) -> None:
        try:
            plan = plan_for([text for text in to.split(",") if text])
            if apply and plan.reverse:
                reverse(plan, verbosity=options["verbosity"])  # refuses, changing nothing, when it cannot
        except ValueError as error:
            raise CommandError(str(error)) from error
        if as_json:
            self.stdout.write(json.dumps(plan.as_dict()))
            return
        self.stdout.write(f"applied since the target: {', '.join(plan.ahead) or 'nothing'}")
        for problem in plan.problems:
            self.stdout.write(f"  ! {problem}")
        if plan.compatible:
            self.stdout.write("the target release runs on this schema as it is")
        elif plan.possible:
            self.stdout.write(f"{'reversed' if apply else 'to reverse'}: {', '.join(plan.reverse)}")
        else:
            raise CommandError("the target release cannot run on this schema, and it cannot be taken back: "
                               + "; ".join(plan.irreversible))
