/*
 * mig_vmsd_diff.c: compares two parsed -dump-vmstate files as one migration
 * in each direction (mig_vmsd_diff.h; docs/compat.md says what each code
 * means and why).
 *
 * The model is the wire, as QEMU 7.2's vmstate.c writes and reads it.  A
 * section goes out at the source's version_id V; the destination refuses V
 * above its version_id or below its minimum_version_id; otherwise the source
 * writes its fields with version_id <= V and the destination reads its own
 * fields with version_id <= V, in order, with no names or sizes on the wire.
 * A nested struct is written at the source's own version and read at the
 * destination's (struct versions never travel).  Subsections carry their
 * name and version and are looked up by name, so only the ones the source
 * may send matter.  _TEST fields (field_exists) depend on predicates the dump
 * cannot evaluate: two with the same name are assumed to agree.
 *
 * QEMU's checker walks the two field lists in step and stops at the first
 * name that differs.  This walk realigns instead: a field the other side
 * lacks is one finding (FIELD_NOT_READ or FIELD_NOT_SENT), a field replaced
 * by an "unused" placeholder of the same byte count is a note, fields moved
 * into a substruct whose first field matches are compared inside it (as
 * QEMU's script does), and a same-size rename between agreeing neighbours
 * is a warning.  Realignment looks at most MIG_VMSD_LOOKAHEAD_MAX fields
 * ahead and opens at most MIG_VMSD_SPLICES_MAX substructs per list, so work
 * is linear in the size of the dumps.
 */
#include "sim_base.h"

#include "mig_vmsd_int.h"

struct diff {
  struct mig_vmsd_report *report;
  enum mig_vmsd_direction direction;  /* this pass: FORWARD or BACKWARD */
  const struct mig_vmsd_file *source; /* OLD forward, NEW backward */
  const struct mig_vmsd_file *destination;
  const char *section;                /* key of the section being compared */
  char path[MIG_VMSD_PATH_BYTES_MAX]; /* section/[subsection|struct field/]... */
  size_t path_length;
};

/* A field list as one side puts it on the wire at one version. */
struct seq {
  const struct mig_vmsd_field **items;
  uint32_t count;
  uint32_t splices_count;             /* substructs opened, <= MIG_VMSD_SPLICES_MAX */
};

static size_t path_push(struct diff *d, const char *segment)
{
  size_t saved = d->path_length;
  int written = snprintf(d->path + saved, sizeof(d->path) - saved, "%s%s",
                         saved > 0 ? "/" : "", segment);
  d->path_length = SIM_MIN(saved + (size_t)SIM_MAX(written, 0), sizeof(d->path) - 1);
  return saved;
}

static void path_pop(struct diff *d, size_t saved)
{
  SIM_ASSERT(saved <= d->path_length);
  d->path_length = saved;
  d->path[saved] = '\0';
}

/*
 * Reports code at the current path (plus "/field" when field is not NULL).
 * values, when given, are {source's, destination's}; they are stored as
 * OLD's and NEW's.
 */
static void add(struct diff *d, enum mig_vmsd_code code, const char *desc_name,
                const char *field, const int64_t *values, const char *format, ...)
{
  struct mig_vmsd_finding finding;
  memset(&finding, 0, sizeof(finding));
  finding.code = code;
  finding.direction = mig_vmsd__code_symmetric(code) ? MIG_VMSD_BOTH : d->direction;
  snprintf(finding.section, sizeof(finding.section), "%s", d->section);
  snprintf(finding.description, sizeof(finding.description), "%s",
           desc_name != NULL ? desc_name : "");
  snprintf(finding.field, sizeof(finding.field), "%s", field != NULL ? field : "");
  int written = snprintf(finding.path, sizeof(finding.path), "%s%s%s", d->path,
                         field != NULL ? "/" : "", field != NULL ? field : "");
  SIM_ASSERT(written >= 0); /* a path past the bound is cut, still NUL-terminated */
  va_list args;
  va_start(args, format);
  vsnprintf(finding.message, sizeof(finding.message), format, args);
  va_end(args);
  if (values != NULL) {
    bool forward = d->direction == MIG_VMSD_FORWARD;
    finding.has_values = true;
    finding.old_value = forward ? values[0] : values[1];
    finding.new_value = forward ? values[1] : values[0];
  }
  mig_vmsd__report_add(d->report, &finding);
}

