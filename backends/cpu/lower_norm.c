/* CPU backend — NORM kernels (rms_norm, layer_norm over the last axis).
 *
 * One row per iteration, rows split over workgroups. Statistics are
 * accumulated in <vec x f64> (layer_norm: mean first, then the centred sum of
 * squares, two passes for accuracy): f64 cannot overflow on squares of f32
 * values (3e38² = 9e76) nor lose a row to cancellation, so rows holding huge
 * finite values normalize as the interpreter's f64 does. The output pass
 * scales in f64, rounds to f32 once, multiplies by the weight (and adds the
 * bias), applies the epilogue and stores. The kernel is memory-bound: the
 * wider statistics cost no measurable time. */
#include "cpu/lower_common.h"

typedef struct nm_ctx {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  qk_epi_t *epi;
  LLVMValueRef xp, wp, bp, outp, xbase;
  LLVMValueRef accv, accs; /* allocas */
  LLVMValueRef mean, inv;  /* scalars */
  int pass;                /* 0: sum, 1: sum of squares, 2: output */
  bool layer;
  int rank;
} nm_ctx_t;

static void nm_body(nm_ctx_t *c, LLVMValueRef j, unsigned lanes) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int64_t sx = x->strides[c->rank - 1];
  LLVMValueRef v = qk_load(cg, c->xp, x->type.dtype, qk_madd(cg, c->xbase, j, sx), sx, lanes);
  LLVMValueRef w64 = LLVMBuildFPExt(cg->b, v, qiao_cpu_vec_type(cg, cg->t_f64, lanes), "");
  if (c->layer && c->pass > 0)
    w64 = LLVMBuildFSub(cg->b, w64, qiao_cpu_splat(cg, c->mean, lanes), "");
  if (c->pass < 2) {
    LLVMValueRef t = c->pass == 1 ? LLVMBuildFMul(cg->b, w64, w64, "") : w64;
    LLVMValueRef p = lanes == 1 ? c->accs : c->accv;
    qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, LLVMTypeOf(t), p), t, ""), p);
    return;
  }
  w64 = LLVMBuildFMul(cg->b, w64, qiao_cpu_splat(cg, c->inv, lanes), "");
  v = LLVMBuildFPTrunc(cg->b, w64, qiao_cpu_vec_type(cg, cg->t_f32, lanes), "");
  const qiao_kd_operand_t *w = &kd->inputs[1];
  int64_t sw = w->strides[w->type.shape.rank - 1];
  v = LLVMBuildFMul(cg->b, v, qk_load(cg, c->wp, w->type.dtype, qk_mul(cg, j, sw), sw, lanes), "");
  if (c->layer && c->bp) {
    const qiao_kd_operand_t *b = &kd->inputs[2];
    int64_t sb = b->strides[b->type.shape.rank - 1];
    v = LLVMBuildFAdd(cg->b, v, qk_load(cg, c->bp, b->type.dtype, qk_mul(cg, j, sb), sb, lanes),
                      "");
  }
  c->epi->coords[c->rank - 1] = j;
  qk_epi_store(c->epi, c->outp, v, lanes);
}

static void nm_body_cb(void *ctx, LLVMValueRef j, unsigned lanes) { nm_body(ctx, j, lanes); }

static void nm_pass(nm_ctx_t *c, int64_t D, unsigned V) {
  qiao_cg_vloop(&c->cg->base, 0, D, V, "nv", nm_body_cb, c);
}

static LLVMValueRef nm_total(nm_ctx_t *c, unsigned V) {
  qiao_cpu_codegen_t *cg = c->cg;
  return LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f64, c->accs),
                       qiao_cpu_reduce_add(cg, qk_ld(cg, LLVMVectorType(cg->t_f64, V), c->accv)),
                       "");
}

static void nm_reset(nm_ctx_t *c, unsigned V) {
  qk_st(c->cg, LLVMConstNull(LLVMVectorType(c->cg->t_f64, V)), c->accv);
  qk_st(c->cg, LLVMConstReal(c->cg->t_f64, 0.0), c->accs);
}

qiao_status_t qiao_cpu_lower_norm(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  bool layer = kd->op == QIAO_OP_LAYER_NORM;
  if (rank < 1 || kd->n_primary_inputs < (layer ? 3 : 2))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "norm kernel %s: bad operands", name);
  int64_t D = x->type.shape.dims[rank - 1];
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  int64_t row_dims[QIAO_MAX_RANK];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d)
    rows *= (row_dims[d] = x->type.shape.dims[d]);

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qk_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  nm_ctx_t c = {.cg = cg, .kd = kd, .epi = &epi, .layer = layer, .rank = rank};
  c.xp = epi.in[0];
  c.wp = epi.in[1];
  c.bp = layer ? epi.in[2] : NULL;
  c.outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  c.accv = qk_alloca(cg, fn, LLVMVectorType(cg->t_f64, V), "accv");
  c.accs = qk_alloca(cg, fn, cg->t_f64, "accs");

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, D * 3), &rl, "row");
  qk_unflatten(cg, rl.loop.iv, rank - 1, row_dims, epi.coords);
  c.xbase = qk_offset(cg, rank - 1, epi.coords, x->strides);
  LLVMValueRef invD = LLVMConstReal(cg->t_f64, 1.0 / (double)(D ? D : 1));
  if (layer) {
    nm_reset(&c, V);
    c.pass = 0;
    nm_pass(&c, D, V);
    c.mean = LLVMBuildFMul(cg->b, nm_total(&c, V), invD, "");
  }
  nm_reset(&c, V);
  c.pass = 1;
  nm_pass(&c, D, V);
  LLVMValueRef var = LLVMBuildFMul(cg->b, nm_total(&c, V), invD, "");
  var = LLVMBuildFAdd(cg->b, var, LLVMConstReal(cg->t_f64, kd->attrs.eps), "");
  LLVMValueRef sq = qiao_cpu_call_intrinsic(cg, "llvm.sqrt", &cg->t_f64, 1, &var, 1);
  c.inv = LLVMBuildFDiv(cg->b, LLVMConstReal(cg->t_f64, 1.0), sq, "");
  c.pass = 2;
  nm_pass(&c, D, V);
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  return NULL;
}
