/* Qiao HAL — ascend-sim: the unit operations (functional run, rule checks,
 * per-pipe timing) and the model parameters of the shipped profiles.
 *
 * Every unit operation: (1) does nothing once the core has failed; (2) checks
 * its rules and on the first violation records "kernel, core, operation,
 * rule"; (3) runs functionally on the core's buffers; (4) advances the
 * timeline: the scalar pipe issues it (issue_cycles), it starts on its pipe
 * at max(pipe free, issue time), occupies the pipe for its cost and is
 * visible `latency` cycles after. Flags carry completion times between
 * pipes. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../simt/simt_float.h"
#include "ascend_internal.h"

/* ------------------------------------------------------------ models */

/* docs/ascend-model.md: sources per figure ([estimate] where none). */
static const asim_model_t kModels[] = {
    {.profile = "ascend-910b",
     .clock_hz = 1.80e9,
     .aic = 24,
     .aiv = 48,
     .ub_bytes = 196608,
     .l1_bytes = 524288,
     .l0a_bytes = 65536,
     .l0b_bytes = 65536,
     .l0c_bytes = 131072,
     .hbm_bytes_per_s = 1.6e12,
     .gm_read_bpc = 32,
     .l2_read_bpc = 110,
     .l2_bytes = 192ll << 20,
     .gm_write_bpc = 64,
     .mte2_latency = 550, /* calibrated: C1, C2 (docs/ascend-model.md) */
     .mte3_latency = 150,
     .issue_cycles = 2,
     .vec_startup = 12,
     .vec_bytes_per_repeat = 256,
     .vec_cpr_simple = 1,
     .vec_cpr_special = 4,
     .vec_cpr_composite = 12,
     .flag_latency = 8,
     .l1_l0a_bpc = 512,
     .l1_l0b_bpc = 256,
     .fix_bpc = 64,
     .mte1_latency = 30,
     .cube_latency = 20,
     .fix_latency = 100,
     .cube_startup = 8,
     .launch_ns = 14000, /* calibrated: C1, C2 (docs/ascend-model.md) */
     .fp8 = false},
    {.profile = "ascend-910c",
     .clock_hz = 1.85e9,
     .aic = 48,
     .aiv = 96,
     .ub_bytes = 196608,
     .l1_bytes = 524288,
     .l0a_bytes = 65536,
     .l0b_bytes = 65536,
     .l0c_bytes = 131072,
     .hbm_bytes_per_s = 3.2e12,
     .gm_read_bpc = 32,
     .l2_read_bpc = 110,
     .l2_bytes = 192ll << 20,
     .gm_write_bpc = 64,
     .mte2_latency = 550, /* calibrated: C1, C2 (docs/ascend-model.md) */
     .mte3_latency = 150,
     .issue_cycles = 2,
     .vec_startup = 12,
     .vec_bytes_per_repeat = 256,
     .vec_cpr_simple = 1,
     .vec_cpr_special = 4,
     .vec_cpr_composite = 12,
     .flag_latency = 8,
     .l1_l0a_bpc = 512,
     .l1_l0b_bpc = 256,
     .fix_bpc = 64,
     .mte1_latency = 30,
     .cube_latency = 20,
     .fix_latency = 100,
     .cube_startup = 8,
     .launch_ns = 14000, /* calibrated: C1, C2 (docs/ascend-model.md) */
     .fp8 = false},
};

const asim_model_t *asim_model_for(const char *profile_name) {
  for (size_t i = 0; i < sizeof kModels / sizeof kModels[0]; ++i)
    if (!strcmp(kModels[i].profile, profile_name)) return &kModels[i];
  return NULL;
}

/* ------------------------------------------------------------ names */

static const char *const kPipeNames[] = {"PIPE_S",    "PIPE_V",    "PIPE_M",   "PIPE_MTE1",
                                         "PIPE_MTE2", "PIPE_MTE3", "PIPE_FIX", "PIPE_ALL"};
static const char *const kDtNames[] = {"f32", "f16", "bf16", "f8e4m3", "f8e5m2",
                                       "s8",  "u8",  "s16",  "s32",    "s64"};
static const int kDtSize[] = {4, 2, 2, 1, 1, 1, 1, 2, 4, 8};

const char *qiao_ascend_pipe_name(int64_t p) {
  return p >= 0 && p <= QIAO_ASCEND_PIPE_ALL ? kPipeNames[p] : "PIPE_?";
}
const char *qiao_ascend_dtype_name(int64_t dt) {
  return dt >= 0 && dt < QIAO_ASCEND_DTYPE_COUNT ? kDtNames[dt] : "?";
}

/* ------------------------------------------------------------ core state */

void asim_core_reset(asim_core_t *c, int64_t block) {
  c->block = block;
  c->kind = 0;
  memset(c->ub_w, 0, (size_t)c->m->ub_bytes);
  if (c->cube_used) {
    const int64_t caps[4] = {c->m->l1_bytes, c->m->l0a_bytes, c->m->l0b_bytes, c->m->l0c_bytes};
    for (int i = 0; i < 4; ++i)
      memset(c->cb_w[i], 0, (size_t)caps[i]);
    c->cube_used = false;
  }
  memset(c->flag_n, 0, sizeof c->flag_n);
  c->s = 0;
  memset(c->free, 0, sizeof c->free);
  memset(c->done, 0, sizeof c->done);
  memset(c->busy, 0, sizeof c->busy);
  memset(c->bytes, 0, sizeof c->bytes);
  c->hbm_read = 0;
  c->ops = 0;
  c->failed = false;
  c->err[0] = 0;
}

double asim_core_end(const asim_core_t *c) {
  double t = c->s;
  for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT; ++p)
    if (c->done[p] > t) t = c->done[p];
  return t;
}

/* Records the first violation: kernel, core, operation, rule. */
static bool violation(asim_core_t *c, const char *op, const char *rule, const char *fmt, ...) {
  if (c->failed) return false;
  c->failed = true;
  int n =
      snprintf(c->err, sizeof c->err,
               "%s: kernel '%s', core %lld (%s, block %lld of %lld), unit op #%lld %s: rule "
               "'%s': ",
               c->uri, c->kernel, (long long)(c->block % (c->kind == 2 ? c->m->aic : c->m->aiv)),
               c->kind == 2 ? "AIC" : "AIV", (long long)c->block, (long long)c->block_num,
               (long long)c->ops, op, rule);
  if (n < 0 || (size_t)n >= sizeof c->err) return false;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err + n, sizeof c->err - (size_t)n, fmt, ap);
  va_end(ap);
  return false;
}

/* Starts an op on `pipe`: counts it; false when the core has failed. */
static bool op_begin(asim_core_t *c) {
  if (c->failed) return false;
  c->ops++;
  return true;
}

/* Times an op on pipe p: issued by the scalar pipe, occupies p for `cost`,
 * visible `latency` later. */
static void op_time(asim_core_t *c, int p, double cost, double latency) {
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
  double start = c->free[p] > c->s ? c->free[p] : c->s;
  c->free[p] = start + cost;
  c->busy[p] += cost;
  double vis = start + cost + latency;
  if (vis > c->done[p]) c->done[p] = vis;
}

static bool check_vector_core(asim_core_t *c, const char *op) {
  if (c->kind == 2)
    return violation(c, op, "unit",
                     "the UB and the vector unit belong to an AIV; this block "
                     "already used cube buffers");
  c->kind = 1;
  return true;
}

static bool check_dtype(asim_core_t *c, const char *op, int64_t dt) {
  if (dt < 0 || dt >= QIAO_ASCEND_DTYPE_COUNT)
    return violation(c, op, "dtype", "unknown dtype code %lld", (long long)dt);
  if ((dt == QIAO_ASCEND_F8E4M3 || dt == QIAO_ASCEND_F8E5M2) && !c->m->fp8)
    return violation(c, op, "dtype",
                     "%s is not supported by the units of %s (no FP8 on Ascend A2/A3)",
                     kDtNames[dt], c->m->profile);
  return true;
}

/* A UB region [off, off + bytes): aligned start, inside the UB. */
static bool check_ub(asim_core_t *c, const char *op, const char *what, int64_t off, int64_t bytes) {
  if (off < 0 || bytes < 0 || off > c->m->ub_bytes || bytes > c->m->ub_bytes - off)
    return violation(
        c, op, "capacity", "%s UB region [%lld, %lld) is outside the %lld-byte UB of %s", what,
        (long long)off, (long long)(off + bytes), (long long)c->m->ub_bytes, c->m->profile);
  if (off % 32)
    return violation(c, op, "alignment", "%s UB offset %lld is not 32-byte aligned", what,
                     (long long)off);
  return true;
}

