/* CUDA backend — ROPE (a COPY kernel): one CTA per (b, s) position, taken
 * CTA-stride over B·S.
 *
 * Phase 1: the CTA's threads compute cos/sin of pos · theta^(-2i/D) for the
 * D/2 frequencies in f64 (the inverse frequencies are a constant table in
 * the .const space; pos is the exact integer position) and keep them as f32
 * in shared memory; bar.sync. Phase 2: thread t rotates pairs
 * p = t, t + block, ... of the H · D/2 pairs of the position (head
 * h = p / (D/2), pair i = p mod (D/2)): neox pairs (i, i + D/2), gptj pairs
 * (2i, 2i + 1); y0 = x0·c − x1·s, y1 = x1·c + x0·s in f32 like the CPU
 * backend; epilogue; store. A second bar.sync before the next position
 * rewrites the table. Neox reads are coalesced (consecutive i).
 *
 * sin/cos: the f64 kernels below (fdlibm's polynomials after a three-part
 * Cody–Waite reduction by π/2), since qiao_math_portable has none; they are
 * candidates for backends/common's portable hook. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/codegen.h"

static LLVMValueRef dconst(qiao_cuda_codegen_t *cg, double v) {
  return LLVMConstReal(cg->t_f64, v);
}
static LLVMValueRef dfma(qiao_cuda_codegen_t *cg, LLVMValueRef a, LLVMValueRef b,
                         LLVMValueRef c) {
  LLVMValueRef args[3] = {a, b, c};
  return qiao_cg_call_intrinsic(&cg->base, "llvm.fma", &cg->t_f64, 1, args, 3);
}
static LLVMValueRef dpoly(qiao_cuda_codegen_t *cg, LLVMValueRef z, const double *c, int n) {
  LLVMValueRef r = dconst(cg, c[n - 1]);
  for (int i = n - 2; i >= 0; --i)
    r = dfma(cg, r, z, dconst(cg, c[i]));
  return r;
}

/* sin and cos of f64 x (NaN for ±inf and NaN). */
static void emit_sincos(qiao_cuda_codegen_t *cg, LLVMValueRef x, LLVMValueRef *out_sin,
                        LLVMValueRef *out_cos) {
  static const double S[6] = {-1.66666666666666324348e-01, 8.33333333332248946124e-03,
                              -1.98412698298579493134e-04, 2.75573137070700676789e-06,
                              -2.50507602534068634195e-08, 1.58969099521155010221e-10};
  static const double C[6] = {4.16666666666666019037e-02,  -1.38888888888741095749e-03,
                              2.48015872894767294178e-05,  -2.75573143513906633035e-07,
                              2.08757232129817482790e-09,  -1.13596475577881948265e-11};
  LLVMBuilderRef b = cg->b;
  LLVMValueRef k = LLVMBuildFMul(b, x, dconst(cg, 6.36619772367581382433e-01), "");
  k = qiao_cg_call_intrinsic(&cg->base, "llvm.rint", &cg->t_f64, 1, &k, 1);
  LLVMValueRef nk = LLVMBuildFNeg(b, k, "");
  LLVMValueRef r = dfma(cg, nk, dconst(cg, 1.57079632673412561417e+00), x);
  r = dfma(cg, nk, dconst(cg, 6.07710050630396597660e-11), r);
  r = dfma(cg, nk, dconst(cg, 2.02226624871116645580e-21), r);
  LLVMValueRef z = LLVMBuildFMul(b, r, r, "");
  /* sin r = r + r·z·S(z); cos r = 1 − z/2 + z²·C(z) */
  LLVMValueRef s = dfma(cg, LLVMBuildFMul(b, r, z, ""), dpoly(cg, z, S, 6), r);
  LLVMValueRef c = dfma(cg, LLVMBuildFMul(b, z, z, ""), dpoly(cg, z, C, 6),
                        dfma(cg, z, dconst(cg, -0.5), dconst(cg, 1.0)));
  /* quadrant q = k mod 4 in f64 (no float→int conversion of a huge or inf k) */
  LLVMValueRef k4 = LLVMBuildFMul(b, k, dconst(cg, 0.25), "");
  k4 = qiao_cg_call_intrinsic(&cg->base, "llvm.floor", &cg->t_f64, 1, &k4, 1);
  LLVMValueRef q = dfma(cg, k4, dconst(cg, -4.0), k);
  LLVMValueRef q1 = LLVMBuildFCmp(b, LLVMRealOEQ, q, dconst(cg, 1.0), "");
  LLVMValueRef q2 = LLVMBuildFCmp(b, LLVMRealOEQ, q, dconst(cg, 2.0), "");
  LLVMValueRef q3 = LLVMBuildFCmp(b, LLVMRealOEQ, q, dconst(cg, 3.0), "");
  LLVMValueRef ns = LLVMBuildFNeg(b, s, ""), nc = LLVMBuildFNeg(b, c, "");
  /* sin: s, c, −s, −c; cos: c, −s, −c, s */
  LLVMValueRef sv = LLVMBuildSelect(b, q1, c, s, "");
  sv = LLVMBuildSelect(b, q2, ns, sv, "");
  *out_sin = LLVMBuildSelect(b, q3, nc, sv, "");
  LLVMValueRef cv = LLVMBuildSelect(b, q1, ns, c, "");
  cv = LLVMBuildSelect(b, q2, nc, cv, "");
  *out_cos = LLVMBuildSelect(b, q3, s, cv, "");
}

