/* Storage numerics for every dtype: round-to-nearest-even conversions from a
 * double straight to each float format (no double rounding through f32),
 * integer truncation with saturation, and loads/stores of raw buffers.
 *
 * All small float formats go through one routine, encode_float(), which
 * rounds a double to a binary format with E exponent bits and M mantissa bits
 * (IEEE-style bias 2^(E-1)-1, subnormals, optional infinities), and one
 * decoder, decode_float(). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "qiao/ir.h"

typedef struct float_format {
  int ebits, mbits;
  /* true: IEEE-like (all-ones exponent = inf/NaN). false: OCP "FN" style
   * (f8e4m3): no infinity, only the all-ones pattern S.1111.111 is NaN, the
   * largest finite value is S.1111.110 and overflow saturates to it. */
  bool has_inf;
} float_format_t;

static const float_format_t k_bf16 = {8, 7, true};
static const float_format_t k_f16 = {5, 10, true};
static const float_format_t k_e4m3 = {4, 3, false};
static const float_format_t k_e5m2 = {5, 2, true};

static uint32_t nan_bits(const float_format_t *f, bool neg) {
  uint32_t sign = (uint32_t)neg << (f->ebits + f->mbits);
  uint32_t all = ((1u << (f->ebits + f->mbits)) - 1u);
  if (!f->has_inf)
    return sign | all; /* S.1111.111 */
  /* quiet NaN: exponent all ones, top mantissa bit set */
  return sign | (((1u << f->ebits) - 1u) << f->mbits) | (1u << (f->mbits - 1));
}

/* Largest finite magnitude as bits (without sign). */
static uint32_t max_finite_bits(const float_format_t *f) {
  if (f->has_inf)
    return ((((1u << f->ebits) - 2u)) << f->mbits) | ((1u << f->mbits) - 1u);
  return ((1u << (f->ebits + f->mbits)) - 1u) - 1u;
}

/* Rounds v (a double) to the nearest value of format f, ties to even, and
 * returns its bit pattern. Overflow: ±inf when the format has infinities,
 * otherwise saturates to ±max finite (infinite inputs too). NaN → NaN. */
static uint32_t encode_float(double v, const float_format_t *f) {
  bool neg = signbit(v) != 0;
  uint32_t sign = (uint32_t)neg << (f->ebits + f->mbits);
  if (isnan(v))
    return nan_bits(f, neg);
  uint32_t inf_or_max = f->has_inf ? (((1u << f->ebits) - 1u) << f->mbits) : max_finite_bits(f);
  double a = fabs(v);
  if (isinf(a))
    return sign | inf_or_max;
  if (a == 0.0)
    return sign;
  const int bias = (1 << (f->ebits - 1)) - 1;
  const int emin = 1 - bias;
  int x;
  (void)frexp(a, &x); /* a = m * 2^x, m in [0.5, 1) */
  int e = x - 1;      /* a in [2^e, 2^(e+1)) */
  if (e < emin)
    e = emin;
  /* n = a / 2^(e - M): exact (power-of-two scaling, the quanta here are far
   * above the double subnormal range), n < 2^(M+1). */
  double n = ldexp(a, f->mbits - e);
  double r = nearbyint(n); /* default rounding mode: nearest, ties to even */
  double one = ldexp(1.0, f->mbits);
  if (r >= 2.0 * one) { /* rounded up into the next binade */
    r = one;
    e += 1;
  }
  uint32_t bexp, mant;
  if (r >= one) {
    bexp = (uint32_t)(e + bias);
    mant = (uint32_t)(r - one);
  } else { /* subnormal (only when e == emin) */
    bexp = 0;
    mant = (uint32_t)r;
  }
  uint32_t mag;
  if ((int64_t)bexp > (int64_t)((1u << f->ebits) - (f->has_inf ? 2u : 1u))) {
    mag = inf_or_max;
  } else {
    mag = (bexp << f->mbits) | mant;
    if (!f->has_inf && mag > max_finite_bits(f))
      mag = max_finite_bits(f);
  }
  return sign | mag;
}

static double decode_float(uint32_t bits, const float_format_t *f) {
  const int bias = (1 << (f->ebits - 1)) - 1;
  uint32_t mmask = (1u << f->mbits) - 1u;
  uint32_t emask = (1u << f->ebits) - 1u;
  bool neg = (bits >> (f->ebits + f->mbits)) & 1u;
  uint32_t bexp = (bits >> f->mbits) & emask;
  uint32_t mant = bits & mmask;
  double mag;
  if (f->has_inf && bexp == emask) {
    mag = mant ? NAN : INFINITY;
  } else if (!f->has_inf && bexp == emask && mant == mmask) {
    mag = NAN;
  } else if (bexp == 0) {
    mag = ldexp((double)mant, 1 - bias - f->mbits);
  } else {
    mag = ldexp((double)(mant | (1u << f->mbits)), (int)bexp - bias - f->mbits);
  }
  return neg ? -mag : mag;
}

