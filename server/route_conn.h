#ifndef SHOAL_ROUTE_CONN_H
#define SHOAL_ROUTE_CONN_H
/* The routed side of one client connection: frames the client's commands, sends key-addressed
 * ones to their owners (server/route_worker.h, cluster/route/route.h), runs the others (and those this node
 * owns) in the connection's local session, and writes every reply strictly in request order.
 *
 * Pending commands form a FIFO: a routed command waits for its parts; local replies produced
 * while routed ones are pending wait behind them. Replies move to the connection's outbuf as
 * soon as everything before them is there. Pipelined requests keep flowing (many in flight);
 * route_conn_blocked says when this client has enough in flight that the connection should
 * stop reading.
 *
 * Owned by the connection (server/conn.c). Destroying it while commands are in flight is safe:
 * they are detached and freed when their backends complete them. Single-threaded: the worker
 * that owns the connection. */
#include <stdbool.h>
#include <stddef.h>

struct route_worker;
struct session;
struct outbuf;

/* Called when replies were moved to `out` by a backend completion (not from inside
 * route_conn_process): the connection should write them, and may read again if it was
 * blocked. */
typedef void (*route_conn_notify_fn)(void *arg);

struct route_conn;

/* A worker's recycled pending-command records (with their plans' memory), so that routing a
 * command allocates nothing in the steady state. Owned by the worker; destroy it after the
 * router (whose teardown completes, and returns, the commands still in flight). */
struct route_conn_pool;
struct route_conn_pool *route_conn_pool_create(void);
void route_conn_pool_destroy(struct route_conn_pool *pool);

/* Borrows router, pool, session and out (all outlive it). NULL when memory ran out. */
struct route_conn *route_conn_create(struct route_worker *router, struct route_conn_pool *pool,
                                         struct session *session, struct outbuf *out,
                                         route_conn_notify_fn notify, void *notify_arg);
void route_conn_destroy(struct route_conn *pc);

/* Like session_process: consumes whole commands from in[0..len) (a command with its data
 * block), returns the bytes consumed; the rest waits for more input. Stops early when `out`
 * holds more than out_limit bytes or the client is blocked. */
size_t route_conn_process(struct route_conn *pc, const char *in, size_t len,
                            size_t out_limit);

/* After route_conn_process: when the command left at the front of the input is a routed one
 * whose data block has not all arrived, the bytes (from that command's first byte) the
 * connection must hold in one buffer to pass it whole; else 0. At most the item size limit
 * (-I) plus the command line: larger blocks are refused and swallowed as they arrive. */
size_t route_conn_input_wanted(const struct route_conn *pc);

/* Reads ASCII whatever -B says (the connection route_binary.c routes its translations on). */
void route_conn_ascii_only(struct route_conn *pc);

/* The id -vv lines show for this client's routed commands (the connection's fd). */
void route_conn_set_conn_id(struct route_conn *pc, int id);

/* Enough commands in flight (or held replies) that reading more should wait. */
bool route_conn_blocked(const struct route_conn *pc);
/* Nothing pending: every reply is in `out`. */
bool route_conn_idle(const struct route_conn *pc);
/* The connection's first line was the forwarding marker (cluster mode): everything on it runs
 * locally (fed straight to the session, except that during warm-up a local miss may be looked
 * up at the key's previous owner). */
bool route_conn_forwarded(const struct route_conn *pc);

#endif
