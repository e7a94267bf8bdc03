#!/usr/bin/env python3
"""Campaigns: many seeds of one scenario, sharded, merged into JSON and one HTML report.

Run a shard (all of it with the default --shard 0/1):

  python3 harness/campaign.py --scenario FILE --seeds 1-300 --jobs 2 --shard 0/4 --out DIR

splits the seed range into N contiguous shards (I counts from 0, so Slurm's
--array=0-3 passes $SLURM_ARRAY_TASK_ID and a Kubernetes indexed job its
$JOB_COMPLETION_INDEX), cuts shard I into chunks, runs each chunk as
`migsim run FILE --seeds A-B --report CHUNK.json` on J local cores with a
progress bar on a terminal, and writes DIR/shard-I-of-N.json.  Merge shards
(from one machine or many):

  python3 harness/campaign.py --merge DIR1 DIR2 ... --out DIR

reads every shard-*.json, checks that they are one campaign (same scenario
bytes, tool, seed range and shard count, no seed twice), and writes
DIR/summary.json and DIR/report.html: a self-contained page (inline SVG made
here, no script, no network) with the outcome by verdict and by fault kind,
downtime and total-time histograms, dirty pages per round, and every failure
with its reproduce and shrink commands.  A run mode call also merges its own
shard into DIR, so a single-machine campaign is one command.

Verdicts come from migsim's exit codes and reports; this script only starts
binaries, gathers and draws (STYLE R23, DESIGN tangle 7).  The binaries run
with a scrubbed environment.  Exit code: the campaign's most severe verdict
(PASS 0 < LIVENESS 3 < ORACLE-VIOLATION 1 < NONDETERMINISM 4 < BAD-INPUT 2 <
CRASH 128 + signal), as `migsim run --seeds` gives.  docs/campaign.md.
"""

import argparse
import concurrent.futures
import glob
import html
import json
import math
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORMAT = "migsim-campaign/1"
VERDICTS = ["PASS", "ORACLE-VIOLATION", "LIVENESS", "NONDETERMINISM", "BAD-INPUT", "CRASH"]
SEVERITY = {0: 0, 3: 1, 1: 2, 4: 3, 2: 4}          # exit code -> rank; others: a crash
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C",
       "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=1",
       "UBSAN_OPTIONS": "halt_on_error=1:print_stacktrace=1"}


def severity(code):
    return SEVERITY.get(code, 5)


def parse_range(text):
    first, _, last = text.partition("-")
    first = int(first, 0)
    last = int(last, 0) if last else first
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError("seeds: A-B with 0 <= A <= B")
    return first, last


def parse_shard(text):
    index, _, count = text.partition("/")
    index, count = int(index), int(count or 0)
    if count < 1 or not 0 <= index < count:
        raise argparse.ArgumentTypeError("shard: I/N with 0 <= I < N")
    return index, count


def shard_range(first, last, index, count):
    """Shard index of count: a contiguous slice of [first, last] (possibly empty)."""
    total = last - first + 1
    begin = first + index * total // count
    end = first + (index + 1) * total // count - 1
    return begin, end


# ----------------------------------------------------------------- running


class Progress:
    """One line on stderr, redrawn; only on a terminal."""

    def __init__(self, total, enabled):
        self.total, self.done, self.failing = total, 0, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.start = time.monotonic()

    def add(self, seeds, failing):
        self.done += seeds
        self.failing += failing
        if not self.enabled:
            return
        width = 30
        filled = width * self.done // max(self.total, 1)
        sys.stderr.write("\r[%s%s] %d/%d seeds, %d failing, %.1f s " % (
            "#" * filled, "." * (width - filled), self.done, self.total, self.failing,
            time.monotonic() - self.start))
        sys.stderr.flush()

    def end(self):
        if self.enabled:
            sys.stderr.write("\n")


def crash_entry(seed, code, scenario, extra):
    """A seed whose migsim died: the entry `migsim run --seeds --jobs` writes for it."""
    reproduce = " ".join(["migsim", "run"] + ([scenario] if scenario else []) +
                         ["--seed", str(seed)] + extra)
    return {"seed": seed, "verdict": "CRASH", "exit_code": code,
            "failure": {"oracle": "crash", "path": "", "offset": None,
                        "message": "seed %d: CRASH (exit %d)" % (seed, code)},
            "query-migrate": None, "rounds": [], "faults": [], "reproduce": reproduce,
            "shrink": None}


