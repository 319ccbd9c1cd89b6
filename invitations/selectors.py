"""Every read of call state: a call, a page of a user's calls, waiting invitations.

Reads return rows (Call, CallEvent) or payloads built by payloads.py; they
never write (the command table expires what is overdue before reading).
"""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from . import payloads
from .errors import CallError
from .services import sql
from .models import Call, CallEvent, CallUser, Connection
from .states import PENDING, CallState

User = get_user_model()
MAX_PAGE = 100
LIST_ROLES = ("caller", "invitee")


def members_prefetch() -> Prefetch:
    """Each call's members in order, with their users and inviters: one query for many calls."""
    return Prefetch("members", queryset=CallUser.objects.select_related("user", "inviter").order_by("pk"))


def with_members(calls: QuerySet) -> QuerySet:
    return calls.select_related("caller", "ended_by").prefetch_related(members_prefetch())


def call_for_member(*, user: AbstractBaseUser, call_id: str) -> Call:
    """One call with its caller and members, for one of its members; anyone else
    learns nothing (call_not_found)."""
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text
        raise CallError("call_not_found")
    call = with_members(Call.objects.filter(call_id=call_id, members__user=user)).first()
    if call is None:
        raise CallError("call_not_found")
    return call


def call_page(
    *, user: AbstractBaseUser, count: int = 20, next_flag: int = 0, state: int | None = None,
    role: str | None = None,
) -> tuple[list[Call], int]:
    """The calls the user is or was a member of, newest first: (calls, nextFlag).

    Keyset pagination on the call's integer id, read through the (user, call
    desc) index: every page costs the same, however deep. `nextFlag` is the id
    of the last call of the page (0 on the last page). The filters (the /calls/
    page's) join each membership to its call by primary key, so a page still
    stops after `count` matches; `role` is "caller" or "invitee" (any member
    who is not the caller).
    """
    count = min(count, MAX_PAGE)
    if sql.fast() and state is None and role is None and count > 0:  # the API's page: one statement, no ORM
        ids, calls = sql.member_call_page(user_id=user.pk, count=count, next_flag=next_flag)
        more = len(ids) > count
        ids = ids[:count]
        return [calls[pk] for pk in ids], (ids[-1] if more else 0)
    memberships = CallUser.objects.filter(user=user)
    if next_flag:
        memberships = memberships.filter(call_id__lt=next_flag)
    if state is not None:
        memberships = memberships.filter(call__state=state)
    if role == "caller":
        memberships = memberships.filter(call__caller=user)
    elif role == "invitee":
        memberships = memberships.exclude(call__caller=user)
    ids = list(memberships.order_by("-call_id").values_list("call_id", flat=True)[: count + 1])
    more = len(ids) > count
    ids = ids[:count]
    if sql.fast():  # the same rows, one statement, no ORM (services/sql.py)
        calls = sql.calls_with_members(ids)
    else:
        calls = {c.pk: c for c in with_members(Call.objects.filter(pk__in=ids))}
    return [calls[pk] for pk in ids], (ids[-1] if more else 0)


def pending_invitations_for(*, user: AbstractBaseUser) -> list[payloads.EventFrame]:
    """A callInvitationReceived frame for each invitation still waiting for the user."""
    if sql.fast() and not sql.waiting_call_ids(user_id=user.pk, states=PENDING):  # every connect asks; mostly none
        return []
    waiting = (
        CallUser.objects.filter(user=user, state__in=list(PENDING), deadline__gt=timezone.now(),
                                call__state=CallState.STARTED)
        .select_related("call__caller", "inviter")
        .prefetch_related(Prefetch("call__members", queryset=CallUser.objects.select_related("user").order_by("pk")))
        .order_by("call_id")
    )
    return [
        payloads.event_frame("callInvitationReceived", member.call.seq,
                             payloads.invitation_received(member.call, member, member.call.members.all()))
        for member in waiting
    ]


def call_events(*, call: Call) -> list[CallEvent]:
    """The call's event log, oldest first, with the users it names."""
    return list(call.events.select_related("user", "actor").order_by("seq", "pk"))


def users_with_presence(*, user: AbstractBaseUser, search: str = "", count: int = 50) -> list[payloads.UserEntry]:
    """Other active users, online first, for picking invitees."""
    others = User.objects.filter(is_active=True).exclude(pk=user.pk)
    if search:
        others = others.filter(Q(username__icontains=search) | Q(first_name__icontains=search)
                               | Q(last_name__icontains=search))
    rows = list(others.order_by("username").values("pk", "username", "first_name", "last_name")[:200])
    online = set(Connection.objects.filter(user_id__in=[r["pk"] for r in rows]).values_list("user_id", flat=True))
    rows.sort(key=lambda r: (r["pk"] not in online, r["username"]))
    return [
        payloads.UserEntry(userID=r["username"], name=f"{r['first_name']} {r['last_name']}".strip() or r["username"],
                           online=r["pk"] in online)
        for r in rows[:count]
    ]


def next_pending_deadline(*, before: float) -> float | None:
    """The earliest deadline (epoch seconds) of a pending invitee in a running
    call that falls before `before`, if any."""
    deadline = (
        CallUser.objects.filter(state__in=list(PENDING), call__state=CallState.STARTED,
                                deadline__lt=datetime.fromtimestamp(before, dt_timezone.utc))
        .order_by("deadline").values_list("deadline", flat=True).first()
    )
    return deadline.timestamp() if deadline else None
