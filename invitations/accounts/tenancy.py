"""Tenants (PROTOCOL "Apps"): the site's own accounts are one tenant, each app's users another.

The tenant is read from the authenticated user itself, never from a request:
an app's user is a Django user named `<userID>#<appID>`. '#' appears in no
site username (Django's username validator refuses it) and in no app userID
(PROTOCOL's `[A-Za-z0-9_.@-]`), so the name alone says the tenant, and a
userID read in one tenant can never name a user of another.

Two functions cross the boundary, and everything does it through them:
`user_id_of` (a user -> the userID PROTOCOL payloads show, the namespace
stripped) and `username_for` (the acting user's tenant and a userID from a
request -> the username to look up, or None where no such user can exist).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.db.models import Q

SEPARATOR = "#"
SITE = None  # the tenant of the site's own accounts (password sign-in)
# PROTOCOL: an app's userID (the token's sub)
APP_USER_ID = re.compile(r"[A-Za-z0-9_.@-]{1,64}")

Tenant = str | None  # an appID, or SITE


def tenant_of(user: Any) -> Tenant:
    """The appID of an app's user, SITE for the site's own accounts."""
    _, separator, app_id = user.get_username().partition(SEPARATOR)
    return app_id if separator else SITE


def user_id_of(user: Any) -> str:
    """The userID PROTOCOL payloads carry for this user: an app's sub exactly as the app gave it."""
    return user.get_username().partition(SEPARATOR)[0]


def username_for(tenant: Tenant, user_id: Any) -> str | None:
    """The username of `user_id` within `tenant`; None when no user of that tenant can have it."""
    if not isinstance(user_id, str) or not user_id or SEPARATOR in user_id:
        return None
    if tenant is SITE:
        return user_id
    if not APP_USER_ID.fullmatch(user_id):
        return None
    return f"{user_id}{SEPARATOR}{tenant}"


def usernames_for(tenant: Tenant, user_ids: Iterable[Any]) -> dict[str, str]:
    """userID -> username for the userIDs that can exist in `tenant` (the others are left out)."""
    found = {}
    for user_id in user_ids:
        username = username_for(tenant, user_id)
        if username is not None:
            found[user_id] = username
    return found


def tenant_users(tenant: Tenant, prefix: str = "") -> Q:
    """The users of a tenant, as a filter on the user model (`prefix`: a relation's path, e.g. "user__")."""
    if tenant is SITE:
        return ~Q(**{f"{prefix}username__contains": SEPARATOR})
    return Q(**{f"{prefix}username__endswith": SEPARATOR + tenant})


def display_name(user: Any) -> str:
    """What a page shows for the user: the token's name (an app's user) or the account's
    full name, else the userID. Needs first_name and last_name loaded."""
    return f"{user.first_name} {user.last_name}".strip() or user_id_of(user)


def user_names(users: Iterable[Any]) -> dict[str, str]:
    """PROTOCOL's `userNames`: userID -> display name, for each user given (None skipped)."""
    return {user_id_of(user): display_name(user) for user in users if user is not None}
