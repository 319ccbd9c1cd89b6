"""Persistent state: calls, their members, the per-call event log, presence.

Fields and constraints only; every write goes through invitations/services/.
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from .states import CallMode, CallState, CallUserState

USER = settings.AUTH_USER_MODEL
PENDING_VALUES = [CallUserState.INVITING, CallUserState.RECEIVED, CallUserState.NOT_YET_RECEIVED]


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

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "user"], name="one_member_row_per_user")]
        indexes = [
            # the invitation list: a user's calls, newest first, keyset on call id
            models.Index(fields=["user", "-call"], name="member_calls_newest_first"),
            # the sweep and the expire job: pending invitees by deadline
            models.Index(fields=["deadline"], name="pending_by_deadline", condition=Q(state__in=PENDING_VALUES)),
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

    def __str__(self) -> str:
        return f"token {self.pk} of {self.user}"
