/* CPU kernel lowerings (every kind but matmul) against the reference
 * interpreter: a small graph is built with the IR builder, run by
 * qiao_interp_run, partitioned, lowered through the CPU module API, JIT-ed
 * and dispatched on a 2-thread HAL CPU device with NaN-poisoned outputs.
 * Error: max|x - ref| / max(max|ref|, 1e-30) <= 1e-5 (f32), 1e-2 (bf16/f16),
 * integers exact. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/backend_cpu.h"
#include "qiao/hal.h"
#include "qiao/ir.h"

/* ------------------------------------------------------------- helpers */

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

static qiao_type_t ty(qiao_dtype_t dt, int rank, const int64_t *dims) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  for (int i = 0; i < rank; ++i)
    t.shape.dims[i] = dims[i];
  return t;
}

#define DIMS(...) ((const int64_t[]){__VA_ARGS__})
#define NDIMS(...) ((int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define TY(dt, ...) ty((dt), NDIMS(__VA_ARGS__), DIMS(__VA_ARGS__))

static int32_t in(qiao_graph_t *g, const char *name, qiao_type_t t) {
  int32_t v = -1;
  CHECK_OK(qiao_ir_graph_add_input(g, name, t, &v));
  return v;
}

static int32_t op(qiao_graph_t *g, qiao_op_kind_t kind, const int32_t *args, int32_t n,
                  const qiao_attrs_t *a) {
  qiao_status_t st = NULL;
  int32_t v = qiao_ir_build(g, kind, args, n, a, NULL, &st);
  cr_assert(st == NULL && v >= 0, "build %s: %s", qiao_op_name(kind), qiao_status_message(st));
  return v;
}
#define OP(g, kind, a, ...) op((g), (kind), (const int32_t[]){__VA_ARGS__}, NDIMS(__VA_ARGS__), (a))

static qiao_attrs_t defaults(qiao_op_kind_t kind) {
  qiao_attrs_t a;
  memset(&a, 0, sizeof a);
  qiao_attrs_init_defaults(&a, kind);
  return a;
}

static qiao_graph_t *graph(void) {
  qiao_graph_t *g = NULL;
  CHECK_OK(qiao_ir_graph_create("t", &g));
  return g;
}

/* Integer-valued input ranges by input index (default: floats in [-1, 1), ints in [0, 8)). */
typedef struct range {
  double lo, hi;
  bool set;
} range_t;

typedef struct run_opts {
  range_t range[8];
  int threads;
  int attn_splits;    /* qiao_cpu_options_t.attention_splits (0: planned) */
  int expect_phases;  /* launches of the attention kernel (0: any) */
  bool kv_specials;   /* NaN / +inf in input 1, -inf / NaN in input 2 (attention K / V) */
  double tol;         /* 0: by dtype */
  int expect_kernels; /* 0: any */
} run_opts_t;

/* The project's oracle measure and tolerances (include/qiao/ir.h). */
static double tol_for(qiao_dtype_t dt) { return qiao_dtype_tolerance(dt); }

static double max_err(const qiao_tensor_t *x, const qiao_tensor_t *ref) {
  return qiao_tensor_max_error(x, ref);
}

/* Runs g on the interpreter and on the CPU backend; asserts the error. */
static void run_graph(qiao_graph_t *g, uint64_t seed, const run_opts_t *opts) {
  run_opts_t def = {0};
  if (!opts) opts = &def;
  CHECK_OK(qiao_ir_graph_verify(g));
  int32_t ni = g->n_inputs;
  qiao_tensor_t *inputs[16] = {0};
  uint64_t rng = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int32_t i = 0; i < ni; ++i) {
    const qiao_value_t *v = &g->values[g->inputs[i]];
    CHECK_OK(qiao_tensor_create(v->type, &inputs[i]));
    double lo = -1.0, hi = 1.0;
    if (!qiao_dtype_is_float(v->type.dtype)) lo = 0, hi = 8;
    if (i < 8 && opts->range[i].set) lo = opts->range[i].lo, hi = opts->range[i].hi;
    qiao_tensor_fill_random(inputs[i], &rng, lo, hi);
    if (opts->kv_specials && (i == 1 || i == 2)) {
      int64_t n = qiao_shape_numel(&v->type.shape);
      qiao_store_f64(inputs[i]->data, v->type.dtype, n / 3, i == 1 ? NAN : -INFINITY);
      qiao_store_f64(inputs[i]->data, v->type.dtype, n - 1 - n / 5, i == 1 ? INFINITY : NAN);
    }
  }
  qiao_tensor_t *refs[8] = {0};
  CHECK_OK(qiao_interp_run(g, (const qiao_tensor_t *const *)inputs, NULL, NULL, NULL, 0, refs));

  qiao_partition_t *part = NULL;
  CHECK_OK(qiao_ir_partition(g, NULL, &part));
  if (opts->expect_kernels)
    cr_expect_eq(part->n_kernels, opts->expect_kernels, "expected %d kernels, got %d",
                 opts->expect_kernels, part->n_kernels);
  int threads = opts->threads ? opts->threads : 2;
  char uri[32];
  snprintf(uri, sizeof uri, "cpu:threads=%d", threads);
  qiao_hal_device_t *dev = NULL;
  CHECK_OK(qiao_hal_device_open(uri, &dev));
  qiao_cpu_options_t mo = {.n_threads = threads, .attention_splits = opts->attn_splits};
  qiao_cpu_module_t *mod = NULL;
  CHECK_OK(qiao_cpu_module_create(&mo, &mod));
  qiao_kernel_launch_t *launch = calloc((size_t)part->n_kernels + 1, sizeof *launch);
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    char name[32];
    snprintf(name, sizeof name, "k%d", k);
    CHECK_OK(qiao_cpu_module_add_kernel(mod, &part->kernels[k], name, &launch[k]));
    if (opts->expect_phases && part->kernels[k].kind == QIAO_KD_ATTENTION)
      cr_expect_eq(qiao_kernel_launch_phase_count(&launch[k]), opts->expect_phases,
                   "attention kernel: %d phases, expected %d",
                   qiao_kernel_launch_phase_count(&launch[k]), opts->expect_phases);
  }
  qiao_hal_executable_t *exe = NULL;
  CHECK_OK(qiao_cpu_module_jit(mod, dev, &exe));
  qiao_cpu_module_destroy(mod);

  /* one buffer per stored value (aliases share their root's) */
  int32_t nv = g->n_values;
  qiao_hal_buffer_t **buf = calloc((size_t)nv, sizeof *buf);
  for (int32_t i = 0; i < ni; ++i) {
    int32_t v = g->inputs[i];
    CHECK_OK(qiao_hal_buffer_alloc(dev, qiao_tensor_nbytes(inputs[i]) + 64, &buf[v]));
    CHECK_OK(qiao_hal_buffer_write(buf[v], 0, inputs[i]->data, qiao_tensor_nbytes(inputs[i])));
  }
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    for (int32_t o = 0; o < kd->n_outputs; ++o) {
      int32_t v = kd->outputs[o].value;
      size_t nb = (size_t)qiao_shape_numel(&kd->outputs[o].type.shape) *
                  qiao_dtype_size(kd->outputs[o].type.dtype);
      CHECK_OK(qiao_hal_buffer_alloc(dev, nb + 64, &buf[v]));
      void *p = qiao_hal_buffer_host_ptr(buf[v]);
      memset(p, 0xFF, nb + 64); /* NaN poison */
    }
  }
  for (int32_t k = 0; k < part->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &part->kernels[k];
    qiao_hal_binding_t b[QIAO_KD_MAX_OPERANDS + 2];
    int32_t nb = 0;
    for (int32_t i = 0; i < kd->n_inputs; ++i) {
      int32_t v = kd->inputs[i].value;
      if (part->alias && part->alias[v] >= 0) v = part->alias[v];
      cr_assert(buf[v], "kernel %d input %d (value %d) has no buffer", k, i, v);
      b[nb++] = (qiao_hal_binding_t){buf[v], 0};
    }
    for (int32_t o = 0; o < kd->n_outputs; ++o)
      b[nb++] = (qiao_hal_binding_t){buf[kd->outputs[o].value], 0};
    /* a multi-phase kernel's workspace: a trailing binding, NaN-poisoned (not zeroed) */
    qiao_hal_buffer_t *ws = NULL;
    if (launch[k].workspace_bytes > 0) {
      CHECK_OK(qiao_hal_buffer_alloc(dev, (size_t)launch[k].workspace_bytes, &ws));
      memset(qiao_hal_buffer_host_ptr(ws), 0xFF, (size_t)launch[k].workspace_bytes);
      b[nb++] = (qiao_hal_binding_t){ws, 0};
    }
    for (int32_t ph = 0; ph < qiao_kernel_launch_phase_count(&launch[k]); ++ph) {
      qiao_kernel_phase_t lp = qiao_kernel_launch_phase(&launch[k], ph);
      int32_t idx = -1;
      qiao_hal_entry_info_t info;
      CHECK_OK(qiao_hal_executable_lookup(exe, lp.name, &idx, &info));
      CHECK_OK(qiao_hal_dispatch(dev, exe, idx, lp.grid, b, nb, NULL, 0));
    }
    if (ws) qiao_hal_buffer_release(ws);
  }
  for (int32_t o = 0; o < g->n_outputs; ++o) {
    int32_t v = g->outputs[o];
    if (part->alias && part->alias[v] >= 0) v = part->alias[v];
    cr_assert(buf[v], "output %d has no buffer", o);
    qiao_tensor_t *got = NULL;
    CHECK_OK(qiao_tensor_create(refs[o]->type, &got));
    CHECK_OK(qiao_hal_buffer_read(buf[v], 0, got->data, qiao_tensor_nbytes(got)));
    double err = max_err(got, refs[o]);
    double tol = opts->tol > 0 ? opts->tol : tol_for(refs[o]->type.dtype);
    char tb[96];
    qiao_type_str(&refs[o]->type, tb, sizeof tb);
    cr_expect(err <= tol, "output %d (%s): error %.3g > %.3g (kernels %d, first kind %s)", o, tb,
              err, tol, part->n_kernels, qiao_kd_kind_name(part->kernels[0].kind));
    qiao_tensor_destroy(got);
  }
  for (int32_t v = 0; v < nv; ++v)
    if (buf[v]) qiao_hal_buffer_release(buf[v]);
  free(buf);
  free(launch);
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(dev);
  qiao_ir_partition_destroy(part);
  for (int32_t i = 0; i < ni; ++i)
    qiao_tensor_destroy(inputs[i]);
  for (int32_t o = 0; o < g->n_outputs; ++o)
    qiao_tensor_destroy(refs[o]);
  qiao_ir_graph_destroy(g);
}

