/* The reference interpreter: runs any graph on the host in plain C.
 *
 * It is the oracle every backend is tested against, so it favours being
 * obviously right over being fast:
 * - every value is kept as a qiao_tensor_t in its storage dtype, so rounding
 *   happens exactly where the graph puts a value (and nowhere else);
 * - float math is done in double (f64 accumulation) and rounded once, on
 *   store, to the result dtype (qiao_store_f64: RNE, f8e4m3 saturates);
 * - integer elementwise arithmetic is exact in int64 and wraps to the result
 *   width (as the backends' integer instructions do); `cast` to an integer
 *   dtype truncates toward zero and saturates;
 * - data movement (reshape, transpose, slice, concat, gather) copies the
 *   stored bytes, so it is exact for every dtype.
 * Intermediate values are freed after their last use. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/ir.h"

/* ----------------------------------------------------------------- helpers */

typedef struct interp {
  const qiao_graph_t *g;
  qiao_tensor_t **vals; /* per value id; NULL until defined / after freed */
} interp_t;

static void row_major_strides(const qiao_shape_t *s, int64_t *strides) {
  int64_t st = 1;
  for (int i = s->rank - 1; i >= 0; --i) {
    strides[i] = st;
    st *= s->dims[i];
  }
}

static void unravel(int64_t i, const qiao_shape_t *s, int64_t *idx) {
  for (int d = s->rank - 1; d >= 0; --d) {
    int64_t n = s->dims[d];
    idx[d] = n ? i % n : 0;
    i = n ? i / n : 0;
  }
}

/* Offset into a tensor of shape `s` broadcast (numpy, right-aligned) to an
 * index `idx` of rank `rank`. */
static int64_t bcast_offset(const qiao_shape_t *s, const int64_t *idx, int rank) {
  int64_t st[QIAO_MAX_RANK];
  row_major_strides(s, st);
  int64_t off = 0;
  for (int d = 0; d < s->rank; ++d) {
    int od = rank - s->rank + d;
    if (s->dims[d] != 1)
      off += idx[od] * st[d];
  }
  return off;
}

static int64_t norm_axis(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }

static bool is_intlike(qiao_dtype_t dt) { return qiao_dtype_is_int(dt) || dt == QIAO_BOOL; }

static double ld(const qiao_tensor_t *t, int64_t i) {
  return qiao_load_f64(t->data, t->type.dtype, i);
}
static void st(qiao_tensor_t *t, int64_t i, double v) {
  qiao_store_f64(t->data, t->type.dtype, i, v);
}

/* Exact integer load of an integer or bool element. */
static int64_t ld_i64(const qiao_tensor_t *t, int64_t i) {
  const unsigned char *p = t->data;
  switch (t->type.dtype) {
  case QIAO_I8:
    return (int8_t)p[i];
  case QIAO_BOOL:
    return p[i] != 0;
  case QIAO_I32: {
    int32_t x;
    memcpy(&x, p + 4 * i, 4);
    return x;
  }
  case QIAO_I64: {
    int64_t x;
    memcpy(&x, p + 8 * i, 8);
    return x;
  }
  default:
    return (int64_t)ld(t, i);
  }
}

/* Integer store that wraps to the dtype's width (two's complement). */
static void st_i64_wrap(qiao_tensor_t *t, int64_t i, int64_t v) {
  unsigned char *p = t->data;
  switch (t->type.dtype) {
  case QIAO_I8:
    p[i] = (uint8_t)(uint64_t)v;
    break;
  case QIAO_BOOL:
    p[i] = v != 0;
    break;
  case QIAO_I32: {
    uint32_t x = (uint32_t)(uint64_t)v;
    memcpy(p + 4 * i, &x, 4);
    break;
  }
  case QIAO_I64:
    memcpy(p + 8 * i, &v, 8);
    break;
  default:
    st(t, i, (double)v);
    break;
  }
}

/* Integer store that saturates to the dtype's range (cast semantics). */
static void st_i64_sat(qiao_tensor_t *t, int64_t i, int64_t v) {
  switch (t->type.dtype) {
  case QIAO_I8:
    v = v < INT8_MIN ? INT8_MIN : v > INT8_MAX ? INT8_MAX : v;
    break;
  case QIAO_I32:
    v = v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : v;
    break;
  default:
    break;
  }
  st_i64_wrap(t, i, v);
}

static qiao_status_t new_tensor(const qiao_graph_t *g, int32_t value, qiao_tensor_t **out) {
  return qiao_tensor_create(g->values[value].type, out);
}

static qiao_status_t no_mem(void) {
  return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "interp: out of memory");
}

/* A non-owning tensor that shares `data`. */
static qiao_status_t make_view(qiao_type_t type, const void *data, qiao_tensor_t **out) {
  qiao_tensor_t *t = calloc(1, sizeof(*t));
  if (!t)
    return no_mem();
  t->type = type;
  t->data = (void *)data;
  t->owns_data = false;
  *out = t;
  return NULL;
}

/* --------------------------------------------------------- elementwise ops */

static double unary_f(qiao_op_kind_t k, const qiao_attrs_t *a, double x) {
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
    return x / (1.0 + exp(-x));
  case QIAO_OP_RELU:
    return x < 0.0 ? 0.0 : x; /* NaN stays NaN */
  case QIAO_OP_GELU:
    if (a->approximate == QIAO_GELU_TANH) {
      const double c = sqrt(2.0 / M_PI);
      return 0.5 * x * (1.0 + tanh(c * (x + 0.044715 * x * x * x)));
    }
    return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  default:
    return NAN;
  }
}

/* An i64 as a double rounded to odd (truncate to 53 significant bits, set
 * the last one when bits were dropped). Rounding that double once more to
 * any dtype with at most 51 significant bits (f32 and smaller) gives the
 * nearest-even rounding of the integer itself; a plain (double) conversion
 * would round twice. */