def migsim_sweep(migsim, scenario, first, last, extra, report):
    """One `migsim run --seeds`; its report, or None when migsim died (returncode)."""
    args = [migsim, "run"] + ([scenario] if scenario else []) + [
        "--seeds", "%d-%d" % (first, last), "--report", report, "--no-progress"] + extra
    proc = subprocess.run(args, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode == 2:
        raise RuntimeError("%s: exit 2 (bad input)\n%s%s" % (" ".join(args), proc.stdout,
                                                             proc.stderr))
    try:
        with open(report) as f:
            return json.load(f), args, proc.returncode
    except (OSError, ValueError):
        return None, args, proc.returncode


def run_chunk(migsim, scenario, first, last, extra, folder):
    """Seeds first..last in one migsim; after a crash, one migsim per seed."""
    report = os.path.join(folder, "chunk-%d-%d.json" % (first, last))
    data, args, _ = migsim_sweep(migsim, scenario, first, last, extra, report)
    if data is not None:
        return data
    results, head = [], None
    for seed in range(first, last + 1):
        one, args, code = migsim_sweep(migsim, scenario, seed, seed, extra, report)
        if one is None:
            results.append(crash_entry(seed, 128 - code if code < 0 else 128, scenario, extra))
            continue
        head = one
        results += one["results"]
    if head is None:
        raise RuntimeError("%s: every seed crashed" % " ".join(args))
    return dict(head, results=results)


def chunks_of(first, last, jobs):
    total = last - first + 1
    size = max(1, min(50, total // max(jobs * 8, 1)))
    return [(a, min(a + size - 1, last)) for a in range(first, last + 1, size)]


def run_shard(options):
    first, last = shard_range(options.seeds[0], options.seeds[1], *options.shard)
    extra = (["--twice"] if options.twice else []) + (
        ["--cut-points", str(options.cut_points)] if options.cut_points else [])
    os.makedirs(options.out, exist_ok=True)
    results, head = [], None
    pieces = chunks_of(first, last, options.jobs) if last >= first else []
    progress = Progress(last - first + 1, not options.no_progress)
    with tempfile.TemporaryDirectory(prefix="campaign.", dir=options.out) as folder, \
            concurrent.futures.ThreadPoolExecutor(max_workers=options.jobs) as pool:
        futures = [pool.submit(run_chunk, options.migsim, options.scenario, a, b, extra, folder)
                   for a, b in pieces]
        for future in concurrent.futures.as_completed(futures):
            report = future.result()
            head = head or report
            results += report["results"]
            progress.add(len(report["results"]),
                         sum(r["verdict"] != "PASS" for r in report["results"]))
    progress.end()
    results.sort(key=lambda r: r["seed"])
    shard = {
        "format": FORMAT, "kind": "shard",
        "tool": head["tool"] if head else None,
        "scenario": options.scenario or "<default>",
        "scenario_xxh3": head["scenario_xxh3"] if head else None,
        "seeds": {"first": options.seeds[0], "last": options.seeds[1]},
        "shard": {"index": options.shard[0], "count": options.shard[1],
                  "first": first, "last": last},
        "arguments": extra,
        "results": results,
    }
    path = os.path.join(options.out, "shard-%d-of-%d.json" % options.shard)
    with open(path, "w") as f:
        json.dump(shard, f, indent=1)
    return path


# ----------------------------------------------------------------- merging


def quantiles(values):
    if not values:
        return None
    ordered = sorted(values)

    def at(q):
        return ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)] \
            if q > 0 else ordered[0]
    return {"count": len(ordered), "min": ordered[0], "median": at(0.5), "p90": at(0.9),
            "p99": at(0.99), "max": ordered[-1]}


def fault_kinds(result):
    """The fault kinds a seed injected; "none" until fault plans exist."""
    kinds = [f["kind"] if isinstance(f, dict) else str(f) for f in result.get("faults") or []]
    return sorted(set(kinds)) or ["none"]


def merge(folders, out):
    shards = []
    for folder in folders:
        for path in sorted(glob.glob(os.path.join(folder, "shard-*.json"))):
            with open(path) as f:
                shards.append((path, json.load(f)))
    if not shards:
        raise SystemExit("campaign: no shard-*.json in %s" % " ".join(folders))
    first = shards[0][1]
    for path, shard in shards:
        for key in ("format", "scenario_xxh3", "tool", "seeds", "arguments"):
            if shard.get(key) != first.get(key) and shard["results"] and first["results"]:
                raise SystemExit("campaign: %s: %s %r differs from %s's %r" % (
                    path, key, shard.get(key), shards[0][0], first.get(key)))
        if shard["shard"]["count"] != first["shard"]["count"]:
            raise SystemExit("campaign: %s: shard count differs" % path)
    seen, results = set(), []
    for path, shard in shards:
        for result in shard["results"]:
            if result["seed"] in seen:
                raise SystemExit("campaign: %s: seed %d twice" % (path, result["seed"]))
            seen.add(result["seed"])
            results.append(result)
    results.sort(key=lambda r: r["seed"])
    indexes = sorted({s["shard"]["index"] for _, s in shards})
    summary = summarize(first, results, indexes)
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    with open(os.path.join(out, "report.html"), "w") as f:
        f.write(render(summary))
    return summary


def summarize(head, results, indexes):
    counts = {v: 0 for v in VERDICTS}
    by_kind = {}
    exit_code = 0
    for r in results:
        verdict = r["verdict"] if r["verdict"] in counts else "CRASH"
        counts[verdict] += 1
        for kind in fault_kinds(r):
            by_kind.setdefault(kind, {v: 0 for v in VERDICTS})[verdict] += 1
        if severity(r["exit_code"]) > severity(exit_code):
            exit_code = r["exit_code"]
    migrated = [r["query-migrate"] for r in results if r.get("query-migrate")]
    completed = [m for m in migrated if m["status"] == "completed"]
    rounds = {}
    for r in results:
        for entry in r.get("rounds") or []:
            rounds.setdefault(entry["round"], []).append(entry["dirty_pages"])
    failures = [{
        "seed": r["seed"], "verdict": r["verdict"], "exit_code": r["exit_code"],
        "oracle": (r.get("failure") or {}).get("oracle"),
        "path": (r.get("failure") or {}).get("path"),
        "message": (r.get("failure") or {}).get("message"),
        "faults": fault_kinds(r), "reproduce": r["reproduce"], "shrink": r.get("shrink"),
    } for r in results if r["verdict"] != "PASS"]
    cuts = {}
    for r in results:
        if r.get("cut") and r["cut"].get("explored"):
            cut = cuts.setdefault(r["cut"]["kind"], {"explored": 0, "in_flight": 0, "caught": 0})
            cut["explored"] += 1
            cut["in_flight"] += r["cut"]["kind"] in (r.get("stop_flight") or "").split("+")
            cut["caught"] += r["verdict"] != "PASS"
    seeds = head["seeds"]
    expected = seeds["last"] - seeds["first"] + 1
    return {
        "format": FORMAT, "kind": "summary", "tool": head["tool"],
        "scenario": head["scenario"], "scenario_xxh3": head["scenario_xxh3"],
        "arguments": head["arguments"],
        "seeds": {"first": seeds["first"], "last": seeds["last"], "count": len(results),
                  "expected": expected},
        "shards": {"count": head["shard"]["count"], "merged": indexes},
        "counts": counts, "by_fault_kind": by_kind, "exit_code": exit_code,
        "migrations": {"started": len(migrated), "completed": len(completed)},
        "downtime_ms": quantiles([m["x-downtime-ns"] / 1e6 for m in completed]),
        "total_time_ms": quantiles([m["x-total-time-ns"] / 1e6 for m in completed]),
        "dirty_pages_per_round": [dict(round=k, **quantiles(v)) for k, v in sorted(rounds.items())],
        "cut_points": cuts,
        "failures": failures,
        "downtime_values_ms": [m["x-downtime-ns"] / 1e6 for m in completed],
        "total_time_values_ms": [m["x-total-time-ns"] / 1e6 for m in completed],
    }


# ---------------------------------------------------------------- drawing

COLORS = {"PASS": "#3a7d44", "ORACLE-VIOLATION": "#c0392b", "LIVENESS": "#d68910",
          "NONDETERMINISM": "#8e44ad", "BAD-INPUT": "#7f8c8d", "CRASH": "#000000"}


def svg_bars(title, labels, values, colors, unit=""):
    width, left, bottom = 560, 150, 30
    height = 10 + bottom + 40 * max(len(labels), 1)
    top = max(values + [1])
    bar = (height - bottom - 10) / max(len(labels), 1)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
             'aria-label="%s">' % (width, height, html.escape(title))]
    for i, (label, value, color) in enumerate(zip(labels, values, colors)):
        y = 5 + i * bar
        w = (width - left - 60) * value / top
        parts.append('<text x="%d" y="%.1f" font-size="12" text-anchor="end">%s</text>'
                     % (left - 6, y + bar / 2 + 4, html.escape(label)))
        parts.append('<rect x="%d" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>'
                     % (left, y + 2, w, bar - 4, color))
        parts.append('<text x="%.1f" y="%.1f" font-size="12">%s%s</text>'
                     % (left + w + 4, y + bar / 2 + 4, value, unit))
    parts.append("</svg>")
    return "".join(parts)


