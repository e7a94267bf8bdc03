/*
 * cli_destcheck_test.c: real QEMU 7.2 streams checked as their destination
 * would check them (mig_destcheck_walk with the machine type and its
 * -dump-vmstate, what `migsim inspect --machine T --vmstate D` runs), for the
 * device semantics (mig_devsem.h): every corpus stream is accepted with every
 * `_EQUAL` and `le` field's value known; mutants QEMU 7.2 refuses (checked
 * against a real QEMU by harness/qemu_diff.py, docs/fuzzing.md) are refused
 * at the field, their neighbours accepted.  Without ../shared/corpus each
 * test prints "skipped: ..." (SIM_CHECK_SKIP) and returns.
 */
#include "sim_base.h"

#include "cli_inspect.h"
#include "mig_destcheck.h"
#include "mig_vmsd_diff.h"
#include "sim_check.h"

#include <dirent.h>
#include <unistd.h>

#define CORPUS_DIR "../shared/corpus/qemu-7.2"
#define CORPUS_SUFFIX ".mig.xz"

/* The machine type a corpus stream's name starts with ("pc-q35-7.2_m32_..." -> "pc-q35-7.2"). */
static void stem_machine(const char *stem, char *machine, size_t machine_bytes)
{
  size_t length = strcspn(stem, "_");
  snprintf(machine, machine_bytes, "%.*s", (int)length, stem);
}

static bool read_stream(const char *stem, struct mig_membuf *input)
{
  char path[512], message[512];
  snprintf(path, sizeof path, "%s/%s%s", CORPUS_DIR, stem, CORPUS_SUFFIX);
  if (cli_inspect_read(path, input, message, sizeof message)) return true;
  SIM_CHECK_SKIP("%s", message);
  mig_membuf_deinit(input);
  return false;
}

/* The stream checked as machine's QEMU 7.2 (with those RAM blocks, if any) checks it. */
static enum mig_err check_as_with(const struct mig_membuf *input, const char *machine,
                                  const char *const *ram_blocks, uint32_t ram_block_count,
                                  struct mig_destcheck_report *report, struct mig_error *error)
{
  char path[512], message[512];
  snprintf(path, sizeof path, "%s/vmstate/%s.vmstate.json", CORPUS_DIR, machine);
  struct mig_membuf text;
  ck_assert_msg(cli_inspect_read(path, &text, message, sizeof message), "%s", message);
  struct mig_vmsd_file *dump = NULL;
  struct mig_vmsd_error dump_error;
  ck_assert_int_eq(mig_vmsd_file_parse(text.bytes, text.count, &dump, &dump_error),
                   MIG_VMSD_OK);
  struct mig_destcheck_options options = {.machine_type = machine, .dump = dump,
                                          .ram_blocks = ram_blocks,
                                          .ram_block_count = ram_block_count};
  struct mig_inspect inspect;
  enum mig_err code = mig_destcheck_walk(input->bytes, input->count, &options, NULL, NULL,
                                         &inspect, report, error);
  mig_inspect_deinit(&inspect);
  mig_vmsd_file_free(dump);
  mig_membuf_deinit(&text);
  return code;
}

/* The stream checked as machine's QEMU 7.2 checks it; report->warnings say what was not. */
static enum mig_err check_as(const struct mig_membuf *input, const char *machine,
                             struct mig_destcheck_report *report, struct mig_error *error)
{
  return check_as_with(input, machine, NULL, 0, report, error);
}

