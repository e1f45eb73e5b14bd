/* Qiao HAL — device profiles: JSON spec sheets, validated (docs/profiles.md). */
#include <dirent.h>
#include <errno.h>
#include <unistd.h>

#include "hal_internal.h"
#include "profile_internal.h"

#ifndef QIAO_PROFILE_DIR
#define QIAO_PROFILE_DIR "hal/profiles"
#endif

struct qiao_hal_profile {
  qiao_hal_profile_info_t info;
  qiao_hal_profile_details_t details;
  json_t *root; /* owns the strings info/details point into */
  char *path;
  char *notes;
  const char **dtypes;
  const char **sources;
};

void qiao_hal_profile_destroy(qiao_hal_profile_t *p) {
  if (!p) return;
  json_decref(p->root);
  free(p->path);
  free(p->notes);
  free(p->dtypes);
  free(p->sources);
  free(p);
}

const qiao_hal_profile_info_t *qiao_hal_profile_info(const qiao_hal_profile_t *p) {
  return &p->info;
}

const qiao_hal_profile_details_t *qiao_hal_profile_details(const qiao_hal_profile_t *p) {
  return &p->details;
}

bool qiao_hal_profile_supports_dtype(const qiao_hal_profile_t *p, const char *dtype) {
  for (int32_t i = 0; i < p->details.n_dtypes; ++i)
    if (!strcmp(p->details.dtypes[i], dtype)) return true;
  return false;
}

/* -------------------------------------------------------------- validation */

typedef struct vctx {
  const char *path;
} vctx_t;

static const char *json_kind(const json_t *v) {
  switch (json_typeof(v)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "?";
}

static void full_key(char *buf, size_t n, const char *prefix, const char *key) {
  if (prefix)
    snprintf(buf, n, "%s.%s", prefix, key);
  else
    snprintf(buf, n, "%s", key);
}

static qiao_status_t missing(const vctx_t *c, const char *prefix, const char *key) {
  char k[128];
  full_key(k, sizeof k, prefix, key);
  return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: missing key '%s'", c->path, k);
}

static qiao_status_t wrong_type(const vctx_t *c, const char *prefix, const char *key,
                                const char *expected, const json_t *v) {
  char k[128];
  full_key(k, sizeof k, prefix, key);
  return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: key '%s' must be %s (got %s)", c->path, k,
                          expected, json_kind(v));
}

/* Rejects keys of `obj` not in the NULL-terminated `known` list. */
static qiao_status_t check_keys(const vctx_t *c, json_t *obj, const char *prefix,
                                const char *const *known) {
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (const char *const *k = known; *k && !ok; ++k) ok = !strcmp(*k, key);
    if (ok) continue;
    char list[512] = "", fk[128];
    for (const char *const *k = known; *k; ++k) {
      if (k != known) strncat(list, ", ", sizeof list - strlen(list) - 1);
      strncat(list, *k, sizeof list - strlen(list) - 1);
    }
    full_key(fk, sizeof fk, prefix, key);
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: unknown key '%s' (known%s%s: %s)",
                            c->path, fk, prefix ? " in " : "", prefix ? prefix : "", list);
  }
  return NULL;
}

static qiao_status_t get_object(const vctx_t *c, json_t *obj, const char *prefix,
                                const char *key, bool required, json_t **out) {
  json_t *v = json_object_get(obj, key);
  *out = NULL;
  if (!v) return required ? missing(c, prefix, key) : NULL;
  if (!json_is_object(v)) return wrong_type(c, prefix, key, "an object", v);
  *out = v;
  return NULL;
}

static qiao_status_t get_string(const vctx_t *c, json_t *obj, const char *prefix,
                                const char *key, bool required, const char **out) {
  json_t *v = json_object_get(obj, key);
  if (!v) return required ? missing(c, prefix, key) : NULL;
  if (!json_is_string(v)) return wrong_type(c, prefix, key, "a string", v);
  *out = json_string_value(v);
  return NULL;
}

/* A number >= 0 (> 0 when `positive`), times `scale`; left alone when absent. */
static qiao_status_t get_number(const vctx_t *c, json_t *obj, const char *prefix,
                                const char *key, bool required, bool positive, double scale,
                                double *out) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  if (!v) return required ? missing(c, prefix, key) : NULL;
  if (!json_is_number(v)) return wrong_type(c, prefix, key, "a number", v);
  double x = json_number_value(v);
  if (x < 0 || (positive && x == 0) || x != x) {
    char k[128];
    full_key(k, sizeof k, prefix, key);
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: key '%s' must be %s (got %g)", c->path,
                            k, positive ? "positive" : "non-negative", x);
  }
  *out = x * scale;
  return NULL;
}

