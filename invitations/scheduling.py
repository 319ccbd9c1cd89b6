"""Scheduling of the deadline jobs (jobs.py), always after commit.

Timeouts are not RQ jobs: the worker's deadline waiter (worker.py) sleeps
until the earliest pending deadline in the indexed column, and an invite whose
deadline may be nearer than the one the waiter sleeps towards wakes it with a
message on the channel layer, sent with the invite's events after commit (no
Redis round trip of its own on the request path).
"""
import logging
import os
import re
import threading
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction

from .payloads import ms

logger = logging.getLogger(__name__)

JOBS = "invitations.jobs."


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
            run_at = at.astimezone(dt_timezone.utc).replace(microsecond=0)
            queue.enqueue_at(run_at, func, *args, job_id=job_id, result_ttl=0, failure_ttl=3600)
        except Exception:  # Redis away: the periodic sweep still does the work
            logger.exception("could not schedule %s", job_id)

    transaction.on_commit(schedule)


DEADLINE_WAITERS = "deadline-waiters"  # the channel-layer group of the workers' deadline waiters
# The earliest future deadline this process has announced to the waiters (epoch
# seconds). A later deadline needs no message: the waiter wakes at the earlier
# one, re-reads the earliest pending deadline and finds it. With one timeout
# for all invites, that is about one message per timeout period per process.
_announced = {"pid": 0, "at": 0.0}
_announced_lock = threading.Lock()


def schedule_expiry(deadline: datetime) -> None:
    """Make sure the deadline waiter wakes by `deadline` (after commit)."""
    at = deadline.timestamp()
    with _announced_lock:
        if _announced["pid"] == os.getpid() and time.time() < _announced["at"] <= at:
            return
    from .events import notify

    def announce() -> None:  # after commit: a rolled-back invite announces nothing
        if notify(DEADLINE_WAITERS, {"type": "deadline.nearer", "at": ms(deadline)}):
            with _announced_lock:
                if _announced["pid"] != os.getpid() or not (time.time() < _announced["at"] <= at):
                    _announced.update(pid=os.getpid(), at=at)

    transaction.on_commit(announce)


def schedule_not_received_check(invited_at: datetime, member_pk: int) -> None:
    at = invited_at + timedelta(seconds=settings.CALL_NOT_RECEIVED_CHECK_SECONDS)
    schedule_on_commit(at, JOBS + "check_not_received", ms(at), job_id=f"{settings.REDIS_PREFIX}:not-received-{member_pk}-{ms(at)}")


def schedule_caller_offline_check(user_id: int, offline_at: datetime) -> None:
    at = offline_at + timedelta(seconds=settings.CALL_HEARTBEAT_TIMEOUT_SECONDS)
    schedule_on_commit(at, JOBS + "check_caller_offline", user_id, ms(at), job_id=f"{settings.REDIS_PREFIX}:caller-offline-{user_id}-{ms(at)}")
