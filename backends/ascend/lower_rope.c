/* Ascend backend — ROPE on a vector core (AIV). x [B, H, S, D], positions
 * [S] or [B, S]; out[j] = x[j] cos(a) + sgn(j) x[partner(j)] sin(a), a =
 * pos * theta^(-2i/D) for the pair i of element j (neox: pairs (i, i + D/2),
 * gptj: (2i, 2i + 1); sgn -1 on the first element of a pair), all f32:
 *
 *   once per block: positions GM -> UB, Cast to f32; freq per element of a
 *   row as an f32 pair (hi + lo of the f64 theta^(-2i/D), written by the
 *   scalar unit); the signs over D
 *   per tile of rows (GetBlockIdx() stride GetBlockNum()):
 *     DataCopyPad GM -> UB, Cast to f32                              (MTE2, V)
 *     partner = Gather(x, the pair-swap view); angle = Gather(pos) * freq as
 *     an f32 pair (Mul, FusedMulAdd for the rounding error, + pos * lo);
 *     cos/sin of the pair (Cos, Sin of hi, corrected by lo)
 *     out = x * cos + partner * sin * sign; Cast                     (V)
 *     DataCopyPad UB -> GM                                           (MTE3)
 *
 * The angle pair keeps ~2^-48 relative accuracy, so cos and sin are right
 * to f32 rounding for any position below 2^24 (exact as f32). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }
static int64_t rb(int64_t bytes) { return (bytes + 31) / 32 * 32; }

typedef struct rp_plan {
  int64_t B, H, S, D, half, npos, es, pes, T, n_rows;
  bool per_batch, gptj;
  int64_t pos_raw, posf, fd, fdl, sgn, sg2;       /* resident */
  int64_t xin, xf, xp, ang, f, c, s, ah, al, out; /* per tile */
} rp_plan_t;

static bool rp_plan(const qiao_kernel_desc_t *kd, int64_t ub, rp_plan_t *p, char *reason,
                    size_t cap) {
  memset(p, 0, sizeof *p);
  const qiao_kd_operand_t *x = &kd->inputs[0], *pos = &kd->inputs[1];
  if (x->type.shape.rank != 4 || (pos->type.shape.rank != 1 && pos->type.shape.rank != 2)) {
    snprintf(reason, cap, "rope of rank %d positions %d", x->type.shape.rank, pos->type.shape.rank);
    return false;
  }
  p->B = x->type.shape.dims[0], p->H = x->type.shape.dims[1], p->S = x->type.shape.dims[2];
  p->D = x->type.shape.dims[3];
  p->half = p->D / 2;
  p->per_batch = pos->type.shape.rank == 2;
  p->gptj = kd->attrs.mode == QIAO_ROPE_GPTJ;
  p->npos = qiao_shape_numel(&pos->type.shape);
  p->es = qiao_dtype_size(x->type.dtype);
  p->pes = qiao_dtype_size(pos->type.dtype);
  p->n_rows = p->B * p->H * p->S;
  int64_t at = 0;
  p->pos_raw = at, at += rb(p->npos * p->pes);
  p->posf = at, at += rb(p->npos * 4);
  p->fd = at, at += rb(p->D * 4);
  p->fdl = at, at += rb(p->D * 4);
  p->sgn = at, at += 64;
  p->sg2 = at, at += rb(p->D * 4);
  int64_t per_row = 2 * rb(p->D * p->es) + 8 * rb(p->D * 4);
  p->T = per_row > 0 ? (ub - at) / per_row : 0;
  if (p->T > p->n_rows) p->T = p->n_rows;
  if (p->T < 1 || p->D % 2) {
    snprintf(reason, cap,
             p->D % 2 ? "rope with an odd D"
                      : "ascend: UB overflow: a rope row of D = %lld needs %lld bytes of UB",
             (long long)p->D, (long long)(at + per_row));
    return false;
  }
  int64_t T = p->T;
  p->xin = at, at += rb(T * p->D * p->es);
  p->xf = at, at += rb(T * p->D * 4);
  p->xp = at, at += rb(T * p->D * 4);
  p->ang = at, at += rb(T * p->D * 4);
  p->f = at, at += rb(T * p->D * 4);
  p->c = at, at += rb(T * p->D * 4);
  p->s = at, at += rb(T * p->D * 4);
  p->ah = at, at += rb(T * p->D * 4);
  p->al = at, at += rb(T * p->D * 4);
  p->out = at;
  return true;
}

