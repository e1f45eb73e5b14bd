/* Qiao — the hardware abstraction layer.
 *
 * Contents
 *   1. devices          qiao_hal_device_open ("cpu", "cpu:threads=N")
 *   2. buffers          alloc, read, write, copy (device memory is opaque)
 *   3. executables      artifacts in a device format, with an entry table
 *   4. dispatch         entry × launch config × bindings, by the device
 *   5. events           timing (measured, simulated or modelled)
 *   6. device profiles  JSON spec sheets (hal/profiles/ JSON files), host CPU measured
 *
 * The HAL knows nothing of the IR or of LLVM: it loads and runs artifacts.
 * Shared objects (devices, buffers, executables) are reference counted:
 * *_retain / *_release; the creator holds the first reference.
 */
#ifndef QIAO_HAL_H
#define QIAO_HAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct qiao_hal_device qiao_hal_device_t;
typedef struct qiao_hal_buffer qiao_hal_buffer_t;
typedef struct qiao_hal_executable qiao_hal_executable_t;
typedef struct qiao_hal_profile qiao_hal_profile_t;

/* ---------------------------------------------------------------- 1. devices */

/* The classes of device: what kind of code a device runs (a backend is
 * chosen by class). Devices and profiles both carry one. */
typedef enum qiao_hal_device_class {
  QIAO_HAL_CLASS_CPU = 0,
  QIAO_HAL_CLASS_CUDA = 1,
  QIAO_HAL_CLASS_ASCEND = 2,
  QIAO_HAL_CLASS_COUNT
} qiao_hal_device_class_t;

/* "cpu", "cuda", "ascend"; "unknown" out of range. Static string. */
const char *qiao_hal_device_class_name(qiao_hal_device_class_t c);

/* Opens a device by URI: "cpu" (all cores) or "cpu:threads=N". The scheme
 * (before ':') names the driver. Unknown schemes and bad options are
 * QIAO_INVALID_ARGUMENT naming the URI; drivers planned but not in this build
 * (simt-emu, ascend-sim, cuda) are QIAO_UNSUPPORTED. */
qiao_status_t qiao_hal_device_open(const char *uri, qiao_hal_device_t **out_device);
void qiao_hal_device_retain(qiao_hal_device_t *d);
void qiao_hal_device_release(qiao_hal_device_t *d);
/* The device's class (QIAO_HAL_CLASS_CPU for "cpu"; simt-emu is CUDA-class,
 * ascend-sim Ascend-class). */
qiao_hal_device_class_t qiao_hal_device_class(const qiao_hal_device_t *d);
/* The driver that opened it: the URI scheme ("cpu"; later "simt-emu",
 * "ascend-sim", "cuda"). Static string. */
const char *qiao_hal_device_driver(const qiao_hal_device_t *d);
const char *qiao_hal_device_uri(const qiao_hal_device_t *d);
/* The device's spec sheet, loaded at the first call (thread-safe) and owned by
 * the device: valid until the device is released; do not destroy it. cpu:
 * qiao_hal_profile_host(). A failed load is reported and retried next call. */
qiao_status_t qiao_hal_device_profile(qiao_hal_device_t *d, const qiao_hal_profile_t **out_profile);
int32_t qiao_hal_device_thread_count(const qiao_hal_device_t *d);

/* A host parallel-for on the device's thread pool (for the runtime's own
 * loops). fn runs items [begin, end) of [0, n) on worker `worker` (0 is the
 * calling thread; < qiao_hal_device_thread_count); chunks of at most `grain`
 * items (0: automatic) are handed out dynamically. `scratch` is the worker's
 * private 64-byte aligned block of at least `scratch_bytes` (may be NULL when
 * 0). Returns when every item is done. Called from inside fn it runs inline.
 * QIAO_UNSUPPORTED on devices that are not host devices. */
typedef void (*qiao_hal_parallel_fn_t)(void *ctx, int64_t begin, int64_t end, int32_t worker,
                                       void *scratch);
