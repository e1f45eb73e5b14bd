/* safetensors reader/writer: round trips of every dtype, a catalogue of bad
 * files built byte by byte (each checked for its message and the byte offset
 * or tensor it names), and every truncation of a valid file. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qiao/ir.h"

/* 8-byte little-endian header length, the header text, then `dlen` data bytes
 * (a counting pattern). Caller frees; *out_len gets the size. */
static unsigned char *make_file(const char *header, size_t dlen, size_t *out_len) {
  size_t hl = strlen(header);
  size_t len = 8 + hl + dlen;
  unsigned char *b = malloc(len ? len : 1);
  for (int i = 0; i < 8; ++i)
    b[i] = (unsigned char)((uint64_t)hl >> (8 * i));
  memcpy(b + 8, header, hl);
  for (size_t i = 0; i < dlen; ++i)
    b[8 + hl + i] = (unsigned char)(i * 7 + 3);
  *out_len = len;
  return b;
}

/* Parses `header` + dlen bytes and expects failure whose message contains
 * every non-NULL needle. */
static void expect_bad(const char *header, size_t dlen, const char *n1, const char *n2,
                       const char *n3) {
  size_t len;
  unsigned char *b = make_file(header, dlen, &len);
  qiao_safetensors_t *st = (qiao_safetensors_t *)0x1;
  qiao_status_t s = qiao_safetensors_parse(b, len, "bad.safetensors", &st);
  free(b);
  cr_assert_not_null(s, "expected an error for header %s", header);
  cr_assert_null(st);
  cr_expect_eq(qiao_status_code(s), QIAO_INVALID_ARGUMENT);
  const char *m = qiao_status_message(s);
  cr_expect(strncmp(m, "bad.safetensors: ", 17) == 0, "message lacks path prefix: %s", m);
  const char *needles[3] = {n1, n2, n3};
  for (int i = 0; i < 3; ++i) {
    if (needles[i])
      cr_expect(strstr(m, needles[i]), "'%s' not in message: %s", needles[i], m);
  }
  qiao_status_free(s);
}

static qiao_shape_t shape2(int64_t a, int64_t b) {
  qiao_shape_t s = {.rank = 2, .dims = {a, b}};
  return s;
}

