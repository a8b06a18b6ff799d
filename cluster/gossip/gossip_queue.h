#ifndef SHOAL_CLUSTER_GOSSIP_QUEUE_H
#define SHOAL_CLUSTER_GOSSIP_QUEUE_H
/* The dissemination queue: encoded membership updates waiting to be piggybacked on outgoing
 * packets. Each is sent at most `limit` times (the caller computes lambda * log(N)); the least-sent
 * go first, newer before older among equals. A member has at most one queued update: queueing a
 * newer one for it replaces the old (the owner slot points back from the member to its item).
 * The queue owns its items; gossip_queue_free releases them. */
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/wire.h"

#define GOSSIP_QUEUE_BUCKETS 64     /* transmit counts tracked; limits are clamped below this */

struct gossip_bcast {
    struct gossip_bcast *prev, *next;
    struct gossip_bcast **owner;    /* the member's slot that points here, or NULL */
    unsigned transmits;
    size_t len;
    uint8_t bytes[];
};

struct gossip_queue {
    struct gossip_bcast *bucket[GOSSIP_QUEUE_BUCKETS];
    size_t count;
};

void gossip_queue_init(struct gossip_queue *q);
void gossip_queue_free(struct gossip_queue *q);
/* Queues a copy of bytes. If owner is given, the item *owner pointed at is dropped first and
 * *owner then points at the new item (cleared again when the item goes). Returns 0 or -1 (ENOMEM). */
int gossip_queue_push(struct gossip_queue *q, const uint8_t *bytes, size_t len,
                      struct gossip_bcast **owner);
void gossip_queue_remove(struct gossip_queue *q, struct gossip_bcast *item);
/* Appends queued updates that fit into w; returns how many. Items sent `limit` times are dropped. */
size_t gossip_queue_fill(struct gossip_queue *q, struct wire_writer *w, unsigned limit);

#endif
