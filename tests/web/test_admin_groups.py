"""Operators manage call groups in the admin: add with members, the members autocomplete, permissions."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from invitations.models import Group

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def staff(make_user, name: str, *codenames: str):
    user = make_user(name, is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)


def test_operator_adds_a_group_with_members(client, make_user, alice, bob, carol):
    op = staff(make_user, "op", "add_group", "change_group", "view_group", "view_user")
    client.force_login(op, backend=MODEL_BACKEND)
    response = client.post(
        "/admin/invitations/group/add/", {"group_id": "team-a", "name": "Team A", "members": [alice.pk, carol.pk]}
    )
    assert response.status_code == 302, response.content[:2000]
    group = Group.objects.get(group_id="team-a")
    assert group.name == "Team A"
    assert sorted(group.members.values_list("username", flat=True)) == ["alice", "carol"]
    listing = client.get("/admin/invitations/group/")
    assert listing.status_code == 200 and "team-a" in listing.content.decode()


def test_the_form_refuses_a_bad_group_id(client, make_user, alice):
    op = staff(make_user, "op", "add_group", "view_group", "view_user")
    client.force_login(op, backend=MODEL_BACKEND)
    response = client.post(
        "/admin/invitations/group/add/", {"group_id": "not a slug", "name": "x", "members": [alice.pk]}
    )
    assert response.status_code == 200  # the form again, with its error
    assert not Group.objects.exists()


def test_members_autocomplete_finds_users(client, make_user, alice, bob):
    op = staff(make_user, "op", "add_group", "change_group", "view_group", "view_user")
    client.force_login(op, backend=MODEL_BACKEND)
    form = client.get("/admin/invitations/group/add/").content.decode()
    assert "admin-autocomplete" in form  # the members field is an autocomplete
    found = client.get(
        "/admin/autocomplete/",
        {"term": "ali", "app_label": "invitations", "model_name": "group", "field_name": "members"},
    )
    assert found.status_code == 200
    assert [r["text"] for r in found.json()["results"]] == ["alice"]


def test_staff_without_permission_cannot_add_groups(client, make_user, alice):
    looker = staff(make_user, "looker", "view_call")
    client.force_login(looker, backend=MODEL_BACKEND)
    assert client.post("/admin/invitations/group/add/", {"group_id": "x", "name": "x"}).status_code == 403
    assert not Group.objects.exists()


def test_operator_edits_members_through_the_service_and_cannot_rename(client, make_user, alice, bob, carol):
    from invitations.calls import groups

    group = groups.group_save(group_id="team-b", name="Team B", member_user_ids=["alice", "bob"])
    op = staff(make_user, "op", "change_group", "view_group", "view_user")
    client.force_login(op, backend=MODEL_BACKEND)
    page = client.get(f"/admin/invitations/group/{group.pk}/change/")
    assert page.status_code == 200 and 'name="group_id"' not in page.content.decode()  # read-only
    response = client.post(
        f"/admin/invitations/group/{group.pk}/change/",
        {"group_id": "renamed", "name": "Team B2", "members": [carol.pk]},
    )
    assert response.status_code == 302, response.content[:2000]
    group.refresh_from_db()
    assert (group.group_id, group.name) == ("team-b", "Team B2")
    assert list(group.members.values_list("username", flat=True)) == ["carol"]


def test_inactive_users_are_not_offered_as_members(client, make_user, alice):
    gone = make_user("gone", is_active=False)
    op = staff(make_user, "op", "add_group", "view_group", "view_user")
    client.force_login(op, backend=MODEL_BACKEND)
    response = client.post(
        "/admin/invitations/group/add/", {"group_id": "team-c", "name": "C", "members": [alice.pk, gone.pk]}
    )
    assert response.status_code == 200  # the form again: gone is not a valid choice
    assert not Group.objects.exists()


def test_an_apps_group_takes_that_apps_users_only(client, make_user, alice, make_app, app_user):
    """A group belongs to one tenant (PROTOCOL "Apps"): the form refuses members of another."""
    op = staff(make_user, "op", "add_group", "change_group", "view_group", "view_user", "view_app")
    client.force_login(op, backend=MODEL_BACKEND)
    app = make_app("Shop")
    ann = app_user(app, "ann")
    mixed = client.post(
        "/admin/invitations/group/add/",
        {"group_id": "crew", "name": "Crew", "app": app.pk, "members": [ann.pk, alice.pk]},
    )
    assert mixed.status_code == 200 and "not users of app" in mixed.content.decode()
    assert not Group.objects.exists()
    made = client.post(
        "/admin/invitations/group/add/", {"group_id": "crew", "name": "Crew", "app": app.pk, "members": [ann.pk]}
    )
    assert made.status_code == 302, made.content[:2000]
    site = client.post(
        "/admin/invitations/group/add/", {"group_id": "crew", "name": "Site crew", "members": [alice.pk]}
    )
    assert site.status_code == 302, site.content[:2000]  # the same groupID in another tenant
    assert {g.app_id: g.name for g in Group.objects.all()} == {app.app_id: "Crew", None: "Site crew"}
