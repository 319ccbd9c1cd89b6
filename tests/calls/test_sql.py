"""The hot statements (calls/sql.py), scenario by scenario.

Each scenario drives the operations (callInvite with and without glare and
groups, callAccept, callReject, callCancel, callingInvite, callJoin, callQuit,
callEnd, the batch expiry, the away quit) with and without push subscriptions
and webhook endpoints. Its answers and refusals, frames, OperationRecords (seen
by a record handler next to the real push and webhook handlers), rows, outbox
rows, payloads byte for byte and queued jobs must be exactly those recorded in
scenario_results.json, in at most the recorded round trips. Call ids, pks and
times differ between runs and are normalized.

The recorded results are what the ORM reference implementation of every
operation gave, identically to these statements, when both existed. A change
of behaviour is made on purpose: rerun with UPDATE_SCENARIO_RESULTS=1 to record
the new results, and review their diff.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from invitations.calls import actions, deadlines, operation, roundtrip
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.delivery import outbox, push, webhook_signing, webhooks
from invitations.models import (
    Call,
    CallEvent,
    CallUser,
    DeviceAway,
    Group,
    OutboxStatus,
    PushMessage,
    PushSubscription,
    WebhookEndpoint,
    WebhookMessage,
)
from tests.calls.helpers import online
from tests.fakes.push_service import Subscriber

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_passwords")]

RESULTS = Path(__file__).with_name("scenario_results.json")


# --- normalizing what differs between two runs ---------------------------------------------------


ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
ISO_TIMES = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
MS_TIMES = re.compile(r"(?<=:)1\d{12}(?=[,}])")


class Norm:
    """Call ids and pks by their order of creation, users by name, times as 'T': what any
    two runs share (pks depend on what ran before in the database)."""

    def __init__(self) -> None:
        self.user_pks = dict(get_user_model().objects.values_list("pk", "username"))
        self.group_pks = dict(Group.objects.values_list("pk", "group_id"))
        self.subscription_pks = {
            pk: f"S{i}" for i, pk in enumerate(PushSubscription.objects.order_by("pk").values_list("pk", flat=True))
        }
        self.endpoint_pks = {
            pk: f"E{i}" for i, pk in enumerate(WebhookEndpoint.objects.order_by("pk").values_list("pk", flat=True))
        }
        self.call_ids = {
            cid: f"C{i}" for i, cid in enumerate(Call.objects.order_by("pk").values_list("call_id", flat=True))
        }
        self.call_pks = {pk: f"C{i}" for i, pk in enumerate(Call.objects.order_by("pk").values_list("pk", flat=True))}
        self.member_pks = {
            pk: f"M{i}" for i, pk in enumerate(CallUser.objects.order_by("pk").values_list("pk", flat=True))
        }

    def __call__(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self(v) for k, v in value.items() if k not in ("msg_id", "webhook-id")}
        if isinstance(value, (list, tuple)):
            return [self(v) for v in value]
        if isinstance(value, datetime):
            return "T"
        if isinstance(value, str):
            if value in self.call_ids:
                return self.call_ids[value]
            if ISO_TIME.match(value):
                return "T"
            if value[:1] in "{[":
                try:
                    return self(json.loads(value))
                except ValueError:
                    return value
            return value
        if isinstance(value, int) and not isinstance(value, bool) and value > 10**12:  # ms since the epoch
            return "ms"
        return value

    def text(self, value: str) -> str:
        """A payload as stored, byte for byte, but for call ids and times."""
        for cid, name in self.call_ids.items():
            value = value.replace(f'"{cid}"', f'"{name}"')
        return MS_TIMES.sub("ms", ISO_TIMES.sub("T", value))

    def rows(self, model: type, **fks: dict) -> list[dict]:
        out = []
        for row in model.objects.order_by("pk").values():
            row.pop("id")
            for name, mapping in fks.items():
                row[name] = mapping.get(row[name], row[name])
            out.append(self(row))
        return out


def _run(scenario: Callable[[dict], list], users: dict, capture_frames) -> tuple[dict, int]:
    """The scenario's answers, frames, records and rows (normalized), and its round trips."""
    seen: list = []

    def record_handler(records: list) -> operation.HandlerWrites:
        def written(_rows: list) -> None:
            for r in records:
                seen.append(
                    {
                        "call": r.call.call_id,
                        "seq": r.seq,
                        "created": r.created,
                        "ended": r.ended,
                        "operated_by": r.operated_by,
                        "offline": sorted(r.offline_invitee_ids),
                        # a handler's `then` runs after the rows are written: every member it sees has its row
                        "changes": [
                            (
                                c.username,
                                c.from_state,
                                c.to_state,
                                c.reason,
                                c.member.pk is not None
                                and CallUser.objects.filter(pk=c.member.pk, call_id=r.call.pk).exists(),
                            )
                            for c in r.changes
                        ],
                    }
                )

        return operation.HandlerWrites([], written)

    jobs: list = []

    def enqueue_on_commit(job: str, pks: list[int]) -> None:  # the real one, after noting what it queues
        if pks:  # no rows: it queues nothing
            jobs.append((job, list(pks)))
        queue_on_commit(job, pks)

    handlers = operation._record_handlers
    operation._record_handlers = [record_handler] + handlers  # first: before the push handler writes
    queue_on_commit = outbox.enqueue_on_commit
    outbox.enqueue_on_commit = enqueue_on_commit
    try:
        with CaptureQueriesContext(connection) as queries, capture_frames() as sent:
            answers = scenario(users)
    finally:
        operation._record_handlers = handlers
        outbox.enqueue_on_commit = queue_on_commit
    # a member is in a running call exactly while its call has not ended (whichever path ended it)
    wrong = CallUser.objects.filter(call__state=CallState.STARTED, call_running=False) | CallUser.objects.filter(
        call__state=CallState.ENDED, call_running=True
    )
    assert not wrong.exists(), list(wrong.values_list("call__call_id", "call__state", "user__username"))
    norm = Norm()
    users_ = norm.user_pks
    position = {
        model: {pk: i for i, pk in enumerate(model.objects.order_by("pk").values_list("pk", flat=True))}
        for model in (PushMessage, WebhookMessage)
    }
    job_model = {push.JOB: PushMessage, webhooks.JOB: WebhookMessage}
    return {
        "answers": norm(answers),
        # by recipient, each one's in the order sent (the order between recipients follows their pks)
        "frames": norm(sorted(((norm.user_pks[uid], f) for uid, f in sent), key=lambda sent_to: sent_to[0])),
        "records": [
            {**norm(r), "call": norm.call_ids[r["call"]], "offline": [norm.user_pks[pk] for pk in r["offline"]]}
            for r in seen
        ],
        "calls": norm.rows(Call, caller_id=users_, ended_by_id=users_, group_id=norm.group_pks),
        "members": norm.rows(CallUser, call_id=norm.call_pks, user_id=users_, inviter_id=users_),
        "log": norm.rows(CallEvent, call_id=norm.call_pks, user_id=users_, actor_id=users_),
        "push": norm.rows(PushMessage, member_id=norm.member_pks, subscription_id=norm.subscription_pks),
        "webhooks": norm.rows(WebhookMessage, endpoint_id=norm.endpoint_pks),
        # the payloads byte for byte (the rows above compare them parsed)
        "payloads": [norm.text(p) for p in PushMessage.objects.order_by("pk").values_list("payload", flat=True)],
        "bodies": [norm.text(b) for b in WebhookMessage.objects.order_by("pk").values_list("body", flat=True)],
        # the delivery jobs queued on commit, by row (in order of creation)
        "jobs": [(job, [position[job_model[job]][pk] for pk in pks]) for job, pks in jobs],
    }, len(queries.captured_queries)


