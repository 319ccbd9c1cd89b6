"""The operator admin: read-only calls with their story, ending calls live, permissions.

Calls are made through the services on the real database; events go through
the real Redis channel layer, to the `inbox` fixture or to a real consumer.
"""

import re

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db import connection, connections
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from invitations.accounts import token_actions
from invitations.calls import actions
from invitations.calls.states import CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallEvent
from invitations.realtime import presence
from tests.web.test_call_list_page import (  # noqa: F401
    MODEL_BACKEND,
    drop_scheduled_jobs,
    ended_call,
    ongoing_call,
)

CHANGELIST = "/admin/invitations/call/"
SELECTED = re.compile(r'name="_selected_action" value="(\d+)"')


def grant(user, *codenames: str):
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="invitations", codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # fresh permission cache


@pytest.fixture
def operator(make_user):
    return grant(make_user("op", is_staff=True), "view_call", "end_call", "view_connection", "view_serverprocess")


@pytest.fixture
def viewer(make_user):
    """Staff who may look at calls but not end them."""
    return grant(make_user("looker", is_staff=True), "view_call", "view_connection")


@pytest.fixture
def op_client(client, operator):
    client.force_login(operator, backend=MODEL_BACKEND)
    return client


def shown(response) -> list[int]:
    assert response.status_code == 200, response.content[:300]
    return [int(pk) for pk in SELECTED.findall(response.content.decode())]


def plain_users(n: int, prefix: str = "u") -> list:
    # no password hashing: these users only need to exist
    return [get_user_model().objects.create(username=f"{prefix}{i:02}") for i in range(n)]


def make_calls(n: int, caller, invitees) -> list[str]:
    return [ended_call(caller, *invitees) for _ in range(n)]


# --- changelist, search, filters: query counts do not grow with rows ---------------------------------


def test_changelist_search_and_filter_query_counts_do_not_grow(
    op_client, alice, bob, carol, django_assert_max_num_queries
):
    urls = [
        CHANGELIST,
        f"{CHANGELIST}?q=bob",
        f"{CHANGELIST}?state__exact={CallState.ENDED}",
        f"{CHANGELIST}?mode__exact=0",
        f"{CHANGELIST}?created_at__gte=2000-01-01%2000:00:00%2B00:00",
        f"{CHANGELIST}?q=carol&state__exact={CallState.ENDED}",
    ]
    make_calls(5, alice, [bob, carol])
    small = {}
    for url in urls:
        with CaptureQueriesContext(connection) as queries:
            assert len(shown(op_client.get(url))) == 5
        small[url] = len(queries.captured_queries)
    make_calls(45, alice, [bob, carol])
    for url in urls:
        with django_assert_max_num_queries(small[url]):
            rows = shown(op_client.get(url))
        assert len(rows) == 50, url


def test_changelist_columns(op_client, alice, bob):
    call_id = ongoing_call(alice, bob)
    html = op_client.get(CHANGELIST).content.decode()
    assert call_id in html
    for text in ("alice (Accepted)", "bob (Inviting)", "General", "Started"):
        assert text in html, text
    for column in (
        "column-call_id",
        "column-caller",
        "column-mode",
        "column-state",
        "column-member_list",
        "column-created_at",
        "column-ended_at",
    ):
        assert column in html, column


def test_change_page_query_count_does_not_grow_with_members(op_client, alice, bob):
    small = ended_call(alice, bob)
    big = ended_call(alice, *plain_users(9))
    small_pk, big_pk = (Call.objects.get(call_id=c).pk for c in (small, big))
    with CaptureQueriesContext(connection) as few:
        assert op_client.get(f"{CHANGELIST}{small_pk}/change/").status_code == 200
    with CaptureQueriesContext(connection) as many:
        response = op_client.get(f"{CHANGELIST}{big_pk}/change/")
    assert response.status_code == 200
    assert len(many.captured_queries) <= len(few.captured_queries), "\n".join(
        q["sql"][:300] for q in many.captured_queries
    )
    html = response.content.decode()
    # the whole story: every member and every event, read-only
    assert html.count("caller_cancel") >= 9
    assert "Unknown → Inviting" in html and "call ended" in html
    assert Call.objects.get(pk=big_pk).events.count() >= 12


def test_search_by_call_id_and_usernames(op_client, alice, bob, carol, dave):
    one = ended_call(alice, bob)
    two = ended_call(carol, dave)
    three = ended_call(bob, carol)
    pk = dict(Call.objects.values_list("call_id", "pk"))
    assert shown(op_client.get(f"{CHANGELIST}?q={one}")) == [pk[one]]
    assert sorted(shown(op_client.get(f"{CHANGELIST}?q=carol"))) == sorted([pk[two], pk[three]])  # caller or member
    assert sorted(shown(op_client.get(f"{CHANGELIST}?q=bob"))) == sorted([pk[one], pk[three]])
    assert shown(op_client.get(f"{CHANGELIST}?q=nobody")) == []


