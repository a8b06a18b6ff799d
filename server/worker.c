#include "server/worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "server/conn.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/route_conn.h"
#include "server/route_worker.h"
#include "server/settings.h"

#define EVENTS_PER_WAIT 256
/* The fewest events in one epoll_wait batch after which the worker yields its core (below). */
#define YIELD_MIN_EVENTS 8
#define ACCEPTS_PER_EVENT 64

static struct worker *workers;
static struct thread_stats **worker_stats_ptrs;
static int nworkers;
static atomic_bool stopping;

static const char rejected_reply[] = "ERROR Too many open connections\r\n";

/* A listener as one worker polls it: the listen set is shared, so each worker has its own. */
struct listener_handler {
    struct event_handler handler;
    struct worker *worker;
    int index; /* in worker->listeners */
};

/* A unix socket cannot be split per worker (no SO_REUSEPORT for AF_UNIX), and a shared one
 * polled by every worker wakes the same worker nearly every time. So exactly one worker polls it,
 * accepts one connection, and passes it on to the next worker: round-robin with no queue.
 * unix_owner[i] is the worker polling listener i (unused for TCP listeners). */
static _Atomic int *unix_owner;

static int watch_one(struct worker *w, int i, int op)
{
    const struct listener *l = &w->listeners->items[i];
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->listener_handlers[i].handler};
    if (epoll_ctl(w->epfd, op, l->fds[w->id], &ev) == 0)
        return 0;
    /* The token may move while a worker pauses or resumes: a unix listener already there (or
     * already gone) is fine. */
    if (l->is_unix && (errno == EEXIST || errno == ENOENT))
        return 0;
    return -1;
}

static int watch_listeners(struct worker *w, int op)
{
    for (int i = 0; i < w->listeners->count; i++) {
        if (w->listeners->items[i].is_unix && atomic_load(&unix_owner[i]) != w->id)
            continue;
        if (watch_one(w, i, op) != 0)
            return -1;
    }
    return 0;
}

static void pass_unix_listener(struct worker *w, int i)
{
    if (nworkers < 2)
        return;
    struct worker *next = &workers[(w->id + 1) % nworkers];
    atomic_store(&unix_owner[i], next->id);
    watch_one(w, i, EPOLL_CTL_DEL);
    watch_one(next, i, EPOLL_CTL_ADD); /* a paused worker just pauses again on accept */
}

static void peer_name(const struct sockaddr_storage *ss, bool is_unix, char *out, size_t len)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (is_unix) {
        snprintf(out, len, "unix:");
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const void *)ss;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
        snprintf(out, len, "tcp:%s:%u", host, ntohs(in->sin_port));
    } else {
        const struct sockaddr_in6 *in6 = (const void *)ss;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
        snprintf(out, len, "tcp6:[%s]:%u", host, ntohs(in6->sin6_port));
    }
}

static void add_conn(struct worker *w, struct conn *c)
{
    pthread_mutex_lock(&w->conns_lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    pthread_mutex_unlock(&w->conns_lock);
}

void worker_forget_conn(struct worker *w, struct conn *c)
{
    pthread_mutex_lock(&w->conns_lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    w->nconns--;
    pthread_mutex_unlock(&w->conns_lock);
    atomic_fetch_sub(&w->load, 1);
    atomic_fetch_sub(&conn_stats.curr_conns, 1);
    atomic_fetch_sub(&conn_stats.conn_structures, 1);
}

/* An accepted connection on its way to the worker that will own it. */
struct handoff {
    struct handoff *next;
    int fd;
    int listener;
    char peer[LISTEN_NAME_MAX];
};

/* The worker with the fewest connections; w itself unless another has strictly fewer, so that
 * equal loads never cost a hand-off. */
static struct worker *least_loaded(struct worker *w)
{
    struct worker *best = w;
    int best_load = atomic_load_explicit(&w->load, memory_order_relaxed);
    for (int i = 0; i < nworkers; i++) {
        int load = atomic_load_explicit(&workers[i].load, memory_order_relaxed);
        if (load < best_load) {
            best = &workers[i];
            best_load = load;
        }
    }
    return best;
}

/* Queues fd for target and wakes it. Returns false (fd still ours) when memory ran out. */
static bool hand_off(struct worker *target, int fd, int listener, const char *peer)
{
    struct handoff *h = malloc(sizeof(*h));
    if (!h)
        return false;
    h->fd = fd;
    h->listener = listener;
    snprintf(h->peer, sizeof(h->peer), "%s", peer);
    atomic_fetch_add(&target->load, 1);
    pthread_mutex_lock(&target->handoff_lock);
    h->next = target->handoffs;
    target->handoffs = h;
    pthread_mutex_unlock(&target->handoff_lock);
    uint64_t one = 1;
    ssize_t ignored = write(target->wake_fd, &one, sizeof(one));
    (void)ignored;
    return true;
}

/* Makes fd a connection of w; its load was already counted. */
static void adopt(struct worker *w, int fd, int listener, const char *peer)
{
    const struct listener *l = &w->listeners->items[listener];
    struct conn *c = conn_create(w, fd, l->name, peer);
    if (!c) {
        atomic_fetch_sub(&w->load, 1);
        atomic_fetch_sub(&conn_stats.curr_conns, 1);
        close(fd);
        return;
    }
    atomic_fetch_add(&conn_stats.conn_structures, 1);
    c->events = EPOLLIN;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &c->handler};
    add_conn(w, c);
    if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        conn_close(c);
        return;
    }
    log_msg(2, settings.binding_protocol == BINDING_ASCII ? "<%d new ascii client connection."
                                                          : "<%d new auto-negotiating client connection",
            fd);
}

