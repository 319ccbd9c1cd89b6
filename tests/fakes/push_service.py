"""A push service run by the test, and a subscriber with a key pair the test made.

The site encrypts with pywebpush and signs with py-vapid; here the body is
decrypted with `http_ece` (RFC 8291 aes128gcm) using the subscriber's private
key, and the VAPID JWT (RFC 8292) is checked with `cryptography` against the
public key the site publishes: independent code on both sides.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.fakes.recording_server import Recorded, RecordingServer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LocalPushService(RecordingServer):
    """Answers 201 Created unless scripted otherwise; one path per subscription."""

    def __init__(self) -> None:
        super().__init__(default_status=201)

    def endpoint(self) -> str:
        return f"{self.base}/push/{secrets.token_urlsafe(12)}"

    def to(self, endpoint: str) -> list[Recorded]:
        path = urlsplit(endpoint).path
        return [r for r in self.requests if r.path == path]


class Subscriber:
    """A browser's side of a subscription: its ECDH key pair and auth secret."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)

    def subscription(self, **extra: Any) -> dict[str, Any]:
        """What PushSubscription.toJSON() gives a page."""
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(point), "auth": b64url(self.auth_secret)}, **extra}

    def decrypt(self, request: Recorded) -> dict[str, Any]:
        assert request.headers.get("content-encoding") == "aes128gcm", request.headers
        plain = http_ece.decrypt(
            request.body, private_key=self.private_key, auth_secret=self.auth_secret, version="aes128gcm"
        )
        return json.loads(plain)


def verify_vapid(request: Recorded, public_key: str) -> dict[str, Any]:
    """Check RFC 8292's `Authorization: vapid t=<JWT>, k=<key>`; the JWT's claims."""
    scheme, _, params = request.headers["authorization"].partition(" ")
    assert scheme.lower() == "vapid", scheme
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"] == public_key, "the key in the header is not the site's published key"
    signing_input, _, signature_b64 = fields["t"].rpartition(".")
    header = json.loads(b64url_decode(signing_input.split(".")[0]))
    assert header == {"typ": "JWT", "alg": "ES256"}, header
    signature = b64url_decode(signature_b64)
    assert len(signature) == 64
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA256()))  # raises InvalidSignature
    claims = json.loads(b64url_decode(signing_input.split(".")[1]))
    origin = f"{urlsplit(request_url(request)).scheme}://{urlsplit(request_url(request)).netloc}"
    assert claims["aud"] == origin, claims
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600 + 60, claims
    assert claims["sub"].startswith(("mailto:", "https:")), claims
    return claims


def request_url(request: Recorded) -> str:
    return f"http://{request.headers['host']}{request.path}"
