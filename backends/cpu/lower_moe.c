/* CPU backend — MOE kernels (SwiGLU experts, DeepSeek/Mixtral shape).
 *
 * Per token t (tokens split over workgroups):
 *   logits = x_t · router      (vectorized over E, f32)
 *   scores = softmax(logits) or sigmoid(logits)
 *   top_k experts by score (ties: lower index), weights renormalized when norm_topk
 *   for each chosen expert e only:
 *     h = silu(x_t · gate_e) * (x_t · up_e)        (register blocks of <vec> f over d)
 *     y += w_e * (h · down_e)                       (register blocks of <vec> d over f)
 *   out_t = epilogue(y)
 * Everything inside accumulates in f32; only the output is rounded.
 * Scratch per worker: logits/scores (E), taken flags (E), chosen (k),
 * h (F), y (D).
 *
 * With many tokens (T·top_k >= 2E) the per-expert grouping variant runs
 * instead (moe_grouped below): route a chunk of tokens, then per expert
 * process the tokens that chose it four at a time, one V-column weight strip
 * at a time over all of them (the strip packed into a contiguous f32 panel).
 * With few tokens each token accumulates h and y row by row of the weights
 * (each row read once, contiguously; the accumulators stay in L1). With 1..4
 * tokens on several threads the decode split (moe_decode_split) runs the same
 * row-wise loops in two phases, F sliced over the workgroups then D. Which
 * variant, and its chunking, is decided in cpu_moe_plan alone (lower_moe.h). */
#include "cpu/lower_moe.h"

#include <stdio.h>

#include "cpu/lower_common.h"

typedef struct moe_ctx {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef xp, rp, gp, up, dp;
  LLVMValueRef sc, hbuf, ybuf, sel_i, sel_w, taken;
  LLVMValueRef a0, a1, a0s, a1s, fs, bi, bv; /* allocas */
  int64_t T, D, E, F, K;
  unsigned V;
} moe_ctx_t;

/* Element [row, col..] of expert matrix input `input` (gate, up or down;
 * base: the expert's offset), `lanes` along col. */
static LLVMValueRef moe_wload(moe_ctx_t *c, int input, LLVMValueRef p, LLVMValueRef base,
                              LLVMValueRef row, LLVMValueRef col, unsigned lanes) {
  qiao_cg_t *g = &c->cg->base;
  const qiao_kd_operand_t *w = &c->kd->inputs[input];
  return qiao_cg_load_strided(
      g, p, w->type.dtype,
      qiao_cg_imadd(g, qiao_cg_imadd(g, base, row, w->strides[1]), col, w->strides[2]),
      w->strides[2], lanes);
}

/* Router for the token at x offset xrow: writes the top_k expert ids to
 * sel_i[sel_base + k] and their (renormalized) weights to sel_w[...]. */
