/*
 * machine.c: composition of one simulated machine (overview in machine.h).
 *
 * Sections are registered in a fixed order, like QEMU's handler list:
 * "vmclock", then "cpu" (one instance per vCPU, instance id = vCPU number),
 * then each device as "<bus:dev.fn path>/<vmsd>".
 * RAM is not a vmstate section; the migration layer reads the RAM blocks
 * directly through ram.h, as QEMU's RAM handler walks RAMBlocks.
 */
#include "sim_base.h"

#include "machine.h"

struct machine {
  struct sim *sim;                                 /* owner of everything below */
  struct machine_config config;                    /* as given */
  uint32_t role_index;                             /* tags traces: 0 src, 1 dst, ... */
  struct ram_block *ram[RAM_BLOCKS_MAX];           /* config.ram_count blocks */
  struct testdev *devices[MACHINE_DEVICES_MAX];    /* config.device_count devices */
  struct vcpu vcpus[VCPUS_MAX];                    /* the guest programs */
  uint32_t vcpu_count;                             /* >= 1 */
  bool running;                                    /* VM clock advancing */
  uint64_t vm_ns_bias;                             /* running: vm_ns = now - bias */
  uint64_t vm_ns_stopped;                          /* stopped: the frozen guest time */
  uint64_t vm_ns_saved;                            /* (m) the "vmclock" field */
  struct vmstate_instance instances[MACHINE_VMSTATE_INSTANCES_MAX];
  uint32_t instance_count;
};

static int machine_clock_pre_save(void *opaque)
{
  struct machine *machine = opaque;
  machine->vm_ns_saved = machine_vm_ns(machine);
  return 0;
}

static int machine_clock_post_load(void *opaque, int32_t version_id)
{
  struct machine *machine = opaque;
  (void)version_id;
  if (machine->running) return -1; /* only a stopped (incoming) VM takes a clock */
  machine->vm_ns_stopped = machine->vm_ns_saved;
  return 0;
}

static const struct vmstate_field machine_clock_fields[] = {
    VMSTATE_UINT64(struct machine, vm_ns_saved),
};

static const struct vmstate_desc machine_clock_vmstate = {
    .name = "vmclock",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = machine_clock_fields,
    .field_count = SIM_ARRAY_COUNT(machine_clock_fields),
    .pre_save = machine_clock_pre_save,
    .post_load = machine_clock_post_load,
};

static void machine_register(struct machine *machine, const char *idstr, uint32_t instance_id,
                             const struct vmstate_desc *desc, void *opaque)
{
  SIM_ASSERT(machine->instance_count < MACHINE_VMSTATE_INSTANCES_MAX);
  SIM_ASSERT(strlen(idstr) < sizeof(machine->instances[0].idstr));
  struct vmstate_instance *instance = &machine->instances[machine->instance_count++];
  snprintf(instance->idstr, sizeof(instance->idstr), "%s", idstr);
  instance->instance_id = instance_id;
  instance->desc = desc;
  instance->opaque = opaque;
}

static void machine_register_devices(struct machine *machine)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device_config *device = &machine->config.devices[i];
    SIM_ASSERT(strcmp(device->driver, "testdev") == 0);
    SIM_ASSERT(device->slot < 32 && device->function < 8);
    machine->devices[i] = testdev_create(machine->sim, device->device_id,
                                        device->quirk_lossy_extra);
    char idstr[64];
    snprintf(idstr, sizeof(idstr), "0000:%02x:%02x.%x/%s", device->bus, device->slot,
             device->function, testdev_vmstate.name);
    machine_register(machine, idstr, 0, &testdev_vmstate, machine->devices[i]);
  }
}

struct machine *machine_create(struct sim *sim, const struct machine_config *config,
                               uint32_t role_index)
{
  return machine_create_sharing(sim, config, role_index, NULL);
}

