"""Retention (invitations/worker/retention.py): finished outbox rows, webhook
attempts and dead API tokens are deleted once older than their settings, in
batches of short transactions; pending rows, live tokens and a push that a
pending invitation may still have to close are kept. Ages are set with the
clock (time-machine), on the real database."""

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import time_machine
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.models import (
    ApiToken,
    CallUser,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from invitations.worker import retention

pytestmark = pytest.mark.django_db

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def keep(settings):
    settings.CALL_RETAIN_DELIVERED_DAYS = 7
    settings.CALL_RETAIN_FAILED_DAYS = 30
    settings.CALL_RETAIN_DROPPED_DAYS = 2
    settings.CALL_RETAIN_WEBHOOK_ATTEMPTS_DAYS = 30
    settings.CALL_RETAIN_DEAD_TOKENS_DAYS = 30
    settings.CALL_RETENTION_BATCH = 1000
    return settings


@pytest.fixture
def endpoint():
    return WebhookEndpoint.objects.create(url="https://hooks.example.com/calls", secret="whsec_x", created_at=NOW)


_seq = iter(range(1, 1_000_000))


def webhook(endpoint, status: str, *, at: datetime, attempts: int = 0) -> WebhookMessage:
    """A message made at `at`, last due then, delivered then if delivered; with `attempts` attempts then."""
    n = next(_seq)
    message = WebhookMessage.objects.create(
        endpoint=endpoint,
        msg_id=f"msg_{n}",
        event_type="call.created",
        call_id=f"call{n}",
        seq=1,
        body="{}",
        status=status,
        attempt_count=attempts,
        next_attempt_at=at,
        created_at=at,
        delivered_at=at if status == OutboxStatus.DELIVERED else None,
    )
    for number in range(1, attempts + 1):
        WebhookAttempt.objects.create(
            message=message,
            number=number,
            started_at=at,
            duration_ms=5,
            status_code=200 if status == OutboxStatus.DELIVERED else 500,
        )
    return message


def member_of_a_call(caller, invitee, *, pending: bool) -> CallUser:
    call_id = actions.call_invite(user=caller, invitees=[invitee.username], timeout=0)["callID"]
    if not pending:
        actions.call_cancel(user=caller, call_id=call_id)
    return CallUser.objects.get(call__call_id=call_id, user=invitee)


def push(member: CallUser, status: str, *, at: datetime) -> PushMessage:
    subscription, _ = PushSubscription.objects.get_or_create(
        endpoint=f"https://push.example.com/{member.user_id}",
        defaults={"user_id": member.user_id, "p256dh": "k", "auth": "a", "created_at": at},
    )
    return PushMessage.objects.create(
        subscription=subscription,
        member=member,
        kind=PushMessage.INVITATION,
        payload="{}",
        status=status,
        next_attempt_at=at,
        created_at=at,
        delivered_at=at if status == OutboxStatus.DELIVERED else None,
    )


def alive(*rows) -> list[bool]:
    return [type(row).objects.filter(pk=row.pk).exists() for row in rows]


def test_finished_webhook_messages_go_after_their_time_pending_ones_stay(keep, endpoint):
    delivered_old = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 7 * DAY - timedelta(seconds=1), attempts=2)
    delivered_new = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 6 * DAY, attempts=1)
    failed_old = webhook(endpoint, OutboxStatus.FAILED, at=NOW - 31 * DAY, attempts=8)
    failed_new = webhook(endpoint, OutboxStatus.FAILED, at=NOW - 8 * DAY, attempts=8)
    pending_ancient = webhook(endpoint, OutboxStatus.PENDING, at=NOW - 400 * DAY)

    result = retention.prune()

    assert alive(delivered_old, delivered_new, failed_old, failed_new, pending_ancient) == [
        False,
        True,
        False,
        True,
        True,
    ]
    assert result["webhook_messages"] == 2
    # the attempts went with their messages; the others' stay
    assert WebhookAttempt.objects.filter(message_id__in=[delivered_old.pk, failed_old.pk]).count() == 0
    assert WebhookAttempt.objects.filter(message=failed_new).count() == 8
    assert result["webhook_attempts"] == 10


def test_old_attempts_go_even_while_their_message_stays(keep, endpoint):
    keep.CALL_RETAIN_FAILED_DAYS = 90
    message = webhook(endpoint, OutboxStatus.FAILED, at=NOW - 40 * DAY, attempts=3)
    recent = WebhookAttempt.objects.create(message=message, number=4, started_at=NOW - DAY, duration_ms=1)
    retention.prune()
    assert alive(message) == [True]
    assert list(WebhookAttempt.objects.filter(message=message)) == [recent]


