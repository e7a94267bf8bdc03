/*
 * scenario_fuzz.c: scenario text (docs/scenario.md) through
 * conform_scenario_parse, as a user's typo or a hostile file would reach it.
 * The input is the whole file; no selector bytes.  STYLE R25: one input
 * format, no I/O, nothing kept between inputs.
 *
 * Oracles besides the sanitizers (conform_scenario.h's contract):
 * - a rejection reads `fuzz.json:LINE:COL: message`, then the line's text and
 *   a caret on lines of their own (STYLE R9), with LINE and COL from 1;
 * - an accepted scenario is range-checked: commands within their bound and
 *   in time order, its machine passes machine_config_check, and a machine
 *   small enough to build cheaply (RAM and disk within SMALL_BYTES_MAX) is
 *   built and destroyed without tripping an assertion of machine_create;
 * - parsing is a function of the text: a second parse gives the same verdict,
 *   the same message and the same command list.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "blockdev.h"
#include "conform_scenario.h"
#include "machine.h"
#include "sim.h"

#define SMALL_BYTES_MAX (UINT64_C(4) << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* `name:LINE:COL: ` with both numbers >= 1, a second line, and a caret last. */
static void check_error_text(const char *error)
{
  static const char prefix[] = "fuzz.json:";
  SIM_ASSERT(strncmp(error, prefix, sizeof prefix - 1) == 0);
  const char *at = error + sizeof prefix - 1;
  char *end = NULL;
  unsigned long line = strtoul(at, &end, 10);
  SIM_ASSERT(end != at && *end == ':' && line >= 1);
  at = end + 1;
  unsigned long column = strtoul(at, &end, 10);
  SIM_ASSERT(end != at && *end == ':' && column >= 1);
  SIM_ASSERT(strchr(end, '\n') != NULL);
  size_t length = strlen(error);
  SIM_ASSERT(length > 0 && error[length - 1] == '^');
}

/* Bytes of guest RAM and disk the machine would own, saturating. */
static uint64_t machine_bytes(const struct machine_config *config)
{
  uint64_t total = 0;
  for (uint32_t i = 0; i < config->ram_count; i++) {
    const struct machine_ram_config *ram = &config->ram[i];
    uint64_t largest = SIM_MAX(ram->bytes, SIM_MAX(ram->max_bytes, ram->boot_bytes));
    total = largest > UINT64_MAX - total ? UINT64_MAX : total + largest;
  }
  for (uint32_t i = 0; i < config->device_count; i++) {
    if (strcmp(config->devices[i].driver, blockdev_class.name) != 0) continue;
    const struct blockdev_config *block = dev_props_const(&config->devices[i]);
    uint64_t sectors = block->sectors_count;
    uint64_t disk = sectors > UINT64_MAX / 512 ? UINT64_MAX : sectors * 512;
    total = disk > UINT64_MAX - total ? UINT64_MAX : total + disk;
  }
  return total;
}

static void check_accepted(const struct conform_scenario *scenario)
{
  SIM_ASSERT(scenario->command_count <= CONFORM_COMMANDS_MAX);
  for (uint32_t i = 1; i < scenario->command_count; i++) {
    SIM_ASSERT(scenario->commands[i - 1].at_ns <= scenario->commands[i].at_ns);
  }
  SIM_ASSERT(scenario->events_max >= 1 && scenario->time_ns_max >= 1);
  SIM_ASSERT(scenario->retries_max <= CONFORM_RETRIES_MAX);
  char why[256];
  SIM_ASSERT(machine_config_check(&scenario->machine, why, sizeof why));
  if (machine_bytes(&scenario->machine) > SMALL_BYTES_MAX) return;
  struct sim_options options = {.seed = scenario->seed, .events_max = 1};
  struct sim *sim = fuzz_sim_create(&options);
  SIM_ASSERT(machine_create(sim, &scenario->machine, 0) != NULL);
  sim_destroy(sim);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size > CONFORM_SCENARIO_BYTES_MAX) return 0;
  /* Two scenarios are 2 x ~100 KiB: on the heap, not the fuzzer's stack. */
  struct conform_scenario *first = malloc(sizeof *first);
  struct conform_scenario *second = malloc(sizeof *second);
  SIM_ASSERT(first != NULL && second != NULL);
  char error[CONFORM_ERROR_BYTES], error_again[CONFORM_ERROR_BYTES];
  error[0] = error_again[0] = '\0';
  const char *text = (const char *)data;
  bool ok = conform_scenario_parse(text, size, "fuzz.json", first, error, sizeof error);
  bool ok_again = conform_scenario_parse(text, size, "fuzz.json", second, error_again,
                                         sizeof error_again);
  SIM_ASSERT(ok == ok_again);
  if (ok) {
    SIM_ASSERT(first->command_count == second->command_count);
    for (uint32_t i = 0; i < first->command_count; i++) {
      const struct conform_command *a = &first->commands[i], *b = &second->commands[i];
      SIM_ASSERT(a->at_ns == b->at_ns && a->kind == b->kind);
      SIM_ASSERT(strcmp(a->execute, b->execute) == 0);
    }
    check_accepted(first);
  } else {
    SIM_ASSERT(strcmp(error, error_again) == 0);
    check_error_text(error);
  }
  free(first);
  free(second);
  return 0;
}