/* Takes the connections other workers handed over. */
static void adopt_handoffs(struct worker *w)
{
    uint64_t count;
    ssize_t ignored = read(w->wake_fd, &count, sizeof(count));
    (void)ignored;
    pthread_mutex_lock(&w->handoff_lock);
    struct handoff *h = w->handoffs;
    w->handoffs = NULL;
    pthread_mutex_unlock(&w->handoff_lock);
    while (h) {
        struct handoff *next = h->next;
        adopt(w, h->fd, h->listener, h->peer);
        free(h);
        h = next;
    }
}

/* The wake eventfd's handler. */
static void on_wake(struct event_handler *h, uint32_t events)
{
    (void)events;
    adopt_handoffs(EVENT_HANDLER_OWNER(h, struct worker, wake_handler));
}

/* Accepts what is waiting on listener i. Over -c, answers memcached's error and closes. Each
 * connection goes to the least loaded worker: the kernel's hash (SO_REUSEPORT) already spreads
 * them, and a hand-off evens out what the hash leaves uneven. */
static void accept_on(struct worker *w, int index)
{
    const struct listener *l = &w->listeners->items[index];
    int lfd = l->fds[w->id];
    int batch = l->is_unix ? 1 : ACCEPTS_PER_EVENT;
    for (int i = 0; i < batch; i++) {
        struct sockaddr_storage ss;
        socklen_t slen = sizeof(ss);
        int fd = accept4(lfd, (struct sockaddr *)&ss, &slen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* Out of descriptors: stop accepting until the next tick rather than spin. */
                log_msg(1, "Too many open connections (accept: %s)", strerror(errno));
                watch_listeners(w, EPOLL_CTL_DEL);
                if (!w->accept_paused) {
                    atomic_fetch_add(&conn_stats.listen_disabled_num, 1);
                    atomic_fetch_add(&conn_stats.accept_paused, 1);
                }
                w->accept_paused = true;
            }
            return;
        }
        /* Only after a successful accept: passing it first would let the next worker wake on
         * this same connection, find nothing, and pass the turn on again. */
        if (l->is_unix)
            pass_unix_listener(w, index);
        atomic_fetch_add(&conn_stats.total_conns, 1);
        uint64_t curr = atomic_fetch_add(&conn_stats.curr_conns, 1);
        if (curr >= (uint64_t)settings.maxconns) {
            atomic_fetch_sub(&conn_stats.curr_conns, 1);
            atomic_fetch_add(&conn_stats.rejected_conns, 1);
            /* Best effort: a fresh socket's buffer takes this short line. */
            ssize_t ignored = write(fd, rejected_reply, sizeof(rejected_reply) - 1);
            (void)ignored;
            close(fd);
            log_msg(1, "Too many open connections");
            continue;
        }
        if (!l->is_unix) {
            int one = 1;
            setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        char peer[LISTEN_NAME_MAX];
        if (l->is_unix)
            snprintf(peer, sizeof(peer), "%s", l->name);
        else
            peer_name(&ss, false, peer, sizeof(peer));
        struct worker *target = least_loaded(w);
        if (target != w && hand_off(target, fd, index, peer))
            continue;
        atomic_fetch_add(&w->load, 1);
        adopt(w, fd, index, peer);
    }
}

/* A listener's handler. */
static void on_listener(struct event_handler *h, uint32_t events)
{
    (void)events;
    const struct listener_handler *lh = EVENT_HANDLER_OWNER(h, struct listener_handler, handler);
    accept_on(lh->worker, lh->index);
}

