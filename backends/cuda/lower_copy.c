/* CUDA backend — COPY kernels (transpose, slice, concat, reshape) and
 * GATHER kernels: data movement by index map.
 *
 * Affine copies: a domain (the output for transpose/slice, each input for
 * concat, the input for reshape) whose coordinates give an input offset and
 * an output offset, both linear. Each segment is a grid-stride loop over its
 * domain (block 256): one element per iteration, consecutive threads on
 * consecutive domain elements (the output's last dim: coalesced stores).
 * Bits are copied exactly when there is no epilogue and the dtypes match.
 *
 * Transposes whose output runs (last dim) read the input with a stride while
 * another dim reads it contiguously go through shared memory instead: a CTA
 * of 32 x 8 threads moves a 32 x 32 tile — coalesced 32-wide reads along the
 * input's contiguous dim into a [32][33] shared tile (the pad keeps the
 * column reads free of bank conflicts), bar.sync, coalesced 32-wide writes
 * along the output's last dim, bar.sync before the tile is reused. Tiles
 * (times the remaining batch dims) are taken CTA-stride.
 *
 * Gather (numpy take, out[o.., j.., t..] = table[o.., idx[j..], t..]): one
 * output element per iteration of a grid-stride loop; the index is loaded,
 * clamped into [0, V) (the interpreter rejects bad indices; a kernel must not
 * read outside the table) and the table element copied. */
#include <string.h>

#include "common/copy_plan.h"
#include "cuda/codegen.h"

typedef qiao_cg_affine_t affine_t;

/* Copies one element: raw bits when `raw`, else through f32 + epilogue. */
static void copy_elem(qiao_cuda_codegen_t *cg, qiao_cuda_epi_t *e, bool raw, LLVMValueRef inp,
                      qiao_dtype_t idt, LLVMValueRef ioff, LLVMValueRef ooff) {
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  LLVMValueRef outp = qiao_cuda_param(cg, e->kd->n_inputs);
  if (raw) {
    LLVMTypeRef st = qiao_cg_storage_type(&cg->base, idt);
    LLVMValueRef v = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, inp, idt, ioff), "");
    LLVMSetAlignment(v, (unsigned)qiao_dtype_size(idt));
    LLVMValueRef s = LLVMBuildStore(cg->b, v, qiao_cg_elem_ptr(&cg->base, outp, idt, ooff));
    LLVMSetAlignment(s, (unsigned)qiao_dtype_size(idt));
    return;
  }
  LLVMValueRef v = qiao_cg_load_f32(&cg->base, inp, idt, ioff, 1);
  if (e->kd->n_expr > 0) {
    v = qiao_cg_round_f32(&cg->base, v, e->kd->primary_dtype);
    v = qiao_cuda_epi_expr(e, v);
  }
  qiao_cg_store_f32(&cg->base, v, outp, o->type.dtype, ooff, 1);
}

static void emit_affine(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd, const affine_t *a) {
  const qiao_kd_operand_t *o = &kd->outputs[0], *x = &kd->inputs[a->input];
  bool raw = kd->n_expr == 0 && x->type.dtype == o->type.dtype;
  int64_t total = 1;
  for (int d = 0; d < a->n; ++d)
    total *= a->dims[d];
  if (total == 0) return;
  qiao_cuda_epi_t e;
  qiao_cuda_epi_init(&e, cg, kd);
  qiao_cg_loop_t l;
  qiao_cuda_grid_loop_begin(cg, total, &l);
  LLVMValueRef c[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, l.iv, a->n, a->dims, c);
  LLVMValueRef ioff = LLVMBuildAdd(cg->b, qiao_cg_i64(&cg->base, a->in_base),
                                   qiao_cuda_offset(cg, a->n, c, a->in_st), "");
  LLVMValueRef ooff;
  if (a->reshape) {
    ooff = l.iv; /* the output is contiguous */
    if (!raw) qiao_cuda_unflatten(cg, l.iv, e.rank, o->type.shape.dims, e.coords);
  } else {
    ooff = LLVMBuildAdd(cg->b, qiao_cg_i64(&cg->base, a->out_base),
                        qiao_cuda_offset(cg, a->n, c, a->out_st), "");
    for (int d = 0; d < e.rank; ++d)
      e.coords[d] = a->out_add[d] ? LLVMBuildAdd(cg->b, c[a->out_dim[d]],
                                                 qiao_cg_i64(&cg->base, a->out_add[d]), "")
                                  : c[a->out_dim[d]];
  }
  copy_elem(cg, &e, raw, qiao_cuda_param(cg, a->input), x->type.dtype, ioff, ooff);
  qiao_cg_loop_end(&cg->base, &l);
}

