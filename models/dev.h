/*
 * dev.h: the device interface, what a device model and the machine agree on.
 *
 * Three parts, each a table or a handful of callbacks (docs/adding-a-device.md
 * walks through a new device):
 *
 * 1. The host (struct dev_host): all a device may ask of the machine it sits
 *    in: the guest clock (vm_ns, and the sim time at which a guest time
 *    arrives), the run state, DMA to guest-physical memory and MSI delivery.
 *    A device never includes machine.h; the machine gives each device its
 *    own host, so it routes that device's MSIs (direct, through the IOMMU's
 *    interrupt remapping, or as the IOMMU's own) without the device knowing.
 *
 * 2. The configuration (struct dev_config): a driver name, a PCI address and
 *    the class's own config struct in an opaque, aligned property area.  A
 *    class describes its properties in a table (name, kind, bounds, default,
 *    offset), so a scenario parser, a compat-property list or a test sets
 *    them by name without knowing the device (dev_config_prop_set).
 *
 * 3. The class (struct dev_class): name, property and quirk tables, config
 *    check, create, vmstate, and hooks (run state, the save-time error, the
 *    device's own invariants, an optional live section).  dev.c holds the one
 *    table of classes; a machine creates every device through it.
 *
 * Migration reaches a device only through its vmstate tables and, for a
 * device with a live (iterative) section, through struct dev_live_ops below:
 * the device side of the VFIO-shaped data contract (pages with generations
 * the device dirties itself, and a config vmstate sent at stop-copy).
 */
#ifndef DEV_H
#define DEV_H

#include "sim_base.h"
#include "models_limits.h"
#include "sim.h"
#include "vmstate_desc.h"

struct pci_function;

/* ------------------------------------------------------------------ host */

struct dev_host_ops {
  /* Guest time: advances with the sim clock only while the VM runs. */
  uint64_t (*vm_ns)(const void *context);
  /* Sim time at which guest time vm_ns arrives on a running VM (now if passed). */
  uint64_t (*sim_ns_at)(const void *context, uint64_t vm_ns);
  bool (*running)(const void *context);
  /* Guest-physical memory; false when [gpa, gpa + count) is not all RAM. */
  bool (*dma_read)(const void *context, uint64_t gpa, void *bytes, uint32_t count);
  bool (*dma_write)(void *context, uint64_t gpa, const void *bytes, uint32_t count);
  /* An MSI the device sends: data written to address, requester id devid. */
  void (*msi)(void *context, uint16_t devid, uint64_t address, uint32_t data);
};

struct dev_host {                  /* owned by the machine, one per device; read-only here */
  const struct dev_host_ops *ops;
  void *context;                   /* the machine's, passed to every op */
  struct sim *sim;                 /* events, traces, PRNG streams */
  uint32_t role_index;             /* 0 source, 1 destination, ...: tags traces */
  bool msi_wired;                  /* MSIs reach an interrupt controller (ops->msi) */
};

static inline uint64_t dev_host_vm_ns(const struct dev_host *host)
{
  return host->ops->vm_ns(host->context);
}

static inline uint64_t dev_host_sim_ns_at(const struct dev_host *host, uint64_t vm_ns)
{
  return host->ops->sim_ns_at(host->context, vm_ns);
}

static inline bool dev_host_running(const struct dev_host *host)
{
  return host->ops->running(host->context);
}

static inline bool dev_host_dma_read(const struct dev_host *host, uint64_t gpa, void *bytes,
                                     uint32_t count)
{
  return host->ops->dma_read(host->context, gpa, bytes, count);
}

static inline bool dev_host_dma_write(const struct dev_host *host, uint64_t gpa,
                                      const void *bytes, uint32_t count)
{
  return host->ops->dma_write(host->context, gpa, bytes, count);
}

static inline void dev_host_msi(const struct dev_host *host, uint16_t devid, uint64_t address,
                                uint32_t data)
{
  SIM_ASSERT(host->msi_wired);
  host->ops->msi(host->context, devid, address, data);
}

/* --------------------------------------------------------- configuration */

struct dev_config {
  char driver[DEV_DRIVER_BYTES_MAX + 1]; /* a dev_class name: "dmadev", "vfiodev", ... */
  uint8_t bus;                     /* PCI bus:device.function, bus < PCI_BUSES_MAX */
  uint8_t slot;                    /* 0..31 */
  uint8_t function;                /* 0..7 */
  bool addr_implicit;              /* no address given: placed where the device's realize
                                      puts it (a class with addr_optional) */
  bool behind_iommu;               /* its DMA goes through the machine's IOMMU */
  union {                          /* the class's config struct (dmadev_props(), ...) */
    uint64_t align;
    uint8_t bytes[DEV_PROPS_BYTES_MAX];
  } props;
};

static inline void *dev_props(struct dev_config *config) { return config->props.bytes; }

static inline const void *dev_props_const(const struct dev_config *config)
{
  return config->props.bytes;
}

/* The offset of a field of a class's config struct, as a dev_prop offset. */
#define DEV_PROPS_OFFSET(type, field) (offsetof(struct dev_config, props) + offsetof(type, field))

