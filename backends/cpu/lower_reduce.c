/* CPU backend — REDUCE kernels (reduce_sum / reduce_max / reduce_mean).
 *
 * The kept dims of x are the output rows (split over workgroups); for each
 * output element the reduced dims are walked with a loop nest. When x's last
 * dim is reduced and contiguous it is the vectorized loop (<vec x f32>
 * accumulator, scalar tail); when it is kept, <vec> neighbouring output
 * elements are reduced together (column mode). Accumulation is in f32. */
#include "cpu/lower_common.h"

typedef struct red_plan {
  int rank;
  bool reduced[QIAO_MAX_RANK];
  int n_kept, n_red;
  int kept[QIAO_MAX_RANK], red[QIAO_MAX_RANK]; /* x dims */
  int out_dim_of[QIAO_MAX_RANK];               /* x dim -> output dim (-1 when dropped) */
  int64_t count;
} red_plan_t;

static LLVMValueRef red_combine(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                                LLVMValueRef v) {
  if (op == QIAO_OP_REDUCE_MAX) {
    /* NaN propagates, like the interpreter */
    LLVMValueRef gt = LLVMBuildFCmp(cg->b, LLVMRealUGT, v, acc, "");
    return LLVMBuildSelect(cg->b, gt, v, acc, "");
  }
  return LLVMBuildFAdd(cg->b, acc, v, "");
}

static LLVMValueRef red_hfinal(qiao_cpu_codegen_t *cg, qiao_op_kind_t op, LLVMValueRef acc,
                               unsigned lanes) {
  if (lanes == 1) return acc;
  if (op != QIAO_OP_REDUCE_MAX) return qiao_cpu_reduce_add(cg, acc);
  LLVMValueRef r = LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, 0, 0), "");
  for (unsigned l = 1; l < lanes; ++l)
    r = red_combine(cg, op, r,
                    LLVMBuildExtractElement(cg->b, acc, LLVMConstInt(cg->t_i32, l, 0), ""));
  return r;
}

