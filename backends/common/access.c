/* backends/common — index math, f32 scratch and strided <lanes x f32>
 * access, the fused epilogue at an output position, and copy runs: the
 * target-neutral helpers every lowering builds on (see codegen.h). */
#include <string.h>

#include "common/codegen.h"

LLVMValueRef qiao_cg_alloca(qiao_cg_t *cg, LLVMValueRef fn, LLVMTypeRef t, const char *name) {
  LLVMBasicBlockRef entry = LLVMGetEntryBasicBlock(fn);
  LLVMBuilderRef b = LLVMCreateBuilderInContext(cg->ctx);
  LLVMValueRef first = LLVMGetFirstInstruction(entry);
  if (first)
    LLVMPositionBuilderBefore(b, first);
  else
    LLVMPositionBuilderAtEnd(b, entry);
  LLVMValueRef a = LLVMBuildAlloca(b, t, name);
  LLVMDisposeBuilder(b);
  return a;
}

LLVMValueRef qiao_cg_ld(qiao_cg_t *cg, LLVMTypeRef t, LLVMValueRef p) {
  return LLVMBuildLoad2(cg->b, t, p, "");
}
void qiao_cg_st(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef p) { LLVMBuildStore(cg->b, v, p); }

LLVMValueRef qiao_cg_imin(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
}
LLVMValueRef qiao_cg_imax(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
}
LLVMValueRef qiao_cg_iadd(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildAdd(cg->b, a, b, "");
}
LLVMValueRef qiao_cg_imul(qiao_cg_t *cg, LLVMValueRef a, int64_t c) {
  if (c == 1) return a;
  return LLVMBuildMul(cg->b, a, qiao_cg_i64(cg, c), "");
}
LLVMValueRef qiao_cg_imadd(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, int64_t c) {
  if (c == 0 || !b) return a;
  LLVMValueRef t = qiao_cg_imul(cg, b, c);
  return a ? qiao_cg_iadd(cg, a, t) : t;
}

LLVMValueRef qiao_cg_fptr(qiao_cg_t *cg, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildGEP2(cg->b, cg->t_f32, base, &idx, 1, "");
}
LLVMValueRef qiao_cg_ldf(qiao_cg_t *cg, LLVMValueRef base, LLVMValueRef idx, unsigned lanes) {
  LLVMValueRef l = LLVMBuildLoad2(cg->b, qiao_cg_vec_type(cg, cg->t_f32, lanes),
                                  qiao_cg_fptr(cg, base, idx), "");
  LLVMSetAlignment(l, 4);
  return l;
}
void qiao_cg_stf(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx) {
  LLVMValueRef s = LLVMBuildStore(cg->b, v, qiao_cg_fptr(cg, base, idx));
  LLVMSetAlignment(s, 4);
}
LLVMValueRef qiao_cg_fsplat(qiao_cg_t *cg, double v, unsigned lanes) {
  return qiao_cg_splat(cg, LLVMConstReal(cg->t_f32, v), lanes);
}
LLVMValueRef qiao_cg_fma(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[3] = {a, b, c};
  return qiao_cg_call_intrinsic(cg, "llvm.fmuladd", &t, 1, args, 3);
}

void qiao_cg_fptrs(qiao_cg_t *cg, LLVMValueRef base, int n, const int64_t *at,
                   LLVMValueRef *const *out) {
  for (int k = 0; k < n; ++k)
    *out[k] = qiao_cg_fptr(cg, base, qiao_cg_i64(cg, at[k]));
}

void qiao_cg_fma_into(qiao_cg_t *cg, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b) {
  qiao_cg_st(cg, qiao_cg_fma(cg, a, b, qiao_cg_ld(cg, LLVMTypeOf(a), acc)), acc);
}

LLVMBasicBlockRef qiao_cg_if(qiao_cg_t *cg, LLVMValueRef cond, const char *name) {
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, fn, name);
  LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(cg->ctx, fn, "endif");
  LLVMBuildCondBr(cg->b, cond, then, cont);
  LLVMPositionBuilderAtEnd(cg->b, then);
  return cont;
}
void qiao_cg_endif(qiao_cg_t *cg, LLVMBasicBlockRef cont) {
  LLVMBuildBr(cg->b, cont);
  LLVMPositionBuilderAtEnd(cg->b, cont);
}

void qiao_cg_unflatten(qiao_cg_t *cg, LLVMValueRef idx, int n, const int64_t *dims,
                       LLVMValueRef *coords) {
  LLVMValueRef rest = idx;
  for (int d = n - 1; d >= 0; --d) {
    if (dims[d] == 1) {
      coords[d] = qiao_cg_i64(cg, 0);
      continue;
    }
    bool outermost = true;
    for (int e = d - 1; e >= 0; --e)
      if (dims[e] != 1) outermost = false;
    if (outermost) {
      coords[d] = rest;
      continue;
    }
    LLVMValueRef dv = qiao_cg_i64(cg, dims[d]);
    coords[d] = LLVMBuildURem(cg->b, rest, dv, "");
    rest = LLVMBuildUDiv(cg->b, rest, dv, "");
  }
}

LLVMValueRef qiao_cg_offset(qiao_cg_t *cg, int n, LLVMValueRef const *coords,
                            const int64_t *strides) {
  LLVMValueRef off = NULL;
  for (int d = 0; d < n; ++d)
    off = qiao_cg_imadd(cg, off, coords[d], strides[d]);
  return off ? off : qiao_cg_i64(cg, 0);
}

