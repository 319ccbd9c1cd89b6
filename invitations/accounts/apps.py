"""Apps (PROTOCOL "Apps"): who an app token proves, and which browser origins are an app's.

A valid token's user is the Django user `<sub>#<appID>` (accounts/tenancy.py),
made the first time a token names it, its display name kept in `first_name`
and updated by each later token that carries a `name`. Failed token checks are
counted per client address (ratelimit.app_token_*): over the limit the address
is refused before its tokens are checked.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from invitations.accounts import ratelimit, tenancy
from invitations.accounts.app_tokens import AppRecord, AppUser, TokenRefused, app_token_verify
from invitations.models import App, AppOrigin

logger = logging.getLogger(__name__)
User = get_user_model()
_DEFAULT_PORTS = {"http": 80, "https": 443}


def app_record(app_id: str) -> AppRecord | None:
    """What token verification needs of an app: its secrets (the current one first, then
    the previous one while its grace period lasts) and whether it is enabled."""
    app = App.objects.filter(app_id=app_id).first()
    if app is None:
        return None
    secrets_ = [app.server_secret]
    expires = app.previous_secret_expires_at
    if app.previous_server_secret and expires is not None and expires > timezone.now():
        secrets_.append(app.previous_server_secret)
    return AppRecord(app_id=app.app_id, server_secrets=tuple(secrets_), enabled=app.enabled)


def app_identity(token: str, *, address: str) -> AppUser | None:
    """The app user a token proves, or None; `rate_limited` while `address` is over its
    limit of failed checks (then the token is not checked at all)."""
    ratelimit.app_token_check(address)
    try:
        return app_token_verify(token, find_app=app_record)
    except TokenRefused as refusal:
        logger.info("app token refused from %s: %s", address, refusal.why)
        ratelimit.app_token_failed(address)
        return None


def app_user_for_token(token: str, *, address: str) -> Any:
    """The active user an app token proves (made on first use, its name updated), or None.
    Never a staff account: an app's user acts only within its app."""
    identity = app_identity(token, address=address)
    if identity is None:
        return None
    return app_user_for(identity)


def app_user_for(identity: AppUser) -> Any:
    """The user of a verified identity, made the first time; None if an operator deactivated it."""
    username = tenancy.username_for(identity.app_id, identity.user_id)
    if username is None:  # the verifier checked the sub's pattern; an appID is never the site's
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        user = _app_user_create(username, identity.name)
    elif identity.name and user.first_name != identity.name:
        User.objects.filter(pk=user.pk).update(first_name=identity.name)
        user.first_name = identity.name
    if not user.is_active or user.is_staff or user.is_superuser:
        return None
    return user


def app_users_ensure(usernames: list[str]) -> None:
    """App users (by username) that do not exist yet are made, as their first token would
    make them (an operator names them in a group before they ever connect)."""
    existing = set(User.objects.filter(username__in=usernames).values_list("username", flat=True))
    for username in usernames:
        if username not in existing:
            _app_user_create(username, None)


def _app_user_create(username: str, name: str | None) -> Any:
    try:
        with transaction.atomic():
            user = User(username=username, first_name=name or "")
            user.set_unusable_password()  # never signs in with a password
            user.save()
            return user
    except IntegrityError:  # its first two tokens arrived together: the other one made it
        return User.objects.get(username=username)


# --- origins ------------------------------------------------------------------------------------


def origin_normalized(origin: str) -> str | None:
    """`scheme://host[:port]`, lower case, the default port dropped; None when `origin` is not
    an http(s) origin. Used both when an app's origins are saved and when a request's is read."""
    try:
        url = urlsplit(origin.strip())
        port = url.port
    except (ValueError, AttributeError):
        return None
    if (
        url.scheme not in _DEFAULT_PORTS
        or not url.hostname
        or url.path
        or url.query
        or url.fragment
        or url.username
        or url.password
        or "\x00" in origin
    ):
        return None
    host = url.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{url.scheme}://{host}" + (f":{port}" if port and port != _DEFAULT_PORTS[url.scheme] else "")


def app_origin_registered(origin: str) -> bool:
    """An enabled app lists this origin (as sent: normalised here)."""
    normalized = origin_normalized(origin)
    return normalized is not None and AppOrigin.objects.filter(origin=normalized, app__enabled=True).exists()


def app_owns_origin(app_id: str, origin: str) -> bool:
    """The app lists this origin (as sent: normalised here)."""
    normalized = origin_normalized(origin)
    return normalized is not None and AppOrigin.objects.filter(app_id=app_id, origin=normalized).exists()
