/* backends/common — the target-neutral codegen context and emission every
 * backend shares (cpu now; cuda/NVPTX and ascend later).
 *
 * A backend's context starts with the QIAO_CG_FIELDS (as an anonymous
 * member next to `qiao_cg_t base`, see backends/cpu/codegen.h) and adds its
 * target's facts; everything here takes the common part. Math that differs
 * by target (libm or not) goes through the context's qiao_math_hook_t.
 *
 *   access.c   index math (unflatten, offsets), f32 scratch, strided and
 *              broadcast <lanes x f32> access, epilogue, copy runs
 *   emit.c     constants, loops, vector loop with tail, typed loads/stores
 *              and dtype rounding, NaN rule, exp family, math hooks,
 *              elementwise ops, fused expressions
 *   module.c   (module.h) LLVM target init (once), target machines, verify
 *              + default<ON>, object / assembly / IR to a file (atomic) or
 *              memory, host JIT with a symbol map
 */
#ifndef QIAO_BACKENDS_COMMON_CODEGEN_H
#define QIAO_BACKENDS_COMMON_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "qiao/ir.h"

struct qiao_cg;

/* Math a target supplies to the shared emission: f32 scalars or vectors
 * (sin/cos also f64, computed to f32 accuracy), the result in the operand's
 * type, accurate over the whole f32 range (inf/NaN as C99). NULL: the target
 * cannot emit it. qiao_math_portable emits no call but llvm.* intrinsics
 * that every target lowers to instructions (see emit.c). */
typedef struct qiao_math_hook {
  const char *name;
  LLVMValueRef (*exp)(struct qiao_cg *cg, LLVMValueRef x);
  LLVMValueRef (*log)(struct qiao_cg *cg, LLVMValueRef x);
  LLVMValueRef (*pow)(struct qiao_cg *cg, LLVMValueRef a, LLVMValueRef b);
  LLVMValueRef (*sqrt)(struct qiao_cg *cg, LLVMValueRef x);
  LLVMValueRef (*sin)(struct qiao_cg *cg, LLVMValueRef x);
  LLVMValueRef (*cos)(struct qiao_cg *cg, LLVMValueRef x);
} qiao_math_hook_t;

extern const qiao_math_hook_t qiao_math_host;     /* libm where the host has it */
extern const qiao_math_hook_t qiao_math_portable; /* LLVM arithmetic only (NVPTX-safe) */

/* The target-neutral context fields (kept as a macro so a backend context
 * can hold them as an anonymous struct and as `qiao_cg_t base`). */
#define QIAO_CG_FIELDS                                                                             \
  LLVMContextRef ctx;                                                                              \
  LLVMModuleRef mod;                                                                               \
  LLVMTargetMachineRef tm;                                                                         \
  LLVMTargetDataRef td;                                                                            \
  LLVMBuilderRef b;                                                                                \
  unsigned vec_bytes; /* bytes of the preferred vector (64 AVX-512, 32 AVX2, 16 NEON) */           \
  unsigned vec_f32;   /* f32 lanes per vector */                                                   \
  LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f16, t_bf16, t_f32, t_f64, t_ptr;         \
  const qiao_math_hook_t *math; /* the target's math */

typedef struct qiao_cg {
  QIAO_CG_FIELDS
} qiao_cg_t;

/* Fills the cached types of cg (cg->ctx set). */
void qiao_cg_init_types(qiao_cg_t *cg);

/* ------------------------------------------------------------------ loops */

typedef struct qiao_cg_loop {
  LLVMValueRef iv; /* i64 induction variable (valid inside the body) */
  LLVMValueRef next_step;
  LLVMBasicBlockRef header, body, latch, exit;
  LLVMValueRef hi;
} qiao_cg_loop_t;

/* for (iv = lo; iv < hi; iv += step) { ...body... } — all i64. After begin,
 * the builder is in the body; emit the body, then call end, which leaves the
 * builder in the exit block. Nested loops compose. */
void qiao_cg_loop_begin(qiao_cg_t *cg, LLVMValueRef lo, LLVMValueRef hi, int64_t step,
                        const char *name, qiao_cg_loop_t *out_loop);
void qiao_cg_loop_end(qiao_cg_t *cg, qiao_cg_loop_t *loop);

