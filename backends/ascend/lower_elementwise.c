/* Ascend backend — ELEMENTWISE on the vector unit, as an Ascend C vector
 * kernel is written (CopyIn -> Compute -> CopyOut with double buffering):
 *
 *   SetFlag<MTE3_MTE2>(0); SetFlag<MTE3_MTE2>(1)          both tiles free
 *   for (tile t = GetBlockIdx(); t < n_tiles; t += GetBlockNum()), ping p:
 *     WaitFlag<MTE3_MTE2>(p)                              tile p free again
 *     DataCopyPad GM -> UB   per input                    (MTE2)
 *     SetFlag/WaitFlag<MTE2_V>(p)
 *     Cast to f32, the fused expression one vector op per node (each node
 *     rounded to its dtype by a Cast pair), Cast to the output dtype   (V)
 *     SetFlag/WaitFlag<V_MTE3>(p)
 *     DataCopyPad UB -> GM                                (MTE3)
 *     SetFlag<MTE3_MTE2>(p)
 *   WaitFlag<MTE3_MTE2>(0); WaitFlag<MTE3_MTE2>(1)
 *
 * MTE2 of tile t+1 overlaps the vector work of tile t and MTE3 of tile t-1.
 * Vector arithmetic is in f32 (the 910B vector unit has no bf16 arithmetic);
 * the unit operations themselves compute in f64 and round once (ascend-sim). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

enum { EW_TILE_ALIGN = 64, EW_RESIDENT_BUDGET = 48 * 1024 };

/* Elements of a broadcast/strided input a whole output reads: its largest
 * offset + 1 (strides >= 0); 0 for an empty output. */
static int64_t bcast_span(const qiao_kd_operand_t *in, const qiao_kd_operand_t *out) {
  const qiao_shape_t *s = &out->type.shape;
  if (qiao_shape_numel(s) == 0) return 0;
  int64_t span = 1;
  for (int d = 0; d < s->rank; ++d)
    span += (s->dims[d] - 1) * in->out_strides[d];
  return span;
}

/* Integer and bool dtypes the vector path takes: computed as s32 (i8 and
 * bool loaded and stored through Cast; no 64-bit integer vector arithmetic on
 * A2/A3, so i64 is refused). */
static bool int_io(qiao_dtype_t dt) { return dt == QIAO_I32 || dt == QIAO_I8 || dt == QIAO_BOOL; }

/* The compute dtype (unit-op dtype of its work buffer) of a node of dtype dt. */
static int cdt_of(qiao_dtype_t dt) { return int_io(dt) ? QIAO_ASCEND_S32 : QIAO_ASCEND_F32; }

static bool float_io(qiao_dtype_t dt) {
  return dt == QIAO_F32 || dt == QIAO_F16 || dt == QIAO_BF16 || dt == QIAO_F8E4M3 ||
         dt == QIAO_F8E5M2;
}

/* The vector unit op of an expression op; NULL when none. */
static const char *vec_op_name(qiao_op_kind_t op, const qiao_expr_node_t *n) {
  switch (op) {
  case QIAO_OP_ADD: return "qiao_ascend_vadd";
  case QIAO_OP_SUB: return "qiao_ascend_vsub";
  case QIAO_OP_MUL: return "qiao_ascend_vmul";
  case QIAO_OP_DIV: return "qiao_ascend_vdiv";
  case QIAO_OP_MAX: return "qiao_ascend_vmax";
  case QIAO_OP_MIN: return "qiao_ascend_vmin";
  case QIAO_OP_POW: return "qiao_ascend_vpow";
  case QIAO_OP_NEG: return "qiao_ascend_vneg";
  case QIAO_OP_EXP: return "qiao_ascend_vexp";
  case QIAO_OP_LOG: return "qiao_ascend_vln";
  case QIAO_OP_SQRT: return "qiao_ascend_vsqrt";
  case QIAO_OP_RSQRT: return "qiao_ascend_vrsqrt";
  case QIAO_OP_TANH: return "qiao_ascend_vtanh";
  case QIAO_OP_SIGMOID: return "qiao_ascend_vsigmoid";
  case QIAO_OP_SILU: return "qiao_ascend_vsilu";
  case QIAO_OP_GELU:
    return n && n->approximate == QIAO_GELU_TANH ? "qiao_ascend_vgelu_tanh" : "qiao_ascend_vgelu";
  case QIAO_OP_RELU: return "qiao_ascend_vrelu";
  default: return NULL;
  }
}

/* Whether operand `o` is laid out like the output (contiguous, same numel). */
static bool same_layout(const qiao_kd_operand_t *o, const qiao_kd_operand_t *out) {
  const qiao_shape_t *s = &out->type.shape;
  if (qiao_shape_numel(&o->type.shape) != qiao_shape_numel(s) || !o->out_strides) return false;
  int64_t st = 1;
  for (int d = s->rank - 1; d >= 0; --d) {
    if (s->dims[d] != 1 && o->out_strides[d] != st) return false;
    st *= s->dims[d];
  }
  return true;
}

static bool contiguous(const qiao_kd_operand_t *o) {
  int64_t st = 1;
  for (int d = o->type.shape.rank - 1; d >= 0; --d) {
    if (o->type.shape.dims[d] != 1 && o->strides[d] != st) return false;
    st *= o->type.shape.dims[d];
  }
  return true;
}

static bool refuse(char *reason, size_t cap, const char *what) {
  snprintf(reason, cap, "%s", what);
  return false;
}

/* The primary inputs of a SOFTMAX / REDUCE / NORM kernel: float,
 * contiguous; NORM's weight and bias contiguous vectors of the last dim. */
