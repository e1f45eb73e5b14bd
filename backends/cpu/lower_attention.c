/* CPU backend — ATTENTION kernels: FlashAttention-style tiled online softmax.
 *
 * A work unit is (b, kv head, query block) with the G = Hq / Hkv query heads
 * of the group processed together (GQA head grouping: each K/V block is read
 * once for G * Bq query rows), or (b, q head, query block) when grouping
 * would leave threads idle (fewer units than threads, or fewer than two per
 * thread that do not divide evenly). Split-KV (flash-decoding, when every
 * query row of the group fits one unit): units (b, kv head, KV split) over
 * their chunk of whole key blocks write partial (m, l, acc) per row to the
 * launch's workspace, and the `<name>_combine` entry merges them. The choice
 * is qiao_cpu_attention_plan's (one function). Units are split over workgroups. Per
 * unit the keys are walked in blocks of Bk; for each query row the visible
 * keys of the block (causal / sliding window bounds, additive mask) get
 * scores q·k (q pre-scaled), the running max m, the running sum l and the
 * f32 accumulator acc[Dv] are rescaled by exp(m_old - m_new). Rows that see
 * no key produce 0. Queries sit at the last Sq positions of the L valid keys
 * (L = kv_len[b] clamped to [0, Skv], or Skv without kv_len; decode over a
 * cache); keys past L are never read.
 *
 * Scores:
 *   - use_kt (R >= 8 rows, prefill): the K block is transposed once into
 *     scratch; a pre-pass computes up to 4 rows at a time as vertical FMAs
 *     (q[d] broadcast × Kᵀ[d], each Kᵀ vector feeding 4 rows);
 *   - use_tree (R < 8, decode): full blocks as V keys' dot vectors at a time
 *     (K rows read straight, f16/bf16 widened in registers) reduced by one
 *     shuffle tree; the ragged last block by per-key dots;
 *   - otherwise one vector dot per key.
 * P·V: one p broadcast feeds up to 8 register accumulators of Dv; with one
 * query position per unit and an even group (joint), all rows share the key
 * range and P·V runs 4 or 2 rows per V vector once every row has seen a key.
 *
 * Scratch per worker: q rows (R*D), acc (R*Dv), m, l (R), scores and
 * weights (R*BkP), Kᵀ block (D*BkP). */
#include "cpu/lower_common.h"

typedef struct at_shape {
  int64_t B, Hq, Hkv, G, Sq, Skv, D, Dv, W;
  bool causal, has_mask;
  int32_t mask_in, kvl_in; /* primary input index of the mask / kv_len, -1: none */
  double scale;
  int64_t Gu, Bq, R, Bk, BkP, nqb, units;
  int64_t nsp;    /* KV splits per (b, kv head): > 1 with split (the plan's) */
  bool split;     /* split-KV: partials to the workspace, then the combine entry */
  bool use_kt;    /* scores as q · Kᵀ-block (vertical FMAs) instead of per-key dots */
  bool use_tree;  /* few rows (decode): full blocks' scores as V keys' dot vectors at a time,
                     summed by one shuffle tree (no transpose, K read straight) */
  int64_t mst[4]; /* mask strides in [B, Hq, Sq, Skv] index space (0: broadcast) */
} at_shape_t;

typedef struct at_ctx {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  at_shape_t s;
  LLVMValueRef fn, qp, kp, vp, mp, outp;
  LLVMValueRef qbuf, acc, mrow, lrow, sbuf; /* f32 pointers into scratch */
  LLVMValueRef dotv, dots, t0, t1, accv;    /* allocas */
  LLVMValueRef kt;                          /* K block transposed: [D][BkP] f32 */
  LLVMValueRef sacc[16], pacc[16];          /* score / PV register accumulators */
  LLVMValueRef tacc[16];                    /* use_tree: one dot vector per key */
  unsigned V;
} at_ctx_t;

/* Σ_d qbuf[qoff + d] * k[koff + d*ks] over D (static), vector + scalar tail. */
static LLVMValueRef at_dot(at_ctx_t *c, LLVMValueRef qoff, LLVMValueRef koff) {
  qiao_cg_t *g = &c->cg->base;
  const qiao_kd_operand_t *k = &c->kd->inputs[1];
  int64_t ks = k->strides[3];
  qiao_cg_st(g, qiao_cg_fsplat(g, 0.0, c->V), c->dotv);
  qiao_cg_st(g, qiao_cg_f32c(g, -0.0), c->dots); /* x + -0 folds to x */
  /* short rows unrolled (up to 8 vectors) */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, c->s.D, c->V, 8, "dd");
       qiao_cg_vloop_next(g, &vl);) {
    LLVMValueRef acc = vl.lanes == 1 ? c->dots : c->dotv;
    LLVMValueRef qv = qiao_cg_ldf(g, c->qbuf, qiao_cg_iadd(g, qoff, vl.i), vl.lanes);
    LLVMValueRef kv = qiao_cg_load_strided(g, c->kp, k->type.dtype,
                                           qiao_cg_imadd(g, koff, vl.i, ks), ks, vl.lanes);
    qiao_cg_fma_into(g, acc, qv, kv);
  }
  LLVMValueRef vsum = qiao_cg_reduce_add(g, qiao_cg_ld(g, LLVMVectorType(g->t_f32, c->V), c->dotv));
  return LLVMBuildFAdd(g->b, vsum, qiao_cg_ld(g, g->t_f32, c->dots), "");
}

/* KT[d][j - j0] = K[j][d] (f32) for keys j0 <= j < j_end, one element at a
 * time: partial blocks, and shapes the register transpose does not cover. */
static void at_transpose_k_scalar(qiao_cpu_codegen_t *cg, const at_ctx_t *c, const at_shape_t *s,
                                  const qiao_kd_operand_t *K, LLVMValueRef kbase, LLVMValueRef j0,
                                  LLVMValueRef j_end) {
  qiao_cg_loop_t tj, td;
  qiao_cg_loop_begin(&cg->base, j0, j_end, 1, "tj", &tj);
  LLVMValueRef koff = qiao_cg_imadd(&cg->base, kbase, tj.iv, K->strides[2]);
  LLVMValueRef col = LLVMBuildSub(cg->b, tj.iv, j0, "");
  qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->D), 1, "td",
                     &td);
  LLVMValueRef kv = qiao_cg_load_f32(&cg->base, c->kp, K->type.dtype,
                                     qiao_cg_imadd(&cg->base, koff, td.iv, K->strides[3]), 1);
  qiao_cg_stf(&cg->base, kv, c->kt,
              qiao_cg_iadd(&cg->base, qiao_cg_imul(&cg->base, td.iv, s->BkP), col));
  qiao_cg_loop_end(&cg->base, &td);
  qiao_cg_loop_end(&cg->base, &tj);
}

/* One vector whose lane t is the horizontal sum of v[t], for n = V vectors of V
 * lanes (V a power of two): log2(V) levels, each pairing vectors and adding the
 * two halves of every key's partial sums (2 shuffles + 1 add per pair). */
