/* Ascend backend — COPY (transpose, slice, concat, reshape) and GATHER on a
 * vector core (AIV), as Ascend C data-movement kernels are written:
 *
 * Row copies (MTE only): when the innermost domain dim is contiguous in the
 * input and in the output (slices along outer axes, concat, reshape,
 * transposes that keep the last axis; gather rows), each domain row of L
 * elements (split into pieces that fit) is a DataCopyPad GM->UB (MTE2) and a
 * DataCopyPad UB->GM (MTE3). Rows go in tiles of T rows over the blocks,
 * double-buffered:
 *
 *   for tile (GetBlockIdx() stride GetBlockNum()), ping p:
 *     WaitFlag<MTE3_MTE2>(p)
 *     per row: DataCopyPad GM[in(row)] -> UB[buf p + row * pitch]      (MTE2)
 *     SetFlag/WaitFlag<MTE2_MTE3>(p)
 *     per row: DataCopyPad UB -> GM[out(row)]                          (MTE3)
 *     SetFlag<MTE3_MTE2>(p)
 *
 * Row offsets are computed by the scalar unit (row index unflattened over the
 * domain's outer dims). Gather reads its indices once into the UB and each
 * row's index with GetValue (after WaitFlag<MTE2_S>), clamped into [0, V)
 * (the interpreter rejects bad indices; the kernel never reads outside the
 * table).
 *
 * Element gathers (the vector unit): when the innermost dim is strided
 * (transposes of the last axis, slices with a step along it), the source span
 * is loaded once per block into the UB and each output tile is a Gather over
 * the index view (base + Σ c[d] * stride[d]) into a double-buffered tile,
 * copied out by MTE3. A source span larger than the UB budget is refused
 * (a tiled transpose would be needed). Raw bits are copied: the Ascend fusion
 * policy gives data movement no epilogue. */
#include <stdio.h>
#include <string.h>

#include "ascend/ascend.h"
#include "common/copy_plan.h"

enum { CP_RESIDENT_BUDGET = 96 * 1024, CP_INDEX_BUDGET = 16 * 1024 };

static LLVMValueRef I(ascend_module_t *m, int64_t v) { return qiao_cg_i64(&m->base, v); }
static int64_t rb(int64_t bytes) { return (bytes + 31) / 32 * 32; }

/* A segment reduced to rows: outer dims (n_outer) and a run of L contiguous
 * elements on both sides. */
typedef struct cp_rows {
  int n_outer;
  int64_t dims[QIAO_MAX_RANK], in_st[QIAO_MAX_RANK], out_st[QIAO_MAX_RANK];
  int64_t in_base, out_base, L;
  int32_t input;
  bool gather; /* inner dim strided: the vector Gather path */
} cp_rows_t;

static void to_rows(const qiao_cg_affine_t *a, cp_rows_t *r) {
  memset(r, 0, sizeof *r);
  r->input = a->input;
  r->in_base = a->in_base;
  r->out_base = a->out_base;
  int n = a->n;
  /* drop size-1 dims */
  int64_t dims[QIAO_MAX_RANK], is[QIAO_MAX_RANK], os[QIAO_MAX_RANK];
  int k = 0;
  for (int d = 0; d < n; ++d)
    if (a->dims[d] != 1) {
      dims[k] = a->dims[d];
      is[k] = a->in_st[d];
      os[k++] = a->out_st[d];
    }
  r->L = 1;
  int d = k - 1;
  if (d >= 0 && is[d] == 1 && os[d] == 1) {
    r->L = dims[d--];
    while (d >= 0 && is[d] == r->L && os[d] == r->L)
      r->L *= dims[d--];
  } else if (d >= 0) {
    r->gather = true; /* the caller picks the Gather path or one-element rows */
  }
  r->n_outer = d + 1;
  for (int j = 0; j <= d; ++j) {
    r->dims[j] = dims[j];
    r->in_st[j] = is[j];
    r->out_st[j] = os[j];
  }
}

/* The source span [lo, hi) (elements) of a segment's input. */
static void span(const qiao_cg_affine_t *a, int64_t *lo, int64_t *hi) {
  int64_t l = a->in_base, h = a->in_base;
  for (int d = 0; d < a->n; ++d) {
    int64_t e = (a->dims[d] - 1) * a->in_st[d];
    if (e < 0)
      l += e;
    else
      h += e;
  }
  *lo = l;
  *hi = h + 1;
}

