/*
 * mig_save.c: stream-level writing (overview in mig_save.h; wire facts in
 * spec/stream-format.md §2-§4 and §10).
 */
#include "sim_base.h"

#include "mig_format.h"
#include "mig_save.h"
#include "mig_vmstate.h"

void mig_save_header(struct mig_writer *writer)
{
  mig_writer_be32(writer, MIG_FILE_MAGIC);
  mig_writer_be32(writer, MIG_FILE_VERSION);
}

void mig_save_configuration(struct mig_writer *writer, const char *machine_type)
{
  size_t length = strlen(machine_type);
  SIM_ASSERT(length > 0 && length <= MIG_MACHINE_NAME_BYTES_MAX);
  mig_writer_u8(writer, MIG_SECTION_CONFIGURATION);
  mig_writer_be32(writer, (uint32_t)length);
  mig_writer_bytes(writer, machine_type, length);
}

void mig_save_configuration_capabilities(struct mig_writer *writer, bool x_ignore_shared)
{
  if (!x_ignore_shared) return;
  mig_writer_u8(writer, MIG_SECTION_SUBSECTION);
  mig_writer_counted_string(writer, MIG_CONFIGURATION_CAPABILITIES);
  mig_writer_be32(writer, 1);  /* version */
  mig_writer_be32(writer, 1);  /* caps_count */
  mig_writer_counted_string(writer, MIG_CAPABILITY_X_IGNORE_SHARED);
}

void mig_save_section_header(struct mig_writer *writer, uint8_t type, uint32_t section_id,
                             const char *idstr, uint32_t instance_id, uint32_t version_id)
{
  SIM_ASSERT(type == MIG_SECTION_START || type == MIG_SECTION_FULL);
  mig_writer_u8(writer, type);
  mig_writer_be32(writer, section_id);
  mig_writer_counted_string(writer, idstr);
  mig_writer_be32(writer, instance_id);
  mig_writer_be32(writer, version_id);
}

void mig_save_section_short_header(struct mig_writer *writer, uint8_t type,
                                   uint32_t section_id)
{
  SIM_ASSERT(type == MIG_SECTION_PART || type == MIG_SECTION_END);
  mig_writer_u8(writer, type);
  mig_writer_be32(writer, section_id);
}

void mig_save_footer(struct mig_writer *writer, uint32_t section_id)
{
  mig_writer_u8(writer, MIG_SECTION_FOOTER);
  mig_writer_be32(writer, section_id);
}

void mig_save_command_header(struct mig_writer *writer, uint16_t code, uint16_t length)
{
  mig_writer_u8(writer, MIG_SECTION_COMMAND);
  mig_writer_be16(writer, code);
  mig_writer_be16(writer, length);
}

void mig_save_open_return_path(struct mig_writer *writer, uint32_t ping)
{
  mig_save_command_header(writer, MIG_CMD_OPEN_RETURN_PATH, 0);
  mig_save_command_header(writer, MIG_CMD_PING, 4);
  mig_writer_be32(writer, ping);
}

/* Instance indexes in save order: priority descending, then registration order. */
static uint32_t save_order(const struct vmstate_instance *const *instances, uint32_t count,
                           uint32_t *order)
{
  for (uint32_t i = 0; i < count; i++) order[i] = i;
  /* Insertion sort: stable by construction, so equal priorities keep registration order. */
  for (uint32_t i = 1; i < count; i++) {
    uint32_t moving = order[i];
    int32_t priority = instances[moving]->desc->priority;
    uint32_t j = i;
    while (j > 0 && instances[order[j - 1]]->desc->priority < priority) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = moving;
  }
  return count;
}

/* {"name", "instance_id"} followed by the vmstate description's own keys. */
static json_t *save_section_json(const struct vmstate_instance *instance, json_t *vmsd_json)
{
  json_t *entry = json_object();
  json_object_set_new(entry, "name", json_string(instance->idstr));
  json_object_set_new(entry, "instance_id", json_integer(instance->instance_id));
  const char *key;
  json_t *value;
  json_object_foreach(vmsd_json, key, value) json_object_set(entry, key, value);
  json_decref(vmsd_json);
  return entry;
}

