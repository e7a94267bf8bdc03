/*
 * compat_test.c: the simulated release history (compat.h) and its device
 * (simnet.h): machine types per release, code defaults, compat entries
 * applied newest first, the firmware sizes, and what a guest sees.
 */
#include "sim_base.h"

#include "compat.h"
#include "dev.h"
#include "sim_check.h"
#include "simnet.h"

enum { R1_0, R1_1, R1_1_1, R2_0, R2_1 };

/* A simnet as release builds it for machine type sim-<machine>. */
static struct simnet_config simnet_on(uint32_t release, uint32_t machine)
{
  struct dev_config config;
  dev_config_init(&config, &simnet_class);
  compat_device_apply(release, machine, &config);
  return *simnet_props(&config);
}

static uint64_t rom_bytes(uint32_t release, uint32_t machine)
{
  struct machine_config config = {.ram_count = 1};
  char why[128];
  ck_assert(compat_firmware_append(release, machine, &config, why, sizeof(why)));
  ck_assert_uint_eq(config.ram_count, 2);
  ck_assert_str_eq(config.ram[1].name, "sim.rom");
  ck_assert_uint_eq(config.ram[1].max_bytes, 0); /* fixed size: a change is "Size mismatch" */
  return config.ram[1].bytes;
}

START_TEST(compat_machines_per_release)
{
  /* Goal: a release offers its own machine type and every older one; a point release adds none. */
  const char *names[COMPAT_RELEASES_COUNT];
  ck_assert_uint_eq(compat_machines(R1_0, names, COMPAT_RELEASES_COUNT), 1);
  ck_assert_uint_eq(compat_machines(R1_1_1, names, COMPAT_RELEASES_COUNT), 2);
  ck_assert_str_eq(names[1], "sim-1.1");
  ck_assert_uint_eq(compat_machines(R2_1, names, COMPAT_RELEASES_COUNT), 4);
  ck_assert_str_eq(names[3], "sim-2.1");
  uint32_t machine = 99;
  ck_assert(compat_machine_find(R2_1, "sim-1.1", &machine));
  ck_assert_uint_eq(machine, R1_1);
  ck_assert(!compat_machine_find(R1_1_1, "sim-1.1.1", &machine)); /* no such machine type */
  ck_assert(!compat_machine_find(R1_1, "sim-2.0", &machine));     /* from a later release */
  ck_assert(!compat_machine_find(R2_1, "migsim-1.0", &machine));  /* today's: not a release's */
  uint32_t index = 99;
  ck_assert_ptr_nonnull(compat_release_find("1.1.1", &index));
  ck_assert_uint_eq(index, R1_1_1);
  ck_assert_ptr_null(compat_release_find("3.0", &index));
}
END_TEST

START_TEST(compat_device_apply_point_release)
{
  /* Goal: QEMU 8.0.0/8.0.1 as data: 1.1 turns the AER mask on for sim-1.0, 1.1.1 turns it off. */
  ck_assert(!simnet_on(R1_0, R1_0).aer_mask);
  ck_assert(simnet_on(R1_1, R1_0).aer_mask);        /* no compat entry: the bug */
  ck_assert(!simnet_on(R1_1_1, R1_0).aer_mask);     /* the point release's entry */
  ck_assert(!simnet_on(R2_1, R1_0).aer_mask);       /* kept in later releases */
  ck_assert(simnet_on(R1_1_1, R1_1).aer_mask);      /* sim-1.1 always had it on */
  ck_assert_uint_eq(simnet_aer_byte(&(struct simnet_config){.aer_mask = true}),
                    SIMNET_AER_MASK_DEFAULT);
}
END_TEST

START_TEST(compat_device_apply_revisions_and_compat)
{
  /* Goal: each release's code defaults pick its revision; compat entries restore old machines'. */
  ck_assert_uint_eq(simnet_on(R1_0, R1_0).revision, 1);
  ck_assert_uint_eq(simnet_on(R1_1_1, R1_0).revision, 2);
  ck_assert_uint_eq(simnet_on(R2_0, R1_0).revision, 3);
  ck_assert_uint_eq(simnet_on(R2_1, R1_0).revision, SIMNET_REVISION_MAX);
  ck_assert(simnet_on(R1_1, R1_1).send_stats);
  ck_assert(!simnet_on(R2_1, R1_0).send_stats);     /* HW_COMPAT for sim-1.0 since 1.1 */
  ck_assert(!simnet_on(R2_0, R1_1).vlan);
  ck_assert(simnet_on(R2_0, R2_0).vlan);
  ck_assert_uint_eq(simnet_on(R2_1, R2_0).cfg_bytes, 8);  /* the config size, done right */
  ck_assert_uint_eq(simnet_on(R2_1, R2_1).cfg_bytes, 12);
  ck_assert(!simnet_on(R2_0, R2_0).live);            /* the live section is new in 2.1 */
  ck_assert(!simnet_on(R2_1, R1_1).live);            /* compat: off for sim-1.x */
  ck_assert(simnet_on(R2_1, R2_0).live);             /* ... but sim-2.0 is forgotten */
  ck_assert(simnet_on(R2_1, R2_1).live);
}
END_TEST