static bool primary_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  int32_t want = kd->kind == QIAO_KD_NORM ? (kd->op == QIAO_OP_LAYER_NORM ? 3 : 2) : 1;
  if (kd->n_primary_inputs != want)
    return refuse(reason, cap, "a row kernel with an unexpected number of primary inputs");
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  for (int32_t k = 0; k < want; ++k)
    if (!float_io(kd->inputs[k].type.dtype) || !contiguous(&kd->inputs[k]))
      return refuse(reason, cap,
                    !float_io(kd->inputs[k].type.dtype)
                        ? "an integer reduction (the A2/A3 vector unit's ReduceSum/ReduceMax take "
                          "half/float; exact integer sums need a 64-bit accumulator it lacks)"
                        : "a strided primary input");
  if (!float_io(kd->primary_dtype))
    return refuse(reason, cap, "a reduction with an integer result");
  if (rank < 1 && kd->kind != QIAO_KD_REDUCE) return refuse(reason, cap, "a rank-0 input");
  if (kd->kind == QIAO_KD_NORM) {
    int64_t D = x->type.shape.dims[rank - 1];
    for (int32_t k = 1; k < want; ++k)
      if (qiao_shape_numel(&kd->inputs[k].type.shape) != D)
        return refuse(reason, cap, "a norm weight or bias that is not a vector of the last dim");
    return true;
  }
  if (kd->kind == QIAO_KD_REDUCE && kd->op != QIAO_OP_REDUCE_MAX && kd->op != QIAO_OP_REDUCE_SUM &&
      kd->op != QIAO_OP_REDUCE_MEAN)
    return refuse(reason, cap, "a reduction other than reduce_sum/mean/max");
  return true;
}

bool ascend_ew_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  bool ew = kd->kind == QIAO_KD_ELEMENTWISE;
  if (!ew && kd->kind != QIAO_KD_SOFTMAX && kd->kind != QIAO_KD_REDUCE &&
      kd->kind != QIAO_KD_NORM) {
    snprintf(reason, cap, "%s is not lowered for the Ascend class yet",
             qiao_kd_kind_name(kd->kind));
    return false;
  }
  if (kd->n_outputs != 1 || (ew && kd->n_expr < 1)) {
    snprintf(reason, cap, "a %s kernel with %d outputs and %d expression nodes",
             qiao_kd_kind_name(kd->kind), kd->n_outputs, kd->n_expr);
    return false;
  }
  const char *no_i64 = "(the A2/A3 vector unit has no 64-bit integer arithmetic: Add/Mul/Max take "
                       "int16/int32)";
  qiao_dtype_t odt = kd->outputs[0].type.dtype;
  if (!float_io(odt) && !int_io(odt)) {
    snprintf(reason, cap, "%s output of dtype %s %s", qiao_kd_kind_name(kd->kind),
             qiao_dtype_name(odt), no_i64);
    return false;
  }
  int32_t n_primary = ew ? 0 : kd->n_primary_inputs;
  if (!ew && !primary_supported(kd, reason, cap)) return false;
  for (int32_t i = n_primary; i < kd->n_inputs; ++i) {
    const qiao_kd_operand_t *in = &kd->inputs[i];
    if (!float_io(in->type.dtype) && !int_io(in->type.dtype)) {
      snprintf(reason, cap, "elementwise input %d of dtype %s %s", i,
               qiao_dtype_name(in->type.dtype), no_i64);
      return false;
    }
    if (qiao_shape_numel(&in->type.shape) != 1 && !same_layout(in, &kd->outputs[0])) {
      bool ok = in->out_strides != NULL;
      for (int d = 0; ok && d < kd->outputs[0].type.shape.rank; ++d)
        ok = in->out_strides[d] >= 0;
      int64_t bytes = ok ? bcast_span(in, &kd->outputs[0]) * qiao_dtype_size(in->type.dtype) : 0;
      if (!ok || bytes > EW_RESIDENT_BUDGET) {
        snprintf(reason, cap,
                 "elementwise input %d is broadcast or strided over %lld bytes (such inputs are "
                 "kept resident in the UB, up to %d bytes)",
                 i, (long long)bytes, EW_RESIDENT_BUDGET);
        return false;
      }
    }
  }
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    const qiao_expr_node_t *n = &kd->expr[i];
    qiao_dtype_t ndt = (qiao_dtype_t)n->dtype;
    if (!float_io(ndt) && !int_io(ndt)) {
      snprintf(reason, cap, "expression node %d of dtype %s %s", i, qiao_dtype_name(ndt), no_i64);
      return false;
    }
    if (n->kind == QIAO_EXPR_OP && n->op != QIAO_OP_CAST && int_io(ndt)) {
      qiao_op_kind_t op = (qiao_op_kind_t)n->op;
      bool ok = ndt == QIAO_I32 &&
                (op == QIAO_OP_ADD || op == QIAO_OP_SUB || op == QIAO_OP_MUL || op == QIAO_OP_MAX ||
                 op == QIAO_OP_MIN || op == QIAO_OP_NEG || op == QIAO_OP_RELU);
      if (!ok) {
        snprintf(reason, cap,
                 "%s on %s (the vector unit's integer ops here: int32 Add, Sub, Mul, Max, Min, "
                 "Muls(-1), Relu)",
                 qiao_op_name(op), qiao_dtype_name(ndt));
        return false;
      }
    }
    if (n->kind == QIAO_EXPR_OP && n->op == QIAO_OP_CAST && !float_io((qiao_dtype_t)n->to) &&
        !int_io((qiao_dtype_t)n->to)) {
      snprintf(reason, cap, "cast to %s %s", qiao_dtype_name((qiao_dtype_t)n->to), no_i64);
      return false;
    }
    if (n->kind == QIAO_EXPR_ACC && ew) {
      snprintf(reason, cap, "an elementwise expression reading a primary result");
      return false;
    }
    if (n->kind == QIAO_EXPR_INPUT && n->input < n_primary) {
      snprintf(reason, cap, "an epilogue reading the primary input");
      return false;
    }
    if (n->kind == QIAO_EXPR_OP && n->op != QIAO_OP_CAST &&
        !vec_op_name((qiao_op_kind_t)n->op, n)) {
      snprintf(reason, cap, "op %s has no vector unit operation",
               qiao_op_name((qiao_op_kind_t)n->op));
      return false;
    }
  }
  return true;
}

