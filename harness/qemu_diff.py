#!/usr/bin/env python3
"""Differential fuzzing against a real QEMU: mutants of real streams into
`qemu-system-x86_64 -incoming` and into `migsim inspect --validate`.

For each corpus stream chosen (--streams, five small QEMU 7.2 recordings by
default) the structure-aware mutator of fuzz/fuzz_mutator.c writes mutants
(`out/release/stream_fuzz_replay --mutate N --seed S --out DIR --structural`,
one record, field, subsection, footer, length or version edited per mutant).
Each mutant is then

  1. loaded by the sidecar's destination command line with
     `-incoming exec:cat MUTANT` and QMP; its verdict is `accepted`
     (query-migrate says completed), `refused` (failed, or QEMU exited with a
     status), `crashed` (QEMU died of a signal) or `hung` (no verdict within
     --timeout-seconds; QEMU is killed).  Verdicts are cached by the mutant's
     sha256 and the command line in WORK/qemu-verdicts.jsonl, so a rerun (or a
     new migsim) costs no QEMU time;
  2. walked by `migsim inspect MUTANT --validate`, with `--machine TYPE
     --vmstate DUMP` (the destination's machine type and its
     `-dump-vmstate` file from the corpus's vmstate/ folder) when migsim
     knows those options and --no-destination is not given.

A QEMU crash counts as a refusal.  Each disagreement is triaged:

  migsim-too-lax      QEMU refused (or crashed), migsim accepted;
  migsim-policy       migsim refused by a documented policy difference
                      (its error names the mig_policy field, "[policy X]",
                      is a trailer error: QEMU 7.2 never reads the trailer
                      when it loads, or is one of hostile.md's deliberate
                      §11.3 checks listed in DOCUMENTED);
  migsim-stricter     migsim refused what QEMU accepted, without a policy;
  qemu-wrong          QEMU crashed or hung (a finding either way).

Output: a table on stdout, the report (--report, JSON: every mutant's
verdicts, every disagreement with its mutation and both error lines, every
QEMU finding with a one-line reproduction).  Exit status: 0 when every
mutant agrees or its disagreement is triaged as policy or qemu-wrong, 1
otherwise (with --strict), 2 on bad usage or a missing tool.  Without
--strict the exit status is 0 whenever the run completed.
"""

import argparse
import hashlib
import json
import lzma
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import qemu_lib  # noqa: E402
from qemu_load_rechunk import needs_missing_resources, stand_in_resources  # noqa: E402

ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
STREAMS = [
    "microvm_m32_virtio-mmio-blk",
    "pc-i440fx-2.12_m32_ahci_serial_pvpanic",
    "pc-i440fx-7.2_m32_running-seabios",
    "pc-i440fx-7.2_m64_e1000",
    "pc-q35-7.2_m32_validate-uuid",
]


