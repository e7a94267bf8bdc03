/*
 * mig_virtio.c: virtio_load's blob (mig_virtio.h).  Facts read in QEMU
 * 7.2.0's sources (Debian's qemu 7.2+dfsg orig tarball) and checked against
 * its stable patches up to 7.2.22, the QEMU of the corpus, which change
 * nothing that virtio_load reads: hw/virtio/virtio.c (virtio_load,
 * vmstate_virtio and its subsections), hw/virtio/virtio-mmio.c
 * (virtio_mmio_load_config, vmstate_virtio_mmio), hw/virtio/virtio-pci.c
 * (virtio_pci_load_config, virtio_pci_load_queue, vmstate_virtio_pci),
 * hw/pci/pci.c (pci_device_load, vmstate_pci_device), hw/pci/msix.c
 * (msix_load), hw/block/virtio-blk.c (virtio_blk_load_device) and
 * migration/vmstate.c (vmstate_load_state, vmstate_subsection_load).
 *
 * The reader latches the first refusal (STYLE R10): after it, or after a
 * stop at a part it cannot size, every read returns zero and reads nothing.
 */
#include "mig_virtio.h"

#include "mig_record.h"
#include "mig_wire.h"

#define VIRTIO_DEPTH_MAX 8u            /* the tables below nest 5 deep */
#define VIRTIO_NO_VECTOR 0xffffu
#define PCI_CONFIG_BYTES 256u          /* PCI_CONFIG_SPACE_SIZE */
#define PCIE_CONFIG_BYTES 4096u        /* PCIE_CONFIG_SPACE_SIZE */
#define PCI_DEVICE_VERSION 2           /* pci_qdev_realize: version_id = 2 */
#define PCI_IRQ_PINS 4u                /* PCI_NUM_PINS */
#define PCI_MSIX_ENTRY_BYTES 16u
#define PCI_CAPS_MAX 48u               /* (256 - 64) / 4 capabilities at most */

/* ------------------------------------------------------------- descriptions */

/*
 * A VMStateDescription as vmstate_load_state reads it: fields of plain
 * bytes (no value checks: UINT*, BOOL, UNUSED), arrays of a struct (each
 * element its own vmstate_load_state, subsection loop included), or the
 * transport's extra state; then the subsection loop.  Every field here has
 * version_id 0, so each is read at any version in range.
 */
enum vfield_kind { VFIELD_BYTES, VFIELD_STRUCT, VFIELD_EXTRA };

struct vdesc;

struct vfield {
  const char *name;
  enum vfield_kind kind;
  uint32_t bytes;                      /* per element (VFIELD_BYTES) */
  uint32_t count;                      /* elements */
  const struct vdesc *desc;            /* the element's description (VFIELD_STRUCT) */
};

struct vdesc {
  const char *name;
  uint32_t version_id;
  uint32_t minimum_version_id;
  const struct vfield *fields;
  uint32_t field_count;
  const struct vdesc *const *subsections;
  uint32_t subsection_count;
};

#define VDESC(id, desc_name, field_list, sub_list) \
  static const struct vdesc id = {desc_name, 1, 1, field_list, SIM_ARRAY_COUNT(field_list), \
                                  sub_list, SIM_ARRAY_COUNT(sub_list)}
#define VDESC_LEAF(id, desc_name, field_list) \
  static const struct vdesc id = {desc_name, 1, 1, field_list, SIM_ARRAY_COUNT(field_list), \
                                  NULL, 0}
#define VBYTES(field_name, size, elements) {field_name, VFIELD_BYTES, size, elements, NULL}
#define VQUEUES(field_name, element) \
  {field_name, VFIELD_STRUCT, 0, MIG_VIRTIO_QUEUE_MAX, &element}