/* Whether node i's value lives in the input tile (an f32 input, full size). */
static bool node_in_tile(const qiao_kernel_desc_t *kd, int32_t i) {
  const qiao_expr_node_t *n = &kd->expr[i];
  if (n->kind != QIAO_EXPR_INPUT) return false;
  const qiao_kd_operand_t *in = &kd->inputs[n->input];
  qiao_dtype_t want = int_io((qiao_dtype_t)n->dtype) ? QIAO_I32 : QIAO_F32;
  return in->type.dtype == want && qiao_shape_numel(&in->type.shape) != 1 &&
         same_layout(in, &kd->outputs[0]);
}

static int64_t rb(int64_t bytes) { return (bytes + 31) / 32 * 32; }

/* The row structure of a SOFTMAX / REDUCE / NORM kernel: row length G or
 * row, and the transposing views when the reduced axes are followed by kept
 * ones. */
static void plan_rows(const qiao_kernel_desc_t *kd, ascend_ew_plan_t *out) {
  const qiao_shape_t *xs = &kd->inputs[0].type.shape;
  int rank = xs->rank;
  int64_t st[QIAO_MAX_RANK]; /* row-major strides */
  for (int d = rank - 1; d >= 0; --d)
    st[d] = d == rank - 1 ? 1 : st[d + 1] * xs->dims[d + 1];
  if (kd->kind == QIAO_KD_NORM) {
    out->row = rank ? xs->dims[rank - 1] : 1;
    return;
  }
  if (kd->kind == QIAO_KD_SOFTMAX) {
    int ax = (int)(kd->attrs.axis < 0 ? kd->attrs.axis + rank : kd->attrs.axis);
    out->row = xs->dims[ax];
    out->inner = 1;
    for (int d = ax + 1; d < rank; ++d)
      out->inner *= xs->dims[d];
    out->block = out->row * out->inner;
    /* [blocks, inner, row] <- [blocks, row, inner] and back */
    out->fwd_rank = out->bwd_rank = 3;
    int64_t fd[3] = {INT64_MAX / 4, out->inner, out->row}, fs[3] = {out->block, 1, out->inner};
    int64_t bd[3] = {INT64_MAX / 4, out->row, out->inner}, bs[3] = {out->block, 1, out->row};
    memcpy(out->fwd_dims, fd, sizeof fd);
    memcpy(out->fwd_strides, fs, sizeof fs);
    memcpy(out->bwd_dims, bd, sizeof bd);
    memcpy(out->bwd_strides, bs, sizeof bs);
    return;
  }
  bool red[QIAO_MAX_RANK] = {false};
  for (int i = 0; i < kd->attrs.n_axes; ++i) {
    int64_t a = kd->attrs.axes[i] < 0 ? kd->attrs.axes[i] + rank : kd->attrs.axes[i];
    if (a >= 0 && a < rank) red[a] = true;
  }
  int first = rank;
  for (int d = 0; d < rank; ++d)
    if (red[d]) {
      first = d;
      break;
    }
  out->G = 1;
  out->inner = 1;
  for (int d = first; d < rank; ++d) {
    if (red[d])
      out->G *= xs->dims[d];
    else
      out->inner *= xs->dims[d];
  }
  out->row = out->G;
  out->block = out->G * out->inner;
  out->count = (double)out->G;
  /* [blocks, kept dims of the block..., reduced dims...] */
  int n = 0;
  out->fwd_dims[n] = INT64_MAX / 4;
  out->fwd_strides[n++] = out->block;
  for (int d = first; d < rank; ++d)
    if (!red[d]) {
      out->fwd_dims[n] = xs->dims[d];
      out->fwd_strides[n++] = st[d];
    }
  for (int d = first; d < rank; ++d)
    if (red[d]) {
      out->fwd_dims[n] = xs->dims[d];
      out->fwd_strides[n++] = st[d];
    }
  out->fwd_rank = n;
}

