#include "oracle.h"

#include <float.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double oracle_tolerance(qiao_dtype_t dt) { return qiao_dtype_tolerance(dt); }

double oracle_error(const qiao_tensor_t *x, const qiao_tensor_t *ref) {
  return qiao_tensor_max_error(x, ref);
}

/* ---------------------------------------------------------------- elementwise check */

oracle_elem_tol_t oracle_elem_tolerance(qiao_dtype_t dt, bool accumulating) {
  /* rtol: about two ulps of the dtype (f32: ~80 ulps, for a few f32 roundings and
   * ~2-ulp polynomials). atol: four of the dtype's smallest subnormals, so subnormal
   * results are held to a few of their own ulps. scale_atol * S: S = the largest finite
   * |ref|, capped at 1 for pointwise outputs (an absolute error of c * eps near 0, from
   * cancellation in 1 + erf(x) or 1 + tanh(x) in the target's compute dtype, is healthy;
   * tensors of tiny values are still held to their own scale), uncapped for accumulating
   * outputs (a long f32 dot product that cancels to ~0). See docs/design.md. */
  oracle_elem_tol_t t = {0, 0, 0};
  switch (dt) {
  case QIAO_F32: t.rtol = 1e-5, t.atol = 4 * 1.401298464324817e-45, t.scale_atol = 1e-6; break;
  case QIAO_F16: t.rtol = 2e-3, t.atol = 4 * 5.960464477539063e-08, t.scale_atol = 1e-3; break;
  case QIAO_BF16: t.rtol = 1.6e-2, t.atol = 4 * 9.183549615799121e-41, t.scale_atol = 8e-3; break;
  case QIAO_F8E4M3:
  case QIAO_F8E5M2: t.rtol = 0.25, t.atol = 4 * 1.52587890625e-05, t.scale_atol = 0.1; break;
  default: break; /* integers and bool: exact */
  }
  (void)accumulating;
  return t;
}

static void format_index(const qiao_shape_t *s, int64_t i, char *buf, size_t cap) {
  int64_t idx[QIAO_MAX_RANK];
  for (int32_t d = s->rank - 1; d >= 0; --d) {
    int64_t n = s->dims[d] ? s->dims[d] : 1;
    idx[d] = i % n;
    i /= n;
  }
  size_t k = (size_t)snprintf(buf, cap, "[");
  for (int32_t d = 0; d < s->rank && k < cap; ++d)
    k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)idx[d]);
  if (k < cap) snprintf(buf + k, cap - k, "]");
}

bool oracle_check_elements(const qiao_tensor_t *x, const qiao_tensor_t *ref, bool accumulating,
                           char *why, size_t cap) {
  qiao_dtype_t dt = ref->type.dtype;
  int64_t n = qiao_shape_numel(&ref->type.shape);
  oracle_elem_tol_t t = oracle_elem_tolerance(dt, accumulating);
  bool is_float = qiao_dtype_is_float(dt);
  double scale = 0;
  if (is_float)
    for (int64_t i = 0; i < n; ++i) {
      double r = qiao_tensor_get_f64(ref, i);
      if (isfinite(r) && fabs(r) > scale) scale = fabs(r);
    }
  double atol = t.atol + t.scale_atol * (accumulating || scale < 1 ? scale : 1.0);
  size_t es = qiao_dtype_size(dt);
  for (int64_t i = 0; i < n; ++i) {
    double r = qiao_tensor_get_f64(ref, i), v = qiao_tensor_get_f64(x, i);
    bool bad;
    double bound = 0;
    const char *rule;
    if (!is_float) {
      bad = memcmp((const char *)x->data + i * es, (const char *)ref->data + i * es, es) != 0;
      rule = "exact";
    } else if (isnan(r) || isnan(v)) {
      bad = isnan(r) != isnan(v);
      rule = "NaN where the reference is NaN, only there";
    } else if (isinf(r) || isinf(v)) {
      bad = v != r;
      rule = "+-inf exactly where the reference is";
    } else {
      bound = atol + t.rtol * fabs(r);
      bad = !(fabs(v - r) <= bound);
      rule = NULL;
    }
    if (!bad) continue;
    char idx[160];
    format_index(&ref->type.shape, i, idx, sizeof idx);
    if (!is_float)
      snprintf(why, cap, "element %lld %s: got %.17g, expected %.17g (%s)", (long long)i, idx, v, r,
               rule);
    else if (rule)
      snprintf(why, cap, "element %lld %s: got %.9g, expected %.9g (%s)", (long long)i, idx, v, r,
               rule);
    else
      snprintf(why, cap,
               "element %lld %s: got %.9g, expected %.9g: |diff| %.3g > %.3g + %.3g*|ref| = %.3g",
               (long long)i, idx, v, r, fabs(v - r), atol, t.rtol, bound);
    return false;
  }
  return true;
}

