/*
 * sim_queue_test.c: the event queue (sim_queue.h) against a brute-force
 * reference model, over random interleavings of push, re-arm, cancel, peek
 * and pop, with times spread over every level of the wheel.
 */
#include "sim_base.h"

#include "sim_check.h"
#include "sim_prng.h"
#include "sim_queue.h"

enum { MODEL_EVENTS = 1500, MODEL_OPS = 12000 };

/* The reference: armed events by index, minimum found by a linear scan. */
struct queue_model {
  struct sim_queue queue;
  struct sim_event events[MODEL_EVENTS];
  uint64_t times_ns[MODEL_EVENTS];
  uint64_t seqs[MODEL_EVENTS];   /* 0 when not armed */
  uint64_t live_count;
  uint64_t next_seq;
  uint64_t now_ns;               /* time of the last pop: pushes never go earlier */
};

static uint32_t model_min(const struct queue_model *model)
{
  uint32_t best = MODEL_EVENTS;
  for (uint32_t i = 0; i < MODEL_EVENTS; i++) {
    if (model->seqs[i] == 0) continue;
    if (best == MODEL_EVENTS || model->times_ns[i] < model->times_ns[best] ||
        (model->times_ns[i] == model->times_ns[best] && model->seqs[i] < model->seqs[best])) {
      best = i;
    }
  }
  return best;
}

/* A delay from one of several scales, clipped so now + delay cannot overflow. */
static uint64_t model_delay(struct queue_model *model, struct sim_prng *prng)
{
  static const uint64_t spans[] = {1, 2, 255, 256, 257, 4095, 4096, 4097, 65536,
                                   UINT64_C(1) << 20, UINT64_C(1) << 24,
                                   UINT64_C(1) << 33, UINT64_C(1) << 50};
  uint64_t span = spans[sim_prng_below(prng, SIM_ARRAY_COUNT(spans))];
  uint64_t room = UINT64_MAX - model->now_ns;
  return span > room ? sim_prng_range(prng, 0, room) : sim_prng_below(prng, span);
}

static void model_push(struct queue_model *model, uint32_t index, uint64_t time_ns)
{
  if (model->seqs[index] == 0) model->live_count++;
  sim_queue_push(&model->queue, &model->events[index], time_ns, model->next_seq);
  model->times_ns[index] = time_ns;
  model->seqs[index] = model->next_seq++;
  ck_assert_uint_eq(model->events[index].seq, model->seqs[index]);
}

static void model_pop_check(struct queue_model *model, bool remove)
{
  uint32_t best = model_min(model);
  struct sim_event *peeked = sim_queue_peek(&model->queue);
  if (best == MODEL_EVENTS) {
    ck_assert_ptr_null(peeked);
    ck_assert_ptr_null(sim_queue_pop(&model->queue));
    return;
  }
  ck_assert_ptr_eq(peeked, &model->events[best]);
  if (!remove) return;
  ck_assert_ptr_eq(sim_queue_pop(&model->queue), &model->events[best]);
  ck_assert_uint_eq(model->events[best].seq, 0);
  ck_assert_uint_eq(model->events[best].time_ns, model->times_ns[best]);
  model->now_ns = model->times_ns[best];
  model->seqs[best] = 0;
  model->live_count--;
}

static void model_run(uint64_t seed, uint64_t start_ns)
{
  static struct queue_model model;
  memset(&model, 0, sizeof(model));
  sim_queue_init(&model.queue);
  model.next_seq = 1;
  model.now_ns = start_ns;
  struct sim_prng prng;
  sim_prng_init(&prng, seed);
  for (uint32_t op = 0; op < MODEL_OPS; op++) {
    uint32_t index = (uint32_t)sim_prng_below(&prng, MODEL_EVENTS);
    uint64_t choice = sim_prng_below(&prng, 100);
    if (choice < 45) {
      model_push(&model, index, model.now_ns + model_delay(&model, &prng));
    } else if (choice < 55) {
      if (model.seqs[index] != 0) model.live_count--;
      sim_queue_cancel(&model.queue, &model.events[index]);
      model.seqs[index] = 0;
      ck_assert_uint_eq(model.events[index].seq, 0);
    } else {
      model_pop_check(&model, choice >= 60);
    }
    ck_assert_uint_eq(sim_queue_count(&model.queue), model.live_count);
  }
  while (model.live_count > 0) model_pop_check(&model, true);
  ck_assert_ptr_null(sim_queue_pop(&model.queue));
}

START_TEST(sim_queue_random_ops_match_reference)
{
  /* Seeded random push/re-arm/cancel/peek/pop sequences pop exactly the reference's order. */
  uint64_t seed = UINT64_C(1000) + (uint64_t)_i;
  model_run(seed, sim_splitmix64(&seed) % 100000);
}
END_TEST

START_TEST(sim_queue_random_ops_near_time_max)
{
  /* The same, with the clock within 2^52 ns of UINT64_MAX, where the top wheel level is used. */
  uint64_t seed = UINT64_C(2000) + (uint64_t)_i;
  model_run(seed, UINT64_MAX - (UINT64_C(1) << 52));
}
END_TEST

