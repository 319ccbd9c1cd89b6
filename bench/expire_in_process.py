"""In-process cost of a timeout burst: EXPIRE_CALLS calls (default 556) x 9
invitees, all overdue, expired by one `deadlines.invitations_expire_due()` (what
the deadline waiter, or the sweep, runs). Prints the time and a pyinstrument
profile (EXPIRE_PROFILE=0: the time only, e.g. under `py-spy record --gil`).

    psql -h 127.0.0.1 -U postgres -c "create database bench_expire"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_expire .venv/bin/python manage.py migrate
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/bench_expire REDIS_PREFIX=bench-expire \\
        SECRET_KEY=bench-only RATE_LIMIT_INVITES_PER_MINUTE=0 RATE_LIMIT_INVITEES_PER_MINUTE=0 .venv/bin/python bench/expire_in_process.py
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "callsite.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.utils import timezone  # noqa: E402

from invitations.calls import actions, deadlines  # noqa: E402
from invitations.calls.states import CallUserState  # noqa: E402
from invitations.models import CallUser  # noqa: E402

CALLS = int(os.environ.get("EXPIRE_CALLS", "556"))
PROFILE = os.environ.get("EXPIRE_PROFILE", "1") == "1"
STREAMS = int(os.environ.get("EXPIRE_STREAMS", "1"))  # concurrent transactions (invitations_expire_due(streams=))
# Calls per round, as the deadline waiter sees them when deadlines are spread over a
# second: each round expires what came due since the last (0: all in one call).
ROUND = int(os.environ.get("EXPIRE_ROUND_CALLS", "0"))

invitees = [User.objects.get_or_create(username=f"u{i}")[0] for i in range(500)]
callers = [User.objects.get_or_create(username=f"c{i}")[0] for i in range(CALLS)]
for i, caller in enumerate(callers):
    actions.call_invite(user=caller, invitees=[f"u{(i * 9 + k) % 500}" for k in range(9)], timeout=600)
CallUser.objects.filter(state=CallUserState.INVITING).update(deadline=timezone.now())
if PROFILE:
    from pyinstrument import Profiler

    profiler = Profiler()
    profiler.start()
cpu = time.process_time()  # all threads: the streams and the event publisher
started = time.perf_counter()
if ROUND:
    from invitations.calls.deadlines import _expire
    from invitations.calls.operation import each_call_locked

    pks = sorted(set(CallUser.objects.filter(state=CallUserState.INVITING).values_list("call_id", flat=True)))
    expired = sum(each_call_locked(pks[i : i + ROUND], _expire, skip_locked=True) for i in range(0, len(pks), ROUND))
else:
    expired = deadlines.invitations_expire_due(streams=STREAMS)
elapsed = time.perf_counter() - started
cpu = time.process_time() - cpu
print(
    f"{STREAMS} stream(s), rounds of {ROUND or 'all'} calls: expired {expired} invitations in {elapsed:.3f} s wall, {cpu:.3f} s CPU of the process "
    f"({elapsed / max(expired, 1) * 1000:.3f} ms wall, {cpu / max(expired, 1) * 1000:.3f} ms CPU each)"
)
if PROFILE:
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False))
