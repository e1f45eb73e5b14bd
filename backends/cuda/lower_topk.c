/* CUDA backend — TOPK kernels (values descending, ties by the lower index,
 * NaN ranked above every number, equal NaNs by index; indices i64).
 *
 * One CTA per row (CTA-stride over the rows, any axis: a row is the axis's
 * `dim` elements at the input's axis stride), block = the row rounded up to
 * a warp, clamped to 32..256. k rounds of a block-wide arg-max under the
 * total order above, restricted to the elements ranked strictly below the
 * previous round's winner (value, index): each thread scans its elements
 * j = tid, tid + block, ... and keeps its best eligible one; a butterfly of
 * shfl.sync (value as f64, index as i64) combines each warp; warp leaders
 * write shared memory; bar.sync; every thread combines the warp results (so
 * all know the winner, which becomes the next threshold); bar.sync. Thread 0
 * copies the winner's stored bits to values[r] (exact for every dtype) and
 * writes indices[r]. Keys are f64 like the interpreter's (every float dtype
 * and i8/i32 exact; i64 rounds as the interpreter's does). Work: k · dim /
 * block per thread — meant for k up to a few hundred. */
#include <string.h>

#include "cuda/codegen.h"

/* Whether (av, ai) ranks above (bv, bi); ai, bi >= 0. */
static LLVMValueRef ranks_above(qiao_cuda_codegen_t *cg, LLVMValueRef av, LLVMValueRef ai,
                                LLVMValueRef bv, LLVMValueRef bi) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef an = LLVMBuildFCmp(b, LLVMRealUNO, av, av, "");
  LLVMValueRef bn = LLVMBuildFCmp(b, LLVMRealUNO, bv, bv, "");
  LLVMValueRef lower = LLVMBuildICmp(b, LLVMIntSLT, ai, bi, "");
  LLVMValueRef gt = LLVMBuildFCmp(b, LLVMRealOGT, av, bv, "");
  LLVMValueRef eq = LLVMBuildFCmp(b, LLVMRealOEQ, av, bv, "");
  LLVMValueRef both_num = LLVMBuildOr(b, gt, LLVMBuildAnd(b, eq, lower, ""), "");
  LLVMValueRef both_nan = LLVMBuildAnd(b, an, bn, "");
  LLVMValueRef one_nan = LLVMBuildXor(b, an, bn, "");
  /* exactly one NaN: a ranks above iff a is the NaN */
  return LLVMBuildSelect(b, one_nan, an,
                         LLVMBuildSelect(b, both_nan, lower, both_num, ""), "");
}

/* Combines two candidates (index -1: none): the better one. */
static void pick(qiao_cuda_codegen_t *cg, LLVMValueRef *v, LLVMValueRef *i, LLVMValueRef ov,
                 LLVMValueRef oi) {
  LLVMBuilderRef b = cg->b;
  LLVMValueRef zero = qiao_cg_i64(&cg->base, 0);
  LLVMValueRef o_ok = LLVMBuildICmp(b, LLVMIntSGE, oi, zero, "");
  LLVMValueRef m_none = LLVMBuildICmp(b, LLVMIntSLT, *i, zero, "");
  LLVMValueRef take =
      LLVMBuildAnd(b, o_ok, LLVMBuildOr(b, m_none, ranks_above(cg, ov, oi, *v, *i), ""), "");
  *v = LLVMBuildSelect(b, take, ov, *v, "");
  *i = LLVMBuildSelect(b, take, oi, *i, "");
}

static LLVMValueRef gep1(qiao_cuda_codegen_t *cg, LLVMTypeRef et, int64_t n, LLVMValueRef arr,
                         LLVMValueRef idx) {
  LLVMValueRef ix[2] = {qiao_cg_i64(&cg->base, 0), idx};
  return LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(et, (uint64_t)n), arr, ix, 2, "");
}

static LLVMValueRef load_key(qiao_cuda_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                             LLVMValueRef off) {
  if (qiao_dtype_is_int(dt)) {
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
    LLVMValueRef l = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
    return LLVMBuildSIToFP(cg->b, l, cg->t_f64, "");
  }
  return LLVMBuildFPExt(cg->b, qiao_cg_load_f32(&cg->base, base, dt, off, 1), cg->t_f64, "");
}

