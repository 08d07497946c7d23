/* SPDX-License-Identifier: MIT */
/*
 * The public header as a strict C99 consumer sees it (-std=c99 -pedantic
 * -Werror, no feature-test macros): it must compile on its own, and the
 * version macros must agree with each other and with the library linked.
 */
#include <uipc/uipc.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#if !defined(UIPC_VERSION_NUMBER) || UIPC_VERSION_NUMBER < 100
#error "UIPC_VERSION_NUMBER missing or not MAJOR*10000 + MINOR*100 + PATCH"
#endif

static int check(int ok, const char *what)
{
    if (!ok)
        fprintf(stderr, "header_c99: %s\n", what);
    return ok ? 0 : 1;
}

int main(void)
{
    uipc_mutex m;
    int bad = 0;

    bad += check(UIPC_VERSION_NUMBER ==
                     UIPC_VERSION_MAJOR * 10000 + UIPC_VERSION_MINOR * 100 + UIPC_VERSION_PATCH,
                 "UIPC_VERSION_NUMBER != MAJOR*10000 + MINOR*100 + PATCH");
    bad += check(strcmp(uipc_version(), UIPC_VERSION_STRING) == 0,
                 "uipc_version() differs from UIPC_VERSION_STRING");
    bad += check(sizeof m == 64, "sizeof(uipc_mutex) != 64");
    bad += check(((size_t)&m & 63u) == 0, "uipc_mutex not 64-byte aligned");
    bad += check(uipc_strerror(-EINVAL) != NULL, "uipc_strerror(-EINVAL) is NULL");
    bad += check(uipc_open(NULL, "pipe:", 0) == -EINVAL, "uipc_open(NULL, ...) != -EINVAL");
    if (bad == 0)
        printf("header_c99: uipc.h %s (%d) compiles as C99 and matches the library\n",
               UIPC_VERSION_STRING, UIPC_VERSION_NUMBER);
    return bad != 0;
}
