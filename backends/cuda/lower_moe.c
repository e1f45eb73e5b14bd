/* CUDA backend — MOE kernels (SwiGLU experts): routing on the device, expert
 * GEMMs per expert over the tokens that chose it, weighted combine. Five
 * phases (launched in order by the runtime) hand their results over through
 * the global workspace (nothing goes to the host; the workspace is not
 * zeroed, every phase writes what the next reads):
 *
 *  0. route: a CTA per token (CTA-stride). Logits x_t · router with threads
 *     over experts (coalesced along the router's E), then softmax (block max
 *     and sum: shfl.bfly + shared stage) or sigmoid into shared memory;
 *     warp 0 picks the top_k by k rounds of a warp arg-max (order: NaN first,
 *     then larger, ties to the lower index) and writes ids[t·k + j] and the
 *     weights w[t·k + j] (divided by their sum when norm_topk).
 *  1. bucket: a warp per expert compacts the assignments a = t·k + j that
 *     chose it, in order, into list[e][0..count_e) (vote.ballot + popc
 *     prefix) and writes count_e. Deterministic: no atomics.
 *  2. gate/up: a CTA per (expert, 64-token tile, 64-column tile of F): the
 *     tile's x rows gathered through the list, gate and up staged side by
 *     side, two register-blocked accumulators per thread (SIMT: 16 × 16
 *     threads, 4 × 4 outputs each, K slices of 16, f16/bf16/f8 widened to f32
 *     in the load); SwiGLU in the epilogue: H[a][f] = silu(g) · u (f32).
 *     A tile past the expert's count exits at once: experts with no tokens
 *     cost one load of their count.
 *  3. down: the same GEMM over H rows with down_e: Y[a][d] (f32).
 *  4. combine: a CTA per token, threads over D: out[t][d] = Σ_j w[t·k+j] ·
 *     Y[t·k+j][d] (j in order: deterministic), the epilogue, the store.
 *
 * f32 accumulation throughout; the hidden activations stay f32 (the
 * interpreter's f64 differs by f32 rounding only). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda/codegen.h"

/* Tile configuration of the expert GEMMs (a parameter of the lowering). */
typedef struct qiao_cuda_moe_tile {
  int32_t bm, bn, bk; /* tokens × columns per CTA, K slice */
  int32_t tm, tn;     /* per-thread register block */
} qiao_cuda_moe_tile_t;

static const qiao_cuda_moe_tile_t k_moe_tile_default = {64, 64, 16, 4, 4};

#define MOE_MAX_T 4
#define MOE_MAX_E 4096

typedef struct moe_ctx {
  qiao_cuda_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  int64_t T, D, E, F, K;
  int32_t nb; /* bindings before the workspace */
  /* workspace regions, in 4-byte elements */
  int64_t o_ids, o_w, o_cnt, o_list, o_h, o_y, n_ws;
  qiao_cuda_moe_tile_t t;
} moe_ctx_t;

static LLVMValueRef c64(moe_ctx_t *c, int64_t v) { return qiao_cg_i64(&c->cg->base, v); }
static LLVMValueRef cf(moe_ctx_t *c, double v) { return qiao_cg_f32c(&c->cg->base, v); }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t al4(int64_t n) { return (n + 3) / 4 * 4; }

static int64_t grid_cap(const qiao_cuda_codegen_t *cg, int64_t n) {
  int64_t cap = 32 * (int64_t)(cg->n_sms > 0 ? cg->n_sms : 132);
  return n < 1 ? 1 : n < cap ? n : cap;
}

static LLVMValueRef ws_f(moe_ctx_t *c, LLVMValueRef ws, int64_t region, LLVMValueRef i) {
  return qiao_cg_fptr(&c->cg->base, ws, qiao_cg_iadd(&c->cg->base, i, c64(c, region)));
}
static LLVMValueRef ws_i(moe_ctx_t *c, LLVMValueRef ws, int64_t region, LLVMValueRef i) {
  return qiao_cg_elem_ptr(&c->cg->base, ws, QIAO_I32,
                          qiao_cg_iadd(&c->cg->base, i, c64(c, region)));
}
static LLVMValueRef ld_i(moe_ctx_t *c, LLVMValueRef p) {
  return LLVMBuildSExt(c->cg->b, LLVMBuildLoad2(c->cg->b, c->cg->t_i32, p, ""), c->cg->t_i64, "");
}
static void st_i(moe_ctx_t *c, LLVMValueRef v, LLVMValueRef p) {
  LLVMBuildStore(c->cg->b, LLVMBuildTrunc(c->cg->b, v, c->cg->t_i32, ""), p);
}

static LLVMValueRef sptr(qiao_cuda_codegen_t *cg, LLVMValueRef arr, LLVMTypeRef et, int64_t n,
                         LLVMValueRef i) {
  LLVMValueRef idx[2] = {qiao_cg_i64(&cg->base, 0), i};
  return LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(et, (uint64_t)n), arr, idx, 2, "");
}

static void phase_rec(qiao_cuda_phase_t *p, const char *name, int64_t grid, int32_t block,
                      int64_t smem) {
  memset(p, 0, sizeof *p);
  snprintf(p->name, sizeof p->name, "%s", name);
  p->grid[0] = grid;
  p->grid[1] = p->grid[2] = 1;
  p->block[0] = block;
  p->block[1] = p->block[2] = 1;
  p->shared_bytes = smem;
}

static LLVMValueRef comb_max(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return qiao_cg_emit_max_acc(&cg->base, a, b);
}
static LLVMValueRef comb_add(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(cg->b, a, b, "");
}

/* (v1, i1) ranks before (v2, i2): NaN first, then larger, ties to the lower index. */
static LLVMValueRef ranks_before(qiao_cuda_codegen_t *cg, LLVMValueRef v1, LLVMValueRef i1,
                                 LLVMValueRef v2, LLVMValueRef i2) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef n1 = LLVMBuildFCmp(b, LLVMRealUNO, v1, v1, "");
  LLVMValueRef n2 = LLVMBuildFCmp(b, LLVMRealUNO, v2, v2, "");
  LLVMValueRef lower = LLVMBuildICmp(b, LLVMIntSLT, i1, i2, "");
  LLVMValueRef gt = LLVMBuildFCmp(b, LLVMRealOGT, v1, v2, "");
  LLVMValueRef eq = LLVMBuildFCmp(b, LLVMRealOEQ, v1, v2, "");
  LLVMValueRef num = LLVMBuildOr(b, gt, LLVMBuildAnd(b, eq, lower, ""), "");
  /* both NaN: index; exactly one NaN: n1; neither: num */
  LLVMValueRef both = LLVMBuildAnd(b, n1, n2, "");
  LLVMValueRef one = LLVMBuildXor(b, n1, n2, "");
  return LLVMBuildSelect(b, both, lower, LLVMBuildSelect(b, one, n1, num, ""), "");
}

/* cur := other when other is valid (i >= 0) and ranks before cur (or cur invalid). */
static void pick(qiao_cuda_codegen_t *cg, LLVMValueRef *cv, LLVMValueRef *ci, LLVMValueRef ov,
                 LLVMValueRef oi) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef z = qiao_cg_i64(&cg->base, 0);
  LLVMValueRef ovalid = LLVMBuildICmp(b, LLVMIntSGE, oi, z, "");
  LLVMValueRef cinvalid = LLVMBuildICmp(b, LLVMIntSLT, *ci, z, "");
  LLVMValueRef take =
      LLVMBuildAnd(b, ovalid, LLVMBuildOr(b, cinvalid, ranks_before(cg, ov, oi, *cv, *ci), ""), "");
  *cv = LLVMBuildSelect(b, take, ov, *cv, "");
  *ci = LLVMBuildSelect(b, take, oi, *ci, "");
}

