#ifndef SHOAL_TESTS_SIM_H
#define SHOAL_TESTS_SIM_H
/* A deterministic simulator for the gossip module: a virtual clock, a seeded RNG and a simulated
 * network (loss, delay, reordering, partitions, slow nodes) driving N real struct gossip state
 * machines, the same code the UDP driver runs. Same seed, same run, bit for bit. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/gossip/gossip.h"

struct sim_packet;

struct sim_node {
    struct sim *sim;
    size_t idx;
    struct gossip *g;               /* NULL while down */
    char name[32];
    struct gossip_addr addr;
    int group;                      /* partition group: packets cross groups only when healed */
    uint32_t slow_ms;               /* extra delay on every packet this node receives */
    uint64_t deadline;              /* cached gossip_next_deadline */
    uint64_t bytes_sent;
    uint64_t life;                  /* starts so far */
    uint64_t first_inc;             /* incarnation this life started with */
};

/* Observed membership changes, fed by the on_change callbacks. */
struct sim_observer {
    void (*on_change)(void *ctx, struct sim_node *observer, const struct gossip_event *ev);
    void *ctx;
};

struct sim {
    uint64_t now;                   /* virtual ms */
    uint64_t rng;
    size_t n, cap;
    struct sim_node *nodes;
    /* network */
    double loss;                    /* probability a datagram vanishes */
    uint32_t delay_min_ms, delay_max_ms;    /* uniform; different delays reorder */
    bool partitioned;
    /* packets in flight: binary min-heap on (time, sequence) */
    struct sim_packet **heap;
    size_t heap_len, heap_cap;
    uint64_t packet_seq;
    uint64_t packets_sent, packets_dropped;
    struct gossip_config base;      /* timings every node uses */
    const struct packet_keys *keys; /* NULL: unauthenticated cluster */
    struct sim_observer observer;
    uint64_t false_deaths;          /* alive-and-well members declared dead by someone */
    uint64_t suspicions;            /* alive-and-well members suspected by someone */
    uint64_t suspicions_of_slow;    /* of those, suspicions of a slow member */
};

void sim_init(struct sim *s, uint64_t seed, size_t capacity);
void sim_free(struct sim *s);
uint64_t sim_rand(struct sim *s);
/* Adds a node (down); returns its index. */
size_t sim_add_node(struct sim *s);
/* Boots node i (fresh identity) and joins it through the given seeds (node indices). */
void sim_start(struct sim *s, size_t i, const size_t *seeds, size_t nseeds);
void sim_crash(struct sim *s, size_t i);
void sim_leave(struct sim *s, size_t i);
/* Runs until virtual time `until`. */
void sim_run_until(struct sim *s, uint64_t until);
/* Runs in steps of step_ms until done(ctx) or until `limit`. Returns true if done. */
bool sim_run_until_cond(struct sim *s, uint64_t limit, uint64_t step_ms,
                        bool (*done)(struct sim *s, void *ctx), void *ctx);
/* True when every running node sees exactly the running nodes alive (nothing suspect). */
bool sim_converged(struct sim *s, void *unused);
size_t sim_running(const struct sim *s);
/* Index of the node named "nK", or SIZE_MAX. */
size_t sim_index_of(const struct sim *s, const char *name);

#endif
