"""`python manage.py group_add`: creates a group or sets its name and members; bad input changes nothing."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from invitations.models import Group

pytestmark = pytest.mark.django_db


def members_of(group_id: str) -> list[str]:
    return sorted(Group.objects.get(group_id=group_id).members.values_list("username", flat=True))


def run(*args: str, capsys=None) -> str:
    call_command("group_add", *args)
    return capsys.readouterr().out if capsys else ""


def test_creates_a_group_with_name_and_members(alice, bob, carol, capsys):
    out = run("team-a", "--name", "Team A", "--members", "alice", "bob", capsys=capsys)
    group = Group.objects.get(group_id="team-a")
    assert group.name == "Team A"
    assert members_of("team-a") == ["alice", "bob"]
    assert "team-a" in out and "alice, bob" in out


def test_again_sets_name_and_replaces_members(alice, bob, carol):
    run("team-a", "--name", "Team A", "--members", "alice", "bob")
    run("team-a", "--name", "Renamed", "--members", "carol", "alice")
    assert Group.objects.get(group_id="team-a").name == "Renamed"
    assert members_of("team-a") == ["alice", "carol"]
    assert Group.objects.count() == 1


def test_omitted_parts_are_kept(alice, bob):
    run("team-a", "--name", "Team A", "--members", "alice", "bob")
    run("team-a", "--name", "Only the name")
    assert members_of("team-a") == ["alice", "bob"]
    run("team-a", "--members", "bob")
    assert Group.objects.get(group_id="team-a").name == "Only the name"
    assert members_of("team-a") == ["bob"]


def test_a_new_group_without_name_is_named_by_its_id(alice):
    run("ops", "--members", "alice")
    assert Group.objects.get(group_id="ops").name == "ops"


def test_an_empty_member_list_empties_the_group(alice):
    run("team-a", "--members", "alice")
    run("team-a", "--members")
    assert members_of("team-a") == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["team-a", "--members", "alice", "nobody"], "nobody"),
        (["not a slug", "--members", "alice"], "slug"),
        (["x" * 65, "--members", "alice"], "64"),
        (["team-a", "--name", "n" * 151], "150"),
        (["team-a", "--name", ""], "1..150"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(alice, bob, args, message):
    run("team-a", "--name", "Team A", "--members", "alice", "bob")
    with pytest.raises(CommandError, match=message):
        call_command("group_add", *args)
    assert Group.objects.count() == 1
    assert Group.objects.get(group_id="team-a").name == "Team A"
    assert members_of("team-a") == ["alice", "bob"]


def test_an_inactive_user_cannot_be_added(alice, make_user):
    make_user("gone", is_active=False)
    with pytest.raises(CommandError, match="gone"):
        call_command("group_add", "team-a", "--members", "alice", "gone")
    assert not Group.objects.exists()
