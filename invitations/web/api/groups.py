"""/api/groups (PROTOCOL additions, "Groups"): the user's groups and a group's running calls,
through the shared command table, from device ""."""

from ninja import Router

from invitations.accounts.requests import ApiRequest
from invitations.calls import group_payloads
from invitations.web.commands import COMMANDS

router = Router(tags=["groups"])


@router.get("", summary="the requesting user's groups")
def group_list(request: ApiRequest) -> group_payloads.GroupList:
    return COMMANDS["queryGroups"].handler(user=request.auth, device_id="")


@router.get("/{group_id}/calls", summary="a group's Started calls")
def group_calls(request: ApiRequest, group_id: str) -> group_payloads.GroupCalls:
    return COMMANDS["queryGroupCalls"].handler(user=request.auth, device_id="", group_id=group_id)
