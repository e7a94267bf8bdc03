/*
 * mig_vmsd_dump.c: writes vmstate tables (models/vmstate_desc.h) in QEMU's
 * -dump-vmstate JSON (mig_vmsd_dump.h).  The VM-description JSON a stream
 * carries (mig_vmstate.c, spec §10.2) is a different schema: that one
 * describes the bytes of one saved instance ("fields" with "type" and
 * "size" as sent); this one describes a class's table, versions and
 * presence tests included, which is what a static compatibility check
 * needs (docs/compat.md).
 */
#include "sim_base.h"

#include "mig_json_inl.h"
#include "mig_limits.h"
#include "mig_vmsd_dump.h"



static json_t *desc_json(const struct vmstate_desc *desc, void *opaque, uint32_t depth,
                         const struct mig_vmsd_dump_options *options, bool is_subsection);

/* Element 0 of a nested struct field, when it lives in (or is pointed to by) opaque. */
static void *nested_opaque(const struct vmstate_field *field, void *opaque)
{
  if (opaque == NULL || field->kind != VMSTATE_KIND_STRUCT) return NULL;
  if (field->flags & (VMSTATE_FLAG_ARRAY_OF_POINTER | VMSTATE_FLAG_VARRAY_ANY)) return NULL;
  uint8_t *member = (uint8_t *)opaque + field->offset;
  if (field->flags & VMSTATE_FLAG_POINTER) return *(void **)member;
  return member;
}

static bool is_fixed_array(const struct vmstate_field *field)
{
  if (field->count <= 1 || (field->flags & VMSTATE_FLAG_VARRAY_ANY) != 0) return false;
  return field->kind != VMSTATE_KIND_QTAILQ && field->kind != VMSTATE_KIND_QLIST &&
         field->kind != VMSTATE_KIND_GTREE && field->kind != VMSTATE_KIND_BITMAP;
}

static json_t *field_json(const struct vmstate_field *field, void *opaque, uint32_t depth,
                          const struct mig_vmsd_dump_options *options)
{
  json_t *entry = json_object();
  SIM_ASSERT(entry != NULL);
  mig__json_set(entry, "field", json_string(field->name));
  mig__json_set(entry, "version_id", json_integer(field->version_id));
  mig__json_set(entry, "field_exists", json_boolean(field->field_exists != NULL));
  if (is_fixed_array(field)) mig__json_set(entry, "num", json_integer(field->count));
  mig__json_set(entry, "size", json_integer(field->size_bytes));
  if (field->nested != NULL) {
    mig__json_set(entry, "Description",
             desc_json(field->nested, nested_opaque(field, opaque), depth + 1, options, false));
  }
  return entry;
}

/* The subsection extensions: how its needed predicate stands on a fresh instance. */
static void needed_json(json_t *json, const struct vmstate_desc *desc, void *opaque)
{
  mig__json_set(json, "x-needed", json_string(desc->needed == NULL ? "always" : "predicate"));
  if (desc->needed != NULL && opaque != NULL) {
    mig__json_set(json, "x-sent", json_boolean(desc->needed(opaque)));
  }
}

static json_t *desc_json(const struct vmstate_desc *desc, void *opaque, uint32_t depth,
                         const struct mig_vmsd_dump_options *options, bool is_subsection)
{
  SIM_ASSERT(depth <= MIG_VMSD_DESC_DEPTH_MAX); /* our own tables: MIG_VMSTATE_DEPTH_MAX */
  json_t *json = json_object();
  SIM_ASSERT(json != NULL);
  mig__json_set(json, "name", json_string(desc->name));
  mig__json_set(json, "version_id", json_integer(desc->version_id));
  mig__json_set(json, "minimum_version_id", json_integer(desc->minimum_version_id));
  if (is_subsection && !options->no_extensions) needed_json(json, desc, opaque);
  if (desc->field_count > 0) {
    json_t *fields = json_array();
    for (uint32_t i = 0; i < desc->field_count; i++) {
      const struct vmstate_field *field = &desc->fields[i];
      if (field->kind == VMSTATE_KIND_VALIDATE) continue; /* QEMU: VMS_MUST_EXIST */
      mig__json_append(fields, field_json(field, opaque, depth, options));
    }
    mig__json_set(json, "Fields", fields);
  }
  if (desc->subsection_count > 0) {
    json_t *subsections = json_array();
    for (uint32_t i = 0; i < desc->subsection_count; i++) {
      mig__json_append(subsections, desc_json(desc->subsections[i], opaque, depth + 1, options,
                                         true));
    }
    mig__json_set(json, "Subsections", subsections);
  }
  return json;
}

json_t *mig_vmsd_dump_json(const char *machine_type, const struct mig_vmsd_dump_class *classes,
                           uint32_t count, const struct mig_vmsd_dump_options *options)
{
  SIM_ASSERT(machine_type != NULL);
  SIM_ASSERT(classes != NULL || count == 0);
  static const struct mig_vmsd_dump_options defaults;
  if (options == NULL) options = &defaults;
  json_t *root = json_object();
  json_t *machine = json_object();
  SIM_ASSERT(root != NULL && machine != NULL);
  mig__json_set(machine, "Name", json_string(machine_type));
  mig__json_set(root, "vmschkmachine", machine);
  for (uint32_t i = 0; i < count; i++) {
    const struct mig_vmsd_dump_class *class = &classes[i];
    SIM_ASSERT(class->type_name != NULL && class->desc != NULL);
    SIM_ASSERT(json_object_get(root, class->type_name) == NULL);
    json_t *section = json_object();
    SIM_ASSERT(section != NULL);
    mig__json_set(section, "Name", json_string(class->type_name));
    mig__json_set(section, "version_id", json_integer(class->desc->version_id));
    mig__json_set(section, "minimum_version_id", json_integer(class->desc->minimum_version_id));
    if (!options->no_extensions) {
      mig__json_set(section, "x-priority", json_integer(class->desc->priority));
    }
    mig__json_set(section, "Description", desc_json(class->desc, class->opaque, 1, options, false));
    mig__json_set(root, class->type_name, section);
  }
  return root;
}

static int class_compare(const void *a, const void *b)
{
  const struct mig_vmsd_dump_class *left = a;
  const struct mig_vmsd_dump_class *right = b;
  return strcmp(left->type_name, right->type_name);
}

uint32_t mig_vmsd_dump_machine_classes(const struct machine *machine,
                                       struct mig_vmsd_dump_class *classes,
                                       uint32_t classes_max)
{
  SIM_ASSERT(machine != NULL && classes != NULL);
  uint32_t count = 0;
  for (uint32_t i = 0; i < machine_vmstate_count(machine); i++) {
    const struct vmstate_instance *instance = machine_vmstate(machine, i);
    bool seen = false;
    for (uint32_t j = 0; j < count && !seen; j++) {
      seen = strcmp(classes[j].type_name, instance->desc->name) == 0;
    }
    if (seen) continue;
    SIM_ASSERT(count < classes_max);
    classes[count++] = (struct mig_vmsd_dump_class){
        .type_name = instance->desc->name, .desc = instance->desc, .opaque = instance->opaque};
  }
  qsort(classes, count, sizeof(*classes), class_compare);
  return count;
}

char *mig_vmsd_dump_text(const json_t *dump)
{
  SIM_ASSERT(dump != NULL);
  char *text = json_dumps(dump, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
  SIM_ASSERT(text != NULL);
  size_t length = strlen(text);
  char *out = realloc(text, length + 2);
  SIM_ASSERT(out != NULL);
  out[length] = '\n';
  out[length + 1] = '\0';
  return out;
}
