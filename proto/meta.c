#include "proto/meta.h"

#include "proto/base64.h"
#include "proto/number.h"

/* Parses an exptime-like flag value. */
static bool flag_i32(const struct proto_token *t, int32_t *out)
{
    return proto_parse_i32(t->value + 1, out);
}

int meta_parse_flags(struct proto_token *tokens, size_t start, struct meta_flags *f,
                     const char **err)
{
    static const char bad_token[] = "CLIENT_ERROR bad token in command line format";
    unsigned char seen[127] = {0};
    bool failed = false;

    for (size_t i = start; tokens[i].length != 0; i++) {
        const struct proto_token *t = &tokens[i];
        unsigned char o = (unsigned char)t->value[0];
        if (o >= 127 || seen[o]) {
            *err = "CLIENT_ERROR duplicate flag";
            return -1;
        }
        seen[o] = 1;
        switch (o) {
        case 'b': {
            struct proto_token *key = &tokens[1];
            size_t n = proto_base64_decode(key->value, key->length, (unsigned char *)key->value,
                                           key->length);
            if (n == 0) {
                *err = "CLIENT_ERROR error decoding key";
                failed = true;
            }
            key->length = n;
            f->key_binary = true;
            break;
        }
        case 'N':
            f->locked = f->vivify = true;
            if (!flag_i32(t, &f->autoviv_exptime)) {
                *err = bad_token;
                failed = true;
            }
            break;
        case 'T':
            f->locked = true;
            if (!flag_i32(t, &f->exptime)) {
                *err = bad_token;
                failed = true;
            } else {
                f->new_ttl = true;
            }
            break;
        case 'R':
            f->locked = true;
            if (!flag_i32(t, &f->recache_time)) {
                *err = bad_token;
                failed = true;
            }
            break;
        case 'l':
            f->la = f->locked = true;
            break;
        case 'O': case 'P': case 'L':
        case 'k': case 's': case 't': case 'c': case 'f':
            break;
        case 'v':
            f->value = true;
            break;
        case 'h':
            f->locked = true;
            break;
        case 'u':
            f->no_update = true;
            break;
        case 'q':
            f->no_reply = true;
            break;
        case 'F':
            /* memcached leaves the error line at its default here. */
            if (!proto_parse_u32(t->value + 1, &f->client_flags))
                failed = true;
            break;
        case 'C':
            if (!proto_parse_u64(t->value + 1, &f->req_cas_id)) {
                *err = bad_token;
                failed = true;
            } else {
                f->has_cas = true;
            }
            break;
        case 'E':
            if (!proto_parse_u64(t->value + 1, &f->new_cas)) {
                *err = bad_token;
                failed = true;
            } else {
                f->has_new_cas = true;
            }
            break;
        case 'M':
            if (t->length != 2) {
                *err = "CLIENT_ERROR incorrect length for M token";
                failed = true;
            } else {
                f->mode = t->value[1];
            }
            break;
        case 'J':
            if (!proto_parse_u64(t->value + 1, &f->initial)) {
                *err = "CLIENT_ERROR invalid numeric initial value";
                failed = true;
            }
            break;
        case 'D':
            if (!proto_parse_u64(t->value + 1, &f->delta)) {
                *err = "CLIENT_ERROR invalid numeric delta value";
                failed = true;
            }
            break;
        case 'I':
            f->set_stale = true;
            break;
        default:
            *err = "CLIENT_ERROR invalid flag";
            return -1;
        }
    }
    return failed ? -1 : 0;
}
