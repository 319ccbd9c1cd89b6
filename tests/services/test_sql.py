"""The PostgreSQL fast path (services/sql.py) against the ORM path it replaces:
the same scenario run both ways on PostgreSQL writes the same rows, sends the
same frames and answers the same; each raw read loads what the ORM loads.
(On SQLite only the ORM path exists: the other service tests cover it.)"""
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from invitations import selectors, services
from invitations.models import Call, CallEvent, CallUser
from invitations.services import sql
from invitations.states import CallMode, CallState

from .helpers import invite, online

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the fast path is PostgreSQL's")


TIMES = ("created_at", "ended_at", "invited_at", "deadline", "accepted_at", "responded_at", "quit_at")


def rows(call_ids: list[str]) -> list:
    """Every row of these calls with ids and times replaced by what they refer to / whether set."""
    out = []
    for number, call_id in enumerate(call_ids):
        call = Call.objects.get(call_id=call_id)
        values = Call.objects.filter(pk=call.pk).values().get()
        names = {m.pk: m.user.username for m in call.members.all()}

        def clean(d: dict) -> dict:
            d = {k: (v is not None if k in TIMES else v) for k, v in d.items() if k not in ("id", "call_id")}
            return d

        out.append(("call", number, clean(values)))
        for m in CallUser.objects.filter(call=call).order_by("pk").values():
            out.append(("member", names[m["id"]], clean(m)))
        for e in CallEvent.objects.filter(call=call).order_by("seq", "pk").values():
            out.append(("event", clean(e)))
    return out


def scenario(alice, bob, carol, dave, eve, capture_frames) -> tuple:
    """Every operation that goes through the fast path, with its answers and frames."""
    online(bob)
    answers, call_ids = [], []
    with capture_frames() as sent:
        a = services.call_invite(user=alice, invitees=["bob", "carol", "nobody"], extended_data="x", timeout=60,
                                 push_config={"title": "t"})
        call_ids.append(a["callID"])
        answers.append({k: v for k, v in a.items() if k not in ("callID", "createTime")})
        answers.append(dict(services.call_accept(user=bob, call_id=a["callID"], device_id="b1", extended_data="yes"),
                            callID=None))
        services.call_reject(user=carol, call_id=a["callID"], device_id="c1", reason="busy")
        adv = invite(dave, carol, mode=CallMode.ADVANCED, timeout=60)
        call_ids.append(adv)
        services.call_accept(user=carol, call_id=adv, device_id="c1")
        answers.append(dict(services.calling_invite(user=carol, call_id=adv, invitees=["alice"], timeout=60),
                            callID=None))
        services.call_join(user=eve, call_id=adv, device_id="e1")
        services.call_quit(user=eve, call_id=adv, device_id="e1")
        services.call_end(user=dave, call_id=adv, device_id="d1")
        cancelled = invite(eve, alice, timeout=60)
        call_ids.append(cancelled)
        services.call_cancel(user=eve, call_id=cancelled)
        late = invite(eve, bob, timeout=60)  # overdue, then expired by a read
        call_ids.append(late)
        CallUser.objects.filter(call__call_id=late, user=bob).update(deadline=timezone.now() - timedelta(seconds=1))
        assert services.invitations_expire_due(user=bob) == 1
    frames = [(user_id, frame["event"], {k: v for k, v in frame["data"].items()
                                         if k not in ("callID", "createTime", "timestamp", "deadline", "endTime")})
              for user_id, frame in sent]
    return answers, rows(call_ids), frames


def test_fast_path_writes_what_the_orm_path_writes(alice, bob, carol, dave, make_user, capture_frames,
                                                  monkeypatch):
    eve = make_user("eve")
    fast = scenario(alice, bob, carol, dave, eve, capture_frames)
    services.connection_close(channel_name="test.bob.d1")
    Call.objects.all().delete()
    monkeypatch.setattr(sql, "fast", lambda: False)  # the ORM path, on the same database and users
    orm = scenario(alice, bob, carol, dave, eve, capture_frames)
    assert len(fast[2]) > 20
    assert fast[0] == orm[0] and fast[1] == orm[1]
    assert fast == orm


def test_raw_reads_load_what_the_orm_loads(alice, bob, carol, dave):
    online(bob)
    first = invite(alice, bob, carol, timeout=60)
    services.call_accept(user=bob, call_id=first)
    second = invite(carol, alice, dave, mode=CallMode.ADVANCED, timeout=60)
    services.call_end_by_operator(operator=carol, call_id=invite(dave, bob, timeout=60))
    ids = list(Call.objects.order_by("pk").values_list("pk", flat=True))

    def shape(call: Call, members) -> tuple:
        return (
            {f.attname: getattr(call, f.attname) for f in Call._meta.concrete_fields},
            call.caller.username, call.ended_by.username if call.ended_by_id else None,
            [({f.attname: getattr(m, f.attname) for f in CallUser._meta.concrete_fields}, m.user.username,
              m.inviter.username if m.inviter_id else None) for m in members],
        )

    orm = {c.pk: shape(c, c.members.all()) for c in selectors.with_members(Call.objects.filter(pk__in=ids))}
    raw = {pk: shape(c, c.members.all()) for pk, c in sql.calls_with_members(ids).items()}
    assert raw == orm
    for call_id in (first, second):
        call, members = sql.lock_call_with_members(call_id)
        assert shape(call, members) == orm[call.pk]
    locked = sql.lock_calls_with_members(ids, skip_locked=True)
    running = [c.pk for c in Call.objects.filter(pk__in=ids, state=CallState.STARTED).order_by("pk")]
    assert [c.pk for c, _ in locked] == running
    for call, members in locked:
        assert shape(call, members)[0] == orm[call.pk][0] and shape(call, members)[3] == orm[call.pk][3]
    assert sql.lock_call_with_members("no-such-call") is None


def test_raw_page_is_the_orm_page(alice, bob, carol, monkeypatch):
    for _ in range(5):
        services.call_cancel(user=alice, call_id=invite(alice, bob, carol, timeout=60))

    def pages(user) -> list:
        out, next_flag = [], 0
        while True:
            calls, next_flag = selectors.call_page(user=user, count=2, next_flag=next_flag)
            out.append(([c.call_id for c in calls], [[(m.pk, m.user.username, m.state) for m in c.members.all()]
                                                     for c in calls], next_flag))
            if not next_flag:
                return out

    fast = [pages(u) for u in (alice, bob)]
    assert len(fast[0]) == 3 and fast[0][-1][2] == 0 and len(fast[0][-1][0]) == 1
    monkeypatch.setattr(sql, "fast", lambda: False)
    assert fast == [pages(u) for u in (alice, bob)]