static void moe_route(moe_ctx_t *c, LLVMValueRef xrow, LLVMValueRef sel_base) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *X = &kd->inputs[0], *Rt = &kd->inputs[1];
  int64_t sxd = X->strides[1], D = c->D, E = c->E, K = c->K;
  unsigned V = c->V;
  bool sigmoid = kd->attrs.router_fn == QIAO_ROUTER_SIGMOID;
  LLVMValueRef bi = c->bi, bv = c->bv;
  /* ---- router logits: sc[e] = Σ_d x[t,d] router[d,e] */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, E, V, 0, "le");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    LLVMValueRef e = vl.i;
    LLVMValueRef ap = vl.lanes == 1 ? c->a0s : c->a0;
    qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), ap);
    qiao_cg_loop_t dl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, D), 1, "ld",
                       &dl);
    LLVMValueRef xv = qiao_cg_load_f32(&cg->base, c->xp, X->type.dtype,
                                       qiao_cg_imadd(&cg->base, xrow, dl.iv, sxd), 1);
    LLVMValueRef rv = qiao_cg_load_strided(
        &cg->base, c->rp, Rt->type.dtype,
        qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, dl.iv, Rt->strides[0]), e, Rt->strides[1]),
        Rt->strides[1], vl.lanes);
    qiao_cg_st(&cg->base,
               qiao_cg_fma(&cg->base, qiao_cg_splat(&cg->base, xv, vl.lanes), rv,
                           qiao_cg_ld(&cg->base, LLVMTypeOf(rv), ap)),
               ap);
    qiao_cg_loop_end(&cg->base, &dl);
    qiao_cg_stf(&cg->base,
                qiao_cg_ld(&cg->base, qiao_cg_vec_type(&cg->base, cg->t_f32, vl.lanes), ap), c->sc,
                e);
  }

  /* ---- scores */
  if (sigmoid) {
    qiao_cg_loop_t el;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "sg",
                       &el);
    LLVMValueRef l = qiao_cg_ldf(&cg->base, c->sc, el.iv, 1);
    LLVMValueRef s = qiao_cg_emit_sigmoid(&cg->base, l);
    qiao_cg_stf(&cg->base, s, c->sc, el.iv);
    qiao_cg_loop_end(&cg->base, &el);
  } else {
    qiao_cg_st(&cg->base, LLVMConstReal(cg->t_f32, -INFINITY), c->fs);
    qiao_cg_loop_t el;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "mx",
                       &el);
    LLVMValueRef l = qiao_cg_ldf(&cg->base, c->sc, el.iv, 1),
                 m = qiao_cg_ld(&cg->base, cg->t_f32, c->fs);
    qiao_cg_st(&cg->base, qiao_cg_emit_max_acc(&cg->base, m, l), c->fs);
    qiao_cg_loop_end(&cg->base, &el);
    LLVMValueRef mx = qiao_cg_ld(&cg->base, cg->t_f32, c->fs);
    qiao_cg_st(&cg->base, qiao_cg_f32c(&cg->base, 0.0), c->a1s);
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "ex",
                       &el);
    LLVMValueRef ev = qiao_cg_emit_exp(
        &cg->base, LLVMBuildFSub(cg->b, qiao_cg_ldf(&cg->base, c->sc, el.iv, 1), mx, ""));
    qiao_cg_stf(&cg->base, ev, c->sc, el.iv);
    qiao_cg_st(&cg->base, LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, cg->t_f32, c->a1s), ev, ""),
               c->a1s);
    qiao_cg_loop_end(&cg->base, &el);
    LLVMValueRef inv = LLVMBuildFDiv(cg->b, qiao_cg_f32c(&cg->base, 1.0),
                                     qiao_cg_ld(&cg->base, cg->t_f32, c->a1s), "");
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "nm",
                       &el);
    qiao_cg_stf(&cg->base, LLVMBuildFMul(cg->b, qiao_cg_ldf(&cg->base, c->sc, el.iv, 1), inv, ""),
                c->sc, el.iv);
    qiao_cg_loop_end(&cg->base, &el);
  }

  /* ---- top-k selection (ties: lower index), weight sum */
  LLVMBuildMemSet(cg->b, c->taken, LLVMConstInt(cg->t_i8, 0, 0), qiao_cg_i64(&cg->base, E), 1);
  qiao_cg_st(&cg->base, qiao_cg_f32c(&cg->base, 0.0), c->a1s);
  {
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "pick",
                       &kl);
    qiao_cg_st(&cg->base, qiao_cg_i64(&cg->base, -1), bi);
    qiao_cg_st(&cg->base, qiao_cg_f32c(&cg->base, 0.0), bv);
    qiao_cg_loop_t el;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "scan",
                       &el);
    LLVMValueRef e = el.iv;
    LLVMValueRef tk =
        LLVMBuildLoad2(cg->b, cg->t_i8, LLVMBuildGEP2(cg->b, cg->t_i8, c->taken, &e, 1, ""), "");
    LLVMValueRef fr = LLVMBuildICmp(cg->b, LLVMIntEQ, tk, LLVMConstInt(cg->t_i8, 0, 0), "");
    LLVMValueRef v = qiao_cg_ldf(&cg->base, c->sc, e, 1);
    LLVMValueRef cb = qiao_cg_ld(&cg->base, cg->t_i64, bi),
                 cv = qiao_cg_ld(&cg->base, cg->t_f32, bv);
    LLVMValueRef vnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
    LLVMValueRef bnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, cv, cv, "");
    LLVMValueRef better =
        LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, vnan, LLVMBuildNot(cg->b, bnan, ""), ""),
                    LLVMBuildFCmp(cg->b, LLVMRealOGT, v, cv, ""), "");
    better = LLVMBuildOr(cg->b, better,
                         LLVMBuildICmp(cg->b, LLVMIntSLT, cb, qiao_cg_i64(&cg->base, 0), ""), "");
    LLVMValueRef take = LLVMBuildAnd(cg->b, fr, better, "");
    qiao_cg_st(&cg->base, LLVMBuildSelect(cg->b, take, e, cb, ""), bi);
    qiao_cg_st(&cg->base, LLVMBuildSelect(cg->b, take, v, cv, ""), bv);
    qiao_cg_loop_end(&cg->base, &el);
    LLVMValueRef b = qiao_cg_ld(&cg->base, cg->t_i64, bi);
    LLVMBuildStore(cg->b, LLVMConstInt(cg->t_i8, 1, 0),
                   LLVMBuildGEP2(cg->b, cg->t_i8, c->taken, &b, 1, ""));
    LLVMValueRef k = qiao_cg_iadd(&cg->base, kl.iv, sel_base), ks = k;
    LLVMBuildStore(cg->b, b, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &ks, 1, ""));
    LLVMValueRef w = qiao_cg_ld(&cg->base, cg->t_f32, bv);
    qiao_cg_stf(&cg->base, w, c->sel_w, k);
    qiao_cg_st(&cg->base, LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, cg->t_f32, c->a1s), w, ""),
               c->a1s);
    qiao_cg_loop_end(&cg->base, &kl);
  }
  if (kd->attrs.norm_topk) {
    LLVMValueRef inv = LLVMBuildFDiv(cg->b, qiao_cg_f32c(&cg->base, 1.0),
                                     qiao_cg_ld(&cg->base, cg->t_f32, c->a1s), "");
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "wn",
                       &kl);
    LLVMValueRef k = qiao_cg_iadd(&cg->base, kl.iv, sel_base);
    qiao_cg_stf(&cg->base, LLVMBuildFMul(cg->b, qiao_cg_ldf(&cg->base, c->sel_w, k, 1), inv, ""),
                c->sel_w, k);
    qiao_cg_loop_end(&cg->base, &kl);
  }
}

/* The quad starting at list position q: token ids within the chunk (tok), their x row
 * offsets (xr) and their H rows (hr). */
static void moe_quad_rows(moe_ctx_t *c, LLVMValueRef LT, LLVMValueRef t0, LLVMValueRef q,
                          LLVMValueRef tok[4], LLVMValueRef xr[4], LLVMValueRef hr[4]) {
  qiao_cpu_codegen_t *cg = c->cg;
  int64_t sxt = c->kd->inputs[0].strides[0];
  for (int j = 0; j < 4; ++j) {
    LLVMValueRef qj = qiao_cg_iadd(&cg->base, q, qiao_cg_i64(&cg->base, j));
    tok[j] = LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &qj, 1, ""), "");
    xr[j] = qiao_cg_imul(&cg->base, qiao_cg_iadd(&cg->base, t0, tok[j]), sxt);
    hr[j] = qiao_cg_imul(&cg->base, qj, c->F);
  }
}

/* Per-expert token grouping (many tokens): a unit is a chunk of TB tokens.
 * All its tokens are routed first; then for each expert the tokens that chose
 * it are listed and processed four at a time, so each gate/up/down vector
 * load feeds four tokens; the loops run strip-outer, quad-inner: each
 * V-column strip of gate/up ([D, V]) or down ([F, V]) is read from memory
 * once per expert and chunk into a contiguous f32 panel P (converted from
 * bf16/f16 once), which every quad then reads from cache. (Reading the strided
 * strip directly from every quad was slower: its rows, F or D elements apart,
 * fall into few L2 sets and do not stay.) */
