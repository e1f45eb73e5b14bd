/* CUDA backend — MATMUL kernels (batched, transpose_a/b, broadcast batch
 * dims, fused epilogue).
 *
 * SIMT tiled GEMM, register-blocked. The CTA computes a BM×BN tile of one
 * batch's output with (BM/TM)·(BN/TN) threads, each owning a TM×TN block of
 * accumulators at rows ty + i·(BM/TM), columns tx + j·(BN/TN) (so a warp's
 * stores of one (i, j) are consecutive columns: coalesced). K is walked in
 * BK slices: every thread loads (BM·BK)/threads elements of A and
 * (BN·BK)/threads of B from global memory — consecutive threads take
 * consecutive addresses along whichever of the operand's dims is contiguous
 * (coalesced for either transpose) — converts them (f16/bf16/f8 widened to
 * f32; i8 sign-extended to i32) and stores them k-major into shared memory
 * (rows padded by one element so the transposing stores are free of bank
 * conflicts); bar.sync; BK unrolled steps of TM + TN shared loads and TM·TN
 * fused multiply-adds; bar.sync. Out-of-range rows, columns and k are
 * zero-filled, so any M, N, K works (K = 0 gives the epilogue of 0).
 * Accumulation: f32 (fma) for float operands. (i8 × i8, f16 × f16 and
 * bf16 × bf16 take the tensor-core GEMM below instead.) After the last slice each in-range
 * accumulator goes through the fused epilogue (integer and bool nodes
 * through expr_int.c) and is stored.
 * Tiles are walked CTA-stride over batch × M tiles × N tiles (any grid is
 * correct; the recorded grid is min(tiles, 32 × SMs)). */
#include <stdio.h>
#include <string.h>

#include "common/mm_geometry.h"
#include "cuda/codegen.h"

/* Tile configuration of the SIMT GEMM (a parameter of the lowering). */
typedef struct qiao_cuda_mm_tile {
  int32_t bm, bn, bk; /* CTA tile: BM×BN outputs, K slices of BK */
  int32_t tm, tn;     /* per-thread register block */
} qiao_cuda_mm_tile_t;

static const qiao_cuda_mm_tile_t k_mm_tile_default = {64, 64, 16, 4, 4};

#define MM_MAX_T 8

static int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

typedef struct mm {
  qiao_cuda_codegen_t *cg;
  const qiao_kernel_desc_t *kd;
  qiao_cuda_mm_tile_t t;
  int32_t threads;
  bool is_int;
  LLVMTypeRef et; /* shared element type: f32 or i32 */
  union {         /* the shared matmul geometry, its fields by name */
    qiao_cg_mm_geo_t geo;
    struct {
      QIAO_CG_MM_GEO_FIELDS
    };
  };
} mm_t;

/* Element idx = tid + i·threads of a tile staged with `fast` elements per
 * run: f = idx % fast, s = idx / fast. When threads is a multiple of fast
 * (the defaults), f = tid % fast and s = tid / fast + i·threads/fast, so the
 * addresses of one thread's elements differ by constants (folded into the
 * loads' immediate offsets instead of one live register each). */
static void split_idx(qiao_cuda_codegen_t *cg, LLVMValueRef tid, int64_t i, int64_t threads,
                      int64_t fast, LLVMValueRef *f, LLVMValueRef *s) {
  qiao_cg_t *cb = &cg->base;
  if (threads % fast == 0) {
    *f = LLVMBuildURem(cg->b, tid, qiao_cg_i64(cb, fast), "");
    *s = qiao_cg_iadd(cb, LLVMBuildUDiv(cg->b, tid, qiao_cg_i64(cb, fast), ""),
                      qiao_cg_i64(cb, i * (threads / fast)));
    return;
  }
  LLVMValueRef idx = LLVMBuildAdd(cg->b, tid, qiao_cg_i64(cb, i * threads), "");
  *f = LLVMBuildURem(cg->b, idx, qiao_cg_i64(cb, fast), "");
  *s = LLVMBuildUDiv(cg->b, idx, qiao_cg_i64(cb, fast), "");
}

static LLVMValueRef c64(mm_t *g, int64_t v) { return qiao_cg_i64(&g->cg->base, v); }

/* Loads the operand element at base[off] (guarded by `in`) as f32/i32, 0
 * outside, and stores it into smem[sidx]. */
static void stage(mm_t *g, LLVMValueRef base, qiao_dtype_t dt, LLVMValueRef off, LLVMValueRef in,
                  LLVMValueRef smem, int64_t n_smem, LLVMValueRef sidx) {
  qiao_cuda_codegen_t *cg = g->cg;
  LLVMValueRef slot = qiao_cuda_alloca(cg, g->et, "stg");
  LLVMValueRef zero = g->is_int ? LLVMConstInt(cg->t_i32, 0, 0) : qiao_cg_f32c(&cg->base, 0.0);
  LLVMBuildStore(cg->b, zero, slot);
  LLVMBasicBlockRef cont = qiao_cg_if(&cg->base, in, "ld");
  LLVMValueRef v;
  if (g->is_int) {
    LLVMValueRef l =
        LLVMBuildLoad2(cg->b, cg->t_i8, qiao_cg_elem_ptr(&cg->base, base, dt, off), "");
    v = LLVMBuildSExt(cg->b, l, cg->t_i32, "");
  } else {
    v = qiao_cg_load_f32(&cg->base, base, dt, off, 1);
  }
  LLVMBuildStore(cg->b, v, slot);
  qiao_cg_endif(&cg->base, cont);
  LLVMValueRef idx[2] = {c64(g, 0), sidx};
  LLVMValueRef p =
      LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(g->et, (uint64_t)n_smem), smem, idx, 2, "");
  LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, g->et, slot, ""), p);
}

static LLVMValueRef sload(mm_t *g, LLVMValueRef smem, int64_t n_smem, LLVMValueRef sidx) {
  qiao_cuda_codegen_t *cg = g->cg;
  LLVMValueRef idx[2] = {c64(g, 0), sidx};
  LLVMValueRef p =
      LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(g->et, (uint64_t)n_smem), smem, idx, 2, "");
  return LLVMBuildLoad2(cg->b, g->et, p, "");
}