/* hw/virtio/virtio-mmio.c */
static const struct vfield mmio_queue_fields[] = {
    VBYTES("num", 2, 1), VBYTES("enabled", 1, 1), VBYTES("desc", 4, 2), VBYTES("avail", 4, 2),
    VBYTES("used", 4, 2),
};
VDESC_LEAF(mmio_queue_state, "virtio_mmio/queue_state", mmio_queue_fields);
static const struct vfield mmio_state_fields[] = {
    VBYTES("guest_features", 4, 2), VQUEUES("vqs", mmio_queue_state),
};
VDESC_LEAF(mmio_state, "virtio_mmio/state", mmio_state_fields);
static const struct vdesc *const mmio_subsections[] = {&mmio_state};
static const struct vdesc mmio_extra = {"virtio_mmio", 1, 1, NULL, 0, mmio_subsections, 1};

/* hw/virtio/virtio-pci.c */
static const struct vfield pci_queue_fields[] = {
    VBYTES("num", 2, 1), VBYTES("unused", 1, 1), VBYTES("enabled", 1, 1), VBYTES("desc", 4, 2),
    VBYTES("avail", 4, 2), VBYTES("used", 4, 2),
};
VDESC_LEAF(pci_queue_state, "virtio_pci/modern_queue_state", pci_queue_fields);
static const struct vfield pci_state_fields[] = {
    VBYTES("dfselect", 4, 1), VBYTES("gfselect", 4, 1), VBYTES("guest_features", 4, 2),
    VQUEUES("vqs", pci_queue_state),
};
VDESC_LEAF(pci_modern_state, "virtio_pci/modern_state", pci_state_fields);
static const struct vdesc *const pci_subsections[] = {&pci_modern_state};
static const struct vdesc pci_extra = {"virtio_pci", 1, 1, NULL, 0, pci_subsections, 1};

/* hw/virtio/virtio.c: vmstate_virtio's subsections, in its order. */
static const struct vfield endian_fields[] = {VBYTES("device_endian", 1, 1)};
VDESC_LEAF(virtio_endian, "virtio/device_endian", endian_fields);
static const struct vfield features_fields[] = {VBYTES("guest_features", 8, 1)};
VDESC_LEAF(virtio_features, "virtio/64bit_features", features_fields);
static const struct vfield virtqueue_fields[] = {
    VBYTES("vring.avail", 8, 1), VBYTES("vring.used", 8, 1),
};
VDESC_LEAF(virtqueue_state, "virtqueue_state", virtqueue_fields);
static const struct vfield virtqueues_fields[] = {VQUEUES("vq", virtqueue_state)};
VDESC_LEAF(virtio_virtqueues, "virtio/virtqueues", virtqueues_fields);
static const struct vfield ringsize_fields[] = {VBYTES("vring.num_default", 4, 1)};
VDESC_LEAF(ringsize_state, "ringsize_state", ringsize_fields);
static const struct vfield ringsizes_fields[] = {VQUEUES("vq", ringsize_state)};
VDESC_LEAF(virtio_ringsize, "virtio/ringsize", ringsizes_fields);
static const struct vfield broken_fields[] = {VBYTES("broken", 1, 1)};
VDESC_LEAF(virtio_broken, "virtio/broken", broken_fields);
static const struct vfield extra_fields[] = {{"extra_state", VFIELD_EXTRA, 0, 1, NULL}};
VDESC_LEAF(virtio_extra, "virtio/extra_state", extra_fields);
static const struct vfield started_fields[] = {VBYTES("started", 1, 1)};
VDESC_LEAF(virtio_started, "virtio/started", started_fields);
static const struct vfield packed_fields[] = {
    VBYTES("last_avail_idx", 2, 1), VBYTES("last_avail_wrap_counter", 1, 1),
    VBYTES("used_idx", 2, 1), VBYTES("used_wrap_counter", 1, 1), VBYTES("inuse", 4, 1),
};
VDESC_LEAF(packed_state, "packed_virtqueue_state", packed_fields);
static const struct vfield packeds_fields[] = {VQUEUES("vq", packed_state)};
VDESC_LEAF(virtio_packed, "virtio/packed_virtqueues", packeds_fields);
static const struct vfield disabled_fields[] = {VBYTES("disabled", 1, 1)};
VDESC_LEAF(virtio_disabled, "virtio/disabled", disabled_fields);
static const struct vdesc *const virtio_subsections[] = {
    &virtio_endian, &virtio_features, &virtio_virtqueues, &virtio_ringsize, &virtio_broken,
    &virtio_extra, &virtio_started, &virtio_packed, &virtio_disabled,
};
static const struct vdesc vmstate_virtio = {"virtio", 1, 1, NULL, 0, virtio_subsections,
                                            SIM_ARRAY_COUNT(virtio_subsections)};

