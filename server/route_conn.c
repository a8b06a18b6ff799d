/* One client connection's routed commands and their in-order replies; see route_conn.h. */
#include "server/route_conn.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "cluster/route/backend.h"
#include "cluster/route/route.h"
#include "proto/base64.h"
#include "proto/parse.h"
#include "server/line_copy.h"
#include "server/log.h"
#include "server/outbuf.h"
#include "server/route_binary.h"
#include "server/route_conn_internal.h"
#include "server/route_worker.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/stats.h"
#include "server/store.h"

/* Commands one client may have waiting for backends before its connection stops reading, and
 * the reply bytes held for it out of order: together they bound what one client costs. */
#define PENDING_MAX 256
#define HELD_MAX (256 * 1024)
/* Recycled entries kept per worker (with their plans' memory), and the largest buffer an idle
 * entry may keep: at most about POOL_MAX * (parts + copies) * KEEP_COPY_MAX per worker. */
#define POOL_MAX 1024
#define KEEP_COPY_MAX 4096

struct route_conn_pool *route_conn_pool_create(void)
{
    return calloc(1, sizeof(struct route_conn_pool));
}

static void entry_destroy(struct entry *e)
{
    for (size_t i = 0; i < e->block_cap; i++)
        route_buf_free(&e->copies[i]);
    free(e->results); /* copies and refs live in the same block */
    route_plan_free(&e->plan);
    outbuf_free(&e->local);
    free(e);
}

void route_conn_pool_destroy(struct route_conn_pool *pool)
{
    if (!pool)
        return;
    while (pool->free) {
        struct entry *e = pool->free;
        pool->free = e->next;
        entry_destroy(e);
    }
    free(pool);
}

static struct entry *entry_get(struct route_conn_pool *pool, struct route_conn *owner, bool is_plan)
{
    struct entry *e = pool->free;
    if (e) {
        pool->free = e->next;
        pool->nfree--;
    } else {
        e = calloc(1, sizeof *e);
        if (!e)
            return NULL;
        e->pool = pool;
    }
    e->next = NULL;
    e->owner = owner;
    e->is_plan = is_plan;
    e->sending = false;
    e->parts_left = 0;
    e->repl = NULL;
    outbuf_init(&e->local);
    return e;
}

struct route_conn *route_conn_create(struct route_worker *router, struct route_conn_pool *pool,
                                         struct session *session, struct outbuf *out,
                                         route_conn_notify_fn notify, void *notify_arg)
{
    struct route_conn *pc = calloc(1, sizeof *pc);
    if (!pc)
        return NULL;
    pc->router = router;
    pc->pool = pool;
    pc->session = session;
    pc->out = out;
    pc->notify = notify;
    pc->notify_arg = notify_arg;
    return pc;
}

static bool plan_is_large(const struct route_plan *plan)
{
    if (plan->parts_cap > 16 || plan->keys_cap > 256 || plan->key_bytes.cap > KEEP_COPY_MAX ||
        plan->miss.cap > KEEP_COPY_MAX)
        return true;
    for (size_t i = 0; i < plan->parts_cap; i++)
        if (plan->parts[i].request.cap > KEEP_COPY_MAX)
            return true;
    return false;
}

static void entry_free(struct entry *e)
{
    struct route_conn_pool *pool = e->pool;
    outbuf_free(&e->local);
    replica_free(e->repl);
    e->repl = NULL;
    if (pool->nfree >= POOL_MAX) {
        entry_destroy(e);
        return;
    }
    for (size_t i = 0; i < e->block_cap; i++)
        if (e->copies[i].cap > KEEP_COPY_MAX)
            route_buf_free(&e->copies[i]);
    if (plan_is_large(&e->plan))
        route_plan_free(&e->plan); /* a big value or multi-get: not worth keeping per entry */
    e->owner = NULL;
    e->next = pool->free;
    pool->free = e;
    pool->nfree++;
}

/* Room for n parts in the entry's block. */
bool rc_reserve_parts(struct entry *e, size_t n)
{
    if (n <= e->block_cap)
        return true;
    for (size_t i = 0; i < e->block_cap; i++)
        route_buf_free(&e->copies[i]);
    free(e->results);
    e->results = calloc(n, sizeof(struct route_result) + sizeof(struct route_buf) +
                               sizeof(struct part_ref));
    e->block_cap = e->results ? n : 0;
    if (!e->results)
        return false;
    e->copies = (struct route_buf *)(e->results + n);
    e->refs = (struct part_ref *)(e->copies + n);
    return true;
}

