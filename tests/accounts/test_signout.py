"""Sign-out removes the signing-out browser's push subscriptions of that user (the form's
push_endpoint / push_device, filled by static/js/signout.js); the browser half is in
tests/browser/test_signout_push.py."""

import pytest
from django.utils import timezone

from invitations.models import PushSubscription

pytestmark = pytest.mark.django_db

KEYS = {"p256dh": "p" * 87, "auth": "a" * 22}


def subscription(user, endpoint: str, device_id: str = "") -> PushSubscription:
    return PushSubscription.objects.create(
        user=user, endpoint=endpoint, device_id=device_id, created_at=timezone.now(), **KEYS
    )


def endpoints() -> set[str]:
    return set(PushSubscription.objects.values_list("endpoint", flat=True))


def signed_out(client) -> bool:
    return "_auth_user_id" not in client.session


@pytest.fixture
def rows(alice, bob):
    subscription(bob, "https://push.example/bob-here", "browser-here")
    subscription(bob, "https://push.example/bob-there", "browser-there")
    subscription(alice, "https://push.example/alice-here", "browser-here")  # another user of the same browser


def test_sign_out_removes_the_subscription_of_this_browser_by_endpoint(client, bob, rows):
    client.force_login(bob)
    response = client.post("/logout/", {"push_endpoint": "https://push.example/bob-here", "push_device": ""})
    assert response.status_code == 302 and signed_out(client)
    assert endpoints() == {"https://push.example/bob-there", "https://push.example/alice-here"}


def test_sign_out_removes_the_subscription_of_this_browser_by_device(client, bob, rows):
    client.force_login(bob)
    client.post("/logout/", {"push_endpoint": "", "push_device": "browser-here"})
    assert signed_out(client)
    # only bob's: alice's subscription on the same browser is hers to remove
    assert endpoints() == {"https://push.example/bob-there", "https://push.example/alice-here"}


def test_sign_out_without_the_fields_signs_out_and_keeps_the_rows(client, bob, rows):
    """The form without JavaScript (or with no subscription in this browser)."""
    client.force_login(bob)
    response = client.post("/logout/")
    assert response.status_code == 302 and signed_out(client)
    assert len(endpoints()) == 3


def test_sign_out_with_odd_fields_still_signs_out(client, bob, rows):
    client.force_login(bob)
    response = client.post("/logout/", {"push_endpoint": "x" * 5000, "push_device": "\x00" + "d" * 500})
    assert response.status_code == 302 and signed_out(client)
    assert len(endpoints()) == 3


def test_a_signed_out_post_removes_nothing(client, rows):
    response = client.post(
        "/logout/", {"push_endpoint": "https://push.example/bob-here", "push_device": "browser-here"}
    )
    assert response.status_code == 302
    assert len(endpoints()) == 3
