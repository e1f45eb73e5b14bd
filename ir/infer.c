/* Shape and dtype inference: the result types of one op from its operand
 * types and attributes, with messages that say what was expected. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "checked.h"
#include "qiao/ir.h"

#define BAD(...) qiao_status_make(QIAO_INVALID_ARGUMENT, __VA_ARGS__)

/* ------------------------------------------------------------------ helpers */

/* Writes "[2, 3]" into buf. */
static const char *shape_str(const qiao_shape_t *s, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (int i = 0; i < s->rank && n < cap; ++i)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)s->dims[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

static bool dtype_valid(qiao_dtype_t dt) { return (int)dt >= 0 && dt < QIAO_DTYPE_COUNT; }

/* Checks a type is well formed; `what` names it in the message. */
static qiao_status_t check_type(const char *op, const char *what, const qiao_type_t *t) {
  if (!dtype_valid(t->dtype))
    return BAD("%s: %s has an invalid dtype (%d)", op, what, (int)t->dtype);
  if (t->shape.rank < 0 || t->shape.rank > QIAO_MAX_RANK)
    return BAD("%s: %s has rank %d; expected 0 to %d", op, what, (int)t->shape.rank, QIAO_MAX_RANK);
  for (int i = 0; i < t->shape.rank; ++i)
    if (t->shape.dims[i] < 0)
      return BAD("%s: %s has a negative dimension %lld at axis %d", op, what,
                 (long long)t->shape.dims[i], i);
  /* Zero dims count as 1 here: a [0, 2^40, 2^40, 2^40] tensor holds no
   * element, but its row-major strides (computed everywhere downstream)
   * would still overflow. */
  int64_t numel = 1, bytes;
  for (int i = 0; i < t->shape.rank; ++i)
    if (t->shape.dims[i] != 0 && !qiao_ck_mul(numel, t->shape.dims[i], &numel))
      return BAD("%s: %s has more elements than fit in 64 bits", op, what);
  if (!qiao_type_nbytes(t, &bytes)) {
    char b[128];
    return BAD("%s: %s %s is %lld elements of %zu bytes: its byte size overflows 64 bits", op, what,
               qiao_type_str(t, b, sizeof b), (long long)numel, qiao_dtype_size(t->dtype));
  }
  return NULL;
}

/* Normalizes an axis as written (negative counts from the end) against
 * `rank`; false when out of range. */
static bool norm_axis(int64_t axis, int32_t rank, int32_t *out) {
  if (axis < -(int64_t)rank || axis >= rank) return false;
  *out = (int32_t)(axis < 0 ? axis + rank : axis);
  return true;
}

static qiao_status_t axis_error(const char *op, int64_t axis, const qiao_type_t *t) {
  char b[128];
  if (t->shape.rank == 0)
    return BAD("%s: axis %lld is out of range for a rank-0 operand %s", op, (long long)axis,
               qiao_type_str(t, b, sizeof b));
  return BAD("%s: axis %lld is out of range for %s; expected -%d to %d", op, (long long)axis,
             qiao_type_str(t, b, sizeof b), (int)t->shape.rank, (int)t->shape.rank - 1);
}

static qiao_status_t need_float(const char *op, const char *what, const qiao_type_t *t) {
  if (qiao_dtype_is_float(t->dtype)) return NULL;
  return BAD("%s: %s must be a float dtype (f32, f16, bf16, f8e4m3, f8e5m2), got %s", op, what,
             qiao_dtype_name(t->dtype));
}

static qiao_status_t need_index(const char *op, const char *what, const qiao_type_t *t) {
  if (t->dtype == QIAO_I32 || t->dtype == QIAO_I64) return NULL;
  return BAD("%s: %s must be i32 or i64, got %s", op, what, qiao_dtype_name(t->dtype));
}

static qiao_status_t need_rank(const char *op, const char *what, const qiao_type_t *t,
                               int32_t rank) {
  if (t->shape.rank == rank) return NULL;
  char b[128];
  return BAD("%s: %s must have rank %d, got %s", op, what, (int)rank,
             qiao_type_str(t, b, sizeof b));
}

/* numpy broadcasting of two shapes. */
static bool broadcast(const qiao_shape_t *a, const qiao_shape_t *b, qiao_shape_t *out) {
  int32_t r = a->rank > b->rank ? a->rank : b->rank;
  qiao_shape_t o;
  memset(&o, 0, sizeof o);
  o.rank = r;
  for (int32_t i = 0; i < r; ++i) {
    int32_t ia = a->rank - r + i, ib = b->rank - r + i;
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da == db) o.dims[i] = da;
    else if (da == 1) o.dims[i] = db;
    else if (db == 1) o.dims[i] = da;
    else return false;
  }
  *out = o;
  return true;
}