/* if (cond) { ... } helpers */
static LLVMBasicBlockRef if_begin(qiao_cuda_codegen_t *cg, LLVMValueRef cond, const char *name) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, name);
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "join");
  LLVMBuildCondBr(cg->b, cond, then, join);
  LLVMPositionBuilderAtEnd(cg->b, then);
  return join;
}
static void if_end(qiao_cuda_codegen_t *cg, LLVMBasicBlockRef join) {
  LLVMBuildBr(cg->b, join);
  LLVMPositionBuilderAtEnd(cg->b, join);
}

enum { TILE = 32, TROWS = 8 };

/* The shared-memory tiled transpose of a raw copy: domain dim `kk` reads the
 * input contiguously, the last domain dim `jj` writes the output
 * contiguously. Returns the grid (CTAs). */
/* k < Dk && j < Dj (a tile element inside the matrix). */
static LLVMValueRef both_below(qiao_cuda_codegen_t *cg, LLVMValueRef k, int64_t Dk, LLVMValueRef j,
                               int64_t Dj) {
  return LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, k, qiao_cg_i64(&cg->base, Dk), ""),
                      LLVMBuildICmp(cg->b, LLVMIntSLT, j, qiao_cg_i64(&cg->base, Dj), ""), "");
}

static int64_t emit_tiled(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd, const affine_t *a,
                          int kk) {
  const qiao_kd_operand_t *x = &kd->inputs[0];
  qiao_dtype_t dt = x->type.dtype;
  int jj = a->n - 1;
  int64_t Dk = a->dims[kk], Dj = a->dims[jj];
  int64_t tk = (Dk + TILE - 1) / TILE, tj = (Dj + TILE - 1) / TILE;
  int nb = 0;
  int64_t bdims[QIAO_MAX_RANK], bin[QIAO_MAX_RANK], bout[QIAO_MAX_RANK];
  int64_t batch = 1;
  for (int d = 0; d < a->n; ++d) {
    if (d == kk || d == jj) continue;
    bdims[nb] = a->dims[d];
    bin[nb] = a->in_st[d];
    bout[nb++] = a->out_st[d];
    batch *= a->dims[d];
  }
  int64_t tiles = tk * tj * batch;
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMTypeRef row_t = LLVMArrayType2(st, TILE + 1);
  LLVMTypeRef tile_t = LLVMArrayType2(row_t, TILE);
  LLVMValueRef smem = qiao_cuda_shared(cg, row_t, TILE, "tile");
  LLVMValueRef inp = qiao_cuda_param(cg, 0), outp = qiao_cuda_param(cg, kd->n_inputs);
  LLVMValueRef tx = qiao_cuda_sreg(cg, "tid.x"), ty = qiao_cuda_sreg(cg, "tid.y");
  LLVMValueRef zero = qiao_cg_i64(&cg->base, 0);
  unsigned es = (unsigned)qiao_dtype_size(dt);
  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, tiles, &tl);
  /* tile index → (batch, tile k, tile j) */
  int64_t tdims[3] = {batch, tk, tj};
  LLVMValueRef tc[3];
  qiao_cuda_unflatten(cg, tl.iv, 3, tdims, tc);
  LLVMValueRef bc[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, tc[0], nb, bdims, bc);
  LLVMValueRef ibase = LLVMBuildAdd(cg->b, qiao_cg_i64(&cg->base, a->in_base),
                                    qiao_cuda_offset(cg, nb, bc, bin), "");
  LLVMValueRef obase = LLVMBuildAdd(cg->b, qiao_cg_i64(&cg->base, a->out_base),
                                    qiao_cuda_offset(cg, nb, bc, bout), "");
  LLVMValueRef k0 = LLVMBuildMul(cg->b, tc[1], qiao_cg_i64(&cg->base, TILE), "");
  LLVMValueRef j0 = LLVMBuildMul(cg->b, tc[2], qiao_cg_i64(&cg->base, TILE), "");
  /* read: k = k0 + tx (contiguous in the input), j = j0 + ty + 8r → tile[j][k] */
  for (int r = 0; r < TILE / TROWS; ++r) {
    LLVMValueRef jl = LLVMBuildAdd(cg->b, ty, qiao_cg_i64(&cg->base, r * TROWS), "");
    LLVMValueRef k = LLVMBuildAdd(cg->b, k0, tx, ""), j = LLVMBuildAdd(cg->b, j0, jl, "");
    LLVMValueRef ok = both_below(cg, k, Dk, j, Dj);
    LLVMBasicBlockRef join = if_begin(cg, ok, "rd");
    LLVMValueRef cc[2] = {k, j};
    int64_t ss[2] = {a->in_st[kk], a->in_st[jj]};
    LLVMValueRef off = LLVMBuildAdd(cg->b, ibase, qiao_cuda_offset(cg, 2, cc, ss), "");
    LLVMValueRef v = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, inp, dt, off), "");
    LLVMSetAlignment(v, es);
    LLVMValueRef idx[3] = {zero, jl, tx};
    LLVMBuildStore(cg->b, v, LLVMBuildInBoundsGEP2(cg->b, tile_t, smem, idx, 3, ""));
    if_end(cg, join);
  }
  qiao_cuda_barrier(cg);
  /* write: j = j0 + tx (contiguous in the output), k = k0 + ty + 8r ← tile[tx][k] */
  for (int r = 0; r < TILE / TROWS; ++r) {
    LLVMValueRef kl = LLVMBuildAdd(cg->b, ty, qiao_cg_i64(&cg->base, r * TROWS), "");
    LLVMValueRef k = LLVMBuildAdd(cg->b, k0, kl, ""), j = LLVMBuildAdd(cg->b, j0, tx, "");
    LLVMValueRef ok = both_below(cg, k, Dk, j, Dj);
    LLVMBasicBlockRef join = if_begin(cg, ok, "wr");
    LLVMValueRef idx[3] = {zero, tx, kl};
    LLVMValueRef v =
        LLVMBuildLoad2(cg->b, st, LLVMBuildInBoundsGEP2(cg->b, tile_t, smem, idx, 3, ""), "");
    LLVMValueRef cc[2] = {k, j};
    int64_t ss[2] = {a->out_st[kk], a->out_st[jj]};
    LLVMValueRef off = LLVMBuildAdd(cg->b, obase, qiao_cuda_offset(cg, 2, cc, ss), "");
    LLVMValueRef s = LLVMBuildStore(cg->b, v, qiao_cg_elem_ptr(&cg->base, outp, dt, off));
    LLVMSetAlignment(s, es);
    if_end(cg, join);
  }
  qiao_cuda_barrier(cg); /* the tile is rewritten by the next iteration */
  qiao_cg_loop_end(&cg->base, &tl);
  return tiles < 1 ? 1 : tiles > (1 << 20) ? (1 << 20) : tiles;
}

