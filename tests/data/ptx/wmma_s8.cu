// WMMA GEMM with signed char inputs (m16n16k16) and int accumulate; one warp per 16x16 tile of
// C = A B + C0 (A row-major M x K, B column-major: Bt is N x K row-major; C0 loaded row-major).
#include <mma.h>
using namespace nvcuda;
extern "C" __global__ void wmma_s8(const signed char *A, const signed char *Bt, const int *C0,
                                   int *C, int M, int N, int K) {
  int wm = blockIdx.y, wn = blockIdx.x;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, signed char, wmma::row_major> a;
  wmma::fragment<wmma::matrix_b, 16, 16, 16, signed char, wmma::col_major> b;
  wmma::fragment<wmma::accumulator, 16, 16, 16, int> acc;
  wmma::load_matrix_sync(acc, C0 + wm * 16 * N + wn * 16, N, wmma::mem_row_major);
  for (int k = 0; k < K; k += 16) {
    wmma::load_matrix_sync(a, A + wm * 16 * K + k, K);
    wmma::load_matrix_sync(b, Bt + wn * 16 * K + k, K);
    wmma::mma_sync(acc, a, b, acc);
  }
  wmma::store_matrix_sync(C + wm * 16 * N + wn * 16, acc, N, wmma::mem_row_major);
}
