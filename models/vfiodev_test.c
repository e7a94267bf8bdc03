/*
 * vfiodev_test.c: the passthrough device on its own: it dirties its rate in
 * guest time only, stops after duration_ns, writes through its DMA mappings,
 * keeps its live digest equal to a full recomputation, hands out each dirty
 * page once, and a destination adopting it shares its state.
 */
#include "sim_base.h"

#include "machine.h"
#include "pci.h"
#include "sim_check.h"
#include "vfiodev.h"

#define PAGES 256u

static struct machine_config vfio_config(uint32_t role_pages_per_s)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "vfiodev");
  config.devices[0].slot = 5;
  *vfiodev_props(&config.devices[0]) = (struct vfiodev_config){
      .state_bytes = PAGES * RAM_PAGE_BYTES, .dirty_pages_per_s = role_pages_per_s,
      .duration_ns = 50 * SIM_NS_PER_MS, .mapping_count = 1,
      .mappings = {{.iova = 0, .gpa = 16 * RAM_PAGE_BYTES, .bytes = 2 * RAM_PAGE_BYTES}}};
  return config;
}

static uint64_t generations_sum(const struct vfiodev *dev)
{
  uint64_t sum = 0;
  for (uint64_t i = 0; i < dev->page_count; i++) sum += dev->generations[i];
  return sum;
}

START_TEST(vfiodev_dirties_its_rate_for_duration)
{
  /* Goal: 50 ms at 2500 pages/s is 50 ticks and 125 page writes, then the device is idle. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config(2500);
  struct machine *machine = machine_create(sim, &config, 0);
  struct vfiodev *dev = machine_vfiodev(machine, 0);
  ck_assert_ptr_nonnull(dev);
  ck_assert_uint_eq(machine_device_class_count(machine, &vfiodev_class), 1);
  ck_assert_uint_eq(generations_sum(dev), PAGES);
  uint64_t digest_at_boot = dev->generations_digest;
  machine_boot(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(dev->ticks_count, 50);
  ck_assert_uint_eq(generations_sum(dev), PAGES + 125);
  ck_assert_uint_ne(dev->generations_digest, digest_at_boot);
  ck_assert_uint_eq(dev->generations_digest, vfiodev_generations_digest(dev));
  /* Every tick wrote its count through the mapping into guest RAM. */
  ck_assert_uint_eq(dev->dma_writes_count, 50);
  ck_assert_uint_eq(dev->dirty_count, 0); /* no migration: nothing logged */
  sim_destroy(sim);
}
END_TEST

static void stop_fire(struct sim *sim, struct sim_event *event)
{
  (void)event;
  sim_stop(sim);
}

/* Runs the simulation until sim time at_ns (which passes even with nothing else due). */
static void run_to(struct sim *sim, uint64_t at_ns)
{
  struct sim_event stop;
  sim_event_init(&stop, stop_fire, "test.stop");
  sim_event_schedule_at(sim, &stop, at_ns);
  sim_run(sim);
  ck_assert_uint_eq(sim_now_ns(sim), at_ns);
}

START_TEST(vfiodev_ticks_follow_the_vm_clock)
{
  /* Goal: stopped for 100 ms of sim time, the device does no work; it resumes where it was. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config(2000);
  struct machine *machine = machine_create(sim, &config, 0);
  struct vfiodev *dev = machine_vfiodev(machine, 0);
  machine_boot(machine);
  run_to(sim, 10 * SIM_NS_PER_MS + 1);
  uint64_t ticks = dev->ticks_count;
  ck_assert_uint_gt(ticks, 0);
  machine_stop(machine);
  run_to(sim, 110 * SIM_NS_PER_MS);
  ck_assert_uint_eq(dev->ticks_count, ticks);
  machine_resume(machine);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
  ck_assert_uint_eq(dev->ticks_count, 50);
  sim_destroy(sim);
}
END_TEST

START_TEST(vfiodev_dirty_take_hands_out_each_page_once)
{
  /* Goal: after log start every page comes out exactly once, in order, then none. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config(0);
  struct machine *machine = machine_create(sim, &config, 0);
  struct vfiodev *dev = machine_vfiodev(machine, 0);
  vfiodev_log_start(dev);
  ck_assert_uint_eq(dev->dirty_count, PAGES);
  uint64_t cursor = PAGES - 3;
  uint64_t page;
  uint32_t generation;
  uint64_t seen = 0;
  while (vfiodev_dirty_take(dev, &cursor, &page, &generation)) {
    /* Starts at the cursor and wraps once to the front. */
    ck_assert_uint_eq(page, (PAGES - 3 + seen) % PAGES);
    ck_assert_uint_eq(generation, 1);
    seen++;
  }
  ck_assert_uint_eq(seen, PAGES);
  ck_assert_uint_eq(dev->dirty_count, 0);
  sim_destroy(sim);
}
END_TEST