static double i64_to_double_odd(int64_t v) {
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  if (u < ((uint64_t)1 << 53))
    return (double)v;
  int shift = 64 - __builtin_clzll(u) - 53;
  uint64_t kept = u >> shift;
  if (u & (((uint64_t)1 << shift) - 1))
    kept |= 1;
  double d = ldexp((double)kept, shift);
  return v < 0 ? -d : d;
}

static qiao_status_t run_unary(const qiao_graph_t *g, const qiao_op_t *op, qiao_tensor_t *x,
                               qiao_tensor_t *out) {
  int64_t n = qiao_shape_numel(&out->type.shape);
  qiao_dtype_t in = x->type.dtype, to = out->type.dtype;
  if (op->kind == QIAO_OP_CAST) {
    for (int64_t i = 0; i < n; ++i) {
      if (is_intlike(in) && qiao_dtype_is_int(to))
        st_i64_sat(out, i, ld_i64(x, i));
      else if (in == QIAO_I64 && qiao_dtype_is_float(to))
        st(out, i, i64_to_double_odd(ld_i64(x, i)));
      else
        st(out, i, ld(x, i)); /* float/bool targets and float → int: storage rules */
    }
    return NULL;
  }
  for (int64_t i = 0; i < n; ++i) {
    if (qiao_dtype_is_int(in) && (op->kind == QIAO_OP_NEG || op->kind == QIAO_OP_RELU)) {
      int64_t v = ld_i64(x, i);
      st_i64_wrap(out, i, op->kind == QIAO_OP_NEG ? (int64_t)(0 - (uint64_t)v) : (v < 0 ? 0 : v));
    } else {
      st(out, i, unary_f(op->kind, &op->attrs, ld(x, i)));
    }
  }
  (void)g;
  return NULL;
}

static double binary_f(qiao_op_kind_t k, double a, double b) {
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
    return (isnan(a) || isnan(b)) ? NAN : (a > b ? a : b);
  case QIAO_OP_MIN:
    return (isnan(a) || isnan(b)) ? NAN : (a < b ? a : b);
  case QIAO_OP_POW:
    return pow(a, b);
  default:
    return NAN;
  }
}

/* Integer arithmetic in int64 with wrap-around (unsigned ops); x / 0 is 0. */
static int64_t binary_i(qiao_op_kind_t k, int64_t a, int64_t b) {
  switch (k) {
  case QIAO_OP_ADD:
    return (int64_t)((uint64_t)a + (uint64_t)b);
  case QIAO_OP_SUB:
    return (int64_t)((uint64_t)a - (uint64_t)b);
  case QIAO_OP_MUL:
    return (int64_t)((uint64_t)a * (uint64_t)b);
  case QIAO_OP_DIV:
    if (b == 0)
      return 0;
    if (a == INT64_MIN && b == -1)
      return INT64_MIN;
    return a / b;
  case QIAO_OP_MAX:
    return a > b ? a : b;
  case QIAO_OP_MIN:
    return a < b ? a : b;
  default:
    return 0;
  }
}

static qiao_status_t run_binary(const qiao_op_t *op, qiao_tensor_t *a, qiao_tensor_t *b,
                                qiao_tensor_t *out) {
  const qiao_shape_t *os = &out->type.shape;
  int64_t n = qiao_shape_numel(os);
  int64_t idx[QIAO_MAX_RANK];
  bool int_math = qiao_dtype_is_int(out->type.dtype) && op->kind != QIAO_OP_POW;
  for (int64_t i = 0; i < n; ++i) {
    unravel(i, os, idx);
    int64_t ia = bcast_offset(&a->type.shape, idx, os->rank);
    int64_t ib = bcast_offset(&b->type.shape, idx, os->rank);
    if (int_math)
      st_i64_wrap(out, i, binary_i(op->kind, ld_i64(a, ia), ld_i64(b, ib)));
    else
      st(out, i, binary_f(op->kind, ld(a, ia), ld(b, ib)));
  }
  return NULL;
}

/* ------------------------------------------------------------------ matmul */

static qiao_status_t run_matmul(const qiao_op_t *op, qiao_tensor_t *a, qiao_tensor_t *b,
                                qiao_tensor_t *out) {
  const qiao_shape_t *as = &a->type.shape, *bs = &b->type.shape, *os = &out->type.shape;
  if (as->rank < 2 || bs->rank < 2 || os->rank < 2)
    return qiao_status_make(QIAO_UNSUPPORTED, "matmul: operands of rank < 2 are not supported");
  bool ta = op->attrs.transpose_a, tb = op->attrs.transpose_b;
  int64_t M = os->dims[os->rank - 2], N = os->dims[os->rank - 1];
  int64_t K = ta ? as->dims[as->rank - 2] : as->dims[as->rank - 1];
  int64_t Kb = tb ? bs->dims[bs->rank - 1] : bs->dims[bs->rank - 2];
  if (Kb != K)
    return qiao_status_make(QIAO_INTERNAL, "matmul: K mismatch %lld vs %lld", (long long)K,
                            (long long)Kb);
  /* batch shapes: all dims but the last two */
  qiao_shape_t ob = *os, ab = *as, bb = *bs;
  ob.rank -= 2;
  ab.rank -= 2;
  bb.rank -= 2;
  int64_t nbatch = qiao_shape_numel(&ob);
  int64_t a_mat = as->dims[as->rank - 2] * as->dims[as->rank - 1];
  int64_t b_mat = bs->dims[bs->rank - 2] * bs->dims[bs->rank - 1];
  int64_t idx[QIAO_MAX_RANK];
  bool int_acc = is_intlike(a->type.dtype) && is_intlike(b->type.dtype);
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    unravel(bi, &ob, idx);
    int64_t a0 = bcast_offset(&ab, idx, ob.rank) * a_mat;
    int64_t b0 = bcast_offset(&bb, idx, ob.rank) * b_mat;
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t nn = 0; nn < N; ++nn) {
        double acc = 0.0;
        int64_t iacc = 0;
        for (int64_t k = 0; k < K; ++k) {
          int64_t ai = a0 + (ta ? k * M + m : m * K + k);
          int64_t bi2 = b0 + (tb ? nn * K + k : k * N + nn);
          if (int_acc)
            iacc = (int64_t)((uint64_t)iacc + (uint64_t)(ld_i64(a, ai) * ld_i64(b, bi2)));
          else
            acc += ld(a, ai) * ld(b, bi2);
        }
        int64_t oi = (bi * M + m) * N + nn;
        if (int_acc)
          st_i64_wrap(out, oi, iacc);
        else
          st(out, oi, acc);
      }
    }
  }
  return NULL;
}