static void moe_grouped(moe_ctx_t *c, LLVMValueRef fn, qiao_cg_epi_t *epi, LLVMValueRef outp,
                        LLVMValueRef scr, int64_t TB, qiao_cpu_kernel_t *out) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *X = &kd->inputs[0], *G = &kd->inputs[2], *U = &kd->inputs[3],
                          *Dn = &kd->inputs[4];
  int64_t T = c->T, D = c->D, E = c->E, F = c->F, K = c->K;
  unsigned V = c->V;
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);
  /* scratch (f32 slots) */
  int64_t o_sc = 0, o_tk = E, o_w = o_tk + (E + 3) / 4, o_i = (o_w + TB * K + 1) / 2 * 2,
          o_y = o_i + 2 * TB * K, o_lt = (o_y + TB * D + 1) / 2 * 2, o_lw = o_lt + 2 * (TB + 4),
          o_h = o_lw + TB + 4, o_p = (o_h + (TB + 4) * F + 15) / 16 * 16,
          total = o_p + (2 * D > F ? 2 * D : F) * (int64_t)V;
  c->sc = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_sc));
  c->taken = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_tk));
  c->sel_w = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_w));
  c->sel_i = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_i));
  LLVMValueRef Y = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_y));
  LLVMValueRef LT = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_lt));
  LLVMValueRef LW = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_lw));
  LLVMValueRef H = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_h));
  LLVMValueRef P = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_p)); /* packed strip */
  LLVMValueRef ga[2][4], ua[2][4], cnt = qiao_cg_alloca(&cg->base, fn, cg->t_i64, "cnt");
  for (int j = 0; j < 4; ++j) {
    ga[0][j] = qiao_cg_alloca(&cg->base, fn, vt, "g");
    ua[0][j] = qiao_cg_alloca(&cg->base, fn, vt, "u");
    ga[1][j] = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "g1");
    ua[1][j] = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "u1");
  }
  int64_t sxt = X->strides[0], sxd = X->strides[1];
  int64_t units = (T + TB - 1) / TB;
  qk_rows_t rl;
  qk_rows_begin(cg, fn, units, units, &rl, "unit");
  LLVMValueRef t0 = qiao_cg_imul(&cg->base, rl.loop.iv, TB);
  LLVMValueRef tn = qiao_cg_imin(&cg->base, qiao_cg_i64(&cg->base, TB),
                                 LLVMBuildSub(cg->b, qiao_cg_i64(&cg->base, T), t0, ""));
  /* ---- route every token of the chunk, clear Y */
  {
    qiao_cg_loop_t tl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), tn, 1, "rt", &tl);
    moe_route(c, qiao_cg_imul(&cg->base, qiao_cg_iadd(&cg->base, t0, tl.iv), sxt),
              qiao_cg_imul(&cg->base, tl.iv, K));
    LLVMValueRef yrow = qiao_cg_imul(&cg->base, tl.iv, D);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "yz");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef d = vl.i;
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), Y,
                  qiao_cg_iadd(&cg->base, yrow, d));
    }
    qiao_cg_loop_end(&cg->base, &tl);
  }
  /* ---- experts */
  qiao_cg_loop_t el;
  qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, E), 1, "exp",
                     &el);
  LLVMValueRef e = el.iv;
  qiao_cg_st(&cg->base, qiao_cg_i64(&cg->base, 0), cnt);
  {
    qiao_cg_loop_t sl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_imul(&cg->base, tn, K), 1,
                       "ls", &sl);
    LLVMValueRef si = sl.iv;
    LLVMValueRef id =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &si, 1, ""), "");
    LLVMValueRef n = qiao_cg_ld(&cg->base, cg->t_i64, cnt);
    LLVMValueRef tt = K == 1 ? si : LLVMBuildUDiv(cg->b, si, qiao_cg_i64(&cg->base, K), "");
    LLVMBuildStore(cg->b, tt, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &n, 1, ""));
    qiao_cg_stf(&cg->base, qiao_cg_ldf(&cg->base, c->sel_w, si, 1), LW, n);
    LLVMValueRef hit =
        LLVMBuildZExt(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, id, e, ""), cg->t_i64, "");
    qiao_cg_st(&cg->base, qiao_cg_iadd(&cg->base, n, hit), cnt);
    qiao_cg_loop_end(&cg->base, &sl);
  }
  LLVMValueRef n = qiao_cg_ld(&cg->base, cg->t_i64, cnt);
  LLVMBasicBlockRef skip = qiao_cg_if(
      &cg->base, LLVMBuildICmp(cg->b, LLVMIntSGT, n, qiao_cg_i64(&cg->base, 0), ""), "used");
  LLVMValueRef np = LLVMBuildAnd(cg->b, qiao_cg_iadd(&cg->base, n, qiao_cg_i64(&cg->base, 3)),
                                 qiao_cg_i64(&cg->base, ~(int64_t)3), "");
  {
    /* pad to a multiple of 4 with copies of the last token at weight 0 */
    LLVMValueRef last = LLVMBuildSub(cg->b, n, qiao_cg_i64(&cg->base, 1), "");
    LLVMValueRef lt =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &last, 1, ""), "");
    qiao_cg_loop_t pl;
    qiao_cg_loop_begin(&cg->base, n, np, 1, "pad", &pl);
    LLVMValueRef pi = pl.iv;
    LLVMBuildStore(cg->b, lt, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &pi, 1, ""));
    qiao_cg_stf(&cg->base, qiao_cg_f32c(&cg->base, 0.0), LW, pl.iv);
    qiao_cg_loop_end(&cg->base, &pl);
  }
  LLVMValueRef gbase = qiao_cg_imul(&cg->base, e, G->strides[0]),
               ubase = qiao_cg_imul(&cg->base, e, U->strides[0]);
  LLVMValueRef dbase = qiao_cg_imul(&cg->base, e, Dn->strides[0]);
  /* Strips outside, quads inside: one V-column strip of gate/up (D rows) or of down (F rows)
   * is packed into P, and every quad of this expert's tokens passes over P, so the weights
   * come from memory once per expert and chunk instead of once per quad. */
  LLVMValueRef tok[4], xr[4], hr[4];
  /* H[q + j][f] = silu(x_j · gate_e[:, f]) * (x_j · up_e[:, f]) */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, F, V, 0, "gf");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    LLVMValueRef f = vl.i;
    int si = vl.lanes == 1;
    LLVMTypeRef lt = qiao_cg_vec_type(&cg->base, cg->t_f32, vl.lanes);
    /* P[d] = gate_e[d, f:f+lanes], P[D + d] = up_e[d, f:f+lanes] (f32, contiguous) */
    {
      qiao_cg_loop_t pl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, D), 1, "pg",
                         &pl);
      qiao_cg_stf(&cg->base, moe_wload(c, 2, c->gp, gbase, pl.iv, f, vl.lanes), P,
                  qiao_cg_imul(&cg->base, pl.iv, vl.lanes));
      qiao_cg_stf(&cg->base, moe_wload(c, 3, c->up, ubase, pl.iv, f, vl.lanes), P,
                  qiao_cg_imul(&cg->base, qiao_cg_iadd(&cg->base, pl.iv, qiao_cg_i64(&cg->base, D)),
                               vl.lanes));
      qiao_cg_loop_end(&cg->base, &pl);
    }
    qiao_cg_loop_t ql;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), np, 4, "gquad", &ql);
    moe_quad_rows(c, LT, t0, ql.iv, tok, xr, hr);
    for (int j = 0; j < 4; ++j) {
      qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), ga[si][j]);
      qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), ua[si][j]);
    }
    qiao_cg_loop_t dl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, D), 1, "gd",
                       &dl);
    LLVMValueRef gv = qiao_cg_ldf(&cg->base, P, qiao_cg_imul(&cg->base, dl.iv, vl.lanes), vl.lanes);
    LLVMValueRef uv = qiao_cg_ldf(
        &cg->base, P,
        qiao_cg_imul(&cg->base, qiao_cg_iadd(&cg->base, dl.iv, qiao_cg_i64(&cg->base, D)),
                     vl.lanes),
        vl.lanes);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef xv =
          qiao_cg_splat(&cg->base,
                        qiao_cg_load_f32(&cg->base, c->xp, X->type.dtype,
                                         qiao_cg_imadd(&cg->base, xr[j], dl.iv, sxd), 1),
                        vl.lanes);
      qiao_cg_fma_into(&cg->base, ga[si][j], xv, gv);
      qiao_cg_fma_into(&cg->base, ua[si][j], xv, uv);
    }
    qiao_cg_loop_end(&cg->base, &dl);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef gs = qiao_cg_ld(&cg->base, lt, ga[si][j]),
                   us = qiao_cg_ld(&cg->base, lt, ua[si][j]);
      LLVMValueRef sg = qiao_cg_emit_sigmoid(&cg->base, gs);
      qiao_cg_stf(&cg->base, LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, gs, sg, ""), us, ""), H,
                  qiao_cg_iadd(&cg->base, hr[j], f));
    }
    qiao_cg_loop_end(&cg->base, &ql);
  }
  /* Y[tok_j][d] += w_j * Σ_f H[q + j][f] down_e[f, d] */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "dd");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    LLVMValueRef d = vl.i;
    int si = vl.lanes == 1;
    LLVMTypeRef lt = qiao_cg_vec_type(&cg->base, cg->t_f32, vl.lanes);
    /* P[f] = down_e[f, d:d+lanes] */
    {
      qiao_cg_loop_t pl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, F), 1, "pd",
                         &pl);
      qiao_cg_stf(&cg->base, moe_wload(c, 4, c->dp, dbase, pl.iv, d, vl.lanes), P,
                  qiao_cg_imul(&cg->base, pl.iv, vl.lanes));
      qiao_cg_loop_end(&cg->base, &pl);
    }
    qiao_cg_loop_t ql;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), np, 4, "dquad", &ql);
    moe_quad_rows(c, LT, t0, ql.iv, tok, xr, hr);
    for (int j = 0; j < 4; ++j)
      qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), ga[si][j]);
    qiao_cg_loop_t fl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, F), 1, "df",
                       &fl);
    LLVMValueRef dv = qiao_cg_ldf(&cg->base, P, qiao_cg_imul(&cg->base, fl.iv, vl.lanes), vl.lanes);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef hv = qiao_cg_splat(
          &cg->base, qiao_cg_ldf(&cg->base, H, qiao_cg_iadd(&cg->base, hr[j], fl.iv), 1), vl.lanes);
      qiao_cg_fma_into(&cg->base, ga[si][j], hv, dv);
    }
    qiao_cg_loop_end(&cg->base, &fl);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef w = qiao_cg_splat(
          &cg->base,
          qiao_cg_ldf(&cg->base, LW, qiao_cg_iadd(&cg->base, ql.iv, qiao_cg_i64(&cg->base, j)), 1),
          vl.lanes);
      LLVMValueRef yi = qiao_cg_iadd(&cg->base, qiao_cg_imul(&cg->base, tok[j], D), d);
      qiao_cg_stf(&cg->base,
                  qiao_cg_fma(&cg->base, w, qiao_cg_ld(&cg->base, lt, ga[si][j]),
                              qiao_cg_ldf(&cg->base, Y, yi, vl.lanes)),
                  Y, yi);
    }
    qiao_cg_loop_end(&cg->base, &ql);
  }
  qiao_cg_endif(&cg->base, skip);
  qiao_cg_loop_end(&cg->base, &el);
  /* ---- out */
  {
    qiao_cg_loop_t tl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), tn, 1, "ot", &tl);
    epi->coords[0] = qiao_cg_iadd(&cg->base, t0, tl.iv);
    LLVMValueRef yrow = qiao_cg_imul(&cg->base, tl.iv, D);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "od");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef d = vl.i;
      epi->coords[1] = d;
      qiao_cg_epi_store(epi, outp,
                        qiao_cg_ldf(&cg->base, Y, qiao_cg_iadd(&cg->base, yrow, d), vl.lanes),
                        vl.lanes);
    }
    qiao_cg_loop_end(&cg->base, &tl);
  }
  qk_kernel_end(cg, &rl, fn, (uint64_t)(total * 4 + 64), out);
}

