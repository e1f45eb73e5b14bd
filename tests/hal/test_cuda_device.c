/* The cuda:N device (hal/cuda/cuda_device.c). Without libcuda.so.1 (CI, this
 * project's build machines) opening it fails with exactly "cuda: no CUDA driver
 * found (libcuda.so.1)" and the GPU parts print a visible "[SKIPPED] no CUDA
 * driver" line; with a driver and a GPU the same tests run a real dispatch of the
 * nvcc warp_reduce kernel, events and the PTX JIT's error log. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qiao/hal.h"
#include "support/oracle.h"

#define OK(expr)                                                                                   \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert_null(st_, "%s: %s", #expr, st_ ? qiao_status_message(st_) : "");                     \
  } while (0)

static bool have_driver(void) {
  void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (h) dlclose(h);
  return h != NULL;
}

/* Opens cuda:0, or checks why it cannot be opened and returns NULL (visibly). */
static qiao_hal_device_t *open_or_explain(const char *test) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open("cuda:0", &d);
  if (!st) return d;
  cr_expect_null(d);
  if (!have_driver()) {
    cr_expect_eq(qiao_status_code(st), QIAO_UNAVAILABLE);
    cr_expect_str_eq(qiao_status_message(st), "cuda: no CUDA driver found (libcuda.so.1)");
    fprintf(stderr,
            "[SKIPPED] no CUDA driver: cuda.%s: the no-driver error was checked, no GPU "
            "dispatch ran\n",
            test);
  } else { /* a driver without a usable GPU: the driver's error, named */
    cr_expect(strncmp(qiao_status_message(st), "cuda", 4) == 0, "%s", qiao_status_message(st));
    fprintf(stderr, "[SKIPPED] no CUDA device: cuda.%s: %s\n", test, qiao_status_message(st));
  }
  qiao_status_free(st);
  return NULL;
}

Test(cuda, no_driver_message_or_open) {
  qiao_hal_device_t *d = open_or_explain("open");
  if (!d) {
    /* options are valid: the same message */
    qiao_hal_device_t *d2 = NULL;
    qiao_status_t st = qiao_hal_device_open("cuda:1,profile=h100", &d2);
    cr_assert_not_null(st);
    if (!have_driver())
      cr_expect_str_eq(qiao_status_message(st), "cuda: no CUDA driver found (libcuda.so.1)");
    qiao_status_free(st);
    return;
  }
  cr_expect_str_eq(qiao_hal_device_driver(d), "cuda");
  cr_expect_eq(qiao_hal_device_class(d), QIAO_HAL_CLASS_CUDA);
  const qiao_hal_profile_t *p = NULL;
  qiao_status_t st = qiao_hal_device_profile(d, &p);
  if (st) { /* a GPU without a shipped profile says how to name one */
    cr_expect(strstr(qiao_status_message(st), "profile=") != NULL, "%s", qiao_status_message(st));
    qiao_status_free(st);
  }
  qiao_hal_device_release(d);
}

static char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)len + 1);
  cr_assert_eq(fread(s, 1, (size_t)len, f), (size_t)len);
  s[len] = 0;
  fclose(f);
  *n = (size_t)len;
  return s;
}

/* warp_reduce (nvcc, sm_80 PTX: runs on every GPU from sm_80 on) through the generic
 * dispatch: bindings x, out; constant n. Releases d. */
