"""One typed schema per command, shared by the HTTP API and WebSocket commands
(commands.py pairs each with its handler).

Fields are snake_case and their aliases PROTOCOL's camelCase: the wire (and
the OpenAPI document) speaks camelCase only, and `model_dump()` gives a
service's keyword arguments. Strict: wrong types are refused, not coerced,
and unknown fields are refused (a typo such as "invitee" must not silently
invite nobody).
"""

import json
from typing import Annotated, Any, Literal

from django.conf import settings
from ninja import Schema
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    create_model,
)


def _max_bytes(limit: int):
    def check(value: str) -> str:
        if len(value.encode("utf-8")) > limit:
            raise ValueError(f"at most {limit} bytes (UTF-8)")
        if "\x00" in value:  # PostgreSQL text cannot hold NUL: refuse, don't fail with a 500
            raise ValueError("NUL characters are not allowed")
        return value

    return AfterValidator(check)


ExtendedData = Annotated[str, _max_bytes(2048)]
PushText = Annotated[str, _max_bytes(1024)]
NO_NUL = r"^[^\x00]*$"
UserID = Annotated[str, StringConstraints(min_length=1, max_length=150, pattern=NO_NUL)]
CallID = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Timeout = Annotated[
    int,
    Field(
        ge=0,
        le=settings.CALL_MAX_TIMEOUT_SECONDS,
        description="seconds an invitee has to answer; 0: no deadline (Tencent's timeout 0)",
    ),
]
# A group's slug, or "" for a call without a group; an unknown one is group_not_found.
GroupID = Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)]
# No upper bound here: the service answers too_many_participants above 9
# (the body and frame size limits bound the input).
Invitees = Annotated[list[UserID], Field(min_length=1)]


MAX_ID = 2**63 - 1  # the largest id a database column holds


def camel(name: str) -> str:
    """extended_data -> extendedData, call_id -> callID (PROTOCOL's spelling)."""
    head, *rest = name.split("_")
    out = head + "".join(part.title() for part in rest)
    return out[:-2] + "ID" if out.endswith("Id") else out


class CamelSchema(Schema):
    model_config = ConfigDict(alias_generator=camel, populate_by_name=False)


class StrictSchema(CamelSchema):
    model_config = ConfigDict(strict=True, extra="forbid")


class PushConfig(StrictSchema):
    title: PushText = ""
    content: PushText = ""
    payload: PushText = ""


class CallInviteIn(StrictSchema):
    invitees: Invitees
    timeout: Timeout = settings.CALL_DEFAULT_TIMEOUT_SECONDS
    mode: Annotated[StrictInt, Field(ge=0, le=1, description="0 general, 1 advanced")] = 0
    extended_data: ExtendedData = ""
    enable_not_received_check: bool = False
    push_config: PushConfig | None = None
    group_id: GroupID = ""
    online_user_only: bool = False


class CallCancelIn(StrictSchema):
    invitees: Invitees | None = None
    extended_data: ExtendedData = ""
    push_config: PushConfig | None = None


class ExtendedDataIn(StrictSchema):
    extended_data: ExtendedData = ""


class ExtendedDataPushIn(ExtendedDataIn):
    push_config: PushConfig | None = None


class CallAcceptIn(ExtendedDataIn):
    pass


class CallRejectIn(StrictSchema):
    extended_data: ExtendedData = ""
    reason: Literal["declined", "busy"] = "declined"


class CallingInviteIn(StrictSchema):
    invitees: Invitees
    timeout: Timeout = settings.CALL_DEFAULT_TIMEOUT_SECONDS
    extended_data: ExtendedData = ""
    push_config: PushConfig | None = None
    online_user_only: bool = False


class CallJoinIn(ExtendedDataIn):
    pass


class CallQuitIn(ExtendedDataPushIn):
    pass


class CallEndIn(ExtendedDataPushIn):
    pass


class CallListQuery(CamelSchema):
    # Query strings are text, so numbers are parsed (not strict) here.
    count: int = Field(20, ge=1, description="1..100; a larger value is treated as 100")
    next_flag: int = Field(
        0, ge=0, le=MAX_ID, description="0 for the first page, else the nextFlag of the previous answer"
    )


class TokenIn(StrictSchema):
    username: Annotated[str, StringConstraints(min_length=1, max_length=150, pattern=NO_NUL)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=NO_NUL)]


class UsersQuery(CamelSchema):
    search: str = Field("", max_length=150, pattern=NO_NUL)
    count: int = Field(50, ge=1, le=200)


# WebSocket command payloads: the HTTP body plus the path's callID.
def _with_call_id(base: type[Schema]) -> type[Schema]:
    return create_model(base.__name__.removesuffix("In") + "Cmd", __base__=base, call_id=(CallID, ...))


class CallListCmd(StrictSchema):
    count: Annotated[int, Field(ge=1)] = 20
    next_flag: Annotated[int, Field(ge=0, le=MAX_ID)] = 0


class QueryCallCmd(StrictSchema):
    call_id: CallID


class QueryUsersCmd(StrictSchema):
    search: Annotated[str, StringConstraints(max_length=150, pattern=NO_NUL)] = ""
    count: Annotated[int, Field(ge=1, le=200)] = 50


class QueryGroupsCmd(StrictSchema):
    pass


class QueryGroupCallsCmd(StrictSchema):
    group_id: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


CallCancelCmd = _with_call_id(CallCancelIn)
CallAcceptCmd = _with_call_id(CallAcceptIn)
CallRejectCmd = _with_call_id(CallRejectIn)
CallingInviteCmd = _with_call_id(CallingInviteIn)
CallJoinCmd = _with_call_id(CallJoinIn)
CallQuitCmd = _with_call_id(CallQuitIn)
CallEndCmd = _with_call_id(CallEndIn)


# --- offline push (HTTP only: /api/push) ---------------------------------------------------------

PushEndpoint = Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=NO_NUL)]


class PushKeys(StrictSchema):
    p256dh: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=NO_NUL)]
    auth: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]


class PushSubscriptionIn(StrictSchema):
    """PushSubscription.toJSON() of the browser, plus the device it belongs to."""

    endpoint: PushEndpoint
    keys: PushKeys
    expiration_time: int | None = None  # part of toJSON(); the push service's, not used here
    device_id: Annotated[str, StringConstraints(max_length=128, pattern=NO_NUL)] = ""


class PushSubscriptionDeleteIn(StrictSchema):
    endpoint: PushEndpoint


# --- media signaling (PROTOCOL "Media signaling") ---------------------------------------------


def _payload_size(value: dict) -> dict:
    limit = settings.CALL_SIGNAL_MAX_PAYLOAD_BYTES
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")) > limit:
        raise ValueError(f"at most {limit} bytes once serialized")
    return value


class CallSignalCmd(StrictSchema):
    call_id: CallID
    to_user_id: UserID
    kind: Literal["offer", "answer", "candidate", "bye"]
    payload: Annotated[dict[str, Any], AfterValidator(_payload_size)]


class QueryIceServersCmd(StrictSchema):
    pass


class QueryMediaSessionCmd(StrictSchema):
    call_id: CallID