def recorded(scenario: Callable[[dict], list], users: dict, targets: bool, capture_frames) -> dict:
    """The scenario's results, checked against (or, with UPDATE_SCENARIO_RESULTS=1, written to)
    the recorded ones."""
    result, trips = _run(scenario, users, capture_frames)
    result = json.loads(json.dumps(result))  # tuples as lists, as recorded
    key = f"{scenario.__name__}/{'with-targets' if targets else 'no-targets'}"
    expected = json.loads(RESULTS.read_text())
    if os.environ.get("UPDATE_SCENARIO_RESULTS") == "1":
        expected[key] = {"result": result, "round_trips": trips}
        RESULTS.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    for part in expected[key]["result"]:
        assert result[part] == expected[key]["result"][part], part
    assert result.keys() == expected[key]["result"].keys()
    assert trips <= expected[key]["round_trips"], (trips, expected[key]["round_trips"])
    return result


def refusal(fn: Callable[[], Any]) -> str:
    with pytest.raises(CallError) as exc:
        fn()
    return exc.value.reason


# --- the scenarios ---------------------------------------------------------------------------------


def general(u: dict) -> list:
    """callInvite (one online, one offline with a push subscription), accept, reject; refusals."""
    a, b, c = u["alice"], u["bob"], u["carol"]
    out = []
    first = actions.call_invite(
        user=a,
        invitees=["bob", "carol", "nobody"],
        extended_data="x",
        push_config={"title": "t"},
        enable_not_received_check=True,
    )
    out.append(first)
    out.append(refusal(lambda: actions.call_invite(user=a, invitees=["dave"])))  # alice is in a call
    out.append(actions.call_accept(user=b, call_id=first["callID"], extended_data="yes"))
    out.append(actions.call_reject(user=c, call_id=first["callID"], reason="busy"))
    out.append(refusal(lambda: actions.call_accept(user=c, call_id=first["callID"])))
    out.append(refusal(lambda: actions.call_accept(user=c, call_id="no-such-call")))
    out.append(refusal(lambda: actions.call_reject(user=c, call_id="nul\x00")))
    second = actions.call_invite(user=c, invitees=["dave", "alice"], timeout=0, online_user_only=True)
    out.append(second)
    out.append(
        actions.call_cancel(
            user=c, call_id=second["callID"], invitees=["dave", "bob"], extended_data="c", push_config={"title": "bye"}
        )
    )
    return out


