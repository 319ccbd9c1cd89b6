"""Janus (its VideoRoom plugin) as the site drives it, over Janus's WebSocket API.

Signed tokens (`token_auth_secret`): `expiry,janus,plugin[,descriptor...]:signature`,
the signature base64(HMAC-SHA1(secret, text)). Janus checks one on every request of
a session, keepalives included, and only its signature, expiry and plugins: which
room a token may join is the VideoRoom's `allowed` list of each room.

The client is synchronous (`websockets.sync.client`): its callers are synchronous
(Django views, the command table in a socket's worker thread, RQ jobs and the
delivery threads of the worker), and each conversation is a few requests one after
another. asyncio.run per request would build an event loop per call and cannot run
in a thread whose loop is already running. Every wait is bounded: each request by
`timeout`, a whole conversation by `deadline` (time.monotonic()).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from typing import Any

from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.sync.client import ClientConnection, connect

VIDEOROOM = "janus.plugin.videoroom"
REALM = "janus"  # the core checks tokens against this realm
PROTOCOL = "janus-protocol"
SITE_TOKEN_SECONDS = 120  # the site's own session token: one conversation
_TOKEN_PART = re.compile(r"^[^,:]+$")  # the token text is split on "," and ":"


class JanusError(Exception):
    """A Janus core or VideoRoom error answer."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class JanusUnauthorized(JanusError):
    """A bad, expired or foreign token (core 403, 405), or a token or secret the room refuses (433)."""


class JanusNoSuchRoom(JanusError):
    pass


class JanusRoomExists(JanusError):
    pass


class JanusNoSuchParticipant(JanusError):
    pass


class JanusUnavailable(Exception):
    """The server could not be reached, closed the socket, or did not answer in time."""


_ERRORS_BY_CODE = {
    403: JanusUnauthorized,  # core: token missing, badly signed or expired
    405: JanusUnauthorized,  # core: the token does not name the plugin
    433: JanusUnauthorized,  # VideoRoom: not in the allowed list, wrong secret or admin_key
    426: JanusNoSuchRoom,
    427: JanusRoomExists,
    428: JanusNoSuchParticipant,
}


def janus_error(code: int, reason: str) -> JanusError:
    return _ERRORS_BY_CODE.get(code, JanusError)(code, reason)


# --- tokens ---------------------------------------------------------------------------------------


def sign_token(
    secret: str, expires_at: int, *, plugins: Iterable[str] = (VIDEOROOM,), descriptors: Iterable[str] = ()
) -> str:
    """A Janus signed token valid until `expires_at` (unix seconds). Descriptors are signed
    and ignored by Janus: they make each token unique, so removing one removes only it."""
    parts = [str(int(expires_at)), REALM, *plugins, *descriptors]
    for part in parts[2:]:
        if not _TOKEN_PART.match(part):
            raise ValueError(f"a token part may not be empty or hold ',' or ':': {part!r}")
    text = ",".join(parts)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return f"{text}:{base64.b64encode(digest).decode()}"


def member_token(secret: str, expires_at: int, *, room: int, user_id: str) -> str:
    """A token for one member of one room, unique per issue."""
    user_part = hashlib.sha256(user_id.encode()).hexdigest()[:16]  # the userID itself may hold ',' or ':'
    return sign_token(
        secret, expires_at, descriptors=(f"room={room}", f"user={user_part}", f"n={secrets.token_hex(6)}")
    )


# --- one session --------------------------------------------------------------------------------


