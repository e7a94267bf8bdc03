/*
 * mig_wire.c: lookups generated from the wire tables of mig_wire.h (names
 * and length rules of commands, return-path messages and record types).
 */
#include "sim_base.h"

#include "mig_wire.h"

struct wire_rule {
  const char *name;
  enum mig_length_rule rule;
  uint32_t value;
};

static const struct wire_rule commands[] = {
#define WIRE_COMMAND(name, code, rule, value) [code] = {#name, rule, value},
  MIG_COMMAND_MAP(WIRE_COMMAND)
#undef WIRE_COMMAND
};
static const struct wire_rule rp_messages[] = {
#define WIRE_RP(name, type, rule, value) [type] = {#name, rule, value},
  MIG_RP_MAP(WIRE_RP)
#undef WIRE_RP
};
static const char *const section_names[] = {
#define WIRE_SECTION(name, value) [value] = #name,
  MIG_SECTION_MAP(WIRE_SECTION)
#undef WIRE_SECTION
};

_Static_assert(SIM_ARRAY_COUNT(commands) == MIG_COMMANDS_COUNT, "a rule per command");
_Static_assert(SIM_ARRAY_COUNT(rp_messages) == MIG_RP_TYPE_MAX_10, "a rule per message");

const char *mig_wire_command_name(uint32_t code)
{
  return code < SIM_ARRAY_COUNT(commands) ? commands[code].name : "?";
}

const char *mig_wire_rp_name(uint32_t type)
{
  return type < SIM_ARRAY_COUNT(rp_messages) ? rp_messages[type].name : "?";
}

const char *mig_wire_section_name(uint32_t type)
{
  bool known = type < SIM_ARRAY_COUNT(section_names) && section_names[type] != NULL;
  return known ? section_names[type] : "?";
}

void mig_wire_command_rule(uint32_t code, enum mig_length_rule *rule, uint32_t *value)
{
  bool known = code < SIM_ARRAY_COUNT(commands);
  *rule = known ? commands[code].rule : MIG_LENGTH_NEVER;
  *value = known ? commands[code].value : 0;
}

void mig_wire_rp_rule(uint32_t type, enum mig_length_rule *rule, uint32_t *value)
{
  bool known = type < SIM_ARRAY_COUNT(rp_messages);
  *rule = known ? rp_messages[type].rule : MIG_LENGTH_NEVER;
  *value = known ? rp_messages[type].value : 0;
}

bool mig_wire_length_ok(enum mig_length_rule rule, uint32_t value, uint32_t length,
                        const uint8_t *payload)
{
  switch (rule) {
  case MIG_LENGTH_NEVER: return false;
  case MIG_LENGTH_FIXED: return length == value;
  case MIG_LENGTH_MIN: return length >= value;
  case MIG_LENGTH_ADVISE: return length == 0 || length == value;
  case MIG_LENGTH_COUNTED:
    if (length <= value) return false;
    SIM_ASSERT(payload != NULL);
    return length == value + 1u + payload[value];
  }
  SIM_ASSERT(!"unknown length rule");
  return false;
}

bool mig_wire_capability_known_7_2(const uint8_t *name, size_t length)
{
  static const char *const known[] = {
#define WIRE_CAPABILITY(text) text,
    MIG_CAPABILITY_MAP_7_2(WIRE_CAPABILITY)
#undef WIRE_CAPABILITY
  };
  for (size_t i = 0; i < SIM_ARRAY_COUNT(known); i++) {
    if (strlen(known[i]) == length && memcmp(known[i], name, length) == 0) return true;
  }
  return false;
}

const char *mig_multifd_compression_name(enum mig_multifd_compression compression)
{
  switch (compression) {
#define MIG_MULTIFD_COMPRESSION_NAME(name, text, flag) \
  case MIG_MULTIFD_COMPRESSION_##name: return text;
    MIG_MULTIFD_COMPRESSION_MAP(MIG_MULTIFD_COMPRESSION_NAME)
#undef MIG_MULTIFD_COMPRESSION_NAME
  }
  return "?";
}

uint32_t mig_multifd_compression_flag(enum mig_multifd_compression compression)
{
  switch (compression) {
#define MIG_MULTIFD_COMPRESSION_FLAG(name, text, flag) \
  case MIG_MULTIFD_COMPRESSION_##name: return flag;
    MIG_MULTIFD_COMPRESSION_MAP(MIG_MULTIFD_COMPRESSION_FLAG)
#undef MIG_MULTIFD_COMPRESSION_FLAG
  }
  return 0;
}

const char *mig_postcopy_state_name(enum mig_postcopy_state state)
{
  switch (state) {
#define MIG_POSTCOPY_STATE_CASE(name, text) case MIG_POSTCOPY_##name: return text;
    MIG_POSTCOPY_STATE_MAP(MIG_POSTCOPY_STATE_CASE)
#undef MIG_POSTCOPY_STATE_CASE
  }
  return "?";
}

bool mig_postcopy_state_step(enum mig_postcopy_state *state, uint32_t command)
{
  enum mig_postcopy_state next = *state;
  bool ok = true;
  switch (command) {
  case MIG_CMD_POSTCOPY_ADVISE:
    ok = *state == MIG_POSTCOPY_NONE;
    next = MIG_POSTCOPY_ADVISE;
    break;
  case MIG_CMD_POSTCOPY_RAM_DISCARD:
  case MIG_CMD_POSTCOPY_LISTEN:
    ok = *state == MIG_POSTCOPY_ADVISE || *state == MIG_POSTCOPY_DISCARD;
    next = command == MIG_CMD_POSTCOPY_LISTEN ? MIG_POSTCOPY_LISTENING : MIG_POSTCOPY_DISCARD;
    break;
  case MIG_CMD_POSTCOPY_RUN:
    ok = *state == MIG_POSTCOPY_LISTENING;
    next = MIG_POSTCOPY_RUNNING;
    break;
  default: break;
  }
  if (ok) *state = next;
  return ok;
}
