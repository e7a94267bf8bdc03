/*
 * machine.c: composition of one simulated machine (overview in machine.h).
 *
 * Sections are registered in a fixed order, like QEMU's handler list:
 * "vmclock", then "cpu" (one instance per vCPU, instance id = vCPU number),
 * then each device as "<bus:dev.fn path>/<vmsd>".
 * RAM is not a vmstate section; the migration layer reads the RAM blocks
 * directly through ram.h, as QEMU's RAM handler walks RAMBlocks.  The guest
 * device driver (devdrv), when configured, registers last as "devdrv",
 * followed by the guest IOMMU driver ("iommudrv").
 *
 * An "amd-iommu" device is one struct amdvi: its AMDVI-PCI half sits on bus
 * 0 as a function whose config cycles go to the model, its guest memory is
 * machine RAM, its MSIs are counted here, and dmadevs marked behind_iommu
 * translate through it (devid = their BDF).
 *
 * Interrupts (driver.interrupts): each dmadev the guest driver programs
 * delivers its MSIs here; behind the IOMMU they go through amdvi_remap_msi
 * first.  A delivered MSI counts at (APIC id = address bits 19:12, vector =
 * data bits 7:0); a blocked one counts as blocked.  The counts are the
 * guest's interrupt handlers' view and migrate as "irqsink", registered
 * after the drivers.
 */
#include "sim_base.h"

#include "machine.h"
#include "amdvi.h"
#include "blockdev.h"
#include "dmadev.h"
#include "pci.h"
#include "testdev.h"
#include "vfiodev.h"

#include <xxhash.h>

/* Where a device's MSIs go (its host's msi op); set at wiring, the same on both sides. */
enum machine_msi_route {
  MACHINE_MSI_NONE,                /* not wired: the device only counts them */
  MACHINE_MSI_DIRECT,              /* to the interrupt sink */
  MACHINE_MSI_REMAPPED,            /* through the IOMMU's interrupt remapping, then the sink */
  MACHINE_MSI_IOMMU,               /* the IOMMU's own: counted, not migrated */
};

struct machine_device {
  const struct dev_class *cls;                     /* from dev.c's table */
  void *opaque;                                    /* the device */
  struct pci_function *pci;                        /* its function on the bus */
  uint32_t instance_index;                         /* its vmstate instance */
  struct dev_host host;                            /* its view of the machine; context = this */
  struct machine *machine;                         /* owner */
  enum machine_msi_route msi_route;
};

struct machine_irq_sink {          /* (m) section "irqsink" */
  uint32_t counts[VCPUS_MAX * MACHINE_IRQ_VECTORS]; /* delivered, by APIC id and vector */
  uint64_t delivered_count;
  uint64_t blocked_count;          /* MSIs the IOMMU refused to remap (target abort) */
  uint64_t stray_count;            /* delivered to an APIC id no vCPU has */
  uint64_t digest;                 /* XXH3 chain over (devid, address, data), in order */
};

