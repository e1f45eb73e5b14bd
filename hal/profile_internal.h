/* Qiao HAL — private: profile parsing shared by profile.c and host_profile.c. */
#ifndef QIAO_HAL_PROFILE_INTERNAL_H
#define QIAO_HAL_PROFILE_INTERNAL_H

#include <jansson.h>

#include "qiao/hal.h"

/* Validates a parsed profile document and builds the profile; `path` names
 * it in errors. Takes a new reference to `root` (the caller keeps its own). */
qiao_status_t qiao_hal_profile_from_json(json_t *root, const char *path,
                                         qiao_hal_profile_t **out_profile);

/* The host CPU profile (host_profile.c). */
qiao_status_t qiao_hal_host_profile_get(qiao_hal_profile_t **out_profile);

#endif /* QIAO_HAL_PROFILE_INTERNAL_H */
