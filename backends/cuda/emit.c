/* CUDA backend — SIMT emission helpers: kernel entries, special registers,
 * barriers, shared memory, warp shuffles, block-wide reductions, grid-stride
 * loops and the fused epilogue at an output position. */
#include <stdio.h>
#include <string.h>

#include "cuda/codegen.h"

/* ------------------------------------------------------------ entry, params */

LLVMValueRef qiao_cuda_entry_begin(qiao_cuda_codegen_t *cg, const char *name, int32_t n_params) {
  LLVMTypeRef params[QIAO_KD_MAX_OPERANDS + 2];
  for (int32_t i = 0; i < n_params; ++i)
    params[i] = cg->t_gptr;
  LLVMTypeRef ft = LLVMFunctionType(cg->t_void, params, (unsigned)n_params, 0);
  LLVMValueRef fn = LLVMAddFunction(cg->mod, name, ft);
  LLVMSetFunctionCallConv(fn, QIAO_CUDA_KERNEL_CC);
  unsigned k = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(fn, LLVMAttributeFunctionIndex, LLVMCreateEnumAttribute(cg->ctx, k, 0));
  unsigned al = LLVMGetEnumAttributeKindForName("align", 5);
  for (int32_t i = 0; i < n_params; ++i) {
    char pn[16];
    snprintf(pn, sizeof pn, "b%d", (int)i);
    LLVMSetValueName2(LLVMGetParam(fn, (unsigned)i), pn, strlen(pn));
    /* the convention: every binding is 16-byte aligned (vector loads) */
    LLVMAddAttributeAtIndex(fn, (unsigned)i + 1, LLVMCreateEnumAttribute(cg->ctx, al, 16));
  }
  LLVMBasicBlockRef entry = LLVMAppendBasicBlockInContext(cg->ctx, fn, "entry");
  LLVMPositionBuilderAtEnd(cg->b, entry);
  cg->fn = fn;
  cg->kname = name;
  return fn;
}

LLVMValueRef qiao_cuda_param(qiao_cuda_codegen_t *cg, int32_t index) {
  return LLVMGetParam(cg->fn, (unsigned)index);
}

LLVMValueRef qiao_cuda_alloca(qiao_cuda_codegen_t *cg, LLVMTypeRef t, const char *name) {
  return qiao_cg_alloca(&cg->base, cg->fn, t, name);
}

/* ------------------------------------------------------------ SIMT */

LLVMValueRef qiao_cuda_sreg(qiao_cuda_codegen_t *cg, const char *reg) {
  char nm[64];
  snprintf(nm, sizeof nm, "llvm.nvvm.read.ptx.sreg.%s", reg);
  LLVMValueRef v = qiao_cg_call_intrinsic(&cg->base, nm, NULL, 0, NULL, 0);
  return LLVMBuildZExt(cg->b, v, cg->t_i64, "");
}

void qiao_cuda_barrier(qiao_cuda_codegen_t *cg) {
  qiao_cg_call_intrinsic(&cg->base, "llvm.nvvm.barrier0", NULL, 0, NULL, 0);
}

LLVMValueRef qiao_cuda_shared(qiao_cuda_codegen_t *cg, LLVMTypeRef elem, int64_t n,
                              const char *name) {
  char nm[160];
  snprintf(nm, sizeof nm, "%s.%s", cg->kname, name);
  LLVMTypeRef at = LLVMArrayType2(elem, (uint64_t)n);
  LLVMValueRef g = LLVMAddGlobalInAddressSpace(cg->mod, at, nm, QIAO_CUDA_AS_SHARED);
  LLVMSetInitializer(g, LLVMGetUndef(at));
  LLVMSetLinkage(g, LLVMInternalLinkage);
  LLVMSetAlignment(g, 16);
  return g;
}