static void dispatch_warp_reduce(qiao_hal_device_t *d) {
  size_t n = 0;
  char *ptx = slurp(QIAO_SOURCE_DIR "/tests/data/ptx/warp_reduce.sm80.ptx", &n);
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX, .data = ptx, .size = n};
  qiao_hal_executable_t *e = NULL;
  OK(qiao_hal_executable_create(d, &spec, &e));
  free(ptx);
  int32_t idx = -1;
  qiao_hal_entry_info_t info;
  OK(qiao_hal_executable_lookup(e, "warp_reduce", &idx, &info));
  cr_expect_str_eq(info.signature, "vppi");
  enum { N = 100000 };
  static float x[N];
  double ref = 0;
  uint64_t s = 3;
  for (int i = 0; i < N; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    ref += x[i] = (float)((s >> 33) % 2001) / 1000.0f - 1.0f;
  }
  qiao_hal_buffer_t *bx = NULL, *bo = NULL;
  OK(qiao_hal_buffer_alloc(d, sizeof x, &bx));
  OK(qiao_hal_buffer_alloc(d, 4, &bo));
  OK(qiao_hal_buffer_write(bx, 0, x, sizeof x));
  float out = -1;
  OK(qiao_hal_buffer_read(bo, 0, &out, 4));
  cr_expect_eq(out, 0.0f, "new buffers are zeroed");
  qiao_hal_binding_t b[2] = {{bx, 0}, {bo, 0}};
  int64_t k[1] = {N};
  qiao_hal_launch_config_t cfg = {{(N + 255) / 256, 1, 1}, {256, 1, 1}, 0};
  qiao_hal_event_t t0, t1;
  OK(qiao_hal_event_record(d, &t0));
  OK(qiao_hal_dispatch_launch(d, e, idx, &cfg, b, 2, k, 1));
  OK(qiao_hal_event_record(d, &t1));
  cr_expect_eq(t1.kind, QIAO_HAL_TIME_MEASURED);
  cr_expect(qiao_hal_event_elapsed_ms(&t0, &t1) >= 0);
  OK(qiao_hal_buffer_read(bo, 0, &out, 4));
  cr_expect(fabs(out - ref) < 1e-2, "%f vs %f", out, ref);
  /* device-to-device copy, then a read at an offset */
  qiao_hal_buffer_t *by = NULL;
  OK(qiao_hal_buffer_alloc(d, sizeof x, &by));
  OK(qiao_hal_buffer_copy(bx, 4 * 10, by, 0, 4 * 100));
  float back[3];
  OK(qiao_hal_buffer_read(by, 4 * 5, back, sizeof back));
  cr_expect(back[0] == x[15] && back[2] == x[17], "copy/read at offsets");
  qiao_hal_buffer_release(by);
  qiao_hal_buffer_release(bx);
  qiao_hal_buffer_release(bo);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(cuda, dispatch_warp_reduce) {
  qiao_hal_device_t *d = open_or_explain("dispatch_warp_reduce");
  if (d) dispatch_warp_reduce(d);
}

/* PTX our reader accepts but the driver's JIT rejects (a 32-bit move into a 64-bit
 * register): the JIT's error log is in the status. */
static void jit_error_log(qiao_hal_device_t *d) {
  const char *ptx = "// FAKE_JIT_REJECT (the fake driver refuses this module; a real JIT the mov)\n"
                    ".version 7.0\n.target sm_80\n.address_size 64\n"
                    ".visible .entry bad(.param .u64 p)\n{\n.reg .b64 %rd<2>;\n.reg .b32 %r<2>;\n"
                    "mov.u32 %rd1, %r1;\nret;\n}\n";
  qiao_hal_executable_spec_t spec = {
      .format = QIAO_HAL_FORMAT_PTX, .data = ptx, .size = strlen(ptx)};
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e);
  cr_assert_not_null(st, "the JIT should refuse the module");
  cr_expect(strstr(qiao_status_message(st), "cuModuleLoadDataEx") != NULL, "%s",
            qiao_status_message(st));
  cr_expect(strstr(qiao_status_message(st), "PTX JIT log") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  qiao_hal_device_release(d);
}

Test(cuda, jit_error_log_surfaced) {
  qiao_hal_device_t *d = open_or_explain("jit_error_log_surfaced");
  if (d) jit_error_log(d);
}

/* ------------------------------------------------------------------ fake driver
 * tests/hal/fake_libcuda.c implements the driver API over simt-emu:h100: with it the
 * device's own code (entry points, context push/pop, buffers, parameter marshalling,
 * launch, events, the JIT log) runs here. */
#define FAKE_URI "cuda:0,driver=" QIAO_FAKE_LIBCUDA