/* Once a second: closes idle connections (-o idle_timeout) and resumes accepting. */
static void worker_tick(struct worker *w)
{
    if (w->accept_paused && watch_listeners(w, EPOLL_CTL_ADD) == 0) {
        w->accept_paused = false;
        atomic_fetch_sub(&conn_stats.accept_paused, 1);
    }
    if (settings.idle_timeout <= 0)
        return;
    rel_time_t now = clock_now();
    struct conn *c = w->conns;
    while (c) {
        struct conn *next = c->next;
        if (now - c->last_active > (rel_time_t)settings.idle_timeout) {
            log_msg(1, "Closing idle fd %d", c->fd);
            STAT_INC(&w->stats, idle_kicks);
            conn_close(c);
        }
        c = next;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct epoll_event events[EVENTS_PER_WAIT];
    rel_time_t last_tick = clock_now();
    int timeout = 1000;
    while (!atomic_load(&stopping)) {
        int n = epoll_wait(w->epfd, events, EVENTS_PER_WAIT, w->ready ? 0 : timeout);
        if (n < 0 && errno != EINTR) {
            log_msg(0, "epoll_wait: %s", strerror(errno));
            break;
        }
        if (w->router)
            route_worker_refresh(w->router);
        for (int i = 0; i < n; i++) {
            struct event_handler *h = events[i].data.ptr;
            h->on_event(h, events[i].events);
        }
        if (w->router) {
            /* backend timers first (their completions wake connections), then
             * the connections with replies, then one write per backend for the whole turn */
            route_worker_tick(w->router);
            route_worker_sweep_step(w->router, w->env.store);
            while (w->ready) {
                struct conn *c = w->ready;
                w->ready = c->ready_next;
                conn_on_ready(c);
            }
            timeout = route_worker_flush(w->router, 1000);
        }
        /* A busy worker never sleeps in epoll_wait, so on a shared core it would keep runnable
         * threads there (local clients, other workers) waiting for its whole slice; yielding once
         * per busy batch lets them run. A small batch means it will sleep soon anyway, and
         * yielding then only delays it. The figures: BENCHMARKS.md, "The yield rule". */
        if (n >= YIELD_MIN_EVENTS)
            sched_yield();
        if (clock_now() != last_tick) {
            last_tick = clock_now();
            worker_tick(w);
        }
    }
    while (w->conns)
        conn_close(w->conns);
    outbuf_thread_release();
    return NULL;
}

static void worker_cleanup(struct worker *w)
{
    /* Connections handed over after this worker stopped: nobody serves them now. */
    while (w->handoffs) {
        struct handoff *h = w->handoffs;
        w->handoffs = h->next;
        close(h->fd);
        atomic_fetch_sub(&conn_stats.curr_conns, 1);
        free(h);
    }
    pthread_mutex_destroy(&w->handoff_lock);
    /* after every worker joined (`stats proxy` reads all routers); completes what was in flight
     * for the closed connections */
    route_worker_destroy(w->router);
    w->router = NULL;
    route_conn_pool_destroy(w->route_conn_pool);
    w->route_conn_pool = NULL;
    if (w->epfd >= 0)
        close(w->epfd);
    if (w->wake_fd >= 0)
        close(w->wake_fd);
    free(w->read_buf);
    free(w->listener_handlers);
    pthread_mutex_destroy(&w->conns_lock);
}

int workers_start(int n, struct store *store, const struct listen_set *listeners)
{
    workers = calloc((size_t)n, sizeof(*workers));
    worker_stats_ptrs = calloc((size_t)n, sizeof(*worker_stats_ptrs));
    unix_owner = calloc((size_t)listeners->count + 1, sizeof(*unix_owner));
    if (!workers || !worker_stats_ptrs || !unix_owner) {
        fprintf(stderr, "out of memory starting worker threads\n");
        return -1;
    }
    atomic_store(&stopping, false);
    atomic_store(&conn_stats.read_buf_size, WORKER_READ_BUF);
    atomic_fetch_add(&conn_stats.conn_structures, (uint64_t)listeners->count);
    for (int i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        w->id = i;
        w->listeners = listeners;
        w->env = (struct session_env){.store = store, .stats = &w->stats, .thread_id = i};
        worker_stats_ptrs[i] = &w->stats;
        pthread_mutex_init(&w->conns_lock, NULL);
        pthread_mutex_init(&w->handoff_lock, NULL);
        w->epfd = epoll_create1(EPOLL_CLOEXEC);
        w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->read_buf = malloc(WORKER_READ_BUF);
        w->wake_handler.on_event = on_wake;
        w->listener_handlers = calloc((size_t)listeners->count + 1, sizeof(*w->listener_handlers));
        for (int k = 0; w->listener_handlers && k < listeners->count; k++)
            w->listener_handlers[k] = (struct listener_handler){
                .handler.on_event = on_listener, .worker = w, .index = k};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->wake_handler};
        if (w->epfd >= 0 && route_worker_enabled()) {
            w->router = route_worker_create(i, w->epfd);
            w->route_conn_pool = route_conn_pool_create();
        }
        if (w->epfd < 0 || w->wake_fd < 0 || !w->read_buf || !w->listener_handlers ||
            (route_worker_enabled() && (!w->router || !w->route_conn_pool)) ||
            epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wake_fd, &ev) != 0 ||
            watch_listeners(w, EPOLL_CTL_ADD) != 0) {
            fprintf(stderr, "failed to set up worker thread %d: %s\n", i, strerror(errno));
            nworkers = i + 1;
            workers_stop();
            return -1;
        }
        nworkers = i + 1;
    }
    /* Before any worker runs, so `stats` never sees a half-registered server. */
    stats_init(store, worker_stats_ptrs, n, workers_describe_conns);
    for (int i = 0; i < n; i++) {
        int rc = pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
        if (rc != 0) {
            fprintf(stderr, "Can't create thread: %s\n", strerror(rc));
            atomic_store(&stopping, true);
            for (int j = 0; j < i; j++) {
                uint64_t one = 1;
                ssize_t ignored = write(workers[j].wake_fd, &one, sizeof(one));
                (void)ignored;
                pthread_join(workers[j].thread, NULL);
            }
            for (int j = 0; j < n; j++)
                worker_cleanup(&workers[j]);
            nworkers = 0;
            return -1;
        }
    }
    return 0;
}

