"""Do not disturb (PROTOCOL "Do not disturb"): a user's status, set and read.

A `dnd` with an `until` ends by itself: the status is read against the clock
(Python's, so a test can move it), and past `until` it reads available; no job
has to run at that moment. The invitation path reads the same rule in SQL
(calls/reads.py, the invitee facts) to make `silent` invitations and skip pushes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import User
from django.utils import timezone
from pydantic import ConfigDict, with_config
from typing_extensions import TypedDict

from invitations.calls.payloads import ms
from invitations.models import UserStatus


@with_config(ConfigDict(extra="forbid", strict=True))
class StatusAnswer(TypedDict):
    """setUserStatus's and queryUserStatus's answer: `until` in ms, None when there is none."""

    status: str
    until: int | None


def status_answer(status: str, until: datetime | None) -> StatusAnswer:
    return StatusAnswer(status=status, until=ms(until) if until else None)


AVAILABLE = status_answer(UserStatus.AVAILABLE, None)


def in_dnd(status: str, until: datetime | None, now: datetime) -> bool:
    """The one rule: dnd, and its `until` (if any) not reached yet."""
    return status == UserStatus.DND and (until is None or until > now)


def user_status_get(*, user: User) -> StatusAnswer:
    """The user's status now: available once a dnd's `until` has passed."""
    row = UserStatus.objects.filter(user=user).values_list("status", "until").first()
    if row is None or not in_dnd(*row, timezone.now()):
        return AVAILABLE
    return status_answer(*row)


def user_in_dnd(*, user: User) -> bool:
    return user_status_get(user=user)["status"] == UserStatus.DND


def user_status_set(*, user: User, status: str, until: int | None = None) -> StatusAnswer:
    """Set the user's status (`until` in ms; only a dnd has one) and answer it as it reads now:
    a dnd whose `until` has already passed answers available."""
    until_at = datetime.fromtimestamp(until / 1000, tz=UTC) if status == UserStatus.DND and until is not None else None
    now = timezone.now()
    UserStatus.objects.update_or_create(user=user, defaults={"status": status, "until": until_at, "updated_at": now})
    return status_answer(status, until_at) if in_dnd(status, until_at, now) else AVAILABLE
