/* Static memory plan: offsets in one arena, reusing space between buffers
 * whose lifetimes do not overlap. Greedy by size (largest first), each
 * placed in the smallest gap left by the already-placed buffers that are
 * live at the same time (the TFLite "greedy by size" planner). */
#include <stdlib.h>
#include <string.h>

#include "qiao/runtime.h"

#define ALIGN 64

typedef struct {
  int32_t idx;
  int64_t size;
} order_t;

static int by_size_desc(const void *a, const void *b) {
  const order_t *x = a, *y = b;
  if (x->size != y->size) return x->size < y->size ? 1 : -1;
  return x->idx - y->idx;
}

typedef struct {
  int64_t lo, hi;
} span_t;

static int by_lo(const void *a, const void *b) {
  const span_t *x = a, *y = b;
  return (x->lo > y->lo) - (x->lo < y->lo);
}

qiao_status_t qiao_mem_plan(qiao_mem_request_t *reqs, int32_t n, int64_t *out_arena_bytes) {
  *out_arena_bytes = 0;
  if (n <= 0) return NULL;
  order_t *ord = malloc(sizeof(*ord) * (size_t)n);
  int32_t *placed = malloc(sizeof(int32_t) * (size_t)n);
  span_t *spans = malloc(sizeof(span_t) * (size_t)n);
  if (!ord || !placed || !spans) {
    free(ord);
    free(placed);
    free(spans);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  }
  for (int32_t i = 0; i < n; ++i) {
    if (reqs[i].size < 0 || reqs[i].first > reqs[i].last) {
      free(ord);
      free(placed);
      free(spans);
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "memory plan: request %d is malformed", i);
    }
    ord[i].idx = i;
    ord[i].size = (reqs[i].size + ALIGN - 1) / ALIGN * ALIGN;
  }
  qsort(ord, (size_t)n, sizeof(*ord), by_size_desc);
  int32_t n_placed = 0;
  int64_t arena = 0;
  for (int32_t k = 0; k < n; ++k) {
    qiao_mem_request_t *r = &reqs[ord[k].idx];
    int64_t size = ord[k].size;
    int32_t ns = 0;
    for (int32_t j = 0; j < n_placed; ++j) {
      const qiao_mem_request_t *q = &reqs[placed[j]];
      if (q->last < r->first || r->last < q->first) continue; /* not live together */
      spans[ns].lo = q->offset;
      spans[ns].hi = q->offset + (q->size + ALIGN - 1) / ALIGN * ALIGN;
      ns++;
    }
    qsort(spans, (size_t)ns, sizeof(span_t), by_lo);
    int64_t best = -1, best_gap = INT64_MAX, cur = 0;
    for (int32_t j = 0; j < ns; ++j) {
      int64_t gap = spans[j].lo - cur;
      if (gap >= size && gap < best_gap) {
        best = cur;
        best_gap = gap;
      }
      if (spans[j].hi > cur) cur = spans[j].hi;
    }
    r->offset = best >= 0 ? best : cur;
    if (r->offset + size > arena) arena = r->offset + size;
    placed[n_placed++] = ord[k].idx;
  }
  free(ord);
  free(placed);
  free(spans);
  *out_arena_bytes = arena;
  return NULL;
}
