"""/calls/ (a user's calls, keyset-paged like queryCallInvitationList) and /calls/<callID>/.

Calls are made through the services on the real database; pages are read
through Django's test client, and what is checked is the HTML a user sees.
"""

import re
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from invitations.calls import actions
from invitations.calls.cursors import next_flag_for
from invitations.calls.states import CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallUser

# explicit: the first configured backend (the sign-in rate limiter) loads no users
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
ROW = re.compile(r'class="call-row[^"]*" data-call-id="([^"]+)"')
NEXT = re.compile(r'<a class="next" rel="next" href="\?([^"]*)"')


def ended_call(caller, *invitees, extended_data: str = "") -> str:
    """A general call the caller cancelled: ended, invitees Cancelled (caller_cancel)."""
    call_id = actions.call_invite(user=caller, invitees=[u.username for u in invitees], extended_data=extended_data)[
        "callID"
    ]
    actions.call_cancel(user=caller, call_id=call_id)
    return call_id


def ongoing_call(caller, *invitees, extended_data: str = "") -> str:
    return actions.call_invite(user=caller, invitees=[u.username for u in invitees], extended_data=extended_data)[
        "callID"
    ]


def page(client, query: str = "") -> tuple[list[str], str | None, str]:
    """(callIDs shown, the Next link's query string or None, html)."""
    response = client.get("/calls/" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    found = NEXT.search(html)
    return ROW.findall(html), (found.group(1).replace("&amp;", "&") if found else None), html


def newest_first(call_ids: list[str]) -> list[str]:
    pks = dict(Call.objects.filter(call_id__in=call_ids).values_list("call_id", "pk"))
    return sorted(call_ids, key=lambda c: -pks[c])


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice, backend=MODEL_BACKEND)
    return client


# --- paging ----------------------------------------------------------------------------------------


def test_pages_walk_newest_first_and_last_page_has_no_next(alice_client, alice, bob):
    made = [ended_call(alice, bob) for _ in range(7)]
    expected = newest_first(made)

    ids1, next1, _ = page(alice_client, "count=3")
    assert ids1 == expected[:3]
    last_pk = Call.objects.get(call_id=ids1[-1]).pk
    assert next1 == f"count=3&nextFlag={next_flag_for(last_pk)}"  # nextFlag stands for the page's last call

    ids2, next2, _ = page(alice_client, next1)
    assert ids2 == expected[3:6]
    ids3, next3, html3 = page(alice_client, next2)
    assert ids3 == expected[6:]
    assert next3 is None and 'rel="next"' not in html3


def test_exactly_count_items_has_no_next_link(alice_client, alice, bob):
    made = [ended_call(alice, bob) for _ in range(3)]
    ids, next_link, html = page(alice_client, "count=3")
    assert ids == newest_first(made)
    assert next_link is None and 'rel="next"' not in html


def test_last_page_holding_exactly_count_items_has_no_next_link(alice_client, alice, bob):
    made = [ended_call(alice, bob) for _ in range(4)]
    ids1, next1, _ = page(alice_client, "count=2")
    ids2, next2, _ = page(alice_client, next1)
    assert ids1 + ids2 == newest_first(made)
    assert next2 is None


def test_empty_list(alice_client, alice):
    ids, next_link, html = page(alice_client)
    assert ids == [] and next_link is None
    assert "You have no calls yet" in html


def test_default_count_is_20(alice_client, alice, bob):
    made = [ended_call(alice, bob) for _ in range(21)]
    ids, next_link, _ = page(alice_client)
    assert ids == newest_first(made)[:20]
    assert next_link == f"nextFlag={next_flag_for(Call.objects.get(call_id=ids[-1]).pk)}"


def test_count_above_100_is_treated_as_100(alice_client, alice, bob):
    made = [ended_call(alice, bob) for _ in range(101)]
    ids, next_link, _ = page(alice_client, "count=1000")
    assert ids == newest_first(made)[:100]
    assert next_link.startswith("count=100&nextFlag=")
    ids2, next2, _ = page(alice_client, next_link)
    assert ids2 == newest_first(made)[100:] and next2 is None


