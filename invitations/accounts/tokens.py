"""Bearer tokens: stored as SHA-256, looked up by hash.

Every request checks its token in the database (a revoked or expired token,
or a deactivated user, stops working at once, in every process), in one lean
statement that also reads the user: no ORM query to build per request.
"""

import hashlib
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from invitations.calls.rows import reader
from invitations.models import ApiToken

LAST_USED_EVERY = timedelta(seconds=60)  # last_used_at is coarse, to keep reads cheap


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def user_for_token(raw: str) -> User | None:
    """The active user a bearer token belongs to, or None (unknown, revoked or expired)."""
    from invitations.calls.sql import fetch  # services import this module (hash_token)

    users, used = reader(User), reader(ApiToken, ("id", "last_used_at"))
    q = connection.ops.quote_name
    user_pk = User._meta.pk.column
    assert user_pk is not None  # a primary key is a concrete field: it has a column
    now = timezone.now()
    rows = fetch(
        f"SELECT {used.select('t')}, {users.select('u')} FROM {q(ApiToken._meta.db_table)} t "
        f"JOIN {q(User._meta.db_table)} u ON u.{q(user_pk)} = t.user_id "
        "WHERE t.key_hash = %s AND NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > %s) "
        "AND u.is_active",
        [hash_token(raw), now],
    )
    if not rows:
        return None
    row = rows[0]
    token = used.build(list(row[:2]), connection.alias)
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return users.build(list(row[2:]), connection.alias)
