"""python manage.py group_add GROUPID --name NAME --members USER ... [--app APPID]

Creates the group, or sets the name and members of an existing one; with --app,
the app's group of that groupID, its members the app's userIDs."""

from django.core.management.base import BaseCommand, CommandError

from invitations.accounts.tenancy import user_id_of
from invitations.calls import groups as group_services


class Command(BaseCommand):
    help = "Create a call group or set its name and members (the member list replaces the old one)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("group_id", metavar="GROUPID", help="the group's slug (its groupID)")
        parser.add_argument("--name", help="display name (a new group defaults to its groupID)")
        parser.add_argument(
            "--members", nargs="*", metavar="USER", help="userIDs; replaces the member list (omit to keep it)"
        )
        parser.add_argument(
            "--app", metavar="APPID", help="the app whose group it is (default: the site's own accounts)"
        )

    def handle(self, *args, **options) -> None:
        try:
            group = group_services.group_save(
                group_id=options["group_id"],
                name=options["name"],
                member_user_ids=options["members"],
                app_id=options["app"],
            )
        except group_services.GroupInputError as exc:
            raise CommandError(str(exc)) from None
        members = sorted(user_id_of(u) for u in group.members.all())
        self.stdout.write(f"Group {group.group_id} ({group.name}): {', '.join(members) or 'no members'}")