static void outputs1(qiao_graph_t *g, int32_t v) { CHECK_OK(qiao_ir_graph_set_outputs(g, &v, 1)); }

/* ------------------------------------------------------------ elementwise */

static void ew_binary(qiao_op_kind_t k, qiao_type_t ta, qiao_type_t tb, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t a = in(g, "a", ta), b = in(g, "b", tb);
  outputs1(g, OP(g, k, NULL, a, b));
  run_graph(g, seed, NULL);
}

Test(elementwise, binary_f32_broadcast) {
  ew_binary(QIAO_OP_ADD, TY(QIAO_F32, 3, 17), TY(QIAO_F32, 17), 1);
  ew_binary(QIAO_OP_MUL, TY(QIAO_F32, 127), TY(QIAO_F32, 1), 2);
  ew_binary(QIAO_OP_SUB, TY(QIAO_F32, 1), TY(QIAO_F32, 1), 3);
  ew_binary(QIAO_OP_MAX, TY(QIAO_F32, 4, 1, 3), TY(QIAO_F32, 1, 5, 1), 4);
  ew_binary(QIAO_OP_DIV, TY(QIAO_F32, 17, 1), TY(QIAO_F32, 17, 127), 5);
  ew_binary(QIAO_OP_MIN, TY(QIAO_F32, 2, 3, 17), TY(QIAO_F32, 3, 1), 6);
}

Test(elementwise, binary_half) {
  ew_binary(QIAO_OP_ADD, TY(QIAO_BF16, 3, 17), TY(QIAO_BF16, 17), 7);
  ew_binary(QIAO_OP_MUL, TY(QIAO_F16, 127, 3), TY(QIAO_F16, 127, 1), 8);
}

Test(elementwise, fused_chain) {
  static const qiao_dtype_t dts[] = {QIAO_F32, QIAO_BF16, QIAO_F16};
  for (int t = 0; t < 3; ++t) {
    qiao_graph_t *g = graph();
    int32_t x = in(g, "x", TY(dts[t], 5, 127)), y = in(g, "y", TY(dts[t], 127));
    qiao_attrs_t ga = defaults(QIAO_OP_GELU);
    int32_t h = OP(g, QIAO_OP_MUL, NULL, OP(g, QIAO_OP_SILU, NULL, x), y);
    h = OP(g, QIAO_OP_ADD, NULL, h, OP(g, QIAO_OP_GELU, &ga, x));
    h = OP(g, QIAO_OP_SUB, NULL, h, OP(g, QIAO_OP_TANH, NULL, OP(g, QIAO_OP_SIGMOID, NULL, y)));
    h = OP(g, QIAO_OP_ADD, NULL, h, OP(g, QIAO_OP_EXP, NULL, OP(g, QIAO_OP_NEG, NULL, x)));
    outputs1(g, h);
    run_graph(g, 10 + (uint64_t)t,
              &(run_opts_t){.expect_kernels = 2}); /* sigmoid(y) is [127]: its own kernel */
  }
}

Test(elementwise, unary_positive) {
  static const qiao_op_kind_t ops[] = {QIAO_OP_LOG, QIAO_OP_SQRT, QIAO_OP_RSQRT, QIAO_OP_RELU};
  for (int i = 0; i < 4; ++i) {
    qiao_graph_t *g = graph();
    int32_t x = in(g, "x", TY(QIAO_F32, 3, 17));
    outputs1(g, OP(g, ops[i], NULL, x));
    run_graph(g, 20 + (uint64_t)i, &(run_opts_t){.range = {{0.1, 4.0, true}}});
  }
}

Test(elementwise, large_parallel) {
  ew_binary(QIAO_OP_ADD, TY(QIAO_F32, 257, 301), TY(QIAO_F32, 301), 30);
  ew_binary(QIAO_OP_MUL, TY(QIAO_F32, 100003), TY(QIAO_F32, 100003), 31);
  ew_binary(QIAO_OP_ADD, TY(QIAO_BF16, 70000, 3), TY(QIAO_BF16, 70000, 1), 32);
}

Test(elementwise, integers) {
  static const qiao_op_kind_t ops[] = {QIAO_OP_ADD, QIAO_OP_SUB, QIAO_OP_MUL,
                                       QIAO_OP_DIV, QIAO_OP_MAX, QIAO_OP_MIN};
  for (int i = 0; i < 6; ++i) {
    qiao_graph_t *g = graph();
    int32_t a = in(g, "a", TY(QIAO_I32, 3, 17)), b = in(g, "b", TY(QIAO_I32, 17));
    outputs1(g, OP(g, ops[i], NULL, a, b));
    run_graph(g, 40 + (uint64_t)i,
              &(run_opts_t){.range = {{-100000, 100000, true}, {-5, 5, true}}});
  }
  /* i64 with values beyond 2^24 (exactness), wrap-around of i32 mul */
  qiao_graph_t *g = graph();
  int32_t a = in(g, "a", TY(QIAO_I64, 127)), b = in(g, "b", TY(QIAO_I64, 127));
  outputs1(g, OP(g, QIAO_OP_ADD, NULL, OP(g, QIAO_OP_MUL, NULL, a, b), a));
  run_graph(g, 47, &(run_opts_t){.range = {{-3e9, 3e9, true}, {-1000, 1000, true}}});
  g = graph();
  a = in(g, "a", TY(QIAO_I32, 17));
  b = in(g, "b", TY(QIAO_I32, 17));
  outputs1(g, OP(g, QIAO_OP_NEG, NULL, OP(g, QIAO_OP_MUL, NULL, a, b)));
  run_graph(g, 48, &(run_opts_t){.range = {{-2e9, 2e9, true}, {-1000, 1000, true}}});
}

