/* Test support: run a graph on a device and on the reference interpreter
 * with the same fresh random inputs and params, and compare.
 *
 * Every output is checked four ways (docs/design.md, "Tolerances"):
 *   1. the normalized error max|x - ref| / max|ref| is within the dtype's tolerance;
 *   2. elementwise, |x - ref| <= atol + rtol*|ref| (integers and bool: equal), NaN exactly
 *      where ref is NaN, +-inf exactly where ref is +-inf (same sign);
 *   3. the program runs twice with two different poisons in its arena (0xFF bytes, and
 *      0x5A bytes where the C library allows it) and both results are bit-identical, so
 *      an element a kernel never writes is caught even where the reference is NaN;
 *   4. the second run goes through a program served from the compile cache.
 * The first failing element (index, value, reference) is in res->why[o]. */
#ifndef QIAO_TESTS_ORACLE_H
#define QIAO_TESTS_ORACLE_H

#include <stdio.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "qiao/hal.h"
#include "qiao/ir.h"
#include "qiao/runtime.h"

/* Tolerance on the normalized error by dtype: f32 1e-5, f16/bf16 1e-2,
 * f8 formats 1.5e-1 (one ulp of a 3-bit mantissa), integers exact. */
double oracle_tolerance(qiao_dtype_t dt);

/* max |x - ref| / max(max |ref|, 1e-30) over all elements; NaN in x where
 * ref is finite counts as infinite error. Integers: max |x - ref|. */
double oracle_error(const qiao_tensor_t *x, const qiao_tensor_t *ref);

/* The elementwise bound by dtype: |x - ref| <= atol + scale_atol * S + rtol*|ref|, where
 * S = the largest finite |ref| of the tensor, capped at 1 unless the output is
 * `accumulating` (it depends on a matmul, reduce_sum/mean, softmax, norm, rope,
 * attention or moe): an element that cancels to ~0 after a long f32 sum cannot be held
 * to a relative bound. */
typedef struct oracle_elem_tol {
  double rtol, atol, scale_atol;
} oracle_elem_tol_t;
oracle_elem_tol_t oracle_elem_tolerance(qiao_dtype_t dt, bool accumulating);

/* Checks x against ref elementwise (see above; `x` and `ref` of one type). On a failure
 * returns false and writes "element i (index [a, b]): got X, expected R (bound B)" to why. */
bool oracle_check_elements(const qiao_tensor_t *x, const qiao_tensor_t *ref, bool accumulating,
                           char *why, size_t cap);

/* Whether output `o` of g depends on an accumulating op (see oracle_elem_tolerance). */
bool oracle_output_accumulates(const qiao_graph_t *g, int32_t o);

typedef struct oracle_opts {
  uint64_t seed;            /* 0 is taken as 1 */
  const char *weights_path; /* NULL: every param random */
  /* Float graph inputs get a deterministic mix of edge values: rows (of the last
   * dim) cycle through {edge, normal, finite edge, normal, all -inf, normal, large,
   * normal}, input i starting at row 3*i of the cycle. An edge row always holds NaN,
   * +inf and -inf (at a seeded lane), and in three of four other elements a cyclic run of
   * +-0, +-1, subnormals, +-1e30, +-3e38, FLT_MAX (f16/bf16: their own range ends and
   * smallest subnormal) and values near exp's overflow/underflow thresholds; the rest are
   * random. A finite edge row is the same without NaN and inf. A large row is random *
   * 1000 (large logits). */
  bool edge_values;
  /* Inputs (bit i: graph input i) whose edge rows hold only finite edge values. For
   * attention's v: an f32 kernel's exp underflows to 0 at -104 where the f64 interpreter
   * keeps a weight of e^-700, so "weight x inf" is NaN on one and inf on the other — an
   * artifact of the oracle's wider range, not a kernel bug. NaN in v still goes through. */
  uint32_t finite_inputs;
  bool no_poison_rerun; /* skip the second (0x5A-poisoned, cached) run */
} oracle_opts_t;

typedef struct oracle_result {
  int32_t n_outputs;
  double err[8];
  double tol[8];
  bool ok[8];       /* every check of output o passed */
  char why[8][384]; /* the first failed check of output o */
  int32_t n_kernels;
  char message[512]; /* set when something failed before comparing */
  /* The device's backend refused a kernel of the graph (QIAO_UNSUPPORTED at
   * compile): message names kernel, op and reason. Not a pass: ORACLE_DEVICE_OK
   * logs it as a warning line in the test output. */
  bool unsupported;
} oracle_result_t;

/* Compiles g for device `uri`, binds random params (seeded), makes random
 * inputs (ints: [0, int_hi) where int_hi is the smallest dim of any table a
 * gather reads, else 8; positions inputs named "pos*": arange; floats: [-1, 1)
 * or edge values), runs both, fills res. Returns false with res->message on any
 * error before comparing. */
bool oracle_run_opts(const qiao_graph_t *g, const char *uri, const oracle_opts_t *opts,
                     oracle_result_t *res);
bool oracle_run(const qiao_graph_t *g, const char *uri, uint64_t seed, oracle_result_t *res);
/* Same with weights from a safetensors file (params not in the file: random). */
bool oracle_run_weights(const qiao_graph_t *g, const char *uri, const char *weights_path,
                        uint64_t seed, oracle_result_t *res);
/* Runs already compiled programs of g (compiled for one device): `prog` is compared
 * with the interpreter; `prog_b` (may be NULL) runs on the same inputs and must give
 * bit-identical outputs. Binds random params to both (same values). */
bool oracle_run_programs(const qiao_graph_t *g, qiao_program_t *prog, qiao_program_t *prog_b,
                         const oracle_opts_t *opts, oracle_result_t *res);

/* Criterion helpers: every output passed every check. `what` is a printf format. */
#define ORACLE_EXPECT_OK(r, fmt, ...)                                                              \
  do {                                                                                             \
    for (int32_t o_ = 0; o_ < (r).n_outputs; ++o_)                                                 \
      cr_expect((r).ok[o_], fmt ": output %d: %s", __VA_ARGS__, o_, (r).why[o_]);                  \
  } while (0)
/* For one device row: true when r holds results to compare; a refused kernel
 * (r.unsupported) is printed, visibly, as "[UNSUPPORTED] <what> on <device>: ..."; any other
 * failure is a test failure. */
#define ORACLE_DEVICE_OK(ok, r, what, uri) oracle_device_ok((ok), &(r), (what), (uri))
static inline bool oracle_device_ok(bool ok, const oracle_result_t *r, const char *what,
                                    const char *uri) {
  if (ok) return true;
  if (r->unsupported) /* stderr, not cr_log_warn: Criterion fails the run on a warning */
    fprintf(stderr, "[UNSUPPORTED] %s on %s: %s\n", what, uri, r->message);
  else
    cr_expect(false, "%s on %s: %s", what, uri, r->message);
  return false;
}
#define ORACLE_CHECK(g, uri, seed)                                                                 \
  do {                                                                                             \
    oracle_result_t r_;                                                                            \
    bool ok_ = oracle_run((g), (uri), (seed), &r_);                                                \
    cr_assert(ok_, "%s: %s", (uri), r_.message);                                                   \
    ORACLE_EXPECT_OK(r_, "%s", (uri));                                                             \
  } while (0)

#endif
