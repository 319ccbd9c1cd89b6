"""Helpers of the service tests: a refusal changes nothing, users online, rows by name."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.calls import actions
from invitations.calls.errors import CallError
from invitations.models import Call, CallEvent, CallUser
from invitations.realtime import presence

SERVER = "test-server"


def snapshot() -> tuple:
    return (
        list(Call.objects.order_by("pk").values()),
        list(CallUser.objects.order_by("pk").values()),
        list(CallEvent.objects.order_by("pk").values()),
    )


@contextmanager
def refused(reason: str):
    """The operation inside is refused with `reason` and changes nothing."""
    before = snapshot()
    with pytest.raises(CallError) as exc:
        yield exc
    assert exc.value.reason == reason, exc.value
    assert snapshot() == before


def online(user, device: str = "d1") -> str:
    presence.server_process_heartbeat(server_id=SERVER, host="test", pid=1)
    channel = f"test.{user.username}.{device}"
    presence.connection_open(user=user, device_id=device, channel_name=channel, server_id=SERVER)
    return channel


def member(call_id: str, user) -> CallUser:
    return CallUser.objects.get(call__call_id=call_id, user=user)


def state(call_id: str, user) -> int:
    return member(call_id, user).state


def call_of(call_id: str) -> Call:
    return Call.objects.get(call_id=call_id)


def invite(user, *invitees, **kw) -> str:
    result = actions.call_invite(user=user, invitees=[u if isinstance(u, str) else u.username for u in invitees], **kw)
    return result["callID"]


def log(call_id: str) -> list[tuple]:
    return [
        (
            e.seq,
            e.kind,
            e.user.username if e.user else None,
            e.from_state,
            e.to_state,
            e.reason,
            e.actor.username if e.actor else None,
        )
        for e in CallEvent.objects.filter(call__call_id=call_id).select_related("user", "actor").order_by("pk")
    ]


def backdate_deadline(call_id: str, user, seconds: float = 1) -> None:
    CallUser.objects.filter(call__call_id=call_id, user=user).update(
        deadline=timezone.now() - timedelta(seconds=seconds)
    )


def clock_forward(time_machine, seconds: float) -> None:
    """The clock `seconds` on, and ticking from there (time-machine's fixture puts it back
    after the test): a deadline the site compares with timezone.now() passes without
    waiting for it. Every deadline here is decided by the Python clock, none by SQL's now()."""
    time_machine.move_to(timezone.now() + timedelta(seconds=seconds))
