/* Qiao HAL — executables: the generic part (spec checks, entries with their
 * libffi cifs and binding sizes); the device's driver loads the format. */

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
  free((void *)en->rec.binding_bytes);
  free(en->arg_types);
}

/* Frees e: entries, the device's impl, then the spec's release (on success
 * only: `release` is set last by qiao_hal_executable_create). */
static void executable_free(qiao_hal_executable_t *e) {
  if (e->entries)
    for (int32_t i = 0; i < e->n_entries; ++i)
      entry_fini(&e->entries[i]);
  free(e->entries);
  if (e->impl) e->device->ops->executable_destroy(e);
  if (e->release) e->release(e->release_ctx);
  qiao_hal_device_release(e->device);
  free(e->path);
  free(e);
}

/* Validates record i and prepares its cif; errors name the entry. */
static qiao_status_t entry_init(qiao_hal_entry_t *en, const qiao_hal_entry_record_t *r, int32_t i,
                                bool host_code) {
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
  if (host_code && !r->fn)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s' has a NULL function pointer",
                            r->name);
  if (!host_code && r->fn)
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "entry '%s': a function pointer in a device-code executable", r->name);
  en->rec = *r;
  en->rec.name = qiao_hal_strdup(r->name);
  en->rec.signature = qiao_hal_strdup(r->signature);
  en->rec.binding_bytes = NULL;
  en->n_args = (int32_t)len - 1;
  en->arg_types = calloc(len, sizeof(ffi_type *));
  if (!en->rec.name || !en->rec.signature || !en->arg_types)
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "entry '%s': out of memory", r->name);
  if (r->binding_bytes && r->n_bindings > 0) {
    size_t bytes = sizeof(uint64_t) * (size_t)r->n_bindings;
    uint64_t *sizes = malloc(bytes);
    if (!sizes)
      return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "entry '%s': out of memory", r->name);
    memcpy(sizes, r->binding_bytes, bytes);
    en->rec.binding_bytes = sizes;
  }
  if (!host_code) {
    en->is_dispatch_entry = true; /* the device checks its own signatures */
    return NULL;
  }
  en->ret_type = ffi_type_of(r->signature[0]);
  for (int32_t k = 0; k < en->n_args; ++k)
    en->arg_types[k] = ffi_type_of(r->signature[k + 1]);
  ffi_status fs =
      ffi_prep_cif(&en->cif, FFI_DEFAULT_ABI, (unsigned)en->n_args, en->ret_type, en->arg_types);
  if (fs != FFI_OK)
    return qiao_status_make(QIAO_INTERNAL, "entry '%s': ffi_prep_cif failed (%d) for '%s'", r->name,
                            (int)fs, r->signature);
  en->is_dispatch_entry = !strcmp(r->signature, QIAO_HAL_CPU_ENTRY_SIGNATURE);
  return NULL;
}

qiao_status_t qiao_hal_executable_init_entries(qiao_hal_executable_t *e,
                                               const qiao_hal_entry_record_t *records, int32_t n,
                                               bool host_code) {
  if (n < 0 || (n > 0 && !records))
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "bad record list (n = %d)", n);
  e->entries = calloc(n > 0 ? (size_t)n : 1, sizeof(qiao_hal_entry_t));
  if (!e->entries) return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "out of memory");
  for (int32_t i = 0; i < n; ++i) {
    e->n_entries = i + 1; /* entry i is cleaned up even when its init fails */
    QIAO_RETURN_IF_ERROR(entry_init(&e->entries[i], &records[i], i, host_code));
    for (int32_t j = 0; j < i; ++j)
      if (!strcmp(e->entries[j].rec.name, records[i].name))
        return qiao_status_make(QIAO_INVALID_ARGUMENT, "entries %d and %d are both named '%s'", j,
                                i, records[i].name);
  }
  return NULL;
}

static const char *const kFormatNames[] = {"host library", "host JIT", "PTX", "simulator module"};
static const char *const kFormatLabels[] = {NULL, "<host>", "<ptx>", "<sim-module>"};

const char *qiao_hal_executable_format_name(qiao_hal_executable_format_t f) {
  return (unsigned)f < sizeof kFormatNames / sizeof kFormatNames[0] ? kFormatNames[f] : "unknown";
}