/* Per-function state of a phase: scratch pointers and the router's allocas
 * (scratch: sc[E] | sel_w[K] | sel_i[K] (i64) | taken[E] (i8) | extra). Returns
 * the f32 slot where `extra` starts. */
static int64_t moe_phase_setup(moe_ctx_t *c, LLVMValueRef fn, LLVMValueRef scr) {
  qiao_cpu_codegen_t *cg = c->cg;
  int64_t E = c->E, K = c->K;
  int64_t o_w = E, o_i = (o_w + K + 1) / 2 * 2, o_t = o_i + 2 * K,
          o_x = (o_t + (E + 3) / 4 + 15) / 16 * 16;
  qiao_cg_fptrs(&cg->base, scr, 4, (int64_t[]){0, o_w, o_i, o_t},
                (LLVMValueRef *const[]){&c->sc, &c->sel_w, &c->sel_i, &c->taken});
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, c->V);
  c->a0 = qiao_cg_alloca(&cg->base, fn, vt, "a0");
  c->a1 = qiao_cg_alloca(&cg->base, fn, vt, "a1");
  c->a0s = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "a0s");
  c->a1s = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "a1s");
  c->fs = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "fs");
  c->bi = qiao_cg_alloca(&cg->base, fn, cg->t_i64, "bi");
  c->bv = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "bv");
  return o_x;
}