/* hw/pci/pci.c: vmstate_pci_device has no subsections; its loop still runs. */
static const struct vdesc pci_device = {"PCIDevice", 2, 1, NULL, 0, NULL, 0};

_Static_assert(sizeof "virtio_pci/modern_queue_state" - 1 < 255, "names fit a counted string");

/* Devices whose vdc->load and vdc->vmsd are both unset in 7.2: no device part. */
static const char *const devices_without_part[] = {"virtio-rng", "virtio-scsi"};

/* ------------------------------------------------------------- the reader */

struct vtransport {
  bool variable_vring_alignment;       /* VirtioBusClass has_variable_vring_alignment */
  const struct vdesc *extra;           /* what load_extra_state reads */
};

static const struct vtransport transport_mmio = {true, &mmio_extra};
static const struct vtransport transport_pci = {false, &pci_extra};

struct vread {
  const struct mig_virtio_blob *blob;
  const struct vtransport *transport;
  uint64_t at;                         /* payload index of the next byte */
  bool stopped;                        /* refused, or stopped at a part not sized */
  bool msix;                           /* virtio-pci: MSI-X present */
  uint32_t vectors;                    /* its table size (the proxy's nvectors) */
  uint32_t features;                   /* the blob's 32-bit guest features (vdev->guest_features) */
  struct mig_virtio_result *result;
  struct mig_error *error;
};

static void vread_fail(struct vread *r, enum mig_err code, uint64_t at, const char *path,
                       const char *format, ...) __attribute__((format(printf, 5, 6)));

/* Latches the refusal at payload index `at`; path follows the idstr. */
static void vread_fail(struct vread *r, enum mig_err code, uint64_t at, const char *path,
                       const char *format, ...)
{
  if (r->stopped) return;
  r->stopped = true;
  char detail[sizeof r->error->detail];
  va_list args;
  va_start(args, format);
  vsnprintf(detail, sizeof detail, format, args);
  va_end(args);
  MIG_ERROR_LATCH(r->error, code, r->blob->payload_offset + at, detail, "%.120s/%.64s",
                  r->blob->idstr, path);
}

/* Stops at the next byte: what follows cannot be sized from the stream alone. */
static void vread_stop(struct vread *r, const char *why)
{
  if (r->stopped) return;
  r->stopped = true;
  r->result->unverifiable = true;
  r->result->stop = r->at;
  snprintf(r->result->why, sizeof r->result->why, "%s", why);
}

/* True when `bytes` more bytes lie before the footer; else the footer's refusal. */
static bool vread_has(struct vread *r, uint64_t bytes, const char *what)
{
  if (r->stopped) return false;
  SIM_ASSERT(r->at <= r->blob->payload_bytes);
  if (bytes <= r->blob->payload_bytes - r->at) return true;
  vread_fail(r, MIG_ERR_FOOTER, r->at, "footer",
             "virtio: %.80s runs past the section's footer", what);
  return false;
}

static void vread_skip(struct vread *r, uint64_t bytes, const char *what)
{
  if (vread_has(r, bytes, what)) r->at += bytes;
}

/* A big-endian value of `bytes` (1..8) bytes; 0 after a refusal or a stop. */
static uint64_t vread_be(struct vread *r, uint32_t bytes, const char *what)
{
  SIM_ASSERT(bytes >= 1 && bytes <= 8);
  if (!vread_has(r, bytes, what)) return 0;
  uint64_t value = 0;
  for (uint32_t i = 0; i < bytes; i++) value = value << 8 | r->blob->payload[r->at + i];
  r->at += bytes;
  return value;
}