Test(elementwise, casts) {
  qiao_attrs_t c = defaults(QIAO_OP_CAST);
  /* f32 -> i32 (toward zero, saturating) */
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, 3, 17));
  c.to = QIAO_I32;
  outputs1(g, OP(g, QIAO_OP_CAST, &c, OP(g, QIAO_OP_MUL, NULL, x, x)));
  run_graph(g, 50, &(run_opts_t){.range = {{-60000, 60000, true}}});
  /* i32 -> f32 -> bf16 chain, i64 -> i32 saturation, -> bool */
  g = graph();
  x = in(g, "x", TY(QIAO_I32, 127));
  c.to = QIAO_F32;
  int32_t f = OP(g, QIAO_OP_CAST, &c, x);
  outputs1(g, OP(g, QIAO_OP_MUL, NULL, f, f));
  run_graph(g, 51, &(run_opts_t){.range = {{-3000, 3000, true}}});
  g = graph();
  x = in(g, "x", TY(QIAO_I64, 17));
  c.to = QIAO_I32;
  outputs1(g, OP(g, QIAO_OP_CAST, &c, x));
  run_graph(g, 52, &(run_opts_t){.range = {{-5e9, 5e9, true}}});
  g = graph();
  x = in(g, "x", TY(QIAO_F32, 17));
  c.to = QIAO_BOOL;
  outputs1(g, OP(g, QIAO_OP_CAST, &c, OP(g, QIAO_OP_RELU, NULL, x)));
  run_graph(g, 53, NULL);
  g = graph();
  x = in(g, "x", TY(QIAO_F32, 33));
  c.to = QIAO_BF16;
  outputs1(g, OP(g, QIAO_OP_CAST, &c, x));
  run_graph(g, 54, NULL);
  /* bool -> f32 */
  g = graph();
  x = in(g, "x", TY(QIAO_BOOL, 3, 17));
  int32_t y = in(g, "y", TY(QIAO_F32, 17));
  c.to = QIAO_F32;
  outputs1(g, OP(g, QIAO_OP_MUL, NULL, OP(g, QIAO_OP_CAST, &c, x), y));
  run_graph(g, 55, &(run_opts_t){.range = {{0, 2, true}}});
  /* i8 wraps; i32 relu / neg; i32 -> i8 saturates */
  g = graph();
  x = in(g, "x", TY(QIAO_I8, 127));
  y = in(g, "y", TY(QIAO_I8, 127));
  outputs1(g, OP(g, QIAO_OP_ADD, NULL, x, y));
  run_graph(g, 56, &(run_opts_t){.range = {{-128, 128, true}, {-128, 128, true}}});
  g = graph();
  x = in(g, "x", TY(QIAO_I32, 5, 17));
  c.to = QIAO_I8;
  outputs1(g, OP(g, QIAO_OP_CAST, &c, OP(g, QIAO_OP_RELU, NULL, OP(g, QIAO_OP_NEG, NULL, x))));
  run_graph(g, 57, &(run_opts_t){.range = {{-1000, 1000, true}}});
}

/* ---------------------------------------------------------------- reduce */

static void reduce_case(qiao_op_kind_t k, qiao_type_t t, const int64_t *axes, int n_axes, bool keep,
                        uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", t);
  qiao_attrs_t a = defaults(k);
  a.n_axes = n_axes;
  for (int i = 0; i < n_axes; ++i)
    a.axes[i] = axes[i];
  a.keepdims = keep;
  outputs1(g, OP(g, k, &a, x));
  run_graph(g, seed, NULL);
}

Test(reduce, shapes) {
  static const qiao_op_kind_t ks[] = {QIAO_OP_REDUCE_SUM, QIAO_OP_REDUCE_MAX, QIAO_OP_REDUCE_MEAN};
  for (int i = 0; i < 3; ++i) {
    uint64_t s = 100 + 10 * (uint64_t)i;
    reduce_case(ks[i], TY(QIAO_F32, 3, 17), DIMS(-1), 1, false, s + 0);
    reduce_case(ks[i], TY(QIAO_F32, 127), DIMS(0), 1, false, s + 1);
    reduce_case(ks[i], TY(QIAO_F32, 1), DIMS(0), 1, true, s + 2);
    reduce_case(ks[i], TY(QIAO_F32, 17, 3), DIMS(0), 1, false, s + 3);
    reduce_case(ks[i], TY(QIAO_F32, 3, 17, 5), DIMS(1), 1, true, s + 4);
    reduce_case(ks[i], TY(QIAO_F32, 3, 17, 5), DIMS(0, 2), 2, false, s + 5);
    reduce_case(ks[i], TY(QIAO_BF16, 5, 127), DIMS(-1), 1, false, s + 6);
    reduce_case(ks[i], TY(QIAO_F16, 127, 33), DIMS(0), 1, true, s + 7);
  }
  reduce_case(QIAO_OP_REDUCE_SUM, TY(QIAO_F32, 300, 257), DIMS(1), 1, false, 140);
  reduce_case(QIAO_OP_REDUCE_MEAN, TY(QIAO_F32, 300, 257), DIMS(0), 1, false, 141);
}

Test(reduce, epilogue) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, 17, 33)), y = in(g, "y", TY(QIAO_F32, 17));
  qiao_attrs_t a = defaults(QIAO_OP_REDUCE_SUM);
  int32_t r = OP(g, QIAO_OP_REDUCE_SUM, &a, x);
  outputs1(g, OP(g, QIAO_OP_MUL, NULL, OP(g, QIAO_OP_SQRT, NULL, OP(g, QIAO_OP_RELU, NULL, r)), y));
  run_graph(g, 150, &(run_opts_t){.expect_kernels = 1});
}

/* --------------------------------------------------------------- softmax */

static void softmax_case(qiao_type_t t, int64_t axis, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", t);
  qiao_attrs_t a = defaults(QIAO_OP_SOFTMAX);
  a.axis = axis;
  outputs1(g, OP(g, QIAO_OP_SOFTMAX, &a, x));
  run_graph(g, seed, &(run_opts_t){.range = {{-8, 8, true}}});
}

Test(softmax, shapes) {
  softmax_case(TY(QIAO_F32, 3, 17), -1, 200);
  softmax_case(TY(QIAO_F32, 1), -1, 201);
  softmax_case(TY(QIAO_F32, 5, 127), -1, 202);
  softmax_case(TY(QIAO_F32, 17, 3), 0, 203);
  softmax_case(TY(QIAO_F32, 2, 17, 19), 1, 204);
  softmax_case(TY(QIAO_BF16, 3, 127), -1, 205);
  softmax_case(TY(QIAO_F16, 33, 17), 0, 206);
  softmax_case(TY(QIAO_F32, 301, 257), -1, 207);
}

Test(softmax, epilogue) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, 5, 33)), y = in(g, "y", TY(QIAO_F32, 5, 1));
  qiao_attrs_t a = defaults(QIAO_OP_SOFTMAX);
  outputs1(g, OP(g, QIAO_OP_ADD, NULL, OP(g, QIAO_OP_SOFTMAX, &a, x), y));
  run_graph(g, 210, &(run_opts_t){.expect_kernels = 1});
}

/* ------------------------------------------------------------------ norm */