enum { CP_ELEMENT_ROWS_MAX = 4096 };

/* One-element rows: every domain dim outer, L = 1 (an element-strided copy
 * whose output is not in domain order, e.g. a concat of width-1 slabs). */
static void to_element_rows(const qiao_cg_affine_t *a, cp_rows_t *r) {
  memset(r, 0, sizeof *r);
  r->input = a->input;
  r->in_base = a->in_base;
  r->out_base = a->out_base;
  r->L = 1;
  r->n_outer = a->n;
  for (int d = 0; d < a->n; ++d) {
    r->dims[d] = a->dims[d];
    r->in_st[d] = a->in_st[d];
    r->out_st[d] = a->out_st[d];
  }
}

static bool out_in_domain_order(const qiao_cg_affine_t *a) {
  int64_t st = 1;
  for (int d = a->n - 1; d >= 0; --d) {
    if (a->dims[d] != 1 && a->out_st[d] != st) return false;
    st *= a->dims[d];
  }
  return true;
}

static int64_t numel(const qiao_cg_affine_t *a) {
  int64_t n = 1;
  for (int d = 0; d < a->n; ++d)
    n *= a->dims[d];
  return n;
}

bool ascend_copy_supported(const qiao_kernel_desc_t *kd, char *reason, size_t cap) {
  if (kd->n_outputs != 1 || kd->n_expr > 0) {
    snprintf(reason, cap, "a %s kernel with an epilogue or several outputs",
             qiao_kd_kind_name(kd->kind));
    return false;
  }
  const qiao_kd_operand_t *o = &kd->outputs[0];
  if (qiao_dtype_size(o->type.dtype) > 8 || ascend_dtype(o->type.dtype) < 0) {
    snprintf(reason, cap, "%s of %s", qiao_kd_kind_name(kd->kind), qiao_dtype_name(o->type.dtype));
    return false;
  }
  if (kd->kind == QIAO_KD_GATHER) {
    const qiao_kd_operand_t *t = &kd->inputs[0], *ix = &kd->inputs[1];
    if (kd->n_inputs != 2 || (ix->type.dtype != QIAO_I32 && ix->type.dtype != QIAO_I64) ||
        t->type.dtype != o->type.dtype) {
      snprintf(reason, cap, "a gather with indices of %s", qiao_dtype_name(ix->type.dtype));
      return false;
    }
    int64_t st = 1;
    for (int d = t->type.shape.rank - 1; d >= 0; --d) {
      if (t->type.shape.dims[d] > 1 && t->strides[d] != st) {
        snprintf(reason, cap, "a gather from a strided table");
        return false;
      }
      st *= t->type.shape.dims[d];
    }
    st = 1;
    for (int d = o->type.shape.rank - 1; d >= 0; --d) {
      if (o->type.shape.dims[d] > 1 && o->strides[d] != st) {
        snprintf(reason, cap, "a gather into a strided output");
        return false;
      }
      st *= o->type.shape.dims[d];
    }
    int64_t ib = qiao_shape_numel(&ix->type.shape) * (int64_t)qiao_dtype_size(ix->type.dtype);
    if (ib > CP_INDEX_BUDGET) {
      snprintf(reason, cap,
               "a gather of %lld bytes of indices (they are read into the UB once, up to %d)",
               (long long)ib, CP_INDEX_BUDGET);
      return false;
    }
    return true;
  }
  if (kd->op == QIAO_OP_ROPE) {
    snprintf(reason, cap,
             "rope is not lowered for the Ascend class yet (it needs Sin/Cos over f32 angles "
             "accurate for large positions)");
    return false;
  }
  qiao_cg_affine_t segs[QIAO_KD_MAX_OPERANDS];
  int n = 0;
  qiao_status_t st = qiao_cg_copy_plan(kd, "copy", segs, &n);
  if (st) {
    snprintf(reason, cap, "%s", qiao_status_message(st));
    qiao_status_free(st);
    return false;
  }
  for (int s = 0; s < n; ++s) {
    if (kd->inputs[segs[s].input].type.dtype != o->type.dtype) {
      snprintf(reason, cap, "a copy that converts dtypes");
      return false;
    }
    cp_rows_t r;
    to_rows(&segs[s], &r);
    if (!r.gather || numel(&segs[s]) == 0) continue;
    int64_t lo, hi;
    span(&segs[s], &lo, &hi);
    int64_t bytes = (hi - lo) * (int64_t)qiao_dtype_size(o->type.dtype);
    if (!out_in_domain_order(&segs[s]) && numel(&segs[s]) <= CP_ELEMENT_ROWS_MAX) continue;
    if (!out_in_domain_order(&segs[s]) || bytes > CP_RESIDENT_BUDGET) {
      snprintf(reason, cap,
               "an element-strided copy (a transpose of the last axis or a stepped slice) whose "
               "source spans %lld bytes (the Gather path keeps it resident in the UB, up to %d; "
               "a tiled transpose is not lowered)",
               (long long)bytes, CP_RESIDENT_BUDGET);
      return false;
    }
  }
  return true;
}

