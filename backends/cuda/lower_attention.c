/* CUDA backend — ATTENTION kernels: FlashAttention-2 prefill and split-KV
 * (flash-decoding) decode. The S×S score matrix is never stored: every CTA
 * keeps an online softmax (running max m, running sum l, f32 accumulator O)
 * in registers while it walks K/V tiles staged in shared memory.
 *
 * Queries sit at the last Sq of the Skv key positions (decode over a cache):
 * query i is at pos = Skv - Sq + i; causal sees keys j <= pos; a window W > 0
 * sees pos - W < j <= pos; the additive mask broadcasts to [B, Hq, Sq, Skv];
 * GQA: query head h reads kv head h / (Hq / Hkv). A key a row does not see
 * (and a padded key) has score -inf and probability exactly 0; a row whose
 * visible scores are all -inf (or that sees nothing) writes 0; a NaN score
 * makes its row NaN (the running max propagates NaN), like the interpreter.
 *
 * Three schedules (docs/cuda-backend.md):
 *
 *  - prefill, tensor cores (q, k, v all f16 or all bf16, head dims <= 128):
 *    a CTA per (batch, q head, tile of 16·warps query rows), one warp per 16
 *    rows. Q is staged once as 16-bit bits Qs[row][d]; per key tile of BK
 *    keys K is staged as Ks[key][d] and V transposed as Vt[d][key] (rows
 *    padded by 8 elements), bar.sync; S = Q·Kᵀ on mma.sync m16n8k16 (A = Q
 *    fragments, B = K fragments as 32-bit pairs), scaled in f32, masked; the
 *    row max over the 4 lanes of a quad (shfl.bfly 1, 2), the rescale of l and
 *    O, P = exp(S - m) packed to f16/bf16 pairs that are directly the A
 *    fragments of P·V (the m16n8 accumulator layout of two n8 tiles is the
 *    m16k16 A layout), O += P·V on mma.sync with B from Vt; bar.sync.
 *  - prefill, SIMT (f32, f8 widened in the load path, mixed dtypes, large
 *    head dims): a CTA per (batch, q head, tile of rows_per_warp·warps query
 *    rows); Q staged pre-scaled as f32, K as Ks[key][D + 1] (conflict-free
 *    column reads), V as Vs[key][Dv]; lane j scores key j of the tile for each
 *    of its warp's rows (q broadcast from shared memory), warp max by
 *    shfl.bfly, P·V with p_j broadcast by shfl.idx and the lane owning output
 *    dims lane, lane + 32, ...
 *  - decode (Sq·group small): split-KV. Phase 1: a CTA per (batch, kv head,
 *    KV split) runs the SIMT core for ALL G·Sq query rows of the GQA group
 *    against one pass over its K/V chunk and writes the partial (m, l, O[Dv])
 *    of every row to the global workspace; phase 2 (combine): a CTA per
 *    (batch, q head, query) merges the splits: M = max m_s, out = Σ e^(m_s-M)
 *    O_s / Σ e^(m_s-M) l_s.
 *
 * Key tiles above the causal diagonal (or before the window) of a CTA's rows
 * are skipped: the CTA's key range is clipped to what its rows can see. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda/codegen.h"

/* Tile configuration of the SIMT core (a parameter of the lowering). */
typedef struct qiao_cuda_attn_tile {
  int32_t warps;         /* warps per CTA */
  int32_t rows_per_warp; /* query rows a warp keeps in registers */
  int32_t bk;            /* keys per K/V tile (<= 32: one per lane) */
} qiao_cuda_attn_tile_t;

/* Tile configuration of the tensor-core prefill. */
typedef struct qiao_cuda_attn_mma_tile {
  int32_t warps; /* 16 query rows per warp */
  int32_t bk;    /* keys per tile (multiple of 16) */
} qiao_cuda_attn_mma_tile_t;

static const qiao_cuda_attn_tile_t k_attn_tile_default = {4, 4, 32};
static const qiao_cuda_attn_mma_tile_t k_attn_mma_default = {4, 32};

#define AT_MAX_RW 8           /* rows per warp */
#define AT_MAX_NC 16          /* output dims per lane: Dv <= 512 */
#define AT_SMEM_MAX 47 * 1024 /* static shared memory budget (48 KiB limit) */
#define AT_MMA_MAX_D 128
#define AT_DECODE_MAX_ROWS 16

typedef struct at_shape {
  int64_t B, Hq, Hkv, G, Sq, Skv, D, Dv, W;
  bool causal, has_mask;
  int32_t mask_in, kvl_in; /* input index of the mask / kv_len (-1: absent) */
  float scale;
  int64_t qs[4], ks[4], vs[4], mst[4];
} at_shape_t;

/* What one run of the SIMT core covers: nh consecutive q heads from h0 (all
 * of kv head kvh's group or one head) × nr query rows from i0; keys in
 * [k_lo, k_hi). Rows past Sq are idle. */
typedef struct at_rows {
  LLVMValueRef b, kvh, h0, i0, k_lo, k_hi;
  int64_t nh, nr;
  /* partial mode: workspace (f32) and this CTA's split */
  LLVMValueRef ws, split;
  int64_t nsplit;
} at_rows_t;

typedef struct at_ctx {
  qiao_cuda_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  at_shape_t s;
  qiao_cuda_attn_tile_t t;
  int32_t threads;
  LLVMValueRef qp, kp, vp, mp, klp;
  LLVMValueRef L;          /* valid keys of the current batch: clamp(kv_len[b], 0, Skv), or Skv */
  LLVMValueRef Qs, Ks, Vs; /* shared arrays */
  int64_t nQs, nKs, nVs, ldk;
  int64_t want_splits; /* split-KV decode: splits asked for (0: about two waves of CTAs) */
} at_ctx_t;

static LLVMValueRef c64(at_ctx_t *c, int64_t v) { return qiao_cg_i64(&c->cg->base, v); }
static LLVMValueRef cf(at_ctx_t *c, double v) { return qiao_cg_f32c(&c->cg->base, v); }

static LLVMValueRef sptr(qiao_cuda_codegen_t *cg, LLVMValueRef arr, LLVMTypeRef et, int64_t n,
                         LLVMValueRef i) {
  LLVMValueRef idx[2] = {qiao_cg_i64(&cg->base, 0), i};
  return LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(et, (uint64_t)n), arr, idx, 2, "");
}

static LLVMValueRef imin(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
}
static LLVMValueRef imax(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
}

static void at_plan(const qiao_kernel_desc_t *kd, at_shape_t *s) {
  const qiao_kd_operand_t *q = &kd->inputs[0], *k = &kd->inputs[1], *v = &kd->inputs[2];
  memset(s, 0, sizeof *s);
  s->B = q->type.shape.dims[0];
  s->Hq = q->type.shape.dims[1];
  s->Sq = q->type.shape.dims[2];
  s->D = q->type.shape.dims[3];
  s->Hkv = k->type.shape.dims[1];
  s->Skv = k->type.shape.dims[2];
  s->Dv = v->type.shape.dims[3];
  s->G = s->Hkv > 0 ? s->Hq / s->Hkv : 1;
  s->W = kd->attrs.window;
  s->causal = kd->attrs.causal;
  s->scale = (float)(kd->attrs.has_scale && !isnan(kd->attrs.scale)
                         ? kd->attrs.scale
                         : 1.0 / sqrt((double)(s->D ? s->D : 1)));
  for (int d = 0; d < 4; ++d) {
    s->qs[d] = q->strides[d];
    s->ks[d] = k->strides[d];
    s->vs[d] = v->strides[d];
  }
  qiao_attention_operand_roles(kd->n_primary_inputs,
                               kd->n_primary_inputs > 3 ? kd->inputs[3].type.dtype : QIAO_F32,
                               &s->mask_in, &s->kvl_in);
  s->has_mask = s->mask_in >= 0;
  if (s->has_mask) {
    const qiao_kd_operand_t *m = &kd->inputs[s->mask_in];
    int mr = m->type.shape.rank, off = 4 - mr;
    for (int d = 0; d < 4; ++d) {
      int md = d - off;
      s->mst[d] = (md < 0 || m->type.shape.dims[md] == 1) ? 0 : m->strides[md];
    }
  }
}

/* exp(a - m), the factor rescaling a sum kept relative to max a to max m: 1
 * when both are -inf (nothing seen yet), NaN for +inf/+inf (as exp(inf-inf)). */
static LLVMValueRef rescale(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef m) {
  LLVMValueRef eq = LLVMBuildAnd(
      cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, a, m, ""),
      LLVMBuildFCmp(cg->b, LLVMRealOEQ, a, qiao_cg_f32c(&cg->base, -INFINITY), ""), "");
  LLVMValueRef ex = qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, a, m, ""));
  return LLVMBuildSelect(cg->b, eq, qiao_cg_f32c(&cg->base, 1.0), ex, "");
}