def svg_histogram(title, values, unit, bins=20):
    width, height, left, bottom = 560, 220, 40, 40
    if not values:
        return "<p>no completed migration</p>"
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - low) / span * bins))] += 1
    top = max(counts)
    bar = (width - left - 10) / bins
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
             'aria-label="%s">' % (width, height, html.escape(title))]
    for i, c in enumerate(counts):
        h = (height - bottom - 10) * c / top
        parts.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#2e6da4">'
                     '<title>%.3f-%.3f %s: %d</title></rect>' % (
                         left + i * bar + 1, height - bottom - h, bar - 2, h,
                         low + span * i / bins, low + span * (i + 1) / bins, unit, c))
    parts.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#444"/>'
                 % (left, height - bottom, width - 10, height - bottom))
    parts.append('<text x="%d" y="%d" font-size="12">%.3f %s</text>'
                 % (left, height - bottom + 16, low, unit))
    parts.append('<text x="%d" y="%d" font-size="12" text-anchor="end">%.3f %s</text>'
                 % (width - 10, height - bottom + 16, high, unit))
    parts.append('<text x="4" y="14" font-size="12">%d</text>' % top)
    parts.append("</svg>")
    return "".join(parts)


def svg_rounds(rounds):
    """Per round: a bar from min to max dirty pages, the median as a dot."""
    if not rounds:
        return "<p>no rounds</p>"
    width, height, left, bottom = 560, 240, 60, 40
    top = max(r["max"] for r in rounds) or 1
    step = (width - left - 10) / len(rounds)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" role="img" '
             'aria-label="dirty pages per round">' % (width, height)]

    def y(v):
        return height - bottom - (height - bottom - 10) * v / top
    for i, r in enumerate(rounds):
        x = left + step * (i + 0.5)
        parts.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#2e6da4" '
                     'stroke-width="6"><title>round %d: min %d, max %d</title></line>'
                     % (x, y(r["min"]), x, y(r["max"]), r["round"], r["min"], r["max"]))
        parts.append('<circle cx="%.1f" cy="%.1f" r="4" fill="#c0392b"><title>round %d median '
                     '%d</title></circle>' % (x, y(r["median"]), r["round"], r["median"]))
        parts.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle">%d</text>'
                     % (x, height - bottom + 14, r["round"]))
    parts.append('<text x="4" y="14" font-size="12">%d pages</text>' % top)
    parts.append('<text x="%d" y="%d" font-size="12">round (seeds that reached it)</text>'
                 % (left, height - 6))
    parts.append("</svg>")
    return "".join(parts)


