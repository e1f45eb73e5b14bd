/* Ascend backend — private: the module (an LLVM module of unit-operation
 * calls for the host, JIT'ed with a symbol map onto ascend-sim's unit
 * operations) and the tiling plans the lowerings check before emitting. */
#ifndef QIAO_BACKENDS_ASCEND_H
#define QIAO_BACKENDS_ASCEND_H

#include <llvm-c/Core.h>
#include <llvm-c/Orc.h>

#include "../common/codegen.h"
#include "qiao/backend.h"
#include "qiao/hal_ascend.h"

typedef struct ascend_entry {
  qiao_kernel_launch_t launch;
} ascend_entry_t;

typedef struct ascend_module {
  union {
    qiao_cg_t base;
    struct {
      QIAO_CG_FIELDS
    };
  };
  LLVMOrcThreadSafeContextRef tsc;
  LLVMTypeRef t_entry;
  qiao_hal_ascend_info_t info; /* the device's cores and buffers */
  bool fp8;                    /* the device's units take f8 */
  ascend_entry_t *entries;
  int32_t n_entries, cap_entries;
  bool optimized;
  char *listing; /* readable unit operations per kernel, per pipe */
  size_t listing_len, listing_cap;
} ascend_module_t;

/* Emits a call to unit operation `name` (qiao_ascend_*) with args (the
 * declaration follows the args' types; get_block_* return i64) and adds a
 * line to the listing. */
LLVMValueRef ascend_uop(ascend_module_t *m, const char *name, LLVMValueRef *args, unsigned n,
                        const char *note);
/* Appends printf text to the module's listing. */
void ascend_listing_printf(ascend_module_t *m, const char *fmt, ...);
/* The unit-operation dtype of an IR dtype (bool: u8). */
int ascend_dtype(qiao_dtype_t dt);

/* ------------------------------------------ vector-unit kernels
 * ELEMENTWISE, SOFTMAX, REDUCE (sum/mean/max) and NORM (rms/layer) with
 * their fused epilogues (lower_elementwise.c). */

/* The UB plan of an elementwise kernel: double-buffered input and output
 * tiles, f32 work buffers reused by liveness, one rounding temp. */
typedef struct ascend_ew_plan {
  qiao_kd_kind_t kind;                /* ELEMENTWISE, SOFTMAX, REDUCE or NORM */
  qiao_op_kind_t op;                  /* the primary op */
  int32_t n_primary;                  /* primary inputs (0 for ELEMENTWISE; NORM: x, w[, b]) */
  int64_t row;                        /* SOFTMAX/NORM: elements of the normalized axis */
  int64_t G;                          /* primary input elements per output element (REDUCE: row) */
  int64_t pbuf_off, acc_off, red_off; /* primary as f32, the primary result, per-row values */
  /* REDUCE over axes followed by kept dims, SOFTMAX over a non-last axis:
   * the primary tile is transposed in the UB (a Gather over an index view)
   * so that each reduced row is contiguous; inner = kept elements per block
   * (1: no transpose). The tile is whole blocks of `block` input elements. */
  int64_t inner, block;
  int32_t fwd_rank, bwd_rank;
  int64_t fwd_dims[QIAO_MAX_RANK + 1], fwd_strides[QIAO_MAX_RANK + 1];
  int64_t bwd_dims[3], bwd_strides[3];
  int64_t tbuf_off, x2_off, red2_off, red3_off; /* f32 scratch: transposed tile, squares, rows */
  double count;                                 /* REDUCE_MEAN: reduced elements */
  int64_t n;                                    /* output elements */
  int64_t tile;                                 /* elements per tile (a multiple of 64) */
  int64_t n_tiles;
  int64_t in_off[QIAO_KD_MAX_OPERANDS][2]; /* UB byte offsets, ping and pong */
  bool in_scalar[QIAO_KD_MAX_OPERANDS];    /* one element broadcast */
  /* broadcast or strided inputs: loaded whole, once per block, into a
   * resident UB region and expanded per tile by BroadcastTo */
  bool in_resident[QIAO_KD_MAX_OPERANDS];
  int64_t res_off[QIAO_KD_MAX_OPERANDS], res_elems[QIAO_KD_MAX_OPERANDS];
  int64_t out_off[2];
  int32_t n_work;
  int64_t work_off[QIAO_EXPR_MAX_NODES];
  int32_t node_work[QIAO_EXPR_MAX_NODES]; /* work buffer of node i, -1: its input tile */
  int64_t tmp_off;
  int64_t ub_used, ub_bytes;
} ascend_ew_plan_t;