qiao_status_t ascend_ew_plan(const qiao_kernel_desc_t *kd, int64_t ub_bytes, int64_t tile,
                             ascend_ew_plan_t *out) {
  memset(out, 0, sizeof *out);
  out->kind = kd->kind;
  out->ub_bytes = ub_bytes;
  out->n = qiao_shape_numel(&kd->outputs[0].type.shape);
  bool ew = kd->kind == QIAO_KD_ELEMENTWISE;
  out->op = kd->op;
  out->n_primary = ew ? 0 : kd->n_primary_inputs;
  out->G = 1;
  out->inner = 1;
  if (!ew) plan_rows(kd, out);
  /* work buffers by liveness: a node's buffer is free after its last use;
   * ACC nodes read the primary result's buffer (-2) */
  int32_t last[QIAO_EXPR_MAX_NODES];
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    last[i] = i == kd->n_expr - 1 ? kd->n_expr : i;
    out->node_work[i] = -1;
  }
  for (int32_t i = 0; i < kd->n_expr; ++i)
    if (kd->expr[i].kind == QIAO_EXPR_OP)
      for (int a = 0; a < 2; ++a)
        if (kd->expr[i].args[a] >= 0) last[kd->expr[i].args[a]] = i;
  int32_t free_list[QIAO_EXPR_MAX_NODES], n_free = 0;
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    if (kd->expr[i].kind == QIAO_EXPR_ACC)
      out->node_work[i] = -2;
    else if (!node_in_tile(kd, i))
      out->node_work[i] = n_free ? free_list[--n_free] : out->n_work++;
    for (int32_t j = 0; j <= i; ++j) /* buffers whose last use is node i */
      if (last[j] == i && out->node_work[j] >= 0 && j != i) free_list[n_free++] = out->node_work[j];
    if (last[i] == i && out->node_work[i] >= 0) free_list[n_free++] = out->node_work[i];
  }
  /* bytes per output element, fixed bytes (with 32 B of rounding slack per buffer) */
  int64_t per = 2 * (int64_t)qiao_dtype_size(kd->outputs[0].type.dtype) + 4 * out->n_work + 4;
  int64_t fixed = 32 * (2 * kd->n_inputs + out->n_work + 12);
  /* a transposed tile (or the scratch of scaled sums); squares and two more
   * per-row buffers for norms */
  bool need_t = out->inner > 1 || (kd->kind == QIAO_KD_REDUCE && kd->op != QIAO_OP_REDUCE_MAX);
  bool need_n = kd->kind == QIAO_KD_NORM;
  if (!ew) /* primary tile x2, as f32, the result, per-row values */
    per +=
        out->G * (2 * (int64_t)qiao_dtype_size(kd->inputs[0].type.dtype) + 4 + (need_t ? 4 : 0)) +
        4 + 4 + (need_n ? 3 * 4 : 0);
  for (int32_t k = 1; k < out->n_primary; ++k) { /* NORM weight, bias: resident */
    out->in_resident[k] = true;
    out->res_elems[k] = out->row;
    fixed += rb(out->row * (int64_t)qiao_dtype_size(kd->inputs[k].type.dtype));
  }
  for (int32_t k = out->n_primary; k < kd->n_inputs; ++k) {
    const qiao_kd_operand_t *in = &kd->inputs[k];
    out->in_scalar[k] = qiao_shape_numel(&in->type.shape) == 1;
    out->in_resident[k] = !out->in_scalar[k] && !same_layout(in, &kd->outputs[0]);
    if (out->in_scalar[k]) {
      fixed += 2 * 32;
    } else if (out->in_resident[k]) {
      out->res_elems[k] = bcast_span(in, &kd->outputs[0]);
      fixed += rb(out->res_elems[k] * (int64_t)qiao_dtype_size(in->type.dtype));
    } else
      per += 2 * (int64_t)qiao_dtype_size(kd->inputs[k].type.dtype);
  }
  /* tiles: multiples of 64 elements (elementwise), of whole rows (softmax) */
  int64_t align = ew                           ? EW_TILE_ALIGN
                  : kd->kind == QIAO_KD_REDUCE ? (out->inner > 1 ? out->inner : 8)
                  : out->row * out->inner > 0  ? out->row * out->inner
                                               : 8;
  int64_t fit = ub_bytes > fixed ? (ub_bytes - fixed) / per / align * align : 0;
  const char *what = ew ? "an elementwise tile" : "a row tile";
  if (tile == 0) {
    tile = fit;
    int64_t whole = (out->n + align - 1) / align * align;
    if (whole > 0 && whole < tile) tile = whole;
    if (tile < align)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                              "ascend: UB overflow: %s of %lld elements needs "
                              "%lld bytes of UB (%lld per element + %lld), the UB has %lld",
                              what, (long long)align, (long long)(align * per + fixed),
                              (long long)per, (long long)fixed, (long long)ub_bytes);
  } else if (tile % align || tile * per + fixed > ub_bytes) {
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "ascend: UB overflow: %s of %lld elements needs %lld "
                            "bytes of UB (%lld per element + %lld), the UB has %lld%s",
                            what, (long long)tile, (long long)(tile * per + fixed), (long long)per,
                            (long long)fixed, (long long)ub_bytes,
                            tile % align ? " (and tiles are multiples of the alignment)" : "");
  }
  out->tile = tile;
  out->n_tiles = (out->n + tile - 1) / tile;
  int64_t at = 0;
  for (int32_t k = 0; k < kd->n_inputs; ++k) {
    int64_t es = (int64_t)qiao_dtype_size(kd->inputs[k].type.dtype);
    if (out->in_resident[k]) {
      out->res_off[k] = at;
      at += rb(out->res_elems[k] * es);
      continue;
    }
    int64_t b = out->in_scalar[k] ? 32 : rb(tile * (k == 0 && out->n_primary ? out->G : 1) * es);
    out->in_off[k][0] = at;
    out->in_off[k][1] = at + b;
    at += 2 * b;
  }
  int64_t ob = rb(tile * (int64_t)qiao_dtype_size(kd->outputs[0].type.dtype));
  out->out_off[0] = at;
  out->out_off[1] = at + ob;
  at += 2 * ob;
  for (int32_t w = 0; w < out->n_work; ++w, at += rb(4 * tile))
    out->work_off[w] = at;
  out->tmp_off = at;
  at += rb(4 * tile);
  if (!ew) {
    out->pbuf_off = at;
    at += rb(4 * tile * out->G);
    out->tbuf_off = at;
    at += need_t ? rb(4 * tile * out->G) : 0;
    out->acc_off = at;
    at += rb(4 * tile);
    out->x2_off = at;
    at += need_n ? rb(4 * tile) : 0;
    out->red_off = at;
    at += rb(4 * tile);
    out->red2_off = at;
    at += need_n ? rb(4 * tile) : 0;
    out->red3_off = at;
    at += need_n ? rb(4 * tile) : 0;
  }
  out->ub_used = at;
  if (at > ub_bytes)
    return qiao_status_make(QIAO_INTERNAL, "ascend: UB plan of %lld bytes exceeds %lld",
                            (long long)at, (long long)ub_bytes);
  return NULL;
}

/* ------------------------------------------------------------ emission */

typedef struct ew_ctx {
  ascend_module_t *m;
  LLVMValueRef core, len, ping;
} ew_ctx_t;

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }

