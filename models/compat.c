/*
 * compat.c: the simulated release history of compat.h, as three tables:
 * releases, what each release's code defaults to, and the compat entries.
 *
 * Each row says which QEMU history it models (its why), so the matrix's
 * outcomes can be read against the real incidents (docs/compat.md).
 */
#include "sim_base.h"

#include "compat.h"
#include "dev.h"

#define KIB(n) ((uint64_t)(n) << 10)

/* Release indexes, for the tables below. */
enum { R1_0, R1_1, R1_1_1, R2_0, R2_1 };

static const struct compat_release compat_releases[COMPAT_RELEASES_COUNT] = {
    {"1.0", true, 0, "first release: simnet revision 1, a 64 KiB sim.rom"},
    {"1.1", true, 0, "simnet/stats subsection (compat off for sim-1.0), MQ; the AER mask "
                     "default turns on with no compat entry (QEMU 8.0.0)"},
    {"1.1.1", false, 0, "point release: adds the AER compat entry for sim-1.0 (QEMU 8.0.1), "
                        "which breaks guests started on 1.1 with sim-1.0"},
    {"2.0", true, COMPAT_CAP_SWITCHOVER_ACK,
     "rx_count renamed, legacy_flags a placeholder, vlan_tag _TEST field; USO offered from the "
     "host with no compat entry (QEMU 8.2); sim.rom grows to 128 KiB with a compat entry for "
     "sim-1.0 only"},
    {"2.1", true, COMPAT_CAP_SWITCHOVER_ACK,
     "simnet version 2 (mtu); simnet/stats v2, minimum 2: drops grows to 64 bits; USO compat "
     "entry for sim-1.x; the config size grows to 12 with a compat entry; simnet gains a live "
     "section, off for sim-1.x only"},
};

/* What each release's code defaults to, where it differs from the class's table. */
static const struct compat_prop compat_defaults[] = {
    {R1_0, R1_1, COMPAT_NONE, "simnet", "x-rev", 1, "revision 1 tables"},
    {R1_1, R2_0, COMPAT_NONE, "simnet", "x-rev", 2, "revision 2 tables"},
    {R2_0, R2_1, COMPAT_NONE, "simnet", "x-rev", 3, "revision 3 tables"},
    {R1_0, R1_1, COMPAT_NONE, "simnet", "x-send-stats", 0, "no stats subsection yet"},
    {R1_0, R1_1, COMPAT_NONE, "simnet", "mq", 0, "no MQ yet"},
    {R1_0, R1_1, COMPAT_NONE, "simnet", "x-aer-mask", 0, "AER mask reads 0 (QEMU 7.2)"},
    {R1_0, R2_0, COMPAT_NONE, "simnet", "vlan", 0, "no vlan_tag yet"},
    {R1_0, R2_0, COMPAT_NONE, "simnet", "uso", 0, "no USO yet"},
    {R1_0, R2_1, COMPAT_NONE, "simnet", "cfg-bytes", 8, "config size 8 (virtio-balloon 3.1)"},
    {R1_0, R2_1, COMPAT_NONE, "simnet", "x-live", 0, "no live section yet"},
    {R1_0, R2_0, COMPAT_NONE, "firmware", "sim.rom", KIB(64), "the 1.x ROM"},
    {R2_0, COMPAT_NONE, COMPAT_NONE, "firmware", "sim.rom", KIB(128),
     "the ROM outgrows 64 KiB (a firmware update crossing a power of two)"},
};

/* HW_COMPAT: what restores an older machine type's behaviour on a newer release. */
static const struct compat_prop compat_entries[] = {
    {R1_1, COMPAT_NONE, R1_0, "simnet", "x-send-stats", 0, "new subsection, off for sim-1.0"},
    {R1_1, COMPAT_NONE, R1_0, "simnet", "mq", 0, "new feature bit, off for sim-1.0"},
    {R1_1_1, COMPAT_NONE, R1_0, "simnet", "x-aer-mask", 0,
     "QEMU 8.0.1's fix for 7.2 -> 8.0 (added a release late)"},
    {R2_0, COMPAT_NONE, R1_1, "simnet", "vlan", 0, "new _TEST field, off for sim-1.x"},
    {R2_0, COMPAT_NONE, R1_0, "firmware", "sim.rom", KIB(64),
     "keeps the old ROM size, but for sim-1.0 only: sim-1.1 is forgotten"},
    {R2_1, COMPAT_NONE, R1_1, "simnet", "uso", 0,
     "QEMU's USO fix: off for old machine types (breaks guests started on 2.0 with them)"},
    {R2_1, COMPAT_NONE, R2_0, "simnet", "cfg-bytes", 8,
     "the config size stays 8 for sim-2.0 and older (virtio-balloon 4.0 done right)"},
    {R2_1, COMPAT_NONE, R1_1, "simnet", "x-live", 0,
     "the device gains a live section, off for sim-1.x: sim-2.0 is forgotten"},
};

const struct compat_release *compat_release_at(uint32_t index)
{
  return index < COMPAT_RELEASES_COUNT ? &compat_releases[index] : NULL;
}

const struct compat_release *compat_release_find(const char *name, uint32_t *index)
{
  for (uint32_t i = 0; i < COMPAT_RELEASES_COUNT; i++) {
    if (strcmp(compat_releases[i].name, name) != 0) continue;
    *index = i;
    return &compat_releases[i];
  }
  return NULL;
}

