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
/* Marks the deletes warm-up sends to a previous owner, so that that node, in warm-up itself,
 * does not pass them on (which would make two joining nodes delete back and forth forever). */
#define WARMUP_OPAQUE "O.shoal-warmup"

/* Writes of this node's keys during its hand-off window, counted per slot of the key's hash (and
 * flush_alls apart), shared by every worker: a warm-up copy-in whose count moved while its
 * lookup was in flight may be copying a value that a delete has meanwhile removed, so it is
 * undone (warm_finish). A write counts before it runs, the copy-in checks after it ran: one of
 * the two always sees the other. More slots only mean fewer needless undos. */
#define WRITE_SLOTS 4096
static _Atomic uint32_t writes_by_slot[WRITE_SLOTS];
static _Atomic uint32_t flushes;

static _Atomic uint32_t *write_slot(const char *key, size_t len)
{
    return &writes_by_slot[store_hash(key, len) & (WRITE_SLOTS - 1)];
}

/* What a copy-in compares: the key's slot and the flush count, as one number. */
static uint64_t write_count(const char *key, size_t len)
{
    return (uint64_t)atomic_load(write_slot(key, len)) << 32 | atomic_load(&flushes);
}

/* Whether a local miss of a key this node owns is looked up elsewhere: at its previous owner
 * during warm-up, and at its other owners with --replicas (which refills a restarted or fenced
 * primary: read repair). */
static bool lookups_on(const struct route_worker *r)
{
    return settings.replicas > 1 || route_worker_warmup_active(r);
}

struct entry;

/* A backend completion's argument: which part of which command. */
struct part_ref {
    struct entry *entry;
    uint32_t index;
};

/* One pending command: a routed plan waiting for parts, or local replies waiting their turn.
 * Recycled through the worker's pool with the memory of its plan and part arrays. */
struct entry {
    struct entry *next;
    struct route_conn_pool *pool;
    struct route_conn *owner; /* NULL once the client is gone: the last part frees it */
    bool is_plan;
    bool sending; /* forward() is still sending its parts: it drains itself afterwards */
    uint32_t parts_left;
    struct outbuf local; /* !is_plan: the replies */
    struct route_plan plan;
    /* per part, allocated together: the outcome, its bytes when kept, the callback argument */
    struct route_result *results;
    struct route_buf *copies;
    struct part_ref *refs;
    size_t block_cap; /* parts the block above has room for */
    struct repl *repl; /* a replicated write (--replicas): owned; NULL otherwise */
};

struct route_conn_pool {
    struct entry *free;
    size_t nfree;
};

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

struct route_conn {
    struct route_worker *router;
    struct route_conn_pool *pool;
    struct session *session;
    struct outbuf *out;
    route_conn_notify_fn notify;
    void *notify_arg;
    struct entry *head, *tail;
    size_t nentries;
    size_t held; /* reply bytes copied into entries */
    bool seen_first_line;
    bool forwarded;
    int conn_id; /* for -vv lines, as the session's */
    struct line_copy line; /* the current line, NUL-terminated, for the tokenizer */
    /* The command at the front of the input is routed with a data block not all here yet: the
     * bytes (line and block) it needs in one buffer; 0 when none. */
    size_t want_input;
    /* Bytes of a refused (over the item size limit) data block still to pass to the session,
     * which swallows them as memcached does: such a block is never buffered whole. */
    uint64_t skip_left;
    /* A binary protocol client: its requests go through route_binary.c instead. */
    struct route_binary *binary;
    bool ascii_only; /* route_binary's inner connection: never binary, whatever -B says */
};

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

/* Back to the pool (or freed when the pool is full). */
static void repl_free(struct repl *r);

