/*
 * vfiodev.c: the passthrough device of vfiodev.h and its vmstate table.
 *
 * The device's state is an array of page generations; the bytes of a page
 * are never stored (ram_synth_fill makes them), so a 300 MB device costs
 * 300 KB here.  Ticks run in guest time: one sim event at next_tick_vm_ns,
 * converted to sim time by the machine, cancelled while the VM is stopped.
 * A tick's pages are a hash of (content key, tick number, i), so the
 * destination, which receives ticks_count, continues the same sequence.
 */
#include "sim_base.h"

#include "vfiodev.h"

#ifdef SIM_DEBUG
#define SIM_DEBUG_ASSERT_DIGEST(dev) \
  SIM_ASSERT((dev)->generations_digest == vfiodev_generations_digest(dev))
#else
#define SIM_DEBUG_ASSERT_DIGEST(dev) ((void)(dev))
#endif

static uint64_t dirty_words(uint64_t page_count) { return (page_count + 63) / 64; }

static void dirty_set(struct vfiodev *dev, uint64_t page)
{
  SIM_ASSERT(page < dev->page_count);
  uint64_t bit = UINT64_C(1) << (page % 64);
  if (dev->dirty[page / 64] & bit) return;
  dev->dirty[page / 64] |= bit;
  dev->dirty_count++;
}

/* Pages dirtied by tick number tick: the rate spread evenly, no remainder lost. */
static uint64_t tick_pages(const struct vfiodev *dev, uint64_t tick)
{
  uint64_t per_s_ticks = SIM_NS_PER_S / VFIODEV_TICK_NS;
  return (tick + 1) * dev->dirty_pages_per_s / per_s_ticks -
         tick * dev->dirty_pages_per_s / per_s_ticks;
}

/* The generation digest's term for one page; unloaded pages (0) add nothing. */
static uint64_t page_mix(const struct vfiodev *dev, uint64_t page, uint32_t generation)
{
  if (generation == 0) return 0;
  uint64_t state = dev->content_key ^ (page << 32) ^ generation;
  return sim_splitmix64(&state);
}

static void generation_write(struct vfiodev *dev, uint64_t page, uint32_t generation)
{
  dev->generations_digest -= page_mix(dev, page, dev->generations[page]);
  dev->generations[page] = generation;
  dev->generations_digest += page_mix(dev, page, generation);
}

static void tick_arm(struct vfiodev *dev)
{
  if (dev->dirty_pages_per_s == 0 && dev->mapping_count == 0) return;
  if (!dev_host_running(dev->host)) return;
  if (dev->next_tick_vm_ns >= dev->duration_ns) return;
  uint64_t now_vm_ns = dev_host_vm_ns(dev->host);
  if (dev->next_tick_vm_ns < now_vm_ns) dev->next_tick_vm_ns = now_vm_ns;
  sim_event_schedule_at(dev->sim, &dev->tick, dev_host_sim_ns_at(dev->host, dev->next_tick_vm_ns));
}

/* DMA: the tick count goes to a page of the mapping this tick picks. */
static void tick_dma(struct vfiodev *dev, uint64_t hash_state)
{
  if (dev->mapping_count == 0) return;
  uint32_t index = (uint32_t)(dev->ticks_count % dev->mapping_count);
  uint64_t slots = dev->map_bytes[index] / 8;
  SIM_ASSERT(slots > 0);
  uint64_t gpa = dev->gpa[index] + 8 * (sim_splitmix64(&hash_state) % slots);
  uint8_t value[8];
  for (int i = 0; i < 8; i++) value[i] = (uint8_t)(dev->ticks_count >> (8 * i));
  if (dev_host_dma_write(dev->host, gpa, value, sizeof(value))) dev->dma_writes_count++;
}

static void vfiodev_on_tick(struct sim *sim, struct sim_event *event)
{
  struct vfiodev *dev = SIM_CONTAINER_OF(event, struct vfiodev, tick);
  SIM_ASSERT(dev_host_running(dev->host));
  uint64_t hash_state = dev->content_key ^ (dev->ticks_count * UINT64_C(0x9e3779b97f4a7c15));
  uint64_t count = tick_pages(dev, dev->ticks_count);
  for (uint64_t i = 0; i < count; i++) {
    uint64_t page = sim_splitmix64(&hash_state) % dev->page_count;
    uint32_t generation = dev->generations[page] + 1;
    generation_write(dev, page, generation == 0 ? 1 : generation);
    if (dev->logging) dirty_set(dev, page);
  }
  tick_dma(dev, hash_state);
  sim_trace(sim, "vfiodev.tick", dev->ticks_count, count, dev->dirty_count, 0);
  dev->ticks_count++;
  dev->next_tick_vm_ns += VFIODEV_TICK_NS;
  tick_arm(dev);
}