qiao_status_t qiao_cuda_lower_copy(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out) {
  if (kd->op == QIAO_OP_ROPE) return qiao_cuda_lower_rope(cg, kd, name, out);
  const qiao_kd_operand_t *o = &kd->outputs[0], *x = &kd->inputs[0];
  int orank = o->type.shape.rank;
  affine_t segs[QIAO_KD_MAX_OPERANDS];
  int n_segs = 0;
  QIAO_RETURN_IF_ERROR(qiao_cg_copy_plan(kd, name, segs, &n_segs));
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  /* a transpose of a raw copy that reads across the output runs: shared tile */
  if (kd->op == QIAO_OP_TRANSPOSE && kd->n_expr == 0 && x->type.dtype == o->type.dtype &&
      orank >= 2) {
    const affine_t *a = &segs[0];
    int jj = orank - 1, kk = -1;
    for (int d = 0; d < jj; ++d)
      if (a->in_st[d] == 1 && a->dims[d] > 1) kk = d;
    if (kk >= 0 && a->in_st[jj] != 1 && a->out_st[jj] == 1 && a->dims[jj] > 1) {
      out->grid[0] = emit_tiled(cg, kd, a, kk);
      out->block[0] = TILE;
      out->block[1] = TROWS;
      LLVMBuildRetVoid(cg->b);
      out->fn = cg->fn;
      return NULL;
    }
  }
  int64_t total = qiao_shape_numel(&o->type.shape);
  for (int i = 0; i < n_segs; ++i)
    emit_affine(cg, kd, &segs[i]);
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  out->block[0] = 256;
  out->grid[0] = qiao_cuda_grid_for(cg, total, 256);
  return NULL;
}