@pytest.mark.parametrize(
    "query, words",
    [
        ("count=0", "at least 1"),
        ("count=abc", "whole number"),
        ("count=-5", "whole number"),
        ("count=1.5", "whole number"),
        ("nextFlag=-1", "nextFlag"),
        ("nextFlag=abc", "nextFlag"),
        ("nextFlag=99999999999999999999999", "nextFlag"),  # beyond a 64-bit id: no database error
        ("state=bogus", "ongoing"),
        ("role=boss", "invitee"),
    ],
)
def test_bad_values_get_a_friendly_400_page(alice_client, alice, bob, query, words):
    ended_call(alice, bob)
    response = alice_client.get(f"/calls/?{query}")
    assert response.status_code == 400
    assert "invitations/call_list_error.html" in [t.name for t in response.templates]
    html = response.content.decode()
    assert "Cannot show this page of calls" in html and words in html
    assert 'href="/calls/"' in html  # a way back


def test_deep_page_runs_the_same_queries_as_the_first(alice_client, alice, bob):
    made = newest_first([ended_call(alice, bob) for _ in range(40)])
    with CaptureQueriesContext(connection) as first:
        page(alice_client, "count=5")
    deep_flag = next_flag_for(Call.objects.get(call_id=made[29]).pk)
    with CaptureQueriesContext(connection) as deep:
        ids, _, _ = page(alice_client, f"count=5&nextFlag={deep_flag}")
    assert ids == made[30:35]
    assert len(deep.captured_queries) == len(first.captured_queries)


# --- rows ------------------------------------------------------------------------------------------


def row_of(html: str, call_id: str) -> str:
    start = html.index(">", html.index(f'data-call-id="{call_id}"')) + 1
    return html[start : html.index("</li>", start)]


def text_of(fragment: str) -> str:
    """The words a person reads in an HTML fragment."""
    return " ".join(re.sub(r"<[^>]+>", " ", fragment).split())


def test_row_says_who_when_direction_and_outcome_in_words(alice_client, alice, bob, carol):
    cancelled = ended_call(alice, bob, extended_data='{"type": "Video"}')
    # before carol's call: alice calling carol while carol's call rings her would be glare (merged)
    odd = ended_call(alice, carol, extended_data="not json")
    rejected = ongoing_call(carol, alice, bob, extended_data='{"type":"voice"}')
    actions.call_reject(user=bob, call_id=rejected, reason="busy")
    _, _, html = page(alice_client)

    r = row_of(html, cancelled)
    assert f'href="/calls/{cancelled}/"' in r and f'data-call-id="{cancelled}"' in html
    words = text_of(r)
    assert words.startswith("↗ bob Outgoing video call You cancelled Today "), words
    assert cancelled not in words  # the call ID is no column a person reads

    words = text_of(row_of(html, rejected))
    assert "carol and bob Incoming voice call Ringing" in words, words

    assert "Outgoing call" in text_of(row_of(html, odd))
    # no raw state names anywhere on the page
    for raw in ("Timeout", "Rejected", "caller_cancel", "Inviting", "Unknown"):
        assert raw not in text_of(html.split('class="call-list"')[1]), raw


def test_outcome_words_for_caller_and_invitee(client, alice, bob, carol):
    declined = ongoing_call(alice, bob, carol)
    actions.call_reject(user=bob, call_id=declined)
    actions.call_reject(user=carol, call_id=declined, reason="busy")
    missed = ongoing_call(bob, alice)
    actions.call_cancel(user=bob, call_id=missed)
    client.force_login(alice, backend=MODEL_BACKEND)
    _, _, html = page(client)
    assert "Nobody answered: bob declined, carol was busy" in text_of(row_of(html, declined))
    r = text_of(row_of(html, missed))
    assert "Missed call" in r and "bob cancelled before you answered" in r
    client.force_login(bob, backend=MODEL_BACKEND)
    _, _, html = page(client)
    assert "You declined" in text_of(row_of(html, declined))


def test_overdue_invitation_is_shown_timed_out(alice_client, alice, bob):
    call_id = actions.call_invite(user=bob, invitees=["alice"], timeout=1)["callID"]
    time.sleep(1.2)  # past the deadline; no worker runs here, so the page itself must expire it
    _, _, html = page(alice_client)
    assert "You did not answer" in text_of(row_of(html, call_id)) and "Missed call" in text_of(row_of(html, call_id))
    assert CallUser.objects.get(call__call_id=call_id, user=alice).state == S.TIMEOUT


