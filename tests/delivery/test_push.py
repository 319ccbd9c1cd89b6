"""Offline push, end to end in-process: the API stores subscriptions, an
operation writes the outbox rows in its transaction, and the delivery (the
job's body) POSTs to a push service run by the test over real HTTP. Bodies
are decrypted (RFC 8291) with the subscriber's own keys and the VAPID JWT is
checked against the site's published key."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.states import CallUserState
from invitations.delivery import push, webpush
from invitations.models import (
    CallUser,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    VapidKey,
)
from invitations.realtime import presence
from tests.calls.helpers import clock_forward
from tests.fakes.push_service import Subscriber, verify_vapid

pytestmark = pytest.mark.django_db


def api(client, user):
    client.force_login(user)
    return client


def subscribe(client, push_service, user, device="laptop") -> Subscriber:
    subscriber = Subscriber(push_service.endpoint())
    body = {**subscriber.subscription(), "expirationTime": None, "deviceID": device}
    response = api(client, user).post("/api/push/subscriptions", body, content_type="application/json")
    assert response.status_code == 200, response.content
    return subscriber


def public_key(client, user) -> str:
    response = api(client, user).get("/api/push/key")
    assert response.status_code == 200
    return response.json()["publicKey"]


def deliver_all(kind=None) -> list[str]:
    rows = PushMessage.objects.filter(status=OutboxStatus.PENDING).order_by("pk")
    if kind:
        rows = rows.filter(kind=kind)
    return [push.push_message_deliver(message_pk=pk) for pk in rows.values_list("pk", flat=True)]


def go_online(user, device="tab") -> None:
    presence.server_process_heartbeat(server_id="push-test", host="test", pid=1)
    presence.connection_open(
        user=user, device_id=device, channel_name=f"chan-{user.pk}-{device}", server_id="push-test"
    )


def test_an_offline_invitee_gets_one_push_per_subscription(client, push_service, alice, bob):
    laptop = subscribe(client, push_service, bob, "laptop")
    phone = subscribe(client, push_service, bob, "phone")
    key = public_key(client, bob)

    call_id = actions.call_invite(
        user=alice, invitees=["bob"], timeout=60, extended_data=json.dumps({"type": "video"})
    )["callID"]
    assert deliver_all() == ["delivered", "delivered"]

    for subscriber in (laptop, phone):
        [request] = push_service.to(subscriber.endpoint)
        verify_vapid(request, key)
        assert request.headers["urgency"] == "high"
        assert 50 <= int(request.headers["ttl"]) <= 60  # the seconds left to the deadline
        body = subscriber.decrypt(request)
        assert body["event"] == "callInvitationReceived"
        assert body["title"] == "alice is calling" and body["body"] == "Incoming video call"
        data = body["data"]
        assert data["callID"] == call_id and data["caller"] == "alice" and data["inviter"] == "alice"
        assert data["timeout"] == 60 and data["deadline"] > 0
        assert {m["userID"] for m in data["callUserList"]} == {"alice", "bob"}


def test_push_config_gives_the_notification_text(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    actions.call_invite(
        user=alice, invitees=["bob"], push_config={"title": "Standup", "content": "Join now", "payload": "p"}
    )
    deliver_all()
    body = subscriber.decrypt(push_service.to(subscriber.endpoint)[0])
    assert (body["title"], body["body"]) == ("Standup", "Join now")
    assert body["data"]["pushConfig"]["payload"] == "p"


def test_answering_elsewhere_brings_the_closing_push(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
    deliver_all()
    actions.call_accept(user=bob, call_id=call_id, device_id="desk-phone")  # another device, no socket
    assert deliver_all(PushMessage.CLOSED) == ["delivered"]
    invitation, closing = push_service.to(subscriber.endpoint)
    body = subscriber.decrypt(closing)
    assert body == {
        "event": "callInvitationClosed",
        "data": {"callID": call_id, "state": CallUserState.ACCEPTED, "reason": ""},
    }
    assert closing.headers["urgency"] == "high"


def test_cancel_and_timeout_close_too_and_the_batch_path_writes_them(
    client, push_service, alice, bob, carol, time_machine
):
    bob_device = subscribe(client, push_service, bob)
    carol_device = subscribe(client, push_service, carol)
    cancelled = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
    timed_out = actions.call_invite(user=carol, invitees=["bob"], timeout=1)["callID"]
    deliver_all()
    actions.call_cancel(user=alice, call_id=cancelled)
    clock_forward(time_machine, 1.1)
    assert deadlines.invitations_expire_due() == 1  # the batched expiry
    deliver_all(PushMessage.CLOSED)
    closings = [
        bob_device.decrypt(r)
        for r in push_service.to(bob_device.endpoint)
        if bob_device.decrypt(r)["event"] == "callInvitationClosed"
    ]
    assert {(c["data"]["callID"], c["data"]["state"], c["data"]["reason"]) for c in closings} == {
        (cancelled, CallUserState.CANCELLED, "caller_cancel"),
        (timed_out, CallUserState.TIMEOUT, "timeout"),
    }
    assert push_service.to(carol_device.endpoint) == []  # the caller is never pushed


def test_a_410_removes_the_subscription(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    push_service.script([410], path=subscriber.endpoint.removeprefix(push_service.base))
    actions.call_invite(user=alice, invitees=["bob"])
    assert deliver_all() == ["subscription removed"]
    assert not PushSubscription.objects.filter(endpoint=subscriber.endpoint).exists()


def test_a_404_removes_it_too(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    push_service.script([404], path=subscriber.endpoint.removeprefix(push_service.base))
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_all()
    assert not PushSubscription.objects.exists()


def make_due() -> None:
    PushMessage.objects.filter(status=OutboxStatus.PENDING).update(next_attempt_at=timezone.now())


def test_a_503_is_retried_while_the_invitation_is_pending(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    push_service.script([503, 429], path=subscriber.endpoint.removeprefix(push_service.base))
    actions.call_invite(user=alice, invitees=["bob"], timeout=60)
    [outcome] = deliver_all()
    assert outcome.startswith("retry in")
    row = PushMessage.objects.get()
    assert row.status == OutboxStatus.PENDING and row.attempt_count == 1 and row.last_status == 503
    assert row.next_attempt_at > timezone.now()
    assert deliver_all() == ["skipped"]  # not due yet
    make_due()
    assert deliver_all()[0].startswith("retry in")  # 429
    make_due()
    assert deliver_all() == ["delivered"]
    assert [r.status for r in push_service.to(subscriber.endpoint)] == [503, 429, 201]
    assert PushMessage.objects.get().attempt_count == 3


def test_a_retry_after_the_invitation_stopped_pending_is_dropped(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    push_service.script([503], path=subscriber.endpoint.removeprefix(push_service.base))
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
    deliver_all()
    actions.call_reject(user=bob, call_id=call_id, device_id="elsewhere")
    make_due()
    deliver_all()
    # never reached the push service: dropped, and no closing push is needed
    assert [r.status for r in push_service.to(subscriber.endpoint)] == [503]
    assert set(PushMessage.objects.values_list("status", flat=True)) == {OutboxStatus.DROPPED}


def test_an_online_invitee_gets_no_push(client, push_service, alice, bob, carol):
    subscribe(client, push_service, bob)
    carol_device = subscribe(client, push_service, carol)
    go_online(bob)
    actions.call_invite(user=alice, invitees=["bob", "carol"])
    rows = list(PushMessage.objects.select_related("member__user"))
    assert [r.member.user.username for r in rows] == ["carol"]
    deliver_all()
    assert len(push_service.to(carol_device.endpoint)) == 1
    assert len(push_service.requests) == 1


def test_a_user_without_subscription_costs_nothing(alice, bob):
    actions.call_invite(user=alice, invitees=["bob"])
    assert not PushMessage.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://evil.example.com/push/1",
        "https://127.0.0.1.evil.example.com/push/1",
        "ftp://127.0.0.1/push/1",
        "https://user:pw@127.0.0.1/push/1",
        "not a url",
        "",
    ],
)
def test_an_endpoint_not_on_an_allowed_host_is_refused(client, push_service, bob, endpoint):
    body = {**Subscriber(endpoint).subscription(), "deviceID": "x"}
    response = api(client, bob).post("/api/push/subscriptions", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "invalid_argument"
    assert not PushSubscription.objects.exists()


def test_http_needs_the_test_switch(client, push_service, settings, bob):
    settings.CALL_PUSH_ALLOW_HTTP = False
    body = Subscriber(push_service.endpoint()).subscription()
    response = api(client, bob).post("/api/push/subscriptions", body, content_type="application/json")
    assert response.status_code == 400


def test_the_default_hosts_are_the_browsers_push_services(client, settings, bob):
    for endpoint in [
        "https://fcm.googleapis.com/fcm/send/abc",
        "https://updates.push.services.mozilla.com/wpush/v2/x",
        "https://web.push.apple.com/QG",
        "https://wns2-by3p.notify.windows.com/w/?token=x",
    ]:
        response = api(client, bob).post(
            "/api/push/subscriptions", Subscriber(endpoint).subscription(), content_type="application/json"
        )
        assert response.status_code == 200, (endpoint, response.content)
    assert PushSubscription.objects.filter(user=bob).count() == 4


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b["keys"].update(p256dh=b["keys"]["auth"]),
        lambda b: b["keys"].update(auth="AAAA"),
        lambda b: b.pop("keys"),
        lambda b: b.update(extra=1),
        lambda b: b.update(deviceID=5),
        lambda b: b.update(endpoint="https://127.0.0.1/\x00"),
    ],
)
def test_malformed_subscriptions_are_refused(client, push_service, bob, change):
    body = Subscriber(push_service.endpoint()).subscription()
    change(body)
    response = api(client, bob).post("/api/push/subscriptions", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["reason"] == "invalid_argument"
    assert not PushSubscription.objects.exists()


def test_the_same_endpoint_replaces_and_one_per_device(client, push_service, alice, bob):
    first = Subscriber(push_service.endpoint())
    for user in (alice, bob):  # the browser now signed in as bob
        api(client, user).post(
            "/api/push/subscriptions", {**first.subscription(), "deviceID": "d1"}, content_type="application/json"
        )
    assert list(PushSubscription.objects.values_list("user__username", flat=True)) == ["bob"]
    second = Subscriber(push_service.endpoint())  # the device got a new subscription
    api(client, bob).post(
        "/api/push/subscriptions", {**second.subscription(), "deviceID": "d1"}, content_type="application/json"
    )
    assert list(PushSubscription.objects.values_list("endpoint", flat=True)) == [second.endpoint]


def test_delete_removes_only_the_users_own(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    response = api(client, alice).delete(
        "/api/push/subscriptions", {"endpoint": subscriber.endpoint}, content_type="application/json"
    )
    assert response.json() == {"removed": False}
    response = api(client, bob).delete(
        "/api/push/subscriptions", {"endpoint": subscriber.endpoint}, content_type="application/json"
    )
    assert response.json() == {"removed": True}
    assert not PushSubscription.objects.exists()
    response = api(client, bob).delete("/api/push/subscriptions", {}, content_type="application/json")
    assert response.status_code == 400


def test_push_endpoints_need_a_user(client):
    assert client.get("/api/push/key").status_code == 401
    assert client.post("/api/push/subscriptions", {}, content_type="application/json").status_code == 401


def test_the_key_is_made_once_and_kept(client, bob, settings):
    settings.VAPID_PRIVATE_KEY = ""
    first = public_key(client, bob)
    assert VapidKey.objects.count() == 1
    assert public_key(client, bob) == first


def test_the_key_comes_from_the_environment_when_set(client, bob, settings):
    private = webpush.private_key_new()
    settings.VAPID_PRIVATE_KEY = private
    assert public_key(client, bob) == webpush.public_key_b64(webpush.vapid_from_private(private))
    assert not VapidKey.objects.exists()


def test_a_long_invitation_still_fits_one_push(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    title, content = "T" * 1000, "C" * 1000  # PROTOCOL's limits: 1024 bytes each, 2048 for extendedData
    actions.call_invite(
        user=alice,
        invitees=["bob"],
        extended_data="e" * 2048,
        push_config={"title": title, "content": content, "payload": "p" * 1024},
    )
    assert deliver_all() == ["delivered"]
    request = push_service.to(subscriber.endpoint)[0]
    assert len(request.body) <= 4096  # one record: what push services take
    body = subscriber.decrypt(request)
    assert body["data"]["truncated"] is True and (body["title"], body["body"]) == (title, content)
    assert body["data"]["callID"] and "extendedData" not in body["data"]


def test_a_push_whose_deadline_passed_is_dropped(client, push_service, alice, bob):
    subscribe(client, push_service, bob)
    actions.call_invite(user=alice, invitees=["bob"], timeout=1)
    CallUser.objects.filter(user=bob).update(deadline=timezone.now() - timedelta(seconds=1))
    assert deliver_all() == ["skipped"]
    assert PushMessage.objects.get().status == OutboxStatus.DROPPED
    assert push_service.requests == []


def test_an_invitation_without_deadline_lives_the_longest_ttl(client, push_service, settings, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    actions.call_invite(user=alice, invitees=["bob"], timeout=0)  # Tencent's no-timeout invitation
    assert deliver_all() == ["delivered"]
    [request] = push_service.to(subscriber.endpoint)
    assert int(request.headers["ttl"]) == settings.CALL_PUSH_MAX_TTL_SECONDS
    assert subscriber.decrypt(request)["data"]["deadline"] == 0


def test_online_user_only_pushes_nobody(client, push_service, alice, bob, carol):
    subscribe(client, push_service, bob)
    go_online(carol)
    answer = actions.call_invite(user=alice, invitees=["bob", "carol"], online_user_only=True)
    assert [e["userID"] for e in answer["errorInvitees"]] == ["bob"]
    assert not PushMessage.objects.exists()


@pytest.mark.parametrize(
    "endpoint",
    [
        "https://169.254.169.254\\.fcm.googleapis.com/latest",  # requests and urllib3 end the host at the backslash
        "https://169.254.169.254%5C.fcm.googleapis.com/latest",
        "https://fcm.googleapis.com:8443/fcm/send/abc",
        "https://fcm.googleapis.com@169.254.169.254/fcm/send/abc",
        "https://fcm.googleapis.com/fcm/send/a b",
    ],
)
def test_an_endpoint_that_could_reach_another_host_is_refused(client, bob, endpoint):
    response = api(client, bob).post(
        "/api/push/subscriptions", Subscriber(endpoint).subscription(), content_type="application/json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["reason"] == "invalid_argument"
    assert not PushSubscription.objects.exists()


def test_a_redirect_is_not_followed_and_the_push_fails(client, push_service, alice, bob):
    from tests.fakes.hostile_server import HostileServer

    elsewhere = HostileServer(body_bytes=2)
    redirect = HostileServer(redirect_to=f"{elsewhere.base}/latest/meta-data")
    try:
        subscriber = Subscriber(f"{redirect.base}/push/redirects")
        api(client, bob).post("/api/push/subscriptions", subscriber.subscription(), content_type="application/json")
        actions.call_invite(user=alice, invitees=["bob"], timeout=60)
        assert deliver_all() == ["failed"]
        assert len(redirect.requests) == 1 and elsewhere.requests == []
        row = PushMessage.objects.get()
        assert row.status == OutboxStatus.FAILED and row.last_status == 307
    finally:
        redirect.stop()
        elsewhere.stop()


def test_chinese_push_text_fits_one_push(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    title, content = "张三邀请你加入视频通话" * 31, "请尽快接听这个重要的电话" * 28  # each within 1,024 UTF-8 bytes
    assert len(title.encode()) <= 1024 and len(content.encode()) <= 1024
    extended = json.dumps({"type": "video", "备注": "测" * 600}, ensure_ascii=False)
    actions.call_invite(
        user=alice,
        invitees=["bob"],
        extended_data=extended,
        push_config={"title": title, "content": content, "payload": "负载" * 170},
    )
    assert deliver_all() == ["delivered"]
    request = push_service.to(subscriber.endpoint)[0]
    assert len(request.body) <= 4096, len(request.body)  # one aes128gcm record: what push services take
    body = subscriber.decrypt(request)
    assert (body["title"], body["body"]) == (title, content)
    assert body["data"]["truncated"] is True and body["data"]["callID"]


def test_text_that_cannot_fit_is_shortened_until_the_push_fits(client, push_service, alice, bob):
    subscriber = subscribe(client, push_service, bob)
    title, content = '"' * 1024, "\\" * 1024  # each byte becomes two in JSON
    actions.call_invite(user=alice, invitees=["bob"], push_config={"title": title, "content": content})
    assert deliver_all() == ["delivered"]
    request = push_service.to(subscriber.endpoint)[0]
    assert len(request.body) <= 4096, len(request.body)
    body = subscriber.decrypt(request)
    assert body["title"].endswith("…") or body["body"].endswith("…")
    assert title.startswith(body["title"].removesuffix("…")) and content.startswith(body["body"].removesuffix("…"))
    assert len(body["title"]) + len(body["body"]) > 1650  # shortened only as much as needed
