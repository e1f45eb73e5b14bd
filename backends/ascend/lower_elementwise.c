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

/* The primary input of a SOFTMAX / REDUCE kernel: float, contiguous, the
 * last axis reduced. */
static bool primary_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_primary_inputs != 1)
    return refuse(reason, cap, "a row kernel with more than one primary input");
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  if (!float_io(x->type.dtype) || !float_io(kd->primary_dtype))
    return refuse(reason, cap,
                  "a non-float softmax or reduce (integer reductions are not "
                  "lowered for the Ascend class yet)");
  if (rank < 1 || !contiguous(x)) return refuse(reason, cap, "a strided or rank-0 input");
  if (kd->kind == QIAO_KD_SOFTMAX) {
    int64_t ax = kd->attrs.axis < 0 ? kd->attrs.axis + rank : kd->attrs.axis;
    if (ax != rank - 1)
      return refuse(reason, cap,
                    "softmax over an axis other than the last (not lowered for "
                    "the Ascend class yet)");
    return true;
  }
  if (kd->op != QIAO_OP_REDUCE_MAX)
    return refuse(reason, cap,
                  "reduce_sum/reduce_mean are not lowered for the Ascend class yet (f32 sums "
                  "need the max|x| scaling of docs/design.md)");
  int64_t ax = kd->attrs.n_axes == 1 ? kd->attrs.axes[0] : -99;
  if (ax < 0) ax += rank;
  if (kd->attrs.n_axes != 1 || ax != rank - 1)
    return refuse(reason, cap,
                  "a reduction over axes other than the last alone (not lowered "
                  "for the Ascend class yet)");
  return true;
}