/* ------------------------------------------------------------ 0. route */

static void emit_route(moe_ctx_t *c, const char *name, qiao_cuda_phase_t *ph) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *X = &kd->inputs[0], *Rt = &kd->inputs[1];
  LLVMTypeRef f32 = cg->t_f32;
  int32_t block = qiao_cuda_row_block(c->E);
  qiao_cuda_entry_begin(cg, name, c->nb + 1);
  LLVMValueRef xp = qiao_cuda_param(cg, 0), rp = qiao_cuda_param(cg, 1);
  LLVMValueRef ws = qiao_cuda_param(cg, c->nb);
  LLVMValueRef S = qiao_cuda_shared(cg, f32, c->E, "sc");
  LLVMValueRef red = qiao_cuda_shared(cg, f32, block / 32, "red");
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildAnd(b, tid, c64(c, 31), "lane");
  LLVMValueRef warp = LLVMBuildLShr(b, tid, c64(c, 5), "warp");
  bool sigmoid = kd->attrs.router_fn == QIAO_ROUTER_SIGMOID;
  LLVMValueRef mx = qiao_cuda_alloca(cg, f32, "mx");
  LLVMValueRef sm = qiao_cuda_alloca(cg, f32, "sm");
  LLVMValueRef dot = qiao_cuda_alloca(cg, f32, "dot");
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, c->T, &tl);
  LLVMValueRef t = tl.iv;
  /* logits: thread e (stride block), Σ_d x[t,d]·router[d,e] */
  LLVMBuildStore(b, cf(c, -INFINITY), mx);
  qiao_cg_loop_t el;
  qiao_cuda_thread_loop_begin(cg, c->E, block, &el);
  {
    LLVMBuildStore(b, cf(c, 0.0), dot);
    qiao_cg_loop_t dl;
    qiao_cg_loop_begin(cb, c64(c, 0), c64(c, c->D), 1, "d", &dl);
    LLVMValueRef xv = qiao_cg_load_f32(
        cb, xp, X->type.dtype,
        qiao_cg_imadd(cb, qiao_cg_imul(cb, t, X->strides[0]), dl.iv, X->strides[1]), 1);
    LLVMValueRef rv = qiao_cg_load_f32(
        cb, rp, Rt->type.dtype,
        qiao_cg_imadd(cb, qiao_cg_imul(cb, dl.iv, Rt->strides[0]), el.iv, Rt->strides[1]), 1);
    LLVMBuildStore(b, qiao_cg_fma(cb, xv, rv, LLVMBuildLoad2(b, f32, dot, "")), dot);
    qiao_cg_loop_end(cb, &dl);
    LLVMValueRef lg = LLVMBuildLoad2(b, f32, dot, "");
    LLVMBuildStore(b, lg, sptr(cg, S, f32, c->E, el.iv));
    LLVMBuildStore(b, qiao_cg_emit_max_acc(cb, LLVMBuildLoad2(b, f32, mx, ""), lg), mx);
  }
  qiao_cg_loop_end(cb, &el);
  /* scores in place */
  if (sigmoid) {
    qiao_cuda_thread_loop_begin(cg, c->E, block, &el);
    LLVMValueRef p = sptr(cg, S, f32, c->E, el.iv);
    LLVMBuildStore(b, qiao_cg_emit_sigmoid(cb, LLVMBuildLoad2(b, f32, p, "")), p);
    qiao_cg_loop_end(cb, &el);
  } else {
    LLVMValueRef M = qiao_cuda_block_reduce(cg, LLVMBuildLoad2(b, f32, mx, ""), block, comb_max,
                                            cf(c, -INFINITY), red);
    LLVMBuildStore(b, cf(c, 0.0), sm);
    qiao_cuda_thread_loop_begin(cg, c->E, block, &el);
    {
      LLVMValueRef p = sptr(cg, S, f32, c->E, el.iv);
      LLVMValueRef ex =
          qiao_cg_emit_exp(cb, LLVMBuildFSub(b, LLVMBuildLoad2(b, f32, p, ""), M, ""));
      LLVMBuildStore(b, ex, p);
      LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, f32, sm, ""), ex, ""), sm);
    }
    qiao_cg_loop_end(cb, &el);
    LLVMValueRef Ssum = qiao_cuda_block_reduce(cg, LLVMBuildLoad2(b, f32, sm, ""), block, comb_add,
                                               cf(c, 0.0), red);
    LLVMValueRef inv = LLVMBuildFDiv(b, cf(c, 1.0), Ssum, "");
    qiao_cuda_thread_loop_begin(cg, c->E, block, &el);
    LLVMValueRef p = sptr(cg, S, f32, c->E, el.iv);
    LLVMBuildStore(b, LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, p, ""), inv, ""), p);
    qiao_cg_loop_end(cb, &el);
  }
  qiao_cuda_barrier(cg);
  /* top_k in warp 0 */
  LLVMBasicBlockRef w0 = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntEQ, warp, c64(c, 0), ""), "w0");
  {
    LLVMValueRef thr_v = qiao_cuda_alloca(cg, f32, "thv");
    LLVMValueRef thr_i = qiao_cuda_alloca(cg, cg->t_i64, "thi");
    LLVMValueRef bv = qiao_cuda_alloca(cg, f32, "bv");
    LLVMValueRef bi = qiao_cuda_alloca(cg, cg->t_i64, "bi");
    LLVMValueRef wsum = qiao_cuda_alloca(cg, f32, "wsum");
    LLVMBuildStore(b, cf(c, 0.0), thr_v);
    LLVMBuildStore(b, c64(c, -1), thr_i);
    LLVMBuildStore(b, cf(c, 0.0), wsum);
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(cb, c64(c, 0), c64(c, c->K), 1, "k", &kl);
    {
      LLVMBuildStore(b, cf(c, 0.0), bv);
      LLVMBuildStore(b, c64(c, -1), bi);
      LLVMValueRef tv = LLVMBuildLoad2(b, f32, thr_v, "");
      LLVMValueRef ti = LLVMBuildLoad2(b, cg->t_i64, thr_i, "");
      qiao_cg_loop_t jl;
      qiao_cuda_thread_loop_begin(cg, c->E, 32, &jl);
      {
        LLVMValueRef v = LLVMBuildLoad2(b, f32, sptr(cg, S, f32, c->E, jl.iv), "");
        LLVMValueRef elig = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLT, ti, c64(c, 0), ""),
                                        ranks_before(cg, tv, ti, v, jl.iv), "");
        LLVMValueRef cv = LLVMBuildLoad2(b, f32, bv, "");
        LLVMValueRef ci = LLVMBuildLoad2(b, cg->t_i64, bi, "");
        pick(cg, &cv, &ci, v, LLVMBuildSelect(b, elig, jl.iv, c64(c, -1), ""));
        LLVMBuildStore(b, cv, bv);
        LLVMBuildStore(b, ci, bi);
      }
      qiao_cg_loop_end(cb, &jl);
      LLVMValueRef cv = LLVMBuildLoad2(b, f32, bv, "");
      LLVMValueRef ci = LLVMBuildLoad2(b, cg->t_i64, bi, "");
      for (int m = 16; m >= 1; m /= 2) {
        LLVMValueRef ov = qiao_cuda_shfl_bfly(cg, cv, m);
        LLVMValueRef oi = qiao_cuda_shfl_bfly(cg, ci, m);
        pick(cg, &cv, &ci, ov, oi);
      }
      LLVMBuildStore(b, cv, thr_v);
      LLVMBuildStore(b, ci, thr_i);
      LLVMBuildStore(b, LLVMBuildFAdd(b, LLVMBuildLoad2(b, f32, wsum, ""), cv, ""), wsum);
      LLVMBasicBlockRef l0 = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntEQ, lane, c64(c, 0), ""), "l0");
      LLVMValueRef a = qiao_cg_imadd(cb, kl.iv, t, c->K);
      st_i(c, ci, ws_i(c, ws, c->o_ids, a));
      LLVMBuildStore(b, cv, ws_f(c, ws, c->o_w, a));
      qiao_cg_endif(cb, l0);
    }
    qiao_cg_loop_end(cb, &kl);
    if (kd->attrs.norm_topk) {
      /* lane 0 rereads its own writes */
      LLVMBasicBlockRef l0 = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntEQ, lane, c64(c, 0), ""), "n0");
      LLVMValueRef inv = LLVMBuildFDiv(b, cf(c, 1.0), LLVMBuildLoad2(b, f32, wsum, ""), "");
      qiao_cg_loop_begin(cb, c64(c, 0), c64(c, c->K), 1, "kn", &kl);
      LLVMValueRef p = ws_f(c, ws, c->o_w, qiao_cg_imadd(cb, kl.iv, t, c->K));
      LLVMBuildStore(b, LLVMBuildFMul(b, LLVMBuildLoad2(b, f32, p, ""), inv, ""), p);
      qiao_cg_loop_end(cb, &kl);
      qiao_cg_endif(cb, l0);
    }
  }
  qiao_cg_endif(cb, w0);
  qiao_cuda_barrier(cg); /* S is reused by the next token */
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  phase_rec(ph, name, grid_cap(cg, c->T), block, 4 * (c->E + block / 32));
}

