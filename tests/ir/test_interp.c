/* The reference interpreter, op by op, against computations written out
 * independently here (plain loops over doubles, no interpreter code). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

/* ------------------------------------------------------------------ helpers */

static qiao_type_t ty(qiao_dtype_t dt, int rank, ...) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; ++i)
    t.shape.dims[i] = va_arg(ap, int);
  va_end(ap);
  return t;
}

static qiao_attrs_t defaults(qiao_op_kind_t k) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, k);
  return a;
}

static qiao_graph_t *new_graph(void) {
  qiao_graph_t *g = NULL;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  return g;
}

static int32_t input(qiao_graph_t *g, const char *name, qiao_type_t t) {
  int32_t v = -1;
  qiao_status_t s = qiao_ir_graph_add_input(g, name, t, &v);
  cr_assert_null(s, "add_input: %s", qiao_status_message(s));
  return v;
}

static int32_t op(qiao_graph_t *g, qiao_op_kind_t k, const qiao_attrs_t *a, int n, ...) {
  int32_t ops[16];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; ++i)
    ops[i] = va_arg(ap, int32_t);
  va_end(ap);
  qiao_status_t s = NULL;
  int32_t v = qiao_ir_build(g, k, ops, n, a, NULL, &s);
  cr_assert_null(s, "build %s: %s", qiao_op_name(k), qiao_status_message(s));
  return v;
}

static void outputs(qiao_graph_t *g, int n, ...) {
  int32_t vs[8];
  va_list ap;
  va_start(ap, n);
  for (int i = 0; i < n; ++i)
    vs[i] = va_arg(ap, int32_t);
  va_end(ap);
  cr_assert_null(qiao_ir_graph_set_outputs(g, vs, n));
}

static qiao_tensor_t *rnd(qiao_type_t t, uint64_t seed, double lo, double hi) {
  qiao_tensor_t *x = NULL;
  cr_assert_null(qiao_tensor_create(t, &x));
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  qiao_tensor_fill_random(x, &s, lo, hi);
  return x;
}

static qiao_tensor_t *from(qiao_type_t t, const double *vals) {
  qiao_tensor_t *x = NULL;
  cr_assert_null(qiao_tensor_create(t, &x));
  for (int64_t i = 0; i < qiao_shape_numel(&t.shape); ++i)
    qiao_tensor_set_f64(x, i, vals[i]);
  return x;
}

static double at(const qiao_tensor_t *t, int64_t i) { return qiao_tensor_get_f64(t, i); }

/* Runs g on inputs (no params); returns its first n outputs (asserts success). */
static void run(const qiao_graph_t *g, qiao_tensor_t **ins, qiao_tensor_t **outs) {
  for (int i = 0; i < g->n_outputs; ++i)
    outs[i] = NULL;
  qiao_status_t s =
      qiao_interp_run(g, (const qiao_tensor_t *const *)ins, NULL, NULL, NULL, 0, outs);
  cr_assert_null(s, "interp: %s", qiao_status_message(s));
  for (int i = 0; i < g->n_outputs; ++i)
    cr_assert_not_null(outs[i]);
}

/* Compares t to ref (already rounded where the test wants exactness). */
static void expect_close(const qiao_tensor_t *t, const double *ref, int64_t n, double rtol,
                         double atol) {
  cr_assert_eq(qiao_shape_numel(&t->type.shape), n);
  int bad = 0;
  for (int64_t i = 0; i < n && bad < 5; ++i) {
    double g = at(t, i), r = ref[i];
    bool ok = (isnan(g) && isnan(r)) || (g == r) || fabs(g - r) <= atol + rtol * fabs(r);
    if (!ok) {
      cr_expect(ok, "element %lld: got %.9g, want %.9g", (long long)i, g, r);
      ++bad;
    }
  }
  cr_assert_eq(bad, 0);
}

#define F32_RTOL 1e-6
#define F32_ATOL 1e-6

static void free_all(qiao_tensor_t **ts, int n) {
  for (int i = 0; i < n; ++i)
    qiao_tensor_destroy(ts[i]);
}

/* --------------------------------------------------------------- binary ops */

static double ref_binary(qiao_op_kind_t k, double a, double b) {
  switch (k) {
  case QIAO_OP_ADD:
    return a + b;
  case QIAO_OP_SUB:
    return a - b;
  case QIAO_OP_MUL:
    return a * b;
  case QIAO_OP_DIV:
    return a / b;
  case QIAO_OP_MAX:
    return a > b ? a : b;
  case QIAO_OP_MIN:
    return a < b ? a : b;
  default:
    return pow(a, b);
  }
}

/* a [3, 1, 17] op b [5, 17] → [3, 5, 17] */
static void check_binary(qiao_op_kind_t k, qiao_dtype_t dt, double tol) {
  qiao_graph_t *g = new_graph();
  int32_t a = input(g, "a", ty(dt, 3, 3, 1, 17)), b = input(g, "b", ty(dt, 2, 5, 17));
  int32_t y = op(g, k, NULL, 2, a, b);
  outputs(g, 1, y);
  cr_assert_eq(g->values[y].type.shape.rank, 3);
  double lo = k == QIAO_OP_POW ? 0.1 : -2.0;
  qiao_tensor_t *ins[2] = {rnd(g->values[a].type, 1, lo, 2.0), rnd(g->values[b].type, 2, 0.5, 2.0)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[3 * 5 * 17];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j)
      for (int c = 0; c < 17; ++c)
        ref[(i * 5 + j) * 17 + c] =
            qiao_round_to_dtype(ref_binary(k, at(ins[0], i * 17 + c), at(ins[1], j * 17 + c)), dt);
  expect_close(out[0], ref, 3 * 5 * 17, tol, tol);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_binary, add) { check_binary(QIAO_OP_ADD, QIAO_F32, F32_RTOL); }
Test(interp_binary, sub) { check_binary(QIAO_OP_SUB, QIAO_F32, F32_RTOL); }
Test(interp_binary, mul) { check_binary(QIAO_OP_MUL, QIAO_F32, F32_RTOL); }
Test(interp_binary, div) { check_binary(QIAO_OP_DIV, QIAO_F32, F32_RTOL); }
Test(interp_binary, max) { check_binary(QIAO_OP_MAX, QIAO_F32, 0); }
Test(interp_binary, min) { check_binary(QIAO_OP_MIN, QIAO_F32, 0); }
Test(interp_binary, pow) { check_binary(QIAO_OP_POW, QIAO_F32, F32_RTOL); }
/* bf16 results are rounded once from the exact f64 result: bit-exact. */
Test(interp_binary, add_bf16_exact) { check_binary(QIAO_OP_ADD, QIAO_BF16, 0); }
Test(interp_binary, mul_f16_exact) { check_binary(QIAO_OP_MUL, QIAO_F16, 0); }

Test(interp_binary, scalar_broadcast_and_int) {
  qiao_graph_t *g = new_graph();
  int32_t a = input(g, "a", ty(QIAO_I32, 2, 3, 17)), b = input(g, "b", ty(QIAO_I32, 0));
  int32_t y = op(g, QIAO_OP_MUL, NULL, 2, a, b);
  int32_t z = op(g, QIAO_OP_DIV, NULL, 2, a, b);
  outputs(g, 2, y, z);
  qiao_tensor_t *ins[2] = {rnd(g->values[a].type, 3, -100, 100),
                           from(ty(QIAO_I32, 0), (double[]){-7})};
  qiao_tensor_t *out[2];
  run(g, ins, out);
  for (int i = 0; i < 51; ++i) {
    int32_t x = ((int32_t *)ins[0]->data)[i];
    cr_expect_eq(((int32_t *)out[0]->data)[i], x * -7);
    cr_expect_eq(((int32_t *)out[1]->data)[i], x / -7); /* C division: toward zero */
  }
  free_all(ins, 2);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- unary ops */

static double ref_unary(qiao_op_kind_t k, bool tanh_form, double x) {
  switch (k) {
  case QIAO_OP_NEG:
    return -x;
  case QIAO_OP_EXP:
    return exp(x);
  case QIAO_OP_LOG:
    return log(x);
  case QIAO_OP_SQRT:
    return sqrt(x);
  case QIAO_OP_RSQRT:
    return 1.0 / sqrt(x);
  case QIAO_OP_TANH:
    return tanh(x);
  case QIAO_OP_SIGMOID:
    return 1.0 / (1.0 + exp(-x));
  case QIAO_OP_SILU:
    return x * (1.0 / (1.0 + exp(-x)));
  case QIAO_OP_RELU:
    return x > 0 ? x : 0.0;
  case QIAO_OP_GELU:
    if (tanh_form)
      return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    return x * 0.5 * erfc(-x / 1.4142135623730951);
  default:
    return NAN;
  }
}

static void check_unary(qiao_op_kind_t k, bool tanh_form, qiao_dtype_t dt) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(dt, 3, 1, 3, 17));
  qiao_attrs_t a = defaults(k);
  if (tanh_form)
    a.approximate = QIAO_GELU_TANH;
  int32_t y = op(g, k, &a, 1, x);
  outputs(g, 1, y);
  bool pos = k == QIAO_OP_LOG || k == QIAO_OP_SQRT || k == QIAO_OP_RSQRT;
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 10 + k, pos ? 0.05 : -4.0, 4.0)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[51];
  for (int i = 0; i < 51; ++i)
    ref[i] = ref_unary(k, tanh_form, at(ins[0], i));
  if (dt == QIAO_F32) {
    expect_close(out[0], ref, 51, 1e-6, 1e-7);
  } else {
    /* one rounding of the f64 result: within half an ulp of ref */
    for (int i = 0; i < 51; ++i)
      ref[i] = qiao_round_to_dtype(ref[i], dt);
    expect_close(out[0], ref, 51, 1e-2, 1e-3);
  }
  free_all(ins, 1);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_unary, neg) { check_unary(QIAO_OP_NEG, false, QIAO_F32); }
