/*
 * sim_err.h: the sim/ layer's error codes, generated from one X-macro list
 * (STYLE R8).  Zero is success.
 */
#ifndef SIM_ERR_H
#define SIM_ERR_H

#include "sim_base.h"

#define SIM_ERR_MAP(X) \
  X(NOMEM, "arena exhausted") \
  X(QUEUE_FULL, "event queue full") \
  X(EVENTS_MAX, "events_max reached") \
  X(TIME_MAX, "time_ns_max reached") \
  X(INVALID, "invalid argument") \
  X(THREAD, "thread could not be created")

enum sim_err {
  SIM_OK = 0,
#define SIM_ERR_ENUM(name, message) SIM_ERR_##name,
  SIM_ERR_MAP(SIM_ERR_ENUM)
#undef SIM_ERR_ENUM
  SIM_ERR_COUNT
};

const char *sim_err_name(enum sim_err err);
const char *sim_err_message(enum sim_err err);

#endif /* SIM_ERR_H */
