"""Apps in tests (PROTOCOL "Apps"): an app made as app_add makes it, tokens as its server
mints them, and its users as their first token makes them.

    app = make_app("Demo", origins=["http://127.0.0.1:9000"])   # fixture; app.server_secret is set
    token = app_token(app, "u1", "Alice")                        # fixture or mint_app_token()
    user = app_user(app, "u1", "Alice")                           # the Django user `u1#<appID>`
"""

import base64
import hashlib
import hmac
import json
from typing import Any

from invitations.accounts import app_actions, apps
from invitations.accounts.app_tokens import app_token_mint
from invitations.models import App


def new_app(name: str = "App", origins: tuple[str, ...] | list[str] = (), enabled: bool = True) -> App:
    app, secret = app_actions.app_create(name=name, origins=origins, enabled=enabled)
    assert app.server_secret == secret
    return app


def mint_app_token(app: App, sub: str, name: str | None = None, **kw: Any) -> str:
    """A token as the app's own server mints it (HS256 with its serverSecret); `kw`:
    lifetime_seconds, now (app_token_mint's)."""
    return app_token_mint(app_id=app.app_id, server_secret=app.server_secret, user_id=sub, name=name, **kw)


def make_app_user(app: App, sub: str, name: str | None = None) -> Any:
    """The app's user, made (or its name updated) as its first token over the API would."""
    user = apps.app_user_for_token(mint_app_token(app, sub, name), address="127.0.0.1")
    assert user is not None
    return user


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge_token(claims: dict, *, secret: str, header: dict | None = None, digest: Any = hashlib.sha256) -> str:
    """A compact JWS made by hand (any header, any claims), where a JWT library would refuse to
    make the token: so that the site's check, not the minting, is what a test exercises."""
    header = {"alg": "HS256", "typ": "JWT"} if header is None else header
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    signature = _b64(hmac.new(secret.encode(), signing_input.encode(), digest).digest())
    return f"{signing_input}.{signature}"