static LLVMValueRef at_tree_reduce(qiao_cg_t *g, LLVMValueRef *v, unsigned V) {
  LLVMValueRef cur[16], nxt[16];
  memcpy(cur, v, sizeof(LLVMValueRef) * V);
  unsigned n = V;
  for (unsigned part = V; part > 1; part /= 2) { /* partial sums per key in each vector */
    unsigned nk = V / part, h = part / 2;
    LLVMValueRef lo[16], hi[16];
    unsigned l = 0;
    for (unsigned src = 0; src < 2; ++src)
      for (unsigned k = 0; k < nk; ++k)
        for (unsigned x = 0; x < h; ++x, ++l) {
          lo[l] = LLVMConstInt(g->t_i32, src * V + k * part + x, 0);
          hi[l] = LLVMConstInt(g->t_i32, src * V + k * part + h + x, 0);
        }
    LLVMValueRef lm = LLVMConstVector(lo, V), hm = LLVMConstVector(hi, V);
    for (unsigned p = 0; p < n / 2; ++p)
      nxt[p] = LLVMBuildFAdd(g->b, LLVMBuildShuffleVector(g->b, cur[2 * p], cur[2 * p + 1], lm, ""),
                             LLVMBuildShuffleVector(g->b, cur[2 * p], cur[2 * p + 1], hm, ""), "");
    n /= 2;
    memcpy(cur, nxt, sizeof(LLVMValueRef) * n);
  }
  return cur[0];
}

/* use_tree: sbuf[0, Bk) = q_r · K[j0 + t] for a full block of Bk keys, V keys at a
 * time: V dot vectors (K rows loaded straight, f16/bf16 widened in registers,
 * q chunk shared by the V keys), then one shuffle tree. */
static void at_scores_tree(at_ctx_t *c, LLVMValueRef qrow, LLVMValueRef kbase, LLVMValueRef j0) {
  qiao_cg_t *g = &c->cg->base;
  const qiao_kd_operand_t *K = &c->kd->inputs[1];
  unsigned V = c->V;
  LLVMTypeRef vt = LLVMVectorType(g->t_f32, V);
  qiao_cg_loop_t kl, dl;
  qiao_cg_loop_begin(g, qiao_cg_i64(g, 0), qiao_cg_i64(g, c->s.Bk), V, "tk", &kl);
  LLVMValueRef krow[16];
  for (unsigned t = 0; t < V; ++t) {
    qiao_cg_st(g, qiao_cg_fsplat(g, 0.0, V), c->tacc[t]);
    krow[t] = qiao_cg_imadd(
        g, kbase, qiao_cg_iadd(g, qiao_cg_iadd(g, j0, kl.iv), qiao_cg_i64(g, t)), K->strides[2]);
  }
  qiao_cg_loop_begin(g, qiao_cg_i64(g, 0), qiao_cg_i64(g, c->s.D), V, "td", &dl);
  LLVMValueRef qv = qiao_cg_ldf(g, c->qbuf, qiao_cg_iadd(g, qrow, dl.iv), V);
  for (unsigned t = 0; t < V; ++t) {
    LLVMValueRef kv = qiao_cg_load_strided(
        g, c->kp, K->type.dtype, qiao_cg_imadd(g, krow[t], dl.iv, K->strides[3]), K->strides[3], V);
    qiao_cg_st(g, qiao_cg_fma(g, qv, kv, qiao_cg_ld(g, vt, c->tacc[t])), c->tacc[t]);
  }
  qiao_cg_loop_end(g, &dl);
  LLVMValueRef dots[16];
  for (unsigned t = 0; t < V; ++t)
    dots[t] = qiao_cg_ld(g, vt, c->tacc[t]);
  qiao_cg_stf(g, at_tree_reduce(g, dots, V), c->sbuf, kl.iv);
  qiao_cg_loop_end(g, &kl);
}

/* The block's scores sit in sbuf[0, BkP): adds the mask over [a, e) and stores
 * the maximum over the visible lanes [a, e) (NaN wins) to c->t0. */
static void at_mask_and_max(at_ctx_t *c, LLVMValueRef a, LLVMValueRef e, LLVMValueRef j0,
                            LLVMValueRef const *coords /* b, hq, i */) {
  qiao_cg_t *g = &c->cg->base;
  const at_shape_t *s = &c->s;
  unsigned V = c->V;
  if (s->has_mask) {
    const qiao_kd_operand_t *M = &c->kd->inputs[s->mask_in];
    qiao_cg_loop_t jl;
    qiao_cg_loop_begin(g, a, e, 1, "mj", &jl);
    LLVMValueRef mo =
        qiao_cg_offset(g, 4, (LLVMValueRef[]){coords[0], coords[1], coords[2], jl.iv}, s->mst);
    LLVMValueRef si = LLVMBuildSub(g->b, jl.iv, j0, "");
    qiao_cg_stf(g,
                LLVMBuildFAdd(g->b, qiao_cg_ldf(g, c->sbuf, si, 1),
                              qiao_cg_load_f32(g, c->mp, M->type.dtype, mo, 1), ""),
                c->sbuf, si);
    qiao_cg_loop_end(g, &jl);
  }
  LLVMValueRef lane[64];
  for (unsigned l = 0; l < V && l < 64; ++l)
    lane[l] = qiao_cg_i64(g, l);
  LLVMValueRef lanes_c = LLVMConstVector(lane, V);
  LLVMValueRef av = qiao_cg_splat(g, a, V), ev = qiao_cg_splat(g, e, V);
  LLVMValueRef mx = qiao_cg_fsplat(g, -INFINITY, V);
  for (int64_t k = 0; k < s->BkP / V; ++k) {
    LLVMValueRef jv = LLVMBuildAdd(
        g->b, qiao_cg_splat(g, qiao_cg_iadd(g, j0, qiao_cg_i64(g, k * V)), V), lanes_c, "");
    LLVMValueRef ok = LLVMBuildAnd(g->b, LLVMBuildICmp(g->b, LLVMIntSGE, jv, av, ""),
                                   LLVMBuildICmp(g->b, LLVMIntSLT, jv, ev, ""), "");
    LLVMValueRef sv = qiao_cg_ldf(g, c->sbuf, qiao_cg_i64(g, k * V), V);
    sv = LLVMBuildSelect(g->b, ok, sv, qiao_cg_fsplat(g, -INFINITY, V), "");
    mx = qiao_cg_emit_max_acc(g, mx, sv);
  }
  qiao_cg_st(g, qiao_cg_reduce_max(g, mx), c->t0);
}

/* acc[r] (= acc[r] * alpha when alpha is given) += Σ_{j in [a, e)} p_r[j] v_j for the
 * n rows `rows` (1, 2 or 4) at once, a register group of Dv at a time: each V vector
 * (f16/bf16 widened in registers) feeds the n rows, n * ng <= 16 accumulators.
 * p_r[j] is sblk[r * BkP + j - j0]. */
