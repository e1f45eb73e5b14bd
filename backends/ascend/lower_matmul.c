/* Ascend backend — MATMUL on the cube (AIC), as a catlass-style basic block
 * with L1/L0 ping-pong:
 *
 *   per output tile (M0 x N0 = 128 x 256 of one batch, tiles over the AIC blocks):
 *     WaitFlag<FIX_M>                                  L0C free
 *     for k0 in K step K0 (128 bytes of K: 64 f16/bf16, 32 f32, 128 s8), p = step & 1:
 *       WaitFlag<MTE1_MTE2>(p)                         L1[p] free
 *       DataCopy GM->L1[p] ND2NZ  A[m0.., k0..], B[k0.., n0..]  (MTE2; transposed
 *                                                    operands read transposed)
 *       SetFlag/WaitFlag<MTE2_MTE1>(p)
 *       WaitFlag<M_MTE1>(p)                            L0A[p]/L0B[p] free
 *       LoadData L1[p]->L0A[p], L1[p]->L0B[p]                      (MTE1)
 *       SetFlag<MTE1_MTE2>(p); SetFlag/WaitFlag<MTE1_M>(p)
 *       Mmad into L0C (init at k0 = 0, accumulate after)            (M)
 *       SetFlag<M_MTE1>(p)
 *     SetFlag/WaitFlag<M_FIX>
 *     Fixpipe L0C->GM, NZ->ND, f32 -> the output dtype (s32 for s8)  (FIX)
 *     SetFlag<FIX_M>
 *
 * With two L1 and two L0A/L0B buffers MTE2 loads step k+1 while MTE1 and the
 * cube work on step k. Tile buffers: A 128 x K0 (16 KiB) and B K0 x 256 (32
 * KiB) in L1 (x2: 96 KiB of 512), L0A (x2: 32 of 64 KiB) and L0B (x2: the
 * whole 64 KiB), C 128 x 256 f32/s32 (the whole 128 KiB L0C): checked
 * against the device's sizes before anything is emitted. Per f16 K step the
 * cube does 8 x 4 x 16 = 512 fractal steps while MTE2 moves 48 KiB: with the
 * A and B tiles shared by the cores through the L2 (110 B/cycle) the cube is
 * the bound. Tails are zero-padded by ND2NZ
 * to whole fractals (K = 0: one step of zeros). Batched matmuls (with
 * broadcast batch dims) loop over (batch, tile) pairs; each batch's A and B
 * offsets are a constant table. Not done: L1 tiles reused over several L0
 * loads (K0 is fixed), fused epilogues (the Ascend fusion policy keeps them
 * out of matmul kernels), operand pairs other than f32 x f16/bf16 (those
 * are two phases: a vector Cast of the narrower operand to f32 into the GM
 * workspace, then this f32 path reading it from there). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ascend/ascend.h"

/* Output tile 128 x 256 (f32/s32 in L0C: 128 KiB, the whole L0C); K steps of
 * 128 bytes of K: A tiles 128 x K0 (16 KiB), B tiles K0 x 256 (32 KiB). */
enum {
  MM_M0 = 128,
  MM_N0 = 256,
  MM_K0_BYTES = 128,
  MM_A_BYTES = MM_M0 * MM_K0_BYTES,
  MM_B_BYTES = MM_N0 * MM_K0_BYTES
};

static bool refuse(char *reason, size_t cap, const char *what) {
  snprintf(reason, cap, "%s", what);
  return false;
}

/* The matrix dims (last two) of an operand are contiguous row-major. */
static bool matrix_contiguous(const qiao_kd_operand_t *o) {
  int r = o->type.shape.rank;
  return r >= 2 && (o->type.shape.dims[r - 1] <= 1 || o->strides[r - 1] == 1) &&
         (o->type.shape.dims[r - 2] <= 1 || o->strides[r - 2] == o->type.shape.dims[r - 1]);
}

static LLVMValueRef I(ascend_module_t *m, int64_t v);
static void flag(ascend_module_t *m, LLVMValueRef core, bool set, int src, int dst,
                 LLVMValueRef id);

