"""The RQ worker: runs jobs in-process (no fork per job, so a timeout burst is
cheap), expires invitations at their deadlines (the deadline waiter), and
sweeps on start and every CALL_SWEEP_INTERVAL_SECONDS in a thread of its own,
so that no timeout waits on RQ's scheduler lock after a crash."""
import asyncio
import logging
import threading
import time

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connections
from rq.worker import SimpleWorker

from . import selectors, services
from .scheduling import DEADLINE_WAITERS

logger = logging.getLogger(__name__)


def _sweep_forever(stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            close_old_connections()
            result = services.sweep()
            if any(result.values()):
                logger.info("sweep: %s", result)
        except Exception:
            logger.exception("sweep failed")
        stop.wait(settings.CALL_SWEEP_INTERVAL_SECONDS)
    connections.close_all()


# The waiter re-reads the earliest deadline at least this often even without a
# message (a lost wake-up costs at most this, and the sweep is there too).
MAX_DEADLINE_SLEEP_SECONDS = 30.0


class DeadlineWaiter:
    """Sleeps until the earliest pending deadline (the partial index
    `pending_by_deadline`), then expires what is due; an invite with a nearer
    deadline wakes it early (scheduling.schedule_expiry). It never acts before
    a deadline: the service expires only rows whose deadline has passed, under
    their call's lock, so the sweep and other workers can share the work."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.wake = threading.Event()
        self.listening = threading.Event()
        # Deadlines announced to us, kept until they pass even if their row is answered
        # meanwhile: a web process announces no later deadline while its earlier one is
        # ahead (scheduling.schedule_expiry), so we must wake at that one and re-read.
        self._heard: list[float] = []
        self._heard_lock = threading.Lock()

    def _hear(self, at_ms: int) -> None:
        with self._heard_lock:
            self._heard.append(at_ms / 1000)
        self.wake.set()

    def _earliest_heard(self, now: float) -> float | None:
        with self._heard_lock:
            self._heard = [at for at in self._heard if at > now]
            return min(self._heard, default=None)

    def start(self) -> None:
        self.threads = [threading.Thread(target=self._listen, name="deadline-listener", daemon=True),
                        threading.Thread(target=self._wait_and_expire, name="deadline-waiter", daemon=True)]
        for thread in self.threads:
            thread.start()

    def join(self, timeout: float) -> None:
        """After stop is set: let both threads finish (and close their connections)."""
        self.wake.set()
        for thread in self.threads:
            thread.join(timeout)

    def _listen(self) -> None:
        async def listen() -> None:
            layer = get_channel_layer()
            channel = await layer.new_channel()
            await layer.group_add(DEADLINE_WAITERS, channel)
            self.listening.set()
            self.wake.set()  # re-read: an invite may have committed before we listened
            try:
                while not self.stop.is_set():
                    try:
                        message = await asyncio.wait_for(layer.receive(channel), 1.0)
                    except asyncio.TimeoutError:
                        continue
                    self._hear(int(message.get("at", 0)))
            finally:
                await layer.group_discard(DEADLINE_WAITERS, channel)

        while not self.stop.is_set():
            try:
                asyncio.run(listen())
            except Exception:  # Redis away: the waiter still wakes at the deadlines it knows
                logger.exception("deadline listener failed; retrying")
                self.stop.wait(1.0)

    def _wait_and_expire(self) -> None:
        while not self.stop.is_set():
            self.wake.clear()  # before reading: a wake-up from now on is not lost
            try:
                close_old_connections()
                now = time.time()
                upcoming = selectors.next_pending_deadline(before=now + MAX_DEADLINE_SLEEP_SECONDS)
                if upcoming is not None and upcoming <= now:
                    if not services.invitations_expire_due():  # another holds those calls: let it finish
                        self.stop.wait(0.01)
                    continue
                heard = self._earliest_heard(now)
                target = min((t for t in (upcoming, heard) if t is not None), default=None)
                sleep = MAX_DEADLINE_SLEEP_SECONDS if target is None else target - now + 0.0005
            except Exception:
                logger.exception("deadline waiter failed")
                sleep = 1.0
            self.wake.wait(sleep)
        connections.close_all()


class CallWorker(SimpleWorker):
    def work(self, *args, **kwargs):  # type: ignore[override]
        stop = threading.Event()
        threading.Thread(target=_sweep_forever, args=(stop,), name="sweep", daemon=True).start()
        if not kwargs.get("burst"):  # a burst run (tests, scripts) runs its queued jobs, nothing more
            DeadlineWaiter(stop).start()
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
