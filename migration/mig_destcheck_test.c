/*
 * mig_destcheck_test.c: a stream checked as a known destination checks it
 * (mig_destcheck.h), on a hand-built stream: the configuration, one FULL
 * section "0000:00:02.0/dev" (VMSD "dev" v2: a be32 and a struct "inner"
 * with a subsection), its own subsection "dev/sub", a footer, EOF and the
 * VM-description trailer; and a hand-written -dump-vmstate of the
 * destination.  Each case edits one thing QEMU 7.2 refuses or accepts and
 * asserts the verdict with and without the dump.
 */
#include "sim_base.h"

#include "mig_destcheck.h"
#include "mig_stream.h"
#include "mig_vmsd_diff.h"
#include "sim_check.h"

#define DC_MACHINE "pc-i440fx-7.2"
#define DC_IDSTR "0000:00:02.0/dev"

static const char dc_dump[] =
    "{\"vmschkmachine\": {\"Name\": \"" DC_MACHINE "\"},"
    " \"dev-pci\": {\"Name\": \"dev-pci\", \"version_id\": 2, \"minimum_version_id\": 1,"
    "  \"Description\": {\"name\": \"dev\", \"version_id\": 2, \"minimum_version_id\": 1,"
    "   \"Fields\": [{\"field\": \"a\", \"version_id\": 0, \"field_exists\": false, \"size\": 4},"
    "    {\"field\": \"late\", \"version_id\": 2, \"field_exists\": false, \"size\": 2},"
    "    {\"field\": \"inner\", \"version_id\": 0, \"field_exists\": false, \"size\": 8,"
    "     \"Description\": {\"name\": \"inner\", \"version_id\": 1, \"minimum_version_id\": 1,"
    "      \"Fields\": [{\"field\": \"c\", \"version_id\": 0, \"field_exists\": false,"
    "                   \"size\": 1}],"
    "      \"Subsections\": [{\"name\": \"inner/x\", \"version_id\": 1,"
    "       \"minimum_version_id\": 1, \"Fields\": [{\"field\": \"d\", \"version_id\": 0,"
    "        \"field_exists\": false, \"size\": 1}]}]}}],"
    "   \"Subsections\": [{\"name\": \"dev/sub\", \"version_id\": 1, \"minimum_version_id\": 1,"
    "     \"Fields\": [{\"field\": \"b\", \"version_id\": 0, \"field_exists\": false,"
    "                  \"size\": 2}]},"
    "    {\"name\": \"dev/zzz\", \"version_id\": 1, \"minimum_version_id\": 1,"
    "     \"Fields\": [{\"field\": \"z\", \"version_id\": 0, \"field_exists\": false,"
    "                  \"size\": 2}]}]}}}";

static const char dc_trailer[] =
    "{\"page_size\": 4096, \"devices\": [{\"name\": \"" DC_IDSTR "\", \"instance_id\": 0,"
    " \"vmsd_name\": \"dev\", \"version\": 2, \"fields\": ["
    "  {\"name\": \"a\", \"type\": \"uint32\", \"size\": 4},"
    "  {\"name\": \"late\", \"type\": \"uint16\", \"size\": 2},"
    "  {\"name\": \"inner\", \"type\": \"struct\", \"size\": 15, \"struct\": {"
    "   \"vmsd_name\": \"inner\", \"version\": 1,"
    "   \"fields\": [{\"name\": \"c\", \"type\": \"uint8\", \"size\": 1}],"
    "   \"subsections\": [{\"vmsd_name\": \"inner/x\", \"version\": 1,"
    "    \"fields\": [{\"name\": \"d\", \"type\": \"uint8\", \"size\": 1}]}]}}],"
    " \"subsections\": [{\"vmsd_name\": \"dev/sub\", \"version\": 1,"
    "  \"fields\": [{\"name\": \"b\", \"type\": \"uint16\", \"size\": 2}]}]}]}";

