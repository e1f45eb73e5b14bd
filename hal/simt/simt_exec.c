/* Qiao HAL — simt-emu: the interpreter.
 *
 * Execution model (docs/simt-emu.md): a CTA runs on one host thread; CTAs run
 * in parallel on the device's thread pool. Each thread has its own pc; a warp
 * executes a *group* of its threads at a time: the runnable threads with the
 * lowest pc (and the same call depth), one instruction for all of them, until
 * a branch, a call/return, a warp-synchronous instruction or a branch target
 * (a join point) re-forms the group. Lowest-pc-first re-converges structured
 * control flow, so warp-wide statistics (divergence, bank conflicts) mean what
 * they mean on hardware. A warp-synchronous instruction executes once all its
 * member threads have arrived; bar.sync once its thread count has arrived. */
#include <fenv.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../thread_pool.h"
#include "simt_float.h"
#include "simt_internal.h"

enum { ST_RUN = 0, ST_WCOLL, ST_WBAR, ST_EXIT };

typedef struct warp {
  uint32_t exist; /* lanes that exist */
  uint32_t id;
  uint32_t pc[32];
  uint8_t depth[32];
  uint8_t st[32];
  uint8_t carry[32];
  uint32_t wmask[32]; /* ST_WCOLL: the member mask it waits for */
  uint32_t ret_pc[SIMT_MAX_DEPTH][32];
  int32_t ret_call[SIMT_MAX_DEPTH][32];
  uint16_t tid[32][3];
  uint64_t clock;
  uint64_t *frames[SIMT_MAX_DEPTH]; /* [reg * 32 + lane] */
  uint8_t *fparams[SIMT_MAX_DEPTH]; /* [lane * fparam_size + off] */
} warp_t;

typedef struct cta {
  const simt_launch_t *L;
  const simt_program_t *P;
  warp_t *warps;
  int nwarps, nthreads, alive;
  uint8_t *shared;
  uint64_t shared_size;
  uint8_t *local; /* nthreads * local_size */
  uint32_t ctaid[3];
  uint64_t linear_cta;
  uint32_t bar_count[16], bar_expect[16];
  uint32_t red_popc[16];
  bool red_and[16], red_or[16];
  uint64_t cls[C_COUNT];
  uint64_t work[W_COUNT];
  uint64_t warp_instr, divergent, wavefronts, conflicts, since_check;
  _Atomic uint64_t *total;
  qiao_status_t err;
  int range_hint;
} cta_t;

/* ------------------------------------------------------------ errors */

static void thread_xyz(const cta_t *c, const warp_t *w, int l, char *buf, size_t n) {
  snprintf(buf, n, "(%u,%u,%u)", w->tid[l][0], w->tid[l][1], w->tid[l][2]);
}

static const char *space_name(int sp) {
  static const char *const k[] = {"generic", "global", "shared", "local",
                                  "param",   "param",  "const"};
  return (unsigned)sp < 7 ? k[sp] : "?";
}

/* Records the first error of the CTA: kernel, CTA, thread, PTX line, message. */
static void fail(cta_t *c, const warp_t *w, int lane, const sinst_t *I, const char *fmt, ...) {
  if (c->err) return;
  char msg[512], th[64] = "";
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (w && lane >= 0) thread_xyz(c, w, lane, th, sizeof th);
  char mn[128] = "-";
  if (I && I->name) {
    size_t n = (size_t)snprintf(mn, sizeof mn, "%s", I->name);
    for (uint32_t i = 0; I->src && i < I->src->nmods && n < sizeof mn; ++i)
      n += (size_t)snprintf(mn + n, sizeof mn - n, ".%s", I->src->mods[i]);
  }
  char src[300] = "";
  if (I && I->loc_path) snprintf(src, sizeof src, ", source %s:%u", I->loc_path, I->loc_line);
  c->err = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "simt-emu: kernel '%s', CTA (%u,%u,%u)%s%s, PTX line %d (%s)%s: %s",
                            c->L->kernel, c->ctaid[0], c->ctaid[1], c->ctaid[2],
                            th[0] ? ", thread " : "", th, I ? I->line : 0, mn, src, msg);
}

/* ------------------------------------------------------------ values */

static inline uint32_t tbits(int t) {
  switch (t) {
  case QIAO_PTX_T_PRED: return 1;
  case QIAO_PTX_T_B8:
  case QIAO_PTX_T_U8:
  case QIAO_PTX_T_S8:
  case QIAO_PTX_T_E4M3:
  case QIAO_PTX_T_E5M2: return 8;
  case QIAO_PTX_T_B16:
  case QIAO_PTX_T_U16:
  case QIAO_PTX_T_S16:
  case QIAO_PTX_T_F16:
  case QIAO_PTX_T_BF16:
  case QIAO_PTX_T_E4M3X2:
  case QIAO_PTX_T_E5M2X2: return 16;
  case QIAO_PTX_T_B32:
  case QIAO_PTX_T_U32:
  case QIAO_PTX_T_S32:
  case QIAO_PTX_T_F32:
  case QIAO_PTX_T_F16X2:
  case QIAO_PTX_T_BF16X2:
  case QIAO_PTX_T_TF32: return 32;
  case QIAO_PTX_T_B64:
  case QIAO_PTX_T_U64:
  case QIAO_PTX_T_S64:
  case QIAO_PTX_T_F64: return 64;
  case QIAO_PTX_T_B128: return 128;
  default: return 0;
  }
}
static inline bool tsigned(int t) {
  return t == QIAO_PTX_T_S8 || t == QIAO_PTX_T_S16 || t == QIAO_PTX_T_S32 || t == QIAO_PTX_T_S64;
}
static inline bool tint(int t) { return t >= QIAO_PTX_T_B8 && t <= QIAO_PTX_T_S64; }
static inline uint64_t mask_w(uint32_t w) { return w >= 64 ? ~0ull : ((1ull << w) - 1); }
static inline int64_t sext(uint64_t v, uint32_t w) {
  if (w >= 64) return (int64_t)v;
  uint64_t m = 1ull << (w - 1);
  v &= mask_w(w);
  return (int64_t)((v ^ m) - m);
}
static inline float asf(uint64_t v) {
  float f;
  uint32_t u = (uint32_t)v;
  memcpy(&f, &u, 4);
  return f;
}
static inline double asd(uint64_t v) {
  double d;
  memcpy(&d, &v, 8);
  return d;
}
static inline uint64_t fb(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}
static inline uint64_t db(double d) {
  uint64_t u;
  memcpy(&u, &d, 8);
  return u;
}

static uint64_t sreg(const cta_t *c, const warp_t *w, const sop_t *o, int l) {
  const simt_launch_t *L = c->L;
  switch (o->sreg) {
  case QIAO_PTX_SREG_TID: return o->comp < 3 ? w->tid[l][o->comp] : 0;
  case QIAO_PTX_SREG_NTID: return o->comp < 3 ? (uint64_t)L->block[o->comp] : 0;
  case QIAO_PTX_SREG_CTAID: return o->comp < 3 ? c->ctaid[o->comp] : 0;
  case QIAO_PTX_SREG_NCTAID: return o->comp < 3 ? (uint64_t)L->grid[o->comp] : 0;
  case QIAO_PTX_SREG_LANEID: return (uint64_t)l;
  case QIAO_PTX_SREG_WARPID: return w->id;
  case QIAO_PTX_SREG_NWARPID: return 64;
  case QIAO_PTX_SREG_SMID: return c->linear_cta % (uint64_t)(L->nsm > 0 ? L->nsm : 1);
  case QIAO_PTX_SREG_NSMID: return (uint64_t)(L->nsm > 0 ? L->nsm : 1);
  case QIAO_PTX_SREG_GRIDID: return 0;
  case QIAO_PTX_SREG_CLOCK: return w->clock & 0xffffffffu;
  case QIAO_PTX_SREG_CLOCK_HI: return w->clock >> 32;
  case QIAO_PTX_SREG_CLOCK64: return w->clock;
  case QIAO_PTX_SREG_GLOBALTIMER:
  case QIAO_PTX_SREG_GLOBALTIMER_LO: return w->clock;
  case QIAO_PTX_SREG_LANEMASK_EQ: return 1u << l;
  case QIAO_PTX_SREG_LANEMASK_LE: return (uint32_t)mask_w((uint32_t)l + 1);
  case QIAO_PTX_SREG_LANEMASK_LT: return (uint32_t)mask_w((uint32_t)l);
  case QIAO_PTX_SREG_LANEMASK_GE: return ~(uint32_t)mask_w((uint32_t)l);
  case QIAO_PTX_SREG_LANEMASK_GT: return ~(uint32_t)mask_w((uint32_t)l + 1);
  case QIAO_PTX_SREG_DYNAMIC_SMEM_SIZE: return L->dyn_shared;
  case QIAO_PTX_SREG_TOTAL_SMEM_SIZE:
  case QIAO_PTX_SREG_AGGR_SMEM_SIZE: return c->shared_size;
  case QIAO_PTX_SREG_NCLUSTERID: return o->comp < 3 ? (uint64_t)L->grid[o->comp] : 0;
  case QIAO_PTX_SREG_CLUSTERID: return o->comp < 3 ? c->ctaid[o->comp] : 0;
  case QIAO_PTX_SREG_CLUSTER_NCTAID: return 1;
  case QIAO_PTX_SREG_CLUSTER_NCTARANK: return 1;
  default: return 0;
  }
}

#define REG(o, l) R[(size_t)(o)->r * 32 + (size_t)(l)]

static inline __attribute__((always_inline)) uint64_t rd(const cta_t *c, const warp_t *w,
                                                         const uint64_t *R, const sop_t *o, int l) {
  switch (o->k) {
  case K_REG: return REG(o, l);
  case K_IMM: return o->v;
  case K_SREG: return sreg(c, w, o, l);
  default: return 0;
  }
}
static inline bool rdp(const cta_t *c, const warp_t *w, const uint64_t *R, const sop_t *o, int l) {
  return ((rd(c, w, R, o, l) & 1) != 0) ^ (o->neg != 0);
}
static inline void wr(uint64_t *R, const sop_t *o, int l, uint64_t v) {
  if (o->k == K_REG) REG(o, l) = v;
}

/* ------------------------------------------------------------ memory */

static bool find_range(cta_t *c, uint64_t a, uint64_t n) {
  const simt_range_t *r = c->L->ranges;
  int h = c->range_hint;
  if (h < c->L->nranges && a >= r[h].base && a + n <= r[h].end && a + n >= a) return true;
  int lo = 0, hi = c->L->nranges - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (a < r[mid].base)
      hi = mid - 1;
    else if (a >= r[mid].end)
      lo = mid + 1;
    else {
      c->range_hint = mid;
      return a + n <= r[mid].end && a + n >= a;
    }
  }
  return false;
}

/* Translates an access of n bytes (alignment `align`) in space sp to a host
 * pointer, checking bounds and alignment; NULL after recording an error. */
static uint8_t *mem(cta_t *c, warp_t *w, int l, const sinst_t *I, int sp, uint64_t a, uint32_t n,
                    uint32_t align, bool store) {
  int depth = w->depth[l];
  int osp = sp;
  if (sp == SP_GENERIC) {
    switch (a & SIMT_WIN_MASK) {
    case SIMT_WIN_SHARED:
      sp = SP_SHARED;
      a -= SIMT_WIN_SHARED;
      break;
    case SIMT_WIN_LOCAL:
      sp = SP_LOCAL;
      a -= SIMT_WIN_LOCAL;
      break;
    case SIMT_WIN_CONST:
      sp = SP_CONST;
      a -= SIMT_WIN_CONST;
      break;
    case SIMT_WIN_PARAM:
      sp = SP_KPARAM;
      a -= SIMT_WIN_PARAM;
      break;
    default: sp = SP_GLOBAL; break;
    }
  }
  if (align > 1 && (a & (align - 1))) {
    fail(c, w, l, I, "misaligned %s %s of %u bytes at %s address 0x%llx (needs %u-byte alignment)",
         space_name(sp), store ? "store" : "load", n, space_name(osp), (unsigned long long)a,
         align);
    return NULL;
  }
  uint8_t *base = NULL;
  uint64_t size = 0;
  switch (sp) {
  case SP_GLOBAL:
    if (!find_range(c, a, n)) {
      fail(c, w, l, I,
           "out-of-bounds global %s of %u bytes at address 0x%llx (not inside any "
           "live buffer of the device)",
           store ? "store" : "load", n, (unsigned long long)a);
      return NULL;
    }
    return (uint8_t *)(uintptr_t)a;
  case SP_SHARED:
    base = c->shared;
    size = c->shared_size;
    break;
  case SP_LOCAL: {
    int t = (int)(w->id * 32 + (uint32_t)l);
    base = c->local + (size_t)t * c->P->local_size;
    size = c->P->local_size;
    break;
  }
  case SP_KPARAM:
    if (store) {
      fail(c, w, l, I, "store to kernel parameter space at offset 0x%llx", (unsigned long long)a);
      return NULL;
    }
    base = (uint8_t *)c->L->params;
    size = c->P->funcs[c->L->func].kparam_size;
    break;
  case SP_FPARAM:
    base = w->fparams[depth] + (size_t)l * c->P->fparam_size;
    size = c->P->fparam_size;
    break;
  case SP_CONST:
    if (store) {
      fail(c, w, l, I, "store to const space at offset 0x%llx", (unsigned long long)a);
      return NULL;
    }
    base = c->P->const_seg;
    size = c->P->const_size;
    break;
  }
  if (a > size || n > size - a) {
    fail(c, w, l, I,
         "out-of-bounds %s %s of %u bytes at offset 0x%llx (the %s segment has %llu "
         "bytes)",
         space_name(sp), store ? "store" : "load", n, (unsigned long long)a, space_name(sp),
         (unsigned long long)size);
    return NULL;
  }
  return base + a;
}

static inline uint64_t ldn(const uint8_t *p, uint32_t n) {
  switch (n) {
  case 1: return *p;
  case 2: {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
  }
  case 4: {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
  }
  default: {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
  }
  }
}
static inline void stn(uint8_t *p, uint32_t n, uint64_t v) {
  switch (n) {
  case 1: *p = (uint8_t)v; break;
  case 2: {
    uint16_t x = (uint16_t)v;
    memcpy(p, &x, 2);
    break;
  }
  case 4: {
    uint32_t x = (uint32_t)v;
    memcpy(p, &x, 4);
    break;
  }
  default: memcpy(p, &v, 8); break;
  }
}

/* Shared-memory bank statistics of one warp-wide access of `bytes` per thread:
 * the wavefronts are the most distinct 4-byte words any of the 32 banks must
 * serve; the ideal is one wavefront per 128 distinct bytes; conflicts are the
 * wavefronts beyond the ideal. */
static void bank_stats(cta_t *c, const uint64_t *addr, uint32_t mask, uint32_t bytes) {
  uint64_t words[32][32];
  uint8_t count[32] = {0};
  int worst = 0, unique = 0;
  uint32_t nw = bytes < 4 ? 1 : bytes / 4;
  for (uint32_t m = mask; m; m &= m - 1) {
    uint64_t w0 = addr[__builtin_ctz(m)] >> 2;
    for (uint32_t k = 0; k < nw; ++k) {
      uint64_t wd = w0 + k;
      int b = (int)(wd & 31);
      bool dup = false;
      for (int i = 0; i < count[b]; ++i)
        if (words[b][i] == wd) {
          dup = true;
          break;
        }
      if (dup) continue;
      ++unique;
      if (count[b] < 32) words[b][count[b]++] = wd;
      if (count[b] > worst) worst = count[b];
    }
  }
  if (worst < 1) return;
  int ideal = (unique + 31) / 32;
  c->wavefronts += (uint64_t)worst;
  c->conflicts += (uint64_t)(worst > ideal ? worst - ideal : 0);
}

/* ------------------------------------------------------------ float helpers */

static inline int fe_of(int rnd) {
  switch (rnd) {
  case QIAO_PTX_RND_RZ:
  case QIAO_PTX_RND_RZI: return FE_TOWARDZERO;
  case QIAO_PTX_RND_RM:
  case QIAO_PTX_RND_RMI: return FE_DOWNWARD;
  case QIAO_PTX_RND_RP:
  case QIAO_PTX_RND_RPI: return FE_UPWARD;
  default: return FE_TONEAREST;
  }
}
static inline int rm_of(int rnd) {
  switch (rnd) {
  case QIAO_PTX_RND_RZ: return RM_RZ;
  case QIAO_PTX_RND_RM: return RM_RM;
  case QIAO_PTX_RND_RP: return RM_RP;
  default: return RM_RN;
  }
}
static inline bool directed(int rnd) {
  return rnd == QIAO_PTX_RND_RZ || rnd == QIAO_PTX_RND_RM || rnd == QIAO_PTX_RND_RP;
}

