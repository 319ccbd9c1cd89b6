"""Offline push (Web Push): the VAPID key, subscriptions, and the push outbox.

An invitee with no connected device when invited gets one push per
subscription; when that invitation stops pending, each subscription that got
it gets the closing push. Both are outbox rows (PushMessage) written in the
operation's transaction by the record handler below (on PostgreSQL by its
twin, in the operation's write round trip), and sent by RQ jobs
(jobs.push_deliver) after commit: 404/410 removes the subscription, 429/5xx
and no answer retry with backoff while the invitation is still pending; any
other answer (a redirect too: it is never followed) or an endpoint the
transport refuses (webpush, outbound_http) fails the push.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from py_vapid import Vapid

from invitations.calls.errors import CallError
from invitations.calls.records import HandlerWrites, OperationRecord
from invitations.calls.states import PENDING, CallState
from invitations.delivery import outbound_http, outbox, payloads, sql, webpush
from invitations.models import (
    CallUser,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    VapidKey,
)

logger = logging.getLogger(__name__)

# A user's subscriptions beyond this many: the oldest go (each is one push per invitation).
MAX_SUBSCRIPTIONS_PER_USER = 20
JOB = "push_deliver"


# --- the VAPID key ------------------------------------------------------------------------------

_vapid_by_key: dict[str, Vapid] = {}


def vapid_key_get_or_create() -> Vapid:
    """The site's VAPID signer: VAPID_PRIVATE_KEY, else the key pair the site made once (in the database)."""
    private = settings.VAPID_PRIVATE_KEY or _stored_private_key()
    if private not in _vapid_by_key:
        try:
            _vapid_by_key[private] = webpush.vapid_from_private(private)
        except ValueError as exc:
            raise ImproperlyConfigured(str(exc)) from exc
    return _vapid_by_key[private]


def _stored_private_key() -> str:
    stored = VapidKey.objects.filter(pk=1).values_list("private_key", flat=True).first()
    if stored:
        return stored
    try:
        with transaction.atomic():  # two processes at once: one insert wins, both read it
            VapidKey.objects.create(pk=1, private_key=webpush.private_key_new(), created_at=timezone.now())
    except IntegrityError:
        pass
    return VapidKey.objects.values_list("private_key", flat=True).get(pk=1)


def vapid_public_key() -> str:
    return webpush.public_key_b64(vapid_key_get_or_create())


# --- subscriptions ------------------------------------------------------------------------------


def _check_endpoint(endpoint: str) -> None:
    """https on a host of CALL_PUSH_ENDPOINT_HOSTS, read as the transport reads it: the server never
    POSTs to a URL a user made up."""
    try:
        webpush.check_endpoint(endpoint)
    except outbound_http.Refused as exc:
        raise CallError("invalid_argument", f"endpoint: {exc}") from None


def push_subscription_save(
    *, user: User, endpoint: str, p256dh: str, auth: str, device_id: str = ""
) -> PushSubscription:
    """Store a subscription for the user (the same endpoint again replaces it, whoever had it)."""
    _check_endpoint(endpoint)
    if not webpush.valid_client_keys(p256dh, auth):
        raise CallError("invalid_argument", "keys: p256dh must be a P-256 public key and auth 16 bytes, base64url")
    now = timezone.now()
    for _ in range(2):  # a concurrent save of the same endpoint: the second one updates
        try:
            with transaction.atomic():
                if device_id:  # one subscription per user and device
                    PushSubscription.objects.filter(user=user, device_id=device_id).exclude(endpoint=endpoint).delete()
                subscription, _ = PushSubscription.objects.update_or_create(
                    endpoint=endpoint,
                    defaults={"user": user, "device_id": device_id, "p256dh": p256dh, "auth": auth},
                    create_defaults={
                        "user": user,
                        "device_id": device_id,
                        "p256dh": p256dh,
                        "auth": auth,
                        "created_at": now,
                    },
                )
                extra = list(
                    PushSubscription.objects.filter(user=user)
                    .order_by("-created_at", "-pk")
                    .values_list("pk", flat=True)[MAX_SUBSCRIPTIONS_PER_USER:]
                )
                if extra:
                    PushSubscription.objects.filter(pk__in=extra).delete()
                return subscription
        except IntegrityError:
            continue
    raise CallError("invalid_argument", "endpoint: saved by another request at the same time; try again")


def push_subscription_delete(*, user: User, endpoint: str) -> bool:
    """Remove one of the user's subscriptions; False if it had none with that endpoint."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted > 0


def push_subscriptions_delete_for_browser(*, user: User, endpoint: str = "", device_id: str = "") -> int:
    """At sign-out: remove the user's subscriptions of the browser signing out, known by its
    subscription's endpoint or its push device id (either may be empty); how many went."""
    # a NUL byte cannot be stored, so no row has it (and PostgreSQL refuses it in a query)
    endpoint, device_id = ("" if "\x00" in v else v for v in (endpoint, device_id))
    if not endpoint and not device_id:
        return 0
    browser = (Q(endpoint=endpoint) if endpoint else Q()) | (Q(device_id=device_id) if device_id else Q())
    deleted, _ = PushSubscription.objects.filter(browser, user=user).delete()
    return deleted


# --- the outbox: rows written with the operation -------------------------------------------------


