/* HAL: executables (formats, host code, shared libraries, binding sizes) and dispatch. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qiao/hal.h"

static qiao_hal_device_t *open_dev(const char *uri) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open(uri, &d);
  cr_assert_null(st, "%s", qiao_status_message(st));
  return d;
}

static void expect_error(qiao_status_t st, qiao_status_code_t code, const char *msg) {
  cr_assert_not_null(st, "expected an error containing '%s'", msg);
  cr_expect_eq(qiao_status_code(st), code, "code %d for '%s'", qiao_status_code(st),
               qiao_status_message(st));
  cr_expect(strstr(qiao_status_message(st), msg) != NULL, "message '%s' lacks '%s'",
            qiao_status_message(st), msg);
  qiao_status_free(st);
}

/* ------------------------------------------------------------ host kernels */

enum { SCRATCH = 256 };

/* bindings[0]: int64 out[gz][gy][gx]; constants: gx, gy, tag. Writes
 * tag + (x | y << 16 | z << 32); checks its scratch and flags problems in
 * bindings[1][0]. */
static void wg_kernel(void *const *bindings, const int64_t *constants, int64_t x, int64_t y,
                      int64_t z, void *scratch) {
  int64_t *out = bindings[0];
  _Atomic int64_t *flags = bindings[1];
  int64_t gx = constants[0], gy = constants[1];
  if (!scratch || (uintptr_t)scratch % 64)
    atomic_fetch_add(&flags[0], 1);
  else
    memset(scratch, (int)(x & 0xff), SCRATCH);
  out[(z * gy + y) * gx + x] = constants[2] + (x | y << 16 | z << 32);
}

static int64_t add3(int64_t a, int64_t b, int64_t c) { return a + b + c; }
static double scale(double a, float b) { return a * (double)b; }

static void release_counter(void *p) { atomic_fetch_add((_Atomic int *)p, 1); }

static qiao_hal_executable_t *host_exe(qiao_hal_device_t *d, _Atomic int *released) {
  qiao_hal_entry_record_t recs[] = {
      {"wg_ids", QIAO_HAL_CPU_ENTRY_SIGNATURE, 2, 3, SCRATCH, (void *)wg_kernel, NULL},
      {"add3", "llll", 0, 0, 0, (void *)add3, NULL},
      {"scale", "ddf", 0, 0, 0, (void *)scale, NULL},
  };
  /* The records are copied: pass a heap copy with heap strings and free it. */
  qiao_hal_entry_record_t *copy = malloc(sizeof recs);
  memcpy(copy, recs, sizeof recs);
  char *name = strdup("wg_ids");
  copy[0].name = name;
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = qiao_hal_executable_create_host(d, copy, 3, release_counter, released, &e);
  free(name);
  free(copy);
  cr_assert_null(st, "%s", qiao_status_message(st));
  return e;
}

