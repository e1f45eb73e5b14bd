/* CPU backend — MATMUL lowering.
 *
 * Two code shapes, both generated here through the LLVM C API:
 *
 *  GEMM (BLIS style). The grid is (N blocks, row pieces, batch): a workgroup
 *  owns an NB-wide column block (NB ≤ 1024, ~4 workgroups per thread) and, in
 *  the usual case, all M rows (rows are split only when N and the batch give
 *  fewer workgroups than threads). For each KC slice of K (KC ≤ 1024) it packs
 *  the KC×NB block of B ONCE into its scratch in microkernel order, then walks
 *  its rows in MB blocks: A is packed (MB×KC) unless it is f32 with unit K
 *  stride and no norm prologue, in which case the microkernel broadcasts
 *  straight from a's rows (no A packing at all). For each MR strip (the A
 *  micro-panel stays in L1) it sweeps the B micro-panels (streamed from
 *  L2/L3) with an MR×NR register-blocked microkernel: MR broadcasts of A
 *  times NR/VL vectors of packed B per k, llvm.fma on <VL x float>
 *  (AVX-512: 6×64 or 8×48, whichever wastes less of M, N and the thread
 *  balance; with avx512_bf16 and bf16×bf16 operands: vdpbf16ps on
 *  interleaved K pairs; i8×i8: sign-extended i16 K pairs into i32
 *  accumulators with vpdpwssd / vpmaddwd, exact modulo 2^32 for any K, like
 *  the interpreter's i32 store). Between K slices the partial sums live in the
 *  output itself when it is f32 with no epilogue (later slices load-add-store
 *  C), otherwise in an f32 scratch tile per row piece (row pieces are then
 *  bounded so the tile stays small); after the last slice the fused epilogue
 *  runs on the accumulators in registers and the store rounds to the output
 *  dtype. Edges are zero-padded by the packers and masked on load/store.
 *  Packing transposes 16×16 blocks in registers (shufflevector butterflies),
 *  converts f16/bf16 to f32 where needed and applies the fused
 *  rms_norm/layer_norm prologue to A's rows.
 *
 *  DOT (decode, M ≤ 8 with b stored [N, K]; not for i8×i8). The grid
 *  splits N. A workgroup copies (and normalizes) a's rows into scratch as
 *  f32, then streams rows of b: R rows at a time, M×R vector accumulators
 *  over K, horizontal sums, the epilogue on scalars. No packing of b: it runs
 *  at memory bandwidth.
 *
 *  A zero M, N or batch emits an entry that returns; K = 0 stores the
 *  epilogue of 0 (emit_zero_k).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mm_geometry.h"
#include "cpu/codegen.h"

#define MM_MAX_ACC 32
#define MM_MAX_VL 16

typedef struct mm_gen {
  qiao_cpu_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  LLVMBuilderRef b;
  LLVMValueRef fn;
  unsigned vl; /* f32 lanes per vector */
  /* problem: the shared matmul geometry, its fields by name */
  union {
    qiao_cg_mm_geo_t geo;
    struct {
      QIAO_CG_MM_GEO_FIELDS
    };
  };
  qiao_dtype_t at, bt, ot, a_eff; /* a_eff: a's dtype after the norm prologue */
  bool pk_bf16;                   /* packed operands are bf16 pairs (vdpbf16ps) */
  bool pk_i16;                    /* i8 x i8: packed operands are i16 pairs, i32 accumulators */
  /* tiling */
  int MR, NR;
  int64_t MB, NB, KC, KCU, KCUp; /* KCU: k-units per slice (pairs for bf16); KCUp: padded */
  int64_t MBO;                   /* rows of a workgroup (grid y splits M in MBO-row pieces) */
  bool direct;                   /* K slices accumulate in the f32 output itself */
  bool a_direct;                 /* f32 a with unit K stride is not packed */
  int64_t dot_nch, dot_r;
  /* runtime values of the current workgroup */
  LLVMValueRef a, bb, o, scratch;
  LLVMValueRef e_base[QIAO_KD_MAX_OPERANDS];
  LLVMValueRef stats; /* f32 [2][rows]: rstd then mean */
  LLVMValueRef norm_w, norm_bias;
} mm_gen_t;

/* ------------------------------------------------------------ small helpers */

static LLVMValueRef c64(mm_gen_t *g, int64_t v) { return qiao_cg_i64(&g->cg->base, v); }
static LLVMValueRef c32(mm_gen_t *g, int v) {
  return LLVMConstInt(g->cg->t_i32, (unsigned long long)v, 1);
}
static LLVMTypeRef vf(mm_gen_t *g, unsigned n) {
  return qiao_cg_vec_type(&g->cg->base, g->cg->t_f32, n);
}
static LLVMValueRef zero_f(mm_gen_t *g, unsigned n) { return LLVMConstNull(vf(g, n)); }

static LLVMValueRef add(mm_gen_t *g, LLVMValueRef x, LLVMValueRef y) {
  return LLVMBuildAdd(g->b, x, y, "");
}
static LLVMValueRef mul(mm_gen_t *g, LLVMValueRef x, LLVMValueRef y) {
  return LLVMBuildMul(g->b, x, y, "");
}
static LLVMValueRef imin(mm_gen_t *g, LLVMValueRef x, LLVMValueRef y) {
  return LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, x, y, ""), x, y, "");
}
/* Byte offset GEP. */
static LLVMValueRef byte_gep(mm_gen_t *g, LLVMValueRef p, LLVMValueRef off) {
  return LLVMBuildGEP2(g->b, g->cg->t_i8, p, &off, 1, "");
}
static LLVMValueRef f32_gep(mm_gen_t *g, LLVMValueRef p, LLVMValueRef idx) {
  return LLVMBuildGEP2(g->b, g->cg->t_f32, p, &idx, 1, "");
}

static LLVMValueRef iota(mm_gen_t *g, unsigned n) {
  LLVMValueRef e[MM_MAX_VL * 2];
  for (unsigned i = 0; i < n; ++i)
    e[i] = c64(g, i);
  return LLVMConstVector(e, n);
}

/* Lane mask: (base + lane) < limit for lanes 0..n-1 (i64 scalars). */
static LLVMValueRef lane_mask(mm_gen_t *g, LLVMValueRef base, LLVMValueRef limit, unsigned n) {
  LLVMValueRef v = add(g, qiao_cg_splat(&g->cg->base, base, n), iota(g, n));
  return LLVMBuildICmp(g->b, LLVMIntSLT, v, qiao_cg_splat(&g->cg->base, limit, n), "");
}

static LLVMValueRef load_typed(mm_gen_t *g, LLVMTypeRef t, LLVMValueRef p, unsigned align) {
  LLVMValueRef v = LLVMBuildLoad2(g->b, t, p, "");
  LLVMSetAlignment(v, align);
  return v;
}
static void store_typed(mm_gen_t *g, LLVMValueRef v, LLVMValueRef p, unsigned align) {
  LLVMSetAlignment(LLVMBuildStore(g->b, v, p), align);
}

/* Packed operands hold pairs of k values per 32-bit unit (bf16 or i16). */
static bool pk_pairs(const mm_gen_t *g) { return g->pk_bf16 || g->pk_i16; }
/* The accumulator vector type: <vl x i32> on the integer path, else <vl x f32>. */
static LLVMTypeRef acc_type(mm_gen_t *g, unsigned n) {
  return qiao_cg_vec_type(&g->cg->base, g->pk_i16 ? g->cg->t_i32 : g->cg->t_f32, n);
}

/* Exact f32 lanes holding integers in [-32768, 32767] → i16 lanes, viewed as
 * n/2 32-bit units (<n/2 x float>, for the packers' shuffles and stores). */
static LLVMValueRef i16_units(mm_gen_t *g, LLVMValueRef x, unsigned n) {
  LLVMValueRef r = LLVMBuildFPToSI(g->b, x, LLVMVectorType(g->cg->t_i16, n), "");
  return LLVMBuildBitCast(g->b, r, qiao_cg_vec_type(&g->cg->base, g->cg->t_f32, n / 2), "");
}

