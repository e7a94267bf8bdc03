/*
 * ram_resize.h: the guest's RAM resize program.
 *
 * A resizable block (ram.h) may change its used length while the guest runs,
 * as QEMU's ACPI table blobs do when the firmware rebuilds them: each step of
 * a block's `resizes` list says "at guest time at_vm_ns, set the used length
 * to used_bytes".  A machine runs the steps of all its blocks in the order
 * (guest time, block index, listed order), on the guest clock, so a migrated
 * and an unmigrated run resize at the same guest times.  The index of the next
 * step is migrated in the "ram-resize" section (registered only when some
 * block has steps), so a destination resumes the program where the source
 * stopped it.  Resizing goes through ram_block_resize, whose notifier lets the
 * migration layer react (a precopy in progress is cancelled, mig_precopy.h).
 */
#ifndef RAM_RESIZE_H
#define RAM_RESIZE_H

#include "sim_base.h"
#include "models_limits.h"
#include "ram.h"
#include "sim.h"
#include "vmstate_desc.h"

struct machine;
struct machine_config;

struct ram_resize_step {
  uint64_t at_vm_ns;               /* guest time */
  uint64_t used_bytes;             /* new used length */
  uint32_t block_index;            /* machine_ram index */
};

struct ram_resize_program {        /* embedded in struct machine; (m) = migrated */
  struct ram_resize_step steps[RAM_RESIZE_STEPS_MAX]; /* sorted, see above */
  uint32_t step_count;
  uint32_t next_index;             /* (m) the next step to run */
  struct machine *machine;         /* owner */
  struct sim_event event;          /* next step, armed while the VM runs */
};

extern const struct vmstate_desc ram_resize_vmstate;

/* Collects and sorts every block's steps; each must fit its block (asserted). */
void ram_resize_program_init(struct ram_resize_program *program, struct machine *machine,
                             const struct machine_config *config);
/* Boot: the program starts from its first step. */
void ram_resize_program_boot(struct ram_resize_program *program);
/* Arms the next step (VM resumed) / disarms it (VM stopped). */
void ram_resize_program_resume(struct ram_resize_program *program);
void ram_resize_program_stop(struct ram_resize_program *program);

#endif /* RAM_RESIZE_H */
