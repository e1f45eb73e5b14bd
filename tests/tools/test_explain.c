/* qiao-run --explain and --emit-dir, run as processes: the per-kernel
 * explanation on simt-emu:h100 (modelled), ascend-sim:910b (simulated, the
 * simulator's report) and cpu (measured); the artifacts and launch records
 * --emit-dir writes (ptxas accepts the PTX when installed: a visible skip
 * otherwise); a bad directory is one clear line and leaves nothing behind. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qiao/backend_cuda.h"

#define RUN QIAO_BINARY_DIR "/qiao-run"
#define EX QIAO_SOURCE_DIR "/examples/"

static char g_dir[64];
static void mk_tmpdir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-explain-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static void rm_tmpdir(void) {
  DIR *d = opendir(g_dir);
  if (!d) return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
    remove(p);
  }
  closedir(d);
  rmdir(g_dir);
}

typedef struct {
  int rc;
  char out[1 << 16];
  char err[4096];
} result_t;

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  b[got] = 0;
  fclose(f);
  return b;
}

static void run(const char *cmd, result_t *r) {
  char errpath[128], full[2048];
  snprintf(errpath, sizeof errpath, "/tmp/qiao-explain-err-%d-%p", (int)getpid(), (void *)r);
  snprintf(full, sizeof full, "%s 2>%s", cmd, errpath);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t n = fread(r->out, 1, sizeof r->out - 1, p);
  r->out[n] = 0;
  int st = pclose(p);
  r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  char *e = slurp(errpath);
  snprintf(r->err, sizeof r->err, "%s", e ? e : "");
  free(e);
  remove(errpath);
}

static void expect_all(const char *text, const char *const *parts, int n) {
  for (int i = 0; i < n; ++i)
    cr_expect(strstr(text, parts[i]) != NULL, "missing '%s' in:\n%s", parts[i], text);
}

/* An f16 matmul and an f32 exp: kernels the Ascend-class backend lowers
 * (examples/mlp.qir's f32 matmuls are not lowered for that class yet). */
static const char *k_ascend_graph =
    "graph @g(%a: f16[64, 64], %b: f16[64, 64], %x: f32[4096]) -> (f16[64, 64], f32[4096]) {\n"
    "  %c = matmul %a, %b : f16[64, 64]\n"
    "  %y = exp %x : f32[4096]\n"
    "  return %c, %y\n"
    "}\n";

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

Test(qiao_run_explain, simt_emu_h100_is_modelled) {
  result_t r;
  run(RUN " " EX "mlp.qir --device simt-emu:h100 --explain", &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *parts[] = {"explain simt-emu:h100: 3 kernels",
                         "kernel k0: matmul (matmul %",
                         "grid ",
                         "block 256 x 1 x 1",
                         "registers ",
                         "occupancy ",
                         "FLOPs",
                         "bytes",
                         "predicted: ",
                         "(modelled, h100-sxm), bound by ",
                         "run: ",
                         "(modelled, model of h100-sxm), host wall",
                         "thread-instructions",
                         "total: predicted ",
                         "; run ",
                         "output 0 %y"};
  expect_all(r.out, parts, sizeof parts / sizeof parts[0]);
  cr_expect_null(strstr(r.out, "measured"), "%s", r.out);
  char ptxas[1024];
  if (qiao_cuda_find_ptxas(ptxas, sizeof ptxas))
    cr_expect(strstr(r.out, "(ptxas -v sm_90)"), "%s", r.out);
  else
    cr_expect(strstr(r.out, "assumed (no ptxas)"), "%s", r.out);
}

Test(qiao_run_explain, ascend_sim_910b_is_simulated, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char path[256], cmd[512];
  snprintf(path, sizeof path, "%s/g.qir", g_dir);
  write_file(path, k_ascend_graph);
  snprintf(cmd, sizeof cmd, RUN " %s --device ascend-sim:910b --explain", path);
  result_t r;
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *parts[] = {"explain ascend-sim:910b: 2 kernels",
                         "kernel k0: matmul (matmul %c)",
                         "kernel k1: elementwise (exp %y)",
                         "FLOPs",
                         "(simulated, model of ascend-910b)",
                         "bound by",
                         "cube util",
                         "total: run ",
                         "vector util",
                         "GM->L1"};
  expect_all(r.out, parts, sizeof parts / sizeof parts[0]);
  cr_expect_null(strstr(r.out, "modelled"), "%s", r.out);
}

Test(qiao_run_explain, cpu_is_measured) {
  result_t r;
  run(RUN " " EX "mlp.qir --device cpu:threads=1 --explain", &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *parts[] = {"explain cpu:threads=1: 3 kernels", "kernel k0: matmul", "FLOPs",
                         "(measured, on this host)"};
  expect_all(r.out, parts, sizeof parts / sizeof parts[0]);
  cr_expect_null(strstr(r.out, "modelled"), "%s", r.out);
  cr_expect_null(strstr(r.out, "simulated"), "%s", r.out);
}

Test(qiao_run_explain, needs_a_hal_device) {
  result_t r;
  run(RUN " " EX "mlp.qir --explain", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "--explain needs a HAL device"), "%s", r.err);
}

static bool exists(const char *dir, const char *name) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat sb;
  return stat(p, &sb) == 0 && sb.st_size > 0;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) ++n;
  closedir(d);
  return n;
}