/* A temp dir per test, removed with its files at the end. */
static char g_dir[64];
static void mk_tmpdir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-st-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static void rm_tmpdir(void) {
  DIR *d = opendir(g_dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    remove(p);
  }
  closedir(d);
  rmdir(g_dir);
}
static int count_files(void) {
  DIR *d = opendir(g_dir);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

Test(safetensors, round_trip_every_dtype, .init = mk_tmpdir, .fini = rm_tmpdir) {
  const int n = QIAO_DTYPE_COUNT;
  qiao_tensor_t *ts[QIAO_DTYPE_COUNT + 2];
  const char *names[QIAO_DTYPE_COUNT + 2];
  char namebuf[QIAO_DTYPE_COUNT + 2][32];
  uint64_t rng = 0x5eed;
  for (int i = 0; i < n; ++i) {
    qiao_type_t t = {.dtype = (qiao_dtype_t)i, .shape = shape2(3, 5 + i)};
    cr_assert_null(qiao_tensor_create(t, &ts[i]));
    /* raw random bytes: a round trip must be bit exact, whatever they mean */
    unsigned char *p = ts[i]->data;
    for (size_t k = 0; k < qiao_tensor_nbytes(ts[i]); ++k) {
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
      p[k] = (unsigned char)(rng >> 56);
    }
    if (i == QIAO_BOOL) {
      for (size_t k = 0; k < qiao_tensor_nbytes(ts[i]); ++k)
        p[k] &= 1;
    }
    snprintf(namebuf[i], sizeof namebuf[i], "layer.%d.%s", n - i,
             qiao_dtype_name(ts[i]->type.dtype));
    names[i] = namebuf[i];
  }
  /* a scalar and an empty tensor */
  qiao_type_t sc = {.dtype = QIAO_F32, .shape = {.rank = 0}};
  cr_assert_null(qiao_tensor_create(sc, &ts[n]));
  qiao_tensor_set_f64(ts[n], 0, 1.5);
  names[n] = "scalar";
  qiao_type_t em = {.dtype = QIAO_I64, .shape = shape2(0, 4)};
  cr_assert_null(qiao_tensor_create(em, &ts[n + 1]));
  names[n + 1] = "empty";

  char path[128];
  snprintf(path, sizeof path, "%s/all.safetensors", g_dir);
  cr_assert_null(qiao_safetensors_write(path, names, (const qiao_tensor_t *const *)ts, n + 2));
  cr_expect_eq(count_files(), 1, "temp file left behind");

  /* header is padded so the data section starts 8-byte aligned */
  FILE *f = fopen(path, "rb");
  unsigned char lb[8];
  cr_assert_eq(fread(lb, 1, 8, f), 8u);
  fclose(f);
  uint64_t hl = 0;
  for (int i = 7; i >= 0; --i)
    hl = (hl << 8) | lb[i];
  cr_expect_eq((8 + hl) % 8, 0u);

  qiao_safetensors_t *st = NULL;
  qiao_status_t s = qiao_safetensors_open(path, &st);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_assert_eq(qiao_safetensors_count(st), n + 2);
  for (int i = 0; i < n + 2; ++i) {
    cr_expect_str_eq(qiao_safetensors_name(st, i), names[i], "file order is the given order");
    qiao_tensor_t v;
    memset(&v, 0xAB, sizeof v);
    cr_assert_null(qiao_safetensors_get(st, names[i], &v));
    cr_expect(qiao_type_equal(&v.type, &ts[i]->type), "type of %s", names[i]);
    cr_expect_not(v.owns_data);
    cr_expect_eq((uintptr_t)v.data % 8, 0u, "view of %s is not aligned", names[i]);
    cr_expect_eq(memcmp(v.data, ts[i]->data, qiao_tensor_nbytes(ts[i])), 0, "bytes of %s",
                 names[i]);
  }
  qiao_tensor_t v;
  cr_expect_eq(qiao_tensor_get_f64((qiao_safetensors_get(st, "scalar", &v), &v), 0), 1.5);
  qiao_status_t nf = qiao_safetensors_get(st, "nope", &v);
  cr_expect_eq(qiao_status_code(nf), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(nf), "'nope'"));
  qiao_status_free(nf);
  cr_expect_null(qiao_safetensors_name(st, n + 2));
  qiao_safetensors_destroy(st);
  for (int i = 0; i < n + 2; ++i)
    qiao_tensor_destroy(ts[i]);
}

Test(safetensors, values_survive_round_trip, .init = mk_tmpdir, .fini = rm_tmpdir) {
  qiao_tensor_t *a, *b;
  cr_assert_null(qiao_tensor_create((qiao_type_t){QIAO_BF16, shape2(4, 7)}, &a));
  cr_assert_null(qiao_tensor_create((qiao_type_t){QIAO_F32, shape2(2, 3)}, &b));
  uint64_t rng = 42;
  qiao_tensor_fill_random(a, &rng, -1, 1);
  qiao_tensor_fill_random(b, &rng, -1, 1);
  char path[128];
  snprintf(path, sizeof path, "%s/v.safetensors", g_dir);
  const char *names[] = {"b", "a"};
  const qiao_tensor_t *ts[] = {b, a};
  cr_assert_null(qiao_safetensors_write(path, names, ts, 2));
  /* overwrite in place works (rename over an existing file) */
  cr_assert_null(qiao_safetensors_write(path, names, ts, 2));
  qiao_safetensors_t *st;
  cr_assert_null(qiao_safetensors_open(path, &st));
  qiao_tensor_t v;
  cr_assert_null(qiao_safetensors_get(st, "a", &v));
  for (int64_t i = 0; i < 28; ++i) {
    cr_expect_eq(qiao_tensor_get_f64(&v, i), qiao_tensor_get_f64(a, i));
  }
  cr_assert_null(qiao_safetensors_get(st, "b", &v));
  for (int64_t i = 0; i < 6; ++i) {
    cr_expect_eq(qiao_tensor_get_f64(&v, i), qiao_tensor_get_f64(b, i));
  }
  qiao_safetensors_destroy(st);
  qiao_tensor_destroy(a);
  qiao_tensor_destroy(b);
}

