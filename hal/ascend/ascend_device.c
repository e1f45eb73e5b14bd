/* Qiao HAL — the ascend-sim driver: "ascend-sim:<profile>[:cores=N]".
 *
 * An Ascend-class device simulated on the host. It loads HOST_JIT executables
 * whose entries call the unit operations of qiao/hal_ascend.h (the ascend
 * backend's JIT'ed modules, or C functions in tests) and runs one entry call
 * per block of the grid, each with the state of its AI core: the core's
 * buffers, flags and per-pipe timeline (ascend_ops.c). Blocks run one after
 * another on the calling thread (deterministic); block b runs on core
 * b mod (cores of its kind) and blocks that share a core run back to back.
 * Buffers are host memory the device keeps opaque. Events are
 * QIAO_HAL_TIME_SIMULATED: the sum of the dispatches' simulated times. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../hal_internal.h"
#include "ascend_internal.h"

typedef struct ascend_device {
  asim_model_t model; /* the profile's, with the URI's core count */
  pthread_mutex_t lock;
  double clock_ns; /* simulated time of all dispatches so far */
  bool has_report;
  qiao_hal_ascend_report_t last;
} ascend_device_t;

static const qiao_hal_device_ops_t kAscendOps;

static ascend_device_t *ascend_of(qiao_hal_device_t *d) {
  return d && d->ops == &kAscendOps ? d->impl : NULL;
}

static void ascend_destroy(qiao_hal_device_t *d) {
  ascend_device_t *s = d->impl;
  if (!s) return;
  pthread_mutex_destroy(&s->lock);
  free(s);
}

static qiao_status_t ascend_buffer_alloc(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  size_t rounded = b->size ? (b->size + 63) / 64 * 64 : 64;
  if (rounded < b->size)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "buffer of %zu bytes: size overflows",
                            b->size);
  void *p = aligned_alloc(64, rounded);
  if (!p)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "device '%s': cannot allocate a buffer of %zu bytes", d->uri, b->size);
  memset(p, 0, rounded);
  b->impl = p;
  return NULL;
}

static void ascend_buffer_free(qiao_hal_device_t *d, qiao_hal_buffer_t *b) {
  (void)d;
  free(b->impl);
}

static qiao_status_t ascend_buffer_write(qiao_hal_buffer_t *b, size_t off, const void *src,
                                         size_t n) {
  if (n) memcpy((char *)b->impl + off, src, n);
  return NULL;
}
static qiao_status_t ascend_buffer_read(const qiao_hal_buffer_t *b, size_t off, void *dst,
                                        size_t n) {
  if (n) memcpy(dst, (const char *)b->impl + off, n);
  return NULL;
}
static qiao_status_t ascend_buffer_copy(const qiao_hal_buffer_t *src, size_t so,
                                        qiao_hal_buffer_t *dst, size_t dof, size_t n) {
  if (src->device->ops != &kAscendOps || dst->device->ops != &kAscendOps)
    return qiao_status_make(QIAO_UNSUPPORTED, "buffer copy between ascend-sim and another device");
  if (n) memmove((char *)dst->impl + dof, (const char *)src->impl + so, n);
  return NULL;
}

static qiao_status_t ascend_executable_create(qiao_hal_device_t *d,
                                              const qiao_hal_executable_spec_t *spec,
                                              qiao_hal_executable_t *e) {
  (void)d;
  return qiao_hal_executable_init_entries(e, spec->records, spec->n_records, true);
}

static void ascend_executable_destroy(qiao_hal_executable_t *e) { (void)e; }

/* ------------------------------------------------------------ dispatch */

typedef void (*ascend_entry_fn)(void *const *, const int64_t *, int64_t, int64_t, int64_t, void *);