def advanced(u: dict) -> list:
    """An advanced call: accept, callingInvite (a new and a former member), callJoin, callQuit, callEnd."""
    a, b, c, d = u["alice"], u["bob"], u["carol"], u["dave"]
    out = []
    call = actions.call_invite(user=a, invitees=["bob", "carol"], mode=CallMode.ADVANCED)
    cid = call["callID"]
    out.append(call)
    out.append(actions.call_accept(user=b, call_id=cid))
    out.append(actions.call_reject(user=c, call_id=cid))
    out.append(
        actions.calling_invite(
            user=b,
            call_id=cid,
            invitees=["carol", "dave", "ghost"],
            extended_data="b",
            push_config={"title": "again"},
            timeout=5,
        )
    )
    out.append(actions.call_join(user=d, call_id=cid, device_id="d-phone", extended_data="j"))
    out.append(actions.call_join(user=d, call_id=cid, device_id="d-laptop"))  # moved device
    out.append(refusal(lambda: actions.call_join(user=d, call_id=cid, device_id="d-laptop")))
    out.append(actions.call_quit(user=a, call_id=cid, extended_data="q", push_config={"title": "q"}))
    out.append(actions.call_end(user=b, call_id=cid, extended_data="e", push_config={"content": "e"}))
    out.append(refusal(lambda: actions.call_end(user=b, call_id=cid)))
    return out