/* The offset of lane l of a strided access. */
static LLVMValueRef lane_off(qiao_cg_t *cg, LLVMValueRef off, int64_t stride, unsigned l) {
  return qiao_cg_iadd(cg, off, qiao_cg_i64(cg, (int64_t)l * stride));
}

LLVMValueRef qiao_cg_load_strided(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                                  LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (lanes == 1 || stride == 1) return qiao_cg_load_f32(cg, base, dt, off, lanes);
  if (stride == 0) return qiao_cg_splat(cg, qiao_cg_load_f32(cg, base, dt, off, 1), lanes);
  LLVMValueRef v = LLVMGetUndef(LLVMVectorType(cg->t_f32, lanes));
  for (unsigned l = 0; l < lanes; ++l)
    v = LLVMBuildInsertElement(cg->b, v,
                               qiao_cg_load_f32(cg, base, dt, lane_off(cg, off, stride, l), 1),
                               LLVMConstInt(cg->t_i32, l, 0), "");
  return v;
}

void qiao_cg_store_strided(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                           LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (lanes == 1 || stride == 1) {
    qiao_cg_store_f32(cg, v, base, dt, off, lanes);
    return;
  }
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef e = LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, l, 0), "");
    qiao_cg_store_f32(cg, e, base, dt, lane_off(cg, off, stride, l), 1);
  }
}

/* ------------------------------------------------------------- epilogue */

static LLVMValueRef epi_load(void *ctx, int32_t input, unsigned lanes) {
  qiao_cg_epi_t *e = ctx;
  const qiao_kd_operand_t *op = &e->kd->inputs[input];
  LLVMValueRef off = qiao_cg_offset(e->cg, e->rank, e->coords, op->out_strides);
  int64_t inner = e->rank > 0 ? op->out_strides[e->rank - 1] : 0;
  return qiao_cg_load_strided(e->cg, e->in[input], op->type.dtype, off, inner, lanes);
}

void qiao_cg_epi_init(qiao_cg_epi_t *e, qiao_cg_t *cg, const qiao_kernel_desc_t *kd,
                      const LLVMValueRef *inputs) {
  memset(e, 0, sizeof *e);
  e->cg = cg;
  e->kd = kd;
  e->rank = kd->outputs[0].type.shape.rank;
  for (int32_t i = 0; i < kd->n_inputs && i < QIAO_KD_MAX_OPERANDS; ++i)
    e->in[i] = inputs[i];
}

LLVMValueRef qiao_cg_epi_apply(qiao_cg_epi_t *e, LLVMValueRef acc, unsigned lanes) {
  if (e->kd->n_expr <= 0) return acc;
  acc = qiao_cg_round_f32(e->cg, acc, e->kd->primary_dtype);
  return qiao_cg_emit_expr(e->cg, e->kd, acc, epi_load, e, lanes);
}

void qiao_cg_epi_store(qiao_cg_epi_t *e, LLVMValueRef out, LLVMValueRef acc, unsigned lanes) {
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  LLVMValueRef v = qiao_cg_epi_apply(e, acc, lanes);
  LLVMValueRef off = qiao_cg_offset(e->cg, e->rank, e->coords, o->strides);
  int64_t inner = e->rank > 0 ? o->strides[e->rank - 1] : 1;
  qiao_cg_store_strided(e->cg, v, out, o->type.dtype, off, inner, lanes);
}

/* ------------------------------------------------------------- copy runs */

void qiao_cg_copy_run(qiao_cg_t *cg, qiao_cg_epi_t *epi, LLVMValueRef src, qiao_dtype_t sdt,
                      LLVMValueRef soff, int64_t sst, LLVMValueRef dst, qiao_dtype_t ddt,
                      LLVMValueRef doff, int64_t dst_st, int64_t L, int coord_dim,
                      LLVMValueRef coord_base) {
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  bool raw = sdt == ddt && epi->kd->n_expr <= 0;
  if (raw && qiao_dtype_size(sdt) == 1)
    V *= 4; /* the same bytes per vector either way */
  else if (raw && qiao_dtype_size(sdt) == 2)
    V *= 2;
  if (sst != 1 || dst_st != 1) V = 1; /* strided: scalars */
  for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, L, V, 0, "cp"); qiao_cg_vloop_next(cg, &vl);) {
    LLVMValueRef so = qiao_cg_imadd(cg, soff, vl.i, sst),
                 dof = qiao_cg_imadd(cg, doff, vl.i, dst_st);
    if (raw) {
      LLVMTypeRef t = qiao_cg_vec_type(cg, qiao_cg_storage_type(cg, sdt), vl.lanes);
      unsigned al = (unsigned)qiao_dtype_size(sdt);
      LLVMValueRef v = LLVMBuildLoad2(cg->b, t, qiao_cg_elem_ptr(cg, src, sdt, so), "");
      LLVMSetAlignment(v, al);
      LLVMValueRef s = LLVMBuildStore(cg->b, v, qiao_cg_elem_ptr(cg, dst, ddt, dof));
      LLVMSetAlignment(s, al);
    } else {
      LLVMValueRef v = qiao_cg_load_strided(cg, src, sdt, so, sst, vl.lanes);
      if (coord_dim >= 0)
        epi->coords[coord_dim] = coord_base ? qiao_cg_iadd(cg, coord_base, vl.i) : vl.i;
      v = qiao_cg_epi_apply(epi, v, vl.lanes);
      qiao_cg_store_strided(cg, v, dst, ddt, dof, dst_st, vl.lanes);
    }
  }
}