/* ------------------------------------------------------------- vmstate_load_state */

static void load_vmsd(struct vread *r, const struct vdesc *desc, uint32_t depth);

static const struct vdesc *subsection_find(const struct vdesc *desc, const char *name)
{
  for (uint32_t i = 0; i < desc->subsection_count; i++) {
    if (strcmp(desc->subsections[i]->name, name) == 0) return desc->subsections[i];
  }
  return NULL;
}

/*
 * vmstate_subsection_load (mig_subsection_peek): while the next byte opens a
 * subsection with a "desc->name" prefix, a name the description lacks is
 * -ENOENT and the version must lie in the subsection's range.  The byte
 * after the payload is the footer's 0x7e, so the loop ends there.  A name
 * running into the footer ends the loop too: QEMU would compare bytes of the
 * footer, which hold no name of these tables, and the 0x05 left where the
 * footer belongs is then refused ("Missing section footer").  Returns the
 * subsection whose head it consumed, or NULL when the loop ends (r->stopped
 * says whether by a refusal).
 */
static const struct vdesc *subsection_next(struct vread *r, const struct vdesc *desc)
{
  struct mig_subsection_head head;
  SIM_ASSERT(r->at <= r->blob->payload_bytes);
  if (r->stopped || mig_subsection_peek(r->blob->payload + r->at, r->blob->payload_bytes - r->at,
                                        desc->name, &head) != MIG_SUBSECTION_OURS) {
    return NULL;
  }
  uint64_t marker = r->at;
  const struct vdesc *sub = subsection_find(desc, head.name);
  if (sub == NULL) {
    vread_fail(r, MIG_ERR_SUBSECTION, marker, head.name, "QEMU 7.2's %s has no such subsection "
               "(vmstate_subsection_load: -ENOENT)", desc->name);
    return NULL;
  }
  r->at = marker + head.version_at;
  uint32_t version = (uint8_t)vread_be(r, 4, head.name);
  if (r->stopped) return NULL;
  if (version > sub->version_id || version < sub->minimum_version_id) {
    vread_fail(r, MIG_ERR_SECTION_VERSION, marker + head.version_at, head.name, "version %"
               PRIu32 " outside [%" PRIu32 ", %" PRIu32 "]", version, sub->minimum_version_id,
               sub->version_id);
    return NULL;
  }
  return sub;
}

static void load_subsections(struct vread *r, const struct vdesc *desc, uint32_t depth)
{
  const struct vdesc *sub;
  while ((sub = subsection_next(r, desc)) != NULL) load_vmsd(r, sub, depth + 1);
}

/* vmstate_load_state at a version in desc's range: its fields, then its subsections. */
static void load_vmsd(struct vread *r, const struct vdesc *desc, uint32_t depth)
{
  SIM_ASSERT(depth < VIRTIO_DEPTH_MAX);
  for (uint32_t i = 0; i < desc->field_count && !r->stopped; i++) {
    const struct vfield *field = &desc->fields[i];
    if (field->kind == VFIELD_BYTES) {
      vread_skip(r, (uint64_t)field->bytes * field->count, field->name);
    } else if (field->kind == VFIELD_EXTRA) {
      load_vmsd(r, r->transport->extra, depth + 1);  /* load_extra_state: version 1 */
    } else {
      SIM_ASSERT(field->desc != NULL);
      for (uint32_t element = 0; element < field->count && !r->stopped; element++) {
        load_vmsd(r, field->desc, depth + 1);
      }
    }
  }
  load_subsections(r, desc, depth);
}

/* ------------------------------------------------------------- virtio-pci */

