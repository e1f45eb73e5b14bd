/* CPU backend — NORM kernels (rms_norm, layer_norm over the last axis).
 *
 * One row per iteration, rows split over workgroups. Statistics are
 * accumulated in <vec x f32> (layer_norm: mean first, then the centred sum of
 * squares, two passes for accuracy); the output pass multiplies by the
 * weight (and adds the bias), applies the epilogue and stores. */
#include "cpu/lower_common.h"

typedef struct nm_ctx {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  qiao_cg_epi_t *epi;
  LLVMValueRef xp, wp, bp, outp, xbase;
  LLVMValueRef accv, accs; /* allocas */
  LLVMValueRef mean, inv;  /* scalars */
  int pass;                /* 0: sum, 1: sum of squares, 2: output */
  bool layer;
  int rank;
} nm_ctx_t;

/* Input `input` (weight or bias, indexed by the last dim) at j. */
static LLVMValueRef nm_param(nm_ctx_t *c, int input, LLVMValueRef p, LLVMValueRef j,
                             unsigned lanes) {
  const qiao_kd_operand_t *w = &c->kd->inputs[input];
  int64_t sw = w->strides[w->type.shape.rank - 1];
  return qiao_cg_load_strided(&c->cg->base, p, w->type.dtype, qiao_cg_imul(&c->cg->base, j, sw), sw,
                              lanes);
}

static void nm_body(nm_ctx_t *c, LLVMValueRef j, unsigned lanes) {
  qiao_cpu_codegen_t *cg = c->cg;
  const qiao_kernel_desc_t *kd = c->kd;
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int64_t sx = x->strides[c->rank - 1];
  LLVMValueRef v = qiao_cg_load_strided(&cg->base, c->xp, x->type.dtype,
                                        qiao_cg_imadd(&cg->base, c->xbase, j, sx), sx, lanes);
  /* statistics and the scaling in f64 (no overflow on squares of huge values) */
  LLVMValueRef w64 = LLVMBuildFPExt(cg->b, v, qiao_cg_vec_type(&cg->base, cg->t_f64, lanes), "");
  if (c->layer && c->pass > 0)
    w64 = LLVMBuildFSub(cg->b, w64, qiao_cg_splat(&cg->base, c->mean, lanes), "");
  if (c->pass < 2) {
    LLVMValueRef t = c->pass == 1 ? LLVMBuildFMul(cg->b, w64, w64, "") : w64;
    LLVMValueRef p = lanes == 1 ? c->accs : c->accv;
    qiao_cg_st(&cg->base, LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, LLVMTypeOf(t), p), t, ""), p);
    return;
  }
  w64 = LLVMBuildFMul(cg->b, w64, qiao_cg_splat(&cg->base, c->inv, lanes), "");
  v = LLVMBuildFPTrunc(cg->b, w64, qiao_cg_vec_type(&cg->base, cg->t_f32, lanes), "");
  v = LLVMBuildFMul(cg->b, v, nm_param(c, 1, c->wp, j, lanes), "");
  if (c->layer && c->bp) v = LLVMBuildFAdd(cg->b, v, nm_param(c, 2, c->bp, j, lanes), "");
  c->epi->coords[c->rank - 1] = j;
  qiao_cg_epi_store(c->epi, c->outp, v, lanes);
}

static void nm_body_cb(void *ctx, LLVMValueRef j, unsigned lanes) { nm_body(ctx, j, lanes); }

static void nm_pass(nm_ctx_t *c, int64_t D, unsigned V) {
  qiao_cg_vloop(&c->cg->base, 0, D, V, "nv", nm_body_cb, c);
}

static LLVMValueRef nm_total(nm_ctx_t *c, unsigned V) {
  qiao_cpu_codegen_t *cg = c->cg;
  return LLVMBuildFAdd(
      cg->b, qiao_cg_ld(&cg->base, cg->t_f64, c->accs),
      qiao_cg_reduce_add(&cg->base, qiao_cg_ld(&cg->base, LLVMVectorType(cg->t_f64, V), c->accv)),
      "");
}

static void nm_reset(nm_ctx_t *c, unsigned V) {
  qiao_cg_st(&c->cg->base, LLVMConstNull(LLVMVectorType(c->cg->t_f64, V)), c->accv);
  qiao_cg_st(&c->cg->base, LLVMConstReal(c->cg->t_f64, 0.0), c->accs);
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
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  nm_ctx_t c = {.cg = cg, .kd = kd, .epi = &epi, .layer = layer, .rank = rank};
  c.xp = epi.in[0];
  c.wp = epi.in[1];
  c.bp = layer ? epi.in[2] : NULL;
  c.outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  c.accv = qiao_cg_alloca(&cg->base, fn, LLVMVectorType(cg->t_f64, V), "accv");
  c.accs = qiao_cg_alloca(&cg->base, fn, cg->t_f64, "accs");

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, D * 3), &rl, "row");
  qiao_cg_unflatten(&cg->base, rl.loop.iv, rank - 1, row_dims, epi.coords);
  c.xbase = qiao_cg_offset(&cg->base, rank - 1, epi.coords, x->strides);
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
  LLVMValueRef sq = qiao_cg_call_intrinsic(&cg->base, "llvm.sqrt", &cg->t_f64, 1, &var, 1);
  c.inv = LLVMBuildFDiv(cg->b, LLVMConstReal(cg->t_f64, 1.0), sq, "");
  c.pass = 2;
  nm_pass(&c, D, V);
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  return NULL;
}
