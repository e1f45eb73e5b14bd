/* Ascend backend — ATTENTION as a mixed kernel (FlashAttention with the
 * online softmax on the vector unit), one block per group of 1 AIC + 2 AIV,
 * work items (batch, q head, tile of 16 query rows) looped over the groups:
 *
 *   AIC: Q tile GM->L1 (ND2NZ) -> L0A, once per item
 *   per key tile of BC = 64 keys in the item's visible range (tiles above
 *   the causal diagonal, before the window or past kv_len are skipped):
 *     AIC  Kᵀ GM->L1 (ND2NZ transposed) -> L0B; Mmad S = Q Kᵀ (f32, L0C);
 *          Fixpipe S -> GM workspace;            CrossCoreSetFlag(0)
 *     AIV  (each of the 2: 8 of the 16 rows) CrossCoreWaitFlag(0);
 *          S GM->UB; S *= scale; S += mask rows (cast to f32); keys a row
 *          does not see -> -inf (Duplicate with a bit mask); m' = max(m,
 *          ReduceMax S); alpha = exp(m - m'); P = exp(S - m'); l = l alpha
 *          + ReduceSum P; P cast to the input dtype -> GM workspace;
 *                                                 CrossCoreSetFlag(1)
 *     AIC  CrossCoreWaitFlag(1) (both AIVs); P, V GM->L1 -> L0A/L0B;
 *          Mmad O_j = P V; Fixpipe -> GM workspace; CrossCoreSetFlag(2)
 *     AIV  CrossCoreWaitFlag(2); O_j GM->UB; acc = acc alpha + O_j
 *   AIV: out = acc / max(l, tiny) cast to the output dtype, rows -> GM.
 *
 * m starts at -FLT_MAX (not -inf) so exp(S - m) is 0 for an unseen key and
 * alpha is 1 while nothing was seen; a row that sees no key keeps acc = 0,
 * l = 0 and writes 0; a NaN score propagates through the max (the row is
 * NaN), as in the interpreter. Semantics of the CUDA lowering
 * (backends/cuda/lower_attention.c): query i at pos = L - Sq + i with L =
 * clamp(kv_len[b], 0, Skv) or Skv; causal: keys j <= pos; window W > 0: pos
 * - W < j <= pos; GQA: q head h reads kv head h / (Hq / Hkv). */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

enum { AT_BR = 16, AT_HR = 8, AT_BC = 64, AT_MAX_D = 256 };

typedef struct at_plan {
  int64_t B, Hq, Hkv, G, Sq, Skv, D, Dv, Dp, Dvp, W;
  bool causal;
  int32_t mask_in, kvl_in;
  double scale;
  int64_t qs[4], ks[4], vs[4], os[4], mst[4];
  int64_t es, c0; /* input element bytes; fractal columns (32 B: 16 f16/bf16, 8 f32) */
  qiao_dtype_t dt, mdt, odt;
  /* L1 / L0 / UB byte offsets */
  int64_t l1_k, l1_p, l1_v, l1_end, a_p, a_end, b_v, b_end, c_o, c_end;
  int64_t ub_s, ub_t, ub_mk, ub_p, ub_o, ub_b, ub_acc, ub_out, ub_sc, ub_m, ub_mn, ub_a, ub_l, ub_r,
      ub_end;
  int64_t ws_s, ws_p, ws_o, ws_group;
} at_plan_t;

