// Tiled shared-memory SGEMM: C[M,N] = A[M,K] * B[K,N], 16x16 tiles.
#define T 16
extern "C" __global__ void __launch_bounds__(256) gemm_tiled(const float *A, const float *B, float *C,
                                                            int M, int N, int K) {
  __shared__ float As[T][T];
  __shared__ float Bs[T][T];
  int r = blockIdx.y * T + threadIdx.y, c = blockIdx.x * T + threadIdx.x;
  float acc = 0.f;
  for (int t = 0; t < (K + T - 1) / T; ++t) {
    int ka = t * T + threadIdx.x, kb = t * T + threadIdx.y;
    As[threadIdx.y][threadIdx.x] = (r < M && ka < K) ? A[r * K + ka] : 0.f;
    Bs[threadIdx.y][threadIdx.x] = (kb < K && c < N) ? B[kb * N + c] : 0.f;
    __syncthreads();
#pragma unroll
    for (int k = 0; k < T; ++k) acc = fmaf(As[threadIdx.y][k], Bs[k][threadIdx.x], acc);
    __syncthreads();
  }
  if (r < M && c < N) C[r * N + c] = acc;
}