static void entry_free(struct entry *e)
{
    struct route_conn_pool *pool = e->pool;
    outbuf_free(&e->local);
    repl_free(e->repl);
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
static bool entry_reserve_parts(struct entry *e, size_t n)
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
static void drain(struct route_conn *pc)
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
static void finish_part(struct entry *e, bool from_backend)
{
    struct route_conn *pc = e->owner;
    e->parts_left--;
    if (!pc) {
        if (e->parts_left == 0)
            entry_free(e);
        return;
    }
    if (e->parts_left == 0 && pc->head == e && !e->sending) {
        drain(pc);
        if (from_backend)
            pc->notify(pc->notify_arg);
    }
}

static bool failover_read(struct entry *e, uint32_t i, enum backend_error err, bool from_backend);

/* Records part i's outcome. A reply that completes the head command is merged straight from
 * the backend's buffer; any other is copied, since it is only valid during the callback. */
static void complete_part(struct entry *e, uint32_t i, enum backend_error err, const char *reply,
                          size_t len, bool from_backend)
{
    struct route_conn *pc = e->owner;
    if (err != BACKEND_OK && failover_read(e, i, err, from_backend))
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
    finish_part(e, from_backend);
}

static void on_part_done(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct part_ref *ref = arg;
    complete_part(ref->entry, ref->index, err, reply, len, true);
}

static void push(struct route_conn *pc, struct entry *e)
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
        push(pc, e);
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
static bool local_part(struct route_conn *pc, struct entry *e, uint32_t i)
{
    struct outbuf tmp;
    outbuf_init(&tmp);
    const struct route_buf *req = &e->plan.parts[i].request;
    (void)session_process(pc->session, req->data, req->len, &tmp, SIZE_MAX);
    struct route_buf *copy = &e->copies[i];
    pc->held -= copy->len;
    copy->len = 0;
    size_t need = tmp.pending;
    if (need > copy->cap) {
        char *grown = realloc(copy->data, need);
        if (!grown) {
            outbuf_free(&tmp);
            e->results[i] = (struct route_result){.failure = "out of memory"};
            return false;
        }
        copy->data = grown;
        copy->cap = need;
    }
    size_t at = 0;
    while (tmp.pending > 0) {
        struct iovec iov[16];
        int n = outbuf_iov(&tmp, iov, 16);
        size_t moved = 0;
        for (int k = 0; k < n; k++) {
            memcpy(copy->data + at, iov[k].iov_base, iov[k].iov_len);
            at += iov[k].iov_len;
            moved += iov[k].iov_len;
        }
        outbuf_consume(&tmp, moved);
    }
    outbuf_free(&tmp);
    copy->len = need;
    pc->held += need;
    e->results[i] = (struct route_result){.reply = copy->data, .len = need};
    return true;
}

/* ---- warm-up: a local miss looked up at the key's previous owner (route_worker_warmup_source) ---- */

struct warm;

struct warm_key {
    struct warm *warm;
    const char *key; /* into the entry's plan, which lives while the part is pending */
    size_t len;
    bool hit;
    uint32_t flags;
    long long ttl; /* seconds left, -1: none */
    char *data;
    size_t data_len;
    uint64_t writes; /* write_count when the lookup left */
    bool has_cas;
    uint64_t cas;    /* the copy keeps its CAS, so that a client's gets token stays good */
};

/* The lookups for one part's missed keys; the part completes when the last answers. */
struct warm {
    struct entry *entry;
    uint32_t part;
    uint32_t pending;
    size_t nkeys;
    struct warm_key keys[];
};

/* "VA <size> f<flags> t<ttl>\r\n<data>\r\n" (mg k v f t); anything else is a miss. */
static void parse_warm_reply(struct warm_key *wk, const char *reply, size_t len)
{
    if (len < 5 || memcmp(reply, "VA ", 3) != 0)
        return;
    const char *end = memchr(reply, '\n', len);
    if (!end)
        return;
    char line[256];
    size_t n = (size_t)(end - reply);
    if (n >= sizeof line)
        return;
    memcpy(line, reply, n);
    line[n] = '\0';
    char *save = NULL;
    char *tok = strtok_r(line + 3, " \r", &save);
    if (!tok)
        return;
    unsigned long long size = strtoull(tok, NULL, 10);
    wk->flags = 0;
    wk->ttl = -1;
    while ((tok = strtok_r(NULL, " \r", &save)) != NULL) {
        if (tok[0] == 'f')
            wk->flags = (uint32_t)strtoul(tok + 1, NULL, 10);
        else if (tok[0] == 't')
            wk->ttl = strtoll(tok + 1, NULL, 10);
        else if (tok[0] == 'c' && tok[1] >= '0' && tok[1] <= '9') {
            wk->cas = strtoull(tok + 1, NULL, 10);
            wk->has_cas = true;
        }
    }
    size_t header = n + 1;
    if (size > len - header || len - header - size < 2)
        return;
    wk->data = malloc(size ? size : 1);
    if (!wk->data)
        return;
    memcpy(wk->data, reply + header, size);
    wk->data_len = size;
    wk->hit = true;
}

/* Copies the found values in (add mode: a value set here meanwhile wins), runs the part again
 * so that its reply has them, and completes the part. */
static void warm_finish(struct warm *w, bool from_backend)
{
    struct entry *e = w->entry;
    struct route_conn *pc = e->owner;
    bool copied = false;
    for (size_t k = 0; k < w->nkeys; k++) {
        struct warm_key *wk = &w->keys[k];
        if (wk->hit && pc && session_state(pc->session) == SESSION_OPEN &&
            write_count(wk->key, wk->len) == wk->writes) {
            long long ttl = wk->ttl < 0 ? 0 : wk->ttl == 0 ? 1 : wk->ttl;
            char head[400];
            char cas[24] = "";
            if (wk->has_cas)
                snprintf(cas, sizeof cas, " E%llu", (unsigned long long)wk->cas);
            int hn = snprintf(head, sizeof head, "ms %.*s %zu F%u T%lld ME%s q\r\n", (int)wk->len,
                              wk->key, wk->data_len, wk->flags, ttl, cas);
            char *cmd = hn > 0 ? malloc((size_t)hn + wk->data_len + 2) : NULL;
            if (cmd) {
                memcpy(cmd, head, (size_t)hn);
                memcpy(cmd + hn, wk->data, wk->data_len);
                memcpy(cmd + hn + wk->data_len, "\r\n", 2);
                struct outbuf discard;
                outbuf_init(&discard);
                (void)session_process(pc->session, cmd, (size_t)hn + wk->data_len + 2, &discard,
                                      SIZE_MAX);
                if (write_count(wk->key, wk->len) != wk->writes) {
                    /* a write ran meanwhile: the copy may be older than it, drop it */
                    int dn = snprintf(head, sizeof head, "md %.*s q\r\n", (int)wk->len, wk->key);
                    if (dn > 0 && (size_t)dn < sizeof head)
                        (void)session_process(pc->session, head, (size_t)dn, &discard, SIZE_MAX);
                }
                outbuf_free(&discard);
                free(cmd);
                copied = true;
                if (settings.replicas > 1)
                    route_worker_count(ROUTE_COUNT_READ_REPAIRS);
            }
        }
        free(wk->data);
    }
    if (copied)
        (void)local_part(pc, e, w->part);
    free(w);
    finish_part(e, from_backend);
}

static void on_warm_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct warm_key *wk = arg;
    if (err == BACKEND_OK)
        parse_warm_reply(wk, reply, len);
    if (--wk->warm->pending == 0)
        warm_finish(wk->warm, true);
}

/* Retrievals whose local misses warm-up may look up at the key's previous owner. */
static bool is_warmable(enum proto_cmd cmd)
{
    return cmd == PROTO_CMD_GET || cmd == PROTO_CMD_GETS || cmd == PROTO_CMD_BGET ||
           cmd == PROTO_CMD_GAT || cmd == PROTO_CMD_GATS || cmd == PROTO_CMD_MG;
}