static qiao_status_t get_int(const vctx_t *c, json_t *obj, const char *key, bool required,
                             int32_t *out) {
  json_t *v = json_object_get(obj, key);
  if (!v) return required ? missing(c, NULL, key) : NULL;
  if (!json_is_integer(v)) return wrong_type(c, NULL, key, "an integer", v);
  json_int_t x = json_integer_value(v);
  if (x <= 0 || x > INT32_MAX)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: key '%s' must be positive (got %lld)",
                            c->path, key, (long long)x);
  *out = (int32_t)x;
  return NULL;
}

static const char *const kKnownDtypes[] = {"f64", "f32",    "tf32",   "f16", "bf16", "f8e4m3",
                                           "f8e5m2", "i64", "i32",    "i16", "i8",   "u8",
                                           "i4",  "bool",   NULL};

/* An array of strings; with `dtype_names` each must be a known dtype. */
static qiao_status_t get_string_array(const vctx_t *c, json_t *obj, const char *key,
                                      bool dtype_names, const char ***out, int32_t *out_n) {
  json_t *v = json_object_get(obj, key);
  if (!v) return missing(c, NULL, key);
  if (!json_is_array(v)) return wrong_type(c, NULL, key, "an array of strings", v);
  size_t n = json_array_size(v);
  if (n == 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: key '%s' must not be empty", c->path,
                            key);
  const char **arr = calloc(n, sizeof(char *));
  if (!arr) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", c->path);
  for (size_t i = 0; i < n; ++i) {
    json_t *s = json_array_get(v, i);
    char k[64];
    snprintf(k, sizeof k, "%s[%zu]", key, i);
    if (!json_is_string(s)) {
      free(arr);
      return wrong_type(c, NULL, k, "a string", s);
    }
    arr[i] = json_string_value(s);
    if (dtype_names) {
      bool ok = false;
      for (const char *const *d = kKnownDtypes; *d && !ok; ++d) ok = !strcmp(*d, arr[i]);
      if (!ok) {
        qiao_status_t st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                                            "%s: key '%s' is an unknown dtype '%s' (known: f64 "
                                            "f32 tf32 f16 bf16 f8e4m3 f8e5m2 i64 i32 i16 i8 u8 "
                                            "i4 bool)",
                                            c->path, k, arr[i]);
        free(arr);
        return st;
      }
    }
  }
  *out = arr;
  *out_n = (int32_t)n;
  return NULL;
}