static LLVMValueRef shfl_i32(qiao_cuda_codegen_t *cg, LLVMValueRef v, int lane_mask) {
  LLVMValueRef args[4] = {LLVMConstInt(cg->t_i32, 0xffffffffu, 0), v,
                          LLVMConstInt(cg->t_i32, (unsigned)lane_mask, 0),
                          LLVMConstInt(cg->t_i32, 0x1f, 0)};
  return qiao_cg_call_intrinsic(&cg->base, "llvm.nvvm.shfl.sync.bfly.i32", NULL, 0, args, 4);
}

LLVMValueRef qiao_cuda_shfl_bfly(qiao_cuda_codegen_t *cg, LLVMValueRef v, int lane_mask) {
  LLVMTypeRef t = LLVMTypeOf(v);
  if (t == cg->t_f32) {
    LLVMValueRef args[4] = {LLVMConstInt(cg->t_i32, 0xffffffffu, 0), v,
                            LLVMConstInt(cg->t_i32, (unsigned)lane_mask, 0),
                            LLVMConstInt(cg->t_i32, 0x1f, 0)};
    return qiao_cg_call_intrinsic(&cg->base, "llvm.nvvm.shfl.sync.bfly.f32", NULL, 0, args, 4);
  }
  if (t == cg->t_f64) /* f64: as its i64 bits */
    return LLVMBuildBitCast(
        cg->b, qiao_cuda_shfl_bfly(cg, LLVMBuildBitCast(cg->b, v, cg->t_i64, ""), lane_mask),
        cg->t_f64, "");
  /* i64: the two halves */
  LLVMValueRef lo = LLVMBuildTrunc(cg->b, v, cg->t_i32, "");
  LLVMValueRef hi =
      LLVMBuildTrunc(cg->b, LLVMBuildLShr(cg->b, v, qiao_cg_i64(&cg->base, 32), ""), cg->t_i32, "");
  lo = LLVMBuildZExt(cg->b, shfl_i32(cg, lo, lane_mask), cg->t_i64, "");
  hi = LLVMBuildZExt(cg->b, shfl_i32(cg, hi, lane_mask), cg->t_i64, "");
  return LLVMBuildOr(cg->b, lo, LLVMBuildShl(cg->b, hi, qiao_cg_i64(&cg->base, 32), ""), "");
}

static LLVMValueRef warp_reduce(qiao_cuda_codegen_t *cg, LLVMValueRef v, int lanes,
                                qiao_cuda_combine_fn combine) {
  for (int m = lanes / 2; m >= 1; m /= 2)
    v = combine(cg, v, qiao_cuda_shfl_bfly(cg, v, m));
  return v;
}

/* if (lane == 0) *p = v; then on to `join` (the caller positions there). */
static void store_if_lane0(qiao_cuda_codegen_t *cg, LLVMValueRef lane, LLVMValueRef v,
                           LLVMValueRef p, LLVMBasicBlockRef join) {
  LLVMBasicBlockRef st = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "red.store");
  LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, lane, qiao_cg_i64(&cg->base, 0), ""), st,
                  join);
  LLVMPositionBuilderAtEnd(cg->b, st);
  LLVMBuildStore(cg->b, v, p);
  LLVMBuildBr(cg->b, join);
}

