/* HAL: device open by URI, class and driver, the device's profile, buffers, events. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "qiao/hal.h"

static qiao_hal_device_t *open_ok(const char *uri) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open(uri, &d);
  cr_assert_null(st, "open '%s': %s", uri, qiao_status_message(st));
  cr_assert_not_null(d);
  return d;
}

static void expect_open_error(const char *uri, qiao_status_code_t code, const char *msg) {
  qiao_hal_device_t *d = (qiao_hal_device_t *)0x1;
  qiao_status_t st = qiao_hal_device_open(uri, &d);
  cr_assert_not_null(st, "open '%s' should fail", uri ? uri : "(null)");
  cr_expect_null(d);
  cr_expect_eq(qiao_status_code(st), code, "'%s': code %d", uri ? uri : "(null)",
               qiao_status_code(st));
  cr_expect(strstr(qiao_status_message(st), msg) != NULL, "'%s': message '%s' lacks '%s'",
            uri ? uri : "(null)", qiao_status_message(st), msg);
  qiao_status_free(st);
}

Test(device, open_cpu_default) {
  qiao_hal_device_t *d = open_ok("cpu");
  cr_expect_eq(qiao_hal_device_class(d), QIAO_HAL_CLASS_CPU);
  cr_expect_str_eq(qiao_hal_device_class_name(qiao_hal_device_class(d)), "cpu");
  cr_expect_str_eq(qiao_hal_device_driver(d), "cpu");
  cr_expect_str_eq(qiao_hal_device_uri(d), "cpu");
  cr_expect_eq(qiao_hal_device_thread_count(d), (int32_t)sysconf(_SC_NPROCESSORS_ONLN));
  qiao_hal_device_release(d);
}

Test(device, open_cpu_threads) {
  int32_t counts[] = {1, 2, 3, 256};
  for (size_t i = 0; i < sizeof counts / sizeof counts[0]; ++i) {
    char uri[64];
    snprintf(uri, sizeof uri, "cpu:threads=%d", counts[i]);
    qiao_hal_device_t *d = open_ok(uri);
    cr_expect_eq(qiao_hal_device_thread_count(d), counts[i]);
    cr_expect_str_eq(qiao_hal_device_uri(d), uri);
    qiao_hal_device_retain(d);
    qiao_hal_device_release(d);
    qiao_hal_device_release(d);
  }
}

Test(device, bad_uris) {
  expect_open_error("foo", QIAO_INVALID_ARGUMENT,
                    "unknown device URI 'foo' (known: cpu, cpu:threads=N)");
  expect_open_error("gpu:0", QIAO_INVALID_ARGUMENT, "unknown device URI 'gpu:0'");
  expect_open_error("cpux", QIAO_INVALID_ARGUMENT, "unknown device URI 'cpux'");
  expect_open_error("", QIAO_INVALID_ARGUMENT, "empty device URI");
  expect_open_error(NULL, QIAO_INVALID_ARGUMENT, "empty device URI");
  expect_open_error("cpu:threads=0", QIAO_INVALID_ARGUMENT,
                    "device URI 'cpu:threads=0': option 'threads' must be an integer in 1..256 "
                    "(got '0')");
  expect_open_error("cpu:threads=257", QIAO_INVALID_ARGUMENT, "(got '257')");
  expect_open_error("cpu:threads=-1", QIAO_INVALID_ARGUMENT, "option 'threads'");
  expect_open_error("cpu:threads=2x", QIAO_INVALID_ARGUMENT, "(got '2x')");
  expect_open_error("cpu:threads=", QIAO_INVALID_ARGUMENT, "(got '')");
  expect_open_error("cpu:threads", QIAO_INVALID_ARGUMENT, "option 'threads'");
  expect_open_error("cpu:pin=1", QIAO_INVALID_ARGUMENT,
                    "device URI 'cpu:pin=1': unknown option 'pin' (known: threads)");
  expect_open_error("cpu:", QIAO_INVALID_ARGUMENT, "device URI 'cpu:': empty option list");
  expect_open_error("cpu:threads=2,", QIAO_INVALID_ARGUMENT, "trailing ','");
  expect_open_error("cuda:0", QIAO_UNSUPPORTED,
                    "device URI 'cuda:0': driver 'cuda' is not available in this build");
  expect_open_error("simt-emu:ascend-910b", QIAO_INVALID_ARGUMENT, "is not CUDA-class");
  expect_open_error("ascend-sim:h100", QIAO_INVALID_ARGUMENT, "is not Ascend-class");
}

Test(device, class_names) {
  cr_expect_str_eq(qiao_hal_device_class_name(QIAO_HAL_CLASS_CPU), "cpu");
  cr_expect_str_eq(qiao_hal_device_class_name(QIAO_HAL_CLASS_CUDA), "cuda");
  cr_expect_str_eq(qiao_hal_device_class_name(QIAO_HAL_CLASS_ASCEND), "ascend");
  cr_expect_str_eq(qiao_hal_device_class_name(QIAO_HAL_CLASS_COUNT), "unknown");
  cr_expect_str_eq(qiao_hal_device_class_name((qiao_hal_device_class_t)-1), "unknown");
}

/* ---------------------------------------------------------------- profile */

