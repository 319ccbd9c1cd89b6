"""WebSocket endpoint: authenticate, keep presence, run commands, forward events.

Thin: every command is one service or selector call through the shared schemas.
"""
import asyncio
import json
import logging
import os
import secrets
import socket
import time
from typing import Any, Callable
from urllib.parse import parse_qs

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import close_old_connections
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from . import schemas, selectors, services, signaling
from .api import _validation_message, kwargs
from .errors import CallError
from .events import PRESENCE_GROUP, user_group

logger = logging.getLogger(__name__)

SERVER_ID = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"


def run_in_db_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like channels' database_sync_to_async, but on a thread pool instead of
    the one thread all sync code shares by default, so that one socket's
    database round trips do not queue behind every other socket's."""

    def with_connection_hygiene(*args: Any, **kwargs: Any) -> Any:
        close_old_connections()
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(with_connection_hygiene, thread_sensitive=False)
_heartbeat_loops: set[int] = set()


async def _server_heartbeat() -> None:
    while True:
        await asyncio.sleep(settings.CALL_SERVER_HEARTBEAT_SECONDS)
        try:
            await run_in_db_thread(services.server_process_heartbeat)(
                server_id=SERVER_ID, host=socket.gethostname(), pid=os.getpid())
        except Exception:
            logger.exception("server heartbeat failed")


def _ensure_heartbeat() -> None:
    loop = asyncio.get_running_loop()
    if id(loop) not in _heartbeat_loops:
        _heartbeat_loops.add(id(loop))
        loop.create_task(_server_heartbeat())


def _service(func: Callable[..., Any]) -> Callable[[Any, str, BaseModel], Any]:
    return lambda user, device_id, body: func(user=user, device_id=device_id, **kwargs(body))


def _query_call(user: Any, device_id: str, body: BaseModel) -> dict[str, Any]:
    services.invitations_expire_due(call_id=body.callID)
    return selectors.call_info(user=user, call_id=body.callID)


def _query_list(user: Any, device_id: str, body: BaseModel) -> dict[str, Any]:
    services.invitations_expire_due(user=user)
    return selectors.call_invitation_list(user=user, count=body.count, next_flag=body.nextFlag)


def _query_users(user: Any, device_id: str, body: BaseModel) -> dict[str, Any]:
    return {"users": selectors.users_with_presence(user=user, search=body.search, count=body.count)}


# command name -> (schema of `data`, function run in a worker thread)
COMMANDS: dict[str, tuple[type[BaseModel], Callable[[Any, str, BaseModel], Any]]] = {
    "callInvite": (schemas.CallInviteIn, _service(services.call_invite)),
    "callCancel": (schemas.CallCancelCmd, _service(services.call_cancel)),
    "callAccept": (schemas.CallAcceptCmd, _service(services.call_accept)),
    "callReject": (schemas.CallRejectCmd, _service(services.call_reject)),
    "callingInvite": (schemas.CallingInviteCmd, _service(services.calling_invite)),
    "callJoin": (schemas.CallJoinCmd, _service(services.call_join)),
    "callQuit": (schemas.CallQuitCmd, _service(services.call_quit)),
    "callEnd": (schemas.CallEndCmd, _service(services.call_end)),
    "queryCallInvitationList": (schemas.CallListCmd, _query_list),
    "queryCall": (schemas.QueryCallCmd, _query_call),
    "queryUsers": (schemas.QueryUsersCmd, _query_users),
    # media signaling (PROTOCOL "Media signaling")
    "callSignal": (schemas.CallSignalCmd, lambda user, device_id, body: signaling.call_signal(
        user=user, device_id=device_id, call_id=body.callID, to_user_id=body.toUserID, kind=body.kind,
        payload=body.payload)),
    "queryIceServers": (schemas.QueryIceServersCmd, lambda user, device_id, body: signaling.ice_servers(user=user)),
}


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
        _ensure_heartbeat()
        await self.channel_layer.group_add(user_group(user.pk), self.channel_name)
        # Online (and waiting invitations Received) before hello: a client that
        # has its hello is reachable. Group frames queue until this handler ends.
        await run_in_db_thread(_open_connection)(user, self.device_id, self.channel_name)
        self.registered = True
        await self._send({"type": "hello", "userID": user.username, "deviceID": self.device_id,
                          "serverTime": _now_ms()})
        for seq, data in await run_in_db_thread(selectors.pending_invitations_for)(user=user):
            await self._send({"type": "event", "event": "callInvitationReceived", "seq": seq, "data": data})
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
        entry = COMMANDS.get(frame.get("cmd")) if isinstance(frame.get("cmd"), str) else None
        if entry is None:
            await self._send_error(cmd_id, CallError("invalid_argument", f"unknown command {frame.get('cmd')!r}"))
            return
        schema, run = entry
        data = frame.get("data", {})
        try:
            body = schema.model_validate(data if data is not None else {})
        except PydanticValidationError as exc:
            await self._send_error(cmd_id, CallError("invalid_argument", _validation_message(exc.errors())))
            return
        try:
            result = await run_in_db_thread(run)(self.user, self.device_id, body)
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


def _open_connection(user: Any, device_id: str, channel_name: str) -> None:
    services.server_process_heartbeat(server_id=SERVER_ID, host=socket.gethostname(), pid=os.getpid())
    services.connection_open(user=user, device_id=device_id, channel_name=channel_name, server_id=SERVER_ID)


def _now_ms() -> int:
    return int(time.time() * 1000)
