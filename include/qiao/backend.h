/* Qiao — backends: kernel descriptors in, device artifacts out.
 *
 * Target-neutral. Every backend (cpu now; cuda and ascend slot in) is a
 * table of ops registered for one device class:
 *
 *   name, device class         "cpu" for QIAO_HAL_CLASS_CPU ...
 *   fusion_policy(device)      how `qiao_ir_partition` should fuse for it
 *   supports(kd, device)       whether it can lower a descriptor, and why not
 *   target_key(device, opts)   what the generated code depends on (part of the
 *                              compile-cache key, with the device's identity)
 *   module create / add kernel / optimize / emit (jit, obj, so, llvm, asm,
 *   ptx, listing) / load into a HAL executable for a device
 *
 * The runtime finds the backend from the device (`qiao_backend_for_device`)
 * and never names one. Adding a backend adds one row to the registry
 * (backends/registry.c). No LLVM type crosses this header; CPU-only
 * extras (cross targets, host description) are in qiao/backend_cpu.h.
 */
#ifndef QIAO_BACKEND_H
#define QIAO_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/hal.h"
#include "qiao/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ 1. artifacts */

typedef enum qiao_artifact_kind {
  QIAO_ARTIFACT_JIT = 0, /* in-process code (host JIT) — only through `load` */
  QIAO_ARTIFACT_OBJECT,  /* "obj": relocatable object file */
  QIAO_ARTIFACT_SHARED,  /* "so": shared library with the HAL entry table */
  QIAO_ARTIFACT_LLVM,    /* "llvm": LLVM IR text */
  QIAO_ARTIFACT_ASM,     /* "asm": target assembly */
  QIAO_ARTIFACT_PTX,     /* "ptx": PTX text (CUDA class) */
  QIAO_ARTIFACT_LISTING, /* "listing": readable per-unit operation listing (Ascend class) */
  QIAO_ARTIFACT_KIND_COUNT
} qiao_artifact_kind_t;

/* "jit", "obj", "so", "llvm", "asm", "ptx", "listing". */
const char *qiao_artifact_kind_name(qiao_artifact_kind_t k);
/* Parses a name above; QIAO_INVALID_ARGUMENT naming it and the choices. */
qiao_status_t qiao_artifact_kind_parse(const char *name, qiao_artifact_kind_t *out_kind);

/* At most this many launches (phases) make up one kernel. */
#define QIAO_KERNEL_MAX_PHASES 8

/* One launch of a multi-step kernel: an entry of the same executable, its
 * grid, block and dynamic shared memory. */
typedef struct qiao_kernel_phase {
  char name[64];          /* the entry's name in the executable */
  int64_t grid[3];        /* CTAs / workgroups / blocks */
  int32_t block[3];       /* threads per CTA */
  uint64_t shared_bytes;  /* dynamic shared memory per CTA */
} qiao_kernel_phase_t;

/* How to dispatch one compiled kernel (the launch record).
 *
 * A single-step kernel (every CPU kernel, most others) is the one entry
 * `name` launched with grid/block/shared_bytes; n_phases is 0 or 1 and
 * workspace_bytes 0.
 *
 * A multi-step kernel (split-KV attention and its combine, MoE routing and
 * expert GEMMs, an Ascend cube/vector hand-over through GM) lists
 * n_phases > 1 launches in `phases`, to be dispatched in that order on the
 * device, each seeing the previous ones' global-memory writes; name, grid,
 * block and shared_bytes then repeat phases[0]. With workspace_bytes > 0 the
 * runtime passes every phase one extra trailing binding (after the outputs)
 * of at least workspace_bytes of device global memory, private to this
 * dispatch while it runs (a program allocates one buffer for all its kernels,
 * which run one at a time). The workspace is NOT zeroed: its contents are
 * undefined at the first phase (the runtime poisons it when asked to poison),
 * so a kernel writes every workspace byte it reads. Entry records of the
 * phases take n_bindings + 1 bindings, the last one workspace_bytes long. */
