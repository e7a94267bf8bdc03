/*
 * pci_test.c: config space masks, the capability list, MSI, buses and
 * config callbacks.
 */
#include "sim_base.h"

#include "pci.h"
#include "sim_check.h"

static void test_function(struct pci_function *fn)
{
  struct pci_function_id id = {.vendor_id = 0x1022, .device_id = 0x1419,
                               .class_code = 0x080600, .revision_id = 3,
                               .subsystem_vendor_id = 0x1af4, .subsystem_id = 0x1100,
                               .bar0_bytes = 4096};
  pci_function_init(fn, &id);
}

START_TEST(pci_config_write_respects_masks)
{
  /* Identity bytes ignore writes, command bits stick, status error bits clear on 1. */
  struct pci_function fn;
  test_function(&fn);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_VENDOR_ID, 4), 0x14191022u);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_REVISION_ID, 4), 0x08060003u);
  pci_config_write_default(&fn, PCI_VENDOR_ID, 0xdeadbeef, 4);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_VENDOR_ID, 4), 0x14191022u);
  pci_config_write_default(&fn, PCI_COMMAND, 0xffff, 2);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_COMMAND, 2), 0x0407u);
  ck_assert(pci_bus_master_enabled(&fn));
  fn.config[PCI_STATUS + 1] = 0x81;                /* a device-set error bit and bit 8 */
  pci_config_write_default(&fn, PCI_STATUS, 0x8000, 2);
  ck_assert_uint_eq(fn.config[PCI_STATUS + 1], 0x01);
  /* A 4 KiB BAR: the low 12 bits read back zero whatever the guest writes. */
  pci_config_write_default(&fn, PCI_BAR0, 0xffffffffu, 4);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_BAR0, 4), 0xfffff000u);
}
END_TEST

START_TEST(pci_config_access_bad_size_or_alignment)
{
  /* Sizes other than 1/2/4, misaligned or past-the-end accesses read ones and write nothing. */
  struct pci_function fn;
  test_function(&fn);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_COMMAND, 3), UINT32_MAX);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_COMMAND + 1, 2), UINT32_MAX);
  ck_assert_uint_eq(pci_config_read_default(&fn, 254, 4), UINT32_MAX);
  ck_assert_uint_eq(pci_config_read_default(&fn, 256, 1), UINT32_MAX);
  pci_config_write_default(&fn, PCI_COMMAND + 1, 0xffff, 2);
  pci_config_write_default(&fn, 255, 0xffffffffu, 4);
  ck_assert_uint_eq(pci_config_read_default(&fn, PCI_COMMAND, 2), 0);
  ck_assert_uint_eq(pci_config_read_default(&fn, 255, 1), 0);
}
END_TEST

START_TEST(pci_capability_list_in_order)
{
  /* The guest's walk from 0x34 meets the capabilities in the order they were added. */
  struct pci_function fn;
  test_function(&fn);
  ck_assert_uint_eq(fn.config[PCI_STATUS] & PCI_STATUS_CAP_LIST, 0);
  uint32_t first = pci_capability_add(&fn, 0x0f, 0x18);   /* AMD IOMMU secure device */
  uint32_t msi = pci_msi_add(&fn);
  uint32_t third = pci_capability_add(&fn, 0x10, 3);
  ck_assert_uint_eq(first, PCI_CAPS_START);
  ck_assert_uint_eq(msi, PCI_CAPS_START + 0x18);
  ck_assert_uint_eq(third % 4, 0);
  ck_assert_uint_ne(fn.config[PCI_STATUS] & PCI_STATUS_CAP_LIST, 0);
  uint32_t walked[4];
  uint32_t count = 0;
  for (uint32_t at = fn.config[PCI_CAPABILITY_LIST]; at != 0 && count < 4;
       at = fn.config[at + 1]) {
    walked[count++] = at;
  }
  ck_assert_uint_eq(count, 3);
  ck_assert_uint_eq(walked[0], first);
  ck_assert_uint_eq(walked[1], msi);
  ck_assert_uint_eq(walked[2], third);
  ck_assert_uint_eq(fn.config[msi], PCI_CAP_ID_MSI);
  /* The list itself is read-only to the guest. */
  pci_config_write_default(&fn, first + 1, 0, 1);
  ck_assert_uint_eq(fn.config[first + 1], msi);
}
END_TEST

