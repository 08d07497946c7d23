/* SPDX-License-Identifier: MIT */
/*
 * uipc ls / uipc rm: thin loops over uipc_list(3) and uipc_remove(3).
 *
 * The library knows every transport's names, magic and liveness (each
 * transport's probe operation); this file only chooses where to look —
 * the system-wide namespaces, then directories for the path-named kinds
 * (/tmp and /var/tmp 3 levels deep, /run 2, $XDG_RUNTIME_DIR 2, each
 * --dir DIR 3) — and prints the rows.  Every row ls prints, rm removes:
 * a stale one as it is, a live one with --force.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <uipc/uipc.h>

#include "tool.h"

struct rows {
    uipc_rdvinfo *v;
    size_t n, cap;
};

/* uipc_list callback: keeps each row once (a directory may be walked twice). */
static int keep(const uipc_rdvinfo *info, void *arg)
{
    struct rows *rs = arg;
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->v[i].uri, info->uri) == 0)
            return 0;
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 16;
        uipc_rdvinfo *v = realloc(rs->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = *info;
    return 0;
}

/* uipc_list on dir and its subdirectories, depth levels in all. */
static int walk(struct rows *rs, const char *dir, int depth)
{
    int r = uipc_list(dir, keep, rs);
    if (r == -ENOMEM || depth <= 1)
        return r == -ENOMEM ? r : 0;
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        char path[PATH_MAX];
        struct stat st;
        if (de->d_name[0] == '.' ||
            snprintf(path, sizeof path, "%s/%s", strcmp(dir, "/") ? dir : "", de->d_name) >=
                (int)sizeof path ||
            lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        if ((r = walk(rs, path, depth - 1)) < 0)
            break;
    }
    if (d)
        closedir(d);
    return r < 0 ? r : 0;
}

static int by_uri(const void *a, const void *b)
{
    const uipc_rdvinfo *x = a, *y = b;
    int c = strcmp(x->scheme, y->scheme);
    return c ? c : strcmp(x->uri, y->uri);
}

static const char *state_name(int state)
{
    return state == UIPC_RDV_LIVE ? "live" : state == UIPC_RDV_STALE ? "stale" : "corrupt";
}

int cmd_ls(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'}, {"stale", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},      {NULL, 0, NULL, 0},
    };
    const char *roots[40] = {"/tmp", "/var/tmp", "/run"};
    int depths[40] = {3, 3, 2};
    size_t nroots = 3;
    bool stale_only = false;
    int c;
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    if (xdg && xdg[0] == '/')
        roots[nroots] = xdg, depths[nroots++] = 2;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "d:sh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            if (optarg[0] != '/')
                return fail_usage("ls", "--dir: '%s' is not an absolute path", optarg);
            if (nroots == sizeof roots / sizeof roots[0])
                return fail_usage("ls", "too many --dir");
            roots[nroots] = optarg, depths[nroots++] = 3;
            break;
        case 's': stale_only = true; break;
        case 'h':
            printf("usage: uipc ls [--stale] [--dir DIR]...\n"
                   "Lists libuipc rendezvous on this machine (uipc_list): scheme, owner pid,\n"
                   "state (live: its owner holds it; stale: the owner is gone, 'uipc rm'\n"
                   "removes it; corrupt: damaged and unheld, 'uipc rm' removes it), size,\n"
                   "mode and URI.\n"
                   "  -s, --stale    list stale and corrupt ones only\n"
                   "  -d, --dir DIR  also look in DIR (3 levels) for fifo:, unix:, file:, mmap:\n");
            return 0;
        default:
            if (optopt)
                return fail_usage("ls", "unknown or incomplete option '-%c'", optopt);
            return fail_usage("ls", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return fail_usage("ls", "unexpected argument '%s'", argv[optind]);
    struct rows rs = {NULL, 0, 0};
    int r = uipc_list(NULL, keep, &rs);
    for (size_t i = 0; i < nroots && r >= 0; i++)
        r = walk(&rs, roots[i], depths[i]);
    if (r < 0) {
        free(rs.v);
        return fail_uri("ls", "uipc_list", r);
    }
    qsort(rs.v, rs.n, sizeof *rs.v, by_uri);
    printf("%-7s %8s %-6s %10s %5s  %s\n", "SCHEME", "PID", "STATE", "SIZE", "MODE", "URI");
    for (size_t i = 0; i < rs.n; i++) {
        const uipc_rdvinfo *e = &rs.v[i];
        if (stale_only && e->state == UIPC_RDV_LIVE)
            continue;
        char pid[16] = "-", size[24] = "-";
        if (e->pid > 0)
            snprintf(pid, sizeof pid, "%d", (int)e->pid);
        if (e->size >= 0)
            snprintf(size, sizeof size, "%lld", e->size);
        printf("%-7s %8s %-6s %10s  %04o  %s\n", e->scheme, pid, state_name(e->state), size,
               e->mode, e->uri);
    }
    free(rs.v);
    return 0;
}

/* uipc_list callback for rm's refusal: the owner's pid. */
static int owner_pid(const uipc_rdvinfo *info, void *arg)
{
    *(pid_t *)arg = info->pid;
    return 1;
}

int cmd_rm(int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'}, {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    bool force = false;
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': force = true; break;
        case 'h':
            printf("usage: uipc rm [--force] URI...\n"
                   "Removes stale rendezvous (uipc_remove), every URI 'uipc ls' shows.  One\n"
                   "whose owner is alive is refused unless --force, which removes its name\n"
                   "anyway: the owner keeps what it has open, new peers no longer find it.\n");
            return 0;
        default:
            if (optopt)
                return fail_usage("rm", "unknown or incomplete option '-%c'", optopt);
            return fail_usage("rm", "unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return fail_usage("rm", "missing URI");
    int status = 0;
    for (int i = optind; i < argc; i++) {
        const char *uri = argv[i];
        int r = uipc_remove(uri, force ? UIPC_FORCE : 0);
        pid_t pid = 0;
        if (r == -EADDRINUSE && uipc_list(uri, owner_pid, &pid) > 0 && pid > 0) {
            fprintf(stderr, "uipc rm: %s: in use by pid %d (use --force)\n", uri, (int)pid);
            status = 1;
        } else if (r == -EADDRINUSE) {
            fprintf(stderr, "uipc rm: %s: in use (use --force)\n", uri);
            status = 1;
        } else if (r < 0) {
            status = fail_uri("rm", uri, r);
        }
    }
    return status;
}
