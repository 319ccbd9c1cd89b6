"""Webhooks in-process: operations write one message per endpoint and type in
their transaction; the delivery (the job's body) POSTs over real HTTP to a
receiver run by the test, which verifies every message with the
`standardwebhooks` package."""

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from standardwebhooks import Webhook, WebhookVerificationError

from invitations.calls import actions, deadlines
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallUserState
from invitations.delivery import outbox, webhooks
from invitations.models import (
    OutboxStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from tests.calls.helpers import clock_forward

pytestmark = pytest.mark.django_db


def endpoint_for(receiver, **kw) -> WebhookEndpoint:
    endpoint, secret = webhooks.webhook_endpoint_create(url=receiver.url, **kw)
    receiver.secret = secret
    return endpoint


def deliver_due() -> list[str]:
    """One round: every pending message that is due, oldest first (what the queued jobs do)."""
    pks = (
        WebhookMessage.objects.filter(status=OutboxStatus.PENDING, next_attempt_at__lte=timezone.now())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [webhooks.webhook_message_deliver(message_pk=pk) for pk in pks]


def make_due() -> None:
    WebhookMessage.objects.filter(status=OutboxStatus.PENDING).update(next_attempt_at=timezone.now())


def test_a_call_becomes_signed_messages_of_each_type_in_seq_order(receiver, alice, bob, carol):
    endpoint_for(receiver)
    call_id = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=60)["callID"]
    actions.call_reject(user=carol, call_id=call_id, reason="busy")
    actions.call_accept(user=bob, call_id=call_id)
    deliver_due()

    messages = receiver.verified()  # every one verified by standardwebhooks
    types = [(p["type"], p["data"]["seq"]) for _, p in messages]
    assert types == [
        ("call.created", 1),
        ("call.user_state_changed", 1),
        ("call.user_state_changed", 2),
        ("call.user_state_changed", 3),
        ("call.ended", 3),
    ]
    created = messages[0][1]["data"]
    assert created["callID"] == call_id and created["caller"] == "alice" and created["mode"] == CallMode.GENERAL
    assert created["groupID"] == "" and created["createTime"] > 0
    first_change = messages[1][1]["data"]["callUserList"]
    assert {(m["userID"], m["state"]) for m in first_change} == {
        ("alice", CallUserState.ACCEPTED),
        ("bob", CallUserState.INVITING),
        ("carol", CallUserState.INVITING),
    }
    assert messages[2][1]["data"]["callUserList"] == [
        {"userID": "carol", "state": CallUserState.REJECTED, "extendedData": "", "reason": "busy"}
    ]
    ended = messages[4][1]["data"]
    assert ended["operatedUserID"] == "bob" and ended["endTime"] > 0
    assert len({msg_id for msg_id, _ in messages}) == 5
    for _, payload in messages:
        assert set(payload) == {"type", "timestamp", "data"} and payload["timestamp"].endswith("Z")


def test_an_endpoint_gets_only_the_types_it_wants(receiver, alice, bob):
    endpoint_for(receiver, event_types=["call.ended"])
    call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    actions.call_cancel(user=alice, call_id=call_id)
    deliver_due()
    assert [p["type"] for _, p in receiver.verified()] == ["call.ended"]


def test_disabled_endpoints_and_no_endpoints_get_nothing(receiver, alice, bob):
    endpoint = endpoint_for(receiver)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(enabled=False)
    actions.call_invite(user=alice, invitees=["bob"])
    assert not WebhookMessage.objects.exists()


def test_a_rolled_back_operation_writes_no_message(receiver, alice, bob):
    endpoint_for(receiver)
    call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    count = WebhookMessage.objects.count()
    with pytest.raises(Exception):
        actions.call_cancel(user=bob, call_id=call_id)  # not the caller: refused
    assert WebhookMessage.objects.count() == count


def test_failures_are_retried_with_the_same_id_until_delivered(receiver, alice, bob):
    endpoint_for(receiver)
    receiver.script([500, 503])
    actions.call_invite(user=alice, invitees=["bob"])
    created = WebhookMessage.objects.order_by("pk").first()
    deliver_due()
    created.refresh_from_db()
    assert created.status == OutboxStatus.PENDING and created.attempt_count == 1
    assert created.next_attempt_at > timezone.now()
    # the call's second message waits for the first: one call's messages go in order
    assert len(receiver.requests) == 1
    make_due()
    deliver_due()
    make_due()
    deliver_due()
    make_due()
    deliver_due()
    assert set(WebhookMessage.objects.values_list("status", flat=True)) == {OutboxStatus.DELIVERED}
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids[:3] == [created.msg_id] * 3 and [r.status for r in receiver.requests][:3] == [500, 503, 200]
    attempts = list(WebhookAttempt.objects.filter(message=created).order_by("number"))
    assert [(a.number, a.status_code, a.succeeded) for a in attempts] == [
        (1, 500, False),
        (2, 503, False),
        (3, 200, True),
    ]
    assert all(a.duration_ms >= 0 and a.response_excerpt for a in attempts)
    delivered = receiver.delivered()
    assert [p["type"] for p in delivered.values()] == ["call.created", "call.user_state_changed"]


def test_no_answer_is_an_attempt_too(alice, bob):
    endpoint, _ = webhooks.webhook_endpoint_create(url="http://127.0.0.1:9/nobody")
    actions.call_invite(user=alice, invitees=["bob"])
    [outcome, waiting] = deliver_due()
    assert outcome.startswith("retry in") and waiting == "skipped"
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and "cannot connect to 127.0.0.1 port 9" in attempt.error


def test_a_410_disables_the_endpoint(receiver, alice, bob):
    endpoint = endpoint_for(receiver)
    receiver.script([410])
    call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
    deliver_due()
    endpoint.refresh_from_db()
    assert not endpoint.enabled and "410" in endpoint.disabled_reason
    actions.call_cancel(user=alice, call_id=call_id)
    assert WebhookMessage.objects.count() == 2  # nothing new for a disabled endpoint
    make_due()
    assert set(deliver_due()) == {"skipped"} and len(receiver.requests) == 1
    assert webhooks.webhook_requeue_due() == 0
    # enabled again: what it missed goes out, in order
    webhooks.webhook_endpoint_update(endpoint=endpoint, url=endpoint.url, event_types=[], description="", enabled=True)
    deliver_due()
    deliver_due()
    assert [p["type"] for p in receiver.delivered().values()] == ["call.created", "call.user_state_changed"]


def test_rotation_signs_with_both_secrets_for_the_grace_period(receiver, alice, bob):
    endpoint = endpoint_for(receiver)
    old = receiver.secret
    new = webhooks.webhook_endpoint_rotate_secret(endpoint_pk=endpoint.pk)
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_due()
    request = receiver.requests[0]
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(request.body, request.headers)
    Webhook(new).verify(request.body, request.headers)
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now())
    WebhookMessage.objects.update(status=OutboxStatus.PENDING, next_attempt_at=timezone.now(), lease_until=None)
    deliver_due()
    request = receiver.requests[-1]
    assert len(request.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(request.body, request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(request.body, request.headers)


def test_batched_expiry_writes_messages_too(receiver, alice, bob, carol, time_machine):
    endpoint_for(receiver)
    first = actions.call_invite(user=alice, invitees=["bob"], timeout=1)["callID"]
    second = actions.call_invite(user=carol, invitees=["bob"], timeout=1)["callID"]
    clock_forward(time_machine, 1.1)
    assert deadlines.invitations_expire_due() == 2
    deliver_due()
    deliver_due()
    by_call = {}
    for payload in receiver.delivered().values():
        by_call.setdefault(payload["data"]["callID"], []).append(payload)
    for call_id in (first, second):
        kinds = [(p["type"], p["data"]["seq"]) for p in by_call[call_id]]
        assert kinds == [
            ("call.created", 1),
            ("call.user_state_changed", 1),
            ("call.user_state_changed", 2),
            ("call.ended", 2),
        ]
        timeout = by_call[call_id][2]["data"]["callUserList"]
        assert timeout == [{"userID": "bob", "state": CallUserState.TIMEOUT, "extendedData": "", "reason": "timeout"}]


def test_resend_delivers_the_same_message_again(receiver, alice, bob):
    endpoint_for(receiver)
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_due()
    deliver_due()
    first = WebhookMessage.objects.order_by("pk").first()
    webhooks.webhook_message_resend(message_pk=first.pk)
    deliver_due()
    assert [r.headers["webhook-id"] for r in receiver.requests].count(first.msg_id) == 2
    assert WebhookAttempt.objects.filter(message=first).count() == 2


def test_the_sweep_requeues_a_lost_job_and_an_expired_lease(receiver, alice, bob):
    endpoint_for(receiver)
    actions.call_invite(user=alice, invitees=["bob"])
    head = WebhookMessage.objects.order_by("pk").first()
    assert webhooks.webhook_requeue_due() == 0  # just queued at commit: not lost yet
    long_ago = timezone.now() - timedelta(minutes=5)
    WebhookMessage.objects.update(queued_at=long_ago)
    assert webhooks.webhook_requeue_due() == 1  # only the head of the call: the other waits for it
    # a worker took the head and died mid-request: its lease runs out, then it is due again
    WebhookMessage.objects.filter(pk=head.pk).update(
        lease_until=timezone.now() + timedelta(minutes=1), attempt_count=1, queued_at=long_ago
    )
    assert webhooks.webhook_requeue_due() == 0
    WebhookMessage.objects.filter(pk=head.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert webhooks.webhook_requeue_due() == 1
    deliver_due()
    lost, sent = WebhookAttempt.objects.filter(message=head).order_by("number")
    assert lost.number == 1 and "worker stopped" in lost.error
    assert sent.number == 2 and sent.succeeded


def test_the_default_schedule_is_at_least_five_tries_over_an_hour(settings):
    tries = settings.CALL_WEBHOOK_MAX_ATTEMPTS
    # the smallest delays jitter can give
    low = [
        outbox.backoff_seconds(
            n,
            base=settings.CALL_WEBHOOK_RETRY_BASE_SECONDS,
            factor=4,
            cap=settings.CALL_WEBHOOK_RETRY_MAX_SECONDS,
            rng=_Lowest(),
        )
        for n in range(1, tries)
    ]
    assert tries >= 5 and sum(low) >= 3600
    assert low == sorted(low)  # exponential, then capped


class _Lowest:
    def uniform(self, a: float, b: float) -> float:
        return a


def test_webhook_add_prints_the_secret_alone_on_the_last_line(receiver, alice, bob):
    out = StringIO()
    call_command("webhook_add", receiver.url, "--events", "call.created", "call.ended", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    assert secret.startswith("whsec_") and " " not in secret
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["call.created", "call.ended"]
    receiver.secret = secret
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_due()
    assert [p["type"] for _, p in receiver.verified()] == ["call.created"]


def test_webhook_add_refuses_bad_input():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("webhook_add", "ftp://example.com/x", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command(
            "webhook_add", "https://example.com/x", "--events", "call.nope", stdout=StringIO(), stderr=StringIO()
        )
    assert not WebhookEndpoint.objects.exists()


def test_bodies_are_json_and_the_same_bytes_on_every_try(receiver, alice, bob):
    endpoint_for(receiver)
    receiver.script([500])
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_due()
    make_due()
    deliver_due()
    first, second = receiver.requests[:2]
    assert first.body == second.body and json.loads(first.body)["type"] == "call.created"
    assert first.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/hooks",
        "http://localhost/hooks",
        "http://10.1.2.3/hooks",
        "https://192.168.0.10/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hooks",
        "http://0.0.0.0/hooks",
        "http://100.64.0.1/",
        "http://[::ffff:127.0.0.1]/hooks",
        "http://169.254.169.254\\.example.com/",
        "http://user@example.com/",
    ],
)
def test_internal_addresses_are_refused_unless_listed(settings, url):
    settings.CALL_WEBHOOK_PRIVATE_HOSTS = []
    with pytest.raises(CallError) as refused:
        webhooks.webhook_endpoint_create(url=url)
    assert refused.value.reason == "invalid_argument"
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("webhook_add", url, stdout=StringIO())
    assert not WebhookEndpoint.objects.exists()


class _Resolver:
    """Stands in for DNS only (the answers); connections still go over real sockets."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append(host)
        return [self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]]


def test_a_name_that_turns_private_after_the_check_is_not_connected_to(receiver, monkeypatch, settings, alice, bob):
    from invitations.delivery import outbound_http

    settings.CALL_WEBHOOK_PRIVATE_HOSTS = []
    resolver = _Resolver("93.184.216.34", "127.0.0.1")  # public when added, loopback when sent (DNS rebinding)
    monkeypatch.setattr(outbound_http, "resolve", resolver)
    webhooks.webhook_endpoint_create(url=f"http://rebind.example.com:{receiver.port}/hooks")
    actions.call_invite(user=alice, invitees=["bob"])
    assert deliver_due()[0].startswith("retry in")
    assert receiver.requests == []
    attempt = WebhookAttempt.objects.get()
    assert attempt.status_code is None and "127.0.0.1" in attempt.error
    assert resolver.asked == ["rebind.example.com", "rebind.example.com"]


def test_delivery_connects_to_the_address_it_checked(receiver, monkeypatch, settings, alice, bob):
    from invitations.delivery import outbound_http

    settings.CALL_WEBHOOK_PRIVATE_HOSTS = ["hooks.internal.example"]  # a site's own host on its network
    monkeypatch.setattr(outbound_http, "resolve", _Resolver("127.0.0.1"))
    _, receiver.secret = webhooks.webhook_endpoint_create(url=f"http://hooks.internal.example:{receiver.port}/hooks")
    actions.call_invite(user=alice, invitees=["bob"])
    assert deliver_due()[:1] == ["delivered"]
    [request, *_] = receiver.requests
    assert request.headers["host"] == f"hooks.internal.example:{receiver.port}"
    receiver.verify(request)