struct machine {
  struct sim *sim;                                 /* owner of everything below */
  struct machine_config config;                    /* as given */
  uint32_t role_index;                             /* tags traces: 0 src, 1 dst, ... */
  struct ram_block *ram[RAM_BLOCKS_MAX];           /* config.ram_count blocks */
  struct machine_device devices[MACHINE_DEVICES_MAX]; /* config.device_count devices */
  struct pci_bus buses[PCI_BUSES_MAX];             /* root buses, numbered by index */
  struct devdrv devdrv;                            /* the guest driver program */
  bool devdrv_present;                             /* config.driver.period_ns != 0 */
  struct amdvi *iommu;                             /* the amd-iommu device, or NULL */
  uint64_t iommu_msi_count;                        /* its MSIs delivered (not migrated) */
  struct iommudrv iommudrv;                        /* the guest IOMMU driver */
  bool iommudrv_present;                           /* config.iommu_driver.enabled */
  struct machine_irq_sink irq;                     /* the guest's interrupt sink */
  bool irq_present;                                /* config.driver.interrupts */
  struct vcpu vcpus[VCPUS_MAX];                    /* the guest programs */
  uint32_t vcpu_count;                             /* >= 1 */
  struct ram_resize_program ram_resize;            /* the guest's RAM resizes (ram_resize.h) */
  bool running;                                    /* VM clock advancing */
  uint64_t vm_ns_bias;                             /* running: vm_ns = now - bias */
  uint64_t vm_ns_stopped;                          /* stopped: the frozen guest time */
  uint64_t vm_ns_saved;                            /* (m) the "vmclock" field */
  struct vmstate_instance instances[MACHINE_VMSTATE_INSTANCES_MAX];
  uint32_t instance_count;
  struct uffd *uffd;                               /* postcopy destination, or NULL */
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

static const struct vmstate_field machine_irq_fields[] = {
    VMSTATE_UINT32_ARRAY(struct machine_irq_sink, counts, VCPUS_MAX * MACHINE_IRQ_VECTORS),
    VMSTATE_UINT64(struct machine_irq_sink, delivered_count),
    VMSTATE_UINT64(struct machine_irq_sink, blocked_count),
    VMSTATE_UINT64(struct machine_irq_sink, stray_count),
    VMSTATE_UINT64(struct machine_irq_sink, digest),
};

static const struct vmstate_desc machine_irq_vmstate = {
    .name = "irqsink",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = machine_irq_fields,
    .field_count = SIM_ARRAY_COUNT(machine_irq_fields),
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

/* ------------------------------------------------------ the devices' host */

static uint64_t host_vm_ns(const void *context)
{
  const struct machine_device *device = context;
  return machine_vm_ns(device->machine);
}

static uint64_t host_sim_ns_at(const void *context, uint64_t vm_ns)
{
  const struct machine_device *device = context;
  return machine_sim_ns_at(device->machine, vm_ns);
}

static bool host_running(const void *context)
{
  const struct machine_device *device = context;
  return machine_running(device->machine);
}

static bool host_dma_read(const void *context, uint64_t gpa, void *bytes, uint32_t count)
{
  const struct machine_device *device = context;
  return machine_dma_read(device->machine, gpa, bytes, count);
}

static bool host_dma_write(void *context, uint64_t gpa, const void *bytes, uint32_t count)
{
  struct machine_device *device = context;
  return machine_dma_write(device->machine, gpa, bytes, count);
}

/* An MSI reaches the interrupt controllers: counted by APIC id and vector. */
static void irq_deliver(struct machine *machine, uint16_t devid, uint64_t address,
                        uint32_t data)
{
  struct machine_irq_sink *irq = &machine->irq;
  uint32_t dest = (uint32_t)(address >> 12) & 0xFF, vector = data & 0xFF;
  if (dest < machine->vcpu_count) {
    irq->counts[dest * MACHINE_IRQ_VECTORS + vector]++;
  } else {
    irq->stray_count++;
  }
  irq->delivered_count++;
  uint64_t message[3] = {devid, address, data};
  irq->digest = XXH3_64bits_withSeed(message, sizeof(message), irq->digest);
  sim_trace(machine->sim, "machine.msi", devid, address, data, irq->delivered_count);
}

static void host_msi(void *context, uint16_t devid, uint64_t address, uint32_t data)
{
  struct machine_device *device = context;
  struct machine *machine = device->machine;
  switch (device->msi_route) {
  case MACHINE_MSI_DIRECT:
    irq_deliver(machine, devid, address, data);
    return;
  case MACHINE_MSI_REMAPPED: {
    /* Behind the IOMMU: the MSI goes through interrupt remapping (spec §8). */
    struct amdvi_msi in = {.address = address, .data = data}, out;
    if (amdvi_remap_msi(machine->iommu, devid, &in, &out) == AMDVI_IRQ_BLOCKED) {
      machine->irq.blocked_count++;
      sim_trace(machine->sim, "machine.msi_blocked", devid, address, data,
                machine->irq.blocked_count);
      return;
    }
    irq_deliver(machine, devid, out.address, out.data);
    return;
  }
  case MACHINE_MSI_IOMMU:
    machine->iommu_msi_count++;
    sim_trace(machine->sim, "machine.iommu_msi", machine->role_index, address, data,
              machine->iommu_msi_count);
    return;
  case MACHINE_MSI_NONE:
    break;
  }
  SIM_ASSERT(false); /* dev_host_msi asserts msi_wired; only wired routes get here */
}

static const struct dev_host_ops machine_host_ops = {host_vm_ns, host_sim_ns_at, host_running,
                                                     host_dma_read, host_dma_write, host_msi};

static void device_msi_route_set(struct machine_device *device, enum machine_msi_route route)
{
  device->msi_route = route;
  device->host.msi_wired = route != MACHINE_MSI_NONE;
}

/* The DMA path of a dmadev behind the IOMMU: translated when its mode says so (spec §7). */
static bool iommu_translate(void *opaque, uint16_t devid, uint64_t iova, bool is_write,
                            uint64_t *gpa)
{
  struct amdvi *iommu = opaque;
  if (!amdvi_device_translated(iommu, devid)) {
    *gpa = iova; /* the untranslated (passthrough) region */
    return true;
  }
  struct amdvi_xlate_result result;
  amdvi_translate(iommu, devid, iova, is_write, &result);
  if (result.status != AMDVI_XLATE_OK) return false;
  *gpa = result.address;
  return true;
}

/* One device from its class: created, placed on its bus, its section registered. */
static void machine_device_create(struct machine *machine, uint32_t index,
                                  const struct machine *peer)
{
  const struct dev_config *config = &machine->config.devices[index];
  struct machine_device *device = &machine->devices[index];
  device->cls = dev_class_find(config->driver);
  SIM_ASSERT(device->cls != NULL); /* machine_config_check */
  device->machine = machine;
  device->host = (struct dev_host){.ops = &machine_host_ops, .context = device,
                                   .sim = machine->sim, .role_index = machine->role_index};
  const struct machine_device *twin = peer != NULL && index < peer->config.device_count
                                          ? &peer->devices[index] : NULL;
  char path[PCI_PATH_BYTES];
  dev_config_path(config, path, sizeof(path));
  struct dev_create_args args = {
      .sim = machine->sim, .host = &device->host, .config = config, .path = path,
      .twin = twin != NULL && twin->cls == device->cls ? twin->opaque : NULL};
  struct dev_instance instance = device->cls->create(&args);
  SIM_ASSERT(instance.opaque != NULL && instance.pci != NULL);
  device->opaque = instance.opaque;
  device->pci = instance.pci;
  if (device->cls == &amdvi_class) {
    SIM_ASSERT(machine->iommu == NULL);
    machine->iommu = device->opaque;
    device_msi_route_set(device, MACHINE_MSI_IOMMU);
  }
  SIM_ASSERT(config->bus < PCI_BUSES_MAX);
  bool placed = pci_bus_attach(&machine->buses[config->bus], device->pci, config->slot,
                               config->function);
  SIM_ASSERT(placed);
  const struct vmstate_desc *desc = device->cls->vmstate(device->opaque);
  char idstr[64];
  snprintf(idstr, sizeof(idstr), "%s/%s", device->pci->path, desc->name);
  device->instance_index = machine->instance_count;
  machine_register(machine, idstr, 0, desc, device->opaque);
}

/* Devices behind the IOMMU translate through it; ATS devices register their ATC. */
static void machine_iommu_wire(struct machine *machine)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct dev_config *config = &machine->config.devices[i];
    if (!config->behind_iommu) continue;
    SIM_ASSERT(machine->iommu != NULL && machine->devices[i].cls == &dmadev_class);
    struct dmadev *dma = machine->devices[i].opaque;
    dmadev_translate_set(dma, iommu_translate, machine->iommu);
    const struct dmadev_config *props = dev_props_const(config);
    if (props->ats) dmadev_ats_set(dma, machine->iommu, props);
  }
}

