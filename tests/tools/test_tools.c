/* The command-line tools, run as processes: qiao-run on every example (with
 * its committed weights and with --random), its user errors and exit codes,
 * and qiao-gen-weights (deterministic, reproduces the committed weights,
 * value ranges by role). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qiao/ir.h"

#define RUN QIAO_BINARY_DIR "/qiao-run"
#define GEN QIAO_BINARY_DIR "/qiao-gen-weights"
#define EX QIAO_SOURCE_DIR "/examples/"

static char g_dir[64];
static void mk_tmpdir(void) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-tools-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
}
static void rm_tmpdir(void) {
  DIR *d = opendir(g_dir);
  if (!d)
    return;
  struct dirent *e;
  char p[512];
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
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

static char *slurp(const char *path, size_t *out_len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *b = malloc((size_t)n + 1);
  size_t got = fread(b, 1, (size_t)n, f);
  b[got] = 0;
  fclose(f);
  if (out_len)
    *out_len = got;
  return b;
}

/* Runs `cmd` (a shell command line); stdout and stderr are captured apart. */
static void run(const char *cmd, result_t *r) {
  char errpath[128], full[2048];
  snprintf(errpath, sizeof errpath, "/tmp/qiao-tools-err-%d-%p", (int)getpid(), (void *)r);
  snprintf(full, sizeof full, "%s 2>%s", cmd, errpath);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t n = fread(r->out, 1, sizeof r->out - 1, p);
  r->out[n] = 0;
  int st = pclose(p);
  r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  char *e = slurp(errpath, NULL);
  snprintf(r->err, sizeof r->err, "%s", e ? e : "");
  free(e);
  remove(errpath);
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; ++s)
    n += *s == '\n';
  return n;
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* ------------------------------------------------------------- qiao-run */

/* `want` is the checksum of an independent pure-Python implementation of the
 * example (f64 math, f32 rounding per op) on the same seeded inputs and the
 * committed weights: 7.071109648, 256.1097252, 128.6573629. */
static void expect_example(const char *name, const char *line0, double want) {
  static result_t r;
  char cmd[512];
  snprintf(cmd, sizeof cmd, RUN " " EX "%s.qir --device ref --weights " EX "%s.safetensors", name,
           name);
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s: rc=%d stderr=%s", name, r.rc, r.err);
  cr_expect(strncmp(r.out, line0, strlen(line0)) == 0, "%s: got '%s', want prefix '%s'", name,
            r.out, line0);
  cr_expect_eq(count_lines(r.out), 1, "%s", r.out);
  double cs = 0;
  const char *c = strstr(r.out, "checksum=");
  cr_assert_not_null(c);
  cs = strtod(c + 9, NULL);
  cr_expect(fabs(cs - want) <= 1e-5 * fabs(want), "%s: checksum %.9g, reference %.9g", name, cs,
            want);
}

Test(qiao_run, example_mlp) {
  expect_example("mlp", "output 0 %y: f32[4, 64] checksum=", 7.071109648240363);
}
Test(qiao_run, example_llama_block) {
  expect_example("llama_block", "output 0 %y: f32[8, 64] checksum=", 256.1097252148674);
}
Test(qiao_run, example_moe_block) {
  expect_example("moe_block", "output 0 %y: f32[8, 32] checksum=", 128.6573628532825);
}

Test(qiao_run, deterministic_and_seeded) {
  static result_t a, b, c, d;
  run(RUN " " EX "llama_block.qir --device ref --weights " EX "llama_block.safetensors", &a);
  run(RUN " " EX "llama_block.qir --weights " EX "llama_block.safetensors --seed 1", &b);
  run(RUN " " EX "llama_block.qir --weights " EX "llama_block.safetensors --seed 7", &c);
  /* --random without weights fills params with qiao-gen-weights' rule and seed */
  run(RUN " " EX "llama_block.qir --random", &d);
  cr_assert_eq(a.rc + b.rc + c.rc + d.rc, 0, "%s%s%s%s", a.err, b.err, c.err, d.err);
  cr_expect_str_eq(a.out, b.out, "default seed is 1");
  cr_expect_str_neq(a.out, c.out, "seed changes the inputs");
  cr_expect_str_eq(a.out, d.out, "--random reproduces the generated weights");
}

