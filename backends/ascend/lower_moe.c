/* Ascend backend — MOE (SwiGLU experts) as a mixed kernel, one block per
 * group of 1 AIC + 2 AIV, tiles of 16 tokens looped over the groups:
 *
 *   routing   AIC  logits = X_tile · router (Mmad, f32) -> GM workspace;
 *                  CrossCoreSetFlag(0)
 *             AIV  (8 tokens each) softmax (ReduceMax, Exp, ReduceSum, Div)
 *                  or Sigmoid over the experts; top_k rounds of ReduceMax
 *                  with calIndex (NaN first, ties to the lower index), the
 *                  scalar reads value and index (GetValue) and masks the
 *                  expert with a masked Duplicate(-inf); weights divided by
 *                  their sum when norm_topk;          CrossCoreSetFlag(1)
 *   per expert e chosen by some token of the tile (the scalar builds its
 *   list of (token, weight)):
 *     gather  AIV 1: the tokens' x rows GM->UB->GM workspace (contiguous)
 *     gate/up AIC: X_e · gate_e, X_e · up_e (Mmad, f32) -> workspace
 *     SwiGLU  AIV: h = silu(g) · u, cast to the input dtype -> workspace
 *     down    AIC: Y = H · down_e (f32) -> workspace
 *     combine AIV: acc[token] += w · Y[slot] (Duplicate w, Mul, Add)
 *   out       AIV: acc cast to the output dtype, rows -> GM
 *
 * Each hand-over goes through the GM workspace with a cross-core flag (ids
 * 0..5). The top-k choices reach the AIC's control flow through the scalar
 * values the AIVs read (on a board the AIC's scalar would read them from GM
 * after flag 1). Expert weights are loaded per tile of tokens. The hidden
 * activation is rounded to the input dtype for the cube (the interpreter
 * keeps f64: the difference is that rounding, within the f16/bf16
 * tolerance). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

enum { MO_BT = 16, MO_HT = 8 };

typedef struct mo_plan {
  int64_t T, D, E, F, K, Dp, Ep, Fp;
  int64_t es, c0; /* input element bytes; fractal columns (16 f16/bf16, 8 f32) */
  bool norm, sigmoid;
  qiao_dtype_t dt, odt;
  int64_t l1_x, l1_r, l1_w, l1_h, l1_end, a_h, a_end, b_end, c_g, c_u, c_y, c_end;
  int64_t ub_lg, ub_t, ub_r, ub_idx, ub_xg, ub_g, ub_u, ub_h, ub_y, ub_w, ub_acc, ub_out, ub_end;
  int64_t ws_lg, ws_xg, ws_g, ws_u, ws_h, ws_y, ws_group;
} mo_plan_t;

static int64_t al(int64_t v, int64_t a) { return (v + a - 1) / a * a; }
static int64_t mx(int64_t a, int64_t b) { return a > b ? a : b; }

static void mo_make_plan(const qiao_kernel_desc_t *kd, mo_plan_t *p) {
  memset(p, 0, sizeof *p);
  const qiao_shape_t *xs = &kd->inputs[0].type.shape, *rs = &kd->inputs[1].type.shape,
                     *gs = &kd->inputs[2].type.shape;
  p->T = xs->dims[0];
  p->D = xs->dims[1];
  p->E = rs->dims[1];
  p->F = gs->dims[2];
  p->K = kd->attrs.top_k;
  p->norm = kd->attrs.norm_topk;
  p->sigmoid = kd->attrs.router_fn == QIAO_ROUTER_SIGMOID;
  p->dt = kd->inputs[0].type.dtype;
  p->odt = kd->outputs[0].type.dtype;
  p->Dp = al(p->D, 16);
  p->Ep = al(p->E, 16);
  p->Fp = al(p->F, 16);
  int64_t es = qiao_dtype_size(p->dt);
  p->es = es;
  p->c0 = 32 / es;
  p->l1_x = 0;
  p->l1_r = al(MO_BT * p->Dp * es, 512);
  p->l1_w = p->l1_r + al(p->Dp * p->Ep * es, 512);
  p->l1_h = p->l1_w + al(p->Dp * p->Fp * es, 512);
  p->l1_end = p->l1_h + al(MO_BT * p->Fp * es, 512);
  p->a_h = al(MO_BT * p->Dp * es, 512);
  p->a_end = p->a_h + MO_BT * p->Fp * es;
  p->b_end = mx(p->Dp * p->Ep, p->Dp * p->Fp) * es;
  p->c_g = al(MO_BT * p->Ep * 4, 1024);
  p->c_u = p->c_g + al(MO_BT * p->Fp * 4, 1024);
  p->c_y = p->c_u + al(MO_BT * p->Fp * 4, 1024);
  p->c_end = p->c_y + MO_BT * p->Dp * 4;
  int64_t at = 0;
#define UB(field, bytes)                                                                           \
  p->field = at;                                                                                   \
  at += al(bytes, 32)
  UB(ub_lg, MO_HT * p->Ep * 4);
  UB(ub_t, MO_HT * p->Ep * 4);
  UB(ub_r, MO_HT * 4);
  UB(ub_idx, 8);
  UB(ub_xg, MO_BT * p->Dp * es);
  UB(ub_g, MO_HT * p->Fp * 4);
  UB(ub_u, MO_HT * p->Fp * 4);
  UB(ub_h, MO_HT * p->Fp * es);
  UB(ub_y, p->Dp * 4);
  UB(ub_w, p->Dp * 4);
  UB(ub_acc, MO_HT * p->Dp * 4);
  UB(ub_out, MO_HT * p->Dp * 4);
#undef UB
  p->ub_end = at;
  at = 0;
  p->ws_lg = at;
  at += MO_BT * p->Ep * 4;
  p->ws_xg = at;
  at += MO_BT * p->Dp * es;
  p->ws_g = at;
  at += MO_BT * p->Fp * 4;
  p->ws_u = at;
  at += MO_BT * p->Fp * 4;
  p->ws_h = at;
  at += MO_BT * p->Fp * es;
  p->ws_y = at;
  at += MO_BT * p->Dp * 4;
  p->ws_group = at;
}