/* ------------------------------------------------------------------ leaves */

static qiao_status_t infer_leaf(qiao_op_kind_t kind, const qiao_attrs_t *a, qiao_type_t *out) {
  const char *op = qiao_op_name(kind);
  QIAO_RETURN_IF_ERROR(check_type(op, "result type", out));
  if (kind == QIAO_OP_PARAM) {
    if (!a->param_name || !*a->param_name) return BAD("param: needs a non-empty name");
    return NULL;
  }
  int64_t numel = qiao_shape_numel(&out->shape); /* no overflow: check_type passed */
  if (a->n_values == 0 && numel == 0) return NULL;
  if (a->n_values != 1 && a->n_values != numel) {
    char b[128];
    return BAD("const: %lld values given for %s; expected 1 (a splat) or %lld",
               (long long)a->n_values, qiao_type_str(out, b, sizeof b), (long long)numel);
  }
  if ((a->const_f != NULL) == (a->const_i != NULL))
    return BAD("const: exactly one of the float and integer value arrays must be set");
  if (qiao_dtype_is_int(out->dtype) && !a->const_i)
    return BAD("const: %s values must be given as integers", qiao_dtype_name(out->dtype));
  if (!qiao_dtype_is_int(out->dtype) && !a->const_f)
    return BAD("const: %s values must be given as floats", qiao_dtype_name(out->dtype));
  return NULL;
}

/* ------------------------------------------------------------- elementwise */

static qiao_status_t infer_binary(qiao_op_kind_t kind, const qiao_type_t *t, qiao_type_t *out) {
  const char *op = qiao_op_name(kind);
  if (t[0].dtype != t[1].dtype)
    return BAD("%s: operand dtypes differ: %s and %s; cast explicitly", op,
               qiao_dtype_name(t[0].dtype), qiao_dtype_name(t[1].dtype));
  if (kind == QIAO_OP_POW) QIAO_RETURN_IF_ERROR(need_float(op, "operand", &t[0]));
  qiao_shape_t s;
  if (!broadcast(&t[0].shape, &t[1].shape, &s)) {
    char b1[128], b2[128];
    return BAD("%s: shapes %s and %s do not broadcast", op, shape_str(&t[0].shape, b1, sizeof b1),
               shape_str(&t[1].shape, b2, sizeof b2));
  }
  out->dtype = t[0].dtype;
  out->shape = s;
  return NULL;
}

static qiao_status_t infer_unary(qiao_op_kind_t kind, const qiao_type_t *t,
                                 const qiao_attrs_t *a, qiao_type_t *out) {
  const char *op = qiao_op_name(kind);
  switch (kind) {
  case QIAO_OP_NEG:
  case QIAO_OP_RELU:
    if (!qiao_dtype_is_float(t[0].dtype) && !qiao_dtype_is_int(t[0].dtype))
      return BAD("%s: operand must be a float or integer dtype, got %s", op,
                 qiao_dtype_name(t[0].dtype));
    break;
  case QIAO_OP_CAST:
    if (!dtype_valid(a->to)) return BAD("cast: 'to' is not a valid dtype (%d)", (int)a->to);
    *out = t[0];
    out->dtype = a->to;
    return NULL;
  case QIAO_OP_GELU:
    if (a->approximate != QIAO_GELU_NONE && a->approximate != QIAO_GELU_TANH)
      return BAD("gelu: approximate must be \"none\" or \"tanh\"");
    QIAO_RETURN_IF_ERROR(need_float(op, "operand", &t[0]));
    break;
  default:
    QIAO_RETURN_IF_ERROR(need_float(op, "operand", &t[0]));
    break;
  }
  *out = t[0];
  return NULL;
}

/* ------------------------------------------------------------------ matmul */

static qiao_status_t matmul_dtype(const qiao_type_t *a, const qiao_type_t *b, qiao_dtype_t *out) {
  if (a->dtype == QIAO_I8 && b->dtype == QIAO_I8) {
    *out = QIAO_I32;
    return NULL;
  }
  if (!qiao_dtype_is_float(a->dtype) || !qiao_dtype_is_float(b->dtype))
    return BAD("matmul: operands must be float dtypes (or both i8), got %s and %s",
               qiao_dtype_name(a->dtype), qiao_dtype_name(b->dtype));
  if (a->dtype == b->dtype) *out = a->dtype;
  else if (qiao_dtype_size(a->dtype) > qiao_dtype_size(b->dtype)) *out = a->dtype;
  else if (qiao_dtype_size(b->dtype) > qiao_dtype_size(a->dtype)) *out = b->dtype;
  else *out = QIAO_F32;
  return NULL;
}

