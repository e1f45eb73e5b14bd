/* CUDA backend — SOFTMAX and NORM (rms_norm, layer_norm) kernels: one CTA
 * per row, rows taken CTA-stride, block = the row length rounded up to a
 * warp, 32..256 threads; thread t owns elements t, t + block, ...
 *
 * softmax: each thread keeps an online (max, sum) pair in registers over its
 * elements (sum rescaled by exp(old - new) when the max grows); the CTA
 * reduces the maxima (shuffles + shared memory), each thread rescales its sum
 * to the row max, the CTA reduces the sums; a last pass writes
 * exp(x - max) / sum. NaN propagates: a NaN element makes the row max NaN
 * (v > acc || isnan(v)), hence every output of the row; a row of -inf is
 * NaN, like the interpreter (exp(-inf - -inf)).
 * norms: block-wide sums (layer_norm: the mean, then the centred sum of
 * squares — two passes, like the CPU backend), then
 * y = (x - mean) * 1/sqrt(var + eps) * w (+ b), the epilogue, the store. */
#include <math.h>
#include <string.h>

#include "cuda/codegen.h"

static LLVMValueRef comb_fadd(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(cg->b, a, b, "");
}
static LLVMValueRef comb_fmax(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return qiao_cg_emit_max_acc(&cg->base, a, b);
}

/* exp(a - m): the factor that rescales a sum kept relative to max a to max m;
 * 1 when both are -inf (nothing seen yet: the online sum must not turn NaN),
 * NaN when both are +inf (exp(inf - inf), as in the two-pass formula). */
static LLVMValueRef rescale(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef m) {
  LLVMValueRef eq = LLVMBuildAnd(
      cg->b, LLVMBuildFCmp(cg->b, LLVMRealOEQ, a, m, ""),
      LLVMBuildFCmp(cg->b, LLVMRealOEQ, a, qiao_cg_f32c(&cg->base, -INFINITY), ""), "");
  LLVMValueRef ex = qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, a, m, ""));
  return LLVMBuildSelect(cg->b, eq, qiao_cg_f32c(&cg->base, 1.0), ex, "");
}

typedef struct row_plan {
  int rank, axis;
  int64_t L, rows;
  int n_row;
  int row_dim[QIAO_MAX_RANK]; /* x dims of the row coordinates */
  int64_t row_dims[QIAO_MAX_RANK], row_strides[QIAO_MAX_RANK];
} row_plan_t;

static void plan_rows(const qiao_kd_operand_t *x, int axis, row_plan_t *p) {
  memset(p, 0, sizeof *p);
  p->rank = x->type.shape.rank;
  p->axis = axis;
  p->L = x->type.shape.dims[axis];
  p->rows = 1;
  for (int d = 0; d < p->rank; ++d) {
    if (d == axis) continue;
    p->row_dim[p->n_row] = d;
    p->row_dims[p->n_row] = x->type.shape.dims[d];
    p->row_strides[p->n_row++] = x->strides[d];
    p->rows *= x->type.shape.dims[d];
  }
}

/* Opens the row loop; fills e->coords with the row's coordinates and
 * returns the row's base offset in x. */
static LLVMValueRef rows_begin(qiao_cuda_codegen_t *cg, const row_plan_t *p, qiao_cuda_epi_t *e,
                               qiao_cg_loop_t *rl) {
  qiao_cuda_row_loop_begin(cg, p->rows, rl);
  LLVMValueRef rc[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, rl->iv, p->n_row, p->row_dims, rc);
  for (int i = 0; i < p->n_row; ++i)
    e->coords[p->row_dim[i]] = rc[i];
  return qiao_cuda_offset(cg, p->n_row, rc, p->row_strides);
}

static LLVMValueRef load_at(qiao_cuda_codegen_t *cg, const qiao_kd_operand_t *x, LLVMValueRef xp,
                            LLVMValueRef base, LLVMValueRef j, int64_t stride) {
  LLVMValueRef off = stride == 1 ? j : LLVMBuildMul(cg->b, j, qiao_cg_i64(&cg->base, stride), "");
  return qiao_cg_load_f32(&cg->base, xp, x->type.dtype, LLVMBuildAdd(cg->b, base, off, ""), 1);
}

