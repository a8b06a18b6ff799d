/* --replicas: writes at the primary copied to the other owners, and reads failed over to the
 * next owner; see route_conn_internal.h and cluster/README.md ("Replication"). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/route_conn_internal.h"
#include "server/route_worker.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/store.h"

/* ---- replication (--replicas R > 1): a single-key write at its primary, copied to the others ----
 *
 * The primary is the key's first owner whose process is there (primary_gone); its request
 * carries a piggybacked `mg <key> v f t c` after the client's command, so the one round trip
 * returns both the client's reply and the item as the write left it. That item is then copied to
 * every other owner with `ms ... E<cas>` marked SESSION_COPY_OPAQUE (the newer copy by CAS wins
 * there), or deleted there when the write left none. A delete goes the other way round: the other
 * owners first, then the primary, so that a primary that misses the key never finds it at a
 * replica that is about to lose it (the primary's own lookups of its misses would copy it back).
 * The client's reply leaves once every copy has been answered; a copy that failed at an owner
 * that may still serve the key turns it into SERVER_ERROR (copy_failed). */

/* A copy's completion argument: which write, and which owner it went to. */
struct copy_ref {
    struct entry *entry;
    uint32_t member;
};

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
    enum backend_error copy_failed; /* a copy failed at an owner that may still serve it */
    struct copy_ref refs[ROUTE_REPLICAS_MAX];
    char key[PROTO_KEY_MAX_LENGTH * 2];  /* as the client sent it */
    size_t key_len;
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4]; /* as it is placed */
    size_t decoded_len;
    struct route_buf copy; /* the request each other owner gets */
};

void replica_free(struct repl *r)
{
    if (!r)
        return;
    route_buf_free(&r->copy);
    free(r);
}

static bool buf_fmt(struct route_buf *b, const char *fmt, ...)
{
    char tmp[600];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < sizeof tmp && rc_buf_put(b, tmp, (size_t)n);
}

static void start_primary(struct entry *e, bool from_backend);

/* A copy at another owner answered (or failed). The last one completes the entry's part. */
static void copy_done(struct entry *e, bool from_backend)
{
    struct repl *r = e->repl;
    if (--r->pending > 0)
        return;
    if (r->copy_failed != BACKEND_OK) {
        /* an owner that may still serve the key missed this write: the client must not take it
         * for done (it may or may not have happened, as after any SERVER_ERROR) */
        rc_complete_part(e, 0, r->copy_failed, NULL, 0, from_backend);
        return;
    }
    if (r->deleting)
        start_primary(e, from_backend);
    else
        rc_finish_part(e, from_backend);
}

/* A copy to owners[i] failed with err: fine when that owner's process is gone (it comes back
 * empty), not when it only stopped answering (it may come back with the old value). */
static void copy_failed(struct repl *r, uint32_t member, enum backend_error err)
{
    route_worker_count(ROUTE_COUNT_REPLICA_WRITE_ERRORS);
    if (err != BACKEND_REFUSED && !route_worker_member_gone(r->router, member) &&
        r->copy_failed == BACKEND_OK)
        r->copy_failed = err;
}

static void on_copy_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    const struct copy_ref *ref = arg;
    struct entry *e = ref->entry;
    /* q hides success; NS says the owner holds a newer copy: both are fine */
    const char *eol = err == BACKEND_OK ? memchr(reply, '\r', len) : NULL;
    if (err != BACKEND_OK)
        copy_failed(e->repl, ref->member, err);
    else if (!eol || reply_line_is_error(reply, (size_t)(eol - reply)))
        copy_failed(e->repl, ref->member, BACKEND_MALFORMED);
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
        r->refs[i] = (struct copy_ref){.entry = e, .member = r->owners[i]};
        r->pending++;
        enum backend_error err = route_worker_send(r->router, r->owners[i], r->copy.data,
                                                   r->copy.len, REPLY_UNTIL_MN, on_copy_reply,
                                                   &r->refs[i]);
        if (err != BACKEND_OK) {
            copy_failed(r, r->owners[i], err);
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
           rc_buf_put(&r->copy, reply + header, size) && rc_buf_put(&r->copy, "\r\nmn\r\n", 6);
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
                rc_finish_part(e, from_backend);
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
        rc_finish_part(e, from_backend);
        return;
    }
    send_copies(e);
    copy_done(e, from_backend);
}