def table(headers, rows):
    out = ["<table><tr>%s</tr>" % "".join("<th>%s</th>" % html.escape(h) for h in headers)]
    for row in rows:
        out.append("<tr>%s</tr>" % "".join("<td>%s</td>" % c for c in row))
    out.append("</table>")
    return "".join(out)


def quantile_row(name, q):
    if not q:
        return [name] + ["-"] * 6
    return [name, str(q["count"])] + ["%.3f" % q[k] for k in ("min", "median", "p90", "p99",
                                                              "max")]


def render(s):
    e = html.escape
    counts = s["counts"]
    seeds = s["seeds"]
    parts = ["<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>migsim campaign: %s"
             "</title><style>body{font-family:sans-serif;margin:2em;max-width:70em}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
             "padding:3px 8px;text-align:left}code{font-size:90%%}</style></head><body>"
             % e(s["scenario"])]
    parts.append("<h1>migsim campaign</h1>")
    parts.append(table(["scenario", "scenario xxh3", "tool", "seeds", "shards", "arguments",
                        "exit code"], [[
        e(s["scenario"]), "<code>%s</code>" % e(str(s["scenario_xxh3"])), e(str(s["tool"])),
        '<span id="seed-count">%d</span> seeds (%d-%d%s)' % (
            seeds["count"], seeds["first"], seeds["last"],
            "" if seeds["count"] == seeds["expected"] else
            ", %d expected" % seeds["expected"]),
        "%d of %d" % (len(s["shards"]["merged"]), s["shards"]["count"]),
        e(" ".join(s["arguments"]) or "-"), '<span id="exit-code">%d</span>' % s["exit_code"]]]))
    parts.append("<h2>Outcome by verdict</h2>")
    parts.append(table(VERDICTS, [['<span id="count-%s">%d</span>' % (v, counts[v])
                                   for v in VERDICTS]]))
    shown = [v for v in VERDICTS if counts[v] or v == "PASS"]
    parts.append(svg_bars("outcome by verdict", shown, [counts[v] for v in shown],
                          [COLORS[v] for v in shown]))
    parts.append("<h2>Outcome by fault kind</h2><p>Fault kinds a seed injected (\"none\" "
                 "until fault plans exist); a seed with several kinds counts in each.</p>")
    kinds = sorted(s["by_fault_kind"])
    parts.append(table(["fault kind"] + VERDICTS, [
        [e(k)] + [str(s["by_fault_kind"][k][v]) for v in VERDICTS] for k in kinds]))
    parts.append(svg_bars("failing seeds by fault kind", kinds,
                          [sum(n for v, n in s["by_fault_kind"][k].items() if v != "PASS")
                           for k in kinds], ["#c0392b"] * len(kinds), " failing"))
    parts.append("<h2>Downtime and total time</h2><p>%d migrations started, %d completed; "
                 "milliseconds of simulated time.</p>" % (s["migrations"]["started"],
                                                         s["migrations"]["completed"]))
    parts.append(table(["figure (ms)", "count", "min", "median", "p90", "p99", "max"], [
        quantile_row("downtime", s["downtime_ms"]),
        quantile_row("total time", s["total_time_ms"])]))
    parts.append("<h3>Downtime</h3>" + svg_histogram("downtime", s["downtime_values_ms"], "ms"))
    parts.append("<h3>Total time</h3>" + svg_histogram("total time", s["total_time_values_ms"],
                                                       "ms"))
    parts.append("<h2>Dirty pages per round</h2><p>Pages the dirty-log sync found after each "
                 "round (4 KiB), over the seeds that reached it: min to max, red dot the "
                 "median.</p>")
    parts.append(svg_rounds(s["dirty_pages_per_round"]))
    parts.append(table(["round", "seeds", "min", "median", "p90", "max"], [
        [str(r["round"]), str(r["count"]), str(r["min"]), str(r["median"]), str(r["p90"]),
         str(r["max"])] for r in s["dirty_pages_per_round"]]))
    if s["cut_points"]:
        parts.append("<h2>Cut points</h2>")
        parts.append(table(["aimed at", "seeds", "in flight at the stop", "failing"], [
            [e(k), str(v["explored"]), str(v["in_flight"]), str(v["caught"])]
            for k, v in sorted(s["cut_points"].items())]))
    parts.append('<h2>Failures (<span id="failure-count">%d</span>)</h2>' % len(s["failures"]))
    parts.append(table(["seed", "verdict", "oracle", "path", "fault kinds", "reproduce",
                        "shrink"], [[
        str(f["seed"]), e(f["verdict"]), e(str(f["oracle"] or "-")), e(f["path"] or "-"),
        e(", ".join(f["faults"])), '<code class="reproduce">%s</code>' % e(f["reproduce"]),
        '<code>%s</code>' % e(f["shrink"]) if f["shrink"] else "- (with fault plans)"]
        for f in s["failures"]]))
    parts.append("</body></html>\n")
    return "".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", help="scenario file (default: the embedded one)")
    parser.add_argument("--seeds", type=parse_range, help="A-B, or one seed N")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--shard", type=parse_shard, default=(0, 1), help="I/N, 0 <= I < N")
    parser.add_argument("--out", required=True, help="folder for shards, summary, report")
    parser.add_argument("--merge", nargs="+", metavar="DIR", help="merge shards of these")
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out", "release", "migsim"))
    parser.add_argument("--twice", action="store_true", help="migsim run --twice")
    parser.add_argument("--cut-points", type=int, default=0, help="migsim run --cut-points K")
    parser.add_argument("--no-progress", action="store_true")
    options = parser.parse_args()
    if options.merge:
        summary = merge(options.merge, options.out)
    else:
        if options.seeds is None:
            parser.error("--seeds A-B is needed (or --merge DIR...)")
        if options.jobs < 1:
            parser.error("--jobs: at least 1")
        if not os.access(options.migsim, os.X_OK):
            parser.error("--migsim %s: not an executable (build: ninja -f build.ninja)"
                         % options.migsim)
        run_shard(options)
        summary = merge([options.out], options.out)
    counts = summary["counts"]
    print("campaign: %d seeds: %s; exit %d; %s" % (
        summary["seeds"]["count"], ", ".join("%s %d" % (v, counts[v]) for v in VERDICTS
                                             if counts[v] or v == "PASS"),
        summary["exit_code"], os.path.join(options.out, "report.html")))
    return summary["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
