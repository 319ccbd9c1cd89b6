"""Where one invite + accept spends its time, in-process (pyinstrument), on a
bench database: the service layer without any network hop in front of it.

    .venv/bin/python bench/profile_ops.py   # writes var/bench/profile_ops.txt
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.lib import RESULTS, Site  # noqa: E402

CODE = r"""
from pyinstrument import Profiler
from django.contrib.auth import get_user_model
from invitations.calls import actions
User = get_user_model()
a, b = User.objects.get(username="po0"), User.objects.get(username="po1")
def cycle():
    call_id = actions.call_invite(user=a, invitees=["po1"])["callID"]
    actions.call_accept(user=b, call_id=call_id)
for _ in range(30):
    cycle()
p = Profiler(interval=0.0005)
p.start()
for _ in range(300):
    cycle()
p.stop()
print(p.output_text(unicode=False, color=False, show_all=False))
"""


def main() -> None:
    s = Site("profile", RATE_LIMIT_INVITES_PER_MINUTE="1000000000", RATE_LIMIT_INVITEES_PER_MINUTE="1000000000")
    try:
        s.users("po", 2)
        out = s.django(CODE)
    finally:
        s.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "profile_ops.txt").write_text(out)
    print(out)


if __name__ == "__main__":
    main()
