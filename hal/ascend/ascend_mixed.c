/* Qiao HAL — ascend-sim: mixed kernels. A group of 1 AIC + 2 AIV (910B's
 * 1:2 mix ratio; ascend-facts.md: vector_core_cnt = 2 x cube_core_cnt) runs
 * one block of a mixed kernel (attention, MoE). The members are ordinary
 * asim_core_t states (the AIC's buffers are L1/L0, the AIVs' the UB) that
 * exchange tiles through GM and synchronise with cross-core flags
 * (CrossCoreSetFlag<2, pipe> / CrossCoreWaitFlag, the intra-group mode of
 * Ascend C's mix kernels).
 *
 * The host runs the members' unit operations in the kernel's program order;
 * each member keeps its own per-pipe timeline, and a cross-core flag carries
 * the setter's completion time (plus kCrossFlagLatency) to the waiter, so
 * the members overlap as far as the flags allow. A wait with no pending set
 * is a deadlock, reported with the waiting core, the flag and the core(s)
 * that should have set it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascend_internal.h"

/* Cycles from a cross-core SetFlag to the waiting core's release [estimate:
 * the hardware sync between cores (ini hardware_sync_betweencore=1) has no
 * published latency; taken as ~12x the intra-core flag latency, a round trip
 * through the core's sync unit; docs/ascend-model.md]. */
static const double kCrossFlagLatency = 100;

typedef struct asim_mix {
  asim_core_t sub[ASIM_MIX_CORES]; /* 0: AIC, 1-2: AIV */
  uint8_t *mem;
  bool used; /* this block called qiao_ascend_mix_core */
  /* pending sets: AIC -> AIV i (to[i]) and AIV i -> AIC (from[i]) */
  int32_t to_n[2][ASIM_CROSS_IDS], from_n[2][ASIM_CROSS_IDS];
  double to_t[2][ASIM_CROSS_IDS][ASIM_CROSS_DEPTH], from_t[2][ASIM_CROSS_IDS][ASIM_CROSS_DEPTH];
} asim_mix_t;

static void member_reset(asim_mix_t *g, const asim_core_t *leader, int64_t block,
                         int64_t block_num) {
  for (int i = 0; i < ASIM_MIX_CORES; ++i) {
    asim_core_t *c = &g->sub[i];
    c->uri = leader->uri;
    c->kernel = leader->kernel;
    c->gm = leader->gm;
    c->n_gm = leader->n_gm;
    c->l2_lines = leader->l2_lines; /* the L2 is shared by all cores */
    c->l2_held = leader->l2_held;
    c->block_num = i == 0 ? block_num : 2 * block_num;
    asim_core_reset(c, i == 0 ? block : 2 * block + (i - 1));
    c->kind = i == 0 ? 2 : 1;
    c->mix = g;
  }
  memset(g->to_n, 0, sizeof g->to_n);
  memset(g->from_n, 0, sizeof g->from_n);
  g->used = false;
}

void asim_mix_reset(asim_core_t *leader, int64_t block, int64_t block_num) {
  if (leader->mix) member_reset(leader->mix, leader, block, block_num);
}

static asim_mix_t *mix_create(asim_core_t *leader) {
  const asim_model_t *m = leader->m;
  asim_mix_t *g = calloc(1, sizeof *g);
  size_t ub = (size_t)m->ub_bytes * 2;
  size_t cube = (size_t)(m->l1_bytes + m->l0a_bytes + m->l0b_bytes + m->l0c_bytes);
  size_t per = ub + cube * 2;
  if (!g || !(g->mem = calloc(per, ASIM_MIX_CORES))) {
    free(g);
    return NULL;
  }
  const int64_t caps[4] = {m->l1_bytes, m->l0a_bytes, m->l0b_bytes, m->l0c_bytes};
  for (int i = 0; i < ASIM_MIX_CORES; ++i) {
    asim_core_t *c = &g->sub[i];
    uint8_t *base = g->mem + per * (size_t)i;
    c->m = m;
    c->ub = base;
    c->ub_w = base + m->ub_bytes;
    c->cube_used = true; /* the first reset clears the marks */
    for (int k = 0, at = 0; k < 4; at += (int)caps[k], ++k) {
      c->cb[k] = base + ub + at;
      c->cb_w[k] = base + ub + cube + at;
    }
  }
  return g;
}

