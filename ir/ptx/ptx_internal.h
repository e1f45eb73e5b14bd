/* PTX reader internals (private to ir/ptx): arena, string interner, growable
 * arrays, lexer. */
#ifndef QIAO_IR_PTX_INTERNAL_H
#define QIAO_IR_PTX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qiao/ptx.h"

/* ---- arena: bump allocation in chunks, one free for all */
typedef struct ptx_chunk {
  struct ptx_chunk *next;
  size_t used, cap;
  _Alignas(16) unsigned char data[];
} ptx_chunk_t;

typedef struct ptx_arena {
  ptx_chunk_t *head;
} ptx_arena_t;

void *ptx_arena_alloc(ptx_arena_t *a, size_t n); /* zeroed, 16-aligned; aborts on OOM */
void *ptx_arena_dup(ptx_arena_t *a, const void *p, size_t n);
void ptx_arena_free(ptx_arena_t *a);

/* ---- interner: open addressing, strings stored in the arena (NUL-terminated) */
typedef struct ptx_interner {
  ptx_arena_t *arena;
  uint32_t *slots; /* 0 = empty, else id+1 */
  uint32_t cap;    /* power of two */
  uint32_t n;
  const char **strs; /* id → string */
  uint32_t *lens;
  uint32_t strs_cap;
} ptx_interner_t;

void ptx_interner_init(ptx_interner_t *in, ptx_arena_t *arena);
void ptx_interner_free(ptx_interner_t *in);
uint32_t ptx_intern(ptx_interner_t *in, const char *s, size_t len);           /* id */
int64_t ptx_intern_find(const ptx_interner_t *in, const char *s, size_t len); /* id or -1 */

/* ---- growable array (malloc'd during parsing; copied into the arena at the end) */
#define PTX_VEC(T)                                                                                 \
  struct {                                                                                         \
    T *v;                                                                                          \
    uint32_t n, cap;                                                                               \
  }
void ptx_vec_grow(void **v, uint32_t *cap, size_t elem, uint32_t need);
#define PTX_PUSH(vec, x)                                                                           \
  do {                                                                                             \
    if ((vec).n == (vec).cap)                                                                      \
      ptx_vec_grow((void **)&(vec).v, &(vec).cap, sizeof *(vec).v, (vec).n + 1);                   \
    (vec).v[(vec).n++] = (x);                                                                      \
  } while (0)
#define PTX_FREE(vec) (free((vec).v), (vec).v = NULL, (vec).n = (vec).cap = 0)

/* ---- lexer */
typedef enum ptx_tok_kind {
  PTX_TOK_EOF = 0,
  PTX_TOK_ERROR,  /* error: message (static) */
  PTX_TOK_WORD,   /* identifiers, directives (.reg), registers (%r1), opcodes with modifiers */
  PTX_TOK_NUMBER, /* digits... (int, 0x, 0f, 0d, decimal float) */
  PTX_TOK_STRING, /* "..." including quotes */
  PTX_TOK_PUNCT,  /* one char: { } ( ) [ ] , ; : + - ! @ | < > = */
} ptx_tok_kind_t;

typedef struct ptx_token {
  ptx_tok_kind_t kind;
  const char *text;
  uint32_t len;
  int32_t line, col;
  const char *error;
} ptx_token_t;

typedef struct ptx_lexer {
  const char *src;
  size_t len, pos;
  int32_t line, col;
} ptx_lexer_t;

void ptx_lexer_init(ptx_lexer_t *lx, const char *src, size_t len);
ptx_token_t ptx_lexer_next(ptx_lexer_t *lx);
/* Skips raw text up to and including the '}' matching an already consumed '{'
 * (strings and comments respected). Returns false at end of input. */
bool ptx_lexer_skip_braces(ptx_lexer_t *lx);
/* Skips to the end of the current line. */
void ptx_lexer_skip_line(ptx_lexer_t *lx);

/* ---- shared tables (module.c) */
int ptx_type_from(const char *s, size_t n);  /* qiao_ptx_type_t or -1 */
int ptx_space_from(const char *s, size_t n); /* qiao_ptx_space_t or -1 */
const char *ptx_space_name(int space);

#endif
