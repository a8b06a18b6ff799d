#ifndef SHOAL_CLUSTER_MEMBERSHIP_H
#define SHOAL_CLUSTER_MEMBERSHIP_H
/* The member table: every member this node knows (itself included), by name. Members are heap
 * objects with stable addresses (the dissemination queue and the probe list point at them); the
 * table owns them and frees them in member_table_remove / member_table_free. A hash index on the
 * name keeps lookups O(1) at 1,000 members. Pure data structure: no protocol rules here. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/gossip_queue.h"
#include "cluster/gossip/wire.h"

/* The first accuser plus one per confirmation, up to the largest k (GOSSIP_MAX_INDIRECT_CHECKS
 * in gossip.h; gossip_state.c asserts they agree): every accuser counted is remembered, so a
 * repeated one never counts twice. */
#define SUSPICION_CONFIRMERS_MAX 17

struct member {
    struct wire_member info;        /* name, gossip address, incarnation, metadata */
    uint8_t state;                  /* enum member_state */
    uint64_t state_since_ms;        /* when state last changed (tombstone retention) */
    struct gossip_bcast *bcast;     /* our queued update about this member, owned by the queue */
    /* Suspicion (valid while state == MEMBER_SUSPECT). */
    uint64_t susp_start_ms;
    uint64_t susp_min_ms, susp_max_ms;
    uint64_t susp_deadline_ms;
    uint64_t susp_recheck_ms;       /* when we ask the suspect itself; 0 = done */
    unsigned susp_k;                /* confirmations that bring the timeout down to min */
    unsigned susp_confirmations;
    uint64_t susp_confirmers[SUSPICION_CONFIRMERS_MAX];   /* name hashes already counted */
    size_t table_pos;               /* index in member_table.items */
    bool in_probe_list;             /* owned by the probe scheduler */
    uint64_t told_dead_ms;          /* when we last told this dead member it is dead (fencing) */
    /* Dead members (fencing): whether its keys may have been stored elsewhere since it was
     * buried. Set when a death is declared while this node has the quorum to take over keys, when
     * it gains that quorum later, or when another member's DEAD message says so (it took them
     * over). A dead member not taken over stays on the ring (its keys fail) and may come back in
     * the same epoch, unfenced (cluster/README.md, "Partitions"). */
    bool taken_over;
    bool accused_by_quorum;         /* when we buried it: enough distinct accusers (quorum.c) */
    uint64_t cut_offs_at_death;     /* the burier's gossip.cut_offs when it was buried, or
                                     * UINT64_MAX if the burier was cut off then */
};

struct member_table {
    struct member **items;
    size_t count, cap;
    uint32_t *index;                /* open addressing: item position + 1, 0 = empty */
    size_t index_cap;               /* power of two, >= 2 * count */
    size_t by_state[4];             /* members per enum member_state */
};

uint64_t member_name_hash(const char *name);
void member_table_init(struct member_table *t);
void member_table_free(struct member_table *t);
struct member *member_table_find(const struct member_table *t, const char *name);
/* Adds a member in the given state. Returns it, or NULL on ENOMEM. The name must be new. */
struct member *member_table_add(struct member_table *t, const struct wire_member *info,
                                uint8_t state, uint64_t now_ms);
/* Frees m (the caller first drops every pointer to it, e.g. its queued update). */
void member_table_remove(struct member_table *t, struct member *m);
/* Changes state, keeping the per-state counts. */
void member_set_state(struct member_table *t, struct member *m, uint8_t state, uint64_t now_ms);

const char *member_state_name(uint8_t state);

#endif
