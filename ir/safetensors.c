/* safetensors reader and writer.
 *
 * Format (https://huggingface.co/docs/safetensors): an 8-byte little-endian
 * u64 N, then N bytes of a UTF-8 JSON object, then the data section. Each key
 * of the object names a tensor: {"dtype", "shape", "data_offsets": [b, e]}
 * with offsets relative to the data section; "__metadata__" maps strings to
 * strings. We accept only files that are valid in every respect: known
 * dtypes, byte sizes that match the shapes, tensors that neither overlap nor
 * leave holes and that cover the data section exactly, unique names.
 *
 * A parsed file keeps its tensors in one malloc'ed block, each tensor at a
 * 16-byte aligned offset, so views can be read as typed arrays.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "checked.h"
#include "qiao/ir.h"

#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)
#define ST_ALIGN 16

typedef struct st_entry {
  char *name;
  qiao_type_t type;
  uint64_t begin, end; /* relative to the data section */
  size_t storage;      /* offset into st->storage */
} st_entry_t;

struct qiao_safetensors {
  int32_t n;
  st_entry_t *entries; /* file (header) order */
  unsigned char *storage;
};

static const struct {
  const char *name;
  qiao_dtype_t dt;
} k_dtypes[] = {
    {"F32", QIAO_F32},        {"F16", QIAO_F16},        {"BF16", QIAO_BF16},
    {"F8_E4M3", QIAO_F8E4M3}, {"F8_E5M2", QIAO_F8E5M2}, {"I8", QIAO_I8},
    {"I32", QIAO_I32},        {"I64", QIAO_I64},        {"BOOL", QIAO_BOOL},
};

static bool st_dtype_from_name(const char *s, qiao_dtype_t *out) {
  for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; ++i) {
    if (strcmp(k_dtypes[i].name, s) == 0) {
      *out = k_dtypes[i].dt;
      return true;
    }
  }
  return false;
}

static const char *st_dtype_name(qiao_dtype_t dt) {
  for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; ++i) {
    if (k_dtypes[i].dt == dt)
      return k_dtypes[i].name;
  }
  return NULL;
}

void qiao_safetensors_destroy(qiao_safetensors_t *st) {
  if (!st)
    return;
  for (int32_t i = 0; i < st->n; ++i)
    free(st->entries[i].name);
  free(st->entries);
  free(st->storage);
  free(st);
}

#define ST_ERR(...) qiao_status_make(QIAO_INVALID_ARGUMENT, __VA_ARGS__)

/* Parses one tensor entry `val` named `key` into *e (name not set). */
static qiao_status_t st_parse_entry(const char *path, const char *key, json_t *val,
                                    uint64_t data_len, uint64_t data_start, st_entry_t *e) {
  if (!json_is_object(val)) {
    return ST_ERR("%s: tensor '%s': entry is not an object", path, key);
  }
  const char *k;
  json_t *v;
  json_object_foreach(val, k, v) {
    if (strcmp(k, "dtype") != 0 && strcmp(k, "shape") != 0 && strcmp(k, "data_offsets") != 0) {
      return ST_ERR("%s: tensor '%s': unknown field '%s'", path, key, k);
    }
  }
  json_t *jd = json_object_get(val, "dtype");
  if (!jd)
    return ST_ERR("%s: tensor '%s': missing \"dtype\"", path, key);
  if (!json_is_string(jd))
    return ST_ERR("%s: tensor '%s': \"dtype\" is not a string", path, key);
  if (!st_dtype_from_name(json_string_value(jd), &e->type.dtype)) {
    return ST_ERR("%s: tensor '%s': unknown dtype '%s' (supported: F32 F16 BF16 F8_E4M3 F8_E5M2 "
                  "I8 I32 I64 BOOL)",
                  path, key, json_string_value(jd));
  }

  json_t *js = json_object_get(val, "shape");
  if (!js)
    return ST_ERR("%s: tensor '%s': missing \"shape\"", path, key);
  if (!json_is_array(js))
    return ST_ERR("%s: tensor '%s': \"shape\" is not an array", path, key);
  size_t rank = json_array_size(js);
  if (rank > QIAO_MAX_RANK) {
    return ST_ERR("%s: tensor '%s': rank %zu exceeds the maximum %d", path, key, rank,
                  QIAO_MAX_RANK);
  }
  e->type.shape.rank = (int32_t)rank;
  for (size_t i = 0; i < rank; ++i) {
    json_t *d = json_array_get(js, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0) {
      return ST_ERR("%s: tensor '%s': shape[%zu] is not a non-negative integer", path, key, i);
    }
    e->type.shape.dims[i] = (int64_t)json_integer_value(d);
  }
  /* element count and bytes must fit int64 (zero dims counted as 1: the
   * strides of an empty tensor must fit too) */
  int64_t nbytes_i = 0;
  if (!qiao_type_nbytes(&e->type, &nbytes_i))
    return ST_ERR("%s: tensor '%s': shape is too large", path, key);
  uint64_t nbytes = (uint64_t)nbytes_i;

  json_t *jo = json_object_get(val, "data_offsets");
  if (!jo)
    return ST_ERR("%s: tensor '%s': missing \"data_offsets\"", path, key);
  if (!json_is_array(jo) || json_array_size(jo) != 2 || !json_is_integer(json_array_get(jo, 0)) ||
      !json_is_integer(json_array_get(jo, 1)) || json_integer_value(json_array_get(jo, 0)) < 0 ||
      json_integer_value(json_array_get(jo, 1)) < 0) {
    return ST_ERR("%s: tensor '%s': \"data_offsets\" is not [begin, end] of non-negative integers",
                  path, key);
  }
  e->begin = (uint64_t)json_integer_value(json_array_get(jo, 0));
  e->end = (uint64_t)json_integer_value(json_array_get(jo, 1));
  if (e->begin > e->end) {
    return ST_ERR("%s: tensor '%s': data_offsets begin %" PRIu64 " > end %" PRIu64, path, key,
                  e->begin, e->end);
  }
  if (e->end > data_len) {
    return ST_ERR("%s: tensor '%s': data ends at byte %" PRIu64 " (data_offsets end %" PRIu64
                  "), beyond the end of the file at byte %" PRIu64,
                  path, key, data_start + e->end, e->end, data_start + data_len);
  }
  if (e->end - e->begin != nbytes) {
    char tb[96];
    qiao_type_str(&e->type, tb, sizeof tb);
    return ST_ERR("%s: tensor '%s': %" PRIu64 " bytes at data_offsets [%" PRIu64 ", %" PRIu64
                  "] but %s needs %" PRIu64 " bytes",
                  path, key, e->end - e->begin, e->begin, e->end, tb, nbytes);
  }
  return NULL;
}

