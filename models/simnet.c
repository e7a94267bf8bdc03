/*
 * simnet.c: the release-history device of simnet.h: its four vmstate
 * revisions, its guest-visible config bytes and feature bits.
 *
 * The revisions are data: each is a table below, and x-rev picks one at
 * creation.  What a release changes is listed in models/compat.c; what each
 * change does on the wire is in docs/compat.md ("The release history").
 */
#include "sim_base.h"

#include "models_limits.h"
#include "simnet.h"

/* A field whose wire name differs from its member (a rename keeps the member). */
#define SIMNET_FIELD_NAMED(name_, member, kind_, ctype, version_) \
  { .name = (name_), .kind = (kind_), .offset = VMSTATE_OFFSET_(struct simnet, member, ctype), \
    .size_bytes = sizeof(ctype), .count = 1, .version_id = (version_) }

uint64_t simnet_features_offered(const struct simnet_config *config)
{
  uint64_t offered = SIMNET_F_CSUM | SIMNET_F_MAC;
  if (config->revision >= 2 && config->mq) offered |= SIMNET_F_MQ;
  /* USO comes from the host backend, not only the machine type (QEMU 8.2's virtio-net). */
  if (config->revision >= 3 && config->uso && config->host_uso) offered |= SIMNET_F_USO;
  return offered;
}

uint8_t simnet_cfg_byte(const struct simnet_config *config)
{
  return (uint8_t)config->cfg_bytes;
}

uint8_t simnet_aer_byte(const struct simnet_config *config)
{
  return config->aer_mask ? SIMNET_AER_MASK_DEFAULT : 0;
}

uint32_t simnet_cap_offset(void) { return PCI_CAPS_START; }

static bool simnet_stats_needed(void *opaque)
{
  const struct simnet *dev = opaque;
  return dev->config.send_stats;
}

static bool simnet_vlan_exists(void *opaque, int32_t version_id)
{
  const struct simnet *dev = opaque;
  (void)version_id;
  return dev->config.vlan;
}

/* QEMU's virtio_load: the guest's negotiated features must all be offered here. */
static int simnet_post_load(void *opaque, int32_t version_id)
{
  const struct simnet *dev = opaque;
  (void)version_id;
  return (dev->features & ~dev->offered) != 0 ? -1 : 0;
}

static void simnet_load_error(const void *opaque, char *detail, size_t detail_bytes)
{
  const struct simnet *dev = opaque;
  snprintf(detail, detail_bytes, "Features 0x%" PRIx64 " unsupported. Allowed features: 0x%"
           PRIx64, dev->features, dev->offered);
}

static int simnet_stats_post_load(void *opaque, int32_t version_id)
{
  struct simnet *dev = opaque;
  if (version_id < 2) dev->drops = dev->drops32; /* a v1 stream's 32-bit counter */
  return 0;
}

static const struct vmstate_field simnet_stats_v1_fields[] = {
    SIMNET_FIELD_NAMED("drops", drops32, VMSTATE_KIND_UINT32, uint32_t, 0),
    VMSTATE_UINT64(struct simnet, rx_bytes),
};

static const struct vmstate_desc simnet_stats_v1 = {
    .name = "simnet/stats",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = simnet_stats_v1_fields,
    .field_count = SIM_ARRAY_COUNT(simnet_stats_v1_fields),
    .needed = simnet_stats_needed,
    .post_load = simnet_stats_post_load,
};

/* Revision 4: drops grows to 64 bits, and version 1 streams are no longer accepted. */
static const struct vmstate_field simnet_stats_v2_fields[] = {
    VMSTATE_UINT64(struct simnet, drops),
    VMSTATE_UINT64(struct simnet, rx_bytes),
};

static const struct vmstate_desc simnet_stats_v2 = {
    .name = "simnet/stats",
    .version_id = 2,
    .minimum_version_id = 2,
    .fields = simnet_stats_v2_fields,
    .field_count = SIM_ARRAY_COUNT(simnet_stats_v2_fields),
    .needed = simnet_stats_needed,
    .post_load = simnet_stats_post_load,
};