bool ascend_rope_supported(const qiao_kernel_desc_t *kd, int64_t ub_bytes, char *reason,
                           size_t cap) {
  if (kd->n_inputs != 2 || kd->n_outputs != 1 || kd->n_expr > 0) {
    snprintf(reason, cap, "a rope kernel with an epilogue");
    return false;
  }
  qiao_dtype_t dt = kd->inputs[0].type.dtype, pt = kd->inputs[1].type.dtype;
  if ((dt != QIAO_F32 && dt != QIAO_F16 && dt != QIAO_BF16) || kd->outputs[0].type.dtype != dt ||
      (pt != QIAO_I32 && pt != QIAO_I64)) {
    snprintf(reason, cap, "rope of %s with %s positions", qiao_dtype_name(dt), qiao_dtype_name(pt));
    return false;
  }
  for (int o = 0; o < 3; ++o) {
    const qiao_kd_operand_t *op = o < 2 ? &kd->inputs[o] : &kd->outputs[0];
    int64_t st = 1;
    for (int d = op->type.shape.rank - 1; d >= 0; --d) {
      if (op->type.shape.dims[d] > 1 && op->strides[d] != st) {
        snprintf(reason, cap, "a strided rope operand");
        return false;
      }
      st *= op->type.shape.dims[d];
    }
  }
  rp_plan_t p;
  return rp_plan(kd, ub_bytes, &p, reason, cap);
}

static LLVMValueRef consts(ascend_module_t *m, const int64_t *v, int n, const char *name) {
  LLVMValueRef el[8];
  for (int i = 0; i < n; ++i)
    el[i] = I(m, v[i]);
  LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMArrayType2(m->t_i64, (uint64_t)n), name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, (uint64_t)n));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

/* dst = n elements [start, start + n) of a view of the f32 tensor at src. */
static void view(ascend_module_t *m, LLVMValueRef core, LLVMValueRef dst, int64_t src,
                 LLVMValueRef src_elems, int64_t base, LLVMValueRef start, LLVMValueRef n, int rank,
                 const int64_t *dims, const int64_t *st, const char *note) {
  LLVMValueRef g[11] = {core,
                        I(m, QIAO_ASCEND_F32),
                        dst,
                        I(m, src),
                        src_elems,
                        I(m, base),
                        start,
                        n,
                        I(m, rank),
                        consts(m, dims, rank, "rp_dims"),
                        consts(m, st, rank, "rp_strides")};
  ascend_uop(m, "qiao_ascend_vgather", g, 11, note);
}

static void vop(ascend_module_t *m, LLVMValueRef core, const char *name, int64_t dst, int64_t a,
                int64_t b, LLVMValueRef n, const char *note) {
  LLVMValueRef args[6] = {core, I(m, QIAO_ASCEND_F32), I(m, dst), I(m, a), I(m, b), n};
  ascend_uop(m, name, args, 6, note);
}

static void vun(ascend_module_t *m, LLVMValueRef core, const char *name, int64_t dst, int64_t a,
                LLVMValueRef n, const char *note) {
  LLVMValueRef args[5] = {core, I(m, QIAO_ASCEND_F32), I(m, dst), I(m, a), n};
  ascend_uop(m, name, args, 5, note);
}

