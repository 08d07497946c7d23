/* SPDX-License-Identifier: MIT */
/*
 * sysvshm: regions (lib/sync/region_sysv.c), called from region.c: a
 * System V shared memory segment as a uipc_region.
 */
#ifndef UIPC_REGION_SYSV_H
#define UIPC_REGION_SYSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uri.h"

struct uipc__sysvshm {
    int id;     /* the segment's shmid; -1 when the region is not a sysvshm: one */
    bool owner; /* made by this handle (UIPC_CREATE): removed at close */
};

/*
 * Opens the region named by u (scheme "sysvshm") with uipc_region_open's
 * flags: makes or takes over the segment with UIPC_CREATE, attaches to an
 * existing one otherwise, and maps it.  Fills *s, *ptr and *size; on
 * failure nothing is left attached or created.  Sizes above size_max are
 * -EINVAL.
 */
int uipc__sysvshm_open(struct uipc__sysvshm *s, const struct uipc__uri *u, int flags,
                       uint64_t size_max, void **ptr, size_t *size);

/*
 * Detaches ptr; an owner removes the segment when in_creator (the process
 * that made it, not a forked child).  The kernel destroys a removed segment
 * once its last attachment is gone.  0 or -errno.
 */
int uipc__sysvshm_close(const struct uipc__sysvshm *s, void *ptr, bool in_creator);

#endif /* UIPC_REGION_SYSV_H */
