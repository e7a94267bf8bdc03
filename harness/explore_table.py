#!/usr/bin/env python3
"""Detection rate of every planted device bug (quirk), with and without cut-point exploration.

For each quirk of the scenario catalog it writes the catalog scenario that
holds the quirk's device with the quirk set, sweeps the seeds with
`migsim run FILE --seeds A-B --jobs J --report R.json`, once as the scenario
says and once with `--cut-points K`, and prints a Markdown table: seeds whose
verdict is not PASS (caught), migrations the device refused cleanly (the
save-time self-check found the bug; the verdict is PASS), and for the
explored sweep the seeds whose aimed in-flight state was there at the stop.

  python3 harness/explore_table.py --seeds 1-100 --cut-points 16 --jobs 2

Only starts migsim and reads its reports (STYLE R23); the environment of the
binary is scrubbed.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

# quirk -> (catalog scenario, driver of the device that takes it)
QUIRKS = [
    ("lossy-extra", None, "testdev"),
    ("msi-lost", "iommu-irq.json", "dmadev"),
    ("ats-stale", "iommu-ats.json", "dmadev"),
    ("ats-no-complete", "iommu-ats.json", "dmadev"),
    ("overrun", "devices.json", "dmadev"),
    ("activate-early", "devices.json", "blockdev"),
    ("keep-ownership", "devices.json", "blockdev"),
    ("ignore-ack", "vfio-ack.json", "vfiodev"),
]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def default_scenario(migsim):
    """The embedded default scenario's JSON, from the C source (the one definition)."""
    import re
    text = open(os.path.join(ROOT, "conformance", "conform_scenario.c")).read()
    body = re.search(r"static const char default_text\[\] =\n(.*?);\n", text, re.S).group(1)
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', body)
    return json.loads("".join(bytes(p, "utf-8").decode("unicode_escape") for p in parts))


def quirk_scenario(quirk, catalog, driver, migsim, folder):
    if catalog is None:
        scenario = default_scenario(migsim)
    else:
        with open(os.path.join(ROOT, "conformance", "scenarios", catalog)) as f:
            scenario = json.load(f)
    for device in scenario["machine"]["devices"]:
        if device["driver"] == driver:
            device["quirks"] = [quirk]
    scenario["description"] = "%s with the %s quirk" % (catalog or "<default>", quirk)
    path = os.path.join(folder, "%s.json" % quirk)
    with open(path, "w") as f:
        json.dump(scenario, f, indent=1)
    return path


def sweep(migsim, path, seeds, jobs, cut_points, report):
    args = [migsim, "run", path, "--seeds", seeds, "--jobs", str(jobs), "--no-progress",
            "--report", report]
    if cut_points:
        args += ["--cut-points", str(cut_points)]
    proc = subprocess.run(args, env=ENV, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1, 3, 4):
        sys.exit("%s: exit %d\n%s%s" % (" ".join(args), proc.returncode, proc.stdout,
                                       proc.stderr))
    with open(report) as f:
        data = json.load(f)
    results = data["results"]
    caught = sum(r["verdict"] != "PASS" for r in results)
    refused = sum(1 for r in results if r["verdict"] == "PASS" and r["query-migrate"]
                  and r["query-migrate"]["status"] == "failed")
    return len(results), caught, refused, data["aimed_in_flight"], data["explored"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out", "release", "migsim"))
    parser.add_argument("--seeds", default="1-100")
    parser.add_argument("--cut-points", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated quirks")
    options = parser.parse_args()
    only = set(filter(None, options.only.split(",")))
    print("| quirk | scenario | caught, migrate as written | caught, --cut-points %d "
          "| aimed state at the stop | refused cleanly (written / explored) |"
          % options.cut_points)
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="explore_table.") as folder:
        for quirk, catalog, driver in QUIRKS:
            if only and quirk not in only:
                continue
            path = quirk_scenario(quirk, catalog, driver, options.migsim, folder)
            report = os.path.join(folder, "report.json")
            n, caught, refused, _, _ = sweep(options.migsim, path, options.seeds,
                                             options.jobs, 0, report)
            n2, caught2, refused2, aimed, explored = sweep(
                options.migsim, path, options.seeds, options.jobs, options.cut_points, report)
            print("| `%s` | %s | %d / %d | %d / %d | %d of %d explored | %d / %d |"
                  % (quirk, catalog or "default", caught, n, caught2, n2, aimed, explored,
                     refused, refused2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