START_TEST(compat_features_from_host_and_machine)
{
  /* Goal: USO is offered from 2.0 on every machine type (the defect), off for sim-1.x on 2.1. */
  struct simnet_config on_2_0 = simnet_on(R2_0, R1_0);
  ck_assert_uint_eq(simnet_features_offered(&on_2_0) & SIMNET_F_USO, SIMNET_F_USO);
  on_2_0.host_uso = false;                          /* a host whose backend lacks USO */
  ck_assert_uint_eq(simnet_features_offered(&on_2_0) & SIMNET_F_USO, 0);
  struct simnet_config on_2_1 = simnet_on(R2_1, R1_1);
  ck_assert_uint_eq(simnet_features_offered(&on_2_1) & SIMNET_F_USO, 0);
  struct simnet_config on_1_0 = simnet_on(R1_0, R1_0);
  ck_assert_uint_eq(simnet_features_offered(&on_1_0), SIMNET_F_CSUM | SIMNET_F_MAC);
  struct dev_config device;
  dev_config_init(&device, &simnet_class);
  struct dev_guest_view view;
  simnet_class.guest_view(&device, &view);
  ck_assert(view.has_features);
  ck_assert_uint_eq(view.ro_count, 2);
  ck_assert_uint_eq(view.ro_offsets[1], simnet_cap_offset() + SIMNET_CAP_AER_MASK);
}
END_TEST

START_TEST(compat_firmware_sizes)
{
  /* Goal: sim.rom grows in 2.0 and the compat entry covers sim-1.0 but forgets sim-1.1. */
  ck_assert_uint_eq(rom_bytes(R1_1, R1_1), 64u << 10);
  ck_assert_uint_eq(rom_bytes(R2_0, R1_0), 64u << 10);
  ck_assert_uint_eq(rom_bytes(R2_0, R1_1), 128u << 10);
  ck_assert_uint_eq(rom_bytes(R2_1, R2_0), 128u << 10);
  struct machine_config full = {.ram_count = RAM_BLOCKS_MAX};
  char why[128];
  ck_assert(!compat_firmware_append(R1_0, R1_0, &full, why, sizeof(why)));
  ck_assert_str_eq(why, "no room for firmware block sim.rom (16 RAM blocks at most)");
}
END_TEST

START_TEST(compat_tables_apply_everywhere)
{
  /* Goal: every row names a real property with a value in range (prop_apply asserts it). */
  for (uint32_t release = 0; release < COMPAT_RELEASES_COUNT; release++) {
    for (uint32_t machine = 0; machine <= release; machine++) {
      if (!compat_release_at(machine)->new_machine) continue;
      struct simnet_config config = simnet_on(release, machine);
      ck_assert_uint_ge(config.revision, 1);
      ck_assert_uint_gt(rom_bytes(release, machine), 0);
    }
  }
  uint32_t count = 0;
  const struct compat_prop *entries = compat_props(true, &count);
  for (uint32_t i = 0; i < count; i++) {
    ck_assert_uint_lt(entries[i].machine_max, entries[i].since); /* for older machine types */
    ck_assert_ptr_nonnull(entries[i].why);
  }
}
END_TEST

Suite *compat_suite(void)
{
  Suite *suite = suite_create("compat");
  TCase *core = tcase_create("core");
  tcase_add_test(core, compat_machines_per_release);
  tcase_add_test(core, compat_device_apply_point_release);
  tcase_add_test(core, compat_device_apply_revisions_and_compat);
  tcase_add_test(core, compat_features_from_host_and_machine);
  tcase_add_test(core, compat_firmware_sizes);
  tcase_add_test(core, compat_tables_apply_everywhere);
  suite_add_tcase(suite, core);
  return suite;
}
