/* Dispatch by cost model: the variants the CUDA backend offers for attention
 * and MoE descriptors on simt-emu:h100 and the one the runtime picks (which
 * changes with the shapes where it should), every forced variant against the
 * reference interpreter, the CPU's variants (decode attention, MoE: every
 * forced one against the interpreter, autotuned), the autotune cache (round
 * trip, corrupt file), the hybrid plan, and qiao-run --explain's lines. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qiao/backend.h"
#include "qiao/runtime.h"
#include "support/oracle.h"

#define RUN QIAO_BINARY_DIR "/qiao-run"
#define EX QIAO_SOURCE_DIR "/examples/"
#define EMU "simt-emu:h100"

static qiao_graph_t *parse(const char *text) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, strlen(text), "test.qir", &g);
  cr_assert_null(st, "parse: %s", st ? qiao_status_message(st) : "");
  return g;
}

/* The choice for the first kernel of kind `kind` in text's graph on `uri`. */
static void choose(const char *text, const char *uri, qiao_kd_kind_t kind,
                   qiao_variant_choice_t *out) {
  qiao_graph_t *g = parse(text);
  qiao_hal_device_t *d = NULL;
  qiao_status_t st = qiao_hal_device_open(uri, &d);
  cr_assert_null(st, "open %s: %s", uri, st ? qiao_status_message(st) : "");
  const qiao_backend_t *be = qiao_backend_for_device(d);
  cr_assert_not_null(be);
  qiao_partition_t *part = NULL;
  st = qiao_ir_partition(g, be->fusion_policy(d), &part);
  cr_assert_null(st);
  bool found = false;
  for (int32_t i = 0; i < part->n_kernels && !found; ++i) {
    if (part->kernels[i].kind != kind) continue;
    st = qiao_variant_choose(be, &part->kernels[i], d, NULL, out);
    cr_assert_null(st, "choose: %s", st ? qiao_status_message(st) : "");
    found = true;
  }
  cr_assert(found, "no %s kernel", qiao_kd_kind_name(kind));
  qiao_ir_partition_destroy(part);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

static bool has_variant(const qiao_variant_choice_t *vc, const char *name) {
  for (int32_t i = 0; i < vc->n; ++i)
    if (!strcmp(vc->variants[i].name, name)) return true;
  return false;
}
static const char *chosen(const qiao_variant_choice_t *vc) { return vc->variants[vc->chosen].name; }
/* Every variant predicted and the chosen one the cheapest. */
static void expect_cheapest(const qiao_variant_choice_t *vc) {
  for (int32_t i = 0; i < vc->n; ++i) {
    cr_expect(vc->ns[i] > 0, "%s: %s", vc->variants[i].name, vc->basis[i]);
    cr_expect(vc->ns[vc->chosen] <= vc->ns[i], "%s (%g ns) beats chosen %s (%g ns)",
              vc->variants[i].name, vc->ns[i], chosen(vc), vc->ns[vc->chosen]);
  }
  cr_expect_str_eq(vc->how, vc->n > 1 ? "cheapest predicted" : "only variant");
}

static char *attn_graph(const char *dt, int B, int Hq, int Hkv, int Sq, int Skv, int D,
                        const char *attrs) {
  char *t = malloc(1024);
  snprintf(t, 1024,
           "graph @a(%%q: %s[%d, %d, %d, %d], %%k: %s[%d, %d, %d, %d], %%v: %s[%d, %d, %d, %d]) "
           "-> (%s[%d, %d, %d, %d]) {\n  %%o = attention %%q, %%k, %%v%s\n  return %%o\n}\n",
           dt, B, Hq, Sq, D, dt, B, Hkv, Skv, D, dt, B, Hkv, Skv, D, dt, B, Hq, Sq, D, attrs);
  return t;
}

static char *moe_graph(const char *xdt, const char *wdt, int T, int D, int E, int F, int k) {
  char *t = malloc(1024);
  snprintf(t, 1024,
           "graph @m(%%x: %s[%d, %d], %%r: %s[%d, %d], %%g: %s[%d, %d, %d], %%u: %s[%d, %d, %d], "
           "%%d: %s[%d, %d, %d]) -> (%s[%d, %d]) {\n"
           "  %%y = moe %%x, %%r, %%g, %%u, %%d {top_k = %d, norm_topk = true, router_fn = "
           "\"softmax\"}\n  return %%y\n}\n",
           xdt, T, D, xdt, D, E, wdt, E, D, F, wdt, E, D, F, wdt, E, F, D, xdt, T, D, k);
  return t;
}

Test(variants, attention_decode_split_count_follows_kv_length) {
  qiao_variant_choice_t a, b;
  char *ga = attn_graph("f32", 1, 32, 8, 1, 128, 128, "");
  char *gb = attn_graph("f32", 1, 32, 8, 1, 16384, 128, "");
  choose(ga, EMU, QIAO_KD_ATTENTION, &a);
  choose(gb, EMU, QIAO_KD_ATTENTION, &b);
  for (int i = 0; i < 2; ++i) {
    const qiao_variant_choice_t *vc = i ? &b : &a;
    cr_expect(has_variant(vc, "flash-simt"));
    cr_expect(has_variant(vc, "splitkv(s=1)"));
    cr_expect(!has_variant(vc, "flash-tc"), "f32 has no tensor-core variant");
    cr_expect(!strncmp(chosen(vc), "splitkv(s=", 10), "decode picks split-KV, not %s", chosen(vc));
    expect_cheapest(vc);
  }
  /* a short cache does not split as much as a long one */
  int sa = atoi(chosen(&a) + 10), sb = atoi(chosen(&b) + 10);
  cr_expect(sa < sb, "splits %d (KV 128) vs %d (KV 16384)", sa, sb);
  free(ga);
  free(gb);
}

Test(variants, attention_decode_split_count_follows_batch) {
  qiao_variant_choice_t a, b;
  char *ga = attn_graph("f32", 1, 8, 2, 1, 4096, 64, "");
  char *gb = attn_graph("f32", 64, 8, 2, 1, 4096, 64, "");
  choose(ga, EMU, QIAO_KD_ATTENTION, &a);
  choose(gb, EMU, QIAO_KD_ATTENTION, &b);
  expect_cheapest(&a);
  expect_cheapest(&b);
  int sa = atoi(chosen(&a) + 10), sb = atoi(chosen(&b) + 10);
  cr_expect(sb < sa, "a larger batch fills the SMs with fewer splits: %d (B=1) vs %d (B=64)", sa,
            sb);
  free(ga);
  free(gb);
}

Test(variants, attention_prefill_tensor_cores_where_valid) {
  qiao_variant_choice_t h, f, small;
  char *gh = attn_graph("f16", 1, 32, 8, 2048, 2048, 128, " {causal = true}");
  char *gf = attn_graph("f32", 1, 32, 8, 2048, 2048, 128, " {causal = true}");
  /* 32 CTAs of the tensor-core tile against 128 of the SIMT one: too few to
   * fill 132 SMs, so the model prefers the SIMT schedule */
  char *gs = attn_graph("f16", 1, 8, 8, 256, 256, 64, " {causal = true}");
  choose(gh, EMU, QIAO_KD_ATTENTION, &h);
  choose(gf, EMU, QIAO_KD_ATTENTION, &f);
  choose(gs, EMU, QIAO_KD_ATTENTION, &small);
  cr_expect(has_variant(&h, "flash-tc") && has_variant(&h, "flash-simt"));
  cr_expect(!has_variant(&h, "splitkv(s=1)"), "no split-KV for a prefill");
  cr_expect_str_eq(chosen(&h), "flash-tc");
  cr_expect_eq(f.n, 1);
  cr_expect_str_eq(chosen(&f), "flash-simt");
  cr_expect_eq(small.n, 2);
  cr_expect_str_eq(chosen(&small), "flash-simt");
  expect_cheapest(&h);
  expect_cheapest(&f);
  expect_cheapest(&small);
  free(gh);
  free(gf);
  free(gs);
}

Test(variants, moe_grouped_tensor_cores_where_valid) {
  qiao_variant_choice_t h, f;
  char *gh = moe_graph("f16", "f16", 512, 2048, 8, 1408, 2);
  char *gf = moe_graph("f32", "f32", 512, 2048, 8, 1408, 2);
  choose(gh, EMU, QIAO_KD_MOE, &h);
  choose(gf, EMU, QIAO_KD_MOE, &f);
  cr_expect(has_variant(&h, "grouped-tc") && has_variant(&h, "grouped-simt"));
  cr_expect_str_eq(chosen(&h), "grouped-tc");
  cr_expect_eq(f.n, 1);
  cr_expect_str_eq(chosen(&f), "grouped-simt");
  expect_cheapest(&h);
  expect_cheapest(&f);
  free(gh);
  free(gf);
}

Test(variants, cpu_offers_variants_for_decode_attention_and_one_token_moe) {
  qiao_variant_choice_t a, m, mm;
  char *ga = attn_graph("f32", 1, 8, 2, 1, 256, 64, "");
  char *gm = moe_graph("f32", "f32", 1, 64, 4, 64, 2);
  choose(ga, "cpu:threads=2", QIAO_KD_ATTENTION, &a);
  choose(gm, "cpu:threads=2", QIAO_KD_MOE, &m);
  cr_expect_gt(a.n, 1);
  cr_expect(has_variant(&a, "one-pass") && has_variant(&a, "splitkv(s=2)") &&
            has_variant(&a, "splitkv(s=4)"));
  cr_expect(!has_variant(&a, "splitkv(s=8)"), "256 keys: no split of 32 keys");
  cr_expect_eq(m.n, 3);
  cr_expect(has_variant(&m, "per_token") && has_variant(&m, "decode_split") &&
            has_variant(&m, "grouped"));
  for (int k = 0; k < 2; ++k) {
    const qiao_variant_choice_t *vc = k ? &m : &a;
    expect_cheapest(vc);
    for (int32_t i = 0; i < vc->n; ++i) {
      cr_expect_gt(vc->variants[i].id, 0);
      cr_expect(strstr(vc->basis[i], "roofline, host-cpu") != NULL, "%s", vc->basis[i]);
    }
  }
  /* a prefill has no split-KV; a matmul stays the backend's one plan */
  char *gp = attn_graph("f32", 1, 8, 2, 64, 256, 64, "");
  choose(gp, "cpu:threads=2", QIAO_KD_ATTENTION, &mm);
  cr_expect_eq(mm.n, 1);
  cr_expect_str_eq(chosen(&mm), "planned by the backend");
  cr_expect(strstr(mm.basis[0], "roofline, host-cpu") != NULL, "%s", mm.basis[0]);
  free(ga);
  free(gm);
  free(gp);
}

/* Every variant of kd, forced, matches the interpreter (poisoned outputs). */
static void forced_variants_match_on(const char *uri, const char *text, qiao_kd_kind_t kind,
                                     int min_variants) {
  qiao_variant_choice_t vc;
  choose(text, uri, kind, &vc);
  cr_assert_geq(vc.n, min_variants, "%d variants", vc.n);
  qiao_graph_t *g = parse(text);
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open(uri, &d));
  for (int32_t i = 0; i < vc.n; ++i) {
    qiao_compile_options_t co = {.no_cache = true, .poison = true};
    co.variant = vc.variants[i].name;
    qiao_program_t *p = NULL;
    qiao_status_t st = qiao_program_compile(NULL, g, d, &co, &p);
    cr_assert_null(st, "%s: %s", co.variant, st ? qiao_status_message(st) : "");
    oracle_opts_t oo = {.seed = 7 + (uint64_t)i};
    oracle_result_t r;
    bool ok = oracle_run_programs(g, p, NULL, &oo, &r);
    cr_expect(ok, "%s: %s", co.variant, r.message);
    if (ok) ORACLE_EXPECT_OK(r, "variant %s", co.variant);
    qiao_program_destroy(p);
  }
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

static void forced_variants_match(const char *text, qiao_kd_kind_t kind, int min_variants) {
  forced_variants_match_on(EMU, text, kind, min_variants);
}

Test(variants, forced_cpu_attention_decode_variants_match_interp, .timeout = 300) {
  char *t = attn_graph("f32", 2, 8, 2, 1, 300, 32, " {causal = true}");
  forced_variants_match_on("cpu:threads=2", t, QIAO_KD_ATTENTION, 3); /* one-pass, s=2, s=4 */
  free(t);
  t = attn_graph("f16", 1, 4, 1, 2, 260, 16, "");
  forced_variants_match_on("cpu:threads=3", t, QIAO_KD_ATTENTION, 3); /* one-pass, s=2, s=4 */
  free(t);
}

Test(variants, forced_cpu_moe_variants_match_interp, .timeout = 300) {
  char *t = moe_graph("f32", "f32", 1, 64, 4, 64, 2);
  forced_variants_match_on("cpu:threads=2", t, QIAO_KD_MOE, 3); /* per_token, decode_split, grouped */
  free(t);
  t = moe_graph("f32", "f32", 3, 32, 4, 48, 2);
  forced_variants_match_on("cpu:threads=1", t, QIAO_KD_MOE, 3);
  free(t);
  t = moe_graph("f16", "f16", 12, 32, 4, 32, 2);
  forced_variants_match_on("cpu:threads=2", t, QIAO_KD_MOE, 2); /* per_token, grouped */
  free(t);
}

Test(variants, forced_attention_decode_variants_match_interp, .timeout = 300) {
  char *t = attn_graph("f32", 2, 8, 2, 1, 70, 32, " {causal = true}");
  forced_variants_match(t, QIAO_KD_ATTENTION, 4); /* flash-simt, splitkv(s=1, 2, 3) */
  free(t);
}

Test(variants, forced_attention_prefill_variants_match_interp, .timeout = 300) {
  char *t = attn_graph("f16", 1, 4, 2, 24, 40, 32, " {causal = true}");
  forced_variants_match(t, QIAO_KD_ATTENTION, 2); /* flash-tc, flash-simt */
  free(t);
}

Test(variants, forced_moe_variants_match_interp, .timeout = 300) {
  char *t = moe_graph("f16", "f16", 6, 32, 4, 32, 2);
  forced_variants_match(t, QIAO_KD_MOE, 2); /* grouped-tc, grouped-simt */
  free(t);
}

Test(variants, unknown_forced_name_keeps_the_cheapest) {
  char *t = attn_graph("f16", 1, 4, 4, 64, 64, 32, "");
  qiao_graph_t *g = parse(t);
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open(EMU, &d));
  qiao_compile_options_t co = {.no_cache = true, .variant = "splitkv(s=4)"};
  qiao_program_t *p = NULL;
  cr_assert_null(qiao_program_compile(NULL, g, d, &co, &p));
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
  free(t);
}