def test_filters(op_client, alice, bob, carol):
    ended = ended_call(alice, bob)
    going = ongoing_call(carol, alice)
    pk = dict(Call.objects.values_list("call_id", "pk"))
    assert shown(op_client.get(f"{CHANGELIST}?state__exact={CallState.STARTED}")) == [pk[going]]
    assert shown(op_client.get(f"{CHANGELIST}?state__exact={CallState.ENDED}")) == [pk[ended]]
    assert shown(op_client.get(f"{CHANGELIST}?mode__exact=1")) == []
    html = op_client.get(CHANGELIST).content.decode()
    assert "By state" in html and "By mode" in html and "By created at" in html


# --- read-only ---------------------------------------------------------------------------------------


def test_calls_cannot_be_added_edited_or_deleted(op_client, alice, bob):
    call_id = ongoing_call(alice, bob)
    call = Call.objects.get(call_id=call_id)
    seq = call.seq
    assert op_client.get(f"{CHANGELIST}add/").status_code == 403
    response = op_client.post(f"{CHANGELIST}{call.pk}/change/", {"state": CallState.ENDED, "seq": 99})
    assert response.status_code == 403
    assert op_client.post(f"{CHANGELIST}{call.pk}/delete/", {"post": "yes"}).status_code == 403
    html = op_client.get(f"{CHANGELIST}{call.pk}/change/").content.decode()
    assert 'name="_save"' not in html and 'name="state"' not in html
    assert "delete_selected" not in op_client.get(CHANGELIST).content.decode()
    call.refresh_from_db()
    assert call.state == CallState.STARTED and call.seq == seq
    assert Call.objects.count() == 1


def test_connections_are_a_read_only_list_and_rq_dashboard_is_linked(op_client, alice):
    presence.server_process_heartbeat(server_id="srv-1", host="h", pid=1)
    presence.connection_open(user=alice, device_id="alice-laptop", channel_name="chan-1", server_id="srv-1")
    response = op_client.get("/admin/invitations/connection/")
    html = response.content.decode()
    assert response.status_code == 200 and "alice-laptop" in html and "alice" in html
    assert op_client.get("/admin/invitations/connection/add/").status_code == 403
    assert 'href="/admin/rq/"' in op_client.get(CHANGELIST).content.decode()


# --- ending calls ------------------------------------------------------------------------------------


def test_end_selected_calls_action_reaches_members_and_logs_operator(
    op_client, operator, alice, bob, carol, dave, inbox, django_capture_on_commit_callbacks
):
    done = ended_call(bob, alice)
    first = ongoing_call(alice, bob, carol)
    actions.call_accept(user=bob, call_id=first)  # carol still pending: the call goes on
    second = ongoing_call(dave, carol)
    inbox.watch(alice, bob, carol, dave)
    pks = [Call.objects.get(call_id=c).pk for c in (first, second, done)]
    with django_capture_on_commit_callbacks(execute=True):
        response = op_client.post(CHANGELIST, {"action": "end_selected_calls", "_selected_action": pks}, follow=True)
    assert "Ended 2 call(s). 1 had already ended." in response.content.decode(), re.findall(
        r"<li class=\"[a-z]*\">.*?</li>", response.content.decode()
    )
    for call_id in (first, second):
        call = Call.objects.get(call_id=call_id)
        assert call.state == CallState.ENDED and call.ended_by == operator
        last = call.events.order_by("-seq").first()
        assert last.kind == "call_ended" and last.actor == operator
    for user, call_ids in ((alice, {first}), (bob, {first}), (carol, {first, second}), (dave, {second})):
        ended = [d for name, _, d in inbox.events(user) if name == "callInvitationEnded"]
        assert {d["callID"] for d in ended} == call_ids, user
        assert all(d["operatedUserID"] == "op" for d in ended)
    # members keep their state when a call ends
    assert Call.objects.get(call_id=first).members.get(user=carol).state == S.INVITING


def test_end_call_button_on_change_page(op_client, alice, bob):
    call = Call.objects.get(call_id=ongoing_call(alice, bob))
    html = op_client.get(f"{CHANGELIST}{call.pk}/change/").content.decode()
    assert 'id="end-call-button"' in html and f'action="{CHANGELIST}{call.pk}/end/"' in html
    assert op_client.get(f"{CHANGELIST}{call.pk}/end/").status_code == 405  # only a POST ends
    response = op_client.post(f"{CHANGELIST}{call.pk}/end/", follow=True)
    assert response.redirect_chain[-1][0] == f"{CHANGELIST}{call.pk}/change/"
    assert f"Call {call.call_id} ended." in response.content.decode()
    call.refresh_from_db()
    assert call.state == CallState.ENDED
    assert 'id="end-call-button"' not in response.content.decode()  # nothing left to end
    # a second press is refused politely, with no new event
    seq = call.seq
    response = op_client.post(f"{CHANGELIST}{call.pk}/end/", follow=True)
    assert "was not ended" in response.content.decode()
    call.refresh_from_db()
    assert call.seq == seq


