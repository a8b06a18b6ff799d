#ifndef SHOAL_ROUTE_BINARY_H
#define SHOAL_ROUTE_BINARY_H
/* Routing glue for a binary protocol client (server/route_conn.c hands it the connection when
 * the first byte says binary). A key-addressed request is translated into the equivalent meta
 * command (mg, ms, md, ma; flush_all for Flush) and routed by an inner route_conn exactly as an
 * ASCII client's would be, to this node or to the key's owner; its meta reply is translated back
 * into the binary reply memcached would have sent (opaque, CAS, quiet semantics). Requests with
 * no key (Noop, Version, Stat, Quit), refusals and malformed input run in a binary session of
 * this node. Replies leave in request order.
 *
 * Owned by the route_conn that created it; single-threaded (its worker). */
#include <stdbool.h>
#include <stddef.h>

#include "server/route_conn.h"

struct route_binary;

/* True when a connection whose first byte is `first` speaks binary (-B auto: 0x80; -B binary:
 * any byte, so that ASCII is refused as memcached refuses it). */
bool route_binary_wanted(unsigned char first);

/* Borrows router, pool, session (the connection's: its state is the connection's) and out.
 * NULL when memory ran out. */
struct route_binary *route_binary_create(struct route_worker *router, struct route_conn_pool *pool,
                                         struct session *session, struct outbuf *out,
                                         route_conn_notify_fn notify, void *notify_arg);
void route_binary_destroy(struct route_binary *rb);

/* As route_conn_process, for binary requests. */
size_t route_binary_process(struct route_binary *rb, const char *in, size_t len, size_t out_limit);
size_t route_binary_input_wanted(const struct route_binary *rb);
bool route_binary_blocked(const struct route_binary *rb);
bool route_binary_idle(const struct route_binary *rb);

#endif
