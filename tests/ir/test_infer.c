/* Shape and dtype inference: for every op kind, good cases checked for the
 * exact result type and bad cases checked for the message. Ops are added to
 * real graphs through the builder, which calls qiao_ir_infer_op. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

/* ty(QIAO_F32, 2, 4, 8) is f32[4, 8]. */
static qiao_type_t ty(qiao_dtype_t dt, int rank, ...) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; ++i) t.shape.dims[i] = va_arg(ap, int);
  va_end(ap);
  return t;
}

static qiao_attrs_t defaults(qiao_op_kind_t kind) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, kind);
  return a;
}

/* Adds one op of `kind` on fresh graph inputs of types `in` (attrs NULL:
 * defaults). On success writes the result types as text into out0/out1 and
 * returns NULL; on failure returns the message (caller frees). */
static char *run_op(qiao_op_kind_t kind, const qiao_type_t *in, int n, const qiao_attrs_t *a,
                    char *out0, char *out1) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  cr_assert(n <= 8);
  int32_t ids[8];
  for (int i = 0; i < n; ++i) {
    char nm[16];
    snprintf(nm, sizeof nm, "x%d", i);
    qiao_status_t s = qiao_ir_graph_add_input(g, nm, in[i], &ids[i]);
    cr_assert_null(s, "add_input: %s", qiao_status_message(s));
  }
  int32_t op;
  qiao_loc_t loc = {0, 0};
  qiao_status_t st = qiao_ir_graph_add_op(g, kind, ids, n, a, NULL, NULL, loc, &op);
  char *msg = NULL;
  if (st) {
    msg = strdup(qiao_status_message(st));
    cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
    qiao_status_free(st);
  } else {
    qiao_type_str(&g->values[g->ops[op].results[0]].type, out0, 128);
    if (out1 && g->ops[op].n_results > 1)
      qiao_type_str(&g->values[g->ops[op].results[1]].type, out1, 128);
  }
  qiao_ir_graph_destroy(g);
  return msg;
}

static void expect_type(qiao_op_kind_t kind, const qiao_type_t *in, int n, const qiao_attrs_t *a,
                        const char *want) {
  char got[128] = "", got1[128] = "";
  char *m = run_op(kind, in, n, a, got, got1);
  cr_assert_null(m, "%s: unexpected error: %s", qiao_op_name(kind), m ? m : "");
  cr_expect_str_eq(got, want, "%s: got %s, want %s", qiao_op_name(kind), got, want);
}

static void expect_error(qiao_op_kind_t kind, const qiao_type_t *in, int n, const qiao_attrs_t *a,
                         const char *needle) {
  char got[128] = "", got1[128] = "";
  char *m = run_op(kind, in, n, a, got, got1);
  cr_assert_not_null(m, "%s: expected an error containing '%s', got type %s", qiao_op_name(kind),
                     needle, got);
  cr_expect(strstr(m, needle), "%s: '%s' not in message: %s", qiao_op_name(kind), needle, m);
  free(m);
}

#define TYPES(...) ((const qiao_type_t[]){__VA_ARGS__})
#define NARGS(...) ((int)(sizeof((const qiao_type_t[]){__VA_ARGS__}) / sizeof(qiao_type_t)))
#define OK(kind, a, want, ...) expect_type(kind, TYPES(__VA_ARGS__), NARGS(__VA_ARGS__), a, want)
#define ERR(kind, a, needle, ...) \
  expect_error(kind, TYPES(__VA_ARGS__), NARGS(__VA_ARGS__), a, needle)

/* ------------------------------------------------------------------ leaves */

Test(infer, param) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  qiao_status_t s;
  int32_t w = qiao_ir_build_param(g, "mlp.up", ty(QIAO_BF16, 2, 4, 8), "w", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  char b[128];
  cr_expect_str_eq(qiao_type_str(&g->values[w].type, b, sizeof b), "bf16[4, 8]");
  cr_expect_eq(qiao_ir_build_param(g, "p", ty(QIAO_F32, 2, 4, -1), "p", &s), -1);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "param: result type has a negative dimension -1"), "%s",
            qiao_status_message(s));
  qiao_status_free(s);
  qiao_type_t big = ty(QIAO_F32, 0);
  big.shape.rank = 9;
  cr_expect_eq(qiao_ir_build_param(g, "p", big, "p", &s), -1);
  cr_expect(s && strstr(qiao_status_message(s), "rank 9; expected 0 to 8"));
  qiao_status_free(s);
  cr_expect_eq(qiao_ir_build_param(g, NULL, ty(QIAO_F32, 1, 2), "q", &s), -1);
  cr_expect(s && strstr(qiao_status_message(s), "param: needs a non-empty name"));
  qiao_status_free(s);
  qiao_ir_graph_destroy(g);
}

