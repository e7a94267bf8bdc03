/*
 * testdev.c: the register device of testdev.h and its vmstate table.
 *
 * The table is the whole migration contract: the migration layer reads and
 * writes these fields through it and nothing else (STYLE tangle 1).
 */
#include "sim_base.h"

#include "pci.h"
#include "testdev.h"

static bool testdev_extra_needed(void *opaque)
{
  const struct testdev *dev = opaque;
  /* Sent whenever it holds state; the quirk reproduces a predicate that forgets it. */
  if (dev->quirk_lossy_extra) return (dev->ctrl & TESTDEV_CTRL_EXTRA) != 0;
  return dev->extra != 0;
}

static const struct vmstate_field testdev_extra_fields[] = {
    VMSTATE_UINT64(struct testdev, extra),
};

static const struct vmstate_desc testdev_extra_vmstate = {
    .name = "testdev/extra",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = testdev_extra_fields,
    .field_count = SIM_ARRAY_COUNT(testdev_extra_fields),
    .needed = testdev_extra_needed,
};

static const struct vmstate_desc *const testdev_subsections[] = {
    &testdev_extra_vmstate,
};

static int testdev_post_load(void *opaque, int32_t version_id)
{
  struct testdev *dev = opaque;
  /* A version 1 stream has no mode field: derive it as version 2 would hold it. */
  if (version_id < 2) dev->mode = dev->ctrl & 3u;
  return 0;
}

static const struct vmstate_field testdev_fields[] = {
    VMSTATE_UINT32_EQUAL(struct testdev, device_id),
    VMSTATE_UINT8(struct testdev, ctrl),
    VMSTATE_UINT16(struct testdev, status),
    VMSTATE_UINT32(struct testdev, count),
    VMSTATE_INT32(struct testdev, level),
    VMSTATE_BOOL(struct testdev, irq_pending),
    VMSTATE_UINT64(struct testdev, last_write_vm_ns),
    VMSTATE_UINT16_V(struct testdev, mode, 2),
    VMSTATE_BUFFER(struct testdev, scratch),
    VMSTATE_UINT64_ARRAY(struct testdev, history, 4),
};

const struct vmstate_desc testdev_vmstate = {
    .name = "testdev",
    .version_id = 2,
    .minimum_version_id = 1,
    .priority = VMSTATE_PRIORITY_DEFAULT,
    .fields = testdev_fields,
    .field_count = SIM_ARRAY_COUNT(testdev_fields),
    .subsections = testdev_subsections,
    .subsection_count = SIM_ARRAY_COUNT(testdev_subsections),
    .post_load = testdev_post_load,
};

struct testdev *testdev_create(struct sim *sim, uint32_t device_id, bool quirk_lossy_extra)
{
  struct testdev *dev = sim_alloc(sim, sizeof(*dev));
  dev->quirk_lossy_extra = quirk_lossy_extra;
  dev->sim = sim;
  dev->device_id = device_id;
  return dev;
}

/* testdev predates PCI here: it gets a plain function on the bus, outside its vmstate. */
static struct dev_instance testdev_class_create(const struct dev_create_args *args)
{
  const struct testdev_config *config = dev_props_const(args->config);
  struct testdev *dev = testdev_create(args->sim, config->device_id, config->quirk_lossy_extra);
  struct pci_function *fn = sim_alloc(args->sim, sizeof(*fn));
  struct pci_function_id id = {.vendor_id = 0x1b36u, .device_id = 0x00f2u,
                               .class_code = 0x00ff00u, .revision_id = 1};
  pci_function_init(fn, &id);
  return (struct dev_instance){dev, fn};
}

static const struct vmstate_desc *testdev_class_vmstate(const void *dev)
{
  (void)dev;
  return &testdev_vmstate;
}

static const struct dev_prop testdev_props_table[] = {
    {.name = "device_id", .kind = DEV_PROP_U32, .high = UINT32_MAX,
     .offset = DEV_PROPS_OFFSET(struct testdev_config, device_id)},
};

static const struct dev_quirk testdev_quirks[] = {
    {"lossy-extra", DEV_PROPS_OFFSET(struct testdev_config, quirk_lossy_extra)},
};

_Static_assert(sizeof(struct testdev_config) <= DEV_PROPS_BYTES_MAX, "props fit");

/* "extra" held with its enable bit clear: its subsection is not sent (lossy-extra's prey). */
static uint32_t testdev_class_in_flight(const void *opaque)
{
  const struct testdev *dev = opaque;
  bool held = dev->extra != 0 && (dev->ctrl & TESTDEV_CTRL_EXTRA) == 0;
  return held ? UINT32_C(1) << DEV_FLIGHT_EXTRA : 0;
}

const struct dev_class testdev_class = {
    .name = "testdev",
    .props = testdev_props_table,
    .prop_count = SIM_ARRAY_COUNT(testdev_props_table),
    .quirks = testdev_quirks,
    .quirk_count = SIM_ARRAY_COUNT(testdev_quirks),
    .props_bytes = sizeof(struct testdev_config),
    .create = testdev_class_create,
    .vmstate = testdev_class_vmstate,
    .in_flight = testdev_class_in_flight,
};

void testdev_mmio_write(struct testdev *dev, uint64_t vm_ns, uint32_t reg, uint64_t value)
{
  SIM_ASSERT(reg < TESTDEV_REGS_COUNT);
  switch (reg) {
  case 0:
    dev->ctrl = (uint8_t)value;
    dev->mode = (uint16_t)(value & 3u);
    break;
  case 1:
    dev->status ^= (uint16_t)value;
    break;
  case 2:
    dev->level += (int32_t)(value & 0xff) - 128;
    break;
  default:
    dev->scratch[value % sizeof(dev->scratch)] = (uint8_t)(value >> 8);
    break;
  }
  if (dev->ctrl & TESTDEV_CTRL_EXTRA) dev->extra += value;
  dev->history[dev->count % 4] = value;
  dev->count++;
  dev->irq_pending = dev->count % 7 == 0;
  dev->last_write_vm_ns = vm_ns;
  sim_trace(dev->sim, "testdev.write", reg, value, dev->count, dev->device_id);
}