/* ------------------------------------------------------------ tensor cores */

/* Tile configuration of the tensor-core GEMM. */
typedef struct qiao_cuda_mma_tile {
  int32_t bm, bn, bk; /* CTA tile, K slice (multiple of 16) */
  int32_t wm, wn;     /* warp tile: (wm/16)·(wn/8) mma.m16n8k16 per k16 step */
} qiao_cuda_mma_tile_t;

static const qiao_cuda_mma_tile_t k_mma_tile_default = {64, 64, 32, 32, 32};
/* Fragments through ldmatrix.x4 (true) or 32-bit shared loads (false). */
static const bool k_mma_ldmatrix = true;
/* Double-buffered K slices with cp.async where the operand allows (true) or one stage. */
static const bool k_mma_pipeline = true;
/* i8 × i8: K slices of 64 bytes (two m16n8k32 steps), the same 80-byte padded rows. */
static const qiao_cuda_mma_tile_t k_mma_tile_i8 = {64, 64, 64, 32, 32};

#define MMA_MAX_MT 4
#define MMA_MAX_NT 8

/* Stages one 16-bit (et = i16) or 8-bit (et = i8) element (zero bits outside)
 * into smem[sidx]. */
static void stage_bits(qiao_cuda_codegen_t *cg, LLVMTypeRef et, LLVMValueRef base, LLVMValueRef off,
                       LLVMValueRef in, LLVMValueRef smem, int64_t n_smem, LLVMValueRef sidx) {
  LLVMValueRef slot = qiao_cuda_alloca(cg, et, "stg16");
  LLVMBuildStore(cg->b, LLVMConstInt(et, 0, 0), slot);
  LLVMBasicBlockRef cont = qiao_cg_if(&cg->base, in, "ld");
  LLVMValueRef p = LLVMBuildGEP2(cg->b, et, base, &off, 1, "");
  LLVMValueRef l = LLVMBuildLoad2(cg->b, et, p, "");
  LLVMSetAlignment(l, et == cg->t_i8 ? 1 : 2);
  LLVMBuildStore(cg->b, l, slot);
  qiao_cg_endif(&cg->base, cont);
  LLVMValueRef idx[2] = {qiao_cg_i64(&cg->base, 0), sidx};
  LLVMValueRef d =
      LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(et, (uint64_t)n_smem), smem, idx, 2, "");
  LLVMBuildStore(cg->b, LLVMBuildLoad2(cg->b, et, slot, ""), d);
}

/* The 32 bits at element sidx of a shared array of et (i16: the pair
 * smem[sidx], smem[sidx + 1], sidx even; i8: four bytes, sidx % 4 == 0). */
static LLVMValueRef pair32(qiao_cuda_codegen_t *cg, LLVMTypeRef et, LLVMValueRef smem,
                           int64_t n_smem, LLVMValueRef sidx) {
  LLVMValueRef idx[2] = {qiao_cg_i64(&cg->base, 0), sidx};
  LLVMValueRef p =
      LLVMBuildInBoundsGEP2(cg->b, LLVMArrayType2(et, (uint64_t)n_smem), smem, idx, 2, "");
  LLVMValueRef l = LLVMBuildLoad2(cg->b, cg->t_i32, p, "");
  LLVMSetAlignment(l, 4);
  return l;
}

/* An inline-PTX statement without operands (cp.async.commit_group, ...). */
static void emit_asm0(qiao_cuda_codegen_t *cg, const char *text) {
  LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(cg->ctx), NULL, 0, 0);
  LLVMValueRef asmv = LLVMGetInlineAsm(fty, (char *)text, strlen(text), "~{memory}",
                                       strlen("~{memory}"), 1, 0, LLVMInlineAsmDialectATT, 0);
  LLVMBuildCall2(cg->b, fty, asmv, NULL, 0, "");
}

/* cp.async.ca.shared.global [dst], [src], bytes, src_bytes: copies src_bytes (0: none, the
 * destination zero-filled) of global src into the shared dst asynchronously. */
static void emit_cp_async(qiao_cuda_codegen_t *cg, int bytes, LLVMValueRef dst32,
                          LLVMValueRef src64, LLVMValueRef src_bytes32) {
  LLVMTypeRef pt[3] = {cg->t_i32, cg->t_i64, cg->t_i32};
  LLVMTypeRef fty = LLVMFunctionType(LLVMVoidTypeInContext(cg->ctx), pt, 3, 0);
  char text[96];
  snprintf(text, sizeof text, "cp.async.ca.shared.global [$0], [$1], %d, $2;", bytes);
  const char *cons = "r,l,r,~{memory}";
  LLVMValueRef asmv = LLVMGetInlineAsm(fty, text, strlen(text), (char *)cons, strlen(cons), 1, 0,
                                       LLVMInlineAsmDialectATT, 0);
  LLVMValueRef args[3] = {dst32, src64, src_bytes32};
  LLVMBuildCall2(cg->b, fty, asmv, args, 3, "");
}

/* ldmatrix.sync.aligned.m8n8.x4.shared.b16 {r0..r3}, [addr] through inline PTX: lanes
 * 8m .. 8m+7 give the shared addresses of the 16-byte rows of matrix m; lane l
 * receives 32 bits of row l/4 (bytes 4·(l%4) ..) of each matrix. The 16-byte rows
 * match both mma layouts used here: the f16/bf16 m16n8k16 fragments (a pair of
 * 16-bit k) and the s8 m16n8k32 ones (four bytes of k). */
