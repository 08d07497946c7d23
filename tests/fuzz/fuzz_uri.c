/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness for the URI parser (lib/uri.c) and everything that reads
 * a parsed URI without touching the file system or the network: every
 * typed getter, the key check against every registered transport, the
 * unix: address parser, and uipc_pair() for the schemes whose pair is made
 * of anonymous descriptors (pipe:, unix:).  uipc_open/uipc_unlink are not
 * called on purpose: they would create or remove files wherever the fuzzer
 * points them.
 *
 * Besides "no crash, no leak, no undefined behaviour" the harness checks a
 * few invariants a transport relies on: every string of a parsed URI lies
 * in the URI's own storage (or is the empty literal), contains no control
 * character, the scheme is lowercase, and every getter answers 0 or -EINVAL.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "sock.h"
#include "uri.h"

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_uri: invariant failed: %s (line %d)\n", #cond,     \
              __LINE__);                                                       \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static void check_string(const struct uipc__uri *u, const char *s) {
  CHECK(s != NULL);
  if (s[0] == '\0' && (s < u->store || s >= u->store + sizeof u->store))
    return; /* the "" literal for an absent part */
  CHECK(s >= u->store && s < u->store + sizeof u->store);
  size_t room = (size_t)(u->store + sizeof u->store - s);
  size_t n = strnlen(s, room);
  CHECK(n < room);
  for (size_t i = 0; i < n; i++)
    CHECK((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] != 0x7f);
}

static void check_getters(const struct uipc__uri *u) {
  static const char *const size_keys[] = {"maxmsg", "size", "depth",
                                          "proj",   "mode", "type"};
  for (size_t i = 0; i < sizeof size_keys / sizeof size_keys[0]; i++) {
    uint64_t v = 0;
    int r = uipc__uri_size(u, size_keys[i], 1, UIPC__MAXMSG_CEILING, 4096, &v);
    CHECK(r == 0 || r == -EINVAL);
    CHECK(r < 0 || (v >= 1 && v <= UIPC__MAXMSG_CEILING));
    r = uipc__uri_size(u, size_keys[i], 0, UINT64_MAX, 0, &v);
    CHECK(r == 0 || r == -EINVAL);
    long l = 0;
    r = uipc__uri_long(u, size_keys[i], -1000, 1000, 7, &l);
    CHECK(r == 0 || r == -EINVAL);
    CHECK(r < 0 || (l >= -1000 && l <= 1000));
    r = uipc__uri_long(u, size_keys[i], LONG_MIN, LONG_MAX, 0, &l);
    CHECK(r == 0 || r == -EINVAL);
  }
  mode_t m = 0;
  int r = uipc__uri_mode(u, &m);
  CHECK(r == 0 || r == -EINVAL);
  CHECK(r < 0 || m <= 0777);

  char host[256];
  uint16_t port = 0;
  r = uipc__uri_host_port(u, host, sizeof host, &port);
  CHECK(r == 0 || r == -EINVAL);
  /* Port 0 parses (a listener or owner binds a port the kernel chooses;
   * a client refuses it in sock.c). */
  CHECK(r < 0 || (strlen(host) > 0 && strlen(host) < sizeof host));
  char tiny[4];
  r = uipc__uri_host_port(u, tiny, sizeof tiny, &port);
  CHECK(r == 0 || r == -EINVAL);

  size_t pos = 0, seen = 0;
  const char *v;
  while ((v = uipc__uri_next(u, "allow_uid", &pos))) {
    check_string(u, v);
    CHECK(++seen <= u->nkeys);
  }
  for (size_t i = 0; i < u->nkeys; i++) {
    check_string(u, u->kv[i].key);
    check_string(u, u->kv[i].value);
    CHECK(u->kv[i].key[0] != '\0');
    uint64_t n;
    r = uipc__parse_size(u->kv[i].value, &n);
    CHECK(r == 0 || r == -EINVAL);
    int err;
    (void)uipc__uri_get(u, u->kv[i].key, &err);
    CHECK(err == 0 || err == -EINVAL);
  }
  (void)uipc__name_ok(u->path, 255);
  if (u->path[0])
    (void)uipc__name_ok(u->path + 1, 255);
  (void)uipc__name_ok(u->authority, 255);
}

/* uipc_pair makes only anonymous descriptors: safe to call on any input. */
static void try_pair(const char *text, const struct uipc__uri *u) {
  if (strcmp(u->scheme, "pipe") != 0 && strcmp(u->scheme, "unix") != 0)
    return;
  uipc_channel *a = NULL, *b = NULL;
  int r = uipc_pair(text, &a, &b);
  CHECK(r <= 0);
  if (r < 0) {
    CHECK(a == NULL && b == NULL);
    return;
  }
  CHECK(uipc_max_msg(a) > 0 && uipc_max_msg(a) == uipc_max_msg(b));
  char msg[8] = "fuzz";
  char got[8];
  size_t n = uipc_max_msg(a) < 4 ? uipc_max_msg(a) : 4;
  CHECK(uipc_send(a, msg, n, 0) == (ssize_t)n);
  CHECK(uipc_recv(b, got, sizeof got, 0) == (ssize_t)n &&
        memcmp(got, msg, n) == 0);
  uipc_close(a);
  uipc_close(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2 * UIPC__URI_MAX)
    return 0;
  char *text = malloc(size + 1);
  struct uipc__uri *u = malloc(sizeof *u);
  if (!text || !u)
    abort();
  memcpy(text, data, size);
  text[size] = '\0';

  int r = uipc__uri_parse(u, text);
  CHECK(r == 0 || r == -EINVAL);
  if (r == 0) {
    CHECK(strlen(text) <= UIPC__URI_MAX);
    CHECK(u->scheme[0] != '\0' && strlen(u->scheme) < UIPC__SCHEME_MAX);
    for (const char *c = u->scheme; *c; c++)
      CHECK(!(*c >= 'A' && *c <= 'Z'));
    check_string(u, u->authority);
    check_string(u, u->path);
    CHECK(u->nkeys <= UIPC__URI_MAX_KEYS);
    check_getters(u);
    for (size_t i = 0; i < uipc__ntransports; i++) {
      int k = uipc__uri_check_keys(u, uipc__transports[i]->keys);
      CHECK(k == 0 || k == -EINVAL);
    }
    if (strcmp(u->scheme, "unix") == 0) {
      struct uipc__sockspec s;
      int k = uipc__sock_parse_unix(u, &s);
      CHECK(k == 0 || k == -EINVAL || k == -ENAMETOOLONG);
      CHECK(k < 0 || s.nallow <= UIPC__MAX_ALLOW);
    }
    try_pair(text, u);
  }
  free(u);
  free(text);
  return 0;
}