/* Offsets of the parts a case edits. */
struct dc_stream {
  struct mig_membuf buf;
  uint64_t version, inner_marker, sub_marker, sub_name, sub_version, footer, trailer;
};

static void dc_subsection(struct mig_writer *w, const char *name, uint32_t version)
{
  mig_writer_u8(w, 0x05);
  mig_writer_counted_string(w, name);
  mig_writer_be32(w, version);
}

/* Starts s: its buffer, w over it, the file header. */
static void dc_begin(struct dc_stream *s, struct mig_writer *w)
{
  static uint8_t staging[4096];
  mig_membuf_init(&s->buf, 1 << 20);
  mig_writer_init(w, staging, sizeof staging, mig_membuf_write, &s->buf);
  mig_writer_be32(w, MIG_FILE_MAGIC);
  mig_writer_be32(w, MIG_FILE_VERSION);
}

/* A FULL section's header, instance 0; returns the offset of its be32 version. */
static uint64_t dc_full(struct mig_writer *w, uint32_t section_id, const char *idstr,
                        uint32_t version)
{
  mig_writer_u8(w, 0x04);
  mig_writer_be32(w, section_id);
  mig_writer_counted_string(w, idstr);
  mig_writer_be32(w, 0);
  uint64_t at = mig_writer_offset(w);
  mig_writer_be32(w, version);
  return at;
}

/* EOF, then the trailer (s->trailer is its 0x06). */
static void dc_end(struct dc_stream *s, struct mig_writer *w, const char *trailer)
{
  mig_writer_u8(w, 0x00);
  s->trailer = mig_writer_offset(w);
  mig_writer_u8(w, 0x06);
  mig_writer_be32(w, (uint32_t)strlen(trailer));
  mig_writer_bytes(w, trailer, strlen(trailer));
  ck_assert_int_eq(mig_writer_flush(w), MIG_OK);
}

static void dc_build(struct dc_stream *s, bool with_late)
{
  struct mig_writer w;
  dc_begin(s, &w);
  mig_writer_u8(&w, 0x07);
  mig_writer_be32(&w, (uint32_t)strlen(DC_MACHINE));
  mig_writer_bytes(&w, DC_MACHINE, strlen(DC_MACHINE));
  s->version = dc_full(&w, 3, DC_IDSTR, 2);
  mig_writer_be32(&w, 0x11223344);                        /* a */
  if (with_late) mig_writer_be16(&w, 0x5566);             /* late (from version 2) */
  mig_writer_u8(&w, 0x77);                                /* inner.c */
  s->inner_marker = mig_writer_offset(&w);
  dc_subsection(&w, "inner/x", 1);
  mig_writer_u8(&w, 0x88);                                /* inner/x.d */
  s->sub_marker = mig_writer_offset(&w);
  s->sub_name = s->sub_marker + 2;
  dc_subsection(&w, "dev/sub", 1);
  s->sub_version = mig_writer_offset(&w) - 4;
  mig_writer_be16(&w, 0x99aa);                            /* dev/sub.b */
  s->footer = mig_writer_offset(&w);
  mig_writer_u8(&w, 0x7e);
  mig_writer_be32(&w, 3);
  dc_end(s, &w, dc_trailer);
}

/* The verdict on s: with the dump and the machine type when known, else alone. */
static enum mig_err dc_check(const struct dc_stream *s, bool known, const char *machine,
                             struct mig_destcheck_report *report, struct mig_error *error)
{
  struct mig_vmsd_file *dump = NULL;
  struct mig_vmsd_error dump_error;
  ck_assert_int_eq(mig_vmsd_file_parse((const uint8_t *)dc_dump, strlen(dc_dump), &dump,
                                       &dump_error), MIG_VMSD_OK);
  struct mig_destcheck_options options = {.machine_type = machine,
                                          .dump = known ? dump : NULL};
  struct mig_inspect inspect;
  enum mig_err code = mig_destcheck_walk(s->buf.bytes, s->buf.count, &options, NULL, NULL,
                                         &inspect, report, error);
  mig_inspect_deinit(&inspect);
  mig_vmsd_file_free(dump);
  return code;
}

