"""App tokens (PROTOCOL "Apps: bring your own users"): verify, and mint (tests, examples).

An app's own server signs a JWT per user with the app's serverSecret (HS256,
the secret's UTF-8 bytes), claims iss = appID, sub = the app's userID,
optional name, iat and exp (at most 24 hours after iat). Every way a token can
be wrong raises TokenRefused: the client only ever learns `unauthenticated`;
`why` is for logs and the per-address limit on failed checks.

PyJWT does the signature, the one accepted algorithm and the expiry;
the claim rules it does not know (types, lifetime cap, userID pattern, name
length) are checked here, after the signature, on the verified payload.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from invitations.accounts.tenancy import APP_USER_ID

ALGORITHM = "HS256"
MAX_LIFETIME_SECONDS = 24 * 3600
# An app server's clock may run a little ahead of ours: iat may be this far in
# the future. exp gets no leeway: an expired token is refused, as PROTOCOL says.
CLOCK_SKEW_SECONDS = 60
# Longer than any token this protocol makes (a 64-character sub and name, a
# 64-character appID): refused before any parsing.
MAX_TOKEN_CHARS = 2048
APP_ID_MAX_CHARS = 64
NAME_MAX_CHARS = 64
REQUIRED_CLAIMS = ("iss", "sub", "iat", "exp")


class TokenRefused(Exception):
    """The one refusal. `why` (a short slug) is never sent to the client."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class AppRecord:
    """What verification needs of an App row. `server_secrets`: the current
    secret first, then any previous one still honoured while apps rotate."""

    app_id: str
    server_secrets: tuple[str, ...]
    enabled: bool = True


@dataclass(frozen=True)
class AppUser:
    """The identity a valid token proves."""

    app_id: str
    user_id: str
    name: str | None
    expires_at: int  # unix seconds


def is_app_token(token: str) -> bool:
    """A JWT (three dot-separated parts), not one of the site's own bearer tokens (url-safe
    base64 without dots): which of the two checks a bearer token goes to."""
    return token.count(".") == 2


def _is_int(value: object) -> bool:
    # bool is an int in Python; "exp": true is not a time
    return type(value) is int


def app_token_verify(token: str, *, find_app: Callable[[str], AppRecord | None]) -> AppUser:
    """The AppUser a token proves, or TokenRefused. `find_app(appID)` returns
    the app or None; it is called only with a string of at most 64 characters."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise TokenRefused("malformed")
    try:
        header = jwt.get_unverified_header(token)
        # Read iss only, to find the key; nothing else is trusted before the signature.
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise TokenRefused("malformed") from None
    if header.get("alg") != ALGORITHM:
        raise TokenRefused("algorithm")
    token_type = header.get("typ", "JWT")
    if not isinstance(token_type, str) or token_type.upper() != "JWT":
        raise TokenRefused("type")

    app_id = unverified.get("iss")
    if not isinstance(app_id, str) or not app_id or len(app_id) > APP_ID_MAX_CHARS:
        raise TokenRefused("missing_claim" if app_id is None else "issuer")
    app = find_app(app_id)
    if app is None:
        raise TokenRefused("unknown_app")
    if not app.enabled:
        raise TokenRefused("app_disabled")

    claims = _decode_with_any_secret(token, app)

    issued_at, expires_at = claims["iat"], claims["exp"]
    if not _is_int(issued_at) or not _is_int(expires_at):
        raise TokenRefused("time_type")
    if expires_at - issued_at > MAX_LIFETIME_SECONDS:
        raise TokenRefused("lifetime")
    if issued_at > time.time() + CLOCK_SKEW_SECONDS:
        raise TokenRefused("issued_in_future")

    user_id = claims["sub"]
    if not isinstance(user_id, str) or not APP_USER_ID.fullmatch(user_id):
        raise TokenRefused("subject")
    name = claims.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > NAME_MAX_CHARS):
        raise TokenRefused("name")
    return AppUser(app_id=app.app_id, user_id=user_id, name=name or None, expires_at=expires_at)


def _decode_with_any_secret(token: str, app: AppRecord) -> dict:
    for secret in app.server_secrets:
        try:
            return jwt.decode(
                token,
                key=secret.encode("utf-8"),
                algorithms=[ALGORITHM],  # never from the token: alg "none" and key confusion stay out
                issuer=app.app_id,
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_iat": False,  # checked above with CLOCK_SKEW_SECONDS; PyJWT's leeway would also loosen exp
                    "verify_aud": False,
                },
                leeway=0,
            )
        except jwt.InvalidSignatureError:
            continue  # maybe signed with the previous secret
        except jwt.ExpiredSignatureError:
            raise TokenRefused("expired") from None
        except jwt.MissingRequiredClaimError:
            raise TokenRefused("missing_claim") from None
        except jwt.InvalidTokenError:
            raise TokenRefused("invalid") from None
    raise TokenRefused("signature")


def app_token_mint(
    *,
    app_id: str,
    server_secret: str,
    user_id: str,
    name: str | None = None,
    lifetime_seconds: int = 3600,
    now: int | None = None,
) -> str:
    """A token as an app's server makes it (tests, the example host app)."""
    issued_at = int(time.time()) if now is None else now
    claims = {"iss": app_id, "sub": user_id, "iat": issued_at, "exp": issued_at + lifetime_seconds}
    if name:
        claims["name"] = name
    return jwt.encode(claims, server_secret.encode("utf-8"), algorithm=ALGORITHM, headers={"typ": "JWT"})
