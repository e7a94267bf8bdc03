#!/usr/bin/env bash
# Every test: installs what is missing, builds every variant, runs the libcheck
# suites in the release, debug, asan+ubsan and clang builds, checks that a
# seed's trace digest is the same in every build, runs --twice, replays the
# fuzz corpora and regression inputs, and produces the lcov coverage report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash harness/setup.sh

echo "== environment [t=${SECONDS}s]"
echo "cores $(nproc), $(awk '/MemAvailable/ {print int($2/1024)" MiB available"}' /proc/meminfo), \
disk $(df -h . | awk 'NR==2 {print $4" free"}'), user $(id -un), $(qemu-system-x86_64 --version 2>/dev/null | head -1 || echo 'no QEMU')"
python3 - <<'PY' || true
import socket
try:
    server = socket.socket(); server.bind(("127.0.0.1", 0)); server.listen(1)
    client = socket.create_connection(server.getsockname(), timeout=5)
    print("TCP loopback: ok")
except OSError as error:
    print("TCP loopback: UNAVAILABLE (%s): the sink tests over tcp will fail" % error)
PY
python3 configure.py --check
ninja -f build.ninja --quiet all   # progress lines would crowd the CI log

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p out/reports
# Every skipped check appends "CHECK<TAB>why" here (SIM_CHECK_SKIP in the C
# suites, qemu_lib.skip in the python steps); the end of the run counts them.
export MIGSIM_SKIP_LOG=$PWD/out/reports/skips.txt
: > "$MIGSIM_SKIP_LOG"
status=0
failed=()
# fail STEP: remember that STEP failed; the list is printed last, where CI logs
# keep it even when they cut the middle of the output.
fail() { status=1; failed+=("$1"); }
# live STEP CMD...: a step that drives a real QEMU on wall-clock time. A failure
# is printed and the step runs once more; a pass on the second run is listed
# at the end as flaky, a second failure fails the run.
flaky=()
live() {
  local step=$1; shift
  echo "== $step [t=${SECONDS}s]"
  "$@" && return 0
  echo "== $step failed; running it once more (it drives a real QEMU in wall-clock time) [t=${SECONDS}s]"
  if "$@"; then flaky+=("$step"); else fail "$step"; fi
}
# Steps that do not drive a real QEMU or time anything run side by side, one
# per core: `queue STEP CMD...` adds one, `drain` runs the queue (in order, as
# lanes come free, so the longest go first) and prints each step's output
# whole when it ends, with when it started and how long it took.
lanes=$(nproc)
queue_steps=()
queue_commands=()
queue() { queue_steps+=("$1"); shift; queue_commands+=("$(printf '%q ' "$@")"); }
drain() {
  local folder=out/reports/steps next=0 running=0 finished index rc
  local -a pids=() started=()
  mkdir -p "$folder"
  while (( next < ${#queue_steps[@]} || running > 0 )); do
    while (( running < lanes && next < ${#queue_steps[@]} )); do
      ( eval "${queue_commands[next]}" ) > "$folder/$next.log" 2>&1 &
      pids[next]=$!
      started[next]=$SECONDS
      next=$((next + 1)) running=$((running + 1))
    done
    rc=0
    wait -n -p finished || rc=$?
    running=$((running - 1))
    for index in "${!pids[@]}"; do
      [[ ${pids[index]} == "$finished" ]] || continue
      echo "== ${queue_steps[index]} [t=${started[index]}s, took $((SECONDS - started[index]))s]"
      cat "$folder/$index.log"
      (( rc == 0 )) || fail "${queue_steps[index]} (exit $rc)"
      unset "pids[index]"
    done
  done
  queue_steps=() queue_commands=()
}

echo "== suites, digests, regressions and replays, $lanes at a time [t=${SECONDS}s]"
# Every test binary of every build: one per layer, and the test-only builds
# configure.py makes beside them (cli_nondet_test: --twice against planted
# nondeterminism; mig_postcopy_bug_test: a planted postcopy discard bug;
# conform_faults_bug_test: a planted engine bug the fault campaign must catch
# and the shrinker reduce).  The 200-seed property sweep runs in full in
# release, its first 20 seeds under asan+ubsan (the slowest build), and its
# first 5 in the debug and clang builds (they add no new code paths;
# harness/digest_matrix.py below compares their runs with release).  A count
# below 200 also shortens the conform_ram sweeps (conform_ram_test.c).  The
# conformance suites are the longest: they go first.
for variant in release debug asan clang; do
  for layer in sim models migration conformance cli; do
    [[ -x out/$variant/${layer}_test ]] || fail "missing out/$variant/${layer}_test"
  done
done
suite() {  # suite VARIANT BINARY
  local seeds=200
  [[ $1 == asan ]] && seeds=20
  [[ $1 == debug || $1 == clang ]] && seeds=5
  queue "$2" env MIGSIM_PROPERTY_SEEDS=$seeds CK_DEFAULT_TIMEOUT=600 \
    "$2" --xml "out/reports/$1-$(basename "$2" _test).xml"
}
for variant in asan release clang debug; do
  [[ -x out/$variant/conformance_test ]] && suite "$variant" "out/$variant/conformance_test"
done
queue "coverage" bash coverage/report.sh
queue "oss-fuzz build: fuzz/oss-fuzz/build.sh builds every target in a clean directory" \
  bash harness/oss_fuzz_build_test.sh
queue "fault campaign: 300 swarm seeds of faults-swarm.json, each its own faults (docs/faults.md)" \
  out/release/migsim run conformance/scenarios/faults-swarm.json --seeds 1-300 --jobs 2 --no-progress
for variant in asan release clang debug; do
  for binary in $(ls out/$variant/*_test | sort); do
    [[ $binary == */conformance_test ]] || suite "$variant" "$binary"
  done
done

queue "digests across builds, and --twice" python3 harness/digest_matrix.py --seeds 1,2,3,42
queue "digests: ram/iommu" python3 harness/digest_matrix.py --seeds 1,2 \
  --scenario conformance/scenarios/ram-zipf.json \
  --scenario conformance/scenarios/ram-synthetic.json \
  --scenario conformance/scenarios/ram-shared.json \
  --scenario conformance/scenarios/iommu.json \
  --scenario conformance/scenarios/iommu-irq.json \
  --scenario conformance/scenarios/iommu-ats.json \
  --scenario conformance/scenarios/ram-resize-before.json \
  --scenario conformance/scenarios/ram-resize-retry.json
queue "digests: vfio" python3 harness/digest_matrix.py --seeds 1,2 \
  --scenario conformance/scenarios/vfio-ack.json --scenario conformance/scenarios/vfio-cpr.json
queue "digests: compat" python3 harness/digest_matrix.py --seeds 1,2 \
  --scenario conformance/scenarios/compat-aer.json \
  --scenario conformance/scenarios/compat-rom.json \
  --scenario conformance/scenarios/compat-chain.json
queue "digests: postcopy/multifd" python3 harness/digest_matrix.py --seeds 1,2 \
  --scenario conformance/scenarios/postcopy-preempt-multifd.json \
  --scenario conformance/scenarios/postcopy-recovery.json \
  --scenario conformance/scenarios/multifd-zstd.json
queue "the compatibility matrix against its golden file (docs/compat.md)" \
  out/release/migsim matrix --caps none,switchover-ack --golden conformance/golden/matrix.json \
  --format html --output out/reports/matrix.html
# Every catalog scenario with --twice: one trace per seed (the benchmarks
# aside).  Exit 4 is NONDETERMINISM, 2 a scenario that no longer parses; the
# other verdicts are the scenario's own (vfio-ack-serialize shows a LIVENESS quirk).
twice() {
  local scenario rc status=0
  for scenario in conformance/scenarios/*.json; do
    [[ $scenario == */bench-* ]] && continue
    rc=0
    out/release/migsim run "$scenario" --twice --no-progress > /dev/null || rc=$?
    if (( rc == 2 || rc >= 4 )); then echo "--twice $scenario: exit $rc"; status=1; fi
  done
  return $status
}
queue "every catalog scenario with --twice: one trace per seed" twice
queue "regressions: conformance/regress/*.json give their recorded verdicts (migsim regress)" \
  out/release/migsim regress conformance/regress
queue "campaign harness: 50 seeds in 2 shards, merged, the report rendered in Chromium" \
  python3 harness/campaign_test.py
# Fuzz replay: every corpus and every saved crasher under asan+ubsan.  The
# canary target aborts on any stream (it must: see the fuzz smoke below), so
# it replays only its own corpus; every other target also the regressions.
for replay in out/asan/*_replay; do
  [[ -x $replay ]] || continue
  target=$(basename "$replay" _replay)
  if [[ $target == canary_fuzz ]]; then
    queue "$replay" "$replay" "fuzz/corpus/$target"
  else
    queue "$replay" "$replay" "fuzz/corpus/$target" conformance/regress
  fi
done
drain

echo "== steps that drive a real QEMU or time themselves, one at a time [t=${SECONDS}s]"
live sink_test.py python3 harness/sink_test.py    # live QEMU -> migsim sink; skips without QEMU
live record_test.py python3 harness/record_test.py  # recorder, 2 configs into out/record-test
live proxy_test.py python3 harness/proxy_test.py    # faults between real QEMUs via migsim proxy
# real QEMU: record per machine type, load the diagonal and cross-machine cells, compare
# each verdict with migsim inspect --machine --vmstate's prediction; an unexplained
# disagreement fails (13 machine types, 25 cells, 30-40 s with one QEMU; skips without QEMU)
live qemu_matrix.py python3 harness/qemu_matrix.py --report out/reports/qemu_matrix.json
# every corpus stream, re-chunked by migsim reencode, loaded by a real QEMU 7.2
live qemu_load_rechunk.py python3 harness/qemu_load_rechunk.py --stand-in-resources
# 20 structure-aware mutants of corpus streams into QEMU 7.2 and into migsim inspect
# --machine --vmstate: the verdicts must agree (~10 s; docs/fuzzing.md)
live qemu_diff.py python3 harness/qemu_diff.py --mutants 20 --seed 7 --work out/qemu_diff-smoke \
  --strict --report out/reports/qemu_diff.json

echo "== fuzz smoke (harness/fuzz, fuzz_lanes): one canary signature; stream_fuzz survives 30 s; two lanes [t=${SECONDS}s]"
# The campaign runner in short: fork mode, merge, triage by stack, summary.json.
# The canary aborts on every input starting "QEVM": each crash must collapse
# into one signature, and the runner must exit 1 (a finding).
canary_rc=0
python3 harness/fuzz --target canary_fuzz --minutes 0.25 --no-build --no-coverage \
  --minimize-seconds 5 --out out/campaigns/canary-smoke >out/reports/canary.log 2>&1 || canary_rc=$?
if (( canary_rc != 1 )) || ! python3 - <<'PY'; then
import json, sys
summary = json.load(open("out/campaigns/canary-smoke/summary.json"))
signatures = [crash["signature"] for crash in summary["crashes"]]
print("canary: %d artifacts, signatures %s, %.1f CPU-s" % (summary["artifacts"], signatures,
                                                          summary["cpu_seconds"]))
sys.exit(0 if len(signatures) == 1 and "LLVMFuzzerTestOneInput" in signatures[0]
         and summary["cpu_seconds"] > 0 else 1)
PY
  echo "canary_fuzz: harness/fuzz exit $canary_rc, want 1 and one signature (see canary.log)"
  fail "canary smoke"
fi
# --cpu-minutes stops a campaign on its CPU time: 1.2 CPU-seconds, well before the minute;
# a libFuzzer flag after -- replaces the options file's (max_len 64 there).
python3 harness/fuzz --target canary_fuzz --minutes 1 --cpu-minutes 0.02 --no-build --no-coverage \
  --minimize-seconds 5 --out out/campaigns/canary-cpu -- -max_len=32 \
  >out/reports/canary-cpu.log 2>&1 || true
if ! python3 - <<'PY'; then
import json, sys
summary = json.load(open("out/campaigns/canary-cpu/summary.json"))
print("canary --cpu-minutes 0.02 -- -max_len=32: %.1f CPU-s in %.1f s, %.0f runs per CPU-s"
      % (summary["cpu_seconds"], summary["wall_seconds"], summary["exec_per_cpu_s"]))
flags = summary["command"].split()
sys.exit(0 if 1.2 <= summary["cpu_seconds"] and summary["wall_seconds"] < 45 and
         "-max_len=32" in flags and "-max_len=64" not in flags and
         summary["exec_per_cpu_s"] > 0 else 1)
PY
  fail "harness/fuzz --cpu-minutes"
fi
# Its grown corpus also goes through the loader/walker differential and inspect (--cross).
if ! python3 harness/fuzz --target stream_fuzz --minutes 0.5 --no-build --no-coverage \
    --cross loadwalk_fuzz,inspect_fuzz --out out/campaigns/stream-smoke; then
  echo "stream_fuzz found a crasher or the runner failed (out/campaigns/stream-smoke)"
  fail "stream_fuzz smoke"
fi
# Two campaigns in two lanes, each to its CPU bound, and their ledger.
if ! python3 harness/fuzz_lanes --targets rp_fuzz,record_fuzz --cpu-minutes 0.05 --lanes 2 \
    --no-build --no-coverage --out out/campaigns/lanes-smoke >out/reports/lanes.log 2>&1 ||
   ! python3 - <<'PY'; then
import json, sys
entries = json.load(open("out/campaigns/lanes-smoke/ledger.json"))
rows = [line for line in open("out/campaigns/lanes-smoke/ledger.md") if line.startswith("| `")]
cpu = [entry["summary"]["cpu_seconds"] for entry in entries]
print("fuzz_lanes: %d rows, CPU-seconds %s" % (len(rows), cpu))
sys.exit(0 if len(rows) == 2 and all(seconds >= 3.0 for seconds in cpu) else 1)
PY
  cat out/reports/lanes.log
  fail "harness/fuzz_lanes"
fi

# Skips: counted and printed with their reasons.  Where ../shared/corpus and
# qemu-system-x86_64 are both present nothing may skip: a skip there hides a
# check that should have run.
skips=$(wc -l < "$MIGSIM_SKIP_LOG")
echo "== skipped checks: $skips [t=${SECONDS}s]"
if (( skips > 0 )); then
  sort "$MIGSIM_SKIP_LOG" | uniq -c | sed 's/^/  /'
  if [[ -d ../shared/corpus ]] && command -v qemu-system-x86_64 >/dev/null; then
    echo "  ../shared/corpus and qemu-system-x86_64 are present: no check may skip"
    fail "skipped checks"
  fi
fi

if (( ${#flaky[@]} > 0 )); then
  echo "== passed only on the second run (see their first output above): [t=${SECONDS}s]"
  printf '  %s\n' "${flaky[@]}"
fi
if (( status != 0 )); then
  echo "== FAILED: ${#failed[@]} step(s) [t=${SECONDS}s]"
  printf '  %s\n' "${failed[@]}"
  python3 - <<'PY' || true   # the failed checks of the suites, from their XML reports
import glob, re
for path in sorted(glob.glob("out/reports/*.xml")):
    text = open(path, errors="replace").read()
    for match in re.finditer(r'<test result="(failure|error)">.*?<id>(.*?)</id>.*?'
                             r'<message>(.*?)</message>', text, re.S):
        print("  %s: %s %s: %s" % (path, match.group(1), match.group(2), match.group(3)[:300]))
PY
else
  echo "== all steps passed [t=${SECONDS}s]"
fi
exit $status
