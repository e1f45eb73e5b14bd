/* CUDA backend — private codegen interface shared by every kernel lowering.
 *
 * One codegen context builds one NVPTX LLVM module (triple nvptx64-nvidia-cuda,
 * sm_80 / sm_90, +ptx80) holding any number of kernels. Each lowering
 * (lower_<kind>.c) reads a kernel descriptor and emits one PTX kernel with the
 * CUDA-class entry convention (docs/cuda-backend.md):
 *
 *   .entry name(.param .u64 b0, ..., .param .u64 b{n-1})
 *
 * one global-memory pointer per binding, inputs in descriptor order then the
 * outputs, no scalars (shapes are static, baked into the code). The lowering
 * chooses grid, block and shared memory (static `.shared` arrays declared in
 * the PTX, so the launch's dynamic shared_bytes is 0).
 *
 * SIMT helpers (special registers, barriers, warp shuffles, block-wide
 * reductions through shared memory) live in emit.c; target-neutral emission
 * (dtype conversions, fused expressions, math) comes from backends/common.
 */
#ifndef QIAO_BACKENDS_CUDA_CODEGEN_H
#define QIAO_BACKENDS_CUDA_CODEGEN_H

#include <llvm-c/Core.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>

#include "common/codegen.h"
#include "qiao/backend.h"
#include "qiao/cuda_model.h"
#include "qiao/ir.h"

#define QIAO_CUDA_WARP 32
#define QIAO_CUDA_AS_GLOBAL 1u
#define QIAO_CUDA_AS_SHARED 3u
#define QIAO_CUDA_KERNEL_CC 71u /* PTX_Kernel */

typedef struct qiao_cuda_codegen {
  union {
    qiao_cg_t base; /* the target-neutral part, for backends/common */
    struct {
      QIAO_CG_FIELDS
    };
  };
  char sm[16];        /* "sm_90" */
  int32_t n_sms;      /* SMs of the target device (grid sizing of grid-stride loops) */
  LLVMTypeRef t_gptr; /* ptr addrspace(1) */
  LLVMTypeRef t_sptr; /* ptr addrspace(3) */
  LLVMValueRef fn;    /* the kernel being emitted */
  const char *kname;  /* its name */
  int32_t variant;    /* the lowering variant asked for (QIAO_CUDA_VAR_*); 0: the plan's own */
} qiao_cuda_codegen_t;

/* One launch of a multi-step kernel (an entry of its own). */
typedef struct qiao_cuda_phase {
  char name[64];
  int64_t grid[3];
  int32_t block[3];
  int64_t shared_bytes; /* static shared memory it declares (reported, not launched) */
} qiao_cuda_phase_t;

/* What a lowering produced: the kernel and how to launch it. A single-step
 * kernel is `fn` with grid/block. A multi-step one (n_phases > 1) is the
 * entries phases[0..n) launched in order, every one taking the bindings plus
 * a trailing `ptr addrspace(1)` workspace of workspace_bytes (not zeroed);
 * grid/block/shared_bytes then repeat phases[0]. */
typedef struct qiao_cuda_kernel {
  LLVMValueRef fn;
  int64_t grid[3];
  int32_t block[3];
  int64_t shared_bytes; /* static shared memory the kernel declares (reported, not launched) */
  int64_t workspace_bytes;
  int32_t n_phases;            /* 0: single step */
  qiao_cuda_phase_t phases[8]; /* QIAO_KERNEL_MAX_PHASES */
} qiao_cuda_kernel_t;

/* ------------------------------------------------------------ entry, params */

/* Creates kernel `name` with n_params `ptr addrspace(1)` params, calling
 * convention PTX_Kernel, and positions the builder at its entry block. */
LLVMValueRef qiao_cuda_entry_begin(qiao_cuda_codegen_t *cg, const char *name, int32_t n_params);
LLVMValueRef qiao_cuda_param(qiao_cuda_codegen_t *cg, int32_t index);

/* ------------------------------------------------------------ SIMT */

/* Special registers as i64: "tid.x", "ntid.x", "ctaid.x", "nctaid.x", ... */
LLVMValueRef qiao_cuda_sreg(qiao_cuda_codegen_t *cg, const char *reg);
/* bar.sync 0 (llvm.nvvm.barrier0). */
void qiao_cuda_barrier(qiao_cuda_codegen_t *cg);
/* A static shared-memory array of `bytes` (16-byte aligned), private to the
 * kernel being emitted. */
