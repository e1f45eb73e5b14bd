// Mixed features for simt-emu: local arrays, f64, integer intrinsics, half2, syncthreads_count,
// shfl with width, redux, match, atomic CAS loop, dynamic shared memory.
#include <cuda_fp16.h>
extern "C" __global__ void misc_thread(const int *in, int *out, double *dout, unsigned *hout, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  int v = in[i];
  int loc[16];
  for (int k = 0; k < 16; ++k) loc[k] = v * k + (k ^ v);
  int idx = (v & 15);
  int acc = loc[idx] + loc[(idx * 7) & 15];
  unsigned u = (unsigned)v * 2654435761u;
  out[i * 8 + 0] = acc;
  out[i * 8 + 1] = __popc(u) + __clz(u) * 100;
  out[i * 8 + 2] = (int)__brev(u);
  out[i * 8 + 3] = (int)__byte_perm(u, (unsigned)v, 0x5140);
  out[i * 8 + 4] = __ffs(v) + (v != 0 ? (1000 / v) : 0) + (v != 0 ? (1000 % v) : 0);
  out[i * 8 + 5] = __mulhi(v, 0x7654321) ^ __umulhi(u, 0x89abcdefu);
  out[i * 8 + 6] = min(v, 50) + max(v, -50) + abs(v - 40);
  out[i * 8 + 7] = (int)((long long)v * 123456789LL >> 20);
  double d = (double)v / 7.0;
  dout[i * 2 + 0] = sqrt(fabs(d)) + d * d - 1.0 / (d + 0.5);
  dout[i * 2 + 1] = fma(d, 3.25, -d / 3.0);
  __half2 a = __floats2half2_rn((float)v / 8.0f, 1.5f);
  __half2 b = __floats2half2_rn(0.25f, (float)(v % 5));
  __half2 c = __hfma2(a, b, __hadd2(a, b));
  __half2 e = __hmul2(c, a);
  hout[i] = *(unsigned *)&e;
}
extern "C" __global__ void misc_block(const int *in, int *out, float *fmaxp, unsigned *counters) {
  extern __shared__ int dyn[];
  int t = threadIdx.x, i = blockIdx.x * blockDim.x + t;
  int v = in[i];
  dyn[t] = v;
  int cnt = __syncthreads_count(v > 0);
  int all = __syncthreads_and(v > -100);
  int any = __syncthreads_or(v > 90);
  int nb = dyn[(t + 5) % blockDim.x];
  int w8 = __shfl_sync(0xffffffffu, v, 3, 8);
  int dn = __shfl_down_sync(0xffffffffu, v, 2, 16);
  unsigned red = __reduce_add_sync(0xffffffffu, (unsigned)(v & 255));
  unsigned mx = __reduce_max_sync(0xffffffffu, (unsigned)(v & 255));
  unsigned m = __match_any_sync(0xffffffffu, v & 3);
  out[i * 8 + 0] = cnt;
  out[i * 8 + 1] = all * 10 + any;
  out[i * 8 + 2] = nb;
  out[i * 8 + 3] = w8;
  out[i * 8 + 4] = dn;
  out[i * 8 + 5] = (int)red;
  out[i * 8 + 6] = (int)mx;
  out[i * 8 + 7] = (int)m;
  float f = (float)v * 0.5f;
  int *fm = (int *)fmaxp;
  int old = *fm, assumed;
  do {
    assumed = old;
    if (__int_as_float(assumed) >= f) break;
    old = atomicCAS(fm, assumed, __float_as_int(f));
  } while (assumed != old);
  atomicMin(&counters[0], (unsigned)(v + 1000));
  atomicMax(&counters[1], (unsigned)(v + 1000));
  atomicInc(&counters[2], 16u);
  atomicAdd(&counters[3], 1u);
}