Test(safetensors, reads_hf_style_file_with_metadata) {
  /* keys in non-offset order, metadata first, unpadded header */
  const char *h = "{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                  "\"a\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[0,8]}}";
  size_t len;
  unsigned char *f = make_file(h, 16, &len);
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(f, len, "hf", &st);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_expect_eq(qiao_safetensors_count(st), 2);
  cr_expect_str_eq(qiao_safetensors_name(st, 0), "b");
  qiao_tensor_t v;
  cr_assert_null(qiao_safetensors_get(st, "b", &v));
  cr_expect_eq(v.type.dtype, QIAO_I32);
  cr_expect_eq(memcmp(v.data, f + 8 + strlen(h) + 8, 8), 0);
  qiao_safetensors_destroy(st);
  free(f);
}

Test(safetensors, empty_file_with_no_tensors_is_valid) {
  size_t len;
  unsigned char *f = make_file("{}      ", 0, &len);
  qiao_safetensors_t *st;
  cr_assert_null(qiao_safetensors_parse(f, len, "e", &st));
  cr_expect_eq(qiao_safetensors_count(st), 0);
  qiao_safetensors_destroy(st);
  free(f);
}

/* ------------------------------------------------------------ bad files */

#define T(name, dt, shape, off)                                                                    \
  "\"" name "\":{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":" off "}"

Test(safetensors_bad, shorter_than_8_bytes) {
  unsigned char b[5] = {1, 0, 0, 0, 0};
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(b, 5, "bad.safetensors", &st);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "bad.safetensors: byte 0: file is 5 bytes, shorter than"), "%s",
            qiao_status_message(s));
  qiao_status_free(s);
  s = qiao_safetensors_parse(b, 0, "bad.safetensors", &st);
  cr_assert_not_null(s);
  qiao_status_free(s);
}

Test(safetensors_bad, header_length_past_end) {
  unsigned char b[20] = {100};
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(b, 20, "bad.safetensors", &st);
  cr_assert_not_null(s);
  cr_expect(
      strstr(qiao_status_message(s), "byte 0: header length 100 runs past the end of the file (20 bytes)"),
      "%s", qiao_status_message(s));
  qiao_status_free(s);
}

Test(safetensors_bad, header_length_over_100mb) {
  unsigned char b[16] = {0, 0, 0, 0x10}; /* 256 MiB */
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(b, 16, "bad.safetensors", &st);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "byte 0: header length 268435456 exceeds the 100 MB limit"), "%s",
            qiao_status_message(s));
  qiao_status_free(s);
  unsigned char h[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}; /* u64 max */
  s = qiao_safetensors_parse(h, 16, "bad.safetensors", &st);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "100 MB"), "%s", qiao_status_message(s));
  qiao_status_free(s);
}

Test(safetensors_bad, header_too_short) { expect_bad("{", 0, "byte 8:", "too short", NULL); }

Test(safetensors_bad, json_syntax_error_gives_absolute_offset) {
  /* jansson reports the position after the offending token: "{"a": }" fails at '}' (position 7) */
  expect_bad("{\"a\": }", 0, "byte 15: invalid JSON header", NULL, NULL);
}

Test(safetensors_bad, json_trailing_garbage) {
  expect_bad("{} x", 0, "invalid JSON header", "byte 1", NULL);
}

Test(safetensors_bad, header_not_object) {
  expect_bad("[1, 2]", 0, "byte 8: header is not a JSON object", NULL, NULL);
}

Test(safetensors_bad, entry_not_object) {
  expect_bad("{\"w\": 3}", 0, "tensor 'w': entry is not an object", NULL, NULL);
}

Test(safetensors_bad, missing_dtype) {
  expect_bad("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'", "missing \"dtype\"",
             NULL);
}

Test(safetensors_bad, unknown_dtype) {
  expect_bad("{" T("w", "F64", "[1]", "[0,8]") "}", 8, "tensor 'w'", "unknown dtype 'F64'", NULL);
}

Test(safetensors_bad, dtype_not_string) {
  expect_bad("{\"w\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "tensor 'w'",
             "\"dtype\" is not a string", NULL);
}

Test(safetensors_bad, shape_not_array) {
  expect_bad("{" T("w", "F32", "4", "[0,16]") "}", 16, "tensor 'w'", "\"shape\" is not an array",
             NULL);
}

