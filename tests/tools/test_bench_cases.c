/* The attention/MoE benchmark case list (bench/attn-moe-cases.txt) and its
 * parser (bench/peers/cases.h), shared by qiao-bench and the ggml peer: the
 * committed list parses and covers the shapes issue 7 asks for, bad lines are
 * refused with file:line, and the work formulas the % columns use. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../bench/peers/cases.h"

#define CASES QIAO_SOURCE_DIR "/bench/attn-moe-cases.txt"

static bench_am_case_t g_cases[256];

static const bench_am_case_t *find(const bench_am_case_t *c, int n, const char *name) {
  for (int i = 0; i < n; ++i)
    if (!strcmp(c[i].name, name)) return &c[i];
  return NULL;
}

Test(bench_cases, committed_list_parses_and_covers_the_issue) {
  char err[256] = "";
  int n = bench_am_cases_load(CASES, g_cases, 256, err, sizeof err);
  cr_assert_gt(n, 0, "%s", err);
  /* decode KV 512..32768 in every KV dtype, GQA 32/8, D 128 */
  const char *dts[] = {"f32", "f16", "bf16"};
  const int kv[] = {512, 4096, 32768};
  for (int d = 0; d < 3; ++d)
    for (int k = 0; k < 3; ++k) {
      char name[64];
      snprintf(name, sizeof name, "decode_kv%d_%s", kv[k], dts[d]);
      const bench_am_case_t *c = find(g_cases, n, name);
      cr_assert_not_null(c, "%s missing", name);
      cr_expect_eq(c->kind, BENCH_ATTN);
      cr_expect(c->Hq == 32 && c->Hkv == 8 && c->D == 128 && c->Sq == 1 && c->Skv == kv[k]);
      cr_expect_str_eq(c->dtype, dts[d]);
    }
  const bench_am_case_t *p = find(g_cases, n, "prefill_q128_kv4096_f32");
  cr_assert_not_null(p);
  cr_expect(p->Sq == 128 && p->Skv == 4096 && !p->causal);
  const int cz[] = {512, 2048, 4096};
  for (int i = 0; i < 3; ++i) {
    char name[64];
    snprintf(name, sizeof name, "causal_%d_f32", cz[i]);
    const bench_am_case_t *c = find(g_cases, n, name);
    cr_assert_not_null(c, "%s missing", name);
    cr_expect(c->causal && c->Sq == cz[i] && c->Skv == cz[i]);
  }
  /* MoE: 8 and 64 experts, top-2 and top-8, 1..512 tokens, f32 and bf16 weights */
  bool e8 = false, e64 = false, k2 = false, k8 = false, t1 = false, t512 = false, bf = false;
  int checks[2] = {0, 0}, shorts[2] = {0, 0};
  for (int i = 0; i < n; ++i) {
    const bench_am_case_t *c = &g_cases[i];
    if (c->check) checks[c->kind]++;
    if (c->short_set) shorts[c->kind]++;
    if (c->kind != BENCH_MOE || c->check) continue;
    cr_expect(c->dim == 2048 && c->hidden == 1408, "%s", c->name);
    e8 |= c->E == 8, e64 |= c->E == 64, k2 |= c->top_k == 2, k8 |= c->top_k == 8;
    t1 |= c->T == 1, t512 |= c->T == 512, bf |= !strcmp(c->dtype, "bf16");
  }
  cr_expect(e8 && e64 && k2 && k8 && t1 && t512 && bf);
  cr_expect_geq(checks[BENCH_ATTN], 3, "small cases the peers are compared on");
  cr_expect_geq(checks[BENCH_MOE], 2);
  cr_expect_geq(shorts[BENCH_ATTN], 1, "a short set for make bench");
  cr_expect_geq(shorts[BENCH_MOE], 1);
  /* names are unique: the peers look cases up by name */
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      cr_expect_str_neq(g_cases[i].name, g_cases[j].name);
}

static int load_text(const char *text, char *err, size_t cap) {
  char path[] = "/tmp/qiao-bench-cases-XXXXXX";
  int fd = mkstemp(path);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
  close(fd);
  int n = bench_am_cases_load(path, g_cases, 256, err, cap);
  remove(path);
  return n;
}

Test(bench_cases, bad_lines_name_their_line) {
  char err[256];
  const char *bad[] = {
      "attn a 1 32 8 1 512 128 f32 0\nattn b 1 32 8 1 512 128 f8 0\n",  /* dtype */
      "attn a 1 32 8 1 512 128 f32 0\nattn b 1 30 8 1 512 128 f32 0\n", /* Hq % Hkv */
      "attn a 1 32 8 1 512 128 f32 0\nattn b 1 32 8 9 8 128 f32 0\n",   /* Skv < Sq */
      "attn a 1 32 8 1 512 128 f32 0\nmoe b 4 64 32 8 9 f32\n",         /* top_k > E */
      "attn a 1 32 8 1 512 128 f32 0\nmoe b 4 64 32 8 2 f32 fast\n",    /* unknown tag */
      "attn a 1 32 8 1 512 128 f32 0\nconv b 1 2 3\n",                  /* unknown kind */
      "attn a 1 32 8 1 512 128 f32 0\nmoe b 4 64\n",                    /* short line */
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; ++i) {
    err[0] = 0;
    cr_expect_eq(load_text(bad[i], err, sizeof err), -1, "case %zu accepted", i);
    cr_expect(strstr(err, ":2: bad case line") != NULL, "case %zu: '%s'", i, err);
  }
  cr_expect_eq(bench_am_cases_load("/nonexistent/cases.txt", g_cases, 256, err, sizeof err), -1);
  cr_expect(strstr(err, "cannot open") != NULL);
}

Test(bench_cases, comments_tags_and_work) {
  char err[256] = "";
  int n = load_text("# comment\n\n"
                    "attn c 2 4 2 3 5 8 f16 1 short check # trailing\n"
                    "moe m 4 16 8 8 2 bf16 short\n",
                    err, sizeof err);
  cr_assert_eq(n, 2, "%s", err);
  const bench_am_case_t *a = &g_cases[0], *m = &g_cases[1];
  cr_expect(a->kind == BENCH_ATTN && a->short_set && a->check && a->causal);
  cr_expect(a->B == 2 && a->Hq == 4 && a->Hkv == 2 && a->Sq == 3 && a->Skv == 5 && a->D == 8);
  /* causal, query i at key position Skv - Sq + i: 3 + 4 + 5 = 12 pairs per head */
  cr_expect_float_eq(bench_am_flops(a), 4.0 * 2 * 4 * 8 * 12, 1e-9);
  cr_expect_float_eq(bench_am_bytes(a), 2.0 * 2 * 2 * 5 * 8 * 2, 1e-9);
  cr_expect(m->kind == BENCH_MOE && m->short_set && !m->check);
  cr_expect(m->T == 4 && m->dim == 16 && m->hidden == 8 && m->E == 8 && m->top_k == 2);
  cr_expect_float_eq(bench_am_flops(m), 2.0 * 4 * 16 * 8 + 6.0 * 4 * 2 * 16 * 8, 1e-9);
  /* 8 routed (token, expert) pairs can touch all 8 experts */
  cr_expect_float_eq(bench_am_bytes(m), 8.0 * 3 * 16 * 8 * 2, 1e-9);
}
