"""Push and webhooks per tenant (PROTOCOL "Apps"): an app's users subscribe with their
app token and get their own invitations only; an endpoint registered for an app
(`webhook_add URL --app APPID`) receives that app's calls only, and one registered
without an app the site's own accounts' calls only. Real HTTP to local receivers."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from invitations.calls import actions
from invitations.models import WebhookEndpoint
from tests.apps_helpers import mint_app_token
from tests.delivery.test_push import deliver_all
from tests.delivery.test_webhooks import deliver_due
from tests.fakes.push_service import Subscriber
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def apps(make_app):
    return make_app("one"), make_app("two")


def subscribe_with_token(push_service, token: str) -> Subscriber:
    subscriber = Subscriber(push_service.endpoint())
    response = Client().post(
        "/api/push/subscriptions",
        {**subscriber.subscription(), "deviceID": "phone"},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 200, response.content
    return subscriber


def test_an_apps_user_gets_its_own_invitations_pushed(push_service, apps, app_user, make_user):
    app1, app2 = apps
    alice = app_user(app1, "alice", "Alice One")
    make_user("bob")
    bob1 = subscribe_with_token(push_service, mint_app_token(app1, "bob", "Bob One"))
    bob2 = subscribe_with_token(push_service, mint_app_token(app2, "bob", "Bob Two"))
    call_id = actions.call_invite(user=alice, invitees=["bob"], timeout=60)["callID"]
    assert deliver_all() == ["delivered"]
    [request] = push_service.to(bob1.endpoint)
    body = bob1.decrypt(request)
    assert body["title"] == "Alice One is calling"  # the inviter's name, from its token
    assert (body["data"]["callID"], body["data"]["caller"]) == (call_id, "alice")
    assert body["data"]["userNames"] == {"alice": "Alice One", "bob": "Bob One"}
    assert push_service.to(bob2.endpoint) == []


def test_an_apps_endpoint_receives_that_apps_calls_only(apps, app_user, make_user):
    app1, app2 = apps
    receivers = {name: WebhookReceiver() for name in ("site", "app1", "app2")}
    try:
        for name, app_id in (("site", None), ("app1", app1.app_id), ("app2", app2.app_id)):
            out = StringIO()
            args = ["--app", app_id] if app_id else []
            call_command("webhook_add", receivers[name].url, *args, stdout=out)
            receivers[name].secret = out.getvalue().strip().splitlines()[-1]
        assert sorted(WebhookEndpoint.objects.values_list("app_id", flat=True), key=str) == sorted(
            [None, app1.app_id, app2.app_id], key=str
        )
        app_user(app1, "bob")
        make_user("bob")
        in_app1 = actions.call_invite(user=app_user(app1, "alice"), invitees=["bob"])
        on_site = actions.call_invite(user=make_user("carol"), invitees=["bob"])
        deliver_due()
        calls = {
            name: {p["data"]["callID"] for p in receiver.delivered().values()} for name, receiver in receivers.items()
        }
        assert calls == {"site": {on_site["callID"]}, "app1": {in_app1["callID"]}, "app2": set()}
        created = next(p for p in receivers["app1"].delivered().values() if p["type"] == "call.created")
        assert created["data"]["caller"] == "alice"  # the app's userID
    finally:
        for receiver in receivers.values():
            receiver.stop()


def test_webhook_add_refuses_an_unknown_app(apps):
    with pytest.raises(CommandError, match="no app"):
        call_command("webhook_add", "http://127.0.0.1:9/hooks", "--app", "1", stdout=StringIO())
    assert not WebhookEndpoint.objects.exists()