void workers_stop(void)
{
    atomic_store(&stopping, true);
    for (int i = 0; i < nworkers; i++) {
        uint64_t one = 1;
        if (workers[i].wake_fd >= 0) {
            ssize_t ignored = write(workers[i].wake_fd, &one, sizeof(one));
            (void)ignored;
        }
    }
    /* Join every worker before freeing any: a running worker's `stats conns` reads the others. */
    for (int i = 0; i < nworkers; i++)
        if (workers[i].thread)
            pthread_join(workers[i].thread, NULL);
    for (int i = 0; i < nworkers; i++)
        worker_cleanup(&workers[i]);
    free(workers);
    free(worker_stats_ptrs);
    free(unix_owner);
    unix_owner = NULL;
    workers = NULL;
    worker_stats_ptrs = NULL;
    nworkers = 0;
}

int workers_count(void)
{
    return nworkers;
}

struct thread_stats *const *workers_stats(void)
{
    return worker_stats_ptrs;
}

static const char *view_name(int view)
{
    switch (view) {
    case CONN_VIEW_NREAD:
        return "conn_nread";
    case CONN_VIEW_WRITE:
        return "conn_mwrite";
    default:
        return "conn_parse_cmd";
    }
}

static void conn_stat(struct outbuf *out, int fd, const char *field, const char *value)
{
    char line[300];
    int n = snprintf(line, sizeof(line), "STAT %d:%s %s\r\n", fd, field, value);
    if (n > 0 && (size_t)n < sizeof(line))
        outbuf_append(out, line, (size_t)n);
}

void workers_describe_conns(struct outbuf *out)
{
    if (nworkers == 0)
        return;
    const struct listen_set *ls = workers[0].listeners;
    rel_time_t now = clock_now();
    for (int i = 0; i < ls->count; i++) {
        const struct listener *l = &ls->items[i];
        int copies = l->is_unix ? 1 : nworkers;
        for (int k = 0; k < copies; k++) {
            conn_stat(out, l->fds[k], "addr", l->name);
            conn_stat(out, l->fds[k], "state", "conn_listening");
            conn_stat(out, l->fds[k], "secs_since_last_cmd", "0");
        }
    }
    for (int i = 0; i < nworkers; i++) {
        struct worker *w = &workers[i];
        pthread_mutex_lock(&w->conns_lock);
        for (struct conn *c = w->conns; c; c = c->next) {
            char secs[24];
            snprintf(secs, sizeof(secs), "%u",
                     (unsigned)(now - atomic_load_explicit(&c->last_cmd, memory_order_relaxed)));
            conn_stat(out, c->fd, "addr", c->peer);
            conn_stat(out, c->fd, "listen_addr", c->listen_name);
            conn_stat(out, c->fd, "state",
                      view_name(atomic_load_explicit(&c->view_state, memory_order_relaxed)));
            conn_stat(out, c->fd, "secs_since_last_cmd", secs);
        }
        pthread_mutex_unlock(&w->conns_lock);
    }
}

void workers_request_shutdown(void)
{
    kill(getpid(), SIGTERM);
}