LLVMValueRef qiao_cuda_block_reduce(qiao_cuda_codegen_t *cg, LLVMValueRef v, int32_t block,
                                    qiao_cuda_combine_fn combine, LLVMValueRef identity,
                                    LLVMValueRef smem) {
  v = warp_reduce(cg, v, QIAO_CUDA_WARP, combine);
  int32_t nw = block / QIAO_CUDA_WARP;
  if (nw <= 1) return v;
  LLVMTypeRef t = LLVMTypeOf(v);
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildAnd(cg->b, tid, qiao_cg_i64(&cg->base, 31), "lane");
  LLVMValueRef warp = LLVMBuildLShr(cg->b, tid, qiao_cg_i64(&cg->base, 5), "warp");
  LLVMValueRef zero = qiao_cg_i64(&cg->base, 0);
  LLVMTypeRef at = LLVMArrayType2(t, (uint64_t)nw);
  /* stage 1: warp leaders publish their partial results */
  LLVMBasicBlockRef j1 = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "red.published");
  LLVMValueRef idx[2] = {zero, warp};
  store_if_lane0(cg, lane, v, LLVMBuildInBoundsGEP2(cg->b, at, smem, idx, 2, ""), j1);
  LLVMPositionBuilderAtEnd(cg->b, j1);
  qiao_cuda_barrier(cg);
  /* stage 2: warp 0 reduces the partials and writes smem[0] */
  LLVMBasicBlockRef w0 = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "red.warp0");
  LLVMBasicBlockRef j2 = LLVMAppendBasicBlockInContext(cg->ctx, cg->fn, "red.done");
  LLVMBuildCondBr(cg->b, LLVMBuildICmp(cg->b, LLVMIntEQ, warp, zero, ""), w0, j2);
  LLVMPositionBuilderAtEnd(cg->b, w0);
  LLVMValueRef has = LLVMBuildICmp(cg->b, LLVMIntULT, lane, qiao_cg_i64(&cg->base, nw), "");
  LLVMValueRef li = LLVMBuildSelect(cg->b, has, lane, zero, "");
  LLVMValueRef idx2[2] = {zero, li};
  LLVMValueRef part =
      LLVMBuildLoad2(cg->b, t, LLVMBuildInBoundsGEP2(cg->b, at, smem, idx2, 2, ""), "");
  part = LLVMBuildSelect(cg->b, has, part, identity, "");
  int lanes = 1;
  while (lanes < nw)
    lanes *= 2;
  part = warp_reduce(cg, part, lanes, combine);
  /* smem[0] is read by warp 0 above only before this store (same warp, in order) */
  LLVMValueRef idx0[2] = {zero, zero};
  store_if_lane0(cg, lane, part, LLVMBuildInBoundsGEP2(cg->b, at, smem, idx0, 2, ""), j2);
  LLVMPositionBuilderAtEnd(cg->b, j2);
  qiao_cuda_barrier(cg);
  LLVMValueRef r =
      LLVMBuildLoad2(cg->b, t, LLVMBuildInBoundsGEP2(cg->b, at, smem, idx0, 2, ""), "red");
  /* the slots are reused by the next reduction: nobody may overwrite them
   * before every thread has read the result */
  qiao_cuda_barrier(cg);
  return r;
}

/* ------------------------------------------------------------ indexing */

void qiao_cuda_unflatten(qiao_cuda_codegen_t *cg, LLVMValueRef idx, int n, const int64_t *dims,
                         LLVMValueRef *coords) {
  LLVMValueRef rest = idx;
  int outer = 0; /* the outermost dim of size != 1 takes the quotient unreduced */
  while (outer < n && dims[outer] == 1)
    ++outer;
  for (int d = n - 1; d >= 0; --d) {
    if (dims[d] == 1) {
      coords[d] = qiao_cg_i64(&cg->base, 0);
      continue;
    }
    if (d == outer) {
      coords[d] = rest;
      continue;
    }
    LLVMValueRef dv = qiao_cg_i64(&cg->base, dims[d]);
    coords[d] = LLVMBuildURem(cg->b, rest, dv, "");
    rest = LLVMBuildUDiv(cg->b, rest, dv, "");
  }
}

LLVMValueRef qiao_cuda_offset(qiao_cuda_codegen_t *cg, int n, LLVMValueRef const *coords,
                              const int64_t *strides) {
  LLVMValueRef off = NULL;
  for (int d = 0; d < n; ++d) {
    if (!coords[d] || strides[d] == 0) continue;
    LLVMValueRef t = strides[d] == 1
                         ? coords[d]
                         : LLVMBuildMul(cg->b, coords[d], qiao_cg_i64(&cg->base, strides[d]), "");
    off = off ? LLVMBuildAdd(cg->b, off, t, "") : t;
  }
  return off ? off : qiao_cg_i64(&cg->base, 0);
}