static void machine_register_devices(struct machine *machine, const struct machine *peer)
{
  for (uint8_t bus = 0; bus < PCI_BUSES_MAX; bus++) pci_bus_init(&machine->buses[bus], bus);
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    machine_device_create(machine, i, peer);
  }
  machine_iommu_wire(machine);
  if (machine->config.driver.period_ns == 0) return;
  struct dmadev *dmas[DEVDRV_DMADEVS_MAX];
  uint32_t dma_count = 0;
  while (dma_count < DEVDRV_DMADEVS_MAX && machine_dmadev(machine, dma_count) != NULL) {
    dmas[dma_count] = machine_dmadev(machine, dma_count);
    dma_count++;
  }
  SIM_ASSERT(machine_dmadev(machine, dma_count) == NULL); /* machine_config_check */
  struct blockdev *block = machine_blockdev(machine, 0);
  uint64_t window_gpa = 0;
  for (uint32_t i = 0; i + 1 < machine->config.ram_count; i++) {
    window_gpa += machine->config.ram[i].bytes;
  }
  uint64_t window_bytes = machine->config.ram[machine->config.ram_count - 1].bytes;
  devdrv_init(&machine->devdrv, machine, &machine->config.driver, dmas, dma_count, block,
              window_gpa, window_bytes);
  machine->devdrv_present = true;
  machine_register(machine, "devdrv", 0, &devdrv_vmstate, &machine->devdrv);
  /* Several engines take turns in time slots (dmadev.h); their MSIs reach the sink. */
  for (uint32_t i = 0; i < dma_count && dma_count > 1; i++) dmadev_slot_set(dmas[i], i, dma_count);
  for (uint32_t i = 0; i < machine->config.device_count && machine->config.driver.interrupts;
       i++) {
    if (machine->devices[i].cls != &dmadev_class) continue;
    bool behind = machine->config.devices[i].behind_iommu;
    device_msi_route_set(&machine->devices[i],
                         behind ? MACHINE_MSI_REMAPPED : MACHINE_MSI_DIRECT);
  }
  if (machine->config.iommu_driver.enabled) {
    SIM_ASSERT(dma_count > 0 && machine->iommu != NULL && machine->config.ram_count >= 3);
    struct iommudrv_device devices[DEVDRV_DMADEVS_MAX];
    for (uint32_t i = 0; i < dma_count; i++) {
      const struct pci_function *fn = &dmas[i]->pci;
      devices[i] = (struct iommudrv_device){
          .devid = (uint16_t)(fn->bus << 8 | fn->slot << 3 | fn->function),
          .ring_gpa = devdrv_part_gpa(&machine->devdrv, i),
          .ring_bytes = devdrv_ring_bytes(&machine->devdrv, i),
          .dest = devdrv_msi_dest(&machine->devdrv, i),
          .vector = devdrv_msi_vector(&machine->devdrv, i),
          .ats = dmas[i]->ats_iommu != NULL};
    }
    uint64_t base_bytes = machine->config.ram[machine->config.ram_count - 2].bytes;
    iommudrv_init(&machine->iommudrv, machine, &machine->config.iommu_driver, machine->iommu,
                  devices, dma_count, window_gpa - base_bytes, base_bytes, window_gpa,
                  window_bytes);
    machine->devdrv.iommu = &machine->iommudrv;
    machine->iommudrv_present = true;
    machine_register(machine, "iommudrv", 0, &iommudrv_vmstate, &machine->iommudrv);
  }
  if (!machine->config.driver.interrupts) return;
  machine->irq_present = true;
  machine_register(machine, "irqsink", 0, &machine_irq_vmstate, &machine->irq);
}

