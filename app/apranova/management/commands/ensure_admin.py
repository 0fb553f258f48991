"""Create or update a staff superuser idempotently; the password comes from ADMIN_PASSWORD."""
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create or update a superuser (password from the ADMIN_PASSWORD environment variable)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("ADMIN_USERNAME", "admin"))
        parser.add_argument("--email", default=os.environ.get("ADMIN_EMAIL", ""))

    def handle(self, *args, username: str, email: str, **options) -> None:
        # Not an argument: command lines end up in process lists and shell history.
        password = os.environ.get("ADMIN_PASSWORD", "")
        if not password:
            raise CommandError("ADMIN_PASSWORD is not set")
        user, created = get_user_model().objects.get_or_create(username=username, defaults={"email": email})
        changed = created or not (user.is_staff and user.is_superuser and user.is_active and user.check_password(password))
        changed = changed or bool(email and user.email != email)
        if changed:
            user.email = email or user.email
            user.is_staff = user.is_superuser = user.is_active = True
            user.set_password(password)
            user.save()
        self.stdout.write(f"{'created' if created else 'updated' if changed else 'unchanged'} admin {username}")
