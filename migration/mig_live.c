/*
 * mig_live.c: the set of live-section handlers of one migration (contract
 * in mig_live.h).  Handlers run in the order of the devices in the machine
 * configuration, on both sides, so section ids and stream order are fixed
 * by the configuration alone.
 */
#include "sim_base.h"

#include "mig_live.h"
#include "mig_vfio.h"

_Static_assert(MIG_LOAD_LIVES_MAX >= DEV_LIVES_MAX, "the set takes every live section");

/* One handler; from or to may be NULL (the section is on one side only). */
static void live_add(struct mig_live_set *set, struct sim *sim, const struct dev_live *from,
                     const struct dev_live *to, uint32_t section_id,
                     const struct mig_live_params *params)
{
  SIM_ASSERT(set->count < SIM_ARRAY_COUNT(set->handlers));
  SIM_ASSERT(to == NULL || set->load_count < MIG_LOAD_LIVES_MAX);
  /* Every dev_live_ops today describes VFIO-shaped data: the vfio handler serves it. */
  mig_vfio_live_create(sim, from, to, section_id, set->load_count, params->switchover_ack,
                       &params->hooks,
                       &set->handlers[set->count], to != NULL ? &set->loads[set->load_count]
                                                              : NULL);
  set->count++;
  set->load_count += to != NULL;
  set->paired_count += from != NULL && to != NULL;
}

void mig_live_set_init(struct mig_live_set *set, struct sim *sim, struct machine *source,
                       struct machine *dest, const struct mig_live_params *params)
{
  uint32_t source_count = machine_live_count(source), dest_count = machine_live_count(dest);
  SIM_ASSERT(source_count <= MIG_LOAD_LIVES_MAX && dest_count <= MIG_LOAD_LIVES_MAX);
  memset(set, 0, sizeof(*set));
  bool taken[MIG_LOAD_LIVES_MAX] = {false};
  for (uint32_t i = 0; i < source_count; i++) {
    struct dev_live from = machine_live(source, i), to = {0};
    uint32_t j = 0;
    while (j < dest_count) {
      to = machine_live(dest, j);
      if (!taken[j] && strcmp(from.path, to.path) == 0 && from.ops == to.ops) break;
      j++;
    }
    if (j < dest_count) taken[j] = true;
    live_add(set, sim, &from, j < dest_count ? &to : NULL, params->section_base + i, params);
  }
  for (uint32_t j = 0; j < dest_count; j++) {
    if (taken[j]) continue;
    struct dev_live to = machine_live(dest, j);
    live_add(set, sim, NULL, &to, 0, params);
  }
}

uint32_t mig_live_set_count(const struct mig_live_set *set) { return set->count; }

uint32_t mig_live_set_load_count(const struct mig_live_set *set) { return set->load_count; }

uint32_t mig_live_set_paired_count(const struct mig_live_set *set)
{
  return set->paired_count;
}

const struct mig_load_live *mig_live_set_loads(const struct mig_live_set *set)
{
  return set->loads;
}

void mig_live_set_save_setup(struct mig_live_set *set, struct mig_writer *writer)
{
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    set->handlers[i].ops->save_setup(set->handlers[i].source, writer);
  }
}

uint64_t mig_live_set_save_pending(const struct mig_live_set *set)
{
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    bytes += set->handlers[i].ops->save_pending(set->handlers[i].source);
  }
  return bytes;
}

uint32_t mig_live_set_save_iterate(struct mig_live_set *set, struct mig_writer *writer,
                                   uint64_t pages_max)
{
  uint32_t sections = 0;
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    set->handlers[i].ops->save_iterate(set->handlers[i].source, writer, pages_max);
    sections++;
  }
  return sections;
}

void mig_live_set_save_complete(struct mig_live_set *set, struct mig_writer *writer)
{
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    set->handlers[i].ops->save_complete(set->handlers[i].source, writer);
  }
}

void mig_live_set_save_state(struct mig_live_set *set, struct mig_writer *writer,
                             json_t *devices_json)
{
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    set->handlers[i].ops->save_state(set->handlers[i].source, writer, devices_json);
  }
}

void mig_live_set_save_cleanup(struct mig_live_set *set)
{
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_ops *ops = set->handlers[i].ops;
    if (ops->save_cleanup != NULL && set->handlers[i].source != NULL) {
      ops->save_cleanup(set->handlers[i].source);
    }
  }
}

void mig_live_set_load_cleanup(struct mig_live_set *set)
{
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_ops *ops = set->handlers[i].ops;
    if (ops->load_cleanup != NULL && set->handlers[i].dest != NULL) {
      ops->load_cleanup(set->handlers[i].dest);
    }
  }
}

uint32_t mig_live_set_load_acks_count(const struct mig_live_set *set)
{
  uint32_t count = 0;
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_handler *handler = &set->handlers[i];
    /* A destination-only section never gets data, so it never approves. */
    if (handler->source == NULL || handler->dest == NULL) continue;
    count += handler->ops->load_wants_ack(handler->dest);
  }
  return count;
}

uint64_t mig_live_set_load_resume_ns(const struct mig_live_set *set)
{
  uint64_t resume_ns = 0;
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_handler *handler = &set->handlers[i];
    if (handler->dest == NULL || handler->ops->load_resume_ns == NULL) continue;
    resume_ns = SIM_MAX(resume_ns, handler->ops->load_resume_ns(handler->dest));
  }
  return resume_ns;
}

bool mig_live_set_wants_ack(const struct mig_live_set *set)
{
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_handler *handler = &set->handlers[i];
    if (handler->source != NULL && handler->ops->save_wants_ack(handler->source)) return true;
  }
  return false;
}

uint64_t mig_live_set_sent_bytes(const struct mig_live_set *set)
{
  uint64_t bytes = 0;
  for (uint32_t i = 0; i < set->count; i++) {
    if (set->handlers[i].source == NULL) continue;
    bytes += set->handlers[i].ops->save_sent_bytes(set->handlers[i].source);
  }
  return bytes;
}

uint32_t mig_live_set_cpr_check(const struct mig_live_set *set, struct mig_error *error)
{
  for (uint32_t i = 0; i < set->count; i++) {
    const struct mig_live_handler *handler = &set->handlers[i];
    if (handler->source != NULL && !handler->ops->cpr_check(handler->source, error)) return i;
  }
  return set->count;
}

void mig_live_set_cpr_hand_over(struct mig_live_set *set, uint32_t index)
{
  SIM_ASSERT(index < set->count);
  const struct mig_live_handler *handler = &set->handlers[index];
  if (handler->dest == NULL || handler->source == NULL) return; /* nothing to hand over */
  handler->ops->cpr_hand_over(handler->dest, handler->source);
}