uint32_t compat_machines(uint32_t release_index, const char **names, uint32_t names_max)
{
  SIM_ASSERT(release_index < COMPAT_RELEASES_COUNT);
  static const char *const machine_names[COMPAT_RELEASES_COUNT] = {
      "sim-1.0", "sim-1.1", NULL, "sim-2.0", "sim-2.1"};
  uint32_t count = 0;
  for (uint32_t i = 0; i <= release_index; i++) {
    if (!compat_releases[i].new_machine) continue;
    SIM_ASSERT(machine_names[i] != NULL);
    if (count < names_max) names[count] = machine_names[i];
    count++;
  }
  return count;
}

bool compat_machine_find(uint32_t release_index, const char *name, uint32_t *machine_index)
{
  SIM_ASSERT(release_index < COMPAT_RELEASES_COUNT);
  if (strncmp(name, "sim-", 4) != 0) return false;
  uint32_t index;
  if (compat_release_find(name + 4, &index) == NULL) return false;
  if (!compat_releases[index].new_machine || index > release_index) return false;
  *machine_index = index;
  return true;
}

const struct compat_prop *compat_props(bool compat, uint32_t *count)
{
  *count = compat ? SIM_ARRAY_COUNT(compat_entries) : SIM_ARRAY_COUNT(compat_defaults);
  return compat ? compat_entries : compat_defaults;
}

static bool prop_in_release(const struct compat_prop *prop, uint32_t release_index)
{
  return prop->since <= release_index &&
         (prop->until == COMPAT_NONE || release_index < prop->until);
}

/* Entry i applies to device on (release, machine); QEMU sets them through the property. */
static void prop_apply(const struct compat_prop *prop, struct dev_config *device)
{
  if (strcmp(prop->driver, device->driver) != 0) return;
  bool set = dev_config_prop_set(device, prop->property, prop->value);
  SIM_ASSERT(set); /* the tables name real properties with values in range */
}

void compat_device_apply(uint32_t release_index, uint32_t machine_index,
                         struct dev_config *device)
{
  SIM_ASSERT(release_index < COMPAT_RELEASES_COUNT && machine_index <= release_index);
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(compat_defaults); i++) {
    if (prop_in_release(&compat_defaults[i], release_index)) {
      prop_apply(&compat_defaults[i], device);
    }
  }
  /* Broadest first (newest machine_max), so the entry for the oldest machine types wins. */
  for (uint32_t max = release_index + 1; max-- > machine_index;) {
    for (uint32_t i = 0; i < SIM_ARRAY_COUNT(compat_entries); i++) {
      const struct compat_prop *entry = &compat_entries[i];
      if (entry->machine_max == max && prop_in_release(entry, release_index)) {
        prop_apply(entry, device);
      }
    }
  }
}

/* The size of firmware block name on (release, machine), by the same rules; 0: none. */
static uint64_t firmware_bytes(uint32_t release_index, uint32_t machine_index,
                               const char *name)
{
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < SIM_ARRAY_COUNT(compat_defaults); i++) {
    const struct compat_prop *prop = &compat_defaults[i];
    if (strcmp(prop->driver, "firmware") == 0 && strcmp(prop->property, name) == 0 &&
        prop_in_release(prop, release_index)) {
      bytes = prop->value;
    }
  }
  for (uint32_t max = release_index + 1; max-- > machine_index;) {
    for (uint32_t i = 0; i < SIM_ARRAY_COUNT(compat_entries); i++) {
      const struct compat_prop *entry = &compat_entries[i];
      if (entry->machine_max == max && strcmp(entry->driver, "firmware") == 0 &&
          strcmp(entry->property, name) == 0 && prop_in_release(entry, release_index)) {
        bytes = entry->value;
      }
    }
  }
  return bytes;
}

bool compat_firmware_append(uint32_t release_index, uint32_t machine_index,
                            struct machine_config *config, char *why, size_t why_bytes)
{
  SIM_ASSERT(config->ram_count >= 1);
  static const char *const blocks[] = {"sim.rom"};
  for (uint32_t b = 0; b < SIM_ARRAY_COUNT(blocks); b++) {
    uint64_t bytes = firmware_bytes(release_index, machine_index, blocks[b]);
    if (bytes == 0) continue;
    if (config->ram_count >= RAM_BLOCKS_MAX) {
      snprintf(why, why_bytes, "no room for firmware block %s (%d RAM blocks at most)",
               blocks[b], RAM_BLOCKS_MAX);
      return false;
    }
    for (uint32_t i = 0; i < config->ram_count; i++) {
      if (strcmp(config->ram[i].name, blocks[b]) != 0) continue;
      snprintf(why, why_bytes, "RAM block %s is the release's firmware", blocks[b]);
      return false;
    }
    /* After the vCPU's block: the driver's window and the IOMMU's tables stay last. */
    memmove(&config->ram[2], &config->ram[1], (config->ram_count - 1) * sizeof(config->ram[0]));
    config->ram[1] = (struct machine_ram_config){.bytes = bytes};
    snprintf(config->ram[1].name, sizeof(config->ram[1].name), "%s", blocks[b]);
    config->ram_count++;
  }
  return true;
}
