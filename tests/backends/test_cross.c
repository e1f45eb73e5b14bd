/* Cross-compilation: the same kernel descriptors lowered for AArch64 (NEON)
 * from this x86-64 host — object files only (nothing here runs them) — and
 * for AVX2 on the host (run and checked against the interpreter). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qiao/backend_cpu.h"
#include "support/oracle.h"

static const char *k_graph =
    "graph @x(%a: f32[17, 64], %w: f32[48, 64], %b: f32[48], %q: f32[1, 4, 9, 16],"
    " %k: f32[1, 2, 9, 16], %v: f32[1, 2, 9, 16]) -> (f32[17, 48], f32[1, 4, 9, 16], f32[17, 64]) {\n"
    "  %y = silu (add (matmul %a, %w {transpose_b = true}), %b)\n"
    "  %o = attention %q, %k, %v {causal = true}\n"
    "  %s = softmax %a\n"
    "  return %y, %o, %s\n}\n";

static qiao_partition_t *partition(qiao_graph_t **out_g) {
  qiao_status_t st = qiao_ir_parse(k_graph, strlen(k_graph), "cross.qir", out_g);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_partition_t *p;
  cr_assert_null(qiao_ir_partition(*out_g, NULL, &p));
  return p;
}

Test(cross, aarch64_neon_object) {
  qiao_graph_t *g;
  qiao_partition_t *p = partition(&g);
  qiao_cpu_options_t o = {.triple = "aarch64-unknown-linux-gnu", .cpu = "neoverse-n1",
                          .features = "+neon,+fp-armv8"};
  qiao_cpu_module_t *m;
  qiao_status_t st = qiao_cpu_module_create(&o, &m);
  cr_assert_null(st, "%s", qiao_status_message(st));
  for (int32_t k = 0; k < p->n_kernels; ++k) {
    st = qiao_cpu_module_add_kernel(m, &p->kernels[k], NULL, NULL);
    cr_assert_null(st, "kernel %d: %s", k, qiao_status_message(st));
  }
  cr_assert_null(qiao_cpu_module_optimize(m));
  char *ir;
  cr_assert_null(qiao_cpu_module_print_ir(m, &ir));
  cr_expect(strstr(ir, "target triple = \"aarch64-unknown-linux-gnu\""));
  cr_expect(strstr(ir, "<4 x float>"), "NEON kernels work on 4-lane f32 vectors");
  cr_expect(!strstr(ir, "<16 x float>"), "no AVX-512-width vectors in a NEON module");
  free(ir);
  char path[128];
  snprintf(path, sizeof path, "/tmp/qiao-cross-%d.o", (int)getpid());
  st = qiao_cpu_module_emit_object(m, path);
  cr_assert_null(st, "%s", qiao_status_message(st));
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  unsigned char h[20] = {0};
  cr_expect_eq(fread(h, 1, sizeof h, f), sizeof h);
  fclose(f);
  unlink(path);
  cr_expect(h[0] == 0x7F && h[1] == 'E' && h[2] == 'L' && h[3] == 'F');
  cr_expect_eq(h[18] | (h[19] << 8), 183, "e_machine is EM_AARCH64");
  /* Not runnable here: JIT and shared libraries say why. */
  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu", &d));
  qiao_hal_executable_t *e = NULL;
  const char *cc = getenv("CC");
  if (!cc || !*cc) {
    st = qiao_cpu_module_emit_shared(m, "/tmp/never.so");
    cr_expect(st && strstr(qiao_status_message(st), "cross linker"), "%s", qiao_status_message(st));
    qiao_status_free(st);
  }
  st = qiao_cpu_module_jit(m, d, &e);
  cr_expect(st && strstr(qiao_status_message(st), "not run in this process"), "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  qiao_hal_device_release(d);
  qiao_cpu_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(cross, unknown_triple_is_a_user_error) {
  qiao_cpu_options_t o = {.triple = "tpu-unknown-none"};
  qiao_cpu_module_t *m = NULL;
  qiao_status_t st = qiao_cpu_module_create(&o, &m);
  cr_assert_not_null(st);
  cr_expect_eq(qiao_status_code(st), QIAO_INVALID_ARGUMENT);
  cr_expect(strstr(qiao_status_message(st), "tpu-unknown-none"), "%s", qiao_status_message(st));
  qiao_status_free(st);
  cr_expect_null(m);
}

/* AVX2 (Haswell-class) and SSE-only code for this host: runs here, so it is
 * checked against the interpreter like the AVX-512 path. */
static void run_isa(const char *cpu, const char *features) {
  qiao_graph_t *g;
  qiao_partition_t *p = partition(&g);
  qiao_cpu_options_t o = {.cpu = cpu, .features = features, .n_threads = 2};
  qiao_cpu_module_t *m;
  cr_assert_null(qiao_cpu_module_create(&o, &m));
  qiao_kernel_launch_t l[8];
  for (int32_t k = 0; k < p->n_kernels; ++k) {
    qiao_status_t st = qiao_cpu_module_add_kernel(m, &p->kernels[k], NULL, &l[k]);
    cr_assert_null(st, "%s", qiao_status_message(st));
  }
  char *ir;
  cr_assert_null(qiao_cpu_module_print_ir(m, &ir));
  cr_expect(!strstr(ir, "<16 x float>"), "%s: no 512-bit vectors", cpu);
  free(ir);
  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &d));
  qiao_hal_executable_t *e;
  qiao_status_t st = qiao_cpu_module_jit(m, d, &e);
  cr_assert_null(st, "%s", qiao_status_message(st));
  /* inputs */
  uint64_t rng = 5;
  qiao_tensor_t *in[6];
  qiao_hal_buffer_t *buf[16] = {0};
  int32_t nvals = g->n_values;
  qiao_hal_buffer_t **vb = calloc((size_t)nvals, sizeof(*vb));
  for (int i = 0; i < g->n_inputs; ++i) {
    qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]);
    qiao_tensor_fill_random(in[i], &rng, -1, 1);
    cr_assert_null(qiao_hal_buffer_alloc(d, qiao_tensor_nbytes(in[i]), &buf[i]));
    cr_assert_null(qiao_hal_buffer_write(buf[i], 0, in[i]->data, qiao_tensor_nbytes(in[i])));
    vb[g->inputs[i]] = buf[i];
  }
  qiao_tensor_t *ref[3];
  cr_assert_null(qiao_interp_run(g, (const qiao_tensor_t *const *)in, NULL, NULL, NULL, 0, ref));
  int nb = g->n_inputs;
  for (int32_t k = 0; k < p->n_kernels; ++k) {
    const qiao_kernel_desc_t *kd = &p->kernels[k];
    qiao_hal_binding_t bind[QIAO_KD_MAX_OPERANDS + 2];
    int32_t n = 0;
    for (int32_t i = 0; i < kd->n_inputs; ++i) bind[n++] = (qiao_hal_binding_t){vb[kd->inputs[i].value], 0};
    for (int32_t o2 = 0; o2 < kd->n_outputs; ++o2) {
      qiao_type_t t = kd->outputs[o2].type;
      size_t bytes = (size_t)qiao_shape_numel(&t.shape) * qiao_dtype_size(t.dtype);
      cr_assert_null(qiao_hal_buffer_alloc(d, bytes, &buf[nb]));
      memset(qiao_hal_buffer_host_ptr(buf[nb]), 0xFF, bytes);
      vb[kd->outputs[o2].value] = buf[nb];
      bind[n++] = (qiao_hal_binding_t){buf[nb++], 0};
    }
    int32_t idx;
    cr_assert_null(qiao_hal_executable_lookup(e, l[k].name, &idx, NULL));
    st = qiao_hal_dispatch(d, e, idx, l[k].grid, bind, n, NULL, 0);
    cr_assert_null(st, "%s", qiao_status_message(st));
  }
  for (int32_t o2 = 0; o2 < g->n_outputs; ++o2) {
    qiao_tensor_t out = {.type = ref[o2]->type, .data = qiao_hal_buffer_host_ptr(vb[g->outputs[o2]])};
    double err = qiao_tensor_max_error(&out, ref[o2]);
    cr_expect(err <= 1e-5, "%s: output %d error %g", cpu, o2, err);
    qiao_tensor_destroy(ref[o2]);
  }
  for (int i = 0; i < nb; ++i) qiao_hal_buffer_release(buf[i]);
  for (int i = 0; i < g->n_inputs; ++i) qiao_tensor_destroy(in[i]);
  free(vb);
  qiao_hal_executable_release(e);
  qiao_hal_device_release(d);
  qiao_cpu_module_destroy(m);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(cross, avx2_on_host) { run_isa("haswell", "+avx,+avx2,+fma,+f16c,+sse4.2,+popcnt"); }
Test(cross, sse_only_on_host) { run_isa("x86-64", "+sse2"); }