/* The per-kernel report from the blocks' timelines. */
static void finish_report(const asim_model_t *m, const char *kernel, int64_t blocks,
                          const double *core_end, int32_t n_cores, int32_t n_aiv_used,
                          int32_t n_aic_used, const double *busy, const double *bytes,
                          double hbm_read, int64_t ops, qiao_hal_ascend_report_t *r) {
  memset(r, 0, sizeof *r);
  snprintf(r->kernel, sizeof r->kernel, "%s", kernel);
  snprintf(r->profile, sizeof r->profile, "%s", m->profile);
  r->blocks = blocks;
  double core_max = 0;
  for (int32_t i = 0; i < n_cores; ++i)
    if (core_end[i] > core_max) core_max = core_end[i];
  double gm = 0;
  for (int k = 0; k < QIAO_ASCEND_PATH_COUNT; ++k) {
    r->bytes[k] = bytes[k];
    if (k == QIAO_ASCEND_PATH_GM_UB || k == QIAO_ASCEND_PATH_UB_GM || k == QIAO_ASCEND_PATH_GM_L1 ||
        k == QIAO_ASCEND_PATH_L0C_GM)
      gm += bytes[k];
  }
  /* HBM is shared by all cores: the kernel takes at least its HBM traffic
   * (writes, and the reads that missed the L2) at the device's bandwidth */
  double hbm_bytes = hbm_read + bytes[QIAO_ASCEND_PATH_UB_GM] + bytes[QIAO_ASCEND_PATH_L0C_GM];
  double hbm = hbm_bytes / (m->hbm_bytes_per_s / m->clock_hz);
  double launch = m->launch_ns * 1e-9 * m->clock_hz;
  double body = core_max > hbm ? core_max : hbm;
  r->cycles = body + launch;
  r->ns = r->cycles / m->clock_hz * 1e9;
  int bp = QIAO_ASCEND_PIPE_S;
  for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT; ++p) {
    r->pipe_busy[p] = busy[p];
    if (busy[p] > busy[bp]) bp = p;
  }
  if (launch >= body)
    snprintf(r->bound, sizeof r->bound, "launch");
  else if (hbm >= core_max)
    snprintf(r->bound, sizeof r->bound, "HBM");
  else
    snprintf(r->bound, sizeof r->bound, "%s", qiao_ascend_pipe_name(bp));
  r->vector_util = busy[QIAO_ASCEND_PIPE_V] / (r->cycles * (double)m->aiv);
  r->cube_util = busy[QIAO_ASCEND_PIPE_M] / (r->cycles * (double)m->aic);
  r->hbm_bytes_per_s = r->ns > 0 ? gm / (r->ns * 1e-9) : 0;
  r->unit_ops = ops;
  (void)n_aiv_used;
  (void)n_aic_used;
}