/* Whether the target's feature list ("+avx512bw,-amx-tile,...") enables `name`. */
static bool has_feat(const qiao_cpu_codegen_t *cg, const char *name) {
  size_t n = strlen(name);
  for (const char *p = cg->cpu_features; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n + 1 && p[0] == '+' && !strncmp(p + 1, name, n)) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* acc + Σ pairs: for each i32 lane, a[2i]·b[2i] + a[2i+1]·b[2i+1] in i32 (the
 * products of sign-extended i16 lanes are exact, a pair sum of i8 products
 * fits easily; the accumulating adds wrap like the interpreter's store to i32).
 * a, b: <n x float> views of 2n i16 lanes. x86: vpdpwssd (AVX-512 VNNI), else
 * vpmaddwd + vpaddd (AVX-512BW, AVX2, SSE2) as intrinsics — the generic form
 * below is not matched inside the unrolled microkernel; elsewhere (NEON) the
 * generic form (sext, mul, even+odd lanes) becomes smull/smull2 + addp. */
static LLVMValueRef madd_i16(mm_gen_t *g, LLVMValueRef a, LLVMValueRef b, LLVMValueRef acc,
                             unsigned n) {
  qiao_cpu_codegen_t *cg = g->cg;
  LLVMTypeRef h = LLVMVectorType(cg->t_i16, 2 * n), w = LLVMVectorType(cg->t_i32, 2 * n);
  LLVMTypeRef vi = LLVMVectorType(cg->t_i32, n);
  if (n == 16 && has_feat(cg, "avx512vnni")) {
    LLVMValueRef args[3] = {acc, LLVMBuildBitCast(g->b, a, vi, ""),
                            LLVMBuildBitCast(g->b, b, vi, "")};
    return qiao_cg_call_intrinsic(&cg->base, "llvm.x86.avx512.vpdpwssd.512", NULL, 0, args, 3);
  }
  const char *pmadd = n == 16 && has_feat(cg, "avx512bw") ? "llvm.x86.avx512.pmaddw.d.512"
                      : n == 8 && has_feat(cg, "avx2")    ? "llvm.x86.avx2.pmadd.wd"
                      : n == 4 && has_feat(cg, "sse2")    ? "llvm.x86.sse2.pmadd.wd"
                                                          : NULL;
  if (pmadd) {
    LLVMValueRef args[2] = {LLVMBuildBitCast(g->b, a, h, ""), LLVMBuildBitCast(g->b, b, h, "")};
    return LLVMBuildAdd(g->b, acc, qiao_cg_call_intrinsic(&cg->base, pmadd, NULL, 0, args, 2), "");
  }
  LLVMValueRef ax = LLVMBuildSExt(g->b, LLVMBuildBitCast(g->b, a, h, ""), w, "");
  LLVMValueRef bx = LLVMBuildSExt(g->b, LLVMBuildBitCast(g->b, b, h, ""), w, "");
  LLVMValueRef p = LLVMBuildMul(g->b, ax, bx, "");
  LLVMValueRef ev[MM_MAX_VL], od[MM_MAX_VL];
  for (unsigned i = 0; i < n; ++i) {
    ev[i] = c32(g, (int)(2 * i));
    od[i] = c32(g, (int)(2 * i + 1));
  }
  LLVMValueRef pe = LLVMBuildShuffleVector(g->b, p, LLVMGetPoison(w), LLVMConstVector(ev, n), "");
  LLVMValueRef po = LLVMBuildShuffleVector(g->b, p, LLVMGetPoison(w), LLVMConstVector(od, n), "");
  return LLVMBuildAdd(g->b, acc, LLVMBuildAdd(g->b, pe, po, ""), "");
}

/* Converts loaded storage lanes of dt to f32. */
static LLVMValueRef to_f32(mm_gen_t *g, LLVMValueRef raw, qiao_dtype_t dt, unsigned n) {
  return qiao_cg_storage_to_f32(&g->cg->base, raw, dt, n);
}

/* Loads n lanes of dt at element `idx` as f32; mask (NULL: all) zeroes lanes. */
static LLVMValueRef load_f32m(mm_gen_t *g, LLVMValueRef base, qiao_dtype_t dt, LLVMValueRef idx,
                              unsigned n, LLVMValueRef mask) {
  qiao_cpu_codegen_t *cg = g->cg;
  if (!mask || n == 1) return qiao_cg_load_f32(&cg->base, base, dt, idx, n);
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMTypeRef vt = LLVMVectorType(st, n);
  LLVMValueRef p = qiao_cg_elem_ptr(&cg->base, base, dt, idx);
  LLVMTypeRef tys[2] = {vt, cg->t_ptr};
  LLVMValueRef args[4] = {p, c32(g, (int)qiao_dtype_size(dt)), mask, LLVMConstNull(vt)};
  LLVMValueRef raw = qiao_cg_call_intrinsic(&cg->base, "llvm.masked.load", tys, 2, args, 4);
  return to_f32(g, raw, dt, n);
}

/* Rounds f32 lanes to dt and stores them at element idx under mask (NULL: all). */
static void store_f32m(mm_gen_t *g, LLVMValueRef v, LLVMValueRef base, qiao_dtype_t dt,
                       LLVMValueRef idx, unsigned n, LLVMValueRef mask) {
  qiao_cpu_codegen_t *cg = g->cg;
  if (!mask || n == 1) {
    qiao_cg_store_f32(&cg->base, v, base, dt, idx, n);
    return;
  }
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMTypeRef vt = LLVMVectorType(st, n);
  LLVMValueRef out = qiao_cg_f32_to_storage(&cg->base, v, dt, n);
  LLVMValueRef p = qiao_cg_elem_ptr(&cg->base, base, dt, idx);
  LLVMTypeRef tys[2] = {vt, cg->t_ptr};
  LLVMValueRef args[4] = {out, p, c32(g, (int)qiao_dtype_size(dt)), mask};
  qiao_cg_call_intrinsic(&cg->base, "llvm.masked.store", tys, 2, args, 4);
}

/* Loop with loop-carried values. */
typedef struct mm_loop {
  qiao_cg_loop_t l;
  int n;
  LLVMValueRef phi[MM_MAX_ACC + 8];
} mm_loop_t;

static void loop_begin(mm_gen_t *g, mm_loop_t *lp, LLVMValueRef lo, LLVMValueRef hi, int64_t step,
                       const char *name, int n, LLVMValueRef *init) {
  LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
  qiao_cg_loop_begin(&g->cg->base, lo, hi, step, name, &lp->l);
  lp->n = n;
  if (n == 0) return;
  /* Carried phis go in the header, before its compare. */
  LLVMValueRef first = LLVMGetFirstInstruction(lp->l.header);
  LLVMPositionBuilderBefore(g->b, LLVMGetNextInstruction(first));
  for (int i = 0; i < n; ++i) {
    lp->phi[i] = LLVMBuildPhi(g->b, LLVMTypeOf(init[i]), "");
    LLVMAddIncoming(lp->phi[i], &init[i], &pre, 1);
  }
  LLVMPositionBuilderAtEnd(g->b, lp->l.body);
}

/* Ends the loop; `next` are the carried values at the end of the body. After
 * the call lp->phi[i] hold the final values (valid in the exit block). */
static void loop_end(mm_gen_t *g, mm_loop_t *lp, LLVMValueRef *next) {
  LLVMBasicBlockRef latch = LLVMGetInsertBlock(g->b);
  for (int i = 0; i < lp->n; ++i)
    LLVMAddIncoming(lp->phi[i], &next[i], &latch, 1);
  qiao_cg_loop_end(&g->cg->base, &lp->l);
}

/* if (cond) { ... } : returns the merge block; builder placed in the then block. */
static LLVMBasicBlockRef if_begin(mm_gen_t *g, LLVMValueRef cond, const char *name) {
  LLVMBasicBlockRef then = LLVMAppendBasicBlockInContext(g->cg->ctx, g->fn, name);
  LLVMBasicBlockRef merge = LLVMAppendBasicBlockInContext(g->cg->ctx, g->fn, "endif");
  LLVMBuildCondBr(g->b, cond, then, merge);
  LLVMPositionBuilderAtEnd(g->b, then);
  return merge;
}
static void if_end(mm_gen_t *g, LLVMBasicBlockRef merge) {
  LLVMBuildBr(g->b, merge);
  LLVMPositionBuilderAtEnd(g->b, merge);
}

static LLVMValueRef fma_v(mm_gen_t *g, LLVMValueRef x, LLVMValueRef y, LLVMValueRef acc) {
  LLVMTypeRef t = LLVMTypeOf(acc);
  LLVMValueRef args[3] = {x, y, acc};
  return qiao_cg_call_intrinsic(&g->cg->base, "llvm.fma", &t, 1, args, 3);
}

/* In-register transpose of an n×n block (n = power of two ≤ 16) of 32-bit
 * lanes: v[r][c] → v[c][r]. Swaps one index bit per butterfly stage. */
static void transpose_block(mm_gen_t *g, LLVMValueRef *v, unsigned n) {
  for (unsigned d = 1; d < n; d <<= 1) {
    LLVMValueRef m0[MM_MAX_VL], m1[MM_MAX_VL];
    for (unsigned c = 0; c < n; ++c) {
      m0[c] = c32(g, (int)((c & d) == 0 ? c : n + c - d));
      m1[c] = c32(g, (int)((c & d) == 0 ? c + d : n + c));
    }
    LLVMValueRef k0 = LLVMConstVector(m0, n), k1 = LLVMConstVector(m1, n);
    for (unsigned r = 0; r < n; ++r) {
      if (r & d) continue;
      LLVMValueRef x = v[r], y = v[r | d];
      v[r] = LLVMBuildShuffleVector(g->b, x, y, k0, "");
      v[r | d] = LLVMBuildShuffleVector(g->b, x, y, k1, "");
    }
  }
}

/* Stores the first `lanes` lanes of vector v at p. */
static void store_prefix(mm_gen_t *g, LLVMValueRef v, unsigned n, unsigned lanes, LLVMValueRef p) {
  if (lanes < n) {
    LLVMValueRef m[MM_MAX_VL];
    for (unsigned i = 0; i < lanes; ++i)
      m[i] = c32(g, (int)i);
    v = LLVMBuildShuffleVector(g->b, v, LLVMGetPoison(LLVMTypeOf(v)), LLVMConstVector(m, lanes),
                               "");
  }
  store_typed(g, v, p, 4);
}

/* --------------------------------------------------------- the norm prologue */

/* Computes (rstd, mean) of one row of a (contiguous over K) in f64 and stores
 * them in stats[row_slot] and stats[rows + row_slot] (f64 slots): squares of
 * f32 values cannot overflow f64, so rows with huge finite values normalize
 * as the interpreter does (the standalone norm kernel does the same). */
static LLVMValueRef f64_gep(mm_gen_t *g, LLVMValueRef p, LLVMValueRef idx) {
  return LLVMBuildGEP2(g->b, g->cg->t_f64, p, &idx, 1, "");
}

static void emit_row_stats(mm_gen_t *g, LLVMValueRef row_idx /* element index of row start */,
                           LLVMValueRef slot, int64_t rows) {
  const qiao_kernel_desc_t *kd = g->kd;
  unsigned vl = g->vl;
  LLVMTypeRef dt = g->cg->t_f64, vdt = LLVMVectorType(dt, vl);
  LLVMValueRef kk = c64(g, g->K);
  bool ln = kd->norm_op == QIAO_OP_LAYER_NORM;
  LLVMValueRef mean = LLVMConstReal(dt, 0.0);
  if (ln) {
    mm_loop_t lp;
    LLVMValueRef init = LLVMConstNull(vdt);
    loop_begin(g, &lp, c64(g, 0), kk, vl, "ln_sum", 1, &init);
    LLVMValueRef m = lane_mask(g, lp.l.iv, kk, vl);
    LLVMValueRef x = load_f32m(g, g->a, g->at, add(g, row_idx, lp.l.iv), vl, m);
    LLVMValueRef nx = LLVMBuildFAdd(g->b, lp.phi[0], LLVMBuildFPExt(g->b, x, vdt, ""), "");
    loop_end(g, &lp, &nx);
    mean = LLVMBuildFDiv(g->b, qiao_cg_reduce_add(&g->cg->base, lp.phi[0]),
                         LLVMConstReal(dt, (double)g->K), "");
  }
  mm_loop_t lp;
  LLVMValueRef init = LLVMConstNull(vdt);
  loop_begin(g, &lp, c64(g, 0), kk, vl, "nrm_sq", 1, &init);
  LLVMValueRef m = lane_mask(g, lp.l.iv, kk, vl);
  LLVMValueRef x = LLVMBuildFPExt(
      g->b, load_f32m(g, g->a, g->at, add(g, row_idx, lp.l.iv), vl, m), vdt, "");
  if (ln) {
    x = LLVMBuildFSub(g->b, x, qiao_cg_splat(&g->cg->base, mean, vl), "");
    x = LLVMBuildSelect(g->b, m, x, LLVMConstNull(vdt), "");
  }
  LLVMValueRef nx = LLVMBuildFAdd(g->b, LLVMBuildFMul(g->b, x, x, ""), lp.phi[0], "");
  loop_end(g, &lp, &nx);
  LLVMValueRef var = LLVMBuildFDiv(g->b, qiao_cg_reduce_add(&g->cg->base, lp.phi[0]),
                                   LLVMConstReal(dt, (double)g->K), "");
  var = LLVMBuildFAdd(g->b, var, LLVMConstReal(dt, kd->norm_eps), "");
  LLVMValueRef sq = qiao_cg_call_intrinsic(&g->cg->base, "llvm.sqrt", &dt, 1, &var, 1);
  LLVMValueRef rstd = LLVMBuildFDiv(g->b, LLVMConstReal(dt, 1.0), sq, "");
  store_typed(g, rstd, f64_gep(g, g->stats, slot), 8);
  store_typed(g, mean, f64_gep(g, g->stats, add(g, slot, c64(g, rows))), 8);
}

/* Applies the norm to n lanes x of row `slot` at k (global), masked lanes → 0,
 * and rounds to norm_dtype. */
static LLVMValueRef apply_norm(mm_gen_t *g, LLVMValueRef x, LLVMValueRef slot, int64_t rows,
                               LLVMValueRef k, unsigned n, LLVMValueRef mask) {
  const qiao_kernel_desc_t *kd = g->kd;
  if (!kd->has_norm_prologue) return x;
  LLVMTypeRef dt = g->cg->t_f64;
  LLVMValueRef rstd = load_typed(g, dt, f64_gep(g, g->stats, slot), 8);
  LLVMValueRef mean = load_typed(g, dt, f64_gep(g, g->stats, add(g, slot, c64(g, rows))), 8);
  qiao_dtype_t wt = kd->inputs[kd->norm_weight_input].type.dtype;
  LLVMValueRef w = load_f32m(g, g->norm_w, wt, k, n, mask);
  /* (x - mean) * rstd in f64, rounded to f32 once */
  LLVMValueRef y = LLVMBuildFPExt(g->b, x, qiao_cg_vec_type(&g->cg->base, dt, n), "");
  y = LLVMBuildFSub(g->b, y, qiao_cg_splat(&g->cg->base, mean, n), "");
  y = LLVMBuildFMul(g->b, y, qiao_cg_splat(&g->cg->base, rstd, n), "");
  y = LLVMBuildFPTrunc(g->b, y, qiao_cg_vec_type(&g->cg->base, g->cg->t_f32, n), "");
  y = LLVMBuildFMul(g->b, y, w, "");
  if (kd->norm_bias_input >= 0) {
    qiao_dtype_t bt = kd->inputs[kd->norm_bias_input].type.dtype;
    y = LLVMBuildFAdd(g->b, y, load_f32m(g, g->norm_bias, bt, k, n, mask), "");
  }
  y = qiao_cg_round_f32(&g->cg->base, y, kd->norm_dtype);
  if (mask) y = LLVMBuildSelect(g->b, mask, y, zero_f(g, n), "");
  return y;
}

/* ------------------------------------------------------------ epilogue */

typedef struct mm_epi_ctx {
  mm_gen_t *g;
  LLVMValueRef m, n; /* output row, first column (i64) */
  LLVMValueRef mask; /* column mask or NULL */
} mm_epi_ctx_t;

static LLVMValueRef epi_load(void *vctx, int32_t input, unsigned lanes) {
  mm_epi_ctx_t *c = vctx;
  mm_gen_t *g = c->g;
  const qiao_kernel_desc_t *kd = g->kd;
  const qiao_kd_operand_t *op = &kd->inputs[input];
  int r = kd->outputs[0].type.shape.rank;
  int64_t sm = op->out_strides[r - 2], sn = op->out_strides[r - 1];
  qiao_dtype_t dt = op->type.dtype;
  LLVMValueRef base = g->e_base[input];
  LLVMValueRef off = mul(g, c->m, c64(g, sm));
  if (sn == 0 || lanes == 1) {
    if (sn != 0) off = add(g, off, mul(g, c->n, c64(g, sn)));
    LLVMValueRef s = qiao_cg_load_f32(&g->cg->base, base, dt, off, 1);
    return qiao_cg_splat(&g->cg->base, s, lanes);
  }
  off = add(g, off, mul(g, c->n, c64(g, sn)));
  if (sn == 1) return load_f32m(g, base, dt, off, lanes, c->mask);
  /* Strided: gather under the mask. */
  qiao_cpu_codegen_t *cg = g->cg;
  LLVMValueRef idx = add(g, qiao_cg_splat(&cg->base, off, lanes),
                         mul(g, iota(g, lanes), qiao_cg_splat(&cg->base, c64(g, sn), lanes)));
  LLVMTypeRef st = qiao_cg_storage_type(&cg->base, dt);
  LLVMValueRef ptrs = LLVMBuildGEP2(g->b, st, base, &idx, 1, "");
  LLVMTypeRef vt = LLVMVectorType(st, lanes);
  LLVMTypeRef tys[2] = {vt, LLVMVectorType(cg->t_ptr, lanes)};
  LLVMValueRef mask = c->mask;
  if (!mask) {
    mask = LLVMConstAllOnes(LLVMVectorType(cg->t_i1, lanes));
  }
  LLVMValueRef args[4] = {ptrs, c32(g, (int)qiao_dtype_size(dt)), mask, LLVMConstNull(vt)};
  LLVMValueRef raw = qiao_cg_call_intrinsic(&cg->base, "llvm.masked.gather", tys, 2, args, 4);
  return to_f32(g, raw, dt, lanes);
}

/* acc (f32 lanes) at output (m, n..): rounds to the primary dtype, runs the
 * fused expression, stores rounded to the output dtype. */
static void emit_output(mm_gen_t *g, LLVMValueRef acc, LLVMValueRef m, LLVMValueRef n,
                        unsigned lanes, LLVMValueRef mask) {
  const qiao_kernel_desc_t *kd = g->kd;
  LLVMValueRef v = qiao_cg_round_f32(&g->cg->base, acc, kd->primary_dtype);
  if (kd->n_expr > 0) {
    mm_epi_ctx_t c = {g, m, n, mask};
    v = qiao_cg_emit_expr(&g->cg->base, kd, v, epi_load, &c, lanes);
  }
  LLVMValueRef idx = add(g, mul(g, m, c64(g, g->som)), n);
  store_f32m(g, v, g->o, g->ot, idx, lanes, mask);
}

/* The accumulators of a microtile at output (m, n..). Integer ones (<lanes x
 * i32>, the exact sum wrapped to 32 bits like the interpreter's i32 store) are
 * stored as they are when there is no epilogue; a fused epilogue gets them
 * converted to f32 (RNE, exact while |sum| ≤ 2^24) and computes in f32. */
static void emit_output_acc(mm_gen_t *g, LLVMValueRef acc, LLVMValueRef m, LLVMValueRef n,
                            unsigned lanes, LLVMValueRef mask) {
  qiao_cpu_codegen_t *cg = g->cg;
  if (!g->pk_i16) {
    emit_output(g, acc, m, n, lanes, mask);
    return;
  }
  if (g->kd->n_expr > 0 || g->ot != QIAO_I32) {
    emit_output(g, LLVMBuildSIToFP(g->b, acc, vf(g, lanes), ""), m, n, lanes, mask);
    return;
  }
  LLVMValueRef p =
      qiao_cg_elem_ptr(&cg->base, g->o, QIAO_I32, add(g, mul(g, m, c64(g, g->som)), n));
  if (!mask) {
    store_typed(g, acc, p, 4);
    return;
  }
  LLVMTypeRef tys[2] = {LLVMTypeOf(acc), cg->t_ptr};
  LLVMValueRef args[4] = {acc, p, c32(g, 4), mask};
  qiao_cg_call_intrinsic(&cg->base, "llvm.masked.store", tys, 2, args, 4);
}

/* ------------------------------------------------------------ entry prologue */

/* Binding pointers offset to this workgroup's batch (wg_z). */
static void emit_batch_bases(mm_gen_t *g, LLVMValueRef wz) {
  const qiao_kernel_desc_t *kd = g->kd;
  qiao_cpu_codegen_t *cg = g->cg;
  LLVMValueRef a_off = c64(g, 0), b_off = c64(g, 0), o_off = c64(g, 0);
  LLVMValueRef e_off[QIAO_KD_MAX_OPERANDS];
  for (int i = 0; i < kd->n_inputs; ++i)
    e_off[i] = c64(g, 0);
  LLVMValueRef z = wz;
  for (int d = g->nbd - 1; d >= 0; --d) {
    if (g->bdims[d] == 1) continue;
    LLVMValueRef c = LLVMBuildURem(g->b, z, c64(g, g->bdims[d]), "");
    z = LLVMBuildUDiv(g->b, z, c64(g, g->bdims[d]), "");
    a_off = add(g, a_off, mul(g, c, c64(g, g->a_bs[d])));
    b_off = add(g, b_off, mul(g, c, c64(g, g->b_bs[d])));
    o_off = add(g, o_off, mul(g, c, c64(g, g->o_bs[d])));
    for (int i = kd->n_primary_inputs; i < kd->n_inputs; ++i)
      e_off[i] = add(g, e_off[i], mul(g, c, c64(g, kd->inputs[i].out_strides[d])));
  }
  g->a = qiao_cg_elem_ptr(&cg->base, qiao_cpu_binding(cg, g->fn, 0), g->at, a_off);
  g->bb = qiao_cg_elem_ptr(&cg->base, qiao_cpu_binding(cg, g->fn, 1), g->bt, b_off);
  g->o = qiao_cg_elem_ptr(&cg->base, qiao_cpu_binding(cg, g->fn, kd->n_inputs), g->ot, o_off);
  for (int i = kd->n_primary_inputs; i < kd->n_inputs; ++i)
    g->e_base[i] = qiao_cg_elem_ptr(&cg->base, qiao_cpu_binding(cg, g->fn, i),
                                    kd->inputs[i].type.dtype, e_off[i]);
  if (kd->has_norm_prologue) {
    g->norm_w = qiao_cpu_binding(cg, g->fn, kd->norm_weight_input);
    g->norm_bias =
        kd->norm_bias_input >= 0 ? qiao_cpu_binding(cg, g->fn, kd->norm_bias_input) : NULL;
  }
}

/* ------------------------------------------------------------ GEMM packing */

/* Loads one "k-unit vector" of a row of an operand: VL 32-bit units starting at
 * unit ku0 of the current slice. f32 packing: VL k values as f32. bf16
 * packing: 2·VL k values as bf16, viewed as VL 32-bit pairs. `row` is the
 * element index of (row, k = kc0); kleft = valid k values left in the slice
 * from ku0 on; norm_slot: stats slot of the row (A with a prologue) or NULL. */
static LLVMValueRef load_units(mm_gen_t *g, LLVMValueRef base, qiao_dtype_t dt, LLVMValueRef row,
                               LLVMValueRef kglob, LLVMValueRef kleft, LLVMValueRef norm_slot,
                               int64_t rows, LLVMValueRef valid) {
  unsigned vl = g->vl;
  qiao_cpu_codegen_t *cg = g->cg;
  unsigned per = pk_pairs(g) ? 2 : 1;
  LLVMValueRef mask = lane_mask(g, c64(g, 0), kleft, vl * per);
  if (valid) mask = LLVMBuildAnd(g->b, mask, qiao_cg_splat(&cg->base, valid, vl * per), "");
  if (g->pk_bf16 && !norm_slot && dt == QIAO_BF16) {
    LLVMTypeRef vt = LLVMVectorType(cg->t_i16, vl * 2);
    LLVMValueRef p = qiao_cg_elem_ptr(&cg->base, base, dt, row);
    LLVMTypeRef tys[2] = {vt, cg->t_ptr};
    LLVMValueRef args[4] = {p, c32(g, 2), mask, LLVMConstNull(vt)};
    LLVMValueRef raw = qiao_cg_call_intrinsic(&cg->base, "llvm.masked.load", tys, 2, args, 4);
    return LLVMBuildBitCast(g->b, raw, vf(g, vl), "");
  }
  LLVMValueRef x = load_f32m(g, base, dt, row, vl * per, mask);
  if (norm_slot) x = apply_norm(g, x, norm_slot, rows, kglob, vl * per, mask);
  if (g->pk_i16) return i16_units(g, x, vl * 2);
  if (!g->pk_bf16) return x;
  /* f32 → bf16 bits (values are bf16-exact when they came from bf16 or a
   * bf16 norm) → pairs. */
  LLVMValueRef r = qiao_cg_round_f32(&cg->base, x, QIAO_BF16);
  LLVMTypeRef it = LLVMVectorType(cg->t_i32, vl * 2);
  r = LLVMBuildLShr(g->b, LLVMBuildBitCast(g->b, r, it, ""),
                    qiao_cg_splat(&cg->base, LLVMConstInt(cg->t_i32, 16, 0), vl * 2), "");
  r = LLVMBuildTrunc(g->b, r, LLVMVectorType(cg->t_i16, vl * 2), "");
  return LLVMBuildBitCast(g->b, r, vf(g, vl), "");
}

/* Packs `nstrips` strips of `width` rows (an operand whose K is contiguous:
 * A without transpose, B with transpose) for the current slice:
 * dst[strip][ku][width] (32-bit units). Rows at or beyond `row_limit` are zero.
 * row_stride: elements between rows; row0: first row index. */
static void pack_kcontig(mm_gen_t *g, LLVMValueRef dst, LLVMValueRef base, qiao_dtype_t dt,
                         int64_t row_stride, LLVMValueRef row0, LLVMValueRef row_limit,
                         LLVMValueRef nstrips, int width, LLVMValueRef kc0, LLVMValueRef kclen,
                         LLVMValueRef kulen, bool norm, LLVMValueRef slot0, int64_t rows) {
  unsigned vl = g->vl;
  unsigned per = pk_pairs(g) ? 2 : 1;
  qiao_cg_loop_t ls;
  qiao_cg_loop_begin(&g->cg->base, c64(g, 0), nstrips, 1, "pk_s", &ls);
  LLVMValueRef sdst = byte_gep(g, dst, mul(g, ls.iv, c64(g, g->KCUp * width * 4)));
  for (int grp = 0; grp < width; grp += (int)vl) {
    int rows_in = width - grp < (int)vl ? width - grp : (int)vl;
    qiao_cg_loop_t lk;
    qiao_cg_loop_begin(&g->cg->base, c64(g, 0), kulen, vl, "pk_k", &lk);
    LLVMValueRef kglob = add(g, kc0, mul(g, lk.iv, c64(g, per)));
    LLVMValueRef kleft = LLVMBuildSub(g->b, kclen, mul(g, lk.iv, c64(g, per)), "");
    LLVMValueRef v[MM_MAX_VL];
    for (int r = 0; r < (int)vl; ++r) {
      if (r >= rows_in) {
        v[r] = zero_f(g, vl);
        continue;
      }
      LLVMValueRef rl = add(g, mul(g, ls.iv, c64(g, width)), c64(g, grp + r));
      LLVMValueRef row = add(g, row0, rl);
      LLVMValueRef valid = LLVMBuildICmp(g->b, LLVMIntSLT, row, row_limit, "");
      LLVMValueRef rowc = LLVMBuildSelect(g->b, valid, row, c64(g, 0), "");
      LLVMValueRef idx = add(g, mul(g, rowc, c64(g, row_stride)), kglob);
      v[r] =
          load_units(g, base, dt, idx, kglob, kleft, norm ? add(g, slot0, rl) : NULL, rows, valid);
    }
    transpose_block(g, v, vl);
    for (int t = 0; t < (int)vl; ++t) {
      LLVMValueRef ku = add(g, lk.iv, c64(g, t));
      LLVMValueRef off = mul(g, add(g, mul(g, ku, c64(g, width)), c64(g, grp)), c64(g, 4));
      store_prefix(g, v[t], vl, (unsigned)rows_in, byte_gep(g, sdst, off));
    }
    qiao_cg_loop_end(&g->cg->base, &lk);
  }
  qiao_cg_loop_end(&g->cg->base, &ls);
}

/* Packs an operand whose packed-row index is contiguous in memory (B without
 * transpose, A with transpose): dst[strip][ku][width] from
 * src[k * k_stride + row]. */
static void pack_rowcontig(mm_gen_t *g, LLVMValueRef dst, LLVMValueRef base, qiao_dtype_t dt,
                           int64_t k_stride, LLVMValueRef row0, LLVMValueRef row_limit,
                           LLVMValueRef nstrips, int width, LLVMValueRef kc0, LLVMValueRef kclen,
                           LLVMValueRef kulen) {
  unsigned vl = g->vl;
  qiao_cpu_codegen_t *cg = g->cg;
  qiao_cg_loop_t lk;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), kulen, 1, "pr_k", &lk);
  LLVMValueRef k0 = add(g, kc0, mul(g, lk.iv, c64(g, pk_pairs(g) ? 2 : 1)));
  qiao_cg_loop_t ls;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), nstrips, 1, "pr_s", &ls);
  LLVMValueRef sdst = byte_gep(g, dst, mul(g, ls.iv, c64(g, g->KCUp * width * 4)));
  sdst = byte_gep(g, sdst, mul(g, lk.iv, c64(g, width * 4)));
  for (int grp = 0; grp < width; grp += (int)vl) {
    unsigned n = width - grp < (int)vl ? (unsigned)(width - grp) : vl;
    LLVMValueRef r0 = add(g, row0, add(g, mul(g, ls.iv, c64(g, width)), c64(g, grp)));
    LLVMValueRef mask = lane_mask(g, r0, row_limit, n);
    LLVMValueRef r0c = LLVMBuildSelect(g->b, LLVMBuildICmp(g->b, LLVMIntSLT, r0, row_limit, ""), r0,
                                       c64(g, 0), "");
    LLVMValueRef x0 = load_f32m(g, base, dt, add(g, mul(g, k0, c64(g, k_stride)), r0c), n, mask);
    LLVMValueRef out;
    if (!pk_pairs(g)) {
      out = x0;
    } else {
      LLVMValueRef k1 = add(g, k0, c64(g, 1));
      LLVMValueRef in = LLVMBuildICmp(g->b, LLVMIntSLT, LLVMBuildSub(g->b, k1, kc0, ""), kclen, "");
      LLVMValueRef mask1 = LLVMBuildAnd(g->b, mask, qiao_cg_splat(&cg->base, in, n), "");
      LLVMValueRef k1c = LLVMBuildSelect(g->b, in, k1, k0, "");
      LLVMValueRef x1 =
          load_f32m(g, base, dt, add(g, mul(g, k1c, c64(g, k_stride)), r0c), n, mask1);
      LLVMValueRef mm[2 * MM_MAX_VL];
      for (unsigned i = 0; i < n; ++i) {
        mm[2 * i] = c32(g, (int)i);
        mm[2 * i + 1] = c32(g, (int)(n + i));
      }
      LLVMValueRef il = LLVMBuildShuffleVector(g->b, x0, x1, LLVMConstVector(mm, 2 * n), "");
      if (g->pk_i16) {
        store_typed(g, i16_units(g, il, 2 * n), byte_gep(g, sdst, c64(g, grp * 4)), 4);
        continue;
      }
      LLVMValueRef r = qiao_cg_round_f32(&cg->base, il, QIAO_BF16);
      LLVMTypeRef it = LLVMVectorType(cg->t_i32, 2 * n);
      r = LLVMBuildLShr(g->b, LLVMBuildBitCast(g->b, r, it, ""),
                        qiao_cg_splat(&cg->base, LLVMConstInt(cg->t_i32, 16, 0), 2 * n), "");
      r = LLVMBuildTrunc(g->b, r, LLVMVectorType(cg->t_i16, 2 * n), "");
      out = LLVMBuildBitCast(g->b, r, vf(g, n), "");
    }
    store_typed(g, out, byte_gep(g, sdst, c64(g, grp * 4)), 4);
  }
  qiao_cg_loop_end(&cg->base, &ls);
  qiao_cg_loop_end(&cg->base, &lk);
}

