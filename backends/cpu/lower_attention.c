/* CPU backend — ATTENTION kernels: FlashAttention-style tiled online softmax.
 *
 * A work unit is (b, kv head, query block) with the G = Hq / Hkv query heads
 * of the group processed together (GQA head grouping: each K/V block is read
 * once for G * Bq query rows), or (b, q head, query block) when grouping
 * would leave threads idle (few heads / decode). Units are split over
 * workgroups. Per unit the keys are walked in blocks of Bk; for each query row
 * the visible keys of the block (causal / sliding window bounds, additive
 * mask) get scores q·k (vectorized over D, q pre-scaled), the running max m,
 * the running sum l and the f32 accumulator acc[Dv] (vectorized over Dv) are
 * rescaled by exp(m_old - m_new). Rows that see no key produce 0.
 * Queries sit at the last Sq positions of the Skv keys (decode over a cache).
 *
 * Scores: with R >= 4 rows per unit, the K block is transposed once into
 * scratch and each row's Bk scores are vertical FMAs (q[d] broadcast × Kᵀ[d]);
 * otherwise one vector dot per key. P·V: one p broadcast feeds up to 8
 * register accumulators of Dv.
 *
 * Scratch per worker: q rows (R*D), acc (R*Dv), m, l (R), scores (Bk),
 * Kᵀ block (D*Bk). */
#include "cpu/lower_common.h"

typedef struct at_shape {
  int64_t B, Hq, Hkv, G, Sq, Skv, D, Dv, W;
  bool causal, has_mask;
  double scale;
  int64_t Gu, Bq, R, Bk, BkP, nqb, units;
  bool use_kt;    /* scores as q · Kᵀ-block (vertical FMAs) instead of per-key dots */
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
  LLVMValueRef sacc[16], pacc[8];           /* score / PV register accumulators */
  unsigned V;
} at_ctx_t;

/* Σ_d qbuf[qoff + d] * k[koff + d*ks] over D (static), vector + scalar tail. */
static LLVMValueRef at_dot(at_ctx_t *c, LLVMValueRef qoff, LLVMValueRef koff) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kd_operand_t *k = &c->kd->inputs[1];
  int64_t ks = k->strides[3];
  unsigned V = c->V;
  int64_t D = c->s.D, nvec = D / V * V;
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);
  LLVMValueRef sum = qiao_cpu_f32c(cg, 0.0);
  if (nvec > 0) {
    qk_st(cg, qk_fconst(cg, 0.0, V), c->dotv);
    if (nvec <= 8 * (int64_t)V) {
      /* short: unrolled */
      LLVMValueRef a = qk_fconst(cg, 0.0, V);
      for (int64_t d = 0; d < nvec; d += V) {
        LLVMValueRef di = qiao_cpu_i64(cg, d);
        LLVMValueRef qv = qk_ldf(cg, c->qbuf, qk_add(cg, qoff, di), V);
        LLVMValueRef kv = qk_load(cg, c->kp, k->type.dtype, qk_madd(cg, koff, di, ks), ks, V);
        a = qk_fma(cg, qv, kv, a);
      }
      qk_st(cg, a, c->dotv);
    } else {
      qiao_cpu_loop_t l;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, nvec), V, "dd", &l);
      LLVMValueRef qv = qk_ldf(cg, c->qbuf, qk_add(cg, qoff, l.iv), V);
      LLVMValueRef kv = qk_load(cg, c->kp, k->type.dtype, qk_madd(cg, koff, l.iv, ks), ks, V);
      qk_st(cg, qk_fma(cg, qv, kv, qk_ld(cg, vt, c->dotv)), c->dotv);
      qiao_cpu_loop_end(cg, &l);
    }
    sum = qiao_cpu_reduce_add(cg, qk_ld(cg, vt, c->dotv));
  }
  for (int64_t d = nvec; d < D; ++d) {
    LLVMValueRef di = qiao_cpu_i64(cg, d);
    LLVMValueRef qv = qk_ldf(cg, c->qbuf, qk_add(cg, qoff, di), 1);
    LLVMValueRef kv = qiao_cpu_load_f32(cg, c->kp, k->type.dtype, qk_madd(cg, koff, di, ks), 1);
    sum = qk_fma(cg, qv, kv, sum);
  }
  return sum;
}

