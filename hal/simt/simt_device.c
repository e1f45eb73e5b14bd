/* Qiao HAL — the simt-emu driver: "simt-emu:<profile>[,threads=N][,max_instructions=N]".
 *
 * A CUDA-class device that runs PTX on the host (simt_exec.c). Buffers are host
 * memory the device keeps opaque (buffer_host_ptr is NULL); their addresses are
 * what kernels see as global pointers, and every global access is checked
 * against the set of live buffers. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../hal_internal.h"
#include "qiao/cuda_model.h"
#include "simt_internal.h"

#define SIMT_DEFAULT_MAX_INSTR (1ull << 36)

typedef struct simt_device {
  qiao_hal_thread_pool_t *pool;
  char profile[64];
  pthread_mutex_t lock; /* ranges, stats, launch serialization */
  simt_range_t *ranges;
  int32_t nranges, cap;
  uint64_t max_instructions;
  qiao_hal_simt_stats_t last;
  /* The modelled GPU clock (sum of the launches' modelled times, ns): what
   * events report (QIAO_HAL_TIME_MODELLED); the last launch's estimate. */
  double model_clock_ns;
  qiao_cuda_estimate_t last_estimate;
  bool have_last;
} simt_device_t;

static const qiao_hal_device_ops_t kSimtOps;

static simt_device_t *simt_of(qiao_hal_device_t *d) {
  return d && d->ops == &kSimtOps ? d->impl : NULL;
}

static void simt_destroy(qiao_hal_device_t *d) {
  simt_device_t *s = d->impl;
  if (!s) return;
  qiao_hal_thread_pool_destroy(s->pool);
  pthread_mutex_destroy(&s->lock);
  free(s->ranges);
  free(s);
}

static qiao_status_t simt_profile_load(qiao_hal_device_t *d, qiao_hal_profile_t **out) {
  simt_device_t *s = d->impl;
  return qiao_hal_profile_load_named(s->profile, out);
}

static qiao_status_t simt_buffer_alloc(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  simt_device_t *s = d->impl;
  size_t rounded = b->size ? (b->size + 63) / 64 * 64 : 64;
  if (rounded < b->size)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "buffer of %zu bytes: size overflows",
                            b->size);
  void *p = aligned_alloc(64, rounded);
  if (!p)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "device '%s': cannot allocate a buffer of %zu bytes", d->uri, b->size);
  memset(p, 0, rounded);
  pthread_mutex_lock(&s->lock);
  if (s->nranges == s->cap) {
    int32_t cap = s->cap ? s->cap * 2 : 64;
    simt_range_t *r = realloc(s->ranges, (size_t)cap * sizeof *r);
    if (!r) {
      pthread_mutex_unlock(&s->lock);
      free(p);
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", d->uri);
    }
    s->ranges = r;
    s->cap = cap;
  }
  s->ranges[s->nranges++] =
      (simt_range_t){(uint64_t)(uintptr_t)p, (uint64_t)(uintptr_t)p + b->size};
  pthread_mutex_unlock(&s->lock);
  b->impl = p;
  return NULL;
}

static void simt_buffer_free(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  simt_device_t *s = d->impl;
  pthread_mutex_lock(&s->lock);
  for (int32_t i = 0; i < s->nranges; ++i)
    if (s->ranges[i].base == (uint64_t)(uintptr_t)b->impl) {
      s->ranges[i] = s->ranges[--s->nranges];
      break;
    }
  pthread_mutex_unlock(&s->lock);
  free(b->impl);
}

static qiao_status_t simt_buffer_write(qiao_hal_buffer_t *b, size_t off, const void *src,
                                       size_t n) {
  if (n) memcpy((char *)b->impl + off, src, n);
  return NULL;
}
static qiao_status_t simt_buffer_read(const qiao_hal_buffer_t *b, size_t off, void *dst, size_t n) {
  if (n) memcpy(dst, (const char *)b->impl + off, n);
  return NULL;
}
static qiao_status_t simt_buffer_copy(const qiao_hal_buffer_t *src, size_t so,
                                      qiao_hal_buffer_t *dst, size_t dof, size_t n) {
  if (src->device->ops != &kSimtOps || dst->device->ops != &kSimtOps)
    return qiao_status_make(QIAO_UNSUPPORTED, "buffer copy between simt-emu and another device");
  if (n) memmove((char *)dst->impl + dof, (const char *)src->impl + so, n);
  return NULL;
}