static bool accumulating_kind(qiao_op_kind_t k) {
  switch (k) {
  case QIAO_OP_MATMUL:
  case QIAO_OP_REDUCE_SUM:
  case QIAO_OP_REDUCE_MEAN:
  case QIAO_OP_SOFTMAX:
  case QIAO_OP_RMS_NORM:
  case QIAO_OP_LAYER_NORM:
  case QIAO_OP_ROPE:
  case QIAO_OP_ATTENTION:
  case QIAO_OP_MOE: return true;
  default: return false; /* elementwise, casts, data movement, reduce_max and topk select exactly */
  }
}

bool oracle_output_accumulates(const qiao_graph_t *g, int32_t o) {
  bool *seen = calloc((size_t)g->n_values + 1, 1);
  int32_t *stack = malloc(((size_t)g->n_values + 1) * sizeof(int32_t));
  int32_t sp = 0;
  bool acc = false;
  stack[sp++] = g->outputs[o];
  seen[g->outputs[o]] = true;
  while (sp > 0 && !acc) {
    const qiao_value_t *v = &g->values[stack[--sp]];
    if (v->def_op < 0) continue;
    const qiao_op_t *op = &g->ops[v->def_op];
    if (accumulating_kind(op->kind)) acc = true;
    for (int32_t i = 0; i < op->n_operands; ++i)
      if (!seen[op->operands[i]]) seen[op->operands[i]] = true, stack[sp++] = op->operands[i];
  }
  free(seen);
  free(stack);
  return acc;
}

/* ---------------------------------------------------------------- inputs */

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

static double uniform(uint64_t *s) { return (double)(xorshift(s) >> 11) / 9007199254740992.0; }

/* Edge values for float dtype dt: every class the brief of the NaN rule names. */
static int32_t edge_list(qiao_dtype_t dt, double *v) {
  int32_t n = 0;
  v[n++] = NAN, v[n++] = INFINITY, v[n++] = -INFINITY, v[n++] = 0.0, v[n++] = -0.0;
  v[n++] = 1.0, v[n++] = -1.0;
  switch (dt) {
  case QIAO_F16:
    v[n++] = 5.960464477539063e-08, v[n++] = -1e-5,
    v[n++] = 6.103515625e-05; /* subnormal, min normal */
    v[n++] = 65504.0, v[n++] = -65504.0, v[n++] = 60000.0, v[n++] = -3e4;
    v[n++] = 11.0, v[n++] = 11.08, v[n++] = -17.0, v[n++] = -9.5, v[n++] = 20.0, v[n++] = -20.0;
    break;
  case QIAO_BF16:
    v[n++] = 1e-40, v[n++] = -1e-40, v[n++] = 9.183549615799121e-41,
    v[n++] = 1.1754943508222875e-38;
    v[n++] = 1e30, v[n++] = -1e30, v[n++] = 3.3895313892515355e38, v[n++] = -3.3895313892515355e38;
    v[n++] = 88.5, v[n++] = -87.5, v[n++] = -100.0, v[n++] = -104.0, v[n++] = 20.0, v[n++] = -20.0;
    break;
  default: /* f32, f8: stored values saturate or overflow by the dtype's own rule */
    v[n++] = 1e-40, v[n++] = -1e-40, v[n++] = 1.401298464324817e-45,
    v[n++] = 1.1754943508222875e-38;
    v[n++] = 1e30, v[n++] = -1e30, v[n++] = 3e38, v[n++] = -3e38, v[n++] = FLT_MAX;
    v[n++] = 88.5, v[n++] = 88.72, v[n++] = -87.3, v[n++] = -88.0, v[n++] = -100.0, v[n++] = -103.5,
    v[n++] = -104.0, v[n++] = 20.0, v[n++] = -20.0, v[n++] = 9.5;
    break;
  }
  return n;
}