static void at_pv_rows(at_ctx_t *c, LLVMValueRef sblk, LLVMValueRef *rows, int n, LLVMValueRef a,
                       LLVMValueRef e, LLVMValueRef j0, LLVMValueRef vbase, LLVMValueRef alpha) {
  qiao_cg_t *g = &c->cg->base;
  const at_shape_t *s = &c->s;
  const qiao_kd_operand_t *Vv = &c->kd->inputs[2];
  unsigned V = c->V;
  LLVMTypeRef vt = LLVMVectorType(g->t_f32, V);
  int64_t sv = Vv->strides[3], nch = s->Dv / V, gw = n == 1 ? 8 : 16 / n;
  LLVMValueRef arow[4], prow[4];
  for (int t = 0; t < n; ++t) {
    arow[t] = qiao_cg_imul(g, rows[t], s->Dv);
    prow[t] = LLVMBuildSub(g->b, qiao_cg_imul(g, rows[t], s->BkP), j0, "");
  }
  for (int64_t g0 = 0; g0 < nch; g0 += gw) {
    int64_t ng = nch - g0 < gw ? nch - g0 : gw;
    for (int t = 0; t < n; ++t)
      for (int64_t k = 0; k < ng; ++k) {
        LLVMValueRef av =
            qiao_cg_ldf(g, c->acc, qiao_cg_iadd(g, arow[t], qiao_cg_i64(g, (g0 + k) * V)), V);
        if (alpha) av = LLVMBuildFMul(g->b, av, qiao_cg_splat(g, alpha, V), "");
        qiao_cg_st(g, av, c->pacc[t * ng + k]);
      }
    qiao_cg_loop_t vj;
    qiao_cg_loop_begin(g, a, e, 1, "vj", &vj);
    LLVMValueRef vrow = qiao_cg_imadd(g, vbase, vj.iv, Vv->strides[2]);
    LLVMValueRef vv[16], p[4];
    for (int64_t k = 0; k < ng; ++k)
      vv[k] = qiao_cg_load_strided(g, c->vp, Vv->type.dtype,
                                   qiao_cg_imadd(g, vrow, qiao_cg_i64(g, (g0 + k) * V), sv), sv, V);
    for (int t = 0; t < n; ++t)
      p[t] = qiao_cg_splat(g, qiao_cg_ldf(g, sblk, qiao_cg_iadd(g, prow[t], vj.iv), 1), V);
    for (int t = 0; t < n; ++t)
      for (int64_t k = 0; k < ng; ++k) {
        LLVMValueRef acc = c->pacc[t * ng + k];
        qiao_cg_st(g, qiao_cg_fma(g, p[t], vv[k], qiao_cg_ld(g, vt, acc)), acc);
      }
    qiao_cg_loop_end(g, &vj);
    for (int t = 0; t < n; ++t)
      for (int64_t k = 0; k < ng; ++k)
        qiao_cg_stf(g, qiao_cg_ld(g, vt, c->pacc[t * ng + k]), c->acc,
                    qiao_cg_iadd(g, arow[t], qiao_cg_i64(g, (g0 + k) * V)));
  }
  for (int t = 0; t < n && nch * V < s->Dv; ++t) { /* the Dv tail, element by element */
    qiao_cg_loop_t dl, vj;
    qiao_cg_loop_begin(g, qiao_cg_i64(g, nch * V), qiao_cg_i64(g, s->Dv), 1, "dv", &dl);
    LLVMValueRef aidx = qiao_cg_iadd(g, arow[t], dl.iv);
    LLVMValueRef a0 = qiao_cg_ldf(g, c->acc, aidx, 1);
    qiao_cg_st(g, alpha ? LLVMBuildFMul(g->b, a0, alpha, "") : a0, c->t1);
    qiao_cg_loop_begin(g, a, e, 1, "vj", &vj);
    LLVMValueRef pv = qiao_cg_ldf(g, sblk, qiao_cg_iadd(g, prow[t], vj.iv), 1);
    LLVMValueRef voff = qiao_cg_imadd(g, qiao_cg_imadd(g, vbase, vj.iv, Vv->strides[2]), dl.iv, sv);
    LLVMValueRef vx = qiao_cg_load_f32(g, c->vp, Vv->type.dtype, voff, 1);
    qiao_cg_st(g, qiao_cg_fma(g, pv, vx, qiao_cg_ld(g, g->t_f32, c->t1)), c->t1);
    qiao_cg_loop_end(g, &vj);
    qiao_cg_stf(g, qiao_cg_ld(g, g->t_f32, c->t1), c->acc, aidx);
    qiao_cg_loop_end(g, &dl);
  }
}

/* Keys per split at least (4 blocks): the combine's (Dv + 2) floats per row and split
 * stay small next to the split's Skv/n * (D + Dv) reads. */
#define AT_MIN_SPLIT_KEYS 256

qiao_cpu_attention_plan_t qiao_cpu_attention_plan(const qiao_kernel_desc_t *kd, int32_t threads,
                                                  int32_t force_splits) {
  const qiao_shape_t *qs = &kd->inputs[0].type.shape, *ks = &kd->inputs[1].type.shape;
  int64_t B = qs->dims[0], Hq = qs->dims[1], Sq = qs->dims[2], Hkv = ks->dims[1], Skv = ks->dims[2];
  int64_t G = Hkv > 0 ? Hq / Hkv : 1, th = threads > 1 ? threads : 1;
  qiao_cpu_attention_plan_t p = {QIAO_CPU_ATTN_ONE_PASS, 1, G, 1, 1, 0};
  /* split-KV: every query row of the group in one unit (one pass over the K/V chunk
   * for all of them); split when B x Hkv units would leave threads idle or uneven
   * (> 4 units per thread balance well enough), into enough splits for ~4 units per
   * thread, each of >= AT_MIN_SPLIT_KEYS keys */
  int64_t bq_max = 32 / (G > 0 ? G : 1);
  bool eligible = B > 0 && Hkv > 0 && G >= 1 && Sq >= 1 && Sq <= (bq_max > 1 ? bq_max : 1);
  int64_t base = B * Hkv, n = 1;
  if (eligible && force_splits > 1)
    n = force_splits;
  else if (eligible && force_splits == 0 && base % th != 0 && base < 4 * th) {
    n = (4 * th + base - 1) / base;
    int64_t cap = Skv / AT_MIN_SPLIT_KEYS;
    if (n > cap) n = cap;
    if (n < 1) n = 1;
  }
  if (n > 1) {
    p.variant = QIAO_CPU_ATTN_SPLIT_KV;
    p.n_splits = n;
    p.Bq = Sq;
    p.nqb = 1;
    p.units = base * n;
    return p;
  }
  for (int pass = 0; pass < 2; ++pass) {
    p.Bq = 32 / p.Gu;
    if (p.Bq < 1) p.Bq = 1;
    if (p.Bq > Sq) p.Bq = Sq > 0 ? Sq : 1;
    p.nqb = (Sq + p.Bq - 1) / p.Bq;
    p.units = B * (p.Gu == G ? Hkv : Hq) * p.nqb;
    /* ungrouping re-reads K/V G times: only when grouped units would idle threads */
    if (pass == 0 && G > 1 && (p.units < th || (p.units < 2 * th && p.units % th != 0)))
      p.Gu = 1;
    else
      break;
  }
  return p;
}