def sha256_file(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Stream:
    """One corpus stream: its bytes on disk, its destination argv, its machine."""

    def __init__(self, args, name, work):
        self.name = name
        self.sidecar = json.load(open(os.path.join(args.corpus, name + ".json")))
        self.path = os.path.join(work, "streams", name + ".mig")
        if not os.path.exists(self.path):
            with open(os.path.join(args.corpus, name + ".mig.xz"), "rb") as packed:
                data = lzma.decompress(packed.read())
            with open(self.path, "wb") as out:
                out.write(data)
        resources = None
        if needs_missing_resources(self.sidecar, None) is not None:
            resources = stand_in_resources(self.sidecar, os.path.join(work, "resources", name))
        argv = [args.qemu if a == "qemu-system-x86_64" else a
                for a in self.sidecar["argv_destination"]]
        if resources:
            argv = [a.replace("{W}", resources) for a in argv]
        self.argv = argv
        machine = argv[argv.index("-machine") + 1].split(",")[0]
        self.machine = machine
        dump = os.path.join(args.corpus, "vmstate", machine + ".vmstate.json")
        self.dump = dump if os.path.exists(dump) else None
        self.defer = self.sidecar["roundtrip_load"].get("mode") == "defer"
        self.ram_blocks = None  # the destination's RAM blocks: ram_blocks_of(), once


def ram_blocks_of(args, stream):
    """The RAM blocks of the unmutated stream: the sidecar's destination loads it, so they
    are that destination's (`info ramblock`), passed to migsim as --ram-block."""
    if stream.ram_blocks is None:
        out = subprocess.run([args.migsim, "inspect", stream.path], env=ENV, capture_output=True,
                             text=True, errors="replace", check=True)
        lines = out.stdout.splitlines()
        stream.ram_blocks = []
        if "RAM blocks:" not in lines:
            return stream.ram_blocks
        start = lines.index("RAM blocks:") + 2  # the title, then the column heads
        for line in lines[start:]:
            if not line.strip():
                break
            stream.ram_blocks.append(line.split()[0])
    return stream.ram_blocks


def make_mutants(args, stream, count, seed, folder):
    """[(path, note)] of count mutants of stream, seeds seed .. seed+count-1."""
    os.makedirs(folder, exist_ok=True)
    out = subprocess.run([args.mutator, "--mutate", str(count), "--seed", str(seed),
                          "--out", folder, "--structural", stream.path],
                         env=ENV, capture_output=True, text=True, check=True)
    mutants = []
    for line in out.stdout.splitlines():
        path, note = line.split("\t", 1)
        mutants.append((path, note))
    return mutants


def first_error_line(text):
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "warning" not in line.lower():
            return line
    return lines[0] if lines else ""


def qemu_load(args, stream, mutant, sock):
    """(verdict, detail, seconds) of QEMU loading mutant."""
    argv = [("defer" if stream.defer else "exec:cat " + mutant) if a == "<uri>" else a
            for a in stream.argv]
    argv += ["-qmp", "unix:%s,server=on,wait=off" % sock]
    if os.path.exists(sock):
        os.unlink(sock)
    started = time.monotonic()
    child = subprocess.Popen(argv, env=ENV, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    verdict, detail = "hung", "no verdict after %.0f s" % args.timeout_seconds
    qmp = None
    try:
        while not os.path.exists(sock) and child.poll() is None and \
                time.monotonic() - started < args.timeout_seconds:
            time.sleep(0.01)
        if child.poll() is not None:
            raise qemu_lib.QmpError("QEMU exited before QMP")
        qmp = qemu_lib.QmpClient(sock, args.timeout_seconds)
        if stream.defer:
            caps = [{"capability": k, "state": v} for k, v in
                    sorted(stream.sidecar.get("destination_capabilities", {}).items())]
            qmp.command("migrate-set-capabilities", capabilities=caps)
            qmp.command("migrate-incoming", uri="exec:cat " + mutant)
        while time.monotonic() - started < args.timeout_seconds:
            if child.poll() is not None:
                break
            status = (qmp.command("query-migrate") or {}).get("status")
            if status == "completed":
                verdict, detail = "accepted", ""
                break
            if status == "failed":
                verdict, detail = "refused", "query-migrate: failed"
                break
            time.sleep(0.02)
    except (OSError, qemu_lib.QmpError):
        pass  # QEMU went away: its exit status says why
    if verdict in ("accepted", "refused") and child.poll() is None:
        try:
            qmp.command("quit")
        except (OSError, qemu_lib.QmpError):
            pass
    if qmp is not None:
        qmp.close()
    try:
        code = child.wait(timeout=10 if verdict != "hung" else 0.1)
    except subprocess.TimeoutExpired:
        child.kill()
        code = child.wait()
    stderr = child.stderr.read().decode(errors="replace")
    child.stderr.close()
    if verdict == "hung" and code is not None and code < 0 and code != -9:
        verdict = "crashed"
    elif verdict == "hung" and code is not None and code >= 0:
        verdict = "refused"
    if verdict != "accepted" and stderr.strip():
        detail = first_error_line(stderr) if verdict != "crashed" else \
            "signal %d: %s" % (-code, first_error_line(stderr))
    elif verdict == "crashed":
        detail = "signal %d" % -code
    return verdict, detail, time.monotonic() - started


def migsim_verdict(args, stream, mutant, destination):
    argv = [args.migsim, "inspect", mutant, "--validate"]
    if destination:
        argv += ["--machine", stream.machine] + (["--vmstate", stream.dump] if stream.dump else [])
        for block in ram_blocks_of(args, stream):
            argv += ["--ram-block", block]
    out = subprocess.run(argv, env=ENV, capture_output=True, text=True, errors="replace",
                         timeout=args.timeout_seconds)
    text = (out.stderr + out.stdout).strip()
    if out.returncode == 0:
        return "accepted", first_error_line(text)  # warnings, if any
    if out.returncode == 2:
        return "refused", first_error_line(text)
    return "crashed", "exit %d: %s" % (out.returncode, first_error_line(text))


def migsim_knows_destination(args, stream):
    """True when this migsim takes --machine and --vmstate."""
    argv = [args.migsim, "inspect", stream.path, "--validate", "--machine", stream.machine]
    if stream.dump:
        argv += ["--vmstate", stream.dump]
    out = subprocess.run(argv, env=ENV, capture_output=True, text=True, errors="replace")
    return "unknown option" not in (out.stderr + out.stdout)


POLICY_RE = re.compile(r"\[policy ([a-z0-9_]+)\]")
# Refusals docs/hostile.md lists as deliberate (spec §11.3) without a mig_policy field.
DOCUMENTED = [
    ("> 255)", "§11.3 item 4: a subsection version above 255 (QEMU keeps its low byte)"),
]


def triage(qemu, migsim, migsim_detail):
    """None when the verdicts agree, else the triage class."""
    qemu_refuses = qemu in ("refused", "crashed", "hung")
    migsim_refuses = migsim != "accepted"
    if qemu in ("crashed", "hung"):
        return None if migsim_refuses else "qemu-wrong"
    if qemu_refuses == migsim_refuses:
        return None
    if qemu_refuses:
        return "migsim-too-lax"
    if POLICY_RE.search(migsim_detail) or "vmdesc" in migsim_detail:
        return "migsim-policy"
    if any(text in migsim_detail for text, _ in DOCUMENTED):
        return "migsim-policy"
    return "migsim-stricter"


def mutation_class(note):
    """The mutation's kind for the table: 'field section/version', 'delete footer', ..."""
    words = re.sub(r"\[\d+\]", "", note).split()
    if not words:
        return "?"
    if words[0] == "field" and len(words) > 1:
        return "field " + words[1].split("@")[0]
    if words[0] in ("insert",):
        return " ".join(words[:3])
    return " ".join(words[:2]) if words[0] not in ("bytes",) else "bytes"


def load_cache(path):
    cache = {}
    if os.path.exists(path):
        for line in open(path):
            if line.strip():
                entry = json.loads(line)
                cache[entry["key"]] = entry
    return cache


def run(args):
    work = os.path.abspath(args.work)
    for sub in ("streams", "mutants", "resources"):
        os.makedirs(os.path.join(work, sub), exist_ok=True)
    streams = [Stream(args, name, work) for name in args.streams]
    destination = not args.no_destination and migsim_knows_destination(args, streams[0])
    per_stream = -(-args.mutants // len(streams))
    cache_path = os.path.join(work, "qemu-verdicts.jsonl")
    cache = load_cache(cache_path)
    rows, findings = [], []
    sock = os.path.join(work, "qmp.sock")
    with open(cache_path, "a") as cache_out:
        for index, stream in enumerate(streams):
            seed = args.seed + index * 1000003
            folder = os.path.join(work, "mutants", stream.name)
            for path, note in make_mutants(args, stream, per_stream, seed, folder):
                key = hashlib.sha256((sha256_file(path) + " ".join(stream.argv)).encode())
                key = key.hexdigest()
                entry = cache.get(key)
                if entry is None:
                    verdict, detail, seconds = qemu_load(args, stream, path, sock)
                    entry = {"key": key, "qemu": verdict, "detail": detail,
                             "seconds": round(seconds, 3)}
                    cache[key] = entry
                    cache_out.write(json.dumps(entry) + "\n")
                    cache_out.flush()
                migsim, migsim_detail = migsim_verdict(args, stream, path, destination)
                row = {"stream": stream.name, "mutant": path, "note": note,
                       "class": mutation_class(note), "qemu": entry["qemu"],
                       "qemu_detail": entry["detail"], "migsim": migsim,
                       "migsim_detail": migsim_detail}
                row["triage"] = triage(entry["qemu"], migsim, migsim_detail)
                if migsim == "crashed":
                    row["triage"] = "migsim-crash"
                rows.append(row)
                if entry["qemu"] in ("crashed", "hung"):
                    argv = [("exec:cat " + path) if a == "<uri>" else a for a in stream.argv]
                    findings.append({"mutant": path, "note": note, "qemu": entry["qemu"],
                                     "detail": entry["detail"],
                                     "reproduce": " ".join(argv)})
                if args.verbose:
                    print("%-8s %-8s %-18s %s" % (entry["qemu"], migsim, row["triage"] or "",
                                                  note), flush=True)
    return rows, findings, destination


def table(rows, findings, destination):
    lines = []
    count = len(rows)
    qemu = {v: sum(1 for r in rows if r["qemu"] == v)
            for v in ("accepted", "refused", "crashed", "hung")}
    migsim = {v: sum(1 for r in rows if r["migsim"] == v)
              for v in ("accepted", "refused", "crashed")}
    agree = sum(1 for r in rows if r["triage"] is None)
    lines.append("mutants %d (migsim %s); QEMU: accepted %d, refused %d, crashed %d, hung %d; "
                 "migsim: accepted %d, refused %d, crashed %d" % (
                     count, "with --machine/--vmstate" if destination else "without destination",
                     qemu["accepted"], qemu["refused"], qemu["crashed"], qemu["hung"],
                     migsim["accepted"], migsim["refused"], migsim["crashed"]))
    lines.append("agree %d of %d" % (agree, count))
    classes = {}
    for r in rows:
        if r["triage"] is not None:
            classes.setdefault((r["triage"], r["class"]), []).append(r)
    lines.append("| triage | mutation | count | example (QEMU / migsim) |")
    lines.append("| --- | --- | --- | --- |")
    for (kind, klass), group in sorted(classes.items()):
        example = group[0]
        lines.append("| %s | %s | %d | %s / %s |" % (
            kind, klass, len(group), example["qemu_detail"][:70],
            example["migsim_detail"][:90]))
    for finding in findings:
        lines.append("QEMU %s: %s (%s): %s" % (finding["qemu"], finding["note"],
                                              finding["detail"], finding["reproduce"]))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", default="../shared/corpus/qemu-7.2")
    parser.add_argument("--streams", nargs="+", default=STREAMS)
    parser.add_argument("--mutants", type=int, default=20, help="in all, spread over the streams")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", default="out/qemu_diff")
    parser.add_argument("--migsim", default="out/release/migsim")
    parser.add_argument("--mutator", default="out/release/stream_fuzz_replay")
    parser.add_argument("--qemu", default="qemu-system-x86_64")
    parser.add_argument("--timeout-seconds", type=float, default=30.0)
    parser.add_argument("--no-destination", action="store_true",
                        help="migsim without --machine/--vmstate")
    parser.add_argument("--report", default=None, help="JSON report")
    parser.add_argument("--strict", action="store_true",
                        help="exit 1 on a migsim-too-lax or migsim-stricter disagreement")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if shutil.which(args.qemu) is None:
        qemu_lib.skip("qemu_diff.py", "%s not installed" % args.qemu)
        return 0
    if not os.path.isdir(args.corpus):
        qemu_lib.skip("qemu_diff.py", "%s not found" % args.corpus)
        return 0
    for tool in (args.migsim, args.mutator):
        if not os.access(tool, os.X_OK):
            print("qemu_diff.py: %s not built" % tool)
            return 2
    rows, findings, destination = run(args)
    print(table(rows, findings, destination))
    if args.report:
        with open(args.report, "w") as out:
            json.dump({"destination": destination, "rows": rows, "findings": findings}, out,
                      indent=1)
    bad = [r for r in rows if r["triage"] in ("migsim-too-lax", "migsim-stricter",
                                              "migsim-crash")]
    if any(r["triage"] == "migsim-crash" for r in rows):
        return 1
    return 1 if args.strict and bad else 0


if __name__ == "__main__":
    sys.exit(main())
