"""Create or update a dashboard user with a role; the password comes from stdin."""

import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from dashboard.roles import ROLES, set_role


class Command(BaseCommand):
    help = "Create or update a user with a role. Read the password from stdin with --password-stdin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, required=True)
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--password-stdin", action="store_true", help="read the password from the first line of stdin"
        )
        parser.add_argument("--inactive", action="store_true", help="deactivate the user")

    def handle(self, username, role, email, password_stdin, inactive, **options):
        User = get_user_model()
        password = None
        if password_stdin:
            password = sys.stdin.readline().rstrip("\r\n")
            if not password:
                raise CommandError("no password on stdin")
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username)
            if created and password is None:
                raise CommandError("a new user needs a password: pass --password-stdin")
            if password is not None:
                try:
                    validate_password(password, user)
                except ValidationError as exc:
                    raise CommandError(" ".join(exc.messages)) from None
                user.set_password(password)
            if email:
                user.email = email
            user.is_active = not inactive
            user.save()
            set_role(user, role)
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {username} ({role}{', inactive' if inactive else ''}).")
