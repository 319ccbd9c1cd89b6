"""CPU profile and cost of the invitation list over HTTP (`GET /api/calls`, 20 calls
a page, bearer token), in-process through the site's ASGI application (the HTTP
handler Daphne calls, the whole middleware stack, ninja, the token check), on a
bench database: CPU ms and SQL statements per request, and a py-spy `--gil`
profile (waits not counted).

    .venv/bin/python bench/profile_list.py [label]   # var/bench/profiles/list[-label].txt + summary
    BENCH_NO_PYSPY=1 .venv/bin/python bench/profile_list.py   # the figures only
"""

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import BIN, RESULTS, ROOT, Site  # noqa: E402

CODE = r"""
import asyncio, os, statistics, sys, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
import django
django.setup()
from django.db.backends.signals import connection_created

statements = [0]

def count(execute, sql, params, many, context):
    statements[0] += 1
    return execute(sql, params, many, context)

def on_connect(sender, connection, **kwargs):
    if count not in connection.execute_wrappers:
        connection.execute_wrappers.append(count)

connection_created.connect(on_connect)
from callsite.asgi import application  # noqa: E402

token, n = sys.argv[1], int(sys.argv[2])
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
         "path": "/api/calls", "raw_path": b"/api/calls", "query_string": b"count=20", "root_path": "",
         "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Bearer {token}".encode())],
         "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 80)}

async def one():
    sent, delivered = [], False
    async def receive():
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
    async def send(message):
        sent.append(message)
    await application(dict(scope), receive, send)
    assert sent[0]["status"] == 200, sent

async def main():
    for _ in range(50):
        await one()
    walls = []
    before, cpu0 = statements[0], time.process_time()
    for _ in range(n):
        t = time.perf_counter()
        await one()
        walls.append(time.perf_counter() - t)
    cpu = time.process_time() - cpu0
    print(f"{n} requests: CPU {cpu / n * 1000:.2f} ms/request, {(statements[0] - before) / n:.2f} statements/request, "
          f"wall p50 {statistics.median(walls) * 1000:.2f} ms, load average {os.getloadavg()[0]:.2f}")

asyncio.run(main())
"""


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    out = RESULTS / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"list{'-' + label if label else ''}.txt"
    s = Site("profilelist", ALLOWED_HOSTS="127.0.0.1")
    try:
        (a, token), (b, _) = s.users("pl", 2)
        s.django(
            "from django.contrib.auth import get_user_model\nfrom invitations.calls import actions\n"
            "U = get_user_model(); a = U.objects.get(username='pl0')\n"
            "for _ in range(25):\n"
            "    actions.call_cancel(user=a, call_id=actions.call_invite(user=a, invitees=['pl1'])['callID'])\n"
        )
        run = [sys.executable, "-c", CODE, token, "2000"]
        if os.environ.get("BENCH_NO_PYSPY"):
            subprocess.run(run, cwd=ROOT, env=s.env, check=True)
            return
        subprocess.run(
            [str(BIN / "py-spy"), "record", "--gil", "--rate", "500", "--format", "raw", "-o", str(path), "--", *run],
            cwd=ROOT,
            env=s.env,
            check=True,
        )
    finally:
        s.stop()
    subprocess.run([sys.executable, str(ROOT / "bench" / "profile_summary.py"), str(path), "", "45"], check=True)


if __name__ == "__main__":
    main()