/* i64 constant. */
LLVMValueRef qiao_cg_i64(qiao_cg_t *cg, int64_t v);
LLVMValueRef qiao_cg_f32c(qiao_cg_t *cg, double v);
/* <lanes x f32> splat of v (lanes == 1: the scalar). */
LLVMValueRef qiao_cg_splat(qiao_cg_t *cg, LLVMValueRef v, unsigned lanes);
/* Type <lanes x elem> (lanes == 1: elem). */
LLVMTypeRef qiao_cg_vec_type(qiao_cg_t *cg, LLVMTypeRef elem, unsigned lanes);

/* ------------------------------------------------------- typed memory access */

/* Storage type of a dtype (f8 as i8, bool as i8). */
LLVMTypeRef qiao_cg_storage_type(qiao_cg_t *cg, qiao_dtype_t dt);
/* Address of element `index` (i64) in a buffer of dtype dt. */
LLVMValueRef qiao_cg_elem_ptr(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                              LLVMValueRef index);
/* Loads `lanes` contiguous elements at element index `index` and converts
 * them to f32 (lanes == 1: a scalar f32). Integers convert exactly where f32
 * can hold them. */
LLVMValueRef qiao_cg_load_f32(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt, LLVMValueRef index,
                              unsigned lanes);
/* Converts f32 (vector or scalar) to dt with the IR's rounding rules (RNE,
 * f8e4m3 saturating, ints toward zero saturating, bool != 0) and stores. */
void qiao_cg_store_f32(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                       LLVMValueRef index, unsigned lanes);
/* The conversions inside load/store, for callers that load or store by other
 * means (masked intrinsics): storage lanes of dt → f32, and f32 → storage
 * lanes of dt with the IR's rounding rules. */
LLVMValueRef qiao_cg_storage_to_f32(qiao_cg_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                                    unsigned lanes);
LLVMValueRef qiao_cg_f32_to_storage(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes);
/* Rounds f32 values to what dt can hold and back to f32 (identity for f32):
 * the rounding point of an intermediate value stored in dt. */
LLVMValueRef qiao_cg_round_f32(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt);

/* ------------------------------------------------------ fused expressions */

/* Supplies the value of kernel input `input` at the current output position
 * as <lanes x f32>. */
typedef LLVMValueRef (*qiao_cg_input_fn)(void *ctx, int32_t input, unsigned lanes);

/* Emits kd->expr (nodes 0..n_expr-1) on <lanes x f32> values: EXPR_ACC is
 * `acc`, EXPR_INPUT calls `load`, EXPR_CONST splats. Each node's result is
 * rounded to the node's dtype (qiao_cg_round_f32) so the fused kernel
 * matches the unfused graph's storage rounding. Returns the last node. */
LLVMValueRef qiao_cg_emit_expr(qiao_cg_t *cg, const qiao_kernel_desc_t *kd, LLVMValueRef acc,
                               qiao_cg_input_fn load, void *ctx, unsigned lanes);
/* One elementwise op on f32 vectors/scalars (unary: b is NULL). */
LLVMValueRef qiao_cg_emit_elementwise(qiao_cg_t *cg, qiao_op_kind_t op, const qiao_attrs_t *attrs,
                                      LLVMValueRef a, LLVMValueRef b);
/* exp / sigmoid on f32 vectors/scalars (own polynomial, whole f32 range),
 * NaN-propagating max/min as the interpreter, the running max of every
 * max-reduction (v > acc || isnan(v) ? v : acc), horizontal reductions. */
/* A value of a mixed integer/float expression: <lanes x i64> when is_int,
 * <lanes x f32> otherwise (lanes == 1: scalars). */
typedef struct qiao_cg_ival {
  bool is_int;
  LLVMValueRef v;
} qiao_cg_ival_t;
/* A CONST node of the expression, in its dtype's lane kind. */
qiao_cg_ival_t qiao_cg_emit_mixed_const(qiao_cg_t *cg, const qiao_expr_node_t *n, unsigned lanes);
/* An OP node (elementwise op or cast) on mixed operands with the interpreter's
 * integer rules (wrap, saturating casts, x / 0 = 0) and float rounding. */
qiao_cg_ival_t qiao_cg_emit_mixed_op(qiao_cg_t *cg, const qiao_expr_node_t *n, qiao_cg_ival_t a,
                                     qiao_cg_ival_t b, unsigned lanes);
/* Integer lanes are carried as i64 (lanes == 1: scalars), as the interpreter
 * computes: wrap to dt's width (two's complement); saturate to dt's range;
 * f32 → i64 toward zero saturated to dt (NaN → 0); i64 → f32 through f64,
 * rounded to dt. */
