#!/usr/bin/env python3
"""The real-QEMU compatibility matrix (issue 13 item 6; docs/compat.md).

For every QEMU binary given (--qemu, repeatable; default: qemu-system-x86_64
on PATH) and every machine type asked for (--machines) that the binary
offers, it records one stream of a paused guest with harness/record.py's
recorder, then loads each stream into every binary on the same machine type
(the diagonal, when one binary is given), plus cross-machine-type cells that
must be refused.  Each load is a real QEMU destination (-incoming exec:cat).

Each cell's verdict is predicted before the load from the two sides'
`-dump-vmstate` files: `migsim vmstate-diff --direction forward` (an error
predicts a refusal) and the machine types (different names: refused by the
configuration section, which QEMU 2.9+ machine types send and expect).  The
prediction and QEMU's verdict must agree; a disagreement is printed and
fails the run.  What it skipped (missing binaries, machine types a binary
lacks, cross-version cells with one binary) is printed and counted.

Verdicts come from QEMU's and migsim's exit codes; this script only starts
binaries and compares what they report (STYLE tangle 7).  `migsim inspect
--vmstate DEST.json` will predict the same cells from the stream itself once
the record layer lands (docs/compat.md, "Next steps").
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402
import record  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MACHINES = ["pc-i440fx-2.3", "pc-i440fx-2.12", "pc-i440fx-5.2", "pc-i440fx-7.2",
                    "pc-q35-2.12", "pc-q35-4.2", "pc-q35-7.2"]
# Cross-machine-type cells: (source, destination) pairs that one binary must refuse.
DEFAULT_CROSS = [("pc-i440fx-7.2", "pc-q35-7.2"), ("pc-q35-7.2", "pc-i440fx-7.2"),
                 ("pc-i440fx-5.2", "pc-i440fx-7.2"), ("pc-i440fx-2.3", "pc-i440fx-7.2"),
                 ("pc-i440fx-7.2", "pc-i440fx-2.3")]


def machines_of(binary):
    out = subprocess.run([binary, "-machine", "help"], capture_output=True, text=True,
                         timeout=60)
    return {line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()}


def dump(binary, machine, path):
    subprocess.run([binary, "-machine", machine, "-dump-vmstate", path, "-display", "none",
                    "-nodefaults"], capture_output=True, timeout=120, check=True)
    return path


def predict(migsim, source_dump, dest_dump, source_machine, dest_machine):
    """("refused" | "accepted", why) from vmstate-diff and the machine names."""
    out = subprocess.run([migsim, "vmstate-diff", source_dump, dest_dump, "--direction",
                          "forward", "--format", "json"], capture_output=True, text=True,
                         timeout=120)
    if out.returncode == 2:
        return "error", out.stderr.strip()
    report = json.loads(out.stdout)
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    if source_machine != dest_machine:
        return "refused", "machine types differ (%s, %s): the configuration section" % (
            source_machine, dest_machine)
    if errors:
        return "refused", "%s: %s [%s]" % (errors[0]["path"], errors[0]["message"],
                                           errors[0]["code"])
    return "accepted", "vmstate-diff: compatible (%d warnings)" % report["summary"]["warnings"]


def load(binary, machine, stream, out, name):
    """QEMU's verdict on stream: ("accepted" | "rejected", its error lines).

    A destination that refuses an -incoming stream exits, so a closed QMP
    socket is a refusal, not a harness error (record.roundtrip expects a
    destination that stays up)."""
    config = {"name": name, "machine": machine, "memory_mb": 32, "guest": "paused"}
    argv = record.base_argv(binary, config, out) + ["-S", "-incoming", "exec:cat " + stream]
    qmp_path = os.path.join(out, name + ".qmp")
    stderr_path = os.path.join(out, name + ".stderr")
    if os.path.exists(qmp_path):
        os.unlink(qmp_path)
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(argv + ["-qmp", "unix:%s,server=on,wait=off" % qmp_path],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=stderr)
    verdict, qmp = "rejected", None
    try:
        qmp = qemu_lib.QmpClient(qmp_path)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            status = qmp.command("query-migrate").get("status")
            if status in ("completed", "failed", "cancelled"):
                verdict = "accepted" if status == "completed" else "rejected"
                break
            time.sleep(0.05)
        qmp.command("quit")
    except (qemu_lib.QmpError, OSError):
        pass                              # it exited: the load failed
    if qmp is not None:
        qmp.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with open(stderr_path, errors="replace") as handle:
        lines = [line.strip() for line in handle if line.strip()]
    os.unlink(stderr_path)
    return verdict, " | ".join(lines[:3])


def record_stream(binary, machine, out, name):
    config = {"name": name, "machine": machine, "memory_mb": 32, "guest": "paused"}
    stream = os.path.join(out, name + ".mig")
    if os.path.exists(stream):
        os.unlink(stream)
    result, _ = record.record_source(binary, config, out, stream)
    return stream if result.get("status") == "completed" and os.path.exists(stream) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--qemu", action="append", default=[], help="a QEMU binary (repeatable)")
    parser.add_argument("--machines", default=",".join(DEFAULT_MACHINES))
    parser.add_argument("--no-cross", action="store_true", help="the diagonal only")
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out/release/migsim"))
    parser.add_argument("--out", default=os.path.join(ROOT, "out/qemu-matrix"))
    args = parser.parse_args()
    binaries = [b for b in (qemu_lib.find_qemu(q) for q in (args.qemu or [None])) if b]
    if not binaries:
        qemu_lib.skip("qemu_matrix.py", "no QEMU binary (%s)" % (
            ", ".join(args.qemu) or "qemu-system-x86_64 not on PATH"))
        return 0
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    wanted = args.machines.split(",")
    skipped, streams, dumps = [], {}, {}
    started = time.monotonic()
    for binary in binaries:
        version = qemu_lib.qemu_version(binary).split()[3] if qemu_lib.qemu_version(binary) else "?"
        offered = machines_of(binary)
        for machine in wanted:
            if machine not in offered:
                skipped.append("%s has no machine type %s" % (version, machine))
                continue
            name = "%s_%s" % (version, machine)
            dumps[(binary, machine)] = dump(binary, machine, os.path.join(out, name + ".json"))
            streams[(binary, machine)] = record_stream(binary, machine, out, name)
            if streams[(binary, machine)] is None:
                skipped.append("%s %s: the source did not complete its migration" % (
                    version, machine))
    if len(binaries) == 1:
        skipped.append("cross-version cells: one QEMU binary given (pass --qemu twice or more)")
    cells = []
    for (src_bin, src_machine), stream in sorted(streams.items()):
        if stream is None:
            continue
        targets = [(b, src_machine) for b in binaries]
        if not args.no_cross:
            targets += [(src_bin, d) for s, d in DEFAULT_CROSS if s == src_machine]
        for dst_bin, dst_machine in targets:
            if (dst_bin, dst_machine) not in dumps:
                continue
            cells.append(run_cell(args.migsim, out, dumps, src_bin, src_machine, stream,
                                  dst_bin, dst_machine))
    return report(cells, skipped, out, time.monotonic() - started)


def run_cell(migsim, out, dumps, src_bin, src_machine, stream, dst_bin, dst_machine):
    name = "load_%s_to_%s" % (src_machine, dst_machine)
    predicted, why = predict(migsim, dumps[(src_bin, src_machine)],
                             dumps[(dst_bin, dst_machine)], src_machine, dst_machine)
    verdict, error = load(dst_bin, dst_machine, stream, out, name)
    observed = "accepted" if verdict == "accepted" else "refused"
    return {"source": {"qemu": qemu_lib.qemu_version(src_bin), "machine": src_machine},
            "destination": {"qemu": qemu_lib.qemu_version(dst_bin), "machine": dst_machine},
            "kind": "diagonal" if src_machine == dst_machine else "cross-machine",
            "predicted": predicted, "prediction": why, "qemu": observed, "qemu_error": error,
            "agree": predicted == observed}


def report(cells, skipped, out, seconds):
    print("%-16s %-16s %-9s %-9s %s" % ("source", "destination", "predicted", "QEMU", "agree"))
    for cell in cells:
        print("%-16s %-16s %-9s %-9s %s" % (cell["source"]["machine"],
                                            cell["destination"]["machine"], cell["predicted"],
                                            cell["qemu"], "yes" if cell["agree"] else "NO"))
        if not cell["agree"] or cell["qemu"] == "refused":
            print("    predicted: %s\n    QEMU: %s" % (cell["prediction"],
                                                     cell["qemu_error"] or "(no error line)"))
    disagree = sum(not c["agree"] for c in cells)
    print("qemu_matrix: %d cells (%d diagonal, %d cross-machine), %d disagree, %.1f s" % (
        len(cells), sum(c["kind"] == "diagonal" for c in cells),
        sum(c["kind"] == "cross-machine" for c in cells), disagree, seconds))
    for why in skipped:
        print("qemu_matrix: skipped: %s" % why)
    with open(os.path.join(out, "matrix.json"), "w") as handle:
        json.dump({"schema": "migsim-qemu-matrix/1", "cells": cells, "skipped": skipped},
                  handle, indent=1)
        handle.write("\n")
    return 1 if disagree else 0


if __name__ == "__main__":
    sys.exit(main())