static void emit_ldmatrix_x4(qiao_cuda_codegen_t *cg, LLVMValueRef addr32, LLVMValueRef r[4]) {
  LLVMTypeRef i32 = cg->t_i32;
  LLVMTypeRef rt_el[4] = {i32, i32, i32, i32};
  LLVMTypeRef rt = LLVMStructTypeInContext(cg->ctx, rt_el, 4, 0);
  LLVMTypeRef fty = LLVMFunctionType(rt, &i32, 1, 0);
  const char *text = "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {$0,$1,$2,$3}, [$4];";
  const char *cons = "=r,=r,=r,=r,r";
  LLVMValueRef asmv = LLVMGetInlineAsm(fty, (char *)text, strlen(text), (char *)cons, strlen(cons),
                                       1, 0, LLVMInlineAsmDialectATT, 0);
  LLVMValueRef v = LLVMBuildCall2(cg->b, fty, asmv, &addr32, 1, "");
  for (unsigned i = 0; i < 4; ++i)
    r[i] = LLVMBuildExtractValue(cg->b, v, i, "");
}

/* What staging one K slice of an operand into shared memory needs. */
typedef struct mma_stage {
  qiao_cuda_codegen_t *cg;
  LLVMTypeRef et;
  int64_t esz, ld;
  int32_t threads;
  int64_t bk;
  LLVMValueRef tid;
  LLVMValueRef base[2], smem[2];
  int64_t n_smem[2]; /* elements of one buffer */
  LLVMValueRef smem32[2];
  int64_t rows[2], srow[2], sk[2];
  LLVMValueRef r0[2], lim[2], off0[2];
  LLVMValueRef K;
  int nbuf;
  int cpa[2];
} mma_stage_t;

/* Stages slice [k0, k0 + bk) of operand op (0: A rows m, 1: B rows n) into buffer buf (an i64
 * 0 or 1) as smem[buf][row][k]: coalesced along the operand's contiguous dim through registers,
 * or by cp.async chunks of cpa[op] bytes along k. */
static void mma_stage_slice(const mma_stage_t *s, int op, LLVMValueRef k0, LLVMValueRef buf) {
  qiao_cuda_codegen_t *cg = s->cg;
  LLVMBuilderRef b = cg->b;
  qiao_cg_t *cb = &cg->base;
  int64_t rows_t = s->rows[op], srow = s->srow[op], sk = s->sk[op];
  LLVMValueRef lim = s->lim[op], r0 = s->r0[op], off0 = s->off0[op];
  LLVMValueRef boff = LLVMBuildMul(b, buf, qiao_cg_i64(cb, s->n_smem[op]), "");
  if (s->cpa[op]) {
    int64_t per = s->cpa[op] / s->esz, runs = s->bk / per;
    for (int64_t i = 0; i < rows_t * s->bk / per / s->threads; ++i) {
      LLVMValueRef f, q;
      split_idx(cg, s->tid, i, s->threads, runs, &f, &q);
      LLVMValueRef kk = LLVMBuildMul(b, f, qiao_cg_i64(cb, per), ""), rr = q;
      LLVMValueRef gr = LLVMBuildAdd(b, r0, rr, ""), gk = LLVMBuildAdd(b, k0, kk, "");
      LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, gr, lim, ""),
                                     LLVMBuildICmp(b, LLVMIntSLT, gk, s->K, ""), "");
      LLVMValueRef off = qiao_cg_imadd(cb, qiao_cg_imadd(cb, off0, gr, srow), gk, 1);
      off = LLVMBuildSelect(b, in, off, qiao_cg_i64(cb, 0), ""); /* a valid address when unused */
      LLVMValueRef src = LLVMBuildAdd(b, LLVMBuildPtrToInt(b, s->base[op], cg->t_i64, ""),
                                      LLVMBuildMul(b, off, qiao_cg_i64(cb, s->esz), ""), "");
      LLVMValueRef sidx = LLVMBuildAdd(b, boff, qiao_cg_imadd(cb, kk, rr, s->ld), "");
      LLVMValueRef dst = LLVMBuildAdd(
          b, s->smem32[op],
          LLVMBuildTrunc(b, LLVMBuildMul(b, sidx, qiao_cg_i64(cb, s->esz), ""), cg->t_i32, ""), "");
      LLVMValueRef n = LLVMBuildSelect(b, in, LLVMConstInt(cg->t_i32, (uint64_t)s->cpa[op], 0),
                                       LLVMConstInt(cg->t_i32, 0, 0), "");
      emit_cp_async(cg, s->cpa[op], dst, src, n);
    }
    return;
  }
  bool kfast = sk == 1 || srow != 1;
  for (int64_t i = 0; i < rows_t * s->bk / s->threads; ++i) {
    int64_t fast = kfast ? s->bk : rows_t;
    LLVMValueRef f, q;
    split_idx(cg, s->tid, i, s->threads, fast, &f, &q);
    LLVMValueRef kk = kfast ? f : q, rr = kfast ? q : f;
    LLVMValueRef gr = LLVMBuildAdd(b, r0, rr, ""), gk = LLVMBuildAdd(b, k0, kk, "");
    LLVMValueRef in = LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, gr, lim, ""),
                                   LLVMBuildICmp(b, LLVMIntSLT, gk, s->K, ""), "");
    LLVMValueRef off = qiao_cg_imadd(cb, qiao_cg_imadd(cb, off0, gr, srow), gk, sk);
    stage_bits(cg, s->et, s->base[op], off, in, s->smem[op], s->nbuf * s->n_smem[op],
               LLVMBuildAdd(b, boff, qiao_cg_imadd(cb, kk, rr, s->ld), ""));
  }
}

