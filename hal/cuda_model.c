/* Qiao HAL — the CUDA-class performance model (docs/cuda-model.md states the
 * formula and the source of every constant below). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qiao/cuda_model.h"

/* Achievable fractions of the peaks [estimate] (docs/cuda-model.md). */
#define K_TENSOR_MAX_EFF 0.80
#define K_SIMT_MAX_EFF 0.85
#define K_HBM_MAX_EFF 0.90
/* Warps per SM needed to hide pipe latency [estimate]: two per SM sub-partition
 * issuing mma back to back; four per sub-partition for dependent FMA chains. */
#define K_TENSOR_WARPS 8.0
#define K_SIMT_WARPS 16.0
/* Device-memory bytes one warp keeps in flight [estimate]: two 16-byte vector
 * loads per thread. */
#define K_BYTES_IN_FLIGHT_PER_WARP 1024.0
/* Defaults where a profile lacks its "model" object [estimate]. */
#define K_DEFAULT_LAUNCH_NS 2000.0
#define K_DEFAULT_MEM_LATENCY_NS 600.0

const char *qiao_cuda_pipe_name(qiao_cuda_pipe_t p) {
  static const char *const k[] = {"SIMT f32",         "tensor-core tf32", "tensor-core f16",
                                  "tensor-core bf16", "tensor-core f8",   "tensor-core i8"};
  return (unsigned)p < QIAO_CUDA_PIPE_COUNT ? k[p] : "unknown";
}

qiao_status_t qiao_cuda_limits_from_profile(const qiao_hal_profile_t *p, qiao_cuda_limits_t *out) {
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  const qiao_hal_profile_details_t *de = qiao_hal_profile_details(p);
  if (in->device_class != QIAO_HAL_CLASS_CUDA)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "CUDA-class model: profile '%s' is %s-class, not cuda", in->name,
                            qiao_hal_device_class_name(in->device_class));
  memset(out, 0, sizeof *out);
  out->sms = in->cores;
  out->registers = de->sm_registers > 0 ? de->sm_registers : 65536;
  out->max_threads = de->sm_max_threads > 0 ? de->sm_max_threads : 2048;
  out->max_warps = de->sm_max_warps > 0 ? de->sm_max_warps : 64;
  out->max_ctas = de->sm_max_ctas > 0 ? de->sm_max_ctas : 32;
  out->shared_bytes = de->shared_bytes > 0 ? (int64_t)de->shared_bytes : 228 * 1024;
  out->shared_per_cta =
      de->sm_shared_per_cta > 0 ? (int64_t)de->sm_shared_per_cta : out->shared_bytes - 1024;
  out->reg_alloc_unit = 256;
  out->shared_alloc_unit = 128;
  out->shared_reserved = 1024;
  return NULL;
}

static int64_t round_up(int64_t v, int64_t u) { return u > 0 ? (v + u - 1) / u * u : v; }

qiao_cuda_occupancy_t qiao_cuda_occupancy_compute(const qiao_cuda_limits_t *lim,
                                                  int32_t block_threads, int32_t registers,
                                                  int64_t shared_bytes) {
  qiao_cuda_occupancy_t o;
  memset(&o, 0, sizeof o);
  o.limiter = "warps";
  if (block_threads < 1) return o;
  int64_t warps = (block_threads + 31) / 32;
  int64_t bw = lim->max_warps / warps, bt = lim->max_threads / block_threads;
  o.by_warps = (int32_t)(bw < bt ? bw : bt);
  int64_t regs = registers > 0 ? registers : 1;
  int64_t per_warp = round_up(regs * 32, lim->reg_alloc_unit);
  o.by_registers = (int32_t)(lim->registers / per_warp / warps);
  int64_t smem = round_up(shared_bytes + lim->shared_reserved, lim->shared_alloc_unit);
  o.by_shared = shared_bytes > lim->shared_per_cta ? 0 : (int32_t)(lim->shared_bytes / smem);
  o.by_ctas = lim->max_ctas;
  int32_t c = o.by_warps;
  if (o.by_registers < c) c = o.by_registers, o.limiter = "registers";
  if (o.by_shared < c) c = o.by_shared, o.limiter = "shared memory";
  if (o.by_ctas < c) c = o.by_ctas, o.limiter = "CTAs";
  o.ctas_per_sm = c;
  o.warps_per_sm = (int32_t)(c * warps);
  o.occupancy = (double)o.warps_per_sm / (double)lim->max_warps;
  return o;
}

/* The peak of a pipe on profile `in` (FLOP/s); a tensor dtype the profile
 * lacks runs at the next wider one the backend would use. */
static double pipe_peak(const qiao_hal_profile_info_t *in, const qiao_hal_profile_details_t *de,
                        int pipe) {
  double f16 = in->peak_flops_f16 > 0 ? in->peak_flops_f16 : in->peak_flops_f32;
  switch (pipe) {
  case QIAO_CUDA_PIPE_TF32:
    return de->peak_flops_tf32 > 0 ? de->peak_flops_tf32 : in->peak_flops_f32;
  case QIAO_CUDA_PIPE_F16: return f16;
  case QIAO_CUDA_PIPE_BF16: return in->peak_flops_bf16 > 0 ? in->peak_flops_bf16 : f16;
  case QIAO_CUDA_PIPE_F8: return in->peak_flops_f8 > 0 ? in->peak_flops_f8 : f16;
  case QIAO_CUDA_PIPE_I8: return in->peak_ops_i8 > 0 ? in->peak_ops_i8 : f16;
  default: return in->peak_flops_f32;
  }
}

static double min1(double x) { return x < 1.0 ? x : 1.0; }

