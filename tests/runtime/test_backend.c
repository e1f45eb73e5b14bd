/* The target-neutral backend interface: the registry, a backend's refusal
 * surfacing with kernel, op and reason, artifacts through the generic
 * module API, and concurrent runs of one program. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qiao/backend.h"
#include "support/oracle.h"

static qiao_graph_t *parse(const char *text) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), "test.qir", &g);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  return g;
}

static qiao_hal_device_t *open_dev(const char *uri) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open(uri, &d);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  return d;
}

static const char *k_mlp =
    "graph @t(%x: f32[4, 32], %w: f32[32, 16]) -> (f32[4, 16]) {\n"
    "  %h = matmul %x, %w\n"
    "  %y = silu %h\n"
    "  %z = exp %x\n"
    "  return %y\n"
    "}\n";

Test(registry, cpu_row) {
  cr_assert_geq(qiao_backend_count(), 1);
  const qiao_backend_t *b = qiao_backend_find("cpu");
  cr_assert_not_null(b);
  cr_expect_eq(b->device_class, QIAO_HAL_CLASS_CPU);
  cr_expect_eq(qiao_backend_for_class(QIAO_HAL_CLASS_CPU), b);
  cr_expect_null(qiao_backend_find("no-such-backend"));
  qiao_hal_device_t *d = open_dev("cpu:threads=2");
  cr_expect_eq(qiao_backend_for_device(d), b);
  /* every registered row is complete */
  for (int32_t i = 0; i < qiao_backend_count(); ++i) {
    const qiao_backend_t *r = qiao_backend_at(i);
    cr_expect(r->name && r->fusion_policy && r->supports && r->target_key && r->module_create &&
                  r->module_destroy && r->add_kernel && r->optimize && r->emit && r->load,
              "backend row %d is incomplete", i);
    cr_expect_not_null(r->fusion_policy(NULL));
  }
  cr_expect_null(qiao_backend_at(qiao_backend_count()));
  qiao_hal_device_release(d);
}

Test(registry, target_key_names_threads_and_opt) {
  const qiao_backend_t *b = qiao_backend_find("cpu");
  qiao_hal_device_t *d1 = open_dev("cpu:threads=1"), *d2 = open_dev("cpu:threads=2");
  char k1[512], k2[512], k3[512];
  cr_assert_null(b->target_key(d1, NULL, k1, sizeof k1));
  cr_assert_null(b->target_key(d2, NULL, k2, sizeof k2));
  qiao_backend_options_t o = {.opt_level = 1};
  cr_assert_null(b->target_key(d2, &o, k3, sizeof k3));
  cr_expect_str_neq(k1, k2, "thread count changes grids: it must be in the key");
  cr_expect_str_neq(k2, k3, "opt level must be in the key");
  char tiny[8];
  qiao_status_t st = b->target_key(d1, NULL, tiny, sizeof tiny);
  cr_expect_not_null(st, "a truncated key must be an error, never a silent collision");
  qiao_status_free(st);
  qiao_hal_device_release(d1);
  qiao_hal_device_release(d2);
}

Test(artifact, kind_names_parse_back) {
  for (int k = 0; k < QIAO_ARTIFACT_KIND_COUNT; ++k) {
    qiao_artifact_kind_t got;
    cr_assert_null(qiao_artifact_kind_parse(qiao_artifact_kind_name((qiao_artifact_kind_t)k), &got));
    cr_expect_eq(got, k);
  }
  qiao_artifact_kind_t got;
  qiao_status_t st = qiao_artifact_kind_parse("elf", &got);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "'elf'") && strstr(qiao_status_message(st), "ptx"),
            "%s", qiao_status_message(st));
  qiao_status_free(st);
}

/* ---- a backend that refuses matmul: the runtime must name kernel, op and reason */

static bool refuse_matmul(const qiao_kernel_desc_t *kd, qiao_hal_device_t *d, char *reason,
                          size_t cap) {
  if (kd->kind == QIAO_KD_MATMUL) {
    snprintf(reason, cap, "no matmul unit on this test target");
    return false;
  }
  return qiao_backend_find("cpu")->supports(kd, d, reason, cap);
}