/* Every byte of a UB region was written before (by a copy or a vector op). */
static bool check_written(asim_core_t *c, const char *op, const char *what, int64_t off,
                          int64_t bytes) {
  const uint8_t *w = c->ub_w + off;
  for (int64_t i = 0; i < bytes; ++i)
    if (!w[i])
      return violation(c, op, "uninitialized read",
                       "%s UB bytes [%lld, %lld) read, byte %lld was never written", what,
                       (long long)off, (long long)(off + bytes), (long long)(off + i));
  return true;
}

static bool check_gm(asim_core_t *c, const char *op, const void *gm, int64_t bytes) {
  uintptr_t lo = (uintptr_t)gm, hi = lo + (uintptr_t)bytes;
  for (int32_t i = 0; i < c->n_gm; ++i)
    if (lo >= c->gm[i].lo && hi <= c->gm[i].hi && hi >= lo) return true;
  return violation(c, op, "GM bounds", "GM range of %lld bytes at %p is in no binding",
                   (long long)bytes, gm);
}

/* MTE2 cycles to read `rows` rows of row_bytes at stride ld_bytes from gm.
 * Every GM read goes through the L2; a core reads at the ini's l2 rate.
 * Lines (512 B) not read before in this dispatch are misses: they count
 * toward the kernel's HBM bound (the device bandwidth shared by all cores,
 * finish_report) and are then held while the L2 has room. Misses are not
 * charged to the core that happens to touch a line first: blocks run one
 * after the other here, while on the device the cores sharing a tile fetch it
 * together (at full occupancy the ini's per-core "ddr" rate, 24 x 32 B x
 * 1.8 GHz = 1.38 TB/s, is the HBM share the aggregate bound models). `moved`
 * scales the bytes (bursts of a padded copy). */
static double gm_read_cycles(asim_core_t *c, const void *gm, int64_t rows, int64_t row_bytes,
                             int64_t ld_bytes, double moved) {
  double total = (double)rows * (double)row_bytes, hit = 0;
  uintptr_t lo = (uintptr_t)gm;
  int32_t b = -1;
  for (int32_t i = 0; i < c->n_gm; ++i)
    if (lo >= c->gm[i].lo && lo < c->gm[i].hi) b = i;
  if (b >= 0 && c->l2_lines && c->l2_lines[b] && total > 0) {
    uint8_t *lines = c->l2_lines[b];
    for (int64_t r = 0; r < rows; ++r) {
      uintptr_t s0 = lo + (uintptr_t)(r * ld_bytes) - c->gm[b].lo, s1 = s0 + (uintptr_t)row_bytes;
      for (uintptr_t l = s0 / 512; l * 512 < s1; ++l) {
        uintptr_t a = l * 512 > s0 ? l * 512 : s0, e = (l + 1) * 512 < s1 ? (l + 1) * 512 : s1;
        if (lines[l])
          hit += (double)(e - a);
        else if (*c->l2_held + 512 <= c->m->l2_bytes) {
          lines[l] = 1;
          *c->l2_held += 512;
        }
      }
    }
  }
  double miss = total - hit, scale = total > 0 ? moved / total : 1;
  c->hbm_read += miss;
  return scale * total / c->m->l2_read_bpc;
}

static void mark(asim_core_t *c, int64_t off, int64_t bytes) {
  memset(c->ub_w + off, 1, (size_t)bytes);
}

/* ------------------------------------------------------------ block info */

int64_t qiao_ascend_get_block_idx(void *core) { return ((asim_core_t *)core)->block; }
int64_t qiao_ascend_get_block_num(void *core) { return ((asim_core_t *)core)->block_num; }

/* ------------------------------------------------------------ MTE copies */

static void copy_in(asim_core_t *c, int64_t ub, const void *gm, int64_t bytes, bool pad) {
  const char *op = pad ? "DataCopyPad GM->UB (MTE2)" : "DataCopy GM->UB (MTE2)";
  if (!op_begin(c) || !check_vector_core(c, op)) return;
  if (!pad && bytes % 32)
    return (void)violation(c, op, "alignment",
                           "DataCopy length %lld bytes is not a multiple of 32 (use DataCopyPad)",
                           (long long)bytes);
  int64_t padded = (bytes + 31) / 32 * 32;
  if (!check_ub(c, op, "destination", ub, padded) || !check_gm(c, op, gm, bytes)) return;
  if (bytes) memcpy(c->ub + ub, gm, (size_t)bytes);
  memset(c->ub + ub + bytes, 0, (size_t)(padded - bytes));
  mark(c, ub, padded);
  c->bytes[QIAO_ASCEND_PATH_GM_UB] += (double)bytes;
  op_time(c, QIAO_ASCEND_PIPE_MTE2, gm_read_cycles(c, gm, 1, bytes, bytes, (double)padded),
          c->m->mte2_latency);
}

static void copy_out(asim_core_t *c, void *gm, int64_t ub, int64_t bytes, bool pad) {
  const char *op = pad ? "DataCopyPad UB->GM (MTE3)" : "DataCopy UB->GM (MTE3)";
  if (!op_begin(c) || !check_vector_core(c, op)) return;
  if (!pad && bytes % 32)
    return (void)violation(c, op, "alignment",
                           "DataCopy length %lld bytes is not a multiple of 32 (use DataCopyPad)",
                           (long long)bytes);
  if (!check_ub(c, op, "source", ub, bytes) || !check_written(c, op, "source", ub, bytes) ||
      !check_gm(c, op, gm, bytes))
    return;
  if (bytes) memcpy(gm, c->ub + ub, (size_t)bytes);
  c->bytes[QIAO_ASCEND_PATH_UB_GM] += (double)bytes;
  op_time(c, QIAO_ASCEND_PIPE_MTE3, (double)((bytes + 31) / 32 * 32) / c->m->gm_write_bpc,
          c->m->mte3_latency);
}

void qiao_ascend_copy_gm_to_ub(void *core, int64_t ub_off, const void *gm, int64_t bytes) {
  copy_in(core, ub_off, gm, bytes, false);
}
void qiao_ascend_copy_gm_to_ub_pad(void *core, int64_t ub_off, const void *gm, int64_t bytes) {
  copy_in(core, ub_off, gm, bytes, true);
}
void qiao_ascend_copy_ub_to_gm(void *core, void *gm, int64_t ub_off, int64_t bytes) {
  copy_out(core, gm, ub_off, bytes, false);
}
void qiao_ascend_copy_ub_to_gm_pad(void *core, void *gm, int64_t ub_off, int64_t bytes) {
  copy_out(core, gm, ub_off, bytes, true);
}

/* ------------------------------------------------------------ vector unit */

