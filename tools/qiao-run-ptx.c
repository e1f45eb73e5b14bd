/* qiao-run K.ptx: run one kernel of a foreign PTX file (nvcc's, Triton's, hand
 * written) on simt-emu (or a real GPU, cuda:N) with arguments given on the command
 * line.
 *
 * Arguments, one --arg per .param of the kernel, in order:
 *   DT[D0,D1,...]=random        a buffer of that dtype and shape, random values
 *   DT[...]=random:LO:HI        random in [LO, HI) (floats) or [LO, HI] (integers)
 *   DT[...]=zeros               zero-filled
 *   DT[...]=FILE.npy            from a .npy file (its dtype and shape must match)
 *   FILE.npy                    a buffer with the .npy file's dtype and shape
 *   DT=VALUE                    a scalar (i8..i64, u8..u64, f16, bf16, f32, f64)
 * DT is one of f16 bf16 f32 f64 i8 i16 i32 i64 u8 u16 u32 u64 bool. Random
 * defaults: floats in [-1, 1), integers in [0, 100), bools 0 or 1.
 *
 * A buffer argument fills a 64-bit integer parameter (.u64/.s64/.b64: what nvcc
 * declares for a pointer) with the buffer's device address; a scalar fills a
 * parameter of exactly its width (float scalars only float or untyped .bN
 * parameters, integers only integer or .bN ones). Aggregates (.b8 x[N], .v2)
 * are refused.
 *
 * .npy: version 1.0–3.0, C order, little-endian (or byte-order free '|');
 * dtypes f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1. bf16 has no numpy dtype: a bf16
 * buffer is read from and written to '<u2' (the raw bf16 bits), by convention;
 * a bare FILE.npy of '<u2' is a u16 buffer. Outputs are written atomically
 * (a temporary file beside the target, then rename).
 */
#include "qiao-run-ptx.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qiao/hal.h"
#include "qiao/hal_cuda.h"
#include "qiao/hal_simt.h"
#include "qiao/ptx.h"

const char qiao_run_ptx_usage[] =
    "usage: qiao-run K.ptx [--kernel NAME] --grid X[,Y,Z] --block X[,Y,Z] [--shared BYTES]\n"
    "                --arg SPEC... [--out I=FILE.npy]... [--print] [--seed N]\n"
    "                [--device simt-emu:PROFILE | cuda:N]\n"
    "Runs kernel NAME of a PTX file (nvcc -ptx output, or any PTX) on simt-emu (default\n"
    "simt-emu:h100) or a GPU (cuda:N) and prints a checksum of every buffer argument.\n"
    "  --kernel NAME  the .entry to run (may be left out when the file has one entry)\n"
    "  --grid, --block  launch shape; --shared BYTES of dynamic shared memory (default 0)\n"
    "  --arg SPEC     one per kernel parameter, in order:\n"
    "                   DT[D0,D1,..]=random | random:LO:HI | zeros | FILE.npy   a buffer\n"
    "                   FILE.npy                                               a buffer\n"
    "                   DT=VALUE                                               a scalar\n"
    "                 DT: f16 bf16 f32 f64 i8 i16 i32 i64 u8 u16 u32 u64 bool; random\n"
    "                 floats lie in [-1, 1), integers in [0, 100), bools 0 or 1\n"
    "  --out I=FILE.npy  write buffer argument I (0-based) to FILE.npy after the run\n"
    "                 (bf16 buffers as '<u2' bits: numpy has no bf16)\n"
    "  --print        print every buffer's values too\n"
    "  --seed N       seed of the random fills (default 1)\n";

/* ------------------------------------------------------------------ dtypes */

typedef enum dkind { K_FLOAT, K_SINT, K_UINT, K_BOOL, K_F16, K_BF16 } dkind_t;

typedef struct dtype {
  const char *name;
  const char *npy; /* numpy descr without the byte-order character */
  uint32_t size;
  dkind_t kind;
} dtype_t;

static const dtype_t k_dtypes[] = {
    {"f16", "f2", 2, K_F16},   {"bf16", "u2", 2, K_BF16}, {"f32", "f4", 4, K_FLOAT},
    {"f64", "f8", 8, K_FLOAT}, {"i8", "i1", 1, K_SINT},   {"i16", "i2", 2, K_SINT},
    {"i32", "i4", 4, K_SINT},  {"i64", "i8", 8, K_SINT},  {"u8", "u1", 1, K_UINT},
    {"u16", "u2", 2, K_UINT},  {"u32", "u4", 4, K_UINT},  {"u64", "u8", 8, K_UINT},
    {"bool", "b1", 1, K_BOOL},
};
#define N_DTYPES (sizeof k_dtypes / sizeof k_dtypes[0])

static const dtype_t *dtype_by_name(const char *s, size_t n) {
  for (size_t i = 0; i < N_DTYPES; ++i)
    if (strlen(k_dtypes[i].name) == n && !strncmp(k_dtypes[i].name, s, n)) return &k_dtypes[i];
  return NULL;
}

/* The dtype of a numpy descr ("<f4", "|u1"); bf16 is never chosen. */
static const dtype_t *dtype_by_npy(const char *descr) {
  for (size_t i = 0; i < N_DTYPES; ++i)
    if (k_dtypes[i].kind != K_BF16 && !strcmp(k_dtypes[i].npy, descr)) return &k_dtypes[i];
  return NULL;
}

static uint16_t f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00u | (ax > 0x7f800000u ? 0x200u : 0));
  if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to inf */
  if (ax < 0x38800000u) { /* subnormal half (or zero): value * 2^24 rounded to an integer */
    float a;
    memcpy(&a, &ax, 4);
    return (uint16_t)(sign | (uint32_t)nearbyintf(a * 16777216.0f));
  }
  uint32_t r = ax - 0x38000000u; /* rebias exponent 127 → 15, keep 23 mantissa bits */
  uint32_t h = r >> 13, rem = r & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;
  return (uint16_t)(sign | h);
}

static double f16_to_double(uint16_t h) {
  uint32_t e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m | 1024, (int)e - 25);
  return (h & 0x8000) ? -v : v;
}