/* ------------------------------------------------------------ emission */

typedef struct cp_ctx {
  ascend_module_t *m;
  const qiao_kernel_desc_t *kd;
  LLVMValueRef core, blk, bn, gm_out;
  LLVMValueRef gm_in[QIAO_KD_MAX_OPERANDS];
  int64_t es, ub_half; /* element size; bytes per ping-pong buffer */
  /* gather */
  int64_t idx_off, V, inner, ni;
  int idx_dt;
} cp_ctx_t;

static void flag(cp_ctx_t *c, bool set, int src, int dst, LLVMValueRef id) {
  LLVMValueRef a[4] = {c->core, I(c->m, src), I(c->m, dst), id};
  ascend_uop(c->m, set ? "qiao_ascend_set_flag" : "qiao_ascend_wait_flag", a, 4, NULL);
}

/* iterations of this block over n items: ceil((n - blk) / bn) when blk < n */
static LLVMValueRef block_iters(cp_ctx_t *c, int64_t n) {
  LLVMBuilderRef b = c->m->b;
  LLVMValueRef rem = LLVMBuildSub(b, I(c->m, n), c->blk, "");
  LLVMValueRef it =
      LLVMBuildSDiv(b, LLVMBuildSub(b, LLVMBuildAdd(b, rem, c->bn, ""), I(c->m, 1), ""), c->bn, "");
  return LLVMBuildSelect(b, LLVMBuildICmp(b, LLVMIntSGT, rem, I(c->m, 0), ""), it, I(c->m, 0), "");
}

/* The GM element offsets of row `row` (pieces of C elements per run). */
static void row_offsets(cp_ctx_t *c, const cp_rows_t *r, int64_t P, int64_t C, LLVMValueRef row,
                        LLVMValueRef *out_in, LLVMValueRef *out_out, LLVMValueRef *out_len) {
  ascend_module_t *m = c->m;
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  LLVMValueRef rr = LLVMBuildSDiv(b, row, I(m, P), "r");
  LLVMValueRef piece = LLVMBuildSRem(b, row, I(m, P), "piece");
  LLVMValueRef pin = qiao_cg_imul(cg, piece, C);
  LLVMValueRef in, out;
  if (c->kd->kind == QIAO_KD_GATHER) { /* rows (o, j): table row idx[j] of block o */
    LLVMValueRef o = LLVMBuildSDiv(b, rr, I(m, c->ni), "o");
    LLVMValueRef j = LLVMBuildSRem(b, rr, I(m, c->ni), "j");
    LLVMValueRef a[4] = {c->core, I(m, c->idx_dt), I(m, c->idx_off), j};
    LLVMValueRef ix = ascend_uop(m, "qiao_ascend_get_value", a, 4, "index");
    ix = qiao_cg_imax(cg, I(m, 0), qiao_cg_imin(cg, ix, I(m, c->V - 1)));
    in = qiao_cg_imul(cg, qiao_cg_imadd(cg, ix, o, c->V), c->inner);
    out = qiao_cg_imul(cg, rr, c->inner);
  } else {
    in = I(m, r->in_base);
    out = I(m, r->out_base);
    LLVMValueRef rest = rr;
    for (int d = r->n_outer - 1; d >= 0; --d) {
      LLVMValueRef cd = d ? LLVMBuildSRem(b, rest, I(m, r->dims[d]), "") : rest;
      if (d) rest = LLVMBuildSDiv(b, rest, I(m, r->dims[d]), "");
      in = qiao_cg_imadd(cg, in, cd, r->in_st[d]);
      out = qiao_cg_imadd(cg, out, cd, r->out_st[d]);
    }
  }
  *out_in = LLVMBuildAdd(b, in, pin, "in");
  *out_out = LLVMBuildAdd(b, out, pin, "out");
  *out_len = qiao_cg_imin(cg, I(m, C), LLVMBuildSub(b, I(m, r->L), pin, ""));
}

