/* Storage numerics: conversions against known bit patterns, round-to-nearest-
 * even checked against neighbouring representable values, integer casts,
 * loads/stores, and host tensors. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "qiao/ir.h"

/* ------------------------------------------------------------ bit patterns */

Test(numeric, bf16_known_bits) {
  cr_expect_eq(qiao_f32_to_bf16(1.0f), 0x3F80);
  cr_expect_eq(qiao_f32_to_bf16(-2.0f), 0xC000);
  cr_expect_eq(qiao_f32_to_bf16(0.0f), 0x0000);
  cr_expect_eq(qiao_f32_to_bf16(-0.0f), 0x8000);
  /* 1 + 2^-8 is halfway between 1.0 and 1 + 2^-7: ties to even → 1.0 */
  cr_expect_eq(qiao_f32_to_bf16(1.0f + 0x1p-8f), 0x3F80);
  /* 1 + 3*2^-8 is halfway between 0x3F81 and 0x3F82: even → 0x3F82 */
  cr_expect_eq(qiao_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3F82);
  /* just above the tie rounds up */
  cr_expect_eq(qiao_f32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  cr_expect_eq(qiao_f32_to_bf16(INFINITY), 0x7F80);
  cr_expect_eq(qiao_f32_to_bf16(-INFINITY), 0xFF80);
  /* f32 max rounds past bf16 max (0x7F7F) → inf */
  cr_expect_eq(qiao_f32_to_bf16(3.4028234663852886e38f), 0x7F80);
  uint16_t n = qiao_f32_to_bf16(NAN);
  cr_expect_eq(n & 0x7F80, 0x7F80);
  cr_expect_neq(n & 0x007F, 0);
  cr_expect_float_eq(qiao_bf16_to_f32(0x3F82), 1.0f + 0x1p-6f, 0.0f);
  cr_expect_float_eq(qiao_bf16_to_f32(0x4049), 3.140625f, 0.0f);
}

Test(numeric, bf16_subnormals) {
  cr_expect_eq(qiao_round_to_dtype(0x1p-133, QIAO_BF16), 0x1p-133);
  cr_expect_eq(qiao_f32_to_bf16(0x1p-133f), 0x0001);
  cr_expect_eq(qiao_f32_to_bf16(0x1p-134f), 0x0000);   /* tie → even (0) */
  cr_expect_eq(qiao_f32_to_bf16(0x1.8p-134f), 0x0001); /* 0.75 quantum → 1 */
  cr_expect_eq(qiao_f32_to_bf16(0x1.8p-133f), 0x0002); /* 1.5 quanta → tie → 2 */
  cr_expect_eq(qiao_f32_to_bf16(0x1p-126f), 0x0080);   /* min normal */
}

Test(numeric, f16_known_bits) {
  cr_expect_eq(qiao_f32_to_f16(1.0f), 0x3C00);
  cr_expect_eq(qiao_f32_to_f16(-1.5f), 0xBE00);
  cr_expect_eq(qiao_f32_to_f16(65504.0f), 0x7BFF);
  cr_expect_eq(qiao_f32_to_f16(65519.0f), 0x7BFF);
  cr_expect_eq(qiao_f32_to_f16(65520.0f), 0x7C00); /* tie at the top → inf */
  cr_expect_eq(qiao_f32_to_f16(-1e6f), 0xFC00);
  cr_expect_eq(qiao_f32_to_f16(0x1p-24f), 0x0001); /* min subnormal */
  cr_expect_eq(qiao_f32_to_f16(0x1p-25f), 0x0000); /* tie → even */
  cr_expect_eq(qiao_f32_to_f16(0x1.8p-25f), 0x0001);
  cr_expect_eq(qiao_f32_to_f16(0x1.8p-24f), 0x0002);
  cr_expect_eq(qiao_f32_to_f16(0x1p-14f), 0x0400);     /* min normal */
  cr_expect_eq(qiao_f32_to_f16(0x1.ffcp-15f), 0x0400); /* rounds up from subnormal to normal */
  cr_expect_eq(qiao_f32_to_f16(-0.0f), 0x8000);
  cr_expect_eq(qiao_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);     /* tie → even */
  cr_expect_eq(qiao_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02); /* tie → even */
  uint16_t n = qiao_f32_to_f16(NAN);
  cr_expect_eq(n & 0x7C00, 0x7C00);
  cr_expect_neq(n & 0x03FF, 0);
  cr_expect_float_eq(qiao_f16_to_f32(0x0001), 0x1p-24f, 0.0f);
  cr_expect_float_eq(qiao_f16_to_f32(0x7BFF), 65504.0f, 0.0f);
  cr_expect(isinf(qiao_f16_to_f32(0xFC00)) && qiao_f16_to_f32(0xFC00) < 0);
}

Test(numeric, f8e4m3_known_bits) {
  cr_expect_eq(qiao_f32_to_f8e4m3(1.0f), 0x38);
  cr_expect_eq(qiao_f32_to_f8e4m3(-1.0f), 0xB8);
  cr_expect_eq(qiao_f32_to_f8e4m3(448.0f), 0x7E);
  cr_expect_eq(qiao_f32_to_f8e4m3(464.0f), 0x7E); /* past max: saturates */
  cr_expect_eq(qiao_f32_to_f8e4m3(1000.0f), 0x7E);
  cr_expect_eq(qiao_f32_to_f8e4m3(-1000.0f), 0xFE);
  cr_expect_eq(qiao_f32_to_f8e4m3(INFINITY), 0x7E);
  cr_expect_eq(qiao_f32_to_f8e4m3(-INFINITY), 0xFE);
  cr_expect_eq(qiao_f32_to_f8e4m3(NAN) & 0x7F, 0x7F);
  cr_expect_eq(qiao_f32_to_f8e4m3(240.0f), 0x77);
  cr_expect_eq(qiao_f32_to_f8e4m3(0x1p-9f), 0x01);  /* min subnormal */
  cr_expect_eq(qiao_f32_to_f8e4m3(0x1p-10f), 0x00); /* tie → even */
  cr_expect_eq(qiao_f32_to_f8e4m3(0x1p-6f), 0x08);  /* min normal */
  cr_expect_eq(qiao_f32_to_f8e4m3(1.0625f), 0x38);  /* 1 + 2^-4: tie → even */
  cr_expect_eq(qiao_f32_to_f8e4m3(1.1875f), 0x3A);  /* 1 + 3*2^-4: tie → even */
  cr_expect_float_eq(qiao_f8e4m3_to_f32(0x7E), 448.0f, 0.0f);
  cr_expect(isnan(qiao_f8e4m3_to_f32(0x7F)));
  cr_expect(isnan(qiao_f8e4m3_to_f32(0xFF)));
  cr_expect_float_eq(qiao_f8e4m3_to_f32(0x78), 256.0f, 0.0f); /* exp 15 is finite here */
  cr_expect_eq(qiao_round_to_dtype(1e9, QIAO_F8E4M3), 448.0);
  cr_expect_eq(qiao_round_to_dtype(-INFINITY, QIAO_F8E4M3), -448.0);
}

Test(numeric, f8e5m2_known_bits) {
  cr_expect_eq(qiao_f32_to_f8e5m2(1.0f), 0x3C);
  cr_expect_eq(qiao_f32_to_f8e5m2(57344.0f), 0x7B);
  cr_expect_eq(qiao_f32_to_f8e5m2(61439.0f), 0x7B);
  cr_expect_eq(qiao_f32_to_f8e5m2(61440.0f), 0x7C); /* tie at the top → inf */
  cr_expect_eq(qiao_f32_to_f8e5m2(-1e6f), 0xFC);
  cr_expect_eq(qiao_f32_to_f8e5m2(INFINITY), 0x7C);
  cr_expect_eq(qiao_f32_to_f8e5m2(0x1p-16f), 0x01); /* min subnormal */
  cr_expect_eq(qiao_f32_to_f8e5m2(0x1p-17f), 0x00);
  cr_expect_eq(qiao_f32_to_f8e5m2(1.125f), 0x3C); /* tie → even */
  cr_expect_eq(qiao_f32_to_f8e5m2(1.375f), 0x3E); /* tie → even */
  uint8_t n = qiao_f32_to_f8e5m2(NAN);
  cr_expect_eq(n & 0x7C, 0x7C);
  cr_expect_neq(n & 0x03, 0);
  cr_expect(isinf(qiao_f8e5m2_to_f32(0x7C)));
  cr_expect_float_eq(qiao_f8e5m2_to_f32(0x7B), 57344.0f, 0.0f);
}

/* Every non-NaN bit pattern decodes and re-encodes to itself. */
Test(numeric, roundtrip_every_pattern) {
  for (uint32_t b = 0; b < 0x10000; ++b) {
    float f = qiao_f16_to_f32((uint16_t)b);
    if (!isnan(f))
      cr_assert_eq(qiao_f32_to_f16(f), b, "f16 0x%04x", b);
    float h = qiao_bf16_to_f32((uint16_t)b);
    if (!isnan(h))
      cr_assert_eq(qiao_f32_to_bf16(h), b, "bf16 0x%04x", b);
  }
  for (uint32_t b = 0; b < 0x100; ++b) {
    float f = qiao_f8e4m3_to_f32((uint8_t)b);
    if (!isnan(f))
      cr_assert_eq(qiao_f32_to_f8e4m3(f), b, "e4m3 0x%02x", b);
    else
      cr_assert((b & 0x7F) == 0x7F);
    float g = qiao_f8e5m2_to_f32((uint8_t)b);
    if (!isnan(g))
      cr_assert_eq(qiao_f32_to_f8e5m2(g), b, "e5m2 0x%02x", b);
  }
  /* e4m3 has exactly two NaN patterns */
  int nans = 0;
  for (uint32_t b = 0; b < 0x100; ++b)
    nans += isnan(qiao_f8e4m3_to_f32((uint8_t)b));
  cr_expect_eq(nans, 2);
}

/* Decodes a storage pattern of dt (independent of qiao_round_to_dtype). */
static double decode(qiao_dtype_t dt, uint32_t bits) {
  switch (dt) {
  case QIAO_F16:
    return qiao_f16_to_f32((uint16_t)bits);
  case QIAO_BF16:
    return qiao_bf16_to_f32((uint16_t)bits);
  case QIAO_F8E4M3:
    return qiao_f8e4m3_to_f32((uint8_t)bits);
  default:
    return qiao_f8e5m2_to_f32((uint8_t)bits);
  }
}

/* Property: the rounded value is a representable value no farther from v than
 * its two neighbours, and on a tie its last mantissa bit is 0. Checked on
 * random doubles in each format's normal and subnormal range. */
Test(numeric, rne_nearest_property) {
  const qiao_dtype_t dts[] = {QIAO_F16, QIAO_BF16, QIAO_F8E4M3, QIAO_F8E5M2};
  const double maxv[] = {65504.0, 3.3e38, 448.0, 57344.0};
  uint64_t s = 12345;
  for (int k = 0; k < 4; ++k) {
    qiao_dtype_t dt = dts[k];
    size_t sz = qiao_dtype_size(dt);
    for (int it = 0; it < 20000; ++it) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      double u = (double)(s >> 11) * 0x1p-53;
      /* log-uniform magnitude over the format's range, random sign */
      double lmax = log2(maxv[k]);
      double v = exp2(u * (lmax + 30.0) - 30.0) * ((s & 1) ? -1 : 1);
      unsigned char buf[4] = {0};
      qiao_store_f64(buf, dt, 0, v);
      uint32_t bits = 0;
      memcpy(&bits, buf, sz);
      double r = decode(dt, bits);
      cr_assert(!isnan(r));
      cr_assert_eq(r, qiao_round_to_dtype(v, dt));
      double err = fabs(r - v);
      uint32_t mag = bits & ((sz == 2) ? 0x7FFFu : 0x7Fu);
      uint32_t sign = bits & ~((sz == 2) ? 0x7FFFu : 0x7Fu);
      double up = decode(dt, sign | (mag + 1)), dn = mag ? decode(dt, sign | (mag - 1)) : r;
      if (isfinite(up) && !isnan(up))
        cr_assert_leq(err, fabs(up - v), "v=%a r=%a", v, r);
      cr_assert_leq(err, fabs(dn - v), "v=%a r=%a", v, r);
      if ((isfinite(up) && err == fabs(up - v)) || err == fabs(dn - v))
        cr_assert_eq(bits & 1, 0, "tie not to even: v=%a", v);
    }
  }
}