/* ------------------------------------------------------------ autotune */

static char g_dir[64];

static void rm_tree(const char *path) {
  DIR *dd = opendir(path);
  if (!dd) {
    remove(path);
    return;
  }
  struct dirent *e;
  char p[1024];
  while ((e = readdir(dd))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(p, sizeof p, "%.500s/%.255s", path, e->d_name);
    rm_tree(p);
  }
  closedir(dd);
  rmdir(path);
}

/* The one cache file under <g_dir>/autotune (path into buf). */
static int cache_files(char *buf, size_t cap) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/autotune", g_dir);
  DIR *dd = opendir(dir);
  if (!dd) return 0;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(dd))) {
    if (e->d_name[0] == '.') continue;
    int w = snprintf(buf, cap, "%.127s/%.255s", dir, e->d_name);
    (void)w;
    n++;
  }
  closedir(dd);
  return n;
}

/* Compiles text on simt-emu, binds random params, autotunes; report into rep. */
static void autotune_on(const char *uri, const char *text, char *rep, size_t cap,
                        char *out_chosen) {
  qiao_graph_t *g = parse(text);
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open(uri, &d));
  qiao_program_t *p = NULL;
  qiao_compile_options_t co = {.no_cache = true};
  cr_assert_null(qiao_program_compile(NULL, g, d, &co, &p));
  qiao_tensor_t *in[8] = {0};
  cr_assert_leq(g->n_inputs, 8);
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    cr_assert_null(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    float *x = in[i]->data;
    int64_t n = qiao_shape_numel(&in[i]->type.shape);
    for (int64_t j = 0; j < n; ++j)
      x[j] = (float)((j * 37 % 101) - 50) / 50.0f;
  }
  qiao_autotune_options_t ao = {.cache_dir = g_dir, .runs = 1};
  qiao_status_t st = qiao_program_autotune(p, (const qiao_tensor_t *const *)in, &ao, rep, cap);
  cr_assert_null(st, "autotune: %s", st ? qiao_status_message(st) : "");
  qiao_kernel_explain_t *ks = NULL;
  int32_t n = 0;
  st = qiao_program_explain(p, g, (const qiao_tensor_t *const *)in, &ks, &n);
  cr_assert_null(st, "explain: %s", st ? qiao_status_message(st) : "");
  cr_assert_eq(n, 1);
  snprintf(out_chosen, 48, "%s", ks[0].variant.variants[ks[0].variant.chosen].name);
  cr_expect(!strncmp(ks[0].variant.how, "autotuned", 9), "%s", ks[0].variant.how);
  free(ks);
  for (int32_t i = 0; i < g->n_inputs; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
}