void route_conn_destroy(struct route_conn *pc)
{
    if (!pc)
        return;
    struct entry *e = pc->head;
    while (e) {
        struct entry *next = e->next;
        if (e->is_plan && e->parts_left > 0)
            e->owner = NULL; /* a backend still holds it: freed at its last completion */
        else
            entry_free(e);
        e = next;
    }
    line_copy_free(&pc->line);
    route_binary_destroy(pc->binary);
    free(pc);
}

bool route_conn_blocked(const struct route_conn *pc)
{
    if (pc->binary)
        return route_binary_blocked(pc->binary);
    return pc->nentries >= PENDING_MAX || pc->held > HELD_MAX;
}

bool route_conn_idle(const struct route_conn *pc)
{
    if (pc->binary)
        return route_binary_idle(pc->binary);
    return pc->head == NULL;
}

void route_conn_set_conn_id(struct route_conn *pc, int id)
{
    pc->conn_id = id;
}

void route_conn_ascii_only(struct route_conn *pc)
{
    pc->ascii_only = true;
}

bool route_conn_forwarded(const struct route_conn *pc)
{
    return pc->forwarded;
}

size_t route_conn_input_wanted(const struct route_conn *pc)
{
    if (pc->binary)
        return route_binary_input_wanted(pc->binary);
    return pc->want_input;
}

static void append_outbuf(struct outbuf *dst, struct outbuf *src)
{
    while (src->pending > 0) {
        struct iovec iov[16];
        int n = outbuf_iov(src, iov, 16);
        size_t moved = 0;
        for (int i = 0; i < n; i++) {
            (void)outbuf_append(dst, iov[i].iov_base, iov[i].iov_len);
            moved += iov[i].iov_len;
        }
        outbuf_consume(src, moved);
    }
}

/* Moves every finished command at the head of the FIFO to the client's outbuf. */
void rc_drain(struct route_conn *pc)
{
    while (pc->head) {
        struct entry *e = pc->head;
        if (e->is_plan) {
            if (e->parts_left > 0)
                return;
            if (route_reply_is_verbatim(&e->plan, e->results)) {
                (void)outbuf_append(pc->out, e->results[0].reply, e->results[0].len);
                goto done;
            }
            struct route_buf *merged = route_worker_scratch(pc->router);
            if (route_merge(&e->plan, e->results, merged) == 0)
                (void)outbuf_append(pc->out, merged->data, merged->len);
            else
                (void)outbuf_append_str(pc->out, "SERVER_ERROR out of memory\r\n");
        done:
            for (size_t i = 0; i < e->plan.nparts; i++)
                pc->held -= e->copies[i].len;
        } else {
            append_outbuf(pc->out, &e->local);
        }
        pc->head = e->next;
        if (!pc->head)
            pc->tail = NULL;
        pc->nentries--;
        entry_free(e);
    }
}

/* One part of e has its result: frees an orphan's last part, or writes what is now in order. */
void rc_finish_part(struct entry *e, bool from_backend)
{
    struct route_conn *pc = e->owner;
    e->parts_left--;
    if (!pc) {
        if (e->parts_left == 0)
            entry_free(e);
        return;
    }
    if (e->parts_left == 0 && pc->head == e && !e->sending) {
        rc_drain(pc);
        if (from_backend)
            pc->notify(pc->notify_arg);
    }
}


/* Records part i's outcome. A reply that completes the head command is merged straight from
 * the backend's buffer; any other is copied, since it is only valid during the callback. */
