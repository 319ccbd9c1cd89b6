"""Standard Webhooks signatures made by the site, verified by the reference
package (`standardwebhooks`)."""

import json
import time

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from invitations.delivery import webhook_signing


def headers(secrets, msg_id="msg_1", body="{}", timestamp=None):
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_signing.signature_header(secrets, msg_id, timestamp, body),
    }


def test_a_signature_verifies_with_the_reference_package():
    secret = webhook_signing.secret_new()
    body = json.dumps({"type": "call.created", "timestamp": "2026-01-01T00:00:00Z", "data": {"callID": "c"}})
    assert Webhook(secret).verify(body, headers([secret], body=body))["type"] == "call.created"


def test_another_secret_or_a_changed_body_fails():
    secret, other = webhook_signing.secret_new(), webhook_signing.secret_new()
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify("{}", headers([secret]))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify('{"a": 1}', headers([secret], body="{}"))


def test_during_rotation_either_secret_verifies():
    new, old = webhook_signing.secret_new(), webhook_signing.secret_new()
    h = headers([new, old])
    assert len(h["webhook-signature"].split(" ")) == 2
    Webhook(new).verify("{}", h)
    Webhook(old).verify("{}", h)


def test_secrets_and_ids_are_fresh_and_well_formed():
    secret = webhook_signing.secret_new()
    assert secret.startswith("whsec_") and secret != webhook_signing.secret_new()
    assert webhook_signing.message_id_new().startswith("msg_")
