"""Glare under real concurrency (PROTOCOL additions, "Glare"): randomized races on
PostgreSQL, one thread and one database connection per racer, released together
by a barrier.

Each race is either two crossing callInvites (alice calls bob while bob calls
alice), or those mixed with cancels, accepts and rejects of a call alice placed
before the race (bob pending in it). Whatever the interleaving:

- no racer hangs (no deadlock) and none fails other than with a CallError;
- the outcome is linearizable: some order of the racers, run one after the
  other on a small model of PROTOCOL's rules, gives exactly the answers each
  racer got (callID, merged, or the refusal reason) and the final states of
  every call;
- two crossing callInvites alone always end as exactly one call in which both
  are Accepted, one answer `merged: true`;
- never two Started calls that ring each other (alice pending in bob's while
  bob is pending in alice's).

GLARE_RACES (env) sets how many (default 200); GLARE_RACE_SEED replays one run.
"""

from __future__ import annotations

import copy
import itertools
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, connections

from invitations.calls import actions
from invitations.calls.errors import CallError
from invitations.calls.states import CallMode, CallState
from invitations.calls.states import CallUserState as S
from invitations.models import Call, CallEvent, CallUser
from tests.calls.test_state_machine import PENDING, drop_scheduled_jobs  # noqa: F401  (fixture)

RACES = int(os.environ.get("GLARE_RACES", "200"))
SEED = int(os.environ.get("GLARE_RACE_SEED", str(random.randrange(1 << 30))))

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


# --- a small sequential model of the rules these racers touch ------------------------------------


@dataclass
class MCall:
    key: str  # "before" for the call made before the race, else the creator's racer name
    caller: str
    mode: int
    started: bool = True
    members: dict[str, int] = field(default_factory=dict)

    def pending(self) -> list[str]:
        return [n for n, s in self.members.items() if s in PENDING]

    def finish(self) -> None:
        """PROTOCOL's end rules for a mode."""
        if self.started and not self.pending():
            if self.mode == CallMode.GENERAL or not any(s == S.ACCEPTED for s in self.members.values()):
                self.started = False


def m_invite(calls: list[MCall], racer: str, user: str, invitee: str, mode: int) -> tuple:
    if any(c.started and c.members.get(user) == S.ACCEPTED for c in calls):
        return ("refused", "already_in_call")
    ringing = [c for c in calls if c.started and c.caller == invitee and c.members.get(user) in PENDING]
    if ringing:  # glare: the invitee's newest call that rings the user
        call = ringing[-1]
        call.members[user] = S.ACCEPTED
        call.finish()
        return ("merged", call.key)
    calls.append(MCall(racer, user, mode, members={user: S.ACCEPTED, invitee: S.INVITING}))
    return ("new", racer)


def m_cancel(calls: list[MCall], user: str, key: str) -> tuple:
    call = next(c for c in calls if c.key == key)
    if not call.started:
        return ("refused", "call_ended")
    if call.caller != user:
        return ("refused", "not_caller")
    if any(s == S.ACCEPTED for n, s in call.members.items() if n != call.caller):
        return ("refused", "already_accepted")
    pending = call.pending()
    if not pending:
        return ("refused", "invalid_state")
    for n in pending:
        call.members[n] = S.CANCELLED
    call.finish()
    return ("ok",)


def m_answer(calls: list[MCall], user: str, key: str, state: int) -> tuple:
    call = next(c for c in calls if c.key == key)
    if not call.started:
        return ("refused", "call_ended")
    if call.members.get(user) not in PENDING:
        return ("refused", "invalid_state")
    call.members[user] = state
    call.finish()
    return ("ok",)


# --- the racers -----------------------------------------------------------------------------------


@dataclass
class Racer:
    name: str
    run: Callable[[], Any]  # the real service call
    model: Callable[[list[MCall]], tuple]  # the same on the model