Test(runtime_backend, refusal_names_kernel_op_and_reason) {
  qiao_backend_t picky = *qiao_backend_find("cpu");
  picky.name = "picky";
  picky.supports = refuse_matmul;
  qiao_graph_t *g = parse(k_mlp);
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  qiao_compile_options_t o = {.backend = &picky};
  qiao_program_t *p = NULL;
  qiao_status_t st = qiao_program_compile(NULL, g, d, &o, &p);
  cr_assert_not_null(st);
  const char *msg = qiao_status_message(st);
  cr_expect_eq(qiao_status_code(st), QIAO_UNSUPPORTED);
  cr_expect(strstr(msg, "matmul %h") != NULL, "names the op: %s", msg);
  cr_expect(strstr(msg, "silu %y") != NULL, "names the fused op: %s", msg);
  cr_expect(strstr(msg, "'picky'") != NULL, "names the backend: %s", msg);
  cr_expect(strstr(msg, "no matmul unit on this test target") != NULL, "gives the reason: %s", msg);
  cr_expect(strstr(msg, "kernel k") != NULL, "names the kernel: %s", msg);
  cr_expect_null(p);
  qiao_status_free(st);
  /* the same graph compiles on the real cpu backend */
  o.backend = NULL;
  cr_assert_null(qiao_program_compile(NULL, g, d, &o, &p));
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

Test(runtime_backend, module_add_kernel_checks_supports) {
  qiao_backend_t picky = *qiao_backend_find("cpu");
  picky.supports = refuse_matmul;
  qiao_graph_t *g = parse(k_mlp);
  qiao_partition_t *part = NULL;
  cr_assert_null(qiao_ir_partition(g, NULL, &part));
  qiao_backend_module_t *m = NULL;
  cr_assert_null(qiao_backend_module_create(&picky, NULL, NULL, &m));
  int32_t mm = -1;
  for (int32_t i = 0; i < part->n_kernels; ++i)
    if (part->kernels[i].kind == QIAO_KD_MATMUL) mm = i;
  cr_assert_geq(mm, 0);
  qiao_kernel_launch_t l;
  qiao_status_t st = qiao_backend_module_add_kernel(m, &part->kernels[mm], "mm", &l);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "no matmul unit") != NULL, "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(part);
  qiao_ir_graph_destroy(g);
}

/* ---- artifacts through the generic API */

static off_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? sb.st_size : -1;
}

static bool file_has(const char *path, const char *needle) {
  FILE *f = fopen(path, "rb");
  if (!f) return false;
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  return memmem(buf, n, needle, strlen(needle)) != NULL; /* binary files hold NULs */
}

Test(runtime_backend, emits_every_cpu_artifact_and_refuses_ptx) {
  qiao_graph_t *g = parse(k_mlp);
  qiao_partition_t *part = NULL;
  cr_assert_null(qiao_ir_partition(g, NULL, &part));
  const qiao_backend_t *b = qiao_backend_find("cpu");
  qiao_backend_module_t *m = NULL;
  cr_assert_null(qiao_backend_module_create(b, NULL, NULL, &m));
  qiao_kernel_launch_t l;
  cr_assert_null(qiao_backend_module_add_kernel(m, &part->kernels[0], "first", &l));
  cr_expect_eq(l.block[0] * l.block[1] * l.block[2], 1);
  cr_expect_eq(l.n_bindings, part->kernels[0].n_inputs + part->kernels[0].n_outputs);
  for (int32_t i = 0; i < l.n_bindings; ++i) cr_expect_gt(l.binding_bytes[i], 0);
  char dir[] = "/tmp/qiao-art-XXXXXX";
  cr_assert_not_null(mkdtemp(dir));
  const struct {
    qiao_artifact_kind_t kind;
    const char *file, *needle;
  } arts[] = {{QIAO_ARTIFACT_LLVM, "k.ll", "define"},
              {QIAO_ARTIFACT_ASM, "k.s", "first"},
              {QIAO_ARTIFACT_OBJECT, "k.o", "ELF"},
              {QIAO_ARTIFACT_SHARED, "k.so", "qiao_executable_entries"}};
  for (size_t i = 0; i < sizeof arts / sizeof arts[0]; ++i) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, arts[i].file);
    qiao_status_t st = qiao_backend_module_emit(m, arts[i].kind, path);
    cr_expect_null(st, "%s: %s", arts[i].file, qiao_status_message(st));
    qiao_status_free(st);
    cr_expect_gt(file_size(path), 0, "%s", path);
    cr_expect(file_has(path, arts[i].needle), "%s lacks '%s'", path, arts[i].needle);
    unlink(path);
  }
  char path[256];
  snprintf(path, sizeof path, "%s/k.ptx", dir);
  qiao_status_t st = qiao_backend_module_emit(m, QIAO_ARTIFACT_PTX, path);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_UNSUPPORTED);
  cr_expect(strstr(qiao_status_message(st), "'ptx'") != NULL, "%s", qiao_status_message(st));
  qiao_status_free(st);
  cr_expect_eq(file_size(path), -1, "no partial output file");
  rmdir(dir);
  qiao_backend_module_destroy(m);
  qiao_ir_partition_destroy(part);
  qiao_ir_graph_destroy(g);
}

