/*
 * machine_test.c: the machine's VM clock, the vCPU program and the test device.
 */
#include "sim_base.h"

#include "machine.h"
#include "sim_check.h"
#include "testdev.h"

static struct machine_config test_config(void)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 2, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.ram[1].name, sizeof(config.ram[1].name), "pc.bios");
  config.ram[1].bytes = 4 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "testdev");
  config.devices[0].slot = 3;
  testdev_props(&config.devices[0])->device_id = 0x1234;
  config.vcpu = (struct vcpu_config){.pages_per_s = 1000, .duration_ns = SIM_NS_PER_S,
                                     .fill_pages = 8, .device_every = 5};
  return config;
}

/* Runs a booted machine for the whole program and returns RAM's hash. */
static uint64_t run_to_end(uint64_t seed, uint64_t *writes_count)
{
  struct sim_options options = {.seed = seed};
  struct sim *sim = sim_create(&options);
  struct machine_config config = test_config();
  struct machine *machine = machine_create(sim, &config, 0);
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(machine_workload_done(machine));
  *writes_count = machine_ram(machine, 0)->writes_count;
  uint64_t hash = ram_block_hash(machine_ram(machine, 0)) ^ testdev_vmstate.version_id;
  hash ^= machine_testdev(machine, 0)->count;
  sim_destroy(sim);
  return hash;
}

START_TEST(machine_program_is_a_function_of_the_seed)
{
  /* Same seed, same memory; another seed, other memory; about rate x duration writes. */
  uint64_t writes_a, writes_b, writes_c;
  uint64_t a = run_to_end(7, &writes_a);
  uint64_t b = run_to_end(7, &writes_b);
  uint64_t c = run_to_end(8, &writes_c);
  ck_assert_uint_eq(a, b);
  ck_assert_uint_eq(writes_a, writes_b);
  ck_assert_uint_ne(a, c);
  /* 8 fill writes + ~1000 program writes, 1 in 5 of which go to the device. */
  ck_assert_uint_ge(writes_a, 8 + 700);
  ck_assert_uint_le(writes_a, 8 + 900);
}
END_TEST

struct stop_probe {
  struct machine *machine;
  struct sim_event event;
  uint64_t writes_at_stop;
};

static void stop_then_resume(struct sim *sim, struct sim_event *event)
{
  struct stop_probe *probe = SIM_CONTAINER_OF(event, struct stop_probe, event);
  if (machine_running(probe->machine)) {
    machine_stop(probe->machine);
    probe->writes_at_stop = machine_ram(probe->machine, 0)->writes_count;
    sim_event_schedule_after(sim, event, 5 * SIM_NS_PER_S);
  } else {
    /* Nothing was written and no guest time passed while stopped. */
    ck_assert_uint_eq(machine_ram(probe->machine, 0)->writes_count, probe->writes_at_stop);
    ck_assert_uint_eq(machine_vm_ns(probe->machine), SIM_NS_PER_S / 2);
    machine_resume(probe->machine);
  }
}

START_TEST(machine_stop_freezes_guest_time)
{
  /* A 5 s stop in the middle shifts the program by 5 s without changing its result. */
  uint64_t writes_plain;
  uint64_t plain = run_to_end(11, &writes_plain);
  struct sim_options options = {.seed = 11};
  struct sim *sim = sim_create(&options);
  struct machine_config config = test_config();
  struct stop_probe probe = {.machine = machine_create(sim, &config, 0)};
  machine_boot(probe.machine);
  sim_event_init(&probe.event, stop_then_resume, "test.stop");
  sim_event_schedule_at(sim, &probe.event, SIM_NS_PER_S / 2);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_ge(sim_now_ns(sim), 5 * SIM_NS_PER_S);
  uint64_t hash = ram_block_hash(machine_ram(probe.machine, 0)) ^ testdev_vmstate.version_id;
  hash ^= machine_testdev(probe.machine, 0)->count;
  ck_assert_uint_eq(hash, plain);
  ck_assert_uint_eq(machine_ram(probe.machine, 0)->writes_count, writes_plain);
  sim_destroy(sim);
}
END_TEST