Test(qiao_run, print_values) {
  static result_t r;
  run(RUN " " EX "mlp.qir --weights " EX "mlp.safetensors --print", &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_expect_eq(count_lines(r.out), 1 + 4, "one header line and 4 rows:\n%s", r.out);
  const char *row = strchr(r.out, '\n') + 1;
  int vals = 0;
  char *end;
  const char *p = row;
  for (;;) {
    double v = strtod(p, &end);
    if (end == p)
      break;
    cr_expect(isfinite(v));
    ++vals;
    p = end;
    if (*p == '\n')
      break;
  }
  cr_expect_eq(vals, 64);
}

Test(qiao_run, unknown_device) {
  static result_t r;
  run(RUN " " EX "mlp.qir --device cuda:x --weights " EX "mlp.safetensors", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect_str_eq(r.err,
                   "qiao-run: device URI 'cuda:x': expected cuda:N with N a device ordinal\n");
  cr_expect_str_empty(r.out);
  run(RUN " " EX "mlp.qir --device tpu", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect_str_eq(r.err, "qiao-run: unknown device URI 'tpu' (known: cpu, cpu:threads=N)\n");
}

Test(qiao_run, missing_param_names_file_position_and_param, .init = mk_tmpdir, .fini = rm_tmpdir) {
  static result_t r;
  /* a copy of the graph with no mlp.safetensors beside it */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "cp " EX "mlp.qir %s/mlp.qir", g_dir);
  cr_assert_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd, RUN " %s/mlp.qir --device ref", g_dir);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "/mlp.qir:4:9: param \"mlp.gate\" (f32[64, 172]) is not bound"),
            "%s", r.err);
  cr_expect(strstr(r.err, "--random"), "%s", r.err);
  cr_expect_eq(count_lines(r.err), 1);
  /* a weights file that lacks the param */
  run(RUN " " EX "mlp.qir --weights " EX "moe_block.safetensors", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "moe_block.safetensors has no tensor of that name"), "%s", r.err);
}

Test(qiao_run, weight_type_mismatch, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char w[128], cmd[512];
  snprintf(w, sizeof w, "%s/w.safetensors", g_dir);
  qiao_tensor_t *t;
  cr_assert_null(qiao_tensor_create((qiao_type_t){QIAO_BF16, {2, {64, 172}}}, &t));
  uint64_t rng = 3;
  qiao_tensor_fill_random(t, &rng, -1, 1);
  const char *names[] = {"mlp.gate"};
  const qiao_tensor_t *ts[] = {t};
  cr_assert_null(qiao_safetensors_write(w, names, ts, 1));
  qiao_tensor_destroy(t);
  static result_t r;
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --weights %s --random", w);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "mlp.qir:4:9: param \"mlp.gate\" is f32[64, 172] but"), "%s", r.err);
  cr_expect(strstr(r.err, "holds bf16[64, 172]"), "%s", r.err);
}

Test(qiao_run, corrupt_weights_file, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char w[128], cmd[512];
  snprintf(w, sizeof w, "%s/bad.safetensors", g_dir);
  FILE *f = fopen(w, "wb");
  const unsigned char bytes[] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '"', 'a', '}'};
  fwrite(bytes, 1, sizeof bytes, f);
  fclose(f);
  static result_t r;
  snprintf(cmd, sizeof cmd, RUN " " EX "mlp.qir --weights %s", w);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strncmp(r.err, w, strlen(w)) == 0, "%s", r.err);
  cr_expect(strstr(r.err, "invalid JSON header"), "%s", r.err);
  cr_expect_eq(count_lines(r.err), 1);
  run(RUN " " EX "mlp.qir --weights /nonexistent.safetensors", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "/nonexistent.safetensors: cannot open"), "%s", r.err);
}