/* off0 + ping * (off1 - off0) */
static LLVMValueRef pingpong(ew_ctx_t *c, const int64_t off[2]) {
  return qiao_cg_imadd(&c->m->base, I(c->m, off[0]), c->ping, off[1] - off[0]);
}

/* A private constant i64 array of the module (n >= 1 elements emitted). */
static LLVMValueRef const_i64s(ascend_module_t *m, const int64_t *v, int n, const char *name) {
  LLVMValueRef el[QIAO_MAX_RANK + 1];
  int k = n > 0 ? n : 1;
  for (int i = 0; i < k; ++i)
    el[i] = I(m, i < n ? v[i] : 0);
  LLVMTypeRef ty = LLVMArrayType2(m->t_i64, (uint64_t)k);
  LLVMValueRef g = LLVMAddGlobal(m->mod, ty, name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, (uint64_t)k));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

static void cast(ew_ctx_t *c, int dst_dt, LLVMValueRef dst, int src_dt, LLVMValueRef src,
                 LLVMValueRef n, const char *note) {
  LLVMValueRef a[6] = {c->core, I(c->m, dst_dt), dst, I(c->m, src_dt), src, n};
  ascend_uop(c->m, "qiao_ascend_vcast", a, 6, note);
}

/* Rounds the f32 values at w to dtype dt through the temp (two Casts). */
static void round_to(ew_ctx_t *c, const ascend_ew_plan_t *p, LLVMValueRef w, qiao_dtype_t dt) {
  if (dt == QIAO_F32 || dt == QIAO_I32 || dt == QIAO_BOOL) return; /* bool: 0/1 already */
  if (dt == QIAO_I8) {                                             /* saturate through s8 */
    LLVMValueRef tmp = I(c->m, p->tmp_off);
    cast(c, QIAO_ASCEND_S8, tmp, QIAO_ASCEND_S32, w, c->len, "round to i8");
    cast(c, QIAO_ASCEND_S32, w, QIAO_ASCEND_S8, tmp, c->len, "");
    return;
  }
  LLVMValueRef tmp = I(c->m, p->tmp_off);
  cast(c, ascend_dtype(dt), tmp, QIAO_ASCEND_F32, w, c->len, "round to node dtype");
  cast(c, QIAO_ASCEND_F32, w, ascend_dtype(dt), tmp, c->len, "");
}

