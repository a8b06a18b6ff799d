#ifndef SHOAL_CLUSTER_GOSSIP_H
#define SHOAL_CLUSTER_GOSSIP_H
/* Cluster membership: SWIM failure detection and dissemination with Lifeguard's refinements, as a
 * pure, deterministic state machine. It owns no socket, thread or clock: the caller feeds it time
 * (gossip_tick), datagrams (gossip_receive) and gets datagrams back through cfg.send. The real
 * UDP driver (gossip_udp.h) and the simulator (tests/sim) drive this same code.
 *
 * Not thread-safe: one thread drives a struct gossip. Other threads read membership through the
 * published snapshot (gossip_view.h), never through this struct. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/gossip_auth.h"
#include "cluster/gossip/wire.h"

struct gossip;
struct gossip_view;

#define GOSSIP_STATE_NONE 0xff      /* gossip_event.old_state of a member seen for the first time */

/* One membership change, as subscribers (the ring) see it. Pointers valid during the call only. */
struct gossip_event {
    const struct wire_member *member;   /* name, address, incarnation, metadata (after the change) */
    uint8_t old_state;                  /* enum member_state, or GOSSIP_STATE_NONE */
    uint8_t new_state;
};

/* Fencing: what keeps a node that the cluster declared dead from serving data that was
 * overwritten elsewhere while it was away (cluster/README.md, "Partitions"). An incarnation is
 * split into an epoch (high bits) and a counter (low bits). A node raises its own epoch only
 * right after dropping every item it stores (the on_fence callback), and a member that left, or
 * was declared dead by a member that took its keys over (see gossip_has_quorum), comes back to
 * that member only with a higher epoch than its tombstone: so no node routes to a returning
 * member before it has dropped the data others may have overwritten meanwhile. */
#define GOSSIP_EPOCH_SHIFT 16

static inline uint64_t gossip_epoch(uint64_t incarnation)
{
    return incarnation >> GOSSIP_EPOCH_SHIFT;
}

enum gossip_fence_reason {
    GOSSIP_FENCE_DECLARED_DEAD,         /* a member told us it holds us dead (or left) */
    GOSSIP_FENCE_STALLED,               /* we did not run for longer than tombstones live */
    GOSSIP_FENCE_EPOCH,                 /* a refutation had to cross into a new epoch */
    GOSSIP_FENCE_QUORUM,                /* we regained the quorum we had lost: the others may
                                         * have buried us and taken over our keys meanwhile */
};

/* One fence, as the on_fence callback sees it. */
struct gossip_fence {
    enum gossip_fence_reason reason;
    uint64_t accused_incarnation;       /* the incarnation we were declared dead at (or ours) */
    const char *by;                     /* the member that declared it, or "" if unknown */
    uint64_t new_incarnation;           /* first of the new epoch, announced after the call */
    uint64_t stalled_ms;                /* GOSSIP_FENCE_STALLED: how late we ran */
};

const char *gossip_fence_reason_name(enum gossip_fence_reason reason);

/* The most members asked to probe for us; also the most independent confirmations a suspicion
 * counts (membership.h keeps one more accuser slot than this, for the first accuser). */
#define GOSSIP_MAX_INDIRECT_CHECKS 16

struct gossip_config {
    /* Identity and metadata of this node. */
    const char *name;                   /* unique in the cluster, 1..64 printable bytes */
    struct gossip_addr addr;            /* where peers reach our gossip UDP socket */
    const char *data_addr;              /* "host:port" clients use, may be "" */
    uint32_t weight;
    uint8_t role;                       /* enum member_role */
    /* First incarnation. A restarted node must start above its previous life: the driver derives
     * it from the wall clock and randomness (gossip_fresh_incarnation). */
    uint64_t incarnation;
    uint64_t seed;                      /* for the probe order and peer choice */

    /* Timings (milliseconds) and multipliers; gossip_config_defaults fills LAN values. */
    uint32_t probe_interval_ms;         /* one probe per period */
    uint32_t probe_timeout_ms;          /* wait for a direct ack before asking others */
    uint32_t indirect_checks;           /* k: members asked to probe for us, at most
                                         * GOSSIP_MAX_INDIRECT_CHECKS (larger is clamped) */
    uint32_t suspicion_mult;            /* min suspicion = mult * log10(N) * probe interval */
    uint32_t suspicion_max_mult;        /* max suspicion = this * min */
    uint32_t retransmit_mult;           /* each update sent mult * log10(N+1) times */
    uint32_t pushpull_interval_ms;      /* full state exchange (scaled up for N > 32) */
    uint32_t dead_retention_ms;         /* dead/left tombstones kept this long */
    uint32_t join_retry_ms;             /* seeds contacted again this often until one answers */
    uint32_t awareness_max;             /* Lifeguard local health multiplier ceiling */
    uint32_t leave_fanout;              /* members told directly when we leave */

    /* Callbacks, all invoked on the driving thread from inside gossip_* calls. */
    void (*send)(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len);
    void (*on_change)(void *ctx, const struct gossip_event *ev);     /* may be NULL */
    void (*log)(void *ctx, int level, const char *msg);             /* may be NULL; level 1..3 */
    /* NULL: no fencing (incarnations are plain counters, as in SWIM). Otherwise this node takes
     * part in fencing (see GOSSIP_EPOCH_SHIFT): the callback must drop (flush) every item stored
     * so far before it returns; the new epoch is announced only after it. Every node of a cluster
     * should agree on this (the server always sets it). The first incarnation is then rounded up
     * to the start of an epoch, keeping its low 12 bits. */
    void (*on_fence)(void *ctx, const struct gossip_fence *fence);
    void *ctx;

