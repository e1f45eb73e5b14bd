/* Arena, interner and growable arrays of the PTX reader. */
#include <stdlib.h>
#include <string.h>

#include "ptx_internal.h"

void *ptx_arena_alloc(ptx_arena_t *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  ptx_chunk_t *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > 65536 - sizeof(ptx_chunk_t) ? n : 65536 - sizeof(ptx_chunk_t);
    /* grow chunks with the arena so big modules do not make thousands of chunks */
    if (c && c->cap * 2 > cap && c->cap < ((size_t)1 << 26)) cap = c->cap * 2 > n ? c->cap * 2 : n;
    c = (ptx_chunk_t *)malloc(sizeof(ptx_chunk_t) + cap);
    if (!c) abort();
    c->next = a->head;
    c->used = 0;
    c->cap = cap;
    a->head = c;
  }
  void *p = c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

void *ptx_arena_dup(ptx_arena_t *a, const void *p, size_t n) {
  if (n == 0) return NULL;
  void *q = ptx_arena_alloc(a, n);
  memcpy(q, p, n);
  return q;
}

void ptx_arena_free(ptx_arena_t *a) {
  ptx_chunk_t *c = a->head;
  while (c) {
    ptx_chunk_t *next = c->next;
    free(c);
    c = next;
  }
  a->head = NULL;
}

void ptx_vec_grow(void **v, uint32_t *cap, size_t elem, uint32_t need) {
  uint32_t c = *cap ? *cap : 8;
  while (c < need)
    c *= 2;
  void *p = realloc(*v, (size_t)c * elem);
  if (!p) abort();
  *v = p;
  *cap = c;
}

static uint32_t hash_str(const char *s, size_t n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (size_t i = 0; i < n; ++i)
    h = (h ^ (unsigned char)s[i]) * 16777619u;
  return h;
}

void ptx_interner_init(ptx_interner_t *in, ptx_arena_t *arena) {
  memset(in, 0, sizeof *in);
  in->arena = arena;
  in->cap = 1024;
  in->slots = (uint32_t *)calloc(in->cap, sizeof(uint32_t));
  if (!in->slots) abort();
}

void ptx_interner_free(ptx_interner_t *in) {
  free(in->slots);
  free(in->strs);
  free(in->lens);
  in->slots = NULL;
  in->strs = NULL;
  in->lens = NULL;
}

int64_t ptx_intern_find(const ptx_interner_t *in, const char *s, size_t len) {
  uint32_t mask = in->cap - 1;
  for (uint32_t i = hash_str(s, len) & mask;; i = (i + 1) & mask) {
    uint32_t e = in->slots[i];
    if (!e) return -1;
    if (in->lens[e - 1] == len && memcmp(in->strs[e - 1], s, len) == 0) return e - 1;
  }
}

uint32_t ptx_intern(ptx_interner_t *in, const char *s, size_t len) {
  int64_t f = ptx_intern_find(in, s, len);
  if (f >= 0) return (uint32_t)f;
  if ((in->n + 1) * 2 > in->cap) {
    uint32_t ncap = in->cap * 2;
    uint32_t *ns = (uint32_t *)calloc(ncap, sizeof(uint32_t));
    if (!ns) abort();
    for (uint32_t k = 0; k < in->n; ++k) {
      uint32_t i = hash_str(in->strs[k], in->lens[k]) & (ncap - 1);
      while (ns[i])
        i = (i + 1) & (ncap - 1);
      ns[i] = k + 1;
    }
    free(in->slots);
    in->slots = ns;
    in->cap = ncap;
  }
  if (in->n == in->strs_cap) {
    uint32_t c = in->strs_cap;
    ptx_vec_grow((void **)&in->strs, &c, sizeof *in->strs, in->n + 1);
    uint32_t c2 = in->strs_cap;
    ptx_vec_grow((void **)&in->lens, &c2, sizeof *in->lens, in->n + 1);
    in->strs_cap = c;
  }
  char *p = (char *)ptx_arena_alloc(in->arena, len + 1);
  memcpy(p, s, len);
  p[len] = 0;
  uint32_t id = in->n++;
  in->strs[id] = p;
  in->lens[id] = (uint32_t)len;
  uint32_t mask = in->cap - 1;
  uint32_t i = hash_str(s, len) & mask;
  while (in->slots[i])
    i = (i + 1) & mask;
  in->slots[i] = id + 1;
  return id;
}