qiao_status_t qiao_cuda_lower_rope(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                   const char *name, qiao_cuda_kernel_t *out) {
  const qiao_kd_operand_t *x = &kd->inputs[0], *P = &kd->inputs[1], *o = &kd->outputs[0];
  if (x->type.shape.rank != 4 || kd->n_primary_inputs < 2 || !qiao_dtype_is_int(P->type.dtype))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "rope kernel %s: x must be [B, H, S, D]", name);
  int64_t B = x->type.shape.dims[0], H = x->type.shape.dims[1], S = x->type.shape.dims[2],
          D = x->type.shape.dims[3];
  if (D % 2) return qiao_status_make(QIAO_INVALID_ARGUMENT, "rope kernel %s: D is odd", name);
  int64_t half = D / 2;
  bool per_batch = P->type.shape.rank == 2;
  bool gptj = kd->attrs.mode == QIAO_ROPE_GPTJ;
  int32_t block = qiao_cuda_row_block(H * half);
  int64_t rows = B * S;

  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  /* the inverse frequencies: a .const table */
  int64_t nt = half ? half : 1;
  LLVMValueRef *fr = malloc(sizeof(LLVMValueRef) * (size_t)nt);
  if (!fr) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  fr[0] = dconst(cg, 0.0);
  for (int64_t i = 0; i < half; ++i)
    fr[i] = dconst(cg, pow(kd->attrs.theta, -2.0 * (double)i / (double)D));
  LLVMTypeRef at = LLVMArrayType2(cg->t_f64, (uint64_t)nt);
  char tn[96];
  snprintf(tn, sizeof tn, "%s.inv_freq", name);
  LLVMValueRef tab = LLVMAddGlobalInAddressSpace(cg->mod, at, tn, 4);
  LLVMSetInitializer(tab, LLVMConstArray2(cg->t_f64, fr, (uint64_t)nt));
  LLVMSetGlobalConstant(tab, 1);
  LLVMSetLinkage(tab, LLVMInternalLinkage);
  free(fr);
  LLVMTypeRef cst = LLVMArrayType2(cg->t_f32, (uint64_t)(2 * nt));
  LLVMValueRef cs = qiao_cuda_shared(cg, cg->t_f32, 2 * nt, "cs");
  LLVMValueRef xp = qiao_cuda_param(cg, 0), pp = qiao_cuda_param(cg, 1);
  LLVMValueRef outp = qiao_cuda_param(cg, kd->n_inputs);
  LLVMValueRef zero = qiao_cg_i64(&cg->base, 0);
  qiao_cuda_epi_t e;
  qiao_cuda_epi_init(&e, cg, kd);
  qiao_cg_loop_t rl, il;
  qiao_cuda_row_loop_begin(cg, rows, &rl);
  int64_t rdims[2] = {B, S};
  LLVMValueRef rc[2];
  qiao_cuda_unflatten(cg, rl.iv, 2, rdims, rc);
  LLVMValueRef bi = rc[0], si = rc[1];
  LLVMValueRef pc[2] = {bi, si};
  LLVMValueRef poff = per_batch ? qiao_cuda_offset(cg, 2, pc, P->strides)
                                : qiao_cuda_offset(cg, 1, pc + 1, P->strides);
  LLVMTypeRef pst = qiao_cg_storage_type(&cg->base, P->type.dtype);
  LLVMValueRef pos =
      LLVMBuildLoad2(cg->b, pst, qiao_cg_elem_ptr(&cg->base, pp, P->type.dtype, poff), "pos");
  if (pst != cg->t_i64) pos = LLVMBuildSExt(cg->b, pos, cg->t_i64, "");
  LLVMValueRef posd = LLVMBuildSIToFP(cg->b, pos, cg->t_f64, "");
  /* phase 1: the cos/sin table of this position in shared memory */
  qiao_cuda_thread_loop_begin(cg, half, block, &il);
  {
    LLVMValueRef idx[2] = {zero, il.iv};
    LLVMValueRef f =
        LLVMBuildLoad2(cg->b, cg->t_f64, LLVMBuildInBoundsGEP2(cg->b, at, tab, idx, 2, ""), "");
    LLVMValueRef sv, cv;
    emit_sincos(cg, LLVMBuildFMul(cg->b, posd, f, ""), &sv, &cv);
    LLVMBuildStore(cg->b, LLVMBuildFPTrunc(cg->b, cv, cg->t_f32, ""),
                   LLVMBuildInBoundsGEP2(cg->b, cst, cs, idx, 2, ""));
    LLVMValueRef idx2[2] = {zero, LLVMBuildAdd(cg->b, il.iv, qiao_cg_i64(&cg->base, half), "")};
    LLVMBuildStore(cg->b, LLVMBuildFPTrunc(cg->b, sv, cg->t_f32, ""),
                   LLVMBuildInBoundsGEP2(cg->b, cst, cs, idx2, 2, ""));
  }
  qiao_cg_loop_end(&cg->base, &il);
  qiao_cuda_barrier(cg);
  /* phase 2: rotate the H · half pairs */
  qiao_cuda_thread_loop_begin(cg, H * half, block, &il);
  {
    LLVMValueRef hv = LLVMBuildUDiv(cg->b, il.iv, qiao_cg_i64(&cg->base, half), "h");
    LLVMValueRef iv = LLVMBuildURem(cg->b, il.iv, qiao_cg_i64(&cg->base, half), "i");
    LLVMValueRef i0 = gptj ? LLVMBuildShl(cg->b, iv, qiao_cg_i64(&cg->base, 1), "") : iv;
    LLVMValueRef i1 = LLVMBuildAdd(cg->b, i0, qiao_cg_i64(&cg->base, gptj ? 1 : half), "");
    LLVMValueRef xc[4] = {bi, hv, si, i0};
    LLVMValueRef x0 =
        qiao_cg_load_f32(&cg->base, xp, x->type.dtype, qiao_cuda_offset(cg, 4, xc, x->strides), 1);
    xc[3] = i1;
    LLVMValueRef x1 =
        qiao_cg_load_f32(&cg->base, xp, x->type.dtype, qiao_cuda_offset(cg, 4, xc, x->strides), 1);
    LLVMValueRef ci[2] = {zero, iv};
    LLVMValueRef si2[2] = {zero, LLVMBuildAdd(cg->b, iv, qiao_cg_i64(&cg->base, half), "")};
    LLVMValueRef c = LLVMBuildLoad2(cg->b, cg->t_f32,
                                    LLVMBuildInBoundsGEP2(cg->b, cst, cs, ci, 2, ""), "c");
    LLVMValueRef s = LLVMBuildLoad2(cg->b, cg->t_f32,
                                    LLVMBuildInBoundsGEP2(cg->b, cst, cs, si2, 2, ""), "s");
    LLVMValueRef y0 = LLVMBuildFSub(cg->b, LLVMBuildFMul(cg->b, x0, c, ""),
                                    LLVMBuildFMul(cg->b, x1, s, ""), "");
    LLVMValueRef y1 = LLVMBuildFAdd(cg->b, LLVMBuildFMul(cg->b, x1, c, ""),
                                    LLVMBuildFMul(cg->b, x0, s, ""), "");
    e.coords[0] = bi;
    e.coords[1] = hv;
    e.coords[2] = si;
    e.coords[3] = i0;
    qiao_cuda_epi_store(&e, y0);
    e.coords[3] = i1;
    qiao_cuda_epi_store(&e, y1);
  }
  qiao_cg_loop_end(&cg->base, &il);
  qiao_cuda_barrier(cg); /* the table is rewritten for the next position */
  qiao_cg_loop_end(&cg->base, &rl);
  LLVMBuildRetVoid(cg->b);
  (void)outp;
  (void)o;
  out->fn = cg->fn;
  out->block[0] = block;
  out->grid[0] = rows < 1 ? 1 : rows > (1 << 20) ? (1 << 20) : rows;
  return NULL;
}