typedef struct qiao_kernel_launch {
  char name[64];
  int64_t grid[3];        /* workgroups (CPU) / CTAs (CUDA) / blocks (Ascend) */
  int32_t block[3];       /* threads per CTA; 1,1,1 on the CPU */
  uint64_t shared_bytes;  /* dynamic shared memory per CTA; 0 on the CPU */
  uint64_t scratch_bytes; /* per-worker scratch (CPU packing buffers) */
  int32_t n_bindings;     /* inputs then outputs (the workspace not counted) */
  uint64_t binding_bytes[QIAO_KD_MAX_OPERANDS + 2]; /* minimum bytes per binding */
  uint64_t workspace_bytes; /* device workspace per dispatch (trailing binding); 0: none */
  int32_t n_phases;         /* 0 or 1: the single launch above; > 1: `phases` in order */
  qiao_kernel_phase_t phases[QIAO_KERNEL_MAX_PHASES];
} qiao_kernel_launch_t;

/* The number of launches of `l` (1 for a single-step kernel). */
int32_t qiao_kernel_launch_phase_count(const qiao_kernel_launch_t *l);
/* Launch i (< the phase count) of `l`: phases[i], or the record's own
 * name/grid/block/shared_bytes for a single-step kernel. */
qiao_kernel_phase_t qiao_kernel_launch_phase(const qiao_kernel_launch_t *l, int32_t i);

/* Fills the binding count and minimum sizes from a descriptor's operand
 * types (inputs, then outputs). */
void qiao_kernel_launch_set_bindings(qiao_kernel_launch_t *l, const qiao_kernel_desc_t *kd);

/* A backend's prediction for one kernel before it runs (qiao-run --explain):
 * CUDA class: modelled from the descriptor's work, the launch record, the
 * ptxas resource report and the device profile (docs/cuda-model.md). */
typedef struct qiao_kernel_prediction {
  qiao_hal_time_kind_t kind; /* QIAO_HAL_TIME_MODELLED */
  char label[64];            /* "modelled, h100-sxm" */
  double ns;
  char bound[32];              /* "tensor-core f16", "SIMT f32", "HBM", "launch" */
  int32_t registers;           /* per thread; -1 unknown */
  char registers_source[48];   /* "ptxas -v sm_90", "assumed (no ptxas)" */
  int64_t static_shared_bytes; /* -1 unknown */
  int64_t spill_bytes;         /* spill stores + loads (ptxas); -1 unknown */
  double occupancy;            /* theoretical, 0..1; -1 unknown */
  double flops, bytes;
  char detail[512]; /* one line: the model's terms */
} qiao_kernel_prediction_t;

/* ------------------------------------------------------------ 2. backends */

/* At most this many variants per descriptor. */
#define QIAO_VARIANT_MAX 16

/* One way a backend can lower a descriptor (dispatch by cost model,
 * docs/design.md "Dispatch by cost model"): attention "flash-tc",
 * "flash-simt", "splitkv(s=8)"; moe "grouped-tc", "grouped-simt". `id` is the
 * backend's own (0 is reserved for "the backend plans it": a backend without
 * `variants` has the one variant {0, "planned by the backend"}). */
typedef struct qiao_kernel_variant {
  int32_t id;
  char name[48];
} qiao_kernel_variant_t;

typedef struct qiao_backend_options {
  const char *triple;   /* NULL: the device's (host for cpu) */
  const char *cpu;      /* NULL: the device's (host CPU, sm_XX from the profile, ...) */
  const char *features; /* NULL: the device's */
  int32_t opt_level;    /* 0: default (3); -1: O0 */
  int32_t n_threads;    /* threads the kernels will run on (grid sizing); 0: the device's */
} qiao_backend_options_t;

typedef struct qiao_backend qiao_backend_t;

