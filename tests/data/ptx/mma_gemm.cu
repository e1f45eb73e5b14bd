// WMMA (tensor core) GEMM, half inputs, float accumulate; one warp per 16x16 tile.
#include <mma.h>
#include <cuda_fp16.h>
using namespace nvcuda;
extern "C" __global__ void mma_gemm(const half *A, const half *B, float *C, int M, int N, int K) {
  int wm = blockIdx.y, wn = blockIdx.x;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int k = 0; k < K; k += 16) {
    wmma::load_matrix_sync(a, A + wm * 16 * K + k, K);
    wmma::load_matrix_sync(b, B + wn * 16 * K + k, K);
    wmma::mma_sync(acc, a, b, acc);
  }
  wmma::store_matrix_sync(C + wm * 16 * N + wn * 16, acc, N, wmma::mem_row_major);
}
// Raw mma.sync m16n8k16 + ldmatrix through inline PTX.
extern "C" __global__ void mma_m16n8k16(const half *A, const half *B, float *D) {
  __shared__ __align__(16) half sa[16 * 16];
  int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) sa[i] = A[i];
  __syncthreads();
  unsigned a0, a1, a2, a3;
  unsigned addr = (unsigned)__cvta_generic_to_shared(&sa[(lane % 16) * 16 + (lane / 16) * 8]);
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];"
               : "=r"(a0), "=r"(a1), "=r"(a2), "=r"(a3) : "r"(addr));
  unsigned b0 = ((const unsigned *)B)[lane], b1 = ((const unsigned *)B)[lane + 32];
  float d0 = 0, d1 = 0, d2 = 0, d3 = 0;
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
               "{%8,%9}, {%0,%1,%2,%3};"
               : "+f"(d0), "+f"(d1), "+f"(d2), "+f"(d3)
               : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
  D[lane * 4 + 0] = d0; D[lane * 4 + 1] = d1; D[lane * 4 + 2] = d2; D[lane * 4 + 3] = d3;
}
