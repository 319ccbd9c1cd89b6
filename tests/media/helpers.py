"""Helpers of the media tests: calls with Accepted members, a page's side of Janus (a
session that joins the room with its token, as the page does: display = userID), the
room as Janus sees it, and the room tasks done as the worker does them."""

from __future__ import annotations

from contextlib import contextmanager

import pytest

from invitations.calls import actions
from invitations.calls.states import CallMode
from invitations.media import rooms, sessions
from invitations.media.sfu import VIDEOROOM, JanusError, JanusSession
from invitations.models import MediaRoom, MediaTask, OutboxStatus
from invitations.worker import jobs
from tests.calls.helpers import invite


def call_with(caller, *accepting, pending=(), mode: int = CallMode.ADVANCED) -> str:
    """A call of `caller` in which `accepting` accepted (each from device "<name>1")."""
    call_id = invite(caller, *accepting, *pending, mode=mode, device_id=f"{caller.username}1")
    for user in accepting:
        actions.call_accept(user=user, call_id=call_id, device_id=f"{user.username}1")
    return call_id


def ask(user, call_id: str, device: str | None = None) -> dict:
    """queryMediaSession from the user's call device (its "<name>1" unless said)."""
    return sessions.media_session_query(user=user, device_id=device or f"{user.username}1", call_id=call_id)


class Page:
    """A member's page on Janus, without media: a session, a VideoRoom handle, a publisher
    join with the token (the VideoRoom checks the allowed list at join)."""

    def __init__(self, access: dict, display: str) -> None:
        self.session = JanusSession(access["url"], access["token"], timeout=5).open()
        try:
            handle = self.session.attach(VIDEOROOM)
            self.joined = self.session.plugin_request(
                handle,
                {
                    "request": "join",
                    "ptype": "publisher",
                    "room": access["room"],
                    "display": display,
                    "token": access["token"],
                },
                asynchronous=True,
            )
        except BaseException:
            self.session.close()
            raise

    @property
    def participant_id(self) -> int:
        return self.joined["id"]

    def told(self, what: str) -> dict:
        """The VideoRoom event telling this page it was kicked ("kicked") or the room destroyed ("destroyed")."""

        def matches(event: dict) -> bool:
            data = event.get("plugindata", {}).get("data", {})
            return data.get("reason") == "kicked" if what == "kicked" else data.get("videoroom") == what

        return self.session.next_event(matches)["plugindata"]["data"]

    def close(self) -> None:
        self.session.close()


@contextmanager
def pages():
    """Pages opened inside are closed at the end."""
    opened: list[Page] = []

    def open_page(access: dict, display: str) -> Page:
        page = Page(access, display)
        opened.append(page)
        return page

    try:
        yield open_page
    finally:
        for page in opened:
            page.close()


def join_refused(access: dict, display: str) -> JanusError:
    """A join with this token is refused by Janus: the error it answered."""
    with pytest.raises(JanusError) as refused:
        Page(access, display).close()
    return refused.value


def displays(room: MediaRoom) -> list[str]:
    """Who Janus lists in the room, by display."""
    with rooms.video_rooms(room.server_url) as janus:
        return sorted(p["display"] for p in janus.participants(room.room))


def room_of(call_id: str) -> MediaRoom:
    return MediaRoom.objects.get(call__call_id=call_id, closed_at__isnull=True)


def do_media_tasks() -> list[str]:
    """Every pending room task, done as the worker's job does it; what each answered."""
    pending = MediaTask.objects.filter(status=OutboxStatus.PENDING).order_by("pk").values_list("pk", flat=True)
    return [jobs.media_task_deliver(pk) for pk in pending]
