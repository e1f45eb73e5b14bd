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
 * process the tokens that chose it four at a time. */
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

/* for (j = 0; j < n; j += V) + scalar tail; body(j, lanes). */
#define MOE_VLOOP(cg, n, V, name, jv, lanes, ...)                                                  \
  do {                                                                                             \
    int64_t nvec_ = (n) / (V) * (V);                                                               \
    for (int pass_ = 0; pass_ < 2; ++pass_) {                                                      \
      unsigned lanes = pass_ == 0 ? (V) : 1;                                                       \
      int64_t lo_ = pass_ == 0 ? 0 : nvec_, hi_ = pass_ == 0 ? nvec_ : (n);                        \
      if (lo_ >= hi_) continue;                                                                    \
      qiao_cpu_loop_t l_;                                                                          \
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, lo_), qiao_cpu_i64(cg, hi_), lanes, name, &l_);     \
      LLVMValueRef jv = l_.iv;                                                                     \
      __VA_ARGS__;                                                                                 \
      qiao_cpu_loop_end(cg, &l_);                                                                  \
    }                                                                                              \
  } while (0)

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
  MOE_VLOOP(cg, E, V, "le", e, lanes, {
    LLVMValueRef ap = lanes == 1 ? c->a0s : c->a0;
    qk_st(cg, qk_fconst(cg, 0.0, lanes), ap);
    qiao_cpu_loop_t dl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, D), 1, "ld", &dl);
    LLVMValueRef xv = qiao_cpu_load_f32(cg, c->xp, X->type.dtype, qk_madd(cg, xrow, dl.iv, sxd), 1);
    LLVMValueRef rv = qk_load(cg, c->rp, Rt->type.dtype,
                              qk_madd(cg, qk_mul(cg, dl.iv, Rt->strides[0]), e, Rt->strides[1]),
                              Rt->strides[1], lanes);
    qk_st(cg, qk_fma(cg, qiao_cpu_splat(cg, xv, lanes), rv, qk_ld(cg, LLVMTypeOf(rv), ap)), ap);
    qiao_cpu_loop_end(cg, &dl);
    qk_stf(cg, qk_ld(cg, qiao_cpu_vec_type(cg, cg->t_f32, lanes), ap), c->sc, e);
  });

  /* ---- scores */
  if (sigmoid) {
    qiao_cpu_loop_t el;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "sg", &el);
    LLVMValueRef l = qk_ldf(cg, c->sc, el.iv, 1);
    LLVMValueRef s = qiao_cpu_emit_sigmoid(cg, l);
    qk_stf(cg, s, c->sc, el.iv);
    qiao_cpu_loop_end(cg, &el);
  } else {
    qk_st(cg, LLVMConstReal(cg->t_f32, -INFINITY), c->fs);
    qiao_cpu_loop_t el;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "mx", &el);
    LLVMValueRef l = qk_ldf(cg, c->sc, el.iv, 1), m = qk_ld(cg, cg->t_f32, c->fs);
    qk_st(cg, qiao_cpu_emit_max_acc(cg, m, l), c->fs);
    qiao_cpu_loop_end(cg, &el);
    LLVMValueRef mx = qk_ld(cg, cg->t_f32, c->fs);
    qk_st(cg, qiao_cpu_f32c(cg, 0.0), c->a1s);
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "ex", &el);
    LLVMValueRef ev = qk_exp(cg, LLVMBuildFSub(cg->b, qk_ldf(cg, c->sc, el.iv, 1), mx, ""));
    qk_stf(cg, ev, c->sc, el.iv);
    qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f32, c->a1s), ev, ""), c->a1s);
    qiao_cpu_loop_end(cg, &el);
    LLVMValueRef inv =
        LLVMBuildFDiv(cg->b, qiao_cpu_f32c(cg, 1.0), qk_ld(cg, cg->t_f32, c->a1s), "");
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "nm", &el);
    qk_stf(cg, LLVMBuildFMul(cg->b, qk_ldf(cg, c->sc, el.iv, 1), inv, ""), c->sc, el.iv);
    qiao_cpu_loop_end(cg, &el);
  }

  /* ---- top-k selection (ties: lower index), weight sum */
  LLVMBuildMemSet(cg->b, c->taken, LLVMConstInt(cg->t_i8, 0, 0), qiao_cpu_i64(cg, E), 1);
  qk_st(cg, qiao_cpu_f32c(cg, 0.0), c->a1s);
  {
    qiao_cpu_loop_t kl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, K), 1, "pick", &kl);
    qk_st(cg, qiao_cpu_i64(cg, -1), bi);
    qk_st(cg, qiao_cpu_f32c(cg, 0.0), bv);
    qiao_cpu_loop_t el;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "scan", &el);
    LLVMValueRef e = el.iv;
    LLVMValueRef tk =
        LLVMBuildLoad2(cg->b, cg->t_i8, LLVMBuildGEP2(cg->b, cg->t_i8, c->taken, &e, 1, ""), "");
    LLVMValueRef fr = LLVMBuildICmp(cg->b, LLVMIntEQ, tk, LLVMConstInt(cg->t_i8, 0, 0), "");
    LLVMValueRef v = qk_ldf(cg, c->sc, e, 1);
    LLVMValueRef cb = qk_ld(cg, cg->t_i64, bi), cv = qk_ld(cg, cg->t_f32, bv);
    LLVMValueRef vnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
    LLVMValueRef bnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, cv, cv, "");
    LLVMValueRef better =
        LLVMBuildOr(cg->b, LLVMBuildAnd(cg->b, vnan, LLVMBuildNot(cg->b, bnan, ""), ""),
                    LLVMBuildFCmp(cg->b, LLVMRealOGT, v, cv, ""), "");
    better = LLVMBuildOr(cg->b, better,
                         LLVMBuildICmp(cg->b, LLVMIntSLT, cb, qiao_cpu_i64(cg, 0), ""), "");
    LLVMValueRef take = LLVMBuildAnd(cg->b, fr, better, "");
    qk_st(cg, LLVMBuildSelect(cg->b, take, e, cb, ""), bi);
    qk_st(cg, LLVMBuildSelect(cg->b, take, v, cv, ""), bv);
    qiao_cpu_loop_end(cg, &el);
    LLVMValueRef b = qk_ld(cg, cg->t_i64, bi);
    LLVMBuildStore(cg->b, LLVMConstInt(cg->t_i8, 1, 0),
                   LLVMBuildGEP2(cg->b, cg->t_i8, c->taken, &b, 1, ""));
    LLVMValueRef k = qk_add(cg, kl.iv, sel_base), ks = k;
    LLVMBuildStore(cg->b, b, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &ks, 1, ""));
    LLVMValueRef w = qk_ld(cg, cg->t_f32, bv);
    qk_stf(cg, w, c->sel_w, k);
    qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f32, c->a1s), w, ""), c->a1s);
    qiao_cpu_loop_end(cg, &kl);
  }
  if (kd->attrs.norm_topk) {
    LLVMValueRef inv =
        LLVMBuildFDiv(cg->b, qiao_cpu_f32c(cg, 1.0), qk_ld(cg, cg->t_f32, c->a1s), "");
    qiao_cpu_loop_t kl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, K), 1, "wn", &kl);
    LLVMValueRef k = qk_add(cg, kl.iv, sel_base);
    qk_stf(cg, LLVMBuildFMul(cg->b, qk_ldf(cg, c->sel_w, k, 1), inv, ""), c->sel_w, k);
    qiao_cpu_loop_end(cg, &kl);
  }
}