/* "notes": a string or an array of strings (joined with newlines). */
static qiao_status_t get_notes(const vctx_t *c, json_t *obj, char **out) {
  json_t *v = json_object_get(obj, "notes");
  size_t total = 1;
  if (!v) {
    *out = calloc(1, 1);
    return *out ? NULL : qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (json_is_string(v)) {
    *out = qiao_hal_strdup(json_string_value(v));
    return *out ? NULL : qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  if (!json_is_array(v)) return wrong_type(c, NULL, "notes", "a string or array of strings", v);
  for (size_t i = 0; i < json_array_size(v); ++i) {
    json_t *s = json_array_get(v, i);
    if (!json_is_string(s)) {
      char k[64];
      snprintf(k, sizeof k, "notes[%zu]", i);
      return wrong_type(c, NULL, k, "a string", s);
    }
    total += strlen(json_string_value(s)) + 1;
  }
  char *buf = calloc(1, total);
  if (!buf) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (size_t i = 0; i < json_array_size(v); ++i) {
    if (i) strcat(buf, "\n");
    strcat(buf, json_string_value(json_array_get(v, i)));
  }
  *out = buf;
  return NULL;
}

static const char *const kTopKeys[] = {
    "name",  "class",  "arch",         "measured", "peak_tflops", "memory", "onchip",
    "cores", "warp_size", "vector_width", "dtypes", "interconnect", "tdp_w", "sources",
    "notes", "host",   "sm",          "model", NULL};
static const char *const kPeakKeys[] = {"f32", "tf32", "f16", "bf16", "f8", "i8", NULL};
static const char *const kMemoryKeys[] = {"capacity_gb", "bandwidth_gbps", "type", NULL};
static const char *const kOnchipKeys[] = {"shared_kb", "ub_kb", "l1_kb", "l0a_kb", "l0b_kb",
                                          "l0c_kb",    "l2_kb", "l2_mb", "l3_mb",  NULL};
static const char *const kInterconnectKeys[] = {"name", "bandwidth_gbps", NULL};
static const char *const kSmKeys[] = {"registers", "max_threads", "max_warps", "max_ctas",
                                      "shared_per_cta_kb", "clock_mhz", NULL};
static const char *const kModelKeys[] = {"launch_us", "mem_latency_ns", "host_link_gbps", NULL};
static const char *const kHostKeys[] = {"cpu_name", "isa", "threads", "f32_tflops_1thread",
                                        "bf16_native", "measure_ms", "version", NULL};

static qiao_status_t build(const vctx_t *c, json_t *root, qiao_hal_profile_t *p) {
  qiao_hal_profile_info_t *in = &p->info;
  qiao_hal_profile_details_t *de = &p->details;
  if (!json_is_object(root))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: the top level must be an object (got %s)",
                            c->path, json_kind(root));
  QIAO_RETURN_IF_ERROR(check_keys(c, root, NULL, kTopKeys));
  QIAO_RETURN_IF_ERROR(get_string(c, root, NULL, "name", true, &in->name));
  const char *cls = NULL;
  QIAO_RETURN_IF_ERROR(get_string(c, root, NULL, "class", true, &cls));
  int32_t k = 0;
  while (k < QIAO_HAL_CLASS_COUNT && strcmp(cls, qiao_hal_device_class_name(k))) ++k;
  if (k < QIAO_HAL_CLASS_COUNT)
    in->device_class = (qiao_hal_device_class_t)k;
  else
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: key 'class' must be one of \"cpu\", \"cuda\", \"ascend\" (got "
                            "\"%s\")",
                            c->path, cls);
  de->arch = "";
  QIAO_RETURN_IF_ERROR(get_string(c, root, NULL, "arch", false, &de->arch));
  json_t *measured = json_object_get(root, "measured");
  if (measured && !json_is_boolean(measured))
    return wrong_type(c, NULL, "measured", "a boolean", measured);
  in->measured = measured && json_is_true(measured);

  json_t *peak, *mem, *onchip, *ic, *host;
  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "peak_tflops", true, &peak));
  QIAO_RETURN_IF_ERROR(check_keys(c, peak, "peak_tflops", kPeakKeys));
  const double T = 1e12;
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "f32", true, true, T, &in->peak_flops_f32));
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "tf32", false, false, T, &de->peak_flops_tf32));
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "f16", true, false, T, &in->peak_flops_f16));
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "bf16", true, false, T, &in->peak_flops_bf16));
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "f8", false, false, T, &in->peak_flops_f8));
  QIAO_RETURN_IF_ERROR(get_number(c, peak, "peak_tflops", "i8", false, false, T, &in->peak_ops_i8));

  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "memory", true, &mem));
  QIAO_RETURN_IF_ERROR(check_keys(c, mem, "memory", kMemoryKeys));
  QIAO_RETURN_IF_ERROR(get_number(c, mem, "memory", "capacity_gb", true, true, 1e9, &in->mem_bytes));
  QIAO_RETURN_IF_ERROR(
      get_number(c, mem, "memory", "bandwidth_gbps", true, true, 1e9, &in->mem_bandwidth));
  const char *mtype = NULL;
  QIAO_RETURN_IF_ERROR(get_string(c, mem, "memory", "type", false, &mtype));

  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "onchip", false, &onchip));
  if (onchip) {
    const double K = 1024, M = 1024 * 1024;
    double l2_core = 0, l3 = 0;
    QIAO_RETURN_IF_ERROR(check_keys(c, onchip, "onchip", kOnchipKeys));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "shared_kb", false, false, K, &de->shared_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "ub_kb", false, false, K, &de->ub_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l1_kb", false, false, K, &de->l1_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l0a_kb", false, false, K, &de->l0a_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l0b_kb", false, false, K, &de->l0b_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l0c_kb", false, false, K, &de->l0c_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l2_kb", false, false, K, &l2_core));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l2_mb", false, false, M, &de->l2_bytes));
    QIAO_RETURN_IF_ERROR(get_number(c, onchip, "onchip", "l3_mb", false, false, M, &l3));
    /* shared memory per SM / UB per core / L2 per core (CPUs) / L1. */
    in->onchip_bytes = de->shared_bytes   ? de->shared_bytes
                       : de->ub_bytes     ? de->ub_bytes
                       : l2_core          ? l2_core
                                          : de->l1_bytes;
    if (!de->l2_bytes && l2_core) de->l2_bytes = l2_core;
  }

  QIAO_RETURN_IF_ERROR(get_int(c, root, "cores", true, &in->cores));
  bool has_warp = json_object_get(root, "warp_size") != NULL;
  bool has_vec = json_object_get(root, "vector_width") != NULL;
  if (!has_warp && !has_vec)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "%s: missing key 'warp_size' (or 'vector_width')", c->path);
  QIAO_RETURN_IF_ERROR(
      get_int(c, root, has_warp ? "warp_size" : "vector_width", true, &in->vector_width));

  QIAO_RETURN_IF_ERROR(get_string_array(c, root, "dtypes", true, &p->dtypes, &de->n_dtypes));
  de->dtypes = p->dtypes;

  de->interconnect = "";
  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "interconnect", false, &ic));
  if (ic) {
    QIAO_RETURN_IF_ERROR(check_keys(c, ic, "interconnect", kInterconnectKeys));
    QIAO_RETURN_IF_ERROR(get_string(c, ic, "interconnect", "name", true, &de->interconnect));
    QIAO_RETURN_IF_ERROR(get_number(c, ic, "interconnect", "bandwidth_gbps", false, false, 1e9,
                                    &de->interconnect_bandwidth));
  }
  QIAO_RETURN_IF_ERROR(get_number(c, root, NULL, "tdp_w", false, false, 1, &in->tdp_watts));
  QIAO_RETURN_IF_ERROR(get_string_array(c, root, "sources", false, &p->sources, &de->n_sources));
  de->sources = p->sources;
  QIAO_RETURN_IF_ERROR(get_notes(c, root, &p->notes));
  de->notes = p->notes;

  /* CUDA-class SM limits and model parameters (docs/profiles.md, docs/cuda-model.md). */
  json_t *sm = NULL, *model = NULL;
  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "sm", false, &sm));
  if (sm) {
    double regs = 0, thr = 0, warps = 0, ctas = 0;
    QIAO_RETURN_IF_ERROR(check_keys(c, sm, "sm", kSmKeys));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "registers", true, true, 1, &regs));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "max_threads", true, true, 1, &thr));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "max_warps", true, true, 1, &warps));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "max_ctas", true, true, 1, &ctas));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "shared_per_cta_kb", false, false, 1024,
                                    &de->sm_shared_per_cta));
    QIAO_RETURN_IF_ERROR(get_number(c, sm, "sm", "clock_mhz", false, false, 1e6, &de->sm_clock_hz));
    const double v[4] = {regs, thr, warps, ctas};
    const char *const names[4] = {"registers", "max_threads", "max_warps", "max_ctas"};
    for (int i = 0; i < 4; ++i)
      if (v[i] != (double)(int32_t)v[i])
        return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: key 'sm.%s' must be an integer",
                                c->path, names[i]);
    de->sm_registers = (int32_t)regs;
    de->sm_max_threads = (int32_t)thr;
    de->sm_max_warps = (int32_t)warps;
    de->sm_max_ctas = (int32_t)ctas;
  }
  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "model", false, &model));
  if (model) {
    QIAO_RETURN_IF_ERROR(check_keys(c, model, "model", kModelKeys));
    QIAO_RETURN_IF_ERROR(
        get_number(c, model, "model", "launch_us", false, false, 1e3, &de->launch_overhead_ns));
    QIAO_RETURN_IF_ERROR(
        get_number(c, model, "model", "mem_latency_ns", false, false, 1, &de->mem_latency_ns));
    QIAO_RETURN_IF_ERROR(get_number(c, model, "model", "host_link_gbps", false, false, 1e9,
                                    &de->host_link_bandwidth));
  }

  QIAO_RETURN_IF_ERROR(get_object(c, root, NULL, "host", false, &host));
  if (host) {
    QIAO_RETURN_IF_ERROR(check_keys(c, host, "host", kHostKeys));
    QIAO_RETURN_IF_ERROR(get_number(c, host, "host", "f32_tflops_1thread", false, false, T,
                                    &de->peak_flops_f32_1thread));
  }
  return NULL;
}