/* Tensor-core GEMM for f16×f16 and bf16×bf16 (f32 accumulators) and i8×i8
 * (mma.sync m16n8k32 .s8, s32 accumulators without .satfinite: they wrap
 * mod 2^32 exactly as the interpreter's i32 sums do; the i8 tile takes K
 * slices of 64 bytes, two k32 steps, with A element (row, k) of the ISA's
 * m16n8k32 layout at row lane/4 (+8), k (lane%4)·4 + 0..3 (+16) — four
 * bytes of a padded shared row per register — and B likewise along k). The CTA
 * tile BM×BN with (BM/WM)·(BN/WN) warps; per K slice of BK, A is staged
 * into shared memory as As[m][k] and B as Bs[n][k] (16-bit bits, rows padded
 * by 8 elements so the fragment loads are conflict-free; zero bits outside
 * M, N, K), coalesced along each operand's contiguous dim; then for each k16
 * step every warp loads its A fragments (a0..a7 of the PTX ISA m16n8k16
 * layout: row = lane/4 (+8), k = (lane%4)·2 (+1) (+8)) and B fragments
 * (k = (lane%4)·2 (+1) (+8), n = lane/4) as 32-bit pairs from shared
 * memory and issues (WM/16)·(WN/8) mma.sync. Accumulator c0..c3 of a tile
 * sits at row lane/4 (+8 for c2, c3), column (lane%4)·2 (+1). */