/* ------------------------------------------------------------ 1. bucket */

static void emit_bucket(moe_ctx_t *c, const char *name, qiao_cuda_phase_t *ph) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  qiao_cuda_entry_begin(cg, name, c->nb + 1);
  LLVMValueRef ws = qiao_cuda_param(cg, c->nb);
  LLVMValueRef lane = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef cnt = qiao_cuda_alloca(cg, cg->t_i64, "cnt");
  LLVMValueRef lt = LLVMBuildSub(b, LLVMBuildShl(b, c64(c, 1), lane, ""), c64(c, 1), "");
  LLVMValueRef lt32 = LLVMBuildTrunc(b, lt, cg->t_i32, "");
  LLVMTypeRef i32 = cg->t_i32;
  qiao_cg_loop_t el;
  qiao_cuda_row_loop_begin(cg, c->E, &el);
  LLVMValueRef e = el.iv;
  LLVMBuildStore(b, c64(c, 0), cnt);
  int64_t n = c->T * c->K;
  qiao_cg_loop_t al;
  qiao_cg_loop_begin(cb, c64(c, 0), c64(c, n), 32, "a0", &al);
  {
    LLVMValueRef a = LLVMBuildAdd(b, al.iv, lane, "a");
    LLVMValueRef in = LLVMBuildICmp(b, LLVMIntSLT, a, c64(c, n), "");
    LLVMValueRef slot = qiao_cuda_alloca(cg, cg->t_i64, "id");
    LLVMBuildStore(b, c64(c, -1), slot);
    LLVMBasicBlockRef li = qiao_cg_if(cb, in, "ld");
    LLVMBuildStore(b, ld_i(c, ws_i(c, ws, c->o_ids, a)), slot);
    qiao_cg_endif(cb, li);
    LLVMValueRef mine = LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildLoad2(b, cg->t_i64, slot, ""), e, "");
    LLVMValueRef args[2] = {LLVMConstInt(i32, 0xffffffffu, 0), mine};
    LLVMValueRef ballot =
        qiao_cg_call_intrinsic(cb, "llvm.nvvm.vote.ballot.sync", NULL, 0, args, 2);
    LLVMValueRef before = LLVMBuildAnd(b, ballot, lt32, "");
    LLVMTypeRef ti = i32;
    LLVMValueRef pre = LLVMBuildZExt(
        b, qiao_cg_call_intrinsic(cb, "llvm.ctpop", &ti, 1, &before, 1), cg->t_i64, "");
    LLVMValueRef tot = LLVMBuildZExt(
        b, qiao_cg_call_intrinsic(cb, "llvm.ctpop", &ti, 1, &ballot, 1), cg->t_i64, "");
    LLVMValueRef c0 = LLVMBuildLoad2(b, cg->t_i64, cnt, "");
    LLVMBasicBlockRef wr = qiao_cg_if(cb, mine, "wr");
    st_i(c, a, ws_i(c, ws, c->o_list, qiao_cg_imadd(cb, LLVMBuildAdd(b, c0, pre, ""), e, c->T)));
    qiao_cg_endif(cb, wr);
    LLVMBuildStore(b, LLVMBuildAdd(b, c0, tot, ""), cnt);
  }
  qiao_cg_loop_end(cb, &al);
  LLVMBasicBlockRef l0 = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntEQ, lane, c64(c, 0), ""), "l0");
  st_i(c, LLVMBuildLoad2(b, cg->t_i64, cnt, ""), ws_i(c, ws, c->o_cnt, e));
  qiao_cg_endif(cb, l0);
  qiao_cg_loop_end(cb, &el);
  LLVMBuildRetVoid(b);
  phase_rec(ph, name, grid_cap(cg, c->E), 32, 0);
}

/* ------------------------------------------------------------ 2, 3. expert GEMMs */

/* One gathered expert GEMM: rows are the expert's assignments list[e][r];
 * A row = x[t = a / k] (gate/up) or H[a] (down); B = the expert's slice of
 * weights input(s) wb[0] (and wb[1]); out = H (silu(g)·u) or Y. */