static qiao_status_t ascend_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                     const qiao_hal_launch_config_t *cfg,
                                     const qiao_hal_binding_t *bindings, const int64_t *constants) {
  ascend_device_t *s = d->impl;
  const asim_model_t *m = &s->model;
  const qiao_hal_entry_t *en = &e->entries[index];
  int32_t nb = en->rec.n_bindings;
  int64_t blocks = cfg->grid[0] * cfg->grid[1] * cfg->grid[2];
  void **ptrs = calloc((size_t)nb + 1, sizeof *ptrs);
  asim_range_t *gm = calloc((size_t)nb + 1, sizeof *gm);
  int32_t n_cores = m->aiv > m->aic ? m->aiv : m->aic;
  double *core_end = calloc((size_t)n_cores * 2, sizeof *core_end);
  asim_core_t *c = calloc(1, sizeof *c);
  uint8_t *ub = malloc((size_t)m->ub_bytes * 2);
  size_t cube_bytes = (size_t)(m->l1_bytes + m->l0a_bytes + m->l0b_bytes + m->l0c_bytes);
  uint8_t *cube = calloc(cube_bytes * 2, 1); /* data, then written marks (zeroed) */
  qiao_status_t st = NULL;
  if (!ptrs || !gm || !core_end || !c || !ub || !cube) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "ascend-sim: out of memory");
    goto out;
  }
  for (int32_t i = 0; i < nb; ++i) {
    qiao_hal_buffer_t *b = bindings[i].buffer;
    ptrs[i] = (char *)b->impl + bindings[i].offset;
    gm[i] = (asim_range_t){(uintptr_t)ptrs[i], (uintptr_t)b->impl + b->size};
  }
  c->uri = d->uri;
  c->kernel = en->rec.name;
  c->m = m;
  c->ub = ub;
  c->ub_w = ub + m->ub_bytes;
  const int64_t caps[4] = {m->l1_bytes, m->l0a_bytes, m->l0b_bytes, m->l0c_bytes};
  for (int i = 0, at = 0; i < 4; at += (int)caps[i], ++i) {
    c->cb[i] = cube + at;
    c->cb_w[i] = cube + cube_bytes + at;
  }
  c->gm = gm;
  c->n_gm = nb;
  c->block_num = blocks;
  int64_t l2_held = 0;
  c->l2_held = &l2_held;
  c->l2_lines = calloc((size_t)nb + 1, sizeof *c->l2_lines);
  if (!c->l2_lines) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "ascend-sim: out of memory");
    goto out;
  }
  for (int32_t i = 0; i < nb; ++i) {
    c->l2_lines[i] = calloc((size_t)((gm[i].hi - gm[i].lo) / 512 + 1), 1);
    if (!c->l2_lines[i]) {
      st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "ascend-sim: out of memory");
      goto out;
    }
  }
  double hbm_read = 0;
  double busy[QIAO_ASCEND_PIPE_COUNT] = {0}, bytes[QIAO_ASCEND_PATH_COUNT] = {0};
  int64_t ops = 0;
  ascend_entry_fn fn = (ascend_entry_fn)en->rec.fn;
  for (int64_t blk = 0; blk < blocks; ++blk) {
    asim_core_reset(c, blk);
    fn((void *const *)ptrs, constants, blk, 0, 0, c);
    if (c->failed) {
      st = qiao_status_make(QIAO_INVALID_ARGUMENT, "%s", c->err);
      goto out;
    }
    /* AIV blocks on cores [0, aiv), AIC blocks on [n_cores, n_cores + aic) */
    int32_t core = c->kind == 2 ? n_cores + (int32_t)(blk % m->aic) : (int32_t)(blk % m->aiv);
    core_end[core] += asim_core_end(c);
    for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT; ++p)
      busy[p] += c->busy[p];
    for (int k = 0; k < QIAO_ASCEND_PATH_COUNT; ++k)
      bytes[k] += c->bytes[k];
    hbm_read += c->hbm_read;
    ops += c->ops;
  }
  qiao_hal_ascend_report_t r;
  finish_report(m, en->rec.name, blocks, core_end, n_cores * 2, 0, 0, busy, bytes, hbm_read, ops,
                &r);
  pthread_mutex_lock(&s->lock);
  s->clock_ns += r.ns;
  s->last = r;
  s->has_report = true;
  pthread_mutex_unlock(&s->lock);
out:
  if (c && c->l2_lines) {
    for (int32_t i = 0; i < nb; ++i)
      free(c->l2_lines[i]);
    free(c->l2_lines);
  }
  free(ptrs);
  free(gm);
  free(core_end);
  free(c);
  free(ub);
  free(cube);
  return st;
}

static qiao_status_t ascend_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out) {
  ascend_device_t *s = d->impl;
  pthread_mutex_lock(&s->lock);
  out->ns = (uint64_t)llround(s->clock_ns);
  pthread_mutex_unlock(&s->lock);
  out->kind = QIAO_HAL_TIME_SIMULATED;
  return NULL;
}

static qiao_status_t ascend_last_report(qiao_hal_device_t *d, char *buf, size_t cap) {
  qiao_hal_ascend_report_t r;
  QIAO_RETURN_IF_ERROR(qiao_hal_ascend_last_report(d, &r));
  qiao_hal_ascend_report_format(&r, buf, cap);
  return NULL;
}

static const qiao_hal_device_ops_t kAscendOps = {
    .driver = "ascend-sim",
    .device_class = QIAO_HAL_CLASS_ASCEND,
    .formats = 1u << QIAO_HAL_FORMAT_HOST_JIT,
    .destroy = ascend_destroy,
    .buffer_alloc = ascend_buffer_alloc,
    .buffer_free = ascend_buffer_free,
    .buffer_write = ascend_buffer_write,
    .buffer_read = ascend_buffer_read,
    .buffer_copy = ascend_buffer_copy,
    .executable_create = ascend_executable_create,
    .executable_destroy = ascend_executable_destroy,
    .dispatch = ascend_dispatch,
    .event_record = ascend_event_record,
    .last_report = ascend_last_report,
};

