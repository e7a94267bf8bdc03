/*
 * conform_vmsd.c: a scenario's machine as QEMU's -dump-vmstate JSON
 * (conform_vmsd.h): built, not booted, in a fresh simulation, and written by
 * mig_vmsd_dump_json (migration/mig_vmsd_dump.h; docs/compat.md).
 */
#include "sim_base.h"

#include "conform_vmsd.h"
#include "mig_vmsd_dump.h"
#include "sim.h"

/* Every device kind and both guest drivers, so every section kind registers. */
static const char catalog_text[] =
    "{\n"
    "  \"seed\": 1,\n"
    "  \"limits\": {\"events_max\": 1000000, \"time_ns_max\": 1000000000},\n"
    "  \"machine\": {\n"
    "    \"type\": \"migsim-1.0\",\n"
    "    \"ram\": [{\"name\": \"pc.ram\", \"bytes\": 8388608},\n"
    "            {\"name\": \"iommu.ram\", \"bytes\": 262144},\n"
    "            {\"name\": \"/rom@etc/acpi/tables\", \"bytes\": 131072,\n"
    "             \"max_bytes\": 2097152,\n"
    "             \"resizes\": [{\"at_vm_ns\": 450000000, \"bytes\": 393216}]},\n"
    "            {\"name\": \"dma.ram\", \"bytes\": 4194304}],\n"
    "    \"devices\": [{\"driver\": \"amd-iommu\", \"addr\": \"00:01.0\"},\n"
    "                {\"driver\": \"testdev\", \"addr\": \"00:03.0\", \"device_id\": 4660},\n"
    "                {\"driver\": \"dmadev\", \"addr\": \"00:04.0\", \"ring_entries\": 16,\n"
    "                 \"bandwidth\": 4194304, \"iommu\": true},\n"
    "                {\"driver\": \"blockdev\", \"addr\": \"00:05.0\", \"sectors\": 2048},\n"
    "                {\"driver\": \"vfiodev\", \"addr\": \"00:06.0\", \"state_bytes\": 1048576,\n"
    "                 \"dirty_pages_per_s\": 100, \"load_bytes_per_s\": 100000000,\n"
    "                 \"duration_ns\": 100000000,\n"
    "                 \"mappings\": [{\"iova\": 0, \"gpa\": 1048576, \"bytes\": 1048576}]}],\n"
    "    \"device_driver\": {\"period_ns\": 100000, \"duration_ns\": 100000000,\n"
    "                      \"transfer_bytes_max\": 65536, \"interrupts\": true},\n"
    "    \"iommu_driver\": {\"mode\": 3, \"fault_every\": 7, \"event_consume_every\": 1,\n"
    "                     \"cmdbuf_pause_every\": 0}\n"
    "  },\n"
    "  \"workload\": {\"kind\": \"uniform\", \"pages_per_s\": 1000,\n"
    "               \"duration_ns\": 100000000, \"fill_pages\": 64, \"device_every\": 16},\n"
    "  \"link\": {\"bandwidth_bytes_per_s\": 67108864, \"latency_ns\": 200000,\n"
    "           \"window_bytes\": 1048576, \"packet_bytes\": 65536},\n"
    "  \"migration\": {\"section_pages\": 256},\n"
    "  \"commands\": [{\"at_ns\": 50000000, \"execute\": \"migrate\",\n"
    "                \"arguments\": {\"uri\": \"sim:link0\"}}]\n"
    "}\n";

const char *conform_vmsd_catalog_text(void) { return catalog_text; }

json_t *conform_vmsd_dump_scenario(const struct conform_scenario *scenario,
                                   const char *machine_type, bool qemu_only, char *why,
                                   size_t why_bytes)
{
  SIM_ASSERT(scenario != NULL && why != NULL && why_bytes > 0);
  static struct machine_config config;
  config = scenario->machine;
  if (machine_type != NULL) {
    if (strlen(machine_type) == 0 || strlen(machine_type) > MACHINE_TYPE_BYTES_MAX) {
      snprintf(why, why_bytes, "machine type '%s': want 1..%d bytes", machine_type,
               MACHINE_TYPE_BYTES_MAX);
      return NULL;
    }
    snprintf(config.type, sizeof(config.type), "%s", machine_type);
  }
  if (!machine_config_check(&config, why, why_bytes)) return NULL;
  struct sim_options options = {.seed = scenario->seed};
  struct sim *sim = sim_create(&options);
  struct machine *machine = machine_create(sim, &config, 0);
  struct mig_vmsd_dump_class classes[MACHINE_VMSTATE_INSTANCES_MAX];
  uint32_t count = mig_vmsd_dump_machine_classes(machine, classes, SIM_ARRAY_COUNT(classes));
  struct mig_vmsd_dump_options dump_options = {.no_extensions = qemu_only};
  json_t *dump = mig_vmsd_dump_json(config.type, classes, count, &dump_options);
  sim_destroy(sim);
  return dump;
}
