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
 * Each write stores one 8-byte value at a random aligned offset of a page of
 * the target block; the workload kind picks the page: uniform, a hot set
 * (a share of the pages takes a share of the writes), a sequential sweep, or
 * zipf (rank r is page r, weight r^-s).  Every device_every-th write is an
 * MMIO write to the machine's first device instead.  At boot it fills the
 * first fill_pages pages so RAM holds both zero and non-zero pages.  With
 * `checksum` on, the program folds every (page, word, value) into a running
 * checksum migrated in the "cpu/workload" subsection: the guest-visible
 * result of the workload.
 */
#ifndef VCPU_H
#define VCPU_H

#include "sim_base.h"
#include "models_limits.h"
#include "sim.h"
#include "uffd.h"
#include "vmstate_desc.h"

struct machine;

enum vcpu_workload {
  VCPU_WORKLOAD_UNIFORM,  /* any page of the block, equally likely (the default) */
  VCPU_WORKLOAD_IDLE,     /* no writes */
  VCPU_WORKLOAD_HOTSET,   /* hot_writes_ppm of writes go to the first hot_pages_ppm pages */
  VCPU_WORKLOAD_SWEEP,    /* pages 0, 1, 2, ... wrapping at the block's end */
  VCPU_WORKLOAD_ZIPF,     /* page r with weight (r + 1)^-s */
};

struct vcpu_config {
  uint64_t pages_per_s;    /* guest writes per second of guest time; 0 = idle */
  uint64_t duration_ns;    /* guest time after which the program stops writing */
  uint64_t fill_pages;     /* pages filled at boot, from page 0 of the target block */
  uint32_t device_every;   /* every Nth write goes to the device; 0 = never */
  enum vcpu_workload kind; /* how pages are picked */
  uint32_t block_index;    /* target RAM block (machine_ram index) */
  uint32_t hot_pages_ppm;  /* hotset: share of the block's pages that is hot, 1..10^6 */
  uint32_t hot_writes_ppm; /* hotset: share of writes that hit the hot pages, 0..10^6 */
  uint32_t zipf_s_milli;   /* zipf: exponent s in thousandths, 0..VCPU_ZIPF_S_MILLI_MAX */
  bool checksum;           /* keep and migrate the running checksum */
};

struct vcpu {                       /* embedded in struct machine; (m) = migrated */
  struct sim_prng prng;             /* (m) the program's random state */
  uint64_t writes_count;            /* (m) RAM writes done */
  uint64_t device_writes_count;     /* (m) MMIO writes done */
  uint64_t next_write_vm_ns;        /* (m) guest time of the next write */
  uint64_t checksum;                /* (m, cpu/workload) fold of every write */
  uint64_t sweep_page_index;        /* (m, cpu/workload) sweep: next page */
  uint32_t index;                   /* vCPU number: PRNG stream and instance id */
  struct vcpu_config config;        /* from the machine configuration */
  struct machine *machine;          /* owner */
  struct sim_event event;           /* next write, armed while the VM runs */
  uint64_t *zipf_cdf;               /* zipf: cumulative weights, zipf_bucket_count */
  uint64_t *zipf_start;             /* zipf: first rank per bucket, + 1 sentinel */
  uint32_t zipf_bucket_count;       /* zipf: buckets in the table */
  /* Postcopy (destination): a write to a missing page waits for it (models/uffd.h). */
  struct uffd_waiter waiter;        /* parked while blocked */
  bool blocked;                     /* a write waits for its page; no event armed */
  uint64_t pending_page;            /* blocked: the write's page, word and value */
  uint64_t pending_word;
  uint64_t pending_value;
  /*
   * Auto-converge's throttle (not migrated: the host's, not the guest's).
   * next_write_vm_ns counts the vCPU's own running time; throttled at p %,
   * that time advances at (100 - p) % of guest time.  Anchored at
   * (throttle_vm_ns, throttle_cpu_ns) when p last changed.  p = 0 and a zero
   * anchor: running time is guest time, as before.
   */
  uint32_t throttle_pct;            /* 0..99 */
  uint64_t throttle_vm_ns;          /* guest time of the anchor */
  uint64_t throttle_cpu_ns;         /* the vCPU's running time then */
};

extern const struct vmstate_desc vcpu_vmstate;

/* The target block must exist; a zipf table is built here (set-up, not the run). */
void vcpu_init(struct vcpu *vcpu, struct machine *machine, uint32_t index,
               const struct vcpu_config *config);
/* Boot: seeds the program from the sim's "guest/vcpu<index>" stream and fills RAM. */
void vcpu_boot(struct vcpu *vcpu);
/* Arms the next write (VM resumed) / disarms it (VM stopped). */
void vcpu_resume(struct vcpu *vcpu);
void vcpu_stop(struct vcpu *vcpu);
/*
 * Auto-converge: the vCPU runs (100 - pct) % of each timeslice (QEMU's
 * cpu_throttle_set; it sleeps pct/(100-pct) x 10 ms per 10 ms).  Its writes
 * keep their order; they come later in guest time.
 */
void vcpu_throttle_set(struct vcpu *vcpu, uint32_t pct);
/* True once guest time has passed duration_ns (always for an idle program). */
bool vcpu_done(const struct vcpu *vcpu);
/* The page a write would pick next (consumes draws); exposed for tests. */
uint64_t vcpu_pick_page(struct vcpu *vcpu, uint64_t page_count);
const char *vcpu_workload_name(enum vcpu_workload kind);

#endif /* VCPU_H */