static qiao_status_t infer_matmul(const qiao_type_t *t, const qiao_attrs_t *at,
                                  qiao_type_t *out) {
  const qiao_type_t *a = &t[0], *b = &t[1];
  char b1[128], b2[128];
  if (a->shape.rank < 2)
    return BAD("matmul: a must have rank >= 2 ([..., M, K]), got %s; reshape a vector to [1, K]",
               qiao_type_str(a, b1, sizeof b1));
  if (b->shape.rank < 2)
    return BAD("matmul: b must have rank >= 2 ([..., K, N]), got %s; reshape a vector to [K, 1]",
               qiao_type_str(b, b1, sizeof b1));
  qiao_dtype_t dt = QIAO_F32;
  QIAO_RETURN_IF_ERROR(matmul_dtype(a, b, &dt));
  int32_t ra = a->shape.rank, rb = b->shape.rank;
  int64_t m = a->shape.dims[ra - 2], ka = a->shape.dims[ra - 1];
  if (at->transpose_a) m = a->shape.dims[ra - 1], ka = a->shape.dims[ra - 2];
  int64_t kb = b->shape.dims[rb - 2], n = b->shape.dims[rb - 1];
  if (at->transpose_b) kb = b->shape.dims[rb - 1], n = b->shape.dims[rb - 2];
  if (ka != kb)
    return BAD("matmul: contraction dims differ: a has K=%lld, b has K=%lld (a is %s%s, b is %s%s)",
               (long long)ka, (long long)kb, qiao_type_str(a, b1, sizeof b1),
               at->transpose_a ? " transposed" : "", qiao_type_str(b, b2, sizeof b2),
               at->transpose_b ? " transposed" : "");
  qiao_shape_t ba, bb, bo;
  memset(&ba, 0, sizeof ba);
  memset(&bb, 0, sizeof bb);
  ba.rank = ra - 2;
  bb.rank = rb - 2;
  memcpy(ba.dims, a->shape.dims, sizeof(int64_t) * (size_t)ba.rank);
  memcpy(bb.dims, b->shape.dims, sizeof(int64_t) * (size_t)bb.rank);
  if (!broadcast(&ba, &bb, &bo))
    return BAD("matmul: batch dims %s and %s do not broadcast", shape_str(&ba, b1, sizeof b1),
               shape_str(&bb, b2, sizeof b2));
  if (bo.rank + 2 > QIAO_MAX_RANK) return BAD("matmul: result rank exceeds %d", QIAO_MAX_RANK);
  memset(out, 0, sizeof *out);
  out->dtype = dt;
  out->shape = bo;
  out->shape.dims[bo.rank] = m;
  out->shape.dims[bo.rank + 1] = n;
  out->shape.rank = bo.rank + 2;
  return NULL;
}

/* ------------------------------------------------------- reductions, norms */

static qiao_status_t infer_reduce(qiao_op_kind_t kind, const qiao_type_t *t,
                                  const qiao_attrs_t *a, qiao_type_t *out) {
  const char *op = qiao_op_name(kind);
  int32_t r = t[0].shape.rank;
  if (a->n_axes <= 0) return BAD("%s: axes must list at least one axis", op);
  if (a->n_axes > QIAO_MAX_RANK) return BAD("%s: too many axes (%d)", op, (int)a->n_axes);
  bool reduced[QIAO_MAX_RANK] = {false};
  for (int32_t i = 0; i < a->n_axes; ++i) {
    int32_t ax;
    if (!norm_axis(a->axes[i], r, &ax)) return axis_error(op, a->axes[i], &t[0]);
    if (reduced[ax]) return BAD("%s: axis %d is listed twice in axes", op, (int)ax);
    reduced[ax] = true;
  }
  memset(out, 0, sizeof *out);
  out->dtype = t[0].dtype;
  for (int32_t i = 0; i < r; ++i) {
    if (!reduced[i]) out->shape.dims[out->shape.rank++] = t[0].shape.dims[i];
    else if (a->keepdims) out->shape.dims[out->shape.rank++] = 1;
  }
  return NULL;
}

static qiao_status_t infer_softmax(const qiao_type_t *t, const qiao_attrs_t *a,
                                   qiao_type_t *out) {
  QIAO_RETURN_IF_ERROR(need_float("softmax", "operand", &t[0]));
  int32_t ax;
  if (!norm_axis(a->axis, t[0].shape.rank, &ax)) return axis_error("softmax", a->axis, &t[0]);
  *out = t[0];
  return NULL;
}