static void run_grid(const char *uri, int64_t gx, int64_t gy, int64_t gz) {
  qiao_hal_device_t *d = open_dev(uri);
  _Atomic int released = 0;
  qiao_hal_executable_t *e = host_exe(d, &released);
  cr_assert_eq(qiao_hal_executable_entry_count(e), 3);
  int32_t index = -1;
  qiao_hal_entry_info_t info;
  cr_assert_null(qiao_hal_executable_lookup(e, "wg_ids", &index, &info));
  cr_expect_eq(index, 0);
  cr_expect_str_eq(info.signature, "vpplllp");
  cr_expect_eq(info.n_bindings, 2);
  cr_expect_eq(info.n_constants, 3);
  cr_expect_eq(info.scratch_bytes, SCRATCH);

  int64_t n = gx * gy * gz;
  size_t pad = 128; /* bind the output at an offset */
  qiao_hal_buffer_t *out = NULL, *flags = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, pad + (size_t)n * 8, &out));
  cr_assert_null(qiao_hal_buffer_alloc(d, 8, &flags));
  memset(qiao_hal_buffer_host_ptr(out), 0xAB, pad + (size_t)n * 8);
  memset(qiao_hal_buffer_host_ptr(flags), 0, 8);
  srand(99);
  int64_t tag = (int64_t)(rand() & 0x7fff) << 40;
  int64_t constants[3] = {gx, gy, tag};
  qiao_hal_binding_t b[2] = {{out, pad}, {flags, 0}};
  int64_t grid[3] = {gx, gy, gz};
  qiao_status_t st = qiao_hal_dispatch(d, e, index, grid, b, 2, constants, 3);
  cr_assert_null(st, "%s", qiao_status_message(st));

  int64_t *o = (int64_t *)((char *)qiao_hal_buffer_host_ptr(out) + pad);
  for (int64_t z = 0; z < gz; ++z)
    for (int64_t y = 0; y < gy; ++y)
      for (int64_t x = 0; x < gx; ++x)
        cr_assert_eq(o[(z * gy + y) * gx + x], tag + (x | y << 16 | z << 32),
                     "%s: wg (%lld,%lld,%lld)", uri, (long long)x, (long long)y, (long long)z);
  uint8_t *head = qiao_hal_buffer_host_ptr(out);
  for (size_t i = 0; i < pad; ++i)
    cr_assert_eq(head[i], 0xAB, "bytes before the offset kept");
  cr_expect_eq(*(int64_t *)qiao_hal_buffer_host_ptr(flags), 0, "scratch NULL or misaligned");

  qiao_hal_buffer_release(out);
  qiao_hal_buffer_release(flags);
  cr_expect_eq(atomic_load(&released), 0);
  qiao_hal_executable_release(e);
  cr_expect_eq(atomic_load(&released), 1, "release called once on destroy");
  qiao_hal_device_release(d);
}

Test(dispatch, host_kernel_3d_grid) {
  run_grid("cpu:threads=1", 5, 3, 2);
  run_grid("cpu:threads=2", 7, 4, 3);
  run_grid("cpu:threads=2", 1, 1, 1);
  run_grid("cpu:threads=4", 33, 17, 5);
  run_grid("cpu:threads=2", 1000, 1, 1);
  run_grid("cpu:threads=2", 1, 1, 300);
}

