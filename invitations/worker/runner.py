"""The RQ worker: runs jobs in-process (no fork per job, so a burst is cheap),
sweeps on start and every CALL_SWEEP_INTERVAL_SECONDS in a thread of its own,
prunes what retention no longer keeps (worker/retention.py) in another,
and expires invitations at their deadlines in a third (`DeadlineWaiter`), so
that no timeout waits on RQ's scheduler (which polls once a second, in whole
seconds) or its lock after a crash.

Deliveries that leave the site (Web Push, webhooks) run on a small thread pool
of the worker, so a slow push service or webhook receiver never holds up a
deadline job; an attempt lost with the process is retried after its lease
(delivery/outbox.py)."""

import heapq
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis
from django.conf import settings
from django.db import close_old_connections, connections
from rq.worker import SimpleWorker

from invitations.calls import deadlines, selectors
from invitations.worker import retention, scheduling

logger = logging.getLogger(__name__)

_deliveries: ThreadPoolExecutor | None = None


def _repeat(stop: threading.Event, name: str, job: Callable[[], dict[str, int]], interval_setting: str) -> None:
    """Run `job` now and then every `interval_setting` seconds until `stop`; a failed
    run is logged and the next one still comes. An interval of 0 or less: on start
    only (never a loop without pause, which would hammer the database)."""
    while not stop.is_set():
        try:
            close_old_connections()
            result = job()
            if any(result.values()):
                logger.info("%s: %s", name, result)
        except Exception:
            logger.exception("%s failed", name)
        interval = getattr(settings, interval_setting)
        if interval <= 0:
            logger.warning("%s ran on start only (%s is %s)", name, interval_setting, interval)
            break
        stop.wait(interval)
    connections.close_all()


def _prune_forever(stop: threading.Event) -> None:
    """Retention (worker/retention.py) on start and every CALL_RETENTION_INTERVAL_SECONDS,
    in a thread of its own so that a long backlog never delays the sweep."""
    _repeat(stop, "retention", lambda: retention.prune(), "CALL_RETENTION_INTERVAL_SECONDS")


def _sweep_forever(stop: threading.Event) -> None:
    _repeat(stop, "sweep", lambda: deadlines.sweep(), "CALL_SWEEP_INTERVAL_SECONDS")


class DeadlineWaiter(threading.Thread):
    """Sleeps until the earliest pending deadline (the partial index
    `pending_by_deadline`), expires what is due, and goes back to sleep.

    A write whose deadline may be nearer than what the waiters know publishes
    it after commit (scheduling.announce_deadline); the waiter then re-reads
    the column. Every announced deadline is kept until it passes and the column
    is read again then, since a web process does not announce later deadlines
    while an earlier announced one is ahead. Nothing is expired early: the
    service re-checks `deadline <= now` under each call's row lock. Several
    waiters (one per worker, on any machine) share the work without doubling
    it: rows another transaction holds are skipped (SKIP LOCKED) and re-checked.
    A lost message, a dead waiter or a database error costs at most the sweep
    interval: the sweep thread of every worker expires whatever is due.
    """

    # The column is read again at least this often, whatever it said.
    MAX_SLEEP_SECONDS = 5.0
    # Due but nothing expired (another worker holds those calls): look again after
    # this, doubling up to the sweep interval, so a stuck call is not spun on.
    RETRY_SECONDS = 0.02
    # Concurrent transactions for a burst (PostgreSQL; deadlines.invitations_expire_due).
    # One by default: the process is CPU-bound in a burst (one GIL), and a second
    # stream splits each user's frames of a round into two messages.
    STREAMS = settings.CALL_EXPIRE_STREAMS
    # After a round that expired something, the next waits at least this long: in a
    # burst, rounds of a few calls each would cost more per call (statements, and one
    # event message per user per round) than the wait, and fall further behind.
    MIN_GAP_SECONDS = settings.CALL_EXPIRE_MIN_GAP_SECONDS

    def __init__(self, stop: threading.Event, redis: Any) -> None:
        super().__init__(name="deadline-waiter", daemon=True)
        self.stop_event = stop
        self.redis = redis
        self.announced: list[float] = []  # heap of epoch seconds, until they pass
        self.expired = 0  # for tests and logs
        self.rounds = 0  # rounds that expired something
        self.last_round = 0.0
        self.wakeups = 0  # messages that woke it early

    def run(self) -> None:
        pubsub = None
        while not self.stop_event.is_set():
            try:
                if pubsub is None:
                    pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                    pubsub.subscribe(scheduling.deadline_channel())
                wake_at = self.expire_due()
                close_old_connections()  # back to the pool while asleep
                self.wait(pubsub, wake_at)
            except Exception:
                logger.exception("deadline waiter: retrying in a second (the sweep covers meanwhile)")
                if pubsub is not None:
                    try:
                        pubsub.close()
                    except Exception:
                        pass
                    pubsub = None  # subscribe again: messages sent meanwhile are lost, the column is not
                close_old_connections()
                self.stop_event.wait(1.0)
        if pubsub is not None:
            pubsub.close()
        connections.close_all()

    def expire_due(self) -> float:
        """Expire everything due; the time to look again (epoch seconds)."""
        retry = self.RETRY_SECONDS
        while True:
            now = time.time()
            # Read after `now`: the column has everything these announcements stood for.
            while self.announced and self.announced[0] <= now:
                heapq.heappop(self.announced)
            horizon = now + self.MAX_SLEEP_SECONDS
            upcoming = selectors.next_pending_deadline(before=horizon)
            not_before = self.last_round + self.MIN_GAP_SECONDS
            if upcoming is None or upcoming > time.time():
                return max(not_before, min(upcoming or horizon, self.announced[0] if self.announced else horizon))
            if time.time() < not_before:
                return not_before
            started = time.time()
            done = deadlines.invitations_expire_due(streams=self.STREAMS)
            if done:
                self.expired += done
                self.rounds += 1
                self.last_round = started
            if not done:  # due, but held by another transaction (or failing alone): not a spin
                if self.stop_event.wait(retry):
                    return time.time()
                retry = min(retry * 2, settings.CALL_SWEEP_INTERVAL_SECONDS)

    def wait(self, pubsub: Any, wake_at: float) -> None:
        """Until wake_at, or until a message announces a nearer deadline."""
        while not self.stop_event.is_set():
            left = wake_at - time.time()
            if left <= 0:
                return
            # bounded, so a stop is noticed within a second
            message = pubsub.get_message(timeout=min(left, 1.0))
            if message is None or message.get("type") != "message":
                continue
            try:
                at = int(message["data"]) / 1000
            except (TypeError, ValueError):
                at = 0.0  # not ours to judge: read the column now
            heapq.heappush(self.announced, at)
            if at < wake_at:
                self.wakeups += 1
                return


