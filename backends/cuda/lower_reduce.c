/* CUDA backend — REDUCE kernels (reduce_sum / reduce_max / reduce_mean):
 * one CTA per output element ("row"), rows taken CTA-stride
 * (r = ctaid.x; r += nctaid.x).
 *
 * Block = the reduced count rounded up to a warp, 32..256 threads. Thread t
 * accumulates elements t, t + block, ... of its row in a register (the
 * reduced dims unflattened from that linear index; when x's last dim is
 * reduced and contiguous, neighbouring threads read neighbouring addresses:
 * coalesced). The CTA then combines: butterfly shuffles inside each warp
 * (shfl.sync.bfly), warp leaders → shared memory, barrier, warp 0 combines
 * those (qiao_cuda_block_reduce). Thread 0 finishes (mean, epilogue, store).
 *
 * Float sums and means accumulate in f64 (no overflow or cancellation on huge
 * finite values: docs/design.md); reduce_max stays f32 and keeps NaN
 * (v > acc || isnan(v)).
 * Integer and bool inputs accumulate in i64 (sum: saturating add; max:
 * signed max), like the CPU backend and the interpreter: exact whenever no
 * partial sum leaves i64 — always for i8/i32/bool inputs; mean is the i64
 * sum as f64 over the count, stored toward zero, saturating. */
#include <math.h>
#include <string.h>

#include "cuda/codegen.h"

typedef struct red_plan {
  bool reduced[QIAO_MAX_RANK];
  int n_kept, n_red;
  int kept[QIAO_MAX_RANK], red[QIAO_MAX_RANK];
  int out_dim_of[QIAO_MAX_RANK];
  int64_t kept_dims[QIAO_MAX_RANK], red_dims[QIAO_MAX_RANK], red_strides[QIAO_MAX_RANK];
  int64_t count, rows;
} red_plan_t;

static LLVMValueRef comb_fadd(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return LLVMBuildFAdd(cg->b, a, b, "");
}
static LLVMValueRef comb_fmax(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  return qiao_cg_emit_max_acc(&cg->base, a, b);
}
static LLVMValueRef comb_iadd(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  return qiao_cg_call_intrinsic(&cg->base, "llvm.sadd.sat", &cg->t_i64, 1, args, 2);
}
static LLVMValueRef comb_imax(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b) {
  LLVMValueRef args[2] = {a, b};
  return qiao_cg_call_intrinsic(&cg->base, "llvm.smax", &cg->t_i64, 1, args, 2);
}