void rc_complete_part(struct entry *e, uint32_t i, enum backend_error err, const char *reply,
                          size_t len, bool from_backend)
{
    struct route_conn *pc = e->owner;
    if (err != BACKEND_OK && replica_failover_read(e, i, err, from_backend))
        return; /* the part completes when the key's next owner has answered */
    if (err != BACKEND_OK) {
        e->results[i] = (struct route_result){.failure = backend_error_text(err),
                                              .reported = err == BACKEND_TOO_LARGE};
    } else if (pc && pc->head == e && e->parts_left == 1) {
        e->results[i] = (struct route_result){.reply = reply, .len = len};
    } else if (!pc) {
        e->results[i] = (struct route_result){.failure = "client gone"};
    } else {
        struct route_buf *copy = &e->copies[i];
        copy->len = 0;
        if (len > copy->cap) {
            char *p = realloc(copy->data, len);
            if (!p) {
                e->results[i] = (struct route_result){.failure = "out of memory"};
                goto done;
            }
            copy->data = p;
            copy->cap = len;
        }
        memcpy(copy->data, reply, len);
        copy->len = len;
        pc->held += len;
        e->results[i] = (struct route_result){.reply = copy->data, .len = len};
    }
done:
    rc_finish_part(e, from_backend);
}

static void on_part_done(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct part_ref *ref = arg;
    rc_complete_part(ref->entry, ref->index, err, reply, len, true);
}

void rc_push(struct route_conn *pc, struct entry *e)
{
    if (pc->tail)
        pc->tail->next = e;
    else
        pc->head = e;
    pc->tail = e;
    pc->nentries++;
}

/* Where a local reply goes: straight out when nothing is pending, else behind the pending. */
static struct outbuf *local_out(struct route_conn *pc)
{
    if (!pc->head)
        return pc->out;
    if (pc->tail->is_plan) {
        struct entry *e = entry_get(pc->pool, pc, false);
        if (!e)
            return NULL;
        rc_push(pc, e);
    }
    return &pc->tail->local;
}

/* Runs whole commands in the local session. */
static void run_local(struct route_conn *pc, const char *bytes, size_t n)
{
    struct outbuf *dest = local_out(pc);
    if (!dest) {
        /* out of memory: memcached closes in that case; make sure the session stops too */
        (void)outbuf_append_str(pc->out, "SERVER_ERROR out of memory\r\n");
        dest = pc->out;
    }
    (void)session_process(pc->session, bytes, n, dest, SIZE_MAX);
}

static void answer(struct route_conn *pc, const char *text, size_t n)
{
    struct outbuf *dest = local_out(pc);
    (void)outbuf_append(dest ? dest : pc->out, text, n);
}

/* Runs part i through the local session and keeps its reply as the part's result. Returns
 * false when memory ran out (the result then says so). */
bool rc_buf_put(struct route_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown)
            return false;
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return true;
}

bool rc_outbuf_move(struct outbuf *src, struct route_buf *b)
{
    bool ok = true;
    while (src->pending > 0) {
        struct iovec iov[16];
        int n = outbuf_iov(src, iov, 16);
        size_t moved = 0;
        for (int k = 0; k < n; k++) {
            ok = ok && rc_buf_put(b, iov[k].iov_base, iov[k].iov_len);
            moved += iov[k].iov_len;
        }
        outbuf_consume(src, moved);
    }
    return ok;
}

bool rc_local_part(struct route_conn *pc, struct entry *e, uint32_t i)
{
    struct outbuf tmp;
    outbuf_init(&tmp);
    const struct route_buf *req = &e->plan.parts[i].request;
    (void)session_process(pc->session, req->data, req->len, &tmp, SIZE_MAX);
    struct route_buf *copy = &e->copies[i];
    pc->held -= copy->len;
    copy->len = 0;
    bool ok = rc_outbuf_move(&tmp, copy);
    outbuf_free(&tmp);
    if (!ok) {
        copy->len = 0;
        e->results[i] = (struct route_result){.failure = "out of memory"};
        return false;
    }
    pc->held += copy->len;
    e->results[i] = (struct route_result){.reply = copy->data, .len = copy->len};
    return true;
}

/* Runs a part this node owns through the local session; during warm-up its misses may be
 * looked up elsewhere first. */
static void run_self_part(struct route_conn *pc, struct entry *e, uint32_t i)
{
    if (rc_local_part(pc, e, i) && handoff_start_lookups(pc, e, i))
        return;
    e->parts_left--;
}

void rc_ignore_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    (void)arg;
    (void)err;
    (void)reply;
    (void)len;
}

/* The key a single-key command addresses, as it is placed and stored: a meta command's base64
 * key (b) decoded into buf. False when there is none (or it does not decode). */
