"""In-process cost of a timeout burst: 300 calls x 9 invitees, all overdue,
expired by one `services.invitations_expire_due()` (what a job or the sweep
runs). Prints the time and a pyinstrument profile.

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
from pyinstrument import Profiler  # noqa: E402

from invitations import services  # noqa: E402
from invitations.models import CallUser  # noqa: E402
from invitations.states import CallUserState  # noqa: E402

invitees = [User.objects.get_or_create(username=f"u{i}")[0] for i in range(100)]
callers = [User.objects.get_or_create(username=f"c{i}")[0] for i in range(300)]
for i, caller in enumerate(callers):
    services.call_invite(user=caller, invitees=[f"u{(i * 9 + k) % 100}" for k in range(9)], timeout=600)
CallUser.objects.filter(state=CallUserState.INVITING).update(deadline=timezone.now())
profiler = Profiler()
profiler.start()
started = time.perf_counter()
expired = services.invitations_expire_due()
elapsed = time.perf_counter() - started
profiler.stop()
print(f"expired {expired} invitations in {elapsed:.3f} s ({elapsed / max(expired, 1) * 1000:.3f} ms each)")
print(profiler.output_text(unicode=False, color=False))
