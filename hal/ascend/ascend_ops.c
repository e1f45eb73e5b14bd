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
     .gm_write_bpc = 64,
     .mte2_latency = 300,
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
     .launch_ns = 3000,
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
     .gm_write_bpc = 64,
     .mte2_latency = 300,
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
     .launch_ns = 3000,
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
static const char *const kDtNames[] = {"f32", "f16", "bf16", "f8e4m3", "f8e5m2"};
static const int kDtSize[] = {4, 2, 2, 1, 1};

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
  op_time(c, QIAO_ASCEND_PIPE_MTE2, (double)padded / c->m->gm_read_bpc, c->m->mte2_latency);
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
  default: return fp_decode(p[i], FMT_E5M2);
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
  default: p[i] = (uint8_t)fp_encode(v, FMT_E5M2, RM_RN, false); break;
  }
}

/* The rules and the timing of a vector op over n elements: operands and the
 * result in the UB, aligned, read operands written; cost = startup + repeats
 * of 256 B (the widest operand) x cycles per repeat. */
static bool vec_begin(asim_core_t *c, const char *op, double cpr, int64_t dt, int64_t dst,
                      int64_t n, const int64_t *src, const int64_t *src_dt, int nsrc) {
  if (!op_begin(c) || !check_vector_core(c, op) || !check_dtype(c, op, dt)) return false;
  if (n < 0) return violation(c, op, "count", "negative element count %lld", (long long)n);
  if (dt == QIAO_ASCEND_BF16 && nsrc > 0 && src_dt == NULL)
    return violation(c, op, "dtype",
                     "the vector unit of %s computes in f32 or f16, not bf16 "
                     "(Cast first)",
                     c->m->profile);
  int64_t width = kDtSize[dt];
  for (int k = 0; k < nsrc; ++k) {
    int64_t sdt = src_dt ? src_dt[k] : dt;
    if (!check_dtype(c, op, sdt)) return false;
    int64_t bytes = n * kDtSize[sdt];
    if (kDtSize[sdt] > width) width = kDtSize[sdt];
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
  if (!vec_begin(c, kBinNames[op], cpr, dt, dst, n, src, NULL, 2)) return;
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
  U_RELU
};
static const char *const kUnNames[] = {"Muls(-1)", "Exp",  "Ln",        "Sqrt", "Rsqrt", "Tanh",
                                       "Sigmoid",  "Silu", "Gelu(erf)", "Gelu", "Relu"};

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
  default: return x < 0.0 ? 0.0 : x;
  }
}

static void vun(void *core, int op, int64_t dt, int64_t dst, int64_t src, int64_t n) {
  asim_core_t *c = core;
  double cpr = op == U_NEG || op == U_RELU ? c->m->vec_cpr_simple
               : op <= U_RSQRT             ? c->m->vec_cpr_special
                                           : c->m->vec_cpr_composite;
  if (!vec_begin(c, kUnNames[op], cpr, dt, dst, n, &src, NULL, 1)) return;
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
  for (int64_t r = 0; r < rows; ++r) {
    double acc = is_max ? -INFINITY : 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      double v = ld(c, dt, src, r * cols + j);
      if (is_max)
        acc = v > acc || isnan(v) ? v : acc;
      else
        acc = dt == QIAO_ASCEND_F32 ? (double)(float)(acc + v) : acc + v;
    }
    st(c, dt, dst, r, acc);
  }
  mark(c, dst, rows * kDtSize[dt]);
}

void qiao_ascend_vreduce_max(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols) {
  vreduce(core, true, dt, dst, src, rows, cols);
}
void qiao_ascend_vreduce_sum(void *core, int64_t dt, int64_t dst, int64_t src, int64_t rows,
                             int64_t cols) {
  vreduce(core, false, dt, dst, src, rows, cols);
}

