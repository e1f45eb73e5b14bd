/* HAL: the device thread pool's parallel-for. */
#include <criterion/criterion.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "qiao/hal.h"

typedef struct cover_ctx {
  _Atomic int32_t *hits;
  int64_t n;
  int32_t threads;
  size_t scratch_bytes;
  _Atomic int32_t bad;
  _Atomic int32_t workers_seen;
  bool slow; /* sleep 100 us per item so that every worker gets some */
} cover_ctx_t;

static void cover(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  cover_ctx_t *c = p;
  if (begin < 0 || end > c->n || begin >= end || worker < 0 || worker >= c->threads)
    atomic_fetch_add(&c->bad, 1);
  if (c->scratch_bytes) {
    if (!scratch || (uintptr_t)scratch % 64) {
      atomic_fetch_add(&c->bad, 1);
    } else {
      memset(scratch, worker, c->scratch_bytes); /* ASan checks the size */
    }
  }
  atomic_fetch_or(&c->workers_seen, 1 << worker);
  for (int64_t i = begin; i < end; ++i) {
    atomic_fetch_add(&c->hits[i], 1);
    if (c->slow) usleep(100);
  }
}

static void check_cover(const char *uri, int64_t n, int64_t grain, size_t scratch) {
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open(uri, &d));
  cover_ctx_t c = {calloc((size_t)n + 1, sizeof(int32_t)), n, qiao_hal_device_thread_count(d),
                   scratch, 0, 0, false};
  for (int rep = 0; rep < 3; ++rep) {
    for (int64_t i = 0; i < n; ++i) atomic_store(&c.hits[i], 0);
    qiao_status_t st = qiao_hal_device_parallel_for(d, n, grain, scratch, cover, &c);
    cr_assert_null(st, "%s", qiao_status_message(st));
    for (int64_t i = 0; i < n; ++i)
      cr_assert_eq(atomic_load(&c.hits[i]), 1, "%s n=%lld grain=%lld: index %lld hit %d times",
                   uri, (long long)n, (long long)grain, (long long)i, atomic_load(&c.hits[i]));
  }
  cr_expect_eq(atomic_load(&c.bad), 0, "bad range/worker/scratch");
  free(c.hits);
  qiao_hal_device_release(d);
}

Test(thread_pool, covers_each_index_once) {
  const int64_t ns[] = {0, 1, 3, 17, 1000};
  const char *uris[] = {"cpu:threads=1", "cpu:threads=2"};
  for (size_t u = 0; u < 2; ++u)
    for (size_t k = 0; k < sizeof ns / sizeof ns[0]; ++k) {
      check_cover(uris[u], ns[k], 0, 0);
      check_cover(uris[u], ns[k], 1, 0);
      check_cover(uris[u], ns[k], 7, 100);
    }
}

Test(thread_pool, many_threads_and_scratch_growth) {
  check_cover("cpu:threads=8", 1000, 1, 64);
  check_cover("cpu:threads=8", 100000, 0, 4096);
  check_cover("cpu:threads=8", 5, 1, 1 << 20);
}

Test(thread_pool, both_workers_take_part) {
  /* With grain 1 and slow items, worker 1 must get some of them. */
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &d));
  cover_ctx_t c = {calloc(64, sizeof(int32_t)), 64, 2, 0, 0, 0, true};
  for (int rep = 0; rep < 20 && atomic_load(&c.workers_seen) != 3; ++rep) {
    for (int i = 0; i < 64; ++i) atomic_store(&c.hits[i], 0);
    cr_assert_null(qiao_hal_device_parallel_for(d, 64, 1, 0, cover, &c));
  }
  cr_expect_eq(atomic_load(&c.workers_seen), 3);
  free(c.hits);
  qiao_hal_device_release(d);
}

typedef struct nested_ctx {
  qiao_hal_device_t *d;
  _Atomic int64_t sum;
} nested_ctx_t;

static void inner(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  nested_ctx_t *c = p;
  for (int64_t i = begin; i < end; ++i) atomic_fetch_add(&c->sum, i);
}

static void outer(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  nested_ctx_t *c = p;
  for (int64_t i = begin; i < end; ++i) {
    qiao_status_t st = qiao_hal_device_parallel_for(c->d, 10, 0, 32, inner, c);
    if (st) abort();
  }
}

Test(thread_pool, nested_runs_inline) {
  nested_ctx_t c = {NULL, 0};
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &c.d));
  cr_assert_null(qiao_hal_device_parallel_for(c.d, 8, 1, 0, outer, &c));
  cr_expect_eq(atomic_load(&c.sum), 8 * 45);
  qiao_hal_device_release(c.d);
}

Test(thread_pool, bad_arguments) {
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &d));
  qiao_status_t st = qiao_hal_device_parallel_for(d, -1, 0, 0, inner, NULL);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "negative item count -1") != NULL);
  qiao_status_free(st);
  st = qiao_hal_device_parallel_for(d, 1, 0, 0, NULL, NULL);
  cr_assert_not_null(st);
  qiao_status_free(st);
  qiao_hal_device_release(d);
}

static void touch_scratch(void *p, int64_t begin, int64_t end, int32_t worker, void *scratch) {
  (void)begin, (void)end, (void)worker;
  atomic_fetch_add((_Atomic int32_t *)p, 1);
  if (scratch) memset(scratch, 0, 256); /* far less than what was asked for */
}

typedef struct huge_nested_ctx {
  qiao_hal_device_t *d;
  _Atomic int32_t calls, errors;
} huge_nested_ctx_t;

static void huge_nested_outer(void *p, int64_t begin, int64_t end, int32_t worker,
                              void *scratch) {
  (void)worker, (void)scratch;
  huge_nested_ctx_t *c = p;
  for (int64_t i = begin; i < end; ++i) {
    qiao_status_t st =
        qiao_hal_device_parallel_for(c->d, 4, 0, SIZE_MAX - 10, touch_scratch, &c->calls);
    if (st) atomic_fetch_add(&c->errors, 1);
    qiao_status_free(st);
  }
}

/* A scratch size whose rounding up to 64 bytes overflows size_t must fail,
 * not hand the function a block smaller than it asked for. Both the pooled
 * path and the nested (inline) path. */
Test(thread_pool, huge_scratch_is_an_error) {
  const char *uris[] = {"cpu:threads=1", "cpu:threads=2"};
  for (int u = 0; u < 2; ++u) {
    qiao_hal_device_t *d = NULL;
    cr_assert_null(qiao_hal_device_open(uris[u], &d));
    _Atomic int32_t calls = 0;
    qiao_status_t st = qiao_hal_device_parallel_for(d, 64, 1, SIZE_MAX - 10, touch_scratch, &calls);
    cr_assert_not_null(st, "%s: scratch of SIZE_MAX - 10 bytes was accepted", uris[u]);
    qiao_status_free(st);
    cr_expect_eq(atomic_load(&calls), 0);
    huge_nested_ctx_t c = {d, 0, 0};
    cr_assert_null(qiao_hal_device_parallel_for(d, 2, 1, 0, huge_nested_outer, &c));
    cr_expect_eq(atomic_load(&c.errors), 2, "%s: nested parallel-for took the huge scratch",
                 uris[u]);
    cr_expect_eq(atomic_load(&c.calls), 0);
    qiao_hal_device_release(d);
  }
}
