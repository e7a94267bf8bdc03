/*
 * mig_devsem_test.c: the device semantics of a known destination
 * (mig_devsem.h) on hand-made field lists: each rule refuses what QEMU 7.2
 * refuses and accepts its neighbour; a field whose destination value is not
 * in the table is named in the note.  The same rules on real QEMU 7.2 streams
 * and their mutants: cli_inspect_test.c (cli_inspect_destcheck_device_semantics).
 */
#include "sim_base.h"

#include "mig_devsem.h"
#include "sim_check.h"

#define DS_FIELD(vmsd_, name_, type_, value_, bytes_) \
  {.vmsd = (vmsd_), .name = (name_), .type = (type_), .offset = 0x100, .value = (value_), \
   .bytes = (bytes_)}

static enum mig_err ds_check(const char *idstr, const char *machine,
                             const struct mig_devsem_field *fields, uint32_t count,
                             const struct mig_devsem_ram *ram, struct mig_error *error,
                             char *note, size_t note_bytes)
{
  memset(error, 0, sizeof *error);
  struct mig_devsem_section section = {.idstr = idstr, .machine_type = machine,
                                       .fields = fields, .field_count = count, .ram = ram};
  return mig_devsem_check(&section, error, note, note_bytes);
}

START_TEST(mig_devsem_equal_fields_take_the_machines_value)
{
  struct mig_devsem_field nirq[] = {DS_FIELD("PCIBUS", "nirq", "int32 equal", 4, 4)};
  struct mig_error error;
  char note[128];
  ck_assert_int_eq(ds_check("PCIBUS", "pc-i440fx-7.2", nirq, 1, NULL, &error, note,
                            sizeof note), MIG_OK);
  ck_assert_str_eq(note, "");
  /* q35's root bus has 8 PIRQs: the same 4 is QEMU's "8 != 4". */
  ck_assert_int_eq(ds_check("PCIBUS", "pc-q35-7.2", nirq, 1, NULL, &error, note, sizeof note),
                   MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "PCIBUS/nirq");
  ck_assert_uint_eq(error.offset, 0x100);
  ck_assert_ptr_nonnull(strstr(error.detail, "8 != 4"));
  /* Without a machine type the bus's value is unknown: named, not refused. */
  ck_assert_int_eq(ds_check("PCIBUS", NULL, nirq, 1, NULL, &error, note, sizeof note), MIG_OK);
  ck_assert_ptr_nonnull(strstr(note, "PCIBUS/nirq (int32 equal)"));
  struct mig_devsem_field others[] = {
      DS_FIELD("fdc", "num_floppies", "uint8 equal", 2, 1),
      DS_FIELD("vmmouse", "queue_size", "int32 equal", 1024, 4),
      DS_FIELD("vga", "is_vbe_vmstate", "uint8 equal", 1, 1),
      DS_FIELD("ahci", "ports", "int32 equal", 6, 4),
      DS_FIELD("xyz", "count", "uint16 equal", 7, 2)};
  ck_assert_int_eq(ds_check("dev", "pc-i440fx-2.12", others, 5, NULL, &error, note,
                            sizeof note), MIG_OK);
  ck_assert_str_eq(note, "xyz/count (uint16 equal)");
  for (uint32_t i = 0; i < 4; i++) {
    others[i].value++;
    ck_assert_int_eq(ds_check("dev", "pc-i440fx-2.12", others, 5, NULL, &error, note,
                              sizeof note), MIG_ERR_BAD_VALUE);
    ck_assert_ptr_nonnull(strstr(error.path, others[i].name));
    others[i].value--;
  }
}
END_TEST

START_TEST(mig_devsem_int32_le_bounded_by_the_destination)
{
  struct mig_devsem_field version[] = {DS_FIELD("PCIDevice", "version_id", "int32 le", 2, 4)};
  struct mig_error error;
  char note[64];
  const uint64_t values[] = {0, 1, 2, 3, 0xffffffff, 0x80000000};
  const enum mig_err want[] = {MIG_OK, MIG_OK, MIG_OK, MIG_ERR_BAD_VALUE, MIG_ERR_BAD_VALUE,
                               MIG_ERR_BAD_VALUE};
  for (size_t i = 0; i < SIM_ARRAY_COUNT(values); i++) {
    version[0].value = values[i];
    ck_assert_int_eq(ds_check("0000:00:02.0/e1000", "pc-i440fx-7.2", version, 1, NULL, &error,
                              note, sizeof note), want[i]);
  }
  ck_assert_ptr_nonnull(strstr(error.detail, "Invalid value -2147483648"));
  ck_assert_str_eq(error.path, "0000:00:02.0/e1000/PCIDevice/version_id");
}
END_TEST

START_TEST(mig_devsem_serial_transmitter_state_consistent)
{
  /* serial_post_load: tsr_retry > 0 exactly when LSR.TEMT (0x40) is clear. */
  struct mig_devsem_field fields[] = {DS_FIELD("serial", "lsr", "uint8", 0x60, 1),
                                      DS_FIELD("serial/tsr", "tsr_retry", "uint32", 0, 4)};
  struct mig_error error;
  struct {
    uint64_t lsr, retry;
    uint32_t count;
    enum mig_err want;
  } cases[] = {
      {0x60, 0, 1, MIG_OK},            {0x20, 0, 1, MIG_ERR_BAD_VALUE},
      {0x20, 3, 2, MIG_OK},            {0x60, 3, 2, MIG_ERR_BAD_VALUE},
      {0x20, 0, 2, MIG_ERR_BAD_VALUE}, {0x60, 0xffffffff, 2, MIG_OK},  /* int: -1 is not > 0 */
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    fields[0].value = cases[i].lsr;
    fields[1].value = cases[i].retry;
    ck_assert_msg(ds_check("serial", "pc-i440fx-2.12", fields, cases[i].count, NULL, &error,
                           NULL, 0) == cases[i].want, "case %zu", i);
  }
  fields[0].value = 0x20;
  ck_assert_int_eq(ds_check("serial", NULL, fields, 1, NULL, &error, NULL, 0), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "serial/lsr");
  ck_assert_ptr_nonnull(strstr(error.detail, "inconsistent state in serial device"));
}
END_TEST