START_TEST(cli_destcheck_corpus_accepted_every_value_known)
{
  /*
   * Goal: QEMU 7.2 loads every corpus stream (the sidecars say so), so the
   * device semantics must accept each, and the table must know the
   * destination's value of every `_EQUAL`/`le` field they carry (a stream
   * with one it does not know would be a warning here).
   */
  DIR *dir = opendir(CORPUS_DIR);
  if (dir == NULL) {
    SIM_CHECK_SKIP("%s not found", CORPUS_DIR);
    return;
  }
  uint32_t checked = 0;
  for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
    size_t length = strlen(entry->d_name);
    if (length <= strlen(CORPUS_SUFFIX) ||
        strcmp(entry->d_name + length - strlen(CORPUS_SUFFIX), CORPUS_SUFFIX) != 0) {
      continue;
    }
    char stem[256], machine[64], dump[512];
    snprintf(stem, sizeof stem, "%.*s", (int)(length - strlen(CORPUS_SUFFIX)), entry->d_name);
    stem_machine(stem, machine, sizeof machine);
    snprintf(dump, sizeof dump, "%s/vmstate/%s.vmstate.json", CORPUS_DIR, machine);
    if (access(dump, R_OK) != 0) continue;  /* a machine type without a dump */
    struct mig_membuf input;
    if (!read_stream(stem, &input)) break;
    struct mig_destcheck_report report;
    struct mig_error error;
    enum mig_err code = check_as(&input, machine, &report, &error);
    char message[512];
    mig_error_format(&error, message, sizeof message);
    ck_assert_msg(code == MIG_OK, "%s: %s", stem, message);
    for (uint32_t i = 0; i < report.warning_count; i++) {
      ck_assert_msg(strstr(report.warnings[i].text, "not known") == NULL, "%s: %s", stem,
                    report.warnings[i].text);
    }
    mig_membuf_deinit(&input);
    checked++;
  }
  closedir(dir);
  ck_assert_uint_ge(checked, 10);
}
END_TEST

/* Visitor: the payload offset of one FULL section and of one page of "pc.ram". */
struct find {
  const char *idstr;
  uint64_t page;
  uint64_t payload;                    /* the section's; 0 if not seen */
  uint64_t payload_bytes;
  uint64_t page_payload;               /* the page record's payload; 0 if not seen */
  uint64_t compressed, compressed_bytes;  /* the first COMPRESS_PAGE record's zlib stream */
};

static enum mig_err find_visit(void *context, const struct mig_inspect_event *event,
                               struct mig_error *error)
{
  (void)error;
  struct find *find = context;
  if (event->kind == MIG_INSPECT_DEVICE && strcmp(event->idstr, find->idstr) == 0) {
    find->payload = event->payload_offset;
    find->payload_bytes = event->payload_bytes;
  }
  if (event->kind == MIG_INSPECT_RAM_PAGE && event->ram_kind == 0x008 &&
      strcmp(event->inspect->blocks[event->block_index].name, "pc.ram") == 0 &&
      event->address == find->page) {
    find->page_payload = event->payload_offset;
  }
  if (event->kind == MIG_INSPECT_RAM_PAGE && event->ram_kind == 0x100 && find->compressed == 0) {
    find->compressed = event->payload_offset;
    find->compressed_bytes = event->payload_bytes;
  }
  return MIG_OK;
}

/* Walks input with the find visitor: find->payload and find->page_payload filled. */
static void find_in(const struct mig_membuf *input, struct find *find)
{
  struct mig_inspect_visitor visitor = {.visit = find_visit, .context = find};
  struct mig_inspect inspect;
  struct mig_error error;
  ck_assert_int_eq(mig_inspect_walk(input->bytes, input->count, &inspect, &visitor, &error),
                   MIG_OK);
  mig_inspect_deinit(&inspect);
}

static void put_be(uint8_t *at, uint32_t bytes, uint64_t value)
{
  for (uint32_t i = 0; i < bytes; i++) at[i] = (uint8_t)(value >> (8 * (bytes - 1 - i)));
}

static uint64_t get_be(const uint8_t *at, uint32_t bytes)
{
  uint64_t value = 0;
  for (uint32_t i = 0; i < bytes; i++) value = value << 8 | at[i];
  return value;
}