static int64_t al(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

static void at_make_plan(const qiao_kernel_desc_t *kd, at_plan_t *p) {
  const qiao_kd_operand_t *q = &kd->inputs[0], *k = &kd->inputs[1], *v = &kd->inputs[2];
  memset(p, 0, sizeof *p);
  p->B = q->type.shape.dims[0];
  p->Hq = q->type.shape.dims[1];
  p->Sq = q->type.shape.dims[2];
  p->D = q->type.shape.dims[3];
  p->Hkv = k->type.shape.dims[1];
  p->Skv = k->type.shape.dims[2];
  p->Dv = v->type.shape.dims[3];
  p->G = p->Hkv > 0 ? p->Hq / p->Hkv : 1;
  p->W = kd->attrs.window;
  p->causal = kd->attrs.causal;
  p->scale = kd->attrs.has_scale && !isnan(kd->attrs.scale) ? kd->attrs.scale
                                                            : 1.0 / sqrt((double)(p->D ? p->D : 1));
  p->scale = (double)(float)p->scale;
  for (int d = 0; d < 4; ++d) {
    p->qs[d] = q->strides[d];
    p->ks[d] = k->strides[d];
    p->vs[d] = v->strides[d];
    p->os[d] = kd->outputs[0].strides[d];
  }
  p->dt = q->type.dtype;
  p->odt = kd->outputs[0].type.dtype;
  qiao_attention_operand_roles(kd->n_primary_inputs,
                               kd->n_primary_inputs > 3 ? kd->inputs[3].type.dtype : QIAO_F32,
                               &p->mask_in, &p->kvl_in);
  p->mdt = QIAO_F32;
  if (p->mask_in >= 0) {
    const qiao_kd_operand_t *m = &kd->inputs[p->mask_in];
    p->mdt = m->type.dtype;
    int mr = m->type.shape.rank, off = 4 - mr;
    for (int d = 0; d < 4; ++d) {
      int md = d - off;
      p->mst[d] = (md < 0 || m->type.shape.dims[md] == 1) ? 0 : m->strides[md];
    }
  }
  p->es = qiao_dtype_size(p->dt);
  p->c0 = 32 / p->es;
  p->Dp = al(p->D, 16);
  p->Dvp = al(p->Dv, 16);
  /* cube buffers (bytes; L0 regions 512-aligned, L0C 1024) */
  int64_t es = p->es;
  p->l1_k = al(AT_BR * p->Dp * es, 512);
  p->l1_p = p->l1_k + p->Dp * AT_BC * es;
  p->l1_v = p->l1_p + AT_BR * AT_BC * es;
  p->l1_end = p->l1_v + AT_BC * p->Dvp * es;
  p->a_p = al(AT_BR * p->Dp * es, 512);
  p->a_end = p->a_p + AT_BR * AT_BC * es;
  p->b_v = al(p->Dp * AT_BC * es, 512);
  p->b_end = p->b_v + AT_BC * p->Dvp * es;
  p->c_o = AT_BR * AT_BC * 4;
  p->c_end = p->c_o + AT_BR * p->Dvp * 4;
  /* UB of each AIV (32-aligned regions) */
  int64_t at = 0;
#define UB(field, bytes)                                                                           \
  p->field = at;                                                                                   \
  at += al(bytes, 32)
  UB(ub_s, AT_HR * AT_BC * 4);
  UB(ub_t, AT_HR * AT_BC * 4);
  UB(ub_mk, AT_HR * AT_BC * 4);
  UB(ub_p, AT_HR * AT_BC * es);
  UB(ub_o, AT_HR * p->Dvp * 4);
  UB(ub_b, AT_HR * p->Dvp * 4);
  UB(ub_acc, AT_HR * p->Dvp * 4);
  UB(ub_out, AT_HR * p->Dvp * 4);
  UB(ub_sc, AT_HR * AT_BC * 4);
  UB(ub_m, AT_HR * 4);
  UB(ub_mn, AT_HR * 4);
  UB(ub_a, AT_HR * 4);
  UB(ub_l, AT_HR * 4);
  UB(ub_r, AT_HR * 4);
#undef UB
  p->ub_end = at;
  p->ws_s = 0;
  p->ws_p = AT_BR * AT_BC * 4;
  p->ws_o = p->ws_p + AT_BR * AT_BC * es;
  p->ws_group = p->ws_o + AT_BR * p->Dvp * 4;
}

static bool is_float(qiao_dtype_t t) { return t == QIAO_F32 || t == QIAO_F16 || t == QIAO_BF16; }

bool ascend_attn_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_expr > 0 || kd->has_norm_prologue || kd->n_outputs != 1 || kd->n_inputs < 3) {
    snprintf(reason, cap,
             "attention with a fused epilogue or prologue (not lowered for the "
             "Ascend class yet)");
    return false;
  }
  const qiao_kd_operand_t *q = &kd->inputs[0], *k = &kd->inputs[1], *v = &kd->inputs[2];
  qiao_dtype_t dt = q->type.dtype;
  if (dt != k->type.dtype || dt != v->type.dtype ||
      (dt != QIAO_F16 && dt != QIAO_BF16 && dt != QIAO_F32)) {
    snprintf(reason, cap,
             "attention on %s/%s/%s inputs: the cube lowering takes q, k, v all f16, bf16 or f32 "
             "(as the matmul: no mixed dtypes)",
             qiao_dtype_name(dt), qiao_dtype_name(k->type.dtype), qiao_dtype_name(v->type.dtype));
    return false;
  }
  at_plan_t p;
  at_make_plan(kd, &p);
  if (!is_float(p.odt) || (p.mask_in >= 0 && !is_float(p.mdt))) {
    snprintf(reason, cap, "attention into %s or with a %s mask", qiao_dtype_name(p.odt),
             qiao_dtype_name(p.mdt));
    return false;
  }
  if (q->type.shape.rank != 4 || k->type.shape.rank != 4 || v->type.shape.rank != 4 ||
      kd->outputs[0].type.shape.rank != 4 || p.qs[3] != 1 || p.ks[3] != 1 || p.vs[3] != 1 ||
      p.os[3] != 1 || (p.mask_in >= 0 && p.mst[3] != 1 && p.Skv > 1) || p.Hkv <= 0 ||
      p.Hq % p.Hkv) {
    snprintf(reason, cap,
             "attention with strided or broadcast last dims (not lowered for the "
             "Ascend class yet)");
    return false;
  }
  if (p.D <= 0 || p.Dv <= 0 || p.D > AT_MAX_D || p.Dv > AT_MAX_D) {
    snprintf(reason, cap, "attention head dims %lld / %lld (the Ascend lowering takes 1..%d)",
             (long long)p.D, (long long)p.Dv, AT_MAX_D);
    return false;
  }
  return true;
}

