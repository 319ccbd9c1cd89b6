"""API bearer tokens (stored as SHA-256), and apps that bring their own users (PROTOCOL "Apps")."""

from django.conf import settings
from django.db import models

USER = settings.AUTH_USER_MODEL


class ApiToken(models.Model):
    """A bearer token for scripts; only its SHA-256 is stored."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked = models.BooleanField(default=False)
    # API_TOKEN_LIFETIME_SECONDS after it was made; null: never (a lifetime of 0)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("revoke_apitoken", "Can revoke API tokens")]

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user}"


class App(models.Model):
    """An app whose own server signs its users' tokens with a server secret: a tenant
    of its own (accounts/tenancy.py). The secret is shown to the operator once."""

    app_id = models.CharField("appID", max_length=64, primary_key=True)
    name = models.CharField(max_length=150)
    enabled = models.BooleanField(default=True)
    server_secret = models.CharField(max_length=128, editable=False)
    # After a rotation the previous secret is still accepted until then (tokens it signed live on).
    previous_server_secret = models.CharField(max_length=128, blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "app"
        ordering = ["name", "app_id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.app_id})"


class AppOrigin(models.Model):
    """A browser origin an app's pages run on (`scheme://host[:port]`, normalised): CORS
    under /api/ and the WebSocket's first-frame auth are open to it."""

    app = models.ForeignKey(App, on_delete=models.CASCADE, related_name="origins")
    origin = models.CharField(max_length=300)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "origin"], name="app_origin_once")]
        indexes = [models.Index(fields=["origin"], name="app_origin_lookup")]

    def __str__(self) -> str:
        return self.origin


# --- offline push and webhooks: the outboxes (docs/protocol.md, "Push and webhooks") -----------
# A message row is written in the transaction of the operation that causes it
# and delivered by RQ jobs after commit, at least once; a worker's sweep
# re-queues what a lost job or a killed worker left due.
