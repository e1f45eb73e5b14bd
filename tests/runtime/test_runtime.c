/* Runtime: partition (kernel counts), memory plan, compile cache, the AOT
 * path (shared library built, dlopen'ed, dispatched), and bad inputs. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qiao/backend_cpu.h"
#include "support/oracle.h"
#include "support/graphs.h"

static int32_t count_kernels(const qiao_graph_t *g, qiao_kd_kind_t kind, int32_t *total) {
  qiao_partition_t *p = NULL;
  qiao_status_t st = qiao_ir_partition(g, NULL, &p);
  cr_assert(st == NULL, "%s", qiao_status_message(st));
  int32_t n = 0;
  for (int32_t i = 0; i < p->n_kernels; ++i) n += p->kernels[i].kind == kind;
  if (total) *total = p->n_kernels;
  qiao_ir_partition_destroy(p);
  return n;
}

/* ---------------------------------------------------------------- partition */

Test(partition, mlp_is_three_kernels) {
  qiao_graph_t *g = parse_example("mlp");
  int32_t total;
  cr_expect_eq(count_kernels(g, QIAO_KD_MATMUL, &total), 3);
  cr_expect_eq(total, 3, "silu*up must fuse into the gate matmul's epilogue; got %d kernels", total);
  qiao_ir_graph_destroy(g);
}

Test(partition, llama_block_kernels) {
  qiao_graph_t *g = parse_example("llama_block");
  int32_t total;
  /* q,k,v (norm prologue), o-proj + residual, gate + silu*up, up, down + residual */
  cr_expect_eq(count_kernels(g, QIAO_KD_MATMUL, &total), 7);
  cr_expect_eq(count_kernels(g, QIAO_KD_NORM, NULL), 0, "both rms_norms fuse into matmul prologues");
  cr_expect_eq(count_kernels(g, QIAO_KD_ELEMENTWISE, NULL), 0, "every add/mul fuses into a matmul");
  cr_expect_eq(count_kernels(g, QIAO_KD_ATTENTION, NULL), 1);
  cr_expect_eq(total, 14);
  qiao_ir_graph_destroy(g);
}

Test(partition, moe_block_kernels) {
  qiao_graph_t *g = parse_example("moe_block");
  int32_t total;
  cr_expect_eq(count_kernels(g, QIAO_KD_MOE, &total), 1);
  cr_expect_eq(count_kernels(g, QIAO_KD_NORM, NULL), 1, "the norm feeds moe too: not fusable");
  cr_expect_eq(count_kernels(g, QIAO_KD_ELEMENTWISE, NULL), 0);
  cr_expect_eq(total, 5);
  qiao_ir_graph_destroy(g);
}