Test(interp_unary, exp) { check_unary(QIAO_OP_EXP, false, QIAO_F32); }
Test(interp_unary, log) { check_unary(QIAO_OP_LOG, false, QIAO_F32); }
Test(interp_unary, sqrt) { check_unary(QIAO_OP_SQRT, false, QIAO_F32); }
Test(interp_unary, rsqrt) { check_unary(QIAO_OP_RSQRT, false, QIAO_F32); }
Test(interp_unary, tanh) { check_unary(QIAO_OP_TANH, false, QIAO_F32); }
Test(interp_unary, sigmoid) { check_unary(QIAO_OP_SIGMOID, false, QIAO_F32); }
Test(interp_unary, silu) { check_unary(QIAO_OP_SILU, false, QIAO_F32); }
Test(interp_unary, relu) { check_unary(QIAO_OP_RELU, false, QIAO_F32); }
Test(interp_unary, gelu_erf) { check_unary(QIAO_OP_GELU, false, QIAO_F32); }
Test(interp_unary, gelu_tanh) { check_unary(QIAO_OP_GELU, true, QIAO_F32); }
Test(interp_unary, silu_bf16) { check_unary(QIAO_OP_SILU, false, QIAO_BF16); }
Test(interp_unary, exp_f16) { check_unary(QIAO_OP_EXP, false, QIAO_F16); }

Test(interp_unary, gelu_known_values) {
  /* gelu(1) = 0.8413447460685429 (erf form), 0.8411919906082768 (tanh form) */
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 1, 1));
  qiao_attrs_t t = defaults(QIAO_OP_GELU);
  t.approximate = QIAO_GELU_TANH;
  outputs(g, 2, op(g, QIAO_OP_GELU, NULL, 1, x), op(g, QIAO_OP_GELU, &t, 1, x));
  qiao_tensor_t *ins[1] = {from(ty(QIAO_F32, 1, 1), (double[]){1.0})};
  qiao_tensor_t *out[2];
  run(g, ins, out);
  cr_expect_float_eq(at(out[0], 0), 0.8413447460685429, 1e-7);
  cr_expect_float_eq(at(out[1], 0), 0.8411919906082768, 1e-7);
  free_all(ins, 1);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

/* --------------------------------------------------------------------- cast */

Test(interp_cast, every_dtype_with_saturation_and_nan) {
  const double v[] = {1.5, -2.7, 0.0, 1000.0, -1e6, 3e9, NAN, INFINITY, 0.1, 65520.0, 448.5};
  const int n = 11;
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 1, n));
  int32_t ys[QIAO_DTYPE_COUNT];
  for (int d = 0; d < QIAO_DTYPE_COUNT; ++d) {
    qiao_attrs_t a = defaults(QIAO_OP_CAST);
    a.to = (qiao_dtype_t)d;
    ys[d] = op(g, QIAO_OP_CAST, &a, 1, x);
  }
  cr_assert_null(qiao_ir_graph_set_outputs(g, ys, QIAO_DTYPE_COUNT));
  qiao_tensor_t *ins[1] = {from(ty(QIAO_F32, 1, n), v)};
  qiao_tensor_t *out[QIAO_DTYPE_COUNT];
  run(g, ins, out);
  /* expected values written out by hand */
  const double e_f16[] = {1.5,      -2.69921875,     0,        1000, -INFINITY, INFINITY, NAN,
                          INFINITY, 0.0999755859375, INFINITY, 448.5};
  const double e_bf16[] = {1.5,      -2.703125,     0,     1000, -999424, 3003121664.0, NAN,
                           INFINITY, 0.10009765625, 65536, 448};
  const double e_e4m3[] = {1.5, -2.75, 0, 448, -448, 448, NAN, 448, 0.1015625, 448, 448};
  const double e_e5m2[] = {1.5, -2.5,     0,       1024,     -INFINITY, INFINITY,
                           NAN, INFINITY, 0.09375, INFINITY, 448};
  const double e_i8[] = {1, -2, 0, 127, -128, 127, 0, 127, 0, 127, 127};
  const double e_i32[] = {1, -2, 0, 1000, -1000000, 2147483647.0, 0, 2147483647.0, 0, 65520, 448};
  const double e_i64[] = {1, -2, 0, 1000, -1000000, 3e9, 0, 9223372036854775807.0, 0, 65520, 448};
  const double e_bool[] = {1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1};
  expect_close(out[QIAO_F16], e_f16, n, 0, 0);
  expect_close(out[QIAO_BF16], e_bf16, n, 0, 0);
  expect_close(out[QIAO_F8E4M3], e_e4m3, n, 0, 0);
  expect_close(out[QIAO_F8E5M2], e_e5m2, n, 0, 0);
  expect_close(out[QIAO_I8], e_i8, n, 0, 0);
  expect_close(out[QIAO_I32], e_i32, n, 0, 0);
  expect_close(out[QIAO_I64], e_i64, n, 0, 0);
  expect_close(out[QIAO_BOOL], e_bool, n, 0, 0);
  cr_expect_eq(((int64_t *)out[QIAO_I64]->data)[7], INT64_MAX);
  cr_expect_eq(((uint8_t *)out[QIAO_F8E4M3]->data)[3], 0x7E);
  for (int i = 0; i < n; ++i) {
    double w = (double)(float)v[i];
    cr_expect((isnan(w) && isnan(at(out[QIAO_F32], i))) || at(out[QIAO_F32], i) == w);
  }
  free_all(ins, 1);
  free_all(out, QIAO_DTYPE_COUNT);
  qiao_ir_graph_destroy(g);
}

Test(interp_cast, int_to_int_saturates_exactly) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_I64, 1, 5));
  qiao_attrs_t a = defaults(QIAO_OP_CAST);
  a.to = QIAO_I8;
  qiao_attrs_t b = defaults(QIAO_OP_CAST);
  b.to = QIAO_F32;
  qiao_attrs_t c = defaults(QIAO_OP_CAST);
  c.to = QIAO_BOOL;
  outputs(g, 3, op(g, QIAO_OP_CAST, &a, 1, x), op(g, QIAO_OP_CAST, &b, 1, x),
          op(g, QIAO_OP_CAST, &c, 1, x));
  qiao_tensor_t *in;
  cr_assert_null(qiao_tensor_create(ty(QIAO_I64, 1, 5), &in));
  int64_t vals[5] = {INT64_MAX, -129, 5, 0, (1LL << 53) + 1};
  memcpy(in->data, vals, sizeof vals);
  qiao_tensor_t *out[3];
  run(g, &in, out);
  int8_t e8[5] = {127, -128, 5, 0, 127};
  cr_expect_eq(memcmp(out[0]->data, e8, 5), 0);
  cr_expect_eq(((float *)out[1]->data)[2], 5.0f);
  cr_expect_eq(((float *)out[1]->data)[4], 0x1p53f);
  uint8_t eb[5] = {1, 1, 1, 0, 1};
  cr_expect_eq(memcmp(out[2]->data, eb, 5), 0);
  qiao_tensor_destroy(in);
  free_all(out, 3);
  qiao_ir_graph_destroy(g);
}

/* i64 → float rounds to nearest even from the integer itself (design:
 * "cast to a float dtype rounds to nearest even"). Going through a double
 * first rounds twice: 2^60 + 2^36 + 1 becomes the f32 tie 2^60 + 2^36 and
 * then 2^60, where the correct f32 is 2^60 + 2^37. */
Test(interp_cast, i64_to_float_rounds_once) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_I64, 1, 4));
  qiao_attrs_t a = defaults(QIAO_OP_CAST);
  a.to = QIAO_F32;
  qiao_attrs_t b = defaults(QIAO_OP_CAST);
  b.to = QIAO_BF16;
  outputs(g, 2, op(g, QIAO_OP_CAST, &a, 1, x), op(g, QIAO_OP_CAST, &b, 1, x));
  qiao_tensor_t *in;
  cr_assert_null(qiao_tensor_create(ty(QIAO_I64, 1, 4), &in));
  const int64_t f32_case = (1LL << 60) + (1LL << 36) + 1;
  const int64_t bf16_case = (1LL << 60) + (1LL << 52) + 1;
  int64_t vals[4] = {f32_case, -f32_case, bf16_case, -bf16_case};
  memcpy(in->data, vals, sizeof vals);
  qiao_tensor_t *out[2];
  run(g, &in, out);
  const float *f = out[0]->data;
  cr_expect_eq(f[0], 0x1p60f + 0x1p37f, "f32: got %a", (double)f[0]);
  cr_expect_eq(f[1], -(0x1p60f + 0x1p37f), "f32: got %a", (double)f[1]);
  /* bf16 keeps 8 significant bits: the ulp at 2^60 is 2^53 */
  cr_expect_eq(at(out[1], 2), 0x1p60 + 0x1p53, "bf16: got %a", at(out[1], 2));
  cr_expect_eq(at(out[1], 3), -(0x1p60 + 0x1p53), "bf16: got %a", at(out[1], 3));
  qiao_tensor_destroy(in);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------------------- matmul */

