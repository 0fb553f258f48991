"""Create the APROVOVA reports tree; idempotent and safe on an existing one."""
from django.core.management.base import BaseCommand, CommandError

from core import aprovova


class Command(BaseCommand):
    help = "Create the APROVOVA reports directory tree with the right modes (safe to re-run)."
    requires_system_checks = []  # The aprovova check would only warn about what we are fixing.

    def handle(self, *args, **options) -> None:
        created = aprovova.init_tree()
        problems = aprovova.tree_problems()
        if problems:
            raise CommandError("APROVOVA is not usable: " + "; ".join(problems))
        for directory in created:
            self.stdout.write(f"created {directory}")
        self.stdout.write(self.style.SUCCESS(f"APROVOVA ready at {aprovova.root()} ({len(created)} directories created)"))
