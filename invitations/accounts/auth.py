"""Who is asking: a bearer token (scripts, apps' servers), the session (the site's own
page), or an app token sent as a socket's first frame (an app's page, PROTOCOL "Apps").

HTTP: a bearer token wins (an app's JWT or one of the site's own tokens, told apart
by shape); a session counts only from the site's own origin (a cookie a browser
sends along from another origin's page, e.g. another port of the same host, is
not a sign-in) and must pass Django's CSRF check on writes.

WebSocket: the Authorization header, else the session cookie; a browser (which
always sends Origin) must come from the site's own origin (scheme, host and port
of the request, the host in ALLOWED_HOSTS) or one of CSRF_TRUSTED_ORIGINS, so
another site cannot open a socket with the user's cookie. A socket from an
enabled app's registered origin with no token waits for an `auth` frame (the
consumer); its cookies are ignored. An app's origin goes only with that app's
token: any other identity from it is closed with 4403.
"""

import json
from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddleware
from channels.sessions import CookieMiddleware, SessionMiddleware
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.request import validate_host
from ninja.utils import check_csrf

from invitations.accounts import apps, ratelimit
from invitations.accounts.app_tokens import is_app_token
from invitations.accounts.tokens import user_for_token
from invitations.calls.errors import CallError
from invitations.realtime.web_process import run_in_db_thread

# WebSocket close codes (PROTOCOL): no valid credentials; an app's origin with another identity;
# too many failed token checks from the address.
UNAUTHENTICATED, WRONG_ORIGIN, RATE_LIMITED = 4401, 4403, 4429


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def api_auth(request: HttpRequest) -> Any:
    """ninja auth callable: the user, or None (answered as `unauthenticated`)."""
    token = bearer_token(request.headers.get("Authorization", ""))
    if token:
        if is_app_token(token):
            return apps.app_user_for_token(token, address=ratelimit.client_ip(request))
        return user_for_token(token)
    origin = request.headers.get("Origin")
    if origin is not None and not request_origin_is_own(request, origin):
        return None  # no cookies cross-origin (PROTOCOL "Apps")
    if not request.user.is_authenticated:
        return None
    if request.method not in ("GET", "HEAD", "OPTIONS") and check_csrf(request) is not None:
        raise CallError("csrf_failed")
    return request.user


class SocketRefused(Exception):
    """A socket's credentials are refused: close it with `code`."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def socket_token_user(token: str, *, foreign_origin: str | None, address: str) -> Any:
    """The user a socket's token proves, or SocketRefused. `foreign_origin`: the socket's
    Origin when it is not the site's own; then only an app token of an app that lists
    that origin is accepted."""
    try:
        if is_app_token(token):
            identity = apps.app_identity(token, address=address)
            if identity is None:
                raise SocketRefused(UNAUTHENTICATED)
            if foreign_origin is not None and not apps.app_owns_origin(identity.app_id, foreign_origin):
                raise SocketRefused(WRONG_ORIGIN)
            user = apps.app_user_for(identity)
        else:
            user = user_for_token(token)
            if user is not None and foreign_origin is not None and apps.app_origin_registered(foreign_origin):
                raise SocketRefused(WRONG_ORIGIN)  # a site account from an app's page
    except CallError:  # rate_limited
        raise SocketRefused(RATE_LIMITED) from None
    if user is None:
        raise SocketRefused(UNAUTHENTICATED)
    return user


def first_frame_user(text: Any, *, origin: str, address: str) -> Any:
    """The user of a waiting socket's first frame, which must be `{"type": "auth", "token"}`
    with a token of an app that lists `origin`; else SocketRefused."""
    try:
        frame = json.loads(text) if isinstance(text, (str, bytes)) else None
    except ValueError:
        frame = None
    token = frame.get("token") if isinstance(frame, dict) and frame.get("type") == "auth" else None
    if not isinstance(token, str) or not is_app_token(token):
        raise SocketRefused(UNAUTHENTICATED)
    return socket_token_user(token, foreign_origin=origin, address=address)


class TokenOrSessionAuthMiddleware:
    """Channels middleware: scope["user"] from a bearer token, else the session; or a
    waiting room for an app's page (scope["app_origin"]), or a refusal (scope["auth_refusal"])."""

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
        raw_origin = headers.get(b"origin")
        origin = raw_origin.decode("latin-1") if raw_origin is not None else None
        foreign = origin if origin is not None and not origin_allowed(origin, scope) else None
        token = bearer_token(headers.get(b"authorization", b"").decode("latin-1"))
        if token:
            try:
                user = await run_in_db_thread(socket_token_user)(  # the pool, not the one shared thread
                    token, foreign_origin=foreign, address=ratelimit.client_ip_from_scope(scope)
                )
            except SocketRefused as refusal:
                return self._anonymous(scope, receive, send, "token", refusal.code)
            return self.token_inner(dict(scope, user=user, auth_method="token"), receive, send)
        if foreign is not None:
            if await run_in_db_thread(apps.app_origin_registered)(foreign):
                # an app's page: no cookie counts; the consumer waits for the token
                waiting = dict(scope, user=None, auth_method="app_origin", app_origin=foreign)
                waiting["client_address"] = ratelimit.client_ip_from_scope(scope)
                return self.token_inner(waiting, receive, send)
            return self._anonymous(scope, receive, send, "bad_origin")
        if origin is None:
            # Cookies without an Origin are not from a browser page of ours.
            return self._anonymous(scope, receive, send, "none")
        return self.inner(dict(scope, auth_method="session"), receive, send)

    def _anonymous(self, scope: dict, receive: Any, send: Any, method: str, code: int = UNAUTHENTICATED) -> Any:
        return self.token_inner(dict(scope, user=AnonymousUser(), auth_method=method, auth_refusal=code), receive, send)


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
    headers = dict(scope.get("headers", []))
    host = headers.get(b"host", b"").decode("latin-1")
    return _origin_is_sites_own(origin, host, _request_is_secure(scope, headers))


def request_origin_is_own(request: HttpRequest, origin: str) -> bool:
    """origin_allowed() for an HTTP request."""
    try:
        host = request.get_host()
    except DisallowedHost:
        host = ""  # still one of CSRF_TRUSTED_ORIGINS, maybe
    return _origin_is_sites_own(origin, host, request.is_secure())


def _origin_is_sites_own(origin: str, host: str, secure: bool) -> bool:
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
    own = _origin_tuple("https" if secure else "http", host) if host else None
    if own is None or own != claimed:
        return False
    allowed = settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])
    return validate_host(claimed[1] if ":" not in claimed[1] else f"[{claimed[1]}]", allowed)