typedef struct profile_race {
  qiao_hal_device_t *d;
  const qiao_hal_profile_t *got;
} profile_race_t;

static void *get_profile(void *p) {
  profile_race_t *r = p;
  qiao_status_t st = qiao_hal_device_profile(r->d, &r->got);
  if (st) r->got = NULL;
  qiao_status_free(st);
  return NULL;
}

Test(device, profile_is_loaded_once_and_owned) {
  qiao_hal_device_t *d = open_ok("cpu:threads=2");
  /* Several threads ask at once: all see the same profile. */
  enum { N = 4 };
  pthread_t t[N];
  profile_race_t r[N];
  for (int i = 0; i < N; ++i) {
    r[i] = (profile_race_t){d, NULL};
    cr_assert_eq(pthread_create(&t[i], NULL, get_profile, &r[i]), 0);
  }
  for (int i = 0; i < N; ++i)
    pthread_join(t[i], NULL);
  cr_assert_not_null(r[0].got);
  for (int i = 1; i < N; ++i)
    cr_expect_eq(r[i].got, r[0].got);
  const qiao_hal_profile_t *p = NULL;
  cr_assert_null(qiao_hal_device_profile(d, &p));
  cr_expect_eq(p, r[0].got);
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  cr_expect_eq(in->device_class, QIAO_HAL_CLASS_CPU);
  cr_expect_eq(in->device_class, qiao_hal_device_class(d));
  cr_expect(in->measured);
  qiao_hal_device_release(d); /* frees the profile (ASan checks) */
}

/* ---------------------------------------------------------------- buffers */

Test(buffer, alloc_write_read_copy) {
  qiao_hal_device_t *d = open_ok("cpu:threads=2");
  srand(1234);
  enum { N = 1000 };
  uint8_t src[N], dst[N];
  for (int i = 0; i < N; ++i)
    src[i] = (uint8_t)(rand() & 0xff);
  qiao_hal_buffer_t *a = NULL, *b = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, N, &a));
  cr_assert_null(qiao_hal_buffer_alloc(d, N + 37, &b));
  cr_expect_eq(qiao_hal_buffer_size(a), N);
  cr_expect_eq(qiao_hal_buffer_size(b), N + 37);
  cr_expect_eq((uintptr_t)qiao_hal_buffer_host_ptr(a) % 64, 0, "64-byte aligned");
  cr_expect_eq((uintptr_t)qiao_hal_buffer_host_ptr(b) % 64, 0, "64-byte aligned");
  memset(qiao_hal_buffer_host_ptr(b), 0xAB, N + 37);

  cr_assert_null(qiao_hal_buffer_write(a, 0, src, N));
  memset(dst, 0xAB, N);
  cr_assert_null(qiao_hal_buffer_read(a, 0, dst, N));
  cr_expect_arr_eq(dst, src, N);

  /* Partial write / read at offsets. */
  cr_assert_null(qiao_hal_buffer_write(a, 100, src + 500, 200));
  memset(dst, 0xAB, N);
  cr_assert_null(qiao_hal_buffer_read(a, 100, dst, 200));
  cr_expect_arr_eq(dst, src + 500, 200);

  /* Copy into b at an offset; the rest of b keeps its poison. */
  cr_assert_null(qiao_hal_buffer_copy(a, 10, b, 37, N - 10));
  uint8_t *bp = qiao_hal_buffer_host_ptr(b);
  uint8_t expect[N];
  memcpy(expect, src, N);
  memcpy(expect + 100, src + 500, 200);
  cr_expect_arr_eq(bp + 37, expect + 10, N - 10);
  for (int i = 0; i < 37; ++i)
    cr_expect_eq(bp[i], 0xAB);
  cr_expect_eq(bp[N + 27], 0xAB);

  /* Overlapping copy within one buffer behaves like memmove. */
  cr_assert_null(qiao_hal_buffer_copy(a, 0, a, 1, N - 1));
  memset(dst, 0xAB, N);
  cr_assert_null(qiao_hal_buffer_read(a, 1, dst, N - 1));
  cr_expect_arr_eq(dst, expect, N - 1);

  /* Zero-length operations at the end are fine. */
  cr_expect_null(qiao_hal_buffer_write(a, N, src, 0));
  cr_expect_null(qiao_hal_buffer_read(a, N, dst, 0));

  qiao_hal_buffer_release(a);
  qiao_hal_buffer_release(b);
  qiao_hal_device_release(d);
}