START_TEST(pci_irq_raise_msi_or_intx)
{
  /* With MSI disabled the interrupt is INTx; once the guest enables MSI it is a message. */
  struct pci_function fn;
  test_function(&fn);
  uint32_t msi = pci_msi_add(&fn);
  pci_irq_raise(&fn);
  ck_assert_uint_eq(fn.intx_count, 1);
  ck_assert_uint_eq(fn.msi_count, 0);
  pci_config_write_default(&fn, msi + 2, 0xffff, 2);
  ck_assert(pci_msi_enabled(&fn));
  ck_assert_uint_eq(pci_config_read_default(&fn, msi + 2, 2),
                    PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_ENABLE);
  pci_config_write_default(&fn, msi + 4, 0xfee00003u, 4);
  ck_assert_uint_eq(pci_config_read_default(&fn, msi + 4, 4), 0xfee00000u);
  pci_irq_raise(&fn);
  pci_irq_raise(&fn);
  ck_assert_uint_eq(fn.msi_count, 2);
  ck_assert_uint_eq(fn.intx_count, 1);
}
END_TEST

struct counting_ops {
  struct pci_function *fn;
  uint32_t reads_count;
  uint32_t writes_count;
  uint32_t last_offset;
};

static uint32_t counting_read(void *opaque, uint32_t offset, uint32_t bytes)
{
  struct counting_ops *ops = opaque;
  ops->reads_count++;
  ops->last_offset = offset;
  return pci_config_read_default(ops->fn, offset, bytes) ^ 0x5a5a0000u;
}

static void counting_write(void *opaque, uint32_t offset, uint32_t value, uint32_t bytes)
{
  struct counting_ops *ops = opaque;
  ops->writes_count++;
  ops->last_offset = offset;
  pci_config_write_default(ops->fn, offset, value, bytes);
}

static const struct pci_function_ops counting = {counting_read, counting_write};

START_TEST(pci_bus_routes_config_cycles)
{
  /* Absent functions read ones; a function with callbacks sees every cycle; slots are unique. */
  struct pci_bus bus;
  pci_bus_init(&bus, 2);
  struct pci_function a, b;
  test_function(&a);
  test_function(&b);
  ck_assert(pci_bus_attach(&bus, &a, 4, 0));
  ck_assert(!pci_bus_attach(&bus, &b, 4, 0));
  ck_assert(pci_bus_attach(&bus, &b, 4, 7));
  ck_assert_str_eq(a.path, "0000:02:04.0");
  ck_assert_str_eq(b.path, "0000:02:04.7");
  ck_assert_ptr_eq(pci_bus_find(&bus, 4, 7), &b);
  ck_assert_ptr_null(pci_bus_find(&bus, 5, 0));
  ck_assert_ptr_null(pci_bus_find(&bus, 32, 0));
  ck_assert_uint_eq(pci_bus_config_read(&bus, 5, 0, 0, 4), UINT32_MAX);
  pci_bus_config_write(&bus, 5, 0, PCI_COMMAND, 4, 2);  /* dropped, no crash */
  struct counting_ops ops = {.fn = &b};
  pci_function_ops_set(&b, &counting, &ops);
  ck_assert_uint_eq(pci_bus_config_read(&bus, 4, 7, 0, 4), 0x14191022u ^ 0x5a5a0000u);
  pci_bus_config_write(&bus, 4, 7, PCI_COMMAND, 4, 2);
  ck_assert_uint_eq(ops.reads_count, 1);
  ck_assert_uint_eq(ops.writes_count, 1);
  ck_assert_uint_eq(ops.last_offset, PCI_COMMAND);
  ck_assert(pci_bus_master_enabled(&b));
  ck_assert_uint_eq(pci_bus_config_read(&bus, 4, 0, 0, 4), 0x14191022u);
}
END_TEST

START_TEST(pci_post_load_refuses_other_identity)
{
  /* A config space whose read-only bytes differ (another device's) fails post_load. */
  struct pci_function fn;
  test_function(&fn);
  pci_msi_add(&fn);
  ck_assert_int_eq(pci_function_vmstate.post_load(&fn, 1), 0);
  fn.config[PCI_COMMAND] = 0x07;                     /* guest-writable: accepted */
  ck_assert_int_eq(pci_function_vmstate.post_load(&fn, 1), 0);
  fn.config[PCI_CLASS_PROG + 2] = 0x02;              /* another class: refused */
  ck_assert_int_ne(pci_function_vmstate.post_load(&fn, 1), 0);
  fn.config[PCI_CLASS_PROG + 2] = 0x08;
  fn.config[fn.msi_offset + 1] = 0x80;               /* a moved capability: refused */
  ck_assert_int_ne(pci_function_vmstate.post_load(&fn, 1), 0);
}
END_TEST

Suite *pci_suite(void)
{
  Suite *suite = suite_create("pci");
  TCase *core = tcase_create("core");
  tcase_add_test(core, pci_config_write_respects_masks);
  tcase_add_test(core, pci_config_access_bad_size_or_alignment);
  tcase_add_test(core, pci_capability_list_in_order);
  tcase_add_test(core, pci_irq_raise_msi_or_intx);
  tcase_add_test(core, pci_bus_routes_config_cycles);
  tcase_add_test(core, pci_post_load_refuses_other_identity);
  suite_add_tcase(suite, core);
  return suite;
}
