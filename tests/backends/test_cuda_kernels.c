/* CUDA backend: the registry row, target choice, refusals, artifacts, and
 * every lowered kernel kind across the dtype sweep compiled to PTX and
 * assembled by ptxas for sm_80 AND sm_90 — zero spills asserted, the SIMT
 * structure checked in the PTX text (shfl.sync.bfly in reductions, bar.sync
 * with shared memory, ld.global.v4 in contiguous f32 elementwise kernels),
 * and the ptxas resource report + theoretical occupancy printed.
 * Without ptxas (PATH or /usr/local/cuda/bin) the ptxas tests are visible
 * skips: "skipped: no ptxas". Nothing here executes PTX (that is simt-emu's). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backends/cuda/ptxas_report.h"
#include "backends/cuda/target.h"
#include "qiao/backend.h"
#include "qiao/hal.h"
#include "qiao/ir.h"

#define CHECK_OK(expr)                                                                             \
  do {                                                                                             \
    qiao_status_t st_ = (expr);                                                                    \
    cr_assert(st_ == NULL, "%s: %s", #expr, qiao_status_message(st_));                             \
  } while (0)

/* ------------------------------------------------------------ helpers */

static const qiao_backend_t *cuda(void) {
  const qiao_backend_t *b = qiao_backend_find("cuda");
  cr_assert_not_null(b, "the registry has a 'cuda' row");
  return b;
}

static bool find_ptxas(char *out, size_t cap) {
  const char *path = getenv("PATH");
  char buf[4096];
  snprintf(buf, sizeof buf, "%s:/usr/local/cuda/bin", path ? path : "");
  for (char *save = NULL, *dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
    snprintf(out, cap, "%s/ptxas", dir);
    if (access(out, X_OK) == 0) return true;
  }
  return false;
}