/* All dims of an operand contiguous row-major. */
static bool operand_contiguous(const qiao_kd_operand_t *o) {
  int64_t st = 1;
  for (int d = o->type.shape.rank - 1; d >= 0; --d) {
    if (o->type.shape.dims[d] > 1 && o->strides[d] != st) return false;
    st *= o->type.shape.dims[d];
  }
  return true;
}

int ascend_mm_cast_input(const qiao_kernel_desc_t *kd) {
  if (kd->n_inputs != 2) return -1;
  qiao_dtype_t at = kd->inputs[0].type.dtype, bt = kd->inputs[1].type.dtype;
  bool an = at == QIAO_F16 || at == QIAO_BF16, bn = bt == QIAO_F16 || bt == QIAO_BF16;
  if (at == QIAO_F32 && bn) return 1;
  if (bt == QIAO_F32 && an) return 0;
  return -1;
}

uint64_t ascend_mm_workspace(const qiao_kernel_desc_t *kd) {
  int ci = ascend_mm_cast_input(kd);
  if (ci < 0) return 0;
  uint64_t n = (uint64_t)qiao_shape_numel(&kd->inputs[ci].type.shape);
  return (n * 4 + 31) / 32 * 32;
}

/* The cast phase (AIV): the operand ci (f16/bf16, contiguous) -> f32 into
 * the GM workspace (binding n_inputs + n_outputs), in chunks of MM_CAST_T
 * elements: DataCopyPad GM->UB (MTE2), Cast (V), DataCopyPad UB->GM (MTE3). */
enum { MM_CAST_T = 8192 };

qiao_status_t ascend_lower_mm_cast(ascend_module_t *m, const qiao_kernel_desc_t *kd,
                                   LLVMValueRef fn) {
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  int ci = ascend_mm_cast_input(kd);
  if (ci < 0) return qiao_status_make(QIAO_INTERNAL, "ascend: matmul cast phase without a cast");
  if ((int64_t)MM_CAST_T * 6 > m->info.ub_bytes)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "ascend: UB overflow: the matmul cast phase needs %lld bytes, the "
                            "device has %lld",
                            (long long)MM_CAST_T * 6, (long long)m->info.ub_bytes);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0);
  LLVMValueRef src = LLVMBuildLoad2(
      b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, ci)}, 1, ""), "gm_in");
  LLVMValueRef ws = LLVMBuildLoad2(
      b, m->t_ptr,
      LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, kd->n_inputs + kd->n_outputs)}, 1,
                    ""),
      "gm_ws");
  qiao_dtype_t st = kd->inputs[ci].type.dtype;
  int64_t n = qiao_shape_numel(&kd->inputs[ci].type.shape);
  int64_t nch = (n + MM_CAST_T - 1) / MM_CAST_T;
  int64_t ub_src = 0, ub_dst = (int64_t)MM_CAST_T * 2;
  ascend_listing_printf(m,
                        "  cast plan: input %d (%s, %lld elements) -> f32 GM workspace in %lld "
                        "chunks of %d; UB src @%lld, f32 @%lld\n",
                        ci, qiao_dtype_name(st), (long long)n, (long long)nch, MM_CAST_T,
                        (long long)ub_src, (long long)ub_dst);
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  LLVMValueRef rem = LLVMBuildSub(b, I(m, nch), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, NULL);
  ascend_listing_printf(m, "  loop over this block's chunks:\n");
  qiao_cg_loop_t l;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "chunk", &l);
  LLVMValueRef ch = LLVMBuildAdd(b, blk, LLVMBuildMul(b, l.iv, bn, ""), "c");
  LLVMValueRef e0 = qiao_cg_imul(cg, ch, MM_CAST_T);
  LLVMValueRef cnt = qiao_cg_imin(cg, I(m, MM_CAST_T), LLVMBuildSub(b, I(m, n), e0, ""));
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, NULL);
  {
    LLVMValueRef g =
        LLVMBuildGEP2(b, m->t_i8, src, (LLVMValueRef[]){qiao_cg_imul(cg, e0, 2)}, 1, "");
    LLVMValueRef a[4] = {core, I(m, ub_src), g, qiao_cg_imul(cg, cnt, 2)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "operand chunk");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, NULL);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, NULL);
  {
    LLVMValueRef a[6] = {core, I(m, ascend_dtype(QIAO_F32)), I(m, ub_dst), I(m, ascend_dtype(st)),
                         I(m, ub_src), cnt};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "-> f32 (exact)");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, NULL);
  flag(m, core, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, NULL);
  {
    LLVMValueRef g =
        LLVMBuildGEP2(b, m->t_i8, ws, (LLVMValueRef[]){qiao_cg_imul(cg, e0, 4)}, 1, "");
    LLVMValueRef a[4] = {core, g, I(m, ub_dst), qiao_cg_imul(cg, cnt, 4)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", a, 4, "f32 chunk -> GM workspace");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, NULL);
  qiao_cg_loop_end(cg, &l);
  ascend_listing_printf(m, "  end loop\n");
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, NULL);
  LLVMBuildRetVoid(b);
  return NULL;
}

