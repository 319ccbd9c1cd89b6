"""Bearer tokens: stored as SHA-256, looked up by hash.

Every request checks its token in the database (a revoked or expired token,
or a deactivated user, stops working at once, in every process), in one lean
statement that also reads the user: no ORM query to build per request.
"""

import hashlib
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from invitations.calls.rows import mapper
from invitations.models import ApiToken

LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is coarse, to keep reads cheap


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# the token's id and last use, then every column of its user (tests/calls/test_statements.py
# checks them against the models)
TOKEN_USER = (
    "SELECT t.id, t.last_used_at, u.id, u.password, u.last_login, u.is_superuser, u.username, u.first_name, "
    "u.last_name, u.email, u.is_staff, u.is_active, u.date_joined "
    "FROM invitations_apitoken t JOIN auth_user u ON u.id = t.user_id "
    "WHERE t.key_hash = %(key_hash)s AND NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > %(now)s) "
    "AND u.is_active"
)


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked or expired)."""
    from invitations.calls.roundtrip import fetch  # services import this module (hash_token)

    users, used = mapper(User), mapper(ApiToken, ("id", "last_used_at"))
    now = timezone.now()
    rows = fetch(TOKEN_USER, {"key_hash": hash_token(raw), "now": now})
    if not rows:
        return None
    row = rows[0]
    token = used.build(row[:2])
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return users.build(row[2:])