def _racers(users: dict[str, Any], before: str | None, rng: random.Random) -> dict[str, Racer]:
    a, b = users["alice"], users["bob"]
    mode_a, mode_b = rng.choice(list(CallMode)), rng.choice(list(CallMode))
    timeout_a, timeout_b = rng.choice([0, 600]), rng.choice([0, 600])  # 0: no deadline
    racers = {
        "alice calls bob": Racer(
            "alice calls bob",
            lambda: actions.call_invite(user=a, device_id="a1", invitees=["bob"], mode=mode_a, timeout=timeout_a),
            lambda calls: m_invite(calls, "alice calls bob", "alice", "bob", mode_a),
        ),
        "bob calls alice": Racer(
            "bob calls alice",
            lambda: actions.call_invite(user=b, device_id="b1", invitees=["alice"], mode=mode_b, timeout=timeout_b),
            lambda calls: m_invite(calls, "bob calls alice", "bob", "alice", mode_b),
        ),
    }
    if before is not None:
        racers.update(
            {
                "alice cancels": Racer(
                    "alice cancels",
                    lambda: actions.call_cancel(user=a, call_id=before, device_id="a1"),
                    lambda calls: m_cancel(calls, "alice", "before"),
                ),
                "bob accepts": Racer(
                    "bob accepts",
                    lambda: actions.call_accept(user=b, call_id=before, device_id="b2"),
                    lambda calls: m_answer(calls, "bob", "before", S.ACCEPTED),
                ),
                "bob rejects": Racer(
                    "bob rejects",
                    lambda: actions.call_reject(user=b, call_id=before, device_id="b2"),
                    lambda calls: m_answer(calls, "bob", "before", S.REJECTED),
                ),
            }
        )
    return racers


def _race(racers: list[Racer]) -> dict[str, tuple]:
    """Run the racers at once, each on its own thread and database connection."""
    barrier = threading.Barrier(len(racers))
    outcomes: dict[str, tuple] = {}

    def runner(racer: Racer) -> None:
        try:
            connection.ensure_connection()  # connect before the barrier, so they really start together
            barrier.wait(10)
            outcomes[racer.name] = ("ok", racer.run())
        except CallError as exc:
            outcomes[racer.name] = ("refused", exc.reason)
        except BaseException as exc:  # noqa: BLE001  (anything else fails the test)
            outcomes[racer.name] = ("crash", repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=runner, args=(r,)) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a racer hung (deadlock?)"
    return outcomes


# --- what the database says -----------------------------------------------------------------------


def _observed(
    outcomes: dict[str, tuple], before: str | None, made_before: set[str], users: dict[str, Any]
) -> tuple[dict[str, tuple], dict[str, tuple]]:
    """(each racer's answer, each call's final (caller, started, members)) with callIDs named by key."""
    crashes = {k: v for k, v in outcomes.items() if v[0] == "crash"}
    assert not crashes, crashes
    key_of = {before: "before"} if before else {}
    answers: dict[str, tuple] = {}
    for name, (kind, value) in outcomes.items():
        if kind == "refused":
            answers[name] = ("refused", value)
        elif "calls" in name:
            assert value["errorInvitees"] == []
            if value.get("merged"):
                answers[name] = ("merged", value["callID"])
            else:
                assert "merged" not in value or value["merged"] is False
                key_of[value["callID"]] = name
                answers[name] = ("new", name)
        else:
            answers[name] = ("ok",)
    names = {u.pk: n for n, u in users.items()}
    calls: dict[str, tuple] = {}
    for call in Call.objects.exclude(call_id__in=made_before - ({before} if before else set())):
        assert call.call_id in key_of, f"a call no answer names: {call.call_id} (two calls made?)"
        members = {names[m.user_id]: m.state for m in CallUser.objects.filter(call=call)}
        calls[key_of[call.call_id]] = (names[call.caller_id], call.state == CallState.STARTED, members)
    answers = {k: (v[0], key_of.get(v[1], v[1])) if v[0] == "merged" else v for k, v in answers.items()}
    return answers, calls


def _linearizable(
    start: list[MCall], racers: list[Racer], answers: dict[str, tuple], calls: dict[str, tuple]
) -> list[str] | None:
    """An order of the racers that, run one by one on the model, gives what was observed."""
    for order in itertools.permutations(racers):
        model = copy.deepcopy(start)
        got = {r.name: r.model(model) for r in order}
        final = {c.key: (c.caller, c.started, dict(c.members)) for c in model}
        if got == answers and final == calls:
            return [r.name for r in order]
    return None


