/* Qiao HAL — executables: shared-library artifacts and host (JIT) code,
 * entries prepared as libffi cifs at load time. */
#include <dlfcn.h>
#include <errno.h>
#include <unistd.h>

#include "hal_internal.h"

static ffi_type *ffi_type_of(char c) {
  switch (c) {
  case 'v': return &ffi_type_void;
  case 'p': return &ffi_type_pointer;
  case 'l': return &ffi_type_sint64;
  case 'i': return &ffi_type_sint32;
  case 'd': return &ffi_type_double;
  case 'f': return &ffi_type_float;
  default: return NULL;
  }
}

static void entry_fini(qiao_hal_entry_t *en) {
  free((char *)en->rec.name);
  free((char *)en->rec.signature);
  free(en->arg_types);
}

static void executable_free(qiao_hal_executable_t *e) {
  if (e->entries)
    for (int32_t i = 0; i < e->n_entries; ++i) entry_fini(&e->entries[i]);
  free(e->entries);
  if (e->release) e->release(e->release_ctx);
  if (e->dl_handle) dlclose(e->dl_handle);
  if (e->device) qiao_hal_device_release(e->device);
  free(e->path);
  free(e);
}

/* Validates record i and prepares its cif; errors name the entry. */
static qiao_status_t entry_init(qiao_hal_entry_t *en, const qiao_hal_entry_record_t *r,
                                int32_t i) {
  if (!r->name || !*r->name)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry %d has no name", i);
  if (strnlen(r->name, 4096) == 4096)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry %d: name longer than 4095 bytes", i);
  if (!r->signature || !*r->signature)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s' has no signature", r->name);
  size_t len = strnlen(r->signature, 256);
  if (len == 256)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s': signature longer than 255 chars",
                            r->name);
  for (size_t k = 0; k < len; ++k) {
    char c = r->signature[k];
    if (!ffi_type_of(c) || (k > 0 && c == 'v'))
      return qiao_status_make(QIAO_INVALID_ARGUMENT,
                              "entry '%s': signature '%s' has %s type '%c' at position %zu "
                              "(known: return v p l i d f; arguments p l i d f)",
                              r->name, r->signature, c == 'v' ? "misplaced" : "unknown", c, k);
  }
  if (r->n_bindings < 0 || r->n_constants < 0)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "entry '%s': negative binding or constant count (%d, %d)", r->name,
                            r->n_bindings, r->n_constants);
  if (!r->fn)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s' has a NULL function pointer",
                            r->name);
  en->rec = *r;
  en->rec.name = qiao_hal_strdup(r->name);
  en->rec.signature = qiao_hal_strdup(r->signature);
  en->n_args = (int32_t)len - 1;
  en->arg_types = calloc(len, sizeof(ffi_type *));
  if (!en->rec.name || !en->rec.signature || !en->arg_types)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "entry '%s': out of memory", r->name);
  en->ret_type = ffi_type_of(r->signature[0]);
  for (int32_t k = 0; k < en->n_args; ++k) en->arg_types[k] = ffi_type_of(r->signature[k + 1]);
  ffi_status fs = ffi_prep_cif(&en->cif, FFI_DEFAULT_ABI, (unsigned)en->n_args, en->ret_type,
                               en->arg_types);
  if (fs != FFI_OK)
    return qiao_status_make(QIAO_INTERNAL, "entry '%s': ffi_prep_cif failed (%d) for '%s'",
                            r->name, (int)fs, r->signature);
  en->is_dispatch_entry = !strcmp(r->signature, QIAO_HAL_CPU_ENTRY_SIGNATURE);
  return NULL;
}

/* Builds an executable from n records; takes ownership of dl_handle and
 * (only on success) of release/release_ctx. */
static qiao_status_t executable_build(qiao_hal_device_t *d, const char *path, void *dl_handle,
                                      const qiao_hal_entry_record_t *records, int32_t n,
                                      qiao_hal_executable_t **out_exe) {
  qiao_hal_executable_t *e = calloc(1, sizeof(*e));
  if (!e) {
    if (dl_handle) dlclose(dl_handle);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "executable '%s': out of memory", path);
  }
  atomic_init(&e->refs, 1);
  e->dl_handle = dl_handle;
  e->path = qiao_hal_strdup(path);
  e->entries = calloc(n > 0 ? (size_t)n : 1, sizeof(qiao_hal_entry_t));
  if (!e->path || !e->entries) {
    executable_free(e);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "executable '%s': out of memory", path);
  }
  for (int32_t i = 0; i < n; ++i) {
    e->n_entries = i + 1; /* entry i is cleaned up even when its init fails */
    qiao_status_t st = entry_init(&e->entries[i], &records[i], i);
    for (int32_t j = 0; !st && j < i; ++j)
      if (!strcmp(e->entries[j].rec.name, records[i].name))
        st = qiao_status_make(QIAO_INVALID_ARGUMENT, "entries %d and %d are both named '%s'", j,
                              i, records[i].name);
    if (st) {
      executable_free(e);
      return qiao_status_annotate(st, "executable '%s'", path);
    }
  }
  qiao_hal_device_retain(d);
  e->device = d;
  *out_exe = e;
  return NULL;
}