/* Runs `ptxas -v -arch=<sm> file`; returns its exit status, output in *out. */
static int run_ptxas(const char *ptxas, const char *sm, const char *file, char **out) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "'%s' -v -arch=%s -o /dev/null '%s' 2>&1", ptxas, sm, file);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t k;
  while ((k = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += k;
    if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  int rc = pclose(p);
  *out = buf;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = '\0';
  fclose(f);
  return s;
}

/* The PTX text of one kernel (from ".entry name" to the next ".entry"). */
static char *kernel_text(const char *ptx, const char *name) {
  char pat[128];
  int pn = snprintf(pat, sizeof pat, ".entry %.64s(", name);
  cr_assert(pn > 0 && (size_t)pn < sizeof pat);
  const char *s = strstr(ptx, pat);
  cr_assert_not_null(s, "kernel %s in the PTX", name);
  const char *e = strstr(s + 1, ".entry ");
  size_t n = e ? (size_t)(e - s) : strlen(s);
  char *t = malloc(n + 1);
  memcpy(t, s, n);
  t[n] = '\0';
  return t;
}

/* What the PTX of a kernel must show. */
enum { HAS_SHFL = 1, HAS_BAR = 2, HAS_V4 = 4, HAS_MMA = 8 };

typedef struct sweep_case {
  const char *what;
  const char *qir; /* printf format: %s = dtype (used up to 4 times) */
  qiao_kd_kind_t kind;
  unsigned structure;
} sweep_case_t;

static int g_cases_compiled;

/* Partitions `text`, lowers every kernel for `sm`, emits PTX, assembles it
 * with ptxas, asserts zero spills and the claimed structure, prints the
 * resource report. */
static void compile_case(const char *ptxas, const sweep_case_t *c, const char *dt, const char *sm) {
  char text[2048];
  snprintf(text, sizeof text, c->qir, dt, dt, dt, dt, dt, dt);
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), c->what, &g);
  cr_assert_null(st, "%s/%s: %s\n%s", c->what, dt, qiao_status_message(st), text);
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, cuda()->fusion_policy(NULL), &p));
  qiao_backend_options_t o = {.cpu = sm};
  qiao_backend_module_t *m;
  CHECK_OK(qiao_backend_module_create(cuda(), NULL, &o, &m));
  qiao_kernel_launch_t launch[8];
  int32_t nk = p->n_kernels;
  cr_assert(nk >= 1 && nk <= 8);
  int32_t n_entries = 0; /* every phase of every kernel is an entry */
  bool found_kind = false;
  for (int32_t k = 0; k < nk; ++k) {
    char reason[256] = "";
    bool ok = cuda()->supports(&p->kernels[k], NULL, reason, sizeof reason);
    cr_assert(ok, "%s/%s kernel %d (%s) refused: %s", c->what, dt, k,
              qiao_kd_kind_name(p->kernels[k].kind), reason);
    st = qiao_backend_module_add_kernel(m, &p->kernels[k], NULL, &launch[k]);
    cr_assert_null(st, "%s/%s/%s kernel %d: %s", c->what, dt, sm, k, qiao_status_message(st));
    for (int32_t ph = 0; ph < qiao_kernel_launch_phase_count(&launch[k]); ++ph) {
      qiao_kernel_phase_t lp = qiao_kernel_launch_phase(&launch[k], ph);
      cr_assert(lp.block[0] >= 32 && lp.block[0] % 32 == 0, "block %d", lp.block[0]);
      cr_assert(lp.grid[0] >= 1);
      n_entries++;
    }
    cr_assert_eq(launch[k].n_bindings, p->kernels[k].n_inputs + p->kernels[k].n_outputs);
    if (p->kernels[k].kind == c->kind) found_kind = true;
  }
  cr_assert(found_kind, "%s: expected a %s kernel", c->what, qiao_kd_kind_name(c->kind));
  char path[256];
  snprintf(path, sizeof path, "/tmp/qiao-cuda-%d-%s-%s-%s.ptx", (int)getpid(), c->what, dt, sm);
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_PTX, path));
  char *ptx = read_all(path);
  char want_target[32];
  snprintf(want_target, sizeof want_target, ".target %s", sm);
  cr_assert(strstr(ptx, want_target), "%s/%s: PTX targets %s", c->what, dt, sm);
  cr_assert(strstr(ptx, ".version 8.0"), "%s/%s: PTX ISA 8.0 (+ptx80)", c->what, dt);
  cr_assert(!strstr(ptx, ".extern .func"), "%s/%s: no external calls (libm) in PTX", c->what, dt);
  char *out = NULL;
  int rc = run_ptxas(ptxas, sm, path, &out);
  cr_assert_eq(rc, 0, "%s/%s: ptxas -arch=%s failed:\n%s", c->what, dt, sm, out);
  qiao_ptxas_kernel_t rep[16];
  int32_t nr = 0;
  CHECK_OK(qiao_ptxas_report_parse(out, rep, 16, &nr));
  cr_assert_eq(nr, n_entries, "%s/%s: %d kernels in the ptxas report, %d entries compiled\n%s",
               c->what, dt, nr, n_entries, out);
  qiao_sm_limits_t lim = qiao_sm_limits_default(0);
  for (int32_t k = 0; k < nk; ++k)
    for (int32_t ph = 0; ph < qiao_kernel_launch_phase_count(&launch[k]); ++ph) {
      qiao_kernel_phase_t lp = qiao_kernel_launch_phase(&launch[k], ph);
      const qiao_ptxas_kernel_t *r = NULL;
      for (int32_t i = 0; i < nr; ++i)
        if (!strcmp(rep[i].name, lp.name)) r = &rep[i];
      cr_assert_not_null(r, "%s in the ptxas report", lp.name);
      cr_expect_eq(r->spill_stores, 0, "%s/%s/%s %s: %lld bytes spill stores", c->what, dt, sm,
                   r->name, (long long)r->spill_stores);
      cr_expect_eq(r->spill_loads, 0, "%s/%s/%s %s: spill loads", c->what, dt, sm, r->name);
      cr_expect_eq(r->stack_bytes, 0, "%s/%s/%s %s: %lld bytes stack frame", c->what, dt, sm,
                   r->name, (long long)r->stack_bytes);
      int32_t threads = lp.block[0] * lp.block[1] * lp.block[2];
      cr_expect(threads <= 1024, "%s: %d threads per CTA", r->name, threads);
      qiao_occupancy_t occ = qiao_occupancy_compute(&lim, r, threads, (int64_t)lp.shared_bytes);
      cr_expect(occ.ctas_per_sm >= 1, "%s: fits on an SM", r->name);
      /* structure: checked once per kernel over the text of all its phases */
      if (p->kernels[k].kind != c->kind || ph > 0) goto report;
      char *kt = NULL;
      int64_t smem_any = 0;
      for (int32_t q = 0; q < qiao_kernel_launch_phase_count(&launch[k]); ++q) {
        qiao_kernel_phase_t lq = qiao_kernel_launch_phase(&launch[k], q);
        char *pt = kernel_text(ptx, lq.name);
        size_t n0 = kt ? strlen(kt) : 0;
        kt = realloc(kt, n0 + strlen(pt) + 1);
        memcpy(kt + n0, pt, strlen(pt) + 1);
        free(pt);
        for (int32_t i = 0; i < nr; ++i)
          if (!strcmp(rep[i].name, lq.name) && rep[i].shared_bytes > smem_any)
            smem_any = rep[i].shared_bytes;
      }
      if (c->structure & HAS_SHFL)
        cr_expect(strstr(kt, "shfl.sync.bfly"), "%s/%s: warp shuffles in %s", c->what, dt, r->name);
      if (c->structure & HAS_BAR) {
        cr_expect(strstr(kt, "bar.sync"), "%s/%s: bar.sync in %s", c->what, dt, r->name);
        cr_expect(smem_any > 0, "%s/%s: shared memory in %s", c->what, dt, r->name);
      }
      if (c->structure & HAS_MMA) {
        /* f16 x f16 and bf16 x bf16 take the tensor cores (m16n8k16, f32 accumulators), i8 x i8
         * too (m16n8k32, s32 accumulators that wrap: no .satfinite), other dtypes the SIMT GEMM */
        bool i8 = !strcmp(dt, "i8");
        bool tc = !strcmp(dt, "f16") || !strcmp(dt, "bf16") || i8;
        char want[96];
        if (i8)
          snprintf(want, sizeof want, "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32");
        else
          snprintf(want, sizeof want, "mma.sync.aligned.m16n8k16.row.col.f32.%s.%s.f32", dt, dt);
        if (tc)
          cr_expect(strstr(kt, want), "%s/%s: %s in %s", c->what, dt, want, r->name);
        else
          cr_expect(!strstr(kt, "mma.sync"), "%s/%s: no mma in %s", c->what, dt, r->name);
        if (tc && c->kind == QIAO_KD_MATMUL) /* fragments through ldmatrix.x4 */
          cr_expect(strstr(kt, "ldmatrix.sync.aligned.m8n8.x4.shared.b16"),
                    "%s/%s: ldmatrix in %s", c->what, dt, r->name);
        /* K = 64 and both operands k-contiguous: double-buffered 16-byte cp.async slices */
        if (tc && !strcmp(c->what, "mm_tb_bcast_epi"))
          cr_expect(strstr(kt, "cp.async.ca.shared.global") && strstr(kt, "cp.async.wait_group 1"),
                    "%s/%s: cp.async pipeline in %s", c->what, dt, r->name);
      }
      if ((c->structure & HAS_V4) && !strcmp(dt, "f32"))
        cr_expect(strstr(kt, "ld.global.v4.f32") || strstr(kt, "ld.global.v4.u32") ||
                      strstr(kt, "ld.global.v4.b32"),
                  "%s/%s: 128-bit loads in %s", c->what, dt, r->name);
      if ((c->structure & HAS_V4) && strcmp(dt, "f32"))
        cr_expect(strstr(kt, "ld.global.v4") || strstr(kt, "ld.global.v2.u64") ||
                      strstr(kt, "ld.global.v2.b64"),
                  "%s/%s: 128-bit loads in %s", c->what, dt, r->name);
      free(kt);
    report:
      printf(
          "ptxas %-5s %-18s %-5s %-4s regs %3d smem %5lld spill %lld/%lld stack %lld | grid %lld "
          "block %dx%d | occupancy %.2f (%d CTAs/SM)\n",
          sm, c->what, dt, r->name, r->registers, (long long)r->shared_bytes,
          (long long)r->spill_stores, (long long)r->spill_loads, (long long)r->stack_bytes,
          (long long)lp.grid[0], lp.block[0], lp.block[1], occ.occupancy, occ.ctas_per_sm);
    }
  fflush(stdout);
  g_cases_compiled++;
  free(out);
  free(ptx);
  unlink(path);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