enum dev_prop_kind {
  DEV_PROP_U32,                    /* uint32_t in [low, high] */
  DEV_PROP_U64,                    /* uint64_t in [low, high] */
  DEV_PROP_BOOL,                   /* bool */
  DEV_PROP_ENUM,                   /* uint32_t index into names */
  DEV_PROP_RECORDS,                /* an array of records (struct dev_records) */
};

struct dev_records;

/*
 * One property, as QEMU's DEFINE_PROP_*: the scenario key, where it lives
 * (offset in struct dev_config; a record's field: in the record), its
 * bounds and default.  Every scenario key of a device but "driver", "addr"
 * and "quirks" is one of these.
 */
struct dev_prop {
  const char *name;
  enum dev_prop_kind kind;
  size_t offset;
  uint64_t low;                    /* U32/U64 bounds, inclusive */
  uint64_t high;
  uint64_t multiple;               /* 0, or the value must be a multiple of it */
  uint64_t default_value;          /* dev_config_init: number, bool (0/1) or enum index */
  bool required;                   /* records' fields: must be present */
  const char *const *names;        /* ENUM: NULL-terminated, index = stored value */
  const struct dev_records *records; /* RECORDS */
};

struct dev_records {               /* e.g. vfiodev "mappings": [{iova, gpa, bytes}, ...] */
  const char *noun;                /* one record, for messages ("mapping") */
  const struct dev_prop *fields;   /* U64 fields, offsets in the record, all required */
  uint32_t field_count;
  size_t record_bytes;             /* stride of the array at dev_prop.offset */
  size_t count_offset;             /* uint32_t record count, offset in struct dev_config */
  uint32_t records_max;
  uint64_t multiple;               /* 0, or every field must be a multiple of it */
};

/* An injected bug a scenario turns on by name: a bool in struct dev_config. */
struct dev_quirk {
  const char *name;
  size_t offset;
};

/* ----------------------------------------------------------------- class */

struct dev_create_args {
  struct sim *sim;
  struct dev_host *host;           /* outlives the device */
  const struct dev_config *config; /* checked (dev_class.config_check) */
  const char *path;                /* its PCI path, "0000:00:05.0" */
  void *twin;                      /* the peer machine's device at this index and class, or
                                      NULL (the destination of a migration on shared storage) */
};

struct dev_instance {
  void *opaque;                    /* the device; the vmstate opaque and every hook's dev */
  struct pci_function *pci;        /* its function, attached to the bus by the machine */
};

/* What a config check may know beyond the device: the machine's guest RAM. */
struct dev_check_env {
  uint64_t ram_bytes;              /* guest RAM from gpa 0, the blocks end to end */
};

struct dev_live_ops;

/*
 * Kinds of state a device holds "in flight": state a migration cut can
 * split, where planted bugs show (conformance/conform_explore.h aims cuts at
 * them).  One bit each in dev_class.in_flight's answer.
 */
#define DEV_FLIGHT_KINDS(X)                                                           \
  X(DMA, "dma-mid-descriptor")   /* a dmadev descriptor partly copied */             \
  X(MSI, "msi-pending")          /* a dmadev completion MSI waiting (msi_delay_ns) */ \
  X(IOMMU, "iommu-cmd-pending")  /* IOMMU commands written, not yet executed */      \
  X(ATS, "ats-inv-owed")         /* device-IOTLB invalidations not yet answered */   \
  X(EXTRA, "testdev-extra-held") /* testdev: "extra" held with its enable bit clear */

enum dev_flight_kind {
#define DEV_FLIGHT_ENUM(name, text) DEV_FLIGHT_##name,
  DEV_FLIGHT_KINDS(DEV_FLIGHT_ENUM)
#undef DEV_FLIGHT_ENUM
  DEV_FLIGHT_KIND_COUNT
};

#define DEV_GUEST_RO_MAX 8u

/*
 * What a guest sees of a device that its vmstate tables do not show, for
 * static compatibility checks (conformance/conform_matrix.c): read-only
 * PCI config bytes a load compares, and the feature bits it offers (the
 * guest negotiates them all at boot; a destination must offer them).
 */
struct dev_guest_view {
  uint32_t ro_count;                     /* <= DEV_GUEST_RO_MAX */
  uint32_t ro_offsets[DEV_GUEST_RO_MAX]; /* config-space offsets */
  uint8_t ro_values[DEV_GUEST_RO_MAX];
  bool has_features;
  uint64_t features_offered;
  bool live;                             /* it has a live section (dev_live_ops.present) */
};