def write_push_rows(records: list[OperationRecord]) -> HandlerWrites | None:
    """Record handler: an invitation push to each subscription of an offline invitee, and a
    closing push for each invitee that left a pending state (delivery/sql.py), written
    by INSERT ... SELECT statements in the operation's write round trip (subscriptions and
    earlier pushes are not read in a round trip of their own); a delivery job for each row
    on commit. Payloads are built for every offline invitee, as only the database knows
    who has a subscription."""
    now = timezone.now()
    statements = []
    invitees = [
        (record.call, c.member, payloads.push_body(payloads.push_invitation(record.call, c.member, record.members)))
        for record in records
        for c in record.changes
        # do not disturb: no push (the invitation is delivered, silent, when a device connects)
        if c.user_id in record.offline_invitee_ids
        and c.user_id not in record.silent_invitee_ids
        and c.to_state in PENDING
    ]
    if invitees:
        statements.append(sql.push_invitation_rows(invitees, now))
    closed = {
        c.member.pk: (
            c.member.invited_at,
            payloads.push_body(payloads.push_invitation_closed(record.call, c.to_state, c.reason)),
        )
        for record in records
        for c in record.changes
        if c.from_state in PENDING and c.to_state not in PENDING and c.member.pk is not None
    }
    if closed:
        statements.append(sql.push_closing_rows(closed, now))
    if not statements:
        return None
    return HandlerWrites(statements, lambda rows: outbox.enqueue_on_commit(JOB, [pk for r in rows for (pk,) in r]))


# --- delivery -----------------------------------------------------------------------------------


def _decide(row: PushMessage) -> outbox.Decision:
    """Under the row lock: is this push still worth sending?"""
    now = timezone.now()
    member = CallUser.objects.select_related("call").get(pk=row.member_id)
    if row.kind == PushMessage.INVITATION:
        pending = member.state in PENDING and member.call.state == CallState.STARTED
        return "send" if pending and not (member.deadline and member.deadline <= now) else "drop"
    invitation = (
        PushMessage.objects.select_for_update()
        .filter(
            member_id=row.member_id, subscription_id=row.subscription_id, kind=PushMessage.INVITATION, pk__lt=row.pk
        )
        .order_by("-pk")
        .first()
    )
    if invitation is None or invitation.status in (OutboxStatus.DROPPED, OutboxStatus.FAILED):
        return "drop"
    if invitation.status == OutboxStatus.DELIVERED:
        return "send"
    if invitation.lease_until is not None and invitation.lease_until > now:
        return "wait"  # its attempt is in flight; the sweep brings this row back
    outbox.drop(invitation)  # never reached the push service: nothing to close
    return "drop"


def _ttl(row: PushMessage, now: datetime) -> int:
    if row.kind == PushMessage.CLOSED:
        return settings.CALL_PUSH_CLOSE_TTL_SECONDS
    deadline = row.member.deadline
    if deadline is None:  # timeout 0: no deadline
        return settings.CALL_PUSH_MAX_TTL_SECONDS
    return max(0, min(settings.CALL_PUSH_MAX_TTL_SECONDS, math.ceil((deadline - now).total_seconds())))


def push_message_deliver(*, message_pk: int) -> str:
    """One attempt at one push; what happened, for the job's log."""
    row = outbox.claim(PushMessage, message_pk, _decide)
    if row is None:
        return "skipped"
    row = PushMessage.objects.select_related("subscription", "member").get(pk=row.pk)
    subscription = row.subscription
    result = webpush.send(
        endpoint=subscription.endpoint,
        p256dh=subscription.p256dh,
        auth=subscription.auth,
        payload=row.payload.encode(),
        ttl=_ttl(row, timezone.now()),
        urgency="high",
        vapid=vapid_key_get_or_create(),
        subject=settings.VAPID_SUBJECT,
        timeout=settings.CALL_OUTBOX_HTTP_TIMEOUT_SECONDS,
        deadline=settings.CALL_OUTBOX_HTTP_DEADLINE_SECONDS,
    )
    status = result.status
    with transaction.atomic():
        if status is not None and 200 <= status < 300:
            outbox.delivered(row, status=status)
            PushSubscription.objects.filter(pk=subscription.pk).update(last_success_at=timezone.now())
            return "delivered"
        if status in (404, 410):  # the subscription is gone for good (its rows go with it)
            PushSubscription.objects.filter(pk=subscription.pk).delete()
            return "subscription removed"
        retryable = not result.refused and (status is None or status == 429 or status >= 500)
        if not retryable or row.attempt_count >= settings.CALL_PUSH_MAX_ATTEMPTS:
            logger.warning(
                "push %s gave up after %d attempt(s): %s %s", row.pk, row.attempt_count, status, result.text[:200]
            )
            outbox.give_up(row, status=status)
            return "failed"
        delay = outbox.backoff_seconds(
            row.attempt_count,
            base=settings.CALL_PUSH_RETRY_BASE_SECONDS,
            factor=2,
            cap=settings.CALL_PUSH_RETRY_MAX_SECONDS,
        )
        delay = max(delay, min(result.retry_after or 0, settings.CALL_PUSH_RETRY_MAX_SECONDS))
        outbox.retry_later(row, status=status, delay_seconds=delay)
        return f"retry in {delay:.1f}s"


def push_requeue_due() -> int:
    """The sweep: queue a job for every due push nobody is on (lost job, killed worker, retry time)."""
    return outbox.requeue_due(PushMessage, JOB, eligible=Q())
