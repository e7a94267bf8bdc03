/*
 * vcpu.h: a deterministic guest program that dirties RAM and programs a device.
 *
 * The vCPU runs in guest (vm) time: its next write happens at a guest time
 * carried in its migrated state, so a run that migrates (and spends downtime
 * stopped) and a run that does not perform the same writes in the same
 * order (DESIGN.md, transparency).  Its random choices come from a PRNG whose
 * state is part of the migrated state, exactly as a real guest's registers
 * and memory would carry its program's position.
 *
 * Each write picks a page of the first RAM block uniformly and stores one
 * 8-byte value at a random aligned offset; every device_every-th write is an
 * MMIO write to the machine's first device instead.  At boot it fills the
 * first fill_pages pages with random bytes so RAM holds both zero and
 * non-zero pages.
 */
#ifndef VCPU_H
#define VCPU_H

#include "sim_base.h"
#include "sim.h"
#include "vmstate_desc.h"

struct machine;

struct vcpu_config {
  uint64_t pages_per_s;    /* guest writes per second of guest time; 0 = idle */
  uint64_t duration_ns;    /* guest time after which the program stops writing */
  uint64_t fill_pages;     /* pages filled at boot, from page 0 of the first block */
  uint32_t device_every;   /* every Nth write goes to the device; 0 = never */
};

struct vcpu {                       /* embedded in struct machine; (m) = migrated */
  struct sim_prng prng;             /* (m) the program's random state */
  uint64_t writes_count;            /* (m) RAM writes done */
  uint64_t device_writes_count;     /* (m) MMIO writes done */
  uint64_t next_write_vm_ns;        /* (m) guest time of the next write */
  struct vcpu_config config;        /* from the machine configuration */
  struct machine *machine;          /* owner */
  struct sim_event event;           /* next write, armed while the VM runs */
};

extern const struct vmstate_desc vcpu_vmstate;

void vcpu_init(struct vcpu *vcpu, struct machine *machine, const struct vcpu_config *config);
/* Boot: seeds the program from the sim's "guest/vcpu0" stream and fills RAM. */
void vcpu_boot(struct vcpu *vcpu);
/* Arms the next write (VM resumed) / disarms it (VM stopped). */
void vcpu_resume(struct vcpu *vcpu);
void vcpu_stop(struct vcpu *vcpu);
/* True once guest time has passed duration_ns. */
bool vcpu_done(const struct vcpu *vcpu);

#endif /* VCPU_H */