START_TEST(sim_queue_equal_times_pop_in_seq_order)
{
  /* Events pushed at one time, in shuffled index order, pop in seq order, not index order. */
  static struct sim_queue queue;
  static struct sim_event events[600];
  sim_queue_init(&queue);
  for (uint32_t i = 0; i < 600; i++) sim_queue_push(&queue, &events[(i * 7) % 600], 5000, i + 1);
  for (uint32_t i = 0; i < 600; i++) {
    ck_assert_ptr_eq(sim_queue_pop(&queue), &events[(i * 7) % 600]);
  }
  ck_assert_uint_eq(sim_queue_count(&queue), 0);
}
END_TEST

START_TEST(sim_queue_cancel_and_rearm)
{
  /* Cancelling an unarmed event is a no-op; a cancelled event can be armed again, later. */
  static struct sim_queue queue;
  struct sim_event a = {0}, b = {0};
  sim_queue_init(&queue);
  sim_queue_cancel(&queue, &a);
  ck_assert_uint_eq(sim_queue_count(&queue), 0);
  sim_queue_push(&queue, &a, 10, 1);
  sim_queue_push(&queue, &b, 20, 2);
  sim_queue_cancel(&queue, &a);
  ck_assert_uint_eq(a.seq, 0);
  ck_assert_uint_eq(sim_queue_count(&queue), 1);
  ck_assert_ptr_eq(sim_queue_peek(&queue), &b);
  sim_queue_push(&queue, &a, 30, 3);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &b);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &a);
  ck_assert_ptr_null(sim_queue_peek(&queue));
}
END_TEST

START_TEST(sim_queue_peek_moves_nothing)
{
  /* Repeated peeks return the same event and leave the count alone. */
  static struct sim_queue queue;
  struct sim_event a = {0}, b = {0};
  sim_queue_init(&queue);
  sim_queue_push(&queue, &a, UINT64_C(1) << 40, 1);
  sim_queue_push(&queue, &b, UINT64_C(1) << 20, 2);
  for (int i = 0; i < 3; i++) ck_assert_ptr_eq(sim_queue_peek(&queue), &b);
  ck_assert_uint_eq(sim_queue_count(&queue), 2);
  ck_assert_uint_eq(b.seq, 2);
}
END_TEST

START_TEST(sim_queue_cancel_head_after_pops)
{
  /* After pops the new head's prev is stale: cancelling that head, then the tail, stays exact. */
  static struct sim_queue queue;
  static struct sim_event events[5];
  sim_queue_init(&queue);
  for (uint32_t i = 0; i < 5; i++) sim_queue_push(&queue, &events[i], 100, i + 1);
  ck_assert_ptr_eq(sim_queue_pop(&queue), &events[0]);
  sim_queue_cancel(&queue, &events[1]);           /* the head, its prev left stale */
  sim_queue_cancel(&queue, &events[4]);           /* the tail */
  ck_assert_ptr_eq(sim_queue_pop(&queue), &events[2]);
  sim_queue_push(&queue, &events[1], 100, 6);     /* appended behind events[3] */
  sim_queue_cancel(&queue, &events[3]);           /* head again, with a live successor */
  ck_assert_ptr_eq(sim_queue_pop(&queue), &events[1]);
  ck_assert_ptr_null(sim_queue_pop(&queue));
  ck_assert_uint_eq(sim_queue_count(&queue), 0);
}
END_TEST

START_TEST(sim_queue_upper_slot_minimum_after_cancel)
{
  /* One upper slot holding several times: peek finds its earliest, also after that one left. */
  static struct sim_queue queue;
  static struct sim_event events[4];
  const uint64_t base = UINT64_C(1) << 30;        /* far above level 0 */
  sim_queue_init(&queue);
  sim_queue_push(&queue, &events[0], base + 900, 1);
  sim_queue_push(&queue, &events[1], base + 300, 2); /* later seq, earlier time */
  sim_queue_push(&queue, &events[2], base + 300, 3); /* same time, later seq: not the minimum */
  sim_queue_push(&queue, &events[3], base + 600, 4);
  ck_assert_ptr_eq(sim_queue_peek(&queue), &events[1]);
  sim_queue_cancel(&queue, &events[1]);
  ck_assert_ptr_eq(sim_queue_peek(&queue), &events[2]); /* found by a walk */
  sim_queue_cancel(&queue, &events[2]);
  sim_queue_push(&queue, &events[1], base + 700, 5);
  ck_assert_ptr_eq(sim_queue_peek(&queue), &events[3]);
  static const uint32_t order[] = {3, 1, 0};
  for (uint32_t i = 0; i < 3; i++) ck_assert_ptr_eq(sim_queue_pop(&queue), &events[order[i]]);
  ck_assert_ptr_null(sim_queue_peek(&queue));
}
END_TEST

Suite *sim_queue_suite(void)
{
  Suite *suite = suite_create("sim_queue");
  TCase *core = tcase_create("core");
  tcase_add_test(core, sim_queue_equal_times_pop_in_seq_order);
  tcase_add_test(core, sim_queue_cancel_and_rearm);
  tcase_add_test(core, sim_queue_peek_moves_nothing);
  tcase_add_test(core, sim_queue_cancel_head_after_pops);
  tcase_add_test(core, sim_queue_upper_slot_minimum_after_cancel);
  suite_add_tcase(suite, core);
  TCase *model = tcase_create("model");
  tcase_set_timeout(model, 60);
  tcase_add_loop_test(model, sim_queue_random_ops_match_reference, 0, 6);
  tcase_add_loop_test(model, sim_queue_random_ops_near_time_max, 0, 3);
  suite_add_tcase(suite, model);
  return suite;
}
