"""Benchmark 3: idle authenticated WebSockets held by one Daphne process (aim
10,000), memory per connection from the process's RSS, and benchmark 1's
latency measured while they are held (caller on the loaded Daphne, callee on
a second one).

    .venv/bin/python bench/connections.py
    BENCH_SCALE=small .venv/bin/python bench/connections.py   # 1,000 sockets
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    SMALL,
    cpu_seconds,
    latency_series,
    pg_backends,
    raise_nofile,
    rss_kb,
    site,
    write_results,
)

SOCKETS = int(os.environ.get("BENCH_SOCKETS", 1000 if SMALL else 10000))
USERS = SOCKETS // 10  # ten devices per user
LAT_CALLS = 200 if SMALL else 1000
CONNECT_CONCURRENCY = 50


async def hold(base1: str, base2: str, pid: int, idle: list, pair: list, db: str) -> dict:
    import websockets

    rss_before = rss_kb(pid)
    # CPU per connect: steadier than the rate on a shared machine
    backends = await asyncio.to_thread(pg_backends, db)
    cpu_before, pg_before = cpu_seconds(pid), sum(cpu_seconds(b) for b in backends)
    held: list = []
    failures = 0
    todo = [(tok, f"d{i % 10}") for i in range(SOCKETS) for tok in [idle[i // 10][1]]]
    started = time.perf_counter()
    # RSS once a tenth is open: the growth after it is per socket only (the
    # first connects also pay for once-per-process things: a database
    # connection per pool thread, lazily imported code)
    tenth: dict = {}

    async def opener() -> None:
        nonlocal failures
        while todo:
            token, device = todo.pop()
            try:
                ws = await websockets.connect(
                    base1.replace("http", "ws", 1) + f"/ws/calls/?deviceID={device}",
                    additional_headers={"Authorization": f"Bearer {token}"},
                    open_timeout=120,
                    ping_interval=None,
                    max_queue=4,
                )
                await asyncio.wait_for(ws.recv(), 120)  # hello
                held.append(ws)
                if len(held) == SOCKETS // 10 and not tenth:
                    tenth.update(rss=rss_kb(pid), n=len(held))
            except Exception:
                failures += 1

    await asyncio.gather(*(opener() for _ in range(CONNECT_CONCURRENCY)))
    connect_s = time.perf_counter() - started
    daphne_cpu = cpu_seconds(pid) - cpu_before
    backends = set(backends) | set(await asyncio.to_thread(pg_backends, db))
    pg_cpu = sum(cpu_seconds(b) for b in backends) - pg_before  # backends opened meanwhile counted whole
    await asyncio.sleep(5)  # settle: allocations done, GC
    rss_after = rss_kb(pid)
    open_now = sum(1 for ws in held if ws.state.name == "OPEN")
    latency = await latency_series(base1, base2, pair[0], pair[1], LAT_CALLS)
    still_open = sum(1 for ws in held if ws.state.name == "OPEN")
    rss_end = rss_kb(pid)
    for ws in held:
        ws.transport.abort()
    return {
        "sockets_attempted": SOCKETS,
        "sockets_open": open_now,
        "still_open_after_latency_run": still_open,
        "connect_failures": failures,
        "connect_s": round(connect_s, 1),
        "connects_per_s": round(len(held) / connect_s, 1),
        "daphne_cpu_ms_per_connect": round(1000 * daphne_cpu / max(1, len(held)), 3),
        "postgres_cpu_ms_per_connect": round(1000 * pg_cpu / max(1, len(held)), 3),
        "daphne_rss_mb_before": round(rss_before / 1024, 1),
        "daphne_rss_mb_held": round(rss_after / 1024, 1),
        "kb_per_connection": round((rss_after - rss_before) / max(1, open_now), 1),
        "kb_per_connection_after_first_tenth": round(
            (rss_after - tenth.get("rss", rss_before)) / max(1, open_now - tenth.get("n", 0)), 1
        ),
        "daphne_rss_mb_end": round(rss_end / 1024, 1),
        "latency_while_held": latency,
    }


def main() -> None:
    limit = raise_nofile()
    assert limit > SOCKETS + 1000, f"ulimit -n hard limit {limit} is too low"
    with site("connections") as s:
        idle = s.users("idle", USERS)
        pair = s.users("lat", 2)
        s.worker()
        web1, base1 = s.daphne("web1")
        _, base2 = s.daphne("web2")
        figures = asyncio.run(hold(base1, base2, web1.pid, idle, pair, s.db))
    write_results(
        "connections",
        figures,
        notes=f"{SOCKETS} token-authenticated sockets ({USERS} users x 10 "
        f"devices) opened {CONNECT_CONCURRENCY} at a time on Daphne 1 and held idle; then {LAT_CALLS} "
        "calls each way as in benchmark 1 (caller on Daphne 1, callee on Daphne 2).",
    )


if __name__ == "__main__":
    main()