/*
 * peer: the machine whose block images this one opens (shared storage);
 * share_ram: also map peer's `shared` RAM blocks instead of creating them.
 */
static struct machine *machine_create_impl(struct sim *sim, const struct machine_config *config,
                                           uint32_t role_index, const struct machine *peer,
                                           bool share_ram)
{
  const struct machine *share_from = share_ram ? peer : NULL;
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
  machine_register_devices(machine, peer);
  /* Last, and only when configured: streams of machines without resizes stay as they were. */
  ram_resize_program_init(&machine->ram_resize, machine, config);
  if (machine->ram_resize.step_count > 0) {
    machine_register(machine, "ram-resize", 0, &ram_resize_vmstate, &machine->ram_resize);
  }
  return machine;
}

struct machine *machine_create_peer(struct sim *sim, const struct machine_config *config,
                                    uint32_t role_index, const struct machine *peer)
{
  return machine_create_impl(sim, config, role_index, peer, false);
}

struct machine *machine_create_sharing(struct sim *sim, const struct machine_config *config,
                                       uint32_t role_index, const struct machine *peer)
{
  return machine_create_impl(sim, config, role_index, peer, true);
}

struct machine *machine_create(struct sim *sim, const struct machine_config *config,
                               uint32_t role_index)
{
  return machine_create_impl(sim, config, role_index, NULL, false);
}

/* Devices follow the VM's run state: engines pause, block ownership moves. */
static void machine_devices_run(struct machine *machine, bool running)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    struct machine_device *device = &machine->devices[i];
    if (device->cls->run_state != NULL) device->cls->run_state(device->opaque, running);
  }
  if (!machine->devdrv_present) return;
  if (running) devdrv_resume(&machine->devdrv); else devdrv_stop(&machine->devdrv);
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
  if (machine->devdrv_present) devdrv_boot(&machine->devdrv);
  ram_resize_program_boot(&machine->ram_resize);
  machine_resume(machine);
}

void machine_stop(struct machine *machine)
{
  SIM_ASSERT(machine->running);
  machine->vm_ns_stopped = machine_vm_ns(machine);
  machine->vm_ns_saved = machine->vm_ns_stopped; /* what a save writes from now on */
  machine->running = false;
  for (uint32_t i = 0; i < machine->vcpu_count; i++) vcpu_stop(&machine->vcpus[i]);
  machine_devices_run(machine, false);
  ram_resize_program_stop(&machine->ram_resize);
  sim_trace(machine->sim, "machine.stop", machine->role_index, machine->vm_ns_stopped, 0, 0);
  if (machine->irq_present) {
    /*
     * The engines at the stop, what the interrupt cut points are made of:
     * per engine (16 bits each, engine 0 lowest) MSIs pending, and bytes done
     * of the descriptor in progress (0: idle or between descriptors).
     */
    uint64_t pending = 0, progress = 0;
    for (uint32_t i = 0; i < DEVDRV_DMADEVS_MAX; i++) {
      const struct dmadev *dma = machine_dmadev(machine, i);
      if (dma == NULL) break;
      pending |= (uint64_t)SIM_MIN(dma->msi_pending_count, 0xFFFFu) << (16 * i);
      progress |= (uint64_t)SIM_MIN(dma->cur_done_bytes, 0xFFFFu) << (16 * i);
    }
    sim_trace(machine->sim, "machine.irq_stop", pending, progress, machine->irq.delivered_count,
              machine->irq.blocked_count);
  }
  if (machine->iommu != NULL) {
    /*
     * The IOMMU's state at the stop, what a §9.4 cut point is made of: Control,
     * Status, command head/tail and event head/tail (16 bits each), and the
     * first dmadev's mode << 32 | commands pending.
     */
    struct amdvi *iommu = machine->iommu;
    uint64_t rings = amdvi_mmio_read(iommu, AMDVI_MMIO_CMDBUF_HEAD, 4) << 48 |
                     amdvi_mmio_read(iommu, AMDVI_MMIO_CMDBUF_TAIL, 4) << 32 |
                     amdvi_mmio_read(iommu, AMDVI_MMIO_EVTLOG_HEAD, 4) << 16 |
                     amdvi_mmio_read(iommu, AMDVI_MMIO_EVTLOG_TAIL, 4);
    uint64_t translated = 0;
    struct dmadev *dma = machine_dmadev(machine, 0);
    if (dma != NULL) {
      uint16_t devid = (uint16_t)(dma->pci.bus << 8 | dma->pci.slot << 3 | dma->pci.function);
      translated = amdvi_device_translated(iommu, devid);
    }
    sim_trace(machine->sim, "machine.iommu_stop", amdvi_mmio_read(iommu, AMDVI_MMIO_CONTROL, 8),
              amdvi_mmio_read(iommu, AMDVI_MMIO_STATUS, 8), rings,
              translated << 32 | amdvi_commands_pending(iommu));
  }
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
  machine_devices_run(machine, true);
  ram_resize_program_resume(&machine->ram_resize);
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
  return !machine->devdrv_present || devdrv_done(&machine->devdrv);
}

