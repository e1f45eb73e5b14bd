/* Test support: the hand-written CUDA kernels of tests/data/ptx/ (the .cu files) compiled by
 * nvcc at test time.
 *
 * nvcc_ptx_file(kernel, arch, dir, ...) compiles tests/data/ptx/<kernel>.cu with
 * `nvcc -ptx -arch=sm_<arch>` into dir and gives that file's path. Where nvcc is
 * absent (neither on PATH nor under /usr/local/cuda/bin) or QIAO_NO_NVCC=1 is set,
 * it gives the checked-in tests/data/ptx/<kernel>.sm<arch>.ptx instead and prints
 * "[SKIPPED] no nvcc: <who>: ..." on stderr: the kernel still runs, but not
 * fresh compiler output, and the run says so. */
#ifndef QIAO_TESTS_NVCC_PTX_H
#define QIAO_TESTS_NVCC_PTX_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NVCC_PTX_DATA QIAO_SOURCE_DIR "/tests/data/ptx/"

/* nvcc's path into buf, or NULL (also when QIAO_NO_NVCC=1). */
static inline const char *nvcc_find(char *buf, size_t cap) {
  const char *no = getenv("QIAO_NO_NVCC");
  if (no && strcmp(no, "0") != 0) return NULL;
  const char *path = getenv("PATH");
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s", path ? path : "");
  for (char *save = NULL, *d = strtok_r(tmp, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    snprintf(buf, cap, "%s/nvcc", d);
    if (access(buf, X_OK) == 0) return buf;
  }
  snprintf(buf, cap, "/usr/local/cuda/bin/nvcc");
  return access(buf, X_OK) == 0 ? buf : NULL;
}

/* The PTX of <kernel>.cu for arch "sm80" or "sm90" into out (a path): nvcc's fresh
 * output in `dir` (which must exist), or the checked-in file when there is no nvcc
 * (with the visible [SKIPPED] line naming `who`). Returns false when nvcc exists but
 * fails (out then says what failed). */
static inline bool nvcc_ptx_file(const char *kernel, const char *arch, const char *dir,
                                 const char *who, char *out, size_t cap) {
  char nvcc[1024];
  if (!nvcc_find(nvcc, sizeof nvcc)) {
    snprintf(out, cap, NVCC_PTX_DATA "%s.%s.ptx", kernel, arch);
    fprintf(stderr, "[SKIPPED] no nvcc: %s: %s.cu not compiled; running the checked-in %s.%s.ptx\n",
            who, kernel, kernel, arch);
    return true;
  }
  char cmd[8192];
  snprintf(out, cap, "%s/%s.%s.ptx", dir, kernel, arch);
  snprintf(cmd, sizeof cmd, "'%s' -ptx -arch=sm_%s -o '%s' '" NVCC_PTX_DATA "%s.cu' 2>&1", nvcc,
           arch + 2, out, kernel);
  if (system(cmd) != 0) {
    snprintf(out, cap, "%s -ptx -arch=sm_%s %s.cu failed", nvcc, arch + 2, kernel);
    return false;
  }
  return true;
}

#endif /* QIAO_TESTS_NVCC_PTX_H */