def test_push_rows_by_status_and_a_pending_invitation_keeps_its_own(keep, alice, bob, carol):
    ended = member_of_a_call(alice, bob, pending=False)
    ringing = member_of_a_call(alice, carol, pending=True)  # no deadline: pending for as long as it takes
    delivered_old = push(ended, OutboxStatus.DELIVERED, at=NOW - 8 * DAY)
    dropped_old = push(ended, OutboxStatus.DROPPED, at=NOW - 3 * DAY)
    dropped_new = push(ended, OutboxStatus.DROPPED, at=NOW - DAY)
    failed_mid = push(ended, OutboxStatus.FAILED, at=NOW - 20 * DAY)
    # its closing push, when carol answers, goes where this one went: it must still be there
    ringing_delivered = push(ringing, OutboxStatus.DELIVERED, at=NOW - 8 * DAY)

    result = retention.prune()

    assert alive(delivered_old, dropped_old, dropped_new, failed_mid, ringing_delivered) == [
        False,
        False,
        True,
        True,
        True,
    ]
    assert result["push_messages"] == 2


def test_dead_tokens_go_live_ones_stay(keep, clock, alice):
    def token_made(at: datetime, **fields) -> ApiToken:
        clock.move_to(at)
        token_actions.api_token_create(user=alice)
        token = ApiToken.objects.latest("pk")
        ApiToken.objects.filter(pk=token.pk).update(**fields)
        clock.move_to(NOW)
        return token

    expired_long_ago = token_made(NOW - 100 * DAY, expires_at=NOW - 31 * DAY)
    expired_lately = token_made(NOW - 100 * DAY, expires_at=NOW - 29 * DAY)
    revoked_unused = token_made(NOW - 31 * DAY, revoked=True)
    revoked_used_lately = token_made(NOW - 40 * DAY, revoked=True, last_used_at=NOW - 10 * DAY)
    never_expiring = token_made(NOW - 1000 * DAY, expires_at=None, last_used_at=NOW - 900 * DAY)
    live = token_made(NOW - DAY)

    result = retention.prune()

    assert alive(expired_long_ago, expired_lately, revoked_unused, revoked_used_lately, never_expiring, live) == [
        False,
        True,
        False,
        True,
        True,
        True,
    ]
    assert result["tokens"] == 2


def test_zero_keeps_forever(keep, endpoint, alice):
    keep.CALL_RETAIN_DELIVERED_DAYS = 0
    keep.CALL_RETAIN_DEAD_TOKENS_DAYS = 0
    message = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 5000 * DAY, attempts=1)
    token_actions.api_token_create(user=alice)
    ApiToken.objects.update(revoked=True, created_at=NOW - 5000 * DAY)
    retention.prune()
    assert alive(message) == [True] and ApiToken.objects.count() == 1


def test_deletes_in_batches_of_short_transactions(keep, endpoint):
    keep.CALL_RETENTION_BATCH = 4
    for _ in range(10):
        webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 10 * DAY, attempts=1)
    with CaptureQueriesContext(connection) as queries:
        result = retention.prune()
    assert result["webhook_messages"] == 10 and WebhookMessage.objects.count() == 0
    deletes = [
        q["sql"]
        for q in queries
        if q["sql"].startswith("DELETE")
        and "webhookmessage" in q["sql"].lower()
        and "webhookattempt" not in q["sql"].lower()
    ]
    assert len(deletes) == 3  # 4 + 4 + 2


@pytest.mark.django_db(transaction=True)
def test_a_row_another_transaction_holds_is_skipped_not_waited_for(keep, endpoint):
    """A row under a delivery's lock (claim) is left for the next run, without waiting."""
    held = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 10 * DAY)
    free = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 10 * DAY)
    locked, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                list(WebhookMessage.objects.select_for_update().filter(pk=held.pk))
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(10)
        with time_machine.travel(NOW, tick=True):
            result = retention.prune()
    finally:
        release.set()
        holder.join()
    assert result["webhook_messages"] == 1 and alive(held, free) == [True, False]
    assert retention.prune()["webhook_messages"] == 1


