"""Who is asking: a bearer token (scripts) or the session (the browser page).

HTTP: a bearer token wins; a session must pass Django's CSRF check on writes.
WebSocket: the Authorization header, else the session cookie; a browser
(which always sends Origin) must come from an allowed host, so another site
cannot open a socket with the user's cookie.
"""
from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from django.http.request import validate_host
from ninja.utils import check_csrf

from .errors import CallError
from .tokens import user_for_token
from .web_process import run_in_db_thread


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_auth(request: HttpRequest) -> Any:
    """ninja auth callable: the user, or None (answered as `unauthenticated`)."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token:
        return user_for_token(token)
    if not request.user.is_authenticated:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
        raise CallError("csrf_failed")
    return request.user


class TokenOrSessionAuthMiddleware:
    """Channels middleware: scope["user"] from a bearer token, else the session."""

    def __init__(self, inner: Any) -> None:
        self.inner = CookieMiddleware(SessionMiddleware(AuthMiddleware(inner)))
        self.token_inner = inner

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if token:
            user = await run_in_db_thread(user_for_token)(token)  # the pool, not the one shared thread
            scope = dict(scope, user=user or AnonymousUser(), auth_method="token")
            return await self.token_inner(scope, receive, send)
        origin = headers.get(b"origin")
        if origin is not None and not _origin_allowed(origin.decode("latin-1")):
            scope = dict(scope, user=AnonymousUser(), auth_method="bad_origin")
            return await self.token_inner(scope, receive, send)
        if origin is None:
            # Cookies without an Origin are not from a browser page of ours.
            scope = dict(scope, user=AnonymousUser(), auth_method="none")
            return await self.token_inner(scope, receive, send)
        return await self.inner(dict(scope, auth_method="session"), receive, send)


def _origin_allowed(origin: str) -> bool:
    host = urlparse(origin).hostname
    if host is None:
        return False
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return validate_host(host, allowed)
