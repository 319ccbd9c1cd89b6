"""Every read of call state: call info, the invitation list, waiting invitations."""
from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, Q
from django.utils import timezone

from .errors import CallError
from .models import Call, CallEvent, CallUser, Connection
from .services import member_dict, ms
from .states import CallState, CallUserState as S

User = get_user_model()
MAX_PAGE = 100


def _members_prefetch() -> Prefetch:
    return Prefetch("members", queryset=CallUser.objects.select_related("user", "inviter").order_by("pk"))


def call_info_dict(call: Call, viewer: AbstractBaseUser | None = None) -> dict[str, Any]:
    """PROTOCOL's CallInfo; `inviter` is who invited the viewer (else the caller)."""
    members = list(call.members.all())
    mine = next((m for m in members if viewer is not None and m.user_id == viewer.pk), None)
    inviter = mine.inviter.username if mine is not None and mine.inviter is not None else call.caller.username
    return {
        "callID": call.call_id,
        "caller": call.caller.username,
        "inviter": inviter,
        "mode": call.mode,
        "state": call.state,
        "extendedData": call.extended_data,
        "createTime": ms(call.created_at),
        "endTime": ms(call.ended_at),
        "seq": call.seq,
        "callUserList": [member_dict(m, with_reason=True) for m in members],
    }


def call_info(*, user: AbstractBaseUser, call_id: str) -> dict[str, Any]:
    """One call, for one of its members; anyone else learns nothing (call_not_found)."""
    if "\x00" in call_id:  # from a URL path; PostgreSQL refuses NUL in text
        raise CallError("call_not_found")
    call = (
        Call.objects.select_related("caller")
        .prefetch_related(_members_prefetch())
        .filter(call_id=call_id, members__user=user)
        .first()
    )
    if call is None:
        raise CallError("call_not_found")
    return call_info_dict(call, user)


def call_invitation_list(*, user: AbstractBaseUser, count: int = 20, next_flag: int = 0) -> dict[str, Any]:
    """The calls the user is or was a member of, newest first.

    Keyset pagination on the call's integer id, read through the
    (user, call desc) index: every page costs the same, however deep.
    `nextFlag` is the id of the last call of the page (0 on the last page).
    """
    count = min(count, MAX_PAGE)
    memberships = CallUser.objects.filter(user=user)
    if next_flag:
        memberships = memberships.filter(call_id__lt=next_flag)
    ids = list(memberships.order_by("-call_id").values_list("call_id", flat=True)[: count + 1])
    more = len(ids) > count
    ids = ids[:count]
    calls = {
        c.pk: c
        for c in Call.objects.filter(pk__in=ids).select_related("caller").prefetch_related(_members_prefetch())
    }
    return {
        "callList": [call_info_dict(calls[pk], user) for pk in ids],
        "nextFlag": ids[-1] if more else 0,
    }


def pending_invitations_for(*, user: AbstractBaseUser) -> list[tuple[int, dict[str, Any]]]:
    """(seq, callInvitationReceived data) for each invitation still waiting for the user."""
    now = timezone.now()
    waiting = (
        CallUser.objects.filter(user=user, state__in=[S.INVITING, S.RECEIVED, S.NOT_YET_RECEIVED],
                                deadline__gt=now, call__state=CallState.STARTED)
        .select_related("call__caller", "inviter")
        .prefetch_related(Prefetch("call__members", queryset=CallUser.objects.select_related("user").order_by("pk")))
        .order_by("call_id")
    )
    result = []
    for member in waiting:
        call = member.call
        data = {
            "callID": call.call_id,
            "mode": call.mode,
            "caller": call.caller.username,
            "inviter": member.inviter.username if member.inviter else call.caller.username,
            "timeout": round((member.deadline - member.invited_at).total_seconds()),
            # an addition to PROTOCOL: a late arrival rings only as long as it may answer
            "deadline": ms(member.deadline),
            "createTime": ms(call.created_at),
            "extendedData": member.invitation_extended_data,
            "callUserList": [member_dict(m) for m in call.members.all()],
        }
        if call.push_config:
            data["pushConfig"] = call.push_config
        result.append((call.seq, data))
    return result


def call_events(*, call: Call) -> list[CallEvent]:
    """The call's event log, oldest first, with the users it names."""
    return list(call.events.select_related("user", "actor").order_by("seq", "pk"))


def users_with_presence(*, user: AbstractBaseUser, search: str = "", count: int = 50) -> list[dict[str, Any]]:
    """Other active users, online first, for picking invitees."""
    others = User.objects.filter(is_active=True).exclude(pk=user.pk)
    if search:
        others = others.filter(Q(username__icontains=search) | Q(first_name__icontains=search)
                               | Q(last_name__icontains=search))
    rows = list(others.order_by("username").values("pk", "username", "first_name", "last_name")[:200])
    online = set(Connection.objects.filter(user_id__in=[r["pk"] for r in rows]).values_list("user_id", flat=True))
    rows.sort(key=lambda r: (r["pk"] not in online, r["username"]))
    return [
        {"userID": r["username"], "name": f"{r['first_name']} {r['last_name']}".strip() or r["username"],
         "online": r["pk"] in online}
        for r in rows[:count]
    ]


def next_pending_deadline(*, before: float) -> float | None:
    """The earliest deadline (epoch seconds) of a pending invitee in a running
    call that falls before `before`, if any."""
    from datetime import datetime, timezone as dt_timezone

    deadline = (
        CallUser.objects.filter(state__in=[S.INVITING, S.RECEIVED, S.NOT_YET_RECEIVED], call__state=CallState.STARTED,
                                deadline__lt=datetime.fromtimestamp(before, dt_timezone.utc))
        .order_by("deadline").values_list("deadline", flat=True).first()
    )
    return deadline.timestamp() if deadline else None


# --- invitation-list page and call detail (issue 4) ---------------------------------------------

LIST_ROLES = ("caller", "invitee")


def call_list_page(
    *, user: AbstractBaseUser, count: int = 20, next_flag: int = 0, state: int | None = None,
    role: str | None = None,
) -> tuple[list[Call], int]:
    """The page behind /calls/: like call_invitation_list, as Call rows, with filters.

    Same keyset on the call id through the (user, call desc) index; the filters
    join each membership to its call by primary key, so a page still stops
    after `count` matches, however deep it starts. `role` is "caller" or
    "invitee" (any member who is not the caller). Returns (calls, nextFlag).
    """
    count = min(count, MAX_PAGE)
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
    calls = {c.pk: c for c in Call.objects.filter(pk__in=ids).select_related("caller", "ended_by")
             .prefetch_related(_members_prefetch())}
    return [calls[pk] for pk in ids], (ids[-1] if more else 0)


def call_for_member(*, user: AbstractBaseUser, call_id: str) -> Call:
    """One call with its caller and members, for one of its members; else call_not_found."""
    call = (
        Call.objects.select_related("caller", "ended_by")
        .prefetch_related(_members_prefetch())
        .filter(call_id=call_id, members__user=user)
        .first()
    )
    if call is None:
        raise CallError("call_not_found")
    return call
