/* CUDA backend — the resource report of `ptxas -v` and the theoretical
 * occupancy it implies on a device profile. Plain C, no LLVM: tests and
 * tools parse captured ptxas output with it. */
#ifndef QIAO_BACKENDS_CUDA_PTXAS_REPORT_H
#define QIAO_BACKENDS_CUDA_PTXAS_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "qiao/status.h"

typedef struct qiao_ptxas_kernel {
  char name[64];
  char arch[16];          /* "sm_90" */
  int32_t registers;      /* per thread */
  int32_t barriers;
  int64_t shared_bytes;   /* static shared memory per CTA (smem) */
  int64_t stack_bytes;    /* stack frame per thread */
  int64_t spill_stores;   /* bytes */
  int64_t spill_loads;    /* bytes */
  int64_t cmem0_bytes;    /* constant bank 0 (kernel params) */
} qiao_ptxas_kernel_t;

/* Parses `ptxas -v` output (stderr text): one record per "Compiling entry
 * function" block, at most `cap`. *out_n: how many were found. Records
 * missing their "Used N registers" line are an error naming the kernel. */
qiao_status_t qiao_ptxas_report_parse(const char *text, qiao_ptxas_kernel_t *out, int32_t cap,
                                      int32_t *out_n);

/* The SM limits occupancy is computed against (per SM). */
typedef struct qiao_sm_limits {
  int64_t registers;       /* 65536 */
  int32_t max_threads;     /* 2048 */
  int32_t max_warps;       /* 64 */
  int32_t max_ctas;        /* 32 */
  int64_t shared_bytes;    /* the profile's shared memory per SM */
  int32_t reg_alloc_unit;  /* registers are allocated per warp in units of 256 */
  int32_t shared_alloc_unit; /* 128 bytes */
  int32_t shared_reserved; /* 1024 bytes reserved per CTA by the driver (sm_80+) */
} qiao_sm_limits_t;

/* sm_80/sm_90 limits with `shared_bytes_per_sm` from a profile (0: 228 KiB). */
qiao_sm_limits_t qiao_sm_limits_default(int64_t shared_bytes_per_sm);

typedef struct qiao_occupancy {
  int32_t ctas_per_sm;     /* min of the four limits below */
  int32_t by_warps, by_registers, by_shared, by_ctas;
  int32_t warps_per_sm;    /* ctas_per_sm * warps per CTA */
  double occupancy;        /* warps_per_sm / max_warps */
} qiao_occupancy_t;

/* Theoretical occupancy of a kernel using `r` at `block_threads` per CTA
 * plus `dynamic_shared` bytes (docs/cuda-backend.md gives the formula). */
qiao_occupancy_t qiao_occupancy_compute(const qiao_sm_limits_t *lim, const qiao_ptxas_kernel_t *r,
                                        int32_t block_threads, int64_t dynamic_shared);

#endif /* QIAO_BACKENDS_CUDA_PTXAS_REPORT_H */
