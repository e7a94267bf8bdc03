/*
 * blockdev.c: the shared image and its write-ownership checker (overview in
 * blockdev.h).
 *
 * Ownership is not migrated: it belongs to each side's process, as an image
 * lock does, and only the machines' run state moves it.
 */
#include "sim_base.h"

#include "blockdev.h"
#include "machine.h"

#include <xxhash.h>

struct blockdev_image *blockdev_image_create(struct sim *sim, uint64_t sectors_count)
{
  SIM_ASSERT(sectors_count >= 1 && sectors_count <= BLOCKDEV_SECTORS_MAX);
  struct blockdev_image *image = sim_alloc(sim, sizeof(*image));
  image->sectors_count = sectors_count;
  image->bytes = sim_alloc(sim, sectors_count * BLOCKDEV_SECTOR_BYTES);
  image->sim = sim;
  return image;
}

uint64_t blockdev_image_hash(const struct blockdev_image *image)
{
  return XXH3_64bits(image->bytes, image->sectors_count * BLOCKDEV_SECTOR_BYTES);
}

bool blockdev_image_check(const struct blockdev_image *image, char *why, size_t why_bytes)
{
  if (image->violations_count == 0) return true;
  snprintf(why, why_bytes, "at %" PRIu64 " ns roles 0x%" PRIx32 " held write ownership "
           "together (%" PRIu64 " violation(s))", image->violation_first_ns,
           image->violation_first_mask, image->violations_count);
  return false;
}

/* The invariant: at most one bit in owners_mask. */
static void image_check(struct blockdev_image *image)
{
  uint32_t mask = image->owners_mask;
  if ((mask & (mask - 1)) == 0) return;
  if (image->violations_count == 0) {
    image->violation_first_ns = sim_now_ns(image->sim);
    image->violation_first_mask = mask;
  }
  image->violations_count++;
  sim_trace(image->sim, "blockdev.violation", mask, image->violations_count, 0, 0);
}

static const struct vmstate_field blockdev_fields[] = {
    VMSTATE_STRUCT(struct blockdev, pci, struct pci_function, pci_function_vmstate),
    VMSTATE_UINT64_EQUAL(struct blockdev, sectors_count),
    VMSTATE_UINT64(struct blockdev, writes_count),
    VMSTATE_UINT64(struct blockdev, writes_refused_count),
    VMSTATE_UINT64(struct blockdev, reads_count),
};

const struct vmstate_desc blockdev_vmstate = {
    .name = "blockdev",
    .version_id = 1,
    .minimum_version_id = 1,
    .priority = VMSTATE_PRIORITY_DEFAULT,
    .fields = blockdev_fields,
    .field_count = SIM_ARRAY_COUNT(blockdev_fields),
};

struct blockdev *blockdev_create(struct sim *sim, struct blockdev_image *image,
                                 uint32_t role_index, const struct blockdev_config *config)
{
  SIM_ASSERT(image != NULL && image->sectors_count == config->sectors_count);
  SIM_ASSERT(role_index < BLOCKDEV_OWNERS_MAX);
  struct blockdev *dev = sim_alloc(sim, sizeof(*dev));
  struct pci_function_id id = {.vendor_id = BLOCKDEV_VENDOR_ID,
                               .device_id = BLOCKDEV_DEVICE_ID,
                               .class_code = 0x018000u, /* mass storage, other */
                               .revision_id = 1, .bar0_bytes = 64};
  pci_function_init(&dev->pci, &id);
  pci_msi_add(&dev->pci);
  dev->sectors_count = config->sectors_count;
  dev->role_index = role_index;
  dev->quirk_activate_early = config->quirk_activate_early;
  dev->quirk_keep_ownership = config->quirk_keep_ownership;
  dev->image = image;
  dev->sim = sim;
  if (dev->quirk_activate_early) blockdev_activate(dev);
  return dev;
}

void blockdev_activate(struct blockdev *dev)
{
  if (dev->owner) return;
  dev->owner = true;
  dev->image->owners_mask |= UINT32_C(1) << dev->role_index;
  dev->image->transfers_count++;
  sim_trace(dev->sim, "blockdev.activate", dev->role_index, dev->image->owners_mask, 0, 0);
  image_check(dev->image);
}

void blockdev_activate_all(const struct machine *machine)
{
  SIM_ASSERT(machine != NULL);
  uint32_t count = machine_device_class_count(machine, &blockdev_class);
  for (uint32_t i = 0; i < count; i++) blockdev_activate(machine_blockdev(machine, i));
}