static void norm_case(qiao_op_kind_t k, qiao_dtype_t dt, int64_t rows, int64_t D, uint64_t seed,
                      bool residual) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(dt, rows, D)), w = in(g, "w", TY(dt, D));
  qiao_attrs_t a = defaults(k);
  int32_t y;
  if (k == QIAO_OP_LAYER_NORM) {
    int32_t b = in(g, "b", TY(dt, D));
    y = OP(g, k, &a, x, w, b);
  } else {
    y = OP(g, k, &a, x, w);
  }
  if (residual) {
    int32_t r = in(g, "r", TY(dt, rows, D));
    y = OP(g, QIAO_OP_ADD, NULL, y, r);
  }
  outputs1(g, y);
  run_graph(g, seed, NULL);
}

Test(norm, rms) {
  norm_case(QIAO_OP_RMS_NORM, QIAO_F32, 3, 17, 300, false);
  norm_case(QIAO_OP_RMS_NORM, QIAO_F32, 1, 1, 301, false);
  norm_case(QIAO_OP_RMS_NORM, QIAO_F32, 127, 33, 302, true);
  norm_case(QIAO_OP_RMS_NORM, QIAO_BF16, 5, 127, 303, false);
  norm_case(QIAO_OP_RMS_NORM, QIAO_F16, 3, 64, 304, true);
  norm_case(QIAO_OP_RMS_NORM, QIAO_F32, 300, 256, 305, false);
}

Test(norm, layer) {
  norm_case(QIAO_OP_LAYER_NORM, QIAO_F32, 3, 17, 310, false);
  norm_case(QIAO_OP_LAYER_NORM, QIAO_F32, 1, 3, 311, false);
  norm_case(QIAO_OP_LAYER_NORM, QIAO_F32, 17, 127, 312, true);
  norm_case(QIAO_OP_LAYER_NORM, QIAO_BF16, 5, 33, 313, false);
}

/* ------------------------------------------------------------- attention */

typedef struct att_case {
  qiao_dtype_t dt;
  int64_t B, Hq, Hkv, Sq, Skv, D;
  bool causal, mask;
  int64_t window;
  double scale; /* 0: default */
  bool epilogue;
  bool kv_len;   /* an i32 [B] kv_len input, random in [-2, Skv + 4) (clamped by the op) */
  int threads;   /* 0: 2 */
  int splits;    /* qiao_cpu_options_t.attention_splits (0: planned) */
  int phases;    /* expected launches (0: any) */
  bool specials; /* NaN / inf in K and V */
} att_case_t;

static void attention_case(att_case_t c, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t q = in(g, "q", TY(c.dt, c.B, c.Hq, c.Sq, c.D));
  int32_t k = in(g, "k", TY(c.dt, c.B, c.Hkv, c.Skv, c.D));
  int32_t v = in(g, "v", TY(c.dt, c.B, c.Hkv, c.Skv, c.D));
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  a.causal = c.causal;
  a.window = c.window;
  if (c.scale > 0) {
    a.has_scale = true;
    a.scale = c.scale;
  }
  int32_t o;
  int32_t m = c.mask ? in(g, "m", TY(c.dt, c.Sq, c.Skv)) : -1;
  int32_t l = c.kv_len ? in(g, "kv_len", TY(QIAO_I32, c.B)) : -1;
  if (c.mask && c.kv_len)
    o = OP(g, QIAO_OP_ATTENTION, &a, q, k, v, m, l);
  else if (c.mask)
    o = OP(g, QIAO_OP_ATTENTION, &a, q, k, v, m);
  else if (c.kv_len)
    o = OP(g, QIAO_OP_ATTENTION, &a, q, k, v, l);
  else
    o = OP(g, QIAO_OP_ATTENTION, &a, q, k, v);
  if (c.epilogue) {
    int32_t r = in(g, "r", TY(c.dt, c.D));
    o = OP(g, QIAO_OP_ADD, NULL, o, r);
  }
  outputs1(g, o);
  run_opts_t ro = {.range = {{-2, 2, true}, {-2, 2, true}, {-1, 1, true}, {-3, 0, true}},
                   .threads = c.threads,
                   .attn_splits = c.splits,
                   .expect_phases = c.phases,
                   .kv_specials = c.specials};
  if (c.kv_len) ro.range[c.mask ? 4 : 3] = (range_t){-2, (double)c.Skv + 4, true};
  run_graph(g, seed, &ro);
}

Test(attention, gqa_mqa) {
  attention_case(
      (att_case_t){.dt = QIAO_F32, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 3, .Skv = 17, .D = 17}, 400);
  attention_case(
      (att_case_t){.dt = QIAO_F32, .B = 2, .Hq = 4, .Hkv = 1, .Sq = 5, .Skv = 33, .D = 16}, 401);
  attention_case((att_case_t){.dt = QIAO_F32, .B = 1, .Hq = 1, .Hkv = 1, .Sq = 1, .Skv = 1, .D = 1},
                 402);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 2, .Hq = 4, .Hkv = 4, .Sq = 17, .Skv = 127, .D = 64, .scale = 0.3},
      403);
}

Test(attention, causal_prefill) {
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 17, .Skv = 17, .D = 32, .causal = true},
      410);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 2, .Hq = 2, .Hkv = 1, .Sq = 33, .Skv = 33, .D = 17, .causal = true},
      411);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 127,
                              .Skv = 127,
                              .D = 64,
                              .causal = true},
                 412);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 2, .Hkv = 2, .Sq = 5, .Skv = 37, .D = 16, .causal = true},
      413); /* chunked prefill */
}

Test(attention, decode) {
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 1, .Skv = 37, .D = 64, .causal = true},
      420);
  attention_case(
      (att_case_t){.dt = QIAO_F32, .B = 3, .Hq = 8, .Hkv = 1, .Sq = 1, .Skv = 37, .D = 32}, 421);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 4, .Hkv = 4, .Sq = 1, .Skv = 300, .D = 128, .causal = true},
      422);
}

Test(attention, window_mask) {
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 17,
                              .Skv = 17,
                              .D = 16,
                              .causal = true,
                              .window = 5},
                 430);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 2, .Hkv = 1, .Sq = 1, .Skv = 37, .D = 16, .window = 8},
      431);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 17, .Skv = 17, .D = 16, .mask = true},
      432);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 2,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 3,
                              .Skv = 37,
                              .D = 17,
                              .causal = true,
                              .mask = true,
                              .window = 9},
                 433);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 130,
                              .Skv = 130,
                              .D = 16,
                              .causal = true,
                              .window = 70},
                 434);
}

Test(attention, half_and_epilogue) {
  attention_case(
      (att_case_t){
          .dt = QIAO_BF16, .B = 1, .Hq = 4, .Hkv = 2, .Sq = 17, .Skv = 37, .D = 32, .causal = true},
      440);
  attention_case(
      (att_case_t){
          .dt = QIAO_F16, .B = 1, .Hq = 4, .Hkv = 1, .Sq = 1, .Skv = 37, .D = 64, .causal = true},
      441);
  attention_case((att_case_t){.dt = QIAO_BF16,
                              .B = 1,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 33,
                              .Skv = 100,
                              .D = 32,
                              .causal = true},
                 443);
  attention_case(
      (att_case_t){
          .dt = QIAO_F16, .B = 2, .Hq = 2, .Hkv = 2, .Sq = 64, .Skv = 64, .D = 48, .mask = true},
      444);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 4,
                              .Hkv = 2,
                              .Sq = 17,
                              .Skv = 17,
                              .D = 16,
                              .causal = true,
                              .epilogue = true},
                 442);
}

/* Decode and small groups (fewer than 8 rows per unit) score full key blocks by
 * dot vectors and a shuffle tree (use_tree), the ragged last block per key. */