bool ascend_mm_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_inputs != 2 || kd->n_outputs != 1 || kd->n_expr > 0 || kd->has_norm_prologue)
    return refuse(reason, cap,
                  "matmul with an epilogue, a norm prologue or extra operands (the Ascend "
                  "fusion policy keeps them in their own kernels)");
  const qiao_kd_operand_t *a = &kd->inputs[0], *b = &kd->inputs[1], *c = &kd->outputs[0];
  qiao_dtype_t at = a->type.dtype, bt = b->type.dtype, ct = c->type.dtype;
  if (at != bt) {
    /* f32 x f16/bf16: the narrower operand is cast to f32 by a vector phase
     * (exact), then the f32 cube path runs */
    int ci = ascend_mm_cast_input(kd);
    if (ci < 0) {
      snprintf(reason, cap,
               "matmul of %s x %s (the cube multiplies operands of one dtype; only f32 x "
               "f16/bf16 is cast to f32 by a vector pass first)",
               qiao_dtype_name(at), qiao_dtype_name(bt));
      return false;
    }
    if (!operand_contiguous(&kd->inputs[ci]))
      return refuse(reason, cap, "a mixed-dtype matmul whose cast operand is not contiguous");
    at = QIAO_F32;
  }
  bool fl = at == QIAO_F16 || at == QIAO_BF16 || at == QIAO_F32;
  if (!fl && at != QIAO_I8) {
    snprintf(reason, cap, "matmul of %s (the cube takes f16, bf16, f32 and int8)",
             qiao_dtype_name(at));
    return false;
  }
  if (fl ? (ct != QIAO_F32 && ct != QIAO_F16 && ct != QIAO_BF16) : ct != QIAO_I32) {
    snprintf(reason, cap, "matmul of %s into %s (FixPipe writes %s)", qiao_dtype_name(at),
             qiao_dtype_name(ct), fl ? "f32, f16 or bf16" : "int32");
    return false;
  }
  int ra = a->type.shape.rank, rb = b->type.shape.rank, rc = c->type.shape.rank;
  if (ra < 2 || rb < 2 || rc < 2 || !matrix_contiguous(a) || !matrix_contiguous(b) ||
      !matrix_contiguous(c))
    return refuse(reason, cap, "matmul operands of rank < 2 or with strided matrices");
  /* the output is contiguous (batch offsets are b * M * N) */
  int64_t st = 1;
  for (int d = rc - 1; d >= 0; --d) {
    if (c->type.shape.dims[d] > 1 && c->strides[d] != st)
      return refuse(reason, cap, "a matmul into a strided output");
    st *= c->type.shape.dims[d];
  }
  return true;
}

/* K0 for an operand element size: 128 bytes of K. */
static int64_t k0_of(int64_t es) { return MM_K0_BYTES / es; }

qiao_status_t ascend_mm_check(const qiao_hal_ascend_info_t *info) {
  struct {
    const char *name;
    int64_t need, have;
  } b[] = {{"L1", 2 * (MM_A_BYTES + MM_B_BYTES), info->l1_bytes},
           {"L0A", 2 * MM_A_BYTES, info->l0a_bytes},
           {"L0B", 2 * MM_B_BYTES, info->l0b_bytes},
           {"L0C", MM_M0 * MM_N0 * 4, info->l0c_bytes}};
  for (int i = 0; i < 4; ++i)
    if (b[i].need > b[i].have)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                              "ascend: %s overflow: %dx%d matmul tiles (A 16 KiB and B 32 "
                              "KiB, double-buffered; C f32) need %lld bytes of %s, the device "
                              "has %lld",
                              b[i].name, MM_M0, MM_N0, (long long)b[i].need, b[i].name,
                              (long long)b[i].have);
  return NULL;
}

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }

static void flag(ascend_module_t *m, LLVMValueRef core, bool set, int src, int dst,
                 LLVMValueRef id) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), id ? id : I(m, 0)};
  ascend_uop(m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

/* ceil(v / a) * a for an i64 value (a a power of two) */
static LLVMValueRef ceil_to(ascend_module_t *m, LLVMValueRef v, int64_t a) {
  LLVMValueRef t = LLVMBuildAdd(m->b, v, I(m, a - 1), "");
  return LLVMBuildAnd(m->b, t, I(m, ~(a - 1)), "");
}

/* A private constant i64 table. */
static LLVMValueRef const_table(ascend_module_t *m, const int64_t *v, int64_t n, const char *name) {
  LLVMValueRef *el = malloc(sizeof(LLVMValueRef) * (size_t)(n > 0 ? n : 1));
  if (!el) return NULL;
  for (int64_t i = 0; i < (n > 0 ? n : 1); ++i)
    el[i] = I(m, i < n ? v[i] : 0);
  uint64_t k = (uint64_t)(n > 0 ? n : 1);
  LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMArrayType2(m->t_i64, k), name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, k));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  free(el);
  return g;
}

/* The element offset of batch `bi` of operand o (its batch dims right-aligned
 * to the output's, size-1 dims broadcast). */
