#ifndef SHOAL_PROXY_CLIENT_H
#define SHOAL_PROXY_CLIENT_H
/* The routed side of one client connection: frames the client's commands, sends key-addressed
 * ones to their owners (server/router.h, cluster/route.h), runs the others (and those this node
 * owns) in the connection's local session, and writes every reply strictly in request order.
 *
 * Pending commands form a FIFO: a routed command waits for its parts; local replies produced
 * while routed ones are pending wait behind them. Replies move to the connection's outbuf as
 * soon as everything before them is there. Pipelined requests keep flowing (many in flight);
 * proxy_client_blocked says when this client has enough in flight that the connection should
 * stop reading.
 *
 * Owned by the connection (server/conn.c). Destroying it while commands are in flight is safe:
 * they are detached and freed when their backends complete them. Single-threaded: the worker
 * that owns the connection. */
#include <stdbool.h>
#include <stddef.h>

struct router;
struct session;
struct outbuf;

/* Called when replies were moved to `out` by a backend completion (not from inside
 * proxy_client_process): the connection should write them, and may read again if it was
 * blocked. */
typedef void (*proxy_client_notify_fn)(void *arg);

struct proxy_client;

/* A worker's recycled pending-command records (with their plans' memory), so that routing a
 * command allocates nothing in the steady state. Owned by the worker; destroy it after the
 * router (whose teardown completes, and returns, the commands still in flight). */
struct proxy_pool;
struct proxy_pool *proxy_pool_create(void);
void proxy_pool_destroy(struct proxy_pool *pool);

/* Borrows router, pool, session and out (all outlive it). NULL when memory ran out. */
struct proxy_client *proxy_client_create(struct router *router, struct proxy_pool *pool,
                                         struct session *session, struct outbuf *out,
                                         proxy_client_notify_fn notify, void *notify_arg);
void proxy_client_destroy(struct proxy_client *pc);

/* Like session_process: consumes whole commands from in[0..len) (a command with its data
 * block), returns the bytes consumed; the rest waits for more input. Stops early when `out`
 * holds more than out_limit bytes or the client is blocked. */
size_t proxy_client_process(struct proxy_client *pc, const char *in, size_t len,
                            size_t out_limit);

/* After proxy_client_process: when the command left at the front of the input is a routed one
 * whose data block has not all arrived, the bytes (from that command's first byte) the
 * connection must hold in one buffer to pass it whole; else 0. At most the item size limit
 * (-I) plus the command line: larger blocks are refused and swallowed as they arrive. */
size_t proxy_client_input_wanted(const struct proxy_client *pc);

/* The id -vv lines show for this client's routed commands (the connection's fd). */
void proxy_client_set_conn_id(struct proxy_client *pc, int id);

/* Enough commands in flight (or held replies) that reading more should wait. */
bool proxy_client_blocked(const struct proxy_client *pc);
/* Nothing pending: every reply is in `out`. */
bool proxy_client_idle(const struct proxy_client *pc);
/* The connection's first line was the forwarding marker (cluster mode): everything on it runs
 * locally (fed straight to the session, except that during warm-up a local miss may be looked
 * up at the key's previous owner). */
bool proxy_client_forwarded(const struct proxy_client *pc);

#endif
