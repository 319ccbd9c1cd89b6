"""Benchmark 2: full cycles per second (invite -> received -> accept -> caller
notified) with 50 concurrent caller/callee pairs for 60 s, callers on Daphne 1,
callees on Daphne 2, with the error count.

    .venv/bin/python bench/throughput.py
    BENCH_SCALE=small .venv/bin/python bench/throughput.py   # 10 s
"""

import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    SMALL,
    WS,
    cpu_seconds,
    cycle,
    pg_backends,
    raise_nofile,
    site,
    summary_ms,
    write_results,
)

PAIRS = 50
SECONDS = 10 if SMALL else 60


async def load(base1: str, base2: str, callers: list, callees: list, pids: dict, db: str) -> dict:
    pairs = []
    for (_cn, ct), (en, et) in zip(callers, callees):
        pairs.append((await WS.connect(base1, ct, "tp"), await WS.connect(base2, et, "tp"), en))
    await asyncio.sleep(1)  # every socket registered before the first call
    cycles = errors = 0
    invite_lat: list[float] = []
    accept_lat: list[float] = []
    error_kinds: dict[str, int] = {}
    end = time.perf_counter() + SECONDS

    async def run(a: WS, b: WS, callee: str) -> None:
        nonlocal cycles, errors
        while time.perf_counter() < end:
            try:
                i, acc = await cycle(a, b, callee, wait=15)
                cycles += 1
                invite_lat.append(i)
                accept_lat.append(acc)
            except Exception as exc:  # counted, and the pair goes on
                errors += 1
                kind = type(exc).__name__ + ": " + str(exc)[:80]
                error_kinds[kind] = error_kinds.get(kind, 0) + 1
                await asyncio.sleep(0.5)

    # the backends now, and (below) those the pools open during the run, all of whose CPU is the run's
    backends = await asyncio.to_thread(pg_backends, db)
    cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    pg_before = {pid: cpu_seconds(pid) for pid in backends}
    started = time.perf_counter()
    await asyncio.gather(*(run(*p) for p in pairs))
    elapsed = time.perf_counter() - started
    # CPU per cycle: where the machine's two cores went (evidence for docs/performance.md)
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    backends_after = await asyncio.to_thread(pg_backends, db)
    cpu["postgres_backends"] = sum(cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in backends_after)
    cpu_ms_per_cycle = {k: round(1000 * v / max(1, cycles), 2) for k, v in cpu.items()}
    for a, b, _ in pairs:
        await a.close()
        await b.close()
    return {
        "pairs": PAIRS,
        "seconds": round(elapsed, 1),
        "cycles": cycles,
        "cycles_per_s": round(cycles / elapsed, 1),
        "errors": errors,
        "error_kinds": str(error_kinds or "none"),
        "invite_to_received": summary_ms(invite_lat),
        "accept_to_notified": summary_ms(accept_lat),
        "cpu_ms_per_cycle": cpu_ms_per_cycle,
        "cpu_busy_fraction_of_2_cores": round(sum(cpu.values()) / elapsed / 2, 2),
    }


def main() -> None:
    raise_nofile()
    with site("throughput") as s:
        callers = s.users("tpa", PAIRS)
        callees = s.users("tpb", PAIRS)
        worker = s.worker()
        web1, base1 = s.daphne("web1")
        web2, base2 = s.daphne("web2")
        pids = {
            "daphne1_callers": web1.pid,
            "daphne2_callees": web2.pid,
            "rqworker": worker.pid,
            "load_generator": os.getpid(),
        }
        figures = asyncio.run(load(base1, base2, callers, callees, pids, s.db))
    write_results(
        "throughput",
        figures,
        notes=f"{PAIRS} pairs, each looping invite/accept as WebSocket commands "
        f"for {SECONDS} s; callers on Daphne 1, callees on Daphne 2; one rqworker.",
    )


if __name__ == "__main__":
    main()
