/*
 * vcpu.c: the guest program of vcpu.h.
 *
 * One event per write, scheduled in guest time and converted to sim time by
 * the machine's VM clock.  Every choice is drawn from the migrated PRNG, so
 * the destination continues the exact sequence the source would have run.
 */
#include "sim_base.h"

#include "machine.h"
#include "vcpu.h"

static const struct vmstate_field vcpu_fields[] = {
    VMSTATE_UINT64_ARRAY(struct vcpu, prng.s, 4),
    VMSTATE_UINT64(struct vcpu, writes_count),
    VMSTATE_UINT64(struct vcpu, device_writes_count),
    VMSTATE_UINT64(struct vcpu, next_write_vm_ns),
};

static int vcpu_post_load(void *opaque, int32_t version_id)
{
  const struct vcpu *vcpu = opaque;
  (void)version_id;
  /* xoshiro256** must never hold the all-zero state: refuse it rather than stall. */
  bool zero = (vcpu->prng.s[0] | vcpu->prng.s[1] | vcpu->prng.s[2] | vcpu->prng.s[3]) == 0;
  return zero ? -1 : 0;
}

const struct vmstate_desc vcpu_vmstate = {
    .name = "cpu",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vcpu_fields,
    .field_count = SIM_ARRAY_COUNT(vcpu_fields),
    .post_load = vcpu_post_load,
};

/* Sim time at which guest time vm_ns arrives on a running machine. */
static uint64_t vcpu_sim_time_ns(const struct vcpu *vcpu, uint64_t vm_ns)
{
  uint64_t now_vm_ns = machine_vm_ns(vcpu->machine);
  uint64_t now_ns = sim_now_ns(machine_sim(vcpu->machine));
  return vm_ns > now_vm_ns ? now_ns + (vm_ns - now_vm_ns) : now_ns;
}

static void vcpu_schedule_next(struct vcpu *vcpu)
{
  uint64_t interval_ns = SIM_NS_PER_S / vcpu->config.pages_per_s;
  /* Jitter in [interval/2, 3*interval/2] keeps writes from aligning with rounds. */
  vcpu->next_write_vm_ns += interval_ns / 2 + sim_prng_below(&vcpu->prng, interval_ns + 1);
}

static void vcpu_write_one(struct vcpu *vcpu)
{
  struct machine *machine = vcpu->machine;
  uint64_t value = sim_prng_u64(&vcpu->prng);
  bool to_device = vcpu->config.device_every != 0 && machine_device_count(machine) > 0 &&
                   (vcpu->writes_count + vcpu->device_writes_count + 1) %
                           vcpu->config.device_every == 0;
  if (to_device) {
    uint32_t reg = (uint32_t)sim_prng_below(&vcpu->prng, TESTDEV_REGS_COUNT);
    testdev_mmio_write(machine_testdev(machine, 0), vcpu->next_write_vm_ns, reg, value);
    vcpu->device_writes_count++;
    return;
  }
  struct ram_block *block = machine_ram(machine, 0);
  uint64_t page = sim_prng_below(&vcpu->prng, block->page_count);
  uint64_t word = sim_prng_below(&vcpu->prng, RAM_PAGE_BYTES / 8);
  uint8_t bytes[8];
  for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)(value >> (8 * i));
  ram_write(block, page * RAM_PAGE_BYTES + word * 8, bytes, sizeof(bytes));
  vcpu->writes_count++;
  sim_trace(machine_sim(machine), "vcpu.write", machine_role_index(machine), page, word,
            value);
}

static void vcpu_on_event(struct sim *sim, struct sim_event *event)
{
  struct vcpu *vcpu = SIM_CONTAINER_OF(event, struct vcpu, event);
  (void)sim;
  SIM_ASSERT(machine_running(vcpu->machine));
  SIM_ASSERT(machine_vm_ns(vcpu->machine) == vcpu->next_write_vm_ns);
  vcpu_write_one(vcpu);
  vcpu_schedule_next(vcpu);
  vcpu_resume(vcpu);
}

void vcpu_init(struct vcpu *vcpu, struct machine *machine, const struct vcpu_config *config)
{
  SIM_ASSERT(config->pages_per_s <= VCPU_PAGES_PER_S_MAX);
  vcpu->machine = machine;
  vcpu->config = *config;
  sim_event_init(&vcpu->event, vcpu_on_event, "vcpu.tick");
}

void vcpu_boot(struct vcpu *vcpu)
{
  struct sim *sim = machine_sim(vcpu->machine);
  struct ram_block *block = machine_ram(vcpu->machine, 0);
  sim_prng_stream(sim, &vcpu->prng, "guest/vcpu0");
  uint64_t fill_pages = SIM_MIN(vcpu->config.fill_pages, block->page_count);
  uint8_t page[RAM_PAGE_BYTES];
  for (uint64_t i = 0; i < fill_pages; i++) {
    sim_prng_fill(&vcpu->prng, page, sizeof(page));
    ram_write(block, i * RAM_PAGE_BYTES, page, sizeof(page));
  }
  sim_trace(sim, "vcpu.boot", machine_role_index(vcpu->machine), fill_pages, 0, 0);
  vcpu->next_write_vm_ns = 0;
  if (vcpu->config.pages_per_s != 0) vcpu_schedule_next(vcpu);
}

void vcpu_resume(struct vcpu *vcpu)
{
  if (vcpu->config.pages_per_s == 0 || vcpu_done(vcpu)) return;
  struct sim *sim = machine_sim(vcpu->machine);
  sim_event_schedule_at(sim, &vcpu->event, vcpu_sim_time_ns(vcpu, vcpu->next_write_vm_ns));
}

void vcpu_stop(struct vcpu *vcpu)
{
  sim_event_cancel(machine_sim(vcpu->machine), &vcpu->event);
}

bool vcpu_done(const struct vcpu *vcpu)
{
  return vcpu->config.pages_per_s == 0 || vcpu->next_write_vm_ns >= vcpu->config.duration_ns;
}
