#!/usr/bin/env bash
# Run every benchmark; figures print and land in var/bench/ (JSON + markdown;
# BENCH_RESULTS picks another folder), then .venv/bin/python bench/report.py prints the table.
#   bench/run_all.sh                       full size (about 15 minutes)
#   BENCH_SCALE=small bench/run_all.sh     a quick check of the scripts
#   BENCH_PYSPY=1 bench/run_all.sh         also sample every server process with py-spy
# Needs requirements-dev.txt in .venv (scripts/test installs it), PostgreSQL
# (BENCH_PG, default postgres://postgres@127.0.0.1:5432) and Redis
# (BENCH_REDIS_URL); each benchmark creates and drops its own bench_* database and
# uses a Redis prefix and RQ queue of its own.
set -uo pipefail  # one failing benchmark does not stop the others
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"   # benchmark 3 holds 10,000 sockets on each end
PY=.venv/bin/python
for bench in ${BENCHES:-floor latency throughput connections timeouts list_depth query_counts waterfall}; do
  echo "== $bench (${BENCH_SCALE:-full}), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  $PY bench/$bench.py || echo "!! $bench failed"
done
