/* Test support: run a graph on a device and on the reference interpreter
 * with the same fresh random inputs and params, and compare. */
#ifndef QIAO_TESTS_ORACLE_H
#define QIAO_TESTS_ORACLE_H

#include "qiao/hal.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

/* Tolerance on the normalized error by dtype: f32 1e-5, f16/bf16 1e-2,
 * f8 formats 1.5e-1 (one ulp of a 3-bit mantissa), integers exact. */
double oracle_tolerance(qiao_dtype_t dt);

/* max |x - ref| / max(max |ref|, 1e-30) over all elements; NaN in x where
 * ref is finite counts as infinite error. Integers: max |x - ref|. */
double oracle_error(const qiao_tensor_t *x, const qiao_tensor_t *ref);

typedef struct oracle_result {
  int32_t n_outputs;
  double err[8];
  double tol[8];
  int32_t n_kernels;
  char message[512]; /* set when something failed before comparing */
} oracle_result_t;

/* Compiles g for device `uri`, binds random params (seeded), makes random
 * inputs (ints: [0, int_hi) where int_hi is the smallest dim of any table a
 * gather reads, else 8; positions inputs named "pos*": arange), runs both,
 * fills res. Returns false with res->message on any error. */
bool oracle_run(const qiao_graph_t *g, const char *uri, uint64_t seed, oracle_result_t *res);
/* Same with weights from a safetensors file (params not in the file: random). */
bool oracle_run_weights(const qiao_graph_t *g, const char *uri, const char *weights_path, uint64_t seed,
                        oracle_result_t *res);
/* Asserts every output is within tolerance (for use inside Criterion tests). */
#define ORACLE_CHECK(g, uri, seed)                                                                \
  do {                                                                                            \
    oracle_result_t r_;                                                                           \
    bool ok_ = oracle_run((g), (uri), (seed), &r_);                                               \
    cr_assert(ok_, "%s: %s", (uri), r_.message);                                                  \
    for (int32_t o_ = 0; o_ < r_.n_outputs; ++o_)                                                 \
      cr_expect(r_.err[o_] <= r_.tol[o_], "%s: output %d error %.3g > tolerance %.3g", (uri), o_, \
                r_.err[o_], r_.tol[o_]);                                                          \
  } while (0)

#endif