static qiao_status_t check_norm_vec(const char *op, const char *what, const qiao_type_t *x,
                                    const qiao_type_t *w) {
  char b1[128], b2[128];
  int64_t d = x->shape.dims[x->shape.rank - 1];
  if (w->shape.rank != 1 || w->shape.dims[0] != d)
    return BAD("%s: %s must be [%lld] (the last dim of x %s), got %s", op, what, (long long)d,
               qiao_type_str(x, b1, sizeof b1), qiao_type_str(w, b2, sizeof b2));
  if (w->dtype != x->dtype)
    return BAD("%s: %s dtype %s differs from x's dtype %s; cast explicitly", op, what,
               qiao_dtype_name(w->dtype), qiao_dtype_name(x->dtype));
  return NULL;
}

static qiao_status_t infer_norm(qiao_op_kind_t kind, const qiao_type_t *t, const qiao_attrs_t *a,
                                qiao_type_t *out) {
  const char *op = qiao_op_name(kind);
  if (t[0].shape.rank < 1) return BAD("%s: x must have rank >= 1, got a scalar", op);
  QIAO_RETURN_IF_ERROR(need_float(op, "x", &t[0]));
  QIAO_RETURN_IF_ERROR(check_norm_vec(op, "weight", &t[0], &t[1]));
  if (kind == QIAO_OP_LAYER_NORM) QIAO_RETURN_IF_ERROR(check_norm_vec(op, "bias", &t[0], &t[2]));
  if (!(a->eps > 0) || !isfinite(a->eps))
    return BAD("%s: eps must be finite and > 0, got %g", op, a->eps);
  *out = t[0];
  return NULL;
}

/* ----------------------------------------------------------- data movement */

static qiao_status_t infer_reshape(const qiao_type_t *t, const qiao_attrs_t *a,
                                   qiao_type_t *out) {
  char b1[128];
  if (a->n_shape < 0 || a->n_shape > QIAO_MAX_RANK)
    return BAD("reshape: shape has %d dims; expected 0 to %d", (int)a->n_shape, QIAO_MAX_RANK);
  int32_t infer_at = -1;
  int64_t known = 1;
  for (int32_t i = 0; i < a->n_shape; ++i) {
    int64_t d = a->shape[i];
    if (d == -1) {
      if (infer_at >= 0) return BAD("reshape: only one -1 is allowed in shape");
      infer_at = i;
    } else if (d < 0) {
      return BAD("reshape: shape dim %d is %lld; expected >= 0 or -1", (int)i, (long long)d);
    } else if (__builtin_mul_overflow(known, d, &known)) {
      return BAD("reshape: shape has too many elements");
    }
  }
  int64_t numel = qiao_shape_numel(&t[0].shape);
  memset(out, 0, sizeof *out);
  out->dtype = t[0].dtype;
  out->shape.rank = a->n_shape;
  memcpy(out->shape.dims, a->shape, sizeof(int64_t) * (size_t)a->n_shape);
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      return BAD("reshape: cannot infer the -1 dim: %s has %lld elements, not a multiple of %lld",
                 qiao_type_str(&t[0], b1, sizeof b1), (long long)numel, (long long)known);
    out->shape.dims[infer_at] = numel / known;
  } else if (known != numel) {
    char b2[128];
    return BAD("reshape: %s has %lld elements but shape %s has %lld",
               qiao_type_str(&t[0], b1, sizeof b1), (long long)numel,
               shape_str(&out->shape, b2, sizeof b2), (long long)known);
  }
  return NULL;
}

static qiao_status_t infer_transpose(const qiao_type_t *t, const qiao_attrs_t *a,
                                     qiao_type_t *out) {
  int32_t r = t[0].shape.rank;
  char b1[128];
  if (a->n_perm != r)
    return BAD("transpose: perm has %d entries but the operand %s has rank %d", (int)a->n_perm,
               qiao_type_str(&t[0], b1, sizeof b1), (int)r);
  bool seen[QIAO_MAX_RANK] = {false};
  memset(out, 0, sizeof *out);
  out->dtype = t[0].dtype;
  out->shape.rank = r;
  for (int32_t i = 0; i < r; ++i) {
    int64_t p = a->perm[i];
    if (p < 0 || p >= r || seen[p])
      return BAD("transpose: perm must be a permutation of 0..%d; entry %d is %lld", (int)r - 1,
                 (int)i, (long long)p);
    seen[p] = true;
    out->shape.dims[i] = t[0].shape.dims[p];
  }
  return NULL;
}