/* ------------------------------------------------------------ microkernel */

/* One MR×NR microtile over `kulen` k-units of packed strips ap/bp. With
 * several K slices, cb is the tile's f32 partial sums in scratch and
 * first/last (i1) say whether this is the first/last slice. */
static void emit_microtile(mm_gen_t *g, LLVMValueRef ap, LLVMValueRef bp, LLVMValueRef kulen,
                           LLVMValueRef cb, LLVMValueRef first, LLVMValueRef last,
                           LLVMValueRef m_base, LLVMValueRef n_base, LLVMValueRef kc0) {
  qiao_cpu_codegen_t *cg = g->cg;
  unsigned vl = g->vl;
  int MR = g->MR, NJ = g->NR / (int)vl, na = MR * NJ;
  LLVMTypeRef vt = vf(g, vl), at = acc_type(g, vl);
  /* Unpacked A (ap == NULL): row i's elements at arows[i] + 4·k; rows past M
   * read row M-1 (their results are never stored). */
  LLVMValueRef arows[MM_MAX_ACC];
  if (!ap) {
    for (int i = 0; i < MR; ++i) {
      LLVMValueRef m = imin(g, add(g, m_base, c64(g, i)), c64(g, g->M - 1));
      arows[i] = f32_gep(g, g->a, add(g, mul(g, m, c64(g, g->sam)), kc0));
    }
  }
  LLVMValueRef acc[MM_MAX_ACC];
  LLVMValueRef masks[MM_MAX_ACC], ncol[MM_MAX_ACC];
  for (int j = 0; j < NJ; ++j) {
    ncol[j] = add(g, n_base, c64(g, (int64_t)j * vl));
    masks[j] = lane_mask(g, ncol[j], c64(g, g->N), vl);
  }
  for (int i = 0; i < na; ++i) {
    acc[i] = LLVMConstNull(at);
    if (cb) {
      LLVMValueRef ld = load_typed(g, at, byte_gep(g, cb, c64(g, (int64_t)i * vl * 4)), vl * 4);
      acc[i] = LLVMBuildSelect(g->b, first, LLVMConstNull(at), ld, "");
    }
  }
  if (g->direct && first) {
    /* Later K slices resume from the partial sums in the (f32) output. */
    LLVMBasicBlockRef pre = LLVMGetInsertBlock(g->b);
    LLVMBasicBlockRef merge = if_begin(g, LLVMBuildNot(g->b, first, ""), "resume");
    LLVMValueRef ld[MM_MAX_ACC];
    for (int i = 0; i < MR; ++i) {
      LLVMValueRef m = add(g, m_base, c64(g, i));
      LLVMValueRef ok = LLVMBuildICmp(g->b, LLVMIntSLT, m, c64(g, g->M), "");
      LLVMValueRef rs = LLVMBuildSelect(g->b, ok, m, c64(g, 0), "");
      LLVMValueRef okv = qiao_cg_splat(&cg->base, ok, vl);
      for (int j = 0; j < NJ; ++j) {
        LLVMValueRef idx = add(g, mul(g, rs, c64(g, g->som)), ncol[j]);
        ld[i * NJ + j] =
            load_f32m(g, g->o, QIAO_F32, idx, vl, LLVMBuildAnd(g->b, masks[j], okv, ""));
      }
    }
    LLVMBasicBlockRef then_end = LLVMGetInsertBlock(g->b);
    if_end(g, merge);
    for (int i = 0; i < na; ++i) {
      LLVMValueRef phi = LLVMBuildPhi(g->b, vt, "");
      LLVMValueRef vals[2] = {acc[i], ld[i]};
      LLVMBasicBlockRef bbs[2] = {pre, then_end};
      LLVMAddIncoming(phi, vals, bbs, 2);
      acc[i] = phi;
    }
  }
  LLVMTypeRef bf_vt = LLVMVectorType(cg->t_bf16, 2 * vl);
  const int U = 4;
  for (int pass = 0; pass < 2; ++pass) {
    int step = pass == 0 ? U : 1;
    LLVMValueRef lo, hi;
    LLVMValueRef kmain = LLVMBuildAnd(g->b, kulen, c64(g, ~(int64_t)(U - 1)), "");
    if (pass == 0)
      lo = c64(g, 0), hi = kmain;
    else
      lo = kmain, hi = kulen;
    mm_loop_t lp;
    loop_begin(g, &lp, lo, hi, step, pass == 0 ? "uk" : "uk_tail", na, acc);
    LLVMValueRef cur[MM_MAX_ACC];
    for (int i = 0; i < na; ++i)
      cur[i] = lp.phi[i];
    for (int u = 0; u < step; ++u) {
      LLVMValueRef ku = add(g, lp.l.iv, c64(g, u));
      LLVMValueRef brow = byte_gep(g, bp, mul(g, ku, c64(g, (int64_t)g->NR * 4)));
      LLVMValueRef arow = ap ? byte_gep(g, ap, mul(g, ku, c64(g, (int64_t)MR * 4))) : NULL;
      LLVMValueRef bv[MM_MAX_ACC];
      for (int j = 0; j < NJ; ++j) {
        bv[j] = load_typed(g, vt, byte_gep(g, brow, c64(g, (int64_t)j * vl * 4)), vl * 4);
        if (g->pk_bf16) bv[j] = LLVMBuildBitCast(g->b, bv[j], bf_vt, "");
      }
      for (int i = 0; i < MR; ++i) {
        LLVMValueRef s = load_typed(
            g, cg->t_f32, ap ? byte_gep(g, arow, c64(g, (int64_t)i * 4)) : f32_gep(g, arows[i], ku),
            4);
        LLVMValueRef av = qiao_cg_splat(&cg->base, s, vl);
        if (g->pk_bf16) av = LLVMBuildBitCast(g->b, av, bf_vt, "");
        for (int j = 0; j < NJ; ++j) {
          LLVMValueRef *c = &cur[i * NJ + j];
          if (g->pk_bf16) {
            LLVMValueRef args[3] = {*c, av, bv[j]};
            *c = qiao_cg_call_intrinsic(&cg->base, "llvm.x86.avx512bf16.dpbf16ps.512", NULL, 0,
                                        args, 3);
          } else if (g->pk_i16) {
            *c = madd_i16(g, av, bv[j], *c, vl);
          } else {
            *c = fma_v(g, av, bv[j], *c);
          }
        }
      }
    }
    loop_end(g, &lp, cur);
    for (int i = 0; i < na; ++i)
      acc[i] = lp.phi[i];
  }
  LLVMBasicBlockRef done = NULL;
  if (cb) {
    LLVMBasicBlockRef epi = LLVMAppendBasicBlockInContext(cg->ctx, g->fn, "epi");
    LLVMBasicBlockRef spill = LLVMAppendBasicBlockInContext(cg->ctx, g->fn, "spill");
    done = LLVMAppendBasicBlockInContext(cg->ctx, g->fn, "tile_done");
    LLVMBuildCondBr(g->b, last, epi, spill);
    LLVMPositionBuilderAtEnd(g->b, spill);
    for (int i = 0; i < na; ++i)
      store_typed(g, acc[i], byte_gep(g, cb, c64(g, (int64_t)i * vl * 4)), vl * 4);
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, epi);
  }
  for (int i = 0; i < MR; ++i) {
    LLVMValueRef m = add(g, m_base, c64(g, i));
    LLVMBasicBlockRef merge =
        if_begin(g, LLVMBuildICmp(g->b, LLVMIntSLT, m, c64(g, g->M), ""), "row");
    for (int j = 0; j < NJ; ++j)
      emit_output_acc(g, acc[i * NJ + j], m, ncol[j], vl, masks[j]);
    if_end(g, merge);
  }
  if (done) {
    LLVMBuildBr(g->b, done);
    LLVMPositionBuilderAtEnd(g->b, done);
  }
}