bool ascend_moe_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_expr > 0 || kd->has_norm_prologue || kd->n_outputs != 1 || kd->n_inputs != 5) {
    snprintf(reason, cap,
             "moe with a fused epilogue or prologue (not lowered for the Ascend "
             "class yet)");
    return false;
  }
  qiao_dtype_t dt = kd->inputs[0].type.dtype;
  for (int i = 0; i < 5; ++i)
    if (kd->inputs[i].type.dtype != dt || (dt != QIAO_F16 && dt != QIAO_BF16 && dt != QIAO_F32)) {
      snprintf(reason, cap,
               "moe on %s operands: the cube lowering takes operands all f16, bf16 or f32 (as the "
               "matmul: no mixed dtypes)",
               qiao_dtype_name(kd->inputs[i].type.dtype));
      return false;
    }
  qiao_dtype_t ot = kd->outputs[0].type.dtype;
  if (ot != QIAO_F32 && ot != QIAO_F16 && ot != QIAO_BF16) {
    snprintf(reason, cap, "moe into %s", qiao_dtype_name(ot));
    return false;
  }
  mo_plan_t p;
  mo_make_plan(kd, &p);
  const qiao_kd_operand_t *in = kd->inputs;
  bool contiguous = in[0].strides[1] == 1 && in[0].strides[0] == p.D && in[1].strides[1] == 1 &&
                    in[1].strides[0] == p.E && kd->outputs[0].strides[1] == 1 &&
                    kd->outputs[0].strides[0] == p.D;
  for (int i = 2; i < 5; ++i) {
    const qiao_shape_t *s = &in[i].type.shape;
    contiguous = contiguous && s->rank == 3 && in[i].strides[2] == 1 &&
                 in[i].strides[1] == s->dims[2] && in[i].strides[0] == s->dims[1] * s->dims[2];
  }
  if (!contiguous) {
    snprintf(reason, cap, "moe with strided operands (not lowered for the Ascend class yet)");
    return false;
  }
  if (p.K < 1 || p.K > p.E || p.D <= 0 || p.F <= 0) {
    snprintf(reason, cap, "moe with top_k %lld of %lld experts, D %lld, F %lld", (long long)p.K,
             (long long)p.E, (long long)p.D, (long long)p.F);
    return false;
  }
  return true;
}

qiao_status_t ascend_moe_check(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info) {
  mo_plan_t p;
  mo_make_plan(kd, &p);
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
                              "ascend: %s overflow: moe tiles (16 tokens, D %lld, E %lld, F %lld; "
                              "no K/N tiling of the expert GEMMs yet) need %lld bytes of %s, the "
                              "device has %lld",
                              b[i].name, (long long)p.D, (long long)p.E, (long long)p.F,
                              (long long)b[i].need, b[i].name, (long long)b[i].have);
  return NULL;
}