START_TEST(machine_sections_have_pci_paths)
{
  /* Sections register in a fixed order, devices under their bus:device.function. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct machine_config config = test_config();
  config.devices[0].bus = 1;
  config.devices[0].slot = 0x1f;
  config.devices[0].function = 2;
  struct machine *machine = machine_create(sim, &config, 0);
  ck_assert_uint_eq(machine_vmstate_count(machine), 3);
  ck_assert_str_eq(machine_vmstate(machine, 0)->idstr, "vmclock");
  ck_assert_str_eq(machine_vmstate(machine, 1)->idstr, "cpu");
  ck_assert_str_eq(machine_vmstate(machine, 2)->idstr, "0000:01:1f.2/testdev");
  ck_assert(!machine_vmstate_guest_visible(machine, 0));
  ck_assert(machine_vmstate_guest_visible(machine, 2));
  sim_destroy(sim);
}
END_TEST

START_TEST(testdev_extra_follows_ctrl_bit)
{
  /* The extra accumulator moves only while ctrl bit 7 is set; irq every 7th write. */
  struct sim_options options = {.seed = 1};
  struct sim *sim = sim_create(&options);
  struct testdev *dev = testdev_create(sim, 9, false);
  testdev_mmio_write(dev, 10, 1, 5);
  ck_assert_uint_eq(dev->extra, 0);
  testdev_mmio_write(dev, 20, 0, 0x83);
  ck_assert_uint_eq(dev->extra, 0x83);
  ck_assert_uint_eq(dev->mode, 3);
  for (int i = 0; i < 5; i++) testdev_mmio_write(dev, 30, 2, 0x80);
  ck_assert(dev->irq_pending);
  ck_assert_uint_eq(dev->count, 7);
  ck_assert_uint_eq(dev->last_write_vm_ns, 30);
  sim_destroy(sim);
}
END_TEST

START_TEST(machine_vcpus_register_one_cpu_instance_each)
{
  /* N programs: "cpu" instances 0..N-1 after the clock; done only when every one is done. */
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = test_config();
  config.vcpu_count = 3;
  config.vcpus[1] = (struct vcpu_config){.kind = VCPU_WORKLOAD_SWEEP, .block_index = 1,
                                         .pages_per_s = 100, .duration_ns = 2 * SIM_NS_PER_S,
                                         .checksum = true};
  config.vcpus[2] = (struct vcpu_config){.kind = VCPU_WORKLOAD_IDLE, .duration_ns = 5};
  struct machine *machine = machine_create(sim, &config, 0);
  ck_assert_uint_eq(machine_vcpu_count(machine), 3);
  for (uint32_t i = 0; i < 3; i++) {
    const struct vmstate_instance *instance = machine_vmstate(machine, 1 + i);
    ck_assert_str_eq(instance->idstr, "cpu");
    ck_assert_uint_eq(instance->instance_id, i);
  }
  ck_assert_str_eq(machine_vmstate(machine, 4)->idstr, "0000:00:03.0/testdev");
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert(machine_workload_done(machine));
  ck_assert(sim_now_ns(sim) > SIM_NS_PER_S + SIM_NS_PER_S / 2); /* vCPU 1 ran for 2 s */
  const struct vcpu *sweep = machine_vcpu(machine, 1);
  ck_assert_uint_ge(sweep->writes_count, 150);
  ck_assert_uint_eq(sweep->sweep_page_index, sweep->writes_count % 4);
  ck_assert_uint_ne(sweep->checksum, 0);
  ck_assert_uint_eq(machine_vcpu(machine, 2)->writes_count, 0);
  ck_assert_uint_eq(machine_ram(machine, 1)->writes_count, sweep->writes_count);
  sim_destroy(sim);
}
END_TEST

Suite *machine_suite(void)
{
  Suite *suite = suite_create("machine");
  TCase *core = tcase_create("core");
  tcase_add_test(core, machine_program_is_a_function_of_the_seed);
  tcase_add_test(core, machine_stop_freezes_guest_time);
  tcase_add_test(core, machine_sections_have_pci_paths);
  tcase_add_test(core, machine_vcpus_register_one_cpu_instance_each);
  tcase_add_test(core, testdev_extra_follows_ctrl_bit);
  suite_add_tcase(suite, core);
  return suite;
}
