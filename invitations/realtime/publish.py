"""Delivery of event frames: the only caller of group_send.

Every write queues its frames (built in payloads.py) in a `PendingFrames` and
sends them with `send_on_commit`, so nothing is sent for a transaction that
rolls back. Each user has one group (all their devices);
one operation publishes one message per user, however many frames it holds.
"""

import asyncio
import json
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import redis
from channels.layers import get_channel_layer
from channels_redis.utils import decode_hosts
from django.conf import settings
from django.db import transaction

from invitations.accounts.tenancy import SITE, Tenant, tenant_of
from invitations.calls import payloads
from invitations.realtime import hub

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def presence_group(tenant: Tenant) -> str:
    """The sockets that asked for presence, per tenant: presence never crosses apps."""
    return "presence" if tenant is SITE else f"presence.{tenant}"


def presence_group_of(user: Any) -> str:
    """The presence group a user's sockets hear: its tenant's."""
    return presence_group(tenant_of(user))


class PendingFrames:
    """Frames of one operation (or batch), grouped by recipient user id, until commit."""

    def __init__(self) -> None:
        self.frames: dict[int, list[payloads.EventFrame]] = defaultdict(list)

    def add(self, user_ids: Iterable[int], frame: payloads.EventFrame) -> None:
        for user_id in user_ids:
            self.frames[user_id].append(frame)

    def send_on_commit(self) -> None:
        if self.frames:
            texts: dict[int, str] = {}  # a frame shared by many recipients is encoded once

            def encode(frame: payloads.EventFrame) -> str:
                if id(frame) not in texts:
                    texts[id(frame)] = json.dumps(frame, separators=(",", ":"))
                return texts[id(frame)]

            messages = {
                user_group(uid): {"type": "call.frames", "texts": [encode(f) for f in frames]}
                for uid, frames in self.frames.items()
            }
            transaction.on_commit(lambda: publish(messages))


def push_presence_on_commit(user: Any, online: bool) -> None:
    frame = payloads.presence_changed(user, online)
    message = {presence_group_of(user): {"type": "call.frames", "texts": [json.dumps(frame, separators=(",", ":"))]}}
    transaction.on_commit(lambda: publish(message))


class _LoopPublisher:
    """A process-wide event loop thread that holds the channel layer's Redis
    connections, so sync code publishes without opening a connection per
    event: for a layer on several Redis hosts (sharded) or behind sentinels."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()
        self._pid = 0

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="event-publisher", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def publish(self, items: list[tuple[str, str, dict[str, Any]]], what: str) -> None:
        """Send each (kind, name, message), kind "group" or "channel", and wait for it."""

        async def send_all() -> None:
            layer = get_channel_layer()
            await asyncio.gather(
                *(
                    layer.group_send(name, message) if kind == "group" else layer.send(name, message)
                    for kind, name, message in items
                )
            )

        future = asyncio.run_coroutine_threadsafe(send_all(), self._ensure_loop())
        try:
            future.result(timeout=5)
        except Exception:  # delivery is at most once; clients resync by seq
            logger.exception("sending %s failed", what)


class _DirectPublisher:
    """Publishes to the pub/sub layer's Redis channels, in the layer's wire
    format, with a blocking client from the calling thread: every message of
    an operation in one round trip (a pipeline), no hop to an event loop and
    back. Returns once Redis took them, as the loop publisher did: an
    operation's frames are out before its result is (so another process's
    next operation publishes after them)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: redis.Redis | None = None
        self._pid = 0

    def _redis(self) -> redis.Redis:
        if self._client is None or self._pid != os.getpid():
            self._client = redis.Redis.from_url(self._url, socket_timeout=5, socket_connect_timeout=5)
            self._pid = os.getpid()
        return self._client

    def publish(self, items: list[tuple[str, str, dict[str, Any]]], what: str) -> None:
        layer = get_channel_layer()
        try:
            with self._redis().pipeline(transaction=False) as pipe:
                for kind, name, message in items:
                    pipe.publish(hub.group_channel(name) if kind == "group" else name, layer.serialize(message))
                pipe.execute()
        except Exception:  # delivery is at most once; clients resync by seq
            logger.exception("sending %s failed", what)


def _make_publisher() -> _LoopPublisher | _DirectPublisher:
    layers = settings.CHANNEL_LAYERS
    config = layers["default"].get("CONFIG", {})
    hosts = decode_hosts(config.get("hosts"))
    if len(hosts) == 1 and set(hosts[0]) == {"address"}:  # one Redis, by URL (the layer's serializer encrypts, if set)
        return _DirectPublisher(hosts[0]["address"])
    return _LoopPublisher()  # sharded or sentinel: the layer picks the Redis


_publisher: _LoopPublisher | _DirectPublisher | None = None


def _get_publisher() -> _LoopPublisher | _DirectPublisher:
    global _publisher
    if _publisher is None:
        _publisher = _make_publisher()
    return _publisher


def publish(messages: dict[str, dict[str, Any]]) -> None:
    """One message to each group (one per user: the order within a user is kept)."""
    _get_publisher().publish(
        [("group", group, message) for group, message in messages.items()], f"{len(messages)} event message(s)"
    )


def send_to_channels(channel_names: Iterable[str], frame: payloads.EventFrame) -> None:
    """A frame that is not call state (a media signal) to exactly these sockets, now:
    nothing is stored, so there is no transaction to wait for. Sockets of one
    process get one message (to its hub, naming them)."""
    names = list(channel_names)
    if not names:
        return
    texts = [json.dumps(frame, separators=(",", ":"))]
    by_process: dict[str, list[str]] = defaultdict(list)
    items: list[tuple[str, str, dict[str, Any]]] = []
    for name in names:
        process = hub.process_of(name)
        if process is None:  # a plain channel-layer channel
            items.append(("channel", name, {"type": "call.frames", "texts": texts}))
        else:
            by_process[process].append(name)
    items += [
        ("channel", process, {"type": "call.frames", "texts": texts, "to": to}) for process, to in by_process.items()
    ]
    _get_publisher().publish(items, f"a frame to {len(names)} socket(s)")