/* a: [Ba..., M, K] (or [.., K, M] when ta), b likewise; batch broadcast
 * written out for rank-4 a = [A0, A1, ., .] and rank-3 b = [B1, ., .]. */
static void check_matmul(bool ta, bool tb, qiao_dtype_t da, qiao_dtype_t db, int A0, int A1, int B1,
                         int M, int K, int N, double tol) {
  qiao_graph_t *g = new_graph();
  qiao_type_t at_ = ta ? ty(da, 4, A0, A1, K, M) : ty(da, 4, A0, A1, M, K);
  qiao_type_t bt_ = tb ? ty(db, 3, B1, N, K) : ty(db, 3, B1, K, N);
  int32_t a = input(g, "a", at_), b = input(g, "b", bt_);
  qiao_attrs_t ma = defaults(QIAO_OP_MATMUL);
  ma.transpose_a = ta;
  ma.transpose_b = tb;
  int32_t y = op(g, QIAO_OP_MATMUL, &ma, 2, a, b);
  outputs(g, 1, y);
  int O1 = A1 > B1 ? A1 : B1;
  const qiao_type_t *yt = &g->values[y].type;
  cr_assert_eq(yt->shape.rank, 4);
  cr_assert_eq(yt->shape.dims[1], O1);
  bool ints = da == QIAO_I8;
  qiao_tensor_t *ins[2] = {rnd(at_, 20, ints ? -128 : -1, ints ? 128 : 1),
                           rnd(bt_, 21, ints ? -128 : -1, ints ? 128 : 1)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  int64_t n = (int64_t)A0 * O1 * M * N;
  double *ref = calloc((size_t)n, sizeof(double));
  for (int i0 = 0; i0 < A0; ++i0)
    for (int i1 = 0; i1 < O1; ++i1) {
      int ia1 = A1 == 1 ? 0 : i1, ib1 = B1 == 1 ? 0 : i1;
      for (int m = 0; m < M; ++m)
        for (int nn = 0; nn < N; ++nn) {
          double s = 0;
          for (int k = 0; k < K; ++k) {
            int64_t abase = ((int64_t)i0 * A1 + ia1) * M * K;
            int64_t bbase = (int64_t)ib1 * K * N;
            double av = at(ins[0], abase + (ta ? k * M + m : m * K + k));
            double bv = at(ins[1], bbase + (tb ? nn * K + k : k * N + nn));
            s += av * bv;
          }
          ref[(((int64_t)i0 * O1 + i1) * M + m) * N + nn] = qiao_round_to_dtype(s, yt->dtype);
        }
    }
  expect_close(out[0], ref, n, tol, tol);
  free(ref);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_matmul, plain) {
  check_matmul(false, false, QIAO_F32, QIAO_F32, 1, 1, 1, 3, 17, 5, 1e-6);
}
Test(interp_matmul, transpose_a) {
  check_matmul(true, false, QIAO_F32, QIAO_F32, 1, 3, 3, 17, 3, 1, 1e-6);
}
Test(interp_matmul, transpose_b) {
  check_matmul(false, true, QIAO_F32, QIAO_F32, 2, 1, 1, 1, 17, 3, 1e-6);
}
Test(interp_matmul, transpose_both) {
  check_matmul(true, true, QIAO_F32, QIAO_F32, 1, 2, 2, 3, 5, 17, 1e-6);
}
Test(interp_matmul, batch_broadcast) {
  check_matmul(false, false, QIAO_F32, QIAO_F32, 2, 1, 3, 4, 17, 3, 1e-6);
}
Test(interp_matmul, batch_broadcast_b1) {
  check_matmul(false, true, QIAO_F32, QIAO_F32, 2, 3, 1, 3, 5, 2, 1e-6);
}
Test(interp_matmul, mixed_f32_bf16) {
  check_matmul(false, false, QIAO_F32, QIAO_BF16, 1, 1, 1, 3, 17, 5, 1e-6);
}
Test(interp_matmul, bf16_bf16_exact) {
  check_matmul(false, true, QIAO_BF16, QIAO_BF16, 1, 1, 1, 17, 3, 5, 0);
}
Test(interp_matmul, i8_i32) { check_matmul(false, false, QIAO_I8, QIAO_I8, 1, 2, 1, 3, 17, 5, 0); }

/* --------------------------------------------------------------- reductions */

/* x [3, 5, 17]; reduce over axes (given as a mask over dims 0..2). */
static void check_reduce(qiao_op_kind_t k, int n_axes, const int64_t *axes, bool keep) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 3, 3, 5, 17));
  qiao_attrs_t a = defaults(k);
  a.n_axes = n_axes;
  memcpy(a.axes, axes, sizeof(int64_t) * (size_t)n_axes);
  a.keepdims = keep;
  int32_t y = op(g, k, &a, 1, x);
  outputs(g, 1, y);
  bool red[3] = {false, false, false};
  for (int i = 0; i < n_axes; ++i)
    red[axes[i] < 0 ? axes[i] + 3 : axes[i]] = true;
  const qiao_shape_t *ys = &g->values[y].type.shape;
  int expect_rank = keep ? 3 : 3 - n_axes;
  cr_assert_eq(ys->rank, expect_rank);
  const int dims[3] = {3, 5, 17};
  for (int d = 0, j = 0; d < 3; ++d) {
    if (red[d] && !keep)
      continue;
    cr_expect_eq(ys->dims[j++], red[d] ? 1 : dims[d]);
  }
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 30, -3, 3)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  int e0 = red[0] ? 1 : 3, e1 = red[1] ? 1 : 5, e2 = red[2] ? 1 : 17;
  double ref[3 * 5 * 17];
  for (int i = 0; i < e0; ++i)
    for (int j = 0; j < e1; ++j)
      for (int c = 0; c < e2; ++c) {
        double s = k == QIAO_OP_REDUCE_MAX ? -INFINITY : 0;
        int cnt = 0;
        for (int ii = 0; ii < 3; ++ii)
          for (int jj = 0; jj < 5; ++jj)
            for (int cc = 0; cc < 17; ++cc) {
              if ((!red[0] && ii != i) || (!red[1] && jj != j) || (!red[2] && cc != c))
                continue;
              double v = at(ins[0], (ii * 5 + jj) * 17 + cc);
              s = k == QIAO_OP_REDUCE_MAX ? fmax(s, v) : s + v;
              ++cnt;
            }
        ref[(i * e1 + j) * e2 + c] = k == QIAO_OP_REDUCE_MEAN ? s / cnt : s;
      }
  expect_close(out[0], ref, e0 * e1 * e2, 1e-6, 1e-6);
  free_all(ins, 1);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_reduce, sum_last) { check_reduce(QIAO_OP_REDUCE_SUM, 1, (int64_t[]){-1}, false); }
Test(interp_reduce, sum_0_2_keepdims) {
  check_reduce(QIAO_OP_REDUCE_SUM, 2, (int64_t[]){0, 2}, true);
}
Test(interp_reduce, max_middle) { check_reduce(QIAO_OP_REDUCE_MAX, 1, (int64_t[]){1}, false); }
Test(interp_reduce, max_all_keepdims) {
  check_reduce(QIAO_OP_REDUCE_MAX, 3, (int64_t[]){0, 1, 2}, true);
}
Test(interp_reduce, mean_neg_axes) {
  check_reduce(QIAO_OP_REDUCE_MEAN, 2, (int64_t[]){-3, -2}, false);
}
Test(interp_reduce, mean_keepdims) { check_reduce(QIAO_OP_REDUCE_MEAN, 1, (int64_t[]){2}, true); }

/* ------------------------------------------------------------ softmax, norms */

static void check_softmax(int axis) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 3, 3, 5, 17));
  qiao_attrs_t a = defaults(QIAO_OP_SOFTMAX);
  a.axis = axis;
  outputs(g, 1, op(g, QIAO_OP_SOFTMAX, &a, 1, x));
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 40, -30, 30)}; /* wide: needs max-subtract */
  qiao_tensor_t *out[1];
  run(g, ins, out);
  int ax = axis < 0 ? axis + 3 : axis;
  const int dims[3] = {3, 5, 17}, strides[3] = {85, 17, 1};
  double ref[255];
  for (int i = 0; i < 255; ++i) {
    int pos = (i / strides[ax]) % dims[ax];
    int base = i - pos * strides[ax];
    double sum = 0;
    for (int j = 0; j < dims[ax]; ++j)
      sum += exp(at(ins[0], base + j * strides[ax]) - 30.0);
    ref[i] = exp(at(ins[0], i) - 30.0) / sum;
  }
  expect_close(out[0], ref, 255, 1e-6, 1e-12);
  /* rows sum to 1 */
  for (int i = 0; i < 255; ++i) {
    if ((i / strides[ax]) % dims[ax])
      continue;
    double s = 0;
    for (int j = 0; j < dims[ax]; ++j)
      s += at(out[0], i + j * strides[ax]);
    cr_expect_float_eq(s, 1.0, 1e-5);
  }
  free_all(ins, 1);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_softmax, last_axis) { check_softmax(-1); }