Test(attention, decode_tree) {
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 8,
                              .Hkv = 2,
                              .Sq = 1,
                              .Skv = 1000,
                              .D = 128,
                              .causal = true},
                 450);
  attention_case(
      (att_case_t){.dt = QIAO_F16, .B = 2, .Hq = 4, .Hkv = 2, .Sq = 2, .Skv = 200, .D = 64}, 451);
  attention_case((att_case_t){.dt = QIAO_BF16,
                              .B = 1,
                              .Hq = 6,
                              .Hkv = 2,
                              .Sq = 2,
                              .Skv = 130,
                              .D = 32,
                              .causal = true,
                              .window = 70,
                              .threads = 1},
                 452);
  attention_case(
      (att_case_t){
          .dt = QIAO_F32, .B = 1, .Hq = 2, .Hkv = 1, .Sq = 3, .Skv = 128, .D = 16, .mask = true},
      453); /* exactly two full blocks, with a mask */
}

/* Decode with the GQA group in one unit (one query position, R = G rows): P·V for all
 * rows at once (4 or 2 rows per V vector), a Dv tail, a mask, f16. */
Test(attention, decode_joint_pv) {
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 1,
                              .Hq = 8,
                              .Hkv = 2,
                              .Sq = 1,
                              .Skv = 150,
                              .D = 40,
                              .causal = true,
                              .mask = true,
                              .threads = 1},
                 470);
  attention_case((att_case_t){.dt = QIAO_F16,
                              .B = 2,
                              .Hq = 12,
                              .Hkv = 2,
                              .Sq = 1,
                              .Skv = 257,
                              .D = 64,
                              .causal = true,
                              .threads = 1},
                 471); /* G = 6: pairs of rows */
  attention_case((att_case_t){.dt = QIAO_BF16,
                              .B = 3,
                              .Hq = 16,
                              .Hkv = 4,
                              .Sq = 1,
                              .Skv = 200,
                              .D = 128,
                              .window = 100,
                              .kv_len = true},
                 472);
}

/* kv_len: ragged lengths across the batch (clamped when outside [0, Skv]), on the tree,
 * transposed-K and per-key paths. */
Test(attention, kv_len) {
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 4,
                              .Hq = 8,
                              .Hkv = 2,
                              .Sq = 1,
                              .Skv = 300,
                              .D = 64,
                              .causal = true,
                              .kv_len = true},
                 460);
  attention_case((att_case_t){.dt = QIAO_F16,
                              .B = 3,
                              .Hq = 4,
                              .Hkv = 1,
                              .Sq = 4,
                              .Skv = 150,
                              .D = 32,
                              .causal = true,
                              .window = 40,
                              .kv_len = true},
                 461);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 3,
                              .Hq = 8,
                              .Hkv = 2,
                              .Sq = 9,
                              .Skv = 100,
                              .D = 16,
                              .causal = true,
                              .kv_len = true,
                              .threads = 1},
                 462);
  attention_case((att_case_t){.dt = QIAO_F32,
                              .B = 2,
                              .Hq = 2,
                              .Hkv = 2,
                              .Sq = 3,
                              .Skv = 20,
                              .D = 17,
                              .mask = true,
                              .kv_len = true},
                 463);
}

/* Split-KV (flash-decoding): partials per KV split to the workspace, then the combine
 * phase. Forced split counts: several splits, a ragged last split and empty ones
 * (Skv 300 in 4 splits of 128 keys), more splits than keys, kv_len, NaN / inf in
 * K / V, GQA 4:1 and 8:1, MQA, Sq > 1 chunks, f16 / bf16. */
Test(attention, split_kv) {
  att_case_t base = {.dt = QIAO_F32,
                     .B = 1,
                     .Hq = 8,
                     .Hkv = 2,
                     .Sq = 1,
                     .Skv = 300,
                     .D = 64,
                     .splits = 4,
                     .phases = 2};
  attention_case(base, 480); /* 4:1, ragged last split, one empty */
  att_case_t c = base;
  c.splits = 3; /* 128, 128, 44 keys */
  c.Hq = 16;    /* 8:1 */
  attention_case(c, 481);
  c = base;
  c.Skv = 5; /* more splits than keys: one split holds all, the rest are empty */
  c.splits = 8;
  attention_case(c, 482);
  c = base;
  c.Hq = 4;
  c.Hkv = 1; /* MQA */
  c.B = 2;
  c.D = 128;
  c.Skv = 1000;
  c.splits = 5;
  attention_case(c, 483);
  c.dt = QIAO_F16;
  attention_case(c, 484);
  c.dt = QIAO_BF16;
  c.causal = true;
  attention_case(c, 485);
  c = base; /* kv_len: ragged lengths, some past Skv or negative (clamped), causal */
  c.B = 4;
  c.kv_len = true;
  c.causal = true;
  c.splits = 4;
  attention_case(c, 486);
  c.window = 90; /* the window's key range split */
  c.dt = QIAO_F16;
  attention_case(c, 487);
  c = base; /* Sq > 1 decode chunk: 4 positions x 4 heads per unit */
  c.Sq = 4;
  c.causal = true;
  c.kv_len = true;
  c.B = 2;
  attention_case(c, 488);
  c = base; /* an additive mask, D not a multiple of the vector, 1 thread */
  c.mask = true;
  c.D = 17;
  c.threads = 1;
  c.Hq = 2;
  c.Hkv = 2;
  attention_case(c, 489);
  c = base; /* NaN / inf in K and V: the rows that see them are NaN as in the interpreter */
  c.specials = true;
  attention_case(c, 490);
  c.dt = QIAO_F16;
  c.Hq = 32;
  c.Hkv = 8;
  c.D = 128;
  attention_case(c, 491);
  c = base; /* an epilogue (residual add) applied in the combine */
  c.epilogue = true;
  attention_case(c, 492);
}

/* Two split-KV kernels in one module (entries k0, k0_combine, k1, k1_combine), the second
 * reading the first's output as its queries. */
Test(attention, split_kv_two_kernels) {
  qiao_graph_t *g = graph();
  int32_t q = in(g, "q", TY(QIAO_F32, 2, 8, 1, 32));
  int32_t k = in(g, "k", TY(QIAO_F32, 2, 1, 700, 32));
  int32_t v = in(g, "v", TY(QIAO_F32, 2, 1, 700, 32));
  qiao_attrs_t a = defaults(QIAO_OP_ATTENTION);
  int32_t o1 = OP(g, QIAO_OP_ATTENTION, &a, q, k, v);
  outputs1(g, OP(g, QIAO_OP_ATTENTION, &a, o1, k, v));
  run_graph(g, 497,
            &(run_opts_t){.range = {{-2, 2, true}, {-2, 2, true}, {-1, 1, true}},
                          .attn_splits = 3,
                          .expect_phases = 2,
                          .expect_kernels = 2});
}

/* The plan: split-KV when B x Hkv units would leave threads uneven, one pass when
 * they divide evenly, none when forced to one pass or when the query rows of a
 * group do not fit one unit (prefill). */
Test(attention, split_kv_plan) {
  att_case_t c = {.dt = QIAO_F32,
                  .B = 1,
                  .Hq = 32,
                  .Hkv = 8,
                  .Sq = 1,
                  .Skv = 2048,
                  .D = 64,
                  .threads = 3,
                  .phases = 2}; /* 8 units on 3 threads: 2 splits */
  attention_case(c, 493);
  c.threads = 2; /* 8 units on 2 threads: one pass */
  c.phases = 1;
  attention_case(c, 494);
  c.threads = 3;
  c.splits = 1; /* forced one pass */
  attention_case(c, 495);
  c.splits = 4;
  c.Sq = 64; /* prefill: the forced split does not apply */
  c.Skv = 256;
  attention_case(c, 496);
}

/* ------------------------------------------------------------------- moe */

