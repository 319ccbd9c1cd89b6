"""API bearer tokens: made and revoked here; looked up in invitations/tokens.py."""
from __future__ import annotations

import secrets

from django.contrib.auth.models import AbstractBaseUser

from ..models import ApiToken
from ..tokens import hash_token


def api_token_create(*, user: AbstractBaseUser) -> str:
    """A new bearer token; only its hash is kept, so the token is shown once."""
    raw = secrets.token_urlsafe(32)
    ApiToken.objects.create(user=user, key_hash=hash_token(raw))
    return raw


def api_token_revoke(*, user: AbstractBaseUser, raw_token: str) -> bool:
    """Revoke one of the user's tokens, given the token itself; False if it is not theirs."""
    return ApiToken.objects.filter(user=user, key_hash=hash_token(raw_token), revoked=False).update(revoked=True) > 0
