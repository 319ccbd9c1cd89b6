"""CPU profile of the invitation list over HTTP (`GET /api/calls`, 20 calls a page),
in-process through Django's test client (the whole middleware stack, ninja,
bearer auth), on a bench database: py-spy `--gil` (waits not counted).

    .venv/bin/python bench/profile_list.py [label]   # bench/results/profiles/list[-label].txt + summary
"""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import BIN, RESULTS, ROOT, Site  # noqa: E402

CODE = r'''
import django, os, sys, time, statistics
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
django.setup()
from django.test import Client
token = sys.argv[1]
c = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
for _ in range(50):
    assert c.get("/api/calls?count=20").status_code == 200
t = []
for _ in range(1000):
    t0 = time.perf_counter(); r = c.get("/api/calls?count=20"); t.append(time.perf_counter() - t0)
    assert r.status_code == 200 and len(r.json()["callList"]) == 20
print("p50 ms", round(statistics.median(t) * 1000, 2))
'''


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    out = RESULTS / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"list{'-' + label if label else ''}.txt"
    s = Site("profilelist", RATE_LIMIT_INVITES_PER_MINUTE="1000000000", ALLOWED_HOSTS="testserver,127.0.0.1")
    try:
        (a, token), (b, _) = s.users("pl", 2)
        s.django("from django.contrib.auth import get_user_model\nfrom invitations import services\n"
                 "U = get_user_model(); a = U.objects.get(username='pl0')\n"
                 "for _ in range(25):\n"
                 "    services.call_cancel(user=a, call_id=services.call_invite(user=a, invitees=['pl1'])['callID'])\n")
        subprocess.run([str(BIN / "py-spy"), "record", "--gil", "--rate", "500", "--format", "raw", "-o", str(path),
                        "--", sys.executable, "-c", CODE, token], cwd=ROOT, env=s.env, check=True)
    finally:
        s.stop()
    subprocess.run([sys.executable, str(ROOT / "bench" / "profile_summary.py"), str(path), "", "45"], check=True)


if __name__ == "__main__":
    main()