/* The model of profile `p` (its on-chip sizes and bandwidth override the
 * table's, so the profile stays the one source of those figures). */
static qiao_status_t model_from_profile(const qiao_hal_profile_t *p, const char *what,
                                        asim_model_t *out) {
  const qiao_hal_profile_info_t *info = qiao_hal_profile_info(p);
  if (info->device_class != QIAO_HAL_CLASS_ASCEND)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s: profile '%s' is not Ascend-class", what,
                            info->name);
  const asim_model_t *m = asim_model_for(info->name);
  if (!m)
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "%s: ascend-sim has no cycle model for profile '%s' (known: "
                            "ascend-910b, ascend-910c)",
                            what, info->name);
  *out = *m;
  const qiao_hal_profile_details_t *det = qiao_hal_profile_details(p);
  if (det) {
    if (det->ub_bytes > 0) out->ub_bytes = (int64_t)det->ub_bytes;
    if (det->l1_bytes > 0) out->l1_bytes = (int64_t)det->l1_bytes;
    if (det->l0a_bytes > 0) out->l0a_bytes = (int64_t)det->l0a_bytes;
    if (det->l0b_bytes > 0) out->l0b_bytes = (int64_t)det->l0b_bytes;
    if (det->l0c_bytes > 0) out->l0c_bytes = (int64_t)det->l0c_bytes;
  }
  if (info->cores > 0) {
    out->aic = info->cores;
    out->aiv = 2 * info->cores; /* ini: vector_core_cnt = 2 x cube_core_cnt */
  }
  if (info->mem_bandwidth > 0) out->hbm_bytes_per_s = info->mem_bandwidth;
  out->fp8 = qiao_hal_profile_supports_dtype(p, "f8e4m3");
  return NULL;
}

qiao_status_t qiao_hal_ascend_device_open(const char *uri, const char *options,
                                          qiao_hal_device_t **out_device) {
  *out_device = NULL;
  if (!options || !*options)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "device URI '%s': ascend-sim needs a profile (ascend-sim:910b)", uri);
  char profile[64];
  size_t plen = strcspn(options, ":,");
  if (plen == 0 || plen >= sizeof profile)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "device URI '%s': bad profile name", uri);
  memcpy(profile, options, plen);
  profile[plen] = 0;
  int32_t cores = 0;
  const char *p = options + plen;
  while (*p == ':' || *p == ',') {
    ++p;
    size_t len = strcspn(p, ":,");
    unsigned long long v = 0;
    char key[32] = "";
    int used = 0;
    if (sscanf(p, "%31[a-z_]=%llu%n", key, &v, &used) == 2 && (size_t)used == len &&
        !strcmp(key, "cores") && v >= 1 && v <= 4096)
      cores = (int32_t)v;
    else
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "device URI '%s': unknown or bad option '%.*s' (known: cores=N, "
                              "N from 1 to the profile's AI cores)",
                              uri, (int)len, p);
    p += len;
  }
  qiao_hal_profile_t *prof = NULL;
  qiao_status_t st = qiao_hal_profile_load_named(profile, &prof);
  if (st) return qiao_status_annotate(st, "device URI '%s'", uri);
  ascend_device_t *s = calloc(1, sizeof *s);
  qiao_hal_device_t *d = calloc(1, sizeof *d);
  if (!s || !d) {
    st = qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
    goto fail;
  }
  st = model_from_profile(prof, uri, &s->model);
  if (st) goto fail;
  if (cores) {
    if (cores > s->model.aic) {
      st = qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "device URI '%s': cores=%d, the %s profile has %d AI cores", uri, cores,
                            s->model.profile, s->model.aic);
      goto fail;
    }
    s->model.aic = cores;
    s->model.aiv = 2 * cores;
  }
  pthread_mutex_init(&s->lock, NULL);
  d->impl = s;
  st = qiao_hal_device_init(d, &kAscendOps, uri);
  if (st) {
    pthread_mutex_destroy(&s->lock);
    goto fail;
  }
  atomic_store(&d->profile, prof);
  d->thread_count = 1;
  d->host_visible = false;
  *out_device = d;
  return NULL;