qiao_status_t qiao_hal_device_parallel_for(qiao_hal_device_t *d, int64_t n, int64_t grain,
                                           size_t scratch_bytes, qiao_hal_parallel_fn_t fn,
                                           void *ctx);

/* ---------------------------------------------------------------- 2. buffers */

/* Allocates `size` bytes of device memory (64-byte aligned on the host). */
qiao_status_t qiao_hal_buffer_alloc(qiao_hal_device_t *d, size_t size,
                                    qiao_hal_buffer_t **out_buffer);
void qiao_hal_buffer_retain(qiao_hal_buffer_t *b);
void qiao_hal_buffer_release(qiao_hal_buffer_t *b);
size_t qiao_hal_buffer_size(const qiao_hal_buffer_t *b);
qiao_status_t qiao_hal_buffer_write(qiao_hal_buffer_t *b, size_t offset, const void *src, size_t n);
qiao_status_t qiao_hal_buffer_read(const qiao_hal_buffer_t *b, size_t offset, void *dst, size_t n);
qiao_status_t qiao_hal_buffer_copy(const qiao_hal_buffer_t *src, size_t src_offset,
                                   qiao_hal_buffer_t *dst, size_t dst_offset, size_t n);
/* Host-visible devices only (cpu): the buffer's memory; NULL otherwise. */
void *qiao_hal_buffer_host_ptr(qiao_hal_buffer_t *b);

/* ------------------------------------------------------------ 3. executables */

/* The calling convention of every CPU kernel entry:
 *
 *   void entry(void *const *bindings, const int64_t *constants,
 *              int64_t wg_x, int64_t wg_y, int64_t wg_z, void *scratch);
 *
 * bindings: one pointer per bound buffer (already offset); constants: push
 * constants; wg_*: the workgroup id in the dispatch grid; scratch: a per-worker
 * block of `scratch_bytes` (64-byte aligned), private to the calling thread.
 * The entry's signature is recorded in the executable as a libffi type string
 * (one char per argument: 'p' pointer, 'l' int64, 'i' int32, 'd' double,
 * 'f' float; the return type first, 'v' void): "vpplllp" for the above. */
#define QIAO_HAL_CPU_ENTRY_SIGNATURE "vpplllp"

typedef struct qiao_hal_entry_info {
  const char *name;
  const char *signature; /* libffi type string, see above */
  int32_t n_bindings;
  int32_t n_constants;
  uint64_t scratch_bytes;
  const uint64_t *binding_bytes; /* n_bindings minimum sizes, or NULL: unchecked */
} qiao_hal_entry_info_t;

/* The table a CPU shared-library artifact exports under the symbol
 * QIAO_HAL_ENTRY_TABLE_SYMBOL: n entries, each with its function pointer. */
#define QIAO_HAL_ENTRY_TABLE_SYMBOL "qiao_executable_entries"
#define QIAO_HAL_ENTRY_COUNT_SYMBOL "qiao_executable_entry_count"
/* In C the artifact exports:
 *   const qiao_hal_entry_record_t qiao_executable_entries[N];
 *   const int32_t qiao_executable_entry_count = N;
 * Signatures are validated at load ('v' only as the return type).
 * The layout is fixed (AOT libraries emit it from LLVM IR): new fields are
 * only ever appended. */
typedef struct qiao_hal_entry_record {
  const char *name;
  const char *signature;
  int32_t n_bindings;
  int32_t n_constants;
  uint64_t scratch_bytes;
  void *fn; /* host formats: the entry; PTX / simulator module: NULL */
  /* n_bindings minimum byte sizes (dispatch rejects smaller bindings), or
   * NULL: unchecked. A 0 element leaves that binding unchecked. */
  const uint64_t *binding_bytes;
} qiao_hal_entry_record_t;

/* Executable formats (IREE's executable formats): a device loads those its
 * driver knows. cpu: HOST_LIBRARY and HOST_JIT. */
