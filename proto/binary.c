/* memcached's binary protocol header and request acceptance rules (see binary.h). */
#include "proto/binary.h"

#include <string.h>

uint32_t proto_bin_get32(const void *src)
{
    const uint8_t *p = src;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

uint64_t proto_bin_get64(const void *src)
{
    const uint8_t *p = src;
    return (uint64_t)proto_bin_get32(p) << 32 | proto_bin_get32(p + 4);
}

void proto_bin_put32(void *dst, uint32_t v)
{
    uint8_t *p = dst;
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

void proto_bin_put64(void *dst, uint64_t v)
{
    uint8_t *p = dst;
    proto_bin_put32(p, (uint32_t)(v >> 32));
    proto_bin_put32(p + 4, (uint32_t)v);
}

void proto_bin_decode(const void *src, struct proto_bin_header *h)
{
    const uint8_t *p = src;
    h->magic = p[0];
    h->opcode = p[1];
    h->keylen = (uint16_t)(p[2] << 8 | p[3]);
    h->extlen = p[4];
    h->datatype = p[5];
    h->status = (uint16_t)(p[6] << 8 | p[7]);
    h->bodylen = proto_bin_get32(p + 8);
    h->opaque = proto_bin_get32(p + 12);
    h->cas = proto_bin_get64(p + 16);
}

void proto_bin_encode(void *dst, const struct proto_bin_header *h)
{
    uint8_t *p = dst;
    p[0] = h->magic;
    p[1] = h->opcode;
    p[2] = (uint8_t)(h->keylen >> 8);
    p[3] = (uint8_t)h->keylen;
    p[4] = h->extlen;
    p[5] = h->datatype;
    p[6] = (uint8_t)(h->status >> 8);
    p[7] = (uint8_t)h->status;
    proto_bin_put32(p + 8, h->bodylen);
    proto_bin_put32(p + 12, h->opaque);
    proto_bin_put64(p + 16, h->cas);
}

void proto_bin_response(void *dst, const struct proto_bin_header *req, uint16_t status,
                        uint8_t extlen, uint16_t keylen, uint32_t bodylen, uint64_t cas)
{
    struct proto_bin_header h = {
        .magic = PROTO_BIN_RESPONSE,
        .opcode = req->opcode,
        .keylen = keylen,
        .extlen = extlen,
        .datatype = 0,
        .status = status,
        .bodylen = bodylen,
        .opaque = req->opaque,
        .cas = cas,
    };
    proto_bin_encode(dst, &h);
}

/* The loud form of a quiet opcode, or the opcode itself. */
static uint8_t loud_form(uint8_t op, bool *quiet)
{
    static const uint8_t quiet_to_loud[][2] = {
        {PROTO_BIN_SETQ, PROTO_BIN_SET},
        {PROTO_BIN_ADDQ, PROTO_BIN_ADD},
        {PROTO_BIN_REPLACEQ, PROTO_BIN_REPLACE},
        {PROTO_BIN_DELETEQ, PROTO_BIN_DELETE},
        {PROTO_BIN_INCREMENTQ, PROTO_BIN_INCREMENT},
        {PROTO_BIN_DECREMENTQ, PROTO_BIN_DECREMENT},
        {PROTO_BIN_QUITQ, PROTO_BIN_QUIT},
        {PROTO_BIN_FLUSHQ, PROTO_BIN_FLUSH},
        {PROTO_BIN_APPENDQ, PROTO_BIN_APPEND},
        {PROTO_BIN_PREPENDQ, PROTO_BIN_PREPEND},
        {PROTO_BIN_GETQ, PROTO_BIN_GET},
        {PROTO_BIN_GETKQ, PROTO_BIN_GETK},
        {PROTO_BIN_GATQ, PROTO_BIN_GAT},
        {PROTO_BIN_GATKQ, PROTO_BIN_GATK},
    };
    for (size_t i = 0; i < sizeof quiet_to_loud / sizeof quiet_to_loud[0]; i++)
        if (quiet_to_loud[i][0] == op) {
            *quiet = true;
            return quiet_to_loud[i][1];
        }
    *quiet = false;
    return op;
}

void proto_bin_check(const struct proto_bin_header *h, struct proto_bin_check *out)
{
    uint32_t body = h->bodylen, key = h->keylen, ext = h->extlen;
    memset(out, 0, sizeof *out);
    out->opcode = loud_form(h->opcode, &out->quiet);
    if (key > body || key + ext > body) {
        out->verdict = PROTO_BIN_BAD_LENGTHS;
        return;
    }
    if (key > PROTO_BIN_KEY_MAX) {
        out->verdict = PROTO_BIN_INVALID;
        return;
    }
    bool valid;
    out->verdict = PROTO_BIN_RUN;
    switch (out->opcode) {
    case PROTO_BIN_VERSION:
    case PROTO_BIN_NOOP:
    case PROTO_BIN_QUIT:
        valid = ext == 0 && key == 0 && body == 0;
        break;
    case PROTO_BIN_FLUSH:
        valid = key == 0 && body == ext && (ext == 0 || ext == 4);
        break;
    case PROTO_BIN_SET:
    case PROTO_BIN_ADD:
    case PROTO_BIN_REPLACE:
        valid = ext == 8 && key != 0 && body >= key + 8;
        out->value_len = (int32_t)(body - key - ext);
        break;
    case PROTO_BIN_GET:
    case PROTO_BIN_GETK:
        valid = ext == 0 && body == key && key > 0;
        break;
    case PROTO_BIN_DELETE:
        valid = key > 0 && ext == 0 && body == key;
        break;
    case PROTO_BIN_INCREMENT:
    case PROTO_BIN_DECREMENT:
        valid = key > 0 && ext == 20 && body == key + ext;
        break;
    case PROTO_BIN_APPEND:
    case PROTO_BIN_PREPEND:
        valid = key > 0 && ext == 0;
        out->value_len = (int32_t)(body - key);
        break;
    case PROTO_BIN_STAT:
        valid = ext == 0;
        break;
    case PROTO_BIN_TOUCH:
    case PROTO_BIN_GAT:
    case PROTO_BIN_GATK:
        valid = ext == 4 && key != 0;
        break;
    case PROTO_BIN_SASL_LIST_MECHS:
        valid = ext == 0 && key == 0 && body == 0;
        out->verdict = PROTO_BIN_UNKNOWN;
        break;
    case PROTO_BIN_SASL_AUTH:
    case PROTO_BIN_SASL_STEP:
        valid = ext == 0 && key != 0;
        out->verdict = PROTO_BIN_UNKNOWN;
        out->swallow = body - key;
        break;
    default:
        valid = true;
        out->verdict = PROTO_BIN_UNKNOWN;
        out->swallow = body;
        break;
    }
    if (!valid) {
        out->verdict = PROTO_BIN_INVALID;
        out->swallow = 0;
    }
}

const char *proto_bin_error_text(uint16_t status)
{
    switch (status) {
    case PROTO_BIN_ENOMEM: return "Out of memory";
    case PROTO_BIN_UNKNOWN_COMMAND: return "Unknown command";
    case PROTO_BIN_KEY_ENOENT: return "Not found";
    case PROTO_BIN_EINVAL: return "Invalid arguments";
    case PROTO_BIN_KEY_EEXISTS: return "Data exists for key.";
    case PROTO_BIN_E2BIG: return "Too large.";
    case PROTO_BIN_DELTA_BADVAL: return "Non-numeric server-side value for incr or decr";
    case PROTO_BIN_NOT_STORED: return "Not stored.";
    case PROTO_BIN_AUTH_ERROR: return "Auth failure.";
    default: return NULL;
    }
}