uint64_t vfiodev_generations_digest(const struct vfiodev *dev)
{
  uint64_t digest = 0;
  for (uint64_t page = 0; page < dev->page_count; page++) {
    digest += page_mix(dev, page, dev->generations[page]);
  }
  return digest;
}

/* Pairs with post_load (STYLE R12): the live digest is the recomputed one. */
static int vfiodev_pre_save(void *opaque)
{
  struct vfiodev *dev = opaque;
  SIM_ASSERT(dev->mapping_count <= VFIODEV_MAPPINGS_MAX);
  SIM_DEBUG_ASSERT_DIGEST(dev);
  return 0;
}

static int vfiodev_post_load(void *opaque, int32_t version_id)
{
  struct vfiodev *dev = opaque;
  (void)version_id;
  if (dev->mapping_count > VFIODEV_MAPPINGS_MAX) {
    snprintf(dev->error_message, sizeof(dev->error_message), "mapping_count %" PRIu32,
             dev->mapping_count);
    return -1;
  }
  if (dev->config_in_vfio_stream && !dev->config_loaded) {
    /* The live handler's FULL section (DEV_CONFIG_STATE) comes before this one. */
    snprintf(dev->error_message, sizeof(dev->error_message),
             "PCI config never arrived (no DEV_CONFIG_STATE)");
    return -1;
  }
  for (uint32_t i = 0; i < dev->mapping_count; i++) {
    if (dev->map_bytes[i] < 8) {
      snprintf(dev->error_message, sizeof(dev->error_message), "mapping %" PRIu32 " empty", i);
      return -1;
    }
  }
  uint64_t local = vfiodev_generations_digest(dev);
  if (local != dev->generations_digest) {
    /* The iterative sections did not bring the device's data as the source had it. */
    snprintf(dev->error_message, sizeof(dev->error_message),
             "device data digest %016" PRIx64 ", source %016" PRIx64, local,
             dev->generations_digest);
    return -1;
  }
  return 0;
}

static const struct vmstate_field vfiodev_config_fields[] = {
    VMSTATE_STRUCT(struct vfiodev, pci, struct pci_function, pci_function_vmstate),
};

const struct vmstate_desc vfiodev_config_vmstate = {
    .name = "vfiodev-config",
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = vfiodev_config_fields,
    .field_count = SIM_ARRAY_COUNT(vfiodev_config_fields),
};

static const struct vmstate_field vfiodev_fields[] = {
    VMSTATE_UINT64_EQUAL(struct vfiodev, state_bytes),
    VMSTATE_UINT64_EQUAL(struct vfiodev, dirty_pages_per_s),
    VMSTATE_UINT64_EQUAL(struct vfiodev, duration_ns),
    VMSTATE_UINT32(struct vfiodev, mapping_count),
    VMSTATE_UINT64_ARRAY(struct vfiodev, iova, VFIODEV_MAPPINGS_MAX),
    VMSTATE_UINT64_ARRAY(struct vfiodev, gpa, VFIODEV_MAPPINGS_MAX),
    VMSTATE_UINT64_ARRAY(struct vfiodev, map_bytes, VFIODEV_MAPPINGS_MAX),
    VMSTATE_UINT64(struct vfiodev, next_tick_vm_ns),
    VMSTATE_UINT64(struct vfiodev, ticks_count),
    VMSTATE_UINT64(struct vfiodev, dma_writes_count),
    VMSTATE_UINT64(struct vfiodev, generations_digest),
};

const struct vmstate_desc vfiodev_vmstate = {
    .name = "vfiodev",
    .version_id = 2,
    .minimum_version_id = 2,
    .priority = VMSTATE_PRIORITY_DEFAULT,
    .fields = vfiodev_fields,
    .field_count = SIM_ARRAY_COUNT(vfiodev_fields),
    .pre_save = vfiodev_pre_save,
    .post_load = vfiodev_post_load,
};

