#!/usr/bin/env python3
"""The real-QEMU compatibility matrix (issue 13 item 6; docs/compat.md).

For every QEMU binary given (--qemu, repeatable; default: qemu-system-x86_64
on PATH) and every machine type asked for (--machines) that the binary
offers, it records one stream of a paused guest with harness/record.py's
recorder and dumps that machine type's `-dump-vmstate`, then loads each
stream into every binary on the same machine type (the diagonal, when one
binary is given), plus cross-machine-type cells.  Each load is a real QEMU
destination (-incoming exec:cat).

Each cell's verdict is predicted twice before the load:
  inspect  `migsim inspect STREAM --validate --machine DEST --vmstate
           DEST.json`: the stream checked as that destination reads it
           (migration/mig_destcheck.c); exit 0 accepted, 2 refused; a
           refusal ending "[policy FIELD]" is one QEMU would not make
           (migsim cannot check the stream), reported as "unverifiable";
  dumps    `migsim vmstate-diff --direction forward` of the two dumps (an
           error: refused) and the machine-type names (different: refused
           by the configuration section).
The inspect prediction is compared with QEMU's verdict.  A disagreement is
explained when the harness finds its cause: the RAM block lists of the two
machine types (QEMU's `info ramblock`) differ in a way QEMU's RAM load
refuses (-dump-vmstate does not list RAM blocks), or inspect's refusal is a
policy one.  An unexplained disagreement fails the
run.  What it skipped (missing binaries, machine types a binary lacks,
cross-version cells with one binary) is printed and counted.

Verdicts come from QEMU's and migsim's exit codes; this script starts
binaries and compares what they report (STYLE tangle 7).
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
DEFAULT_MACHINES = ["pc-i440fx-1.4", "pc-i440fx-1.7", "pc-i440fx-2.0", "pc-i440fx-2.2",
                    "pc-i440fx-2.3", "pc-i440fx-2.8", "pc-i440fx-2.12", "pc-i440fx-5.2",
                    "pc-i440fx-7.2", "pc-q35-2.4", "pc-q35-2.12", "pc-q35-4.2", "pc-q35-7.2"]
# Cross-machine-type cells of one binary, (source, destination), and what each probes.
DEFAULT_CROSS = [
    ("pc-i440fx-7.2", "pc-q35-7.2"),      # another chipset: the configuration's name
    ("pc-q35-7.2", "pc-i440fx-7.2"),
    ("pc-i440fx-5.2", "pc-i440fx-7.2"),   # same chipset, other version: the name
    ("pc-q35-2.4", "pc-q35-2.12"),
    ("pc-i440fx-2.3", "pc-i440fx-7.2"),   # no configuration into a type that expects one
    ("pc-i440fx-2.3", "pc-i440fx-2.8"),
    ("pc-i440fx-7.2", "pc-i440fx-2.3"),   # a configuration into a type that expects none
    ("pc-i440fx-1.4", "pc-i440fx-1.7"),   # neither sends one: the RAM blocks decide
    ("pc-i440fx-1.7", "pc-i440fx-2.0"),
    ("pc-i440fx-2.3", "pc-i440fx-1.4"),
    ("pc-i440fx-2.3", "pc-i440fx-2.2"),
    ("pc-i440fx-2.2", "pc-i440fx-2.3"),
]
NOISE = ("is deprecated",)                # QEMU warnings that are not the load's verdict


def machines_of(binary):
    out = subprocess.run([binary, "-machine", "help"], capture_output=True, text=True,
                         timeout=60)
    return {line.split()[0] for line in out.stdout.splitlines()[1:] if line.strip()}


def dump(binary, machine, path):
    subprocess.run([binary, "-machine", machine, "-dump-vmstate", path, "-display", "none",
                    "-nodefaults"], capture_output=True, timeout=120, check=True)
    return path


def migsim_run(migsim, argv):
    return subprocess.run([migsim] + argv, capture_output=True, text=True, timeout=120,
                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})


def predict_inspect(migsim, stream, dest_dump, dest_machine):
    """("accepted" | "refused" | "unverifiable" | "error", migsim's line)."""
    out = migsim_run(migsim, ["inspect", stream, "--validate", "--machine", dest_machine,
                              "--vmstate", dest_dump])
    line = out.stderr.strip().splitlines()[0] if out.stderr.strip() else ""
    if out.returncode == 0:
        return "accepted", "migsim inspect: accepted"
    if out.returncode == 2 and line.startswith("offset "):
        return ("unverifiable" if "[policy " in line else "refused"), line
    return "error", "exit %d: %s" % (out.returncode, line)


def predict_dumps(migsim, source_dump, dest_dump, source_machine, dest_machine):
    """("refused" | "accepted" | "error", why) from vmstate-diff and the machine names."""
    out = migsim_run(migsim, ["vmstate-diff", source_dump, dest_dump, "--direction", "forward",
                              "--format", "json"])
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


RAM_BLOCKS = {}                           # (binary, machine): {name: (used, max)}


def ram_blocks(binary, machine, out):
    """{block: (used bytes, max bytes)} of a fresh guest of machine, from QEMU's
    `info ramblock` (the blocks its stream lists; -dump-vmstate does not)."""
    if (binary, machine) not in RAM_BLOCKS:
        config = {"name": "ramblock", "machine": machine, "memory_mb": 32, "guest": "paused"}
        qemu = qemu_lib.Qemu(record.base_argv(binary, config, out) + ["-S"], out,
                             "ramblock_" + machine)
        try:
            text = qemu.qmp.command("human-monitor-command", **{"command-line": "info ramblock"})
        finally:
            qemu.stop()
            qemu.stderr_text(remove=True)
        blocks = {}
        for line in text.splitlines()[1:]:
            words = line.split()          # name, page size (2 words), offset, used, total
            if len(words) >= 6:
                blocks[words[0]] = (int(words[4], 16), int(words[5], 16))
        RAM_BLOCKS[(binary, machine)] = blocks
    return RAM_BLOCKS[(binary, machine)]


def ram_difference(source, dest):
    """What QEMU 7.2's RAM load refuses of the block list (migration/ram.c and
    softmmu/physmem.c qemu_ram_resize at v7.2.0): a source block the destination
    lacks ("Unknown ramblock"), or another used length on a fixed-size block ("Size
    mismatch") or beyond a resizable block's maximum ("Length too large")."""
    for name, (used, _) in source.items():     # info ramblock order, as QEMU walks it
        if name not in dest:
            return "RAM block %s (0x%x bytes) is not on the destination" % (name, used)
        dest_used, dest_max = dest[name]
        resizable = dest_used < dest_max
        if used != dest_used and (not resizable or used > dest_max):
            return "RAM block %s: 0x%x bytes on the source, 0x%x on the destination%s" % (
                name, used, dest_used, " (max 0x%x)" % dest_max if resizable else "")
    return None


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
        lines = [line.strip() for line in handle
                 if line.strip() and not any(noise in line for noise in NOISE)]
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
    parser.add_argument("--report", help="the results JSON (default: OUT/matrix.json)")
    args = parser.parse_args()
    binaries = [b for b in (qemu_lib.find_qemu(q) for q in (args.qemu or [None])) if b]
    if not binaries:
        qemu_lib.skip("qemu_matrix.py", "no QEMU binary (%s)" % (
            ", ".join(args.qemu) or "qemu-system-x86_64 not on PATH"))
        return 0
    if not os.access(args.migsim, os.X_OK):
        print("qemu_matrix: %s is not built (ninja -f build.ninja out/release/migsim)" %
              args.migsim)
        return 2
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    started = time.monotonic()
    skipped, streams, dumps = [], {}, {}
    for binary in binaries:
        prepare(binary, args.machines.split(","), out, streams, dumps, skipped)
    if len(binaries) == 1:
        skipped.append("cross-version cells: one QEMU binary given (pass --qemu twice or "
                       "more; Debian 12 ships QEMU 7.2 only)")
    cells = []
    for (src_bin, src_machine), stream in sorted(streams.items()):
        if stream is None:
            continue
        targets = [(b, src_machine) for b in binaries]
        if not args.no_cross:
            targets += [(src_bin, d) for s, d in DEFAULT_CROSS if s == src_machine]
        for dst_bin, dst_machine in targets:
            if (dst_bin, dst_machine) not in dumps:
                skipped.append("%s -> %s: no destination of that machine type" % (
                    src_machine, dst_machine))
                continue
            cells.append(run_cell(args.migsim, out, dumps, streams, (src_bin, src_machine),
                                  (dst_bin, dst_machine)))
    return report(cells, skipped, args.report or os.path.join(out, "matrix.json"),
                  time.monotonic() - started)


def prepare(binary, wanted, out, streams, dumps, skipped):
    """Dumps and records every wanted machine type binary offers."""
    version_line = qemu_lib.qemu_version(binary)
    version = version_line.split()[3] if len(version_line.split()) > 3 else "?"
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


def explain(out, source, dest, inspect):
    """Why inspect's prediction and QEMU's verdict differ, or None when not known."""
    if inspect[0] == "unverifiable":
        return ("migsim cannot check this stream and refuses it by policy, a refusal QEMU "
                "does not make (it reads each section with its own device code; the "
                "destination's 7.2 dump has no array counts to size them either): "
                + inspect[1])
    if inspect[0] == "accepted":
        difference = ram_difference(ram_blocks(source[0], source[1], out),
                                    ram_blocks(dest[0], dest[1], out))
        if difference is not None:
            return difference + " (QEMU checks the RAM block list on load; -dump-vmstate " \
                                "does not list RAM blocks, so inspect --vmstate cannot)"
    return None


def run_cell(migsim, out, dumps, streams, source, dest):
    stream = streams[source]
    name = "load_%s_to_%s" % (source[1], dest[1])
    inspect = predict_inspect(migsim, stream, dumps[dest], dest[1])
    from_dumps = predict_dumps(migsim, dumps[source], dumps[dest], source[1], dest[1])
    verdict, error = load(dest[0], dest[1], stream, out, name)
    observed = "accepted" if verdict == "accepted" else "refused"
    agree = inspect[0] == observed
    explanation = None if agree else explain(out, source, dest, inspect)
    return {"source": {"qemu": qemu_lib.qemu_version(source[0]), "machine": source[1]},
            "destination": {"qemu": qemu_lib.qemu_version(dest[0]), "machine": dest[1]},
            "kind": "diagonal" if source[1] == dest[1] else "cross-machine",
            "inspect": {"verdict": inspect[0], "reason": inspect[1]},
            "dumps": {"verdict": from_dumps[0], "reason": from_dumps[1]},
            "qemu": {"verdict": observed, "error": error},
            "agree": agree, "dumps_agree": from_dumps[0] == observed,
            "explanation": explanation}


def report(cells, skipped, path, seconds):
    print("%-15s %-15s %-12s %-9s %-9s %s" % ("source", "destination", "inspect", "dumps",
                                             "QEMU", "agree"))
    for cell in cells:
        mark = "yes" if cell["agree"] else ("explained" if cell["explanation"] else "NO")
        print("%-15s %-15s %-12s %-9s %-9s %s" % (
            cell["source"]["machine"], cell["destination"]["machine"],
            cell["inspect"]["verdict"], cell["dumps"]["verdict"], cell["qemu"]["verdict"], mark))
        if not cell["agree"] or cell["qemu"]["verdict"] == "refused":
            print("    inspect: %s\n    QEMU: %s" % (cell["inspect"]["reason"],
                                                    cell["qemu"]["error"] or "(no error line)"))
        if cell["explanation"]:
            print("    why: %s" % cell["explanation"])
    summary = {"cells": len(cells),
               "diagonal": sum(c["kind"] == "diagonal" for c in cells),
               "cross_machine": sum(c["kind"] == "cross-machine" for c in cells),
               "agree": sum(c["agree"] for c in cells),
               "disagree_explained": sum(not c["agree"] and bool(c["explanation"])
                                         for c in cells),
               "disagree_unexplained": sum(not c["agree"] and not c["explanation"]
                                           for c in cells),
               "dumps_agree": sum(c["dumps_agree"] for c in cells),
               "seconds": round(seconds, 1)}
    print("qemu_matrix: %(cells)d cells (%(diagonal)d diagonal, %(cross_machine)d "
          "cross-machine): inspect agrees with QEMU on %(agree)d, disagrees on "
          "%(disagree_explained)d explained and %(disagree_unexplained)d unexplained; "
          "the dumps alone agree on %(dumps_agree)d; %(seconds).1f s" % summary)
    for why in skipped:
        print("qemu_matrix: skipped: %s" % why)
    with open(path, "w") as handle:
        json.dump({"schema": "migsim-qemu-matrix/2", "summary": summary, "cells": cells,
                   "skipped": skipped}, handle, indent=1)
        handle.write("\n")
    print("qemu_matrix: results in %s" % path)
    return 1 if summary["disagree_unexplained"] else 0


if __name__ == "__main__":
    sys.exit(main())
