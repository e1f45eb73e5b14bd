// Double-buffered cp.async pipeline: stream tiles of x into shared memory, scale, write out.
#include <cuda_pipeline.h>
extern "C" __global__ void cp_async_scale(const float4 *x, float4 *y, int tiles, float s) {
  __shared__ float4 buf[2][128];
  int t = threadIdx.x;
  __pipeline_memcpy_async(&buf[0][t], &x[t], sizeof(float4));
  __pipeline_commit();
  for (int k = 0; k < tiles; ++k) {
    if (k + 1 < tiles) __pipeline_memcpy_async(&buf[(k + 1) & 1][t], &x[(k + 1) * 128 + t], sizeof(float4));
    __pipeline_commit();
    __pipeline_wait_prior(1);
    __syncthreads();
    float4 v = buf[k & 1][t];
    y[k * 128 + t] = make_float4(v.x * s, v.y * s, v.z * s, v.w * s);
    __syncthreads();
  }
}
