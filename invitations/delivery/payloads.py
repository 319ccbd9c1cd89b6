"""The payloads that leave the site: Web Push messages (a notification's data, cut to
fit one record) and webhook events and bodies, built in exactly one place."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ConfigDict
from typing_extensions import TypedDict

from invitations.accounts.tenancy import tenant_of, user_id_of
from invitations.calls.payloads import (
    InvitationReceived,
    group_id_of,
    invitation_received,
    member,
    ms,
)
from invitations.models import Call, CallUser

# --- offline push and webhooks (docs/protocol.md, "Push and webhooks") --------------------------

# What a push may carry: 4096 bytes per aes128gcm record, less its header, tag and padding delimiter.
PUSH_MAX_BYTES = 3800
ELLIPSIS = "\u2026"  # marks a notification title or body shortened to fit

_STRICT = ConfigDict(extra="forbid", strict=True)


def _call_kind(extended_data: str) -> str:
    """voice or video, from the call's extendedData ({"type": "video"}), as the page reads it."""
    try:
        data = json.loads(extended_data or "{}")
    except ValueError:
        return "voice"
    return "video" if isinstance(data, dict) and data.get("type") == "video" else "voice"


class PushInvitation(TypedDict):
    event: Literal["callInvitationReceived"]
    data: InvitationReceived
    title: str
    body: str


class PushClosedData(TypedDict):
    callID: str
    state: int
    reason: str


class PushClosed(TypedDict):
    event: Literal["callInvitationClosed"]
    data: PushClosedData


def push_invitation(call: Call, invitee: CallUser, members: Iterable[CallUser]) -> PushInvitation:
    """The decrypted body of the invitation push: the live event's data, and what the notification says."""
    data = invitation_received(call, invitee, members)
    config = invitee.invitation_push_config or {}
    inviter = data["userNames"].get(data["inviter"], data["inviter"])
    return PushInvitation(
        event="callInvitationReceived",
        data=data,
        title=config.get("title") or f"{inviter} is calling",
        body=config.get("content") or f"Incoming {_call_kind(data['extendedData'])} call",
    )


def push_invitation_closed(call: Call, state: int, reason: str) -> PushClosed:
    return PushClosed(
        event="callInvitationClosed", data=PushClosedData(callID=call.call_id, state=state, reason=reason)
    )


def push_body(message: PushInvitation | PushClosed) -> str:
    """JSON that fits one push: a long invitation drops callUserList, then userNames, then
    pushConfig, then extendedData (the page reads the whole invitation from the WebSocket once
    opened), then shortens the notification's title and body. UTF-8 as is (an escaped CJK character
    would cost 6 bytes instead of 3)."""

    def dumps(value: dict) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    text = dumps(message)
    data = dict(message["data"])
    for field in ("callUserList", "userNames", "pushConfig", "extendedData"):
        if len(text.encode()) <= PUSH_MAX_BYTES:
            return text
        data.pop(field, None)
        message = {**message, "data": {**data, "truncated": True}}
        text = dumps(message)
    for field in sorted(("title", "body"), key=lambda k: -len(str(message.get(k, "")).encode())):  # longer first
        if len(text.encode()) <= PUSH_MAX_BYTES or field not in message:
            continue
        value = message[field]

        def fits(kept: int) -> bool:  # used at once, in this iteration
            return len(dumps({**message, field: value[:kept] + ELLIPSIS}).encode()) <= PUSH_MAX_BYTES  # noqa: B023

        if not fits(0):
            message = {**message, field: ""}
        else:  # the longest prefix that fits: JSON may spend 1 to 6 bytes on a character
            low, high = 0, len(value) - 1
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if fits(middle) else (low, middle - 1)
            message = {**message, field: value[:low] + ELLIPSIS}
        text = dumps(message)
    return text


class PushKeyAnswer(TypedDict):
    publicKey: str


class PushSubscriptionAnswer(TypedDict):
    endpoint: str
    deviceID: str


class PushRemovedAnswer(TypedDict):
    removed: bool


def push_key_answer(public_key: str) -> PushKeyAnswer:
    return PushKeyAnswer(publicKey=public_key)


def push_subscription_answer(endpoint: str, device_id: str) -> PushSubscriptionAnswer:
    return PushSubscriptionAnswer(endpoint=endpoint, deviceID=device_id)


def push_removed_answer(removed: bool) -> PushRemovedAnswer:
    return PushRemovedAnswer(removed=removed)


def webhook_tenant(record: Any) -> str | None:
    """Whose endpoints get the operation's events: the call's tenant (its caller's appID, or
    None for the site's own accounts)."""
    return tenant_of(record.call.caller)


def webhook_events(record: Any) -> list[tuple[str, dict[str, Any]]]:
    """The webhook events of one operation (an OperationRecord), in order: created, state changes, ended."""
    call = record.call
    events: list[tuple[str, dict[str, Any]]] = []
    if record.created:
        events.append(
            (
                "call.created",
                {
                    "callID": call.call_id,
                    "seq": record.seq,
                    "caller": user_id_of(call.caller),
                    "mode": call.mode,
                    "groupID": group_id_of(call),
                    "createTime": ms(call.created_at),
                },
            )
        )
    if record.changes:
        events.append(
            (
                "call.user_state_changed",
                {
                    "callID": call.call_id,
                    "seq": record.seq,
                    "callUserList": [member(c.member, with_reason=True) for c in record.changes],
                },
            )
        )
    if record.ended:
        events.append(
            (
                "call.ended",
                {
                    "callID": call.call_id,
                    "seq": record.seq,
                    "operatedUserID": record.operated_by or "",
                    "endTime": ms(call.ended_at),
                },
            )
        )
    return events


def webhook_body(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The exact bytes POSTed (and signed), the same on every retry."""
    timestamp = at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"))