static double ld(const asim_core_t *c, int64_t dt, int64_t off, int64_t i) {
  const uint8_t *p = c->ub + off;
  switch (dt) {
  case QIAO_ASCEND_F32: {
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
  }
  case QIAO_ASCEND_F16:
  case QIAO_ASCEND_BF16: {
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return fp_decode(h, dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16);
  }
  case QIAO_ASCEND_F8E4M3: return fp_decode(p[i], FMT_E4M3);
  case QIAO_ASCEND_F8E5M2: return fp_decode(p[i], FMT_E5M2);
  case QIAO_ASCEND_S8: return (int8_t)p[i];
  case QIAO_ASCEND_U8: return p[i];
  case QIAO_ASCEND_S16: {
    int16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  case QIAO_ASCEND_S32: {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  default: {
    int64_t v;
    memcpy(&v, p + 8 * i, 8);
    return (double)v;
  }
  }
}

/* An integer result stored wrapping (two's complement), as the unit's integer ops do. */
static void st_int(uint8_t *p, int64_t dt, int64_t i, int64_t v) {
  switch (dt) {
  case QIAO_ASCEND_S8:
  case QIAO_ASCEND_U8: p[i] = (uint8_t)v; break;
  case QIAO_ASCEND_S16: {
    uint16_t u = (uint16_t)v;
    memcpy(p + 2 * i, &u, 2);
    break;
  }
  case QIAO_ASCEND_S32: {
    uint32_t u = (uint32_t)v;
    memcpy(p + 4 * i, &u, 4);
    break;
  }
  default: memcpy(p + 8 * i, &v, 8); break;
  }
}

static void st(asim_core_t *c, int64_t dt, int64_t off, int64_t i, double v) {
  uint8_t *p = c->ub + off;
  switch (dt) {
  case QIAO_ASCEND_F32: {
    float f = (float)v;
    memcpy(p + 4 * i, &f, 4);
    break;
  }
  case QIAO_ASCEND_F16:
  case QIAO_ASCEND_BF16: {
    uint16_t h = (uint16_t)fp_encode(v, dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16, RM_RN, false);
    memcpy(p + 2 * i, &h, 2);
    break;
  }
  case QIAO_ASCEND_F8E4M3: p[i] = (uint8_t)fp_encode(v, FMT_E4M3, RM_RN, true); break;
  case QIAO_ASCEND_F8E5M2: p[i] = (uint8_t)fp_encode(v, FMT_E5M2, RM_RN, false); break;
  default: { /* integers: float -> int converts toward zero, saturating (Cast CAST_TRUNC) */
    int bits = dt > QIAO_ASCEND_F8E5M2 && dt < QIAO_ASCEND_DTYPE_COUNT ? 8 * kDtSize[dt] : 32;
    double lim = ldexp(1.0, bits - 1);
    double lo = dt == QIAO_ASCEND_U8 ? 0.0 : -lim, hi = dt == QIAO_ASCEND_U8 ? 255.0 : lim - 1;
    double t = isnan(v) ? 0.0 : trunc(v);
    t = t < lo ? lo : t > hi ? hi : t;
    st_int(p, dt, i, dt == QIAO_ASCEND_S64 && t >= lim ? INT64_MAX : (int64_t)t);
    break;
  }
  }
}

static bool is_int_dt(int64_t dt) { return dt >= QIAO_ASCEND_S8 && dt < QIAO_ASCEND_DTYPE_COUNT; }

static int64_t ld_int(const asim_core_t *c, int64_t dt, int64_t off, int64_t i) {
  if (dt == QIAO_ASCEND_S64) {
    int64_t v;
    memcpy(&v, c->ub + off + 8 * i, 8);
    return v;
  }
  return (int64_t)ld(c, dt, off, i);
}

/* Integer arithmetic on the vector unit: int16 / int32 only. */
static bool check_int_arith(asim_core_t *c, const char *op, int64_t dt, bool supported) {
  if (!is_int_dt(dt)) return true;
  if (dt != QIAO_ASCEND_S32 && dt != QIAO_ASCEND_S16)
    return violation(c, op, "dtype",
                     "the vector unit of %s has no %s arithmetic (int16/int32 only)", c->m->profile,
                     kDtNames[dt]);
  if (!supported) return violation(c, op, "dtype", "%s has no integer form on the vector unit", op);
  return true;
}

/* The rules and the timing of a vector op over n elements: operands and the
 * result in the UB, aligned, read operands written; cost = startup + repeats
 * of 256 B (the widest operand) x cycles per repeat. */
static bool vec_begin(asim_core_t *c, const char *op, double cpr, int64_t dt, int64_t dst,
                      int64_t n, const int64_t *src, const int64_t *src_dt, int nsrc) {
  if (!op_begin(c) || !check_vector_core(c, op) || !check_dtype(c, op, dt) || dt < 0 ||
      dt >= QIAO_ASCEND_DTYPE_COUNT)
    return false;
  if (n < 0) return violation(c, op, "count", "negative element count %lld", (long long)n);
  if (dt == QIAO_ASCEND_BF16 && nsrc > 0 && src_dt == NULL)
    return violation(c, op, "dtype",
                     "the vector unit of %s computes in f32 or f16, not bf16 "
                     "(Cast first)",
                     c->m->profile);
  int64_t width = kDtSize[dt];
  for (int k = 0; k < nsrc; ++k) {
    int64_t sdt = src_dt ? src_dt[k] : dt;
    if (!check_dtype(c, op, sdt) || sdt < 0 || sdt >= QIAO_ASCEND_DTYPE_COUNT) return false;
    int64_t ssz = kDtSize[sdt];
    int64_t bytes = n * ssz;
    if (ssz > width) width = ssz;
    if (!check_ub(c, op, "source", src[k], bytes) || !check_written(c, op, "source", src[k], bytes))
      return false;
  }
  if (!check_ub(c, op, "destination", dst, n * kDtSize[dt])) return false;
  double repeats = ceil((double)(n * width) / c->m->vec_bytes_per_repeat);
  op_time(c, QIAO_ASCEND_PIPE_V, c->m->vec_startup + repeats * cpr, 0);
  return true;
}

static double vmax(double a, double b) { return isnan(a) || isnan(b) ? NAN : (a > b ? a : b); }
static double vmin(double a, double b) { return isnan(a) || isnan(b) ? NAN : (a < b ? a : b); }

enum { B_ADD, B_SUB, B_MUL, B_DIV, B_MAX, B_MIN, B_POW };
static const char *const kBinNames[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Power"};

static void vbin(void *core, int op, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n) {
  asim_core_t *c = core;
  int64_t src[2] = {a, b};
  double cpr = op == B_DIV   ? c->m->vec_cpr_special
               : op == B_POW ? c->m->vec_cpr_composite
                             : c->m->vec_cpr_simple;
  if (!vec_begin(c, kBinNames[op], cpr, dt, dst, n, src, NULL, 2) ||
      !check_int_arith(c, kBinNames[op], dt, op != B_DIV && op != B_POW))
    return;
  if (is_int_dt(dt)) { /* wrapping two's complement, as the unit's int32 ops */
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = ld_int(c, dt, a, i), y = ld_int(c, dt, b, i), r;
      switch (op) {
      case B_ADD: r = (int64_t)((uint64_t)x + (uint64_t)y); break;
      case B_SUB: r = (int64_t)((uint64_t)x - (uint64_t)y); break;
      case B_MUL: r = (int64_t)((uint64_t)x * (uint64_t)y); break;
      case B_MAX: r = x > y ? x : y; break;
      default: r = x < y ? x : y; break;
      }
      st_int(c->ub + dst, dt, i, r);
    }
    mark(c, dst, n * kDtSize[dt]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double x = ld(c, dt, a, i), y = ld(c, dt, b, i), r;
    switch (op) {
    case B_ADD: r = x + y; break;
    case B_SUB: r = x - y; break;
    case B_MUL: r = x * y; break;
    case B_DIV: r = x / y; break;
    case B_MAX: r = vmax(x, y); break;
    case B_MIN: r = vmin(x, y); break;
    default: r = pow(x, y); break;
    }
    st(c, dt, dst, i, r);
  }
  mark(c, dst, n * kDtSize[dt]);
}

#define BIN(fn, op)                                                                                \
  void qiao_ascend_##fn(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t n) {    \
    vbin(core, op, dt, dst, a, b, n);                                                              \
  }
BIN(vadd, B_ADD)
BIN(vsub, B_SUB)
BIN(vmul, B_MUL)
BIN(vdiv, B_DIV)
BIN(vmax, B_MAX)
BIN(vmin, B_MIN)
BIN(vpow, B_POW)

enum {
  U_NEG,
  U_EXP,
  U_LN,
  U_SQRT,
  U_RSQRT,
  U_TANH,
  U_SIGMOID,
  U_SILU,
  U_GELU,
  U_GELU_TANH,
  U_RELU,
  U_ABS,
  U_SIN,
  U_COS
};
static const char *const kUnNames[U_COS + 1] = {"Muls(-1)", "Exp",     "Ln",   "Sqrt",      "Rsqrt",
                                                "Tanh",     "Sigmoid", "Silu", "Gelu(erf)", "Gelu",
                                                "Relu",     "Abs",     "Sin",  "Cos"};

static double unary(int op, double x) {
  switch (op) {
  case U_NEG: return -x;
  case U_EXP: return exp(x);
  case U_LN: return log(x);
  case U_SQRT: return sqrt(x);
  case U_RSQRT: return 1.0 / sqrt(x);
  case U_TANH: return tanh(x);
  case U_SIGMOID: return 1.0 / (1.0 + exp(-x));
  case U_SILU: return x / (1.0 + exp(-x));
  case U_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  case U_GELU_TANH: {
    const double k = sqrt(2.0 / M_PI);
    return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
  }
  case U_ABS: return fabs(x);
  case U_SIN: return sin(x);
  case U_COS: return cos(x);
  default: return x < 0.0 ? 0.0 : x;
  }
}

static void vun(void *core, int op, int64_t dt, int64_t dst, int64_t src, int64_t n) {
  asim_core_t *c = core;
  double cpr = op == U_NEG || op == U_RELU || op == U_ABS ? c->m->vec_cpr_simple
               : op <= U_RSQRT                            ? c->m->vec_cpr_special
                                                          : c->m->vec_cpr_composite;
  if (!vec_begin(c, kUnNames[op], cpr, dt, dst, n, &src, NULL, 1) ||
      !check_int_arith(c, kUnNames[op], dt, op == U_NEG || op == U_RELU || op == U_ABS))
    return;
  if (is_int_dt(dt)) {
    for (int64_t i = 0; i < n; ++i) {
      int64_t x = ld_int(c, dt, src, i);
      int64_t r = op == U_NEG    ? (int64_t)(0 - (uint64_t)x)
                  : op == U_RELU ? (x < 0 ? 0 : x)
                                 : (x < 0 ? (int64_t)(0 - (uint64_t)x) : x);
      st_int(c->ub + dst, dt, i, r);
    }
    mark(c, dst, n * kDtSize[dt]);
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    st(c, dt, dst, i, unary(op, ld(c, dt, src, i)));
  mark(c, dst, n * kDtSize[dt]);
}

#define UN(fn, op)                                                                                 \
  void qiao_ascend_##fn(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n) {             \
    vun(core, op, dt, dst, src, n);                                                                \
  }
UN(vneg, U_NEG)
UN(vexp, U_EXP)
UN(vln, U_LN)
UN(vsqrt, U_SQRT)
UN(vrsqrt, U_RSQRT)
UN(vtanh, U_TANH)
UN(vsigmoid, U_SIGMOID)
UN(vsilu, U_SILU)
UN(vgelu, U_GELU)
UN(vgelu_tanh, U_GELU_TANH)
UN(vrelu, U_RELU)
UN(vabs, U_ABS)
UN(vsin, U_SIN)
UN(vcos, U_COS)

void qiao_ascend_vfma(void *core, int64_t dt, int64_t dst, int64_t a, int64_t b, int64_t c_,
                      int64_t n) {
  asim_core_t *c = core;
  int64_t src[3] = {a, b, c_};
  if (!vec_begin(c, "FusedMulAdd", c->m->vec_cpr_simple, dt, dst, n, src, NULL, 3) ||
      !check_int_arith(c, "FusedMulAdd", dt, false))
    return;
  for (int64_t i = 0; i < n; ++i) /* f32 products are exact in f64: one rounding */
    st(c, dt, dst, i, ld(c, dt, a, i) * ld(c, dt, b, i) + ld(c, dt, c_, i));
  mark(c, dst, n * kDtSize[dt]);
}

void qiao_ascend_varange(void *core, int64_t dt, int64_t dst, double first, int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, "ArithProgression", c->m->vec_cpr_simple, dt, dst, n, NULL, NULL, 0)) return;
  for (int64_t i = 0; i < n; ++i)
    st(c, dt, dst, i, first + (double)i);
  mark(c, dst, n * kDtSize[dt]);
}