static uint16_t f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

static double bf16_to_double(uint16_t b) {
  uint32_t x = (uint32_t)b << 16;
  float f;
  memcpy(&f, &x, 4);
  return f;
}

/* Element i of a buffer as a double (checksums, printing). */
static double elem_double(const dtype_t *t, const uint8_t *p) {
  switch (t->kind) {
  case K_FLOAT:
    if (t->size == 4) {
      float f;
      memcpy(&f, p, 4);
      return f;
    } else {
      double d;
      memcpy(&d, p, 8);
      return d;
    }
  case K_F16: {
    uint16_t h;
    memcpy(&h, p, 2);
    return f16_to_double(h);
  }
  case K_BF16: {
    uint16_t h;
    memcpy(&h, p, 2);
    return bf16_to_double(h);
  }
  case K_BOOL: return p[0] ? 1 : 0;
  case K_SINT: {
    int64_t v = 0;
    switch (t->size) {
    case 1: v = (int8_t)p[0]; break;
    case 2: {
      int16_t x;
      memcpy(&x, p, 2);
      v = x;
      break;
    }
    case 4: {
      int32_t x;
      memcpy(&x, p, 4);
      v = x;
      break;
    }
    default: memcpy(&v, p, 8); break;
    }
    return (double)v;
  }
  case K_UINT: {
    uint64_t v = 0;
    memcpy(&v, p, t->size); /* little-endian host */
    return (double)v;
  }
  }
  return 0;
}

static void print_elem(const dtype_t *t, const uint8_t *p) {
  if (t->kind == K_SINT) {
    printf("%.0f", elem_double(t, p));
  } else if (t->kind == K_UINT) {
    uint64_t v = 0;
    memcpy(&v, p, t->size);
    printf("%" PRIu64, v);
  } else if (t->kind == K_BOOL) {
    printf("%d", p[0] ? 1 : 0);
  } else {
    printf("%.9g", elem_double(t, p));
  }
}

/* ------------------------------------------------------------------ errors */

/* A tool error: one line, printed once by main. */
typedef struct err {
  int rc;
  char msg[1024];
} err_t;

static int fail(err_t *e, int rc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  va_end(ap);
  e->rc = rc;
  return rc;
}

/* ------------------------------------------------------------------ .npy */

#define NPY_MAX_DIMS 8

typedef struct npy {
  const dtype_t *dtype;
  int ndims;
  uint64_t dims[NPY_MAX_DIMS];
  uint64_t count;
  uint8_t *data; /* malloc'ed, count * size bytes */
} npy_t;

/* A cursor over the header dict text, for error offsets. */
typedef struct hdr {
  const char *s;
  size_t n, i, base; /* base: byte offset of s[0] in the file */
} hdr_t;

static void hdr_ws(hdr_t *h) {
  while (h->i < h->n && (h->s[h->i] == ' ' || h->s[h->i] == '\t'))
    ++h->i;
}

static bool hdr_lit(hdr_t *h, char c) {
  hdr_ws(h);
  if (h->i < h->n && h->s[h->i] == c) {
    ++h->i;
    return true;
  }
  return false;
}

/* A quoted string (' or ") into out. */
static bool hdr_str(hdr_t *h, char *out, size_t cap) {
  hdr_ws(h);
  if (h->i >= h->n || (h->s[h->i] != '\'' && h->s[h->i] != '"')) return false;
  char q = h->s[h->i++];
  size_t k = 0;
  while (h->i < h->n && h->s[h->i] != q) {
    if (k + 1 < cap) out[k++] = h->s[h->i];
    ++h->i;
  }
  out[k] = 0;
  if (h->i >= h->n) return false;
  ++h->i;
  return true;
}

static int npy_err(err_t *e, const char *path, size_t off, const char *what) {
  return fail(e, 1, "%s: byte %zu: %s", path, off, what);
}