enum { FO_ADD, FO_SUB, FO_MUL, FO_FMA, FO_DIV, FO_SQRT, FO_RCP, FO_CVT };

/* One IEEE operation in rounding mode rnd (fesetround around volatile operands). */
static float f32op(int op, float a, float b, float cc, int rnd) {
  bool d = directed(rnd);
  if (!d) {
    switch (op) {
    case FO_ADD: return a + b;
    case FO_SUB: return a - b;
    case FO_MUL: return a * b;
    case FO_FMA: return fmaf(a, b, cc);
    case FO_DIV: return a / b;
    case FO_SQRT: return sqrtf(a);
    case FO_RCP: return 1.0f / a;
    }
  }
  volatile float x = a, y = b, z = cc, r = 0;
  if (d) fesetround(fe_of(rnd));
  switch (op) {
  case FO_ADD: r = x + y; break;
  case FO_SUB: r = x - y; break;
  case FO_MUL: r = x * y; break;
  case FO_FMA: r = fmaf(x, y, z); break;
  case FO_DIV: r = x / y; break;
  case FO_SQRT: r = sqrtf(x); break;
  case FO_RCP: r = 1.0f / x; break;
  }
  if (d) fesetround(FE_TONEAREST);
  return r;
}
static double f64op(int op, double a, double b, double cc, int rnd) {
  volatile double x = a, y = b, z = cc, r = 0;
  bool d = directed(rnd);
  if (d) fesetround(fe_of(rnd));
  switch (op) {
  case FO_ADD: r = x + y; break;
  case FO_SUB: r = x - y; break;
  case FO_MUL: r = x * y; break;
  case FO_FMA: r = fma(x, y, z); break;
  case FO_DIV: r = x / y; break;
  case FO_SQRT: r = sqrt(x); break;
  case FO_RCP: r = 1.0 / x; break;
  }
  if (d) fesetround(FE_TONEAREST);
  return r;
}
/* double → float in a rounding mode */
static float d2f(double v, int rnd) {
  volatile double x = v;
  volatile float r;
  bool d = directed(rnd);
  if (d) fesetround(fe_of(rnd));
  r = (float)x;
  if (d) fesetround(FE_TONEAREST);
  return r;
}

static inline float ftz32(float x) {
  return fpclassify(x) == FP_SUBNORMAL ? copysignf(0.0f, x) : x;
}
static inline double sat01(double x) { return isnan(x) ? 0.0 : x < 0 ? 0.0 : x > 1 ? 1.0 : x; }

#define CANON_NAN32 0x7fffffffu
#define CANON_NAN64 0x7fffffffffffffffull

static double fminmax(double a, double b, bool is_max, bool nan_prop, bool *out_nan) {
  *out_nan = false;
  if (isnan(a) || isnan(b)) {
    if (nan_prop || (isnan(a) && isnan(b))) {
      *out_nan = true;
      return NAN;
    }
    return isnan(a) ? b : a;
  }
  if (a == 0 && b == 0) {
    bool na = signbit(a), nb = signbit(b);
    if (is_max) return (na && nb) ? -0.0 : 0.0;
    return (na || nb) ? -0.0 : 0.0;
  }
  return is_max ? (a > b ? a : b) : (a < b ? a : b);
}

static bool fcmp(int cmp, double a, double b, bool *ok) {
  bool un = isnan(a) || isnan(b);
  *ok = true;
  switch (cmp) {
  case QIAO_PTX_CMP_EQ: return !un && a == b;
  case QIAO_PTX_CMP_NE: return !un && a != b;
  case QIAO_PTX_CMP_LT: return !un && a < b;
  case QIAO_PTX_CMP_LE: return !un && a <= b;
  case QIAO_PTX_CMP_GT: return !un && a > b;
  case QIAO_PTX_CMP_GE: return !un && a >= b;
  case QIAO_PTX_CMP_EQU: return un || a == b;
  case QIAO_PTX_CMP_NEU: return un || a != b;
  case QIAO_PTX_CMP_LTU: return un || a < b;
  case QIAO_PTX_CMP_LEU: return un || a <= b;
  case QIAO_PTX_CMP_GTU: return un || a > b;
  case QIAO_PTX_CMP_GEU: return un || a >= b;
  case QIAO_PTX_CMP_NUM: return !un;
  case QIAO_PTX_CMP_NAN: return un;
  default: *ok = false; return false;
  }
}

static bool icmp(int cmp, uint64_t a, uint64_t b, uint32_t w, bool sgn, bool *ok) {
  int64_t sa = sext(a, w), sb = sext(b, w);
  uint64_t ua = a & mask_w(w), ub = b & mask_w(w);
  *ok = true;
  switch (cmp) {
  case QIAO_PTX_CMP_EQ: return ua == ub;
  case QIAO_PTX_CMP_NE: return ua != ub;
  case QIAO_PTX_CMP_LT: return sgn ? sa < sb : ua < ub;
  case QIAO_PTX_CMP_LE: return sgn ? sa <= sb : ua <= ub;
  case QIAO_PTX_CMP_GT: return sgn ? sa > sb : ua > ub;
  case QIAO_PTX_CMP_GE: return sgn ? sa >= sb : ua >= ub;
  case QIAO_PTX_CMP_LO: return ua < ub;
  case QIAO_PTX_CMP_LS: return ua <= ub;
  case QIAO_PTX_CMP_HI: return ua > ub;
  case QIAO_PTX_CMP_HS: return ua >= ub;
  default: *ok = false; return false;
  }
}

/* value of a float-typed operand bits as double (f16/bf16/f32/f64) */
static inline double fval(int t, uint64_t v) {
  switch (t) {
  case QIAO_PTX_T_F32: return asf(v);
  case QIAO_PTX_T_F64: return asd(v);
  case QIAO_PTX_T_F16: return fp_decode((uint32_t)v & 0xffff, FMT_F16);
  case QIAO_PTX_T_BF16: return fp_decode((uint32_t)v & 0xffff, FMT_BF16);
  case QIAO_PTX_T_E4M3: return fp_decode((uint32_t)v & 0xff, FMT_E4M3);
  case QIAO_PTX_T_E5M2: return fp_decode((uint32_t)v & 0xff, FMT_E5M2);
  default: return 0;
  }
}
static inline bool tfloat(int t) {
  return t == QIAO_PTX_T_F32 || t == QIAO_PTX_T_F64 || t == QIAO_PTX_T_F16 ||
         t == QIAO_PTX_T_BF16 || t == QIAO_PTX_T_E4M3 || t == QIAO_PTX_T_E5M2;
}
/* a double into float type t (one rounding) */
static inline uint64_t fenc(int t, double v, int rnd, bool satfinite) {
  switch (t) {
  case QIAO_PTX_T_F32: return fb(d2f(v, rnd));
  case QIAO_PTX_T_F64: return db(v);
  case QIAO_PTX_T_F16: return fp_encode(v, FMT_F16, rm_of(rnd), satfinite);
  case QIAO_PTX_T_BF16: return fp_encode(v, FMT_BF16, rm_of(rnd), satfinite);
  case QIAO_PTX_T_E4M3: return fp_encode(v, FMT_E4M3, rm_of(rnd), satfinite);
  case QIAO_PTX_T_E5M2: return fp_encode(v, FMT_E5M2, rm_of(rnd), satfinite);
  default: return 0;
  }
}

/* Packed half ops: lanes of .f16x2/.bf16x2 (or a scalar .f16/.bf16). */
static uint64_t half_op(int t, int op, uint64_t a, uint64_t b, uint64_t cc, const sinst_t *I) {
  int fmt = (t == QIAO_PTX_T_BF16 || t == QIAO_PTX_T_BF16X2) ? FMT_BF16 : FMT_F16;
  int n = (t == QIAO_PTX_T_F16X2 || t == QIAO_PTX_T_BF16X2) ? 2 : 1;
  uint64_t out = 0;
  for (int i = 0; i < n; ++i) {
    double x = fp_decode((uint32_t)(a >> (16 * i)) & 0xffff, fmt);
    double y = fp_decode((uint32_t)(b >> (16 * i)) & 0xffff, fmt);
    double z = fp_decode((uint32_t)(cc >> (16 * i)) & 0xffff, fmt);
    double r = 0;
    bool isnan_ = false;
    switch (op) {
    case QIAO_PTX_OP_ADD: r = x + y; break;
    case QIAO_PTX_OP_SUB: r = x - y; break;
    case QIAO_PTX_OP_MUL: r = x * y; break;
    case QIAO_PTX_OP_FMA:
    case QIAO_PTX_OP_MAD: r = fma(x, y, z); break;
    case QIAO_PTX_OP_NEG: r = -x; break;
    case QIAO_PTX_OP_ABS: r = fabs(x); break;
    case QIAO_PTX_OP_MIN:
    case QIAO_PTX_OP_MAX:
      r = fminmax(x, y, op == QIAO_PTX_OP_MAX, (I->flags & QIAO_PTX_F_NAN) != 0, &isnan_);
      break;
    case QIAO_PTX_OP_EX2: r = exp2(x); break;
    case QIAO_PTX_OP_TANH: r = tanh(x); break;
    }
    if (I->flags & QIAO_PTX_F_SAT) r = sat01(r);
    if ((I->flags & QIAO_PTX_F_RELU) && !isnan(r) && r < 0) r = 0;
    uint32_t h;
    if (op == QIAO_PTX_OP_NEG || op == QIAO_PTX_OP_ABS) {
      uint32_t raw = (uint32_t)(a >> (16 * i)) & 0xffff;
      h = op == QIAO_PTX_OP_NEG ? raw ^ 0x8000 : raw & 0x7fff;
    } else {
      h = isnan(r) ? 0x7fff : fp_encode(r, fmt, RM_RN, false);
    }
    out |= (uint64_t)h << (16 * i);
  }
  return out;
}

static inline bool is_half(int t) {
  return t == QIAO_PTX_T_F16 || t == QIAO_PTX_T_F16X2 || t == QIAO_PTX_T_BF16 ||
         t == QIAO_PTX_T_BF16X2;
}

/* ------------------------------------------------------------ ALU (one lane) */

#define UNSUP_TYPE()                                                                               \
  do {                                                                                             \
    fail(c, w, l, I, "unsupported type .%s for %s", qiao_ptx_type_name((qiao_ptx_type_t)t),        \
         I->name);                                                                                 \
    return false;                                                                                  \
  } while (0)

static float f32_unary_approx(int op, float x) {
  switch (op) {
  case QIAO_PTX_OP_SIN: return sinf(x);
  case QIAO_PTX_OP_COS: return cosf(x);
  case QIAO_PTX_OP_LG2: return log2f(x);
  case QIAO_PTX_OP_EX2: return exp2f(x);
  case QIAO_PTX_OP_TANH: return tanhf(x);
  case QIAO_PTX_OP_RSQRT: return 1.0f / sqrtf(x);
  default: return x;
  }
}

static bool cvt_lane(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l) {
  int dt = I->t, st = I->t2, t = dt;
  uint64_t a = rd(c, w, R, &I->o[1], l);
  bool sat = (I->flags & QIAO_PTX_F_SAT) != 0, ftz = (I->flags & QIAO_PTX_F_FTZ) != 0;
  bool relu = (I->flags & QIAO_PTX_F_RELU) != 0, satf = I->sub == 's';
  /* packed pair conversions: cvt.rn.f16x2.f32 d, a, b (a → upper half) */
  if ((dt == QIAO_PTX_T_F16X2 || dt == QIAO_PTX_T_BF16X2) && st == QIAO_PTX_T_F32) {
    int et = dt == QIAO_PTX_T_F16X2 ? QIAO_PTX_T_F16 : QIAO_PTX_T_BF16;
    double hi = asf(a), lo = asf(rd(c, w, R, &I->o[2], l));
    if (relu) {
      if (!isnan(hi) && hi < 0) hi = 0;
      if (!isnan(lo) && lo < 0) lo = 0;
    }
    wr(R, &I->o[0], l, (fenc(et, hi, I->rnd, satf) << 16) | fenc(et, lo, I->rnd, satf));
    return true;
  }
  if ((dt == QIAO_PTX_T_E4M3X2 || dt == QIAO_PTX_T_E5M2X2) && st == QIAO_PTX_T_F32) {
    int et = dt == QIAO_PTX_T_E4M3X2 ? QIAO_PTX_T_E4M3 : QIAO_PTX_T_E5M2;
    double hi = asf(a), lo = asf(rd(c, w, R, &I->o[2], l));
    if (relu) {
      if (!isnan(hi) && hi < 0) hi = 0;
      if (!isnan(lo) && lo < 0) lo = 0;
    }
    wr(R, &I->o[0], l, (fenc(et, hi, I->rnd, satf) << 8) | fenc(et, lo, I->rnd, satf));
    return true;
  }
  if (dt == QIAO_PTX_T_F16X2 && (st == QIAO_PTX_T_E4M3X2 || st == QIAO_PTX_T_E5M2X2)) {
    int fmt = st == QIAO_PTX_T_E4M3X2 ? FMT_E4M3 : FMT_E5M2;
    uint64_t out = 0;
    for (int i = 0; i < 2; ++i) {
      double v = fp_decode((uint32_t)(a >> (8 * i)) & 0xff, fmt);
      out |= (uint64_t)(isnan(v) ? 0x7fff : fp_encode(v, FMT_F16, RM_RN, false)) << (16 * i);
    }
    wr(R, &I->o[0], l, out);
    return true;
  }
  /* cvt.{rna,rn,rz}{.satfinite}.tf32.f32: f32 rounded to tf32 (10 mantissa bits) at bit 13, the
   * low 13 bits cleared; .rna rounds ties away from zero. NaN stays a NaN (0x7fffffff); a finite
   * value that rounds past the largest tf32 becomes inf, or with .satfinite the largest finite. */
  if (dt == QIAO_PTX_T_TF32 && st == QIAO_PTX_T_F32) {
    uint32_t x = (uint32_t)a, mag = x & 0x7fffffffu, sign = x & 0x80000000u, r;
    if (mag > 0x7f800000u) {
      r = 0x7fffffffu;
    } else if (mag == 0x7f800000u) {
      r = satf ? sign | 0x7f7fe000u : x;
    } else {
      switch (I->rnd) {
      case QIAO_PTX_RND_RNA: mag += 0x1000u; break;
      case QIAO_PTX_RND_RN: mag += 0xfffu + ((mag >> 13) & 1u); break;
      case QIAO_PTX_RND_RZ: break;
      default: fail(c, w, l, I, "cvt to .tf32 needs .rna, .rn or .rz"); return false;
      }
      mag &= 0xffffe000u;
      if (mag >= 0x7f800000u) mag = satf ? 0x7f7fe000u : 0x7f800000u;
      r = sign | mag;
    }
    wr(R, &I->o[0], l, r);
    return true;
  }
  if (tint(dt) && tint(st)) {
    uint32_t sw = tbits(st), dw = tbits(dt);
    int64_t sv = tsigned(st) ? sext(a, sw) : (int64_t)(a & mask_w(sw));
    bool src_big_u = !tsigned(st) && sw == 64 && (a >> 63);
    uint64_t r;
    if (sat) {
      if (tsigned(dt)) {
        int64_t lo = -(int64_t)(1ull << (dw - 1)), hi = (int64_t)((1ull << (dw - 1)) - 1);
        if (dw == 64) {
          lo = INT64_MIN;
          hi = INT64_MAX;
        }
        r = src_big_u ? (uint64_t)hi : (uint64_t)(sv < lo ? lo : sv > hi ? hi : sv);
      } else {
        uint64_t hi = mask_w(dw);
        r = src_big_u ? hi : sv < 0 ? 0 : (uint64_t)sv > hi ? hi : (uint64_t)sv;
      }
    } else {
      r = (uint64_t)sv;
    }
    r &= mask_w(dw);
    if (tsigned(dt)) r = (uint64_t)sext(r, dw);
    wr(R, &I->o[0], l, r);
    return true;
  }
  if (tint(dt) && tfloat(st)) {
    double v = fval(st, a);
    if (ftz && st == QIAO_PTX_T_F32) v = ftz32((float)v);
    switch (I->rnd) {
    case QIAO_PTX_RND_RNI: v = nearbyint(v); break;
    case QIAO_PTX_RND_RZI:
    case QIAO_PTX_RND_NONE: v = trunc(v); break;
    case QIAO_PTX_RND_RMI: v = floor(v); break;
    case QIAO_PTX_RND_RPI: v = ceil(v); break;
    default: fail(c, w, l, I, "cvt float→int needs .rni/.rzi/.rmi/.rpi"); return false;
    }
    uint32_t dw = tbits(dt);
    uint64_t r;
    if (isnan(v))
      r = 0;
    else if (tsigned(dt)) {
      double lo = -ldexp(1.0, (int)dw - 1), hi = ldexp(1.0, (int)dw - 1);
      r = v < lo    ? (uint64_t)(int64_t)lo
          : v >= hi ? (dw == 64 ? (uint64_t)INT64_MAX : (uint64_t)((1ull << (dw - 1)) - 1))
                    : (uint64_t)(int64_t)v;
      r = (uint64_t)sext(r, dw);
    } else {
      double hi = ldexp(1.0, (int)dw);
      r = v <= 0 ? 0 : v >= hi ? mask_w(dw) : (uint64_t)v;
    }
    wr(R, &I->o[0], l, r);
    return true;
  }
  if (tfloat(dt) && tint(st)) {
    uint32_t sw = tbits(st);
    uint64_t ua = a & mask_w(sw);
    int64_t sa = sext(a, sw);
    uint64_t r;
    if (dt == QIAO_PTX_T_F32) {
      volatile float x;
      bool d = directed(I->rnd);
      if (d) fesetround(fe_of(I->rnd));
      if (tsigned(st))
        x = (float)sa;
      else
        x = (float)ua;
      if (d) fesetround(FE_TONEAREST);
      float xf = x;
      if (sat) xf = (float)sat01(xf);
      r = fb(xf);
    } else if (dt == QIAO_PTX_T_F64) {
      volatile double x;
      bool d = directed(I->rnd);
      if (d) fesetround(fe_of(I->rnd));
      if (tsigned(st))
        x = (double)sa;
      else
        x = (double)ua;
      if (d) fesetround(FE_TONEAREST);
      double xd = x;
      if (sat) xd = sat01(xd);
      r = db(xd);
    } else {
      double v = tsigned(st) ? (double)sa : (double)ua;
      if (sat) v = sat01(v);
      r = fenc(dt, v, I->rnd, satf);
    }
    wr(R, &I->o[0], l, r);
    return true;
  }
  if (tfloat(dt) && tfloat(st)) {
    double v = fval(st, a);
    if (ftz && st == QIAO_PTX_T_F32) v = ftz32((float)v);
    switch (I->rnd) {
    case QIAO_PTX_RND_RNI: v = nearbyint(v); break;
    case QIAO_PTX_RND_RZI: v = trunc(v); break;
    case QIAO_PTX_RND_RMI: v = floor(v); break;
    case QIAO_PTX_RND_RPI: v = ceil(v); break;
    default: break;
    }
    if (sat) v = sat01(v);
    if (relu && !isnan(v) && v < 0) v = 0;
    uint64_t r;
    if (isnan(v)) {
      r = dt == QIAO_PTX_T_F32   ? CANON_NAN32
          : dt == QIAO_PTX_T_F64 ? CANON_NAN64
                                 : fenc(dt, v, RM_RN, false);
    } else {
      int rnd = (I->rnd >= QIAO_PTX_RND_RNI) ? QIAO_PTX_RND_RN : I->rnd;
      r = fenc(dt, v, rnd, satf);
      if (ftz && dt == QIAO_PTX_T_F32) r = fb(ftz32(asf(r)));
    }
    wr(R, &I->o[0], l, r);
    return true;
  }
  UNSUP_TYPE();
}