qiao_status_t qiao_hal_executable_load_file(qiao_hal_device_t *d, const char *path,
                                            qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  if (!path || !*path)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable: empty path");
  if (!d->host_visible)
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "executable '%s': device '%s' cannot load shared libraries", path,
                            d->uri);
  if (access(path, R_OK) != 0)
    return qiao_status_make(QIAO_NOT_FOUND, "executable '%s': %s", path, strerror(errno));
  /* dlopen of a relative name without '/' searches the library path: make it
   * a path so that we load exactly the file asked for. */
  char local[4096];
  const char *open_path = path;
  if (!strchr(path, '/')) {
    snprintf(local, sizeof local, "./%s", path);
    open_path = local;
  }
  dlerror();
  void *h = dlopen(open_path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *err = dlerror();
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable '%s': cannot load: %s", path,
                            err ? err : "unknown dlopen error");
  }
  const qiao_hal_entry_record_t *table = dlsym(h, QIAO_HAL_ENTRY_TABLE_SYMBOL);
  const int32_t *count = dlsym(h, QIAO_HAL_ENTRY_COUNT_SYMBOL);
  if (!table || !count) {
    dlclose(h);
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "executable '%s': missing symbol '%s' (not a Qiao CPU artifact: it "
                            "must export %s and %s)",
                            path, !table ? QIAO_HAL_ENTRY_TABLE_SYMBOL : QIAO_HAL_ENTRY_COUNT_SYMBOL,
                            QIAO_HAL_ENTRY_TABLE_SYMBOL, QIAO_HAL_ENTRY_COUNT_SYMBOL);
  }
  if (*count < 0 || *count > 1000000) {
    int32_t c = *count;
    dlclose(h);
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable '%s': bad %s = %d", path,
                            QIAO_HAL_ENTRY_COUNT_SYMBOL, c);
  }
  return executable_build(d, path, h, table, *count, out_exe);
}

qiao_status_t qiao_hal_executable_create_host(qiao_hal_device_t *d,
                                              const qiao_hal_entry_record_t *records, int32_t n,
                                              void (*release)(void *), void *release_ctx,
                                              qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  if (n < 0 || (n > 0 && !records))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "host executable: bad record list (n = %d)",
                            n);
  if (!d->host_visible)
    return qiao_status_make(QIAO_UNSUPPORTED,
                            "host executable: device '%s' cannot run host code", d->uri);
  QIAO_RETURN_IF_ERROR(executable_build(d, "<host>", NULL, records, n, out_exe));
  (*out_exe)->release = release;
  (*out_exe)->release_ctx = release_ctx;
  return NULL;
}

void qiao_hal_executable_retain(qiao_hal_executable_t *e) {
  if (e) atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
}

void qiao_hal_executable_release(qiao_hal_executable_t *e) {
  if (!e || atomic_fetch_sub_explicit(&e->refs, 1, memory_order_acq_rel) != 1) return;
  executable_free(e);
}

int32_t qiao_hal_executable_entry_count(const qiao_hal_executable_t *e) { return e->n_entries; }

bool qiao_hal_executable_entry_info(const qiao_hal_executable_t *e, int32_t index,
                                    qiao_hal_entry_info_t *out_info) {
  if (index < 0 || index >= e->n_entries) return false;
  const qiao_hal_entry_record_t *r = &e->entries[index].rec;
  if (out_info)
    *out_info = (qiao_hal_entry_info_t){r->name, r->signature, r->n_bindings, r->n_constants,
                                        r->scratch_bytes};
  return true;
}

qiao_status_t qiao_hal_executable_lookup(const qiao_hal_executable_t *e, const char *name,
                                         int32_t *out_index, qiao_hal_entry_info_t *out_info) {
  for (int32_t i = 0; i < e->n_entries; ++i) {
    if (strcmp(e->entries[i].rec.name, name)) continue;
    if (out_index) *out_index = i;
    qiao_hal_executable_entry_info(e, i, out_info);
    return NULL;
  }
  return qiao_status_make(QIAO_NOT_FOUND, "executable '%s' has no entry '%s'", e->path, name);
}

qiao_status_t qiao_hal_executable_call(const qiao_hal_executable_t *e, int32_t index, void **args,
                                       void *ret) {
  if (index < 0 || index >= e->n_entries)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable '%s': entry index %d out of range "
                            "(%d entries)", e->path, index, e->n_entries);
  const qiao_hal_entry_t *en = &e->entries[index];
  if (en->n_args > 0 && !args)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s': args is NULL", en->rec.name);
  uint64_t scratch_ret[2];
  ffi_call((ffi_cif *)&en->cif, (void (*)(void))en->rec.fn, ret ? ret : scratch_ret, args);
  return NULL;
}