/* Adds / Muls / Maxs / Mins: a vector and a scalar. */
enum { S_ADD, S_MUL, S_MAX, S_MIN };
static const char *const kScNames[] = {"Adds", "Muls", "Maxs", "Mins"};

static void vscalar(void *core, int op, int64_t dt, int64_t dst, int64_t src, double s, int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, kScNames[op], c->m->vec_cpr_simple, dt, dst, n, &src, NULL, 1)) return;
  double sv = dt == QIAO_ASCEND_F32 ? (double)(float)s : s;
  for (int64_t i = 0; i < n; ++i) {
    double x = ld(c, dt, src, i), r;
    switch (op) {
    case S_ADD: r = x + sv; break;
    case S_MUL: r = x * sv; break;
    case S_MAX: r = vmax(x, sv); break;
    default: r = vmin(x, sv); break;
    }
    st(c, dt, dst, i, r);
  }
  mark(c, dst, n * kDtSize[dt]);
}

#define SC(fn, op)                                                                                 \
  void qiao_ascend_##fn(void *core, int64_t dt, int64_t dst, int64_t src, double s, int64_t n) {   \
    vscalar(core, op, dt, dst, src, s, n);                                                         \
  }
SC(vadds, S_ADD)
SC(vmuls, S_MUL)
SC(vmaxs, S_MAX)
SC(vmins, S_MIN)

void qiao_ascend_vdup(void *core, int64_t dt, int64_t dst, double value, int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, "Duplicate", c->m->vec_cpr_simple, dt, dst, n, NULL, NULL, 0)) return;
  for (int64_t i = 0; i < n; ++i)
    st(c, dt, dst, i, value);
  mark(c, dst, n * kDtSize[dt]);
}

void qiao_ascend_vbrcb(void *core, int64_t dt, int64_t dst, int64_t src, int64_t n) {
  asim_core_t *c = core;
  const char *op = "Brcb";
  if (!vec_begin(c, op, c->m->vec_cpr_simple, dt, dst, n, NULL, NULL, 0)) return;
  if (!check_ub(c, op, "source", src, kDtSize[dt]) ||
      !check_written(c, op, "source", src, kDtSize[dt]))
    return;
  double v = ld(c, dt, src, 0);
  for (int64_t i = 0; i < n; ++i)
    st(c, dt, dst, i, v);
  mark(c, dst, n * kDtSize[dt]);
}

static void vreduce(void *core, bool is_max, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                    int64_t cols) {
  asim_core_t *c = core;
  const char *op = is_max ? "ReduceMax" : "ReduceSum";
  if (rows < 0 || cols < 0)
    return (void)(op_begin(c) &&
                  violation(c, op, "count", "%lld rows of %lld", (long long)rows, (long long)cols));
  int64_t n = rows * cols;
  /* timed as one pass over the source (the results are rows elements) */
  /* (the source region stands in for the destination in the common check) */
  if (!vec_begin(c, op, c->m->vec_cpr_simple, dt, src, n, &src, NULL, 1)) return;
  if (!check_ub(c, op, "destination", dst, rows * kDtSize[dt])) return;
  /* sums as the unit forms them: one partial sum per lane of a 256-byte
   * repeat, accumulated repeat by repeat in dt, then the lanes added
   * pairwise (a tree) */
  enum { MAX_LANES = 128 };
  int64_t lanes = (int64_t)c->m->vec_bytes_per_repeat / kDtSize[dt];
  if (lanes < 1) lanes = 1;
  if (lanes > MAX_LANES) lanes = MAX_LANES;
  for (int64_t r = 0; r < rows; ++r) {
    double acc = is_max ? -INFINITY : 0.0;
    if (is_max) {
      for (int64_t j = 0; j < cols; ++j) {
        double v = ld(c, dt, src, r * cols + j);
        acc = v > acc || isnan(v) ? v : acc;
      }
    } else {
      double part[MAX_LANES] = {0};
      for (int64_t j = 0; j < cols; ++j) {
        double v = part[j % lanes] + ld(c, dt, src, r * cols + j);
        part[j % lanes] = dt == QIAO_ASCEND_F32 ? (double)(float)v : v;
      }
      for (int64_t w = 1; w < lanes; w *= 2)
        for (int64_t l = 0; l + w < lanes; l += 2 * w) {
          double v = part[l] + part[l + w];
          part[l] = dt == QIAO_ASCEND_F32 ? (double)(float)v : v;
        }
      acc = part[0];
    }
    st(c, dt, dst, r, acc);
  }
  mark(c, dst, rows * kDtSize[dt]);
}

/* f32 TwoSum: s + e == a + b exactly (Knuth), all in f32; e = 0 once s is
 * inf or NaN (the sum keeps the interpreter's inf/NaN). */
static void two_sum(float a, float b, float *s, float *e) {
  volatile float t = a + b;
  float bp = t - a;
  *e = isfinite(t) ? (a - (t - bp)) + (b - bp) : 0.0f; /* a Compare + Select in the composite */
  *s = t;
}

void qiao_ascend_vreduce_sum_comp(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                                  int64_t cols) {
  asim_core_t *c = core;
  const char *op = "ReduceSum (compensated)";
  if (rows < 0 || cols < 0)
    return (void)(op_begin(c) &&
                  violation(c, op, "count", "%lld rows of %lld", (long long)rows, (long long)cols));
  if (!vec_begin(c, op, c->m->vec_cpr_composite, dt, src, rows * cols, &src, NULL, 1)) return;
  if (dt != QIAO_ASCEND_F32)
    return (void)violation(c, op, "dtype", "the compensated sum is an f32 composite, not %s",
                           kDtNames[dt]);
  if (!check_ub(c, op, "destination", dst, rows * 4)) return;
  enum { LANES = 64 };
  for (int64_t r = 0; r < rows; ++r) {
    float hi[LANES] = {0}, lo[LANES] = {0};
    for (int64_t j = 0; j < cols; ++j) {
      float e, x = (float)ld(c, dt, src, r * cols + j);
      two_sum(hi[j % LANES], x, &hi[j % LANES], &e);
      lo[j % LANES] += e;
    }
    for (int64_t w = 1; w < LANES; w *= 2)
      for (int64_t l = 0; l + w < LANES; l += 2 * w) {
        float e;
        two_sum(hi[l], hi[l + w], &hi[l], &e);
        lo[l] = lo[l] + lo[l + w] + e;
      }
    st(c, dt, dst, r, (double)hi[0] + (double)lo[0]);
  }
  mark(c, dst, rows * 4);
}