typedef enum qiao_hal_executable_format {
  QIAO_HAL_FORMAT_HOST_LIBRARY = 0, /* a shared library exporting the entry table */
  QIAO_HAL_FORMAT_HOST_JIT = 1,     /* functions already in this process */
  QIAO_HAL_FORMAT_PTX = 2,          /* PTX text */
  QIAO_HAL_FORMAT_SIM_MODULE = 3,   /* a simulator module image */
} qiao_hal_executable_format_t;

/* "host library", "host JIT", "PTX", "simulator module"; "unknown" out of
 * range. Static string. */
const char *qiao_hal_executable_format_name(qiao_hal_executable_format_t f);

/* What to make an executable from. Nothing is retained past create except
 * what is said below. */
typedef struct qiao_hal_executable_spec {
  qiao_hal_executable_format_t format;
  const char *path; /* HOST_LIBRARY: the file to dlopen (its entry table is read) */
  const void *data; /* PTX text, simulator module image (copied or parsed by the device) */
  size_t size;
  /* HOST_JIT: the entries, fn set; PTX / SIM_MODULE: entry metadata, fn NULL.
   * Copied (names, signatures, binding_bytes). */
  const qiao_hal_entry_record_t *records;
  int32_t n_records;
  /* Called with release_ctx when the executable is destroyed (e.g. frees the
   * JIT that owns the code); only on success: on failure the caller keeps it. */
  void (*release)(void *);
  void *release_ctx;
} qiao_hal_executable_spec_t;

/* Creates an executable on device d from `spec`, through d's driver. A format
 * the driver cannot load is QIAO_UNSUPPORTED: "device 'cpu' cannot load a PTX
 * executable". */
qiao_status_t qiao_hal_executable_create(qiao_hal_device_t *d,
                                         const qiao_hal_executable_spec_t *spec,
                                         qiao_hal_executable_t **out_exe);
/* Shorthand: a HOST_LIBRARY executable from a CPU shared-library artifact. */
qiao_status_t qiao_hal_executable_load_file(qiao_hal_device_t *d, const char *path,
                                            qiao_hal_executable_t **out_exe);
/* Shorthand: a HOST_JIT executable from functions already in this process
 * (a JIT's): the records are copied; `release(release_ctx)` is called when
 * the executable is destroyed (frees the JIT that owns the code). */
qiao_status_t qiao_hal_executable_create_host(qiao_hal_device_t *d,
                                              const qiao_hal_entry_record_t *records, int32_t n,
                                              void (*release)(void *), void *release_ctx,
                                              qiao_hal_executable_t **out_exe);
void qiao_hal_executable_retain(qiao_hal_executable_t *e);
void qiao_hal_executable_release(qiao_hal_executable_t *e);
int32_t qiao_hal_executable_entry_count(const qiao_hal_executable_t *e);
/* Looks an entry up by name; QIAO_NOT_FOUND naming it when absent. */
qiao_status_t qiao_hal_executable_lookup(const qiao_hal_executable_t *e, const char *name,
                                         int32_t *out_index, qiao_hal_entry_info_t *out_info);
/* The info of entry `index` (0 <= index < entry_count); false when out of range. */
bool qiao_hal_executable_entry_info(const qiao_hal_executable_t *e, int32_t index,
                                    qiao_hal_entry_info_t *out_info);
/* Calls entry `index` once on the calling thread with any signature, through
 * its prepared libffi cif: args[i] points at the i-th argument value, `ret`
 * at storage for the result (ignored for 'v'; an 'i' result needs 8 bytes). */
qiao_status_t qiao_hal_executable_call(const qiao_hal_executable_t *e, int32_t index, void **args,
                                       void *ret);

/* --------------------------------------------------------------- 4. dispatch */

typedef struct qiao_hal_binding {
  qiao_hal_buffer_t *buffer;
  size_t offset;
} qiao_hal_binding_t;