static void moe_case(qiao_dtype_t dt, int64_t T, int64_t D, int64_t E, int64_t F, int64_t top_k,
                     qiao_router_fn_t fn, bool norm, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(dt, T, D)), r = in(g, "router", TY(dt, D, E));
  int32_t ga = in(g, "gate", TY(dt, E, D, F)), up = in(g, "up", TY(dt, E, D, F));
  int32_t dn = in(g, "down", TY(dt, E, F, D));
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  a.top_k = top_k;
  a.router_fn = fn;
  a.norm_topk = norm;
  outputs1(g, OP(g, QIAO_OP_MOE, &a, x, r, ga, up, dn));
  run_graph(g, seed,
            &(run_opts_t){.range = {{-1, 1, true},
                                    {-2, 2, true},
                                    {-0.5, 0.5, true},
                                    {-0.5, 0.5, true},
                                    {-0.5, 0.5, true}}});
}

Test(moe, softmax_router) {
  moe_case(QIAO_F32, 1, 16, 8, 24, 2, QIAO_ROUTER_SOFTMAX, true, 500);
  moe_case(QIAO_F32, 5, 17, 8, 33, 2, QIAO_ROUTER_SOFTMAX, true, 501);
  moe_case(QIAO_F32, 33, 32, 8, 64, 2, QIAO_ROUTER_SOFTMAX, false, 502);
  moe_case(QIAO_F32, 3, 3, 4, 1, 4, QIAO_ROUTER_SOFTMAX, true, 503);
}

Test(moe, sigmoid_router) {
  moe_case(QIAO_F32, 1, 16, 8, 24, 2, QIAO_ROUTER_SIGMOID, true, 510);
  moe_case(QIAO_F32, 5, 17, 8, 33, 2, QIAO_ROUTER_SIGMOID, false, 511);
  moe_case(QIAO_F32, 33, 32, 8, 64, 2, QIAO_ROUTER_SIGMOID, true, 512);
}

Test(moe, half) {
  moe_case(QIAO_BF16, 5, 32, 8, 48, 2, QIAO_ROUTER_SOFTMAX, true, 520);
  moe_case(QIAO_F16, 33, 16, 8, 17, 2, QIAO_ROUTER_SIGMOID, true, 521);
}

/* The grouped path with chunks of up to 128 tokens: many quads per expert share each packed
 * weight strip; D and F with vector tails; top_k = E (every expert gets every token). */
Test(moe, grouped_large_chunks) {
  moe_case(QIAO_F32, 100, 40, 8, 36, 2, QIAO_ROUTER_SOFTMAX, true, 530);
  moe_case(QIAO_BF16, 130, 24, 4, 21, 4, QIAO_ROUTER_SOFTMAX, true, 531);
  moe_case(QIAO_F32, 64, 33, 16, 18, 3, QIAO_ROUTER_SIGMOID, false, 532);
}

/* Decode on two threads (1..4 tokens, D and F of at least four vectors): the two-phase
 * variant (F split over the workgroups, then D; h through the workspace), with vector tails,
 * top_k = E, bf16/f16 weights, sigmoid routers, and one thread (the per-token path). */
Test(moe, decode_split) {
  moe_case(QIAO_F32, 1, 80, 8, 100, 2, QIAO_ROUTER_SOFTMAX, true, 550);
  moe_case(QIAO_F32, 2, 64, 8, 64, 2, QIAO_ROUTER_SIGMOID, false, 551);
  moe_case(QIAO_F32, 3, 97, 4, 131, 4, QIAO_ROUTER_SOFTMAX, true, 552);
  moe_case(QIAO_F32, 4, 128, 16, 96, 3, QIAO_ROUTER_SOFTMAX, false, 553);
  moe_case(QIAO_BF16, 1, 128, 8, 160, 2, QIAO_ROUTER_SOFTMAX, true, 554);
  moe_case(QIAO_F16, 2, 72, 8, 90, 2, QIAO_ROUTER_SIGMOID, true, 555);
  moe_case(QIAO_F32, 1, 256, 8, 352, 8, QIAO_ROUTER_SOFTMAX, true, 556);
}

Test(moe, decode_split_epilogue_and_threads) {
  for (int threads = 1; threads <= 4; threads += 3) {
    qiao_graph_t *g = graph();
    int32_t x = in(g, "x", TY(QIAO_F32, 2, 96)), r = in(g, "router", TY(QIAO_F32, 96, 8));
    int32_t ga = in(g, "gate", TY(QIAO_F32, 8, 96, 120)),
            up = in(g, "up", TY(QIAO_F32, 8, 96, 120));
    int32_t dn = in(g, "down", TY(QIAO_F32, 8, 120, 96)), res = in(g, "res", TY(QIAO_F32, 2, 96));
    qiao_attrs_t a = defaults(QIAO_OP_MOE);
    outputs1(g, OP(g, QIAO_OP_ADD, NULL, OP(g, QIAO_OP_MOE, &a, x, r, ga, up, dn), res));
    run_graph(g, 560 + (uint64_t)threads, &(run_opts_t){.expect_kernels = 1, .threads = threads});
  }
}

/* f8 expert weights (x, router and the output f32): widened on load, per token, decode split
 * and grouped; inputs in the f8 range's comfortable middle. */
static void moe_case_w(qiao_dtype_t wt, int64_t T, int64_t D, int64_t E, int64_t F, int64_t top_k,
                       uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, T, D)), r = in(g, "router", TY(QIAO_F32, D, E));
  int32_t ga = in(g, "gate", TY(wt, E, D, F)), up = in(g, "up", TY(wt, E, D, F));
  int32_t dn = in(g, "down", TY(wt, E, F, D));
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  a.top_k = top_k;
  outputs1(g, OP(g, QIAO_OP_MOE, &a, x, r, ga, up, dn));
  run_graph(g, seed,
            &(run_opts_t){.range = {{-1, 1, true},
                                    {-2, 2, true},
                                    {-0.5, 0.5, true},
                                    {-0.5, 0.5, true},
                                    {-0.5, 0.5, true}}});
}

Test(moe, f8_weights) {
  moe_case_w(QIAO_F8E4M3, 3, 16, 8, 24, 2, 570);
  moe_case_w(QIAO_F8E5M2, 1, 64, 8, 80, 2, 571);
  moe_case_w(QIAO_F8E4M3, 40, 32, 8, 40, 2, 572);
  moe_case_w(QIAO_BF16, 2, 64, 4, 96, 4, 573);
}

static void moe_ties(int64_t T, uint64_t seed) {
  /* a zero router makes every score equal: experts 0 and 1 must be chosen */
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, T, 16)), r = in(g, "router", TY(QIAO_F32, 16, 8));
  int32_t ga = in(g, "gate", TY(QIAO_F32, 8, 16, 8)), up = in(g, "up", TY(QIAO_F32, 8, 16, 8));
  int32_t dn = in(g, "down", TY(QIAO_F32, 8, 8, 16));
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  a.top_k = 2;
  outputs1(g, OP(g, QIAO_OP_MOE, &a, x, r, ga, up, dn));
  run_graph(g, seed, &(run_opts_t){.range = {{-1, 1, true}, {0, 0, true}}});
}

Test(moe, ties_pick_lower_index) {
  moe_ties(5, 530);  /* per token */
  moe_ties(33, 531); /* grouped by expert */
}

Test(moe, grouped_large_and_epilogue) {
  moe_case(QIAO_F32, 64, 48, 8, 40, 2, QIAO_ROUTER_SOFTMAX, true, 540);
  moe_case(QIAO_F32, 40, 16, 4, 16, 1, QIAO_ROUTER_SIGMOID, true, 541);
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, 17, 16)), r = in(g, "router", TY(QIAO_F32, 16, 8));
  int32_t ga = in(g, "gate", TY(QIAO_F32, 8, 16, 24)), up = in(g, "up", TY(QIAO_F32, 8, 16, 24));
  int32_t dn = in(g, "down", TY(QIAO_F32, 8, 24, 16)), res = in(g, "res", TY(QIAO_F32, 17, 16));
  qiao_attrs_t a = defaults(QIAO_OP_MOE);
  outputs1(g, OP(g, QIAO_OP_ADD, NULL, OP(g, QIAO_OP_MOE, &a, x, r, ga, up, dn), res));
  run_graph(g, 542, &(run_opts_t){.expect_kernels = 1});
}

