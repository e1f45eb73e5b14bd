/* CPU backend — COPY kernels: transpose, slice (with step), concat
 * (variadic), reshape (of any strided value) and rope.
 *
 * The first four are affine copies: a loop nest over a domain (the output for
 * transpose/slice, each input for concat, the input for reshape) with an
 * input and an output offset linear in the domain coordinates. Domain rows
 * are split over workgroups; the last domain dim is a run copied with
 * vectors when both strides are 1 (bits copied exactly when there is no
 * epilogue). Rope computes cos/sin of pos * theta^(-2i/D) in f64 once per
 * (b, s) and applies them to every head. */
#include "common/copy_plan.h"
#include "cpu/lower_common.h"

typedef qiao_cg_affine_t affine_t;

/* Tiled copy for a raw copy whose run (last domain dim) reads with a stride
 * while another domain dim `kd_` reads contiguously (transposes): TK
 * consecutive source elements along kd_ are loaded as one vector and
 * scattered to TK output rows, so reads are whole lines and the TK output
 * lines being written stay in L1. */
static void emit_tiled(qiao_cpu_codegen_t *cg, LLVMValueRef fn, const qiao_kernel_desc_t *kd,
                       LLVMValueRef srcp, LLVMValueRef outp, const affine_t *a, int kdim,
                       int64_t n_chunks, int64_t *out_chunks) {
  const qiao_kd_operand_t *src = &kd->inputs[a->input];
  qiao_dtype_t dt = src->type.dtype;
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  unsigned al = (unsigned)qiao_dtype_size(dt);
  int n = a->n;
  const unsigned TK = 16;
  int64_t rd[QIAO_MAX_RANK];
  int64_t rows = 1;
  for (int d = 0; d < n - 1; ++d) {
    rd[d] = d == kdim ? (a->dims[d] + TK - 1) / TK : a->dims[d];
    rows *= rd[d];
  }
  int64_t L = a->dims[n - 1];
  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, n_chunks, &rl, "tile");
  *out_chunks = rl.n_chunks;
  LLVMValueRef c[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, n - 1, rd, c);
  c[kdim] = qiao_cg_imul(&cg->base, c[kdim], TK);
  LLVMValueRef soff = qiao_cg_iadd(&cg->base, qiao_cg_i64(&cg->base, a->in_base),
                                   qiao_cg_offset(&cg->base, n - 1, c, a->in_st));
  LLVMValueRef doff = qiao_cg_iadd(&cg->base, qiao_cg_i64(&cg->base, a->out_base),
                                   qiao_cg_offset(&cg->base, n - 1, c, a->out_st));
  LLVMValueRef kn =
      qiao_cg_imin(&cg->base, qiao_cg_i64(&cg->base, TK),
                   LLVMBuildSub(cg->b, qiao_cg_i64(&cg->base, a->dims[kdim]), c[kdim], ""));
  LLVMBasicBlockRef full = LLVMAppendBasicBlockInContext(cg->ctx, fn, "full");
  LLVMBasicBlockRef part = LLVMAppendBasicBlockInContext(cg->ctx, fn, "part");
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, fn, "join");
  LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, kn, qiao_cg_i64(&cg->base, TK), ""), full,
                  part);
  int64_t sj = a->in_st[n - 1], dj = a->out_st[n - 1], dk = a->out_st[kdim];
  {
    LLVMPositionBuilderAtEnd(cg->b, full);
    int64_t jv = dj == 1 ? L / TK * TK : 0;
    if (jv > 0) {
      /* TK x TK blocks transposed in registers (log2(TK) rounds of interleaves),
       * stored as whole output vectors */
      qiao_cg_loop_t bl;
      qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, jv), TK, "tb",
                         &bl);
      LLVMValueRef r[16];
      for (unsigned q = 0; q < TK; ++q) {
        LLVMValueRef jq = qiao_cg_iadd(&cg->base, bl.iv, qiao_cg_i64(&cg->base, q));
        r[q] = LLVMBuildLoad2(
            cg->b, LLVMVectorType(st, TK),
            qiao_cg_elem_ptr(&cg->base, srcp, dt, qiao_cg_imadd(&cg->base, soff, jq, sj)), "");
        LLVMSetAlignment(r[q], al);
      }
      qk_transpose_regs(cg, r, TK);
      LLVMValueRef ob = qiao_cg_iadd(&cg->base, doff, bl.iv);
      for (unsigned q = 0; q < TK; ++q) {
        LLVMValueRef sv = LLVMBuildStore(
            cg->b, r[q],
            qiao_cg_elem_ptr(&cg->base, outp, dt,
                             qiao_cg_iadd(&cg->base, ob, qiao_cg_i64(&cg->base, (int64_t)q * dk))));
        LLVMSetAlignment(sv, al);
      }
      qiao_cg_loop_end(&cg->base, &bl);
    }
    qiao_cg_loop_t jl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, jv), qiao_cg_i64(&cg->base, L), 1, "tj",
                       &jl);
    LLVMValueRef v = LLVMBuildLoad2(
        cg->b, LLVMVectorType(st, TK),
        qiao_cg_elem_ptr(&cg->base, srcp, dt, qiao_cg_imadd(&cg->base, soff, jl.iv, sj)), "");
    LLVMSetAlignment(v, al);
    LLVMValueRef o = qiao_cg_imadd(&cg->base, doff, jl.iv, dj);
    for (unsigned l = 0; l < TK; ++l) {
      LLVMValueRef e = LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, l, 0), "");
      LLVMValueRef s = LLVMBuildStore(
          cg->b, e,
          qiao_cg_elem_ptr(&cg->base, outp, dt,
                           qiao_cg_iadd(&cg->base, o, qiao_cg_i64(&cg->base, (int64_t)l * dk))));
      LLVMSetAlignment(s, al);
    }
    qiao_cg_loop_end(&cg->base, &jl);
    LLVMBuildBr(cg->b, join);
  }
  {
    LLVMPositionBuilderAtEnd(cg->b, part);
    qiao_cg_loop_t jl, kl;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, L), 1, "pj",
                       &jl);
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), kn, 1, "pk", &kl);
    LLVMValueRef v = LLVMBuildLoad2(
        cg->b, st,
        qiao_cg_elem_ptr(&cg->base, srcp, dt,
                         qiao_cg_iadd(&cg->base, qiao_cg_imadd(&cg->base, soff, jl.iv, sj), kl.iv)),
        "");
    LLVMSetAlignment(v, al);
    LLVMValueRef s = LLVMBuildStore(
        cg->b, v,
        qiao_cg_elem_ptr(
            &cg->base, outp, dt,
            qiao_cg_imadd(&cg->base, qiao_cg_imadd(&cg->base, doff, jl.iv, dj), kl.iv, dk)));
    LLVMSetAlignment(s, al);
    qiao_cg_loop_end(&cg->base, &kl);
    qiao_cg_loop_end(&cg->base, &jl);
    LLVMBuildBr(cg->b, join);
  }
  LLVMPositionBuilderAtEnd(cg->b, join);
  qk_rows_end(cg, &rl);
}

