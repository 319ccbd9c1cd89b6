from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Call invitations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Push and webhooks register their record handlers (outbox rows written in the
        # operation's transaction) when imported, push first: a record's jobs are
        # enqueued in that order. The admin lives by concern (web/admin.py,
        # delivery/admin.py), not in the invitations.admin module Django's
        # autodiscovery looks for.
        from invitations.delivery import admin as delivery_admin  # noqa: F401
        from invitations.delivery import (
            push,  # noqa: F401
            webhooks,  # noqa: F401
        )
        from invitations.web import admin as web_admin  # noqa: F401
