/* Ascend backend — MATMUL on the cube (AIC), as a catlass-style basic block:
 *
 *   per output tile (M0 x N0 = 128 x 128, tiles over the AIC blocks):
 *     WaitFlag<FIX_M>                                  L0C free
 *     for k0 in K step K0 (128):
 *       WaitFlag<MTE1_MTE2>                            L1 free
 *       DataCopy GM->L1 ND2NZ  A[m0.., k0..], B[k0.., n0..]      (MTE2)
 *       SetFlag/WaitFlag<MTE2_MTE1>
 *       WaitFlag<M_MTE1>                               L0A/L0B free
 *       LoadData L1->L0A, L1->L0B                                (MTE1)
 *       SetFlag<MTE1_MTE2>; SetFlag/WaitFlag<MTE1_M>
 *       Mmad into L0C (init at k0 = 0, accumulate after)          (M)
 *       SetFlag<M_MTE1>
 *     SetFlag/WaitFlag<M_FIX>
 *     Fixpipe L0C->GM, NZ->ND, f32 -> the output dtype           (FIX)
 *     SetFlag<FIX_M>
 *
 * Tile buffers: A 128x128 f16 (32 KiB) and B (32 KiB) in L1 and L0A/L0B, C
 * 128x128 f32 (64 KiB) in L0C: each fits its buffer (checked against the
 * device's sizes). Tails are zero-padded by ND2NZ to whole 16x16 fractals.
 * Not yet: L1/L0 ping-pong, larger L1 tiles reused over several L0 loads,
 * batch, transposes, epilogues, f32 inputs. */
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

enum { MM_M0 = 128, MM_N0 = 128, MM_K0 = 128 };

bool ascend_mm_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_inputs != 2 || kd->n_outputs != 1 || kd->n_expr > 0 || kd->has_norm_prologue) {
    snprintf(reason, cap,
             "matmul with an epilogue, a norm prologue or extra operands (not "
             "lowered for the Ascend class yet)");
    return false;
  }
  const qiao_kd_operand_t *a = &kd->inputs[0], *b = &kd->inputs[1], *c = &kd->outputs[0];
  qiao_dtype_t at = a->type.dtype, bt = b->type.dtype, ct = c->type.dtype;
  if (at != bt || (at != QIAO_F16 && at != QIAO_BF16)) {
    snprintf(reason, cap, "matmul of %s x %s (the cube lowering takes f16 x f16 or bf16 x bf16)",
             qiao_dtype_name(at), qiao_dtype_name(bt));
    return false;
  }
  if (ct != QIAO_F32 && ct != QIAO_F16 && ct != QIAO_BF16) {
    snprintf(reason, cap, "matmul into %s", qiao_dtype_name(ct));
    return false;
  }
  if (a->type.shape.rank == 2 && a->type.shape.dims[1] == 0) {
    snprintf(reason, cap, "matmul with K = 0 (not lowered for the Ascend class yet)");
    return false;
  }
  if (a->type.shape.rank != 2 || b->type.shape.rank != 2 || kd->attrs.transpose_a ||
      kd->attrs.transpose_b || a->strides[1] != 1 || b->strides[1] != 1 ||
      a->strides[0] != a->type.shape.dims[1] || b->strides[0] != b->type.shape.dims[1]) {
    snprintf(reason, cap,
             "batched, transposed or strided matmul operands (not lowered for the "
             "Ascend class yet)");
    return false;
  }
  return true;
}

qiao_status_t ascend_mm_check(const qiao_hal_ascend_info_t *info) {
  struct {
    const char *name;
    int64_t need, have;
  } b[] = {{"L1", 2 * MM_M0 * MM_K0 * 2, info->l1_bytes},
           {"L0A", MM_M0 * MM_K0 * 2, info->l0a_bytes},
           {"L0B", MM_K0 * MM_N0 * 2, info->l0b_bytes},
           {"L0C", MM_M0 * MM_N0 * 4, info->l0c_bytes}};
  for (int i = 0; i < 4; ++i)
    if (b[i].need > b[i].have)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                              "ascend: %s overflow: a %dx%dx%d matmul tile needs %lld bytes of "
                              "%s, the device has %lld",
                              b[i].name, MM_M0, MM_N0, MM_K0, (long long)b[i].need, b[i].name,
                              (long long)b[i].have);
  return NULL;
}

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }

static void flag(ascend_module_t *m, LLVMValueRef core, bool set, int src, int dst) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), I(m, 0)};
  ascend_uop(m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

/* ceil16(v) for an i64 value */
static LLVMValueRef c16(ascend_module_t *m, LLVMValueRef v) {
  LLVMValueRef t = LLVMBuildAdd(m->b, v, I(m, 15), "");
  return LLVMBuildAnd(m->b, t, I(m, ~(int64_t)15), "");
}

qiao_status_t ascend_lower_matmul(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                  LLVMValueRef fn) {
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0);
  LLVMValueRef gm[3];
  for (int k = 0; k < 3; ++k)
    gm[k] = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
  const qiao_shape_t *as = &kd->inputs[0].type.shape, *bs = &kd->inputs[1].type.shape;
  int64_t M = as->dims[0], K = as->dims[1], N = bs->dims[1];
  qiao_dtype_t it = kd->inputs[0].type.dtype, ot = kd->outputs[0].type.dtype;
  int64_t ies = qiao_dtype_size(it), oes = qiao_dtype_size(ot);
  int64_t tm = (M + MM_M0 - 1) / MM_M0, tn = (N + MM_N0 - 1) / MM_N0;
  int64_t n_tiles = M && N ? tm * tn : 0;
  int64_t l1_b = MM_M0 * MM_K0 * 2; /* B's L1 offset */
  ascend_listing_printf(m,
                        "  cube plan: %lldx%lld output tiles of %dx%d, K step %d; L1 A@0 B@%lld, "
                        "L0A/L0B/L0C @0\n",
                        (long long)tm, (long long)tn, MM_M0, MM_N0, MM_K0, (long long)l1_b);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  LLVMValueRef rem = LLVMBuildSub(b, I(m, n_tiles), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  flag(m, core, true, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M);
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2);
  flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
  ascend_listing_printf(m, "  loop over this block's output tiles:\n");
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "tile", &tl);
  LLVMValueRef t = LLVMBuildAdd(b, blk, LLVMBuildMul(b, tl.iv, bn, ""), "t");
  LLVMValueRef ti = LLVMBuildSDiv(b, t, I(m, tn), ""), tj = LLVMBuildSRem(b, t, I(m, tn), "");
  LLVMValueRef m0 = qiao_cg_imul(cg, ti, MM_M0), n0 = qiao_cg_imul(cg, tj, MM_N0);
  LLVMValueRef mt = qiao_cg_imin(cg, I(m, MM_M0), LLVMBuildSub(b, I(m, M), m0, ""));
  LLVMValueRef nt = qiao_cg_imin(cg, I(m, MM_N0), LLVMBuildSub(b, I(m, N), n0, ""));
  LLVMValueRef mp = c16(m, mt), np = c16(m, nt);
  flag(m, core, false, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M);
  int64_t kiters = (K + MM_K0 - 1) / MM_K0; /* K > 0 (supports) */
  ascend_listing_printf(m, "    K loop (%lld steps):\n", (long long)kiters);
  qiao_cg_loop_t kl;
  qiao_cg_loop_begin(cg, I(m, 0), I(m, kiters), 1, "k", &kl);
  LLVMValueRef k0 = qiao_cg_imul(cg, kl.iv, MM_K0);
  LLVMValueRef kt = qiao_cg_imin(cg, I(m, MM_K0), LLVMBuildSub(b, I(m, K), k0, ""));
  LLVMValueRef kp = c16(m, kt);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2);
  {
    LLVMValueRef a_src =
        LLVMBuildGEP2(b, m->t_i8, gm[0],
                      (LLVMValueRef[]){qiao_cg_imul(cg, qiao_cg_imadd(cg, k0, m0, K), ies)}, 1, "");
    LLVMValueRef b_src =
        LLVMBuildGEP2(b, m->t_i8, gm[1],
                      (LLVMValueRef[]){qiao_cg_imul(cg, qiao_cg_imadd(cg, n0, k0, N), ies)}, 1, "");
    LLVMValueRef aa[7] = {core, I(m, 0), a_src, I(m, ascend_dtype(it)), mt, kt, I(m, K)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz", aa, 7, "A tile");
    LLVMValueRef ba[7] = {core, I(m, l1_b), b_src, I(m, ascend_dtype(it)), kt, nt, I(m, N)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz", ba, 7, "B tile");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1);
  flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
  {
    LLVMValueRef fa =
        LLVMBuildMul(b, LLVMBuildSDiv(b, mp, I(m, 16), ""), LLVMBuildSDiv(b, kp, I(m, 16), ""), "");
    LLVMValueRef fb =
        LLVMBuildMul(b, LLVMBuildSDiv(b, kp, I(m, 16), ""), LLVMBuildSDiv(b, np, I(m, 16), ""), "");
    LLVMValueRef la[5] = {core, I(m, 0), I(m, 0), I(m, ascend_dtype(it)), fa};
    ascend_uop(m, "qiao_ascend_load_l1_to_l0a", la, 5, "A fractals");
    LLVMValueRef lb[5] = {core, I(m, 0), I(m, l1_b), I(m, ascend_dtype(it)), fb};
    ascend_uop(m, "qiao_ascend_load_l1_to_l0b", lb, 5, "B fractals");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2);
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M);
  {
    LLVMValueRef init =
        LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntEQ, kl.iv, I(m, 0), ""), m->t_i64, "init");
    LLVMValueRef ma[9] = {core, I(m, 0), I(m, 0), I(m, 0), I(m, ascend_dtype(it)),
                          mp,   kp,      np,      init};
    ascend_uop(m, "qiao_ascend_mmad", ma, 9, "C (+)= A B");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
  qiao_cg_loop_end(cg, &kl);
  ascend_listing_printf(m, "    end K loop\n");
  flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
  flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX);
  {
    LLVMValueRef dst =
        LLVMBuildGEP2(b, m->t_i8, gm[2],
                      (LLVMValueRef[]){qiao_cg_imul(cg, qiao_cg_imadd(cg, n0, m0, N), oes)}, 1, "");
    LLVMValueRef fx[9] = {core, dst, I(m, ascend_dtype(ot)), I(m, 0), mp, np, mt, nt, I(m, N)};
    ascend_uop(m, "qiao_ascend_fixpipe_l0c_to_gm", fx, 9, "C tile, NZ->ND, to the output dtype");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M);
  qiao_cg_loop_end(cg, &tl);
  ascend_listing_printf(m, "  end loop\n");
  flag(m, core, false, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2);
  flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1);
  LLVMBuildRetVoid(b);
  return NULL;
}
