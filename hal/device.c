/* Qiao HAL — the driver table and device open by URI, refcounting, the lazy
 * profile, events, host parallel-for. */
#include <math.h>
#include <time.h>
#include <unistd.h>

#include "hal_internal.h"

char *qiao_hal_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *p = malloc(n);
  if (p) memcpy(p, s, n);
  return p;
}

/* ------------------------------------------------------------ URI parsing */

#define QIAO_HAL_KNOWN_URIS "cpu, cpu:threads=N"

typedef qiao_status_t (*device_open_fn)(const char *uri, const char *options,
                                        qiao_hal_device_t **out_device);

/* Parses "N" in 1..256. */
static bool parse_threads(const char *v, size_t len, int32_t *out) {
  if (len == 0 || len > 3) return false;
  int32_t x = 0;
  for (size_t i = 0; i < len; ++i) {
    if (v[i] < '0' || v[i] > '9') return false;
    x = x * 10 + (v[i] - '0');
  }
  if (x < 1 || x > 256) return false;
  *out = x;
  return true;
}

static int32_t online_cpus(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n < 1) n = 1;
  if (n > 256) n = 256;
  return (int32_t)n;
}

/* "cpu" or "cpu:threads=N[,...]" — options are comma-separated key=value. */
static qiao_status_t open_cpu(const char *uri, const char *options,
                              qiao_hal_device_t **out_device) {
  int32_t threads = online_cpus();
  if (options) {
    if (!*options)
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "device URI '%s': empty option list (known: " QIAO_HAL_KNOWN_URIS ")",
                              uri);
    const char *p = options;
    while (*p) {
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      const char *eq = memchr(p, '=', len);
      size_t klen = eq ? (size_t)(eq - p) : len;
      if (klen == 7 && !strncmp(p, "threads", 7)) {
        const char *v = eq ? eq + 1 : "";
        size_t vlen = eq ? len - klen - 1 : 0;
        if (!parse_threads(v, vlen, &threads))
          return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                  "device URI '%s': option 'threads' must be an integer in "
                                  "1..256 (got '%.*s')",
                                  uri, (int)vlen, v);
      } else {
        return qiao_status_make(QIAO_INVALID_ARGUMENT,
                                "device URI '%s': unknown option '%.*s' (known: threads)", uri,
                                (int)klen, p);
      }
      if (!end) break;
      p = end + 1;
      if (!*p) return qiao_status_make(QIAO_INVALID_ARGUMENT, "device URI '%s': trailing ','", uri);
    }
  }
  return qiao_hal_cpu_device_create(uri, threads, out_device);
}

/* The drivers: a new device adds a row. The scheme is the URI's text before
 * ':' and the driver name its devices report (qiao_hal_device_driver). */
typedef struct device_driver {
  const char *scheme;
  device_open_fn open; /* NULL: a planned driver this build does not have */
} device_driver_t;

static const device_driver_t kDrivers[] = {
    {"cpu", open_cpu},
    {"simt-emu", qiao_hal_simt_device_open},
    {"ascend-sim", qiao_hal_ascend_device_open},
    {"cuda", NULL},
};

qiao_status_t qiao_hal_device_open(const char *uri, qiao_hal_device_t **out_device) {
  *out_device = NULL;
  if (!uri || !*uri)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "empty device URI (known: " QIAO_HAL_KNOWN_URIS ")");
  const char *colon = strchr(uri, ':');
  size_t slen = colon ? (size_t)(colon - uri) : strlen(uri);
  for (size_t i = 0; i < sizeof kDrivers / sizeof kDrivers[0]; ++i) {
    const device_driver_t *c = &kDrivers[i];
    if (strlen(c->scheme) != slen || strncmp(c->scheme, uri, slen)) continue;
    if (!c->open)
      return qiao_status_make(QIAO_UNSUPPORTED,
                              "device URI '%s': driver '%s' is not available in this "
                              "build (known: " QIAO_HAL_KNOWN_URIS ")",
                              uri, c->scheme);
    return c->open(uri, colon ? colon + 1 : NULL, out_device);
  }
  return qiao_status_make(QIAO_INVALID_ARGUMENT,
                          "unknown device URI '%s' (known: " QIAO_HAL_KNOWN_URIS ")", uri);
}

qiao_status_t qiao_hal_device_init(qiao_hal_device_t *d, const qiao_hal_device_ops_t *ops,
                                   const char *uri) {
  d->uri = qiao_hal_strdup(uri);
  if (!d->uri) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': out of memory", uri);
  if (pthread_mutex_init(&d->profile_lock, NULL) != 0) {
    free(d->uri);
    d->uri = NULL;
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "device '%s': cannot create a mutex", uri);
  }
  atomic_init(&d->refs, 1);
  atomic_init(&d->profile, NULL);
  d->ops = ops;
  return NULL;
}

