"""Benchmark 6: the floors. A bare relay -- two processes running the `websockets`
library + Redis pub/sub, no Django -- doing the same hop as benchmarks 1 and 2:
caller on relay 1 sends "invite" -> callee on relay 2 receives it; callee sends
"accept" -> caller receives it.

Two floors, measured in the same run:
- bare: no database at all;
- durable: each hop commits one PostgreSQL row before it publishes (the honest
  lower bound for a site that keeps its state in a database).

    .venv/bin/python bench/floor.py
    .venv/bin/python bench/floor.py --serve PORT PREFIX [DSN]   # one relay process (used by the above)
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    PG,
    REDIS_URL,
    SMALL,
    free_port,
    psql,
    raise_nofile,
    summary_ms,
    write_results,
)

N = 200 if SMALL else 2000
PAIRS = 50
SECONDS = 10 if SMALL else 60


async def serve(port: int, prefix: str, dsn: str = "") -> None:
    """Each socket names its user in the path (/u/<name>); a frame {"to", ...} is
    published on <prefix>:<to> and forwarded to that user's sockets. With a DSN,
    each frame is first committed as one row (autocommit INSERT, from a pool)."""
    import redis.asyncio as redis
    import websockets

    r = redis.from_url(REDIS_URL)
    pool = None
    if dsn:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(dsn, min_size=4, max_size=16, kwargs={"autocommit": True}, open=False)
        await pool.open()
    pubsub = r.pubsub()
    sockets: dict[str, set] = {}

    async def pump() -> None:
        while True:
            msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue
            user = msg["channel"].decode().split(":", 1)[1]
            for ws in list(sockets.get(user, ())):
                await ws.send(msg["data"].decode())

    async def handler(ws) -> None:
        user = ws.request.path.rsplit("/", 1)[1]
        if user not in sockets:
            sockets[user] = set()
            await pubsub.subscribe(f"{prefix}:{user}")
        sockets[user].add(ws)
        try:
            async for raw in ws:
                frame = json.loads(raw)
                if pool is not None:
                    async with pool.connection() as conn:
                        await conn.execute("INSERT INTO hop (kind, body) VALUES (%s, %s)", (frame["kind"], raw))
                await r.publish(f"{prefix}:{frame['to']}", raw)
        finally:
            sockets[user].discard(ws)

    await pubsub.subscribe(f"{prefix}:__none__")
    asyncio.get_running_loop().create_task(pump())
    async with websockets.serve(handler, "127.0.0.1", port):
        await asyncio.Future()


class Peer:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.waiting: dict[str, asyncio.Future] = {}
        asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            frame = json.loads(raw)
            fut = self.waiting.pop(frame["kind"], None)
            if fut:
                fut.set_result(time.perf_counter())

    def expect(self, kind: str) -> asyncio.Future:
        fut = asyncio.get_running_loop().create_future()
        self.waiting[kind] = fut
        return fut


async def connect(port: int, user: str) -> Peer:
    import websockets

    return Peer(await websockets.connect(f"ws://127.0.0.1:{port}/u/{user}"))


async def relay_cycle(a: Peer, b: Peer, a_name: str, b_name: str) -> tuple[float, float]:
    got = b.expect("invite")
    t0 = time.perf_counter()
    await a.ws.send(json.dumps({"to": b_name, "kind": "invite", "from": a_name}))
    t1 = await asyncio.wait_for(got, 15)
    back = a.expect("accept")
    t2 = time.perf_counter()
    await b.ws.send(json.dumps({"to": a_name, "kind": "accept", "from": b_name}))
    t3 = await asyncio.wait_for(back, 15)
    return t1 - t0, t3 - t2


async def load(port1: int, port2: int) -> dict:
    a, b = await connect(port1, "a"), await connect(port2, "b")
    await asyncio.sleep(0.5)  # let the relays' SUBSCRIBEs land before the first PUBLISH
    for _ in range(50):
        await relay_cycle(a, b, "a", "b")
    invite, accept = [], []
    for _ in range(N):
        i, acc = await relay_cycle(a, b, "a", "b")
        invite.append(i)
        accept.append(acc)
    figures = {"hop_invite_to_received": summary_ms(invite), "hop_accept_to_notified": summary_ms(accept)}
    pairs = [(await connect(port1, f"a{i}"), await connect(port2, f"b{i}"), f"a{i}", f"b{i}") for i in range(PAIRS)]
    await asyncio.sleep(0.5)
    cycles = errors = 0
    end = time.perf_counter() + SECONDS

    async def run(p, q, pn, qn) -> None:
        nonlocal cycles, errors
        while time.perf_counter() < end:
            try:
                await relay_cycle(p, q, pn, qn)
                cycles += 1
            except Exception:
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(run(*p) for p in pairs))
    elapsed = time.perf_counter() - started
    figures["throughput"] = {
        "pairs": PAIRS,
        "seconds": round(elapsed, 1),
        "cycles_per_s": round(cycles / elapsed, 1),
        "errors": errors,
    }
    return figures


def run_relays(dsn: str = "") -> dict:
    prefix = f"bench-floor-{os.getpid()}-{'durable' if dsn else 'bare'}"
    ports = [free_port(), free_port()]
    procs = [
        subprocess.Popen([sys.executable, __file__, "--serve", str(p), prefix, dsn], start_new_session=True)
        for p in ports
    ]
    try:
        time.sleep(1.5)
        return asyncio.run(load(*ports))
    finally:
        for p in procs:
            os.killpg(p.pid, signal.SIGTERM)
            p.wait(10)


def main() -> None:
    raise_nofile()
    figures = {"bare": run_relays()}
    db = "bench_floor"
    psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    psql("postgres", f"CREATE DATABASE {db}")
    try:
        psql(
            db,
            "CREATE TABLE hop (id bigserial PRIMARY KEY, kind text NOT NULL, body text NOT NULL,"
            " at timestamptz NOT NULL DEFAULT now())",
        )
        figures["durable"] = run_relays(f"{PG}/{db}")
    finally:
        psql("postgres", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
    write_results(
        "floor",
        figures,
        notes=f"Two relay processes (websockets + redis.asyncio pub/sub), {N} "
        f"sequential cycles, then {PAIRS} pairs for {SECONDS} s; no Django. bare: no database. "
        "durable: each hop commits one PostgreSQL row (autocommit INSERT from a psycopg pool) "
        "before it publishes.",
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        asyncio.run(serve(int(sys.argv[2]), sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else ""))
    else:
        main()
