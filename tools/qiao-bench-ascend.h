/* qiao-bench ascend-calib (tools/qiao-bench-ascend.c): ascend-sim's cycle model
 * against published measurements of real Ascend boards (docs/ascend-model.md,
 * "Calibration data" and "Validation"), and the simulator's own speed. */
#ifndef QIAO_TOOLS_BENCH_ASCEND_H
#define QIAO_TOOLS_BENCH_ASCEND_H

#include <stdbool.h>
#include <stddef.h>

#include "qiao/hal_ascend.h"
#include "qiao/status.h"

/* Which set a published figure belongs to: the calibration set set the
 * model's [estimate] parameters; the validation set was kept out of it. */
typedef enum { QIAO_CALIB_SET_CALIBRATION, QIAO_CALIB_SET_VALIDATION } qiao_calib_set_t;

typedef struct qiao_calib_case {
  const char *id; /* "C1", "V3", ... (the rows of docs/ascend-model.md) */
  qiao_calib_set_t set;
  const char *uri;             /* the ascend-sim device that models the board */
  const char *graph;           /* the kernel, in the IR text format (one kernel) */
  double work;                 /* FLOPs (matmul) or bytes moved (memory-bound) */
  const char *unit;            /* "TFLOPS" or "GB/s": work / time */
  double published_us;         /* the measured kernel time on the board */
  const char *source;          /* short citation; the full one is in docs/ascend-model.md */
  double published_cube_ratio; /* the profiler's cube busy ratio where published, else 0 */
  /* One core's share (NULL: the whole kernel is simulated). The simulator runs
   * every Mmad functionally on one host thread, so a large matmul takes many
   * minutes; in the backend's persistent cube kernel every core runs the same
   * unit-op sequence on its tiles (whole tiles, full K), and an op's cycles do
   * not depend on which core or which addresses, so the slowest core's time is
   * that of a `cores=1` run of a matmul made of exactly that core's tiles
   * (share_graph, on share_uri). The shared-HBM bound of the whole kernel is
   * checked separately (full_hbm_bytes: A, B read once, C written once). */
  const char *share_uri;
  const char *share_graph;
  double full_hbm_bytes;
  double hbm_bytes_per_s; /* of the board, for that check */
  bool slow;              /* minutes of host time to simulate (skipped unless --all) */
} qiao_calib_case_t;

typedef struct qiao_calib_result {
  qiao_hal_ascend_report_t report; /* the simulator's per-kernel report */
  double predicted_us;             /* simulated kernel time */
  double hbm_us;                   /* the whole kernel's HBM time (share runs), else 0 */
  double error;                    /* (predicted - published) / published */
  double wall_s;                   /* host wall time of the run (the simulator's speed) */
  double cpu_s;                    /* host CPU time of the run (user + system, all threads) */
} qiao_calib_result_t;

/* The table of cases (static, read-only). */
const qiao_calib_case_t *qiao_calib_cases(size_t *out_n);
/* Compiles and runs one case on its device (inputs: deterministic pseudo-random
 * values) and compares the simulated time with the published one. */
qiao_status_t qiao_calib_run(const qiao_calib_case_t *c, qiao_calib_result_t *out);

/* argv[0] is "ascend-calib"; returns the exit code. */
int qiao_bench_ascend_main(int argc, char **argv);

#endif /* QIAO_TOOLS_BENCH_ASCEND_H */
