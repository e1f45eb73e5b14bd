/* CPU backend — small helpers shared by the non-matmul lowerings
 * (lower_elementwise.c ... lower_copy.c). Everything is static inline so each
 * lowering file stays self-contained; the helpers only build on codegen.h.
 *
 *   qk_alloca          an alloca in the entry block (promoted by mem2reg)
 *   qk_par_rows        split `total` rows over workgroup x and open the row loop
 *   qk_unflatten       linear index -> coordinates (constant divisors)
 *   qk_load/qk_store   strided <lanes x f32> access (stride 0 splat, 1 contiguous, else gather)
 *   qk_epi_*           the fused epilogue at an output position
 */
#ifndef QIAO_BACKENDS_CPU_LOWER_COMMON_H
#define QIAO_BACKENDS_CPU_LOWER_COMMON_H

#include <math.h>
#include <string.h>

#include "cpu/codegen.h"

/* ----------------------------------------------------------------- basics */

static inline LLVMValueRef qk_alloca(qiao_cpu_codegen_t *cg, LLVMValueRef fn, LLVMTypeRef t,
                                     const char *name) {
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

static inline LLVMValueRef qk_ld(qiao_cpu_codegen_t *cg, LLVMTypeRef t, LLVMValueRef p) {
  return LLVMBuildLoad2(cg->b, t, p, "");
}
static inline void qk_st(qiao_cpu_codegen_t *cg, LLVMValueRef v, LLVMValueRef p) {
  LLVMBuildStore(cg->b, v, p);
}

static inline LLVMValueRef qk_imin(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, a, b, ""), a, b, "");
}
static inline LLVMValueRef qk_imax(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildSelect(cg->b, LLVMBuildICmp(cg->b, LLVMIntSGT, a, b, ""), a, b, "");
}
static inline LLVMValueRef qk_add(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildAdd(cg->b, a, b, "");
}
static inline LLVMValueRef qk_mul(qiao_cpu_codegen_t *cg, LLVMValueRef a, int64_t c) {
  if (c == 1) return a;
  return LLVMBuildMul(cg->b, a, qiao_cpu_i64(cg, c), "");
}
/* a + b * c, skipping the work when c is 0. */
static inline LLVMValueRef qk_madd(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b,
                                   int64_t c) {
  if (c == 0 || !b) return a;
  LLVMValueRef t = qk_mul(cg, b, c);
  return a ? qk_add(cg, a, t) : t;
}

/* f32 pointer to element `idx` of a float buffer. */
static inline LLVMValueRef qk_fptr(qiao_cpu_codegen_t *cg, LLVMValueRef base, LLVMValueRef idx) {
  return LLVMBuildGEP2(cg->b, cg->t_f32, base, &idx, 1, "");
}
static inline LLVMValueRef qk_ldf(qiao_cpu_codegen_t *cg, LLVMValueRef base, LLVMValueRef idx,
                                  unsigned lanes) {
  LLVMValueRef l =
      LLVMBuildLoad2(cg->b, qiao_cpu_vec_type(cg, cg->t_f32, lanes), qk_fptr(cg, base, idx), "");
  LLVMSetAlignment(l, 4);
  return l;
}
static inline void qk_stf(qiao_cpu_codegen_t *cg, LLVMValueRef v, LLVMValueRef base,
                          LLVMValueRef idx) {
  LLVMValueRef s = LLVMBuildStore(cg->b, v, qk_fptr(cg, base, idx));
  LLVMSetAlignment(s, 4);
}

/* ------------------------------------------------------------ parallel rows */

typedef struct qk_rows {
  qiao_cpu_loop_t loop;
  int64_t chunk, n_chunks;
} qk_rows_t;

/* How many workgroups for `total` rows of `work_per_row` element-operations each. */
static inline int64_t qk_plan_chunks(qiao_cpu_codegen_t *cg, int64_t total, int64_t work_per_row) {
  int64_t threads = cg->n_threads > 1 ? cg->n_threads : 1;
  double work = (double)total * (double)(work_per_row > 0 ? work_per_row : 1);
  if (total <= 1 || work < 32768.0) return 1;
  int64_t want = threads * 4;
  int64_t by_work = (int64_t)(work / 16384.0);
  if (by_work < want) want = by_work < threads ? threads : by_work;
  if (want > total) want = total;
  return want < 1 ? 1 : want;
}

/* Opens `for (r = lo; r < hi; ++r)` where [lo, hi) is workgroup x's share of
 * `total` rows split in `n_chunks` pieces (r->n_chunks: how many are
 * non-empty; workgroups past them get empty ranges). The builder is left in
 * the body. */
