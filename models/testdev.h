/*
 * testdev.h: a small register device whose state migrates through a vmstate
 * table.
 *
 * It exists to carry every basic field kind through the stream in the
 * walking skeleton: registers of different widths, a signed field, a bool, a
 * buffer, an array, a configuration field that must be equal on both sides,
 * a field added in version 2, and one subsection sent only when a control
 * bit is set.  The guest programs it with 8-byte MMIO writes.
 */
#ifndef TESTDEV_H
#define TESTDEV_H

#include "sim_base.h"
#include "dev.h"
#include "sim.h"
#include "vmstate_desc.h"

#define TESTDEV_CTRL_EXTRA 0x80u /* ctrl bit that makes the "extra" subsection needed */
#define TESTDEV_REGS_COUNT 4      /* MMIO registers 0..3 */

struct testdev {                 /* arena-owned; migrated fields marked (m) */
  uint32_t device_id;            /* (m, must be equal) configuration from the machine */
  uint8_t ctrl;                  /* (m) control register, reg 0 */
  uint16_t status;               /* (m) toggled by reg 1 */
  uint32_t count;                /* (m) MMIO writes seen */
  int32_t level;                 /* (m) signed accumulator, reg 2 */
  bool irq_pending;              /* (m) set every 7th write */
  uint64_t last_write_vm_ns;     /* (m) guest time of the last write */
  uint16_t mode;                 /* (m, version 2) low bits of the last ctrl write */
  uint8_t scratch[16];           /* (m) reg 3 writes one byte */
  uint64_t history[4];           /* (m) last four written values */
  uint64_t extra;                /* (m, subsection testdev/extra) sum while ctrl bit 7 */
  bool quirk_lossy_extra;        /* injected bug: "extra" sent only while ctrl bit 7 */
  struct sim *sim;               /* for traces; not migrated */
};

struct testdev_config {           /* dev_config.props of a "testdev" */
  uint32_t device_id;              /* property device_id: the configuration value */
  bool quirk_lossy_extra;          /* quirk "lossy-extra" (below) */
};

extern const struct vmstate_desc testdev_vmstate;
extern const struct dev_class testdev_class;

static inline struct testdev_config *testdev_props(struct dev_config *config)
{
  return dev_props(config);
}

/*
 * quirk_lossy_extra injects a classic migration bug for the oracles to catch:
 * the subsection's needed() looks at the control bit instead of the state, so
 * an accumulated "extra" is lost when the bit happens to be clear at
 * switchover.
 */
struct testdev *testdev_create(struct sim *sim, uint32_t device_id, bool quirk_lossy_extra);
/* A guest MMIO write of value to register reg at guest time vm_ns. */
void testdev_mmio_write(struct testdev *dev, uint64_t vm_ns, uint32_t reg, uint64_t value);

#endif /* TESTDEV_H */
