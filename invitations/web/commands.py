"""The command table: each PROTOCOL command's schemas and its handler, shared
by the HTTP API (api/), the WebSocket (consumers.py) and the pages
(call_list_views.py), so the three transports cannot drift apart.

A handler takes the acting user, its device, and the schema's fields as
snake_case keyword arguments. Reads expire what is overdue first (so nobody
sees a pending invitee whose deadline has passed), then read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone
from pydantic import BaseModel

from invitations.calls import actions, deadlines, group_payloads, payloads, selectors
from invitations.calls.states import CallState
from invitations.media import sessions, signaling
from invitations.models import Call
from invitations.web import schemas


@dataclass(frozen=True)
class Command:
    name: str
    handler: Callable[..., Any]
    # the WebSocket's `data` (the HTTP body plus callID, where there is one)
    ws_schema: type[BaseModel]

    def run(self, *, user: Any, device_id: str, body: BaseModel, **path: Any) -> Any:
        """Run with a parsed body; `path` holds what HTTP takes from the URL (call_id)."""
        return self.handler(user=user, device_id=device_id, **body.model_dump(), **path)


# --- reads: expire what is overdue, then read ----------------------------------------------------


def fresh_call(*, user: Any, call_id: str) -> Call:
    """One call of the user's, its overdue invitations expired first."""
    deadlines.invitations_expire_due(call_id=call_id)
    return selectors.call_for_member(user=user, call_id=call_id)


def fresh_call_page(
    *,
    user: Any,
    count: int,
    next_flag: int,
    state: int | None = None,
    role: str | None = None,
    group_id: str | None = None,
    in_group: bool = False,
) -> tuple[list[Call], int]:
    """A page of the user's calls, none showing an invitee whose deadline has passed.

    The page is read first and expired only if it shows an overdue invitee
    (then read again): one statement, not two, on the usual page. Expiring
    can end a call, so a page of Ended calls expires the user's calls first."""

    def read() -> tuple[list[Call], int]:
        return selectors.call_page(
            user=user, count=count, next_flag=next_flag, state=state, role=role, group_id=group_id, in_group=in_group
        )

    if state == CallState.ENDED or role == "missed":  # expiring is what makes a call missed
        deadlines.invitations_expire_due(user=user)
        return read()
    calls, flag = read()
    if selectors.page_has_overdue(calls, timezone.now()):
        deadlines.invitations_expire_due(user=user)
        calls, flag = read()
    return calls, flag


def query_call(*, user: Any, device_id: str, call_id: str) -> payloads.CallInfo:
    return payloads.call_info(fresh_call(user=user, call_id=call_id), user)


def query_call_invitation_list(*, user: Any, device_id: str, count: int, next_flag: int) -> payloads.CallList:
    calls, next_flag = fresh_call_page(user=user, count=count, next_flag=next_flag)
    return payloads.call_list(calls, next_flag, user)


def query_users(*, user: Any, device_id: str, search: str, count: int) -> payloads.Users:
    return payloads.Users(users=selectors.users_with_presence(user=user, search=search, count=count))


def query_groups(*, user: Any, device_id: str) -> group_payloads.GroupList:
    return selectors.groups_of(user=user)


def query_group_calls(*, user: Any, device_id: str, group_id: str) -> group_payloads.GroupCalls:
    selectors.group_for_member(user=user, group_id=group_id)  # an outsider learns nothing, changes nothing
    deadlines.invitations_expire_due(group_id=group_id)
    return group_payloads.group_calls(selectors.group_started_calls(user=user, group_id=group_id), user)


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("callInvite", actions.call_invite, schemas.CallInviteIn),
        Command("callCancel", actions.call_cancel, schemas.CallCancelCmd),
        Command("callAccept", actions.call_accept, schemas.CallAcceptCmd),
        Command("callReject", actions.call_reject, schemas.CallRejectCmd),
        Command("callingInvite", actions.calling_invite, schemas.CallingInviteCmd),
        Command("callJoin", actions.call_join, schemas.CallJoinCmd),
        Command("callQuit", actions.call_quit, schemas.CallQuitCmd),
        Command("callEnd", actions.call_end, schemas.CallEndCmd),
        Command("queryCallInvitationList", query_call_invitation_list, schemas.CallListCmd),
        Command("queryCall", query_call, schemas.QueryCallCmd),
        Command("queryUsers", query_users, schemas.QueryUsersCmd),
        Command("queryGroups", query_groups, schemas.QueryGroupsCmd),
        Command("queryGroupCalls", query_group_calls, schemas.QueryGroupCallsCmd),
        # media signaling (PROTOCOL "Media signaling")
        Command("callSignal", signaling.call_signal, schemas.CallSignalCmd),
        Command("queryIceServers", signaling.ice_servers, schemas.QueryIceServersCmd),
        # media sessions (PROTOCOL "Media sessions": peer to peer, or a room on a media server)
        Command("queryMediaSession", sessions.media_session_query, schemas.QueryMediaSessionCmd),
    )
}