static inline void qk_rows_begin(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int64_t total,
                                 int64_t n_chunks, qk_rows_t *r, const char *name) {
  if (n_chunks < 1) n_chunks = 1;
  r->chunk = (total + n_chunks - 1) / n_chunks;
  if (r->chunk < 1) r->chunk = 1;
  r->n_chunks = (total + r->chunk - 1) / r->chunk;
  if (r->n_chunks < 1) r->n_chunks = 1;
  LLVMValueRef lo, hi;
  if (n_chunks == 1) { /* requested 1: every workgroup of a 1-wide grid does it all */
    lo = qiao_cpu_i64(cg, 0);
    hi = qiao_cpu_i64(cg, total);
  } else {
    lo = qk_mul(cg, qiao_cpu_wg(cg, fn, 0), r->chunk);
    hi = qk_imin(cg, qk_add(cg, lo, qiao_cpu_i64(cg, r->chunk)), qiao_cpu_i64(cg, total));
  }
  qiao_cpu_loop_begin(cg, lo, hi, 1, name, &r->loop);
}
static inline void qk_rows_end(qiao_cpu_codegen_t *cg, qk_rows_t *r) {
  qiao_cpu_loop_end(cg, &r->loop);
}

/* coords[d] for d < n from linear index idx over dims (row-major). Dims of
 * size 1 get the constant 0. */
static inline void qk_unflatten(qiao_cpu_codegen_t *cg, LLVMValueRef idx, int n,
                                const int64_t *dims, LLVMValueRef *coords) {
  LLVMValueRef rest = idx;
  for (int d = n - 1; d >= 0; --d) {
    if (dims[d] == 1) {
      coords[d] = qiao_cpu_i64(cg, 0);
      continue;
    }
    bool outermost = true;
    for (int e = d - 1; e >= 0; --e)
      if (dims[e] != 1) outermost = false;
    if (outermost) {
      coords[d] = rest;
      continue;
    }
    LLVMValueRef dv = qiao_cpu_i64(cg, dims[d]);
    coords[d] = LLVMBuildURem(cg->b, rest, dv, "");
    rest = LLVMBuildUDiv(cg->b, rest, dv, "");
  }
}

/* Σ coords[d] * strides[d] (NULL coords count as 0). */
static inline LLVMValueRef qk_offset(qiao_cpu_codegen_t *cg, int n, LLVMValueRef const *coords,
                                     const int64_t *strides) {
  LLVMValueRef off = NULL;
  for (int d = 0; d < n; ++d)
    off = qk_madd(cg, off, coords[d], strides[d]);
  return off ? off : qiao_cpu_i64(cg, 0);
}

/* --------------------------------------------------------- strided access */

/* `lanes` f32 values of a dtype-dt buffer at off, off+stride, ... */
static inline LLVMValueRef qk_load(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                                   LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (lanes == 1 || stride == 1) return qiao_cpu_load_f32(cg, base, dt, off, lanes);
  if (stride == 0) return qiao_cpu_splat(cg, qiao_cpu_load_f32(cg, base, dt, off, 1), lanes);
  LLVMValueRef v = LLVMGetUndef(LLVMVectorType(cg->t_f32, lanes));
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef o = qk_add(cg, off, qiao_cpu_i64(cg, (int64_t)l * stride));
    v = LLVMBuildInsertElement(cg->b, v, qiao_cpu_load_f32(cg, base, dt, o, 1),
                               LLVMConstInt(cg->t_i32, l, 0), "");
  }
  return v;
}

static inline void qk_store(qiao_cpu_codegen_t *cg, LLVMValueRef v, LLVMValueRef base,
                            qiao_dtype_t dt, LLVMValueRef off, int64_t stride, unsigned lanes) {
  if (lanes == 1 || stride == 1) {
    qiao_cpu_store_f32(cg, v, base, dt, off, lanes);
    return;
  }
  for (unsigned l = 0; l < lanes; ++l) {
    LLVMValueRef o = qk_add(cg, off, qiao_cpu_i64(cg, (int64_t)l * stride));
    LLVMValueRef e = LLVMBuildExtractElement(cg->b, v, LLVMConstInt(cg->t_i32, l, 0), "");
    qiao_cpu_store_f32(cg, e, base, dt, o, 1);
  }
}

/* ------------------------------------------------------------- epilogue */

/* The fused-expression context: input pointers and the current output
 * coordinates (lanes run along the output's last dim). */
typedef struct qk_epi {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef in[QIAO_KD_MAX_OPERANDS];
  int rank;
  LLVMValueRef coords[QIAO_MAX_RANK];
} qk_epi_t;

