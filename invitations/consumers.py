"""WebSocket endpoint: authenticate, keep presence, run commands, forward events.

Thin: every command runs from the shared command table (commands.py).
"""
import json
import logging
import secrets
import time
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from pydantic import ValidationError as PydanticValidationError

from . import errors, payloads, selectors, services
from .commands import COMMANDS
from .errors import CallError
from .events import PRESENCE_GROUP, user_group
from .web_process import ensure_heartbeat, register_connection, run_in_db_thread

logger = logging.getLogger(__name__)


class CallConsumer(AsyncWebsocketConsumer):
    user: Any = None
    device_id = ""
    registered = False

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        device_id = (query.get("deviceID") or [""])[0]
        if len(device_id) > 128:
            await self.close(code=4400)
            return
        self.user = user
        self.device_id = device_id or f"dev-{secrets.token_hex(8)}"
        ensure_heartbeat()
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        # Online (and waiting invitations Received) before hello: a client that
        # has its hello is reachable. Group frames queue until this handler ends.
        waiting = await run_in_db_thread(register_connection)(user, self.device_id, self.channel_name)
        self.registered = True
        await self._send(payloads.hello(user.username, self.device_id, int(time.time() * 1000)))
        for frame in waiting:
            await self._send(frame)
        if "presence" in query:
            await self.channel_layer.group_add(PRESENCE_GROUP, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if not self.registered:
            return
        await self.channel_layer.group_discard(user_group(self.user.pk), self.channel_name)
        await self.channel_layer.group_discard(PRESENCE_GROUP, self.channel_name)
        await run_in_db_thread(services.connection_close)(channel_name=self.channel_name)

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

    async def call_frames(self, message: dict[str, Any]) -> None:
        for text in message["texts"]:
            await self.send(text_data=text)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def _send_error(self, cmd_id: Any, error: CallError) -> None:
        await self._send({"type": "result", "id": cmd_id, "ok": False, "error": error.as_dict()})

