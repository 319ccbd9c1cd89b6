"""Who is asking: a bearer token (scripts) or the session (the browser page).

HTTP: a bearer token wins; a session must pass Django's CSRF check on writes.
WebSocket: the Authorization header, else the session cookie; a browser
(which always sends Origin) must come from the site's own origin (scheme, host
and port of the request, the host in ALLOWED_HOSTS) or one of
CSRF_TRUSTED_ORIGINS, so another site cannot open a socket with the user's cookie.
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

from invitations.accounts.tokens import user_for_token
from invitations.calls.errors import CallError
from invitations.realtime.web_process import run_in_db_thread


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
        # This frame lives as long as the socket: the inner application is
        # called first and awaited after, so that nothing of the handshake
        # (header dict, scope copies) stays referenced from here.
        inner = await self._inner_for(scope, receive, send)
        del scope
        return await inner

    async def _inner_for(self, scope: dict, receive: Any, send: Any) -> Any:
        headers = dict(scope.get("headers", []))
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if token:
            user = await run_in_db_thread(user_for_token)(token)  # the pool, not the one shared thread
            return self.token_inner(dict(scope, user=user or AnonymousUser(), auth_method="token"), receive, send)
        origin = headers.get(b"origin")
        if origin is not None and not origin_allowed(origin.decode("latin-1"), scope):
            return self.token_inner(dict(scope, user=AnonymousUser(), auth_method="bad_origin"), receive, send)
        if origin is None:
            # Cookies without an Origin are not from a browser page of ours.
            return self.token_inner(dict(scope, user=AnonymousUser(), auth_method="none"), receive, send)
        return self.inner(dict(scope, auth_method="session"), receive, send)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_tuple(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) origin, the port made explicit; None if malformed."""
    try:
        parsed = urlparse(f"{scheme}://{netloc}")
        port = parsed.port or _DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if scheme not in _DEFAULT_PORTS or not parsed.hostname or parsed.username or parsed.password or port is None:
        return None
    return scheme, parsed.hostname.lower(), port


def _request_is_secure(scope: dict, headers: dict) -> bool:
    if scope.get("scheme") in ("wss", "https"):
        return True
    proxy_header = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy_header:  # ("HTTP_X_FORWARDED_PROTO", "https"), as Django's request.is_secure()
        name = proxy_header[0].removeprefix("HTTP_").lower().replace("_", "-").encode("latin-1")
        return headers.get(name, b"").decode("latin-1").split(",")[0].strip() == proxy_header[1]
    return False


def origin_allowed(origin: str, scope: dict) -> bool:
    """The Origin of a WebSocket handshake is one of CSRF_TRUSTED_ORIGINS, or
    the origin of the request itself (scheme, Host and port) with its host in
    ALLOWED_HOSTS."""
    scheme, sep, netloc = origin.strip().partition("://")
    claimed = _origin_tuple(scheme.lower(), netloc) if sep and "/" not in netloc else None
    if claimed is None:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        t_scheme, t_sep, t_netloc = trusted.partition("://")
        if t_sep and t_netloc.startswith("*."):  # Django's subdomain wildcard
            wild = _origin_tuple(t_scheme.lower(), t_netloc[2:])
            if wild and (wild[0], wild[2]) == (claimed[0], claimed[2]) and claimed[1].endswith("." + wild[1]):
                return True
        elif t_sep and _origin_tuple(t_scheme.lower(), t_netloc) == claimed:
            return True
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin-1")
    own = _origin_tuple("https" if _request_is_secure(scope, headers) else "http", host) if host else None
    if own is None or own != claimed:
        return False
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return validate_host(claimed[1] if ":" not in claimed[1] else f"[{claimed[1]}]", allowed)
