"""/api/calls: PROTOCOL's call commands over HTTP. Each endpoint runs its
command from the shared table (commands.py) from device ""."""

from typing import Any

from ninja import Query, Router

from invitations.accounts.requests import ApiRequest
from invitations.web import schemas
from invitations.web.commands import COMMANDS

router = Router(tags=["calls"])


@router.post("", summary="callInvite")
def call_invite(request: ApiRequest, body: schemas.CallInviteIn) -> Any:
    return COMMANDS["callInvite"].run(user=request.auth, device_id="", body=body)


@router.get("", summary="queryCallInvitationList")
def call_invitation_list(request: ApiRequest, query: Query[schemas.CallListQuery]) -> Any:
    return COMMANDS["queryCallInvitationList"].run(user=request.auth, device_id="", body=query)


@router.get("/{call_id}", summary="call info")
def call_info(request: ApiRequest, call_id: str) -> Any:
    return COMMANDS["queryCall"].handler(user=request.auth, device_id="", call_id=call_id)


def _call_command(path: str, name: str, body_schema: type[schemas.Schema], function_name: str) -> None:
    """POST /{call_id}/<path>: the command `name` with the call from the path."""

    def endpoint(request: ApiRequest, call_id: str, body: body_schema) -> Any:  # type: ignore[valid-type]
        return COMMANDS[name].run(user=request.auth, device_id="", body=body, call_id=call_id)

    endpoint.__name__ = function_name  # names its OpenAPI operation
    router.post(f"/{{call_id}}/{path}", summary=name)(endpoint)


_call_command("cancel", "callCancel", schemas.CallCancelIn, "call_cancel")
_call_command("accept", "callAccept", schemas.CallAcceptIn, "call_accept")
_call_command("reject", "callReject", schemas.CallRejectIn, "call_reject")
_call_command("invite", "callingInvite", schemas.CallingInviteIn, "calling_invite")
_call_command("join", "callJoin", schemas.CallJoinIn, "call_join")
_call_command("quit", "callQuit", schemas.CallQuitIn, "call_quit")
_call_command("end", "callEnd", schemas.CallEndIn, "call_end")