static void stride_loop(qiao_cuda_codegen_t *cg, LLVMValueRef lo, int64_t n, LLVMValueRef step,
                        const char *name, qiao_cg_loop_t *l) {
  qiao_cg_loop_begin(&cg->base, lo, qiao_cg_i64(&cg->base, n), 1, name, l);
  l->next_step = step; /* a value of the entry/pre-header: dominates the latch */
}

void qiao_cuda_grid_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, qiao_cg_loop_t *l) {
  LLVMValueRef ntid = qiao_cuda_sreg(cg, "ntid.x");
  LLVMValueRef lo =
      LLVMBuildAdd(cg->b, LLVMBuildMul(cg->b, qiao_cuda_sreg(cg, "ctaid.x"), ntid, ""),
                   qiao_cuda_sreg(cg, "tid.x"), "gid");
  LLVMValueRef step = LLVMBuildMul(cg->b, qiao_cuda_sreg(cg, "nctaid.x"), ntid, "gstride");
  stride_loop(cg, lo, n, step, "g", l);
}

void qiao_cuda_row_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, qiao_cg_loop_t *l) {
  stride_loop(cg, qiao_cuda_sreg(cg, "ctaid.x"), n, qiao_cuda_sreg(cg, "nctaid.x"), "row", l);
}

void qiao_cuda_thread_loop_begin(qiao_cuda_codegen_t *cg, int64_t n, int32_t block,
                                 qiao_cg_loop_t *l) {
  stride_loop(cg, qiao_cuda_sreg(cg, "tid.x"), n, qiao_cg_i64(&cg->base, block), "j", l);
}

int32_t qiao_cuda_row_block(int64_t n) {
  int64_t b = (n + QIAO_CUDA_WARP - 1) / QIAO_CUDA_WARP * QIAO_CUDA_WARP;
  if (b < 32) b = 32;
  if (b > 256) b = 256;
  return (int32_t)b;
}

int64_t qiao_cuda_grid_for(const qiao_cuda_codegen_t *cg, int64_t work, int32_t block) {
  int64_t g = (work + block - 1) / block;
  int64_t cap = (int64_t)(cg->n_sms > 0 ? cg->n_sms : 132) * 32;
  if (g > cap) g = cap;
  return g < 1 ? 1 : g;
}

/* ------------------------------------------------------------ epilogue */

void qiao_cuda_epi_init(qiao_cuda_epi_t *e, qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd) {
  memset(e, 0, sizeof *e);
  e->cg = cg;
  e->kd = kd;
  e->rank = kd->outputs[0].type.shape.rank;
  for (int32_t i = 0; i < kd->n_inputs && i < QIAO_KD_MAX_OPERANDS; ++i)
    e->in[i] = qiao_cuda_param(cg, i);
  for (int d = 0; d < e->rank; ++d)
    e->coords[d] = qiao_cg_i64(&cg->base, 0);
}

static LLVMValueRef epi_load(void *ctx, int32_t input, unsigned lanes) {
  qiao_cuda_epi_t *e = ctx;
  const qiao_kd_operand_t *op = &e->kd->inputs[input];
  LLVMValueRef off = qiao_cuda_offset(e->cg, e->rank, e->coords, op->out_strides);
  LLVMValueRef v = qiao_cg_load_f32(&e->cg->base, e->in[input], op->type.dtype, off, 1);
  return lanes == 1 ? v : qiao_cg_splat(&e->cg->base, v, lanes);
}

LLVMValueRef qiao_cuda_epi_expr(qiao_cuda_epi_t *e, LLVMValueRef acc) {
  return qiao_cg_emit_expr(&e->cg->base, e->kd, acc, epi_load, e, 1);
}

