"""The site's icon (every page, the admin's too, asks for /favicon.ico), and the
people list offering only users one calls: staff accounts are left out."""

import xml.etree.ElementTree as ET

import pytest
from django.contrib.staticfiles import finders

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


def test_favicon_ico_is_served_without_signing_in(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO directory
    assert int.from_bytes(body[4:6], "little") >= 1
    assert "max-age" in response["Cache-Control"]


def test_pages_name_the_svg_icon(client, alice):
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert 'rel="icon"' in page and "favicon.svg" in page and "data:," not in page
    root = ET.parse(finders.find("favicon.svg")).getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 32 32"


def test_the_people_list_leaves_out_staff_accounts(client, make_user, alice, bob):
    make_user("operator", is_staff=True)
    make_user("root", is_staff=True, is_superuser=True)
    client.force_login(alice)
    listed = client.get("/api/users").json()["users"]
    assert [u["userID"] for u in listed] == ["bob"]
    assert client.get("/api/users", {"search": "oper"}).json()["users"] == []


def test_a_staff_account_may_still_be_invited_by_name(client, make_user, alice):
    """PROTOCOL lets callInvite name any user; only the list of people to pick from leaves staff out."""
    make_user("operator", is_staff=True)
    token = client.post(
        "/api/auth/token", {"username": "alice", "password": PASSWORD}, content_type="application/json"
    ).json()["token"]
    response = client.post(
        "/api/calls",
        {"invitees": ["operator"]},
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["errorInvitees"] == []
