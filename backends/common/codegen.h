/* backends/common — the target-neutral codegen context and emission every
 * backend shares (cpu now; cuda/NVPTX and ascend later).
 *
 * A backend's context starts with the QIAO_CG_FIELDS (as an anonymous
 * member next to `qiao_cg_t base`, see backends/cpu/codegen.h) and adds its
 * target's facts; everything here takes the common part. Math that differs
 * by target (libm or not) goes through the context's qiao_math_hook_t.
 *
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
#define QIAO_CG_FIELDS                                                                          \
  LLVMContextRef ctx;                                                                           \
  LLVMModuleRef mod;                                                                            \
  LLVMTargetMachineRef tm;                                                                      \
  LLVMTargetDataRef td;                                                                         \
  LLVMBuilderRef b;                                                                             \
  unsigned vec_bytes; /* bytes of the preferred vector (64 AVX-512, 32 AVX2, 16 NEON) */        \
  unsigned vec_f32;   /* f32 lanes per vector */                                                \
  LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f16, t_bf16, t_f32, t_f64, t_ptr;      \
  const qiao_math_hook_t *math; /* the target's math */

typedef struct qiao_cg {
  QIAO_CG_FIELDS
} qiao_cg_t;

/* Fills the cached types of cg (cg->ctx set). */
void qiao_cg_init_types(qiao_cg_t *cg);

/* ------------------------------------------------------------------ loops */

typedef struct qiao_cg_loop {
  LLVMValueRef iv;           /* i64 induction variable (valid inside the body) */
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
LLVMValueRef qiao_cg_load_f32(qiao_cg_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                               LLVMValueRef index, unsigned lanes);
/* Converts f32 (vector or scalar) to dt with the IR's rounding rules (RNE,
 * f8e4m3 saturating, ints toward zero saturating, bool != 0) and stores. */
void qiao_cg_store_f32(qiao_cg_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                        LLVMValueRef index, unsigned lanes);
/* The conversions inside load/store, for callers that load or store by other
 * means (masked intrinsics): storage lanes of dt → f32, and f32 → storage
 * lanes of dt with the IR's rounding rules. */
LLVMValueRef qiao_cg_storage_to_f32(qiao_cg_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                                     unsigned lanes);
LLVMValueRef qiao_cg_f32_to_storage(qiao_cg_t *cg, LLVMValueRef v, qiao_dtype_t dt,
                                     unsigned lanes);
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
LLVMValueRef qiao_cg_emit_expr(qiao_cg_t *cg, const qiao_kernel_desc_t *kd,
                                LLVMValueRef acc, qiao_cg_input_fn load, void *ctx,
                                unsigned lanes);
/* One elementwise op on f32 vectors/scalars (unary: b is NULL). */
LLVMValueRef qiao_cg_emit_elementwise(qiao_cg_t *cg, qiao_op_kind_t op,
                                       const qiao_attrs_t *attrs, LLVMValueRef a, LLVMValueRef b);
/* exp / sigmoid on f32 vectors/scalars (own polynomial, whole f32 range),
 * NaN-propagating max/min as the interpreter, the running max of every
 * max-reduction (v > acc || isnan(v) ? v : acc), horizontal reductions. */
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


/* A vector loop with a tail: for (i = lo; i < hi; i += V) body(i, V) over
 * the full vectors, then the remainder as scalars (body(i, 1)). lo/hi are
 * compile-time constants; empty parts emit nothing. */
typedef void (*qiao_cg_vbody_fn)(void *ctx, LLVMValueRef i, unsigned lanes);
void qiao_cg_vloop(qiao_cg_t *cg, int64_t lo, int64_t hi, unsigned V, const char *name,
                   qiao_cg_vbody_fn body, void *ctx);

#endif /* QIAO_BACKENDS_COMMON_CODEGEN_H */