/* Decode (1..4 tokens) on several workers, two phases through the workspace
 * Hw[T·K][F] (f32):
 *   phase 0, workgroup j owns f in [j·FC, (j+1)·FC): for each token and each
 *     of its experts, hg/hu over the slice row by row of gate/up (each row
 *     segment read once, contiguously; the accumulators stay in L1), then
 *     Hw[t·K + k][f] = w_k · silu(hg) · hu;
 *   phase 1, workgroup j owns d in [j·DC, (j+1)·DC): y = Σ_k Σ_f Hw[t·K+k][f]
 *     down_e[f, d] row by row of down, then the epilogue.
 * Both phases route every token themselves (the same code on the same data:
 * the same experts), so only Hw crosses the boundary and every byte of it
 * that phase 1 reads was written by phase 0. */
static qiao_status_t moe_decode_split(moe_ctx_t *c, const char *name, int64_t FC, int64_t DC,
                                      qiao_cpu_kernel_t *out) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *X = &kd->inputs[0];
  int64_t T = c->T, D = c->D, F = c->F, K = c->K;
  int64_t sxt = X->strides[0], sxd = X->strides[1];
  int64_t nf = (F + FC - 1) / FC, nd = (D + DC - 1) / DC;
  char pname[sizeof(((qiao_cpu_phase_t *)0)->name)];
  int pn = snprintf(pname, sizeof pname, "%s_p1", name);
  if (pn < 0 || (size_t)pn >= sizeof pname ||
      (size_t)pn >= sizeof(((qiao_kernel_phase_t *)0)->name))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: name too long", name);
  int32_t ws_index = kd->n_inputs + kd->n_outputs;

  /* ---------------- phase 0: h slices */
  {
    LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
    qiao_cg_epi_t epi;
    qk_epi_init(&epi, cg, kd, fn);
    c->xp = epi.in[0];
    c->rp = epi.in[1];
    c->gp = epi.in[2];
    c->up = epi.in[3];
    c->dp = epi.in[4];
    LLVMValueRef ws = qiao_cpu_binding(cg, fn, ws_index);
    LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
    int64_t o_x = moe_phase_setup(c, fn, scr);
    LLVMValueRef hg = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_x));
    LLVMValueRef hu = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_x + FC));
    const qiao_kd_operand_t *G = &kd->inputs[2], *U = &kd->inputs[3];
    qk_rows_t rl;
    qk_rows_begin(cg, fn, nf, nf, &rl, "fc");
    LLVMValueRef f0 = qiao_cg_imul(&cg->base, rl.loop.iv, FC);
    LLVMValueRef f1 =
        qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, f0, qiao_cg_i64(&cg->base, FC)),
                     qiao_cg_i64(&cg->base, F));
    qiao_cg_loop_t tl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, T), 1, "t",
                       &tl);
    LLVMValueRef xrow = qiao_cg_imul(&cg->base, tl.iv, sxt);
    moe_route(c, xrow, qiao_cg_i64(&cg->base, 0));
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "k",
                       &kl);
    LLVMValueRef k = kl.iv;
    LLVMValueRef e =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &k, 1, ""), "");
    LLVMValueRef w = qiao_cg_ldf(&cg->base, c->sel_w, k, 1);
    LLVMValueRef gbase = qiao_cg_imul(&cg->base, e, G->strides[0]),
                 ubase = qiao_cg_imul(&cg->base, e, U->strides[0]);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(f0, f1, c->V, "hz");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef j = LLVMBuildSub(cg->b, vl.i, f0, "");
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), hg, j);
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), hu, j);
    }
    {
      qiao_cg_loop_t dl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, D), 1, "hd",
                         &dl);
      LLVMValueRef xs = qiao_cg_load_f32(&cg->base, c->xp, X->type.dtype,
                                         qiao_cg_imadd(&cg->base, xrow, dl.iv, sxd), 1);
      for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(f0, f1, c->V, "hf");
           qiao_cg_vloop_next(&cg->base, &vl);) {
        LLVMValueRef f = vl.i, j = LLVMBuildSub(cg->b, f, f0, "");
        LLVMValueRef xv = qiao_cg_splat(&cg->base, xs, vl.lanes);
        LLVMValueRef gv = moe_wload(c, 2, c->gp, gbase, dl.iv, f, vl.lanes);
        LLVMValueRef uv = moe_wload(c, 3, c->up, ubase, dl.iv, f, vl.lanes);
        qiao_cg_stf(&cg->base,
                    qiao_cg_fma(&cg->base, xv, gv, qiao_cg_ldf(&cg->base, hg, j, vl.lanes)), hg, j);
        qiao_cg_stf(&cg->base,
                    qiao_cg_fma(&cg->base, xv, uv, qiao_cg_ldf(&cg->base, hu, j, vl.lanes)), hu, j);
      }
      qiao_cg_loop_end(&cg->base, &dl);
    }
    LLVMValueRef hrow = qiao_cg_imul(&cg->base, qiao_cg_imadd(&cg->base, k, tl.iv, K), F);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(f0, f1, c->V, "hs");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef f = vl.i, j = LLVMBuildSub(cg->b, f, f0, "");
      LLVMValueRef gs = qiao_cg_ldf(&cg->base, hg, j, vl.lanes),
                   us = qiao_cg_ldf(&cg->base, hu, j, vl.lanes);
      LLVMValueRef sg = qiao_cg_emit_sigmoid(&cg->base, gs);
      LLVMValueRef h = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, gs, sg, ""), us, "");
      qiao_cg_stf(&cg->base, LLVMBuildFMul(cg->b, qiao_cg_splat(&cg->base, w, vl.lanes), h, ""), ws,
                  qiao_cg_iadd(&cg->base, hrow, f));
    }
    qiao_cg_loop_end(&cg->base, &kl);
    qiao_cg_loop_end(&cg->base, &tl);
    qiao_cpu_kernel_t k0;
    qk_kernel_end(cg, &rl, fn, (uint64_t)((o_x + 2 * FC) * 4 + 64), &k0);
    out->fn = k0.fn;
    out->grid[0] = k0.grid[0];
    out->grid[1] = out->grid[2] = 1;
    out->scratch_bytes = k0.scratch_bytes;
  }

  /* ---------------- phase 1: y slices, the epilogue */
  {
    LLVMValueRef fn = qiao_cpu_entry_begin(cg, pname);
    qiao_cg_epi_t epi;
    qk_epi_init(&epi, cg, kd, fn);
    c->xp = epi.in[0];
    c->rp = epi.in[1];
    c->gp = epi.in[2];
    c->up = epi.in[3];
    c->dp = epi.in[4];
    LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
    LLVMValueRef ws = qiao_cpu_binding(cg, fn, ws_index);
    LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
    int64_t o_x = moe_phase_setup(c, fn, scr);
    LLVMValueRef y = qiao_cg_fptr(&cg->base, scr, qiao_cg_i64(&cg->base, o_x));
    const qiao_kd_operand_t *Dn = &kd->inputs[4];
    qk_rows_t rl;
    qk_rows_begin(cg, fn, nd, nd, &rl, "dc");
    LLVMValueRef d0 = qiao_cg_imul(&cg->base, rl.loop.iv, DC);
    LLVMValueRef d1 =
        qiao_cg_imin(&cg->base, qiao_cg_iadd(&cg->base, d0, qiao_cg_i64(&cg->base, DC)),
                     qiao_cg_i64(&cg->base, D));
    qiao_cg_loop_t tl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, T), 1, "t",
                       &tl);
    moe_route(c, qiao_cg_imul(&cg->base, tl.iv, sxt), qiao_cg_i64(&cg->base, 0));
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(d0, d1, c->V, "yz");
         qiao_cg_vloop_next(&cg->base, &vl);)
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), y,
                  LLVMBuildSub(cg->b, vl.i, d0, ""));
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "k",
                       &kl);
    LLVMValueRef k = kl.iv;
    LLVMValueRef e =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &k, 1, ""), "");
    LLVMValueRef dbase = qiao_cg_imul(&cg->base, e, Dn->strides[0]);
    LLVMValueRef hrow = qiao_cg_imul(&cg->base, qiao_cg_imadd(&cg->base, k, tl.iv, K), F);
    qiao_cg_loop_t fl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, F), 1, "yf",
                       &fl);
    LLVMValueRef hs = qiao_cg_ldf(&cg->base, ws, qiao_cg_iadd(&cg->base, hrow, fl.iv), 1);
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(d0, d1, c->V, "yd");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef d = vl.i, j = LLVMBuildSub(cg->b, d, d0, "");
      LLVMValueRef dv = moe_wload(c, 4, c->dp, dbase, fl.iv, d, vl.lanes);
      qiao_cg_stf(&cg->base,
                  qiao_cg_fma(&cg->base, qiao_cg_splat(&cg->base, hs, vl.lanes), dv,
                              qiao_cg_ldf(&cg->base, y, j, vl.lanes)),
                  y, j);
    }
    qiao_cg_loop_end(&cg->base, &fl);
    qiao_cg_loop_end(&cg->base, &kl);
    epi.coords[0] = tl.iv;
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start_dyn(d0, d1, c->V, "od");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      epi.coords[1] = vl.i;
      qiao_cg_epi_store(&epi, outp,
                        qiao_cg_ldf(&cg->base, y, LLVMBuildSub(cg->b, vl.i, d0, ""), vl.lanes),
                        vl.lanes);
    }
    qiao_cg_loop_end(&cg->base, &tl);
    qiao_cpu_kernel_t k1;
    qk_kernel_end(cg, &rl, fn, (uint64_t)((o_x + DC) * 4 + 64), &k1);
    qiao_cpu_phase_t *ph = &out->more[0];
    memcpy(ph->name, pname, sizeof ph->name);
    ph->fn = k1.fn;
    ph->grid[0] = k1.grid[0];
    ph->grid[1] = ph->grid[2] = 1;
    ph->scratch_bytes = k1.scratch_bytes;
  }
  out->n_more = 1;
  out->workspace_bytes = (uint64_t)(T * K * F * 4);
  return NULL;
}

