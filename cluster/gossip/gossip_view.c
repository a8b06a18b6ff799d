/* Epoch-based snapshot publication (see gossip_view.h for the argument). */
#include "cluster/gossip/gossip_view.h"

#include <stdbool.h>
#include <stdlib.h>

struct reader_slot {
    _Atomic uint64_t epoch;             /* 0 = not reading */
    _Atomic bool taken;
    char pad[64 - sizeof(uint64_t) - sizeof(bool)];     /* one cache line per reader */
};

struct gossip_view {
    _Atomic(struct gossip_snapshot *) current;
    _Atomic uint64_t epoch;             /* starts at 1 so that 0 can mean idle */
    struct gossip_snapshot *retired;    /* writer only */
    uint64_t version;                   /* writer only */
    struct reader_slot readers[GOSSIP_VIEW_READERS];
};

struct gossip_view *gossip_view_create(void)
{
    struct gossip_view *v = calloc(1, sizeof *v);
    if (!v)
        return NULL;
    atomic_init(&v->current, NULL);
    atomic_init(&v->epoch, 1);
    for (size_t i = 0; i < GOSSIP_VIEW_READERS; i++) {
        atomic_init(&v->readers[i].epoch, 0);
        atomic_init(&v->readers[i].taken, false);
    }
    return v;
}

void gossip_view_destroy(struct gossip_view *v)
{
    if (!v)
        return;
    free(atomic_load(&v->current));
    while (v->retired) {
        struct gossip_snapshot *next = v->retired->retired_next;
        free(v->retired);
        v->retired = next;
    }
    free(v);
}

struct gossip_snapshot *gossip_snapshot_alloc(size_t count)
{
    struct gossip_snapshot *s =
        calloc(1, sizeof *s + count * sizeof(struct gossip_snapshot_member));
    if (s)
        s->count = count;
    return s;
}

int gossip_view_register(struct gossip_view *v)
{
    for (int i = 0; i < GOSSIP_VIEW_READERS; i++) {
        bool expected = false;
        if (atomic_compare_exchange_strong(&v->readers[i].taken, &expected, true))
            return i;
    }
    return -1;
}

void gossip_view_unregister(struct gossip_view *v, int slot)
{
    atomic_store(&v->readers[slot].epoch, 0);
    atomic_store(&v->readers[slot].taken, false);
}

const struct gossip_snapshot *gossip_view_enter(struct gossip_view *v, int slot)
{
    atomic_store(&v->readers[slot].epoch, atomic_load(&v->epoch));
    return atomic_load(&v->current);
}

void gossip_view_exit(struct gossip_view *v, int slot)
{
    atomic_store(&v->readers[slot].epoch, 0);
}

void gossip_view_publish(struct gossip_view *v, struct gossip_snapshot *snap)
{
    snap->version = ++v->version;
    struct gossip_snapshot *old = atomic_exchange(&v->current, snap);
    uint64_t e = atomic_fetch_add(&v->epoch, 1) + 1;
    if (old) {
        old->retired_epoch = e;
        old->retired_next = v->retired;
        v->retired = old;
    }
    gossip_view_reclaim(v);
}

size_t gossip_view_reclaim(struct gossip_view *v)
{
    if (!v->retired)
        return 0;
    uint64_t oldest = UINT64_MAX;       /* oldest epoch a reader announces */
    for (size_t i = 0; i < GOSSIP_VIEW_READERS; i++) {
        uint64_t e = atomic_load(&v->readers[i].epoch);
        if (e != 0 && e < oldest)
            oldest = e;
    }
    size_t pending = 0;
    struct gossip_snapshot **link = &v->retired;
    while (*link) {
        struct gossip_snapshot *s = *link;
        if (oldest >= s->retired_epoch) {
            *link = s->retired_next;
            free(s);
        } else {
            link = &s->retired_next;
            pending++;
        }
    }
    return pending;
}