static int64_t clamp_index(int64_t i, int64_t dim) {
  if (i < 0) i += dim;
  if (i < 0) i = 0;
  if (i > dim) i = dim;
  return i;
}

static qiao_status_t infer_slice(const qiao_type_t *t, const qiao_attrs_t *a, qiao_type_t *out) {
  int32_t ax;
  if (!norm_axis(a->axis, t[0].shape.rank, &ax)) return axis_error("slice", a->axis, &t[0]);
  if (a->step < 1) return BAD("slice: step must be >= 1, got %lld", (long long)a->step);
  int64_t dim = t[0].shape.dims[ax];
  int64_t s = clamp_index(a->start, dim), e = clamp_index(a->end, dim);
  int64_t n = e > s ? (e - s - 1) / a->step + 1 : 0; /* ceil, without overflow */
  *out = t[0];
  out->shape.dims[ax] = n;
  return NULL;
}

static qiao_status_t infer_concat(const qiao_type_t *t, int32_t n, const qiao_attrs_t *a,
                                  qiao_type_t *out) {
  if (n < 1) return BAD("concat: expects at least 1 operand");
  int32_t r = t[0].shape.rank, ax;
  if (!norm_axis(a->axis, r, &ax)) return axis_error("concat", a->axis, &t[0]);
  int64_t total = 0;
  char b1[128], b2[128];
  for (int32_t i = 0; i < n; ++i) {
    if (t[i].dtype != t[0].dtype)
      return BAD("concat: operand %d is %s but operand 0 is %s; cast explicitly", (int)i,
                 qiao_dtype_name(t[i].dtype), qiao_dtype_name(t[0].dtype));
    if (t[i].shape.rank != r)
      return BAD("concat: operand %d has rank %d but operand 0 has rank %d", (int)i,
                 (int)t[i].shape.rank, (int)r);
    for (int32_t d = 0; d < r; ++d)
      if (d != ax && t[i].shape.dims[d] != t[0].shape.dims[d])
        return BAD("concat: operand %d %s differs from operand 0 %s at axis %d (only axis %d may "
                   "differ)",
                   (int)i, shape_str(&t[i].shape, b1, sizeof b1),
                   shape_str(&t[0].shape, b2, sizeof b2), (int)d, (int)ax);
    if (__builtin_add_overflow(total, t[i].shape.dims[ax], &total))
      return BAD("concat: the result's axis %d has more elements than fit in 64 bits", (int)ax);
  }
  *out = t[0];
  out->shape.dims[ax] = total;
  return NULL;
}

static qiao_status_t infer_gather(const qiao_type_t *t, const qiao_attrs_t *a, qiao_type_t *out) {
  const qiao_type_t *tab = &t[0], *idx = &t[1];
  if (tab->shape.rank < 1) return BAD("gather: table must have rank >= 1, got a scalar");
  QIAO_RETURN_IF_ERROR(need_index("gather", "indices", idx));
  int32_t ax;
  if (!norm_axis(a->axis, tab->shape.rank, &ax)) return axis_error("gather", a->axis, tab);
  int32_t r = tab->shape.rank - 1 + idx->shape.rank;
  if (r > QIAO_MAX_RANK) return BAD("gather: result rank %d exceeds %d", (int)r, QIAO_MAX_RANK);
  memset(out, 0, sizeof *out);
  out->dtype = tab->dtype;
  for (int32_t i = 0; i < ax; ++i) out->shape.dims[out->shape.rank++] = tab->shape.dims[i];
  for (int32_t i = 0; i < idx->shape.rank; ++i)
    out->shape.dims[out->shape.rank++] = idx->shape.dims[i];
  for (int32_t i = ax + 1; i < tab->shape.rank; ++i)
    out->shape.dims[out->shape.rank++] = tab->shape.dims[i];
  return NULL;
}

/* ------------------------------------------------------------ model-level */

static qiao_status_t infer_rope(const qiao_type_t *t, const qiao_attrs_t *a, qiao_type_t *out) {
  const qiao_type_t *x = &t[0], *p = &t[1];
  char b1[128], b2[128];
  QIAO_RETURN_IF_ERROR(need_rank("rope", "x ([B, H, S, D])", x, 4));
  QIAO_RETURN_IF_ERROR(need_float("rope", "x", x));
  QIAO_RETURN_IF_ERROR(need_index("rope", "positions", p));
  int64_t b = x->shape.dims[0], s = x->shape.dims[2], d = x->shape.dims[3];
  if (d % 2 != 0) return BAD("rope: head dim D must be even, got %lld", (long long)d);
  bool ok = (p->shape.rank == 1 && p->shape.dims[0] == s) ||
            (p->shape.rank == 2 && p->shape.dims[0] == b && p->shape.dims[1] == s);
  if (!ok)
    return BAD("rope: positions must be [%lld] or [%lld, %lld] for x %s, got %s", (long long)s,
               (long long)b, (long long)s, qiao_type_str(x, b1, sizeof b1),
               qiao_type_str(p, b2, sizeof b2));
  if (!(a->theta > 0) || !isfinite(a->theta))
    return BAD("rope: theta must be finite and > 0, got %g", a->theta);
  if (a->mode != QIAO_ROPE_NEOX && a->mode != QIAO_ROPE_GPTJ)
    return BAD("rope: mode must be \"neox\" or \"gptj\"");
  *out = *x;
  return NULL;
}