void blockdev_inactivate(struct blockdev *dev)
{
  if (!dev->owner || dev->quirk_keep_ownership) return;
  dev->owner = false;
  dev->image->owners_mask &= ~(UINT32_C(1) << dev->role_index);
  dev->image->transfers_count++;
  sim_trace(dev->sim, "blockdev.inactivate", dev->role_index, dev->image->owners_mask, 0, 0);
}

bool blockdev_write(struct blockdev *dev, uint64_t sector, const uint8_t *bytes)
{
  if (sector >= dev->sectors_count || !dev->owner) {
    dev->writes_refused_count++;
    return false;
  }
  image_check(dev->image);
  memcpy(dev->image->bytes + sector * BLOCKDEV_SECTOR_BYTES, bytes, BLOCKDEV_SECTOR_BYTES);
  dev->writes_count++;
  dev->image->writes_count++;
  sim_trace(dev->sim, "blockdev.write", dev->role_index, sector, bytes[0], dev->writes_count);
  return true;
}

bool blockdev_read(struct blockdev *dev, uint64_t sector, uint8_t *bytes)
{
  if (sector >= dev->sectors_count) return false;
  memcpy(bytes, dev->image->bytes + sector * BLOCKDEV_SECTOR_BYTES, BLOCKDEV_SECTOR_BYTES);
  dev->reads_count++;
  return true;
}

static struct dev_instance blockdev_class_create(const struct dev_create_args *args)
{
  const struct blockdev_config *config = dev_props_const(args->config);
  const struct blockdev *twin = args->twin;
  /* The destination opens the source's image: one shared object in the simulation. */
  struct blockdev_image *image =
      twin != NULL && twin->image->sectors_count == config->sectors_count
          ? twin->image
          : blockdev_image_create(args->sim, config->sectors_count);
  struct blockdev *dev = blockdev_create(args->sim, image, args->host->role_index, config);
  return (struct dev_instance){dev, &dev->pci};
}

static bool blockdev_class_config_check(const struct dev_config *config,
                                        const struct dev_check_env *env, char *why,
                                        size_t why_bytes)
{
  (void)env;
  const struct blockdev_config *block = dev_props_const(config);
  if (block->sectors_count == 0 || block->sectors_count > BLOCKDEV_SECTORS_MAX) {
    snprintf(why, why_bytes, "sectors must be 1..%" PRIu64, BLOCKDEV_SECTORS_MAX);
    return false;
  }
  return true;
}

static const struct vmstate_desc *blockdev_class_vmstate(const void *dev)
{
  (void)dev;
  return &blockdev_vmstate;
}

static void blockdev_class_run_state(void *dev, bool running)
{
  if (running) blockdev_activate(dev); else blockdev_inactivate(dev);
}

static bool blockdev_class_invariants_check(const void *opaque, char *why, size_t why_bytes)
{
  const struct blockdev *dev = opaque;
  char detail[160];
  if (blockdev_image_check(dev->image, detail, sizeof(detail))) return true;
  snprintf(why, why_bytes, "write ownership: %s", detail);
  return false;
}

static const struct dev_prop blockdev_props_table[] = {
    {.name = "sectors", .kind = DEV_PROP_U64, .low = 1, .high = BLOCKDEV_SECTORS_MAX,
     .default_value = 2048, .offset = DEV_PROPS_OFFSET(struct blockdev_config, sectors_count)},
};

static const struct dev_quirk blockdev_quirks[] = {
    {"activate-early", DEV_PROPS_OFFSET(struct blockdev_config, quirk_activate_early)},
    {"keep-ownership", DEV_PROPS_OFFSET(struct blockdev_config, quirk_keep_ownership)},
};

_Static_assert(sizeof(struct blockdev_config) <= DEV_PROPS_BYTES_MAX, "props fit");

const struct dev_class blockdev_class = {
    .name = "blockdev",
    .props = blockdev_props_table,
    .prop_count = SIM_ARRAY_COUNT(blockdev_props_table),
    .quirks = blockdev_quirks,
    .quirk_count = SIM_ARRAY_COUNT(blockdev_quirks),
    .props_bytes = sizeof(struct blockdev_config),
    .config_check = blockdev_class_config_check,
    .create = blockdev_class_create,
    .vmstate = blockdev_class_vmstate,
    .run_state = blockdev_class_run_state,
    .invariants_check = blockdev_class_invariants_check,
};
