#ifndef SHOAL_CLUSTER_BACKEND_H
#define SHOAL_CLUSTER_BACKEND_H
/* One non-blocking, pipelined connection from a proxy to one backend (memcached or a Shoal node).
 * Event-loop agnostic: the owner watches backend_fd() for backend_events() in its own loop and
 * calls backend_on_readable / backend_on_writable / backend_tick. Single-threaded: one worker
 * owns a backend and makes every call on it.
 *
 * Requests are written in order and their replies matched first-in first-out, each framed with
 * proto/reply. A reply that never comes (backend timeout), a refused or lost connection, or a
 * malformed reply fails every request in flight, since the stream can no longer be matched; the
 * connection is then re-established after an exponential backoff. While the backend is down
 * (waiting out its backoff), backend_send refuses at once. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/reply.h"

enum backend_error {
    BACKEND_OK = 0,
    BACKEND_REFUSED,   /* the connection was refused (or could not be made) */
    BACKEND_DOWN,      /* not connected, waiting out the reconnect backoff */
    BACKEND_TIMEOUT,   /* no reply (or no connection) within the backend timeout */
    BACKEND_LOST,      /* the connection closed or failed with the request in flight */
    BACKEND_MALFORMED, /* the backend sent something that is not a reply */
    BACKEND_NOMEM,
    BACKEND_BUSY,      /* max_queued_bytes would be exceeded: the backend is not keeping up */
    BACKEND_TOO_LARGE, /* the reply grew past max_reply_bytes: read and dropped, not held */
};

/* The reason text for SERVER_ERROR, e.g. "backend timeout" (route_result.failure). */
const char *backend_error_text(enum backend_error err);

/* Called once per request, never from inside backend_send: with BACKEND_OK and the complete
 * reply (valid only during the call), or with an error and reply NULL. The callback may call
 * backend_send (not backend_free). */
typedef void (*backend_done_fn)(void *arg, enum backend_error err, const char *reply, size_t len);

#define BACKEND_WANT_READ 1u
#define BACKEND_WANT_WRITE 2u

struct backend_config {
    const char *host; /* a numeric IPv4 or IPv6 address (resolve names before) */
    uint16_t port;
    /* A numeric address of this host to connect from (bound before connecting), or NULL for the
     * kernel's choice. A cluster node connects from its own address, so that a firewall rule by
     * address (tests/fault) sees which node a connection comes from; when binding fails the
     * kernel chooses. Borrowed during backend_new only. */
    const char *source;
    /* > 0. The connection not made by then fails; a request fails when its reply is not there
     * by then, counted from its send or from the connection's last progress (a byte read or
     * written), whichever is later: a large value in transfer is not a stalled backend. */
    uint64_t timeout_ms;
    uint64_t backoff_min_ms; /* first reconnect delay after a failure; doubles up to max */
    uint64_t backoff_max_ms;
    /* Request bytes not yet written to the socket beyond which backend_send refuses with
     * BACKEND_BUSY, so that a slow backend cannot grow the proxy's memory without bound.
     * 0: no limit. */
    size_t max_queued_bytes;
    /* Reply bytes held for the request at the head beyond which its reply is no longer kept:
     * the rest of it is read and dropped as it arrives (the stream stays matched, the other
     * requests in flight are unaffected) and the request fails with BACKEND_TOO_LARGE. One line
     * or data block larger than this cannot be skipped that way: it fails the connection. Must
     * exceed the largest value the caller accepts. 0: no limit. */
    size_t max_reply_bytes;
    /* Sent first on every new connection, its reply discarded (e.g. ROUTE_PEER_HELLO with
     * REPLY_META, so that a Shoal backend never forwards this connection's requests again).
     * NULL for none. Borrowed: must outlive the backend. */
    const char *hello;
    enum reply_kind hello_kind;
    /* backend_send only queues; the owner calls backend_flush once per event-loop turn, so that
     * many requests queued in one turn leave in one write. */
    bool defer_writes;
};

/* For a future `stats proxy`. */
struct backend_counters {
    uint64_t requests;   /* accepted by backend_send */
    uint64_t replies;    /* completed with a reply */
    uint64_t errors;     /* failed, for any reason (refused at send included) */
    uint64_t timeouts;   /* failed because of the backend timeout */
    uint64_t reconnects; /* connection attempts after the first */
    uint64_t in_flight;  /* accepted, not yet completed */
};

struct backend;

/* Returns a backend that owns its socket and buffers (free with backend_free), or NULL with
 * errno EINVAL (bad address, zero timeout) or ENOMEM. It connects on the first send or tick. */
struct backend *backend_new(const struct backend_config *cfg);
/* Fails every request still in flight with BACKEND_LOST, closes, frees. */
void backend_free(struct backend *b);

/* Queues one request (complete bytes, "\r\n"-terminated) whose reply has the shape `kind`;
 * done(arg, ...) is called exactly once later. Returns BACKEND_OK, or an error (BACKEND_DOWN,
 * BACKEND_REFUSED, BACKEND_BUSY, BACKEND_NOMEM) in which case done is never called. The bytes
 * are copied. */
enum backend_error backend_send(struct backend *b, const char *req, size_t len,
                                enum reply_kind kind, backend_done_fn done, void *arg,
                                uint64_t now_ms);

/* What to watch: the fd (-1 when none) and BACKEND_WANT_* bits. The socket changes across
 * reconnects; backend_fd_serial() changes with it, so a loop knows to register the new fd
 * (the old one left epoll when it was closed). Check after every call into the backend. */
int backend_fd(const struct backend *b);
uint32_t backend_events(const struct backend *b);
uint64_t backend_fd_serial(const struct backend *b);

void backend_on_readable(struct backend *b, uint64_t now_ms);
/* Writes what is queued (with defer_writes). Never calls a completion: a failed write tears the
 * connection down at the next backend_tick (backend_next_deadline says when: now). */
void backend_flush(struct backend *b, uint64_t now_ms);
void backend_on_writable(struct backend *b, uint64_t now_ms);
/* Expires timeouts and reconnects after the backoff; call at least by backend_next_deadline. */
void backend_tick(struct backend *b, uint64_t now_ms);
/* The earliest time backend_tick has something to do; UINT64_MAX when nothing. */
uint64_t backend_next_deadline(const struct backend *b);

bool backend_connected(const struct backend *b);
/* Not connected, and the last connection ended because the peer refused it or closed it (a
 * process that exited: its port refuses, its sockets were closed), not because it stopped
 * answering (a paused or cut-off peer, which may come back with everything it held). */
bool backend_peer_gone(const struct backend *b);
const struct backend_counters *backend_counters(const struct backend *b);

#endif