static qiao_status_t infer_topk(const qiao_type_t *t, const qiao_attrs_t *a, qiao_type_t *out) {
  int32_t ax;
  char b1[128];
  if (!norm_axis(a->axis, t[0].shape.rank, &ax)) return axis_error("topk", a->axis, &t[0]);
  int64_t dim = t[0].shape.dims[ax];
  if (a->k < 1 || a->k > dim)
    return BAD("topk: k must be in 1..%lld (the size of axis %d of %s), got %lld", (long long)dim,
               (int)ax, qiao_type_str(&t[0], b1, sizeof b1), (long long)a->k);
  out[0] = t[0];
  out[0].shape.dims[ax] = a->k;
  out[1] = out[0];
  out[1].dtype = QIAO_I64;
  return NULL;
}

static qiao_status_t infer_attention(const qiao_type_t *t, int32_t n, const qiao_attrs_t *a,
                                     qiao_type_t *out) {
  const qiao_type_t *q = &t[0], *k = &t[1], *v = &t[2];
  char b1[128], b2[128];
  QIAO_RETURN_IF_ERROR(need_rank("attention", "q ([B, Hq, Sq, D])", q, 4));
  QIAO_RETURN_IF_ERROR(need_rank("attention", "k ([B, Hkv, Skv, D])", k, 4));
  QIAO_RETURN_IF_ERROR(need_rank("attention", "v ([B, Hkv, Skv, Dv])", v, 4));
  QIAO_RETURN_IF_ERROR(need_float("attention", "q", q));
  if (k->dtype != q->dtype || v->dtype != q->dtype)
    return BAD("attention: q, k, v must share one dtype, got %s, %s, %s; cast explicitly",
               qiao_dtype_name(q->dtype), qiao_dtype_name(k->dtype), qiao_dtype_name(v->dtype));
  const int64_t *qd = q->shape.dims, *kd = k->shape.dims, *vd = v->shape.dims;
  if (kd[0] != qd[0] || vd[0] != qd[0])
    return BAD("attention: batch sizes differ: q has B=%lld, k has B=%lld, v has B=%lld",
               (long long)qd[0], (long long)kd[0], (long long)vd[0]);
  if (kd[3] != qd[3])
    return BAD("attention: head dims differ: q has D=%lld, k has D=%lld", (long long)qd[3],
               (long long)kd[3]);
  if (vd[1] != kd[1] || vd[2] != kd[2])
    return BAD("attention: k %s and v %s must agree on [B, Hkv, Skv]",
               qiao_type_str(k, b1, sizeof b1), qiao_type_str(v, b2, sizeof b2));
  if (kd[1] < 1 || qd[1] % kd[1] != 0)
    return BAD("attention: q heads (Hq=%lld) must be a multiple of k/v heads (Hkv=%lld)",
               (long long)qd[1], (long long)kd[1]);
  int32_t im, ikv;
  qiao_attention_operand_roles(n, n >= 4 ? t[3].dtype : QIAO_F32, &im, &ikv);
  if (n >= 5 && !qiao_dtype_is_float(t[3].dtype))
    return BAD("attention: with 5 operands (q, k, v, mask, kv_len) the mask must be a float "
               "dtype, got %s",
               qiao_dtype_name(t[3].dtype));
  if (ikv >= 0) {
    const qiao_type_t *l = &t[ikv];
    if (l->dtype != QIAO_I32 || l->shape.rank != 1 || l->shape.dims[0] != qd[0])
      return BAD("attention: kv_len must be i32[B] = i32[%lld], got %s", (long long)qd[0],
                 qiao_type_str(l, b1, sizeof b1));
  }
  if (im >= 0) {
    const qiao_type_t *m = &t[im];
    if (m->shape.rank != 2 || m->shape.dims[0] != qd[2] || m->shape.dims[1] != kd[2])
      return BAD("attention: mask must be [Sq, Skv] = [%lld, %lld], got %s", (long long)qd[2],
                 (long long)kd[2], qiao_type_str(m, b1, sizeof b1));
    if (m->dtype != q->dtype)
      return BAD("attention: mask dtype %s differs from q's dtype %s; cast explicitly",
                 qiao_dtype_name(m->dtype), qiao_dtype_name(q->dtype));
  }
  if (a->window < 0) return BAD("attention: window must be >= 0, got %lld", (long long)a->window);
  if (a->has_scale && (!isfinite(a->scale) || !(a->scale > 0)))
    return BAD("attention: scale must be finite and > 0, got %g", a->scale);
  if (a->causal && qd[2] > kd[2])
    return BAD("attention: causal needs Sq <= Skv, got Sq=%lld, Skv=%lld", (long long)qd[2],
               (long long)kd[2]);
  /* A window makes attention causal (docs/design.md), with the same need. */
  if (a->window > 0 && qd[2] > kd[2])
    return BAD("attention: window (which makes it causal) needs Sq <= Skv, got Sq=%lld, Skv=%lld",
               (long long)qd[2], (long long)kd[2]);
  *out = *q;
  out->shape.dims[3] = vd[3];
  return NULL;
}