def _check_log(call: Call, users: dict[str, Any]) -> None:
    """The call's log has no seq gap and replays to its final member states."""
    names = {u.pk: n for n, u in users.items()}
    rows = list(CallEvent.objects.filter(call=call).order_by("seq", "pk"))
    assert sorted({r.seq for r in rows}) == list(range(1, call.seq + 1))
    replay: dict[str, int] = {}
    for r in rows:
        if r.kind == "state":
            assert r.from_state == replay.get(names[r.user_id], S.UNKNOWN)
            replay[names[r.user_id]] = r.to_state
    assert replay == {names[m.user_id]: m.state for m in CallUser.objects.filter(call=call)}


def _no_crossing_calls(users: dict[str, Any]) -> None:
    a, b = users["alice"], users["bob"]
    rings_bob = CallUser.objects.filter(call__caller=a, call__state=CallState.STARTED, user=b, state__in=PENDING)
    rings_alice = CallUser.objects.filter(call__caller=b, call__state=CallState.STARTED, user=a, state__in=PENDING)
    assert not (rings_bob.exists() and rings_alice.exists()), "two Started calls ring each other"


def test_crossing_invites_end_as_one_call(make_user, drop_scheduled_jobs, capsys):  # noqa: F811
    users = {n: make_user(n) for n in ("alice", "bob")}
    operator = make_user("oper", is_staff=True)
    rng = random.Random(SEED)
    tally: Counter = Counter()
    started = time.monotonic()
    try:
        for i in range(RACES):
            # Half the races are the bare crossing; the rest start from a call alice
            # placed before (bob pending in it) and mix in a cancel, an accept, a reject.
            before = None
            start: list[MCall] = []
            if rng.random() < 0.5:
                mode = rng.choice(list(CallMode))
                before = actions.call_invite(
                    user=users["alice"], invitees=["bob"], mode=mode, timeout=rng.choice([0, 600])
                )["callID"]
                start = [MCall("before", "alice", mode, members={"alice": S.ACCEPTED, "bob": S.INVITING})]
            made_before = set(Call.objects.values_list("call_id", flat=True))
            everything = _racers(users, before, rng)
            if before is None:
                chosen = list(everything.values())
            else:
                extra = rng.sample(["alice cancels", "bob accepts", "bob rejects"], rng.randint(1, 3))
                crossing = rng.sample(["alice calls bob", "bob calls alice"], rng.randint(1, 2))
                chosen = [everything[k] for k in crossing + extra]
            outcomes = _race(chosen)
            try:
                answers, calls = _observed(outcomes, before, made_before, users)
                order = _linearizable(start, chosen, answers, calls)
                assert order is not None, f"no order of the racers explains {answers} / {calls}"
                if before is None:
                    assert len(calls) == 1, calls
                    ((caller, _, members),) = calls.values()
                    assert members == {"alice": S.ACCEPTED, "bob": S.ACCEPTED}
                    assert sorted(a[0] for a in answers.values()) == ["merged", "new"]
                for call in Call.objects.exclude(call_id__in=made_before - ({before} if before else set())):
                    _check_log(call, users)
                _no_crossing_calls(users)
            except AssertionError as exc:
                raise AssertionError(f"race {i} (seed {SEED}): {outcomes}") from exc
            tally["bare crossing" if before is None else "with a call before"] += 1
            tally.update(
                f"{k}: {v[0] if v[0] != 'ok' or 'calls' not in k else ('merged' if v[1].get('merged') else 'new')}"
                for k, v in outcomes.items()
            )
            # the next race starts with nobody in a call
            for call_id in Call.objects.filter(state=CallState.STARTED).values_list("call_id", flat=True):
                actions.call_end_by_operator(operator=operator, call_id=call_id)
    finally:
        with capsys.disabled():
            print(
                f"\nglare races: {RACES} (seed {SEED}) in {time.monotonic() - started:.1f}s; "
                + ", ".join(f"{k}={v}" for k, v in sorted(tally.items()))
            )