qiao_status_t ascend_attn_check(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info) {
  at_plan_t p;
  at_make_plan(kd, &p);
  struct {
    const char *name;
    int64_t need, have;
  } b[] = {{"L1", p.l1_end, info->l1_bytes},
           {"L0A", p.a_end, info->l0a_bytes},
           {"L0B", p.b_end, info->l0b_bytes},
           {"L0C", p.c_end, info->l0c_bytes},
           {"UB", p.ub_end, info->ub_bytes}};
  for (int i = 0; i < 5; ++i)
    if (b[i].need > b[i].have)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                              "ascend: %s overflow: attention tiles (16 query rows, %d keys, "
                              "head dims %lld/%lld) need %lld bytes of %s, the device has %lld",
                              b[i].name, AT_BC, (long long)p.D, (long long)p.Dv,
                              (long long)b[i].need, b[i].name, (long long)b[i].have);
  return NULL;
}

uint64_t ascend_attn_workspace(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info) {
  at_plan_t p;
  at_make_plan(kd, &p);
  return (uint64_t)(p.ws_group * info->aic);
}

/* ------------------------------------------------------------ emission */

typedef struct at_ctx {
  ascend_module_t *m;
  const at_plan_t *p;
  LLVMValueRef aic, aiv[2];
} at_ctx_t;

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }
static LLVMValueRef F(ascend_module_t *m, double v) { return LLVMConstReal(m->t_f64, v); }

static void uop(ascend_module_t *m, const char *name, LLVMValueRef *a, unsigned n,
                const char *note) {
  ascend_uop(m, name, a, n, note);
}

/* SetFlag + WaitFlag<src_dst>(0) on one core. */
static void iflag(ascend_module_t *m, LLVMValueRef core, int src, int dst) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), I(m, 0)};
  uop(m, "qiao_ascend_set_flag", a, 4, NULL);
  uop(m, "qiao_ascend_wait_flag", a, 4, NULL);
}

static void xset(ascend_module_t *m, LLVMValueRef core, int pipe, int id, const char *note) {
  LLVMValueRef a[3] = {core, I(m, pipe), I(m, id)};
  uop(m, "qiao_ascend_cross_set_flag", a, 3, note);
}
static void xwait(ascend_module_t *m, LLVMValueRef core, int id, const char *note) {
  LLVMValueRef a[2] = {core, I(m, id)};
  uop(m, "qiao_ascend_cross_wait_flag", a, 2, note);
}

static LLVMValueRef gep(ascend_module_t *m, LLVMValueRef base, LLVMValueRef bytes) {
  return LLVMBuildGEP2(m->b, m->t_i8, base, (LLVMValueRef[]){bytes}, 1, "");
}

static void vbin(ascend_module_t *m, LLVMValueRef c, const char *op, int64_t d, int64_t a,
                 int64_t b, int64_t n, const char *note) {
  LLVMValueRef x[6] = {c, I(m, QIAO_ASCEND_F32), I(m, d), I(m, a), I(m, b), I(m, n)};
  uop(m, op, x, 6, note);
}
static void vun(ascend_module_t *m, LLVMValueRef c, const char *op, int64_t d, int64_t s, int64_t n,
                const char *note) {
  LLVMValueRef x[5] = {c, I(m, QIAO_ASCEND_F32), I(m, d), I(m, s), I(m, n)};
  uop(m, op, x, 5, note);
}
static void vdup(ascend_module_t *m, LLVMValueRef c, int64_t dt, int64_t d, double v, int64_t n,
                 const char *note) {
  LLVMValueRef x[5] = {c, I(m, dt), I(m, d), F(m, v), I(m, n)};
  uop(m, "qiao_ascend_vdup", x, 5, note);
}
static void vcast(ascend_module_t *m, LLVMValueRef c, int64_t ddt, int64_t d, int64_t sdt,
                  int64_t s, int64_t n, const char *note) {
  LLVMValueRef x[6] = {c, I(m, ddt), I(m, d), I(m, sdt), I(m, s), I(m, n)};
  uop(m, "qiao_ascend_vcast", x, 6, note);
}
static void vreduce(ascend_module_t *m, LLVMValueRef c, bool mx, int64_t d, int64_t s, int64_t rows,
                    int64_t cols, const char *note) {
  LLVMValueRef x[6] = {c, I(m, QIAO_ASCEND_F32), I(m, d), I(m, s), I(m, rows), I(m, cols)};
  uop(m, mx ? "qiao_ascend_vreduce_max" : "qiao_ascend_vreduce_sum", x, 6, note);
}