/* ------------------------------------------------------------ executables */

/* libffi letter of a kernel parameter: 'p' (64-bit integer: a pointer, takes a
 * binding), 'i' (≤ 32-bit integer), 'f', 'd', 'l' (anything else). */
static char param_letter(const qiao_ptx_var_t *v) {
  if (v->ndims || v->vec) return 'l';
  switch (v->type) {
  case QIAO_PTX_T_U64:
  case QIAO_PTX_T_S64:
  case QIAO_PTX_T_B64: return 'p';
  case QIAO_PTX_T_F32: return 'f';
  case QIAO_PTX_T_F64: return 'd';
  default: return 'i';
  }
}

static qiao_status_t simt_executable_create(qiao_hal_device_t *d,
                                            const qiao_hal_executable_spec_t *spec,
                                            qiao_hal_executable_t *e) {
  qiao_ptx_module_t *m = NULL;
  QIAO_RETURN_IF_ERROR(qiao_ptx_parse(spec->data, spec->size, "<ptx>", &m));
  simt_program_t *p = NULL;
  QIAO_RETURN_IF_ERROR(simt_program_create(m, &p));
  e->impl = p;
  int32_t n = 0;
  for (uint32_t i = 0; i < p->m->nfuncs; ++i)
    if (p->m->funcs[i].is_entry && p->m->funcs[i].has_body) ++n;
  if (spec->n_records > 0) {
    for (int32_t i = 0; i < spec->n_records; ++i) {
      const qiao_ptx_func_t *f = qiao_ptx_module_find_func(p->m, spec->records[i].name);
      if (!f || !f->is_entry)
        return qiao_status_make(QIAO_NOT_FOUND, "PTX executable: no .entry '%s' in the module",
                                spec->records[i].name);
      if (spec->records[i].signature && strlen(spec->records[i].signature) != f->nparams + 1)
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "entry '%s': signature '%s' has %zu "
                                "parameters, the PTX entry %u",
                                f->name, spec->records[i].signature,
                                strlen(spec->records[i].signature) - 1, f->nparams);
    }
    return qiao_hal_executable_init_entries(e, spec->records, spec->n_records, false);
  }
  qiao_hal_entry_record_t *recs = calloc((size_t)n + 1, sizeof *recs);
  char **sigs = calloc((size_t)n + 1, sizeof(char *));
  qiao_status_t st = NULL;
  if (!recs || !sigs) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
    goto out;
  }
  int32_t k = 0;
  for (uint32_t i = 0; i < p->m->nfuncs; ++i) {
    const qiao_ptx_func_t *f = &p->m->funcs[i];
    if (!f->is_entry || !f->has_body) continue;
    if (f->nparams > 250) {
      st = qiao_status_make(QIAO_UNSUPPORTED, "entry '%s': more than 250 parameters", f->name);
      goto out;
    }
    sigs[k] = calloc(f->nparams + 2, 1);
    if (!sigs[k]) {
      st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
      goto out;
    }
    sigs[k][0] = 'v';
    int32_t nb = 0;
    for (uint32_t j = 0; j < f->nparams; ++j) {
      sigs[k][j + 1] = param_letter(&f->params[j]);
      if (sigs[k][j + 1] == 'p') ++nb;
    }
    recs[k] =
        (qiao_hal_entry_record_t){f->name, sigs[k], nb, (int32_t)f->nparams - nb, 0, NULL, NULL};
    ++k;
  }
  st = qiao_hal_executable_init_entries(e, recs, n, false);
out:
  if (sigs)
    for (int32_t i = 0; i < n; ++i)
      free(sigs[i]);
  free(sigs);
  free(recs);
  return st;
}

static void simt_executable_destroy(qiao_hal_executable_t *e) { simt_program_destroy(e->impl); }

/* ------------------------------------------------------------ dispatch */

