/* Random graphs: DAGs of elementwise ops (with broadcasting), matmuls,
 * norms, softmax and reductions, with values reused several times and
 * random outputs — every fusion decision (inlining, anchors, prologues,
 * multi-use materialization, budgets) meets cases nobody wrote by hand.
 * Each graph runs on the CPU and on the reference interpreter. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "support/oracle.h"

#define M 5
#define N 24

typedef struct rng {
  uint64_t s;
} rng_t;

static uint32_t next(rng_t *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return (uint32_t)(r->s >> 11);
}

static qiao_type_t type2(qiao_dtype_t dt, int64_t a, int64_t b) {
  qiao_type_t t = {dt, {2, {a, b}}};
  return t;
}

/* A fresh value name when the graph is built with names, else NULL (the
 * printer then invents %tN names). */
static const char *vname(bool named, char (*buf)[16], int *k) {
  if (!named) return NULL;
  snprintf(buf[*k % 4], sizeof buf[0], "v%d", *k);
  return buf[(*k)++ % 4];
}

/* Builds one random graph; every value in `pool` is f32[M, N]. Odd seeds name
 * every value, even seeds leave the built values anonymous. */
static qiao_graph_t *random_graph(uint64_t seed) {
  bool named = seed & 1;
  char names[4][16];
  int k = 0;
  rng_t r = {seed * 0x9E3779B97F4A7C15ull + 1};
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("rand", &g));
  int32_t pool[64];
  int32_t n = 0;
  qiao_status_t st = NULL;
  int32_t x;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", type2(QIAO_F32, M, N), &x));
  pool[n++] = x;
  int32_t y;
  cr_assert_null(qiao_ir_graph_add_input(g, "y", type2(QIAO_F32, M, N), &y));
  pool[n++] = y;
  qiao_type_t row = {QIAO_F32, {1, {N}}};
  qiao_type_t col = type2(QIAO_F32, M, 1);
  int32_t b_row = qiao_ir_build_param(g, "b_row", row, "b_row", &st);
  cr_assert_null(st);
  int32_t b_col = qiao_ir_build_param(g, "b_col", col, "b_col", &st);
  cr_assert_null(st);
  int32_t gamma = qiao_ir_build_param(g, "gamma", row, "gamma", &st);
  cr_assert_null(st);
  int32_t w = qiao_ir_build_param(g, "w", type2(QIAO_F32, N, N), "w", &st);
  cr_assert_null(st);

  static const qiao_op_kind_t unary[] = {QIAO_OP_NEG, QIAO_OP_TANH, QIAO_OP_SIGMOID,
                                         QIAO_OP_SILU, QIAO_OP_GELU, QIAO_OP_RELU};
  static const qiao_op_kind_t binary[] = {QIAO_OP_ADD, QIAO_OP_SUB, QIAO_OP_MUL, QIAO_OP_MAX,
                                          QIAO_OP_MIN};
  int n_ops = 6 + (int)(next(&r) % 20);
  for (int i = 0; i < n_ops && n < 60; ++i) {
    int32_t a = pool[next(&r) % (uint32_t)n];
    int32_t v = -1;
    switch (next(&r) % 9) {
    case 0:
    case 1: {
      int32_t ops[1] = {a};
      v = qiao_ir_build(g, unary[next(&r) % 6], ops, 1, NULL, vname(named, names, &k), &st);
      break;
    }
    case 2:
    case 3: {
      uint32_t pick = next(&r) % 4;
      int32_t b = pick == 0 ? b_row : pick == 1 ? b_col : pool[next(&r) % (uint32_t)n];
      int32_t ops[2] = {a, b};
      if (next(&r) & 1) ops[0] = b, ops[1] = a;
      v = qiao_ir_build(g, binary[next(&r) % 5], ops, 2, NULL, vname(named, names, &k), &st);
      break;
    }
    case 4: {
      qiao_attrs_t at;
      memset(&at, 0, sizeof at);
      qiao_attrs_init_defaults(&at, QIAO_OP_MATMUL);
      int32_t ops[2] = {a, w};
      v = qiao_ir_build(g, QIAO_OP_MATMUL, ops, 2, &at, vname(named, names, &k), &st);
      /* keep magnitudes bounded */
      if (v >= 0) {
        int32_t t[1] = {v};
        v = qiao_ir_build(g, QIAO_OP_TANH, t, 1, NULL, vname(named, names, &k), &st);
      }
      break;
    }
    case 5: {
      int32_t ops[2] = {a, gamma};
      v = qiao_ir_build(g, QIAO_OP_RMS_NORM, ops, 2, NULL, vname(named, names, &k), &st);
      break;
    }
    case 6: {
      int32_t ops[1] = {a};
      v = qiao_ir_build(g, QIAO_OP_SOFTMAX, ops, 1, NULL, vname(named, names, &k), &st);
      break;
    }
    case 7: {
      /* reduce a row, broadcast it back */
      qiao_attrs_t at;
      memset(&at, 0, sizeof at);
      qiao_attrs_init_defaults(&at, QIAO_OP_REDUCE_MEAN);
      at.keepdims = true;
      int32_t ops[1] = {a};
      int32_t m = qiao_ir_build(g, QIAO_OP_REDUCE_MEAN, ops, 1, &at, vname(named, names, &k), &st);
      if (m >= 0) {
        int32_t o2[2] = {a, m};
        v = qiao_ir_build(g, QIAO_OP_SUB, o2, 2, NULL, vname(named, names, &k), &st);
      }
      break;
    }
    default: {
      /* a transpose round trip (two copy kernels, or fused anchors) */
      qiao_attrs_t at;
      memset(&at, 0, sizeof at);
      at.n_perm = 2;
      at.perm[0] = 1;
      at.perm[1] = 0;
      int32_t ops[1] = {a};
      int32_t t = qiao_ir_build(g, QIAO_OP_TRANSPOSE, ops, 1, &at, vname(named, names, &k), &st);
      if (t >= 0) {
        int32_t o2[1] = {t};
        v = qiao_ir_build(g, QIAO_OP_TRANSPOSE, o2, 1, &at, vname(named, names, &k), &st);
      }
      break;
    }
    }
    cr_assert_null(st, "seed %llu op %d: %s", (unsigned long long)seed, i, qiao_status_message(st));
    pool[n++] = v;
  }
  /* 1-3 outputs, the last value always among them. */
  int32_t outs[3];
  int32_t n_out = 1 + (int32_t)(next(&r) % 3);
  outs[0] = pool[n - 1];
  for (int32_t i = 1; i < n_out; ++i) outs[i] = pool[2 + next(&r) % (uint32_t)(n - 2)];
  cr_assert_null(qiao_ir_graph_set_outputs(g, outs, n_out));
  cr_assert_null(qiao_ir_graph_verify(g));
  return g;
}