void qiao_ascend_vreduce_max(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols) {
  vreduce(core, true, dt, dst, src, rows, cols);
}
void qiao_ascend_vreduce_sum(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols) {
  vreduce(core, false, dt, dst, src, rows, cols);
}

static void view_copy(asim_core_t *c, const char *op, double cpr, int64_t dt, int64_t dst,
                      int64_t src, int64_t src_elems, int64_t base, int64_t start, int64_t n,
                      int64_t rank, const int64_t *dims, const int64_t *strides) {
  if (!vec_begin(c, op, cpr, dt, dst, n, NULL, NULL, 0)) return;
  if (rank < 0 || rank > 8 || src_elems < 0)
    return (void)violation(c, op, "shape", "rank %lld, %lld source elements", (long long)rank,
                           (long long)src_elems);
  int64_t sz = kDtSize[dt];
  if (!check_ub(c, op, "source", src, src_elems * sz) ||
      !check_written(c, op, "source", src, src_elems * sz))
    return;
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = start + i, off = base;
    for (int64_t d = rank - 1; d >= 0; --d) {
      int64_t q = dims[d] ? rest / dims[d] : 0;
      off += (rest - q * dims[d]) * strides[d];
      rest = q;
    }
    if (off < 0 || off >= src_elems)
      return (void)violation(c, op, "shape", "element %lld maps to source element %lld of %lld",
                             (long long)(start + i), (long long)off, (long long)src_elems);
    memcpy(c->ub + dst + i * sz, c->ub + src + off * sz, (size_t)sz);
  }
  mark(c, dst, n * sz);
}

void qiao_ascend_vbroadcast(void *core, int64_t dt, int64_t dst, int64_t src, int64_t src_elems,
                            int64_t start, int64_t n, int64_t rank, const int64_t *dims,
                            const int64_t *strides) {
  asim_core_t *c = core;
  view_copy(c, "BroadcastTo", c->m->vec_cpr_simple, dt, dst, src, src_elems, 0, start, n, rank,
            dims, strides);
}

void qiao_ascend_vgather(void *core, int64_t dt, int64_t dst, int64_t src, int64_t src_elems,
                         int64_t base, int64_t start, int64_t n, int64_t rank, const int64_t *dims,
                         const int64_t *strides) {
  asim_core_t *c = core;
  view_copy(c, "Gather", c->m->vec_cpr_special, dt, dst, src, src_elems, base, start, n, rank, dims,
            strides);
}

void qiao_ascend_set_value(void *core, int64_t dt, int64_t ub_off, int64_t i, double v) {
  asim_core_t *c = core;
  const char *op = "SetValue (scalar)";
  if (!op_begin(c) || !check_vector_core(c, op) || !check_dtype(c, op, dt) || dt < 0 ||
      dt >= QIAO_ASCEND_DTYPE_COUNT)
    return;
  int64_t sz = kDtSize[dt];
  if (i < 0 || !check_ub(c, op, "destination", ub_off, (i + 1) * sz)) return;
  st(c, dt, ub_off, i, v);
  mark(c, ub_off + i * sz, sz);
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
}

int64_t qiao_ascend_get_value(void *core, int64_t dt, int64_t ub_off, int64_t i) {
  asim_core_t *c = core;
  const char *op = "GetValue (scalar)";
  if (!op_begin(c) || !check_vector_core(c, op) || !check_dtype(c, op, dt)) return 0;
  int64_t sz = kDtSize[dt];
  if (!check_ub(c, op, "source", ub_off, (i + 1) * sz) ||
      !check_written(c, op, "source", ub_off + i * sz, sz))
    return 0;
  c->s += c->m->issue_cycles;
  c->busy[QIAO_ASCEND_PIPE_S] += c->m->issue_cycles;
  if (dt == QIAO_ASCEND_S64) {
    int64_t v;
    memcpy(&v, c->ub + ub_off + 8 * i, 8);
    return v;
  }
  return (int64_t)ld(c, dt, ub_off, i);
}

void qiao_ascend_vcast(void *core, int64_t dst_dt, int64_t dst, int64_t src_dt, int64_t src,
                       int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, "Cast", c->m->vec_cpr_simple, dst_dt, dst, n, &src, &src_dt, 1)) return;
  for (int64_t i = 0; i < n; ++i)
    st(c, dst_dt, dst, i, ld(c, src_dt, src, i));
  mark(c, dst, n * kDtSize[dst_dt]);
}

void qiao_ascend_vnez(void *core, int64_t dst_dt, int64_t dst, int64_t src_dt, int64_t src,
                      int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, "Compare(NE 0)+Select", 2 * c->m->vec_cpr_simple, dst_dt, dst, n, &src, &src_dt,
                 1))
    return;
  for (int64_t i = 0; i < n; ++i) {
    bool nz = is_int_dt(src_dt) ? ld_int(c, src_dt, src, i) != 0 : ld(c, src_dt, src, i) != 0.0;
    st(c, dst_dt, dst, i, nz ? 1.0 : 0.0); /* NaN != 0: 1 */
  }
  mark(c, dst, n * kDtSize[dst_dt]);
}

typedef struct topk_item {
  double v;
  int64_t i;
} topk_item_t;

/* Descending, NaN above every number, ties (equal NaNs too) by the lower index. */
static int topk_cmp(const void *pa, const void *pb) {
  const topk_item_t *a = pa, *b = pb;
  bool an = isnan(a->v), bn = isnan(b->v);
  if (an != bn) return an ? -1 : 1;
  if (!an && a->v != b->v) return a->v > b->v ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i ? 1 : 0;
}

void qiao_ascend_vtopk(void *core, int64_t dt, int64_t dst_val, int64_t dst_idx, int64_t src,
                       int64_t rows, int64_t cols, int64_t k) {
  asim_core_t *c = core;
  const char *op = "TopK";
  if (rows < 0 || cols < 0 || k < 0 || k > cols)
    return (void)(op_begin(c) && violation(c, op, "count", "top %lld of %lld rows of %lld",
                                           (long long)k, (long long)rows, (long long)cols));
  /* timed like a merge sort of each row: log2(cols) passes [estimate] */
  double passes = cols > 1 ? ceil(log2((double)cols)) : 1;
  if (!vec_begin(c, op, c->m->vec_cpr_special * passes, dt, src, rows * cols, &src, NULL, 1))
    return;
  if (is_int_dt(dt))
    return (void)violation(c, op, "dtype", "TopK sorts half/float, not %s", kDtNames[dt]);
  int64_t sz = kDtSize[dt];
  if (!check_ub(c, op, "values", dst_val, rows * k * sz) ||
      !check_ub(c, op, "indices", dst_idx, rows * k * 4))
    return;
  topk_item_t *buf = malloc(sizeof *buf * (size_t)(cols > 0 ? cols : 1));
  if (!buf) return (void)violation(c, op, "host", "out of memory");
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < cols; ++j)
      buf[j] = (topk_item_t){ld(c, dt, src, r * cols + j), j};
    qsort(buf, (size_t)cols, sizeof *buf, topk_cmp);
    for (int64_t j = 0; j < k; ++j) { /* values copied bit-exactly */
      memcpy(c->ub + dst_val + (r * k + j) * sz, c->ub + src + (r * cols + buf[j].i) * sz,
             (size_t)sz);
      st_int(c->ub + dst_idx, QIAO_ASCEND_S32, r * k + j, buf[j].i);
    }
  }
  free(buf);
  mark(c, dst_val, rows * k * sz);
  mark(c, dst_idx, rows * k * 4);
}

/* ------------------------------------------------------------ cube unit */

enum { B_L1 = 0, B_L0A, B_L0B, B_L0C };
static const char *const kBufNames[] = {"L1", "L0A", "L0B", "L0C"};

static int64_t buf_cap(const asim_core_t *c, int which) {
  const int64_t caps[4] = {c->m->l1_bytes, c->m->l0a_bytes, c->m->l0b_bytes, c->m->l0c_bytes};
  return caps[which];
}

static bool check_cube_core(asim_core_t *c, const char *op) {
  if (c->kind == 1)
    return violation(c, op, "unit",
                     "L1/L0 and the cube belong to an AIC; this block already "
                     "used the UB");
  c->kind = 2;
  c->cube_used = true;
  return true;
}

