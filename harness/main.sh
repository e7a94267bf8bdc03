#!/usr/bin/env bash
# The main job: installs what is missing, builds the release variant and runs
# the default scenario.  Extra arguments go to `migsim run`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash harness/setup.sh
ninja -f build.ninja release >/dev/null
exec out/release/migsim run "$@"