static enum mig_err dc_verdict(const struct dc_stream *s, bool known)
{
  struct mig_destcheck_report report;
  struct mig_error error;
  return dc_check(s, known, known ? DC_MACHINE : NULL, &report, &error);
}

/* Removes bytes [at, at + count) of the stream (the trailer's framing stays intact). */
static void dc_cut(struct dc_stream *s, uint64_t at, uint64_t count)
{
  memmove(s->buf.bytes + at, s->buf.bytes + at + count, s->buf.count - at - count);
  s->buf.count -= count;
}

/* The offset of the first occurrence of text in the stream (it must be there). */
static uint64_t dc_find(const struct dc_stream *s, const char *text)
{
  size_t length = strlen(text);
  uint64_t at = 0;
  while (at + length <= s->buf.count && memcmp(s->buf.bytes + at, text, length) != 0) at++;
  ck_assert_uint_le(at + length, s->buf.count);
  return at;
}

START_TEST(mig_destcheck_machine_types)
{
  /*
   * Which machine types send a configuration section: QEMU's hw_compat_2_3 turns it off
   * (QEMU 7.2 itself: pc-i440fx-2.8 and pc-q35-2.4 send it, harness/qemu_matrix.py).
   */
  ck_assert(!mig_destcheck_sends_configuration("pc-i440fx-1.4"));
  ck_assert(!mig_destcheck_sends_configuration("pc-i440fx-2.3"));
  ck_assert(mig_destcheck_sends_configuration("pc-i440fx-2.4"));
  ck_assert(mig_destcheck_sends_configuration("pc-i440fx-2.8"));
  ck_assert(mig_destcheck_sends_configuration("pc-q35-2.4"));
  ck_assert(mig_destcheck_sends_configuration("pc-i440fx-2.9"));
  ck_assert(mig_destcheck_sends_configuration("pc-i440fx-2.12"));
  ck_assert(mig_destcheck_sends_configuration("pc-q35-7.2"));
  ck_assert(mig_destcheck_sends_configuration("microvm"));
}
END_TEST

START_TEST(mig_destcheck_valid_stream_accepted)
{
  /* The hand-built stream passes with and without the destination, with no warning. */
  struct dc_stream s;
  dc_build(&s, true);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_OK);
  ck_assert_uint_eq(report.warning_count, 0);
  enum mig_err code = dc_check(&s, false, NULL, &report, &error);
  ck_assert_msg(code == MIG_OK, "%s at 0x%" PRIx64 ": %s", error.path, error.offset,
                error.detail);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_machine_mismatch_refused)
{
  /* --machine names another type: refused at the configuration's name, as QEMU does. */
  struct dc_stream s;
  dc_build(&s, true);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, "pc-q35-7.2", &report, &error), MIG_ERR_MACHINE_MISMATCH);
  ck_assert_uint_eq(error.offset, 13);
  ck_assert_int_eq(dc_check(&s, false, "pc-i440fx-2.3", &report, &error),
                   MIG_ERR_BAD_SECTION_TYPE);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_version_out_of_range_refused)
{
  /* Version 3: above the dump's range; and unequal to the trailer's without the dump. */
  struct dc_stream s;
  dc_build(&s, true);
  s.buf.bytes[s.version + 3] = 3;
  ck_assert_int_eq(dc_verdict(&s, true), MIG_ERR_SECTION_VERSION);
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_SECTION_VERSION);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_lower_version_reads_fewer_fields)
{
  /* Version 1 is in range, but QEMU then does not read "late": the bytes are out of step. */
  struct dc_stream s;
  dc_build(&s, true);
  s.buf.bytes[s.version + 3] = 1;
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_ERR_FOOTER);
  mig_membuf_deinit(&s.buf);
  /* Written at version 1 without "late", the trailer (version 2) is only a warning. */
  dc_build(&s, false);
  s.buf.bytes[s.version + 3] = 1;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_OK);
  ck_assert_uint_eq(report.warning_count, 1);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_subsection_marker_refused)
{
  /* A broken 0x05 (the section's or the nested struct's): QEMU's "Missing section footer". */
  for (int which = 0; which < 2; which++) {
    for (int known = 0; known < 2; known++) {
      struct dc_stream s;
      dc_build(&s, true);
      s.buf.bytes[which == 0 ? s.sub_marker : s.inner_marker] = 0x02;
      ck_assert_int_eq(dc_verdict(&s, known), MIG_ERR_FOOTER);
      mig_membuf_deinit(&s.buf);
    }
  }
}
END_TEST

