/*
 * vfio_fuzz.c: the payload of one vfio live section (migration/mig_vfio.h),
 * as hostile bytes, into a fresh destination vfiodev (STYLE R25).
 *
 * Byte 0 selects the section type (START, PART, END or FULL, by value mod 4)
 * and bit 7 the destination's switchover-ack capability; the rest is the
 * payload after the section header.  The device is small (16 pages) so that
 * page indexes hit both sides of its bound.  The loader must return MIG_OK or
 * a latched, located error; a loaded device must hold only non-zero
 * generations where it was given pages, and an accepted FULL section
 * (DEV_CONFIG_STATE) must leave every read-only config byte as it was.
 */
#include "sim_base.h"

#include "fuzz_machine.h"
#include "machine.h"
#include "mig_format.h"
#include "mig_vfio.h"
#include "sim.h"
#include "vfiodev.h"

#define FUZZ_INPUT_BYTES_MAX (UINT32_C(1) << 20)
#define FUZZ_VFIO_PAGES 16u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct machine_config vfio_machine_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 16 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "vfiodev");
  config.devices[0].slot = 5;
  *vfiodev_props(&config.devices[0]) = (struct vfiodev_config){.state_bytes = FUZZ_VFIO_PAGES *
                                                                  RAM_PAGE_BYTES};
  return config;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 1 || size > FUZZ_INPUT_BYTES_MAX) return 0;
  static const uint8_t types[4] = {MIG_SECTION_START, MIG_SECTION_PART, MIG_SECTION_END,
                                   MIG_SECTION_FULL};
  uint8_t type = types[(data[0] & 0x7f) % 4];
  bool ack = (data[0] & 0x80) != 0;
  struct sim_options options = {.seed = 1, .events_max = 1000};
  struct sim *sim = fuzz_sim_create(&options);
  struct machine_config config = vfio_machine_config();
  struct machine *machine = machine_create(sim, &config, 1);
  struct vfiodev *dev = machine_vfiodev(machine, 0);
  struct mig_vfio_dest dest;
  struct dev_live live = machine_live(machine, 0);
  mig_vfio_dest_init(&dest, &live, ack, NULL);
  struct mig_reader reader;
  mig_reader_init_memory(&reader, data + 1, size - 1);
  enum mig_err err = mig_vfio_load(&dest, &reader, type);
  SIM_ASSERT(err == MIG_OK || mig_reader_failed(&reader));
  SIM_ASSERT(err == MIG_OK || mig_reader_error(&reader)->offset <= size - 1);
  SIM_ASSERT(dest.loaded_pages_count <= (size - 1) / MIG_VFIO_RECORD_BYTES);
  SIM_ASSERT(dev->generations_digest == vfiodev_generations_digest(dev));
  uint32_t index = 0;
  SIM_ASSERT(err != MIG_OK || !vfiodev_config_ro_mismatch(dev, &index));
  SIM_ASSERT(err != MIG_OK || type != MIG_SECTION_FULL || dev->config_loaded);
  SIM_ASSERT(err == MIG_OK || strncmp(mig_reader_error(&reader)->path, "0000:00:05.0/vfio/",
                                      18) == 0);
  sim_destroy(sim);
  return 0;
}