static uint32_t prmt(uint32_t a, uint32_t b, uint32_t sel, int mode) {
  uint8_t bytes[8];
  for (int i = 0; i < 4; ++i) {
    bytes[i] = (uint8_t)(a >> (8 * i));
    bytes[4 + i] = (uint8_t)(b >> (8 * i));
  }
  uint32_t r = 0;
  if (mode == 0) {
    for (int i = 0; i < 4; ++i) {
      uint32_t s = (sel >> (4 * i)) & 0xf;
      uint8_t v = bytes[s & 7];
      if (s & 8) v = (v & 0x80) ? 0xff : 0;
      r |= (uint32_t)v << (8 * i);
    }
    return r;
  }
  uint32_t s = sel & 3;
  static const uint8_t f4e[4][4] = {{0, 1, 2, 3}, {1, 2, 3, 4}, {2, 3, 4, 5}, {3, 4, 5, 6}};
  static const uint8_t b4e[4][4] = {{0, 7, 6, 5}, {1, 0, 7, 6}, {2, 1, 0, 7}, {3, 2, 1, 0}};
  static const uint8_t rc8[4][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {3, 3, 3, 3}};
  static const uint8_t ecl[4][4] = {{0, 1, 2, 3}, {1, 1, 2, 3}, {2, 2, 2, 3}, {3, 3, 3, 3}};
  static const uint8_t ecr[4][4] = {{0, 0, 0, 0}, {0, 1, 1, 1}, {0, 1, 2, 2}, {0, 1, 2, 3}};
  static const uint8_t rc16[4][4] = {{0, 1, 0, 1}, {2, 3, 2, 3}, {0, 1, 0, 1}, {2, 3, 2, 3}};
  const uint8_t(*tab)[4] = mode == 1   ? f4e
                           : mode == 2 ? b4e
                           : mode == 3 ? rc8
                           : mode == 4 ? ecl
                           : mode == 5 ? ecr
                                       : rc16;
  for (int i = 0; i < 4; ++i)
    r |= (uint32_t)bytes[tab[s][i]] << (8 * i);
  return r;
}