def glare(u: dict) -> list:
    """Crossing invites merge; an invite to someone ringing nobody makes a call."""
    a, b, c, d = u["alice"], u["bob"], u["carol"], u["dave"]
    out = []
    first = actions.call_invite(user=a, invitees=["bob"], extended_data="a", mode=CallMode.ADVANCED)
    out.append(first)
    merged = actions.call_invite(user=b, invitees=["alice"], extended_data="b")
    assert merged["merged"] and merged["callID"] == first["callID"]
    out.append(merged)
    out.append(refusal(lambda: actions.call_invite(user=b, invitees=["carol"])))  # bob is in a call now
    ringing = actions.call_invite(user=d, invitees=["carol"])  # carol rings nobody: no glare
    out.append(ringing)
    CallUser.objects.filter(call__call_id=ringing["callID"], user=c).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    # dave's call rings carol but has timed out: not glare, a new call (after the glare check's lock)
    again = actions.call_invite(user=c, invitees=["dave"])
    assert "merged" not in again and again["callID"] != ringing["callID"]
    out.append(again)
    return out


def group(u: dict) -> list:
    """A group call: members only, and only members may join."""
    a, b, c, d = u["alice"], u["bob"], u["carol"], u["dave"]
    out = []
    out.append(refusal(lambda: actions.call_invite(user=d, invitees=["alice"], group_id="team")))
    out.append(refusal(lambda: actions.call_invite(user=a, invitees=["bob"], group_id="nope\x00")))
    call = actions.call_invite(user=a, invitees=["bob", "dave"], group_id="team", mode=CallMode.ADVANCED)
    out.append(call)
    out.append(actions.call_accept(user=b, call_id=call["callID"]))
    out.append(actions.calling_invite(user=b, call_id=call["callID"], invitees=["dave", "carol"]))
    out.append(actions.call_join(user=c, call_id=call["callID"]))
    out.append(refusal(lambda: actions.call_join(user=d, call_id=call["callID"])))
    out.append(refusal(lambda: actions.calling_invite(user=b, call_id=call["callID"], invitees=["dave", "alice"])))
    return out


def expiry(u: dict) -> list:
    """The batch path: overdue invitees of several calls time out in one batch."""
    a, b, c, d = u["alice"], u["bob"], u["carol"], u["dave"]
    out = []
    first = actions.call_invite(user=a, invitees=["bob", "carol"])
    second = actions.call_invite(user=d, invitees=["carol"], mode=CallMode.ADVANCED)
    out += [first, second]
    past = timezone.now() - timedelta(seconds=1)
    CallUser.objects.filter(call__call_id__in=[first["callID"], second["callID"]], user__in=[b, c]).update(
        deadline=past
    )
    out.append(deadlines.invitations_expire_due())
    out.append(deadlines.invitations_expire_due())  # nothing left
    assert out[-2:] == [3, 0]
    return out