static qiao_status_t moe_shape(const char *what, const qiao_type_t *t, int32_t rank,
                               const int64_t *want, const char *layout) {
  bool ok = t->shape.rank == rank;
  for (int32_t i = 0; ok && i < rank; ++i) ok = t->shape.dims[i] == want[i];
  if (ok) return NULL;
  char b1[128], b2[128];
  qiao_shape_t w;
  memset(&w, 0, sizeof w);
  w.rank = rank;
  memcpy(w.dims, want, sizeof(int64_t) * (size_t)rank);
  return BAD("moe: %s must be %s = %s, got %s", what, layout, shape_str(&w, b1, sizeof b1),
             qiao_type_str(t, b2, sizeof b2));
}

static qiao_status_t infer_moe(const qiao_type_t *t, const qiao_attrs_t *a, qiao_type_t *out) {
  const qiao_type_t *x = &t[0], *r = &t[1], *g = &t[2], *u = &t[3], *d = &t[4];
  QIAO_RETURN_IF_ERROR(need_rank("moe", "x ([T, D])", x, 2));
  QIAO_RETURN_IF_ERROR(need_rank("moe", "router ([D, E])", r, 2));
  QIAO_RETURN_IF_ERROR(need_rank("moe", "gate ([E, D, F])", g, 3));
  QIAO_RETURN_IF_ERROR(need_float("moe", "x", x));
  QIAO_RETURN_IF_ERROR(need_float("moe", "router", r));
  QIAO_RETURN_IF_ERROR(need_float("moe", "gate", g));
  QIAO_RETURN_IF_ERROR(need_float("moe", "up", u));
  QIAO_RETURN_IF_ERROR(need_float("moe", "down", d));
  /* E and F come from gate; D from x. */
  int64_t dm = x->shape.dims[1], e = g->shape.dims[0], f = g->shape.dims[2];
  int64_t wr[2] = {dm, e}, wg[3] = {e, dm, f}, wd[3] = {e, f, dm};
  QIAO_RETURN_IF_ERROR(moe_shape("gate", g, 3, wg, "[E, D, F]"));
  QIAO_RETURN_IF_ERROR(moe_shape("router", r, 2, wr, "[D, E]"));
  QIAO_RETURN_IF_ERROR(moe_shape("up", u, 3, wg, "[E, D, F]"));
  QIAO_RETURN_IF_ERROR(moe_shape("down", d, 3, wd, "[E, F, D]"));
  if (u->dtype != g->dtype || d->dtype != g->dtype)
    return BAD("moe: expert weights must share one dtype, got gate %s, up %s, down %s",
               qiao_dtype_name(g->dtype), qiao_dtype_name(u->dtype), qiao_dtype_name(d->dtype));
  if (a->top_k < 1 || a->top_k > e)
    return BAD("moe: top_k must be in 1..%lld (the number of experts), got %lld", (long long)e,
               (long long)a->top_k);
  if (a->router_fn != QIAO_ROUTER_SOFTMAX && a->router_fn != QIAO_ROUTER_SIGMOID)
    return BAD("moe: router_fn must be \"softmax\" or \"sigmoid\"");
  *out = *x;
  return NULL;
}

/* ------------------------------------------------------------------ entry */