static void seq_deinit(struct seq *seq)
{
  free(seq->items);
  seq->items = NULL;
  seq->count = 0;
}

static bool field_sent(const struct mig_vmsd_field *field, int32_t version_id)
{
  return field->field_exists || field->version_id <= version_id;
}

/* The fields of desc present at version_id, in order. */
static void seq_init(struct seq *seq, const struct mig_vmsd_desc *desc, int32_t version_id)
{
  memset(seq, 0, sizeof(*seq));
  if (desc->field_count == 0) return;
  seq->items = calloc(desc->field_count, sizeof(*seq->items));
  SIM_ASSERT(seq->items != NULL);
  for (uint32_t i = 0; i < desc->field_count; i++) {
    if (field_sent(&desc->fields[i], version_id)) seq->items[seq->count++] = &desc->fields[i];
  }
}

/* Replaces item index (a struct field) by its description's fields, at its version. */
static void seq_splice(struct seq *seq, uint32_t index)
{
  const struct mig_vmsd_desc *nested = seq->items[index]->desc;
  SIM_ASSERT(nested != NULL && index < seq->count);
  SIM_ASSERT(seq->splices_count < MIG_VMSD_SPLICES_MAX);
  struct seq inner;
  seq_init(&inner, nested, nested->version_id);
  uint32_t count = seq->count - 1 + inner.count;
  const struct mig_vmsd_field **items = calloc(SIM_MAX(count, 1u), sizeof(*items));
  SIM_ASSERT(items != NULL);
  memcpy(items, seq->items, index * sizeof(*items));
  if (inner.count > 0) memcpy(items + index, inner.items, inner.count * sizeof(*items));
  memcpy(items + index + inner.count, seq->items + index + 1,
         (seq->count - index - 1) * sizeof(*items));
  free(seq->items);
  seq->items = items;
  seq->count = count;
  seq->splices_count++;
  seq_deinit(&inner);
}

/* Index of the first field named name in [from, from + lookahead), or -1. */
static int64_t seq_find(const struct seq *seq, uint32_t from, const char *name)
{
  uint32_t end = (uint32_t)SIM_MIN((uint64_t)seq->count, (uint64_t)from + MIG_VMSD_LOOKAHEAD_MAX);
  for (uint32_t i = from; i < end; i++) {
    if (strcmp(seq->items[i]->name, name) == 0) return i;
  }
  return -1;
}

static bool is_unused(const struct mig_vmsd_field *field)
{
  return field->desc == NULL && strcmp(field->name, "unused") == 0;
}

/* QEMU's exists_in_substruct: a struct field whose first field is named name. */
static bool can_splice(const struct seq *seq, uint32_t index, const char *name)
{
  const struct mig_vmsd_field *field = seq->items[index];
  return field->desc != NULL && field->desc->field_count > 0 &&
         strcmp(field->desc->fields[0].name, name) == 0 &&
         seq->splices_count < MIG_VMSD_SPLICES_MAX;
}

static void compare_desc(struct diff *d, const struct mig_vmsd_desc *source,
                         const struct mig_vmsd_desc *destination, int32_t source_version,
                         int32_t destination_version);

static void compare_struct(struct diff *d, const struct mig_vmsd_field *source,
                           const struct mig_vmsd_field *destination, const char *desc_name)
{
  const struct mig_vmsd_desc *s = source->desc;
  const struct mig_vmsd_desc *t = destination->desc;
  if (strcmp(s->name, t->name) != 0) {
    add(d, MIG_VMSD_STRUCT_RENAMED, desc_name, source->name, NULL,
        "field \"%s\": description \"%s\" is \"%s\" on the destination", source->name,
        s->name, t->name);
  }
  if (s->version_id != t->version_id) {
    int64_t values[2] = {s->version_id, t->version_id};
    add(d, MIG_VMSD_STRUCT_VERSION, desc_name, source->name, values,
        "field \"%s\": description \"%s\" version %" PRId32 ", destination's %" PRId32
        " (written at the source's, read at the destination's)",
        source->name, s->name, s->version_id, t->version_id);
  }
  size_t saved = path_push(d, source->name);
  compare_desc(d, s, t, s->version_id, t->version_id);
  path_pop(d, saved);
}