/* KT[d][j - j0] = K[j][d] (f32) for keys j0 <= j < j_end, one element at a
 * time: partial blocks, and shapes the register transpose does not cover. */
static void at_transpose_k_scalar(qiao_cpu_codegen_t *cg, const at_ctx_t *c, const at_shape_t *s,
                                  const qiao_kd_operand_t *K, LLVMValueRef kbase, LLVMValueRef j0,
                                  LLVMValueRef j_end) {
  qiao_cpu_loop_t tj, td;
  qiao_cpu_loop_begin(cg, j0, j_end, 1, "tj", &tj);
  LLVMValueRef koff = qk_madd(cg, kbase, tj.iv, K->strides[2]);
  LLVMValueRef col = LLVMBuildSub(cg->b, tj.iv, j0, "");
  qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->D), 1, "td", &td);
  LLVMValueRef kv =
      qiao_cpu_load_f32(cg, c->kp, K->type.dtype, qk_madd(cg, koff, td.iv, K->strides[3]), 1);
  qk_stf(cg, kv, c->kt, qk_add(cg, qk_mul(cg, td.iv, s->BkP), col));
  qiao_cpu_loop_end(cg, &td);
  qiao_cpu_loop_end(cg, &tj);
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
  s->has_mask = kd->n_primary_inputs >= 4;
  if (s->has_mask) {
    const qiao_kd_operand_t *m = &kd->inputs[3];
    int mr = m->type.shape.rank, off = 4 - mr;
    for (int d = 0; d < 4; ++d) {
      int md = d - off;
      s->mst[d] = (md < 0 || m->type.shape.dims[md] == 1) ? 0 : m->strides[md];
    }
  }
  int64_t threads = cg->n_threads > 1 ? cg->n_threads : 1;
  s->Gu = s->G;
  for (int pass = 0; pass < 2; ++pass) {
    s->Bq = 32 / s->Gu;
    if (s->Bq < 1) s->Bq = 1;
    if (s->Bq > s->Sq) s->Bq = s->Sq > 0 ? s->Sq : 1;
    s->nqb = (s->Sq + s->Bq - 1) / s->Bq;
    s->units = s->B * (s->Gu == s->G ? s->Hkv : s->Hq) * s->nqb;
    if (pass == 0 && s->G > 1 && s->units < 2 * threads)
      s->Gu = 1;
    else
      break;
  }
  s->R = s->Gu * s->Bq;
  s->Bk = s->Skv < 64 ? (s->Skv > 0 ? s->Skv : 1) : 64;
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  s->BkP = (s->Bk + V - 1) / V * V;
  /* transposing a K block pays when several rows share it */
  s->use_kt = s->R >= 4 && s->BkP / V <= 16;
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
  qk_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  c.qp = epi.in[0];
  c.kp = epi.in[1];
  c.vp = epi.in[2];
  c.mp = s->has_mask ? epi.in[3] : NULL;
  c.outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
  int64_t o_q = 0, o_acc = o_q + s->R * s->D, o_m = o_acc + s->R * s->Dv, o_l = o_m + s->R,
          o_s = o_l + s->R, o_kt = o_s + s->BkP, total = o_kt + (s->use_kt ? s->D * s->BkP : 0);
  c.qbuf = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_q));
  c.acc = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_acc));
  c.mrow = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_m));
  c.lrow = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_l));
  c.sbuf = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_s));
  c.kt = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_kt));
  for (int64_t k = 0; k < s->BkP / V && k < 16; ++k)
    c.sacc[k] = qk_alloca(cg, fn, vt, "sacc");
  for (int k = 0; k < 8; ++k)
    c.pacc[k] = qk_alloca(cg, fn, vt, "pacc");
  c.dotv = qk_alloca(cg, fn, vt, "dotv");
  c.accv = qk_alloca(cg, fn, vt, "accv");
  c.t0 = qk_alloca(cg, fn, cg->t_f32, "mblk");
  c.t1 = qk_alloca(cg, fn, cg->t_f32, "lsum");
  LLVMValueRef accs = qk_alloca(cg, fn, cg->t_f32, "accs");

  bool grouped = s->Gu == s->G;
  int64_t nh = grouped ? s->Hkv : s->Hq;
  int64_t unit_dims[3] = {s->B, nh, s->nqb};
  qk_rows_t rl;
  qk_rows_begin(cg, fn, s->units, qk_plan_chunks(cg, s->units, s->R * s->Skv * (s->D + s->Dv)), &rl,
                "unit");
  LLVMValueRef uc[3];
  qk_unflatten(cg, rl.loop.iv, 3, unit_dims, uc);
  LLVMValueRef b = uc[0], hh = uc[1], qb = uc[2];
  LLVMValueRef kvh =
      grouped ? hh : (s->G == 1 ? hh : LLVMBuildUDiv(cg->b, hh, qiao_cpu_i64(cg, s->G), ""));
  LLVMValueRef i_lo = qk_mul(cg, qb, s->Bq);
  LLVMValueRef Sq = qiao_cpu_i64(cg, s->Sq), Skv = qiao_cpu_i64(cg, s->Skv);
  LLVMValueRef shift = qiao_cpu_i64(cg, s->Skv - s->Sq);
  LLVMValueRef ninf = LLVMConstReal(cg->t_f32, -INFINITY);
  LLVMValueRef zero = qiao_cpu_f32c(cg, 0.0);

  /* row r -> (hq, i) */
