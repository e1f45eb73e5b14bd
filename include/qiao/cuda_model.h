/* Qiao HAL — the CUDA-class performance model (docs/cuda-model.md).
 *
 * A modelled time for one kernel launch on a CUDA-class device profile:
 * a roofline (FLOPs per pipe over the tensor-core or SIMT peak; device-memory
 * bytes over the HBM bandwidth) scaled by an efficiency from occupancy, tile
 * quantization (waves of CTAs over the SMs) and a launch overhead. Pure
 * functions of their arguments: the backend calls it with a kernel
 * descriptor's work (a prediction before running), simt-emu with a launch's
 * dynamic statistics (the modelled time of its events). Every figure it
 * produces is "modelled" and names the profile.
 */
#ifndef QIAO_CUDA_MODEL_H
#define QIAO_CUDA_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The pipes FLOPs are charged to. */
typedef enum qiao_cuda_pipe {
  QIAO_CUDA_PIPE_SIMT = 0, /* CUDA cores: every non-tensor FLOP at the FP32 FMA rate */
  QIAO_CUDA_PIPE_TF32,     /* tensor cores, tf32 inputs */
  QIAO_CUDA_PIPE_F16,      /* tensor cores, f16 inputs */
  QIAO_CUDA_PIPE_BF16,     /* tensor cores, bf16 inputs */
  QIAO_CUDA_PIPE_F8,       /* tensor cores, f8 inputs (f16 rate where the profile has no f8) */
  QIAO_CUDA_PIPE_I8,       /* tensor cores, s8 inputs (ops) */
  QIAO_CUDA_PIPE_COUNT
} qiao_cuda_pipe_t;

/* "SIMT f32", "tensor-core tf32", "tensor-core f16", ...; "unknown" out of range. */
const char *qiao_cuda_pipe_name(qiao_cuda_pipe_t p);

/* Per-SM limits occupancy is computed against. */
typedef struct qiao_cuda_limits {
  int32_t sms;
  int64_t registers;         /* 32-bit registers per SM */
  int32_t max_threads;       /* per SM */
  int32_t max_warps;         /* per SM */
  int32_t max_ctas;          /* resident CTAs per SM */
  int64_t shared_bytes;      /* shared memory per SM */
  int64_t shared_per_cta;    /* the most one CTA may use */
  int32_t reg_alloc_unit;    /* registers per warp are allocated in units of 256 */
  int32_t shared_alloc_unit; /* 128 bytes */
  int32_t shared_reserved;   /* 1024 bytes the driver reserves per CTA (sm_80+) */
} qiao_cuda_limits_t;

/* The limits of a CUDA-class profile (its "sm" object; sm_80/sm_90 values
 * where the profile leaves them out). QIAO_INVALID_ARGUMENT for a profile of
 * another class. */
qiao_status_t qiao_cuda_limits_from_profile(const qiao_hal_profile_t *p,
                                            qiao_cuda_limits_t *out_limits);

/* Theoretical occupancy: resident CTAs per SM under each limit. */
typedef struct qiao_cuda_occupancy {
  int32_t ctas_per_sm; /* min of the four below; 0: the CTA cannot be resident */
  int32_t by_warps, by_registers, by_shared, by_ctas;
  int32_t warps_per_sm;
  double occupancy;    /* warps_per_sm / max_warps */
  const char *limiter; /* "warps", "registers", "shared memory", "CTAs" (static string) */
} qiao_cuda_occupancy_t;

/* Occupancy of CTAs of `block_threads` threads using `registers` per thread
 * and `shared_bytes` (static + dynamic) per CTA. */
qiao_cuda_occupancy_t qiao_cuda_occupancy_compute(const qiao_cuda_limits_t *lim,
                                                  int32_t block_threads, int32_t registers,
                                                  int64_t shared_bytes);

/* Registers per thread assumed when no ptxas report is at hand: 32, the
 * count at which registers never limit occupancy (65536 / 2048 threads). */
#define QIAO_CUDA_FALLBACK_REGISTERS 32

/* The work of one launch. */
typedef struct qiao_cuda_work {
  double flops[QIAO_CUDA_PIPE_COUNT];
  double bytes; /* device-memory (HBM) traffic */
  int64_t grid[3];
  int32_t block[3];
  int32_t registers;    /* per thread; <= 0: unknown (QIAO_CUDA_FALLBACK_REGISTERS) */
  int64_t shared_bytes; /* per CTA, static + dynamic */
} qiao_cuda_work_t;

typedef struct qiao_cuda_estimate {
  char profile[32]; /* the profile's name */
  double ns;        /* modelled time of the launch */
  double compute_ns, memory_ns, launch_ns;
  char bound[32];                  /* "tensor-core f16", "SIMT f32", "HBM" or "launch" */
  qiao_cuda_occupancy_t occupancy; /* theoretical */
  double achieved_occupancy;       /* warps resident per SM in a full wave / max warps */
  int32_t registers;               /* what was used (the fallback when assumed) */
  bool registers_assumed;
  int64_t ctas, waves;
  double wave_efficiency;                       /* CTAs / (waves × resident slots) */
  double compute_efficiency, memory_efficiency; /* latency hiding × achievable fraction */
  double flops, bytes;
} qiao_cuda_estimate_t;

/* Models one launch on profile p (docs/cuda-model.md states the formula). A
 * CTA that cannot be resident (too many threads, registers or shared bytes)
 * is QIAO_INVALID_ARGUMENT naming the limit. */
qiao_status_t qiao_cuda_model_estimate(const qiao_hal_profile_t *p, const qiao_cuda_work_t *w,
                                       qiao_cuda_estimate_t *out_estimate);

/* One line: "modelled 12.3 us on h100-sxm, bound by HBM (occupancy 100%, ...)". */
void qiao_cuda_estimate_format(const qiao_cuda_estimate_t *e, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_CUDA_MODEL_H */