static inline LLVMValueRef qk_epi_load(void *ctx, int32_t input, unsigned lanes) {
  qk_epi_t *e = ctx;
  qiao_cpu_codegen_t *cg = e->cg;
  const qiao_kd_operand_t *op = &e->kd->inputs[input];
  LLVMValueRef off = qk_offset(cg, e->rank, e->coords, op->out_strides);
  int64_t inner = e->rank > 0 ? op->out_strides[e->rank - 1] : 0;
  return qk_load(cg, e->in[input], op->type.dtype, off, inner, lanes);
}

/* Loads every binding pointer the epilogue may need (call in the entry block). */
static inline void qk_epi_init(qk_epi_t *e, qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                               LLVMValueRef fn) {
  memset(e, 0, sizeof *e);
  e->cg = cg;
  e->kd = kd;
  e->rank = kd->outputs[0].type.shape.rank;
  for (int32_t i = 0; i < kd->n_inputs && i < QIAO_KD_MAX_OPERANDS; ++i)
    e->in[i] = qiao_cpu_binding(cg, fn, i);
}

/* Rounds the primary result to primary_dtype and applies the epilogue. */
static inline LLVMValueRef qk_epi_apply(qk_epi_t *e, LLVMValueRef acc, unsigned lanes) {
  qiao_cpu_codegen_t *cg = e->cg;
  if (e->kd->n_expr <= 0) return acc;
  acc = qiao_cpu_round_f32(cg, acc, e->kd->primary_dtype);
  return qiao_cpu_emit_expr(cg, e->kd, acc, qk_epi_load, e, lanes);
}

/* Applies the epilogue at e->coords and stores into output 0. */
static inline void qk_epi_store(qk_epi_t *e, LLVMValueRef out, LLVMValueRef acc, unsigned lanes) {
  qiao_cpu_codegen_t *cg = e->cg;
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  LLVMValueRef v = qk_epi_apply(e, acc, lanes);
  LLVMValueRef off = qk_offset(cg, e->rank, e->coords, o->strides);
  int64_t inner = e->rank > 0 ? o->strides[e->rank - 1] : 1;
  qk_store(cg, v, out, o->type.dtype, off, inner, lanes);
}

/* Transposes an n x n block held as n vectors of n lanes (n a power of two
 * <= 16) in place: log2(n) rounds of interleaving row i with row i + n/2. */
static inline void qk_transpose_regs(qiao_cpu_codegen_t *cg, LLVMValueRef *r, unsigned n) {
  LLVMValueRef mlo[16], mhi[16], o[16];
  for (unsigned t = 0; t < n / 2; ++t) {
    mlo[2 * t] = LLVMConstInt(cg->t_i32, t, 0);
    mlo[2 * t + 1] = LLVMConstInt(cg->t_i32, n + t, 0);
    mhi[2 * t] = LLVMConstInt(cg->t_i32, n / 2 + t, 0);
    mhi[2 * t + 1] = LLVMConstInt(cg->t_i32, n + n / 2 + t, 0);
  }
  LLVMValueRef lo_m = LLVMConstVector(mlo, n), hi_m = LLVMConstVector(mhi, n);
  for (unsigned round = 1; round < n; round *= 2) {
    for (unsigned q = 0; q < n / 2; ++q) {
      o[2 * q] = LLVMBuildShuffleVector(cg->b, r[q], r[q + n / 2], lo_m, "");
      o[2 * q + 1] = LLVMBuildShuffleVector(cg->b, r[q], r[q + n / 2], hi_m, "");
    }
    memcpy(r, o, sizeof(LLVMValueRef) * n);
  }
}

/* ------------------------------------------------------------- copy runs */

/* Copies a run of L elements: dst[doff + j*dst_st] = src[soff + j*sst] for
 * j < L, vectorized (<V x elem> when both strides are 1) with a scalar tail.
 * With no epilogue and equal dtypes the bits are copied (exact for every
 * dtype); otherwise the value goes through f32 and the epilogue at
 * epi->coords with epi->coords[coord_dim] = coord_base + j. */