static bool is_token(const char *tok, size_t len, const char *text)
{
    return len == strlen(text) && memcmp(tok, text, len) == 0;
}

/* Part i is an mg whose local reply is a miss that warm-up may fill: it asks for the value
 * (v), names its key in plain text (no b), and is not itself a warm-up lookup. Sets the key
 * (pointing into the part's request). A quiet mg's miss is its empty reply ("MN" alone): if
 * nothing is found, it stays silent. */
static bool mg_missed(const struct route_plan *plan, const struct route_result *r, uint32_t i,
                      const char **key, size_t *key_len)
{
    const struct route_buf *req = &plan->parts[i].request;
    const char *eol = memchr(req->data, '\r', req->len);
    if (!eol || req->len < 3 || memcmp(req->data, "mg ", 3) != 0)
        return false;
    const char *p = req->data + 3;
    while (p < eol && *p == ' ')
        p++;
    *key = p;
    while (p < eol && *p != ' ')
        p++;
    *key_len = (size_t)(p - *key);
    bool value = false;
    while (p < eol) {
        while (p < eol && *p == ' ')
            p++;
        const char *tok = p;
        while (p < eol && *p != ' ')
            p++;
        size_t n = (size_t)(p - tok);
        if (is_token(tok, n, "b") || is_token(tok, n, WARMUP_OPAQUE))
            return false;
        if (is_token(tok, n, "v"))
            value = true;
    }
    if (!value || *key_len == 0)
        return false;
    if (plan->quiet)
        return r->len == 4 && memcmp(r->reply, "MN\r\n", 4) == 0;
    return r->len >= 4 && memcmp(r->reply, "EN", 2) == 0 &&
           (r->reply[2] == ' ' || r->reply[2] == '\r');
}

/* Whether member is one of the key's owners (its first --replicas members on the ring). */
static bool is_owner(struct route_worker *r, const char *key, size_t len, uint32_t member)
{
    uint32_t owners[ROUTE_REPLICAS_MAX];
    uint32_t n = route_worker_owners(r, key, len, owners, ROUTE_REPLICAS_MAX);
    for (uint32_t i = 0; i < n; i++)
        if (owners[i] == member)
            return true;
    return false;
}

/* With --replicas: the key's first owner other than this node (which holds a copy). */
static bool other_owner(struct route_worker *r, const char *key, size_t len, uint32_t *member)
{
    if (settings.replicas < 2)
        return false;
    uint32_t owners[ROUTE_REPLICAS_MAX];
    uint32_t n = route_worker_owners(r, key, len, owners, ROUTE_REPLICAS_MAX);
    for (uint32_t i = 0; i < n; i++)
        if (!route_worker_is_self(r, owners[i])) {
            *member = owners[i];
            return true;
        }
    return false;
}

/* Asks the key's previous owner for it, if this node owns the key now (a forwarded connection
 * may ask for others'). The lookup carries WARMUP_OPAQUE, so that a previous owner in warm-up
 * itself answers it from its own store and never passes it on. */
static void warm_lookup(struct route_conn *pc, struct warm *w, const char *key, size_t len)
{
    uint32_t source;
    if (!route_worker_is_self(pc->router, route_worker_owner(pc->router, key, len)))
        return;
    if (!other_owner(pc->router, key, len, &source) &&
        !route_worker_warmup_source(pc->router, key, len, &source))
        return;
    char req[320];
    int n = snprintf(req, sizeof req, "mg %.*s v f t c " WARMUP_OPAQUE "\r\n", (int)len, key);
    if (n <= 0 || (size_t)n >= sizeof req)
        return;
    struct warm_key *wk = &w->keys[w->nkeys++];
    *wk = (struct warm_key){.warm = w, .key = key, .len = len, .writes = write_count(key, len)};
    if (route_worker_send(pc->router, source, req, (size_t)n, REPLY_META, on_warm_reply, wk) ==
        BACKEND_OK)
        w->pending++;
}

/* Lookups for up to nkeys keys of part i, held (pending 1) until warm_sent. */
static struct warm *warm_new(struct entry *e, uint32_t i, size_t nkeys)
{
    struct warm *w = calloc(1, sizeof *w + nkeys * sizeof(struct warm_key));
    if (!w)
        return NULL;
    w->entry = e;
    w->part = i;
    w->pending = 1; /* held while sending, so that no completion finishes it meanwhile */
    return w;
}

/* Releases the hold: true when lookups are in flight, else frees w. */
static bool warm_sent(struct warm *w)
{
    if (--w->pending > 0)
        return true;
    for (size_t k = 0; k < w->nkeys; k++)
        free(w->keys[k].data);
    free(w);
    return false;
}

/* After part i ran locally: looks its missed keys up at their previous owners. Returns true
 * when lookups are in flight (the part completes in warm_finish). A gat/gats part runs again
 * after the copy, so that the found values are touched as the command asks. */
