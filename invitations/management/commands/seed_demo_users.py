"""Create the demo users alice, bob, carol and dave (and an operator) for a local run."""
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand

DEMO_USERS = ["alice", "bob", "carol", "dave"]


class Command(BaseCommand):
    help = "Create demo users (idempotent) and print their password."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "callsite-demo"))

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        password = options["password"]
        for name in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=name, defaults={"first_name": name.title()})
            user.set_password(password)
            user.save()
        operator, _ = User.objects.get_or_create(username="operator", defaults={"is_staff": True})
        operator.is_staff = True
        operator.set_password(password)
        operator.save()
        operator.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="invitations",
                                       codename__in=["view_call", "end_call", "view_connection",
                                                     # webhooks: add, edit and rotate endpoints, read deliveries
                                                     "add_webhookendpoint", "change_webhookendpoint",
                                                     "view_webhookendpoint", "view_webhookmessage",
                                                     "view_webhookattempt"]))
        self.stdout.write(f"Demo users {', '.join(DEMO_USERS)} and staff user 'operator', password: {password}")