static int cmp_range(const void *a, const void *b) {
  const simt_range_t *x = a, *y = b;
  return x->base < y->base ? -1 : x->base > y->base;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The modelled GPU time of a launch from its dynamic statistics (work per
 * pipe, global bytes), its geometry and the profile (qiao/cuda_model.h).
 * Registers per thread are unknown to the emulator: the model's fallback. */
static void model_launch(const qiao_hal_profile_t *prof, uint64_t shared,
                         const qiao_hal_launch_config_t *cfg, qiao_hal_simt_stats_t *stats,
                         qiao_cuda_estimate_t *out) {
  qiao_cuda_work_t w;
  memset(&w, 0, sizeof w);
  w.flops[QIAO_CUDA_PIPE_SIMT] = (double)stats->flops_simt;
  w.flops[QIAO_CUDA_PIPE_TF32] = (double)stats->flops_tf32;
  w.flops[QIAO_CUDA_PIPE_F16] = (double)stats->flops_f16;
  w.flops[QIAO_CUDA_PIPE_BF16] = (double)stats->flops_bf16;
  w.flops[QIAO_CUDA_PIPE_F8] = (double)stats->flops_f8;
  w.flops[QIAO_CUDA_PIPE_I8] = (double)stats->ops_i8;
  w.bytes = (double)stats->global_bytes;
  memcpy(w.grid, cfg->grid, sizeof w.grid);
  memcpy(w.block, cfg->block, sizeof w.block);
  w.shared_bytes = (int64_t)shared;
  qiao_status_t st = qiao_cuda_model_estimate(prof, &w, out);
  if (st) {
    qiao_status_free(st);
    memset(out, 0, sizeof *out);
    return;
  }
  stats->modelled_ns = out->ns;
  snprintf(stats->modelled_bound, sizeof stats->modelled_bound, "%s", out->bound);
}

static qiao_status_t run_launch(qiao_hal_device_t *d, qiao_hal_executable_t *e, const char *name,
                                const qiao_hal_launch_config_t *cfg, const uint8_t *params) {
  simt_device_t *s = d->impl;
  simt_program_t *p = e->impl;
  const qiao_ptx_func_t *f = qiao_ptx_module_find_func(p->m, name);
  if (!f || !f->is_entry) return qiao_status_make(QIAO_NOT_FOUND, "simt-emu: no .entry '%s'", name);
  const qiao_hal_profile_t *prof = NULL;
  qiao_status_t st = qiao_hal_device_profile(d, &prof);
  if (st) return st;
  const qiao_hal_profile_details_t *det = qiao_hal_profile_details(prof);
  uint64_t shared = (uint64_t)(p->shared_static + 15) / 16 * 16 + cfg->shared_bytes;
  if (det && det->shared_bytes > 0 && (double)shared > det->shared_bytes)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "simt-emu: kernel '%s' needs %llu bytes of "
                            "shared memory (static %u + dynamic %llu); the %s profile allows %.0f",
                            name, (unsigned long long)shared, p->shared_static,
                            (unsigned long long)cfg->shared_bytes, s->profile, det->shared_bytes);
  int64_t nthr = (int64_t)cfg->block[0] * cfg->block[1] * cfg->block[2];
  if (f->maxntid[0]) {
    int64_t lim = (int64_t)f->maxntid[0] * (f->maxntid[1] ? f->maxntid[1] : 1) *
                  (f->maxntid[2] ? f->maxntid[2] : 1);
    if (nthr > lim)
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "simt-emu: kernel '%s': block %d x %d x %d has %lld threads, its "
                              ".maxntid allows %lld",
                              name, cfg->block[0], cfg->block[1], cfg->block[2], (long long)nthr,
                              (long long)lim);
  }
  if (f->reqntid[0]) {
    for (int k = 0; k < 3; ++k)
      if ((uint32_t)cfg->block[k] != (f->reqntid[k] ? f->reqntid[k] : 1))
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "simt-emu: kernel '%s': block %d x %d x %d, its .reqntid is %u x "
                                "%u x %u",
                                name, cfg->block[0], cfg->block[1], cfg->block[2], f->reqntid[0],
                                f->reqntid[1] ? f->reqntid[1] : 1,
                                f->reqntid[2] ? f->reqntid[2] : 1);
  }
  simt_launch_t L = {0};
  L.prog = p;
  L.func = (int32_t)(f - p->m->funcs);
  L.kernel = f->name;
  memcpy(L.grid, cfg->grid, sizeof L.grid);
  memcpy(L.block, cfg->block, sizeof L.block);
  L.dyn_shared = cfg->shared_bytes;
  L.params = params;
  L.max_instructions = s->max_instructions;
  L.nsm = qiao_hal_profile_info(prof)->cores;
  pthread_mutex_lock(&s->lock);
  simt_range_t *r = malloc(((size_t)s->nranges + 1) * sizeof *r);
  int32_t nr = 0;
  if (r) {
    memcpy(r, s->ranges, (size_t)s->nranges * sizeof *r);
    nr = s->nranges;
    if (p->global_size)
      r[nr++] = (simt_range_t){(uint64_t)(uintptr_t)p->global_seg,
                               (uint64_t)(uintptr_t)p->global_seg + p->global_size};
  }
  pthread_mutex_unlock(&s->lock);
  if (!r) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "simt-emu: out of memory");
  qsort(r, (size_t)nr, sizeof *r, cmp_range);
  L.ranges = r;
  L.nranges = nr;
  qiao_hal_simt_stats_t stats;
  memset(&stats, 0, sizeof stats);
  uint64_t t0 = now_ns();
  st = simt_launch_run(&L, s->pool, &stats);
  stats.wall_ms = (double)(now_ns() - t0) / 1e6;
  free(r);
  qiao_cuda_estimate_t est;
  memset(&est, 0, sizeof est);
  if (!st) model_launch(prof, shared, cfg, &stats, &est);
  pthread_mutex_lock(&s->lock);
  s->last = stats;
  if (!st) {
    s->model_clock_ns += stats.modelled_ns;
    s->last_estimate = est;
    s->have_last = true;
  }
  pthread_mutex_unlock(&s->lock);
  return st;
}