START_TEST(vfiodev_destination_starts_empty_and_adopts)
{
  /* Goal: a destination (role 1) has no data until loaded; adopting shares the source's. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config(1000);
  struct machine *source = machine_create(sim, &config, 0);
  struct machine *dest = machine_create(sim, &config, 1);
  struct vfiodev *source_dev = machine_vfiodev(source, 0);
  struct vfiodev *dest_dev = machine_vfiodev(dest, 0);
  ck_assert_uint_eq(generations_sum(dest_dev), 0);
  ck_assert_uint_eq(dest_dev->generations_digest, 0);
  uint8_t source_page[RAM_PAGE_BYTES], dest_page[RAM_PAGE_BYTES];
  vfiodev_page_fill(source_dev, 7, 3, source_page);
  vfiodev_page_fill(dest_dev, 7, 3, dest_page);
  ck_assert_mem_eq(source_page, dest_page, RAM_PAGE_BYTES); /* same content key both sides */
  vfiodev_page_fill(dest_dev, 7, 4, dest_page);
  ck_assert(memcmp(source_page, dest_page, RAM_PAGE_BYTES) != 0);
  vfiodev_adopt(dest_dev, source_dev);
  ck_assert_ptr_eq(dest_dev->generations, source_dev->generations);
  ck_assert_uint_eq(dest_dev->generations_digest, source_dev->generations_digest);
  ck_assert_uint_eq(dest_dev->gpa[0], 16 * RAM_PAGE_BYTES);
  sim_destroy(sim);
}
END_TEST

START_TEST(vfiodev_config_check_bounds)
{
  /* Goal: sizes that are not whole pages, too many mappings or empty mappings are refused. */
  char why[96];
  struct vfiodev_config config = *vfiodev_props(&vfio_config(0).devices[0]);
  ck_assert(vfiodev_config_check(&config, why, sizeof(why)));
  config.state_bytes = 5000;
  ck_assert(!vfiodev_config_check(&config, why, sizeof(why)));
  ck_assert_ptr_nonnull(strstr(why, "state_bytes"));
  config = *vfiodev_props(&vfio_config(0).devices[0]);
  config.mappings[0].bytes = 0;
  ck_assert(!vfiodev_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "mapping 0: iova, gpa and bytes must be whole pages");
  config = *vfiodev_props(&vfio_config(0).devices[0]);
  config.mapping_count = VFIODEV_MAPPINGS_MAX + 1;
  ck_assert(!vfiodev_config_check(&config, why, sizeof(why)));
}
END_TEST

START_TEST(vfiodev_config_ro_mismatch_names_first_byte)
{
  /* Goal: guest-writable config bytes (MSI address, data, enable) never count as a
   * mismatch; a changed read-only byte (the MSI capability's id, then the revision) does,
   * and the lowest such byte is named. */
  struct sim_options options = {.seed = 3};
  struct sim *sim = sim_create(&options);
  struct machine_config config = vfio_config(0);
  struct vfiodev *dev = machine_vfiodev(machine_create(sim, &config, 1), 0);
  struct pci_function *fn = &dev->pci;
  uint32_t index = 0;
  ck_assert(!vfiodev_config_ro_mismatch(dev, &index));
  pci_config_write_default(fn, fn->msi_offset + 4, 0xfee00000u, 4);
  pci_config_write_default(fn, fn->msi_offset + 12, 0x0021u, 2);
  pci_config_write_default(fn, fn->msi_offset + 2, PCI_MSI_FLAGS_ENABLE, 2);
  ck_assert(pci_msi_enabled(fn));
  ck_assert(!vfiodev_config_ro_mismatch(dev, &index));
  fn->config[fn->msi_offset] = 0x11; /* as a load would write it */
  ck_assert(vfiodev_config_ro_mismatch(dev, &index));
  ck_assert_uint_eq(index, fn->msi_offset);
  fn->config[PCI_REVISION_ID] ^= 0xff;
  ck_assert(vfiodev_config_ro_mismatch(dev, &index));
  ck_assert_uint_eq(index, PCI_REVISION_ID);
  sim_destroy(sim);
}
END_TEST

Suite *vfiodev_suite(void)
{
  Suite *suite = suite_create("vfiodev");
  TCase *core = tcase_create("core");
  tcase_add_test(core, vfiodev_dirties_its_rate_for_duration);
  tcase_add_test(core, vfiodev_config_ro_mismatch_names_first_byte);
  tcase_add_test(core, vfiodev_ticks_follow_the_vm_clock);
  tcase_add_test(core, vfiodev_dirty_take_hands_out_each_page_once);
  tcase_add_test(core, vfiodev_destination_starts_empty_and_adopts);
  tcase_add_test(core, vfiodev_config_check_bounds);
  suite_add_tcase(suite, core);
  return suite;
}
