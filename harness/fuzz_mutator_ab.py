#!/usr/bin/env python3
"""What the structure-aware mutator buys: one target fuzzed with and without it.

Builds out/fuzz/TARGET (with fuzz_mutator.c's LLVMFuzzerCustomMutator) and
out/fuzz/TARGET_nomut (the same object built with -DFUZZ_NO_CUSTOM_MUTATOR,
libFuzzer's own mutator alone), then runs each for --seconds on a fresh copy
of fuzz/corpus/TARGET with the same libFuzzer seed, flags of TARGET.options,
one at a time under `nice -n 19`, and prints, per arm: runs, CPU seconds,
edges (libFuzzer's `cov`) and features at the end, and edges at equal run
counts (libFuzzer's pulse lines at powers of two).  --rounds N alternates
the arms N times (A B A B ...) and reports each round, so drift in the
machine's load touches both arms alike.

Usage: python3 harness/fuzz_mutator_ab.py --target stream_fuzz --seconds 300 [--rounds 1]
Exit status 0, or 2 when a build fails.
"""

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"PATH": "/usr/bin:/bin"}
PULSE = re.compile(r"^#(\d+)\s+(?:pulse|NEW|REDUCE|INITED|DONE)\s+cov: (\d+) ft: (\d+)")


def build(target):
    """Builds both binaries; returns their paths."""
    subprocess.run(["ninja", "-f", "build.ninja", "out/fuzz/" + target], cwd=ROOT, check=True,
                   env=ENV)
    ninja = open(os.path.join(ROOT, "build.ninja")).read()
    block = ninja[ninja.index("build out/fuzz/obj/fuzz/%s.o: cc" % target):]
    cflags = re.search(r"^  cflags = (.*)$", block, re.M).group(1)
    link = ninja[ninja.index("build out/fuzz/%s: link" % target):]
    inputs = link.split("\n")[0].split(": link ")[1].split()
    ldflags = re.search(r"^  ldflags = (.*)$", link, re.M).group(1)
    libs = re.search(r"^  libs = (.*)$", link, re.M).group(1)
    obj = os.path.join(ROOT, "out/fuzz/obj/fuzz/%s_nomut.o" % target)
    includes = ["-Ifuzz", "-Icli", "-Iconformance", "-Imigration", "-Imodels", "-Isim"]
    subprocess.run(["clang", "-std=c11", "-D_POSIX_C_SOURCE=200809L", "-DFUZZ_NO_CUSTOM_MUTATOR"]
                   + cflags.split() + includes + ["-c", "fuzz/%s.c" % target, "-o", obj],
                   cwd=ROOT, check=True, env=ENV)
    exe = os.path.join(ROOT, "out/fuzz/%s_nomut" % target)
    subprocess.run(["clang"] + cflags.split() + ldflags.split() + ["-o", exe, obj] +
                   [os.path.join(ROOT, i) for i in inputs[1:]] + libs.split(),
                   cwd=ROOT, check=True, env=ENV)
    return os.path.join(ROOT, "out/fuzz/" + target), exe


def options(target):
    flags = []
    path = os.path.join(ROOT, "fuzz", target + ".options")
    if os.path.exists(path):
        for line in open(path):
            if "=" in line:
                key, value = (part.strip() for part in line.split("=", 1))
                if key == "dict":
                    value = os.path.join(ROOT, "fuzz", value)
                flags.append("-%s=%s" % (key, value))
    return flags


def run_arm(exe, target, seconds, seed):
    with tempfile.TemporaryDirectory(prefix="migsim-ab-") as work:
        corpus = os.path.join(work, "corpus")
        shutil.copytree(os.path.join(ROOT, "fuzz", "corpus", target), corpus)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = subprocess.run(["nice", "-n", "19", exe, "-seed=%d" % seed,
                              "-max_total_time=%d" % seconds, "-timeout=25",
                              "-artifact_prefix=%s/" % work] + options(target) + [corpus],
                             env=ENV, capture_output=True, text=True, errors="replace")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    points = [tuple(int(g) for g in m.groups()) for m in map(PULSE.match, out.stderr.splitlines())
              if m]
    runs, edges, features = points[-1] if points else (0, 0, 0)
    crashed = "ERROR: libFuzzer" in out.stderr or "assertion failed" in out.stderr
    return {"runs": runs, "cpu": cpu, "edges": edges, "features": features,
            "points": points, "crashed": crashed}


def edges_at(points, runs):
    best = None
    for count, edges, _ in points:
        if count <= runs:
            best = edges
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    try:
        with_mutator, without = build(args.target)
    except subprocess.CalledProcessError as error:
        print("fuzz_mutator_ab.py: build failed: %s" % error)
        return 2
    for index in range(args.rounds):
        arms = {}
        for name, exe in (("with", with_mutator), ("without", without)):
            arms[name] = run_arm(exe, args.target, args.seconds, args.seed + index)
        common = min(arms["with"]["runs"], arms["without"]["runs"])
        mark = 1 << max(0, common.bit_length() - 1)
        for name in ("with", "without"):
            arm = arms[name]
            print("%s round %d %-7s mutator: runs %d, cpu %.0f s, edges %d, features %d, "
                  "edges at %d runs %s%s" % (
                      args.target, index + 1, name, arm["runs"], arm["cpu"], arm["edges"],
                      arm["features"], mark, edges_at(arm["points"], mark),
                      ", CRASHED" if arm["crashed"] else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
