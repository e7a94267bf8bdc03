/*
 * canary_fuzz.c: a target that must always fail (STYLE R25).  It aborts on
 * any input that starts with the stream magic "QEVM", which libFuzzer's
 * comparison tracing finds within seconds; harness/test.sh requires that it
 * does, proving the fuzzing tool chain really runs.  Its corpus holds only
 * inputs that do not crash, so its replay passes.
 */
#include "sim_base.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size >= 4 && memcmp(data, "QEVM", 4) == 0) {
    fprintf(stderr, "canary_fuzz: found the canary\n");
    abort();
  }
  return 0;
}
