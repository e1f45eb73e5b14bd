/* Ascend backend — TOPK on a vector core (AIV): the input as blocks of
 * dim x inner elements ([outer, dim, inner] around the axis), tiles of whole
 * blocks over the blocks of the launch, double-buffered:
 *
 *   WaitFlag<MTE3_MTE2>(p); DataCopyPad GM -> UB (T blocks)          (MTE2)
 *   SetFlag/WaitFlag<MTE2_V>(p)
 *   [Gather: [T, dim, inner] -> [T, inner, dim], rows contiguous]     (V)
 *   TopK per row -> values (bit-exact) and s32 indices                (V)
 *   [Gather back: [T, inner, k] -> [T, k, inner], values and indices]
 *   Cast s32 -> s64 (the i64 index output)
 *   SetFlag/WaitFlag<V_MTE3>(p); DataCopyPad UB -> GM, both outputs   (MTE3)
 *   SetFlag<MTE3_MTE2>(p) */
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }
static int64_t rb(int64_t bytes) { return (bytes + 31) / 32 * 32; }

typedef struct tk_plan {
  int64_t outer, dim, inner, k, es, ces; /* element sizes: input, compute (bf16 sorts as f32) */
  int64_t T;                             /* blocks per tile */
  int64_t in_off, c_off, t_off, v_off, i_off, vo_off, io_off, i64_off, vb_off, half;
} tk_plan_t;

static bool tk_plan(const qiao_kernel_desc_t *kd, int64_t ub_bytes, tk_plan_t *p, char *reason,
                    size_t cap) {
  memset(p, 0, sizeof *p);
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  int ax = (int)(kd->attrs.axis < 0 ? kd->attrs.axis + rank : kd->attrs.axis);
  p->outer = p->inner = 1;
  for (int d = 0; d < ax; ++d)
    p->outer *= x->type.shape.dims[d];
  for (int d = ax + 1; d < rank; ++d)
    p->inner *= x->type.shape.dims[d];
  p->dim = x->type.shape.dims[ax];
  p->k = kd->attrs.k;
  p->es = qiao_dtype_size(x->type.dtype);
  p->ces = x->type.dtype == QIAO_BF16 ? 4 : p->es;
  int64_t bi = p->dim * p->inner, bo = p->k * p->inner;
  /* per block: input, as f32 (bf16), transposed, values, s32 indices, values
   * and indices transposed back, s64 indices, bf16 values */
  int64_t per = rb(bi * p->es) + rb(bi * p->ces) * 2 + rb(bo * p->ces) * 2 + rb(bo * 4) * 2 +
                rb(bo * 8) + rb(bo * p->es);
  p->half = ub_bytes / 2 / 32 * 32;
  p->T = per > 0 ? p->half / per : 1;
  if (p->T > p->outer) p->T = p->outer;
  if (p->T < 1) {
    snprintf(reason, cap,
             "ascend: UB overflow: a topk block of %lld x %lld elements needs %lld bytes of UB, "
             "a ping-pong half has %lld",
             (long long)p->dim, (long long)p->inner, (long long)per, (long long)p->half);
    return false;
  }
  int64_t T = p->T, at = 0;
  p->in_off = at, at += rb(T * bi * p->es);
  p->c_off = at, at += rb(T * bi * p->ces);
  p->t_off = at, at += rb(T * bi * p->ces);
  p->v_off = at, at += rb(T * bo * p->ces);
  p->i_off = at, at += rb(T * bo * 4);
  p->vo_off = at, at += rb(T * bo * p->ces);
  p->io_off = at, at += rb(T * bo * 4);
  p->i64_off = at, at += rb(T * bo * 8);
  p->vb_off = at;
  return true;
}

