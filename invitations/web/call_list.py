"""The invitation-list pages: /calls/ (a user's calls, paged) and /calls/<callID>/ (timeline).

Thin: parse the query string, read through the command table's reads (which
expire what is overdue first, so a page never shows a pending invitee whose
deadline has passed), render. Presentation helpers (the call type, times) live here; the words are in words.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, TypedDict
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils import timezone

from invitations.accounts.requests import SignedInRequest
from invitations.calls import selectors
from invitations.calls.errors import CallError
from invitations.calls.states import CallState
from invitations.web import commands, words

DEFAULT_COUNT = 20
# Digits only, and short enough for a 64-bit id column (a longer nextFlag
# would make PostgreSQL fail instead of answering an empty page).
_NUMBER = re.compile(r"[0-9]{1,18}")
STATE_FILTERS = {"ongoing": CallState.STARTED, "ended": CallState.ENDED}
# The filter bar: "show" narrows the list the way people ask for it.
SHOW_ROLES = {"missed": "missed", "incoming": "invitee", "outgoing": "caller"}
SHOW_CHOICES = ("", "missed", "incoming", "outgoing", "group")
PAGE_SIZES = (10, 20, 50, 100)
COUNT_LIMIT = 1000
_GROUP_ID = re.compile(r"[-a-zA-Z0-9_]{1,64}")


class ListFilters(TypedDict):
    """The list's filters as the selectors take them."""

    state: int | None
    role: str | None
    group_id: str | None
    in_group: bool


class BadQuery(ValueError):
    """A query-string value the page cannot use; its text is shown to the user."""


@dataclass(frozen=True)
class ListQuery:
    count: int
    next_flag: int
    state: str
    role: str
    group: str = ""
    show: str = ""

    def filters(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("show", self.show), ("state", self.state), ("role", self.role), ("group", self.group))
            if v
        }

    def selector_role(self) -> str | None:
        return SHOW_ROLES.get(self.show) or self.role or None


def parse_list_query(params: QueryDict) -> ListQuery:
    """count 1..100 (larger is treated as 100, as PROTOCOL says), nextFlag >= 0, filters."""
    raw_count = params.get("count", "").strip()
    raw_flag = params.get("nextFlag", "").strip()
    if raw_count and not _NUMBER.fullmatch(raw_count):
        raise BadQuery(f"“count” must be a whole number from 1 to 100, not “{raw_count[:40]}”.")
    count = int(raw_count) if raw_count else DEFAULT_COUNT
    if count < 1:
        raise BadQuery("“count” must be at least 1.")
    if raw_flag and not _NUMBER.fullmatch(raw_flag):
        raise BadQuery(f"“nextFlag” must be 0 or the nextFlag of the previous page, not “{raw_flag[:40]}”.")
    state = params.get("state", "")
    if state and state not in STATE_FILTERS:
        raise BadQuery("“state” must be “ongoing” or “ended”.")
    role = params.get("role", "")
    if role and role not in selectors.LIST_ROLES:
        raise BadQuery("“role” must be “caller”, “invitee” or “missed”.")
    group = params.get("group", "")
    if group and not _GROUP_ID.fullmatch(group):
        raise BadQuery("“group” must be a groupID (letters, digits, - and _).")
    show = params.get("show", "")
    if show not in SHOW_CHOICES:
        raise BadQuery("“show” must be “missed”, “incoming”, “outgoing” or “group”.")
    return ListQuery(
        count=min(count, selectors.MAX_PAGE),
        next_flag=int(raw_flag or 0),
        state=state,
        role=role,
        group=group,
        show=show,
    )


def call_type(extended_data: str) -> str:
    """The page's {"type": "video"|"voice"} in extendedData; anything else is unknown."""
    try:
        data = json.loads(extended_data) if extended_data else None
    except ValueError:
        return ""
    kind = data.get("type") if isinstance(data, dict) else None
    return kind.strip().lower()[:16] if isinstance(kind, str) else ""


def _members(call: Any) -> list[dict[str, Any]]:
    return [
        {
            "username": m.user.get_username(),
            "state": m.state,
            "label": words.state_word(m.state, m.reason),
            "css": words.state_css(m.state),
            "is_caller": m.user_id == call.caller_id,
        }
        for m in call.loaded_members
    ]


def duration_text(seconds: float) -> str:
    """1:05, 1:02:03"""
    secs = max(0, round(seconds))
    hours, rest = divmod(secs, 3600)
    return f"{hours}:{rest // 60:02}:{rest % 60:02}" if hours else f"{rest // 60}:{rest % 60:02}"


def when_text(moment: Any, now: Any) -> str:
    """ "Today 14:03", "Yesterday 09:10", "3 Dec 14:03", "3 Dec 2025 14:03" (local time)."""
    local, today = timezone.localtime(moment), timezone.localtime(now).date()
    clock = local.strftime("%H:%M")
    if local.date() == today:
        return words.today_at(clock)
    if (today - local.date()).days == 1:
        return words.yesterday_at(clock)
    return words.day_at(words.day_of(local, with_year=local.year != today.year), clock)