static int64_t align64(int64_t v) { return (v + 63) & ~(int64_t)63; }
static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
static int64_t rup(int64_t a, int64_t b) { return cdiv(a, b) * b; }

static void emit_gemm(mm_gen_t *g, uint64_t *out_scratch) {
  const qiao_kernel_desc_t *kd = g->kd;
  qiao_cpu_codegen_t *cg = g->cg;
  int64_t nkc = cdiv(g->K, g->KC);
  int64_t nbs = g->NB / g->NR; /* micro-panels per B block */
  int64_t ap_bytes = g->a_direct ? 0 : align64(g->MB * g->KCUp * 4),
          bp_bytes = align64(g->NB * g->KCUp * 4);
  bool use_cb = nkc > 1 && !g->direct;
  int64_t cb_bytes = use_cb ? align64(rup(g->MBO, g->MR) * g->NB * 4) : 0;
  int64_t st_bytes = kd->has_norm_prologue ? align64(2 * g->MBO * 8) : 0; /* f64 stats */
  *out_scratch = (uint64_t)(ap_bytes + bp_bytes + cb_bytes + st_bytes);

  LLVMValueRef wx = qiao_cpu_wg(cg, g->fn, 0), wy = qiao_cpu_wg(cg, g->fn, 1);
  emit_batch_bases(g, qiao_cpu_wg(cg, g->fn, 2));
  LLVMValueRef scr = qiao_cpu_scratch(cg, g->fn);
  LLVMValueRef ap = scr, bp = byte_gep(g, scr, c64(g, ap_bytes));
  LLVMValueRef cb = use_cb ? byte_gep(g, scr, c64(g, ap_bytes + bp_bytes)) : NULL;
  g->stats = byte_gep(g, scr, c64(g, ap_bytes + bp_bytes + cb_bytes));

  /* This workgroup: rows [mo0, mo0 + molen) × columns [n0, n0 + nlen). */
  LLVMValueRef mo0 = mul(g, wy, c64(g, g->MBO)), n0 = mul(g, wx, c64(g, g->NB));
  LLVMValueRef molen = imin(g, c64(g, g->MBO), LLVMBuildSub(g->b, c64(g, g->M), mo0, ""));
  LLVMValueRef nlen = imin(g, c64(g, g->NB), LLVMBuildSub(g->b, c64(g, g->N), n0, ""));
  LLVMValueRef nns = LLVMBuildUDiv(g->b, add(g, nlen, c64(g, g->NR - 1)), c64(g, g->NR), "");

  if (kd->has_norm_prologue) {
    qiao_cg_loop_t li;
    qiao_cg_loop_begin(&cg->base, c64(g, 0), molen, 1, "stats", &li);
    emit_row_stats(g, mul(g, add(g, mo0, li.iv), c64(g, g->sam)), li.iv, g->MBO);
    qiao_cg_loop_end(&cg->base, &li);
  }

  /* BLIS order: for each K slice pack the KC×NB block of B once (it stays in
   * L2), then walk all rows of the workgroup in MB blocks: pack A's MB×KC
   * block, and for each MR strip of it (the A micro-panel stays in L1) sweep
   * the B micro-panels. */
  qiao_cg_loop_t lkc;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), c64(g, g->K), g->KC, "kc", &lkc);
  LLVMValueRef kc0 = lkc.iv;
  LLVMValueRef kclen = imin(g, c64(g, g->KC), LLVMBuildSub(g->b, c64(g, g->K), kc0, ""));
  LLVMValueRef kulen =
      pk_pairs(g) ? LLVMBuildLShr(g->b, add(g, kclen, c64(g, 1)), c64(g, 1), "") : kclen;
  if (g->sbk == 1)
    pack_kcontig(g, bp, g->bb, g->bt, g->sbn, n0, c64(g, g->N), nns, g->NR, kc0, kclen, kulen,
                 false, NULL, 0);
  else
    pack_rowcontig(g, bp, g->bb, g->bt, g->sbk, n0, c64(g, g->N), nns, g->NR, kc0, kclen, kulen);
  LLVMValueRef first = NULL, last = NULL;
  if (nkc > 1) {
    first = LLVMBuildICmp(g->b, LLVMIntEQ, kc0, c64(g, 0), "");
    last = LLVMBuildICmp(g->b, LLVMIntSGE, add(g, kc0, c64(g, g->KC)), c64(g, g->K), "");
  }
  qiao_cg_loop_t lic;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), molen, g->MB, "ic", &lic);
  LLVMValueRef m0 = add(g, mo0, lic.iv);
  LLVMValueRef mlen = imin(g, c64(g, g->MB), LLVMBuildSub(g->b, molen, lic.iv, ""));
  LLVMValueRef nms = LLVMBuildUDiv(g->b, add(g, mlen, c64(g, g->MR - 1)), c64(g, g->MR), "");
  if (g->a_direct)
    ; /* the microkernel broadcasts straight from a's rows */
  else if (g->sak == 1)
    pack_kcontig(g, ap, g->a, g->at, g->sam, m0, c64(g, g->M), nms, g->MR, kc0, kclen, kulen,
                 kd->has_norm_prologue, lic.iv, g->MBO);
  else
    pack_rowcontig(g, ap, g->a, g->at, g->sak, m0, c64(g, g->M), nms, g->MR, kc0, kclen, kulen);
  qiao_cg_loop_t lm, ln;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), nms, 1, "ms", &lm);
  LLVMValueRef apan =
      g->a_direct ? NULL : byte_gep(g, ap, mul(g, lm.iv, c64(g, (int64_t)g->MR * g->KCUp * 4)));
  qiao_cg_loop_begin(&cg->base, c64(g, 0), nns, 1, "ns", &ln);
  LLVMValueRef bpan = byte_gep(g, bp, mul(g, ln.iv, c64(g, (int64_t)g->NR * g->KCUp * 4)));
  LLVMValueRef cbt = NULL;
  if (cb) {
    LLVMValueRef strip = add(g, LLVMBuildUDiv(g->b, lic.iv, c64(g, g->MR), ""), lm.iv);
    LLVMValueRef t = add(g, mul(g, strip, c64(g, nbs)), ln.iv);
    cbt = byte_gep(g, cb, mul(g, t, c64(g, (int64_t)g->MR * g->NR * 4)));
  }
  emit_microtile(g, apan, bpan, kulen, cbt, first, last, add(g, m0, mul(g, lm.iv, c64(g, g->MR))),
                 add(g, n0, mul(g, ln.iv, c64(g, g->NR))), kc0);
  qiao_cg_loop_end(&cg->base, &ln);
  qiao_cg_loop_end(&cg->base, &lm);
  qiao_cg_loop_end(&cg->base, &lic);
  qiao_cg_loop_end(&cg->base, &lkc);
  LLVMBuildRetVoid(g->b);
}