/* one element of x as i64 (bool: 0/1) */
static LLVMValueRef load_i64(qiao_cuda_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                             LLVMValueRef off) {
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMValueRef raw = LLVMBuildLoad2(cg->b, st, qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
  LLVMSetAlignment(raw, (unsigned)qiao_dtype_size(dt));
  if (dt == QIAO_BOOL)
    return LLVMBuildZExt(cg->b, LLVMBuildICmp(cg->b, LLVMIntNE, raw, LLVMConstNull(st), ""),
                         cg->t_i64, "");
  return st == cg->t_i64 ? raw : LLVMBuildSExt(cg->b, raw, cg->t_i64, "");
}

/* The exact i64 result → stored in dt (ints/bool directly, floats through
 * the epilogue path as f32). */
static void store_int_result(qiao_cuda_epi_t *e, qiao_op_kind_t op, LLVMValueRef s,
                             int64_t count) {
  qiao_cuda_codegen_t *cg = e->cg;
  const qiao_kernel_desc_t *kd = e->kd;
  const qiao_kd_operand_t *o = &kd->outputs[0];
  bool epi = kd->n_expr > 0;
  qiao_dtype_t dt = epi ? kd->primary_dtype : o->type.dtype;
  LLVMValueRef d = NULL; /* the mean as f64 */
  if (op == QIAO_OP_REDUCE_MEAN)
    d = LLVMBuildFDiv(cg->b, LLVMBuildSIToFP(cg->b, s, cg->t_f64, ""),
                      LLVMConstReal(cg->t_f64, (double)count), "");
  LLVMValueRef v; /* storage of dt, or f32 */
  bool as_int = true;
  if (dt == QIAO_BOOL) {
    LLVMValueRef nz = d ? LLVMBuildFCmp(cg->b, LLVMRealUNE, d, LLVMConstReal(cg->t_f64, 0), "")
                        : LLVMBuildICmp(cg->b, LLVMIntNE, s, qiao_cg_i64(&cg->base, 0), "");
    v = LLVMBuildZExt(cg->b, nz, cg->t_i8, "");
  } else if (qiao_dtype_is_int(dt)) {
    LLVMTypeRef it = qiao_cg_storage_type(&cg->base, dt);
    if (d) {
      LLVMTypeRef tys[2] = {it, cg->t_f64};
      v = qiao_cg_call_intrinsic(&cg->base, "llvm.fptosi.sat", tys, 2, &d, 1);
    } else if (dt == QIAO_I64) {
      v = s;
    } else {
      int64_t lo = dt == QIAO_I8 ? INT8_MIN : INT32_MIN, hi = dt == QIAO_I8 ? INT8_MAX : INT32_MAX;
      LLVMValueRef a1[2] = {s, qiao_cg_i64(&cg->base, hi)};
      LLVMValueRef c = qiao_cg_call_intrinsic(&cg->base, "llvm.smin", &cg->t_i64, 1, a1, 2);
      LLVMValueRef a2[2] = {c, qiao_cg_i64(&cg->base, lo)};
      c = qiao_cg_call_intrinsic(&cg->base, "llvm.smax", &cg->t_i64, 1, a2, 2);
      v = LLVMBuildTrunc(cg->b, c, it, "");
    }
  } else {
    as_int = false;
    v = d ? LLVMBuildFPTrunc(cg->b, d, cg->t_f32, "") : LLVMBuildSIToFP(cg->b, s, cg->t_f32, "");
  }
  if (!as_int || epi) {
    if (as_int)
      v = dt == QIAO_BOOL ? LLVMBuildUIToFP(cg->b, v, cg->t_f32, "")
                          : LLVMBuildSIToFP(cg->b, v, cg->t_f32, "");
    qiao_cuda_epi_store(e, v);
    return;
  }
  LLVMValueRef off = qiao_cuda_offset(cg, e->rank, e->coords, o->strides);
  LLVMValueRef st = LLVMBuildStore(
      cg->b, v, qiao_cg_elem_ptr(&cg->base, qiao_cuda_param(cg, kd->n_inputs), dt, off));
  LLVMSetAlignment(st, (unsigned)qiao_dtype_size(dt));
}

/* if (tid.x == 0) { ...then... } — returns the join block to continue in. */
static LLVMBasicBlockRef thread0_begin(qiao_cuda_codegen_t *cg) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "t0");
  LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "t0.join");
  LLVMValueRef is0 =
      LLVMBuildICmp(cg->b, LLVMIntEQ, qiao_cuda_sreg(cg, "tid.x"), qiao_cg_i64(&cg->base, 0), "");
  LLVMBuildCondBr(cg->b, is0, then, join);
  LLVMPositionBuilderAtEnd(cg->b, then);
  return join;
}
static void thread0_end(qiao_cuda_codegen_t *cg, LLVMBasicBlockRef join) {
  LLVMBuildBr(cg->b, join);
  LLVMPositionBuilderAtEnd(cg->b, join);
}