/* Input `which` starts the row cycle 3 rows later than input which-1, so the -inf
 * row of an attention mask does not meet the -inf row of q. */
static void fill_edge(qiao_tensor_t *t, int32_t which, bool finite, uint64_t *rng) {
  /* 0 normal, 1 edge with NaN/inf, 2 large, 3 all -inf, 4 finite edge values */
  static const int row_kind[8] = {1, 0, 4, 0, 3, 0, 2, 0};
  double ev[40];
  int32_t ne = edge_list(t->type.dtype, ev);
  int64_t n = qiao_shape_numel(&t->type.shape);
  int64_t last = t->type.shape.rank ? t->type.shape.dims[t->type.shape.rank - 1] : 1;
  if (last <= 0) last = 1;
  int64_t start = 0, lane = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = i % last;
    int kind = row_kind[(i / last + 3 * which) % 8];
    if (finite && (kind == 1 || kind == 3)) kind = 4; /* no inf, no all -inf rows */
    if (j == 0) { /* per row: where the cyclic run of edge values starts, where NaN sits */
      start = (int64_t)(xorshift(rng) % (uint64_t)ne);
      lane = (int64_t)(xorshift(rng) % (uint64_t)last);
    }
    double v = 2 * uniform(rng) - 1;
    if (kind == 1) {
      /* three of four elements are edge values, in a cyclic run from `start`; NaN, +inf
       * and -inf sit at lanes `lane`, +1, +2 of every such row, so each is always there */
      int64_t d = (j - lane + last) % last;
      if (d < 3)
        v = ev[d]; /* ev[0..2] = NaN, +inf, -inf */
      else if (j % 4 != 3)
        v = ev[(start + j) % ne];
    } else if (kind == 4) {
      /* the finite edge values only: what huge, tiny and signed-zero inputs do to
       * reductions, norms and softmax without a NaN that hides it */
      if (j % 4 != 3) v = ev[3 + (start + j) % (ne - 3)];
    } else if (kind == 2) {
      v *= 1000.0;
    } else if (kind == 3) {
      v = -INFINITY;
    }
    qiao_tensor_set_f64(t, i, v);
  }
}

/* Smallest leading dim of any gather table: random indices stay in range. */
static int64_t index_bound(const qiao_graph_t *g) {
  int64_t hi = 8;
  for (int32_t i = 0; i < g->n_ops; ++i) {
    const qiao_op_t *op = &g->ops[i];
    if (op->kind != QIAO_OP_GATHER) continue;
    const qiao_type_t *t = &g->values[op->operands[0]].type;
    int64_t ax = op->attrs.axis < 0 ? op->attrs.axis + t->shape.rank : op->attrs.axis;
    if (t->shape.dims[ax] < hi) hi = t->shape.dims[ax];
  }
  return hi > 0 ? hi : 1;
}

static bool fail(oracle_result_t *res, qiao_status_t st, const char *what) {
  snprintf(res->message, sizeof res->message, "%s: %s", what, qiao_status_message(st));
  qiao_status_free(st);
  return false;
}

/* ---------------------------------------------------------------- running */

