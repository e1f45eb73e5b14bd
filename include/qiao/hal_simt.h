/* Qiao HAL — simt-emu extension calls (the device "simt-emu:<profile>").
 *
 * simt-emu runs CUDA-class PTX on the host, thread by thread (docs/simt-emu.md).
 * These calls reach what the generic HAL has no words for: raw kernel
 * parameters, the per-launch statistics, the instruction watchdog. Each takes
 * a device opened as "simt-emu:..." and is QIAO_INVALID_ARGUMENT on any other.
 */
#ifndef QIAO_HAL_SIMT_H
#define QIAO_HAL_SIMT_H

#include <stdint.h>

#include "qiao/hal.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Statistics of one launch. Thread-instructions count one per thread that
 * executed an instruction (a guarded-off thread counts too: it issued). */
typedef struct qiao_hal_simt_stats {
  uint64_t thread_instructions; /* all classes */
  uint64_t warp_instructions;   /* issue slots: one per warp-wide group step */
  uint64_t arith;               /* integer, float, conversion, moves */
  uint64_t control;             /* bra, call, ret, exit */
  uint64_t mem_global, mem_shared, mem_local, mem_param, mem_const, mem_generic;
  uint64_t tensor;             /* mma, wmma, ldmatrix */
  uint64_t warp;               /* shfl, vote, redux, match, activemask, elect */
  uint64_t barrier;            /* bar / barrier / membar / fence */
  uint64_t atomic;             /* atom, red */
  uint64_t async_copy;         /* cp.async* */
  uint64_t divergent_branches; /* warp-wide conditional branches whose threads split */
  /* Warp-wide ld/st to shared memory (also generic → shared), 32 banks × 4 bytes: an access
   * takes as many wavefronts as the most distinct words one bank serves; the ideal is one per
   * 128 distinct bytes; conflicts count the wavefronts beyond the ideal. ldmatrix/stmatrix
   * count one wavefront per 8x8 matrix. */
  uint64_t shared_wavefronts;
  uint64_t bank_conflicts;
  uint64_t ctas, threads;
  double wall_ms; /* the emulator's own wall time for the launch */
  /* Work (the performance model's inputs, docs/cuda-model.md), summed over the
   * threads whose guard let them execute: non-tensor floating-point FLOPs
   * (fma 2), tensor-core FLOPs by input type (2·m·n·k per mma), and bytes
   * moved by global-space ld/st/atom/red and cp.async. */
  uint64_t flops_simt, flops_tf32, flops_f16, flops_bf16, flops_f8, ops_i8;
  uint64_t global_bytes;
  /* The modelled GPU time of the launch on the device's profile
   * (qiao/cuda_model.h), and what bounds it; 0 / "" when the model refused
   * the launch shape. */
  double modelled_ns;
  char modelled_bound[32];
} qiao_hal_simt_stats_t;

/* The statistics of the last dispatch on d (zeros before the first). */
qiao_status_t qiao_hal_simt_last_stats(qiao_hal_device_t *d, qiao_hal_simt_stats_t *out_stats);

/* Sets the watchdog: a launch that executes more than `max_thread_instructions`
 * thread-instructions stops with an error (0: the default, 2^36). The URI
 * option "max_instructions=N" sets it at open. */
qiao_status_t qiao_hal_simt_set_max_instructions(qiao_hal_device_t *d,
                                                 uint64_t max_thread_instructions);

/* Launches entry `index` of the PTX executable e with raw parameters, as
 * cuLaunchKernel does: args[i] points at the value of the kernel's i-th .param
 * (its size is the declared size: 8 bytes for .u64 pointers, 4 for .u32/.f32,
 * the array size for .b8 arrays ...). Global pointers must point into buffers
 * of d (qiao_hal_simt_buffer_address). */
qiao_status_t qiao_hal_simt_launch_args(qiao_hal_device_t *d, qiao_hal_executable_t *e,
                                        int32_t index, const qiao_hal_launch_config_t *cfg,
                                        void *const *args, int32_t n_args);

/* The device address of byte `offset` of b (what a kernel's pointer param
 * holds). Device memory stays opaque: only kernels dereference it. */
qiao_status_t qiao_hal_simt_buffer_address(qiao_hal_buffer_t *b, size_t offset,
                                           uint64_t *out_address);

#ifdef __cplusplus
}
#endif
#endif /* QIAO_HAL_SIMT_H */