static void finish(qiao_cuda_codegen_t *cg, qiao_cuda_kernel_t *out, int32_t block,
                   int64_t rows) {
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  out->block[0] = block;
  out->grid[0] = rows < 1 ? 1 : rows > (1 << 20) ? (1 << 20) : rows;
}

qiao_status_t qiao_cuda_lower_softmax(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                      const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  int64_t a = kd->attrs.axis;
  int axis = (int)(a < 0 ? a + rank : a);
  if (rank < 1 || axis < 0 || axis >= rank)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "softmax kernel %s: bad axis", name);
  row_plan_t p;
  plan_rows(x, axis, &p);
  int32_t block = qiao_cuda_row_block(p.L);
  int64_t sx = x->strides[axis];
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  LLVMValueRef smem = qiao_cuda_shared(cg, cg->t_f32, block / QIAO_CUDA_WARP, "red");
  LLVMValueRef mp = qiao_cuda_alloca(cg, cg->t_f32, "m");
  LLVMValueRef sp = qiao_cuda_alloca(cg, cg->t_f32, "s");
  LLVMValueRef xp = qiao_cuda_param(cg, 0);
  LLVMValueRef ninf = qiao_cg_f32c(&cg->base, -INFINITY), zero = qiao_cg_f32c(&cg->base, 0.0);
  qiao_cuda_epi_t e;
  qiao_cuda_epi_init(&e, cg, kd);
  qiao_cg_loop_t rl;
  LLVMValueRef base = rows_begin(cg, &p, &e, &rl);
  LLVMBuildStore(cg->b, ninf, mp);
  LLVMBuildStore(cg->b, zero, sp);
  /* pass 1: online (max, sum) per thread */
  qiao_cg_loop_t jl;
  qiao_cuda_thread_loop_begin(cg, p.L, block, &jl);
  {
    LLVMValueRef v = load_at(cg, x, xp, base, jl.iv, sx);
    LLVMValueRef m = LLVMBuildLoad2(cg->b, cg->t_f32, mp, "");
    LLVMValueRef mn = qiao_cg_emit_max_acc(&cg->base, m, v);
    LLVMValueRef s = LLVMBuildLoad2(cg->b, cg->t_f32, sp, "");
    s = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, s, rescale(cg, m, mn), ""), rescale(cg, v, mn),
                      "");
    LLVMBuildStore(cg->b, mn, mp);
    LLVMBuildStore(cg->b, s, sp);
  }
  qiao_cg_loop_end(&cg->base, &jl);
  /* the CTA's max, each sum rescaled to it, the CTA's sum */
  LLVMValueRef mt = LLVMBuildLoad2(cg->b, cg->t_f32, mp, "");
  LLVMValueRef M = qiao_cuda_block_reduce(cg, mt, block, comb_fmax, ninf, smem);
  LLVMValueRef st = LLVMBuildFMul(cg->b, LLVMBuildLoad2(cg->b, cg->t_f32, sp, ""),
                                  rescale(cg, mt, M), "");
  LLVMValueRef S = qiao_cuda_block_reduce(cg, st, block, comb_fadd, zero, smem);
  LLVMValueRef inv = LLVMBuildFDiv(cg->b, qiao_cg_f32c(&cg->base, 1.0), S, "inv");
  /* pass 2: write */
  qiao_cuda_thread_loop_begin(cg, p.L, block, &jl);
  {
    LLVMValueRef v = load_at(cg, x, xp, base, jl.iv, sx);
    LLVMValueRef y = qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, v, M, ""));
    e.coords[axis] = jl.iv;
    qiao_cuda_epi_store(&e, LLVMBuildFMul(cg->b, y, inv, ""));
  }
  qiao_cg_loop_end(&cg->base, &jl);
  qiao_cg_loop_end(&cg->base, &rl);
  finish(cg, out, block, p.rows);
  return NULL;
}