bool ascend_topk_supported(const qiao_kernel_desc_t *kd, int64_t ub_bytes, char *reason,
                           size_t cap) {
  if (kd->n_inputs != 1 || kd->n_outputs != 2 || kd->n_expr > 0) {
    snprintf(reason, cap, "a topk kernel with an epilogue");
    return false;
  }
  const qiao_kd_operand_t *x = &kd->inputs[0];
  qiao_dtype_t dt = x->type.dtype;
  if (dt != QIAO_F32 && dt != QIAO_F16 && dt != QIAO_BF16) {
    snprintf(reason, cap, "topk of %s (TopK sorts half/float)", qiao_dtype_name(dt));
    return false;
  }
  if (kd->outputs[1].type.dtype != QIAO_I64 || kd->outputs[0].type.dtype != dt) {
    snprintf(reason, cap, "topk into %s values / %s indices",
             qiao_dtype_name(kd->outputs[0].type.dtype),
             qiao_dtype_name(kd->outputs[1].type.dtype));
    return false;
  }
  for (int o = 0; o < 3; ++o) {
    const qiao_kd_operand_t *op = o == 0 ? x : &kd->outputs[o - 1];
    int64_t st = 1;
    for (int d = op->type.shape.rank - 1; d >= 0; --d) {
      if (op->type.shape.dims[d] > 1 && op->strides[d] != st) {
        snprintf(reason, cap, "a strided topk operand");
        return false;
      }
      st *= op->type.shape.dims[d];
    }
  }
  tk_plan_t p;
  return tk_plan(kd, ub_bytes, &p, reason, cap);
}

static void flag(ascend_module_t *m, LLVMValueRef core, bool set, int src, int dst,
                 LLVMValueRef id) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), id};
  ascend_uop(m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

static LLVMValueRef const_i64s(ascend_module_t *m, const int64_t *v, int n, const char *name) {
  LLVMValueRef el[4];
  for (int i = 0; i < n; ++i)
    el[i] = I(m, v[i]);
  LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMArrayType2(m->t_i64, (uint64_t)n), name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, (uint64_t)n));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

/* dst = the [T, a, b] -> [T, b, a] transpose of n elements at src. */
static void transpose(ascend_module_t *m, LLVMValueRef core, int dt, LLVMValueRef dst,
                      LLVMValueRef src, LLVMValueRef n, int64_t a, int64_t b, const char *note) {
  int64_t dims[3] = {INT64_MAX / 4, b, a}, st[3] = {a * b, 1, b};
  LLVMValueRef g[11] = {core,
                        I(m, dt),
                        dst,
                        src,
                        n,
                        I(m, 0),
                        I(m, 0),
                        n,
                        I(m, 3),
                        const_i64s(m, dims, 3, "tk_dims"),
                        const_i64s(m, st, 3, "tk_strides")};
  ascend_uop(m, "qiao_ascend_vgather", g, 11, note);
}

qiao_status_t ascend_lower_topk(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn) {
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  char reason[256];
  tk_plan_t p;
  if (!tk_plan(kd, m->info.ub_bytes, &p, reason, sizeof reason))
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s", reason);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0), gm[3];
  for (int k = 0; k < 3; ++k)
    gm[k] = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
  int dt = ascend_dtype(kd->inputs[0].type.dtype);
  bool bf = kd->inputs[0].type.dtype == QIAO_BF16;
  int cdt = bf ? QIAO_ASCEND_F32 : dt; /* the vector unit sorts f32/f16 */
  int64_t bi = p.dim * p.inner, bo = p.k * p.inner, es = p.es;
  int64_t n_tiles = p.outer > 0 && bo > 0 ? (p.outer + p.T - 1) / p.T : 0;
  ascend_listing_printf(m,
                        "  topk plan: %lld blocks of %lld x %lld, k %lld, %lld blocks per tile, "
                        "%lld tiles\n",
                        (long long)p.outer, (long long)p.dim, (long long)p.inner, (long long)p.k,
                        (long long)p.T, (long long)n_tiles);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  LLVMValueRef rem = LLVMBuildSub(b, I(m, n_tiles), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  for (int q = 0; q < 2; ++q)
    flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, q));
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "it", &tl);
  LLVMValueRef ping = LLVMBuildAnd(b, tl.iv, I(m, 1), "ping");
  LLVMValueRef base = qiao_cg_imul(cg, ping, p.half);