Test(qiao_run, bad_graph_file_gives_one_positioned_line, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char q[128], cmd[512];
  snprintf(q, sizeof q, "%s/bad.qir", g_dir);
  write_text(q, "graph @g(%x: f32[4]) -> (f32[4]) {\n"
                "  %y = frobnicate %x\n"
                "  return %y\n"
                "}\n");
  static result_t r;
  snprintf(cmd, sizeof cmd, RUN " %s --device ref", q);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1);
  char want[160];
  snprintf(want, sizeof want, "%s:2:", q);
  cr_expect(strncmp(r.err, want, strlen(want)) == 0, "want '%s...', got %s", want, r.err);
  cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
  cr_expect_str_empty(r.out);
  run(RUN " /nonexistent/x.qir", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "/nonexistent/x.qir"), "%s", r.err);
}

Test(qiao_run, integer_inputs_follow_the_documented_rule, .init = mk_tmpdir, .fini = rm_tmpdir) {
  /* gather indices in [0, 10) and positions as arange: the identity graph
   * returns them, so --print shows them */
  char q[128], cmd[512];
  snprintf(q, sizeof q, "%s/ints.qir", g_dir);
  write_text(
      q, "graph @g(%ids: i32[2, 6], %pos: i32[2, 5]) -> (f32[2, 6, 3], i32[2, 5], i32[2, 6]) {\n"
         "  %t = param \"emb\" : f32[10, 3]\n"
         "  %y = gather %t, %ids\n"
         "  %p = add %pos, %pos\n"
         "  %i = add %ids, %ids\n"
         "  return %y, %p, %i\n"
         "}\n");
  static result_t r;
  snprintf(cmd, sizeof cmd, RUN " %s --random --print --seed 5", q);
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  const char *p = strstr(r.out, "output 1 %p: i32[2, 5]");
  cr_assert_not_null(p, "%s", r.out);
  p = strchr(p, '\n') + 1;
  cr_expect(strncmp(p, "  0 2 4 6 8\n  0 2 4 6 8\n", 24) == 0, "positions are arange: %s", p);
  p = strstr(r.out, "output 2 %i: i32[2, 6]");
  cr_assert_not_null(p);
  p = strchr(p, '\n') + 1;
  for (int k = 0; k < 12; ++k) {
    char *end;
    long v = strtol(p, &end, 10);
    cr_assert_neq(end, p);
    cr_expect(v >= 0 && v < 20 && v % 2 == 0, "index*2 = %ld out of [0, 20)", v);
    p = end;
  }
}

Test(qiao_run, help_and_bad_options) {
  static result_t r;
  run(RUN " --help", &r);
  cr_expect_eq(r.rc, 0);
  cr_expect(strstr(r.out, "usage: qiao-run"), "%s", r.out);
  run(RUN " " EX "mlp.qir --frobnicate", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "unknown option '--frobnicate'"), "%s", r.err);
  run(RUN, &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "no graph file"), "%s", r.err);
  run(RUN " " EX "mlp.qir --seed x12", &r);
  cr_expect_eq(r.rc, 1);
  run(RUN " " EX "mlp.qir --weights", &r);
  cr_expect_eq(r.rc, 1);
}

/* ---------------------------------------------------- qiao-gen-weights */

static void expect_regenerates(const char *name) {
  char out[160], cmd[512];
  snprintf(out, sizeof out, "%s/%s.safetensors", g_dir, name);
  snprintf(cmd, sizeof cmd, GEN " " EX "%s.qir -o %s --seed 1", name, out);
  static result_t r;
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_expect(strstr(r.out, "wrote "), "%s", r.out);
  size_t la = 0, lb = 0;
  char *a = slurp(out, &la);
  char ex[256];
  snprintf(ex, sizeof ex, EX "%s.safetensors", name);
  char *b = slurp(ex, &lb);
  cr_assert_not_null(a);
  cr_assert_not_null(b);
  cr_expect(la == lb && memcmp(a, b, la) == 0,
            "examples/%s.safetensors is stale: regenerate with qiao-gen-weights", name);
  cr_expect_lt(la, 200u * 1024u);
  free(a);
  free(b);
}

