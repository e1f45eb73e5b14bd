// WMMA GEMM with tf32 inputs (precision::tf32, m16n16k8) and float accumulate; one warp per
// 16x16 tile of C = A B (A row-major M x K, B column-major: Bt is N x K row-major). The inputs
// are rounded to tf32 with __float_to_tf32 (cvt.rna.tf32.f32) after loading.
#include <mma.h>
using namespace nvcuda;
extern "C" __global__ void wmma_tf32(const float *A, const float *Bt, float *C, int M, int N,
                                     int K) {
  int wm = blockIdx.y, wn = blockIdx.x;
  wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc;
  wmma::fill_fragment(acc, 0.0f);
  for (int k = 0; k < K; k += 8) {
    wmma::load_matrix_sync(a, A + wm * 16 * K + k, K);
    wmma::load_matrix_sync(b, Bt + wn * 16 * K + k, K);
    for (int i = 0; i < a.num_elements; ++i) a.x[i] = wmma::__float_to_tf32(a.x[i]);
    for (int i = 0; i < b.num_elements; ++i) b.x[i] = wmma::__float_to_tf32(b.x[i]);
    wmma::mma_sync(acc, a, b, acc);
  }
  wmma::store_matrix_sync(C + wm * 16 * N + wn * 16, acc, N, wmma::mem_row_major);
}