bool oracle_run_programs(const qiao_graph_t *g, qiao_program_t *prog, qiao_program_t *prog_b,
                         const oracle_opts_t *opts, oracle_result_t *res) {
  memset(res, 0, sizeof(*res));
  uint64_t rng = opts && opts->seed ? opts->seed : 1;
  bool ok = false;
  qiao_safetensors_t *st_file = NULL;
  int32_t np = 0;
  qiao_tensor_t **inputs = calloc((size_t)g->n_inputs + 1, sizeof(qiao_tensor_t *));
  qiao_tensor_t **params = calloc((size_t)g->n_ops + 1, sizeof(qiao_tensor_t *));
  const char **pnames = calloc((size_t)g->n_ops + 1, sizeof(char *));
  qiao_tensor_t *outs[8] = {0}, *outs_b[8] = {0}, *refs[8] = {0};
  qiao_status_t st = NULL;
  if (g->n_outputs > 8) {
    snprintf(res->message, sizeof res->message, "too many outputs");
    goto done;
  }
  if (opts && opts->weights_path) {
    if ((st = qiao_safetensors_open(opts->weights_path, &st_file))) {
      fail(res, st, "weights");
      goto done;
    }
    if ((st = qiao_program_bind_weights(prog, st_file)) ||
        (prog_b && (st = qiao_program_bind_weights(prog_b, st_file)))) {
      fail(res, st, "bind weights");
      goto done;
    }
  }
  for (int32_t i = 0; i < qiao_program_param_count(prog); ++i) {
    if (st_file) { /* params the file has are bound from it; the rest get random values */
      qiao_tensor_t view;
      qiao_status_t miss = qiao_safetensors_get(st_file, qiao_program_param_name(prog, i), &view);
      if (!miss) continue;
      qiao_status_free(miss);
    }
    qiao_tensor_t *t;
    if ((st = qiao_tensor_create(qiao_program_param_type(prog, i), &t))) {
      fail(res, st, "param");
      goto done;
    }
    qiao_tensor_fill_random(t, &rng, -1.0, 1.0);
    params[np] = t;
    pnames[np] = qiao_program_param_name(prog, i);
    np++;
    const char *name = qiao_program_param_name(prog, i);
    if ((st = qiao_program_bind_param(prog, name, t)) ||
        (prog_b && (st = qiao_program_bind_param(prog_b, name, t)))) {
      fail(res, st, "bind");
      goto done;
    }
  }
  int64_t ihi = index_bound(g);
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    const qiao_value_t *v = &g->values[g->inputs[i]];
    if ((st = qiao_tensor_create(v->type, &inputs[i]))) {
      fail(res, st, "input");
      goto done;
    }
    if (qiao_dtype_is_int(v->type.dtype)) {
      int64_t n = qiao_shape_numel(&v->type.shape);
      bool pos = v->name && !strncmp(v->name, "pos", 3);
      int64_t last = v->type.shape.rank ? v->type.shape.dims[v->type.shape.rank - 1] : 1;
      for (int64_t e = 0; e < n; ++e) {
        if (pos)
          qiao_tensor_set_f64(inputs[i], e, (double)(e % (last ? last : 1)));
        else
          qiao_tensor_set_f64(inputs[i], e, (double)(xorshift(&rng) % (uint64_t)ihi));
      }
    } else if (opts && opts->edge_values && qiao_dtype_is_float(v->type.dtype)) {
      fill_edge(inputs[i], i, i < 32 && (opts->finite_inputs >> i & 1u), &rng);
    } else {
      qiao_tensor_fill_random(inputs[i], &rng, -1.0, 1.0);
    }
  }
  if ((st = qiao_program_run(prog, (const qiao_tensor_t *const *)inputs, outs))) {
    fail(res, st, "run");
    goto done;
  }
  if (prog_b && (st = qiao_program_run(prog_b, (const qiao_tensor_t *const *)inputs, outs_b))) {
    fail(res, st, "run (second poison)");
    goto done;
  }
  if ((st = qiao_interp_run(g, (const qiao_tensor_t *const *)inputs, st_file, pnames,
                            (const qiao_tensor_t *const *)params, np, refs))) {
    fail(res, st, "interp");
    goto done;
  }
  res->n_outputs = g->n_outputs;
  for (int32_t o = 0; o < g->n_outputs; ++o) {
    res->err[o] = oracle_error(outs[o], refs[o]);
    res->tol[o] = oracle_tolerance(refs[o]->type.dtype);
    res->ok[o] = true;
    if (!oracle_check_elements(outs[o], refs[o], oracle_output_accumulates(g, o), res->why[o],
                               sizeof res->why[o])) {
      res->ok[o] = false;
    } else if (!(res->err[o] <= res->tol[o])) {
      res->ok[o] = false;
      snprintf(res->why[o], sizeof res->why[o], "normalized error %.3g > %.3g", res->err[o],
               res->tol[o]);
    } else if (prog_b) {
      size_t es = qiao_dtype_size(refs[o]->type.dtype);
      int64_t n = qiao_shape_numel(&refs[o]->type.shape);
      for (int64_t i = 0; i < n; ++i) {
        if (!memcmp((char *)outs[o]->data + i * es, (char *)outs_b[o]->data + i * es, es)) continue;
        char idx[160];
        format_index(&refs[o]->type.shape, i, idx, sizeof idx);
        res->ok[o] = false;
        snprintf(res->why[o], sizeof res->why[o],
                 "element %lld %s differs between two runs with different poisons: %.9g vs %.9g "
                 "(reference %.9g): an element the kernel does not write",
                 (long long)i, idx, qiao_tensor_get_f64(outs[o], i),
                 qiao_tensor_get_f64(outs_b[o], i), qiao_tensor_get_f64(refs[o], i));
        break;
      }
    }
  }
  qiao_program_stats_t ps;
  qiao_program_stats(prog, &ps);
  res->n_kernels = ps.n_kernels;
  ok = true;
