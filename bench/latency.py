"""Benchmark 1: latency of invite (HTTP and WebSocket command) -> callInvitationReceived
at the callee, and accept -> callUserStateChanged at the caller, with caller and
callee on two different Daphne processes (one rqworker, PostgreSQL, Redis).

    .venv/bin/python bench/latency.py            # 2,000 calls each way
    BENCH_SCALE=small .venv/bin/python bench/latency.py
"""

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import SMALL, latency_series, raise_nofile, site, write_results  # noqa: E402

N = 200 if SMALL else 2000


def main() -> None:
    raise_nofile()
    with site("latency") as s:
        (alice, bob) = s.users("lat", 2)
        s.worker()
        _, base1 = s.daphne("web1")
        _, base2 = s.daphne("web2")
        figures = asyncio.run(latency_series(base1, base2, alice, bob, N))
    write_results(
        "latency",
        figures,
        notes=f"{N} sequential calls per path, one caller/callee pair, "
        "caller on Daphne 1, callee on Daphne 2, one rqworker, PostgreSQL + Redis pub/sub layer.",
    )


if __name__ == "__main__":
    main()