static const struct vmstate_desc *const simnet_subsections_v1[] = {&simnet_stats_v1};
static const struct vmstate_desc *const simnet_subsections_v2[] = {&simnet_stats_v2};

static const struct vmstate_field simnet_fields_rev1[] = {
    VMSTATE_STRUCT(struct simnet, pci, struct pci_function, pci_function_vmstate),
    VMSTATE_UINT64(struct simnet, features),
    VMSTATE_UINT8(struct simnet, status),
    SIMNET_FIELD_NAMED("rx_count", rx_packets, VMSTATE_KIND_UINT32, uint32_t, 0),
    VMSTATE_UINT32(struct simnet, tx_count),
    VMSTATE_UINT32(struct simnet, legacy_flags),
};

/*
 * Revisions 3 and 4 share one list: revision 4 appends mtu (field version 2),
 * so revision 3's fields are all of them but the last.
 */
static const struct vmstate_field simnet_fields_rev4[] = {
    VMSTATE_STRUCT(struct simnet, pci, struct pci_function, pci_function_vmstate),
    VMSTATE_UINT64(struct simnet, features),
    VMSTATE_UINT8(struct simnet, status),
    VMSTATE_UINT32(struct simnet, rx_packets),
    VMSTATE_UINT32(struct simnet, tx_count),
    VMSTATE_UNUSED(4),
    VMSTATE_UINT16_TEST(struct simnet, vlan_tag, simnet_vlan_exists),
    VMSTATE_UINT16_V(struct simnet, mtu, 2),
};
#define SIMNET_FIELD_COUNT_REV3 (SIM_ARRAY_COUNT(simnet_fields_rev4) - 1)

static const struct vmstate_desc simnet_revisions[SIMNET_REVISION_MAX] = {
    {.name = "simnet", .version_id = 1, .minimum_version_id = 1,
     .fields = simnet_fields_rev1, .field_count = SIM_ARRAY_COUNT(simnet_fields_rev1),
     .post_load = simnet_post_load, .load_error = simnet_load_error},
    {.name = "simnet", .version_id = 1, .minimum_version_id = 1,
     .fields = simnet_fields_rev1, .field_count = SIM_ARRAY_COUNT(simnet_fields_rev1),
     .subsections = simnet_subsections_v1, .subsection_count = 1,
     .post_load = simnet_post_load, .load_error = simnet_load_error},
    {.name = "simnet", .version_id = 1, .minimum_version_id = 1,
     .fields = simnet_fields_rev4, .field_count = SIMNET_FIELD_COUNT_REV3,
     .subsections = simnet_subsections_v1, .subsection_count = 1,
     .post_load = simnet_post_load, .load_error = simnet_load_error},
    {.name = "simnet", .version_id = 2, .minimum_version_id = 1,
     .fields = simnet_fields_rev4, .field_count = SIM_ARRAY_COUNT(simnet_fields_rev4),
     .subsections = simnet_subsections_v2, .subsection_count = 1,
     .post_load = simnet_post_load, .load_error = simnet_load_error},
};

/* ----------------------------------------------------- the live section */

static const struct vmstate_field simnet_queue_fields[] = {
    VMSTATE_UINT32_ARRAY(struct simnet, queue_generations, SIMNET_QUEUE_PAGES),
};

/* What the handler sends at stop-copy as the device's config state. */
static const struct vmstate_desc simnet_queue_vmstate = {
    .name = "simnet-queues",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = simnet_queue_fields,
    .field_count = SIM_ARRAY_COUNT(simnet_queue_fields),
};

static uint64_t queue_page_count(const void *dev)
{
  (void)dev;
  return SIMNET_QUEUE_PAGES;
}

static uint64_t queue_dirty_count(const void *opaque)
{
  const struct simnet *dev = opaque;
  return dev->queue_dirty_count;
}