/* -------------------------------------------------------------- reductions */

static qiao_status_t run_reduce(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *out) {
  const qiao_shape_t *xs = &x->type.shape;
  bool reduced[QIAO_MAX_RANK] = {false};
  for (int i = 0; i < op->attrs.n_axes; ++i) {
    int64_t ax = norm_axis(op->attrs.axes[i], xs->rank);
    if (ax < 0 || ax >= xs->rank)
      return qiao_status_make(QIAO_INTERNAL, "reduce: axis %lld out of range",
                              (long long)op->attrs.axes[i]);
    reduced[ax] = true;
  }
  /* the kept dims of x, in order: the output index (keepdims adds 1s only) */
  qiao_shape_t kept = {0};
  int64_t count = 1;
  for (int d = 0; d < xs->rank; ++d) {
    if (reduced[d])
      count *= xs->dims[d];
    else
      kept.dims[kept.rank++] = xs->dims[d];
  }
  int64_t nout = qiao_shape_numel(&kept);
  double *acc = malloc(sizeof(double) * (size_t)(nout ? nout : 1));
  if (!acc)
    return no_mem();
  bool is_max = op->kind == QIAO_OP_REDUCE_MAX;
  for (int64_t i = 0; i < nout; ++i)
    acc[i] = is_max ? -INFINITY : 0.0;
  int64_t n = qiao_shape_numel(xs), idx[QIAO_MAX_RANK], kst[QIAO_MAX_RANK];
  row_major_strides(&kept, kst);
  for (int64_t i = 0; i < n; ++i) {
    unravel(i, xs, idx);
    int64_t o = 0;
    for (int d = 0, k = 0; d < xs->rank; ++d)
      if (!reduced[d])
        o += idx[d] * kst[k++];
    double v = ld(x, i);
    if (is_max) {
      if (v > acc[o] || isnan(v))
        acc[o] = v;
    } else {
      acc[o] += v;
    }
  }
  for (int64_t i = 0; i < nout; ++i)
    st(out, i, op->kind == QIAO_OP_REDUCE_MEAN ? acc[i] / (double)count : acc[i]);
  free(acc);
  return NULL;
}

/* Splits shape s around axis: outer * dim * inner. */
static void split_axis(const qiao_shape_t *s, int64_t axis, int64_t *outer, int64_t *dim,
                       int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int d = 0; d < axis; ++d)
    *outer *= s->dims[d];
  for (int d = (int)axis + 1; d < s->rank; ++d)
    *inner *= s->dims[d];
  *dim = s->dims[axis];
}

static qiao_status_t run_softmax(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *out) {
  int64_t ax = norm_axis(op->attrs.axis, x->type.shape.rank);
  if (ax < 0 || ax >= x->type.shape.rank)
    return qiao_status_make(QIAO_INTERNAL, "softmax: axis out of range");
  int64_t outer, dim, inner;
  split_axis(&x->type.shape, ax, &outer, &dim, &inner);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      int64_t base = o * dim * inner + in;
      double mx = -INFINITY;
      for (int64_t j = 0; j < dim; ++j) {
        double v = ld(x, base + j * inner);
        if (v > mx || isnan(v))
          mx = v;
      }
      double sum = 0.0;
      for (int64_t j = 0; j < dim; ++j)
        sum += exp(ld(x, base + j * inner) - mx);
      for (int64_t j = 0; j < dim; ++j)
        st(out, base + j * inner, exp(ld(x, base + j * inner) - mx) / sum);
    }
  }
  return NULL;
}

/* rms_norm: x * rsqrt(mean(x^2) + eps) * w; layer_norm: (x - mean) *
 * rsqrt(var + eps) * w + b, population variance. Both over the last axis. */
static qiao_status_t run_norm(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *w,
                              qiao_tensor_t *b, qiao_tensor_t *out) {
  const qiao_shape_t *xs = &x->type.shape;
  if (xs->rank < 1)
    return qiao_status_make(QIAO_INTERNAL, "norm: rank-0 operand");
  int64_t D = xs->dims[xs->rank - 1];
  int64_t rows = D ? qiao_shape_numel(xs) / D : 0;
  if (qiao_shape_numel(&w->type.shape) != D || (b && qiao_shape_numel(&b->type.shape) != D))
    return qiao_status_make(QIAO_INTERNAL, "norm: weight size differs from the last dim");
  double eps = op->attrs.eps;
  for (int64_t r = 0; r < rows; ++r) {
    int64_t base = r * D;
    if (op->kind == QIAO_OP_RMS_NORM) {
      double ss = 0.0;
      for (int64_t j = 0; j < D; ++j)
        ss += ld(x, base + j) * ld(x, base + j);
      double inv = 1.0 / sqrt(ss / (double)D + eps);
      for (int64_t j = 0; j < D; ++j)
        st(out, base + j, ld(x, base + j) * inv * ld(w, j));
    } else {
      double mean = 0.0;
      for (int64_t j = 0; j < D; ++j)
        mean += ld(x, base + j);
      mean /= (double)D;
      double var = 0.0;
      for (int64_t j = 0; j < D; ++j) {
        double d = ld(x, base + j) - mean;
        var += d * d;
      }
      var /= (double)D;
      double inv = 1.0 / sqrt(var + eps);
      for (int64_t j = 0; j < D; ++j)
        st(out, base + j, (ld(x, base + j) - mean) * inv * ld(w, j) + ld(b, j));
    }
  }
  return NULL;
}