static bool start_warmup(struct route_conn *pc, struct entry *e, uint32_t i)
{
    const struct route_plan *plan = &e->plan;
    if (!is_warmable(plan->cmd) || !lookups_on(pc->router) || !e->results[i].reply)
        return false;
    const struct route_result *r = &e->results[i];
    if (plan->cmd == PROTO_CMD_MG) {
        const char *key;
        size_t len;
        if (!mg_missed(plan, r, i, &key, &len))
            return false;
        struct warm *w = warm_new(e, i, 1);
        if (!w)
            return false;
        warm_lookup(pc, w, key, len);
        return warm_sent(w);
    }
    size_t nmissed = 0;
    size_t cursor = 0;
    for (int pass = 0; pass < 2; pass++) {
        struct warm *w = NULL;
        if (pass == 1) {
            if (nmissed == 0 || !(w = warm_new(e, i, nmissed)))
                return false;
            cursor = 0;
        }
        for (size_t k = 0; k < plan->nkeys; k++) {
            const struct route_key *key = &plan->keys[k];
            if (key->part != i)
                continue;
            const char *kb = plan->key_bytes.data + key->offset;
            size_t off = cursor;
            struct reply_value v;
            if (reply_next_value(r->reply, r->len, &off, &v) && v.key_len == key->len &&
                memcmp(v.key, kb, key->len) == 0) {
                cursor = off;
                continue;
            }
            if (pass == 0)
                nmissed++;
            else
                warm_lookup(pc, w, kb, key->len);
        }
        if (pass == 1)
            return warm_sent(w);
    }
    return false;
}

/* Runs a part this node owns through the local session; during warm-up its misses may be
 * looked up elsewhere first. */
static void run_self_part(struct route_conn *pc, struct entry *e, uint32_t i)
{
    if (local_part(pc, e, i) && start_warmup(pc, e, i))
        return;
    e->parts_left--;
}

static void ignore_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    (void)arg;
    (void)err;
    (void)reply;
    (void)len;
}

/* The key a single-key command addresses, as it is placed and stored: a meta command's base64
 * key (b) decoded into buf. False when there is none (or it does not decode). */
static bool command_key(const struct proto_token *t, size_t nt, enum proto_cmd cmd,
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

/* Before a write to a key this node owns runs, during its hand-off window (warm-up and the
 * grace after it): counts the write, so that a warm-up copy-in racing it is undone, and deletes
 * the key's copy at its previous owner, so that an outdated value cannot come back from there
 * (by a later warm-up lookup, or after this node dies again). */
static void note_owned_write(struct route_conn *pc, const struct proto_token *t, size_t nt,
                             enum proto_cmd cmd)
{
    bool handoff = route_worker_handoff_active(pc->router);
    if (!handoff && settings.replicas < 2)
        return;
    if (cmd == PROTO_CMD_FLUSH_ALL) {
        atomic_fetch_add(&flushes, 1);
        return;
    }
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4];
    const char *key;
    size_t len;
    bool binary;
    if (!command_key(t, nt, cmd, decoded, &key, &len, &binary))
        return;
    atomic_fetch_add(write_slot(key, len), 1);
    uint32_t source;
    if (!handoff || !route_worker_warmup_source(pc->router, key, len, &source) ||
        is_owner(pc->router, key, len, source))
        return; /* (an owner's copy is a replica, which the write updates itself) */
    char req[300];
    int n = snprintf(req, sizeof req, "md %s q%s " WARMUP_OPAQUE "\r\nmn\r\n", t[1].value,
                     binary ? " b" : "");
    if (n > 0 && (size_t)n < sizeof req)
        (void)route_worker_send(pc->router, source, req, (size_t)n, REPLY_UNTIL_MN, ignore_reply,
                                NULL);
}

/* ---- replication (--replicas R > 1): a single-key write at its primary, copied to the others ----
 *
 * The primary is the key's first owner that answers; its request carries a piggybacked
 * `mg <key> v f t c` after the client's command, so the one round trip returns both the client's
 * reply and the item as the write left it. That item is then copied to every other owner with
 * `ms ... E<cas>` marked SESSION_COPY_OPAQUE (the newer copy by CAS wins there), or deleted there
 * when the write left none. A delete goes the other way round: the other owners first, then the
 * primary, so that a primary that misses the key never finds it at a replica that is about to
 * lose it (the primary's own lookups of its misses, warm_lookup, would copy it back). The client's
 * reply leaves once every copy has been answered; a copy that fails is counted and dropped. */

struct repl {
    struct route_worker *router; /* outlives every entry */
    uint32_t owners[ROUTE_REPLICAS_MAX];
    uint32_t nowners;
    uint32_t primary;  /* owners[primary] acts as the primary */
    uint32_t pending;  /* copies not yet answered */
    bool deleting;     /* copies first, then the primary */
    bool piggyback;    /* the primary's request ends with the item's mg */
    bool quiet;        /* the plan's reply ends in MN */
    bool binary;       /* the key token is base64 (meta b) */
    char key[PROTO_KEY_MAX_LENGTH * 2];  /* as the client sent it */
    size_t key_len;
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4]; /* as it is placed */
    size_t decoded_len;
    struct route_buf copy; /* the request each other owner gets */
};

static void repl_free(struct repl *r)
{
    if (!r)
        return;
    route_buf_free(&r->copy);
    free(r);
}

static bool buf_put(struct route_buf *b, const void *p, size_t n)
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

/* Moves everything pending in src to the end of b. */
static bool outbuf_copy_all(struct outbuf *src, struct route_buf *b)
{
    bool ok = true;
    while (src->pending > 0) {
        struct iovec iov[16];
        int n = outbuf_iov(src, iov, 16);
        size_t moved = 0;
        for (int k = 0; k < n; k++) {
            ok = ok && buf_put(b, iov[k].iov_base, iov[k].iov_len);
            moved += iov[k].iov_len;
        }
        outbuf_consume(src, moved);
    }
    return ok;
}

static bool buf_fmt(struct route_buf *b, const char *fmt, ...)
{
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof tmp && buf_put(b, tmp, (size_t)n);
}

static void start_primary(struct entry *e, bool from_backend);

/* A copy at another owner answered (or failed). The last one completes the entry's part. */
static void copy_done(struct entry *e, bool from_backend)
{
    struct repl *r = e->repl;
    if (--r->pending > 0)
        return;
    if (r->deleting)
        start_primary(e, from_backend);
    else
        finish_part(e, from_backend);
}