/* p = exp(s - m) with p = 0 for s = -inf (an unseen key, even when m is -inf). */
static LLVMValueRef prob(qiao_cuda_codegen_t *cg, LLVMValueRef s, LLVMValueRef m) {
  LLVMValueRef ninf = LLVMBuildFCmp(cg->b, LLVMRealOEQ, s, qiao_cg_f32c(&cg->base, -INFINITY), "");
  LLVMValueRef ex = qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, s, m, ""));
  return LLVMBuildSelect(cg->b, ninf, qiao_cg_f32c(&cg->base, 0.0), ex, "");
}

static LLVMValueRef comb_max(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return qiao_cg_emit_max_acc(&cg->base, a, b);
}

static LLVMValueRef shfl_idx(qiao_cuda_codegen_t *cg, LLVMValueRef v, LLVMValueRef lane32) {
  LLVMValueRef args[4] = {LLVMConstInt(cg->t_i32, 0xffffffffu, 0), v, lane32,
                          LLVMConstInt(cg->t_i32, 0x1f, 0)};
  return qiao_cg_call_intrinsic(&cg->base, "llvm.nvvm.shfl.sync.idx.f32", NULL, 0, args, 4);
}

/* Position of query i (runtime) and whether key j is visible to it. */
static LLVMValueRef at_visible(at_ctx_t *c, LLVMValueRef i, LLVMValueRef j) {
  qiao_cuda_codegen_t *cg = c->cg;
  LLVMBuilderRef b = cg->b;
  LLVMValueRef pos = LLVMBuildAdd(b, i, LLVMBuildSub(b, c->L, c64(c, c->s.Sq), ""), "pos");
  LLVMValueRef vis = LLVMConstInt(cg->t_i1, 1, 0);
  if (c->s.causal || c->s.W > 0) vis = LLVMBuildICmp(b, LLVMIntSLE, j, pos, "");
  if (c->s.W > 0)
    vis = LLVMBuildAnd(
        b, vis, LLVMBuildICmp(b, LLVMIntSGT, j, LLVMBuildSub(b, pos, c64(c, c->s.W), ""), ""), "");
  return vis;
}

/* The keys rows [i_first, i_last] can see: [lo, hi) (clipped to [0, Skv)). */
static void at_key_range(at_ctx_t *c, LLVMValueRef i_first, LLVMValueRef i_last, LLVMValueRef *lo,
                         LLVMValueRef *hi) {
  qiao_cuda_codegen_t *cg = c->cg;
  LLVMBuilderRef b = cg->b;
  *lo = c64(c, 0);
  *hi = c->L; /* keys past kv_len are never loaded */
  LLVMValueRef off = LLVMBuildSub(b, c->L, c64(c, c->s.Sq), "");
  if (c->s.causal || c->s.W > 0)
    *hi = imax(cg, c64(c, 0),
               imin(cg, *hi, LLVMBuildAdd(b, i_last, qiao_cg_iadd(&cg->base, off, c64(c, 1)), "")));
  if (c->s.W > 0)
    *lo = imax(cg, *lo,
               LLVMBuildAdd(b, i_first, qiao_cg_iadd(&cg->base, off, c64(c, 1 - c->s.W)), ""));
}

/* Mask value at (b, h, i, j) (f32), broadcast strides. */
static LLVMValueRef at_mask(at_ctx_t *c, LLVMValueRef bb, LLVMValueRef h, LLVMValueRef i,
                            LLVMValueRef j) {
  qiao_cuda_codegen_t *cg = c->cg;
  LLVMValueRef crd[4] = {bb, h, i, j};
  LLVMValueRef off = qiao_cuda_offset(cg, 4, crd, c->s.mst);
  return qiao_cg_load_f32(&cg->base, c->mp, c->kd->inputs[c->s.mask_in].type.dtype, off, 1);
}

/* ------------------------------------------------------------ SIMT core */

static int64_t simt_smem(const at_shape_t *s, const qiao_cuda_attn_tile_t *t) {
  int64_t R = (int64_t)t->warps * t->rows_per_warp;
  return 4 * (R * s->D + (int64_t)t->bk * (s->D + 1) + (int64_t)t->bk * s->Dv);
}

/* Fits the SIMT tiles into the static shared-memory budget: fewer keys per
 * tile first, then fewer rows. false when even 1 row × 8 keys do not fit. */
static bool simt_fit(const at_shape_t *s, qiao_cuda_attn_tile_t *t) {
  while (simt_smem(s, t) > AT_SMEM_MAX) {
    if (t->bk > 8)
      t->bk /= 2;
    else if (t->rows_per_warp > 1)
      t->rows_per_warp /= 2;
    else if (t->warps > 1)
      t->warps /= 2;
    else
      return false;
  }
  return true;
}

static void simt_alloc(at_ctx_t *c) {
  qiao_cuda_codegen_t *cg = c->cg;
  int64_t R = (int64_t)c->t.warps * c->t.rows_per_warp;
  c->ldk = c->s.D + 1;
  c->nQs = R * c->s.D > 0 ? R * c->s.D : 1;
  c->nKs = c->t.bk * c->ldk;
  c->nVs = c->t.bk * c->s.Dv > 0 ? c->t.bk * c->s.Dv : 1;
  c->Qs = qiao_cuda_shared(cg, cg->t_f32, c->nQs, "Qs");
  c->Ks = qiao_cuda_shared(cg, cg->t_f32, c->nKs, "Ks");
  c->Vs = qiao_cuda_shared(cg, cg->t_f32, c->nVs, "Vs");
}

/* The SIMT core over the rows and key range of `r`. Final mode (r->ws NULL):
 * every row's output through the epilogue; partial mode: (m, l, O) per row
 * into the workspace. Every thread of the CTA must reach it. */