Test(interp_softmax, first_axis) { check_softmax(0); }
Test(interp_softmax, middle_axis) { check_softmax(1); }

Test(interp_norm, rms_norm) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 3, 1, 3, 17)), w = input(g, "w", ty(QIAO_F32, 1, 17));
  qiao_attrs_t a = defaults(QIAO_OP_RMS_NORM);
  a.eps = 1e-3;
  outputs(g, 1, op(g, QIAO_OP_RMS_NORM, &a, 2, x, w));
  qiao_tensor_t *ins[2] = {rnd(g->values[x].type, 50, -2, 2), rnd(g->values[w].type, 51, 0.5, 1.5)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[51];
  for (int r = 0; r < 3; ++r) {
    double ss = 0;
    for (int j = 0; j < 17; ++j)
      ss += at(ins[0], r * 17 + j) * at(ins[0], r * 17 + j);
    double scale = 1.0 / sqrt(ss / 17 + 1e-3);
    for (int j = 0; j < 17; ++j)
      ref[r * 17 + j] = at(ins[0], r * 17 + j) * scale * at(ins[1], j);
  }
  expect_close(out[0], ref, 51, 1e-6, 1e-7);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_norm, layer_norm) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, 3, 17)), w = input(g, "w", ty(QIAO_F32, 1, 17)),
          b = input(g, "b", ty(QIAO_F32, 1, 17));
  outputs(g, 1, op(g, QIAO_OP_LAYER_NORM, NULL, 3, x, w, b)); /* default eps 1e-5 */
  qiao_tensor_t *ins[3] = {rnd(g->values[x].type, 52, -2, 5), rnd(g->values[w].type, 53, 0.5, 1.5),
                           rnd(g->values[b].type, 54, -1, 1)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[51];
  for (int r = 0; r < 3; ++r) {
    double mu = 0, var = 0;
    for (int j = 0; j < 17; ++j)
      mu += at(ins[0], r * 17 + j) / 17;
    for (int j = 0; j < 17; ++j)
      var += pow(at(ins[0], r * 17 + j) - mu, 2) / 17;
    for (int j = 0; j < 17; ++j)
      ref[r * 17 + j] =
          (at(ins[0], r * 17 + j) - mu) / sqrt(var + 1e-5) * at(ins[1], j) + at(ins[2], j);
  }
  expect_close(out[0], ref, 51, 1e-6, 1e-6);
  free_all(ins, 3);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------------ data movement */

Test(interp_move, reshape_and_transpose) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_BF16, 3, 3, 1, 17));
  qiao_attrs_t r = defaults(QIAO_OP_RESHAPE);
  r.n_shape = 2;
  r.shape[0] = -1;
  r.shape[1] = 3;
  qiao_attrs_t t = defaults(QIAO_OP_TRANSPOSE);
  t.n_perm = 3;
  t.perm[0] = 2, t.perm[1] = 0, t.perm[2] = 1;
  int32_t y = op(g, QIAO_OP_RESHAPE, &r, 1, x);
  int32_t z = op(g, QIAO_OP_TRANSPOSE, &t, 1, x);
  outputs(g, 2, y, z);
  cr_assert_eq(g->values[y].type.shape.dims[0], 17);
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 60, -1, 1)};
  qiao_tensor_t *out[2];
  run(g, ins, out);
  cr_expect_eq(memcmp(out[0]->data, ins[0]->data, 51 * 2), 0);
  /* z[c][i][0] = x[i][0][c]; z is [17, 3, 1] */
  double ref[51];
  for (int c = 0; c < 17; ++c)
    for (int i = 0; i < 3; ++i)
      ref[c * 3 + i] = at(ins[0], i * 17 + c);
  expect_close(out[1], ref, 51, 0, 0);
  free_all(ins, 1);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

Test(interp_move, transpose_4d) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 4, 2, 3, 1, 5));
  qiao_attrs_t t = defaults(QIAO_OP_TRANSPOSE);
  t.n_perm = 4;
  t.perm[0] = 3, t.perm[1] = 1, t.perm[2] = 0, t.perm[3] = 2;
  outputs(g, 1, op(g, QIAO_OP_TRANSPOSE, &t, 1, x));
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 61, -1, 1)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[30]; /* out [5, 3, 2, 1] */
  for (int a = 0; a < 2; ++a)
    for (int b = 0; b < 3; ++b)
      for (int d = 0; d < 5; ++d)
        ref[(d * 3 + b) * 2 + a] = at(ins[0], (a * 3 + b) * 5 + d);
  expect_close(out[0], ref, 30, 0, 0);
  free_all(ins, 1);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

/* Python list slicing of range(17), written out. */
static int py_slice(int n, long start, long end, long step, int *out) {
  int c = 0;
  if (step > 0) {
    if (start < 0)
      start += n;
    if (end < 0)
      end += n;
    if (start < 0)
      start = 0;
    if (end > n)
      end = n;
    for (long i = start; i < end; i += step)
      out[c++] = (int)i;
  } else {
    if (start < 0)
      start += n;
    if (end < 0)
      end += n;
    if (start > n - 1)
      start = n - 1;
    if (end < -1)
      end = -1;
    for (long i = start; i > end; i += step)
      out[c++] = (int)i;
  }
  return c;
}

static void check_slice(int axis, long start, long end, long step) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, 3, 17));
  qiao_attrs_t a = defaults(QIAO_OP_SLICE);
  a.axis = axis, a.start = step > 0 ? start : 0, a.end = step > 0 ? end : 100,
  a.step = step > 0 ? step : 1;
  int32_t y = op(g, QIAO_OP_SLICE, &a, 1, x);
  int n = axis == 1 || axis == -1 ? 17 : 3;
  int idx[17];
  int c = py_slice(n, start, end, step, idx);
  if (step < 0) {
    /* Shape inference (ir/infer.c) takes step >= 1 only; the interpreter
     * implements Python semantics for negative steps too: patch the op. */
    qiao_op_t *o = &g->ops[g->n_ops - 1];
    o->attrs.start = start, o->attrs.end = end, o->attrs.step = step;
    g->values[y].type.shape.dims[axis < 0 ? axis + 2 : axis] = c;
  }
  outputs(g, 1, y);
  cr_assert_eq(g->values[y].type.shape.dims[axis < 0 ? axis + 2 : axis], c);
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 62, -1, 1)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[51];
  int k = 0;
  if (n == 17)
    for (int r = 0; r < 3; ++r)
      for (int j = 0; j < c; ++j)
        ref[k++] = at(ins[0], r * 17 + idx[j]);
  else
    for (int j = 0; j < c; ++j)
      for (int col = 0; col < 17; ++col)
        ref[k++] = at(ins[0], idx[j] * 17 + col);
  expect_close(out[0], ref, k, 0, 0);
  free_all(ins, 1);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_move, slice_basic) { check_slice(1, 2, 9, 1); }
Test(interp_move, slice_step) { check_slice(-1, 1, 17, 3); }
Test(interp_move, slice_negative_indices) { check_slice(1, -5, -1, 1); }
Test(interp_move, slice_negative_step) { check_slice(1, -1, 2, -2); }
Test(interp_move, slice_reverse_all) { check_slice(0, 2, -4, -1); }
Test(interp_move, slice_clamped) { check_slice(1, -100, 100, 4); }