/* The row-copy loop of one segment (R rows of L elements). */
static void emit_row_copies(cp_ctx_t *c, const cp_rows_t *r, int64_t R) {
  ascend_module_t *m = c->m;
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  int64_t es = c->es;
  int64_t C = r->L, pitch = rb(C * es);
  if (pitch > c->ub_half) { /* split long runs into pieces */
    C = c->ub_half / es / 32 * 32;
    pitch = rb(C * es);
  }
  int64_t P = (r->L + C - 1) / C, rows = R * P;
  int64_t T = c->ub_half / pitch;
  if (T > rows) T = rows;
  if (T < 1) T = 1;
  int64_t n_tiles = (rows + T - 1) / T;
  ascend_listing_printf(m,
                        "  rows: %lld of %lld elements (%lld pieces each), %lld per tile, %lld "
                        "tiles, UB pitch %lld\n",
                        (long long)R, (long long)r->L, (long long)P, (long long)T,
                        (long long)n_tiles, (long long)pitch);
  LLVMValueRef src = c->gm_in[c->kd->kind == QIAO_KD_GATHER ? 0 : r->input];
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), block_iters(c, n_tiles), 1, "it", &tl);
  LLVMValueRef ping = LLVMBuildAnd(b, tl.iv, I(m, 1), "ping");
  LLVMValueRef t = LLVMBuildAdd(b, c->blk, LLVMBuildMul(b, tl.iv, c->bn, ""), "tile");
  LLVMValueRef r0 = qiao_cg_imul(cg, t, T);
  LLVMValueRef nr = qiao_cg_imin(cg, I(m, T), LLVMBuildSub(b, I(m, rows), r0, ""));
  LLVMValueRef buf = qiao_cg_imul(cg, ping, c->ub_half);
  flag(c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, ping);
  for (int pass = 0; pass < 2; ++pass) {
    ascend_listing_printf(m, "    per row of the tile:\n");
    qiao_cg_loop_t rl;
    qiao_cg_loop_begin(cg, I(m, 0), nr, 1, "row", &rl);
    LLVMValueRef in, out, len;
    row_offsets(c, r, P, C, LLVMBuildAdd(b, r0, rl.iv, ""), &in, &out, &len);
    LLVMValueRef ub = LLVMBuildAdd(b, buf, qiao_cg_imul(cg, rl.iv, pitch), "");
    LLVMValueRef bytes = qiao_cg_imul(cg, len, es);
    if (pass == 0) {
      LLVMValueRef p =
          LLVMBuildGEP2(b, m->t_i8, src, (LLVMValueRef[]){qiao_cg_imul(cg, in, es)}, 1, "");
      LLVMValueRef a[4] = {c->core, ub, p, bytes};
      ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "row in");
    } else {
      LLVMValueRef p =
          LLVMBuildGEP2(b, m->t_i8, c->gm_out, (LLVMValueRef[]){qiao_cg_imul(cg, out, es)}, 1, "");
      LLVMValueRef a[4] = {c->core, p, ub, bytes};
      ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", a, 4, "row out");
    }
    qiao_cg_loop_end(cg, &rl);
    if (pass == 0) {
      flag(c, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE3, ping);
      flag(c, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_MTE3, ping);
    }
  }
  flag(c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, ping);
  qiao_cg_loop_end(cg, &tl);
}

static LLVMValueRef const_i64s(ascend_module_t *m, const int64_t *v, int n, const char *name) {
  LLVMValueRef el[QIAO_MAX_RANK + 1];
  int k = n > 0 ? n : 1;
  for (int i = 0; i < k; ++i)
    el[i] = I(m, i < n ? v[i] : 0);
  LLVMValueRef g = LLVMAddGlobal(m->mod, LLVMArrayType2(m->t_i64, (uint64_t)k), name);
  LLVMSetInitializer(g, LLVMConstArray2(m->t_i64, el, (uint64_t)k));
  LLVMSetGlobalConstant(g, 1);
  LLVMSetLinkage(g, LLVMPrivateLinkage);
  return g;
}