done:
  for (int32_t o = 0; o < 8; ++o) {
    qiao_tensor_destroy(outs[o]);
    qiao_tensor_destroy(outs_b[o]);
    qiao_tensor_destroy(refs[o]);
  }
  for (int32_t i = 0; i < g->n_inputs; ++i)
    qiao_tensor_destroy(inputs[i]);
  for (int32_t i = 0; i < np; ++i)
    qiao_tensor_destroy(params[i]);
  free(inputs);
  free(params);
  free(pnames);
  qiao_safetensors_destroy(st_file);
  return ok;
}

bool oracle_run_opts(const qiao_graph_t *g, const char *uri, const oracle_opts_t *opts,
                     oracle_result_t *res) {
  memset(res, 0, sizeof(*res));
  qiao_hal_device_t *dev = NULL;
  qiao_program_t *prog = NULL, *prog_b = NULL;
  qiao_status_t st;
  bool ok = false;
  if ((st = qiao_hal_device_open(uri, &dev))) return fail(res, st, "device");
  /* One compile cache per test process: a test that runs the same graph with
   * several seeds compiles it once, and the second program below is always
   * served from the cache. */
  static qiao_runtime_t *rt;
  if (!rt && (st = qiao_runtime_create(&rt))) {
    fail(res, st, "runtime");
    goto done;
  }
  qiao_compile_options_t copts = {0};
  copts.poison = true; /* 0xFF bytes before each run */
  if ((st = qiao_program_compile(rt, g, dev, &copts, &prog))) {
    res->unsupported = qiao_status_code(st) == QIAO_UNSUPPORTED;
    fail(res, st, "compile");
    goto done;
  }
  if (!(opts && opts->no_poison_rerun)) {
    /* The second poison: a program without the runtime's poisoning whose arena is
     * freshly allocated while glibc fills new allocations with ~0xA5 = 0x5A bytes
     * (M_PERTURB; under ASan its malloc fill byte 0xBE does the same). */
    copts.poison = false;
    mallopt(M_PERTURB, 0xA5);
    st = qiao_program_compile(rt, g, dev, &copts, &prog_b);
    mallopt(M_PERTURB, 0);
    if (st) {
      fail(res, st, "compile (cached)");
      goto done;
    }
  }
  ok = oracle_run_programs(g, prog, prog_b, opts, res);
done:
  qiao_program_destroy(prog);
  qiao_program_destroy(prog_b);
  if (dev) qiao_hal_device_release(dev);
  return ok;
}

bool oracle_run_weights(const qiao_graph_t *g, const char *uri, const char *weights_path,
                        uint64_t seed, oracle_result_t *res) {
  oracle_opts_t o = {.seed = seed, .weights_path = weights_path};
  return oracle_run_opts(g, uri, &o, res);
}

bool oracle_run(const qiao_graph_t *g, const char *uri, uint64_t seed, oracle_result_t *res) {
  return oracle_run_weights(g, uri, NULL, seed, res);
}