static void at_plan(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd, at_shape_t *s) {
  const qiao_shape_t *qs = &kd->inputs[0].type.shape, *ks = &kd->inputs[1].type.shape;
  const qiao_shape_t *vs = &kd->inputs[2].type.shape;
  memset(s, 0, sizeof *s);
  s->B = qs->dims[0];
  s->Hq = qs->dims[1];
  s->Sq = qs->dims[2];
  s->D = qs->dims[3];
  s->Hkv = ks->dims[1];
  s->Skv = ks->dims[2];
  s->Dv = vs->dims[3];
  s->G = s->Hkv > 0 ? s->Hq / s->Hkv : 1;
  s->W = kd->attrs.window;
  s->causal = kd->attrs.causal;
  s->scale = kd->attrs.has_scale && !isnan(kd->attrs.scale) ? kd->attrs.scale
                                                            : 1.0 / sqrt((double)(s->D ? s->D : 1));
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
  qiao_cpu_attention_plan_t pl = qiao_cpu_attention_plan(kd, cg->n_threads, cg->attn_splits);
  s->Gu = pl.Gu;
  s->Bq = pl.Bq;
  s->nqb = pl.nqb;
  s->units = pl.units;
  s->nsp = pl.n_splits;
  s->split = pl.variant == QIAO_CPU_ATTN_SPLIT_KV;
  s->R = s->Gu * s->Bq;
  s->Bk = s->Skv < 64 ? (s->Skv > 0 ? s->Skv : 1) : 64;
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  s->BkP = (s->Bk + V - 1) / V * V;
  /* few rows (decode, small GQA groups): dot vectors of V keys at a time reduced by a
   * shuffle tree; many rows: transposing a K block pays when they share it */
  s->use_tree = V <= 16 && (V & (V - 1)) == 0 && s->D % V == 0 && s->Bk % V == 0 && s->R < 8;
  s->use_kt = !s->use_tree && s->R >= 4 && s->BkP / V <= 16;
}

/* Split-KV phase 2, entry `<name>_combine`: per query row (b, kv head, r) of the
 * group, M = max over the splits' m (NaN wins), w_s = exp(m_s - M) (0 for a split
 * that saw no key), out = Σ w_s acc_s / Σ w_s l_s (0 when no split saw a key),
 * through the epilogue. Rows over workgroups; scratch: the nsp weights. */
static qiao_status_t at_combine(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                const at_shape_t *s, const char *name, qiao_cpu_kernel_t *out) {
  qiao_cg_t *g = &cg->base;
  qiao_cpu_phase_t *ph = &out->more[0];
  int n = snprintf(ph->name, sizeof ph->name, "%s_combine", name);
  if (n < 0 || (size_t)n >= sizeof ph->name)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "attention kernel %s: name too long for its combine entry", name);
  if (LLVMGetNamedFunction(cg->mod, ph->name))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "attention kernel %s: entry name '%s' is already used", name, ph->name);
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);
  LLVMValueRef fn = qiao_cpu_entry_begin(cg, ph->name);
  ph->fn = fn;
  out->n_more = 1;
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef wsp = qiao_cpu_binding(cg, fn, kd->n_inputs + kd->n_outputs);
  LLVMValueRef wbuf = qiao_cg_fptr(g, qiao_cpu_scratch(cg, fn), qiao_cg_i64(g, 0));
  LLVMValueRef accv = qiao_cg_alloca(g, fn, vt, "cacc");
  LLVMValueRef accs = qiao_cg_alloca(g, fn, cg->t_f32, "caccs");
  LLVMValueRef tm = qiao_cg_alloca(g, fn, cg->t_f32, "cmax");
  LLVMValueRef tl = qiao_cg_alloca(g, fn, cg->t_f32, "csum");
  LLVMValueRef ninf = LLVMConstReal(cg->t_f32, -INFINITY), zero = qiao_cg_f32c(g, 0.0);
  int64_t total = s->B * s->Hkv * s->R;
  qk_rows_t rl;
  qk_rows_begin(cg, fn, total, qk_plan_chunks(cg, total, s->nsp * (s->Dv + 2)), &rl, "crow");
  LLVMValueRef row = rl.loop.iv;
  LLVMValueRef bh = LLVMBuildUDiv(cg->b, row, qiao_cg_i64(g, s->R), "");
  LLVMValueRef r = LLVMBuildURem(cg->b, row, qiao_cg_i64(g, s->R), "");
  LLVMValueRef b = LLVMBuildUDiv(cg->b, bh, qiao_cg_i64(g, s->Hkv), "");
  LLVMValueRef kvh = LLVMBuildURem(cg->b, bh, qiao_cg_i64(g, s->Hkv), "");
  LLVMValueRef hq = qiao_cg_iadd(g, qiao_cg_imul(g, kvh, s->G),
                                 LLVMBuildUDiv(cg->b, r, qiao_cg_i64(g, s->Bq), ""));
  LLVMValueRef i = LLVMBuildURem(cg->b, r, qiao_cg_i64(g, s->Bq), "");
  /* split sp's partial of this row: ws[((bh * nsp + sp) * R + r) * (Dv + 2)] */
#define WOFF(sp)                                                                                   \
  qiao_cg_imul(g, qiao_cg_imadd(g, r, qiao_cg_imadd(g, sp, bh, s->nsp), s->R), s->Dv + 2)
  qiao_cg_loop_t sl;
  qiao_cg_st(g, ninf, tm);
  qiao_cg_loop_begin(g, qiao_cg_i64(g, 0), qiao_cg_i64(g, s->nsp), 1, "cm", &sl);
  qiao_cg_st(
      g, qiao_cg_emit_max_acc(g, qiao_cg_ld(g, cg->t_f32, tm), qiao_cg_ldf(g, wsp, WOFF(sl.iv), 1)),
      tm);
  qiao_cg_loop_end(g, &sl);
  LLVMValueRef M = qiao_cg_ld(g, cg->t_f32, tm);
  qiao_cg_st(g, zero, tl);
  qiao_cg_loop_begin(g, qiao_cg_i64(g, 0), qiao_cg_i64(g, s->nsp), 1, "cw", &sl);
  {
    LLVMValueRef off = WOFF(sl.iv);
    LLVMValueRef m = qiao_cg_ldf(g, wsp, off, 1);
    LLVMValueRef l = qiao_cg_ldf(g, wsp, qiao_cg_iadd(g, off, qiao_cg_i64(g, 1)), 1);
    LLVMValueRef w = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, m, ninf, ""), zero,
                                     qiao_cg_emit_exp(g, LLVMBuildFSub(cg->b, m, M, "")), "");
    qiao_cg_stf(g, w, wbuf, sl.iv);
    qiao_cg_st(g, qiao_cg_fma(g, w, l, qiao_cg_ld(g, cg->t_f32, tl)), tl);
  }
  qiao_cg_loop_end(g, &sl);
  LLVMValueRef L = qiao_cg_ld(g, cg->t_f32, tl);
  LLVMValueRef inv = LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUGT, L, zero, ""),
                                     LLVMBuildFDiv(cg->b, qiao_cg_f32c(g, 1.0), L, ""), zero, "");
  epi.coords[0] = b;
  epi.coords[1] = hq;
  epi.coords[2] = i;
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, s->Dv, V, 0, "co");
       qiao_cg_vloop_next(g, &vl);) {
    LLVMValueRef acc = vl.lanes == 1 ? accs : accv;
    LLVMTypeRef at = vl.lanes == 1 ? cg->t_f32 : vt;
    qiao_cg_st(g, qiao_cg_fsplat(g, 0.0, vl.lanes), acc);
    qiao_cg_loop_begin(g, qiao_cg_i64(g, 0), qiao_cg_i64(g, s->nsp), 1, "cs", &sl);
    LLVMValueRef a = qiao_cg_ldf(
        g, wsp, qiao_cg_iadd(g, WOFF(sl.iv), qiao_cg_iadd(g, vl.i, qiao_cg_i64(g, 2))), vl.lanes);
    LLVMValueRef w = qiao_cg_splat(g, qiao_cg_ldf(g, wbuf, sl.iv, 1), vl.lanes);
    qiao_cg_st(g, qiao_cg_fma(g, w, a, qiao_cg_ld(g, at, acc)), acc);
    qiao_cg_loop_end(g, &sl);
    LLVMValueRef y =
        LLVMBuildFMul(cg->b, qiao_cg_ld(g, at, acc), qiao_cg_splat(g, inv, vl.lanes), "");
    epi.coords[3] = vl.i;
    qiao_cg_epi_store(&epi, outp, y, vl.lanes);
  }