static inline void qk_copy_run(qiao_cpu_codegen_t *cg, qk_epi_t *epi, LLVMValueRef src,
                               qiao_dtype_t sdt, LLVMValueRef soff, int64_t sst, LLVMValueRef dst,
                               qiao_dtype_t ddt, LLVMValueRef doff, int64_t dst_st, int64_t L,
                               int coord_dim, LLVMValueRef coord_base) {
  unsigned V = cg->vec_f32 ? cg->vec_f32 : 8;
  bool raw = sdt == ddt && epi->kd->n_expr <= 0;
  bool vec = sst == 1 && dst_st == 1;
  if (raw && qiao_dtype_size(sdt) == 1)
    V *= 4; /* 64 bytes either way */
  else if (raw && qiao_dtype_size(sdt) == 2)
    V *= 2;
  int64_t nvec = vec ? L / V * V : 0;
  for (int pass = 0; pass < 2; ++pass) {
    unsigned lanes = pass == 0 ? V : 1;
    int64_t lo = pass == 0 ? 0 : nvec, hi = pass == 0 ? nvec : L;
    if (lo >= hi) continue;
    qiao_cpu_loop_t l;
    qiao_cpu_loop_begin(cg, qiao_cpu_i64(cg, lo), qiao_cpu_i64(cg, hi), lanes, "cp", &l);
    LLVMValueRef so = qk_madd(cg, soff, l.iv, sst), dof = qk_madd(cg, doff, l.iv, dst_st);
    if (raw) {
      LLVMTypeRef t = qiao_cpu_vec_type(cg, qiao_cpu_storage_type(cg, sdt), lanes);
      unsigned al = (unsigned)qiao_dtype_size(sdt);
      LLVMValueRef v = LLVMBuildLoad2(cg->b, t, qiao_cpu_elem_ptr(cg, src, sdt, so), "");
      LLVMSetAlignment(v, al);
      LLVMValueRef s = LLVMBuildStore(cg->b, v, qiao_cpu_elem_ptr(cg, dst, ddt, dof));
      LLVMSetAlignment(s, al);
    } else {
      LLVMValueRef v = qk_load(cg, src, sdt, so, sst, lanes);
      if (coord_dim >= 0) epi->coords[coord_dim] = coord_base ? qk_add(cg, coord_base, l.iv) : l.iv;
      v = qk_epi_apply(epi, v, lanes);
      qk_store(cg, v, dst, ddt, dof, dst_st, lanes);
    }
    qiao_cpu_loop_end(cg, &l);
  }
}

/* ------------------------------------------------------------------ math */

static inline LLVMValueRef qk_fconst(qiao_cpu_codegen_t *cg, double v, unsigned lanes) {
  return qiao_cpu_splat(cg, LLVMConstReal(cg->t_f32, v), lanes);
}

static inline LLVMValueRef qk_fma(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b,
                                  LLVMValueRef c) {
  LLVMTypeRef t = LLVMTypeOf(a);
  LLVMValueRef args[3] = {a, b, c};
  return qiao_cpu_call_intrinsic(cg, "llvm.fmuladd", &t, 1, args, 3);
}

/* exp(x) on f32 scalars/vectors (qiao_cpu_emit_exp: whole f32 range). */
static inline LLVMValueRef qk_exp(qiao_cpu_codegen_t *cg, LLVMValueRef x) {
  return qiao_cpu_emit_exp(cg, x);
}

/* Horizontal sum / max of a vector accumulator (scalars pass through). */
static inline LLVMValueRef qk_hsum(qiao_cpu_codegen_t *cg, LLVMValueRef v) {
  return qiao_cpu_reduce_add(cg, v);
}

/* if (cond) { ... } helper: returns the continuation block; the builder is
 * left in the then-block. Close with LLVMBuildBr(cont) + position at cont. */
static inline LLVMBasicBlockRef qk_if(qiao_cpu_codegen_t *cg, LLVMValueRef cond, const char *name) {
  LLVMValueRef fn = LLVMGetBasicBlockParent(LLVMGetInsertBlock(cg->b));
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, fn, name);
  LLVMBasicBlockRef cont = LLVMAppendBasicBlockInContext(cg->ctx, fn, "endif");
  LLVMBuildCondBr(cg->b, cond, then, cont);
  LLVMPositionBuilderAtEnd(cg->b, then);
  return cont;
}
static inline void qk_endif(qiao_cpu_codegen_t *cg, LLVMBasicBlockRef cont) {
  LLVMBuildBr(cg->b, cont);
  LLVMPositionBuilderAtEnd(cg->b, cont);
}

static inline int qk_norm_axis(int64_t axis, int rank) {
  return (int)(axis < 0 ? axis + rank : axis);
}

static inline void qk_kernel_init(qiao_cpu_kernel_t *out) {
  out->fn = NULL;
  out->grid[0] = out->grid[1] = out->grid[2] = 1;
  out->scratch_bytes = 0;
}

#endif /* QIAO_BACKENDS_CPU_LOWER_COMMON_H */