Test(interp_move, concat_three) {
  qiao_graph_t *g = new_graph();
  int32_t a = input(g, "a", ty(QIAO_F16, 3, 2, 1, 3)), b = input(g, "b", ty(QIAO_F16, 3, 2, 3, 3)),
          c = input(g, "c", ty(QIAO_F16, 3, 2, 2, 3));
  qiao_attrs_t at_ = defaults(QIAO_OP_CONCAT);
  at_.axis = -2;
  int32_t y = op(g, QIAO_OP_CONCAT, &at_, 3, a, b, c);
  outputs(g, 1, y);
  cr_assert_eq(g->values[y].type.shape.dims[1], 6);
  qiao_tensor_t *ins[3] = {rnd(g->values[a].type, 70, -1, 1), rnd(g->values[b].type, 71, -1, 1),
                           rnd(g->values[c].type, 72, -1, 1)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[36];
  for (int i = 0; i < 2; ++i)
    for (int r = 0; r < 6; ++r)
      for (int j = 0; j < 3; ++j) {
        double v = r < 1   ? at(ins[0], (i * 1 + r) * 3 + j)
                   : r < 4 ? at(ins[1], (i * 3 + r - 1) * 3 + j)
                           : at(ins[2], (i * 2 + r - 4) * 3 + j);
        ref[(i * 6 + r) * 3 + j] = v;
      }
  expect_close(out[0], ref, 36, 0, 0);
  free_all(ins, 3);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_move, gather_rows) {
  qiao_graph_t *g = new_graph();
  int32_t tb = input(g, "t", ty(QIAO_BF16, 2, 17, 3)), ix = input(g, "i", ty(QIAO_I32, 2, 2, 3));
  int32_t y = op(g, QIAO_OP_GATHER, NULL, 2, tb, ix);
  outputs(g, 1, y);
  cr_assert_eq(g->values[y].type.shape.rank, 3);
  const double iv[6] = {0, 16, 3, 3, 7, 1};
  qiao_tensor_t *ins[2] = {rnd(g->values[tb].type, 80, -1, 1), from(g->values[ix].type, iv)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[18];
  for (int p = 0; p < 6; ++p)
    for (int j = 0; j < 3; ++j)
      ref[p * 3 + j] = at(ins[0], (int)iv[p] * 3 + j);
  expect_close(out[0], ref, 18, 0, 0);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_move, gather_axis1_i64) {
  qiao_graph_t *g = new_graph();
  int32_t tb = input(g, "t", ty(QIAO_F32, 3, 3, 5, 2)), ix = input(g, "i", ty(QIAO_I64, 1, 4));
  qiao_attrs_t a = defaults(QIAO_OP_GATHER);
  a.axis = 1;
  int32_t y = op(g, QIAO_OP_GATHER, &a, 2, tb, ix);
  outputs(g, 1, y);
  const double iv[4] = {4, 0, 0, 2};
  qiao_tensor_t *ins[2] = {rnd(g->values[tb].type, 81, -1, 1), from(g->values[ix].type, iv)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[24]; /* [3, 4, 2] */
  for (int i = 0; i < 3; ++i)
    for (int p = 0; p < 4; ++p)
      for (int j = 0; j < 2; ++j)
        ref[(i * 4 + p) * 2 + j] = at(ins[0], (i * 5 + (int)iv[p]) * 2 + j);
  expect_close(out[0], ref, 24, 0, 0);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

static void expect_gather_error(double bad) {
  qiao_graph_t *g = new_graph();
  int32_t tb = input(g, "t", ty(QIAO_F32, 2, 17, 3)), ix = input(g, "i", ty(QIAO_I32, 1, 3));
  outputs(g, 1, op(g, QIAO_OP_GATHER, NULL, 2, tb, ix));
  qiao_tensor_t *ins[2] = {rnd(g->values[tb].type, 82, -1, 1),
                           from(g->values[ix].type, (double[]){1, bad, 2})};
  qiao_tensor_t *out[1] = {NULL};
  qiao_status_t s = qiao_interp_run(g, (const qiao_tensor_t *const *)ins, NULL, NULL, NULL, 0, out);
  cr_assert_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  char want[32];
  snprintf(want, sizeof want, "index %d", (int)bad);
  cr_expect(strstr(qiao_status_message(s), want), "message: %s", qiao_status_message(s));
  cr_expect(strstr(qiao_status_message(s), "gather"), "message: %s", qiao_status_message(s));
  cr_expect_null(out[0]);
  qiao_status_free(s);
  free_all(ins, 2);
  qiao_ir_graph_destroy(g);
}

Test(interp_move, gather_out_of_range) { expect_gather_error(17); }
Test(interp_move, gather_negative) { expect_gather_error(-1); }

/* --------------------------------------------------------------------- rope */

static void check_rope(qiao_rope_mode_t mode, bool per_batch) {
  const int B = 2, H = 3, S = 5, D = 8;
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 4, B, H, S, D));
  int32_t p = per_batch ? input(g, "p", ty(QIAO_I64, 2, B, S)) : input(g, "p", ty(QIAO_I32, 1, S));
  qiao_attrs_t a = defaults(QIAO_OP_ROPE);
  a.mode = mode;
  a.theta = 500.0;
  outputs(g, 1, op(g, QIAO_OP_ROPE, &a, 2, x, p));
  qiao_tensor_t *ins[2] = {rnd(g->values[x].type, 90, -1, 1), rnd(g->values[p].type, 91, 0, 40)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double *ref = calloc((size_t)(B * H * S * D), sizeof(double));
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int s = 0; s < S; ++s) {
        double pos = at(ins[1], per_batch ? b * S + s : s);
        const int base = ((b * H + h) * S + s) * D;
        for (int i = 0; i < D / 2; ++i) {
          double ang = pos / pow(500.0, (2.0 * i) / D);
          int i0 = mode == QIAO_ROPE_NEOX ? i : 2 * i;
          int i1 = mode == QIAO_ROPE_NEOX ? i + D / 2 : 2 * i + 1;
          double x0 = at(ins[0], base + i0), x1 = at(ins[0], base + i1);
          ref[base + i0] = x0 * cos(ang) - x1 * sin(ang);
          ref[base + i1] = x1 * cos(ang) + x0 * sin(ang);
        }
      }
  expect_close(out[0], ref, B * H * S * D, 1e-5, 1e-6);
  /* rotation preserves the norm of each pair */
  free(ref);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_rope, neox) { check_rope(QIAO_ROPE_NEOX, false); }
Test(interp_rope, gptj) { check_rope(QIAO_ROPE_GPTJ, false); }
Test(interp_rope, neox_per_batch_positions) { check_rope(QIAO_ROPE_NEOX, true); }

Test(interp_rope, position_zero_is_identity) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 4, 1, 1, 1, 4)), p = input(g, "p", ty(QIAO_I32, 1, 1));
  outputs(g, 1, op(g, QIAO_OP_ROPE, NULL, 2, x, p));
  qiao_tensor_t *ins[2] = {from(g->values[x].type, (double[]){1, 2, 3, 4}),
                           from(g->values[p].type, (double[]){0})};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  expect_close(out[0], (double[]){1, 2, 3, 4}, 4, 0, 0);
  free_all(ins, 2);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

/* --------------------------------------------------------------------- topk */

Test(interp_topk, ties_go_to_lower_index) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, 2, 7));
  qiao_attrs_t a = defaults(QIAO_OP_TOPK);
  a.k = 4;
  int32_t opid;
  qiao_loc_t loc = {0, 0};
  cr_assert_null(qiao_ir_graph_add_op(g, QIAO_OP_TOPK, &x, 1, &a, NULL, NULL, loc, &opid));
  outputs(g, 2, g->ops[opid].results[0], g->ops[opid].results[1]);
  cr_assert_eq(g->values[g->ops[opid].results[1]].type.dtype, QIAO_I64);
  const double xv[14] = {3, 1, 3, 5, 5, -2, 3, /**/ 0, 0, 0, 0, 0, 0, 1};
  qiao_tensor_t *ins[1] = {from(g->values[x].type, xv)};
  qiao_tensor_t *out[2];
  run(g, ins, out);
  expect_close(out[0], (double[]){5, 5, 3, 3, 1, 0, 0, 0}, 8, 0, 0);
  int64_t want[8] = {3, 4, 0, 2, 6, 0, 1, 2};
  cr_expect_eq(memcmp(out[1]->data, want, sizeof want), 0);
  free_all(ins, 1);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

Test(interp_topk, random_axis0) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, 17, 3));
  qiao_attrs_t a = defaults(QIAO_OP_TOPK);
  a.k = 3;
  a.axis = 0;
  int32_t opid;
  qiao_loc_t loc = {0, 0};
  cr_assert_null(qiao_ir_graph_add_op(g, QIAO_OP_TOPK, &x, 1, &a, NULL, NULL, loc, &opid));
  outputs(g, 2, g->ops[opid].results[0], g->ops[opid].results[1]);
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 100, -1, 1)};
  qiao_tensor_t *out[2];
  run(g, ins, out);
  for (int c = 0; c < 3; ++c) {
    bool used[17] = {false};
    for (int r = 0; r < 3; ++r) { /* selection by repeated argmax */
      int best = -1;
      for (int i = 0; i < 17; ++i)
        if (!used[i] && (best < 0 || at(ins[0], i * 3 + c) > at(ins[0], best * 3 + c)))
          best = i;
      used[best] = true;
      cr_expect_eq(((int64_t *)out[1]->data)[r * 3 + c], best);
      cr_expect_eq(at(out[0], r * 3 + c), at(ins[0], best * 3 + c));
    }
  }
  free_all(ins, 1);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- attention */

typedef struct {
  int B, Hq, Hkv, Sq, Skv, D;
  bool causal, mask;
  int window;
  double scale; /* 0: default */
  qiao_dtype_t dt;
  const int *kv_len; /* B values (any, clamped to [0, Skv]) or NULL */
} attn_case_t;

