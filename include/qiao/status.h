/* Qiao — status type shared by every layer.
 *
 * A status is one pointer: NULL means success; otherwise it points at a block
 * holding a code, a message and (debug builds) the source location that made
 * it. Functions that can fail return qiao_status_t; the caller frees a
 * non-NULL status with qiao_status_free() or passes it up with
 * QIAO_RETURN_IF_ERROR. Libraries never print; tools print the message.
 *
 * Making a status never fails: when the allocation fails it returns a static
 * QIAO_RESOURCE_EXHAUSTED status ("out of memory"), which free ignores and
 * annotate passes through unchanged.
 *
 * Header-only on purpose: ir/ and hal/ depend on nothing of ours, so the one
 * type they share lives here, with no library behind it. The struct is
 * private: read it only through the accessors below.
 */
#ifndef QIAO_STATUS_H
#define QIAO_STATUS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum qiao_status_code {
  QIAO_OK = 0,
  QIAO_INVALID_ARGUMENT = 1, /* bad user input: file, graph, option */
  QIAO_NOT_FOUND = 2,        /* missing file, entry, tensor, device */
  QIAO_UNSUPPORTED = 3,      /* valid request this build cannot serve */
  QIAO_RESOURCE_EXHAUSTED = 4,
  QIAO_INTERNAL = 5, /* a bug or an unexpected library failure */
  QIAO_IO_ERROR = 6,
  QIAO_UNAVAILABLE = 7, /* device or driver not present */
} qiao_status_code_t;

/* Private: use qiao_status_code / _message / _file / _line. */
typedef struct qiao_status_s {
  qiao_status_code_t code_;
  bool static_;      /* the out-of-memory status: never freed */
  int line_;         /* debug builds: where it was made; 0 otherwise */
  const char *file_; /* debug builds: __FILE__; NULL otherwise */
  const char *message_;
} * qiao_status_t;

/* The status returned when making a status runs out of memory. */
static inline qiao_status_t qiao_status_out_of_memory(void) {
  static struct qiao_status_s oom = {QIAO_RESOURCE_EXHAUSTED, true, 0, NULL,
                                     "out of memory (while reporting an error)"};
  return &oom;
}

/* Makes a status with a printf-style message, recording file:line (pass NULL,
 * 0 for none). Never returns NULL for a non-zero code; on out-of-memory it
 * returns qiao_status_out_of_memory(). Use the qiao_status_make macro. */
static inline qiao_status_t qiao_status_vmake_at(const char *file, int line,
                                                 qiao_status_code_t code, const char *fmt,
                                                 va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  qiao_status_t s = (qiao_status_t)malloc(sizeof(*s) + (size_t)n + 1);
  if (!s) return qiao_status_out_of_memory();
  char *msg = (char *)(s + 1);
  vsnprintf(msg, (size_t)n + 1, fmt, ap);
  s->code_ = code;
  s->static_ = false;
  s->line_ = line;
  s->file_ = file;
  s->message_ = msg;
  return s;
}

#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline qiao_status_t
qiao_status_make_at(const char *file, int line, qiao_status_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  qiao_status_t s = qiao_status_vmake_at(file, line, code, fmt, ap);
  va_end(ap);
  return s;
}

/* qiao_status_make(code, fmt, ...) and qiao_status_vmake(code, fmt, ap):
 * debug builds (NDEBUG undefined) record the caller's file and line. */
#ifdef NDEBUG
#define qiao_status_make(...) qiao_status_make_at(NULL, 0, __VA_ARGS__)
#define qiao_status_vmake(code, fmt, ap) qiao_status_vmake_at(NULL, 0, code, fmt, ap)
#else
#define qiao_status_make(...) qiao_status_make_at(__FILE__, __LINE__, __VA_ARGS__)
#define qiao_status_vmake(code, fmt, ap) qiao_status_vmake_at(__FILE__, __LINE__, code, fmt, ap)
#endif

static inline qiao_status_code_t qiao_status_code(qiao_status_t s) {
  return s ? s->code_ : QIAO_OK;
}
static inline const char *qiao_status_message(qiao_status_t s) { return s ? s->message_ : "ok"; }
/* Where the status was made: debug builds only (NULL / 0 in release builds,
 * for NULL and for the out-of-memory status). */
static inline const char *qiao_status_file(qiao_status_t s) { return s ? s->file_ : NULL; }
static inline int qiao_status_line(qiao_status_t s) { return s ? s->line_ : 0; }
/* Frees a status; NULL and the static out-of-memory status are ignored. */
static inline void qiao_status_free(qiao_status_t s) {
  if (s && !s->static_) free(s);
}

/* Prefixes a status's message with context ("loading x.qir: ..."); takes
 * ownership of `s` and returns the new status, which keeps the original code
 * and source location. NULL stays NULL; the out-of-memory status is returned
 * unchanged, and so is `s` when the annotated status cannot be allocated. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline qiao_status_t
qiao_status_annotate(qiao_status_t s, const char *fmt, ...) {
  if (!s || s->static_) return s;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  qiao_status_t t =
      qiao_status_make_at(s->file_, s->line_, s->code_, "%s: %s", prefix, s->message_);
  if (t->static_) return s;
  qiao_status_free(s);
  return t;
}

#define QIAO_RETURN_IF_ERROR(expr)                                                                 \
  do {                                                                                             \
    qiao_status_t qiao_status_tmp_ = (expr);                                                       \
    if (qiao_status_tmp_) return qiao_status_tmp_;                                                 \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif /* QIAO_STATUS_H */
