/*
 * pci.c: PCI functions, config space and buses (overview in pci.h; the
 * register layout is PCI Local Bus 3.0's type 0 header).
 *
 * Write semantics per byte: new = (old & ~wmask) | (value & wmask), then
 * bits set in value and in w1cmask are cleared.  The read-only identity
 * bytes are also in cmask, and a load must bring the same values (QEMU's
 * get_pci_config_device does the same comparison, 7.2 hw/pci/pci.c).
 */
#include "sim_base.h"

#include "pci.h"

static void config_set(struct pci_function *fn, uint32_t offset, uint32_t value,
                       uint32_t bytes, bool checked)
{
  SIM_ASSERT(offset + bytes <= PCI_CONFIG_BYTES);
  for (uint32_t i = 0; i < bytes; i++) {
    fn->config[offset + i] = (uint8_t)(value >> (8 * i));
    if (checked) {
      fn->cmask[offset + i] = 0xff;
      fn->config_ro[offset + i] = fn->config[offset + i];
    }
  }
}

static void mask_set(uint8_t *mask, uint32_t offset, uint32_t value, uint32_t bytes)
{
  SIM_ASSERT(offset + bytes <= PCI_CONFIG_BYTES);
  for (uint32_t i = 0; i < bytes; i++) mask[offset + i] = (uint8_t)(value >> (8 * i));
}

void pci_function_init(struct pci_function *fn, const struct pci_function_id *id)
{
  SIM_ASSERT(id->class_code <= 0xffffffu);
  SIM_ASSERT(id->bar0_bytes == 0 || (id->bar0_bytes >= 16 &&
                                     (id->bar0_bytes & (id->bar0_bytes - 1)) == 0));
  memset(fn, 0, sizeof(*fn));
  fn->vendor_id = id->vendor_id;
  fn->device_id = id->device_id;
  config_set(fn, PCI_VENDOR_ID, id->vendor_id, 2, true);
  config_set(fn, PCI_DEVICE_ID, id->device_id, 2, true);
  config_set(fn, PCI_REVISION_ID, id->revision_id, 1, true);
  config_set(fn, PCI_CLASS_PROG, id->class_code, 3, true);
  config_set(fn, PCI_HEADER_TYPE, 0, 1, true);
  config_set(fn, PCI_SUBSYSTEM_VENDOR_ID, id->subsystem_vendor_id, 2, true);
  config_set(fn, PCI_SUBSYSTEM_ID, id->subsystem_id, 2, true);
  config_set(fn, PCI_INTERRUPT_PIN, 1, 1, true);        /* INTA# */
  mask_set(fn->wmask, PCI_COMMAND, 0x0407, 2);          /* io, memory, master, intx-disable */
  mask_set(fn->w1cmask, PCI_STATUS, 0xf900, 2);         /* error bits are RW1C */
  mask_set(fn->wmask, PCI_INTERRUPT_LINE, 0xff, 1);
  if (id->bar0_bytes != 0) mask_set(fn->wmask, PCI_BAR0, ~(id->bar0_bytes - 1) & ~0xfu, 4);
  fn->caps_end = PCI_CAPS_START;
  fn->msi_count = 0;
}

void pci_function_ops_set(struct pci_function *fn, const struct pci_function_ops *ops,
                          void *opaque)
{
  SIM_ASSERT(ops != NULL);
  SIM_ASSERT(ops->config_read != NULL && ops->config_write != NULL);
  fn->ops = ops;
  fn->ops_opaque = opaque;
}

