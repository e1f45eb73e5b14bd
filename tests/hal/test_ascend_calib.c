/* ascend-sim's cycle model against its calibration set (docs/ascend-model.md,
 * "Calibration data" and "Validation"; tools/qiao-bench-ascend.c has the
 * cases). The cycle model is deterministic, so these are not timed tests: the
 * simulated kernel time of each calibration case must stay within the
 * documented band of the published measurement it was calibrated on, and the
 * one-core "share" the large cases are simulated with must give exactly the
 * time of the whole kernel (every core simulated). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qiao/hal_ascend.h"
#include "tools/qiao-bench-ascend.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

/* docs/ascend-model.md "Validation": the band the calibration cases stay in. */
#define CALIB_TIME_BAND 0.05  /* |predicted - published| / published */
#define CALIB_RATIO_BAND 0.05 /* cube busy ratio, absolute */

static const qiao_calib_case_t *find(const char *id) {
  size_t n;
  const qiao_calib_case_t *cs = qiao_calib_cases(&n);
  for (size_t i = 0; i < n; ++i)
    if (!strcmp(cs[i].id, id)) return &cs[i];
  cr_assert_fail("no case %s", id);
  return NULL;
}

Test(ascend_calib, table_is_consistent) {
  size_t n;
  const qiao_calib_case_t *cs = qiao_calib_cases(&n);
  int calib = 0, valid = 0;
  for (size_t i = 0; i < n; ++i) {
    const qiao_calib_case_t *c = &cs[i];
    cr_expect(c->published_us > 0 && c->work > 0, "%s", c->id);
    cr_expect(c->id[0] == (c->set == QIAO_CALIB_SET_CALIBRATION ? 'C' : 'V'), "%s", c->id);
    cr_expect((c->share_graph == NULL) == (c->share_uri == NULL), "%s", c->id);
    if (c->share_graph) cr_expect(strstr(c->share_uri, ":cores=1") != NULL, "%s", c->id);
    for (size_t j = 0; j < i; ++j)
      cr_expect(strcmp(c->id, cs[j].id), "duplicate id %s", c->id);
    calib += c->set == QIAO_CALIB_SET_CALIBRATION;
    valid += c->set == QIAO_CALIB_SET_VALIDATION;
  }
  /* some published figures are kept out of the calibration */
  cr_expect_gt(calib, 0);
  cr_expect_gt(valid, 0);
}

Test(ascend_calib, calibration_cases_within_the_band, .timeout = 600) {
  size_t n;
  const qiao_calib_case_t *cs = qiao_calib_cases(&n);
  for (size_t i = 0; i < n; ++i) {
    const qiao_calib_case_t *c = &cs[i];
    if (c->set != QIAO_CALIB_SET_CALIBRATION) continue;
    qiao_calib_result_t r;
    CHECK_OK(qiao_calib_run(c, &r));
    char buf[1024];
    qiao_hal_ascend_report_format(&r.report, buf, sizeof buf);
    cr_log_info("%s: %.1f us simulated, %.1f us published (%+.1f%%)\n%s", c->id, r.predicted_us,
                c->published_us, 100.0 * r.error, buf);
    cr_expect(strstr(buf, "simulated") != NULL, "%s", buf);
    cr_expect_leq(fabs(r.error), CALIB_TIME_BAND, "%s: %.2f us simulated vs %.2f us published\n%s",
                  c->id, r.predicted_us, c->published_us, buf);
    if (c->published_cube_ratio > 0)
      cr_expect_leq(fabs(r.report.cube_util - c->published_cube_ratio), CALIB_RATIO_BAND,
                    "%s: cube busy %.3f simulated vs %.3f published", c->id, r.report.cube_util,
                    c->published_cube_ratio);
    /* deterministic: a second run gives the same cycles */
    qiao_calib_result_t r2;
    CHECK_OK(qiao_calib_run(c, &r2));
    cr_expect_eq(r.report.cycles, r2.report.cycles, "%s", c->id);
  }
}

/* The share of C1 (one core's three tiles on cores=1) against the whole
 * 1536^3 kernel on 24 cores: the same kernel time to the cycle. */
Test(ascend_calib, one_core_share_equals_the_whole_kernel, .timeout = 600) {
  const qiao_calib_case_t *c = find("C1");
  cr_assert_not_null(c->share_graph);
  qiao_calib_result_t shr, whole;
  CHECK_OK(qiao_calib_run(c, &shr));
  qiao_calib_case_t w = *c;
  w.share_graph = w.share_uri = NULL;
  CHECK_OK(qiao_calib_run(&w, &whole));
  cr_expect_eq(whole.report.blocks, 24);
  cr_expect_eq(shr.report.blocks, 1);
  cr_expect_eq(shr.report.cycles, whole.report.cycles, "share %.0f cycles, whole %.0f",
               shr.report.cycles, whole.report.cycles);
  cr_expect_str_eq(shr.report.bound, whole.report.bound);
  /* per-core cube busy ratio: the share's one core is every core of the whole */
  cr_expect_float_eq(shr.report.cube_util, whole.report.cube_util, 1e-9);
  /* the share's HBM check is the whole kernel's traffic at the board's rate */
  cr_expect_lt(shr.hbm_us, shr.predicted_us);
}
