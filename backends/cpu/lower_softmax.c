/* CPU backend — SOFTMAX kernels.
 *
 * Axis = last dim (contiguous): one row per iteration, rows split over
 * workgroups; three vectorized passes: max, exp(x - max) kept in f32
 * scratch with its sum, then scale, epilogue and store.
 * Other axes: <vec> neighbouring columns (the dims after the axis) are
 * processed together, walking the axis with a stride. */
#include "cpu/lower_common.h"

static LLVMValueRef sm_max(qiao_cpu_codegen_t *cg, LLVMValueRef acc, LLVMValueRef v) {
  return qiao_cpu_emit_max_acc(cg, acc, v);
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
  qk_epi_t *epi;
  LLVMValueRef xp, outp, scr, xbase;
  LLVMValueRef mv, ms, sv, ss; /* allocas: vector/scalar max and sum */
  LLVMValueRef max, inv;       /* row max, 1 / sum */
  unsigned V;
  int axis;
} sm_row_t;

static void row_max(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef v =
      qiao_cpu_load_f32(cg, r->xp, r->kd->inputs[0].type.dtype, qk_add(cg, r->xbase, j), lanes);
  LLVMValueRef p = lanes == 1 ? r->ms : r->mv;
  qk_st(cg, sm_max(cg, qk_ld(cg, LLVMTypeOf(v), p), v), p);
}

static void row_exp(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef v =
      qiao_cpu_load_f32(cg, r->xp, r->kd->inputs[0].type.dtype, qk_add(cg, r->xbase, j), lanes);
  LLVMValueRef e = qk_exp(cg, LLVMBuildFSub(cg->b, v, qiao_cpu_splat(cg, r->max, lanes), ""));
  qk_stf(cg, e, r->scr, j);
  LLVMValueRef p = lanes == 1 ? r->ss : r->sv;
  qk_st(cg, LLVMBuildFAdd(cg->b, qk_ld(cg, LLVMTypeOf(e), p), e, ""), p);
}

static void row_out(void *ctx, LLVMValueRef j, unsigned lanes) {
  sm_row_t *r = ctx;
  qiao_cpu_codegen_t *cg = r->cg;
  LLVMValueRef e = qk_ldf(cg, r->scr, j, lanes);
  LLVMValueRef y = LLVMBuildFMul(cg->b, e, qiao_cpu_splat(cg, r->inv, lanes), "");
  r->epi->coords[r->axis] = j;
  qk_epi_store(r->epi, r->outp, y, lanes);
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
  qk_epi_t epi;
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
    r.mv = qk_alloca(cg, fn, vt, "mv");
    r.sv = qk_alloca(cg, fn, vt, "sv");
    r.ms = qk_alloca(cg, fn, cg->t_f32, "ms");
    r.ss = qk_alloca(cg, fn, cg->t_f32, "ss");
    qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, L * 4), &rl, "row");
    qk_unflatten(cg, rl.loop.iv, rank - 1, row_dims, epi.coords);
    r.xbase = qk_offset(cg, rank - 1, epi.coords, x->strides);
    qk_st(cg, qk_fconst(cg, -INFINITY, V), r.mv);
    qk_st(cg, LLVMConstReal(cg->t_f32, -INFINITY), r.ms);
    qiao_cg_vloop(&cg->base, 0, L, V, "smax", row_max, &r);
    r.max = sm_max(cg, qk_ld(cg, cg->t_f32, r.ms), sm_hmax(cg, qk_ld(cg, vt, r.mv), V));
    qk_st(cg, qk_fconst(cg, 0.0, V), r.sv);
    qk_st(cg, LLVMConstReal(cg->t_f32, 0.0), r.ss);
    qiao_cg_vloop(&cg->base, 0, L, V, "sexp", row_exp, &r);
    LLVMValueRef sum = LLVMBuildFAdd(cg->b, qk_ld(cg, cg->t_f32, r.ss),
                                     qiao_cpu_reduce_add(cg, qk_ld(cg, vt, r.sv)), "");
    r.inv = LLVMBuildFDiv(cg->b, qiao_cpu_f32c(cg, 1.0), sum, "");
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
    qk_unflatten(cg, rl.loop.iv, n_row, row_dims, rc);
    for (int d = 0; d < rank; ++d)
      epi.coords[d] = qiao_cpu_i64(cg, 0);
    for (int i = 0; i < n_row; ++i)
      epi.coords[row_dim_of[i]] = rc[i];
    LLVMValueRef base = qk_offset(cg, rank, epi.coords, x->strides);
    LLVMValueRef mp = qk_alloca(cg, fn, vt, "m"), sp = qk_alloca(cg, fn, vt, "s");
    LLVMValueRef mps = qk_alloca(cg, fn, cg->t_f32, "m1"), sps = qk_alloca(cg, fn, cg->t_f32, "s1");
    for (int pass = 0; pass < 2; ++pass) {
      unsigned lanes = pass == 0 ? V : 1;
      int64_t lo = pass == 0 ? 0 : N / V * V, hi = pass == 0 ? N / V * V : N;
      if (lo >= hi) continue;
      LLVMTypeRef t = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
      LLVMValueRef m = pass == 0 ? mp : mps, s = pass == 0 ? sp : sps;
      qiao_cpu_loop_t cl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, lo), qiao_cpu_i64(cg, hi), lanes, "c", &cl);
      LLVMValueRef cbase = qk_madd(cg, base, cl.iv, sN);
      qk_st(cg, qk_fconst(cg, -INFINITY, lanes), m);
      qk_st(cg, qk_fconst(cg, 0.0, lanes), s);
      qiao_cpu_loop_t al;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, L), 1, "a", &al);
      LLVMValueRef v =
          qk_load(cg, xp, x->type.dtype, qk_madd(cg, cbase, al.iv, x->strides[axis]), sN, lanes);
      qk_st(cg, sm_max(cg, qk_ld(cg, t, m), v), m);
      qiao_cpu_loop_end(cg, &al);
      LLVMValueRef mx = qk_ld(cg, t, m);
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, L), 1, "a", &al);
      v = qk_load(cg, xp, x->type.dtype, qk_madd(cg, cbase, al.iv, x->strides[axis]), sN, lanes);
      qk_st(cg,
            LLVMBuildFAdd(cg->b, qk_ld(cg, t, s), qk_exp(cg, LLVMBuildFSub(cg->b, v, mx, "")), ""),
            s);
      qiao_cpu_loop_end(cg, &al);
      LLVMValueRef inv = LLVMBuildFDiv(cg->b, qk_fconst(cg, 1.0, lanes), qk_ld(cg, t, s), "");
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, L), 1, "a", &al);
      v = qk_load(cg, xp, x->type.dtype, qk_madd(cg, cbase, al.iv, x->strides[axis]), sN, lanes);
      LLVMValueRef y = LLVMBuildFMul(cg->b, qk_exp(cg, LLVMBuildFSub(cg->b, v, mx, "")), inv, "");
      epi.coords[axis] = al.iv;
      epi.coords[rank - 1] = cl.iv;
      qk_epi_store(&epi, outp, y, lanes);
      qiao_cpu_loop_end(cg, &al);
      qiao_cpu_loop_end(cg, &cl);
    }
    qk_rows_end(cg, &rl);
    out->grid[0] = rl.n_chunks;
  }
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  return NULL;
}