START_TEST(mig_destcheck_unknown_subsection_refused)
{
  /* "dev/sux": the right prefix, a name the destination lacks: QEMU's -ENOENT. */
  struct dc_stream s;
  dc_build(&s, true);
  s.buf.bytes[s.sub_name + strlen("dev/su")] = 'x';
  ck_assert_int_eq(dc_verdict(&s, true), MIG_ERR_SUBSECTION);
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_SUBSECTION);
  mig_membuf_deinit(&s.buf);
  /* Its version 2 is above the dump's range. */
  dc_build(&s, true);
  s.buf.bytes[s.sub_version + 3] = 2;
  ck_assert_int_eq(dc_verdict(&s, true), MIG_ERR_SECTION_VERSION);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_subsection_dropped_accepted_with_destination)
{
  /* Without "dev/sub" (subsections are optional) QEMU loads; the trailer alone cannot size it. */
  struct dc_stream s;
  dc_build(&s, true);
  dc_cut(&s, s.sub_marker, s.footer - s.sub_marker);
  ck_assert_int_eq(dc_verdict(&s, true), MIG_OK);
  ck_assert_int_ne(dc_verdict(&s, false), MIG_OK);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_damaged_trailer_is_a_warning)
{
  /* A trailer that is not JSON: a warning with the destination, a refusal without. */
  struct dc_stream s;
  dc_build(&s, true);
  s.buf.bytes[s.trailer + 5] = '[';
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_OK);
  ck_assert_uint_eq(report.warning_count, 1);
  ck_assert_ptr_nonnull(strstr(report.warnings[0].text, "vmdesc"));
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_VMDESC);
  /* No trailer at all, bytes after EOF: QEMU warns and loads. */
  s.buf.count = s.trailer + 3;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_OK);
  ck_assert_uint_eq(report.warning_count, 1);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_unknown_vmsd_refused)
{
  /* An idstr whose VMSD the destination lacks ("…/dex"): unknown section. */
  struct dc_stream s;
  dc_build(&s, true);
  size_t length = strlen(DC_IDSTR);
  uint64_t at = dc_find(&s, DC_IDSTR);
  ck_assert_uint_lt(at + length, s.buf.count);
  s.buf.bytes[at + length - 1] = 'x';
  ck_assert_int_eq(dc_verdict(&s, true), MIG_ERR_UNKNOWN_SECTION);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_instances)
{
  /* Instance 1, which the stream's description does not list: refused with the dump. */
  struct dc_stream s;
  dc_build(&s, true);
  s.buf.bytes[s.version - 1] = 1;
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_ERR_UNKNOWN_SECTION);
  ck_assert_ptr_nonnull(strstr(error.detail, "instance 1"));
  ck_assert_uint_eq(error.offset, s.version - 4 - strlen(DC_IDSTR) - 1 - 4 - 1);  /* the 0x04 */
  mig_membuf_deinit(&s.buf);
  /* Instance 0xffffffff (an alias id) stands for any instance of that name: accepted. */
  dc_build(&s, true);
  memset(s.buf.bytes + s.version - 4, 0xff, 4);
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_OK);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_subsection_outside_the_trailer)
{
  /*
   * "dev/zzz": the destination knows it, the stream's description does not (it lists
   * "dev/sub"): QEMU loads it; the rest of the section cannot be checked: a warning.
   */
  struct dc_stream s;
  dc_build(&s, true);
  memcpy(s.buf.bytes + s.sub_name, "dev/zzz", 7);
  struct mig_destcheck_report report;
  struct mig_error error;
  enum mig_err code = dc_check(&s, true, DC_MACHINE, &report, &error);
  ck_assert_msg(code == MIG_OK, "%s: %s", error.path, error.detail);
  ck_assert_uint_ge(report.warning_count, 1);
  ck_assert_ptr_nonnull(strstr(report.warnings[0].text, "dev/zzz"));
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_field_runs_into_footer)
{
  /* dev/sub's 2-byte "b" cut to nothing: it would read the footer. */
  struct dc_stream s;
  dc_build(&s, true);
  dc_cut(&s, s.footer - 2, 2);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_ERR_FOOTER);
  ck_assert_uint_eq(error.offset, s.footer - 2);
  ck_assert_ptr_nonnull(strstr(error.path, "/footer"));
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_unusable_trailer_size_not_checked)
{
  /* A trailer field size of -4 (same length as " 4"): nothing to size by, no refusal. */
  struct dc_stream s;
  dc_build(&s, true);
  uint64_t at = dc_find(&s, "\"size\": 4}");
  memcpy(s.buf.bytes + at, "\"size\":-4}", 10);
  struct mig_destcheck_report report;
  struct mig_error error;
  enum mig_err code = dc_check(&s, true, DC_MACHINE, &report, &error);
  ck_assert_msg(code == MIG_OK, "%s: %s", error.path, error.detail);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_configuration_presence)
{
  /* No configuration section where the machine type sends one: QEMU 7.2 refuses. */
  struct dc_stream s;
  dc_build(&s, true);
  dc_cut(&s, 8, 1 + 4 + strlen(DC_MACHINE));
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, DC_MACHINE, &report, &error), MIG_ERR_NO_CONFIGURATION);
  ck_assert_uint_eq(error.offset, 8);
  mig_membuf_deinit(&s.buf);
}
END_TEST