/* A backend's table of ops. `m` is the backend's own module object. */
struct qiao_backend {
  const char *name; /* "cpu", "cuda", "ascend" */
  qiao_hal_device_class_t device_class;
  /* The fusion policy for `d` (NULL device: the backend's default). Never NULL. */
  const qiao_fusion_policy_t *(*fusion_policy)(qiao_hal_device_t *d);
  /* Whether the backend can lower `kd` for `d` (NULL: any device of its class);
   * when not, writes a one-line reason. */
  bool (*supports)(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason, size_t cap);
  /* Writes what generated code depends on (ISA, threads, opt level, ...). */
  qiao_status_t (*target_key)(qiao_hal_device_t *d, const qiao_backend_options_t *o, char *buf,
                              size_t cap);
  qiao_status_t (*module_create)(qiao_hal_device_t *d, const qiao_backend_options_t *o,
                                 void **out_m);
  void (*module_destroy)(void *m);
  qiao_status_t (*add_kernel)(void *m, const qiao_kernel_desc_t *kd, const char *name,
                              qiao_kernel_launch_t *out_launch);
  qiao_status_t (*optimize)(void *m);
  /* Writes artifact `kind` to `path` atomically; QIAO_UNSUPPORTED for a kind
   * the backend does not produce. */
  qiao_status_t (*emit)(void *m, qiao_artifact_kind_t kind, const char *path);
  /* Loads the module's code into a HAL executable for `d`. */
  qiao_status_t (*load)(void *m, qiao_hal_device_t *d, qiao_hal_executable_t **out_exe);
  /* Optional (NULL: the backend predicts nothing): a prediction for kernel kd
   * with launch record `launch` on device d (compiles kd on its own). */
  qiao_status_t (*predict)(const qiao_kernel_desc_t *kd, const qiao_kernel_launch_t *launch,
                           qiao_hal_device_t *d, qiao_kernel_prediction_t *out_prediction);
  /* Optional (NULL: one variant, id 0, planned by the backend): writes the
   * variants it can lower for kd on d (NULL: its class's default profile),
   * at most `cap`, valid ones only; returns how many. */
  int32_t (*variants)(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d,
                      qiao_kernel_variant_t *out, int32_t cap);
  /* Optional (NULL: the runtime's roofline over the device profile): the
   * predicted time of variant v of kd on d, and one line saying what the
   * figure comes from. */
  qiao_status_t (*variant_cost)(const qiao_kernel_desc_t *kd, const qiao_kernel_variant_t *v,
                                qiao_hal_device_t *d, double *out_ns, char *basis, size_t cap);
  /* Optional (NULL: only variant 0): add_kernel lowering variant `variant`
   * (an id from `variants`; 0: the backend's own plan). */
  qiao_status_t (*add_kernel_variant)(void *m, const qiao_kernel_desc_t *kd, const char *name,
                                      int32_t variant, qiao_kernel_launch_t *out_launch);
};

/* The registry: compile-time rows, no mutable state. */
int32_t qiao_backend_count(void);
const qiao_backend_t *qiao_backend_at(int32_t i);
/* The backend for a device class / a device / a name; NULL when none. */
const qiao_backend_t *qiao_backend_for_class(qiao_hal_device_class_t c);
const qiao_backend_t *qiao_backend_for_device(const qiao_hal_device_t *d);
const qiao_backend_t *qiao_backend_find(const char *name);

/* ------------------------------------------------------------ 3. modules */

/* A backend module: any number of kernels compiled together. */
typedef struct qiao_backend_module qiao_backend_module_t;

/* Creates an empty module of backend `b` for device `d` (NULL: AOT for the
 * options' target). */
qiao_status_t qiao_backend_module_create(const qiao_backend_t *b, qiao_hal_device_t *d,
                                         const qiao_backend_options_t *o,
                                         qiao_backend_module_t **out_module);
void qiao_backend_module_destroy(qiao_backend_module_t *m);
const qiao_backend_t *qiao_backend_module_backend(const qiao_backend_module_t *m);
/* Lowers one descriptor into an entry named `name` (NULL: "k<N>"). A
 * descriptor the backend does not support is QIAO_UNSUPPORTED with the
 * reason. */
qiao_status_t qiao_backend_module_add_kernel(qiao_backend_module_t *m, const qiao_kernel_desc_t *kd,
                                             const char *name, qiao_kernel_launch_t *out_launch);
/* The same lowering variant `variant` of kd (an id from the backend's
 * `variants`; 0: the backend's own plan, like add_kernel). A backend without
 * variants accepts only 0 (else QIAO_INVALID_ARGUMENT). */
qiao_status_t qiao_backend_module_add_kernel_variant(qiao_backend_module_t *m,
                                                     const qiao_kernel_desc_t *kd, const char *name,
                                                     int32_t variant,
                                                     qiao_kernel_launch_t *out_launch);
/* Verifies and optimizes once; later calls do nothing. */
qiao_status_t qiao_backend_module_optimize(qiao_backend_module_t *m);
qiao_status_t qiao_backend_module_emit(qiao_backend_module_t *m, qiao_artifact_kind_t kind,
                                       const char *path);
/* Loads the module into a HAL executable on `d`; the module stays valid only
 * for destroy afterwards. */
qiao_status_t qiao_backend_module_load(qiao_backend_module_t *m, qiao_hal_device_t *d,
                                       qiao_hal_executable_t **out_exe);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_BACKEND_H */