/* A region of buffer `which`: inside it, `align`-byte aligned. */
static bool check_buf(asim_core_t *c, const char *op, int which, const char *what, int64_t off,
                      int64_t bytes, int64_t align) {
  int64_t cap = buf_cap(c, which);
  if (off < 0 || bytes < 0 || off > cap || bytes > cap - off)
    return violation(c, op, "capacity",
                     "%s %s region [%lld, %lld) is outside the %lld-byte %s of %s", what,
                     kBufNames[which], (long long)off, (long long)(off + bytes), (long long)cap,
                     kBufNames[which], c->m->profile);
  if (off % align)
    return violation(c, op, "alignment", "%s %s offset %lld is not %lld-byte aligned", what,
                     kBufNames[which], (long long)off, (long long)align);
  return true;
}

static bool check_buf_written(asim_core_t *c, const char *op, int which, int64_t off,
                              int64_t bytes) {
  const uint8_t *w = c->cb_w[which] + off;
  for (int64_t i = 0; i < bytes; ++i)
    if (!w[i])
      return violation(c, op, "uninitialized read",
                       "%s bytes [%lld, %lld) read, byte %lld was never written", kBufNames[which],
                       (long long)off, (long long)(off + bytes), (long long)(off + i));
  return true;
}

static bool check_cube_dtype(asim_core_t *c, const char *op, int64_t dt) {
  if (!check_dtype(c, op, dt)) return false;
  if (dt != QIAO_ASCEND_F16 && dt != QIAO_ASCEND_BF16 && dt != QIAO_ASCEND_F32 &&
      dt != QIAO_ASCEND_S8)
    return violation(c, op, "dtype",
                     "the cube of this model multiplies f16, bf16, f32 or s8, not %s",
                     kDtNames[dt]);
  return true;
}

static int64_t ceil16(int64_t v) { return (v + 15) / 16 * 16; }
static int64_t ceil_to(int64_t v, int64_t a) { return (v + a - 1) / a * a; }
/* Elements per 32-byte fractal row: 16 (f16/bf16), 8 (f32), 32 (s8). */
static int64_t c0_of(int64_t dt) { return 32 / kDtSize[dt]; }

/* Element index of (r, c) in an NZ matrix of R rows (a multiple of 16) with
 * fractals of 16 rows x c0 columns (512 B; the f32/s32 L0C: 16 x 16). */
static int64_t nz_index(int64_t r, int64_t col, int64_t R, int64_t c0) {
  return ((col / c0) * (R / 16) + r / 16) * (16 * c0) + (r % 16) * c0 + col % c0;
}

static void nd2nz(asim_core_t *c, int64_t l1_off, const void *gm, int64_t dt, int64_t rows,
                  int64_t cols, int64_t ld, int64_t R, int64_t C, int64_t transpose) {
  const char *op =
      transpose ? "DataCopy GM->L1 ND2NZ, transposed (MTE2)" : "DataCopy GM->L1 ND2NZ (MTE2)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_cube_dtype(c, op, dt)) return;
  int64_t c0 = c0_of(dt), es = kDtSize[dt];
  if (rows < 0 || cols < 0 || ld < (transpose ? rows : cols) || R < rows || C < cols || R % 16 ||
      C % c0)
    return (void)violation(c, op, "shape",
                           "%lld x %lld (row stride %lld) into a %lld x %lld NZ matrix of "
                           "16 x %lld fractals",
                           (long long)rows, (long long)cols, (long long)ld, (long long)R,
                           (long long)C, (long long)c0);
  int64_t bytes = R * C * es;
  if (!check_buf(c, op, B_L1, "destination", l1_off, bytes, 32)) return;
  int64_t span = transpose ? (cols - 1) * ld + rows : (rows - 1) * ld + cols;
  if (rows && cols && !check_gm(c, op, gm, span * es)) return;
  uint8_t *dst = c->cb[B_L1] + l1_off;
  const uint8_t *src = gm;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < C; ++j) {
      uint8_t *d = dst + nz_index(r, j, R, c0) * es;
      if (r < rows && j < cols)
        memcpy(d, src + (transpose ? j * ld + r : r * ld + j) * es, (size_t)es);
      else
        memset(d, 0, (size_t)es);
    }
  memset(c->cb_w[B_L1] + l1_off, 1, (size_t)bytes);
  c->bytes[QIAO_ASCEND_PATH_GM_L1] += (double)(rows * cols * es);
  /* a transposed read moves 32-byte bursts of the other dim [estimate: same rate] */
  double moved =
      transpose ? (double)(cols * ceil_to(rows, c0) * es) : (double)(rows * ceil_to(cols, c0) * es);
  double cyc = transpose ? gm_read_cycles(c, gm, cols, rows * es, ld * es, moved)
                         : gm_read_cycles(c, gm, rows, cols * es, ld * es, moved);
  op_time(c, QIAO_ASCEND_PIPE_MTE2, cyc, c->m->mte2_latency);
}

void qiao_ascend_copy_gm_to_l1_nd2nz(void *core, int64_t l1_off, const void *gm, int64_t dt,
                                     int64_t rows, int64_t cols, int64_t ld) {
  int64_t c0 = dt >= 0 && dt < QIAO_ASCEND_DTYPE_COUNT ? c0_of(dt) : 16;
  nd2nz(core, l1_off, gm, dt, rows, cols, ld, ceil16(rows), ceil_to(cols, c0), 0);
}

void qiao_ascend_copy_gm_to_l1_nd2nz_ex(void *core, int64_t l1_off, const void *gm, int64_t dt,
                                        int64_t rows, int64_t cols, int64_t ld, int64_t dst_rows,
                                        int64_t dst_cols, int64_t transpose) {
  nd2nz(core, l1_off, gm, dt, rows, cols, ld, dst_rows, dst_cols, transpose);
}

static void load_l0(asim_core_t *c, int which, int64_t dst, int64_t l1_off, int64_t dt,
                    int64_t fractals) {
  const char *op = which == B_L0A ? "LoadData L1->L0A (MTE1)" : "LoadData L1->L0B (MTE1)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_cube_dtype(c, op, dt)) return;
  int64_t bytes = fractals * 512;
  if (fractals < 0) return (void)violation(c, op, "shape", "%lld fractals", (long long)fractals);
  if (!check_buf(c, op, B_L1, "source", l1_off, bytes, 512) ||
      !check_buf_written(c, op, B_L1, l1_off, bytes) ||
      !check_buf(c, op, which, "destination", dst, bytes, 512))
    return;
  memcpy(c->cb[which] + dst, c->cb[B_L1] + l1_off, (size_t)bytes);
  memset(c->cb_w[which] + dst, 1, (size_t)bytes);
  c->bytes[which == B_L0A ? QIAO_ASCEND_PATH_L1_L0A : QIAO_ASCEND_PATH_L1_L0B] += (double)bytes;
  op_time(c, QIAO_ASCEND_PIPE_MTE1,
          (double)bytes / (which == B_L0A ? c->m->l1_l0a_bpc : c->m->l1_l0b_bpc),
          c->m->mte1_latency);
}

void qiao_ascend_load_l1_to_l0a(void *core, int64_t l0a_off, int64_t l1_off, int64_t dt,
                                int64_t fractals) {
  load_l0(core, B_L0A, l0a_off, l1_off, dt, fractals);
}
void qiao_ascend_load_l1_to_l0b(void *core, int64_t l0b_off, int64_t l1_off, int64_t dt,
                                int64_t fractals) {
  load_l0(core, B_L0B, l0b_off, l1_off, dt, fractals);
}

static double ldc(int64_t dt, const uint8_t *p, int64_t i) {
  switch (dt) {
  case QIAO_ASCEND_F32: {
    float f;
    memcpy(&f, p + 4 * i, 4);
    return f;
  }
  case QIAO_ASCEND_S8: return (int8_t)p[i];
  default: {
    uint16_t h;
    memcpy(&h, p + 2 * i, 2);
    return fp_decode(h, dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16);
  }
  }
}