Test(dispatch, empty_grid_is_a_no_op) {
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  _Atomic int released = 0;
  qiao_hal_executable_t *e = host_exe(d, &released);
  qiao_hal_buffer_t *out = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 8, &out));
  memset(qiao_hal_buffer_host_ptr(out), 0xAB, 8);
  int64_t constants[3] = {0, 0, 0};
  qiao_hal_binding_t b[2] = {{out, 0}, {out, 0}};
  int64_t grid[3] = {4, 0, 2};
  cr_assert_null(qiao_hal_dispatch(d, e, 0, grid, b, 2, constants, 3));
  cr_expect_eq(((uint8_t *)qiao_hal_buffer_host_ptr(out))[0], 0xAB);
  qiao_hal_buffer_release(out);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(dispatch, validation_errors) {
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  _Atomic int released = 0;
  qiao_hal_executable_t *e = host_exe(d, &released);
  qiao_hal_buffer_t *out = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 64, &out));
  int64_t constants[3] = {1, 1, 0};
  qiao_hal_binding_t b[2] = {{out, 0}, {out, 0}};
  int64_t grid[3] = {1, 1, 1};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, b, 1, constants, 3), QIAO_INVALID_ARGUMENT,
               "dispatch of 'wg_ids': 1 bindings given, the entry takes 2");
  expect_error(qiao_hal_dispatch(d, e, 0, grid, b, 2, constants, 2), QIAO_INVALID_ARGUMENT,
               "dispatch of 'wg_ids': 2 constants given, the entry takes 3");
  expect_error(qiao_hal_dispatch(d, e, 7, grid, b, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "entry index 7 out of range");
  expect_error(qiao_hal_dispatch(d, e, 1, grid, NULL, 0, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'add3': signature 'llll' is not the dispatch signature 'vpplllp'");
  qiao_hal_binding_t past[2] = {{out, 65}, {out, 0}};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, past, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "binding 0 offset 65 is past the end of its buffer (64 bytes)");
  qiao_hal_binding_t nobuf[2] = {{out, 0}, {NULL, 0}};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, nobuf, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "binding 1 has no buffer");
  int64_t neg[3] = {1, -2, 1};
  expect_error(qiao_hal_dispatch(d, e, 0, neg, b, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "negative grid 1 x -2 x 1");
  int64_t huge[3] = {INT64_MAX / 2, 3, 1};
  expect_error(qiao_hal_dispatch(d, e, 0, huge, b, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "overflows");
  /* Host code is valid on every cpu device of the process. */
  qiao_hal_device_t *other = open_dev("cpu:threads=1");
  expect_error(qiao_hal_dispatch(other, e, 0, grid, b, 2, constants, 3), QIAO_INVALID_ARGUMENT,
               "binding 0 is a buffer of device 'cpu:threads=2', not 'cpu:threads=1'");
  qiao_hal_buffer_t *ob = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(other, 64, &ob));
  qiao_hal_binding_t obind[2] = {{ob, 0}, {ob, 0}};
  qiao_status_t ost = qiao_hal_dispatch(other, e, 0, grid, obind, 2, constants, 3);
  cr_expect_null(ost, "a cpu executable runs on another cpu device: %s", qiao_status_message(ost));
  qiao_status_free(ost);
  qiao_hal_buffer_release(ob);
  qiao_hal_device_release(other);
  expect_error(qiao_hal_executable_lookup(e, "nope", NULL, NULL), QIAO_NOT_FOUND,
               "executable '<host>' has no entry 'nope'");
  qiao_hal_buffer_release(out);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(executable, call_any_signature) {
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  _Atomic int released = 0;
  qiao_hal_executable_t *e = host_exe(d, &released);
  int64_t a = 1, b = 20, c = 300, r = 0;
  void *args[3] = {&a, &b, &c};
  cr_assert_null(qiao_hal_executable_call(e, 1, args, &r));
  cr_expect_eq(r, 321);
  double x = 1.5, dr = 0;
  float f = 4.0f;
  void *args2[2] = {&x, &f};
  cr_assert_null(qiao_hal_executable_call(e, 2, args2, &dr));
  cr_expect_eq(dr, 6.0);
  expect_error(qiao_hal_executable_call(e, 3, args, &r), QIAO_INVALID_ARGUMENT, "out of range");
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(executable, create_host_rejects_bad_records) {
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  qiao_hal_executable_t *e = NULL;
  qiao_hal_entry_record_t bad_sig[] = {
      {"ok", "vpplllp", 0, 0, 0, (void *)wg_kernel, NULL},
      {"k", "vpq", 0, 0, 0, (void *)wg_kernel, NULL},
  };
  expect_error(
      qiao_hal_executable_create_host(d, bad_sig, 2, NULL, NULL, &e), QIAO_INVALID_ARGUMENT,
      "executable '<host>': entry 'k': signature 'vpq' has unknown type 'q' at position 2");
  cr_expect_null(e);
  qiao_hal_entry_record_t void_arg[] = {{"k", "vpv", 0, 0, 0, (void *)wg_kernel, NULL}};
  expect_error(qiao_hal_executable_create_host(d, void_arg, 1, NULL, NULL, &e),
               QIAO_INVALID_ARGUMENT, "has misplaced type 'v' at position 2");
  qiao_hal_entry_record_t no_fn[] = {{"k", "v", 0, 0, 0, NULL, NULL}};
  expect_error(qiao_hal_executable_create_host(d, no_fn, 1, NULL, NULL, &e), QIAO_INVALID_ARGUMENT,
               "entry 'k' has a NULL function pointer");
  qiao_hal_entry_record_t dup[] = {{"k", "v", 0, 0, 0, (void *)add3, NULL},
                                   {"k", "v", 0, 0, 0, (void *)add3, NULL}};
  expect_error(qiao_hal_executable_create_host(d, dup, 2, NULL, NULL, &e), QIAO_INVALID_ARGUMENT,
               "entries 0 and 1 are both named 'k'");
  qiao_hal_entry_record_t no_sig[] = {{"k", NULL, 0, 0, 0, (void *)add3, NULL}};
  expect_error(qiao_hal_executable_create_host(d, no_sig, 1, NULL, NULL, &e), QIAO_INVALID_ARGUMENT,
               "entry 'k' has no signature");
  qiao_hal_device_release(d);
}

/* ---------------------------------------------------- shared-library artifacts */

static char g_tmpdir[256];

static void make_tmpdir(void) {
  snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/qiao-hal-test-XXXXXX");
  cr_assert_not_null(mkdtemp(g_tmpdir));
}

static void remove_tmpdir(void) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
  if (system(cmd) != 0) cr_log_warn("could not remove %s", g_tmpdir);
}

/* Compiles `source` into <tmp>/<name>.so and returns its path. */
static void build_so(const char *name, const char *source, char *out_path, size_t n) {
  char c_path[512], cmd[2048];
  snprintf(c_path, sizeof c_path, "%s/%s.c", g_tmpdir, name);
  snprintf(out_path, n, "%s/%s.so", g_tmpdir, name);
  FILE *f = fopen(c_path, "w");
  cr_assert_not_null(f);
  fputs(source, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cc -std=c17 -O2 -shared -fPIC -I'%s/include' -o '%s' '%s'",
           QIAO_SOURCE_DIR, out_path, c_path);
  cr_assert_eq(system(cmd), 0, "failed: %s", cmd);
}

static const char kSaxpySource[] =
    "#include <string.h>\n"
    "#include \"qiao/hal.h\"\n"
    "/* y[i] = a * x[i] + y[i] over 64-element workgroups; a = constants[0] as f32 bits,\n"
    " * n = constants[1]. */\n"
    "static void saxpy(void *const *b, const int64_t *c, int64_t x, int64_t y, int64_t z,\n"
    "                  void *scratch) {\n"
    "  const float *xs = b[0]; float *ys = b[1];\n"
    "  float a; int32_t bits = (int32_t)c[0]; memcpy(&a, &bits, 4);\n"
    "  for (int64_t i = x * 64; i < x * 64 + 64 && i < c[1]; ++i) ys[i] = a * xs[i] + ys[i];\n"
    "}\n"
    "static void other(void) {}\n"
    "const qiao_hal_entry_record_t qiao_executable_entries[] = {\n"
    "  {\"saxpy\", QIAO_HAL_CPU_ENTRY_SIGNATURE, 2, 2, 0, (void *)saxpy},\n"
    "  {\"other\", \"v\", 0, 0, 0, (void *)other},\n"
    "};\n"
    "const int32_t qiao_executable_entry_count = 2;\n";

Test(executable, load_file_and_dispatch, .init = make_tmpdir, .fini = remove_tmpdir) {
  char so[512];
  build_so("saxpy", kSaxpySource, so, sizeof so);
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = qiao_hal_executable_load_file(d, so, &e);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_assert_eq(qiao_hal_executable_entry_count(e), 2);
  int32_t index = -1;
  qiao_hal_entry_info_t info;
  cr_assert_null(qiao_hal_executable_lookup(e, "saxpy", &index, &info));
  cr_expect_eq(info.n_bindings, 2);
  cr_expect_eq(info.n_constants, 2);
  cr_assert_null(qiao_hal_executable_lookup(e, "other", NULL, NULL));

  enum { N = 1000 };
  srand(7);
  float xs[N], ys[N], expect[N], got[N];
  for (int i = 0; i < N; ++i) {
    xs[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
    ys[i] = (float)rand() / (float)RAND_MAX * 2 - 1;
  }
  float a = 1.75f;
  for (int i = 0; i < N; ++i)
    expect[i] = a * xs[i] + ys[i];
  qiao_hal_buffer_t *bx = NULL, *by = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, sizeof xs, &bx));
  cr_assert_null(qiao_hal_buffer_alloc(d, sizeof ys, &by));
  cr_assert_null(qiao_hal_buffer_write(bx, 0, xs, sizeof xs));
  cr_assert_null(qiao_hal_buffer_write(by, 0, ys, sizeof ys));
  int32_t abits;
  memcpy(&abits, &a, 4);
  int64_t constants[2] = {abits, N};
  qiao_hal_binding_t b[2] = {{bx, 0}, {by, 0}};
  int64_t grid[3] = {(N + 63) / 64, 1, 1};
  st = qiao_hal_dispatch(d, e, index, grid, b, 2, constants, 2);
  cr_assert_null(st, "%s", qiao_status_message(st));
  memset(got, 0xAB, sizeof got);
  cr_assert_null(qiao_hal_buffer_read(by, 0, got, sizeof got));
  for (int i = 0; i < N; ++i)
    cr_assert_float_eq(got[i], expect[i], 1e-5f * (1 + fabsf(expect[i])), "i=%d", i);
  qiao_hal_buffer_release(bx);
  qiao_hal_buffer_release(by);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

Test(executable, load_file_errors, .init = make_tmpdir, .fini = remove_tmpdir) {
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  qiao_hal_executable_t *e = NULL;
  char missing[512];
  snprintf(missing, sizeof missing, "%s/does-not-exist.so", g_tmpdir);
  qiao_status_t st = qiao_hal_executable_load_file(d, missing, &e);
  char msg[600];
  snprintf(msg, sizeof msg, "executable '%s': No such file or directory", missing);
  expect_error(st, QIAO_NOT_FOUND, msg);

  char so[512];
  build_so("notable", "int qiao_something(void) { return 1; }\n", so, sizeof so);
  snprintf(msg, sizeof msg, "executable '%s': missing symbol 'qiao_executable_entries'", so);
  expect_error(qiao_hal_executable_load_file(d, so, &e), QIAO_INVALID_ARGUMENT, msg);

  build_so("nocount",
           "#include \"qiao/hal.h\"\n"
           "const qiao_hal_entry_record_t qiao_executable_entries[1] = {{0}};\n",
           so, sizeof so);
  snprintf(msg, sizeof msg, "executable '%s': missing symbol 'qiao_executable_entry_count'", so);
  expect_error(qiao_hal_executable_load_file(d, so, &e), QIAO_INVALID_ARGUMENT, msg);

  build_so("badsig",
           "#include \"qiao/hal.h\"\n"
           "static void k(void) {}\n"
           "const qiao_hal_entry_record_t qiao_executable_entries[] = {\n"
           "  {\"k\", \"vpplllx\", 0, 0, 0, (void *)k}};\n"
           "const int32_t qiao_executable_entry_count = 1;\n",
           so, sizeof so);
  snprintf(msg, sizeof msg,
           "executable '%s': entry 'k': signature 'vpplllx' has unknown type 'x' at position 6",
           so);
  expect_error(qiao_hal_executable_load_file(d, so, &e), QIAO_INVALID_ARGUMENT, msg);

  /* Not a shared library at all. */
  char txt[512];
  snprintf(txt, sizeof txt, "%s/garbage.so", g_tmpdir);
  FILE *f = fopen(txt, "w");
  fputs("not an ELF file\n", f);
  fclose(f);
  snprintf(msg, sizeof msg, "executable '%s': cannot load: ", txt);
  expect_error(qiao_hal_executable_load_file(d, txt, &e), QIAO_INVALID_ARGUMENT, msg);
  cr_expect_null(e);
  qiao_hal_device_release(d);
}

/* ----------------------------------------------------- formats and the spec */

Test(executable, format_names) {
  cr_expect_str_eq(qiao_hal_executable_format_name(QIAO_HAL_FORMAT_HOST_LIBRARY), "host library");
  cr_expect_str_eq(qiao_hal_executable_format_name(QIAO_HAL_FORMAT_HOST_JIT), "host JIT");
  cr_expect_str_eq(qiao_hal_executable_format_name(QIAO_HAL_FORMAT_PTX), "PTX");
  cr_expect_str_eq(qiao_hal_executable_format_name(QIAO_HAL_FORMAT_SIM_MODULE), "simulator module");
  cr_expect_str_eq(qiao_hal_executable_format_name((qiao_hal_executable_format_t)9), "unknown");
}

Test(executable, cpu_rejects_device_formats) {
  qiao_hal_device_t *d = open_dev("cpu");
  qiao_hal_executable_t *e = NULL;
  static const char ptx[] = ".version 8.0\n.target sm_80\n";
  qiao_hal_entry_record_t meta[] = {{"k", "vp", 1, 0, 0, NULL, NULL}};
  _Atomic int released = 0;
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_PTX,
                                     .data = ptx,
                                     .size = sizeof ptx - 1,
                                     .records = meta,
                                     .n_records = 1,
                                     .release = release_counter,
                                     .release_ctx = &released};
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_UNSUPPORTED);
  cr_expect_str_eq(qiao_status_message(st), "device 'cpu' cannot load a PTX executable");
  qiao_status_free(st);
  cr_expect_null(e);
  spec.format = QIAO_HAL_FORMAT_SIM_MODULE;
  expect_error(qiao_hal_executable_create(d, &spec, &e), QIAO_UNSUPPORTED,
               "device 'cpu' cannot load a simulator module executable");
  cr_expect_eq(atomic_load(&released), 0, "release is not called on failure");
  /* the spec is checked for its format first */
  spec.data = NULL;
  expect_error(qiao_hal_executable_create(d, &spec, &e), QIAO_INVALID_ARGUMENT,
               "simulator module executable: no data");
  spec.format = (qiao_hal_executable_format_t)9;
  expect_error(qiao_hal_executable_create(d, &spec, &e), QIAO_INVALID_ARGUMENT,
               "executable: unknown format 9");
  expect_error(qiao_hal_executable_create(d, NULL, &e), QIAO_INVALID_ARGUMENT,
               "executable: spec is NULL");
  qiao_hal_executable_spec_t lib = {.format = QIAO_HAL_FORMAT_HOST_LIBRARY};
  expect_error(qiao_hal_executable_create(d, &lib, &e), QIAO_INVALID_ARGUMENT,
               "executable: empty path");
  qiao_hal_executable_spec_t jit = {.format = QIAO_HAL_FORMAT_HOST_JIT, .n_records = 2};
  expect_error(qiao_hal_executable_create(d, &jit, &e), QIAO_INVALID_ARGUMENT,
               "host executable: bad record list (n = 2)");
  cr_expect_null(e);
  qiao_hal_device_release(d);
}

