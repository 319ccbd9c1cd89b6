"""Groups (PROTOCOL additions, "Groups"): the only writer of groups and their members.

A group belongs to one tenant (accounts/tenancy.py): the site's own accounts, or
an app's users; its groupID is unique within that tenant, and its members are
userIDs of that tenant."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from invitations.accounts import apps
from invitations.accounts.tenancy import usernames_for
from invitations.models import App, Group

User = get_user_model()


class GroupInputError(ValueError):
    """An operator's group input that cannot be saved (bad groupID, unknown user)."""


def group_save(
    *,
    group_id: str,
    name: str | None = None,
    member_user_ids: list[str] | None = None,
    app_id: str | None = None,
) -> Group:
    """Create the group (of the app `app_id`, or of the site's own accounts) or update it:
    `name` and `member_user_ids` (the whole member list) replace what it had; None leaves
    that part as it is. An app's users that no token has named yet are made here, as a
    first token would make them."""
    try:
        validate_slug(group_id)
    except ValidationError:
        raise GroupInputError(f"groupID {group_id!r} must be a slug (letters, digits, - and _)") from None
    if len(group_id) > Group._meta.get_field("group_id").max_length:
        raise GroupInputError("groupID is at most 64 characters")
    if name is not None and not (0 < len(name) <= Group._meta.get_field("name").max_length):
        raise GroupInputError("a name is 1..150 characters")
    if app_id is not None and not App.objects.filter(app_id=app_id).exists():
        raise GroupInputError(f"no app {app_id!r}")
    members = None
    if member_user_ids is not None:
        wanted = list(dict.fromkeys(member_user_ids))
        usernames = usernames_for(app_id, wanted)
        invalid = [u for u in wanted if u not in usernames]
        if invalid:
            raise GroupInputError(f"not a userID here: {', '.join(invalid)}")
        if app_id is not None:
            apps.app_users_ensure(list(usernames.values()))
        found = {u.username: u for u in User.objects.filter(username__in=list(usernames.values()), is_active=True)}
        missing = [u for u in wanted if usernames[u] not in found]
        if missing:
            raise GroupInputError(f"no such active user: {', '.join(missing)}")
        members = [found[usernames[u]] for u in wanted]
    with transaction.atomic():
        group, created = Group.objects.select_for_update().get_or_create(
            group_id=group_id, app_id=app_id, defaults={"name": name or group_id}
        )
        if name is not None and group.name != name:
            group.name = name
            group.save(update_fields=["name"])
        if members is not None:
            group.members.set(members)
    return group
