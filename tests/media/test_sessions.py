"""queryMediaSession against a real Janus (tests/fakes/janus.py) and real PostgreSQL:
the topology, tokens only for Accepted members, one room per call under races.

Every token handed out is tried on Janus itself: a join with it is let in, or refused."""

import threading
import time

import pytest
from django.db import connections

from invitations.calls import actions
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode
from invitations.media import rooms
from invitations.media.sfu import JanusNoSuchRoom, JanusUnauthorized, member_token
from invitations.models import MediaGrant, MediaRoom
from tests.calls.helpers import refused
from tests.fakes.janus import TOKEN_SECRET
from tests.media.helpers import ask, call_with, do_media_tasks, join_refused, pages, room_of

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fast_passwords")]


def test_without_a_media_server_every_call_is_p2p(alice, bob, carol, dave, make_user):
    eve = make_user("eve")
    call_id = call_with(alice, bob, carol, dave, pending=[eve])
    for user in (alice, bob, carol, dave):
        assert ask(user, call_id) == {"callID": call_id, "topology": "p2p"}
    assert not MediaRoom.objects.exists()
    # the refusals of callSignal
    with refused("invalid_state"):
        ask(eve, call_id)  # invited, not Accepted
    with refused("invalid_state"):
        ask(bob, call_id, device="another-device")
    with refused("call_not_found"):
        ask(make_user("mallory"), call_id)
    with refused("call_not_found"):
        ask(alice, "no-such-call")
    actions.call_end(user=alice, call_id=call_id, device_id="alice1")
    with refused("call_ended"):
        ask(bob, call_id)


def test_two_members_stay_p2p_a_third_moves_the_call_to_the_sfu(sfu, alice, bob, carol, capture_frames):
    call_id = call_with(alice, bob, pending=[carol])
    assert ask(alice, call_id) == {"callID": call_id, "topology": "p2p"}
    assert not MediaRoom.objects.exists()

    with capture_frames() as sent:
        actions.call_accept(user=carol, call_id=call_id, device_id="carol1")
    for user in (alice, bob, carol):
        assert ("callMediaChanged", 0, {"callID": call_id, "topology": "sfu"}) in sent.events(user)

    before = time.time()
    answers = {user.username: ask(user, call_id) for user in (alice, bob, carol)}
    room = room_of(call_id)
    for answer in answers.values():
        assert answer["topology"] == "sfu", answer
        access = answer["sfu"]
        assert (access["url"], access["room"]) == (sfu.url, room.room)
        assert isinstance(access["iceServers"], list)
        # the token's own expiry, in ms; CALL_SFU_TOKEN_TTL_SECONDS from now
        assert access["expiresAt"] == int(access["token"].split(",")[0]) * 1000
        assert before + 7200 - 1 <= access["expiresAt"] / 1000 <= time.time() + 7200
    assert len({a["sfu"]["token"] for a in answers.values()}) == 3  # a token each
    assert MediaRoom.objects.count() == 1

    with pages() as page:
        for name, answer in answers.items():
            joined = page(answer["sfu"], name)
            assert joined.joined["videoroom"] == "joined"


def test_a_call_that_had_three_stays_on_the_sfu_with_two(sfu, alice, bob, carol):
    call_id = call_with(alice, bob, carol)
    room = ask(alice, call_id)["sfu"]["room"]
    actions.call_quit(user=carol, call_id=call_id, device_id="carol1")
    assert ask(bob, call_id)["sfu"]["room"] == room


def test_tokens_only_for_accepted_members(sfu, alice, bob, carol, dave, make_user):
    call_id = call_with(alice, bob, carol, pending=[dave])
    access = ask(alice, call_id)["sfu"]
    room = room_of(call_id)
    with refused("invalid_state"):
        ask(dave, call_id)  # a pending invitee gets no token
    with refused("call_not_found"):
        ask(make_user("mallory"), call_id)
    assert list(MediaGrant.objects.values_list("user__username", flat=True)) == ["alice"]

    # A token Janus itself accepts (signed with its secret) that the site never gave
    # for this room is refused by the room.
    stranger = {**access, "token": member_token(TOKEN_SECRET, int(time.time()) + 600, room=room.room, user_id="dave")}
    assert isinstance(join_refused(stranger, "dave"), JanusUnauthorized)


