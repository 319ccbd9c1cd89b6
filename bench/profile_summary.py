"""Summarize py-spy raw (collapsed) profiles: the functions with the most samples
on the stack (inclusive) and at the top (self), project code and libraries alike.

    .venv/bin/python bench/profile_summary.py var/bench/profiles/throughput-web1.txt [pattern]
"""

import collections
import sys


def main(path: str, pattern: str = "", top: str = "25") -> None:
    inclusive: collections.Counter = collections.Counter()
    own: collections.Counter = collections.Counter()
    total = 0
    for line in open(path):
        stack, _, count = line.rstrip().rpartition(" ")
        n = int(count)
        frames = stack.split(";")
        if frames and frames[0].startswith("process"):
            frames = frames[1:]
        # idle threads (waiting on a lock, select, sleep) are not CPU
        if any(f.startswith(("select ", "wait (threading", "_worker (concurrent")) for f in frames[-1:]):
            continue
        total += n
        for f in set(frames):
            if pattern in f:
                inclusive[f] += n
        own[frames[-1]] += n
    print(f"{total} samples (busy stacks)")
    print("-- inclusive")
    for f, n in inclusive.most_common(int(top)):
        print(f"{100 * n / total:5.1f}%  {f}")
    print("-- self")
    for f, n in own.most_common(int(top)):
        print(f"{100 * n / total:5.1f}%  {f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
