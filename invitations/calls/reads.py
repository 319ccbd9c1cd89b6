"""The locked reads of the call operations, one round trip each (calls/sql.py's
statements through roundtrip.py), their rows made instances by rows.py.

Users are named here by username, never by a request's userID: the actions
map userIDs to usernames within the acting user's tenant (accounts/tenancy.py)
before they ask, and a group is looked up by its groupID within that tenant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from invitations.calls import sql
from invitations.calls.roundtrip import Rows, Statement, run
from invitations.calls.rows import Users, mapper
from invitations.calls.states import PENDING, CallState
from invitations.models import Call, CallUser, Group

# --- one call, or many, locked with their members -------------------------------------------------


def _read_call(row: Sequence[Any], users: Users) -> Call:
    calls, groups = mapper(Call), mapper(Group)
    width = calls.width + users.mapper.width
    call: Call = calls.build(row[: calls.width])
    call.caller = users.get(row[calls.width : width])
    call.group = groups.build(row[width:]) if row[width] is not None else None
    return call


def _read_member(row: Sequence[Any], users: Users, calls: dict[int, Call]) -> CallUser:
    members = mapper(CallUser)
    width = members.width + users.mapper.width
    member: CallUser = members.build(row[: members.width])
    member.call = calls[member.call_id]
    member.user = users.get(row[members.width : width])
    member.inviter = users.get(row[width:])
    return member


def lock_call_with_members(call_id: str) -> tuple[Call, list[CallUser]] | None:
    """The call FOR UPDATE with its caller and group, then its members with users and
    inviters (pk order): one round trip. None if there is no such call."""
    params = {"call_id": call_id}
    call_rows, member_rows = run([Statement(sql.LOCK_CALL, params), Statement(sql.MEMBERS_OF_CALL, params)])
    if not call_rows:
        return None
    users = Users()
    call = _read_call(call_rows[0], users)
    calls = {call.pk: call}
    return call, [_read_member(r, users, calls) for r in member_rows]


def lock_calls_with_members(
    pks: list[int], *, started_only: bool, skip_locked: bool
) -> tuple[list[Call], dict[int, list[CallUser]]]:
    """Calls by pk, FOR UPDATE in pk order (SKIP LOCKED if asked), then the members of
    those it locked: one round trip."""
    params = {"pks": list(pks), "started": CallState.STARTED}
    call_rows, member_rows = run(
        [
            Statement(sql.lock_calls(started_only=started_only, skip_locked=skip_locked), params),
            Statement(sql.MEMBERS_OF_CALLS, params),
        ]
    )
    users = Users()
    calls = [_read_call(r, users) for r in call_rows]
    by_pk = {c.pk: c for c in calls}
    members: dict[int, list[CallUser]] = defaultdict(list)
    for r in member_rows:
        if r[1] in by_pk:  # m.call_id
            members[r[1]].append(_read_member(r, users, by_pk))
    return calls, members


# --- callInvite's reads ----------------------------------------------------------------------------


@dataclass
class InviteeFacts:
    """What resolving invitees needs: the active users by name, which of them are in the
    call's group (None: not a group call), who of them (and the caller) is online, and
    who of them is in do-not-disturb (accounts/status.py's rule, read here in SQL)."""

    found: dict[str, Any]
    in_group: set[int] | None
    online: set[int]
    dnd: set[int] = field(default_factory=set)


@dataclass
class InviteReads:
    """callInvite's reads before the call is made (see calls.call_invite)."""

    group: Group | None = None
    group_missing: bool = False
    other_id: int | None = None  # the one invitee, for glare
    in_call: bool = False
    candidates: list[int] = field(default_factory=list)  # glare: the other's Started calls ringing the user
    facts: InviteeFacts | None = None


def _facts(invitees: str, params: dict[str, Any]) -> list[Statement]:
    """The invitees (`invitees`: one of sql.INVITEES*), who is online, who is in do-not-disturb."""
    return [Statement(invitees, params), Statement(sql.ONLINE, params), Statement(sql.DND, params)]


def _read_facts(user_rows: Rows, online_rows: Rows, dnd_rows: Rows, group: bool) -> InviteeFacts:
    users = Users()
    width = users.mapper.width
    found, in_group = {}, set()
    for row in user_rows:
        user = users.get(row[:width])
        found[user.username] = user
        if group and row[width]:
            in_group.add(user.pk)
    online = {r[0] for r in online_rows}
    dnd = {r[0] for r in dnd_rows}
    return InviteeFacts(found=found, in_group=in_group if group else None, online=online, dnd=dnd)


def invitee_facts(names: list[str], *, group_pk: int | None, caller_id: int | None) -> InviteeFacts:
    """The invitees by username, their group membership, presence (with the caller's) and
    do-not-disturb: one round trip."""
    params = {"names": names, "group_pk": group_pk, "caller_id": caller_id, "now": timezone.now()}
    group = group_pk is not None
    user_rows, online_rows, dnd_rows = run(_facts(sql.INVITEES_IN_GROUP if group else sql.INVITEES, params))
    return _read_facts(user_rows, online_rows, dnd_rows, group)


def invite_reads(
    *, user_id: int, tenant: str | None, group_id: str, other_name: str | None, names: list[str]
) -> InviteReads:
    """callInvite's reads in one round trip, in this order: the group check (`group_id`
    within `tenant`); both users' rows locked FOR NO KEY UPDATE in pk order (the user and
    the one invitee, for glare); glare's candidate calls; already in a call; then the
    invitees, their group membership, who is online and who is in do-not-disturb (used only if there is no
    glare candidate: after a wait for a candidate's lock they are read again)."""
    params = {
        "user_id": user_id,
        "tenant": tenant,
        "group_id": group_id,
        "other": other_name,
        "started": CallState.STARTED,
        "pending": sorted(int(s) for s in PENDING),
        "names": names,
        "caller_id": user_id,
        "now": timezone.now(),
    }
    statements = []
    if group_id:
        statements.append(Statement(sql.GROUP_OF_MEMBER, params))
    if other_name is not None:
        statements.append(Statement(sql.LOCK_USER_AND_OTHER, params))
        statements.append(Statement(sql.GLARE_CANDIDATES, params))
    else:
        statements.append(Statement(sql.LOCK_USER, params))
    # after the candidates (each statement has its own snapshot): see calls.py _invite_reads
    statements.append(Statement(sql.IN_CALL, params))
    statements += _facts(sql.INVITEES_IN_GROUP_ID if group_id else sql.INVITEES, params)
    reads = InviteReads()
    results = iter(run(statements))
    if group_id:
        rows = next(results)
        if not rows:
            reads.group_missing = True
            return reads
        reads.group = mapper(Group).build(rows[0])
    reads.other_id = next((pk for (pk,) in next(results) if pk != user_id), None)
    if other_name is not None:
        reads.candidates = [pk for (pk,) in next(results)]
    reads.in_call = next(results)[0][0]
    reads.facts = _read_facts(next(results), next(results), next(results), bool(group_id))
    return reads


def in_call(user_id: int) -> bool:
    """Whether the user is Accepted in a Started call."""
    [[(found,)]] = run([Statement(sql.IN_CALL, {"user_id": user_id})])
    return bool(found)
