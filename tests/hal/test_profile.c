/* HAL: device profiles — shipped files, bad files, the measured host profile. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qiao/hal.h"

#define PROFILE_DIR QIAO_SOURCE_DIR "/hal/profiles"
#define BAD_DIR QIAO_SOURCE_DIR "/tests/data/bad/profiles"

static const char *const kShipped[] = {"h100",        "h200",        "a100",     "h20",
                                       "ascend-910b", "ascend-910c", "mlu370-x8"};

Test(profile, every_shipped_profile_loads) {
  for (size_t i = 0; i < sizeof kShipped / sizeof kShipped[0]; ++i) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", PROFILE_DIR, kShipped[i]);
    qiao_hal_profile_t *p = NULL;
    qiao_status_t st = qiao_hal_profile_load(path, &p);
    cr_assert_null(st, "%s", qiao_status_message(st));
    const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
    const qiao_hal_profile_details_t *de = qiao_hal_profile_details(p);
    cr_expect(in->peak_flops_f32 > 1e12, "%s f32", path);
    cr_expect(in->peak_flops_bf16 >= in->peak_flops_f32, "%s bf16 >= f32", path);
    cr_expect(in->mem_bandwidth > 1e11, "%s bandwidth", path);
    cr_expect(in->mem_bytes > 1e10, "%s capacity", path);
    cr_expect(in->cores > 0 && in->vector_width > 0, "%s cores", path);
    cr_expect(!in->measured);
    cr_expect(de->n_sources > 0 && de->n_dtypes > 0, "%s sources/dtypes", path);
    cr_expect_str_eq(de->path, path);
    cr_expect(qiao_hal_profile_supports_dtype(p, "f32"));
    qiao_hal_profile_destroy(p);
  }
}

Test(profile, known_values) {
  qiao_hal_profile_t *p = NULL;
  cr_assert_null(qiao_hal_profile_load(PROFILE_DIR "/h100.json", &p));
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  cr_expect_str_eq(in->name, "h100-sxm");
  cr_expect_eq(in->device_class, QIAO_HAL_CLASS_CUDA);
  cr_expect_float_eq(in->peak_flops_bf16, 989.4e12, 1e9);
  cr_expect_float_eq(in->mem_bandwidth, 3350e9, 1e6);
  cr_expect_float_eq(in->onchip_bytes, 228 * 1024.0, 1);
  cr_expect_eq(in->cores, 132);
  cr_expect_eq(in->vector_width, 32);
  cr_expect(qiao_hal_profile_supports_dtype(p, "f8e4m3"));
  qiao_hal_profile_destroy(p);

  cr_assert_null(qiao_hal_profile_load(PROFILE_DIR "/ascend-910b.json", &p));
  in = qiao_hal_profile_info(p);
  const qiao_hal_profile_details_t *de = qiao_hal_profile_details(p);
  cr_expect_eq(in->device_class, QIAO_HAL_CLASS_ASCEND);
  cr_expect_float_eq(in->onchip_bytes, 192 * 1024.0, 1);
  cr_expect_float_eq(de->l0c_bytes, 128 * 1024.0, 1);
  cr_expect_float_eq(de->l1_bytes, 512 * 1024.0, 1);
  cr_expect_float_eq(in->peak_flops_f8, 0, 0);
  cr_expect(!qiao_hal_profile_supports_dtype(p, "f8e4m3"));
  cr_expect(strstr(de->notes, "[U]") != NULL);
  qiao_hal_profile_destroy(p);
}

Test(profile, load_named) {
  setenv("QIAO_PROFILE_DIR", PROFILE_DIR, 1);
  const char *names[] = {"h100", "h100-sxm", "910b", "ascend-910c", "910c", "h20", "a100",
                         "mlu370-x8"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    qiao_hal_profile_t *p = NULL;
    qiao_status_t st = qiao_hal_profile_load_named(names[i], &p);
    cr_assert_null(st, "%s: %s", names[i], qiao_status_message(st));
    qiao_hal_profile_destroy(p);
  }
  qiao_hal_profile_t *p = NULL;
  qiao_status_t st = qiao_hal_profile_load_named("tpu-v9", &p);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(st), "no device profile 'tpu-v9' in ") != NULL, "%s",
            qiao_status_message(st));
  cr_expect(strstr(qiao_status_message(st), "h100") != NULL, "lists known profiles");
  qiao_status_free(st);
}

Test(profile, load_named_uses_env_dir) {
  char dir[] = "/tmp/qiao-prof-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  char path[256];
  snprintf(path, sizeof path, "%s/mychip.json", dir);
  FILE *f = fopen(path, "w");
  fputs("{\"name\": \"my-chip\", \"class\": \"cpu\", \"peak_tflops\": {\"f32\": 1.5, \"f16\": 0,"
        " \"bf16\": 0}, \"memory\": {\"capacity_gb\": 8, \"bandwidth_gbps\": 50}, \"cores\": 4,"
        " \"vector_width\": 8, \"dtypes\": [\"f32\"], \"sources\": [\"me\"],"
        " \"notes\": \"a note\"}",
        f);
  fclose(f);
  setenv("QIAO_PROFILE_DIR", dir, 1);
  qiao_hal_profile_t *p = NULL;
  qiao_status_t st = qiao_hal_profile_load_named("mychip", &p);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_str_eq(qiao_hal_profile_info(p)->name, "my-chip");
  cr_expect_float_eq(qiao_hal_profile_info(p)->peak_flops_f32, 1.5e12, 1);
  cr_expect_str_eq(qiao_hal_profile_details(p)->notes, "a note");
  qiao_hal_profile_destroy(p);
  unlink(path);
  rmdir(dir);
}

/* Each tests/data/bad/profiles/X.json has X.expected: the message after "path". */
static void expect_bad(const char *stem) {
  char path[512], exp_path[512], expected[512] = "", msg[1200];
  snprintf(path, sizeof path, "%s/%s.json", BAD_DIR, stem);
  snprintf(exp_path, sizeof exp_path, "%s/%s.expected", BAD_DIR, stem);
  FILE *f = fopen(exp_path, "r");
  cr_assert_not_null(f, "%s", exp_path);
  size_t n = fread(expected, 1, sizeof expected - 1, f);
  expected[n] = 0;
  fclose(f);
  qiao_hal_profile_t *p = NULL;
  qiao_status_t st = qiao_hal_profile_load(path, &p);
  cr_assert_not_null(st, "%s should not load", path);
  cr_expect_null(p);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  /* "path: <expected>" or, for syntax errors, "path:<line>:<col>: ..." */
  snprintf(msg, sizeof msg, "%s%s%s", path, expected[0] >= '0' && expected[0] <= '9' ? ":" : ": ",
           expected);
  cr_expect(strncmp(qiao_status_message(st), msg, strlen(msg)) == 0, "got '%s', want '%s'",
            qiao_status_message(st), msg);
  qiao_status_free(st);
}