Test(qiao_run_emit_dir, simt_emu_writes_ptx_llvm_and_launch_records, .init = mk_tmpdir,
     .fini = rm_tmpdir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --device simt-emu:h100 --emit-dir %s", g_dir);
  result_t r;
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_expect(strstr(r.err, "wrote the artifacts and launch records of 3 kernels"), "%s", r.err);
  cr_expect_eq(count_entries(g_dir), 9, "3 kernels x (ptx, ll, launch.json), nothing else");
  const char *kernels[] = {"k0", "k1", "k2"};
  char ptxas[1024];
  bool have_ptxas = qiao_cuda_find_ptxas(ptxas, sizeof ptxas);
  if (!have_ptxas) fprintf(stderr, "qiao_run_emit_dir: ptxas check skipped: no ptxas\n");
  for (int k = 0; k < 3; ++k) {
    char n[64], p[512];
    snprintf(n, sizeof n, "%s.ptx", kernels[k]);
    cr_expect(exists(g_dir, n), "%s", n);
    snprintf(n, sizeof n, "%s.ll", kernels[k]);
    cr_expect(exists(g_dir, n), "%s", n);
    snprintf(p, sizeof p, "%s/%s.launch.json", g_dir, kernels[k]);
    char *json = slurp(p);
    cr_assert_not_null(json, "%s", p);
    char want[64];
    snprintf(want, sizeof want, "\"kernel\": \"%s\"", kernels[k]);
    const char *parts[] = {want,
                           "\"grid\": [",
                           "\"block\": [256, 1, 1]",
                           "\"shared_bytes\": ",
                           "\"bindings\": [",
                           "\"role\": \"input\"",
                           "\"role\": \"output\"",
                           "\"bytes\": ",
                           "\"device\": \"simt-emu:h100\""};
    expect_all(json, parts, sizeof parts / sizeof parts[0]);
    free(json);
    if (have_ptxas) {
      char c[1400];
      snprintf(c, sizeof c, "'%s' -arch=sm_90 -o /dev/null '%s/%s.ptx'", ptxas, g_dir, kernels[k]);
      result_t pr;
      run(c, &pr);
      cr_expect_eq(pr.rc, 0, "ptxas rejects %s.ptx: %s", kernels[k], pr.err);
    }
  }
}