def closing_pushes(u: dict) -> list:
    """The closing push: after a delivered, an in-flight and a never-sent invitation push, in an
    operation and in a batch, and after a re-invite (the earlier invitation is not closed again)."""
    a, b, c, d = u["alice"], u["bob"], u["carol"], u["dave"]
    out = []

    def invitation_pushes(call_id: str, *, delivered: int, in_flight: int) -> None:
        rows = list(
            PushMessage.objects.filter(
                member__call__call_id=call_id, kind=PushMessage.INVITATION, status=OutboxStatus.PENDING
            )
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        PushMessage.objects.filter(pk__in=rows[:delivered]).update(status=OutboxStatus.DELIVERED, attempt_count=1)
        PushMessage.objects.filter(pk__in=rows[delivered : delivered + in_flight]).update(
            lease_until=timezone.now() + timedelta(minutes=1), attempt_count=1
        )

    first = actions.call_invite(user=a, invitees=["carol", "bob"], timeout=30)
    out.append(first)
    invitation_pushes(first["callID"], delivered=1, in_flight=1)
    out.append(actions.call_reject(user=c, call_id=first["callID"], reason="busy"))  # two closing pushes
    second = actions.call_invite(user=d, invitees=["carol"], mode=CallMode.ADVANCED)
    out.append(second)
    invitation_pushes(second["callID"], delivered=2, in_flight=0)
    out.append(actions.call_reject(user=c, call_id=second["callID"]))
    out.append(actions.calling_invite(user=d, call_id=second["callID"], invitees=["carol"], timeout=5))
    invitation_pushes(second["callID"], delivered=1, in_flight=0)  # the other never left: dropped
    CallUser.objects.filter(call__call_id=second["callID"], user=c).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    out.append(deadlines.invitations_expire_due())  # the batch closes the re-invitation's pushes only
    third = actions.call_invite(user=b, invitees=["carol"], timeout=0)
    out.append(third)
    out.append(actions.call_cancel(user=b, call_id=third["callID"], invitees=["carol"]))  # none left: dropped
    return out


def away(u: dict) -> list:
    """The batch path: members whose call device stayed away quit (offline), then the call ends."""
    a, b, c = u["alice"], u["bob"], u["carol"]
    out = []
    first = actions.call_invite(user=a, invitees=["bob", "carol"], mode=CallMode.ADVANCED, device_id="a1")
    out.append(first)
    out.append(actions.call_accept(user=b, call_id=first["callID"], device_id="b1"))
    out.append(actions.call_accept(user=c, call_id=first["callID"], device_id="c1"))
    past = timezone.now() - timedelta(hours=1)
    DeviceAway.objects.bulk_create(
        [DeviceAway(user=b, device_id="b1", since=past), DeviceAway(user=c, device_id="c1", since=past)]
    )
    out.append(deadlines.members_away_quit())
    DeviceAway.objects.update_or_create(user=a, device_id="a1", defaults={"since": past})
    out.append(deadlines.members_away_quit())
    assert out[-2:] == [2, 1]
    DeviceAway.objects.all().delete()
    return out


SCENARIOS = [general, advanced, glare, group, expiry, closing_pushes, away]


@pytest.fixture(params=[True, False], ids=["with-targets", "no-targets"])
def targets(request) -> bool:
    """With push subscriptions and webhook endpoints, or none (the common case)."""
    return request.param


@pytest.fixture
def users(alice, bob, carol, dave, settings, targets):
    settings.RATE_LIMIT_INVITES_PER_MINUTE = 1000
    settings.RATE_LIMIT_INVITEES_PER_MINUTE = 1000
    settings.CALL_PUSH_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.CALL_PUSH_ALLOW_HTTP = True
    online(bob)
    online(dave)
    if targets:
        for device in ("phone", "laptop"):  # two subscriptions: one push each
            endpoint = f"http://127.0.0.1:9/push/carol-{device}"
            key = Subscriber(endpoint).subscription()["keys"]
            push.push_subscription_save(
                user=carol, endpoint=endpoint, p256dh=key["p256dh"], auth=key["auth"], device_id=device
            )
        webhooks.webhook_endpoint_create(url="http://127.0.0.1:9/hooks")  # every type
        webhooks.webhook_endpoint_create(
            url="http://127.0.0.1:9/changes", event_types=["call.user_state_changed", "call.ended"]
        )
        off, _ = webhooks.webhook_endpoint_create(url="http://127.0.0.1:9/off", event_types=["call.created"])
        webhooks.webhook_endpoint_update(
            endpoint=off, url=off.url, event_types=["call.created"], description="", enabled=False
        )
    team = Group.objects.create(group_id="team", name="Team")
    team.members.set([alice, bob, carol])
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.__name__)
def test_scenario_gives_the_recorded_results(scenario, users, targets, capture_frames):
    result = recorded(scenario, users, targets, capture_frames)
    assert result["records"] and result["log"]
    assert bool(result["webhooks"]) == targets and bool(result["jobs"]) == targets
    if scenario is general or scenario is closing_pushes:
        assert bool(result["push"]) == targets


