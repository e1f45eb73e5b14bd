/* cuBLAS reference timings for tests/gpu/run.sh (built there with `cc -O2 ... -ldl`;
 * not part of the CMake build: it needs a GPU). libcuda.so.1 and libcublas are
 * opened with dlopen, so no CUDA header or toolkit is needed to build it.
 *
 *   cublas_bench matmul DT M N K ITERS        C[M,N] = A[M,K] B[K,N], row-major
 *   cublas_bench attention DT B H S D ITERS   S = Q Kᵀ and O = P V per (b, h): two
 *                                             strided-batched GEMMs (no softmax, the
 *                                             S×S matrix stored): the unfused lower bound
 * DT: f16, bf16 (f32 accumulate, output DT) or f32. Prints one line with the median
 * time over ITERS runs (CUDA events, measured) and the FLOP rate. Exit 2 when the
 * driver, cuBLAS or a GPU is missing (with a message). */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef void *CUcontext, *CUevent, *cublasHandle_t;

static struct {
  CUresult (*Init)(unsigned);
  CUresult (*DeviceGet)(CUdevice *, int);
  CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
  CUresult (*CtxSetCurrent)(CUcontext);
  CUresult (*MemAlloc)(CUdeviceptr *, size_t);
  CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
  CUresult (*EventCreate)(CUevent *, unsigned);
  CUresult (*EventRecord)(CUevent, void *);
  CUresult (*EventSynchronize)(CUevent);
  CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
  int (*Create)(cublasHandle_t *);
  int (*GemmEx)(cublasHandle_t, int, int, int, int, int, const void *, const void *, int, int,
                const void *, int, int, const void *, void *, int, int, int, int);
  int (*GemmSB)(cublasHandle_t, int, int, int, int, int, const void *, const void *, int, int,
                long long, const void *, int, int, long long, const void *, void *, int, int,
                long long, int, int, int);
} api;

static void *sym(void *lib, const char *a, const char *b) {
  void *p = dlsym(lib, a);
  if (!p && b) p = dlsym(lib, b);
  if (!p) {
    fprintf(stderr, "cublas_bench: missing symbol %s\n", a);
    exit(2);
  }
  return p;
}

