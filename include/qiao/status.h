/* Qiao — status type shared by every layer.
 *
 * A status is one pointer: NULL means success; otherwise it owns a heap block
 * holding a code and a message. Functions that can fail return qiao_status_t;
 * the caller frees a non-NULL status with qiao_status_free() or passes it up
 * with QIAO_RETURN_IF_ERROR. Libraries never print; tools print the message.
 *
 * Header-only on purpose: ir/ and hal/ depend on nothing of ours, so the one
 * type they share lives here, with no library behind it.
 */
#ifndef QIAO_STATUS_H
#define QIAO_STATUS_H

#include <stdarg.h>
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
  QIAO_UNSUPPORTED = 3,    /* valid request this build cannot serve */
  QIAO_RESOURCE_EXHAUSTED = 4,
  QIAO_INTERNAL = 5,         /* a bug or an unexpected library failure */
  QIAO_IO_ERROR = 6,
  QIAO_UNAVAILABLE = 7,      /* device or driver not present */
} qiao_status_code_t;

typedef struct qiao_status_s {
  qiao_status_code_t code;
  char message[];
} *qiao_status_t;

/* Makes a status with a printf-style message. Never returns NULL for a
 * non-zero code (falls back to a static-free minimal block on OOM by aborting:
 * an allocation of a few hundred bytes failing means the process is done). */
static inline qiao_status_t qiao_status_vmake(qiao_status_code_t code, const char *fmt, va_list ap) {
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0) n = 0;
  qiao_status_t s = (qiao_status_t)malloc(sizeof(*s) + (size_t)n + 1);
  if (!s) abort();
  s->code = code;
  vsnprintf(s->message, (size_t)n + 1, fmt, ap);
  return s;
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline qiao_status_t qiao_status_make(qiao_status_code_t code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  qiao_status_t s = qiao_status_vmake(code, fmt, ap);
  va_end(ap);
  return s;
}

/* Prefixes a status's message with context ("loading x.qir: ..."); takes
 * ownership of `s` and returns the new status. NULL stays NULL. */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static inline qiao_status_t qiao_status_annotate(qiao_status_t s, const char *fmt, ...) {
  if (!s) return NULL;
  char prefix[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  qiao_status_t t = qiao_status_make(s->code, "%s: %s", prefix, s->message);
  free(s);
  return t;
}

static inline qiao_status_code_t qiao_status_code(qiao_status_t s) { return s ? s->code : QIAO_OK; }
static inline const char *qiao_status_message(qiao_status_t s) { return s ? s->message : "ok"; }
static inline void qiao_status_free(qiao_status_t s) { free(s); }

#define QIAO_RETURN_IF_ERROR(expr)            \
  do {                                        \
    qiao_status_t qiao_status_tmp_ = (expr);  \
    if (qiao_status_tmp_) return qiao_status_tmp_; \
  } while (0)

#ifdef __cplusplus
}
#endif
#endif /* QIAO_STATUS_H */
