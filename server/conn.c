#include "server/conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "server/log.h"
#include "server/route_conn.h"
#include "server/route_worker.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/worker.h"

#define CONN_IOV_MAX 64

static const char oom_reply[] = "SERVER_ERROR out of memory reading request\r\n";

static void conn_handle_event(struct event_handler *h, uint32_t events);

/* Gives c->in room for cap bytes (0 frees it), within read_buf_mem_limit. */
static bool resize_in(struct conn *c, size_t cap)
{
    if (cap == 0) {
        if (c->in) {
            atomic_fetch_sub(&conn_stats.held_input_bytes, c->in_cap);
            atomic_fetch_sub(&conn_stats.held_input_bufs, 1);
        }
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        return true;
    }
    size_t limit = settings.read_buf_mem_limit;
    if (limit && cap > c->in_cap &&
        atomic_load_explicit(&conn_stats.held_input_bytes, memory_order_relaxed) + (cap - c->in_cap) >
            limit) {
        log_msg(1, "fd %d: read_buf_mem_limit reached", c->fd);
        atomic_fetch_add(&conn_stats.read_buf_oom, 1);
        return false;
    }
    char *grown = realloc(c->in, cap);
    if (!grown)
        return false;
    if (!c->in)
        atomic_fetch_add(&conn_stats.held_input_bufs, 1);
    if (cap > c->in_cap)
        atomic_fetch_add(&conn_stats.held_input_bytes, cap - c->in_cap);
    else
        atomic_fetch_sub(&conn_stats.held_input_bytes, c->in_cap - cap);
    c->in = grown;
    c->in_cap = cap;
    return true;
}

/* Input could not be kept: say so as memcached does, and close once that is written. */
static void refuse_input(struct conn *c)
{
    outbuf_append(&c->out, oom_reply, sizeof(oom_reply) - 1);
    resize_in(c, 0);
    c->in_ready = false;
    c->closing = true;
}

/* A backend completion put replies in c->out: have the worker write them this turn. */
static void conn_wake(void *arg)
{
    struct conn *c = arg;
    if (c->in_ready_list)
        return;
    c->in_ready_list = true;
    c->ready_next = c->worker->ready;
    c->worker->ready = c;
}

static void leave_ready_list(struct conn *c)
{
    if (!c->in_ready_list)
        return;
    for (struct conn **p = &c->worker->ready; *p; p = &(*p)->ready_next)
        if (*p == c) {
            *p = c->ready_next;
            break;
        }
    c->in_ready_list = false;
}

struct conn *conn_create(struct worker *w, int fd, const char *listen_name, const char *peer)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->session = session_create(&w->env);
    if (!c->session) {
        free(c);
        return NULL;
    }
    if (w->router) {
        c->proxy = route_conn_create(w->router, w->route_conn_pool, c->session, &c->out, conn_wake,
                                       c);
        if (!c->proxy) {
            session_destroy(c->session);
            free(c);
            return NULL;
        }
    }
    c->handler.on_event = conn_handle_event;
    c->fd = fd;
    session_set_conn_id(c->session, fd);
    if (c->proxy)
        route_conn_set_conn_id(c->proxy, fd);
    c->worker = w;
    outbuf_init(&c->out);
    c->last_active = clock_now();
    atomic_store_explicit(&c->last_cmd, c->last_active, memory_order_relaxed);
    c->listen_name = listen_name;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    return c;
}

void conn_close(struct conn *c)
{
    struct worker *w = c->worker;
    epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    log_msg(2, "<%d connection closed.", c->fd);
    worker_forget_conn(w, c);
    leave_ready_list(c);
    route_conn_destroy(c->proxy); /* commands in flight are detached, freed by their backends */
    session_destroy(c->session);
    outbuf_free(&c->out);
    resize_in(c, 0);
    bool stop = c->stop_server;
    free(c);
    if (stop)
        workers_request_shutdown();
}

/* Writes as much pending output as the socket takes. Returns false on a socket error. */
static bool conn_flush(struct conn *c)
{
    struct thread_stats *ts = &c->worker->stats;
    while (c->out.pending > 0) {
        struct iovec iov[CONN_IOV_MAX];
        int n = outbuf_iov(&c->out, iov, CONN_IOV_MAX);
        /* One piece (nearly every reply to a small request): send() skips writev's copy-in of
         * the iovec array. */
        ssize_t wrote = n == 1 ? send(c->fd, iov[0].iov_base, iov[0].iov_len, 0) : writev(c->fd, iov, n);
        if (wrote < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            return false;
        }
        outbuf_consume(&c->out, (size_t)wrote);
        STAT_ADD(ts, bytes_written, (uint64_t)wrote);
    }
    return true;
}