/* The Gather path of one segment: the source span resident, output tiles
 * gathered by the vector unit. UB: [resident span | out ping | out pong]. */
static void emit_gather_copies(cp_ctx_t *c, const qiao_cg_affine_t *a) {
  ascend_module_t *m = c->m;
  qiao_cg_t *cg = &m->base;
  LLVMBuilderRef b = m->b;
  int64_t es = c->es, lo, hi, n = numel(a);
  span(a, &lo, &hi);
  int64_t res = rb((hi - lo) * es);
  int64_t obuf = (m->info.ub_bytes - res) / 2 / 32 * 32;
  int64_t tile = obuf / es;
  if (tile > n) tile = n;
  int64_t n_tiles = (n + tile - 1) / tile;
  ascend_listing_printf(m,
                        "  element gather: source span %lld elements resident, output tiles of "
                        "%lld, %lld tiles\n",
                        (long long)(hi - lo), (long long)tile, (long long)n_tiles);
  LLVMValueRef src =
      LLVMBuildGEP2(b, m->t_i8, c->gm_in[a->input], (LLVMValueRef[]){I(m, lo * es)}, 1, "");
  LLVMValueRef ca[4] = {c->core, I(m, 0), src, I(m, (hi - lo) * es)};
  ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", ca, 4, "source span, resident");
  flag(c, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, I(m, 0));
  flag(c, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_V, I(m, 0));
  qiao_cg_loop_t tl;
  qiao_cg_loop_begin(cg, I(m, 0), block_iters(c, n_tiles), 1, "it", &tl);
  LLVMValueRef ping = LLVMBuildAnd(b, tl.iv, I(m, 1), "ping");
  LLVMValueRef t = LLVMBuildAdd(b, c->blk, LLVMBuildMul(b, tl.iv, c->bn, ""), "tile");
  LLVMValueRef start = qiao_cg_imul(cg, t, tile);
  LLVMValueRef len = qiao_cg_imin(cg, I(m, tile), LLVMBuildSub(b, I(m, n), start, ""));
  LLVMValueRef ob = qiao_cg_imadd(cg, I(m, res), ping, obuf);
  flag(c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, ping);
  LLVMValueRef g[11] = {c->core,
                        I(m, ascend_dtype(c->kd->outputs[0].type.dtype)),
                        ob,
                        I(m, 0),
                        I(m, hi - lo),
                        I(m, a->in_base - lo),
                        start,
                        len,
                        I(m, a->n),
                        const_i64s(m, a->dims, a->n, "cp_dims"),
                        const_i64s(m, a->in_st, a->n, "cp_strides")};
  ascend_uop(m, "qiao_ascend_vgather", g, 11, "output tile by the index view");
  flag(c, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, ping);
  flag(c, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE3, ping);
  LLVMValueRef dst = LLVMBuildGEP2(
      b, m->t_i8, c->gm_out,
      (LLVMValueRef[]){qiao_cg_imul(cg, LLVMBuildAdd(b, start, I(m, a->out_base), ""), es)}, 1, "");
  LLVMValueRef oa[4] = {c->core, dst, ob, qiao_cg_imul(cg, len, es)};
  ascend_uop(m, "qiao_ascend_copy_ub_to_gm_pad", oa, 4, "output tile");
  flag(c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, ping);
  qiao_cg_loop_end(cg, &tl);
  /* the resident span is reused by the next segment: its copy waits for the Gathers */
  flag(c, true, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
  flag(c, false, QIAO_ASCEND_PIPE_V, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
}

qiao_status_t ascend_lower_copy(ascend_module_t *m, const qiao_kernel_desc_t *kd, LLVMValueRef fn) {
  LLVMBuilderRef b = m->b;
  LLVMPositionBuilderAtEnd(b, LLVMAppendBasicBlockInContext(m->ctx, fn, "entry"));
  cp_ctx_t c = {.m = m, .kd = kd, .core = LLVMGetParam(fn, 5)};
  LLVMValueRef bind = LLVMGetParam(fn, 0);
  for (int32_t k = 0; k <= kd->n_inputs; ++k) {
    LLVMValueRef v = LLVMBuildLoad2(
        b, m->t_ptr, LLVMBuildGEP2(b, m->t_ptr, bind, (LLVMValueRef[]){I(m, k)}, 1, ""), "gm");
    if (k < kd->n_inputs)
      c.gm_in[k] = v;
    else
      c.gm_out = v;
  }
  c.es = qiao_dtype_size(kd->outputs[0].type.dtype);
  c.blk = ascend_uop(m, "qiao_ascend_get_block_idx", &c.core, 1, NULL);
  c.bn = ascend_uop(m, "qiao_ascend_get_block_num", &c.core, 1, NULL);
  qiao_cg_affine_t segs[QIAO_KD_MAX_OPERANDS];
  int n_segs = 0;
  cp_rows_t rows[QIAO_KD_MAX_OPERANDS];
  if (kd->kind == QIAO_KD_GATHER) {
    const qiao_kd_operand_t *t = &kd->inputs[0], *ix = &kd->inputs[1];
    int rank = t->type.shape.rank;
    int ax = (int)(kd->attrs.axis < 0 ? kd->attrs.axis + rank : kd->attrs.axis);
    int64_t outer = 1;
    c.inner = 1;
    for (int d = 0; d < ax; ++d)
      outer *= t->type.shape.dims[d];
    for (int d = ax + 1; d < rank; ++d)
      c.inner *= t->type.shape.dims[d];
    c.V = t->type.shape.dims[ax];
    c.ni = qiao_shape_numel(&ix->type.shape);
    c.idx_dt = ascend_dtype(ix->type.dtype);
    int64_t ib = rb(c.ni * (int64_t)qiao_dtype_size(ix->type.dtype));
    c.idx_off = m->info.ub_bytes - ib;
    c.ub_half = (m->info.ub_bytes - ib) / 2 / 32 * 32;
    memset(&rows[0], 0, sizeof rows[0]);
    rows[0].L = c.inner;
    n_segs = 1;
    ascend_listing_printf(m, "  gather: %lld indices read into the UB once, %lld x %lld rows\n",
                          (long long)c.ni, (long long)outer, (long long)c.ni);
    if (c.ni > 0) {
      LLVMValueRef a[4] = {c.core, I(m, c.idx_off), c.gm_in[1],
                           I(m, c.ni * (int64_t)qiao_dtype_size(ix->type.dtype))};
      ascend_uop(m, "qiao_ascend_copy_gm_to_ub_pad", a, 4, "indices");
      flag(&c, true, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_S, I(m, 0));
      flag(&c, false, QIAO_ASCEND_PIPE_MTE2, QIAO_ASCEND_PIPE_S, I(m, 0));
    }
    flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
    flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
    if (outer * c.ni * c.inner > 0) emit_row_copies(&c, &rows[0], outer * c.ni);
    flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
    flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
    LLVMBuildRetVoid(b);
    return NULL;
  }
  QIAO_RETURN_IF_ERROR(qiao_cg_copy_plan(kd, "copy", segs, &n_segs));
  c.ub_half = m->info.ub_bytes / 2 / 32 * 32;
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 0));
  flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 1));
  for (int s = 0; s < n_segs; ++s) {
    int64_t n = numel(&segs[s]);
    if (n == 0) continue;
    to_rows(&segs[s], &rows[s]);
    ascend_listing_printf(m, "  segment %d (input %d):\n", s, segs[s].input);
    if (rows[s].gather && !out_in_domain_order(&segs[s])) to_element_rows(&segs[s], &rows[s]);
    if (rows[s].gather) {
      /* the row buffers and the Gather's UB overlap: MTE3 of both is done */
      flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
      flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
      emit_gather_copies(&c, &segs[s]);
      flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
      flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
    } else {
      flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 0));
      flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 1));
      emit_row_copies(&c, &rows[s], n / rows[s].L);
      flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 0));
      flag(&c, true, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 1));
    }
  }
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 0));
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_MTE2, I(m, 1));
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 0));
  flag(&c, false, QIAO_ASCEND_PIPE_MTE3, QIAO_ASCEND_PIPE_V, I(m, 1));
  LLVMBuildRetVoid(b);
  return NULL;
}
