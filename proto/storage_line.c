/* memcached 1.6.18's process_update_command and the start of process_mset_command, up to the
 * point where the data block's length is known. */
#include "proto/storage_line.h"

#include <limits.h>
#include <string.h>

#include "proto/meta.h"
#include "proto/number.h"

#define BAD_FORMAT "CLIENT_ERROR bad command line format"
#define FLAGS_TOO_LONG "CLIENT_ERROR options flags too long"

static enum proto_storage_verdict refuse(struct proto_storage_line *line, const char *error,
                                         const char *reply)
{
    line->error = error;
    line->reply = reply;
    return PROTO_STORAGE_REFUSE;
}

/* memcached's vlen check, before it adds the two bytes of "\r\n" to it. */
static bool block_length_ok(int32_t vlen)
{
    return vlen >= 0 && vlen <= INT_MAX - 2;
}

static enum proto_storage_verdict classic_line(const struct proto_token *t, size_t nt, bool cas,
                                               struct proto_storage_line *line)
{
    /* memcached decides noreply first, so it hides every refusal below (out_string) */
    line->noreply = proto_has_noreply(t, nt);
    const char *reply = line->noreply ? "" : BAD_FORMAT "\r\n";
    if (t[1].length > PROTO_KEY_MAX_LENGTH)
        return refuse(line, BAD_FORMAT, reply);
    int32_t vlen;
    if (!(proto_parse_u32(t[2].value, &line->flags) && proto_parse_i32(t[3].value, &line->exptime) &&
          proto_parse_i32(t[4].value, &vlen)))
        return refuse(line, BAD_FORMAT, reply);
    if (cas && !proto_parse_u64(t[5].value, &line->cas))
        return refuse(line, BAD_FORMAT, reply);
    if (!block_length_ok(vlen))
        return refuse(line, BAD_FORMAT, reply);
    line->block_len = (size_t)vlen;
    return PROTO_STORAGE_ACCEPT;
}

/* ms: an error here is memcached's out_errstring, which the q flag does not hide. */
static enum proto_storage_verdict ms_line(const struct proto_token *t, size_t nt,
                                          struct proto_storage_line *line)
{
    if (t[1].length > PROTO_KEY_MAX_LENGTH || nt == 3) /* (nt 3: no length token) */
        return refuse(line, BAD_FORMAT, BAD_FORMAT "\r\n");
    if (nt > META_MAX_TOKENS)
        return refuse(line, FLAGS_TOO_LONG, FLAGS_TOO_LONG "\r\n");
    int32_t vlen;
    if (!proto_parse_i32(t[2].value, &vlen) || !block_length_ok(vlen))
        return refuse(line, BAD_FORMAT, BAD_FORMAT "\r\n");
    line->block_len = (size_t)vlen;
    return PROTO_STORAGE_ACCEPT;
}

enum proto_storage_verdict proto_storage_line(enum proto_cmd cmd, const struct proto_token *tokens,
                                              size_t ntokens, struct proto_storage_line *line)
{
    memset(line, 0, sizeof *line);
    /* The counts proto_command demands, checked again so that a mismatched cmd cannot read
     * past the tokens. */
    bool classic_count = ntokens == 6 || ntokens == 7;
    bool cas_count = ntokens == 7 || ntokens == 8;
    switch (cmd) {
    case PROTO_CMD_SET:
    case PROTO_CMD_ADD:
    case PROTO_CMD_REPLACE:
    case PROTO_CMD_APPEND:
    case PROTO_CMD_PREPEND:
        if (!classic_count)
            return PROTO_STORAGE_NONE;
        break;
    case PROTO_CMD_CAS:
        if (!cas_count)
            return PROTO_STORAGE_NONE;
        break;
    case PROTO_CMD_MS:
        if (ntokens < 3)
            return PROTO_STORAGE_NONE;
        break;
    default:
        return PROTO_STORAGE_NONE;
    }
    line->key = tokens[1].value;
    line->key_len = tokens[1].length;
    if (cmd == PROTO_CMD_MS)
        return ms_line(tokens, ntokens, line);
    return classic_line(tokens, ntokens, cmd == PROTO_CMD_CAS, line);
}