static void emit_gemm(moe_ctx_t *c, const char *name, bool down, qiao_cuda_phase_t *ph) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_cuda_moe_tile_t *t = &c->t;
  LLVMTypeRef f32 = cg->t_f32;
  int32_t threads = (t->bm / t->tm) * (t->bn / t->tn);
  int32_t tx_n = t->bn / t->tn, ty_n = t->bm / t->tm;
  int64_t Kd = down ? c->F : c->D, Nd = down ? c->D : c->F;
  int nbm = down ? 1 : 2;
  int wi[2] = {down ? 4 : 2, 3};
  qiao_cuda_entry_begin(cg, name, c->nb + 1);
  LLVMValueRef ws = qiao_cuda_param(cg, c->nb);
  LLVMValueRef xp = qiao_cuda_param(cg, 0);
  LLVMValueRef wp[2] = {qiao_cuda_param(cg, wi[0]), qiao_cuda_param(cg, wi[1])};
  int64_t lda = t->bm + 1, ldb = t->bn + 1;
  int64_t na = t->bk * lda, nbs = t->bk * ldb;
  LLVMValueRef As = qiao_cuda_shared(cg, f32, na, "As");
  LLVMValueRef Bs[2];
  for (int q = 0; q < nbm; ++q)
    Bs[q] = qiao_cuda_shared(cg, f32, nbs, q ? "Bu" : "Bg");
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef tx = LLVMBuildURem(b, tid, c64(c, tx_n), "tx");
  LLVMValueRef ty = LLVMBuildUDiv(b, tid, c64(c, tx_n), "ty");
  LLVMValueRef acc[2][MOE_MAX_T][MOE_MAX_T];
  for (int q = 0; q < nbm; ++q)
    for (int i = 0; i < t->tm; ++i)
      for (int j = 0; j < t->tn; ++j)
        acc[q][i][j] = qiao_cuda_alloca(cg, f32, "acc");
  /* tiles: (e, token tile, column tile) */
  int64_t mt = cdiv(c->T, t->bm), nt = cdiv(Nd, t->bn), total = c->E * mt * nt;
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef tn_i = LLVMBuildURem(b, tl.iv, c64(c, nt), "");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, c64(c, nt), "");
  LLVMValueRef tm_i = LLVMBuildURem(b, rest, c64(c, mt), "");
  LLVMValueRef e = LLVMBuildUDiv(b, rest, c64(c, mt), "e");
  LLVMValueRef cnt = ld_i(c, ws_i(c, ws, c->o_cnt, e));
  LLVMValueRef m0 = LLVMBuildMul(b, tm_i, c64(c, t->bm), "m0");
  LLVMValueRef n0 = LLVMBuildMul(b, tn_i, c64(c, t->bn), "n0");
  /* a tile past the expert's tokens does nothing (CTA-uniform) */
  LLVMBasicBlockRef busy = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, m0, cnt, ""), "busy");
  {
    for (int q = 0; q < nbm; ++q)
      for (int i = 0; i < t->tm; ++i)
        for (int j = 0; j < t->tn; ++j)
          LLVMBuildStore(b, cf(c, 0.0), acc[q][i][j]);
    /* the A rows this thread stages: r = tid / bk + i·(threads / bk) */
    int64_t a_per = (int64_t)t->bm * t->bk / threads, rstep = threads / t->bk;
    LLVMValueRef kk_a = LLVMBuildURem(b, tid, c64(c, t->bk), "");
    LLVMValueRef arow[16], ain[16];
    for (int64_t i = 0; i < a_per && i < 16; ++i) {
      LLVMValueRef r =
          qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t->bk), ""), c64(c, i * rstep));
      LLVMValueRef gr = LLVMBuildAdd(b, m0, r, "");
      ain[i] = LLVMBuildICmp(b, LLVMIntSLT, gr, cnt, "");
      LLVMValueRef slot = qiao_cuda_alloca(cg, cg->t_i64, "arow");
      LLVMBuildStore(b, c64(c, 0), slot);
      LLVMBasicBlockRef li = qiao_cg_if(cb, ain[i], "row");
      LLVMValueRef a = ld_i(c, ws_i(c, ws, c->o_list, qiao_cg_imadd(cb, gr, e, c->T)));
      /* element offset of the row's first k */
      LLVMValueRef base =
          down ? qiao_cg_imul(cb, a, c->F)
               : qiao_cg_imul(cb, LLVMBuildUDiv(b, a, c64(c, c->K), ""), kd->inputs[0].strides[0]);
      LLVMBuildStore(b, base, slot);
      qiao_cg_endif(cb, li);
      arow[i] = LLVMBuildLoad2(b, cg->t_i64, slot, "");
    }
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(cb, c64(c, 0), c64(c, Kd), t->bk, "k0", &kl);
    {
      LLVMValueRef k0 = kl.iv;
      LLVMValueRef gk = LLVMBuildAdd(b, k0, kk_a, "");
      LLVMValueRef kin = LLVMBuildICmp(b, LLVMIntSLT, gk, c64(c, Kd), "");
      for (int64_t i = 0; i < a_per && i < 16; ++i) {
        LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "av");
        LLVMBuildStore(b, cf(c, 0.0), slot);
        LLVMBasicBlockRef li = qiao_cg_if(cb, LLVMBuildAnd(b, ain[i], kin, ""), "a");
        LLVMValueRef v =
            down ? LLVMBuildLoad2(b, f32, ws_f(c, ws, c->o_h, LLVMBuildAdd(b, arow[i], gk, "")), "")
                 : qiao_cg_load_f32(cb, xp, kd->inputs[0].type.dtype,
                                    qiao_cg_imadd(cb, arow[i], gk, kd->inputs[0].strides[1]), 1);
        LLVMBuildStore(b, v, slot);
        qiao_cg_endif(cb, li);
        LLVMValueRef r =
            qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t->bk), ""), c64(c, i * rstep));
        LLVMBuildStore(b, LLVMBuildLoad2(b, f32, slot, ""),
                       sptr(cg, As, f32, na, qiao_cg_imadd(cb, r, kk_a, lda)));
      }
      /* B: [k][n] from weights[e][k][n], n fastest */
      for (int q = 0; q < nbm; ++q) {
        const qiao_kd_operand_t *W = &kd->inputs[wi[q]];
        int64_t b_per = (int64_t)t->bn * t->bk / threads, kstep = threads / t->bn;
        LLVMValueRef nn = LLVMBuildURem(b, tid, c64(c, t->bn), "");
        LLVMValueRef gn = LLVMBuildAdd(b, n0, nn, "");
        for (int64_t i = 0; i < b_per; ++i) {
          LLVMValueRef kk =
              qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t->bn), ""), c64(c, i * kstep));
          LLVMValueRef gkb = LLVMBuildAdd(b, k0, kk, "");
          LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, gkb, c64(c, Kd), ""),
                                         LLVMBuildICmp(b, LLVMIntSLT, gn, c64(c, Nd), ""), "");
          LLVMValueRef slot = qiao_cuda_alloca(cg, f32, "bv");
          LLVMBuildStore(b, cf(c, 0.0), slot);
          LLVMBasicBlockRef li = qiao_cg_if(cb, in, "b");
          LLVMValueRef off = qiao_cg_imadd(
              cb, qiao_cg_imadd(cb, qiao_cg_imul(cb, e, W->strides[0]), gkb, W->strides[1]), gn,
              W->strides[2]);
          LLVMBuildStore(b, qiao_cg_load_f32(cb, wp[q], W->type.dtype, off, 1), slot);
          qiao_cg_endif(cb, li);
          LLVMBuildStore(b, LLVMBuildLoad2(b, f32, slot, ""),
                         sptr(cg, Bs[q], f32, nbs, qiao_cg_imadd(cb, nn, kk, ldb)));
        }
      }
      qiao_cuda_barrier(cg);
      for (int kk = 0; kk < t->bk; ++kk) {
        LLVMValueRef av[MOE_MAX_T], bv[2][MOE_MAX_T];
        for (int i = 0; i < t->tm; ++i)
          av[i] = LLVMBuildLoad2(
              b, f32, sptr(cg, As, f32, na, qiao_cg_iadd(cb, ty, c64(c, kk * lda + i * ty_n))), "");
        for (int q = 0; q < nbm; ++q)
          for (int j = 0; j < t->tn; ++j)
            bv[q][j] = LLVMBuildLoad2(
                b, f32,
                sptr(cg, Bs[q], f32, nbs, qiao_cg_iadd(cb, tx, c64(c, kk * ldb + j * tx_n))), "");
        for (int q = 0; q < nbm; ++q)
          for (int i = 0; i < t->tm; ++i)
            for (int j = 0; j < t->tn; ++j)
              LLVMBuildStore(
                  b, qiao_cg_fma(cb, av[i], bv[q][j], LLVMBuildLoad2(b, f32, acc[q][i][j], "")),
                  acc[q][i][j]);
      }
      qiao_cuda_barrier(cg);
    }
    qiao_cg_loop_end(cb, &kl);
    /* epilogue: H = silu(g)·u, or Y */
    for (int i = 0; i < t->tm; ++i) {
      LLVMValueRef gr = LLVMBuildAdd(b, m0, qiao_cg_iadd(cb, ty, c64(c, i * ty_n)), "");
      LLVMBasicBlockRef ri = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, gr, cnt, ""), "r");
      LLVMValueRef a = ld_i(c, ws_i(c, ws, c->o_list, qiao_cg_imadd(cb, gr, e, c->T)));
      for (int j = 0; j < t->tn; ++j) {
        LLVMValueRef gn = LLVMBuildAdd(b, n0, qiao_cg_iadd(cb, tx, c64(c, j * tx_n)), "");
        LLVMBasicBlockRef ci =
            qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, gn, c64(c, Nd), ""), "c");
        LLVMValueRef g = LLVMBuildLoad2(b, f32, acc[0][i][j], "");
        LLVMValueRef v = g;
        if (!down) {
          LLVMValueRef u = LLVMBuildLoad2(b, f32, acc[1][i][j], "");
          v = LLVMBuildFMul(b, LLVMBuildFMul(b, g, qiao_cg_emit_sigmoid(cb, g), ""), u, "");
        }
        LLVMBuildStore(b, v, ws_f(c, ws, down ? c->o_y : c->o_h, qiao_cg_imadd(cb, gn, a, Nd)));
        qiao_cg_endif(cb, ci);
      }
      qiao_cg_endif(cb, ri);
    }
  }
  qiao_cg_endif(cb, busy);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  phase_rec(ph, name, grid_cap(cg, total), threads, 4 * (na + nbm * nbs));
}

