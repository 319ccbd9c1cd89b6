"""Benchmark 5: the invitation list at depth. One user is a member of 1,000,000
ended calls (generated with generate_series straight into the bench database:
benchmark data, not application writes). Times the first page and a page
500,000 calls deep through the HTTP API (Daphne), and in-process, and prints
the EXPLAIN ANALYZE plan of every SQL statement the list request runs.

    .venv/bin/python bench/list_depth.py
    BENCH_SCALE=small .venv/bin/python bench/list_depth.py   # 100,000 calls
"""

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    HTTP,
    RESULTS,
    SMALL,
    load_average,
    psql,
    site,
    summary_ms,
    write_results,
)

CALLS = 100_000 if SMALL else 1_000_000
DEEP = CALLS // 2
REPEAT = 50

GENERATE = """
INSERT INTO invitations_call (id, call_id, caller_id, mode, state, extended_data, created_at, ended_at, seq,
                              watch_caller_presence)
SELECT g, 'bench' || g, {u}, 0, 2, '', now() - (({n} - g) || ' seconds')::interval,
       now() - (({n} - g) || ' seconds')::interval + interval '5 seconds', 3, false
FROM generate_series(1, {n}) g;
INSERT INTO invitations_calluser (call_id, user_id, state, reason, extended_data, device_id, not_received_check,
                                  accepted_at, responded_at, invited_at)
SELECT g, {u}, 1, '', '', '', false, c.created_at, c.created_at, NULL FROM generate_series(1, {n}) g
JOIN invitations_call c ON c.id = g;
INSERT INTO invitations_calluser (call_id, user_id, state, reason, extended_data, device_id, not_received_check,
                                  inviter_id, invited_at, deadline, responded_at)
SELECT g, {v}, 2, 'declined', '', '', false, {u}, c.created_at, c.created_at + interval '90 seconds',
       c.created_at + interval '2 seconds' FROM generate_series(1, {n}) g JOIN invitations_call c ON c.id = g;
SELECT setval(pg_get_serial_sequence('invitations_call', 'id'), {n});
ANALYZE;
"""

DEFAULTS = {
    "text": "''",
    "character varying": "''",
    "boolean": "false",
    "smallint": "0",
    "integer": "0",
    "bigint": "0",
    "jsonb": "'{}'",
    "timestamp with time zone": "now()",
}


def fill_required_columns(sql: str, db: str) -> str:
    """Columns added to the models later (NOT NULL, no database default) get a neutral
    value, so the generator keeps working as the schema grows."""
    for table in ("invitations_call", "invitations_calluser"):
        rows = psql(
            db,
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = "
            f"'{table}' AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
        ).splitlines()
        head = f"INSERT INTO {table} ("
        parts = sql.split(head)
        for i in range(1, len(parts)):
            cols_text, rest = parts[i].split(")", 1)
            cols = [c.strip() for c in cols_text.split(",")]
            missing = [(name, kind) for name, kind in (r.split("|") for r in rows) if name not in cols]
            if not missing:
                continue
            cols_text += ", " + ", ".join(n for n, _ in missing)
            # the SELECT list ends right before its FROM
            select, from_ = (
                rest.split("\nFROM generate_series", 1)
                if "\nFROM generate_series" in rest
                else rest.split(" FROM generate_series", 1)
            )
            select += ", " + ", ".join(DEFAULTS[k] for _, k in missing)
            sep = "\nFROM generate_series" if "\nFROM generate_series" in rest else " FROM generate_series"
            parts[i] = cols_text + ")" + select + sep + from_
        sql = head.join(parts)
    return sql


EXPLAIN = r"""
import json
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from invitations.web import commands
user = get_user_model().objects.get(username="deep0")
plans = {}
for label, flag in (("first_page", 0), ("deep_page", %(deep)d)):
    with CaptureQueriesContext(connection) as q:
        commands.query_call_invitation_list(user=user, device_id="", count=20, next_flag=flag)
    out = []
    with connection.cursor() as c:
        for query in q.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            out.append({"sql": sql, "plan": "\n".join(r[0] for r in c.fetchall())})
    plans[label] = out
print(json.dumps(plans))
"""


async def timed(base: str, token: str, flag: int) -> list[float]:
    http = HTTP(base, token)
    times = []
    for i in range(REPEAT + 5):
        t = time.perf_counter()
        status, body = await http.request("GET", f"/api/calls?count=20&nextFlag={flag}")
        elapsed = time.perf_counter() - t
        assert status == 200 and len(body["callList"]) == 20, (status, body)
        if i >= 5:
            times.append(elapsed)
    await http.close()
    return times, body


def main() -> None:
    with site("list_depth") as s:
        (u, token), (v, _) = s.users("deep", 2)
        ids = psql(s.db, f"SELECT id FROM auth_user WHERE username IN ('{u}', '{v}') ORDER BY username").split()
        t = time.perf_counter()
        psql(s.db, fill_required_columns(GENERATE.format(u=ids[0], v=ids[1], n=CALLS), s.db))
        setup_s = time.perf_counter() - t
        # nextFlag is opaque (cursors.py): the flag that continues after call DEEP + 1, and the one
        # the page 20 calls further on must answer
        flags = s.django(
            "from invitations.calls import cursors\n"
            f"print(cursors.next_flag_for({DEEP + 1}), cursors.next_flag_for({DEEP + 1 - 20}))"
        )
        deep_flag, after_deep = (int(x) for x in flags.split())
        _, base = s.daphne("web")
        load_before = load_average()
        first, body_first = asyncio.run(timed(base, token, 0))
        deep, body_deep = asyncio.run(timed(base, token, deep_flag))
        assert body_deep["nextFlag"] == after_deep, body_deep["nextFlag"]
        assert body_deep["callList"][0]["callID"] == f"bench{DEEP}", body_deep["callList"][0]["callID"]
        plans = json.loads(s.django(EXPLAIN % {"deep": deep_flag}).strip().splitlines()[-1])
    plan_md = ["# list_depth: query plans", ""]
    for label, queries in plans.items():
        plan_md.append(f"## {label}")
        for q in queries:
            plan_md += ["", "```sql", q["sql"], "```", "", "```", q["plan"], "```"]
    suffix = "-small" if SMALL else ""
    (RESULTS / f"list_depth_plans{suffix}.md").write_text("\n".join(plan_md) + "\n")
    exec_ms = {
        label: [
            round(float(line.split("Execution Time:")[1].split()[0]), 3)
            for q in queries
            for line in q["plan"].splitlines()
            if "Execution Time:" in line
        ]
        for label, queries in plans.items()
    }
    write_results(
        "list_depth",
        {
            "calls_of_the_user": CALLS,
            "loadavg_before_timing": load_before,
            "data_setup_s": round(setup_s, 1),
            "http_first_page": summary_ms(first),
            "http_page_500k_deep" if not SMALL else "http_page_half_deep": summary_ms(deep),
            "sql_execution_ms_first_page": str(exec_ms["first_page"]),
            "sql_execution_ms_deep_page": str(exec_ms["deep_page"]),
        },
        notes=f"GET /api/calls?count=20 through one Daphne, {REPEAT} requests each (after 5 warm-up), keep-alive. "
        f"Plans (EXPLAIN ANALYZE of every SELECT the request runs): {RESULTS / f'list_depth_plans{suffix}.md'}",
    )


if __name__ == "__main__":
    main()