static void on_copy_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct entry *e = arg;
    /* q hides success; NS says the owner holds a newer copy: both are fine */
    const char *eol = err == BACKEND_OK ? memchr(reply, '\r', len) : NULL;
    if (!eol || reply_line_is_error(reply, (size_t)(eol - reply)))
        route_worker_count(ROUTE_COUNT_REPLICA_WRITE_ERRORS);
    copy_done(e, true);
}

/* Sends r->copy to every owner but the acting primary; this node's own copy runs in the
 * client's session (skipped once the client is gone: its session is too). */
static void send_copies(struct entry *e)
{
    struct repl *r = e->repl;
    r->pending = 1; /* held while sending */
    for (uint32_t i = 0; i < r->nowners; i++) {
        if (i == r->primary)
            continue;
        route_worker_count(ROUTE_COUNT_REPLICA_WRITES);
        if (route_worker_is_self(r->router, r->owners[i])) {
            struct route_conn *pc = e->owner;
            if (pc && session_state(pc->session) == SESSION_OPEN) {
                struct outbuf discard;
                outbuf_init(&discard);
                (void)session_process(pc->session, r->copy.data, r->copy.len, &discard, SIZE_MAX);
                outbuf_free(&discard);
            }
            continue;
        }
        r->pending++;
        if (route_worker_send(r->router, r->owners[i], r->copy.data, r->copy.len, REPLY_UNTIL_MN,
                              on_copy_reply, e) != BACKEND_OK) {
            route_worker_count(ROUTE_COUNT_REPLICA_WRITE_ERRORS);
            r->pending--;
        }
    }
}

/* The delete every other owner gets (a delete, or a write that left no item). */
static bool build_delete_copy(struct repl *r)
{
    r->copy.len = 0;
    return buf_fmt(&r->copy, "md %.*s q " SESSION_COPY_OPAQUE "%s\r\nmn\r\n", (int)r->key_len,
                   r->key, r->binary ? " b" : "");
}

/* From the piggybacked mg's reply ("VA <n> f.. t.. c..\r\n<data>\r\n", or EN when the write left
 * no item): the copy for the other owners. False when it cannot be read. */
static bool build_item_copy(struct repl *r, const char *reply, size_t len)
{
    if (len >= 2 && memcmp(reply, "EN", 2) == 0)
        return build_delete_copy(r);
    const char *eol = memchr(reply, '\n', len);
    if (len < 5 || memcmp(reply, "VA ", 3) != 0 || !eol)
        return false;
    char line[256];
    size_t n = (size_t)(eol - reply);
    if (n >= sizeof line)
        return false;
    memcpy(line, reply, n);
    line[n] = '\0';
    char *save = NULL;
    char *tok = strtok_r(line + 3, " \r", &save);
    if (!tok)
        return false;
    unsigned long long size = strtoull(tok, NULL, 10);
    unsigned long flags = 0;
    long long ttl = -1;
    unsigned long long cas = 0;
    bool has_cas = false;
    while ((tok = strtok_r(NULL, " \r", &save)) != NULL) {
        if (tok[0] == 'f')
            flags = strtoul(tok + 1, NULL, 10);
        else if (tok[0] == 't')
            ttl = strtoll(tok + 1, NULL, 10);
        else if (tok[0] == 'c' && tok[1] >= '0' && tok[1] <= '9') {
            cas = strtoull(tok + 1, NULL, 10);
            has_cas = true;
        }
    }
    size_t header = n + 1;
    if (!has_cas || size > len - header || len - header - size < 2)
        return false;
    /* t-1: no expiry (T0); t0: expiring within the second (T1, not "never") */
    long long exptime = ttl < 0 ? 0 : ttl == 0 ? 1 : ttl;
    r->copy.len = 0;
    return buf_fmt(&r->copy, "ms %.*s %llu F%lu T%lld E%llu " SESSION_COPY_OPAQUE " q%s\r\n",
                   (int)r->key_len, r->key, size, flags, exptime, cas, r->binary ? " b" : "") &&
           buf_put(&r->copy, reply + header, size) && buf_put(&r->copy, "\r\nmn\r\n", 6);
}

/* Where the piggybacked mg's reply starts in the primary's reply (the last reply before the
 * final MN); len when it cannot be found. */
static size_t item_reply_at(const char *reply, size_t len)
{
    size_t at = 0, last = len;
    while (at < len) {
        const char *eol = memchr(reply + at, '\n', len - at);
        if (!eol)
            return len;
        size_t line_end = (size_t)(eol - reply) + 1;
        if (line_end - at == 4 && memcmp(reply + at, "MN\r\n", 4) == 0)
            return last;
        last = at;
        if (line_end - at > 3 && memcmp(reply + at, "VA ", 3) == 0) {
            unsigned long long size = strtoull(reply + at + 3, NULL, 10);
            if (size > len - line_end)
                return len;
            line_end += (size_t)size + 2;
        }
        at = line_end;
    }
    return len;
}

/* The primary answered: part 0's result becomes the client's reply alone, and the item goes to
 * the other owners. `reply` may point into part 0's own copy buffer. */
static void primary_answered(struct entry *e, const char *reply, size_t len, bool from_backend)
{
    struct repl *r = e->repl;
    struct route_conn *pc = e->owner;
    size_t split = len;
    bool copy_ok = false;
    if (r->piggyback) {
        split = item_reply_at(reply, len);
        copy_ok = split < len && build_item_copy(r, reply + split, len - split);
        if (!copy_ok)
            split = len;
    }
    /* the client's part: the primary's reply before the mg (the MN back on for a quiet plan) */
    struct route_buf *copy = &e->copies[0];
    size_t keep = split + (r->piggyback && r->quiet ? 4 : 0);
    if (pc) {
        if (keep > copy->cap) {
            char *grown = realloc(copy->data, keep);
            if (!grown) {
                e->results[0] = (struct route_result){.failure = "out of memory"};
                finish_part(e, from_backend);
                return;
            }
            copy->data = grown;
            copy->cap = keep;
        }
        memmove(copy->data, reply, split);
        if (keep > split)
            memcpy(copy->data + split, "MN\r\n", 4);
        pc->held -= copy->len;
        pc->held += keep;
        copy->len = keep;
        e->results[0] = (struct route_result){.reply = copy->data, .len = keep};
    } else {
        e->results[0] = (struct route_result){.failure = "client gone"};
    }
    if (!r->piggyback || !copy_ok) {
        finish_part(e, from_backend);
        return;
    }
    send_copies(e);
    copy_done(e, from_backend);
}

