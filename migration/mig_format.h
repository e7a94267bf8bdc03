/*
 * mig_format.h: kept for files outside migration/ that still include it;
 * the wire tables live in mig_wire.h.
 */
#ifndef MIG_FORMAT_H
#define MIG_FORMAT_H

#include "mig_wire.h"

#endif /* MIG_FORMAT_H */