fail:
  qiao_hal_profile_destroy(prof);
  free(s);
  free(d);
  return st;
}

/* ------------------------------------------------------------ extension */

static void fill_info(const asim_model_t *m, qiao_hal_ascend_info_t *out) {
  *out = (qiao_hal_ascend_info_t){.aic = m->aic,
                                  .aiv = m->aiv,
                                  .ub_bytes = m->ub_bytes,
                                  .l1_bytes = m->l1_bytes,
                                  .l0a_bytes = m->l0a_bytes,
                                  .l0b_bytes = m->l0b_bytes,
                                  .l0c_bytes = m->l0c_bytes,
                                  .clock_hz = m->clock_hz,
                                  .profile = m->profile};
}

qiao_status_t qiao_hal_ascend_info(qiao_hal_device_t *d, qiao_hal_ascend_info_t *out) {
  ascend_device_t *s = ascend_of(d);
  if (!s) return qiao_status_make(QIAO_INVALID_ARGUMENT, "not an ascend-sim device");
  fill_info(&s->model, out);
  return NULL;
}

qiao_status_t qiao_hal_ascend_info_for_profile(const char *profile, qiao_hal_ascend_info_t *out) {
  qiao_hal_profile_t *prof = NULL;
  QIAO_RETURN_IF_ERROR(qiao_hal_profile_load_named(profile, &prof));
  asim_model_t m;
  qiao_status_t st = model_from_profile(prof, profile, &m);
  if (!st) {
    fill_info(&m, out);
    out->profile = asim_model_for(m.profile)->profile; /* static string */
  }
  qiao_hal_profile_destroy(prof);
  return st;
}

qiao_status_t qiao_hal_ascend_last_report(qiao_hal_device_t *d, qiao_hal_ascend_report_t *out) {
  ascend_device_t *s = ascend_of(d);
  if (!s) return qiao_status_make(QIAO_INVALID_ARGUMENT, "not an ascend-sim device");
  pthread_mutex_lock(&s->lock);
  bool has = s->has_report;
  if (has) *out = s->last;
  pthread_mutex_unlock(&s->lock);
  if (!has) return qiao_status_make(QIAO_NOT_FOUND, "device '%s' has run no kernel yet", d->uri);
  return NULL;
}

void qiao_hal_ascend_report_format(const qiao_hal_ascend_report_t *r, char *buf, size_t cap) {
  static const char *const pipes[] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};
  int n = snprintf(buf, cap,
                   "kernel %s: %.3f us simulated (model of %s), %lld blocks, bound by %s; "
                   "vector util %.1f%%, cube util %.1f%%; bytes GM->UB %.0f, UB->GM %.0f, "
                   "GM->L1 %.0f, L1->L0A %.0f, L1->L0B %.0f, L0C->GM %.0f "
                   "(GM %.1f GB/s simulated); busy cycles",
                   r->kernel, r->ns / 1e3, r->profile, (long long)r->blocks, r->bound,
                   100 * r->vector_util, 100 * r->cube_util, r->bytes[QIAO_ASCEND_PATH_GM_UB],
                   r->bytes[QIAO_ASCEND_PATH_UB_GM], r->bytes[QIAO_ASCEND_PATH_GM_L1],
                   r->bytes[QIAO_ASCEND_PATH_L1_L0A], r->bytes[QIAO_ASCEND_PATH_L1_L0B],
                   r->bytes[QIAO_ASCEND_PATH_L0C_GM], r->hbm_bytes_per_s / 1e9);
  for (int p = 0; p < QIAO_ASCEND_PIPE_COUNT && n >= 0 && (size_t)n < cap; ++p)
    n += snprintf(buf + n, cap - (size_t)n, " %s=%.0f", pipes[p], r->pipe_busy[p]);
}
