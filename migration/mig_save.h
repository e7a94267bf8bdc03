/*
 * mig_save.h: the stream-level writer (QEMU's savevm.c role): file header,
 * configuration section, section headers and footers, device FULL sections
 * from vmstate instances, EOF and the VM-description JSON trailer
 * (spec/stream-format.md §2-§4, §10).
 *
 * Section ids: the RAM handler is id 0 and the machine's vmstate instances
 * follow in registration order (1, 2, ...), as QEMU numbers handlers by
 * registration.  Devices are saved by priority, higher first, then by
 * registration order.
 */
#ifndef MIG_SAVE_H
#define MIG_SAVE_H

#include "sim_base.h"
#include "machine.h"
#include "mig_limits.h"
#include "mig_stream.h"

#include <jansson.h>

#define MIG_SAVE_RAM_SECTION_ID 0u

void mig_save_header(struct mig_writer *writer);
/* 0x07, be32 length, machine type; no subsections. */
void mig_save_configuration(struct mig_writer *writer, const char *machine_type);
/*
 * The configuration's capabilities subsection, right after the machine type:
 * QEMU 7.2 validates one capability, x-ignore-shared; nothing is written when
 * it is off.
 */
void mig_save_configuration_capabilities(struct mig_writer *writer, bool x_ignore_shared);
/* START or FULL header: type, be32 id, counted idstr, be32 instance, be32 version. */
void mig_save_section_header(struct mig_writer *writer, uint8_t type, uint32_t section_id,
                             const char *idstr, uint32_t instance_id, uint32_t version_id);
/* PART or END header: type, be32 id. */
void mig_save_section_short_header(struct mig_writer *writer, uint8_t type,
                                   uint32_t section_id);
void mig_save_footer(struct mig_writer *writer, uint32_t section_id);
/* A command's header (§7): type COMMAND, be16 code, be16 length; the payload follows. */
void mig_save_command_header(struct mig_writer *writer, uint16_t code, uint16_t length);
/* QEMU's migration_thread before RAM: OPEN_RETURN_PATH, then PING(ping). */
void mig_save_open_return_path(struct mig_writer *writer, uint32_t ping);

/*
 * Writes FULL sections for every vmstate instance of machine, in save order,
 * and appends each one's VM-description entry to devices_json (an array).
 */
enum mig_err mig_save_devices(struct mig_writer *writer, struct machine *machine,
                              json_t *devices_json);
/*
 * The same; when a device's save hook refuses (a save-time self-check,
 * seed 003), error (if not NULL) receives MIG_ERR_HOOK, the stream offset,
 * the section's idstr as path and the device's own account as detail.
 */
enum mig_err mig_save_devices_checked(struct mig_writer *writer, struct machine *machine,
                                      json_t *devices_json, struct mig_error *error);
/*
 * The same for any handler list (registration order): instance i gets section
 * id 1 + i; sections go out by desc->priority, higher first (QEMU's
 * MIG_PRI_*, spec §5.7), equal priorities in registration order.
 */
enum mig_err mig_save_instances(struct mig_writer *writer,
                                const struct vmstate_instance *const *instances, uint32_t count,
                                json_t *devices_json);
/* EOF (0x00), then 0x06, be32 length and {"page_size": 4096, "devices": [...]}. */
enum mig_err mig_save_finish(struct mig_writer *writer, json_t *devices_json);

#endif /* MIG_SAVE_H */
