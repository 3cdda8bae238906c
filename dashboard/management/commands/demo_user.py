"""Create the demo admin for `make run`, printing its password once."""

import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from dashboard.roles import ADMIN, set_role


class Command(BaseCommand):
    help = "Create the 'demo' admin with a fresh random password if it does not exist yet."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="demo")

    def handle(self, username, **options):
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Demo login: user '{username}' exists (password printed when it was created).")
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(username=username, password=password)
        set_role(user, ADMIN)
        self.stdout.write(
            self.style.SUCCESS(f"Demo login created — username: {username}  password: {password}  (shown once)")
        )