qiao_status_t qiao_hal_profile_from_json(json_t *root, const char *path,
                                         qiao_hal_profile_t **out_profile) {
  *out_profile = NULL;
  qiao_hal_profile_t *p = calloc(1, sizeof(*p));
  if (!p) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  p->root = json_incref(root);
  p->path = qiao_hal_strdup(path);
  if (!p->path) {
    qiao_hal_profile_destroy(p);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "%s: out of memory", path);
  }
  p->details.path = p->path;
  vctx_t c = {path};
  qiao_status_t st = build(&c, root, p);
  if (st) {
    qiao_hal_profile_destroy(p);
    return st;
  }
  *out_profile = p;
  return NULL;
}

qiao_status_t qiao_hal_profile_load(const char *path, qiao_hal_profile_t **out_profile) {
  *out_profile = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return qiao_status_make(QIAO_NOT_FOUND, "%s: cannot open: %s", path, strerror(errno));
  json_error_t err;
  json_t *root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
  fclose(f);
  if (!root)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s:%d:%d: %s", path, err.line, err.column,
                            err.text);
  qiao_status_t st = qiao_hal_profile_from_json(root, path, out_profile);
  json_decref(root);
  return st;
}

/* ------------------------------------------------------------ named lookup */

static const char *profile_dir(void) {
  const char *env = getenv("QIAO_PROFILE_DIR");
  return env && *env ? env : QIAO_PROFILE_DIR;
}