bool rc_command_key(const struct proto_token *t, size_t nt, enum proto_cmd cmd,
                        unsigned char buf[PROTO_KEY_MAX_LENGTH + 4], const char **key,
                        size_t *len, bool *binary)
{
    if (nt < 3 || t[1].length > PROTO_KEY_MAX_LENGTH)
        return false;
    bool meta = cmd == PROTO_CMD_MS || cmd == PROTO_CMD_MD || cmd == PROTO_CMD_MA ||
                cmd == PROTO_CMD_MG;
    *binary = false;
    for (size_t k = cmd == PROTO_CMD_MS ? 3 : 2; meta && k + 1 < nt; k++)
        if (t[k].length == 1 && t[k].value[0] == 'b')
            *binary = true;
    *key = t[1].value;
    *len = t[1].length;
    if (*binary) {
        *len = proto_base64_decode(t[1].value, t[1].length, buf, PROTO_KEY_MAX_LENGTH + 4);
        if (*len == 0)
            return false;
        *key = (const char *)buf;
    }
    return true;
}

/* Queues the entry (its plan built) and sends its parts. */
static void forward(struct route_conn *pc, struct entry *e)
{
    size_t n = e->plan.nparts;
    if (!rc_reserve_parts(e, n)) {
        entry_free(e);
        answer(pc, "SERVER_ERROR out of memory\r\n", 28);
        return;
    }
    for (size_t i = 0; i < n; i++)
        e->copies[i].len = 0;
    e->parts_left = (uint32_t)n;
    e->sending = true;
    rc_push(pc, e);
    for (uint32_t i = 0; i < n; i++) {
        const struct route_part *part = &e->plan.parts[i];
        e->refs[i] = (struct part_ref){.entry = e, .index = i};
        if (route_worker_is_self(pc->router, part->backend)) {
            run_self_part(pc, e, i);
            continue;
        }
        enum backend_error err = route_worker_send(pc->router, part->backend, part->request.data,
                                             part->request.len, part->reply_kind, on_part_done,
                                             &e->refs[i]);
        if (err != BACKEND_OK)
            rc_complete_part(e, i, err, NULL, 0, false);
    }
    e->sending = false;
    if (e->parts_left == 0 && pc->head == e)
        rc_drain(pc);
}

static uint32_t no_member(void *ctx, const char *key, size_t len)
{
    (void)ctx;
    (void)key;
    (void)len;
    return 0;
}

static uint32_t fixed_owner(void *ctx, const char *key, size_t len)
{
    (void)key;
    (void)len;
    return *(const uint32_t *)ctx;
}

/* A command on a connection another node forwarded: it runs here whatever the ring says, never
 * forwarded again; only warm-up may look a local miss up at the key's previous owner (whose
 * node runs that lookup locally in turn). */
static size_t forwarded_command(struct route_conn *pc, const char *in, size_t total,
                                struct proto_token *t, size_t nt, enum proto_cmd cmd,
                                const char *data, size_t data_len)
{
    uint32_t self;
    if (handoff_warmable(cmd) && !handoff_is_lookup(t, nt, cmd) && handoff_lookups_on(pc->router) &&
        route_worker_self_member(pc->router, &self)) {
        struct entry *e = entry_get(pc->pool, pc, true);
        if (e && route_plan_rebuild(&e->plan, t, nt, data, data_len, fixed_owner, &self,
                                    route_worker_member_count(pc->router)) == 0 &&
            e->plan.action == ROUTE_FORWARD) {
            forward(pc, e);
            return total;
        }
        if (e)
            entry_free(e);
    }
    if ((route_cmd_single_key_write(cmd) || cmd == PROTO_CMD_FLUSH_ALL) &&
        !handoff_is_lookup(t, nt, cmd))
        handoff_note_write(pc, t, nt, cmd);
    run_local(pc, in, total);
    return total;
}

/* No key of any length fits a value larger than this in the local store, nor in a memcached
 * with the same -I: a larger block is refused from its line alone. */
static size_t block_max(const struct route_conn *pc)
{
    return store_max_value(session_env(pc->session)->store, 0, 0);
}

/* Memcached refuses a too-large set or ms and drops the key's old value: the local session did
 * both here; when another node owns the key, that node's old value must go too. The delete
 * leaves on the connection to the owner after this client's earlier commands there and before
 * its later ones. */