static void autotune_once(const char *text, char *rep, size_t cap, char *out_chosen) {
  autotune_on(EMU, text, rep, cap, out_chosen);
}

Test(variants, autotune_on_cpu_times_the_variants_and_caches_the_winner, .timeout = 300) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-variants-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  char *t = moe_graph("f32", "f32", 1, 64, 4, 64, 2);
  char rep[4096], c1[48], c2[48], path[512];
  autotune_on("cpu:threads=2", t, rep, sizeof rep, c1);
  cr_expect(strstr(rep, "autotune: k0: ") && strstr(rep, "variants, cached in"), "%s", rep);
  cr_expect(!strcmp(c1, "per_token") || !strcmp(c1, "decode_split") || !strcmp(c1, "grouped"),
            "%s", c1);
  cr_assert_eq(cache_files(path, sizeof path), 1);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char l1[64], l2[512], l3[128];
  cr_assert(fgets(l1, sizeof l1, f) && fgets(l2, sizeof l2, f) && fgets(l3, sizeof l3, f));
  fclose(f);
  cr_expect_str_eq(l1, "qiao-autotune 1\n");
  cr_expect(!strncmp(l2, "target cpu|", 11), "%s", l2);
  char want[80];
  snprintf(want, sizeof want, "variant %s\n", c1);
  cr_expect_str_eq(l3, want);
  /* second run: the cached winner */
  autotune_on("cpu:threads=2", t, rep, sizeof rep, c2);
  cr_expect(strstr(rep, "(cached in") != NULL, "%s", rep);
  cr_expect_str_eq(c2, c1);
  rm_tree(g_dir);
  free(t);
}