/* Naive attention, per (b, h, i): scores over the visible keys, softmax, ·v. */
static void ref_attention(const attn_case_t *c, const qiao_tensor_t *q, const qiao_tensor_t *k,
                          const qiao_tensor_t *v, const qiao_tensor_t *m, double *out) {
  double scale = c->scale ? c->scale : 1.0 / sqrt((double)c->D);
  double sc[64];
  for (int b = 0; b < c->B; ++b)
    for (int h = 0; h < c->Hq; ++h) {
      int kh = h * c->Hkv / c->Hq; /* consecutive query heads share a kv head */
      int L = c->Skv;
      if (c->kv_len)
        L = c->kv_len[b] < 0 ? 0 : c->kv_len[b] > c->Skv ? c->Skv : c->kv_len[b];
      for (int i = 0; i < c->Sq; ++i) {
        int pos = L - c->Sq + i;
        double mx = -INFINITY;
        for (int j = 0; j < c->Skv; ++j) {
          bool vis = j < L;
          if (c->causal && j > pos)
            vis = false;
          if (c->window && !(j <= pos && j > pos - c->window))
            vis = false;
          if (!vis) {
            sc[j] = -INFINITY;
            continue;
          }
          double s = 0;
          for (int d = 0; d < c->D; ++d)
            s += at(q, ((b * c->Hq + h) * c->Sq + i) * c->D + d) *
                 at(k, ((b * c->Hkv + kh) * c->Skv + j) * c->D + d);
          s *= scale;
          if (m)
            s += at(m, i * c->Skv + j);
          sc[j] = s;
          if (s > mx)
            mx = s;
        }
        double den = 0;
        for (int j = 0; j < c->Skv; ++j)
          den += sc[j] == -INFINITY ? 0 : exp(sc[j] - mx);
        for (int d = 0; d < c->D; ++d) {
          double num = 0;
          for (int j = 0; j < c->Skv; ++j)
            if (sc[j] != -INFINITY)
              num += exp(sc[j] - mx) * at(v, ((b * c->Hkv + kh) * c->Skv + j) * c->D + d);
          out[((b * c->Hq + h) * c->Sq + i) * c->D + d] =
              qiao_round_to_dtype(den > 0 ? num / den : 0.0, c->dt);
        }
      }
    }
}

