/* CPU backend — TOPK kernels: values (x's dtype, bits copied) and i64
 * indices of the k largest elements along an axis, in descending order, ties
 * broken by the lower index, NaN ranking above every number (the
 * interpreter's order). Each row (all dims but the axis, split over
 * workgroups) runs k selection scans over the not-yet-taken elements
 * (O(k·N); a taken-flag byte per element lives in scratch). Integer inputs
 * compare exactly in i64. */
#include "cpu/lower_common.h"

qiao_status_t qiao_cpu_lower_topk(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *X = &kd->inputs[0];
  if (kd->n_outputs != 2)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "topk kernel %s: needs two outputs", name);
  const qiao_kd_operand_t *OV = &kd->outputs[0], *OI = &kd->outputs[1];
  int rank = X->type.shape.rank;
  int ax = qk_norm_axis(kd->attrs.axis, rank);
  if (rank == 0 || ax < 0 || ax >= rank)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "topk kernel %s: bad axis", name);
  int64_t N = X->type.shape.dims[ax], K = OV->type.shape.dims[ax];
  if (K > N) return qiao_status_make(QIAO_INVALID_ARGUMENT, "topk kernel %s: k > n", name);
  qiao_dtype_t dt = X->type.dtype;
  bool is_int = qiao_dtype_is_int(dt) || dt == QIAO_BOOL;
  int n_row = 0, row_dim_of[QIAO_MAX_RANK];
  int64_t row_dims[QIAO_MAX_RANK], rows = 1;
  for (int d = 0; d < rank; ++d) {
    if (d == ax) continue;
    row_dim_of[n_row] = d;
    rows *= (row_dims[n_row++] = X->type.shape.dims[d]);
  }

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef xp = epi.in[0];
  LLVMValueRef vp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef ip = qiao_cpu_binding(cg, fn, kd->n_inputs + 1);
  LLVMValueRef taken = qiao_cpu_scratch(cg, fn);
  LLVMTypeRef kt = is_int ? cg->t_i64 : cg->t_f32;
  LLVMValueRef best_i = qiao_cg_alloca(&cg->base, fn, cg->t_i64, "best_i");
  LLVMValueRef best_v = qiao_cg_alloca(&cg->base, fn, kt, "best_v");

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, N * (K < 8 ? K : 8)), &rl, "row");
  LLVMValueRef rc[QIAO_MAX_RANK], xc[QIAO_MAX_RANK], vc[QIAO_MAX_RANK], ic[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, n_row, row_dims, rc);
  for (int d = 0; d < rank; ++d)
    xc[d] = qiao_cg_i64(&cg->base, 0);
  for (int i = 0; i < n_row; ++i)
    xc[row_dim_of[i]] = rc[i];
  LLVMValueRef xbase = qiao_cg_offset(&cg->base, rank, xc, X->strides);
  memcpy(vc, xc, sizeof vc);
  memcpy(ic, xc, sizeof ic);
  LLVMValueRef vbase = qiao_cg_offset(&cg->base, rank, vc, OV->strides);
  LLVMValueRef ibase = qiao_cg_offset(&cg->base, rank, ic, OI->strides);
  int64_t sx = X->strides[ax];
  /* clear the taken flags */
  LLVMBuildMemSet(cg->b, taken, LLVMConstInt(cg->t_i8, 0, 0), qiao_cg_i64(&cg->base, N), 1);

  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, K), 1, "pick",
                     &tl);
  qiao_cg_st(&cg->base, qiao_cg_i64(&cg->base, -1), best_i);
  qiao_cg_st(&cg->base, is_int ? qiao_cg_i64(&cg->base, 0) : qiao_cg_f32c(&cg->base, 0.0), best_v);
  {
    qiao_cg_loop_t jl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, N), 1, "scan",
                       &jl);
    LLVMValueRef j = jl.iv;
    LLVMValueRef tk =
        LLVMBuildLoad2(cg->b, cg->t_i8, LLVMBuildGEP2(cg->b, cg->t_i8, taken, &j, 1, ""), "");
    LLVMValueRef free_ = LLVMBuildICmp(cg->b, LLVMIntEQ, tk, LLVMConstInt(cg->t_i8, 0, 0), "");
    LLVMValueRef off = qiao_cg_imadd(&cg->base, xbase, j, sx);
    LLVMValueRef v;
    if (is_int) {
      LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
      v = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, xp, dt, off), "");
      if (st != cg->t_i64)
        v = dt == QIAO_BOOL ? LLVMBuildZExt(cg->b, v, cg->t_i64, "")
                            : LLVMBuildSExt(cg->b, v, cg->t_i64, "");
    } else {
      v = qiao_cg_load_f32(&cg->base, xp, dt, off, 1);
    }
    LLVMValueRef bi = qiao_cg_ld(&cg->base, cg->t_i64, best_i),
                 bv = qiao_cg_ld(&cg->base, kt, best_v);
    LLVMValueRef none = LLVMBuildICmp(cg->b, LLVMIntSLT, bi, qiao_cg_i64(&cg->base, 0), "");
    LLVMValueRef better;
    if (is_int) {
      better = LLVMBuildICmp(cg->b, LLVMIntSGT, v, bv, "");
    } else {
      LLVMValueRef vnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, v, v, "");
      LLVMValueRef bnan = LLVMBuildFCmp(cg->b, LLVMRealUNO, bv, bv, "");
      LLVMValueRef nan_wins = LLVMBuildAnd(cg->b, vnan, LLVMBuildNot(cg->b, bnan, ""), "");
      better = LLVMBuildOr(cg->b, nan_wins, LLVMBuildFCmp(cg->b, LLVMRealOGT, v, bv, ""), "");
    }
    LLVMValueRef take = LLVMBuildAnd(cg->b, free_, LLVMBuildOr(cg->b, none, better, ""), "");
    qiao_cg_st(&cg->base, LLVMBuildSelect(cg->b, take, j, bi, ""), best_i);
    qiao_cg_st(&cg->base, LLVMBuildSelect(cg->b, take, v, bv, ""), best_v);
    qiao_cg_loop_end(&cg->base, &jl);
  }
  LLVMValueRef bi = qiao_cg_ld(&cg->base, cg->t_i64, best_i);
  LLVMBuildStore(cg->b, LLVMConstInt(cg->t_i8, 1, 0),
                 LLVMBuildGEP2(cg->b, cg->t_i8, taken, &bi, 1, ""));
  LLVMValueRef t = tl.iv;
  LLVMValueRef voff = qiao_cg_imadd(&cg->base, vbase, t, OV->strides[ax]);
  LLVMValueRef src = qiao_cg_imadd(&cg->base, xbase, bi, sx);
  if (kd->n_expr > 0 || OV->type.dtype != dt) {
    for (int d = 0; d < rank; ++d)
      epi.coords[d] = xc[d];
    epi.coords[ax] = t;
    LLVMValueRef v = qiao_cg_epi_apply(&epi, qiao_cg_load_f32(&cg->base, xp, dt, src, 1), 1);
    qiao_cg_store_f32(&cg->base, v, vp, OV->type.dtype, voff, 1);
  } else {
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
    LLVMValueRef raw = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, xp, dt, src), "");
    LLVMBuildStore(cg->b, raw, qiao_cg_elem_ptr(&cg->base, vp, dt, voff));
  }
  LLVMValueRef ioff = qiao_cg_imadd(&cg->base, ibase, t, OI->strides[ax]);
  if (OI->type.dtype == QIAO_I64 || OI->type.dtype == QIAO_I32) {
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, OI->type.dtype);
    LLVMValueRef iv = st == cg->t_i64 ? bi : LLVMBuildTrunc(cg->b, bi, st, "");
    LLVMBuildStore(cg->b, iv, qiao_cg_elem_ptr(&cg->base, ip, OI->type.dtype, ioff));
  } else {
    qiao_cg_store_f32(&cg->base, LLVMBuildSIToFP(cg->b, bi, cg->t_f32, ""), ip, OI->type.dtype,
                      ioff, 1);
  }
  qiao_cg_loop_end(&cg->base, &tl);
  qk_kernel_end(cg, &rl, fn, (uint64_t)(N + 64), out);
  return NULL;
}