/* Emits one affine copy inside the current function; rows split by wg x. */
static void emit_affine(qiao_cpu_codegen_t *cg, LLVMValueRef fn, const qiao_kernel_desc_t *kd,
                        qiao_cg_epi_t *epi, LLVMValueRef outp, const affine_t *a, int64_t n_chunks,
                        int64_t *out_chunks) {
  const qiao_kd_operand_t *src = &kd->inputs[a->input];
  const qiao_kd_operand_t *o = &kd->outputs[0];
  LLVMValueRef srcp = epi->in[a->input];
  int n = a->n > 0 ? a->n : 1;
  int64_t dims[QIAO_MAX_RANK], ist[QIAO_MAX_RANK], ost[QIAO_MAX_RANK];
  for (int d = 0; d < n; ++d) {
    dims[d] = a->n > 0 ? a->dims[d] : 1;
    ist[d] = a->n > 0 ? a->in_st[d] : 0;
    ost[d] = a->n > 0 ? a->out_st[d] : 0;
  }
  int64_t rows = 1;
  for (int d = 0; d < n - 1; ++d)
    rows *= dims[d];
  int64_t L = dims[n - 1];
  if (rows * L == 0) {
    *out_chunks = 1;
    return;
  }
  bool epi_on = kd->n_expr > 0;
  if (!epi_on && !a->reshape && a->n >= 2 && ist[n - 1] != 1 && src->type.dtype == o->type.dtype) {
    for (int d = 0; d < n - 1; ++d)
      if (ist[d] == 1 && dims[d] >= 8) {
        emit_tiled(cg, fn, kd, srcp, outp, a, d, n_chunks, out_chunks);
        return;
      }
  }
  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, n_chunks, &rl, "row");
  *out_chunks = rl.n_chunks;
  LLVMValueRef c[QIAO_MAX_RANK];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, n - 1, dims, c);
  LLVMValueRef soff = qiao_cg_iadd(&cg->base, qiao_cg_i64(&cg->base, a->in_base),
                                   qiao_cg_offset(&cg->base, n - 1, c, ist));
  LLVMValueRef doff = qiao_cg_iadd(&cg->base, qiao_cg_i64(&cg->base, a->out_base),
                                   qiao_cg_offset(&cg->base, n - 1, c, ost));
  if (epi_on && a->reshape) {
    /* element by element: output coords from the linear output offset */
    qiao_cg_loop_t l;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, L), 1, "el",
                       &l);
    LLVMValueRef so = qiao_cg_imadd(&cg->base, soff, l.iv, ist[n - 1]),
                 dof = qiao_cg_imadd(&cg->base, doff, l.iv, ost[n - 1]);
    qiao_cg_unflatten(&cg->base, dof, o->type.shape.rank, o->type.shape.dims, epi->coords);
    LLVMValueRef v = qiao_cg_load_f32(&cg->base, srcp, src->type.dtype, so, 1);
    v = qiao_cg_epi_apply(epi, v, 1);
    qiao_cg_store_f32(&cg->base, v, outp, o->type.dtype, dof, 1);
    qiao_cg_loop_end(&cg->base, &l);
  } else {
    int coord_dim = -1;
    LLVMValueRef cb = NULL;
    if (epi_on) {
      for (int d = 0; d < epi->rank; ++d) {
        int dd = a->out_dim[d];
        if (dd == n - 1 && a->n > 0) {
          coord_dim = d;
          cb = qiao_cg_i64(&cg->base, a->out_add[d]);
          continue;
        }
        LLVMValueRef v = dd >= 0 && dd < n - 1 ? c[dd] : qiao_cg_i64(&cg->base, 0);
        epi->coords[d] =
            a->out_add[d] ? qiao_cg_iadd(&cg->base, v, qiao_cg_i64(&cg->base, a->out_add[d])) : v;
      }
    }
    qiao_cg_copy_run(&cg->base, epi, srcp, src->type.dtype, soff, ist[n - 1], outp, o->type.dtype,
                     doff, ost[n - 1], L, coord_dim, cb);
  }
  qk_rows_end(cg, &rl);
}