uint32_t machine_vcpu_count(const struct machine *machine) { return machine->vcpu_count; }

void machine_vcpu_throttle_set(struct machine *machine, uint32_t pct)
{
  for (uint32_t i = 0; i < machine->vcpu_count; i++) vcpu_throttle_set(&machine->vcpus[i], pct);
}

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

uint32_t machine_pci_device_count(const struct machine *machine)
{
  return machine->config.device_count;
}

void *machine_device(const struct machine *machine, const struct dev_class *cls, uint32_t index)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    if (machine->devices[i].cls != cls) continue;
    if (index-- == 0) return machine->devices[i].opaque;
  }
  return NULL;
}

uint32_t machine_device_class_count(const struct machine *machine, const struct dev_class *cls)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    count += machine->devices[i].cls == cls;
  }
  return count;
}

struct testdev *machine_testdev(const struct machine *machine, uint32_t index)
{
  struct testdev *dev = machine_device(machine, &testdev_class, index);
  SIM_ASSERT(dev != NULL);
  return dev;
}

/* testdevs only: the vCPU's MMIO targets. */
uint32_t machine_device_count(const struct machine *machine)
{
  return machine_device_class_count(machine, &testdev_class);
}

struct dmadev *machine_dmadev(const struct machine *machine, uint32_t index)
{
  return machine_device(machine, &dmadev_class, index);
}

struct blockdev *machine_blockdev(const struct machine *machine, uint32_t index)
{
  return machine_device(machine, &blockdev_class, index);
}

struct vfiodev *machine_vfiodev(const struct machine *machine, uint32_t index)
{
  return machine_device(machine, &vfiodev_class, index);
}

/* The device has a live section: its class has one, and this instance did not turn it off. */
static bool device_live(const struct machine_device *device)
{
  const struct dev_live_ops *live = device->cls->live;
  return live != NULL && (live->present == NULL || live->present(device->opaque));
}

uint32_t machine_live_count(const struct machine *machine)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    count += device_live(&machine->devices[i]);
  }
  SIM_ASSERT(count <= DEV_LIVES_MAX); /* machine_config_check */
  return count;
}

struct dev_live machine_live(const struct machine *machine, uint32_t index)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    if (!device_live(device) || index-- != 0) continue;
    return (struct dev_live){device->cls->live, device->opaque, device->pci->path};
  }
  SIM_ASSERT(false);
  return (struct dev_live){0};
}

struct pci_bus *machine_pci_bus(struct machine *machine, uint8_t number)
{
  SIM_ASSERT(number < PCI_BUSES_MAX);
  return &machine->buses[number];
}

const struct devdrv *machine_devdrv(const struct machine *machine)
{
  return machine->devdrv_present ? &machine->devdrv : NULL;
}

struct amdvi *machine_amdvi(const struct machine *machine) { return machine->iommu; }

struct iommudrv *machine_iommudrv(const struct machine *machine)
{
  /* The guest's driver object: const machine, but a test may drive it (a cast, once). */
  return machine->iommudrv_present ? (struct iommudrv *)&machine->iommudrv : NULL;
}

uint64_t machine_amdvi_msi_count(const struct machine *machine)
{
  return machine->iommu_msi_count;
}

uint64_t machine_irq_count(const struct machine *machine, uint32_t dest, uint32_t vector)
{
  SIM_ASSERT(vector < MACHINE_IRQ_VECTORS);
  if (dest >= machine->vcpu_count) return 0;
  return machine->irq.counts[dest * MACHINE_IRQ_VECTORS + vector];
}

void machine_irq_stats_get(const struct machine *machine, struct machine_irq_stats *stats)
{
  stats->delivered_count = machine->irq.delivered_count;
  stats->blocked_count = machine->irq.blocked_count;
  stats->stray_count = machine->irq.stray_count;
  stats->digest = machine->irq.digest;
}

/* Finds the block holding [gpa, gpa + count); false when the range is not all in one. */
static bool gpa_locate(const struct machine *machine, uint64_t gpa, uint32_t count,
                       uint32_t *block_index, uint64_t *offset)
{
  uint64_t base = 0;
  for (uint32_t i = 0; i < machine->config.ram_count; i++) {
    uint64_t bytes = machine->ram[i]->used_bytes;
    if (gpa >= base && gpa - base < bytes) {
      if (count > bytes - (gpa - base)) return false;
      *block_index = i;
      *offset = gpa - base;
      return true;
    }
    base += bytes;
  }
  return false;
}

bool machine_dma_read(const struct machine *machine, uint64_t gpa, void *bytes, uint32_t count)
{
  uint32_t index;
  uint64_t offset;
  if (!gpa_locate(machine, gpa, count, &index, &offset)) return false;
  uint8_t *out = bytes;
  while (count > 0) {
    uint64_t page = offset / RAM_PAGE_BYTES;
    uint32_t in_page = (uint32_t)(offset % RAM_PAGE_BYTES);
    uint32_t chunk = SIM_MIN(count, RAM_PAGE_BYTES - in_page);
    memcpy(out, ram_page(machine->ram[index], page) + in_page, chunk);
    out += chunk;
    offset += chunk;
    count -= chunk;
  }
  return true;
}