static void sweep(const sweep_case_t *cases, int n, const char *const *dts, int ndt) {
  char ptxas[1024];
  if (!find_ptxas(ptxas, sizeof ptxas)) cr_skip_test("skipped: no ptxas");
  static const char *const sms[] = {"sm_80", "sm_90"};
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < ndt; ++d)
      for (int s = 0; s < 2; ++s)
        compile_case(ptxas, &cases[i], dts[d], sms[s]);
}

static const char *const k_floats[] = {"f32", "f16", "bf16"};
static const char *const k_ints[] = {"i8", "i32", "i64", "bool"};

/* ------------------------------------------------------------ the row */

Test(cuda_backend, registry_row) {
  const qiao_backend_t *b = cuda();
  cr_assert_str_eq(b->name, "cuda");
  cr_assert_eq(b->device_class, QIAO_HAL_CLASS_CUDA);
  cr_assert_eq(qiao_backend_for_class(QIAO_HAL_CLASS_CUDA), b);
  char key[256];
  CHECK_OK(b->target_key(NULL, NULL, key, sizeof key));
  cr_expect(strstr(key, "nvptx64-nvidia-cuda") && strstr(key, "sm_90") && strstr(key, "+ptx80"),
            "%s", key);
  qiao_backend_options_t o = {.cpu = "sm_80"};
  CHECK_OK(b->target_key(NULL, &o, key, sizeof key));
  cr_expect(strstr(key, "|sm_80|"), "%s", key);
  char tiny[8];
  qiao_status_t st = b->target_key(NULL, NULL, tiny, sizeof tiny);
  cr_expect(st != NULL, "a key that does not fit is an error");
  qiao_status_free(st);
}

Test(cuda_backend, sm_from_the_profile) {
  static const struct {
    const char *profile, *sm;
  } k[] = {{"a100", "sm_80"}, {"h100", "sm_90"}, {"h200", "sm_90"}, {"h20", "sm_90"}};
  for (size_t i = 0; i < sizeof k / sizeof k[0]; ++i) {
    qiao_hal_profile_t *p;
    CHECK_OK(qiao_hal_profile_load_named(k[i].profile, &p));
    char sm[16];
    qiao_cuda_sm_for_profile(p, sm, sizeof sm);
    cr_expect_str_eq(sm, k[i].sm, "%s", k[i].profile);
    qiao_hal_profile_destroy(p);
  }
  char sm[16];
  qiao_cuda_sm_for_profile(NULL, sm, sizeof sm);
  cr_expect_str_eq(sm, "sm_90");
}

