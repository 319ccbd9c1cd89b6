"""API bearer tokens: made and revoked here; looked up in invitations/tokens.py."""
from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Iterable

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from ..models import ApiToken
from ..tokens import hash_token


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new bearer token; only its hash is kept, so the token is shown once."""
    raw = secrets.token_urlsafe(32)
    lifetime = settings.API_TOKEN_LIFETIME_SECONDS
    expires_at = timezone.now() + timedelta(seconds=lifetime) if lifetime else None
    ApiToken.objects.create(user=user, key_hash=hash_token(raw), expires_at=expires_at)
    return raw


def api_token_revoke(*, user: AbstractBaseUser, raw_token: str) -> bool:
    """Revoke one of the user's tokens, given the token itself; False if it is not theirs."""
    return ApiToken.objects.filter(user=user, key_hash=hash_token(raw_token), revoked=False).update(revoked=True) > 0


def api_tokens_revoke(*, token_ids: Iterable[int]) -> int:
    """An operator revokes tokens (the admin); returns how many were still valid."""
    return ApiToken.objects.filter(pk__in=list(token_ids), revoked=False).update(revoked=True)