static void drop_at_owner(struct route_conn *pc, const struct proto_token *t, size_t nt,
                          enum proto_cmd cmd)
{
    if (pc->forwarded || route_worker_member_count(pc->router) == 0)
        return;
    if (cmd != PROTO_CMD_SET && cmd != PROTO_CMD_MS)
        return;
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4];
    const char *key;
    size_t key_len;
    bool binary;
    if (!rc_command_key(t, nt, cmd, decoded, &key, &key_len, &binary))
        return;
    uint32_t owner = route_worker_owner(pc->router, key, key_len);
    if (route_worker_is_self(pc->router, owner))
        return;
    char req[300];
    int n = snprintf(req, sizeof req, "md %s q%s\r\nmn\r\n", t[1].value, binary ? " b" : "");
    if (n > 0 && (size_t)n < sizeof req)
        (void)route_worker_send(pc->router, owner, req, (size_t)n, REPLY_UNTIL_MN, rc_ignore_reply, NULL);
}

/* A routed command whose data block is over the limit: the local session answers the line as
 * memcached does and swallows the block as it arrives. Returns the bytes taken (the line). */
static size_t refuse_block(struct route_conn *pc, const char *in, size_t used, size_t block,
                           const struct proto_token *t, size_t nt, enum proto_cmd cmd)
{
    struct thread_stats *ts = session_env(pc->session)->stats;
    uint64_t too_large = atomic_load_explicit(&ts->store_too_large, memory_order_relaxed);
    run_local(pc, in, used);
    if (atomic_load_explicit(&ts->store_too_large, memory_order_relaxed) != too_large)
        drop_at_owner(pc, t, nt, cmd);
    pc->skip_left = (uint64_t)block + 2;
    return used;
}

/* Passes up to len bytes of a refused block to the session (which swallows them). */
static size_t skip_block(struct route_conn *pc, const char *in, size_t len)
{
    size_t n = len < pc->skip_left ? len : (size_t)pc->skip_left;
    pc->skip_left -= n;
    if (session_mid_command(pc->session)) {
        struct outbuf none; /* swallowing answers nothing */
        outbuf_init(&none);
        size_t took = session_process(pc->session, in, n, &none, SIZE_MAX);
        outbuf_free(&none);
        if (took != n)
            abort(); /* the session swallows exactly the block its line announced */
    }
    return n;
}