static void simt_core(at_ctx_t *c, const at_rows_t *r) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const at_shape_t *s = &c->s;
  int32_t RW = c->t.rows_per_warp, BK = c->t.bk;
  int64_t R = r->nh * r->nr;
  int64_t NC = (s->Dv + 31) / 32;
  LLVMTypeRef f32 = cg->t_f32;
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildAnd(b, tid, c64(c, 31), "lane");
  LLVMValueRef warp = LLVMBuildLShr(b, tid, c64(c, 5), "warp");
  LLVMValueRef lane32 = LLVMBuildTrunc(b, lane, cg->t_i32, "");

  /* register state, per row slot */
  LLVMValueRef m[AT_MAX_RW], l[AT_MAX_RW], acc[AT_MAX_RW][AT_MAX_NC];
  for (int q = 0; q < RW; ++q) {
    m[q] = qiao_cuda_alloca(cg, f32, "m");
    l[q] = qiao_cuda_alloca(cg, f32, "l");
    LLVMBuildStore(b, cf(c, -INFINITY), m[q]);
    LLVMBuildStore(b, cf(c, 0.0), l[q]);
    for (int n = 0; n < NC; ++n) {
      acc[q][n] = qiao_cuda_alloca(cg, f32, "o");
      LLVMBuildStore(b, cf(c, 0.0), acc[q][n]);
    }
  }
  /* row of set index ri: head h0 + ri / nr, query i0 + ri % nr */
  LLVMValueRef hq[AT_MAX_RW], iq[AT_MAX_RW], ok[AT_MAX_RW];
  for (int q = 0; q < RW; ++q) {
    LLVMValueRef ri = qiao_cg_iadd(cb, LLVMBuildMul(b, warp, c64(c, RW), ""), c64(c, q));
    hq[q] = LLVMBuildAdd(b, r->h0, LLVMBuildUDiv(b, ri, c64(c, r->nr), ""), "h");
    iq[q] = LLVMBuildAdd(b, r->i0, LLVMBuildURem(b, ri, c64(c, r->nr), ""), "i");
    ok[q] = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntULT, ri, c64(c, R), ""),
                         LLVMBuildICmp(b, LLVMIntSLT, iq[q], c64(c, s->Sq), ""), "ok");
  }

  /* Q rows, pre-scaled, f32: Qs[ri][d] (0 for idle rows) */
  {
    qiao_cg_loop_t ql;
    qiao_cuda_thread_loop_begin(cg, R * s->D, c->threads, &ql);
    LLVMValueRef ri = LLVMBuildUDiv(b, ql.iv, c64(c, s->D), "");
    LLVMValueRef d = LLVMBuildURem(b, ql.iv, c64(c, s->D), "");
    LLVMValueRef h = LLVMBuildAdd(b, r->h0, LLVMBuildUDiv(b, ri, c64(c, r->nr), ""), "");
    LLVMValueRef i = LLVMBuildAdd(b, r->i0, LLVMBuildURem(b, ri, c64(c, r->nr), ""), "");
    LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "qv");
    LLVMBuildStore(b, cf(c, 0.0), slot);
    LLVMBasicBlockRef cont =
        qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, i, c64(c, s->Sq), ""), "q");
    LLVMValueRef crd[4] = {r->b, h, i, d};
    LLVMValueRef v = qiao_cg_load_f32(cb, c->qp, c->kd->inputs[0].type.dtype,
                                      qiao_cuda_offset(cg, 4, crd, s->qs), 1);
    LLVMBuildStore(b, LLVMBuildFMul(b, v, cf(c, s->scale), ""), slot);
    qiao_cg_endif(cb, cont);
    LLVMBuildStore(b, LLVMBuildLoad2(b, f32, slot, ""), sptr(cg, c->Qs, f32, c->nQs, ql.iv));
    qiao_cg_loop_end(cb, &ql);
  }

  qiao_cg_loop_t kt;
  qiao_cg_loop_begin(cb, r->k_lo, r->k_hi, BK, "kt", &kt);
  {
    LLVMValueRef k0 = kt.iv;
    LLVMValueRef kend = imin(cg, r->k_hi, LLVMBuildAdd(b, k0, c64(c, BK), ""));
    /* stage K (Ks[j][d], rows padded by one) and V (Vs[j][d]); 0 past the range */
    for (int op = 0; op < 2; ++op) {
      int64_t Dx = op ? s->Dv : s->D;
      if (Dx == 0) continue;
      qiao_cg_loop_t sl;
      qiao_cuda_thread_loop_begin(cg, BK * Dx, c->threads, &sl);
      LLVMValueRef j = LLVMBuildUDiv(b, sl.iv, c64(c, Dx), "");
      LLVMValueRef d = LLVMBuildURem(b, sl.iv, c64(c, Dx), "");
      LLVMValueRef key = LLVMBuildAdd(b, k0, j, "key");
      LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "kv");
      LLVMBuildStore(b, cf(c, 0.0), slot);
      LLVMBasicBlockRef cont = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, key, kend, ""), "kv");
      LLVMValueRef crd[4] = {r->b, r->kvh, key, d};
      LLVMValueRef v = qiao_cg_load_f32(cb, op ? c->vp : c->kp, c->kd->inputs[1 + op].type.dtype,
                                        qiao_cuda_offset(cg, 4, crd, op ? s->vs : s->ks), 1);
      LLVMBuildStore(b, v, slot);
      qiao_cg_endif(cb, cont);
      LLVMValueRef si = op ? sl.iv : qiao_cg_imadd(cb, d, j, c->ldk);
      LLVMBuildStore(b, LLVMBuildLoad2(b, f32, slot, ""),
                     sptr(cg, op ? c->Vs : c->Ks, f32, op ? c->nVs : c->nKs, si));
      qiao_cg_loop_end(cb, &sl);
    }
    qiao_cuda_barrier(cg);
    LLVMValueRef key = LLVMBuildAdd(b, k0, lane, "key");
    LLVMValueRef in_tile = LLVMBuildICmp(b, LLVMIntSLT, key, kend, "");
    for (int q = 0; q < RW; ++q) {
      /* warp-uniform: the whole warp takes the row or skips it */
      LLVMBasicBlockRef cont = qiao_cg_if(cb, ok[q], "row");
      LLVMValueRef ri = qiao_cg_iadd(cb, LLVMBuildMul(b, warp, c64(c, RW), ""), c64(c, q));
      /* score of key lane: Σ_d Qs[ri][d]·Ks[lane][d] */
      LLVMValueRef dot = qiao_cuda_alloca(cg, f32, "dot");
      LLVMBuildStore(b, cf(c, 0.0), dot);
      LLVMValueRef kj = imin(cg, lane, c64(c, BK - 1));
      qiao_cg_loop_t dl;
      qiao_cg_loop_begin(cb, c64(c, 0), c64(c, s->D), 1, "d", &dl);
      {
        LLVMValueRef qv = LLVMBuildLoad2(
            b, f32, sptr(cg, c->Qs, f32, c->nQs, qiao_cg_imadd(cb, dl.iv, ri, s->D)), "");
        LLVMValueRef kv = LLVMBuildLoad2(
            b, f32, sptr(cg, c->Ks, f32, c->nKs, qiao_cg_imadd(cb, dl.iv, kj, c->ldk)), "");
        LLVMBuildStore(b, qiao_cg_fma(cb, qv, kv, LLVMBuildLoad2(b, f32, dot, "")), dot);
      }
      qiao_cg_loop_end(cb, &dl);
      LLVMValueRef sc = LLVMBuildLoad2(b, f32, dot, "");
      LLVMValueRef seen = LLVMBuildAnd(b, in_tile, at_visible(c, iq[q], key), "seen");
      if (s->has_mask) {
        LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "mk");
        LLVMBuildStore(b, cf(c, 0.0), slot);
        LLVMBasicBlockRef mc = qiao_cg_if(cb, seen, "mask");
        LLVMBuildStore(b, at_mask(c, r->b, hq[q], iq[q], key), slot);
        qiao_cg_endif(cb, mc);
        sc = LLVMBuildFAdd(b, sc, LLVMBuildLoad2(b, f32, slot, ""), "");
      }
      sc = LLVMBuildSelect(b, seen, sc, cf(c, -INFINITY), "s");
      LLVMValueRef mt = sc;
      for (int k = 16; k >= 1; k /= 2)
        mt = comb_max(cg, mt, qiao_cuda_shfl_bfly(cg, mt, k));
      LLVMValueRef mo = LLVMBuildLoad2(b, f32, m[q], "");
      LLVMValueRef mn = qiao_cg_emit_max_acc(cb, mo, mt);
      LLVMValueRef alpha = rescale(cg, mo, mn);
      LLVMValueRef p = prob(cg, sc, mn);
      LLVMBuildStore(b, mn, m[q]);
      LLVMBuildStore(
          b, LLVMBuildFAdd(b, LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, l[q], ""), alpha, ""), p, ""),
          l[q]);
      LLVMValueRef o[AT_MAX_NC];
      for (int n = 0; n < NC; ++n)
        o[n] = LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, acc[q][n], ""), alpha, "");
      /* O += Σ_j p_j · V[j][lane + 32n], p_j from lane j */
      for (int j = 0; j < BK; ++j) {
        LLVMValueRef pj = shfl_idx(cg, p, LLVMConstInt(cg->t_i32, (unsigned)j, 0));
        for (int n = 0; n < NC; ++n) {
          int64_t dmax = s->Dv - 32 * n; /* lanes < dmax hold a real dim */
          LLVMValueRef dcol = qiao_cg_iadd(cb, lane, c64(c, 32 * n));
          if (dmax < 32) dcol = imin(cg, dcol, c64(c, s->Dv - 1));
          LLVMValueRef vv = LLVMBuildLoad2(
              b, f32, sptr(cg, c->Vs, f32, c->nVs, qiao_cg_iadd(cb, dcol, c64(c, j * s->Dv))), "");
          o[n] = qiao_cg_fma(cb, pj, vv, o[n]);
        }
      }
      for (int n = 0; n < NC; ++n)
        LLVMBuildStore(b, o[n], acc[q][n]);
      (void)lane32;
      qiao_cg_endif(cb, cont);
    }
    qiao_cuda_barrier(cg);
  }
  qiao_cg_loop_end(cb, &kt);

  /* results */
  for (int q = 0; q < RW; ++q) {
    LLVMBasicBlockRef cont = qiao_cg_if(cb, ok[q], "out");
    LLVMValueRef lt = LLVMBuildLoad2(b, f32, l[q], "");
    for (int k = 16; k >= 1; k /= 2)
      lt = LLVMBuildFAdd(b, lt, qiao_cuda_shfl_bfly(cg, lt, k), "");
    LLVMValueRef mf = LLVMBuildLoad2(b, f32, m[q], "");
    if (!r->ws) {
      LLVMValueRef none = LLVMBuildFCmp(b, LLVMRealOEQ, mf, cf(c, -INFINITY), "");
      LLVMValueRef inv = LLVMBuildFDiv(b, cf(c, 1.0), lt, "");
      for (int n = 0; n < NC; ++n) {
        LLVMValueRef dcol = qiao_cg_iadd(cb, lane, c64(c, 32 * n));
        LLVMValueRef in = LLVMBuildICmp(b, LLVMIntSLT, dcol, c64(c, s->Dv), "");
        LLVMBasicBlockRef sc = qiao_cg_if(cb, in, "st");
        LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, acc[q][n], ""), inv, "");
        y = LLVMBuildSelect(b, none, cf(c, 0.0), y, "");
        qiao_cuda_epi_t e;
        qiao_cuda_epi_init(&e, cg, c->kd);
        e.coords[0] = r->b;
        e.coords[1] = hq[q];
        e.coords[2] = iq[q];
        e.coords[3] = dcol;
        qiao_cuda_epi_store(&e, y);
        qiao_cg_endif(cb, sc);
      }
    } else {
      /* partial: ws[((b·Hq + h)·Sq + i)·nsplit + split][0..Dv+2) = m, l, O */
      LLVMValueRef row = qiao_cg_imadd(cb, iq[q], qiao_cg_imadd(cb, hq[q], r->b, s->Hq), s->Sq);
      LLVMValueRef base = qiao_cg_imul(
          cb, LLVMBuildAdd(b, LLVMBuildMul(b, row, c64(c, r->nsplit), ""), r->split, ""),
          s->Dv + 2);
      LLVMBasicBlockRef l0 = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntEQ, lane, c64(c, 0), ""), "l0");
      LLVMBuildStore(b, mf, qiao_cg_fptr(cb, r->ws, base));
      LLVMBuildStore(b, lt, qiao_cg_fptr(cb, r->ws, qiao_cg_iadd(cb, base, c64(c, 1))));
      qiao_cg_endif(cb, l0);
      for (int n = 0; n < NC; ++n) {
        LLVMValueRef dcol = qiao_cg_iadd(cb, lane, c64(c, 32 * n));
        LLVMValueRef in = LLVMBuildICmp(b, LLVMIntSLT, dcol, c64(c, s->Dv), "");
        LLVMBasicBlockRef sc = qiao_cg_if(cb, in, "st");
        LLVMBuildStore(
            b, LLVMBuildLoad2(b, f32, acc[q][n], ""),
            qiao_cg_fptr(cb, r->ws, LLVMBuildAdd(b, base, qiao_cg_iadd(cb, dcol, c64(c, 2)), "")));
        qiao_cg_endif(cb, sc);
      }
    }
    qiao_cg_endif(cb, cont);
  }
}

