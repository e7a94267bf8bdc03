/*
 * sim_err.c: names and messages of the sim/ layer's error codes.
 *
 * Both tables are generated from SIM_ERR_MAP in sim_err.h (STYLE R8), so a new
 * code cannot be added without its name and message.  Values outside the enum
 * are a caller's bug, but a lookup used while reporting another failure must
 * not crash, so they map to a fixed "unknown" string.
 */
#include "sim_base.h"
#include "sim_err.h"

static const char *const err_names[SIM_ERR_COUNT] = {
  [SIM_OK] = "SIM_OK",
#define SIM_ERR_NAME(name, message) [SIM_ERR_##name] = "SIM_ERR_" #name,
  SIM_ERR_MAP(SIM_ERR_NAME)
#undef SIM_ERR_NAME
};

static const char *const err_messages[SIM_ERR_COUNT] = {
  [SIM_OK] = "success",
#define SIM_ERR_MESSAGE(name, message) [SIM_ERR_##name] = message,
  SIM_ERR_MAP(SIM_ERR_MESSAGE)
#undef SIM_ERR_MESSAGE
};

const char *sim_err_name(enum sim_err err)
{
  if ((unsigned)err >= SIM_ERR_COUNT) return "SIM_ERR_UNKNOWN";
  SIM_ASSERT(err_names[err] != NULL);
  return err_names[err];
}

const char *sim_err_message(enum sim_err err)
{
  if ((unsigned)err >= SIM_ERR_COUNT) return "unknown error";
  SIM_ASSERT(err_messages[err] != NULL);
  return err_messages[err];
}