static enum mig_err dc_count_visit(void *context, const struct mig_inspect_event *event,
                                   struct mig_error *error)
{
  (void)error;
  uint32_t *devices = context;
  if (event->kind == MIG_INSPECT_DEVICE) (*devices)++;
  return MIG_OK;
}

START_TEST(mig_destcheck_inner_visitor_sees_the_walk)
{
  /* The caller's visitor runs after each check: it sees the one device section. */
  struct dc_stream s;
  dc_build(&s, true);
  uint32_t devices = 0;
  struct mig_inspect_visitor inner = {.visit = dc_count_visit, .context = &devices};
  struct mig_destcheck_options options = {.machine_type = DC_MACHINE};
  struct mig_destcheck_report report;
  struct mig_error error;
  struct mig_inspect inspect;
  ck_assert_int_eq(mig_destcheck_walk(s.buf.bytes, s.buf.count, &options, NULL, &inner,
                                      &inspect, &report, &error), MIG_OK);
  mig_inspect_deinit(&inspect);
  ck_assert_uint_eq(devices, 1);
  mig_membuf_deinit(&s.buf);
}
END_TEST

/*
 * A stream as pc-i440fx-2.3 writes it: no configuration, no footers; FULL
 * "0000:00:02.0/dev" (id 3, as dc_build's) then "timer" (id 4: outside the
 * dump, QEMU 7.2 reads its version 1 without cpu_clock_offset), EOF and a
 * trailer describing both.  *timer_version is the offset of timer's version.
 */