/* Executes a non-memory, non-control instruction for lane l. */
static bool alu(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l) {
  int t = I->t;
  const sop_t *o = I->o;
  uint32_t W = tbits(t);
  bool sg = tsigned(t);
  uint32_t fl = I->flags;
  switch (I->op) {
  case QIAO_PTX_OP_MOV: {
    if (o[0].k == K_VEC) { /* unpack: mov.b64 {a,b}, x */
      uint64_t v = rd(c, w, R, &o[1], l);
      uint32_t ew = W / o[0].n;
      for (uint32_t i = 0; i < o[0].n; ++i)
        wr(R, &c->P->vops[o[0].r + (int32_t)i], l, (v >> (ew * i)) & mask_w(ew));
      return true;
    }
    if (o[1].k == K_VEC) { /* pack */
      uint32_t ew = W / o[1].n;
      uint64_t v = 0;
      for (uint32_t i = 0; i < o[1].n; ++i)
        v |= (rd(c, w, R, &c->P->vops[o[1].r + (int32_t)i], l) & mask_w(ew)) << (ew * i);
      wr(R, &o[0], l, v);
      return true;
    }
    uint64_t v = rd(c, w, R, &o[1], l);
    if (t == QIAO_PTX_T_PRED) v = rdp(c, w, R, &o[1], l);
    wr(R, &o[0], l, v);
    return true;
  }
  case QIAO_PTX_OP_CVT: return cvt_lane(c, w, I, R, l);
  case QIAO_PTX_OP_CVTA: {
    uint64_t a = rd(c, w, R, &o[1], l), r = a;
    bool to = I->t2 == 0 && (fl & 0) == 0; /* decided below */
    (void)to;
    int sp = I->space;
    uint64_t win = sp == SP_SHARED                        ? SIMT_WIN_SHARED
                   : sp == SP_LOCAL                       ? SIMT_WIN_LOCAL
                   : sp == SP_CONST                       ? SIMT_WIN_CONST
                   : (sp == SP_KPARAM || sp == SP_FPARAM) ? SIMT_WIN_PARAM
                                                          : 0;
    /* cvta.to.space: generic → space; cvta.space: space → generic */
    bool to_space = I->sub == 't';
    if (win) r = to_space ? a - win : a + win;
    if (W == 32) r &= 0xffffffffu;
    wr(R, &o[0], l, r);
    return true;
  }
  case QIAO_PTX_OP_ISSPACEP: {
    uint64_t a = rd(c, w, R, &o[1], l), win = a & SIMT_WIN_MASK;
    bool r = false;
    switch (I->space) {
    case SP_SHARED: r = win == SIMT_WIN_SHARED; break;
    case SP_LOCAL: r = win == SIMT_WIN_LOCAL; break;
    case SP_CONST: r = win == SIMT_WIN_CONST; break;
    case SP_KPARAM:
    case SP_FPARAM: r = win == SIMT_WIN_PARAM; break;
    case SP_GLOBAL: r = win == 0; break;
    }
    wr(R, &o[0], l, r);
    return true;
  }
  case QIAO_PTX_OP_SELP: {
    bool p = rdp(c, w, R, &o[3], l);
    wr(R, &o[0], l, rd(c, w, R, p ? &o[1] : &o[2], l));
    return true;
  }
  case QIAO_PTX_OP_SETP:
  case QIAO_PTX_OP_SET: {
    int ct = I->op == QIAO_PTX_OP_SET ? I->t2 : t;
    uint64_t a = rd(c, w, R, &o[1], l), b = rd(c, w, R, &o[2], l);
    bool ok, r;
    if (ct == QIAO_PTX_T_F16X2 || ct == QIAO_PTX_T_BF16X2) {
      /* packed halves: t[0] from the lower halves, t[1] from the upper ones */
      int fmt = ct == QIAO_PTX_T_F16X2 ? FMT_F16 : FMT_BF16;
      bool t2[2];
      for (int h = 0; h < 2; ++h) {
        double x = fp_decode((uint32_t)(a >> (16 * h)) & 0xffff, fmt);
        double y = fp_decode((uint32_t)(b >> (16 * h)) & 0xffff, fmt);
        t2[h] = fcmp(I->cmp, x, y, &ok);
        if (!ok) {
          fail(c, w, l, I, "unsupported comparison for .%s",
               qiao_ptx_type_name((qiao_ptx_type_t)ct));
          return false;
        }
        if (I->opmod == QIAO_PTX_OPM_AND || I->opmod == QIAO_PTX_OPM_OR ||
            I->opmod == QIAO_PTX_OPM_XOR) {
          bool pc = rdp(c, w, R, &o[3], l);
          t2[h] = I->opmod == QIAO_PTX_OPM_AND  ? (t2[h] && pc)
                  : I->opmod == QIAO_PTX_OPM_OR ? (t2[h] || pc)
                                                : (t2[h] != pc);
        }
      }
      if (I->op == QIAO_PTX_OP_SETP) {
        if (o[0].k == K_VEC) {
          wr(R, &c->P->vops[o[0].r], l, t2[0]);
          wr(R, &c->P->vops[o[0].r + 1], l, t2[1]);
        } else {
          wr(R, &o[0], l, t2[0]);
        }
      } else {
        uint64_t one = t == QIAO_PTX_T_F16X2 ? 0x3C00 : t == QIAO_PTX_T_BF16X2 ? 0x3F80 : 0xffff;
        wr(R, &o[0], l, (t2[1] ? one << 16 : 0) | (t2[0] ? one : 0));
      }
      return true;
    }
    if (tfloat(ct)) {
      double x = fval(ct, a), y = fval(ct, b);
      if ((fl & QIAO_PTX_F_FTZ) && ct == QIAO_PTX_T_F32) {
        x = ftz32((float)x);
        y = ftz32((float)y);
      }
      r = fcmp(I->cmp, x, y, &ok);
    } else {
      r = icmp(I->cmp, a, b, tbits(ct), tsigned(ct), &ok);
    }
    if (!ok) {
      fail(c, w, l, I, "unsupported comparison for .%s", qiao_ptx_type_name((qiao_ptx_type_t)ct));
      return false;
    }
    bool notr = !r;
    int ci = I->op == QIAO_PTX_OP_SETP ? 3 : 3;
    if (I->opmod == QIAO_PTX_OPM_AND || I->opmod == QIAO_PTX_OPM_OR ||
        I->opmod == QIAO_PTX_OPM_XOR) {
      bool p = rdp(c, w, R, &o[ci], l);
      bool r1 = I->opmod == QIAO_PTX_OPM_AND  ? (r && p)
                : I->opmod == QIAO_PTX_OPM_OR ? (r || p)
                                              : (r != p);
      bool r2 = I->opmod == QIAO_PTX_OPM_AND  ? (notr && p)
                : I->opmod == QIAO_PTX_OPM_OR ? (notr || p)
                                              : (notr != p);
      r = r1;
      notr = r2;
    }
    if (I->op == QIAO_PTX_OP_SETP) {
      if (o[0].k == K_VEC) {
        wr(R, &c->P->vops[o[0].r], l, r);
        wr(R, &c->P->vops[o[0].r + 1], l, notr);
      } else {
        wr(R, &o[0], l, r);
      }
    } else {
      uint64_t v = t == QIAO_PTX_T_F32    ? (r ? fb(1.0f) : 0)
                   : t == QIAO_PTX_T_F16  ? (r ? 0x3C00u : 0)
                   : t == QIAO_PTX_T_BF16 ? (r ? 0x3F80u : 0)
                                          : (r ? mask_w(tbits(t)) : 0);
      wr(R, &o[0], l, v);
    }
    return true;
  }
  default: break;
  }
  if (t == QIAO_PTX_T_PRED) {
    bool a = rdp(c, w, R, &o[1], l), b = I->nops > 2 ? rdp(c, w, R, &o[2], l) : false, r;
    switch (I->op) {
    case QIAO_PTX_OP_AND: r = a && b; break;
    case QIAO_PTX_OP_OR: r = a || b; break;
    case QIAO_PTX_OP_XOR: r = a != b; break;
    case QIAO_PTX_OP_NOT: r = !a; break;
    default: UNSUP_TYPE();
    }
    wr(R, &o[0], l, r);
    return true;
  }
  if (is_half(t)) {
    uint64_t a = rd(c, w, R, &o[1], l);
    uint64_t b = I->nops > 2 ? rd(c, w, R, &o[2], l) : 0,
             cc = I->nops > 3 ? rd(c, w, R, &o[3], l) : 0;
    switch (I->op) {
    case QIAO_PTX_OP_ADD:
    case QIAO_PTX_OP_SUB:
    case QIAO_PTX_OP_MUL:
    case QIAO_PTX_OP_FMA:
    case QIAO_PTX_OP_NEG:
    case QIAO_PTX_OP_ABS:
    case QIAO_PTX_OP_MIN:
    case QIAO_PTX_OP_MAX:
    case QIAO_PTX_OP_EX2:
    case QIAO_PTX_OP_TANH: wr(R, &o[0], l, half_op(t, I->op, a, b, cc, I)); return true;
    default: UNSUP_TYPE();
    }
  }
  if (t == QIAO_PTX_T_F32) {
    bool ftz = (fl & QIAO_PTX_F_FTZ) != 0;
    float a = asf(rd(c, w, R, &o[1], l));
    float b = I->nops > 2 ? asf(rd(c, w, R, &o[2], l)) : 0;
    float cc = I->nops > 3 ? asf(rd(c, w, R, &o[3], l)) : 0;
    if (ftz) {
      a = ftz32(a);
      b = ftz32(b);
      cc = ftz32(cc);
    }
    float r;
    int rnd = I->rnd;
    switch (I->op) {
    case QIAO_PTX_OP_ADD: r = f32op(FO_ADD, a, b, 0, rnd); break;
    case QIAO_PTX_OP_SUB: r = f32op(FO_SUB, a, b, 0, rnd); break;
    case QIAO_PTX_OP_MUL: r = f32op(FO_MUL, a, b, 0, rnd); break;
    case QIAO_PTX_OP_FMA:
    case QIAO_PTX_OP_MAD: r = f32op(FO_FMA, a, b, cc, rnd); break;
    case QIAO_PTX_OP_DIV: r = f32op(FO_DIV, a, b, 0, (fl & QIAO_PTX_F_APPROX) ? 0 : rnd); break;
    case QIAO_PTX_OP_RCP: r = f32op(FO_RCP, a, 0, 0, (fl & QIAO_PTX_F_APPROX) ? 0 : rnd); break;
    case QIAO_PTX_OP_SQRT: r = f32op(FO_SQRT, a, 0, 0, (fl & QIAO_PTX_F_APPROX) ? 0 : rnd); break;
    case QIAO_PTX_OP_RSQRT:
    case QIAO_PTX_OP_SIN:
    case QIAO_PTX_OP_COS:
    case QIAO_PTX_OP_LG2:
    case QIAO_PTX_OP_EX2:
    case QIAO_PTX_OP_TANH: r = f32_unary_approx(I->op, a); break;
    case QIAO_PTX_OP_ABS: r = fabsf(a); break;
    case QIAO_PTX_OP_NEG: r = -a; break;
    case QIAO_PTX_OP_COPYSIGN: r = copysignf(b, a); break;
    case QIAO_PTX_OP_MIN:
    case QIAO_PTX_OP_MAX: {
      bool isn;
      double m = fminmax(a, b, I->op == QIAO_PTX_OP_MAX, (fl & QIAO_PTX_F_NAN) != 0, &isn);
      uint64_t bits = isn ? CANON_NAN32 : fb((float)m);
      if (ftz) bits = fb(ftz32(asf(bits)));
      wr(R, &o[0], l, bits);
      return true;
    }
    case QIAO_PTX_OP_TESTP: {
      bool r2 = false;
      switch (I->sub) {
      case 1: r2 = isfinite(a); break;
      case 2: r2 = isinf(a); break;
      case 3: r2 = !isnan(a); break;
      case 4: r2 = isnan(a); break;
      case 5: r2 = isnormal(a); break;
      case 6: r2 = fpclassify(a) == FP_SUBNORMAL; break;
      }
      wr(R, &o[0], l, r2);
      return true;
    }
    default: UNSUP_TYPE();
    }
    if (fl & QIAO_PTX_F_SAT) r = (float)sat01(r);
    if ((fl & QIAO_PTX_F_RELU) && !isnan(r) && r < 0) r = 0;
    if (ftz) r = ftz32(r);
    uint64_t bits = isnan(r) && I->op != QIAO_PTX_OP_ABS && I->op != QIAO_PTX_OP_NEG &&
                            I->op != QIAO_PTX_OP_COPYSIGN
                        ? CANON_NAN32
                        : fb(r);
    wr(R, &o[0], l, bits);
    return true;
  }
  if (t == QIAO_PTX_T_F64) {
    double a = asd(rd(c, w, R, &o[1], l));
    double b = I->nops > 2 ? asd(rd(c, w, R, &o[2], l)) : 0;
    double cc = I->nops > 3 ? asd(rd(c, w, R, &o[3], l)) : 0;
    double r;
    int rnd = I->rnd;
    switch (I->op) {
    case QIAO_PTX_OP_ADD: r = f64op(FO_ADD, a, b, 0, rnd); break;
    case QIAO_PTX_OP_SUB: r = f64op(FO_SUB, a, b, 0, rnd); break;
    case QIAO_PTX_OP_MUL: r = f64op(FO_MUL, a, b, 0, rnd); break;
    case QIAO_PTX_OP_FMA:
    case QIAO_PTX_OP_MAD: r = f64op(FO_FMA, a, b, cc, rnd); break;
    case QIAO_PTX_OP_DIV: r = f64op(FO_DIV, a, b, 0, rnd); break;
    case QIAO_PTX_OP_RCP: r = f64op(FO_RCP, a, 0, 0, rnd); break;
    case QIAO_PTX_OP_SQRT: r = f64op(FO_SQRT, a, 0, 0, rnd); break;
    case QIAO_PTX_OP_RSQRT: r = 1.0 / sqrt(a); break;
    case QIAO_PTX_OP_ABS: r = fabs(a); break;
    case QIAO_PTX_OP_NEG: r = -a; break;
    case QIAO_PTX_OP_COPYSIGN: r = copysign(b, a); break;
    case QIAO_PTX_OP_MIN:
    case QIAO_PTX_OP_MAX: {
      bool isn;
      double m = fminmax(a, b, I->op == QIAO_PTX_OP_MAX, (fl & QIAO_PTX_F_NAN) != 0, &isn);
      wr(R, &o[0], l, isn ? CANON_NAN64 : db(m));
      return true;
    }
    case QIAO_PTX_OP_TESTP: {
      bool r2 = false;
      switch (I->sub) {
      case 1: r2 = isfinite(a); break;
      case 2: r2 = isinf(a); break;
      case 3: r2 = !isnan(a); break;
      case 4: r2 = isnan(a); break;
      case 5: r2 = isnormal(a); break;
      case 6: r2 = fpclassify(a) == FP_SUBNORMAL; break;
      }
      wr(R, &o[0], l, r2);
      return true;
    }
    default: UNSUP_TYPE();
    }
    if (fl & QIAO_PTX_F_SAT) r = sat01(r);
    uint64_t bits = isnan(r) && I->op != QIAO_PTX_OP_ABS && I->op != QIAO_PTX_OP_NEG &&
                            I->op != QIAO_PTX_OP_COPYSIGN
                        ? CANON_NAN64
                        : db(r);
    wr(R, &o[0], l, bits);
    return true;
  }
  if (!tint(t) || W == 0) UNSUP_TYPE();
  /* integers */
  uint64_t a = rd(c, w, R, &o[1], l);
  uint64_t b = I->nops > 2 ? rd(c, w, R, &o[2], l) : 0;
  uint64_t cv = I->nops > 3 ? rd(c, w, R, &o[3], l) : 0;
  uint64_t M = mask_w(W), r = 0;
  int64_t sa = sext(a, W), sb = sext(b, W);
  uint64_t ua = a & M, ub = b & M;
  switch (I->op) {
  case QIAO_PTX_OP_ADD:
  case QIAO_PTX_OP_ADDC: {
    uint64_t cin = I->op == QIAO_PTX_OP_ADDC ? w->carry[l] : 0;
    if ((fl & QIAO_PTX_F_SAT) && sg && W == 32) {
      int64_t s = sa + sb;
      r = (uint64_t)(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s);
    } else {
      unsigned __int128 s = (unsigned __int128)ua + ub + cin;
      r = (uint64_t)s;
      if (fl & QIAO_PTX_F_CC) w->carry[l] = (uint8_t)((s >> W) & 1);
    }
    break;
  }
  case QIAO_PTX_OP_SUB:
  case QIAO_PTX_OP_SUBC: {
    uint64_t bin = I->op == QIAO_PTX_OP_SUBC ? w->carry[l] : 0;
    if ((fl & QIAO_PTX_F_SAT) && sg && W == 32) {
      int64_t s = sa - sb;
      r = (uint64_t)(s > INT32_MAX ? INT32_MAX : s < INT32_MIN ? INT32_MIN : s);
    } else {
      unsigned __int128 s = (unsigned __int128)ua - ub - bin;
      r = (uint64_t)s;
      if (fl & QIAO_PTX_F_CC) w->carry[l] = (uint8_t)((s >> W) & 1);
    }
    break;
  }
  case QIAO_PTX_OP_MUL:
  case QIAO_PTX_OP_MAD: {
    __int128 p = sg ? (__int128)sa * sb : (__int128)((unsigned __int128)ua * ub);
    uint64_t add = I->op == QIAO_PTX_OP_MAD ? cv : 0;
    if (I->part == QIAO_PTX_PART_WIDE) {
      r = (uint64_t)p + add;
      r &= mask_w(2 * W);
      if (W == 64) {
        fail(c, w, l, I, "%s.wide takes 16- or 32-bit operands (PTX ISA), not 64-bit", I->name);
        return false;
      }
      wr(R, &o[0], l, r);
      return true;
    }
    if (I->part == QIAO_PTX_PART_HI) {
      r = (uint64_t)(p >> W);
      if (I->op == QIAO_PTX_OP_MAD) r += add;
    } else {
      r = (uint64_t)p + add;
    }
    if ((fl & QIAO_PTX_F_SAT) && sg && W == 32 && I->op == QIAO_PTX_OP_MAD) {
      int64_t s = sext(r, 64);
      (void)s;
    }
    break;
  }
  case QIAO_PTX_OP_MUL24:
  case QIAO_PTX_OP_MAD24: {
    int64_t x = sg ? sext(a, 24) : (int64_t)(a & 0xffffff),
            y = sg ? sext(b, 24) : (int64_t)(b & 0xffffff);
    int64_t p = x * y;
    r = I->part == QIAO_PTX_PART_HI ? (uint64_t)(p >> 16) : (uint64_t)p;
    if (I->op == QIAO_PTX_OP_MAD24) r += cv;
    break;
  }
  case QIAO_PTX_OP_SAD:
    r = (sg ? (uint64_t)(sa > sb ? sa - sb : sb - sa) : (ua > ub ? ua - ub : ub - ua)) + cv;
    break;
  case QIAO_PTX_OP_DIV:
    if (ub == 0)
      r = sg ? (uint64_t)-1 : M;
    else if (sg)
      r = (sa == INT64_MIN >> (64 - W) && sb == -1) ? (uint64_t)sa : (uint64_t)(sa / sb);
    else
      r = ua / ub;
    break;
  case QIAO_PTX_OP_REM:
    if (ub == 0)
      r = a;
    else if (sg)
      r = (sb == -1) ? 0 : (uint64_t)(sa % sb);
    else
      r = ua % ub;
    break;
  case QIAO_PTX_OP_MIN:
    r = sg ? (uint64_t)(sa < sb ? sa : sb) : (ua < ub ? ua : ub);
    if ((fl & QIAO_PTX_F_RELU) && sext(r, W) < 0) r = 0;
    break;
  case QIAO_PTX_OP_MAX:
    r = sg ? (uint64_t)(sa > sb ? sa : sb) : (ua > ub ? ua : ub);
    if ((fl & QIAO_PTX_F_RELU) && sext(r, W) < 0) r = 0;
    break;
  case QIAO_PTX_OP_ABS: r = (uint64_t)(sa < 0 ? -sa : sa); break;
  case QIAO_PTX_OP_NEG: r = (uint64_t)(-sa); break;
  case QIAO_PTX_OP_AND: r = a & b; break;
  case QIAO_PTX_OP_OR: r = a | b; break;
  case QIAO_PTX_OP_XOR: r = a ^ b; break;
  case QIAO_PTX_OP_NOT: r = ~a; break;
  case QIAO_PTX_OP_CNOT: r = ua == 0; break;
  case QIAO_PTX_OP_SHL: r = (b & 0xffffffffu) >= W ? 0 : a << (b & 0xffffffffu); break;
  case QIAO_PTX_OP_SHR: {
    uint32_t n = (uint32_t)b;
    if (sg)
      r = (uint64_t)(n >= W ? (sa < 0 ? -1 : 0) : sa >> n);
    else
      r = n >= W ? 0 : ua >> n;
    break;
  }
  case QIAO_PTX_OP_SHF: {
    uint32_t n = (uint32_t)cv;
    n = (fl & QIAO_PTX_F_CLAMP) ? (n > 32 ? 32 : n) : (n & 31);
    uint64_t v = ((b & 0xffffffffu) << 32) | (a & 0xffffffffu);
    r = (fl & QIAO_PTX_F_L) ? (v << n) >> 32 : v >> n;
    break;
  }
  case QIAO_PTX_OP_POPC: wr(R, &o[0], l, (uint64_t)__builtin_popcountll(ua)); return true;
  case QIAO_PTX_OP_CLZ:
    wr(R, &o[0], l, ua ? (uint64_t)(__builtin_clzll(ua) - (64 - (int)W)) : W);
    return true;
  case QIAO_PTX_OP_BREV: {
    uint64_t x = 0;
    for (uint32_t i = 0; i < W; ++i)
      if (ua >> i & 1) x |= 1ull << (W - 1 - i);
    r = x;
    break;
  }
  case QIAO_PTX_OP_BFIND: {
    uint64_t x = sg && sa < 0 ? ~ua & M : ua;
    uint64_t pos = x ? (uint64_t)(63 - __builtin_clzll(x)) : 0xffffffffu;
    if (x && (fl & QIAO_PTX_F_SHIFTAMT)) pos = W - 1 - pos;
    wr(R, &o[0], l, pos);
    return true;
  }
  case QIAO_PTX_OP_BFE: {
    uint32_t pos = (uint32_t)b & 0xff, len = (uint32_t)cv & 0xff;
    uint32_t msb = W - 1;
    uint64_t sbit = 0;
    if (sg && len > 0) {
      uint32_t top = pos + len - 1 > msb ? msb : pos + len - 1;
      sbit = (ua >> top) & 1;
    }
    uint64_t x = 0;
    for (uint32_t i = 0; i <= msb; ++i) {
      uint64_t bit = (i < len && pos + i <= msb) ? (ua >> (pos + i)) & 1 : sbit;
      x |= bit << i;
    }
    r = x;
    break;
  }
  case QIAO_PTX_OP_BFI: {
    uint64_t f = a, base = b;
    uint32_t pos = (uint32_t)cv & 0xff, len = (uint32_t)rd(c, w, R, &o[4], l) & 0xff;
    uint64_t x = base & M;
    for (uint32_t i = 0; i < len && pos + i < W; ++i) {
      x &= ~(1ull << (pos + i));
      x |= ((f >> i) & 1) << (pos + i);
    }
    r = x;
    break;
  }
  case QIAO_PTX_OP_PRMT: r = prmt((uint32_t)a, (uint32_t)b, (uint32_t)cv, I->sub); break;
  case QIAO_PTX_OP_LOP3: {
    uint32_t lut = (uint32_t)rd(c, w, R, &o[4], l) & 0xff;
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i)
      if (lut >> i & 1) x |= ((i & 4) ? a : ~a) & ((i & 2) ? b : ~b) & ((i & 1) ? cv : ~cv);
    r = x;
    break;
  }
  case QIAO_PTX_OP_DP4A:
  case QIAO_PTX_OP_DP2A: {
    bool sa_ = tsigned(I->t), sb_ = tsigned(I->t2);
    int64_t acc = sext(cv, 32);
    if (I->op == QIAO_PTX_OP_DP4A) {
      for (int i = 0; i < 4; ++i) {
        int64_t x = sa_ ? sext(a >> (8 * i), 8) : (int64_t)((a >> (8 * i)) & 0xff);
        int64_t y = sb_ ? sext(b >> (8 * i), 8) : (int64_t)((b >> (8 * i)) & 0xff);
        acc += x * y;
      }
    } else {
      bool hi = I->part == QIAO_PTX_PART_HI;
      for (int i = 0; i < 2; ++i) {
        int64_t x = sa_ ? sext(a >> (16 * i), 16) : (int64_t)((a >> (16 * i)) & 0xffff);
        int64_t y = sb_ ? sext(b >> (8 * (i + (hi ? 2 : 0))), 8)
                        : (int64_t)((b >> (8 * (i + (hi ? 2 : 0)))) & 0xff);
        acc += x * y;
      }
    }
    wr(R, &o[0], l, (uint64_t)acc & 0xffffffffu);
    return true;
  }
  default: UNSUP_TYPE();
  }
  wr(R, &o[0], l, r & M);
  return true;
}

/* ------------------------------------------------------------ memory instructions */

static inline uint64_t addr_of(const cta_t *c, const warp_t *w, const uint64_t *R, const sop_t *o,
                               int l) {
  uint64_t a = o->v;
  if (o->r >= 0) a += REG(o, l);
  return a;
}

static int effective_space(const sinst_t *I, uint64_t a) {
  if (I->space != SP_GENERIC) return I->space;
  switch (a & SIMT_WIN_MASK) {
  case SIMT_WIN_SHARED: return SP_SHARED;
  case SIMT_WIN_LOCAL: return SP_LOCAL;
  case SIMT_WIN_CONST: return SP_CONST;
  case SIMT_WIN_PARAM: return SP_KPARAM;
  default: return SP_GLOBAL;
  }
}

static bool ldst(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, uint32_t mask) {
  bool st = I->op == QIAO_PTX_OP_ST;
  const sop_t *ao = &I->o[st ? 0 : 1], *vo = &I->o[st ? 1 : 0];
  int t = I->t;
  uint32_t es = tbits(t) / 8;
  if (t == QIAO_PTX_T_PRED || es == 0 || es > 8) {
    fail(c, w, __builtin_ctz(mask), I, "unsupported type .%s for %s",
         qiao_ptx_type_name((qiao_ptx_type_t)t), I->name);
    return false;
  }
  uint32_t n = I->vec ? I->vec : 1, total = es * n;
  uint64_t addrs[32];
  uint32_t shared = 0;
  for (uint32_t m = mask; m; m &= m - 1) {
    int l = __builtin_ctz(m);
    uint64_t a = addr_of(c, w, R, ao, l);
    int sp = effective_space(I, a);
    uint8_t *p = mem(c, w, l, I, I->space, a, total, total > 16 ? 16 : total, st);
    if (!p) return false;
    if (sp == SP_SHARED) {
      shared |= 1u << l;
      addrs[l] = (uint64_t)(p - c->shared);
    }
    for (uint32_t i = 0; i < n; ++i) {
      const sop_t *e = vo->k == K_VEC ? &c->P->vops[vo->r + (int32_t)i] : vo;
      if (st) {
        stn(p + i * es, es, rd(c, w, R, e, l));
      } else {
        uint64_t v = ldn(p + i * es, es);
        if (tsigned(t)) v = (uint64_t)sext(v, es * 8);
        wr(R, e, l, v);
      }
    }
  }
  if (shared) bank_stats(c, addrs, shared, total);
  return true;
}

