/* CPU backend — private codegen interface shared by every kernel lowering.
 *
 * One codegen context builds one LLVM module holding any number of kernel
 * entries. Each lowering (lower_<kind>.c) reads a kernel descriptor and emits
 * one entry with the HAL's CPU calling convention:
 *
 *   void entry(ptr bindings, ptr constants, i64 wg_x, i64 wg_y, i64 wg_z, ptr scratch)
 *
 * bindings[i] for i < kd->n_inputs are the kernel inputs in descriptor order,
 * then the outputs (bindings[kd->n_inputs + j]). All shapes are static, so
 * constants are unused (n_constants = 0). The lowering chooses the grid and
 * the per-worker scratch size. Shared helpers (loops, typed loads/stores,
 * fused-expression emission) live in emit.c; kernels read like the algorithm.
 */
#ifndef QIAO_BACKENDS_CPU_CODEGEN_H
#define QIAO_BACKENDS_CPU_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "qiao/ir.h"

typedef struct qiao_cpu_codegen qiao_cpu_codegen_t;

/* Math a target supplies to the shared emission (f32 scalars or vectors;
 * sin/cos also f64). NULL: the target cannot emit it. */
typedef struct qiao_math_hook {
  const char *name;
  LLVMValueRef (*exp)(qiao_cpu_codegen_t *cg, LLVMValueRef x);
  LLVMValueRef (*log)(qiao_cpu_codegen_t *cg, LLVMValueRef x);
  LLVMValueRef (*pow)(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b);
  LLVMValueRef (*sqrt)(qiao_cpu_codegen_t *cg, LLVMValueRef x);
  LLVMValueRef (*sin)(qiao_cpu_codegen_t *cg, LLVMValueRef x);
  LLVMValueRef (*cos)(qiao_cpu_codegen_t *cg, LLVMValueRef x);
} qiao_math_hook_t;

extern const qiao_math_hook_t qiao_math_host;     /* libm where the host has it */
extern const qiao_math_hook_t qiao_math_portable; /* LLVM arithmetic only (NVPTX-safe) */

struct qiao_cpu_codegen {
  LLVMContextRef ctx;
  LLVMModuleRef mod;
  LLVMTargetMachineRef tm;
  LLVMTargetDataRef td;
  LLVMBuilderRef b;
  char *cpu_name;      /* e.g. "znver4" (owned) */
  char *cpu_features;  /* "+avx512f,..." (owned) */
  /* Vector ISA facts used by the lowerings. */
  bool has_avx512f, has_avx512bf16, has_avx512fp16, has_avx2, has_fma, has_neon;
  unsigned vec_bytes;  /* 64 (AVX-512), 32 (AVX2), 16 (NEON/SSE) */
  unsigned vec_f32;    /* f32 lanes per vector register */
  unsigned n_vregs;    /* architectural vector registers (32 / 16 / 32) */
  int32_t n_threads;   /* threads the kernels will be dispatched on (a grid-size hint) */
  bool is_host;        /* the module targets this process's CPU (JIT-able) */
  /* Cached types. */
  LLVMTypeRef t_void, t_i1, t_i8, t_i16, t_i32, t_i64, t_f16, t_bf16, t_f32, t_f64, t_ptr;
  LLVMTypeRef t_entry; /* the entry function type */
  const qiao_math_hook_t *math; /* the target's math (qiao_math_host on the CPU) */
};

/* What a lowering produced: the entry and how to dispatch it. */
typedef struct qiao_cpu_kernel {
  LLVMValueRef fn;
  int64_t grid[3];
  uint64_t scratch_bytes;
} qiao_cpu_kernel_t;

/* ------------------------------------------------------------ entry, params */

/* Creates `name` with the entry signature, adds the attributes every kernel
 * gets (nounwind, target cpu/features, prefer-vector-width), and positions
 * cg->b at its entry block. */
LLVMValueRef qiao_cpu_entry_begin(qiao_cpu_codegen_t *cg, const char *name);
/* bindings[index] as a ptr (emitted at the current insertion point). */
LLVMValueRef qiao_cpu_binding(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int32_t index);
/* Entry parameters. */
LLVMValueRef qiao_cpu_wg(qiao_cpu_codegen_t *cg, LLVMValueRef fn, int axis); /* i64 wg id */
LLVMValueRef qiao_cpu_scratch(qiao_cpu_codegen_t *cg, LLVMValueRef fn);

/* ------------------------------------------------------------------ loops */

typedef struct qiao_cpu_loop {
  LLVMValueRef iv;           /* i64 induction variable (valid inside the body) */
  LLVMValueRef next_step;
  LLVMBasicBlockRef header, body, latch, exit;
  LLVMValueRef hi;
} qiao_cpu_loop_t;

/* for (iv = lo; iv < hi; iv += step) { ...body... } — all i64. After begin,
 * the builder is in the body; emit the body, then call end, which leaves the
 * builder in the exit block. Nested loops compose. */
void qiao_cpu_loop_begin(qiao_cpu_codegen_t *cg, LLVMValueRef lo, LLVMValueRef hi, int64_t step,
                         const char *name, qiao_cpu_loop_t *out_loop);
void qiao_cpu_loop_end(qiao_cpu_codegen_t *cg, qiao_cpu_loop_t *loop);