/* Whether the elementwise lowering takes kd (reason otherwise). */
bool ascend_ew_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap);
/* Plans kd's tiles in a UB of ub_bytes. tile 0 picks the largest tile that
 * fits; a given tile that does not fit (or a UB too small for a 64-element
 * tile) is QIAO_RESOURCE_EXHAUSTED ("UB overflow", with the bytes needed). */
qiao_status_t ascend_ew_plan(const qiao_kernel_desc_t *kd, int64_t ub_bytes, int64_t tile,
                             ascend_ew_plan_t *out);
/* Emits kd as entry `fn` (the plan checked). */
qiao_status_t ascend_lower_elementwise(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                       LLVMValueRef fn, const ascend_ew_plan_t *plan);

/* ------------------------------------------ data movement (lower_copy.c)
 * COPY (transpose, slice, concat, reshape) and GATHER: MTE row copies, or a
 * vector Gather from a resident source span. */
bool ascend_copy_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap);
qiao_status_t ascend_lower_copy(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn);

/* TOPK on the vector unit (lower_topk.c); the UB tile check included. */
bool ascend_topk_supported(const qiao_kernel_desc_t *kd, int64_t ub_bytes, char *reason,
                           size_t cap);
qiao_status_t ascend_lower_topk(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn);

/* ROPE (a COPY kernel of op rope) on the vector unit (lower_rope.c). */
bool ascend_rope_supported(const qiao_kernel_desc_t *kd, int64_t ub_bytes, char *reason,
                           size_t cap);
qiao_status_t ascend_lower_rope(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn);

/* ------------------------------------------------------ cube */

/* Whether the cube lowering takes kd (2-D f16/bf16 matmul, no epilogue). */
/* A mixed f32 x f16/bf16 matmul: the input cast to f32 first (0 or 1), or -1. */
int ascend_mm_cast_input(const qiao_kernel_desc_t *kd);
/* Its GM workspace: the cast operand as f32 (0 when no cast). */
uint64_t ascend_mm_workspace(const qiao_kernel_desc_t *kd);
/* The cast phase's entry (AIV): the operand -> f32 into the workspace. */
qiao_status_t ascend_lower_mm_cast(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                   LLVMValueRef fn);
bool ascend_mm_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap);
/* The tile buffers fit the device's L1/L0A/L0B/L0C (QIAO_RESOURCE_EXHAUSTED). */
qiao_status_t ascend_mm_check(const qiao_hal_ascend_info_t *info);
/* Emits kd as entry fn (lower_matmul.c). */
qiao_status_t ascend_lower_matmul(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                  LLVMValueRef fn);

/* ------------------------------------------ mixed kernels (AIC + AIV)
 * one block per group of 1 AIC + 2 AIV (block_dim = the AIC count), tiles
 * handed over through the GM workspace, cross-core flags (lower_attention.c) */

/* Whether the attention lowering takes kd (f16/bf16 q, k, v). */
bool ascend_attn_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap);
/* The tiles fit L1/L0A/L0B/L0C/UB (QIAO_RESOURCE_EXHAUSTED otherwise). */
qiao_status_t ascend_attn_check(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info);
/* GM workspace bytes of a dispatch (per group x the AIC count). */
uint64_t ascend_attn_workspace(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info);
qiao_status_t ascend_lower_attention(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                     LLVMValueRef fn);
/* MOE (SwiGLU experts, f16/bf16): the same four for lower_moe.c. */
bool ascend_moe_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap);
qiao_status_t ascend_moe_check(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info);
uint64_t ascend_moe_workspace(const qiao_kernel_desc_t *kd, const qiao_hal_ascend_info_t *info);
qiao_status_t ascend_lower_moe(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn);

#endif /* QIAO_BACKENDS_ASCEND_H */