uint16_t qiao_f32_to_bf16(float v) { return (uint16_t)encode_float((double)v, &k_bf16); }
float qiao_bf16_to_f32(uint16_t v) { return (float)decode_float(v, &k_bf16); }
uint16_t qiao_f32_to_f16(float v) { return (uint16_t)encode_float((double)v, &k_f16); }
float qiao_f16_to_f32(uint16_t v) { return (float)decode_float(v, &k_f16); }
uint8_t qiao_f32_to_f8e4m3(float v) { return (uint8_t)encode_float((double)v, &k_e4m3); }
float qiao_f8e4m3_to_f32(uint8_t v) { return (float)decode_float(v, &k_e4m3); }
uint8_t qiao_f32_to_f8e5m2(float v) { return (uint8_t)encode_float((double)v, &k_e5m2); }
float qiao_f8e5m2_to_f32(uint8_t v) { return (float)decode_float(v, &k_e5m2); }

/* Truncates toward zero and saturates to [lo, hi]; NaN → 0. lo/hi are exact
 * doubles (powers of two or small), `hi_excl` is the first value above hi. */
static int64_t to_int_sat(double v, int64_t lo, int64_t hi, double hi_excl) {
  if (isnan(v))
    return 0;
  if (v >= hi_excl)
    return hi;
  if (v <= (double)lo)
    return lo;
  return (int64_t)trunc(v);
}

static float_format_t const *small_format(qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F16:
    return &k_f16;
  case QIAO_BF16:
    return &k_bf16;
  case QIAO_F8E4M3:
    return &k_e4m3;
  case QIAO_F8E5M2:
    return &k_e5m2;
  default:
    return NULL;
  }
}

double qiao_round_to_dtype(double v, qiao_dtype_t dt) {
  switch (dt) {
  case QIAO_F32:
    return (double)(float)v; /* C conversion: RNE, overflow → inf */
  case QIAO_F16:
  case QIAO_BF16:
  case QIAO_F8E4M3:
  case QIAO_F8E5M2: {
    const float_format_t *f = small_format(dt);
    return decode_float(encode_float(v, f), f);
  }
  case QIAO_I8:
    return (double)to_int_sat(v, INT8_MIN, INT8_MAX, 128.0);
  case QIAO_I32:
    return (double)to_int_sat(v, INT32_MIN, INT32_MAX, 2147483648.0);
  case QIAO_I64:
    return (double)to_int_sat(v, INT64_MIN, INT64_MAX, 9223372036854775808.0);
  case QIAO_BOOL:
    return v != 0.0 ? 1.0 : 0.0; /* NaN != 0 → true */
  default:
    return v;
  }
}

double qiao_load_f64(const void *data, qiao_dtype_t dt, int64_t i) {
  const unsigned char *p = data;
  switch (dt) {
  case QIAO_F32: {
    float x;
    memcpy(&x, p + 4 * i, 4);
    return x;
  }
  case QIAO_F16:
  case QIAO_BF16: {
    uint16_t x;
    memcpy(&x, p + 2 * i, 2);
    return decode_float(x, small_format(dt));
  }
  case QIAO_F8E4M3:
  case QIAO_F8E5M2:
    return decode_float(p[i], small_format(dt));
  case QIAO_I8:
    return (double)(int8_t)p[i];
  case QIAO_I32: {
    int32_t x;
    memcpy(&x, p + 4 * i, 4);
    return x;
  }
  case QIAO_I64: {
    int64_t x;
    memcpy(&x, p + 8 * i, 8);
    return (double)x;
  }
  case QIAO_BOOL:
    return p[i] ? 1.0 : 0.0;
  default:
    return NAN;
  }
}

void qiao_store_f64(void *data, qiao_dtype_t dt, int64_t i, double v) {
  unsigned char *p = data;
  switch (dt) {
  case QIAO_F32: {
    float x = (float)v;
    memcpy(p + 4 * i, &x, 4);
    break;
  }
  case QIAO_F16:
  case QIAO_BF16: {
    uint16_t x = (uint16_t)encode_float(v, small_format(dt));
    memcpy(p + 2 * i, &x, 2);
    break;
  }
  case QIAO_F8E4M3:
  case QIAO_F8E5M2:
    p[i] = (uint8_t)encode_float(v, small_format(dt));
    break;
  case QIAO_I8:
    p[i] = (uint8_t)(int8_t)to_int_sat(v, INT8_MIN, INT8_MAX, 128.0);
    break;
  case QIAO_I32: {
    int32_t x = (int32_t)to_int_sat(v, INT32_MIN, INT32_MAX, 2147483648.0);
    memcpy(p + 4 * i, &x, 4);
    break;
  }
  case QIAO_I64: {
    int64_t x = to_int_sat(v, INT64_MIN, INT64_MAX, 9223372036854775808.0);
    memcpy(p + 8 * i, &x, 8);
    break;
  }
  case QIAO_BOOL:
    p[i] = v != 0.0;
    break;
  default:
    break;
  }
}