/* Per-expert token grouping (many tokens): a unit is a chunk of TB tokens.
 * All its tokens are routed first; then for each expert the tokens that chose
 * it are listed and processed four at a time, so each gate/up/down vector
 * load feeds four tokens (weights are streamed once per expert and chunk
 * instead of once per token). */
static void moe_grouped(moe_ctx_t *c, LLVMValueRef fn, qk_epi_t *epi, LLVMValueRef outp,
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
          o_h = o_lw + TB + 4, total = o_h + (TB + 4) * F;
  c->sc = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_sc));
  c->taken = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_tk));
  c->sel_w = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_w));
  c->sel_i = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_i));
  LLVMValueRef Y = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_y));
  LLVMValueRef LT = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_lt));
  LLVMValueRef LW = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_lw));
  LLVMValueRef H = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_h));
  LLVMValueRef ga[2][4], ua[2][4], cnt = qk_alloca(cg, fn, cg->t_i64, "cnt");
  for (int j = 0; j < 4; ++j) {
    ga[0][j] = qk_alloca(cg, fn, vt, "g");
    ua[0][j] = qk_alloca(cg, fn, vt, "u");
    ga[1][j] = qk_alloca(cg, fn, cg->t_f32, "g1");
    ua[1][j] = qk_alloca(cg, fn, cg->t_f32, "u1");
  }
  int64_t sxt = X->strides[0], sxd = X->strides[1];
  int64_t units = (T + TB - 1) / TB;
  qk_rows_t rl;
  qk_rows_begin(cg, fn, units, units, &rl, "unit");
  LLVMValueRef t0 = qk_mul(cg, rl.loop.iv, TB);
  LLVMValueRef tn =
      qk_imin(cg, qiao_cpu_i64(cg, TB), LLVMBuildSub(cg->b, qiao_cpu_i64(cg, T), t0, ""));
  /* ---- route every token of the chunk, clear Y */
  {
    qiao_cpu_loop_t tl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), tn, 1, "rt", &tl);
    moe_route(c, qk_mul(cg, qk_add(cg, t0, tl.iv), sxt), qk_mul(cg, tl.iv, K));
    LLVMValueRef yrow = qk_mul(cg, tl.iv, D);
    MOE_VLOOP(cg, D, V, "yz", d, lanes,
              { qk_stf(cg, qk_fconst(cg, 0.0, lanes), Y, qk_add(cg, yrow, d)); });
    qiao_cpu_loop_end(cg, &tl);
  }
  /* ---- experts */
  qiao_cpu_loop_t el;
  qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, E), 1, "exp", &el);
  LLVMValueRef e = el.iv;
  qk_st(cg, qiao_cpu_i64(cg, 0), cnt);
  {
    qiao_cpu_loop_t sl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qk_mul(cg, tn, K), 1, "ls", &sl);
    LLVMValueRef si = sl.iv;
    LLVMValueRef id =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c->sel_i, &si, 1, ""), "");
    LLVMValueRef n = qk_ld(cg, cg->t_i64, cnt);
    LLVMValueRef tt = K == 1 ? si : LLVMBuildUDiv(cg->b, si, qiao_cpu_i64(cg, K), "");
    LLVMBuildStore(cg->b, tt, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &n, 1, ""));
    qk_stf(cg, qk_ldf(cg, c->sel_w, si, 1), LW, n);
    LLVMValueRef hit =
        LLVMBuildZExt(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, id, e, ""), cg->t_i64, "");
    qk_st(cg, qk_add(cg, n, hit), cnt);
    qiao_cpu_loop_end(cg, &sl);
  }
  LLVMValueRef n = qk_ld(cg, cg->t_i64, cnt);
  LLVMBasicBlockRef skip =
      qk_if(cg, LLVMBuildICmp(cg->b, LLVMIntSGT, n, qiao_cpu_i64(cg, 0), ""), "used");
  LLVMValueRef np =
      LLVMBuildAnd(cg->b, qk_add(cg, n, qiao_cpu_i64(cg, 3)), qiao_cpu_i64(cg, ~(int64_t)3), "");
  {
    /* pad to a multiple of 4 with copies of the last token at weight 0 */
    LLVMValueRef last = LLVMBuildSub(cg->b, n, qiao_cpu_i64(cg, 1), "");
    LLVMValueRef lt =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &last, 1, ""), "");
    qiao_cpu_loop_t pl;
    qiao_cpu_loop_begin(cg, n, np, 1, "pad", &pl);
    LLVMValueRef pi = pl.iv;
    LLVMBuildStore(cg->b, lt, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &pi, 1, ""));
    qk_stf(cg, qiao_cpu_f32c(cg, 0.0), LW, pl.iv);
    qiao_cpu_loop_end(cg, &pl);
  }
  LLVMValueRef gbase = qk_mul(cg, e, G->strides[0]), ubase = qk_mul(cg, e, U->strides[0]);
  LLVMValueRef dbase = qk_mul(cg, e, Dn->strides[0]);
  qiao_cpu_loop_t ql;
  qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), np, 4, "quad", &ql);
  LLVMValueRef tok[4], xr[4], hr[4];
  for (int j = 0; j < 4; ++j) {
    LLVMValueRef qj = qk_add(cg, ql.iv, qiao_cpu_i64(cg, j));
    tok[j] = LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, LT, &qj, 1, ""), "");
    xr[j] = qk_mul(cg, qk_add(cg, t0, tok[j]), sxt);
    hr[j] = qk_mul(cg, qj, F);
  }
  /* H[q + j][f] = silu(x_j · gate_e[:, f]) * (x_j · up_e[:, f]) */
  MOE_VLOOP(cg, F, V, "gf", f, lanes, {
    int si = lanes == 1;
    LLVMTypeRef lt = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
    for (int j = 0; j < 4; ++j) {
      qk_st(cg, qk_fconst(cg, 0.0, lanes), ga[si][j]);
      qk_st(cg, qk_fconst(cg, 0.0, lanes), ua[si][j]);
    }
    qiao_cpu_loop_t dl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, D), 1, "gd", &dl);
    LLVMValueRef gv =
        qk_load(cg, c->gp, G->type.dtype,
                qk_madd(cg, qk_madd(cg, gbase, dl.iv, G->strides[1]), f, G->strides[2]),
                G->strides[2], lanes);
    LLVMValueRef uv =
        qk_load(cg, c->up, U->type.dtype,
                qk_madd(cg, qk_madd(cg, ubase, dl.iv, U->strides[1]), f, U->strides[2]),
                U->strides[2], lanes);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef xv = qiao_cpu_splat(
          cg, qiao_cpu_load_f32(cg, c->xp, X->type.dtype, qk_madd(cg, xr[j], dl.iv, sxd), 1),
          lanes);
      qk_st(cg, qk_fma(cg, xv, gv, qk_ld(cg, lt, ga[si][j])), ga[si][j]);
      qk_st(cg, qk_fma(cg, xv, uv, qk_ld(cg, lt, ua[si][j])), ua[si][j]);
    }
    qiao_cpu_loop_end(cg, &dl);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef gs = qk_ld(cg, lt, ga[si][j]), us = qk_ld(cg, lt, ua[si][j]);
      LLVMValueRef sg = qiao_cpu_emit_sigmoid(cg, gs);
      qk_stf(cg, LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, gs, sg, ""), us, ""), H,
             qk_add(cg, hr[j], f));
    }
  });
  /* Y[tok_j][d] += w_j * Σ_f H[q + j][f] down_e[f, d] */
  MOE_VLOOP(cg, D, V, "dd", d, lanes, {
    int si = lanes == 1;
    LLVMTypeRef lt = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
    for (int j = 0; j < 4; ++j)
      qk_st(cg, qk_fconst(cg, 0.0, lanes), ga[si][j]);
    qiao_cpu_loop_t fl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, F), 1, "df", &fl);
    LLVMValueRef dv =
        qk_load(cg, c->dp, Dn->type.dtype,
                qk_madd(cg, qk_madd(cg, dbase, fl.iv, Dn->strides[1]), d, Dn->strides[2]),
                Dn->strides[2], lanes);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef hv = qiao_cpu_splat(cg, qk_ldf(cg, H, qk_add(cg, hr[j], fl.iv), 1), lanes);
      qk_st(cg, qk_fma(cg, hv, dv, qk_ld(cg, lt, ga[si][j])), ga[si][j]);
    }
    qiao_cpu_loop_end(cg, &fl);
    for (int j = 0; j < 4; ++j) {
      LLVMValueRef w =
          qiao_cpu_splat(cg, qk_ldf(cg, LW, qk_add(cg, ql.iv, qiao_cpu_i64(cg, j)), 1), lanes);
      LLVMValueRef yi = qk_add(cg, qk_mul(cg, tok[j], D), d);
      qk_stf(cg, qk_fma(cg, w, qk_ld(cg, lt, ga[si][j]), qk_ldf(cg, Y, yi, lanes)), Y, yi);
    }
  });
  qiao_cpu_loop_end(cg, &ql);
  qk_endif(cg, skip);
  qiao_cpu_loop_end(cg, &el);
  /* ---- out */
  {
    qiao_cpu_loop_t tl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), tn, 1, "ot", &tl);
    epi->coords[0] = qk_add(cg, t0, tl.iv);
    LLVMValueRef yrow = qk_mul(cg, tl.iv, D);
    MOE_VLOOP(cg, D, V, "od", d, lanes, {
      epi->coords[1] = d;
      qk_epi_store(epi, outp, qk_ldf(cg, Y, qk_add(cg, yrow, d), lanes), lanes);
    });
    qiao_cpu_loop_end(cg, &tl);
  }
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  out->scratch_bytes = (uint64_t)(total * 4 + 64);
}