/* ---------------------------------------------------------------- gather */

static void gather_case(qiao_type_t table, qiao_type_t ind, int64_t axis, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t t = in(g, "table", table), i = in(g, "idx", ind);
  qiao_attrs_t a = defaults(QIAO_OP_GATHER);
  a.axis = axis;
  outputs1(g, OP(g, QIAO_OP_GATHER, &a, t, i));
  int ax = (int)(axis < 0 ? axis + table.shape.rank : axis);
  run_graph(g, seed,
            &(run_opts_t){.range = {{-4, 4, true}, {0, (double)table.shape.dims[ax], true}}});
}

Test(gather, shapes) {
  gather_case(TY(QIAO_F32, 10, 17), TY(QIAO_I32, 3), 0, 600);
  gather_case(TY(QIAO_F32, 127, 3), TY(QIAO_I64, 2, 5), 0, 601);
  gather_case(TY(QIAO_F32, 5), TY(QIAO_I32, 17), 0, 602);
  gather_case(TY(QIAO_F32, 3, 7, 5), TY(QIAO_I64, 4), 1, 603);
  gather_case(TY(QIAO_F32, 3, 7, 5), TY(QIAO_I32, 2, 2), -1, 604);
  gather_case(TY(QIAO_BF16, 1000, 64), TY(QIAO_I32, 33), 0, 605);
  gather_case(TY(QIAO_I64, 50, 9), TY(QIAO_I32, 7), 0, 606);
  gather_case(TY(QIAO_F32, 300, 257), TY(QIAO_I64, 400), 0, 607);
}

Test(gather, epilogue) {
  qiao_graph_t *g = graph();
  int32_t t = in(g, "table", TY(QIAO_F32, 50, 33)), i = in(g, "idx", TY(QIAO_I32, 7));
  int32_t s = in(g, "s", TY(QIAO_F32, 33));
  qiao_attrs_t a = defaults(QIAO_OP_GATHER);
  outputs1(g, OP(g, QIAO_OP_MUL, NULL, OP(g, QIAO_OP_GATHER, &a, t, i), s));
  run_graph(g, 610, &(run_opts_t){.range = {{-4, 4, true}, {0, 50, true}}, .expect_kernels = 1});
}

/* ------------------------------------------------------------------ topk */

static void topk_case(qiao_type_t t, int64_t k, int64_t axis, double lo, double hi, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", t);
  qiao_attrs_t a = defaults(QIAO_OP_TOPK);
  a.k = k;
  a.axis = axis;
  int32_t op_id = -1;
  CHECK_OK(
      qiao_ir_graph_add_op(g, QIAO_OP_TOPK, &x, 1, &a, NULL, NULL, (qiao_loc_t){0, 0}, &op_id));
  int32_t outs[2] = {g->ops[op_id].results[0], g->ops[op_id].results[1]};
  CHECK_OK(qiao_ir_graph_set_outputs(g, outs, 2));
  run_graph(g, seed, &(run_opts_t){.range = {{lo, hi, true}}});
}

Test(topk, shapes) {
  topk_case(TY(QIAO_F32, 3, 17), 5, -1, -1, 1, 700);
  topk_case(TY(QIAO_F32, 127), 127, 0, -1, 1, 701);
  topk_case(TY(QIAO_F32, 1), 1, 0, -1, 1, 702);
  topk_case(TY(QIAO_F32, 17, 3), 2, 0, -1, 1, 703);
  topk_case(TY(QIAO_BF16, 4, 33), 3, 1, -1, 1, 704);
  topk_case(TY(QIAO_F32, 300, 100), 8, 1, -1, 1, 705);
}

Test(topk, ties_and_ints) {
  topk_case(TY(QIAO_BF16, 5, 33), 10, -1, 0, 0.01, 710); /* bf16 ties */
  topk_case(TY(QIAO_I32, 5, 33), 10, -1, 0, 4, 711);     /* many ties: lower index first */
  topk_case(TY(QIAO_I64, 2, 3, 17), 2, 1, -3e12, 3e12, 712);
  topk_case(TY(QIAO_I64, 2, 3, 17), 17, 2, -3e12, 3e12, 713);
}

/* ------------------------------------------------------------------ copy */

static void transpose_case(qiao_type_t t, const int64_t *perm, int n, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", t);
  qiao_attrs_t a = defaults(QIAO_OP_TRANSPOSE);
  a.n_perm = n;
  for (int i = 0; i < n; ++i)
    a.perm[i] = perm[i];
  outputs1(g, OP(g, QIAO_OP_TRANSPOSE, &a, x));
  run_graph(g, seed, NULL);
}

Test(copy, transpose) {
  transpose_case(TY(QIAO_F32, 3, 17), DIMS(1, 0), 2, 800);
  transpose_case(TY(QIAO_F32, 3, 17, 5), DIMS(2, 0, 1), 3, 801);
  transpose_case(TY(QIAO_BF16, 2, 3, 17, 127), DIMS(0, 2, 1, 3), 4, 802);
  transpose_case(TY(QIAO_I64, 1, 17), DIMS(1, 0), 2, 803);
  transpose_case(TY(QIAO_F32, 300, 257), DIMS(1, 0), 2, 804);
  transpose_case(TY(QIAO_BF16, 40, 33), DIMS(1, 0), 2, 805);
  transpose_case(TY(QIAO_I64, 5, 32, 20), DIMS(0, 2, 1), 3, 806);
}

static void slice_case(qiao_type_t t, int64_t axis, int64_t start, int64_t end, int64_t step,
                       uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", t);
  qiao_attrs_t a = defaults(QIAO_OP_SLICE);
  a.axis = axis;
  a.start = start;
  a.end = end;
  a.step = step;
  outputs1(g, OP(g, QIAO_OP_SLICE, &a, x));
  run_graph(g, seed, NULL);
}

Test(copy, slice) {
  slice_case(TY(QIAO_F32, 3, 17), 1, 2, 15, 1, 810);
  slice_case(TY(QIAO_F32, 3, 17), 1, 1, 17, 3, 811);
  slice_case(TY(QIAO_F32, 127, 5), 0, -100, -1, 2, 812);
  slice_case(TY(QIAO_F32, 17), 0, -15, 100, 4, 813);
  slice_case(TY(QIAO_F16, 4, 17, 3), 1, 0, 1, 1, 814);
  slice_case(TY(QIAO_I32, 3, 127), -1, 3, 120, 1, 815);
}

Test(copy, concat) {
  qiao_graph_t *g = graph();
  int32_t a = in(g, "a", TY(QIAO_F32, 3, 17)), b = in(g, "b", TY(QIAO_F32, 3, 1));
  int32_t c = in(g, "c", TY(QIAO_F32, 3, 5));
  qiao_attrs_t at = defaults(QIAO_OP_CONCAT);
  at.axis = 1;
  outputs1(g, OP(g, QIAO_OP_CONCAT, &at, a, b, c));
  run_graph(g, 820, NULL);
  g = graph();
  a = in(g, "a", TY(QIAO_BF16, 2, 17, 4));
  b = in(g, "b", TY(QIAO_BF16, 1, 17, 4));
  at.axis = 0;
  outputs1(g, OP(g, QIAO_OP_CONCAT, &at, a, b));
  run_graph(g, 821, NULL);
  g = graph();
  a = in(g, "a", TY(QIAO_F32, 300, 200));
  b = in(g, "b", TY(QIAO_F32, 300, 57));
  at.axis = -1;
  outputs1(g, OP(g, QIAO_OP_CONCAT, &at, a, b));
  run_graph(g, 822, NULL);
  /* with an epilogue */
  g = graph();
  a = in(g, "a", TY(QIAO_F32, 3, 17));
  b = in(g, "b", TY(QIAO_F32, 3, 4));
  c = in(g, "c", TY(QIAO_F32, 21));
  at.axis = 1;
  outputs1(g, OP(g, QIAO_OP_MUL, NULL, OP(g, QIAO_OP_CONCAT, &at, a, b), c));
  run_graph(g, 823, &(run_opts_t){.expect_kernels = 1});
}

