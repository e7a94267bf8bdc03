/*
 * blockdev_test.c: the shared image's write ownership across two machines
 * (source role 0, destination role 1) and the checker's two injected bugs.
 */
#include "sim_base.h"

#include "blockdev.h"
#include "machine.h"
#include "sim_check.h"

static struct machine_config block_config(bool early, bool keep)
{
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 1};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 16 * RAM_PAGE_BYTES;
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "blockdev");
  config.devices[0].slot = 5;
  *blockdev_props(&config.devices[0]) = (struct blockdev_config){.sectors_count = 64,
                                                     .quirk_activate_early = early,
                                                     .quirk_keep_ownership = keep};
  config.driver = (struct devdrv_config){.period_ns = 100 * SIM_NS_PER_US,
                                         .duration_ns = 10 * SIM_NS_PER_MS};
  return config;
}

struct handover {
  struct machine *source;
  struct machine *dest;
  const struct machine_config *config;
  struct sim_event create_event;    /* the destination starts (-incoming) */
  struct sim_event switch_event;    /* the source stops, the destination resumes */
};

static void create_fire(struct sim *sim, struct sim_event *event)
{
  struct handover *h = SIM_CONTAINER_OF(event, struct handover, create_event);
  h->dest = machine_create_peer(sim, h->config, 1, h->source);
}

static void switch_fire(struct sim *sim, struct sim_event *event)
{
  struct handover *h = SIM_CONTAINER_OF(event, struct handover, switch_event);
  (void)sim;
  machine_stop(h->source);
  machine_resume(h->dest);
}

/* Source boots at 0, the destination appears at 3 ms and takes over at 6 ms. */
static void handover_run(struct sim *sim, struct handover *h)
{
  h->source = machine_create(sim, h->config, 0);
  machine_boot(h->source);
  sim_event_init(&h->create_event, create_fire, "test.create");
  sim_event_init(&h->switch_event, switch_fire, "test.switch");
  sim_event_schedule_at(sim, &h->create_event, 3 * SIM_NS_PER_MS);
  sim_event_schedule_at(sim, &h->switch_event, 6 * SIM_NS_PER_MS);
  ck_assert_int_eq(sim_run(sim), SIM_RUN_IDLE);
}

START_TEST(blockdev_ownership_passes_at_switchover)
{
  /* One image, ownership source -> destination, never both; both sides' writes land. */
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = block_config(false, false);
  struct handover h = {.config = &config};
  handover_run(sim, &h);
  struct blockdev *src = machine_blockdev(h.source, 0);
  struct blockdev *dst = machine_blockdev(h.dest, 0);
  ck_assert_ptr_eq(src->image, dst->image);
  ck_assert(!src->owner);
  ck_assert(dst->owner);
  ck_assert_uint_eq(src->image->owners_mask, 2);
  ck_assert_uint_eq(src->image->transfers_count, 3);     /* src on, src off, dst on */
  ck_assert_uint_eq(src->image->violations_count, 0);
  char why[200];
  ck_assert(machine_invariants_check(h.source, why, sizeof(why)));
  ck_assert_uint_gt(src->writes_count, 50);             /* ~60 ticks before 6 ms */
  ck_assert_uint_eq(src->writes_refused_count, 0);
  /* The destination's driver did not run (no state was migrated here): its device is fresh. */
  ck_assert_uint_eq(src->image->writes_count, src->writes_count + dst->writes_count);
  sim_destroy(sim);
}
END_TEST

START_TEST(blockdev_early_activation_is_caught)
{
  /* A destination that opens the image read-write at start collides with the running source. */
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = block_config(true, false);
  struct handover h = {.config = &config};
  handover_run(sim, &h);
  struct blockdev_image *image = machine_blockdev(h.source, 0)->image;
  ck_assert_uint_ge(image->violations_count, 1);
  ck_assert_uint_eq(image->violation_first_ns, 3 * SIM_NS_PER_MS);
  ck_assert_uint_eq(image->violation_first_mask, 3);
  char why[200];
  ck_assert(!machine_invariants_check(h.source, why, sizeof(why)));
  /* One at the early activation, then each of the source's 30 writes from 3.1 to 6.0 ms. */
  ck_assert_str_eq(why, "0000:00:05.0/blockdev: write ownership: at 3000000 ns roles 0x3 held "
                        "write ownership together (31 violation(s))");
  sim_destroy(sim);
}
END_TEST

START_TEST(blockdev_source_that_keeps_ownership_is_caught)
{
  /* A source that never lets go is caught when the destination activates on resume. */
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine_config config = block_config(false, true);
  struct handover h = {.config = &config};
  handover_run(sim, &h);
  struct blockdev_image *image = machine_blockdev(h.source, 0)->image;
  ck_assert_uint_ge(image->violations_count, 1);
  ck_assert_uint_eq(image->violation_first_ns, 6 * SIM_NS_PER_MS);
  ck_assert_uint_eq(image->violation_first_mask, 3);
  sim_destroy(sim);
}
END_TEST

START_TEST(blockdev_write_needs_ownership)
{
  /* Writes without ownership or past the end fail and never reach the image; reads work. */
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct blockdev_image *image = blockdev_image_create(sim, 8);
  struct blockdev_config config = {.sectors_count = 8};
  struct blockdev *dev = blockdev_create(sim, image, 0, &config);
  uint8_t sector[BLOCKDEV_SECTOR_BYTES];
  memset(sector, 0xab, sizeof(sector));
  uint64_t empty = blockdev_image_hash(image);
  ck_assert(!blockdev_write(dev, 1, sector));
  ck_assert_uint_eq(blockdev_image_hash(image), empty);
  blockdev_activate(dev);
  ck_assert(!blockdev_write(dev, 8, sector));
  ck_assert(blockdev_write(dev, 7, sector));
  ck_assert_uint_ne(blockdev_image_hash(image), empty);
  ck_assert_uint_eq(dev->writes_refused_count, 2);
  uint8_t back[BLOCKDEV_SECTOR_BYTES];
  blockdev_inactivate(dev);
  ck_assert(blockdev_read(dev, 7, back));
  ck_assert_mem_eq(back, sector, sizeof(sector));
  ck_assert(!blockdev_read(dev, 8, back));
  char why[100];
  ck_assert(blockdev_image_check(image, why, sizeof(why)));
  sim_destroy(sim);
}
END_TEST

Suite *blockdev_suite(void)
{
  Suite *suite = suite_create("blockdev");
  TCase *core = tcase_create("core");
  tcase_add_test(core, blockdev_write_needs_ownership);
  tcase_add_test(core, blockdev_ownership_passes_at_switchover);
  suite_add_tcase(suite, core);
  TCase *checker = tcase_create("checker");
  tcase_add_test(checker, blockdev_early_activation_is_caught);
  tcase_add_test(checker, blockdev_source_that_keeps_ownership_is_caught);
  suite_add_tcase(suite, checker);
  return suite;
}
