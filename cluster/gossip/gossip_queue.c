/* Dissemination queue (see gossip_queue.h): one doubly linked list per transmit count, so picking
 * the least-sent updates is a walk from bucket 0 upwards. */
#include "cluster/gossip/gossip_queue.h"

#include <stdlib.h>
#include <string.h>

#define FILL_SCAN_MAX 512           /* items looked at per packet, so a huge queue stays cheap */
#define FILL_PICK_MAX 128

void gossip_queue_init(struct gossip_queue *q)
{
    memset(q, 0, sizeof *q);
}

static void unlink_item(struct gossip_queue *q, struct gossip_bcast *b)
{
    unsigned t = b->transmits;
    if (b->prev)
        b->prev->next = b->next;
    else
        q->bucket[t] = b->next;
    if (b->next)
        b->next->prev = b->prev;
    b->prev = b->next = NULL;
}

static void link_head(struct gossip_queue *q, struct gossip_bcast *b)
{
    unsigned t = b->transmits;
    b->prev = NULL;
    b->next = q->bucket[t];
    if (b->next)
        b->next->prev = b;
    q->bucket[t] = b;
}

void gossip_queue_remove(struct gossip_queue *q, struct gossip_bcast *item)
{
    unlink_item(q, item);
    if (item->owner && *item->owner == item)
        *item->owner = NULL;
    q->count--;
    free(item);
}

void gossip_queue_free(struct gossip_queue *q)
{
    for (unsigned t = 0; t < GOSSIP_QUEUE_BUCKETS; t++)
        while (q->bucket[t])
            gossip_queue_remove(q, q->bucket[t]);
}

int gossip_queue_push(struct gossip_queue *q, const uint8_t *bytes, size_t len,
                      struct gossip_bcast **owner)
{
    struct gossip_bcast *b = malloc(sizeof *b + len);
    if (!b)
        return -1;
    if (owner && *owner)
        gossip_queue_remove(q, *owner);
    memset(b, 0, sizeof *b);
    b->len = len;
    memcpy(b->bytes, bytes, len);
    b->owner = owner;
    if (owner)
        *owner = b;
    link_head(q, b);
    q->count++;
    return 0;
}

size_t gossip_queue_fill(struct gossip_queue *q, struct wire_writer *w, unsigned limit)
{
    if (limit >= GOSSIP_QUEUE_BUCKETS)
        limit = GOSSIP_QUEUE_BUCKETS - 1;
    if (limit == 0)
        limit = 1;
    struct gossip_bcast *picked[FILL_PICK_MAX];
    size_t npicked = 0, scanned = 0;
    for (unsigned t = 0; t < GOSSIP_QUEUE_BUCKETS && npicked < FILL_PICK_MAX; t++) {
        for (struct gossip_bcast *b = q->bucket[t]; b && npicked < FILL_PICK_MAX; b = b->next) {
            if (++scanned > FILL_SCAN_MAX || wire_room(w) < WIRE_MSG_HEADER + 8)
                goto done;
            if (wire_put_raw(w, b->bytes, b->len))
                picked[npicked++] = b;
        }
    }
done:
    for (size_t i = 0; i < npicked; i++) {
        struct gossip_bcast *b = picked[i];
        if (b->transmits + 1 >= limit) {
            gossip_queue_remove(q, b);
            continue;
        }
        unlink_item(q, b);
        b->transmits++;
        link_head(q, b);
    }
    return npicked;
}
