"""`manage.py seed_demo_users` (run by scripts/run at every start): makes the demo
users once and leaves them alone afterwards, so restarting the site signs nobody out."""

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]
DEMO = ["alice", "bob", "carol", "dave", "operator"]


def seed(capsys, *args: str) -> str:
    call_command("seed_demo_users", *args)
    return capsys.readouterr().out


def test_seeding_again_keeps_passwords_and_sessions(client, capsys):
    first = seed(capsys, "--password", "first-demo-pw")
    assert "first-demo-pw" in first  # made now: the password is printed
    assert client.login(username="alice", password="first-demo-pw")
    assert client.get("/").status_code == 200
    hashes = dict(get_user_model().objects.filter(username__in=DEMO).values_list("username", "password"))
    assert sorted(hashes) == sorted(DEMO)

    again = seed(capsys, "--password", "another-demo-pw")
    assert "another-demo-pw" not in again
    assert "unchanged" in again
    assert dict(get_user_model().objects.filter(username__in=DEMO).values_list("username", "password")) == hashes
    # The session made between the two runs is still valid: the page, not the sign-in form.
    assert client.get("/").status_code == 200
    assert client.login(username="bob", password="first-demo-pw")


def test_a_restart_tells_which_password_still_signs_in(capsys):
    seed(capsys)  # the default password
    user = get_user_model().objects.get(username="carol")
    user.set_password("carol-chose-this")
    user.save()
    again = seed(capsys)
    lines = {line.split(":")[0].strip(): line for line in again.splitlines() if ":" in line}
    assert "callsite-demo" in lines["alice"] and "callsite-demo" not in lines["carol"], again
    assert get_user_model().objects.get(username="carol").check_password("carol-chose-this")


def test_reset_passwords_sets_them_again(capsys):
    seed(capsys)
    out = seed(capsys, "--password", "reset-demo-pw", "--reset-passwords")
    assert "reset-demo-pw" in out
    assert get_user_model().objects.get(username="dave").check_password("reset-demo-pw")


def test_the_seeded_operator_manages_call_groups_in_the_admin(client, capsys):
    seed(capsys)
    assert client.login(username="operator", password="callsite-demo")
    index = client.get("/admin/").content.decode()
    assert "Call groups" in index
    assert client.get("/admin/invitations/group/").status_code == 200
    form = client.get("/admin/invitations/group/add/")
    assert form.status_code == 200 and "admin-autocomplete" in form.content.decode()
    alice = get_user_model().objects.get(username="alice")
    response = client.post(
        "/admin/invitations/group/add/", {"group_id": "demo-team", "name": "Demo team", "members": [alice.pk]}
    )
    assert response.status_code == 302, response.content[:2000]
    found = client.get(
        "/admin/autocomplete/",
        {"term": "bo", "app_label": "invitations", "model_name": "group", "field_name": "members"},
    )
    assert [r["text"] for r in found.json()["results"]] == ["bob"]
