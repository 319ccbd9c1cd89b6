"""CPU per invite + accept cycle, compared between checkouts of the project.

For each tree given (a git worktree or checkout), a site of its own: a bench
database migrated by that tree, two Daphnes (callers on one, callees on the
other) and an rqworker, all running that tree's code (lib.Site with the tree as
its root). Then rounds alternate between the trees (A B A B ...), so that load
from elsewhere on the machine hits them alike: each round drives CYCLES invite +
accept cycles over the real WebSocket API (`PAIRS` caller/callee pairs at once)
and reads the CPU (utime + stime from /proc) of the tree's server processes and
of its database's PostgreSQL backends. Printed per tree: the median CPU ms per
cycle over the rounds, the same for each part, and the ratio to the first tree
(of the medians, and the median of each round's ratio to the first tree's round).

    .venv/bin/python bench/cycle_cpu.py /work/wt/base /work/wt/change
    .venv/bin/python bench/cycle_cpu.py --rounds 10 --cycles 400 A B
    BENCH_SCALE=small .venv/bin/python bench/cycle_cpu.py A B   # a quick check

Figures go to var/bench/cycle_cpu.json and .md (lib.write_results).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import lib  # noqa: E402


@contextmanager
def rooted(tree: Path) -> Iterator[None]:
    """lib.Site runs manage.py, Django snippets and the servers from lib.ROOT: the tree's."""
    root = lib.ROOT
    lib.ROOT = tree
    try:
        yield
    finally:
        lib.ROOT = root


@dataclass
class Tree:
    path: Path
    label: str
    site: lib.Site
    bases: tuple[str, str]  # callers' Daphne, callees' Daphne
    pids: dict[str, int]
    pairs: list[tuple[lib.WS, lib.WS, str]] = field(default_factory=list)
    rounds: list[dict[str, float]] = field(default_factory=list)  # CPU ms per cycle, by part, per round
    walls: list[float] = field(default_factory=list)  # wall ms per cycle, per round


def start(stack: ExitStack, path: Path, index: int, pairs: int) -> tuple[Tree, list, list]:
    with rooted(path):
        site = stack.enter_context(lib.site(f"cycle_cpu_{index}"))
        callers = site.users("cca", pairs)
        callees = site.users("ccb", pairs)
        worker = site.worker()
        web1, base1 = site.daphne("web1")
        web2, base2 = site.daphne("web2")
    pids = {"daphne_callers": web1.pid, "daphne_callees": web2.pid, "rqworker": worker.pid}
    tree = Tree(path=path, label=f"{chr(ord('A') + index)} {path}", site=site, bases=(base1, base2), pids=pids)
    return tree, callers, callees


async def connect(tree: Tree, callers: list, callees: list) -> None:
    base1, base2 = tree.bases
    for (_, caller_token), (callee_name, callee_token) in zip(callers, callees):
        tree.pairs.append(
            (
                await lib.WS.connect(base1, caller_token, "cc"),
                await lib.WS.connect(base2, callee_token, "cc"),
                callee_name,
            )
        )
    await asyncio.sleep(1)  # every socket registered (presence rows) before the first call