static qiao_status_t simt_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                   const qiao_hal_launch_config_t *cfg,
                                   const qiao_hal_binding_t *bindings, const int64_t *constants) {
  simt_program_t *p = e->impl;
  const qiao_hal_entry_t *en = &e->entries[index];
  const qiao_ptx_func_t *f = qiao_ptx_module_find_func(p->m, en->rec.name);
  if (!f) return qiao_status_make(QIAO_NOT_FOUND, "simt-emu: no .entry '%s'", en->rec.name);
  const sfunc_t *sf = &p->funcs[f - p->m->funcs];
  uint8_t *buf = calloc(sf->kparam_size + 8, 1);
  if (!buf) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  const char *sig = en->rec.signature;
  int32_t bi = 0, ci = 0;
  qiao_status_t st = NULL;
  for (uint32_t j = 0; j < f->nparams; ++j) {
    char letter = sig[j + 1];
    uint8_t *dst = buf + sf->kparam_off[j];
    uint32_t sz = sf->kparam_size_each[j];
    if (letter == 'p' && bi < en->rec.n_bindings) {
      uint64_t a = (uint64_t)(uintptr_t)bindings[bi].buffer->impl + bindings[bi].offset;
      ++bi;
      memcpy(dst, &a, sz < 8 ? sz : 8);
    } else if (ci < en->rec.n_constants) {
      int64_t v = constants[ci++];
      if (sz > 8) {
        st = qiao_status_make(QIAO_UNSUPPORTED,
                              "dispatch of '%s': parameter %u is a %u-byte "
                              "aggregate: pass it with qiao_hal_simt_launch_args",
                              f->name, j, sz);
        break;
      }
      memcpy(dst, &v, sz); /* little-endian: the low bytes (f32: the float's bits) */
    } else {
      st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "dispatch of '%s': no binding or constant left "
                            "for parameter %u",
                            f->name, j);
      break;
    }
  }
  if (!st) st = run_launch(d, e, f->name, cfg, buf);
  free(buf);
  return st;
}

/* Events carry the modelled GPU clock (kind MODELLED); the generic layer
 * adds the host wall clock (the emulator's own time). */
