"""Web Push transport: VAPID keys and one encrypted POST to a push service.

The protocol work (RFC 8291 aes128gcm encryption, RFC 8292 VAPID JWT) is
pywebpush's and py-vapid's; this module only adapts them. The POST itself goes
through outbound_http (the address checked is the one connected to, no
redirects, a capped answer, an overall deadline). Which message goes where,
and what an answer means, is services.push's business.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from py_vapid import Vapid
from pywebpush import WebPusher

from invitations.delivery import outbound_http


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def private_key_new() -> str:
    """A new VAPID private key: the raw 32-byte P-256 scalar, base64url (VAPID_PRIVATE_KEY's form)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_from_private(private_b64: str) -> Vapid:
    """py-vapid's signer for a raw base64url private key; ValueError if it is not one."""
    try:
        raw = b64url_decode(private_b64.strip())
    except (ValueError, TypeError) as exc:
        raise ValueError("VAPID_PRIVATE_KEY is not base64url") from exc
    if len(raw) != 32:
        raise ValueError("VAPID_PRIVATE_KEY must be the raw 32-byte P-256 private key, base64url")
    return Vapid.from_raw(private_b64.strip().encode("ascii"))


def public_key_b64(vapid: Vapid) -> str:
    """The uncompressed P-256 point (65 bytes), base64url: applicationServerKey for pushManager.subscribe()."""
    return b64url(
        vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )


def valid_client_keys(p256dh: str, auth: str) -> bool:
    """A subscription's keys: a P-256 public point and a 16-byte auth secret."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        return len(b64url_decode(auth)) == 16
    except (ValueError, TypeError):
        return False


@dataclass(frozen=True)
class PushResult:
    status: int | None  # None: no answer (network error, timeout, refused)
    text: str
    retry_after: float | None  # seconds, when the push service said so
    refused: bool = False  # the endpoint is not one this site sends to (never worth a retry)


def push_policy() -> outbound_http.Policy:
    """https on port 443 of a public address; the tests' switch also allows http and a local push service."""
    local = settings.CALL_PUSH_ALLOW_HTTP
    return outbound_http.Policy(
        schemes=frozenset({"https", "http"} if local else {"https"}),
        default_port_only=not local,
        private_hosts=frozenset(settings.CALL_PUSH_ENDPOINT_HOSTS if local else ()),
    )


def check_endpoint(endpoint: str) -> outbound_http.Target:
    """The endpoint's target if it is on a host of CALL_PUSH_ENDPOINT_HOSTS; else outbound_http.Refused."""
    target = outbound_http.parse(endpoint, push_policy())
    if not any(target.host == s or target.host.endswith("." + s) for s in settings.CALL_PUSH_ENDPOINT_HOSTS):
        raise outbound_http.Refused(f"{target.host} is not a push service this site sends to")
    return target


def send(
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    payload: bytes,
    ttl: int,
    urgency: str,
    vapid: Vapid,
    subject: str,
    timeout: float,
    deadline: float,
) -> PushResult:
    """One POST of `payload`, encrypted for the subscription, signed with VAPID."""
    try:
        target = check_endpoint(endpoint)
    except outbound_http.Refused as exc:
        return PushResult(None, f"refused: {exc}"[:500], None, refused=True)
    origin = f"{target.scheme}://{target.host_header}"
    headers = dict(vapid.sign({"sub": subject, "aud": origin}))  # exp: py-vapid's default, 24 h
    body = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}).encode(payload, "aes128gcm")[
        "body"
    ]
    headers.update(
        {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(max(0, int(ttl))),
            "Urgency": urgency,
        }
    )
    try:
        answer = outbound_http.post(
            endpoint, body=body, headers=headers, policy=push_policy(), timeout=timeout, deadline=deadline
        )
    except outbound_http.Refused as exc:
        return PushResult(None, f"refused: {exc}"[:500], None, refused=True)
    except outbound_http.OutboundError as exc:
        return PushResult(None, f"{type(exc).__name__}: {exc}"[:500], None)
    return PushResult(
        answer.status, answer.body.decode("utf-8", "replace")[:500], _retry_after(answer.headers.get("retry-after"))
    )


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None