/*
 * What the PCI config space's capability list says (pci_find_capability):
 * a PCI Express capability (0x10) makes the config 4096 bytes, an MSI-X one
 * (0x11) gives the table size.  These bytes are read-only in QEMU's cmask,
 * so a stream that loads has the destination's.  False when the list
 * cannot be walked (a pointer into the header, past the end, or a loop).
 */
static bool pci_capabilities(const uint8_t *config, bool *express, bool *msix,
                             uint32_t *vectors)
{
  *express = false;
  *msix = false;
  *vectors = 0;
  if ((config[0x06] & 0x10) == 0) return true;  /* PCI_STATUS_CAP_LIST */
  uint32_t next = config[0x34];
  for (uint32_t seen = 0; next != 0; seen++) {
    if (seen >= PCI_CAPS_MAX || next < 0x40 || next > PCI_CONFIG_BYTES - 4) return false;
    uint32_t id = config[next];
    if (id == 0x10) *express = true;
    if (id == 0x11 && !*msix) {
      *msix = true;
      *vectors = (((uint32_t)config[next + 3] << 8 | config[next + 2]) & 0x7ff) + 1;
    }
    next = config[next + 1];
  }
  return true;
}

/* pci_device_load: vmstate_pci_device at version 2.  False at a stop. */
static bool load_pci_device(struct vread *r)
{
  uint64_t at = r->at;
  int32_t version = (int32_t)(uint32_t)vread_be(r, 4, "PCIDevice/version_id");
  if (!r->stopped && (version < 0 || version > PCI_DEVICE_VERSION)) {
    vread_fail(r, MIG_ERR_BAD_VALUE, at, "virtio/PCIDevice/version_id", "Invalid value %" PRId32
               " expecting positive value <= %d", version, PCI_DEVICE_VERSION);
  }
  bool express = false;
  if (vread_has(r, PCI_CONFIG_BYTES, "PCIDevice/config") &&
      !pci_capabilities(r->blob->payload + r->at, &express, &r->msix, &r->vectors)) {
    vread_stop(r, "a PCI capability list that cannot be walked");
  }
  vread_skip(r, express ? PCIE_CONFIG_BYTES : PCI_CONFIG_BYTES, "PCIDevice/config");
  for (uint32_t pin = 0; pin < PCI_IRQ_PINS && !r->stopped; pin++) {
    at = r->at;
    uint64_t state = vread_be(r, 4, "PCIDevice/irq_state");
    if (state > 1) {
      vread_fail(r, MIG_ERR_BAD_VALUE, at, "virtio/PCIDevice/irq_state",
                 "irq state %" PRIu64 ": must be 0 or 1", state);
    }
  }
  load_subsections(r, &pci_device, 1);
  return !r->stopped;
}

/* A vector virtio_pci_load_config or _load_queue reads: below nvectors, or none. */
static void load_pci_vector(struct vread *r, const char *path)
{
  uint64_t at = r->at;
  uint64_t vector = vread_be(r, 2, path);
  if (!r->stopped && vector != VIRTIO_NO_VECTOR && vector >= r->vectors) {
    vread_fail(r, MIG_ERR_BAD_VALUE, at, path, "vector %" PRIu64 " >= the %" PRIu32 " MSI-X "
               "vectors (QEMU: -EINVAL)", vector, r->vectors);
  }
}

/* virtio_pci_load_config: the PCI device, msix_load, the config vector. */
static void load_pci_config(struct vread *r)
{
  if (!load_pci_device(r) || !r->msix) return;
  vread_skip(r, (uint64_t)r->vectors * PCI_MSIX_ENTRY_BYTES, "msix table");
  vread_skip(r, (r->vectors + 7) / 8, "msix pending bits");
  load_pci_vector(r, "virtio/config_vector");
}

/* ------------------------------------------------------------- virtio_load */

