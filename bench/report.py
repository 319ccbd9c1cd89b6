"""The headline table of docs/performance.md, from bench/results/*.json.

    .venv/bin/python bench/report.py [small]
"""
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def load(name: str, suffix: str) -> dict:
    path = RESULTS / f"{name}{suffix}.json"
    return json.loads(path.read_text()) if path.exists() else {"figures": {}, "when": "not run", "loadavg_at_end": ""}


def main(scale: str = "full") -> None:
    sfx = "-small" if scale == "small" else ""
    lat, tp, con = load("latency", sfx), load("throughput", sfx), load("connections", sfx)
    to, ld, fl = load("timeouts", sfx), load("list_depth", sfx), load("floor", sfx)
    L, T, C, O, D, F = (x["figures"] for x in (lat, tp, con, to, ld, fl))
    g = lambda d, *ks: (lambda v: v)(__import__("functools").reduce(lambda a, k: (a or {}).get(k), ks, d))
    rows = [
        ("1", "invite (WS cmd) -> callInvitationReceived, other Daphne", "p50 <= 5 ms, p99 <= 25 ms",
         f"p50 {g(L,'invite_ws_to_received','p50_ms')} / p99 {g(L,'invite_ws_to_received','p99_ms')} / max {g(L,'invite_ws_to_received','max_ms')} ms",
         f"p50 {g(F,'hop_invite_to_received','p50_ms')} / p99 {g(F,'hop_invite_to_received','p99_ms')} ms"),
        ("1", "invite (HTTP) -> callInvitationReceived", "same",
         f"p50 {g(L,'invite_http_to_received','p50_ms')} / p99 {g(L,'invite_http_to_received','p99_ms')} / max {g(L,'invite_http_to_received','max_ms')} ms", "(same hop)"),
        ("1", "accept (WS cmd) -> callUserStateChanged at caller", "",
         f"p50 {g(L,'accept_to_caller_notified_after_ws','p50_ms')} / p99 {g(L,'accept_to_caller_notified_after_ws','p99_ms')} / max {g(L,'accept_to_caller_notified_after_ws','max_ms')} ms",
         f"p50 {g(F,'hop_accept_to_notified','p50_ms')} / p99 {g(F,'hop_accept_to_notified','p99_ms')} ms"),
        ("2", "full cycles/s, 50 pairs, sustained", ">= 300/s",
         f"{g(T,'cycles_per_s')}/s over {g(T,'seconds')} s, {g(T,'errors')} errors",
         f"{g(F,'throughput','cycles_per_s')}/s, {g(F,'throughput','errors')} errors"),
        ("3", "idle authenticated sockets on one Daphne", "10,000",
         f"{g(C,'sockets_open')} open ({g(C,'connect_failures')} failed), {g(C,'kb_per_connection')} KB each, "
         f"opened at {g(C,'connects_per_s')}/s", ""),
        ("3", "invite (WS) -> received while they are held", "",
         f"p50 {g(C,'latency_while_held','invite_ws_to_received','p50_ms')} / p99 {g(C,'latency_while_held','invite_ws_to_received','p99_ms')} ms", ""),
        ("4", "callInvitationTimeout lateness, deadlines in one second", "p99 <= 1 s",
         f"{g(O,'invitations')} invitations: p50 {g(O,'lateness','p50_ms')} / p99 {g(O,'lateness','p99_ms')} / max {g(O,'lateness','max_ms')} ms, "
         f"{g(O,'missing_events')} missing, {g(O,'early_events')} early", ""),
        ("5", "list, first page (HTTP, 20 calls)", "<= 10 ms",
         f"p50 {g(D,'http_first_page','p50_ms')} / p99 {g(D,'http_first_page','p99_ms')} ms; SQL {g(D,'sql_execution_ms_first_page')} ms", ""),
        ("5", "list, page 500,000 deep", "<= 10 ms, same as first",
         f"p50 {g(D,'http_page_500k_deep','p50_ms') or g(D,'http_page_half_deep','p50_ms')} / p99 {g(D,'http_page_500k_deep','p99_ms') or g(D,'http_page_half_deep','p99_ms')} ms; SQL {g(D,'sql_execution_ms_deep_page')} ms", ""),
    ]
    print("| # | figure | target | measured | floor (bare relay) |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print("| " + " | ".join(str(x) for x in r) + " |")
    try:
        ratio_lat = g(L, 'invite_ws_to_received', 'p50_ms') / g(F, 'hop_invite_to_received', 'p50_ms')
        ratio_tp = g(F, 'throughput', 'cycles_per_s') / g(T, 'cycles_per_s')
        print(f"\nRatio to the floor: invite->received p50 {ratio_lat:.0f}x slower, throughput {ratio_tp:.0f}x lower "
              "(target: within 3x).")
    except (TypeError, ZeroDivisionError):
        pass
    print("\nRun at: " + ", ".join(f"{n} {x['when']} (load {x['loadavg_at_end']})" for n, x in
                                   (("latency", lat), ("throughput", tp), ("connections", con), ("timeouts", to),
                                    ("list_depth", ld), ("floor", fl))))


if __name__ == "__main__":
    main(*sys.argv[1:])
