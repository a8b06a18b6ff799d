/* The UDP driver (see gossip_udp.h): one thread, one socket, poll with the gossip's next deadline
 * as timeout, and a pipe to wake it for stop. A mutex guards the struct gossip between the thread
 * and the control calls (stats, subscribe, leave); the request path never takes it: it reads the
 * snapshot view, and leaves its unreachable-backend hints in lock-free slots the thread drains. */
#include "cluster/gossip/gossip_udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cluster/gossip/crypto/keys.h"
#include "cluster/gossip/crypto/random.h"

#define RECV_BATCH 64                   /* datagrams read per wake before ticking again */

/* Hints from the request path (gossip_udp_hint_unreachable), handed over without a lock: a
 * worker claims a free slot (FREE -> WRITING), writes the name, publishes it (READY, release);
 * the gossip thread takes READY slots (acquire) before each tick and frees them. The gossip keeps
 * one hint at a time anyway (the newest), so when every slot is busy the hint is dropped. */
#define HINT_SLOTS 8

enum { HINT_FREE, HINT_WRITING, HINT_READY };

struct hint_slot {
    atomic_int state;
    char name[WIRE_NAME_MAX + 1];
};

struct subscriber {
    gossip_subscriber_fn fn;
    void *ctx;
};

struct gossip_udp {
    int fd;
    int wake[2];                        /* pipe: the thread polls wake[0] */
    pthread_t thread;
    atomic_bool stopping;
    pthread_mutex_t lock;               /* guards g and subscribers */
    struct gossip *g;
    struct gossip_view *view;
    struct gossip_addr addr;
    uint32_t leave_linger_ms;
    struct subscriber subs[GOSSIP_UDP_MAX_SUBSCRIBERS];
    size_t nsubs;
    char name[WIRE_NAME_MAX + 1];
    void (*fence_fn)(void *ctx, const struct gossip_fence *fence);
    void *fence_ctx;
    struct hint_slot hints[HINT_SLOTS];
    /* Authentication: the keys the gossip borrows (swapped under lock on reload), their file. */
    bool authenticated;
    struct packet_keys keys;
    char secret_file[4096];
    atomic_bool reload_wanted;
    void (*log)(void *ctx, int level, const char *msg);     /* gossip.log; ctx: this driver */
};

void gossip_udp_config_defaults(struct gossip_udp_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    gossip_config_defaults(&cfg->gossip);
    cfg->leave_linger_ms = 2 * cfg->gossip.probe_interval_ms;
}

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static socklen_t to_sockaddr(const struct gossip_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        memcpy(&s6->sin6_addr, a->ip, 16);
        return sizeof *s6;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(a->port);
    memcpy(&s4->sin_addr, a->ip, 4);
    return sizeof *s4;
}

static bool from_sockaddr(const struct sockaddr_storage *ss, struct gossip_addr *a)
{
    memset(a, 0, sizeof *a);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        a->family = 4;
        a->port = ntohs(s4->sin_port);
        memcpy(a->ip, &s4->sin_addr, 4);
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        a->family = 6;
        a->port = ntohs(s6->sin6_port);
        memcpy(a->ip, &s6->sin6_addr, 16);
        return true;
    }
    return false;
}

static bool is_wildcard(const struct gossip_addr *a)
{
    static const uint8_t zero[16];
    return memcmp(a->ip, zero, a->family == 6 ? 16 : 4) == 0;
}

static void udp_send(void *ctx, const struct gossip_addr *to, const uint8_t *buf, size_t len)
{
    struct gossip_udp *d = ctx;
    if (to->family != d->addr.family)
        return;                         /* an IPv4 socket cannot reach an IPv6 peer */
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(to, &ss);
    /* Non-blocking: a full socket buffer loses the datagram, which SWIM tolerates like loss. */
    (void)sendto(d->fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl);
}

static void fan_out(void *ctx, const struct gossip_event *ev)
{
    struct gossip_udp *d = ctx;        /* called with d->lock held, from inside gossip code */
    for (size_t i = 0; i < d->nsubs; i++)
        d->subs[i].fn(d->subs[i].ctx, ev);
}