static void rope_case(qiao_dtype_t dt, int64_t B, int64_t H, int64_t S, int64_t D,
                      qiao_rope_mode_t mode, bool per_batch, uint64_t seed) {
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(dt, B, H, S, D));
  int32_t p = per_batch ? in(g, "pos", TY(QIAO_I64, B, S)) : in(g, "pos", TY(QIAO_I32, S));
  qiao_attrs_t a = defaults(QIAO_OP_ROPE);
  a.mode = mode;
  outputs1(g, OP(g, QIAO_OP_ROPE, &a, x, p));
  run_graph(g, seed, &(run_opts_t){.range = {{-1, 1, true}, {0, 4096, true}}});
}

Test(copy, rope) {
  rope_case(QIAO_F32, 1, 2, 3, 16, QIAO_ROPE_NEOX, false, 830);
  rope_case(QIAO_F32, 2, 3, 17, 64, QIAO_ROPE_NEOX, true, 831);
  rope_case(QIAO_F32, 2, 3, 17, 34, QIAO_ROPE_GPTJ, false, 832);
  rope_case(QIAO_F32, 1, 4, 5, 128, QIAO_ROPE_GPTJ, true, 833);
  rope_case(QIAO_BF16, 1, 2, 17, 2, QIAO_ROPE_NEOX, false, 834);
  rope_case(QIAO_F16, 2, 2, 7, 96, QIAO_ROPE_NEOX, true, 835);
}

Test(copy, reshape_of_transpose) {
  /* reshape aliases a contiguous value: the kernel is the transpose; then an
   * elementwise op reads the reshaped value */
  qiao_graph_t *g = graph();
  int32_t x = in(g, "x", TY(QIAO_F32, 3, 17));
  qiao_attrs_t t = defaults(QIAO_OP_TRANSPOSE);
  t.n_perm = 2;
  t.perm[0] = 1;
  t.perm[1] = 0;
  int32_t y = OP(g, QIAO_OP_TRANSPOSE, &t, x);
  qiao_attrs_t r = defaults(QIAO_OP_RESHAPE);
  r.n_shape = 1;
  r.shape[0] = 51;
  outputs1(g, OP(g, QIAO_OP_EXP, NULL, OP(g, QIAO_OP_RESHAPE, &r, y)));
  run_graph(g, 840, NULL);
}

/* A descriptor made by hand: reshape of a strided (transposed) view, which
 * the partition never produces today (it aliases contiguous reshapes). */
static void run_kd(const qiao_kernel_desc_t *kd, void *const *data, const size_t *sizes, int n) {
  qiao_hal_device_t *dev = NULL;
  CHECK_OK(qiao_hal_device_open("cpu:threads=2", &dev));
  qiao_cpu_options_t mo = {.n_threads = 2};
  qiao_cpu_module_t *mod = NULL;
  CHECK_OK(qiao_cpu_module_create(&mo, &mod));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_cpu_module_add_kernel(mod, kd, "hand", &l));
  qiao_hal_executable_t *exe = NULL;
  CHECK_OK(qiao_cpu_module_jit(mod, dev, &exe));
  qiao_cpu_module_destroy(mod);
  qiao_hal_buffer_t *bufs[8];
  qiao_hal_binding_t b[8];
  for (int i = 0; i < n; ++i) {
    CHECK_OK(qiao_hal_buffer_alloc(dev, sizes[i], &bufs[i]));
    CHECK_OK(qiao_hal_buffer_write(bufs[i], 0, data[i], sizes[i]));
    b[i] = (qiao_hal_binding_t){bufs[i], 0};
  }
  int32_t idx = -1;
  qiao_hal_entry_info_t info;
  CHECK_OK(qiao_hal_executable_lookup(exe, "hand", &idx, &info));
  CHECK_OK(qiao_hal_dispatch(dev, exe, idx, l.grid, b, n, NULL, 0));
  for (int i = 0; i < n; ++i) {
    CHECK_OK(qiao_hal_buffer_read(bufs[i], 0, data[i], sizes[i]));
    qiao_hal_buffer_release(bufs[i]);
  }
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(dev);
}

Test(copy, reshape_strided_view) {
  for (int with_epi = 0; with_epi < 2; ++with_epi) {
    qiao_kernel_desc_t kd;
    qiao_kd_operand_t kd_inputs[2], kd_outputs[1];
    qiao_expr_node_t kd_expr[3];
    int64_t in1_out_strides[QIAO_MAX_RANK] = {0};
    memset(&kd, 0, sizeof kd);
    memset(kd_inputs, 0, sizeof kd_inputs);
    memset(kd_outputs, 0, sizeof kd_outputs);
    memset(kd_expr, 0, sizeof kd_expr);
    kd.inputs = kd_inputs;
    kd.outputs = kd_outputs;
    kd.expr = kd_expr;
    kd.kind = QIAO_KD_COPY;
    kd.op = QIAO_OP_RESHAPE;
    kd.primary_dtype = QIAO_F32;
    kd.norm_weight_input = kd.norm_bias_input = -1;
    kd.n_primary_inputs = 1;
    kd.n_inputs = 1;
    /* x: the transposed view [6, 4] of a [4, 6] buffer */
    kd.inputs[0].type = TY(QIAO_F32, 6, 4);
    kd.inputs[0].strides[0] = 1;
    kd.inputs[0].strides[1] = 6;
    kd.inputs[0].value = -1;
    kd.n_outputs = 1;
    kd.outputs[0].type = TY(QIAO_F32, 3, 8);
    kd.outputs[0].strides[0] = 8;
    kd.outputs[0].strides[1] = 1;
    kd.outputs[0].value = -1;
    float x[24], s[8], y[24];
    for (int i = 0; i < 24; ++i)
      x[i] = (float)(i * 7 % 11) - 3.5f;
    for (int i = 0; i < 8; ++i)
      s[i] = 0.25f * (float)(i + 1);
    for (int i = 0; i < 24; ++i)
      y[i] = NAN;
    void *data[3] = {x, s, y};
    size_t sizes[3] = {sizeof x, sizeof s, sizeof y};
    if (with_epi) {
      kd.n_inputs = 2;
      kd.inputs[1].type = TY(QIAO_F32, 8);
      kd.inputs[1].strides[0] = 1;
      kd.inputs[1].out_strides = in1_out_strides;
      kd.inputs[1].out_strides[0] = 0;
      kd.inputs[1].out_strides[1] = 1;
      kd.inputs[1].value = -1;
      kd.n_expr = 3;
      kd.expr[0] = (qiao_expr_node_t){.kind = QIAO_EXPR_ACC, .dtype = QIAO_F32};
      kd.expr[1] = (qiao_expr_node_t){.kind = QIAO_EXPR_INPUT, .input = 1, .dtype = QIAO_F32};
      kd.expr[2] = (qiao_expr_node_t){
          .kind = QIAO_EXPR_OP, .op = QIAO_OP_MUL, .args = {0, 1}, .dtype = QIAO_F32};
      run_kd(&kd, data, sizes, 3);
    } else {
      void *d2[2] = {x, y};
      size_t s2[2] = {sizeof x, sizeof y};
      run_kd(&kd, d2, s2, 2);
    }
    for (int i = 0; i < 24; ++i) {
      int a = i / 4, c = i % 4; /* view element (a, c) = x[c * 6 + a] */
      float want = x[c * 6 + a] * (with_epi ? s[i % 8] : 1.0f);
      cr_expect(y[i] == want, "epi %d: y[%d] = %g, want %g", with_epi, i, (double)y[i],
                (double)want);
    }
  }
}
