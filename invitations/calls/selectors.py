"""Every read of call state: a call, a page of a user's calls, waiting invitations.

Reads return rows (Call, CallEvent) or payloads built by payloads.py; they
never write (the command table expires what is overdue before reading).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import Left, Length
from django.utils import timezone

from invitations.accounts import payloads as account_payloads
from invitations.accounts import status as user_status
from invitations.accounts import tenancy
from invitations.calls import cursors, group_payloads, payloads
from invitations.calls.errors import CallError
from invitations.calls.rows import mapper
from invitations.calls.states import PENDING, CallState, CallUserState
from invitations.models import Call, CallEvent, CallUser, Connection, Group

MAX_PAGE = 100
LIST_ROLES = ("caller", "invitee", "missed")


def members_prefetch() -> Prefetch:
    """Each call's members in order, with their users and inviters: one query for many calls."""
    return Prefetch("members", queryset=CallUser.objects.select_related("user", "inviter").order_by("pk"))


def with_members(calls: QuerySet) -> QuerySet:
    """Calls with caller and group, and each call's members (with user and inviter, in pk
    order) as the plain list `call.loaded_members`, as `call_page` leaves them."""
    return calls.select_related("caller", "ended_by", "group").prefetch_related(
        Prefetch(
            "members",
            queryset=CallUser.objects.select_related("user", "inviter").order_by("pk"),
            to_attr="loaded_members",
        )
    )


def call_for_member(*, user: User, call_id: str) -> Call:
    """One call with its caller and members, for one of its members; anyone else
    learns nothing (call_not_found)."""
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text
        raise CallError("call_not_found")
    call = with_members(Call.objects.filter(call_id=call_id, members__user=user)).first()
    if call is None:
        raise CallError("call_not_found")
    return call


def call_page(
    *,
    user: User,
    count: int = 20,
    next_flag: int = 0,
    state: int | None = None,
    role: str | None = None,
    group_id: str | None = None,
    in_group: bool = False,
) -> tuple[list[Call], int]:
    """The calls the user is or was a member of, newest first: (calls, nextFlag).

    Keyset pagination on the call's integer id, read through the (user, call
    desc) index: every page costs the same, however deep. `nextFlag` stands
    for the id of the last call of the page, disguised (cursors.py; 0 on the
    last page). The filters (the /calls/ page's) join each membership to its
    call by primary key, so a page still stops after `count` matches; `role`
    is "caller" or "invitee" (any member who is not the caller).

    One statement (the page's ids in a subquery, joined to the calls, their
    callers and groups, members, users and inviters): the calls come back with
    `caller`, `group` and `loaded_members` (each with `user` and `inviter`)
    loaded, as `with_members` would load them in three.
    """
    count = min(count, MAX_PAGE)
    joins, where, params = _list_filters(user=user, state=state, role=role, group_id=group_id, in_group=in_group)
    if next_flag:
        where.append("m0.call_id < %(after)s")
        params["after"] = cursors.call_pk_after(next_flag)
    params["limit"] = count + 1
    page = (
        f"SELECT m0.call_id FROM {CallUser._meta.db_table} m0{joins} WHERE {' AND '.join(where)} "
        "ORDER BY m0.call_id DESC LIMIT %(limit)s"
    )
    calls = _calls_with_members(page, params)
    more = len(calls) > count
    calls = calls[:count]
    return calls, (cursors.next_flag_for(calls[-1].pk) if more else 0)


def _list_filters(
    *, user: User, state: int | None, role: str | None, group_id: str | None, in_group: bool
) -> tuple[str, list[str], dict[str, int | str]]:
    """The joins, conditions and parameters of a user's list filtered as the /calls/ page asks:
    `role` "caller", "invitee" or "missed" (an invitation to the user that it never answered:
    it timed out or the caller cancelled it); `in_group`: calls placed in any group."""
    joins, where = "", ["m0.user_id = %(user_id)s"]
    params: dict[str, int | str] = {"user_id": user.pk}
    if state is not None or role in LIST_ROLES or group_id is not None or in_group:
        joins += f" JOIN {Call._meta.db_table} c0 ON c0.id = m0.call_id"
    if state is not None:
        where.append("c0.state = %(state)s")
        params["state"] = int(state)
    if role == "caller":
        where.append("c0.caller_id = %(user_id)s")
    elif role in ("invitee", "missed"):
        where.append("c0.caller_id <> %(user_id)s")
    if role == "missed":
        where.append("m0.state IN (%(timeout)s, %(cancelled)s)")
        params.update(timeout=int(CallUserState.TIMEOUT), cancelled=int(CallUserState.CANCELLED))
    if group_id is not None:
        joins += f" JOIN {Group._meta.db_table} g0 ON g0.id = c0.group_id"
        where.append("g0.group_id = %(group_id)s")
        params["group_id"] = group_id
    if in_group:
        where.append("c0.group_id IS NOT NULL")
    return joins, where, params