typedef struct seed_param {
  uint64_t seed;
} seed_param_t;

ParameterizedTestParameters(random_graphs, cpu_matches_ref) {
  static seed_param_t p[40];
  for (int i = 0; i < 40; ++i) p[i].seed = (uint64_t)i + 1;
  return cr_make_param_array(seed_param_t, p, 40);
}

ParameterizedTest(seed_param_t *p, random_graphs, cpu_matches_ref) {
  qiao_graph_t *g = random_graph(p->seed);
  /* The printed graph reads back: random graphs exercise the printer too. */
  char *text;
  cr_assert_null(qiao_ir_print(g, &text));
  qiao_graph_t *back = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), "random.qir", &back);
  cr_assert_null(st, "seed %llu: %s\n%s", (unsigned long long)p->seed, qiao_status_message(st), text);
  /* parse . print is the identity on graphs, print . parse on canonical text. A
   * graph built with anonymous values reads back with the printed %tN names, so
   * only the named ones can equal the built graph itself. */
  if (p->seed & 1)
    cr_expect(qiao_ir_graph_equal(g, back), "seed %llu: the parsed graph differs from the built one\n%s",
              (unsigned long long)p->seed, text);
  char *text2 = NULL;
  cr_assert_null(qiao_ir_print(back, &text2));
  cr_expect_str_eq(text2, text, "seed %llu: printing the parsed graph gives other text",
                   (unsigned long long)p->seed);
  qiao_graph_t *back2 = NULL;
  st = qiao_ir_parse(text2, strlen(text2), "random2.qir", &back2);
  cr_assert_null(st, "seed %llu: %s\n%s", (unsigned long long)p->seed, qiao_status_message(st), text2);
  cr_expect(qiao_ir_graph_equal(back, back2), "seed %llu: parse . print is not the identity",
            (unsigned long long)p->seed);
  qiao_ir_graph_destroy(back2);
  free(text2);
  qiao_ir_graph_destroy(back);
  const char *devices[2] = {"cpu:threads=1", "cpu:threads=2"};
  for (int d = 0; d < 2; ++d) {
    oracle_result_t r;
    bool ok = oracle_run(g, devices[d], p->seed * 31, &r);
    cr_assert(ok, "seed %llu on %s: %s\n%s", (unsigned long long)p->seed, devices[d], r.message, text);
    ORACLE_EXPECT_OK(r, "seed %llu on %s\n%s", (unsigned long long)p->seed, devices[d], text);
  }
  free(text);
  qiao_ir_graph_destroy(g);
}
