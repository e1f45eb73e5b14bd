/* CPU backend — SOFTMAX kernels.
 *
 * Axis = last dim (contiguous): one row per iteration, rows split over
 * workgroups; three vectorized passes: max, exp(x - max) kept in f32
 * scratch with its sum, then scale, epilogue and store.
 * Other axes: <vec> neighbouring columns (the dims after the axis) are
 * processed together, walking the axis with a stride. */
#include "cpu/lower_common.h"

static LLVMValueRef sm_max(qiao_cpu_codegen_t *cg, LLVMValueRef acc, LLVMValueRef v) {
  return qiao_cg_emit_max_acc(&cg->base, acc, v);
}

static LLVMValueRef sm_hmax(qiao_cpu_codegen_t *cg, LLVMValueRef v, unsigned lanes) {
  if (lanes == 1) return v;
  LLVMValueRef r = LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, 0, 0), "");
  for (unsigned l = 1; l < lanes; ++l)
    r = sm_max(cg, r, LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, l, 0), ""));
  return r;
}

typedef struct sm_row {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  qiao_cg_epi_t *epi;
  LLVMValueRef xp, outp, scr, xbase;
  LLVMValueRef mv, ms, sv, ss; /* allocas: vector/scalar max and sum */
  LLVMValueRef max, inv;       /* row max, 1 / sum */
  unsigned V;
  int axis;
} sm_row_t;

static void row_max(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef v = qiao_cg_load_f32(&cg->base, r->xp, r->kd->inputs[0].type.dtype,
                                    qiao_cg_iadd(&cg->base, r->xbase, j), lanes);
  LLVMValueRef p = lanes == 1 ? r->ms : r->mv;
  qiao_cg_st(&cg->base, sm_max(cg, qiao_cg_ld(&cg->base, LLVMTypeOf(v), p), v), p);
}

static void row_exp(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef v = qiao_cg_load_f32(&cg->base, r->xp, r->kd->inputs[0].type.dtype,
                                    qiao_cg_iadd(&cg->base, r->xbase, j), lanes);
  LLVMValueRef e = qiao_cg_emit_exp(
      &cg->base, LLVMBuildFSub(cg->b, v, qiao_cg_splat(&cg->base, r->max, lanes), ""));
  qiao_cg_stf(&cg->base, e, r->scr, j);
  LLVMValueRef p = lanes == 1 ? r->ss : r->sv;
  qiao_cg_st(&cg->base, LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, LLVMTypeOf(e), p), e, ""), p);
}

static void row_out(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef e = qiao_cg_ldf(&cg->base, r->scr, j, lanes);
  LLVMValueRef y = LLVMBuildFMul(cg->b, e, qiao_cg_splat(&cg->base, r->inv, lanes), "");
  r->epi->coords[r->axis] = j;
  qiao_cg_epi_store(r->epi, r->outp, y, lanes);
}