#define OFF(o) LLVMBuildAdd(b, base, I(m, (o)), "")
  LLVMValueRef t = LLVMBuildAdd(b, blk, LLVMBuildMul(b, tl.iv, bn, ""), "tile");
  LLVMValueRef b0 = qiao_cg_imul(cg, t, p.T);
  LLVMValueRef nb = qiao_cg_imin(cg, I(m, p.T), LLVMBuildSub(b, I(m, p.outer), b0, ""));
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, ping);
  {
    LLVMValueRef src =
        LLVMBuildGEP2(b, m->t_i8, gm[0], (LLVMValueRef[]){qiao_cg_imul(cg, b0, bi * es)}, 1, "");
    LLVMValueRef a[4] = {core, OFF(p.in_off), src, qiao_cg_imul(cg, nb, bi * es)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "input blocks");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, ping);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, ping);
  LLVMValueRef rows = qiao_cg_imul(cg, nb, p.inner);
  LLVMValueRef src = OFF(p.in_off), vals = OFF(p.v_off), idx = OFF(p.i_off);
  if (bf) { /* bf16 -> f32 is exact, and so is the way back for the chosen values */
    LLVMValueRef a[6] = {core, I(m, cdt), OFF(p.c_off), I(m, dt), src, qiao_cg_imul(cg, nb, bi)};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "bf16 to f32");
    src = OFF(p.c_off);
  }
  if (p.inner > 1) {
    transpose(m, core, cdt, OFF(p.t_off), src, qiao_cg_imul(cg, nb, bi), p.dim, p.inner,
              "Gather: rows along the axis");
    src = OFF(p.t_off);
  }
  {
    LLVMValueRef a[8] = {core, I(m, cdt), vals, idx, src, rows, I(m, p.dim), I(m, p.k)};
    ascend_uop(m, "qiao_ascend_vtopk", a, 8, "values and s32 indices per row");
  }
  LLVMValueRef n_out = qiao_cg_imul(cg, nb, bo);
  if (p.inner > 1) {
    transpose(m, core, cdt, OFF(p.vo_off), vals, n_out, p.inner, p.k, "Gather: values back");
    transpose(m, core, QIAO_ASCEND_S32, OFF(p.io_off), idx, n_out, p.inner, p.k,
              "Gather: indices back");
    vals = OFF(p.vo_off);
    idx = OFF(p.io_off);
  }
  {
    LLVMValueRef a[6] = {core, I(m, QIAO_ASCEND_S64), OFF(p.i64_off), I(m, QIAO_ASCEND_S32), idx,
                         n_out};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "indices to s64");
  }
  if (bf) {
    LLVMValueRef a[6] = {core, I(m, dt), OFF(p.vb_off), I(m, cdt), vals, n_out};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "values back to bf16 (exact)");
    vals = OFF(p.vb_off);
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, ping);
  flag(m, core, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, ping);
  {
    LLVMValueRef dv =
        LLVMBuildGEP2(b, m->t_i8, gm[1], (LLVMValueRef[]){qiao_cg_imul(cg, b0, bo * es)}, 1, "");
    LLVMValueRef a[4] = {core, dv, vals, qiao_cg_imul(cg, n_out, es)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", a, 4, "values");
    LLVMValueRef di =
        LLVMBuildGEP2(b, m->t_i8, gm[2], (LLVMValueRef[]){qiao_cg_imul(cg, b0, bo * 8)}, 1, "");
    LLVMValueRef c[4] = {core, di, OFF(p.i64_off), qiao_cg_imul(cg, n_out, 8)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", c, 4, "indices");
  }
#undef OFF
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, ping);
  qiao_cg_loop_end(cg, &tl);
  for (int q = 0; q < 2; ++q)
    flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, q));
  LLVMBuildRetVoid(b);
  return NULL;
}
