"""Calls, their members and the per-call event log. Fields and constraints only:
every write goes through invitations/calls/ (the actions)."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from invitations.calls.states import CallMode, CallState, CallUserState
from invitations.models.groups import Group

USER = settings.AUTH_USER_MODEL


PENDING_VALUES = [CallUserState.INVITING, CallUserState.RECEIVED, CallUserState.NOT_YET_RECEIVED]


class Call(models.Model):
    # Public, unguessable id; the integer pk orders calls for keyset paging.
    call_id = models.CharField("callID", max_length=32, unique=True)
    caller = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="calls_placed")
    mode = models.SmallIntegerField(choices=[(m.value, m.name.title()) for m in CallMode])
    state = models.SmallIntegerField(choices=[(s.value, s.name.title()) for s in CallState], default=CallState.STARTED)
    extended_data = models.TextField(blank=True, default="")
    push_config = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Last seq handed out; every operation that changes the call takes the next one.
    seq = models.PositiveIntegerField(default=0)
    # True when the caller had a device connected when calling: only then does
    # the caller-offline rule apply.
    watch_caller_presence = models.BooleanField(default=False)
    # The group it was placed in (callInvite's groupID): its members may join it.
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls")
    # Not a column: the members in pk order, as a list, where a selector read them with
    # the call (selectors.with_members and the call pages); payloads.call_info reads it.
    loaded_members: list["CallUser"]

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
            models.Index(
                fields=["user"],
                name="accepted_in_running_call",
                condition=Q(state=CallUserState.ACCEPTED.value, call_running=True),
            ),
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
