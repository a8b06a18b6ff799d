/* Request splitting and reply merging for the proxy; see route.h and cluster/README.md. */
#include "cluster/route/route.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/base64.h"
#include "proto/meta.h"
#include "proto/number.h"
#include "proto/storage_line.h"

void route_buf_free(struct route_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_add(struct route_buf *b, const void *src, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len) {
        errno = ENOMEM;
        return -1;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    if (n > 0)
        memcpy(b->data + b->len, src, n);
    b->len += n;
    return 0;
}

/* Room for n more bytes at once, so that a request is one allocation, not a doubling series. */
static int buf_reserve(struct route_buf *b, size_t n)
{
    if (n > SIZE_MAX / 2 - b->len) {
        errno = ENOMEM;
        return -1;
    }
    if (b->len + n <= b->cap)
        return 0;
    char *p = realloc(b->data, b->len + n);
    if (p == NULL)
        return -1;
    b->data = p;
    b->cap = b->len + n;
    return 0;
}

static int buf_str(struct route_buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

void route_plan_free(struct route_plan *plan)
{
    for (size_t i = 0; i < plan->parts_cap; i++)
        route_buf_free(&plan->parts[i].request);
    free(plan->parts);
    free(plan->keys);
    route_buf_free(&plan->key_bytes);
    route_buf_free(&plan->miss);
    memset(plan, 0, sizeof *plan);
}

static struct route_part *add_part(struct route_plan *plan, uint32_t backend, enum reply_kind kind)
{
    if (plan->nparts == plan->parts_cap) {
        size_t cap = plan->parts_cap ? plan->parts_cap * 2 : 1;
        struct route_part *p = realloc(plan->parts, cap * sizeof *p);
        if (p == NULL)
            return NULL;
        memset(p + plan->parts_cap, 0, (cap - plan->parts_cap) * sizeof *p);
        plan->parts = p;
        plan->parts_cap = cap;
    }
    struct route_part *part = &plan->parts[plan->nparts++];
    part->request.len = 0; /* its memory is kept */
    part->backend = backend;
    part->reply_kind = kind;
    return part;
}

/* The line again, tokens joined by one space (memcached treats runs of spaces as one), plus
 * whatever the tokenizer left unsplit. */
static int append_line(struct route_buf *b, const struct proto_token *t, size_t nt)
{
    for (size_t i = 0; i + 1 < nt; i++)
        if ((i > 0 && buf_add(b, " ", 1) != 0) || buf_add(b, t[i].value, t[i].length) != 0)
            return -1;
    if (t[nt - 1].value != NULL && *t[nt - 1].value != '\0')
        if (buf_add(b, " ", 1) != 0 || buf_str(b, t[nt - 1].value) != 0)
            return -1;
    return buf_add(b, "\r\n", 2);
}

/* The first token of a meta command's flags (after the key, and for ms after the size too). */
static size_t meta_flags_start(enum proto_cmd cmd)
{
    return cmd == PROTO_CMD_MS ? 3 : 2;
}

static bool meta_has_flag(const struct proto_token *t, size_t nt, size_t start, char flag)
{
    for (size_t i = start; i + 1 < nt; i++)
        if (t[i].length > 0 && t[i].value[0] == flag)
            return true;
    return false;
}

/* The key bytes the owner is computed from: a meta `b` key is hashed decoded, since that is the
 * key the item is stored under. */
static uint32_t owner_of(const struct proto_token *t, size_t nt, enum proto_cmd cmd, bool meta,
                         route_owner_fn owner, void *ctx, uint32_t nbackends)
{
    const char *key = t[1].value;
    size_t len = t[1].length;
    unsigned char decoded[PROTO_KEY_MAX_LENGTH + 4];
    if (meta && meta_has_flag(t, nt, meta_flags_start(cmd), 'b')) {
        size_t n = proto_base64_decode(t[1].value, t[1].length, decoded, sizeof decoded);
        if (n > 0) {
            key = (const char *)decoded;
            len = n;
        }
    }
    uint32_t b = owner(ctx, key, len);
    return b < nbackends ? b : 0;
}

/* mg's miss reply: "EN" and, in request order, O<opaque> and k<key> (" b" after a base64 key),
 * as memcached 1.6.18 sends it; nothing under q. */
static int build_mg_miss(struct route_plan *plan, const struct proto_token *t, size_t nt)
{
    if (plan->quiet)
        return 0;
    bool binary = meta_has_flag(t, nt, 2, 'b');
    if (buf_str(&plan->miss, "EN") != 0)
        return -1;
    for (size_t i = 2; i + 1 < nt; i++) {
        if (t[i].length == 0)
            continue;
        if (t[i].value[0] == 'O') {
            if (buf_add(&plan->miss, " ", 1) != 0 ||
                buf_add(&plan->miss, t[i].value, t[i].length) != 0)
                return -1;
        } else if (t[i].value[0] == 'k') {
            if (buf_str(&plan->miss, " k") != 0 ||
                buf_add(&plan->miss, t[1].value, t[1].length) != 0 ||
                (binary && buf_str(&plan->miss, " b") != 0))
                return -1;
        }
    }
    return buf_add(&plan->miss, "\r\n", 2);
}

/* memcached's checks that answer a get line before any key is looked up by anyone. */
static const char *get_line_refusal(struct proto_token *t, size_t nt, bool touch)
{
    int32_t exptime;
    if (touch && !proto_parse_i32(t[1].value, &exptime))
        return "CLIENT_ERROR invalid exptime argument\r\n";
    for (size_t i = touch ? 2 : 1; i + 1 < nt; i++)
        if (t[i].length > PROTO_KEY_MAX_LENGTH)
            return "CLIENT_ERROR bad command line format\r\n";
    const char *p = t[nt - 1].value;
    while (p != NULL && *p != '\0') {
        while (*p == ' ')
            p++;
        const char *start = p;
        while (*p != ' ' && *p != '\0')
            p++;
        if ((size_t)(p - start) > PROTO_KEY_MAX_LENGTH)
            return "CLIENT_ERROR bad command line format\r\n";
    }
    return NULL;
}

static int plan_get(struct route_plan *plan, struct proto_token *t, size_t nt,
                    route_owner_fn owner, void *ctx, uint32_t nbackends)
{
    bool touch = plan->cmd == PROTO_CMD_GAT || plan->cmd == PROTO_CMD_GATS;
    const char *refusal = get_line_refusal(t, nt, touch);
    if (refusal != NULL) {
        plan->action = ROUTE_ANSWER;
        plan->answer = refusal;
        return 0;
    }
    plan->merge = ROUTE_MERGE_VALUES;
    uint32_t small[64];
    uint32_t *part_of = nbackends <= 64 ? small : malloc(nbackends * sizeof *part_of);
    if (part_of == NULL)
        return -1;
    for (uint32_t i = 0; i < nbackends; i++)
        part_of[i] = UINT32_MAX;
    /* the command word and, for gat/gats, the exptime start every part */
    struct proto_token head[2] = {t[0], t[1]};
    size_t nhead = touch ? 2 : 1;
    struct proto_token *key = &t[nhead];
    int rc = -1;
    for (;;) {
        for (; key->length != 0; key++) {
            uint32_t b = owner(ctx, key->value, key->length);
            if (b >= nbackends)
                b = 0;
            if (part_of[b] == UINT32_MAX) {
                struct route_part *part = add_part(plan, b, REPLY_RETRIEVAL);
                if (part == NULL)
                    goto out;
                part_of[b] = (uint32_t)(plan->nparts - 1);
                for (size_t h = 0; h < nhead; h++)
                    if ((h > 0 && buf_add(&part->request, " ", 1) != 0) ||
                        buf_add(&part->request, head[h].value, head[h].length) != 0)
                        goto out;
            }
            struct route_buf *req = &plan->parts[part_of[b]].request;
            if (buf_add(req, " ", 1) != 0 || buf_add(req, key->value, key->length) != 0)
                goto out;
            if (plan->nkeys == plan->keys_cap) {
                size_t cap = plan->keys_cap ? plan->keys_cap * 2 : 16;
                struct route_key *k = realloc(plan->keys, cap * sizeof *k);
                if (k == NULL)
                    goto out;
                plan->keys = k;
                plan->keys_cap = cap;
            }
            plan->keys[plan->nkeys++] = (struct route_key){
                .offset = plan->key_bytes.len, .len = key->length, .part = part_of[b]};
            if (buf_add(&plan->key_bytes, key->value, key->length) != 0)
                goto out;
        }
        if (key->value == NULL)
            break;
        nt = proto_tokenize(key->value, t, PROTO_MAX_TOKENS);
        key = t;
    }
    for (size_t i = 0; i < plan->nparts; i++)
        if (buf_add(&plan->parts[i].request, "\r\n", 2) != 0)
            goto out;
    rc = 0;
out:
    if (part_of != small)
        free(part_of);
    return rc;
}

static bool is_classic_single_key(enum proto_cmd cmd)
{
    switch (cmd) {
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
    case PROTO_CMD_CAS:
    case PROTO_CMD_INCR:
    case PROTO_CMD_DECR:
    case PROTO_CMD_DELETE:
    case PROTO_CMD_TOUCH:
        return true;
    default:
        return false;
    }
}

static bool is_meta_single_key(enum proto_cmd cmd)
{
    return cmd == PROTO_CMD_MG || cmd == PROTO_CMD_MS || cmd == PROTO_CMD_MD ||
           cmd == PROTO_CMD_MA || cmd == PROTO_CMD_ME;
}

/* mg and me only read; every other meta command writes its key. */
static bool is_meta_write(enum proto_cmd cmd)
{
    return is_meta_single_key(cmd) && cmd != PROTO_CMD_MG && cmd != PROTO_CMD_ME;
}

static bool is_retrieval(enum proto_cmd cmd)
{
    return cmd == PROTO_CMD_GET || cmd == PROTO_CMD_GETS || cmd == PROTO_CMD_GAT ||
           cmd == PROTO_CMD_GATS || cmd == PROTO_CMD_BGET;
}

bool route_cmd_routed(enum proto_cmd cmd)
{
    return is_retrieval(cmd) || cmd == PROTO_CMD_FLUSH_ALL || is_classic_single_key(cmd) ||
           is_meta_single_key(cmd);
}

bool route_cmd_single_key_write(enum proto_cmd cmd)
{
    return is_classic_single_key(cmd) || is_meta_write(cmd);
}

/* The request bytes of a single-key or broadcast command: the line, its data block, and "mn"
 * when the reply could otherwise be nothing. */
static int fill_request(struct route_plan *plan, struct route_part *part,
                        const struct proto_token *t, size_t nt, const char *data, size_t data_len)
{
    size_t need = data_len + 2 + 4 + 2;
    for (size_t i = 0; i < nt; i++)
        need += t[i].length + 1;
    if (t[nt - 1].value != NULL)
        need += strlen(t[nt - 1].value) + 1;
    if (buf_reserve(&part->request, need) != 0)
        return -1;
    if (append_line(&part->request, t, nt) != 0)
        return -1;
    if (data != NULL &&
        (buf_add(&part->request, data, data_len) != 0 || buf_add(&part->request, "\r\n", 2) != 0))
        return -1;
    if (plan->quiet && buf_str(&part->request, "mn\r\n") != 0)
        return -1;
    return 0;
}

int route_data_block(const struct proto_token *t, size_t nt, size_t *len, const char **answer)
{
    struct proto_storage_line line;
    switch (proto_storage_line(proto_command(t, nt), t, nt, &line)) {
    case PROTO_STORAGE_ACCEPT:
        /* an ms line memcached accepts has its block swallowed even when the flags are refused
         * later, so the backend can judge them */
        *len = line.block_len;
        return 1;
    case PROTO_STORAGE_REFUSE:
        *answer = line.reply;
        return 0;
    case PROTO_STORAGE_NONE:
        break;
    }
    return -1;
}

int route_plan_build(struct route_plan *plan, struct proto_token *t, size_t nt, const char *data,
                     size_t data_len, route_owner_fn owner, void *ctx, uint32_t nbackends)
{
    memset(plan, 0, sizeof *plan);
    return route_plan_rebuild(plan, t, nt, data, data_len, owner, ctx, nbackends);
}

int route_plan_rebuild(struct route_plan *plan, struct proto_token *t, size_t nt, const char *data,
                       size_t data_len, route_owner_fn owner, void *ctx, uint32_t nbackends)
{
    /* keep the memory, forget the contents */
    plan->action = ROUTE_LOCAL;
    plan->quiet = plan->write = plan->fail_reads = false;
    plan->answer = NULL;
    plan->nparts = 0;
    plan->nkeys = 0;
    plan->key_bytes.len = 0;
    plan->miss.len = 0;
    if (nbackends == 0 || nt < 1) {
        route_plan_free(plan);
        errno = EINVAL;
        return -1;
    }
    plan->cmd = proto_command(t, nt);
    plan->action = ROUTE_FORWARD;
    plan->merge = ROUTE_MERGE_ONE;
    int rc = 0;

    size_t block_len = 0;
    const char *refusal = NULL;
    switch (route_data_block(t, nt, &block_len, &refusal)) {
    case 0:
        plan->action = ROUTE_ANSWER;
        plan->answer = refusal;
        return 0;
    case 1:
        if (data == NULL || data_len != block_len) {
            route_plan_free(plan);
            errno = EINVAL;
            return -1;
        }
        break;
    default:
        break;
    }

    switch (plan->cmd) {
    case PROTO_CMD_GET:
    case PROTO_CMD_GETS:
    case PROTO_CMD_GAT:
    case PROTO_CMD_GATS:
    case PROTO_CMD_BGET:
        rc = plan_get(plan, t, nt, owner, ctx, nbackends);
        break;
    case PROTO_CMD_FLUSH_ALL:
        plan->merge = ROUTE_MERGE_ALL;
        plan->write = true;
        plan->quiet = proto_has_noreply(t, nt);
        for (uint32_t b = 0; b < nbackends && rc == 0; b++) {
            struct route_part *part =
                add_part(plan, b, plan->quiet ? REPLY_UNTIL_MN : REPLY_LINE);
            rc = part ? fill_request(plan, part, t, nt, NULL, 0) : -1;
        }
        break;
    default:
        if (is_classic_single_key(plan->cmd)) {
            plan->write = true;
            plan->quiet = proto_has_noreply(t, nt);
            uint32_t b = owner_of(t, nt, plan->cmd, false, owner, ctx, nbackends);
            struct route_part *part = add_part(plan, b, plan->quiet ? REPLY_UNTIL_MN : REPLY_LINE);
            rc = part ? fill_request(plan, part, t, nt, data, data_len) : -1;
        } else if (is_meta_single_key(plan->cmd) && nt >= 3) {
            /* (without a key the node answers ERROR itself) */
            plan->write = is_meta_write(plan->cmd);
            plan->quiet = plan->cmd != PROTO_CMD_ME &&
                          meta_has_flag(t, nt, meta_flags_start(plan->cmd), 'q');
            uint32_t b = owner_of(t, nt, plan->cmd, true, owner, ctx, nbackends);
            struct route_part *part = add_part(plan, b, plan->quiet ? REPLY_UNTIL_MN : REPLY_META);
            rc = part ? fill_request(plan, part, t, nt, data, data_len) : -1;
            if (rc == 0 && plan->cmd == PROTO_CMD_MG)
                rc = build_mg_miss(plan, t, nt);
            if (rc == 0 && plan->cmd == PROTO_CMD_ME)
                rc = buf_str(&plan->miss, "EN\r\n");
        } else {
            plan->action = ROUTE_LOCAL;
        }
        break;
    }
    if (rc != 0) {
        int saved = errno;
        route_plan_free(plan);
        errno = saved ? saved : ENOMEM;
        return -1;
    }
    return 0;
}

/* A reply without the "MN\r\n" a quiet request's reply ends with. */
static size_t quiet_body_len(const struct route_plan *plan, const struct route_result *r)
{
    if (plan->quiet && r->len >= 4 && memcmp(r->reply + r->len - 4, "MN\r\n", 4) == 0)
        return r->len - 4;
    return r->len;
}

static int failure_line(struct route_buf *out, const char *failure)
{
    if (failure == NULL)
        failure = "backend unavailable";
    if (buf_str(out, "SERVER_ERROR ") != 0 || buf_str(out, failure) != 0 ||
        buf_add(out, "\r\n", 2) != 0)
        return -1;
    return 0;
}

/* A command sent to every backend (flush_all) that some did not carry out: the client must not
 * believe the whole cache was flushed. */
static int partial_line(struct route_buf *out, size_t done, size_t all, const char *failure)
{
    char head[96];
    int n = snprintf(head, sizeof head, "SERVER_ERROR reached %zu of %zu servers: ", done, all);
    if (n < 0 || (size_t)n >= sizeof head || buf_add(out, head, (size_t)n) != 0 ||
        buf_str(out, failure ? failure : "backend unavailable") != 0 ||
        buf_add(out, "\r\n", 2) != 0)
        return -1;
    return 0;
}

/* The error line a retrieval reply ends with instead of END, if any. */
static bool retrieval_error(const struct route_result *r, size_t *at, size_t *len)
{
    size_t off = 0;
    struct reply_value v;
    while (reply_next_value(r->reply, r->len, &off, &v))
        ;
    const char *rest = r->reply + off;
    size_t n = r->len - off;
    if (n >= 2 && reply_line_is_error(rest, n - 2)) {
        *at = off;
        *len = n;
        return true;
    }
    return false;
}

static int merge_values(const struct route_plan *plan, const struct route_result *results,
                        struct route_buf *out)
{
    /* memcached answers an error alone: the first part (in key order) that errored decides */
    for (size_t i = 0; i < plan->nparts; i++) {
        if (results[i].reply == NULL && (plan->fail_reads || results[i].reported))
            return failure_line(out, results[i].failure);
        size_t at, len;
        if (results[i].reply != NULL && retrieval_error(&results[i], &at, &len))
            return buf_add(out, results[i].reply + at, len);
    }
    size_t small[16] = {0};
    size_t *cursor = plan->nparts <= 16 ? small : calloc(plan->nparts, sizeof *cursor);
    if (cursor == NULL)
        return -1;
    int rc = 0;
    for (size_t k = 0; k < plan->nkeys && rc == 0; k++) {
        const struct route_key *key = &plan->keys[k];
        const struct route_result *r = &results[key->part];
        if (r->reply == NULL)
            continue; /* a failed backend: a miss */
        size_t off = cursor[key->part];
        struct reply_value v;
        if (!reply_next_value(r->reply, r->len, &off, &v))
            continue;
        if (v.key_len != key->len || memcmp(v.key, plan->key_bytes.data + key->offset, key->len))
            continue; /* this key missed; the block belongs to a later key */
        cursor[key->part] = off;
        rc = buf_add(out, v.block, v.block_len);
    }
    if (cursor != small)
        free(cursor);
    return rc != 0 ? -1 : buf_add(out, "END\r\n", 5);
}

bool route_reply_is_verbatim(const struct route_plan *plan, const struct route_result *results)
{
    if (plan->action != ROUTE_FORWARD || plan->nparts != 1 || results[0].reply == NULL)
        return false;
    /* one owner got every key in the client's order: its reply is memcached's */
    if (plan->merge == ROUTE_MERGE_VALUES)
        return true;
    return plan->merge == ROUTE_MERGE_ONE && !plan->quiet;
}

int route_merge(const struct route_plan *plan, const struct route_result *results,
                struct route_buf *out)
{
    switch (plan->merge) {
    case ROUTE_MERGE_VALUES:
        return merge_values(plan, results, out);
    case ROUTE_MERGE_ALL: {
        size_t failed = 0, first_failed = 0;
        for (size_t i = 0; i < plan->nparts; i++)
            if (results[i].reply == NULL && failed++ == 0)
                first_failed = i;
        if (failed == plan->nparts && failed > 0)
            return failure_line(out, results[first_failed].failure);
        if (failed > 0)
            return partial_line(out, plan->nparts - failed, plan->nparts,
                                results[first_failed].failure);
        size_t pick = 0;
        for (size_t i = 0; i < plan->nparts; i++) {
            size_t n = quiet_body_len(plan, &results[i]);
            if (n >= 2 && reply_line_is_error(results[i].reply, n - 2)) {
                pick = i;
                break;
            }
        }
        if (plan->nparts == 0)
            return 0;
        return buf_add(out, results[pick].reply, quiet_body_len(plan, &results[pick]));
    }
    case ROUTE_MERGE_ONE:
        if (plan->nparts != 1) {
            errno = EINVAL;
            return -1;
        }
        if (results[0].reply == NULL) {
            if (plan->write || plan->fail_reads || results[0].reported)
                return failure_line(out, results[0].failure);
            return buf_add(out, plan->miss.data, plan->miss.len);
        }
        return buf_add(out, results[0].reply, quiet_body_len(plan, &results[0]));
    }
    errno = EINVAL;
    return -1;
}
