"""The outbox: Web Push subscriptions and messages, webhook endpoints, messages and attempts."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from invitations.models.calls import CallUser

USER = settings.AUTH_USER_MODEL


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed (gave up)"
    DROPPED = "dropped", "Dropped (no longer needed)"


class OutboxRow(models.Model):
    """Delivery state shared by both outboxes (services/outbox.py drives it)."""

    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # Set while an attempt is in flight: nobody else sends the row until it passes
    # (a worker killed mid-request leaves it set; after it the sweep re-queues the row).
    lease_until = models.DateTimeField(null=True, blank=True)
    # When a delivery job was last queued for the row (None: none since its last attempt);
    # the sweep queues one for a due row whose job is not in the queue or was lost.
    queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_status = models.IntegerField(null=True, blank=True)  # the last HTTP status answered (None: no answer)

    class Meta:
        abstract = True


class VapidKey(models.Model):
    """The site's VAPID key when VAPID_PRIVATE_KEY is unset: made once, shared by every process."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    private_key = models.CharField(max_length=64)  # raw 32-byte P-256 scalar, base64url
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"VAPID key of {self.created_at:%Y-%m-%d}"


class PushSubscription(models.Model):
    """A browser's Web Push subscription (PushSubscription.toJSON()), per user and device."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="push_subscriptions")
    device_id = models.CharField(max_length=128, blank=True, default="")
    endpoint = models.CharField(max_length=1024, unique=True)
    p256dh = models.CharField(max_length=128)
    auth = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    last_success_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "device_id"], name="push_by_user_device")]

    def __str__(self) -> str:
        return f"{self.user} on {self.device_id or 'a device'}"


class PushMessage(OutboxRow):
    """Outbox row: one Web Push to one subscription about one invitation."""

    INVITATION = "invitation"
    CLOSED = "closed"

    subscription = models.ForeignKey(PushSubscription, on_delete=models.CASCADE, related_name="messages")
    member = models.ForeignKey(CallUser, on_delete=models.CASCADE, related_name="push_messages")
    kind = models.CharField(max_length=16, choices=[(INVITATION, "Invitation"), (CLOSED, "Closing")])
    payload = models.TextField()  # the JSON the browser decrypts

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="push_due", condition=Q(status="pending")),
            models.Index(fields=["member", "kind"], name="push_by_member"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} push {self.pk}"


class WebhookEndpoint(models.Model):
    """Where signed call events go (Standard Webhooks). The secret is shown once."""

    url = models.URLField(max_length=2000)
    # The tenant whose calls it receives (accounts/tenancy.py): an app's, or the site's own (null).
    app = models.ForeignKey(
        "invitations.App", on_delete=models.CASCADE, null=True, blank=True, related_name="webhook_endpoints"
    )
    description = models.CharField(max_length=200, blank=True, default="")
    # Types it wants (call.created, call.user_state_changed, call.ended); empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    secret = models.CharField(max_length=128, editable=False)
    # After a rotation the old secret signs too, until it expires.
    previous_secret = models.CharField(max_length=128, blank=True, default="", editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.url


class WebhookMessage(OutboxRow):
    """Outbox row: one event for one endpoint; its body and webhook-id never change across retries."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="messages")
    msg_id = models.CharField("webhook-id", max_length=64, unique=True)
    event_type = models.CharField(max_length=64)
    call_id = models.CharField("callID", max_length=32)  # one call's messages go out in seq order
    seq = models.PositiveIntegerField()
    body = models.TextField()

    class Meta:
        indexes = [
            models.Index(fields=["next_attempt_at"], name="webhook_due", condition=Q(status="pending")),
            models.Index(fields=["endpoint", "call_id", "id"], name="webhook_per_call"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.msg_id}"


class WebhookAttempt(models.Model):
    """One delivery attempt of a webhook message, kept for the admin."""

    message = models.ForeignKey(WebhookMessage, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.IntegerField(null=True, blank=True)  # None: no answer
    error = models.CharField(max_length=500, blank=True, default="")
    response_excerpt = models.TextField(blank=True, default="")
    succeeded = models.BooleanField(default=False)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"attempt {self.number} of {self.message}"