static LLVMValueRef const_i64s(ascend_module_t *m, const int64_t *v, int n, const char *name) {
  LLVMValueRef el[4];
  for (int i = 0; i < n; ++i)
    el[i] = I(m, v[i]);
  LLVMTypeRef ty = LLVMArrayType2(m->t_i64, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobal(m->mod, ty, name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, (uint64_t)n));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(g, LLVMGlobalUnnamedAddr);
  return g;
}

/* Per-row values (HR of them at src) over rows of `cols` at dst. */
static void row_bcast(ascend_module_t *m, LLVMValueRef c, int64_t dst, int64_t src, int64_t cols,
                      const char *note) {
  int64_t dims[2] = {AT_HR, cols}, strides[2] = {1, 0};
  LLVMValueRef x[10] = {c,
                        I(m, QIAO_ASCEND_F32),
                        I(m, dst),
                        I(m, src),
                        I(m, AT_HR),
                        I(m, 0),
                        I(m, AT_HR * cols),
                        I(m, 2),
                        const_i64s(m, dims, 2, "at_dims"),
                        const_i64s(m, strides, 2, "at_strides")};
  uop(m, "qiao_ascend_vbroadcast", x, 10, note);
}

static LLVMValueRef mix_core(ascend_module_t *m, LLVMValueRef core, int which) {
  const char *name = "qiao_ascend_mix_core";
  if (!LLVMGetNamedFunction(m->mod, name)) {
    LLVMTypeRef params[2] = {m->t_ptr, m->t_i64};
    LLVMAddFunction(m->mod, name, LLVMFunctionType(m->t_ptr, params, 2, 0));
  }
  LLVMValueRef a[2] = {core, I(m, which)};
  return ascend_uop(m, name, a, 2, which == 0 ? "the AIC" : "an AIV");
}