/* ----------------------------------------------------------- data movement */

static qiao_status_t run_transpose(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *out) {
  const qiao_shape_t *xs = &x->type.shape, *os = &out->type.shape;
  if (op->attrs.n_perm != xs->rank)
    return qiao_status_make(QIAO_INTERNAL, "transpose: perm has %d entries for rank %d",
                            (int)op->attrs.n_perm, (int)xs->rank);
  size_t es = qiao_dtype_size(x->type.dtype);
  int64_t xst[QIAO_MAX_RANK], idx[QIAO_MAX_RANK];
  row_major_strides(xs, xst);
  int64_t n = qiao_shape_numel(os);
  for (int64_t i = 0; i < n; ++i) {
    unravel(i, os, idx);
    int64_t src = 0;
    for (int d = 0; d < os->rank; ++d)
      src += idx[d] * xst[op->attrs.perm[d]];
    memcpy((char *)out->data + (size_t)i * es, (char *)x->data + (size_t)src * es, es);
  }
  return NULL;
}

/* Python slice semantics: negative start/end count from the end, then clamp. */
static void slice_start(int64_t start, int64_t end, int64_t step, int64_t n, int64_t *out_start,
                        int64_t *out_count) {
  if (step > 0) {
    if (start < 0)
      start += n;
    if (end < 0)
      end += n;
    start = start < 0 ? 0 : start > n ? n : start;
    end = end < 0 ? 0 : end > n ? n : end;
    *out_count = end > start ? (end - start + step - 1) / step : 0;
  } else {
    if (start < 0)
      start += n;
    if (end < 0)
      end += n;
    start = start < -1 ? -1 : start > n - 1 ? n - 1 : start;
    end = end < -1 ? -1 : end > n - 1 ? n - 1 : end;
    *out_count = start > end ? (start - end + (-step) - 1) / (-step) : 0;
  }
  *out_start = start;
}

static qiao_status_t run_slice(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *out) {
  const qiao_shape_t *xs = &x->type.shape;
  int64_t ax = norm_axis(op->attrs.axis, xs->rank);
  if (ax < 0 || ax >= xs->rank || op->attrs.step == 0)
    return qiao_status_make(QIAO_INTERNAL, "slice: bad axis or zero step");
  int64_t outer, dim, inner, start, count;
  split_axis(xs, ax, &outer, &dim, &inner);
  slice_start(op->attrs.start, op->attrs.end, op->attrs.step, dim, &start, &count);
  if (count != out->type.shape.dims[ax])
    return qiao_status_make(QIAO_INTERNAL, "slice: %lld elements but the result type has %lld",
                            (long long)count, (long long)out->type.shape.dims[ax]);
  size_t es = qiao_dtype_size(x->type.dtype);
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < count; ++j) {
      int64_t sj = start + j * op->attrs.step;
      memcpy((char *)out->data + (size_t)((o * count + j) * inner) * es,
             (char *)x->data + (size_t)((o * dim + sj) * inner) * es, (size_t)inner * es);
    }
  return NULL;
}

static qiao_status_t run_concat(const qiao_op_t *op, qiao_tensor_t **xs, int32_t n,
                                qiao_tensor_t *out) {
  const qiao_shape_t *os = &out->type.shape;
  int64_t ax = norm_axis(op->attrs.axis, os->rank);
  if (ax < 0 || ax >= os->rank)
    return qiao_status_make(QIAO_INTERNAL, "concat: bad axis");
  int64_t outer, odim, inner;
  split_axis(os, ax, &outer, &odim, &inner);
  size_t es = qiao_dtype_size(out->type.dtype);
  int64_t off = 0;
  for (int32_t k = 0; k < n; ++k) {
    int64_t dim = xs[k]->type.shape.dims[ax];
    for (int64_t o = 0; o < outer; ++o)
      memcpy((char *)out->data + (size_t)((o * odim + off) * inner) * es,
             (char *)xs[k]->data + (size_t)(o * dim * inner) * es, (size_t)(dim * inner) * es);
    off += dim;
  }
  if (off != odim)
    return qiao_status_make(QIAO_INTERNAL, "concat: sizes do not add up");
  return NULL;
}

/* numpy take: out = table.shape[:axis] + indices.shape + table.shape[axis+1:]. */
static qiao_status_t run_gather(const qiao_op_t *op, qiao_tensor_t *table, qiao_tensor_t *ind,
                                qiao_tensor_t *out) {
  const qiao_shape_t *ts = &table->type.shape;
  int64_t ax = norm_axis(op->attrs.axis, ts->rank);
  if (ax < 0 || ax >= ts->rank)
    return qiao_status_make(QIAO_INTERNAL, "gather: bad axis");
  int64_t outer, V, inner;
  split_axis(ts, ax, &outer, &V, &inner);
  int64_t ni = qiao_shape_numel(&ind->type.shape);
  size_t es = qiao_dtype_size(table->type.dtype);
  for (int64_t j = 0; j < ni; ++j) {
    int64_t r = ld_i64(ind, j);
    if (r < 0 || r >= V)
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "gather: index %lld (at position %lld) is out of range [0, %lld)",
                              (long long)r, (long long)j, (long long)V);
  }
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < ni; ++j) {
      int64_t r = ld_i64(ind, j);
      memcpy((char *)out->data + (size_t)((o * ni + j) * inner) * es,
             (char *)table->data + (size_t)((o * V + r) * inner) * es, (size_t)inner * es);
    }
  return NULL;
}