Test(qiao_run_emit_dir, ascend_sim_writes_listings, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char path[256], out[256], cmd[768];
  snprintf(path, sizeof path, "%s/g.qir", g_dir);
  write_file(path, k_ascend_graph);
  snprintf(out, sizeof out, "%s/out", g_dir);
  cr_assert_eq(mkdir(out, 0755), 0);
  snprintf(cmd, sizeof cmd, RUN " %s --device ascend-sim:910b --emit-dir %s", path, out);
  result_t r;
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_expect(exists(out, "k0.listing") && exists(out, "k0.ll") && exists(out, "k0.launch.json"));
  cr_expect(exists(out, "k1.listing") && exists(out, "k1.ll") && exists(out, "k1.launch.json"));
  cr_expect(!exists(out, "k0.ptx"));
  cr_expect_eq(count_entries(out), 6);
  char lj[300];
  snprintf(lj, sizeof lj, "%s/k0.launch.json", out);
  char *json = slurp(lj);
  cr_assert_not_null(json);
  cr_expect(strstr(json, "\"files\": [\"k0.ll\", \"k0.listing\"]"), "%s", json);
  free(json);
  DIR *d = opendir(out);
  struct dirent *e;
  char p[600];
  while (d && (e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    snprintf(p, sizeof p, "%s/%s", out, e->d_name);
    remove(p);
  }
  if (d) closedir(d);
  rmdir(out);
}

Test(qiao_run_emit_dir, bad_dir_is_one_clear_line_and_no_files, .init = mk_tmpdir,
     .fini = rm_tmpdir) {
  char cmd[512], missing[256], file[256];
  snprintf(missing, sizeof missing, "%s/missing", g_dir);
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --device simt-emu:h100 --emit-dir %s", missing);
  result_t r;
  run(cmd, &r);
  cr_expect_eq(r.rc, 1, "%s", r.err);
  cr_expect(strstr(r.err, "emit dir '") && strstr(r.err, "missing': No such file or directory"),
            "%s", r.err);
  cr_expect_eq(count_entries(g_dir), 0, "nothing written");
  cr_expect_str_eq(r.out, "", "no outputs printed after the error");
  /* a file, not a directory */
  snprintf(file, sizeof file, "%s/plain", g_dir);
  write_file(file, "x");
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --device cpu --emit-dir %s", file);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1, "%s", r.err);
  cr_expect(strstr(r.err, "plain': not a directory"), "%s", r.err);
  cr_expect_eq(count_entries(g_dir), 1, "only the plain file");
  /* with --device ref and with two graphs */
  run(RUN " " EX "mlp.qir --emit-dir /tmp", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "--emit-dir needs a HAL device"), "%s", r.err);
  run(RUN " " EX "mlp.qir " EX "mlp.qir --device cpu --emit-dir /tmp", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "--emit-dir takes one graph"), "%s", r.err);
}

/* --bench on simt-emu: the median of the modelled times, with the profile and the host wall time */
Test(qiao_run_explain, bench_on_simt_emu_is_modelled) {
  result_t r;
  run(RUN " " EX "mlp.qir --device simt-emu:h100 --bench 2", &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *parts[] = {"bench simt-emu:h100: 2 runs, median ", "modelled (model of h100-sxm)",
                         "host wall median "};
  expect_all(r.out, parts, sizeof parts / sizeof parts[0]);
}

/* A failure after some files were written (k1.ptx cannot replace a directory
 * of that name) removes every file of the run: no partial output. */
Test(qiao_run_emit_dir, failure_midway_leaves_no_partial_files, .init = mk_tmpdir,
     .fini = rm_tmpdir) {
  char blocker[256], cmd[512];
  snprintf(blocker, sizeof blocker, "%s/k1.ptx", g_dir);
  cr_assert_eq(mkdir(blocker, 0755), 0);
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --device simt-emu:h100 --emit-dir %s", g_dir);
  result_t r;
  run(cmd, &r);
  cr_expect_neq(r.rc, 0, "%s", r.err);
  cr_expect(strstr(r.err, "cannot rename"), "%s", r.err);
  cr_expect_eq(count_entries(g_dir), 1, "only the blocking directory is left");
  rmdir(blocker);
}
