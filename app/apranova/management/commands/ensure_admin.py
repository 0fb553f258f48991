"""Create or update a staff superuser idempotently; the password comes from stdin or ADMIN_PASSWORD."""
import os
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or update a superuser (password from stdin with --password-stdin, else from ADMIN_PASSWORD)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", ""))
        # Stdin leaves no trace: an environment variable shows in `docker exec`'s command line as a
        # deploy logs it (-vvv), and an argument in process lists and shell history.
        parser.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")

    def handle(self, *args, username: str, email: str, password_stdin: bool = False, **options) -> None:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else os.environ.get("ADMIN_PASSWORD", "")
        if not password:
            raise CommandError("no password: give it on stdin with --password-stdin, or in ADMIN_PASSWORD")
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
        changed = created or not (user.is_staff and user.is_superuser and user.is_active and user.check_password(password))
        changed = changed or bool(email and user.email != email)
        if changed:
            user.email = email or user.email
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        self.stdout.write(f"{'created' if created else 'updated' if changed else 'unchanged'} admin {username}")