const char *cpu_moe_variant_name(cpu_moe_variant_t v) {
  switch (v) {
  case CPU_MOE_PER_TOKEN: return "per_token";
  case CPU_MOE_DECODE_SPLIT: return "decode_split";
  case CPU_MOE_GROUPED: return "grouped";
  }
  return "?";
}

/* A slice of n elements for `parts` workgroups: a multiple of vec. */
static int64_t moe_slice(int64_t n, int64_t parts, int64_t vec) {
  int64_t per = (n + parts - 1) / parts;
  per = (per + vec - 1) / vec * vec;
  return per < vec ? vec : per;
}

cpu_moe_plan_t cpu_moe_plan(const qiao_kernel_desc_t *kd, int64_t threads, unsigned vec) {
  const qiao_kd_operand_t *X = &kd->inputs[0], *G = &kd->inputs[2];
  int64_t T = X->type.shape.dims[0], D = X->type.shape.dims[1];
  int64_t E = kd->inputs[1].type.shape.dims[1], F = G->type.shape.dims[2], K = kd->attrs.top_k;
  int64_t V = vec ? vec : 8;
  if (threads < 1) threads = 1;
  cpu_moe_plan_t p;
  memset(&p, 0, sizeof p);
  if (T * K >= 2 * E && T >= 8) {
    /* token chunks: at most one per thread, 8..128 tokens (a chunk shares each packed strip) */
    int64_t TB = (T + threads - 1) / threads;
    p.variant = CPU_MOE_GROUPED;
    p.unit_tokens = TB < 8 ? 8 : TB > 128 ? 128 : TB;
    return p;
  }
  /* 1..4 tokens on several threads: both dimensions split over 2 slices per thread, when
   * each slice keeps at least two vectors (the per-token path would leave threads idle or
   * unbalanced: T = 1 runs on one thread) */
  int64_t parts = 2 * threads;
  if (threads > 1 && T <= 4 && F >= 4 * V && D >= 4 * V) {
    p.variant = CPU_MOE_DECODE_SPLIT;
    p.f_chunk = moe_slice(F, parts, V);
    p.d_chunk = moe_slice(D, parts, V);
    if (p.f_chunk < 2 * V) p.f_chunk = 2 * V;
    if (p.d_chunk < 2 * V) p.d_chunk = 2 * V;
    return p;
  }
  p.variant = CPU_MOE_PER_TOKEN;
  p.token_chunks = 0; /* qk_plan_chunks over the tokens */
  return p;
}