@pytest.mark.parametrize("targets", [True], ids=["with-targets"])
def test_closing_pushes_details(users, targets, capture_frames):
    """The closing-push results above, spelled out: which rows it leaves."""
    result = recorded(closing_pushes, users, targets, capture_frames)
    rows = [(p["kind"], p["status"], p["subscription_id"]) for p in result["push"]]
    inv, closed = PushMessage.INVITATION, PushMessage.CLOSED
    phone, laptop = sorted({p["subscription_id"] for p in result["push"]})
    assert rows == [
        (inv, "delivered", phone),
        (inv, "pending", laptop),  # first call: one delivered, one in flight
        (closed, "pending", phone),
        (closed, "pending", laptop),  # closed by the reject
        (inv, "delivered", phone),
        (inv, "delivered", laptop),  # second call
        (closed, "pending", phone),
        (closed, "pending", laptop),
        (inv, "delivered", phone),
        (inv, "dropped", laptop),  # the re-invitation; closed by the batch:
        (closed, "pending", phone),  # only the one that left
        (inv, "dropped", phone),
        (inv, "dropped", laptop),  # third call, cancelled before any left
    ]
    every, changes, _disabled = "E0", "E1", "E2"  # in order of creation
    by_type: dict[str, set] = {}
    for w in result["webhooks"]:
        by_type.setdefault(w["event_type"], set()).add(w["endpoint_id"])
    assert by_type == {
        "call.created": {every},
        "call.user_state_changed": {every, changes},
        "call.ended": {every, changes},
    }  # the disabled endpoint gets nothing


@pytest.mark.parametrize("targets", [True, False], ids=["with-targets", "no-targets"])
def test_invite_and_accept_take_one_read_and_one_write(users, targets):
    """The outbox rows ride in the writes' round trip: callInvite and callAccept are a read and
    a write (and BEGIN and COMMIT), with or without endpoints and subscriptions."""

    def statements(fn: Callable[[], Any]) -> tuple[Any, list[str]]:
        with CaptureQueriesContext(connection) as queries:
            answer = fn()
        return answer, [q["sql"] for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]

    call, invite = statements(lambda: actions.call_invite(user=users["alice"], invitees=["bob", "carol"]))
    _, accept = statements(lambda: actions.call_accept(user=users["bob"], call_id=call["callID"]))
    _, reject = statements(lambda: actions.call_reject(user=users["carol"], call_id=call["callID"]))
    assert (len(invite), len(accept), len(reject)) == (2, 2, 2), (invite, accept, reject)
    assert PushMessage.objects.exists() == targets and WebhookMessage.objects.exists() == targets
    # webhook-ids made in SQL have message_id_new's form, and are unique
    form = re.compile(r"msg_[A-Za-z0-9_-]{24}")
    assert form.fullmatch(webhook_signing.message_id_new())
    ids = list(WebhookMessage.objects.values_list("msg_id", flat=True))
    assert all(form.fullmatch(i) for i in ids) and len(set(ids)) == len(ids), ids


@contextmanager
def round_trips() -> Iterator[list[str]]:
    """The text of each round trip made in the block (savepoints left out), placeholders in place."""
    texts: list[str] = []

    def collect(execute, sql_text, params, many, context):
        if "SAVEPOINT" not in sql_text:
            texts.append(sql_text)
        return execute(sql_text, params, many, context)

    with connection.execute_wrapper(collect):
        yield texts


