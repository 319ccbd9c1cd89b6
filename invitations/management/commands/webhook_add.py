"""python manage.py webhook_add URL [--events TYPE ...] [--app APPID]: register a webhook endpoint
(with --app it receives that app's calls only; without, the site's own accounts' calls).

Prints the endpoint's secret (`whsec_<base64>`) alone on the last line: it is
shown this once (the admin can rotate it, not show it)."""

from django.core.management.base import BaseCommand, CommandError

from invitations.calls.errors import CallError
from invitations.delivery import webhooks
from invitations.delivery.webhooks import EVENT_TYPES


class Command(BaseCommand):
    help = "Register a webhook endpoint for call events and print its signing secret (last line)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "url",
            help="http(s) URL that receives the POSTs (a host on an internal address only if "
            "CALL_WEBHOOK_PRIVATE_HOSTS lists it)",
        )
        parser.add_argument(
            "--events",
            nargs="+",
            default=[],
            metavar="TYPE",
            choices=EVENT_TYPES,
            help=f"event types to send (default: all): {', '.join(EVENT_TYPES)}",
        )
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--app", metavar="APPID", help="receive this app's calls only (default: the site's own accounts' calls)"
        )

    def handle(self, *args, **options) -> None:
        try:
            endpoint, secret = webhooks.webhook_endpoint_create(
                url=options["url"],
                event_types=options["events"],
                description=options["description"],
                app_id=options["app"],
            )
        except CallError as exc:
            raise CommandError(exc.message) from exc
        types = ", ".join(endpoint.event_types) or "all event types"
        whose = f"app {endpoint.app_id}'s calls" if endpoint.app_id else "the site's own calls"
        self.stdout.write(f"Webhook endpoint {endpoint.pk}: {endpoint.url} ({types}; {whose})")
        self.stdout.write("Signing secret (shown once; verify deliveries with it):")
        self.stdout.write(secret)
