"""python manage.py vapid_key: make a VAPID key pair for the environment
(VAPID_PRIVATE_KEY), or show the public key the site uses now (--current)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from invitations.delivery import push, webpush


class Command(BaseCommand):
    help = "Print a new VAPID_PRIVATE_KEY (raw P-256, base64url) and its public key, or the current public key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--current", action="store_true", help="show the public key in use (may make it)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["current"]:
            self.stdout.write(push.vapid_public_key())
            return
        private = webpush.private_key_new()
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stdout.write(
            f"# public key (applicationServerKey): {webpush.public_key_b64(webpush.vapid_from_private(private))}"
        )