/* Reads a .npy file; on error fills e (file, byte offset, what was expected). */
static int npy_read(const char *path, npy_t *out, err_t *e) {
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return fail(e, 1, "%s: cannot open: %s", path, strerror(errno));
  uint8_t pre[12];
  size_t got = fread(pre, 1, 10, f);
  int rc = 0;
  char *hdr_text = NULL;
  if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    rc = npy_err(e, path, 0, "expected the .npy magic \\x93NUMPY (not a .npy file)");
    goto done;
  }
  uint32_t major = pre[6];
  size_t hlen, hstart;
  if (major == 1) {
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (fread(pre + 10, 1, 2, f) != 2) {
      rc = npy_err(e, path, 10, "expected a 4-byte header length (file ends)");
      goto done;
    }
    hlen = (size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    hstart = 12;
  } else {
    char w[96];
    snprintf(w, sizeof w, "expected format version 1, 2 or 3 (got %u.%u)", major, pre[7]);
    rc = npy_err(e, path, 6, w);
    goto done;
  }
  if (hlen > (1u << 20)) {
    rc = npy_err(e, path, 8, "expected a header length below 1 MiB");
    goto done;
  }
  hdr_text = malloc(hlen + 1);
  if (!hdr_text) {
    rc = fail(e, 2, "%s: out of memory", path);
    goto done;
  }
  if (fread(hdr_text, 1, hlen, f) != hlen) {
    rc = npy_err(e, path, hstart, "expected the header dict (file ends inside it)");
    goto done;
  }
  hdr_text[hlen] = 0;
  hdr_t h = {hdr_text, hlen, 0, hstart};
  char descr[32] = "";
  bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
  size_t descr_at = hstart, fortran_at = hstart; /* offsets of those values, for errors */
  if (!hdr_lit(&h, '{')) {
    rc = npy_err(e, path, h.base + h.i, "expected '{' opening the header dict");
    goto done;
  }
  for (;;) {
    if (hdr_lit(&h, '}')) break;
    char key[32];
    size_t key_at = h.base + h.i;
    if (!hdr_str(&h, key, sizeof key)) {
      rc = npy_err(e, path, key_at, "expected a quoted key or '}' in the header dict");
      goto done;
    }
    if (!hdr_lit(&h, ':')) {
      rc = npy_err(e, path, h.base + h.i, "expected ':' after a header key");
      goto done;
    }
    hdr_ws(&h);
    size_t val_at = h.base + h.i;
    if (!strcmp(key, "descr")) {
      if (!hdr_str(&h, descr, sizeof descr)) {
        rc = npy_err(e, path, val_at, "expected a quoted dtype string for 'descr'");
        goto done;
      }
      have_descr = true;
      descr_at = val_at;
    } else if (!strcmp(key, "fortran_order")) {
      hdr_ws(&h);
      if (h.n - h.i >= 4 && !strncmp(h.s + h.i, "True", 4)) {
        fortran = true;
        h.i += 4;
      } else if (h.n - h.i >= 5 && !strncmp(h.s + h.i, "False", 5)) {
        h.i += 5;
      } else {
        rc = npy_err(e, path, val_at, "expected True or False for 'fortran_order'");
        goto done;
      }
      have_fortran = true;
      fortran_at = val_at;
    } else if (!strcmp(key, "shape")) {
      if (!hdr_lit(&h, '(')) {
        rc = npy_err(e, path, val_at, "expected '(' opening the shape tuple");
        goto done;
      }
      out->ndims = 0;
      for (;;) {
        if (hdr_lit(&h, ')')) break;
        hdr_ws(&h);
        size_t at = h.base + h.i;
        if (h.i >= h.n || h.s[h.i] < '0' || h.s[h.i] > '9') {
          rc = npy_err(e, path, at, "expected a dimension (non-negative integer) or ')'");
          goto done;
        }
        uint64_t v = 0;
        while (h.i < h.n && h.s[h.i] >= '0' && h.s[h.i] <= '9') {
          if (v > (UINT64_MAX - 9) / 10) {
            rc = npy_err(e, path, at, "expected a dimension that fits in 64 bits");
            goto done;
          }
          v = v * 10 + (uint64_t)(h.s[h.i++] - '0');
        }
        if (out->ndims == NPY_MAX_DIMS) {
          rc = npy_err(e, path, at, "expected at most 8 dimensions");
          goto done;
        }
        out->dims[out->ndims++] = v;
        if (!hdr_lit(&h, ',')) {
          if (!hdr_lit(&h, ')')) {
            rc = npy_err(e, path, h.base + h.i, "expected ',' or ')' in the shape tuple");
            goto done;
          }
          break;
        }
      }
      have_shape = true;
    } else {
      char w[96];
      snprintf(w, sizeof w, "unexpected header key '%s' (expected descr, fortran_order, shape)",
               key);
      rc = npy_err(e, path, key_at, w);
      goto done;
    }
    if (!hdr_lit(&h, ',')) {
      if (!hdr_lit(&h, '}')) {
        rc = npy_err(e, path, h.base + h.i, "expected ',' or '}' after a header value");
        goto done;
      }
      break;
    }
  }
  if (!have_descr || !have_fortran || !have_shape) {
    rc = npy_err(e, path, hstart,
                 !have_descr     ? "expected a 'descr' key in the header dict"
                 : !have_fortran ? "expected a 'fortran_order' key in the header dict"
                                 : "expected a 'shape' key in the header dict");
    goto done;
  }
  {
    const char *d = descr;
    size_t dat = descr_at;
    if ((d[0] == '>') && strcmp(d + 1, "i1") && strcmp(d + 1, "u1") && strcmp(d + 1, "b1")) {
      char w[128];
      snprintf(w, sizeof w, "expected a little-endian dtype ('<...' or '|...'), got '%s'", descr);
      rc = npy_err(e, path, dat, w);
      goto done;
    }
    if (d[0] == '<' || d[0] == '|' || d[0] == '=' || d[0] == '>') ++d;
    out->dtype = dtype_by_npy(d);
    if (!out->dtype) {
      char w[160];
      snprintf(w, sizeof w, "expected a dtype among f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1, got '%s'",
               descr);
      rc = npy_err(e, path, dat, w);
      goto done;
    }
  }
  int nontrivial = 0;
  for (int i = 0; i < out->ndims; ++i)
    if (out->dims[i] != 1) ++nontrivial;
  if (fortran && nontrivial > 1) {
    rc = npy_err(e, path, fortran_at,
                 "expected fortran_order False (C order); got a Fortran-order array");
    goto done;
  }
  out->count = 1;
  for (int i = 0; i < out->ndims; ++i) {
    if (out->dims[i] && out->count > UINT64_MAX / out->dims[i]) {
      rc = npy_err(e, path, hstart, "expected a shape whose element count fits in 64 bits");
      goto done;
    }
    out->count *= out->dims[i];
  }
  size_t data_at = hstart + hlen;
  if (out->count > (SIZE_MAX >> 4)) {
    rc = npy_err(e, path, data_at, "expected a smaller array");
    goto done;
  }
  size_t bytes = (size_t)out->count * out->dtype->size;
  out->data = malloc(bytes ? bytes : 1);
  if (!out->data) {
    rc = fail(e, 2, "%s: out of memory for %zu bytes", path, bytes);
    goto done;
  }
  size_t rd = fread(out->data, 1, bytes, f);
  if (rd != bytes) {
    char w[160];
    snprintf(w, sizeof w, "expected %zu data bytes (%" PRIu64 " x %s), the file has %zu", bytes,
             out->count, descr, rd);
    rc = npy_err(e, path, data_at + rd, w);
    goto done;
  }
  if (fgetc(f) != EOF) {
    char w[128];
    snprintf(w, sizeof w, "expected the end of the file after %zu data bytes", bytes);
    rc = npy_err(e, path, data_at + bytes, w);
    goto done;
  }
done:
  free(hdr_text);
  fclose(f);
  if (rc) {
    free(out->data);
    out->data = NULL;
  }
  return rc;
}