async def cycles(tree: Tree, n: int) -> None:
    """n cycles spread over the tree's pairs, each pair one cycle at a time."""
    per_pair = [n // len(tree.pairs) + (1 if i < n % len(tree.pairs) else 0) for i in range(len(tree.pairs))]

    async def pair_cycles(caller: lib.WS, callee: lib.WS, callee_name: str, k: int) -> None:
        for _ in range(k):
            await lib.cycle(caller, callee, callee_name, wait=30)

    await asyncio.gather(*(pair_cycles(*pair, k) for pair, k in zip(tree.pairs, per_pair)))


async def measured_round(tree: Tree, n: int) -> None:
    backends = await asyncio.to_thread(lib.pg_backends, tree.site.db)
    before = {name: lib.cpu_seconds(pid) for name, pid in tree.pids.items()}
    pg_before = {pid: lib.cpu_seconds(pid) for pid in backends}
    started = time.perf_counter()
    await cycles(tree, n)
    wall = time.perf_counter() - started
    cpu = {name: lib.cpu_seconds(pid) - before[name] for name, pid in tree.pids.items()}
    # backends opened during the round count whole (all their CPU is the round's)
    after = await asyncio.to_thread(lib.pg_backends, tree.site.db)
    cpu["postgres_backends"] = sum(lib.cpu_seconds(pid) - pg_before.get(pid, 0.0) for pid in after)
    per_cycle = {name: 1000 * seconds / n for name, seconds in cpu.items()}
    per_cycle["total"] = sum(per_cycle.values())
    tree.rounds.append(per_cycle)
    tree.walls.append(1000 * wall / n)
    print(
        f"  {tree.label}: {per_cycle['total']:.2f} CPU ms/cycle "
        f"(postgres {per_cycle['postgres_backends']:.2f}), {1000 * wall / n:.2f} wall ms/cycle, "
        f"load {lib.load_average()}",
        flush=True,
    )


async def drive(trees: list[Tree], starts: list[tuple[list, list]], rounds: int, n: int, warmup: int) -> None:
    for tree, (callers, callees) in zip(trees, starts):
        await connect(tree, callers, callees)
        await cycles(tree, warmup)  # imports, pools, prepared statements, plans
    try:
        for r in range(rounds):
            print(f"round {r + 1}/{rounds}", flush=True)
            for tree in trees:
                await measured_round(tree, n)
    finally:
        for tree in trees:
            for caller, callee, _ in tree.pairs:
                await caller.close()
                await callee.close()


def figures_of(trees: list[Tree]) -> dict[str, Any]:
    first = statistics.median(r["total"] for r in trees[0].rounds)
    out: dict[str, Any] = {}
    for tree in trees:
        parts = {name: round(statistics.median(r[name] for r in tree.rounds), 3) for name in tree.rounds[0]}
        # each round against the first tree's round just before it (the same load, near enough)
        paired = [r["total"] / f["total"] for r, f in zip(tree.rounds, trees[0].rounds)]
        out[tree.label] = {
            "median_cpu_ms_per_cycle": parts.pop("total"),
            "ratio_to_first": round(statistics.median(r["total"] for r in tree.rounds) / first, 3),
            "median_of_round_ratios_to_first": round(statistics.median(paired), 3),
            "median_cpu_ms_per_cycle_by_part": parts,
            "rounds_cpu_ms_per_cycle": str([round(r["total"], 2) for r in tree.rounds]),
            "median_wall_ms_per_cycle": round(statistics.median(tree.walls), 2),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trees", nargs="+", type=Path, help="checkouts to compare; the first is the reference")
    parser.add_argument("--rounds", type=int, default=4 if lib.SMALL else 8, help="measured rounds per tree")
    parser.add_argument("--cycles", type=int, default=100 if lib.SMALL else 300, help="cycles per round")
    parser.add_argument("--pairs", type=int, default=4, help="caller/callee pairs cycling at once")
    parser.add_argument("--warmup", type=int, default=50 if lib.SMALL else 150, help="cycles per tree first")
    args = parser.parse_args()
    paths = [p.resolve() for p in args.trees]
    for path in paths:
        if not (path / "manage.py").exists():
            parser.error(f"{path}: not a checkout of the project (no manage.py)")
    lib.raise_nofile()
    with ExitStack() as stack:
        trees, starts = [], []
        for i, path in enumerate(paths):
            tree, callers, callees = start(stack, path, i, args.pairs)
            trees.append(tree)
            starts.append((callers, callees))
        asyncio.run(drive(trees, starts, args.rounds, args.cycles, args.warmup))
    figures = figures_of(trees)
    lib.write_results(
        "cycle_cpu",
        figures,
        notes=f"{args.rounds} rounds per tree, alternating A B A B ...; {args.cycles} invite + accept cycles a "
        f"round over WebSocket commands, {args.pairs} pairs at once, after {args.warmup} warm-up cycles; CPU of "
        "both Daphnes, the rqworker and the database's PostgreSQL backends (utime + stime, /proc).",
    )


if __name__ == "__main__":
    main()