void qiao_ascend_mmad(void *core, int64_t l0c_off, int64_t l0a_off, int64_t l0b_off, int64_t dt,
                      int64_t m, int64_t k, int64_t n, int64_t init) {
  asim_core_t *c = core;
  const char *op = "Mmad (cube)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_cube_dtype(c, op, dt)) return;
  int64_t c0 = c0_of(dt), es = kDtSize[dt], nb = ceil_to(n, c0);
  if (m <= 0 || k <= 0 || n <= 0 || m % 16 || k % c0 || n % 16)
    return (void)violation(c, op, "fractal shape",
                           "m x k x n = %lld x %lld x %lld: the cube works on 16 x %lld x 16 "
                           "fractals of %s",
                           (long long)m, (long long)k, (long long)n, (long long)c0, kDtNames[dt]);
  if (!check_buf(c, op, B_L0A, "A", l0a_off, m * k * es, 512) ||
      !check_buf_written(c, op, B_L0A, l0a_off, m * k * es) ||
      !check_buf(c, op, B_L0B, "B", l0b_off, k * nb * es, 512) ||
      !check_buf_written(c, op, B_L0B, l0b_off, k * nb * es) ||
      !check_buf(c, op, B_L0C, "C", l0c_off, m * n * 4, 1024) ||
      (!init && !check_buf_written(c, op, B_L0C, l0c_off, m * n * 4)))
    return;
  const uint8_t *A = c->cb[B_L0A] + l0a_off, *B = c->cb[B_L0B] + l0b_off;
  uint8_t *C = c->cb[B_L0C] + l0c_off;
  /* decoded once, row-major (A) and column-major (B) */
  double *a = malloc(sizeof(double) * (size_t)(m * k)),
         *bt = malloc(sizeof(double) * (size_t)(k * n));
  if (!a || !bt) {
    free(a);
    free(bt);
    return (void)violation(c, op, "host", "out of memory");
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      a[i * k + p] = ldc(dt, A, nz_index(i, p, m, c0));
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j)
      bt[j * k + p] = ldc(dt, B, nz_index(p, j, k, c0));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double *ar = a + i * k, *bc = bt + j * k;
      uint8_t *cp = C + nz_index(i, j, m, 16) * 4;
      if (dt == QIAO_ASCEND_S8) { /* s32 accumulation, exact, wrapping */
        int32_t acc = 0;
        if (!init) memcpy(&acc, cp, 4);
        uint32_t u = (uint32_t)acc;
        for (int64_t p = 0; p < k; ++p)
          u += (uint32_t)(int32_t)(ar[p] * bc[p]);
        memcpy(cp, &u, 4);
      } else { /* products exact (f16/bf16) or rounded once (f32), f32 accumulation */
        float acc = 0.0f;
        if (!init) memcpy(&acc, cp, 4);
        for (int64_t p = 0; p < k; ++p)
          acc = (float)((double)acc + ar[p] * bc[p]);
        memcpy(cp, &acc, 4);
      }
    }
  free(a);
  free(bt);
  memset(c->cb_w[B_L0C] + l0c_off, 1, (size_t)(m * n * 4));
  /* one 16 x c0 x 16 fractal step per cycle (f16 16x16x16, s8 16x32x16); f32
   * 16x8x16 at half the f16 MAC rate [estimate] */
  double steps = (double)((m / 16) * (k / c0) * (n / 16));
  op_time(c, QIAO_ASCEND_PIPE_M, c->m->cube_startup + steps, c->m->cube_latency);
}

void qiao_ascend_fixpipe_l0c_to_gm(void *core, void *gm, int64_t dst_dt, int64_t l0c_off, int64_t m,
                                   int64_t n, int64_t valid_m, int64_t valid_n, int64_t ld) {
  asim_core_t *c = core;
  const char *op = "Fixpipe L0C->GM (FIX)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_dtype(c, op, dst_dt)) return;
  if (dst_dt != QIAO_ASCEND_F32 && dst_dt != QIAO_ASCEND_F16 && dst_dt != QIAO_ASCEND_BF16 &&
      dst_dt != QIAO_ASCEND_S32)
    return (void)violation(c, op, "dtype",
                           "FixPipe converts f32 to f32, f16 or bf16 (s32 stays s32), not %s",
                           kDtNames[dst_dt]);
  if (m % 16 || n % 16 || valid_m < 0 || valid_n < 0 || valid_m > m || valid_n > n || ld < valid_n)
    return (void)violation(c, op, "shape", "%lld x %lld valid of %lld x %lld, row stride %lld",
                           (long long)valid_m, (long long)valid_n, (long long)m, (long long)n,
                           (long long)ld);
  int64_t es = kDtSize[dst_dt];
  if (!check_buf(c, op, B_L0C, "source", l0c_off, m * n * 4, 1024) ||
      !check_buf_written(c, op, B_L0C, l0c_off, m * n * 4) ||
      (valid_m && valid_n && !check_gm(c, op, gm, ((valid_m - 1) * ld + valid_n) * es)))
    return;
  const uint8_t *C = c->cb[B_L0C] + l0c_off;
  uint8_t *out = gm;
  for (int64_t i = 0; i < valid_m; ++i)
    for (int64_t j = 0; j < valid_n; ++j) {
      const uint8_t *cp = C + nz_index(i, j, m, 16) * 4;
      uint8_t *p = out + (i * ld + j) * es;
      if (dst_dt == QIAO_ASCEND_S32) {
        memcpy(p, cp, 4);
        continue;
      }
      float f;
      memcpy(&f, cp, 4);
      if (dst_dt == QIAO_ASCEND_F32) {
        memcpy(p, &f, 4);
      } else {
        uint16_t h =
            (uint16_t)fp_encode(f, dst_dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16, RM_RN, false);
        memcpy(p, &h, 2);
      }
    }
  c->bytes[QIAO_ASCEND_PATH_L0C_GM] += (double)(valid_m * valid_n * es);
  op_time(c, QIAO_ASCEND_PIPE_FIX, (double)(valid_m * valid_n * es) / c->m->fix_bpc,
          c->m->fix_latency);
}

/* ------------------------------------------------------------ flags */

static bool check_pipe(asim_core_t *c, const char *op, int64_t p, bool all_ok) {
  if (p < 0 || p > QIAO_ASCEND_PIPE_ALL || (!all_ok && p == QIAO_ASCEND_PIPE_ALL))
    return violation(c, op, "pipe", "unknown pipe %lld", (long long)p);
  return true;
}

void qiao_ascend_set_flag(void *core, int64_t src, int64_t dst, int64_t id) {
  asim_core_t *c = core;
  const char *op = "SetFlag";
  if (!op_begin(c) || !check_pipe(c, op, src, false) || !check_pipe(c, op, dst, false)) return;
  if (id < 0 || id >= ASIM_FLAG_IDS)
    return (void)violation(c, op, "flag", "event id %lld is outside 0..%d", (long long)id,
                           ASIM_FLAG_IDS - 1);
  int32_t *n = &c->flag_n[src][dst][id];
  if (*n >= ASIM_FLAG_DEPTH)
    return (void)violation(c, op, "flag", "%s -> %s flag %lld set %d times without a WaitFlag",
                           kPipeNames[src], kPipeNames[dst], (long long)id, ASIM_FLAG_DEPTH);
  /* the flag is raised when the src pipe's earlier work is visible */
  c->s += c->m->issue_cycles;
  double t = c->done[src] > c->s ? c->done[src] : c->s;
  c->flag_t[src][dst][id][(*n)++] = t;
}

void qiao_ascend_wait_flag(void *core, int64_t src, int64_t dst, int64_t id) {
  asim_core_t *c = core;
  const char *op = "WaitFlag";
  if (!op_begin(c) || !check_pipe(c, op, src, false) || !check_pipe(c, op, dst, false)) return;
  if (id < 0 || id >= ASIM_FLAG_IDS)
    return (void)violation(c, op, "flag", "event id %lld is outside 0..%d", (long long)id,
                           ASIM_FLAG_IDS - 1);
  int32_t *n = &c->flag_n[src][dst][id];
  if (*n == 0)
    return (void)violation(c, op, "deadlock",
                           "%s waits on flag %lld from %s that no earlier SetFlag<%s_%s>(%lld) "
                           "raised: the pipe would wait forever",
                           kPipeNames[dst], (long long)id, kPipeNames[src], kPipeNames[src] + 5,
                           kPipeNames[dst] + 5, (long long)id);
  double t = c->flag_t[src][dst][id][0] + c->m->flag_latency;
  memmove(&c->flag_t[src][dst][id][0], &c->flag_t[src][dst][id][1],
          sizeof(double) * (size_t)(--*n));
  c->s += c->m->issue_cycles;
  if (t > c->free[dst]) c->free[dst] = t;
  /* the scalar pipe's own waits block issue */
  if (dst == QIAO_ASCEND_PIPE_S && t > c->s) c->s = t;
}

void qiao_ascend_pipe_barrier(void *core, int64_t pipe) {
  asim_core_t *c = core;
  if (!op_begin(c) || !check_pipe(c, "PipeBarrier", pipe, true)) return;
  c->s += c->m->issue_cycles;
  if (pipe == QIAO_ASCEND_PIPE_ALL) {
    double t = asim_core_end(c);
    c->s = t;
    for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT; ++p)
      c->free[p] = t;
  } else if (c->done[pipe] > c->free[pipe]) {
    c->free[pipe] = c->done[pipe];
  }
}

