#!/usr/bin/env python3
"""Per-folder line and branch coverage from an lcov tracefile, and the lines
the stream-reading files of migration/ leave uncovered.

  python3 coverage/folders.py --info coverage/lcov.info [--uncovered OUT.txt]
                              [--json OUT.json]

Prints one row per top-level folder (sim, models, migration, conformance,
fuzz, ...): lines hit/total and branches hit/total (gcov counts each outcome
of a condition as a branch; an unexecuted condition's outcomes count as
missed), and branches again without those on SIM_ASSERT lines, whose false
outcome only a bug can take.  Then, for the stream-reading files (READERS below), their own
figures and whether they meet the issue-12 bars (>= 95% of lines, >= 85% of
branches); --uncovered writes their uncovered lines as ranges and their
partly covered branch lines ("file:line taken/total").  Only reads the
tracefile: the verdict is printed, the exit code is 0 unless the file is
unreadable.
"""

import argparse
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The files of migration/ that read a stream, a section payload, a multifd
# channel or the return path: the record layer, the loader and its device,
# RAM and live-section readers, the walker with its destination check, and
# the decoders (XBZRLE, compressed pages, multifd packets and payloads).
READERS = ["mig_record.c", "mig_record_inl.h", "mig_wire.c", "mig_stream.c", "mig_load.c",
           "mig_vmstate.c", "mig_ram.c", "mig_ramapply.c", "mig_rp.c", "mig_vfio.c",
           "mig_caps.c", "mig_inspect.c", "mig_destcheck.c", "mig_analyze.c", "mig_reencode.c",
           "mig_xbzrle.c", "mig_compress.c", "mig_multifd_packet.c", "mig_multifd_payload.c",
           "mig_multifd.c", "mig_multifd_recv.c", "mig_virtio.c", "mig_devsem.c"]
LINES_BAR, BRANCHES_BAR = 95.0, 85.0


def parse(info):
    """{relative path: {"lines": {n: hits}, "branches": {n: [taken...]}}}."""
    files, current = {}, None
    with open(info, errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line.startswith("SF:"):
                path = os.path.relpath(os.path.normpath(os.path.join(ROOT, line[3:])), ROOT)
                current = files.setdefault(path, {"lines": {}, "branches": {}})
            elif line.startswith("DA:") and current is not None:
                number, hits = line[3:].split(",")[:2]
                current["lines"][int(number)] = max(current["lines"].get(int(number), 0),
                                                    int(hits))
            elif line.startswith("BRDA:") and current is not None:
                number, block, branch, taken = line[5:].split(",")
                key = (int(number), block, branch)
                count = 0 if taken == "-" else int(taken)
                current["branches"][key] = max(current["branches"].get(key, 0), count)
    return files


def assertion_lines(path):
    """Line numbers of path whose text holds a SIM_ASSERT (its false outcome is a bug)."""
    try:
        with open(os.path.join(ROOT, path), errors="replace") as f:
            return {n for n, text in enumerate(f, 1) if "SIM_ASSERT" in text}
    except OSError:
        return set()


def figures(records):
    lines = [hits for record in records for hits in record["lines"].values()]
    branches = [taken for record in records for taken in record["branches"].values()]
    checked = [taken for record in records for (n, _, _), taken in record["branches"].items()
               if n not in record["asserts"]]
    return {"lines_hit": sum(1 for h in lines if h > 0), "lines_total": len(lines),
            "branches_hit": sum(1 for t in branches if t > 0), "branches_total": len(branches),
            "checked_hit": sum(1 for t in checked if t > 0), "checked_total": len(checked)}


def percent(hit, total):
    return 100.0 * hit / total if total else 100.0


def row(name, f):
    return "%-20s %6d/%-6d %5.1f%%  %6d/%-6d %5.1f%%  %6d/%-6d %5.1f%%" % (
        name, f["lines_hit"], f["lines_total"], percent(f["lines_hit"], f["lines_total"]),
        f["branches_hit"], f["branches_total"],
        percent(f["branches_hit"], f["branches_total"]),
        f["checked_hit"], f["checked_total"], percent(f["checked_hit"], f["checked_total"]))


def ranges(numbers):
    out, start, last = [], None, None
    for n in sorted(numbers):
        if start is not None and n == last + 1:
            last = n
            continue
        if start is not None:
            out.append(str(start) if start == last else "%d-%d" % (start, last))
        start = last = n
    if start is not None:
        out.append(str(start) if start == last else "%d-%d" % (start, last))
    return out


def uncovered_text(files, readers):
    text = []
    for path in readers:
        record = files[path]
        missed = [n for n, hits in record["lines"].items() if hits == 0]
        text.append("%s: %d uncovered lines: %s" % (path, len(missed),
                                                     ", ".join(ranges(missed)) or "none"))
        partly = {}
        for (number, _, _), taken in record["branches"].items():
            hit, total = partly.get(number, (0, 0))
            partly[number] = (hit + (taken > 0), total + 1)
        lines = ["%d (%d/%d%s)" % (n, hit, total, ", SIM_ASSERT" if n in record["asserts"] else "")
                 for n, (hit, total) in sorted(partly.items()) if hit < total]
        text.append("%s: %d lines with a branch outcome never taken: %s" % (
            path, len(lines), ", ".join(lines) or "none"))
    return "\n".join(text) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--info", default=os.path.join(ROOT, "coverage", "lcov.info"))
    parser.add_argument("--uncovered", help="write the readers' uncovered lines here")
    parser.add_argument("--json", help="write the table as JSON here")
    options = parser.parse_args()
    files = parse(options.info)
    for path, record in files.items():
        record["asserts"] = assertion_lines(path)
    folders = {}
    for path, record in files.items():
        folders.setdefault(path.split(os.sep)[0] if os.sep in path else ".", []).append(record)
    print("%-20s %-20s  %-20s  %-20s" % ("folder", "lines hit/total", "branches hit/total",
                                         "without SIM_ASSERT"))
    table = {}
    for name in sorted(folders):
        table[name] = figures(folders[name])
        print(row(name + "/", table[name]))
    table["all"] = figures(list(files.values()))
    print(row("all", table["all"]))
    readers = [os.path.join("migration", name) for name in READERS
               if os.path.join("migration", name) in files]
    print("\nstream-reading files of migration/ (bars: lines >= %.0f%%, branches >= %.0f%%)"
          % (LINES_BAR, BRANCHES_BAR))
    for path in readers:
        print(row(os.path.basename(path), figures([files[path]])))
    table["migration readers"] = f = figures([files[p] for p in readers])
    print(row("readers together", f))
    lines_ok = percent(f["lines_hit"], f["lines_total"]) >= LINES_BAR
    print("readers: lines %s; branches %s, and %s without the SIM_ASSERT lines" % (
        "meet the bar" if lines_ok else "do NOT meet the bar",
        "meet it" if percent(f["branches_hit"], f["branches_total"]) >= BRANCHES_BAR
        else "do NOT meet it",
        "meet it" if percent(f["checked_hit"], f["checked_total"]) >= BRANCHES_BAR
        else "do NOT meet it"))
    if options.uncovered:
        with open(options.uncovered, "w") as out:
            out.write(uncovered_text(files, readers))
        print("uncovered lines of the readers: %s" % os.path.relpath(options.uncovered, ROOT))
    if options.json:
        with open(options.json, "w") as out:
            json.dump(table, out, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