/* ------------------------------------------------------------ 2, 3. tensor cores */

/* Tile configuration of the tensor-core expert GEMMs. */
typedef struct qiao_cuda_moe_mma_tile {
  int32_t bm, bn, bk; /* CTA tile (tokens × columns), K slice (multiple of 16) */
  int32_t wm, wn;     /* warp tile: (wm/16)·(wn/8) mma.m16n8k16 per k16 step and B operand */
} qiao_cuda_moe_mma_tile_t;

/* gate/up keeps two accumulator sets: half the columns per warp */
static const qiao_cuda_moe_mma_tile_t k_moe_mma_gateup = {64, 32, 32, 32, 16};
static const qiao_cuda_moe_mma_tile_t k_moe_mma_down = {64, 64, 32, 32, 32};

static LLVMValueRef pair32(qiao_cuda_codegen_t *cg, LLVMValueRef smem, int64_t n,
                           LLVMValueRef sidx) {
  LLVMValueRef l = LLVMBuildLoad2(cg->b, cg->t_i32, sptr(cg, smem, cg->t_i16, n, sidx), "");
  LLVMSetAlignment(l, 4);
  return l;
}

/* smem[sidx] = the 16-bit element at p (an element pointer) when `in`, else 0 bits. */
static void stage16(qiao_cuda_codegen_t *cg, LLVMValueRef p, LLVMValueRef in, LLVMValueRef smem,
                    int64_t n, LLVMValueRef sidx) {
  LLVMValueRef slot = qiao_cuda_alloca(cg, cg->t_i16, "s16");
  LLVMBuildStore(cg->b, LLVMConstInt(cg->t_i16, 0, 0), slot);
  LLVMBasicBlockRef cont = qiao_cg_if(&cg->base, in, "ld16");
  LLVMValueRef l = LLVMBuildLoad2(cg->b, cg->t_i16, p, "");
  LLVMSetAlignment(l, 2);
  LLVMBuildStore(cg->b, l, slot);
  qiao_cg_endif(&cg->base, cont);
  LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, cg->t_i16, slot, ""),
                 sptr(cg, smem, cg->t_i16, n, sidx));
}

/* The gathered expert GEMM on mma.sync (x, gate, up, down all f16 or all bf16):
 * A rows (x[t] or the 16-bit H[a]) staged As[m][k], B (the expert's weights,
 * n contiguous) staged transposed Bs[n][k], rows padded by 8 elements; per
 * k16 step each warp loads its A fragments once and issues (wm/16)·(wn/8)
 * mma per B operand (gate and up side by side). Epilogue: H = silu(g)·u
 * rounded to the weights' dtype (16-bit, the A operand of the down GEMM), or
 * Y in f32. */