/* ------------------------------------------------------------ DOT (decode) */

static void emit_dot_block(mm_gen_t *g, LLVMValueRef as, int64_t kp, LLVMValueRef n, int R) {
  qiao_cpu_codegen_t *cg = g->cg;
  unsigned vl = g->vl;
  int M = (int)g->M, na = M * R;
  LLVMValueRef acc[MM_MAX_ACC];
  for (int i = 0; i < na; ++i)
    acc[i] = zero_f(g, vl);
  int64_t kmain = g->K / vl * vl;
  LLVMValueRef rowi[MM_MAX_ACC];
  for (int r = 0; r < R; ++r)
    rowi[r] = mul(g, add(g, n, c64(g, r)), c64(g, g->sbn));
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1 && kmain == g->K) break;
    mm_loop_t lp;
    LLVMValueRef lo = c64(g, pass == 0 ? 0 : kmain), hi = c64(g, pass == 0 ? kmain : g->K);
    loop_begin(g, &lp, lo, hi, vl, pass == 0 ? "dk" : "dk_tail", na, acc);
    LLVMValueRef k = lp.l.iv;
    LLVMValueRef mask = pass == 1 ? lane_mask(g, k, c64(g, g->K), vl) : NULL;
    LLVMValueRef cur[MM_MAX_ACC], av[8];
    for (int m = 0; m < M; ++m)
      av[m] = load_typed(g, vf(g, vl), f32_gep(g, as, add(g, k, c64(g, m * kp))), vl * 4);
    for (int r = 0; r < R; ++r) {
      LLVMValueRef bv = load_f32m(g, g->bb, g->bt, add(g, rowi[r], k), vl, mask);
      for (int m = 0; m < M; ++m)
        cur[m * R + r] = fma_v(g, av[m], bv, lp.phi[m * R + r]);
    }
    loop_end(g, &lp, cur);
    for (int i = 0; i < na; ++i)
      acc[i] = lp.phi[i];
  }
  for (int m = 0; m < M; ++m)
    for (int r = 0; r < R; ++r)
      emit_output(g, qiao_cg_reduce_add(&cg->base, acc[m * R + r]), c64(g, m), add(g, n, c64(g, r)),
                  1, NULL);
}