Test(variants, autotune_cache_round_trip_and_corrupt_file, .timeout = 300) {
  snprintf(g_dir, sizeof g_dir, "/tmp/qiao-variants-XXXXXX");
  cr_assert_not_null(mkdtemp(g_dir));
  char *t = attn_graph("f32", 1, 4, 2, 1, 96, 32, "");
  char rep[4096], c1[48], c2[48], c3[48], path[512];
  /* first run: every variant timed, the winner written */
  autotune_once(t, rep, sizeof rep, c1);
  cr_expect(strstr(rep, "autotune: k0: ") && strstr(rep, "variants, cached in"), "%s", rep);
  cr_assert_eq(cache_files(path, sizeof path), 1);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  char l1[64], l2[512], l3[128];
  cr_assert(fgets(l1, sizeof l1, f) && fgets(l2, sizeof l2, f) && fgets(l3, sizeof l3, f));
  fclose(f);
  cr_expect_str_eq(l1, "qiao-autotune 1\n");
  cr_expect(!strncmp(l2, "target cuda|", 12), "%s", l2);
  char want[80];
  snprintf(want, sizeof want, "variant %s\n", c1);
  cr_expect_str_eq(l3, want);
  /* second run: the cached winner, nothing timed */
  autotune_once(t, rep, sizeof rep, c2);
  cr_expect(strstr(rep, "(cached in") != NULL, "%s", rep);
  cr_expect_str_eq(c2, c1);
  /* a corrupt file is ignored with a warning, tuned again and rewritten */
  f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("qiao-autotune 1\ntarget cuda|other\nvariant ???\n", f);
  fclose(f);
  autotune_once(t, rep, sizeof rep, c3);
  cr_expect(strstr(rep, "warning: autotune cache ") &&
                strstr(rep, "ignored: written for another target"),
            "%s", rep);
  cr_expect(strstr(rep, "variants, cached in") != NULL, "%s", rep);
  f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs("\x01garbage", f);
  fclose(f);
  autotune_once(t, rep, sizeof rep, c3);
  cr_expect(strstr(rep, "ignored: not a qiao-autotune 1 file") != NULL, "%s", rep);
  rm_tree(g_dir);
  free(t);
}