qiao_status_t qiao_cuda_lower_gather(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *T = &kd->inputs[0], *I = &kd->inputs[1], *o = &kd->outputs[0];
  int tr = T->type.shape.rank, ir = I->type.shape.rank, orank = o->type.shape.rank;
  int ax = qiao_cg_norm_axis(kd->attrs.axis, tr);
  if (kd->n_primary_inputs < 2 || ax < 0 || ax >= tr || !qiao_dtype_is_int(I->type.dtype) ||
      orank != ax + ir + (tr - ax - 1))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "gather kernel %s: bad operands", name);
  int64_t Vn = T->type.shape.dims[ax];
  int64_t total = qiao_shape_numel(&o->type.shape);
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  if (total > 0) {
    qiao_cuda_epi_t e;
    qiao_cuda_epi_init(&e, cg, kd);
    qiao_cg_loop_t l;
    qiao_cuda_grid_loop_begin(cg, total, &l);
    qiao_cuda_unflatten(cg, l.iv, orank, o->type.shape.dims, e.coords);
    /* the index at the output's index coordinates */
    LLVMValueRef ioff = qiao_cuda_offset(cg, ir, e.coords + ax, I->strides);
    LLVMValueRef ip = qiao_cuda_param(cg, 1);
    LLVMTypeRef ist = qiao_cg_storage_type(&cg->base, I->type.dtype);
    LLVMValueRef idx =
        LLVMBuildLoad2(cg->b, ist, qiao_cg_elem_ptr(&cg->base, ip, I->type.dtype, ioff), "idx");
    LLVMSetAlignment(idx, (unsigned)qiao_dtype_size(I->type.dtype));
    if (ist != cg->t_i64) idx = LLVMBuildSExt(cg->b, idx, cg->t_i64, "");
    LLVMValueRef hi = qiao_cg_i64(&cg->base, Vn - 1), lo = qiao_cg_i64(&cg->base, 0);
    idx = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, idx, hi, ""), hi, idx, "");
    idx = LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, idx, lo, ""), lo, idx, "");
    /* table coordinates: outer (o[0..ax)), the index, trailing (o[ax+ir..)) */
    LLVMValueRef tc[QIAO_MAX_RANK];
    for (int d = 0; d < ax; ++d)
      tc[d] = e.coords[d];
    tc[ax] = idx;
    for (int d = ax + 1; d < tr; ++d)
      tc[d] = e.coords[ax + ir + (d - ax - 1)];
    LLVMValueRef toff = qiao_cuda_offset(cg, tr, tc, T->strides);
    LLVMValueRef ooff = qiao_cuda_offset(cg, orank, e.coords, o->strides);
    bool raw = kd->n_expr == 0 && T->type.dtype == o->type.dtype;
    copy_elem(cg, &e, raw, qiao_cuda_param(cg, 0), T->type.dtype, toff, ooff);
    qiao_cg_loop_end(&cg->base, &l);
  }
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  out->block[0] = 256;
  out->grid[0] = qiao_cuda_grid_for(cg, total, 256);
  return NULL;
}
