"""A call's room follows the call (real Janus, real PostgreSQL): a member who stops being
Accepted is taken out of the allowed list and kicked, an ended call's room is destroyed
and its tokens refused; a Janus that stops answering gets no new rooms and its calls move."""

from datetime import timedelta

import pytest
from django.utils import timezone

from invitations.calls import actions, deadlines
from invitations.calls.states import CallMode
from invitations.media import rooms, servers
from invitations.media.sfu import JanusNoSuchRoom, JanusUnauthorized
from invitations.models import Call, MediaRoom, MediaServer, MediaTask, OutboxStatus
from tests.calls.helpers import online, refused
from tests.media.helpers import ask, call_with, displays, do_media_tasks, join_refused, pages, room_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


def test_a_member_who_quits_is_kicked_and_its_token_refused(sfu, alice, bob, carol, dave):
    call_id = call_with(alice, bob, carol, dave)
    with pages() as page:
        alice_page = page(ask(alice, call_id)["sfu"], "alice")
        carol_access = ask(carol, call_id)["sfu"]
        carol_page = page(carol_access, "carol")
        room = room_of(call_id)
        assert displays(room) == ["alice", "carol"]

        actions.call_quit(user=carol, call_id=call_id, device_id="carol1")
        task = MediaTask.objects.get()
        assert (task.kind, task.user_id, task.tokens) == (MediaTask.REMOVE, carol.pk, [carol_access["token"]])
        assert do_media_tasks() == ["done"]

        assert carol_page.told("kicked")["leaving"] == "ok"
        assert displays(room) == ["alice"]
        assert isinstance(join_refused(carol_access, "carol"), JanusUnauthorized)  # no longer allowed
        with refused("invalid_state"):
            ask(carol, call_id)
        assert alice_page.joined["videoroom"] == "joined"
        page(ask(bob, call_id)["sfu"], "bob")  # the others go on
        assert displays(room) == ["alice", "bob"]


def test_a_member_who_goes_away_is_kicked(sfu, alice, bob, carol, dave, settings):
    """The members-away rule (a batch of the worker's) writes the same task."""
    call_id = call_with(alice, bob, carol, dave)
    for user in (alice, bob, carol):  # dave's call device has no socket
        online(user, f"{user.username}1")
    with pages() as page:
        dave_page = page(ask(dave, call_id)["sfu"], "dave")
        page(ask(bob, call_id)["sfu"], "bob")
        settings.CALL_HEARTBEAT_TIMEOUT_SECONDS = 0
        deadlines.sweep()  # dave is away from now, and Quit (offline) at once
        assert do_media_tasks() == ["done"]
        assert dave_page.told("kicked")["reason"] == "kicked"
        assert displays(room_of(call_id)) == ["bob"]


def test_moving_the_call_to_another_device_kicks_the_old_one(sfu, alice, bob, carol):
    call_id = call_with(alice, bob, carol)
    with pages() as page:
        old_access = ask(carol, call_id)["sfu"]
        old_page = page(old_access, "carol")
        actions.call_join(user=carol, call_id=call_id, device_id="carol2")
        with refused("invalid_state"):
            ask(carol, call_id, device="carol1")  # no longer the call device
        # asking from the new device does the pending removal first: the old page is out
        # before the new token exists, and the new page is the only "carol"
        new_access = ask(carol, call_id, device="carol2")["sfu"]
        assert old_page.told("kicked")["reason"] == "kicked"
        assert isinstance(join_refused(old_access, "carol"), JanusUnauthorized)
        page(new_access, "carol")
        assert displays(room_of(call_id)) == ["carol"]
        assert do_media_tasks() == []  # nothing left for the worker


def test_the_worker_leaves_a_member_who_came_back_in_the_room(sfu, alice, bob, carol):
    """A removal done after the member came back (joined again, new token) refuses the old
    tokens only: the participant with its display is the new one."""
    call_id = call_with(alice, bob, carol)
    with pages() as page:
        old_access = ask(carol, call_id)["sfu"]
        actions.call_quit(user=carol, call_id=call_id, device_id="carol1")
        actions.call_join(user=carol, call_id=call_id, device_id="carol1")
        pending = MediaTask.objects.get(status=OutboxStatus.PENDING)
        # the worker has not run; carol's new ask does the removal itself, then its page joins
        new_access = ask(carol, call_id)["sfu"]
        assert MediaTask.objects.get(pk=pending.pk).status == OutboxStatus.DELIVERED
        page(new_access, "carol")
        # a late duplicate of the task (at least once) does not kick the new page
        MediaTask.objects.filter(pk=pending.pk).update(status=OutboxStatus.PENDING)
        assert do_media_tasks() == ["done"]
        assert displays(room_of(call_id)) == ["carol"]
        assert isinstance(join_refused(old_access, "carol"), JanusUnauthorized)


def test_strangers_are_kicked_with_a_removal(sfu, alice, bob, carol, dave):
    """A page that joined under another display (not an Accepted member's userID) is kicked too."""
    call_id = call_with(alice, bob, carol, dave)
    with pages() as page:
        page(ask(dave, call_id)["sfu"], "not-dave")
        page(ask(bob, call_id)["sfu"], "bob")
        actions.call_quit(user=carol, call_id=call_id, device_id="carol1")
        do_media_tasks()
        assert displays(room_of(call_id)) == ["bob"]


