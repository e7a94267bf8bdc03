/*
 * mig_devsem.c: device semantics of a known QEMU 7.2 destination
 * (mig_devsem.h).  Facts read in QEMU v7.2.0: migration/vmstate-types.c
 * (get_int32_equal, get_uint8_equal, get_int32_le and their messages),
 * hw/pci/pci.c (vmstate_pcibus, pci_qdev_realize: version_id 2),
 * hw/isa/piix3.c (PIIX_NUM_PIRQS 4), hw/isa/lpc_ich9.c (ICH9_LPC_NB_PIRQS
 * 8), hw/block/fdc.c (MAX_FD 2), hw/i386/vmmouse.c (VMMOUSE_QUEUE_SIZE
 * 1024), hw/ide/ich.c (ich9-ahci: 6 ports), hw/display/vga.c
 * (is_vbe_vmstate 1), hw/char/serial.c (serial_post_load) and
 * hw/i386/kvmvapic.c (vapic_post_load, vapic_map_rom_writable: ROM blocks of
 * 512 bytes, the size byte at +2 in units of 512), hw/nvram/fw_cfg.c
 * (fw_cfg_acpi_mr_restore_post_load: qemu_ram_resize with &error_abort) and
 * hw/acpi/utils.c (acpi_add_rom_blob's maximum sizes, ACPI_BUILD_*_MAX_SIZE).
 */
#include "mig_devsem.h"

/* An `_EQUAL` field's value on the destination; machine NULL: every machine type. */
static const struct {
  const char *vmsd, *field, *machine;
  uint64_t value;
} equal_values[] = {
    {"PCIBUS", "nirq", "pc-i440fx-", 4},  {"PCIBUS", "nirq", "pc-q35-", 8},
    {"fdc", "num_floppies", NULL, 2},     {"vmmouse", "queue_size", NULL, 1024},
    {"ahci", "ports", NULL, 6},           {"vga", "is_vbe_vmstate", NULL, 1},
};

/* An "int32 le" field's bound: the destination's own value. */
static const struct {
  const char *vmsd, *field;
  int32_t bound;
} le_bounds[] = {{"PCIDevice", "version_id", 2}};

/*
 * fw_cfg/acpi_mr: post_load resizes the ACPI blobs' RAM blocks to these; a
 * size above the block's maximum aborts QEMU (error_abort).
 */
static const struct {
  const char *field;
  uint64_t max;
} acpi_blob_max[] = {
    {"table_mr_size", 0x200000}, {"linker_mr_size", 0x10000}, {"rsdp_mr_size", 0x1000}};

#define VAPIC_ROM_BLOCK_BYTES 512u
#define SERIAL_LSR_TEMT 0x40u

static bool type_is(const char *type, const char *suffix)
{
  if (type == NULL) return false;
  size_t length = strlen(type), suffix_length = strlen(suffix);
  return length > suffix_length && strcmp(type + length - suffix_length, suffix) == 0 &&
         type[length - suffix_length - 1] == ' ';
}

static bool machine_matches(const char *prefix, const char *machine)
{
  return prefix == NULL || (machine != NULL && strncmp(machine, prefix, strlen(prefix)) == 0);
}

static const struct mig_devsem_field *field_find(const struct mig_devsem_section *section,
                                                 const char *vmsd, const char *name)
{
  for (uint32_t i = 0; i < section->field_count; i++) {
    const struct mig_devsem_field *field = &section->fields[i];
    if (strcmp(field->vmsd, vmsd) == 0 && strcmp(field->name, name) == 0) return field;
  }
  return NULL;
}

/* The value as the field's C type holds it: signed types sign-extended. */
static int64_t field_signed(const struct mig_devsem_field *field)
{
  uint32_t bits = field->bytes * 8;
  if (bits >= 64) return (int64_t)field->value;
  uint64_t sign = UINT64_C(1) << (bits - 1);
  return (int64_t)((field->value ^ sign) - sign);
}

