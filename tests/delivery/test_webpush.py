"""The Web Push transport (invitations/delivery/webpush.py) against a local push
service: real RFC 8291 encryption and RFC 8292 VAPID, checked by independent
code (http_ece, cryptography)."""

import json

import pytest
from cryptography.exceptions import InvalidSignature

from invitations.delivery import webpush
from tests.fakes.push_service import LocalPushService, Subscriber, verify_vapid


@pytest.fixture
def push_service(settings):
    settings.CALL_PUSH_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.CALL_PUSH_ALLOW_HTTP = True
    service = LocalPushService()
    yield service
    service.stop()


def send(subscriber: Subscriber, vapid, payload: dict, **kw):
    keys = subscriber.subscription()["keys"]
    args = {
        "endpoint": subscriber.endpoint,
        "p256dh": keys["p256dh"],
        "auth": keys["auth"],
        "payload": json.dumps(payload).encode(),
        "ttl": 42,
        "urgency": "high",
        "vapid": vapid,
        "subject": "mailto:ops@example.com",
        "timeout": 10,
        "deadline": 15,
    }
    args.update(kw)
    return webpush.send(**args)


def test_a_push_decrypts_for_the_subscriber_and_carries_a_valid_vapid_jwt(push_service):
    private = webpush.private_key_new()
    vapid = webpush.vapid_from_private(private)
    subscriber = Subscriber(push_service.endpoint())

    result = send(subscriber, vapid, {"event": "callInvitationReceived", "data": {"callID": "c1"}})

    assert result.status == 201
    [request] = push_service.to(subscriber.endpoint)
    assert subscriber.decrypt(request) == {"event": "callInvitationReceived", "data": {"callID": "c1"}}
    assert request.headers["ttl"] == "42"
    assert request.headers["urgency"] == "high"
    claims = verify_vapid(request, webpush.public_key_b64(vapid))
    assert claims["sub"] == "mailto:ops@example.com"


def test_another_key_pair_cannot_pass_for_the_sites_key(push_service):
    vapid = webpush.vapid_from_private(webpush.private_key_new())
    other = webpush.vapid_from_private(webpush.private_key_new())
    subscriber = Subscriber(push_service.endpoint())
    send(subscriber, vapid, {"x": 1})
    [request] = push_service.to(subscriber.endpoint)
    forged = request.headers["authorization"].replace(webpush.public_key_b64(vapid), webpush.public_key_b64(other))
    request.headers["authorization"] = forged
    with pytest.raises(InvalidSignature):
        verify_vapid(request, webpush.public_key_b64(other))


def test_another_subscriber_cannot_decrypt(push_service):
    vapid = webpush.vapid_from_private(webpush.private_key_new())
    subscriber = Subscriber(push_service.endpoint())
    send(subscriber, vapid, {"x": 1})
    [request] = push_service.to(subscriber.endpoint)
    eavesdropper = Subscriber(subscriber.endpoint)
    with pytest.raises(Exception):
        eavesdropper.decrypt(request)


def test_the_push_services_answer_and_retry_after_come_back(push_service):
    vapid = webpush.vapid_from_private(webpush.private_key_new())
    subscriber = Subscriber(push_service.endpoint())
    push_service.script([410], path=subscriber.endpoint.split(push_service.base)[1])
    assert send(subscriber, vapid, {"x": 1}).status == 410
    assert webpush._retry_after("7") == 7.0


def test_no_answer_is_a_result_without_status(push_service):
    vapid = webpush.vapid_from_private(webpush.private_key_new())
    subscriber = Subscriber("http://127.0.0.1:9/push/nobody-listens")
    result = send(subscriber, vapid, {"x": 1}, timeout=2)
    assert result.status is None and result.text


@pytest.mark.parametrize("bad", ["", "not base64 !!", webpush.b64url(b"x" * 31), webpush.b64url(b"x" * 33)])
def test_a_private_key_that_is_not_32_raw_bytes_is_refused(bad):
    with pytest.raises(ValueError):
        webpush.vapid_from_private(bad)


def test_the_public_key_is_the_uncompressed_point_of_the_private_key():
    private = webpush.private_key_new()
    public = webpush.b64url_decode(webpush.public_key_b64(webpush.vapid_from_private(private)))
    assert len(public) == 65 and public[0] == 4
    assert webpush.public_key_b64(webpush.vapid_from_private(private)) == webpush.public_key_b64(
        webpush.vapid_from_private(private)
    )


def test_client_keys_are_checked():
    keys = Subscriber("https://x").subscription()["keys"]
    assert webpush.valid_client_keys(keys["p256dh"], keys["auth"])
    assert not webpush.valid_client_keys(keys["auth"], keys["auth"])
    assert not webpush.valid_client_keys(keys["p256dh"], keys["p256dh"])
    assert not webpush.valid_client_keys("%%%", keys["auth"])


def test_the_service_worker_is_served_from_the_root(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    assert response["Service-Worker-Allowed"] == "/"
    assert b"notificationclick" in response.content
    assert client.post("/sw.js").status_code == 405


def test_an_allowed_push_host_that_resolves_to_an_internal_address_is_not_connected_to(
    push_service, settings, monkeypatch
):
    from invitations.delivery import outbound_http

    settings.CALL_PUSH_ALLOW_HTTP = False  # production's rules
    settings.CALL_PUSH_ENDPOINT_HOSTS = ["push.example.com"]
    monkeypatch.setattr(outbound_http, "resolve", lambda host, port: ["127.0.0.1"])  # the DNS answer only
    vapid = webpush.vapid_from_private(webpush.private_key_new())
    result = send(Subscriber("https://fcm.push.example.com/send/x"), vapid, {"x": 1})
    assert result.status is None and result.refused and "127.0.0.1" in result.text
    settings.CALL_PUSH_ENDPOINT_HOSTS = ["fcm.googleapis.com"]
    result = send(Subscriber("https://169.254.169.254\\.fcm.googleapis.com/latest"), vapid, {"x": 1})
    assert result.refused and push_service.requests == []
