#ifndef SHOAL_LISTEN_H
#define SHOAL_LISTEN_H
/* Listening sockets from -p, -l and -s/-a.
 *
 * Each TCP address gets one SO_REUSEPORT socket per worker thread, so every worker accepts on
 * its own socket and the kernel spreads new connections across workers by hash (see
 * server/NETWORK.md). A unix socket cannot be shared that way: it is one socket that the
 * workers take turns to poll (server/worker.c passes it round-robin).
 *
 * The set owns its sockets and names; listen_close_all closes them (and unlinks the unix
 * socket path). */
#include <stdbool.h>
#include <stddef.h>

#include "server/settings.h"

#define LISTEN_NAME_MAX 128

struct listener {
    int *fds;       /* fds[worker] (TCP), or one fd repeated for every worker (unix) */
    bool is_unix;
    char name[LISTEN_NAME_MAX]; /* "tcp:127.0.0.1:11211", "tcp6:[::1]:11211", "unix:/path" */
};

struct listen_set {
    struct listener *items;
    int count;
    int nworkers;
    const char *unix_path; /* to unlink at close; NULL for none */
};

/* Opens every listener settings ask for. On failure closes what it opened, prints memcached's
 * message on stderr and returns the exit code to stop with (71, EX_OSERR); returns 0 on success. */
int listen_open_all(const struct settings *s, int nworkers, struct listen_set *set);
void listen_close_all(struct listen_set *set);

#endif