/* --------------------------------------------------------------- model ops */

/* x [B, H, S, D]; positions [S] or [B, S]. freq_i = theta^(-2i/D), i < D/2;
 * angle = pos * freq_i. neox pairs (i, i + D/2); gptj pairs (2i, 2i + 1). */
static qiao_status_t run_rope(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *pos,
                              qiao_tensor_t *out) {
  const qiao_shape_t *xs = &x->type.shape;
  if (xs->rank != 4)
    return qiao_status_make(QIAO_INTERNAL, "rope: x must be [B, H, S, D]");
  int64_t B = xs->dims[0], H = xs->dims[1], S = xs->dims[2], D = xs->dims[3];
  if (D % 2)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "rope: D = %lld is odd", (long long)D);
  bool per_batch = pos->type.shape.rank == 2;
  int64_t half = D / 2;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t s = 0; s < S; ++s) {
        double p = (double)ld_i64(pos, per_batch ? b * S + s : s);
        int64_t base = ((b * H + h) * S + s) * D;
        for (int64_t i = 0; i < half; ++i) {
          double freq = pow(op->attrs.theta, -2.0 * (double)i / (double)D);
          double c = cos(p * freq), sn = sin(p * freq);
          int64_t i0, i1;
          if (op->attrs.mode == QIAO_ROPE_GPTJ) {
            i0 = base + 2 * i;
            i1 = i0 + 1;
          } else {
            i0 = base + i;
            i1 = base + i + half;
          }
          double x0 = ld(x, i0), x1 = ld(x, i1);
          st(out, i0, x0 * c - x1 * sn);
          st(out, i1, x1 * c + x0 * sn);
        }
      }
  return NULL;
}

typedef struct {
  double v;
  int64_t i;
} scored_t;

/* Descending by value, ties (and equal NaNs) by the lower index; NaN ranks
 * above every number (as torch.topk does). */
static int cmp_scored_desc(const void *pa, const void *pb) {
  const scored_t *a = pa, *b = pb;
  bool an = isnan(a->v), bn = isnan(b->v);
  if (an != bn)
    return an ? -1 : 1;
  if (!an && a->v != b->v)
    return a->v > b->v ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
}

static qiao_status_t run_topk(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *vals,
                              qiao_tensor_t *inds) {
  int64_t ax = norm_axis(op->attrs.axis, x->type.shape.rank);
  if (ax < 0 || ax >= x->type.shape.rank)
    return qiao_status_make(QIAO_INTERNAL, "topk: bad axis");
  int64_t outer, dim, inner, k = op->attrs.k;
  split_axis(&x->type.shape, ax, &outer, &dim, &inner);
  if (k < 0 || k > dim)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "topk: k = %lld but the axis has %lld",
                            (long long)k, (long long)dim);
  scored_t *buf = malloc(sizeof(scored_t) * (size_t)(dim ? dim : 1));
  if (!buf)
    return no_mem();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      for (int64_t j = 0; j < dim; ++j) {
        buf[j].v = ld(x, (o * dim + j) * inner + in);
        buf[j].i = j;
      }
      qsort(buf, (size_t)dim, sizeof(scored_t), cmp_scored_desc);
      for (int64_t j = 0; j < k; ++j) {
        int64_t oi = (o * k + j) * inner + in;
        /* copy the stored value bit-exactly */
        size_t es = qiao_dtype_size(x->type.dtype);
        memcpy((char *)vals->data + (size_t)oi * es,
               (char *)x->data + (size_t)((o * dim + buf[j].i) * inner + in) * es, es);
        st_i64_wrap(inds, oi, buf[j].i);
      }
    }
  free(buf);
  return NULL;
}

/* softmax(q·kᵀ·scale + mask)·v per (b, h); GQA: query head h reads kv head
 * h / (Hq / Hkv). With kv_len, L = kv_len[b] clamped to [0, Skv] keys are
 * valid (keys j >= L are ignored); without it L = Skv. Query i sits at
 * absolute position pos = L - Sq + i (the last Sq positions, as in decode
 * over a KV cache; negative when L < Sq). causal: keys j <= pos.
 * window W > 0: keys with pos - W < j <= pos (the W most recent, itself
 * included; this bounds j <= pos even without causal). The mask is additive,
 * [Sq, Skv] or broadcastable to [B, Hq, Sq, Skv]. A row that sees no key (or
 * only keys at -inf) produces 0. */