static void queue_log_start(void *opaque)
{
  struct simnet *dev = opaque;
  dev->queue_dirty = (UINT64_C(1) << SIMNET_QUEUE_PAGES) - 1;
  dev->queue_dirty_count = SIMNET_QUEUE_PAGES;
}

static bool queue_dirty_take(void *opaque, uint64_t *cursor, uint64_t *page,
                             uint32_t *generation)
{
  struct simnet *dev = opaque;
  for (uint64_t step = 0; step < SIMNET_QUEUE_PAGES && dev->queue_dirty_count > 0; step++) {
    uint64_t index = (*cursor + step) % SIMNET_QUEUE_PAGES;
    if ((dev->queue_dirty & (UINT64_C(1) << index)) == 0) continue;
    dev->queue_dirty &= ~(UINT64_C(1) << index);
    dev->queue_dirty_count--;
    *page = index;
    *generation = dev->queue_generations[index];
    *cursor = index + 1;
    return true;
  }
  return false;
}

/* A page's bytes are a pure function of (page, generation): the handler checks them. */
static void queue_page_fill(const void *dev, uint64_t page, uint32_t generation, uint8_t *out)
{
  (void)dev;
  SIM_ASSERT(page < SIMNET_QUEUE_PAGES && generation != 0);
  for (uint32_t i = 0; i < RAM_PAGE_BYTES; i++) {
    out[i] = (uint8_t)(page * 131u + generation * 7u + i);
  }
}

static void queue_page_set(void *opaque, uint64_t page, uint32_t generation)
{
  struct simnet *dev = opaque;
  SIM_ASSERT(page < SIMNET_QUEUE_PAGES);
  dev->queue_generations[page] = generation;
}

static void queue_nothing(void *dev) { (void)dev; }

static bool queue_ro_mismatch(const void *dev, uint32_t *index, uint8_t *value, uint8_t *local)
{
  (void)dev, (void)index, (void)value, (void)local;
  return false; /* its PCI config travels in the "simnet" section */
}

static bool queue_no(const void *dev)
{
  (void)dev;
  return false;
}

static uint64_t queue_free(const void *dev)
{
  (void)dev;
  return 0;
}

static bool queue_cpr_check(const void *dev, char *why, size_t why_bytes)
{
  (void)dev, (void)why, (void)why_bytes;
  return true;
}

static void queue_cpr_adopt(void *opaque, const void *from_opaque)
{
  struct simnet *dev = opaque;
  const struct simnet *from = from_opaque;
  memcpy(dev->queue_generations, from->queue_generations, sizeof(dev->queue_generations));
}

static bool queue_present(const void *opaque)
{
  const struct simnet *dev = opaque;
  return dev->config.live;
}

static const struct dev_live_ops simnet_live_ops = {
    .config_vmstate = &simnet_queue_vmstate,
    .page_count = queue_page_count,
    .dirty_count = queue_dirty_count,
    .log_start = queue_log_start,
    .dirty_take = queue_dirty_take,
    .page_fill = queue_page_fill,
    .page_set = queue_page_set,
    .config_stream_set = queue_nothing,
    .config_loaded = queue_nothing,
    .config_ro_mismatch = queue_ro_mismatch,
    .wants_ack = queue_no,
    .load_bytes_per_s = queue_free,
    .cpr_check = queue_cpr_check,
    .cpr_adopt = queue_cpr_adopt,
    .present = queue_present,
};

/* ------------------------------------------------------------ the class */