    /* Authentication: NULL = none (every packet accepted unauthenticated). Otherwise every packet
     * sent is tagged with keys->current and every packet received must carry a valid tag of a
     * known key (see gossip_auth.h). Borrowed: must outlive the gossip; its contents may change
     * between calls (gossip_udp swaps them in on a reload). Either way a packet whose
     * counter was seen before or is too old is dropped as a replay. */
    const struct packet_keys *keys;
    uint64_t counter_start;             /* first packet counter: wall-clock microseconds, so a
                                         * restarted node is past its old packets (replay window) */

    /* Snapshot publication for readers on other threads: NULL = none. Borrowed. */
    struct gossip_view *view;
};

struct gossip_counters {
    uint64_t packets_sent, packets_received, bytes_sent, bytes_received;
    uint64_t probes_sent, indirect_probes_sent, acks_received, nacks_received, nacks_sent;
    uint64_t probes_failed, suspicions_raised, refutations, deaths_declared;
    uint64_t pushpulls_sent, pushpulls_received;
    uint64_t dropped_invalid, dropped_unauthenticated, dropped_replay, dropped_version;
    uint64_t refused_protocol;
    uint64_t name_conflicts;            /* alives refused: the name is taken at another address */
    /* Fencing. */
    uint64_t fences, fences_stalled;    /* fences (every reason), of which after a stall */
    uint64_t resurrections_refused;     /* an alive for a tombstone's epoch, not accepted */
    uint64_t told_dead;                 /* dead members told directly that they are dead */
    uint64_t stall_checks;              /* stalls after which we asked every member about us */
    uint64_t hints, hinted_probes;      /* hints about known members, probes they moved forward */
    /* Quorum (fencing). */
    uint64_t quorum_losses;             /* times this node found itself without a quorum */
    uint64_t quorum_fences;             /* fences when it regained one (also in fences) */
    uint64_t isolations;                /* probes answered by nobody after answered ones */
};

void gossip_config_defaults(struct gossip_config *cfg);
/* An incarnation above any this node used before: start time in ms shifted left, plus noise. */
uint64_t gossip_fresh_incarnation(uint64_t wall_ms, uint64_t random);

/* Returns NULL on bad configuration or ENOMEM. The config is copied (strings too). */
struct gossip *gossip_create(const struct gossip_config *cfg, uint64_t now_ms);
void gossip_destroy(struct gossip *g);

/* Starts joining through seeds (copied): contacts them now and again every join_retry_ms until one
 * answers. Never blocks. Returns 0 or -1 (too many seeds / none usable). */
int gossip_join(struct gossip *g, const struct gossip_addr *seeds, size_t nseeds, uint64_t now_ms);
/* Announces a graceful leave (seen by others as *left*). Keep driving the gossip for a moment
 * (one or two probe intervals) so the news gets out, then destroy it. */
void gossip_leave(struct gossip *g, uint64_t now_ms);
void gossip_tick(struct gossip *g, uint64_t now_ms);
void gossip_receive(struct gossip *g, const uint8_t *pkt, size_t len,
                    const struct gossip_addr *from, uint64_t now_ms);
/* The earliest time gossip_tick has work to do (for a poll timeout). */
uint64_t gossip_next_deadline(const struct gossip *g);

/* A hint from the data path: requests to member `name` failed (refused, timed out, connection
 * lost). It does not make the member suspect: it only moves the member's next probe forward (the
 * next probe period probes it, out of the round-robin order), so the failure detector itself
 * decides, with its indirect probes, whether the member is down or only unreachable from here
 * (Lifeguard's rule: a node's own trouble must not become an accusation). Hints about unknown
 * members or ourselves are ignored; about dead or left ones only counted; one hint is kept at a
 * time (the newest). */
void gossip_hint_unreachable(struct gossip *g, const char *name);

/* Read access for the driving thread and tests. */
const struct gossip_counters *gossip_counters(const struct gossip *g);
size_t gossip_member_count(const struct gossip *g, int state);   /* state < 0: all known */
/* The state of a member by name, or -1 if unknown. Incarnation into *inc when not NULL. */
int gossip_member_state(const struct gossip *g, const char *name, uint64_t *inc);
uint64_t gossip_incarnation(const struct gossip *g);
/* Whether a member we hold dead had its keys taken over (see gossip_has_quorum); false when it is
 * unknown or not dead. */
bool gossip_member_taken_over(const struct gossip *g, const char *name);
/* Calls fn for every known member (self included), in table order. */
void gossip_for_each_member(const struct gossip *g,
                            void (*fn)(void *ctx, const struct wire_member *m, uint8_t state),
                            void *ctx);
unsigned gossip_awareness(const struct gossip *g);
/* Quorum (fencing only; always true without on_fence): whether this node sees a majority of the
 * members it knows (those not seen leaving, itself included; exactly half counts when the member
 * with the smallest name is on our side) as alive or suspect. Without it the node serves no key
 * (cluster/README.md, "Partitions"); the snapshot carries it (gossip_snapshot.quorum). */
bool gossip_has_quorum(const struct gossip *g);
/* The quorum, and not isolated (our last probe answered by somebody): whether to serve keys. */
bool gossip_serving(const struct gossip *g);

/* Publishes the membership snapshot now if a change is waiting out the coalescing delay
 * (GOSSIP_PUBLISH_COALESCE_MS). Called before `stats cluster` is rendered, so that a member it
 * shows alive is one the workers already route to from their next event on. */
void gossip_publish_pending(struct gossip *g);

/* Renders the `stats cluster` lines ("STAT name value\r\n") into buf. Returns the length the full
 * text needs (like snprintf); writes at most cap - 1 bytes plus a NUL, cutting only whole lines. */
size_t gossip_stats_render(const struct gossip *g, char *buf, size_t cap);

#endif
