"""WebSocket endpoint: authenticate, keep presence, run commands, forward events.

Thin: every command runs from the shared command table (commands.py).
"""
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings
from pydantic import ValidationError as PydanticValidationError

from . import errors, payloads
from .commands import COMMANDS
from .errors import CallError
from .events import PRESENCE_GROUP, user_group
from .socket_hub import hub
from .web_process import ensure_heartbeat, open_socket, run_in_db_thread, unregister_connection

logger = logging.getLogger(__name__)


class CallConsumer:
    """One WebSocket: an ASGI application instance of its own (not channels'
    consumer: no channel-layer channel, queue and task per socket, no thread
    hop per message; frames from other operations come through the process's
    socket hub). Messages are handled one at a time, and frames the hub
    delivers while one is handled wait until it is done, as with channels'
    consumer: hello and the waiting invitations come before any event, a
    command's result before the events it caused."""

    __slots__ = ("base_send", "user", "device_id", "channel_name", "groups", "registered", "_held")

    @classmethod
    def as_asgi(cls) -> Any:
        async def app(scope: dict, receive: Any, send: Any) -> None:
            running = cls()(scope, receive, send)
            del scope  # this frame lives as long as the socket; the scope need not
            await running

        app.consumer_class = cls  # type: ignore[attr-defined]
        return app

    def __init__(self) -> None:
        self.user: Any = None
        self.device_id = ""
        self.channel_name = ""
        self.groups: tuple[str, ...] = ()
        self.registered = False
        self._held: list[str] | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.base_send = send
        try:
            while True:
                message = await receive()
                kind = message.get("type")
                self._held = []
                try:
                    if kind == "websocket.receive":
                        text = message.get("text")
                        await self.receive(text_data=text,
                                           bytes_data=None if text is not None else message.get("bytes"))
                    elif kind == "websocket.connect":
                        await self.connect(scope)
                        scope = {}  # nothing of the handshake is kept while the socket idles
                    elif kind == "websocket.disconnect":
                        await self.disconnect(message.get("code", 1000))
                        return
                finally:
                    await self._flush()
        finally:
            if self.channel_name:
                hub().forget(self.channel_name, self.groups)

    async def _flush(self) -> None:
        held = self._held
        while held:  # frames delivered while these are written join the list
            texts = held[:]
            del held[:]
            for text in texts:
                await self.base_send({"type": "websocket.send", "text": text})
        self._held = None

    async def deliver(self, texts: list[str]) -> None:
        """Frames from the hub: now, or after the message being handled."""
        if self._held is not None:
            self._held.extend(texts)
            return
        for text in texts:
            await self.base_send({"type": "websocket.send", "text": text})

    async def connect(self, scope: dict) -> None:
        await self.base_send({"type": "websocket.accept", "subprotocol": None})
        user = scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        device_id = (query.get("deviceID") or [""])[0]
        if len(device_id) > 128:
            await self.close(code=4400)
            return
        self.user = user
        self.device_id = device_id or f"dev-{secrets.token_hex(8)}"
        ensure_heartbeat()
        sockets = hub()
        self.channel_name = await sockets.add(self)
        self.groups = (user_group(user.pk),)
        await sockets.join(self.groups[0], self.channel_name)
        # Online (and waiting invitations Received) before hello: a client that
        # has its hello is reachable. Group frames wait until this handler ends.
        try:
            pending = await run_in_db_thread(open_socket)(user, self.device_id, self.channel_name)
        except CallError:  # CALL_MAX_SOCKETS_PER_USER open already
            sockets.forget(self.channel_name, self.groups)
            self.channel_name, self.groups = "", ()
            await self.close(code=4429)
            return
        self.registered = True
        await self._send(payloads.hello(user.username, self.device_id, int(time.time() * 1000)))
        for frame in pending:
            await self._send(frame)
        if "presence" in query:
            self.groups += (PRESENCE_GROUP,)
            await sockets.join(PRESENCE_GROUP, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.channel_name:
            hub().forget(self.channel_name, self.groups)
        if self.registered:
            await run_in_db_thread(unregister_connection)(self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data if text_data is not None else bytes_data
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

    async def _run_command(self, frame: dict[str, Any]) -> None:
        cmd_id = frame.get("id")
        if isinstance(cmd_id, bool) or not isinstance(cmd_id, (str, int)):
            cmd_id = None  # only a string or a number is echoed back
        command = COMMANDS.get(frame.get("cmd")) if isinstance(frame.get("cmd"), str) else None
        if command is None:
            await self._send_error(cmd_id, CallError("invalid_argument", f"unknown command {frame.get('cmd')!r}"))
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
            await self._send({"type": "result", "id": cmd_id, "ok": False, "error": {
                "code": None, "reason": "internal_error", "message": "Unexpected server error."}})
            return
        await self._send({"type": "result", "id": cmd_id, "ok": True, "data": result})

    async def close(self, code: int) -> None:
        await self.base_send({"type": "websocket.close", "code": code})

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.base_send({"type": "websocket.send", "text": json.dumps(frame, separators=(",", ":"))})

    async def _send_error(self, cmd_id: Any, error: CallError) -> None:
        await self._send({"type": "result", "id": cmd_id, "ok": False, "error": error.as_dict()})