static void emit_gemm_mma(moe_ctx_t *c, const char *name, bool down, qiao_cuda_phase_t *ph) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_cuda_moe_mma_tile_t t = down ? k_moe_mma_down : k_moe_mma_gateup;
  qiao_dtype_t dt = kd->inputs[2].type.dtype;
  bool bf16 = dt == QIAO_BF16;
  LLVMTypeRef f32 = cg->t_f32, i16 = cg->t_i16;
  int32_t wgn = t.bn / t.wn, threads = (t.bm / t.wm) * wgn * 32;
  int32_t mt_n = t.wm / 16, nt_n = t.wn / 8;
  int64_t Kd = down ? c->F : c->D, Nd = down ? c->D : c->F;
  int nbm = down ? 1 : 2;
  int wi[2] = {down ? 4 : 2, 3};
  qiao_cuda_entry_begin(cg, name, c->nb + 1);
  LLVMValueRef ws = qiao_cuda_param(cg, c->nb);
  LLVMValueRef xp = qiao_cuda_param(cg, 0);
  LLVMValueRef wp[2] = {qiao_cuda_param(cg, wi[0]), qiao_cuda_param(cg, wi[1])};
  int64_t ld = t.bk + 8, na = t.bm * ld, nbs = t.bn * ld;
  /* bf16: H is kept as hi + lo bf16 parts (the down GEMM issues both), so the
   * hidden activations keep about 16 significant bits instead of 8 */
  bool split = down && bf16;
  int nas = split ? 2 : 1;
  int64_t hlo = c->T * c->K * c->F; /* 16-bit elements from H_hi to H_lo */
  LLVMValueRef Asp[2];
  Asp[0] = qiao_cuda_shared(cg, i16, na, "Ah");
  Asp[1] = split ? qiao_cuda_shared(cg, i16, na, "Al") : NULL;
  LLVMValueRef Bs[2];
  for (int q = 0; q < nbm; ++q)
    Bs[q] = qiao_cuda_shared(cg, i16, nbs, q ? "Buh" : "Bgh");
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildAnd(b, tid, c64(c, 31), "lane");
  LLVMValueRef warp = LLVMBuildLShr(b, tid, c64(c, 5), "warp");
  LLVMValueRef grp = LLVMBuildLShr(b, lane, c64(c, 2), "grp");
  LLVMValueRef tig2 = LLVMBuildShl(b, LLVMBuildAnd(b, lane, c64(c, 3), ""), c64(c, 1), "tig2");
  LLVMValueRef wm0 = LLVMBuildMul(b, LLVMBuildUDiv(b, warp, c64(c, wgn), ""), c64(c, t.wm), "wm0");
  LLVMValueRef wn0 = LLVMBuildMul(b, LLVMBuildURem(b, warp, c64(c, wgn), ""), c64(c, t.wn), "wn0");
  LLVMValueRef acc[2][4][8][4];
  for (int q = 0; q < nbm; ++q)
    for (int i = 0; i < mt_n; ++i)
      for (int j = 0; j < nt_n; ++j)
        for (int r = 0; r < 4; ++r)
          acc[q][i][j][r] = qiao_cuda_alloca(cg, f32, "acc");
  int64_t mt = cdiv(c->T, t.bm), nt = cdiv(Nd, t.bn), total = c->E * mt * nt;
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef tn_i = LLVMBuildURem(b, tl.iv, c64(c, nt), "");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, c64(c, nt), "");
  LLVMValueRef tm_i = LLVMBuildURem(b, rest, c64(c, mt), "");
  LLVMValueRef e = LLVMBuildUDiv(b, rest, c64(c, mt), "e");
  LLVMValueRef cnt = ld_i(c, ws_i(c, ws, c->o_cnt, e));
  LLVMValueRef m0 = LLVMBuildMul(b, tm_i, c64(c, t.bm), "m0");
  LLVMValueRef n0 = LLVMBuildMul(b, tn_i, c64(c, t.bn), "n0");
  LLVMBasicBlockRef busy = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, m0, cnt, ""), "busy");
  {
    for (int q = 0; q < nbm; ++q)
      for (int i = 0; i < mt_n; ++i)
        for (int j = 0; j < nt_n; ++j)
          for (int r = 0; r < 4; ++r)
            LLVMBuildStore(b, cf(c, 0.0), acc[q][i][j][r]);
    /* this thread's A rows r = tid / bk + i·(threads / bk), element offsets of their k = 0 */
    int64_t a_per = (int64_t)t.bm * t.bk / threads, rstep = threads / t.bk;
    LLVMValueRef kk_a = LLVMBuildURem(b, tid, c64(c, t.bk), "");
    LLVMValueRef arow[16], ain[16];
    for (int64_t i = 0; i < a_per && i < 16; ++i) {
      LLVMValueRef r = qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t.bk), ""), c64(c, i * rstep));
      LLVMValueRef gr = LLVMBuildAdd(b, m0, r, "");
      ain[i] = LLVMBuildICmp(b, LLVMIntSLT, gr, cnt, "");
      LLVMValueRef slot = qiao_cuda_alloca(cg, cg->t_i64, "arow");
      LLVMBuildStore(b, c64(c, 0), slot);
      LLVMBasicBlockRef li = qiao_cg_if(cb, ain[i], "row");
      LLVMValueRef a = ld_i(c, ws_i(c, ws, c->o_list, qiao_cg_imadd(cb, gr, e, c->T)));
      LLVMValueRef base =
          down ? qiao_cg_imul(cb, a, c->F)
               : qiao_cg_imul(cb, LLVMBuildUDiv(b, a, c64(c, c->K), ""), kd->inputs[0].strides[0]);
      LLVMBuildStore(b, base, slot);
      qiao_cg_endif(cb, li);
      arow[i] = LLVMBuildLoad2(b, cg->t_i64, slot, "");
    }
    /* H as 16-bit elements: the workspace from element o_h (4-byte units) on */
    LLVMValueRef hbase = qiao_cg_elem_ptr(cb, ws, QIAO_I32, c64(c, c->o_h));
    qiao_cg_loop_t kl;
    qiao_cg_loop_begin(cb, c64(c, 0), c64(c, Kd), t.bk, "k0", &kl);
    {
      LLVMValueRef k0 = kl.iv;
      LLVMValueRef gk = LLVMBuildAdd(b, k0, kk_a, "");
      LLVMValueRef kin = LLVMBuildICmp(b, LLVMIntSLT, gk, c64(c, Kd), "");
      for (int64_t i = 0; i < a_per && i < 16; ++i)
        for (int part = 0; part < nas; ++part) {
          LLVMValueRef off =
              down ? qiao_cg_iadd(cb, LLVMBuildAdd(b, arow[i], gk, ""), c64(c, part * hlo))
                   : qiao_cg_imadd(cb, arow[i], gk, kd->inputs[0].strides[1]);
          LLVMValueRef p = LLVMBuildGEP2(b, i16, down ? hbase : xp, &off, 1, "");
          LLVMValueRef r =
              qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t.bk), ""), c64(c, i * rstep));
          stage16(cg, p, LLVMBuildAnd(b, ain[i], kin, ""), Asp[part], na,
                  qiao_cg_imadd(cb, kk_a, r, ld));
        }
      for (int q = 0; q < nbm; ++q) {
        const qiao_kd_operand_t *W = &kd->inputs[wi[q]];
        int64_t b_per = (int64_t)t.bn * t.bk / threads, kstep = threads / t.bn;
        LLVMValueRef nn = LLVMBuildURem(b, tid, c64(c, t.bn), "");
        LLVMValueRef gn = LLVMBuildAdd(b, n0, nn, "");
        for (int64_t i = 0; i < b_per; ++i) {
          LLVMValueRef kk =
              qiao_cg_iadd(cb, LLVMBuildUDiv(b, tid, c64(c, t.bn), ""), c64(c, i * kstep));
          LLVMValueRef gkb = LLVMBuildAdd(b, k0, kk, "");
          LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, gkb, c64(c, Kd), ""),
                                         LLVMBuildICmp(b, LLVMIntSLT, gn, c64(c, Nd), ""), "");
          LLVMValueRef off = qiao_cg_imadd(
              cb, qiao_cg_imadd(cb, qiao_cg_imul(cb, e, W->strides[0]), gkb, W->strides[1]), gn,
              W->strides[2]);
          stage16(cg, LLVMBuildGEP2(b, i16, wp[q], &off, 1, ""), in, Bs[q], nbs,
                  qiao_cg_imadd(cb, kk, nn, ld));
        }
      }
      qiao_cuda_barrier(cg);
      for (int ks = 0; ks < t.bk; ks += 16) {
        LLVMValueRef kcol = qiao_cg_iadd(cb, tig2, c64(c, ks));
        LLVMValueRef af[2][4][4];
        for (int part = 0; part < nas; ++part)
          for (int i = 0; i < mt_n; ++i) {
            LLVMValueRef row = qiao_cg_iadd(cb, LLVMBuildAdd(b, wm0, grp, ""), c64(c, i * 16));
            LLVMValueRef base = qiao_cg_imadd(cb, kcol, row, ld);
            LLVMValueRef A = Asp[part];
            af[part][i][0] = pair32(cg, A, na, base);
            af[part][i][1] = pair32(cg, A, na, qiao_cg_iadd(cb, base, c64(c, 8 * ld)));
            af[part][i][2] = pair32(cg, A, na, qiao_cg_iadd(cb, base, c64(c, 8)));
            af[part][i][3] = pair32(cg, A, na, qiao_cg_iadd(cb, base, c64(c, 8 * ld + 8)));
          }
        for (int q = 0; q < nbm; ++q)
          for (int j = 0; j < nt_n; ++j) {
            LLVMValueRef col = qiao_cg_iadd(cb, LLVMBuildAdd(b, wn0, grp, ""), c64(c, j * 8));
            LLVMValueRef base = qiao_cg_imadd(cb, kcol, col, ld);
            LLVMValueRef bfr[2] = {pair32(cg, Bs[q], nbs, base),
                                   pair32(cg, Bs[q], nbs, qiao_cg_iadd(cb, base, c64(c, 8)))};
            for (int i = 0; i < mt_n; ++i) {
              LLVMValueRef cc[4];
              for (int r = 0; r < 4; ++r)
                cc[r] = LLVMBuildLoad2(b, f32, acc[q][i][j][r], "");
              for (int part = 0; part < nas; ++part)
                qiao_cuda_emit_mma(cg, bf16 ? QIAO_CUDA_MMA_BF16 : QIAO_CUDA_MMA_F16, af[part][i],
                                   bfr, cc);
              for (int r = 0; r < 4; ++r)
                LLVMBuildStore(b, cc[r], acc[q][i][j][r]);
            }
          }
      }
      qiao_cuda_barrier(cg);
    }
    qiao_cg_loop_end(cb, &kl);
    /* epilogue: c0..c3 at row grp (+8), column 2·(lane%4) (+1) */
    for (int i = 0; i < mt_n; ++i)
      for (int hh = 0; hh < 2; ++hh) {
        LLVMValueRef gr = qiao_cg_iadd(cb, LLVMBuildAdd(b, m0, LLVMBuildAdd(b, wm0, grp, ""), ""),
                                       c64(c, i * 16 + 8 * hh));
        LLVMBasicBlockRef ri = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, gr, cnt, ""), "r");
        LLVMValueRef a = ld_i(c, ws_i(c, ws, c->o_list, qiao_cg_imadd(cb, gr, e, c->T)));
        for (int j = 0; j < nt_n; ++j)
          for (int r = 2 * hh; r < 2 * hh + 2; ++r) {
            LLVMValueRef gn =
                qiao_cg_iadd(cb, LLVMBuildAdd(b, n0, LLVMBuildAdd(b, wn0, tig2, ""), ""),
                             c64(c, j * 8 + (r & 1)));
            LLVMBasicBlockRef ci =
                qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, gn, c64(c, Nd), ""), "c");
            LLVMValueRef g = LLVMBuildLoad2(b, f32, acc[0][i][j][r], "");
            LLVMValueRef at = qiao_cg_imadd(cb, gn, a, Nd);
            if (!down) {
              LLVMValueRef u = LLVMBuildLoad2(b, f32, acc[1][i][j][r], "");
              LLVMValueRef v =
                  LLVMBuildFMul(b, LLVMBuildFMul(b, g, qiao_cg_emit_sigmoid(cb, g), ""), u, "");
              qiao_cg_store_f32(cb, v, hbase, dt, at, 1);
              if (bf16) { /* the lo part: what bf16(v) missed */
                LLVMValueRef hi = qiao_cg_round_f32(cb, v, dt);
                qiao_cg_store_f32(cb, LLVMBuildFSub(b, v, hi, ""), hbase, dt,
                                  qiao_cg_iadd(cb, at, c64(c, c->T * c->K * c->F)), 1);
              }
            } else {
              LLVMBuildStore(b, g, ws_f(c, ws, c->o_y, at));
            }
            qiao_cg_endif(cb, ci);
          }
        qiao_cg_endif(cb, ri);
      }
  }
  qiao_cg_endif(cb, busy);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  phase_rec(ph, name, grid_cap(cg, total), threads, 2 * (nas * na + nbm * nbs));
}