class JanusSession:
    """One WebSocket and one Janus session; requests matched to answers by transaction.
    Messages that answer nothing asked (plugin events) are kept in `events`."""

    def __init__(self, url: str, token: str, *, timeout: float, deadline: float | None = None) -> None:
        self.url = url
        self.token = token
        self.timeout = timeout
        self.deadline = deadline
        self.session_id: int | None = None
        self.events: list[dict[str, Any]] = []
        self._ws: ClientConnection | None = None
        self._socket = ExitStack()  # the connection, closed with the session
        self._transactions = itertools.count(1)

    def _wait(self) -> float:
        left = self.timeout if self.deadline is None else min(self.timeout, self.deadline - time.monotonic())
        if left <= 0:
            raise JanusUnavailable(f"{self.url}: out of time")
        return left

    def open(self) -> JanusSession:
        try:
            # proxy=None: a Janus is reached directly, whatever the environment's proxy says
            self._ws = self._socket.enter_context(
                connect(self.url, subprotocols=[PROTOCOL], open_timeout=self._wait(), proxy=None, close_timeout=1)
            )
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise JanusUnavailable(f"cannot reach {self.url}: {exc}") from exc
        try:
            self.session_id = self.request({"janus": "create"})["data"]["id"]
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._ws is None:
            return
        if self.session_id is not None:
            try:  # closing the socket ends the session too; this says so at once
                self._ws.send(
                    json.dumps(
                        {"janus": "destroy", "transaction": "bye", "token": self.token, "session_id": self.session_id}
                    )
                )
            except (ConnectionClosed, OSError):
                pass
        self._ws = None
        self._socket.close()

    def __enter__(self) -> JanusSession:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self, body: dict[str, Any], *, handle_id: int | None = None, wait_for_event: bool = False
    ) -> dict[str, Any]:
        """Send one request; its `success` answer (or, with wait_for_event, its `event`)."""
        assert self._ws is not None, "open() first"
        transaction = f"t{next(self._transactions)}-{secrets.token_hex(4)}"
        message = {**body, "transaction": transaction, "token": self.token}
        if self.session_id is not None and body["janus"] != "create":
            message["session_id"] = self.session_id
        if handle_id is not None:
            message["handle_id"] = handle_id
        try:
            self._ws.send(json.dumps(message))
            while True:
                answer = json.loads(self._ws.recv(timeout=self._wait()))
                if answer.get("transaction") != transaction:
                    if answer.get("janus") != "ack":
                        self.events.append(answer)
                    continue
                if answer.get("janus") == "error":
                    error = answer.get("error", {})
                    raise janus_error(error.get("code", 0), error.get("reason", ""))
                if answer.get("janus") == "ack" and wait_for_event:
                    continue  # the plugin answers later, with an `event` of this transaction
                return answer
        except TimeoutError as exc:
            raise JanusUnavailable(f"{self.url}: no answer to {body.get('janus')}") from exc
        except (ConnectionClosed, OSError) as exc:
            raise JanusUnavailable(f"{self.url}: connection lost") from exc

    def attach(self, plugin: str = VIDEOROOM) -> int:
        return self.request({"janus": "attach", "plugin": plugin})["data"]["id"]

    def plugin_request(self, handle_id: int, body: dict[str, Any], *, asynchronous: bool = False) -> dict[str, Any]:
        """A plugin message; its plugindata.data, a plugin error raised."""
        answer = self.request({"janus": "message", "body": body}, handle_id=handle_id, wait_for_event=asynchronous)
        data = answer.get("plugindata", {}).get("data", {})
        if "error_code" in data:
            raise janus_error(data["error_code"], data.get("error", ""))
        return data

    def next_event(self, matches: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first event (kept or arriving) that `matches`; JanusUnavailable when none comes in time."""
        assert self._ws is not None, "open() first"
        while True:
            for event in self.events:
                if matches(event):
                    self.events.remove(event)
                    return event
            try:
                self.events.append(json.loads(self._ws.recv(timeout=self._wait())))
            except TimeoutError as exc:
                raise JanusUnavailable(f"{self.url}: no such event came") from exc
            except (ConnectionClosed, OSError) as exc:
                raise JanusUnavailable(f"{self.url}: connection lost") from exc


def server_info(url: str, *, timeout: float) -> dict[str, Any]:
    """The server's `info` (it needs no token): a check that it answers."""
    try:
        with connect(url, subprotocols=[PROTOCOL], open_timeout=timeout, proxy=None, close_timeout=1) as ws:
            ws.send(json.dumps({"janus": "info", "transaction": "check"}))
            answer = json.loads(ws.recv(timeout=timeout))
    except (OSError, TimeoutError, WebSocketException, ValueError) as exc:
        raise JanusUnavailable(f"{url}: {exc}") from exc
    if answer.get("janus") != "server_info":
        raise JanusUnavailable(f"{url}: answered {str(answer)[:200]}")
    return answer


# --- the site's VideoRoom work --------------------------------------------------------------------


class VideoRooms:
    """The site's handle on one Janus's VideoRoom: create rooms, allow and remove tokens,
    kick, destroy. One per piece of work: `with VideoRooms(url, ...) as rooms:`."""

    def __init__(
        self, url: str, *, token_secret: str, admin_key: str, timeout: float, deadline: float | None = None
    ) -> None:
        self.url = url
        self.admin_key = admin_key
        token = sign_token(token_secret, int(time.time()) + SITE_TOKEN_SECONDS, descriptors=("site",))
        self.session = JanusSession(url, token, timeout=timeout, deadline=deadline)
        self.handle_id = 0

    def __enter__(self) -> VideoRooms:
        self.session.open()
        try:
            self.handle_id = self.session.attach(VIDEOROOM)
        except BaseException:
            self.session.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def _call(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.session.plugin_request(self.handle_id, body)

    def create(self, room: int, secret: str, allowed: Iterable[str], *, publishers: int) -> None:
        """A temporary room that only `allowed` tokens may join. A subscription must name the
        private_id of a participant of the room (require_pvtid), so a kicked member cannot
        keep or start receiving anyone's media."""
        self._call(
            {
                "request": "create",
                "admin_key": self.admin_key,
                "room": room,
                "permanent": False,
                "is_private": True,
                "description": "call",
                "secret": secret,
                "publishers": publishers,
                "allowed": list(allowed),
                "require_pvtid": True,
                "audiocodec": "opus",
                "videocodec": "vp8,h264",
            }
        )

    def allow(self, room: int, secret: str, tokens: Iterable[str]) -> None:
        self._call({"request": "allowed", "room": room, "secret": secret, "action": "add", "allowed": list(tokens)})

    def disallow(self, room: int, secret: str, tokens: Iterable[str]) -> None:
        self._call({"request": "allowed", "room": room, "secret": secret, "action": "remove", "allowed": list(tokens)})

    def allowed(self, room: int, secret: str) -> list[str]:
        """The room's allowed list (an `add` of nothing answers it)."""
        answer = self._call({"request": "allowed", "room": room, "secret": secret, "action": "add", "allowed": []})
        return answer.get("allowed", [])

    def participants(self, room: int) -> list[dict[str, Any]]:
        """[{id, display, publisher, ...}] of everyone joined (pages join with display = userID)."""
        return self._call({"request": "listparticipants", "room": room})["participants"]

    def kick(self, room: int, secret: str, participant_id: int) -> bool:
        """Kick one participant (its subscriptions end with it); False if it had left."""
        try:
            self._call({"request": "kick", "room": room, "secret": secret, "id": participant_id})
        except JanusNoSuchParticipant:
            return False
        return True

    def kick_where(self, room: int, secret: str, kick: Callable[[str], bool]) -> list[int]:
        """Kick each participant whose display `kick(display)` names; the ids kicked."""
        return [
            p["id"]
            for p in self.participants(room)
            if kick(p.get("display") or "") and self.kick(room, secret, p["id"])
        ]

    def destroy(self, room: int, secret: str) -> bool:
        """Destroy the room (its participants are told); False if it was already gone."""
        try:
            self._call({"request": "destroy", "room": room, "secret": secret, "permanent": False})
        except JanusNoSuchRoom:
            return False
        return True
