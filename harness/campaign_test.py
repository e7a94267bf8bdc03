#!/usr/bin/env python3
"""Test of harness/campaign.py: two shards, a merge, and the HTML as Chromium renders it.

A quick scenario with a planted bug (fuzz-small.json with testdev's
lossy-extra quirk) runs 50 seeds as shards 0/2 and 1/2 into two folders,
which are merged.  The merged summary must agree with one direct
`migsim run --seeds 1-50 --report` (counts, failing seeds, reproduce lines),
and the page that headless Chromium renders (--dump-dom) must show the seed
count, every verdict count, the exit code and each failing seed's reproduce
line, with no script and no network reference.

  python3 harness/campaign_test.py [--migsim out/release/migsim]
"""

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEEDS = "1-50"
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def check(condition, message):
    if not condition:
        raise SystemExit("campaign_test: FAILED: %s" % message)


def chromium_dom(page, folder):
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    check(binary is not None, "chromium is not installed (bash harness/setup.sh installs it)")
    args = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--user-data-dir=%s" % os.path.join(folder, "chromium"),
            "--dump-dom", "file://" + os.path.abspath(page)]
    env = dict(ENV, HOME=folder)
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    check(proc.returncode == 0 and "</html>" in proc.stdout,
          "chromium exit %d: %s" % (proc.returncode, proc.stderr[-2000:]))
    return proc.stdout


def by_id(dom, name):
    match = re.search(r'id="%s">([^<]*)<' % re.escape(name), dom)
    check(match is not None, "the page has no #%s" % name)
    return match.group(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--migsim", default=os.path.join(ROOT, "out", "release", "migsim"))
    options = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="campaign_test.")
    try:
        with open(os.path.join(ROOT, "conformance", "scenarios", "fuzz-small.json")) as f:
            scenario = json.load(f)
        scenario["machine"]["devices"][0]["quirks"] = ["lossy-extra"]
        path = os.path.join(folder, "small-lossy.json")
        with open(path, "w") as f:
            json.dump(scenario, f)
        script = os.path.join(ROOT, "harness", "campaign.py")
        shards = []
        for index in range(2):
            out = os.path.join(folder, "shard%d" % index)
            proc = subprocess.run([sys.executable, script, "--scenario", path, "--seeds", SEEDS,
                                   "--jobs", "2", "--shard", "%d/2" % index, "--out", out,
                                   "--migsim", options.migsim, "--no-progress"],
                                  env=ENV, capture_output=True, text=True, check=False)
            check(proc.returncode in (0, 1), "shard %d: exit %d %s" % (index, proc.returncode,
                                                                     proc.stderr))
            shards.append(out)
        merged = os.path.join(folder, "merged")
        proc = subprocess.run([sys.executable, script, "--merge"] + shards + ["--out", merged],
                              env=ENV, capture_output=True, text=True, check=False)
        with open(os.path.join(merged, "summary.json")) as f:
            summary = json.load(f)
        # The same seeds straight through migsim: the campaign adds nothing and loses nothing.
        direct_path = os.path.join(folder, "direct.json")
        direct = subprocess.run([options.migsim, "run", path, "--seeds", SEEDS, "--report",
                                 direct_path, "--no-progress"], env=ENV, capture_output=True,
                                text=True, check=False)
        with open(direct_path) as f:
            reference = json.load(f)
        check(proc.returncode == direct.returncode == reference["exit_code"] ==
              summary["exit_code"], "exit codes: merge %d, migsim %d, summary %d" % (
                  proc.returncode, direct.returncode, summary["exit_code"]))
        for verdict, count in reference["counts"].items():
            check(summary["counts"][verdict] == count, "%s: %d in the campaign, %d direct"
                  % (verdict, summary["counts"][verdict], count))
        failing = [r for r in reference["results"] if r["verdict"] != "PASS"]
        check(len(failing) > 0, "the planted bug was caught on no seed of %s" % SEEDS)
        check([f["reproduce"] for f in summary["failures"]] == [r["reproduce"] for r in failing],
              "failures differ from migsim's")
        check(summary["seeds"]["count"] == 50 and summary["shards"]["merged"] == [0, 1],
              "seeds %r shards %r" % (summary["seeds"], summary["shards"]))
        check(len(summary["dirty_pages_per_round"]) > 0 and summary["downtime_ms"]["count"] > 0,
              "no rounds or downtimes")
        page = os.path.join(merged, "report.html")
        with open(page) as f:
            text = f.read()
        check("<script" not in text and not re.search(r'(src|href)="?(https?:)?//', text),
              "the page is not self-contained")
        dom = chromium_dom(page, folder)
        check(by_id(dom, "seed-count") == "50", "seed count %s" % by_id(dom, "seed-count"))
        check(by_id(dom, "exit-code") == str(reference["exit_code"]), "exit code on the page")
        for verdict, count in reference["counts"].items():
            shown = by_id(dom, "count-%s" % verdict)
            check(shown == str(count), "%s shows %s, expected %d" % (verdict, shown, count))
        check(by_id(dom, "failure-count") == str(len(failing)), "failure count")
        shown = [html.unescape(m) for m in re.findall(r'<code class="reproduce">([^<]*)</code>',
                                                      dom)]
        check(shown == [r["reproduce"] for r in failing], "reproduce lines on the page: %r"
              % shown)
        check(dom.count("<svg") >= 5, "plots missing (%d svg)" % dom.count("<svg"))
        print("campaign_test: ok: %d seeds in 2 shards, %s, %d failing, page checked in "
              "Chromium" % (summary["seeds"]["count"], ", ".join(
                  "%s %d" % (v, c) for v, c in reference["counts"].items() if c),
                  len(failing)))
        return 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