void qiao_ascend_vbroadcast(void *core, int64_t dt, int64_t dst, int64_t src, int64_t src_elems,
                            int64_t start, int64_t n, int64_t rank, const int64_t *dims,
                            const int64_t *strides) {
  asim_core_t *c = core;
  const char *op = "BroadcastTo";
  if (!vec_begin(c, op, c->m->vec_cpr_simple, dt, dst, n, NULL, NULL, 0)) return;
  if (rank < 0 || rank > 8 || src_elems < 0)
    return (void)violation(c, op, "shape", "rank %lld, %lld source elements", (long long)rank,
                           (long long)src_elems);
  int64_t sz = kDtSize[dt];
  if (!check_ub(c, op, "source", src, src_elems * sz) ||
      !check_written(c, op, "source", src, src_elems * sz))
    return;
  for (int64_t i = 0; i < n; ++i) {
    int64_t rest = start + i, off = 0;
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

void qiao_ascend_vcast(void *core, int64_t dst_dt, int64_t dst, int64_t src_dt, int64_t src,
                       int64_t n) {
  asim_core_t *c = core;
  if (!vec_begin(c, "Cast", c->m->vec_cpr_simple, dst_dt, dst, n, &src, &src_dt, 1)) return;
  for (int64_t i = 0; i < n; ++i)
    st(c, dst_dt, dst, i, ld(c, src_dt, src, i));
  mark(c, dst, n * kDtSize[dst_dt]);
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
  if (dt != QIAO_ASCEND_F16 && dt != QIAO_ASCEND_BF16)
    return violation(c, op, "dtype", "the cube of this model multiplies f16 or bf16, not %s",
                     kDtNames[dt]);
  return true;
}

static int64_t ceil16(int64_t v) { return (v + 15) / 16 * 16; }

/* Byte offset of element (r, c) of an NZ matrix with R rows (multiple of 16). */
static int64_t nz_index(int64_t r, int64_t col, int64_t R) {
  return ((col / 16) * (R / 16) + r / 16) * 256 + (r % 16) * 16 + col % 16;
}

void qiao_ascend_copy_gm_to_l1_nd2nz(void *core, int64_t l1_off, const void *gm, int64_t dt,
                                     int64_t rows, int64_t cols, int64_t ld) {
  asim_core_t *c = core;
  const char *op = "DataCopy GM->L1 ND2NZ (MTE2)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_cube_dtype(c, op, dt)) return;
  if (rows < 0 || cols < 0 || ld < cols)
    return (void)violation(c, op, "shape", "%lld x %lld with row stride %lld", (long long)rows,
                           (long long)cols, (long long)ld);
  int64_t R = ceil16(rows), C = ceil16(cols), bytes = R * C * 2;
  if (!check_buf(c, op, B_L1, "destination", l1_off, bytes, 32)) return;
  if (rows && !check_gm(c, op, gm, ((rows - 1) * ld + cols) * 2)) return;
  uint16_t *dst = (uint16_t *)(c->cb[B_L1] + l1_off);
  const uint16_t *src = gm;
  for (int64_t r = 0; r < R; ++r)
    for (int64_t j = 0; j < C; ++j)
      dst[nz_index(r, j, R)] = r < rows && j < cols ? src[r * ld + j] : 0;
  memset(c->cb_w[B_L1] + l1_off, 1, (size_t)bytes);
  c->bytes[QIAO_ASCEND_PATH_GM_L1] += (double)(rows * cols * 2);
  op_time(c, QIAO_ASCEND_PIPE_MTE2, (double)(rows * ceil16(cols) * 2) / c->m->gm_read_bpc,
          c->m->mte2_latency);
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

static double ld16(int64_t dt, const uint8_t *p, int64_t i) {
  uint16_t h;
  memcpy(&h, p + 2 * i, 2);
  return fp_decode(h, dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16);
}

void qiao_ascend_mmad(void *core, int64_t l0c_off, int64_t l0a_off, int64_t l0b_off, int64_t dt,
                      int64_t m, int64_t k, int64_t n, int64_t init) {
  asim_core_t *c = core;
  const char *op = "Mmad (cube)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_cube_dtype(c, op, dt)) return;
  if (m <= 0 || k <= 0 || n <= 0 || m % 16 || k % 16 || n % 16)
    return (void)violation(c, op, "fractal shape",
                           "m x k x n = %lld x %lld x %lld: the cube works on 16 x 16 x 16 "
                           "fractals of %s",
                           (long long)m, (long long)k, (long long)n, kDtNames[dt]);
  if (!check_buf(c, op, B_L0A, "A", l0a_off, m * k * 2, 512) ||
      !check_buf_written(c, op, B_L0A, l0a_off, m * k * 2) ||
      !check_buf(c, op, B_L0B, "B", l0b_off, k * n * 2, 512) ||
      !check_buf_written(c, op, B_L0B, l0b_off, k * n * 2) ||
      !check_buf(c, op, B_L0C, "C", l0c_off, m * n * 4, 1024) ||
      (!init && !check_buf_written(c, op, B_L0C, l0c_off, m * n * 4)))
    return;
  const uint8_t *A = c->cb[B_L0A] + l0a_off, *B = c->cb[B_L0B] + l0b_off;
  float *C = (float *)(c->cb[B_L0C] + l0c_off);
  /* decoded once, row-major (A) and column-major (B) */
  float *a = malloc(sizeof(float) * (size_t)(m * k)), *bt = malloc(sizeof(float) * (size_t)(k * n));
  if (!a || !bt) {
    free(a);
    free(bt);
    return (void)violation(c, op, "host", "out of memory");
  }
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      a[i * k + p] = (float)ld16(dt, A, nz_index(i, p, m));
  for (int64_t p = 0; p < k; ++p)
    for (int64_t j = 0; j < n; ++j)
      bt[j * k + p] = (float)ld16(dt, B, nz_index(p, j, k));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float acc = init ? 0.0f : C[nz_index(i, j, m)];
      const float *ar = a + i * k, *bc = bt + j * k;
      for (int64_t p = 0; p < k; ++p) /* products exact in f32, f32 accumulation */
        acc += ar[p] * bc[p];
      C[nz_index(i, j, m)] = acc;
    }
  free(a);
  free(bt);
  memset(c->cb_w[B_L0C] + l0c_off, 1, (size_t)(m * n * 4));
  op_time(c, QIAO_ASCEND_PIPE_M, c->m->cube_startup + (double)((m / 16) * (k / 16) * (n / 16)),
          c->m->cube_latency);
}

void qiao_ascend_fixpipe_l0c_to_gm(void *core, void *gm, int64_t dst_dt, int64_t l0c_off, int64_t m,
                                   int64_t n, int64_t valid_m, int64_t valid_n, int64_t ld) {
  asim_core_t *c = core;
  const char *op = "Fixpipe L0C->GM (FIX)";
  if (!op_begin(c) || !check_cube_core(c, op) || !check_dtype(c, op, dst_dt)) return;
  if (dst_dt != QIAO_ASCEND_F32 && dst_dt != QIAO_ASCEND_F16 && dst_dt != QIAO_ASCEND_BF16)
    return (void)violation(c, op, "dtype", "FixPipe converts f32 to f32, f16 or bf16, not %s",
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
  const float *C = (const float *)(c->cb[B_L0C] + l0c_off);
  uint8_t *out = gm;
  for (int64_t i = 0; i < valid_m; ++i)
    for (int64_t j = 0; j < valid_n; ++j) {
      double v = C[nz_index(i, j, m)];
      uint8_t *p = out + (i * ld + j) * es;
      if (dst_dt == QIAO_ASCEND_F32) {
        float f = (float)v;
        memcpy(p, &f, 4);
      } else {
        uint16_t h =
            (uint16_t)fp_encode(v, dst_dt == QIAO_ASCEND_F16 ? FMT_F16 : FMT_BF16, RM_RN, false);
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
    SYM(vdup, QIAO_ASCEND_PIPE_V, "Duplicate"),
    SYM(vbrcb, QIAO_ASCEND_PIPE_V, "Brcb"),
    SYM(vreduce_max, QIAO_ASCEND_PIPE_V, "ReduceMax"),
    SYM(vreduce_sum, QIAO_ASCEND_PIPE_V, "ReduceSum"),
    SYM(vbroadcast, QIAO_ASCEND_PIPE_V, "BroadcastTo"),
    SYM(vcast, QIAO_ASCEND_PIPE_V, "Cast"),
    SYM(copy_gm_to_l1_nd2nz, QIAO_ASCEND_PIPE_MTE2, "DataCopy GM->L1 (ND2NZ)"),
    SYM(load_l1_to_l0a, QIAO_ASCEND_PIPE_MTE1, "LoadData L1->L0A"),
    SYM(load_l1_to_l0b, QIAO_ASCEND_PIPE_MTE1, "LoadData L1->L0B"),
    SYM(mmad, QIAO_ASCEND_PIPE_M, "Mmad"),
    SYM(fixpipe_l0c_to_gm, QIAO_ASCEND_PIPE_FIX, "Fixpipe L0C->GM"),
    SYM(set_flag, QIAO_ASCEND_PIPE_S, "SetFlag"),
    SYM(wait_flag, QIAO_ASCEND_PIPE_S, "WaitFlag"),
    SYM(pipe_barrier, QIAO_ASCEND_PIPE_S, "PipeBarrier"),
    /* mixed kernels (ascend_mixed.c) */
    SYM(mix_core, QIAO_ASCEND_PIPE_S, "GetSubBlock (mix)"),
    SYM(copy_gm_to_l1_nd2nz_t, QIAO_ASCEND_PIPE_MTE2, "DataCopy GM->L1 (ND2NZ, transposed)"),
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