static void flag(ascend_module_t *m, LLVMValueRef core, bool set, int src, int dst) {
  LLVMValueRef a[4] = {core, I(m, src), I(m, dst), I(m, 0)};
  ascend_uop(m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

qiao_status_t ascend_lower_rope(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn) {
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  char reason[256];
  rp_plan_t p;
  if (!rp_plan(kd, m->info.ub_bytes, &p, reason, sizeof reason))
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s", reason);
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  LLVMValueRef core = LLVMGetParam(fn, 5), bind = LLVMGetParam(fn, 0), gm[3];
  for (int k = 0; k < 3; ++k)
    gm[k] = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
  int dt = ascend_dtype(kd->inputs[0].type.dtype), pdt = ascend_dtype(kd->inputs[1].type.dtype);
  int64_t D = p.D, half = p.half, es = p.es;
  int64_t n_tiles = p.n_rows > 0 && D > 0 ? (p.n_rows + p.T - 1) / p.T : 0;
  ascend_listing_printf(m, "  rope plan: %lld rows of %lld, %lld rows per tile, %lld tiles (%s)\n",
                        (long long)p.n_rows, (long long)D, (long long)p.T, (long long)n_tiles,
                        p.gptj ? "gptj" : "neox");
  if (n_tiles == 0) {
    LLVMBuildRetVoid(b);
    return NULL;
  }
  LLVMValueRef blk = ascend_uop(m, "qiao_ascend_get_block_idx", &core, 1, NULL);
  LLVMValueRef bn = ascend_uop(m, "qiao_ascend_get_block_num", &core, 1, NULL);
  /* once per block: positions as f32, frequencies and signs over D */
  {
    LLVMValueRef a[4] = {core, I(m, p.pos_raw), gm[1], I(m, p.npos * p.pes)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "positions");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
  {
    LLVMValueRef a[6] = {core,      I(m, QIAO_ASCEND_F32), I(m, p.posf),
                         I(m, pdt), I(m, p.pos_raw),       I(m, p.npos)};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "positions to f32");
    /* freq per element j of a row as an f32 pair hi + lo of the interpreter's
     * f64 theta^(-2i/D), written by the scalar unit (SetValue) */
    for (int64_t j = 0; j < D; ++j) {
      int64_t i = p.gptj ? j / 2 : j % half;
      double f = pow(kd->attrs.theta, -2.0 * (double)i / (double)D);
      float hi = (float)f, lo = (float)(f - (double)hi);
      LLVMValueRef dh[5] = {core, I(m, QIAO_ASCEND_F32), I(m, p.fd), I(m, j),
                            LLVMConstReal(m->t_f64, hi)};
      ascend_uop(m, "qiao_ascend_set_value", dh, 5, j ? NULL : "freq hi, per element of a row");
      LLVMValueRef dl[5] = {core, I(m, QIAO_ASCEND_F32), I(m, p.fdl), I(m, j),
                            LLVMConstReal(m->t_f64, lo)};
      ascend_uop(m, "qiao_ascend_set_value", dl, 5, j ? NULL : "freq lo");
    }
    LLVMValueRef d1[5] = {core, I(m, QIAO_ASCEND_F32), I(m, p.sgn), LLVMConstReal(m->t_f64, -1.0),
                          I(m, 8)};
    ascend_uop(m, "qiao_ascend_vdup", d1, 5, "sign -1");
    LLVMValueRef d2[5] = {core, I(m, QIAO_ASCEND_F32), I(m, p.sgn + 32),
                          LLVMConstReal(m->t_f64, 1.0), I(m, 8)};
    ascend_uop(m, "qiao_ascend_vdup", d2, 5, "sign +1");
    int64_t sd[2] = {2, half}, ss[2] = {8, 0}, gsd[2] = {half, 2}, gss[2] = {0, 8};
    view(m, core, I(m, p.sg2), p.sgn, I(m, 16), 0, I(m, 0), I(m, D), 2, p.gptj ? gsd : sd,
         p.gptj ? gss : ss, "signs over D");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2);
  LLVMValueRef rem = LLVMBuildSub(b, I(m, n_tiles), blk, "");
  LLVMValueRef iters =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, bn, ""), I(m, 1), ""), bn, "");
  iters = LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(m, 0), ""), iters, I(m, 0), "");
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), iters, 1, "it", &tl);
  LLVMValueRef t = LLVMBuildAdd(b, blk, LLVMBuildMul(b, tl.iv, bn, ""), "tile");
  LLVMValueRef r0 = qiao_cg_imul(cg, t, p.T);
  LLVMValueRef nr = qiao_cg_imin(cg, I(m, p.T), LLVMBuildSub(b, I(m, p.n_rows), r0, ""));
  LLVMValueRef n = qiao_cg_imul(cg, nr, D);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2);
  {
    LLVMValueRef src =
        LLVMBuildGEP2(b, m->t_i8, gm[0], (LLVMValueRef[]){qiao_cg_imul(cg, r0, D * es)}, 1, "");
    LLVMValueRef a[4] = {core, I(m, p.xin), src, qiao_cg_imul(cg, n, es)};
    ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "x rows");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V);
  {
    LLVMValueRef a[6] = {core, I(m, QIAO_ASCEND_F32), I(m, p.xf), I(m, dt), I(m, p.xin), n};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "x to f32");
  }
  /* the pair partner of each element: neox j <-> j +- half, gptj 2i <-> 2i + 1 */
  int64_t pnd[3] = {INT64_MAX / 4, 2, half}, pns[3] = {D, -half, 1};
  int64_t pgd[3] = {INT64_MAX / 4, half, 2}, pgs[3] = {D, 2, -1};
  view(m, core, I(m, p.xp), p.xf, n, p.gptj ? 1 : half, I(m, 0), n, 3, p.gptj ? pgd : pnd,
       p.gptj ? pgs : pns, "partner");
  /* the position of each element's row */
  int64_t ad[4] = {p.B, p.H, p.S, D}, as[4] = {p.per_batch ? p.S : 0, 0, 1, 0};
  view(m, core, I(m, p.ang), p.posf, I(m, p.npos), 0, qiao_cg_imul(cg, r0, D), n, 4, ad, as,
       "position per element");
  int64_t rd[2] = {INT64_MAX / 4, D}, rs[2] = {0, 1};
  /* the angle as an f32 pair: ah = pos * fhi, al = fma(pos, fhi, -ah) + pos * flo */
  view(m, core, I(m, p.f), p.fd, I(m, D), 0, I(m, 0), n, 2, rd, rs, "freq hi per element");
  vop(m, core, "qiao_ascend_vmul", p.ah, p.ang, p.f, n, "angle hi");
  vun(m, core, "qiao_ascend_vneg", p.c, p.ah, n, "-angle hi");
  {
    LLVMValueRef a[7] = {core, I(m, QIAO_ASCEND_F32), I(m, p.al), I(m, p.ang), I(m, p.f), I(m, p.c),
                         n};
    ascend_uop(m, "qiao_ascend_vfma", a, 7, "the product's rounding error");
    view(m, core, I(m, p.f), p.fdl, I(m, D), 0, I(m, 0), n, 2, rd, rs, "freq lo per element");
    LLVMValueRef b2[7] = {
        core, I(m, QIAO_ASCEND_F32), I(m, p.al), I(m, p.ang), I(m, p.f), I(m, p.al), n};
    ascend_uop(m, "qiao_ascend_vfma", b2, 7, "angle lo");
  }
  /* cos(ah + al) = cos ah - sin ah * al, sin(ah + al) = sin ah + cos ah * al */
  vun(m, core, "qiao_ascend_vcos", p.ang, p.ah, n, "cos hi");
  vun(m, core, "qiao_ascend_vsin", p.s, p.ah, n, "sin hi");
  vop(m, core, "qiao_ascend_vmul", p.c, p.s, p.al, n, "sin hi * lo");
  vop(m, core, "qiao_ascend_vsub", p.c, p.ang, p.c, n, "cos");
  {
    LLVMValueRef a[7] = {core, I(m, QIAO_ASCEND_F32), I(m, p.s), I(m, p.ang), I(m, p.al), I(m, p.s),
                         n};
    ascend_uop(m, "qiao_ascend_vfma", a, 7, "sin");
  }
  view(m, core, I(m, p.f), p.sg2, I(m, D), 0, I(m, 0), n, 2, rd, rs, "sign per element");
  vop(m, core, "qiao_ascend_vmul", p.s, p.s, p.f, n, "sign * sin");
  vop(m, core, "qiao_ascend_vmul", p.xp, p.xp, p.s, n, "partner * sign * sin");
  vop(m, core, "qiao_ascend_vmul", p.xf, p.xf, p.c, n, "x * cos");
  vop(m, core, "qiao_ascend_vadd", p.xf, p.xf, p.xp, n, "rotated");
  {
    LLVMValueRef a[6] = {core, I(m, dt), I(m, p.out), I(m, QIAO_ASCEND_F32), I(m, p.xf), n};
    ascend_uop(m, "qiao_ascend_vcast", a, 6, "to the output dtype");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
  flag(m, core, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3);
  {
    LLVMValueRef dst =
        LLVMBuildGEP2(b, m->t_i8, gm[2], (LLVMValueRef[]){qiao_cg_imul(cg, r0, D * es)}, 1, "");
    LLVMValueRef a[4] = {core, dst, I(m, p.out), qiao_cg_imul(cg, n, es)};
    ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", a, 4, "out rows");
  }
  flag(m, core, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2);
  qiao_cg_loop_end(cg, &tl);
  flag(m, core, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2);
  LLVMBuildRetVoid(b);
  return NULL;
}
