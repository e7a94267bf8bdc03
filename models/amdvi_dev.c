/*
 * amdvi_dev.c: the AMD IOMMU as a device class, "amd-iommu" (dev.h; the
 * model is amdvi.h, its placement rules spec/amd-iommu.md §3.3-3.4).
 *
 * The class adapts the model to the device interface: the IOMMU's guest
 * memory and its own MSI go through the host, and its AMDVI-PCI half is a
 * function whose config cycles all go to the model's own config space.
 * Without "addr", AMDVI-PCI goes where QEMU's realize puts it (the class is
 * addr_optional); such a placement blocks migration (pci_placed_explicitly).
 */
#include "sim_base.h"

#include "amdvi.h"
#include "dev.h"
#include "pci.h"

static bool memory_read(void *context, uint64_t gpa, void *bytes, uint32_t count)
{
  return dev_host_dma_read(context, gpa, bytes, count);
}

static bool memory_write(void *context, uint64_t gpa, const void *bytes, uint32_t count)
{
  return dev_host_dma_write(context, gpa, bytes, count);
}

/* The IOMMU's own MSI; the host knows which device sends it (no requester id needed). */
static void memory_msi(void *context, uint64_t address, uint32_t data)
{
  dev_host_msi(context, 0, address, data);
}

static uint32_t config_read(void *opaque, uint32_t offset, uint32_t bytes)
{
  return amdvi_pci_config_read(opaque, offset, bytes);
}

static void config_write(void *opaque, uint32_t offset, uint32_t value, uint32_t bytes)
{
  amdvi_pci_config_write(opaque, offset, bytes, value);
}

static const struct pci_function_ops amdvi_pci_ops = {config_read, config_write};

static struct dev_instance amdvi_class_create(const struct dev_create_args *args)
{
  const struct dev_config *config = args->config;
  struct amdvi_config iommu_config = *(const struct amdvi_config *)dev_props_const(config);
  iommu_config.pci_bdf = (uint16_t)(config->bus << 8 | config->slot << 3 | config->function);
  iommu_config.pci_placed_explicitly = !config->addr_implicit;
  struct amdvi_memory_ops ops = {memory_read, memory_write, memory_msi, args->host};
  struct amdvi *iommu = amdvi_create(args->sim, &iommu_config, &ops);
  /* The bus sees a function whose config cycles all go to the model's own config space. */
  struct pci_function *fn = sim_alloc(args->sim, sizeof(*fn));
  struct pci_function_id id = {.vendor_id = AMDVI_PCI_VENDOR_ID,
                               .device_id = AMDVI_PCI_DEVICE_ID, .class_code = 0x080600u};
  pci_function_init(fn, &id);
  pci_function_ops_set(fn, &amdvi_pci_ops, iommu);
  return (struct dev_instance){iommu, fn};
}

static bool amdvi_class_config_check(const struct dev_config *config,
                                     const struct dev_check_env *env, char *why,
                                     size_t why_bytes)
{
  (void)env;
  if (config->bus == 0) return true;
  /* IVRS names AMDVI-PCI by devfn only, bus 0 implied (spec §3.3). */
  snprintf(why, why_bytes, "AMDVI-PCI must be on bus 0");
  return false;
}

static const struct vmstate_desc *amdvi_class_vmstate(const void *dev)
{
  return amdvi_vmstate_desc(dev);
}

static void amdvi_class_run_state(void *dev, bool running)
{
  if (running) amdvi_vm_resume(dev); else amdvi_vm_stop(dev);
}

static const char *amdvi_class_save_error(const void *dev)
{
  return amdvi_migration_error(dev);
}

#define AMDVI_PROP(field) DEV_PROPS_OFFSET(struct amdvi_config, field)

static const char *const amdvi_profiles[] = {"default", "qemu-10.1", NULL};

/* QEMU's defaults (amdvi_config_default); commands_per_step_max stays 0: a doorbell runs all. */
static const struct dev_prop amdvi_props_table[] = {
    {.name = "profile", .kind = DEV_PROP_ENUM, .names = amdvi_profiles,
     .default_value = AMDVI_PROFILE_DEFAULT, .offset = AMDVI_PROP(profile)},
    {.name = "xtsup", .kind = DEV_PROP_BOOL, .offset = AMDVI_PROP(xtsup)},
    {.name = "intremap", .kind = DEV_PROP_BOOL, .default_value = 1, .offset = AMDVI_PROP(intremap)},
    {.name = "dma_remap", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = AMDVI_PROP(dma_remap)},
    {.name = "dma_translation", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = AMDVI_PROP(dma_translation)},
    {.name = "device_iotlb", .kind = DEV_PROP_BOOL, .offset = AMDVI_PROP(device_iotlb)},
    {.name = "illegal_command_continue", .kind = DEV_PROP_BOOL,
     .offset = AMDVI_PROP(illegal_command_continue)},
};

_Static_assert(sizeof(struct amdvi_config) <= DEV_PROPS_BYTES_MAX, "props fit");
_Static_assert(sizeof(enum amdvi_profile) == sizeof(uint32_t), "an enum property is 32 bits");

static uint32_t amdvi_class_in_flight(const void *opaque)
{
  const struct amdvi *dev = opaque;
  uint32_t state = 0;
  if (amdvi_commands_pending(dev) > 0) state |= UINT32_C(1) << DEV_FLIGHT_IOMMU;
  if (amdvi_ats_pending_count(dev) > 0) state |= UINT32_C(1) << DEV_FLIGHT_ATS;
  return state;
}

const struct dev_class amdvi_class = {
    .name = "amd-iommu",
    .props = amdvi_props_table,
    .prop_count = SIM_ARRAY_COUNT(amdvi_props_table),
    .props_bytes = sizeof(struct amdvi_config),
    .addr_optional = true,
    .config_check = amdvi_class_config_check,
    .create = amdvi_class_create,
    .vmstate = amdvi_class_vmstate,
    .run_state = amdvi_class_run_state,
    .save_error = amdvi_class_save_error,
    .in_flight = amdvi_class_in_flight,
};
