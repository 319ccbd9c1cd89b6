"""Daphne and uvicorn side by side: is the server's own frame handling a top cost, and does
another ASGI server do better?

Runs bench/latency.py, bench/throughput.py and bench/connections.py as they are, once
per server and round, with BENCH_SERVER set (bench/lib.py: two web processes and one
rqworker either way), alternating daphne, uvicorn, daphne, uvicorn within each
benchmark so that drift in the machine's load shows as a difference between rounds.
Each run writes its own figures under var/bench/asgi/<round>-<server>/ (never
var/bench/*.json); this script reads them back, prints a table and writes
var/bench/asgi_servers.md/.json.

    .venv/bin/pip install -r bench/requirements.txt      # uvicorn, uvloop, httptools
    BENCH_DB_SUFFIX=_asgi .venv/bin/python bench/asgi_servers.py
    BENCH_PYSPY=1 BENCH_ROUNDS=1 BENCH_ASGI_BENCHES=throughput .venv/bin/python bench/asgi_servers.py
        # profiles in var/bench/asgi-pyspy/1-<server>/profiles/ (bench/profile_summary.py reads them)

Environment: BENCH_ROUNDS (2), BENCH_SERVERS (daphne,uvicorn), BENCH_ASGI_BENCHES
(latency,throughput,connections; also bare: a do-nothing ASGI app on each server, for the
server's own CPU per connect and per frame), BENCH_SOCKETS (2000, for connections), BENCH_SCALE as
for the scripts themselves, BENCH_ASGI_NAME (results name, default asgi_servers).
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import (  # noqa: E402
    BIN,
    RESULTS,
    ROOT,
    SMALL,
    _wait_http,
    cpu_seconds,
    free_port,
    load_average,
    raise_nofile,
    rss_kb,
    server_command,
    write_results,
)

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SERVERS = os.environ.get("BENCH_SERVERS", "daphne,uvicorn").split(",")
BENCHES = os.environ.get("BENCH_ASGI_BENCHES", "latency,throughput,connections").split(",")
SOCKETS = os.environ.get("BENCH_SOCKETS", "2000")
PYSPY = bool(os.environ.get("BENCH_PYSPY"))
# BENCH_ASGI_NAME: the results' name (asgi_servers[-pyspy]); per-run figures go to the matching asgi[...]/
NAME = os.environ.get("BENCH_ASGI_NAME") or ("asgi_servers-pyspy" if PYSPY else "asgi_servers")
OUT = RESULTS / NAME.replace("asgi_servers", "asgi", 1)


def run(bench: str, server: str, label: str) -> dict:
    out = OUT / label
    env = dict(os.environ, BENCH_SERVER=server, BENCH_RESULTS=str(out), BENCH_SOCKETS=SOCKETS)
    load_before = load_average()
    started = time.time()
    print(f"== {bench} {label}, load average {load_before}", flush=True)
    proc = subprocess.run([sys.executable, f"bench/{bench}.py"], cwd=ROOT, env=env, capture_output=True, text=True)
    path = out / f"{bench}{'-small' if SMALL else ''}.json"
    if proc.returncode or not path.exists():
        print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", flush=True)
        return {"error": f"exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1:]}", "load_before": load_before}
    doc = json.loads(path.read_text())
    return {
        "figures": doc["figures"],
        "load_before": load_before,
        "load_after": doc["loadavg_at_end"],
        "when": doc["when"],
        "seconds": round(time.time() - started),
    }


# --- bare: the servers' own cost, with an ASGI app that does nearly nothing ----------------------


async def bare_app(scope: dict, receive, send) -> None:
    """accept, one hello frame, then echo every text frame; HTTP: 200 "ok"."""
    if scope["type"] == "http":
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok"})
    elif scope["type"] == "websocket":
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": '{"type":"hello"}'})
        while True:
            message = await receive()
            if message["type"] != "websocket.receive":
                return
            await send({"type": "websocket.send", "text": message.get("text")})


BARE_SOCKETS, BARE_ECHO_SOCKETS, BARE_ECHO_SECONDS = 2000, 50, 10


async def bare_load(base: str, pid: int) -> dict:
    import asyncio

    import websockets

    url = base.replace("http", "ws", 1) + "/ws/"
    held: list = []
    todo = list(range(BARE_SOCKETS))
    rss_before, cpu_before = rss_kb(pid), cpu_seconds(pid)
    started = time.perf_counter()

    async def opener() -> None:
        while todo:
            todo.pop()
            ws = await websockets.connect(url, open_timeout=60, ping_interval=None, max_queue=4, compression=None)
            await ws.recv()
            held.append(ws)

    await asyncio.gather(*(opener() for _ in range(50)))
    connect_s, connect_cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    await asyncio.sleep(3)
    rss_held = rss_kb(pid)
    echoes = 0
    end = time.perf_counter() + BARE_ECHO_SECONDS
    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()

    async def echo(ws) -> None:
        nonlocal echoes
        frame = '{"type":"cmd","id":1,"cmd":"callAccept","data":{"callID":"0123456789abcdef0123456789abcdef"}}'
        while time.perf_counter() < end:
            await ws.send(frame)
            await ws.recv()
            echoes += 1

    await asyncio.gather(*(echo(ws) for ws in held[:BARE_ECHO_SOCKETS]))
    echo_s, echo_cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu_before
    for ws in held:
        ws.transport.abort()
    return {
        "connects_per_s": round(len(held) / connect_s, 1),
        "server_cpu_ms_per_connect": round(1000 * connect_cpu / len(held), 3),
        "kb_per_socket": round((rss_held - rss_before) / len(held), 1),
        "echoes_per_s": round(echoes / echo_s, 1),
        "server_cpu_ms_per_echo": round(1000 * echo_cpu / max(1, echoes), 3),
    }


def run_bare(server: str, label: str) -> dict:
    """The bare app on one server process: connects (2,000, 50 at a time), then 50 sockets echoing."""
    import asyncio

    raise_nofile()
    port = free_port()
    out = OUT / label
    (out / "logs").mkdir(parents=True, exist_ok=True)
    load_before = load_average()
    print(f"== bare {label}, load average {load_before}", flush=True)
    log = open(out / "logs" / "bare.log", "wb")
    proc = subprocess.Popen(
        server_command(port, "bench.asgi_servers:bare_app", server),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    proc.log_path = out / "logs" / "bare.log"  # type: ignore[attr-defined]
    spy = None
    if PYSPY:
        (out / "profiles").mkdir(exist_ok=True)
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--gil",
                "--pid",
                str(proc.pid),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "-o",
                str(out / "profiles" / "bare.txt"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        _wait_http(proc, f"http://127.0.0.1:{port}")
        figures = asyncio.run(bare_load(f"http://127.0.0.1:{port}", proc.pid))
    except Exception as exc:
        return {"error": repr(exc)[:200], "load_before": load_before}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(15)
        if spy is not None:
            spy.wait(30)
    return {"figures": figures, "load_before": load_before, "load_after": load_average()}


def pick(figures: dict, path: str):
    value: object = figures
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


ROWS = {
    "latency": [
        ("invite (WS) -> received p50 ms", "invite_ws_to_received.p50_ms"),
        ("invite (WS) -> received p99 ms", "invite_ws_to_received.p99_ms"),
        ("accept -> caller notified p50 ms", "accept_to_caller_notified_after_ws.p50_ms"),
        ("accept -> caller notified p99 ms", "accept_to_caller_notified_after_ws.p99_ms"),
        ("invite (HTTP) -> received p50 ms", "invite_http_to_received.p50_ms"),
        ("invite (HTTP) -> received p99 ms", "invite_http_to_received.p99_ms"),
    ],
    "throughput": [
        ("full cycles/s, 50 pairs", "cycles_per_s"),
        ("errors", "errors"),
        ("CPU ms/cycle web 1 (callers)", "cpu_ms_per_cycle.daphne1_callers"),
        ("CPU ms/cycle web 2 (callees)", "cpu_ms_per_cycle.daphne2_callees"),
        ("CPU ms/cycle rqworker", "cpu_ms_per_cycle.rqworker"),
        ("CPU ms/cycle PostgreSQL backends", "cpu_ms_per_cycle.postgres_backends"),
        ("CPU ms/cycle all server processes", "_servers_total"),
        ("CPU ms/cycle load generator (client)", "cpu_ms_per_cycle.load_generator"),
        ("invite -> received p50 ms under load", "invite_to_received.p50_ms"),
    ],
    "bare": [
        ("bare app: sockets opened per s", "connects_per_s"),
        ("bare app: server CPU ms per connect", "server_cpu_ms_per_connect"),
        ("bare app: KB per socket", "kb_per_socket"),
        ("bare app: echoes per s (50 sockets)", "echoes_per_s"),
        ("bare app: server CPU ms per echo (frame in + out)", "server_cpu_ms_per_echo"),
    ],
    "connections": [
        ("sockets open / attempted", "_open"),
        ("sockets opened per s (50 at a time)", "connects_per_s"),
        ("web CPU ms per connect", "daphne_cpu_ms_per_connect"),
        ("PostgreSQL CPU ms per connect", "postgres_cpu_ms_per_connect"),
        ("KB per socket", "kb_per_connection"),
        ("KB per socket after the first tenth", "kb_per_connection_after_first_tenth"),
        ("web RSS MB before / held", "_rss"),
        ("invite (WS) p50 ms while held", "latency_while_held.invite_ws_to_received.p50_ms"),
    ],
}


def derived(bench: str, f: dict) -> dict:
    f = dict(f)
    if bench == "throughput" and "cpu_ms_per_cycle" in f:
        c = f["cpu_ms_per_cycle"]
        f["_servers_total"] = round(sum(v for k, v in c.items() if k != "load_generator"), 2)
    if bench == "connections" and "sockets_open" in f:
        f["_open"] = f"{f['sockets_open']} / {f['sockets_attempted']}"
        f["_rss"] = f"{f['daphne_rss_mb_before']} / {f['daphne_rss_mb_held']}"
    return f


def table(results: dict, labels: list[str]) -> str:
    lines = ["| figure | " + " | ".join(labels) + " |", "| --- |" + " --- |" * len(labels)]
    for bench in BENCHES:
        runs = results.get(bench, {})
        lines.append(f"| **{bench}** |" + " |" * len(labels))
        for title, key in ROWS[bench]:
            cells = []
            for label in labels:
                r = runs.get(label, {})
                v = pick(derived(bench, r["figures"]), key) if "figures" in r else r.get("error", "")
                cells.append("" if v is None else str(v))
            lines.append(f"| {title} | " + " | ".join(cells) + " |")
        lines.append(
            "| load average before -> after | "
            + " | ".join(
                f"{runs[label]['load_before'].split()[0]} -> {runs[label].get('load_after', '?').split()[0]}"
                if label in runs
                else ""
                for label in labels
            )
            + " |"
        )
    return "\n".join(lines)


def main() -> None:
    labels = [f"{r + 1}-{server}" for r in range(ROUNDS) for server in SERVERS]
    results: dict = {}
    for bench in BENCHES:
        results[bench] = {}
        for label in labels:
            server = label.split("-", 1)[1]
            results[bench][label] = run_bare(server, label) if bench == "bare" else run(bench, server, label)
            (OUT / "runs.json").write_text(json.dumps(results, indent=1) + "\n")  # so far, should a later run fail
    md = table(results, labels)
    print(md, flush=True)
    notes = (
        f"Servers: daphne as deployed (`daphne -b 127.0.0.1 -p PORT callsite.asgi:application`); uvicorn "
        "one process, `--loop uvloop --http httptools --ws websockets --ws-per-message-deflate false "
        "--lifespan off` (bench/lib.py Site.web). Columns: round-server, run in that order within each "
        f"benchmark. Connections: {SOCKETS} sockets. Per-run figures: {os.path.relpath(OUT, ROOT)}/<round>-<server>/."
        f"{' py-spy sampling every server process (its CPU is in the figures).' if PYSPY else ''}\n\n" + md
    )
    write_results(
        NAME,
        {
            bench: {
                label: r.get("figures", r) | {"load_before": r["load_before"], "load_after": r.get("load_after")}
                for label, r in runs.items()
            }
            for bench, runs in results.items()
        },
        notes,
    )
    # the .md: its header and the table (write_results lists every figure of every run: the .json has them)
    path = RESULTS / f"{NAME}{'-small' if SMALL else ''}.md"
    path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n\n" + notes + "\n")


if __name__ == "__main__":
    main()