uint32_t pci_capability_add(struct pci_function *fn, uint8_t cap_id, uint32_t size_bytes)
{
  SIM_ASSERT(size_bytes >= 2);
  uint32_t offset = fn->caps_end;
  SIM_ASSERT(offset + size_bytes <= PCI_CONFIG_BYTES);
  config_set(fn, offset, cap_id, 1, true);
  config_set(fn, offset + 1, 0, 1, true);               /* end of list, for now */
  if (fn->cap_last == 0) {
    config_set(fn, PCI_CAPABILITY_LIST, offset, 1, true);
    uint32_t status = fn->config[PCI_STATUS] | (uint32_t)fn->config[PCI_STATUS + 1] << 8;
    config_set(fn, PCI_STATUS, status | PCI_STATUS_CAP_LIST, 2, false);
    fn->cmask[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
    fn->config_ro[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
  } else {
    config_set(fn, fn->cap_last + 1, offset, 1, true);
  }
  fn->cap_last = offset;
  /* Capabilities start dword-aligned (PCI 3.0 6.7). */
  fn->caps_end = (offset + size_bytes + 3u) & ~3u;
  return offset;
}

uint32_t pci_msi_add(struct pci_function *fn)
{
  SIM_ASSERT(fn->msi_offset == 0);
  uint32_t offset = pci_capability_add(fn, PCI_CAP_ID_MSI, 14);
  config_set(fn, offset + 2, PCI_MSI_FLAGS_64BIT, 2, true);
  mask_set(fn->wmask, offset + 2, PCI_MSI_FLAGS_ENABLE, 2);
  mask_set(fn->wmask, offset + 4, 0xfffffffcu, 4);      /* address, dword aligned */
  mask_set(fn->wmask, offset + 8, 0xffffffffu, 4);      /* address high */
  mask_set(fn->wmask, offset + 12, 0xffffu, 2);         /* data */
  fn->msi_offset = offset;
  return offset;
}

bool pci_msi_enabled(const struct pci_function *fn)
{
  if (fn->msi_offset == 0) return false;
  return (fn->config[fn->msi_offset + 2] & PCI_MSI_FLAGS_ENABLE) != 0;
}

bool pci_bus_master_enabled(const struct pci_function *fn)
{
  return (fn->config[PCI_COMMAND] & PCI_COMMAND_MASTER) != 0;
}

void pci_irq_raise(struct pci_function *fn)
{
  if (pci_msi_enabled(fn)) {
    fn->msi_count++;
  } else {
    fn->intx_count++;
  }
}

static bool access_valid(uint32_t offset, uint32_t bytes)
{
  if (bytes != 1 && bytes != 2 && bytes != 4) return false;
  if (offset >= PCI_CONFIG_BYTES || offset + bytes > PCI_CONFIG_BYTES) return false;
  return offset % bytes == 0;
}

uint32_t pci_config_read_default(const struct pci_function *fn, uint32_t offset,
                                 uint32_t bytes)
{
  if (!access_valid(offset, bytes)) return UINT32_MAX;
  uint32_t value = 0;
  for (uint32_t i = 0; i < bytes; i++) value |= (uint32_t)fn->config[offset + i] << (8 * i);
  return value;
}

void pci_config_write_default(struct pci_function *fn, uint32_t offset, uint32_t value,
                              uint32_t bytes)
{
  if (!access_valid(offset, bytes)) return;
  for (uint32_t i = 0; i < bytes; i++) {
    uint8_t byte = (uint8_t)(value >> (8 * i));
    uint32_t at = offset + i;
    uint8_t next = (uint8_t)((fn->config[at] & ~fn->wmask[at]) | (byte & fn->wmask[at]));
    next &= (uint8_t)~(byte & fn->w1cmask[at]);
    fn->config[at] = next;
  }
}

void pci_config_ro_set(struct pci_function *fn, uint32_t offset, uint32_t value,
                       uint32_t bytes)
{
  SIM_ASSERT(bytes >= 1 && bytes <= 4);
  config_set(fn, offset, value, bytes, true);
}

bool pci_config_ro_mismatch(const struct pci_function *fn, uint32_t *index)
{
  for (uint32_t i = 0; i < PCI_CONFIG_BYTES; i++) {
    uint8_t checked = (uint8_t)(fn->cmask[i] & ~fn->wmask[i] & ~fn->w1cmask[i]);
    if (((fn->config[i] ^ fn->config_ro[i]) & checked) == 0) continue;
    *index = i;
    return true;
  }
  return false;
}

/* Load validation: the read-only identity bytes must be the local ones. */
static int pci_function_post_load(void *opaque, int32_t version_id)
{
  const struct pci_function *fn = opaque;
  (void)version_id;
  uint32_t index;
  return pci_config_ro_mismatch(fn, &index) ? -1 : 0;
}

/* QEMU 7.2 get_pci_config_device's message for the byte post_load refused. */
static void pci_function_load_error(const void *opaque, char *detail, size_t detail_bytes)
{
  const struct pci_function *fn = opaque;
  uint32_t i = 0;
  if (!pci_config_ro_mismatch(fn, &i)) {
    snprintf(detail, detail_bytes, "Bad config data");
    return;
  }
  snprintf(detail, detail_bytes, "Bad config data: i=0x%" PRIx32 " read: %x device: %x "
           "cmask: %x wmask: %x w1cmask:%x", i, fn->config[i], fn->config_ro[i], fn->cmask[i],
           fn->wmask[i], fn->w1cmask[i]);
}

static const struct vmstate_field pci_function_fields[] = {
    VMSTATE_UINT16_EQUAL(struct pci_function, vendor_id),
    VMSTATE_UINT16_EQUAL(struct pci_function, device_id),
    VMSTATE_BUFFER(struct pci_function, config),
    VMSTATE_UINT64(struct pci_function, msi_count),
    VMSTATE_UINT64(struct pci_function, intx_count),
};

const struct vmstate_desc pci_function_vmstate = {
    .name = "pci",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = pci_function_fields,
    .field_count = SIM_ARRAY_COUNT(pci_function_fields),
    .post_load = pci_function_post_load,
    .load_error = pci_function_load_error,
};

void pci_bus_init(struct pci_bus *bus, uint8_t number)
{
  memset(bus, 0, sizeof(*bus));
  bus->number = number;
}

bool pci_bus_attach(struct pci_bus *bus, struct pci_function *fn, uint8_t slot,
                    uint8_t function)
{
  SIM_ASSERT(slot < PCI_SLOTS_COUNT && function < PCI_FUNCTIONS_COUNT);
  uint32_t devfn = (uint32_t)slot * PCI_FUNCTIONS_COUNT + function;
  if (bus->functions[devfn] != NULL) return false;
  bus->functions[devfn] = fn;
  fn->bus = bus->number;
  fn->slot = slot;
  fn->function = function;
  snprintf(fn->path, sizeof(fn->path), "0000:%02x:%02x.%x", bus->number, slot, function);
  return true;
}

struct pci_function *pci_bus_find(const struct pci_bus *bus, uint8_t slot, uint8_t function)
{
  if (slot >= PCI_SLOTS_COUNT || function >= PCI_FUNCTIONS_COUNT) return NULL;
  return bus->functions[(uint32_t)slot * PCI_FUNCTIONS_COUNT + function];
}

uint32_t pci_bus_config_read(const struct pci_bus *bus, uint8_t slot, uint8_t function,
                             uint32_t offset, uint32_t bytes)
{
  const struct pci_function *fn = pci_bus_find(bus, slot, function);
  if (fn == NULL || !access_valid(offset, bytes)) return UINT32_MAX;
  if (fn->ops != NULL) return fn->ops->config_read(fn->ops_opaque, offset, bytes);
  return pci_config_read_default(fn, offset, bytes);
}

void pci_bus_config_write(struct pci_bus *bus, uint8_t slot, uint8_t function,
                          uint32_t offset, uint32_t value, uint32_t bytes)
{
  struct pci_function *fn = pci_bus_find(bus, slot, function);
  if (fn == NULL || !access_valid(offset, bytes)) return;
  if (fn->ops != NULL) {
    fn->ops->config_write(fn->ops_opaque, offset, value, bytes);
    return;
  }
  pci_config_write_default(fn, offset, value, bytes);
}