static qiao_status_t lower_mma(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                               const char *name, qiao_cuda_kernel_t *out, const mm_t *g, int nbd,
                               const int64_t *bdims, const int64_t *a_bs, const int64_t *b_bs,
                               int64_t batch) {
  const qiao_kd_operand_t *A = &kd->inputs[0], *O = &kd->outputs[0];
  bool is_int = g->is_int;
  const qiao_cuda_mma_tile_t t = is_int ? k_mma_tile_i8 : k_mma_tile_default;
  int r = O->type.shape.rank;
  qiao_cuda_mma_in_t kind = is_int                       ? QIAO_CUDA_MMA_S8
                            : A->type.dtype == QIAO_BF16 ? QIAO_CUDA_MMA_BF16
                                                         : QIAO_CUDA_MMA_F16;
  /* per mma: k16 (f16/bf16, 2 bytes) or k32 (s8, 1 byte); a register holds 32 bits of k */
  int64_t kstep = is_int ? 32 : 16, khi = is_int ? 16 : 8, kpl = is_int ? 4 : 2;
  LLVMTypeRef et = is_int ? cg->t_i8 : cg->t_i16, acc_t = is_int ? cg->t_i32 : cg->t_f32;
  int32_t wgm = t.bm / t.wm, wgn = t.bn / t.wn, nwarps = wgm * wgn, threads = nwarps * 32;
  int32_t mt_n = t.wm / 16, nt_n = t.wn / 8;
  out->block[0] = threads;
  int64_t tiles_m = cdiv(g->M, t.bm), tiles_n = cdiv(g->N, t.bn);
  int64_t total = batch * tiles_m * tiles_n;
  int64_t cap = 32 * (int64_t)(cg->n_sms > 0 ? cg->n_sms : 132);
  out->grid[0] = total < cap ? total : cap;
  int64_t ld = t.bk + khi; /* 80-byte rows: the fragment loads are bank-conflict free */
  int64_t na = t.bm * ld, nb = t.bn * ld;
  int64_t esz = is_int ? 1 : 2;
  /* ldmatrix fragments (16-byte rows: ld·esz = 80 bytes keeps them 16-byte aligned and the eight
   * row addresses of a matrix on distinct 16-byte bank groups); the 32-bit loads otherwise */
  const bool use_ldmatrix = k_mma_ldmatrix && (ld * esz) % 16 == 0 && nt_n % 2 == 0;
  /* Two stages (double buffering): slice k+1 is fetched into the other buffer while slice k is
   * multiplied. An operand whose k is its contiguous dim, with K, its row stride and batch
   * strides multiples of a chunk, is fetched with cp.async (chunks of 16, 8 or 4 bytes, the
   * largest that fits; src-size 0 zero-fills chunks past M/N/K, which K % chunk = 0 keeps
   * whole); the other one through registers. */
  const bool pipelined = k_mma_pipeline && use_ldmatrix;
  int cpa[2] = {0, 0}; /* per operand: cp.async chunk bytes (0: staged through registers) */
  for (int op = 0; pipelined && op < 2; ++op) {
    int64_t sk = op ? g->sbk : g->sak, srow = op ? g->sbn : g->sam;
    int64_t rows_t = op ? t.bn : t.bm;
    const int64_t *bs = op ? b_bs : a_bs;
    for (int v = 16; v >= 4 && !cpa[op]; v /= 2) {
      int64_t per = v / esz;
      bool ok = sk == 1 && g->K % per == 0 && srow % per == 0 && t.bk % per == 0 &&
                (rows_t * t.bk / per) % threads == 0;
      for (int d = 0; ok && d < nbd; ++d)
        ok = bs[d] % per == 0;
      if (ok) cpa[op] = v;
    }
  }
  int nbuf = pipelined ? 2 : 1;
  LLVMValueRef As = qiao_cuda_shared(cg, et, nbuf * na, "Ah");
  LLVMValueRef Bs = qiao_cuda_shared(cg, et, nbuf * nb, "Bh");
  out->shared_bytes = nbuf * (na + nb) * esz;
  LLVMValueRef as32 = LLVMBuildPtrToInt(cg->b, As, cg->t_i32, "as32");
  LLVMValueRef bs32 = LLVMBuildPtrToInt(cg->b, Bs, cg->t_i32, "bs32");
  LLVMBuilderRef b = cg->b;
  qiao_cg_t *cb = &cg->base;
  LLVMValueRef pa = qiao_cuda_param(cg, 0), pb = qiao_cuda_param(cg, 1);
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef lane = LLVMBuildURem(b, tid, qiao_cg_i64(cb, 32), "lane");
  LLVMValueRef warp = LLVMBuildUDiv(b, tid, qiao_cg_i64(cb, 32), "warp");
  LLVMValueRef grp = LLVMBuildUDiv(b, lane, qiao_cg_i64(cb, 4), "grp");
  LLVMValueRef tig = LLVMBuildURem(b, lane, qiao_cg_i64(cb, 4), "tig");
  LLVMValueRef wm0 = LLVMBuildMul(b, LLVMBuildUDiv(b, warp, qiao_cg_i64(cb, wgn), ""),
                                  qiao_cg_i64(cb, t.wm), "wm0");
  LLVMValueRef wn0 = LLVMBuildMul(b, LLVMBuildURem(b, warp, qiao_cg_i64(cb, wgn), ""),
                                  qiao_cg_i64(cb, t.wn), "wn0");
  /* ldmatrix row addresses of this lane (32-bit shared addresses), for k slice step 0 and
   * m tile / n tile pair 0: A row wm0 + lane % 16, k byte (lane / 16)·16; B row
   * wn0 + (lane / 16)·8 + lane % 8, k byte ((lane / 8) % 2)·16. */
  LLVMValueRef a_lm32 = NULL, b_lm32 = NULL;
  if (use_ldmatrix) {
    LLVMValueRef ra = LLVMBuildAdd(b, wm0, LLVMBuildURem(b, lane, qiao_cg_i64(cb, 16), ""), "");
    LLVMValueRef ka =
        LLVMBuildMul(b, LLVMBuildUDiv(b, lane, qiao_cg_i64(cb, 16), ""), qiao_cg_i64(cb, 16), "");
    a_lm32 = LLVMBuildAdd(
        b, as32, LLVMBuildTrunc(b, qiao_cg_imadd(cb, ka, ra, ld * esz), cg->t_i32, ""), "a_lm");
    LLVMValueRef mat = LLVMBuildUDiv(b, lane, qiao_cg_i64(cb, 8), "");
    LLVMValueRef rb =
        LLVMBuildAdd(b, wn0,
                     LLVMBuildAdd(b, LLVMBuildURem(b, lane, qiao_cg_i64(cb, 8), ""),
                                  LLVMBuildMul(b, LLVMBuildUDiv(b, mat, qiao_cg_i64(cb, 2), ""),
                                               qiao_cg_i64(cb, 8), ""),
                                  ""),
                     "");
    LLVMValueRef kb =
        LLVMBuildMul(b, LLVMBuildURem(b, mat, qiao_cg_i64(cb, 2), ""), qiao_cg_i64(cb, 16), "");
    b_lm32 = LLVMBuildAdd(
        b, bs32, LLVMBuildTrunc(b, qiao_cg_imadd(cb, kb, rb, ld * esz), cg->t_i32, ""), "b_lm");
  }
  LLVMValueRef acc[MMA_MAX_MT][MMA_MAX_NT][4];
  for (int i = 0; i < mt_n; ++i)
    for (int j = 0; j < nt_n; ++j)
      for (int c = 0; c < 4; ++c)
        acc[i][j][c] = qiao_cuda_alloca(cg, acc_t, "acc");

  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef tn_i = LLVMBuildURem(b, tl.iv, qiao_cg_i64(cb, tiles_n), "");
  LLVMValueRef rest = LLVMBuildUDiv(b, tl.iv, qiao_cg_i64(cb, tiles_n), "");
  LLVMValueRef tm_i = LLVMBuildURem(b, rest, qiao_cg_i64(cb, tiles_m), "");
  LLVMValueRef bidx = LLVMBuildUDiv(b, rest, qiao_cg_i64(cb, tiles_m), "");
  LLVMValueRef bc[QIAO_MAX_RANK];
  if (nbd > 0) qiao_cuda_unflatten(cg, bidx, nbd, bdims, bc);
  LLVMValueRef a_off = nbd > 0 ? qiao_cuda_offset(cg, nbd, bc, a_bs) : qiao_cg_i64(cb, 0);
  LLVMValueRef b_off = nbd > 0 ? qiao_cuda_offset(cg, nbd, bc, b_bs) : qiao_cg_i64(cb, 0);
  LLVMValueRef m0 = LLVMBuildMul(b, tm_i, qiao_cg_i64(cb, t.bm), "m0");
  LLVMValueRef n0 = LLVMBuildMul(b, tn_i, qiao_cg_i64(cb, t.bn), "n0");
  for (int i = 0; i < mt_n; ++i)
    for (int j = 0; j < nt_n; ++j)
      for (int c = 0; c < 4; ++c)
        LLVMBuildStore(b, is_int ? LLVMConstInt(cg->t_i32, 0, 0) : qiao_cg_f32c(cb, 0.0),
                       acc[i][j][c]);

  LLVMValueRef Mv = qiao_cg_i64(cb, g->M), Nv = qiao_cg_i64(cb, g->N), Kv = qiao_cg_i64(cb, g->K);
  mma_stage_t sg = {cg,
                    et,
                    esz,
                    ld,
                    threads,
                    t.bk,
                    tid,
                    {pa, pb},
                    {As, Bs},
                    {na, nb},
                    {as32, bs32},
                    {t.bm, t.bn},
                    {g->sam, g->sbn},
                    {g->sak, g->sbk},
                    {m0, n0},
                    {Mv, Nv},
                    {a_off, b_off},
                    Kv,
                    nbuf,
                    {cpa[0], cpa[1]}};
  if (pipelined) { /* prologue: slice 0 into buffer 0 */
    for (int op = 0; op < 2; ++op)
      mma_stage_slice(&sg, op, qiao_cg_i64(cb, 0), qiao_cg_i64(cb, 0));
    emit_asm0(cg, "cp.async.commit_group;");
  }
  qiao_cg_loop_t kl;
  qiao_cg_loop_begin(cb, qiao_cg_i64(cb, 0), qiao_cg_i64(cb, g->K), t.bk, "k0", &kl);
  {
    LLVMValueRef k0 = kl.iv;
    LLVMValueRef cur = qiao_cg_i64(cb, 0);
    if (pipelined) {
      cur = LLVMBuildAnd(b, LLVMBuildUDiv(b, k0, qiao_cg_i64(cb, t.bk), ""), qiao_cg_i64(cb, 1),
                         "cur");
      LLVMValueRef k1 = qiao_cg_iadd(cb, k0, qiao_cg_i64(cb, t.bk));
      LLVMBasicBlockRef cont = qiao_cg_if(cb, LLVMBuildICmp(b, LLVMIntSLT, k1, Kv, ""), "next");
      LLVMValueRef nxt = LLVMBuildXor(b, cur, qiao_cg_i64(cb, 1), "");
      for (int op = 0; op < 2; ++op)
        mma_stage_slice(&sg, op, k1, nxt);
      qiao_cg_endif(cb, cont);
      emit_asm0(cg, "cp.async.commit_group;");
      emit_asm0(cg, "cp.async.wait_group 1;");
    } else {
      for (int op = 0; op < 2; ++op)
        mma_stage_slice(&sg, op, k0, cur);
    }
    /* this slice's buffer (32-bit shared byte offsets) for the ldmatrix addresses */
    LLVMValueRef a_buf = a_lm32, b_buf = b_lm32;
    if (pipelined) {
      LLVMValueRef c32 = LLVMBuildTrunc(b, cur, cg->t_i32, "");
      a_buf = LLVMBuildAdd(
          b, a_lm32, LLVMBuildMul(b, c32, LLVMConstInt(cg->t_i32, (uint64_t)(na * esz), 0), ""),
          "");
      b_buf = LLVMBuildAdd(
          b, b_lm32, LLVMBuildMul(b, c32, LLVMConstInt(cg->t_i32, (uint64_t)(nb * esz), 0), ""),
          "");
    }
    qiao_cuda_barrier(cg);
    for (int64_t ks = 0; ks < t.bk; ks += kstep) {
      LLVMValueRef af[MMA_MAX_MT][4], bfr[MMA_MAX_NT][2];
      if (use_ldmatrix) {
        /* A (i): matrices (rows +0, k +0), (+8, +0), (+0, +16 bytes), (+8, +16) = a0..a3;
         * lane l addresses row l % 16, k byte (l / 16)·16. B (j, j + 1): matrices
         * (n tile j, k +0), (j, +16 bytes), (j + 1, +0), (j + 1, +16) = b0, b1 of both. */
        for (int i = 0; i < mt_n; ++i)
          emit_ldmatrix_x4(
              cg,
              LLVMBuildAdd(b, a_buf,
                           LLVMConstInt(cg->t_i32, (uint64_t)(i * 16 * ld * esz + ks * esz), 0),
                           ""),
              af[i]);
        for (int j = 0; j < nt_n; j += 2) {
          LLVMValueRef rr[4];
          emit_ldmatrix_x4(
              cg,
              LLVMBuildAdd(b, b_buf,
                           LLVMConstInt(cg->t_i32, (uint64_t)(j * 8 * ld * esz + ks * esz), 0), ""),
              rr);
          bfr[j][0] = rr[0];
          bfr[j][1] = rr[1];
          bfr[j + 1][0] = rr[2];
          bfr[j + 1][1] = rr[3];
        }
      } else {
        LLVMValueRef kcol =
            qiao_cg_iadd(cb, LLVMBuildMul(b, tig, qiao_cg_i64(cb, kpl), ""), qiao_cg_i64(cb, ks));
        for (int i = 0; i < mt_n; ++i) {
          LLVMValueRef row = qiao_cg_iadd(cb, qiao_cg_iadd(cb, wm0, grp), qiao_cg_i64(cb, i * 16));
          LLVMValueRef base = qiao_cg_imadd(cb, kcol, row, ld);
          af[i][0] = pair32(cg, et, As, na, base);
          af[i][1] = pair32(cg, et, As, na, qiao_cg_iadd(cb, base, qiao_cg_i64(cb, 8 * ld)));
          af[i][2] = pair32(cg, et, As, na, qiao_cg_iadd(cb, base, qiao_cg_i64(cb, khi)));
          af[i][3] = pair32(cg, et, As, na, qiao_cg_iadd(cb, base, qiao_cg_i64(cb, 8 * ld + khi)));
        }
        for (int j = 0; j < nt_n; ++j) {
          LLVMValueRef col = qiao_cg_iadd(cb, qiao_cg_iadd(cb, wn0, grp), qiao_cg_i64(cb, j * 8));
          LLVMValueRef base = qiao_cg_imadd(cb, kcol, col, ld);
          bfr[j][0] = pair32(cg, et, Bs, nb, base);
          bfr[j][1] = pair32(cg, et, Bs, nb, qiao_cg_iadd(cb, base, qiao_cg_i64(cb, khi)));
        }
      }
      for (int i = 0; i < mt_n; ++i)
        for (int j = 0; j < nt_n; ++j) {
          LLVMValueRef c[4];
          for (int q = 0; q < 4; ++q)
            c[q] = LLVMBuildLoad2(b, acc_t, acc[i][j][q], "");
          qiao_cuda_emit_mma(cg, kind, af[i], bfr[j], c);
          for (int q = 0; q < 4; ++q)
            LLVMBuildStore(b, c[q], acc[i][j][q]);
        }
    }
    qiao_cuda_barrier(cg);
  }
  qiao_cg_loop_end(cb, &kl);
  if (pipelined) emit_asm0(cg, "cp.async.wait_all;"); /* the prologue's group when K = 0 */

  for (int i = 0; i < mt_n; ++i)
    for (int j = 0; j < nt_n; ++j)
      for (int q = 0; q < 4; ++q) {
        LLVMValueRef gm = qiao_cg_iadd(cb, LLVMBuildAdd(b, m0, LLVMBuildAdd(b, wm0, grp, ""), ""),
                                       qiao_cg_i64(cb, i * 16 + (q >= 2 ? 8 : 0)));
        LLVMValueRef gn = qiao_cg_iadd(
            cb,
            LLVMBuildAdd(
                b, n0, LLVMBuildAdd(b, wn0, LLVMBuildMul(b, tig, qiao_cg_i64(cb, 2), ""), ""), ""),
            qiao_cg_i64(cb, j * 8 + (q & 1)));
        LLVMValueRef in =
            LLVMBuildAnd(b, LLVMBuildICmp(b, LLVMIntSLT, gm, qiao_cg_i64(cb, g->M), ""),
                         LLVMBuildICmp(b, LLVMIntSLT, gn, qiao_cg_i64(cb, g->N), ""), "");
        LLVMBasicBlockRef cont = qiao_cg_if(cb, in, "st");
        qiao_cuda_epi_t e;
        qiao_cuda_epi_init(&e, cg, kd);
        for (int d = 0; d < nbd; ++d)
          e.coords[d] = bc[d];
        e.coords[r - 2] = gm;
        e.coords[r - 1] = gn;
        LLVMValueRef a = LLVMBuildLoad2(b, acc_t, acc[i][j][q], "");
        if (is_int)
          qiao_cuda_epi_store_mixed(&e, LLVMBuildSExt(b, a, cg->t_i64, ""), true);
        else if (qiao_cuda_float_expr(kd, false))
          qiao_cuda_epi_store(&e, a);
        else
          qiao_cuda_epi_store_mixed(&e, a, false);
        qiao_cg_endif(cb, cont);
      }
  qiao_cg_loop_end(cb, &tl);
  LLVMBuildRetVoid(b);
  out->fn = cg->fn;
  (void)name;
  return NULL;
}