/* Handles the command at the front of in. Returns the bytes it took (0: wait for more). */
static size_t one_command(struct route_conn *pc, const char *in, size_t len)
{
    size_t used = 0;
    long n = proto_find_line(in, len, &used);
    if (n < 0) {
        if (len > PROTO_LINE_MAX && !proto_long_line_may_continue(in, len)) {
            run_local(pc, in, len); /* the session closes the connection as memcached does */
            return len;
        }
        return 0;
    }
    if (!pc->seen_first_line) {
        pc->seen_first_line = true;
        size_t hello = sizeof ROUTE_PEER_HELLO - 1;
        if (!route_worker_proxy_only() && used == hello && memcmp(in, ROUTE_PEER_HELLO, hello) == 0) {
            /* another node forwarded this connection: never forward it again */
            pc->forwarded = true;
            run_local(pc, in, used);
            return used;
        }
    }
    char *line = line_copy_set(&pc->line, in, (size_t)n);
    if (!line) {
        run_local(pc, in, used);
        return used;
    }
    struct proto_token t[PROTO_MAX_TOKENS];
    size_t nt = proto_tokenize(line, t, PROTO_MAX_TOKENS);
    enum proto_cmd cmd = proto_command(t, nt);
    if (cmd == PROTO_CMD_STATS && nt == 3 && strcmp(t[1].value, "proxy") == 0) {
        struct outbuf *dest = local_out(pc);
        route_worker_stats(dest ? dest : pc->out);
        answer(pc, "END\r\n", 5);
        return used;
    }
    /* with -F, flush_all is refused here as memcached refuses it, never fanned out */
    if (!route_cmd_routed(cmd) || (cmd == PROTO_CMD_FLUSH_ALL && !settings.flush_enabled)) {
        run_local(pc, in, used);
        return used;
    }
    if (log_enabled(2)) /* the session logs what it runs; routed commands are logged here */
        log_msg(2, "<%d %.*s", pc->conn_id, (int)(n < 1024 ? n : 1024), in);
    size_t block = 0;
    const char *refusal = NULL;
    int has_block = route_data_block(t, nt, &block, &refusal);
    size_t total = used;
    if (has_block == 1) {
        if (block > SIZE_MAX - used - 2)
            return 0;
        if (block > block_max(pc))
            return refuse_block(pc, in, used, block, t, nt, cmd);
        total = used + block + 2;
        if (len < total) {
            pc->want_input = total; /* the block is not all here yet */
            return 0;
        }
        if (in[used + block] != '\r' || in[used + block + 1] != '\n') {
            /* the local session answers a bad chunk exactly as memcached does */
            run_local(pc, in, total);
            return total;
        }
    } else if (has_block == 0) {
        run_local(pc, in, used); /* refused from the line alone; the session says how */
        return used;
    }
    if (pc->forwarded)
        return forwarded_command(pc, in, total, t, nt, cmd, has_block == 1 ? in + used : NULL,
                                 block);
    uint32_t members = route_worker_member_count(pc->router);
    if (members == 0 && !route_worker_proxy_only()) {
        run_local(pc, in, total); /* a cluster node before it knows any member */
        return total;
    }
    struct entry *e = entry_get(pc->pool, pc, true);
    if (!e) {
        answer(pc, "SERVER_ERROR out of memory\r\n", 28);
        return total;
    }
    struct route_plan *plan = &e->plan;
    const char *data = has_block == 1 ? in + used : NULL;
    int rc = members ? route_plan_rebuild(plan, t, nt, data, block, route_worker_owner, pc->router,
                                          members)
                     /* a proxy with no backend: one that fails, so the failure policy answers */
                     : route_plan_rebuild(plan, t, nt, data, block, no_member, NULL, 1);
    if (rc != 0) {
        entry_free(e);
        answer(pc, "SERVER_ERROR out of memory\r\n", 28);
        return total;
    }
    plan->fail_reads = settings.backend_read_failure_error;
    switch (plan->action) {
    case ROUTE_LOCAL:
        entry_free(e);
        run_local(pc, in, total);
        break;
    case ROUTE_ANSWER:
        answer(pc, plan->answer, strlen(plan->answer));
        entry_free(e);
        break;
    case ROUTE_FORWARD:
        if (replica_write(pc, e, t, nt))
            break;
        if (plan->nparts == 1 && route_worker_is_self(pc->router, plan->parts[0].backend) &&
            !(handoff_warmable(plan->cmd) && handoff_lookups_on(pc->router))) {
            /* this node owns the key(s) */
            if (plan->write && plan->merge == ROUTE_MERGE_ONE)
                handoff_note_write(pc, t, nt, plan->cmd);
            entry_free(e);
            run_local(pc, in, total);
        } else {
            if (plan->cmd == PROTO_CMD_FLUSH_ALL)
                handoff_note_write(pc, t, nt, plan->cmd); /* its self part runs here */
            forward(pc, e);
        }
        break;
    }
    return total;
}

size_t route_conn_process(struct route_conn *pc, const char *in, size_t len,
                            size_t out_limit)
{
    if (!pc->binary && !pc->ascii_only && !pc->seen_first_line && len > 0 &&
        route_binary_wanted((unsigned char)in[0])) {
        pc->seen_first_line = true;
        pc->binary = route_binary_create(pc->router, pc->pool, pc->session, pc->out, pc->notify,
                                         pc->notify_arg);
        if (!pc->binary) {
            run_local(pc, "quit\r\n", 6); /* out of memory: close, as memcached would */
            return len;
        }
    }
    if (pc->binary)
        return route_binary_process(pc->binary, in, len, out_limit);
    size_t done = 0;
    pc->want_input = 0;
    while (done < len && session_state(pc->session) == SESSION_OPEN) {
        if (pc->skip_left > 0) {
            done += skip_block(pc, in + done, len - done);
            continue;
        }
        if (pc->forwarded && (session_mid_command(pc->session) ||
                              (!pc->head && !handoff_lookups_on(pc->router))))
            /* the common case of a forwarded connection: the session alone (which may have
             * stopped inside a data block: only it knows where the block ends) */
            return done + session_process(pc->session, in + done, len - done, pc->out, out_limit);
        if (pc->out->pending > out_limit || route_conn_blocked(pc))
            break;
        size_t n = one_command(pc, in + done, len - done);
        if (n == 0)
            break;
        done += n;
    }
    line_copy_trim(&pc->line);
    return done;
}