static void emit_dot(mm_gen_t *g, uint64_t *out_scratch) {
  const qiao_kernel_desc_t *kd = g->kd;
  qiao_cpu_codegen_t *cg = g->cg;
  unsigned vl = g->vl;
  int64_t kp = rup(g->K, vl);
  int64_t as_bytes = align64(g->M * kp * 4);
  *out_scratch = (uint64_t)(as_bytes + align64(2 * g->M * 8)); /* + f64 stats */
  LLVMValueRef wx = qiao_cpu_wg(cg, g->fn, 0);
  emit_batch_bases(g, qiao_cpu_wg(cg, g->fn, 2));
  LLVMValueRef as = qiao_cpu_scratch(cg, g->fn);
  g->stats = byte_gep(g, as, c64(g, as_bytes));
  /* a's rows → scratch as f32 (normalized), zero-padded to kp. */
  for (int m = 0; m < (int)g->M; ++m) {
    LLVMValueRef row = c64(g, m * g->sam);
    if (kd->has_norm_prologue) emit_row_stats(g, row, c64(g, m), g->M);
    if (g->sak == 1) {
      qiao_cg_loop_t lk;
      qiao_cg_loop_begin(&cg->base, c64(g, 0), c64(g, kp), vl, "acopy", &lk);
      LLVMValueRef mask = lane_mask(g, lk.iv, c64(g, g->K), vl);
      LLVMValueRef x = load_f32m(g, g->a, g->at, add(g, row, lk.iv), vl, mask);
      x = apply_norm(g, x, c64(g, m), g->M, lk.iv, vl, mask);
      if (!kd->has_norm_prologue) x = qiao_cg_round_f32(&cg->base, x, g->a_eff);
      store_typed(g, x, f32_gep(g, as, add(g, lk.iv, c64(g, m * kp))), vl * 4);
      qiao_cg_loop_end(&cg->base, &lk);
    } else {
      store_typed(g, zero_f(g, vl), f32_gep(g, as, c64(g, m * kp + kp - vl)), vl * 4);
      qiao_cg_loop_t lk;
      qiao_cg_loop_begin(&cg->base, c64(g, 0), c64(g, g->K), 1, "acopy", &lk);
      LLVMValueRef x =
          qiao_cg_load_f32(&cg->base, g->a, g->at, add(g, row, mul(g, lk.iv, c64(g, g->sak))), 1);
      store_typed(g, x, f32_gep(g, as, add(g, lk.iv, c64(g, m * kp))), 4);
      qiao_cg_loop_end(&cg->base, &lk);
    }
  }
  LLVMValueRef n0 = mul(g, wx, c64(g, g->dot_nch));
  LLVMValueRef nend = imin(g, add(g, n0, c64(g, g->dot_nch)), c64(g, g->N));
  int R = (int)g->dot_r;
  /* blocks of R rows, then single rows */
  for (qiao_cg_vloop_t vn = qiao_cg_vloop_start_dyn(n0, nend, R, "dn");
       qiao_cg_vloop_next(&cg->base, &vn);)
    emit_dot_block(g, as, kp, vn.i, (int)vn.lanes);
  LLVMBuildRetVoid(g->b);
}

