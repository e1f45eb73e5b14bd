/* Qiao — the runtime: graph → fused kernel descriptors → backend → HAL
 * executable → dispatch, with a static memory plan and a compile cache.
 *
 * Contents
 *   1. runtime context (owns the compile cache)
 *   2. programs: compile a graph for a device, bind params, run
 *   3. memory plan (exposed for tests and reports)
 */
#ifndef QIAO_RUNTIME_H
#define QIAO_RUNTIME_H

#include <stdint.h>

#include "qiao/hal.h"
#include "qiao/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ 1. context */

typedef struct qiao_runtime qiao_runtime_t;

/* A runtime context: holds the in-memory compile cache (kernels keyed by a
 * hash of descriptor + target), shared by the programs compiled through it.
 * Thread-safe. */
qiao_status_t qiao_runtime_create(qiao_runtime_t **out_rt);
void qiao_runtime_destroy(qiao_runtime_t *rt);

typedef struct qiao_cache_stats {
  int64_t hits, misses, entries;
} qiao_cache_stats_t;
void qiao_runtime_cache_stats(const qiao_runtime_t *rt, qiao_cache_stats_t *out_stats);

/* ------------------------------------------------------------ 2. programs */

typedef struct qiao_program qiao_program_t;

typedef struct qiao_compile_options {
  int32_t opt_level; /* 0: default (3) */
  bool no_cache;     /* bypass the compile cache */
  bool poison;       /* fill intermediates and outputs with 0xFF bytes (NaN) before each
                        run, so a kernel that skips an element is caught by tests */
  const struct qiao_backend *backend; /* NULL: the backend registered for the device's
                                         class; else this one (tests, tools) */
} qiao_compile_options_t;

typedef struct qiao_program_stats {
  int32_t n_kernels;
  int32_t n_cached;       /* kernels taken from the cache */
  int64_t peak_bytes;     /* intermediate arena after liveness-based reuse */
  int64_t naive_bytes;    /* the same without reuse */
  int64_t param_bytes;
  double compile_ms;
} qiao_program_stats_t;

/* Compiles a verified graph for device `d` (retained). `rt` may be NULL (no
 * cache). The graph is not referenced after the call. */
qiao_status_t qiao_program_compile(qiao_runtime_t *rt, const qiao_graph_t *g, qiao_hal_device_t *d,
                                   const qiao_compile_options_t *opts, qiao_program_t **out_program);
void qiao_program_destroy(qiao_program_t *p);

/* Binds every param found in `weights` by name (others stay unbound). A tensor
 * whose dtype or shape differs from the param's is an error naming both. */
qiao_status_t qiao_program_bind_weights(qiao_program_t *p, const qiao_safetensors_t *weights);
/* Binds one param by name (QIAO_NOT_FOUND when the graph has no such param). */
qiao_status_t qiao_program_bind_param(qiao_program_t *p, const char *name, const qiao_tensor_t *t);
/* Names of the params still unbound (NULL-terminated array valid until the
 * next bind; NULL when all are bound). */
int32_t qiao_program_param_count(const qiao_program_t *p);
const char *qiao_program_param_name(const qiao_program_t *p, int32_t i);
qiao_type_t qiao_program_param_type(const qiao_program_t *p, int32_t i);
bool qiao_program_param_bound(const qiao_program_t *p, int32_t i);

/* Runs the program: inputs[i] is graph input i (types checked); on success
 * out_outputs[i] receives a new tensor per graph output (caller destroys).
 * Safe to call from several threads at once: runs of one program take turns
 * (they share its input buffers and arena); distinct programs run in parallel. */
qiao_status_t qiao_program_run(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                               qiao_tensor_t **out_outputs);

void qiao_program_stats(const qiao_program_t *p, qiao_program_stats_t *out_stats);
/* The kernel descriptors the program runs (for reports and tests). */
const qiao_partition_t *qiao_program_partition(const qiao_program_t *p);

/* ------------------------------------------------------------ 3. memory plan */

/* One buffer request: `size` bytes live from step `first` to step `last`
 * (inclusive; steps are kernel indices). */
typedef struct qiao_mem_request {
  int64_t size;
  int32_t first, last;
  int64_t offset; /* out: offset in the arena (64-byte aligned) */
} qiao_mem_request_t;

/* Assigns offsets so that requests whose lifetimes overlap never overlap in
 * memory, reusing space by liveness (greedy by size, best fit). Writes the
 * arena size. */
qiao_status_t qiao_mem_plan(qiao_mem_request_t *reqs, int32_t n, int64_t *out_arena_bytes);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_RUNTIME_H */