/* i64 constant. */
LLVMValueRef qiao_cpu_i64(qiao_cpu_codegen_t *cg, int64_t v);
LLVMValueRef qiao_cpu_f32c(qiao_cpu_codegen_t *cg, double v);
/* <lanes x f32> splat of v (lanes == 1: the scalar). */
LLVMValueRef qiao_cpu_splat(qiao_cpu_codegen_t *cg, LLVMValueRef v, unsigned lanes);
/* Type <lanes x elem> (lanes == 1: elem). */
LLVMTypeRef qiao_cpu_vec_type(qiao_cpu_codegen_t *cg, LLVMTypeRef elem, unsigned lanes);

/* ------------------------------------------------------- typed memory access */

/* Storage type of a dtype (f8 as i8, bool as i8). */
LLVMTypeRef qiao_cpu_storage_type(qiao_cpu_codegen_t *cg, qiao_dtype_t dt);
/* Address of element `index` (i64) in a buffer of dtype dt. */
LLVMValueRef qiao_cpu_elem_ptr(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                               LLVMValueRef index);
/* Loads `lanes` contiguous elements at element index `index` and converts
 * them to f32 (lanes == 1: a scalar f32). Integers convert exactly where f32
 * can hold them. */
LLVMValueRef qiao_cpu_load_f32(qiao_cpu_codegen_t *cg, LLVMValueRef base, qiao_dtype_t dt,
                               LLVMValueRef index, unsigned lanes);
/* Converts f32 (vector or scalar) to dt with the IR's rounding rules (RNE,
 * f8e4m3 saturating, ints toward zero saturating, bool != 0) and stores. */
void qiao_cpu_store_f32(qiao_cpu_codegen_t *cg, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                        LLVMValueRef index, unsigned lanes);
/* The conversions inside load/store, for callers that load or store by other
 * means (masked intrinsics): storage lanes of dt → f32, and f32 → storage
 * lanes of dt with the IR's rounding rules. */
LLVMValueRef qiao_cpu_storage_to_f32(qiao_cpu_codegen_t *cg, LLVMValueRef raw, qiao_dtype_t dt,
                                     unsigned lanes);
LLVMValueRef qiao_cpu_f32_to_storage(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt,
                                     unsigned lanes);
/* Rounds f32 values to what dt can hold and back to f32 (identity for f32):
 * the rounding point of an intermediate value stored in dt. */
LLVMValueRef qiao_cpu_round_f32(qiao_cpu_codegen_t *cg, LLVMValueRef v, qiao_dtype_t dt);

/* ------------------------------------------------------ fused expressions */

/* Supplies the value of kernel input `input` at the current output position
 * as <lanes x f32>. */
typedef LLVMValueRef (*qiao_cpu_input_fn)(void *ctx, int32_t input, unsigned lanes);

/* Emits kd->expr (nodes 0..n_expr-1) on <lanes x f32> values: EXPR_ACC is
 * `acc`, EXPR_INPUT calls `load`, EXPR_CONST splats. Each node's result is
 * rounded to the node's dtype (qiao_cpu_round_f32) so the fused kernel
 * matches the unfused graph's storage rounding. Returns the last node. */
LLVMValueRef qiao_cpu_emit_expr(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                LLVMValueRef acc, qiao_cpu_input_fn load, void *ctx,
                                unsigned lanes);
/* One elementwise op on f32 vectors/scalars (unary: b is NULL). */
LLVMValueRef qiao_cpu_emit_elementwise(qiao_cpu_codegen_t *cg, qiao_op_kind_t op,
                                       const qiao_attrs_t *attrs, LLVMValueRef a, LLVMValueRef b);
/* exp / sigmoid on f32 vectors/scalars (own polynomial, whole f32 range),
 * NaN-propagating max/min as the interpreter, the running max of every
 * max-reduction (v > acc || isnan(v) ? v : acc), horizontal reductions. */
LLVMValueRef qiao_cpu_emit_exp(qiao_cpu_codegen_t *cg, LLVMValueRef x);
LLVMValueRef qiao_cpu_emit_exp2i(qiao_cpu_codegen_t *cg, LLVMValueRef k);
LLVMValueRef qiao_cpu_emit_sigmoid(qiao_cpu_codegen_t *cg, LLVMValueRef x);
LLVMValueRef qiao_cpu_emit_max(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cpu_emit_min(qiao_cpu_codegen_t *cg, LLVMValueRef a, LLVMValueRef b);
LLVMValueRef qiao_cpu_emit_max_acc(qiao_cpu_codegen_t *cg, LLVMValueRef acc, LLVMValueRef v);
LLVMValueRef qiao_cpu_reduce_add(qiao_cpu_codegen_t *cg, LLVMValueRef v);
LLVMValueRef qiao_cpu_reduce_max(qiao_cpu_codegen_t *cg, LLVMValueRef v);
/* Calls an LLVM intrinsic by name, overloaded on `types`. */
LLVMValueRef qiao_cpu_call_intrinsic(qiao_cpu_codegen_t *cg, const char *name, LLVMTypeRef *types,
                                     unsigned n_types, LLVMValueRef *args, unsigned n_args);

/* ------------------------------------------------------------- lowerings */

/* Each lowers one descriptor into an entry named `name`. */
qiao_status_t qiao_cpu_lower_matmul(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_elementwise(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                         const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_reduce(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_softmax(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_norm(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_attention(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                       const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_moe(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                 const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_gather(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_topk(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out);
qiao_status_t qiao_cpu_lower_copy(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cpu_kernel_t *out);

#endif /* QIAO_BACKENDS_CPU_CODEGEN_H */