/* Rounding goes straight from the double: through f32 first would tie. */
Test(numeric, no_double_rounding) {
  double v = 1.0 + 0x1p-8 + 0x1p-40; /* f32 would give 1 + 2^-8, a tie → 1.0 */
  cr_expect_eq(qiao_round_to_dtype(v, QIAO_BF16), 1.0 + 0x1p-7);
  double w = 1.0 + 0x1p-11 + 0x1p-40;
  cr_expect_eq(qiao_round_to_dtype(w, QIAO_F16), 1.0 + 0x1p-10);
  unsigned char b[2];
  qiao_store_f64(b, QIAO_BF16, 0, v);
  cr_expect_eq(qiao_load_f64(b, QIAO_BF16, 0), 1.0 + 0x1p-7);
  cr_expect_eq(qiao_round_to_dtype(1.0 + 0x1p-30, QIAO_F32), 1.0);
  cr_expect_eq(qiao_round_to_dtype(1e39, QIAO_F32), INFINITY);
}

Test(numeric, integer_rounding) {
  cr_expect_eq(qiao_round_to_dtype(2.9, QIAO_I8), 2.0);
  cr_expect_eq(qiao_round_to_dtype(-2.9, QIAO_I8), -2.0);
  cr_expect_eq(qiao_round_to_dtype(300.0, QIAO_I8), 127.0);
  cr_expect_eq(qiao_round_to_dtype(-300.0, QIAO_I8), -128.0);
  cr_expect_eq(qiao_round_to_dtype(NAN, QIAO_I8), 0.0);
  cr_expect_eq(qiao_round_to_dtype(INFINITY, QIAO_I32), 2147483647.0);
  cr_expect_eq(qiao_round_to_dtype(-1e10, QIAO_I32), -2147483648.0);
  cr_expect_eq(qiao_round_to_dtype(NAN, QIAO_I64), 0.0);
  cr_expect_eq(qiao_round_to_dtype(0.1, QIAO_BOOL), 1.0);
  cr_expect_eq(qiao_round_to_dtype(-0.0, QIAO_BOOL), 0.0);
  cr_expect_eq(qiao_round_to_dtype(NAN, QIAO_BOOL), 1.0);
  int64_t big;
  qiao_store_f64(&big, QIAO_I64, 0, 1e19);
  cr_expect_eq(big, INT64_MAX);
  qiao_store_f64(&big, QIAO_I64, 0, -1e19);
  cr_expect_eq(big, INT64_MIN);
  qiao_store_f64(&big, QIAO_I64, 0, -123456789.99);
  cr_expect_eq(big, -123456789);
  int32_t i32;
  qiao_store_f64(&i32, QIAO_I32, 0, 3e9);
  cr_expect_eq(i32, INT32_MAX);
  int8_t i8;
  qiao_store_f64(&i8, QIAO_I8, 0, -127.7);
  cr_expect_eq(i8, -127);
  uint8_t bl;
  qiao_store_f64(&bl, QIAO_BOOL, 0, -3.0);
  cr_expect_eq(bl, 1);
}