/* The shape of a launch: grid[0] × grid[1] × grid[2] workgroups, each of
 * block[0] × block[1] × block[2] threads with `shared_bytes` of workgroup
 * memory. Host devices run one invocation per workgroup: block 1 × 1 × 1,
 * shared 0. */
typedef struct qiao_hal_launch_config {
  int64_t grid[3];
  int32_t block[3];
  uint64_t shared_bytes;
} qiao_hal_launch_config_t;

/* Runs entry `index` of e over cfg's grid on device d and returns when all
 * workgroups are done. Checked first: the entry (index, dispatch signature),
 * that d may run e, the grid (≥ 0, no overflow; an empty grid does nothing),
 * block dims ≥ 1, binding and constant counts, and each binding (a buffer of
 * d, offset within it, at least the entry's binding_bytes past the offset).
 * Nothing is retained. */
/* Whether `d` may run entries of `e`: its own device, or (host code) any
 * device of the same driver that shares the address space. Callers that
 * cache executables across devices check this before reusing one. */
bool qiao_hal_executable_can_dispatch(const qiao_hal_executable_t *e, const qiao_hal_device_t *d);

qiao_status_t qiao_hal_dispatch_launch(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                       int32_t index, const qiao_hal_launch_config_t *cfg,
                                       const qiao_hal_binding_t *bindings, int32_t n_bindings,
                                       const int64_t *constants, int32_t n_constants);
/* qiao_hal_dispatch_launch with block 1 × 1 × 1 and no shared memory. */
qiao_status_t qiao_hal_dispatch(qiao_hal_device_t *d, qiao_hal_executable_t *e, int32_t index,
                                const int64_t grid[3], const qiao_hal_binding_t *bindings,
                                int32_t n_bindings, const int64_t *constants, int32_t n_constants);

/* ----------------------------------------------------------------- 5. events */

/* Where an event's time comes from: the host clock, a simulator's cycle
 * count, or a model's prediction. */
typedef enum qiao_hal_time_kind {
  QIAO_HAL_TIME_MEASURED = 0,  /* CLOCK_MONOTONIC on the host */
  QIAO_HAL_TIME_SIMULATED = 1, /* a simulator's clock (ascend-sim cycles → ns) */
  QIAO_HAL_TIME_MODELLED = 2,  /* predicted by a cost model */
} qiao_hal_time_kind_t;

/* "measured", "simulated", "modelled"; "unknown" out of range. */
const char *qiao_hal_time_kind_name(qiao_hal_time_kind_t k);

/* An event carries two figures: `ns`, the device's time of `kind` (host clock
 * on cpu, the simulator's clock on ascend-sim, the modelled GPU clock on
 * simt-emu), and `wall_ns`, the host's CLOCK_MONOTONIC when it was recorded
 * (what the device's execution took on this machine; = ns on cpu). */
typedef struct qiao_hal_event {
  uint64_t ns;
  qiao_hal_time_kind_t kind;
  uint64_t wall_ns;
} qiao_hal_event_t;

/* Records the device's current time (after all prior dispatches complete),
 * through the device's driver. */
qiao_status_t qiao_hal_event_record(qiao_hal_device_t *d, qiao_hal_event_t *out_event);
/* end − start in milliseconds; NaN when the two events' kinds differ (a
 * measured and a simulated time do not subtract). */
double qiao_hal_event_elapsed_ms(const qiao_hal_event_t *start, const qiao_hal_event_t *end);
/* end − start in host wall-clock milliseconds (wall_ns), for any kinds. */
double qiao_hal_event_wall_ms(const qiao_hal_event_t *start, const qiao_hal_event_t *end);

/* One paragraph on the device's last dispatch as its driver models it
 * (simt-emu: the modelled time, what bounds it, occupancy, work and the
 * emulator's statistics; ascend-sim: the simulator's report), written to buf.
 * QIAO_UNSUPPORTED on devices with no such report (cpu: its events are
 * measured); QIAO_NOT_FOUND before the first dispatch. */
