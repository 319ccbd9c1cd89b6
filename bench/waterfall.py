"""The waterfall of one invite and one accept, in-process on a bench database
(PostgreSQL and Redis real, no server in front): each stage's wall time and
the operation's CPU time, median over many cycles.

Stages: the WebSocket frame parsed (json) and validated (the command's pydantic
schema), the thread hop (asyncio -> the pool thread that runs the command and
back), each SQL statement (timed by Django's execute_wrapper), the commit, each
Redis command or pipeline on the request thread, each on-commit hook (the
publish of the events, any job scheduling), and the result frame encoded.
What happens after the publish (Redis pub/sub, the other Daphne, the frame
out) is not in this process: it is the end-to-end latency (bench/latency.py)
minus this.

    .venv/bin/python bench/waterfall.py [label]   # writes var/bench/waterfall[-label].md
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import RESULTS, Site, load_average  # noqa: E402

CODE = r"""
import asyncio, json, re, statistics, time
from collections import defaultdict
import redis
from asgiref.sync import sync_to_async
from django.db import connection, transaction
from django.contrib.auth import get_user_model
from invitations.web.commands import COMMANDS
User = get_user_model()
a, b = User.objects.get(username="wf0"), User.objects.get(username="wf1")

stages = []          # (name, seconds) of the operation being measured
def stage(name, seconds):
    stages.append((name, seconds))

def sql_timer(execute, sql, params, many, context):
    t = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        words = re.sub(r'"?invitations_|"', "", sql.split(" WHERE ")[0])[:70]
        stage("SQL " + words, time.perf_counter() - t)

from django.db import connections
Wrapper = type(connections["default"])
_commit = Wrapper._commit
def timed_commit(self, *args):
    t = time.perf_counter()
    try:
        return _commit(self, *args)
    finally:
        stage("COMMIT", time.perf_counter() - t)
Wrapper._commit = timed_commit

_on_commit = transaction.on_commit
def timed_on_commit(func, *args, **kwargs):
    name = getattr(func, "__qualname__", repr(func)).replace(".<locals>", "")
    def run():
        t = time.perf_counter()
        try:
            return func()
        finally:
            stage("after commit: " + name, time.perf_counter() - t)
    return _on_commit(run, *args, **kwargs)
transaction.on_commit = timed_on_commit
import invitations.realtime.publish, invitations.worker.scheduling
for mod in (invitations.realtime.publish, invitations.worker.scheduling):
    if hasattr(mod, "transaction"):
        mod.transaction.on_commit = timed_on_commit

_exec = redis.client.Redis.execute_command
def timed_exec(self, *args, **kw):
    t = time.perf_counter()
    try:
        return _exec(self, *args, **kw)
    finally:
        stage(f"Redis {args[0]}", time.perf_counter() - t)
redis.client.Redis.execute_command = timed_exec
_pipe = redis.client.Pipeline.execute
def timed_pipe(self, *args, **kw):
    names = "+".join(str(c[0][0]) for c in self.command_stack)
    t = time.perf_counter()
    try:
        return _pipe(self, *args, **kw)
    finally:
        stage(f"Redis pipeline {names}", time.perf_counter() - t)
redis.client.Pipeline.execute = timed_pipe

state = {}
def frame(cmd, data):
    return json.dumps({"type": "cmd", "id": 1, "cmd": cmd, "data": data})

async def one(user, raw):
    t = time.perf_counter(); f = json.loads(raw); stage("frame parsed (json)", time.perf_counter() - t)
    command = COMMANDS[f["cmd"]]
    t = time.perf_counter(); body = command.ws_schema.model_validate(f["data"]); stage("validated (schema)", time.perf_counter() - t)
    box = {}
    def run():
        box["in"] = time.perf_counter()
        with connection.execute_wrapper(sql_timer):
            c0 = time.thread_time()
            t = time.perf_counter()
            box["r"] = command.run(user=user, device_id="wf", body=body)
            box["service"] = time.perf_counter() - t
            box["cpu"] = time.thread_time() - c0
        box["out"] = time.perf_counter()
    t = time.perf_counter()
    await sync_to_async(run, thread_sensitive=False)()
    back = time.perf_counter()
    stage("thread hop (to the pool thread + back)", (box["in"] - t) + (back - box["out"]))
    stage("service total (the SQL, Redis and hooks above included)", box["service"])
    stage("service CPU (thread time)", box["cpu"])
    t = time.perf_counter(); json.dumps({"type": "result", "id": 1, "ok": True, "data": box["r"]}, separators=(",", ":")); stage("result frame encoded", time.perf_counter() - t)
    return box["r"]

async def cycle(record):
    global stages
    stages = []
    r = await one(a, frame("callInvite", {"invitees": ["wf1"]}))
    if record is not None: record["invite"].append(stages)
    stages = []
    await one(b, frame("callAccept", {"callID": r["callID"]}))
    if record is not None: record["accept"].append(stages)

async def main():
    for _ in range(30):
        await cycle(None)
    rec = defaultdict(list)
    for _ in range(N):
        await cycle(rec)
    out = {}
    for op, runs in rec.items():
        order, values = [], defaultdict(list)
        for run in runs:
            seen = defaultdict(int)
            for name, sec in run:
                seen[name] += 1
                key = name if seen[name] == 1 else f"{name} (#{seen[name]})"
                if key not in values: order.append(key)
                values[key].append(sec * 1000)
        out[op] = [(k, round(statistics.median(values[k]), 3), len(values[k])) for k in order]
    print(json.dumps(out))
N = 300
asyncio.run(main())
"""


def main() -> None:
    import json

    label = sys.argv[1] if len(sys.argv) > 1 else ""
    s = Site("waterfall", RATE_LIMIT_INVITES_PER_MINUTE="1000000000")
    try:
        s.users("wf", 2)
        out = json.loads(s.django(CODE).strip().splitlines()[-1])
    finally:
        s.stop()
    lines = [
        f"# waterfall {label}".rstrip(),
        "",
        f"load average {load_average()}; median of 300 cycles, in-process "
        "(PostgreSQL + Redis real); stages in the order they happen",
        "",
    ]
    for op, rows in out.items():
        lines += [f"## {op}", "", "| stage | ms (median) |", "| --- | --- |"]
        lines += [f"| {name} | {ms} |" for name, ms, n in rows]
        lines.append("")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"waterfall{'-' + label if label else ''}.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
