/* Qiao HAL — device open by URI, refcounting, events, host parallel-for. */
#include <errno.h>
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
      if (!*p)
        return qiao_status_make(QIAO_INVALID_ARGUMENT, "device URI '%s': trailing ','", uri);
    }
  }
  return qiao_hal_cpu_device_create(uri, threads, out_device);
}

typedef struct device_class_entry {
  const char *scheme;
  device_open_fn open; /* NULL: a planned class this build does not have */
} device_class_entry_t;

static const device_class_entry_t kDeviceClasses[] = {
    {"cpu", open_cpu},
    {"simt-emu", NULL},
    {"ascend-sim", NULL},
    {"cuda", NULL},
};

qiao_status_t qiao_hal_device_open(const char *uri, qiao_hal_device_t **out_device) {
  *out_device = NULL;
  if (!uri || !*uri)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "empty device URI (known: " QIAO_HAL_KNOWN_URIS ")");
  const char *colon = strchr(uri, ':');
  size_t slen = colon ? (size_t)(colon - uri) : strlen(uri);
  for (size_t i = 0; i < sizeof kDeviceClasses / sizeof kDeviceClasses[0]; ++i) {
    const device_class_entry_t *c = &kDeviceClasses[i];
    if (strlen(c->scheme) != slen || strncmp(c->scheme, uri, slen)) continue;
    if (!c->open)
      return qiao_status_make(QIAO_UNSUPPORTED,
                              "device URI '%s': device class '%s' is not available in this "
                              "build (known: " QIAO_HAL_KNOWN_URIS ")",
                              uri, c->scheme);
    return c->open(uri, colon ? colon + 1 : NULL, out_device);
  }
  return qiao_status_make(QIAO_INVALID_ARGUMENT,
                          "unknown device URI '%s' (known: " QIAO_HAL_KNOWN_URIS ")", uri);
}

void qiao_hal_device_retain(qiao_hal_device_t *d) {
  if (d) atomic_fetch_add_explicit(&d->refs, 1, memory_order_relaxed);
}

void qiao_hal_device_release(qiao_hal_device_t *d) {
  if (!d || atomic_fetch_sub_explicit(&d->refs, 1, memory_order_acq_rel) != 1) return;
  char *uri = d->uri;
  d->ops->destroy(d);
  free(uri);
}

const char *qiao_hal_device_class(const qiao_hal_device_t *d) { return d->ops->class_name; }
const char *qiao_hal_device_uri(const qiao_hal_device_t *d) { return d->uri; }
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

qiao_status_t qiao_hal_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out_event) {
  if (d->ops->synchronize) QIAO_RETURN_IF_ERROR(d->ops->synchronize(d));
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
    return qiao_status_make(QIAO_INTERNAL, "clock_gettime: %s", strerror(errno));
  out_event->ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
  return NULL;
}

double qiao_hal_event_elapsed_ms(const qiao_hal_event_t *start, const qiao_hal_event_t *end) {
  return (double)(int64_t)(end->ns - start->ns) / 1e6;
}