/* status, isr, queue_sel, features, config: up to the queue count. */
static void load_generic(struct vread *r)
{
  vread_skip(r, 2, "status and isr");
  uint64_t at = r->at;
  uint64_t queue_sel = vread_be(r, 2, "queue_sel");
  if (!r->stopped && queue_sel >= MIG_VIRTIO_QUEUE_MAX) {
    vread_fail(r, MIG_ERR_BAD_VALUE, at, "virtio/queue_sel", "0x%" PRIx64 " >= "
               "VIRTIO_QUEUE_MAX %u", queue_sel, MIG_VIRTIO_QUEUE_MAX);
  }
  r->features = (uint32_t)vread_be(r, 4, "features");  /* vdev->guest_features = features */
  uint64_t config_bytes = vread_be(r, 4, "config_len");
  vread_skip(r, config_bytes, "config");  /* what the destination does not keep is skipped */
}

static void load_queues(struct vread *r)
{
  uint64_t at = r->at;
  uint64_t num = vread_be(r, 4, "num");
  if (!r->stopped && num > MIG_VIRTIO_QUEUE_MAX) {
    vread_fail(r, MIG_ERR_BAD_VALUE, at, "virtio/num", "Invalid number of virtqueues: 0x%"
               PRIx64, num);
  }
  for (uint64_t i = 0; i < num && !r->stopped; i++) {
    vread_skip(r, r->transport->variable_vring_alignment ? 8 : 4, "vring.num and align");
    uint64_t desc = vread_be(r, 8, "vring.desc");
    at = r->at;
    uint64_t last_avail_idx = vread_be(r, 2, "last_avail_idx");
    if (!r->stopped && desc == 0 && last_avail_idx != 0) {
      char path[48];
      snprintf(path, sizeof path, "virtio/vq[%" PRIu64 "]/last_avail_idx", i);
      vread_fail(r, MIG_ERR_BAD_VALUE, at, path, "VQ %" PRIu64 " address 0x0 inconsistent "
                 "with Host index 0x%" PRIx64, i, last_avail_idx);
    }
    if (r->transport == &transport_pci && r->msix) load_pci_vector(r, "virtio/vq/vector");
  }
}

/* ------------------------------------------------------------- virtio-net */

/*
 * hw/net/virtio-net.c: vmstate_virtio_net_device (version 11, loaded at
 * virtio_load's version_id, dc->vmsd's: also 11) and the descriptions its
 * fields load.  Each description's subsection loop runs after its fields.
 */
#define VNET_ETH_ALEN 6u
#define VNET_MAC_TABLE_ENTRIES 64u     /* include/hw/virtio/virtio-net.h */
#define VNET_VLAN_BYTES 512u           /* MAX_VLAN >> 3 */
#define VNET_RSS_KEY_BYTES 40u         /* VIRTIO_NET_RSS_MAX_KEY_SIZE */
#define VNET_F_CTRL_GUEST_OFFLOADS 2u

static const struct vdesc vnet_queue_tx_waiting = {"virtio-net-queue-tx_waiting", 0, 0, NULL, 0,
                                                   NULL, 0};
static const struct vdesc vnet_has_vnet = {"virtio-net-vnet", 0, 0, NULL, 0, NULL, 0};
static const struct vdesc vnet_has_ufo = {"virtio-net-ufo", 0, 0, NULL, 0, NULL, 0};
static const struct vdesc vnet_tx_waiting = {"virtio-net-tx_waiting", 0, 0, NULL, 0, NULL, 0};
static const struct vdesc vnet_rss = {"virtio-net-device/rss", 1, 1, NULL, 0, NULL, 0};
static const struct vdesc *const vnet_device_subsections[] = {&vnet_rss};
/* Its fields are read by load_vnet (WITH_TMP parts and counts the tables cannot say). */
static const struct vdesc vnet_device = {"virtio-net-device", 11, 11, NULL, 0,
                                         vnet_device_subsections, 1};

/* vmstate_virtio_net_queue_tx_waiting: be32 tx_waiting, then its loop. */
static void load_vnet_queue(struct vread *r)
{
  vread_skip(r, 4, "virtio-net tx_waiting");
  load_subsections(r, &vnet_queue_tx_waiting, 2);
}

