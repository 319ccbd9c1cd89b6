"""Groups (PROTOCOL additions, "Groups"): the only writer of groups and their members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from invitations.models import Group

User = get_user_model()


class GroupInputError(ValueError):
    """An operator's group input that cannot be saved (bad groupID, unknown user)."""


def group_save(*, group_id: str, name: str | None = None, member_usernames: list[str] | None = None) -> Group:
    """Create the group or update it: `name` and `member_usernames` (the whole
    member list) replace what it had; None leaves that part as it is."""
    try:
        validate_slug(group_id)
    except ValidationError:
        raise GroupInputError(f"groupID {group_id!r} must be a slug (letters, digits, - and _)") from None
    if len(group_id) > Group._meta.get_field("group_id").max_length:
        raise GroupInputError("groupID is at most 64 characters")
    if name is not None and not (0 < len(name) <= Group._meta.get_field("name").max_length):
        raise GroupInputError("a name is 1..150 characters")
    members = None
    if member_usernames is not None:
        wanted = list(dict.fromkeys(member_usernames))
        found = {u.username: u for u in User.objects.filter(username__in=wanted, is_active=True)}
        missing = [n for n in wanted if n not in found]
        if missing:
            raise GroupInputError(f"no such active user: {', '.join(missing)}")
        members = [found[n] for n in wanted]
    with transaction.atomic():
        group, created = Group.objects.select_for_update().get_or_create(
            group_id=group_id, defaults={"name": name or group_id}
        )
        if name is not None and group.name != name:
            group.name = name
            group.save(update_fields=["name"])
        if members is not None:
            group.members.set(members)
    return group
