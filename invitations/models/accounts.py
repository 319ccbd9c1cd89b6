"""API bearer tokens (stored as SHA-256)."""

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


# --- offline push and webhooks: the outboxes (docs/protocol.md, "Push and webhooks") -----------
# A message row is written in the transaction of the operation that causes it
# and delivered by RQ jobs after commit, at least once; a worker's sweep
# re-queues what a lost job or a killed worker left due.