def test_overdue_invitations_expire_before_the_ended_filter_reads(alice_client, alice, bob, carol):
    """Expiring ends a call whose last invitee timed out: the Ended page lists it at once
    (it is not on the page before expiring, so that page expires first), the Ongoing page
    no longer does."""
    quiet = ongoing_call(carol, alice)
    call_id = actions.call_invite(user=bob, invitees=["alice"], timeout=1)["callID"]
    time.sleep(1.2)  # past the deadline; no worker runs here
    ended, _, _ = page(alice_client, "state=ended")
    assert ended == [call_id]
    assert Call.objects.get(call_id=call_id).state == CallState.ENDED
    ongoing, _, _ = page(alice_client, "state=ongoing")
    assert ongoing == [quiet]


# --- filters ---------------------------------------------------------------------------------------


@pytest.fixture
def four_calls(alice, bob, carol, dave):
    """A: alice calls (ended); B: bob calls alice (ended); C: carol calls alice (ongoing);
    D: alice calls dave (ongoing)."""
    a = ended_call(alice, bob)
    b = ended_call(bob, alice)
    c = ongoing_call(carol, alice)
    d = ongoing_call(alice, dave)
    return a, b, c, d


@pytest.mark.parametrize(
    "query, expected",
    [
        ("", "DCBA"),
        ("state=ongoing", "DC"),
        ("state=ended", "BA"),
        ("role=caller", "DA"),
        ("role=invitee", "CB"),
        ("state=ongoing&role=invitee", "C"),
        ("state=ended&role=caller", "A"),
    ],
)
def test_filters(alice_client, four_calls, query, expected):
    named = dict(zip("ABCD", four_calls))
    ids, _, _ = page(alice_client, query)
    assert ids == [named[x] for x in expected]


def test_filters_keep_keyset_paging(alice_client, four_calls):
    a, b, c, d = four_calls
    ids1, next1, _ = page(alice_client, "role=caller&count=1")
    assert ids1 == [d]
    assert "role=caller" in next1
    ids2, next2, _ = page(alice_client, next1)
    assert ids2 == [a] and next2 is None


# --- privacy and detail ----------------------------------------------------------------------------


def test_others_calls_never_shown(alice_client, alice, bob, carol, dave):
    mine = ended_call(alice, bob)
    theirs = [ended_call(bob, carol), ongoing_call(carol, dave)]
    ids, _, html = page(alice_client, "count=100")
    assert ids == [mine]
    for call_id in theirs:
        assert call_id not in html


def test_detail_is_404_for_non_members_and_unknown_ids(alice_client, bob, carol):
    theirs = ended_call(bob, carol)
    assert alice_client.get(f"/calls/{theirs}/").status_code == 404
    assert alice_client.get("/calls/no-such-call/").status_code == 404