static void on_primary_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct entry *e = arg;
    struct repl *r = e->repl;
    if (err != BACKEND_OK && err != BACKEND_TOO_LARGE && r->primary + 1 < r->nowners) {
        /* refused, down or silent: the next owner acts as the primary */
        r->primary++;
        route_worker_count(ROUTE_COUNT_FAILOVER_WRITES);
        start_primary(e, true);
        return;
    }
    if (err != BACKEND_OK) {
        complete_part(e, 0, err, NULL, 0, true);
        return;
    }
    primary_answered(e, reply, len, true);
}

/* Sends part 0 to owners[primary] (or runs it here). */
static void start_primary(struct entry *e, bool from_backend)
{
    struct repl *r = e->repl;
    struct route_conn *pc = e->owner;
    const struct route_part *part = &e->plan.parts[0];
    uint32_t member = r->owners[r->primary];
    if (route_worker_is_self(r->router, member)) {
        if (!pc) {
            complete_part(e, 0, BACKEND_LOST, NULL, 0, from_backend);
            return;
        }
        atomic_fetch_add(write_slot((const char *)r->decoded, r->decoded_len), 1);
        if (!local_part(pc, e, 0)) {
            finish_part(e, from_backend);
            return;
        }
        primary_answered(e, e->copies[0].data, e->copies[0].len, from_backend);
        return;
    }
    enum backend_error err =
        route_worker_send(r->router, member, part->request.data, part->request.len,
                          part->reply_kind, on_primary_reply, e);
    if (err == BACKEND_OK)
        return;
    if (r->primary + 1 < r->nowners) {
        r->primary++;
        route_worker_count(ROUTE_COUNT_FAILOVER_WRITES);
        start_primary(e, from_backend);
        return;
    }
    complete_part(e, 0, err, NULL, 0, from_backend);
}

/* Whether a delete-like write: the other owners lose the key first. */
static bool is_delete(const struct proto_token *t, size_t nt, enum proto_cmd cmd)
{
    if (cmd == PROTO_CMD_DELETE)
        return true;
    if (cmd != PROTO_CMD_MD)
        return false;
    for (size_t k = 2; k + 1 < nt; k++)
        if (t[k].length == 1 && (t[k].value[0] == 'I' || t[k].value[0] == 'x'))
            return false; /* invalidation keeps the item: copied as any write */
    return true;
}

/* Takes a single-key write whose key has other owners (--replicas): queues the entry and starts
 * it. False when it is not such a write (or memory ran out): the caller goes on as without
 * replication. */
static bool replicate_write(struct route_conn *pc, struct entry *e, const struct proto_token *t,
                            size_t nt)
{
    struct route_plan *plan = &e->plan;
    if (settings.replicas < 2 || pc->forwarded || !plan->write || plan->merge != ROUTE_MERGE_ONE ||
        plan->nparts != 1 || !route_cmd_single_key_write(plan->cmd))
        return false;
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4];
    const char *key;
    size_t key_len;
    bool binary;
    if (!command_key(t, nt, plan->cmd, decoded, &key, &key_len, &binary) ||
        t[1].length > sizeof ((struct repl *)0)->key)
        return false;
    struct repl *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->router = pc->router;
    r->nowners = route_worker_owners(pc->router, key, key_len, r->owners, ROUTE_REPLICAS_MAX);
    if (r->nowners < 2 || !entry_reserve_parts(e, 1)) {
        repl_free(r);
        return false;
    }
    memcpy(r->key, t[1].value, t[1].length);
    r->key_len = t[1].length;
    memcpy(r->decoded, key, key_len);
    r->decoded_len = key_len;
    r->binary = binary;
    r->quiet = plan->quiet;
    r->deleting = is_delete(t, nt, plan->cmd);
    if (!r->deleting) {
        /* the item as the write leaves it, in the same round trip */
        struct route_buf *req = &plan->parts[0].request;
        if (r->quiet && req->len >= 4 && memcmp(req->data + req->len - 4, "mn\r\n", 4) == 0)
            req->len -= 4;
        if (!buf_fmt(req, "mg %.*s v f t c%s\r\nmn\r\n", (int)r->key_len, r->key,
                     binary ? " b" : "")) {
            repl_free(r);
            return false;
        }
        plan->parts[0].reply_kind = REPLY_UNTIL_MN;
        r->piggyback = true;
    } else if (!build_delete_copy(r)) {
        repl_free(r);
        return false;
    }
    e->repl = r;
    e->copies[0].len = 0;
    e->parts_left = 1;
    e->sending = true;
    push(pc, e);
    if (r->deleting) {
        send_copies(e);
        copy_done(e, false);
    } else {
        start_primary(e, false);
    }
    e->sending = false;
    if (e->parts_left == 0 && pc->head == e)
        drain(pc);
    return true;
}

/* ---- read failover (--replicas R > 1): a read whose owner failed asks the key's next owner ----
 *
 * A failed part of a read (refused, down, timed out: its owner not yet declared dead) is sent
 * again to its keys' next owners, which hold copies. An mg goes again as it was; the keys of a
 * get-family part are grouped by their next owner into requests of the same command, and the
 * part's reply is rebuilt from theirs, in the part's key order. A key whose next owner fails too
 * is a miss, or the part stays failed when every group failed (the failure policy applies). */