Test(infer, const) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  qiao_status_t s;
  double v[4] = {1.5, 2, 3, 4};
  int32_t c = qiao_ir_build_const(g, ty(QIAO_F32, 2, 2, 2), v, 1, "splat", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  char b[128];
  cr_expect_str_eq(qiao_type_str(&g->values[c].type, b, sizeof b), "f32[2, 2]");
  c = qiao_ir_build_const(g, ty(QIAO_I32, 1, 4), v, 4, "ints", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_expect_str_eq(qiao_type_str(&g->values[c].type, b, sizeof b), "i32[4]");
  cr_expect_eq(qiao_ir_build_const(g, ty(QIAO_F32, 2, 2, 2), v, 3, "bad", &s), -1);
  cr_expect(s && strstr(qiao_status_message(s),
                        "const: 3 values given for f32[2, 2]; expected 1 (a splat) or 4"),
            "%s", qiao_status_message(s));
  qiao_status_free(s);

  /* Integer payload for a float dtype, both payloads, neither. */
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  int64_t iv[1] = {1};
  a.n_values = 1;
  a.const_i = iv;
  qiao_type_t t = ty(QIAO_F32, 0);
  qiao_type_t out = t;
  s = qiao_ir_infer_op(QIAO_OP_CONST, &t, 0, &a, &out);
  cr_expect(s && strstr(qiao_status_message(s), "f32 values must be given as floats"));
  qiao_status_free(s);
  a.const_f = v;
  s = qiao_ir_infer_op(QIAO_OP_CONST, &t, 0, &a, &out);
  cr_expect(s && strstr(qiao_status_message(s), "exactly one of"));
  qiao_status_free(s);
  a.const_i = NULL;
  t = ty(QIAO_I64, 0);
  out = t;
  s = qiao_ir_infer_op(QIAO_OP_CONST, &t, 0, &a, &out);
  cr_expect(s && strstr(qiao_status_message(s), "i64 values must be given as integers"));
  qiao_status_free(s);
  /* bool takes float payloads. */
  t = ty(QIAO_BOOL, 1, 3);
  out = t;
  s = qiao_ir_infer_op(QIAO_OP_CONST, &t, 0, &a, &out);
  cr_expect_null(s, "%s", qiao_status_message(s));
  qiao_status_free(s);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------------- elementwise */

Test(infer, binary_broadcast) {
  static const qiao_op_kind_t kinds[] = {QIAO_OP_ADD, QIAO_OP_SUB, QIAO_OP_MUL,
                                         QIAO_OP_DIV, QIAO_OP_MAX, QIAO_OP_MIN};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; ++i) {
    OK(kinds[i], NULL, "f32[2, 3]", ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 1, 3));
    OK(kinds[i], NULL, "i32[4, 2, 3]", ty(QIAO_I32, 3, 4, 1, 3), ty(QIAO_I32, 2, 2, 1));
    OK(kinds[i], NULL, "bf16[5]", ty(QIAO_BF16, 0), ty(QIAO_BF16, 1, 5));
  }
  OK(QIAO_OP_ADD, NULL, "f32[0, 3]", ty(QIAO_F32, 2, 1, 3), ty(QIAO_F32, 2, 0, 1));
  OK(QIAO_OP_MAX, NULL, "bool[2]", ty(QIAO_BOOL, 1, 2), ty(QIAO_BOOL, 1, 2));
  OK(QIAO_OP_POW, NULL, "f16[2, 3]", ty(QIAO_F16, 2, 2, 3), ty(QIAO_F16, 0));
}

Test(infer, binary_errors) {
  ERR(QIAO_OP_ADD, NULL, "add: shapes [2, 3] and [4] do not broadcast", ty(QIAO_F32, 2, 2, 3),
      ty(QIAO_F32, 1, 4));
  ERR(QIAO_OP_ADD, NULL, "add: operand dtypes differ: f32 and bf16; cast explicitly",
      ty(QIAO_F32, 1, 4), ty(QIAO_BF16, 1, 4));
  ERR(QIAO_OP_SUB, NULL, "sub: shapes [3, 2] and [2, 3] do not broadcast",
      ty(QIAO_F32, 2, 3, 2), ty(QIAO_F32, 2, 2, 3));
  ERR(QIAO_OP_MUL, NULL, "mul: operand dtypes differ: i32 and i64", ty(QIAO_I32, 0),
      ty(QIAO_I64, 0));
  ERR(QIAO_OP_DIV, NULL, "div: shapes [5] and [4] do not broadcast", ty(QIAO_F32, 1, 5),
      ty(QIAO_F32, 1, 4));
  ERR(QIAO_OP_MAX, NULL, "max: operand dtypes differ: f16 and f32", ty(QIAO_F16, 0),
      ty(QIAO_F32, 0));
  ERR(QIAO_OP_MIN, NULL, "min: shapes [2] and [3] do not broadcast", ty(QIAO_I8, 1, 2),
      ty(QIAO_I8, 1, 3));
  ERR(QIAO_OP_POW, NULL, "pow: operand must be a float dtype", ty(QIAO_I32, 1, 2),
      ty(QIAO_I32, 1, 2));
  /* Operand count, through inference directly. */
  qiao_type_t t[1] = {ty(QIAO_F32, 0)}, out[2];
  qiao_attrs_t a = defaults(QIAO_OP_ADD);
  qiao_status_t s = qiao_ir_infer_op(QIAO_OP_ADD, t, 1, &a, out);
  cr_expect(s && strstr(qiao_status_message(s), "add: expects 2 operands, got 1"));
  qiao_status_free(s);
}

Test(infer, unary) {
  static const qiao_op_kind_t floats[] = {QIAO_OP_EXP,     QIAO_OP_LOG,  QIAO_OP_SQRT,
                                          QIAO_OP_RSQRT,   QIAO_OP_TANH, QIAO_OP_SIGMOID,
                                          QIAO_OP_SILU,    QIAO_OP_GELU};
  for (size_t i = 0; i < sizeof floats / sizeof floats[0]; ++i) {
    OK(floats[i], NULL, "bf16[2, 7]", ty(QIAO_BF16, 2, 2, 7));
    char want[64];
    snprintf(want, sizeof want, "%s: operand must be a float dtype", qiao_op_name(floats[i]));
    ERR(floats[i], NULL, want, ty(QIAO_I32, 1, 3));
  }
  OK(QIAO_OP_NEG, NULL, "i32[3]", ty(QIAO_I32, 1, 3));
  OK(QIAO_OP_NEG, NULL, "f8e4m3[3]", ty(QIAO_F8E4M3, 1, 3));
  OK(QIAO_OP_RELU, NULL, "i64[]", ty(QIAO_I64, 0));
  ERR(QIAO_OP_NEG, NULL, "neg: operand must be a float or integer dtype, got bool",
      ty(QIAO_BOOL, 1, 3));
  ERR(QIAO_OP_RELU, NULL, "relu: operand must be a float or integer dtype, got bool",
      ty(QIAO_BOOL, 1, 3));
  qiao_attrs_t a = defaults(QIAO_OP_GELU);
  a.approximate = QIAO_GELU_TANH;
  OK(QIAO_OP_GELU, &a, "f32[4]", ty(QIAO_F32, 1, 4));
  a.approximate = (qiao_gelu_approx_t)7;
  ERR(QIAO_OP_GELU, &a, "gelu: approximate must be \"none\" or \"tanh\"", ty(QIAO_F32, 1, 4));
}

