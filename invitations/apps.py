from django.apps import AppConfig


class InvitationsConfig(AppConfig):
    name = "invitations"
    verbose_name = "Call invitations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from invitations.calls.operation import register_record_handler
        from invitations.delivery import push, webhooks

        # The outbox rows of push and webhooks are written in each operation's
        # transaction, push first (a record's delivery jobs are enqueued in this order).
        register_record_handler(push.write_push_rows)
        register_record_handler(webhooks.write_webhook_rows)

        # CORS for apps' origins: a signal handler of django-cors-headers, connected on import.
        # The admin lives by concern (web/, delivery/, accounts/ admin.py), not in the
        # invitations.admin module Django's autodiscovery looks for.
        from invitations.accounts import admin as accounts_admin  # noqa: F401
        from invitations.accounts import cors  # noqa: F401
        from invitations.delivery import admin as delivery_admin  # noqa: F401
        from invitations.web import admin as web_admin  # noqa: F401
