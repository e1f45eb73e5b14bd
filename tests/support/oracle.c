#include "oracle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double oracle_tolerance(qiao_dtype_t dt) { return qiao_dtype_tolerance(dt); }

double oracle_error(const qiao_tensor_t *x, const qiao_tensor_t *ref) {
  return qiao_tensor_max_error(x, ref);
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
  return hi;
}

static bool fail(oracle_result_t *res, qiao_status_t st, const char *what) {
  snprintf(res->message, sizeof res->message, "%s: %s", what, qiao_status_message(st));
  qiao_status_free(st);
  return false;
}

bool oracle_run_weights(const qiao_graph_t *g, const char *uri, const char *weights_path,
                        uint64_t seed, oracle_result_t *res) {
  memset(res, 0, sizeof(*res));
  uint64_t rng = seed ? seed : 1;
  bool ok = false;
  qiao_hal_device_t *dev = NULL;
  qiao_program_t *prog = NULL;
  qiao_safetensors_t *st_file = NULL;
  int32_t np = 0;
  qiao_tensor_t **inputs = calloc((size_t)g->n_inputs + 1, sizeof(qiao_tensor_t *));
  qiao_tensor_t **params = calloc((size_t)g->n_ops + 1, sizeof(qiao_tensor_t *));
  const char **pnames = calloc((size_t)g->n_ops + 1, sizeof(char *));
  qiao_tensor_t *outs[8] = {0}, *refs[8] = {0};
  qiao_status_t st = NULL;
  if (g->n_outputs > 8) {
    snprintf(res->message, sizeof res->message, "too many outputs");
    goto done;
  }
  if ((st = qiao_hal_device_open(uri, &dev))) {
    fail(res, st, "device");
    goto done;
  }
  qiao_compile_options_t copts = {0};
  copts.poison = true;
  /* One compile cache per test process: a test that runs the same graph with
   * several seeds compiles it once. */
  static qiao_runtime_t *rt;
  if (!rt && (st = qiao_runtime_create(&rt))) {
    fail(res, st, "runtime");
    goto done;
  }
  if ((st = qiao_program_compile(rt, g, dev, &copts, &prog))) {
    fail(res, st, "compile");
    goto done;
  }
  if (weights_path) {
    if ((st = qiao_safetensors_open(weights_path, &st_file))) {
      fail(res, st, "weights");
      goto done;
    }
    if ((st = qiao_program_bind_weights(prog, st_file))) {
      fail(res, st, "bind weights");
      goto done;
    }
  }
  for (int32_t i = 0; i < qiao_program_param_count(prog); ++i) {
    if (qiao_program_param_bound(prog, i)) continue;
    qiao_tensor_t *t;
    if ((st = qiao_tensor_create(qiao_program_param_type(prog, i), &t))) {
      fail(res, st, "param");
      goto done;
    }
    qiao_tensor_fill_random(t, &rng, -1.0, 1.0);
    params[np] = t;
    pnames[np] = qiao_program_param_name(prog, i);
    np++;
    if ((st = qiao_program_bind_param(prog, qiao_program_param_name(prog, i), t))) {
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
        if (pos) {
          qiao_tensor_set_f64(inputs[i], e, (double)(e % (last ? last : 1)));
        } else {
          rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
          qiao_tensor_set_f64(inputs[i], e, (double)(rng % (uint64_t)ihi));
        }
      }
    } else {
      qiao_tensor_fill_random(inputs[i], &rng, -1.0, 1.0);
    }
  }
  if ((st = qiao_program_run(prog, (const qiao_tensor_t *const *)inputs, outs))) {
    fail(res, st, "run");
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
  }
  qiao_program_stats_t ps;
  qiao_program_stats(prog, &ps);
  res->n_kernels = ps.n_kernels;
  ok = true;
done:
  for (int32_t o = 0; o < 8; ++o) {
    qiao_tensor_destroy(outs[o]);
    qiao_tensor_destroy(refs[o]);
  }
  for (int32_t i = 0; i < g->n_inputs; ++i) qiao_tensor_destroy(inputs[i]);
  for (int32_t i = 0; i < np; ++i) qiao_tensor_destroy(params[i]);
  free(inputs);
  free(params);
  free(pnames);
  qiao_safetensors_destroy(st_file);
  qiao_program_destroy(prog);
  if (dev) qiao_hal_device_release(dev);
  return ok;
}

bool oracle_run(const qiao_graph_t *g, const char *uri, uint64_t seed, oracle_result_t *res) {
  return oracle_run_weights(g, uri, NULL, seed, res);
}
