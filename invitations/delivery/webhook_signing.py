"""Standard Webhooks signing (https://www.standardwebhooks.com/): secrets and
the `webhook-signature` header. HMAC-SHA256 from the standard library; the
tests verify it with the `standardwebhooks` package, independently."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32  # the spec asks for 24 to 64 random bytes


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def message_id_new() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the secret's decoded bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{msg_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_in_use: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """Space-separated signatures, one per secret (the new one and, during rotation, the old one)."""
    return " ".join(signature(s, msg_id, timestamp, body) for s in secrets_in_use)
