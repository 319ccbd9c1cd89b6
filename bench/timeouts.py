"""Benchmark 4: timeout accuracy. 5,000 invitations (556 calls of 9 invitees, over
HTTP on Daphne 1) whose deadlines all fall in the same second; 500 invitees hold
WebSockets on Daphne 2. Lateness of each callInvitationTimeout event = arrival
at the invitee - the invitation's deadline (the `deadline` field of
callInvitationReceived). One rqworker (jobs + its sweep thread).

    .venv/bin/python bench/timeouts.py
    BENCH_SCALE=small .venv/bin/python bench/timeouts.py   # 1,000 invitations
"""

import asyncio
import json
import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    HTTP,
    SMALL,
    cpu_seconds,
    pg_backends,
    raise_nofile,
    site,
    summary_ms,
    write_results,
)

INVITATIONS = 1000 if SMALL else 5000
PER_CALL = 9
CALLEES = 100 if SMALL else 500
CALLS = math.ceil(INVITATIONS / PER_CALL)
CONCURRENCY = 8


async def listen(base: str, token: str, received: dict, timed_out: dict) -> object:
    import websockets

    ws = await websockets.connect(
        base.replace("http", "ws", 1) + "/ws/calls/",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=60,
    )

    async def read() -> None:
        async for raw in ws:
            now = time.time()
            frame = json.loads(raw)
            if frame.get("type") != "event":
                continue
            data = frame["data"]
            if frame["event"] == "callInvitationReceived":
                received[(token, data["callID"])] = data["deadline"] / 1000
            elif frame["event"] == "callInvitationTimeout":
                timed_out[(token, data["callID"])] = now

    asyncio.get_running_loop().create_task(read())
    return ws


def cpu_of(pids: dict[str, int], db: str) -> dict[str, float]:
    """CPU seconds so far of the site's processes and of the database's backends together."""
    out = {name: cpu_seconds(pid) for name, pid in pids.items()}
    out["postgres"] = sum(cpu_seconds(pid) for pid in pg_backends(db))
    return out


async def load(base1: str, base2: str, callers: list, callees: list, pids: dict[str, int], db: str) -> dict:
    received: dict = {}
    timed_out: dict = {}
    sockets = [await listen(base2, t, received, timed_out) for _, t in callees]
    names = [n for n, _ in callees]
    # Plan: the deadline second is far enough ahead to create everything first.
    probe = HTTP(base1, callers[0][1])
    t = time.time()
    status, body = await probe.request(
        "POST", "/api/calls", {"invitees": random.sample(names, PER_CALL), "timeout": 600}
    )
    assert status == 200, body
    per_call = time.time() - t
    # A Daphne runs its database work on one thread, so concurrency buys little: budget serially.
    budget = per_call * CALLS * 1.5 + 20
    target = math.ceil(time.time() + budget)
    queue = list(range(1, CALLS))
    remaining = INVITATIONS - PER_CALL
    errors = 0
    error_kinds: dict = {}

    async def creator() -> None:
        nonlocal remaining, errors
        while queue:
            i = queue.pop()
            k = min(PER_CALL, remaining)
            remaining -= k
            http = HTTP(base1, callers[i][1])
            timeout = math.ceil(target - time.time())  # deadline = now + timeout lands in [target, target+1)
            status, body = await http.request(
                "POST", "/api/calls", {"invitees": random.sample(names, k), "timeout": timeout}
            )
            if status != 200:
                errors += 1
                kind = f"{status} {(body or {}).get('error', {}).get('reason')}"
                error_kinds[kind] = error_kinds.get(kind, 0) + 1
            await http.close()

    created_at = time.time()
    await asyncio.gather(*(creator() for _ in range(CONCURRENCY)))
    creation = time.time() - created_at
    assert time.time() < target, f"creation overran the target second ({creation:.1f} s)"
    # All but the probe (600 s); a few land just past the second (server clock read after the client's).
    expected = {k: d for k, d in received.items() if d < target + 5}
    span = (min(expected.values()), max(expected.values()))
    await asyncio.sleep(max(0, span[0] - 0.2 - time.time()))
    cpu_before = cpu_of(pids, db)  # the burst: from just before the first deadline to the last event
    await asyncio.sleep(max(0, span[1] - time.time()))
    end = time.time() + 60
    while time.time() < end and any(k not in timed_out for k in expected):
        await asyncio.sleep(0.05)
    cpu_after = cpu_of(pids, db)
    late = [timed_out[k] - d for k, d in expected.items() if k in timed_out]
    for ws in sockets:
        await ws.close()
    return {
        "invitations": len(expected),
        "calls": CALLS,
        "deadline_span_ms": round((span[1] - span[0]) * 1000),
        "creation_s": round(creation, 1),
        "create_errors": errors,
        "create_error_kinds": str(error_kinds or "none"),
        "timeout_events": len(late),
        "missing_events": len(expected) - len(late),
        "early_events": sum(1 for x in late if x < 0),
        "lateness": summary_ms(late),
        "burst_cpu_s": {k: round(cpu_after[k] - cpu_before.get(k, 0.0), 2) for k in cpu_after},
    }


EXPIRED_LATENESS = """
import json
from invitations.models import CallEvent, CallUser
from invitations.calls.states import CallUserState as S
deadline = dict(CallUser.objects.filter(state=S.TIMEOUT).values_list("id", "deadline"))
rows = CallEvent.objects.filter(to_state=S.TIMEOUT).values_list("call_id", "user_id", "created_at")
members = dict(((c, u), i) for i, c, u in CallUser.objects.filter(state=S.TIMEOUT).values_list("id", "call_id", "user_id"))
print(json.dumps([(at - deadline[members[(c, u)]]).total_seconds() for c, u, at in rows]))
"""


def main() -> None:
    raise_nofile()
    with site("timeouts") as s:
        callers = s.users("toa", CALLS)
        callees = s.users("tob", CALLEES)
        worker = s.worker()
        web1, base1 = s.daphne("web1")
        web2, base2 = s.daphne("web2")
        pids = {"worker": worker.pid, "daphne_callers": web1.pid, "daphne_callees": web2.pid}
        figures = asyncio.run(load(base1, base2, callers, callees, pids, s.db))
        # The log's time of each timeout (its batch's `now`, taken under the locks) - its deadline: expiry alone, no delivery.
        expired = json.loads(s.django(EXPIRED_LATENESS))
        figures["locked_lateness"] = summary_ms(expired)
        figures["locked_early"] = sum(1 for x in expired if x < 0)
    write_results(
        "timeouts",
        figures,
        notes=f"{INVITATIONS} invitations ({PER_CALL} per call), deadlines in one "
        f"second; {CALLEES} invitees connected to Daphne 2; lateness = event arrival - deadline.",
    )


if __name__ == "__main__":
    main()