bool vfiodev_config_check(const struct vfiodev_config *config, char *why, size_t why_bytes)
{
  if (config->state_bytes == 0 || config->state_bytes > VFIODEV_STATE_BYTES_MAX ||
      config->state_bytes % RAM_PAGE_BYTES != 0) {
    snprintf(why, why_bytes, "state_bytes must be whole pages, 4096..%" PRIu64,
             VFIODEV_STATE_BYTES_MAX);
    return false;
  }
  if (config->dirty_pages_per_s > VFIODEV_DIRTY_PAGES_PER_S_MAX ||
      config->load_bytes_per_s > VFIODEV_LOAD_BYTES_PER_S_MAX) {
    snprintf(why, why_bytes, "dirty_pages_per_s or load_bytes_per_s out of range");
    return false;
  }
  if (config->container > VFIODEV_CONTAINER_IOMMUFD) {
    snprintf(why, why_bytes, "container must be legacy or iommufd");
    return false;
  }
  if (config->mapping_count > VFIODEV_MAPPINGS_MAX) {
    snprintf(why, why_bytes, "at most %u mappings", VFIODEV_MAPPINGS_MAX);
    return false;
  }
  for (uint32_t i = 0; i < config->mapping_count; i++) {
    const struct vfiodev_mapping *map = &config->mappings[i];
    if (map->bytes == 0 || (map->iova | map->gpa | map->bytes) % RAM_PAGE_BYTES != 0 ||
        map->gpa > UINT64_MAX - map->bytes || map->iova > UINT64_MAX - map->bytes) {
      snprintf(why, why_bytes, "mapping %" PRIu32 ": iova, gpa and bytes must be whole pages",
               i);
      return false;
    }
  }
  return true;
}

struct vfiodev *vfiodev_create(struct sim *sim, const struct dev_host *host,
                               const struct vfiodev_config *config, const char *path)
{
  char why[96];
  SIM_ASSERT(vfiodev_config_check(config, why, sizeof(why)));
  struct vfiodev *dev = sim_alloc(sim, sizeof(*dev));
  struct pci_function_id id = {.vendor_id = VFIODEV_VENDOR_ID, .device_id = VFIODEV_DEVICE_ID,
                               .class_code = 0x020000u, /* network controller */
                               .revision_id = 1, .subsystem_vendor_id = 0x1af4u,
                               .subsystem_id = 0x1100u, .bar0_bytes = 0x1000u};
  pci_function_init(&dev->pci, &id);
  pci_msi_add(&dev->pci);
  dev->config = *config;
  dev->state_bytes = config->state_bytes;
  dev->dirty_pages_per_s = config->dirty_pages_per_s;
  dev->duration_ns = config->duration_ns;
  dev->mapping_count = config->mapping_count;
  for (uint32_t i = 0; i < config->mapping_count; i++) {
    dev->iova[i] = config->mappings[i].iova;
    dev->gpa[i] = config->mappings[i].gpa;
    dev->map_bytes[i] = config->mappings[i].bytes;
  }
  dev->page_count = config->state_bytes / RAM_PAGE_BYTES;
  dev->generations = sim_alloc(sim, dev->page_count * sizeof(dev->generations[0]));
  dev->dirty = sim_alloc(sim, dirty_words(dev->page_count) * sizeof(dev->dirty[0]));
  dev->content_key = ram_synth_key(sim_seed(sim), path);
  /* The source boots with its initial state; a destination starts empty until loaded. */
  uint32_t initial = host->role_index == 1 ? 0 : 1;
  for (uint64_t i = 0; i < dev->page_count; i++) generation_write(dev, i, initial);
  ram_synth_pool(dev->content_key, dev->synth_pool);
  dev->host = host;
  dev->sim = sim;
  sim_event_init(&dev->tick, vfiodev_on_tick, "vfiodev.tick");
  return dev;
}

void vfiodev_stop(struct vfiodev *dev) { sim_event_cancel(dev->sim, &dev->tick); }

void vfiodev_resume(struct vfiodev *dev) { tick_arm(dev); }

void vfiodev_log_start(struct vfiodev *dev)
{
  SIM_ASSERT(!dev->logging);
  dev->logging = true;
  memset(dev->dirty, 0xff, dirty_words(dev->page_count) * sizeof(dev->dirty[0]));
  uint64_t tail = dev->page_count % 64;
  if (tail != 0) dev->dirty[dev->page_count / 64] = (UINT64_C(1) << tail) - 1;
  dev->dirty_count = dev->page_count;
}