def test_pages_need_login(client, alice, bob):
    call_id = ended_call(alice, bob)
    for url in ("/calls/", f"/calls/{call_id}/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_detail_timeline_has_every_event_in_words(alice_client, alice, bob, carol, make_user):
    call_id = ongoing_call(alice, bob, carol, extended_data='{"type": "video"}')
    actions.call_accept(user=bob, call_id=call_id, device_id="bob-phone")
    actions.call_end_by_operator(operator=make_user("op", is_staff=True), call_id=call_id)
    response = alice_client.get(f"/calls/{call_id}/")
    assert response.status_code == 200
    html = response.content.decode()
    seqs = [int(s) for s in re.findall(r'class="timeline-item [^"]*" data-seq="(\d+)"', html)]
    events = list(Call.objects.get(call_id=call_id).events.order_by("seq", "pk"))
    assert seqs == [e.seq for e in events] and len(seqs) >= 4
    lines = [text_of(i) for i in re.findall(r'<div class="timeline-what">.*?</div>', html, re.S)]
    assert lines[0] == "alice started the call"
    assert "alice called bob" in lines and "alice called carol" in lines
    assert "bob answered" in lines and lines[-1] == "op ended the call"
    words = text_of(html)
    assert "Outgoing video call · bob and carol" in words
    for raw in ("bob-phone", "Unknown", "→", "Inviting", "Accepted"):
        assert raw not in words, raw


def test_detail_is_fine_for_an_invitee(client, alice, bob):
    call_id = ended_call(alice, bob)
    client.force_login(bob, backend=MODEL_BACKEND)
    response = client.get(f"/calls/{call_id}/")
    assert response.status_code == 200
    words = text_of(response.content.decode())
    assert "Missed call · alice" in words and "alice cancelled before you answered" in words
    assert "alice cancelled the call to bob" in words


# --- filters people ask for, page size, totals, call back, duration only where known ----------------


def test_show_filters_missed_incoming_outgoing_group(alice_client, alice, bob, carol):
    from invitations.calls.groups import group_save

    group_save(group_id="team", name="Team", member_user_ids=["alice", "bob", "carol"])
    outgoing = ended_call(alice, bob)
    missed = ongoing_call(bob, alice)
    actions.call_cancel(user=bob, call_id=missed)
    declined = ongoing_call(carol, alice)
    actions.call_reject(user=alice, call_id=declined)
    in_group = actions.call_invite(user=carol, invitees=["alice"], group_id="team")["callID"]
    actions.call_accept(user=alice, call_id=in_group)
    assert page(alice_client, "show=missed")[0] == [missed]
    assert page(alice_client, "show=incoming")[0] == [in_group, declined, missed]
    assert page(alice_client, "show=outgoing")[0] == [outgoing]
    ids, _, html = page(alice_client, "show=group")
    assert ids == [in_group]
    assert 'data-filter="group">Team</a>' in html  # one group's calls, from there
    ids, _, html = page(alice_client, "show=missed")
    assert 'aria-current="true" data-filter="show" data-show="missed">Missed</a>' in html
    assert "1 missed call" in text_of(html)
    assert alice_client.get("/calls/?show=everything").status_code == 400


def test_missed_filter_expires_overdue_invitations_first(alice_client, alice, bob):
    call_id = actions.call_invite(user=bob, invitees=["alice"], timeout=1)["callID"]
    time.sleep(1.2)  # past the deadline; no worker runs here
    assert page(alice_client, "show=missed")[0] == [call_id]


def test_page_size_choice_and_total(alice_client, alice, bob):
    made = newest_first([ended_call(alice, bob) for _ in range(12)])
    ids, next_link, html = page(alice_client)
    assert "12 calls" in text_of(html)
    sizes = re.findall(r'<a href="\?([^"]*)"[^>]*data-count="(\d+)"', html)
    assert [n for _, n in sizes] == ["10", "20", "50", "100"]
    ten = {n: q for q, n in sizes}["10"].replace("&amp;", "&")
    ids, next_link, html = page(alice_client, ten)
    assert ids == made[:10] and next_link.startswith("count=10&nextFlag=")
    assert 'class="active" aria-current="true" data-count="10"' in html
    ids, next_link, _ = page(alice_client, next_link)
    assert ids == made[10:] and next_link is None


def test_call_back_links_to_the_call_page_prefilled(alice_client, alice, bob, carol):
    voice = ended_call(bob, alice, carol, extended_data='{"type": "voice"}')
    _, _, html = page(alice_client)
    r = row_of(html, voice)
    assert 'class="btn-call-back" href="/?call=bob%2Ccarol&amp;type=voice"' in r
    assert 'aria-label="Call bob and carol back"' in r


def test_general_call_talked_through_shows_no_duration(alice_client, alice, bob):
    call_id = actions.call_invite(user=alice, invitees=["bob"], mode=0)["callID"]
    actions.call_accept(user=bob, call_id=call_id)  # a general call ends here; the talk goes on in the pages
    _, _, html = page(alice_client)
    r = row_of(html, call_id)
    assert "call-duration" not in r and "0:00" not in text_of(r)
    assert "bob answered" in text_of(r)


# --- the index at depth (PostgreSQL) ----------------------------------------------------------------


@pytest.fixture
def drop_scheduled_jobs(settings):
    """Committed calls schedule their deadline jobs in this run's queue; no worker runs here."""
    yield
    import django_rq

    queue = django_rq.get_queue(settings.CALL_QUEUE)
    registry = queue.scheduled_job_registry
    for job_id in registry.get_job_ids():
        registry.remove(job_id, delete_job=True)
    queue.delete(delete_jobs=True)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_list_query_reads_the_member_index_in_order(drop_scheduled_jobs):
    """30 users, 600 calls: the page query walks (user, call desc) and stops after count+1 rows."""
    from django.contrib.auth import get_user_model

    from invitations.calls import selectors

    users = [get_user_model().objects.create(username=f"user{i:02}") for i in range(30)]
    for i in range(600):
        ended_call(users[i % 30], users[(i + 7) % 30])
    alice = users[0]
    with connection.cursor() as cursor:
        # committed rows + fresh statistics, as on a live database (autovacuum)
        cursor.execute("VACUUM ANALYZE invitations_calluser")
        cursor.execute("VACUUM ANALYZE invitations_call")
    mine = list(CallUser.objects.filter(user=alice).order_by("-call_id").values_list("call_id", flat=True))
    assert len(mine) == 40

    def plan(**kwargs) -> str:
        with CaptureQueriesContext(connection) as queries:
            calls, _ = selectors.call_page(user=alice, count=10, **kwargs)
        assert calls
        sql = next(q["sql"] for q in queries.captured_queries if "ORDER BY" in q["sql"] and "LIMIT" in q["sql"])
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            return "\n".join(row[0] for row in cursor.fetchall())

    for next_flag in (0, next_flag_for(mine[19])):
        unfiltered = plan(next_flag=next_flag)
        assert "Index Only Scan using member_calls_newest_first" in unfiltered, unfiltered
        assert "Sort" not in unfiltered, unfiltered  # read in index order: no sort of the user's rows
        for filters in ({"state": CallState.ENDED}, {"role": "caller"}, {"role": "invitee"}):
            filtered = plan(next_flag=next_flag, **filters)
            assert "member_calls_newest_first" in filtered, (filters, filtered)


# --- groups, duration, who answered ---------------------------------------------------------------


def test_rows_show_group_duration_and_who_answered(alice_client, alice, bob, carol):
    from datetime import timedelta

    from invitations.calls.groups import group_save
    from invitations.models import CallUser

    group_save(group_id="team", name="Team", member_user_ids=["alice", "bob", "carol"])
    talked = actions.call_invite(user=alice, invitees=["bob", "carol"], mode=1, group_id="team")["callID"]
    actions.call_accept(user=bob, call_id=talked)
    actions.call_reject(user=carol, call_id=talked)
    # 65 s from bob's answer to the end
    ended_at = CallUser.objects.get(call__call_id=talked, user=bob).accepted_at + timedelta(seconds=65)
    actions.call_end(user=bob, call_id=talked)
    Call.objects.filter(call_id=talked).update(ended_at=ended_at)
    unanswered = ended_call(alice, bob)
    _, _, html = page(alice_client)
    r = row_of(html, talked)
    assert '<span class="call-group">team</span>' in r
    assert '<span class="call-duration">1:05</span>' in r
    assert "bob answered" in text_of(r)
    r = row_of(html, unanswered)
    assert "call-duration" not in r and "You cancelled" in text_of(r)


def test_group_filter(alice_client, alice, bob, carol):
    from invitations.calls.groups import group_save

    group_save(group_id="team", name="Team", member_user_ids=["alice", "bob"])
    in_team = actions.call_invite(user=alice, invitees=["bob"], group_id="team")["callID"]
    actions.call_cancel(user=alice, call_id=in_team)
    plain = ended_call(alice, carol)
    ids, _, html = page(alice_client, "group=team")
    assert ids == [in_team]
    assert 'aria-current="true" data-filter="group">Team</a>' in html
    ids, _, _ = page(alice_client)
    assert set(ids) == {in_team, plain}
    ids, _, html = page(alice_client, "group=other")  # not (or no longer) a group of hers: nothing of theirs
    assert ids == [] and "No calls match these filters." in html
    response = alice_client.get("/calls/?group=bad%20id")
    assert response.status_code == 400 and "groupID" in response.content.decode()