static void at_params(at_ctx_t *c) {
  c->qp = qiao_cuda_param(c->cg, 0);
  c->kp = qiao_cuda_param(c->cg, 1);
  c->vp = qiao_cuda_param(c->cg, 2);
  c->mp = c->s.has_mask ? qiao_cuda_param(c->cg, c->s.mask_in) : NULL;
  c->klp = c->s.kvl_in >= 0 ? qiao_cuda_param(c->cg, c->s.kvl_in) : NULL;
  c->L = c64(c, c->s.Skv);
}

/* Sets c->L for batch bb: kv_len[bb] clamped to [0, Skv] (Skv without kv_len). */
static void at_set_batch(at_ctx_t *c, LLVMValueRef bb) {
  qiao_cuda_codegen_t *cg = c->cg;
  if (!c->klp) return;
  const qiao_kd_operand_t *n = &c->kd->inputs[c->s.kvl_in];
  LLVMValueRef off = qiao_cg_imul(&cg->base, bb, n->strides[0]);
  LLVMValueRef p = qiao_cg_elem_ptr(&cg->base, c->klp, n->type.dtype, off);
  LLVMValueRef v = LLVMBuildLoad2(cg->b, qiao_cg_storage_type(&cg->base, n->type.dtype), p, "kvl");
  if (LLVMTypeOf(v) != cg->t_i64) v = LLVMBuildSExt(cg->b, v, cg->t_i64, "");
  c->L = imin(cg, imax(cg, v, c64(c, 0)), c64(c, c->s.Skv));
}

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t grid_cap(const qiao_cuda_codegen_t *cg, int64_t n) {
  int64_t cap = 32 * (int64_t)(cg->n_sms > 0 ? cg->n_sms : 132);
  return n < 1 ? 1 : n < cap ? n : cap;
}

/* SIMT prefill: a CTA per (b, q head, row tile), CTA-stride. */
static qiao_status_t lower_simt_prefill(at_ctx_t *c, const char *name, qiao_cuda_kernel_t *out) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const at_shape_t *s = &c->s;
  int64_t BQ = (int64_t)c->t.warps * c->t.rows_per_warp;
  int64_t nqt = cdiv(s->Sq, BQ), total = s->B * s->Hq * nqt;
  qiao_cuda_entry_begin(cg, name, c->kd->n_inputs + c->kd->n_outputs);
  at_params(c);
  simt_alloc(c);
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef qt = LLVMBuildURem(b, tl.iv, c64(c, nqt), "qt");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, c64(c, nqt), "");
  at_rows_t r;
  memset(&r, 0, sizeof r);
  r.h0 = LLVMBuildURem(b, rest, c64(c, s->Hq), "h");
  r.b = LLVMBuildUDiv(b, rest, c64(c, s->Hq), "b");
  r.kvh = LLVMBuildUDiv(b, r.h0, c64(c, s->G), "kvh");
  at_set_batch(c, r.b);
  r.i0 = LLVMBuildMul(b, qt, c64(c, BQ), "i0");
  r.nh = 1;
  r.nr = BQ;
  LLVMValueRef i_last = imin(cg, qiao_cg_iadd(cb, r.i0, c64(c, BQ - 1)), c64(c, s->Sq - 1));
  at_key_range(c, r.i0, i_last, &r.k_lo, &r.k_hi);
  simt_core(c, &r);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  out->fn = cg->fn;
  out->block[0] = c->threads;
  out->grid[0] = grid_cap(cg, total);
  out->shared_bytes = 4 * (c->nQs + c->nKs + c->nVs);
  return NULL;
}

/* ------------------------------------------------------------ tensor cores */

/* smem[sidx] = the 16-bit element at base[off] when `in`, else 0 bits. */
static void stage16(qiao_cuda_codegen_t *cg, LLVMValueRef base, LLVMValueRef off, LLVMValueRef in,
                    LLVMValueRef smem, int64_t n, LLVMValueRef sidx) {
  LLVMValueRef slot = qiao_cuda_alloca(cg, cg->t_i16, "s16");
  LLVMBuildStore(cg->b, LLVMConstInt(cg->t_i16, 0, 0), slot);
  LLVMBasicBlockRef cont = qiao_cg_if(&cg->base, in, "ld16");
  LLVMValueRef l =
      LLVMBuildLoad2(cg->b, cg->t_i16, LLVMBuildGEP2(cg->b, cg->t_i16, base, &off, 1, ""), "");
  LLVMSetAlignment(l, 2);
  LLVMBuildStore(cg->b, l, slot);
  qiao_cg_endif(&cg->base, cont);
  LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_i16, slot, ""),
                 sptr(cg, smem, cg->t_i16, n, sidx));
}

/* The 32-bit pair smem[sidx], smem[sidx + 1] (sidx even). */
static LLVMValueRef pair32(qiao_cuda_codegen_t *cg, LLVMValueRef smem, int64_t n,
                           LLVMValueRef sidx) {
  LLVMValueRef l = LLVMBuildLoad2(cg->b, cg->t_i32, sptr(cg, smem, cg->t_i16, n, sidx), "");
  LLVMSetAlignment(l, 4);
  return l;
}

/* Two f32 rounded to f16/bf16 bits, packed (lo: the lower k index). */
static LLVMValueRef pack2(qiao_cuda_codegen_t *cg, bool bf16, LLVMValueRef lo, LLVMValueRef hi) {
  qiao_dtype_t dt = bf16 ? QIAO_BF16 : QIAO_F16;
  LLVMValueRef a =
      LLVMBuildBitCast(cg->b, qiao_cg_f32_to_storage(&cg->base, lo, dt, 1), cg->t_i16, "");
  LLVMValueRef b =
      LLVMBuildBitCast(cg->b, qiao_cg_f32_to_storage(&cg->base, hi, dt, 1), cg->t_i16, "");
  LLVMValueRef a32 = LLVMBuildZExt(cg->b, a, cg->t_i32, "");
  LLVMValueRef b32 = LLVMBuildZExt(cg->b, b, cg->t_i32, "");
  return LLVMBuildOr(cg->b, a32, LLVMBuildShl(cg->b, b32, LLVMConstInt(cg->t_i32, 16, 0), ""), "");
}

#define AT_MMA_MAX_NT 16 /* score n8 tiles: bk <= 128 */
#define AT_MMA_MAX_DT 16 /* output n8 tiles: Dv <= 128 */