static qiao_status_t run_attention(const qiao_op_t *op, qiao_tensor_t *q, qiao_tensor_t *k,
                                   qiao_tensor_t *v, qiao_tensor_t *mask, qiao_tensor_t *kv_len,
                                   qiao_tensor_t *out) {
  const qiao_shape_t *qs = &q->type.shape, *ks = &k->type.shape, *vs = &v->type.shape;
  if (qs->rank != 4 || ks->rank != 4 || vs->rank != 4)
    return qiao_status_make(QIAO_INTERNAL, "attention: q, k, v must be rank 4");
  int64_t B = qs->dims[0], Hq = qs->dims[1], Sq = qs->dims[2], D = qs->dims[3];
  int64_t Hkv = ks->dims[1], Skv = ks->dims[2], Dv = vs->dims[3];
  if (Hkv <= 0 || Hq % Hkv)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "attention: Hq = %lld is not a multiple of "
                            "Hkv = %lld",
                            (long long)Hq, (long long)Hkv);
  int64_t group = Hq / Hkv;
  double scale =
      op->attrs.has_scale && !isnan(op->attrs.scale) ? op->attrs.scale : 1.0 / sqrt((double)D);
  int64_t W = op->attrs.window;
  double *s = malloc(sizeof(double) * (size_t)(Skv ? Skv : 1));
  bool *seen = malloc(sizeof(bool) * (size_t)(Skv ? Skv : 1));
  if (!s || !seen) {
    free(s);
    free(seen);
    return no_mem();
  }
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t kh = h / group;
      int64_t L = Skv;
      if (kv_len) {
        int64_t lb = ld_i64(kv_len, b);
        L = lb < 0 ? 0 : lb > Skv ? Skv : lb;
      }
      for (int64_t i = 0; i < Sq; ++i) {
        int64_t pos = L - Sq + i;
        int64_t qo = ((b * Hq + h) * Sq + i) * D;
        double mx = -INFINITY;
        for (int64_t j = 0; j < Skv; ++j) {
          seen[j] = j < L;
          if (op->attrs.causal && j > pos)
            seen[j] = false;
          if (W > 0 && (j > pos || j <= pos - W))
            seen[j] = false;
          if (!seen[j])
            continue;
          int64_t ko = ((b * Hkv + kh) * Skv + j) * D;
          double dot = 0.0;
          for (int64_t d = 0; d < D; ++d)
            dot += ld(q, qo + d) * ld(k, ko + d);
          double sc = dot * scale;
          if (mask) {
            int64_t idx[4] = {b, h, i, j};
            sc += ld(mask, bcast_offset(&mask->type.shape, idx, 4));
          }
          s[j] = sc;
          if (sc > mx || isnan(sc))
            mx = sc;
        }
        int64_t oo = ((b * Hq + h) * Sq + i) * Dv;
        if (mx == -INFINITY) { /* nothing visible */
          for (int64_t d = 0; d < Dv; ++d)
            st(out, oo + d, 0.0);
          continue;
        }
        double sum = 0.0;
        for (int64_t j = 0; j < Skv; ++j)
          if (seen[j]) {
            s[j] = exp(s[j] - mx);
            sum += s[j];
          }
        for (int64_t d = 0; d < Dv; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < Skv; ++j)
            if (seen[j])
              acc += s[j] * ld(v, ((b * Hkv + kh) * Skv + j) * Dv + d);
          st(out, oo + d, acc / sum);
        }
      }
    }
  free(s);
  free(seen);
  return NULL;
}

/* Mixture of experts (SwiGLU experts). For each token t:
 *   logits = x_t · router (E), scores = softmax(logits) or sigmoid(logits),
 *   chosen = top_k experts by score (ties: lower index),
 *   w_e = score_e, divided by the sum of the chosen scores when norm_topk,
 *   out_t = Σ_e w_e · down_e(silu(x_t · gate_e) * (x_t · up_e)).
 * Rounding choice: everything inside the op (router logits, scores, the
 * expert hidden activations, the weighted sum) stays in f64; only the final
 * output is rounded to the result dtype. A backend that rounds the hidden
 * activation to bf16 differs from this by that rounding, which tests cover
 * with their tolerance. */
static qiao_status_t run_moe(const qiao_op_t *op, qiao_tensor_t *x, qiao_tensor_t *router,
                             qiao_tensor_t *gate, qiao_tensor_t *up, qiao_tensor_t *down,
                             qiao_tensor_t *out) {
  if (x->type.shape.rank != 2 || router->type.shape.rank != 2 || gate->type.shape.rank != 3)
    return qiao_status_make(QIAO_INTERNAL, "moe: bad operand ranks");
  int64_t T = x->type.shape.dims[0], D = x->type.shape.dims[1];
  int64_t E = router->type.shape.dims[1], F = gate->type.shape.dims[2];
  int64_t top_k = op->attrs.top_k;
  if (top_k < 1 || top_k > E)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe: top_k = %lld but there are %lld experts",
                            (long long)top_k, (long long)E);
  scored_t *sc = malloc(sizeof(scored_t) * (size_t)E);
  double *hid = malloc(sizeof(double) * (size_t)(F ? F : 1));
  double *acc = malloc(sizeof(double) * (size_t)(D ? D : 1));
  if (!sc || !hid || !acc) {
    free(sc);
    free(hid);
    free(acc);
    return no_mem();
  }
  for (int64_t t = 0; t < T; ++t) {
    double mx = -INFINITY;
    for (int64_t e = 0; e < E; ++e) {
      double l = 0.0;
      for (int64_t d = 0; d < D; ++d)
        l += ld(x, t * D + d) * ld(router, d * E + e);
      sc[e].v = l;
      sc[e].i = e;
      if (l > mx)
        mx = l;
    }
    if (op->attrs.router_fn == QIAO_ROUTER_SIGMOID) {
      for (int64_t e = 0; e < E; ++e)
        sc[e].v = 1.0 / (1.0 + exp(-sc[e].v));
    } else {
      double sum = 0.0;
      for (int64_t e = 0; e < E; ++e)
        sum += (sc[e].v = exp(sc[e].v - mx));
      for (int64_t e = 0; e < E; ++e)
        sc[e].v /= sum;
    }
    qsort(sc, (size_t)E, sizeof(scored_t), cmp_scored_desc);
    double wsum = 0.0;
    for (int64_t j = 0; j < top_k; ++j)
      wsum += sc[j].v;
    for (int64_t d = 0; d < D; ++d)
      acc[d] = 0.0;
    for (int64_t j = 0; j < top_k; ++j) {
      int64_t e = sc[j].i;
      double w = op->attrs.norm_topk ? sc[j].v / wsum : sc[j].v;
      for (int64_t f = 0; f < F; ++f) {
        double gs = 0.0, us = 0.0;
        for (int64_t d = 0; d < D; ++d) {
          double xv = ld(x, t * D + d);
          gs += xv * ld(gate, (e * D + d) * F + f);
          us += xv * ld(up, (e * D + d) * F + f);
        }
        hid[f] = gs / (1.0 + exp(-gs)) * us;
      }
      for (int64_t d = 0; d < D; ++d) {
        double y = 0.0;
        for (int64_t f = 0; f < F; ++f)
          y += hid[f] * ld(down, (e * F + f) * D + d);
        acc[d] += w * y;
      }
    }
    for (int64_t d = 0; d < D; ++d)
      st(out, t * D + d, acc[d]);
  }
  free(sc);
  free(hid);
  free(acc);
  return NULL;
}