START_TEST(cli_destcheck_device_semantics_mutants)
{
  /*
   * Goal: each mutant class the 2,000-mutant differential run found QEMU 7.2
   * refusing and migsim accepting is refused at the field QEMU names, and
   * its harmless neighbour is accepted.  Method: edit one field of a real
   * stream, checked with its machine type and -dump-vmstate.  QEMU 7.2's
   * verdicts (by harness/qemu_diff.py's loader, 2026-12-07) in comments.
   */
  static const struct {
    const char *stem, *idstr;
    uint32_t at, bytes;                /* the field inside the section's payload */
    uint64_t value;
    enum mig_err want;
    const char *path;
  } cases[] = {
      /* QEMU: "4 != 5" */
      {"pc-i440fx-7.2_m32_running-seabios", "PCIBUS", 0, 4, 5, MIG_ERR_BAD_VALUE, "PCIBUS/nirq"},
      /* QEMU: "8 != 4" */
      {"pc-q35-7.2_m32_validate-uuid", "PCIBUS", 0, 4, 4, MIG_ERR_BAD_VALUE, "PCIBUS/nirq"},
      /* QEMU: "400 != 3ff" */
      {"pc-i440fx-7.2_m32_running-seabios", "vmmouse", 0, 4, 1023, MIG_ERR_BAD_VALUE,
       "vmmouse/queue_size"},
      /* LSR 0x60 -> 0x20, TEMT clear, no tsr subsection: "inconsistent state in serial device" */
      {"pc-i440fx-2.12_m32_ahci_serial_pvpanic", "serial", 7, 1, 0x20, MIG_ERR_BAD_VALUE,
       "serial/lsr"},
      /* LSR 0x61: TEMT still set; QEMU accepts */
      {"pc-i440fx-2.12_m32_ahci_serial_pvpanic", "serial", 7, 1, 0x61, MIG_OK, NULL},
      /* kvmvapic's ROM at 1 MiB, a zero page: "error while loading state ... kvm-tpr-opt" */
      {"pc-i440fx-7.2_m32_running-seabios", "kvm-tpr-opt", 140, 4, 0x100000, MIG_ERR_BAD_VALUE,
       "kvm-tpr-opt/rom_state_paddr"},
      /* beyond the 32 MiB of RAM: refused too */
      {"pc-i440fx-7.2_m32_running-seabios", "kvm-tpr-opt", 140, 4, 0x7000000, MIG_ERR_BAD_VALUE,
       "kvm-tpr-opt/rom_state_paddr"},
      /* the ROM's state 512 bytes on in the same ROM: accepted */
      {"pc-i440fx-7.2_m32_running-seabios", "kvm-tpr-opt", 140, 4, 0xca220, MIG_OK, NULL},
  };
  for (size_t c = 0; c < SIM_ARRAY_COUNT(cases); c++) {
    struct mig_membuf input;
    if (!read_stream(cases[c].stem, &input)) return;
    struct find find = {.idstr = cases[c].idstr, .page = UINT64_MAX};
    find_in(&input, &find);
    ck_assert_uint_gt(find.payload, 0);
    put_be(input.bytes + find.payload + cases[c].at, cases[c].bytes, cases[c].value);
    char machine[64], message[512];
    stem_machine(cases[c].stem, machine, sizeof machine);
    struct mig_destcheck_report report;
    struct mig_error error;
    enum mig_err code = check_as(&input, machine, &report, &error);
    mig_error_format(&error, message, sizeof message);
    ck_assert_msg(code == cases[c].want, "case %zu: %s", c, message);
    if (cases[c].path != NULL) {
      ck_assert_str_eq(error.path, cases[c].path);
      ck_assert_uint_eq(error.offset, find.payload + cases[c].at);
    }
    mig_membuf_deinit(&input);
  }
}
END_TEST

