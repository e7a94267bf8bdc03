/*
 * machine.h: one simulated machine: RAM blocks, devices at PCI addresses,
 * vCPU programs, and a VM clock that stops while the VM is stopped.
 *
 * A machine registers its migratable state as vmstate instances (sections),
 * which the migration layer saves and loads; it never calls the migration
 * layer itself.  The same configuration builds the source, the destination
 * and the unmigrated reference; only what arrives in the stream makes the
 * destination equal to the source.
 */
#ifndef MACHINE_H
#define MACHINE_H

#include "sim_base.h"
#include "models_limits.h"
#include "dev.h"
#include "devdrv.h"
#include "iommudrv.h"
#include "ram.h"
#include "ram_resize.h"
#include "sim.h"
#include "vcpu.h"
#include "vmstate_desc.h"

struct amdvi;
struct blockdev;
struct dmadev;
struct machine;
struct pci_bus;
struct testdev;
struct uffd;
struct vfiodev;

struct machine_ram_config {
  char name[RAM_BLOCK_NAME_BYTES_MAX + 1]; /* RAMBlock idstr */
  uint64_t bytes;                          /* used length at creation, whole host pages */
  uint64_t max_bytes;                      /* 0: fixed size; else resizable up to this */
  uint64_t boot_bytes;                     /* 0: none; else the guest resizes to it at boot */
  uint32_t host_page_bytes;                /* 0 or 4096: 4 KiB; or 2 MiB */
  enum ram_backing backing;                /* dense (default) or synthetic */
  bool shared;                             /* share=on memory */
  uint64_t gpa;                            /* region address (x-ignore-shared block list) */
  struct ram_resize_at resizes[RAM_RESIZES_MAX]; /* the guest resizes it while running */
  uint32_t resize_count;                   /* steps in resizes (ram_resize.h) */
};

struct machine_config {
  char type[MACHINE_TYPE_BYTES_MAX + 1];   /* machine type, e.g. "migsim-1.0" */
  struct machine_ram_config ram[RAM_BLOCKS_MAX];
  uint32_t ram_count;                      /* >= 1; ram[0] is the vCPU's target */
  struct dev_config devices[MACHINE_DEVICES_MAX]; /* each of a class in dev.c's table */
  uint32_t device_count;
  union {
    struct vcpu_config vcpu;               /* vCPU 0 (what single-vCPU callers set) */
    struct vcpu_config vcpus[VCPUS_MAX];   /* vcpu_count programs */
  };
  uint32_t vcpu_count;                     /* 0 counts as 1 */
  struct devdrv_config driver;             /* drives the dmadevs (<= 4) and first blockdev */
  struct iommudrv_config iommu_driver;     /* the guest's IOMMU driver (needs driver) */
};

/* Builds a stopped machine from the sim's arena; role_index tags its traces. */
struct machine *machine_create(struct sim *sim, const struct machine_config *config,
                               uint32_t role_index);
/*
 * The same, for a machine that shares peer's storage: its blockdevs open the
 * images of peer's blockdevs at the same index (the destination of a
 * migration on shared storage).
 */
struct machine *machine_create_peer(struct sim *sim, const struct machine_config *config,
                                    uint32_t role_index, const struct machine *peer);
/*
 * Checks what machine_create asserts, for configurations from input: PCI
 * addresses, device classes and their properties (dev_class.config_check),
 * the driver and its DMA window.  False with a message naming the device
 * ("0000:00:04.0/dmadev: ...") otherwise.
 */
bool machine_config_check(const struct machine_config *config, char *why, size_t why_bytes);
/*
 * The machine of conformance/scenarios/fuzz-small.json: "migsim-1.0", pc.ram
 * 128 KiB, pc.bios 16 KiB, a testdev (device_id 4660) at 00:03.0, and the
 * scenario's workload.  The fuzz targets' destination; tests that want a small
 * machine start from it.
 */
struct machine_config machine_config_small(void);
/*
 * machine_create_peer, and every `shared` RAM block is peer's own block:
 * the destination of an x-ignore-shared migration maps the source's shared
 * memory (QEMU: the same memory-backend file on both sides).
 */
struct machine *machine_create_sharing(struct sim *sim, const struct machine_config *config,
                                       uint32_t role_index, const struct machine *peer);
/* Cold boot: the vCPU program starts at guest time 0. */
void machine_boot(struct machine *machine);
/* Stops the VM (vCPU and VM clock); resuming continues from the same guest time. */
void machine_stop(struct machine *machine);
void machine_resume(struct machine *machine);
bool machine_running(const struct machine *machine);
/* Guest time: advances with the sim clock only while running. */
uint64_t machine_vm_ns(const struct machine *machine);
struct sim *machine_sim(const struct machine *machine);
const char *machine_type(const struct machine *machine);
uint32_t machine_role_index(const struct machine *machine);
/* True when every vCPU program has finished its work. */
bool machine_workload_done(const struct machine *machine);