void qiao_cuda_epi_store_value(qiao_cuda_epi_t *e, LLVMValueRef v) {
  qiao_cuda_codegen_t *cg = e->cg;
  const qiao_kd_operand_t *o = &e->kd->outputs[0];
  LLVMValueRef off = qiao_cuda_offset(cg, e->rank, e->coords, o->strides);
  qiao_cg_store_f32(&cg->base, v, qiao_cuda_param(cg, e->kd->n_inputs), o->type.dtype, off, 1);
}

void qiao_cuda_epi_store(qiao_cuda_epi_t *e, LLVMValueRef acc) {
  if (e->kd->n_expr > 0) {
    acc = qiao_cg_round_f32(&e->cg->base, acc, e->kd->primary_dtype);
    acc = qiao_cuda_epi_expr(e, acc);
  }
  qiao_cuda_epi_store_value(e, acc);
}

/* ------------------------------------------------------------ support */

static bool float_dt(qiao_dtype_t t) {
  return t == QIAO_F32 || t == QIAO_F16 || t == QIAO_BF16 || t == QIAO_F8E4M3 || t == QIAO_F8E5M2;
}

bool qiao_cuda_float_expr(const qiao_kernel_desc_t *kd, bool check_primary_inputs) {
  for (int32_t i = check_primary_inputs ? 0 : kd->n_primary_inputs; i < kd->n_inputs; ++i)
    if (!float_dt(kd->inputs[i].type.dtype)) return false;
  for (int32_t i = 0; i < kd->n_expr; ++i) {
    const qiao_expr_node_t *n = &kd->expr[i];
    if (!float_dt((qiao_dtype_t)n->dtype)) return false;
    if (n->kind == QIAO_EXPR_OP && n->op == QIAO_OP_CAST && !float_dt((qiao_dtype_t)n->to))
      return false;
  }
  if (kd->n_expr > 0 || check_primary_inputs)
    for (int32_t o = 0; o < kd->n_outputs; ++o)
      if (!float_dt(kd->outputs[o].type.dtype)) return false;
  return true;
}

/* ------------------------------------------------------------ tensor cores */

void qiao_cuda_emit_mma(qiao_cuda_codegen_t *cg, qiao_cuda_mma_in_t in, LLVMValueRef a[4],
                        LLVMValueRef b[2], LLVMValueRef c[4]) {
  LLVMTypeRef f = in == QIAO_CUDA_MMA_S8 ? cg->t_i32 : cg->t_f32;
  LLVMTypeRef rt_el[4] = {f, f, f, f};
  LLVMTypeRef rt = LLVMStructTypeInContext(cg->ctx, rt_el, 4, 0);
  LLVMTypeRef pt[10] = {cg->t_i32, cg->t_i32, cg->t_i32, cg->t_i32, cg->t_i32,
                        cg->t_i32, f,         f,         f,         f};
  LLVMTypeRef fty = LLVMFunctionType(rt, pt, 10, 0);
  const char *text =
      in == QIAO_CUDA_MMA_BF16  ? "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                                  "{$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};"
      : in == QIAO_CUDA_MMA_F16 ? "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 "
                                  "{$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};"
                                : "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32 "
                                  "{$0,$1,$2,$3}, {$4,$5,$6,$7}, {$8,$9}, {$10,$11,$12,$13};";
  const char *cons = in == QIAO_CUDA_MMA_S8 ? "=r,=r,=r,=r,r,r,r,r,r,r,0,1,2,3"
                                            : "=f,=f,=f,=f,r,r,r,r,r,r,0,1,2,3";
  LLVMValueRef asmv = LLVMGetInlineAsm(fty, (char *)text, strlen(text), (char *)cons, strlen(cons),
                                       1, 0, LLVMInlineAsmDialectATT, 0);
  LLVMValueRef args[10] = {a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], c[2], c[3]};
  LLVMValueRef r = LLVMBuildCall2(cg->b, fty, asmv, args, 10, "");
  for (unsigned i = 0; i < 4; ++i)
    c[i] = LLVMBuildExtractValue(cg->b, r, i, "");
}
