/*
 * dev_test.c: the device interface (dev.h): the class table, property
 * defaults and setters, quirks, and a machine built from the table whose
 * devices reach it only through their hosts.
 */
#include "sim_base.h"

#include "amdvi.h"
#include "dev.h"
#include "dmadev.h"
#include "machine.h"
#include "sim_check.h"
#include "testdev.h"
#include "vfiodev.h"

START_TEST(dev_class_table_names_every_class_once)
{
  /* Goal: every row is found by its own name, names are unique, and an unknown one is NULL. */
  uint32_t count = 0;
  for (const struct dev_class *cls; (cls = dev_class_at(count)) != NULL; count++) {
    ck_assert_ptr_eq(dev_class_find(cls->name), cls);
    ck_assert_uint_le(cls->props_bytes, DEV_PROPS_BYTES_MAX);
    ck_assert(cls->create != NULL);
    ck_assert(cls->vmstate != NULL);
  }
  ck_assert_uint_eq(count, 6);
  ck_assert_ptr_eq(dev_class_find("amd-iommu"), &amdvi_class);
  ck_assert_ptr_null(dev_class_find("dmadev2"));
  ck_assert_ptr_null(dev_class_find(""));
}
END_TEST

START_TEST(dev_config_init_applies_defaults)
{
  /* Goal: defaults come from the property tables (QEMU's property defaults), per class. */
  struct dev_config config;
  dev_config_init(&config, &dmadev_class);
  ck_assert_str_eq(config.driver, "dmadev");
  ck_assert_uint_eq(dmadev_props(&config)->ring_entries, 16);
  ck_assert_uint_eq(dmadev_props(&config)->bandwidth_bytes_per_s, 268435456);
  ck_assert(!config.behind_iommu);
  dev_config_init(&config, &amdvi_class);
  struct amdvi_config reference;
  amdvi_config_default(&reference);
  ck_assert_int_eq(amdvi_props(&config)->profile, reference.profile);
  ck_assert_int_eq(amdvi_props(&config)->intremap, reference.intremap);
  ck_assert_int_eq(amdvi_props(&config)->dma_remap, reference.dma_remap);
  ck_assert_int_eq(amdvi_props(&config)->dma_translation, reference.dma_translation);
  dev_config_init(&config, &vfiodev_class);
  ck_assert_uint_eq(vfiodev_props(&config)->state_bytes, UINT64_C(64) << 20);
  ck_assert_uint_eq(vfiodev_props(&config)->container, VFIODEV_CONTAINER_IOMMUFD);
  ck_assert_uint_eq(vfiodev_props(&config)->mapping_count, 0);
}
END_TEST

START_TEST(dev_config_prop_set_checks_bounds)
{
  /* Goal: a property set by name (compat properties) obeys the table's kind and bounds. */
  struct dev_config config;
  dev_config_init(&config, &dmadev_class);
  ck_assert(dev_config_prop_set(&config, "ring_entries", 256));
  ck_assert_uint_eq(dmadev_props(&config)->ring_entries, 256);
  ck_assert(!dev_config_prop_set(&config, "ring_entries", 257));
  ck_assert(!dev_config_prop_set(&config, "ring_entries", 1));
  ck_assert_uint_eq(dmadev_props(&config)->ring_entries, 256);
  ck_assert(dev_config_prop_set(&config, "iommu", 1));
  ck_assert(config.behind_iommu);
  ck_assert(!dev_config_prop_set(&config, "ats", 2));
  ck_assert(!dev_config_prop_set(&config, "sectors", 8)); /* a blockdev property */
  dev_config_init(&config, &vfiodev_class);
  ck_assert(!dev_config_prop_set(&config, "state_bytes", 4097)); /* whole pages */
  ck_assert(dev_config_prop_set(&config, "container", VFIODEV_CONTAINER_LEGACY));
  ck_assert(!dev_config_prop_set(&config, "container", 2));
  ck_assert(!dev_config_prop_set(&config, "mappings", 0)); /* records: by their fields */
  ck_assert(!dev_config_quirk_set(&config, "overrun"));
  ck_assert(dev_config_quirk_set(&config, "ignore-ack"));
  ck_assert(vfiodev_props(&config)->quirk_ignore_ack);
}
END_TEST

START_TEST(dev_machine_creates_from_the_table)
{
  /*
   * Goal: a machine built from dev_config_init'd configs creates each class
   * at its address with its vmstate, finds devices by class, and refuses
   * an unknown driver by name.
   */
  struct machine_config config = {.type = "migsim-1.0", .ram_count = 1, .device_count = 3};
  snprintf(config.ram[0].name, sizeof(config.ram[0].name), "pc.ram");
  config.ram[0].bytes = 64 * RAM_PAGE_BYTES;
  dev_config_init(&config.devices[0], &testdev_class);
  config.devices[0].slot = 3;
  dev_config_init(&config.devices[1], &amdvi_class);
  config.devices[1].slot = 1;
  dev_config_init(&config.devices[2], &vfiodev_class);
  config.devices[2].slot = 5;
  vfiodev_props(&config.devices[2])->state_bytes = 4 * RAM_PAGE_BYTES;
  char why[160];
  ck_assert_msg(machine_config_check(&config, why, sizeof(why)), "%s", why);
  struct sim_options options = {.seed = 5};
  struct sim *sim = sim_create(&options);
  struct machine *machine = machine_create(sim, &config, 0);
  ck_assert_uint_eq(machine_device_class_count(machine, &vfiodev_class), 1);
  ck_assert_ptr_eq(machine_device(machine, &amdvi_class, 0), machine_amdvi(machine));
  ck_assert_ptr_null(machine_device(machine, &dmadev_class, 0));
  const char *expected[] = {"0000:00:03.0/testdev", "0000:00:01.0/amd-iommu",
                            "0000:00:05.0/vfiodev"};
  uint32_t found = 0;
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    if (machine_vmstate_required(machine, i)) {
      ck_assert_str_eq(machine_vmstate(machine, i)->idstr, expected[found++]);
    }
  }
  ck_assert_uint_eq(found, 3);
  sim_destroy(sim);
  snprintf(config.devices[0].driver, sizeof(config.devices[0].driver), "nodev");
  ck_assert(!machine_config_check(&config, why, sizeof(why)));
  ck_assert_str_eq(why, "0000:00:03.0/nodev: unknown driver");
}
END_TEST

Suite *dev_suite(void)
{
  Suite *suite = suite_create("dev");
  TCase *core = tcase_create("core");
  tcase_add_test(core, dev_class_table_names_every_class_once);
  tcase_add_test(core, dev_config_init_applies_defaults);
  tcase_add_test(core, dev_config_prop_set_checks_bounds);
  tcase_add_test(core, dev_machine_creates_from_the_table);
  suite_add_tcase(suite, core);
  return suite;
}
