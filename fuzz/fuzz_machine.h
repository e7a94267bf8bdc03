/*
 * fuzz_machine.h: the destination machine of the loader's fuzz targets
 * (stream_fuzz, loadwalk_fuzz): the machine of
 * conformance/scenarios/fuzz-small.json, so the seed corpora (streams migsim
 * wrote for that scenario) load deep.
 */
#ifndef FUZZ_MACHINE_H
#define FUZZ_MACHINE_H

#include "sim_base.h"
#include "machine.h"
#include "mig_err.h"

struct machine_config fuzz_machine_config(void);
/*
 * Loads data with the strict loader into a fresh machine of that config and
 * returns its verdict; *error gets the latched error.  Asserts the loader's
 * own contract: every refusal is latched, with an offset inside the input.
 */
enum mig_err fuzz_machine_load(const uint8_t *data, size_t size, struct mig_error *error);

#endif /* FUZZ_MACHINE_H */