struct failover;

struct fo_group {
    struct failover *failover;
    uint32_t member;
    struct route_buf request;
    struct route_buf reply;
    bool answered;
};

struct failover {
    struct entry *entry;
    uint32_t part;
    uint32_t pending;
    enum backend_error first_err;
    bool single; /* an mg: one group, whose reply is the part's */
    size_t ngroups;
    struct fo_group groups[];
};

static void failover_free(struct failover *f)
{
    for (size_t g = 0; g < f->ngroups; g++) {
        route_buf_free(&f->groups[g].request);
        route_buf_free(&f->groups[g].reply);
    }
    free(f);
}

/* The key's owner after `failed`, if it has one. */
static bool next_owner(struct route_worker *r, const char *key, size_t len, uint32_t failed,
                       uint32_t *member)
{
    uint32_t owners[ROUTE_REPLICAS_MAX];
    uint32_t n = route_worker_owners(r, key, len, owners, ROUTE_REPLICAS_MAX);
    for (uint32_t i = 0; i + 1 < n; i++)
        if (owners[i] == failed) {
            *member = owners[i + 1];
            return true;
        }
    return false;
}

/* Every group has answered or failed: part i's result is rebuilt, and the part completes. */
static void failover_finish(struct failover *f, bool from_backend)
{
    struct entry *e = f->entry;
    struct route_conn *pc = e->owner;
    uint32_t i = f->part;
    struct route_buf out = {0};
    bool answered = false, ok = true;
    for (size_t g = 0; g < f->ngroups; g++)
        answered |= f->groups[g].answered;
    if (f->single) {
        ok = buf_put(&out, f->groups[0].reply.data, f->groups[0].reply.len);
    } else {
        const struct route_plan *plan = &e->plan;
        size_t *cursor = calloc(f->ngroups, sizeof *cursor);
        ok = cursor != NULL;
        for (size_t k = 0; ok && k < plan->nkeys; k++) {
            const struct route_key *key = &plan->keys[k];
            if (key->part != i)
                continue;
            const char *kb = plan->key_bytes.data + key->offset;
            for (size_t g = 0; g < f->ngroups; g++) {
                struct fo_group *grp = &f->groups[g];
                struct reply_value v;
                size_t off = cursor[g];
                if (grp->answered && reply_next_value(grp->reply.data, grp->reply.len, &off, &v) &&
                    v.key_len == key->len && memcmp(v.key, kb, key->len) == 0) {
                    cursor[g] = off;
                    ok = buf_put(&out, v.block, v.block_len);
                    break;
                }
            }
        }
        ok = ok && buf_put(&out, "END\r\n", 5);
        free(cursor);
    }
    if (answered && ok && pc) {
        struct route_buf *copy = &e->copies[i];
        pc->held -= copy->len;
        route_buf_free(copy);
        *copy = out;
        pc->held += copy->len;
        e->results[i] = (struct route_result){.reply = copy->data, .len = copy->len};
    } else {
        route_buf_free(&out);
        e->results[i] = (struct route_result){.failure = backend_error_text(f->first_err)};
    }
    failover_free(f);
    finish_part(e, from_backend);
}

static void on_failover_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct fo_group *grp = arg;
    struct failover *f = grp->failover;
    if (err == BACKEND_OK) {
        grp->reply.len = 0;
        grp->answered = buf_put(&grp->reply, reply, len);
    }
    if (--f->pending == 0)
        failover_finish(f, true);
}

/* The group of f for member, added when new (room for as many groups as the part has keys). */
static struct fo_group *fo_group_for(struct failover *f, uint32_t member)
{
    for (size_t g = 0; g < f->ngroups; g++)
        if (f->groups[g].member == member)
            return &f->groups[g];
    struct fo_group *grp = &f->groups[f->ngroups++];
    *grp = (struct fo_group){.failover = f, .member = member};
    return grp;
}

/* Part i of a read failed with err at its owner: asks its keys' next owners. True when it took
 * the part over (it completes later); false to let the failure stand. */