/* ---------------------------------------------------------- binding sizes */

static void copy_kernel(void *const *bindings, const int64_t *constants, int64_t x, int64_t y,
                        int64_t z, void *scratch) {
  (void)constants, (void)y, (void)z, (void)scratch;
  const int32_t *src = bindings[0];
  int32_t *dst = bindings[1];
  for (int64_t i = x * 256; i < x * 256 + 256; ++i)
    dst[i] = src[i] + 1;
}

/* "k3" copies 1024 int32 (4096 bytes) from binding 0 to binding 1 in four
 * workgroups; both bindings need 4096 bytes. */
static qiao_hal_executable_t *sized_exe(qiao_hal_device_t *d, _Atomic int *released) {
  uint64_t *sizes = malloc(2 * sizeof(uint64_t));
  sizes[0] = 4096;
  sizes[1] = 4096;
  qiao_hal_entry_record_t recs[] = {
      {"k3", QIAO_HAL_CPU_ENTRY_SIGNATURE, 2, 0, 0, (void *)copy_kernel, sizes}};
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_HOST_JIT,
                                     .records = recs,
                                     .n_records = 1,
                                     .release = release_counter,
                                     .release_ctx = released};
  qiao_hal_executable_t *e = NULL;
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e);
  sizes[1] = 1; /* copied on create: later changes do not matter */
  free(sizes);
  cr_assert_null(st, "%s", qiao_status_message(st));
  return e;
}

