/* CPU backend — GATHER kernels (numpy take):
 *   out[o..., j..., t...] = table[o..., indices[j...], t...]
 * Rows are (outer coords, index position), split over workgroups; each row
 * copies the trailing block of the table (vectorized over the last dim, bits
 * copied exactly when there is no epilogue). Indices are clamped into
 * [0, V) so a bad index cannot read outside the table (the interpreter
 * rejects them). */
#include "cpu/lower_common.h"

qiao_status_t qiao_cpu_lower_gather(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  const qiao_kd_operand_t *T = &kd->inputs[0], *I = &kd->inputs[1], *o = &kd->outputs[0];
  int tr = T->type.shape.rank, ir = I->type.shape.rank;
  int ax = qk_norm_axis(kd->attrs.axis, tr);
  if (ax < 0 || ax >= tr || !qiao_dtype_is_int(I->type.dtype))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "gather kernel %s: bad axis or index dtype",
                            name);
  int64_t Vn = T->type.shape.dims[ax];
  /* row dims: table dims before axis, then the index dims */
  int n_row = 0;
  int64_t row_dims[2 * QIAO_MAX_RANK];
  for (int d = 0; d < ax; ++d)
    row_dims[n_row++] = T->type.shape.dims[d];
  for (int d = 0; d < ir; ++d)
    row_dims[n_row++] = I->type.shape.dims[d];
  int64_t rows = 1;
  for (int d = 0; d < n_row; ++d)
    rows *= row_dims[d];
  int n_tr = tr - ax - 1; /* trailing dims */
  int64_t inner = 1;
  for (int d = ax + 1; d < tr; ++d)
    inner *= T->type.shape.dims[d];
  int orank = o->type.shape.rank;
  if (orank != n_row + n_tr || n_row > QIAO_MAX_RANK)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "gather kernel %s: result rank mismatch", name);

  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef tp = epi.in[0], ip = epi.in[1];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, inner), &rl, "row");
  LLVMValueRef rc[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, n_row, row_dims, rc);
  /* the index */
  LLVMValueRef ioff = qiao_cg_offset(&cg->base, ir, rc + ax, I->strides);
  LLVMTypeRef ist = qiao_cg_storage_type(&cg->base, I->type.dtype);
  LLVMValueRef idx =
      LLVMBuildLoad2(cg->b, ist, qiao_cg_elem_ptr(&cg->base, ip, I->type.dtype, ioff), "");
  if (ist != cg->t_i64) idx = LLVMBuildSExt(cg->b, idx, cg->t_i64, "");
  idx = qiao_cg_imax(&cg->base, qiao_cg_imin(&cg->base, idx, qiao_cg_i64(&cg->base, Vn - 1)),
                     qiao_cg_i64(&cg->base, 0));
  LLVMValueRef tbase =
      qiao_cg_imadd(&cg->base, qiao_cg_offset(&cg->base, ax, rc, T->strides), idx, T->strides[ax]);
  LLVMValueRef obase = qiao_cg_offset(&cg->base, n_row, rc, o->strides);
  for (int d = 0; d < n_row; ++d)
    epi.coords[d] = rc[d];
  if (n_tr == 0) {
    qiao_cg_copy_run(&cg->base, &epi, tp, T->type.dtype, tbase, 1, outp, o->type.dtype, obase, 1, 1,
                     -1, NULL);
  } else {
    /* loops over the trailing dims but the last; the last is a run */
    qiao_cg_loop_t loops[QIAO_MAX_RANK];
    LLVMValueRef toff = tbase, ooff = obase;
    for (int i = 0; i < n_tr - 1; ++i) {
      int d = ax + 1 + i;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0),
                         qiao_cg_i64(&cg->base, T->type.shape.dims[d]), 1, "t", &loops[i]);
      toff = qiao_cg_imadd(&cg->base, toff, loops[i].iv, T->strides[d]);
      ooff = qiao_cg_imadd(&cg->base, ooff, loops[i].iv, o->strides[n_row + i]);
      epi.coords[n_row + i] = loops[i].iv;
    }
    qiao_cg_copy_run(&cg->base, &epi, tp, T->type.dtype, toff, T->strides[tr - 1], outp,
                     o->type.dtype, ooff, o->strides[orank - 1], T->type.shape.dims[tr - 1],
                     orank - 1, NULL);
    for (int i = n_tr - 2; i >= 0; --i)
      qiao_cg_loop_end(&cg->base, &loops[i]);
  }
  qk_rows_end(cg, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = rl.n_chunks;
  return NULL;
}