/* ------------------------------------------------------------ K = 0 */

/* An empty sum: every output is the epilogue applied to 0. One workgroup per
 * row (grid y) and batch (grid z). */
static void emit_zero_k(mm_gen_t *g, qiao_cpu_kernel_t *out) {
  qiao_cpu_codegen_t *cg = g->cg;
  unsigned vl = g->vl;
  out->grid[0] = 1;
  out->grid[1] = g->M;
  out->grid[2] = g->batch;
  out->scratch_bytes = 0;
  emit_batch_bases(g, qiao_cpu_wg(cg, g->fn, 2));
  LLVMValueRef m = qiao_cpu_wg(cg, g->fn, 1);
  qiao_cg_loop_t ln;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), c64(g, g->N), vl, "zn", &ln);
  emit_output_acc(g, LLVMConstNull(acc_type(g, vl)), m, ln.iv, vl,
                  lane_mask(g, ln.iv, c64(g, g->N), vl));
  qiao_cg_loop_end(&cg->base, &ln);
  LLVMBuildRetVoid(g->b);
}

/* ------------------------------------------------------------ planning */

/* Operands: any float dtype (f8 converts to f32 while packing) and i8 (i8 x i8
 * runs the integer path: i16 pairs, i32 accumulators; i8 with a float is
 * exact in f32). Outputs: any dtype (a fused epilogue may cast to f8,
 * integers or bool). */
