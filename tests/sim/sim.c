/* The simulated cluster and network (see sim.h). Node i lives at 10.x.y.z:7946 with x.y.z = i,
 * so a source address maps back to its node without a table. */
#include "sim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/gossip/wire.h"

struct sim_packet {
    uint64_t at, seq;
    size_t to;
    struct gossip_addr from;
    size_t len;
    uint8_t data[];
};

uint64_t sim_rand(struct sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double sim_uniform(struct sim *s)
{
    return (double)(sim_rand(s) >> 11) / 9007199254740992.0;
}

void sim_init(struct sim *s, uint64_t seed, size_t capacity)
{
    memset(s, 0, sizeof *s);
    s->rng = seed;
    s->cap = capacity;
    s->nodes = calloc(capacity, sizeof *s->nodes);
    if (!s->nodes) {
        perror("sim");
        exit(2);
    }
    s->now = 1000000;           /* not zero: catches code that treats 0 as "unset" */
    s->delay_min_ms = 1;
    s->delay_max_ms = 5;
    gossip_config_defaults(&s->base);
}

void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->n; i++)
        gossip_destroy(s->nodes[i].g);
    for (size_t i = 0; i < s->heap_len; i++)
        free(s->heap[i]);
    free(s->heap);
    free(s->nodes);
}

static bool packet_before(const struct sim_packet *a, const struct sim_packet *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(struct sim *s, struct sim_packet *p)
{
    if (s->heap_len == s->heap_cap) {
        s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        s->heap = realloc(s->heap, s->heap_cap * sizeof *s->heap);
        if (!s->heap) {
            perror("sim");
            exit(2);
        }
    }
    size_t i = s->heap_len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!packet_before(p, s->heap[parent]))
            break;
        s->heap[i] = s->heap[parent];
        i = parent;
    }
    s->heap[i] = p;
}