/* ------------------------------------------------------------ 4. combine */

static void emit_combine(moe_ctx_t *c, const char *name, qiao_cuda_phase_t *ph) {
  qiao_cuda_codegen_t *cg = c->cg;
  qiao_cg_t *cb = &cg->base;
  LLVMBuilderRef b = cg->b;
  LLVMTypeRef f32 = cg->t_f32;
  int32_t block = qiao_cuda_row_block(c->D);
  qiao_cuda_entry_begin(cg, name, c->nb + 1);
  LLVMValueRef ws = qiao_cuda_param(cg, c->nb);
  qiao_cg_loop_t tl, dl, kl;
  qiao_cuda_row_loop_begin(cg, c->T, &tl);
  qiao_cuda_thread_loop_begin(cg, c->D, block, &dl);
  {
    LLVMValueRef y = qiao_cuda_alloca(cg, f32, "y");
    LLVMBuildStore(b, cf(c, 0.0), y);
    qiao_cg_loop_begin(cb, c64(c, 0), c64(c, c->K), 1, "j", &kl);
    LLVMValueRef a = qiao_cg_imadd(cb, kl.iv, tl.iv, c->K);
    LLVMValueRef w = LLVMBuildLoad2(b, f32, ws_f(c, ws, c->o_w, a), "");
    LLVMValueRef yv =
        LLVMBuildLoad2(b, f32, ws_f(c, ws, c->o_y, qiao_cg_imadd(cb, dl.iv, a, c->D)), "");
    LLVMBuildStore(b, qiao_cg_fma(cb, w, yv, LLVMBuildLoad2(b, f32, y, "")), y);
    qiao_cg_loop_end(cb, &kl);
    qiao_cuda_epi_t ep;
    qiao_cuda_epi_init(&ep, cg, c->kd);
    ep.coords[0] = tl.iv;
    ep.coords[1] = dl.iv;
    qiao_cuda_epi_store(&ep, LLVMBuildLoad2(b, f32, y, ""));
  }
  qiao_cg_loop_end(cb, &dl);
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  phase_rec(ph, name, grid_cap(cg, c->T), block, 0);
}

/* Tensor-core expert GEMMs: x and the three expert weights all f16 or all bf16. */
static bool moe_tc_ok(const qiao_kernel_desc_t *kd) {
  qiao_dtype_t wdt = kd->inputs[2].type.dtype;
  return (wdt == QIAO_F16 || wdt == QIAO_BF16) && kd->inputs[0].type.dtype == wdt &&
         kd->inputs[3].type.dtype == wdt && kd->inputs[4].type.dtype == wdt;
}

static bool moe_shape_ok(const qiao_kernel_desc_t *kd) {
  if (kd->kind != QIAO_KD_MOE || kd->n_primary_inputs < 5 || kd->n_outputs != 1) return false;
  int64_t E = kd->inputs[1].type.shape.dims[1];
  return kd->attrs.top_k >= 1 && kd->attrs.top_k <= E && E <= MOE_MAX_E &&
         kd->inputs[0].type.shape.dims[0] * kd->inputs[0].type.shape.dims[1] > 0;
}

int32_t qiao_cuda_moe_variants(const qiao_kernel_desc_t *kd, qiao_kernel_variant_t *out,
                               int32_t cap) {
  if (!moe_shape_ok(kd) || cap < 1) return 0;
  int32_t n = 0;
  if (moe_tc_ok(kd)) {
    out[n].id = QIAO_CUDA_VAR_MOE_TC;
    snprintf(out[n++].name, sizeof out[0].name, "grouped-tc");
  }
  if (n < cap) {
    out[n].id = QIAO_CUDA_VAR_MOE_SIMT;
    snprintf(out[n++].name, sizeof out[0].name, "grouped-simt");
  }
  return n;
}

/* The five launches for the cost model. The expert GEMMs: the experts that
 * get tokens (min(E, T·k)) each read their three weight matrices once; CTAs
 * over (expert, token tile, column tile) for the active experts with T·k / active
 * tokens each (tiles past an expert's count exit at once and are not counted). */
