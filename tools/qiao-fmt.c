/* qiao-fmt: prints .qir files in canonical form.
 *
 *   qiao-fmt [--check | --check-format | -i] FILE...
 *
 * Exit status: 0 ok, 1 user error (bad file, parse/verify error, not
 * canonical under --check-format), 2 internal error (out of memory, write
 * failure). "-" (or no FILE) reads standard input.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qiao/ir.h"

enum mode { MODE_PRINT, MODE_CHECK, MODE_CHECK_FORMAT, MODE_IN_PLACE };

static void usage(FILE *f) {
  fprintf(f, "usage: qiao-fmt [options] FILE...\n"
             "Prints each .qir FILE in canonical form on standard output ('-' or no FILE: stdin).\n"
             "\n"
             "options:\n"
             "  --check         parse and verify only: print nothing on success; errors on stderr, "
             "exit 1\n"
             "  --check-format  like --check, and also fail when a file is not in canonical form\n"
             "  -i, --in-place  rewrite each file in canonical form (atomically)\n"
             "  -h, --help      show this help\n"
             "\n"
             "Errors print as FILE:LINE:COL: message. Exit status: 0 ok, 1 user error,\n"
             "2 internal error.\n");
}

/* Reads all of f; returns a malloc'ed buffer or NULL (errno set). */
static char *read_all(FILE *f, size_t *out_len) {
  size_t cap = 1 << 16, len = 0;
  char *buf = malloc(cap);
  if (!buf) return NULL;
  for (;;) {
    if (len == cap) {
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    len += n;
    if (n == 0) break;
  }
  if (ferror(f)) {
    free(buf);
    return NULL;
  }
  *out_len = len;
  return buf;
}

/* Exit code of a status: user errors 1, the rest 2. */
static int status_exit(qiao_status_t st) {
  switch (qiao_status_code(st)) {
  case QIAO_OK: return 0;
  case QIAO_INVALID_ARGUMENT:
  case QIAO_NOT_FOUND:
  case QIAO_IO_ERROR:
  case QIAO_UNSUPPORTED: return 1;
  default: return 2;
  }
}

/* Writes text to path through a temp file in the same directory + rename. */
static int write_atomic(const char *path, const char *text) {
  struct stat sb;
  mode_t mode = 0644;
  if (stat(path, &sb) == 0) mode = sb.st_mode & 07777;
  size_t n = strlen(path);
  char *tmp = malloc(n + 16);
  if (!tmp) {
    fprintf(stderr, "qiao-fmt: out of memory\n");
    return 2;
  }
  snprintf(tmp, n + 16, "%s.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    fprintf(stderr, "%s: cannot create a temporary file: %s\n", path, strerror(errno));
    free(tmp);
    return 1;
  }
  size_t len = strlen(text), off = 0;
  int rc = 0;
  while (off < len) {
    ssize_t w = write(fd, text + off, len - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      rc = 2;
      break;
    }
    off += (size_t)w;
  }
  if (!rc && fchmod(fd, mode) != 0) rc = 2;
  if (!rc && fsync(fd) != 0) rc = 2;
  if (close(fd) != 0) rc = 2;
  if (!rc && rename(tmp, path) != 0) rc = 2;
  if (rc) {
    fprintf(stderr, "%s: cannot write: %s\n", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return rc;
}

static int process(const char *path, enum mode mode) {
  bool is_stdin = !strcmp(path, "-");
  const char *name = is_stdin ? "<stdin>" : path;
  FILE *f = is_stdin ? stdin : fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
    return 1;
  }
  size_t len = 0;
  char *text = read_all(f, &len);
  int err = errno;
  if (!is_stdin) fclose(f);
  if (!text) {
    fprintf(stderr, "%s: cannot read: %s\n", name, strerror(err));
    return err == ENOMEM ? 2 : 1;
  }
  qiao_graph_t *g = NULL;
  qiao_status_t st = qiao_ir_parse(text, len, name, &g);
  if (st) {
    fprintf(stderr, "%s\n", qiao_status_message(st));
    int rc = status_exit(st);
    qiao_status_free(st);
    free(text);
    return rc;
  }
  char *out = NULL;
  st = qiao_ir_print(g, &out);
  qiao_ir_graph_destroy(g);
  if (st) {
    fprintf(stderr, "%s: %s\n", name, qiao_status_message(st));
    qiao_status_free(st);
    free(text);
    return 2;
  }
  int rc = 0;
  bool same = strlen(out) == len && !memcmp(out, text, len);
  switch (mode) {
  case MODE_PRINT:
    if (fputs(out, stdout) == EOF) {
      fprintf(stderr, "qiao-fmt: writing to stdout failed\n");
      rc = 2;
    }
    break;
  case MODE_CHECK: break;
  case MODE_CHECK_FORMAT:
    if (!same) {
      fprintf(stderr, "%s: not in canonical form (run qiao-fmt -i)\n", name);
      rc = 1;
    }
    break;
  case MODE_IN_PLACE:
    if (!same) rc = write_atomic(path, out);
    break;
  }
  free(out);
  free(text);
  return rc;
}

int main(int argc, char **argv) {
  enum mode mode = MODE_PRINT;
  int n_files = 0;
  bool opts_done = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (opts_done || a[0] != '-' || !strcmp(a, "-")) {
      n_files++;
      continue;
    }
    if (!strcmp(a, "--")) {
      opts_done = true;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--check")) {
      mode = MODE_CHECK;
    } else if (!strcmp(a, "--check-format")) {
      mode = MODE_CHECK_FORMAT;
    } else if (!strcmp(a, "-i") || !strcmp(a, "--in-place")) {
      mode = MODE_IN_PLACE;
    } else {
      fprintf(stderr, "qiao-fmt: unknown option '%s' (see --help)\n", a);
      return 1;
    }
  }
  if (mode == MODE_IN_PLACE && n_files == 0) {
    fprintf(stderr, "qiao-fmt: -i needs at least one FILE\n");
    return 1;
  }
  int rc = 0;
  if (n_files == 0) return process("-", mode);
  opts_done = false;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (!opts_done && !strcmp(a, "--")) {
      opts_done = true;
      continue;
    }
    if (!opts_done && a[0] == '-' && strcmp(a, "-")) continue;
    if (mode == MODE_IN_PLACE && !strcmp(a, "-")) {
      fprintf(stderr, "qiao-fmt: -i cannot rewrite standard input\n");
      rc = rc > 1 ? rc : 1;
      continue;
    }
    int r = process(a, mode);
    if (r > rc) rc = r;
  }
  return rc;
}