uint32_t machine_ram_count(const struct machine *machine);
struct ram_block *machine_ram(const struct machine *machine, uint32_t index);
/* The index-th testdev; machine_device_count counts testdevs (the vCPU's MMIO targets). */
struct testdev *machine_testdev(const struct machine *machine, uint32_t index);
uint32_t machine_device_count(const struct machine *machine);
/* Every device of every kind, in configuration order. */
uint32_t machine_pci_device_count(const struct machine *machine);
/* The index-th device of class cls (its dev_instance.opaque), or NULL; and their count. */
void *machine_device(const struct machine *machine, const struct dev_class *cls, uint32_t index);
uint32_t machine_device_class_count(const struct machine *machine, const struct dev_class *cls);
/* The index-th dmadev / blockdev, or NULL. */
struct dmadev *machine_dmadev(const struct machine *machine, uint32_t index);
struct blockdev *machine_blockdev(const struct machine *machine, uint32_t index);
/*
 * Devices with a live section (their class's dev_live_ops), in configuration
 * order: what migration reaches besides the vmstate sections.
 */
uint32_t machine_live_count(const struct machine *machine);
struct dev_live machine_live(const struct machine *machine, uint32_t index);
/* The index-th vfiodev, or NULL. */
struct vfiodev *machine_vfiodev(const struct machine *machine, uint32_t index);
struct pci_bus *machine_pci_bus(struct machine *machine, uint8_t number);
const struct devdrv *machine_devdrv(const struct machine *machine);
/*
 * The machine's AMD IOMMU (at most one, on bus 0), or NULL; its guest
 * driver, or NULL; and the MSIs the IOMMU raised on this machine (not
 * migrated: a count of deliveries, like an interrupt controller's).
 */
struct amdvi *machine_amdvi(const struct machine *machine);
struct iommudrv *machine_iommudrv(const struct machine *machine);
uint64_t machine_amdvi_msi_count(const struct machine *machine);
/*
 * The interrupt sink (driver.interrupts): MSIs delivered to vCPU dest with
 * vector (0 for a dest no vCPU has), and its totals.  Migrated ("irqsink").
 */
uint64_t machine_irq_count(const struct machine *machine, uint32_t dest, uint32_t vector);
struct machine_irq_stats {
  uint64_t delivered_count;
  uint64_t blocked_count;          /* refused by interrupt remapping */
  uint64_t stray_count;            /* to an APIC id with no vCPU */
  uint64_t digest;                 /* XXH3 chain over every delivered message */
};
void machine_irq_stats_get(const struct machine *machine, struct machine_irq_stats *stats);

/*
 * Guest physical memory: the RAM blocks laid end to end from gpa 0.  Writes
 * log dirty pages like any guest store.  False when [gpa, gpa + count) is not
 * all RAM.
 */
bool machine_dma_read(const struct machine *machine, uint64_t gpa, void *bytes, uint32_t count);
bool machine_dma_write(struct machine *machine, uint64_t gpa, const void *bytes,
                       uint32_t count);
/* Sim time at which guest time vm_ns arrives on a running machine (now if passed). */
uint64_t machine_sim_ns_at(const struct machine *machine, uint64_t vm_ns);
/*
 * Cross-device invariants that hold at every instant (today: shared-image
 * write ownership, the IOMMU's below).  False with the first violation,
 * device named, in why.
 */
bool machine_invariants_check(const struct machine *machine, char *why, size_t why_bytes);
/* The kinds of state its devices hold in flight now (enum dev_flight_kind bits); reads only. */
uint32_t machine_in_flight(const struct machine *machine);
/*
 * The IOMMU's part of them (spec §9.4 invariants 2 and 9: derived state, and
 * each dmadev behind it confined exactly when its DTE says so), which also
 * holds right after a load.  True without an IOMMU.
 */
bool machine_iommu_check(const struct machine *machine, char *why, size_t why_bytes);
uint32_t machine_vcpu_count(const struct machine *machine);
/*
 * Postcopy destination: the userfaultfd over this machine's blocks (in
 * machine_ram order), or NULL.  vCPU writes to its missing pages wait.
 */
void machine_uffd_set(struct machine *machine, struct uffd *uffd);
struct uffd *machine_uffd(const struct machine *machine);
/* Auto-converge: every vCPU runs (100 - pct) % of the time (vcpu_throttle_set). */
void machine_vcpu_throttle_set(struct machine *machine, uint32_t pct);
const struct vcpu *machine_vcpu(const struct machine *machine, uint32_t index);

/* The machine's sections in registration order (QEMU's savevm handler list). */
uint32_t machine_vmstate_count(const struct machine *machine);
const struct vmstate_instance *machine_vmstate(const struct machine *machine, uint32_t index);
/* True for sections that are guest-visible results (all but the VM clock). */
bool machine_vmstate_guest_visible(const struct machine *machine, uint32_t index);
/* True for PCI device sections: a load must bring each of them (topology check). */
bool machine_vmstate_required(const struct machine *machine, uint32_t index);
/* A device's own account of why its save hook refused, or NULL. */
const char *machine_vmstate_error(const struct machine *machine, uint32_t index);

#endif /* MACHINE_H */
