#ifndef SHOAL_CLUSTER_ROUTE_H
#define SHOAL_CLUSTER_ROUTE_H
/* Routing one client command: which backends get which request bytes, and how their replies are
 * merged back into exactly the bytes one memcached would have sent. Pure: no I/O; the caller
 * sends the parts (cluster/route/backend.h), frames each reply with proto/reply.h (the part says
 * which kind), and calls route_merge once every part has a reply or has failed.
 *
 * Conventions (cluster/README.md, "Routing (building blocks)"):
 *   - A quiet meta command (flag q) or a classic command with noreply is sent with "mn\r\n"
 *     appended; its reply is whatever the backend sent before "MN\r\n", which route_merge strips.
 *     That is what the backend would have sent the client, and the proxy still knows when the
 *     reply is complete.
 *   - A multi-key get/gets/gat/gats is split into one request per owner (keys in client order,
 *     duplicates kept); the merge emits the VALUE blocks in the client's key order and one END.
 *   - Failure policy: a read (get family, mg, me) against a failed backend is a miss (unless the
 *     plan's fail_reads), a write answers "SERVER_ERROR <failure>", even under noreply/q, as
 *     memcached's own server errors do.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/parse.h"
#include "proto/reply.h"

/* Which backend owns a key (e.g. a ketama ring lookup). Must return < nbackends. */
typedef uint32_t (*route_owner_fn)(void *ctx, const char *key, size_t len);

/* A growable byte buffer; owns data (free with route_buf_free). */
struct route_buf {
    char *data;
    size_t len;
    size_t cap;
};
void route_buf_free(struct route_buf *b);

enum route_action {
    ROUTE_LOCAL,   /* not key-addressed: the node executes it itself (stats, version, verbosity,
                    * mn, quit, shutdown, ERROR, HTTP) */
    ROUTE_ANSWER,  /* the proxy answers from the line alone: plan->answer, as memcached would */
    ROUTE_FORWARD, /* send the parts, then route_merge */
};

enum route_merge_rule {
    ROUTE_MERGE_ONE,      /* one part: its reply as is (quiet: without the MN) */
    ROUTE_MERGE_VALUES,   /* VALUE blocks in client key order, then END */
    ROUTE_MERGE_ALL,      /* the same command to every backend (flush_all): one reply */
};

struct route_part {
    uint32_t backend;
    struct route_buf request; /* the bytes to send, "\r\n"-terminated */
    enum reply_kind reply_kind;
};

struct route_key {
    size_t offset; /* into the plan's keys buffer */
    size_t len;
    uint32_t part;
};

/* A plan owns everything in it; free with route_plan_free. */
struct route_plan {
    enum route_action action;
    enum proto_cmd cmd;
    enum route_merge_rule merge;
    bool quiet; /* parts end with "mn\r\n" */
    bool write; /* a failed part answers SERVER_ERROR (else: a miss) */
    /* Set by the caller after building (a build clears it): a failed part of a read answers
     * SERVER_ERROR as a write's does, instead of a miss (--backend-read-failure=error). */
    bool fail_reads;
    const char *answer; /* ROUTE_ANSWER: a static reply, "\r\n" included */
    struct route_part *parts;
    size_t nparts;
    /* ROUTE_MERGE_VALUES: the keys in client order */
    struct route_key *keys;
    size_t nkeys;
    struct route_buf key_bytes;
    /* the reply memcached gives for a miss (mg: EN with its k/O/b flags; empty when quiet) */
    struct route_buf miss;
    /* memory kept for reuse by route_plan_rebuild: parts[0..parts_cap) with their request
     * buffers, keys[0..keys_cap) */
    size_t parts_cap;
    size_t keys_cap;
};

/* Whether route_plan_build may forward cmd (a key-addressed command, or flush_all), from the
 * command alone; everything else is ROUTE_LOCAL. */
bool route_cmd_routed(enum proto_cmd cmd);
/* Whether cmd changes the one key it names (classic storage, delete, incr/decr, touch, ms, md,
 * ma): the commands whose failure answers SERVER_ERROR (route_plan.write). */
bool route_cmd_single_key_write(enum proto_cmd cmd);

/* Whether memcached reads a data block after this line (a storage command or ms), decided from
 * the line alone as memcached 1.6.18 decides it (proto_storage_line, the session's rule too),
 * in the form framing and planning use. Returns 1 with *len: the caller reads len bytes
 * and "\r\n" (a bad chunk it answers "CLIENT_ERROR bad data chunk" itself) and passes them to
 * route_plan_build. Returns 0 when memcached refuses the line without reading a block: *answer
 * is the whole reply (empty under a classic noreply) and the next bytes are a command again.
 * Returns -1 for a command that has no data block. */
int route_data_block(const struct proto_token *t, size_t nt, size_t *len, const char **answer);

/* Plans the command in t[0..nt) (tokenized by proto_tokenize; for a get line with more keys
 * than one tokenization holds, the terminal token's rest is tokenized further, in place).
 * `data`/`data_len` is the data block of a storage command or ms (value bytes without the
 * trailing "\r\n", which the caller has already checked; see route_data_block), else NULL/0.
 * A line route_data_block refuses is planned as ROUTE_ANSWER. Returns 0, or -1 with errno ENOMEM
 * or EINVAL (nbackends 0, or a data block missing). The plan's keys are copies: the line may be
 * reused. */
int route_plan_build(struct route_plan *plan, struct proto_token *t, size_t nt, const char *data,
                     size_t data_len, route_owner_fn owner, void *ctx, uint32_t nbackends);
/* route_plan_build into a plan that is zeroed or was built before (and not freed), reusing its
 * memory: a proxy that recycles its plans allocates nothing per command in the steady state.
 * On failure the plan is freed (and zeroed). */
int route_plan_rebuild(struct route_plan *plan, struct proto_token *t, size_t nt, const char *data,
                       size_t data_len, route_owner_fn owner, void *ctx, uint32_t nbackends);
void route_plan_free(struct route_plan *plan);

/* One part's outcome: either the complete reply as framed by proto/reply (reply/len), or a
 * failure text for SERVER_ERROR (e.g. "backend timeout") with reply NULL. */
struct route_result {
    const char *reply;
    size_t len;
    const char *failure;
    /* The failure reaches the client even for a read, whose failures are otherwise misses: a
     * reply too large to hold is no miss, and the client must learn to ask for fewer keys. */
    bool reported;
};

/* Appends to `out` the client's reply for a ROUTE_FORWARD plan given results[0..plan->nparts).
 * Returns 0, or -1 with errno ENOMEM. */
int route_merge(const struct route_plan *plan, const struct route_result *results,
                struct route_buf *out);

/* True when the client's reply is exactly results[0]'s bytes (one part that answered, merged
 * as is: a single-owner get, or a reply that is not quiet), so the caller may copy it straight
 * out instead of calling route_merge. */
bool route_reply_is_verbatim(const struct route_plan *plan, const struct route_result *results);

/* Forwarded-connection marker: the request a proxy sends first on every backend connection so
 * that a Shoal node executes that connection's commands locally and never forwards them again.
 * memcached answers it like any missing key ("EN\r\n", a REPLY_META reply) without side effect. */
#define ROUTE_PEER_HELLO "me .shoal-forwarded\r\n"

#endif