static void pass_fence(void *ctx, const struct gossip_fence *fence)
{
    struct gossip_udp *d = ctx;        /* called with d->lock held, from inside gossip code */
    d->fence_fn(d->fence_ctx, fence);
}

static void receive_batch(struct gossip_udp *d)
{
    uint8_t buf[WIRE_MAX_PACKET + 1];   /* one more byte: oversized datagrams are seen as such */
    for (int i = 0; i < RECV_BATCH; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        ssize_t n = recvfrom(d->fd, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC,
                             (struct sockaddr *)&ss, &sl);
        if (n < 0)
            return;                     /* EAGAIN, or an ICMP error surfacing: nothing to read */
        struct gossip_addr from;
        if (!from_sockaddr(&ss, &from))
            continue;
        size_t len = (size_t)n > sizeof buf ? sizeof buf : (size_t)n;
        pthread_mutex_lock(&d->lock);
        gossip_receive(d->g, buf, len, &from, monotonic_ms());
        pthread_mutex_unlock(&d->lock);
    }
}

/* Passes the hints workers left to the gossip. Called with d->lock held. */
static void take_hints(struct gossip_udp *d)
{
    for (size_t i = 0; i < HINT_SLOTS; i++) {
        struct hint_slot *h = &d->hints[i];
        if (atomic_load_explicit(&h->state, memory_order_acquire) != HINT_READY)
            continue;
        gossip_hint_unreachable(d->g, h->name);
        atomic_store_explicit(&h->state, HINT_FREE, memory_order_release);
    }
}