/* Two fields of the same name, in step. */
static void pair(struct diff *d, const struct mig_vmsd_field *s, const struct mig_vmsd_field *t,
                 const char *desc_name)
{
  if ((s->desc == NULL) != (t->desc == NULL)) {
    add(d, MIG_VMSD_FIELD_KIND, desc_name, s->name, NULL,
        "field \"%s\" is a %s on the source, a %s on the destination", s->name,
        s->desc != NULL ? "struct" : "plain field", t->desc != NULL ? "struct" : "plain field");
    return;
  }
  if (s->field_exists != t->field_exists) {
    add(d, MIG_VMSD_TEST_FIELD_CHANGED, desc_name, s->name, NULL,
        "field \"%s\" is %sa _TEST field on the source, %sone on the destination: compatible "
        "only while the predicate is true", s->name, s->field_exists ? "" : "not ",
        t->field_exists ? "" : "not ");
  }
  if (s->num >= 0 && t->num >= 0 && s->num != t->num) {
    int64_t values[2] = {s->num, t->num};
    add(d, MIG_VMSD_FIELD_COUNT, desc_name, s->name, values,
        "field \"%s\" has %" PRId64 " elements, %" PRId64 " on the destination", s->name,
        s->num, t->num);
  }
  if (s->desc != NULL) {
    compare_struct(d, s, t, desc_name);
    return;
  }
  if (s->size != t->size) {
    int64_t values[2] = {(int64_t)s->size, (int64_t)t->size};
    add(d, MIG_VMSD_FIELD_SIZE, desc_name, s->name, values,
        "field \"%s\" size mismatch: %" PRIu64 ", %" PRIu64, s->name, s->size, t->size);
  }
}

/* A source field the destination never reads. */
static void not_read(struct diff *d, const struct mig_vmsd_field *s, const char *desc_name,
                     bool at_end)
{
  if (s->field_exists) {
    add(d, MIG_VMSD_TEST_FIELD_UNPAIRED, desc_name, s->name, NULL,
        "_TEST field \"%s\": the source sends it when its predicate holds, the destination "
        "never reads it", s->name);
  } else if (at_end) {
    add(d, MIG_VMSD_FIELD_NOT_READ, desc_name, s->name, NULL,
        "expected field \"%s\" (%" PRIu64 " bytes), while the destination has no further "
        "fields", s->name, s->size);
  } else {
    add(d, MIG_VMSD_FIELD_NOT_READ, desc_name, s->name, NULL,
        "the source sends field \"%s\" (%" PRIu64 " bytes) that the destination does not read",
        s->name, s->size);
  }
}

/* A destination field the source never sends. */
static void not_sent(struct diff *d, const struct mig_vmsd_field *t, const char *desc_name,
                     int32_t version_id)
{
  if (t->field_exists) {
    add(d, MIG_VMSD_TEST_FIELD_UNPAIRED, desc_name, t->name, NULL,
        "_TEST field \"%s\": the destination reads it when its predicate holds, the source "
        "never sends it", t->name);
    return;
  }
  add(d, MIG_VMSD_FIELD_NOT_SENT, desc_name, t->name, NULL,
      "the destination reads field \"%s\" (%" PRIu64 " bytes, version_id %" PRId32
      ") that the source does not send at version %" PRId32, t->name, t->size, t->version_id,
      version_id);
}

static uint64_t wire_bytes(const struct mig_vmsd_field *field)
{
  return field->num > 0 ? field->size * (uint64_t)field->num : field->size;
}

/*
 * At (*i, *j) one side is an "unused" placeholder (QEMU's VMSTATE_UNUSED):
 * the other side's plain fields from there must add up to its byte count, as
 * in QEMU's script.  Advances both lists; false when the bytes do not add up
 * (the lists are then out of step).
 */