@pytest.mark.parametrize("targets", [True], ids=["with-targets"])
def test_fast_path_statements_are_prepared_once(users):
    """Each fast-path statement is PREPAREd the first time its connection runs it and
    EXECUTEd by name after that, in the same round trips."""

    def invite_and_accept() -> None:
        call = actions.call_invite(user=users["alice"], invitees=["bob"])
        actions.call_accept(user=users["bob"], call_id=call["callID"])

    def on_server() -> set[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT name FROM pg_prepared_statements WHERE from_sql")
            return {r[0] for r in cursor.fetchall()}

    invite_and_accept()  # every shape seen once
    names = dict(roundtrip._prepared[connection.connection])
    before = on_server()
    with CaptureQueriesContext(connection) as queries, round_trips() as texts:
        invite_and_accept()
    statements = {s for text in texts for s in text.split("; ")}
    assert len(statements) >= 10, statements  # invite: 5 reads + 4 writes; accept: 2 + 2
    assert statements <= set(names), statements - set(names)
    assert set(names.values()) <= before
    assert roundtrip._prepared[connection.connection] == names and on_server() == before  # nothing prepared again
    # the round trips are the same: one execute per round trip, none to prepare
    assert len([q for q in queries.captured_queries if "SAVEPOINT" not in q["sql"]]) == len(texts)


@pytest.mark.parametrize("targets", [False], ids=["no-targets"])
def test_a_statement_with_many_rows_is_the_one_prepared_statement(users):
    """A statement that writes many rows (many invitees) is the same literal statement as
    for one row (one array per column): prepared once, whatever the row count, in the
    same round trips."""
    from django.contrib.auth import get_user_model

    names = [get_user_model().objects.create(username=f"many{i}").username for i in range(8)]
    # every statement seen once: an invite of two (one offline, pushed), cancelled
    first = actions.call_invite(user=users["alice"], invitees=["bob", names[0]])
    actions.call_cancel(user=users["alice"], call_id=first["callID"], invitees=["bob", names[0]])
    prepared = dict(roundtrip._prepared[connection.connection])
    with round_trips() as texts:
        call = actions.call_invite(user=users["alice"], invitees=names)
    statements = [s for text in texts for s in text.split("; ")]
    assert any(s.startswith("INSERT INTO invitations_calluser") for s in statements), statements
    assert set(statements) <= set(prepared) and roundtrip._prepared[connection.connection] == prepared
    assert CallUser.objects.filter(call__call_id=call["callID"]).count() == 9


@pytest.mark.parametrize("targets", [False], ids=["no-targets"])
def test_fast_path_without_prepared_statements(users):
    """DB_PREPARED_STATEMENTS=0 (prepare_threshold None, for a pooler in transaction mode):
    the same round trips, nothing prepared on the server."""
    connection.ensure_connection()
    raw = connection.connection
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    roundtrip._prepared.pop(raw, None)
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        call = actions.call_invite(user=users["alice"], invitees=["bob"])
        actions.call_accept(user=users["bob"], call_id=call["callID"])
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            assert cursor.fetchone()[0] == 0
    finally:
        raw.prepare_threshold = threshold
    assert raw not in roundtrip._prepared
    assert Call.objects.get(call_id=call["callID"]).state == CallState.ENDED  # both answered: a general call ends


@pytest.mark.parametrize("targets", [True], ids=["with-targets"])
def test_general_scenario_details(users, targets, capture_frames):
    """The general scenario's results above, spelled out: what it leaves."""
    result = recorded(general, users, targets, capture_frames)
    assert result["answers"][1] == "already_in_call"
    assert [m["state"] for m in result["members"][:3]] == [S.ACCEPTED, S.ACCEPTED, S.REJECTED]
    assert result["members"][1]["invitation_push_config"] == {"title": "t"}
    assert [m["deadline"] for m in result["members"][3:]] == [None, None]  # timeout 0
    assert result["answers"][7]["errorInvitees"] == [{"userID": "alice", "reason": "user_offline"}]
    assert result["push"] and all(p["member_id"] == "M2" for p in result["push"])  # carol's row, by its pk
    assert [r["changes"][0][-1] for r in result["records"]] == [True] * len(result["records"])


def test_slim_users_load_the_rest_on_demand(users):
    call = actions.call_invite(user=users["alice"], invitees=["bob"])
    orm_members = list(
        CallUser.objects.filter(call__call_id=call["callID"]).select_related("user", "inviter").order_by("pk")
    )
    with transaction.atomic():
        fast_call, fast_members = operation.lock_call_with_members(call["callID"])
    assert fast_call.__dict__.keys() >= {f.attname for f in Call._meta.concrete_fields}
    assert [(m.pk, m.user.username, m.inviter_id) for m in fast_members] == [
        (m.pk, m.user.username, m.inviter_id) for m in orm_members
    ]
    assert fast_members[1].user.email == orm_members[1].user.email  # deferred, loaded when asked
