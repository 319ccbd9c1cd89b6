"""Webhooks: endpoints, and the webhook outbox.

Every committed call operation becomes, for each enabled endpoint that wants
its type, one WebhookMessage written in the operation's transaction (the
record handler below; on PostgreSQL its twin, in the operation's write round
trip); RQ jobs (jobs.webhook_deliver) POST it after commit,
signed by the Standard Webhooks scheme, at least once. One call's messages to
one endpoint go out in order (seq): a message waits while an earlier one of
the same call is undelivered. Any 2xx is success; otherwise retries with
exponential backoff and jitter; 410 disables the endpoint; every attempt is
kept (WebhookAttempt). URLs whose host is or resolves to an internal address
are refused unless CALL_WEBHOOK_PRIVATE_HOSTS lists the host; each delivery
goes through outbound_http (it connects to the address it checked, follows no
redirect, reads at most a few KB of the answer, and ends by a deadline).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from invitations.calls.errors import CallError
from invitations.calls.records import HandlerWrites, OperationRecord
from invitations.delivery import outbound_http, outbox, payloads, sql, webhook_signing
from invitations.models import (
    App,
    OutboxStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)

logger = logging.getLogger(__name__)

EVENT_TYPES = ("call.created", "call.user_state_changed", "call.ended")
JOB = "webhook_deliver"
EXCERPT_CHARS = 1000


# --- endpoints ----------------------------------------------------------------------------------


def webhook_policy() -> outbound_http.Policy:
    return outbound_http.Policy(
        schemes=frozenset({"http", "https"}),
        default_port_only=False,
        private_hosts=frozenset(settings.CALL_WEBHOOK_PRIVATE_HOSTS),
    )


def webhook_url_check(url: str) -> None:
    """An http(s) URL whose host resolves to addresses the site may send to; else invalid_argument."""
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise CallError("invalid_argument", f"not an http(s) URL: {url!r}") from None
    try:
        outbound_http.check(url, webhook_policy())
    except outbound_http.Refused as exc:
        raise CallError("invalid_argument", f"{url}: {exc}") from None


def _check_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise CallError("invalid_argument", f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    return sorted(set(event_types))


def webhook_endpoint_create(
    *, url: str, event_types: list[str] | None = None, description: str = "", app_id: str | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new enabled endpoint and its secret (`whsec_...`, shown to the operator once); with
    `app_id` it receives that app's calls only, else the site's own accounts' calls."""
    webhook_url_check(url)
    types = _check_types(event_types or [])
    if app_id is not None and not App.objects.filter(app_id=app_id).exists():
        raise CallError("invalid_argument", f"no app {app_id!r}")
    secret = webhook_signing.secret_new()
    endpoint = WebhookEndpoint.objects.create(
        url=url, event_types=types, description=description, secret=secret, created_at=timezone.now(), app_id=app_id
    )
    return endpoint, secret


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, event_types: list[str], description: str, enabled: bool
) -> WebhookEndpoint:
    """The operator edits an endpoint; enabling it again resumes its undelivered messages."""
    webhook_url_check(url)
    endpoint.url = url
    endpoint.event_types = _check_types(event_types)
    endpoint.description = description
    if enabled and not endpoint.enabled:
        endpoint.disabled_reason = ""
    endpoint.enabled = enabled
    endpoint.save(update_fields=["url", "event_types", "description", "enabled", "disabled_reason"])
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint_pk: int, grace_hours: float | None = None) -> str:
    """A new secret; the current one keeps signing too (a second signature) for the grace period."""
    grace = settings.CALL_WEBHOOK_SECRET_GRACE_HOURS if grace_hours is None else grace_hours
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_pk)
        secret = webhook_signing.secret_new()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = timezone.now() + timedelta(hours=grace)
        endpoint.secret = secret
        endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return secret


def _signing_secrets(endpoint: WebhookEndpoint) -> list[str]:
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > timezone.now():
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


# --- the outbox: rows written with the operation -------------------------------------------------


def write_webhook_rows(records: list[OperationRecord]) -> HandlerWrites | None:
    """Record handler: a message per event for each enabled endpoint of the call's tenant
    (an app's endpoints get that app's calls only, the others the site's own) that wants its type,
    written by one INSERT ... SELECT over the endpoints in the operation's write round trip
    (no read of its own); a delivery job for each on commit."""
    now = timezone.now()
    events = [
        (
            event_type,
            record.call.call_id,
            record.seq,
            payloads.webhook_body(event_type, now, data),
            payloads.webhook_tenant(record),
        )
        for record in records
        for event_type, data in payloads.webhook_events(record)
    ]
    if not events:
        return None
    return HandlerWrites(
        [sql.webhook_rows(events, now)], lambda rows: outbox.enqueue_on_commit(JOB, [pk for (pk,) in rows[0]])
    )


