"""Every payload of PROTOCOL, typed and built in exactly one place.

Services, selectors, the command table, the consumer and the admin build
what they send here, so a frame sent live and the same frame sent again
later (a device that connects late) cannot drift apart. The TypedDicts are
the schema: `check_event_frame` validates a frame against them (the tests
check every frame an operation sends).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal, NotRequired

from django.contrib.auth.models import User
from pydantic import ConfigDict, TypeAdapter, with_config
from typing_extensions import TypedDict

from invitations.accounts.tenancy import user_id_of, user_names
from invitations.media.payloads import MediaChanged, SignalKind, SignalReceived
from invitations.models import Call, CallUser

_STRICT = ConfigDict(extra="forbid", strict=True)


def ms(at: datetime | None) -> int:
    """PROTOCOL's times: milliseconds since the epoch, 0 for "not yet"."""
    return int(at.timestamp() * 1000) if at else 0


# --- pieces -------------------------------------------------------------------------------------


@with_config(_STRICT)
class Member(TypedDict):
    userID: str
    state: int
    extendedData: str
    reason: NotRequired[str]


@with_config(_STRICT)
class PushConfig(TypedDict, total=False):
    title: str
    content: str
    payload: str


@with_config(_STRICT)
class ErrorInvitee(TypedDict):
    userID: str
    reason: str


@with_config(_STRICT)
class CallInfo(TypedDict):
    callID: str
    caller: str
    inviter: str
    mode: int
    state: int
    extendedData: str
    createTime: int
    endTime: int
    seq: int
    callUserList: list[Member]
    groupID: str  # callInvite's groupID, "" for a call without one
    connectTime: int  # an addition: when the first invitee accepted or joined, 0 if none did
    userNames: dict[str, str]


def group_id_of(call: Call) -> str:
    """The call's groupID, "" for a call without a group (fetch calls with select_related("group"))."""
    return call.group.group_id if call.group is not None else ""


def member(row: CallUser, *, with_reason: bool = False) -> Member:
    info = Member(userID=user_id_of(row.user), state=row.state, extendedData=row.extended_data)
    if with_reason and row.reason:
        info["reason"] = row.reason
    return info


def names_in_call(call: Call, members: Iterable[CallUser]) -> dict[str, str]:
    """PROTOCOL's `userNames`: the caller, every member and every member's inviter, by userID
    (users loaded with their names: reads.py and selectors.py load them so)."""
    return user_names([call.caller, *(u for m in members for u in (m.user, m.inviter))])


def call_info(call: Call, viewer: Any = None) -> CallInfo:
    """CallInfo of a call fetched with its members (`loaded_members`: selectors.with_members,
    call_page); `inviter` is who invited the viewer (else the caller)."""
    members = call.loaded_members
    mine = next((m for m in members if viewer is not None and m.user_id == viewer.pk), None)
    inviter = mine.inviter if mine is not None and mine.inviter is not None else call.caller
    return CallInfo(
        callID=call.call_id,
        caller=user_id_of(call.caller),
        inviter=user_id_of(inviter),
        mode=call.mode,
        state=call.state,
        extendedData=call.extended_data,
        createTime=ms(call.created_at),
        endTime=ms(call.ended_at),
        seq=call.seq,
        callUserList=[member(m, with_reason=True) for m in members],
        groupID=group_id_of(call),
        connectTime=ms(
            min((m.accepted_at for m in members if m.user_id != call.caller_id and m.accepted_at), default=None)
        ),
        userNames=names_in_call(call, members),
    )


# --- events -------------------------------------------------------------------------------------


@with_config(_STRICT)
class InvitationCreated(TypedDict):
    callID: str
    mode: int
    caller: str
    extendedData: str
    timeout: int
    createTime: int
    callUserList: list[Member]
    userNames: dict[str, str]


@with_config(_STRICT)
class InvitationReceived(TypedDict):
    callID: str
    mode: int
    caller: str
    inviter: str
    timeout: int
    deadline: int
    createTime: int
    extendedData: str
    callUserList: list[Member]
    groupID: str
    userNames: dict[str, str]
    pushConfig: NotRequired[PushConfig]
    silent: NotRequired[bool]  # do not disturb: true, else absent


@with_config(_STRICT)
class InvitationCancelled(TypedDict):
    callID: str
    inviter: str
    mode: int
    extendedData: str
    pushConfig: NotRequired[PushConfig]


@with_config(_STRICT)
class InvitationTimeout(TypedDict):
    callID: str
    mode: int


@with_config(_STRICT)
class InvitationEnded(TypedDict):
    callID: str
    caller: str
    operatedUserID: str
    extendedData: str
    mode: int
    endTime: int
    pushConfig: NotRequired[PushConfig]


@with_config(_STRICT)
class UserStateChanged(TypedDict):
    callID: str
    callUserList: list[Member]
    pushConfig: NotRequired[PushConfig]


@with_config(_STRICT)
class PresenceChanged(TypedDict):
    userID: str
    online: bool


@with_config(_STRICT)
class EventFrame(TypedDict):
    type: Literal["event"]
    event: str
    seq: int
    data: dict[str, Any]


def event_frame(name: str, seq: int, data: Any) -> EventFrame:
    return EventFrame(type="event", event=name, seq=seq, data=data)


def _with_push(data: Any, push_config: dict | None) -> Any:
    if push_config:
        data["pushConfig"] = push_config
    return data


def invitation_created(call: Call, members: Iterable[CallUser], *, timeout: int) -> InvitationCreated:
    members = list(members)
    return InvitationCreated(
        callID=call.call_id,
        mode=call.mode,
        caller=user_id_of(call.caller),
        extendedData=call.extended_data,
        timeout=timeout,
        createTime=ms(call.created_at),
        callUserList=[member(m) for m in members],
        userNames=names_in_call(call, members),
    )