static bool placeholder(struct diff *d, struct seq *source, uint32_t *i, struct seq *target,
                        uint32_t *j, const char *desc_name)
{
  const struct mig_vmsd_field *s = source->items[*i];
  const struct mig_vmsd_field *t = target->items[*j];
  if (is_unused(s) && is_unused(t) && s->size == t->size) {
    (*i)++, (*j)++;
    return true;
  }
  bool source_holds = is_unused(s) && (!is_unused(t) || s->size > t->size);
  struct seq *run = source_holds ? target : source;
  uint32_t *k = source_holds ? j : i;
  uint64_t bytes = source_holds ? s->size : t->size;
  uint64_t remaining = bytes;
  const char *real = NULL;
  while (remaining > 0 && *k < run->count) {
    const struct mig_vmsd_field *f = run->items[*k];
    if (f->desc != NULL || f->field_exists || wire_bytes(f) > remaining) break;
    if (real == NULL && !is_unused(f)) real = f->name;
    remaining -= wire_bytes(f);
    (*k)++;
  }
  if (remaining != 0) {
    add(d, MIG_VMSD_PLACEHOLDER_SIZE, desc_name, "unused", NULL,
        "an unused placeholder of %" PRIu64 " bytes on the %s stands for fields that do not "
        "add up to it (%" PRIu64 " bytes left over)", bytes,
        source_holds ? "source" : "destination", remaining);
    return false;
  }
  if (source_holds) (*i)++;
  else (*j)++;
  if (real != NULL) {
    add(d, MIG_VMSD_PLACEHOLDER, desc_name, real, NULL,
        "field \"%s\" and an unused placeholder of %" PRIu64 " bytes stand in each other's "
        "place: the wire is unchanged, a destination with the field loads zeros", real, bytes);
  }
  return true;
}

/* Same-size plain fields whose neighbours agree: a rename. */
static bool is_rename(const struct seq *source, uint32_t i, const struct seq *target,
                      uint32_t j)
{
  const struct mig_vmsd_field *s = source->items[i];
  const struct mig_vmsd_field *t = target->items[j];
  if (s->desc != NULL || t->desc != NULL || wire_bytes(s) != wire_bytes(t)) return false;
  if (s->field_exists != t->field_exists) return false;
  bool source_last = i + 1 == source->count;
  bool target_last = j + 1 == target->count;
  if (source_last || target_last) return source_last && target_last;
  return strcmp(source->items[i + 1]->name, target->items[j + 1]->name) == 0;
}

struct step {
  struct seq source;
  struct seq target;
  uint32_t i;                 /* next source field */
  uint32_t j;                 /* next destination field */
  int32_t source_version;     /* what the destination is told (for messages) */
  const char *desc_name;
};

/*
 * Resolves two fields of different names at (i, j).  False when the lists
 * cannot be realigned (FIELD_MISMATCH, as QEMU's "skipping rest").
 */
static bool realign(struct diff *d, struct step *w)
{
  const struct mig_vmsd_field *s = w->source.items[w->i];
  const struct mig_vmsd_field *t = w->target.items[w->j];
  if (is_unused(s) || is_unused(t)) {
    return placeholder(d, &w->source, &w->i, &w->target, &w->j, w->desc_name);
  }
  if (can_splice(&w->target, w->j, s->name)) {
    seq_splice(&w->target, w->j);
    return true;
  }
  if (can_splice(&w->source, w->i, t->name)) {
    seq_splice(&w->source, w->i);
    return true;
  }
  int64_t k = seq_find(&w->target, w->j + 1, s->name);
  int64_t m = seq_find(&w->source, w->i + 1, t->name);
  if (k < 0 && m < 0 && is_rename(&w->source, w->i, &w->target, w->j)) {
    add(d, MIG_VMSD_FIELD_RENAMED, w->desc_name, d->direction == MIG_VMSD_FORWARD ? s->name
                                                                                  : t->name,
        NULL, "field \"%s\" is \"%s\" on the destination (%" PRIu64 " bytes both)", s->name,
        t->name, wire_bytes(s));
    w->i++, w->j++;
    return true;
  }
  if (k >= 0 && (m < 0 || k - w->j <= m - w->i)) {
    for (; w->j < (uint32_t)k; w->j++) {
      not_sent(d, w->target.items[w->j], w->desc_name, w->source_version);
    }
    return true;
  }
  if (m >= 0) {
    for (; w->i < (uint32_t)m; w->i++) not_read(d, w->source.items[w->i], w->desc_name, false);
    return true;
  }
  add(d, MIG_VMSD_FIELD_MISMATCH, w->desc_name, s->name, NULL,
      "expected field \"%s\", got \"%s\"; skipping rest", s->name, t->name);
  return false;
}

