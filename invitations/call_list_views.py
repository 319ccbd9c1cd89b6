"""The invitation-list pages: /calls/ (a user's calls, paged) and /calls/<callID>/ (timeline).

Thin: parse the query string, read through the command table's reads (which
expire what is overdue first, so a page never shows a pending invitee whose
deadline has passed), render. Presentation helpers (the call type) live here.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from . import commands, selectors
from .errors import CallError
from .states import CallMode, CallState, state_label

DEFAULT_COUNT = 20
# Digits only, and short enough for a 64-bit id column (a longer nextFlag
# would make PostgreSQL fail instead of answering an empty page).
_NUMBER = re.compile(r"[0-9]{1,18}")
STATE_FILTERS = {"ongoing": CallState.STARTED, "ended": CallState.ENDED}


class BadQuery(ValueError):
    """A query-string value the page cannot use; its text is shown to the user."""


@dataclass(frozen=True)
class ListQuery:
    count: int
    next_flag: int
    state: str
    role: str

    def filters(self) -> dict[str, str]:
        return {k: v for k, v in (("state", self.state), ("role", self.role)) if v}


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
        raise BadQuery("“role” must be “caller” or “invitee”.")
    return ListQuery(count=min(count, selectors.MAX_PAGE), next_flag=int(raw_flag or 0), state=state, role=role)


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
        {"username": m.user.username, "state": m.state, "label": state_label(m.state),
         "css": state_label(m.state).lower(), "reason": m.reason, "is_caller": m.user_id == call.caller_id}
        for m in call.members.all()
    ]


def _row(call: Any) -> dict[str, Any]:
    return {
        "call": call,
        "mode": CallMode(call.mode).name.title(),
        "state": CallState(call.state).name.title(),
        "ongoing": call.state == CallState.STARTED,
        "type": call_type(call.extended_data),
        "members": _members(call),
    }


@login_required
def call_list(request: HttpRequest) -> HttpResponse:
    try:
        query = parse_list_query(request.GET)
    except BadQuery as exc:
        return render(request, "invitations/call_list_error.html", {"message": str(exc)}, status=400)
    calls, next_flag = commands.fresh_call_page(
        user=request.user, count=query.count, next_flag=query.next_flag,
        state=STATE_FILTERS.get(query.state), role=query.role or None,
    )
    base = {"count": query.count} if query.count != DEFAULT_COUNT else {}
    context = {
        "rows": [_row(c) for c in calls],
        "query": query,
        "next_flag": next_flag,
        "next_url": "?" + urlencode({**query.filters(), **base, "nextFlag": next_flag}) if next_flag else "",
        "first_url": "?" + urlencode({**query.filters(), **base}) if query.next_flag else "",
        "filter_links": _filter_links(query, base),
    }
    return render(request, "invitations/call_list.html", context)


def _filter_links(query: ListQuery, base: dict[str, Any]) -> list[dict[str, Any]]:
    """The filter bar: each choice restarts from the first page and keeps the other filter."""
    links = []
    for key, choices in (("state", ("", "ongoing", "ended")), ("role", ("", "caller", "invitee"))):
        for value in choices:
            params = {**query.filters(), **base}
            params.pop(key, None)
            if value:
                params[key] = value
            label = {"": "All", "caller": "As caller", "invitee": "As invitee"}.get(value, value.title())
            links.append({"group": key, "label": label, "url": "?" + urlencode(params),
                          "active": getattr(query, key) == value})
    return links


@login_required
def call_detail(request: HttpRequest, call_id: str) -> HttpResponse:
    try:
        call = commands.fresh_call(user=request.user, call_id=call_id)
    except CallError:
        raise Http404("No such call") from None
    events = [
        {"event": e, "from": state_label(e.from_state), "to": state_label(e.to_state),
         "css": "ended" if e.kind == "call_ended" else state_label(e.to_state).lower()}
        for e in selectors.call_events(call=call)
    ]
    return render(request, "invitations/call_detail.html", {"row": _row(call), "events": events})
