/* backends/common math and edge values against the reference interpreter,
 * element by element (not the normalized error: a sweep over the whole f32
 * range would hide the ends behind its largest value).
 *
 * - every transcendental (sin and cos through the hooks directly, and rope)
 *   over dense sweeps of the f32 range: every binade of
 *   both signs (subnormal inputs included), a fine linear sweep where results
 *   turn subnormal or overflow, ±0, ±inf, NaN;
 * - NaN propagation (IEEE 754-2019 maximum/minimum, as the interpreter) in
 *   max, min, relu, reduce_max, softmax, attention, topk and the norms;
 * - each case runs with the host math hook and with the libm-free one
 *   (`qiao_cpu_options_t`-independent: selected with
 *   qiao_cpu_module_set_math, see backends/cpu/codegen.h).
 * A result matches when both are NaN, or equal (inf included), or
 * |x - ref| <= rtol * |ref| + atol (atol: 4 subnormal ulps). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/backend_cpu.h"
#include "qiao/hal.h"
#include "qiao/ir.h"

/* Private to the backends (backends/cpu/module.c): selects the math hook of
 * a fresh module. 0: host, 1: libm-free. */
void qiao_cpu_module_set_math(qiao_cpu_module_t *m, int which);

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

static qiao_type_t ty1(qiao_dtype_t dt, int rank, const int64_t *dims) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  for (int i = 0; i < rank; ++i)
    t.shape.dims[i] = dims[i];
  return t;
}

static qiao_attrs_t defaults(qiao_op_kind_t kind) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, kind);
  return a;
}

/* Runs g (inputs given) on the interpreter and on the CPU backend (every
 * kernel of its partition, math hook `math`); returns both output lists. */
static void run_both(qiao_graph_t *g, qiao_tensor_t **inputs, int math, qiao_tensor_t **refs,
                     qiao_tensor_t **gots) {
  CHECK_OK(qiao_ir_graph_verify(g));
  CHECK_OK(qiao_interp_run(g, (const qiao_tensor_t *const *)inputs, NULL, NULL, NULL, 0, refs));
  qiao_partition_t *part = NULL;
  CHECK_OK(qiao_ir_partition(g, NULL, &part));
  qiao_hal_device_t *dev = NULL;
  CHECK_OK(qiao_hal_device_open("cpu:threads=2", &dev));
  qiao_cpu_options_t mo = {.n_threads = 2};
  qiao_cpu_module_t *mod = NULL;
  CHECK_OK(qiao_cpu_module_create(&mo, &mod));
  qiao_cpu_module_set_math(mod, math);
  qiao_kernel_launch_t launch[16];
  cr_assert(part->n_kernels <= 16);
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    char name[32];
    snprintf(name, sizeof name, "k%d", k);
    CHECK_OK(qiao_cpu_module_add_kernel(mod, &part->kernels[k], name, &launch[k]));
    cr_assert_eq(launch[k].block[0], 1);
    cr_assert_eq(launch[k].shared_bytes, 0);
    for (int32_t i = 0; i < part->kernels[k].n_inputs; ++i)
      cr_assert(launch[k].binding_bytes[i] > 0, "binding %d has no size", i);
  }
  qiao_hal_executable_t *exe = NULL;
  CHECK_OK(qiao_cpu_module_jit(mod, dev, &exe));
  qiao_cpu_module_destroy(mod);
  int32_t nv = g->n_values;
  qiao_hal_buffer_t **buf = calloc((size_t)nv, sizeof *buf);
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    int32_t v = g->inputs[i];
    CHECK_OK(qiao_hal_buffer_alloc(dev, qiao_tensor_nbytes(inputs[i]) + 64, &buf[v]));
    CHECK_OK(qiao_hal_buffer_write(buf[v], 0, inputs[i]->data, qiao_tensor_nbytes(inputs[i])));
  }
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    for (int32_t o = 0; o < kd->n_outputs; ++o) {
      size_t nb = (size_t)qiao_shape_numel(&kd->outputs[o].type.shape) *
                  qiao_dtype_size(kd->outputs[o].type.dtype);
      CHECK_OK(qiao_hal_buffer_alloc(dev, nb + 64, &buf[kd->outputs[o].value]));
      memset(qiao_hal_buffer_host_ptr(buf[kd->outputs[o].value]), 0xFF, nb + 64);
    }
  }
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    qiao_hal_binding_t b[QIAO_KD_MAX_OPERANDS + 2];
    int32_t nb = 0;
    for (int32_t i = 0; i < kd->n_inputs; ++i) {
      int32_t v = kd->inputs[i].value;
      if (part->alias && part->alias[v] >= 0) v = part->alias[v];
      b[nb++] = (qiao_hal_binding_t){buf[v], 0};
    }
    for (int32_t o = 0; o < kd->n_outputs; ++o)
      b[nb++] = (qiao_hal_binding_t){buf[kd->outputs[o].value], 0};
    int32_t idx = -1;
    qiao_hal_entry_info_t info;
    CHECK_OK(qiao_hal_executable_lookup(exe, launch[k].name, &idx, &info));
    CHECK_OK(qiao_hal_dispatch(dev, exe, idx, launch[k].grid, b, nb, NULL, 0));
  }
  for (int32_t o = 0; o < g->n_outputs; ++o) {
    int32_t v = g->outputs[o];
    if (part->alias && part->alias[v] >= 0) v = part->alias[v];
    CHECK_OK(qiao_tensor_create(refs[o]->type, &gots[o]));
    CHECK_OK(qiao_hal_buffer_read(buf[v], 0, gots[o]->data, qiao_tensor_nbytes(gots[o])));
  }
  for (int32_t v = 0; v < nv; ++v)
    if (buf[v]) qiao_hal_buffer_release(buf[v]);
  free(buf);
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(dev);
  qiao_ir_partition_destroy(part);
}