#undef WOFF
  qiao_cpu_kernel_t k2;
  qk_kernel_init(&k2);
  qk_kernel_end(cg, &rl, fn, (uint64_t)(s->nsp * 4 + 64), &k2);
  for (int d = 0; d < 3; ++d)
    ph->grid[d] = k2.grid[d];
  ph->scratch_bytes = k2.scratch_bytes;
  return NULL;
}

qiao_status_t qiao_cpu_lower_attention(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                       const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  if (kd->n_primary_inputs < 3 || kd->inputs[0].type.shape.rank != 4 ||
      kd->inputs[1].type.shape.rank != 4 || kd->inputs[2].type.shape.rank != 4)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "attention kernel %s: q, k, v must be rank 4",
                            name);
  at_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  at_plan(cg, kd, &c.s);
  at_shape_t *s = &c.s;
  if (s->Hkv <= 0 || s->Hq % s->Hkv)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "attention kernel %s: Hq not a multiple of Hkv",
                            name);
  c.V = cg->vec_f32 ? cg->vec_f32 : 8;
  unsigned V = c.V;
  const qiao_kd_operand_t *Q = &kd->inputs[0], *K = &kd->inputs[1], *Vv = &kd->inputs[2];
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  c.fn = fn;
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  c.qp = epi.in[0];
  c.kp = epi.in[1];
  c.vp = epi.in[2];
  c.mp = s->has_mask ? epi.in[s->mask_in] : NULL;
  c.outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef wsp = s->split ? qiao_cpu_binding(cg, fn, kd->n_inputs + kd->n_outputs) : NULL;
  LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
  int64_t o_q = 0, o_acc = o_q + s->R * s->D, o_m = o_acc + s->R * s->Dv, o_l = o_m + s->R,
          o_s = o_l + s->R, o_kt = o_s + s->R * s->BkP,
          total = o_kt + (s->use_kt ? s->D * s->BkP : 0);
  qiao_cg_fptrs(&cg->base, scr, 6, (int64_t[]){o_q, o_acc, o_m, o_l, o_s, o_kt},
                (LLVMValueRef *const[]){&c.qbuf, &c.acc, &c.mrow, &c.lrow, &c.sbuf, &c.kt});
  for (int64_t k = 0; k < 16; ++k)
    c.sacc[k] = qiao_cg_alloca(&cg->base, fn, vt, "sacc");
  for (int k = 0; k < 16; ++k)
    c.pacc[k] = qiao_cg_alloca(&cg->base, fn, vt, "pacc");
  if (s->use_tree)
    for (unsigned t = 0; t < V; ++t)
      c.tacc[t] = qiao_cg_alloca(&cg->base, fn, vt, "tacc");
  c.dotv = qiao_cg_alloca(&cg->base, fn, vt, "dotv");
  c.dots = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "dots");
  c.accv = qiao_cg_alloca(&cg->base, fn, vt, "accv");
  c.t0 = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "mblk");
  c.t1 = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "lsum");

  bool grouped = s->Gu == s->G;
  int64_t nh = grouped ? s->Hkv : s->Hq;
  int64_t unit_dims[4] = {s->B, nh, s->nqb, s->nsp};
  qk_rows_t rl;
  qk_rows_begin(cg, fn, s->units,
                qk_plan_chunks(cg, s->units, s->R * (s->Skv / s->nsp + 1) * (s->D + s->Dv)), &rl,
                "unit");
  LLVMValueRef uc[4];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, 4, unit_dims, uc);
  LLVMValueRef b = uc[0], hh = uc[1], qb = uc[2], sp = uc[3];
  LLVMValueRef kvh =
      grouped ? hh : (s->G == 1 ? hh : LLVMBuildUDiv(cg->b, hh, qiao_cg_i64(&cg->base, s->G), ""));
  LLVMValueRef i_lo = qiao_cg_imul(&cg->base, qb, s->Bq);
  LLVMValueRef Sq = qiao_cg_i64(&cg->base, s->Sq), Skv = qiao_cg_i64(&cg->base, s->Skv);
  /* L valid keys: kv_len[b] clamped to [0, Skv] (Skv without kv_len); query i
   * sits at position L - Sq + i */
  LLVMValueRef L = Skv;
  if (s->kvl_in >= 0) {
    const qiao_kd_operand_t *KL = &kd->inputs[s->kvl_in];
    LLVMTypeRef lst = qiao_cg_storage_type(&cg->base, KL->type.dtype);
    LLVMValueRef lv = LLVMBuildLoad2(cg->b, lst,
                                     qiao_cg_elem_ptr(&cg->base, epi.in[s->kvl_in], KL->type.dtype,
                                                      qiao_cg_imul(&cg->base, b, KL->strides[0])),
                                     "kvlen");
    if (lst != cg->t_i64) lv = LLVMBuildSExt(cg->b, lv, cg->t_i64, "");
    L = qiao_cg_imax(&cg->base, qiao_cg_imin(&cg->base, lv, Skv), qiao_cg_i64(&cg->base, 0));
  }
  LLVMValueRef shift = LLVMBuildSub(cg->b, L, qiao_cg_i64(&cg->base, s->Sq), "shift");
  LLVMValueRef ninf = LLVMConstReal(cg->t_f32, -INFINITY);
  LLVMValueRef zero = qiao_cg_f32c(&cg->base, 0.0);

  /* row r -> (hq, i) */
#define ROW_HQ(r)                                                                                  \
  (grouped ? qiao_cg_iadd(&cg->base, qiao_cg_imul(&cg->base, hh, s->G),                            \
                          LLVMBuildUDiv(cg->b, r, qiao_cg_i64(&cg->base, s->Bq), ""))              \
           : hh)