qiao_status_t qiao_ir_infer_op(qiao_op_kind_t kind, const qiao_type_t *operand_types,
                               int32_t n_operands, const qiao_attrs_t *attrs,
                               qiao_type_t *out_result_types) {
  if ((int)kind < 0 || kind >= QIAO_OP_KIND_COUNT) return BAD("unknown op kind %d", (int)kind);
  const qiao_op_schema_t *s = qiao_op_schema(kind);
  if (!attrs) return BAD("%s: attributes missing", s->name);
  if (kind == QIAO_OP_PARAM || kind == QIAO_OP_CONST)
    return infer_leaf(kind, attrs, out_result_types);
  if (n_operands < s->min_operands || (s->max_operands >= 0 && n_operands > s->max_operands)) {
    if (s->max_operands < 0)
      return BAD("%s: expects at least %d operand%s, got %d", s->name, (int)s->min_operands,
                 s->min_operands == 1 ? "" : "s", (int)n_operands);
    if (s->min_operands == s->max_operands)
      return BAD("%s: expects %d operand%s, got %d", s->name, (int)s->min_operands,
                 s->min_operands == 1 ? "" : "s", (int)n_operands);
    return BAD("%s: expects %d to %d operands, got %d", s->name, (int)s->min_operands,
               (int)s->max_operands, (int)n_operands);
  }
  for (int32_t i = 0; i < n_operands; ++i) {
    char what[32];
    snprintf(what, sizeof what, "operand %d", (int)i);
    QIAO_RETURN_IF_ERROR(check_type(s->name, what, &operand_types[i]));
  }
  const qiao_type_t *t = operand_types;
  qiao_type_t res[2];
  memset(res, 0, sizeof res);
  qiao_status_t st = NULL;
  switch (kind) {
  case QIAO_OP_ADD:
  case QIAO_OP_SUB:
  case QIAO_OP_MUL:
  case QIAO_OP_DIV:
  case QIAO_OP_MAX:
  case QIAO_OP_MIN:
  case QIAO_OP_POW: st = infer_binary(kind, t, res); break;
  case QIAO_OP_NEG:
  case QIAO_OP_EXP:
  case QIAO_OP_LOG:
  case QIAO_OP_SQRT:
  case QIAO_OP_RSQRT:
  case QIAO_OP_TANH:
  case QIAO_OP_SIGMOID:
  case QIAO_OP_SILU:
  case QIAO_OP_GELU:
  case QIAO_OP_RELU:
  case QIAO_OP_CAST: st = infer_unary(kind, t, attrs, res); break;
  case QIAO_OP_MATMUL: st = infer_matmul(t, attrs, res); break;
  case QIAO_OP_REDUCE_SUM:
  case QIAO_OP_REDUCE_MAX:
  case QIAO_OP_REDUCE_MEAN: st = infer_reduce(kind, t, attrs, res); break;
  case QIAO_OP_SOFTMAX: st = infer_softmax(t, attrs, res); break;
  case QIAO_OP_RMS_NORM:
  case QIAO_OP_LAYER_NORM: st = infer_norm(kind, t, attrs, res); break;
  case QIAO_OP_RESHAPE: st = infer_reshape(t, attrs, res); break;
  case QIAO_OP_TRANSPOSE: st = infer_transpose(t, attrs, res); break;
  case QIAO_OP_SLICE: st = infer_slice(t, attrs, res); break;
  case QIAO_OP_CONCAT: st = infer_concat(t, n_operands, attrs, res); break;
  case QIAO_OP_GATHER: st = infer_gather(t, attrs, res); break;
  case QIAO_OP_ROPE: st = infer_rope(t, attrs, res); break;
  case QIAO_OP_TOPK: st = infer_topk(t, attrs, res); break;
  case QIAO_OP_ATTENTION: st = infer_attention(t, n_operands, attrs, res); break;
  case QIAO_OP_MOE: st = infer_moe(t, attrs, res); break;
  default: st = BAD("%s: no shape inference for this op", s->name); break;
  }
  if (st) return st;
  /* Zero the unused dims so results compare equal with memcmp-free equality
   * and print the same wherever they came from. */
  /* Results too: broadcasting, matmul, gather and concat can build a shape
   * whose element count overflows from operands whose counts do not. */
  for (int i = 0; i < s->n_results; ++i) {
    char what[32];
    snprintf(what, sizeof what, "result %d", i);
    QIAO_RETURN_IF_ERROR(check_type(s->name, what, &res[i]));
  }
  for (int i = 0; i < s->n_results; ++i) {
    for (int d = res[i].shape.rank; d < QIAO_MAX_RANK; ++d) res[i].shape.dims[d] = 0;
    out_result_types[i] = res[i];
  }
  return NULL;
}