static void logf_driver(struct gossip_udp *d, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void logf_driver(struct gossip_udp *d, int level, const char *fmt, ...)
{
    if (!d->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    d->log(d, level, line);
}

/* "1a2b3c4d" (the key id, public: it is in every packet) into buf (>= 9 bytes). */
static const char *key_id_hex(const struct packet_key *k, char *buf)
{
    snprintf(buf, 9, "%02x%02x%02x%02x", k->id[0], k->id[1], k->id[2], k->id[3]);
    return buf;
}

/* "signing 1a2b3c4d, also accepting 5e6f7a8b" into buf. */
static const char *describe_keys(const struct packet_keys *k, char *buf, size_t cap)
{
    char cur[9], prev[9];
    if (k->has_previous)
        snprintf(buf, cap, "signing with key %s, also accepting key %s", key_id_hex(&k->current, cur),
                 key_id_hex(&k->previous, prev));
    else
        snprintf(buf, cap, "signing with key %s, accepting no other", key_id_hex(&k->current, cur));
    return buf;
}

/* Runs on the gossip thread, without the lock while reading the file. */
static void reload_keys(struct gossip_udp *d)
{
    if (!d->authenticated) {
        logf_driver(d, 1, "gossip: reload asked, but gossip runs without --cluster-secret-file: "
                          "nothing to reload (a secret needs a restart)");
        return;
    }
    struct packet_keys fresh;
    bool group_accessible = false;
    char err[256] = "";
    if (packet_keys_load(d->secret_file, &fresh, &group_accessible, err, sizeof err) != 0) {
        logf_driver(d, 0, "gossip: kept the keys in use: reloading %s failed: %s", d->secret_file,
                    err);
        return;
    }
    if (group_accessible)
        logf_driver(d, 1, "gossip: warning: %s is accessible to its group", d->secret_file);
    char before[96], after[96];
    describe_keys(&d->keys, before, sizeof before);
    describe_keys(&fresh, after, sizeof after);
    pthread_mutex_lock(&d->lock);
    d->keys = fresh;
    pthread_mutex_unlock(&d->lock);
    packet_keys_wipe(&fresh);
    if (strcmp(before, after) == 0)
        logf_driver(d, 1, "gossip: reloaded %s: unchanged (%s)", d->secret_file, after);
    else
        logf_driver(d, 1, "gossip: reloaded %s: now %s (was %s)", d->secret_file, after, before);
}

static void *run(void *arg)
{
    struct gossip_udp *d = arg;
    while (!atomic_load(&d->stopping)) {
        if (atomic_exchange(&d->reload_wanted, false))
            reload_keys(d);
        pthread_mutex_lock(&d->lock);
        take_hints(d);
        uint64_t now = monotonic_ms();
        gossip_tick(d->g, now);
        uint64_t next = gossip_next_deadline(d->g);
        pthread_mutex_unlock(&d->lock);
        int timeout = next <= now ? 0 : next - now > 1000 ? 1000 : (int)(next - now);
        struct pollfd pfd[2] = {{.fd = d->fd, .events = POLLIN}, {.fd = d->wake[0], .events = POLLIN}};
        int r = poll(pfd, 2, timeout);
        if (r < 0 && errno != EINTR)
            break;
        if (r > 0 && (pfd[0].revents & (POLLIN | POLLERR)))
            receive_batch(d);
        if (r > 0 && (pfd[1].revents & POLLIN)) {
            char drain[16];
            while (read(d->wake[0], drain, sizeof drain) > 0) {
            }
        }
    }
    return NULL;
}

static void fail(char *err, size_t err_len, const char *what)
{
    snprintf(err, err_len, "gossip: %s: %s", what, strerror(errno));
}

static void release(struct gossip_udp *d)
{
    if (d->fd >= 0)
        close(d->fd);
    if (d->wake[0] >= 0)
        close(d->wake[0]);
    if (d->wake[1] >= 0)
        close(d->wake[1]);
    gossip_destroy(d->g);
    gossip_view_destroy(d->view);
    pthread_mutex_destroy(&d->lock);
    packet_keys_wipe(&d->keys);
    free(d);
}

struct gossip_udp *gossip_udp_start(const struct gossip_udp_config *cfg, char *err, size_t err_len)
{
    if (cfg->bind.family != 4 && cfg->bind.family != 6) {
        snprintf(err, err_len, "gossip: no bind address");
        return NULL;
    }
    struct gossip_udp *d = calloc(1, sizeof *d);
    if (!d) {
        fail(err, err_len, "allocating the driver");
        return NULL;
    }
    d->fd = d->wake[0] = d->wake[1] = -1;
    pthread_mutex_init(&d->lock, NULL);
    d->leave_linger_ms = cfg->leave_linger_ms;

    d->fd = socket(cfg->bind.family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (d->fd < 0) {
        fail(err, err_len, "socket");
        release(d);
        return NULL;
    }
    struct sockaddr_storage ss;
    socklen_t sl = to_sockaddr(&cfg->bind, &ss);
    if (bind(d->fd, (struct sockaddr *)&ss, sl) != 0) {
        char a[64];
        char what[96];
        snprintf(what, sizeof what, "bind %s", gossip_addr_format(&cfg->bind, a, sizeof a));
        fail(err, err_len, what);
        release(d);
        return NULL;
    }
    sl = sizeof ss;
    getsockname(d->fd, (struct sockaddr *)&ss, &sl);
    struct gossip_addr bound;
    from_sockaddr(&ss, &bound);
    d->addr = cfg->advertise.family ? cfg->advertise : bound;
    if (!cfg->advertise.family && is_wildcard(&bound)) {
        snprintf(err, err_len, "gossip: bound to a wildcard address; an advertise address is needed");
        release(d);
        return NULL;
    }
    if (d->addr.port == 0)
        d->addr.port = bound.port;
    if (pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        fail(err, err_len, "pipe");
        release(d);
        return NULL;
    }
    d->view = gossip_view_create();
    if (!d->view) {
        fail(err, err_len, "allocating the view");
        release(d);
        return NULL;
    }

    uint64_t rnd = 0, seed = 0;
    if (crypto_random_u64(&rnd) != 0 || crypto_random_u64(&seed) != 0) {
        fail(err, err_len, "random");
        release(d);
        return NULL;
    }
    struct gossip_config gc = cfg->gossip;
    uint64_t us = wall_us();
    gc.addr = d->addr;
    gc.incarnation = gossip_fresh_incarnation(us / 1000, rnd);
    gc.seed = seed;
    gc.counter_start = us;
    gc.send = udp_send;
    gc.on_change = fan_out;
    d->fence_fn = cfg->gossip.on_fence;
    d->fence_ctx = cfg->fence_ctx;
    gc.on_fence = d->fence_fn ? pass_fence : NULL;
    gc.ctx = d;
    gc.view = d->view;
    if (cfg->gossip.keys) {
        d->authenticated = true;
        d->keys = *cfg->gossip.keys;
        gc.keys = &d->keys;
        snprintf(d->secret_file, sizeof d->secret_file, "%s",
                 cfg->secret_file ? cfg->secret_file : "");
    }
    d->log = cfg->gossip.log;
    uint64_t now = monotonic_ms();
    d->g = gossip_create(&gc, now);
    if (!d->g) {
        snprintf(err, err_len, "gossip: invalid configuration (name, addresses or timings)");
        release(d);
        return NULL;
    }
    snprintf(d->name, sizeof d->name, "%s", gc.name);
    if (cfg->nseeds > 0)
        gossip_join(d->g, cfg->seeds, cfg->nseeds, now);
    int rc = pthread_create(&d->thread, NULL, run, d);
    if (rc != 0) {
        errno = rc;
        fail(err, err_len, "starting the thread");
        release(d);
        return NULL;
    }
    return d;
}

struct replay_ctx {
    gossip_subscriber_fn fn;
    void *ctx;
};

static void replay_member(void *ctx, const struct wire_member *m, uint8_t state)
{
    struct replay_ctx *r = ctx;
    struct gossip_event ev = {m, GOSSIP_STATE_NONE, state};
    r->fn(r->ctx, &ev);
}

int gossip_udp_subscribe(struct gossip_udp *d, gossip_subscriber_fn fn, void *ctx)
{
    pthread_mutex_lock(&d->lock);
    int rc = -1;
    if (d->nsubs < GOSSIP_UDP_MAX_SUBSCRIBERS) {
        d->subs[d->nsubs++] = (struct subscriber){fn, ctx};
        struct replay_ctx r = {fn, ctx};
        gossip_for_each_member(d->g, replay_member, &r);
        rc = 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

struct gossip_view *gossip_udp_view(struct gossip_udp *d)
{
    return d->view;
}

struct gossip_addr gossip_udp_addr(const struct gossip_udp *d)
{
    return d->addr;
}

size_t gossip_udp_stats(struct gossip_udp *d, char *buf, size_t cap)
{
    pthread_mutex_lock(&d->lock);
    gossip_publish_pending(d->g);
    size_t n = gossip_stats_render(d->g, buf, cap);
    pthread_mutex_unlock(&d->lock);
    return n;
}

void gossip_udp_hint_unreachable(struct gossip_udp *d, const char *name)
{
    /* The hint is used when the next probe period starts, and the thread ticks by then: no
     * need to wake it. */
    for (size_t i = 0; i < HINT_SLOTS; i++) {
        struct hint_slot *h = &d->hints[i];
        int expected = HINT_FREE;
        if (!atomic_compare_exchange_strong_explicit(&h->state, &expected, HINT_WRITING,
                                                     memory_order_acquire, memory_order_relaxed))
            continue;
        snprintf(h->name, sizeof h->name, "%s", name);
        atomic_store_explicit(&h->state, HINT_READY, memory_order_release);
        return;
    }
}

void gossip_udp_reload_keys(struct gossip_udp *d)
{
    atomic_store(&d->reload_wanted, true);
    ssize_t w = write(d->wake[1], "r", 1);
    (void)w;                            /* a full pipe already wakes the thread */
}

void gossip_udp_leave(struct gossip_udp *d)
{
    pthread_mutex_lock(&d->lock);
    gossip_leave(d->g, monotonic_ms());
    pthread_mutex_unlock(&d->lock);
    /* Keep the thread answering pings (whose acks carry the news) for a moment. */
    struct timespec ts = {d->leave_linger_ms / 1000, (long)(d->leave_linger_ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void gossip_udp_stop(struct gossip_udp *d)
{
    if (!d)
        return;
    atomic_store(&d->stopping, true);
    ssize_t w = write(d->wake[1], "x", 1);
    (void)w;                            /* a full pipe already wakes the thread */
    pthread_join(d->thread, NULL);
    release(d);
}