static void check_attention(attn_case_t c) {
  qiao_graph_t *g = new_graph();
  int32_t q = input(g, "q", ty(c.dt, 4, c.B, c.Hq, c.Sq, c.D));
  int32_t k = input(g, "k", ty(c.dt, 4, c.B, c.Hkv, c.Skv, c.D));
  int32_t v = input(g, "v", ty(c.dt, 4, c.B, c.Hkv, c.Skv, c.D));
  int32_t m = c.mask ? input(g, "m", ty(c.dt, 2, c.Sq, c.Skv)) : -1;
  int32_t l = c.kv_len ? input(g, "kv_len", ty(QIAO_I32, 1, c.B)) : -1;
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  a.causal = c.causal;
  a.window = c.window;
  if (c.scale)
    a.has_scale = true, a.scale = c.scale;
  int32_t y = c.mask && c.kv_len ? op(g, QIAO_OP_ATTENTION, &a, 5, q, k, v, m, l)
              : c.mask           ? op(g, QIAO_OP_ATTENTION, &a, 4, q, k, v, m)
              : c.kv_len         ? op(g, QIAO_OP_ATTENTION, &a, 4, q, k, v, l)
                                 : op(g, QIAO_OP_ATTENTION, &a, 3, q, k, v);
  outputs(g, 1, y);
  qiao_tensor_t *ins[5] = {rnd(g->values[q].type, 110, -1, 1), rnd(g->values[k].type, 111, -1, 1),
                           rnd(g->values[v].type, 112, -1, 1), NULL, NULL};
  int n_in = 3;
  if (c.mask) n_in++;
  if (c.kv_len) {
    double lv[8] = {0};
    for (int b = 0; b < c.B && b < 8; ++b)
      lv[b] = c.kv_len[b];
    ins[n_in++] = from(ty(QIAO_I32, 1, c.B), lv);
  }
  if (c.mask) {
    ins[3] = rnd(g->values[m].type, 113, -2, 2);
    /* block a few entries entirely */
    for (int i = 0; i < c.Sq; ++i)
      qiao_tensor_set_f64(ins[3], i * c.Skv + (i % c.Skv), -INFINITY);
  }
  qiao_tensor_t *out[1];
  run(g, ins, out);
  int64_t n = (int64_t)c.B * c.Hq * c.Sq * c.D;
  double *ref = calloc((size_t)n, sizeof(double));
  ref_attention(&c, ins[0], ins[1], ins[2], c.mask ? ins[3] : NULL, ref);
  double tol = c.dt == QIAO_F32 ? 1e-6 : 1e-2;
  expect_close(out[0], ref, n, tol, tol);
  free(ref);
  free_all(ins, 5);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_attention, basic) {
  check_attention((attn_case_t){2, 3, 3, 5, 5, 8, false, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, cross_lengths) {
  check_attention((attn_case_t){1, 2, 2, 3, 17, 4, false, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, gqa) {
  check_attention((attn_case_t){1, 6, 2, 5, 7, 8, false, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, mqa_causal) {
  check_attention((attn_case_t){2, 4, 1, 7, 7, 4, true, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, causal_scale) {
  check_attention((attn_case_t){1, 2, 2, 17, 17, 8, true, false, 0, 0.3, QIAO_F32, NULL});
}
Test(interp_attention, decode_sq1) {
  check_attention((attn_case_t){2, 4, 2, 1, 17, 8, true, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, causal_sq_lt_skv) {
  check_attention((attn_case_t){1, 2, 1, 3, 9, 4, true, false, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, window) {
  check_attention((attn_case_t){1, 2, 2, 17, 17, 4, true, false, 4, 0, QIAO_F32, NULL});
}
Test(interp_attention, window_decode) {
  check_attention((attn_case_t){1, 4, 2, 1, 17, 4, true, false, 3, 0, QIAO_F32, NULL});
}
Test(interp_attention, mask) {
  check_attention((attn_case_t){1, 3, 3, 5, 6, 4, false, true, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, mask_causal_gqa) {
  check_attention((attn_case_t){2, 4, 2, 4, 6, 4, true, true, 0, 0, QIAO_F32, NULL});
}
Test(interp_attention, bf16) {
  check_attention((attn_case_t){1, 2, 1, 5, 5, 8, true, false, 0, 0, QIAO_BF16, NULL});
}

/* kv_len: keys at j >= kv_len[b] are ignored, queries sit at kv_len[b] - Sq + i;
 * values outside [0, Skv] are clamped; a row that sees no key gives zeros. */
Test(interp_attention, kv_len_ragged) {
  static const int L[3] = {5, 0, 9};
  check_attention((attn_case_t){3, 4, 2, 2, 9, 8, false, false, 0, 0, QIAO_F32, L});
}
Test(interp_attention, kv_len_causal_decode) {
  static const int L[2] = {7, 1};
  check_attention((attn_case_t){2, 4, 2, 1, 12, 8, true, false, 0, 0, QIAO_F32, L});
}
Test(interp_attention, kv_len_causal_chunk) {
  /* Sq = 3 with kv_len 2: the first query sits at position -1 and sees nothing */
  static const int L[2] = {6, 2};
  check_attention((attn_case_t){2, 2, 1, 3, 10, 4, true, false, 0, 0, QIAO_F32, L});
}
Test(interp_attention, kv_len_window) {
  static const int L[2] = {8, 3};
  check_attention((attn_case_t){2, 2, 2, 2, 11, 4, true, false, 3, 0, QIAO_F32, L});
}
Test(interp_attention, kv_len_clamped) {
  static const int L[2] = {-3, 40};
  check_attention((attn_case_t){2, 2, 2, 2, 7, 4, true, false, 0, 0, QIAO_F32, L});
}
Test(interp_attention, kv_len_with_mask) {
  static const int L[2] = {4, 6};
  check_attention((attn_case_t){2, 2, 1, 3, 6, 4, false, true, 0, 0, QIAO_F32, L});
}

/* A row that sees no key (fully masked) yields zeros, not NaN. */
Test(interp_attention, fully_masked_row_is_zero) {
  qiao_graph_t *g = new_graph();
  qiao_type_t t = ty(QIAO_F32, 4, 1, 1, 2, 2);
  int32_t q = input(g, "q", t), k = input(g, "k", t), v = input(g, "v", t),
          m = input(g, "m", ty(QIAO_F32, 2, 2, 2));
  outputs(g, 1, op(g, QIAO_OP_ATTENTION, NULL, 4, q, k, v, m));
  qiao_tensor_t *ins[4] = {rnd(t, 120, -1, 1), rnd(t, 121, -1, 1), rnd(t, 122, -1, 1),
                           from(ty(QIAO_F32, 2, 2, 2), (double[]){-INFINITY, -INFINITY, 0, 0})};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  cr_expect_eq(at(out[0], 0), 0.0);
  cr_expect_eq(at(out[0], 1), 0.0);
  cr_expect(isfinite(at(out[0], 2)) && at(out[0], 2) != 0.0);
  free_all(ins, 4);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------------- moe */

static void check_moe(int T, int D, int E, int F, int top_k, bool norm, qiao_router_fn_t fn,
                      qiao_dtype_t wdt) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, T, D));
  int32_t r = input(g, "r", ty(QIAO_F32, 2, D, E));
  int32_t wg = input(g, "g", ty(wdt, 3, E, D, F)), wu = input(g, "u", ty(wdt, 3, E, D, F)),
          wd = input(g, "d", ty(wdt, 3, E, F, D));
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  a.top_k = top_k;
  a.norm_topk = norm;
  a.router_fn = fn;
  outputs(g, 1, op(g, QIAO_OP_MOE, &a, 5, x, r, wg, wu, wd));
  qiao_tensor_t *ins[5] = {rnd(g->values[x].type, 130, -1, 1), rnd(g->values[r].type, 131, -1, 1),
                           rnd(g->values[wg].type, 132, -0.5, 0.5),
                           rnd(g->values[wu].type, 133, -0.5, 0.5),
                           rnd(g->values[wd].type, 134, -0.5, 0.5)};
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double *ref = calloc((size_t)(T * D), sizeof(double));
  for (int t = 0; t < T; ++t) {
    double score[64];
    double mx = -INFINITY, z = 0;
    for (int e = 0; e < E; ++e) {
      score[e] = 0;
      for (int d = 0; d < D; ++d)
        score[e] += at(ins[0], t * D + d) * at(ins[1], d * E + e);
      mx = fmax(mx, score[e]);
    }
    for (int e = 0; e < E; ++e) {
      if (fn == QIAO_ROUTER_SIGMOID)
        score[e] = 1 / (1 + exp(-score[e]));
      else
        z += exp(score[e] - mx);
    }
    if (fn == QIAO_ROUTER_SOFTMAX)
      for (int e = 0; e < E; ++e)
        score[e] = exp(score[e] - mx) / z;
    /* pick top_k: repeated argmax, ties → lower index */
    int chosen[64];
    bool used[64] = {false};
    double wsum = 0;
    for (int j = 0; j < top_k; ++j) {
      int best = -1;
      for (int e = 0; e < E; ++e)
        if (!used[e] && (best < 0 || score[e] > score[best]))
          best = e;
      used[best] = true;
      chosen[j] = best;
      wsum += score[best];
    }
    for (int j = 0; j < top_k; ++j) {
      int e = chosen[j];
      double w = norm ? score[e] / wsum : score[e];
      for (int dd = 0; dd < D; ++dd) {
        double y = 0;
        for (int f = 0; f < F; ++f) {
          double gs = 0, us = 0;
          for (int d = 0; d < D; ++d) {
            gs += at(ins[0], t * D + d) * at(ins[2], (e * D + d) * F + f);
            us += at(ins[0], t * D + d) * at(ins[3], (e * D + d) * F + f);
          }
          double h = gs / (1 + exp(-gs)) * us;
          y += h * at(ins[4], (e * F + f) * D + dd);
        }
        ref[t * D + dd] += w * y;
      }
    }
  }
  expect_close(out[0], ref, T * D, 1e-5, 1e-6);
  free(ref);
  free_all(ins, 5);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

Test(interp_moe, softmax_top2_norm) {
  check_moe(3, 8, 4, 5, 2, true, QIAO_ROUTER_SOFTMAX, QIAO_F32);
}
Test(interp_moe, softmax_top1_no_norm) {
  check_moe(17, 4, 3, 3, 1, false, QIAO_ROUTER_SOFTMAX, QIAO_F32);
}
Test(interp_moe, sigmoid_top3_norm_bf16_weights) {
  check_moe(5, 6, 8, 4, 3, true, QIAO_ROUTER_SIGMOID, QIAO_BF16);
}
Test(interp_moe, sigmoid_no_norm) {
  check_moe(1, 3, 5, 2, 2, false, QIAO_ROUTER_SIGMOID, QIAO_F32);
}

/* Equal router scores (zero router): experts 0 and 1 are chosen, weight 1/2 each. */
Test(interp_moe, tied_scores_pick_lower_experts) {
  const int T = 2, D = 3, E = 4, F = 2;
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 2, T, D)), r = input(g, "r", ty(QIAO_F32, 2, D, E));
  int32_t wg = input(g, "g", ty(QIAO_F32, 3, E, D, F)),
          wu = input(g, "u", ty(QIAO_F32, 3, E, D, F)),
          wd = input(g, "d", ty(QIAO_F32, 3, E, F, D));
  outputs(g, 1, op(g, QIAO_OP_MOE, NULL, 5, x, r, wg, wu, wd)); /* top_k 2, norm, softmax */
  qiao_tensor_t *ins[5] = {rnd(g->values[x].type, 140, -1, 1), NULL,
                           rnd(g->values[wg].type, 142, -1, 1), rnd(g->values[wu].type, 143, -1, 1),
                           rnd(g->values[wd].type, 144, -1, 1)};
  cr_assert_null(qiao_tensor_create(g->values[r].type, &ins[1])); /* zeros: all scores tie */
  qiao_tensor_t *out[1];
  run(g, ins, out);
  double ref[T * D];
  for (int t = 0; t < T; ++t)
    for (int dd = 0; dd < D; ++dd) {
      double acc = 0;
      for (int e = 0; e < 2; ++e) {
        double y = 0;
        for (int f = 0; f < F; ++f) {
          double gs = 0, us = 0;
          for (int d = 0; d < D; ++d) {
            gs += at(ins[0], t * D + d) * at(ins[2], (e * D + d) * F + f);
            us += at(ins[0], t * D + d) * at(ins[3], (e * D + d) * F + f);
          }
          y += gs / (1 + exp(-gs)) * us * at(ins[4], (e * F + f) * D + dd);
        }
        acc += 0.5 * y;
      }
      ref[t * D + dd] = acc;
    }
  expect_close(out[0], ref, T * D, 1e-6, 1e-7);
  free_all(ins, 5);
  free_all(out, 1);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------ const, params, graph */

Test(interp_graph, const_splat_and_values) {
  qiao_graph_t *g = new_graph();
  qiao_status_t s = NULL;
  int32_t c1 =
      qiao_ir_build_const(g, ty(QIAO_BF16, 2, 2, 3), (double[]){1.0 + 3 * 0x1p-8}, 1, "c1", &s);
  cr_assert_null(s);
  int32_t c2 = qiao_ir_build_const(g, ty(QIAO_I32, 1, 3), (double[]){7, -2, 100000}, 3, "c2", &s);
  cr_assert_null(s);
  int32_t c3 = qiao_ir_build_const(g, ty(QIAO_F8E4M3, 1, 2), (double[]){1000, 0.1}, 2, "c3", &s);
  cr_assert_null(s);
  outputs(g, 3, c1, c2, c3);
  qiao_tensor_t *out[3];
  run(g, NULL, out);
  for (int i = 0; i < 6; ++i)
    cr_expect_eq(((uint16_t *)out[0]->data)[i], 0x3F82);
  int32_t w2[3] = {7, -2, 100000};
  cr_expect_eq(memcmp(out[1]->data, w2, sizeof w2), 0);
  cr_expect_eq(((uint8_t *)out[2]->data)[0], 0x7E);
  cr_expect_eq(at(out[2], 1), 0.1015625);
  free_all(out, 3);
  qiao_ir_graph_destroy(g);
}

Test(interp_graph, params_bound_by_name) {
  qiao_graph_t *g = new_graph();
  qiao_status_t s = NULL;
  int32_t x = input(g, "x", ty(QIAO_F32, 2, 3, 17));
  int32_t w = qiao_ir_build_param(g, "mlp.gate", ty(QIAO_BF16, 2, 17, 5), "w", &s);
  cr_assert_null(s);
  outputs(g, 1, op(g, QIAO_OP_MATMUL, NULL, 2, x, w));
  qiao_tensor_t *xt = rnd(ty(QIAO_F32, 2, 3, 17), 150, -1, 1);
  qiao_tensor_t *wt = rnd(ty(QIAO_BF16, 2, 17, 5), 151, -1, 1);
  qiao_tensor_t *other = rnd(ty(QIAO_BF16, 2, 17, 5), 152, -1, 1);
  const char *names[2] = {"other", "mlp.gate"};
  const qiao_tensor_t *ps[2] = {other, wt};
  qiao_tensor_t *out[1] = {NULL};
  s = qiao_interp_run(g, (const qiao_tensor_t *const *)&xt, NULL, names, ps, 2, out);
  cr_assert_null(s, "%s", qiao_status_message(s));
  double ref[15];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 5; ++j) {
      double acc = 0;
      for (int k = 0; k < 17; ++k)
        acc += at(xt, i * 17 + k) * at(wt, k * 5 + j);
      ref[i * 5 + j] = (float)acc;
    }
  expect_close(out[0], ref, 15, 0, 0);
  qiao_tensor_destroy(out[0]);

  /* missing */
  s = qiao_interp_run(g, (const qiao_tensor_t *const *)&xt, NULL, names, ps, 1, out);
  cr_assert_eq(qiao_status_code(s), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(s), "param \"mlp.gate\" not bound"), "%s",
            qiao_status_message(s));
  cr_expect_null(out[0]);
  qiao_status_free(s);

  /* wrong type: the message names both types */
  qiao_tensor_t *bad = rnd(ty(QIAO_F32, 2, 17, 5), 153, -1, 1);
  const qiao_tensor_t *pb[1] = {bad};
  s = qiao_interp_run(g, (const qiao_tensor_t *const *)&xt, NULL, names + 1, pb, 1, out);
  cr_assert_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(s), "bf16[17, 5]"), "%s", qiao_status_message(s));
  cr_expect(strstr(qiao_status_message(s), "f32[17, 5]"), "%s", qiao_status_message(s));
  qiao_status_free(s);

  /* wrong input type */
  qiao_tensor_t *xbad = rnd(ty(QIAO_F32, 2, 3, 16), 154, -1, 1);
  s = qiao_interp_run(g, (const qiao_tensor_t *const *)&xbad, NULL, names, ps, 2, out);
  cr_assert_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(s), "f32[3, 17]") &&
                strstr(qiao_status_message(s), "f32[3, 16]"),
            "%s", qiao_status_message(s));
  qiao_status_free(s);
  qiao_tensor_destroy(xbad);
  qiao_tensor_destroy(bad);
  qiao_tensor_destroy(xt);
  qiao_tensor_destroy(wt);
  qiao_tensor_destroy(other);
  qiao_ir_graph_destroy(g);
}

/* A bf16 SwiGLU MLP with an rms_norm in front: each op's result is rounded to
 * bf16 exactly where the graph stores it. The reference rounds step by step. */
Test(interp_graph, bf16_mlp_rounds_at_each_value) {
  const int T = 3, D = 8, F = 17;
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_BF16, 2, T, D)), nw = input(g, "nw", ty(QIAO_BF16, 1, D));
  int32_t wg = input(g, "wg", ty(QIAO_BF16, 2, D, F)), wu = input(g, "wu", ty(QIAO_BF16, 2, D, F)),
          wd = input(g, "wd", ty(QIAO_BF16, 2, F, D));
  int32_t h = op(g, QIAO_OP_RMS_NORM, NULL, 2, x, nw);
  int32_t gg = op(g, QIAO_OP_MATMUL, NULL, 2, h, wg);
  int32_t uu = op(g, QIAO_OP_MATMUL, NULL, 2, h, wu);
  int32_t act = op(g, QIAO_OP_MUL, NULL, 2, op(g, QIAO_OP_SILU, NULL, 1, gg), uu);
  int32_t y = op(g, QIAO_OP_ADD, NULL, 2, op(g, QIAO_OP_MATMUL, NULL, 2, act, wd), x);
  outputs(g, 2, y, gg);
  qiao_tensor_t *ins[5] = {rnd(g->values[x].type, 160, -2, 2),
                           rnd(g->values[nw].type, 161, 0.5, 1.5),
                           rnd(g->values[wg].type, 162, -1, 1), rnd(g->values[wu].type, 163, -1, 1),
                           rnd(g->values[wd].type, 164, -1, 1)};
  qiao_tensor_t *out[2];
  run(g, ins, out);
#define BF(v) qiao_round_to_dtype((v), QIAO_BF16)
  double hn[T * D], g1[T * F], u1[T * F], a1[T * F], ref[T * D];
  for (int t = 0; t < T; ++t) {
    double ss = 0;
    for (int d = 0; d < D; ++d)
      ss += pow(at(ins[0], t * D + d), 2);
    for (int d = 0; d < D; ++d)
      hn[t * D + d] = BF(at(ins[0], t * D + d) / sqrt(ss / D + 1e-6) * at(ins[1], d));
    for (int f = 0; f < F; ++f) {
      double sg = 0, su = 0;
      for (int d = 0; d < D; ++d) {
        sg += hn[t * D + d] * at(ins[2], d * F + f);
        su += hn[t * D + d] * at(ins[3], d * F + f);
      }
      g1[t * F + f] = BF(sg);
      u1[t * F + f] = BF(su);
      a1[t * F + f] = BF(BF(g1[t * F + f] / (1 + exp(-g1[t * F + f]))) * u1[t * F + f]);
    }
    for (int d = 0; d < D; ++d) {
      double s = 0;
      for (int f = 0; f < F; ++f)
        s += a1[t * F + f] * at(ins[4], f * D + d);
      ref[t * D + d] = BF(BF(s) + at(ins[0], t * D + d));
    }
  }
#undef BF
  expect_close(out[1], g1, T * F, 0, 0);
  expect_close(out[0], ref, T * D, 0, 0);
  free_all(ins, 5);
  free_all(out, 2);
  qiao_ir_graph_destroy(g);
}

/* An input that is also an output, a value used twice, a dead value. */
Test(interp_graph, aliasing_outputs_and_dead_values) {
  qiao_graph_t *g = new_graph();
  int32_t x = input(g, "x", ty(QIAO_F32, 1, 17));
  int32_t sq = op(g, QIAO_OP_MUL, NULL, 2, x, x);
  (void)op(g, QIAO_OP_EXP, NULL, 1, sq); /* dead */
  outputs(g, 3, x, sq, sq);
  qiao_tensor_t *ins[1] = {rnd(g->values[x].type, 170, -3, 3)};
  qiao_tensor_t *out[3];
  run(g, ins, out);
  cr_expect_neq(out[0]->data, ins[0]->data);
  cr_expect_eq(memcmp(out[0]->data, ins[0]->data, 17 * 4), 0);
  double ref[17];
  for (int i = 0; i < 17; ++i)
    ref[i] = (float)(at(ins[0], i) * at(ins[0], i));
  expect_close(out[1], ref, 17, 0, 0);
  expect_close(out[2], ref, 17, 0, 0);
  cr_expect_neq(out[1], out[2]);
  free_all(ins, 1);
  free_all(out, 3);
  qiao_ir_graph_destroy(g);
}

/* ----------------------------------------------------- matmul with a zero dim */

/* a [M, K] × b [K, N] (+ a fused-looking epilogue add), interpreted and
 * partitioned: nothing in ir/ refuses a zero M, N or K. */
static void check_matmul_zero(int M, int K, int N, bool bf16_b) {
  qiao_graph_t *g = new_graph();
  int32_t a = input(g, "a", ty(QIAO_F32, 2, M, K));
  int32_t b = input(g, "b", ty(bf16_b ? QIAO_BF16 : QIAO_F32, 2, K, N));
  int32_t c = input(g, "c", ty(QIAO_F32, 1, N));
  qiao_attrs_t d = defaults(QIAO_OP_MATMUL);
  int32_t y = op(g, QIAO_OP_MATMUL, &d, 2, a, b);
  d = defaults(QIAO_OP_ADD);
  int32_t z = op(g, QIAO_OP_ADD, &d, 2, y, c);
  outputs(g, 2, y, z);
  cr_assert_null(qiao_ir_graph_verify(g));
  qiao_tensor_t *ins[3] = {rnd(ty(QIAO_F32, 2, M, K), 1, -1, 1),
                           rnd(ty(bf16_b ? QIAO_BF16 : QIAO_F32, 2, K, N), 2, -1, 1),
                           rnd(ty(QIAO_F32, 1, N), 3, -1, 1)};
  qiao_tensor_t *outs[2];
  run(g, ins, outs);
  cr_expect_eq(outs[0]->type.shape.rank, 2);
  cr_expect_eq(outs[0]->type.shape.dims[0], M);
  cr_expect_eq(outs[0]->type.shape.dims[1], N);
  cr_expect_eq(qiao_shape_numel(&outs[0]->type.shape), (int64_t)M * N);
  for (int64_t i = 0; i < (int64_t)M * N; ++i) {
    cr_expect_eq(at(outs[0], i), 0.0, "K = 0: an empty sum is 0 (element %lld)", (long long)i);
    cr_expect_eq(at(outs[1], i), at(ins[2], i % N));
  }
  qiao_partition_t *p = NULL;
  qiao_status_t s = qiao_ir_partition(g, NULL, &p);
  cr_expect_null(s, "partition: %s", qiao_status_message(s));
  qiao_status_free(s);
  qiao_ir_partition_destroy(p);
  for (int i = 0; i < 3; ++i) qiao_tensor_destroy(ins[i]);
  for (int i = 0; i < 2; ++i) qiao_tensor_destroy(outs[i]);
  qiao_ir_graph_destroy(g);
}

Test(interp_matmul, zero_k_gives_zeros) {
  check_matmul_zero(3, 0, 5, false);
  check_matmul_zero(3, 0, 5, true);
}

Test(interp_matmul, zero_m_or_n_gives_an_empty_tensor) {
  check_matmul_zero(0, 4, 5, false);
  check_matmul_zero(3, 4, 0, false);
  check_matmul_zero(0, 0, 0, false);
}

Test(interp_matmul, zero_batch_and_transposes) {
  qiao_graph_t *g = new_graph();
  int32_t a = input(g, "a", ty(QIAO_F32, 3, 0, 0, 3)); /* transposed: [B=0, M=3, K=0] */
  int32_t b = input(g, "b", ty(QIAO_F32, 3, 1, 4, 0)); /* transposed: [1, K=0, N=4] */
  qiao_attrs_t d = defaults(QIAO_OP_MATMUL);
  d.transpose_a = d.transpose_b = true;
  int32_t y = op(g, QIAO_OP_MATMUL, &d, 2, a, b);
  outputs(g, 1, y);
  cr_expect_eq(g->values[y].type.shape.dims[0], 0);
  cr_expect_eq(g->values[y].type.shape.dims[1], 3);
  cr_expect_eq(g->values[y].type.shape.dims[2], 4);
  qiao_tensor_t *ins[2] = {rnd(ty(QIAO_F32, 3, 0, 0, 3), 1, -1, 1),
                           rnd(ty(QIAO_F32, 3, 1, 4, 0), 2, -1, 1)};
  qiao_tensor_t *outs[1];
  run(g, ins, outs);
  cr_expect_eq(qiao_shape_numel(&outs[0]->type.shape), 0);
  for (int i = 0; i < 2; ++i) qiao_tensor_destroy(ins[i]);
  qiao_tensor_destroy(outs[0]);
  qiao_ir_graph_destroy(g);
}