def _row(call: Any, me: Any, now: Any) -> dict[str, Any]:
    members = call.loaded_members
    caller = call.caller.get_username()
    others = [m for m in members if m.user_id != call.caller_id]
    # who answered: invitees who accepted or joined (and may have left since)
    answered = [m.user.get_username() for m in others if m.state in words.ANSWERED]
    connected = min((m.accepted_at for m in others if m.accepted_at), default=None)
    duration = ""
    if connected is not None and words.duration_known(call):
        duration = (
            words.going_on() if call.ended_at is None else duration_text((call.ended_at - connected).total_seconds())
        )
    mine = next((m for m in members if m.user_id == me.pk), None)
    is_caller = call.caller_id == me.pk
    missed = words.is_missed(is_caller=is_caller, my_state=mine.state if mine else None)
    # the people on the other side: the caller first, then the invitees
    people = [caller] if not is_caller else []
    people += [m.user.get_username() for m in others if m.user_id != me.pk]
    kind = call_type(call.extended_data)
    return {
        "call": call,
        "ongoing": call.state == CallState.STARTED,
        "type": kind,
        "members": _members(call),
        "group": call.group.group_id if call.group_id else "",
        "answered": answered,
        "duration": duration,
        "missed": missed,
        "is_caller": is_caller,
        "people": words.names(people),
        "direction": words.direction(is_caller=is_caller, missed=missed, kind=kind),
        "outcome": words.outcome(call=call, me=me, caller=caller, members=members),
        "when": when_text(call.created_at, now),
        "call_back": "/?" + urlencode({"call": ",".join(people), "type": kind or "video"}) if people else "",
        "call_back_label": words.call_back_label(words.names(people)),
    }


@login_required
def call_list(request: SignedInRequest) -> HttpResponse:
    try:
        query = parse_list_query(request.GET)
    except BadQuery as exc:
        return render(request, "invitations/call_list_error.html", {"message": str(exc)}, status=400)
    filters = ListFilters(
        state=STATE_FILTERS.get(query.state),
        role=query.selector_role(),
        group_id=query.group or None,
        in_group=query.show == "group",
    )
    calls, next_flag = commands.fresh_call_page(
        user=request.user, count=query.count, next_flag=query.next_flag, **filters
    )
    total = selectors.call_count(user=request.user, limit=COUNT_LIMIT, **filters)
    base = {"count": query.count} if query.count != DEFAULT_COUNT else {}
    now = timezone.now()
    context = {
        "rows": [_row(c, request.user, now) for c in calls],
        "query": query,
        "next_flag": next_flag,
        "next_url": "?" + urlencode({**query.filters(), **base, "nextFlag": next_flag}) if next_flag else "",
        "first_url": "?" + urlencode({**query.filters(), **base}) if query.next_flag else "",
        "show_links": _show_links(query, base),
        "group_links": _group_links(query, base, _group_choices(request.user, query)),
        "size_links": [
            {"size": n, "url": "?" + urlencode({**query.filters(), "count": n}), "active": n == query.count}
            for n in PAGE_SIZES
        ],
        "total": words.total(total, more=total >= COUNT_LIMIT, show=query.show),
        "empty": words.empty_list(first_page=not query.next_flag, filtered=bool(query.filters())),
    }
    return render(request, "invitations/call_list.html", context)


def _group_choices(user: Any, query: ListQuery) -> dict[str, str]:
    """groupID -> label: the user's groups, and the one filtered by (a group the user has left)."""
    choices = {g["groupID"]: g["name"] for g in selectors.groups_of(user=user)["groupList"]}
    if query.group and query.group not in choices:
        choices[query.group] = query.group
    return choices


def _show_links(query: ListQuery, base: dict[str, Any]) -> list[dict[str, Any]]:
    """All, Missed, Incoming, Outgoing, Group calls: each restarts from the first page."""
    links = []
    for value in SHOW_CHOICES:
        params = {**base, **({"show": value} if value else {})}
        active = query.show == value and not (query.role or query.state or query.group)
        links.append(
            {
                "label": words.show_label(value),
                "url": "?" + urlencode(params),
                "active": active,
                "value": value or "all",
            }
        )
    return links


def _group_links(query: ListQuery, base: dict[str, Any], groups: dict[str, str]) -> list[dict[str, Any]]:
    """The user's groups, once group calls are asked for: one group's calls each."""
    if not groups or not (query.show == "group" or query.group):
        return []
    return [
        {"label": label, "url": "?" + urlencode({**base, "group": group_id}), "active": query.group == group_id}
        for group_id, label in groups.items()
    ]


@login_required
def call_detail(request: SignedInRequest, call_id: str) -> HttpResponse:
    try:
        call = commands.fresh_call(user=request.user, call_id=call_id)
    except CallError:
        raise Http404("No such call") from None
    caller = call.caller.get_username()

    def name(user: Any) -> str:
        return user.get_username() if user is not None else ""

    events = [
        {
            "event": e,
            "css": "ended" if e.kind == "call_ended" else words.state_css(e.to_state),
            "text": words.event_sentence(
                kind=e.kind,
                user=name(e.user),
                actor=name(e.actor),
                caller=caller,
                from_state=e.from_state,
                to_state=e.to_state,
                reason=e.reason,
            ),
        }
        for e in selectors.call_events(call=call)
    ]
    return render(
        request, "invitations/call_detail.html", {"row": _row(call, request.user, timezone.now()), "events": events}
    )