static int64_t batch_offset(const qiao_kd_operand_t *o, const qiao_shape_t *ob, int64_t bi) {
  int ro = o->type.shape.rank - 2, rn = ob->rank;
  int64_t off = 0, rest = bi;
  for (int d = rn - 1; d >= 0; --d) {
    int64_t c = ob->dims[d] ? rest % ob->dims[d] : 0;
    rest = ob->dims[d] ? rest / ob->dims[d] : 0;
    int od = d - (rn - ro);
    if (od >= 0 && o->type.shape.dims[od] > 1) off += c * o->strides[od];
  }
  return off;
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
  const qiao_kd_operand_t *A = &kd->inputs[0], *B = &kd->inputs[1], *C = &kd->outputs[0];
  const qiao_shape_t *as = &A->type.shape, *bs = &B->type.shape, *cs = &C->type.shape;
  bool ta = kd->attrs.transpose_a, tb = kd->attrs.transpose_b;
  int ra = as->rank, rb = bs->rank;
  int64_t M = cs->dims[cs->rank - 2], N = cs->dims[cs->rank - 1];
  int64_t K = ta ? as->dims[ra - 2] : as->dims[ra - 1];
  (void)rb;
  qiao_dtype_t it = A->type.dtype, ot = C->type.dtype;
  int ci = ascend_mm_cast_input(kd);
  if (ci >= 0) { /* mixed dtypes: operand ci was cast to f32 into the workspace by phase 0 */
    it = QIAO_F32;
    gm[ci] = LLVMBuildLoad2(
        b, m->t_ptr,
        LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, kd->n_inputs + kd->n_outputs)}, 1,
                      ""),
        "gm_ws");
    ascend_listing_printf(m, "  input %d read as f32 from the GM workspace (cast phase)\n", ci);
  }
  int64_t ies = qiao_dtype_size(it), oes = qiao_dtype_size(ot);
  int64_t c0 = 32 / ies, K0 = k0_of(ies), kalign = c0 > 16 ? c0 : 16;
  int64_t tm = (M + MM_M0 - 1) / MM_M0, tn = (N + MM_N0 - 1) / MM_N0;
  qiao_shape_t ob = *cs;
  ob.rank -= 2;
  int64_t nbatch = qiao_shape_numel(&ob);
  int64_t n_tiles = M && N ? nbatch * tm * tn : 0;
  int64_t kiters = K > 0 ? (K + K0 - 1) / K0 : 1; /* K = 0: one step of zeros */
  int64_t *offs = malloc(sizeof(int64_t) * (size_t)(2 * (nbatch > 0 ? nbatch : 1)));
  if (!offs) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int64_t bi = 0; bi < nbatch; ++bi) {
    offs[2 * bi] = batch_offset(A, &ob, bi);
    offs[2 * bi + 1] = batch_offset(B, &ob, bi);
  }
  LLVMValueRef table = const_table(m, offs, 2 * nbatch, "batch_offsets");
  free(offs);
  if (!table) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  int64_t l1_pp = MM_A_BYTES + MM_B_BYTES, l1_b = MM_A_BYTES; /* L1[p]: A at p*48K, B at +16K */
  ascend_listing_printf(
      m,
      "  cube plan: %lld batches x %lldx%lld output tiles of %dx%d, K step %lld "
      "(%lld steps, %s); L1 ping-pong A@0/%lld B@%lld/%lld, L0A @0/%d, L0B @0/%d, "
      "L0C @0%s%s\n",
      (long long)nbatch, (long long)tm, (long long)tn, MM_M0, MM_N0, (long long)K0,
      (long long)kiters, qiao_dtype_name(it), (long long)l1_pp, (long long)l1_b,
      (long long)(l1_pp + l1_b), MM_A_BYTES, MM_B_BYTES, ta ? ", A transposed" : "",
      tb ? ", B transposed" : "");
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  /* A resident in L1 for a whole row block (all of K) when it fits: the
   * tiles of one row block reuse it, and each block takes a contiguous run
   * of tiles (row-major) so consecutive tiles share their A */
  int64_t Kc = ((K > 0 ? K : 1) + kalign - 1) / kalign * kalign;
  int64_t a_res_off = 2 * (MM_A_BYTES + MM_B_BYTES), a_res_bytes = MM_M0 * Kc * ies;
  bool a_res = a_res_off + a_res_bytes <= m->info.l1_bytes;
  LLVMValueRef iters, first;
  if (a_res) {
    LLVMValueRef per =
        LLVMBuildSDiv(b, LLVMBuildAdd(b, I(m, n_tiles - 1), bn, ""), bn, "per"); /* ceil */
    first = LLVMBuildMul(b, blk, per, "first");
    LLVMValueRef left = LLVMBuildSub(b, I(m, n_tiles), first, "");
    iters = qiao_cg_imax(cg, I(m, 0), qiao_cg_imin(cg, per, left));
    ascend_listing_printf(m,
                          "  A row block resident in L1 @%lld (%lld bytes), reused by the "
                          "block's consecutive tiles\n",
                          (long long)a_res_off, (long long)a_res_bytes);
  } else {
    first = NULL;
    LLVMValueRef rem = LLVMBuildSub(b, I(m, n_tiles), blk, "");
    iters = LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
    iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  }
  LLVMValueRef cur_a = LLVMBuildAlloca(b, m->t_i64, "cur_a");
  LLVMBuildStore(b, I(m, -1), cur_a);
  flag(m, core, true, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M, NULL);
  for (int p = 0; p < 2; ++p) {
    flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, I(m, p));
    flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1, I(m, p));
  }
  ascend_listing_printf(m, "  loop over this block's (batch, output tile) pairs:\n");
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "tile", &tl);
  LLVMValueRef t = a_res ? LLVMBuildAdd(b, first, tl.iv, "t")
                         : LLVMBuildAdd(b, blk, LLVMBuildMul(b, tl.iv, bn, ""), "t");
  LLVMValueRef bi = LLVMBuildSDiv(b, t, I(m, tm * tn), "batch");
  LLVMValueRef tt = LLVMBuildSRem(b, t, I(m, tm * tn), "");
  LLVMValueRef ti = LLVMBuildSDiv(b, tt, I(m, tn), ""), tj = LLVMBuildSRem(b, tt, I(m, tn), "");
  LLVMValueRef a_base = LLVMBuildLoad2(
      b, m->t_i64,
      LLVMBuildGEP2(b, m->t_i64, table, (LLVMValueRef[]){qiao_cg_imul(cg, bi, 2)}, 1, ""), "aoff");
  LLVMValueRef b_base = LLVMBuildLoad2(
      b, m->t_i64,
      LLVMBuildGEP2(b, m->t_i64, table, (LLVMValueRef[]){qiao_cg_imadd(cg, I(m, 1), bi, 2)}, 1, ""),
      "boff");
  LLVMValueRef m0 = qiao_cg_imul(cg, ti, MM_M0), n0 = qiao_cg_imul(cg, tj, MM_N0);
  LLVMValueRef mt = qiao_cg_imin(cg, I(m, MM_M0), LLVMBuildSub(b, I(m, M), m0, ""));
  LLVMValueRef nt = qiao_cg_imin(cg, I(m, MM_N0), LLVMBuildSub(b, I(m, N), n0, ""));
  LLVMValueRef mp = ceil_to(m, mt, 16), np = ceil_to(m, nt, 16);
  LLVMValueRef nbp = ceil_to(m, np, c0); /* B's NZ columns */
  flag(m, core, false, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M, NULL);
  if (a_res) { /* a new row block: reload A once MTE1 is done with the old one */
    LLVMValueRef key = qiao_cg_imadd(cg, ti, bi, tm);
    LLVMValueRef fresh =
        LLVMBuildICmp(b, LLVMIntNE, key, LLVMBuildLoad2(b, m->t_i64, cur_a, ""), "");
    LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(m->ctx, fn, "load_a");
    LLVMBasicBlockRef join = LLVMAppendBasicBlockInContext(m->ctx, fn, "a_ready");
    LLVMBuildCondBr(b, fresh, then, join);
    LLVMPositionBuilderAtEnd(b, then);
    ascend_listing_printf(m, "    when the row block changes:\n");
    for (int q = 0; q < 2; ++q)
      flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, I(m, q));
    LLVMValueRef a_el = ta ? m0 : qiao_cg_imul(cg, m0, K);
    a_el = LLVMBuildAdd(b, a_el, a_base, "");
    LLVMValueRef a_src =
        LLVMBuildGEP2(b, m->t_i8, gm[0], (LLVMValueRef[]){qiao_cg_imul(cg, a_el, ies)}, 1, "");
    LLVMValueRef aa[10] = {
        core, I(m, a_res_off), a_src,   I(m, ascend_dtype(it)), mt, I(m, K), I(m, ta ? M : K),
        mp,   I(m, Kc),        I(m, ta)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", aa, 10,
               ta ? "A row block, all of K (transposed)" : "A row block, all of K");
    for (int q = 0; q < 2; ++q)
      flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, I(m, q));
    LLVMBuildStore(b, key, cur_a);
    LLVMBuildBr(b, join);
    LLVMPositionBuilderAtEnd(b, join);
  }
  ascend_listing_printf(m, "    K loop (%lld steps, ping-pong p = step & 1):\n", (long long)kiters);
  qiao_cg_loop_t kl;
  qiao_cg_loop_begin(cg, I(m, 0), I(m, kiters), 1, "k", &kl);
  LLVMValueRef p = LLVMBuildAnd(b, kl.iv, I(m, 1), "p");
  LLVMValueRef k0 = qiao_cg_imul(cg, kl.iv, K0);
  LLVMValueRef kt =
      qiao_cg_imax(cg, I(m, 0), qiao_cg_imin(cg, I(m, K0), LLVMBuildSub(b, I(m, K), k0, "")));
  LLVMValueRef kp = qiao_cg_imax(cg, ceil_to(m, kt, kalign), I(m, kalign));
  LLVMValueRef l1a = qiao_cg_imul(cg, p, l1_pp), l1bb = qiao_cg_imadd(cg, I(m, l1_b), p, l1_pp);
  LLVMValueRef l0a = qiao_cg_imul(cg, p, MM_A_BYTES), l0b = qiao_cg_imul(cg, p, MM_B_BYTES);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, p);
  {
    /* A: [M, K] (or [K, M] transposed), B: [K, N] (or [N, K] transposed) */
    LLVMValueRef a_el = ta ? qiao_cg_imadd(cg, m0, k0, M) : qiao_cg_imadd(cg, k0, m0, K);
    LLVMValueRef b_el = tb ? qiao_cg_imadd(cg, k0, n0, K) : qiao_cg_imadd(cg, n0, k0, N);
    a_el = LLVMBuildAdd(b, a_el, a_base, "");
    b_el = LLVMBuildAdd(b, b_el, b_base, "");
    LLVMValueRef a_src =
        LLVMBuildGEP2(b, m->t_i8, gm[0], (LLVMValueRef[]){qiao_cg_imul(cg, a_el, ies)}, 1, "");
    LLVMValueRef b_src =
        LLVMBuildGEP2(b, m->t_i8, gm[1], (LLVMValueRef[]){qiao_cg_imul(cg, b_el, ies)}, 1, "");
    LLVMValueRef aa[10] = {core, l1a, a_src,   I(m, ascend_dtype(it)), mt, kt, I(m, ta ? M : K),
                           mp,   kp,  I(m, ta)};
    if (!a_res)
      ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", aa, 10,
                 ta ? "A tile (transposed)" : "A tile");
    LLVMValueRef ba[10] = {core, l1bb, b_src,   I(m, ascend_dtype(it)), kt, nt, I(m, tb ? K : N),
                           kp,   nbp,  I(m, tb)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_l1_nd2nz_ex", ba, 10,
               tb ? "B tile (transposed)" : "B tile");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, p);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE1, p);
  flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1, p);
  {
    LLVMValueRef fa =
        LLVMBuildSDiv(b, qiao_cg_imul(cg, LLVMBuildMul(b, mp, kp, ""), ies), I(m, 512), "");
    LLVMValueRef fb =
        LLVMBuildSDiv(b, qiao_cg_imul(cg, LLVMBuildMul(b, kp, nbp, ""), ies), I(m, 512), "");
    /* resident A: the K step's columns are fractals [k0/c0 * mp/16, ...) of the block */
    LLVMValueRef a_from =
        a_res ? LLVMBuildAdd(b, I(m, a_res_off),
                             qiao_cg_imul(cg,
                                          LLVMBuildMul(b, LLVMBuildSDiv(b, k0, I(m, c0), ""),
                                                       LLVMBuildSDiv(b, mp, I(m, 16), ""), ""),
                                          512),
                             "")
              : l1a;
    LLVMValueRef la[5] = {core, l0a, a_from, I(m, ascend_dtype(it)), fa};
    ascend_uop(m, "qiao_ascend_load_l1_to_l0a", la, 5, "A fractals");
    LLVMValueRef lb[5] = {core, l0b, l1bb, I(m, ascend_dtype(it)), fb};
    ascend_uop(m, "qiao_ascend_load_l1_to_l0b", lb, 5, "B fractals");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, p);
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, p);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_M, p);
  {
    LLVMValueRef init =
        LLVMBuildZExt(b, LLVMBuildICmp(b, LLVMIntEQ, kl.iv, I(m, 0), ""), m->t_i64, "init");
    LLVMValueRef ma[9] = {core, I(m, 0), l0a, l0b, I(m, ascend_dtype(it)), mp, kp, np, init};
    ascend_uop(m, "qiao_ascend_mmad", ma, 9, "C (+)= A B");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1, p);
  qiao_cg_loop_end(cg, &kl);
  ascend_listing_printf(m, "    end K loop\n");
  flag(m, core, true, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, NULL);
  flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_FIX, NULL);
  {
    LLVMValueRef o_el =
        LLVMBuildAdd(b, qiao_cg_imul(cg, bi, M * N), qiao_cg_imadd(cg, n0, m0, N), "");
    LLVMValueRef dst =
        LLVMBuildGEP2(b, m->t_i8, gm[2], (LLVMValueRef[]){qiao_cg_imul(cg, o_el, oes)}, 1, "");
    LLVMValueRef fx[9] = {core, dst, I(m, ascend_dtype(ot)), I(m, 0), mp, np, mt, nt, I(m, N)};
    ascend_uop(m, "qiao_ascend_fixpipe_l0c_to_gm", fx, 9, "C tile, NZ->ND, to the output dtype");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M, NULL);
  qiao_cg_loop_end(cg, &tl);
  ascend_listing_printf(m, "  end loop\n");
  flag(m, core, false, QIAO_ASCEND_PIPE_FIX, QIAO_ASCEND_PIPE_M, NULL);
  for (int q = 0; q < 2; ++q) {
    flag(m, core, false, QIAO_ASCEND_PIPE_MTE1, QIAO_ASCEND_PIPE_MTE2, I(m, q));
    flag(m, core, false, QIAO_ASCEND_PIPE_M, QIAO_ASCEND_PIPE_MTE1, I(m, q));
  }
  LLVMBuildRetVoid(b);
  return NULL;
}