static void expect_bounds(qiao_status_t st, const char *msg) {
  cr_assert_not_null(st, "expected an error containing '%s'", msg);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(st), msg) != NULL, "message '%s' lacks '%s'",
            qiao_status_message(st), msg);
  qiao_status_free(st);
}

Test(buffer, out_of_bounds) {
  qiao_hal_device_t *d = open_ok("cpu:threads=1");
  qiao_hal_buffer_t *a = NULL, *b = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 16, &a));
  cr_assert_null(qiao_hal_buffer_alloc(d, 8, &b));
  uint8_t tmp[64];
  memset(tmp, 0x5A, sizeof tmp);
  expect_bounds(qiao_hal_buffer_write(a, 10, tmp, 20),
                "buffer write out of bounds: offset 10 + 20 bytes > buffer size 16");
  expect_bounds(qiao_hal_buffer_read(a, 17, tmp, 0),
                "buffer read out of bounds: offset 17 + 0 bytes > buffer size 16");
  expect_bounds(qiao_hal_buffer_read(a, 0, tmp, 17), "buffer read out of bounds");
  expect_bounds(qiao_hal_buffer_write(a, SIZE_MAX, tmp, 2), "buffer write out of bounds");
  expect_bounds(qiao_hal_buffer_write(a, 8, tmp, SIZE_MAX), "buffer write out of bounds");
  expect_bounds(qiao_hal_buffer_copy(a, 0, b, 0, 9),
                "buffer copy destination out of bounds: offset 0 + 9 bytes > buffer size 8");
  expect_bounds(qiao_hal_buffer_copy(b, 4, a, 0, 5),
                "buffer copy source out of bounds: offset 4 + 5 bytes > buffer size 8");
  qiao_hal_buffer_release(a);
  qiao_hal_buffer_release(b);
  qiao_hal_device_release(d);
}

Test(buffer, outlives_device_reference) {
  qiao_hal_device_t *d = open_ok("cpu:threads=2");
  qiao_hal_buffer_t *a = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 0, &a));
  cr_expect_eq(qiao_hal_buffer_size(a), 0);
  qiao_hal_device_release(d); /* the buffer keeps the device alive */
  qiao_hal_buffer_retain(a);
  qiao_hal_buffer_release(a);
  qiao_hal_buffer_release(a);
}

/* ----------------------------------------------------------------- events */

Test(event, elapsed) {
  qiao_hal_device_t *d = open_ok("cpu:threads=1");
  qiao_hal_event_t a, b;
  cr_assert_null(qiao_hal_event_record(d, &a));
  usleep(2000);
  cr_assert_null(qiao_hal_event_record(d, &b));
  double ms = qiao_hal_event_elapsed_ms(&a, &b);
  /* usleep guarantees at least 2 ms pass; no upper bound (a loaded machine may be slow) */
  cr_expect(ms >= 1.9, "elapsed %f ms", ms);
  cr_expect(qiao_hal_event_elapsed_ms(&b, &a) < 0);
  cr_expect_eq(a.kind, QIAO_HAL_TIME_MEASURED);
  cr_expect_eq(b.kind, QIAO_HAL_TIME_MEASURED);
  qiao_hal_device_release(d);
}

Test(event, kinds) {
  cr_expect_str_eq(qiao_hal_time_kind_name(QIAO_HAL_TIME_MEASURED), "measured");
  cr_expect_str_eq(qiao_hal_time_kind_name(QIAO_HAL_TIME_SIMULATED), "simulated");
  cr_expect_str_eq(qiao_hal_time_kind_name(QIAO_HAL_TIME_MODELLED), "modelled");
  cr_expect_str_eq(qiao_hal_time_kind_name((qiao_hal_time_kind_t)7), "unknown");
  qiao_hal_event_t m = {1000000, QIAO_HAL_TIME_MEASURED, 1000000};
  qiao_hal_event_t s0 = {0, QIAO_HAL_TIME_SIMULATED, 0}, s1 = {3000000, QIAO_HAL_TIME_SIMULATED, 0};
  cr_expect(isnan(qiao_hal_event_elapsed_ms(&m, &s1)), "mixed kinds give NaN");
  cr_expect(isnan(qiao_hal_event_elapsed_ms(&s0, &m)));
  cr_expect_float_eq(qiao_hal_event_elapsed_ms(&s0, &s1), 3.0, 1e-12);
  qiao_hal_device_t *d = open_ok("cpu:threads=1");
  qiao_status_t st = qiao_hal_event_record(d, NULL);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  cr_expect_str_eq(qiao_status_message(st), "event record: event is NULL");
  qiao_status_free(st);
  qiao_hal_device_release(d);
}
