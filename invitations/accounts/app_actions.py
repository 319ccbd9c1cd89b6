"""Apps (PROTOCOL "Apps"): made, their secrets rotated and their origins set here; read in
invitations/accounts/apps.py. The operator sees a server secret once, when it is made."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from invitations.accounts.apps import origin_normalized
from invitations.models import App, AppOrigin


class AppInputError(ValueError):
    """An operator's app input that cannot be saved (an origin that is not one)."""


def server_secret_new() -> str:
    # 256 random bits as 64 hex characters: HS256 signs with the characters' UTF-8 bytes
    return secrets.token_hex(32)


def _app_id_new() -> str:
    # ten digits, as ZEGO's numeric appIDs look (never a '#': accounts/tenancy.py)
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def origins_normalized(origins: Iterable[str]) -> list[str]:
    """Each origin as `scheme://host[:port]` (once), or AppInputError naming the ones that are not."""
    normalized, bad = [], []
    for origin in origins:
        value = origin_normalized(origin)
        if value is None:
            bad.append(origin)
        elif value not in normalized:
            normalized.append(value)
    if bad:
        raise AppInputError(f"not an http(s) origin (scheme://host[:port]): {', '.join(map(repr, bad))}")
    return normalized


def app_create(*, name: str, origins: Iterable[str] = (), enabled: bool = True) -> tuple[App, str]:
    """A new app with a fresh appID and server secret (returned: shown to the operator once)."""
    if not (0 < len(name) <= (App._meta.get_field("name").max_length or 150)):
        raise AppInputError("a name is 1..150 characters")
    wanted = origins_normalized(origins)
    secret = server_secret_new()
    for _ in range(5):  # a random appID that is taken already: draw again
        try:
            with transaction.atomic():
                app = App.objects.create(
                    app_id=_app_id_new(), name=name, enabled=enabled, server_secret=secret, created_at=timezone.now()
                )
                AppOrigin.objects.bulk_create(AppOrigin(app=app, origin=o) for o in wanted)
                return app, secret
        except IntegrityError:
            continue
    raise RuntimeError("no free appID found")


def app_origins_set(*, app: App, origins: Iterable[str]) -> list[str]:
    """The app's origins become exactly these (normalised); returns them."""
    wanted = origins_normalized(origins)
    with transaction.atomic():
        AppOrigin.objects.filter(app=app).exclude(origin__in=wanted).delete()
        have = set(AppOrigin.objects.filter(app=app).values_list("origin", flat=True))
        AppOrigin.objects.bulk_create(AppOrigin(app=app, origin=o) for o in wanted if o not in have)
    return wanted


def app_secret_rotate(*, app_id: str, grace_hours: float | None = None) -> str:
    """A new server secret, returned once. Tokens signed with the current one are still accepted
    for `grace_hours` (APP_SECRET_GRACE_HOURS; 0: refused at once, for a secret that leaked)."""
    grace = settings.APP_SECRET_GRACE_HOURS if grace_hours is None else grace_hours
    with transaction.atomic():
        app = App.objects.select_for_update().get(app_id=app_id)
        secret = server_secret_new()
        app.previous_server_secret = app.server_secret if grace > 0 else ""
        app.previous_secret_expires_at = timezone.now() + timedelta(hours=grace) if grace > 0 else None
        app.server_secret = secret
        app.save(update_fields=["server_secret", "previous_server_secret", "previous_secret_expires_at"])
    return secret
