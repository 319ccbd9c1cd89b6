"""Rate limits: fixed windows counted in Redis (INCR + EXPIRE), keys under
settings.REDIS_PREFIX so that sites and test runs sharing a Redis stay apart.

- invitations: callInvite / callingInvite attempts per user per minute
  (RATE_LIMIT_INVITES_PER_MINUTE);
- media signals: callSignal attempts per user per minute (CALL_SIGNAL_RATE_PER_MINUTE);
- sign-in: failed attempts (token endpoint and login page alike, both go
  through django.contrib.auth.authenticate) per username and per client IP
  per window (RATE_LIMIT_AUTH_FAILURES_PER_USERNAME, ..._PER_IP,
  RATE_LIMIT_AUTH_WINDOW_SECONDS). Over the limit even the right password is
  refused until the window ends, which is what stops password guessing.

A limit of 0 turns that limit off. If Redis cannot be reached the limits
fail open (logged): refusing every call because a counter is unavailable
would be worse than not counting for a while.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver

from .errors import CallError

logger = logging.getLogger(__name__)

_client: redis.Redis | None = None
_client_url = ""


def _redis() -> redis.Redis:
    global _client, _client_url
    if _client is None or _client_url != settings.REDIS_URL:
        _client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=1, socket_connect_timeout=1)
        _client_url = settings.REDIS_URL
    return _client


def _key(scope: str, ident: str, window: int) -> str:
    return f"{settings.REDIS_PREFIX}:ratelimit:{scope}:{ident}:{int(time.time() // window)}"


def _count(scope: str, ident: str, window: int, add: int) -> int:
    """Add to the current window's counter and return it (0 if Redis is away)."""
    key = _key(scope, ident, window)
    try:
        pipe = _redis().pipeline()
        pipe.incrby(key, add) if add else pipe.get(key)
        pipe.expire(key, window + 1)
        value = pipe.execute()[0]
        return int(value or 0)
    except redis.RedisError:
        logger.warning("rate limit counter unavailable (Redis); not limiting %s", scope)
        return 0


def invitation_attempt(user: Any) -> None:
    """Count one callInvite/callingInvite of `user`; refuse it over the limit."""
    limit = settings.RATE_LIMIT_INVITES_PER_MINUTE
    if limit and _count("invite", str(user.pk), 60, 1) > limit:
        raise CallError("rate_limited", f"at most {limit} invitations per minute")


def signal_attempt(user: Any) -> None:
    """Count one callSignal of `user`; refuse it over CALL_SIGNAL_RATE_PER_MINUTE."""
    limit = settings.CALL_SIGNAL_RATE_PER_MINUTE
    if limit and _count("signal", str(user.pk), 60, 1) > limit:
        raise CallError("rate_limited", f"at most {limit} signals per minute")


def _auth_keys(username: str, ip: str) -> list[tuple[str, str, int]]:
    return [("auth-user", username.lower()[:150], settings.RATE_LIMIT_AUTH_FAILURES_PER_USERNAME),
            ("auth-ip", ip or "unknown", settings.RATE_LIMIT_AUTH_FAILURES_PER_IP)]


def auth_blocked(username: str, ip: str) -> bool:
    """True while this username or IP has used up its failed sign-in attempts."""
    window = settings.RATE_LIMIT_AUTH_WINDOW_SECONDS
    return any(limit and _count(scope, ident, window, 0) >= limit for scope, ident, limit in _auth_keys(username, ip))


def auth_check(username: str, ip: str) -> None:
    if auth_blocked(username, ip):
        raise CallError("rate_limited", "too many failed sign-in attempts: wait and try again")


def client_ip(request: Any) -> str:
    return (getattr(request, "META", None) or {}).get("REMOTE_ADDR", "") if request is not None else ""


@receiver(user_login_failed, dispatch_uid="invitations.ratelimit.count_failure")
def _count_failure(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))
    for scope, ident, limit in _auth_keys(username, client_ip(request)):
        if limit:
            _count(scope, ident, settings.RATE_LIMIT_AUTH_WINDOW_SECONDS, 1)


class RateLimitBackend:
    """First in AUTHENTICATION_BACKENDS: refuses (PermissionDenied stops the
    other backends) while the username or IP is over its failure limit, so the
    login page is limited without touching its view."""

    def authenticate(self, request: Any, username: str | None = None, **kwargs: Any) -> None:
        if username is not None and auth_blocked(str(username), client_ip(request)):
            raise PermissionDenied("rate limited")
        return None

    def get_user(self, user_id: Any) -> Any:
        # A session may name this backend (force_login picks the first one).
        from django.contrib.auth.backends import ModelBackend

        return ModelBackend().get_user(user_id)
