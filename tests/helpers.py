"""Test helpers that talk to the real channel layer (Redis)."""

import asyncio
import json
import threading
from typing import Any

from channels.layers import get_channel_layer

from invitations.realtime.publish import user_group


class Inbox:
    """Collects the frames the site publishes to some users' groups.

    Runs its own event loop in a thread so that sync tests can use it.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.channels: dict[str, str] = {}
        self.pending: dict[str, asyncio.Future] = {}

    def _run(self, coro, timeout: float = 5) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def watch(self, *users) -> "Inbox":
        layer = get_channel_layer()
        for user in users:

            async def subscribe(user=user) -> str:
                channel = await layer.new_channel()
                await layer.group_add(user_group(user.pk), channel)
                return channel

            self.channels[user.username] = self._run(subscribe())
        return self

    def frames(self, user, wait: float = 0.3) -> list[dict[str, Any]]:
        """Every frame that reached `user` so far (waits `wait` s for stragglers)."""
        layer = get_channel_layer()
        channel = self.channels[user.username]

        async def drain() -> list[dict[str, Any]]:
            # Never cancel a receive: the pub/sub layer unsubscribes a channel whose
            # receive is cancelled, and later frames would be lost. Keep it pending.
            out: list[dict[str, Any]] = []
            while True:
                task = self.pending.pop(channel, None) or asyncio.ensure_future(layer.receive(channel))
                done, _ = await asyncio.wait({task}, timeout=wait)
                if not done:
                    self.pending[channel] = task
                    return out
                out.extend(json.loads(t) for t in task.result()["texts"])

        return self._run(drain(), timeout=30)

    def events(self, user, wait: float = 0.3) -> list[tuple[str, int, dict[str, Any]]]:
        return [(f["event"], f["seq"], f["data"]) for f in self.frames(user, wait)]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