def invitation_received(
    call: Call, invitee: CallUser, members: Iterable[CallUser], *, silent: bool = False
) -> InvitationReceived:
    """What an invitee's devices get: live when invited, and again on connect while it waits.

    Built only from the call, the invitee's row and whether the invitee is in
    do-not-disturb when it is sent, so both are the same frame.
    """
    members = list(members)
    # timeout 0: no deadline, and deadline 0 (PROTOCOL additions)
    ring = invitee.deadline - invitee.invited_at if invitee.deadline and invitee.invited_at else None
    data = InvitationReceived(
        callID=call.call_id,
        mode=call.mode,
        caller=user_id_of(call.caller),
        inviter=user_id_of(invitee.inviter or call.caller),
        timeout=round(ring.total_seconds()) if ring is not None else 0,
        # an addition to PROTOCOL: a late arrival rings only as long as it may answer
        deadline=ms(invitee.deadline),
        createTime=ms(call.created_at),
        extendedData=invitee.invitation_extended_data,
        callUserList=[member(m) for m in members],
        groupID=group_id_of(call),
        userNames=names_in_call(call, members),
    )
    if silent:
        data["silent"] = True
    return _with_push(data, invitee.invitation_push_config)


def invitation_cancelled(call: Call, *, extended_data: str, push_config: dict | None) -> InvitationCancelled:
    data = InvitationCancelled(
        callID=call.call_id, inviter=user_id_of(call.caller), mode=call.mode, extendedData=extended_data
    )
    return _with_push(data, push_config)


def invitation_timeout(call: Call) -> InvitationTimeout:
    return InvitationTimeout(callID=call.call_id, mode=call.mode)


def invitation_ended(call: Call, *, operated_by: str, extended_data: str, push_config: dict | None) -> InvitationEnded:
    data = InvitationEnded(
        callID=call.call_id,
        caller=user_id_of(call.caller),
        operatedUserID=operated_by,
        extendedData=extended_data,
        mode=call.mode,
        endTime=ms(call.ended_at),
    )
    return _with_push(data, push_config)


def user_state_changed(call: Call, changed: Iterable[CallUser], *, push_config: dict | None) -> UserStateChanged:
    data = UserStateChanged(callID=call.call_id, callUserList=[member(m, with_reason=True) for m in changed])
    return _with_push(data, push_config)


def presence_changed(user: Any, online: bool) -> EventFrame:
    # not about a call: seq 0
    return event_frame("userPresenceChanged", 0, PresenceChanged(userID=user_id_of(user), online=online))


# --- media signaling (PROTOCOL "Media signaling") ------------------------------------------------


def signal_received(
    *, call_id: str, from_user: User, from_device: str, kind: SignalKind, payload: dict[str, Any]
) -> EventFrame:
    # not a change of call state: seq 0
    return event_frame(
        "callSignalReceived",
        0,
        SignalReceived(
            callID=call_id, fromUserID=user_id_of(from_user), fromDeviceID=from_device, kind=kind, payload=payload
        ),
    )


EVENT_DATA: dict[str, type] = {
    "callInvitationCreated": InvitationCreated,
    "callInvitationReceived": InvitationReceived,
    "callInvitationCancelled": InvitationCancelled,
    "callInvitationTimeout": InvitationTimeout,
    "callInvitationEnded": InvitationEnded,
    "callUserStateChanged": UserStateChanged,
    "userPresenceChanged": PresenceChanged,
    "callSignalReceived": SignalReceived,
    "callMediaChanged": MediaChanged,  # PROTOCOL "Media sessions"
}
_ADAPTERS: dict[type, TypeAdapter] = {}


def check_event_frame(frame: Any) -> None:
    """Raise (pydantic.ValidationError, KeyError) unless `frame` is an event frame of PROTOCOL's."""
    envelope = _adapter(EventFrame).validate_python(frame)
    _adapter(EVENT_DATA[envelope["event"]]).validate_python(envelope["data"])


def _adapter(kind: type) -> TypeAdapter:
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = TypeAdapter(kind)
    return _ADAPTERS[kind]


# --- socket frames and command answers -----------------------------------------------------------


@with_config(_STRICT)
class Hello(TypedDict):
    type: Literal["hello"]
    userID: str
    deviceID: str
    serverTime: int


def hello(user: Any, device_id: str, server_time_ms: int) -> Hello:
    return Hello(type="hello", userID=user_id_of(user), deviceID=device_id, serverTime=server_time_ms)


class InviteAnswer(TypedDict):
    callID: str
    timeout: int
    errorInvitees: list[ErrorInvitee]
    createTime: NotRequired[int]  # callInvite only
    merged: NotRequired[bool]  # callInvite's glare: the answer is an accept of the invitee's call


class CancelAnswer(TypedDict):
    callID: str
    errorInvitees: list[ErrorInvitee]


class CallIDAnswer(TypedDict):
    callID: str


class JoinAnswer(TypedDict):
    callID: str
    createTime: int
    joinTime: int
    callUserList: list[Member]


class QuitAnswer(TypedDict):
    callID: str
    createTime: int
    acceptTime: int
    quitTime: int


class EndAnswer(TypedDict):
    callID: str
    createTime: int
    acceptTime: int
    endTime: int


class OperatorEndAnswer(TypedDict):
    callID: str
    endTime: int


class CallList(TypedDict):
    callList: list[CallInfo]
    nextFlag: int


def call_list(calls: Iterable[Call], next_flag: int, viewer: Any) -> CallList:
    return CallList(callList=[call_info(c, viewer) for c in calls], nextFlag=next_flag)
