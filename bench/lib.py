"""Shared plumbing for the benchmarks: a bench database, real processes, users
and tokens, a lean WebSocket client, a minimal keep-alive HTTP client, figures.

Every benchmark has a database `bench_<name>` (created and dropped here), a
Redis prefix and an RQ queue of its own, so it never touches a site or a test
run on the same PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
# Figures, logs and profiles go to var/bench/ (git-ignored: results belong to the machine that ran them).
# BENCH_RESULTS: another directory (bench/asgi_servers.py runs the other scripts with it, so theirs
# never overwrite var/bench/*.json)
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "var" / "bench").resolve()
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
SCALE = os.environ.get("BENCH_SCALE", "full")
SMALL = SCALE == "small"


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summary_ms(values_s: list[float]) -> dict[str, float]:
    """p50/p99/max in milliseconds of durations given in seconds."""
    ms = [v * 1000 for v in values_s]
    return {
        "n": len(ms),
        "p50_ms": round(pct(ms, 50), 2),
        "p99_ms": round(pct(ms, 99), 2),
        "max_ms": round(max(ms), 2) if ms else float("nan"),
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def write_results(name: str, figures: dict[str, Any], notes: str = "") -> None:
    """<RESULTS>/<name>.json and .md (var/bench/ by default); also printed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "bench": name,
        "scale": SCALE,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "loadavg_at_end": load_average(),
        "server": os.environ.get("BENCH_SERVER", "daphne"),
        "figures": figures,
        "notes": notes,
    }
    suffix = "-small" if SMALL else ""
    (RESULTS / f"{name}{suffix}.json").write_text(json.dumps(doc, indent=2) + "\n")
    lines = [
        f"# {name} ({SCALE})",
        "",
        f"{doc['when']}, {doc['cpus']} CPUs, load average at end {doc['loadavg_at_end']}, server {doc['server']}",
        "",
        "| figure | value |",
        "| --- | --- |",
    ]
    for key, value in _flatten(figures):
        lines.append(f"| {key} | {value} |")
    if notes:
        lines += ["", notes]
    (RESULTS / f"{name}{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)


def _flatten(d: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in d.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


# --- database and processes -------------------------------------------------------------------


def psql(db: str, sql: str) -> str:
    out = subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qAtc", sql], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return out.stdout


def server_command(port: int, app: str = "callsite.asgi:application", server: str = "") -> list[str]:
    """The command line of one web process. BENCH_SERVER (or `server`) picks it: daphne (the
    default, as deployed) or uvicorn (bench only, bench/requirements.txt)."""
    server = server or os.environ.get("BENCH_SERVER", "daphne")
    if server == "daphne":
        if not (ROOT / "callsite" / "daphne_server.py").exists():  # a tree from before the site had its own
            return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
        return [sys.executable, "-m", "callsite.daphne_server", "-b", "127.0.0.1", "-p", str(port), app]
    if server == "uvicorn":
        # As Daphne is run here: its default logging (an access log line per request and per
        # socket), pings every 20 s, no per-message compression (Daphne never negotiates it;
        # uvicorn would by default), and no lifespan (Channels' router has no "lifespan" app).
        # One process, uvloop, httptools, the websockets implementation (BENCH_UVICORN_WS).
        return [
            str(BIN / "uvicorn"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            os.environ.get("BENCH_UVICORN_WS", "websockets"),
            "--ws-per-message-deflate",
            "false",
            "--lifespan",
            "off",
            app,
        ]
    raise ValueError(f"BENCH_SERVER={server!r}: daphne or uvicorn")


class Site:
    """A bench database, migrated, plus the processes started on it; stop() undoes all."""

    def __init__(self, name: str, **env: Any) -> None:
        self.name = name
        # BENCH_DB_SUFFIX: runs sharing one PostgreSQL keep the same bench apart
        self.db = f"bench_{name}{os.environ.get('BENCH_DB_SUFFIX', '')}"
        self.url = f"{PG}/{self.db}"
        self.prefix = f"bench-{name}-{secrets.token_hex(3)}"
        self.env = dict(
            os.environ,
            DATABASE_URL=self.url,
            REDIS_URL=REDIS_URL,
            REDIS_PREFIX=self.prefix,
            CALL_QUEUE=self.prefix,
            PYTHONUNBUFFERED="1",
            DEBUG="0",
            SECRET_KEY=os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
            LOG_LEVEL="WARNING",
            # One bench user places thousands of calls a minute: keep the limiter's
            # Redis counter in the path, but never let it refuse.
            RATE_LIMIT_INVITES_PER_MINUTE="1000000000",
            RATE_LIMIT_INVITEES_PER_MINUTE="1000000000",
            # one bench socket sends hundreds of commands a second: the per-socket
            # bucket stays in the path, never empty
            CALL_SOCKET_COMMANDS_PER_SECOND="1000000000",
            CALL_SOCKET_COMMANDS_BURST="1000000000",
        )
        self.env.update({k: str(v) for k, v in env.items()})
        self.procs: list[subprocess.Popen] = []
        self.spies: list[subprocess.Popen] = []
        self.logs = RESULTS / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        psql("postgres", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        psql("postgres", f"CREATE DATABASE {self.db}")
        self.manage("migrate", "--noinput", "-v", "0")

    def manage(self, *args: str) -> None:
        subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, check=True)

    def django(self, code: str) -> str:
        """Run Python with Django set up on the bench database (setup only, never during load)."""
        prelude = (
            "import django, os\nos.environ.setdefault('DJANGO_SETTINGS_MODULE','callsite.settings')\ndjango.setup()\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", prelude + code], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if out.returncode:
            raise RuntimeError(out.stderr)
        return out.stdout

    def users(self, prefix: str, n: int) -> list[tuple[str, str]]:
        """n users named <prefix>0..; returns (username, bearer token) pairs (bulk insert: setup only)."""
        code = f"""
import json, secrets
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from invitations.models import ApiToken
try:
    from invitations.accounts.tokens import hash_token
except ImportError:  # a tree from before the re-layout, measured as the reference
    from invitations.tokens import hash_token
User = get_user_model()
pw = make_password('bench-pw')
users = User.objects.bulk_create([User(username=f'{prefix}{{i}}', password=pw) for i in range({n})], batch_size=2000)
raw = [secrets.token_urlsafe(24) for _ in users]
ApiToken.objects.bulk_create([ApiToken(user=u, key_hash=hash_token(t)) for u, t in zip(users, raw)], batch_size=2000)
print(json.dumps([[u.username, t] for u, t in zip(users, raw)]))
"""
        return [tuple(x) for x in json.loads(self.django(code))]

    def _popen(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        log = open(self.logs / f"{self.name}-{name}.log", "wb")
        proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        proc.log_path = self.logs / f"{self.name}-{name}.log"  # type: ignore[attr-defined]
        self.procs.append(proc)
        if os.environ.get(
            "BENCH_PYSPY"
        ):  # sample the process for the whole run (collapsed stacks; --gil: CPU, not waits)
            out = RESULTS / "profiles"
            out.mkdir(parents=True, exist_ok=True)
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
                    str(out / f"{self.name}-{name}.txt"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            self.spies.append(spy)
        return proc

    def web(self, name: str = "web", **env: Any) -> tuple[subprocess.Popen, str]:
        """One web process serving callsite.asgi:application (server_command: BENCH_SERVER picks
        daphne or uvicorn); returns it and its base URL."""
        port = free_port()
        penv = dict(self.env, **{k: str(v) for k, v in env.items()})
        args = server_command(port)
        proc = self._popen(name, args, penv)
        base = f"http://127.0.0.1:{port}"
        _wait_http(proc, base)
        return proc, base

    daphne = web  # the name the benchmarks use; the server is BENCH_SERVER's

    def worker(self, name: str = "worker", **env: Any) -> subprocess.Popen:
        penv = dict(self.env, **{k: str(v) for k, v in env.items()})
        proc = self._popen(name, [sys.executable, "manage.py", "rqworker", self.prefix, "--with-scheduler"], penv)
        deadline = time.time() + 60
        while time.time() < deadline and b"Listening on" not in Path(proc.log_path).read_bytes():
            if proc.poll() is not None:
                raise RuntimeError(Path(proc.log_path).read_text())
            time.sleep(0.2)
        return proc

    def stop(self, drop: bool = True) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        for spy in self.spies:  # py-spy writes its file when the process it samples exits
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.send_signal(signal.SIGINT)
                spy.wait(10)
        if drop:
            psql("postgres", f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")


def _wait_http(proc: subprocess.Popen, base: str) -> None:
    host, port = base.rsplit(":", 1)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(Path(proc.log_path).read_text())  # type: ignore[attr-defined]
        try:
            with socket.create_connection(("127.0.0.1", int(port)), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{base} did not start")


@contextmanager
def site(name: str, **env: Any) -> Iterator[Site]:
    s = Site(name, **env)
    try:
        yield s
    finally:
        s.stop(drop=not os.environ.get("BENCH_KEEP_DB"))


def cpu_seconds(pid: int) -> float:
    """user + system CPU time of a process so far (its threads included)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pg_backends(db: str) -> list[int]:
    return [int(x) for x in psql("postgres", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'").split()]


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# --- clients ---------------------------------------------------------------------------------


class WS:
    """A lean PROTOCOL client: a reader task wakes whoever waits for a frame, and
    drops the frames nobody waits for (no growing list under load)."""

    def __init__(self, ws: Any, hello: dict[str, Any]) -> None:
        self.ws, self.hello = ws, hello
        self.next_id = 0
        self.waiters: dict[Any, asyncio.Future] = {}
        self.seen: set[str] = set()
        self.reader = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, base: str, token: str, device: str = "", **kwargs: Any) -> WS:
        import websockets

        url = base.replace("http", "ws", 1) + "/ws/calls/" + (f"?deviceID={device}" if device else "")
        ws = await websockets.connect(
            url, additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=60, **kwargs
        )
        hello = json.loads(await asyncio.wait_for(ws.recv(), 60))
        assert hello["type"] == "hello", hello
        return cls(ws, hello)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame["type"] == "result":
                    key: Any = ("result", frame["id"])
                elif frame["type"] == "event":
                    data = frame["data"]
                    if frame["event"] == "callInvitationReceived":
                        # A socket that connects while it is being invited gets the invitation twice
                        # (the live event and the replay of waiting invitations): dedupe by callID.
                        if data["callID"] in self.seen:
                            continue
                        self.seen.add(data["callID"])
                    key = (frame["event"], data.get("callID"))
                    if frame["event"] == "callUserStateChanged":
                        key = key + (tuple((m["userID"], m["state"]) for m in data["callUserList"]),)
                else:
                    continue
                fut = self.waiters.pop(key, None)
                if fut is None and frame["type"] == "event":  # someone waiting for this event, any call
                    fut = self.waiters.pop((frame["event"], None), None)
                if fut is not None and not fut.done():
                    fut.set_result((time.perf_counter(), frame))
        except Exception:
            pass

    def expect(self, *key: Any) -> asyncio.Future:
        """Register interest before the action that causes the frame."""
        fut = asyncio.get_running_loop().create_future()
        self.waiters[key] = fut
        return fut

    async def cmd(self, name: str, data: dict[str, Any], wait: float = 30) -> tuple[float, dict[str, Any]]:
        self.next_id += 1
        fut = self.expect("result", self.next_id)
        await self.ws.send(json.dumps({"type": "cmd", "id": self.next_id, "cmd": name, "data": data}))
        return await asyncio.wait_for(fut, wait)

    async def close(self) -> None:
        self.reader.cancel()
        await self.ws.close()


class HTTP:
    """A minimal HTTP/1.1 keep-alive JSON client over asyncio streams (no extra dependency)."""

    def __init__(self, base: str, token: str) -> None:
        self.host, self.port = base.split("//")[1].split(":")
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, int(self.port))
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode("latin-1").partition(":")
            headers[k.strip().lower()] = v.strip()
        if "content-length" in headers:
            raw = await self.reader.readexactly(int(headers["content-length"]))
        else:  # chunked
            raw = b""
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                chunk = await self.reader.readexactly(size + 2)
                if size == 0:
                    break
                raw += chunk[:-2]
        if headers.get("connection", "").lower() == "close":
            self.writer.close()
            self.writer = None
        return status, json.loads(raw) if raw else None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# --- one call cycle ---------------------------------------------------------------------------


async def cycle(
    caller: WS, callee: WS, callee_name: str, http: HTTP | None = None, wait: float = 30
) -> tuple[float, float]:
    """invite -> callInvitationReceived at the callee; accept -> callUserStateChanged
    (Accepted) at the caller. Returns both latencies in seconds. The invite goes
    over HTTP when `http` is given, else as a WebSocket command."""
    received = callee.expect("callInvitationReceived", None)
    t0 = time.perf_counter()
    if http is not None:
        status, body = await asyncio.wait_for(http.request("POST", "/api/calls", {"invitees": [callee_name]}), wait)
        if status != 200:
            received.cancel()
            raise RuntimeError(f"invite: {status} {body}")
    else:
        _, result = await caller.cmd("callInvite", {"invitees": [callee_name]}, wait)
        if not result["ok"]:
            received.cancel()
            raise RuntimeError(f"invite: {result}")
    t1, frame = await asyncio.wait_for(received, wait)
    call_id = frame["data"]["callID"]
    notified = caller.expect("callUserStateChanged", call_id, ((callee_name, 1),))
    t2 = time.perf_counter()
    _, result = await callee.cmd("callAccept", {"callID": call_id}, wait)
    if not result["ok"]:
        notified.cancel()
        raise RuntimeError(f"accept: {result}")
    t3, _ = await asyncio.wait_for(notified, wait)
    return t1 - t0, t3 - t2


async def latency_series(
    base_caller: str, base_callee: str, caller: tuple[str, str], callee: tuple[str, str], n: int
) -> dict[str, Any]:
    """n sequential cycles with the invite as a WebSocket command, then n over HTTP;
    caller on one Daphne process, callee on the other."""
    a = await WS.connect(base_caller, caller[1], "bench-a")
    b = await WS.connect(base_callee, callee[1], "bench-b")
    http = HTTP(base_caller, caller[1])
    await asyncio.sleep(1)  # both sockets registered (presence rows) before the first call
    out: dict[str, Any] = {}
    try:
        for mode, via in (("ws", None), ("http", http)):
            for _ in range(min(50, n // 10)):  # warm-up: connections, caches
                await cycle(a, b, callee[0], via)
            invite, accept = [], []
            for _ in range(n):
                i, acc = await cycle(a, b, callee[0], via)
                invite.append(i)
                accept.append(acc)
            out[f"invite_{mode}_to_received"] = summary_ms(invite)
            out[f"accept_to_caller_notified_{'after_' + mode}"] = summary_ms(accept)
    finally:
        await a.close()
        await b.close()
        await http.close()
    return out