static const char dc_legacy_trailer[] =
    "{\"page_size\": 4096, \"devices\": [{\"name\": \"" DC_IDSTR "\", \"instance_id\": 0,"
    " \"vmsd_name\": \"dev\", \"version\": 2, \"fields\": ["
    "  {\"name\": \"a\", \"type\": \"uint32\", \"size\": 4},"
    "  {\"name\": \"late\", \"type\": \"uint16\", \"size\": 2},"
    "  {\"name\": \"inner\", \"type\": \"struct\", \"size\": 1, \"struct\": {"
    "   \"vmsd_name\": \"inner\", \"version\": 1,"
    "   \"fields\": [{\"name\": \"c\", \"type\": \"uint8\", \"size\": 1}]}}]},"
    " {\"name\": \"timer\", \"instance_id\": 0, \"vmsd_name\": \"timer\", \"version\": 2,"
    "  \"fields\": [{\"name\": \"cpu_ticks_offset\", \"type\": \"int64\", \"size\": 8},"
    "   {\"name\": \"unused\", \"type\": \"unused_buffer\", \"size\": 8},"
    "   {\"name\": \"cpu_clock_offset\", \"type\": \"int64\", \"size\": 8}]}]}";

static void dc_build_legacy(struct dc_stream *s, uint64_t *timer_version)
{
  struct mig_writer w;
  dc_begin(s, &w);
  s->version = dc_full(&w, 3, DC_IDSTR, 2);
  mig_writer_be32(&w, 0x11223344);                        /* a */
  mig_writer_be16(&w, 0x5566);                            /* late */
  mig_writer_u8(&w, 0x77);                                /* inner.c */
  *timer_version = dc_full(&w, 4, "timer", 2);
  mig_writer_be64(&w, 0x0102030405060708);                /* cpu_ticks_offset */
  mig_writer_be64(&w, 0);                                 /* unused */
  mig_writer_be64(&w, 1);                                 /* cpu_clock_offset: 00 first */
  dc_end(s, &w, dc_legacy_trailer);
}

/* True when a warning of report holds text. */
static bool dc_warned(const struct mig_destcheck_report *report, const char *text)
{
  for (uint32_t i = 0; i < report->warning_count; i++) {
    if (strstr(report->warnings[i].text, text) != NULL) return true;
  }
  return false;
}

START_TEST(mig_destcheck_legacy_read_as_the_destination_reads)
{
  /*
   * Without footers QEMU reads each section with its own descriptions and the
   * byte after for the next record: timer at version 1 is 16 bytes, and the
   * 0x00 starting cpu_clock_offset is an EOF that ends the load (accepted,
   * the rest a warning).  Alone, the trailer's version 2 is the rule.
   */
  struct dc_stream s;
  uint64_t timer_version;
  dc_build_legacy(&s, &timer_version);
  struct mig_destcheck_report report;
  struct mig_error error;
  ck_assert_int_eq(dc_check(&s, true, "pc-i440fx-2.3", &report, &error), MIG_OK);
  ck_assert_uint_eq(report.warning_count, 0);
  ck_assert_int_eq(dc_verdict(&s, false), MIG_OK);
  s.buf.bytes[timer_version + 3] = 1;
  ck_assert_int_eq(dc_check(&s, true, "pc-i440fx-2.3", &report, &error), MIG_OK);
  ck_assert_msg(dc_warned(&report, "bytes after EOF are not a trailer"), "%u warnings",
                report.warning_count);
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_SECTION_VERSION);
  /* A first byte other than 0x00 there is no record QEMU knows: refused. */
  s.buf.bytes[timer_version + 4 + 16] = 0x55;
  ck_assert_int_ne(dc_check(&s, true, "pc-i440fx-2.3", &report, &error), MIG_OK);
  /* Version 0 is below timer's range [1, 2]. */
  s.buf.bytes[timer_version + 4 + 16] = 0x00;
  s.buf.bytes[timer_version + 3] = 0;
  ck_assert_int_eq(dc_check(&s, true, "pc-i440fx-2.3", &report, &error),
                   MIG_ERR_SECTION_VERSION);
  mig_membuf_deinit(&s.buf);
}
END_TEST