struct dev_class {
  const char *name;                /* the driver string */
  const struct dev_prop *props;    /* in scenario parse order */
  uint32_t prop_count;
  const struct dev_quirk *quirks;
  uint32_t quirk_count;
  size_t props_bytes;              /* sizeof its config struct, <= DEV_PROPS_BYTES_MAX */
  bool addr_optional;              /* no "addr": first free devfn on bus 0 from 00:01.0 */
  bool dma_translated;             /* may sit behind the IOMMU (dev_config.behind_iommu) */
  uint32_t instances_max;          /* per machine; 0: no limit of its own */
  /* What create asserts, for configurations from input; why without the device path. */
  bool (*config_check)(const struct dev_config *config, const struct dev_check_env *env,
                       char *why, size_t why_bytes);
  struct dev_instance (*create)(const struct dev_create_args *args);
  /* Its vmstate description (may depend on its config: profile, quirks). */
  const struct vmstate_desc *(*vmstate)(const void *dev);
  /* Hooks; NULL: nothing to do. */
  void (*run_state)(void *dev, bool running);  /* the VM stopped or resumed */
  const char *(*save_error)(const void *dev);  /* why its save hook refused, or "" */
  /* Its own invariants (checked at every instant); why without the device path. */
  bool (*invariants_check)(const void *dev, char *why, size_t why_bytes);
  /* What it holds in flight now: bit k for enum dev_flight_kind k; reads only. */
  uint32_t (*in_flight)(const void *dev);
  const struct dev_live_ops *live; /* NULL: no live section */
  /* Optional: its guest-visible configuration, from config alone (no device built). */
  void (*guest_view)(const struct dev_config *config, struct dev_guest_view *view);
};

/*
 * The device side of a live section (migration/mig_live.h has the handler
 * side).  The device's data is page_count pages with a 32-bit generation
 * each (0: never loaded); it marks what it dirties once logging starts.
 * Its PCI config travels at stop-copy as config_vmstate, with dev as opaque.
 */
struct dev_live_ops {
  const struct vmstate_desc *config_vmstate;
  uint64_t (*page_count)(const void *dev);
  uint64_t (*dirty_count)(const void *dev);
  void (*log_start)(void *dev);
  void (*log_stop)(void *dev);     /* the migration ended (QEMU's vfio_save_cleanup) */
  /* The next dirty page at or after *cursor (wrapping once), cleared; false when none. */
  bool (*dirty_take)(void *dev, uint64_t *cursor, uint64_t *page, uint32_t *generation);
  void (*page_fill)(const void *dev, uint64_t page, uint32_t generation, uint8_t *out);
  void (*page_set)(void *dev, uint64_t page, uint32_t generation);
  /* A handler carries the config: post_load then requires config_loaded. */
  void (*config_stream_set)(void *dev);
  void (*config_loaded)(void *dev);
  /* After a refused config load: the first read-only byte that differs, and both values. */
  bool (*config_ro_mismatch)(const void *dev, uint32_t *index, uint8_t *value,
                             uint8_t *local);
  /* The device asks the source to wait for the destination's switchover-ack. */
  bool (*wants_ack)(const void *dev);
  uint64_t (*load_bytes_per_s)(const void *dev); /* destination load cost; 0 = free */
  /*
   * Optional (NULL: none).  Pages of state the device can only give once
   * stopped (contexts it cannot track dirty): sent again at stop-copy, at
   * their current generation, and counted as pending while it runs.
   */
  uint64_t (*stop_copy_pages)(const void *dev);
  uint32_t (*page_generation)(const void *dev, uint64_t page);
  /* Optional: the destination device's resume cost once loaded (ns), before the VM runs. */
  uint64_t (*resume_ns)(const void *dev);
  /* cpr-transfer: false with why when the device cannot be handed over. */
  bool (*cpr_check)(const void *dev, char *why, size_t why_bytes);
  /* cpr-transfer: the destination device takes over from's state (nothing copied). */
  void (*cpr_adopt)(void *dev, const void *from);
  /* Optional: false when this instance has no live section (a property turned it off). */
  bool (*present)(const void *dev);
};

/* One device's live section, as a machine lists it (machine_live). */
struct dev_live {
  const struct dev_live_ops *ops;
  void *dev;                       /* the opaque every op takes */
  const char *path;                /* its PCI path, "0000:00:05.0" */
};

/* The class named driver, or NULL. */
const struct dev_class *dev_class_find(const char *driver);
/* The index-th class of the table (for listing the known drivers), or NULL past the end. */
const struct dev_class *dev_class_at(uint32_t index);
/* Zeroes config, names the driver and applies every property's default. */
void dev_config_init(struct dev_config *config, const struct dev_class *cls);
/* The property name of config's class, or NULL. */
const struct dev_prop *dev_config_prop_find(const struct dev_config *config, const char *name);
/*
 * Sets a U32/U64/BOOL/ENUM property by name, within its bounds (compat
 * properties, per-side overrides).  False when the class has no such
 * property or value is out of range.
 */
bool dev_config_prop_set(struct dev_config *config, const char *name, uint64_t value);
/* Writes a checked number to the field prop describes; base is the config or a record. */
void dev_prop_store(const struct dev_prop *prop, void *base, uint64_t value);
/* Sets the quirk named quirk; false when config's class has no such quirk. */
bool dev_config_quirk_set(struct dev_config *config, const char *quirk);
/* "0000:bb:dd.f" of config's address. */
void dev_config_path(const struct dev_config *config, char *out, size_t out_bytes);

#endif /* DEV_H */