Test(infer, cast) {
  qiao_attrs_t a = defaults(QIAO_OP_CAST);
  a.to = QIAO_BF16;
  OK(QIAO_OP_CAST, &a, "bf16[4, 8]", ty(QIAO_F32, 2, 4, 8));
  a.to = QIAO_BOOL;
  OK(QIAO_OP_CAST, &a, "bool[]", ty(QIAO_I64, 0));
  a.to = (qiao_dtype_t)42;
  ERR(QIAO_OP_CAST, &a, "cast: 'to' is not a valid dtype (42)", ty(QIAO_F32, 1, 2));
}

/* ------------------------------------------------------------------ matmul */

Test(infer, matmul) {
  OK(QIAO_OP_MATMUL, NULL, "f32[2, 4]", ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 3, 4));
  OK(QIAO_OP_MATMUL, NULL, "f32[5, 4, 2, 6]", ty(QIAO_F32, 4, 5, 1, 2, 3),
     ty(QIAO_F32, 3, 4, 3, 6));
  OK(QIAO_OP_MATMUL, NULL, "f32[7, 2, 4]", ty(QIAO_F32, 3, 7, 2, 3), ty(QIAO_F32, 2, 3, 4));
  qiao_attrs_t a = defaults(QIAO_OP_MATMUL);
  a.transpose_b = true;
  OK(QIAO_OP_MATMUL, &a, "f32[2, 4]", ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 4, 3));
  a.transpose_a = true;
  OK(QIAO_OP_MATMUL, &a, "f32[2, 4]", ty(QIAO_F32, 2, 3, 2), ty(QIAO_F32, 2, 4, 3));
  /* Mixed float dtypes: the wider wins; equal width, different kind: f32. */
  OK(QIAO_OP_MATMUL, NULL, "f32[4, 16]", ty(QIAO_F32, 2, 4, 8), ty(QIAO_BF16, 2, 8, 16));
  OK(QIAO_OP_MATMUL, NULL, "f32[4, 16]", ty(QIAO_F16, 2, 4, 8), ty(QIAO_BF16, 2, 8, 16));
  OK(QIAO_OP_MATMUL, NULL, "bf16[4, 16]", ty(QIAO_F8E4M3, 2, 4, 8), ty(QIAO_BF16, 2, 8, 16));
  OK(QIAO_OP_MATMUL, NULL, "i32[4, 16]", ty(QIAO_I8, 2, 4, 8), ty(QIAO_I8, 2, 8, 16));
}

Test(infer, matmul_errors) {
  ERR(QIAO_OP_MATMUL, NULL, "matmul: contraction dims differ: a has K=3, b has K=4",
      ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 4, 5));
  qiao_attrs_t a = defaults(QIAO_OP_MATMUL);
  a.transpose_b = true;
  ERR(QIAO_OP_MATMUL, &a, "a has K=3, b has K=5", ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 3, 5));
  ERR(QIAO_OP_MATMUL, NULL, "matmul: a must have rank >= 2", ty(QIAO_F32, 1, 3),
      ty(QIAO_F32, 2, 3, 4));
  ERR(QIAO_OP_MATMUL, NULL, "matmul: b must have rank >= 2", ty(QIAO_F32, 2, 2, 3),
      ty(QIAO_F32, 1, 3));
  ERR(QIAO_OP_MATMUL, NULL, "matmul: batch dims [2] and [3] do not broadcast",
      ty(QIAO_F32, 3, 2, 2, 3), ty(QIAO_F32, 3, 3, 3, 4));
  ERR(QIAO_OP_MATMUL, NULL, "must be float dtypes (or both i8), got i32 and i32",
      ty(QIAO_I32, 2, 2, 3), ty(QIAO_I32, 2, 3, 4));
  ERR(QIAO_OP_MATMUL, NULL, "got i8 and f32", ty(QIAO_I8, 2, 2, 3), ty(QIAO_F32, 2, 3, 4));
}

/* ------------------------------------------------------- reductions, norms */

Test(infer, reduce) {
  static const qiao_op_kind_t kinds[] = {QIAO_OP_REDUCE_SUM, QIAO_OP_REDUCE_MAX,
                                         QIAO_OP_REDUCE_MEAN};
  for (size_t i = 0; i < 3; ++i) {
    OK(kinds[i], NULL, "f32[2, 3]", ty(QIAO_F32, 3, 2, 3, 4));
    qiao_attrs_t a = defaults(kinds[i]);
    a.n_axes = 2;
    a.axes[0] = 0;
    a.axes[1] = -1;
    a.keepdims = true;
    OK(kinds[i], &a, "f32[1, 3, 1]", ty(QIAO_F32, 3, 2, 3, 4));
    a.keepdims = false;
    OK(kinds[i], &a, "f32[3]", ty(QIAO_F32, 3, 2, 3, 4));
    a.axes[1] = 3;
    ERR(kinds[i], &a, "axis 3 is out of range for f32[2, 3, 4]; expected -3 to 2",
        ty(QIAO_F32, 3, 2, 3, 4));
    a.axes[0] = 1;
    a.axes[1] = -2;
    ERR(kinds[i], &a, "axis 1 is listed twice in axes", ty(QIAO_F32, 3, 2, 3, 4));
    a.n_axes = 0;
    ERR(kinds[i], &a, "axes must list at least one axis", ty(QIAO_F32, 3, 2, 3, 4));
  }
  ERR(QIAO_OP_REDUCE_SUM, NULL, "reduce_sum: axis -1 is out of range for a rank-0 operand",
      ty(QIAO_F32, 0));
}