Test(numeric, load_store_every_dtype) {
  const double vals[] = {1.5, -2.25, 0.0, 100.0, -7.0};
  for (int dt = 0; dt < QIAO_DTYPE_COUNT; ++dt) {
    unsigned char buf[5 * 8];
    memset(buf, 0xAB, sizeof buf);
    for (int i = 0; i < 5; ++i)
      qiao_store_f64(buf, (qiao_dtype_t)dt, i, vals[i]);
    for (int i = 0; i < 5; ++i) {
      double got = qiao_load_f64(buf, (qiao_dtype_t)dt, i);
      cr_expect_eq(got, qiao_round_to_dtype(vals[i], (qiao_dtype_t)dt), "%s[%d]",
                   qiao_dtype_name((qiao_dtype_t)dt), i);
    }
  }
  /* storage layout: f32 raw bits, bf16 top half of f32 */
  unsigned char b[4];
  qiao_store_f64(b, QIAO_BF16, 0, 1.0);
  uint16_t h;
  memcpy(&h, b, 2);
  cr_expect_eq(h, 0x3F80);
  qiao_store_f64(b, QIAO_F32, 0, 1.0);
  uint32_t w;
  memcpy(&w, b, 4);
  cr_expect_eq(w, 0x3F800000u);
}

/* ------------------------------------------------------------------ tensors */