/* ---- concurrent runs of one program */

typedef struct run_ctx {
  qiao_program_t *p;
  const qiao_tensor_t *in[2];
  const qiao_tensor_t *ref;
  int failures;
} run_ctx_t;

static void *run_many(void *arg) {
  run_ctx_t *c = arg;
  for (int i = 0; i < 150; ++i) {
    qiao_tensor_t *out = NULL;
    qiao_status_t st = qiao_program_run(c->p, c->in, &out);
    if (st) {
      c->failures++;
      qiao_status_free(st);
      continue;
    }
    if (memcmp(out->data, c->ref->data, qiao_tensor_nbytes(out)) != 0) c->failures++;
    qiao_tensor_destroy(out);
  }
  return NULL;
}

static qiao_tensor_t *filled(qiao_type_t t, float scale) {
  qiao_tensor_t *x = NULL;
  cr_assert_null(qiao_tensor_create(t, &x));
  float *f = x->data;
  int64_t n = qiao_shape_numel(&t.shape);
  for (int64_t i = 0; i < n; ++i) f[i] = scale * (float)((i * 7919) % 23 - 11) / 11.0f;
  return x;
}

Test(runtime_backend, concurrent_runs_of_one_program) {
  /* Many small kernels: each run writes its inputs, then dispatches a chain,
   * so an unserialized second run overwrites inputs and intermediates midway. */
  qiao_graph_t *g = parse("graph @t(%x: f32[64, 256], %w: f32[256, 64]) -> (f32[64, 64]) {\n"
                          "  %a = exp (mul %x, 0.01)\n"
                          "  %b = reduce_sum %a {axes = [-1], keepdims = true}\n"
                          "  %c = matmul (div %a, %b), %w\n"
                          "  %d = softmax %c\n"
                          "  %e = matmul %a, %w\n"
                          "  %f = add (softmax %e), %d\n"
                          "  return %f\n"
                          "}\n");
  qiao_hal_device_t *d = open_dev("cpu:threads=1");
  qiao_program_t *p = NULL;
  qiao_compile_options_t o = {.poison = true};
  cr_assert_null(qiao_program_compile(NULL, g, d, &o, &p));
  run_ctx_t c[2];
  qiao_tensor_t *ins[2][2], *refs[2];
  for (int t = 0; t < 2; ++t) {
    ins[t][0] = filled(g->values[g->inputs[0]].type, t ? 1.0f : -0.5f);
    ins[t][1] = filled(g->values[g->inputs[1]].type, t ? 0.25f : 2.0f);
    qiao_tensor_t *out = NULL;
    cr_assert_null(qiao_program_run(p, (const qiao_tensor_t *const *)ins[t], &out));
    refs[t] = out;
    c[t] = (run_ctx_t){.p = p, .in = {ins[t][0], ins[t][1]}, .ref = refs[t]};
  }
  cr_assert(memcmp(refs[0]->data, refs[1]->data, qiao_tensor_nbytes(refs[0])) != 0,
            "the two threads must compute different results");
  pthread_t th[2];
  for (int t = 0; t < 2; ++t) pthread_create(&th[t], NULL, run_many, &c[t]);
  for (int t = 0; t < 2; ++t) pthread_join(th[t], NULL);
  cr_expect_eq(c[0].failures + c[1].failures, 0, "runs interfered: %d + %d bad results",
               c[0].failures, c[1].failures);
  for (int t = 0; t < 2; ++t) {
    qiao_tensor_destroy(ins[t][0]);
    qiao_tensor_destroy(ins[t][1]);
    qiao_tensor_destroy(refs[t]);
  }
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}