static qiao_hal_device_t *open_fake(void) {
  qiao_hal_device_t *d = NULL;
  OK(qiao_hal_device_open(FAKE_URI, &d));
  return d;
}

Test(cuda_fake, open_profile_dispatch_copy_events) {
  qiao_hal_device_t *d = open_fake();
  cr_expect_str_eq(qiao_hal_device_driver(d), "cuda");
  const qiao_hal_profile_t *p = NULL;
  OK(qiao_hal_device_profile(d, &p)); /* "Fake NVIDIA H100": the h100 profile */
  cr_expect_str_eq(qiao_hal_profile_info(p)->name, "h100-sxm");
  dispatch_warp_reduce(d);
}

Test(cuda_fake, jit_error_log_in_status) { jit_error_log(open_fake()); }

Test(cuda_fake, driver_errors_named) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open("cuda:1,driver=" QIAO_FAKE_LIBCUDA, &d);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(st), "1 CUDA device(s) present (cuda:0..0)") != NULL, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  st = qiao_hal_device_open("cuda:0,driver=/nonexistent/libcuda.so.1", &d);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "cuda: cannot load the driver '/nonexistent/") != NULL,
            "%s", qiao_status_message(st));
  qiao_status_free(st);
  /* a kernel fault: the launch's error names the entry and the driver's error */
  d = open_fake();
  size_t n = 0;
  char *ptx = slurp(QIAO_SOURCE_DIR "/tests/data/ptx/warp_reduce.sm80.ptx", &n);
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX, .data = ptx, .size = n};
  qiao_hal_executable_t *e = NULL;
  OK(qiao_hal_executable_create(d, &spec, &e));
  free(ptx);
  qiao_hal_buffer_t *bx = NULL, *bo = NULL;
  OK(qiao_hal_buffer_alloc(d, 16, &bx));
  OK(qiao_hal_buffer_alloc(d, 4, &bo));
  qiao_hal_binding_t b[2] = {{bx, 0}, {bo, 0}};
  int64_t k[1] = {1000}; /* reads past the 4 floats of x */
  qiao_hal_launch_config_t cfg = {{4, 1, 1}, {256, 1, 1}, 0};
  st = qiao_hal_dispatch_launch(d, e, 0, &cfg, b, 2, k, 1);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "CUDA_ERROR_LAUNCH_FAILED") != NULL, "%s",
            qiao_status_message(st));
  cr_expect(strstr(qiao_status_message(st), "warp_reduce") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  qiao_hal_buffer_release(bx);
  qiao_hal_buffer_release(bo);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* The runtime on cuda:0 (the CUDA-class backend's PTX through the cuda device) against
 * the reference interpreter, as a conformance row would. */
Test(cuda_fake, runtime_graphs_match_interpreter) {
  static const char *const graphs[] = {
      "graph @t(%a: f32[3, 17], %b: f32[17]) -> (f32[3, 17]) {\n%y = add %a, %b\nreturn %y\n}\n",
      "graph @t(%x: f32[5, 40]) -> (f32[5, 40]) {\n%y = softmax %x\nreturn %y\n}\n",
      "graph @t(%a: f16[32, 48], %b: f16[48, 40]) -> (f16[32, 40]) {\n%y = matmul %a, %b\nreturn "
      "%y\n}\n",
      "graph @t(%a: f32[19, 33], %b: f32[33, 21]) -> (f32[19, 21]) {\n%y = matmul %a, %b\nreturn "
      "%y\n}\n",
  };
  for (size_t i = 0; i < sizeof graphs / sizeof *graphs; ++i) {
    qiao_graph_t *g = NULL;
    OK(qiao_ir_parse(graphs[i], strlen(graphs[i]), "fake", &g));
    oracle_result_t r;
    bool ok = oracle_run(g, FAKE_URI, 11 + i, &r);
    if (ORACLE_DEVICE_OK(ok, r, "fake cuda graph", FAKE_URI))
      ORACLE_EXPECT_OK(r, "graph %zu on the fake cuda:0", i);
    qiao_ir_graph_destroy(g);
  }
}