qiao_status_t qiao_cuda_lower_topk(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out) {
  if (kd->n_inputs != 1 || kd->n_outputs != 2)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: not a topk descriptor", name);
  const qiao_kd_operand_t *X = &kd->inputs[0], *V = &kd->outputs[0], *I = &kd->outputs[1];
  int rank = X->type.shape.rank;
  if (rank < 1) return qiao_status_make(QIAO_UNSUPPORTED, "%s: topk of a scalar", name);
  int64_t ax = kd->attrs.axis < 0 ? kd->attrs.axis + rank : kd->attrs.axis;
  if (ax < 0 || ax >= rank) return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: bad axis", name);
  int64_t dim = X->type.shape.dims[ax], k = kd->attrs.k;
  if (k < 0 || k > dim)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: k = %lld but the axis has %lld", name,
                            (long long)k, (long long)dim);
  int64_t rdims[QIAO_MAX_RANK];
  int64_t rows = 1;
  for (int d = 0; d < rank; ++d) {
    rdims[d] = d == ax ? 1 : X->type.shape.dims[d];
    rows *= rdims[d];
  }
  int32_t block = qiao_cuda_row_block(dim);
  int32_t nw = block / QIAO_CUDA_WARP;
  out->block[0] = block;
  out->grid[0] = rows < 1 ? 1 : rows > (1 << 20) ? (1 << 20) : rows;
  qiao_cuda_entry_begin(cg, name, 3);
  if (rows == 0 || k == 0) {
    LLVMBuildRetVoid(cg->b);
    out->fn = cg->fn;
    return NULL;
  }
  LLVMBuilderRef b = cg->b;
  LLVMValueRef px = qiao_cuda_param(cg, 0), pv = qiao_cuda_param(cg, 1), pi = qiao_cuda_param(cg, 2);
  LLVMValueRef sv = qiao_cuda_shared(cg, cg->t_f64, nw, "tkv");
  LLVMValueRef si = qiao_cuda_shared(cg, cg->t_i64, nw, "tki");
  out->shared_bytes = nw * 16;
  LLVMValueRef thr_v = qiao_cuda_alloca(cg, cg->t_f64, "thv");
  LLVMValueRef thr_i = qiao_cuda_alloca(cg, cg->t_i64, "thi");
  LLVMValueRef best_v = qiao_cuda_alloca(cg, cg->t_f64, "bv");
  LLVMValueRef best_i = qiao_cuda_alloca(cg, cg->t_i64, "bi");
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildURem(b, tid, qiao_cg_i64(&cg->base, QIAO_CUDA_WARP), "lane");
  LLVMValueRef warp = LLVMBuildUDiv(b, tid, qiao_cg_i64(&cg->base, QIAO_CUDA_WARP), "warp");
  LLVMValueRef m1 = qiao_cg_i64(&cg->base, -1);
  LLVMValueRef f0 = LLVMConstReal(cg->t_f64, 0.0);

  qiao_cg_loop_t rl;
  qiao_cuda_row_loop_begin(cg, rows, &rl);
  LLVMValueRef coords[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, rl.iv, rank, rdims, coords);
  LLVMValueRef xb = qiao_cuda_offset(cg, rank, coords, X->strides);
  LLVMValueRef vb = qiao_cuda_offset(cg, rank, coords, V->strides);
  LLVMValueRef ib = qiao_cuda_offset(cg, rank, coords, I->strides);
  int64_t xs = X->strides[ax];
  LLVMBuildStore(b, f0, thr_v);
  LLVMBuildStore(b, m1, thr_i);

  qiao_cg_loop_t kl;
  qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, k), 1, "r", &kl);
  {
    LLVMBuildStore(b, f0, best_v);
    LLVMBuildStore(b, m1, best_i);
    LLVMValueRef tv = LLVMBuildLoad2(b, cg->t_f64, thr_v, "");
    LLVMValueRef ti = LLVMBuildLoad2(b, cg->t_i64, thr_i, "");
    qiao_cg_loop_t jl;
    qiao_cuda_thread_loop_begin(cg, dim, block, &jl);
    {
      LLVMValueRef x = load_key(cg, px, X->type.dtype, qiao_cg_imadd(&cg->base, xb, jl.iv, xs));
      /* eligible: no threshold yet, or ranked below it */
      LLVMValueRef elig = LLVMBuildOr(b, LLVMBuildICmp(b, LLVMIntSLT, ti, qiao_cg_i64(&cg->base, 0), ""),
                                      ranks_above(cg, tv, ti, x, jl.iv), "");
      LLVMValueRef cv = LLVMBuildLoad2(b, cg->t_f64, best_v, "");
      LLVMValueRef ci = LLVMBuildLoad2(b, cg->t_i64, best_i, "");
      LLVMValueRef ov = x, oi = LLVMBuildSelect(b, elig, jl.iv, m1, "");
      pick(cg, &cv, &ci, ov, oi);
      LLVMBuildStore(b, cv, best_v);
      LLVMBuildStore(b, ci, best_i);
    }
    qiao_cg_loop_end(&cg->base, &jl);
    LLVMValueRef cv = LLVMBuildLoad2(b, cg->t_f64, best_v, "");
    LLVMValueRef ci = LLVMBuildLoad2(b, cg->t_i64, best_i, "");
    for (int msk = QIAO_CUDA_WARP / 2; msk >= 1; msk /= 2) {
      LLVMValueRef ov = qiao_cuda_shfl_bfly(cg, cv, msk);
      LLVMValueRef oi = qiao_cuda_shfl_bfly(cg, ci, msk);
      pick(cg, &cv, &ci, ov, oi);
    }
    if (nw > 1) {
      LLVMBasicBlockRef cont =
          qiao_cg_if(&cg->base, LLVMBuildICmp(b, LLVMIntEQ, lane, qiao_cg_i64(&cg->base, 0), ""), "lead");
      LLVMBuildStore(b, cv, gep1(cg, cg->t_f64, nw, sv, warp));
      LLVMBuildStore(b, ci, gep1(cg, cg->t_i64, nw, si, warp));
      qiao_cg_endif(&cg->base, cont);
      qiao_cuda_barrier(cg);
      cv = LLVMBuildLoad2(b, cg->t_f64, gep1(cg, cg->t_f64, nw, sv, qiao_cg_i64(&cg->base, 0)), "");
      ci = LLVMBuildLoad2(b, cg->t_i64, gep1(cg, cg->t_i64, nw, si, qiao_cg_i64(&cg->base, 0)), "");
      for (int w = 1; w < nw; ++w) {
        LLVMValueRef ov =
            LLVMBuildLoad2(b, cg->t_f64, gep1(cg, cg->t_f64, nw, sv, qiao_cg_i64(&cg->base, w)), "");
        LLVMValueRef oi =
            LLVMBuildLoad2(b, cg->t_i64, gep1(cg, cg->t_i64, nw, si, qiao_cg_i64(&cg->base, w)), "");
        pick(cg, &cv, &ci, ov, oi);
      }
      qiao_cuda_barrier(cg);
    }
    LLVMBuildStore(b, cv, thr_v);
    LLVMBuildStore(b, ci, thr_i);
    LLVMBasicBlockRef cont =
        qiao_cg_if(&cg->base, LLVMBuildICmp(b, LLVMIntEQ, tid, qiao_cg_i64(&cg->base, 0), ""), "w");
    {
      qiao_dtype_t dt = X->type.dtype;
      LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
      LLVMValueRef src = qiao_cg_elem_ptr(&cg->base, px, dt, qiao_cg_imadd(&cg->base, xb, ci, xs));
      LLVMValueRef raw = LLVMBuildLoad2(b, st, src, "");
      LLVMValueRef dst = qiao_cg_elem_ptr(&cg->base, pv, V->type.dtype,
                                          qiao_cg_imadd(&cg->base, vb, kl.iv, V->strides[ax]));
      LLVMBuildStore(b, raw, dst);
      qiao_dtype_t idt = I->type.dtype;
      LLVMValueRef iv = ci;
      LLVMTypeRef ist = qiao_cg_storage_type(&cg->base, idt);
      if (ist != cg->t_i64) iv = LLVMBuildTrunc(b, iv, ist, "");
      LLVMBuildStore(b, iv, qiao_cg_elem_ptr(&cg->base, pi, idt,
                                             qiao_cg_imadd(&cg->base, ib, kl.iv, I->strides[ax])));
    }
    qiao_cg_endif(&cg->base, cont);
  }
  qiao_cg_loop_end(&cg->base, &kl);
  qiao_cg_loop_end(&cg->base, &rl);
  LLVMBuildRetVoid(b);
  out->fn = cg->fn;
  return NULL;
}