LLVMValueRef qiao_cuda_shared(qiao_cuda_codegen_t *cg, LLVMTypeRef elem, int64_t n,
                              const char *name);
/* shfl.sync.bfly over the full warp: f32, or i64/f64 (as two 32-bit shuffles). */
LLVMValueRef qiao_cuda_shfl_bfly(qiao_cuda_codegen_t *cg, LLVMValueRef v, int lane_mask);

/* An associative combine of two partial results (f32 or i64 scalars). */
typedef LLVMValueRef (*qiao_cuda_combine_fn)(qiao_cuda_codegen_t *cg, LLVMValueRef a,
                                             LLVMValueRef b);
/* Reduces `v` over the whole CTA of `block` threads (a multiple of 32):
 * butterfly shuffles inside each warp, then, with more than one warp, warp
 * leaders write `smem` (>= block/32 elements of v's type), a barrier, and
 * warp 0 reduces those and writes smem[0]; a second barrier. Every thread
 * gets the result. `identity` fills the unused lanes of the second stage.
 * Must be reached by every thread of the CTA (uniform control flow). */
LLVMValueRef qiao_cuda_block_reduce(qiao_cuda_codegen_t *cg, LLVMValueRef v, int32_t block,
                                    qiao_cuda_combine_fn combine, LLVMValueRef identity,
                                    LLVMValueRef smem);

/* ------------------------------------------------------------ indexing */

/* coords[d] for d < n from a linear index over dims (row-major); dims of 1 → 0. */
void qiao_cuda_unflatten(qiao_cuda_codegen_t *cg, LLVMValueRef idx, int n, const int64_t *dims,
                         LLVMValueRef *coords);
/* Σ coords[d] * strides[d] (i64). */
LLVMValueRef qiao_cuda_offset(qiao_cuda_codegen_t *cg, int n, LLVMValueRef const *coords,
                              const int64_t *strides);
/* A grid-stride loop: for (i = ctaid.x * ntid.x + tid.x; i < n; i += nctaid.x * ntid.x). */
void qiao_cuda_grid_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, qiao_cg_loop_t *out_loop);
/* A CTA-stride loop over rows: for (r = ctaid.x; r < n; r += nctaid.x). */
void qiao_cuda_row_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, qiao_cg_loop_t *out_loop);
/* A thread-stride loop inside a CTA: for (j = tid.x; j < n; j += block). */
void qiao_cuda_thread_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, int32_t block,
                                 qiao_cg_loop_t *out_loop);
/* An alloca in the entry block (promoted to registers by mem2reg). */
LLVMValueRef qiao_cuda_alloca(qiao_cuda_codegen_t *cg, LLVMTypeRef t, const char *name);

/* Threads per CTA for a row of `n` elements reduced by one CTA: n rounded up
 * to a warp, clamped to [32, 256]. */
int32_t qiao_cuda_row_block(int64_t n);
/* CTAs for a grid-stride loop of `work` items at `block` threads each:
 * enough to cover it, at most 32 CTAs per SM. */
int64_t qiao_cuda_grid_for(const qiao_cuda_codegen_t *cg, int64_t work, int32_t block);

/* ------------------------------------------------------------ epilogue */

/* The fused-expression context: input pointers and the current output
 * coordinates (rank of outputs[0]); lanes == 1 only. */
typedef struct qiao_cuda_epi {
  qiao_cuda_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef in[QIAO_KD_MAX_OPERANDS];
  int rank;
  LLVMValueRef coords[QIAO_MAX_RANK];
} qiao_cuda_epi_t;

void qiao_cuda_epi_init(qiao_cuda_epi_t *e, qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd);
/* Rounds `acc` (f32) to primary_dtype, applies the epilogue at e->coords and
 * stores into outputs[0]. */
void qiao_cuda_epi_store(qiao_cuda_epi_t *e, LLVMValueRef acc);
/* The expression at e->coords with EXPR_ACC = acc (no rounding of acc). */
LLVMValueRef qiao_cuda_epi_expr(qiao_cuda_epi_t *e, LLVMValueRef acc);
/* Stores f32 `v` into outputs[0] at e->coords with the dtype's rounding. */
void qiao_cuda_epi_store_value(qiao_cuda_epi_t *e, LLVMValueRef v);

