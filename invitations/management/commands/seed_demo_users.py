"""Create the demo users alice, bob, carol and dave (and an operator) for a local run.

scripts/run runs this at every start. Users that exist are left alone: setting a
password again (even the same one: a new salt) changes the hash every session is
bound to, and would sign everyone out, mid-call, at each restart."""

import os
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Q

DEMO_USERS = ["alice", "bob", "carol", "dave"]
OPERATOR = "operator"
# What the demo operator does in the admin (docs/ui.md): calls, connections, webhooks, call groups.
OPERATOR_PERMISSIONS = {
    "invitations": [
        "view_call",
        "end_call",
        "view_connection",
        # webhooks: add, edit and rotate endpoints, read deliveries
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookendpoint",
        "view_webhookmessage",
        "view_webhookattempt",
        # call groups, and the users to pick as their members
        "add_group",
        "change_group",
        "delete_group",
        "view_group",
    ],
    "auth": ["view_user"],
}


class Command(BaseCommand):
    help = "Create the demo users that do not exist yet (others are left as they are) and say how to sign in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--password", default=os.environ.get("DEMO_PASSWORD", "callsite-demo"))
        parser.add_argument(
            "--reset-passwords",
            action="store_true",
            help="set the password of existing demo users too (signs them out)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        User = get_user_model()
        password = options["password"]
        lines = []
        for name in [*DEMO_USERS, OPERATOR]:
            user = User.objects.filter(username=name).first()
            if user is None:
                extra = {"is_staff": True} if name == OPERATOR else {"first_name": name.title()}
                User.objects.create_user(username=name, password=password, **extra)
                lines.append(f"  {name}: made now, password: {password}")
            elif options["reset_passwords"]:
                user.set_password(password)
                user.save(update_fields=["password"])
                lines.append(f"  {name}: password set again: {password}")
            elif check_password(password, user.password):  # no setter: never rehashed here
                lines.append(f"  {name}: unchanged, password: {password}")
            else:
                lines.append(
                    f"  {name}: unchanged, a password of its own "
                    "(seed_demo_users --reset-passwords sets the demo one again)"
                )
        operator = User.objects.filter(username=OPERATOR).first()
        if operator is not None:
            wanted = Q()
            for app_label, codenames in OPERATOR_PERMISSIONS.items():
                wanted |= Q(content_type__app_label=app_label, codename__in=codenames)
            operator.user_permissions.add(*Permission.objects.filter(wanted))  # no effect on sessions
        self.stdout.write(
            "Demo users (sign in at /login/; the staff user operator also at /admin/):\n" + "\n".join(lines)
        )