/* A RAM of 1 MiB: byte 0xca002 is the ROM's size (16 blocks); 0xcc000's page is unknown. */
static int ds_ram_byte(void *context, uint64_t address)
{
  (void)context;
  if (address == 0xca002) return 16;
  if (address / 4096 == 0xcc) return -1;
  return 0;
}

START_TEST(mig_devsem_vapic_rom_read_from_guest_ram)
{
  struct mig_devsem_field fields[] = {DS_FIELD("kvm-tpr-opt", "state", "uint32", 2, 4),
                                      DS_FIELD("kvm-tpr-opt", "rom_state_paddr", "uint32",
                                               0xca020, 4)};
  struct mig_devsem_ram ram = {.byte_at = ds_ram_byte, .bytes = 1 << 20};
  struct mig_error error;
  struct {
    uint64_t state, paddr;
    enum mig_err want;
  } cases[] = {
      {2, 0xca020, MIG_OK},               /* active, ROM present */
      {0, 0xca1ff, MIG_OK},               /* inactive with an address: standby, same ROM */
      {0, 0, MIG_OK},                     /* inactive: nothing read */
      {1, 0xcb000, MIG_ERR_BAD_VALUE},    /* size byte 0 */
      {2, 0, MIG_ERR_BAD_VALUE},          /* active at 0: byte 2 of RAM is 0 */
      {2, 0xffffe, MIG_ERR_BAD_VALUE},    /* 0xffe00 + 2 is inside, 0 */
      {2, 0x100000, MIG_ERR_BAD_VALUE},   /* outside the RAM */
      {2, 0xcc000, MIG_OK},               /* an XBZRLE page: not told, accepted */
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(cases); i++) {
    fields[0].value = cases[i].state;
    fields[1].value = cases[i].paddr;
    ck_assert_msg(ds_check("kvm-tpr-opt", "pc-i440fx-7.2", fields, 2, &ram, &error, NULL, 0) ==
                      cases[i].want, "case %zu", i);
  }
  fields[1].value = 0x100000;
  ck_assert_int_eq(ds_check("kvm-tpr-opt", "pc-i440fx-7.2", fields, 2, &ram, &error, NULL, 0),
                   MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "kvm-tpr-opt/rom_state_paddr");
  ck_assert_ptr_nonnull(strstr(error.detail, "outside"));
  /* No RAM known (a postcopy package, no pc.ram block): not checked. */
  fields[1].value = 0xcb000;
  ck_assert_int_eq(ds_check("kvm-tpr-opt", "pc-i440fx-7.2", fields, 2, NULL, &error, NULL, 0),
                   MIG_OK);
}
END_TEST

START_TEST(mig_devsem_acpi_blob_sizes_within_their_blocks)
{
  /* fw_cfg_acpi_mr_restore_post_load resizes with &error_abort: above the maximum, QEMU aborts. */
  struct mig_devsem_field fields[] = {
      DS_FIELD("fw_cfg/acpi_mr", "table_mr_size", "uint64", 0x20000, 8),
      DS_FIELD("fw_cfg/acpi_mr", "linker_mr_size", "uint64", 0x1000, 8),
      DS_FIELD("fw_cfg/acpi_mr", "rsdp_mr_size", "uint64", 0x1000, 8)};
  struct mig_error error;
  ck_assert_int_eq(ds_check("fw_cfg", "pc-i440fx-7.2", fields, 3, NULL, &error, NULL, 0),
                   MIG_OK);
  fields[0].value = 0x200000;
  ck_assert_int_eq(ds_check("fw_cfg", "pc-i440fx-7.2", fields, 3, NULL, &error, NULL, 0),
                   MIG_OK);
  fields[0].value = 0xd50000020000;
  ck_assert_int_eq(ds_check("fw_cfg", "pc-i440fx-7.2", fields, 3, NULL, &error, NULL, 0),
                   MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "fw_cfg/fw_cfg/acpi_mr/table_mr_size");
  fields[0].value = 0x20000;
  fields[2].value = 0x1001;
  ck_assert_int_eq(ds_check("fw_cfg", "pc-i440fx-7.2", fields, 3, NULL, &error, NULL, 0),
                   MIG_ERR_BAD_VALUE);
  ck_assert_ptr_nonnull(strstr(error.detail, "qemu_ram_resize"));
}
END_TEST

Suite *mig_devsem_suite(void)
{
  Suite *suite = suite_create("mig_devsem");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_devsem_equal_fields_take_the_machines_value);
  tcase_add_test(core, mig_devsem_int32_le_bounded_by_the_destination);
  tcase_add_test(core, mig_devsem_serial_transmitter_state_consistent);
  tcase_add_test(core, mig_devsem_vapic_rom_read_from_guest_ram);
  tcase_add_test(core, mig_devsem_acpi_blob_sizes_within_their_blocks);
  suite_add_tcase(suite, core);
  return suite;
}