/* ------------------------------------------------------------ hybrid plan */

static qiao_hybrid_step_t *hybrid(const char *text, const char *weights, int32_t *out_n,
                                  int32_t *out_kernels) {
  qiao_graph_t *g = NULL;
  qiao_status_t st = text[0] == '/' ? qiao_ir_parse_file(text, &g)
                                    : qiao_ir_parse(text, strlen(text), "t.qir", &g);
  cr_assert_null(st);
  qiao_hal_device_t *d = NULL;
  cr_assert_null(qiao_hal_device_open(EMU, &d));
  qiao_program_t *p = NULL;
  cr_assert_null(qiao_program_compile(NULL, g, d, NULL, &p));
  if (weights) {
    qiao_safetensors_t *w = NULL;
    cr_assert_null(qiao_safetensors_open(weights, &w));
    cr_assert_null(qiao_program_bind_weights(p, w));
    qiao_safetensors_destroy(w);
  } else {
    for (int32_t i = 0; i < qiao_program_param_count(p); ++i) {
      qiao_tensor_t *t = NULL;
      cr_assert_null(qiao_tensor_create(qiao_program_param_type(p, i), &t));
      memset(t->data, 0, (size_t)qiao_shape_numel(&t->type.shape) * qiao_dtype_size(t->type.dtype));
      cr_assert_null(qiao_program_bind_param(p, qiao_program_param_name(p, i), t));
      qiao_tensor_destroy(t);
    }
  }
  qiao_tensor_t *in[8] = {0};
  for (int32_t i = 0; i < g->n_inputs; ++i) {
    cr_assert_null(qiao_tensor_create(g->values[g->inputs[i]].type, &in[i]));
    memset(in[i]->data, 0,
           (size_t)qiao_shape_numel(&in[i]->type.shape) * qiao_dtype_size(in[i]->type.dtype));
  }
  qiao_kernel_explain_t *ks = NULL;
  int32_t n = 0;
  st = qiao_program_explain(p, g, (const qiao_tensor_t *const *)in, &ks, &n);
  cr_assert_null(st, "%s", st ? qiao_status_message(st) : "");
  qiao_hybrid_step_t *steps = NULL;
  st = qiao_program_hybrid_plan(p, ks, n, &steps, out_n);
  cr_assert_null(st, "%s", st ? qiao_status_message(st) : "");
  for (int32_t i = 0; i < *out_n; ++i) {
    cr_expect_lt(steps[i].cpu_ns + steps[i].transfer_ns, steps[i].device_ns);
    cr_expect(strstr(steps[i].link, "63.0 GB/s (profile h100-sxm)") != NULL, "%s", steps[i].link);
  }
  *out_kernels = n;
  free(ks);
  for (int32_t i = 0; i < g->n_inputs; ++i)
    qiao_tensor_destroy(in[i]);
  qiao_program_destroy(p);
  qiao_hal_device_release(d);
  qiao_ir_graph_destroy(g);
  return steps;
}