bool machine_dma_write(struct machine *machine, uint64_t gpa, const void *bytes,
                       uint32_t count)
{
  uint32_t index;
  uint64_t offset;
  if (!gpa_locate(machine, gpa, count, &index, &offset)) return false;
  ram_write(machine->ram[index], offset, bytes, count);
  return true;
}

uint64_t machine_sim_ns_at(const struct machine *machine, uint64_t vm_ns)
{
  uint64_t now_vm_ns = machine_vm_ns(machine);
  uint64_t now_ns = sim_now_ns(machine->sim);
  if (vm_ns <= now_vm_ns) return now_ns;
  /* Saturates: a time past the end of sim time is never, not a wrap into the past. */
  return vm_ns - now_vm_ns > UINT64_MAX - now_ns ? UINT64_MAX : now_ns + (vm_ns - now_vm_ns);
}

static const char *iommu_path(const struct machine *machine)
{
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    if (device->cls == &amdvi_class) return machine->instances[device->instance_index].idstr;
  }
  return "amd-iommu";
}

/*
 * Spec §9.4 invariant 9: each dmadev behind the IOMMU is confined exactly
 * when the registers and its DTE in guest memory say so (V=1 and TV=0 or
 * Mode != 0, with the IOMMU enabled and dma_remap on).
 */
static bool iommu_modes_check(const struct machine *machine, char *why, size_t why_bytes)
{
  struct amdvi *iommu = machine->iommu;
  uint64_t control = amdvi_mmio_read(iommu, AMDVI_MMIO_CONTROL, 8);
  uint64_t devtab = amdvi_mmio_read(iommu, AMDVI_MMIO_DEVTAB_BASE, 8);
  uint64_t entries = ((devtab & 0x1FF) + 1) * 4096 / 32;
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    if (!machine->config.devices[i].behind_iommu) continue;
    const struct pci_function *fn = device->pci;
    uint16_t devid = (uint16_t)(fn->bus << 8 | fn->slot << 3 | fn->function);
    bool expected = true;
    if ((control & AMDVI_CONTROL_IOMMU_EN) == 0 || !amdvi_config_get(iommu)->dma_remap) {
      expected = false;
    } else if (devid < entries) {
      uint8_t bytes[8];
      uint64_t at = (devtab & UINT64_C(0x000FFFFFFFFFF000)) + (uint64_t)devid * 32;
      if (machine_dma_read(machine, at, bytes, sizeof(bytes))) {
        uint64_t q0 = 0;
        for (uint32_t b = 0; b < 8; b++) q0 |= (uint64_t)bytes[b] << (8 * b);
        bool valid = (q0 & 1) != 0, tv = (q0 >> 1 & 1) != 0;
        expected = valid && (!tv || ((q0 >> 9) & 7) != 0);
      }
    }
    bool translated = amdvi_device_translated(iommu, devid);
    if (translated != expected) {
      snprintf(why, why_bytes, "%s: spec 9.4 invariant 9 (device mode): %s is %s, its DTE "
               "says %s", iommu_path(machine), fn->path,
               translated ? "confined" : "passthrough", expected ? "confined" : "passthrough");
      return false;
    }
  }
  return true;
}

bool machine_iommu_check(const struct machine *machine, char *why, size_t why_bytes)
{
  if (machine->iommu != NULL) {
    /* Spec §9.4 invariant 2: every derived field equals what the registers imply. */
    char fields[160];
    if (amdvi_derived_check(machine->iommu, fields, sizeof(fields)) != 0) {
      snprintf(why, why_bytes, "%s: spec 9.4 invariant 2 (derived state): %s",
               iommu_path(machine), fields);
      return false;
    }
    if (!iommu_modes_check(machine, why, why_bytes)) return false;
  }
  return true;
}

bool machine_invariants_check(const struct machine *machine, char *why, size_t why_bytes)
{
  if (!machine_iommu_check(machine, why, why_bytes)) return false;
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    char detail[224];
    if (device->cls->invariants_check == NULL ||
        device->cls->invariants_check(device->opaque, detail, sizeof(detail))) {
      continue;
    }
    snprintf(why, why_bytes, "%s: %s", machine->instances[device->instance_index].idstr, detail);
    return false;
  }
  return true;
}

uint32_t machine_in_flight(const struct machine *machine)
{
  uint32_t state = 0;
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    if (device->cls->in_flight != NULL) state |= device->cls->in_flight(device->opaque);
  }
  return state;
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

bool machine_vmstate_required(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->instance_count);
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    if (machine->devices[i].instance_index == index) return true;
  }
  return false;
}

const char *machine_vmstate_error(const struct machine *machine, uint32_t index)
{
  SIM_ASSERT(index < machine->instance_count);
  for (uint32_t i = 0; i < machine->config.device_count; i++) {
    const struct machine_device *device = &machine->devices[i];
    if (device->instance_index != index) continue;
    const char *message = device->cls->save_error != NULL
                              ? device->cls->save_error(device->opaque) : "";
    return message[0] != 0 ? message : NULL;
  }
  return NULL;
}