static struct sim_packet *heap_pop(struct sim *s)
{
    struct sim_packet *top = s->heap[0], *last = s->heap[--s->heap_len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= s->heap_len)
            break;
        if (c + 1 < s->heap_len && packet_before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!packet_before(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (s->heap_len > 0)
        s->heap[i] = last;
    return top;
}

static size_t index_of_addr(const struct sim *s, const struct gossip_addr *a)
{
    if (a->family != 4 || a->ip[0] != 10 || a->port != 7946)
        return SIZE_MAX;
    size_t i = (size_t)a->ip[1] << 16 | (size_t)a->ip[2] << 8 | a->ip[3];
    return i < s->n ? i : SIZE_MAX;
}

size_t sim_index_of(const struct sim *s, const char *name)
{
    if (name[0] != 'n')
        return SIZE_MAX;
    char *end;
    unsigned long i = strtoul(name + 1, &end, 10);
    return *end == '\0' && i < s->n ? (size_t)i : SIZE_MAX;
}

static void sim_send(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    struct sim_node *from = ctx;
    struct sim *s = from->sim;
    from->bytes_sent += len + 28;       /* IPv4 + UDP headers */
    s->packets_sent++;
    size_t dst = index_of_addr(s, to);
    if (dst == SIZE_MAX || len > WIRE_MAX_PACKET) {
        s->packets_dropped++;
        return;
    }
    if (sim_uniform(s) < s->loss ||
        (s->partitioned && s->nodes[dst].group != from->group)) {
        s->packets_dropped++;
        return;
    }
    struct sim_packet *p = malloc(sizeof *p + len);
    if (!p) {
        perror("sim");
        exit(2);
    }
    uint32_t span = s->delay_max_ms - s->delay_min_ms + 1;
    p->at = s->now + s->delay_min_ms + sim_rand(s) % span + s->nodes[dst].slow_ms;
    p->seq = s->packet_seq++;
    p->to = dst;
    p->from = from->addr;
    p->len = len;
    memcpy(p->data, buf, len);
    heap_push(s, p);
}

static void sim_on_change(void *ctx, const struct gossip_event *ev)
{
    struct sim_node *node = ctx;
    struct sim *s = node->sim;
    size_t subject = sim_index_of(s, ev->member->name);
    if (subject != SIZE_MAX && subject != node->idx && s->nodes[subject].g &&
        ev->new_state != GOSSIP_STATE_NONE) {
        /* The subject is running; was it really this life of it that got accused? */
        if (ev->member->incarnation >= s->nodes[subject].first_inc &&
            ev->new_state == MEMBER_DEAD) {
            s->false_deaths++;
            if (getenv("SIM_TRACE"))
                fprintf(stderr, "t=%llu false death: %s marks %s dead at incarnation %llu "
                        "(its own is %llu)\n", (unsigned long long)s->now, node->name,
                        ev->member->name, (unsigned long long)ev->member->incarnation,
                        (unsigned long long)gossip_incarnation(s->nodes[subject].g));
        }
        if (ev->new_state == MEMBER_SUSPECT) {
            s->suspicions++;
            s->suspicions_of_slow += s->nodes[subject].slow_ms > 0;
        }
    }
    if (s->observer.on_change)
        s->observer.on_change(s->observer.ctx, node, ev);
}

static void sim_log(void *ctx, int level, const char *msg)
{
    struct sim_node *node = ctx;
    if (level <= 2 && getenv("SIM_TRACE"))
        fprintf(stderr, "t=%llu %s: %s\n", (unsigned long long)node->sim->now, node->name, msg);
}

size_t sim_add_node(struct sim *s)
{
    if (s->n == s->cap) {
        fprintf(stderr, "sim: node capacity %zu exceeded\n", s->cap);
        exit(2);
    }
    size_t i = s->n++;
    struct sim_node *node = &s->nodes[i];
    memset(node, 0, sizeof *node);
    node->sim = s;
    node->idx = i;
    snprintf(node->name, sizeof node->name, "n%zu", i);
    node->addr.family = 4;
    node->addr.ip[0] = 10;
    node->addr.ip[1] = (uint8_t)(i >> 16);
    node->addr.ip[2] = (uint8_t)(i >> 8);
    node->addr.ip[3] = (uint8_t)i;
    node->addr.port = 7946;
    node->deadline = UINT64_MAX;
    return i;
}

static void refresh_deadline(struct sim_node *node)
{
    node->deadline = node->g ? gossip_next_deadline(node->g) : UINT64_MAX;
}

void sim_start(struct sim *s, size_t i, const size_t *seeds, size_t nseeds)
{
    struct sim_node *node = &s->nodes[i];
    struct gossip_config cfg = s->base;
    char data[32];
    snprintf(data, sizeof data, "10.%u.%u.%u:11211", node->addr.ip[1], node->addr.ip[2],
             node->addr.ip[3]);
    cfg.name = node->name;
    cfg.addr = node->addr;
    cfg.data_addr = data;
    cfg.incarnation = gossip_fresh_incarnation(s->now, sim_rand(s));
    node->first_inc = cfg.incarnation;
    cfg.seed = sim_rand(s);
    cfg.keys = s->keys;
    cfg.counter_start = s->now * 1000;     /* "wall-clock microseconds" */
    cfg.send = sim_send;
    cfg.on_change = sim_on_change;
    cfg.log = sim_log;
    cfg.ctx = node;
    node->life++;
    node->g = gossip_create(&cfg, s->now);
    if (!node->g) {
        fprintf(stderr, "sim: gossip_create failed for %s\n", node->name);
        exit(2);
    }
    struct gossip_addr addrs[16];
    size_t k = 0;
    for (size_t j = 0; j < nseeds && k < 16; j++)
        if (seeds[j] != i)
            addrs[k++] = s->nodes[seeds[j]].addr;
    if (k > 0)
        gossip_join(node->g, addrs, k, s->now);
    refresh_deadline(node);
}

void sim_crash(struct sim *s, size_t i)
{
    gossip_destroy(s->nodes[i].g);
    s->nodes[i].g = NULL;
    s->nodes[i].deadline = UINT64_MAX;
}

void sim_leave(struct sim *s, size_t i)
{
    gossip_leave(s->nodes[i].g, s->now);
    refresh_deadline(&s->nodes[i]);
}

size_t sim_running(const struct sim *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->nodes[i].g != NULL;
    return n;
}

/* Processes everything due at s->now, then jumps to the next event (at least 1 ms later, so a
 * node whose deadline does not move cannot stall the clock). */
void sim_run_until(struct sim *s, uint64_t until)
{
    for (;;) {
        while (s->heap_len > 0 && s->heap[0]->at <= s->now) {
            struct sim_packet *p = heap_pop(s);
            struct sim_node *node = &s->nodes[p->to];
            if (node->g) {
                gossip_receive(node->g, p->data, p->len, &p->from, s->now);
                refresh_deadline(node);
            }
            free(p);
        }
        for (size_t i = 0; i < s->n; i++) {
            struct sim_node *node = &s->nodes[i];
            if (node->g && node->deadline <= s->now) {
                gossip_tick(node->g, s->now);
                refresh_deadline(node);
            }
        }
        if (s->now >= until)
            return;
        uint64_t next = until;
        if (s->heap_len > 0 && s->heap[0]->at < next)
            next = s->heap[0]->at;
        for (size_t i = 0; i < s->n; i++)
            if (s->nodes[i].deadline < next)
                next = s->nodes[i].deadline;
        s->now = next > s->now ? next : s->now + 1;
    }
}

bool sim_run_until_cond(struct sim *s, uint64_t limit, uint64_t step_ms,
                        bool (*done)(struct sim *s, void *ctx), void *ctx)
{
    while (s->now < limit) {
        if (done(s, ctx))
            return true;
        uint64_t next = s->now + step_ms;
        sim_run_until(s, next < limit ? next : limit);
    }
    return done(s, ctx);
}

bool sim_converged(struct sim *s, void *unused)
{
    (void)unused;
    size_t up = sim_running(s);
    for (size_t i = 0; i < s->n; i++) {
        struct gossip *g = s->nodes[i].g;
        if (!g)
            continue;
        if (gossip_member_count(g, MEMBER_ALIVE) != up || gossip_member_count(g, MEMBER_SUSPECT))
            return false;
    }
    return true;
}