cpu_moe_plan_t cpu_moe_plan_variant(const qiao_kernel_desc_t *kd, int64_t threads, unsigned vec,
                                    cpu_moe_variant_t v) {
  int64_t T = kd->inputs[0].type.shape.dims[0], D = kd->inputs[0].type.shape.dims[1];
  int64_t F = kd->inputs[2].type.shape.dims[2], V = vec ? vec : 8;
  if (threads < 1) threads = 1;
  cpu_moe_plan_t p;
  memset(&p, 0, sizeof p);
  p.variant = v;
  if (v == CPU_MOE_GROUPED) {
    int64_t TB = (T + threads - 1) / threads;
    p.unit_tokens = TB < 8 ? 8 : TB > 128 ? 128 : TB;
  } else if (v == CPU_MOE_DECODE_SPLIT) {
    p.f_chunk = moe_slice(F, 2 * threads, V);
    p.d_chunk = moe_slice(D, 2 * threads, V);
    if (p.f_chunk < 2 * V) p.f_chunk = 2 * V;
    if (p.d_chunk < 2 * V) p.d_chunk = 2 * V;
  }
  return p;
}

static qiao_status_t moe_check(const qiao_kernel_desc_t *kd, const char *name) {
  if (kd->n_primary_inputs < 5)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: needs x, router, gate, up, down",
                            name);
  const qiao_kd_operand_t *X = &kd->inputs[0], *Rt = &kd->inputs[1], *G = &kd->inputs[2],
                          *U = &kd->inputs[3], *Dn = &kd->inputs[4];
  if (X->type.shape.rank != 2 || Rt->type.shape.rank != 2 || G->type.shape.rank != 3 ||
      U->type.shape.rank != 3 || Dn->type.shape.rank != 3)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: bad operand ranks", name);
  if (kd->attrs.top_k < 1 || kd->attrs.top_k > Rt->type.shape.dims[1])
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: top_k out of range", name);
  return NULL;
}

qiao_status_t qiao_cpu_lower_moe(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                 const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  QIAO_RETURN_IF_ERROR(moe_check(kd, name));
  int64_t th = cg->n_threads > 1 ? cg->n_threads : 1;
  unsigned vec = cg->vec_f32 ? cg->vec_f32 : 8;
  cpu_moe_plan_t plan =
      cg->moe_variant > 0
          ? cpu_moe_plan_variant(kd, th, vec, (cpu_moe_variant_t)(cg->moe_variant - 1))
          : cpu_moe_plan(kd, th, vec);
  return qiao_cpu_lower_moe_plan(cg, kd, name, &plan, out);
}