/* Whether the acting primary's failure lets the next owner take the write: only when its
 * process is gone (refused, or it closed the connection), which restarts empty. One that only
 * stopped answering (paused, cut off) may come back with the old value and serve it; so may a
 * member on the ring without a backend (buried without takeover): those writes fail, as they do
 * without replicas, until gossip decides. */
static bool primary_gone(const struct repl *r, enum backend_error err)
{
    return err == BACKEND_REFUSED || route_worker_member_gone(r->router, r->owners[r->primary]);
}

static void on_primary_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct entry *e = arg;
    struct repl *r = e->repl;
    if (err != BACKEND_OK && primary_gone(r, err) && r->primary + 1 < r->nowners) {
        /* its process is gone: the next owner acts as the primary */
        r->primary++;
        route_worker_count(ROUTE_COUNT_FAILOVER_WRITES);
        start_primary(e, true);
        return;
    }
    if (err != BACKEND_OK) {
        rc_complete_part(e, 0, err, NULL, 0, true);
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
            rc_complete_part(e, 0, BACKEND_LOST, NULL, 0, from_backend);
            return;
        }
        handoff_count_write((const char *)r->decoded, r->decoded_len);
        if (!rc_local_part(pc, e, 0)) {
            rc_finish_part(e, from_backend);
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
    if (primary_gone(r, err) && r->primary + 1 < r->nowners) {
        r->primary++;
        route_worker_count(ROUTE_COUNT_FAILOVER_WRITES);
        start_primary(e, from_backend);
        return;
    }
    rc_complete_part(e, 0, err, NULL, 0, from_backend);
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
bool replica_write(struct route_conn *pc, struct entry *e, const struct proto_token *t,
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
    if (!rc_command_key(t, nt, plan->cmd, decoded, &key, &key_len, &binary) ||
        t[1].length > sizeof ((struct repl *)0)->key)
        return false;
    struct repl *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->router = pc->router;
    r->nowners = route_worker_owners(pc->router, key, key_len, r->owners, ROUTE_REPLICAS_MAX);
    if (r->nowners < 2 || !rc_reserve_parts(e, 1)) {
        replica_free(r);
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
            replica_free(r);
            return false;
        }
        plan->parts[0].reply_kind = REPLY_UNTIL_MN;
        r->piggyback = true;
    } else if (!build_delete_copy(r)) {
        replica_free(r);
        return false;
    }
    e->repl = r;
    e->copies[0].len = 0;
    e->parts_left = 1;
    e->sending = true;
    rc_push(pc, e);
    if (r->deleting) {
        send_copies(e);
        copy_done(e, false);
    } else {
        start_primary(e, false);
    }
    e->sending = false;
    if (e->parts_left == 0 && pc->head == e)
        rc_drain(pc);
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
        ok = rc_buf_put(&out, f->groups[0].reply.data, f->groups[0].reply.len);
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
                    ok = rc_buf_put(&out, v.block, v.block_len);
                    break;
                }
            }
        }
        ok = ok && rc_buf_put(&out, "END\r\n", 5);
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
    rc_finish_part(e, from_backend);
}

static void on_failover_reply(void *arg, enum backend_error err, const char *reply, size_t len)
{
    struct fo_group *grp = arg;
    struct failover *f = grp->failover;
    if (err == BACKEND_OK) {
        grp->reply.len = 0;
        grp->answered = rc_buf_put(&grp->reply, reply, len);
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
bool replica_failover_read(struct entry *e, uint32_t i, enum backend_error err, bool from_backend)
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
        if (!rc_command_key(t, nt, plan->cmd, decoded, &key, &key_len, &binary) ||
            !next_owner(r, key, key_len, part->backend, &member)) {
            free(f);
            return false;
        }
        struct fo_group *grp = fo_group_for(f, member);
        if (!rc_buf_put(&grp->request, part->request.data, part->request.len)) {
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
            if ((grp->request.len == 0 && !rc_buf_put(&grp->request, req, prefix)) ||
                !rc_buf_put(&grp->request, " ", 1) ||
                !rc_buf_put(&grp->request, plan->key_bytes.data + key->offset, key->len)) {
                failover_free(f);
                return false;
            }
        }
        for (size_t g = 0; g < f->ngroups; g++)
            if (!rc_buf_put(&f->groups[g].request, "\r\n", 2)) {
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
            grp->answered = rc_outbuf_move(&tmp, &grp->reply);
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