Test(safetensors_bad, shape_negative_dim) {
  expect_bad("{" T("w", "F32", "[2,-1]", "[0,0]") "}", 0, "tensor 'w'",
             "shape[1] is not a non-negative integer", NULL);
}

Test(safetensors_bad, shape_float_dim) {
  expect_bad("{" T("w", "F32", "[2.5]", "[0,8]") "}", 8, "tensor 'w'",
             "shape[0] is not a non-negative integer", NULL);
}

Test(safetensors_bad, shape_rank_too_large) {
  expect_bad("{" T("w", "I8", "[1,1,1,1,1,1,1,1,1]", "[0,1]") "}", 1, "tensor 'w'", "rank 9", NULL);
}

Test(safetensors_bad, shape_overflow) {
  expect_bad("{" T("w", "F32", "[4294967296,4294967296,16]", "[0,4]") "}", 4, "tensor 'w'",
             "shape is too large", NULL);
}

Test(safetensors_bad, offsets_not_pair) {
  expect_bad("{" T("w", "F32", "[1]", "[0]") "}", 4, "tensor 'w'",
             "\"data_offsets\" is not [begin, end]", NULL);
  expect_bad("{" T("w", "F32", "[1]", "[0,\"4\"]") "}", 4, "tensor 'w'",
             "\"data_offsets\" is not [begin, end]", NULL);
  expect_bad("{" T("w", "F32", "[1]", "[-4,0]") "}", 4, "tensor 'w'", "non-negative", NULL);
}

Test(safetensors_bad, offsets_begin_after_end) {
  expect_bad("{" T("w", "F32", "[1]", "[8,4]") "}", 8, "tensor 'w'", "begin 8 > end 4", NULL);
}

Test(safetensors_bad, end_beyond_data_section) {
  /* 8 data bytes; the tensor claims [0,16] */
  const char *h = "{" T("w", "F32", "[4]", "[0,16]") "}";
  char end[64], eof[64];
  snprintf(end, sizeof end, "data ends at byte %zu", 8 + strlen(h) + 16);
  snprintf(eof, sizeof eof, "end of the file at byte %zu", 8 + strlen(h) + 8);
  expect_bad(h, 8, "tensor 'w'", end, eof);
}

Test(safetensors_bad, byte_size_mismatch) {
  expect_bad("{" T("w", "F32", "[3]", "[0,8]") "}", 8, "tensor 'w'",
             "8 bytes at data_offsets [0, 8] but f32[3] needs 12 bytes", NULL);
}

Test(safetensors_bad, overlapping_tensors) {
  expect_bad("{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[2]", "[4,12]") "}", 12,
             "tensor 'b'", "overlaps tensor 'a'", NULL);
}

Test(safetensors_bad, hole_between_tensors) {
  /* header is 107 bytes → data at 115; a covers [0,4), b starts at 8: hole at 119 */
  const char *h = "{" T("a", "F32", "[1]", "[0,4]") "," T("b", "F32", "[1]", "[8,12]") "}";
  expect_bad(h, 12, NULL, "hole of 4 bytes", "before tensor 'b'");
  char want[64];
  snprintf(want, sizeof want, "byte %zu: hole", 8 + strlen(h) + 4);
  expect_bad(h, 12, want, NULL, NULL);
}

Test(safetensors_bad, hole_at_start) {
  expect_bad("{" T("a", "F32", "[1]", "[4,8]") "}", 8, "hole of 4 bytes", "tensor 'a'", NULL);
}

Test(safetensors_bad, trailing_uncovered_bytes) {
  const char *h = "{" T("a", "I8", "[3]", "[0,3]") "}";
  char want[64];
  snprintf(want, sizeof want, "byte %zu: 5 trailing bytes", 8 + strlen(h) + 3);
  expect_bad(h, 8, want, "tensor 'a'", NULL);
}

Test(safetensors_bad, data_without_tensors) {
  expect_bad("{}", 4, "byte 10: 4 bytes of data but no tensors", NULL, NULL);
}

Test(safetensors_bad, duplicate_names) {
  expect_bad("{" T("a", "I8", "[1]", "[0,1]") "," T("a", "I8", "[1]", "[1,2]") "}", 2,
             "invalid JSON header", "duplicate object key", "\"a\"");
}

