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
from typing import Any, Iterable

from channels.layers import get_channel_layer
from django.db import transaction

from . import payloads

logger = logging.getLogger(__name__)

PRESENCE_GROUP = "presence"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


class PendingFrames:
    """Frames of one operation (or batch), grouped by recipient user id, until commit."""

    def __init__(self) -> None:
        self.frames: dict[int, list[dict[str, Any]]] = defaultdict(list)

    def add(self, user_ids: Iterable[int], frame: dict[str, Any]) -> None:
        for user_id in user_ids:
            self.frames[user_id].append(frame)

    def send_on_commit(self) -> None:
        if self.frames:
            texts: dict[int, str] = {}  # a frame shared by many recipients is encoded once

            def encode(frame: dict[str, Any]) -> str:
                if id(frame) not in texts:
                    texts[id(frame)] = json.dumps(frame, separators=(",", ":"))
                return texts[id(frame)]

            messages = {
                user_group(uid): {"type": "call.frames", "texts": [encode(f) for f in frames]}
                for uid, frames in self.frames.items()
            }
            transaction.on_commit(lambda: publish(messages))


def push_presence_on_commit(username: str, online: bool) -> None:
    frame = payloads.presence_changed(username, online)
    message = {PRESENCE_GROUP: {"type": "call.frames", "texts": [json.dumps(frame, separators=(",", ":"))]}}
    transaction.on_commit(lambda: publish(message))


class _Publisher:
    """A process-wide event loop thread that owns the channel layer's Redis
    connections, so sync code (request threads, RQ jobs) publishes without
    opening a connection per event."""

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

    def publish(self, messages: dict[str, dict[str, Any]]) -> bool:
        async def send_all() -> None:
            layer = get_channel_layer()
            # one message per group here, so sending them concurrently keeps each user's order
            await asyncio.gather(*(layer.group_send(group, message) for group, message in messages.items()))

        future = asyncio.run_coroutine_threadsafe(send_all(), self._ensure_loop())
        try:
            future.result(timeout=5)
            return True
        except Exception:  # delivery is at most once; clients resync by seq
            logger.exception("publishing %d event message(s) failed", len(messages))
            return False


_publisher = _Publisher()


def publish(messages: dict[str, dict[str, Any]]) -> bool:
    """Send event frames after commit; False if they could not be sent (logged)."""
    return _publisher.publish(messages)


def notify(group: str, message: dict[str, Any]) -> bool:
    """Send one message that is not a client frame (a wake-up of the workers)."""
    return _publisher.publish({group: message})
