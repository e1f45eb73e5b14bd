/* Lexer for the .qir text format (private to ir/).
 *
 * Tokens are views into the source text (never copied). Whitespace and
 * '#' comments are skipped. Positions are 1-based; the column counts bytes
 * (a tab is one column).
 */
#ifndef QIAO_IR_LEXER_H
#define QIAO_IR_LEXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum qiao_tok_kind {
  QIAO_TOK_EOF = 0,
  QIAO_TOK_ERROR,  /* an invalid character or malformed token; text/len point at it */
  QIAO_TOK_IDENT,  /* [A-Za-z_][A-Za-z0-9_.]* (except inf and nan, which are numbers) */
  QIAO_TOK_VALUE,  /* %name: text/len include the '%' */
  QIAO_TOK_GLOBAL, /* @name: text/len include the '@' */
  QIAO_TOK_NUMBER, /* -?(digits[.digits][e[+-]digits] | .digits... | inf | nan) */
  QIAO_TOK_STRING, /* "..." with escapes: text/len include the quotes */
  QIAO_TOK_LPAREN,
  QIAO_TOK_RPAREN,
  QIAO_TOK_LBRACE,
  QIAO_TOK_RBRACE,
  QIAO_TOK_LBRACKET,
  QIAO_TOK_RBRACKET,
  QIAO_TOK_COMMA,
  QIAO_TOK_COLON,
  QIAO_TOK_EQUAL,
  QIAO_TOK_ARROW, /* -> */
} qiao_tok_kind_t;

typedef struct qiao_token {
  qiao_tok_kind_t kind;
  const char *text;
  size_t len;
  int32_t line, col;
  bool is_float;     /* NUMBER: has '.', an exponent, or is inf/nan */
  const char *error; /* ERROR: what is wrong (static string) */
} qiao_token_t;

typedef struct qiao_lexer {
  const char *src;
  size_t len;
  size_t pos;
  int32_t line, col;
} qiao_lexer_t;

void qiao_lexer_init(qiao_lexer_t *lx, const char *src, size_t len);
/* Returns the next token (EOF forever at the end). */
qiao_token_t qiao_lexer_next(qiao_lexer_t *lx);

/* True for a valid identifier (as a value or graph name). */
bool qiao_lex_is_ident(const char *s, size_t len);

/* Decodes the contents of a STRING token into out (cap bytes, NUL-terminated).
 * Escapes: \" \\ \n \t \r \xHH. Returns the decoded length, or -1 when the
 * string contains a NUL byte (\x00) or does not fit. */
int64_t qiao_lex_decode_string(const qiao_token_t *t, char *out, size_t cap);

#endif /* QIAO_IR_LEXER_H */
