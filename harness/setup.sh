#!/usr/bin/env bash
# Installs the Debian 12 packages migsim needs, only those missing (idempotent).
# Sourced or run by harness/main.sh and harness/test.sh.
set -euo pipefail

packages=(
  ninja-build gcc clang python3 pkg-config xz-utils
  check libsubunit-dev libjansson-dev libxxhash-dev zlib1g-dev libzstd-dev liblzma-dev libssl-dev
  lcov libclang-rt-14-dev libfuzzer-14-dev
  qemu-system-x86
  chromium
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$package")
done

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi
