"""The payloads of groups (PROTOCOL additions, "Groups"): a user's groups, a group's running calls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from typing_extensions import TypedDict

from invitations.accounts.tenancy import user_id_of
from invitations.calls.payloads import CallInfo, call_info
from invitations.models import Call


class GroupMember(TypedDict):
    userID: str
    online: bool


class GroupEntry(TypedDict):
    groupID: str
    name: str
    memberCount: int
    members: list[GroupMember]  # an addition: whom a page can call


class GroupList(TypedDict):
    groupList: list[GroupEntry]


class GroupCalls(TypedDict):
    callList: list[CallInfo]


def group_list(groups: Iterable[Any], online_user_ids: set[int]) -> GroupList:
    """Groups fetched with member_count and their members (ordered)."""
    return GroupList(
        groupList=[
            GroupEntry(
                groupID=g.group_id,
                name=g.name,
                memberCount=g.member_count,
                members=[GroupMember(userID=user_id_of(m), online=m.pk in online_user_ids) for m in g.members.all()],
            )
            for g in groups
        ]
    )


def group_calls(calls: Iterable[Call], viewer: Any) -> GroupCalls:
    return GroupCalls(callList=[call_info(c, viewer) for c in calls])
