#ifndef SHOAL_CLUSTER_GOSSIP_INTERNAL_H
#define SHOAL_CLUSTER_GOSSIP_INTERNAL_H
/* The gossip state machine's private state, shared by its files:
 *   gossip.c           lifecycle, packet intake and dispatch, packet building and piggybacking
 *   gossip_state.c     alive/suspect/dead/left transitions, incarnations, refutation, suspicion
 *   gossip_probe.c     probe scheduler, indirect probes, relays, nacks, local health
 *   gossip_pushpull.c  full-state exchange, join, leave
 *   gossip_stats.c     `stats cluster` rendering
 * Nothing outside cluster/gossip*.c includes this. */
#include <stdbool.h>
#include <stdint.h>

#include "cluster/gossip/gossip.h"
#include "cluster/gossip/gossip_auth.h"
#include "cluster/gossip/gossip_queue.h"
#include "cluster/gossip/membership.h"

#define GOSSIP_MAX_SEEDS 16
#define GOSSIP_RELAYS 64
#define GOSSIP_PP_ANSWERED 16
#define GOSSIP_REAP_EVERY_MS 1000
/* Changes arriving in a burst (a push-pull of 1,000 members) make one snapshot, not 1,000. */
#define GOSSIP_PUBLISH_COALESCE_MS 10
/* Fencing: reaped tombstones remembered by name hash, the most recent this many. */
#define GOSSIP_GRAVES 1024

enum probe_phase { PROBE_IDLE, PROBE_DIRECT, PROBE_INDIRECT };

/* A dead or left member whose tombstone was reaped (fencing): it may still come back unaware, in
 * the epoch it was buried in, after a partition longer than the tombstone retention. Kept without
 * fencing too, so that a push-pull does not hand us back a tombstone we reaped. */
struct grave {
    uint64_t name_hash;                 /* 0: free */
    uint64_t incarnation;               /* the tombstone's */
    uint64_t told_ms;                   /* when we last told it it is dead */
};

/* A ping-req we serve for another member: we ping the target and pass its ack back. */
struct relay {
    bool used;
    bool acked, nacked, want_nack;
    uint32_t our_seq, their_seq;
    struct gossip_addr requester;
    uint64_t nack_at_ms, expire_ms;
};

struct gossip {
    struct gossip_config cfg;           /* strings point into the copies below */
    char name[WIRE_NAME_MAX + 1];
    char data_addr[WIRE_NAME_MAX + 1];

    struct member_table members;
    struct member *self;
    struct gossip_queue queue;
    uint64_t rng;

    /* Probe scheduler: round-robin over a shuffled list of member pointers. */
    struct member **probe_list;
    size_t probe_len, probe_cap, probe_pos;
    enum probe_phase phase;
    struct member *probe_target;
    uint32_t probe_seq;
    uint64_t probe_ack_deadline_ms, probe_end_ms, next_probe_ms;
    unsigned nacks_expected, nacks_received;
    uint32_t next_seq;
    unsigned awareness;                 /* Lifeguard local health: 0 = healthy */
    /* A member the router could not reach (gossip_hint_unreachable): probed next, out of turn.
     * A name, not a pointer, since the member may be reaped before then; "" when none. */
    char hinted[WIRE_NAME_MAX + 1];

    struct relay relays[GOSSIP_RELAYS];

    /* Suspects, for the timer check without scanning every member. */
    struct member **suspects;
    size_t suspects_len, suspects_cap;

    /* Push-pull and join. */
    uint64_t next_pushpull_ms;
    struct { struct gossip_addr from; uint32_t session; } answered[GOSSIP_PP_ANSWERED];
    size_t answered_next;
    struct gossip_addr seeds[GOSSIP_MAX_SEEDS];
    size_t nseeds;
    bool joining;
    uint64_t next_join_ms;
    bool left;

    uint64_t next_reap_ms;
    bool dirty;                         /* membership changed since the last snapshot */
    uint64_t publish_at_ms;             /* 0, or when the pending snapshot goes out */

    /* Fencing (active when cfg.on_fence is set; see gossip.h). */
    uint64_t first_incarnation;         /* of this life: deaths below it were a previous life's */
    uint64_t due_ms;                    /* when the driver should tick us next (stall detection) */
    struct grave graves[GOSSIP_GRAVES];
    size_t graves_next;

    /* Quorum (fencing; gossip_quorum.c). */
    bool quorum;                        /* serving: a majority alive or suspect */
    bool quorum_fence_pending;          /* lost it and not fenced since: fence on regaining it */
    bool isolated;                      /* cut off, as far as we can tell (gossip_quorum.c) */
    bool probe_unanswered;              /* our last probe got no ack and no nack from a helper */
    uint64_t cut_offs;                  /* isolations and quorum losses so far */
    uint64_t last_heard_ms;             /* when a genuine packet last came in */
    bool resuspect_pending;             /* dead members not taken over, and we now may: suspect
                                         * them afresh at the next tick (gossip_quorum_settle) */

    uint64_t send_counter;           /* last packet counter used */
    uint32_t life;                   /* random id of this process's life, in every header */
    struct replay_table replay;

    struct gossip_counters counters;
    uint8_t pkt[WIRE_MAX_PACKET];
};