qiao_status_t qiao_cpu_lower_softmax(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  int axis = qk_norm_axis(kd->attrs.axis, rank);
  if (rank == 0 || axis < 0 || axis >= rank)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "softmax kernel %s: bad axis", name);
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  const int64_t *dims = x->type.shape.dims;
  int64_t L = dims[axis];
  bool last = axis == rank - 1 && x->strides[axis] == 1;

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef xp = epi.in[0];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMTypeRef vt = LLVMVectorType(cg->t_f32, V);

  if (last) {
    int64_t row_dims[QIAO_MAX_RANK];
    int64_t rows = 1;
    for (int d = 0; d < rank - 1; ++d)
      rows *= (row_dims[d] = dims[d]);
    qk_rows_t rl;
    sm_row_t r = {.cg = cg, .kd = kd, .epi = &epi, .xp = xp, .outp = outp, .V = V, .axis = axis};
    r.scr = qiao_cpu_scratch(cg, fn);
    r.mv = qiao_cg_alloca(&cg->base, fn, vt, "mv");
    r.sv = qiao_cg_alloca(&cg->base, fn, vt, "sv");
    r.ms = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "ms");
    r.ss = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "ss");
    qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, L * 4), &rl, "row");
    qiao_cg_unflatten(&cg->base, rl.loop.iv, rank - 1, row_dims, epi.coords);
    r.xbase = qiao_cg_offset(&cg->base, rank - 1, epi.coords, x->strides);
    qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, -INFINITY, V), r.mv);
    qiao_cg_st(&cg->base, LLVMConstReal(cg->t_f32, -INFINITY), r.ms);
    qiao_cg_vloop(&cg->base, 0, L, V, "smax", row_max, &r);
    r.max = sm_max(cg, qiao_cg_ld(&cg->base, cg->t_f32, r.ms),
                   sm_hmax(cg, qiao_cg_ld(&cg->base, vt, r.mv), V));
    qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, V), r.sv);
    qiao_cg_st(&cg->base, LLVMConstReal(cg->t_f32, 0.0), r.ss);
    qiao_cg_vloop(&cg->base, 0, L, V, "sexp", row_exp, &r);
    LLVMValueRef sum =
        LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, cg->t_f32, r.ss),
                      qiao_cg_reduce_add(&cg->base, qiao_cg_ld(&cg->base, vt, r.sv)), "");
    r.inv = LLVMBuildFDiv(cg->b, qiao_cg_f32c(&cg->base, 1.0), sum, "");
    qiao_cg_vloop(&cg->base, 0, L, V, "sout", row_out, &r);
    qk_rows_end(cg, &rl);
    out->grid[0] = rl.n_chunks;
    out->scratch_bytes = (uint64_t)(L * 4 + 64);
  } else {
    /* rows: dims before the axis and after it except the last; lanes over the last dim */
    int64_t N = dims[rank - 1];
    int64_t sN = x->strides[rank - 1];
    int n_row = 0;
    int row_dim_of[QIAO_MAX_RANK];
    int64_t row_dims[QIAO_MAX_RANK];
    int64_t rows = 1;
    for (int d = 0; d < rank - 1; ++d) {
      if (d == axis) continue;
      row_dim_of[n_row] = d;
      rows *= (row_dims[n_row++] = dims[d]);
    }
    qk_rows_t rl;
    qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, L * N * 4), &rl, "row");
    LLVMValueRef rc[QIAO_MAX_RANK];
    qiao_cg_unflatten(&cg->base, rl.loop.iv, n_row, row_dims, rc);
    for (int d = 0; d < rank; ++d)
      epi.coords[d] = qiao_cg_i64(&cg->base, 0);
    for (int i = 0; i < n_row; ++i)
      epi.coords[row_dim_of[i]] = rc[i];
    LLVMValueRef base = qiao_cg_offset(&cg->base, rank, epi.coords, x->strides);
    LLVMValueRef mp = qiao_cg_alloca(&cg->base, fn, vt, "m"),
                 sp = qiao_cg_alloca(&cg->base, fn, vt, "s");
    LLVMValueRef mps = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "m1"),
                 sps = qiao_cg_alloca(&cg->base, fn, cg->t_f32, "s1");
    for (qiao_cg_vloop_t cl = qiao_cg_vloop_start(0, N, V, 0, "c");
         qiao_cg_vloop_next(&cg->base, &cl);) {
      unsigned lanes = cl.lanes;
      LLVMTypeRef t = qiao_cg_vec_type(&cg->base, cg->t_f32, lanes);
      LLVMValueRef m = lanes != 1 ? mp : mps, s = lanes != 1 ? sp : sps;
      LLVMValueRef cbase = qiao_cg_imadd(&cg->base, base, cl.i, sN);
      qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, -INFINITY, lanes), m);
      qiao_cg_st(&cg->base, qiao_cg_fsplat(&cg->base, 0.0, lanes), s);
      qiao_cg_loop_t al;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, L), 1, "a",
                         &al);
      LLVMValueRef v =
          qiao_cg_load_strided(&cg->base, xp, x->type.dtype,
                               qiao_cg_imadd(&cg->base, cbase, al.iv, x->strides[axis]), sN, lanes);
      qiao_cg_st(&cg->base, sm_max(cg, qiao_cg_ld(&cg->base, t, m), v), m);
      qiao_cg_loop_end(&cg->base, &al);
      LLVMValueRef mx = qiao_cg_ld(&cg->base, t, m);
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, L), 1, "a",
                         &al);
      v = qiao_cg_load_strided(&cg->base, xp, x->type.dtype,
                               qiao_cg_imadd(&cg->base, cbase, al.iv, x->strides[axis]), sN, lanes);
      qiao_cg_st(&cg->base,
                 LLVMBuildFAdd(cg->b, qiao_cg_ld(&cg->base, t, s),
                               qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, v, mx, "")), ""),
                 s);
      qiao_cg_loop_end(&cg->base, &al);
      LLVMValueRef inv = LLVMBuildFDiv(cg->b, qiao_cg_fsplat(&cg->base, 1.0, lanes),
                                       qiao_cg_ld(&cg->base, t, s), "");
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, L), 1, "a",
                         &al);
      v = qiao_cg_load_strided(&cg->base, xp, x->type.dtype,
                               qiao_cg_imadd(&cg->base, cbase, al.iv, x->strides[axis]), sN, lanes);
      LLVMValueRef y = LLVMBuildFMul(
          cg->b, qiao_cg_emit_exp(&cg->base, LLVMBuildFSub(cg->b, v, mx, "")), inv, "");
      epi.coords[axis] = al.iv;
      epi.coords[rank - 1] = cl.i;
      qiao_cg_epi_store(&epi, outp, y, lanes);
      qiao_cg_loop_end(&cg->base, &al);
    }
    qk_rows_end(cg, &rl);
    out->grid[0] = rl.n_chunks;
  }
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  return NULL;
}