/* Writes a .npy (version 1.0) atomically: PATH.tmp.XXXXXX beside it, then rename. */
static int npy_write(const char *path, const dtype_t *t, const uint64_t *dims, int ndims,
                     const void *data, size_t bytes, err_t *e) {
  char header[512];
  int n = snprintf(header, sizeof header, "{'descr': '%c%s', 'fortran_order': False, 'shape': (",
                   t->size == 1 ? '|' : '<', t->npy);
  for (int i = 0; i < ndims; ++i)
    n += snprintf(header + n, sizeof header - (size_t)n, "%" PRIu64 "%s", dims[i],
                  ndims == 1      ? ","
                  : i + 1 < ndims ? ", "
                                  : "");
  n += snprintf(header + n, sizeof header - (size_t)n, "), }");
  size_t total = 10 + (size_t)n + 1; /* + '\n' */
  size_t pad = (64 - total % 64) % 64;
  size_t hlen = (size_t)n + pad + 1;
  char *tmp = malloc(strlen(path) + 16);
  if (!tmp) return fail(e, 2, "%s: out of memory", path);
  sprintf(tmp, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fail(e, 1, "%s: cannot create a temporary file beside it: %s", path, strerror(errno));
    free(tmp);
    return e->rc;
  }
  FILE *f = fdopen(fd, "wb");
  if (!f) {
    close(fd);
    unlink(tmp);
    free(tmp);
    return fail(e, 2, "%s: fdopen failed", path);
  }
  uint8_t pre[10] = {
      0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(hlen & 0xff), (uint8_t)(hlen >> 8)};
  bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(header, 1, (size_t)n, f) == (size_t)n;
  for (size_t i = 0; ok && i < pad; ++i)
    ok = fputc(' ', f) != EOF;
  ok = ok && fputc('\n', f) != EOF && fwrite(data, 1, bytes, f) == bytes;
  ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
  if (fclose(f) != 0) ok = false;
  if (!ok || rename(tmp, path) != 0) {
    int errnum = errno;
    unlink(tmp);
    free(tmp);
    return fail(e, 1, "%s: cannot write: %s", path, strerror(errnum));
  }
  free(tmp);
  return 0;
}

/* ------------------------------------------------------------------ arguments */

typedef enum fill { FILL_RANDOM, FILL_ZEROS, FILL_NPY } fill_t;

typedef struct arg {
  const char *text; /* as given */
  bool is_buffer;
  const dtype_t *dtype;
  /* buffers */
  int ndims;
  uint64_t dims[NPY_MAX_DIMS];
  uint64_t count;
  fill_t fill;
  bool has_range;
  double lo, hi;
  const char *npy_path;
  uint8_t *host;
  qiao_hal_buffer_t *buffer;
  /* scalars, and the value a param receives */
  uint8_t value[8];
  const char *out_path; /* --out */
} arg_t;

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), k = strlen(suffix);
  return n >= k && !strcmp(s + n - k, suffix);
}

static bool parse_u64(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 19) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

/* A scalar VALUE of dtype t into a->value. */
static int parse_scalar(arg_t *a, const char *v, int idx, err_t *e) {
  const dtype_t *t = a->dtype;
  char *end = NULL;
  errno = 0;
  if (t->kind == K_FLOAT || t->kind == K_F16 || t->kind == K_BF16) {
    double d = strtod(v, &end);
    if (!*v || *end) return fail(e, 1, "--arg %d '%s': '%s' is not a number", idx, a->text, v);
    if (t->kind == K_FLOAT && t->size == 8) {
      memcpy(a->value, &d, 8);
    } else if (t->kind == K_FLOAT) {
      float f = (float)d;
      memcpy(a->value, &f, 4);
    } else {
      uint16_t h = t->kind == K_F16 ? f32_to_f16((float)d) : f32_to_bf16((float)d);
      memcpy(a->value, &h, 2);
    }
    return 0;
  }
  if (t->kind == K_BOOL) {
    if (strcmp(v, "0") && strcmp(v, "1") && strcmp(v, "true") && strcmp(v, "false"))
      return fail(e, 1, "--arg %d '%s': a bool is 0, 1, true or false", idx, a->text);
    a->value[0] = !strcmp(v, "1") || !strcmp(v, "true");
    return 0;
  }
  int bits = (int)t->size * 8;
  if (t->kind == K_SINT) {
    long long x = strtoll(v, &end, 0);
    long long lo = bits == 64 ? INT64_MIN : -(1ll << (bits - 1));
    long long hi = bits == 64 ? INT64_MAX : (1ll << (bits - 1)) - 1;
    if (!*v || *end || errno == ERANGE || x < lo || x > hi)
      return fail(e, 1, "--arg %d '%s': '%s' is not an %s (range %lld..%lld)", idx, a->text, v,
                  t->name, lo, hi);
    memcpy(a->value, &x, t->size);
  } else {
    if (v[0] == '-')
      return fail(e, 1, "--arg %d '%s': '%s' is negative but %s is unsigned", idx, a->text, v,
                  t->name);
    unsigned long long x = strtoull(v, &end, 0);
    unsigned long long hi = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;
    if (!*v || *end || errno == ERANGE || x > hi)
      return fail(e, 1, "--arg %d '%s': '%s' is not a %s (range 0..%llu)", idx, a->text, v, t->name,
                  hi);
    memcpy(a->value, &x, t->size);
  }
  return 0;
}