/* gossip.c */
uint64_t gossip_rand(struct gossip *g);
uint64_t gossip_rand_below(struct gossip *g, uint64_t n);     /* n > 0 */
double gossip_log2(double x);      /* x >= 1; libm-free so the library needs no -lm */
void gossip_logf(struct gossip *g, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Starts a packet in g->pkt. */
void gossip_packet_begin(struct gossip *g, struct wire_writer *w);
/* Optionally piggybacks queued updates, tags, sends. */
void gossip_packet_send(struct gossip *g, struct wire_writer *w, const struct gossip_addr *to,
                        bool piggyback);
size_t gossip_alive_count(const struct gossip *g);  /* alive + suspect, self included */
void gossip_publish(struct gossip *g);

/* gossip_state.c */
void gossip_notify(struct gossip *g, struct member *m, uint8_t old_state);
void gossip_broadcast_alive(struct gossip *g, struct member *m);
void gossip_handle_alive(struct gossip *g, const struct wire_member *a,
                         const struct gossip_addr *from, uint64_t now_ms);
void gossip_handle_suspect(struct gossip *g, const struct wire_accuse *s,
                           const struct gossip_addr *from, uint64_t now_ms);
void gossip_handle_dead(struct gossip *g, const struct wire_accuse *d,
                        const struct gossip_addr *from, uint64_t now_ms);
/* Raises our incarnation above inc and tells the cluster (and `to`, if given) we are alive. */
void gossip_refute(struct gossip *g, uint64_t inc, const struct gossip_addr *to);
void gossip_check_suspicions(struct gossip *g, uint64_t now_ms);
/* A member holds us dead or left at `inc` (a DEAD message, or a push-pull entry). `by` is the
 * accuser's name, "" if unknown. Fences when that death is news for our current epoch. */
void gossip_handle_self_death(struct gossip *g, uint64_t inc, const char *by,
                              const struct gossip_addr *from);
/* Fencing: fences if we ran later than peers allow (SIGSTOP, a VM pause). */
void gossip_check_stall(struct gossip *g, uint64_t now_ms);
/* Sends our alive straight to every member not seen leaving: one that holds us dead answers so. */
void gossip_check_in(struct gossip *g);
/* Fencing: a packet from a member we hold dead makes us tell it so. */
void gossip_tell_dead_sender(struct gossip *g, const struct gossip_addr *from, uint64_t now_ms);
bool gossip_fencing(const struct gossip *g);
/* Drops every item (on_fence), then moves us into the next epoch above both ours and accused.
 * Returns false when no epoch is left. */
bool gossip_fence(struct gossip *g, enum gossip_fence_reason reason, uint64_t accused,
                  const char *by, uint64_t stalled_ms);
void gossip_suspects_remove(struct gossip *g, struct member *m);
/* A dead or left member we never knew, from a push-pull entry: kept as a tombstone. */
void gossip_learn_tombstone(struct gossip *g, const struct wire_member *e, uint8_t state,
                            uint64_t now_ms);
/* A member we buried without taking its keys over becomes suspect again (from us), and is told. */
void gossip_resuspect(struct gossip *g, struct member *m, uint64_t now_ms);
void gossip_reap(struct gossip *g, uint64_t now_ms);

/* gossip_quorum.c */
/* After any change of states or of our isolation: recomputes the quorum, marks dead members taken
 * over when we may take them over, fences when a lost quorum comes back. */
void gossip_quorum_update(struct gossip *g);
/* Whether this node may store the keys of members it holds dead right now. */
bool gossip_may_take_over(const struct gossip *g);
/* Whether `accusers` distinct members (the first accuser and its confirmations, out of at most
 * k + 1 counted) suspected a member: a majority of the members we know, or all k + 1. */
bool gossip_accusers_enough(const struct gossip *g, unsigned accusers, unsigned k);
/* Outside any message handling (tick, end of a packet): suspects afresh the dead members not
 * taken over, once we may take keys over (gossip_quorum_update asked for it). */
void gossip_quorum_settle(struct gossip *g, uint64_t now_ms);
/* Our last probe was answered by nobody (true: no ack, no helper's nack), or one was (false). */
void gossip_probe_answered(struct gossip *g, bool answered);
/* A genuine packet came in (ends an isolation). */
void gossip_heard(struct gossip *g, uint64_t now_ms);
/* Declares us isolated when our last probe went unanswered and nothing came in for two probe
 * periods; gossip_isolation_deadline says when to check next. */
void gossip_isolation_tick(struct gossip *g, uint64_t now_ms);
uint64_t gossip_isolation_deadline(const struct gossip *g);

/* gossip_probe.c */
void gossip_probe_add(struct gossip *g, struct member *m);
void gossip_probe_forget(struct gossip *g, struct member *m);
void gossip_probe_tick(struct gossip *g, uint64_t now_ms);
void gossip_handle_ping(struct gossip *g, const struct wire_ping *p, const struct gossip_addr *from);
void gossip_handle_ping_req(struct gossip *g, const struct wire_ping_req *r,
                            const struct gossip_addr *from, uint64_t now_ms);
void gossip_handle_ack(struct gossip *g, uint32_t seq, uint64_t now_ms);
void gossip_handle_nack(struct gossip *g, uint32_t seq);
void gossip_awareness_add(struct gossip *g, int delta);
uint64_t gossip_probe_deadline(const struct gossip *g);

/* gossip_pushpull.c */
void gossip_pushpull_tick(struct gossip *g, uint64_t now_ms);
void gossip_send_state(struct gossip *g, const struct gossip_addr *to, uint8_t flags,
                       uint32_t session);
/* sender: the packet's (authenticated) sender name; the answer goes to its own address. */
void gossip_handle_pushpull(struct gossip *g, const struct wire_pushpull *pp, const char *sender,
                            const struct gossip_addr *from, uint64_t now_ms);
uint64_t gossip_pushpull_interval(const struct gossip *g);

#endif
