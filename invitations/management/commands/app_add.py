"""python manage.py app_add NAME --origin https://app.example [--origin ...]: register an app.

Prints `appID=<id>` and `serverSecret=<secret>` on its last two lines (PROTOCOL
"Apps"): the secret is shown this once (the admin can rotate it, not show it)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from invitations.accounts import app_actions


class Command(BaseCommand):
    help = "Register an app that brings its own users; prints appID and serverSecret on the last two lines."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("name", metavar="NAME", help="the app's name, for operators")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            metavar="ORIGIN",
            help="a browser origin its pages run on (scheme://host[:port]); repeat for more",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            app, secret = app_actions.app_create(name=options["name"], origins=options["origin"])
        except app_actions.AppInputError as exc:
            raise CommandError(str(exc)) from None
        origins = ", ".join(app.origins.order_by("origin").values_list("origin", flat=True)) or "none"
        self.stdout.write(f"App {app.name}: origins {origins}")
        self.stdout.write("Its server signs user tokens with the secret below (shown once):")
        self.stdout.write(f"appID={app.app_id}")
        self.stdout.write(f"serverSecret={secret}")