/*
 * Whether max_queue_pairs and curr_queue_pairs are in the stream
 * (max_queue_pairs_gt_1): the destination's configuration (its peers'
 * queues), taken to be the source's, which shows at the byte the source
 * wrote them: a max_queue_pairs <= 511 ((VIRTIO_QUEUE_MAX - 1) / 2) starts
 * 0x00 or 0x01.  Without them that byte is a subsection marker (0x05), the
 * footer, or, with VIRTIO_NET_F_CTRL_GUEST_OFFLOADS in the blob's features
 * (vdev->guest_features at this point), curr_guest_offloads' first byte.
 * Any other byte is refused under either reading (uint16_equal against a
 * max_queue_pairs <= 511, or the footer).  -1 when the two readings remain.
 */
static int vnet_multiqueue(const struct vread *r)
{
  if (r->at >= r->blob->payload_bytes) return 0;
  uint8_t byte = r->blob->payload[r->at];
  if (byte > 0x01) return 0;
  return (r->features & 1u << VNET_F_CTRL_GUEST_OFFLOADS) != 0 ? -1 : 1;
}

/* The section's rss subsection (virtio-net-device/rss, version 1). */
static void load_vnet_rss(struct vread *r)
{
  vread_skip(r, 3 + 4, "rss enabled, redirect, populate_hash, hash_types");
  uint64_t indirections = vread_be(r, 2, "rss indirections_len");
  vread_skip(r, 2 + VNET_RSS_KEY_BYTES, "rss default_queue and key");
  vread_skip(r, 2 * indirections, "rss indirections_table");
}

/* vmstate_load_state(vmstate_virtio_net_device, 11). */
static void load_vnet(struct vread *r)
{
  vread_skip(r, VNET_ETH_ALEN, "virtio-net mac");
  load_vnet_queue(r);                                       /* vqs[0].tx_waiting */
  vread_skip(r, 4 + 2 + 1 + 1, "virtio-net mergeable_rx_bufs, status, promisc, allmulti");
  uint64_t in_use = vread_be(r, 4, "virtio-net mac_table.in_use");
  /* mac_table.macs when in_use <= MAC_TABLE_ENTRIES, else as many unused bytes. */
  vread_skip(r, in_use * VNET_ETH_ALEN, "virtio-net mac_table");
  vread_skip(r, VNET_VLAN_BYTES, "virtio-net vlans");
  /* WITH_TMP has_vnet_hdr: refused when the peer lacks a vnet header (not shown). */
  vread_skip(r, 4, "virtio-net has_vnet_hdr");
  load_subsections(r, &vnet_has_vnet, 2);
  vread_skip(r, 6, "virtio-net overflows and filters");
  /* WITH_TMP has_ufo: refused when the peer lacks UFO (not shown). */
  vread_skip(r, 1, "virtio-net has_ufo");
  load_subsections(r, &vnet_has_ufo, 2);
  int multiqueue = r->stopped ? 0 : vnet_multiqueue(r);
  if (multiqueue < 0) {
    vread_stop(r, "virtio-net's max_queue_pairs or curr_guest_offloads (the destination's "
               "max_queue_pairs decides)");
    return;
  }
  uint64_t pairs = 1, current = 1;                          /* the destination's at realize */
  if (multiqueue == 1) {
    pairs = vread_be(r, 2, "virtio-net max_queue_pairs");   /* uint16_equal: the destination's */
    uint64_t at = r->at;
    current = vread_be(r, 2, "virtio-net curr_queue_pairs");
    if (!r->stopped && current > pairs) {
      vread_fail(r, MIG_ERR_BAD_VALUE, at, "virtio-net-device/curr_queue_pairs",
                 "virtio-net: curr_queue_pairs %" PRIx64 " > max_queue_pairs %" PRIx64,
                 current, pairs);
    }
  }
  /* WITH_TMP tx_waiting: curr_queue_pairs - 1 more queues' tx_waiting. */
  for (uint64_t i = 1; i < current && !r->stopped; i++) load_vnet_queue(r);
  load_subsections(r, &vnet_tx_waiting, 2);
  if (r->features & 1u << VNET_F_CTRL_GUEST_OFFLOADS) {
    vread_skip(r, 8, "virtio-net curr_guest_offloads");
  }
  /* vmstate_virtio_net_device's loop: its one subsection, virtio-net-device/rss. */
  while (subsection_next(r, &vnet_device) != NULL) {
    load_vnet_rss(r);
    load_subsections(r, &vnet_rss, 2);
  }
}