static qiao_status_t simt_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out) {
  simt_device_t *s = d->impl;
  pthread_mutex_lock(&s->lock);
  out->ns = (uint64_t)llround(s->model_clock_ns);
  pthread_mutex_unlock(&s->lock);
  out->kind = QIAO_HAL_TIME_MODELLED;
  return NULL;
}

static qiao_status_t simt_last_report(qiao_hal_device_t *d, char *buf, size_t cap) {
  simt_device_t *s = d->impl;
  pthread_mutex_lock(&s->lock);
  qiao_hal_simt_stats_t st = s->last;
  qiao_cuda_estimate_t e = s->last_estimate;
  bool have = s->have_last;
  pthread_mutex_unlock(&s->lock);
  if (!have) return qiao_status_make(QIAO_NOT_FOUND, "device '%s': no dispatch yet", d->uri);
  char model[512];
  if (e.profile[0])
    qiao_cuda_estimate_format(&e, model, sizeof model);
  else
    snprintf(model, sizeof model, "no modelled time (the launch shape is outside the model)");
  snprintf(buf, cap,
           "%s; from the launch's dynamic work: %.4g FLOPs (SIMT %.4g, tensor-core %.4g), %.4g "
           "global bytes; emulator: %llu thread-instructions, %llu divergent branches, %llu "
           "shared bank conflicts, wall %.3f ms",
           model, e.flops, (double)st.flops_simt, e.flops - (double)st.flops_simt, e.bytes,
           (unsigned long long)st.thread_instructions, (unsigned long long)st.divergent_branches,
           (unsigned long long)st.bank_conflicts, st.wall_ms);
  return NULL;
}

static const qiao_hal_device_ops_t kSimtOps = {
    .driver = "simt-emu",
    .device_class = QIAO_HAL_CLASS_CUDA,
    .formats = 1u << QIAO_HAL_FORMAT_PTX,
    .destroy = simt_destroy,
    .profile_load = simt_profile_load,
    .buffer_alloc = simt_buffer_alloc,
    .buffer_free = simt_buffer_free,
    .buffer_write = simt_buffer_write,
    .buffer_read = simt_buffer_read,
    .buffer_copy = simt_buffer_copy,
    .executable_create = simt_executable_create,
    .executable_destroy = simt_executable_destroy,
    .dispatch = simt_dispatch,
    .event_record = simt_event_record,
    .last_report = simt_last_report,
};

qiao_status_t qiao_hal_simt_device_open(const char *uri, const char *options,
                                        qiao_hal_device_t **out_device) {
  *out_device = NULL;
  if (!options || !*options)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "device URI '%s': simt-emu needs a profile (simt-emu:h100)", uri);
  simt_device_t *s = calloc(1, sizeof *s);
  qiao_hal_device_t *d = calloc(1, sizeof *d);
  if (!s || !d) {
    free(s);
    free(d);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
  }
  s->max_instructions = SIMT_DEFAULT_MAX_INSTR;
  int32_t threads = 0;
  const char *p = options;
  size_t plen = strcspn(p, ",");
  if (plen == 0 || plen >= sizeof s->profile) {
    free(s);
    free(d);
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "device URI '%s': bad profile name", uri);
  }
  memcpy(s->profile, p, plen);
  p += plen;
  while (*p == ',') {
    ++p;
    size_t len = strcspn(p, ",");
    unsigned long long v = 0;
    char key[32] = "";
    if (sscanf(p, "%31[a-z_]=%llu", key, &v) == 2 && !strcmp(key, "threads") && v >= 1 && v <= 256)
      threads = (int32_t)v;
    else if (sscanf(p, "%31[a-z_]=%llu", key, &v) == 2 && !strcmp(key, "max_instructions") && v)
      s->max_instructions = v;
    else {
      free(s);
      free(d);
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "device URI '%s': unknown option '%.*s' "
                              "(known: threads=N, max_instructions=N)",
                              uri, (int)len, p);
    }
    p += len;
  }
  qiao_hal_profile_t *prof = NULL;
  qiao_status_t st = qiao_hal_profile_load_named(s->profile, &prof);
  if (st) {
    free(s);
    free(d);
    return qiao_status_annotate(st, "device URI '%s'", uri);
  }
  bool cuda = qiao_hal_profile_info(prof)->device_class == QIAO_HAL_CLASS_CUDA;
  if (!cuda) {
    qiao_status_t bad = qiao_status_make(QIAO_INVALID_ARGUMENT,
                                         "device URI '%s': profile '%s' is "
                                         "not CUDA-class",
                                         uri, s->profile);
    qiao_hal_profile_destroy(prof);
    free(s);
    free(d);
    return bad;
  }
  if (!threads) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n < 1 ? 1 : n > 256 ? 256 : (int32_t)n;
  }
  pthread_mutex_init(&s->lock, NULL);
  st = qiao_hal_thread_pool_create(threads, &s->pool);
  if (st) {
    qiao_hal_profile_destroy(prof);
    pthread_mutex_destroy(&s->lock);
    free(s);
    free(d);
    return st;
  }
  d->impl = s;
  st = qiao_hal_device_init(d, &kSimtOps, uri);
  if (st) {
    qiao_hal_profile_destroy(prof);
    simt_destroy(d);
    free(d);
    return st;
  }
  atomic_store(&d->profile, prof);
  d->thread_count = threads;
  d->host_visible = false;
  *out_device = d;
  return NULL;
}