/* ------------------------------------------------------------ sweeps */

static const double SUB_ULP = 1.401298464324817e-45; /* 2^-149 */

/* Every binade of both signs (64 points each, subnormals included), a fine
 * sweep of [lo, hi], and the special values. */
static float *sweep(double lo, double hi, int64_t fine, int64_t *out_n) {
  int64_t cap = 2 * 256 * 64 + fine + 16, n = 0;
  float *x = malloc(sizeof(float) * (size_t)cap);
  for (uint32_t e = 0; e < 255; ++e)
    for (uint32_t m = 0; m < 64; ++m) {
      uint32_t bits = (e << 23) | (m * 131071u + (m ? 1 : 0));
      float f;
      memcpy(&f, &bits, 4);
      x[n++] = f;
      x[n++] = -f;
    }
  for (int64_t i = 0; i < fine; ++i)
    x[n++] = (float)(lo + (hi - lo) * (double)i / (double)(fine - 1));
  const float sp[] = {
      0.0f, -0.0f, INFINITY,           -INFINITY,          NAN,      1.0f,       -1.0f,
      0.5f, -0.5f, 88.72283172607422f, 88.72283935546875f, -103.97f, -87.33654f, 3.4028235e38f};
  for (size_t i = 0; i < sizeof sp / sizeof sp[0]; ++i)
    x[n++] = sp[i];
  *out_n = n;
  return x;
}

typedef struct verdict {
  int64_t bad;
  double worst_rel;
  float worst_x, worst_got;
  double worst_ref;
} verdict_t;

static bool close_enough(float got, double ref, double rtol, double atol) {
  if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got);
  if (isinf(ref) || isinf(got)) return (double)got == ref;
  return fabs((double)got - ref) <= rtol * fabs(ref) + atol;
}

static void judge(const char *what, const float *x, const float *got, const float *ref, int64_t n,
                  double rtol, double atol_per_x, int math) {
  verdict_t v = {0};
  for (int64_t i = 0; i < n; ++i) {
    double atol = 4 * SUB_ULP;
    if (atol_per_x > 0 && x && isfinite(x[i])) atol += atol_per_x * fabs((double)x[i]);
    if (!close_enough(got[i], ref[i], rtol, atol)) {
      if (v.bad++ < 5)
        cr_log_error("%s (math %d): x = %.9g: got %.9g, ref %.9g", what, math, x ? x[i] : 0.0f,
                     got[i], ref[i]);
    }
  }
  cr_expect_eq(v.bad, 0, "%s (math %d): %lld of %lld elements differ from the interpreter", what,
               math, (long long)v.bad, (long long)n);
}

/* One unary op over the sweep. */
static void unary_sweep(qiao_op_kind_t k, const qiao_attrs_t *attrs, double lo, double hi,
                        double rtol, double atol_per_x, int math) {
  int64_t n = 0;
  float *x = sweep(lo, hi, 200001, &n);
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_graph_create("t", &g));
  int32_t xi = -1;
  CHECK_OK(qiao_ir_graph_add_input(g, "x", ty1(QIAO_F32, 1, (int64_t[]){n}), &xi));
  qiao_status_t st = NULL;
  int32_t y = qiao_ir_build(g, k, &xi, 1, attrs, NULL, &st);
  cr_assert(st == NULL && y >= 0);
  CHECK_OK(qiao_ir_graph_set_outputs(g, &y, 1));
  qiao_tensor_t *in = NULL, *ref[1] = {0}, *got[1] = {0};
  CHECK_OK(qiao_tensor_create(g->values[xi].type, &in));
  memcpy(in->data, x, sizeof(float) * (size_t)n);
  run_both(g, &in, math, ref, got);
  char what[64];
  snprintf(what, sizeof what, "%s", qiao_op_name(k));
  judge(what, x, (const float *)got[0]->data, (const float *)ref[0]->data, n, rtol, atol_per_x,
        math);
  qiao_tensor_destroy(in);
  qiao_tensor_destroy(ref[0]);
  qiao_tensor_destroy(got[0]);
  qiao_ir_graph_destroy(g);
  free(x);
}

