"""CPU per HTTP request in one Daphne: the invitation list (`GET /api/calls`, 20
calls a page), the invite over HTTP (`POST /api/calls`, then its cancel) and the
same invite and cancel as WebSocket commands, sequential, keep-alive. CPU time
(of the Daphne process and of the PostgreSQL backends) is what a busy machine
cannot blur; wall-clock p50s are printed beside it with the load average.

    BENCH_SCALE=small .venv/bin/python bench/http_cpu.py
    BENCH_OPS=list BENCH_PYSPY=1 BENCH_SCALE=small .venv/bin/python bench/http_cpu.py  # + profiles/http_cpu-web.txt
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    HTTP,
    SMALL,
    WS,
    cpu_seconds,
    load_average,
    pg_backends,
    site,
    summary_ms,
    write_results,
)

N = 300 if SMALL else 1000
# BENCH_OPS=list,http_invite_cancel: only these (e.g. with BENCH_PYSPY=1 for one profile each)
OPS = os.environ.get("BENCH_OPS", "list,http_invite_cancel,ws_invite_cancel").split(",")


async def measure(daphne_pid: int, db: str, label: str, op, n: int) -> dict:
    for _ in range(20):  # warm-up: imports, pool, plans
        await op()
    backends = pg_backends(db)
    cpu0, pg0 = cpu_seconds(daphne_pid), sum(cpu_seconds(p) for p in backends)
    walls = []
    for _ in range(n):
        t = time.perf_counter()
        await op()
        walls.append(time.perf_counter() - t)
    cpu1, pg1 = cpu_seconds(daphne_pid), sum(cpu_seconds(p) for p in pg_backends(db) if p in backends)
    return {
        "op": label,
        **summary_ms(walls),
        "daphne_cpu_ms_per_op": round((cpu1 - cpu0) / n * 1000, 2),
        "postgres_cpu_ms_per_op": round((pg1 - pg0) / n * 1000, 2),
    }


async def run(base: str, pid: int, db: str, users: list) -> dict:
    (alice, token_a), (bob, token_b) = users
    http = HTTP(base, token_a)
    for _ in range(25):  # 20 calls a page, with two members each
        status, body = await http.request("POST", "/api/calls", {"invitees": [bob]})
        assert status == 200, body
        status, _ = await http.request("POST", f"/api/calls/{body['callID']}/cancel", {})
        assert status == 200

    async def list_page():
        status, body = await http.request("GET", "/api/calls?count=20")
        assert status == 200 and len(body["callList"]) == 20, (status, body)

    async def http_invite_cancel():
        status, body = await http.request("POST", "/api/calls", {"invitees": [bob]})
        assert status == 200, body
        status, _ = await http.request("POST", f"/api/calls/{body['callID']}/cancel", {})
        assert status == 200

    ws = await WS.connect(base, token_a)

    async def ws_invite_cancel():
        _, result = await ws.cmd("callInvite", {"invitees": [bob]})
        assert result["ok"], result
        _, result = await ws.cmd("callCancel", {"callID": result["data"]["callID"]})
        assert result["ok"], result

    figures = {"loadavg_before": load_average()}
    for label, op in (
        ("list", list_page),
        ("http_invite_cancel", http_invite_cancel),
        ("ws_invite_cancel", ws_invite_cancel),
    ):
        if label in OPS:
            figures[label] = await measure(pid, db, label, op, N)
    await ws.close()
    await http.close()
    return figures


def main() -> None:
    with site("http_cpu") as s:
        users = s.users("hc", 2)
        proc, base = s.daphne("web")
        figures = asyncio.run(run(base, proc.pid, s.db, users))
    write_results(
        "http_cpu",
        figures,
        notes=f"{N} sequential operations each after 20 warm-up, one Daphne, "
        "keep-alive; CPU from /proc (Daphne) and pg_stat_activity's backends.",
    )


if __name__ == "__main__":
    main()
