/* Qiao HAL — simt-emu private: small-float formats (f16, bf16, e4m3, e5m2). */
#ifndef QIAO_HAL_SIMT_FLOAT_H
#define QIAO_HAL_SIMT_FLOAT_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

enum { FMT_F16 = 0, FMT_BF16, FMT_E4M3, FMT_E5M2 };
/* rounding: 0 nearest-even, 1 toward zero, 2 down, 3 up */
enum { RM_RN = 0, RM_RZ, RM_RM, RM_RP };

typedef struct fmt_desc {
  int eb, mb;
  bool ieee; /* has infinities (e4m3 does not: max 448, NaN = S.1111.111) */
  uint32_t nan;
} fmt_desc_t;

static const fmt_desc_t kFmt[] = {
    {5, 10, true, 0x7fff}, {8, 7, true, 0x7fff}, {4, 3, false, 0x7f}, {5, 2, true, 0x7f}};

/* Rounds the exact value v to the format (one rounding). satfinite: overflow
 * and infinities give the largest finite value (NaN stays NaN). */
static inline uint32_t fp_encode(double v, int fmt, int rm, bool satfinite) {
  const fmt_desc_t *F = &kFmt[fmt];
  uint32_t sign = signbit(v) ? 1u : 0u;
  uint32_t sbit = sign << (F->eb + F->mb);
  if (isnan(v)) return F->nan;
  int bias = (1 << (F->eb - 1)) - 1, emin = 1 - bias;
  int emax_field = F->ieee ? (1 << F->eb) - 2 : (1 << F->eb) - 1;
  uint32_t maxmant = F->ieee ? (1u << F->mb) - 1 : (1u << F->mb) - 2;
  uint32_t maxfin = ((uint32_t)emax_field << F->mb) | maxmant;
  uint32_t inf = F->ieee ? ((uint32_t)((1 << F->eb) - 1) << F->mb) : F->nan;
  double a = fabs(v);
  if (isinf(a)) return satfinite ? (sbit | maxfin) : (F->ieee ? sbit | inf : F->nan);
  if (a == 0) return sbit;
  int e;
  frexp(a, &e);
  int E = e - 1;
  if (E < emin) E = emin;
  double q = ldexp(a, F->mb - E); /* significand in units of the last place */
  double n = floor(q), rem = q - n;
  bool up = false;
  switch (rm) {
  case RM_RN: up = rem > 0.5 || (rem == 0.5 && fmod(n, 2.0) != 0); break;
  case RM_RZ: break;
  case RM_RM: up = sign && rem > 0; break;
  case RM_RP: up = !sign && rem > 0; break;
  }
  uint64_t N = (uint64_t)n + (up ? 1 : 0);
  if (N >= (2ull << F->mb)) {
    N >>= 1;
    ++E;
  }
  uint32_t bits;
  if (N < (1ull << F->mb)) {
    bits = (uint32_t)N; /* subnormal */
  } else {
    int field = E + bias;
    uint32_t mant = (uint32_t)(N - (1ull << F->mb));
    if (field > emax_field || (field == emax_field && mant > maxmant)) {
      /* overflow: directed modes that round toward zero give the max finite */
      bool to_max = satfinite || rm == RM_RZ || (rm == RM_RM && !sign) || (rm == RM_RP && sign);
      if (to_max) return sbit | maxfin;
      return F->ieee ? sbit | inf : F->nan;
    }
    bits = ((uint32_t)field << F->mb) | mant;
  }
  return sbit | bits;
}

static inline double fp_decode(uint32_t bits, int fmt) {
  const fmt_desc_t *F = &kFmt[fmt];
  uint32_t sign = (bits >> (F->eb + F->mb)) & 1;
  uint32_t field = (bits >> F->mb) & ((1u << F->eb) - 1);
  uint32_t mant = bits & ((1u << F->mb) - 1);
  int bias = (1 << (F->eb - 1)) - 1;
  double v;
  if (F->ieee && field == (1u << F->eb) - 1) {
    v = mant ? NAN : INFINITY;
  } else if (!F->ieee && field == (1u << F->eb) - 1 && mant == (1u << F->mb) - 1) {
    v = NAN;
  } else if (field == 0) {
    v = ldexp((double)mant, 1 - bias - F->mb);
  } else {
    v = ldexp((double)(mant | (1u << F->mb)), (int)field - bias - F->mb);
  }
  return sign ? -v : v;
}

#endif /* QIAO_HAL_SIMT_FLOAT_H */