bool vfiodev_dirty_take(struct vfiodev *dev, uint64_t *cursor, uint64_t *page,
                        uint32_t *generation)
{
  if (dev->dirty_count == 0) return false;
  uint64_t words = dirty_words(dev->page_count);
  uint64_t index = *cursor % dev->page_count;
  /* Word by word from the cursor; at most words + 1 steps reach every bit once. */
  for (uint64_t step = 0; step <= words; step++) {
    uint64_t word_index = (index / 64 + step) % words;
    uint64_t bits = dev->dirty[word_index];
    if (step == 0) bits &= ~((UINT64_C(1) << (index % 64)) - 1);
    if (bits == 0) continue;
    uint64_t found = word_index * 64 + (uint64_t)__builtin_ctzll(bits);
    dev->dirty[word_index] &= ~(UINT64_C(1) << (found % 64));
    dev->dirty_count--;
    *page = found;
    *generation = dev->generations[found];
    *cursor = found + 1;
    return true;
  }
  SIM_ASSERT(false); /* dirty_count > 0 but no bit set */
  return false;
}

void vfiodev_page_fill(const struct vfiodev *dev, uint64_t page, uint32_t generation,
                       uint8_t *out)
{
  SIM_ASSERT(page < dev->page_count);
  SIM_ASSERT(generation != 0);
  ram_synth_fill(dev->synth_pool, dev->content_key, page, generation, out);
}

void vfiodev_page_set(struct vfiodev *dev, uint64_t page, uint32_t generation)
{
  SIM_ASSERT(page < dev->page_count);
  SIM_ASSERT(generation != 0);
  generation_write(dev, page, generation);
}

void vfiodev_adopt(struct vfiodev *dev, const struct vfiodev *from)
{
  SIM_ASSERT(dev->page_count == from->page_count);
  SIM_ASSERT(from->mapping_count <= VFIODEV_MAPPINGS_MAX);
  /* The new process receives the device's descriptor: the same state, not a copy. */
  dev->generations = from->generations;
  dev->generations_digest = from->generations_digest;
  dev->mapping_count = from->mapping_count;
  memcpy(dev->iova, from->iova, sizeof(dev->iova));
  memcpy(dev->gpa, from->gpa, sizeof(dev->gpa));
  memcpy(dev->map_bytes, from->map_bytes, sizeof(dev->map_bytes));
}

void vfiodev_log_stop(struct vfiodev *dev)
{
  dev->logging = false; /* a later migration starts it again, every page dirty */
}

void vfiodev_config_stream_set(struct vfiodev *dev)
{
  SIM_ASSERT(!dev->logging);
  dev->config_in_vfio_stream = true;
}

bool vfiodev_config_ro_mismatch(const struct vfiodev *dev, uint32_t *index)
{
  const struct pci_function *fn = &dev->pci;
  for (uint32_t i = 0; i < PCI_CONFIG_BYTES; i++) {
    uint8_t checked = (uint8_t)(fn->cmask[i] & ~fn->wmask[i] & ~fn->w1cmask[i]);
    if (((fn->config[i] ^ fn->config_ro[i]) & checked) == 0) continue;
    *index = i;
    return true;
  }
  return false;
}

/* ---------------------------------------------------------------- class */

static struct dev_instance vfiodev_class_create(const struct dev_create_args *args)
{
  struct vfiodev *dev = vfiodev_create(args->sim, args->host, dev_props_const(args->config),
                                       args->path);
  return (struct dev_instance){dev, &dev->pci};
}

/* The properties, and every DMA mapping inside guest RAM. */
static bool vfiodev_class_config_check(const struct dev_config *config,
                                       const struct dev_check_env *env, char *why,
                                       size_t why_bytes)
{
  const struct vfiodev_config *vfio = dev_props_const(config);
  for (uint32_t j = 0; j < vfio->mapping_count && j < VFIODEV_MAPPINGS_MAX; j++) {
    const struct vfiodev_mapping *map = &vfio->mappings[j];
    if (map->gpa > env->ram_bytes || map->bytes > env->ram_bytes - map->gpa) {
      snprintf(why, why_bytes, "mapping %" PRIu32 " is outside guest RAM (%" PRIu64 " bytes)",
               j, env->ram_bytes);
      return false;
    }
  }
  return vfiodev_config_check(vfio, why, why_bytes);
}

