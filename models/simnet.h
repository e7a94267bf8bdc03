/*
 * simnet.h: a virtio-net-shaped PCI device whose migration contract changes
 * from release to release (models/compat.h holds the releases).
 *
 * It is the device of the simulated release history (docs/compat.md): one
 * class, four revisions of its vmstate tables (property "x-rev"), and the
 * three guest-visible facts that broke real QEMU migrations without any
 * change of the saved layout:
 *
 * - read-only PCI config bytes in a vendor capability: the AER
 *   uncorrectable-error mask (QEMU 7.2 -> 8.0) and the device config size
 *   (virtio-balloon 3.1 -> 4.0).  pci's post_load refuses a stream whose
 *   bytes differ: "Bad config data" (QEMU's get_pci_config_device);
 * - feature bits: the guest negotiates every offered bit at boot; a
 *   destination that does not offer one refuses the load: "Features 0x...
 *   unsupported" (QEMU's virtio_load).  USO is offered only when the host
 *   backend has it (property "host-uso"), as virtio-net's USO was;
 * - nothing else: its firmware ROM is a machine RAM block (compat.h).
 *
 * Revisions (each a vmstate table below, chosen by x-rev):
 *   1  section "simnet" v1: pci, features, status, rx_count, tx_count, legacy_flags
 *   2  + subsection "simnet/stats" v1 (drops u32, rx_bytes), sent iff x-send-stats
 *   3  rx_count renamed rx_packets; legacy_flags kept as a 4-byte placeholder;
 *      + vlan_tag, a _TEST field present iff property vlan
 *   4  version bump to 2 (+ mtu, _V(2)); "simnet/stats" v2 with minimum 2:
 *      drops resized to 64 bits
 *
 * Revision 4 also gains a live section (property "x-live"): its queue state,
 * SIMNET_QUEUE_PAGES pages with a generation each, sent iteratively by the
 * VFIO-shaped handler (migration/mig_vfio.c) as "<bdf>/vfio", and the
 * generations again in its config state at stop-copy.  A destination
 * without the section refuses the stream ("unknown section"); a source
 * without it leaves the destination's pages unloaded, which its own guest
 * never saw.
 */
#ifndef SIMNET_H
#define SIMNET_H

#include "sim_base.h"
#include "dev.h"
#include "pci.h"

#define SIMNET_REVISION_MAX 4u
#define SIMNET_F_CSUM (UINT64_C(1) << 0)
#define SIMNET_F_MAC (UINT64_C(1) << 5)
#define SIMNET_F_MQ (UINT64_C(1) << 22)
#define SIMNET_F_GUEST_USO4 (UINT64_C(1) << 54)
#define SIMNET_F_GUEST_USO6 (UINT64_C(1) << 55)
#define SIMNET_F_HOST_USO (UINT64_C(1) << 56)
#define SIMNET_F_USO (SIMNET_F_GUEST_USO4 | SIMNET_F_GUEST_USO6 | SIMNET_F_HOST_USO)
#define SIMNET_CAP_BYTES 8u               /* the vendor capability: id, next, len, 5 bytes */
#define SIMNET_CAP_CFG_BYTES 3u           /* its byte: device config size (read-only) */
#define SIMNET_CAP_AER_MASK 4u            /* its byte: AER uncorrectable mask (read-only) */
#define SIMNET_AER_MASK_DEFAULT 0x40u     /* QEMU 8.0's PCI_ERR_UNC_INTN default */
#define SIMNET_QUEUE_PAGES 4u             /* pages of its live section */

struct simnet_config {             /* dev_config.props of a "simnet" */
  uint32_t revision;               /* x-rev: which vmstate tables (1..4) */
  bool send_stats;                 /* x-send-stats: subsection "simnet/stats" (rev >= 2) */
  bool vlan;                       /* vlan: the _TEST field vlan_tag travels (rev >= 3) */
  bool mq;                         /* mq: offers SIMNET_F_MQ (rev >= 2) */
  bool uso;                        /* uso: offers SIMNET_F_USO when host_uso (rev >= 3) */
  bool host_uso;                   /* host-uso: the host backend supports USO */
  bool aer_mask;                   /* x-aer-mask: the AER mask byte reads 0x40, else 0 */
  uint32_t cfg_bytes;              /* cfg-bytes: device config size, 8 or 12 */
  uint32_t mtu;                    /* mtu: 68..65535 */
  bool live;                       /* x-live: a live section (revision 4 only) */
};

struct simnet {                    /* arena-owned; (m) = migrated */
  struct pci_function pci;         /* (m) its config space: the read-only bytes are checked */
  uint64_t features;               /* (m) negotiated by the guest at boot */
  uint64_t offered;                /* what this side offers (config), not migrated */
  uint8_t status;                  /* (m) */
  uint32_t rx_packets;             /* (m) "rx_count" before revision 3 */
  uint32_t tx_count;               /* (m) */
  uint32_t legacy_flags;           /* (m, revisions 1-2) a placeholder from revision 3 */
  uint16_t vlan_tag;               /* (m, revision 3+, iff config.vlan) */
  uint16_t mtu;                    /* (m, version 2) */
  uint32_t drops32;                /* (m, stats v1) */
  uint64_t drops;                  /* (m, stats v2) */
  uint64_t rx_bytes;               /* (m, stats) */
  uint32_t queue_generations[SIMNET_QUEUE_PAGES]; /* (live) 0: never loaded */
  uint64_t queue_dirty;            /* bit per page, once its log started */
  uint32_t queue_dirty_count;
  struct simnet_config config;     /* as created */
};

extern const struct dev_class simnet_class;

static inline struct simnet_config *simnet_props(struct dev_config *config)
{
  return dev_props(config);
}

/* The feature bits config offers (its revision, its properties and its host). */
uint64_t simnet_features_offered(const struct simnet_config *config);
/* The read-only capability bytes config gives: cfg_bytes and the AER mask. */
uint8_t simnet_cfg_byte(const struct simnet_config *config);
uint8_t simnet_aer_byte(const struct simnet_config *config);
/* Config-space offset of the vendor capability (fixed: the first capability). */
uint32_t simnet_cap_offset(void);

#endif /* SIMNET_H */