qiao_status_t qiao_cuda_lower_reduce(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *x = &kd->inputs[0];
  int rank = x->type.shape.rank;
  red_plan_t p;
  memset(&p, 0, sizeof p);
  for (int i = 0; i < kd->attrs.n_axes; ++i) {
    int64_t a = kd->attrs.axes[i];
    int ax = (int)(a < 0 ? a + rank : a);
    if (ax < 0 || ax >= rank)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "reduce kernel %s: axis out of range", name);
    p.reduced[ax] = true;
  }
  p.count = 1;
  p.rows = 1;
  int od = 0;
  for (int d = 0; d < rank; ++d) {
    int64_t n = x->type.shape.dims[d];
    if (p.reduced[d]) {
      p.red_dims[p.n_red] = n;
      p.red_strides[p.n_red] = x->strides[d];
      p.red[p.n_red++] = d;
      p.count *= n;
      p.out_dim_of[d] = kd->attrs.keepdims ? od++ : -1;
    } else {
      p.kept_dims[p.n_kept] = n;
      p.kept[p.n_kept++] = d;
      p.rows *= n;
      p.out_dim_of[d] = od++;
    }
  }
  qiao_op_kind_t op = kd->op;
  bool is_int = qiao_dtype_is_int(x->type.dtype) || x->type.dtype == QIAO_BOOL;
  bool is_max = op == QIAO_OP_REDUCE_MAX;
  int32_t block = qiao_cuda_row_block(p.count);
  out->block[0] = block;
  out->grid[0] = p.rows < 1 ? 1 : p.rows > (1 << 20) ? (1 << 20) : p.rows;

  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  bool wide = !is_int && !is_max;
  LLVMTypeRef et = is_int ? cg->t_i64 : wide ? cg->t_f64 : cg->t_f32;
  LLVMValueRef init = is_int ? qiao_cg_i64(&cg->base, is_max ? INT64_MIN : 0)
                             : LLVMConstReal(et, is_max ? -INFINITY : 0.0);
  qiao_cuda_combine_fn comb = is_int ? (is_max ? comb_imax : comb_iadd)
                                     : (is_max ? comb_fmax : comb_fadd);
  LLVMValueRef smem = qiao_cuda_shared(cg, et, block / QIAO_CUDA_WARP, "red");
  LLVMValueRef accp = qiao_cuda_alloca(cg, et, "acc");
  LLVMValueRef xp = qiao_cuda_param(cg, 0);

  qiao_cg_loop_t rl;
  qiao_cuda_row_loop_begin(cg, p.rows, &rl);
  qiao_cuda_epi_t e;
  qiao_cuda_epi_init(&e, cg, kd);
  LLVMValueRef kc[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, rl.iv, p.n_kept, p.kept_dims, kc);
  int64_t kept_strides[QIAO_MAX_RANK];
  for (int i = 0; i < p.n_kept; ++i) {
    kept_strides[i] = x->strides[p.kept[i]];
    e.coords[p.out_dim_of[p.kept[i]]] = kc[i];
  }
  LLVMValueRef xbase = qiao_cuda_offset(cg, p.n_kept, kc, kept_strides);
  LLVMBuildStore(cg->b, init, accp);
  qiao_cg_loop_t jl;
  qiao_cuda_thread_loop_begin(cg, p.count, block, &jl);
  LLVMValueRef rc[QIAO_MAX_RANK];
  qiao_cuda_unflatten(cg, jl.iv, p.n_red, p.red_dims, rc);
  LLVMValueRef off = LLVMBuildAdd(cg->b, xbase, qiao_cuda_offset(cg, p.n_red, rc, p.red_strides),
                                  "");
  LLVMValueRef v = is_int ? load_i64(cg, xp, x->type.dtype, off)
                          : qiao_cg_load_f32(&cg->base, xp, x->type.dtype, off, 1);
  if (wide) v = LLVMBuildFPExt(cg->b, v, cg->t_f64, "");
  LLVMBuildStore(cg->b, comb(cg, LLVMBuildLoad2(cg->b, et, accp, ""), v), accp);
  qiao_cg_loop_end(&cg->base, &jl);
  LLVMValueRef r =
      qiao_cuda_block_reduce(cg, LLVMBuildLoad2(cg->b, et, accp, ""), block, comb, init, smem);
  LLVMBasicBlockRef join = thread0_begin(cg);
  if (is_int) {
    store_int_result(&e, op, r, p.count);
  } else {
    if (op == QIAO_OP_REDUCE_MEAN)
      r = LLVMBuildFDiv(cg->b, r, LLVMConstReal(et, (double)p.count), "");
    if (wide) r = LLVMBuildFPTrunc(cg->b, r, cg->t_f32, ""); /* rounded once, after the mean */
    qiao_cuda_epi_store(&e, r);
  }
  thread0_end(cg, join);
  qiao_cg_loop_end(&cg->base, &rl);
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  return NULL;
}