@pytest.mark.django_db(transaction=True)
async def test_end_call_button_reaches_connected_websocket_clients(drop_scheduled_jobs):  # noqa: F811
    from callsite.asgi import application

    def setup():
        User = get_user_model()
        alice, bob = (User.objects.create_user(username=n, password="x") for n in ("alice", "bob"))
        op = grant(User.objects.create_user(username="op", password="x", is_staff=True), "view_call", "end_call")
        call_id = actions.call_invite(user=alice, invitees=["bob"])["callID"]
        return (
            op,
            Call.objects.get(call_id=call_id),
            token_actions.api_token_create(user=alice),
            token_actions.api_token_create(user=bob),
        )

    op, call, alice_token, bob_token = await sync_to_async(setup)()
    sockets = []
    try:
        for token in (alice_token, bob_token):
            ws = WebsocketCommunicator(
                application, "/ws/calls/", headers=[(b"authorization", f"Bearer {token}".encode())]
            )
            connected, _ = await ws.connect(timeout=10)
            assert connected
            assert (await ws.receive_json_from(timeout=10))["type"] == "hello"
            sockets.append(ws)

        admin = AsyncClient()
        await admin.aforce_login(op, backend=MODEL_BACKEND)
        response = await admin.post(f"{CHANGELIST}{call.pk}/end/")
        assert response.status_code == 302

        for ws in sockets:
            while True:  # skip deliveries and state changes sent on connect
                frame = await ws.receive_json_from(timeout=10)
                if frame.get("event") == "callInvitationEnded":
                    break
            assert frame["data"]["callID"] == call.call_id
            assert frame["data"]["operatedUserID"] == "op"
        event = await sync_to_async(lambda: CallEvent.objects.filter(call=call, kind="call_ended").get())()
        assert event.actor_id == op.pk
    finally:
        for ws in sockets:
            await ws.disconnect()
        # the thread that ran the views and the consumer's queries holds a connection
        await sync_to_async(connections.close_all)()


# --- permission --------------------------------------------------------------------------------------


def test_staff_without_end_call_permission_cannot_end(client, viewer, alice, bob):
    call = Call.objects.get(call_id=ongoing_call(alice, bob))
    client.force_login(viewer, backend=MODEL_BACKEND)
    changelist = client.get(CHANGELIST).content.decode()
    assert "End selected calls" not in changelist
    assert 'id="end-call-button"' not in client.get(f"{CHANGELIST}{call.pk}/change/").content.decode()
    client.post(CHANGELIST, {"action": "end_selected_calls", "_selected_action": [call.pk]})
    assert client.post(f"{CHANGELIST}{call.pk}/end/").status_code == 403
    call.refresh_from_db()
    assert call.state == CallState.STARTED and not call.events.filter(kind="call_ended").exists()


def test_non_staff_cannot_reach_the_end_view(client, alice, bob, carol):
    call = Call.objects.get(call_id=ongoing_call(alice, bob))
    client.force_login(carol, backend=MODEL_BACKEND)
    response = client.post(f"{CHANGELIST}{call.pk}/end/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    call.refresh_from_db()
    assert call.state == CallState.STARTED


def test_job_dashboard_needs_its_own_permission(make_user, settings):
    """/admin/rq/ (where deadline jobs can be deleted) is for
    superusers and staff granted django_rq's `admin` permission, not all staff."""
    import django_rq

    queue = django_rq.get_queue(settings.CALL_QUEUE)
    job = queue.enqueue_in(__import__("datetime").timedelta(hours=1), "invitations.worker.jobs.sweep")
    pages = ["/admin/rq/", "/admin/rq/queues/0/", "/admin/rq/queues/0/scheduled/", f"/admin/rq/queues/0/{job.id}/"]
    delete = f"/admin/rq/queues/0/{job.id}/delete/"
    try:
        staff = make_user("staffer", is_staff=True)
        granted = make_user("jobkeeper", is_staff=True)
        granted.user_permissions.add(Permission.objects.get(content_type__app_label="django_rq", codename="admin"))
        root = make_user("root", is_staff=True, is_superuser=True)
        for user, allowed in ((staff, False), (granted, True), (root, True)):
            browser = Client()
            browser.force_login(user, backend=MODEL_BACKEND)
            for page in pages:
                status = browser.get(page).status_code
                assert (status == 200) == allowed, (user.username, page, status)
            if not allowed:
                browser.post(delete, {"post": "yes"})
                assert queue.fetch_job(job.id) is not None, "staff without the permission deleted a job"
        # and one who may does delete it
        browser = Client()
        browser.force_login(granted, backend=MODEL_BACKEND)
        browser.post(delete, {"post": "yes"})
        assert queue.fetch_job(job.id) is None
    finally:
        job.delete() if queue.fetch_job(job.id) else None