static int st_cmp_by_offset(const void *pa, const void *pb) {
  const st_entry_t *a = *(const st_entry_t *const *)pa, *b = *(const st_entry_t *const *)pb;
  if (a->begin != b->begin)
    return a->begin < b->begin ? -1 : 1;
  if (a->end != b->end)
    return a->end < b->end ? -1 : 1;
  return 0;
}

static qiao_status_t st_check_layout(const char *path, qiao_safetensors_t *st, uint64_t data_len,
                                     uint64_t data_start) {
  if (st->n == 0) {
    if (data_len != 0) {
      return ST_ERR("%s: byte %" PRIu64 ": %" PRIu64 " bytes of data but no tensors", path,
                    data_start, data_len);
    }
    return NULL;
  }
  st_entry_t **order = malloc(sizeof *order * (size_t)st->n);
  if (!order)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  for (int32_t i = 0; i < st->n; ++i)
    order[i] = &st->entries[i];
  qsort(order, (size_t)st->n, sizeof *order, st_cmp_by_offset);
  qiao_status_t s = NULL;
  uint64_t pos = 0;
  const char *prev = NULL;
  for (int32_t i = 0; i < st->n && !s; ++i) {
    st_entry_t *e = order[i];
    if (e->begin < pos) {
      s = ST_ERR("%s: tensor '%s' (bytes %" PRIu64 "..%" PRIu64 ") overlaps tensor '%s' (ends at "
                 "byte %" PRIu64 ")",
                 path, e->name, data_start + e->begin, data_start + e->end, prev, data_start + pos);
    } else if (e->begin > pos) {
      s = ST_ERR("%s: byte %" PRIu64 ": hole of %" PRIu64 " bytes in the data section before "
                 "tensor '%s' (not covered by any tensor)",
                 path, data_start + pos, e->begin - pos, e->name);
    }
    pos = e->end;
    prev = e->name;
  }
  if (!s && pos != data_len) {
    s = ST_ERR("%s: byte %" PRIu64 ": %" PRIu64
               " trailing bytes after the last tensor '%s' are not "
               "covered by any tensor",
               path, data_start + pos, data_len - pos, prev);
  }
  free(order);
  return s;
}