Test(infer, softmax) {
  OK(QIAO_OP_SOFTMAX, NULL, "bf16[2, 8]", ty(QIAO_BF16, 2, 2, 8));
  qiao_attrs_t a = defaults(QIAO_OP_SOFTMAX);
  a.axis = -2;
  OK(QIAO_OP_SOFTMAX, &a, "f32[2, 8]", ty(QIAO_F32, 2, 2, 8));
  a.axis = 2;
  ERR(QIAO_OP_SOFTMAX, &a, "softmax: axis 2 is out of range", ty(QIAO_F32, 2, 2, 8));
  ERR(QIAO_OP_SOFTMAX, NULL, "softmax: operand must be a float dtype", ty(QIAO_I32, 1, 8));
}

Test(infer, rms_norm) {
  OK(QIAO_OP_RMS_NORM, NULL, "f32[2, 5, 16]", ty(QIAO_F32, 3, 2, 5, 16), ty(QIAO_F32, 1, 16));
  ERR(QIAO_OP_RMS_NORM, NULL, "rms_norm: weight must be [16] (the last dim of x f32[2, 16]), got "
                              "f32[8]",
      ty(QIAO_F32, 2, 2, 16), ty(QIAO_F32, 1, 8));
  ERR(QIAO_OP_RMS_NORM, NULL, "rms_norm: weight dtype bf16 differs from x's dtype f32",
      ty(QIAO_F32, 2, 2, 16), ty(QIAO_BF16, 1, 16));
  qiao_attrs_t a = defaults(QIAO_OP_RMS_NORM);
  a.eps = 0;
  ERR(QIAO_OP_RMS_NORM, &a, "rms_norm: eps must be finite and > 0", ty(QIAO_F32, 2, 2, 16),
      ty(QIAO_F32, 1, 16));
  ERR(QIAO_OP_RMS_NORM, NULL, "rms_norm: x must have rank >= 1", ty(QIAO_F32, 0),
      ty(QIAO_F32, 1, 16));
}

Test(infer, layer_norm) {
  OK(QIAO_OP_LAYER_NORM, NULL, "f16[3, 8]", ty(QIAO_F16, 2, 3, 8), ty(QIAO_F16, 1, 8),
     ty(QIAO_F16, 1, 8));
  ERR(QIAO_OP_LAYER_NORM, NULL, "layer_norm: bias must be [8]", ty(QIAO_F16, 2, 3, 8),
      ty(QIAO_F16, 1, 8), ty(QIAO_F16, 2, 1, 8));
  ERR(QIAO_OP_LAYER_NORM, NULL, "expects 3 operands, got 2", ty(QIAO_F16, 2, 3, 8),
      ty(QIAO_F16, 1, 8));
}

/* ----------------------------------------------------------- data movement */

static qiao_attrs_t reshape_to(int n, const int64_t *dims) {
  qiao_attrs_t a = defaults(QIAO_OP_RESHAPE);
  a.n_shape = n;
  if (n > 0) memcpy(a.shape, dims, sizeof(int64_t) * (size_t)n);
  return a;
}

Test(infer, reshape) {
  qiao_attrs_t a = reshape_to(2, (int64_t[]){6, -1});
  OK(QIAO_OP_RESHAPE, &a, "f32[6, 4]", ty(QIAO_F32, 3, 2, 3, 4));
  a = reshape_to(0, NULL);
  OK(QIAO_OP_RESHAPE, &a, "i32[]", ty(QIAO_I32, 2, 1, 1));
  a = reshape_to(3, (int64_t[]){0, -1, 2});
  ERR(QIAO_OP_RESHAPE, &a, "cannot infer the -1 dim", ty(QIAO_F32, 1, 0));
  a = reshape_to(2, (int64_t[]){-1, -1});
  ERR(QIAO_OP_RESHAPE, &a, "reshape: only one -1 is allowed", ty(QIAO_F32, 1, 4));
  a = reshape_to(2, (int64_t[]){5, 5});
  ERR(QIAO_OP_RESHAPE, &a, "reshape: f32[2, 3, 4] has 24 elements but shape [5, 5] has 25",
      ty(QIAO_F32, 3, 2, 3, 4));
  a = reshape_to(2, (int64_t[]){-2, 4});
  ERR(QIAO_OP_RESHAPE, &a, "shape dim 0 is -2; expected >= 0 or -1", ty(QIAO_F32, 1, 8));
  a = reshape_to(3, (int64_t[]){1 << 30, 1 << 30, 1 << 30});
  ERR(QIAO_OP_RESHAPE, &a, "reshape: shape has too many elements", ty(QIAO_F32, 1, 8));
  a = reshape_to(2, (int64_t[]){5, -1});
  ERR(QIAO_OP_RESHAPE, &a, "24 elements, not a multiple of 5", ty(QIAO_F32, 3, 2, 3, 4));
}

Test(infer, transpose) {
  qiao_attrs_t a = defaults(QIAO_OP_TRANSPOSE);
  a.n_perm = 3;
  a.perm[0] = 2, a.perm[1] = 0, a.perm[2] = 1;
  OK(QIAO_OP_TRANSPOSE, &a, "f32[4, 2, 3]", ty(QIAO_F32, 3, 2, 3, 4));
  a.perm[1] = 2;
  ERR(QIAO_OP_TRANSPOSE, &a, "transpose: perm must be a permutation of 0..2; entry 1 is 2",
      ty(QIAO_F32, 3, 2, 3, 4));
  a.n_perm = 2;
  ERR(QIAO_OP_TRANSPOSE, &a, "perm has 2 entries but the operand f32[2, 3, 4] has rank 3",
      ty(QIAO_F32, 3, 2, 3, 4));
}