/* Evaluates the epilogue (or an elementwise body) with integer and bool
 * nodes exactly like the interpreter (expr_int.c) at e->coords and stores
 * outputs[0]. acc: the primary result, an i64 (acc_is_int) or an f32, first
 * rounded/wrapped to kd->primary_dtype; NULL when there is none. */
void qiao_cuda_epi_store_mixed(qiao_cuda_epi_t *e, LLVMValueRef acc, bool acc_is_int);

/* ------------------------------------------------------------- lowerings */

/* Whether the expression (and every operand) stays in float dtypes, which is
 * what the f32 expression evaluator handles exactly. */
bool qiao_cuda_float_expr(const qiao_kernel_desc_t *kd, bool check_primary_inputs);

qiao_status_t qiao_cuda_lower_elementwise(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                          const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_reduce(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_softmax(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                      const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_norm(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_copy(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_rope(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_matmul(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_topk(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_attention(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                        const char *name, qiao_cuda_kernel_t *out);
qiao_status_t qiao_cuda_lower_moe(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                  const char *name, qiao_cuda_kernel_t *out);
/* Lowering variants (dispatch by cost model, docs/design.md): ids of the
 * backend table's `variants`. Split-KV decode with s splits is
 * QIAO_CUDA_VAR_ATTN_SPLITKV + s (1 <= s <= QIAO_CUDA_MAX_SPLITS). */
enum {
  QIAO_CUDA_VAR_ATTN_TC = 1,   /* "flash-tc": prefill on mma.sync */
  QIAO_CUDA_VAR_ATTN_SIMT = 2, /* "flash-simt": prefill on the SIMT core */
  QIAO_CUDA_VAR_MOE_TC = 11,   /* "grouped-tc": expert GEMMs on mma.sync */
  QIAO_CUDA_VAR_MOE_SIMT = 12, /* "grouped-simt": expert GEMMs on the SIMT pipe */
  QIAO_CUDA_VAR_ATTN_SPLITKV = 100,
  QIAO_CUDA_MAX_SPLITS = 256
};

/* What a variant launches, for the cost model: up to 8 launches' work
 * (qiao/cuda_model.h). */
typedef struct qiao_cuda_variant_work {
  int32_t n;
  qiao_cuda_work_t w[8];
} qiao_cuda_variant_work_t;

/* The variants of an attention / moe descriptor for a device of n_sms SMs
 * (valid ones only, at most cap); returns how many. */
int32_t qiao_cuda_attention_variants(const qiao_kernel_desc_t *kd, int32_t n_sms,
                                     qiao_kernel_variant_t *out, int32_t cap);
int32_t qiao_cuda_moe_variants(const qiao_kernel_desc_t *kd, qiao_kernel_variant_t *out,
                               int32_t cap);
/* The launches of variant `variant` of kd (false: not a variant of kd). */
bool qiao_cuda_attention_variant_work(const qiao_kernel_desc_t *kd, int32_t variant, int32_t n_sms,
                                      qiao_cuda_variant_work_t *out);
bool qiao_cuda_moe_variant_work(const qiao_kernel_desc_t *kd, int32_t variant, int32_t n_sms,
                                qiao_cuda_variant_work_t *out);

/* One warp-wide tensor-core step through inline PTX, accumulating into c:
 * mma.sync.aligned.m16n8k16.row.col.f32.<ab>.<ab>.f32 (f16/bf16: c is 4 f32) or
 * mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 (s8: c is 4 i32, wrapping, no
 * .satfinite). a: 4 packed i32 registers, b: 2 (the ISA's fragment layouts). */
typedef enum qiao_cuda_mma_in {
  QIAO_CUDA_MMA_F16,
  QIAO_CUDA_MMA_BF16,
  QIAO_CUDA_MMA_S8
} qiao_cuda_mma_in_t;
void qiao_cuda_emit_mma(qiao_cuda_codegen_t *cg, qiao_cuda_mma_in_t in, LLVMValueRef a[4],
                        LLVMValueRef b[2], LLVMValueRef c[4]);

qiao_status_t qiao_cuda_lower_gather(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out);

#endif /* QIAO_BACKENDS_CUDA_CODEGEN_H */