Test(qiao_gen_weights, reproduces_committed_example_weights, .init = mk_tmpdir, .fini = rm_tmpdir) {
  expect_regenerates("mlp");
  expect_regenerates("llama_block");
  expect_regenerates("moe_block");
}

Test(qiao_gen_weights, value_ranges_by_role) {
  qiao_safetensors_t *st;
  qiao_status_t s = qiao_safetensors_open(EX "llama_block.safetensors", &st);
  cr_assert_null(s, "%s", qiao_status_message(s));
  cr_expect_eq(qiao_safetensors_count(st), 9);
  cr_expect_str_eq(qiao_safetensors_name(st, 0), "attn_norm.weight");
  qiao_tensor_t v;
  cr_assert_null(qiao_safetensors_get(st, "attn_norm.weight", &v));
  for (int64_t i = 0; i < 64; ++i) {
    double x = qiao_tensor_get_f64(&v, i);
    cr_expect(x >= 0.9 && x < 1.1, "norm weight %g", x);
  }
  cr_assert_null(qiao_safetensors_get(st, "attn.q_proj.weight", &v));
  cr_expect_eq(v.type.dtype, QIAO_BF16);
  double amax = 0;
  for (int64_t i = 0; i < 64 * 64; ++i)
    amax = fmax(amax, fabs(qiao_tensor_get_f64(&v, i)));
  cr_expect(amax <= 0.125 * 1.004 && amax > 0.1, "|w| max %g, want ~1/sqrt(64)", amax);
  cr_assert_null(qiao_safetensors_get(st, "mlp.down_proj.weight", &v));
  amax = 0;
  for (int64_t i = 0; i < 128 * 64; ++i)
    amax = fmax(amax, fabs(qiao_tensor_get_f64(&v, i)));
  cr_expect(amax <= 1 / sqrt(128.0) && amax > 0.08, "|w| max %g, want ~1/sqrt(128)", amax);
  qiao_safetensors_destroy(st);
}

Test(qiao_gen_weights, seed_changes_values_and_errors, .init = mk_tmpdir, .fini = rm_tmpdir) {
  char a[160], b[160], cmd[512];
  snprintf(a, sizeof a, "%s/a.safetensors", g_dir);
  snprintf(b, sizeof b, "%s/b.safetensors", g_dir);
  static result_t r;
  snprintf(cmd, sizeof cmd, GEN " " EX "mlp.qir -o %s --seed 2", a);
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  snprintf(cmd, sizeof cmd, GEN " " EX "mlp.qir -o %s --seed 3", b);
  run(cmd, &r);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  size_t la = 0, lb = 0;
  char *x = slurp(a, &la), *y = slurp(b, &lb);
  cr_expect(la == lb && memcmp(x, y, la) != 0);
  free(x);
  free(y);
  run(GEN " " EX "mlp.qir", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "-o"), "%s", r.err);
  snprintf(cmd, sizeof cmd, GEN " /nonexistent.qir -o %s", a);
  run(cmd, &r);
  cr_expect_eq(r.rc, 1);
  run(GEN " --help", &r);
  cr_expect_eq(r.rc, 0);
  cr_expect(strstr(r.out, "usage: qiao-gen-weights"));
}

/* ---- qiao-run on the CPU through the runtime, checked against the interpreter */

