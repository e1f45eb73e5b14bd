/* Lexer for the .qir text format. See lexer.h. */
#include "lexer.h"

#include <string.h>

static bool is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(int c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(int c) { return is_alpha(c) || is_digit(c) || c == '.'; }
static int hex_val(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool qiao_lex_is_ident(const char *s, size_t len) {
  if (!s || len == 0 || !is_alpha((unsigned char)s[0])) return false;
  for (size_t i = 1; i < len; ++i)
    if (!is_ident_char((unsigned char)s[i])) return false;
  return true;
}

void qiao_lexer_init(qiao_lexer_t *lx, const char *src, size_t len) {
  lx->src = src;
  lx->len = len;
  lx->pos = 0;
  lx->line = 1;
  lx->col = 1;
}

static int peek_at(const qiao_lexer_t *lx, size_t off) {
  return lx->pos + off < lx->len ? (unsigned char)lx->src[lx->pos + off] : -1;
}

static void advance(qiao_lexer_t *lx, size_t n) {
  for (size_t i = 0; i < n && lx->pos < lx->len; ++i) {
    if (lx->src[lx->pos] == '\n') {
      lx->line++;
      lx->col = 1;
    } else {
      lx->col++;
    }
    lx->pos++;
  }
}

static void skip_space(qiao_lexer_t *lx) {
  for (;;) {
    int c = peek_at(lx, 0);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      advance(lx, 1);
    } else if (c == '#') {
      while (lx->pos < lx->len && lx->src[lx->pos] != '\n')
        advance(lx, 1);
    } else {
      return;
    }
  }
}

/* Length of a word "inf"/"nan" at offset off that is not followed by an
 * identifier character; 0 otherwise. */
static size_t special_float_at(const qiao_lexer_t *lx, size_t off) {
  if (lx->pos + off + 3 > lx->len) return 0;
  const char *p = lx->src + lx->pos + off;
  if (memcmp(p, "inf", 3) != 0 && memcmp(p, "nan", 3) != 0) return 0;
  if (is_ident_char(peek_at(lx, off + 3))) return 0;
  return 3;
}

/* Scans a number at the current position; returns its length (0: not a
 * valid number) and whether it is a float. */
static size_t scan_number(const qiao_lexer_t *lx, bool *is_float) {
  size_t n = 0;
  *is_float = false;
  if (peek_at(lx, 0) == '-') n = 1;
  size_t sp = special_float_at(lx, n);
  if (sp) {
    *is_float = true;
    return n + sp;
  }
  size_t digits = 0;
  while (is_digit(peek_at(lx, n)))
    n++, digits++;
  if (peek_at(lx, n) == '.') {
    *is_float = true;
    n++;
    while (is_digit(peek_at(lx, n)))
      n++, digits++;
  }
  if (digits == 0) return 0;
  int c = peek_at(lx, n);
  if (c == 'e' || c == 'E') {
    size_t m = n + 1;
    if (peek_at(lx, m) == '+' || peek_at(lx, m) == '-') m++;
    if (!is_digit(peek_at(lx, m))) return 0;
    while (is_digit(peek_at(lx, m)))
      m++;
    n = m;
    *is_float = true;
  }
  if (is_ident_char(peek_at(lx, n))) return 0;
  return n;
}

static qiao_token_t make(qiao_lexer_t *lx, qiao_tok_kind_t kind, size_t len) {
  qiao_token_t t;
  memset(&t, 0, sizeof t);
  t.kind = kind;
  t.text = lx->src + lx->pos;
  t.len = len;
  t.line = lx->line;
  t.col = lx->col;
  advance(lx, len);
  return t;
}

static qiao_token_t make_error(qiao_lexer_t *lx, size_t len, const char *msg) {
  if (len == 0) len = 1;
  if (lx->pos + len > lx->len) len = lx->len - lx->pos;
  qiao_token_t t = make(lx, QIAO_TOK_ERROR, len);
  t.error = msg;
  return t;
}

static qiao_token_t scan_string(qiao_lexer_t *lx) {
  size_t n = 1;
  for (;;) {
    int c = peek_at(lx, n);
    if (c < 0 || c == '\n') return make_error(lx, n, "unterminated string");
    if (c == '"') return make(lx, QIAO_TOK_STRING, n + 1);
    if (c == '\\') {
      int e = peek_at(lx, n + 1);
      if (e == '"' || e == '\\' || e == 'n' || e == 't' || e == 'r') {
        n += 2;
      } else if (e == 'x' && hex_val(peek_at(lx, n + 2)) >= 0 && hex_val(peek_at(lx, n + 3)) >= 0) {
        n += 4;
      } else {
        /* Point the error at the bad escape itself. */
        advance(lx, n);
        return make_error(lx, e < 0 || e == '\n' ? 1 : 2, "invalid escape in string");
      }
    } else {
      n++;
    }
  }
}

qiao_token_t qiao_lexer_next(qiao_lexer_t *lx) {
  skip_space(lx);
  int c = peek_at(lx, 0);
  if (c < 0) return make(lx, QIAO_TOK_EOF, 0);
  switch (c) {
  case '(': return make(lx, QIAO_TOK_LPAREN, 1);
  case ')': return make(lx, QIAO_TOK_RPAREN, 1);
  case '{': return make(lx, QIAO_TOK_LBRACE, 1);
  case '}': return make(lx, QIAO_TOK_RBRACE, 1);
  case '[': return make(lx, QIAO_TOK_LBRACKET, 1);
  case ']': return make(lx, QIAO_TOK_RBRACKET, 1);
  case ',': return make(lx, QIAO_TOK_COMMA, 1);
  case ':': return make(lx, QIAO_TOK_COLON, 1);
  case '=': return make(lx, QIAO_TOK_EQUAL, 1);
  case '"': return scan_string(lx);
  case '%':
  case '@': {
    size_t n = 1;
    if (!is_alpha(peek_at(lx, 1)))
      return make_error(
          lx, 1, c == '%' ? "expected a value name after '%'" : "expected a graph name after '@'");
    while (is_ident_char(peek_at(lx, n)))
      n++;
    return make(lx, c == '%' ? QIAO_TOK_VALUE : QIAO_TOK_GLOBAL, n);
  }
  default: break;
  }
  if (c == '-' && peek_at(lx, 1) == '>') return make(lx, QIAO_TOK_ARROW, 2);
  if (c == '-' || c == '.' || is_digit(c) || special_float_at(lx, 0)) {
    bool is_float;
    size_t n = scan_number(lx, &is_float);
    if (!n) {
      size_t bad = 1;
      while (lx->pos + bad < lx->len &&
             (is_ident_char((unsigned char)lx->src[lx->pos + bad]) ||
              lx->src[lx->pos + bad] == '+' || lx->src[lx->pos + bad] == '-'))
        bad++;
      return make_error(lx, bad, "invalid number");
    }
    qiao_token_t t = make(lx, QIAO_TOK_NUMBER, n);
    t.is_float = is_float;
    return t;
  }
  if (is_alpha(c)) {
    size_t n = 1;
    while (is_ident_char(peek_at(lx, n)))
      n++;
    return make(lx, QIAO_TOK_IDENT, n);
  }
  return make_error(lx, 1, "unexpected character");
}

int64_t qiao_lex_decode_string(const qiao_token_t *t, char *out, size_t cap) {
  size_t o = 0;
  if (t->len < 2 || cap == 0) return -1;
  for (size_t i = 1; i + 1 < t->len; ++i) {
    unsigned char c = (unsigned char)t->text[i];
    if (c == '\\' && i + 2 < t->len) {
      char e = t->text[++i];
      switch (e) {
      case 'n': c = '\n'; break;
      case 't': c = '\t'; break;
      case 'r': c = '\r'; break;
      case 'x':
        if (i + 2 >= t->len) return -1;
        c = (unsigned char)(hex_val(t->text[i + 1]) * 16 + hex_val(t->text[i + 2]));
        i += 2;
        break;
      default: c = (unsigned char)e; break;
      }
    }
    if (c == 0 || o + 1 >= cap) return -1;
    out[o++] = (char)c;
  }
  out[o] = 0;
  return (int64_t)o;
}