/* One device: its address, its class and that class's own check; why gets "<bdf>/<driver>: ". */
static bool device_config_check(const struct dev_config *device, const struct dev_check_env *env,
                                char *why, size_t why_bytes)
{
  char path[48];
  snprintf(path, sizeof(path), "0000:%02x:%02x.%x/%.16s", device->bus, device->slot,
           device->function, device->driver);
  if (device->bus >= PCI_BUSES_MAX || device->slot >= PCI_SLOTS_COUNT ||
      device->function >= PCI_FUNCTIONS_COUNT) {
    snprintf(why, why_bytes, "%s: PCI address out of range (buses 0..%d)", path,
             PCI_BUSES_MAX - 1);
    return false;
  }
  const struct dev_class *cls = dev_class_find(device->driver);
  if (cls == NULL) {
    snprintf(why, why_bytes, "%s: unknown driver", path);
    return false;
  }
  char detail[160];
  if (cls->config_check != NULL && !cls->config_check(device, env, detail, sizeof(detail))) {
    snprintf(why, why_bytes, "%s: %s", path, detail);
    return false;
  }
  if (device->behind_iommu && !cls->dma_translated) {
    snprintf(why, why_bytes, "%s: only a dmadev can be behind the IOMMU", path);
    return false;
  }
  return true;
}

/* An ATS dmadev needs the IOMMU to advertise IotlbSup (else every request is refused). */
static bool ats_config_check(const struct machine_config *config, char *why, size_t why_bytes)
{
  bool ats = false, iotlb = true;
  for (uint32_t i = 0; i < config->device_count; i++) {
    const struct dev_config *device = &config->devices[i];
    const struct dev_class *cls = dev_class_find(device->driver);
    if (cls == &dmadev_class) ats |= ((const struct dmadev_config *)dev_props_const(device))->ats;
    if (cls == &amdvi_class) {
      iotlb &= ((const struct amdvi_config *)dev_props_const(device))->device_iotlb;
    }
  }
  if (!ats || iotlb) return true;
  snprintf(why, why_bytes, "dmadev: \"ats\" needs the amd-iommu's \"device_iotlb\": true");
  return false;
}

/* One IOMMU at most; dmadevs behind it and its guest driver need it. */
static bool iommu_config_check(const struct machine_config *config, char *why, size_t why_bytes)
{
  uint32_t iommus = 0, dmas = 0;
  bool behind = false, all_behind = true;
  const struct dev_config *dma = NULL;
  for (uint32_t i = 0; i < config->device_count; i++) {
    const struct dev_config *device = &config->devices[i];
    const struct dev_class *cls = dev_class_find(device->driver);
    if (cls == &amdvi_class) iommus++;
    behind |= device->behind_iommu;
    if (cls != &dmadev_class) continue;
    if (dma == NULL) dma = device;
    all_behind &= device->behind_iommu;
    dmas++;
  }
  if (iommus > 1) {
    snprintf(why, why_bytes, "amd-iommu: only one IOMMU per machine");
    return false;
  }
  if (behind && iommus == 0) {
    snprintf(why, why_bytes, "dmadev: \"iommu\" is set but the machine has no amd-iommu");
    return false;
  }
  if (!ats_config_check(config, why, why_bytes)) return false;
  const struct iommudrv_config *driver = &config->iommu_driver;
  if (!driver->enabled) return true;
  if (dma == NULL || !dma->behind_iommu || config->driver.period_ns == 0) {
    snprintf(why, why_bytes, "iommu_driver: needs the device driver and a first dmadev "
             "behind the amd-iommu");
    return false;
  }
  if (!all_behind) {
    snprintf(why, why_bytes, "iommu_driver: every dmadev the driver programs must be behind "
             "the amd-iommu");
    return false;
  }
  if (driver->intremap && !config->driver.interrupts) {
    snprintf(why, why_bytes, "iommu_driver: intremap needs the device driver's interrupts");
    return false;
  }
  if (driver->mode != 3 && driver->mode != 4) {
    snprintf(why, why_bytes, "iommu_driver: mode must be 3 or 4");
    return false;
  }
  if (driver->cmdbuf_pause_every == 1) {
    snprintf(why, why_bytes, "iommu_driver: cmdbuf_pause_every must be 0 or >= 2");
    return false;
  }
  if (driver->event_consume_every == 0) {
    snprintf(why, why_bytes, "iommu_driver: event_consume_every must be >= 1");
    return false;
  }
  uint64_t window = config->ram[config->ram_count - 1].bytes;
  uint64_t need = iommudrv_block_bytes(driver, window, SIM_MAX(dmas, 1));
  if (config->ram_count < 3 || config->ram[config->ram_count - 2].bytes < need) {
    snprintf(why, why_bytes, "iommu_driver: its tables live in the second-to-last RAM block, "
             "apart from the vCPU's first; it needs %" PRIu64 " bytes", need);
    return false;
  }
  return true;
}

