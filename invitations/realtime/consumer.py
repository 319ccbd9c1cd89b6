"""WebSocket endpoint: authenticate, keep presence, run commands, forward events.

A socket from an app's page (accounts/auth.py) is accepted without a user and
must send its token first: `{"type": "auth", "token"}` within
CALL_SOCKET_AUTH_SECONDS, else it is closed with 4401.

Thin: every command runs from the shared command table (commands.py).
"""

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import ValidationError as PydanticValidationError

from invitations.accounts.auth import UNAUTHENTICATED, SocketRefused, first_frame_user
from invitations.calls import errors, payloads
from invitations.calls.errors import CallError
from invitations.realtime.hub import hub
from invitations.realtime.publish import presence_group_of, user_group
from invitations.realtime.web_process import (
    ensure_heartbeat,
    open_socket,
    run_in_db_thread,
    unregister_connection,
)
from invitations.web.commands import COMMANDS

logger = logging.getLogger(__name__)


class CallConsumer(AsyncWebsocketConsumer):
    """One WebSocket, a Channels consumer without a channel-layer channel of
    its own: frames from other operations come through the process's socket
    hub (realtime/hub.py: one Redis subscription per group per process, not a
    queue, subscription and task per socket). Messages are handled one at a
    time (channels' dispatch loop), and frames the hub delivers while one is
    handled wait until it is done, as they would in the layer's queue: hello
    and the waiting invitations come before any event, a command's result
    before the events it caused."""

    # No layer channel: with no layer named, channels' consumer asks for none.
    # The socket's name is the hub's.
    channel_layer_alias = None
    groups = ()  # channels' own group_add/discard loops: nothing (hub groups are `hub_groups`)
    # The socket's command bucket: class defaults until its first command (an idle socket
    # carries nothing more).
    _command_tokens: float | None = None
    _command_tokens_at = 0.0
    # A socket from an app's page before its `auth` frame: (origin, client address, query
    # string), and the timer that closes it (class defaults: nothing on other sockets).
    _waiting: tuple[str, str, bytes] | None = None
    _auth_timer: asyncio.Task | None = None

    def __init__(self) -> None:
        super().__init__()
        self.user: Any = None
        self.device_id = ""
        self.channel_name = ""
        self.hub_groups: tuple[str, ...] = ()
        self.registered = False
        self._held: list[str] | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        # channels' AsyncConsumer.__call__ for a consumer without a layer (it
        # sets scope, channel_layer and base_send, which send/accept/close
        # read), except that receive() is awaited directly. Channels has no
        # hook for the receive loop: its __call__ always runs
        # await_many_dispatch, which wraps every receive() in a task and an
        # asyncio.wait, about 3.7 KB more per idle socket (bench/connections.py,
        # 3,000 sockets). tests/realtime/test_consumer.py pins the attributes against
        # channels' own __call__.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        del scope
        try:
            while True:
                await self.dispatch(await receive())
        except StopConsumer:
            pass
        finally:  # however the socket ends (disconnect, 4429, cancelled): out of the hub
            if self.channel_name:
                hub().forget(self.channel_name, self.hub_groups)
            if self._auth_timer is not None:
                self._auth_timer.cancel()

    async def dispatch(self, message: dict) -> None:
        # channels' dispatch, without its `await aclose_old_connections()` (a
        # hop to the one shared sync thread) before every handler: channels has
        # no switch for it. Not needed here: no handler touches Django's
        # database connections on this thread or that one; all database work
        # runs through web_process.run_in_db_thread, which closes old
        # connections itself before and after each call in its pool thread.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def websocket_connect(self, message: dict) -> None:
        await self._holding_hub_frames(super().websocket_connect(message))

    async def websocket_receive(self, message: dict) -> None:
        await self._holding_hub_frames(super().websocket_receive(message))

    async def _holding_hub_frames(self, handling: Any) -> None:
        self._held = []
        try:
            await handling
        finally:
            held = self._held
            while held:  # frames delivered while these are written join the list
                texts = held[:]
                del held[:]
                for text in texts:
                    await self.send(text_data=text)
            self._held = None

    async def deliver(self, texts: list[str]) -> None:
        """Frames from the hub: now, or after the message being handled."""
        if self._held is not None:
            self._held.extend(texts)
            return
        for text in texts:
            await self.send(text_data=text)

    async def connect(self) -> None:
        scope = self.scope
        # Nothing of the handshake is kept while the socket idles: the dict is
        # this consumer's own (URLRouter's copy), and channels' frames keep it.
        self.scope = {}
        user = scope.get("user")
        query_string = scope.get("query_string", b"")
        app_origin, refusal = scope.get("app_origin"), scope.get("auth_refusal", UNAUTHENTICATED)
        address = scope.get("client_address", "")
        scope.clear()
        await self.accept()
        if app_origin is not None:  # an app's page: its token comes as the first frame
            self._waiting = (app_origin, address, query_string)
            self._auth_timer = asyncio.ensure_future(self._auth_timeout(settings.CALL_SOCKET_AUTH_SECONDS))
            return
        if user is None or not user.is_authenticated:
            await self.close(code=refusal)
            return
        await self._open(user, query_string)

    async def _open(self, user: Any, query_string: bytes) -> None:
        """The socket is the user's: join its groups, register it, send hello and what waits."""
        query = parse_qs(query_string.decode("latin-1"))
        device_id = (query.get("deviceID") or [""])[0]
        if len(device_id) > 128:
            await self.close(code=4400)
            return
        self.user = user
        self.device_id = device_id or f"dev-{secrets.token_hex(8)}"
        ensure_heartbeat()
        sockets = hub()
        self.channel_name = await sockets.add(self)
        self.hub_groups = (user_group(user.pk),)
        await sockets.join(self.hub_groups[0], self.channel_name)
        # Online (and waiting invitations Received) before hello: a client that
        # has its hello is reachable. Group frames wait until this handler ends.
        try:
            pending = await run_in_db_thread(open_socket)(user, self.device_id, self.channel_name)
        except CallError:  # CALL_MAX_SOCKETS_PER_USER open already
            sockets.forget(self.channel_name, self.hub_groups)
            self.channel_name, self.hub_groups = "", ()
            await self.close(code=4429)
            return
        self.registered = True
        await self._send(payloads.hello(user, self.device_id, int(time.time() * 1000)))
        for frame in pending:
            await self._send(frame)
        if "presence" in query:
            group = presence_group_of(user)
            self.hub_groups += (group,)
            await sockets.join(group, self.channel_name)

    async def _authenticate(self, text: Any) -> None:
        """The first frame of a waiting socket: the app token, or the socket is closed."""
        waiting, self._waiting = self._waiting, None
        if waiting is None:  # authenticated already
            return
        origin, address, query_string = waiting
        if self._auth_timer is not None:
            self._auth_timer.cancel()
        try:
            user = await run_in_db_thread(first_frame_user)(text, origin=origin, address=address)
        except SocketRefused as refusal:
            await self.close(code=refusal.code)
            return
        await self._open(user, query_string)

    async def _auth_timeout(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        if self._waiting is not None:
            self._waiting = None
            await self.close(code=UNAUTHENTICATED)

    async def websocket_disconnect(self, message: dict) -> None:
        # channels' version discards layer groups (there are none) and hops to
        # the sync thread for aclose_old_connections (see dispatch).
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        if self.channel_name:
            hub().forget(self.channel_name, self.hub_groups)
        if self.registered:
            await run_in_db_thread(unregister_connection)(self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
        if self._waiting is not None:
            await self._authenticate(raw)
            return
        size = len(raw.encode("utf-8", "surrogatepass")) if isinstance(raw, str) else len(raw or b"")
        if size > settings.CALL_MAX_FRAME_BYTES:  # bytes, not characters
            await self._send_error(None, CallError("invalid_argument", "frame too large"))
            await self.close(code=1009)
            return
        try:
            frame = json.loads(raw or "")
        except (ValueError, UnicodeDecodeError):
            await self._send_error(None, CallError("invalid_argument", "a frame must be one JSON object"))
            return
        if not isinstance(frame, dict):
            await self._send_error(None, CallError("invalid_argument", "a frame must be one JSON object"))
            return
        kind = frame.get("type")
        if kind == "ping":
            await self._send({"type": "pong"})
        elif kind == "cmd":
            await self._run_command(frame)
        else:
            await self._send_error(frame.get("id"), CallError("invalid_argument", f"unknown frame type {kind!r}"))

    def _take_command_token(self) -> bool:
        """A token bucket per socket (in this process: a socket lives in one):
        CALL_SOCKET_COMMANDS_PER_SECOND, bursts of CALL_SOCKET_COMMANDS_BURST."""
        rate = settings.CALL_SOCKET_COMMANDS_PER_SECOND
        if rate <= 0:
            return True
        burst = max(1, settings.CALL_SOCKET_COMMANDS_BURST)
        now = time.monotonic()
        if self._command_tokens is None:
            tokens = float(burst)
        else:
            tokens = min(burst, self._command_tokens + (now - self._command_tokens_at) * rate)
        self._command_tokens_at = now
        if tokens < 1:
            self._command_tokens = tokens
            return False
        self._command_tokens = tokens - 1
        return True

    async def _run_command(self, frame: dict[str, Any]) -> None:
        cmd_id = frame.get("id")
        if isinstance(cmd_id, bool) or not isinstance(cmd_id, (str, int)):
            cmd_id = None  # only a string or a number is echoed back
        if not self._take_command_token():
            await self._send_error(
                cmd_id,
                CallError(
                    "rate_limited",
                    f"at most {settings.CALL_SOCKET_COMMANDS_PER_SECOND:g} commands a second on a socket",
                ),
            )
            return
        name = frame.get("cmd")
        command = COMMANDS.get(name) if isinstance(name, str) else None
        if command is None:
            await self._send_error(cmd_id, CallError("invalid_argument", f"unknown command {name!r}"))
            return
        data = frame.get("data", {})
        try:
            body = command.ws_schema.model_validate(data if data is not None else {})
        except PydanticValidationError as exc:
            await self._send_error(cmd_id, errors.invalid_argument(exc.errors()))
            return
        try:
            result = await run_in_db_thread(command.run)(user=self.user, device_id=self.device_id, body=body)
        except CallError as exc:
            await self._send_error(cmd_id, exc)
            return
        except Exception:  # a bug must not cost the user their socket
            logger.exception("command %s failed", frame.get("cmd"))
            await self._send(
                {
                    "type": "result",
                    "id": cmd_id,
                    "ok": False,
                    "error": {"code": None, "reason": "internal_error", "message": "Unexpected server error."},
                }
            )
            return
        await self._send({"type": "result", "id": cmd_id, "ok": True, "data": result})

    async def _send(self, frame: Mapping[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _send_error(self, cmd_id: Any, error: CallError) -> None:
        await self._send({"type": "result", "id": cmd_id, "ok": False, "error": error.as_dict()})