qiao_status_t ascend_lower_attention(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                     LLVMValueRef fn) {
  at_plan_t P;
  at_make_plan(kd, &P);
  const at_plan_t *p = &P;
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0);
  int32_t nb = kd->n_inputs + kd->n_outputs;
  LLVMValueRef gm[QIAO_KD_MAX_OPERANDS + 2];
  for (int32_t k = 0; k <= nb; ++k)
    gm[k] = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
  LLVMValueRef qg = gm[0], kg = gm[1], vg = gm[2], og = gm[kd->n_inputs], wsg = gm[nb];
  int64_t es = qiao_dtype_size(p->dt), oes = qiao_dtype_size(p->odt), mes = qiao_dtype_size(p->mdt);
  int64_t adt = ascend_dtype(p->dt), aodt = ascend_dtype(p->odt), amdt = ascend_dtype(p->mdt);
  int64_t nqt = (p->Sq + AT_BR - 1) / AT_BR, items = p->B * p->Hq * nqt;
  int64_t F32 = QIAO_ASCEND_F32;
  ascend_listing_printf(
      m,
      "  mix plan: %lld items (batch x q head x %d-row q tile), key tiles of %d; per group "
      "workspace %lld B (S f32, P %s, O f32); AIC L1 %lld B, L0A %lld, L0B %lld, L0C %lld; "
      "AIV UB %lld B\n",
      (long long)items, AT_BR, AT_BC, (long long)p->ws_group, qiao_dtype_name(p->dt),
      (long long)p->l1_end, (long long)p->a_end, (long long)p->b_end, (long long)p->c_end,
      (long long)p->ub_end);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  LLVMValueRef aic = mix_core(m, core, 0);
  LLVMValueRef aiv[2] = {mix_core(m, core, 1), mix_core(m, core, 2)};
  LLVMValueRef ws = gep(m, wsg, qiao_cg_imul(cg, blk, p->ws_group));
  ascend_listing_printf(m, "  AIV (both) once: scale tile%s\n",
                        p->mask_in >= 0 ? ", mask tile" : "");
  for (int h = 0; h < 2; ++h) {
    vdup(m, aiv[h], F32, p->ub_sc, p->scale, AT_HR * AT_BC, "scale");
    if (p->mask_in >= 0) vdup(m, aiv[h], amdt, p->ub_mk, 0.0, AT_HR * AT_BC, "mask rows");
  }
  LLVMValueRef rem = LLVMBuildSub(b, I(m, items), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  ascend_listing_printf(m, "  loop over this group's items:\n");
  qiao_cg_loop_t il;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "item", &il);
  LLVMValueRef item = LLVMBuildAdd(b, blk, LLVMBuildMul(b, il.iv, bn, ""), "it");
  LLVMValueRef qt = LLVMBuildSRem(b, item, I(m, nqt), "");
  LLVMValueRef bh = LLVMBuildSDiv(b, item, I(m, nqt), "");
  LLVMValueRef hq = LLVMBuildSRem(b, bh, I(m, p->Hq), "h");
  LLVMValueRef bb = LLVMBuildSDiv(b, bh, I(m, p->Hq), "b");
  LLVMValueRef kvh = LLVMBuildSDiv(b, hq, I(m, p->G), "kvh");
  LLVMValueRef i0 = qiao_cg_imul(cg, qt, AT_BR);
  LLVMValueRef L = I(m, p->Skv);
  if (p->kvl_in >= 0) {
    const qiao_kd_operand_t *n = &kd->inputs[p->kvl_in];
    LLVMValueRef ptr = gep(m, gm[p->kvl_in], qiao_cg_imul(cg, bb, n->strides[0] * 4));
    LLVMValueRef v = LLVMBuildSExt(b, LLVMBuildLoad2(b, m->t_i32, ptr, "kvl"), m->t_i64, "");
    L = qiao_cg_imin(cg, qiao_cg_imax(cg, v, I(m, 0)), I(m, p->Skv));
  }
  LLVMValueRef off = LLVMBuildSub(b, L, I(m, p->Sq), "off"); /* pos = off + i */
  bool lim = p->causal || p->W > 0;
  /* the item's keys: [lo, hi) over its rows i0 .. min(i0 + 16, Sq) - 1 */
  LLVMValueRef ilast = LLVMBuildSub(
      b, qiao_cg_imin(cg, I(m, p->Sq), LLVMBuildAdd(b, i0, I(m, AT_BR), "")), I(m, 1), "ilast");
  LLVMValueRef lo = I(m, 0), hi = L;
  if (p->W > 0)
    lo = qiao_cg_imax(cg, I(m, 0),
                      LLVMBuildAdd(b, off, LLVMBuildSub(b, i0, I(m, p->W - 1), ""), ""));
  if (lim) hi = qiao_cg_imin(cg, L, LLVMBuildAdd(b, off, LLVMBuildAdd(b, ilast, I(m, 1), ""), ""));
  hi = qiao_cg_imax(cg, hi, lo);
  LLVMValueRef t_lo = LLVMBuildSDiv(b, lo, I(m, AT_BC), "");
  LLVMValueRef t_hi = LLVMBuildSDiv(b, LLVMBuildAdd(b, hi, I(m, AT_BC - 1), ""), I(m, AT_BC), "");
  t_hi = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, hi, lo, ""), t_hi, t_lo, "");

  ascend_listing_printf(m, "    AIV (both): m = -FLT_MAX, l = 0, acc = 0\n");
  for (int h = 0; h < 2; ++h) {
    vdup(m, aiv[h], F32, p->ub_m, -FLT_MAX, AT_HR, "running max");
    vdup(m, aiv[h], F32, p->ub_l, 0.0, AT_HR, "running sum");
    vdup(m, aiv[h], F32, p->ub_acc, 0.0, AT_HR * p->Dvp, "accumulator");
  }
  ascend_listing_printf(m, "    AIC: Q tile\n");
  {
    LLVMValueRef qoff = qiao_cg_imadd(
        cg, qiao_cg_imadd(cg, qiao_cg_imul(cg, bb, p->qs[0]), hq, p->qs[1]), i0, p->qs[2]);
    LLVMValueRef rows = qiao_cg_imin(cg, I(m, AT_BR), LLVMBuildSub(b, I(m, p->Sq), i0, ""));
    LLVMValueRef a[10] = {aic,
                          I(m, 0),
                          gep(m, qg, qiao_cg_imul(cg, qoff, es)),
                          I(m, adt),
                          rows,
                          I(m, p->D),
                          I(m, p->qs[2]),
                          I(m, AT_BR),
                          I(m, p->Dp),
                          I(m, 0)};
    uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", a, 10, "Q tile");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    LLVMValueRef l[5] = {aic, I(m, 0), I(m, 0), I(m, adt), I(m, p->Dp / p->c0)};
    uop(m, "qiao_ascend_load_l1_to_l0a", l, 5, "Q fractals");
  }
  ascend_listing_printf(m, "    loop over the visible key tiles (causal/window/kv_len skip):\n");
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, t_lo, t_hi, 1, "ktile", &tl);
  LLVMValueRef k0 = qiao_cg_imul(cg, tl.iv, AT_BC);
  LLVMValueRef kt = qiao_cg_imin(cg, I(m, AT_BC), LLVMBuildSub(b, hi, k0, ""));
  LLVMValueRef ktp = LLVMBuildAnd(b, LLVMBuildAdd(b, kt, I(m, 15), ""), I(m, ~(int64_t)15), "");
  LLVMValueRef kf = LLVMBuildSDiv(b, ktp, I(m, 16), "");
  LLVMValueRef kfc = LLVMBuildSDiv(b, ktp, I(m, p->c0), ""); /* fractal columns of ktp */
  ascend_listing_printf(m, "      AIC: S = Q Kᵀ\n");
  {
    LLVMValueRef koff = qiao_cg_imadd(
        cg, qiao_cg_imadd(cg, qiao_cg_imul(cg, bb, p->ks[0]), kvh, p->ks[1]), k0, p->ks[2]);
    LLVMValueRef a[10] = {aic,
                          I(m, p->l1_k),
                          gep(m, kg, qiao_cg_imul(cg, koff, es)),
                          I(m, adt),
                          I(m, p->D),
                          kt,
                          I(m, p->ks[2]),
                          I(m, p->Dp),
                          ktp,
                          I(m, 1)};
    uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", a, 10, "K tile, transposed (Kᵀ)");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    LLVMValueRef l[5] = {aic, I(m, 0), I(m, p->l1_k), I(m, adt), qiao_cg_imul(cg, kfc, p->Dp / 16)};
    uop(m, "qiao_ascend_load_l1_to_l0b", l, 5, "Kᵀ fractals");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
    LLVMValueRef mm[9] = {aic,         I(m, 0),     I(m, 0), I(m, 0), I(m, adt),
                          I(m, AT_BR), I(m, p->Dp), ktp,     I(m, 1)};
    uop(m, "qiao_ascend_mmad", mm, 9, "S = Q Kᵀ");
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
    LLVMValueRef fx[9] = {aic,         gep(m, ws, I(m, p->ws_s)),
                          I(m, F32),   I(m, 0),
                          I(m, AT_BR), ktp,
                          I(m, AT_BR), ktp,
                          I(m, AT_BC)};
    uop(m, "qiao_ascend_fixpipe_l0c_to_gm", fx, 9, "S tile -> GM workspace");
    xset(m, aic, QIAO_ASCEND_PIPE_FIX, 0, "S ready");
  }
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "      AIV %d: online softmax of rows %d..%d\n", h + 1, h * AT_HR,
                          h * AT_HR + AT_HR - 1);
    xwait(m, v, 0, "S ready");
    LLVMValueRef a[4] = {v, I(m, p->ub_s), gep(m, ws, I(m, p->ws_s + h * AT_HR * AT_BC * 4)),
                         I(m, AT_HR * AT_BC * 4)};
    uop(m, "qiao_ascend_copy_gm_to_ub", a, 4, "S rows");
    if (p->mask_in >= 0) {
      for (int r = 0; r < AT_HR; ++r) {
        LLVMValueRef i =
            qiao_cg_imin(cg, I(m, p->Sq - 1), LLVMBuildAdd(b, i0, I(m, h * AT_HR + r), ""));
        LLVMValueRef moff = qiao_cg_imadd(
            cg,
            qiao_cg_imadd(cg, qiao_cg_imadd(cg, qiao_cg_imul(cg, bb, p->mst[0]), hq, p->mst[1]), i,
                          p->mst[2]),
            k0, p->mst[3]);
        LLVMValueRef c[4] = {v, I(m, p->ub_mk + r * AT_BC * mes),
                             gep(m, gm[p->mask_in], qiao_cg_imul(cg, moff, mes)),
                             qiao_cg_imul(cg, kt, mes)};
        uop(m, "qiao_ascend_copy_gm_to_ub_pad", c, 4, r ? NULL : "mask row (x8)");
      }
    }
    iflag(m, v, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
    vbin(m, v, "qiao_ascend_vmul", p->ub_s, p->ub_s, p->ub_sc, AT_HR * AT_BC, "S *= scale");
    if (p->mask_in >= 0) {
      vcast(m, v, F32, p->ub_t, amdt, p->ub_mk, AT_HR * AT_BC, "mask to f32");
      vbin(m, v, "qiao_ascend_vadd", p->ub_s, p->ub_s, p->ub_t, AT_HR * AT_BC, "S += mask");
    }
    for (int r = 0; r < AT_HR; ++r) {
      LLVMValueRef i = LLVMBuildAdd(b, i0, I(m, h * AT_HR + r), "");
      LLVMValueRef pos = LLVMBuildAdd(b, off, i, "pos");
      LLVMValueRef rlo = I(m, 0), rhi = L;
      if (p->W > 0) rlo = LLVMBuildSub(b, pos, I(m, p->W - 1), "");
      if (lim) rhi = qiao_cg_imin(cg, L, LLVMBuildAdd(b, pos, I(m, 1), ""));
      LLVMValueRef a0 = LLVMBuildSub(b, rlo, k0, ""), b0 = LLVMBuildSub(b, rhi, k0, "");
      LLVMValueRef x[7] = {
          v, I(m, F32), I(m, p->ub_s + r * AT_BC * 4), F(m, -INFINITY), I(m, AT_BC), I(m, 0), a0};
      uop(m, "qiao_ascend_vdup_masked", x, 7, r ? NULL : "keys before the row's window: -inf (x8)");
      LLVMValueRef y[7] = {
          v,  I(m, F32),  I(m, p->ub_s + r * AT_BC * 4), F(m, -INFINITY), I(m, AT_BC),
          b0, I(m, AT_BC)};
      uop(m, "qiao_ascend_vdup_masked", y, 7,
          r ? NULL : "keys past the row's causal limit / kv_len: -inf (x8)");
    }
    vreduce(m, v, true, p->ub_r, p->ub_s, AT_HR, AT_BC, "row max");
    vbin(m, v, "qiao_ascend_vmax", p->ub_mn, p->ub_m, p->ub_r, AT_HR, "m' = max(m, row max)");
    vbin(m, v, "qiao_ascend_vsub", p->ub_a, p->ub_m, p->ub_mn, AT_HR, NULL);
    vun(m, v, "qiao_ascend_vexp", p->ub_a, p->ub_a, AT_HR, "alpha = exp(m - m')");
    row_bcast(m, v, p->ub_t, p->ub_mn, AT_BC, "m' over the row");
    vbin(m, v, "qiao_ascend_vsub", p->ub_s, p->ub_s, p->ub_t, AT_HR * AT_BC, NULL);
    vun(m, v, "qiao_ascend_vexp", p->ub_s, p->ub_s, AT_HR * AT_BC, "P = exp(S - m')");
    vreduce(m, v, false, p->ub_r, p->ub_s, AT_HR, AT_BC, "row sum");
    vbin(m, v, "qiao_ascend_vmul", p->ub_l, p->ub_l, p->ub_a, AT_HR, NULL);
    vbin(m, v, "qiao_ascend_vadd", p->ub_l, p->ub_l, p->ub_r, AT_HR, "l = l alpha + row sum");
    vcast(m, v, F32, p->ub_m, F32, p->ub_mn, AT_HR, "m = m'");
    vcast(m, v, adt, p->ub_p, F32, p->ub_s, AT_HR * AT_BC, "P to the input dtype");
    iflag(m, v, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
    LLVMValueRef o[4] = {v, gep(m, ws, I(m, p->ws_p + h * AT_HR * AT_BC * es)), I(m, p->ub_p),
                         I(m, AT_HR * AT_BC * es)};
    uop(m, "qiao_ascend_copy_ub_to_gm", o, 4, "P rows -> GM workspace");
    xset(m, v, QIAO_ASCEND_PIPE_MTE3, 1, "P ready");
  }
  ascend_listing_printf(m, "      AIC: O_j = P V\n");
  {
    xwait(m, aic, 1, "P ready (both AIVs)");
    LLVMValueRef a[7] = {aic, I(m, p->l1_p), gep(m, ws, I(m, p->ws_p)), I(m, adt), I(m, AT_BR),
                         ktp, I(m, AT_BC)};
    uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz", a, 7, "P tile");
    LLVMValueRef voff = qiao_cg_imadd(
        cg, qiao_cg_imadd(cg, qiao_cg_imul(cg, bb, p->vs[0]), kvh, p->vs[1]), k0, p->vs[2]);
    LLVMValueRef c[10] = {aic,
                          I(m, p->l1_v),
                          gep(m, vg, qiao_cg_imul(cg, voff, es)),
                          I(m, adt),
                          kt,
                          I(m, p->Dv),
                          I(m, p->vs[2]),
                          ktp,
                          I(m, p->Dvp),
                          I(m, 0)};
    uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", c, 10, "V tile");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    LLVMValueRef la[5] = {aic, I(m, p->a_p), I(m, p->l1_p), I(m, adt), kfc};
    uop(m, "qiao_ascend_load_l1_to_l0a", la, 5, "P fractals");
    LLVMValueRef lb[5] = {aic, I(m, p->b_v), I(m, p->l1_v), I(m, adt),
                          qiao_cg_imul(cg, kf, p->Dvp / p->c0)};
    uop(m, "qiao_ascend_load_l1_to_l0b", lb, 5, "V fractals");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
    LLVMValueRef mm[9] = {aic,         I(m, p->c_o), I(m, p->a_p), I(m, p->b_v), I(m, adt),
                          I(m, AT_BR), ktp,          I(m, p->Dvp), I(m, 1)};
    uop(m, "qiao_ascend_mmad", mm, 9, "O_j = P V");
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
    LLVMValueRef fx[9] = {aic,         gep(m, ws, I(m, p->ws_o)),
                          I(m, F32),   I(m, p->c_o),
                          I(m, AT_BR), I(m, p->Dvp),
                          I(m, AT_BR), I(m, p->Dvp),
                          I(m, p->Dvp)};
    uop(m, "qiao_ascend_fixpipe_l0c_to_gm", fx, 9, "O_j -> GM workspace");
    xset(m, aic, QIAO_ASCEND_PIPE_FIX, 2, "O_j ready");
  }
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "      AIV %d: acc = acc alpha + O_j\n", h + 1);
    xwait(m, v, 2, "O_j ready");
    LLVMValueRef a[4] = {v, I(m, p->ub_o), gep(m, ws, I(m, p->ws_o + h * AT_HR * p->Dvp * 4)),
                         I(m, AT_HR * p->Dvp * 4)};
    uop(m, "qiao_ascend_copy_gm_to_ub", a, 4, "O_j rows");
    iflag(m, v, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
    row_bcast(m, v, p->ub_b, p->ub_a, p->Dvp, "alpha over the row");
    vbin(m, v, "qiao_ascend_vmul", p->ub_acc, p->ub_acc, p->ub_b, AT_HR * p->Dvp, NULL);
    vbin(m, v, "qiao_ascend_vadd", p->ub_acc, p->ub_acc, p->ub_o, AT_HR * p->Dvp, NULL);
  }
  qiao_cg_loop_end(cg, &tl);
  ascend_listing_printf(m, "    end key tiles\n");
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "    AIV %d: out = acc / l, rows -> GM\n", h + 1);
    vdup(m, v, F32, p->ub_r, 1e-30, AT_HR, NULL);
    vbin(m, v, "qiao_ascend_vmax", p->ub_r, p->ub_l, p->ub_r, AT_HR,
         "l (0 for a row that saw nothing)");
    row_bcast(m, v, p->ub_b, p->ub_r, p->Dvp, NULL);
    vbin(m, v, "qiao_ascend_vdiv", p->ub_acc, p->ub_acc, p->ub_b, AT_HR * p->Dvp, NULL);
    vcast(m, v, aodt, p->ub_out, F32, p->ub_acc, AT_HR * p->Dvp, "to the output dtype");
    iflag(m, v, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
    LLVMValueRef r0 = LLVMBuildAdd(b, i0, I(m, h * AT_HR), "");
    LLVMValueRef nr = qiao_cg_imax(
        cg, I(m, 0), qiao_cg_imin(cg, I(m, AT_HR), LLVMBuildSub(b, I(m, p->Sq), r0, "")));
    qiao_cg_loop_t rl;
    qiao_cg_loop_begin(cg, I(m, 0), nr, 1, "row", &rl);
    LLVMValueRef i = LLVMBuildAdd(b, r0, rl.iv, "");
    LLVMValueRef ooff = qiao_cg_imadd(
        cg, qiao_cg_imadd(cg, qiao_cg_imul(cg, bb, p->os[0]), hq, p->os[1]), i, p->os[2]);
    LLVMValueRef c[4] = {
        v, gep(m, og, qiao_cg_imul(cg, ooff, oes)),
        LLVMBuildAdd(b, I(m, p->ub_out), qiao_cg_imul(cg, rl.iv, p->Dvp * oes), ""),
        I(m, p->Dv * oes)};
    uop(m, "qiao_ascend_copy_ub_to_gm_pad", c, 4, "output row");
    qiao_cg_loop_end(cg, &rl);
  }
  qiao_cg_loop_end(cg, &il);
  ascend_listing_printf(m, "  end loop\n");
  LLVMBuildRetVoid(b);
  return NULL;
}