/* Tensor-core prefill: a CTA per (b, q head, 16·warps rows), a warp per 16 rows. */
static qiao_status_t lower_mma_prefill(at_ctx_t *c, const char *name, qiao_cuda_kernel_t *out) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const at_shape_t *s = &c->s;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_cuda_attn_mma_tile_t t = k_attn_mma_default;
  bool bf16 = kd->inputs[0].type.dtype == QIAO_BF16;
  LLVMTypeRef f32 = cg->t_f32;
  int64_t BQ = 16 * (int64_t)t.warps, BK = t.bk;
  int64_t Dp = (s->D + 15) / 16 * 16, Dvp = (s->Dv + 7) / 8 * 8;
  int64_t ldq = Dp + 8, ldv = BK + 8;
  int64_t nQ = BQ * ldq, nK = BK * ldq, nV = Dvp * ldv;
  int64_t NT = BK / 8, DT = Dvp / 8;
  int32_t threads = 32 * t.warps;
  int64_t nqt = cdiv(s->Sq, BQ), total = s->B * s->Hq * nqt;
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  at_params(c);
  LLVMValueRef Qs = qiao_cuda_shared(cg, cg->t_i16, nQ, "Qh");
  LLVMValueRef Ks = qiao_cuda_shared(cg, cg->t_i16, nK, "Kh");
  LLVMValueRef Vt = qiao_cuda_shared(cg, cg->t_i16, nV, "Vt");
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildAnd(b, tid, c64(c, 31), "lane");
  LLVMValueRef warp = LLVMBuildLShr(b, tid, c64(c, 5), "warp");
  LLVMValueRef grp = LLVMBuildLShr(b, lane, c64(c, 2), "grp");
  LLVMValueRef tig = LLVMBuildAnd(b, lane, c64(c, 3), "tig");
  LLVMValueRef tig2 = LLVMBuildShl(b, tig, c64(c, 1), "");
  LLVMValueRef wrow = LLVMBuildMul(b, warp, c64(c, 16), "wrow");
  LLVMValueRef m[2], l[2], o[AT_MMA_MAX_DT][4];
  for (int h = 0; h < 2; ++h) {
    m[h] = qiao_cuda_alloca(cg, f32, "m");
    l[h] = qiao_cuda_alloca(cg, f32, "l");
  }
  for (int64_t dn = 0; dn < DT; ++dn)
    for (int q = 0; q < 4; ++q)
      o[dn][q] = qiao_cuda_alloca(cg, f32, "o");

  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef qt = LLVMBuildURem(b, tl.iv, c64(c, nqt), "qt");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, c64(c, nqt), "");
  LLVMValueRef h = LLVMBuildURem(b, rest, c64(c, s->Hq), "h");
  LLVMValueRef bb = LLVMBuildUDiv(b, rest, c64(c, s->Hq), "b");
  LLVMValueRef kvh = LLVMBuildUDiv(b, h, c64(c, s->G), "kvh");
  at_set_batch(c, bb);
  LLVMValueRef i0 = LLVMBuildMul(b, qt, c64(c, BQ), "i0");
  LLVMValueRef i_last = imin(cg, qiao_cg_iadd(cb, i0, c64(c, BQ - 1)), c64(c, s->Sq - 1));
  LLVMValueRef k_lo, k_hi;
  at_key_range(c, i0, i_last, &k_lo, &k_hi);
  /* this warp's rows and the keys they can see (causal: skip the tiles past them) */
  LLVMValueRef wi0 = LLVMBuildAdd(b, i0, wrow, "wi0");
  LLVMValueRef w_last = imin(cg, qiao_cg_iadd(cb, wi0, c64(c, 15)), c64(c, s->Sq - 1));
  LLVMValueRef w_lo, w_hi;
  at_key_range(c, wi0, w_last, &w_lo, &w_hi);
  LLVMValueRef w_any = LLVMBuildICmp(b, LLVMIntSLT, wi0, c64(c, s->Sq), "");
  for (int hh = 0; hh < 2; ++hh) {
    LLVMBuildStore(b, cf(c, -INFINITY), m[hh]);
    LLVMBuildStore(b, cf(c, 0.0), l[hh]);
  }
  for (int64_t dn = 0; dn < DT; ++dn)
    for (int q = 0; q < 4; ++q)
      LLVMBuildStore(b, cf(c, 0.0), o[dn][q]);
  /* stage Q: Qs[r][d] (zero bits past Sq / D) */
  {
    qiao_cg_loop_t ql;
    qiao_cuda_thread_loop_begin(cg, BQ * Dp, threads, &ql);
    LLVMValueRef r = LLVMBuildUDiv(b, ql.iv, c64(c, Dp), "");
    LLVMValueRef d = LLVMBuildURem(b, ql.iv, c64(c, Dp), "");
    LLVMValueRef i = LLVMBuildAdd(b, i0, r, "");
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, i, c64(c, s->Sq), ""),
                                   LLVMBuildICmp(b, LLVMIntSLT, d, c64(c, s->D), ""), "");
    LLVMValueRef crd[4] = {bb, h, i, d};
    stage16(cg, c->qp, qiao_cuda_offset(cg, 4, crd, s->qs), in, Qs, nQ,
            qiao_cg_imadd(cb, d, r, ldq));
    qiao_cg_loop_end(cb, &ql);
  }
  qiao_cg_loop_t kt;
  qiao_cg_loop_begin(cb, k_lo, k_hi, BK, "kt", &kt);
  {
    LLVMValueRef k0 = kt.iv;
    LLVMValueRef kend = imin(cg, k_hi, LLVMBuildAdd(b, k0, c64(c, BK), ""));
    /* K as Ks[j][d]; V transposed as Vt[d][j] */
    {
      qiao_cg_loop_t sl;
      qiao_cuda_thread_loop_begin(cg, BK * Dp, threads, &sl);
      LLVMValueRef j = LLVMBuildUDiv(b, sl.iv, c64(c, Dp), "");
      LLVMValueRef d = LLVMBuildURem(b, sl.iv, c64(c, Dp), "");
      LLVMValueRef key = LLVMBuildAdd(b, k0, j, "");
      LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, key, kend, ""),
                                     LLVMBuildICmp(b, LLVMIntSLT, d, c64(c, s->D), ""), "");
      LLVMValueRef crd[4] = {bb, kvh, key, d};
      stage16(cg, c->kp, qiao_cuda_offset(cg, 4, crd, s->ks), in, Ks, nK,
              qiao_cg_imadd(cb, d, j, ldq));
      qiao_cg_loop_end(cb, &sl);
      qiao_cuda_thread_loop_begin(cg, BK * Dvp, threads, &sl);
      j = LLVMBuildUDiv(b, sl.iv, c64(c, Dvp), "");
      d = LLVMBuildURem(b, sl.iv, c64(c, Dvp), "");
      key = LLVMBuildAdd(b, k0, j, "");
      in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, key, kend, ""),
                        LLVMBuildICmp(b, LLVMIntSLT, d, c64(c, s->Dv), ""), "");
      LLVMValueRef crv[4] = {bb, kvh, key, d};
      stage16(cg, c->vp, qiao_cuda_offset(cg, 4, crv, s->vs), in, Vt, nV,
              qiao_cg_imadd(cb, j, d, ldv));
      qiao_cg_loop_end(cb, &sl);
    }
    qiao_cuda_barrier(cg);
    LLVMValueRef busy = LLVMBuildAnd(b, w_any,
                                     LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, k0, w_hi, ""),
                                                  LLVMBuildICmp(b, LLVMIntSGT, kend, w_lo, ""), ""),
                                     "");
    LLVMBasicBlockRef wc = qiao_cg_if(cb, busy, "warp");
    {
      /* S = Q·Kᵀ for the warp's 16 rows × BK keys */
      LLVMValueRef sc[AT_MMA_MAX_NT][4];
      for (int64_t nt = 0; nt < NT; ++nt)
        for (int q = 0; q < 4; ++q)
          sc[nt][q] = cf(c, 0.0);
      LLVMValueRef qrow = LLVMBuildAdd(b, wrow, grp, "");
      for (int64_t ks = 0; ks < Dp / 16; ++ks) {
        LLVMValueRef qb = qiao_cg_iadd(cb, qiao_cg_imadd(cb, tig2, qrow, ldq), c64(c, ks * 16));
        LLVMValueRef af[4] = {pair32(cg, Qs, nQ, qb),
                              pair32(cg, Qs, nQ, qiao_cg_iadd(cb, qb, c64(c, 8 * ldq))),
                              pair32(cg, Qs, nQ, qiao_cg_iadd(cb, qb, c64(c, 8))),
                              pair32(cg, Qs, nQ, qiao_cg_iadd(cb, qb, c64(c, 8 * ldq + 8)))};
        for (int64_t nt = 0; nt < NT; ++nt) {
          LLVMValueRef kb =
              qiao_cg_iadd(cb, qiao_cg_imadd(cb, tig2, qiao_cg_iadd(cb, grp, c64(c, nt * 8)), ldq),
                           c64(c, ks * 16));
          LLVMValueRef bf[2] = {pair32(cg, Ks, nK, kb),
                                pair32(cg, Ks, nK, qiao_cg_iadd(cb, kb, c64(c, 8)))};
          qiao_cuda_emit_mma(cg, bf16 ? QIAO_CUDA_MMA_BF16 : QIAO_CUDA_MMA_F16, af, bf, sc[nt]);
        }
      }
      /* scale, mask, visibility; the row maxima (rows grp and grp + 8) */
      LLVMValueRef iq[2], mx[2];
      for (int hh = 0; hh < 2; ++hh) {
        iq[hh] = LLVMBuildAdd(b, wi0, qiao_cg_iadd(cb, grp, c64(c, 8 * hh)), "");
        mx[hh] = cf(c, -INFINITY);
      }
      for (int64_t nt = 0; nt < NT; ++nt)
        for (int q = 0; q < 4; ++q) {
          int hh = q >> 1;
          LLVMValueRef key =
              LLVMBuildAdd(b, k0, qiao_cg_iadd(cb, tig2, c64(c, nt * 8 + (q & 1))), "");
          LLVMValueRef seen =
              LLVMBuildAnd(b,
                           LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, key, kend, ""),
                                        LLVMBuildICmp(b, LLVMIntSGE, key, k_lo, ""), ""),
                           at_visible(c, iq[hh], key), "");
          LLVMValueRef v = LLVMBuildFMul(b, sc[nt][q], cf(c, s->scale), "");
          if (s->has_mask) {
            LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "mk");
            LLVMBuildStore(b, cf(c, 0.0), slot);
            LLVMValueRef okm =
                LLVMBuildAnd(b, seen, LLVMBuildICmp(b, LLVMIntSLT, iq[hh], c64(c, s->Sq), ""), "");
            LLVMBasicBlockRef mc = qiao_cg_if(cb, okm, "mask");
            LLVMBuildStore(b, at_mask(c, bb, h, iq[hh], key), slot);
            qiao_cg_endif(cb, mc);
            v = LLVMBuildFAdd(b, v, LLVMBuildLoad2(b, f32, slot, ""), "");
          }
          sc[nt][q] = LLVMBuildSelect(b, seen, v, cf(c, -INFINITY), "");
          mx[hh] = qiao_cg_emit_max_acc(cb, mx[hh], sc[nt][q]);
        }
      LLVMValueRef alpha[2], mn[2];
      for (int hh = 0; hh < 2; ++hh) {
        for (int k = 1; k <= 2; k *= 2)
          mx[hh] = qiao_cg_emit_max_acc(cb, mx[hh], qiao_cuda_shfl_bfly(cg, mx[hh], k));
        LLVMValueRef mo = LLVMBuildLoad2(b, f32, m[hh], "");
        mn[hh] = qiao_cg_emit_max_acc(cb, mo, mx[hh]);
        alpha[hh] = rescale(cg, mo, mn[hh]);
        LLVMBuildStore(b, mn[hh], m[hh]);
      }
      LLVMValueRef ls[2] = {cf(c, 0.0), cf(c, 0.0)};
      for (int64_t nt = 0; nt < NT; ++nt)
        for (int q = 0; q < 4; ++q) {
          /* rounded to the operand dtype here: l sums exactly the weights P·V uses */
          sc[nt][q] =
              qiao_cg_round_f32(cb, prob(cg, sc[nt][q], mn[q >> 1]), bf16 ? QIAO_BF16 : QIAO_F16);
          ls[q >> 1] = LLVMBuildFAdd(b, ls[q >> 1], sc[nt][q], "");
        }
      for (int hh = 0; hh < 2; ++hh)
        LLVMBuildStore(
            b,
            LLVMBuildFAdd(b, LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, l[hh], ""), alpha[hh], ""),
                          ls[hh], ""),
            l[hh]);
      /* O = O·alpha + P·V: P's accumulator layout is the A layout of m16k16 */
      LLVMValueRef acc[AT_MMA_MAX_DT][4];
      for (int64_t dn = 0; dn < DT; ++dn)
        for (int q = 0; q < 4; ++q)
          acc[dn][q] = LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, o[dn][q], ""), alpha[q >> 1], "");
      for (int64_t kk = 0; kk < BK / 16; ++kk) {
        LLVMValueRef pa[4] = {pack2(cg, bf16, sc[2 * kk][0], sc[2 * kk][1]),
                              pack2(cg, bf16, sc[2 * kk][2], sc[2 * kk][3]),
                              pack2(cg, bf16, sc[2 * kk + 1][0], sc[2 * kk + 1][1]),
                              pack2(cg, bf16, sc[2 * kk + 1][2], sc[2 * kk + 1][3])};
        for (int64_t dn = 0; dn < DT; ++dn) {
          LLVMValueRef vb =
              qiao_cg_iadd(cb, qiao_cg_imadd(cb, tig2, qiao_cg_iadd(cb, grp, c64(c, dn * 8)), ldv),
                           c64(c, kk * 16));
          LLVMValueRef bf[2] = {pair32(cg, Vt, nV, vb),
                                pair32(cg, Vt, nV, qiao_cg_iadd(cb, vb, c64(c, 8)))};
          qiao_cuda_emit_mma(cg, bf16 ? QIAO_CUDA_MMA_BF16 : QIAO_CUDA_MMA_F16, pa, bf, acc[dn]);
        }
      }
      for (int64_t dn = 0; dn < DT; ++dn)
        for (int q = 0; q < 4; ++q)
          LLVMBuildStore(b, acc[dn][q], o[dn][q]);
    }
    qiao_cg_endif(cb, wc);
    qiao_cuda_barrier(cg);
  }
  qiao_cg_loop_end(cb, &kt);
  /* out = O / l (0 for rows that saw nothing) */
  LLVMBasicBlockRef wo = qiao_cg_if(cb, w_any, "wout");
  for (int hh = 0; hh < 2; ++hh) {
    LLVMValueRef lt = LLVMBuildLoad2(b, f32, l[hh], "");
    for (int k = 1; k <= 2; k *= 2)
      lt = LLVMBuildFAdd(b, lt, qiao_cuda_shfl_bfly(cg, lt, k), "");
    LLVMValueRef none =
        LLVMBuildFCmp(b, LLVMRealOEQ, LLVMBuildLoad2(b, f32, m[hh], ""), cf(c, -INFINITY), "");
    LLVMValueRef inv = LLVMBuildFDiv(b, cf(c, 1.0), lt, "");
    LLVMValueRef i = LLVMBuildAdd(b, wi0, qiao_cg_iadd(cb, grp, c64(c, 8 * hh)), "");
    LLVMBasicBlockRef ri =
        qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, i, c64(c, s->Sq), ""), "row");
    for (int64_t dn = 0; dn < DT; ++dn)
      for (int q = 2 * hh; q < 2 * hh + 2; ++q) {
        LLVMValueRef col = qiao_cg_iadd(cb, tig2, c64(c, dn * 8 + (q & 1)));
        LLVMBasicBlockRef cc =
            qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, col, c64(c, s->Dv), ""), "col");
        LLVMValueRef y = LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, o[dn][q], ""), inv, "");
        y = LLVMBuildSelect(b, none, cf(c, 0.0), y, "");
        qiao_cuda_epi_t e;
        qiao_cuda_epi_init(&e, cg, kd);
        e.coords[0] = bb;
        e.coords[1] = h;
        e.coords[2] = i;
        e.coords[3] = col;
        qiao_cuda_epi_store(&e, y);
        qiao_cg_endif(cb, cc);
      }
    qiao_cg_endif(cb, ri);
  }
  qiao_cg_endif(cb, wo);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  out->fn = cg->fn;
  out->block[0] = threads;
  out->grid[0] = grid_cap(cg, total);
  out->shared_bytes = 2 * (nQ + nK + nV);
  return NULL;
}

