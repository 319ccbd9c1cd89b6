"""Web Push transport: VAPID keys and one encrypted POST to a push service.

The protocol work (RFC 8291 aes128gcm encryption, RFC 8292 VAPID JWT) is
pywebpush's and py-vapid's; this module only adapts them. Which message goes
where, and what an answer means, is services.push's business.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPusher


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
    return b64url(vapid.public_key.public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint))


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
    status: int | None  # None: no answer (network error, timeout)
    text: str
    retry_after: float | None  # seconds, when the push service said so


_session: requests.Session | None = None


def _http() -> requests.Session:
    global _session
    if _session is None:
        _session = requests.Session()
    return _session


def send(*, endpoint: str, p256dh: str, auth: str, payload: bytes, ttl: int, urgency: str, vapid: Vapid,
         subject: str, timeout: float) -> PushResult:
    """One POST of `payload`, encrypted for the subscription, signed with VAPID."""
    parts = urlsplit(endpoint)
    claims = {"sub": subject, "aud": f"{parts.scheme}://{parts.netloc}"}  # exp: py-vapid's default, 24 h
    headers = dict(vapid.sign(claims))
    headers["Urgency"] = urgency
    pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}, requests_session=_http())
    try:
        response = pusher.send(payload, headers, ttl=max(0, int(ttl)), content_encoding="aes128gcm",
                               timeout=timeout)
    except requests.RequestException as exc:
        return PushResult(None, f"{type(exc).__name__}: {exc}"[:500], None)
    return PushResult(response.status_code, response.text[:500], _retry_after(response.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
        except (TypeError, ValueError):
            return None
