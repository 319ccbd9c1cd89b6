"""Retention: what the site no longer needs is deleted, in batches.

- outbox rows (Web Push and webhook messages) that are finished: delivered
  ones CALL_RETAIN_DELIVERED_DAYS after delivery, failed ones (given up)
  CALL_RETAIN_FAILED_DAYS and dropped ones CALL_RETAIN_DROPPED_DAYS after
  they were last due (next_attempt_at, the time of their last attempt);
  a webhook message's attempts go with it. A push whose invitee is still
  pending is kept whatever its age: the closing push goes where it went.
  Pending rows are never deleted here.
- webhook attempts CALL_RETAIN_WEBHOOK_ATTEMPTS_DAYS after they started, also
  while their message stays (one retried for a long time, or kept failed);
- API tokens that can no longer be used: expired ones
  CALL_RETAIN_DEAD_TOKENS_DAYS after they expired, revoked ones that long
  after their last use (or, never used, after they were made).

0 keeps that kind forever. Each batch (CALL_RETENTION_BATCH rows) is one
short transaction that locks the rows it deletes and skips rows another
transaction holds (a delivery's claim, an operator's resend), so a big
backlog never holds locks for long and never waits on a delivery; what it
skips goes in a later run. The worker runs prune() on start and every
CALL_RETENTION_INTERVAL_SECONDS (invitations/worker/runner.py); several workers
share the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from invitations.calls.states import PENDING
from invitations.models import (
    ApiToken,
    OutboxStatus,
    PushMessage,
    WebhookAttempt,
    WebhookMessage,
)

logger = logging.getLogger(__name__)


def _before(days: float) -> datetime | None:
    """The cut-off for an age of `days`, or None when that kind is kept forever (0)."""
    return timezone.now() - timedelta(days=days) if days > 0 else None


def _finished(
    delivered_before: datetime | None, failed_before: datetime | None, dropped_before: datetime | None
) -> Q | None:
    parts = []
    if delivered_before is not None:
        parts.append(Q(status=OutboxStatus.DELIVERED, delivered_at__lt=delivered_before))
    if failed_before is not None:
        parts.append(Q(status=OutboxStatus.FAILED, next_attempt_at__lt=failed_before))
    if dropped_before is not None:
        parts.append(Q(status=OutboxStatus.DROPPED, next_attempt_at__lt=dropped_before))
    if not parts:
        return None
    condition = parts[0]
    for part in parts[1:]:
        condition |= part
    return condition


def _delete_in_batches(rows: QuerySet, before_delete: Callable[[list[int]], int] | None = None) -> tuple[int, int]:
    """Delete `rows` a batch at a time, each batch in its own transaction, locking
    the rows it takes (SKIP LOCKED: rows held elsewhere are left for later) and
    re-checking the filter under the lock. Returns (rows deleted, rows deleted by
    `before_delete`, which removes what refers to a batch first)."""
    model: type[Model] = rows.model
    batch = max(1, settings.CALL_RETENTION_BATCH)
    deleted = dependents = 0
    after = 0  # each batch starts past the last: not again over the rows just deleted (dead until vacuumed)
    while True:
        with transaction.atomic():
            pks = list(
                rows.filter(pk__gt=after)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not pks:
                return deleted, dependents
            after = pks[-1]
            if before_delete is not None:
                dependents += before_delete(pks)
            deleted += model._default_manager.filter(pk__in=pks).only("pk").delete()[1].get(model._meta.label, 0)
        if len(pks) < batch:
            return deleted, dependents


def _attempts_of(message_pks: list[int]) -> int:
    return WebhookAttempt.objects.filter(message_id__in=message_pks).delete()[0]


def prune() -> dict[str, int]:
    """Delete what the retention settings no longer keep; how many of each. A kind
    that fails is logged and the others still run."""
    result = {"push_messages": 0, "webhook_messages": 0, "webhook_attempts": 0, "tokens": 0}
    finished = _finished(
        _before(settings.CALL_RETAIN_DELIVERED_DAYS),
        _before(settings.CALL_RETAIN_FAILED_DAYS),
        _before(settings.CALL_RETAIN_DROPPED_DAYS),
    )

    def push_messages() -> None:
        if finished is not None:
            rows = PushMessage.objects.filter(finished).exclude(member__state__in=PENDING)
            result["push_messages"] += _delete_in_batches(rows)[0]

    def webhook_messages() -> None:
        if finished is not None:
            deleted, attempts = _delete_in_batches(WebhookMessage.objects.filter(finished), _attempts_of)
            result["webhook_messages"] += deleted
            result["webhook_attempts"] += attempts

    def webhook_attempts() -> None:
        started_before = _before(settings.CALL_RETAIN_WEBHOOK_ATTEMPTS_DAYS)
        if started_before is not None:
            rows = WebhookAttempt.objects.filter(started_at__lt=started_before)
            result["webhook_attempts"] += _delete_in_batches(rows)[0]

    def tokens() -> None:
        dead_before = _before(settings.CALL_RETAIN_DEAD_TOKENS_DAYS)
        if dead_before is not None:
            unused_since = Q(last_used_at__lt=dead_before) | Q(last_used_at__isnull=True, created_at__lt=dead_before)
            rows = ApiToken.objects.filter(Q(expires_at__lt=dead_before) | (Q(revoked=True) & unused_since))
            result["tokens"] += _delete_in_batches(rows)[0]

    for name, step in (
        ("push_messages", push_messages),
        ("webhook_messages", webhook_messages),
        ("webhook_attempts", webhook_attempts),
        ("tokens", tokens),
    ):
        try:
            step()
        except Exception:
            logger.exception("retention: %s failed; going on with the others", name)
    return result