Test(dispatch, binding_sizes_are_checked) {
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  _Atomic int released = 0;
  qiao_hal_executable_t *e = sized_exe(d, &released);
  qiao_hal_entry_info_t info;
  cr_assert(qiao_hal_executable_entry_info(e, 0, &info));
  cr_assert_not_null(info.binding_bytes);
  cr_expect_eq(info.binding_bytes[0], 4096);
  cr_expect_eq(info.binding_bytes[1], 4096);

  qiao_hal_buffer_t *src = NULL, *dst = NULL, *small = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 4096, &src));
  cr_assert_null(qiao_hal_buffer_alloc(d, 4096 + 64, &dst));
  cr_assert_null(qiao_hal_buffer_alloc(d, 2048, &small));
  int32_t in[1024], out[1024];
  for (int i = 0; i < 1024; ++i)
    in[i] = i * 3;
  cr_assert_null(qiao_hal_buffer_write(src, 0, in, sizeof in));
  int64_t grid[3] = {4, 1, 1};
  qiao_hal_binding_t under[2] = {{src, 0}, {small, 1024}};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, under, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k3': binding 1 needs 4096 bytes, buffer gives 1024 (size 2048, "
               "offset 1024)");
  qiao_hal_binding_t shifted[2] = {{src, 8}, {dst, 0}};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, shifted, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k3': binding 0 needs 4096 bytes, buffer gives 4088 (size 4096, "
               "offset 8)");
  /* exactly enough, and more than enough, are fine */
  qiao_hal_binding_t ok[2] = {{src, 0}, {dst, 64}};
  qiao_status_t st = qiao_hal_dispatch(d, e, 0, grid, ok, 2, NULL, 0);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_assert_null(qiao_hal_buffer_read(dst, 64, out, sizeof out));
  for (int i = 0; i < 1024; ++i)
    cr_assert_eq(out[i], i * 3 + 1, "i=%d", i);
  qiao_hal_buffer_release(src);
  qiao_hal_buffer_release(dst);
  qiao_hal_buffer_release(small);
  qiao_hal_executable_release(e);
  cr_expect_eq(atomic_load(&released), 1);
  qiao_hal_device_release(d);
}

