"""Groups (PROTOCOL additions, "Groups"): the only writer of groups and their members."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_slug
from django.db import transaction

from invitations.models import Group
from invitations.models.groups import GROUP_ID_MAX_LENGTH, NAME_MAX_LENGTH

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
    if len(group_id) > GROUP_ID_MAX_LENGTH:
        raise GroupInputError(f"groupID is at most {GROUP_ID_MAX_LENGTH} characters")
    if name is not None and not (0 < len(name) <= NAME_MAX_LENGTH):
        raise GroupInputError(f"a name is 1..{NAME_MAX_LENGTH} characters")
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