qiao_status_t qiao_safetensors_parse(const void *data, size_t len, const char *name,
                                     qiao_safetensors_t **out_st) {
  *out_st = NULL;
  const char *path = name ? name : "<memory>";
  const unsigned char *p = data;
  if (len < 8) {
    return ST_ERR("%s: byte 0: file is %zu bytes, shorter than the 8-byte header length", path,
                  len);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | p[i];
  if (n > ST_MAX_HEADER) {
    return ST_ERR("%s: byte 0: header length %" PRIu64 " exceeds the 100 MB limit", path, n);
  }
  if (n > len - 8) {
    return ST_ERR("%s: byte 0: header length %" PRIu64 " runs past the end of the file (%zu bytes)",
                  path, n, len);
  }
  if (n < 2) {
    return ST_ERR("%s: byte 8: header of %" PRIu64 " bytes is too short for a JSON object", path,
                  n);
  }
  uint64_t data_start = 8 + n;
  uint64_t data_len = (uint64_t)len - data_start;

  json_error_t jerr;
  json_t *root = json_loadb((const char *)p + 8, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
  if (!root) {
    return ST_ERR("%s: byte %" PRIu64 ": invalid JSON header: %s", path,
                  (uint64_t)8 + (uint64_t)(jerr.position > 0 ? jerr.position : 0), jerr.text);
  }
  if (!json_is_object(root)) {
    json_decref(root);
    return ST_ERR("%s: byte 8: header is not a JSON object", path);
  }

  qiao_status_t s = NULL;
  qiao_safetensors_t *st = calloc(1, sizeof *st);
  size_t cap = json_object_size(root);
  if (st) st->entries = calloc(cap ? cap : 1, sizeof *st->entries);
  if (!st || !st->entries) {
    free(st);
    json_decref(root);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  }
  const char *key;
  json_t *val;
  json_object_foreach(root, key, val) {
    if (strcmp(key, "__metadata__") == 0) {
      if (!json_is_object(val)) {
        s = ST_ERR("%s: \"__metadata__\" is not an object", path);
        break;
      }
      const char *mk;
      json_t *mv;
      json_object_foreach(val, mk, mv) {
        if (!json_is_string(mv)) {
          s = ST_ERR("%s: \"__metadata__\" value for '%s' is not a string", path, mk);
          break;
        }
      }
      if (s)
        break;
      continue;
    }
    st_entry_t *e = &st->entries[st->n];
    s = st_parse_entry(path, key, val, data_len, data_start, e);
    if (s)
      break;
    e->name = strdup(key);
    if (!e->name) {
      s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
      break;
    }
    st->n++;
  }
  json_decref(root);
  if (!s)
    s = st_check_layout(path, st, data_len, data_start);
  if (!s) {
    /* Copy every tensor to its own aligned slot. */
    size_t total = 0;
    for (int32_t i = 0; i < st->n; ++i) {
      st->entries[i].storage = total;
      size_t nb = (size_t)(st->entries[i].end - st->entries[i].begin);
      total += (nb + ST_ALIGN - 1) / ST_ALIGN * ST_ALIGN;
    }
    st->storage = aligned_alloc(ST_ALIGN, total ? total : ST_ALIGN);
    if (!st->storage) {
      s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory (%zu bytes)", path, total);
    } else {
      for (int32_t i = 0; i < st->n; ++i) {
        const st_entry_t *e = &st->entries[i];
        memcpy(st->storage + e->storage, p + data_start + e->begin, (size_t)(e->end - e->begin));
      }
    }
  }
  if (s) {
    qiao_safetensors_destroy(st);
    return s;
  }
  *out_st = st;
  return NULL;
}

qiao_status_t qiao_safetensors_open(const char *path, qiao_safetensors_t **out_st) {
  *out_st = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) {
    return qiao_status_make(errno == ENOENT ? QIAO_NOT_FOUND : QIAO_IO_ERROR, "%s: cannot open: %s",
                            path, strerror(errno));
  }
  size_t cap = 1 << 16, len = 0;
  unsigned char *buf = malloc(cap);
  qiao_status_t s = NULL;
  for (;;) {
    if (!buf) {
      s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
      break;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) {
      if (ferror(f))
        s = qiao_status_make(QIAO_IO_ERROR, "%s: read error", path);
      break;
    }
    if (len == cap) {
      cap *= 2;
      unsigned char *nb = realloc(buf, cap);
      if (!nb)
        free(buf);
      buf = nb;
    }
  }
  fclose(f);
  if (!s)
    s = qiao_safetensors_parse(buf, len, path, out_st);
  free(buf);
  return s;
}

int32_t qiao_safetensors_count(const qiao_safetensors_t *st) { return st ? st->n : 0; }

const char *qiao_safetensors_name(const qiao_safetensors_t *st, int32_t i) {
  if (!st || i < 0 || i >= st->n)
    return NULL;
  return st->entries[i].name;
}

qiao_status_t qiao_safetensors_get(const qiao_safetensors_t *st, const char *name,
                                   qiao_tensor_t *out_view) {
  for (int32_t i = 0; st && i < st->n; ++i) {
    if (strcmp(st->entries[i].name, name) == 0) {
      out_view->type = st->entries[i].type;
      out_view->data = st->storage + st->entries[i].storage;
      out_view->owns_data = false;
      return NULL;
    }
  }
  return qiao_status_make(QIAO_NOT_FOUND, "tensor '%s' not found", name);
}

/* ------------------------------------------------------------------ writer */

static qiao_status_t st_build_header(const char *path, const char *const *names,
                                     const qiao_tensor_t *const *tensors, int32_t n,
                                     char **out_json, size_t *out_len, uint64_t *out_data_len) {
  json_t *root = json_object();
  if (!root)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  uint64_t off = 0;
  qiao_status_t s = NULL;
  for (int32_t i = 0; i < n && !s; ++i) {
    const qiao_tensor_t *t = tensors[i];
    const char *dn = t ? st_dtype_name(t->type.dtype) : NULL;
    if (!names[i] || !names[i][0] || !t || !dn || t->type.shape.rank < 0 ||
        t->type.shape.rank > QIAO_MAX_RANK) {
      s = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: tensor %d ('%s'): invalid name or tensor",
                           path, i, names[i] ? names[i] : "(null)");
      break;
    }
    if (strcmp(names[i], "__metadata__") == 0) {
      s = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: tensor name '__metadata__' is reserved",
                           path);
      break;
    }
    if (json_object_get(root, names[i])) {
      s = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: duplicate tensor name '%s'", path, names[i]);
      break;
    }
    json_t *shape = json_array();
    for (int32_t d = 0; d < t->type.shape.rank; ++d) {
      json_array_append_new(shape, json_integer(t->type.shape.dims[d]));
    }
    int64_t nbytes;
    if (!qiao_type_nbytes(&t->type, &nbytes) || !qiao_ck_add((int64_t)off, nbytes, &(int64_t){0})) {
      char tb[128];
      s = qiao_status_make(QIAO_INVALID_ARGUMENT,
                           "%s: tensor '%s' %s: its byte size overflows 64 bits", path, names[i],
                           qiao_type_str(&t->type, tb, sizeof tb));
      break;
    }
    uint64_t nb = (uint64_t)nbytes;
    json_t *entry = json_pack("{s:s, s:o, s:[I, I]}", "dtype", dn, "shape", shape, "data_offsets",
                              (json_int_t)off, (json_int_t)(off + nb));
    if (!entry || json_object_set_new(root, names[i], entry) != 0) {
      s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    }
    off += nb;
  }
  if (!s) {
    char *js = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!js) {
      s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
    } else {
      size_t jl = strlen(js);
      size_t padded = (jl + 7) / 8 * 8; /* 8 + padded stays 8-byte aligned */
      char *out = malloc(padded);
      if (!out) {
        s = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
      } else {
        memcpy(out, js, jl);
        memset(out + jl, ' ', padded - jl);
        *out_json = out;
        *out_len = padded;
        *out_data_len = off;
      }
      free(js);
    }
  }
  json_decref(root);
  return s;
}

