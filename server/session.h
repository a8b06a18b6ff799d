#ifndef SHOAL_SESSION_H
#define SHOAL_SESSION_H
/* One client's protocol state: turns the bytes a client sent into replies, with no knowledge of
 * sockets. The connection layer (server/conn.c) reads into a buffer, hands it to
 * session_process(), writes what lands in the outbuf, and keeps whatever was not consumed (a
 * partial line) for the next read.
 *
 * A session owns any item it has allocated for a data block still arriving and frees it in
 * session_destroy(). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/outbuf.h"

struct store;
struct thread_stats;

/* What memcached's text protocol lets a client read past when no newline has come yet. */
#define SESSION_LINE_MAX 2048

/* The opaque that marks an ms as a copy of another node's item (replication, warm-up and read
 * repair, server/route_conn.c): it carries the original's CAS (E), and the newer of the two by
 * CAS is kept, so that copies arriving out of order never replace a newer value. To anything but
 * a Shoal node it is an ordinary opaque. */
#define SESSION_COPY_OPAQUE "O.shoal-copy"

/* Everything a session needs from the server around it. Owned by the worker thread; a session
 * only borrows it. */
struct session_env {
    struct store *store;
    struct thread_stats *stats;
    int thread_id;
};

enum session_state {
    SESSION_OPEN,     /* keep reading */
    SESSION_CLOSE,    /* flush `out`, then close the connection (quit, fatal protocol error) */
    SESSION_SHUTDOWN, /* flush, close, and stop the server (the shutdown command with -A) */
};

struct session;

/* Returns NULL when memory ran out. */
struct session *session_create(const struct session_env *env);
void session_destroy(struct session *s);

/* Consumes as much of in[0..len) as it can, appending replies to out, and returns the number of
 * bytes consumed. Bytes not consumed are an incomplete line: the caller keeps them and calls
 * again with them at the front of in once more bytes arrive. A caller whose buffer is full of an
 * unconsumed line must grow it (this only happens for the long get/gets lines memcached allows);
 * the session itself sets SESSION_CLOSE for any other line that exceeds SESSION_LINE_MAX.
 * Stops early, leaving bytes unconsumed, once out->pending exceeds `out_limit`, so a client that
 * pipelines without reading cannot make the server buffer without bound. */
size_t session_process(struct session *s, const char *in, size_t len, struct outbuf *out,
                       size_t out_limit);

enum session_state session_state(const struct session *s);

/* The environment the session was created with (for `stats`, which needs the worker's store and
 * counters). */
const struct session_env *session_env(const struct session *s);

/* Makes the session read binary requests whatever its first byte (the routing glue's session
 * for a binary client's local requests). */
void session_force_binary(struct session *s);

/* The id that -vv log lines show for this session: the connection's fd, as in memcached. */
void session_set_conn_id(struct session *s, int id);

/* True while the session is in the middle of a data block or swallowing one (so an idle timeout
 * should still apply but a partial line is not an error). */
bool session_mid_command(const struct session *s);

#endif