static void flag(ew_ctx_t *c, bool set, int src, int dst, LLVMValueRef id) {
  LLVMValueRef a[4] = {c->core, I(c->m, src), I(c->m, dst), id};
  ascend_uop(c->m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

static void vbin(ew_ctx_t *c, const char *name, LLVMValueRef dst, LLVMValueRef a0, LLVMValueRef a1,
                 LLVMValueRef n, const char *note) {
  LLVMValueRef a[6] = {c->core, I(c->m, QIAO_ASCEND_F32), dst, a0, a1, n};
  ascend_uop(c->m, name, a, 6, note);
}

static void vreduce(ew_ctx_t *c, bool is_max, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef rows,
                    LLVMValueRef cols, const char *note) {
  LLVMValueRef a[6] = {c->core, I(c->m, QIAO_ASCEND_F32), dst, src, rows, cols};
  ascend_uop(c->m, is_max ? "qiao_ascend_vreduce_max" : "qiao_ascend_vreduce_sum", a, 6, note);
}

/* Row sums that keep small terms past cancelling huge ones (TwoSum). */
static void vsum_comp(ew_ctx_t *c, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef rows,
                      LLVMValueRef cols, const char *note) {
  LLVMValueRef a[6] = {c->core, I(c->m, QIAO_ASCEND_F32), dst, src, rows, cols};
  ascend_uop(c->m, "qiao_ascend_vreduce_sum_comp", a, 6, note);
}

/* Per-row values at src (one per row of `row` elements) broadcast over the
 * rows * row elements at dst. */
static void row_broadcast(ew_ctx_t *c, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef rows,
                          int64_t row) {
  int64_t dims[2] = {INT64_MAX / 4, row}, strides[2] = {1, 0};
  LLVMValueRef n = qiao_cg_imul(&c->m->base, rows, row);
  LLVMValueRef a[10] = {c->core,
                        I(c->m, QIAO_ASCEND_F32),
                        dst,
                        src,
                        rows,
                        I(c->m, 0),
                        n,
                        I(c->m, 2),
                        const_i64s(c->m, dims, 2, "row_dims"),
                        const_i64s(c->m, strides, 2, "row_strides")};
  ascend_uop(c->m, "qiao_ascend_vbroadcast", a, 10, "per-row value over the row");
}

/* dst = the index view (rank, dims, strides) of the n f32 elements at src:
 * a Gather over offsets the vector unit computes (transposes in the UB). */
static void view_gather(ew_ctx_t *c, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef n, int rank,
                        const int64_t *dims, const int64_t *strides, const char *note) {
  LLVMValueRef a[10] = {c->core,
                        I(c->m, QIAO_ASCEND_F32),
                        dst,
                        src,
                        n,
                        I(c->m, 0),
                        n,
                        I(c->m, rank),
                        const_i64s(c->m, dims, rank, "view_dims"),
                        const_i64s(c->m, strides, rank, "view_strides")};
  ascend_uop(c->m, "qiao_ascend_vbroadcast", a, 10, note);
}

static void vun1(ew_ctx_t *c, const char *name, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef n,
                 const char *note) {
  LLVMValueRef a[5] = {c->core, I(c->m, QIAO_ASCEND_F32), dst, src, n};
  ascend_uop(c->m, name, a, 5, note);
}

static void vsc(ew_ctx_t *c, const char *name, LLVMValueRef dst, LLVMValueRef src, double v,
                LLVMValueRef n, const char *note) {
  LLVMValueRef a[6] = {c->core, I(c->m, QIAO_ASCEND_F32),      dst,
                       src,     LLVMConstReal(c->m->t_f64, v), n};
  ascend_uop(c->m, name, a, 6, note);
}

/* A resident NORM weight or bias (input k) broadcast over the tile's rows, as
 * f32 at dst (through tmp for other dtypes). */
static void norm_param(ew_ctx_t *c, const qiao_kernel_desc_t *kd, const ascend_ew_plan_t *p,
                       int32_t k, LLVMValueRef dst, LLVMValueRef tmp) {
  ascend_module_t *m = c->m;
  qiao_dtype_t dt = kd->inputs[k].type.dtype;
  int64_t dims[2] = {INT64_MAX / 4, p->row}, strides[2] = {0, 1};
  LLVMValueRef to = dt == QIAO_F32 ? dst : tmp;
  LLVMValueRef a[10] = {c->core,
                        I(m, ascend_dtype(dt)),
                        to,
                        I(m, p->res_off[k]),
                        I(m, p->row),
                        I(m, 0),
                        c->len,
                        I(m, 2),
                        const_i64s(m, dims, 2, "w_dims"),
                        const_i64s(m, strides, 2, "w_strides")};
  ascend_uop(m, "qiao_ascend_vbroadcast", a, 10, k == 1 ? "weight over the rows" : "bias");
  if (dt != QIAO_F32) cast(c, QIAO_ASCEND_F32, dst, ascend_dtype(dt), tmp, c->len, "to f32");
}

/* M = clamp(max |x| per row, 1, FLT_MAX) into red, and y = x / M into dst:
 * the scaling that keeps f32 sums and squares of huge finite values from
 * overflowing (docs/design.md, "NaN and edge values"); inf and NaN rows keep
 * their inf/NaN sums. */
static void scale_rows(ew_ctx_t *c, LLVMValueRef dst, LLVMValueRef src, LLVMValueRef scratch,
                       LLVMValueRef red, LLVMValueRef rows, int64_t row) {
  LLVMValueRef n = qiao_cg_imul(&c->m->base, rows, row);
  vun1(c, "qiao_ascend_vabs", scratch, src, n, "|x|");
  vreduce(c, true, red, scratch, rows, I(c->m, row), "row max |x|");
  vsc(c, "qiao_ascend_vmaxs", red, red, 1.0, rows, "M = max(max|x|, 1)");
  vsc(c, "qiao_ascend_vmins", red, red, 3.4028234663852886e38, rows, "M = min(M, FLT_MAX)");
  row_broadcast(c, scratch, red, rows, row);
  vbin(c, "qiao_ascend_vdiv", dst, src, scratch, n, "y = x / M");
}

/* The primary op of a tile into p->acc_off (f32, rounded to the primary
 * dtype), from the input tile cast to f32 (transposed first when the rows
 * are not contiguous):
 *   softmax:     m = ReduceMax; e = Exp(x - m); y = e / ReduceSum(e)
 *   reduce_max:  ReduceMax per row
 *   reduce_sum:  M * ReduceSum(x / M), M = clamp(max|x|, 1, FLT_MAX); mean: / count
 *   rms_norm:    y = x / M; y * Rsqrt(mean(y²) + eps / M / M) * w
 *   layer_norm:  y = x / M; d = y - mean(y); d * Rsqrt(mean(d²) + eps / M / M) * w + b */
static void emit_primary(ew_ctx_t *c, const qiao_kernel_desc_t *kd, const ascend_ew_plan_t *p,
                         LLVMValueRef in_ub) {
  ascend_module_t *m = c->m;
  qiao_cg_t *cg = &m->base;
  LLVMValueRef pbuf = I(m, p->pbuf_off), tbuf = I(m, p->tbuf_off), acc = I(m, p->acc_off);
  LLVMValueRef red = I(m, p->red_off), red2 = I(m, p->red2_off), red3 = I(m, p->red3_off);
  LLVMValueRef x2 = I(m, p->x2_off), tmp = I(m, p->tmp_off);
  LLVMValueRef n_in = qiao_cg_imul(cg, c->len, p->G);
  cast(c, QIAO_ASCEND_F32, pbuf, ascend_dtype(kd->inputs[0].type.dtype), in_ub, n_in,
       "primary input to f32");
  LLVMValueRef src = pbuf, other = tbuf;
  if (p->inner > 1) {
    view_gather(c, tbuf, pbuf, n_in, p->fwd_rank, p->fwd_dims, p->fwd_strides,
                "Gather: transpose so each row is contiguous");
    src = tbuf;
    other = pbuf;
  }
  if (p->kind == QIAO_KD_SOFTMAX) {
    LLVMValueRef rows = LLVMBuildSDiv(m->b, c->len, I(m, p->row > 0 ? p->row : 1), "rows");
    LLVMValueRef res = p->inner > 1 ? other : acc;
    vreduce(c, true, red, src, rows, I(m, p->row), "row max");
    row_broadcast(c, res, red, rows, p->row);
    vbin(c, "qiao_ascend_vsub", res, src, res, c->len, "x - max");
    vun1(c, "qiao_ascend_vexp", res, res, c->len, "exp");
    vreduce(c, false, red, res, rows, I(m, p->row), "row sum");
    row_broadcast(c, src, red, rows, p->row);
    vbin(c, "qiao_ascend_vdiv", res, res, src, c->len, "normalize");
    if (p->inner > 1)
      view_gather(c, acc, res, c->len, p->bwd_rank, p->bwd_dims, p->bwd_strides,
                  "Gather: transpose back");
  } else if (p->kind == QIAO_KD_REDUCE) {
    if (p->op == QIAO_OP_REDUCE_MAX) {
      vreduce(c, true, acc, src, c->len, I(m, p->G), "ReduceMax per output element");
    } else {
      scale_rows(c, other, src, other, red, c->len, p->G);
      vsum_comp(c, acc, other, c->len, I(m, p->G), "sum of x / M");
      vbin(c, "qiao_ascend_vmul", acc, acc, red, c->len, "sum = M * sum(x / M)");
      if (p->op == QIAO_OP_REDUCE_MEAN)
        vsc(c, "qiao_ascend_vmuls", acc, acc, p->count > 0 ? 1.0 / p->count : NAN, c->len,
            "mean = sum / count");
    }
  } else { /* NORM over the last axis: rows of p->row */
    bool layer = p->op == QIAO_OP_LAYER_NORM;
    int64_t D = p->row;
    LLVMValueRef rows = LLVMBuildSDiv(m->b, c->len, I(m, D > 0 ? D : 1), "rows");
    double invD = D > 0 ? 1.0 / (double)D : NAN;
    scale_rows(c, acc, src, x2, red, rows, D);
    if (layer) {
      vsum_comp(c, red2, acc, rows, I(m, D), "sum y");
      vsc(c, "qiao_ascend_vmuls", red2, red2, invD, rows, "mean y");
      row_broadcast(c, x2, red2, rows, D);
      vbin(c, "qiao_ascend_vsub", acc, acc, x2, c->len, "d = y - mean y");
    }
    vbin(c, "qiao_ascend_vmul", x2, acc, acc, c->len, "squares");
    vsum_comp(c, red2, x2, rows, I(m, D), "sum of squares");
    vsc(c, "qiao_ascend_vmuls", red2, red2, invD, rows, layer ? "var y" : "mean square");
    LLVMValueRef a[5] = {c->core, I(m, QIAO_ASCEND_F32), red3,
                         LLVMConstReal(m->t_f64, kd->attrs.eps), rows};
    ascend_uop(m, "qiao_ascend_vdup", a, 5, "eps");
    vbin(c, "qiao_ascend_vdiv", red3, red3, red, rows, "eps / M");
    vbin(c, "qiao_ascend_vdiv", red3, red3, red, rows, "eps / M / M");
    vbin(c, "qiao_ascend_vadd", red2, red2, red3, rows, "+ eps (scaled)");
    vun1(c, "qiao_ascend_vrsqrt", red2, red2, rows, "rsqrt");
    row_broadcast(c, x2, red2, rows, D);
    vbin(c, "qiao_ascend_vmul", acc, acc, x2, c->len, "normalized");
    norm_param(c, kd, p, 1, x2, tmp);
    vbin(c, "qiao_ascend_vmul", acc, acc, x2, c->len, "* weight");
    if (layer) {
      norm_param(c, kd, p, 2, x2, tmp);
      vbin(c, "qiao_ascend_vadd", acc, acc, x2, c->len, "+ bias");
    }
  }
  round_to(c, p, acc, kd->primary_dtype);
}

qiao_status_t ascend_lower_elementwise(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                       LLVMValueRef fn, const ascend_ew_plan_t *p) {
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  ew_ctx_t c = {.m = m, .core = LLVMGetParam(fn, 5)};
  LLVMValueRef bind = LLVMGetParam(fn, 0);
  LLVMValueRef gm_in[QIAO_KD_MAX_OPERANDS], gm_out = NULL;
  for (int32_t k = 0; k <= kd->n_inputs; ++k) {
    LLVMValueRef slot = LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, "");
    LLVMValueRef v = LLVMBuildLoad2(b, m->t_ptr, slot, k < kd->n_inputs ? "gm_in" : "gm_out");
    if (k < kd->n_inputs)
      gm_in[k] = v;
    else
      gm_out = v;
  }
  ascend_listing_printf(m,
                        "  UB plan: tile %lld output elements, %lld tiles, %lld of %lld bytes "
                        "(inputs and output double-buffered, %d f32 work buffers)\n",
                        (long long)p->tile, (long long)p->n_tiles, (long long)p->ub_used,
                        (long long)p->ub_bytes, p->n_work);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &c.core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &c.core, 1, NULL);
  LLVMValueRef ntiles = I(m, p->n_tiles);
  /* iterations of this block: ceil((n_tiles - blk) / bn) when blk < n_tiles */
  LLVMValueRef rem = LLVMBuildSub(b, ntiles, blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters =
      LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "iters");
  for (int32_t k = 0; k < kd->n_inputs; ++k)
    if (p->in_resident[k]) {
      int64_t es = qiao_dtype_size(kd->inputs[k].type.dtype);
      LLVMValueRef a[4] = {c.core, I(m, p->res_off[k]), gm_in[k], I(m, p->res_elems[k] * es)};
      ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "broadcast input, resident");
    }
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
  ascend_listing_printf(m, "  loop over this block's tiles (ping-pong p = iteration & 1):\n");
  qiao_cg_loop_t loop;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "it", &loop);
  c.ping = LLVMBuildAnd(b, loop.iv, I(m, 1), "ping");
  LLVMValueRef t = LLVMBuildAdd(b, blk, LLVMBuildMul(b, loop.iv, bn, ""), "tile");
  LLVMValueRef start = qiao_cg_imul(cg, t, p->tile);
  c.len = qiao_cg_imin(cg, I(m, p->tile), LLVMBuildSub(b, I(m, p->n), start, ""));
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, c.ping);
  /* CopyIn */
  for (int32_t k = 0; k < kd->n_inputs; ++k) {
    if (p->in_resident[k]) continue;
    int64_t es = qiao_dtype_size(kd->inputs[k].type.dtype);
    int64_t g = k < p->n_primary ? p->G : 1; /* input elements per output element */
    LLVMValueRef src = gm_in[k], bytes = I(m, es);
    if (!p->in_scalar[k]) {
      src = LLVMBuildGEP2(b, m->t_i8, gm_in[k], (LLVMValueRef[]){qiao_cg_imul(cg, start, es * g)},
                          1, "");
      bytes = qiao_cg_imul(cg, c.len, es * g);
    }
    LLVMValueRef a[4] = {c.core, pingpong(&c, p->in_off[k]), src, bytes};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "input tile");
  }
  flag(&c, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, c.ping);
  flag(&c, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, c.ping);
  /* Compute: the primary op (softmax, reduce), then one f32 location per node */
  if (p->n_primary) emit_primary(&c, kd, p, pingpong(&c, p->in_off[0]));
  LLVMValueRef at[QIAO_EXPR_MAX_NODES];
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    const qiao_expr_node_t *n = &kd->expr[i];
    if (p->node_work[i] == -2) { /* the primary result */
      at[i] = I(m, p->acc_off);
      continue;
    }
    if (p->node_work[i] < 0) { /* an f32 input tile, used in place */
      at[i] = pingpong(&c, p->in_off[n->input]);
      continue;
    }
    LLVMValueRef w = I(m, p->work_off[p->node_work[i]]);
    at[i] = w;
    int cdt = cdt_of((qiao_dtype_t)n->dtype);
    if (n->kind == QIAO_EXPR_INPUT) {
      qiao_dtype_t dt = kd->inputs[n->input].type.dtype;
      if (p->in_resident[n->input]) {
        int32_t k = n->input;
        bool f32 = ascend_dtype(dt) == cdt;
        LLVMValueRef dst = f32 ? w : I(m, p->tmp_off);
        LLVMValueRef a[10] = {
            c.core,
            I(m, ascend_dtype(dt)),
            dst,
            I(m, p->res_off[k]),
            I(m, p->res_elems[k]),
            start,
            c.len,
            I(m, kd->outputs[0].type.shape.rank),
            const_i64s(m, kd->outputs[0].type.shape.dims, kd->outputs[0].type.shape.rank, "dims"),
            const_i64s(m, kd->inputs[k].out_strides, kd->outputs[0].type.shape.rank, "strides")};
        ascend_uop(m, "qiao_ascend_vbroadcast", a, 10, "broadcast input tile");
        if (!f32) cast(&c, cdt, w, ascend_dtype(dt), dst, c.len, "input to the compute dtype");
        goto node_done;
      }
      LLVMValueRef src = pingpong(&c, p->in_off[n->input]);
      if (p->in_scalar[n->input]) {
        LLVMValueRef one = I(m, 1);
        cast(&c, cdt, w, ascend_dtype(dt), src, one, "scalar input to the compute dtype");
        LLVMValueRef a[5] = {c.core, I(m, cdt), w, w, c.len};
        ascend_uop(m, "qiao_ascend_vbrcb", a, 5, "broadcast the scalar");
      } else {
        cast(&c, cdt, w, ascend_dtype(dt), src, c.len, "input to the compute dtype");
      }
    } else if (n->kind == QIAO_EXPR_CONST) {
      double v = qiao_round_to_dtype(n->value, (qiao_dtype_t)n->dtype);
      LLVMValueRef a[5] = {c.core, I(m, cdt), w,
                           LLVMConstReal(m->t_f64, cdt == QIAO_ASCEND_F32 ? (float)v : v), c.len};
      ascend_uop(m, "qiao_ascend_vdup", a, 5, "constant");
    } else if (n->op == QIAO_OP_CAST) {
      int scdt = cdt_of((qiao_dtype_t)kd->expr[n->args[0]].dtype);
      if ((qiao_dtype_t)n->to == QIAO_BOOL) {
        LLVMValueRef a[6] = {c.core, I(m, cdt), w, I(m, scdt), at[n->args[0]], c.len};
        ascend_uop(m, "qiao_ascend_vnez", a, 6, "cast to bool: x != 0");
      } else {
        cast(&c, cdt, w, scdt, at[n->args[0]], c.len, "cast");
        round_to(&c, p, w, (qiao_dtype_t)n->to);
      }
    } else {
      const char *name = vec_op_name((qiao_op_kind_t)n->op, n);
      LLVMValueRef a[6] = {c.core, I(m, cdt), w, at[n->args[0]], NULL, NULL};
      unsigned na = 4;
      if (qiao_op_schema((qiao_op_kind_t)n->op)->min_operands >= 2) a[na++] = at[n->args[1]];
      a[na++] = c.len;
      ascend_uop(m, name, a, na, qiao_op_name((qiao_op_kind_t)n->op));
    }
    if (n->kind == QIAO_EXPR_OP) round_to(&c, p, w, (qiao_dtype_t)n->dtype);
  node_done:;
  }
  qiao_dtype_t odt = kd->outputs[0].type.dtype;
  LLVMValueRef out_ub = pingpong(&c, p->out_off);
  LLVMValueRef result = kd->n_expr > 0 ? at[kd->n_expr - 1] : I(m, p->acc_off);
  int rcdt =
      kd->n_expr > 0 ? cdt_of((qiao_dtype_t)kd->expr[kd->n_expr - 1].dtype) : QIAO_ASCEND_F32;
  cast(&c, ascend_dtype(odt), out_ub, rcdt, result, c.len, "to output");
  flag(&c, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, c.ping);
  flag(&c, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, c.ping);
  /* CopyOut */
  int64_t os = qiao_dtype_size(odt);
  LLVMValueRef dst =
      LLVMBuildGEP2(b, m->t_i8, gm_out, (LLVMValueRef[]){qiao_cg_imul(cg, start, os)}, 1, "");
  LLVMValueRef a[4] = {c.core, dst, out_ub, qiao_cg_imul(cg, c.len, os)};
  ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", a, 4, "output tile");
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, c.ping);
  qiao_cg_loop_end(cg, &loop);
  ascend_listing_printf(m, "  end loop\n");
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
  LLVMBuildRetVoid(b);
  return NULL;
}