START_TEST(mig_destcheck_legacy_damaged_trailer_sized_by_headers)
{
  /*
   * No footers and a trailer that is not JSON: nothing gives the fields'
   * sizes, so a section ends at the next plausible section header, with a
   * warning saying so; alone it is refused as before.
   */
  struct dc_stream s;
  uint64_t timer_version;
  dc_build_legacy(&s, &timer_version);
  s.buf.bytes[s.trailer + 5] = '[';
  struct mig_destcheck_report report;
  struct mig_error error;
  enum mig_err code = dc_check(&s, true, "pc-i440fx-2.3", &report, &error);
  ck_assert_msg(code == MIG_OK, "0x%" PRIx64 " %s: %s", error.offset, error.path, error.detail);
  ck_assert(dc_warned(&report, "no section footers and no usable VM description"));
  ck_assert(dc_warned(&report, "vmdesc"));
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_VMDESC);
  /* No trailer at all (pc-i440fx-2.0 and 2.2 send none): the same. */
  s.buf.count = s.trailer;
  ck_assert_int_eq(dc_check(&s, true, "pc-i440fx-2.3", &report, &error), MIG_OK);
  ck_assert(dc_warned(&report, "no section footers and no usable VM description"));
  ck_assert_int_eq(dc_verdict(&s, false), MIG_ERR_VMDESC);
  /* The next header names a section the destination does not load: refused, as QEMU does. */
  mig_membuf_deinit(&s.buf);
  dc_build_legacy(&s, &timer_version);
  uint64_t timer_name = dc_find(&s, "timer");
  memcpy(s.buf.bytes + timer_name, "tim3r", 5);
  s.buf.bytes[s.trailer + 5] = '[';
  ck_assert_int_eq(dc_check(&s, true, "pc-i440fx-2.3", &report, &error),
                   MIG_ERR_UNKNOWN_SECTION);
  mig_membuf_deinit(&s.buf);
}
END_TEST

Suite *mig_destcheck_suite(void)
{
  Suite *suite = suite_create("mig_destcheck");
  TCase *core = tcase_create("core");
  tcase_add_test(core, mig_destcheck_machine_types);
  tcase_add_test(core, mig_destcheck_valid_stream_accepted);
  tcase_add_test(core, mig_destcheck_machine_mismatch_refused);
  tcase_add_test(core, mig_destcheck_version_out_of_range_refused);
  tcase_add_test(core, mig_destcheck_lower_version_reads_fewer_fields);
  tcase_add_test(core, mig_destcheck_subsection_marker_refused);
  tcase_add_test(core, mig_destcheck_unknown_subsection_refused);
  tcase_add_test(core, mig_destcheck_subsection_dropped_accepted_with_destination);
  tcase_add_test(core, mig_destcheck_damaged_trailer_is_a_warning);
  tcase_add_test(core, mig_destcheck_unknown_vmsd_refused);
  tcase_add_test(core, mig_destcheck_instances);
  tcase_add_test(core, mig_destcheck_subsection_outside_the_trailer);
  tcase_add_test(core, mig_destcheck_field_runs_into_footer);
  tcase_add_test(core, mig_destcheck_unusable_trailer_size_not_checked);
  tcase_add_test(core, mig_destcheck_configuration_presence);
  tcase_add_test(core, mig_destcheck_inner_visitor_sees_the_walk);
  tcase_add_test(core, mig_destcheck_legacy_read_as_the_destination_reads);
  tcase_add_test(core, mig_destcheck_legacy_damaged_trailer_sized_by_headers);
  suite_add_tcase(suite, core);
  return suite;
}