void asim_mix_destroy(asim_core_t *leader) {
  if (!leader->mix) return;
  free(leader->mix->mem);
  free(leader->mix);
  leader->mix = NULL;
}

bool asim_mix_fold(asim_core_t *leader, double *end, double *busy, double *bytes, int64_t *ops) {
  asim_mix_t *g = leader->mix;
  if (!g || !g->used) return false;
  for (int i = 0; i < ASIM_MIX_CORES; ++i) {
    const asim_core_t *c = &g->sub[i];
    if (c->failed && !leader->failed) {
      leader->failed = true;
      snprintf(leader->err, sizeof leader->err, "%s", c->err);
    }
    double e = asim_core_end(c);
    if (e > *end) *end = e;
    for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT; ++p)
      busy[p] += c->busy[p];
    for (int k = 0; k < QIAO_ASCEND_PATH_COUNT; ++k)
      bytes[k] += c->bytes[k];
    *ops += c->ops;
    leader->hbm_read += c->hbm_read; /* the dispatch sums the leader's */
  }
  return true;
}

void *qiao_ascend_mix_core(void *core, int64_t which) {
  asim_core_t *c = core;
  if (!c->mix) {
    c->mix = mix_create(c);
    if (!c->mix) {
      if (asim_op_begin(c)) asim_fail(c, "GetSubBlock (mix)", "host", "out of memory");
      return c;
    }
    member_reset(c->mix, c, c->block, c->block_num);
  }
  asim_mix_t *g = c->mix;
  g->used = true;
  if (which < 0 || which >= ASIM_MIX_CORES) {
    /* the AIC records the violation; later ops of every member still run
     * but the fold reports the first failure */
    if (asim_op_begin(&g->sub[0]))
      asim_fail(&g->sub[0], "GetSubBlock (mix)", "unit",
                "a mix group has members 0 (AIC), 1 and 2 (AIV); another was asked for");
    return &g->sub[0];
  }
  return &g->sub[which];
}

/* The member index of c in its group, -1 when c is no member. */
static int member_of(const asim_core_t *c) {
  if (!c->mix) return -1;
  for (int i = 0; i < ASIM_MIX_CORES; ++i)
    if (&c->mix->sub[i] == c) return i;
  return -1;
}

static bool cross_checks(asim_core_t *c, const char *op, int64_t id, int *who) {
  if (!asim_op_begin(c)) return false;
  *who = member_of(c);
  if (*who < 0)
    return asim_fail(c, op, "unit",
                     "cross-core flags belong to the members of a mix group "
                     "(qiao_ascend_mix_core), not to a lone core");
  if (id < 0 || id >= ASIM_CROSS_IDS) {
    char msg[96];
    snprintf(msg, sizeof msg, "cross-core flag id %lld is outside 0..%d", (long long)id,
             ASIM_CROSS_IDS - 1);
    return asim_fail(c, op, "flag", msg);
  }
  return true;
}

static bool push(asim_core_t *c, const char *op, int32_t *n, double *t, double when) {
  if (*n >= ASIM_CROSS_DEPTH)
    return asim_fail(c, op, "flag",
                     "cross-core flag set 16 times without a CrossCoreWaitFlag on the other core");
  t[(*n)++] = when;
  return true;
}

static double pop(int32_t *n, double *t) {
  double v = t[0];
  memmove(t, t + 1, sizeof(double) * (size_t)(--*n));
  return v;
}

void qiao_ascend_cross_set_flag(void *core, int64_t pipe, int64_t id) {
  asim_core_t *c = core;
  const char *op = "CrossCoreSetFlag";
  int who;
  if (!cross_checks(c, op, id, &who)) return;
  if (pipe < 0 || pipe >= QIAO_ASCEND_PIPE_COUNT)
    return (void)asim_fail(c, op, "pipe", "unknown pipe");
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
  double when = c->done[pipe] > c->s ? c->done[pipe] : c->s;
  asim_mix_t *g = c->mix;
  if (who == 0) {
    for (int i = 0; i < 2; ++i)
      if (!push(c, op, &g->to_n[i][id], g->to_t[i][id], when)) return;
  } else {
    push(c, op, &g->from_n[who - 1][id], g->from_t[who - 1][id], when);
  }
}