/* ------------------------------------------------------------ leaves */

static qiao_status_t run_const(const qiao_op_t *op, qiao_tensor_t *out) {
  int64_t n = qiao_shape_numel(&out->type.shape);
  const qiao_attrs_t *a = &op->attrs;
  if (a->n_values != 1 && a->n_values != n)
    return qiao_status_make(QIAO_INTERNAL, "const: %lld values for %lld elements",
                            (long long)a->n_values, (long long)n);
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = a->n_values == 1 ? 0 : i;
    if (a->const_i) {
      if (qiao_dtype_is_int(out->type.dtype))
        st_i64_sat(out, i, a->const_i[j]);
      else
        st(out, i, (double)a->const_i[j]);
    } else if (a->const_f) {
      st(out, i, a->const_f[j]);
    } else {
      return qiao_status_make(QIAO_INTERNAL, "const: no values");
    }
  }
  return NULL;
}

static qiao_status_t bind_param(interp_t *in, const qiao_op_t *op,
                                const qiao_safetensors_t *weights, const char *const *param_names,
                                const qiao_tensor_t *const *params, int32_t n_params,
                                qiao_tensor_t **out) {
  const qiao_type_t *want = &in->g->values[op->results[0]].type;
  const char *name = op->attrs.param_name ? op->attrs.param_name : "";
  const qiao_tensor_t *found = NULL;
  qiao_tensor_t view;
  if (weights) {
    qiao_status_t s = qiao_safetensors_get(weights, name, &view);
    if (!s)
      found = &view;
    else if (qiao_status_code(s) != QIAO_NOT_FOUND)
      return s;
    else
      qiao_status_free(s);
  }
  for (int32_t i = 0; !found && i < n_params; ++i)
    if (param_names && param_names[i] && params && params[i] && !strcmp(param_names[i], name))
      found = params[i];
  if (!found)
    return qiao_status_make(QIAO_NOT_FOUND, "param \"%s\" not bound", name);
  if (!qiao_type_equal(&found->type, want)) {
    char w[128], h[128];
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "param \"%s\" is declared %s but bound to %s",
                            name, qiao_type_str(want, w, sizeof w),
                            qiao_type_str(&found->type, h, sizeof h));
  }
  return make_view(found->type, found->data, out);
}

/* -------------------------------------------------------------- dispatch */

static qiao_status_t run_op(interp_t *in, const qiao_op_t *op, const qiao_safetensors_t *weights,
                            const char *const *param_names, const qiao_tensor_t *const *params,
                            int32_t n_params) {
  const qiao_graph_t *g = in->g;
  if (op->kind == QIAO_OP_PARAM)
    return bind_param(in, op, weights, param_names, params, n_params, &in->vals[op->results[0]]);
  qiao_tensor_t *opnd[64];
  int32_t nop = op->n_operands;
  if (nop > 64)
    return qiao_status_make(QIAO_UNSUPPORTED, "more than 64 operands");
  for (int32_t i = 0; i < nop; ++i) {
    int32_t v = op->operands[i];
    if (v < 0 || v >= g->n_values || !in->vals[v])
      return qiao_status_make(QIAO_INTERNAL, "operand %d is not computed", i);
    opnd[i] = in->vals[v];
  }
  qiao_tensor_t *res[2] = {NULL, NULL};
  for (int32_t r = 0; r < op->n_results; ++r) {
    qiao_status_t s = new_tensor(g, op->results[r], &res[r]);
    if (s) {
      qiao_tensor_destroy(res[0]);
      return s;
    }
  }
  qiao_status_t s = NULL;
  switch (op->kind) {
  case QIAO_OP_CONST:
    s = run_const(op, res[0]);
    break;
  case QIAO_OP_ADD:
  case QIAO_OP_SUB:
  case QIAO_OP_MUL:
  case QIAO_OP_DIV:
  case QIAO_OP_MAX:
  case QIAO_OP_MIN:
  case QIAO_OP_POW:
    s = run_binary(op, opnd[0], opnd[1], res[0]);
    break;
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
  case QIAO_OP_CAST:
    s = run_unary(g, op, opnd[0], res[0]);
    break;
  case QIAO_OP_MATMUL:
    s = run_matmul(op, opnd[0], opnd[1], res[0]);
    break;
  case QIAO_OP_REDUCE_SUM:
  case QIAO_OP_REDUCE_MAX:
  case QIAO_OP_REDUCE_MEAN:
    s = run_reduce(op, opnd[0], res[0]);
    break;
  case QIAO_OP_SOFTMAX:
    s = run_softmax(op, opnd[0], res[0]);
    break;
  case QIAO_OP_RMS_NORM:
    s = run_norm(op, opnd[0], opnd[1], NULL, res[0]);
    break;
  case QIAO_OP_LAYER_NORM:
    s = run_norm(op, opnd[0], opnd[1], opnd[2], res[0]);
    break;
  case QIAO_OP_RESHAPE:
    if (qiao_tensor_nbytes(opnd[0]) != qiao_tensor_nbytes(res[0]))
      s = qiao_status_make(QIAO_INTERNAL, "reshape: element counts differ");
    else
      memcpy(res[0]->data, opnd[0]->data, qiao_tensor_nbytes(res[0]));
    break;
  case QIAO_OP_TRANSPOSE:
    s = run_transpose(op, opnd[0], res[0]);
    break;
  case QIAO_OP_SLICE:
    s = run_slice(op, opnd[0], res[0]);
    break;
  case QIAO_OP_CONCAT:
    s = run_concat(op, opnd, nop, res[0]);
    break;
  case QIAO_OP_GATHER:
    s = run_gather(op, opnd[0], opnd[1], res[0]);
    break;
  case QIAO_OP_ROPE:
    s = run_rope(op, opnd[0], opnd[1], res[0]);
    break;
  case QIAO_OP_TOPK:
    s = run_topk(op, opnd[0], res[0], res[1]);
    break;
  case QIAO_OP_ATTENTION: {
    int32_t im, ikv;
    qiao_attention_operand_roles(nop, nop > 3 ? opnd[3]->type.dtype : QIAO_F32, &im, &ikv);
    s = run_attention(op, opnd[0], opnd[1], opnd[2], im >= 0 ? opnd[im] : NULL,
                      ikv >= 0 ? opnd[ikv] : NULL, res[0]);
    break;
  }
  case QIAO_OP_MOE:
    s = run_moe(op, opnd[0], opnd[1], opnd[2], opnd[3], opnd[4], res[0]);
    break;
  default:
    s = qiao_status_make(QIAO_UNSUPPORTED, "op kind %d", (int)op->kind);
    break;
  }
  if (s) {
    qiao_tensor_destroy(res[0]);
    qiao_tensor_destroy(res[1]);
    return s;
  }
  for (int32_t r = 0; r < op->n_results; ++r)
    in->vals[op->results[r]] = res[r];
  return NULL;
}