static bool atomic_lane(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l) {
  bool red = I->op == QIAO_PTX_OP_RED;
  const sop_t *ao = &I->o[red ? 0 : 1];
  const sop_t *bo = &I->o[red ? 1 : 2];
  int t = I->t;
  uint32_t es = tbits(t) / 8;
  if (I->vec) {
    fail(c, w, l, I, "vector atomics are not supported");
    return false;
  }
  if (es != 4 && es != 8 && !(es == 2 && I->opmod == QIAO_PTX_OPM_CAS)) {
    if (!(es == 2 && (t == QIAO_PTX_T_F16 || t == QIAO_PTX_T_BF16))) {
      fail(c, w, l, I, "unsupported type .%s for %s", qiao_ptx_type_name((qiao_ptx_type_t)t),
           I->name);
      return false;
    }
  }
  uint64_t a = addr_of(c, w, R, ao, l);
  uint8_t *p = mem(c, w, l, I, I->space, a, es, es, true);
  if (!p) return false;
  uint64_t b = rd(c, w, R, bo, l), old = 0;
  int op = I->opmod;
  if (es == 4) {
    uint32_t *q = (uint32_t *)p, bv = (uint32_t)b;
    switch (op) {
    case QIAO_PTX_OPM_ADD:
      if (t == QIAO_PTX_T_F32) {
        uint32_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
        do {
          nv = (uint32_t)fb(asf(cur) + asf(bv));
        } while (
            !__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
        old = cur;
      } else if (t == QIAO_PTX_T_F16X2 || t == QIAO_PTX_T_BF16X2) {
        uint32_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
        do {
          nv = (uint32_t)half_op(t, QIAO_PTX_OP_ADD, cur, bv, 0, I);
        } while (
            !__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
        old = cur;
      } else {
        old = __atomic_fetch_add(q, bv, __ATOMIC_ACQ_REL);
      }
      break;
    case QIAO_PTX_OPM_AND: old = __atomic_fetch_and(q, bv, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_OR: old = __atomic_fetch_or(q, bv, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_XOR: old = __atomic_fetch_xor(q, bv, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_EXCH: old = __atomic_exchange_n(q, bv, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_CAS: {
      uint32_t cmp = bv, nv = (uint32_t)rd(c, w, R, &I->o[3], l);
      __atomic_compare_exchange_n(q, &cmp, nv, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
      old = cmp;
      break;
    }
    case QIAO_PTX_OPM_MIN:
    case QIAO_PTX_OPM_MAX:
    case QIAO_PTX_OPM_INC:
    case QIAO_PTX_OPM_DEC: {
      uint32_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
      do {
        if (op == QIAO_PTX_OPM_INC)
          nv = cur >= bv ? 0 : cur + 1;
        else if (op == QIAO_PTX_OPM_DEC)
          nv = (cur == 0 || cur > bv) ? bv : cur - 1;
        else if (t == QIAO_PTX_T_F32) {
          bool isn;
          double m = fminmax(asf(cur), asf(bv), op == QIAO_PTX_OPM_MAX, false, &isn);
          nv = isn ? CANON_NAN32 : (uint32_t)fb((float)m);
        } else if (tsigned(t)) {
          int32_t x = (int32_t)cur, y = (int32_t)bv;
          nv = (uint32_t)(op == QIAO_PTX_OPM_MIN ? (x < y ? x : y) : (x > y ? x : y));
        } else {
          nv = op == QIAO_PTX_OPM_MIN ? (cur < bv ? cur : bv) : (cur > bv ? cur : bv);
        }
      } while (!__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
      old = cur;
      break;
    }
    default: fail(c, w, l, I, "unsupported atomic operation"); return false;
    }
  } else if (es == 8) {
    uint64_t *q = (uint64_t *)p;
    switch (op) {
    case QIAO_PTX_OPM_ADD:
      if (t == QIAO_PTX_T_F64) {
        uint64_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
        do {
          nv = db(asd(cur) + asd(b));
        } while (
            !__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
        old = cur;
      } else {
        old = __atomic_fetch_add(q, b, __ATOMIC_ACQ_REL);
      }
      break;
    case QIAO_PTX_OPM_AND: old = __atomic_fetch_and(q, b, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_OR: old = __atomic_fetch_or(q, b, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_XOR: old = __atomic_fetch_xor(q, b, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_EXCH: old = __atomic_exchange_n(q, b, __ATOMIC_ACQ_REL); break;
    case QIAO_PTX_OPM_CAS: {
      uint64_t cmp = b, nv = rd(c, w, R, &I->o[3], l);
      __atomic_compare_exchange_n(q, &cmp, nv, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
      old = cmp;
      break;
    }
    case QIAO_PTX_OPM_MIN:
    case QIAO_PTX_OPM_MAX: {
      uint64_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
      do {
        if (tsigned(t)) {
          int64_t x = (int64_t)cur, y = (int64_t)b;
          nv = (uint64_t)(op == QIAO_PTX_OPM_MIN ? (x < y ? x : y) : (x > y ? x : y));
        } else {
          nv = op == QIAO_PTX_OPM_MIN ? (cur < b ? cur : b) : (cur > b ? cur : b);
        }
      } while (!__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
      old = cur;
      break;
    }
    default: fail(c, w, l, I, "unsupported atomic operation"); return false;
    }
  } else {
    uint16_t *q = (uint16_t *)p;
    if (op == QIAO_PTX_OPM_CAS) {
      uint16_t cmp = (uint16_t)b, nv = (uint16_t)rd(c, w, R, &I->o[3], l);
      __atomic_compare_exchange_n(q, &cmp, nv, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
      old = cmp;
    } else if (op == QIAO_PTX_OPM_ADD) {
      uint16_t cur = __atomic_load_n(q, __ATOMIC_RELAXED), nv;
      do {
        nv = (uint16_t)half_op(t, QIAO_PTX_OP_ADD, cur, b, 0, I);
      } while (!__atomic_compare_exchange_n(q, &cur, nv, true, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
      old = cur;
    } else {
      fail(c, w, l, I, "unsupported 16-bit atomic operation");
      return false;
    }
  }
  if (!red) wr(R, &I->o[0], l, old);
  return true;
}

static bool cp_async(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l) {
  uint64_t da = addr_of(c, w, R, &I->o[0], l), sa = addr_of(c, w, R, &I->o[1], l);
  uint32_t n = (uint32_t)rd(c, w, R, &I->o[2], l);
  uint32_t srcn = n;
  if (I->nops > 3 && I->o[3].k != K_SINK) srcn = (uint32_t)rd(c, w, R, &I->o[3], l);
  if (n != 4 && n != 8 && n != 16) {
    fail(c, w, l, I, "cp.async size %u (must be 4, 8 or 16)", n);
    return false;
  }
  uint8_t *d = mem(c, w, l, I, SP_SHARED, da, n, n, true);
  if (!d) return false;
  if (srcn > n) srcn = n;
  uint8_t buf[16] = {0};
  if (srcn) {
    uint8_t *s = mem(c, w, l, I, SP_GLOBAL, sa, srcn, n, false);
    if (!s) return false;
    memcpy(buf, s, srcn);
  }
  memcpy(d, buf, n);
  return true;
}

/* ------------------------------------------------------------ warp collectives */

/* mma.sync.aligned with the fragment layouts of the PTX ISA ("Matrix Fragments for mma.m8n8k16 /
 * mma.m16n8k4 / m16n8k8 / m16n8k16 / m16n8k32"); groupID g = lane >> 2, threadID_in_group t =
 * lane % 4, element i of a thread's fragment (registers hold 2 halves, 1 tf32 or 4 bytes each):
 *  - f16/bf16 m16n8k{8,16}: A row g (+8 for i & 2), col 2t + (i & 1) (+8 for i >= 4);
 *    B row 2t + (i & 1) (+8 for i >= 2), col g;
 *  - tf32 m16n8k{4,8}: A row g (+8 for i & 1), col t (+4 for i >= 2); B row t (+4 for i = 1), col
 * g;
 *  - s8/u8 m16n8k{16,32}: A row g (+8 for i & 4), col 4t + (i & 3) (+16 for i >= 8);
 *    B row 4t + (i & 3) (+16 for i >= 4), col g;  m8n8k16: A row g, col 4t + i; B row 4t + i,
 *    col g;
 *  - C/D: row g (+8 for c2, c3), col 2t + (i & 1).
 * Float products accumulate exactly in double and round once to the D type; tf32 operands are
 * f32 bit patterns whose low 13 mantissa bits are ignored (truncated), as the hardware does.
 * Integer products accumulate exactly; the s32 result wraps mod 2^32, or with .satfinite clamps
 * to [INT32_MIN, INT32_MAX]. */
typedef enum { MMA_HALF, MMA_TF32, MMA_INT } mma_kind_t;

static bool mma_shape_ok(mma_kind_t kind, int M, int N, int K) {
  switch (kind) {
  case MMA_HALF: return M == 16 && N == 8 && (K == 8 || K == 16);
  case MMA_TF32: return M == 16 && N == 8 && (K == 4 || K == 8);
  case MMA_INT: return (M == 16 && N == 8 && (K == 16 || K == 32)) || (M == 8 && N == 8 && K == 16);
  }
  return false;
}

/* (row, col) of element i of lane (g, tq)'s A / B fragment. */
static void mma_a_pos(mma_kind_t kind, int g, int tq, int i, int *row, int *col) {
  switch (kind) {
  case MMA_HALF:
    *row = g + ((i & 2) ? 8 : 0);
    *col = tq * 2 + (i & 1) + (i >= 4 ? 8 : 0);
    return;
  case MMA_TF32:
    *row = g + ((i & 1) ? 8 : 0);
    *col = tq + (i >= 2 ? 4 : 0);
    return;
  case MMA_INT:
    *row = g + ((i & 4) ? 8 : 0);
    *col = tq * 4 + (i & 3) + (i >= 8 ? 16 : 0);
    return;
  }
}
static void mma_b_pos(mma_kind_t kind, int g, int tq, int i, int *row, int *col) {
  *col = g;
  switch (kind) {
  case MMA_HALF: *row = tq * 2 + (i & 1) + (i >= 2 ? 8 : 0); return;
  case MMA_TF32: *row = tq + (i >= 1 ? 4 : 0); return;
  case MMA_INT: *row = tq * 4 + (i & 3) + (i >= 4 ? 16 : 0); return;
  }
}

/* Element i of a fragment whose registers are `ops` (elements per register: 32 / bits). */
static uint32_t mma_elem(cta_t *c, warp_t *w, uint64_t *R, const sop_t *ops, int l, int i,
                         int bits) {
  int per = 32 / bits;
  uint32_t reg = (uint32_t)rd(c, w, R, &ops[i / per], l);
  return bits == 32 ? reg : (reg >> (bits * (i % per))) & ((1u << bits) - 1);
}

static bool mma_sync(cta_t *c, warp_t *w, const sinst_t *I, uint32_t mask) {
  const simt_program_t *P = c->P;
  int M = I->shape_m, N = I->shape_n, K = I->shape_k;
  int dt = I->t, at = I->t2, bt = I->t3, ct = I->ntypes_c;
  bool satf = I->sub == 's';
  mma_kind_t kind = MMA_HALF;
  bool tok;
  if (at == QIAO_PTX_T_F16 || at == QIAO_PTX_T_BF16) {
    kind = MMA_HALF;
    tok = bt == at && (dt == QIAO_PTX_T_F32 || dt == QIAO_PTX_T_F16) &&
          (ct == QIAO_PTX_T_F32 || ct == QIAO_PTX_T_F16) &&
          !(at == QIAO_PTX_T_BF16 && (dt != QIAO_PTX_T_F32 || ct != QIAO_PTX_T_F32)) && !satf;
  } else if (at == QIAO_PTX_T_TF32) {
    kind = MMA_TF32;
    tok = bt == at && dt == QIAO_PTX_T_F32 && ct == QIAO_PTX_T_F32 && !satf;
  } else {
    kind = MMA_INT;
    tok = (at == QIAO_PTX_T_S8 || at == QIAO_PTX_T_U8) &&
          (bt == QIAO_PTX_T_S8 || bt == QIAO_PTX_T_U8) && dt == QIAO_PTX_T_S32 &&
          ct == QIAO_PTX_T_S32;
  }
  if (!tok || !mma_shape_ok(kind, M, N, K) || I->layout0 != QIAO_PTX_LAYOUT_ROW ||
      I->layout1 != QIAO_PTX_LAYOUT_COL) {
    fail(c, w, __builtin_ctz(mask), I,
         "unsupported mma shape/type (supported: mma.sync.aligned.row.col "
         "m16n8k{8,16} f16/bf16 → f32 (f16 → f16), m16n8k{4,8} tf32 → f32, "
         "m16n8k{16,32} and m8n8k16 s8/u8 → s32 {.satfinite})");
    return false;
  }
  if (mask != 0xffffffffu) {
    fail(c, w, __builtin_ctz(mask), I, "mma.sync needs all 32 threads of the warp (mask 0x%08x)",
         mask);
    return false;
  }
  int ebits = kind == MMA_HALF ? 16 : kind == MMA_TF32 ? 32 : 8;
  int nae = M * K / 32, nbe = K * N / 32, nce = M * N / 32; /* elements per lane */
  int na = nae * ebits / 32, nb = nbe * ebits / 32;
  int nacc = dt == QIAO_PTX_T_F16 ? nce / 2 : nce, ncin = ct == QIAO_PTX_T_F16 ? nce / 2 : nce;
  if (I->o[0].n != nacc || I->o[1].n != na || I->o[2].n != nb || I->o[3].n != ncin) {
    fail(c, w, __builtin_ctz(mask), I, "mma operand vectors have the wrong sizes");
    return false;
  }
  int fmt = at == QIAO_PTX_T_BF16 ? FMT_BF16 : FMT_F16;
  uint64_t *R = w->frames[w->depth[__builtin_ctz(mask)]];
  double A[16][32], B[32][8], C[16][8];
  int64_t IA[16][32], IB[32][8], IC[16][8];
  const sop_t *od = &P->vops[I->o[0].r], *oa = &P->vops[I->o[1].r], *ob = &P->vops[I->o[2].r],
              *oc = &P->vops[I->o[3].r];
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, tq = l & 3, row, col;
    for (int i = 0; i < nae; ++i) {
      uint32_t e = mma_elem(c, w, R, oa, l, i, ebits);
      mma_a_pos(kind, g, tq, i, &row, &col);
      if (kind == MMA_INT)
        IA[row][col] = at == QIAO_PTX_T_S8 ? (int8_t)e : (int64_t)e;
      else
        A[row][col] = kind == MMA_TF32 ? asf(e & 0xffffe000u) : fp_decode(e, fmt);
    }
    for (int i = 0; i < nbe; ++i) {
      uint32_t e = mma_elem(c, w, R, ob, l, i, ebits);
      mma_b_pos(kind, g, tq, i, &row, &col);
      if (kind == MMA_INT)
        IB[row][col] = bt == QIAO_PTX_T_S8 ? (int8_t)e : (int64_t)e;
      else
        B[row][col] = kind == MMA_TF32 ? asf(e & 0xffffe000u) : fp_decode(e, fmt);
    }
    for (int i = 0; i < nce; ++i) {
      row = g + (i >= 2 ? 8 : 0);
      col = tq * 2 + (i & 1);
      if (kind == MMA_INT)
        IC[row][col] = (int32_t)rd(c, w, R, &oc[i], l);
      else if (ct == QIAO_PTX_T_F32)
        C[row][col] = asf(rd(c, w, R, &oc[i], l));
      else
        C[row][col] = fp_decode(mma_elem(c, w, R, oc, l, i, 16), FMT_F16);
    }
  }
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, tq = l & 3;
    uint64_t packed[2] = {0, 0};
    for (int i = 0; i < nce; ++i) {
      int row = g + (i >= 2 ? 8 : 0), col = tq * 2 + (i & 1);
      if (kind == MMA_INT) {
        int64_t s = IC[row][col];
        for (int k = 0; k < K; ++k)
          s += IA[row][k] * IB[k][col];
        if (satf) s = s < INT32_MIN ? INT32_MIN : s > INT32_MAX ? INT32_MAX : s;
        wr(R, &od[i], l, (uint64_t)(int64_t)(int32_t)(uint32_t)(uint64_t)s);
        continue;
      }
      double s = C[row][col];
      for (int k = 0; k < K; ++k)
        s += A[row][k] * B[k][col];
      if (dt == QIAO_PTX_T_F32)
        wr(R, &od[i], l, fb((float)s));
      else
        packed[i / 2] |= (uint64_t)fp_encode(s, FMT_F16, RM_RN, false) << (16 * (i & 1));
    }
    if (dt == QIAO_PTX_T_F16) {
      wr(R, &od[0], l, packed[0]);
      wr(R, &od[1], l, packed[1]);
    }
  }
  return true;
}

static bool ldmatrix(cta_t *c, warp_t *w, const sinst_t *I, uint32_t mask) {
  int nm = I->num ? I->num : 1;
  if (I->shape_m != 8 || I->shape_n != 8) {
    fail(c, w, __builtin_ctz(mask), I, "unsupported %s shape (supported: m8n8 .b16)", I->name);
    return false;
  }
  if (mask != 0xffffffffu) {
    fail(c, w, __builtin_ctz(mask), I, "%s needs all 32 threads of the warp (mask 0x%08x)", I->name,
         mask);
    return false;
  }
  uint64_t *R = w->frames[w->depth[0]];
  uint16_t Mx[4][8][8];
  bool tr = (I->flags & QIAO_PTX_F_TRANS) != 0;
  if (I->op == QIAO_PTX_OP_STMATRIX) { /* stmatrix [p], {regs}: the inverse of ldmatrix */
    const sop_t *os = I->o[1].k == K_VEC ? &c->P->vops[I->o[1].r] : &I->o[1];
    for (int l = 0; l < 32; ++l) {
      int g = l >> 2, tq = l & 3;
      for (int m = 0; m < nm; ++m) {
        uint32_t v = (uint32_t)rd(c, w, R, &os[m], l);
        if (tr) {
          Mx[m][2 * tq][g] = (uint16_t)v;
          Mx[m][2 * tq + 1][g] = (uint16_t)(v >> 16);
        } else {
          Mx[m][g][2 * tq] = (uint16_t)v;
          Mx[m][g][2 * tq + 1] = (uint16_t)(v >> 16);
        }
      }
    }
    for (int m = 0; m < nm; ++m)
      for (int r = 0; r < 8; ++r) {
        int l = m * 8 + r;
        uint64_t a = addr_of(c, w, R, &I->o[0], l);
        uint8_t *p = mem(c, w, l, I, I->space, a, 16, 16, true);
        if (!p) return false;
        memcpy(p, Mx[m][r], 16);
      }
    c->wavefronts += (uint64_t)nm;
    return true;
  }
  for (int m = 0; m < nm; ++m)
    for (int r = 0; r < 8; ++r) {
      int l = m * 8 + r;
      uint64_t a = addr_of(c, w, R, &I->o[1], l);
      uint8_t *p = mem(c, w, l, I, I->space, a, 16, 16, false);
      if (!p) return false;
      memcpy(Mx[m][r], p, 16);
    }
  const sop_t *od = I->o[0].k == K_VEC ? &c->P->vops[I->o[0].r] : &I->o[0];
  for (int l = 0; l < 32; ++l) {
    int g = l >> 2, tq = l & 3;
    for (int m = 0; m < nm; ++m) {
      uint32_t lo = tr ? Mx[m][2 * tq][g] : Mx[m][g][2 * tq];
      uint32_t hi = tr ? Mx[m][2 * tq + 1][g] : Mx[m][g][2 * tq + 1];
      wr(R, &od[m], l, lo | (hi << 16));
    }
  }
  c->wavefronts += (uint64_t)nm;
  return true;
}

/* wmma (the WMMA API's PTX): the fragment layout is opaque in PTX (the ISA leaves it
 * unspecified), so ours is: lane l holds elements l*E .. l*E+E-1 of the row-major tile, E =
 * elements / 32 (a: m x k, b: k x n, c/d: m x n), packed into the fragment's registers from
 * register 0 (2 halves, 1 tf32 or 4 bytes per register); registers past them are zero.
 * Shapes m16n16k16, m32n8k16, m8n32k16 with f16/bf16 or s8/u8 inputs and m16n16k8 with tf32;
 * f32 accumulators for float inputs, s32 (wrapping, or clamped with .satfinite) for integer.
 * tf32 elements are f32 patterns whose low 13 mantissa bits are ignored, as in mma.sync. */
static int wmma_ebits(int t) {
  switch (t) {
  case QIAO_PTX_T_TF32:
  case QIAO_PTX_T_F32:
  case QIAO_PTX_T_S32: return 32;
  case QIAO_PTX_T_S8:
  case QIAO_PTX_T_U8: return 8;
  default: return 16;
  }
}

static double wmma_fval(int t, uint32_t e) {
  switch (t) {
  case QIAO_PTX_T_TF32: return asf(e & 0xffffe000u);
  case QIAO_PTX_T_BF16: return fp_decode(e, FMT_BF16);
  case QIAO_PTX_T_S8: return (int8_t)e;
  case QIAO_PTX_T_U8: return (uint8_t)e;
  default: return fp_decode(e, FMT_F16);
  }
}

static bool wmma(cta_t *c, warp_t *w, const sinst_t *I, uint32_t mask) {
  int l0 = __builtin_ctz(mask);
  int M = I->shape_m, N = I->shape_n, K = I->shape_k;
  bool shape_ok = (M == 16 && N == 16 && (K == 16 || K == 8)) || (M == 32 && N == 8 && K == 16) ||
                  (M == 8 && N == 32 && K == 16);
  if (!shape_ok) {
    fail(c, w, l0, I,
         "unsupported wmma shape (supported: m16n16k16, m32n8k16, m8n32k16, "
         "m16n16k8 .tf32)");
    return false;
  }
  if (mask != 0xffffffffu) {
    fail(c, w, l0, I, "wmma needs all 32 threads of the warp (mask 0x%08x)", mask);
    return false;
  }
  uint64_t *R = w->frames[w->depth[l0]];
  const simt_program_t *P = c->P;
  if (I->op == QIAO_PTX_OP_WMMA_MMA) {
    /* wmma.mma.sync.aligned.alayout.blayout.shape{.dtype.ctype | .dtype.atype.btype.ctype} */
    bool four = I->ntypes_c != 0;
    int at = four ? I->t2 : QIAO_PTX_T_F16, bt = four ? I->t3 : QIAO_PTX_T_F16;
    int dt = I->t, ct = four ? I->ntypes_c : I->t2;
    bool isint = at == QIAO_PTX_T_S8 || at == QIAO_PTX_T_U8;
    bool types_ok =
        isint ? (bt == QIAO_PTX_T_S8 || bt == QIAO_PTX_T_U8) && dt == QIAO_PTX_T_S32 &&
                    ct == QIAO_PTX_T_S32
              : (at == bt && dt == QIAO_PTX_T_F32 && ct == QIAO_PTX_T_F32 &&
                 (at == QIAO_PTX_T_F16 || at == QIAO_PTX_T_BF16 || at == QIAO_PTX_T_TF32));
    if (!types_ok || ((K == 8) != (at == QIAO_PTX_T_TF32))) {
      fail(c, w, l0, I,
           "unsupported wmma.mma types (supported: f16/bf16 → f32, tf32 → f32 (m16n16k8), "
           "s8/u8 → s32)");
      return false;
    }
    int ea = M * K / 32, eb = K * N / 32, ec = M * N / 32, ab = wmma_ebits(at);
    if (I->o[1].n * 32 / ab < ea || I->o[2].n * 32 / ab < eb || I->o[0].n < ec || I->o[3].n < ec) {
      fail(c, w, l0, I, "wmma.mma operand vectors have the wrong sizes");
      return false;
    }
    const sop_t *od = &P->vops[I->o[0].r], *oa = &P->vops[I->o[1].r], *ob = &P->vops[I->o[2].r],
                *oc = &P->vops[I->o[3].r];
    double A[512], B[512], C[256];
    for (int l = 0; l < 32; ++l) {
      for (int i = 0; i < ea; ++i)
        A[l * ea + i] = wmma_fval(at, mma_elem(c, w, R, oa, l, i, ab));
      for (int i = 0; i < eb; ++i)
        B[l * eb + i] = wmma_fval(bt, mma_elem(c, w, R, ob, l, i, ab));
      for (int i = 0; i < ec; ++i) {
        uint64_t v = rd(c, w, R, &oc[i], l);
        C[l * ec + i] = isint ? (double)(int32_t)(uint32_t)v : asf(v);
      }
    }
    bool satf = I->sub == 's';
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < ec; ++i) {
        int e = l * ec + i, r = e / N, col = e % N;
        if (isint) { /* exact: |sum| < 2^53 */
          int64_t s = (int64_t)C[e];
          for (int k = 0; k < K; ++k)
            s += (int64_t)A[r * K + k] * (int64_t)B[k * N + col];
          if (satf) s = s < INT32_MIN ? INT32_MIN : s > INT32_MAX ? INT32_MAX : s;
          wr(R, &od[i], l, (uint64_t)(int64_t)(int32_t)(uint32_t)(uint64_t)s);
        } else {
          double s = C[e];
          for (int k = 0; k < K; ++k)
            s += A[r * K + k] * B[k * N + col];
          wr(R, &od[i], l, fb((float)s));
        }
      }
    return true;
  }
  /* load / store: {regs}, [addr], stride  (or [addr], {regs}, stride) */
  bool store = I->op == QIAO_PTX_OP_WMMA_STORE;
  const sop_t *ov = &P->vops[I->o[store ? 1 : 0].r];
  const sop_t *oaddr = &I->o[store ? 0 : 1];
  int nv = I->o[store ? 1 : 0].n;
  bool row = I->layout0 == QIAO_PTX_LAYOUT_ROW;
  int mat = I->sub;
  bool is_acc = mat == 'c' || mat == 'd';
  int t = is_acc ? (I->t ? I->t : QIAO_PTX_T_F32) : (I->t ? I->t : QIAO_PTX_T_F16);
  if (is_acc ? (t != QIAO_PTX_T_F32 && t != QIAO_PTX_T_S32)
             : (t != QIAO_PTX_T_F16 && t != QIAO_PTX_T_BF16 && t != QIAO_PTX_T_TF32 &&
                t != QIAO_PTX_T_S8 && t != QIAO_PTX_T_U8)) {
    fail(c, w, l0, I,
         "unsupported wmma fragment type .%s (supported: f16/bf16/tf32/s8/u8 inputs, f32/s32 "
         "accumulators)",
         qiao_ptx_type_name((qiao_ptx_type_t)t));
    return false;
  }
  int rows = mat == 'a' ? M : mat == 'b' ? K : M, cols = mat == 'a' ? K : N;
  int per = rows * cols / 32, eb = wmma_ebits(t), ebytes = eb / 8, per_reg = 32 / eb;
  if (nv * per_reg < per) {
    fail(c, w, l0, I, "wmma fragment vector too small (%d registers for %d elements)", nv, per);
    return false;
  }
  for (int l = 0; l < 32; ++l) {
    uint64_t base = addr_of(c, w, R, oaddr, l);
    uint64_t ld = I->nops > 2 ? rd(c, w, R, &I->o[2], l) & 0xffffffffu : (uint64_t)cols;
    uint64_t regs[8] = {0};
    for (int i = 0; i < per; ++i) {
      int e = l * per + i, r = e / cols, col = e % cols; /* logical (row, col) */
      uint64_t off = row ? (uint64_t)r * ld + (uint64_t)col : (uint64_t)col * ld + (uint64_t)r;
      uint8_t *p = mem(c, w, l, I, I->space, base + off * (uint64_t)ebytes, (uint64_t)ebytes,
                       (uint64_t)ebytes, store);
      if (!p) return false;
      int ri = i / per_reg, sh = eb * (i % per_reg);
      if (store) {
        stn(p, ebytes, (rd(c, w, R, &ov[ri], l) >> sh) & mask_w((uint32_t)eb));
      } else {
        regs[ri] |= (ldn(p, ebytes) & mask_w((uint32_t)eb)) << sh;
      }
    }
    if (!store)
      for (int i = 0; i < nv && i < 8; ++i)
        wr(R, &ov[i], l, regs[i]);
  }
  return true;
}

/* Executes a warp collective for `mask` (all members present). */
static bool collective(cta_t *c, warp_t *w, const sinst_t *I, uint32_t mask) {
  int l0 = __builtin_ctz(mask);
  uint64_t *R = w->frames[w->depth[l0]];
  const sop_t *o = I->o;
  switch (I->op) {
  case QIAO_PTX_OP_SHFL: {
    uint64_t src[32];
    for (int l = 0; l < 32; ++l)
      src[l] = (w->exist >> l & 1) ? rd(c, w, R, &o[1], l) : 0;
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      uint32_t bval = (uint32_t)rd(c, w, R, &o[2], l) & 31, cw = (uint32_t)rd(c, w, R, &o[3], l);
      uint32_t cval = cw & 31, seg = (cw >> 8) & 31;
      uint32_t maxl = ((uint32_t)l & seg) | (cval & ~seg), minl = (uint32_t)l & seg;
      int j = l;
      bool pv = false;
      switch (I->opmod) {
      case QIAO_PTX_OPM_UP:
        j = l - (int)bval;
        pv = j >= (int)maxl;
        break;
      case QIAO_PTX_OPM_DOWN:
        j = l + (int)bval;
        pv = j <= (int)maxl;
        break;
      case QIAO_PTX_OPM_BFLY:
        j = l ^ (int)bval;
        pv = j <= (int)maxl;
        break;
      case QIAO_PTX_OPM_IDX:
        j = (int)(minl | (bval & ~seg));
        pv = j <= (int)maxl;
        break;
      default: fail(c, w, l, I, "unsupported shfl mode"); return false;
      }
      if (!pv) j = l;
      uint64_t v = src[j & 31];
      if (o[0].k == K_VEC) {
        wr(R, &c->P->vops[o[0].r], l, v);
        wr(R, &c->P->vops[o[0].r + 1], l, pv);
      } else {
        wr(R, &o[0], l, v);
      }
    }
    return true;
  }
  case QIAO_PTX_OP_VOTE: {
    uint32_t ballot = 0;
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      if (rdp(c, w, R, &o[1], l)) ballot |= 1u << l;
    }
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      uint64_t r;
      switch (I->opmod) {
      case QIAO_PTX_OPM_ALL: r = ballot == mask; break;
      case QIAO_PTX_OPM_ANY: r = ballot != 0; break;
      case QIAO_PTX_OPM_UNI: r = ballot == 0 || ballot == mask; break;
      case QIAO_PTX_OPM_BALLOT: r = ballot; break;
      default: fail(c, w, l, I, "unsupported vote mode"); return false;
      }
      wr(R, &o[0], l, r);
    }
    return true;
  }
  case QIAO_PTX_OP_REDUX: {
    int t = I->t;
    uint64_t acc = 0;
    bool first = true;
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      uint32_t v = (uint32_t)rd(c, w, R, &o[1], l);
      if (first) {
        acc = v;
        first = false;
        continue;
      }
      switch (I->opmod) {
      case QIAO_PTX_OPM_ADD: acc = (uint32_t)(acc + v); break;
      case QIAO_PTX_OPM_AND: acc &= v; break;
      case QIAO_PTX_OPM_OR: acc |= v; break;
      case QIAO_PTX_OPM_XOR: acc ^= v; break;
      case QIAO_PTX_OPM_MIN:
        acc = tsigned(t) ? (uint32_t)((int32_t)acc < (int32_t)v ? (int32_t)acc : (int32_t)v)
                         : (acc < v ? acc : v);
        break;
      case QIAO_PTX_OPM_MAX:
        acc = tsigned(t) ? (uint32_t)((int32_t)acc > (int32_t)v ? (int32_t)acc : (int32_t)v)
                         : (acc > v ? acc : v);
        break;
      default: fail(c, w, l, I, "unsupported redux operation"); return false;
      }
    }
    for (uint32_t m = mask; m; m &= m - 1)
      wr(R, &o[0], __builtin_ctz(m), acc);
    return true;
  }
  case QIAO_PTX_OP_MATCH: {
    uint64_t v[32];
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      v[l] = rd(c, w, R, &o[1], l) & mask_w(tbits(I->t));
    }
    bool all = I->opmod == QIAO_PTX_OPM_ALL;
    bool alleq = true;
    for (uint32_t m = mask; m; m &= m - 1)
      if (v[__builtin_ctz(m)] != v[l0]) alleq = false;
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      uint32_t r = 0;
      if (all)
        r = alleq ? mask : 0;
      else
        for (uint32_t k = mask; k; k &= k - 1)
          if (v[__builtin_ctz(k)] == v[l]) r |= 1u << __builtin_ctz(k);
      if (o[0].k == K_VEC) {
        wr(R, &c->P->vops[o[0].r], l, r);
        wr(R, &c->P->vops[o[0].r + 1], l, alleq);
      } else {
        wr(R, &o[0], l, r);
      }
    }
    return true;
  }
  case QIAO_PTX_OP_ELECT: {
    int leader = l0;
    for (uint32_t m = mask; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      if (o[0].k == K_VEC) {
        wr(R, &c->P->vops[o[0].r], l, (uint64_t)leader);
        wr(R, &c->P->vops[o[0].r + 1], l, l == leader);
      } else {
        wr(R, &o[0], l, l == leader);
      }
    }
    return true;
  }
  case QIAO_PTX_OP_BAR: return true; /* bar.warp.sync */
  case QIAO_PTX_OP_MMA: return mma_sync(c, w, I, mask);
  case QIAO_PTX_OP_LDMATRIX:
  case QIAO_PTX_OP_STMATRIX: return ldmatrix(c, w, I, mask);
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE:
  case QIAO_PTX_OP_WMMA_MMA: return wmma(c, w, I, mask);
  default: fail(c, w, l0, I, "internal: not a collective"); return false;
  }
}

/* The member-mask operand of a warp collective (or the whole warp). */
static int member_operand(const sinst_t *I) {
  switch (I->op) {
  case QIAO_PTX_OP_SHFL: return 4;
  case QIAO_PTX_OP_VOTE: return 2;
  case QIAO_PTX_OP_REDUX: return 2;
  case QIAO_PTX_OP_MATCH: return 2;
  case QIAO_PTX_OP_ELECT: return 1;
  case QIAO_PTX_OP_BAR: return 0; /* bar.warp.sync membermask */
  default: return -1;
  }
}

static bool is_collective(const sinst_t *I) {
  switch (I->op) {
  case QIAO_PTX_OP_SHFL:
  case QIAO_PTX_OP_VOTE:
  case QIAO_PTX_OP_REDUX:
  case QIAO_PTX_OP_MATCH:
  case QIAO_PTX_OP_ELECT:
  case QIAO_PTX_OP_MMA:
  case QIAO_PTX_OP_LDMATRIX:
  case QIAO_PTX_OP_STMATRIX:
  case QIAO_PTX_OP_WMMA_LOAD:
  case QIAO_PTX_OP_WMMA_STORE:
  case QIAO_PTX_OP_WMMA_MMA: return true;
  case QIAO_PTX_OP_BAR: return I->sub == 'w';
  default: return false;
  }
}

/* ------------------------------------------------------------ fast paths */

#define FAST_LOOP(expr)                                                                            \
  for (uint32_t m = em; m; m &= m - 1) {                                                           \
    int l = __builtin_ctz(m);                                                                      \
    uint64_t A = rd(c, w, R, &o[1], l);                                                            \
    uint64_t B = I->nops > 2 ? rd(c, w, R, &o[2], l) : 0;                                          \
    (void)B;                                                                                       \
    R[(size_t)o[0].r * 32 + (size_t)l] = (expr);                                                   \
  }
#define FAST_LOOP3(expr)                                                                           \
  for (uint32_t m = em; m; m &= m - 1) {                                                           \
    int l = __builtin_ctz(m);                                                                      \
    uint64_t A = rd(c, w, R, &o[1], l), B = rd(c, w, R, &o[2], l), C3 = rd(c, w, R, &o[3], l);     \
    R[(size_t)o[0].r * 32 + (size_t)l] = (expr);                                                   \
  }

static bool icmp_fast(int cmp, int64_t a, int64_t b) {
  switch (cmp) {
  case QIAO_PTX_CMP_EQ: return a == b;
  case QIAO_PTX_CMP_NE: return a != b;
  case QIAO_PTX_CMP_LT: return a < b;
  case QIAO_PTX_CMP_LE: return a <= b;
  case QIAO_PTX_CMP_GT: return a > b;
  default: return a >= b;
  }
}
static bool fcmp_fast(int cmp, float a, float b) { /* ordered compares: NaN gives false */
  switch (cmp) {
  case QIAO_PTX_CMP_EQ: return a == b;
  case QIAO_PTX_CMP_NE: return a == a && b == b && a != b;
  case QIAO_PTX_CMP_LT: return a < b;
  case QIAO_PTX_CMP_LE: return a <= b;
  case QIAO_PTX_CMP_GT: return a > b;
  default: return a >= b;
  }
}

static inline uint64_t fcanon(float f) { return f != f ? CANON_NAN32 : fb(f); }

static void fast(const cta_t *c, const warp_t *w, const sinst_t *I, uint64_t *R, uint32_t em) {
  const sop_t *o = I->o;
  switch (I->fast) {
  case FAST_MOV: FAST_LOOP(A); break;
  case FAST_ADD32: FAST_LOOP((uint32_t)(A + B)); break;
  case FAST_SUB32: FAST_LOOP((uint32_t)(A - B)); break;
  case FAST_MUL32: FAST_LOOP((uint32_t)(A * B)); break;
  case FAST_MAD32: FAST_LOOP3((uint32_t)(A * B + C3)); break;
  case FAST_AND32: FAST_LOOP((uint32_t)(A & B)); break;
  case FAST_OR32: FAST_LOOP((uint32_t)(A | B)); break;
  case FAST_XOR32: FAST_LOOP((uint32_t)(A ^ B)); break;
  case FAST_SHL32: FAST_LOOP((uint32_t)B >= 32 ? 0 : (uint32_t)(A << (uint32_t)B)); break;
  case FAST_SHRU32: FAST_LOOP((uint32_t)B >= 32 ? 0 : (uint32_t)A >> (uint32_t)B); break;
  case FAST_SHRS32:
    FAST_LOOP((uint32_t)((int32_t)A >> ((uint32_t)B >= 32 ? 31 : (uint32_t)B)));
    break;
  case FAST_ADD64: FAST_LOOP(A + B); break;
  case FAST_SUB64: FAST_LOOP(A - B); break;
  case FAST_SHL64: FAST_LOOP((uint32_t)B >= 64 ? 0 : A << (uint32_t)B); break;
  case FAST_AND64: FAST_LOOP(A & B); break;
  case FAST_MULWIDE_S32: FAST_LOOP((uint64_t)((int64_t)(int32_t)A * (int64_t)(int32_t)B)); break;
  case FAST_MULWIDE_U32: FAST_LOOP((uint64_t)(uint32_t)A * (uint32_t)B); break;
  case FAST_FADD: FAST_LOOP(fcanon(asf(A) + asf(B))); break;
  case FAST_FSUB: FAST_LOOP(fcanon(asf(A) - asf(B))); break;
  case FAST_FMUL: FAST_LOOP(fcanon(asf(A) * asf(B))); break;
  case FAST_FFMA: FAST_LOOP3(fcanon(fmaf(asf(A), asf(B), asf(C3)))); break;
  case FAST_SETP_S32: FAST_LOOP(icmp_fast(I->cmp, (int32_t)A, (int32_t)B)); break;
  case FAST_SETP_U32:
    FAST_LOOP(icmp_fast(I->cmp, (int64_t)(uint32_t)A, (int64_t)(uint32_t)B));
    break;
  case FAST_SETP_F32: FAST_LOOP(fcmp_fast(I->cmp, asf(A), asf(B))); break;
  case FAST_CVT_U64_U32: FAST_LOOP((uint32_t)A); break;
  case FAST_CVT_S64_S32: FAST_LOOP((uint64_t)(int64_t)(int32_t)A); break;
  case FAST_CVTA_GLOBAL: FAST_LOOP(A); break;
  }
}

/* ------------------------------------------------------------ scheduling */

/* Picks the group: runnable lanes with the lowest pc (then the same depth). */
static bool pick(warp_t *w, uint32_t *out_mask, uint32_t *out_pc) {
  uint32_t best = UINT32_MAX, mask = 0;
  int depth = -1;
  for (uint32_t m = w->exist; m; m &= m - 1) {
    int l = __builtin_ctz(m);
    if (w->st[l] != ST_RUN) continue;
    if (w->pc[l] < best) {
      best = w->pc[l];
      depth = w->depth[l];
      mask = 1u << l;
    } else if (w->pc[l] == best && w->depth[l] == depth) {
      mask |= 1u << l;
    }
  }
  *out_mask = mask;
  *out_pc = best;
  return mask != 0;
}

static void set_pc(warp_t *w, uint32_t mask, uint32_t pc) {
  for (uint32_t m = mask; m; m &= m - 1)
    w->pc[__builtin_ctz(m)] = pc;
}

static void release_barrier(cta_t *c, int id) {
  for (int wi = 0; wi < c->nwarps; ++wi) {
    warp_t *w = &c->warps[wi];
    for (uint32_t m = w->exist; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      if (w->st[l] == ST_WBAR && (w->wmask[l] & 0xff) == (uint32_t)id) {
        const sinst_t *I = &c->P->code[w->pc[l]];
        if (I->flags & QIAO_PTX_F_RED) { /* bar.red: every waiter gets the reduction */
          uint64_t *R = w->frames[w->depth[l]];
          uint64_t v = I->opmod == QIAO_PTX_OPM_POPC  ? c->red_popc[id]
                       : I->opmod == QIAO_PTX_OPM_AND ? c->red_and[id]
                                                      : c->red_or[id];
          wr(R, &I->o[0], l, v);
        }
        w->st[l] = ST_RUN;
        w->pc[l] += 1;
      }
    }
  }
  c->bar_count[id] = 0;
  c->bar_expect[id] = 0;
  c->red_popc[id] = 0;
  c->red_and[id] = true;
  c->red_or[id] = false;
}

/* mbarrier objects (8 bytes of shared memory): bits 0..30 pending arrivals,
 * 32..62 the expected count, 63 the phase. */
/* One arrival on the mbarrier at operand ao (cp.async.mbarrier.arrive.noinc). */
static bool mbarrier_arrive_at(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l,
                               const sop_t *ao) {
  uint64_t a = addr_of(c, w, R, ao, l);
  uint8_t *p = mem(c, w, l, I, I->space, a, 8, 8, true);
  if (!p) return false;
  uint64_t v = ldn(p, 8);
  uint64_t phase = v >> 63, pending = v & 0x7fffffffu, expect = (v >> 32) & 0x7fffffffu;
  if (pending == 0) {
    fail(c, w, l, I, "mbarrier at 0x%llx: arrival with no pending count", (unsigned long long)a);
    return false;
  }
  if (--pending == 0) {
    phase ^= 1;
    pending = expect;
  }
  stn(p, 8, phase << 63 | expect << 32 | pending);
  return true;
}

static bool mbarrier_lane(cta_t *c, warp_t *w, const sinst_t *I, uint64_t *R, int l) {
  int ai = (I->sub == 1 || I->sub == 7) ? 0 : 1;
  if (I->sub == 6) { /* pending_count d, state */
    wr(R, &I->o[0], l, rd(c, w, R, &I->o[1], l) & 0x7fffffffu);
    return true;
  }
  uint64_t a = addr_of(c, w, R, &I->o[ai], l);
  uint8_t *p = mem(c, w, l, I, I->space, a, 8, 8, true);
  if (!p) return false;
  uint64_t v = ldn(p, 8);
  uint64_t phase = v >> 63, pending = v & 0x7fffffffu, expect = (v >> 32) & 0x7fffffffu;
  switch (I->sub) {
  case 1: { /* init [a], count */
    uint64_t n = rd(c, w, R, &I->o[1], l) & 0x7fffffffu;
    stn(p, 8, (n << 32) | n);
    return true;
  }
  case 2:
  case 3: { /* arrive / arrive_drop state, [a] {, count} */
    uint64_t n = I->nops > 2 ? rd(c, w, R, &I->o[2], l) & 0x7fffffffu : 1;
    if (n > pending) {
      fail(c, w, l, I, "mbarrier at 0x%llx: %llu arrivals with %llu pending", (unsigned long long)a,
           (unsigned long long)n, (unsigned long long)pending);
      return false;
    }
    if (I->sub == 3) expect -= n < expect ? n : expect;
    pending -= n;
    if (pending == 0) {
      phase ^= 1;
      pending = expect;
    }
    wr(R, &I->o[0], l, v);
    stn(p, 8, phase << 63 | expect << 32 | pending);
    return true;
  }
  case 4:
  case 5: { /* test_wait / try_wait {.parity} p, [a], state|parity */
    uint64_t s = rd(c, w, R, &I->o[2], l);
    bool done = I->num ? (phase != (s & 1)) : (phase != (s >> 63));
    wr(R, &I->o[0], l, done);
    return true;
  }
  case 7: stn(p, 8, 0); return true;
  default: fail(c, w, l, I, "unsupported mbarrier operation"); return false;
  }
}

/* Runs warp w until none of its threads can run; returns the group steps done
 * (0: nothing ran), -1 on error. */
static int64_t run_warp(cta_t *c, warp_t *w, int64_t budget) {
  const simt_program_t *P = c->P;
  const sinst_t *code = P->code;
  int64_t steps = 0;
  uint32_t mask, pc;
  while (steps < budget && pick(w, &mask, &pc)) {
    int depth = w->depth[__builtin_ctz(mask)];
    uint64_t *R = w->frames[depth];
    for (;;) {
      const sinst_t *I = &code[pc];
      ++steps;
      uint32_t em = mask;
      if (I->guard >= 0) {
        em = 0;
        for (uint32_t m = mask; m; m &= m - 1) {
          int l = __builtin_ctz(m);
          bool p = (R[(size_t)I->guard * 32 + (size_t)l] & 1) != 0;
          if (p != (I->guard_neg != 0)) em |= 1u << l;
        }
      }
      uint32_t nl = (uint32_t)__builtin_popcount(mask);
      c->cls[I->cls] += nl;
      c->work[I->wcls] += (uint64_t)__builtin_popcount(em) * I->work;
      c->warp_instr += 1;
      w->clock += 1;
      if (I->unsupported) {
        fail(c, w, __builtin_ctz(mask), I, "cannot run '%s' (%s): not supported by simt-emu",
             I->name ? I->name : "?", I->unsupported);
        return -1;
      }
      bool regroup = false;
      switch (I->op) {
      case QIAO_PTX_OP_BRA: {
        if (I->guard >= 0 && em != 0 && em != mask) c->divergent += 1;
        set_pc(w, em, I->target);
        set_pc(w, mask & ~em, pc + 1);
        regroup = true;
        break;
      }
      case QIAO_PTX_OP_EXIT:
      case QIAO_PTX_OP_RET: {
        uint32_t stay = mask & ~em;
        set_pc(w, stay, pc + 1);
        for (uint32_t m = em; m; m &= m - 1) {
          int l = __builtin_ctz(m);
          int d = w->depth[l];
          if (I->op == QIAO_PTX_OP_EXIT || d == 0) {
            w->st[l] = ST_EXIT;
            c->alive -= 1;
            continue;
          }
          const scall_t *sc = &P->calls[w->ret_call[d][l]];
          uint8_t *cal = w->fparams[d - 1] + (size_t)l * P->fparam_size;
          uint8_t *cee = w->fparams[d] + (size_t)l * P->fparam_size;
          for (uint32_t i = 0; i < sc->nrets; ++i)
            memcpy(cal + sc->ret_dst[i], cee + sc->ret_src[i], sc->ret_size[i]);
          w->pc[l] = w->ret_pc[d][l];
          w->depth[l] = (uint8_t)(d - 1);
        }
        regroup = true;
        break;
      }
      case QIAO_PTX_OP_CALL: {
        const scall_t *sc = &P->calls[I->target];
        set_pc(w, mask & ~em, pc + 1);
        if (depth + 1 >= SIMT_MAX_DEPTH) {
          fail(c, w, __builtin_ctz(mask), I, "call depth above %d (recursion is not supported)",
               SIMT_MAX_DEPTH - 1);
          return -1;
        }
        for (uint32_t m = em; m; m &= m - 1) {
          int l = __builtin_ctz(m);
          uint8_t *cal = w->fparams[depth] + (size_t)l * P->fparam_size;
          uint8_t *cee = w->fparams[depth + 1] + (size_t)l * P->fparam_size;
          for (uint32_t i = 0; i < sc->nargs; ++i)
            memcpy(cee + sc->arg_dst[i], cal + sc->arg_src[i], sc->arg_size[i]);
          w->ret_pc[depth + 1][l] = pc + 1;
          w->ret_call[depth + 1][l] = (int32_t)I->target;
          w->depth[l] = (uint8_t)(depth + 1);
          w->pc[l] = P->funcs[sc->callee].start;
        }
        regroup = true;
        break;
      }
      case QIAO_PTX_OP_TRAP:
        if (em) {
          fail(c, w, __builtin_ctz(em), I, "trap executed");
          return -1;
        }
        break;
      case QIAO_PTX_OP_BAR:
      case QIAO_PTX_OP_BARRIER: {
        if (I->sub == 'w') goto warp_collective;
        bool red = (I->flags & QIAO_PTX_F_RED) != 0;
        set_pc(w, mask & ~em, pc + 1);
        if (!em) break;
        int l0 = __builtin_ctz(em);
        int ido = red ? 1 : 0, cnto = red ? (I->nops == 4 ? 2 : -1) : (I->nops > 1 ? 1 : -1);
        uint32_t id = I->nops > ido ? (uint32_t)rd(c, w, R, &I->o[ido], l0) : 0;
        uint32_t expect =
            cnto >= 0 ? (uint32_t)rd(c, w, R, &I->o[cnto], l0) : (uint32_t)c->nthreads;
        if (id > 15) {
          fail(c, w, l0, I, "barrier id %u out of range (0..15)", id);
          return -1;
        }
        if (c->bar_count[id] && c->bar_expect[id] != expect) {
          fail(c, w, l0, I, "barrier %u used with thread counts %u and %u", id, c->bar_expect[id],
               expect);
          return -1;
        }
        c->bar_expect[id] = expect;
        c->bar_count[id] += (uint32_t)__builtin_popcount(em);
        if (red)
          for (uint32_t m = em; m; m &= m - 1) {
            bool pv = rdp(c, w, R, &I->o[I->nops - 1], __builtin_ctz(m));
            c->red_popc[id] += pv;
            c->red_and[id] = c->red_and[id] && pv;
            c->red_or[id] = c->red_or[id] || pv;
          }
        bool arrive = (I->flags & QIAO_PTX_F_ARRIVE) != 0;
        if (arrive) {
          set_pc(w, em, pc + 1);
        } else {
          for (uint32_t m = em; m; m &= m - 1) {
            int l = __builtin_ctz(m);
            w->st[l] = ST_WBAR;
            w->wmask[l] = id;
            w->pc[l] = pc;
          }
        }
        if (c->bar_count[id] >= expect) release_barrier(c, (int)id);
        regroup = true;
        break;
      }
      default:
        if (is_collective(I)) {
        warp_collective:
          set_pc(w, mask & ~em, pc + 1);
          if (!em) {
            regroup = true;
            break;
          }
          int l0 = __builtin_ctz(em);
          int mo = member_operand(I);
          uint32_t members = mo >= 0 ? (uint32_t)rd(c, w, R, &I->o[mo], l0) : w->exist;
          members &= w->exist;
          /* lanes already waiting here */
          uint32_t here = em;
          for (uint32_t m = w->exist & ~mask; m; m &= m - 1) {
            int l = __builtin_ctz(m);
            if (w->st[l] == ST_WCOLL && w->pc[l] == pc && w->depth[l] == depth) here |= 1u << l;
          }
          if ((members & ~here) == 0) {
            if (!collective(c, w, I, here)) return -1;
            for (uint32_t m = here; m; m &= m - 1) {
              int l = __builtin_ctz(m);
              w->st[l] = ST_RUN;
              w->pc[l] = pc + 1;
            }
          } else {
            for (uint32_t m = em; m; m &= m - 1) {
              int l = __builtin_ctz(m);
              w->st[l] = ST_WCOLL;
              w->wmask[l] = members;
              w->pc[l] = pc;
            }
          }
          regroup = true;
          break;
        }
        switch (I->op) {
        case QIAO_PTX_OP_LD:
        case QIAO_PTX_OP_LDU:
        case QIAO_PTX_OP_ST:
          if (em && !ldst(c, w, I, R, em)) return -1;
          break;
        case QIAO_PTX_OP_ATOM:
        case QIAO_PTX_OP_RED:
          for (uint32_t m = em; m; m &= m - 1)
            if (!atomic_lane(c, w, I, R, __builtin_ctz(m))) return -1;
          break;
        case QIAO_PTX_OP_CP_ASYNC:
          for (uint32_t m = em; m; m &= m - 1)
            if (!cp_async(c, w, I, R, __builtin_ctz(m))) return -1;
          break;
        case QIAO_PTX_OP_CP_ASYNC_MBARRIER_ARRIVE:
          /* copies complete at issue: without .noinc the pending count goes up and back
           * down (no change); with .noinc it is one arrival */
          if (I->flags & QIAO_PTX_F_NOINC)
            for (uint32_t m = em; m; m &= m - 1)
              if (!mbarrier_arrive_at(c, w, I, R, __builtin_ctz(m), &I->o[0])) return -1;
          break;
        case QIAO_PTX_OP_MBARRIER:
          for (uint32_t m = em; m; m &= m - 1)
            if (!mbarrier_lane(c, w, I, R, __builtin_ctz(m))) return -1;
          break;
        case QIAO_PTX_OP_ACTIVEMASK:
          for (uint32_t m = em; m; m &= m - 1)
            wr(R, &I->o[0], __builtin_ctz(m), mask);
          break;
        case QIAO_PTX_OP_MEMBAR:
        case QIAO_PTX_OP_FENCE:
        case QIAO_PTX_OP_PREFETCH:
        case QIAO_PTX_OP_PREFETCHU:
        case QIAO_PTX_OP_NANOSLEEP:
        case QIAO_PTX_OP_PMEVENT:
        case QIAO_PTX_OP_CP_ASYNC_COMMIT_GROUP:
        case QIAO_PTX_OP_CP_ASYNC_WAIT_GROUP:
        case QIAO_PTX_OP_CP_ASYNC_WAIT_ALL:
        case QIAO_PTX_OP_GRIDDEPCONTROL:
        case QIAO_PTX_OP_SETMAXNREG: atomic_thread_fence(memory_order_seq_cst); break;
        default:
          if (I->fast) {
            fast(c, w, I, R, em);
            break;
          }
          for (uint32_t m = em; m; m &= m - 1)
            if (!alu(c, w, I, R, __builtin_ctz(m))) return -1;
          break;
        }
        ++pc;
        if (code[pc].is_target) {
          set_pc(w, mask, pc);
          regroup = true;
        }
        break;
      }
      if (regroup) break;
      if (steps >= budget) {
        set_pc(w, mask, pc);
        break;
      }
    }
  }
  return steps;
}

/* Describes why no thread of the CTA can run. */
static void deadlock(cta_t *c) {
  /* warp collectives whose members did not arrive */
  for (int wi = 0; wi < c->nwarps; ++wi) {
    warp_t *w = &c->warps[wi];
    for (uint32_t m = w->exist; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      if (w->st[l] != ST_WCOLL) continue;
      uint32_t here = 0, exited = 0, elsewhere = 0;
      for (uint32_t k = w->wmask[l]; k; k &= k - 1) {
        int j = __builtin_ctz(k);
        if (w->st[j] == ST_WCOLL && w->pc[j] == w->pc[l])
          here |= 1u << j;
        else if (w->st[j] == ST_EXIT)
          exited |= 1u << j;
        else
          elsewhere |= 1u << j;
      }
      fail(c, w, l, &c->P->code[w->pc[l]],
           "warp-synchronous instruction in warp %u: member mask 0x%08x, arrived 0x%08x, "
           "exited without arriving 0x%08x, waiting elsewhere 0x%08x",
           w->id, w->wmask[l], here, exited, elsewhere);
      return;
    }
  }
  for (int wi = 0; wi < c->nwarps; ++wi) {
    warp_t *w = &c->warps[wi];
    for (uint32_t m = w->exist; m; m &= m - 1) {
      int l = __builtin_ctz(m);
      if (w->st[l] != ST_WBAR) continue;
      uint32_t id = w->wmask[l];
      int exited = 0, arrived = 0;
      char list[256] = "";
      size_t len = 0;
      for (int wj = 0; wj < c->nwarps; ++wj) {
        warp_t *v = &c->warps[wj];
        for (uint32_t k = v->exist; k; k &= k - 1) {
          int j = __builtin_ctz(k);
          if (v->st[j] == ST_EXIT) ++exited;
          if (v->st[j] == ST_WBAR && v->wmask[j] == id) {
            if (arrived < 8 && len < sizeof list - 32)
              len += (size_t)snprintf(list + len, sizeof list - len, "%s(%u,%u,%u)",
                                      arrived ? " " : "", v->tid[j][0], v->tid[j][1], v->tid[j][2]);
            ++arrived;
          }
        }
      }
      fail(c, NULL, -1, &c->P->code[w->pc[l]],
           "barrier %u never completes: %d of %u threads arrived (%s%s); %d threads exited "
           "without arriving",
           id, arrived, c->bar_expect[id], list, arrived > 8 ? " ..." : "", exited);
      return;
    }
  }
  fail(c, NULL, -1, NULL, "internal: no thread can run");
}

typedef struct worker_ctx {
  cta_t c;
  warp_t *warps;
  int nwarps_cap;
  uint8_t *shared, *local;
  uint64_t shared_cap, local_cap;
  uint64_t *frames;
  uint8_t *fparams;
  size_t frames_cap, fparams_cap;
} worker_ctx_t;

typedef struct launch_ctx {
  const simt_launch_t *L;
  worker_ctx_t *workers;
  int nworkers;
  _Atomic uint64_t total;
  _Atomic int failed;
  pthread_mutex_t lock;
  qiao_status_t err;
  qiao_hal_simt_stats_t stats;
} launch_ctx_t;

static qiao_status_t run_cta(worker_ctx_t *wc, const simt_launch_t *L, uint64_t cta_linear,
                             launch_ctx_t *lc) {
  const simt_program_t *P = L->prog;
  cta_t *c = &wc->c;
  memset(c, 0, sizeof *c);
  c->L = L;
  c->P = P;
  c->linear_cta = cta_linear;
  c->ctaid[0] = (uint32_t)(cta_linear % (uint64_t)L->grid[0]);
  c->ctaid[1] = (uint32_t)(cta_linear / (uint64_t)L->grid[0] % (uint64_t)L->grid[1]);
  c->ctaid[2] = (uint32_t)(cta_linear / (uint64_t)L->grid[0] / (uint64_t)L->grid[1]);
  c->nthreads = L->block[0] * L->block[1] * L->block[2];
  c->nwarps = (c->nthreads + 31) / 32;
  c->alive = c->nthreads;
  for (int i = 0; i < 16; ++i)
    c->red_and[i] = true;
  c->total = &lc->total;
  c->warps = wc->warps;
  c->shared = wc->shared;
  c->shared_size = (P->dyn_shared_align ? ((P->shared_static + 15) / 16 * 16) : P->shared_static) +
                   L->dyn_shared;
  memset(c->shared, 0, c->shared_size);
  c->local = wc->local;
  size_t fstride = (size_t)(P->max_regs ? P->max_regs : 1) * 32,
         pstride = (size_t)P->fparam_size * 32;
  for (int wi = 0; wi < c->nwarps; ++wi) {
    warp_t *w = &c->warps[wi];
    memset(w, 0, offsetof(warp_t, frames));
    w->id = (uint32_t)wi;
    int n = c->nthreads - wi * 32;
    w->exist = n >= 32 ? 0xffffffffu : (uint32_t)mask_w((uint32_t)n);
    for (int l = 0; l < 32; ++l) {
      int t = wi * 32 + l;
      w->tid[l][0] = (uint16_t)(t % L->block[0]);
      w->tid[l][1] = (uint16_t)(t / L->block[0] % L->block[1]);
      w->tid[l][2] = (uint16_t)(t / L->block[0] / L->block[1]);
      w->pc[l] = P->funcs[L->func].start;
      if (!(w->exist >> l & 1)) w->st[l] = ST_EXIT;
    }
    for (int d = 0; d < SIMT_MAX_DEPTH; ++d) {
      w->frames[d] = wc->frames + ((size_t)wi * SIMT_MAX_DEPTH + (size_t)d) * fstride;
      w->fparams[d] = wc->fparams + ((size_t)wi * SIMT_MAX_DEPTH + (size_t)d) * pstride;
    }
    memset(w->frames[0], 0, fstride * sizeof(uint64_t));
  }
  while (c->alive > 0) {
    int64_t progress = 0;
    for (int wi = 0; wi < c->nwarps && !c->err; ++wi) {
      int64_t s = run_warp(c, &c->warps[wi], 1 << 16);
      if (s < 0) break;
      progress += s;
    }
    if (c->err) break;
    uint64_t thr = 0;
    for (int k = 0; k < C_COUNT; ++k)
      thr += c->cls[k];
    uint64_t delta = thr - c->since_check;
    c->since_check = thr;
    uint64_t tot = atomic_fetch_add(&lc->total, delta) + delta;
    if (tot > L->max_instructions) {
      fail(c, NULL, -1, NULL,
           "watchdog: the launch executed more than %llu thread-instructions "
           "(an endless loop? raise the limit with qiao_hal_simt_set_max_instructions or the URI "
           "option max_instructions=N)",
           (unsigned long long)L->max_instructions);
      break;
    }
    if (atomic_load(&lc->failed)) break;
    if (c->alive > 0 && progress == 0) {
      deadlock(c);
      break;
    }
  }
  /* fold statistics */
  pthread_mutex_lock(&lc->lock);
  qiao_hal_simt_stats_t *s = &lc->stats;
  uint64_t thr = 0;
  for (int k = 0; k < C_COUNT; ++k)
    thr += c->cls[k];
  s->thread_instructions += thr;
  s->warp_instructions += c->warp_instr;
  s->arith += c->cls[C_ARITH];
  s->control += c->cls[C_CONTROL];
  s->mem_global += c->cls[C_MEM_GLOBAL];
  s->mem_shared += c->cls[C_MEM_SHARED];
  s->mem_local += c->cls[C_MEM_LOCAL];
  s->mem_param += c->cls[C_MEM_PARAM];
  s->mem_const += c->cls[C_MEM_CONST];
  s->mem_generic += c->cls[C_MEM_GENERIC];
  s->tensor += c->cls[C_TENSOR];
  s->warp += c->cls[C_WARP];
  s->barrier += c->cls[C_BARRIER];
  s->atomic += c->cls[C_ATOMIC];
  s->async_copy += c->cls[C_ASYNC];
  s->flops_simt += c->work[W_FLOP_SIMT];
  s->flops_tf32 += c->work[W_FLOP_TF32];
  s->flops_f16 += c->work[W_FLOP_F16];
  s->flops_bf16 += c->work[W_FLOP_BF16];
  s->flops_f8 += c->work[W_FLOP_F8];
  s->ops_i8 += c->work[W_FLOP_I8];
  s->global_bytes += c->work[W_GLOBAL_BYTES];
  s->divergent_branches += c->divergent;
  s->shared_wavefronts += c->wavefronts;
  s->bank_conflicts += c->conflicts;
  s->ctas += 1;
  s->threads += (uint64_t)c->nthreads;
  pthread_mutex_unlock(&lc->lock);
  qiao_status_t e = c->err;
  c->err = NULL;
  return e;
}

static void run_range(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  (void)scratch;
  launch_ctx_t *lc = p;
  worker_ctx_t *wc = &lc->workers[worker];
  for (int64_t i = begin; i < end; ++i) {
    if (atomic_load(&lc->failed)) return;
    qiao_status_t st = run_cta(wc, lc->L, (uint64_t)i, lc);
    if (st) {
      pthread_mutex_lock(&lc->lock);
      if (!lc->err)
        lc->err = st;
      else
        qiao_status_free(st);
      pthread_mutex_unlock(&lc->lock);
      atomic_store(&lc->failed, 1);
      return;
    }
  }
}

qiao_status_t simt_launch_run(const simt_launch_t *L, struct qiao_hal_thread_pool *pool,
                              qiao_hal_simt_stats_t *out_stats) {
  const simt_program_t *P = L->prog;
  int nworkers = pool ? qiao_hal_thread_pool_size(pool) : 1;
  int64_t nthreads = (int64_t)L->block[0] * L->block[1] * L->block[2];
  if (nthreads > 1024)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "simt-emu: kernel '%s': block of %lld threads "
                            "(at most 1024)",
                            L->kernel, (long long)nthreads);
  int nwarps = (int)((nthreads + 31) / 32);
  launch_ctx_t lc;
  memset(&lc, 0, sizeof lc);
  lc.L = L;
  lc.nworkers = nworkers;
  pthread_mutex_init(&lc.lock, NULL);
  lc.workers = calloc((size_t)nworkers, sizeof(worker_ctx_t));
  qiao_status_t st = NULL;
  if (!lc.workers) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "simt-emu: out of memory");
    goto done;
  }
  uint64_t shared = (uint64_t)(P->shared_static + 15) / 16 * 16 + L->dyn_shared;
  size_t fstride = (size_t)(P->max_regs ? P->max_regs : 1) * 32,
         pstride = (size_t)P->fparam_size * 32;
  for (int i = 0; i < nworkers; ++i) {
    worker_ctx_t *wc = &lc.workers[i];
    wc->warps = calloc((size_t)nwarps, sizeof(warp_t));
    wc->shared = calloc(shared ? shared : 1, 1);
    wc->local = calloc((size_t)nwarps * 32 * P->local_size + 1, 1);
    wc->frames = calloc((size_t)nwarps * SIMT_MAX_DEPTH * fstride + 1, sizeof(uint64_t));
    wc->fparams = calloc((size_t)nwarps * SIMT_MAX_DEPTH * pstride + 1, 1);
    if (!wc->warps || !wc->shared || !wc->local || !wc->frames || !wc->fparams) {
      st =
          qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "simt-emu: out of memory for %d warps", nwarps);
      goto done;
    }
  }
  int64_t total = L->grid[0] * L->grid[1] * L->grid[2];
  if (pool) {
    st = qiao_hal_thread_pool_parallel_for(pool, total, 1, 0, run_range, &lc);
  } else {
    run_range(&lc, 0, total, 0, NULL);
  }
  if (!st)
    st = lc.err;
  else if (lc.err)
    qiao_status_free(lc.err);
  if (out_stats) *out_stats = lc.stats;
done:
  if (lc.workers)
    for (int i = 0; i < nworkers; ++i) {
      free(lc.workers[i].warps);
      free(lc.workers[i].shared);
      free(lc.workers[i].local);
      free(lc.workers[i].frames);
      free(lc.workers[i].fparams);
    }
  free(lc.workers);
  pthread_mutex_destroy(&lc.lock);
  return st;
}