/* ------------------------------------------------------------ decode */

static LLVMValueRef comb_add(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(cg->b, a, b, "");
}

/* The plan's split count: enough CTAs for about two waves. */
static int64_t default_splits(const at_shape_t *s, int32_t n_sms) {
  int64_t units = s->B * s->Hkv;
  return cdiv(2 * (int64_t)(n_sms > 0 ? n_sms : 132), units > 0 ? units : 1);
}

/* Keys per split for `want` splits of BK-key tiles (at least a tile each). */
static int64_t split_chunk(const at_shape_t *s, int32_t BK, int64_t want) {
  int64_t tiles = cdiv(s->Skv > 0 ? s->Skv : 1, BK);
  int64_t nsplit = want < tiles ? want : tiles;
  if (nsplit < 1) nsplit = 1;
  return cdiv(tiles, nsplit) * BK;
}

/* Split-KV decode: phase 1 partials per (b, kv head, split), phase 2 combine. */
static qiao_status_t lower_decode(at_ctx_t *c, const char *name, qiao_cuda_kernel_t *out) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const at_shape_t *s = &c->s;
  const qiao_kernel_desc_t *kd = c->kd;
  int32_t nb = kd->n_inputs + kd->n_outputs;
  int32_t BK = c->t.bk;
  int64_t want = c->want_splits > 0 ? c->want_splits : default_splits(s, cg->n_sms);
  int64_t chunk = split_chunk(s, BK, want);
  int64_t nsplit = cdiv(s->Skv > 0 ? s->Skv : 1, chunk);
  int64_t rows = s->B * s->Hq * s->Sq;
  out->workspace_bytes = 4 * rows * nsplit * (s->Dv + 2);
  if (out->workspace_bytes == 0) out->workspace_bytes = 16;

  /* phase 1 */
  qiao_cuda_entry_begin(cg, name, nb + 1);
  at_params(c);
  simt_alloc(c);
  int64_t total = s->B * s->Hkv * nsplit;
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  at_rows_t r;
  memset(&r, 0, sizeof r);
  r.split = LLVMBuildURem(b, tl.iv, c64(c, nsplit), "split");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, c64(c, nsplit), "");
  r.kvh = LLVMBuildURem(b, rest, c64(c, s->Hkv), "kvh");
  r.b = LLVMBuildUDiv(b, rest, c64(c, s->Hkv), "b");
  at_set_batch(c, r.b);
  r.h0 = LLVMBuildMul(b, r.kvh, c64(c, s->G), "h0");
  r.i0 = c64(c, 0);
  r.nh = s->G;
  r.nr = s->Sq;
  r.ws = qiao_cuda_param(cg, nb);
  r.nsplit = nsplit;
  LLVMValueRef vlo, vhi;
  at_key_range(c, c64(c, 0), c64(c, s->Sq - 1), &vlo, &vhi);
  LLVMValueRef clo = LLVMBuildMul(b, r.split, c64(c, chunk), "");
  r.k_lo = imax(cg, vlo, clo);
  r.k_hi = imin(cg, vhi, qiao_cg_iadd(cb, clo, c64(c, chunk)));
  simt_core(c, &r);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  out->n_phases = 2;
  qiao_cuda_phase_t *p0 = &out->phases[0];
  snprintf(p0->name, sizeof p0->name, "%s", name);
  p0->grid[0] = grid_cap(cg, total);
  p0->grid[1] = p0->grid[2] = 1;
  p0->block[0] = c->threads;
  p0->block[1] = p0->block[2] = 1;
  p0->shared_bytes = 4 * (c->nQs + c->nKs + c->nVs);
  out->fn = cg->fn;

  /* phase 2: combine, a CTA per (b, h, i), threads over Dv */
  qiao_cuda_phase_t *p1 = &out->phases[1];
  snprintf(p1->name, sizeof p1->name, "%s_combine", name);
  qiao_cuda_entry_begin(cg, p1->name, nb + 1);
  int32_t block = qiao_cuda_row_block(s->Dv);
  LLVMValueRef ws = qiao_cuda_param(cg, nb);
  LLVMValueRef smem = qiao_cuda_shared(cg, cg->t_f32, block / 32, "red");
  (void)smem;
  (void)comb_add;
  qiao_cg_loop_t rl;
  qiao_cuda_row_loop_begin(cg, rows, &rl);
  {
    LLVMValueRef i = LLVMBuildURem(b, rl.iv, c64(c, s->Sq), "i");
    LLVMValueRef rest2 = LLVMBuildUDiv(b, rl.iv, c64(c, s->Sq), "");
    LLVMValueRef h = LLVMBuildURem(b, rest2, c64(c, s->Hq), "h");
    LLVMValueRef bb = LLVMBuildUDiv(b, rest2, c64(c, s->Hq), "b");
    LLVMValueRef base = qiao_cg_imul(cb, qiao_cg_imul(cb, rl.iv, nsplit), s->Dv + 2);
    LLVMTypeRef f32 = cg->t_f32;
    /* M = max over the splits (NaN propagates); weights e^(m_s - M) */
    LLVMValueRef M = cf(c, -INFINITY);
    for (int64_t k = 0; k < nsplit; ++k)
      M = qiao_cg_emit_max_acc(
          cb, M,
          LLVMBuildLoad2(
              b, f32, qiao_cg_fptr(cb, ws, qiao_cg_iadd(cb, base, c64(c, k * (s->Dv + 2)))), ""));
    LLVMValueRef L = cf(c, 0.0);
    LLVMValueRef wk[64];
    int64_t nw = nsplit < 64 ? nsplit : 64;
    for (int64_t k = 0; k < nsplit; ++k) {
      LLVMValueRef pb = qiao_cg_iadd(cb, base, c64(c, k * (s->Dv + 2)));
      LLVMValueRef mk = LLVMBuildLoad2(b, f32, qiao_cg_fptr(cb, ws, pb), "");
      LLVMValueRef lk =
          LLVMBuildLoad2(b, f32, qiao_cg_fptr(cb, ws, qiao_cg_iadd(cb, pb, c64(c, 1))), "");
      LLVMValueRef w = rescale(cg, mk, M);
      if (k < nw) wk[k] = w;
      L = qiao_cg_fma(cb, w, lk, L);
    }
    LLVMValueRef none = LLVMBuildFCmp(b, LLVMRealOEQ, M, cf(c, -INFINITY), "");
    LLVMValueRef inv = LLVMBuildFDiv(b, cf(c, 1.0), L, "");
    qiao_cg_loop_t dl;
    qiao_cuda_thread_loop_begin(cg, s->Dv, block, &dl);
    {
      LLVMValueRef o = cf(c, 0.0);
      for (int64_t k = 0; k < nsplit; ++k) {
        LLVMValueRef pb = qiao_cg_iadd(cb, base, c64(c, k * (s->Dv + 2)));
        LLVMValueRef w =
            k < nw ? wk[k] : rescale(cg, LLVMBuildLoad2(b, f32, qiao_cg_fptr(cb, ws, pb), ""), M);
        LLVMValueRef ov = LLVMBuildLoad2(
            b, f32,
            qiao_cg_fptr(cb, ws, LLVMBuildAdd(b, qiao_cg_iadd(cb, pb, c64(c, 2)), dl.iv, "")), "");
        o = qiao_cg_fma(cb, w, ov, o);
      }
      LLVMValueRef y = LLVMBuildSelect(b, none, cf(c, 0.0), LLVMBuildFMul(b, o, inv, ""), "");
      qiao_cuda_epi_t e;
      qiao_cuda_epi_init(&e, cg, kd);
      e.coords[0] = bb;
      e.coords[1] = h;
      e.coords[2] = i;
      e.coords[3] = dl.iv;
      qiao_cuda_epi_store(&e, y);
    }
    qiao_cg_loop_end(cb, &dl);
  }
  qiao_cg_loop_end(cb, &rl);
  LLVMBuildRetVoid(b);
  p1->grid[0] = grid_cap(cg, rows);
  p1->grid[1] = p1->grid[2] = 1;
  p1->block[0] = block;
  p1->block[1] = p1->block[2] = 1;
  p1->shared_bytes = 0;
  for (int a = 0; a < 3; ++a) {
    out->grid[a] = p0->grid[a];
    out->block[a] = p0->block[a];
  }
  out->shared_bytes = p0->shared_bytes;
  return NULL;
}