START_TEST(cli_destcheck_vapic_rom_page_from_the_stream)
{
  /*
   * Goal: kvmvapic's post_load reads its option ROM's size byte from guest
   * RAM, so a stream whose ROM page is zeroed (its size byte, or the page
   * sent as a ZERO record) is refused, as QEMU 7.2 refuses it; the page as
   * sent is accepted.
   */
  const char *stem = "pc-i440fx-7.2_m32_running-seabios";
  struct mig_membuf input;
  if (!read_stream(stem, &input)) return;
  struct find find = {.idstr = "kvm-tpr-opt", .page = UINT64_MAX};
  find_in(&input, &find);
  uint64_t rom = get_be(input.bytes + find.payload + 140, 4) & ~UINT64_C(511);
  ck_assert_uint_ne(rom, 0);            /* the sidecar's guest ran SeaBIOS: the ROM is mapped */
  find.page = rom & ~UINT64_C(4095);
  find_in(&input, &find);
  ck_assert_uint_gt(find.page_payload, 0);
  uint8_t *size = input.bytes + find.page_payload + (rom - find.page) + 2;
  ck_assert_uint_ne(*size, 0);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_OK);
  uint8_t saved = *size;
  *size = 0;
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "kvm-tpr-opt/rom_state_paddr");
  ck_assert_ptr_nonnull(strstr(error.detail, "size 0"));
  *size = saved;
  /* The page as a ZERO record (its flags word: the address | ZERO | CONTINUE, fill 0). */
  uint64_t word_at = find.page_payload - 8;
  uint64_t word = get_be(input.bytes + word_at, 8);
  ck_assert_uint_eq(word & ~UINT64_C(0xfff), find.page);  /* a CONTINUE record: no name */
  ck_assert_uint_eq(word & 0x008, 0x008);
  put_be(input.bytes + word_at, 8, (word & ~UINT64_C(0xfff)) | 0x002 | (word & 0x020));
  input.bytes[word_at + 8] = 0;
  memmove(input.bytes + word_at + 9, input.bytes + find.page_payload + 4096,
          input.count - (find.page_payload + 4096));
  input.count -= 4096 - 1;
  /* The trailer's framing is unchanged and EOF + trailer moved with the rest. */
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "kvm-tpr-opt/rom_state_paddr");
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_destcheck_compressed_page_must_inflate)
{
  /*
   * Goal: QEMU 7.2's decompression thread refuses a COMPRESS_PAGE record
   * whose zlib stream does not end within a page ("decompress data
   * failed", 8 mutants of this stream in the wide differential run,
   * fuzzing.md); the known destination refuses it at the record.
   */
  const char *stem = "pc-i440fx-7.2_m16_compress";
  struct mig_membuf input;
  if (!read_stream(stem, &input)) return;
  struct find find = {.idstr = "", .page = UINT64_MAX};
  find_in(&input, &find);
  ck_assert_uint_gt(find.compressed_bytes, 16);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_OK);
  input.bytes[find.compressed + find.compressed_bytes / 2] ^= 0xff;
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_ERR_BAD_VALUE);
  ck_assert_uint_eq(error.offset, find.compressed);
  ck_assert_ptr_nonnull(strstr(error.path, "/compressed"));
  ck_assert_ptr_nonnull(strstr(error.detail, "decompress data failed"));
  input.bytes[find.compressed + find.compressed_bytes / 2] ^= 0xff;
  input.bytes[find.compressed + find.compressed_bytes - 1] ^= 0x01;  /* the adler32 */
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_ERR_BAD_VALUE);
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_destcheck_acpi_blob_size_in_a_subsection)
{
  /*
   * Goal: a field of a subsection reaches the device semantics with its
   * description's name (fw_cfg/acpi_mr/table_mr_size, QEMU 7.2 aborts in
   * qemu_ram_resize above 2 MiB: a QEMU crash of the wide differential run,
   * ramfile-random.4000058), and only above the block's maximum.
   */
  struct mig_membuf input;
  if (!read_stream("pc-i440fx-7.2_m16_ramfile-random", &input)) return;
  static const char marker[] = "\x05\x0e" "fw_cfg/acpi_mr";
  uint64_t at = 0;
  while (at + sizeof marker <= input.count &&
         memcmp(input.bytes + at, marker, sizeof marker - 1) != 0) {
    at++;
  }
  ck_assert_uint_lt(at + sizeof marker, input.count);
  uint64_t table = at + sizeof marker - 1 + 4;
  ck_assert_uint_eq(get_be(input.bytes + table, 8), 0x20000);  /* 7.2's tables: 128 KiB */
  struct mig_destcheck_report report;
  struct mig_error error;
  put_be(input.bytes + table, 8, 0x200000);
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_OK);
  put_be(input.bytes + table, 8, 0xd50000020000);
  ck_assert_int_eq(check_as(&input, "pc-i440fx-7.2", &report, &error), MIG_ERR_BAD_VALUE);
  ck_assert_str_eq(error.path, "fw_cfg/fw_cfg/acpi_mr/table_mr_size");
  ck_assert_uint_eq(error.offset, table);
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_destcheck_ram_block_names)
{
  /*
   * Goal: given the destination's RAM blocks (--ram-block), a MEM_SIZE list
   * naming another is refused as QEMU 7.2 refuses it ("Unknown ramblock":
   * numa-memdev.9000064 of the wide differential run edits `ram0`).
   */
  struct mig_membuf input;
  if (!read_stream("pc-q35-7.2_m32_numa-memdev_x-ignore-shared", &input)) return;
  static const char *const blocks[] = {"ram0", "/rom@etc/acpi/tables", "pc.bios", "pc.rom",
                                       "/rom@etc/table-loader", "/rom@etc/acpi/rsdp"};
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(check_as_with(&input, "pc-q35-7.2", blocks, 6, &report, &error), MIG_OK);
  /* Without ram0 (a destination with -m 32 and no memory backend: pc.ram). */
  ck_assert_int_eq(check_as_with(&input, "pc-q35-7.2", blocks + 1, 5, &report, &error),
                   MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/blocks/ram0");
  /* The name edited in the stream ("ra\xff0"). */
  uint64_t at = 0;
  while (at + 5 <= input.count && memcmp(input.bytes + at, "\x04ram0", 5) != 0) at++;
  ck_assert_uint_lt(at + 5, input.count);
  input.bytes[at + 3] = 0xff;
  ck_assert_int_eq(check_as_with(&input, "pc-q35-7.2", blocks, 6, &report, &error),
                   MIG_ERR_RAM_BLOCK);
  ck_assert_str_eq(error.path, "ram/blocks/ra\xff" "0");
  mig_membuf_deinit(&input);
}
END_TEST

START_TEST(cli_destcheck_repeated_footer_of_an_undescribed_section)
{
  /*
   * Goal: slirp's old-style section has no description; its footer sent
   * twice is refused at the second, as QEMU 7.2 refuses it ("Unknown savevm
   * section type 126", intel-iommu.10000144 of the wide differential run),
   * by the footer scan of a known destination and by the trailer's sizing.
   */
  struct mig_membuf input;
  if (!read_stream("pc-q35-7.2_m64_intel-iommu", &input)) return;
  struct find find = {.idstr = "slirp", .page = UINT64_MAX};
  find_in(&input, &find);
  uint64_t footer = find.payload + find.payload_bytes;
  ck_assert_uint_eq(input.bytes[footer], 0x7e);
  struct mig_membuf edited;
  mig_membuf_init(&edited, input.count + 5);
  ck_assert_int_eq(mig_membuf_write(&edited, input.bytes, footer + 5), MIG_OK);
  ck_assert_int_eq(mig_membuf_write(&edited, input.bytes + footer, input.count - footer),
                   MIG_OK);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(check_as(&edited, "pc-q35-7.2", &report, &error), MIG_ERR_BAD_SECTION_TYPE);
  ck_assert_uint_eq(error.offset, footer + 5);
  struct mig_inspect inspect;
  ck_assert_int_eq(mig_inspect_walk(edited.bytes, edited.count, &inspect, NULL, &error),
                   MIG_ERR_BAD_SECTION_TYPE);
  mig_inspect_deinit(&inspect);
  ck_assert_uint_eq(error.offset, footer + 5);
  mig_membuf_deinit(&edited);
  mig_membuf_deinit(&input);
}
END_TEST

Suite *cli_destcheck_suite(void)
{
  Suite *suite = suite_create("cli_destcheck");
  TCase *core = tcase_create("core");
  tcase_set_timeout(core, 120);
  tcase_add_test(core, cli_destcheck_corpus_accepted_every_value_known);
  tcase_add_test(core, cli_destcheck_device_semantics_mutants);
  tcase_add_test(core, cli_destcheck_vapic_rom_page_from_the_stream);
  tcase_add_test(core, cli_destcheck_compressed_page_must_inflate);
  tcase_add_test(core, cli_destcheck_acpi_blob_size_in_a_subsection);
  tcase_add_test(core, cli_destcheck_ram_block_names);
  tcase_add_test(core, cli_destcheck_repeated_footer_of_an_undescribed_section);
  suite_add_tcase(suite, core);
  return suite;
}