Test(cuda_backend, refuses_unlowered_kernels_with_a_reason) {
  static const char *text = "graph @m(%x: f32[4, 8]) -> (i32[4, 8]) {\n"
                            "  %y = cast (softmax %x) {to = i32}\n  return %y\n}\n";
  qiao_graph_t *g;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "m.qir", &g));
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, NULL, &p));
  cr_assert_eq(p->n_kernels, 1);
  char reason[256] = "";
  cr_assert(!cuda()->supports(&p->kernels[0], NULL, reason, sizeof reason));
  cr_expect_str_eq(reason, "softmax kernels with integer or bool expressions are not lowered for "
                           "the CUDA class yet");
  qiao_backend_module_t *m;
  CHECK_OK(qiao_backend_module_create(cuda(), NULL, NULL, &m));
  qiao_status_t st = qiao_backend_module_add_kernel(m, &p->kernels[0], NULL, NULL);
  cr_assert(st && qiao_status_code(st) == QIAO_UNSUPPORTED);
  cr_expect(strstr(qiao_status_message(st), "integer or bool expressions"), "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* Attention and MoE are multi-step kernels: ordered phases (entries of the
 * module) and a device workspace passed as a trailing binding. */
Test(cuda_backend, multi_phase_launch_records) {
  static const char *text =
      "graph @m(%q: f32[1, 4, 1, 32], %k: f32[1, 2, 100, 32], %v: f32[1, 2, 100, 32],\n"
      "         %x: f32[5, 16], %r: f32[16, 8], %g: f32[8, 16, 12], %u: f32[8, 16, 12],\n"
      "         %d: f32[8, 12, 16]) -> (f32[1, 4, 1, 32], f32[5, 16]) {\n"
      "  %o = attention %q, %k, %v {causal = true}\n"
      "  %y = moe %x, %r, %g, %u, %d\n  return %o, %y\n}\n";
  qiao_graph_t *g;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "p.qir", &g));
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, cuda()->fusion_policy(NULL), &p));
  cr_assert_eq(p->n_kernels, 2);
  qiao_backend_module_t *m;
  CHECK_OK(qiao_backend_module_create(cuda(), NULL, NULL, &m));
  qiao_kernel_launch_t l[2];
  for (int k = 0; k < 2; ++k)
    CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[k], NULL, &l[k]));
  int ia = p->kernels[0].kind == QIAO_KD_ATTENTION ? 0 : 1;
  /* decode (Sq = 1): split-KV partials, then the combine */
  cr_expect_eq(qiao_kernel_launch_phase_count(&l[ia]), 2);
  cr_expect_str_eq(l[ia].phases[0].name, l[ia].name);
  cr_expect(strstr(l[ia].phases[1].name, "_combine"), "%s", l[ia].phases[1].name);
  cr_expect_gt(l[ia].workspace_bytes, 0);
  /* moe: route, bucket, gate/up, down, combine */
  cr_expect_eq(qiao_kernel_launch_phase_count(&l[1 - ia]), 5);
  cr_expect_gt(l[1 - ia].workspace_bytes, 0);
  for (int k = 0; k < 2; ++k) {
    qiao_kernel_phase_t p0 = qiao_kernel_launch_phase(&l[k], 0);
    cr_expect_str_eq(p0.name, l[k].name);
    cr_expect_eq(p0.grid[0], l[k].grid[0]);
    cr_expect_eq(p0.block[0], l[k].block[0]);
  }
  /* a single-step record is its own phase 0 */
  qiao_kernel_launch_t one;
  memset(&one, 0, sizeof one);
  snprintf(one.name, sizeof one.name, "k9");
  one.grid[0] = 7;
  one.block[0] = 64;
  cr_expect_eq(qiao_kernel_launch_phase_count(&one), 1);
  qiao_kernel_phase_t ph = qiao_kernel_launch_phase(&one, 0);
  cr_expect_str_eq(ph.name, "k9");
  cr_expect_eq(ph.grid[0], 7);
  cr_expect_eq(ph.block[0], 64);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* The CUDA fusion policy keeps norms out of matmuls; a descriptor that has a
 * norm prologue anyway (the default policy's partition) is refused by name. */
Test(cuda_backend, matmul_norm_prologue_policy) {
  static const char *text =
      "graph @m(%x: f32[3, 64], %g: f32[64], %w: f32[40, 64]) -> (f32[3, 40]) {\n"
      "  %h = rms_norm %x, %g\n  %y = matmul %h, %w {transpose_b = true}\n  return %y\n}\n";
  qiao_graph_t *g;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "n.qir", &g));
  cr_expect(!cuda()->fusion_policy(NULL)->norm_prologue);
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, NULL, &p)); /* the default (CPU) policy fuses it */
  cr_assert_eq(p->n_kernels, 1);
  char reason[256] = "";
  cr_expect(!cuda()->supports(&p->kernels[0], NULL, reason, sizeof reason));
  cr_expect(strstr(reason, "norm prologue"), "%s", reason);
  qiao_ir_partition_destroy(p);
  CHECK_OK(qiao_ir_partition(g, cuda()->fusion_policy(NULL), &p));
  cr_assert_eq(p->n_kernels, 2);
  for (int32_t k = 0; k < p->n_kernels; ++k)
    cr_expect(cuda()->supports(&p->kernels[k], NULL, reason, sizeof reason), "%s", reason);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(cuda_backend, lowers_integer_expressions) {
  static const char *text = "graph @m(%a: i32[64], %b: i32[64]) -> (i32[64]) {\n"
                            "  %y = add %a, %b\n  return %y\n}\n";
  qiao_graph_t *g;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "i.qir", &g));
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, NULL, &p));
  char reason[256] = "";
  cr_expect(cuda()->supports(&p->kernels[0], NULL, reason, sizeof reason), "%s", reason);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(cuda_backend, artifacts_and_load_on_a_cpu_device) {
  static const char *text = "graph @m(%a: f32[1000], %b: f32[1000]) -> (f32[1000]) {\n"
                            "  %y = silu (add %a, %b)\n  return %y\n}\n";
  qiao_graph_t *g;
  CHECK_OK(qiao_ir_parse(text, strlen(text), "a.qir", &g));
  qiao_partition_t *p;
  CHECK_OK(qiao_ir_partition(g, NULL, &p));
  qiao_backend_module_t *m;
  CHECK_OK(qiao_backend_module_create(cuda(), NULL, NULL, &m));
  qiao_kernel_launch_t l;
  CHECK_OK(qiao_backend_module_add_kernel(m, &p->kernels[0], "ew", &l));
  cr_expect_str_eq(l.name, "ew");
  cr_expect_eq(l.n_bindings, 3);
  cr_expect_eq(l.binding_bytes[2], 4000u);
  cr_expect_eq(l.block[0], 256);
  cr_expect_eq(l.shared_bytes, 0u);
  char path[128];
  snprintf(path, sizeof path, "/tmp/qiao-cuda-art-%d.ll", (int)getpid());
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_LLVM, path));
  char *ir = read_all(path);
  cr_expect(strstr(ir, "nvptx64-nvidia-cuda"));
  cr_expect(strstr(ir, "ptx_kernel void @ew(ptr addrspace(1)"), "kernel convention in IR");
  free(ir);
  unlink(path);
  snprintf(path, sizeof path, "/tmp/qiao-cuda-art-%d.ptx", (int)getpid());
  CHECK_OK(qiao_backend_module_emit(m, QIAO_ARTIFACT_PTX, path));
  char *ptx = read_all(path);
  cr_expect(strstr(ptx, ".visible .entry ew("), "%s", ptx);
  cr_expect(strstr(ptx, ".param .u64"), "bindings are .u64 params");
  free(ptx);
  unlink(path);
  qiao_status_t st = qiao_backend_module_emit(m, QIAO_ARTIFACT_OBJECT, "/tmp/never.o");
  cr_expect(st && qiao_status_code(st) == QIAO_UNSUPPORTED && access("/tmp/never.o", F_OK) != 0);
  qiao_status_free(st);
  qiao_hal_device_t *d;
  CHECK_OK(qiao_hal_device_open("cpu", &d));
  qiao_hal_executable_t *e = NULL;
  st = qiao_backend_module_load(m, d, &e); /* a cpu device runs no PTX */
  cr_expect(st != NULL && e == NULL);
  qiao_status_free(st);
  /* through the row itself: the PTX executable with its records reaches the
   * HAL, and the cpu driver answers that it cannot load the format */
  void *impl = NULL;
  CHECK_OK(cuda()->module_create(NULL, NULL, &impl));
  CHECK_OK(cuda()->add_kernel(impl, &p->kernels[0], "ew", &l));
  st = cuda()->load(impl, d, &e);
  cr_expect(st && qiao_status_code(st) == QIAO_UNSUPPORTED && e == NULL, "%s",
            qiao_status_message(st));
  cr_expect(st && strstr(qiao_status_message(st), "PTX"), "%s", qiao_status_message(st));
  qiao_status_free(st);
  cuda()->module_destroy(impl);
  qiao_hal_device_release(d);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* ------------------------------------------------------------ the ptxas sweep */