static bool driver_config_check(const struct machine_config *config, char *why,
                                size_t why_bytes)
{
  const struct devdrv_config *driver = &config->driver;
  if (driver->period_ns == 0) return true;
  if (driver->period_ns < DEVDRV_PERIOD_NS_MIN || driver->period_ns % 2 != 0) {
    snprintf(why, why_bytes, "driver: period_ns must be even and >= %" PRIu64,
             DEVDRV_PERIOD_NS_MIN);
    return false;
  }
  uint32_t dmas = 0, entries_max = 0;
  for (uint32_t i = 0; i < config->device_count; i++) {
    const struct dev_config *device = &config->devices[i];
    if (dev_class_find(device->driver) != &dmadev_class) continue;
    dmas++;
    entries_max = SIM_MAX(entries_max,
                          ((const struct dmadev_config *)dev_props_const(device))->ring_entries);
  }
  if (dmas > DEVDRV_DMADEVS_MAX) {
    snprintf(why, why_bytes, "driver: it programs at most %u dmadevs, the machine has %" PRIu32,
             DEVDRV_DMADEVS_MAX, dmas);
    return false;
  }
  if (dmas == 0) return true;
  if (driver->transfer_bytes_max == 0 || driver->transfer_bytes_max > DMADEV_TRANSFER_BYTES_MAX) {
    snprintf(why, why_bytes, "driver: transfer_bytes_max must be 1..%" PRIu32,
             DMADEV_TRANSFER_BYTES_MAX);
    return false;
  }
  /* Each engine has an equal part of the window: the largest ring sizes them all. */
  uint64_t need = devdrv_window_bytes(driver, entries_max) * dmas;
  const struct machine_ram_config *last = &config->ram[config->ram_count - 1];
  if (config->ram_count < 2 ||
      devdrv_part_bytes(last->bytes, dmas) < devdrv_window_bytes(driver, entries_max)) {
    snprintf(why, why_bytes, "driver: the DMA window is the last RAM block, apart from the "
             "vCPU's first; it needs %" PRIu64 " bytes", need);
    return false;
  }
  return true;
}

/* A class with instances_max: at most that many per machine. */
static bool instances_check(const struct machine_config *config, uint32_t index, char *why,
                            size_t why_bytes)
{
  const struct dev_class *cls = dev_class_find(config->devices[index].driver);
  if (cls == NULL || cls->instances_max == 0) return true;
  uint32_t count = 0;
  for (uint32_t j = 0; j <= index; j++) {
    count += dev_class_find(config->devices[j].driver) == cls;
  }
  if (count <= cls->instances_max) return true;
  snprintf(why, why_bytes, "machine: at most %u %s devices", cls->instances_max, cls->name);
  return false;
}

/* Migration has a handler for at most DEV_LIVES_MAX live sections. */
static bool lives_check(const struct machine_config *config, char *why, size_t why_bytes)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < config->device_count; i++) {
    const struct dev_class *cls = dev_class_find(config->devices[i].driver);
    count += cls != NULL && cls->live != NULL;
  }
  if (count <= DEV_LIVES_MAX) return true;
  snprintf(why, why_bytes, "machine: at most %u devices with a live section", DEV_LIVES_MAX);
  return false;
}

bool machine_config_check(const struct machine_config *config, char *why, size_t why_bytes)
{
  if (config->ram_count == 0 || config->ram_count > RAM_BLOCKS_MAX ||
      config->device_count > MACHINE_DEVICES_MAX) {
    snprintf(why, why_bytes, "machine: RAM block or device count out of range");
    return false;
  }
  struct dev_check_env env = {0};
  for (uint32_t i = 0; i < config->ram_count; i++) env.ram_bytes += config->ram[i].bytes;
  for (uint32_t i = 0; i < config->device_count; i++) {
    const struct dev_config *device = &config->devices[i];
    if (!instances_check(config, i, why, why_bytes)) return false;
    if (!device_config_check(device, &env, why, why_bytes)) return false;
    for (uint32_t j = 0; j < i; j++) {
      const struct dev_config *other = &config->devices[j];
      if (other->bus == device->bus && other->slot == device->slot &&
          other->function == device->function) {
        snprintf(why, why_bytes, "0000:%02x:%02x.%x/%.16s: PCI address taken by device %" PRIu32,
                 device->bus, device->slot, device->function, device->driver, j);
        return false;
      }
    }
  }
  return lives_check(config, why, why_bytes) && driver_config_check(config, why, why_bytes) &&
         iommu_config_check(config, why, why_bytes);
}

struct machine_config machine_config_small(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 32 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "pc.bios");
  config.ram[1].bytes = 4 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "testdev");
  config.devices[0].slot = 3;
  testdev_props(&config.devices[0])->device_id = 4660;
  config.vcpu = (struct vcpu_config){.pages_per_s = 200, .duration_ns = SIM_NS_PER_S / 2,
                                     .fill_pages = 16, .device_every = 4};
  return config;
}

void machine_uffd_set(struct machine *machine, struct uffd *uffd)
{
  SIM_ASSERT(uffd == NULL || uffd_block_count(uffd) == machine->config.ram_count);
  SIM_ASSERT(uffd == NULL || uffd_block(uffd, 0) == machine->ram[0]);
  machine->uffd = uffd;
}

struct uffd *machine_uffd(const struct machine *machine)
{
  return machine->uffd;
}