def _deliver(func: Callable[..., str], kwargs: dict[str, Any]) -> None:
    try:
        outcome = func(**kwargs)
        logger.debug("%s(%s): %s", func.__name__, kwargs, outcome)
    except Exception:
        logger.exception("%s(%s) failed; the sweep retries it", func.__name__, kwargs)
    finally:
        connections.close_all()  # this thread's connection goes back to the pool


def run_delivery(func: Callable[..., str], **kwargs: Any) -> str:
    """Run an outbound delivery on the worker's pool, or here when not in a CallWorker."""
    if _deliveries is None:
        return func(**kwargs)
    _deliveries.submit(_deliver, func, kwargs)
    return "handed to the delivery pool"


class CallWorker(SimpleWorker):
    # How long RQ's command listener (a redis-py pub/sub thread) blocks per read.
    # RQ reads for 60 s and, on quitting, sends UNSUBSCRIBE and then stops the
    # thread, and redis-py's stop() joins it: a listener that handles the reply
    # before the stop (a loaded machine) waits out a whole read, so the worker took
    # 60 s to quit while its deadline waiter went on expiring invitations.
    COMMAND_READ_SECONDS = 1.0

    def subscribe(self) -> None:
        """RQ's, with a short read: quitting waits at most COMMAND_READ_SECONDS on the listener."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]  # RQ's stub types it None
            sleep_time=self.COMMAND_READ_SECONDS, daemon=True, exception_handler=self._command_listener_failed
        )

    def _command_listener_failed(self, exc: Exception, pubsub: Any, thread: Any) -> None:
        """As RQ's own handler: a lost Redis connection is retried (redis-py restores the
        subscription when it is back); anything else stops the listener."""
        if not isinstance(exc, redis.exceptions.ConnectionError):
            raise exc
        self.log.error("Worker %s: could not connect to Redis: %s; retrying in 2 seconds", self.name, exc)
        time.sleep(2)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        global _deliveries
        stop = threading.Event()
        threading.Thread(target=_sweep_forever, args=(stop,), name="sweep", daemon=True).start()
        threading.Thread(target=_prune_forever, args=(stop,), name="retention", daemon=True).start()
        waiter = DeadlineWaiter(stop, scheduling.call_queue().connection)
        waiter.start()
        _deliveries = ThreadPoolExecutor(settings.CALL_OUTBOX_THREADS, thread_name_prefix="delivery")
        try:
            return super().work(*args, **kwargs)
        finally:
            stop.set()
            waiter.join(10)  # it notices within a second, or when its batch commits
            pool, _deliveries = _deliveries, None
            pool.shutdown(wait=True, cancel_futures=True)  # attempts in flight finish (bounded by the HTTP timeout)
