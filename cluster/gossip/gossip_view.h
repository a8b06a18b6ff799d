#ifndef SHOAL_CLUSTER_GOSSIP_VIEW_H
#define SHOAL_CLUSTER_GOSSIP_VIEW_H
/* Membership for other threads: an immutable snapshot published by the gossip thread and read
 * without a lock.
 *
 * Reclamation is epoch-based. Each reader thread registers once and gets a slot. To read, it
 * announces the current global epoch in its slot, then loads the snapshot pointer
 * (gossip_view_enter); when done it clears the slot (gossip_view_exit). The writer swaps in a new
 * snapshot, then advances the global epoch to E and retires the old snapshot tagged E. A retired
 * snapshot is freed once every slot is either idle or announces an epoch >= E: such a reader
 * loaded the epoch after the swap, so it cannot hold the old pointer (all operations are
 * sequentially consistent). Readers never wait; the writer never waits either (it retries at its
 * next publish or gossip_view_reclaim). Snapshots are owned by the view; gossip_view_destroy
 * frees them all (no reader may be inside then). */
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/wire.h"

#define GOSSIP_VIEW_READERS 256

struct gossip_snapshot_member {
    char name[WIRE_NAME_MAX + 1];
    char data_addr[WIRE_NAME_MAX + 1];
    struct gossip_addr addr;
    uint64_t incarnation;
    uint32_t weight;
    uint8_t role;                       /* enum member_role */
    uint8_t state;                      /* enum member_state */
    /* MEMBER_DEAD only: others may have stored its keys since (gossip: struct member's
     * taken_over). When false the router keeps it on the ring, where its keys fail. */
    bool taken_over;
};

struct gossip_snapshot {
    uint64_t version;                   /* grows by one per publication */
    size_t count;                       /* entries in members, self included */
    size_t alive;                       /* alive + suspect (still serving) */
    bool quorum;                        /* gossip_serving: false = serve no key at all */
    struct gossip_snapshot *retired_next;   /* writer's bookkeeping */
    uint64_t retired_epoch;
    struct gossip_snapshot_member members[];
};

struct gossip_view;

struct gossip_view *gossip_view_create(void);
void gossip_view_destroy(struct gossip_view *v);
/* Allocates a snapshot with room for count members (the writer fills it). */
struct gossip_snapshot *gossip_snapshot_alloc(size_t count);

/* Reader side. Returns a slot id, or -1 when all GOSSIP_VIEW_READERS slots are taken. */
int gossip_view_register(struct gossip_view *v);
void gossip_view_unregister(struct gossip_view *v, int slot);
/* The current snapshot (NULL before the first publication), valid until gossip_view_exit. */
const struct gossip_snapshot *gossip_view_enter(struct gossip_view *v, int slot);
void gossip_view_exit(struct gossip_view *v, int slot);

/* Writer side (one thread). Takes ownership of snap. */
void gossip_view_publish(struct gossip_view *v, struct gossip_snapshot *snap);
/* Frees retired snapshots no reader can hold any more. Returns how many are still pending. */
size_t gossip_view_reclaim(struct gossip_view *v);

#endif
