#!/bin/bash -eu
# ClusterFuzzLite's build step: the same script OSS-Fuzz runs (docs/fuzzing.md).
exec "$SRC/migsim/fuzz/oss-fuzz/build.sh"
