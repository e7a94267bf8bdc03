#!/usr/bin/env python3
"""Runs scenarios in every build variant and requires one digest per seed.

Without --scenario, the embedded default scenario; each --scenario FILE adds one.

DESIGN.md: the trace digest for a seed is identical across gcc and clang, -O0
and -O2, and the sanitizer builds.  This harness only starts binaries and
compares what they print; verdicts come from migsim's exit codes (STYLE R23).
"""

import argparse
import os
import re
import subprocess
import sys

VARIANTS = ["release", "debug", "asan", "clang"]


def run(binary, scenario, seed, twice):
    env = {"PATH": "/usr/bin:/bin", "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
           "UBSAN_OPTIONS": "halt_on_error=1"}
    args = [binary, "run"] + ([scenario] if scenario else []) + ["--seed", str(seed)]
    args += ["--twice"] if twice else []
    proc = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    match = re.search(r"trace digest\s+(0x[0-9a-f]+)", proc.stdout)
    return proc.returncode, match.group(1) if match else None, proc.stdout + proc.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--out", default="out")
    parser.add_argument("--scenario", action="append", default=[],
                        help="scenario file (repeatable); default: the embedded one")
    options = parser.parse_args()
    failed = False
    for scenario in options.scenario or [None]:
        for seed in [int(s) for s in options.seeds.split(",")]:
            digests = {}
            for variant in VARIANTS:
                binary = os.path.join(options.out, variant, "migsim")
                code, digest, text = run(binary, scenario, seed, twice=(variant == "release"))
                if code != 0 or digest is None:
                    print("seed %d %s: exit %d\n%s" % (seed, variant, code, text))
                    failed = True
                digests[variant] = digest
            same = len(set(digests.values())) == 1
            print("%sseed %-4d %s %s" % (scenario + " " if scenario else "", seed,
                                        "same" if same else "DIFFER", digests))
            failed |= not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