/* The bytes a routed command with a large data block needs in one buffer (0: none). */
static size_t input_wanted(const struct conn *c)
{
    return c->proxy ? route_conn_input_wanted(c->proxy) : 0;
}

/* Keeps in[consumed..len) for the next round. buf may be the worker's buffer or c->in itself. */
static bool keep_rest(struct conn *c, const char *buf, size_t len, size_t consumed)
{
    size_t rest = len - consumed;
    if (rest == 0)
        return resize_in(c, 0); /* idle connections hold no input buffer */
    if (buf == c->in) {
        memmove(c->in, c->in + consumed, rest);
        c->in_len = rest;
        /* A long get line or a routed data block grew the buffer; once it is consumed, do not
         * keep megabytes around. */
        if (c->in_cap > WORKER_READ_BUF && rest <= WORKER_READ_BUF / 2 && input_wanted(c) <= rest)
            resize_in(c, rest);
        return true;
    }
    if (c->in_cap < rest && !resize_in(c, rest))
        return false;
    memcpy(c->in, buf + consumed, rest);
    c->in_len = rest;
    return true;
}

static bool proxy_blocked(const struct conn *c)
{
    return c->proxy && route_conn_blocked(c->proxy);
}

static bool replies_pending(const struct conn *c)
{
    return c->out.pending > 0 || (c->proxy && !route_conn_idle(c->proxy));
}

static size_t conn_process(struct conn *c, const char *buf, size_t len)
{
    if (!c->proxy)
        return session_process(c->session, buf, len, &c->out, CONN_OUT_LIMIT);
    size_t consumed = route_conn_process(c->proxy, buf, len, CONN_OUT_LIMIT);
    return consumed;
}

static void after_process(struct conn *c, size_t len, size_t consumed)
{
    enum session_state st = session_state(c->session);
    if (st != SESSION_OPEN) {
        c->closing = true;
        if (st == SESSION_SHUTDOWN)
            c->stop_server = true;
    }
    c->in_ready = len > consumed && (c->out.pending > CONN_OUT_LIMIT || proxy_blocked(c));
    if (consumed > 0) {
        c->last_active = clock_now();
        atomic_store_explicit(&c->last_cmd, c->last_active, memory_order_relaxed);
    }
    int view = c->out.pending > CONN_OUT_LIMIT      ? CONN_VIEW_WRITE
               : session_mid_command(c->session)    ? CONN_VIEW_NREAD
                                                    : CONN_VIEW_READ;
    atomic_store_explicit(&c->view_state, view, memory_order_relaxed);
}

/* Processes held input without reading (after the output bound held it back). */
static bool process_held(struct conn *c)
{
    size_t consumed = conn_process(c, c->in, c->in_len);
    size_t len = c->in_len;
    after_process(c, len, consumed);
    if (!keep_rest(c, c->in, len, consumed))
        refuse_input(c);
    return true;
}

enum read_result { READ_MORE, READ_DRAINED, READ_CLOSED, READ_ERROR };

/* One read() and the processing of what it brought. */
static enum read_result read_and_process(struct conn *c)
{
    struct worker *w = c->worker;
    char *buf;
    size_t cap;
    size_t have = c->in_len;
    size_t wanted = input_wanted(c);
    if (wanted > have && wanted > WORKER_READ_BUF) {
        /* A routed command's data block (within -I, which the proxy client checked): the
         * connection's own buffer holds it whole, sized once. */
        if (c->in_cap < wanted && !resize_in(c, wanted)) {
            refuse_input(c);
            return READ_DRAINED;
        }
        buf = c->in;
        cap = c->in_cap;
    } else if (have + 4096 > WORKER_READ_BUF) {
        /* A long line: read into the connection's own, growing, buffer. */
        if (c->in_cap < have + 4096) {
            size_t want = c->in_cap * 2 > have + 4096 ? c->in_cap * 2 : have + 4096;
            if (want > CONN_IN_MAX + 4096) {
                log_msg(1, "closing fd %d: input line longer than %d bytes", c->fd, CONN_IN_MAX);
                return READ_ERROR;
            }
            if (!resize_in(c, want)) {
                refuse_input(c);
                return READ_DRAINED;
            }
        }
        buf = c->in;
        cap = c->in_cap;
    } else {
        buf = w->read_buf;
        cap = WORKER_READ_BUF;
        if (have)
            memcpy(buf, c->in, have);
    }
    ssize_t n = read(c->fd, buf + have, cap - have);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return READ_DRAINED;
        return READ_ERROR;
    }
    if (n == 0)
        return READ_CLOSED;
    STAT_ADD(&w->stats, bytes_read, (uint64_t)n);
    size_t len = have + (size_t)n;
    size_t consumed = conn_process(c, buf, len);
    after_process(c, len, consumed);
    if (!keep_rest(c, buf, len, consumed))
        refuse_input(c);
    return (size_t)n == cap - have ? READ_MORE : READ_DRAINED;
}