/* One --arg SPEC (see the file comment). */
static int parse_arg(const char *spec, int idx, arg_t *a, err_t *e) {
  memset(a, 0, sizeof *a);
  a->text = spec;
  const char *eq = strchr(spec, '=');
  if (!eq) {
    if (ends_with(spec, ".npy")) {
      a->is_buffer = true;
      a->fill = FILL_NPY;
      a->npy_path = spec;
      return 0;
    }
    return fail(e, 1,
                "--arg %d '%s': expected DT[SHAPE]=random|zeros|FILE.npy, FILE.npy or DT=VALUE",
                idx, spec);
  }
  const char *br = memchr(spec, '[', (size_t)(eq - spec));
  size_t tlen = (size_t)((br ? br : eq) - spec);
  a->dtype = dtype_by_name(spec, tlen);
  if (!a->dtype)
    return fail(e, 1,
                "--arg %d '%s': unknown dtype '%.*s' (known: f16 bf16 f32 f64 i8 i16 i32 i64 u8 "
                "u16 u32 u64 bool)",
                idx, spec, (int)tlen, spec);
  const char *val = eq + 1;
  if (!br) return parse_scalar(a, val, idx, e);
  a->is_buffer = true;
  const char *close = eq - 1;
  if (*close != ']')
    return fail(e, 1, "--arg %d '%s': expected ']' closing the shape before '='", idx, spec);
  const char *p = br + 1;
  a->count = 1;
  while (p < close) {
    const char *c = p;
    while (c < close && *c != ',')
      ++c;
    uint64_t dim;
    if (!parse_u64(p, (size_t)(c - p), &dim) || dim == 0)
      return fail(e, 1, "--arg %d '%s': dimension '%.*s' is not a positive integer", idx, spec,
                  (int)(c - p), p);
    if (a->ndims == NPY_MAX_DIMS)
      return fail(e, 1, "--arg %d '%s': more than 8 dimensions", idx, spec);
    if (a->count > (UINT64_MAX >> 8) / dim)
      return fail(e, 1, "--arg %d '%s': the shape is too large", idx, spec);
    a->dims[a->ndims++] = dim;
    a->count *= dim;
    p = c < close ? c + 1 : c;
    if (c < close && p == close)
      return fail(e, 1, "--arg %d '%s': trailing ',' in the shape", idx, spec);
  }
  if (a->ndims == 0) return fail(e, 1, "--arg %d '%s': empty shape '[]'", idx, spec);
  if (a->count * a->dtype->size > ((uint64_t)1 << 34))
    return fail(e, 1, "--arg %d '%s': more than 16 GiB", idx, spec);
  if (!strcmp(val, "random")) {
    a->fill = FILL_RANDOM;
  } else if (!strncmp(val, "random:", 7)) {
    a->fill = FILL_RANDOM;
    a->has_range = true;
    char *end = NULL;
    a->lo = strtod(val + 7, &end);
    if (end == val + 7 || *end != ':')
      return fail(e, 1, "--arg %d '%s': expected random:LO:HI", idx, spec);
    const char *h = end + 1;
    a->hi = strtod(h, &end);
    if (end == h || *end || !(a->lo <= a->hi) || !isfinite(a->lo) || !isfinite(a->hi))
      return fail(e, 1, "--arg %d '%s': expected random:LO:HI with finite LO <= HI", idx, spec);
  } else if (!strcmp(val, "zeros")) {
    a->fill = FILL_ZEROS;
  } else if (ends_with(val, ".npy")) {
    a->fill = FILL_NPY;
    a->npy_path = val;
  } else {
    return fail(e, 1, "--arg %d '%s': expected =random, =random:LO:HI, =zeros or =FILE.npy", idx,
                spec);
  }
  return 0;
}

