#ifndef SHOAL_WORKER_H
#define SHOAL_WORKER_H
/* Worker threads: each runs its own epoll loop, accepts on its own listening sockets and owns the
 * connections it serves for their whole life. See server/NETWORK.md for why. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "server/event_handler.h"
#include "server/listen.h"
#include "server/session.h"
#include "server/stats.h"

struct conn;
struct handoff;
struct listener_handler;
struct route_worker;
struct route_conn_pool;
struct outbuf;

/* The per-thread read buffer: every connection of the worker reads into it. */
#define WORKER_READ_BUF 65536

struct worker {
    int id;
    pthread_t thread;
    int epfd;
    int wake_fd;                   /* eventfd: stop, or connections handed over */
    struct event_handler wake_handler; /* wake_fd's, in epfd */
    /* One per listener (by index), registered in epfd while this worker polls that listener;
     * owned. */
    struct listener_handler *listener_handlers;
    struct thread_stats stats;     /* this thread's counters; only it writes them */
    struct session_env env;
    const struct listen_set *listeners;
    bool accept_paused;            /* out of fds: listeners out of epoll until the next tick */
    char *read_buf;                /* WORKER_READ_BUF bytes, owned */
    pthread_mutex_t conns_lock;    /* guards the list against `stats conns` readers */
    struct conn *conns;
    int nconns;
    /* Connections this worker owns plus those handed to it and not yet taken: what accepting
     * workers compare to pick the least loaded one. */
    _Atomic int load;
    pthread_mutex_t handoff_lock;  /* guards handoffs */
    struct handoff *handoffs;      /* accepted by another worker for this one; owned */
    struct route_worker *router;         /* routing on: this worker's ring and backends; owned */
    struct route_conn_pool *route_conn_pool; /* routing on: recycled pending commands; owned */
    struct conn *ready;            /* connections with backend replies to write this turn */
};

/* Starts n workers serving listeners with store, and registers them with the stats module. Returns 0, or -1 (with a message on stderr) when
 * a thread or its epoll could not be created; then nothing is left running. */
int workers_start(int n, struct store *store, const struct listen_set *listeners);
/* Asks every worker to close its connections and return, and joins them. */
void workers_stop(void);

/* For stats: the workers' counters. */
int workers_count(void);
struct thread_stats *const *workers_stats(void);
/* Writes `stats conns` for every listener and connection. */
void workers_describe_conns(struct outbuf *out);

/* Asks the process to stop, as SIGTERM does (the shutdown command). */
void workers_request_shutdown(void);

/* The worker a connection belongs to, used by conn.c to unlink itself. */
void worker_forget_conn(struct worker *w, struct conn *c);

#endif