void qiao_hal_device_retain(qiao_hal_device_t *d) {
  if (d) atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
}

void qiao_hal_device_release(qiao_hal_device_t *d) {
  if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1) return;
  d->ops->destroy(d);
  qiao_hal_profile_destroy(atomic_load(&d->profile));
  pthread_mutex_destroy(&d->profile_lock);
  free(d->uri);
  free(d);
}

static const char *const kClassNames[QIAO_HAL_CLASS_COUNT] = {"cpu", "cuda", "ascend"};

const char *qiao_hal_device_class_name(qiao_hal_device_class_t c) {
  return (unsigned)c < QIAO_HAL_CLASS_COUNT ? kClassNames[c] : "unknown";
}

qiao_hal_device_class_t qiao_hal_device_class(const qiao_hal_device_t *d) {
  return d->ops->device_class;
}
const char *qiao_hal_device_driver(const qiao_hal_device_t *d) { return d->ops->driver; }
const char *qiao_hal_device_uri(const qiao_hal_device_t *d) { return d->uri; }

qiao_status_t qiao_hal_device_profile(qiao_hal_device_t *d,
                                      const qiao_hal_profile_t **out_profile) {
  *out_profile = atomic_load_explicit(&d->profile, memory_order_acquire);
  if (*out_profile) return NULL;
  if (!d->ops->profile_load)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' has no profile", d->uri);
  qiao_status_t st = NULL;
  pthread_mutex_lock(&d->profile_lock);
  qiao_hal_profile_t *p = atomic_load_explicit(&d->profile, memory_order_relaxed);
  if (!p) {
    st = d->ops->profile_load(d, &p);
    if (st)
      st = qiao_status_annotate(st, "device '%s': loading its profile", d->uri);
    else
      atomic_store_explicit(&d->profile, p, memory_order_release);
  }
  pthread_mutex_unlock(&d->profile_lock);
  *out_profile = p;
  return st;
}

int32_t qiao_hal_device_thread_count(const qiao_hal_device_t *d) { return d->thread_count; }

qiao_status_t qiao_hal_device_parallel_for(qiao_hal_device_t *d, int64_t n, int64_t grain,
                                           size_t scratch_bytes, qiao_hal_parallel_fn_t fn,
                                           void *ctx) {
  if (!fn) return qiao_status_make(QIAO_INVALID_ARGUMENT, "parallel_for: fn is NULL");
  if (n < 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "parallel_for: negative item count %lld",
                            (long long)n);
  if (!d->ops->parallel_for)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' has no host parallel-for", d->uri);
  return d->ops->parallel_for(d, n, grain, scratch_bytes, fn, ctx);
}

/* ------------------------------------------------------------------ events */

static const char *const kTimeKindNames[] = {"measured", "simulated", "modelled"};

const char *qiao_hal_time_kind_name(qiao_hal_time_kind_t k) {
  return (unsigned)k < sizeof kTimeKindNames / sizeof kTimeKindNames[0] ? kTimeKindNames[k]
                                                                        : "unknown";
}

qiao_status_t qiao_hal_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out_event) {
  if (!out_event) return qiao_status_make(QIAO_INVALID_ARGUMENT, "event record: event is NULL");
  if (!d->ops->event_record)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' has no events", d->uri);
  qiao_status_t st = d->ops->event_record(d, out_event);
  if (st) return st;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  out_event->wall_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  if (out_event->kind == QIAO_HAL_TIME_MEASURED) out_event->wall_ns = out_event->ns;
  return NULL;
}

double qiao_hal_event_wall_ms(const qiao_hal_event_t *start, const qiao_hal_event_t *end) {
  return (double)(int64_t)(end->wall_ns - start->wall_ns) / 1e6;
}

qiao_status_t qiao_hal_device_last_report(qiao_hal_device_t *d, char *buf, size_t cap) {
  if (!buf || !cap) return qiao_status_make(QIAO_INVALID_ARGUMENT, "last report: no buffer");
  buf[0] = 0;
  if (!d->ops->last_report)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' has no per-dispatch report", d->uri);
  return d->ops->last_report(d, buf, cap);
}

double qiao_hal_event_elapsed_ms(const qiao_hal_event_t *start, const qiao_hal_event_t *end) {
  if (start->kind != end->kind) return NAN;
  return (double)(int64_t)(end->ns - start->ns) / 1e6;
}
