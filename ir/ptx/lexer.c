/* Lexer for PTX text. Tokens are views into the source. Whitespace, // and
 * block comments are skipped. Positions are 1-based; columns count bytes. */
#include <string.h>

#include "ptx_internal.h"

void ptx_lexer_init(ptx_lexer_t *lx, const char *src, size_t len) {
  lx->src = src;
  lx->len = len;
  lx->pos = 0;
  lx->line = 1;
  lx->col = 1;
}

static inline void adv(ptx_lexer_t *lx) {
  if (lx->src[lx->pos] == '\n') {
    lx->line++;
    lx->col = 1;
  } else {
    lx->col++;
  }
  lx->pos++;
}

static inline bool is_ident_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == '$' || c == '%' ||
         c == '.';
}
static inline bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '$' || c == '.';
}

/* Skips whitespace and comments; returns an error message for an unterminated
 * block comment, else NULL. */
static const char *skip_space(ptx_lexer_t *lx, int32_t *err_line, int32_t *err_col) {
  while (lx->pos < lx->len) {
    char c = lx->src[lx->pos];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v') {
      adv(lx);
    } else if (c == '/' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '/') {
      while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
        adv(lx);
    } else if (c == '/' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '*') {
      *err_line = lx->line;
      *err_col = lx->col;
      adv(lx);
      adv(lx);
      for (;;) {
        if (lx->pos >= lx->len) return "unterminated comment";
        if (lx->src[lx->pos] == '*' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] == '/') {
          adv(lx);
          adv(lx);
          break;
        }
        adv(lx);
      }
    } else {
      break;
    }
  }
  return NULL;
}

ptx_token_t ptx_lexer_next(ptx_lexer_t *lx) {
  ptx_token_t t = {0};
  int32_t el = 0, ec = 0;
  const char *err = skip_space(lx, &el, &ec);
  t.line = lx->line;
  t.col = lx->col;
  t.text = lx->src + lx->pos;
  if (err) {
    t.line = el;
    t.col = ec;
    t.kind = PTX_TOK_ERROR;
    t.error = err;
    return t;
  }
  if (lx->pos >= lx->len) {
    t.kind = PTX_TOK_EOF;
    return t;
  }
  size_t start = lx->pos;
  char c = lx->src[lx->pos];
  if (is_ident_start(c)) {
    /* a directive word ends at the next dot: .ptr.global.align is three words */
    bool directive = c == '.';
    adv(lx);
    for (;;) {
      if (lx->pos >= lx->len) break;
      char d = lx->src[lx->pos];
      if (d == '.' && directive) break;
      if (is_ident(d)) {
        adv(lx);
      } else if (d == ':' && lx->pos + 2 < lx->len && lx->src[lx->pos + 1] == ':' &&
                 is_ident(lx->src[lx->pos + 2])) {
        adv(lx); /* shared::cta, L1::evict_last */
        adv(lx);
      } else {
        break;
      }
    }
    t.kind = PTX_TOK_WORD;
  } else if (c >= '0' && c <= '9') {
    adv(lx);
    bool hex = false;
    if (c == '0' && lx->pos < lx->len && strchr("xXfFdD", lx->src[lx->pos]) &&
        lx->src[lx->pos] != 0)
      hex = true;
    for (;;) {
      if (lx->pos >= lx->len) break;
      char d = lx->src[lx->pos];
      if (is_ident(d) && d != '$') {
        adv(lx);
      } else if (!hex && (d == '+' || d == '-') &&
                 (lx->src[lx->pos - 1] == 'e' || lx->src[lx->pos - 1] == 'E')) {
        adv(lx); /* exponent sign */
      } else {
        break;
      }
    }
    t.kind = PTX_TOK_NUMBER;
  } else if (c == '"') {
    adv(lx);
    for (;;) {
      if (lx->pos >= lx->len || lx->src[lx->pos] == '\n') {
        t.kind = PTX_TOK_ERROR;
        t.error = "unterminated string";
        t.len = (uint32_t)(lx->pos - start);
        return t;
      }
      char d = lx->src[lx->pos];
      if (d == 0) {
        t.kind = PTX_TOK_ERROR;
        t.error = "NUL byte in string";
        t.len = 0;
        return t;
      }
      if (d == '\\' && lx->pos + 1 < lx->len && lx->src[lx->pos + 1] != '\n') {
        adv(lx);
        adv(lx);
        continue;
      }
      adv(lx);
      if (d == '"') break;
    }
    t.kind = PTX_TOK_STRING;
  } else if (strchr("{}()[],;:+-!@|<>=", c)) {
    adv(lx);
    t.kind = PTX_TOK_PUNCT;
  } else {
    adv(lx);
    t.kind = PTX_TOK_ERROR;
    t.error = "unexpected character";
  }
  t.len = (uint32_t)(lx->pos - start);
  return t;
}

bool ptx_lexer_skip_braces(ptx_lexer_t *lx) {
  int depth = 1;
  while (lx->pos < lx->len) {
    int32_t el, ec;
    if (skip_space(lx, &el, &ec)) return false;
    if (lx->pos >= lx->len) return false;
    char c = lx->src[lx->pos];
    if (c == '"') {
      adv(lx);
      while (lx->pos < lx->len && lx->src[lx->pos] != '"' && lx->src[lx->pos] != '\n') {
        if (lx->src[lx->pos] == '\\' && lx->pos + 1 < lx->len) adv(lx);
        adv(lx);
      }
      if (lx->pos < lx->len) adv(lx);
      continue;
    }
    adv(lx);
    if (c == '{') depth++;
    if (c == '}' && --depth == 0) return true;
  }
  return false;
}

void ptx_lexer_skip_line(ptx_lexer_t *lx) {
  while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
    adv(lx);
}
