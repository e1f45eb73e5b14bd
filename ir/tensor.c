/* Dense row-major host tensors in storage format: create/destroy, element
 * access through doubles, deterministic random fill, checksum. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

qiao_status_t qiao_tensor_create(qiao_type_t type, qiao_tensor_t **out_tensor) {
  *out_tensor = NULL;
  if ((int)type.dtype < 0 || type.dtype >= QIAO_DTYPE_COUNT)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "tensor: unknown dtype %d", (int)type.dtype);
  if (type.shape.rank < 0 || type.shape.rank > QIAO_MAX_RANK)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "tensor: rank %d out of range [0, %d]",
                            (int)type.shape.rank, QIAO_MAX_RANK);
  for (int i = 0; i < type.shape.rank; ++i)
    if (type.shape.dims[i] < 0)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "tensor: negative dim %lld",
                              (long long)type.shape.dims[i]);
  int64_t nbytes;
  if (!qiao_type_nbytes(&type, &nbytes)) {
    char buf[128];
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "tensor: %s has more elements or bytes than fit in 64 bits",
                            qiao_type_str(&type, buf, sizeof buf));
  }
  size_t bytes = (size_t)nbytes;
  qiao_tensor_t *t = calloc(1, sizeof(*t));
  if (!t)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "tensor: out of memory");
  t->type = type;
  t->data = calloc(1, bytes ? bytes : 1);
  if (!t->data) {
    free(t);
    char buf[128];
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "tensor: cannot allocate %zu bytes for %s",
                            bytes, qiao_type_str(&type, buf, sizeof buf));
  }
  t->owns_data = true;
  *out_tensor = t;
  return NULL;
}

void qiao_tensor_destroy(qiao_tensor_t *t) {
  if (!t)
    return;
  if (t->owns_data)
    free(t->data);
  free(t);
}

size_t qiao_tensor_nbytes(const qiao_tensor_t *t) {
  return (size_t)qiao_shape_numel(&t->type.shape) * qiao_dtype_size(t->type.dtype);
}

double qiao_tensor_get_f64(const qiao_tensor_t *t, int64_t i) {
  return qiao_load_f64(t->data, t->type.dtype, i);
}

void qiao_tensor_set_f64(qiao_tensor_t *t, int64_t i, double v) {
  qiao_store_f64(t->data, t->type.dtype, i, v);
}

/* splitmix64: a small, well-mixed 64-bit generator (Steele, Lea, Flood). */
static uint64_t splitmix64(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void qiao_tensor_fill_random(qiao_tensor_t *t, uint64_t *rng_state, double lo, double hi) {
  int64_t n = qiao_shape_numel(&t->type.shape);
  qiao_dtype_t dt = t->type.dtype;
  bool integral = qiao_dtype_is_int(dt) || dt == QIAO_BOOL;
  double ilo = ceil(lo), ihi = ceil(hi); /* integers in [lo, hi) */
  for (int64_t i = 0; i < n; ++i) {
    /* 53 random bits → u in [0, 1) */
    double u = (double)(splitmix64(rng_state) >> 11) * 0x1.0p-53;
    double v;
    if (integral) {
      double span = ihi - ilo;
      v = span > 0 ? ilo + floor(u * span) : ilo;
      if (v >= ihi && span > 0)
        v = ihi - 1;
    } else {
      v = lo + (hi - lo) * u;
    }
    qiao_store_f64(t->data, dt, i, v);
  }
}

double qiao_tensor_checksum(const qiao_tensor_t *t) {
  int64_t n = qiao_shape_numel(&t->type.shape);
  double sum_abs = 0.0, weighted = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    double x = qiao_load_f64(t->data, t->type.dtype, i);
    sum_abs += fabs(x);
    weighted += x * (double)(1 + i % 97) / 97.0;
  }
  return sum_abs + weighted;
}

double qiao_dtype_tolerance(qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F32: return 1e-5;
  case QIAO_F16:
  case QIAO_BF16: return 1e-2;
  case QIAO_F8E4M3:
  case QIAO_F8E5M2: return 1.5e-1;
  default: return 0.0;
  }
}

double qiao_tensor_max_error(const qiao_tensor_t *x, const qiao_tensor_t *ref) {
  int64_t n = qiao_shape_numel(&ref->type.shape);
  bool is_float = qiao_dtype_is_float(ref->type.dtype);
  double maxref = 0, maxdiff = 0;
  for (int64_t i = 0; i < n; ++i) {
    double r = qiao_tensor_get_f64(ref, i), v = qiao_tensor_get_f64(x, i);
    if (isfinite(r) && fabs(r) > maxref) maxref = fabs(r);
    if (isnan(r) && isnan(v)) continue;
    if (isinf(r) && v == r) continue;
    double d = fabs(v - r);
    if (isnan(d)) return INFINITY;
    if (d > maxdiff) maxdiff = d;
  }
  if (!is_float) return maxdiff;
  return maxdiff / (maxref > 1e-30 ? maxref : 1e-30);
}

void qiao_ir_param_init_range(const qiao_graph_t *g, int32_t v, double *lo, double *hi) {
  const qiao_type_t *t = &g->values[v].type;
  int32_t r = t->shape.rank;
  if (t->dtype == QIAO_BOOL) {
    *lo = 0, *hi = 2;
    return;
  }
  if (qiao_dtype_is_int(t->dtype)) {
    *lo = 0, *hi = 8;
    for (int32_t o = 0; o < g->n_ops; ++o) {
      const qiao_op_t *op = &g->ops[o];
      if (op->kind == QIAO_OP_GATHER && op->n_operands == 2 && op->operands[1] == v) {
        const qiao_type_t *tab = &g->values[op->operands[0]].type;
        int64_t ax = op->attrs.axis < 0 ? op->attrs.axis + tab->shape.rank : op->attrs.axis;
        if (ax >= 0 && ax < tab->shape.rank)
          *hi = (double)tab->shape.dims[ax];
      }
    }
    if (*hi < 1)
      *hi = 1;
    return;
  }
  for (int32_t o = 0; o < g->n_ops; ++o) {
    const qiao_op_t *op = &g->ops[o];
    if ((op->kind == QIAO_OP_RMS_NORM || op->kind == QIAO_OP_LAYER_NORM) && op->n_operands > 1 &&
        op->operands[1] == v) {
      *lo = 0.9, *hi = 1.1;
      return;
    }
  }
  if (r == 0) {
    *lo = -1, *hi = 1;
    return;
  }
  if (r == 1) {
    *lo = -0.1, *hi = 0.1;
    return;
  }
  int64_t fan_in = t->shape.dims[r - 2];
  for (int32_t o = 0; o < g->n_ops; ++o) {
    const qiao_op_t *op = &g->ops[o];
    if (op->kind != QIAO_OP_MATMUL)
      continue;
    if ((op->operands[1] == v && op->attrs.transpose_b) ||
        (op->operands[0] == v && op->attrs.transpose_a)) {
      fan_in = t->shape.dims[r - 1];
    }
  }
  double a = 1.0 / sqrt((double)(fan_in > 0 ? fan_in : 1));
  *lo = -a, *hi = a;
}

