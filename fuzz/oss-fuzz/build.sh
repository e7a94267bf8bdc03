#!/bin/bash -eu
# Builds every migsim fuzz target the OSS-Fuzz / ClusterFuzzLite way
# (docs/fuzzing.md).  The engine and sanitizer come only from the environment,
# as OSS-Fuzz sets it: $CC, $CXX, $CFLAGS, $CXXFLAGS, $LIB_FUZZING_ENGINE, and
# $OUT for the results ($WORK for objects, default $OUT/obj).  Nothing here
# names a sanitizer (STYLE R28).
#
# Per target fuzz/T_fuzz.c it writes $OUT/T_fuzz, $OUT/T_fuzz.options,
# $OUT/T_fuzz.dict and $OUT/T_fuzz_seed_corpus.zip.  canary_fuzz is left out:
# it must always crash (STYLE R25), which on OSS-Fuzz would be a bug report
# per day; harness/test.sh runs it locally instead.
#
# Libraries: jansson, liblzma, xxHash, zlib, zstd and libcrypto are linked
# statically, so the binaries run on the engines' runner images, which lack
# them.  With $SRC/xxhash present (the Dockerfile clones xxHash 0.8.2: the
# distribution's 0.7 lacks the stable XXH3 API) xxhash.c is compiled in.
#
# Layers build as in configure.py: each folder's library sources (not
# *_test.c, runner.c, migsim.c, replay.c, *_fuzz.c) see their own folder and
# the folders below it; sim/, models/ and migration/ get
# -DSIM_DETERMINISTIC_PATH.  Compilation runs $JOBS at a time (default nproc).
# Run from the checkout (fuzz/oss-fuzz/build.sh) or, as OSS-Fuzz does, as
# $SRC/build.sh next to the clone in $SRC/migsim.
SRC=${SRC:-}
here=$(cd "$(dirname "$0")" && pwd)
if [[ -f $here/../../configure.py ]]; then cd "$here/../.."; else cd "$SRC/migsim"; fi
: "${CC:?}" "${CXX:?}" "${CFLAGS:?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}"
CXXFLAGS=${CXXFLAGS:-$CFLAGS}
WORK=${WORK:-$OUT/obj}
JOBS=${JOBS:-$(nproc)}
mkdir -p "$OUT" "$WORK"
OUT=$(cd "$OUT" && pwd)
WORK=$(cd "$WORK" && pwd)

layers=(sim models migration conformance fuzz)
flags="-std=c11 -D_POSIX_C_SOURCE=200809L -DSIM_FUZZING"
extra_objects=()
if [[ -n $SRC && -f $SRC/xxhash/xxhash.c ]]; then
  flags+=" -I$SRC/xxhash"
  $CC $CFLAGS -O2 -c "$SRC/xxhash/xxhash.c" -o "$WORK/xxhash.o"
  extra_objects+=("$WORK/xxhash.o")
  static_libs="-ljansson -llzma -lz -lzstd -lcrypto"
else
  static_libs="-ljansson -llzma -lxxhash -lz -lzstd -lcrypto"
fi

# includes LAYER: -I for the layer and every layer below it (fuzz sees all).
includes() {
  local out="" layer
  for layer in "${layers[@]}"; do
    out="-I$layer $out"
    [[ $layer == "$1" ]] && break
  done
  echo "$out"
}

# One line per library object: "CC-ARGS... -c SOURCE -o OBJECT".
commands=()
for layer in "${layers[@]}"; do
  mkdir -p "$WORK/$layer"
  defines=""
  case $layer in sim|models|migration) defines="-DSIM_DETERMINISTIC_PATH" ;; esac
  for source in "$layer"/*.c; do
    name=$(basename "$source" .c)
    case $name in *_test|runner|migsim|replay|*_fuzz) continue ;; esac
    commands+=("$flags $defines $(includes "$layer") -c $source -o $WORK/$layer/$name.o")
  done
done
# CFLAGS stays one shell word list; each command line is split by xargs' sh.
printf '%s\n' "${commands[@]}" |
  xargs -P "$JOBS" -I{} sh -c "$CC $CFLAGS {}"

libs=()
for layer in fuzz conformance migration models sim; do
  objects=("$WORK/$layer"/*.o)
  [[ -e ${objects[0]} ]] || continue
  rm -f "$WORK/lib$layer.a"
  ar crs "$WORK/lib$layer.a" "${objects[@]}"
  libs+=("$WORK/lib$layer.a")
done

for source in fuzz/*_fuzz.c; do
  target=$(basename "$source" .c)
  [[ $target == canary_fuzz ]] && continue
  $CC $CFLAGS $flags $(includes fuzz) -c "$source" -o "$WORK/$target.o"
  # Linked by $CXX: an engine given as a static archive ($LIB_FUZZING_ENGINE
  # for AFL++ or honggfuzz) needs the C++ runtime.
  $CXX $CXXFLAGS "$WORK/$target.o" "${libs[@]}" "${extra_objects[@]}" $LIB_FUZZING_ENGINE \
    -Wl,-Bstatic $static_libs -Wl,-Bdynamic -lm -ldl -pthread -o "$OUT/$target"
  [[ -f fuzz/$target.options ]] && cp "fuzz/$target.options" "$OUT/"
  [[ -f fuzz/$target.dict ]] && cp "fuzz/$target.dict" "$OUT/"
  rm -f "$OUT/${target}_seed_corpus.zip"
  if [[ -d fuzz/corpus/$target ]]; then
    (cd "fuzz/corpus/$target" && zip -q -X "$OUT/${target}_seed_corpus.zip" \
      $(ls | grep -v '\.md$'))
  fi
done