/* ------------------------------------------------------------ variants */

/* The decode tile for s: all G·Sq rows of a GQA group in one CTA (false:
 * split-KV decode does not apply to this shape). */
static bool decode_tile(const at_shape_t *s, qiao_cuda_attn_tile_t *t) {
  if (!(s->Sq * s->G <= AT_DECODE_MAX_ROWS && s->Sq <= 4 && s->Skv > 0)) return false;
  *t = k_attn_tile_default;
  t->rows_per_warp = (int32_t)cdiv(s->Sq * s->G, t->warps);
  if (t->rows_per_warp > AT_MAX_RW) return false;
  while (t->warps > 1 && (int64_t)(t->warps - 1) * t->rows_per_warp >= s->Sq * s->G)
    t->warps--;
  return simt_fit(s, t) && (int64_t)t->warps * t->rows_per_warp >= s->Sq * s->G;
}

/* Tensor-core prefill: q, k, v all f16 or all bf16, head dims <= 128. */
static bool tc_ok(const qiao_kernel_desc_t *kd, const at_shape_t *s) {
  qiao_dtype_t qdt = kd->inputs[0].type.dtype;
  return (qdt == QIAO_F16 || qdt == QIAO_BF16) && kd->inputs[1].type.dtype == qdt &&
         kd->inputs[2].type.dtype == qdt && s->D <= AT_MMA_MAX_D && s->Dv <= AT_MMA_MAX_D;
}

static bool simt_tile(const at_shape_t *s, qiao_cuda_attn_tile_t *t) {
  *t = k_attn_tile_default;
  return simt_fit(s, t);
}

static bool at_shape_ok(const qiao_kernel_desc_t *kd, at_shape_t *s) {
  if (kd->kind != QIAO_KD_ATTENTION || kd->n_primary_inputs < 3 || kd->n_outputs != 1) return false;
  at_plan(kd, s);
  return s->Hkv > 0 && s->Hq % s->Hkv == 0 && s->Dv <= 32 * AT_MAX_NC &&
         s->B * s->Hq * s->Sq * s->Dv > 0;
}

static int32_t add_variant(qiao_kernel_variant_t *out, int32_t n, int32_t cap, int32_t id,
                           const char *name) {
  for (int32_t i = 0; i < n; ++i)
    if (out[i].id == id) return n;
  if (n >= cap) return n;
  out[n].id = id;
  snprintf(out[n].name, sizeof out[n].name, "%s", name);
  return n + 1;
}