def _earlier_undelivered() -> Exists:
    return Exists(
        WebhookMessage.objects.filter(
            endpoint=OuterRef("endpoint"),
            call_id=OuterRef("call_id"),
            status=OutboxStatus.PENDING,
            pk__lt=OuterRef("pk"),
        )
    )


# --- delivery -----------------------------------------------------------------------------------


def _decide(row: WebhookMessage) -> outbox.Decision:
    if not WebhookEndpoint.objects.filter(pk=row.endpoint_id, enabled=True).exists():
        return "wait"  # disabled: kept until the operator enables it again
    if WebhookMessage.objects.filter(
        endpoint_id=row.endpoint_id, call_id=row.call_id, status=OutboxStatus.PENDING, pk__lt=row.pk
    ).exists():
        return "wait"  # an earlier message of this call goes first; its delivery queues this one
    if row.lease_until is not None:  # the lease ran out: the worker died during that attempt
        WebhookAttempt.objects.create(
            message=row,
            number=row.attempt_count,
            started_at=row.lease_until,
            duration_ms=0,
            error="no outcome recorded: the worker stopped during the attempt",
        )
    return "send"


def webhook_message_deliver(*, message_pk: int) -> str:
    """One attempt at one message; what happened, for the job's log."""
    row = outbox.claim(WebhookMessage, message_pk, _decide)
    if row is None:
        return "skipped"
    endpoint = WebhookEndpoint.objects.get(pk=row.endpoint_id)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "callsite-webhooks/1",
        "webhook-id": row.msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signing.signature_header(
            _signing_secrets(endpoint), row.msg_id, timestamp, row.body
        ),
    }
    started = timezone.now()
    clock = time.monotonic()
    status, excerpt, error = None, "", ""
    try:
        answer = outbound_http.post(
            endpoint.url,
            body=row.body.encode(),
            headers=headers,
            policy=webhook_policy(),
            timeout=settings.CALL_OUTBOX_HTTP_TIMEOUT_SECONDS,
            deadline=settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS,
        )
        status, excerpt = answer.status, answer.body.decode("utf-8", "replace")[:EXCERPT_CHARS]
    except outbound_http.OutboundError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = round((time.monotonic() - clock) * 1000)
    ok = status is not None and 200 <= status < 300
    with transaction.atomic():
        WebhookAttempt.objects.create(
            message=row,
            number=row.attempt_count,
            started_at=started,
            duration_ms=duration_ms,
            status_code=status,
            error=error,
            response_excerpt=excerpt,
            succeeded=ok,
        )
        if ok:
            outbox.delivered(row, status=status)
            _queue_next_of_call(row)
            return "delivered"
        if status == 410:  # the receiver says: never again
            WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
                enabled=False, disabled_reason=f"answered 410 Gone at {started:%Y-%m-%d %H:%M:%S} UTC"
            )
            outbox.retry_later(row, status=status, delay_seconds=0)  # kept, in case it is enabled again
            return "endpoint disabled"
        if row.attempt_count >= settings.CALL_WEBHOOK_MAX_ATTEMPTS:
            outbox.give_up(row, status=status)
            _queue_next_of_call(row)
            return "failed"
        delay = outbox.backoff_seconds(
            row.attempt_count,
            base=settings.CALL_WEBHOOK_RETRY_BASE_SECONDS,
            factor=4,
            cap=settings.CALL_WEBHOOK_RETRY_MAX_SECONDS,
        )
        outbox.retry_later(row, status=status, delay_seconds=delay)
        return f"retry in {delay:.1f}s"


def _queue_next_of_call(row: WebhookMessage) -> None:
    """The next message of the same call for the same endpoint may go now."""
    following = (
        WebhookMessage.objects.filter(
            endpoint_id=row.endpoint_id, call_id=row.call_id, status=OutboxStatus.PENDING, pk__gt=row.pk
        )
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if following is not None:
        WebhookMessage.objects.filter(pk=following).update(queued_at=timezone.now())
        outbox.enqueue_on_commit(JOB, [following])


def webhook_message_resend(*, message_pk: int) -> None:
    """The operator's resend: the same message (same webhook-id) is delivered again, now."""
    now = timezone.now()
    with transaction.atomic():
        updated = (
            WebhookMessage.objects.filter(pk=message_pk)
            .exclude(status=OutboxStatus.PENDING, lease_until__gt=now)
            .update(
                status=OutboxStatus.PENDING, next_attempt_at=now, lease_until=None, queued_at=now, delivered_at=None
            )
        )
        if updated:
            outbox.enqueue_on_commit(JOB, [message_pk])


def webhook_requeue_due() -> int:
    """The sweep: queue a job for every due message nobody is on, first of its call, endpoint enabled."""
    eligible = Q(endpoint__enabled=True) & Q(~_earlier_undelivered())
    return outbox.requeue_due(WebhookMessage, JOB, eligible=eligible)