def test_one_room_when_members_ask_at_once(sfu, alice, bob, carol, dave):
    call_id = call_with(alice, bob, carol, dave)
    askers = (alice, bob, carol, dave)
    start = threading.Barrier(len(askers))
    answers: dict[str, dict] = {}
    failures: list[BaseException] = []

    def asking(user) -> None:
        try:
            start.wait(10)
            answers[user.username] = ask(user, call_id)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=asking, args=(user,)) for user in askers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not failures, failures
    assert len({(a["sfu"]["url"], a["sfu"]["room"]) for a in answers.values()}) == 1
    assert MediaRoom.objects.count() == 1
    with pages() as page:  # each token is in the one room's allowed list
        for name, answer in answers.items():
            page(answer["sfu"], name)


def test_accept_and_end_at_once_leave_no_room(sfu, alice, bob, carol):
    """Carol accepts and asks while Alice ends the call; whatever the order, Janus has no
    room for the call once the tasks are done, and any token Carol got is refused."""
    for _ in range(4):
        call_id = call_with(alice, bob, pending=[carol])
        ask(alice, call_id)  # p2p: nothing made yet
        start = threading.Barrier(2)
        carols: list = []

        def carol_accepts_and_asks(call_id=call_id) -> None:
            try:
                start.wait(10)
                actions.call_accept(user=carol, call_id=call_id, device_id="carol1")
                carols.append(ask(carol, call_id))
            except CallError as exc:
                carols.append(exc.reason)
            finally:
                connections.close_all()

        def alice_ends(call_id=call_id) -> None:
            try:
                start.wait(10)
                actions.call_end(user=alice, call_id=call_id, device_id="alice1")
            finally:
                connections.close_all()

        threads = [threading.Thread(target=carol_accepts_and_asks), threading.Thread(target=alice_ends)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(carols) == 1
        outcome = carols[0]  # refused (the end came first), or a room that the end then destroys
        assert outcome == "call_ended" if isinstance(outcome, str) else outcome["topology"] == "sfu", outcome
        do_media_tasks()
        for room in MediaRoom.objects.filter(call__call_id=call_id):
            assert room.closed_at is not None
            with rooms.video_rooms(room.server_url) as janus:
                with pytest.raises(JanusNoSuchRoom):
                    janus.participants(room.room)
        if isinstance(carols[0], dict):
            assert isinstance(join_refused(carols[0]["sfu"], "carol"), JanusNoSuchRoom)


def test_an_end_between_the_room_and_the_token_destroys_the_room_again(sfu, alice, bob, carol, monkeypatch):
    """The end commits, and its destroy is done, after the ask made the room row but before
    its token went to Janus (which then makes the room again): the ask sees the end, is
    refused, and writes the destroy again."""
    call_id = call_with(alice, bob, carol)
    settle = rooms.removals_settle

    def end_meanwhile(room, user_pk) -> None:
        actions.call_end(user=alice, call_id=call_id, device_id="alice1")
        assert do_media_tasks() == ["done"]  # destroyed on Janus (it was not there yet)
        settle(room, user_pk)

    monkeypatch.setattr(rooms, "removals_settle", end_meanwhile)
    with pytest.raises(CallError) as refusal:
        ask(bob, call_id)
    assert refusal.value.reason == "call_ended"
    monkeypatch.undo()
    room = MediaRoom.objects.get(call__call_id=call_id)
    token = MediaGrant.objects.get(room=room).token
    assert do_media_tasks() == ["done"]
    assert isinstance(join_refused({"url": sfu.url, "room": room.room, "token": token}, "bob"), JanusNoSuchRoom)


def test_general_mode_media_flows_after_the_call_ended(sfu, alice, bob, carol):
    """A general call Ends once everyone answered; its media (and its room) lasts
    CALL_MEDIA_MAX_SECONDS from createTime, and a token no longer than that."""
    call_id = call_with(alice, bob, carol, mode=CallMode.GENERAL)
    answer = ask(bob, call_id)
    assert answer["topology"] == "sfu"
    room = room_of(call_id)
    window_end = room.call.created_at.timestamp() + 14400
    assert answer["sfu"]["expiresAt"] <= window_end * 1000
    with pages() as page:
        page(answer["sfu"], "bob")