static bool file_exists(const char *path) { return access(path, R_OK) == 0; }

qiao_status_t qiao_hal_profile_load_named(const char *name, qiao_hal_profile_t **out_profile) {
  *out_profile = NULL;
  if (!name || !*name) return qiao_status_make(QIAO_INVALID_ARGUMENT, "empty profile name");
  if (!strcmp(name, "host") || !strcmp(name, "host-cpu") || !strcmp(name, "cpu"))
    return qiao_hal_profile_host(out_profile);
  if (strchr(name, '/'))
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "profile name '%s' contains '/' (use qiao_hal_profile_load for paths)",
                            name);
  const char *dir = profile_dir();
  char path[4096];
  snprintf(path, sizeof path, "%s/%s.json", dir, name);
  if (file_exists(path)) return qiao_hal_profile_load(path, out_profile);

  /* Aliases: a file whose stem ends in "-<name>" ("910b" → ascend-910b.json),
   * or whose "name" field is <name> ("h100-sxm" → h100.json). */
  DIR *dp = opendir(dir);
  if (!dp)
    return qiao_status_make(QIAO_NOT_FOUND, "profile '%s': cannot open profile dir '%s': %s",
                            name, dir, strerror(errno));
  char known[1024] = "";
  char match[4096] = "";
  size_t nlen = strlen(name);
  struct dirent *ent;
  while ((ent = readdir(dp))) {
    size_t len = strlen(ent->d_name);
    if (len < 6 || strcmp(ent->d_name + len - 5, ".json")) continue;
    size_t stem = len - 5;
    if (*known) strncat(known, ", ", sizeof known - strlen(known) - 1);
    strncat(known, ent->d_name, stem < sizeof known - strlen(known) - 1 ? stem : 0);
    if (*match) continue;
    snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
    if (stem > nlen && ent->d_name[stem - nlen - 1] == '-' &&
        !strncmp(ent->d_name + stem - nlen, name, nlen)) {
      snprintf(match, sizeof match, "%s", path);
      continue;
    }
    json_t *root = json_load_file(path, 0, NULL);
    json_t *pn = root ? json_object_get(root, "name") : NULL;
    if (pn && json_is_string(pn) && !strcmp(json_string_value(pn), name))
      snprintf(match, sizeof match, "%s", path);
    json_decref(root);
  }
  closedir(dp);
  if (*match) return qiao_hal_profile_load(match, out_profile);
  return qiao_status_make(QIAO_NOT_FOUND, "no device profile '%s' in %s (known: %s, host)", name,
                          dir, known);
}

qiao_status_t qiao_hal_profile_host(qiao_hal_profile_t **out_profile) {
  return qiao_hal_host_profile_get(out_profile);
}