uint64_t ascend_moe_workspace(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info) {
  mo_plan_t p;
  mo_make_plan(kd, &p);
  return (uint64_t)(p.ws_group * info->aic);
}

/* ------------------------------------------------------------ emission */

typedef struct mo_ctx {
  ascend_module_t *m;
  const mo_plan_t *p;
  LLVMValueRef core, aic, aiv[2], ws;
} mo_ctx_t;

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }
static LLVMValueRef F(ascend_module_t *m, double v) { return LLVMConstReal(m->t_f64, v); }

static void iflag(ascend_module_t *m, LLVMValueRef core, int src, int dst) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), I(m, 0)};
  ascend_uop(m, "qiao_ascend_set_flag", a, 4, NULL);
  ascend_uop(m, "qiao_ascend_wait_flag", a, 4, NULL);
}
static void xset(ascend_module_t *m, LLVMValueRef core, int pipe, int id, const char *note) {
  LLVMValueRef a[3] = {core, I(m, pipe), I(m, id)};
  ascend_uop(m, "qiao_ascend_cross_set_flag", a, 3, note);
}
static void xwait(ascend_module_t *m, LLVMValueRef core, int id, const char *note) {
  LLVMValueRef a[2] = {core, I(m, id)};
  ascend_uop(m, "qiao_ascend_cross_wait_flag", a, 2, note);
}
static LLVMValueRef gep(ascend_module_t *m, LLVMValueRef base, LLVMValueRef bytes) {
  return LLVMBuildGEP2(m->b, m->t_i8, base, (LLVMValueRef[]){bytes}, 1, "");
}
static void vbin(ascend_module_t *m, LLVMValueRef c, const char *op, LLVMValueRef d, LLVMValueRef a,
                 LLVMValueRef b, int64_t n, const char *note) {
  LLVMValueRef x[6] = {c, I(m, QIAO_ASCEND_F32), d, a, b, I(m, n)};
  ascend_uop(m, op, x, 6, note);
}
static void vun(ascend_module_t *m, LLVMValueRef c, const char *op, int64_t d, int64_t s, int64_t n,
                const char *note) {
  LLVMValueRef x[5] = {c, I(m, QIAO_ASCEND_F32), I(m, d), I(m, s), I(m, n)};
  ascend_uop(m, op, x, 5, note);
}
static void vdup(ascend_module_t *m, LLVMValueRef c, int64_t dt, int64_t d, LLVMValueRef v,
                 int64_t n, const char *note) {
  LLVMValueRef x[5] = {c, I(m, dt), I(m, d), v, I(m, n)};
  ascend_uop(m, "qiao_ascend_vdup", x, 5, note);
}
static void vcast(ascend_module_t *m, LLVMValueRef c, int64_t ddt, int64_t d, int64_t sdt,
                  int64_t s, int64_t n, const char *note) {
  LLVMValueRef x[6] = {c, I(m, ddt), I(m, d), I(m, sdt), I(m, s), I(m, n)};
  ascend_uop(m, "qiao_ascend_vcast", x, 6, note);
}
static void vreduce(ascend_module_t *m, LLVMValueRef c, bool is_max, int64_t d, int64_t s,
                    int64_t rows, int64_t cols, const char *note) {
  LLVMValueRef x[6] = {c, I(m, QIAO_ASCEND_F32), I(m, d), I(m, s), I(m, rows), I(m, cols)};
  ascend_uop(m, is_max ? "qiao_ascend_vreduce_max" : "qiao_ascend_vreduce_sum", x, 6, note);
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
static void row_bcast(ascend_module_t *m, LLVMValueRef c, int64_t dst, int64_t src, int64_t cols,
                      const char *note) {
  int64_t dims[2] = {MO_HT, cols}, strides[2] = {1, 0};
  LLVMValueRef x[10] = {c,
                        I(m, QIAO_ASCEND_F32),
                        I(m, dst),
                        I(m, src),
                        I(m, MO_HT),
                        I(m, 0),
                        I(m, MO_HT * cols),
                        I(m, 2),
                        const_i64s(m, dims, 2, "mo_dims"),
                        const_i64s(m, strides, 2, "mo_strides")};
  ascend_uop(m, "qiao_ascend_vbroadcast", x, 10, note);
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

/* GM -> L1 (ND2NZ) of a rows x cols matrix. */
static void nd2nz(ascend_module_t *m, LLVMValueRef c, int64_t l1, LLVMValueRef src, int64_t dt,
                  LLVMValueRef rows, int64_t cols, int64_t ld, int64_t dst_rows, int64_t dst_cols,
                  const char *note) {
  LLVMValueRef a[10] = {
      c,      I(m, l1), src, I(m, dt), rows, I(m, cols), I(m, ld), I(m, dst_rows), I(m, dst_cols),
      I(m, 0)};
  ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", a, 10, note);
}
static void load(ascend_module_t *m, LLVMValueRef c, bool a_side, int64_t l0, int64_t l1,
                 int64_t dt, int64_t fractals, const char *note) {
  LLVMValueRef x[5] = {c, I(m, l0), I(m, l1), I(m, dt), I(m, fractals)};
  ascend_uop(m, a_side ? "qiao_ascend_load_l1_to_l0a" : "qiao_ascend_load_l1_to_l0b", x, 5, note);
}
static void mmad(ascend_module_t *m, LLVMValueRef c, int64_t l0c, int64_t l0a, int64_t dt,
                 int64_t k, int64_t n, const char *note) {
  LLVMValueRef x[9] = {c,           I(m, l0c), I(m, l0a), I(m, 0), I(m, dt),
                       I(m, MO_BT), I(m, k),   I(m, n),   I(m, 1)};
  ascend_uop(m, "qiao_ascend_mmad", x, 9, note);
}
static void fixpipe(ascend_module_t *m, LLVMValueRef c, LLVMValueRef dst, int64_t l0c, int64_t n,
                    const char *note) {
  LLVMValueRef x[9] = {c,           dst,         I(m, QIAO_ASCEND_F32),
                       I(m, l0c),   I(m, MO_BT), I(m, n),
                       I(m, MO_BT), I(m, n),     I(m, n)};
  ascend_uop(m, "qiao_ascend_fixpipe_l0c_to_gm", x, 9, note);
}

static LLVMValueRef elem(ascend_module_t *m, LLVMTypeRef t, LLVMValueRef arr, int64_t n,
                         LLVMValueRef i) {
  LLVMValueRef idx[2] = {I(m, 0), i};
  return LLVMBuildInBoundsGEP2(m->b, LLVMArrayType2(t, (uint64_t)n), arr, idx, 2, "");
}

qiao_status_t ascend_lower_moe(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn) {
  mo_plan_t P;
  mo_make_plan(kd, &P);
  const mo_plan_t *p = &P;
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0);
  LLVMValueRef gm[7];
  for (int k = 0; k < 7; ++k)
    gm[k] = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
  int64_t es = qiao_dtype_size(p->dt), oes = qiao_dtype_size(p->odt);
  int64_t adt = ascend_dtype(p->dt), aodt = ascend_dtype(p->odt), F32 = QIAO_ASCEND_F32;
  int64_t NA = MO_BT * p->K; /* assignments of a tile */
  LLVMTypeRef ai = LLVMArrayType2(m->t_i64, (uint64_t)NA),
              af = LLVMArrayType2(m->t_f64, (uint64_t)NA);
  LLVMValueRef ids = qiao_cg_alloca(cg, fn, ai, "ids"), wts = qiao_cg_alloca(cg, fn, af, "wts");
  LLVMValueRef lt = qiao_cg_alloca(cg, fn, ai, "list_tok"),
               lw = qiao_cg_alloca(cg, fn, af, "list_w");
  LLVMValueRef cntp = qiao_cg_alloca(cg, fn, m->t_i64, "cnt");
  int64_t ntile = (p->T + MO_BT - 1) / MO_BT;
  ascend_listing_printf(m,
                        "  mix plan: %lld tiles of %d tokens, %lld experts (top %lld, %s%s), "
                        "per group workspace %lld B; AIC L1 %lld B, L0A %lld, L0B %lld, L0C "
                        "%lld; AIV UB %lld B\n",
                        (long long)ntile, MO_BT, (long long)p->E, (long long)p->K,
                        p->sigmoid ? "sigmoid" : "softmax", p->norm ? ", normalized" : "",
                        (long long)p->ws_group, (long long)p->l1_end, (long long)p->a_end,
                        (long long)p->b_end, (long long)p->c_end, (long long)p->ub_end);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  LLVMValueRef aic = mix_core(m, core, 0);
  LLVMValueRef aiv[2] = {mix_core(m, core, 1), mix_core(m, core, 2)};
  LLVMValueRef ws = gep(m, gm[6], qiao_cg_imul(cg, blk, p->ws_group));
  vdup(m, aiv[0], adt, p->ub_xg, F(m, 0.0), MO_BT * p->Dp, "gather tile");
  LLVMValueRef rem = LLVMBuildSub(b, I(m, ntile), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  ascend_listing_printf(m, "  loop over this group's token tiles:\n");
  qiao_cg_loop_t il;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "tile", &il);
  LLVMValueRef t0 =
      qiao_cg_imul(cg, LLVMBuildAdd(b, blk, LLVMBuildMul(b, il.iv, bn, ""), ""), MO_BT);
  LLVMValueRef nt = qiao_cg_imin(cg, I(m, MO_BT), LLVMBuildSub(b, I(m, p->T), t0, ""));
  /* ---- routing: logits on the cube */
  ascend_listing_printf(m, "    AIC: logits = X · router\n");
  nd2nz(m, aic, p->l1_x, gep(m, gm[0], qiao_cg_imul(cg, t0, p->D * es)), adt, nt, p->D, p->D, MO_BT,
        p->Dp, "X tile");
  nd2nz(m, aic, p->l1_r, gm[1], adt, I(m, p->D), p->E, p->E, p->Dp, p->Ep, "router");
  iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
  load(m, aic, true, 0, p->l1_x, adt, p->Dp / p->c0, "X fractals");
  load(m, aic, false, 0, p->l1_r, adt, (p->Dp / 16) * (p->Ep / p->c0), "router fractals");
  iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
  mmad(m, aic, 0, 0, adt, p->Dp, p->Ep, "logits");
  iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
  fixpipe(m, aic, gep(m, ws, I(m, p->ws_lg)), 0, p->Ep, "logits -> GM workspace");
  xset(m, aic, QIAO_ASCEND_PIPE_FIX, 0, "logits ready");
  /* ---- routing: scores and top-k on the vector units */
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "    AIV %d: scores and top-%lld of tokens %d..%d\n", h + 1,
                          (long long)p->K, h * MO_HT, h * MO_HT + MO_HT - 1);
    xwait(m, v, 0, "logits ready");
    LLVMValueRef c[4] = {v, I(m, p->ub_lg), gep(m, ws, I(m, p->ws_lg + h * MO_HT * p->Ep * 4)),
                         I(m, MO_HT * p->Ep * 4)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub", c, 4, "logit rows");
    iflag(m, v, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
    for (int r = 0; r < MO_HT; ++r) {
      LLVMValueRef x[7] = {
          v,          I(m, F32),  I(m, p->ub_lg + r * p->Ep * 4), F(m, -INFINITY), I(m, p->Ep),
          I(m, p->E), I(m, p->Ep)};
      ascend_uop(m, "qiao_ascend_vdup_masked", x, 7, r ? NULL : "padding experts: -inf (x8)");
    }
    if (p->sigmoid) {
      vun(m, v, "qiao_ascend_vsigmoid", p->ub_lg, p->ub_lg, MO_HT * p->Ep, "scores = sigmoid");
    } else {
      vreduce(m, v, true, p->ub_r, p->ub_lg, MO_HT, p->Ep, "row max");
      row_bcast(m, v, p->ub_t, p->ub_r, p->Ep, NULL);
      vbin(m, v, "qiao_ascend_vsub", I(m, p->ub_lg), I(m, p->ub_lg), I(m, p->ub_t), MO_HT * p->Ep,
           NULL);
      vun(m, v, "qiao_ascend_vexp", p->ub_lg, p->ub_lg, MO_HT * p->Ep, NULL);
      vreduce(m, v, false, p->ub_r, p->ub_lg, MO_HT, p->Ep, "row sum");
      row_bcast(m, v, p->ub_t, p->ub_r, p->Ep, NULL);
      vbin(m, v, "qiao_ascend_vdiv", I(m, p->ub_lg), I(m, p->ub_lg), I(m, p->ub_t), MO_HT * p->Ep,
           "scores = softmax");
    }
    for (int r = 0; r < MO_HT; ++r) {
      LLVMValueRef x[7] = {
          v,          I(m, F32),  I(m, p->ub_lg + r * p->Ep * 4), F(m, -INFINITY), I(m, p->Ep),
          I(m, p->E), I(m, p->Ep)};
      ascend_uop(m, "qiao_ascend_vdup_masked", x, 7, NULL);
    }
    /* top-k per token: ReduceMax with index, the scalar reads, mask it */
    ascend_listing_printf(m, "      per token, top_k rounds:\n");
    for (int r = 0; r < MO_HT; ++r) {
      LLVMValueRef sum = F(m, 0.0);
      for (int64_t j = 0; j < p->K; ++j) {
        LLVMValueRef x[4] = {v, I(m, p->ub_idx), I(m, p->ub_lg + r * p->Ep * 4), I(m, p->Ep)};
        ascend_uop(m, "qiao_ascend_vreduce_max_idx", x, 4, r || j ? NULL : "best expert left");
        iflag(m, v, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_S);
        LLVMValueRef g0[2] = {v, I(m, p->ub_idx)}, g1[2] = {v, I(m, p->ub_idx + 4)};
        LLVMValueRef bits =
            ascend_uop(m, "qiao_ascend_get_ub_bits32", g0, 2, r || j ? NULL : "its score (scalar)");
        LLVMValueRef idx =
            ascend_uop(m, "qiao_ascend_get_ub_bits32", g1, 2, r || j ? NULL : "its index (scalar)");
        LLVMValueRef score = LLVMBuildFPExt(
            b, LLVMBuildBitCast(b, LLVMBuildTrunc(b, bits, m->t_i32, ""), m->t_f32, ""), m->t_f64,
            "score");
        int64_t a = (h * MO_HT + r) * p->K + j;
        LLVMBuildStore(b, idx, elem(m, m->t_i64, ids, NA, I(m, a)));
        LLVMBuildStore(b, score, elem(m, m->t_f64, wts, NA, I(m, a)));
        sum = LLVMBuildFAdd(b, sum, score, "");
        LLVMValueRef x2[7] = {
            v,           I(m, F32), I(m, p->ub_lg + r * p->Ep * 4),   F(m, -INFINITY),
            I(m, p->Ep), idx,       LLVMBuildAdd(b, idx, I(m, 1), "")};
        ascend_uop(m, "qiao_ascend_vdup_masked", x2, 7, r || j ? NULL : "taken: -inf");
      }
      if (p->norm)
        for (int64_t j = 0; j < p->K; ++j) {
          LLVMValueRef ptr = elem(m, m->t_f64, wts, NA, I(m, (h * MO_HT + r) * p->K + j));
          LLVMBuildStore(b, LLVMBuildFDiv(b, LLVMBuildLoad2(b, m->t_f64, ptr, ""), sum, ""), ptr);
        }
    }
    xset(m, v, QIAO_ASCEND_PIPE_S, 1, "routing ready");
    vdup(m, v, F32, p->ub_acc, F(m, 0.0), MO_HT * p->Dp, "token accumulators");
  }
  xwait(m, aic, 1, "routing ready (both AIVs)");
  /* ---- experts */
  ascend_listing_printf(m, "    loop over the experts chosen in this tile:\n");
  qiao_cg_loop_t el;
  qiao_cg_loop_begin(cg, I(m, 0), I(m, p->E), 1, "expert", &el);
  LLVMValueRef e = el.iv;
  LLVMBuildStore(b, I(m, 0), cntp);
  {
    qiao_cg_loop_t al_;
    qiao_cg_loop_begin(cg, I(m, 0), LLVMBuildMul(b, nt, I(m, p->K), ""), 1, "asg", &al_);
    LLVMValueRef id = LLVMBuildLoad2(b, m->t_i64, elem(m, m->t_i64, ids, NA, al_.iv), "");
    LLVMBasicBlockRef cont = qiao_cg_if(cg, LLVMBuildICmp(b, LLVMIntEQ, id, e, ""), "chosen");
    LLVMValueRef n = LLVMBuildLoad2(b, m->t_i64, cntp, "");
    LLVMBuildStore(b, LLVMBuildSDiv(b, al_.iv, I(m, p->K), ""), elem(m, m->t_i64, lt, NA, n));
    LLVMBuildStore(b, LLVMBuildLoad2(b, m->t_f64, elem(m, m->t_f64, wts, NA, al_.iv), ""),
                   elem(m, m->t_f64, lw, NA, n));
    LLVMBuildStore(b, LLVMBuildAdd(b, n, I(m, 1), ""), cntp);
    qiao_cg_endif(cg, cont);
    qiao_cg_loop_end(cg, &al_);
  }
  LLVMValueRef cnt = LLVMBuildLoad2(b, m->t_i64, cntp, "cnt");
  LLVMBasicBlockRef has = qiao_cg_if(cg, LLVMBuildICmp(b, LLVMIntSGT, cnt, I(m, 0), ""), "used");
  ascend_listing_printf(m, "      AIV 1: gather the expert's token rows -> GM workspace\n");
  {
    qiao_cg_loop_t sl;
    qiao_cg_loop_begin(cg, I(m, 0), cnt, 1, "slot", &sl);
    LLVMValueRef tok = LLVMBuildAdd(
        b, t0, LLVMBuildLoad2(b, m->t_i64, elem(m, m->t_i64, lt, NA, sl.iv), ""), "tok");
    LLVMValueRef c[4] = {aiv[0],
                         LLVMBuildAdd(b, I(m, p->ub_xg), qiao_cg_imul(cg, sl.iv, p->Dp * es), ""),
                         gep(m, gm[0], qiao_cg_imul(cg, tok, p->D * es)), I(m, p->D * es)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", c, 4, "x row of a token");
    qiao_cg_loop_end(cg, &sl);
    iflag(m, aiv[0], QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE3);
    LLVMValueRef o[4] = {aiv[0], gep(m, ws, I(m, p->ws_xg)), I(m, p->ub_xg),
                         I(m, MO_BT * p->Dp * es)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm", o, 4, "gathered tile");
    xset(m, aiv[0], QIAO_ASCEND_PIPE_MTE3, 2, "tokens gathered");
    xset(m, aiv[1], QIAO_ASCEND_PIPE_MTE3, 2, NULL);
  }
  ascend_listing_printf(m, "      AIC: G = X_e · gate_e, U = X_e · up_e\n");
  {
    xwait(m, aic, 2, "tokens gathered");
    nd2nz(m, aic, p->l1_x, gep(m, ws, I(m, p->ws_xg)), adt, I(m, MO_BT), p->D, p->Dp, MO_BT, p->Dp,
          "gathered X");
    nd2nz(m, aic, p->l1_w, gep(m, gm[2], qiao_cg_imul(cg, e, p->D * p->F * es)), adt, I(m, p->D),
          p->F, p->F, p->Dp, p->Fp, "gate_e");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
    load(m, aic, true, 0, p->l1_x, adt, p->Dp / p->c0, NULL);
    load(m, aic, false, 0, p->l1_w, adt, (p->Dp / 16) * (p->Fp / p->c0), NULL);
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
    mmad(m, aic, p->c_g, 0, adt, p->Dp, p->Fp, "G");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2);
    nd2nz(m, aic, p->l1_w, gep(m, gm[3], qiao_cg_imul(cg, e, p->D * p->F * es)), adt, I(m, p->D),
          p->F, p->F, p->Dp, p->Fp, "up_e");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
    load(m, aic, false, 0, p->l1_w, adt, (p->Dp / 16) * (p->Fp / p->c0), NULL);
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
    mmad(m, aic, p->c_u, 0, adt, p->Dp, p->Fp, "U");
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
    fixpipe(m, aic, gep(m, ws, I(m, p->ws_g)), p->c_g, p->Fp, "G -> GM workspace");
    fixpipe(m, aic, gep(m, ws, I(m, p->ws_u)), p->c_u, p->Fp, "U -> GM workspace");
    xset(m, aic, QIAO_ASCEND_PIPE_FIX, 3, "G, U ready");
  }
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "      AIV %d: H = silu(G) · U\n", h + 1);
    xwait(m, v, 3, "G, U ready");
    LLVMValueRef c[4] = {v, I(m, p->ub_g), gep(m, ws, I(m, p->ws_g + h * MO_HT * p->Fp * 4)),
                         I(m, MO_HT * p->Fp * 4)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub", c, 4, "G rows");
    LLVMValueRef d[4] = {v, I(m, p->ub_u), gep(m, ws, I(m, p->ws_u + h * MO_HT * p->Fp * 4)),
                         I(m, MO_HT * p->Fp * 4)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub", d, 4, "U rows");
    iflag(m, v, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
    vun(m, v, "qiao_ascend_vsilu", p->ub_g, p->ub_g, MO_HT * p->Fp, NULL);
    vbin(m, v, "qiao_ascend_vmul", I(m, p->ub_g), I(m, p->ub_g), I(m, p->ub_u), MO_HT * p->Fp,
         NULL);
    vcast(m, v, adt, p->ub_h, F32, p->ub_g, MO_HT * p->Fp, "H to the input dtype");
    iflag(m, v, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
    LLVMValueRef o[4] = {v, gep(m, ws, I(m, p->ws_h + h * MO_HT * p->Fp * es)), I(m, p->ub_h),
                         I(m, MO_HT * p->Fp * es)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm", o, 4, "H rows -> GM workspace");
    xset(m, v, QIAO_ASCEND_PIPE_MTE3, 4, "H ready");
  }
  ascend_listing_printf(m, "      AIC: Y = H · down_e\n");
  {
    xwait(m, aic, 4, "H ready (both AIVs)");
    nd2nz(m, aic, p->l1_h, gep(m, ws, I(m, p->ws_h)), adt, I(m, MO_BT), p->F, p->Fp, MO_BT, p->Fp,
          "H");
    nd2nz(m, aic, p->l1_w, gep(m, gm[4], qiao_cg_imul(cg, e, p->F * p->D * es)), adt, I(m, p->F),
          p->D, p->D, p->Fp, p->Dp, "down_e");
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
    load(m, aic, true, p->a_h, p->l1_h, adt, p->Fp / p->c0, NULL);
    load(m, aic, false, 0, p->l1_w, adt, (p->Fp / 16) * (p->Dp / p->c0), NULL);
    iflag(m, aic, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
    mmad(m, aic, p->c_y, p->a_h, adt, p->Fp, p->Dp, "Y");
    iflag(m, aic, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
    fixpipe(m, aic, gep(m, ws, I(m, p->ws_y)), p->c_y, p->Dp, "Y -> GM workspace");
    xset(m, aic, QIAO_ASCEND_PIPE_FIX, 5, "Y ready");
  }
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "      AIV %d: acc[token] += w · Y[slot] for its tokens\n", h + 1);
    xwait(m, v, 5, "Y ready");
    qiao_cg_loop_t sl;
    qiao_cg_loop_begin(cg, I(m, 0), cnt, 1, "slot", &sl);
    LLVMValueRef tl = LLVMBuildLoad2(b, m->t_i64, elem(m, m->t_i64, lt, NA, sl.iv), "tl");
    LLVMBasicBlockRef mine = qiao_cg_if(
        cg, LLVMBuildICmp(b, LLVMIntEQ, LLVMBuildSDiv(b, tl, I(m, MO_HT), ""), I(m, h), ""),
        "mine");
    LLVMValueRef c[4] = {
        v, I(m, p->ub_y),
        gep(m, ws, LLVMBuildAdd(b, I(m, p->ws_y), qiao_cg_imul(cg, sl.iv, p->Dp * 4), "")),
        I(m, p->Dp * 4)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub", c, 4, "Y row");
    iflag(m, v, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
    vdup(m, v, F32, p->ub_w, LLVMBuildLoad2(b, m->t_f64, elem(m, m->t_f64, lw, NA, sl.iv), ""),
         p->Dp, "routing weight");
    vbin(m, v, "qiao_ascend_vmul", I(m, p->ub_y), I(m, p->ub_y), I(m, p->ub_w), p->Dp, NULL);
    LLVMValueRef acc = LLVMBuildAdd(
        b, I(m, p->ub_acc), qiao_cg_imul(cg, LLVMBuildSRem(b, tl, I(m, MO_HT), ""), p->Dp * 4), "");
    vbin(m, v, "qiao_ascend_vadd", acc, acc, I(m, p->ub_y), p->Dp, "acc[token] +=");
    qiao_cg_endif(cg, mine);
    qiao_cg_loop_end(cg, &sl);
  }
  qiao_cg_endif(cg, has);
  qiao_cg_loop_end(cg, &el);
  ascend_listing_printf(m, "    end experts\n");
  for (int h = 0; h < 2; ++h) {
    LLVMValueRef v = aiv[h];
    ascend_listing_printf(m, "    AIV %d: outputs of its tokens -> GM\n", h + 1);
    vcast(m, v, aodt, p->ub_out, F32, p->ub_acc, MO_HT * p->Dp, "to the output dtype");
    iflag(m, v, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
    LLVMValueRef nr = qiao_cg_imax(
        cg, I(m, 0), qiao_cg_imin(cg, I(m, MO_HT), LLVMBuildSub(b, nt, I(m, h * MO_HT), "")));
    qiao_cg_loop_t rl;
    qiao_cg_loop_begin(cg, I(m, 0), nr, 1, "row", &rl);
    LLVMValueRef tok = LLVMBuildAdd(b, t0, LLVMBuildAdd(b, rl.iv, I(m, h * MO_HT), ""), "");
    LLVMValueRef c[4] = {v, gep(m, gm[5], qiao_cg_imul(cg, tok, p->D * oes)),
                         LLVMBuildAdd(b, I(m, p->ub_out), qiao_cg_imul(cg, rl.iv, p->Dp * oes), ""),
                         I(m, p->D * oes)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", c, 4, "output row");
    qiao_cg_loop_end(cg, &rl);
  }
  qiao_cg_loop_end(cg, &il);
  ascend_listing_printf(m, "  end loop\n");
  LLVMBuildRetVoid(b);
  return NULL;
}