#define ROW_I(r)                                                                                   \
  qiao_cg_iadd(&cg->base, i_lo,                                                                    \
               s->Bq == 1 ? qiao_cg_i64(&cg->base, 0)                                              \
                          : LLVMBuildURem(cg->b, r, qiao_cg_i64(&cg->base, s->Bq), ""))

  /* ---- init rows: q (scaled, f32), m, l, acc */
  {
    qiao_cg_loop_t rl2;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), 1, "ri",
                       &rl2);
    LLVMValueRef r = rl2.iv;
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMValueRef ic = qiao_cg_imin(
        &cg->base, i, qiao_cg_i64(&cg->base, s->Sq - 1)); /* tail rows read a valid row */
    LLVMValueRef qoff = qiao_cg_imadd(
        &cg->base,
        qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, Q->strides[0]), hq, Q->strides[1]), ic,
        Q->strides[2]);
    LLVMValueRef qrow = qiao_cg_imul(&cg->base, r, s->D);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, s->D, V, 8, "qd");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef qv = qiao_cg_load_strided(&cg->base, c.qp, Q->type.dtype,
                                             qiao_cg_imadd(&cg->base, qoff, vl.i, Q->strides[3]),
                                             Q->strides[3], vl.lanes);
      qiao_cg_stf(&cg->base,
                  LLVMBuildFMul(cg->b, qv, qiao_cg_fsplat(&cg->base, s->scale, vl.lanes), ""),
                  c.qbuf, qiao_cg_iadd(&cg->base, qrow, vl.i));
    }
    qiao_cg_stf(&cg->base, ninf, c.mrow, r);
    qiao_cg_stf(&cg->base, zero, c.lrow, r);
    LLVMValueRef arow = qiao_cg_imul(&cg->base, r, s->Dv);
    qiao_cg_loop_t zl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->Dv), 1, "z",
                       &zl);
    qiao_cg_stf(&cg->base, zero, c.acc, qiao_cg_iadd(&cg->base, arow, zl.iv));
    qiao_cg_loop_end(&cg->base, &zl);
    qiao_cg_loop_end(&cg->base, &rl2);
  }

  /* ---- key range of the unit */
  LLVMValueRef i_hi =
      qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, i_lo, qiao_cg_i64(&cg->base, s->Bq - 1)),
                   qiao_cg_i64(&cg->base, s->Sq - 1));
  LLVMValueRef pos_lo = qiao_cg_iadd(&cg->base, i_lo, shift),
               pos_hi = qiao_cg_iadd(&cg->base, i_hi, shift);
  bool bounded = s->causal || s->W > 0;
  LLVMValueRef jstart = qiao_cg_i64(&cg->base, 0), jend = L;
  if (s->W > 0)
    jstart = qiao_cg_imax(&cg->base, jstart,
                          LLVMBuildSub(cg->b, pos_lo, qiao_cg_i64(&cg->base, s->W - 1), ""));
  if (bounded)
    jend =
        qiao_cg_imin(&cg->base, jend, qiao_cg_iadd(&cg->base, pos_hi, qiao_cg_i64(&cg->base, 1)));
  (void)Sq;
  if (s->split) {
    /* split sp of nsp: [jstart + sp * chunk, + chunk) within [jstart, jend), chunk =
     * ceil(len / nsp) rounded up to whole key blocks (splits past the keys are empty) */
    LLVMValueRef len =
        qiao_cg_imax(&cg->base, LLVMBuildSub(cg->b, jend, jstart, ""), qiao_cg_i64(&cg->base, 0));
    LLVMValueRef chunk =
        LLVMBuildUDiv(cg->b, qiao_cg_iadd(&cg->base, len, qiao_cg_i64(&cg->base, s->nsp - 1)),
                      qiao_cg_i64(&cg->base, s->nsp), "");
    chunk = qiao_cg_imul(
        &cg->base,
        LLVMBuildUDiv(cg->b, qiao_cg_iadd(&cg->base, chunk, qiao_cg_i64(&cg->base, s->Bk - 1)),
                      qiao_cg_i64(&cg->base, s->Bk), ""),
        s->Bk);
    LLVMValueRef js = qiao_cg_imin(
        &cg->base, qiao_cg_iadd(&cg->base, jstart, LLVMBuildMul(cg->b, sp, chunk, "")), jend);
    jend = qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, js, chunk), jend);
    jstart = js;
  } else {
    (void)sp;
  }

  LLVMValueRef kbase =
      qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, K->strides[0]), kvh, K->strides[1]);
  LLVMValueRef vbase =
      qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, Vv->strides[0]), kvh, Vv->strides[1]);

  /* ---- key blocks */
  qiao_cg_loop_t jb;
  qiao_cg_loop_begin(&cg->base, jstart, jend, s->Bk, "kb", &jb);
  LLVMValueRef j0 = jb.iv;
  LLVMValueRef jb_end =
      qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, j0, qiao_cg_i64(&cg->base, s->Bk)), jend);
  if (s->use_kt && V == 16 && s->BkP == s->Bk && s->Bk % 16 == 0 && s->D % 16 == 0) {
    /* full blocks: 16 x 16 register transposes */
    LLVMValueRef isfull = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildSub(cg->b, jb_end, j0, ""),
                                        qiao_cg_i64(&cg->base, s->Bk), "");
    LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktfull");
    LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktpart");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktjoin");
    LLVMBuildCondBr(cg->b, isfull, full, part);
    LLVMPositionBuilderAtEnd(cg->b, full);
    {
      qiao_cg_loop_t dl, jl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->D), 16,
                         "ktd", &dl);
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->Bk), 16,
                         "ktj", &jl);
      LLVMValueRef rr[16];
      for (unsigned q = 0; q < 16; ++q) {
        LLVMValueRef koff =
            qiao_cg_imadd(&cg->base,
                          qiao_cg_imadd(&cg->base, kbase,
                                        qiao_cg_iadd(&cg->base, qiao_cg_iadd(&cg->base, j0, jl.iv),
                                                     qiao_cg_i64(&cg->base, q)),
                                        K->strides[2]),
                          dl.iv, K->strides[3]);
        rr[q] = qiao_cg_load_strided(&cg->base, c.kp, K->type.dtype, koff, K->strides[3], 16);
      }
      qk_transpose_regs(cg, rr, 16);
      for (unsigned q = 0; q < 16; ++q)
        qiao_cg_stf(
            &cg->base, rr[q], c.kt,
            qiao_cg_iadd(&cg->base,
                         qiao_cg_imul(&cg->base,
                                      qiao_cg_iadd(&cg->base, dl.iv, qiao_cg_i64(&cg->base, q)),
                                      s->BkP),
                         jl.iv));
      qiao_cg_loop_end(&cg->base, &jl);
      qiao_cg_loop_end(&cg->base, &dl);
    }
    LLVMBuildBr(cg->b, join);
    LLVMPositionBuilderAtEnd(cg->b, part);
    at_transpose_k_scalar(cg, &c, s, K, kbase, j0, jb_end);
    LLVMBuildBr(cg->b, join);
    LLVMPositionBuilderAtEnd(cg->b, join);
  } else if (s->use_kt) {
    /* KT[d][j - j0] = K[j][d] (f32) for the block's keys */
    at_transpose_k_scalar(cg, &c, s, K, kbase, j0, jb_end);
  }
  LLVMValueRef sblk = c.sbuf; /* [R][BkP]: each row's scores, then its weights */
  /* decode with a GQA group (one query position, several heads): joint P·V */
  bool joint = s->Bq == 1 && s->R >= 2 && s->R % 2 == 0;
  if (s->use_kt) {
    /* scores of RP rows at a time against Kᵀ: each Kᵀ vector feeds RP FMAs, RP * nk
     * independent accumulators (the last group repeats row R - 1) */
    int64_t nk = s->BkP / V, RP = 16 / nk > 4 ? 4 : 16 / nk;
    if (RP < 1) RP = 1;
    qiao_cg_loop_t rq, dl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), RP, "sq",
                       &rq);
    LLVMValueRef qrows[4];
    for (int64_t t = 0; t < RP; ++t) {
      qrows[t] = qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, rq.iv, qiao_cg_i64(&cg->base, t)),
                              qiao_cg_i64(&cg->base, s->R - 1));
      for (int64_t k = 0; k < nk; ++k)
        qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, V), c.sacc[t * nk + k]);
    }
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->D), 1, "sd",
                       &dl);
    LLVMValueRef ktrow = qiao_cg_imul(&cg->base, dl.iv, s->BkP);
    LLVMValueRef kv[16], qd[4];
    for (int64_t k = 0; k < nk; ++k)
      kv[k] = qiao_cg_ldf(&cg->base, c.kt,
                          qiao_cg_iadd(&cg->base, ktrow, qiao_cg_i64(&cg->base, k * V)), V);
    for (int64_t t = 0; t < RP; ++t)
      qd[t] = qiao_cg_splat(
          &cg->base,
          qiao_cg_ldf(&cg->base, c.qbuf,
                      qiao_cg_iadd(&cg->base, qiao_cg_imul(&cg->base, qrows[t], s->D), dl.iv), 1),
          V);
    for (int64_t t = 0; t < RP; ++t)
      for (int64_t k = 0; k < nk; ++k) {
        LLVMValueRef acc = c.sacc[t * nk + k];
        qiao_cg_st(&cg->base, qiao_cg_fma(&cg->base, qd[t], kv[k], qiao_cg_ld(&cg->base, vt, acc)),
                   acc);
      }
    qiao_cg_loop_end(&cg->base, &dl);
    for (int64_t t = 0; t < RP; ++t)
      for (int64_t k = 0; k < nk; ++k)
        qiao_cg_stf(&cg->base, qiao_cg_ld(&cg->base, vt, c.sacc[t * nk + k]), sblk,
                    qiao_cg_iadd(&cg->base, qiao_cg_imul(&cg->base, qrows[t], s->BkP),
                                 qiao_cg_i64(&cg->base, k * V)));
    qiao_cg_loop_end(&cg->base, &rq);
  }
  {
    qiao_cg_loop_t rr;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), 1, "rk",
                       &rr);
    LLVMValueRef r = rr.iv;
    c.sbuf = qiao_cg_fptr(&cg->base, sblk, qiao_cg_imul(&cg->base, r, s->BkP));
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMValueRef pos = qiao_cg_iadd(&cg->base, i, shift);
    LLVMValueRef a = j0, e = jb_end;
    if (s->W > 0)
      a = qiao_cg_imax(&cg->base, a,
                       LLVMBuildSub(cg->b, pos, qiao_cg_i64(&cg->base, s->W - 1), ""));
    if (bounded)
      e = qiao_cg_imin(&cg->base, e, qiao_cg_iadd(&cg->base, pos, qiao_cg_i64(&cg->base, 1)));
    LLVMValueRef live = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, i, Sq, ""),
                                     LLVMBuildICmp(cg->b, LLVMIntSLT, a, e, ""), "");
    LLVMBasicBlockRef done = qiao_cg_if(&cg->base, live, "live");
    LLVMValueRef qrow = qiao_cg_imul(&cg->base, r, s->D);
    /* scores and block max */
    if (s->use_kt) { /* scores from the pre-pass above */
      at_mask_and_max(&c, a, e, j0, (LLVMValueRef[]){b, hq, i});
    } else {
      LLVMBasicBlockRef join = NULL;
      if (s->use_tree) { /* full blocks by the tree, the ragged last one by per-key dots */
        LLVMValueRef isfull = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildSub(cg->b, jb_end, j0, ""),
                                            qiao_cg_i64(&cg->base, s->Bk), "");
        LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(cg->ctx, fn, "trfull");
        LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(cg->ctx, fn, "trpart");
        join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "trjoin");
        LLVMBuildCondBr(cg->b, isfull, full, part);
        LLVMPositionBuilderAtEnd(cg->b, full);
        at_scores_tree(&c, qrow, kbase, j0);
        at_mask_and_max(&c, a, e, j0, (LLVMValueRef[]){b, hq, i});
        LLVMBuildBr(cg->b, join);
        LLVMPositionBuilderAtEnd(cg->b, part);
      }
      qiao_cg_st(&cg->base, ninf, c.t0);
      qiao_cg_loop_t jl;
      qiao_cg_loop_begin(&cg->base, a, e, 1, "sj", &jl);
      LLVMValueRef koff = qiao_cg_imadd(&cg->base, kbase, jl.iv, K->strides[2]);
      LLVMValueRef sc = at_dot(&c, qrow, koff);
      if (s->has_mask) {
        const qiao_kd_operand_t *M = &kd->inputs[s->mask_in];
        LLVMValueRef mo = qiao_cg_offset(&cg->base, 4, (LLVMValueRef[]){b, hq, i, jl.iv}, s->mst);
        sc = LLVMBuildFAdd(cg->b, sc, qiao_cg_load_f32(&cg->base, c.mp, M->type.dtype, mo, 1), "");
      }
      qiao_cg_stf(&cg->base, sc, c.sbuf, LLVMBuildSub(cg->b, jl.iv, j0, ""));
      LLVMValueRef mb = qiao_cg_ld(&cg->base, cg->t_f32, c.t0);
      qiao_cg_st(&cg->base, qiao_cg_emit_max_acc(&cg->base, mb, sc), c.t0);
      qiao_cg_loop_end(&cg->base, &jl);
      if (join) {
        LLVMBuildBr(cg->b, join);
        LLVMPositionBuilderAtEnd(cg->b, join);
      }
    }
    LLVMValueRef m_old = qiao_cg_ldf(&cg->base, c.mrow, r, 1);
    LLVMValueRef mblk = qiao_cg_ld(&cg->base, cg->t_f32, c.t0);
    LLVMValueRef m_new = qiao_cg_emit_max_acc(&cg->base, m_old, mblk);
    /* NaN counts as seen: it propagates into the output like the interpreter's */
    LLVMBasicBlockRef done2 =
        qiao_cg_if(&cg->base, LLVMBuildFCmp(cg->b, LLVMRealUNE, m_new, ninf, ""), "seen");
    LLVMValueRef alpha = qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, m_old, m_new, ""));
    /* p = exp(s - m_new), block sum: vectorized over the block */
    qiao_cg_st(&cg->base, zero, c.t1);
    LLVMValueRef len = LLVMBuildSub(cg->b, e, a, "");
    LLVMValueRef sa = LLVMBuildSub(cg->b, a, j0, "");
    qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, V), c.dotv);
    for (qiao_cg_vloop_t pl = qiao_cg_vloop_start_dyn(qiao_cg_i64(&cg->base, 0), len, V, "pv");
         qiao_cg_vloop_next(&cg->base, &pl);) {
      LLVMValueRef idx = qiao_cg_iadd(&cg->base, sa, pl.i);
      LLVMValueRef p = qiao_cg_emit_exp(
          &cg->base, LLVMBuildFSub(cg->b, qiao_cg_ldf(&cg->base, c.sbuf, idx, pl.lanes),
                                   qiao_cg_splat(&cg->base, m_new, pl.lanes), ""));
      qiao_cg_stf(&cg->base, p, c.sbuf, idx);
      LLVMValueRef acc = pl.lanes == 1 ? c.t1 : c.dotv;
      qiao_cg_st(&cg->base, LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, LLVMTypeOf(p), acc), p, ""),
                 acc);
    }
    LLVMValueRef bsum =
        LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, cg->t_f32, c.t1),
                      qiao_cg_reduce_add(&cg->base, qiao_cg_ld(&cg->base, vt, c.dotv)), "");
    LLVMValueRef l_old = qiao_cg_ldf(&cg->base, c.lrow, r, 1);
    qiao_cg_stf(&cg->base, qiao_cg_fma(&cg->base, l_old, alpha, bsum), c.lrow, r);
    qiao_cg_stf(&cg->base, m_new, c.mrow, r);
    if (joint) { /* P·V below, all rows at once: only the rescale here */
      LLVMValueRef arow = qiao_cg_imul(&cg->base, r, s->Dv);
      for (qiao_cg_vloop_t al = qiao_cg_vloop_start(0, s->Dv, V, 0, "ar");
           qiao_cg_vloop_next(&cg->base, &al);) {
        LLVMValueRef ai = qiao_cg_iadd(&cg->base, arow, al.i);
        qiao_cg_stf(&cg->base,
                    LLVMBuildFMul(cg->b, qiao_cg_ldf(&cg->base, c.acc, ai, al.lanes),
                                  qiao_cg_splat(&cg->base, alpha, al.lanes), ""),
                    c.acc, ai);
      }
    } else {
      at_pv_rows(&c, sblk, &r, 1, a, e, j0, vbase, alpha);
    }
    qiao_cg_endif(&cg->base, done2);
    qiao_cg_endif(&cg->base, done);
    qiao_cg_loop_end(&cg->base, &rr);
  }
  if (joint) {
    /* one query position per unit: every row has the same key range [a, e); when every
     * row has seen a key, P·V runs RP rows at a time (each V vector feeds RP rows), else
     * row by row for the rows that have */
    LLVMValueRef pos = qiao_cg_iadd(&cg->base, i_lo, shift);
    LLVMValueRef a = j0, e = jb_end;
    if (s->W > 0)
      a = qiao_cg_imax(&cg->base, a,
                       LLVMBuildSub(cg->b, pos, qiao_cg_i64(&cg->base, s->W - 1), ""));
    if (bounded)
      e = qiao_cg_imin(&cg->base, e, qiao_cg_iadd(&cg->base, pos, qiao_cg_i64(&cg->base, 1)));
    LLVMBasicBlockRef done =
        qiao_cg_if(&cg->base, LLVMBuildICmp(cg->b, LLVMIntSLT, a, e, ""), "jlive");
    LLVMValueRef all = LLVMConstInt(LLVMInt1TypeInContext(cg->ctx), 1, 0);
    for (int64_t r = 0; r < s->R; ++r)
      all = LLVMBuildAnd(cg->b, all,
                         LLVMBuildFCmp(cg->b, LLVMRealUNE,
                                       qiao_cg_ldf(&cg->base, c.mrow, qiao_cg_i64(&cg->base, r), 1),
                                       ninf, ""),
                         "");
    LLVMBasicBlockRef jb_all = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pvall");
    LLVMBasicBlockRef jb_some = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pvsome");
    LLVMBasicBlockRef jb_join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "pvjoin");
    LLVMBuildCondBr(cg->b, all, jb_all, jb_some);
    LLVMPositionBuilderAtEnd(cg->b, jb_all);
    {
      int64_t RP = s->R % 4 == 0 ? 4 : 2;
      qiao_cg_loop_t rq;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), RP,
                         "pq", &rq);
      LLVMValueRef rows[4];
      for (int64_t t = 0; t < RP; ++t)
        rows[t] = qiao_cg_iadd(&cg->base, rq.iv, qiao_cg_i64(&cg->base, t));
      at_pv_rows(&c, sblk, rows, (int)RP, a, e, j0, vbase, NULL);
      qiao_cg_loop_end(&cg->base, &rq);
    }
    LLVMBuildBr(cg->b, jb_join);
    LLVMPositionBuilderAtEnd(cg->b, jb_some);
    {
      qiao_cg_loop_t rq;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), 1,
                         "ps", &rq);
      LLVMValueRef r = rq.iv;
      LLVMBasicBlockRef sd = qiao_cg_if(
          &cg->base,
          LLVMBuildFCmp(cg->b, LLVMRealUNE, qiao_cg_ldf(&cg->base, c.mrow, r, 1), ninf, ""),
          "rseen");
      at_pv_rows(&c, sblk, &r, 1, a, e, j0, vbase, NULL);
      qiao_cg_endif(&cg->base, sd);
      qiao_cg_loop_end(&cg->base, &rq);
    }
    LLVMBuildBr(cg->b, jb_join);
    LLVMPositionBuilderAtEnd(cg->b, jb_join);
    qiao_cg_endif(&cg->base, done);
  }
  qiao_cg_loop_end(&cg->base, &jb);

  /* ---- split-KV: the unit's partials to the workspace (every row, seen or not:
   * the combine reads them all), ws[(unit * R + r) * (Dv + 2)] = m, l, acc[0, Dv) */
  if (s->split) {
    qiao_cg_loop_t rr;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), 1, "rw",
                       &rr);
    LLVMValueRef r = rr.iv;
    LLVMValueRef wrow =
        qiao_cg_imul(&cg->base, qiao_cg_imadd(&cg->base, r, rl.loop.iv, s->R), s->Dv + 2);
    qiao_cg_stf(&cg->base, qiao_cg_ldf(&cg->base, c.mrow, r, 1), wsp, wrow);
    qiao_cg_stf(&cg->base, qiao_cg_ldf(&cg->base, c.lrow, r, 1), wsp,
                qiao_cg_iadd(&cg->base, wrow, qiao_cg_i64(&cg->base, 1)));
    LLVMValueRef arow = qiao_cg_imul(&cg->base, r, s->Dv);
    LLVMValueRef wacc = qiao_cg_iadd(&cg->base, wrow, qiao_cg_i64(&cg->base, 2));
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, s->Dv, V, 0, "wo");
         qiao_cg_vloop_next(&cg->base, &vl);)
      qiao_cg_stf(&cg->base,
                  qiao_cg_ldf(&cg->base, c.acc, qiao_cg_iadd(&cg->base, arow, vl.i), vl.lanes), wsp,
                  qiao_cg_iadd(&cg->base, wacc, vl.i));
    qiao_cg_loop_end(&cg->base, &rr);
  } else { /* ---- finalize: out = acc / l (0 when nothing was seen) */
    qiao_cg_loop_t rr;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, s->R), 1, "rf",
                       &rr);
    LLVMValueRef r = rr.iv;
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMBasicBlockRef done =
        qiao_cg_if(&cg->base, LLVMBuildICmp(cg->b, LLVMIntSLT, i, Sq, ""), "valid");
    LLVMValueRef l = qiao_cg_ldf(&cg->base, c.lrow, r, 1);
    LLVMValueRef inv =
        LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUGT, l, zero, ""),
                        LLVMBuildFDiv(cg->b, qiao_cg_f32c(&cg->base, 1.0), l, ""), zero, "");
    epi.coords[0] = b;
    epi.coords[1] = hq;
    epi.coords[2] = i;
    LLVMValueRef arow = qiao_cg_imul(&cg->base, r, s->Dv);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, s->Dv, V, 0, "fo");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef y = LLVMBuildFMul(
          cg->b, qiao_cg_ldf(&cg->base, c.acc, qiao_cg_iadd(&cg->base, arow, vl.i), vl.lanes),
          qiao_cg_splat(&cg->base, inv, vl.lanes), "");
      epi.coords[3] = vl.i;
      qiao_cg_epi_store(&epi, c.outp, y, vl.lanes);
    }
    qiao_cg_endif(&cg->base, done);
    qiao_cg_loop_end(&cg->base, &rr);
  }
#undef ROW_HQ
#undef ROW_I
  qk_kernel_end(cg, &rl, fn, (uint64_t)(total * 4 + 64), out);
  if (s->split) {
    out->workspace_bytes = (uint64_t)(s->B * s->Hkv * s->nsp * s->R * (s->Dv + 2)) * sizeof(float);
    return at_combine(cg, kd, s, name, out);
  }
  return NULL;
}