/* ------------------------------------------------------------ symbol table */

#define SYM(fn, pipe, ac)                                                                          \
  { "qiao_ascend_" #fn, (const void *)qiao_ascend_##fn, pipe, ac }
static const qiao_ascend_symbol_t kSymbols[] = {
    SYM(get_block_idx, QIAO_ASCEND_PIPE_S, "GetBlockIdx"),
    SYM(get_block_num, QIAO_ASCEND_PIPE_S, "GetBlockNum"),
    SYM(copy_gm_to_ub, QIAO_ASCEND_PIPE_MTE2, "DataCopy GM->UB"),
    SYM(copy_gm_to_ub_pad, QIAO_ASCEND_PIPE_MTE2, "DataCopyPad GM->UB"),
    SYM(copy_ub_to_gm, QIAO_ASCEND_PIPE_MTE3, "DataCopy UB->GM"),
    SYM(copy_ub_to_gm_pad, QIAO_ASCEND_PIPE_MTE3, "DataCopyPad UB->GM"),
    SYM(vadd, QIAO_ASCEND_PIPE_V, "Add"),
    SYM(vsub, QIAO_ASCEND_PIPE_V, "Sub"),
    SYM(vmul, QIAO_ASCEND_PIPE_V, "Mul"),
    SYM(vdiv, QIAO_ASCEND_PIPE_V, "Div"),
    SYM(vmax, QIAO_ASCEND_PIPE_V, "Max"),
    SYM(vmin, QIAO_ASCEND_PIPE_V, "Min"),
    SYM(vpow, QIAO_ASCEND_PIPE_V, "Power"),
    SYM(vneg, QIAO_ASCEND_PIPE_V, "Muls(-1)"),
    SYM(vexp, QIAO_ASCEND_PIPE_V, "Exp"),
    SYM(vln, QIAO_ASCEND_PIPE_V, "Ln"),
    SYM(vsqrt, QIAO_ASCEND_PIPE_V, "Sqrt"),
    SYM(vrsqrt, QIAO_ASCEND_PIPE_V, "Rsqrt"),
    SYM(vtanh, QIAO_ASCEND_PIPE_V, "Tanh"),
    SYM(vsigmoid, QIAO_ASCEND_PIPE_V, "Sigmoid"),
    SYM(vsilu, QIAO_ASCEND_PIPE_V, "Silu"),
    SYM(vgelu, QIAO_ASCEND_PIPE_V, "Gelu(erf)"),
    SYM(vgelu_tanh, QIAO_ASCEND_PIPE_V, "Gelu"),
    SYM(vrelu, QIAO_ASCEND_PIPE_V, "Relu"),
    SYM(vabs, QIAO_ASCEND_PIPE_V, "Abs"),
    SYM(vsin, QIAO_ASCEND_PIPE_V, "Sin"),
    SYM(vcos, QIAO_ASCEND_PIPE_V, "Cos"),
    SYM(varange, QIAO_ASCEND_PIPE_V, "ArithProgression"),
    SYM(vfma, QIAO_ASCEND_PIPE_V, "FusedMulAdd"),
    SYM(vadds, QIAO_ASCEND_PIPE_V, "Adds"),
    SYM(vmuls, QIAO_ASCEND_PIPE_V, "Muls"),
    SYM(vmaxs, QIAO_ASCEND_PIPE_V, "Maxs"),
    SYM(vmins, QIAO_ASCEND_PIPE_V, "Mins"),
    SYM(vdup, QIAO_ASCEND_PIPE_V, "Duplicate"),
    SYM(vbrcb, QIAO_ASCEND_PIPE_V, "Brcb"),
    SYM(vreduce_max, QIAO_ASCEND_PIPE_V, "ReduceMax"),
    SYM(vreduce_sum, QIAO_ASCEND_PIPE_V, "ReduceSum"),
    SYM(vreduce_sum_comp, QIAO_ASCEND_PIPE_V, "ReduceSum (TwoSum)"),
    SYM(vbroadcast, QIAO_ASCEND_PIPE_V, "BroadcastTo"),
    SYM(vgather, QIAO_ASCEND_PIPE_V, "Gather"),
    SYM(get_value, QIAO_ASCEND_PIPE_S, "GetValue"),
    SYM(set_value, QIAO_ASCEND_PIPE_S, "SetValue"),
    SYM(vcast, QIAO_ASCEND_PIPE_V, "Cast"),
    SYM(vnez, QIAO_ASCEND_PIPE_V, "Compare+Select"),
    SYM(vtopk, QIAO_ASCEND_PIPE_V, "TopK"),
    SYM(copy_gm_to_l1_nd2nz, QIAO_ASCEND_PIPE_MTE2, "DataCopy GM->L1 (ND2NZ)"),
    SYM(copy_gm_to_l1_nd2nz_ex, QIAO_ASCEND_PIPE_MTE2, "DataCopy GM->L1 (ND2NZ)"),
    SYM(load_l1_to_l0a, QIAO_ASCEND_PIPE_MTE1, "LoadData L1->L0A"),
    SYM(load_l1_to_l0b, QIAO_ASCEND_PIPE_MTE1, "LoadData L1->L0B"),
    SYM(mmad, QIAO_ASCEND_PIPE_M, "Mmad"),
    SYM(fixpipe_l0c_to_gm, QIAO_ASCEND_PIPE_FIX, "Fixpipe L0C->GM"),
    SYM(set_flag, QIAO_ASCEND_PIPE_S, "SetFlag"),
    SYM(wait_flag, QIAO_ASCEND_PIPE_S, "WaitFlag"),
    SYM(pipe_barrier, QIAO_ASCEND_PIPE_S, "PipeBarrier"),
    /* mixed kernels (ascend_mixed.c) */
    SYM(mix_core, QIAO_ASCEND_PIPE_S, "GetSubBlock (mix)"),
    SYM(cross_set_flag, QIAO_ASCEND_PIPE_S, "CrossCoreSetFlag<2>"),
    SYM(cross_wait_flag, QIAO_ASCEND_PIPE_S, "CrossCoreWaitFlag"),
    SYM(vdup_masked, QIAO_ASCEND_PIPE_V, "Duplicate (bit mask)"),
    SYM(vreduce_max_idx, QIAO_ASCEND_PIPE_V, "ReduceMax (calIndex)"),
    SYM(get_ub_bits32, QIAO_ASCEND_PIPE_S, "GetValue (UB)"),
};

int32_t qiao_ascend_symbols(const qiao_ascend_symbol_t **out_table) {
  *out_table = kSymbols;
  return (int32_t)(sizeof kSymbols / sizeof kSymbols[0]);
}

/* ------------------------------------------------------------ for ascend_mixed.c */

bool asim_op_begin(asim_core_t *c) { return op_begin(c); }
void asim_op_time(asim_core_t *c, int pipe, double cost, double latency) {
  op_time(c, pipe, cost, latency);
}
bool asim_fail(asim_core_t *c, const char *op, const char *rule, const char *msg) {
  return violation(c, op, rule, "%s", msg);
}
bool asim_check_cube(asim_core_t *c, const char *op, int64_t dt) {
  return check_cube_core(c, op) && check_cube_dtype(c, op, dt);
}
bool asim_check_l1(asim_core_t *c, const char *op, int64_t off, int64_t bytes) {
  return check_buf(c, op, B_L1, "destination", off, bytes, 32);
}
bool asim_check_gm(asim_core_t *c, const char *op, const void *gm, int64_t bytes) {
  return check_gm(c, op, gm, bytes);
}
void asim_mark_l1(asim_core_t *c, int64_t off, int64_t bytes) {
  memset(c->cb_w[B_L1] + off, 1, (size_t)bytes);
}
bool asim_vec_dst(asim_core_t *c, const char *op, int64_t dt, int64_t dst, int64_t n) {
  return vec_begin(c, op, c->m->vec_cpr_simple, dt, dst, n, NULL, NULL, 0);
}
void asim_vec_store(asim_core_t *c, int64_t dt, int64_t dst, int64_t i, double v) {
  st(c, dt, dst, i, v);
  mark(c, dst + i * kDtSize[dt], kDtSize[dt]);
}
bool asim_vec_src(asim_core_t *c, const char *op, int64_t dt, int64_t src, int64_t n) {
  return vec_begin(c, op, c->m->vec_cpr_simple, dt, src, n, &src, NULL, 1);
}
