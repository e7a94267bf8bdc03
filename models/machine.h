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
#include "ram.h"
#include "sim.h"
#include "testdev.h"
#include "vcpu.h"
#include "vmstate_desc.h"

struct machine;

struct machine_ram_config {
  char name[RAM_BLOCK_NAME_BYTES_MAX + 1]; /* RAMBlock idstr */
  uint64_t bytes;                          /* used length at creation, whole host pages */
  uint64_t max_bytes;                      /* 0: fixed size; else resizable up to this */
  uint64_t boot_bytes;                     /* 0: none; else the guest resizes to it at boot */
  uint32_t host_page_bytes;                /* 0 or 4096: 4 KiB; or 2 MiB */
  enum ram_backing backing;                /* dense (default) or synthetic */
  bool shared;                             /* share=on memory */
  uint64_t gpa;                            /* region address (x-ignore-shared block list) */
};

struct machine_device_config {
  char driver[32];            /* "testdev" */
  uint8_t bus;                /* PCI bus:device.function of the device */
  uint8_t slot;               /* 0..31 */
  uint8_t function;           /* 0..7 */
  uint32_t device_id;         /* testdev's configuration value */
  bool quirk_lossy_extra;     /* testdev: inject the lossy-subsection bug (testdev.h) */
};

struct machine_config {
  char type[MACHINE_TYPE_BYTES_MAX + 1];   /* machine type, e.g. "migsim-1.0" */
  struct machine_ram_config ram[RAM_BLOCKS_MAX];
  uint32_t ram_count;                      /* >= 1; ram[0] is the vCPU's target */
  struct machine_device_config devices[MACHINE_DEVICES_MAX];
  uint32_t device_count;
  union {
    struct vcpu_config vcpu;               /* vCPU 0 (what single-vCPU callers set) */
    struct vcpu_config vcpus[VCPUS_MAX];   /* vcpu_count programs */
  };
  uint32_t vcpu_count;                     /* 0 counts as 1 */
};

/* Builds a stopped machine from the sim's arena; role_index tags its traces. */
struct machine *machine_create(struct sim *sim, const struct machine_config *config,
                               uint32_t role_index);
/*
 * The same, except that every `shared` RAM block is share_from's own block:
 * the destination of an x-ignore-shared migration maps the source's shared
 * memory (QEMU: the same memory-backend file on both sides).
 */
struct machine *machine_create_sharing(struct sim *sim, const struct machine_config *config,
                                       uint32_t role_index, const struct machine *share_from);
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
struct testdev *machine_testdev(const struct machine *machine, uint32_t index);
uint32_t machine_device_count(const struct machine *machine);
uint32_t machine_vcpu_count(const struct machine *machine);
const struct vcpu *machine_vcpu(const struct machine *machine, uint32_t index);

/* The machine's sections in registration order (QEMU's savevm handler list). */
uint32_t machine_vmstate_count(const struct machine *machine);
const struct vmstate_instance *machine_vmstate(const struct machine *machine, uint32_t index);
/* True for sections that are guest-visible results (all but the VM clock). */
bool machine_vmstate_guest_visible(const struct machine *machine, uint32_t index);

#endif /* MACHINE_H */