static void compare_fields(struct diff *d, const struct mig_vmsd_desc *source,
                           const struct mig_vmsd_desc *destination, int32_t source_version,
                           int32_t destination_version)
{
  struct step w = {.source_version = source_version, .desc_name = source->name};
  seq_init(&w.source, source, source_version);
  seq_init(&w.target, destination, destination_version);
  for (;;) {
    if (w.i == w.source.count) {
      for (; w.j < w.target.count; w.j++) {
        not_sent(d, w.target.items[w.j], w.desc_name, source_version);
      }
      break;
    }
    if (w.j == w.target.count) {
      for (; w.i < w.source.count; w.i++) not_read(d, w.source.items[w.i], w.desc_name, true);
      break;
    }
    const struct mig_vmsd_field *s = w.source.items[w.i];
    const struct mig_vmsd_field *t = w.target.items[w.j];
    if (strcmp(s->name, t->name) == 0) {
      pair(d, s, t, w.desc_name);
      w.i++, w.j++;
      continue;
    }
    if (s->field_exists && seq_find(&w.target, w.j, s->name) < 0) {
      not_read(d, s, w.desc_name, false);
      w.i++;
      continue;
    }
    if (t->field_exists && seq_find(&w.source, w.i, t->name) < 0) {
      not_sent(d, t, w.desc_name, source_version);
      w.j++;
      continue;
    }
    if (!realign(d, &w)) break;
  }
  seq_deinit(&w.source);
  seq_deinit(&w.target);
}

static const struct mig_vmsd_desc *subsection_find(const struct mig_vmsd_desc *desc,
                                                   const char *name)
{
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    if (strcmp(desc->subsections[i].name, name) == 0) return &desc->subsections[i];
  }
  return NULL;
}

/* A subsection the destination does not know: how bad depends on when it is sent. */
static void subsection_missing(struct diff *d, const struct mig_vmsd_desc *parent,
                               const struct mig_vmsd_desc *sub)
{
  const char *machine = d->source->machine != NULL ? d->source->machine : "?";
  if (sub->needed == MIG_VMSD_NEEDED_ALWAYS) {
    add(d, MIG_VMSD_SUBSECTION_NO_NEEDED, parent->name, NULL, NULL,
        "subsection \"%s\" has no needed predicate: the source always sends it, the "
        "destination does not know it", sub->name);
  } else if (sub->needed == MIG_VMSD_NEEDED_PREDICATE && sub->sent == 1) {
    add(d, MIG_VMSD_SUBSECTION_ALWAYS_SENT, parent->name, NULL, NULL,
        "subsection \"%s\" is sent by a freshly started guest of machine type \"%s\" (its "
        "predicate is true there) and the destination does not know it: a compat property "
        "for \"%s\" is missing", sub->name, machine, machine);
  } else if (sub->needed == MIG_VMSD_NEEDED_PREDICATE) {
    add(d, MIG_VMSD_SUBSECTION_CONDITIONAL, parent->name, NULL, NULL,
        "subsection \"%s\" is not known to the destination: migration fails whenever its "
        "predicate holds on the source", sub->name);
  } else {
    add(d, MIG_VMSD_SUBSECTION_MISSING, parent->name, NULL, NULL,
        "subsection \"%s\" not found on the destination (the dump does not say when it is "
        "sent)", sub->name);
  }
}

/* QEMU's version check on a description that travels with its version. */
static bool version_ok(struct diff *d, const struct mig_vmsd_desc *source,
                       const struct mig_vmsd_desc *destination)
{
  int32_t version = source->version_id;
  if (version > destination->version_id) {
    int64_t values[2] = {version, destination->version_id};
    add(d, MIG_VMSD_VERSION_TOO_NEW, source->name, NULL, values,
        "description \"%s\": version error: %" PRId32 " > %" PRId32, source->name, version,
        destination->version_id);
    return false;
  }
  if (version < destination->minimum_version_id) {
    int64_t values[2] = {version, destination->minimum_version_id};
    add(d, MIG_VMSD_VERSION_TOO_OLD, source->name, NULL, values,
        "description \"%s\": minimum version error: %" PRId32 " < %" PRId32, source->name,
        version, destination->minimum_version_id);
    return false;
  }
  return true;
}