static uint64_t rng_next(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rng_unit(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void fill_random(arg_t *a, uint64_t *seed) {
  const dtype_t *t = a->dtype;
  for (uint64_t i = 0; i < a->count; ++i) {
    uint8_t *p = a->host + i * t->size;
    double lo = a->has_range ? a->lo : -1, hi = a->has_range ? a->hi : 1;
    switch (t->kind) {
    case K_FLOAT:
    case K_F16:
    case K_BF16: {
      double d = lo + (hi - lo) * rng_unit(seed);
      if (t->kind == K_FLOAT && t->size == 8) {
        memcpy(p, &d, 8);
      } else if (t->kind == K_FLOAT) {
        float f = (float)d;
        memcpy(p, &f, 4);
      } else {
        uint16_t h = t->kind == K_F16 ? f32_to_f16((float)d) : f32_to_bf16((float)d);
        memcpy(p, &h, 2);
      }
      break;
    }
    case K_BOOL: p[0] = (uint8_t)(rng_next(seed) & 1); break;
    case K_SINT:
    case K_UINT: {
      double ilo = a->has_range ? ceil(a->lo) : 0, ihi = a->has_range ? floor(a->hi) : 99;
      if (ihi < ilo) ihi = ilo;
      uint64_t span = (uint64_t)(ihi - ilo) + 1;
      int64_t v = (int64_t)ilo + (int64_t)(span ? rng_next(seed) % span : rng_next(seed));
      memcpy(p, &v, t->size);
      break;
    }
    }
  }
}

/* ------------------------------------------------------------------ parameters */

/* ".u32 name" or ".b8 name[16]" for messages. */
static void param_desc(const qiao_ptx_var_t *p, char *buf, size_t cap) {
  int n = snprintf(buf, cap, ".%s%s%s %s", p->vec ? "v" : "",
                   p->vec ? (p->vec == 2   ? "2."
                             : p->vec == 4 ? "4."
                                           : "8.")
                          : "",
                   qiao_ptx_type_name((qiao_ptx_type_t)p->type), p->name);
  for (int d = 0; d < p->ndims && n > 0 && (size_t)n < cap; ++d)
    n += snprintf(buf + n, cap - (size_t)n, "[%" PRIu64 "]", p->dims[d]);
}

static uint64_t param_size(const qiao_ptx_var_t *p) {
  uint64_t s = qiao_ptx_type_size((qiao_ptx_type_t)p->type) * (p->vec ? p->vec : 1);
  for (int d = 0; d < p->ndims; ++d)
    s *= p->dims[d];
  return s;
}

static bool param_is_float(const qiao_ptx_var_t *p) {
  switch (p->type) {
  case QIAO_PTX_T_F16:
  case QIAO_PTX_T_BF16:
  case QIAO_PTX_T_F32:
  case QIAO_PTX_T_F64: return true;
  default: return false;
  }
}

static bool param_is_untyped(const qiao_ptx_var_t *p) {
  return p->type >= QIAO_PTX_T_B8 && p->type <= QIAO_PTX_T_B128;
}

/* Matches argument i against parameter i (count already checked). */
static int match_param(const qiao_ptx_func_t *fn, int i, const arg_t *a, err_t *e) {
  const qiao_ptx_var_t *p = &fn->params[i];
  char desc[160];
  param_desc(p, desc, sizeof desc);
  if (p->ndims || p->vec)
    return fail(e, 1,
                "kernel '%s' parameter %d '%s' is an aggregate of %" PRIu64
                " bytes: the command line passes only pointers and scalars",
                fn->name, i, desc, param_size(p));
  uint64_t psize = param_size(p);
  if (a->is_buffer) {
    if (psize != 8 || param_is_float(p))
      return fail(e, 1,
                  "--arg %d '%s' is a buffer (a pointer) but kernel '%s' parameter %d '%s' is a "
                  "%" PRIu64 "-byte scalar: give DT=VALUE",
                  i, a->text, fn->name, i, desc, psize);
    return 0;
  }
  if (a->dtype->size != psize)
    return fail(e, 1,
                "--arg %d '%s' is a scalar of %u bytes (%s) but kernel '%s' parameter %d '%s' is "
                "%" PRIu64 " bytes%s",
                i, a->text, a->dtype->size, a->dtype->name, fn->name, i, desc, psize,
                psize == 8 && !param_is_float(p) ? " (a pointer or a 64-bit integer)" : "");
  bool afloat = a->dtype->kind == K_FLOAT || a->dtype->kind == K_F16 || a->dtype->kind == K_BF16;
  if (!param_is_untyped(p) && afloat != param_is_float(p))
    return fail(e, 1, "--arg %d '%s' is %s scalar but kernel '%s' parameter %d '%s' is %s", i,
                a->text, afloat ? "a float" : "an integer", fn->name, i, desc,
                param_is_float(p) ? "a float" : "an integer");
  return 0;
}

/* ------------------------------------------------------------------ options */

typedef struct ptx_opts {
  const char *file, *kernel, *device;
  int64_t grid[3];
  int32_t block[3];
  uint64_t shared;
  bool have_grid, have_block, print;
  uint64_t seed;
  int nargs;
  const char **arg_specs;
  int nouts;
  const char **out_specs;
} ptx_opts_t;

static const char *const k_valued[] = {"--kernel",  "--grid",  "--block", "--shared",
                                       "--arg",     "--out",   "--seed",  "--device",
                                       "--weights", "--check", "--bench", "--emit-dir"};

static bool takes_value(const char *a) {
  for (size_t i = 0; i < sizeof k_valued / sizeof k_valued[0]; ++i)
    if (!strcmp(a, k_valued[i])) return true;
  return false;
}

bool qiao_run_ptx_wanted(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (a[0] == '-' && a[1]) {
      if (takes_value(a)) ++i;
      continue;
    }
    return ends_with(a, ".ptx");
  }
  return false;
}

static bool parse_dims(const char *s, int64_t out[3], int64_t max) {
  out[0] = out[1] = out[2] = 1;
  int k = 0;
  const char *p = s;
  for (;;) {
    const char *c = p;
    while (*c && *c != ',')
      ++c;
    uint64_t v;
    if (k == 3 || !parse_u64(p, (size_t)(c - p), &v) || v == 0 || v > (uint64_t)max) return false;
    out[k++] = (int64_t)v;
    if (!*c) return true;
    p = c + 1;
  }
}

static int parse_opts(int argc, char **argv, ptx_opts_t *o, err_t *e) {
  memset(o, 0, sizeof *o);
  o->device = "simt-emu:h100";
  o->seed = 1;
  o->arg_specs = calloc((size_t)argc, sizeof *o->arg_specs);
  o->out_specs = calloc((size_t)argc, sizeof *o->out_specs);
  if (!o->arg_specs || !o->out_specs) return fail(e, 2, "out of memory");
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *val = NULL;
    if (takes_value(a)) {
      if (i + 1 >= argc) return fail(e, 1, "%s needs a value (see --help)", a);
      val = argv[++i];
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(qiao_run_ptx_usage, stdout);
      return -1;
    } else if (!strcmp(a, "--kernel")) {
      o->kernel = val;
    } else if (!strcmp(a, "--device")) {
      o->device = val;
    } else if (!strcmp(a, "--grid") || !strcmp(a, "--block")) {
      int64_t d[3];
      bool grid = a[2] == 'g';
      if (!parse_dims(val, d, grid ? INT32_MAX : 1024))
        return fail(e, 1, "%s: '%s' is not X[,Y,Z] with positive integers%s", a, val,
                    grid ? "" : " up to 1024");
      for (int k = 0; k < 3; ++k) {
        if (grid)
          o->grid[k] = d[k];
        else
          o->block[k] = (int32_t)d[k];
      }
      if (grid)
        o->have_grid = true;
      else
        o->have_block = true;
    } else if (!strcmp(a, "--shared")) {
      if (!parse_u64(val, strlen(val), &o->shared))
        return fail(e, 1, "--shared: '%s' is not a byte count", val);
    } else if (!strcmp(a, "--seed")) {
      if (!parse_u64(val, strlen(val), &o->seed))
        return fail(e, 1, "--seed: '%s' is not a non-negative integer", val);
    } else if (!strcmp(a, "--arg")) {
      o->arg_specs[o->nargs++] = val;
    } else if (!strcmp(a, "--out")) {
      o->out_specs[o->nouts++] = val;
    } else if (!strcmp(a, "--print")) {
      o->print = true;
    } else if (a[0] == '-' && a[1]) {
      return fail(e, 1, "unknown option '%s' for a .ptx file (see --help)", a);
    } else if (o->file) {
      return fail(e, 1, "one .ptx file at a time ('%s' and '%s' given)", o->file, a);
    } else {
      o->file = a;
    }
  }
  if (!o->have_grid) return fail(e, 1, "%s: --grid X[,Y,Z] is required", o->file);
  if (!o->have_block) return fail(e, 1, "%s: --block X[,Y,Z] is required", o->file);
  return 0;
}

/* ------------------------------------------------------------------ run */

