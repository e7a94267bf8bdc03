/*
 * mig_virtio.h: the blob of a VMSTATE_VIRTIO_DEVICE field ("type":
 * "virtio" in the VM description), read as QEMU 7.2's virtio_load reads it
 * (hw/virtio/virtio.c), over one section payload.  The VM description gives
 * the blob one opaque size; QEMU instead reads a format of its own, with
 * subsections inside, and stops where that format says.  This reader finds
 * that place, or the refusal QEMU makes on the way, or says it cannot tell.
 *
 * The blob, in order (be = big-endian; T = the transport, D = the device):
 *
 *   OFFSET  SIZE           DESCRIPTION
 *   0       T              load_config.  virtio-mmio: be32 host_features_sel,
 *                          be32 guest_features_sel, be32 guest_page_shift.
 *                          virtio-pci: the "PCIDevice" vmstate (be32
 *                          version_id in [0, 2], 256 bytes of config space,
 *                          4096 for PCI Express, 4 x be32 irq_state each 0
 *                          or 1, its subsection loop), then with MSI-X the
 *                          table (N x 16) and pending bits (ceil(N / 8)), N
 *                          the capability's table size, and be16
 *                          config_vector (< N or 0xffff)
 *   +0      1              status
 *   +1      1              isr
 *   +2      2              be16 queue_sel, < VIRTIO_QUEUE_MAX (1024)
 *   +4      4              be32 guest features (low half)
 *   +8      4              be32 config_len
 *   +12     config_len     config bytes (QEMU keeps what fits, skips the rest)
 *   ...     4              be32 num, <= 1024 ("Invalid number of virtqueues")
 *   ...     num x Q        per queue: be32 vring.num; be32 vring.align
 *                          (virtio-mmio only: has_variable_vring_alignment);
 *                          be64 vring.desc; be16 last_avail_idx (not 0 when
 *                          desc is 0); load_queue (virtio-pci with MSI-X:
 *                          be16 vector, < N or 0xffff)
 *   ...     D              vdc->load / vdc->vmsd.  virtio-blk: bytes, each
 *                          0 (end) or not (an in-flight request follows);
 *                          virtio-scsi, virtio-rng: nothing
 *   ...     ...            the subsections of "virtio" (version 1, no fields):
 *                          virtio/device_endian, virtio/64bit_features,
 *                          virtio/virtqueues, virtio/ringsize, virtio/broken,
 *                          virtio/extra_state (the transport's "virtio_mmio"
 *                          or "virtio_pci" description), virtio/started,
 *                          virtio/packed_virtqueues, virtio/disabled; read
 *                          while the next byte is 0x05, by vmstate_subsection_load's
 *                          rules (mig_virtio.c)
 *
 * Unverifiable (result->unverifiable; the caller sizes the blob by the VM
 * description instead): an in-flight virtio-blk request (its size depends
 * on the destination's num-queues and on the host's struct layout), a
 * device part other than those above, a transport the idstr does not name,
 * and a PCI capability list that cannot be walked.  Not modelled: what
 * needs the destination's own values (the PCI config space's read-only
 * bits, the device's config size, host features against guest features)
 * or guest RAM (the vring index checks after the subsections).
 */
#ifndef MIG_VIRTIO_H
#define MIG_VIRTIO_H

#include "sim_base.h"
#include "mig_err.h"

#define MIG_VIRTIO_QUEUE_MAX 1024u     /* QEMU's VIRTIO_QUEUE_MAX (include/hw/virtio/virtio.h) */

enum mig_virtio_transport {
  MIG_VIRTIO_TRANSPORT_UNKNOWN = 0,
  MIG_VIRTIO_TRANSPORT_MMIO,           /* virtio-mmio (microvm) */
  MIG_VIRTIO_TRANSPORT_PCI,            /* virtio-pci */
};

struct mig_virtio_blob {
  const uint8_t *payload;              /* the section payload */
  uint64_t payload_bytes;              /* its byte count: the section footer follows */
  uint64_t start;                      /* payload index where the blob begins, <= payload_bytes */
  uint64_t payload_offset;             /* stream offset of payload[0], for errors */
  const char *idstr;                   /* the section's, for error paths */
  const char *device;                  /* the device's VMSD name, e.g. "virtio-blk" */
  enum mig_virtio_transport transport;
};

struct mig_virtio_result {
  uint64_t end;                        /* payload index where virtio_load stops */
  bool unverifiable;                   /* the reader stopped at `stop`: end is not known */
  uint64_t stop;                       /* payload index of the part it cannot size */
  char why[128];                       /* what that part is */
};

/*
 * The transport a section's idstr names: "virtio-mmio@…/" is virtio-mmio,
 * a PCI address "DDDD:BB:SS.F/" (with bridges ":SS.F" more) is virtio-pci.
 */
enum mig_virtio_transport mig_virtio_transport_from_idstr(const char *idstr);

/*
 * Reads blob->payload[start, payload_bytes) as virtio_load does.  MIG_OK
 * with *result (end, or unverifiable and where), or the refusal in *error
 * (code, stream offset, "idstr/..." path, detail): MIG_ERR_SUBSECTION for a
 * subsection name QEMU does not know under a known prefix (its -ENOENT),
 * MIG_ERR_SECTION_VERSION for a subsection version out of range,
 * MIG_ERR_BAD_VALUE for a value virtio_load refuses, MIG_ERR_FOOTER for a
 * read past payload_bytes (the footer's bytes).  Never reads outside
 * payload[0, payload_bytes).
 */
enum mig_err mig_virtio_blob_parse(const struct mig_virtio_blob *blob,
                                   struct mig_virtio_result *result, struct mig_error *error);

#endif /* MIG_VIRTIO_H */