static void check_cpu_example(const char *name, const char *device) {
  static result_t r;
  char cmd[1024];
  snprintf(cmd, sizeof cmd, RUN " " EX "%s.qir --device %s --weights " EX "%s.safetensors --check ref",
           name, device, name);
  run(cmd, &r);
  cr_expect_eq(r.rc, 0, "%s on %s: rc %d, stderr: %s", name, device, r.rc, r.err);
  cr_expect(strstr(r.out, "check output 0 against ref: max normalized error"), "%s", r.out);
  cr_expect(strstr(r.out, ") ok\n"), "%s", r.out);
  cr_expect(!strstr(r.out, "FAILED"), "%s", r.out);
  cr_expect(strstr(r.err, "kernels"), "the runtime reports its kernels: %s", r.err);
}

Test(qiao_run_cpu, mlp_checks_against_ref) { check_cpu_example("mlp", "cpu"); }
Test(qiao_run_cpu, llama_block_checks_against_ref) { check_cpu_example("llama_block", "cpu:threads=2"); }
Test(qiao_run_cpu, moe_block_checks_against_ref) { check_cpu_example("moe_block", "cpu:threads=1"); }

Test(qiao_run_cpu, same_checksum_as_ref) {
  static result_t a, b;
  run(RUN " " EX "mlp.qir --device ref --weights " EX "mlp.safetensors --seed 5", &a);
  run(RUN " " EX "mlp.qir --device cpu --weights " EX "mlp.safetensors --seed 5", &b);
  cr_assert_eq(a.rc, 0);
  cr_assert_eq(b.rc, 0, "%s", b.err);
  /* checksums agree to f32 accuracy */
  const char *ca = strstr(a.out, "checksum="), *cb = strstr(b.out, "checksum=");
  cr_assert(ca && cb);
  double x = strtod(ca + 9, NULL), y = strtod(cb + 9, NULL);
  cr_expect(fabs(x - y) <= 1e-4 * fabs(x), "%g vs %g", x, y);
}

Test(qiao_run_cpu, bad_uri_option_is_user_error) {
  static result_t r;
  run(RUN " " EX "mlp.qir --device cpu:threads=zero --weights " EX "mlp.safetensors", &r);
  cr_expect_eq(r.rc, 1, "%s", r.err);
  cr_expect(strstr(r.err, "threads"), "%s", r.err);
  cr_expect_eq(count_lines(r.err), 1, "%s", r.err);
}

Test(qiao_run_cpu, bench_prints_median) {
  static result_t r;
  run(RUN " " EX "mlp.qir --device cpu --weights " EX "mlp.safetensors --bench 3", &r);
  cr_expect_eq(r.rc, 0, "%s", r.err);
  cr_expect(strstr(r.out, "bench cpu: 3 runs, median"), "%s", r.out);
}

Test(qiao_run_cpu, bad_check_reference) {
  static result_t r;
  run(RUN " " EX "mlp.qir --device cpu --check gpu", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect_str_eq(r.err, "qiao-run: --check: unknown reference 'gpu' (available: ref)\n");
}

/* The literal command: every example at once, weights found beside each graph. */
Test(qiao_run_cpu, all_examples_at_once_with_sibling_weights) {
  static result_t r;
  run(RUN " " EX "mlp.qir " EX "llama_block.qir " EX "moe_block.qir --device cpu --check ref", &r);
  cr_expect_eq(r.rc, 0, "%s", r.err);
  cr_expect(strstr(r.out, "mlp.qir (weights "), "%s", r.out);
  const char *p = r.out;
  int oks = 0;
  while ((p = strstr(p, ") ok\n"))) ++oks, ++p;
  cr_expect_eq(oks, 3, "%s", r.out);
  /* --weights with several graphs is a user error */
  run(RUN " " EX "mlp.qir " EX "moe_block.qir --weights " EX "mlp.safetensors", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.err, "--weights names one file but 2 graphs are given"), "%s", r.err);
  /* one bad graph among good ones: the worst exit code wins, the others still run */
  run(RUN " " EX "mlp.qir /nonexistent.qir --device ref", &r);
  cr_expect_eq(r.rc, 1);
  cr_expect(strstr(r.out, "output 0 %y"), "%s", r.out);
  cr_expect(strstr(r.err, "/nonexistent.qir"), "%s", r.err);
}