/* ----------------------------------------------------------- launch config */

Test(dispatch, launch_config) {
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  _Atomic int released = 0;
  qiao_hal_executable_t *e = sized_exe(d, &released);
  qiao_hal_buffer_t *src = NULL, *dst = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 4096, &src));
  cr_assert_null(qiao_hal_buffer_alloc(d, 4096, &dst));
  cr_assert_null(qiao_hal_buffer_write(src, 0, (int32_t[1024]){0}, 4096));
  qiao_hal_binding_t b[2] = {{src, 0}, {dst, 0}};
  qiao_hal_launch_config_t cfg = {{4, 1, 1}, {1, 1, 1}, 0};
  qiao_status_t st = qiao_hal_dispatch_launch(d, e, 0, &cfg, b, 2, NULL, 0);
  cr_assert_null(st, "%s", qiao_status_message(st));
  int32_t last = -1;
  cr_assert_null(qiao_hal_buffer_read(dst, 4092, &last, 4));
  cr_expect_eq(last, 1);

  qiao_hal_launch_config_t zero = {{4, 1, 1}, {1, 0, 1}, 0};
  expect_error(qiao_hal_dispatch_launch(d, e, 0, &zero, b, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k3': block 1 x 0 x 1 has a dimension below 1");
  qiao_hal_launch_config_t neg = {{4, 1, 1}, {-3, 1, 1}, 0};
  expect_error(qiao_hal_dispatch_launch(d, e, 0, &neg, b, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "block -3 x 1 x 1 has a dimension below 1");
  expect_error(qiao_hal_dispatch_launch(d, e, 0, NULL, b, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k3': launch config is NULL");
  qiao_hal_launch_config_t simt = {{4, 1, 1}, {128, 1, 1}, 0};
  expect_error(qiao_hal_dispatch_launch(d, e, 0, &simt, b, 2, NULL, 0), QIAO_UNSUPPORTED,
               "dispatch of 'k3': device 'cpu:threads=2' runs one invocation per workgroup "
               "(block must be 1 x 1 x 1 and shared memory 0; got 128 x 1 x 1, 0 bytes)");
  qiao_hal_launch_config_t shared = {{4, 1, 1}, {1, 1, 1}, 1024};
  expect_error(qiao_hal_dispatch_launch(d, e, 0, &shared, b, 2, NULL, 0), QIAO_UNSUPPORTED,
               "got 1 x 1 x 1, 1024 bytes");
  /* an empty grid is checked, then does nothing */
  qiao_hal_launch_config_t empty = {{0, 1, 1}, {1, 1, 1}, 0};
  cr_expect_null(qiao_hal_dispatch_launch(d, e, 0, &empty, b, 2, NULL, 0));
  expect_error(qiao_hal_dispatch(d, e, 0, NULL, b, 2, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k3': grid is NULL");
  qiao_hal_buffer_release(src);
  qiao_hal_buffer_release(dst);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}

/* An AOT table in the final record layout, binding sizes included. */
static const char kSizedSource[] =
    "#include \"qiao/hal.h\"\n"
    "static void k(void *const *b, const int64_t *c, int64_t x, int64_t y, int64_t z, void *s) {\n"
    "  ((char *)b[0])[x] = 1;\n"
    "}\n"
    "static const uint64_t k_sizes[1] = {16};\n"
    "const qiao_hal_entry_record_t qiao_executable_entries[] = {\n"
    "  {\"k\", QIAO_HAL_CPU_ENTRY_SIGNATURE, 1, 0, 0, (void *)k, k_sizes}};\n"
    "const int32_t qiao_executable_entry_count = 1;\n";

Test(executable, load_file_binding_sizes, .init = make_tmpdir, .fini = remove_tmpdir) {
  char so[512];
  build_so("sized", kSizedSource, so, sizeof so);
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  qiao_hal_executable_t *e = NULL;
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_HOST_LIBRARY, .path = so};
  qiao_status_t st = qiao_hal_executable_create(d, &spec, &e);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_hal_entry_info_t info;
  cr_assert_null(qiao_hal_executable_lookup(e, "k", NULL, &info));
  cr_assert_not_null(info.binding_bytes);
  cr_expect_eq(info.binding_bytes[0], 16);
  qiao_hal_buffer_t *b8 = NULL, *b16 = NULL;
  cr_assert_null(qiao_hal_buffer_alloc(d, 8, &b8));
  cr_assert_null(qiao_hal_buffer_alloc(d, 16, &b16));
  int64_t grid[3] = {16, 1, 1};
  qiao_hal_binding_t small = {b8, 0}, ok = {b16, 0};
  expect_error(qiao_hal_dispatch(d, e, 0, grid, &small, 1, NULL, 0), QIAO_INVALID_ARGUMENT,
               "dispatch of 'k': binding 0 needs 16 bytes, buffer gives 8 (size 8, offset 0)");
  cr_expect_null(qiao_hal_dispatch(d, e, 0, grid, &ok, 1, NULL, 0));
  qiao_hal_buffer_release(b8);
  qiao_hal_buffer_release(b16);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
}