int32_t qiao_cuda_attention_variants(const qiao_kernel_desc_t *kd, int32_t n_sms,
                                     qiao_kernel_variant_t *out, int32_t cap) {
  at_shape_t s;
  if (!at_shape_ok(kd, &s)) return 0;
  int32_t n = 0;
  qiao_cuda_attn_tile_t t;
  if (tc_ok(kd, &s)) n = add_variant(out, n, cap, QIAO_CUDA_VAR_ATTN_TC, "flash-tc");
  if (simt_tile(&s, &t)) n = add_variant(out, n, cap, QIAO_CUDA_VAR_ATTN_SIMT, "flash-simt");
  if (decode_tile(&s, &t)) {
    /* powers of two up to one tile per split, and the plan's own count */
    int64_t tiles = cdiv(s.Skv, t.bk);
    int64_t wants[16];
    int32_t nw = 0;
    wants[nw++] = default_splits(&s, n_sms);
    for (int64_t w = 1; w <= tiles && w <= QIAO_CUDA_MAX_SPLITS && nw < 16; w *= 2)
      wants[nw++] = w;
    for (int32_t i = 0; i < nw; ++i) {
      int64_t ns = cdiv(s.Skv, split_chunk(&s, t.bk, wants[i]));
      if (ns > QIAO_CUDA_MAX_SPLITS) continue;
      char nm[48];
      snprintf(nm, sizeof nm, "splitkv(s=%lld)", (long long)ns);
      n = add_variant(out, n, cap, QIAO_CUDA_VAR_ATTN_SPLITKV + (int32_t)ns, nm);
    }
  }
  return n;
}

static int64_t capped(int64_t n, int32_t n_sms) {
  int64_t cap = 32 * (int64_t)(n_sms > 0 ? n_sms : 132);
  return n < 1 ? 1 : n < cap ? n : cap;
}

/* HBM traffic model: each CTA of a prefill schedule streams the K/V of its
 * q head (re-reads by the other query tiles of that head are taken as L2
 * hits), so a GQA group reads its K/V G times; split-KV decode reads it once
 * per group and adds the workspace round trip. */
bool qiao_cuda_attention_variant_work(const qiao_kernel_desc_t *kd, int32_t variant, int32_t n_sms,
                                      qiao_cuda_variant_work_t *out) {
  memset(out, 0, sizeof *out);
  at_shape_t s;
  if (!at_shape_ok(kd, &s)) return false;
  qiao_kd_work_t w;
  qiao_kernel_desc_work(kd, &w);
  double kv = (double)(s.B * s.Hkv * s.Skv) *
              ((double)s.D * (double)qiao_dtype_size(kd->inputs[1].type.dtype) +
               (double)s.Dv * (double)qiao_dtype_size(kd->inputs[2].type.dtype));
  double rest = w.bytes > kv ? w.bytes - kv : 0;
  qiao_cuda_work_t *p = &out->w[0];
  p->block[0] = p->block[1] = p->block[2] = 1;
  p->grid[0] = p->grid[1] = p->grid[2] = 1;
  qiao_cuda_attn_tile_t t;
  if (variant == QIAO_CUDA_VAR_ATTN_TC) {
    if (!tc_ok(kd, &s)) return false;
    qiao_cuda_attn_mma_tile_t m = k_attn_mma_default;
    int64_t BQ = 16 * (int64_t)m.warps, Dp = (s.D + 15) / 16 * 16, Dvp = (s.Dv + 7) / 8 * 8;
    int pipe = kd->inputs[0].type.dtype == QIAO_BF16 ? QIAO_CUDA_PIPE_BF16 : QIAO_CUDA_PIPE_F16;
    p->flops[pipe] = w.contract_flops;
    p->flops[QIAO_CUDA_PIPE_SIMT] = w.other_flops;
    p->bytes = rest + kv * (double)s.G;
    p->grid[0] = capped(s.B * s.Hq * cdiv(s.Sq, BQ), n_sms);
    p->block[0] = 32 * m.warps;
    p->shared_bytes = 2 * (BQ * (Dp + 8) + m.bk * (Dp + 8) + Dvp * (m.bk + 8));
    out->n = 1;
    return true;
  }
  if (variant == QIAO_CUDA_VAR_ATTN_SIMT) {
    if (!simt_tile(&s, &t)) return false;
    p->flops[QIAO_CUDA_PIPE_SIMT] = w.contract_flops + w.other_flops;
    p->bytes = rest + kv * (double)s.G;
    p->grid[0] = capped(s.B * s.Hq * cdiv(s.Sq, (int64_t)t.warps * t.rows_per_warp), n_sms);
    p->block[0] = 32 * t.warps;
    p->shared_bytes = simt_smem(&s, &t);
    out->n = 1;
    return true;
  }
  if (variant <= QIAO_CUDA_VAR_ATTN_SPLITKV ||
      variant > QIAO_CUDA_VAR_ATTN_SPLITKV + QIAO_CUDA_MAX_SPLITS || !decode_tile(&s, &t))
    return false;
  int64_t ns = cdiv(s.Skv, split_chunk(&s, t.bk, variant - QIAO_CUDA_VAR_ATTN_SPLITKV));
  double rows = (double)(s.B * s.Hq * s.Sq);
  double ws = 4.0 * rows * (double)ns * (double)(s.Dv + 2);
  double out_bytes = rows * (double)s.Dv * (double)qiao_dtype_size(kd->outputs[0].type.dtype);
  p->flops[QIAO_CUDA_PIPE_SIMT] = w.contract_flops + w.other_flops;
  p->bytes = (rest > out_bytes ? rest - out_bytes : 0) + kv + ws;
  p->grid[0] = capped(s.B * s.Hkv * ns, n_sms);
  p->block[0] = 32 * t.warps;
  p->shared_bytes = simt_smem(&s, &t);
  qiao_cuda_work_t *c = &out->w[1];
  c->flops[QIAO_CUDA_PIPE_SIMT] = 4.0 * rows * (double)ns * (double)(s.Dv + 2);
  c->bytes = ws + out_bytes;
  c->grid[0] = capped((int64_t)rows, n_sms);
  c->grid[1] = c->grid[2] = 1;
  c->block[0] = qiao_cuda_row_block(s.Dv);
  c->block[1] = c->block[2] = 1;
  c->shared_bytes = 4 * (c->block[0] / 32);
  out->n = 2;
  return true;
}

/* ------------------------------------------------------------ entry */

qiao_status_t qiao_cuda_lower_attention(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                        const char *name, qiao_cuda_kernel_t *out) {
  if (kd->n_primary_inputs < 3 || kd->n_outputs != 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: not an attention descriptor", name);
  at_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  at_plan(kd, &c.s);
  const at_shape_t *s = &c.s;
  if (s->Hkv <= 0 || s->Hq % s->Hkv)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: Hq = %lld is not a multiple of Hkv = %lld",
                            name, (long long)s->Hq, (long long)s->Hkv);
  if (s->Dv > 32 * AT_MAX_NC)
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: value head dim %lld > %d", name,
                            (long long)s->Dv, 32 * AT_MAX_NC);
  if (s->B * s->Hq * s->Sq * s->Dv == 0) { /* nothing to write */
    qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
    LLVMBuildRetVoid(cg->b);
    out->fn = cg->fn;
    out->block[0] = 32;
    return NULL;
  }
  /* the plan's own choice (variant 0): split-KV decode where it applies,
   * else tensor cores where they apply, else the SIMT prefill */
  qiao_cuda_attn_tile_t dt;
  bool decode = decode_tile(s, &dt);
  int32_t var = cg->variant;
  if (var == 0)
    var = decode         ? QIAO_CUDA_VAR_ATTN_SPLITKV
          : tc_ok(kd, s) ? QIAO_CUDA_VAR_ATTN_TC
                         : QIAO_CUDA_VAR_ATTN_SIMT;
  if (var >= QIAO_CUDA_VAR_ATTN_SPLITKV &&
      var <= QIAO_CUDA_VAR_ATTN_SPLITKV + QIAO_CUDA_MAX_SPLITS) {
    if (!decode)
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "%s: split-KV decode does not apply (Sq = %lld, group %lld)", name,
                              (long long)s->Sq, (long long)s->G);
    c.t = dt;
    c.want_splits = var - QIAO_CUDA_VAR_ATTN_SPLITKV;
    c.threads = 32 * c.t.warps;
    return lower_decode(&c, name, out);
  }
  if (var == QIAO_CUDA_VAR_ATTN_TC) {
    if (!tc_ok(kd, s))
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "%s: flash-tc needs q, k, v all f16 or all bf16 and head dims <= %d",
                              name, AT_MMA_MAX_D);
    return lower_mma_prefill(&c, name, out);
  }
  if (var != QIAO_CUDA_VAR_ATTN_SIMT)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: %d is not an attention variant", name,
                            (int)var);
  if (!simt_tile(s, &c.t))
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: head dims %lld/%lld do not fit shared memory",
                            name, (long long)s->D, (long long)s->Dv);
  c.threads = 32 * c.t.warps;
  return lower_simt_prefill(&c, name, out);
}