qiao_status_t qiao_interp_run(const qiao_graph_t *g, const qiao_tensor_t *const *inputs,
                              const qiao_safetensors_t *weights, const char *const *param_names,
                              const qiao_tensor_t *const *params, int32_t n_params,
                              qiao_tensor_t **out_outputs) {
  for (int32_t i = 0; i < g->n_outputs; ++i)
    out_outputs[i] = NULL;
  interp_t in = {g, calloc((size_t)(g->n_values ? g->n_values : 1), sizeof(qiao_tensor_t *))};
  /* last_use[v]: the last op reading v; outputs live to the end. */
  int32_t *last_use = malloc(sizeof(int32_t) * (size_t)(g->n_values ? g->n_values : 1));
  if (!in.vals || !last_use) {
    free(in.vals);
    free(last_use);
    return no_mem();
  }
  for (int32_t v = 0; v < g->n_values; ++v)
    last_use[v] = -1;
  for (int32_t o = 0; o < g->n_ops; ++o)
    for (int32_t i = 0; i < g->ops[o].n_operands; ++i) {
      int32_t v = g->ops[o].operands[i];
      if (v >= 0 && v < g->n_values)
        last_use[v] = o;
    }
  for (int32_t i = 0; i < g->n_outputs; ++i)
    if (g->outputs[i] >= 0 && g->outputs[i] < g->n_values)
      last_use[g->outputs[i]] = g->n_ops;

  qiao_status_t s = NULL;
  for (int32_t i = 0; i < g->n_inputs && !s; ++i) {
    int32_t v = g->inputs[i];
    const qiao_value_t *val = &g->values[v];
    if (!inputs || !inputs[i]) {
      s = qiao_status_make(QIAO_INVALID_ARGUMENT, "input %%%s (#%d) is missing",
                           val->name ? val->name : "?", (int)i);
    } else if (!qiao_type_equal(&inputs[i]->type, &val->type)) {
      char w[128], h[128];
      s = qiao_status_make(QIAO_INVALID_ARGUMENT, "input %%%s is declared %s but given %s",
                           val->name ? val->name : "?", qiao_type_str(&val->type, w, sizeof w),
                           qiao_type_str(&inputs[i]->type, h, sizeof h));
    } else {
      s = make_view(inputs[i]->type, inputs[i]->data, &in.vals[v]);
    }
  }
  for (int32_t o = 0; o < g->n_ops && !s; ++o) {
    const qiao_op_t *op = &g->ops[o];
    s = run_op(&in, op, weights, param_names, params, n_params);
    if (s) {
      const qiao_value_t *rv = &g->values[op->results[0]];
      if (op->loc.line > 0)
        s = qiao_status_annotate(s, "%d:%d: %s%s%s", (int)op->loc.line, (int)op->loc.col,
                                 qiao_op_name(op->kind), rv->name ? " %" : "",
                                 rv->name ? rv->name : "");
      else
        s = qiao_status_annotate(s, "op #%d (%s%s%s)", (int)o, qiao_op_name(op->kind),
                                 rv->name ? " %" : "", rv->name ? rv->name : "");
      break;
    }
    for (int32_t i = 0; i < op->n_operands; ++i) {
      int32_t v = op->operands[i];
      if (v >= 0 && v < g->n_values && last_use[v] == o && in.vals[v]) {
        qiao_tensor_destroy(in.vals[v]);
        in.vals[v] = NULL;
      }
    }
    /* results nobody reads */
    for (int32_t r = 0; r < op->n_results; ++r) {
      int32_t v = op->results[r];
      if (last_use[v] < 0) {
        qiao_tensor_destroy(in.vals[v]);
        in.vals[v] = NULL;
      }
    }
  }
  for (int32_t i = 0; i < g->n_outputs && !s; ++i) {
    int32_t v = g->outputs[i];
    if (v < 0 || v >= g->n_values || !in.vals[v]) {
      s = qiao_status_make(QIAO_INTERNAL, "output %d was not computed", (int)i);
      break;
    }
    s = qiao_tensor_create(in.vals[v]->type, &out_outputs[i]);
    if (!s)
      memcpy(out_outputs[i]->data, in.vals[v]->data, qiao_tensor_nbytes(in.vals[v]));
  }
  if (s)
    for (int32_t i = 0; i < g->n_outputs; ++i) {
      qiao_tensor_destroy(out_outputs[i]);
      out_outputs[i] = NULL;
    }
  for (int32_t v = 0; v < g->n_values; ++v)
    qiao_tensor_destroy(in.vals[v]);
  free(in.vals);
  free(last_use);
  return s;
}
