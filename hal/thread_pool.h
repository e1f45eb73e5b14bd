/* Qiao HAL — private: the CPU thread pool.
 *
 * Persistent workers; the calling thread participates as worker 0. A
 * parallel-for hands out [0, n) in chunks through an atomic counter. Workers
 * spin briefly after each job, then sleep on a futex. One job runs at a time
 * per pool (concurrent callers are serialized); a parallel-for issued from
 * inside a job runs inline on the calling worker.
 */
#ifndef QIAO_HAL_THREAD_POOL_H
#define QIAO_HAL_THREAD_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "qiao/status.h"

typedef struct qiao_hal_thread_pool qiao_hal_thread_pool_t;

/* Runs items [begin, end) on worker `worker` (0 = the caller); `scratch` is
 * that worker's block of at least the requested scratch bytes (64-byte
 * aligned; may be NULL when 0 bytes were requested). */
typedef void (*qiao_hal_pool_fn_t)(void *ctx, int64_t begin, int64_t end, int32_t worker,
                                   void *scratch);

/* Starts n_threads - 1 workers (n_threads in 1..256). */
qiao_status_t qiao_hal_thread_pool_create(int32_t n_threads, qiao_hal_thread_pool_t **out_pool);
/* Joins the workers and frees the scratch blocks. NULL is a no-op. */
void qiao_hal_thread_pool_destroy(qiao_hal_thread_pool_t *pool);
int32_t qiao_hal_thread_pool_size(const qiao_hal_thread_pool_t *pool);
/* Calls fn over [0, n) in chunks of at most `grain` items (0: automatic) and
 * returns when all are done. Grows every worker's scratch to scratch_bytes
 * first; fails only when that allocation fails. */
qiao_status_t qiao_hal_thread_pool_parallel_for(qiao_hal_thread_pool_t *pool, int64_t n,
                                                int64_t grain, size_t scratch_bytes,
                                                qiao_hal_pool_fn_t fn, void *ctx);

#endif /* QIAO_HAL_THREAD_POOL_H */