def call_count(
    *,
    user: User,
    state: int | None = None,
    role: str | None = None,
    group_id: str | None = None,
    in_group: bool = False,
    limit: int = 1000,
) -> int:
    """How many calls the list holds with these filters, counted up to `limit` (a bounded
    read of the member index however long the history; the page says "at least" beyond)."""
    from django.db import connection

    joins, where, params = _list_filters(user=user, state=state, role=role, group_id=group_id, in_group=in_group)
    sql = (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {CallUser._meta.db_table} m0{joins} "
        f"WHERE {' AND '.join(where)} LIMIT %(limit)s) n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, {**params, "limit": limit})
        return cursor.fetchone()[0]


def page_has_overdue(calls: list[Call], now: datetime) -> bool:
    """Whether a running call of the page still shows a pending invitee whose
    deadline has passed (no query: the members are loaded)."""
    return any(
        m.state in PENDING and m.deadline is not None and m.deadline <= now
        for c in calls
        if c.state == CallState.STARTED
        for m in c.loaded_members
    )


def _calls_with_members(page_ids_sql: str, params: Mapping[str, Any]) -> list[Call]:
    """The calls whose ids `page_ids_sql` selects (as `call_id`), newest first, in one
    statement, each with caller, group and `loaded_members` (with user and inviter).

    Names come from scalar subqueries, not joins: PostgreSQL plans the statement
    in a quarter of the time (0.14 ms, not 0.6); on PostgreSQL it is prepared once per
    connection (calls/roundtrip.py `fetch`), so that is paid once."""
    from django.db import connection

    from invitations.calls.roundtrip import fetch

    call_r, member_r = mapper(Call), mapper(CallUser)
    # the rest deferred: only userIDs and names are shown
    user_r = mapper(User, (User._meta.pk.name, User.USERNAME_FIELD, "first_name", "last_name"))
    group_r = mapper(Group, ("id", "group_id"))
    q = connection.ops.quote_name
    t_user, user_pk = q(User._meta.db_table), q(str(user_r.fields[0].column))
    name_columns = ", ".join(q(f.column) for f in user_r.fields[1:])

    def name_of(column: str) -> str:
        # one scalar subquery per user: username, first and last name as one array
        return f"(SELECT ARRAY[{name_columns}] FROM {t_user} WHERE {user_pk} = {column})"

    sql = (
        f"SELECT {call_r.select('c')}, {name_of('c.caller_id')}, "
        f"(SELECT g.group_id FROM {Group._meta.db_table} g WHERE g.id = c.group_id), "
        f"{member_r.select('m')}, {name_of('m.user_id')}, {name_of('m.inviter_id')} "
        f"FROM ({page_ids_sql}) p JOIN {Call._meta.db_table} c ON c.id = p.call_id "
        f"JOIN {CallUser._meta.db_table} m ON m.call_id = c.id"
    )
    rows = fetch(sql, params)
    n_call, n_member = len(call_r.fields), len(member_r.fields)
    # no ORDER BY in SQL (the page's ids are read in index order; no sort of the joined rows): here
    rows.sort(key=lambda r: (-r[0], r[n_call + 2]))
    db = connection.alias
    users: dict[int, Any] = {}

    def user_of(pk: int | None, names: list[str] | None) -> Any:
        if pk is None:
            return None
        if pk not in users:
            users[pk] = user_r.build([pk, *(names or ())], db)
        return users[pk]

    calls: list[Call] = []
    members: list[CallUser] = []
    call = None
    for row in rows:
        if call is None or row[0] != call.pk:
            if call is not None:
                call.loaded_members = members
            call = call_r.build(list(row[:n_call]), db)
            call.caller = user_of(call.caller_id, row[n_call])
            call.group = group_r.build([call.group_id, row[n_call + 1]], db) if call.group_id is not None else None
            calls.append(call)
            members = []
        start = n_call + 2
        member = member_r.build(list(row[start : start + n_member]), db)
        member.call = call
        member.user = user_of(member.user_id, row[start + n_member])
        member.inviter = user_of(member.inviter_id, row[start + n_member + 1])
        members.append(member)
    if call is not None:
        call.loaded_members = members
    return calls


def pending_invitations_for(*, user: User) -> list[payloads.EventFrame]:
    """A callInvitationReceived frame for each invitation still waiting for the user."""
    waiting_rows = (
        # timeout 0: no deadline, pending until answered
        CallUser.objects.filter(
            Q(deadline__isnull=True) | Q(deadline__gt=timezone.now()),
            user=user,
            state__in=list(PENDING),
            call__state=CallState.STARTED,
        )
        .select_related("call__caller", "call__group", "inviter")
        .prefetch_related(Prefetch("call__members", queryset=CallUser.objects.select_related("user").order_by("pk")))
        .order_by("call_id")
    )
    waiting = list(waiting_rows)
    # silent while the user is in do-not-disturb now, as when invited (read only if something waits)
    silent = bool(waiting) and user_status.user_in_dnd(user=user)
    return [
        payloads.event_frame(
            "callInvitationReceived",
            member.call.seq,
            payloads.invitation_received(member.call, member, member.call.members.all(), silent=silent),
        )
        for member in waiting
    ]


def call_events(*, call: Call) -> list[CallEvent]:
    """The call's event log, oldest first, with the users it names."""
    return list(call.events.select_related("user", "actor").order_by("seq", "pk"))


def users_with_presence(*, user: User, search: str = "", count: int = 50) -> list[account_payloads.UserEntry]:
    """Other active users of the user's tenant, online first, for picking invitees. Staff
    accounts (operators) are not offered: they are not callees (callInvite may still name them)."""
    tenant = tenancy.tenant_of(user)
    others = User.objects.filter(tenancy.tenant_users(tenant), is_active=True, is_staff=False, is_superuser=False)
    others = others.exclude(pk=user.pk)
    if search:
        suffix_chars = len(tenancy.username_for(tenant, "x") or "x") - 1  # "#<appID>"; none on the site's
        # the userID is searched, not the tenant's suffix of the username
        others = others.annotate(user_id=Left("username", Length("username") - suffix_chars)).filter(
            Q(user_id__icontains=search) | Q(first_name__icontains=search) | Q(last_name__icontains=search)
        )
    rows = list(others.order_by("username").only("pk", "username", "first_name", "last_name")[:200])
    online = set(Connection.objects.filter(user_id__in=[r.pk for r in rows]).values_list("user_id", flat=True))
    rows.sort(key=lambda r: (r.pk not in online, r.username))
    return [account_payloads.user_entry(r, online=r.pk in online) for r in rows[:count]]


def next_pending_deadline(*, before: float) -> float | None:
    """The earliest deadline (epoch seconds) of a pending invitee in a running
    call that falls before `before`, if any."""
    deadline = (
        CallUser.objects.filter(
            state__in=list(PENDING),
            call__state=CallState.STARTED,
            deadline__lt=datetime.fromtimestamp(before, UTC),
        )
        .order_by("deadline")
        .values_list("deadline", flat=True)
        .first()
    )
    return deadline.timestamp() if deadline else None


# --- groups (PROTOCOL additions, "Groups") --------------------------------------------------------

MAX_GROUP_CALLS = 100


def group_for_member(*, user: User, group_id: str) -> Group:
    """The group, if the user is one of its members; anyone else learns nothing (group_not_found)."""
    group = (
        Group.objects.filter(group_id=group_id, app_id=tenancy.tenant_of(user), members=user).first()
        if "\x00" not in group_id
        else None
    )
    if group is None:
        raise CallError("group_not_found")
    return group


def groups_of(*, user: User) -> group_payloads.GroupList:
    """The user's groups by name, each with its member count and members (online or not)."""
    # annotate before filter: the count joins all of a group's members, not only this user
    groups = list(
        Group.objects.annotate(member_count=Count("members", distinct=True))
        .filter(members=user)
        .prefetch_related(Prefetch("members", queryset=User.objects.order_by("username")))
        .order_by("name", "group_id")
    )
    member_ids = {m.pk for g in groups for m in g.members.all()}
    online = set(Connection.objects.filter(user_id__in=member_ids).values_list("user_id", flat=True))
    return group_payloads.group_list(groups, online)


def group_started_calls(*, group: Group) -> list[Call]:
    """The group's Started calls, newest first (the group from group_for_member)."""
    return _calls_with_members(
        f"SELECT c0.id AS call_id FROM {Call._meta.db_table} c0 WHERE c0.group_id = %(group_pk)s "
        "AND c0.state = %(state)s ORDER BY c0.id DESC LIMIT %(limit)s",
        {"group_pk": group.pk, "state": int(CallState.STARTED), "limit": MAX_GROUP_CALLS},
    )
