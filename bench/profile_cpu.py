"""CPU (not wall) profile of invite + accept, in-process on a bench database:
py-spy samples the process running 1,000 cycles of the services through the
command table (`--gil`: only the thread holding the GIL, so waits on PostgreSQL or Redis are not counted), then
bench/profile_summary.py ranks functions.

    .venv/bin/python bench/profile_cpu.py [label]   # var/bench/profiles/cpu[-label].txt + summary
"""

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import BIN, RESULTS, ROOT, Site  # noqa: E402

CODE = r"""
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")
django.setup()
from django.contrib.auth import get_user_model
from invitations.web.commands import COMMANDS
User = get_user_model()
a, b = User.objects.get(username="pc0"), User.objects.get(username="pc1")
invite, accept = COMMANDS["callInvite"], COMMANDS["callAccept"]
for _ in range(1000):
    r = invite.run(user=a, device_id="pc", body=invite.ws_schema.model_validate({"invitees": ["pc1"]}))
    accept.run(user=b, device_id="pc", body=accept.ws_schema.model_validate({"callID": r["callID"]}))
"""


def main() -> None:
    label = sys.argv[1] if len(sys.argv) > 1 else ""
    out = RESULTS / "profiles"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"cpu{'-' + label if label else ''}.txt"
    s = Site("profilecpu", RATE_LIMIT_INVITES_PER_MINUTE="1000000000")
    try:
        s.users("pc", 2)
        subprocess.run(
            [
                str(BIN / "py-spy"),
                "record",
                "--gil",
                "--rate",
                "500",
                "--format",
                "raw",
                "-o",
                str(path),
                "--",
                sys.executable,
                "-c",
                CODE,
            ],
            cwd=ROOT,
            env=s.env,
            check=True,
        )
    finally:
        s.stop()
    subprocess.run([sys.executable, str(ROOT / "bench" / "profile_summary.py"), str(path), "", "45"], check=True)


if __name__ == "__main__":
    main()