#define CK(x)                                                                                      \
  do {                                                                                             \
    int r_ = (int)(x);                                                                             \
    if (r_) {                                                                                      \
      fprintf(stderr, "cublas_bench: %s failed (%d)\n", #x, r_);                                   \
      exit(2);                                                                                     \
    }                                                                                              \
  } while (0)

static int cmpf(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: cublas_bench matmul DT M N K ITERS | attention DT B H S D ITERS\n");
    return 1;
  }
  void *cu = dlopen("libcuda.so.1", RTLD_NOW);
  if (!cu) {
    fprintf(stderr, "cublas_bench: no CUDA driver found (libcuda.so.1)\n");
    return 2;
  }
  const char *names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
  void *bl = NULL;
  for (int i = 0; i < 4 && !bl; ++i)
    bl = dlopen(names[i], RTLD_NOW);
  if (!bl) {
    fprintf(stderr, "cublas_bench: no cuBLAS found (libcublas.so.13/12/11)\n");
    return 2;
  }
  *(void **)&api.Init = sym(cu, "cuInit", NULL);
  *(void **)&api.DeviceGet = sym(cu, "cuDeviceGet", NULL);
  *(void **)&api.PrimaryCtxRetain = sym(cu, "cuDevicePrimaryCtxRetain", NULL);
  *(void **)&api.CtxSetCurrent = sym(cu, "cuCtxSetCurrent", NULL);
  *(void **)&api.MemAlloc = sym(cu, "cuMemAlloc_v2", "cuMemAlloc");
  *(void **)&api.MemsetD8 = sym(cu, "cuMemsetD8_v2", "cuMemsetD8");
  *(void **)&api.EventCreate = sym(cu, "cuEventCreate", NULL);
  *(void **)&api.EventRecord = sym(cu, "cuEventRecord", NULL);
  *(void **)&api.EventSynchronize = sym(cu, "cuEventSynchronize", NULL);
  *(void **)&api.EventElapsedTime = sym(cu, "cuEventElapsedTime_v2", "cuEventElapsedTime");
  *(void **)&api.Create = sym(bl, "cublasCreate_v2", NULL);
  *(void **)&api.GemmEx = sym(bl, "cublasGemmEx", NULL);
  *(void **)&api.GemmSB = sym(bl, "cublasGemmStridedBatchedEx", NULL);

  const char *dt = argv[2];
  int type = !strcmp(dt, "f16") ? 2 : !strcmp(dt, "bf16") ? 14 : !strcmp(dt, "f32") ? 0 : -1;
  if (type < 0) {
    fprintf(stderr, "cublas_bench: dtype %s (f16, bf16, f32)\n", dt);
    return 1;
  }
  size_t es = type == 0 ? 4 : 2;
  bool attn = !strcmp(argv[1], "attention");
  if ((attn && argc != 8) || (!attn && argc != 7)) {
    fprintf(stderr, "cublas_bench: wrong argument count\n");
    return 1;
  }
  long long a1 = atoll(argv[3]), a2 = atoll(argv[4]), a3 = atoll(argv[5]);
  long long a4 = attn ? atoll(argv[6]) : 0;
  int iters = atoi(argv[attn ? 7 : 6]);
  if (iters < 1) iters = 1;

  CUdevice dev;
  CUcontext ctx;
  CK(api.Init(0));
  CK(api.DeviceGet(&dev, 0));
  CK(api.PrimaryCtxRetain(&ctx, dev));
  CK(api.CtxSetCurrent(ctx));
  cublasHandle_t h;
  CK(api.Create(&h));
  float one = 1, zero = 0;
  CUdeviceptr A, B, C, D = 0;
  double flops;
  if (!attn) { /* C[M,N] = A[M,K] B[K,N] row-major: Cᵀ = Bᵀ Aᵀ column-major */
    long long M = a1, N = a2, K = a3;
    CK(api.MemAlloc(&A, (size_t)(M * K) * es));
    CK(api.MemAlloc(&B, (size_t)(K * N) * es));
    CK(api.MemAlloc(&C, (size_t)(M * N) * es));
    CK(api.MemsetD8(A, 0, (size_t)(M * K) * es));
    CK(api.MemsetD8(B, 0, (size_t)(K * N) * es));
    flops = 2.0 * M * N * K;
  } else {
    long long Bt = a1, H = a2, S = a3, Dh = a4;
    size_t qkv = (size_t)(Bt * H * S * Dh) * es, ss = (size_t)(Bt * H * S * S) * es;
    CK(api.MemAlloc(&A, qkv));
    CK(api.MemAlloc(&B, qkv));
    CK(api.MemAlloc(&C, ss));
    CK(api.MemAlloc(&D, qkv));
    CK(api.MemsetD8(A, 0, qkv));
    CK(api.MemsetD8(B, 0, qkv));
    flops = 4.0 * Bt * H * S * S * Dh;
  }
  CUevent e0, e1;
  CK(api.EventCreate(&e0, 0));
  CK(api.EventCreate(&e1, 0));
  float *ms = calloc((size_t)iters, sizeof *ms);
  for (int it = -2; it < iters; ++it) { /* two warm-up runs */
    CK(api.EventRecord(e0, NULL));
    if (!attn) {
      int M = (int)a1, N = (int)a2, K = (int)a3;
      CK(api.GemmEx(h, 0, 0, N, M, K, &one, (void *)B, type, N, (void *)A, type, K, &zero,
                    (void *)C, type, N, 68, -1));
    } else {
      int S = (int)a3, Dh = (int)a4, batch = (int)(a1 * a2);
      /* S = Q Kᵀ: Sᵀ = K Qᵀ → (T, N), m = n = S, k = D */
      CK(api.GemmSB(h, 1, 0, S, S, Dh, &one, (void *)B, type, Dh, (long long)S * Dh, (void *)A,
                    type, Dh, (long long)S * Dh, &zero, (void *)C, type, S, (long long)S * S,
                    batch, 68, -1));
      /* O = P V: Oᵀ = Vᵀ Pᵀ → (N, N), m = D, n = S, k = S (P is the S buffer, V is K's) */
      CK(api.GemmSB(h, 0, 0, Dh, S, S, &one, (void *)B, type, Dh, (long long)S * Dh, (void *)C,
                    type, S, (long long)S * S, &zero, (void *)D, type, Dh, (long long)S * Dh,
                    batch, 68, -1));
    }
    CK(api.EventRecord(e1, NULL));
    CK(api.EventSynchronize(e1));
    float t = 0;
    CK(api.EventElapsedTime(&t, e0, e1));
    if (it >= 0) ms[it] = t;
  }
  qsort(ms, (size_t)iters, sizeof *ms, cmpf);
  double med = ms[iters / 2];
  if (!attn)
    printf("cublas matmul %s %lldx%lldx%lld: median %.4f ms over %d runs, %.1f TFLOP/s "
           "(measured)\n",
           dt, a1, a2, a3, med, iters, flops / (med * 1e-3) / 1e12);
  else
    printf("cublas attention-gemms %s B=%lld H=%lld S=%lld D=%lld (QK^T + PV, no softmax): median "
           "%.4f ms over %d runs, %.1f TFLOP/s (measured)\n",
           dt, a1, a2, a3, a4, med, iters, flops / (med * 1e-3) / 1e12);
  free(ms);
  return 0;
}