static struct dev_instance simnet_create(const struct dev_create_args *args)
{
  const struct simnet_config *config = dev_props_const(args->config);
  SIM_ASSERT(config->revision >= 1 && config->revision <= SIMNET_REVISION_MAX);
  struct simnet *dev = sim_alloc(args->sim, sizeof(*dev));
  dev->config = *config;
  struct pci_function_id id = {.vendor_id = 0x1af4u, .device_id = 0x1041u,
                               .class_code = 0x020000u, .revision_id = 1,
                               .subsystem_vendor_id = 0x1af4u, .subsystem_id = 0x0001u,
                               .bar0_bytes = 4096};
  pci_function_init(&dev->pci, &id);
  uint32_t cap = pci_capability_add(&dev->pci, 0x09u, SIMNET_CAP_BYTES);
  SIM_ASSERT(cap == simnet_cap_offset());
  pci_config_ro_set(&dev->pci, cap + 2, SIMNET_CAP_BYTES, 1);
  pci_config_ro_set(&dev->pci, cap + SIMNET_CAP_CFG_BYTES, simnet_cfg_byte(config), 1);
  pci_config_ro_set(&dev->pci, cap + SIMNET_CAP_AER_MASK, simnet_aer_byte(config), 1);
  dev->offered = simnet_features_offered(config);
  dev->features = dev->offered; /* the guest driver accepts every offered bit at boot */
  dev->status = 0x0f;           /* ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK */
  dev->mtu = (uint16_t)config->mtu;
  /* A source's queues are set up by its guest; a destination's wait for the stream. */
  uint32_t initial = args->host->role_index == 1 ? 0 : 1;
  for (uint32_t i = 0; i < SIMNET_QUEUE_PAGES; i++) dev->queue_generations[i] = initial;
  dev->config.live = config->live && config->revision >= SIMNET_REVISION_MAX;
  return (struct dev_instance){dev, &dev->pci};
}

static const struct vmstate_desc *simnet_vmstate(const void *opaque)
{
  const struct simnet *dev = opaque;
  return &simnet_revisions[dev->config.revision - 1];
}

static const struct dev_prop simnet_props_table[] = {
    {.name = "x-rev", .kind = DEV_PROP_U32, .low = 1, .high = SIMNET_REVISION_MAX,
     .default_value = SIMNET_REVISION_MAX,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, revision)},
    {.name = "x-send-stats", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, send_stats)},
    {.name = "vlan", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, vlan)},
    {.name = "mq", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, mq)},
    {.name = "uso", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, uso)},
    {.name = "host-uso", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, host_uso)},
    {.name = "x-aer-mask", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, aer_mask)},
    {.name = "cfg-bytes", .kind = DEV_PROP_U32, .low = 8, .high = 12, .multiple = 4,
     .default_value = 12, .offset = DEV_PROPS_OFFSET(struct simnet_config, cfg_bytes)},
    {.name = "mtu", .kind = DEV_PROP_U32, .low = 68, .high = 65535, .default_value = 1500,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, mtu)},
    {.name = "x-live", .kind = DEV_PROP_BOOL, .default_value = 1,
     .offset = DEV_PROPS_OFFSET(struct simnet_config, live)},
};

static void simnet_guest_view(const struct dev_config *device, struct dev_guest_view *view)
{
  const struct simnet_config *config = dev_props_const(device);
  memset(view, 0, sizeof(*view));
  view->ro_offsets[0] = simnet_cap_offset() + SIMNET_CAP_CFG_BYTES;
  view->ro_values[0] = simnet_cfg_byte(config);
  view->ro_offsets[1] = simnet_cap_offset() + SIMNET_CAP_AER_MASK;
  view->ro_values[1] = simnet_aer_byte(config);
  view->ro_count = 2;
  view->has_features = true;
  view->features_offered = simnet_features_offered(config);
  view->live = config->live && config->revision >= SIMNET_REVISION_MAX;
}

_Static_assert(sizeof(struct simnet_config) <= DEV_PROPS_BYTES_MAX, "props fit");

const struct dev_class simnet_class = {
    .name = "simnet",
    .props = simnet_props_table,
    .prop_count = SIM_ARRAY_COUNT(simnet_props_table),
    .props_bytes = sizeof(struct simnet_config),
    .create = simnet_create,
    .vmstate = simnet_vmstate,
    .live = &simnet_live_ops,
    .guest_view = simnet_guest_view,
};