qiao_status_t qiao_hal_device_last_report(qiao_hal_device_t *d, char *buf, size_t cap);

/* ---------------------------------------------------------------- 6. profiles */

/* The spec sheet of a device. Rates in FLOP/s (ops/s for ints), bytes, B/s. */
typedef struct qiao_hal_profile_info {
  const char *name; /* "h100-sxm", "ascend-910b", "host-cpu" */
  qiao_hal_device_class_t device_class;
  bool measured; /* host CPU: rates measured on this machine */
  double peak_flops_f32, peak_flops_f16, peak_flops_bf16, peak_flops_f8, peak_ops_i8;
  double mem_bytes, mem_bandwidth;
  double onchip_bytes;  /* shared memory per SM / UB per core / L2 per core */
  int32_t cores;        /* SMs, AI cores, CPU cores */
  int32_t vector_width; /* warp size / vector lanes (f32) */
  double tdp_watts;
} qiao_hal_profile_info_t;

/* Loads and validates a profile JSON file; errors name the file and the
 * offending key (or line:col for JSON syntax errors). */
qiao_status_t qiao_hal_profile_load(const char *path, qiao_hal_profile_t **out_profile);
/* Loads a shipped profile by name ("h100", "910b", ...) from the profile dir. */
qiao_status_t qiao_hal_profile_load_named(const char *name, qiao_hal_profile_t **out_profile);
/* The host CPU profile: measured by microbenchmarks at first use and cached
 * under $XDG_CACHE_HOME/qiao (or ~/.cache/qiao). */
qiao_status_t qiao_hal_profile_host(qiao_hal_profile_t **out_profile);
void qiao_hal_profile_destroy(qiao_hal_profile_t *p);
const qiao_hal_profile_info_t *qiao_hal_profile_info(const qiao_hal_profile_t *p);

/* Everything else a profile file holds (docs/profiles.md). Sizes in bytes,
 * rates in FLOP/s or B/s; 0 / "" / empty where the file leaves them out.
 * Strings live as long as the profile. */
typedef struct qiao_hal_profile_details {
  const char *path; /* the file it was loaded from ("" when built) */
  const char *arch; /* free text, e.g. "Hopper GH100" */
  double peak_flops_tf32;
  double peak_flops_f32_1thread; /* host: measured on one thread; else 0 */
  double shared_bytes, ub_bytes, l1_bytes, l0a_bytes, l0b_bytes, l0c_bytes, l2_bytes;
  double interconnect_bandwidth; /* B/s per device */
  const char *interconnect;      /* e.g. "NVLink 4" */
  int32_t n_dtypes;
  const char *const *dtypes; /* IR dtype names plus "tf32", "f64", "i4", "u8", "i16" */
  int32_t n_sources;
  const char *const *sources;
  const char *notes; /* uncertain values and caveats */
  /* CUDA-class SM limits ("sm" object; 0 where absent): registers, threads,
   * warps and CTAs per SM, shared bytes one CTA may use, SM clock (Hz). */
  int32_t sm_registers, sm_max_threads, sm_max_warps, sm_max_ctas;
  double sm_shared_per_cta, sm_clock_hz;
  /* Performance-model parameters ("model" object; 0 where absent):
   * kernel launch overhead and device-memory latency, in ns; the host link
   * (PCIe) bandwidth per direction in B/s (model.host_link_gbps). */
  double launch_overhead_ns, mem_latency_ns;
  double host_link_bandwidth;
} qiao_hal_profile_details_t;
const qiao_hal_profile_details_t *qiao_hal_profile_details(const qiao_hal_profile_t *p);
/* Whether the profile lists `dtype` ("f8e4m3", "bf16", ...). */
bool qiao_hal_profile_supports_dtype(const qiao_hal_profile_t *p, const char *dtype);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_HAL_H */