def test_an_ended_call_s_room_is_destroyed_and_its_tokens_refused(sfu, alice, bob, carol):
    call_id = call_with(alice, bob, carol)
    with pages() as page:
        bob_access = ask(bob, call_id)["sfu"]
        bob_page = page(bob_access, "bob")
        room = room_of(call_id)
        actions.call_end(user=alice, call_id=call_id, device_id="alice1")
        assert list(MediaTask.objects.values_list("kind", flat=True)) == [MediaTask.DESTROY]
        assert do_media_tasks() == ["done"]
        assert bob_page.told("destroyed")["room"] == room.room
        assert isinstance(join_refused(bob_access, "bob"), JanusNoSuchRoom)
        assert MediaRoom.objects.get(pk=room.pk).closed_at is not None
        with refused("call_ended"):
            ask(bob, call_id)


def test_an_operator_end_destroys_the_room(sfu, alice, bob, carol, admin_user):
    call_id = call_with(alice, bob, carol)
    access = ask(carol, call_id)["sfu"]
    actions.call_end_by_operator(operator=admin_user, call_id=call_id)
    assert do_media_tasks() == ["done"]
    assert isinstance(join_refused(access, "carol"), JanusNoSuchRoom)


def test_a_general_call_s_room_goes_when_its_media_window_does(sfu, alice, bob, carol):
    call_id = call_with(alice, bob, carol, mode=CallMode.GENERAL)
    access = ask(alice, call_id)["sfu"]
    assert rooms.rooms_destroy_due() == 0  # Ended (everyone answered), but its media flows
    Call.objects.filter(call_id=call_id).update(created_at=timezone.now() - timedelta(seconds=14401))
    assert rooms.rooms_destroy_due() == 1
    assert rooms.rooms_destroy_due() == 0  # its task is pending: not written twice
    assert do_media_tasks() == ["done"]
    assert isinstance(join_refused(access, "alice"), JanusNoSuchRoom)


def test_a_janus_that_stops_answering_gets_no_new_rooms(
    sfu, spare_janus, settings, alice, bob, carol, dave, make_user, capture_frames
):
    settings.CALL_SFU_URLS = [spare_janus.url, sfu.url]
    first = call_with(alice, bob, carol)
    assert ask(alice, first)["sfu"]["url"] == spare_janus.url  # both empty: the first listed
    eve, fay, gus = make_user("eve"), make_user("fay"), make_user("gus")
    second = call_with(eve, fay, gus)
    assert ask(eve, second)["sfu"]["url"] == sfu.url  # the least loaded

    spare_janus.kill()
    with capture_frames() as sent:
        moved = ask(bob, first)  # its request fails: that Janus is marked down, the call moves
    assert moved["sfu"]["url"] == sfu.url
    for user in (alice, carol):  # the others are told to ask again
        assert ("callMediaChanged", 0, {"callID": first, "topology": "sfu"}) in sent.events(user)
    assert MediaServer.objects.get(url=spare_janus.url).down_until > timezone.now()
    old = MediaRoom.objects.get(call__call_id=first, server_url=spare_janus.url)
    assert old.closed_at is not None
    with pages() as page:
        page(moved["sfu"], "bob")
        page(ask(alice, first)["sfu"], "alice")

    dave_call = call_with(dave, make_user("hal"), make_user("ida"))
    assert ask(dave, dave_call)["sfu"]["url"] == sfu.url  # the down one gets nothing new


def test_the_workers_check_marks_a_silent_janus_down_and_moves_its_calls(
    sfu, spare_janus, settings, alice, bob, carol, capture_frames
):
    settings.CALL_SFU_URLS = [spare_janus.url, sfu.url]
    settings.CALL_SFU_CHECK_SECONDS = 0
    call_id = call_with(alice, bob, carol)
    assert ask(alice, call_id)["sfu"]["url"] == spare_janus.url
    assert servers.servers_check() == 0  # both answer: nothing changed
    assert MediaServer.objects.filter(url__in=settings.CALL_SFU_URLS, down_until=None).count() == 2

    spare_janus.kill()
    assert servers.servers_check() == 0  # one failure: not down yet (CALL_SFU_DOWN_AFTER_FAILURES is 2)
    assert MediaServer.objects.get(url=spare_janus.url).down_until is None
    with capture_frames() as sent:
        assert servers.servers_check() == 1
    assert MediaServer.objects.get(url=spare_janus.url).down_until > timezone.now()
    for user in (alice, bob, carol):
        assert ("callMediaChanged", 0, {"callID": call_id, "topology": "sfu"}) in sent.events(user)
    assert ask(bob, call_id)["sfu"]["url"] == sfu.url
    # the old room's destroy waits for that Janus to answer again
    attempts = do_media_tasks()
    assert len(attempts) == 1 and attempts[0].startswith("retry"), attempts
    spare_janus.start()  # back (a restart: its rooms are gone)
    assert servers.servers_check() == 1
    assert MediaServer.objects.get(url=spare_janus.url).down_until is None


def test_with_every_janus_down_calls_fall_back_to_p2p(sfu, spare_janus, settings, alice, bob, carol):
    settings.CALL_SFU_URLS = [spare_janus.url]
    call_id = call_with(alice, bob, carol)
    spare_janus.kill()
    assert ask(alice, call_id) == {"callID": call_id, "topology": "p2p"}
    assert ask(bob, call_id) == {"callID": call_id, "topology": "p2p"}  # marked down: not tried again


def test_a_janus_that_refuses_the_site_s_secrets_is_not_used(sfu, settings, alice, bob, carol, caplog):
    settings.CALL_SFU_TOKEN_SECRET = "not-the-secret-janus-has"
    call_id = call_with(alice, bob, carol)
    assert ask(alice, call_id) == {"callID": call_id, "topology": "p2p"}  # not a 500
    assert MediaServer.objects.get(url=sfu.url).down_until > timezone.now()
    assert "refused the site" in caplog.text
