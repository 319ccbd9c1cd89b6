"""Bearer tokens: stored as SHA-256, looked up by hash."""
import hashlib

from django.utils import timezone

from .models import ApiToken


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def user_for_token(raw: str):
    """The active user a bearer token belongs to, or None."""
    from .services import sql

    if sql.fast():  # every API request and socket asks: one raw statement (services/sql.py)
        found = sql.token_with_user(hash_token(raw))
        if found is None:
            return None
        token_pk, last_used_at, user = found
    else:
        token = (
            ApiToken.objects.select_related("user")
            .filter(key_hash=hash_token(raw), revoked=False, user__is_active=True)
            .first()
        )
        if token is None:
            return None
        token_pk, last_used_at, user = token.pk, token.last_used_at, token.user
    now = timezone.now()
    if last_used_at is None or (now - last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token_pk).update(last_used_at=now)  # coarse, to keep reads cheap
    return user