qiao_status_t qiao_cpu_lower_reduce(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *x = &kd->inputs[0];
  red_plan_t p;
  memset(&p, 0, sizeof p);
  p.rank = x->type.shape.rank;
  for (int i = 0; i < kd->attrs.n_axes; ++i) {
    int ax = qk_norm_axis(kd->attrs.axes[i], p.rank);
    if (ax < 0 || ax >= p.rank)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "reduce kernel %s: axis out of range", name);
    p.reduced[ax] = true;
  }
  p.count = 1;
  int od = 0;
  for (int d = 0; d < p.rank; ++d) {
    if (p.reduced[d]) {
      p.red[p.n_red++] = d;
      p.count *= x->type.shape.dims[d];
      p.out_dim_of[d] = kd->attrs.keepdims ? od++ : -1;
    } else {
      p.kept[p.n_kept++] = d;
      p.out_dim_of[d] = od++;
    }
  }
  qiao_op_kind_t op = kd->op;
  int last = p.rank - 1;
  bool row_mode = p.rank > 0 && p.reduced[last] && x->strides[last] == 1;
  bool col_mode = p.rank > 0 && !p.reduced[last] && p.n_red > 0;
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  /* rows: all kept dims (col mode: all but the last kept dim) */
  int n_row_dims = col_mode ? p.n_kept - 1 : p.n_kept;
  int64_t row_dims[QIAO_MAX_RANK];
  int64_t rows = 1;
  for (int i = 0; i < n_row_dims; ++i)
    rows *= (row_dims[i] = x->type.shape.dims[p.kept[i]]);
  int64_t inner_n = col_mode ? x->type.shape.dims[last] : 1;
  int64_t chunks = qk_plan_chunks(cg, rows, p.count * inner_n);

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qk_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef xp = epi.in[0];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef accp = qk_alloca(cg, fn, LLVMVectorType(cg->t_f32, V), "acc");
  LLVMValueRef accs = qk_alloca(cg, fn, cg->t_f32, "accs");
  double init = op == QIAO_OP_REDUCE_MAX ? -INFINITY : 0.0;

  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, chunks, &rl, "row");
  LLVMValueRef rc[QIAO_MAX_RANK];
  qk_unflatten(cg, rl.loop.iv, n_row_dims, row_dims, rc);
  LLVMValueRef xcoord[QIAO_MAX_RANK] = {0};
  for (int i = 0; i < n_row_dims; ++i)
    xcoord[p.kept[i]] = rc[i];
  /* output coordinates for the epilogue/store */
  for (int d = 0; d < epi.rank; ++d)
    epi.coords[d] = qiao_cpu_i64(cg, 0);
  for (int i = 0; i < n_row_dims; ++i)
    epi.coords[p.out_dim_of[p.kept[i]]] = rc[i];
  LLVMValueRef xbase = qk_offset(cg, p.rank, xcoord, x->strides);

  /* walks the reduced dims except `skip` (a dim handled by the caller), calling
   * body(offset) — done with explicit loops below */
  if (!col_mode) {
    unsigned lanes_list[2] = {V, 1};
    int n_outer_red = row_mode ? p.n_red - 1 : p.n_red;
    int64_t L = row_mode ? x->type.shape.dims[last] : 1;
    qk_st(cg, qk_fconst(cg, init, V), accp);
    qk_st(cg, LLVMConstReal(cg->t_f32, init), accs);
    qiao_cpu_loop_t loops[QIAO_MAX_RANK];
    LLVMValueRef off = xbase;
    for (int i = 0; i < n_outer_red; ++i) {
      int d = p.red[i];
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, x->type.shape.dims[d]), 1, "r",
                          &loops[i]);
      off = qk_madd(cg, off, loops[i].iv, x->strides[d]);
    }
    if (row_mode) {
      int64_t nvec = L / V * V;
      if (nvec > 0) {
        qiao_cpu_loop_t vl;
        qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, nvec), V, "v", &vl);
        LLVMValueRef v = qiao_cpu_load_f32(cg, xp, x->type.dtype, qk_add(cg, off, vl.iv), V);
        qk_st(cg, red_combine(cg, op, qk_ld(cg, LLVMVectorType(cg->t_f32, V), accp), v), accp);
        qiao_cpu_loop_end(cg, &vl);
      }
      if (nvec < L) {
        qiao_cpu_loop_t tl;
        qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, nvec), qiao_cpu_i64(cg, L), 1, "t", &tl);
        LLVMValueRef v = qiao_cpu_load_f32(cg, xp, x->type.dtype, qk_add(cg, off, tl.iv), 1);
        qk_st(cg, red_combine(cg, op, qk_ld(cg, cg->t_f32, accs), v), accs);
        qiao_cpu_loop_end(cg, &tl);
      }
    } else {
      LLVMValueRef v = qiao_cpu_load_f32(cg, xp, x->type.dtype, off, 1);
      qk_st(cg, red_combine(cg, op, qk_ld(cg, cg->t_f32, accs), v), accs);
    }
    for (int i = n_outer_red - 1; i >= 0; --i)
      qiao_cpu_loop_end(cg, &loops[i]);
    (void)lanes_list;
    LLVMValueRef r =
        red_combine(cg, op, qk_ld(cg, cg->t_f32, accs),
                    red_hfinal(cg, op, qk_ld(cg, LLVMVectorType(cg->t_f32, V), accp), V));
    if (op == QIAO_OP_REDUCE_MEAN)
      r = LLVMBuildFDiv(cg->b, r, qiao_cpu_f32c(cg, (double)p.count), "");
    qk_epi_store(&epi, outp, r, 1);
  } else {
    /* column mode: lanes over x's last (kept) dim */
    int64_t N = x->type.shape.dims[last];
    int64_t xs_last = x->strides[last];
    int olast = p.out_dim_of[last];
    for (int pass = 0; pass < 2; ++pass) {
      unsigned lanes = pass == 0 ? V : 1;
      int64_t lo = pass == 0 ? 0 : N / V * V, hi = pass == 0 ? N / V * V : N;
      if (lo >= hi) continue;
      LLVMTypeRef vt = qiao_cpu_vec_type(cg, cg->t_f32, lanes);
      LLVMValueRef ap = pass == 0 ? accp : accs;
      qiao_cpu_loop_t cl;
      qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, lo), qiao_cpu_i64(cg, hi), lanes, "c", &cl);
      qk_st(cg, qk_fconst(cg, init, lanes), ap);
      LLVMValueRef off = qk_madd(cg, xbase, cl.iv, xs_last);
      qiao_cpu_loop_t loops[QIAO_MAX_RANK];
      for (int i = 0; i < p.n_red; ++i) {
        int d = p.red[i];
        qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, 0), qiao_cpu_i64(cg, x->type.shape.dims[d]), 1,
                            "r", &loops[i]);
        off = qk_madd(cg, off, loops[i].iv, x->strides[d]);
      }
      LLVMValueRef v = qk_load(cg, xp, x->type.dtype, off, xs_last, lanes);
      qk_st(cg, red_combine(cg, op, qk_ld(cg, vt, ap), v), ap);
      for (int i = p.n_red - 1; i >= 0; --i)
        qiao_cpu_loop_end(cg, &loops[i]);
      LLVMValueRef r = qk_ld(cg, vt, ap);
      if (op == QIAO_OP_REDUCE_MEAN)
        r = LLVMBuildFDiv(cg->b, r, qk_fconst(cg, (double)p.count, lanes), "");
      epi.coords[olast] = cl.iv;
      qk_epi_store(&epi, outp, r, lanes);
      qiao_cpu_loop_end(cg, &cl);
    }
  }
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  return NULL;
}