qiao_status_t qiao_cuda_lower_matmul(qiao_cuda_codegen_t *cg, const qiao_kernel_desc_t *kd,
                                     const char *name, qiao_cuda_kernel_t *out) {
  if (kd->n_inputs < 2 || kd->n_outputs != 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: not a matmul descriptor", name);
  if (kd->has_norm_prologue)
    return qiao_status_make(QIAO_UNSUPPORTED, "%s: norm prologues are not lowered for CUDA", name);
  const qiao_kd_operand_t *A = &kd->inputs[0], *B = &kd->inputs[1];
  mm_t g0;
  memset(&g0, 0, sizeof g0);
  mm_t *g = &g0;
  QIAO_RETURN_IF_ERROR(qiao_cg_mm_geometry(kd, name, &g->geo));
  g->cg = cg;
  g->kd = kd;
  g->t = k_mm_tile_default;
  g->threads = (g->t.bm / g->t.tm) * (g->t.bn / g->t.tn);
  g->is_int = A->type.dtype == QIAO_I8 && B->type.dtype == QIAO_I8;
  g->et = g->is_int ? cg->t_i32 : cg->t_f32;
  int nbd = g->nbd;
  const int64_t *bdims = g->bdims, *a_bs = g->a_bs, *b_bs = g->b_bs;
  int64_t batch = g->batch;
  const qiao_cuda_mm_tile_t *t = &g->t;
  int32_t ty_n = t->bm / t->tm, tx_n = t->bn / t->tn;
  out->block[0] = g->threads;
  qiao_cuda_entry_begin(cg, name, kd->n_inputs + kd->n_outputs);
  if (g->M == 0 || g->N == 0 || batch == 0) {
    out->grid[0] = 1;
    LLVMBuildRetVoid(cg->b);
    out->fn = cg->fn;
    return NULL;
  }
  if (g->is_int ||
      (A->type.dtype == B->type.dtype && (A->type.dtype == QIAO_F16 || A->type.dtype == QIAO_BF16)))
    return lower_mma(cg, kd, name, out, g, nbd, bdims, a_bs, b_bs, batch);
  int64_t tiles_m = cdiv(g->M, t->bm), tiles_n = cdiv(g->N, t->bn);
  int64_t total = batch * tiles_m * tiles_n;
  int64_t cap = 32 * (int64_t)(cg->n_sms > 0 ? cg->n_sms : 132);
  out->grid[0] = total < cap ? total : cap;

  /* shared tiles, k-major, rows padded by one element */
  int64_t lda_s = t->bm + 1, ldb_s = t->bn + 1;
  int64_t na = t->bk * lda_s, nb = t->bk * ldb_s;
  LLVMValueRef As = qiao_cuda_shared(cg, g->et, na, "As");
  LLVMValueRef Bs = qiao_cuda_shared(cg, g->et, nb, "Bs");
  out->shared_bytes = (na + nb) * 4;

  LLVMValueRef pa = qiao_cuda_param(cg, 0), pb = qiao_cuda_param(cg, 1);
  LLVMValueRef tid = qiao_cuda_sreg(cg, "tid.x");
  LLVMValueRef tx = LLVMBuildURem(cg->b, tid, c64(g, tx_n), "tx");
  LLVMValueRef ty = LLVMBuildUDiv(cg->b, tid, c64(g, tx_n), "ty");
  LLVMValueRef acc[MM_MAX_T][MM_MAX_T];
  for (int i = 0; i < t->tm; ++i)
    for (int j = 0; j < t->tn; ++j)
      acc[i][j] = qiao_cuda_alloca(cg, g->et, "acc");

  qiao_cg_loop_t tl;
  qiao_cuda_row_loop_begin(cg, total, &tl);
  LLVMValueRef tn_i = LLVMBuildURem(cg->b, tl.iv, c64(g, tiles_n), "");
  LLVMValueRef rest = LLVMBuildUDiv(cg->b, tl.iv, c64(g, tiles_n), "");
  LLVMValueRef tm_i = LLVMBuildURem(cg->b, rest, c64(g, tiles_m), "");
  LLVMValueRef bidx = LLVMBuildUDiv(cg->b, rest, c64(g, tiles_m), "");
  LLVMValueRef bc[QIAO_MAX_RANK];
  if (nbd > 0) qiao_cuda_unflatten(cg, bidx, nbd, bdims, bc);
  LLVMValueRef a_off = nbd > 0 ? qiao_cuda_offset(cg, nbd, bc, a_bs) : c64(g, 0);
  LLVMValueRef b_off = nbd > 0 ? qiao_cuda_offset(cg, nbd, bc, b_bs) : c64(g, 0);
  LLVMValueRef m0 = LLVMBuildMul(cg->b, tm_i, c64(g, t->bm), "m0");
  LLVMValueRef n0 = LLVMBuildMul(cg->b, tn_i, c64(g, t->bn), "n0");
  LLVMValueRef zero = g->is_int ? LLVMConstInt(cg->t_i32, 0, 0) : qiao_cg_f32c(&cg->base, 0.0);
  for (int i = 0; i < t->tm; ++i)
    for (int j = 0; j < t->tn; ++j)
      LLVMBuildStore(cg->b, zero, acc[i][j]);

  qiao_cg_loop_t kl;
  qiao_cg_loop_begin(&cg->base, c64(g, 0), c64(g, g->K), t->bk, "k0", &kl);
  {
    LLVMValueRef k0 = kl.iv;
    LLVMValueRef Mv = c64(g, g->M), Nv = c64(g, g->N), Kv = c64(g, g->K);
    /* A: BM×BK elements; along k when k is A's contiguous dim */
    bool a_kfast = g->sak == 1 || g->sam != 1;
    for (int64_t i = 0; i < (int64_t)t->bm * t->bk / g->threads; ++i) {
      int64_t fast = a_kfast ? t->bk : t->bm;
      LLVMValueRef f, s;
      split_idx(cg, tid, i, g->threads, fast, &f, &s);
      LLVMValueRef kk = a_kfast ? f : s, mm = a_kfast ? s : f;
      LLVMValueRef gm = LLVMBuildAdd(cg->b, m0, mm, ""), gk = LLVMBuildAdd(cg->b, k0, kk, "");
      LLVMValueRef in = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, gm, Mv, ""),
                                     LLVMBuildICmp(cg->b, LLVMIntSLT, gk, Kv, ""), "");
      LLVMValueRef off =
          qiao_cg_imadd(&cg->base, qiao_cg_imadd(&cg->base, a_off, gm, g->sam), gk, g->sak);
      stage(g, pa, A->type.dtype, off, in, As, na, qiao_cg_imadd(&cg->base, mm, kk, lda_s));
    }
    bool b_nfast = g->sbn == 1 || g->sbk != 1;
    for (int64_t i = 0; i < (int64_t)t->bn * t->bk / g->threads; ++i) {
      int64_t fast = b_nfast ? t->bn : t->bk;
      LLVMValueRef f, s;
      split_idx(cg, tid, i, g->threads, fast, &f, &s);
      LLVMValueRef nn = b_nfast ? f : s, kk = b_nfast ? s : f;
      LLVMValueRef gn = LLVMBuildAdd(cg->b, n0, nn, ""), gk = LLVMBuildAdd(cg->b, k0, kk, "");
      LLVMValueRef in = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, gn, Nv, ""),
                                     LLVMBuildICmp(cg->b, LLVMIntSLT, gk, Kv, ""), "");
      LLVMValueRef off =
          qiao_cg_imadd(&cg->base, qiao_cg_imadd(&cg->base, b_off, gn, g->sbn), gk, g->sbk);
      stage(g, pb, B->type.dtype, off, in, Bs, nb, qiao_cg_imadd(&cg->base, nn, kk, ldb_s));
    }
    qiao_cuda_barrier(cg);
    for (int kk = 0; kk < t->bk; ++kk) {
      LLVMValueRef av[MM_MAX_T], bv[MM_MAX_T];
      for (int i = 0; i < t->tm; ++i)
        av[i] = sload(g, As, na, qiao_cg_iadd(&cg->base, ty, c64(g, kk * lda_s + i * ty_n)));
      for (int j = 0; j < t->tn; ++j)
        bv[j] = sload(g, Bs, nb, qiao_cg_iadd(&cg->base, tx, c64(g, kk * ldb_s + j * tx_n)));
      for (int i = 0; i < t->tm; ++i)
        for (int j = 0; j < t->tn; ++j) {
          LLVMValueRef c = LLVMBuildLoad2(cg->b, g->et, acc[i][j], "");
          LLVMValueRef v = g->is_int
                               ? LLVMBuildAdd(cg->b, c, LLVMBuildMul(cg->b, av[i], bv[j], ""), "")
                               : qiao_cg_fma(&cg->base, av[i], bv[j], c);
          LLVMBuildStore(cg->b, v, acc[i][j]);
        }
    }
    qiao_cuda_barrier(cg);
  }
  qiao_cg_loop_end(&cg->base, &kl);

  /* epilogue and stores */
  bool float_epi = !g->is_int && qiao_cuda_float_expr(kd, false);
  for (int i = 0; i < t->tm; ++i)
    for (int j = 0; j < t->tn; ++j) {
      LLVMValueRef gm = LLVMBuildAdd(cg->b, m0, qiao_cg_iadd(&cg->base, ty, c64(g, i * ty_n)), "");
      LLVMValueRef gn = LLVMBuildAdd(cg->b, n0, qiao_cg_iadd(&cg->base, tx, c64(g, j * tx_n)), "");
      LLVMValueRef in = LLVMBuildAnd(cg->b, LLVMBuildICmp(cg->b, LLVMIntSLT, gm, c64(g, g->M), ""),
                                     LLVMBuildICmp(cg->b, LLVMIntSLT, gn, c64(g, g->N), ""), "");
      LLVMBasicBlockRef cont = qiao_cg_if(&cg->base, in, "st");
      qiao_cuda_epi_t e;
      qiao_cuda_epi_init(&e, cg, kd);
      for (int d = 0; d < nbd; ++d)
        e.coords[d] = bc[d];
      e.coords[nbd] = gm;
      e.coords[nbd + 1] = gn;
      LLVMValueRef a = LLVMBuildLoad2(cg->b, g->et, acc[i][j], "");
      if (float_epi)
        qiao_cuda_epi_store(&e, a);
      else if (g->is_int)
        qiao_cuda_epi_store_mixed(&e, LLVMBuildSExt(cg->b, a, cg->t_i64, ""), true);
      else
        qiao_cuda_epi_store_mixed(&e, a, false);
      qiao_cg_endif(&cg->base, cont);
    }
  qiao_cg_loop_end(&cg->base, &tl);
  LLVMBuildRetVoid(cg->b);
  out->fn = cg->fn;
  return NULL;
}
