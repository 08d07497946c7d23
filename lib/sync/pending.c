/*
 * Synchronisation calls whose implementation lands with the synchronisation
 * issue.  Until then they answer -ENOTSUP, as the contract allows.
 */
#include <errno.h>

#include "internal.h"

UIPC_API int uipc_region_open(uipc_region **out, const char *uri, int flags)
{
    (void)uri, (void)flags;
    if (out)
        *out = NULL;
    return -ENOTSUP;
}
UIPC_API void *uipc_region_ptr(const uipc_region *r) { (void)r; return NULL; }
UIPC_API size_t uipc_region_size(const uipc_region *r) { (void)r; return 0; }
UIPC_API int uipc_region_close(uipc_region *r) { (void)r; return -ENOTSUP; }
UIPC_API int uipc_sem_open(uipc_sem **out, const char *name, unsigned initial, int flags)
{
    (void)name, (void)initial, (void)flags;
    if (out)
        *out = NULL;
    return -ENOTSUP;
}
UIPC_API int uipc_sem_wait(uipc_sem *s, int timeout_ms) { (void)s, (void)timeout_ms; return -ENOTSUP; }
UIPC_API int uipc_sem_post(uipc_sem *s) { (void)s; return -ENOTSUP; }
UIPC_API int uipc_sem_close(uipc_sem *s) { (void)s; return -ENOTSUP; }
UIPC_API int uipc_sem_unlink(const char *name) { (void)name; return -ENOTSUP; }
UIPC_API int uipc_mutex_init(uipc_mutex *m) { (void)m; return -ENOTSUP; }
UIPC_API int uipc_mutex_lock(uipc_mutex *m, int timeout_ms) { (void)m, (void)timeout_ms; return -ENOTSUP; }
UIPC_API int uipc_mutex_unlock(uipc_mutex *m) { (void)m; return -ENOTSUP; }
UIPC_API int uipc_notify_block(void) { return -ENOTSUP; }
UIPC_API int uipc_notify(pid_t pid, int value) { (void)pid, (void)value; return -ENOTSUP; }
UIPC_API int uipc_notify_wait(pid_t *from, int *value, int timeout_ms)
{
    (void)from, (void)value, (void)timeout_ms;
    return -ENOTSUP;
}