static const sweep_case_t k_elementwise[] = {
    {"ew_silu_add", "graph @e(%%a: %s[4099], %%b: %s[4099]) -> (%s[4099]) {\n"
     "  %%y = silu (add %%a, %%b)\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, HAS_V4},
    {"ew_gelu_scalar", "graph @e(%%a: %s[64, 128]) -> (%s[64, 128]) {\n"
     "  %%y = mul (gelu %%a), 0.5\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, HAS_V4},
    {"ew_bcast", "graph @e(%%a: %s[64, 33], %%b: %s[33]) -> (%s[64, 33]) {\n"
     "  %%y = max (exp %%a), %%b\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, 0},
    {"ew_pow_log", "graph @e(%%a: %s[256], %%b: %s[256]) -> (%s[256]) {\n"
     "  %%y = pow (log %%a), (tanh %%b)\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, HAS_V4},
};

static const sweep_case_t k_reduce[] = {
    {"red_sum_last", "graph @r(%%a: %s[8, 1000]) -> (%s[8]) {\n"
     "  %%y = reduce_sum %%a\n  return %%y\n}\n", QIAO_KD_REDUCE, HAS_SHFL | HAS_BAR},
    {"red_max_first", "graph @r(%%a: %s[300, 5]) -> (%s[1, 5]) {\n"
     "  %%y = reduce_max %%a {axes = [0], keepdims = true}\n  return %%y\n}\n",
     QIAO_KD_REDUCE, HAS_SHFL | HAS_BAR},
    {"red_mean_all", "graph @r(%%a: %s[4, 6, 7]) -> (%s[]) {\n"
     "  %%y = reduce_mean %%a {axes = [0, 1, 2]}\n  return %%y\n}\n", QIAO_KD_REDUCE,
     HAS_SHFL | HAS_BAR},
    {"red_warp", "graph @r(%%a: %s[64, 20]) -> (%s[64]) {\n"
     "  %%y = reduce_max %%a\n  return %%y\n}\n", QIAO_KD_REDUCE, HAS_SHFL},
};

static const sweep_case_t k_reduce_epi[] = {
    {"red_sum_epi", "graph @r(%%a: %s[8, 1000], %%b: %s[8]) -> (%s[8]) {\n"
     "  %%y = add (reduce_sum %%a), %%b\n  return %%y\n}\n", QIAO_KD_REDUCE, HAS_SHFL | HAS_BAR},
};

Test(cuda_ptxas, elementwise_float_sweep) {
  sweep(k_elementwise, 4, k_floats, 3);
}
Test(cuda_ptxas, reduce_float_sweep) {
  sweep(k_reduce, 4, k_floats, 3);
  sweep(k_reduce_epi, 1, k_floats, 3);
}
Test(cuda_ptxas, reduce_int_sweep) {
  sweep(k_reduce, 4, k_ints, 4);
}

static const sweep_case_t k_rows[] = {
    {"softmax_last", "graph @s(%%a: %s[8, 1000]) -> (%s[8, 1000]) {\n"
     "  %%y = softmax %%a\n  return %%y\n}\n", QIAO_KD_SOFTMAX, HAS_SHFL | HAS_BAR},
    {"softmax_axis0", "graph @s(%%a: %s[77, 3, 5]) -> (%s[77, 3, 5]) {\n"
     "  %%y = softmax %%a {axis = 0}\n  return %%y\n}\n", QIAO_KD_SOFTMAX, HAS_SHFL | HAS_BAR},
    {"softmax_warp", "graph @s(%%a: %s[16, 24]) -> (%s[16, 24]) {\n"
     "  %%y = softmax %%a\n  return %%y\n}\n", QIAO_KD_SOFTMAX, HAS_SHFL},
    {"rms_norm", "graph @n(%%a: %s[4, 4096], %%w: %s[4096]) -> (%s[4, 4096]) {\n"
     "  %%y = rms_norm %%a, %%w\n  return %%y\n}\n", QIAO_KD_NORM, HAS_SHFL | HAS_BAR},
    {"layer_norm_epi", "graph @n(%%a: %s[6, 100], %%w: %s[100], %%b: %s[100], %%r: %s[6, 100])"
     " -> (%s[6, 100]) {\n  %%y = add (layer_norm %%a, %%w, %%b), %%r\n  return %%y\n}\n",
     QIAO_KD_NORM, HAS_SHFL | HAS_BAR},
};

Test(cuda_ptxas, softmax_norm_sweep) {
  sweep(k_rows, 5, k_floats, 3);
}

static const sweep_case_t k_copy[] = {
    {"transpose_tiled", "graph @t(%%a: %s[70, 45]) -> (%s[45, 70]) {\n"
     "  %%y = transpose %%a {perm = [1, 0]}\n  return %%y\n}\n", QIAO_KD_COPY, HAS_BAR},
    {"transpose_3d", "graph @t(%%a: %s[3, 40, 36]) -> (%s[36, 3, 40]) {\n"
     "  %%y = transpose %%a {perm = [2, 0, 1]}\n  return %%y\n}\n", QIAO_KD_COPY, HAS_BAR},
    {"slice_step", "graph @t(%%a: %s[10, 64]) -> (%s[10, 20]) {\n"
     "  %%y = slice %%a {axis = 1, start = 3, end = 63, step = 3}\n  return %%y\n}\n",
     QIAO_KD_COPY, 0},
    {"concat", "graph @t(%%a: %s[4, 8], %%b: %s[4, 5]) -> (%s[4, 13]) {\n"
     "  %%y = concat %%a, %%b {axis = 1}\n  return %%y\n}\n", QIAO_KD_COPY, 0},
    {"gather_i32", "graph @g(%%a: %s[100, 64], %%i: i32[7]) -> (%s[7, 64]) {\n"
     "  %%y = gather %%a, %%i\n  return %%y\n}\n", QIAO_KD_GATHER, 0},
    {"gather_ax1_i64", "graph @g(%%a: %s[5, 30, 4], %%i: i64[2, 3]) -> (%s[5, 2, 3, 4]) {\n"
     "  %%y = gather %%a, %%i {axis = 1}\n  return %%y\n}\n", QIAO_KD_GATHER, 0},
};
static const sweep_case_t k_copy_epi[] = {
    {"transpose_epi", "graph @t(%%a: %s[70, 45], %%b: %s[45, 70]) -> (%s[45, 70]) {\n"
     "  %%y = add (transpose %%a {perm = [1, 0]}), %%b\n  return %%y\n}\n", QIAO_KD_COPY, 0},
    {"gather_epi", "graph @g(%%a: %s[100, 64], %%i: i32[7]) -> (%s[7, 64]) {\n"
     "  %%y = silu (gather %%a, %%i)\n  return %%y\n}\n", QIAO_KD_GATHER, 0},
};

Test(cuda_ptxas, copy_gather_sweep) {
  sweep(k_copy, 6, k_floats, 3);
  sweep(k_copy_epi, 2, k_floats, 3);
}
Test(cuda_ptxas, copy_gather_int_sweep) {
  sweep(k_copy, 6, k_ints, 4);
}

static const sweep_case_t k_rope[] = {
    {"rope_neox", "graph @r(%%x: %s[2, 4, 9, 64], %%p: i32[9]) -> (%s[2, 4, 9, 64]) {\n"
     "  %%y = rope %%x, %%p\n  return %%y\n}\n", QIAO_KD_COPY, HAS_BAR},
    {"rope_gptj_b", "graph @r(%%x: %s[2, 3, 5, 16], %%p: i64[2, 5]) -> (%s[2, 3, 5, 16]) {\n"
     "  %%y = rope %%x, %%p {mode = \"gptj\", theta = 500000.0}\n  return %%y\n}\n",
     QIAO_KD_COPY, HAS_BAR},
};

Test(cuda_ptxas, rope_sweep) {
  sweep(k_rope, 2, k_floats, 3);
}

static const sweep_case_t k_matmul[] = {
    {"mm_tile", "graph @m(%%a: %s[130, 70], %%b: %s[70, 129]) -> (%s[130, 129]) {\n"
     "  %%y = matmul %%a, %%b\n  return %%y\n}\n", QIAO_KD_MATMUL, HAS_BAR | HAS_MMA},
    {"mm_tb_bcast_epi", "graph @m(%%a: %s[2, 1, 33, 64], %%b: %s[3, 40, 64], %%c: %s[40]) -> "
     "(%s[2, 3, 33, 40]) {\n"
     "  %%y = silu (add (matmul %%a, %%b {transpose_b = true}), %%c)\n  return %%y\n}\n",
     QIAO_KD_MATMUL, HAS_BAR | HAS_MMA},
    {"mm_ta", "graph @m(%%a: %s[19, 3], %%b: %s[19, 18]) -> (%s[3, 18]) {\n"
     "  %%y = matmul %%a, %%b {transpose_a = true}\n  return %%y\n}\n", QIAO_KD_MATMUL, HAS_BAR | HAS_MMA},
};
static const sweep_case_t k_matmul_i8[] = {
    {"mm_i8", "graph @m(%%a: %s[33, 70], %%b: %s[70, 20]) -> (i32[33, 20]) {\n"
     "  %%y = matmul %%a, %%b\n  return %%y\n}\n", QIAO_KD_MATMUL, HAS_BAR | HAS_MMA},
    {"mm_i8_bias", "graph @m(%%a: %s[33, 70], %%b: %s[70, 20], %%c: i32[20]) -> (i32[33, 20]) {\n"
     "  %%y = add (matmul %%a, %%b), %%c\n  return %%y\n}\n", QIAO_KD_MATMUL, HAS_BAR | HAS_MMA},
};
static const char *const k_i8[] = {"i8"};
static const char *const k_f8[] = {"f8e4m3", "f8e5m2"};

Test(cuda_ptxas, matmul_sweep) {
  sweep(k_matmul, 3, k_floats, 3);
  sweep(k_matmul, 1, k_f8, 2);
  sweep(k_matmul_i8, 2, k_i8, 1);
}

static const sweep_case_t k_ew_int[] = {
    {"ew_int_arith", "graph @e(%%a: %s[64, 33], %%b: %s[33]) -> (%s[64, 33]) {\n"
     "  %%y = div (mul %%a, %%b), (sub %%b, %%a)\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, 0},
    {"ew_int_cast", "graph @e(%%a: %s[1000]) -> (f16[1000]) {\n"
     "  %%y = cast (max (neg %%a), %%a) {to = f16}\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, 0},
};
static const sweep_case_t k_ew_to_int[] = {
    {"ew_f_to_int", "graph @e(%%a: f32[1000]) -> (%s[1000]) {\n"
     "  %%y = cast (mul %%a, 100.0) {to = %s}\n  return %%y\n}\n", QIAO_KD_ELEMENTWISE, 0},
};
static const char *const k_int3[] = {"i8", "i32", "i64"};

Test(cuda_ptxas, elementwise_int_sweep) {
  sweep(k_ew_int, 2, k_int3, 3);
  sweep(k_ew_to_int, 1, k_ints, 4);
}

static const sweep_case_t k_topk[] = {
    {"topk_last", "graph @t(%%x: %s[8, 1000]) -> (%s[8, 40], i64[8, 40]) {\n"
     "  %%v, %%i = topk %%x {k = 40}\n  return %%v, %%i\n}\n", QIAO_KD_TOPK, HAS_SHFL | HAS_BAR},
    {"topk_axis0", "graph @t(%%x: %s[17, 5]) -> (%s[2, 5], i64[2, 5]) {\n"
     "  %%v, %%i = topk %%x {k = 2, axis = 0}\n  return %%v, %%i\n}\n", QIAO_KD_TOPK, HAS_SHFL},
};

Test(cuda_ptxas, topk_sweep) {
  sweep(k_topk, 2, k_floats, 3);
  sweep(k_topk, 2, k_int3, 3);
}

/* Attention: FlashAttention-2 prefill (tensor cores for f16/bf16 with head
 * dims <= 128, SIMT otherwise) and the split-KV decode (partials + combine);
 * GQA, causal, window, mask, odd head dims, an epilogue. */
static const sweep_case_t k_attention[] = {
    {"attn_prefill_gqa",
     "graph @a(%%q: %s[1, 4, 70, 64], %%k: %s[1, 2, 70, 64], %%v: %s[1, 2, 70, 64])"
     " -> (%s[1, 4, 70, 64]) {\n  %%o = attention %%q, %%k, %%v {causal = true}\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR | HAS_MMA},
    {"attn_prefill_d128",
     "graph @a(%%q: %s[2, 2, 33, 128], %%k: %s[2, 2, 50, 128], %%v: %s[2, 2, 50, 128],"
     " %%m: %s[33, 50]) -> (%s[2, 2, 33, 128]) {\n"
     "  %%o = attention %%q, %%k, %%v, %%m {window = 8}\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR | HAS_MMA},
    {"attn_odd_dims_epi",
     "graph @a(%%q: %s[1, 2, 20, 40], %%k: %s[1, 1, 30, 40], %%v: %s[1, 1, 30, 24],"
     " %%r: %s[24]) -> (%s[1, 2, 20, 24]) {\n"
     "  %%o = add (attention %%q, %%k, %%v {causal = true}), %%r\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR | HAS_MMA},
};
static const sweep_case_t k_attention_simt[] = {
    {"attn_decode",
     "graph @a(%%q: %s[2, 8, 1, 128], %%k: %s[2, 2, 300, 128], %%v: %s[2, 2, 300, 128])"
     " -> (%s[2, 8, 1, 128]) {\n  %%o = attention %%q, %%k, %%v {causal = true}\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR},
    {"attn_decode_kv_len", "graph @a(%%q: %s[4, 8, 1, 64], %%k: %s[4, 2, 300, 64], %%v: %s[4, 2, 300, 64],"
     " %%n: i32[4]) -> (%s[4, 8, 1, 64]) {\n"
     "  %%o = attention %%q, %%k, %%v, %%n {causal = true}\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR},
    {"attn_prefill_d256",
     "graph @a(%%q: %s[1, 2, 40, 256], %%k: %s[1, 2, 40, 256], %%v: %s[1, 2, 40, 256])"
     " -> (%s[1, 2, 40, 256]) {\n  %%o = attention %%q, %%k, %%v {causal = true}\n  return "
     "%%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR},
};

static const sweep_case_t k_attention_kv_len[] = {
    {"attn_prefill_kv_len", "graph @a(%%q: %s[2, 4, 70, 64], %%k: %s[2, 2, 128, 64], %%v: %s[2, 2, 128, 64],"
     " %%m: %s[70, 128], %%n: i32[2]) -> (%s[2, 4, 70, 64]) {\n"
     "  %%o = attention %%q, %%k, %%v, %%m, %%n {causal = true, window = 50}\n  return %%o\n}\n",
     QIAO_KD_ATTENTION, HAS_SHFL | HAS_BAR | HAS_MMA},
};

Test(cuda_ptxas, attention_sweep) {
  sweep(k_attention, 3, k_floats, 3);
  sweep(k_attention, 1, k_f8, 2);
  sweep(k_attention_simt, 3, k_floats, 3);
  sweep(k_attention_kv_len, 1, k_floats, 3);
}

/* MoE: routing (block softmax/sigmoid, warp top-k), the per-expert buckets,
 * the gate/up and down GEMMs, the combine. */
static const sweep_case_t k_moe[] = {
    {"moe_softmax",
     "graph @m(%%x: %s[64, 256], %%r: %s[256, 16], %%g: %s[16, 256, 128],"
     " %%u: %s[16, 256, 128], %%d: %s[16, 128, 256]) -> (%s[64, 256]) {\n"
     "  %%y = moe %%x, %%r, %%g, %%u, %%d {top_k = 4}\n  return %%y\n}\n",
     QIAO_KD_MOE, HAS_SHFL | HAS_BAR | HAS_MMA},
    {"moe_sigmoid_epi",
     "graph @m(%%x: %s[5, 48], %%r: %s[48, 6], %%g: %s[6, 48, 20],"
     " %%u: %s[6, 48, 20], %%d: %s[6, 20, 48]) -> (%s[5, 48]) {\n"
     "  %%y = add (moe %%x, %%r, %%g, %%u, %%d {top_k = 2, norm_topk = false, router_fn = "
     "\"sigmoid\"}), %%x\n"
     "  return %%y\n}\n",
     QIAO_KD_MOE, HAS_SHFL | HAS_BAR | HAS_MMA},
};

Test(cuda_ptxas, moe_sweep) { sweep(k_moe, 2, k_floats, 3); }