qiao_status_t qiao_cpu_lower_moe_plan(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                      const char *name, const cpu_moe_plan_t *plan,
                                      qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  QIAO_RETURN_IF_ERROR(moe_check(kd, name));
  const qiao_kd_operand_t *X = &kd->inputs[0], *Rt = &kd->inputs[1], *G = &kd->inputs[2],
                          *U = &kd->inputs[3], *Dn = &kd->inputs[4], *O = &kd->outputs[0];
  moe_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  c.T = X->type.shape.dims[0];
  c.D = X->type.shape.dims[1];
  c.E = Rt->type.shape.dims[1];
  c.F = G->type.shape.dims[2];
  c.K = kd->attrs.top_k;
  c.V = cg->vec_f32 ? cg->vec_f32 : 8;
  unsigned V = c.V;
  int64_t T = c.T, D = c.D, E = c.E, F = c.F, K = c.K;
  if (plan->variant == CPU_MOE_DECODE_SPLIT) {
    int64_t FC = plan->f_chunk > 0 ? (plan->f_chunk + V - 1) / V * V : F;
    int64_t DC = plan->d_chunk > 0 ? (plan->d_chunk + V - 1) / V * V : D;
    return moe_decode_split(&c, name, FC, DC, out);
  }

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  c.xp = epi.in[0];
  c.rp = epi.in[1];
  c.gp = epi.in[2];
  c.up = epi.in[3];
  c.dp = epi.in[4];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
  /* scratch layout in f32 slots:
   * sc[E] | h[F] | y[D] | sel_w[K] | sel_i[K] (i64) | taken[E] (i8) | hg[F] (grouped: unused) */
  int64_t o_sc = 0, o_h = E, o_y = o_h + F, o_w = o_y + D, o_i = (o_w + K + 1) / 2 * 2,
          o_t = o_i + 2 * K, o_g = o_t + (E + 3) / 4, total = o_g + F;
  LLVMValueRef hg = NULL;
  qiao_cg_fptrs(
      &cg->base, scr, 7, (int64_t[]){o_sc, o_h, o_y, o_w, o_i, o_t, o_g},
      (LLVMValueRef *const[]){&c.sc, &c.hbuf, &c.ybuf, &c.sel_w, &c.sel_i, &c.taken, &hg});
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);
  c.a0 = qiao_cg_alloca(&cg->base, fn, vt, "a0");
  c.a1 = qiao_cg_alloca(&cg->base, fn, vt, "a1");
  c.a0s = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "a0s");
  c.a1s = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "a1s");
  c.fs = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "fs");
  c.bi = qiao_cg_alloca(&cg->base, fn, cg->t_i64, "bi");
  c.bv = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "bv");
  if (plan->variant == CPU_MOE_GROUPED) {
    int64_t TB = plan->unit_tokens > 0 ? plan->unit_tokens : 8;
    moe_grouped(&c, fn, &epi, outp, scr, TB, out);
    return NULL;
  }

  qk_rows_t rl;
  qk_rows_begin(cg, fn, T,
                plan->token_chunks > 0 ? plan->token_chunks
                                       : qk_plan_chunks(cg, T, K * D * F * 3 + D * E),
                &rl, "tok");
  LLVMValueRef t = rl.loop.iv;
  LLVMValueRef xrow = qiao_cg_imul(&cg->base, t, X->strides[0]);
  int64_t sxd = X->strides[1];

  moe_route(&c, xrow, qiao_cg_i64(&cg->base, 0));
  LLVMValueRef wscale = qiao_cg_f32c(&cg->base, 1.0);

  /* ---- y = 0 */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "yz");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    LLVMValueRef d = vl.i;
    qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), c.ybuf, d);
  }

  /* ---- experts */
  {
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "ex",
                       &kl);
    LLVMValueRef k = kl.iv;
    LLVMValueRef e =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c.sel_i, &k, 1, ""), "");
    LLVMValueRef w = LLVMBuildFMul(cg->b, qiao_cg_ldf(&cg->base, c.sel_w, k, 1), wscale, "");
    LLVMValueRef gbase = qiao_cg_imul(&cg->base, e, G->strides[0]),
                 ubase = qiao_cg_imul(&cg->base, e, U->strides[0]);
    LLVMValueRef dbase = qiao_cg_imul(&cg->base, e, Dn->strides[0]);
    /* hg[f] = Σ_d x[d] gate[d, f], h[f] = Σ_d x[d] up[d, f], row by row: each weight row is
     * read once, contiguously (one token: the weights stream from memory exactly once, at the
     * prefetcher's pace), the two F-long accumulators stay in L1 */
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, F, V, 0, "hz");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), hg, vl.i);
      qiao_cg_stf(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, vl.lanes), c.hbuf, vl.i);
    }
    {
      qiao_cg_loop_t dl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, D), 1, "hd",
                         &dl);
      LLVMValueRef xs = qiao_cg_load_f32(&cg->base, c.xp, X->type.dtype,
                                         qiao_cg_imadd(&cg->base, xrow, dl.iv, sxd), 1);
      for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, F, V, 0, "hf");
           qiao_cg_vloop_next(&cg->base, &vl);) {
        LLVMValueRef f = vl.i, xv = qiao_cg_splat(&cg->base, xs, vl.lanes);
        LLVMValueRef gv = moe_wload(&c, 2, c.gp, gbase, dl.iv, f, vl.lanes);
        LLVMValueRef uv = moe_wload(&c, 3, c.up, ubase, dl.iv, f, vl.lanes);
        qiao_cg_stf(&cg->base,
                    qiao_cg_fma(&cg->base, xv, gv, qiao_cg_ldf(&cg->base, hg, f, vl.lanes)), hg, f);
        qiao_cg_stf(&cg->base,
                    qiao_cg_fma(&cg->base, xv, uv, qiao_cg_ldf(&cg->base, c.hbuf, f, vl.lanes)),
                    c.hbuf, f);
      }
      qiao_cg_loop_end(&cg->base, &dl);
    }
    /* h[f] = w · silu(hg[f]) · h[f]  (the routing weight folded in here) */
    for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, F, V, 0, "hs");
         qiao_cg_vloop_next(&cg->base, &vl);) {
      LLVMValueRef f = vl.i;
      LLVMValueRef gs = qiao_cg_ldf(&cg->base, hg, f, vl.lanes),
                   us = qiao_cg_ldf(&cg->base, c.hbuf, f, vl.lanes);
      LLVMValueRef sg = qiao_cg_emit_sigmoid(&cg->base, gs);
      LLVMValueRef h = LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, gs, sg, ""), us, "");
      qiao_cg_stf(&cg->base, LLVMBuildFMul(cg->b, qiao_cg_splat(&cg->base, w, vl.lanes), h, ""),
                  c.hbuf, f);
    }
    /* y[d] += Σ_f h[f] down[e, f, d], row by row of down */
    {
      qiao_cg_loop_t fl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, F), 1, "yf",
                         &fl);
      LLVMValueRef hs = qiao_cg_ldf(&cg->base, c.hbuf, fl.iv, 1);
      for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "yd");
           qiao_cg_vloop_next(&cg->base, &vl);) {
        LLVMValueRef d = vl.i;
        LLVMValueRef dv = moe_wload(&c, 4, c.dp, dbase, fl.iv, d, vl.lanes);
        qiao_cg_stf(&cg->base,
                    qiao_cg_fma(&cg->base, qiao_cg_splat(&cg->base, hs, vl.lanes), dv,
                                qiao_cg_ldf(&cg->base, c.ybuf, d, vl.lanes)),
                    c.ybuf, d);
      }
      qiao_cg_loop_end(&cg->base, &fl);
    }
    qiao_cg_loop_end(&cg->base, &kl);
  }

  /* ---- out */
  epi.coords[0] = t;
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, D, V, 0, "od");
       qiao_cg_vloop_next(&cg->base, &vl);) {
    LLVMValueRef d = vl.i;
    epi.coords[1] = d;
    qiao_cg_epi_store(&epi, outp, qiao_cg_ldf(&cg->base, c.ybuf, d, vl.lanes), vl.lanes);
  }
  (void)O;
  qk_kernel_end(cg, &rl, fn, (uint64_t)(total * 4 + 64), out);
  return NULL;
}
