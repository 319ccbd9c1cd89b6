"""Scheduling of the deadline work, always after commit.

Timeouts are not jobs: the worker's deadline waiter (worker.DeadlineWaiter)
sleeps until the earliest pending deadline in the indexed column. A write
whose deadline may be nearer than what the waiters sleep towards wakes them
with one Redis PUBLISH (`announce_deadline`). The not-received,
caller-offline and member-away checks stay RQ jobs (jobs.py).
"""

import logging
import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction

from invitations.calls.payloads import ms

logger = logging.getLogger(__name__)

JOBS = "invitations.worker.jobs."


_queues: dict[int, Any] = {}


def call_queue() -> Any:
    """The deadline jobs' queue, one per process: django_rq.get_queue() opens a
    new Redis connection pool on every call."""
    pid = os.getpid()
    if pid not in _queues:
        _queues.clear()
        _queues[pid] = django_rq.get_queue(settings.CALL_QUEUE)
    return _queues[pid]


def schedule_on_commit(at: datetime, func: str, *args: Any, job_id: str) -> None:
    """Schedule `func(*args)` at `at`, once the current transaction commits.

    Job ids are deterministic (a doubled schedule overwrites, not duplicates)
    and carry REDIS_PREFIX, since RQ's job keys are global to the Redis.

    django-rq's on-commit mode covers enqueue(), not enqueue_at(), hence this.
    """

    # RQ 3 refuses ids with anything but letters, digits, "_" and "-" (the prefix's ":" too)
    job_id = re.sub(r"[^A-Za-z0-9_-]", "_", job_id)

    def schedule() -> None:
        try:
            queue = call_queue()
            # Whole seconds, rounded down: the job waits out the rest itself.
            run_at = at.astimezone(UTC).replace(microsecond=0)
            queue.enqueue_at(run_at, func, *args, job_id=job_id, result_ttl=0, failure_ttl=3600)
        except Exception:  # Redis away: the periodic sweep still does the work
            logger.exception("could not schedule %s", job_id)

    transaction.on_commit(schedule)


def deadline_channel() -> str:
    """The Redis pub/sub channel the deadline waiters listen on (pub/sub ignores the db number)."""
    return f"{settings.REDIS_PREFIX}:deadline-waiters"


# A deadline already announced that is at least this far ahead stands for the
# later ones: clocks of two machines may differ by up to this much.
ANNOUNCE_MARGIN_SECONDS = 0.5


class _Announcer:
    """What this process last told the waiters, so most writes publish nothing.

    Every waiter keeps each announced deadline until it passes and re-reads the
    column then, so a deadline D written while an announced A <= D is still
    ahead is seen at A at the latest: only a deadline nearer than A (or any
    deadline once A has passed) is announced. About one message per timeout
    period per process, not one per invite."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid = 0
        self._announced = 0.0  # epoch seconds; 0: nothing ahead

    def needed(self, deadline: float, now: float) -> bool:
        with self._lock:
            if self._pid != os.getpid():  # a forked child tells the waiters itself
                self._pid, self._announced = os.getpid(), 0.0
            if now + ANNOUNCE_MARGIN_SECONDS < self._announced <= deadline:
                return False
            self._announced = deadline
            return True

    def failed(self, deadline: float) -> None:
        with self._lock:
            if self._announced == deadline:
                self._announced = 0.0  # the next write tries again

    def reset(self) -> None:
        with self._lock:
            self._announced = 0.0


_announcer = _Announcer()


def announce_deadline(deadline: datetime) -> bool:
    """Wake the waiters if this committed deadline may be nearer than what they
    sleep towards. Returns whether a message was sent. A lost message costs at
    most the sweep interval (the worker's sweep thread expires what is due)."""
    at = deadline.timestamp()
    if not _announcer.needed(at, time.time()):
        return False
    try:
        call_queue().connection.publish(deadline_channel(), str(ms(deadline)))
        return True
    except Exception:  # Redis away: the sweep still does the work
        _announcer.failed(at)
        logger.exception("could not announce deadline %s", deadline)
        return False


def schedule_expiry(deadline: datetime) -> None:
    """Once committed, the deadline is in the column: wake the waiters if it is nearer than they know."""
    transaction.on_commit(lambda: announce_deadline(deadline))


def schedule_not_received_check(invited_at: datetime, member_pk: int) -> None:
    at = invited_at + timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    schedule_on_commit(
        at, JOBS + "check_not_received", ms(at), job_id=f"{settings.REDIS_PREFIX}:not-received-{member_pk}-{ms(at)}"
    )


def schedule_caller_offline_check(user_id: int, offline_at: datetime) -> None:
    at = offline_at + timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    schedule_on_commit(
        at,
        JOBS + "check_caller_offline",
        user_id,
        ms(at),
        job_id=f"{settings.REDIS_PREFIX}:caller-offline-{user_id}-{ms(at)}",
    )


def schedule_member_away_check(user_id: int, away_at: datetime) -> None:
    at = away_at + timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    schedule_on_commit(
        at,
        JOBS + "check_members_away",
        user_id,
        ms(at),
        job_id=f"{settings.REDIS_PREFIX}:member-away-{user_id}-{ms(at)}",
    )