qiao_status_t qiao_cuda_lower_norm(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  bool layer = kd->op == QIAO_OP_LAYER_NORM;
  if (rank < 1 || kd->n_primary_inputs < (layer ? 3 : 2))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "norm kernel %s: bad operands", name);
  row_plan_t p;
  plan_rows(x, rank - 1, &p);
  int32_t block = qiao_cuda_row_block(p.L);
  int64_t sx = x->strides[rank - 1];
  const qiao_kd_operand_t *w = &kd->inputs[1], *bo = layer ? &kd->inputs[2] : NULL;
  int64_t sw = w->strides[w->type.shape.rank - 1];
  int64_t sb = bo ? bo->strides[bo->type.shape.rank - 1] : 0;
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  /* statistics in f64: squares of huge f32 values cannot overflow (docs/design.md) */
  LLVMTypeRef dt = cg->t_f64;
  LLVMValueRef smem = qiao_cuda_shared(cg, dt, block / QIAO_CUDA_WARP, "red");
  LLVMValueRef accp = qiao_cuda_alloca(cg, dt, "acc");
  LLVMValueRef xp = qiao_cuda_param(cg, 0), wp = qiao_cuda_param(cg, 1);
  LLVMValueRef bp = layer ? qiao_cuda_param(cg, 2) : NULL;
  LLVMValueRef zero = LLVMConstReal(dt, 0.0);
  LLVMValueRef invD = LLVMConstReal(dt, 1.0 / (double)(p.L ? p.L : 1));
  qiao_cuda_epi_t e;
  qiao_cuda_epi_init(&e, cg, kd);
  qiao_cg_loop_t rl, jl;
  LLVMValueRef base = rows_begin(cg, &p, &e, &rl);
  LLVMValueRef mean = zero;
  for (int pass = layer ? 0 : 1; pass < 2; ++pass) {
    LLVMBuildStore(cg->b, zero, accp);
    qiao_cuda_thread_loop_begin(cg, p.L, block, &jl);
    LLVMValueRef v = LLVMBuildFPExt(cg->b, load_at(cg, x, xp, base, jl.iv, sx), dt, "");
    if (pass == 1) {
      if (layer) v = LLVMBuildFSub(cg->b, v, mean, "");
      v = LLVMBuildFMul(cg->b, v, v, "");
    }
    LLVMBuildStore(cg->b, LLVMBuildFAdd(cg->b, LLVMBuildLoad2(cg->b, dt, accp, ""), v, ""), accp);
    qiao_cg_loop_end(&cg->base, &jl);
    LLVMValueRef tot = qiao_cuda_block_reduce(cg, LLVMBuildLoad2(cg->b, dt, accp, ""), block,
                                              comb_fadd, zero, smem);
    if (pass == 0) mean = LLVMBuildFMul(cg->b, tot, invD, "mean");
    else {
      LLVMValueRef var = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, tot, invD, ""),
                                       LLVMConstReal(dt, kd->attrs.eps), "");
      LLVMValueRef sq = qiao_cg_call_intrinsic(&cg->base, "llvm.sqrt", &dt, 1, &var, 1);
      LLVMValueRef inv = LLVMBuildFDiv(cg->b, LLVMConstReal(dt, 1.0), sq, "inv");
      /* output pass: (x - mean) * inv in f64, rounded to f32 once */
      qiao_cuda_thread_loop_begin(cg, p.L, block, &jl);
      LLVMValueRef y = LLVMBuildFPExt(cg->b, load_at(cg, x, xp, base, jl.iv, sx), dt, "");
      if (layer) y = LLVMBuildFSub(cg->b, y, mean, "");
      y = LLVMBuildFPTrunc(cg->b, LLVMBuildFMul(cg->b, y, inv, ""), cg->t_f32, "");
      y = LLVMBuildFMul(cg->b, y, load_at(cg, w, wp, qiao_cg_i64(&cg->base, 0), jl.iv, sw), "");
      if (bp)
        y = LLVMBuildFAdd(cg->b, y, load_at(cg, bo, bp, qiao_cg_i64(&cg->base, 0), jl.iv, sb), "");
      e.coords[rank - 1] = jl.iv;
      qiao_cuda_epi_store(&e, y);
      qiao_cg_loop_end(&cg->base, &jl);
    }
  }
  qiao_cg_loop_end(&cg->base, &rl);
  finish(cg, out, block, p.rows);
  return NULL;
}