struct machine *machine_create_sharing(struct sim *sim, const struct machine_config *config,
                                       uint32_t role_index, const struct machine *share_from)
{
  SIM_ASSERT(config->ram_count >= 1 && config->ram_count <= RAM_BLOCKS_MAX);
  SIM_ASSERT(config->device_count <= MACHINE_DEVICES_MAX);
  struct machine *machine = sim_alloc(sim, sizeof(*machine));
  machine->sim = sim;
  machine->config = *config;
  machine->role_index = role_index;
  for (uint32_t i = 0; i < config->ram_count; i++) {
    const struct machine_ram_config *ram = &config->ram[i];
    struct ram_block_options options = {
        .name = ram->name, .used_bytes = ram->bytes, .max_bytes = ram->max_bytes,
        .host_page_bytes = ram->host_page_bytes, .backing = ram->backing, .shared = ram->shared,
        .gpa = ram->gpa};
    if (share_from != NULL && ram->shared) {
      SIM_ASSERT(i < share_from->config.ram_count);
      SIM_ASSERT(strcmp(share_from->ram[i]->name, ram->name) == 0);
      machine->ram[i] = share_from->ram[i];
      continue;
    }
    machine->ram[i] = ram_block_create_with(sim, &options);
  }
  machine->vcpu_count = config->vcpu_count == 0 ? 1 : config->vcpu_count;
  SIM_ASSERT(machine->vcpu_count <= VCPUS_MAX);
  for (uint32_t i = 0; i < machine->vcpu_count; i++) {
    vcpu_init(&machine->vcpus[i], machine, i, &config->vcpus[i]);
  }
  machine_register(machine, "vmclock", 0, &machine_clock_vmstate, machine);
  for (uint32_t i = 0; i < machine->vcpu_count; i++) {
    machine_register(machine, "cpu", i, &vcpu_vmstate, &machine->vcpus[i]);
  }
  machine_register_devices(machine);
  return machine;
}

void machine_boot(struct machine *machine)
{
  SIM_ASSERT(!machine->running);
  machine->vm_ns_stopped = 0;
  /* The guest (firmware) sizes its resizable blocks, as QEMU's ACPI tables are. */
  for (uint32_t i = 0; i < machine->config.ram_count; i++) {
    uint64_t boot_bytes = machine->config.ram[i].boot_bytes;
    if (boot_bytes != 0) ram_block_resize(machine->ram[i], boot_bytes);
  }
  for (uint32_t i = 0; i < machine->vcpu_count; i++) vcpu_boot(&machine->vcpus[i]);
  machine_resume(machine);
}

void machine_stop(struct machine *machine)
{
  SIM_ASSERT(machine->running);
  machine->vm_ns_stopped = machine_vm_ns(machine);
  machine->vm_ns_saved = machine->vm_ns_stopped; /* what a save writes from now on */
  machine->running = false;
  for (uint32_t i = 0; i < machine->vcpu_count; i++) vcpu_stop(&machine->vcpus[i]);
  sim_trace(machine->sim, "machine.stop", machine->role_index, machine->vm_ns_stopped, 0, 0);
}

void machine_resume(struct machine *machine)
{
  SIM_ASSERT(!machine->running);
  uint64_t now_ns = sim_now_ns(machine->sim);
  /* Guest time never runs ahead of sim time: a VM only ever loses time while stopped. */
  SIM_ASSERT(now_ns >= machine->vm_ns_stopped);
  machine->vm_ns_bias = now_ns - machine->vm_ns_stopped;
  machine->running = true;
  sim_trace(machine->sim, "machine.resume", machine->role_index, machine->vm_ns_stopped, 0, 0);
  for (uint32_t i = 0; i < machine->vcpu_count; i++) vcpu_resume(&machine->vcpus[i]);
}

bool machine_running(const struct machine *machine) { return machine->running; }

uint64_t machine_vm_ns(const struct machine *machine)
{
  if (!machine->running) return machine->vm_ns_stopped;
  return sim_now_ns(machine->sim) - machine->vm_ns_bias;
}

struct sim *machine_sim(const struct machine *machine) { return machine->sim; }
const char *machine_type(const struct machine *machine) { return machine->config.type; }
uint32_t machine_role_index(const struct machine *machine) { return machine->role_index; }
bool machine_workload_done(const struct machine *machine)
{
  for (uint32_t i = 0; i < machine->vcpu_count; i++) {
    if (!vcpu_done(&machine->vcpus[i])) return false;
  }
  return true;
}

uint32_t machine_vcpu_count(const struct machine *machine) { return machine->vcpu_count; }

const struct vcpu *machine_vcpu(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->vcpu_count);
  return &machine->vcpus[index];
}
uint32_t machine_ram_count(const struct machine *machine) { return machine->config.ram_count; }

struct ram_block *machine_ram(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->config.ram_count);
  return machine->ram[index];
}

struct testdev *machine_testdev(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->config.device_count);
  return machine->devices[index];
}

uint32_t machine_device_count(const struct machine *machine)
{
  return machine->config.device_count;
}

uint32_t machine_vmstate_count(const struct machine *machine)
{
  return machine->instance_count;
}

const struct vmstate_instance *machine_vmstate(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->instance_count);
  return &machine->instances[index];
}

bool machine_vmstate_guest_visible(const struct machine *machine, uint32_t index)
{
  return machine_vmstate(machine, index)->desc != &machine_clock_vmstate;
}
