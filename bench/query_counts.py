"""Queries and time per operation, in-process on a bench database (no server):
where a cycle's cost goes before any network hop.

    .venv/bin/python bench/query_counts.py
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import Site, write_results  # noqa: E402

CODE = r"""
import json, time, statistics
from datetime import timedelta
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.contrib.auth import get_user_model
from invitations.calls import actions
from invitations.calls import deadlines
from invitations.calls import selectors
from invitations.models import CallUser
User = get_user_model()
a, b = User.objects.get(username="qc0"), User.objects.get(username="qc1")
out = {}
def statements(q):  # a multi-statement execute (the PostgreSQL fast path) is one round trip, several statements
    return sum(len([s for s in x["sql"].split("; ") if s.strip()]) for x in q.captured_queries)
def measure(name, fn, n=50):
    times, counts = [], []
    for _ in range(n):
        with CaptureQueriesContext(connection) as q:
            t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
        counts.append(len(q.captured_queries))
    out[name] = {"queries": max(counts), "ms_p50": round(statistics.median(times) * 1000, 2)}
state = {}
def invite():
    state["id"] = actions.call_invite(user=a, invitees=["qc1"])["callID"]
def accept():
    actions.call_accept(user=b, call_id=state["id"])
def cycle():
    invite(); accept()
for _ in range(20): cycle()
measure("call_invite", lambda: (invite(), accept())[0], 1)
ids = []
def inv_only():
    invite(); ids.append(state["id"])
# invite then accept, measured separately
ti, ta, qi, qa, si, sa = [], [], [], [], [], []
for _ in range(50):
    with CaptureQueriesContext(connection) as q:
        t = time.perf_counter(); invite(); ti.append(time.perf_counter() - t)
    qi.append(len(q.captured_queries)); si.append(statements(q))
    with CaptureQueriesContext(connection) as q:
        t = time.perf_counter(); accept(); ta.append(time.perf_counter() - t)
    qa.append(len(q.captured_queries)); sa.append(statements(q))
out["call_invite"] = {"queries": max(qi), "statements": max(si), "ms_p50": round(statistics.median(ti) * 1000, 2)}
out["call_accept"] = {"queries": max(qa), "statements": max(sa), "ms_p50": round(statistics.median(ta) * 1000, 2)}
# expiry of one call with one overdue invitee
te, qe, se = [], [], []
for _ in range(30):
    invite()
    CallUser.objects.filter(call__call_id=state["id"], user=b).update(deadline=timezone.now() - timedelta(seconds=1))
    with CaptureQueriesContext(connection) as q:
        t = time.perf_counter(); n = deadlines.invitations_expire_due(); te.append(time.perf_counter() - t)
    assert n == 1, n
    qe.append(len(q.captured_queries)); se.append(statements(q))
out["expire_one_call"] = {"queries": max(qe), "statements": max(se), "ms_p50": round(statistics.median(te) * 1000, 2)}
# a bare commit, for scale
tc = []
from django.db import transaction
for _ in range(50):
    t = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as c: c.execute("CREATE TEMP TABLE IF NOT EXISTS x (a int); INSERT INTO x VALUES (1)")
    tc.append(time.perf_counter() - t)
out["bare_insert_commit"] = {"queries": 1, "ms_p50": round(statistics.median(tc) * 1000, 2)}
print(json.dumps(out))
"""


def main() -> None:
    s = Site("querycount")
    try:
        s.users("qc", 2)
        import json

        figures = json.loads(s.django(CODE).strip().splitlines()[-1])
    finally:
        s.stop()
    write_results(
        "query_counts",
        figures,
        notes="In-process service calls on PostgreSQL (events published to "
        "Redis on commit; no listener). queries = executes (round trips to PostgreSQL, BEGIN and COMMIT not counted) per operation, statements = SQL statements in them, max over the runs.",
    )


if __name__ == "__main__":
    main()