/* mig_save_instances; *failed gets the index of an instance whose save hook refused. */
static enum mig_err save_instances(struct mig_writer *writer,
                                   const struct vmstate_instance *const *instances,
                                   uint32_t count, json_t *devices_json, uint32_t *failed)
{
  SIM_ASSERT(count <= MIG_LOAD_INSTANCES_MAX);
  uint32_t order[MIG_LOAD_INSTANCES_MAX];
  save_order(instances, count, order);
  for (uint32_t i = 0; i < count; i++) {
    const struct vmstate_instance *instance = instances[order[i]];
    uint32_t section_id = MIG_SAVE_RAM_SECTION_ID + 1 + order[i];
    mig_save_section_header(writer, MIG_SECTION_FULL, section_id, instance->idstr,
                            instance->instance_id, (uint32_t)instance->desc->version_id);
    json_t *vmsd_json = NULL;
    enum mig_err err = mig_vmstate_save(writer, instance->desc, instance->opaque,
                                        devices_json != NULL ? &vmsd_json : NULL);
    if (err != MIG_OK) {
      json_decref(vmsd_json);
      *failed = order[i];
      return err;
    }
    mig_save_footer(writer, section_id);
    if (devices_json != NULL) {
      json_array_append_new(devices_json, save_section_json(instance, vmsd_json));
    }
  }
  return mig_writer_error(writer);
}

enum mig_err mig_save_instances(struct mig_writer *writer,
                                const struct vmstate_instance *const *instances, uint32_t count,
                                json_t *devices_json)
{
  uint32_t failed;
  return save_instances(writer, instances, count, devices_json, &failed);
}

static void save_error_set(struct mig_error *error, const struct machine *machine,
                           uint32_t index, uint64_t offset)
{
  memset(error, 0, sizeof(*error));
  error->code = MIG_ERR_HOOK;
  error->offset = offset;
  error->source_file = __FILE__;
  error->source_line = __LINE__;
  snprintf(error->path, sizeof(error->path), "%.150s",
           machine_vmstate(machine, index)->idstr);
  const char *why = machine_vmstate_error(machine, index);
  snprintf(error->detail, sizeof(error->detail), "save refused by the device: %s",
           why != NULL ? why : "its pre_save or post_save failed");
}

enum mig_err mig_save_devices(struct mig_writer *writer, struct machine *machine,
                              json_t *devices_json)
{
  return mig_save_devices_checked(writer, machine, devices_json, NULL);
}

enum mig_err mig_save_devices_checked(struct mig_writer *writer, struct machine *machine,
                                      json_t *devices_json, struct mig_error *error)
{
  const struct vmstate_instance *instances[MIG_LOAD_INSTANCES_MAX];
  uint32_t count = machine_vmstate_count(machine);
  SIM_ASSERT(count <= MIG_LOAD_INSTANCES_MAX);
  for (uint32_t i = 0; i < count; i++) instances[i] = machine_vmstate(machine, i);
  uint32_t failed = 0;
  enum mig_err err = save_instances(writer, instances, count, devices_json, &failed);
  if (err == MIG_ERR_HOOK && error != NULL) {
    save_error_set(error, machine, failed, mig_writer_offset(writer));
  }
  return err;
}

enum mig_err mig_save_finish(struct mig_writer *writer, json_t *devices_json)
{
  mig_writer_u8(writer, MIG_SECTION_EOF);
  json_t *root = json_object();
  json_object_set_new(root, "page_size", json_integer(MIG_PAGE_BYTES));
  json_object_set(root, "devices", devices_json);
  /* QEMU's separators are ", " and ": " with no newline: jansson's default, no indent. */
  char *text = json_dumps(root, JSON_PRESERVE_ORDER);
  json_decref(root);
  SIM_ASSERT(text != NULL);
  size_t length = strlen(text);
  SIM_ASSERT(length <= MIG_VMDESC_BYTES_MAX);
  mig_writer_u8(writer, MIG_SECTION_VMDESCRIPTION);
  mig_writer_be32(writer, (uint32_t)length);
  mig_writer_bytes(writer, text, length);
  free(text);
  return mig_writer_flush(writer);
}
