/* Qiao — the runtime: graph → fused kernel descriptors → backend → HAL
 * executable → dispatch, with a static memory plan and a compile cache.
 *
 * Contents
 *   1. runtime context (owns the compile cache)
 *   2. programs: compile a graph for a device, bind params, run
 *   3. memory plan (exposed for tests and reports)
 *   4. explain and emit: per-kernel predictions and device reports; artifacts
 */
#ifndef QIAO_RUNTIME_H
#define QIAO_RUNTIME_H

#include <stdint.h>

#include "qiao/backend.h"
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
  /* Dispatch by cost model (section 5): NULL, the cheapest predicted variant
   * of each kernel; else the variant of this name ("flash-simt",
   * "splitkv(s=4)", "grouped-simt") for every kernel that offers it (tests). */
  const char *variant;
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

/* ------------------------------------------------------------ 4. dispatch by cost model */

/* The lowering variants of one kernel with their predicted times and the
 * one the runtime picked (docs/design.md "Dispatch by cost model"). */
typedef struct qiao_variant_choice {
  int32_t n; /* >= 1: a backend without variants has one, planned by the backend */
  qiao_kernel_variant_t variants[QIAO_VARIANT_MAX];
  double ns[QIAO_VARIANT_MAX];       /* predicted; < 0: no prediction (basis says why) */
  char basis[QIAO_VARIANT_MAX][128]; /* what the figure comes from */
  int32_t chosen;                    /* index into variants */
  char how[48]; /* "cheapest predicted", "forced", "only variant", "autotuned" ... */
  double tuned_ns[QIAO_VARIANT_MAX]; /* autotune: the best of its timed runs; < 0: not timed */
  qiao_hal_time_kind_t tuned_kind;   /* what tuned_ns are (measured on cpu) */
} qiao_variant_choice_t;

/* Enumerates the variants backend `be` can lower for kd on d, predicts each
 * (the backend's variant_cost, else qiao_variant_roofline_ns over d's
 * profile) and picks the cheapest predicted (ties: the first listed).
 * `force` (NULL: none) picks the variant of that name when kd offers it. */
qiao_status_t qiao_variant_choose(const qiao_backend_t *be, const qiao_kernel_desc_t *kd,
                                  qiao_hal_device_t *d, const char *force,
                                  qiao_variant_choice_t *out_choice);

typedef struct qiao_autotune_options {
  const char *cache_dir; /* NULL: $XDG_CACHE_HOME/qiao, else ~/.cache/qiao */
  int32_t runs;          /* timed runs per variant (best taken); 0: 3 */
} qiao_autotune_options_t;

/* Autotunes p (params bound) on `inputs`: for every kernel with more than one
 * variant, the winner cached on disk for (target key, descriptor) is taken;
 * else each variant is compiled, run `runs` times inside the whole program
 * (its time as the device reports it: measured on cpu) and the fastest kept
 * and cached (one file per key under <cache_dir>/autotune, written to a
 * temporary file and renamed). A cache file that cannot be read or parsed, or
 * names no variant of the kernel, is ignored: one "warning: ..." line goes to
 * `report` (may be NULL) and the kernel is tuned again. */
qiao_status_t qiao_program_autotune(qiao_program_t *p, const qiao_tensor_t *const *inputs,
                                    const qiao_autotune_options_t *opts, char *report,
                                    size_t report_cap);

/* A roofline over profile p: max(FLOPs / (peak of the contraction dtype ×
 * e_c), bytes / (bandwidth × e_m)) with per-kind efficiency factors e_c, e_m
 * (docs/design.md); basis names the profile and the factors. */
qiao_status_t qiao_variant_roofline_ns(const qiao_kernel_desc_t *kd, const qiao_hal_profile_t *p,
                                       double *out_ns, char *basis, size_t cap);

/* ------------------------------------------------------------ 5. explain and emit */

/* What a compiled program's kernel is and does, as its backend predicts it
 * and as its device reports one run of it (qiao-run --explain). */
typedef struct qiao_kernel_explain {
  int32_t index;
  char name[64];    /* the entry ("k0") */
  const char *kind; /* qiao_kd_kind_name: "matmul", "elementwise", ... */
  char ops[256];    /* the graph ops it covers: "matmul %h, add %h1" */
  int64_t grid[3];
  int32_t block[3];
  uint64_t shared_bytes; /* dynamic, per CTA / workgroup */
  double flops, bytes;   /* target-neutral work (qiao_kernel_desc_work) */
  /* The backend's prediction (its `predict`; CUDA class: modelled). */
  bool has_prediction;
  qiao_kernel_prediction_t prediction;
  char no_prediction[256]; /* why not, when the backend has `predict` but it failed; else "" */
  /* Dispatch by cost model: the variants considered and the one chosen. */
  qiao_variant_choice_t variant;
  /* One run on the device: its event time (kind: measured on cpu, simulated
   * on ascend-sim, modelled on simt-emu), the host wall time, and the
   * device's report of the dispatch ("" when it has none). */
  qiao_hal_time_kind_t run_kind;
  double run_ns, run_wall_ns;
  char run_report[1024];
} qiao_kernel_explain_t;

/* Explains every kernel of p, compiled from graph g: runs p once on
 * `inputs` (params must be bound) with an event around each dispatch and
 * asks the backend for its prediction. On success *out_kernels (n entries,
 * in execution order) is the caller's to free(). */
qiao_status_t qiao_program_explain(qiao_program_t *p, const qiao_graph_t *g,
                                   const qiao_tensor_t *const *inputs,
                                   qiao_kernel_explain_t **out_kernels, int32_t *out_n);

/* Writes every kernel of p to directory `dir` (which must exist): per kernel
 * the artifacts its backend emits among PTX (<name>.ptx), LLVM IR (<name>.ll)
 * and the Ascend-class listing (<name>.listing), and its launch record
 * <name>.launch.json (grid, block, shared bytes, binding sizes). Files are
 * written in a temporary directory inside `dir` and renamed into place, so
 * a failure leaves no partial files; a missing or unwritable `dir` is
 * QIAO_INVALID_ARGUMENT naming it. */
qiao_status_t qiao_program_emit_dir(const qiao_program_t *p, const char *dir);

/* A kernel the model predicts faster on the host CPU than on p's accelerator,
 * inputs and outputs crossing the host link (hybrid plan; printed by
 * qiao-run --explain, not executed). */
typedef struct qiao_hybrid_step {
  int32_t kernel;
  char name[64];
  const char *kind;
  double device_ns;      /* the accelerator's time (its prediction, else its run) */
  char device_label[48]; /* "modelled", "simulated" ... */
  double cpu_ns;         /* roofline over the host profile */
  double transfer_ns;    /* inputs to the host and outputs back over the host link, plus
                            one copy overhead (the device launch overhead) each way */
  char link[96];         /* the link figure and where it comes from */
} qiao_hybrid_step_t;

/* The hybrid plan of an explained program (kernels ks[0..n) from
 * qiao_program_explain): the kernels where cpu_ns + transfer_ns < device_ns.
 * Nothing (n = 0) on a CPU device. *out_steps is the caller's to free(). */
qiao_status_t qiao_program_hybrid_plan(qiao_program_t *p, const qiao_kernel_explain_t *ks,
                                       int32_t n, qiao_hybrid_step_t **out_steps, int32_t *out_n);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_RUNTIME_H */