static char *read_file(const char *path, size_t *out_len, err_t *e) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fail(e, 1, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = cap ? cap * 2 : 65536;
      char *nb = realloc(buf, cap);
      if (!nb) {
        free(buf);
        fclose(f);
        fail(e, 2, "%s: out of memory", path);
        return NULL;
      }
      buf = nb;
    }
    size_t r = fread(buf + n, 1, cap - n - 1, f);
    n += r;
    if (r == 0) break;
  }
  fclose(f);
  buf[n] = 0;
  *out_len = n;
  return buf;
}

static void list_entries(const qiao_ptx_module_t *m, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = 0;
  for (uint32_t i = 0; i < m->nfuncs; ++i) {
    if (!m->funcs[i].is_entry) continue;
    int w = snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", m->funcs[i].name);
    if (w < 0 || (size_t)w >= cap - n) break;
    n += (size_t)w;
  }
  if (!n) snprintf(buf, cap, "none");
}

static int status_fail(err_t *e, int rc, qiao_status_t s, const char *what) {
  fail(e, rc, "%s: %s", what, qiao_status_message(s));
  qiao_status_free(s);
  return rc;
}

static void print_buffer(int i, const arg_t *a, bool values) {
  const dtype_t *t = a->dtype;
  double sum = 0;
  for (uint64_t k = 0; k < a->count; ++k)
    sum += elem_double(t, a->host + k * t->size);
  printf("arg %d: %s[", i, t->name);
  for (int d = 0; d < a->ndims; ++d)
    printf("%s%" PRIu64, d ? ", " : "", a->dims[d]);
  printf("] checksum=%.9g\n", sum);
  if (!values) return;
  uint64_t row = a->dims[a->ndims - 1];
  for (uint64_t k = 0; k < a->count; ++k) {
    print_elem(t, a->host + k * t->size);
    fputs((k + 1) % row == 0 ? "\n" : " ", stdout);
  }
}