void qiao_ascend_cross_wait_flag(void *core, int64_t id) {
  asim_core_t *c = core;
  const char *op = "CrossCoreWaitFlag";
  int who;
  if (!cross_checks(c, op, id, &who)) return;
  asim_mix_t *g = c->mix;
  double t = 0;
  char msg[256];
  if (who == 0) {
    for (int i = 0; i < 2; ++i)
      if (g->from_n[i][id] == 0) {
        snprintf(msg, sizeof msg,
                 "the AIC waits on cross-core flag %lld that AIV %d of its group never set "
                 "(no earlier CrossCoreSetFlag<2>(%lld) on it): the cores would wait forever",
                 (long long)id, i + 1, (long long)id);
        return (void)asim_fail(c, op, "deadlock", msg);
      }
    for (int i = 0; i < 2; ++i) {
      double v = pop(&g->from_n[i][id], g->from_t[i][id]);
      if (v > t) t = v;
    }
  } else {
    if (g->to_n[who - 1][id] == 0) {
      snprintf(msg, sizeof msg,
               "AIV %d waits on cross-core flag %lld that the AIC of its group never set "
               "(no earlier CrossCoreSetFlag<2>(%lld) on it): the cores would wait forever",
               who, (long long)id, (long long)id);
      return (void)asim_fail(c, op, "deadlock", msg);
    }
    t = pop(&g->to_n[who - 1][id], g->to_t[who - 1][id]);
  }
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
  t += kCrossFlagLatency;
  if (t > c->s) c->s = t; /* the core issues nothing until the flag arrives */
}

void qiao_ascend_vdup_masked(void *core, int64_t dt, int64_t dst, double value, int64_t n,
                             int64_t lo, int64_t hi) {
  asim_core_t *c = core;
  if (!asim_vec_dst(c, "Duplicate (bit mask)", dt, dst, n)) return;
  if (lo < 0) lo = 0;
  if (hi > n) hi = n;
  for (int64_t i = lo; i < hi; ++i)
    asim_vec_store(c, dt, dst, i, value);
}

void qiao_ascend_vreduce_max_idx(void *core, int64_t dst, int64_t src, int64_t n) {
  asim_core_t *c = core;
  const char *op = "ReduceMax (calIndex)";
  /* checks and timing as a pass over the source; the result is 2 elements */
  if (!asim_vec_src(c, op, QIAO_ASCEND_F32, src, n) ||
      !asim_vec_dst(c, op, QIAO_ASCEND_F32, dst, 2))
    return;
  double best = -INFINITY;
  int64_t at = 0;
  for (int64_t i = 0; i < n; ++i) {
    float v;
    memcpy(&v, c->ub + src + 4 * i, 4);
    if (isnan(v)) { /* NaN first (the first one) */
      best = v;
      at = i;
      break;
    }
    if (v > best) {
      best = v;
      at = i;
    }
  }
  asim_vec_store(c, QIAO_ASCEND_F32, dst, 0, best);
  uint32_t bits = (uint32_t)at;
  memcpy(c->ub + dst + 4, &bits, 4);
  memset(c->ub_w + dst + 4, 1, 4);
}

int64_t qiao_ascend_get_ub_bits32(void *core, int64_t off) {
  asim_core_t *c = core;
  const char *op = "GetValue (UB, scalar)";
  if (!asim_op_begin(c)) return 0;
  if (off < 0 || off % 4 || off > c->m->ub_bytes - 4) {
    asim_fail(c, op, "alignment", "a scalar UB read needs a 4-byte aligned offset inside the UB");
    return 0;
  }
  if (c->kind == 2) {
    asim_fail(c, op, "unit", "the UB belongs to an AIV");
    return 0;
  }
  for (int i = 0; i < 4; ++i)
    if (!c->ub_w[off + i]) {
      asim_fail(c, op, "uninitialized read", "the scalar read a UB word never written");
      return 0;
    }
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
  uint32_t v;
  memcpy(&v, c->ub + off, 4);
  return (int64_t)v;
}