bool ascend_ew_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  bool ew = kd->kind == QIAO_KD_ELEMENTWISE;
  if (!ew && kd->kind != QIAO_KD_SOFTMAX && kd->kind != QIAO_KD_REDUCE) {
    snprintf(reason, cap, "%s is not lowered for the Ascend class yet",
             qiao_kd_kind_name(kd->kind));
    return false;
  }
  if (kd->n_outputs != 1 || (ew && kd->n_expr < 1)) {
    snprintf(reason, cap, "a %s kernel with %d outputs and %d expression nodes",
             qiao_kd_kind_name(kd->kind), kd->n_outputs, kd->n_expr);
    return false;
  }
  if (!float_io(kd->outputs[0].type.dtype)) {
    snprintf(reason, cap,
             "%s output of dtype %s (integer and bool kernels are not "
             "lowered for the Ascend class yet)",
             qiao_kd_kind_name(kd->kind), qiao_dtype_name(kd->outputs[0].type.dtype));
    return false;
  }
  int32_t n_primary = ew ? 0 : kd->n_primary_inputs;
  if (!ew && !primary_supported(kd, reason, cap)) return false;
  for (int32_t i = n_primary; i < kd->n_inputs; ++i) {
    const qiao_kd_operand_t *in = &kd->inputs[i];
    if (!float_io(in->type.dtype)) {
      snprintf(reason, cap, "elementwise input %d of dtype %s", i, qiao_dtype_name(in->type.dtype));
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
    if (!float_io((qiao_dtype_t)n->dtype)) {
      snprintf(reason, cap, "expression node %d of dtype %s", i,
               qiao_dtype_name((qiao_dtype_t)n->dtype));
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
    if (n->kind == QIAO_EXPR_OP && n->op == QIAO_OP_CAST && !float_io((qiao_dtype_t)n->to)) {
      snprintf(reason, cap, "cast to %s", qiao_dtype_name((qiao_dtype_t)n->to));
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
  return in->type.dtype == QIAO_F32 && qiao_shape_numel(&in->type.shape) != 1 &&
         same_layout(in, &kd->outputs[0]);
}

static int64_t rb(int64_t bytes) { return (bytes + 31) / 32 * 32; }

qiao_status_t ascend_ew_plan(const qiao_kernel_desc_t *kd, int64_t ub_bytes, int64_t tile,
                             ascend_ew_plan_t *out) {
  memset(out, 0, sizeof *out);
  out->kind = kd->kind;
  out->ub_bytes = ub_bytes;
  out->n = qiao_shape_numel(&kd->outputs[0].type.shape);
  bool ew = kd->kind == QIAO_KD_ELEMENTWISE;
  out->n_primary = ew ? 0 : 1;
  out->G = 1;
  if (!ew) {
    const qiao_shape_t *xs = &kd->inputs[0].type.shape;
    out->row = xs->rank ? xs->dims[xs->rank - 1] : 1;
    if (kd->kind == QIAO_KD_REDUCE) out->G = out->row;
  }
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
  int64_t fixed = 32 * (2 * kd->n_inputs + out->n_work + 6);
  if (!ew) /* primary tile x2, as f32, the result, per-row values */
    per += out->G * (2 * (int64_t)qiao_dtype_size(kd->inputs[0].type.dtype) + 4) + 4 + 4;
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
  int64_t align = ew ? EW_TILE_ALIGN : kd->kind == QIAO_KD_SOFTMAX && out->row > 0 ? out->row : 8;
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
    int64_t b = out->in_scalar[k] ? 32 : rb(tile * (k < out->n_primary ? out->G : 1) * es);
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
    out->acc_off = at;
    at += rb(4 * tile);
    out->red_off = at;
    at += rb(4 * tile);
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
  if (dt == QIAO_F32) return;
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

/* Per-row values at red (one per row of `row` elements) broadcast over the
 * tile's len elements at dst. */
static void row_broadcast(ew_ctx_t *c, const ascend_ew_plan_t *p, LLVMValueRef dst,
                          LLVMValueRef rows) {
  int64_t dims[2] = {p->tile / p->row, p->row}, strides[2] = {1, 0};
  LLVMValueRef a[10] = {c->core,
                        I(c->m, QIAO_ASCEND_F32),
                        dst,
                        I(c->m, p->red_off),
                        rows,
                        I(c->m, 0),
                        c->len,
                        I(c->m, 2),
                        const_i64s(c->m, dims, 2, "row_dims"),
                        const_i64s(c->m, strides, 2, "row_strides")};
  ascend_uop(c->m, "qiao_ascend_vbroadcast", a, 10, "per-row value over the row");
}

/* The primary op of a SOFTMAX / REDUCE_MAX tile into p->acc_off (f32,
 * rounded to the primary dtype): the input tile cast to f32, then
 *   softmax:    m = ReduceMax; e = Exp(x - m); y = e / ReduceSum(e)
 *   reduce_max: y = ReduceMax over each output element's row */
static void emit_primary(ew_ctx_t *c, const qiao_kernel_desc_t *kd, const ascend_ew_plan_t *p,
                         LLVMValueRef in_ub) {
  ascend_module_t *m = c->m;
  qiao_cg_t *cg = &m->base;
  LLVMValueRef pbuf = I(m, p->pbuf_off), acc = I(m, p->acc_off), red = I(m, p->red_off);
  LLVMValueRef tmp = I(m, p->tmp_off);
  cast(c, QIAO_ASCEND_F32, pbuf, ascend_dtype(kd->inputs[0].type.dtype), in_ub,
       qiao_cg_imul(cg, c->len, p->G), "primary input to f32");
  if (p->kind == QIAO_KD_SOFTMAX) {
    LLVMValueRef rows = LLVMBuildSDiv(m->b, c->len, I(m, p->row), "rows");
    vreduce(c, true, red, pbuf, rows, I(m, p->row), "row max");
    row_broadcast(c, p, tmp, rows);
    vbin(c, "qiao_ascend_vsub", acc, pbuf, tmp, c->len, "x - max");
    LLVMValueRef a[5] = {c->core, I(m, QIAO_ASCEND_F32), acc, acc, c->len};
    ascend_uop(m, "qiao_ascend_vexp", a, 5, "exp");
    vreduce(c, false, red, acc, rows, I(m, p->row), "row sum");
    row_broadcast(c, p, tmp, rows);
    vbin(c, "qiao_ascend_vdiv", acc, acc, tmp, c->len, "normalize");
  } else {
    vreduce(c, true, acc, pbuf, c->len, I(m, p->G), "reduce_max over the last axis");
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
    if (n->kind == QIAO_EXPR_INPUT) {
      qiao_dtype_t dt = kd->inputs[n->input].type.dtype;
      if (p->in_resident[n->input]) {
        int32_t k = n->input;
        bool f32 = dt == QIAO_F32;
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
        if (!f32) cast(&c, QIAO_ASCEND_F32, w, ascend_dtype(dt), dst, c.len, "input to f32");
        goto node_done;
      }
      LLVMValueRef src = pingpong(&c, p->in_off[n->input]);
      if (p->in_scalar[n->input]) {
        LLVMValueRef one = I(m, 1);
        cast(&c, QIAO_ASCEND_F32, w, ascend_dtype(dt), src, one, "scalar input to f32");
        LLVMValueRef a[5] = {c.core, I(m, QIAO_ASCEND_F32), w, w, c.len};
        ascend_uop(m, "qiao_ascend_vbrcb", a, 5, "broadcast the scalar");
      } else {
        cast(&c, QIAO_ASCEND_F32, w, ascend_dtype(dt), src, c.len, "input to f32");
      }
    } else if (n->kind == QIAO_EXPR_CONST) {
      double v = qiao_round_to_dtype(n->value, (qiao_dtype_t)n->dtype);
      LLVMValueRef a[5] = {c.core, I(m, QIAO_ASCEND_F32), w, LLVMConstReal(m->t_f64, (float)v),
                           c.len};
      ascend_uop(m, "qiao_ascend_vdup", a, 5, "constant");
    } else if (n->op == QIAO_OP_CAST) {
      cast(&c, QIAO_ASCEND_F32, w, QIAO_ASCEND_F32, at[n->args[0]], c.len, "cast (copy)");
      round_to(&c, p, w, (qiao_dtype_t)n->to);
    } else {
      const char *name = vec_op_name((qiao_op_kind_t)n->op, n);
      LLVMValueRef a[6] = {c.core, I(m, QIAO_ASCEND_F32), w, at[n->args[0]], NULL, NULL};
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
  cast(&c, ascend_dtype(odt), out_ub, QIAO_ASCEND_F32, result, c.len, "to output");
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
