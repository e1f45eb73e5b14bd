/* The attention/MoE benchmark case list (bench/attn-moe-cases.txt), parsed the
 * same way by qiao-bench and the ggml peer. Header-only: each includer gets its
 * own static copy. One case a line, '#' starts a comment:
 *
 *   attn NAME B Hq Hkv Sq Skv D DTYPE CAUSAL [TAGS...]   q [B,Hq,Sq,D], k/v [B,Hkv,Skv,D]
 *   moe  NAME T DIM HIDDEN E TOP_K WDTYPE [TAGS...]      x [T,DIM], experts in WDTYPE
 *
 * DTYPE is f32, f16 or bf16. Tags: "short" (the `make bench` subset), "check"
 * (a small case used only to compare each peer's output with Qiao's). */
#ifndef QIAO_BENCH_PEERS_CASES_H
#define QIAO_BENCH_PEERS_CASES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef enum { BENCH_ATTN = 0, BENCH_MOE = 1 } bench_kind_t;

typedef struct bench_am_case {
  bench_kind_t kind;
  char name[64];
  char dtype[8]; /* attention: q/k/v storage; moe: expert weights */
  bool short_set, check;
  /* attention */
  int64_t B, Hq, Hkv, Sq, Skv, D;
  bool causal;
  /* moe */
  int64_t T, dim, hidden, E, top_k;
} bench_am_case_t;

/* Reads up to `cap` cases from `path`; returns the count, or -1 (with a message
 * in `err`) on a bad line or an unreadable file. */
static inline int bench_am_cases_load(const char *path, bench_am_case_t *out, int cap, char *err,
                                      size_t err_cap) {
  FILE *f = fopen(path, "r");
  if (!f) {
    snprintf(err, err_cap, "%s: cannot open", path);
    return -1;
  }
  char line[512];
  int n = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    ++lineno;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char kind[8] = "", rest[256] = "";
    if (sscanf(line, "%7s", kind) != 1) continue;
    if (n >= cap) {
      snprintf(err, err_cap, "%s:%d: more than %d cases", path, lineno, cap);
      fclose(f);
      return -1;
    }
    bench_am_case_t *c = &out[n];
    memset(c, 0, sizeof *c);
    long long v[6];
    int causal = 0, used = 0, got;
    if (!strcmp(kind, "attn")) {
      c->kind = BENCH_ATTN;
      got = sscanf(line, "%*s %63s %lld %lld %lld %lld %lld %lld %7s %d%n", c->name, &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], c->dtype, &causal, &used);
      if (got != 9) goto bad;
      c->B = v[0], c->Hq = v[1], c->Hkv = v[2], c->Sq = v[3], c->Skv = v[4], c->D = v[5];
      c->causal = causal != 0;
      if (c->Hkv < 1 || c->Hq % c->Hkv || c->B < 1 || c->Sq < 1 || c->Skv < c->Sq || c->D < 1)
        goto bad;
    } else if (!strcmp(kind, "moe")) {
      c->kind = BENCH_MOE;
      got = sscanf(line, "%*s %63s %lld %lld %lld %lld %lld %7s%n", c->name, &v[0], &v[1], &v[2],
                   &v[3], &v[4], c->dtype, &used);
      if (got != 7) goto bad;
      c->T = v[0], c->dim = v[1], c->hidden = v[2], c->E = v[3], c->top_k = v[4];
      if (c->T < 1 || c->dim < 1 || c->hidden < 1 || c->top_k < 1 || c->top_k > c->E) goto bad;
    } else {
      goto bad;
    }
    if (strcmp(c->dtype, "f32") && strcmp(c->dtype, "f16") && strcmp(c->dtype, "bf16")) goto bad;
    snprintf(rest, sizeof rest, "%s", line + used);
    char *save = NULL;
    for (char *t = strtok_r(rest, " \t\r\n", &save); t; t = strtok_r(NULL, " \t\r\n", &save)) {
      if (!strcmp(t, "short"))
        c->short_set = true;
      else if (!strcmp(t, "check"))
        c->check = true;
      else
        goto bad;
    }
    ++n;
    continue;
  bad:
    snprintf(err, err_cap, "%s:%d: bad case line", path, lineno);
    fclose(f);
    return -1;
  }
  fclose(f);
  return n;
}

/* Work of one case: FLOPs (attention: 4·B·Hq·D·(query-key pairs), causal pairs
 * counted as computed; moe: the router and 3 expert GEMMs per routed token) and
 * the bytes it must read at least once (attention: K and V; moe: the experts
 * that any token selects, at most E, assuming T·top_k spread over them). */
static inline double bench_am_flops(const bench_am_case_t *c) {
  if (c->kind == BENCH_ATTN) {
    double pairs = (double)c->Sq * (double)c->Skv;
    if (c->causal) pairs -= (double)c->Sq * (double)(c->Sq - 1) / 2.0;
    return 4.0 * (double)c->B * (double)c->Hq * (double)c->D * pairs;
  }
  return 2.0 * (double)c->T * (double)c->dim * (double)c->E +
         6.0 * (double)c->T * (double)c->top_k * (double)c->dim * (double)c->hidden;
}

static inline int64_t bench_am_dtype_size(const char *dt) { return !strcmp(dt, "f32") ? 4 : 2; }

static inline double bench_am_bytes(const bench_am_case_t *c) {
  if (c->kind == BENCH_ATTN)
    return 2.0 * (double)c->B * (double)c->Hkv * (double)c->Skv * (double)c->D *
           (double)bench_am_dtype_size(c->dtype);
  double touched = (double)(c->T * c->top_k < c->E ? c->T * c->top_k : c->E);
  return touched * 3.0 * (double)c->dim * (double)c->hidden * (double)bench_am_dtype_size(c->dtype);
}

#endif
