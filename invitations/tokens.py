"""Bearer tokens: stored as SHA-256, looked up by hash."""
import hashlib

from django.db.models import Q
from django.utils import timezone

from .models import ApiToken


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def user_for_token(raw: str):
    """The active user a bearer token belongs to, or None (unknown, revoked or expired)."""
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(Q(expires_at=None) | Q(expires_at__gt=now), key_hash=hash_token(raw), revoked=False,
                user__is_active=True)
        .first()
    )
    if token is None:
        return None
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)  # coarse, to keep reads cheap
    return token.user