qiao_status_t qiao_cuda_model_estimate(const qiao_hal_profile_t *p, const qiao_cuda_work_t *w,
                                       qiao_cuda_estimate_t *out) {
  memset(out, 0, sizeof *out);
  qiao_cuda_limits_t lim;
  QIAO_RETURN_IF_ERROR(qiao_cuda_limits_from_profile(p, &lim));
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  const qiao_hal_profile_details_t *de = qiao_hal_profile_details(p);
  snprintf(out->profile, sizeof out->profile, "%s", in->name);
  int64_t threads = (int64_t)w->block[0] * w->block[1] * w->block[2];
  if (threads < 1 || threads > 1024 || lim.sms < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "CUDA-class model: block %d x %d x %d is not 1..1024 threads",
                            w->block[0], w->block[1], w->block[2]);
  out->registers_assumed = w->registers <= 0;
  out->registers = w->registers > 0 ? w->registers : QIAO_CUDA_FALLBACK_REGISTERS;
  out->occupancy =
      qiao_cuda_occupancy_compute(&lim, (int32_t)threads, out->registers, w->shared_bytes);
  if (out->occupancy.ctas_per_sm < 1)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "CUDA-class model: a CTA of %lld threads, %d registers per thread and "
                            "%lld shared bytes cannot be resident on %s (limited by %s)",
                            (long long)threads, out->registers, (long long)w->shared_bytes,
                            in->name, out->occupancy.limiter);
  out->ctas = w->grid[0] * w->grid[1] * w->grid[2];
  out->launch_ns = de->launch_overhead_ns > 0 ? de->launch_overhead_ns : K_DEFAULT_LAUNCH_NS;
  for (int k = 0; k < QIAO_CUDA_PIPE_COUNT; ++k)
    out->flops += w->flops[k];
  out->bytes = w->bytes;
  snprintf(out->bound, sizeof out->bound, "launch");
  if (out->ctas <= 0) {
    out->ns = out->launch_ns;
    return NULL;
  }
  /* Tile quantization: CTAs per SM actually resident, waves over the SMs. */
  int64_t per_sm = (out->ctas + lim.sms - 1) / lim.sms;
  if (per_sm > out->occupancy.ctas_per_sm) per_sm = out->occupancy.ctas_per_sm;
  int64_t slots = per_sm * lim.sms;
  out->waves = (out->ctas + slots - 1) / slots;
  out->wave_efficiency = (double)out->ctas / ((double)out->waves * (double)slots);
  double warps = (double)(per_sm * ((threads + 31) / 32));
  out->achieved_occupancy = warps / lim.max_warps;
  /* Latency hiding: the warps resident against those each pipe needs. */
  double lat = de->mem_latency_ns > 0 ? de->mem_latency_ns : K_DEFAULT_MEM_LATENCY_NS;
  double mem_warps = in->mem_bandwidth * lat * 1e-9 / lim.sms / K_BYTES_IN_FLIGHT_PER_WARP;
  out->memory_efficiency = K_HBM_MAX_EFF * min1(warps / (mem_warps > 1 ? mem_warps : 1));
  double simt_eff = K_SIMT_MAX_EFF * min1(warps / K_SIMT_WARPS);
  double tc_eff = K_TENSOR_MAX_EFF * min1(warps / K_TENSOR_WARPS);
  double best = 0;
  int best_pipe = QIAO_CUDA_PIPE_SIMT;
  double flop_weighted_eff = 0;
  for (int k = 0; k < QIAO_CUDA_PIPE_COUNT; ++k) {
    if (w->flops[k] <= 0) continue;
    double eff = k == QIAO_CUDA_PIPE_SIMT ? simt_eff : tc_eff;
    double t = w->flops[k] / (pipe_peak(in, de, k) * eff) * 1e9 / out->wave_efficiency;
    out->compute_ns += t; /* the pipes share the SMs' issue slots: times add */
    flop_weighted_eff += eff * w->flops[k];
    if (t > best) best = t, best_pipe = k;
  }
  out->compute_efficiency = out->flops > 0 ? flop_weighted_eff / out->flops : 0;
  out->memory_ns =
      w->bytes / (in->mem_bandwidth * out->memory_efficiency) * 1e9 / out->wave_efficiency;
  double body = out->compute_ns > out->memory_ns ? out->compute_ns : out->memory_ns;
  out->ns = out->launch_ns + body;
  if (body > out->launch_ns)
    snprintf(out->bound, sizeof out->bound, "%s",
             out->compute_ns > out->memory_ns ? qiao_cuda_pipe_name(best_pipe) : "HBM");
  return NULL;
}

static void fmt_time(double ns, char *buf, size_t cap) {
  if (ns >= 1e6)
    snprintf(buf, cap, "%.3f ms", ns / 1e6);
  else if (ns >= 1e3)
    snprintf(buf, cap, "%.2f us", ns / 1e3);
  else
    snprintf(buf, cap, "%.0f ns", ns);
}

void qiao_cuda_estimate_format(const qiao_cuda_estimate_t *e, char *buf, size_t cap) {
  char t[32];
  fmt_time(e->ns, t, sizeof t);
  snprintf(buf, cap,
           "modelled %s on %s, bound by %s (occupancy %.0f%% theoretical [%s], %.0f%% in a "
           "wave; %lld CTAs in %lld waves, wave efficiency %.0f%%; %d registers%s)",
           t, e->profile, e->bound, 100 * e->occupancy.occupancy, e->occupancy.limiter,
           100 * e->achieved_occupancy, (long long)e->ctas, (long long)e->waves,
           100 * e->wave_efficiency, e->registers, e->registers_assumed ? " assumed" : "");
}
