"""Persistent state: calls, their members, the per-call event log, presence.

Fields and constraints only; every write goes through invitations/services/.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from invitations.calls.states import CallMode, CallState, CallUserState

USER = settings.AUTH_USER_MODEL
PENDING_VALUES = [CallUserState.INVITING, CallUserState.RECEIVED, CallUserState.NOT_YET_RECEIVED]


# --- groups (PROTOCOL additions: "Groups") ---------------------------------------------------


class Group(models.Model):
    """Tencent's group: a set of users that can be called, and whose calls its members may join."""

    group_id = models.SlugField("groupID", max_length=64, unique=True)
    name = models.CharField(max_length=150)
    members = models.ManyToManyField(USER, related_name="call_groups", blank=True)

    class Meta:
        verbose_name = "call group"  # auth's Group is "group" in the same admin
        ordering = ["group_id"]

    def __str__(self) -> str:
        return self.group_id


class Call(models.Model):
    # Public, unguessable id; the integer pk orders calls for keyset paging.
    call_id = models.CharField("callID", max_length=32, unique=True)
    caller = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="calls_placed")
    mode = models.SmallIntegerField(choices=[(m.value, m.name.title()) for m in CallMode])
    state = models.SmallIntegerField(
        choices=[(s.value, s.name.title()) for s in CallState], default=CallState.STARTED
    )
    extended_data = models.TextField(blank=True, default="")
    push_config = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Last seq handed out; every operation that changes the call takes the next one.
    seq = models.PositiveIntegerField(default=0)
    # True when the caller had a device connected when calling: only then does
    # the caller-offline rule apply.
    watch_caller_presence = models.BooleanField(default=False)
    # The group it was placed in (callInvite's groupID): its members may join it.
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")

    class Meta:
        permissions = [("end_call", "Can end calls as an operator")]
        indexes = [models.Index(fields=["state", "created_at"])]

    def __str__(self) -> str:
        return self.call_id


class CallUser(models.Model):
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="call_memberships")
    state = models.SmallIntegerField(choices=[(s.value, s.name.title()) for s in CallUserState])
    # Last reason a state was entered with (declined, busy, caller_cancel, ...).
    reason = models.CharField(max_length=32, blank=True, default="")
    extended_data = models.TextField(blank=True, default="")
    # what callInvitationReceived carries, also for a device that connects later
    invitation_extended_data = models.TextField(blank=True, default="")
    # ... and its pushConfig: the inviter's (callingInvite), not necessarily the call's
    invitation_push_config = models.JSONField(null=True, blank=True)
    inviter = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    device_id = models.CharField(max_length=128, blank=True, default="")
    invited_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    not_received_check = models.BooleanField(default=False)
    accepted_at = models.DateTimeField(null=True, blank=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    quit_at = models.DateTimeField(null=True, blank=True)
    # False once the call has ended (all its members at once): "already in a call" reads
    # the user's Accepted rows in running calls through a partial index, at a cost that
    # does not grow with the user's history of calls.
    call_running = models.BooleanField(default=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "user"], name="one_member_row_per_user")]
        indexes = [
            # the invitation list: a user's calls, newest first, keyset on call id
            models.Index(fields=["user", "-call"], name="member_calls_newest_first"),
            # the sweep and the expire job: pending invitees by deadline
            models.Index(fields=["deadline"], name="pending_by_deadline", condition=Q(state__in=PENDING_VALUES)),
            # already in a call: a user's Accepted rows in calls not yet ended
            models.Index(fields=["user"], name="accepted_in_running_call",
                         condition=Q(state=CallUserState.ACCEPTED.value, call_running=True)),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.call}"


class CallEvent(models.Model):
    """One row per member state change (and one for the end of the call)."""

    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, default="state")  # "state" or "call_ended"
    user = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    device_id = models.CharField(max_length=128, blank=True, default="")
    from_state = models.SmallIntegerField(null=True, blank=True)
    to_state = models.SmallIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=32, blank=True, default="")
    extended_data = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["seq", "pk"]
        indexes = [models.Index(fields=["call", "seq"])]

    def __str__(self) -> str:
        return f"{self.call} #{self.seq} {self.kind}"


class ServerProcess(models.Model):
    """A running web (Daphne) process; its heartbeat proves its connections live."""

    server_id = models.CharField(max_length=64, primary_key=True)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        verbose_name_plural = "server processes"

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}"


class Connection(models.Model):
    """One open WebSocket: the presence of one device."""

    channel_name = models.CharField(max_length=255, unique=True)
    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="connections")
    device_id = models.CharField(max_length=128)
    server = models.ForeignKey(ServerProcess, on_delete=models.CASCADE, related_name="connections")
    connected_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["user"])]

    def __str__(self) -> str:
        return f"{self.user}/{self.device_id}"


class DeviceAway(models.Model):
    """A call device with no socket since `since`: an Accepted member whose call
    device this is becomes Quit (offline) once it has been away for
    CALL_HEARTBEAT_TIMEOUT_SECONDS (services/deadlines.py). Made when the device's
    last socket closes, removed when it connects again."""

    user = models.ForeignKey(USER, on_delete=models.CASCADE, related_name="+")
    device_id = models.CharField(max_length=128)
    since = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "device_id"], name="one_away_row_per_device")]

    def __str__(self) -> str:
        return f"{self.user}/{self.device_id} away since {self.since}"


class UserPresence(models.Model):
    """When the user's last device went away (for the caller-offline rule)."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, primary_key=True, related_name="presence")
    last_offline_at = models.DateTimeField(null=True, blank=True)


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