/* The spec's fields that its format needs. */
static qiao_status_t check_spec(const qiao_hal_executable_spec_t *spec) {
  const char *fname = qiao_hal_executable_format_name(spec->format);
  switch (spec->format) {
  case QIAO_HAL_FORMAT_HOST_LIBRARY:
    if (!spec->path || !*spec->path)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable: empty path");
    return NULL;
  case QIAO_HAL_FORMAT_HOST_JIT:
    if (spec->n_records < 0 || (spec->n_records > 0 && !spec->records))
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "host executable: bad record list (n = %d)",
                              spec->n_records);
    return NULL;
  case QIAO_HAL_FORMAT_PTX:
  case QIAO_HAL_FORMAT_SIM_MODULE:
    if (!spec->data || !spec->size)
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s executable: no data", fname);
    if (spec->n_records < 0 || (spec->n_records > 0 && !spec->records))
      return qiao_status_make(QIAO_INVALID_ARGUMENT, "%s executable: bad record list (n = %d)",
                              fname, spec->n_records);
    return NULL;
  }
  return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable: unknown format %d",
                          (int)spec->format);
}

qiao_status_t qiao_hal_executable_create(qiao_hal_device_t *d,
                                         const qiao_hal_executable_spec_t *spec,
                                         qiao_hal_executable_t **out_exe) {
  *out_exe = NULL;
  if (!spec) return qiao_status_make(QIAO_INVALID_ARGUMENT, "executable: spec is NULL");
  QIAO_RETURN_IF_ERROR(check_spec(spec));
  if (!(d->ops->formats & (1u << spec->format)) || !d->ops->executable_create)
    return qiao_status_make(QIAO_UNSUPPORTED, "device '%s' cannot load a %s executable", d->uri,
                            qiao_hal_executable_format_name(spec->format));
  const char *label =
      spec->format == QIAO_HAL_FORMAT_HOST_LIBRARY ? spec->path : kFormatLabels[spec->format];
  qiao_hal_executable_t *e = calloc(1, sizeof(*e));
  char *path = qiao_hal_strdup(label);
  if (!e || !path) {
    free(e);
    free(path);
    return qiao_status_make(QIAO_RESOURCE_EXHAUSTED, "executable '%s': out of memory", label);
  }
  atomic_init(&e->refs, 1);
  qiao_hal_device_retain(d);
  e->device = d;
  e->format = spec->format;
  e->path = path;
  qiao_status_t st = d->ops->executable_create(d, spec, e);
  if (st) {
    executable_free(e); /* release is not set yet: the caller keeps what it gave */
    return qiao_status_annotate(st, "executable '%s'", label);
  }
  e->release = spec->release;
  e->release_ctx = spec->release_ctx;
  *out_exe = e;
  return NULL;
}

qiao_status_t qiao_hal_executable_load_file(qiao_hal_device_t *d, const char *path,
                                            qiao_hal_executable_t **out_exe) {
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_HOST_LIBRARY, .path = path};
  return qiao_hal_executable_create(d, &spec, out_exe);
}

qiao_status_t qiao_hal_executable_create_host(qiao_hal_device_t *d,
                                              const qiao_hal_entry_record_t *records, int32_t n,
                                              void (*release)(void *), void *release_ctx,
                                              qiao_hal_executable_t **out_exe) {
  qiao_hal_executable_spec_t spec = {.format = QIAO_HAL_FORMAT_HOST_JIT,
                                     .records = records,
                                     .n_records = n,
                                     .release = release,
                                     .release_ctx = release_ctx};
  return qiao_hal_executable_create(d, &spec, out_exe);
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
    *out_info = (qiao_hal_entry_info_t){r->name,        r->signature,     r->n_bindings,
                                        r->n_constants, r->scratch_bytes, r->binding_bytes};
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
    return qiao_status_make(QIAO_INVALID_ARGUMENT,
                            "executable '%s': entry index %d out of range "
                            "(%d entries)",
                            e->path, index, e->n_entries);
  const qiao_hal_entry_t *en = &e->entries[index];
  if (!en->rec.fn)
    return qiao_status_make(QIAO_UNSUPPORTED, "entry '%s': a %s entry cannot be called on the host",
                            en->rec.name, qiao_hal_executable_format_name(e->format));
  if (en->n_args > 0 && !args)
    return qiao_status_make(QIAO_INVALID_ARGUMENT, "entry '%s': args is NULL", en->rec.name);
  uint64_t scratch_ret[2];
  ffi_call((ffi_cif *)&en->cif, (void (*)(void))en->rec.fn, ret ? ret : scratch_ret, args);
  return NULL;
}