static const struct vmstate_desc *vfiodev_class_vmstate(const void *dev)
{
  (void)dev;
  return &vfiodev_vmstate;
}

static void vfiodev_class_run_state(void *dev, bool running)
{
  if (running) vfiodev_resume(dev); else vfiodev_stop(dev);
}

static const char *vfiodev_class_save_error(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return dev->error_message;
}

/* The live section's device side (dev_live_ops; migration/mig_vfio.c is the handler). */
static uint64_t live_page_count(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return dev->page_count;
}

static uint64_t live_dirty_count(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return dev->dirty_count;
}

static void live_log_start(void *dev) { vfiodev_log_start(dev); }
static void live_log_stop(void *dev) { vfiodev_log_stop(dev); }

static bool live_dirty_take(void *dev, uint64_t *cursor, uint64_t *page, uint32_t *generation)
{
  return vfiodev_dirty_take(dev, cursor, page, generation);
}

static void live_page_fill(const void *dev, uint64_t page, uint32_t generation, uint8_t *out)
{
  vfiodev_page_fill(dev, page, generation, out);
}

static void live_page_set(void *dev, uint64_t page, uint32_t generation)
{
  vfiodev_page_set(dev, page, generation);
}

static void live_config_stream_set(void *dev) { vfiodev_config_stream_set(dev); }

static void live_config_loaded(void *opaque)
{
  struct vfiodev *dev = opaque;
  dev->config_loaded = true;
}

static bool live_config_ro_mismatch(const void *opaque, uint32_t *index, uint8_t *value,
                                    uint8_t *local)
{
  const struct vfiodev *dev = opaque;
  if (!vfiodev_config_ro_mismatch(dev, index)) return false;
  *value = dev->pci.config[*index];
  *local = dev->pci.config_ro[*index];
  return true;
}

static bool live_wants_ack(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return !dev->config.quirk_ignore_ack;
}

static uint64_t live_load_bytes_per_s(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return dev->config.load_bytes_per_s;
}

/*
 * cpr-transfer keeps the DMA mappings alive across the update only when they
 * do not depend on the old process's virtual addresses: a mediated device in
 * a legacy VFIO container does (seed 001).
 */
static bool live_cpr_check(const void *opaque, char *why, size_t why_bytes)
{
  const struct vfiodev *dev = opaque;
  if (!dev->config.mdev || dev->config.container != VFIODEV_CONTAINER_LEGACY) return true;
  snprintf(why, why_bytes, "cpr-transfer refused: a mediated device in a legacy VFIO container "
           "needs its old DMA addresses (use iommufd)");
  return false;
}

static void live_cpr_adopt(void *dev, const void *from) { vfiodev_adopt(dev, from); }

static uint64_t live_stop_copy_pages(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return SIM_MIN(dev->config.stop_copy_bytes / RAM_PAGE_BYTES, dev->page_count);
}

static uint32_t live_page_generation(const void *opaque, uint64_t page)
{
  const struct vfiodev *dev = opaque;
  SIM_ASSERT(page < dev->page_count);
  return dev->generations[page];
}

static uint64_t live_resume_ns(const void *opaque)
{
  const struct vfiodev *dev = opaque;
  return dev->config.resume_ns;
}

static const struct dev_live_ops vfiodev_live_ops = {
    .config_vmstate = &vfiodev_config_vmstate,
    .page_count = live_page_count,
    .dirty_count = live_dirty_count,
    .log_start = live_log_start,
    .log_stop = live_log_stop,
    .dirty_take = live_dirty_take,
    .page_fill = live_page_fill,
    .page_set = live_page_set,
    .config_stream_set = live_config_stream_set,
    .config_loaded = live_config_loaded,
    .config_ro_mismatch = live_config_ro_mismatch,
    .wants_ack = live_wants_ack,
    .load_bytes_per_s = live_load_bytes_per_s,
    .stop_copy_pages = live_stop_copy_pages,
    .page_generation = live_page_generation,
    .resume_ns = live_resume_ns,
    .cpr_check = live_cpr_check,
    .cpr_adopt = live_cpr_adopt,
};

#define VFIODEV_PROP(field) DEV_PROPS_OFFSET(struct vfiodev_config, field)