bool qiao_cuda_moe_variant_work(const qiao_kernel_desc_t *kd, int32_t variant, int32_t n_sms,
                                qiao_cuda_variant_work_t *out) {
  memset(out, 0, sizeof *out);
  if (!moe_shape_ok(kd)) return false;
  bool tc = variant == QIAO_CUDA_VAR_MOE_TC;
  if (tc ? !moe_tc_ok(kd) : variant != QIAO_CUDA_VAR_MOE_SIMT) return false;
  double T = (double)kd->inputs[0].type.shape.dims[0], D = (double)kd->inputs[0].type.shape.dims[1];
  double E = (double)kd->inputs[1].type.shape.dims[1], F = (double)kd->inputs[2].type.shape.dims[2];
  double K = (double)kd->attrs.top_k, A = T * K;
  double active = A < E ? A : E, per = A / active;
  double wsz = (double)qiao_dtype_size(kd->inputs[2].type.dtype);
  double xsz = (double)qiao_dtype_size(kd->inputs[0].type.dtype);
  int64_t cap = 32 * (int64_t)(n_sms > 0 ? n_sms : 132);
  int pipe = !tc                                     ? QIAO_CUDA_PIPE_SIMT
             : kd->inputs[2].type.dtype == QIAO_BF16 ? QIAO_CUDA_PIPE_BF16
                                                     : QIAO_CUDA_PIPE_F16;
  for (int i = 0; i < 5; ++i) {
    qiao_cuda_work_t *w = &out->w[i];
    for (int a = 0; a < 3; ++a)
      w->grid[a] = 1, w->block[a] = 1;
    w->block[0] = 256;
  }
  /* route: logits T x D x E, top-k */
  out->w[0].flops[QIAO_CUDA_PIPE_SIMT] = 2 * T * D * E;
  out->w[0].bytes = T * D * xsz + D * E * (double)qiao_dtype_size(kd->inputs[1].type.dtype);
  out->w[0].grid[0] = (int64_t)T < cap ? (int64_t)T : cap;
  /* bucket: a warp per expert over the T·k assignments */
  out->w[1].flops[QIAO_CUDA_PIPE_SIMT] = E * A;
  out->w[1].bytes = 8 * A + 4 * E * (1 + T);
  out->w[1].grid[0] = (int64_t)((E * 32 + 255) / 256);
  /* gate/up and down GEMMs */
  for (int g = 0; g < 2; ++g) {
    qiao_cuda_work_t *w = &out->w[2 + g];
    double n_cols = g ? D : F, k_dim = g ? F : D;
    double bm = tc ? (g ? k_moe_mma_down.bm : k_moe_mma_gateup.bm) : k_moe_tile_default.bm;
    double bn = tc ? (g ? k_moe_mma_down.bn : k_moe_mma_gateup.bn) : k_moe_tile_default.bn;
    w->flops[pipe] = 2 * A * k_dim * n_cols * (g ? 1 : 2);
    w->flops[QIAO_CUDA_PIPE_SIMT] += g ? 0 : 4 * A * F; /* SwiGLU */
    w->bytes =
        active * (g ? 1 : 2) * k_dim * n_cols * wsz + A * k_dim * (g ? 4 : xsz) + A * n_cols * 4;
    double ctas = active * ceil(per / bm) * ceil(n_cols / bn);
    w->grid[0] = (int64_t)ctas < cap ? (int64_t)ctas : cap;
    if (tc) {
      qiao_cuda_moe_mma_tile_t t = g ? k_moe_mma_down : k_moe_mma_gateup;
      w->block[0] = (t.bm / t.wm) * (t.bn / t.wn) * 32;
      w->shared_bytes = 2 * ((g ? 2 : 1) * t.bm * (t.bk + 8) + (g ? 1 : 2) * t.bn * (t.bk + 8));
    } else {
      qiao_cuda_moe_tile_t t = k_moe_tile_default;
      w->block[0] = (t.bm / t.tm) * (t.bn / t.tn);
      w->shared_bytes = 4 * (t.bm * t.bk + (g ? 1 : 2) * t.bk * t.bn);
    }
  }
  /* combine */
  out->w[4].flops[QIAO_CUDA_PIPE_SIMT] = 2 * A * D;
  out->w[4].bytes = A * D * 4 + T * D * (double)qiao_dtype_size(kd->outputs[0].type.dtype);
  out->w[4].grid[0] = (int64_t)T < cap ? (int64_t)T : cap;
  out->n = 5;
  return true;
}

qiao_status_t qiao_cuda_lower_moe(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cuda_kernel_t *out) {
  if (kd->n_primary_inputs < 5 || kd->n_outputs != 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: not a moe descriptor", name);
  moe_ctx_t c;
  memset(&c, 0, sizeof c);
  c.cg = cg;
  c.kd = kd;
  c.T = kd->inputs[0].type.shape.dims[0];
  c.D = kd->inputs[0].type.shape.dims[1];
  c.E = kd->inputs[1].type.shape.dims[1];
  c.F = kd->inputs[2].type.shape.dims[2];
  c.K = kd->attrs.top_k;
  c.nb = kd->n_inputs + kd->n_outputs;
  c.t = k_moe_tile_default;
  if (c.K < 1 || c.K > c.E)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: top_k = %lld but there are %lld experts",
                            name, (long long)c.K, (long long)c.E);
  if (c.E > MOE_MAX_E)
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: %lld experts (at most %d)", name, (long long)c.E,
                            MOE_MAX_E);
  if (strlen(name) + 8 > sizeof out->phases[0].name)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: kernel name too long", name);
  if (c.T * c.D == 0) {
    qiao_cuda_entry_begin(cg, name, c.nb);
    LLVMBuildRetVoid(cg->b);
    out->fn = cg->fn;
    out->block[0] = 32;
    return NULL;
  }
  /* tensor cores when x and the three expert weights are all f16 or all bf16 */
  qiao_dtype_t wdt = kd->inputs[2].type.dtype;
  bool tc = moe_tc_ok(kd);
  if (cg->variant == QIAO_CUDA_VAR_MOE_TC && !tc)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: grouped-tc needs x and the expert weights all f16 or all bf16",
                            name);
  if (cg->variant == QIAO_CUDA_VAR_MOE_SIMT)
    tc = false; /* the SIMT GEMMs widen f16/bf16 in the load */
  else if (cg->variant != 0 && cg->variant != QIAO_CUDA_VAR_MOE_TC)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: %d is not a moe variant", name,
                            (int)cg->variant);
  int64_t A = c.T * c.K;
  c.o_ids = 0;
  c.o_w = al4(A);
  c.o_cnt = c.o_w + al4(A);
  c.o_list = c.o_cnt + al4(c.E);
  c.o_h = c.o_list + al4(c.E * c.T);
  /* H: f32; 16-bit on the tensor-core path (bf16: hi and lo parts) */
  c.o_y = c.o_h + al4(tc ? (wdt == QIAO_BF16 ? A * c.F : (A * c.F + 1) / 2) : A * c.F);
  c.n_ws = c.o_y + al4(A * c.D);
  out->workspace_bytes = 4 * c.n_ws;
  char nm[64];
  emit_route(&c, name, &out->phases[0]);
  out->fn = cg->fn;
  snprintf(nm, sizeof nm, "%s_bucket", name);
  emit_bucket(&c, nm, &out->phases[1]);
  snprintf(nm, sizeof nm, "%s_gateup", name);
  if (tc)
    emit_gemm_mma(&c, nm, false, &out->phases[2]);
  else
    emit_gemm(&c, nm, false, &out->phases[2]);
  snprintf(nm, sizeof nm, "%s_down", name);
  if (tc)
    emit_gemm_mma(&c, nm, true, &out->phases[3]);
  else
    emit_gemm(&c, nm, true, &out->phases[3]);
  snprintf(nm, sizeof nm, "%s_combine", name);
  emit_combine(&c, nm, &out->phases[4]);
  out->n_phases = 5;
  for (int a = 0; a < 3; ++a) {
    out->grid[a] = out->phases[0].grid[a];
    out->block[a] = out->phases[0].block[a];
  }
  out->shared_bytes = out->phases[0].shared_bytes;
  return NULL;
}