Test(safetensors_bad, metadata_value_not_string) {
  expect_bad("{\"__metadata__\":{\"format\":\"pt\",\"step\":3}}", 0,
             "\"__metadata__\" value for 'step' is not a string", NULL, NULL);
}

Test(safetensors_bad, metadata_not_object) {
  expect_bad("{\"__metadata__\":[\"x\"]}", 0, "\"__metadata__\" is not an object", NULL, NULL);
}

Test(safetensors_bad, unknown_entry_field) {
  expect_bad("{\"w\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[0,1],\"x\":1}}", 1,
             "tensor 'w'", "unknown field 'x'", NULL);
}

Test(safetensors_bad, embedded_nul_in_header) {
  size_t len;
  unsigned char *b = make_file("{\"a\":1}", 0, &len);
  b[10] = 0;
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(b, len, "bad.safetensors", &st);
  free(b);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "invalid JSON header"), "%s", qiao_status_message(s));
  qiao_status_free(s);
}

Test(safetensors_bad, every_truncation_of_a_valid_file) {
  const char *h = "{\"__metadata__\":{\"k\":\"v\"}," T("a", "F32", "[2]", "[0,8]") "," T(
      "b", "BF16", "[3]", "[8,14]") "," T("c", "BOOL", "[]", "[14,15]") "}";
  size_t len;
  unsigned char *f = make_file(h, 15, &len);
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_parse(f, len, "ok", &st);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_expect_eq(qiao_safetensors_count(st), 3);
  qiao_safetensors_destroy(st);
  for (size_t n = 0; n < len; ++n) {
    /* a fresh allocation of exactly n bytes, so ASan catches any over-read */
    unsigned char *p = malloc(n ? n : 1);
    memcpy(p, f, n);
    st = NULL;
    s = qiao_safetensors_parse(p, n, "trunc", &st);
    free(p);
    cr_assert_not_null(s, "prefix of %zu bytes accepted", n);
    cr_expect_null(st);
    cr_expect(strncmp(qiao_status_message(s), "trunc: ", 7) == 0, "%s", qiao_status_message(s));
    qiao_status_free(s);
  }
  free(f);
}

Test(safetensors_bad, open_missing_file) {
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_open("/nonexistent/x.safetensors", &st);
  cr_assert_not_null(s);
  cr_expect_eq(qiao_status_code(s), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(s), "/nonexistent/x.safetensors: cannot open"), "%s", qiao_status_message(s));
  qiao_status_free(s);
}

Test(safetensors_write, rejects_duplicates_and_leaves_no_temp, .init = mk_tmpdir,
     .fini = rm_tmpdir) {
  qiao_tensor_t *a;
  cr_assert_null(qiao_tensor_create((qiao_type_t){QIAO_F32, shape2(2, 2)}, &a));
  const char *names[] = {"x", "x"};
  const qiao_tensor_t *ts[] = {a, a};
  char path[128];
  snprintf(path, sizeof path, "%s/d.safetensors", g_dir);
  qiao_status_t s = qiao_safetensors_write(path, names, ts, 2);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "duplicate tensor name 'x'"), "%s", qiao_status_message(s));
  qiao_status_free(s);
  const char *meta[] = {"__metadata__"};
  s = qiao_safetensors_write(path, meta, ts, 1);
  cr_assert_not_null(s);
  qiao_status_free(s);
  cr_expect_eq(count_files(), 0);
  /* unwritable destination: error, nothing created */
  s = qiao_safetensors_write("/nonexistent-dir/x.safetensors", names, ts, 1);
  cr_assert_not_null(s);
  cr_expect_eq(qiao_status_code(s), QIAO_IO_ERROR);
  qiao_status_free(s);
  /* rename onto a directory fails after the temp is written: the temp is removed */
  char sub[160];
  snprintf(sub, sizeof sub, "%s/subdir", g_dir);
  cr_assert_eq(mkdir(sub, 0700), 0);
  s = qiao_safetensors_write(sub, names, ts, 1);
  cr_assert_not_null(s);
  cr_expect(strstr(qiao_status_message(s), "write failed"), "%s", qiao_status_message(s));
  qiao_status_free(s);
  cr_expect_eq(count_files(), 1, "temp file left behind");
  rmdir(sub);
  qiao_tensor_destroy(a);
}
