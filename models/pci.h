/*
 * pci.h: PCI functions, their configuration space, and the buses that place
 * them at an explicit bus:device.function.
 *
 * A function owns a 256-byte configuration space with a write mask and a
 * write-1-to-clear mask per byte, a capability list (the order in which
 * capabilities are added is the order the guest walks, and it must stay the
 * same across migration: seed 003), and an optional 64-bit MSI capability.
 * A device model embeds a struct pci_function and may install its own config
 * read/write callbacks (the AMD IOMMU's AMDVI-PCI function does): the bus
 * then routes every config access there instead of to the default accessors.
 *
 * The migrated part is pci_function_vmstate ("pci"): the vendor and device
 * ids as must-be-equal fields, then the whole config space and the interrupt
 * counters; its post_load refuses a config space whose read-only bytes differ
 * from the local function's (QEMU's "Bad config data" check).
 */
#ifndef PCI_H
#define PCI_H

#include "sim_base.h"
#include "models_limits.h"
#include "vmstate_desc.h"

#define PCI_CONFIG_BYTES 256u
#define PCI_SLOTS_COUNT 32u
#define PCI_FUNCTIONS_COUNT 8u
#define PCI_PATH_BYTES 16u                /* "0000:00:04.0" and a NUL */

/* Standard header offsets (PCI Local Bus 3.0, type 0 header). */
#define PCI_VENDOR_ID 0x00u
#define PCI_DEVICE_ID 0x02u
#define PCI_COMMAND 0x04u
#define PCI_STATUS 0x06u
#define PCI_REVISION_ID 0x08u
#define PCI_CLASS_PROG 0x09u
#define PCI_HEADER_TYPE 0x0eu
#define PCI_BAR0 0x10u
#define PCI_SUBSYSTEM_VENDOR_ID 0x2cu
#define PCI_SUBSYSTEM_ID 0x2eu
#define PCI_CAPABILITY_LIST 0x34u
#define PCI_INTERRUPT_LINE 0x3cu
#define PCI_INTERRUPT_PIN 0x3du
#define PCI_STATUS_CAP_LIST 0x0010u
#define PCI_COMMAND_MASTER 0x0004u
#define PCI_CAP_ID_MSI 0x05u
#define PCI_MSI_FLAGS_ENABLE 0x0001u
#define PCI_MSI_FLAGS_64BIT 0x0080u
#define PCI_CAPS_START 0x40u              /* first byte after the standard header */

struct pci_function;

/* Config-space callbacks of a function that models its own (offset + bytes <= 256). */
struct pci_function_ops {
  uint32_t (*config_read)(void *opaque, uint32_t offset, uint32_t bytes);
  void (*config_write)(void *opaque, uint32_t offset, uint32_t value, uint32_t bytes);
};

/* Identity of a function, written into the read-only header bytes. */
struct pci_function_id {
  uint16_t vendor_id;
  uint16_t device_id;
  uint32_t class_code;          /* 24 bits: base class, subclass, prog-if */
  uint8_t revision_id;
  uint16_t subsystem_vendor_id;
  uint16_t subsystem_id;
  uint32_t bar0_bytes;          /* power of two >= 16, or 0 for no BAR */
};

struct pci_function {              /* embedded in its device; (m) = migrated */
  uint16_t vendor_id;              /* (m, must be equal) */
  uint16_t device_id;              /* (m, must be equal) */
  uint8_t config[PCI_CONFIG_BYTES];   /* (m) the config space as the guest sees it */
  uint8_t wmask[PCI_CONFIG_BYTES];    /* guest-writable bits */
  uint8_t w1cmask[PCI_CONFIG_BYTES];  /* write-1-to-clear bits */
  uint8_t cmask[PCI_CONFIG_BYTES];    /* read-only bits checked on load */
  uint8_t config_ro[PCI_CONFIG_BYTES]; /* the local values of the cmask bits */
  uint64_t msi_count;              /* (m) MSI messages sent */
  uint64_t intx_count;             /* (m) INTx assertions (MSI disabled) */
  uint32_t msi_offset;             /* MSI capability offset; 0 = none */
  uint32_t caps_end;               /* next free capability offset */
  uint32_t cap_last;               /* offset of the last capability; 0 = none */
  uint8_t bus;                     /* placement */
  uint8_t slot;                    /* 0..31 */
  uint8_t function;                /* 0..7 */
  char path[PCI_PATH_BYTES];       /* "0000:bb:dd.f" */
  const struct pci_function_ops *ops;  /* NULL: the default accessors */
  void *ops_opaque;
};

struct pci_bus {                   /* embedded in the machine */
  uint8_t number;
  struct pci_function *functions[PCI_SLOTS_COUNT * PCI_FUNCTIONS_COUNT]; /* by devfn */
};

extern const struct vmstate_desc pci_function_vmstate;

/* Resets fn to the identity id, with no capability and no placement yet. */
void pci_function_init(struct pci_function *fn, const struct pci_function_id *id);
/* Installs config callbacks (the device keeps ownership of opaque). */
void pci_function_ops_set(struct pci_function *fn, const struct pci_function_ops *ops,
                          void *opaque);
/*
 * Appends a capability of size_bytes with id cap_id to the list and returns
 * its offset.  Set-up only: asserts that it fits below 256.
 */
uint32_t pci_capability_add(struct pci_function *fn, uint8_t cap_id, uint32_t size_bytes);
/*
 * Writes bytes (1..4) of value at offset as read-only checked bytes: the
 * guest cannot change them and a load must bring the same values (a
 * device's guest-visible configuration, e.g. a capability's register).
 */
void pci_config_ro_set(struct pci_function *fn, uint32_t offset, uint32_t value,
                       uint32_t bytes);
/* The first checked read-only byte whose loaded value differs from the local one. */
bool pci_config_ro_mismatch(const struct pci_function *fn, uint32_t *index);
/* Adds a 64-bit MSI capability (one vector). */
uint32_t pci_msi_add(struct pci_function *fn);
bool pci_msi_enabled(const struct pci_function *fn);
/* The device raises its interrupt: an MSI message when enabled, else an INTx assertion. */
void pci_irq_raise(struct pci_function *fn);
/* True when the guest set bus mastering in the command register. */
bool pci_bus_master_enabled(const struct pci_function *fn);

/* Default accessors: bytes 1, 2 or 4, naturally aligned; anything else reads ~0 / is dropped. */
uint32_t pci_config_read_default(const struct pci_function *fn, uint32_t offset,
                                 uint32_t bytes);
void pci_config_write_default(struct pci_function *fn, uint32_t offset, uint32_t value,
                              uint32_t bytes);

void pci_bus_init(struct pci_bus *bus, uint8_t number);
/* Places fn at slot.function on bus; false when the address is taken. */
bool pci_bus_attach(struct pci_bus *bus, struct pci_function *fn, uint8_t slot,
                    uint8_t function);
struct pci_function *pci_bus_find(const struct pci_bus *bus, uint8_t slot, uint8_t function);
/* A guest config cycle: absent functions read all ones, writes to them are dropped. */
uint32_t pci_bus_config_read(const struct pci_bus *bus, uint8_t slot, uint8_t function,
                             uint32_t offset, uint32_t bytes);
void pci_bus_config_write(struct pci_bus *bus, uint8_t slot, uint8_t function,
                          uint32_t offset, uint32_t value, uint32_t bytes);

#endif /* PCI_H */