static qiao_type_t ty(qiao_dtype_t dt, int rank, int64_t d0, int64_t d1, int64_t d2) {
  qiao_type_t t;
  memset(&t, 0, sizeof t);
  t.dtype = dt;
  t.shape.rank = rank;
  t.shape.dims[0] = d0;
  t.shape.dims[1] = d1;
  t.shape.dims[2] = d2;
  return t;
}

Test(tensor, create_nbytes_zeroed) {
  qiao_tensor_t *t = NULL;
  cr_assert_null(qiao_tensor_create(ty(QIAO_BF16, 3, 3, 1, 17), &t));
  cr_expect_eq(qiao_tensor_nbytes(t), 3 * 17 * 2);
  cr_expect(t->owns_data);
  for (int64_t i = 0; i < 51; ++i)
    cr_expect_eq(qiao_tensor_get_f64(t, i), 0.0);
  qiao_tensor_set_f64(t, 5, 1.0 + 3 * 0x1p-8);
  cr_expect_eq(((uint16_t *)t->data)[5], 0x3F82);
  qiao_tensor_destroy(t);
  qiao_tensor_destroy(NULL);
  /* scalar */
  cr_assert_null(qiao_tensor_create(ty(QIAO_F32, 0, 0, 0, 0), &t));
  cr_expect_eq(qiao_tensor_nbytes(t), 4);
  qiao_tensor_destroy(t);
  qiao_status_t s = qiao_tensor_create(ty(QIAO_F32, 2, -1, 3, 0), &t);
  cr_expect_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  cr_expect_null(t);
  qiao_status_free(s);
}

