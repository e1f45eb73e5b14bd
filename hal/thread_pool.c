/* Qiao HAL — the CPU thread pool (see thread_pool.h). */
#include "thread_pool.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Iterations of the pause loop before the caller sleeps waiting for helpers: a
 * few tens of microseconds. */
enum { QIAO_POOL_SPIN = 4096 };
/* How long an idle worker spins before it sleeps on the futex. Waking a
 * sleeping vCPU can take as long as a millisecond-sized dispatch (measured on
 * the 2-core VM: a 2-thread GEMM of 1.2 ms ran on one thread one time in five
 * with a 4096-pause spin), so workers stay hot for 2 ms after each job, as
 * OpenMP runtimes do (their default is longer). */
#define QIAO_POOL_SPIN_NS 2000000ull

typedef struct pool_slot {
  alignas(64) void *scratch;
  size_t scratch_size;
} pool_slot_t;

typedef struct pool_worker_arg {
  qiao_hal_thread_pool_t *pool;
  int32_t index;
} pool_worker_arg_t;

struct qiao_hal_thread_pool {
  int32_t n_threads;
  int32_t n_started;
  pthread_t *threads;
  pool_worker_arg_t *args;
  pool_slot_t *slots;
  pthread_mutex_t submit_lock;
  /* The job, written by the caller before `generation` is bumped. */
  qiao_hal_pool_fn_t fn;
  void *ctx;
  int64_t n;
  int64_t chunk;
  alignas(64) _Atomic uint32_t generation; /* futex word the workers sleep on */
  _Atomic uint32_t sleepers;
  _Atomic uint32_t stop;
  alignas(64) _Atomic uint32_t pending; /* helpers still in the job; futex word of the caller */
  _Atomic uint32_t caller_waiting;
  alignas(64) _Atomic int64_t next;
};

/* The pool and worker index of the job this thread is running, if any. */
static _Thread_local qiao_hal_thread_pool_t *tls_pool;
static _Thread_local int32_t tls_worker;

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/* One step of a spin-wait: pause, and every 256 steps yield the CPU (an
 * oversubscribed machine may be running the very thread we wait for). */
static inline void spin_step(int spins) {
  cpu_relax();
  if ((spins & 255) == 255) sched_yield();
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

static void run_chunks(qiao_hal_thread_pool_t *pool, int32_t index) {
  const int64_t n = pool->n, chunk = pool->chunk;
  void *scratch = pool->slots[index].scratch;
  for (;;) {
    int64_t begin = atomic_fetch_add_explicit(&pool->next, chunk, memory_order_relaxed);
    if (begin >= n) break;
    int64_t end = n - begin > chunk ? begin + chunk : n;
    pool->fn(pool->ctx, begin, end, index, scratch);
  }
}

static void *worker_main(void *p) {
  pool_worker_arg_t *arg = p;
  qiao_hal_thread_pool_t *pool = arg->pool;
  tls_pool = pool;
  tls_worker = arg->index;
  uint32_t seen = 0;
  for (;;) {
    uint32_t g;
    int spins = 0;
    uint64_t spin_start = 0;
    bool spin_over = false;
    while ((g = atomic_load_explicit(&pool->generation, memory_order_acquire)) == seen) {
      if (!spin_over) {
        spin_step(spins++);
        if ((spins & 255) == 0) {
          uint64_t t = now_ns();
          if (!spin_start) spin_start = t;
          else if (t - spin_start > QIAO_POOL_SPIN_NS) spin_over = true;
        }
      } else {
        atomic_fetch_add(&pool->sleepers, 1);
        futex_wait(&pool->generation, seen);
        atomic_fetch_sub(&pool->sleepers, 1);
      }
    }
    seen = g;
    if (atomic_load_explicit(&pool->stop, memory_order_acquire)) return NULL;
    run_chunks(pool, arg->index);
    if (atomic_fetch_sub(&pool->pending, 1) == 1 && atomic_load(&pool->caller_waiting))
      futex_wake(&pool->pending, 1);
  }
}

static void stop_workers(qiao_hal_thread_pool_t *pool) {
  atomic_store(&pool->stop, 1);
  atomic_fetch_add_explicit(&pool->generation, 1, memory_order_release);
  futex_wake(&pool->generation, INT_MAX);
  for (int32_t i = 0; i < pool->n_started; ++i) pthread_join(pool->threads[i], NULL);
  pool->n_started = 0;
}

qiao_status_t qiao_hal_thread_pool_create(int32_t n_threads, qiao_hal_thread_pool_t **out_pool) {
  *out_pool = NULL;
  if (n_threads < 1 || n_threads > 256)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "thread pool: %d threads (expected 1..256)",
                            n_threads);
  qiao_hal_thread_pool_t *pool = aligned_alloc(64, (sizeof(*pool) + 63) / 64 * 64);
  if (!pool) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "thread pool: out of memory");
  memset(pool, 0, sizeof(*pool));
  pthread_mutex_init(&pool->submit_lock, NULL);
  pool->n_threads = n_threads;
  pool->slots = aligned_alloc(64, sizeof(pool_slot_t) * (size_t)n_threads);
  pool->threads = calloc((size_t)n_threads, sizeof(pthread_t));
  pool->args = calloc((size_t)n_threads, sizeof(pool_worker_arg_t));
  if (!pool->slots || !pool->threads || !pool->args) {
    qiao_hal_thread_pool_destroy(pool);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "thread pool: out of memory");
  }
  memset(pool->slots, 0, sizeof(pool_slot_t) * (size_t)n_threads);
  for (int32_t i = 1; i < n_threads; ++i) {
    pool->args[i - 1] = (pool_worker_arg_t){pool, i};
    int rc = pthread_create(&pool->threads[i - 1], NULL, worker_main, &pool->args[i - 1]);
    if (rc != 0) {
      qiao_hal_thread_pool_destroy(pool);
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "thread pool: cannot start worker %d: %s",
                              i, strerror(rc));
    }
    pool->n_started++;
  }
  *out_pool = pool;
  return NULL;
}

