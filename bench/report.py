"""The target table of docs/performance.md, from the figures bench/run_all.sh wrote (var/bench/*.json,
or BENCH_RESULTS): every latency and throughput figure as a ratio to both floors of the same run.

    .venv/bin/python bench/report.py [small]
"""

import json
import os
import sys
from functools import reduce
from pathlib import Path

RESULTS = Path(os.environ.get("BENCH_RESULTS") or Path(__file__).resolve().parent.parent / "var" / "bench").resolve()


def load(name: str, suffix: str) -> dict:
    path = RESULTS / f"{name}{suffix}.json"
    return json.loads(path.read_text()) if path.exists() else {"figures": {}, "when": "not run", "loadavg_at_end": ""}


def get(d: dict, *keys: str):
    return reduce(lambda a, k: (a or {}).get(k), keys, d)


def ratio(a, b) -> str:
    try:
        return f"{a / b:.1f}x"
    except (TypeError, ZeroDivisionError):
        return "n/a"


def verdict(ok) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**no**")


def check(value, limit, le: bool = True):
    try:
        return value <= limit if le else value >= limit
    except TypeError:
        return None


def main(scale: str = "full") -> None:
    sfx = "-small" if scale == "small" else ""
    runs = {n: load(n, sfx) for n in ("floor", "latency", "throughput", "connections", "timeouts", "list_depth")}
    F, L, T, C, O, D = (runs[n]["figures"] for n in runs)  # noqa: E741  (one letter per run, as in the table)
    bare, durable = F.get("bare", F), F.get("durable", {})
    rows = []

    def hop(label: str, site_key: str, floor_key: str) -> None:
        p50, p99 = get(L, site_key, "p50_ms"), get(L, site_key, "p99_ms")
        d50, d99 = get(durable, floor_key, "p50_ms"), get(durable, floor_key, "p99_ms")
        ok = None
        if None not in (p50, p99, d50, d99):
            ok = p50 <= 4 * d50 and p99 <= 10 * d99
        rows.append(
            (
                label,
                "p50 <= 4x durable, p99 <= 10x durable",
                f"p50 {p50} / p99 {p99} ms",
                f"durable p50 {ratio(p50, d50)}, p99 {ratio(p99, d99)}; bare p50 "
                f"{ratio(p50, get(bare, floor_key, 'p50_ms'))}",
                verdict(ok),
            )
        )

    hop("invite (WS cmd) -> callInvitationReceived, other Daphne", "invite_ws_to_received", "hop_invite_to_received")
    ws50, http50 = get(L, "invite_ws_to_received", "p50_ms"), get(L, "invite_http_to_received", "p50_ms")
    rows.append(
        (
            "invite (HTTP) -> callInvitationReceived",
            "p50 <= 1.5x the WS path",
            f"p50 {http50} / p99 {get(L, 'invite_http_to_received', 'p99_ms')} ms",
            f"WS path {ratio(http50, ws50)}",
            verdict(check(http50, 1.5 * ws50) if ws50 else None),
        )
    )
    hop("accept (WS cmd) -> caller notified", "accept_to_caller_notified_after_ws", "hop_accept_to_notified")
    cps, dcps = get(T, "cycles_per_s"), get(durable, "throughput", "cycles_per_s")
    rows.append(
        (
            "full cycles/s, 50 pairs",
            ">= 1/3 of durable, 0 errors",
            f"{cps}/s, {get(T, 'errors')} errors",
            f"durable {ratio(cps, dcps)}, bare {ratio(cps, get(bare, 'throughput', 'cycles_per_s'))}",
            verdict(check(cps, dcps / 3, le=False) and get(T, "errors") == 0 if dcps else None),
        )
    )
    cpu = get(T, "cpu_ms_per_cycle") or {}
    server_cpu = round(sum(v for k, v in cpu.items() if k != "load_generator"), 2) if cpu else None
    rows.append(
        (
            "CPU per full cycle, all server processes",
            "<= 4 ms",
            f"{server_cpu} ms ({cpu})",
            "",
            verdict(check(server_cpu, 4)),
        )
    )
    late = get(O, "lateness") or {}
    rows.append(
        (
            "timeout lateness, 5,000 deadlines in one second",
            "p99 <= 1 s, max <= 1.5 s, none early",
            f"p50 {late.get('p50_ms')} / p99 {late.get('p99_ms')} / max {late.get('max_ms')} ms, "
            f"{get(O, 'early_events')} early, {get(O, 'missing_events')} missing",
            "",
            verdict(
                None if not late else late["p99_ms"] <= 1000 and late["max_ms"] <= 1500 and not get(O, "early_events")
            ),
        )
    )
    for label, key in (("first page", "http_first_page"), ("500,000 deep", "http_page_500k_deep")):
        p50 = get(D, key, "p50_ms")
        rows.append(
            (
                f"list page over HTTP, {label}",
                "p50 <= 5 ms",
                f"p50 {p50} / p99 {get(D, key, 'p99_ms')} ms",
                "",
                verdict(check(p50, 5)),
            )
        )
    kb, rate = get(C, "kb_per_connection"), get(C, "connects_per_s")
    rows.append(
        (
            "10,000 idle sockets per Daphne",
            "<= 30 KB each, opened at >= 500/s",
            f"{get(C, 'sockets_open')} open, {kb} KB each, {rate}/s",
            "",
            verdict(None if kb is None else kb <= 30 and rate >= 500),
        )
    )
    print("| figure | target | measured | ratio to the floors (same run) | reached |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    print("\nRun at: " + ", ".join(f"{n} {x['when']} (load {x['loadavg_at_end']})" for n, x in runs.items()))


if __name__ == "__main__":
    main(*sys.argv[1:])