Test(partition, elementwise_chain_is_one_kernel) {
  qiao_graph_t *g = parse("graph @t(%x: f32[3, 17], %b: f32[17]) -> (f32[3, 17]) {\n"
                          "  %y = mul (sigmoid (add %x, %b)), (tanh (neg %x))\n  return %y\n}\n");
  int32_t total;
  cr_expect_eq(count_kernels(g, QIAO_KD_ELEMENTWISE, &total), 1);
  cr_expect_eq(total, 1);
  qiao_partition_t *p;
  cr_assert_null(qiao_ir_partition(g, NULL, &p));
  const qiao_kernel_desc_t *kd = &p->kernels[0];
  cr_expect_eq(kd->n_inputs, 2, "x is loaded once even though it is used twice");
  cr_expect_eq(kd->inputs[1].out_strides[0], 0, "b broadcasts over rows");
  cr_expect_eq(kd->inputs[1].out_strides[1], 1);
  cr_expect_eq(kd->n_ops, 5);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

Test(partition, multi_use_value_is_materialized) {
  qiao_graph_t *g = parse("graph @t(%x: f32[4]) -> (f32[4], f32[4]) {\n"
                          "  %e = exp %x\n  %y = mul %e, 2.0\n  return %e, %y\n}\n");
  int32_t total;
  count_kernels(g, QIAO_KD_ELEMENTWISE, &total);
  cr_expect_eq(total, 2, "a graph output cannot be fused away");
  qiao_ir_graph_destroy(g);
}

Test(partition, hash_is_stable_and_discriminates) {
  qiao_graph_t *a = parse("graph @a(%x: f32[4, 8]) -> (f32[4, 8]) {\n  %y = exp %x\n  return %y\n}\n");
  qiao_graph_t *b = parse("graph @b(%z: f32[4, 8]) -> (f32[4, 8]) {\n  %w = exp %z\n  return %w\n}\n");
  qiao_graph_t *c = parse("graph @c(%x: f32[4, 9]) -> (f32[4, 9]) {\n  %y = exp %x\n  return %y\n}\n");
  qiao_partition_t *pa, *pb, *pc;
  cr_assert_null(qiao_ir_partition(a, NULL, &pa));
  cr_assert_null(qiao_ir_partition(b, NULL, &pb));
  cr_assert_null(qiao_ir_partition(c, NULL, &pc));
  cr_expect_eq(qiao_kernel_desc_hash(&pa->kernels[0]), qiao_kernel_desc_hash(&pb->kernels[0]),
               "names do not change the kernel");
  cr_expect_neq(qiao_kernel_desc_hash(&pa->kernels[0]), qiao_kernel_desc_hash(&pc->kernels[0]));
  cr_expect(qiao_kernel_desc_equal(&pa->kernels[0], &pb->kernels[0]));
  cr_expect(!qiao_kernel_desc_equal(&pa->kernels[0], &pc->kernels[0]));
  qiao_kernel_desc_t *tweaked = NULL;
  cr_assert_null(qiao_kernel_desc_clone(&pa->kernels[0], &tweaked));
  tweaked->expr[tweaked->n_expr - 1].dtype = QIAO_BF16;
  cr_expect(!qiao_kernel_desc_equal(&pa->kernels[0], tweaked), "a cache hit needs every field");
  qiao_kernel_desc_destroy(tweaked);
  qiao_ir_partition_destroy(pa);
  qiao_ir_partition_destroy(pb);
  qiao_ir_partition_destroy(pc);
  qiao_ir_graph_destroy(a);
  qiao_ir_graph_destroy(b);
  qiao_ir_graph_destroy(c);
}

/* ---------------------------------------------------------------- memory plan */

Test(memory_plan, chain_reuses_two_slots) {
  qiao_mem_request_t r[10];
  for (int i = 0; i < 10; ++i) r[i] = (qiao_mem_request_t){.size = 1000, .first = i, .last = i + 1};
  int64_t arena;
  cr_assert_null(qiao_mem_plan(r, 10, &arena));
  cr_expect_eq(arena, 2 * 1024, "a chain of 10 buffers needs two slots, got %lld", (long long)arena);
}

Test(memory_plan, random_requests_never_overlap) {
  uint64_t s = 12345;
  for (int trial = 0; trial < 50; ++trial) {
    qiao_mem_request_t r[40];
    int n = 5 + trial % 35;
    for (int i = 0; i < n; ++i) {
      s ^= s << 13, s ^= s >> 7, s ^= s << 17;
      int first = (int)(s % 30);
      r[i].first = first;
      r[i].last = first + (int)((s >> 8) % 6);
      r[i].size = 1 + (int64_t)((s >> 16) % 5000);
    }
    int64_t arena, naive = 0;
    cr_assert_null(qiao_mem_plan(r, n, &arena));
    for (int i = 0; i < n; ++i) {
      naive += (r[i].size + 63) / 64 * 64;
      cr_expect_eq(r[i].offset % 64, 0);
      cr_expect(r[i].offset + r[i].size <= arena);
      for (int j = 0; j < i; ++j) {
        bool live = !(r[i].last < r[j].first || r[j].last < r[i].first);
        bool mem = !(r[i].offset + r[i].size <= r[j].offset || r[j].offset + r[j].size <= r[i].offset);
        cr_expect(!(live && mem), "requests %d and %d overlap in time and memory", i, j);
      }
    }
    cr_expect(arena <= naive);
  }
}

Test(memory_plan, program_reports_reuse) {
  qiao_graph_t *g = parse("graph @t(%x: f32[64, 64]) -> (f32[64, 64]) {\n"
                          "  %a = softmax %x\n  %b = softmax %a\n  %c = softmax %b\n  %d = softmax %c\n"
                          "  return %d\n}\n");
  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu:threads=1", &d));
  qiao_program_t *p;
  qiao_status_t st = qiao_program_compile(NULL, g, d, NULL, &p);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_program_stats_t s;
  qiao_program_stats(p, &s);
  cr_expect_eq(s.n_kernels, 4);
  cr_expect_eq(s.naive_bytes, 4 * 64 * 64 * 4);
  cr_expect_eq(s.peak_bytes, 2 * 64 * 64 * 4, "peak %lld", (long long)s.peak_bytes);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- cache */

Test(runtime, compile_cache_hits_on_same_kernels) {
  qiao_graph_t *g = parse_example("mlp");
  qiao_runtime_t *rt;
  cr_assert_null(qiao_runtime_create(&rt));
  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &d));
  qiao_program_t *p1, *p2;
  qiao_compile_options_t opts = {.poison = true};
  qiao_status_t st = qiao_program_compile(rt, g, d, &opts, &p1);
  cr_assert_null(st, "%s", qiao_status_message(st));
  st = qiao_program_compile(rt, g, d, &opts, &p2);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_program_stats_t s1, s2;
  qiao_program_stats(p1, &s1);
  qiao_program_stats(p2, &s2);
  cr_expect_eq(s1.n_cached, 0);
  cr_expect_eq(s2.n_cached, s2.n_kernels);
  qiao_cache_stats_t cs;
  qiao_runtime_cache_stats(rt, &cs);
  cr_expect_eq(cs.hits, 3);
  cr_expect_eq(cs.misses, 3);
  /* The cached program runs and computes what the interpreter does (and what
   * the first program does, bit for bit), with the first program destroyed:
   * the cache keeps the executables alive. */
  oracle_opts_t o = {.seed = 3};
  oracle_result_t r;
  cr_assert(oracle_run_programs(g, p2, p1, &o, &r), "%s", r.message);
  cr_expect_eq(r.n_outputs, 1);
  ORACLE_EXPECT_OK(r, "%s", "cached program");
  qiao_program_destroy(p1);
  cr_assert(oracle_run_programs(g, p2, NULL, &o, &r), "%s", r.message);
  ORACLE_EXPECT_OK(r, "%s", "cached program, first one destroyed");
  qiao_program_destroy(p2); /* the cache still holds the executables */
  qiao_program_t *p3;
  st = qiao_program_compile(rt, g, d, &opts, &p3);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_program_stats_t s3;
  qiao_program_stats(p3, &s3);
  cr_expect_eq(s3.n_cached, s3.n_kernels, "both programs gone, the cache still serves");
  o.seed = 4;
  cr_assert(oracle_run_programs(g, p3, NULL, &o, &r), "%s", r.message);
  ORACLE_EXPECT_OK(r, "%s", "program compiled after the others were destroyed");
  qiao_program_destroy(p3);
  qiao_runtime_destroy(rt);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- AOT */

Test(runtime, aot_shared_library_is_loaded_and_dispatched) {
  qiao_graph_t *g = parse("graph @t(%a: f32[5, 7], %b: f32[7]) -> (f32[5, 7]) {\n"
                          "  %y = silu (add %a, %b)\n  return %y\n}\n");
  qiao_partition_t *part;
  cr_assert_null(qiao_ir_partition(g, NULL, &part));
  cr_assert_eq(part->n_kernels, 1);
  qiao_cpu_module_t *m;
  cr_assert_null(qiao_cpu_module_create(NULL, &m));
  qiao_kernel_launch_t l;
  qiao_status_t st = qiao_cpu_module_add_kernel(m, &part->kernels[0], "silu_add", &l);
  cr_assert_null(st, "%s", qiao_status_message(st));
  char so[256], obj[256];
  snprintf(so, sizeof so, "/tmp/qiao-aot-%d.so", (int)getpid());
  snprintf(obj, sizeof obj, "/tmp/qiao-aot-%d.o", (int)getpid());
  st = qiao_cpu_module_emit_object(m, obj);
  cr_assert_null(st, "%s", qiao_status_message(st));
  FILE *f = fopen(obj, "rb");
  cr_assert_not_null(f);
  unsigned char magic[4] = {0};
  cr_expect_eq(fread(magic, 1, 4, f), 4);
  fclose(f);
  cr_expect(magic[0] == 0x7F && magic[1] == 'E' && magic[2] == 'L' && magic[3] == 'F');
  st = qiao_cpu_module_emit_shared(m, so);
  cr_assert_null(st, "%s", qiao_status_message(st));
  qiao_cpu_module_destroy(m);

  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu:threads=2", &d));
  qiao_hal_executable_t *exe;
  st = qiao_hal_executable_load_file(d, so, &exe);
  cr_assert_null(st, "%s", qiao_status_message(st));
  int32_t idx;
  qiao_hal_entry_info_t info;
  cr_assert_null(qiao_hal_executable_lookup(exe, "silu_add", &idx, &info));
  cr_expect_eq(info.n_bindings, 3);

  qiao_tensor_t *a, *b, *ref[1];
  qiao_tensor_create(g->values[g->inputs[0]].type, &a);
  qiao_tensor_create(g->values[g->inputs[1]].type, &b);
  uint64_t rng = 77;
  qiao_tensor_fill_random(a, &rng, -2, 2);
  qiao_tensor_fill_random(b, &rng, -2, 2);
  qiao_hal_buffer_t *ba, *bb, *bo;
  cr_assert_null(qiao_hal_buffer_alloc(d, qiao_tensor_nbytes(a), &ba));
  cr_assert_null(qiao_hal_buffer_alloc(d, qiao_tensor_nbytes(b), &bb));
  cr_assert_null(qiao_hal_buffer_alloc(d, qiao_tensor_nbytes(a), &bo));
  memset(qiao_hal_buffer_host_ptr(bo), 0xFF, qiao_tensor_nbytes(a)); /* poison */
  cr_assert_null(qiao_hal_buffer_write(ba, 0, a->data, qiao_tensor_nbytes(a)));
  cr_assert_null(qiao_hal_buffer_write(bb, 0, b->data, qiao_tensor_nbytes(b)));
  qiao_hal_binding_t bind[3] = {{ba, 0}, {bb, 0}, {bo, 0}};
  st = qiao_hal_dispatch(d, exe, idx, l.grid, bind, 3, NULL, 0);
  cr_assert_null(st, "%s", qiao_status_message(st));
  const qiao_tensor_t *ins[2] = {a, b};
  cr_assert_null(qiao_interp_run(g, ins, NULL, NULL, NULL, 0, ref));
  qiao_tensor_t out = {.type = ref[0]->type, .data = qiao_hal_buffer_host_ptr(bo)};
  double err = oracle_error(&out, ref[0]);
  cr_expect(err <= 1e-5, "AOT result error %g", err);

  qiao_tensor_destroy(ref[0]);
  qiao_tensor_destroy(a);
  qiao_tensor_destroy(b);
  qiao_hal_buffer_release(ba);
  qiao_hal_buffer_release(bb);
  qiao_hal_buffer_release(bo);
  qiao_hal_executable_release(exe);
  qiao_hal_device_release(d);
  unlink(so);
  unlink(obj);
  qiao_ir_partition_destroy(part);
  qiao_ir_graph_destroy(g);
}

Test(runtime, llvm_ir_is_printable) {
  qiao_graph_t *g = parse("graph @t(%a: f32[16]) -> (f32[16]) {\n  %y = exp %a\n  return %y\n}\n");
  qiao_partition_t *part;
  cr_assert_null(qiao_ir_partition(g, NULL, &part));
  qiao_cpu_module_t *m;
  cr_assert_null(qiao_cpu_module_create(NULL, &m));
  cr_assert_null(qiao_cpu_module_add_kernel(m, &part->kernels[0], "exp16", NULL));
  cr_assert_null(qiao_cpu_module_optimize(m));
  char *ir;
  cr_assert_null(qiao_cpu_module_print_ir(m, &ir));
  cr_expect(strstr(ir, "define") && strstr(ir, "@exp16"), "IR: %.200s", ir);
  free(ir);
  qiao_status_t late = qiao_cpu_module_add_kernel(m, &part->kernels[0], "late", NULL);
  cr_expect_not_null(late, "adding after optimize is an error");
  qiao_status_free(late);
  qiao_cpu_module_destroy(m);
  qiao_ir_partition_destroy(part);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- errors */

Test(runtime, unbound_param_is_named) {
  qiao_graph_t *g = parse_example("mlp");
  qiao_hal_device_t *d;
  cr_assert_null(qiao_hal_device_open("cpu", &d));
  qiao_program_t *p;
  cr_assert_null(qiao_program_compile(NULL, g, d, NULL, &p));
  qiao_tensor_t *x, *out[1];
  qiao_tensor_create(g->values[g->inputs[0]].type, &x);
  const qiao_tensor_t *ins[1] = {x};
  qiao_status_t st = qiao_program_run(p, ins, out);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "param \"mlp.gate\" not bound"), "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  qiao_tensor_t *w;
  qiao_type_t wrong = {QIAO_F32, {2, {3, 3}}};
  qiao_tensor_create(wrong, &w);
  st = qiao_program_bind_param(p, "mlp.up", w);
  cr_assert_not_null(st);
  cr_expect(strstr(qiao_status_message(st), "expected f32[64, 172], got f32[3, 3]"), "%s",
            qiao_status_message(st));
  qiao_status_free(st);
  st = qiao_program_bind_param(p, "nope", w);
  cr_expect(strstr(qiao_status_message(st), "no param \"nope\""), "%s", qiao_status_message(st));
  qiao_status_free(st);
  qiao_tensor_destroy(w);
  qiao_tensor_destroy(x);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

Test(runtime, unknown_device_uri_is_clear) {
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open("tpu:0", &d);
  cr_assert_not_null(st);
  cr_expect_null(d);
  cr_expect(strstr(qiao_status_message(st), "tpu:0"), "%s", qiao_status_message(st));
  qiao_status_free(st);
}

/* A chain longer than a descriptor's expression budget and a sum of more
 * inputs than a descriptor holds: fusion splits them, results stay right. */
Test(partition, budgets_split_kernels) {
  char *text = malloc(1 << 16);
  size_t n = 0;
  n += (size_t)sprintf(text + n, "graph @wide(");
  for (int i = 0; i < 20; ++i) n += (size_t)sprintf(text + n, "%s%%x%d: f32[3, 5]", i ? ", " : "", i);
  n += (size_t)sprintf(text + n, ") -> (f32[3, 5], f32[3, 5]) {\n  %%s0 = add %%x0, %%x1\n");
  for (int i = 2; i < 20; ++i) n += (size_t)sprintf(text + n, "  %%s%d = add %%s%d, %%x%d\n", i - 1, i - 2, i);
  n += (size_t)sprintf(text + n, "  %%c0 = sigmoid %%x0\n");
  for (int i = 1; i < 90; ++i) n += (size_t)sprintf(text + n, "  %%c%d = %s %%c%d\n", i, i % 2 ? "tanh" : "sigmoid", i - 1);
  n += (size_t)sprintf(text + n, "  return %%s18, %%c89\n}\n");
  qiao_graph_t *g = parse(text);
  free(text);
  qiao_partition_t *p;
  qiao_status_t st = qiao_ir_partition(g, NULL, &p);
  cr_assert_null(st, "%s", qiao_status_message(st));
  cr_expect_gt(p->n_kernels, 2, "budgets force more than one kernel per output");
  for (int32_t k = 0; k < p->n_kernels; ++k) {
    cr_expect_leq(p->kernels[k].n_inputs, QIAO_KD_MAX_OPERANDS);
    cr_expect_leq(p->kernels[k].n_expr, QIAO_EXPR_MAX_NODES);
  }
  qiao_ir_partition_destroy(p);
  oracle_result_t r;
  cr_assert(oracle_run(g, "cpu:threads=2", 9, &r), "%s", r.message);
  ORACLE_EXPECT_OK(r, "%s", "budgets");
  qiao_ir_graph_destroy(g);
}

Test(partition, concat_beyond_operand_limit_is_split) {
  char text[4096];
  size_t n = (size_t)snprintf(text, sizeof text, "graph @c(");
  for (int i = 0; i < 20; ++i) n += (size_t)snprintf(text + n, sizeof text - n, "%s%%x%d: f32[2]", i ? ", " : "", i);
  n += (size_t)snprintf(text + n, sizeof text - n, ") -> (f32[40]) {\n  %%y = concat ");
  for (int i = 0; i < 20; ++i) n += (size_t)snprintf(text + n, sizeof text - n, "%s%%x%d", i ? ", " : "", i);
  snprintf(text + n, sizeof text - n, " {axis = 0}\n  return %%y\n}\n");
  qiao_graph_t *g = parse(text);
  qiao_partition_t *p = NULL;
  cr_assert_null(qiao_ir_partition(g, NULL, &p));
  cr_assert_eq(p->n_kernels, 2, "20 inputs: 16 + 4");
  cr_expect_eq(p->kernels[0].n_inputs, 16);
  cr_expect_eq(p->kernels[0].copy_out_offset, 0);
  cr_expect_eq(p->kernels[1].n_inputs, 4);
  cr_expect_eq(p->kernels[1].copy_out_offset, 32);
  qiao_ir_partition_destroy(p);
  qiao_ir_graph_destroy(g);
}

/* ---------------------------------------------------------------- the oracle itself */

static qiao_tensor_t *vec(qiao_dtype_t dt, const double *v, int64_t n) {
  qiao_tensor_t *t;
  qiao_type_t ty = {dt, {1, {n}}};
  cr_assert_null(qiao_tensor_create(ty, &t));
  for (int64_t i = 0; i < n; ++i) qiao_tensor_set_f64(t, i, v[i]);
  return t;
}

Test(oracle, elementwise_check_catches_what_the_normalized_error_misses) {
  char why[384];
  const double r[4] = {1000.0, 1e-3, NAN, -INFINITY};
  qiao_tensor_t *ref = vec(QIAO_F32, r, 4);
  qiao_tensor_t *same = vec(QIAO_F32, r, 4);
  cr_expect(oracle_check_elements(same, ref, false, why, sizeof why), "%s", why);

  const double small[4] = {1000.0, 2e-3, NAN, -INFINITY}; /* normalized error 1e-6 */
  qiao_tensor_t *x = vec(QIAO_F32, small, 4);
  cr_expect_leq(oracle_error(x, ref), oracle_tolerance(QIAO_F32));
  cr_expect(!oracle_check_elements(x, ref, false, why, sizeof why));
  cr_expect(strstr(why, "element 1 [1]: got 0.00200000009, expected 0.00100000005"), "%s", why);
  /* an accumulating output is held to the tensor's scale there (1e-6 * 1000) */
  cr_expect(oracle_check_elements(x, ref, true, why, sizeof why), "%s", why);

  const double nan_lost[4] = {1000.0, 1e-3, 0.0, -INFINITY};
  qiao_tensor_t *y = vec(QIAO_F32, nan_lost, 4);
  cr_expect(!oracle_check_elements(y, ref, true, why, sizeof why));
  cr_expect(strstr(why, "element 2 [2]: got 0, expected nan"), "%s", why);

  const double inf_sign[4] = {1000.0, 1e-3, NAN, INFINITY};
  qiao_tensor_t *z = vec(QIAO_F32, inf_sign, 4);
  cr_expect(!oracle_check_elements(z, ref, true, why, sizeof why));
  cr_expect(strstr(why, "element 3 [3]: got inf, expected -inf"), "%s", why);

  const double nan_extra[4] = {1000.0, NAN, NAN, -INFINITY};
  qiao_tensor_t *w = vec(QIAO_F32, nan_extra, 4);
  cr_expect(!oracle_check_elements(w, ref, true, why, sizeof why));
  cr_expect(strstr(why, "element 1 [1]: got nan"), "%s", why);

  const double ia[3] = {1, -5, 7}, ib[3] = {1, -5, 8};
  qiao_tensor_t *i1 = vec(QIAO_I32, ia, 3), *i2 = vec(QIAO_I32, ib, 3);
  cr_expect(!oracle_check_elements(i2, i1, false, why, sizeof why));
  cr_expect(strstr(why, "element 2 [2]: got 8, expected 7"), "%s", why);

  qiao_tensor_t *all[] = {ref, same, x, y, z, w, i1, i2};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) qiao_tensor_destroy(all[i]);
}

Test(oracle, edge_inputs_hold_every_class) {
  /* A float input in edge mode carries NaN, +-inf, +-0 and subnormals (row 0 is an edge
   * row); a full -inf row (row 4); and the run still matches the interpreter. */
  qiao_graph_t *g = parse("graph @t(%x: f32[8, 64]) -> (f32[8, 64]) {\n  %y = neg %x\n  return %y\n}\n");
  oracle_opts_t o = {.seed = 5, .edge_values = true};
  oracle_result_t r;
  cr_assert(oracle_run_opts(g, "cpu:threads=1", &o, &r), "%s", r.message);
  ORACLE_EXPECT_OK(r, "%s", "neg of edge values");
  qiao_ir_graph_destroy(g);
}

Test(oracle, accumulating_outputs_are_found) {
  /* The accumulation analysis follows operands back to the inputs. */
  qiao_graph_t *g = parse("graph @t(%x: f32[3, 4], %w: f32[4, 4]) -> (f32[3, 4], f32[3, 4], f32[3]) {\n"
                          "  %e = exp %x\n  %m = relu (matmul %x, %w)\n  %s = reduce_max %x\n"
                          "  return %e, %m, %s\n}\n");
  cr_expect(!oracle_output_accumulates(g, 0));
  cr_expect(oracle_output_accumulates(g, 1));
  cr_expect(!oracle_output_accumulates(g, 2), "reduce_max selects exactly");
  qiao_ir_graph_destroy(g);
}
