"""The outbox machinery both push and webhooks use (the transactional outbox).

A message row is written in the transaction of the operation that causes
it; after commit a job is queued to deliver it. Delivery is at least once:

- `claim` takes a lease on a due row (one sender at a time, across workers)
  and counts the attempt; the HTTP request is made outside any transaction;
- `delivered` / `retry_later` / `give_up` / `drop` record the outcome;
- `requeue_due` (the worker's sweep) queues a job for every due row whose job
  was lost: never queued, queued long ago, or leased by a worker that died.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from invitations.models import OutboxRow, OutboxStatus
from invitations.worker import scheduling

logger = logging.getLogger(__name__)

Row = TypeVar("Row", bound=OutboxRow)
Decision = Literal["send", "wait", "drop"]
# A job may run a little before its row is due (RQ's scheduler rounds to seconds).
EARLY_TOLERANCE = timedelta(seconds=1)
REQUEUE_BATCH = 500


def backoff_seconds(attempt: int, *, base: float, factor: float, cap: float, rng: random.Random | None = None) -> float:
    """Delay before try `attempt + 1` after `attempt` failed tries: base x factor^(attempt-1),
    capped, with +-25% jitter (so many messages failing together do not retry together)."""
    delay = min(cap, base * factor ** max(0, attempt - 1))
    return delay * (rng or random).uniform(0.75, 1.25)


def enqueue_on_commit(job: str, pks: list[int]) -> None:
    """Queue `job(pk)` for each row once the transaction commits (Redis away: the sweep will)."""
    if not pks:
        return

    def enqueue() -> None:
        try:
            queue = scheduling.call_queue()
            for pk in pks:
                queue.enqueue(scheduling.JOBS + job, pk, result_ttl=0, failure_ttl=3600)
        except Exception:
            logger.exception("could not queue %s for %d row(s); the sweep will", job, len(pks))

    transaction.on_commit(enqueue)


def claim(model: type[Row], pk: int, decide: Callable[[Row], Decision] | None = None) -> Row | None:
    """Lease a due row for one attempt, or None (not due, delivered, or someone else is on it).

    `decide(row)` runs under the row lock: "drop" marks the row dropped (no longer needed),
    "wait" leaves it for later."""
    now = timezone.now()
    with transaction.atomic():
        row = model._default_manager.select_for_update().filter(pk=pk, status=OutboxStatus.PENDING).first()
        if row is None or row.next_attempt_at > now + EARLY_TOLERANCE:
            return None
        if row.lease_until is not None and row.lease_until > now:
            return None
        decision = decide(row) if decide else "send"
        if decision == "drop":
            drop(row)
            return None
        if decision == "wait":
            return None
        row.lease_until = now + timedelta(seconds=settings.CALL_OUTBOX_LEASE_SECONDS)
        row.attempt_count += 1
        row.save(update_fields=["lease_until", "attempt_count"])
        return row


def _finish(row: OutboxRow, fields: dict) -> None:
    fields = {"lease_until": None, **fields}
    for name, value in fields.items():
        setattr(row, name, value)
    row.save(update_fields=list(fields))


def delivered(row: OutboxRow, *, status: int | None) -> None:
    now = timezone.now()
    _finish(row, {"status": OutboxStatus.DELIVERED, "delivered_at": now, "last_status": status})


def retry_later(row: OutboxRow, *, status: int | None, delay_seconds: float) -> None:
    """Due again after the delay; the sweep queues its job then."""
    _finish(
        row,
        {
            "last_status": status,
            "queued_at": None,
            "next_attempt_at": timezone.now() + timedelta(seconds=delay_seconds),
        },
    )


def give_up(row: OutboxRow, *, status: int | None) -> None:
    _finish(row, {"status": OutboxStatus.FAILED, "last_status": status})


def drop(row: OutboxRow) -> None:
    _finish(row, {"status": OutboxStatus.DROPPED})


def due_rows(model: type[OutboxRow], now: datetime) -> Q:
    """Pending rows that are due, free (no live lease) and whose job is not waiting in the queue."""
    requeue_before = now - timedelta(seconds=settings.CALL_OUTBOX_REQUEUE_AFTER_SECONDS)
    return (
        Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        & (Q(queued_at__isnull=True) | Q(queued_at__lt=requeue_before))
    )


def requeue_due(model: type[OutboxRow], job: str, *, eligible: Q | None = None) -> int:
    """Queue a job for each due row nobody is on (the sweep); returns how many."""
    now = timezone.now()
    rows = model._default_manager.filter(due_rows(model, now))
    if eligible is not None:
        rows = rows.filter(eligible)
    pks = list(rows.order_by("next_attempt_at").values_list("pk", flat=True)[:REQUEUE_BATCH])
    if not pks:
        return 0
    with transaction.atomic():
        model._default_manager.filter(pk__in=pks).update(queued_at=now)
        enqueue_on_commit(job, pks)
    return len(pks)
