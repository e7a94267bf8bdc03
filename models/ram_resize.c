/*
 * ram_resize.c: the guest's RAM resize program (overview in ram_resize.h).
 *
 * One event for the whole program, armed at the sim time at which the next
 * step's guest time arrives; a step whose time has already come when the VM
 * resumes (a destination that stopped exactly at it) runs at once.
 */
#include "sim_base.h"

#include "machine.h"
#include "ram_resize.h"

/* Runs every step due at the current guest time, then arms the next. */
static void ram_resize_on_event(struct sim *sim, struct sim_event *event)
{
  struct ram_resize_program *program =
      SIM_CONTAINER_OF(event, struct ram_resize_program, event);
  struct machine *machine = program->machine;
  SIM_ASSERT(machine_running(machine));
  uint64_t vm_ns = machine_vm_ns(machine);
  while (program->next_index < program->step_count &&
         program->steps[program->next_index].at_vm_ns <= vm_ns) {
    const struct ram_resize_step *step = &program->steps[program->next_index++];
    struct ram_block *block = machine_ram(machine, step->block_index);
    uint64_t old_used_bytes = block->used_bytes;
    sim_trace(sim, "ram.resize", machine_role_index(machine), step->block_index,
              old_used_bytes, step->used_bytes);
    ram_block_resize(block, step->used_bytes);
  }
  ram_resize_program_resume(program);
}

static int ram_resize_post_load(void *opaque, int32_t version_id)
{
  struct ram_resize_program *program = opaque;
  (void)version_id;
  /* A program position past the end is a hostile stream, not a step to run. */
  return program->next_index <= program->step_count ? 0 : -1;
}

static const struct vmstate_field ram_resize_fields[] = {
    VMSTATE_UINT32(struct ram_resize_program, next_index),
};

const struct vmstate_desc ram_resize_vmstate = {
    .name = "ram-resize",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = ram_resize_fields,
    .field_count = SIM_ARRAY_COUNT(ram_resize_fields),
    .post_load = ram_resize_post_load,
};

/* Orders steps by guest time, then block, then list position (insertion sort is stable). */
static bool step_before(const struct ram_resize_step *a, const struct ram_resize_step *b)
{
  if (a->at_vm_ns != b->at_vm_ns) return a->at_vm_ns < b->at_vm_ns;
  return a->block_index < b->block_index;
}

void ram_resize_program_init(struct ram_resize_program *program, struct machine *machine,
                             const struct machine_config *config)
{
  memset(program, 0, sizeof(*program));
  program->machine = machine;
  for (uint32_t b = 0; b < config->ram_count; b++) {
    const struct machine_ram_config *ram = &config->ram[b];
    SIM_ASSERT(ram->resize_count <= RAM_RESIZES_MAX);
    for (uint32_t i = 0; i < ram->resize_count; i++) {
      SIM_ASSERT(ram->max_bytes != 0);
      SIM_ASSERT(ram->resizes[i].used_bytes > 0 && ram->resizes[i].used_bytes <= ram->max_bytes);
      struct ram_resize_step step = {ram->resizes[i].at_vm_ns, ram->resizes[i].used_bytes, b};
      uint32_t at = program->step_count++;
      SIM_ASSERT(at < RAM_RESIZE_STEPS_MAX);
      while (at > 0 && step_before(&step, &program->steps[at - 1])) {
        program->steps[at] = program->steps[at - 1];
        at--;
      }
      program->steps[at] = step;
    }
  }
  sim_event_init(&program->event, ram_resize_on_event, "ram.resize");
}

void ram_resize_program_boot(struct ram_resize_program *program)
{
  program->next_index = 0;
}

void ram_resize_program_resume(struct ram_resize_program *program)
{
  if (program->next_index >= program->step_count) return;
  struct machine *machine = program->machine;
  SIM_ASSERT(machine_running(machine));
  uint64_t at_ns = machine_sim_ns_at(machine, program->steps[program->next_index].at_vm_ns);
  sim_event_schedule_at(machine_sim(machine), &program->event, at_ns);
}

void ram_resize_program_stop(struct ram_resize_program *program)
{
  sim_event_cancel(machine_sim(program->machine), &program->event);
}