void qiao_hal_thread_pool_destroy(qiao_hal_thread_pool_t *pool) {
  if (!pool) return;
  stop_workers(pool);
  if (pool->slots)
    for (int32_t i = 0; i < pool->n_threads; ++i) free(pool->slots[i].scratch);
  pthread_mutex_destroy(&pool->submit_lock);
  free(pool->slots);
  free(pool->threads);
  free(pool->args);
  free(pool);
}

int32_t qiao_hal_thread_pool_size(const qiao_hal_thread_pool_t *pool) { return pool->n_threads; }

/* bytes rounded up to whole cache lines; 0 when that overflows size_t. */
static size_t scratch_rounded(size_t bytes) {
  return bytes > SIZE_MAX - 63 ? 0 : (bytes + 63) / 64 * 64;
}

static qiao_status_t grow_scratch(pool_slot_t *slot, size_t bytes) {
  if (slot->scratch_size >= bytes) return NULL;
  size_t rounded = scratch_rounded(bytes);
  void *p = rounded ? aligned_alloc(64, rounded) : NULL;
  if (!p)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                            "thread pool: cannot allocate %zu bytes of worker scratch", bytes);
  free(slot->scratch);
  slot->scratch = p;
  slot->scratch_size = rounded;
  return NULL;
}

/* A parallel-for issued from inside one of this pool's jobs: run it on the
 * calling worker with a scratch block of its own (the worker's is in use). */
static qiao_status_t run_nested(int64_t n, size_t scratch_bytes, qiao_hal_pool_fn_t fn,
                                void *ctx) {
  void *scratch = NULL;
  if (scratch_bytes) {
    size_t rounded = scratch_rounded(scratch_bytes);
    scratch = rounded ? aligned_alloc(64, rounded) : NULL;
    if (!scratch)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED,
                              "thread pool: cannot allocate %zu bytes of worker scratch",
                              scratch_bytes);
  }
  fn(ctx, 0, n, tls_worker, scratch);
  free(scratch);
  return NULL;
}

qiao_status_t qiao_hal_thread_pool_parallel_for(qiao_hal_thread_pool_t *pool, int64_t n,
                                                int64_t grain, size_t scratch_bytes,
                                                qiao_hal_pool_fn_t fn, void *ctx) {
  if (n <= 0) return NULL;
  if (tls_pool == pool) return run_nested(n, scratch_bytes, fn, ctx);

  int64_t chunk = grain > 0 ? grain : n / ((int64_t)pool->n_threads * 4);
  if (chunk < 1) chunk = 1;

  pthread_mutex_lock(&pool->submit_lock);
  qiao_status_t st = NULL;
  bool inline_only = pool->n_threads == 1 || n <= chunk;
  for (int32_t i = 0; i < (inline_only ? 1 : pool->n_threads) && !st; ++i)
    st = grow_scratch(&pool->slots[i], scratch_bytes);
  if (st) {
    pthread_mutex_unlock(&pool->submit_lock);
    return st;
  }
  void *scratch0 = scratch_bytes ? pool->slots[0].scratch : NULL;
  qiao_hal_thread_pool_t *outer_pool = tls_pool;
  int32_t outer_worker = tls_worker;
  tls_pool = pool;
  tls_worker = 0;
  if (inline_only) {
    fn(ctx, 0, n, 0, scratch0);
  } else {
    pool->fn = fn;
    pool->ctx = ctx;
    pool->n = n;
    pool->chunk = chunk;
    atomic_store_explicit(&pool->next, 0, memory_order_relaxed);
    atomic_store_explicit(&pool->pending, (uint32_t)(pool->n_threads - 1), memory_order_relaxed);
    atomic_fetch_add_explicit(&pool->generation, 1, memory_order_seq_cst);
    if (atomic_load(&pool->sleepers)) futex_wake(&pool->generation, INT_MAX);
    run_chunks(pool, 0);
    uint32_t p;
    int spins = 0;
    while ((p = atomic_load_explicit(&pool->pending, memory_order_acquire)) != 0) {
      if (spins < QIAO_POOL_SPIN) {
        spin_step(spins++);
        continue;
      }
      atomic_store(&pool->caller_waiting, 1);
      while ((p = atomic_load(&pool->pending)) != 0) futex_wait(&pool->pending, p);
      atomic_store(&pool->caller_waiting, 0);
    }
  }
  tls_pool = outer_pool;
  tls_worker = outer_worker;
  pthread_mutex_unlock(&pool->submit_lock);
  return NULL;
}