#define RTOL 2e-6 /* ~16 ulp; the f32 oracle tolerance is 1e-5 */

#define UNARY_TESTS(math)                                                                          \
  Test(math_sweep_##math, exp) { unary_sweep(QIAO_OP_EXP, NULL, -110, 95, RTOL, 0, math); }        \
  Test(math_sweep_##math, log) { unary_sweep(QIAO_OP_LOG, NULL, 0, 100, RTOL, 0, math); }          \
  Test(math_sweep_##math, sqrt) { unary_sweep(QIAO_OP_SQRT, NULL, 0, 100, RTOL, 0, math); }        \
  Test(math_sweep_##math, rsqrt) { unary_sweep(QIAO_OP_RSQRT, NULL, 0, 100, RTOL, 0, math); }      \
  Test(math_sweep_##math, tanh) { unary_sweep(QIAO_OP_TANH, NULL, -12, 12, RTOL, 0, math); }       \
  Test(math_sweep_##math, sigmoid) {                                                               \
    unary_sweep(QIAO_OP_SIGMOID, NULL, -110, 110, RTOL, 0, math);                                  \
  }                                                                                                \
  Test(math_sweep_##math, silu) { unary_sweep(QIAO_OP_SILU, NULL, -110, 110, RTOL, 0, math); }     \
  Test(math_sweep_##math, gelu_erf) {                                                              \
    /* the interpreter's 1 + erf(z) cancels in f64 below x ~ -6: slack of its rounding */          \
    unary_sweep(QIAO_OP_GELU, NULL, -16, 16, RTOL, 1e-16, math);                                   \
  }                                                                                                \
  Test(math_sweep_##math, gelu_tanh) {                                                             \
    qiao_attrs_t a = defaults(QIAO_OP_GELU);                                                       \
    a.approximate = QIAO_GELU_TANH;                                                                \
    /* the interpreter's own 1 + tanh(u) cancels to 0 below x ~ -9: f64 slack; in the tail   */    \
    /* the result is exp(2u) and u = c(x + 0.044715x^3) carries f32 rounding: 2|u| 2^-24     */    \
    unary_sweep(QIAO_OP_GELU, &a, -16, 16, 1.5e-5, 1e-15, math);                                   \
  }                                                                                                \
  Test(math_sweep_##math, relu_neg) {                                                              \
    unary_sweep(QIAO_OP_RELU, NULL, -2, 2, 0, 0, math);                                            \
    unary_sweep(QIAO_OP_NEG, NULL, -2, 2, 0, 0, math);                                             \
  }

UNARY_TESTS(0)
UNARY_TESTS(1)

/* pow over a grid of bases (every binade, both signs) and exponents. */
static void pow_grid(int math) {
  int64_t nb = 0;
  float *bs = sweep(0, 4, 1001, &nb);
  const float es[] = {0.0f,  -0.0f, 1.0f,  -1.0f,  2.0f,  3.0f,  -3.0f,    0.5f,      -0.5f, 2.5f,
                      10.0f, 0.1f,  -7.0f, 127.0f, 1e-3f, 37.5f, INFINITY, -INFINITY, NAN};
  int64_t ne = (int64_t)(sizeof es / sizeof es[0]), n = nb * ne;
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_graph_create("t", &g));
  int32_t ab[2];
  CHECK_OK(qiao_ir_graph_add_input(g, "a", ty1(QIAO_F32, 1, (int64_t[]){n}), &ab[0]));
  CHECK_OK(qiao_ir_graph_add_input(g, "b", ty1(QIAO_F32, 1, (int64_t[]){n}), &ab[1]));
  qiao_status_t st = NULL;
  int32_t y = qiao_ir_build(g, QIAO_OP_POW, ab, 2, NULL, NULL, &st);
  cr_assert(st == NULL && y >= 0);
  CHECK_OK(qiao_ir_graph_set_outputs(g, &y, 1));
  qiao_tensor_t *in[2] = {0}, *ref[1] = {0}, *got[1] = {0};
  CHECK_OK(qiao_tensor_create(g->values[ab[0]].type, &in[0]));
  CHECK_OK(qiao_tensor_create(g->values[ab[1]].type, &in[1]));
  float *a = (float *)in[0]->data, *b = (float *)in[1]->data;
  for (int64_t i = 0; i < nb; ++i)
    for (int64_t j = 0; j < ne; ++j) {
      a[i * ne + j] = bs[i];
      b[i * ne + j] = es[j];
    }
  run_both(g, in, math, ref, got);
  /* pow's error grows with |b log a| in any f32 implementation without an
   * extended-precision log; 1e-5 is the f32 oracle tolerance */
  judge("pow", a, (const float *)got[0]->data, (const float *)ref[0]->data, n, 1e-5, 0, math);
  qiao_tensor_destroy(in[0]);
  qiao_tensor_destroy(in[1]);
  qiao_tensor_destroy(ref[0]);
  qiao_tensor_destroy(got[0]);
  qiao_ir_graph_destroy(g);
  free(bs);
}

Test(math_sweep_0, pow) { pow_grid(0); }
Test(math_sweep_1, pow) { pow_grid(1); }

/* ------------------------------------------------------------ NaN rule */

/* Builds y = op(x[, w]) for a small explicit x and compares every element. */
static void nan_case(qiao_op_kind_t k, const qiao_attrs_t *attrs, qiao_type_t tx, const float *xv,
                     int n_extra, const qiao_type_t *textra, const float *const *extra) {
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_graph_create("t", &g));
  int32_t args[4];
  CHECK_OK(qiao_ir_graph_add_input(g, "x", tx, &args[0]));
  for (int i = 0; i < n_extra; ++i) {
    char nm[16];
    snprintf(nm, sizeof nm, "e%d", i);
    CHECK_OK(qiao_ir_graph_add_input(g, nm, textra[i], &args[1 + i]));
  }
  qiao_status_t st = NULL;
  int32_t y = qiao_ir_build(g, k, args, 1 + n_extra, attrs, NULL, &st);
  cr_assert(st == NULL && y >= 0, "build %s: %s", qiao_op_name(k),
            st ? qiao_status_message(st) : "");
  int32_t outs[2] = {y, y + 1};
  int32_t n_out = k == QIAO_OP_TOPK ? 2 : 1;
  CHECK_OK(qiao_ir_graph_set_outputs(g, outs, n_out));
  qiao_tensor_t *in[4] = {0}, *ref[2] = {0}, *got[2] = {0};
  for (int i = 0; i <= n_extra; ++i) {
    CHECK_OK(qiao_tensor_create(g->values[args[i]].type, &in[i]));
    memcpy(in[i]->data, i == 0 ? xv : extra[i - 1], qiao_tensor_nbytes(in[i]));
  }
  for (int math = 0; math < 2; ++math) {
    run_both(g, in, math, ref, got);
    for (int32_t o = 0; o < n_out; ++o) {
      int64_t n = qiao_shape_numel(&ref[o]->type.shape);
      if (ref[o]->type.dtype == QIAO_I64) {
        cr_expect(memcmp(got[o]->data, ref[o]->data, (size_t)n * 8) == 0, "%s: indices differ",
                  qiao_op_name(k));
      } else {
        judge(qiao_op_name(k), NULL, (const float *)got[o]->data, (const float *)ref[o]->data, n,
              1e-5, 0, math);
      }
      qiao_tensor_destroy(ref[o]);
      qiao_tensor_destroy(got[o]);
    }
  }
  for (int i = 0; i <= n_extra; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_ir_graph_destroy(g);
}

static const float NANV = NAN;

Test(nan_rule, max_min_relu) {
  const float a[8] = {NAN, 0.5f, -1.0f, NAN, INFINITY, -0.0f, 2.0f, -INFINITY};
  const float b[8] = {0.5f, NAN, NAN, NAN, 1.0f, 0.0f, -3.0f, NAN};
  qiao_type_t t = ty1(QIAO_F32, 1, (int64_t[]){8});
  const float *ex[1] = {b};
  nan_case(QIAO_OP_MAX, NULL, t, a, 1, &t, ex);
  nan_case(QIAO_OP_MIN, NULL, t, a, 1, &t, ex);
  nan_case(QIAO_OP_RELU, NULL, t, a, 0, NULL, NULL);
}

Test(nan_rule, reduce_max) {
  /* [NaN, 1, -2, 3] -> NaN, and a NaN in a long (vectorized) row */
  float x[4 * 40];
  for (int i = 0; i < 160; ++i)
    x[i] = (float)((i * 37) % 11) - 5.0f;
  x[0] = NANV;
  x[40 + 39] = NANV; /* the scalar tail */
  x[80 + 17] = NANV; /* a vector lane */
  qiao_attrs_t a = defaults(QIAO_OP_REDUCE_MAX);
  nan_case(QIAO_OP_REDUCE_MAX, &a, ty1(QIAO_F32, 2, (int64_t[]){4, 40}), x, 0, NULL, NULL);
  a.n_axes = 1;
  a.axes[0] = 0; /* column mode */
  nan_case(QIAO_OP_REDUCE_MAX, &a, ty1(QIAO_F32, 2, (int64_t[]){4, 40}), x, 0, NULL, NULL);
  const float s[4] = {NAN, 1, -2, 3};
  a = defaults(QIAO_OP_REDUCE_MAX);
  nan_case(QIAO_OP_REDUCE_MAX, &a, ty1(QIAO_F32, 1, (int64_t[]){4}), s, 0, NULL, NULL);
}

Test(nan_rule, softmax_norms) {
  float x[4 * 40];
  for (int i = 0; i < 160; ++i)
    x[i] = (float)((i * 13) % 7) * 0.25f;
  x[3] = NANV;
  x[40 + 39] = NANV;
  qiao_type_t t = ty1(QIAO_F32, 2, (int64_t[]){4, 40});
  qiao_attrs_t a = defaults(QIAO_OP_SOFTMAX);
  nan_case(QIAO_OP_SOFTMAX, &a, t, x, 0, NULL, NULL);
  a.axis = 0;
  nan_case(QIAO_OP_SOFTMAX, &a, t, x, 0, NULL, NULL);
  float w[40], bias[40];
  for (int i = 0; i < 40; ++i)
    w[i] = 1.0f + 0.01f * (float)i, bias[i] = 0.1f;
  qiao_type_t tw = ty1(QIAO_F32, 1, (int64_t[]){40});
  qiao_type_t twb[2] = {tw, tw};
  const float *ex[2] = {w, bias};
  qiao_attrs_t r = defaults(QIAO_OP_RMS_NORM);
  nan_case(QIAO_OP_RMS_NORM, &r, t, x, 1, twb, ex);
  qiao_attrs_t l = defaults(QIAO_OP_LAYER_NORM);
  nan_case(QIAO_OP_LAYER_NORM, &l, t, x, 2, twb, ex);
}

Test(nan_rule, attention) {
  enum { S = 20, D = 16 };
  static float q[S * D], k[S * D], v[S * D];
  for (int i = 0; i < S * D; ++i) {
    q[i] = (float)((i * 7) % 5) * 0.1f - 0.2f;
    k[i] = (float)((i * 3) % 7) * 0.1f - 0.3f;
    v[i] = (float)((i * 5) % 9) * 0.1f;
  }
  k[5 * D + 3] = NANV; /* key 5: every query that sees it gets NaN */
  qiao_type_t t = ty1(QIAO_F32, 4, (int64_t[]){1, 1, S, D});
  qiao_type_t tkv[2] = {t, t};
  const float *ex[2] = {k, v};
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  nan_case(QIAO_OP_ATTENTION, &a, t, q, 2, tkv, ex);
  a.causal = true; /* queries 0..4 do not see key 5 */
  nan_case(QIAO_OP_ATTENTION, &a, t, q, 2, tkv, ex);
}

Test(nan_rule, topk) {
  const float x[2 * 8] = {1,   NAN, 3,   3, NAN, -INFINITY, 0,        -0.0f,
                          NAN, NAN, NAN, 1, 2,   2,         INFINITY, -1};
  qiao_attrs_t a = defaults(QIAO_OP_TOPK);
  a.k = 5;
  nan_case(QIAO_OP_TOPK, &a, ty1(QIAO_F32, 2, (int64_t[]){2, 8}), x, 0, NULL, NULL);
}

/* ------------------------------------------------------------ sin, cos */

/* sin and cos are not graph ops: the hooks are driven directly (a module of
 * backends/common, JIT-compiled) on f32 vectors with a scalar tail and on
 * f64 scalars (rope's use), and compared with the interpreter's formula
 * (libm sin/cos in f64, then f32), over the same sweep of the whole f32
 * range; then rope runs against the interpreter with positions past the
 * Cody–Waite range (2^20). */
#include "backends/common/codegen.h"
#include "backends/common/module.h"

typedef struct hook_env {
  qiao_cg_t cg;
  LLVMOrcThreadSafeContextRef tsc;
} hook_env_t;

static void hook_env_init(hook_env_t *e, int math) {
  memset(e, 0, sizeof *e);
  CHECK_OK(qiao_cg_target_machine_create(NULL, NULL, NULL, 3, &e->cg.tm));
  e->tsc = LLVMOrcCreateNewThreadSafeContext();
  e->cg.ctx = LLVMOrcThreadSafeContextGetContext(e->tsc);
  e->cg.mod = LLVMModuleCreateWithNameInContext("hooks", e->cg.ctx);
  qiao_cg_module_set_target(e->cg.mod, e->cg.tm);
  e->cg.td = LLVMCreateTargetDataLayout(e->cg.tm);
  e->cg.b = LLVMCreateBuilderInContext(e->cg.ctx);
  e->cg.vec_bytes = 32;
  e->cg.vec_f32 = 8;
  e->cg.math = math == 1 ? &qiao_math_portable : &qiao_math_host;
  qiao_cg_init_types(&e->cg);
}

static void hook_env_fini(hook_env_t *e) {
  LLVMDisposeBuilder(e->cg.b);
  if (e->cg.mod) LLVMDisposeModule(e->cg.mod);
  LLVMDisposeTargetData(e->cg.td);
  LLVMDisposeTargetMachine(e->cg.tm);
  LLVMOrcDisposeThreadSafeContext(e->tsc);
}

typedef struct sc_body {
  qiao_cg_t *cg;
  LLVMValueRef x, os, oc;
  bool f64;
} sc_body_t;

/* os[i..] = sin(x[i..]), oc[i..] = cos(x[i..]) for `lanes` elements. */
static void sc_body(void *ctx, LLVMValueRef i, unsigned lanes) {
  sc_body_t *s = ctx;
  qiao_cg_t *cg = s->cg;
  LLVMValueRef x = qiao_cg_load_f32(cg, s->x, QIAO_F32, i, lanes);
  if (s->f64) x = LLVMBuildFPExt(cg->b, x, qiao_cg_vec_type(cg, cg->t_f64, lanes), "");
  LLVMValueRef sv = cg->math->sin(cg, x), cv = cg->math->cos(cg, x);
  if (s->f64) {
    sv = LLVMBuildFPTrunc(cg->b, sv, qiao_cg_vec_type(cg, cg->t_f32, lanes), "");
    cv = LLVMBuildFPTrunc(cg->b, cv, qiao_cg_vec_type(cg, cg->t_f32, lanes), "");
  }
  qiao_cg_store_f32(cg, sv, s->os, QIAO_F32, i, lanes);
  qiao_cg_store_f32(cg, cv, s->oc, QIAO_F32, i, lanes);
}

/* void name(ptr x, ptr os, ptr oc): n elements, f32 <8 x> + tail or f64 scalars. */
static void add_sincos_fn(qiao_cg_t *cg, const char *name, int64_t n, bool f64) {
  LLVMTypeRef params[3] = {cg->t_ptr, cg->t_ptr, cg->t_ptr};
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, LLVMFunctionType(cg->t_void, params, 3, 0));
  LLVMPositionBuilderAtEnd(cg->b, LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry"));
  sc_body_t s = {cg, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1), LLVMGetParam(fn, 2), f64};
  qiao_cg_vloop(cg, 0, n, f64 ? 1 : cg->vec_f32, "i", sc_body, &s);
  LLVMBuildRetVoid(cg->b);
}

static void sincos_sweep(int math) {
  int64_t n = 0;
  float *x = sweep(-1e7, 1e7, 200001, &n);
  /* plus a fine sweep around the Cody–Waite bound and multiples of pi/2 */
  float *more = realloc(x, sizeof(float) * (size_t)(n + 4099));
  cr_assert(more);
  x = more;
  for (int i = 0; i < 2048; ++i) {
    x[n++] = (float)(1048576.0 + (i - 1024) * 0.0625);
    x[n++] = (float)((i - 1024) * 1.5707963267948966);
  }
  x[n++] = 1.6140916e38f; /* among the f32 closest to a multiple of pi/2 */
  hook_env_t e;
  hook_env_init(&e, math);
  add_sincos_fn(&e.cg, "sc32", n, false);
  add_sincos_fn(&e.cg, "sc64", n, true);
  CHECK_OK(qiao_cg_module_optimize(e.cg.mod, e.cg.tm, 3, "test"));
  qiao_cg_jit_t *jit = NULL;
  LLVMModuleRef mod = e.cg.mod;
  e.cg.mod = NULL;
  CHECK_OK(qiao_cg_jit_create(e.tsc, mod, NULL, 0, "test", &jit));
  float *rs = malloc(sizeof(float) * (size_t)n), *rc = malloc(sizeof(float) * (size_t)n);
  float *gs = malloc(sizeof(float) * (size_t)n), *gc = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; ++i) {
    rs[i] = (float)sin((double)x[i]);
    rc[i] = (float)cos((double)x[i]);
  }
  for (int f64 = 0; f64 < 2; ++f64) {
    void *addr = NULL;
    CHECK_OK(qiao_cg_jit_lookup(jit, f64 ? "sc64" : "sc32", &addr));
    memset(gs, 0xFF, sizeof(float) * (size_t)n);
    memset(gc, 0xFF, sizeof(float) * (size_t)n);
    ((void (*)(const float *, float *, float *))(uintptr_t)addr)(x, gs, gc);
    judge(f64 ? "sin (f64)" : "sin", x, gs, rs, n, RTOL, 0, math);
    judge(f64 ? "cos (f64)" : "cos", x, gc, rc, n, RTOL, 0, math);
  }
  qiao_cg_jit_destroy(jit);
  hook_env_fini(&e);
  free(x);
  free(rs);
  free(rc);
  free(gs);
  free(gc);
}

Test(math_sweep_0, sin_cos) { sincos_sweep(0); }
Test(math_sweep_1, sin_cos) { sincos_sweep(1); }

/* rope against the interpreter, positions up to 2^24 (angles past 2^20). */
static void rope_case(int math, qiao_rope_mode_t mode) {
  const int64_t S = 40, D = 16;
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_graph_create("t", &g));
  int32_t args[2];
  CHECK_OK(qiao_ir_graph_add_input(g, "x", ty1(QIAO_F32, 4, (int64_t[]){1, 2, S, D}), &args[0]));
  CHECK_OK(qiao_ir_graph_add_input(g, "p", ty1(QIAO_I32, 1, (int64_t[]){S}), &args[1]));
  qiao_attrs_t a = defaults(QIAO_OP_ROPE);
  a.mode = mode;
  qiao_status_t st = NULL;
  int32_t y = qiao_ir_build(g, QIAO_OP_ROPE, args, 2, &a, NULL, &st);
  cr_assert(st == NULL && y >= 0);
  CHECK_OK(qiao_ir_graph_set_outputs(g, &y, 1));
  qiao_tensor_t *in[2] = {0}, *ref[1] = {0}, *got[1] = {0};
  CHECK_OK(qiao_tensor_create(g->values[args[0]].type, &in[0]));
  CHECK_OK(qiao_tensor_create(g->values[args[1]].type, &in[1]));
  float *xv = (float *)in[0]->data;
  for (int64_t i = 0; i < 2 * S * D; ++i)
    xv[i] = (float)((i * 7919 % 2001) - 1000) / 1000.0f;
  int32_t *pv = (int32_t *)in[1]->data;
  for (int64_t s = 0; s < S; ++s)
    pv[s] = s < 8 ? (int32_t)s : (int32_t)((s * 419430 + s * s * 977) % 16777216);
  run_both(g, in, math, ref, got);
  const float *r = (const float *)ref[0]->data, *o = (const float *)got[0]->data;
  int64_t bad = 0;
  for (int64_t i = 0; i < 2 * S * D; ++i)
    if (!(fabsf(o[i] - r[i]) <= 4e-6f)) {
      if (bad++ < 5)
        cr_log_error("rope (math %d): [%lld] got %.9g ref %.9g", math, (long long)i, o[i], r[i]);
    }
  cr_expect_eq(bad, 0, "rope (math %d, mode %d): %lld elements differ", math, mode, (long long)bad);
  qiao_tensor_destroy(in[0]);
  qiao_tensor_destroy(in[1]);
  qiao_tensor_destroy(ref[0]);
  qiao_tensor_destroy(got[0]);
  qiao_ir_graph_destroy(g);
}

Test(math_sweep_0, rope_far_positions) {
  rope_case(0, QIAO_ROPE_NEOX);
  rope_case(0, QIAO_ROPE_GPTJ);
}
Test(math_sweep_1, rope_far_positions) {
  rope_case(1, QIAO_ROPE_NEOX);
  rope_case(1, QIAO_ROPE_GPTJ);
}

/* The libm-free hook emits no call but llvm.* intrinsics every target lowers
 * to instructions (checked in the IR before and after default<O3>; O3 itself
 * folds some compares into llvm.is.fpclass, which every backend expands). */
static const char *const ALLOWED[] = {"llvm.fabs.",      "llvm.fma.",      "llvm.fmuladd.",
                                      "llvm.floor.",     "llvm.trunc.",    "llvm.rint.",
                                      "llvm.roundeven.", "llvm.copysign.", "llvm.minnum.",
                                      "llvm.maxnum.",    "llvm.sqrt.",     "llvm.is.fpclass."};

static int64_t count_foreign_calls(const char *ir, char *first, size_t cap) {
  int64_t bad = 0;
  first[0] = '\0';
  for (const char *p = strstr(ir, "call "); p; p = strstr(p + 5, "call ")) {
    const char *at = strchr(p, '@');
    const char *eol = strchr(p, '\n');
    if (!at || (eol && at > eol)) { /* an indirect call */
      if (!bad++) snprintf(first, cap, "%.60s", p);
      continue;
    }
    bool ok = false;
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; ++i)
      if (strncmp(at + 1, ALLOWED[i], strlen(ALLOWED[i])) == 0) ok = true;
    if (!ok && !bad++) snprintf(first, cap, "%.60s", at);
  }
  return bad;
}

typedef struct all_body {
  qiao_cg_t *cg;
  LLVMValueRef x, y;
} all_body_t;

static void all_math_body(void *ctx, LLVMValueRef i, unsigned lanes) {
  all_body_t *s = ctx;
  qiao_cg_t *cg = s->cg;
  LLVMValueRef x = qiao_cg_load_f32(cg, s->x, QIAO_F32, i, lanes), acc = x;
  const qiao_op_kind_t un[] = {QIAO_OP_EXP,  QIAO_OP_LOG,     QIAO_OP_SQRT, QIAO_OP_RSQRT,
                               QIAO_OP_TANH, QIAO_OP_SIGMOID, QIAO_OP_SILU, QIAO_OP_GELU};
  for (size_t k = 0; k < sizeof un / sizeof un[0]; ++k)
    acc = LLVMBuildFAdd(cg->b, acc, qiao_cg_emit_elementwise(cg, un[k], NULL, x, NULL), "");
  qiao_attrs_t tanh_gelu = {.approximate = QIAO_GELU_TANH};
  acc = LLVMBuildFAdd(cg->b, acc, qiao_cg_emit_elementwise(cg, QIAO_OP_GELU, &tanh_gelu, x, NULL),
                      "");
  acc = LLVMBuildFAdd(cg->b, acc, qiao_cg_emit_elementwise(cg, QIAO_OP_POW, NULL, x, acc), "");
  acc = LLVMBuildFAdd(cg->b, acc, cg->math->sin(cg, x), "");
  acc = LLVMBuildFAdd(cg->b, acc, cg->math->cos(cg, acc), "");
  LLVMTypeRef dt = qiao_cg_vec_type(cg, cg->t_f64, lanes), ft = LLVMTypeOf(x);
  LLVMValueRef xd = LLVMBuildFPExt(cg->b, acc, dt, "");
  acc = LLVMBuildFAdd(cg->b, acc, LLVMBuildFPTrunc(cg->b, cg->math->sin(cg, xd), ft, ""), "");
  acc = LLVMBuildFAdd(cg->b, acc, LLVMBuildFPTrunc(cg->b, cg->math->cos(cg, xd), ft, ""), "");
  qiao_cg_store_f32(cg, acc, s->y, QIAO_F32, i, lanes);
}

Test(math_portable, emits_no_calls) {
  hook_env_t e;
  hook_env_init(&e, 1);
  LLVMTypeRef params[2] = {e.cg.t_ptr, e.cg.t_ptr};
  LLVMValueRef fn = LLVMAddFunction(e.cg.mod, "all", LLVMFunctionType(e.cg.t_void, params, 2, 0));
  LLVMPositionBuilderAtEnd(e.cg.b, LLVMAppendBasicBlockInContext(e.cg.ctx, fn, "entry"));
  all_body_t s = {&e.cg, LLVMGetParam(fn, 0), LLVMGetParam(fn, 1)};
  qiao_cg_vloop(&e.cg, 0, 37, 8, "i", all_math_body, &s);
  LLVMBuildRetVoid(e.cg.b);
  CHECK_OK(qiao_cg_module_verify(e.cg.mod, "test"));
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) CHECK_OK(qiao_cg_module_optimize(e.cg.mod, e.cg.tm, 3, "test"));
    char *ir = NULL;
    size_t n = 0;
    CHECK_OK(qiao_cg_module_emit_memory(e.cg.mod, e.cg.tm, QIAO_CG_EMIT_LLVM, &ir, &n));
    char first[80];
    int64_t bad = count_foreign_calls(ir, first, sizeof first);
    cr_expect_eq(bad, 0, "%s: %lld calls outside the allowed intrinsics, first: %s",
                 pass ? "after O3" : "before O3", (long long)bad, first);
    cr_expect(strstr(ir, "call ") != NULL, "the probe found no call at all (test is broken)");
    free(ir);
  }
  hook_env_fini(&e);
}