static int run(const ptx_opts_t *o, err_t *e) {
  int rc = 0;
  size_t len = 0;
  char *text = NULL;
  qiao_ptx_module_t *mod = NULL;
  qiao_hal_device_t *dev = NULL;
  qiao_hal_executable_t *exe = NULL;
  arg_t *args = calloc((size_t)o->nargs + 1, sizeof *args);
  void **argv_raw = calloc((size_t)o->nargs + 1, sizeof *argv_raw);
  if (!args || !argv_raw) {
    rc = fail(e, 2, "out of memory");
    goto done;
  }
  for (int i = 0; i < o->nargs; ++i)
    if ((rc = parse_arg(o->arg_specs[i], i, &args[i], e))) goto done;
  for (int i = 0; i < o->nouts; ++i) {
    const char *s = o->out_specs[i], *eq = strchr(s, '=');
    uint64_t idx;
    if (!eq || !parse_u64(s, (size_t)(eq - s), &idx) || !eq[1]) {
      rc = fail(e, 1, "--out '%s': expected I=FILE.npy (I: the 0-based --arg index)", s);
      goto done;
    }
    if (idx >= (uint64_t)o->nargs) {
      rc =
          fail(e, 1, "--out '%s': there are %d --arg arguments (0..%d)", s, o->nargs, o->nargs - 1);
      goto done;
    }
    if (!args[idx].is_buffer) {
      rc = fail(e, 1, "--out '%s': --arg %d '%s' is a scalar, not a buffer", s, (int)idx,
                args[idx].text);
      goto done;
    }
    args[idx].out_path = eq + 1;
  }

  /* The kernel and its parameters. */
  text = read_file(o->file, &len, e);
  if (!text) {
    rc = e->rc;
    goto done;
  }
  qiao_status_t st = qiao_ptx_parse(text, len, o->file, &mod);
  if (st) {
    rc = status_fail(e, 1, st, "cannot read the PTX");
    goto done;
  }
  char entries[1024];
  list_entries(mod, entries, sizeof entries);
  const qiao_ptx_func_t *fn = NULL;
  if (o->kernel) {
    fn = qiao_ptx_module_find_func(mod, o->kernel);
    if (!fn || !fn->is_entry || !fn->has_body) {
      rc = fail(e, 1, "%s: no kernel (.entry) named '%s' (entries: %s)", o->file, o->kernel,
                entries);
      goto done;
    }
  } else {
    int n = 0;
    for (uint32_t i = 0; i < mod->nfuncs; ++i)
      if (mod->funcs[i].is_entry && mod->funcs[i].has_body) {
        fn = &mod->funcs[i];
        ++n;
      }
    if (n != 1) {
      rc = fail(e, 1, "%s: --kernel NAME is required: the file has %d entries (%s)", o->file, n,
                entries);
      goto done;
    }
  }
  if ((int64_t)fn->nparams != o->nargs) {
    char plist[2048];
    size_t n = 0;
    plist[0] = 0;
    for (uint32_t i = 0; i < fn->nparams && n < sizeof plist - 200; ++i) {
      char d[160];
      param_desc(&fn->params[i], d, sizeof d);
      n += (size_t)snprintf(plist + n, sizeof plist - n, "%s%s", i ? ", " : "", d);
    }
    rc = fail(e, 1, "kernel '%s' takes %u parameters (%s) but %d --arg were given", fn->name,
              fn->nparams, plist, o->nargs);
    goto done;
  }
  for (int i = 0; i < o->nargs; ++i)
    if (!args[i].is_buffer && (rc = match_param(fn, i, &args[i], e))) goto done;

  /* Buffers: .npy files, fills. */
  uint64_t seed = o->seed;
  for (int i = 0; i < o->nargs; ++i) {
    arg_t *a = &args[i];
    if (!a->is_buffer) continue;
    if (a->fill == FILL_NPY) {
      npy_t np;
      if ((rc = npy_read(a->npy_path, &np, e))) goto done;
      if (a->dtype) { /* DT[SHAPE]=FILE.npy: dtype and shape must match */
        bool same_type =
            np.dtype == a->dtype || (a->dtype->kind == K_BF16 && !strcmp(np.dtype->npy, "u2"));
        bool same_shape = np.ndims == a->ndims;
        for (int d = 0; same_shape && d < a->ndims; ++d)
          same_shape = np.dims[d] == a->dims[d];
        if (!same_type || !same_shape) {
          free(np.data);
          rc = fail(e, 1,
                    "--arg %d '%s': %s holds %s with %d dimension(s) (first %" PRIu64
                    "), expected %s as given",
                    i, a->text, a->npy_path, np.dtype->name, np.ndims, np.ndims ? np.dims[0] : 0,
                    a->dtype->name);
          goto done;
        }
      } else {
        a->dtype = np.dtype;
        a->ndims = np.ndims ? np.ndims : 1;
        a->dims[0] = 1;
        for (int d = 0; d < np.ndims; ++d)
          a->dims[d] = np.dims[d];
      }
      a->count = np.count;
      a->host = np.data;
      if (a->count == 0) {
        rc = fail(e, 1, "--arg %d '%s': %s holds no elements", i, a->text, a->npy_path);
        goto done;
      }
    } else {
      a->host = calloc((size_t)a->count, a->dtype->size);
      if (!a->host) {
        rc = fail(e, 2, "--arg %d '%s': out of memory", i, a->text);
        goto done;
      }
      if (a->fill == FILL_RANDOM) fill_random(a, &seed);
    }
    if ((rc = match_param(fn, i, a, e))) goto done;
  }

  /* Device, executable, launch. */
  st = qiao_hal_device_open(o->device, &dev);
  if (st) {
    rc = status_fail(e, 1, st, "cannot open the device");
    goto done;
  }
  bool on_simt = !strcmp(qiao_hal_device_driver(dev), "simt-emu");
  if (!on_simt && strcmp(qiao_hal_device_driver(dev), "cuda") != 0) {
    rc = fail(e, 1,
              "device '%s': a .ptx file runs on simt-emu:<profile> or cuda:N (driver '%s' given)",
              o->device, qiao_hal_device_driver(dev));
    goto done;
  }
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX, .data = text, .size = len};
  st = qiao_hal_executable_create(dev, &spec, &exe);
  if (st) {
    rc = status_fail(e, 1, st, o->file);
    goto done;
  }
  int32_t index = -1;
  st = qiao_hal_executable_lookup(exe, fn->name, &index, NULL);
  if (st) {
    rc = status_fail(e, 2, st, o->file);
    goto done;
  }
  for (int i = 0; i < o->nargs; ++i) {
    arg_t *a = &args[i];
    if (a->is_buffer) {
      size_t bytes = (size_t)a->count * a->dtype->size;
      st = qiao_hal_buffer_alloc(dev, bytes, &a->buffer);
      if (!st) st = qiao_hal_buffer_write(a->buffer, 0, a->host, bytes);
      uint64_t addr = 0;
      if (!st)
        st = on_simt ? qiao_hal_simt_buffer_address(a->buffer, 0, &addr)
                     : qiao_hal_cuda_buffer_address(a->buffer, 0, &addr);
      if (st) {
        char w[64];
        snprintf(w, sizeof w, "--arg %d", i);
        rc = status_fail(e, 2, st, w);
        goto done;
      }
      memcpy(a->value, &addr, 8);
    }
    argv_raw[i] = a->value;
  }
  qiao_hal_launch_config_t cfg = {
      {o->grid[0], o->grid[1], o->grid[2]}, {o->block[0], o->block[1], o->block[2]}, o->shared};
  double gpu_ms = 0;
  st = on_simt ? qiao_hal_simt_launch_args(dev, exe, index, &cfg, (void *const *)argv_raw, o->nargs)
               : qiao_hal_cuda_launch_args(dev, exe, index, &cfg, (void *const *)argv_raw, o->nargs,
                                           &gpu_ms);
  if (st) {
    rc = status_fail(e, 2, st, "launch failed");
    goto done;
  }
  printf("kernel '%s' on %s: grid (%lld,%lld,%lld) block (%d,%d,%d) shared %llu: ", fn->name,
         o->device, (long long)cfg.grid[0], (long long)cfg.grid[1], (long long)cfg.grid[2],
         cfg.block[0], cfg.block[1], cfg.block[2], (unsigned long long)cfg.shared_bytes);
  if (on_simt) {
    qiao_hal_simt_stats_t stats;
    st = qiao_hal_simt_last_stats(dev, &stats);
    if (st) {
      rc = status_fail(e, 2, st, "statistics");
      goto done;
    }
    printf("%" PRIu64 " thread-instructions, %" PRIu64 " warp-instructions, %" PRIu64
           " divergent branches, %" PRIu64 " bank conflicts, %.3f ms emulator wall time "
           "(measured)\n",
           stats.thread_instructions, stats.warp_instructions, stats.divergent_branches,
           stats.bank_conflicts, stats.wall_ms);
  } else {
    printf("%.3f ms between CUDA events (measured)\n", gpu_ms);
  }
  for (int i = 0; i < o->nargs; ++i) {
    arg_t *a = &args[i];
    if (!a->is_buffer) continue;
    st = qiao_hal_buffer_read(a->buffer, 0, a->host, (size_t)a->count * a->dtype->size);
    if (st) {
      rc = status_fail(e, 2, st, "reading a buffer back");
      goto done;
    }
    print_buffer(i, a, o->print);
    if (a->out_path) {
      if ((rc = npy_write(a->out_path, a->dtype, a->dims, a->ndims, a->host,
                          (size_t)a->count * a->dtype->size, e)))
        goto done;
      printf("arg %d written to %s\n", i, a->out_path);
    }
  }
done:
  for (int i = 0; args && i < o->nargs; ++i) {
    free(args[i].host);
    qiao_hal_buffer_release(args[i].buffer);
  }
  free(args);
  free(argv_raw);
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(dev);
  qiao_ptx_module_destroy(mod);
  free(text);
  return rc;
}

int qiao_run_ptx_main(int argc, char **argv) {
  ptx_opts_t o;
  err_t e = {0, ""};
  int rc = parse_opts(argc, argv, &o, &e);
  if (rc == 0) rc = run(&o, &e);
  if (rc > 0) fprintf(stderr, "qiao-run: %s\n", e.msg);
  free(o.arg_specs);
  free(o.out_specs);
  fflush(stdout);
  return rc < 0 ? 0 : rc;
}
