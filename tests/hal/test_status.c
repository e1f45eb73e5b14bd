/* qiao_status_t: codes, messages, annotate, the static out-of-memory status
 * and (debug builds) the source location. */
#include <criterion/criterion.h>
#include <sys/resource.h>

#include "qiao/status.h"

/* Under ASan a failed malloc must return NULL (as libc's does) instead of
 * aborting the test: the OOM test below depends on it. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

Test(status, make_code_message) {
  qiao_status_t s = qiao_status_make(QIAO_NOT_FOUND, "no entry '%s' in %d files", "k3", 2);
  cr_assert_not_null(s);
  cr_expect_eq(qiao_status_code(s), QIAO_NOT_FOUND);
  cr_expect_str_eq(qiao_status_message(s), "no entry 'k3' in 2 files");
  qiao_status_free(s);
  cr_expect_eq(qiao_status_code(NULL), QIAO_OK);
  cr_expect_str_eq(qiao_status_message(NULL), "ok");
  cr_expect_null(qiao_status_file(NULL));
  cr_expect_eq(qiao_status_line(NULL), 0);
  qiao_status_free(NULL);
}

Test(status, annotate_keeps_code_and_prefixes) {
  qiao_status_t s = qiao_status_make(QIAO_IO_ERROR, "disk full");
  s = qiao_status_annotate(s, "writing '%s'", "a.bin");
  s = qiao_status_annotate(s, "saving");
  cr_expect_eq(qiao_status_code(s), QIAO_IO_ERROR);
  cr_expect_str_eq(qiao_status_message(s), "saving: writing 'a.bin': disk full");
  qiao_status_free(s);
  cr_expect_null(qiao_status_annotate(NULL, "ctx"));
}

static qiao_status_t fails_twice(int *calls) {
  ++*calls;
  QIAO_RETURN_IF_ERROR(qiao_status_make(QIAO_INTERNAL, "first"));
  ++*calls;
  return NULL;
}

Test(status, return_if_error) {
  int calls = 0;
  qiao_status_t s = fails_twice(&calls);
  cr_expect_eq(calls, 1);
  cr_expect_str_eq(qiao_status_message(s), "first");
  qiao_status_free(s);
}

Test(status, source_location) {
  int line = __LINE__ + 1;
  qiao_status_t s = qiao_status_make(QIAO_INTERNAL, "here");
#ifdef NDEBUG
  cr_expect_null(qiao_status_file(s));
  cr_expect_eq(qiao_status_line(s), 0);
#else
  cr_assert_not_null(qiao_status_file(s));
  cr_expect(strstr(qiao_status_file(s), "test_status.c") != NULL, "%s", qiao_status_file(s));
  cr_expect_eq(qiao_status_line(s), line);
  /* annotate keeps where the error was made */
  s = qiao_status_annotate(s, "ctx");
  cr_expect(strstr(qiao_status_file(s), "test_status.c") != NULL);
  cr_expect_eq(qiao_status_line(s), line);
#endif
  (void)line;
  qiao_status_t t = qiao_status_make_at("x.c", 7, QIAO_INTERNAL, "m");
  cr_expect_str_eq(qiao_status_message(t), "m");
  cr_expect_str_eq(qiao_status_file(t), "x.c");
  cr_expect_eq(qiao_status_line(t), 7);
  qiao_status_free(t);
  qiao_status_free(s);
}

/* VmSize of this process in bytes (from /proc/self/statm), 0 if unknown. */
static rlim_t vm_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1) pages = 0;
    fclose(f);
  }
  return (rlim_t)pages * 4096;
}

/* A real allocation failure: the address space is capped just above what the
 * process uses, then a status with a 1 GiB message is made. Criterion forks
 * every test, so the cap dies with this one. */
Test(status, out_of_memory_is_static) {
  struct rlimit old;
  cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
  rlim_t vm = vm_bytes();
  cr_assert_gt(vm, 0);
  struct rlimit low = {vm + (64u << 20), old.rlim_max};
  cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
  qiao_status_t s = qiao_status_make(QIAO_INVALID_ARGUMENT, "%*s", 1 << 30, "");
  qiao_status_t a = qiao_status_annotate(s, "context %d", 1);
  qiao_status_t small = qiao_status_make(QIAO_NOT_FOUND, "small");
  qiao_status_t small_annotated = qiao_status_annotate(small, "%*s", 1 << 20, "");
  /* 40 MiB fit under the cap, twice does not: annotate hands back the original */
  qiao_status_t big = qiao_status_make(QIAO_IO_ERROR, "%*s", 40 << 20, "");
  qiao_status_t big_annotated = qiao_status_annotate(big, "ctx");
  setrlimit(RLIMIT_AS, &old); /* restore before Criterion allocates */

  cr_assert_not_null(s);
  cr_expect_eq(qiao_status_code(s), QIAO_RESOURCE_EXHAUSTED);
  cr_expect_str_eq(qiao_status_message(s), "out of memory (while reporting an error)");
  cr_expect_null(qiao_status_file(s));
  cr_expect_eq(qiao_status_line(s), 0);
  cr_expect_eq(s, qiao_status_out_of_memory());
  cr_expect_eq(a, s, "annotating the out-of-memory status returns it unchanged");
  /* a small status still fits; annotating it with a huge prefix is capped
   * (512 bytes), so it succeeds too */
  cr_expect_eq(qiao_status_code(small_annotated), QIAO_NOT_FOUND);
  cr_expect(strstr(qiao_status_message(small_annotated), ": small") != NULL);
  qiao_status_free(small_annotated);
  cr_expect_eq(qiao_status_code(big), QIAO_IO_ERROR);
  cr_expect_eq(big_annotated, big, "a failed annotate returns the original status");
  qiao_status_free(big_annotated);
  qiao_status_free(a); /* ignored */
  qiao_status_free(s); /* ignored, again */
  cr_expect_eq(qiao_status_code(s), QIAO_RESOURCE_EXHAUSTED);
}