static void compare_subsections(struct diff *d, const struct mig_vmsd_desc *source,
                                const struct mig_vmsd_desc *destination)
{
  for (uint32_t i = 0; i < source->subsection_count; i++) {
    const struct mig_vmsd_desc *sub = &source->subsections[i];
    const struct mig_vmsd_desc *match = subsection_find(destination, sub->name);
    size_t saved = path_push(d, sub->name);
    if (match == NULL) {
      subsection_missing(d, source, sub);
      path_pop(d, saved);
      continue;
    }
    if (version_ok(d, sub, match)) {
      compare_desc(d, sub, match, sub->version_id, sub->version_id);
    }
    path_pop(d, saved);
  }
}

static void compare_desc(struct diff *d, const struct mig_vmsd_desc *source,
                         const struct mig_vmsd_desc *destination, int32_t source_version,
                         int32_t destination_version)
{
  compare_fields(d, source, destination, source_version, destination_version);
  compare_subsections(d, source, destination);
}

static void compare_section(struct diff *d, const struct mig_vmsd_section *source,
                            const struct mig_vmsd_section *destination)
{
  if (source->has_priority && destination->has_priority &&
      source->priority != destination->priority) {
    int64_t values[2] = {source->priority, destination->priority};
    add(d, MIG_VMSD_PRIORITY_CHANGED, NULL, NULL, values,
        "priority %" PRId64 " on the source, %" PRId64 " on the destination: sections arrive "
        "in the source's order", source->priority, destination->priority);
  }
  if (source->desc == NULL) return;
  if (destination->desc == NULL) {
    add(d, MIG_VMSD_DESCRIPTION_MISSING, source->desc->name, NULL, NULL,
        "the destination has no \"Description\" for section \"%s\"", source->key);
    return;
  }
  if (strcmp(source->desc->name, destination->desc->name) != 0) {
    add(d, MIG_VMSD_SECTION_RENAMED, source->desc->name, NULL, NULL,
        "description \"%s\" missing, got \"%s\" instead", source->desc->name,
        destination->desc->name);
    return;
  }
  if (!version_ok(d, source->desc, destination->desc)) return;
  int32_t version = source->desc->version_id;
  compare_desc(d, source->desc, destination->desc, version, version);
}

static void diff_pass(struct diff *d)
{
  for (uint32_t i = 0; i < d->source->section_count; i++) {
    const struct mig_vmsd_section *source = &d->source->sections[i];
    d->section = source->key;
    path_pop(d, 0);
    path_push(d, source->key);
    const struct mig_vmsd_section *destination = mig_vmsd__section_find(d->destination,
                                                                        source->key);
    if (destination == NULL) {
      add(d, MIG_VMSD_SECTION_MISSING, source->desc != NULL ? source->desc->name : NULL, NULL,
          NULL, "section \"%s\" does not exist in the destination", source->key);
      continue;
    }
    d->report->sections_compared++;
    compare_section(d, source, destination);
  }
  d->section = "";
  path_pop(d, 0);
}

void mig_vmsd_diff(const struct mig_vmsd_file *old_file, const struct mig_vmsd_file *new_file,
                   const struct mig_vmsd_diff_options *options, struct mig_vmsd_report *report)
{
  SIM_ASSERT(old_file != NULL && new_file != NULL && report != NULL);
  enum mig_vmsd_direction directions = options != NULL && options->directions != 0
                                           ? options->directions : MIG_VMSD_BOTH;
  SIM_ASSERT(directions >= MIG_VMSD_FORWARD && directions <= MIG_VMSD_BOTH);
  static struct diff zero;
  struct diff d = zero;
  d.report = report;
  d.section = "";
  if (old_file->machine != NULL && new_file->machine != NULL &&
      strcmp(old_file->machine, new_file->machine) != 0) {
    d.direction = MIG_VMSD_FORWARD;
    path_push(&d, "vmschkmachine");
    add(&d, MIG_VMSD_MACHINE_DIFFERS, NULL, NULL, NULL,
        "checking different machine types: \"%s\", \"%s\"", old_file->machine,
        new_file->machine);
    path_pop(&d, 0);
  }
  if (directions & MIG_VMSD_FORWARD) {
    d.direction = MIG_VMSD_FORWARD;
    d.source = old_file;
    d.destination = new_file;
    diff_pass(&d);
  }
  if (directions & MIG_VMSD_BACKWARD) {
    d.direction = MIG_VMSD_BACKWARD;
    d.source = new_file;
    d.destination = old_file;
    diff_pass(&d);
  }
}