static bool failover_read(struct entry *e, uint32_t i, enum backend_error err, bool from_backend)
{
    struct route_conn *pc = e->owner;
    const struct route_plan *plan = &e->plan;
    if (settings.replicas < 2 || !pc || plan->write || err == BACKEND_TOO_LARGE ||
        plan->merge == ROUTE_MERGE_ALL)
        return false;
    struct route_worker *r = pc->router;
    const struct route_part *part = &plan->parts[i];
    size_t nkeys = 0;
    for (size_t k = 0; k < plan->nkeys; k++)
        nkeys += plan->keys[k].part == i;
    bool single = plan->merge == ROUTE_MERGE_ONE;
    struct failover *f = calloc(1, sizeof *f + (single ? 1 : nkeys) * sizeof(struct fo_group));
    if (!f)
        return false;
    *f = (struct failover){.entry = e, .part = i, .first_err = err, .single = single};
    if (single) {
        /* one key: the part's request as it was, to that key's next owner */
        unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4];
        struct proto_token t[PROTO_MAX_TOKENS];
        char line[PROTO_KEY_MAX_LENGTH * 2 + 64];
        const char *eol = memchr(part->request.data, '\r', part->request.len);
        size_t n = eol ? (size_t)(eol - part->request.data) : 0;
        const char *key;
        size_t key_len;
        bool binary;
        uint32_t member;
        if (n == 0 || n >= sizeof line) {
            free(f);
            return false;
        }
        memcpy(line, part->request.data, n);
        line[n] = '\0';
        size_t nt = proto_tokenize(line, t, PROTO_MAX_TOKENS);
        if (!command_key(t, nt, plan->cmd, decoded, &key, &key_len, &binary) ||
            !next_owner(r, key, key_len, part->backend, &member)) {
            free(f);
            return false;
        }
        struct fo_group *grp = fo_group_for(f, member);
        if (!buf_put(&grp->request, part->request.data, part->request.len)) {
            failover_free(f);
            return false;
        }
    } else {
        /* "<cmd> [exptime]" from the part's request, then each group's keys */
        const char *req = part->request.data;
        size_t prefix = 0;
        int words = plan->cmd == PROTO_CMD_GAT || plan->cmd == PROTO_CMD_GATS ? 2 : 1;
        while (prefix < part->request.len && words > 0) {
            if (req[prefix] == ' ')
                words--;
            if (words > 0)
                prefix++;
        }
        for (size_t k = 0; k < plan->nkeys; k++) {
            const struct route_key *key = &plan->keys[k];
            uint32_t member;
            if (key->part != i ||
                !next_owner(r, plan->key_bytes.data + key->offset, key->len, part->backend,
                            &member))
                continue;
            struct fo_group *grp = fo_group_for(f, member);
            if ((grp->request.len == 0 && !buf_put(&grp->request, req, prefix)) ||
                !buf_put(&grp->request, " ", 1) ||
                !buf_put(&grp->request, plan->key_bytes.data + key->offset, key->len)) {
                failover_free(f);
                return false;
            }
        }
        for (size_t g = 0; g < f->ngroups; g++)
            if (!buf_put(&f->groups[g].request, "\r\n", 2)) {
                failover_free(f);
                return false;
            }
    }
    if (f->ngroups == 0) {
        free(f);
        return false;
    }
    f->pending = 1; /* held while sending */
    for (size_t g = 0; g < f->ngroups; g++) {
        struct fo_group *grp = &f->groups[g];
        route_worker_count(ROUTE_COUNT_FAILOVER_READS);
        if (route_worker_is_self(r, grp->member)) {
            /* this node holds the copy: read it here */
            struct outbuf tmp;
            outbuf_init(&tmp);
            (void)session_process(pc->session, grp->request.data, grp->request.len, &tmp,
                                  SIZE_MAX);
            grp->answered = outbuf_copy_all(&tmp, &grp->reply);
            outbuf_free(&tmp);
            continue;
        }
        f->pending++;
        if (route_worker_send(r, grp->member, grp->request.data, grp->request.len,
                              part->reply_kind, on_failover_reply, grp) != BACKEND_OK)
            f->pending--;
    }
    if (--f->pending == 0)
        failover_finish(f, from_backend); /* (the caller's context: its connection must write) */
    return true;
}

/* Queues the entry (its plan built) and sends its parts. */
static void forward(struct route_conn *pc, struct entry *e)
{
    size_t n = e->plan.nparts;
    if (!entry_reserve_parts(e, n)) {
        entry_free(e);
        answer(pc, "SERVER_ERROR out of memory\r\n", 28);
        return;
    }
    for (size_t i = 0; i < n; i++)
        e->copies[i].len = 0;
    e->parts_left = (uint32_t)n;
    e->sending = true;
    push(pc, e);
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
            complete_part(e, i, err, NULL, 0, false);
    }
    e->sending = false;
    if (e->parts_left == 0 && pc->head == e)
        drain(pc);
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

/* A delete or lookup another node's warm-up sent (marked with WARMUP_OPAQUE): it runs here,
 * never passed on. */
static bool is_warmup_request(const struct proto_token *t, size_t nt, enum proto_cmd cmd)
{
    if (cmd != PROTO_CMD_MD && cmd != PROTO_CMD_MG)
        return false;
    for (size_t k = 2; k + 1 < nt; k++)
        if (strcmp(t[k].value, WARMUP_OPAQUE) == 0)
            return true;
    return false;
}

/* A command on a connection another node forwarded: it runs here whatever the ring says, never
 * forwarded again; only warm-up may look a local miss up at the key's previous owner (whose
 * node runs that lookup locally in turn). */
static size_t forwarded_command(struct route_conn *pc, const char *in, size_t total,
                                struct proto_token *t, size_t nt, enum proto_cmd cmd,
                                const char *data, size_t data_len)
{
    uint32_t self;
    if (is_warmable(cmd) && !is_warmup_request(t, nt, cmd) && lookups_on(pc->router) &&
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
        !is_warmup_request(t, nt, cmd))
        note_owned_write(pc, t, nt, cmd);
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
    if (!command_key(t, nt, cmd, decoded, &key, &key_len, &binary))
        return;
    uint32_t owner = route_worker_owner(pc->router, key, key_len);
    if (route_worker_is_self(pc->router, owner))
        return;
    char req[300];
    int n = snprintf(req, sizeof req, "md %s q%s\r\nmn\r\n", t[1].value, binary ? " b" : "");
    if (n > 0 && (size_t)n < sizeof req)
        (void)route_worker_send(pc->router, owner, req, (size_t)n, REPLY_UNTIL_MN, ignore_reply, NULL);
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
        if (replicate_write(pc, e, t, nt))
            break;
        if (plan->nparts == 1 && route_worker_is_self(pc->router, plan->parts[0].backend) &&
            !(is_warmable(plan->cmd) && lookups_on(pc->router))) {
            /* this node owns the key(s) */
            if (plan->write && plan->merge == ROUTE_MERGE_ONE)
                note_owned_write(pc, t, nt, plan->cmd);
            entry_free(e);
            run_local(pc, in, total);
        } else {
            if (plan->cmd == PROTO_CMD_FLUSH_ALL)
                note_owned_write(pc, t, nt, plan->cmd); /* its self part runs here */
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
                              (!pc->head && !lookups_on(pc->router))))
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
