#!/usr/bin/env bash
# Runs the unit suites and the default scenario in the coverage build and
# writes an lcov HTML report to coverage/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
ninja -f build.ninja coverage >/dev/null
export MIGSIM_SKIP_LOG=   # the test command counted the skips already
find out/coverage -name '*.gcda' -delete
for layer in sim models migration conformance cli; do
  binary=out/coverage/${layer}_test
  [[ -x $binary ]] && MIGSIM_PROPERTY_SEEDS=5 CK_FORK=no CK_DEFAULT_TIMEOUT=900 "$binary" >/dev/null
done
out/coverage/migsim run --seed 5 >/dev/null
for replay in out/coverage/*_replay; do
  target=$(basename "$replay" _replay)
  regress=conformance/regress
  [[ $target == canary_fuzz ]] && regress=   # the canary aborts on any stream
  [[ -x $replay ]] && "$replay" "fuzz/corpus/$target" $regress >/dev/null
done
lcov --quiet --capture --directory out/coverage/obj --output-file coverage/lcov.info \
  --rc lcov_branch_coverage=1 >/dev/null
lcov --quiet --remove coverage/lcov.info '*_test.c' '*/runner.c' '/usr/*' \
  --output-file coverage/lcov.info --rc lcov_branch_coverage=1 >/dev/null
genhtml --quiet coverage/lcov.info --output-directory coverage/html --branch-coverage \
  --title migsim >/dev/null
lcov --summary coverage/lcov.info --rc lcov_branch_coverage=1 2>&1 | sed -n 's/^ *//p' | grep -E '^(lines|functions|branches)'
echo "coverage: coverage/html/index.html"
