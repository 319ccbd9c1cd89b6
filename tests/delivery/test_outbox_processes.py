"""Push and webhooks through real rqworker processes (tests/processes.py):
jobs queued after commit, retries, and a worker killed in the middle of a
delivery. Nothing is lost; one call's messages arrive in seq order."""

import time
from collections import defaultdict

import pytest

from invitations.calls import actions
from invitations.delivery import webhooks
from invitations.models import OutboxStatus, WebhookAttempt, WebhookMessage
from tests.fakes.push_service import Subscriber, verify_vapid
from tests.processes import start_worker

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

FAST = {
    "CALL_WEBHOOK_RETRY_BASE_SECONDS": "0.3",
    "CALL_PUSH_RETRY_BASE_SECONDS": "0.3",
    "CALL_OUTBOX_REQUEUE_AFTER_SECONDS": "1",
    "CALL_OUTBOX_LEASE_SECONDS": "4",
    "CALL_OUTBOX_HTTP_TIMEOUT_SECONDS": "3",
    "CALL_SWEEP_INTERVAL_SECONDS": "0.5",
    "CALL_PUSH_ENDPOINT_HOSTS": "127.0.0.1",
    "CALL_PUSH_ALLOW_HTTP": "1",
}


def wait_until(condition, what: str, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def all_delivered() -> bool:
    statuses = set(WebhookMessage.objects.values_list("status", flat=True))
    return statuses == {OutboxStatus.DELIVERED}


def assert_in_seq_order_per_call(receiver) -> None:
    """The first successful delivery of each message, per call: seq never goes back."""
    seen, order = set(), defaultdict(list)
    for request in receiver.requests:
        if 200 <= request.status < 300 and request.headers["webhook-id"] not in seen:
            seen.add(request.headers["webhook-id"])
            payload = receiver.verify(request)
            order[payload["data"]["callID"]].append(payload["data"]["seq"])
    for call_id, seqs in order.items():
        assert seqs == sorted(seqs), (call_id, seqs)


def run_calls(alice, bob, carol) -> list[str]:
    ids = []
    first = actions.call_invite(user=alice, invitees=["bob", "carol"], timeout=60)["callID"]
    actions.call_reject(user=carol, call_id=first)
    actions.call_accept(user=bob, call_id=first)
    ids.append(first)
    second = actions.call_invite(user=carol, invitees=["alice"], timeout=60)["callID"]
    actions.call_cancel(user=carol, call_id=second)
    ids.append(second)
    return ids


def test_webhooks_arrive_at_least_once_across_a_failing_receiver(process_logs, receiver, alice, bob, carol):
    _, receiver.secret = webhooks.webhook_endpoint_create(url=receiver.url)
    receiver.script([500, 502, 503, 500])  # the first four attempts fail, whatever they carry
    worker = start_worker(process_logs, **FAST)
    try:
        run_calls(alice, bob, carol)
        wait_until(all_delivered, "every message delivered")
    finally:
        worker.stop()
    messages = set(WebhookMessage.objects.values_list("msg_id", flat=True))
    assert set(receiver.delivered()) == messages  # each one verified by standardwebhooks
    assert len(messages) == 9  # 5 for the first call, 4 for the second
    assert WebhookAttempt.objects.filter(succeeded=False).count() == 4
    assert_in_seq_order_per_call(receiver)


def test_a_worker_killed_mid_delivery_loses_nothing(process_logs, receiver, alice, bob, carol):
    _, receiver.secret = webhooks.webhook_endpoint_create(url=receiver.url)
    receiver.hold_next(1)  # the first POST hangs: the worker is killed while it waits
    worker = start_worker(process_logs, **FAST)
    try:
        run_calls(alice, bob, carol)
        receiver.wait_held(1)
        worker.kill()
    finally:
        worker.stop()
    receiver.release()
    assert not all_delivered()
    worker = start_worker(process_logs, name="rqworker-2", **FAST)
    try:
        wait_until(all_delivered, "every message delivered after the restart")
    finally:
        worker.stop()
    messages = set(WebhookMessage.objects.values_list("msg_id", flat=True))
    assert set(receiver.delivered()) == messages
    assert WebhookAttempt.objects.filter(error__contains="worker stopped").count() == 1
    assert_in_seq_order_per_call(receiver)


def test_a_410_disables_the_endpoint_through_the_worker(process_logs, receiver, alice, bob):
    endpoint, receiver.secret = webhooks.webhook_endpoint_create(url=receiver.url)
    receiver.script([410])
    worker = start_worker(process_logs, **FAST)
    try:
        actions.call_invite(user=alice, invitees=["bob"])
        wait_until(lambda: not type(endpoint).objects.get(pk=endpoint.pk).enabled, "the endpoint disabled")
        time.sleep(2)  # the sweep runs a few times: nothing more goes to a disabled endpoint
    finally:
        worker.stop()
    assert len(receiver.requests) == 1


def test_a_push_goes_out_after_commit_and_a_503_is_retried(client, process_logs, push_service, alice, bob):
    subscriber = Subscriber(push_service.endpoint())
    client.force_login(bob)
    assert (
        client.post("/api/push/subscriptions", subscriber.subscription(), content_type="application/json").status_code
        == 200
    )
    key = client.get("/api/push/key").json()["publicKey"]
    push_service.script([503])
    worker = start_worker(process_logs, **FAST)
    try:
        call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
        requests = push_service.wait_for(lambda rs: any(r.status == 201 for r in rs), timeout=60)
        assert [r.status for r in requests] == [503, 201]
        body = subscriber.decrypt(requests[-1])
        assert body["event"] == "callInvitationReceived" and body["data"]["callID"] == call_id
        verify_vapid(requests[-1], key)  # the worker signs with the key the web process published
        actions.call_cancel(user=alice, call_id=call_id)
        requests = push_service.wait_for(lambda rs: len(rs) == 3, timeout=60)
        assert subscriber.decrypt(requests[-1])["event"] == "callInvitationClosed"
    finally:
        worker.stop()