LLVMValueRef qiao_cg_int_wrap(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes);
LLVMValueRef qiao_cg_int_sat(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes);
LLVMValueRef qiao_cg_f32_to_int(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes);
LLVMValueRef qiao_cg_int_to_f32(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt, unsigned lanes);
/* add/sub/mul/max/min/div on integer scalars or vectors with the interpreter's
 * rules (wrapping; x / 0 = 0; MIN / -1 = MIN); NULL for any other op. */
LLVMValueRef qiao_cg_emit_int_binary(qiao_cg_t *cg, qiao_op_kind_t op, LLVMValueRef a,
                                     LLVMValueRef b);
LLVMValueRef qiao_cg_emit_exp(qiao_cg_t *cg, LLVMValueRef x);
LLVMValueRef qiao_cg_emit_exp2i(qiao_cg_t *cg, LLVMValueRef k);
LLVMValueRef qiao_cg_emit_sigmoid(qiao_cg_t *cg, LLVMValueRef x);
LLVMValueRef qiao_cg_emit_max(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cg_emit_min(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cg_emit_max_acc(qiao_cg_t *cg, LLVMValueRef acc, LLVMValueRef v);
LLVMValueRef qiao_cg_reduce_add(qiao_cg_t *cg, LLVMValueRef v);
LLVMValueRef qiao_cg_reduce_max(qiao_cg_t *cg, LLVMValueRef v);
/* Calls an LLVM intrinsic by name, overloaded on `types`. */
LLVMValueRef qiao_cg_call_intrinsic(qiao_cg_t *cg, const char *name, LLVMTypeRef *types,
                                    unsigned n_types, LLVMValueRef *args, unsigned n_args);

/* ------------------------------------------------ vector loop with a tail */

/* A vector loop with a tail, as an iterator the kernel's own code is the
 * body of:
 *
 *   for (qiao_cg_vloop_t vl = qiao_cg_vloop_start(0, n, V, 0, "j");
 *        qiao_cg_vloop_next(cg, &vl);)
 *     ... emit the body at element vl.i (i64) for vl.lanes lanes ...
 *
 * covers [lo, hi) with <V>-lane bodies over the full vectors, then 1-lane
 * bodies over the rest. Each part whose trip count is at most `unroll` is
 * emitted straight (vl.i a constant per body), otherwise as a loop; empty
 * parts emit nothing. After the last body, next() closes the loop and
 * returns false (do not `break` out of the for). Bounds are compile-time
 * constants (start) or i64 values (start_dyn: two loops, never unrolled). */
typedef struct qiao_cg_vloop {
  LLVMValueRef i; /* the body's first element (i64) */
  unsigned lanes; /* V in the vector part, 1 in the tail */
  /* private */
  LLVMValueRef lo_v, hi_v, mid_v;
  int64_t lo, hi, at, end;
  unsigned V, unroll;
  const char *name;
  int part;
  bool in_loop, unrolling;
  qiao_cg_loop_t loop;
} qiao_cg_vloop_t;

qiao_cg_vloop_t qiao_cg_vloop_start(int64_t lo, int64_t hi, unsigned V, unsigned unroll,
                                    const char *name);
qiao_cg_vloop_t qiao_cg_vloop_start_dyn(LLVMValueRef lo, LLVMValueRef hi, unsigned V,
                                        const char *name);
bool qiao_cg_vloop_next(qiao_cg_t *cg, qiao_cg_vloop_t *vl);

/* The same with a callback: body(ctx, i, lanes) for each body. */
typedef void (*qiao_cg_vbody_fn)(void *ctx, LLVMValueRef i, unsigned lanes);
void qiao_cg_vloop(qiao_cg_t *cg, int64_t lo, int64_t hi, unsigned V, const char *name,
                   qiao_cg_vbody_fn body, void *ctx);

/* ------------------------------------------- index math, scratch, access
 * (access.c) */

/* An alloca in fn's entry block (promoted to registers by mem2reg). */
LLVMValueRef qiao_cg_alloca(qiao_cg_t *cg, LLVMValueRef fn, LLVMTypeRef t, const char *name);
/* Plain load / store of type t at p. */
LLVMValueRef qiao_cg_ld(qiao_cg_t *cg, LLVMTypeRef t, LLVMValueRef p);
void qiao_cg_st(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef p);
/* i64 arithmetic: min, max, a + b, a * c, a + b * c (skipped when c is 0 or
 * b is NULL; a NULL a counts as 0). */
LLVMValueRef qiao_cg_imin(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cg_imax(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cg_iadd(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cg_imul(qiao_cg_t *cg, LLVMValueRef a, int64_t c);
LLVMValueRef qiao_cg_imadd(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, int64_t c);
/* coords[d] for d < n from the linear index idx over dims (row-major, constant
 * divisors); dims of size 1 give the constant 0. */
void qiao_cg_unflatten(qiao_cg_t *cg, LLVMValueRef idx, int n, const int64_t *dims,
                       LLVMValueRef *coords);
/* Σ coords[d] * strides[d] (NULL coords count as 0). */
LLVMValueRef qiao_cg_offset(qiao_cg_t *cg, int n, LLVMValueRef const *coords,
                            const int64_t *strides);
/* f32 buffers (scratch): element pointer, <lanes x f32> load, store. */
LLVMValueRef qiao_cg_fptr(qiao_cg_t *cg, LLVMValueRef base, LLVMValueRef idx);
LLVMValueRef qiao_cg_ldf(qiao_cg_t *cg, LLVMValueRef base, LLVMValueRef idx, unsigned lanes);
void qiao_cg_stf(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, LLVMValueRef idx);
/* Carves an f32 buffer: *out[k] = &base[at[k]] for k < n (scratch layouts). */
void qiao_cg_fptrs(qiao_cg_t *cg, LLVMValueRef base, int n, const int64_t *at,
                   LLVMValueRef *const *out);
/* *acc = a * b + *acc for the accumulator slot acc (an alloca of a's type). */
void qiao_cg_fma_into(qiao_cg_t *cg, LLVMValueRef acc, LLVMValueRef a, LLVMValueRef b);
/* <lanes x f32> splat of the constant v; a * b + c (llvm.fmuladd). */
LLVMValueRef qiao_cg_fsplat(qiao_cg_t *cg, double v, unsigned lanes);
LLVMValueRef qiao_cg_fma(qiao_cg_t *cg, LLVMValueRef a, LLVMValueRef b, LLVMValueRef c);
/* if (cond) { ... }: returns the continuation; the builder is left in the
 * then-block; qiao_cg_endif closes it. */
LLVMBasicBlockRef qiao_cg_if(qiao_cg_t *cg, LLVMValueRef cond, const char *name);
void qiao_cg_endif(qiao_cg_t *cg, LLVMBasicBlockRef cont);
/* `lanes` f32 values of a dtype-dt buffer at off, off + stride, ...: stride 1
 * contiguous, 0 a splat (broadcast), else lane by lane. Store: the same. */
LLVMValueRef qiao_cg_load_strided(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                                  LLVMValueRef off, int64_t stride, unsigned lanes);
void qiao_cg_store_strided(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                           LLVMValueRef off, int64_t stride, unsigned lanes);

/* The fused epilogue at an output position: input pointers and the current
 * output coordinates (lanes run along the output's last dim). */
typedef struct qiao_cg_epi {
  qiao_cg_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef in[QIAO_KD_MAX_OPERANDS];
  int rank;
  LLVMValueRef coords[QIAO_MAX_RANK];
} qiao_cg_epi_t;

/* inputs[i]: kernel input i's pointer (however the target binds it). */
void qiao_cg_epi_init(qiao_cg_epi_t *e, qiao_cg_t *cg, const qiao_kernel_desc_t *kd,
                      const LLVMValueRef *inputs);
/* Rounds the primary result to kd->primary_dtype and applies the epilogue. */
LLVMValueRef qiao_cg_epi_apply(qiao_cg_epi_t *e, LLVMValueRef acc, unsigned lanes);
/* Applies the epilogue at e->coords and stores into `out` (output 0). */
void qiao_cg_epi_store(qiao_cg_epi_t *e, LLVMValueRef out, LLVMValueRef acc, unsigned lanes);

/* Copies a run of L elements: dst[doff + j*dst_st] = src[soff + j*sst] for
 * j < L, vectorized when both strides are 1 (qiao_cg_vloop). With no
 * epilogue and equal dtypes the bits are copied (exact for every dtype);
 * otherwise the value goes through f32 and the epilogue at epi->coords with
 * epi->coords[coord_dim] = coord_base + j. */
void qiao_cg_copy_run(qiao_cg_t *cg, qiao_cg_epi_t *epi, LLVMValueRef src, qiao_dtype_t sdt,
                      LLVMValueRef soff, int64_t sst, LLVMValueRef dst, qiao_dtype_t ddt,
                      LLVMValueRef doff, int64_t dst_st, int64_t L, int coord_dim,
                      LLVMValueRef coord_base);

#endif /* QIAO_BACKENDS_COMMON_CODEGEN_H */
