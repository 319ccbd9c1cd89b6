"""The admin for webhooks and push: an operator adds an endpoint (the secret
is shown once and verifies real deliveries), rotates it, reads messages and
their attempts, resends."""

import re

import pytest
from standardwebhooks import Webhook

from invitations.calls import actions
from invitations.delivery import webhooks
from invitations.models import (
    OutboxStatus,
    WebhookAttempt,
    WebhookEndpoint,
    WebhookMessage,
)
from tests.web.test_admin import grant
from tests.web.test_call_list_page import MODEL_BACKEND

pytestmark = pytest.mark.django_db
SECRET = re.compile(r'<code class="webhook-secret">(whsec_[A-Za-z0-9+/=]+)</code>')
ENDPOINTS = "/admin/invitations/webhookendpoint/"
MESSAGES = "/admin/invitations/webhookmessage/"


@pytest.fixture
def operator_client(client, make_user):
    operator = grant(
        make_user("hookop", is_staff=True),
        "add_webhookendpoint",
        "change_webhookendpoint",
        "view_webhookendpoint",
        "view_webhookmessage",
        "view_webhookattempt",
    )
    client.force_login(operator, backend=MODEL_BACKEND)
    return client


def deliver_all() -> None:
    for pk in WebhookMessage.objects.filter(status=OutboxStatus.PENDING).order_by("pk").values_list("pk", flat=True):
        webhooks.webhook_message_deliver(message_pk=pk)


def test_an_operator_adds_an_endpoint_and_sees_its_secret_once(operator_client, receiver, alice, bob):
    response = operator_client.post(
        ENDPOINTS + "add/",
        {"url": receiver.url, "description": "CRM", "event_types": ["call.created"], "enabled": "on"},
    )
    assert response.status_code == 200
    [secret] = SECRET.findall(response.content.decode())
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["call.created"] and endpoint.enabled
    page = operator_client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    assert secret not in page and secret.removeprefix("whsec_") not in page  # shown once only
    assert secret not in operator_client.get(ENDPOINTS).content.decode()

    actions.call_invite(user=alice, invitees=["bob"])
    deliver_all()
    [request] = receiver.requests
    assert Webhook(secret).verify(request.body, request.headers)["type"] == "call.created"


def test_the_rotate_action_shows_the_new_secret_and_both_sign(operator_client, receiver, alice, bob):
    endpoint, old = webhooks.webhook_endpoint_create(url=receiver.url)
    response = operator_client.post(ENDPOINTS, {"action": "rotate_secret", "_selected_action": [endpoint.pk]})
    assert response.status_code == 200
    [new] = SECRET.findall(response.content.decode())
    assert new != old
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_all()
    for request in receiver.requests:
        Webhook(old).verify(request.body, request.headers)
        Webhook(new).verify(request.body, request.headers)


def test_messages_show_their_attempts_and_can_be_resent(operator_client, receiver, alice, bob):
    webhooks.webhook_endpoint_create(url=receiver.url)
    receiver.script([500])
    actions.call_invite(user=alice, invitees=["bob"])
    deliver_all()
    message = WebhookMessage.objects.order_by("pk").first()
    assert operator_client.get(MESSAGES).status_code == 200
    page = operator_client.get(f"{MESSAGES}{message.pk}/change/").content.decode()
    assert message.msg_id in page and "call.created" in page and "500" in page
    response = operator_client.post(MESSAGES, {"action": "resend", "_selected_action": [message.pk]})
    assert response.status_code == 302
    deliver_all()
    assert WebhookAttempt.objects.filter(message=message, succeeded=True).exists()


def test_staff_without_permission_cannot_see_or_add(client, make_user, receiver):
    staff = make_user("plainstaff", is_staff=True)
    client.force_login(staff, backend=MODEL_BACKEND)
    assert client.get(ENDPOINTS).status_code == 403
    assert client.post(ENDPOINTS + "add/", {"url": receiver.url}).status_code == 403
    assert not WebhookEndpoint.objects.exists()


def test_a_bad_url_is_refused_by_the_form(operator_client):
    response = operator_client.post(ENDPOINTS + "add/", {"url": "ftp://example.com/x", "enabled": "on"})
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert "errorlist" in response.content.decode()


def test_push_pages_open(operator_client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    operator_client.force_login(admin, backend=MODEL_BACKEND)
    for path in [
        "/admin/invitations/pushsubscription/",
        "/admin/invitations/pushmessage/",
        "/admin/invitations/webhookattempt/",
    ]:
        assert operator_client.get(path).status_code == 200, path


def test_an_internal_address_is_refused_by_the_form(operator_client, settings):
    settings.CALL_WEBHOOK_PRIVATE_HOSTS = []
    response = operator_client.post(ENDPOINTS + "add/", {"url": "http://169.254.169.254/latest", "enabled": "on"})
    assert response.status_code == 200 and not WebhookEndpoint.objects.exists()
    assert "errorlist" in response.content.decode() and "169.254.169.254" in response.content.decode()
