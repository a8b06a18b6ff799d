#ifndef SHOAL_CONN_H
#define SHOAL_CONN_H
/* One client connection, owned by one worker thread: reads into the worker's shared buffer,
 * feeds the session, writes replies with writev.
 *
 * Memory: an idle connection holds only its struct and session. `in` exists only while a partial
 * line, a routed command's incomplete data block, or input held back by the output bound is
 * waiting; `out` holds chunks only while replies
 * are pending. The worker owns every conn; conn_close frees it. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/clock.h"
#include "server/event_handler.h"
#include "server/outbuf.h"

struct worker;
struct session;
struct route_conn;

/* Replies queued beyond this make the session stop and the connection stop reading until the
 * client has taken some: a client that pipelines without reading cannot grow server memory. */
#define CONN_OUT_LIMIT (256 * 1024)
/* The longest input line a connection will buffer (long multi-key get lines grow to this). A
 * routed command's data block is held whole beyond it, up to the item size limit (-I): see
 * route_conn_input_wanted. */
#define CONN_IN_MAX (8 * 1024 * 1024)

/* What `stats conns` shows, in memcached's state names. */
enum conn_view_state {
    CONN_VIEW_READ,  /* conn_parse_cmd: waiting for or parsing a command */
    CONN_VIEW_NREAD, /* conn_nread: inside a data block */
    CONN_VIEW_WRITE, /* conn_mwrite: replies waiting for the client to read */
};

struct conn {
    /* Registered in the worker's epoll. On an event: writes what is pending, then reads and
     * processes up to -R reads; may close (and free) the connection. */
    struct event_handler handler;
    int fd;
    struct worker *worker;
    struct session *session;
    struct outbuf out;
    char *in;          /* held input not yet consumed; NULL when none */
    size_t in_len, in_cap;
    bool in_ready;     /* held input may be processable without more bytes (output was full) */
    bool closing;      /* flush what is queued, then close */
    bool stop_server;  /* the shutdown command: stop the process after closing */
    unsigned events;   /* epoll interest currently registered */
    rel_time_t last_active;
    _Atomic rel_time_t last_cmd; /* read by `stats conns` from other threads */
    _Atomic int view_state;
    const char *listen_name; /* the listener's name; owned by the listen set */
    char peer[128]; /* LISTEN_NAME_MAX */
    struct conn *prev, *next; /* the worker's list */
    /* Routing on: the client's commands go through this (owned; NULL without routing, and
     * once the connection turned out to be forwarded by another node). */
    struct route_conn *proxy;
    bool in_ready_list;       /* on the worker's list of connections with replies to write */
    struct conn *ready_next;
};

/* Creates a connection for an accepted fd (non-blocking already); the caller registers
 * &c->handler in the worker's epoll. NULL when memory ran out. */
struct conn *conn_create(struct worker *w, int fd, const char *listen_name, const char *peer);
/* Runs for a connection on the worker's ready list: backend replies landed in its outbuf.
 * Writes them and resumes held input. Returns false when the connection was closed. */
bool conn_on_ready(struct conn *c);
/* Closes the socket and frees everything the connection owns. */
void conn_close(struct conn *c);

#endif