static enum mig_err refuse(struct mig_error *error, const struct mig_devsem_section *section,
                           const struct mig_devsem_field *field, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static enum mig_err refuse(struct mig_error *error, const struct mig_devsem_section *section,
                           const struct mig_devsem_field *field, const char *format, ...)
{
  error->offset = field->offset;
  /* "serial/lsr" for the section's own description, else "serial/serial/tsr/tsr_retry". */
  const char *slash = strrchr(section->idstr, '/');
  const char *own = slash != NULL ? slash + 1 : section->idstr;
  if (strcmp(own, field->vmsd) == 0) {
    snprintf(error->path, sizeof error->path, "%.120s/%.60s", section->idstr, field->name);
  } else {
    snprintf(error->path, sizeof error->path, "%.100s/%.40s/%.40s", section->idstr, field->vmsd,
             field->name);
  }
  va_list args;
  va_start(args, format);
  vsnprintf(error->detail, sizeof error->detail, format, args);
  va_end(args);
  return MIG_ERR_BAD_VALUE;
}

static void note_add(char *note, size_t note_bytes, const struct mig_devsem_field *field)
{
  size_t used = strlen(note);
  if (used + 1 >= note_bytes) return;
  snprintf(note + used, note_bytes - used, "%s%.60s/%.60s (%.20s)", used > 0 ? ", " : "",
           field->vmsd, field->name, field->type);
}

/* `_EQUAL` and `le` fields against the destination's values, in stream order. */
static enum mig_err check_values(const struct mig_devsem_section *section,
                                 struct mig_error *error, char *note, size_t note_bytes)
{
  for (uint32_t i = 0; i < section->field_count; i++) {
    const struct mig_devsem_field *field = &section->fields[i];
    bool equal = type_is(field->type, "equal"), le = type_is(field->type, "le");
    if (!equal && !le) continue;
    bool known = false;
    for (size_t k = 0; equal && k < SIM_ARRAY_COUNT(equal_values); k++) {
      if (strcmp(equal_values[k].vmsd, field->vmsd) != 0 ||
          strcmp(equal_values[k].field, field->name) != 0 ||
          !machine_matches(equal_values[k].machine, section->machine_type)) {
        continue;
      }
      known = true;
      if (field->value != equal_values[k].value) {
        return refuse(error, section, field, "%" PRIx64 " != %" PRIx64 " (an _EQUAL field: "
                      "the destination's value)", equal_values[k].value, field->value);
      }
    }
    for (size_t k = 0; le && k < SIM_ARRAY_COUNT(le_bounds); k++) {
      if (strcmp(le_bounds[k].vmsd, field->vmsd) != 0 ||
          strcmp(le_bounds[k].field, field->name) != 0) {
        continue;
      }
      known = true;
      int64_t loaded = field_signed(field);
      if (loaded < 0 || loaded > le_bounds[k].bound) {
        return refuse(error, section, field, "Invalid value %" PRId64 " expecting positive "
                      "value <= %" PRId32, loaded, le_bounds[k].bound);
      }
    }
    if (!known && note_bytes > 0) note_add(note, note_bytes, field);
  }
  return MIG_OK;
}

/* serial_post_load: tsr_retry > 0 exactly when LSR.TEMT is clear. */
static enum mig_err check_serial(const struct mig_devsem_section *section,
                                 struct mig_error *error)
{
  const struct mig_devsem_field *lsr = field_find(section, "serial", "lsr");
  if (lsr == NULL) return MIG_OK;
  const struct mig_devsem_field *retry = field_find(section, "serial/tsr", "tsr_retry");
  int64_t tsr_retry = retry != NULL ? field_signed(retry) : 0;  /* reset value when absent */
  bool empty = (lsr->value & SERIAL_LSR_TEMT) != 0;
  if (tsr_retry > 0 && empty) {
    return refuse(error, section, retry, "inconsistent state in serial device (tsr empty, "
                  "tsr_retry=%" PRId64 ")", tsr_retry);
  }
  if (tsr_retry <= 0 && !empty) {
    return refuse(error, section, lsr, "inconsistent state in serial device (tsr not empty, "
                  "tsr_retry=0): LSR 0x%02" PRIx64, lsr->value);
  }
  return MIG_OK;
}

/* vapic_post_load -> vapic_map_rom_writable: the option ROM's size byte in RAM. */
static enum mig_err check_vapic(const struct mig_devsem_section *section,
                                struct mig_error *error)
{
  const struct mig_devsem_field *state = field_find(section, "kvm-tpr-opt", "state");
  const struct mig_devsem_field *paddr = field_find(section, "kvm-tpr-opt", "rom_state_paddr");
  const struct mig_devsem_ram *ram = section->ram;
  if (state == NULL || paddr == NULL || ram == NULL || ram->bytes == 0) return MIG_OK;
  if (state->value == 0 && paddr->value == 0) return MIG_OK;  /* VAPIC_INACTIVE: no ROM */
  uint64_t rom = paddr->value & ~(uint64_t)(VAPIC_ROM_BLOCK_BYTES - 1);
  if (rom + 2 >= ram->bytes) {
    return refuse(error, section, paddr, "option ROM at 0x%" PRIx64 " is outside the RAM at "
                  "address 0 (0x%" PRIx64 " bytes): vapic_post_load fails", rom, ram->bytes);
  }
  int size = ram->byte_at(ram->context, rom + 2);
  if (size == 0) {
    return refuse(error, section, paddr, "option ROM at 0x%" PRIx64 " has size 0 in guest RAM "
                  "(byte 0x%" PRIx64 "): vapic_post_load fails", rom, rom + 2);
  }
  return MIG_OK;
}

/* fw_cfg_acpi_mr_restore_post_load: each ACPI blob's size within its block's maximum. */
static enum mig_err check_acpi_blobs(const struct mig_devsem_section *section,
                                     struct mig_error *error)
{
  for (size_t i = 0; i < SIM_ARRAY_COUNT(acpi_blob_max); i++) {
    const struct mig_devsem_field *size = field_find(section, "fw_cfg/acpi_mr",
                                                     acpi_blob_max[i].field);
    if (size != NULL && size->value > acpi_blob_max[i].max) {
      return refuse(error, section, size, "0x%" PRIx64 " above the block's maximum 0x%" PRIx64
                    " (QEMU 7.2 aborts in qemu_ram_resize)", size->value, acpi_blob_max[i].max);
    }
  }
  return MIG_OK;
}

enum mig_err mig_devsem_check(const struct mig_devsem_section *section, struct mig_error *error,
                              char *note, size_t note_bytes)
{
  if (note_bytes > 0) note[0] = 0;
  enum mig_err code = check_values(section, error, note, note_bytes);
  if (code == MIG_OK) code = check_serial(section, error);
  if (code == MIG_OK) code = check_vapic(section, error);
  if (code == MIG_OK) code = check_acpi_blobs(section, error);
  return code;
}
