"""What the server-rendered pages (/calls/, /calls/<callID>/) say about calls, in a person's words.

The one place for these sentences: each is a whole sentence with named
placeholders, wrapped in gettext, so that a translation (Django i18n) replaces
them here and nowhere else. The call page's twin is static/js/call/words.js.
"""

from __future__ import annotations

from typing import Any

from django.utils.dateformat import format as date_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from invitations.calls.states import PENDING, CallMode, CallState
from invitations.calls.states import CallUserState as S

ANSWERED = frozenset({S.ACCEPTED, S.QUIT})


def state_word(state: int, reason: str = "") -> str:
    """A member's state as a short badge: "Ringing", "Declined", "Busy", "No answer"."""
    if state == S.REJECTED and reason == "busy":
        return _("Busy")
    if state == S.QUIT and reason == "offline":
        return _("Went offline")
    words: dict[int, str] = {
        S.UNKNOWN: _("Not invited"),
        S.INVITING: _("Calling"),
        S.RECEIVED: _("Ringing"),
        S.NOT_YET_RECEIVED: _("May be offline"),
        S.ACCEPTED: _("Answered"),
        S.REJECTED: _("Declined"),
        S.CANCELLED: _("Cancelled"),
        S.TIMEOUT: _("No answer"),
        S.QUIT: _("Left"),
    }
    return words.get(state, _("Unknown"))


def state_css(state: int | None) -> str:
    """The badge's colour class: the PROTOCOL name in lower case (accepted, rejected, ...);
    "unknown" for none (an event that changed no state) or a number PROTOCOL does not name."""
    if state is None:
        return "unknown"
    try:
        return S(state).name.replace("_", "").lower()
    except ValueError:
        return "unknown"


def member_sentence(name: str, state: int, reason: str = "") -> str:
    """What happened to one invitee: "bob declined", "bob was busy", "bob did not answer"."""
    if state in ANSWERED:
        return _("%(name)s answered") % {"name": name}
    if state == S.REJECTED:
        return (_("%(name)s was busy") if reason == "busy" else _("%(name)s declined")) % {"name": name}
    if state == S.TIMEOUT:
        return _("%(name)s did not answer") % {"name": name}
    if state == S.CANCELLED:
        return _("%(name)s was not rung any more") % {"name": name}
    if state in PENDING:
        return _("%(name)s is being called") % {"name": name}
    return _("%(name)s was not reached") % {"name": name}


def names(people: list[str]) -> str:
    """ "bob", "bob and carol", "bob, carol and dave"."""
    if len(people) <= 1:
        return "".join(people)
    return _("%(first)s and %(last)s") % {"first": ", ".join(people[:-1]), "last": people[-1]}


def direction(*, is_caller: bool, missed: bool, kind: str) -> str:
    """ "Outgoing video call", "Incoming voice call", "Missed video call"."""
    kind = kind if kind in ("voice", "video") else ""
    if missed:
        return {"voice": _("Missed voice call"), "video": _("Missed video call")}.get(kind, _("Missed call"))
    if is_caller:
        return {"voice": _("Outgoing voice call"), "video": _("Outgoing video call")}.get(kind, _("Outgoing call"))
    return {"voice": _("Incoming voice call"), "video": _("Incoming video call")}.get(kind, _("Incoming call"))


def is_missed(*, is_caller: bool, my_state: int | None) -> bool:
    """An invitation to me that I never answered: it timed out, or the caller gave up."""
    return not is_caller and my_state in (S.TIMEOUT, S.CANCELLED)


def outcome(*, call: Any, me: Any, caller: str, members: list[Any]) -> str:
    """How the call went, from my side: "bob answered", "You cancelled", "alice cancelled before you answered"."""
    mine = next((m for m in members if m.user_id == me.pk), None)
    invitees = [m for m in members if m.user_id != call.caller_id]
    answered = [m.user.get_username() for m in invitees if m.state in ANSWERED]
    if call.state == CallState.STARTED and any(m.state in PENDING for m in invitees) and not answered:
        return _("Ringing")
    if call.caller_id != me.pk:
        state, reason = (mine.state, mine.reason) if mine else (S.UNKNOWN, "")
        if state in ANSWERED:
            return _("You answered")
        if state == S.REJECTED:
            return _("You were busy") if reason == "busy" else _("You declined")
        if state == S.TIMEOUT:
            return _("You did not answer")
        if state == S.CANCELLED:
            if reason == "caller_offline":
                return _("%(caller)s went offline before you answered") % {"caller": caller}
            return _("%(caller)s cancelled before you answered") % {"caller": caller}
        if state in PENDING:
            return _("Ringing")
        return _("You were not reached")
    if answered:
        return _("%(names)s answered") % {"names": names(answered)}
    if invitees and all(m.state == S.CANCELLED for m in invitees):
        if all(m.reason == "caller_offline" for m in invitees):
            return _("Cancelled: you went offline")
        return _("You cancelled")
    told = [member_sentence(m.user.get_username(), m.state, m.reason) for m in invitees if m.state != S.CANCELLED]
    return _("Nobody answered: %(what)s") % {"what": ", ".join(told)} if told else _("Nobody answered")