static qiao_attrs_t slice_of(int64_t axis, int64_t start, int64_t end, int64_t step) {
  qiao_attrs_t a = defaults(QIAO_OP_SLICE);
  a.axis = axis, a.start = start, a.end = end, a.step = step;
  return a;
}

Test(infer, slice) {
  qiao_attrs_t a = slice_of(0, 2, -1, 3); /* 2, 5, 8 */
  OK(QIAO_OP_SLICE, &a, "f32[3, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(-1, -100, 100, 1);
  OK(QIAO_OP_SLICE, &a, "f32[10, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, 8, 2, 1);
  OK(QIAO_OP_SLICE, &a, "f32[0, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, -3, 10, 2); /* 7, 9 */
  OK(QIAO_OP_SLICE, &a, "f32[2, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, 1, INT64_MAX, INT64_MAX);
  OK(QIAO_OP_SLICE, &a, "f32[1, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, INT64_MIN, -9, 1);
  OK(QIAO_OP_SLICE, &a, "f32[1, 4]", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, 0, 4, 0);
  ERR(QIAO_OP_SLICE, &a, "slice: step must be >= 1, got 0", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(0, 4, 0, -1);
  ERR(QIAO_OP_SLICE, &a, "slice: step must be >= 1, got -1", ty(QIAO_F32, 2, 10, 4));
  a = slice_of(-3, 0, 1, 1);
  ERR(QIAO_OP_SLICE, &a, "slice: axis -3 is out of range", ty(QIAO_F32, 2, 10, 4));
}

Test(infer, concat) {
  qiao_attrs_t a = defaults(QIAO_OP_CONCAT);
  a.axis = 1;
  OK(QIAO_OP_CONCAT, &a, "f32[2, 9]", ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 2, 1),
     ty(QIAO_F32, 2, 2, 5));
  OK(QIAO_OP_CONCAT, &a, "i64[2, 3]", ty(QIAO_I64, 2, 2, 3));
  ERR(QIAO_OP_CONCAT, &a, "concat: operand 1 [3, 1] differs from operand 0 [2, 3] at axis 0",
      ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 2, 3, 1));
  ERR(QIAO_OP_CONCAT, &a, "concat: operand 1 is bf16 but operand 0 is f32",
      ty(QIAO_F32, 2, 2, 3), ty(QIAO_BF16, 2, 2, 3));
  ERR(QIAO_OP_CONCAT, &a, "concat: operand 1 has rank 1 but operand 0 has rank 2",
      ty(QIAO_F32, 2, 2, 3), ty(QIAO_F32, 1, 2));
  qiao_attrs_t b = defaults(QIAO_OP_CONCAT);
  qiao_type_t out[2];
  qiao_status_t s = qiao_ir_infer_op(QIAO_OP_CONCAT, NULL, 0, &b, out);
  cr_expect(s && strstr(qiao_status_message(s), "concat: expects at least 1 operand, got 0"));
  qiao_status_free(s);
}

Test(infer, gather) {
  OK(QIAO_OP_GATHER, NULL, "bf16[2, 5, 16]", ty(QIAO_BF16, 2, 100, 16), ty(QIAO_I32, 2, 2, 5));
  qiao_attrs_t a = defaults(QIAO_OP_GATHER);
  a.axis = 1;
  OK(QIAO_OP_GATHER, &a, "f32[4, 3, 8]", ty(QIAO_F32, 3, 4, 100, 8), ty(QIAO_I64, 1, 3));
  OK(QIAO_OP_GATHER, NULL, "f32[16]", ty(QIAO_F32, 2, 100, 16), ty(QIAO_I64, 0));
  ERR(QIAO_OP_GATHER, NULL, "gather: indices must be i32 or i64, got f32",
      ty(QIAO_F32, 2, 100, 16), ty(QIAO_F32, 1, 3));
  ERR(QIAO_OP_GATHER, NULL, "gather: table must have rank >= 1", ty(QIAO_F32, 0),
      ty(QIAO_I32, 1, 3));
  a.axis = 2;
  ERR(QIAO_OP_GATHER, &a, "gather: axis 2 is out of range", ty(QIAO_F32, 2, 100, 16),
      ty(QIAO_I32, 1, 3));
}

/* ------------------------------------------------------------ model-level */

Test(infer, rope) {
  OK(QIAO_OP_ROPE, NULL, "f32[1, 2, 5, 8]", ty(QIAO_F32, 4, 1, 2, 5, 8), ty(QIAO_I32, 1, 5));
  OK(QIAO_OP_ROPE, NULL, "bf16[3, 2, 5, 8]", ty(QIAO_BF16, 4, 3, 2, 5, 8), ty(QIAO_I64, 2, 3, 5));
  ERR(QIAO_OP_ROPE, NULL, "rope: head dim D must be even, got 7", ty(QIAO_F32, 4, 1, 2, 5, 7),
      ty(QIAO_I32, 1, 5));
  ERR(QIAO_OP_ROPE, NULL, "rope: positions must be [5] or [1, 5]", ty(QIAO_F32, 4, 1, 2, 5, 8),
      ty(QIAO_I32, 1, 4));
  ERR(QIAO_OP_ROPE, NULL, "rope: x ([B, H, S, D]) must have rank 4, got f32[5, 8]",
      ty(QIAO_F32, 2, 5, 8), ty(QIAO_I32, 1, 5));
  ERR(QIAO_OP_ROPE, NULL, "rope: positions must be i32 or i64", ty(QIAO_F32, 4, 1, 2, 5, 8),
      ty(QIAO_F32, 1, 5));
}

Test(infer, topk) {
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  int32_t x, op;
  cr_assert_null(qiao_ir_graph_add_input(g, "x", ty(QIAO_BF16, 2, 3, 10), &x));
  qiao_attrs_t a = defaults(QIAO_OP_TOPK);
  a.k = 4;
  qiao_loc_t loc = {0, 0};
  qiao_status_t s = qiao_ir_graph_add_op(g, QIAO_OP_TOPK, &x, 1, &a, NULL, NULL, loc, &op);
  cr_assert_null(s, "%s", qiao_status_message(s));
  char b[128];
  cr_expect_str_eq(qiao_type_str(&g->values[g->ops[op].results[0]].type, b, sizeof b),
                   "bf16[3, 4]");
  cr_expect_str_eq(qiao_type_str(&g->values[g->ops[op].results[1]].type, b, sizeof b),
                   "i64[3, 4]");
  qiao_ir_graph_destroy(g);
  a.axis = 0;
  a.k = 3;
  OK(QIAO_OP_TOPK, &a, "f32[3, 10]", ty(QIAO_F32, 2, 3, 10));
  a.k = 4;
  ERR(QIAO_OP_TOPK, &a, "topk: k must be in 1..3 (the size of axis 0 of f32[3, 10]), got 4",
      ty(QIAO_F32, 2, 3, 10));
  a.k = 0;
  ERR(QIAO_OP_TOPK, &a, "got 0", ty(QIAO_F32, 2, 3, 10));
}

Test(infer, attention) {
  OK(QIAO_OP_ATTENTION, NULL, "f32[2, 8, 4, 16]", ty(QIAO_F32, 4, 2, 8, 4, 16),
     ty(QIAO_F32, 4, 2, 2, 6, 16), ty(QIAO_F32, 4, 2, 2, 6, 16));
  /* GQA with its own value dim, a mask, and decode (Sq = 1) with causal. */
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  a.causal = true;
  a.has_scale = true;
  a.scale = 0.125;
  a.window = 4;
  OK(QIAO_OP_ATTENTION, &a, "bf16[2, 8, 4, 32]", ty(QIAO_BF16, 4, 2, 8, 4, 16),
     ty(QIAO_BF16, 4, 2, 2, 6, 16), ty(QIAO_BF16, 4, 2, 2, 6, 32), ty(QIAO_BF16, 2, 4, 6));
  OK(QIAO_OP_ATTENTION, &a, "f32[1, 4, 1, 8]", ty(QIAO_F32, 4, 1, 4, 1, 8),
     ty(QIAO_F32, 4, 1, 1, 9, 8), ty(QIAO_F32, 4, 1, 1, 9, 8));
}

Test(infer, attention_errors) {
  qiao_type_t q = ty(QIAO_F32, 4, 2, 8, 4, 16), k = ty(QIAO_F32, 4, 2, 3, 6, 16);
  ERR(QIAO_OP_ATTENTION, NULL, "q heads (Hq=8) must be a multiple of k/v heads (Hkv=3)", q, k, k);
  k = ty(QIAO_F32, 4, 2, 2, 6, 8);
  ERR(QIAO_OP_ATTENTION, NULL, "attention: head dims differ: q has D=16, k has D=8", q, k, k);
  k = ty(QIAO_F32, 4, 1, 2, 6, 16);
  ERR(QIAO_OP_ATTENTION, NULL, "batch sizes differ: q has B=2, k has B=1", q, k, k);
  k = ty(QIAO_F32, 4, 2, 2, 6, 16);
  ERR(QIAO_OP_ATTENTION, NULL, "attention: mask must be [Sq, Skv] = [4, 6], got f32[6, 4]", q, k,
      k, ty(QIAO_F32, 2, 6, 4));
  ERR(QIAO_OP_ATTENTION, NULL, "q, k, v must share one dtype, got f32, f32, bf16", q, k,
      ty(QIAO_BF16, 4, 2, 2, 6, 16));
  ERR(QIAO_OP_ATTENTION, NULL, "k f32[2, 2, 6, 16] and v f32[2, 2, 5, 16] must agree", q, k,
      ty(QIAO_F32, 4, 2, 2, 5, 16));
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  a.causal = true;
  ERR(QIAO_OP_ATTENTION, &a, "causal needs Sq <= Skv, got Sq=4, Skv=3", q,
      ty(QIAO_F32, 4, 2, 2, 3, 16), ty(QIAO_F32, 4, 2, 2, 3, 16));
  a = defaults(QIAO_OP_ATTENTION);
  a.has_scale = true;
  a.scale = -1;
  ERR(QIAO_OP_ATTENTION, &a, "attention: scale must be finite and > 0, got -1", q, k, k);
  a.scale = INFINITY;
  ERR(QIAO_OP_ATTENTION, &a, "scale must be finite and > 0", q, k, k);
  a = defaults(QIAO_OP_ATTENTION);
  a.window = -2;
  ERR(QIAO_OP_ATTENTION, &a, "attention: window must be >= 0, got -2", q, k, k);
  ERR(QIAO_OP_ATTENTION, NULL, "attention: q ([B, Hq, Sq, D]) must have rank 4",
      ty(QIAO_F32, 3, 8, 4, 16), k, k);
  ERR(QIAO_OP_ATTENTION, NULL, "attention: q must be a float dtype", ty(QIAO_I32, 4, 2, 8, 4, 16),
      ty(QIAO_I32, 4, 2, 2, 6, 16), ty(QIAO_I32, 4, 2, 2, 6, 16));
}

Test(infer, attention_kv_len) {
  qiao_type_t q = ty(QIAO_F32, 4, 2, 8, 4, 16), k = ty(QIAO_F32, 4, 2, 2, 6, 16);
  /* a 4th integer operand is kv_len; a 4th float one the mask; with 5: mask, kv_len */
  OK(QIAO_OP_ATTENTION, NULL, "f32[2, 8, 4, 16]", q, k, k, ty(QIAO_I32, 1, 2));
  OK(QIAO_OP_ATTENTION, NULL, "f32[2, 8, 4, 16]", q, k, k, ty(QIAO_F32, 2, 4, 6),
     ty(QIAO_I32, 1, 2));
  ERR(QIAO_OP_ATTENTION, NULL, "attention: kv_len must be i32[B] = i32[2], got i32[3]", q, k, k,
      ty(QIAO_I32, 1, 3));
  ERR(QIAO_OP_ATTENTION, NULL, "attention: kv_len must be i32[B] = i32[2], got i64[2]", q, k, k,
      ty(QIAO_I64, 1, 2));
  ERR(QIAO_OP_ATTENTION, NULL, "attention: kv_len must be i32[B] = i32[2], got i32[2, 1]", q, k,
      k, ty(QIAO_I32, 2, 2, 1));
  ERR(QIAO_OP_ATTENTION, NULL,
      "attention: with 5 operands (q, k, v, mask, kv_len) the mask must be a float dtype, got i32",
      q, k, k, ty(QIAO_I32, 1, 2), ty(QIAO_F32, 2, 4, 6));
  ERR(QIAO_OP_ATTENTION, NULL, "attention: kv_len must be i32[B] = i32[2], got f32[4, 6]", q, k,
      k, ty(QIAO_F32, 2, 4, 6), ty(QIAO_F32, 2, 4, 6));
}

Test(infer, moe) {
  qiao_type_t x = ty(QIAO_F32, 2, 3, 8), r = ty(QIAO_F32, 2, 8, 4);
  qiao_type_t gu = ty(QIAO_BF16, 3, 4, 8, 16), dn = ty(QIAO_BF16, 3, 4, 16, 8);
  OK(QIAO_OP_MOE, NULL, "f32[3, 8]", x, r, gu, gu, dn);
  OK(QIAO_OP_MOE, NULL, "f32[3, 8]", x, ty(QIAO_BF16, 2, 8, 4), gu, gu, dn);
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  a.top_k = 5;
  ERR(QIAO_OP_MOE, &a, "moe: top_k must be in 1..4 (the number of experts), got 5", x, r, gu, gu,
      dn);
  a.top_k = 0;
  ERR(QIAO_OP_MOE, &a, "got 0", x, r, gu, gu, dn);
  ERR(QIAO_OP_MOE, NULL, "moe: down must be [E, F, D] = [4, 16, 8], got bf16[4, 8, 16]", x, r, gu,
      gu, gu);
  ERR(QIAO_OP_MOE, NULL, "moe: router must be [D, E] = [8, 4], got f32[4, 8]", x,
      ty(QIAO_F32, 2, 4, 8), gu, gu, dn);
  ERR(QIAO_OP_MOE, NULL, "expert weights must share one dtype", x, r, gu,
      ty(QIAO_F16, 3, 4, 8, 16), dn);
  ERR(QIAO_OP_MOE, NULL, "moe: x must be a float dtype (f32, f16, bf16, f8e4m3, f8e5m2), got i32",
      ty(QIAO_I32, 2, 3, 8), r, gu, gu, dn);
}

/* Every op kind has a test above: a guard for when kinds are added. */
Test(infer, every_kind_covered) { cr_expect_eq(QIAO_OP_KIND_COUNT, 36); }

/* ------------------------------------------------------- review: overflow */

/* A type with 64-bit dims (ty() takes ints). */
static qiao_type_t ty64(qiao_dtype_t dt, int rank, const int64_t *dims) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  memcpy(t.shape.dims, dims, sizeof(int64_t) * (size_t)rank);
  return t;
}

static void expect_infer_error(qiao_op_kind_t kind, const qiao_type_t *in, int n,
                               const qiao_attrs_t *a, const char *needle) {
  qiao_attrs_t d = defaults(kind);
  qiao_type_t out[2];
  memset(out, 0, sizeof out);
  qiao_status_t s = qiao_ir_infer_op(kind, in, n, a ? a : &d, out);
  char b[128];
  cr_assert_not_null(s, "%s: expected an error containing '%s', got %s", qiao_op_name(kind),
                     needle, qiao_type_str(&out[0], b, sizeof b));
  cr_expect(strstr(qiao_status_message(s), needle), "'%s' not in: %s", needle,
            qiao_status_message(s));
  qiao_status_free(s);
}

/* Operands whose element counts fit can build a result whose count does not
 * (docs/design.md: any such shape is rejected). */
Test(infer, result_element_count_overflow_is_rejected) {
  const int64_t big = (int64_t)1 << 40;
  qiao_type_t col = ty64(QIAO_F32, 2, (int64_t[]){big, 1});
  qiao_type_t row = ty64(QIAO_F32, 2, (int64_t[]){1, big});
  expect_infer_error(QIAO_OP_ADD, TYPES(col, row), 2, NULL,
                     "add: result 0 has more elements than fit in 64 bits");
  expect_infer_error(QIAO_OP_MATMUL, TYPES(col, row), 2, NULL,
                     "matmul: result 0 has more elements than fit in 64 bits");
  qiao_type_t table = ty64(QIAO_F32, 2, (int64_t[]){4, big});
  qiao_type_t idx = ty64(QIAO_I32, 2, (int64_t[]){big, 2});
  expect_infer_error(QIAO_OP_GATHER, TYPES(table, idx), 2, NULL,
                     "gather: result 0 has more elements than fit in 64 bits");
  /* concat's summed axis itself overflows int64 */
  qiao_type_t huge = ty64(QIAO_I8, 1, (int64_t[]){(int64_t)1 << 62});
  qiao_attrs_t a = defaults(QIAO_OP_CONCAT);
  expect_infer_error(QIAO_OP_CONCAT, TYPES(huge, huge, huge), 3, &a,
                     "more elements than fit in 64 bits");
}

/* A zero-size tensor still has row-major strides; with dims whose product
 * overflows they overflow too (UB in every consumer that computes them). */
Test(infer, zero_size_shape_with_overflowing_dims_is_rejected) {
  const int64_t big = (int64_t)1 << 40;
  qiao_type_t z = ty64(QIAO_F32, 4, (int64_t[]){0, big, big, big});
  expect_infer_error(QIAO_OP_EXP, TYPES(z), 1, NULL,
                     "exp: operand 0 has more elements than fit in 64 bits");
  qiao_type_t ok = ty64(QIAO_F32, 3, (int64_t[]){0, big, 4});
  qiao_type_t out[2];
  qiao_attrs_t d = defaults(QIAO_OP_EXP);
  qiao_status_t s = qiao_ir_infer_op(QIAO_OP_EXP, &ok, 1, &d, out);
  cr_expect_null(s, "%s", s ? qiao_status_message(s) : "");
  qiao_status_free(s);
}

/* A window makes attention causal, so it has causal's need Sq <= Skv (the
 * first queries would otherwise sit before position 0 and see nothing). */
Test(infer, attention_window_needs_sq_le_skv) {
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  a.window = 2;
  ERR(QIAO_OP_ATTENTION, &a, "window (which makes it causal) needs Sq <= Skv, got Sq=4, Skv=3",
      ty(QIAO_F32, 4, 1, 2, 4, 8), ty(QIAO_F32, 4, 1, 2, 3, 8), ty(QIAO_F32, 4, 1, 2, 3, 8));
  OK(QIAO_OP_ATTENTION, &a, "f32[1, 2, 3, 8]", ty(QIAO_F32, 4, 1, 2, 3, 8),
     ty(QIAO_F32, 4, 1, 2, 5, 8), ty(QIAO_F32, 4, 1, 2, 5, 8));
}

/* Element counts that fit can still overflow int64 as bytes (numel × dtype
 * size): f32[2^31, 2^31] is 2^62 elements, 2^64 bytes. */
Test(infer, byte_size_overflow_is_rejected) {
  const int64_t b31 = (int64_t)1 << 31;
  qiao_type_t sq = ty64(QIAO_F32, 2, (int64_t[]){b31, b31});
  expect_infer_error(QIAO_OP_EXP, TYPES(sq), 1, NULL,
                     "exp: operand 0 f32[2147483648, 2147483648] is 4611686018427387904 elements "
                     "of 4 bytes: its byte size overflows 64 bits");
  expect_infer_error(QIAO_OP_EXP, TYPES(ty(QIAO_F32, 3, 1 << 30, 1 << 30, 1 << 30)), 1, NULL,
                     "exp: operand 0 has more elements than fit in 64 bits");
  qiao_type_t col = ty64(QIAO_F32, 2, (int64_t[]){b31, 1});
  qiao_type_t row = ty64(QIAO_F32, 2, (int64_t[]){1, b31});
  expect_infer_error(QIAO_OP_MATMUL, TYPES(col, row), 2, NULL,
                     "matmul: result 0 f32[2147483648, 2147483648] is 4611686018427387904 "
                     "elements of 4 bytes: its byte size overflows 64 bits");
  /* the same count of one-byte elements fits */
  qiao_type_t sq8 = ty64(QIAO_I8, 2, (int64_t[]){b31, b31}), out[2];
  qiao_attrs_t d = defaults(QIAO_OP_NEG);
  cr_expect_null(qiao_ir_infer_op(QIAO_OP_NEG, TYPES(sq8), 1, &d, out));
  int64_t bytes = -1;
  cr_expect(qiao_type_nbytes(&sq8, &bytes));
  cr_expect_eq(bytes, (int64_t)1 << 62);
  cr_expect(!qiao_type_nbytes(&sq, &bytes));
  qiao_type_t empty = ty64(QIAO_F32, 2, (int64_t[]){0, b31});
  cr_expect(qiao_type_nbytes(&empty, &bytes));
  cr_expect_eq(bytes, 0);
}

/* Asserts s is an error whose message contains `needle`; frees s. */
static void expect_message(qiao_status_t s, const char *needle) {
  cr_assert_not_null(s, "expected an error containing '%s'", needle);
  cr_expect(strstr(qiao_status_message(s), needle), "'%s' not in: %s", needle,
            qiao_status_message(s));
  qiao_status_free(s);
}

/* The builder rejects such inputs and results, naming the value; the
 * verifier rejects a graph whose input type was changed to one. */
Test(infer, byte_size_overflow_in_the_builder_and_verifier) {
  const int64_t b31 = (int64_t)1 << 31;
  qiao_graph_t *g;
  cr_assert_null(qiao_ir_graph_create("t", &g));
  int32_t x;
  qiao_status_t s = qiao_ir_graph_add_input(g, "big", ty64(QIAO_F32, 2, (int64_t[]){b31, b31}), &x);
  expect_message(s, "input %big: f32[2147483648, 2147483648]");
  int32_t a, b;
  cr_assert_null(qiao_ir_graph_add_input(g, "a", ty64(QIAO_F32, 2, (int64_t[]){b31, 1}), &a));
  cr_assert_null(qiao_ir_graph_add_input(g, "b", ty64(QIAO_F32, 2, (int64_t[]){1, b31}), &b));
  s = NULL;
  int32_t y = qiao_ir_build(g, QIAO_OP_MATMUL, (int32_t[]){a, b}, 2, NULL, "y", &s);
  cr_expect_eq(y, -1);
  expect_message(s, "op %y = matmul: result 0 f32[2147483648, 2147483648] is "
                    "4611686018427387904 elements of 4 bytes: its byte size overflows 64 bits");
  /* a graph built small, then given an overflowing input type */
  int32_t z = qiao_ir_build(g, QIAO_OP_NEG, &a, 1, NULL, "z", &s);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_assert_null(qiao_ir_graph_set_outputs(g, &z, 1));
  g->values[a].type.shape.dims[1] = b31;
  s = qiao_ir_graph_verify(g);
  expect_message(s, "input %a: f32[2147483648, 2147483648] is 4611686018427387904 elements of 4 "
                    "bytes: its byte size overflows 64 bits");
  qiao_ir_graph_destroy(g);
}
