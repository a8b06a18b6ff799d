/* A local miss looked up at another holder of the key, and the write counters that keep such a
 * copy from undoing a delete; see route_conn_internal.h and cluster/README.md ("Hand-off after a
 * ring change", "Replication"). */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/route_conn_internal.h"
#include "server/route_worker.h"
#include "server/session.h"
#include "server/settings.h"
#include "server/store.h"

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

void handoff_count_write(const char *key, size_t len)
{
    atomic_fetch_add(write_slot(key, len), 1);
}

/* What a copy-in compares: the key's slot and the flush count, as one number. */
static uint64_t write_count(const char *key, size_t len)
{
    return (uint64_t)atomic_load(write_slot(key, len)) << 32 | atomic_load(&flushes);
}

/* Whether a local miss of a key this node owns is looked up elsewhere: at its previous owner
 * during warm-up, and at its other owners with --replicas (which refills a restarted or fenced
 * primary: read repair). */
bool handoff_lookups_on(const struct route_worker *r)
{
    return settings.replicas > 1 || route_worker_warmup_active(r);
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
        (void)rc_local_part(pc, e, w->part);
    free(w);
    rc_finish_part(e, from_backend);
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
bool handoff_warmable(enum proto_cmd cmd)
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
bool handoff_start_lookups(struct route_conn *pc, struct entry *e, uint32_t i)
{
    const struct route_plan *plan = &e->plan;
    if (!handoff_warmable(plan->cmd) || !handoff_lookups_on(pc->router) || !e->results[i].reply)
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

/* Before a write to a key this node owns runs, during its hand-off window (warm-up and the
 * grace after it): counts the write, so that a warm-up copy-in racing it is undone, and deletes
 * the key's copy at its previous owner, so that an outdated value cannot come back from there
 * (by a later warm-up lookup, or after this node dies again). */
void handoff_note_write(struct route_conn *pc, const struct proto_token *t, size_t nt,
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
    if (!rc_command_key(t, nt, cmd, decoded, &key, &len, &binary))
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
        (void)route_worker_send(pc->router, source, req, (size_t)n, REPLY_UNTIL_MN, rc_ignore_reply,
                                NULL);
}

/* A delete or lookup another node's warm-up sent (marked with WARMUP_OPAQUE): it runs here,
 * never passed on. */
bool handoff_is_lookup(const struct proto_token *t, size_t nt, enum proto_cmd cmd)
{
    if (cmd != PROTO_CMD_MD && cmd != PROTO_CMD_MG)
        return false;
    for (size_t k = 2; k + 1 < nt; k++)
        if (strcmp(t[k].value, WARMUP_OPAQUE) == 0)
            return true;
    return false;
}
