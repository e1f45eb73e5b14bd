// Divergent branches, a device function call, vote/ballot and barriers.
__device__ __noinline__ int collatz(int v) {
  int steps = 0;
  while (v != 1 && steps < 1000) { v = (v & 1) ? 3 * v + 1 : v >> 1; ++steps; }
  return steps;
}
extern "C" __global__ void divergence(const int *in, int *out, unsigned *ballots, int n) {
  __shared__ int stage[128];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  int v = i < n ? in[i] : 1;
  if (v % 3 == 0) v = collatz(v);
  else if (v % 3 == 1) v = -v;
  else { for (int k = 0; k < (v & 7); ++k) v += k * k; }
  unsigned b = __ballot_sync(0xffffffffu, v > 0);
  if ((threadIdx.x & 31) == 0) ballots[i / 32] = b;
  stage[threadIdx.x & 127] = v;
  __syncthreads();
  if (__all_sync(0xffffffffu, v != 0) && i < n) out[i] = stage[(threadIdx.x + 1) & 127];
  __syncthreads();
}