Test(variants, hybrid_plan_moves_a_launch_bound_moe_to_the_cpu, .timeout = 300) {
  /* one token: five launches on the device, a few KiB of weights on the host */
  char *t = moe_graph("f32", "f32", 1, 16, 4, 16, 2);
  int32_t n = 0, nk = 0;
  qiao_hybrid_step_t *s = hybrid(t, NULL, &n, &nk);
  cr_assert_eq(n, 1);
  cr_expect_str_eq(s[0].kind, "moe");
  cr_expect_str_eq(s[0].device_label, "modelled");
  free(s);
  free(t);
}

Test(variants, hybrid_plan_of_moe_block_is_consistent, .timeout = 300) {
  int32_t n = 0, nk = 0;
  qiao_hybrid_step_t *s = hybrid(EX "moe_block.qir", EX "moe_block.safetensors", &n, &nk);
  cr_expect_eq(nk, 5);
  for (int32_t i = 0; i < n; ++i) /* only the moe kernel can gain: the rest are one launch */
    cr_expect_str_eq(s[i].kind, "moe");
  free(s);
}

/* ------------------------------------------------------------ qiao-run */

typedef struct {
  int rc;
  char out[1 << 16];
} result_t;

static void run(const char *cmd, result_t *r) {
  char full[2048];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t n = fread(r->out, 1, sizeof r->out - 1, p);
  r->out[n] = 0;
  int st = pclose(p);
  r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(variants, explain_prints_choice_alternatives_and_hybrid_plan, .timeout = 300) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/qiao-variants-%d.qir", (int)getpid());
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  char *t = attn_graph("f32", 1, 8, 2, 1, 512, 64, "");
  fputs(t, f);
  fclose(f);
  free(t);
  result_t *r = malloc(sizeof *r);
  char cmd[256];
  snprintf(cmd, sizeof cmd, RUN " %s --device " EMU " --explain --check ref", path);
  run(cmd, r);
  cr_expect_eq(r->rc, 0, "%s", r->out);
  const char *parts[] = {"kernel k0: attention",
                         "  variant: splitkv(s=",
                         "(cheapest predicted; predicted ",
                         "modelled, h100-sxm: 2 launches",
                         "    alternative flash-simt: predicted ",
                         "    alternative splitkv(s=1): predicted ",
                         "  run: "};
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; ++i)
    cr_expect(strstr(r->out, parts[i]) != NULL, "missing '%s' in:\n%s", parts[i], r->out);
  /* forced */
  snprintf(cmd, sizeof cmd, RUN " %s --device " EMU " --explain --variant flash-simt --check ref",
           path);
  run(cmd, r);
  cr_expect_eq(r->rc, 0, "%s", r->out);
  cr_expect(strstr(r->out, "  variant: flash-simt (forced; predicted ") != NULL, "%s", r->out);
  /* the CPU: its variants, predicted (roofline over the host profile) vs measured */
  snprintf(cmd, sizeof cmd, RUN " %s --device cpu:threads=1 --explain --check ref", path);
  run(cmd, r);
  cr_expect_eq(r->rc, 0, "%s", r->out);
  cr_expect(strstr(r->out, "  variant: ") && strstr(r->out, " (cheapest predicted; predicted ") &&
                strstr(r->out, "roofline, host-cpu") &&
                strstr(r->out, "    alternative splitkv(s=8): predicted "),
            "%s", r->out);
  cr_expect(strstr(r->out, "hybrid plan:") == NULL, "no hybrid plan on the CPU:\n%s", r->out);
  unlink(path);
  /* the hybrid plan line of a launch-bound MoE */
  snprintf(path, sizeof path, "/tmp/qiao-variants-moe-%d.qir", (int)getpid());
  f = fopen(path, "w");
  cr_assert_not_null(f);
  t = moe_graph("f32", "f32", 1, 16, 4, 16, 2);
  fputs(t, f);
  fclose(f);
  free(t);
  snprintf(cmd, sizeof cmd, RUN " %s --device " EMU " --random --explain", path);
  run(cmd, r);
  cr_expect_eq(r->rc, 0, "%s", r->out);
  cr_expect(strstr(r->out, "hybrid plan: run k0 (moe) on cpu: predicted ") &&
                strstr(r->out, "(modelled; cpu roofline + ") && strstr(r->out, "not executed)"),
            "%s", r->out);
  unlink(path);
  free(r);
}