static qiao_status_t lower_rope(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                const char *name, qiao_cpu_kernel_t *out) {
  const qiao_kd_operand_t *x = &kd->inputs[0], *P = &kd->inputs[1], *o = &kd->outputs[0];
  if (x->type.shape.rank != 4 || kd->n_primary_inputs < 2)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "rope kernel %s: x must be [B, H, S, D]", name);
  int64_t B = x->type.shape.dims[0], H = x->type.shape.dims[1], S = x->type.shape.dims[2],
          D = x->type.shape.dims[3];
  if (D % 2) return qiao_status_make(QIAO_INVALID_ARGUMENT, "rope kernel %s: D is odd", name);
  if (!cg->math->sin || !cg->math->cos)
    return qiao_status_make(QIAO_UNSUPPORTED, "rope kernel %s: math '%s' has no sin/cos", name,
                            cg->math->name);
  int64_t half = D / 2;
  bool per_batch = P->type.shape.rank == 2;
  bool gptj = kd->attrs.mode == QIAO_ROPE_GPTJ;
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;

  /* inverse frequencies as an f64 constant table */
  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  LLVMValueRef *fr = malloc(sizeof(LLVMValueRef) * (size_t)(half ? half : 1));
  if (!fr) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int64_t i = 0; i < half; ++i)
    fr[i] = LLVMConstReal(cg->t_f64, pow(kd->attrs.theta, -2.0 * (double)i / (double)D));
  LLVMTypeRef at = LLVMArrayType2(cg->t_f64, (uint64_t)(half ? half : 1));
  if (!half) fr[0] = LLVMConstReal(cg->t_f64, 0.0);
  LLVMValueRef tab = LLVMAddGlobal(cg->mod, at, "");
  LLVMSetInitializer(tab, LLVMConstArray2(cg->t_f64, fr, (uint64_t)(half ? half : 1)));
  LLVMSetGlobalConstant(tab, 1);
  LLVMSetLinkage(tab, LLVMPrivateLinkage);
  free(fr);

  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef xp = epi.in[0], pp = epi.in[1];
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  LLVMValueRef scr = qiao_cpu_scratch(cg, fn); /* cos[half], sin[half] as f32 */
  int64_t rows = B * S, rdims[2] = {B, S};
  qk_rows_t rl;
  qk_rows_begin(cg, fn, rows, qk_plan_chunks(cg, rows, H * D * 2 + half * 40), &rl, "row");
  LLVMValueRef rc[2];
  qiao_cg_unflatten(&cg->base, rl.loop.iv, 2, rdims, rc);
  LLVMValueRef b = rc[0], s = rc[1];
  /* position, exactly as an integer, then f64 */
  LLVMValueRef poff =
      per_batch
          ? qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, P->strides[0]), s, P->strides[1])
          : qiao_cg_imul(&cg->base, s, P->strides[0]);
  LLVMTypeRef pst = qiao_cg_storage_type(&cg->base, P->type.dtype);
  LLVMValueRef pos =
      LLVMBuildLoad2(cg->b, pst, qiao_cg_elem_ptr(&cg->base, pp, P->type.dtype, poff), "");
  if (pst != cg->t_i64) pos = LLVMBuildSExt(cg->b, pos, cg->t_i64, "");
  LLVMValueRef posd = LLVMBuildSIToFP(cg->b, pos, cg->t_f64, "");
  {
    qiao_cg_loop_t l;
    qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, half), 1, "cs",
                       &l);
    LLVMValueRef idx[2] = {qiao_cg_i64(&cg->base, 0), l.iv};
    LLVMValueRef f =
        LLVMBuildLoad2(cg->b, cg->t_f64, LLVMBuildGEP2(cg->b, at, tab, idx, 2, ""), "");
    LLVMValueRef ang = LLVMBuildFMul(cg->b, posd, f, "");
    LLVMValueRef cv = cg->math->cos(&cg->base, ang);
    LLVMValueRef sv = cg->math->sin(&cg->base, ang);
    qiao_cg_stf(&cg->base, LLVMBuildFPTrunc(cg->b, cv, cg->t_f32, ""), scr, l.iv);
    qiao_cg_stf(&cg->base, LLVMBuildFPTrunc(cg->b, sv, cg->t_f32, ""), scr,
                qiao_cg_iadd(&cg->base, l.iv, qiao_cg_i64(&cg->base, half)));
    qiao_cg_loop_end(&cg->base, &l);
  }
  qiao_cg_loop_t hl;
  qiao_cg_loop_begin(&cg->base, qiao_cg_i64(&cg->base, 0), qiao_cg_i64(&cg->base, H), 1, "h", &hl);
  LLVMValueRef xrow = qiao_cg_imadd(
      &cg->base,
      qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, x->strides[0]), hl.iv, x->strides[1]), s,
      x->strides[2]);
  LLVMValueRef orow = qiao_cg_imadd(
      &cg->base,
      qiao_cg_imadd(&cg->base, qiao_cg_imul(&cg->base, b, o->strides[0]), hl.iv, o->strides[1]), s,
      o->strides[2]);
  int64_t sx = x->strides[3], so = o->strides[3];
  epi.coords[0] = b;
  epi.coords[1] = hl.iv;
  epi.coords[2] = s;
  int64_t e0 = gptj ? 2 : 1; /* element index of pair member 0: i*e0, member 1: +off */
  int64_t off1 = gptj ? 1 : half;
  unsigned VL = gptj ? 1 : V;
  for (qiao_cg_vloop_t il = qiao_cg_vloop_start(0, half, VL, 0, "i");
       qiao_cg_vloop_next(&cg->base, &il);) {
    unsigned lanes = il.lanes;
    LLVMValueRef i0 = qiao_cg_imul(&cg->base, il.i, e0);
    LLVMValueRef i1 = qiao_cg_iadd(&cg->base, i0, qiao_cg_i64(&cg->base, off1));
    LLVMValueRef x0 = qiao_cg_load_strided(&cg->base, xp, x->type.dtype,
                                           qiao_cg_imadd(&cg->base, xrow, i0, sx), sx, lanes);
    LLVMValueRef x1 = qiao_cg_load_strided(&cg->base, xp, x->type.dtype,
                                           qiao_cg_imadd(&cg->base, xrow, i1, sx), sx, lanes);
    LLVMValueRef cv = qiao_cg_ldf(&cg->base, scr, il.i, lanes);
    LLVMValueRef sv = qiao_cg_ldf(
        &cg->base, scr, qiao_cg_iadd(&cg->base, il.i, qiao_cg_i64(&cg->base, half)), lanes);
    LLVMValueRef y0 = LLVMBuildFSub(cg->b, LLVMBuildFMul(cg->b, x0, cv, ""),
                                    LLVMBuildFMul(cg->b, x1, sv, ""), "");
    LLVMValueRef y1 = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, x1, cv, ""),
                                    LLVMBuildFMul(cg->b, x0, sv, ""), "");
    epi.coords[3] = i0;
    y0 = qiao_cg_epi_apply(&epi, y0, lanes);
    qiao_cg_store_strided(&cg->base, y0, outp, o->type.dtype,
                          qiao_cg_imadd(&cg->base, orow, i0, so), so, lanes);
    epi.coords[3] = i1;
    y1 = qiao_cg_epi_apply(&epi, y1, lanes);
    qiao_cg_store_strided(&cg->base, y1, outp, o->type.dtype,
                          qiao_cg_imadd(&cg->base, orow, i1, so), so, lanes);
  }
  qiao_cg_loop_end(&cg->base, &hl);
  qk_kernel_end(cg, &rl, fn, (uint64_t)(half * 8 + 64), out);
  return NULL;
}

