// SPDX-License-Identifier: MIT
//
// The public header as a C++11 consumer sees it (-std=c++11 -pedantic
// -Werror): it must compile, give the calls C linkage (this program links
// against the C library), and lay out uipc_mutex as C does.
#include <uipc/uipc.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

static_assert(UIPC_VERSION_NUMBER ==
                  UIPC_VERSION_MAJOR * 10000 + UIPC_VERSION_MINOR * 100 + UIPC_VERSION_PATCH,
              "UIPC_VERSION_NUMBER != MAJOR*10000 + MINOR*100 + PATCH");
static_assert(sizeof(uipc_mutex) == 64, "uipc_mutex is 64 bytes in C");
static_assert(alignof(uipc_mutex) == 64, "uipc_mutex is 64-byte aligned in C");

int main()
{
    int bad = 0;
    if (std::strcmp(uipc_version(), UIPC_VERSION_STRING) != 0) {
        std::fprintf(stderr, "header_cxx11: uipc_version() differs from UIPC_VERSION_STRING\n");
        bad = 1;
    }
    uipc_channel *ch = nullptr;
    if (uipc_open(&ch, "nosuchscheme:", 0) != -EPROTONOSUPPORT) {
        std::fprintf(stderr, "header_cxx11: uipc_open(unknown scheme) != -EPROTONOSUPPORT\n");
        bad = 1;
    }
    if (!bad)
        std::printf("header_cxx11: uipc.h %s compiles as C++11 and links\n", UIPC_VERSION_STRING);
    return bad;
}