#define ROW_HQ(r)                                                                                  \
  (grouped                                                                                         \
       ? qk_add(cg, qk_mul(cg, hh, s->G), LLVMBuildUDiv(cg->b, r, qiao_cpu_i64(cg, s->Bq), ""))    \
       : hh)
#define ROW_I(r)                                                                                   \
  qk_add(cg, i_lo,                                                                                 \
         s->Bq == 1 ? qiao_cpu_i64(cg, 0) : LLVMBuildURem(cg->b, r, qiao_cpu_i64(cg, s->Bq), ""))

  /* ---- init rows: q (scaled, f32), m, l, acc */
  {
    qiao_cpu_loop_t rl2;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->R), 1, "ri", &rl2);
    LLVMValueRef r = rl2.iv;
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMValueRef ic = qk_imin(cg, i, qiao_cpu_i64(cg, s->Sq - 1)); /* tail rows read a valid row */
    LLVMValueRef qoff = qk_madd(cg, qk_madd(cg, qk_mul(cg, b, Q->strides[0]), hq, Q->strides[1]),
                                ic, Q->strides[2]);
    LLVMValueRef qrow = qk_mul(cg, r, s->D);
    for (int64_t d = 0; d < s->D;) {
      unsigned lanes = s->D - d >= (int64_t)V ? V : 1;
      if (lanes == V && s->D / V > 8) {
        /* long rows: a loop */
        int64_t nvec = s->D / V * V;
        qiao_cpu_loop_t dl;
        qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, nvec), V, "qd", &dl);
        LLVMValueRef qv = qk_load(cg, c.qp, Q->type.dtype, qk_madd(cg, qoff, dl.iv, Q->strides[3]),
                                  Q->strides[3], V);
        qk_stf(cg, LLVMBuildFMul(cg->b, qv, qk_fconst(cg, s->scale, V), ""), c.qbuf,
               qk_add(cg, qrow, dl.iv));
        qiao_cpu_loop_end(cg, &dl);
        d = nvec;
        continue;
      }
      LLVMValueRef di = qiao_cpu_i64(cg, d);
      LLVMValueRef qv = qk_load(cg, c.qp, Q->type.dtype, qk_madd(cg, qoff, di, Q->strides[3]),
                                Q->strides[3], lanes);
      qk_stf(cg, LLVMBuildFMul(cg->b, qv, qk_fconst(cg, s->scale, lanes), ""), c.qbuf,
             qk_add(cg, qrow, di));
      d += lanes;
    }
    qk_stf(cg, ninf, c.mrow, r);
    qk_stf(cg, zero, c.lrow, r);
    LLVMValueRef arow = qk_mul(cg, r, s->Dv);
    qiao_cpu_loop_t zl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->Dv), 1, "z", &zl);
    qk_stf(cg, zero, c.acc, qk_add(cg, arow, zl.iv));
    qiao_cpu_loop_end(cg, &zl);
    qiao_cpu_loop_end(cg, &rl2);
  }

  /* ---- key range of the unit */
  LLVMValueRef i_hi =
      qk_imin(cg, qk_add(cg, i_lo, qiao_cpu_i64(cg, s->Bq - 1)), qiao_cpu_i64(cg, s->Sq - 1));
  LLVMValueRef pos_lo = qk_add(cg, i_lo, shift), pos_hi = qk_add(cg, i_hi, shift);
  bool bounded = s->causal || s->W > 0;
  LLVMValueRef jstart = qiao_cpu_i64(cg, 0), jend = Skv;
  if (s->W > 0)
    jstart = qk_imax(cg, jstart, LLVMBuildSub(cg->b, pos_lo, qiao_cpu_i64(cg, s->W - 1), ""));
  if (bounded) jend = qk_imin(cg, jend, qk_add(cg, pos_hi, qiao_cpu_i64(cg, 1)));
  (void)Sq;

  LLVMValueRef kbase = qk_madd(cg, qk_mul(cg, b, K->strides[0]), kvh, K->strides[1]);
  LLVMValueRef vbase = qk_madd(cg, qk_mul(cg, b, Vv->strides[0]), kvh, Vv->strides[1]);

  /* ---- key blocks */
  qiao_cpu_loop_t jb;
  qiao_cpu_loop_begin(cg, jstart, jend, s->Bk, "kb", &jb);
  LLVMValueRef j0 = jb.iv;
  LLVMValueRef jb_end = qk_imin(cg, qk_add(cg, j0, qiao_cpu_i64(cg, s->Bk)), jend);
  if (s->use_kt && V == 16 && s->BkP == s->Bk && s->Bk % 16 == 0 && s->D % 16 == 0) {
    /* full blocks: 16 x 16 register transposes */
    LLVMValueRef isfull = LLVMBuildICmp(cg->b, LLVMIntEQ, LLVMBuildSub(cg->b, jb_end, j0, ""),
                                        qiao_cpu_i64(cg, s->Bk), "");
    LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktfull");
    LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktpart");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "ktjoin");
    LLVMBuildCondBr(cg->b, isfull, full, part);
    LLVMPositionBuilderAtEnd(cg->b, full);
    {
      qiao_cpu_loop_t dl, jl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->D), 16, "ktd", &dl);
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->Bk), 16, "ktj", &jl);
      LLVMValueRef rr[16];
      for (unsigned q = 0; q < 16; ++q) {
        LLVMValueRef koff =
            qk_madd(cg,
                    qk_madd(cg, kbase, qk_add(cg, qk_add(cg, j0, jl.iv), qiao_cpu_i64(cg, q)),
                            K->strides[2]),
                    dl.iv, K->strides[3]);
        rr[q] = qk_load(cg, c.kp, K->type.dtype, koff, K->strides[3], 16);
      }
      qk_transpose_regs(cg, rr, 16);
      for (unsigned q = 0; q < 16; ++q)
        qk_stf(cg, rr[q], c.kt,
               qk_add(cg, qk_mul(cg, qk_add(cg, dl.iv, qiao_cpu_i64(cg, q)), s->BkP), jl.iv));
      qiao_cpu_loop_end(cg, &jl);
      qiao_cpu_loop_end(cg, &dl);
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
  {
    qiao_cpu_loop_t rr;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->R), 1, "rk", &rr);
    LLVMValueRef r = rr.iv;
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMValueRef pos = qk_add(cg, i, shift);
    LLVMValueRef a = j0, e = jb_end;
    if (s->W > 0) a = qk_imax(cg, a, LLVMBuildSub(cg->b, pos, qiao_cpu_i64(cg, s->W - 1), ""));
    if (bounded) e = qk_imin(cg, e, qk_add(cg, pos, qiao_cpu_i64(cg, 1)));
    LLVMValueRef live = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, i, Sq, ""),
                                     LLVMBuildICmp(cg->b, LLVMIntSLT, a, e, ""), "");
    LLVMBasicBlockRef done = qk_if(cg, live, "live");
    LLVMValueRef qrow = qk_mul(cg, r, s->D);
    /* scores and block max */
    if (s->use_kt) {
      int64_t nk = s->BkP / V;
      for (int64_t k = 0; k < nk; ++k)
        qk_st(cg, qk_fconst(cg, 0.0, V), c.sacc[k]);
      qiao_cpu_loop_t dl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->D), 1, "sd", &dl);
      LLVMValueRef qd = qiao_cpu_splat(cg, qk_ldf(cg, c.qbuf, qk_add(cg, qrow, dl.iv), 1), V);
      LLVMValueRef ktrow = qk_mul(cg, dl.iv, s->BkP);
      for (int64_t k = 0; k < nk; ++k) {
        LLVMValueRef kv = qk_ldf(cg, c.kt, qk_add(cg, ktrow, qiao_cpu_i64(cg, k * V)), V);
        qk_st(cg, qk_fma(cg, qd, kv, qk_ld(cg, vt, c.sacc[k])), c.sacc[k]);
      }
      qiao_cpu_loop_end(cg, &dl);
      for (int64_t k = 0; k < nk; ++k)
        qk_stf(cg, qk_ld(cg, vt, c.sacc[k]), c.sbuf, qiao_cpu_i64(cg, k * V));
      if (s->has_mask) {
        const qiao_kd_operand_t *M = &kd->inputs[3];
        qiao_cpu_loop_t jl;
        qiao_cpu_loop_begin(cg, a, e, 1, "mj", &jl);
        LLVMValueRef mo = qk_madd(
            cg, qk_madd(cg, qk_madd(cg, qk_mul(cg, b, s->mst[0]), hq, s->mst[1]), i, s->mst[2]),
            jl.iv, s->mst[3]);
        LLVMValueRef si = LLVMBuildSub(cg->b, jl.iv, j0, "");
        qk_stf(cg,
               LLVMBuildFAdd(cg->b, qk_ldf(cg, c.sbuf, si, 1),
                             qiao_cpu_load_f32(cg, c.mp, M->type.dtype, mo, 1), ""),
               c.sbuf, si);
        qiao_cpu_loop_end(cg, &jl);
      }
      /* max over the visible lanes [a, e) */
      LLVMTypeRef iv = LLVMVectorType(cg->t_i64, V);
      LLVMValueRef lane[64];
      for (unsigned l = 0; l < V && l < 64; ++l)
        lane[l] = qiao_cpu_i64(cg, l);
      LLVMValueRef lanes_c = LLVMConstVector(lane, V);
      LLVMValueRef av = qiao_cpu_splat(cg, a, V), ev = qiao_cpu_splat(cg, e, V);
      LLVMValueRef mx = qk_fconst(cg, -INFINITY, V);
      for (int64_t k = 0; k < nk; ++k) {
        LLVMValueRef jv = LLVMBuildAdd(
            cg->b, qiao_cpu_splat(cg, qk_add(cg, j0, qiao_cpu_i64(cg, k * V)), V), lanes_c, "");
        LLVMValueRef ok = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGE, jv, av, ""),
                                       LLVMBuildICmp(cg->b, LLVMIntSLT, jv, ev, ""), "");
        LLVMValueRef sv = qk_ldf(cg, c.sbuf, qiao_cpu_i64(cg, k * V), V);
        sv = LLVMBuildSelect(cg->b, ok, sv, qk_fconst(cg, -INFINITY, V), "");
        mx = qiao_cpu_emit_max_acc(cg, mx, sv);
      }
      (void)iv;
      qk_st(cg, qiao_cpu_reduce_max(cg, mx), c.t0);
    } else {
      qk_st(cg, ninf, c.t0);
      qiao_cpu_loop_t jl;
      qiao_cpu_loop_begin(cg, a, e, 1, "sj", &jl);
      LLVMValueRef koff = qk_madd(cg, kbase, jl.iv, K->strides[2]);
      LLVMValueRef sc = at_dot(&c, qrow, koff);
      if (s->has_mask) {
        const qiao_kd_operand_t *M = &kd->inputs[3];
        LLVMValueRef mo = qk_madd(
            cg, qk_madd(cg, qk_madd(cg, qk_mul(cg, b, s->mst[0]), hq, s->mst[1]), i, s->mst[2]),
            jl.iv, s->mst[3]);
        sc = LLVMBuildFAdd(cg->b, sc, qiao_cpu_load_f32(cg, c.mp, M->type.dtype, mo, 1), "");
      }
      qk_stf(cg, sc, c.sbuf, LLVMBuildSub(cg->b, jl.iv, j0, ""));
      LLVMValueRef mb = qk_ld(cg, cg->t_f32, c.t0);
      qk_st(cg, qiao_cpu_emit_max_acc(cg, mb, sc), c.t0);
      qiao_cpu_loop_end(cg, &jl);
    }
    LLVMValueRef m_old = qk_ldf(cg, c.mrow, r, 1);
    LLVMValueRef mblk = qk_ld(cg, cg->t_f32, c.t0);
    LLVMValueRef m_new = qiao_cpu_emit_max_acc(cg, m_old, mblk);
    /* NaN counts as seen: it propagates into the output like the interpreter's */
    LLVMBasicBlockRef done2 = qk_if(cg, LLVMBuildFCmp(cg->b, LLVMRealUNE, m_new, ninf, ""), "seen");
    LLVMValueRef alpha = qk_exp(cg, LLVMBuildFSub(cg->b, m_old, m_new, ""));
    /* p = exp(s - m_new), block sum: vectorized over the block */
    qk_st(cg, zero, c.t1);
    LLVMValueRef len = LLVMBuildSub(cg->b, e, a, "");
    LLVMValueRef sa = LLVMBuildSub(cg->b, a, j0, "");
    LLVMValueRef nv = LLVMBuildAnd(cg->b, len, qiao_cpu_i64(cg, ~(int64_t)(V - 1)), "");
    {
      qk_st(cg, qk_fconst(cg, 0.0, V), c.dotv);
      qiao_cpu_loop_t pl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), nv, V, "pv", &pl);
      LLVMValueRef idx = qk_add(cg, sa, pl.iv);
      LLVMValueRef p = qk_exp(
          cg, LLVMBuildFSub(cg->b, qk_ldf(cg, c.sbuf, idx, V), qiao_cpu_splat(cg, m_new, V), ""));
      qk_stf(cg, p, c.sbuf, idx);
      qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, vt, c.dotv), p, ""), c.dotv);
      qiao_cpu_loop_end(cg, &pl);
      qiao_cpu_loop_begin(cg, nv, len, 1, "pt", &pl);
      idx = qk_add(cg, sa, pl.iv);
      p = qk_exp(cg, LLVMBuildFSub(cg->b, qk_ldf(cg, c.sbuf, idx, 1), m_new, ""));
      qk_stf(cg, p, c.sbuf, idx);
      qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f32, c.t1), p, ""), c.t1);
      qiao_cpu_loop_end(cg, &pl);
    }
    LLVMValueRef bsum = LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f32, c.t1),
                                      qiao_cpu_reduce_add(cg, qk_ld(cg, vt, c.dotv)), "");
    LLVMValueRef l_old = qk_ldf(cg, c.lrow, r, 1);
    qk_stf(cg, qk_fma(cg, l_old, alpha, bsum), c.lrow, r);
    qk_stf(cg, m_new, c.mrow, r);
    /* acc = acc * alpha + Σ_j p_j v_j, a register chunk of Dv at a time */
    LLVMValueRef arow = qk_mul(cg, r, s->Dv);
    int64_t sv = Vv->strides[3];
    /* vector chunks of Dv in register groups of up to 8 (one p broadcast feeds 8 FMAs) */
    int64_t nch = s->Dv / V;
    for (int64_t g0 = 0; g0 < nch; g0 += 8) {
      int64_t ng = nch - g0 < 8 ? nch - g0 : 8;
      LLVMValueRef av = qiao_cpu_splat(cg, alpha, V);
      for (int64_t g = 0; g < ng; ++g) {
        LLVMValueRef aidx = qk_add(cg, arow, qiao_cpu_i64(cg, (g0 + g) * V));
        qk_st(cg, LLVMBuildFMul(cg->b, qk_ldf(cg, c.acc, aidx, V), av, ""), c.pacc[g]);
      }
      qiao_cpu_loop_t vj;
      qiao_cpu_loop_begin(cg, a, e, 1, "vj", &vj);
      LLVMValueRef p =
          qiao_cpu_splat(cg, qk_ldf(cg, c.sbuf, LLVMBuildSub(cg->b, vj.iv, j0, ""), 1), V);
      LLVMValueRef vrow = qk_madd(cg, vbase, vj.iv, Vv->strides[2]);
      for (int64_t g = 0; g < ng; ++g) {
        LLVMValueRef voff = qk_madd(cg, vrow, qiao_cpu_i64(cg, (g0 + g) * V), sv);
        LLVMValueRef vv = qk_load(cg, c.vp, Vv->type.dtype, voff, sv, V);
        qk_st(cg, qk_fma(cg, p, vv, qk_ld(cg, vt, c.pacc[g])), c.pacc[g]);
      }
      qiao_cpu_loop_end(cg, &vj);
      for (int64_t g = 0; g < ng; ++g)
        qk_stf(cg, qk_ld(cg, vt, c.pacc[g]), c.acc,
               qk_add(cg, arow, qiao_cpu_i64(cg, (g0 + g) * V)));
    }
    if (nch * V < s->Dv) {
      qiao_cpu_loop_t dl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, nch * V), qiao_cpu_i64(cg, s->Dv), 1, "dv", &dl);
      LLVMValueRef aidx = qk_add(cg, arow, dl.iv);
      qk_st(cg, LLVMBuildFMul(cg->b, qk_ldf(cg, c.acc, aidx, 1), alpha, ""), accs);
      qiao_cpu_loop_t vj;
      qiao_cpu_loop_begin(cg, a, e, 1, "vj", &vj);
      LLVMValueRef p = qk_ldf(cg, c.sbuf, LLVMBuildSub(cg->b, vj.iv, j0, ""), 1);
      LLVMValueRef voff = qk_madd(cg, qk_madd(cg, vbase, vj.iv, Vv->strides[2]), dl.iv, sv);
      LLVMValueRef vv = qiao_cpu_load_f32(cg, c.vp, Vv->type.dtype, voff, 1);
      qk_st(cg, qk_fma(cg, p, vv, qk_ld(cg, cg->t_f32, accs)), accs);
      qiao_cpu_loop_end(cg, &vj);
      qk_stf(cg, qk_ld(cg, cg->t_f32, accs), c.acc, aidx);
      qiao_cpu_loop_end(cg, &dl);
    }
    qk_endif(cg, done2);
    qk_endif(cg, done);
    qiao_cpu_loop_end(cg, &rr);
  }
  qiao_cpu_loop_end(cg, &jb);

  /* ---- finalize: out = acc / l (0 when nothing was seen) */
  {
    qiao_cpu_loop_t rr;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, s->R), 1, "rf", &rr);
    LLVMValueRef r = rr.iv;
    LLVMValueRef hq = ROW_HQ(r), i = ROW_I(r);
    LLVMBasicBlockRef done = qk_if(cg, LLVMBuildICmp(cg->b, LLVMIntSLT, i, Sq, ""), "valid");
    LLVMValueRef l = qk_ldf(cg, c.lrow, r, 1);
    LLVMValueRef inv =
        LLVMBuildSelect(cg->b, LLVMBuildFCmp(cg->b, LLVMRealUGT, l, zero, ""),
                        LLVMBuildFDiv(cg->b, qiao_cpu_f32c(cg, 1.0), l, ""), zero, "");
    epi.coords[0] = b;
    epi.coords[1] = hq;
    epi.coords[2] = i;
    LLVMValueRef arow = qk_mul(cg, r, s->Dv);
    for (int pass = 0; pass < 2; ++pass) {
      unsigned lanes = pass == 0 ? V : 1;
      int64_t lo = pass == 0 ? 0 : s->Dv / V * V, hi = pass == 0 ? s->Dv / V * V : s->Dv;
      if (lo >= hi) continue;
      qiao_cpu_loop_t dl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, lo), qiao_cpu_i64(cg, hi), lanes, "fo", &dl);
      LLVMValueRef y = LLVMBuildFMul(cg->b, qk_ldf(cg, c.acc, qk_add(cg, arow, dl.iv), lanes),
                                     qiao_cpu_splat(cg, inv, lanes), "");
      epi.coords[3] = dl.iv;
      qk_epi_store(&epi, c.outp, y, lanes);
      qiao_cpu_loop_end(cg, &dl);
    }
    qk_endif(cg, done);
    qiao_cpu_loop_end(cg, &rr);
  }
#undef ROW_HQ
#undef ROW_I
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  out->scratch_bytes = (uint64_t)(total * 4 + 64);
  return NULL;
}
