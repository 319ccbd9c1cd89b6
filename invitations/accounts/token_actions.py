"""API bearer tokens: made and revoked here; looked up in invitations/accounts/tokens.py."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from invitations.accounts.tokens import hash_token
from invitations.models import ApiToken


def api_token_create(*, user: User) -> str:
    """A new bearer token; only its hash is kept, so the token is shown once.

    At most CALL_MAX_TOKENS_PER_USER of a user's tokens are live (0: no cap):
    beyond it, the live tokens used (or, never used, made) longest ago are
    revoked, never the new one. A script that signs in on every run keeps
    working; a token in daily use outlives the ones left behind."""
    raw = secrets.token_urlsafe(32)
    now = timezone.now()
    lifetime = settings.API_TOKEN_LIFETIME_SECONDS
    expires_at = now + timedelta(seconds=lifetime) if lifetime else None
    cap = settings.CALL_MAX_TOKENS_PER_USER
    with transaction.atomic():
        if cap > 0:
            # one sign-in of this user at a time, so parallel ones cannot each leave cap + 1
            get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        token = ApiToken.objects.create(user=user, key_hash=hash_token(raw), expires_at=expires_at)
        if cap > 0:
            live = ApiToken.objects.filter(
                Q(expires_at__isnull=True) | Q(expires_at__gt=now), user=user, revoked=False
            ).exclude(pk=token.pk)
            surplus = list(
                live.order_by(Coalesce("last_used_at", "created_at").desc(), "-pk").values_list("pk", flat=True)[
                    cap - 1 :
                ]
            )
            if surplus:
                ApiToken.objects.filter(pk__in=surplus).update(revoked=True)
    return raw


def api_token_revoke(*, user: User, raw_token: str) -> bool:
    """Revoke one of the user's tokens, given the token itself; False if it is not theirs."""
    return ApiToken.objects.filter(user=user, key_hash=hash_token(raw_token), revoked=False).update(revoked=True) > 0


def api_tokens_revoke(*, token_ids: Iterable[int]) -> int:
    """An operator revokes tokens (the admin); returns how many were still valid."""
    return ApiToken.objects.filter(pk__in=list(token_ids), revoked=False).update(revoked=True)