qiao_status_t qiao_cpu_lower_moe(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                 const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  if (kd->n_primary_inputs < 5)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: needs x, router, gate, up, down",
                            name);
  const qiao_kd_operand_t *X = &kd->inputs[0], *Rt = &kd->inputs[1], *G = &kd->inputs[2],
                          *U = &kd->inputs[3], *Dn = &kd->inputs[4], *O = &kd->outputs[0];
  if (X->type.shape.rank != 2 || Rt->type.shape.rank != 2 || G->type.shape.rank != 3 ||
      U->type.shape.rank != 3 || Dn->type.shape.rank != 3)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: bad operand ranks", name);
  moe_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  c.T = X->type.shape.dims[0];
  c.D = X->type.shape.dims[1];
  c.E = Rt->type.shape.dims[1];
  c.F = G->type.shape.dims[2];
  c.K = kd->attrs.top_k;
  if (c.K < 1 || c.K > c.E)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "moe kernel %s: top_k out of range", name);
  c.V = cg->vec_f32 ? cg->vec_f32 : 8;
  unsigned V = c.V;
  int64_t T = c.T, D = c.D, E = c.E, F = c.F, K = c.K;

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qk_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  c.xp = epi.in[0];
  c.rp = epi.in[1];
  c.gp = epi.in[2];
  c.up = epi.in[3];
  c.dp = epi.in[4];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef scr = qiao_cpu_scratch(cg, fn);
  /* scratch layout in f32 slots: sc[E] | h[F] | y[D] | sel_w[K] | sel_i[K] (i64) | taken[E] (i8) */
  int64_t o_sc = 0, o_h = E, o_y = o_h + F, o_w = o_y + D, o_i = (o_w + K + 1) / 2 * 2,
          o_t = o_i + 2 * K, total = o_t + (E + 3) / 4;
  c.sc = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_sc));
  c.hbuf = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_h));
  c.ybuf = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_y));
  c.sel_w = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_w));
  c.sel_i = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_i));
  c.taken = qk_fptr(cg, scr, qiao_cpu_i64(cg, o_t));
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);
  c.a0 = qk_alloca(cg, fn, vt, "a0");
  c.a1 = qk_alloca(cg, fn, vt, "a1");
  c.a0s = qk_alloca(cg, fn, cg->t_f32, "a0s");
  c.a1s = qk_alloca(cg, fn, cg->t_f32, "a1s");
  c.fs = qk_alloca(cg, fn, cg->t_f32, "fs");
  c.bi = qk_alloca(cg, fn, cg->t_i64, "bi");
  c.bv = qk_alloca(cg, fn, cg->t_f32, "bv");
  if (T * K >= 2 * E && T >= 8) {
    /* token chunks: at most one per thread, 8..32 tokens */
    int64_t threads = cg->n_threads > 1 ? cg->n_threads : 1;
    int64_t TB = (T + threads - 1) / threads;
    TB = TB < 8 ? 8 : TB > 32 ? 32 : TB;
    moe_grouped(&c, fn, &epi, outp, scr, TB, out);
    return NULL;
  }

  qk_rows_t rl;
  qk_rows_begin(cg, fn, T, qk_plan_chunks(cg, T, K * D * F * 3 + D * E), &rl, "tok");
  LLVMValueRef t = rl.loop.iv;
  LLVMValueRef xrow = qk_mul(cg, t, X->strides[0]);
  int64_t sxd = X->strides[1];

  moe_route(&c, xrow, qiao_cpu_i64(cg, 0));
  LLVMValueRef wscale = qiao_cpu_f32c(cg, 1.0);

  /* ---- y = 0 */
  MOE_VLOOP(cg, D, V, "yz", d, lanes, { qk_stf(cg, qk_fconst(cg, 0.0, lanes), c.ybuf, d); });

  /* ---- experts */
  {
    qiao_cpu_loop_t kl;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, K), 1, "ex", &kl);
    LLVMValueRef k = kl.iv;
    LLVMValueRef e =
        LLVMBuildLoad2(cg->b, cg->t_i64, LLVMBuildGEP2(cg->b, cg->t_i64, c.sel_i, &k, 1, ""), "");
    LLVMValueRef w = LLVMBuildFMul(cg->b, qk_ldf(cg, c.sel_w, k, 1), wscale, "");
    LLVMValueRef gbase = qk_mul(cg, e, G->strides[0]), ubase = qk_mul(cg, e, U->strides[0]);
    LLVMValueRef dbase = qk_mul(cg, e, Dn->strides[0]);
    /* h[f] = silu(Σ_d x gate) * (Σ_d x up) */
    MOE_VLOOP(cg, F, V, "hf", f, lanes, {
      LLVMTypeRef lt = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
      LLVMValueRef p0 = lanes == 1 ? c.a0s : c.a0, p1 = lanes == 1 ? c.a1s : c.a1;
      qk_st(cg, qk_fconst(cg, 0.0, lanes), p0);
      qk_st(cg, qk_fconst(cg, 0.0, lanes), p1);
      qiao_cpu_loop_t dl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, D), 1, "hd", &dl);
      LLVMValueRef xv = qiao_cpu_splat(
          cg, qiao_cpu_load_f32(cg, c.xp, X->type.dtype, qk_madd(cg, xrow, dl.iv, sxd), 1), lanes);
      LLVMValueRef gv =
          qk_load(cg, c.gp, G->type.dtype,
                  qk_madd(cg, qk_madd(cg, gbase, dl.iv, G->strides[1]), f, G->strides[2]),
                  G->strides[2], lanes);
      LLVMValueRef uv =
          qk_load(cg, c.up, U->type.dtype,
                  qk_madd(cg, qk_madd(cg, ubase, dl.iv, U->strides[1]), f, U->strides[2]),
                  U->strides[2], lanes);
      qk_st(cg, qk_fma(cg, xv, gv, qk_ld(cg, lt, p0)), p0);
      qk_st(cg, qk_fma(cg, xv, uv, qk_ld(cg, lt, p1)), p1);
      qiao_cpu_loop_end(cg, &dl);
      LLVMValueRef gs = qk_ld(cg, lt, p0), us = qk_ld(cg, lt, p1);
      LLVMValueRef sg = qiao_cpu_emit_sigmoid(cg, gs);
      qk_stf(cg, LLVMBuildFMul(cg->b, LLVMBuildFMul(cg->b, gs, sg, ""), us, ""), c.hbuf, f);
    });
    /* y[d] += w * Σ_f h[f] down[e, f, d] */
    MOE_VLOOP(cg, D, V, "yd", d, lanes, {
      LLVMTypeRef lt = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
      LLVMValueRef p0 = lanes == 1 ? c.a0s : c.a0;
      qk_st(cg, qk_fconst(cg, 0.0, lanes), p0);
      qiao_cpu_loop_t fl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, F), 1, "yf", &fl);
      LLVMValueRef hv = qiao_cpu_splat(cg, qk_ldf(cg, c.hbuf, fl.iv, 1), lanes);
      LLVMValueRef dv =
          qk_load(cg, c.dp, Dn->type.dtype,
                  qk_madd(cg, qk_madd(cg, dbase, fl.iv, Dn->strides[1]), d, Dn->strides[2]),
                  Dn->strides[2], lanes);
      qk_st(cg, qk_fma(cg, hv, dv, qk_ld(cg, lt, p0)), p0);
      qiao_cpu_loop_end(cg, &fl);
      LLVMValueRef y = qk_ldf(cg, c.ybuf, d, lanes);
      qk_stf(cg, qk_fma(cg, qiao_cpu_splat(cg, w, lanes), qk_ld(cg, lt, p0), y), c.ybuf, d);
    });
    qiao_cpu_loop_end(cg, &kl);
  }

  /* ---- out */
  epi.coords[0] = t;
  MOE_VLOOP(cg, D, V, "od", d, lanes, {
    epi.coords[1] = d;
    qk_epi_store(&epi, outp, qk_ldf(cg, c.ybuf, d, lanes), lanes);
  });
  (void)O;
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  out->scratch_bytes = (uint64_t)(total * 4 + 64);
  return NULL;
}