/* vdc->load and vdc->vmsd of the devices known here. */
static void load_device(struct vread *r)
{
  const char *device = r->blob->device != NULL ? r->blob->device : "";
  for (size_t i = 0; i < SIM_ARRAY_COUNT(devices_without_part); i++) {
    if (strcmp(device, devices_without_part[i]) == 0) return;
  }
  if (strcmp(device, "virtio-net") == 0) {
    load_vnet(r);
    return;
  }
  if (strcmp(device, "virtio-blk") != 0) {
    vread_stop(r, "the device's own part (vdc->load or vdc->vmsd) is not modelled");
    return;
  }
  /* virtio_blk_load_device: while (qemu_get_sbyte(f)) { a request }. */
  if (!vread_has(r, 1, "virtio-blk request list")) return;
  if (r->blob->payload[r->at] != 0) {
    vread_stop(r, "an in-flight virtio-blk request (its size depends on the destination)");
    return;
  }
  r->at++;
}

static bool hex_digit(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

enum mig_virtio_transport mig_virtio_transport_from_idstr(const char *idstr)
{
  SIM_ASSERT(idstr != NULL);
  if (strncmp(idstr, "virtio-mmio@", strlen("virtio-mmio@")) == 0) {
    return MIG_VIRTIO_TRANSPORT_MMIO;
  }
  /* "%04x:%02x:%02x.%x", then ":%02x.%x" per bridge, then '/'. */
  static const char shape[] = "xxxx:xx:xx.x";
  const char *p = idstr;
  for (size_t i = 0; shape[i] != 0; i++, p++) {
    if (shape[i] == 'x' ? !hex_digit(*p) : *p != shape[i]) {
      return MIG_VIRTIO_TRANSPORT_UNKNOWN;
    }
  }
  while (p[0] == ':' && hex_digit(p[1]) && hex_digit(p[2]) && p[3] == '.' && hex_digit(p[4])) {
    p += 5;
  }
  return *p == '/' ? MIG_VIRTIO_TRANSPORT_PCI : MIG_VIRTIO_TRANSPORT_UNKNOWN;
}

enum mig_err mig_virtio_blob_parse(const struct mig_virtio_blob *blob,
                                   struct mig_virtio_result *result, struct mig_error *error)
{
  SIM_ASSERT(blob != NULL && result != NULL && error != NULL);
  SIM_ASSERT(blob->idstr != NULL && blob->start <= blob->payload_bytes);
  memset(result, 0, sizeof *result);
  memset(error, 0, sizeof *error);
  struct vread r = {.blob = blob, .at = blob->start, .result = result, .error = error};
  if (blob->transport == MIG_VIRTIO_TRANSPORT_MMIO) {
    r.transport = &transport_mmio;
    vread_skip(&r, 12, "virtio-mmio config");  /* virtio_mmio_load_config: 3 x be32 */
  } else if (blob->transport == MIG_VIRTIO_TRANSPORT_PCI) {
    r.transport = &transport_pci;
    load_pci_config(&r);
  } else {
    vread_stop(&r, "a transport the section's idstr does not name");
  }
  load_generic(&r);
  load_queues(&r);
  load_device(&r);
  if (!r.stopped) load_vmsd(&r, &vmstate_virtio, 0);  /* vmstate_load_state(..., 1) */
  result->end = r.at;
  SIM_ASSERT(result->end <= blob->payload_bytes);
  return error->code;
}