@pytest.mark.django_db(transaction=True)
def test_the_worker_prunes_on_start_and_every_interval(keep, endpoint):
    from invitations.worker import runner

    keep.CALL_RETENTION_INTERVAL_SECONDS = 0.2
    first = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 10 * DAY)
    stop = threading.Event()
    pruner = threading.Thread(target=runner._prune_forever, args=(stop,))
    with time_machine.travel(NOW, tick=True):
        pruner.start()
        try:
            for _ in range(100):
                if not alive(first)[0]:
                    break
                stop.wait(0.05)
            assert alive(first) == [False], "not pruned on start"
            second = webhook(endpoint, OutboxStatus.DELIVERED, at=NOW - 10 * DAY)
            for _ in range(100):
                if not alive(second)[0]:
                    break
                stop.wait(0.05)
            assert alive(second) == [False], "not pruned again after the interval"
        finally:
            stop.set()
            pruner.join(10)
    assert not pruner.is_alive()


@pytest.mark.parametrize("interval", [0, -1])
def test_an_interval_of_zero_prunes_on_start_only(keep, monkeypatch, interval):
    """Not a loop that prunes without pause (a busy thread hammering the database)."""
    from invitations.worker import runner

    keep.CALL_RETENTION_INTERVAL_SECONDS = interval
    runs = []
    monkeypatch.setattr(retention, "prune", lambda: runs.append(1) or {})
    stop = threading.Event()
    pruner = threading.Thread(target=runner._prune_forever, args=(stop,))
    pruner.start()
    pruner.join(1)
    stop.set()
    pruner.join(10)
    assert len(runs) == 1


def test_a_failed_run_is_logged_and_the_next_one_still_comes(keep, monkeypatch, caplog):
    from invitations.worker import runner

    keep.CALL_RETENTION_INTERVAL_SECONDS = 0.05
    runs = []

    def prune():
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("database away")
        return {}

    monkeypatch.setattr(retention, "prune", prune)
    stop = threading.Event()
    pruner = threading.Thread(target=runner._prune_forever, args=(stop,))
    pruner.start()
    for _ in range(100):
        if len(runs) >= 2:
            break
        stop.wait(0.05)
    stop.set()
    pruner.join(10)
    assert len(runs) >= 2 and not pruner.is_alive()
    assert "database away" in caplog.text


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_big_backlog_goes_in_batches_while_deliveries_go_on(keep, endpoint):
    """RETENTION_ROWS (default 20,000) old delivered messages with an attempt each;
    while they are pruned a delivery keeps claiming a pending message (a row lock
    and an update, as delivery/outbox.py's claim does): it never waits long."""
    import os
    import time

    rows = int(os.environ.get("RETENTION_ROWS", "20000"))
    keep.CALL_RETENTION_BATCH = 1000
    old = NOW - 10 * DAY
    messages = WebhookMessage.objects.bulk_create(
        WebhookMessage(
            endpoint=endpoint,
            msg_id=f"bulk_{n}",
            event_type="call.created",
            call_id=f"bulk{n}",
            seq=1,
            body="{}" * 200,
            status=OutboxStatus.DELIVERED,
            attempt_count=1,
            next_attempt_at=old,
            created_at=old,
            delivered_at=old,
        )
        for n in range(rows)
    )
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(message=m, number=1, started_at=old, duration_ms=3, status_code=200) for m in messages
    )
    pending = webhook(endpoint, OutboxStatus.PENDING, at=NOW)
    claims: list[float] = []
    done = threading.Event()

    def deliveries() -> None:
        try:
            while not done.is_set():
                started = time.perf_counter()
                with transaction.atomic():
                    row = WebhookMessage.objects.select_for_update().get(pk=pending.pk)
                    row.attempt_count += 1
                    row.save(update_fields=["attempt_count"])
                claims.append(time.perf_counter() - started)
                done.wait(0.01)
        finally:
            connections.close_all()

    delivery = threading.Thread(target=deliveries)
    with time_machine.travel(NOW, tick=True):
        delivery.start()
        started = time.perf_counter()
        try:
            result = retention.prune()
        finally:
            took = time.perf_counter() - started
            done.set()
            delivery.join()
    claims.sort()
    print(
        f"retention: {rows:,} messages + {rows:,} attempts deleted in {took:.1f} s "
        f"({rows / took:,.0f} messages/s, batches of 1,000); {len(claims)} claims meanwhile, "
        f"median {claims[len(claims) // 2] * 1000:.1f} ms, max {claims[-1] * 1000:.1f} ms"
    )
    assert result["webhook_messages"] == rows and result["webhook_attempts"] == rows
    assert WebhookMessage.objects.count() == 1 and alive(pending) == [True]