/* ------------------------------------------------------------ extension calls */

qiao_status_t qiao_hal_simt_last_stats(qiao_hal_device_t *d, qiao_hal_simt_stats_t *out) {
  simt_device_t *s = simt_of(d);
  if (!s) return qiao_status_make(QIAO_INVALID_ARGUMENT, "not a simt-emu device");
  pthread_mutex_lock(&s->lock);
  *out = s->last;
  pthread_mutex_unlock(&s->lock);
  return NULL;
}

qiao_status_t qiao_hal_simt_set_max_instructions(qiao_hal_device_t *d, uint64_t n) {
  simt_device_t *s = simt_of(d);
  if (!s) return qiao_status_make(QIAO_INVALID_ARGUMENT, "not a simt-emu device");
  s->max_instructions = n ? n : SIMT_DEFAULT_MAX_INSTR;
  return NULL;
}

qiao_status_t qiao_hal_simt_buffer_address(qiao_hal_buffer_t *b, size_t offset, uint64_t *out) {
  if (!b || !simt_of(b->device))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "not a simt-emu buffer");
  if (offset > b->size) return qiao_status_make(QIAO_INVALID_ARGUMENT, "offset past the buffer");
  *out = (uint64_t)(uintptr_t)b->impl + offset;
  return NULL;
}

qiao_status_t qiao_hal_simt_launch_args(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                        int32_t index, const qiao_hal_launch_config_t *cfg,
                                        void *const *args, int32_t n_args) {
  if (!simt_of(d) || e->device != d)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "simt launch: not a simt-emu executable of this device");
  if (index < 0 || index >= e->n_entries)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "simt launch: entry index %d out of range",
                            index);
  simt_program_t *p = e->impl;
  const qiao_ptx_func_t *f = qiao_ptx_module_find_func(p->m, e->entries[index].rec.name);
  if (!f) return qiao_status_make(QIAO_NOT_FOUND, "simt launch: no entry");
  if ((uint32_t)n_args != f->nparams)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "simt launch of '%s': %d args given, the kernel "
                            "takes %u",
                            f->name, n_args, f->nparams);
  for (int k = 0; k < 3; ++k)
    if (cfg->grid[k] < 0 || cfg->block[k] < 1)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "simt launch of '%s': bad launch shape",
                              f->name);
  if (!cfg->grid[0] || !cfg->grid[1] || !cfg->grid[2]) return NULL;
  const sfunc_t *sf = &p->funcs[f - p->m->funcs];
  uint8_t *buf = calloc(sf->kparam_size + 8, 1);
  if (!buf) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (uint32_t j = 0; j < f->nparams; ++j)
    memcpy(buf + sf->kparam_off[j], args[j], sf->kparam_size_each[j]);
  qiao_status_t st = run_launch(d, e, f->name, cfg, buf);
  free(buf);
  return st;
}
