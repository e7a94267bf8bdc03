#!/usr/bin/env bash
# Checks that fuzz/oss-fuzz/build.sh builds every fuzz target in a clean
# directory, with the environment OSS-Fuzz sets for libFuzzer + ASan
# (infra/base-images/base-builder: clang, the sanitizer and
# -fsanitize=fuzzer-no-link in CFLAGS, LIB_FUZZING_ENGINE=-fsanitize=fuzzer).
#
# The tracked and untracked-but-not-ignored files are copied to a temporary
# $SRC/migsim (no out/, no build.ninja products), build.sh runs there with
# a scrubbed environment, and then every fuzz/*_fuzz.c except canary_fuzz
# must have in $OUT: an executable that runs one input of its seed corpus
# (or an empty input) and exits 0, its .options, its seed corpus zip with as
# many entries as fuzz/corpus/<target>/, and no dynamic dependency on the
# libraries build.sh links statically.  canary_fuzz must be absent.
# Exit 0 pass, 1 a check failed, 2 the build failed.  Needs clang, zip.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/migsim-oss-fuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src/migsim" "$tmp/out" "$tmp/work"
git ls-files -z --cached --others --exclude-standard |
  xargs -0 cp --parents -t "$tmp/src/migsim" 2>/dev/null || true

flags="-O1 -fno-omit-frame-pointer -gline-tables-only -DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION"
flags+=" -fsanitize=address -fsanitize-address-use-after-scope -fsanitize=fuzzer-no-link"
started=$SECONDS
if ! env -i PATH=/usr/bin:/bin HOME="$tmp" LANG=C \
    CC=clang CXX=clang++ CFLAGS="$flags" CXXFLAGS="$flags" \
    LIB_FUZZING_ENGINE=-fsanitize=fuzzer SANITIZER=address FUZZING_ENGINE=libfuzzer \
    ARCHITECTURE=x86_64 SRC="$tmp/src" OUT="$tmp/out" WORK="$tmp/work" \
    bash "$tmp/src/migsim/fuzz/oss-fuzz/build.sh" >"$tmp/build.log" 2>&1; then
  echo "oss-fuzz build: build.sh failed:"; tail -30 "$tmp/build.log"; exit 2
fi
echo "oss-fuzz build: build.sh took $((SECONDS - started)) s"

status=0
bad() { echo "oss-fuzz build: $*"; status=1; }
[[ -e $tmp/out/canary_fuzz ]] && bad "canary_fuzz must not be built for the engines"
count=0
for source in fuzz/*_fuzz.c; do
  target=$(basename "$source" .c)
  [[ $target == canary_fuzz ]] && continue
  binary=$tmp/out/$target
  [[ -x $binary ]] || { bad "$target: no binary"; continue; }
  [[ -f $tmp/out/$target.options ]] || bad "$target: no .options"
  corpus=fuzz/corpus/$target
  input=$tmp/empty
  : >"$input"
  if [[ -d $corpus ]]; then
    want=$(find "$corpus" -maxdepth 1 -type f ! -name '*.md' | wc -l)
    have=$(zipinfo -1 "$tmp/out/${target}_seed_corpus.zip" 2>/dev/null | wc -l)
    [[ $want == "$have" ]] || bad "$target: seed zip has $have of $want inputs"
    first=$(find "$corpus" -maxdepth 1 -type f ! -name '*.md' | sort | sed -n 1p)
    [[ -n $first ]] && input=$first
  fi
  if ! env -i PATH=/usr/bin:/bin "$binary" "$input" >"$tmp/run.log" 2>&1; then
    bad "$target: running one input failed:"; tail -15 "$tmp/run.log"
  fi
  if ldd "$binary" | grep -E 'lib(jansson|lzma|xxhash|z|zstd|crypto)\.so'; then
    bad "$target: links a library the runner images lack"
  fi
  count=$((count + 1))
done
echo "oss-fuzz build: $count targets checked in $((SECONDS - started)) s"
exit $status
