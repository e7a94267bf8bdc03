#!/usr/bin/env bash
# Runs the unit suites, the default scenario and every fuzz target's corpus
# replay (plus conformance/regress/) in the coverage build; writes an lcov
# HTML report with branch coverage to coverage/html/index.html, prints line
# and branch coverage per folder (coverage/folders.py; also folders.json) and
# lists the lines the stream-reading files of migration/ leave uncovered in
# coverage/uncovered.txt.  Files never executed count, at 0% (a zero
# baseline from `lcov --initial` is added to the run's counts).
set -euo pipefail
cd "$(dirname "$0")/.."
ninja -f build.ninja coverage >/dev/null
# Notes (.gcno) of objects the build no longer makes (a source moved or went)
# would make lcov look for sources that are gone: keep only the current ones.
ninja -f build.ninja -t targets all | sed -n 's#^\(out/coverage/obj/.*\)\.o: .*#\1.gcno#p' \
  | sort > out/coverage/notes.current
find out/coverage/obj -name '*.gcno' | sort | comm -23 - out/coverage/notes.current | xargs -r rm -f
export MIGSIM_SKIP_LOG=   # the test command counted the skips already
find out/coverage -name '*.gcda' -delete
for layer in sim models migration conformance cli; do
  binary=out/coverage/${layer}_test
  [[ -x $binary ]] && MIGSIM_PROPERTY_SEEDS=2 CK_FORK=no CK_DEFAULT_TIMEOUT=900 "$binary" >/dev/null
done
out/coverage/migsim run --seed 5 >/dev/null
for replay in out/coverage/*_replay; do
  target=$(basename "$replay" _replay)
  regress=conformance/regress
  [[ $target == canary_fuzz ]] && regress=   # the canary aborts on any stream
  [[ -x $replay ]] && "$replay" "fuzz/corpus/$target" $regress >/dev/null
done
lcov --quiet --capture --initial --directory out/coverage/obj --output-file coverage/base.info \
  --rc lcov_branch_coverage=1 >/dev/null
lcov --quiet --capture --directory out/coverage/obj --output-file coverage/run.info \
  --rc lcov_branch_coverage=1 >/dev/null
lcov --quiet -a coverage/base.info -a coverage/run.info --output-file coverage/lcov.info \
  --rc lcov_branch_coverage=1 >/dev/null
rm -f coverage/base.info coverage/run.info
lcov --quiet --remove coverage/lcov.info '*_test.c' '*/runner.c' '/usr/*' \
  --output-file coverage/lcov.info --rc lcov_branch_coverage=1 >/dev/null
genhtml --quiet coverage/lcov.info --output-directory coverage/html --branch-coverage \
  --title migsim >/dev/null
lcov --summary coverage/lcov.info --rc lcov_branch_coverage=1 2>&1 | sed -n 's/^ *//p' | grep -E '^(lines|functions|branches)'
python3 coverage/folders.py --info coverage/lcov.info --uncovered coverage/uncovered.txt \
  --json coverage/folders.json
echo "coverage: coverage/html/index.html"
