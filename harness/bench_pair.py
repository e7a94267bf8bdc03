#!/usr/bin/env python3
"""Times one migsim command line with two binaries, paired: A B A B ...

Each run is a whole process: wall time (monotonic clock around the child),
user and system CPU seconds and peak RSS from the kernel's accounting of the
finished child (wait4).  One warm-up pair is run first and not counted.  Prints
each figure's median for A and for B and the median, minimum and maximum of
the pairwise ratios B/A, so a machine whose speed drifts between runs still
gives a fair comparison.  If both binaries print a trace digest, the digests
are compared too (a speed change should say whether it changed the trace).

  python3 harness/bench_pair.py --a /tmp/migsim-old --b out/release/migsim \\
      --runs 5 -- run conformance/scenarios/bench-1g.json

Without --b, only A is run and its medians printed.  The children get a
scrubbed environment (PATH only).  This script only measures; it judges
nothing (exit 0 unless a child could not be started or exited non-zero).
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
FIGURES = ["wall_s", "user_s", "sys_s", "cpu_s", "rss_mib"]


def run_once(binary, args):
    start = time.monotonic()
    child = subprocess.Popen([binary] + args, env=ENV, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    output = child.stdout.read().decode(errors="replace")
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    digest = re.search(r"trace digest\s+(0x[0-9a-f]+)", output)
    return {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024.0,
        "exit": child.returncode,
        "digest": digest.group(1) if digest else None,
        "output": output,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--a", required=True, help="binary A (e.g. a copy of the old build)")
    parser.add_argument("--b", help="binary B (e.g. out/release/migsim)")
    parser.add_argument("--runs", type=int, default=5, help="counted runs of each binary")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then migsim's arguments")
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    binaries = [options.a] + ([options.b] if options.b else [])
    results = {binary: [] for binary in binaries}
    for index in range(options.runs + 1):
        for binary in binaries:
            result = run_once(binary, args)
            if result["exit"] != 0:
                print(f"{binary} {' '.join(args)}: exit {result['exit']}\n{result['output']}")
                return 1
            if index > 0:  # the first pair warms caches and the page allocator
                results[binary].append(result)
    print(f"command: migsim {' '.join(args)}; {options.runs} counted runs each, "
          f"paired, after one warm-up; {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}")
    header = f"{'figure':8}  {'A median':>10}"
    if options.b:
        header += f"  {'B median':>10}  {'B/A median':>10}  {'B/A min':>8}  {'B/A max':>8}"
    print(header)
    for figure in FIGURES:
        a_values = [r[figure] for r in results[options.a]]
        line = f"{figure:8}  {statistics.median(a_values):10.3f}"
        if options.b:
            b_values = [r[figure] for r in results[options.b]]
            ratios = [b / a if a > 0 else float("inf") for a, b in zip(a_values, b_values)]
            line += (f"  {statistics.median(b_values):10.3f}  {statistics.median(ratios):10.3f}"
                     f"  {min(ratios):8.3f}  {max(ratios):8.3f}")
        print(line)
    digests = {binary: {r["digest"] for r in results[binary]} for binary in binaries}
    if all(None not in d for d in digests.values()):
        for binary in binaries:
            print(f"trace digest {binary}: {' '.join(sorted(digests[binary]))}")
        if options.b:
            same = digests[options.a] == digests[options.b]
            print("trace digests: " + ("same" if same else "DIFFER"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