def duration_known(call: Any) -> bool:
    """Only an advanced call lasts after the answers and ends by a member: its length is real.
    A general call is over for the server once everyone answered (the talk goes on in the pages)."""
    return call.mode == CallMode.ADVANCED


def event_sentence(
    *, kind: str, user: str, actor: str, caller: str, from_state: int | None, to_state: int | None, reason: str
) -> str:
    """One line of a call's timeline: "alice called bob", "The invitation reached bob", "bob declined"."""
    if kind == "call_ended":
        return _("%(actor)s ended the call") % {"actor": actor} if actor else _("The call ended")
    p = {"user": user, "actor": actor}
    if to_state == S.INVITING:
        return _("%(actor)s called %(user)s") % p if actor else _("%(user)s was called") % p
    if to_state == S.RECEIVED:
        return _("The invitation reached %(user)s: ringing") % p
    if to_state == S.NOT_YET_RECEIVED:
        return _("The invitation has not reached %(user)s yet: may be offline") % p
    if to_state == S.ACCEPTED:
        if reason == "device_moved":
            return _("%(user)s moved the call to another device") % p
        if user == caller and from_state in (None, S.UNKNOWN):
            return _("%(user)s started the call") % p
        return _("%(user)s answered") % p if from_state in PENDING else _("%(user)s joined") % p
    if to_state == S.REJECTED:
        return (_("%(user)s was busy") if reason == "busy" else _("%(user)s declined")) % p
    if to_state == S.CANCELLED:
        if reason == "caller_offline":
            return _("%(user)s was not rung any more: the caller went offline") % p
        if actor:
            return _("%(actor)s cancelled the call to %(user)s") % p
        return _("The call to %(user)s was cancelled") % p
    if to_state == S.TIMEOUT:
        return _("%(user)s did not answer in time") % p
    if to_state == S.QUIT:
        if reason == "offline":
            return _("%(user)s went offline and left the call") % p
        return _("%(user)s left the call") % p
    return _("%(user)s: %(state)s") % {**p, "state": state_word(to_state if to_state is not None else S.UNKNOWN)}


def today_at(clock: str) -> str:
    return _("Today %(time)s") % {"time": clock}


def yesterday_at(clock: str) -> str:
    return _("Yesterday %(time)s") % {"time": clock}


def day_at(day: str, clock: str) -> str:
    return _("%(day)s %(time)s") % {"day": day, "time": clock}


def day_of(moment: Any, *, with_year: bool) -> str:
    """ "3 Dec", "3 Dec 2025" in English; "12月3日", "2025年12月3日" in Chinese."""
    if with_year:
        return date_format(moment, pgettext("a day with its year, as Django's date format", "j M Y"))
    return date_format(moment, pgettext("a day of this year, as Django's date format", "j M"))


def going_on() -> str:
    return _("Going on now")


def call_back_label(people: str) -> str:
    return _("Call %(names)s back") % {"names": people}


def show_label(show: str) -> str:
    return {
        "": _("All"),
        "missed": _("Missed"),
        "incoming": _("Incoming"),
        "outgoing": _("Outgoing"),
        "group": _("Group calls"),
    }[show]


def total(count: int, *, more: bool, show: str) -> str:
    """ "57 calls", "3 missed calls", "At least 1000 calls"."""
    if more:
        return _("At least %(count)s calls") % {"count": count}
    if show == "missed":
        return ngettext("%(count)s missed call", "%(count)s missed calls", count) % {"count": count}
    return ngettext("%(count)s call", "%(count)s calls", count) % {"count": count}


def empty_list(*, first_page: bool, filtered: bool) -> str:
    if not first_page:
        return _("No more calls.")
    return _("No calls match these filters.") if filtered else _("You have no calls yet.")
