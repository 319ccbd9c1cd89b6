from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Call invitations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from invitations.calls.operation import register_record_handler
        from invitations.delivery import push, webhooks
        from invitations.media import rooms

        # The outbox rows of push, webhooks and media rooms are written in each operation's
        # transaction, in this order (a record's delivery jobs are enqueued in this order).
        register_record_handler(push.write_push_rows)
        register_record_handler(webhooks.write_webhook_rows)
        register_record_handler(rooms.write_media_rows)

        # The admin lives by concern (web/admin.py, delivery/admin.py), not in the
        # invitations.admin module Django's autodiscovery looks for.
        from invitations.delivery import admin as delivery_admin  # noqa: F401
        from invitations.web import admin as web_admin  # noqa: F401