static bool mm_dtype_ok(qiao_dtype_t dt) { return qiao_dtype_is_float(dt) || dt == QIAO_I8; }
static bool mm_out_dtype_ok(qiao_dtype_t dt) { return (int)dt >= 0 && dt < QIAO_DTYPE_COUNT; }

/* Batch stride of operand `op` for output batch dim d (right-aligned). */
static void plan_gemm(mm_gen_t *g, int64_t grid[3]) {
  const qiao_kernel_desc_t *kd = g->kd;
  qiao_cpu_codegen_t *cg = g->cg;
  int64_t threads = cg->n_threads > 0 ? cg->n_threads : 1;
  int per = pk_pairs(g) ? 2 : 1;
  /* Microtile candidates (24 accumulators on AVX-512), K slice, B block. */
  int cand[2][2] = {{6, 64}, {8, 48}};
  int ncand = 2;
  if (g->vl == 8)
    cand[0][0] = 6, cand[0][1] = 16, ncand = 1;
  else if (g->vl != 16)
    cand[0][0] = 8, cand[0][1] = 12, ncand = 1;
  int64_t kcu_max = 1024, mb_max = 144, nb_max = 1024;
  int64_t ku = cdiv(g->K, per);
  int64_t nkc = cdiv(ku, kcu_max);
  g->KCU = rup(cdiv(ku, nkc), 16);
  g->KC = g->KCU * per;
  g->KCUp = rup(g->KCU, g->vl);
  g->a_direct = g->at == QIAO_F32 && g->sak == 1 && !kd->has_norm_prologue && !g->pk_bf16;
  g->direct = nkc > 1 && g->ot == QIAO_F32 && kd->n_expr <= 0 && kd->primary_dtype == QIAO_F32;
  /* Pick (MR, NR, NB): minimize the padded work of the busiest thread, plus a
   * per-workgroup charge for re-packing A (~16 columns' worth). Workgroups
   * split N; M is split only when N and the batch give too few of them. */
  double best = -1;
  for (int c = 0; c < ncand; ++c) {
    int mr = cand[c][0], nr = cand[c][1];
    int64_t strips = cdiv(g->N, nr), cap = nb_max;
    if (threads > 1) {
      /* ~4 workgroups per thread (a late-waking worker still gets a share),
       * but B blocks of at least two micro-panels. */
      int64_t want = cdiv(4 * threads, g->batch);
      int64_t c4 = rup(cdiv(g->N, want), nr);
      if (c4 < 2 * nr) c4 = 2 * nr;
      if (c4 < cap) cap = c4;
    }
    for (int64_t nt = 1; nt <= strips; ++nt) {
      int64_t nb = rup(cdiv(g->N, nt), nr);
      if (nb > cap && nt < strips) continue;
      int64_t ntr = cdiv(g->N, nb), mt = 1;
      if (ntr * g->batch < threads) mt = threads;
      int64_t mbo = rup(cdiv(g->M, mt), mr);
      mt = cdiv(g->M, mbo);
      int64_t rounds = cdiv(ntr * mt * g->batch, threads);
      double cost = (double)rounds * (double)(nb + 16) * (double)mbo;
      if (best < 0 || cost < best * 0.999) {
        best = cost;
        g->MR = mr, g->NR = nr, g->NB = nb, g->MBO = mbo;
      }
    }
  }
  if (!g->direct && nkc > 1 && g->MBO > 4 * rup(mb_max, g->MR))
    g->MBO = 4 * rup(mb_max, g->MR); /* bounds the f32 partial-sum tile in scratch */
  g->MB = g->MBO < rup(mb_max, g->MR) ? g->MBO : rup(mb_max, g->MR);
  grid[0] = cdiv(g->N, g->NB);
  grid[1] = cdiv(g->M, g->MBO);
  grid[2] = g->batch;
}

qiao_status_t qiao_cpu_lower_matmul(qiao_cpu_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                    const char *name, qiao_cpu_kernel_t *out) {
  if (kd->kind != QIAO_KD_MATMUL || kd->n_inputs < 2 || kd->n_outputs < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: not a matmul descriptor", name);
  mm_gen_t g0;
  memset(&g0, 0, sizeof g0);
  mm_gen_t *g = &g0;
  g->cg = cg;
  g->kd = kd;
  g->b = cg->b;
  g->vl = cg->vec_f32 >= 16 ? 16 : cg->vec_f32 >= 8 ? 8 : 4;
  const qiao_kd_operand_t *A = &kd->inputs[0], *B = &kd->inputs[1], *O = &kd->outputs[0];
  QIAO_RETURN_IF_ERROR(qiao_cg_mm_geometry(kd, name, &g->geo));
  int r = O->type.shape.rank;
  g->at = A->type.dtype, g->bt = B->type.dtype, g->ot = O->type.dtype;
  if (!mm_dtype_ok(g->at) || !mm_dtype_ok(g->bt) || !mm_out_dtype_ok(g->ot))
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: matmul on %s x %s -> %s", name,
                            qiao_dtype_name(g->at), qiao_dtype_name(g->bt), qiao_dtype_name(g->ot));
  bool ta = kd->attrs.transpose_a;
  if (O->strides[r - 1] != 1 || (g->sak != 1 && g->sam != 1) || (g->sbk != 1 && g->sbn != 1))
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: matmul operands need a unit inner stride", name);
  if (kd->has_norm_prologue && (ta || g->sak != 1))
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: norm prologue on a transposed a", name);
  g->a_eff = kd->has_norm_prologue ? kd->norm_dtype : g->at;
  g->pk_bf16 = cg->has_avx512bf16 && g->vl == 16 && g->a_eff == QIAO_BF16 && g->bt == QIAO_BF16;
  g->pk_i16 = g->a_eff == QIAO_I8 && g->bt == QIAO_I8;

  g->fn = qiao_cpu_entry_begin(cg, name);
  out->fn = g->fn;
  if (g->M == 0 || g->N == 0 || g->batch == 0) {
    /* Empty output: nothing to do. */
    out->grid[0] = out->grid[1] = out->grid[2] = 1;
    out->scratch_bytes = 0;
    LLVMBuildRetVoid(g->b);
    return NULL;
  }
  if (g->K == 0) {
    emit_zero_k(g, out);
    return NULL;
  }
  bool dot = g->M <= 8 && g->sbk == 1 && !g->pk_i16;
  if (dot) {
    int threads = cg->n_threads > 0 ? cg->n_threads : 1;
    /* M×R accumulators in ~3/4 of the vector registers. */
    int64_t budget = cg->n_vregs >= 32 ? 24 : 12;
    g->dot_r = budget / g->M < 1 ? 1 : budget / g->M > 8 ? 8 : budget / g->M;
    int64_t want = 8 * threads;
    int64_t nch = rup(cdiv(g->N, want), g->dot_r);
    if (nch < 4 * g->dot_r) nch = 4 * g->dot_r;
    g->dot_nch = nch;
    out->grid[0] = cdiv(g->N, nch);
    out->grid[1] = 1;
    out->grid[2] = g->batch;
    emit_dot(g, &out->scratch_bytes);
  } else {
    plan_gemm(g, out->grid);
    emit_gemm(g, &out->scratch_bytes);
  }
  return NULL;
}