qiao_status_t qiao_cpu_lower_copy(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out) {
  qk_kernel_init(out);
  if (kd->op == QIAO_OP_ROPE) return lower_rope(cg, kd, name, out);
  const qiao_kd_operand_t *o = &kd->outputs[0];
  affine_t segs[QIAO_KD_MAX_OPERANDS];
  int n_segs = 0;
  QIAO_RETURN_IF_ERROR(qiao_cg_copy_plan(kd, name, segs, &n_segs));
  LLVMValueRef fn = qiao_cpu_entry_begin(cg, name);
  qiao_cg_epi_t epi;
  qk_epi_init(&epi, cg, kd, fn);
  LLVMValueRef outp = qiao_cpu_binding(cg, fn, kd->n_inputs);
  int64_t total = qiao_shape_numel(&o->type.shape);
  int64_t want = qk_plan_chunks(cg, total, 1), grid = 1;
  for (int i = 0; i < n_segs; ++i) {
    int64_t rows = 1;
    for (int d = 0; d < segs[i].n - 1; ++d)
      rows *= segs[i].dims[d];
    int64_t chunks = want < rows ? want : rows;
    if (chunks < 1) chunks = 1;
    int64_t got = 1;
    LLVMBasicBlockRef cont = NULL;
    if (n_segs > 1 && chunks == 1) /* a single-chunk segment runs on workgroup 0 only */
      cont = qiao_cg_if(
          &cg->base,
          LLVMBuildICmp(cg->b, LLVMIntEQ, qiao_cpu_wg(cg, fn, 0), qiao_cg_i64(&cg->base, 0), ""),
          "seg");
    emit_affine(cg, fn, kd, &epi, outp, &segs[i], chunks, &got);
    if (cont) qiao_cg_endif(&cg->base, cont);
    if (got > grid) grid = got;
  }
  LLVMBuildRetVoid(cg->b);
  out->fn = fn;
  out->grid[0] = grid;
  return NULL;
}