Test(tensor, fill_random_deterministic_in_range) {
  qiao_tensor_t *a, *b, *c;
  qiao_type_t t = ty(QIAO_F32, 2, 17, 3, 0);
  cr_assert_null(qiao_tensor_create(t, &a));
  cr_assert_null(qiao_tensor_create(t, &b));
  cr_assert_null(qiao_tensor_create(t, &c));
  uint64_t s1 = 42, s2 = 42, s3 = 43;
  qiao_tensor_fill_random(a, &s1, -2.0, 3.0);
  qiao_tensor_fill_random(b, &s2, -2.0, 3.0);
  qiao_tensor_fill_random(c, &s3, -2.0, 3.0);
  cr_expect_eq(s1, s2);
  cr_expect_neq(s1, 42u);
  cr_expect_eq(memcmp(a->data, b->data, qiao_tensor_nbytes(a)), 0);
  cr_expect_neq(memcmp(a->data, c->data, qiao_tensor_nbytes(a)), 0);
  double mn = 1e9, mx = -1e9;
  for (int64_t i = 0; i < 51; ++i) {
    double v = qiao_tensor_get_f64(a, i);
    cr_expect(v >= -2.0 && v < 3.0);
    mn = fmin(mn, v);
    mx = fmax(mx, v);
  }
  cr_expect(mx - mn > 2.0); /* actually spread */
  cr_expect_eq(qiao_tensor_checksum(a), qiao_tensor_checksum(b));
  cr_expect_neq(qiao_tensor_checksum(a), qiao_tensor_checksum(c));
  qiao_tensor_destroy(a);
  qiao_tensor_destroy(b);
  qiao_tensor_destroy(c);
}

Test(tensor, fill_random_ints) {
  qiao_tensor_t *t;
  cr_assert_null(qiao_tensor_create(ty(QIAO_I32, 1, 1000, 0, 0), &t));
  uint64_t s = 7;
  qiao_tensor_fill_random(t, &s, -3, 4);
  bool seen[7] = {false};
  for (int64_t i = 0; i < 1000; ++i) {
    int32_t v = ((int32_t *)t->data)[i];
    cr_assert(v >= -3 && v < 4, "%d", v);
    seen[v + 3] = true;
  }
  for (int i = 0; i < 7; ++i)
    cr_expect(seen[i], "value %d never drawn", i - 3);
  qiao_tensor_destroy(t);
  cr_assert_null(qiao_tensor_create(ty(QIAO_BF16, 1, 100, 0, 0), &t));
  qiao_tensor_fill_random(t, &s, -1, 1);
  for (int64_t i = 0; i < 100; ++i) {
    double v = qiao_tensor_get_f64(t, i);
    cr_expect_eq(v, qiao_round_to_dtype(v, QIAO_BF16));
    cr_expect(v >= -1 && v <= 1);
  }
  qiao_tensor_destroy(t);
}

Test(tensor, checksum_depends_on_position) {
  qiao_tensor_t *t;
  cr_assert_null(qiao_tensor_create(ty(QIAO_F32, 1, 3, 0, 0), &t));
  float *p = t->data;
  p[0] = 1, p[1] = 2, p[2] = -3;
  double c1 = qiao_tensor_checksum(t);
  p[0] = 2, p[1] = 1;
  double c2 = qiao_tensor_checksum(t);
  cr_expect_neq(c1, c2);
  p[0] = 0, p[1] = 0, p[2] = 0;
  cr_expect_eq(qiao_tensor_checksum(t), 0.0);
  qiao_tensor_destroy(t);
}