static const struct dev_prop vfiodev_mapping_fields[] = {
    {.name = "iova", .kind = DEV_PROP_U64, .high = UINT64_C(1) << 52, .required = true,
     .offset = offsetof(struct vfiodev_mapping, iova)},
    {.name = "gpa", .kind = DEV_PROP_U64, .high = UINT64_C(1) << 52, .required = true,
     .offset = offsetof(struct vfiodev_mapping, gpa)},
    {.name = "bytes", .kind = DEV_PROP_U64, .low = RAM_PAGE_BYTES, .high = UINT64_C(1) << 40,
     .required = true, .offset = offsetof(struct vfiodev_mapping, bytes)},
};

static const struct dev_records vfiodev_mappings = {
    .noun = "mapping",
    .fields = vfiodev_mapping_fields,
    .field_count = SIM_ARRAY_COUNT(vfiodev_mapping_fields),
    .record_bytes = sizeof(struct vfiodev_mapping),
    .count_offset = VFIODEV_PROP(mapping_count),
    .records_max = VFIODEV_MAPPINGS_MAX,
    .multiple = RAM_PAGE_BYTES,
};

static const char *const vfiodev_containers[] = {"legacy", "iommufd", NULL};

static const struct dev_prop vfiodev_props_table[] = {
    {.name = "state_bytes", .kind = DEV_PROP_U64, .low = RAM_PAGE_BYTES,
     .high = VFIODEV_STATE_BYTES_MAX, .multiple = RAM_PAGE_BYTES,
     .default_value = UINT64_C(64) << 20, .offset = VFIODEV_PROP(state_bytes)},
    {.name = "dirty_pages_per_s", .kind = DEV_PROP_U64, .high = VFIODEV_DIRTY_PAGES_PER_S_MAX,
     .default_value = 1000, .offset = VFIODEV_PROP(dirty_pages_per_s)},
    {.name = "load_bytes_per_s", .kind = DEV_PROP_U64, .high = VFIODEV_LOAD_BYTES_PER_S_MAX,
     .offset = VFIODEV_PROP(load_bytes_per_s)},
    {.name = "stop_copy_bytes", .kind = DEV_PROP_U64, .high = VFIODEV_STATE_BYTES_MAX,
     .multiple = RAM_PAGE_BYTES, .offset = VFIODEV_PROP(stop_copy_bytes)},
    {.name = "resume_ns", .kind = DEV_PROP_U64, .high = 100 * SIM_NS_PER_S,
     .offset = VFIODEV_PROP(resume_ns)},
    {.name = "duration_ns", .kind = DEV_PROP_U64, .high = UINT64_C(1) << 50,
     .default_value = 2 * SIM_NS_PER_S, .offset = VFIODEV_PROP(duration_ns)},
    {.name = "container", .kind = DEV_PROP_ENUM, .names = vfiodev_containers,
     .default_value = VFIODEV_CONTAINER_IOMMUFD, .offset = VFIODEV_PROP(container)},
    {.name = "mdev", .kind = DEV_PROP_BOOL, .offset = VFIODEV_PROP(mdev)},
    {.name = "mappings", .kind = DEV_PROP_RECORDS, .records = &vfiodev_mappings,
     .offset = VFIODEV_PROP(mappings)},
};

static const struct dev_quirk vfiodev_quirks[] = {
    {"ignore-ack", VFIODEV_PROP(quirk_ignore_ack)},
};

_Static_assert(sizeof(struct vfiodev_config) <= DEV_PROPS_BYTES_MAX, "props fit");
_Static_assert(sizeof(enum vfiodev_container) == sizeof(uint32_t), "an enum property is 32 bits");

const struct dev_class vfiodev_class = {
    .name = "vfiodev",
    .props = vfiodev_props_table,
    .prop_count = SIM_ARRAY_COUNT(vfiodev_props_table),
    .quirks = vfiodev_quirks,
    .quirk_count = SIM_ARRAY_COUNT(vfiodev_quirks),
    .props_bytes = sizeof(struct vfiodev_config),
    .instances_max = VFIODEV_DEVICES_MAX,
    .config_check = vfiodev_class_config_check,
    .create = vfiodev_class_create,
    .vmstate = vfiodev_class_vmstate,
    .run_state = vfiodev_class_run_state,
    .save_error = vfiodev_class_save_error,
    .live = &vfiodev_live_ops,
};