qiao_status_t qiao_safetensors_write(const char *path, const char *const *names,
                                     const qiao_tensor_t *const *tensors, int32_t n) {
  if (n < 0 || (n > 0 && (!names || !tensors))) {
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: invalid tensor list", path);
  }
  char *hdr = NULL;
  size_t hlen = 0;
  uint64_t dlen = 0; /* data section size, for the record */
  QIAO_RETURN_IF_ERROR(st_build_header(path, names, tensors, n, &hdr, &hlen, &dlen));
  (void)dlen;

  size_t tl = strlen(path) + 32;
  char *tmp = malloc(tl);
  if (!tmp) {
    free(hdr);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  }
  snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    qiao_status_t s =
        qiao_status_make(QIAO_IO_ERROR, "%s: cannot create '%s': %s", path, tmp, strerror(errno));
    free(tmp);
    free(hdr);
    return s;
  }
  unsigned char lenbuf[8];
  for (int i = 0; i < 8; ++i)
    lenbuf[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
  bool ok = fwrite(lenbuf, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
  for (int32_t i = 0; i < n && ok; ++i) {
    int64_t nbytes = 0; /* checked while building the header */
    qiao_type_nbytes(&tensors[i]->type, &nbytes);
    size_t nb = (size_t)nbytes;
    ok = nb == 0 || fwrite(tensors[i]->data, 1, nb, f) == nb;
  }
  int err = ok ? 0 : errno;
  if (fflush(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (fclose(f) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && rename(tmp, path) != 0) {
    ok = false;
    err = errno;
  }
  qiao_status_t s = NULL;
  if (!ok) {
    remove(tmp);
    s = qiao_status_make(QIAO_IO_ERROR, "%s: write failed: %s", path,
                         err ? strerror(err) : "short write");
  }
  free(tmp);
  free(hdr);
  return s;
}