static bool set_interest(struct conn *c, unsigned events)
{
    if (events == c->events)
        return true;
    struct epoll_event ev = {.events = events, .data.ptr = &c->handler};
    if (epoll_ctl(c->worker->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        return false;
    c->events = events;
    return true;
}

/* After a round of work: writes, closes when done, and sets the epoll interest. Returns false
 * when the connection was closed. */
static bool conn_settle(struct conn *c, bool peer_closed)
{
    if (!conn_flush(c) || peer_closed) {
        conn_close(c);
        return false;
    }
    if (c->closing && !replies_pending(c)) {
        conn_close(c);
        return false;
    }
    /* Stop reading while the output is over its bound, too many commands wait for backends, or
     * the connection is closing; ask for EPOLLOUT while output is pending, or while held input
     * waits on the output bound (the socket is then writable at once, which brings the
     * connection back next round without a ready list). Input held back by commands in flight
     * resumes from the ready list when their replies come. */
    bool blocked = proxy_blocked(c);
    unsigned want = 0;
    if (!c->closing && c->out.pending <= CONN_OUT_LIMIT && !blocked)
        want |= EPOLLIN;
    if (c->out.pending > 0 || (c->in_ready && !blocked))
        want |= EPOLLOUT;
    if (!set_interest(c, want)) {
        conn_close(c);
        return false;
    }
    return true;
}

/* Writes what is pending, then reads and processes up to -R reads. Returns false when the
 * connection was closed (and freed). */
static bool conn_on_event(struct conn *c, unsigned events)
{
    if (events & (EPOLLERR)) {
        conn_close(c);
        return false;
    }
    if (!conn_flush(c)) {
        conn_close(c);
        return false;
    }
    bool peer_closed = false;
    int rounds = 0;
    while (!c->closing) {
        if (c->out.pending > CONN_OUT_LIMIT) {
            if (!conn_flush(c)) {
                conn_close(c);
                return false;
            }
            if (c->out.pending > CONN_OUT_LIMIT)
                break; /* the client is not reading: wait for EPOLLOUT */
        }
        if (rounds == settings.reqs_per_event) {
            STAT_INC(&c->worker->stats, conn_yields);
            break;
        }
        rounds++;
        if (c->in_ready) {
            if (proxy_blocked(c))
                break; /* resumes from the ready list */
            if (!process_held(c)) {
                conn_close(c);
                return false;
            }
            continue;
        }
        if (proxy_blocked(c))
            break;
        enum read_result r = read_and_process(c);
        if (r == READ_ERROR) {
            conn_close(c);
            return false;
        }
        if (r == READ_CLOSED) {
            if (c->proxy && !route_conn_idle(c->proxy)) {
                /* the client half-closed after its requests: answer them first, as memcached
                 * (which answers before it reads the end) does */
                c->closing = true;
                break;
            }
            peer_closed = true;
            break;
        }
        if (r == READ_DRAINED && !c->in_ready)
            break;
    }
    return conn_settle(c, peer_closed);
}

static void conn_handle_event(struct event_handler *h, uint32_t events)
{
    conn_on_event(EVENT_HANDLER_OWNER(h, struct conn, handler), events);
}

bool conn_on_ready(struct conn *c)
{
    c->in_ready_list = false;
    if (!conn_flush(c)) {
        conn_close(c);
        return false;
    }
    for (int rounds = 0; rounds < settings.reqs_per_event && !c->closing && c->in_ready &&
                         !proxy_blocked(c) && c->out.pending <= CONN_OUT_LIMIT;
         rounds++)
        process_held(c);
    return conn_settle(c, false);
}