Test(profile, bad_files) {
  expect_bad("syntax_error");
  expect_bad("missing_key");
  expect_bad("wrong_type");
  expect_bad("negative_rate");
  expect_bad("unknown_class");
  expect_bad("unknown_key");
  expect_bad("bad_dtype");
}

Test(profile, missing_file) {
  qiao_hal_profile_t *p = NULL;
  qiao_status_t st = qiao_hal_profile_load("/nonexistent/x.json", &p);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  cr_expect_str_eq(qiao_status_message(st),
                   "/nonexistent/x.json: cannot open: No such file or directory");
  qiao_status_free(st);
}

/* ------------------------------------------------------------ host profile */

static char g_cache[256];

static void make_cache(void) {
  snprintf(g_cache, sizeof g_cache, "/tmp/qiao-cache-XXXXXX");
  cr_assert_not_null(mkdtemp(g_cache));
  setenv("XDG_CACHE_HOME", g_cache, 1);
  unsetenv("QIAO_HOST_PROFILE");
}

static void remove_cache(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_cache);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", g_cache);
}

Test(host_profile, measured_then_cached, .init = make_cache, .fini = remove_cache) {
  qiao_hal_profile_t *p = NULL;
  qiao_hal_event_t t0, t1, t2;
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open("cpu:threads=1", &d));
  qiao_hal_event_record(d, &t0);
  qiao_status_t st = qiao_hal_profile_host(&p);
  qiao_hal_event_record(d, &t1);
  cr_assert_null(st, "%s", qiao_status_message(st));
  const qiao_hal_profile_info_t *in = qiao_hal_profile_info(p);
  const qiao_hal_profile_details_t *de = qiao_hal_profile_details(p);
  cr_expect(in->measured);
  cr_expect_eq(in->device_class, QIAO_HAL_CLASS_CPU);
  cr_expect(in->peak_flops_f32 > 1e9, "f32 %g", in->peak_flops_f32);
  cr_expect(in->peak_flops_bf16 > 1e9, "bf16 %g", in->peak_flops_bf16);
  cr_expect(in->mem_bandwidth > 1e8, "bw %g", in->mem_bandwidth);
  cr_expect(de->peak_flops_f32_1thread > 1e9, "1 thread %g", de->peak_flops_f32_1thread);
  cr_expect(in->cores == (int32_t)sysconf(_SC_NPROCESSORS_ONLN));
  double first_ms = qiao_hal_event_elapsed_ms(&t0, &t1);
  cr_log_info("host: f32 %.1f GFLOP/s (1 thread %.1f), bf16 %.1f, i8 %.1f GOP/s, triad %.1f "
              "GB/s, %s, measured in %.0f ms",
              in->peak_flops_f32 / 1e9, de->peak_flops_f32_1thread / 1e9,
              in->peak_flops_bf16 / 1e9, in->peak_ops_i8 / 1e9, in->mem_bandwidth / 1e9,
              de->arch, first_ms);
  /* no bound on first_ms: a wall-clock assert fails on a loaded machine, not on a bug */

  /* The cache file exists under $XDG_CACHE_HOME/qiao and is a valid profile. */
  char path[1024];
  snprintf(path, sizeof path, "%s", de->path);
  cr_expect(strncmp(path, g_cache, strlen(g_cache)) == 0, "cached at %s", path);
  cr_expect(strstr(path, "/qiao/host-cpu-") != NULL, "%s", path);
  qiao_hal_profile_t *q = NULL;
  cr_assert_null(qiao_hal_profile_load(path, &q));
  qiao_hal_profile_destroy(q);
  double bw = in->mem_bandwidth;
  qiao_hal_profile_destroy(p);

  /* Second call reads the cache: the same numbers (that it reads the file, not
   * measures again, is shown below with an edited cache, not with a timing). */
  st = qiao_hal_profile_host(&p);
  qiao_hal_event_record(d, &t2);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_float_eq(qiao_hal_profile_info(p)->mem_bandwidth, bw, 1e-3 * bw);
  cr_log_info("cached call took %.1f ms", qiao_hal_event_elapsed_ms(&t1, &t2));
  qiao_hal_profile_destroy(p);

  /* An edited cache is believed (proof that it is read)... */
  char cmd[2048];
  snprintf(cmd, sizeof cmd,
           "sed -i 's/\"bandwidth_gbps\": [0-9.e+-]*/\"bandwidth_gbps\": 12345.5/' '%s'", path);
  cr_assert_eq(system(cmd), 0);
  cr_assert_null(qiao_hal_profile_host(&p));
  cr_expect_float_eq(qiao_hal_profile_info(p)->mem_bandwidth, 12345.5e9, 1e3);
  qiao_hal_profile_destroy(p);

  /* ...and a corrupt one is ignored and rewritten. */
  FILE *f = fopen(path, "w");
  fputs("{ \"name\": ", f);
  fclose(f);
  st = qiao_hal_profile_host(&p);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect(qiao_hal_profile_info(p)->measured);
  cr_expect(qiao_hal_profile_info(p)->mem_bandwidth != 12345.5e9);
  qiao_hal_profile_destroy(p);
  cr_assert_null(qiao_hal_profile_load(path, &q), "rewritten cache is valid");
  qiao_hal_profile_destroy(q);
  qiao_hal_device_release(d);
}

Test(host_profile, override_by_env, .init = make_cache, .fini = remove_cache) {
  setenv("QIAO_HOST_PROFILE", PROFILE_DIR "/h100.json", 1);
  qiao_hal_profile_t *p = NULL;
  cr_assert_null(qiao_hal_profile_host(&p));
  cr_expect_str_eq(qiao_hal_profile_info(p)->name, "h100-sxm");
  qiao_hal_profile_destroy(p);
  setenv("QIAO_HOST_PROFILE", BAD_DIR "/missing_key.json", 1);
  qiao_status_t st = qiao_hal_profile_host(&p);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "missing key 'memory.bandwidth_gbps'") != NULL);
  qiao_status_free(st);
  unsetenv("QIAO_HOST_PROFILE");
}
