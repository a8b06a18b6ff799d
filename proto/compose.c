#include "proto/compose.h"

#include <string.h>

#include "proto/base64.h"
#include "proto/number.h"

size_t proto_value_header(char *dst, const char *key, size_t nkey, uint32_t flags,
                          uint32_t nbytes, bool with_cas, uint64_t cas)
{
    char *p = dst;
    memcpy(p, "VALUE ", 6);
    p += 6;
    memcpy(p, key, nkey);
    p += nkey;
    *p++ = ' ';
    p += proto_u64_to_dec(flags, p);
    *p++ = ' ';
    p += proto_u64_to_dec(nbytes, p);
    if (with_cas) {
        *p++ = ' ';
        p += proto_u64_to_dec(cas, p);
    }
    *p++ = '\r';
    *p++ = '\n';
    return (size_t)(p - dst);
}

size_t proto_meta_key(char *dst, const char *key, size_t nkey, bool binary)
{
    char *p = dst;
    *p++ = ' ';
    *p++ = 'k';
    if (!binary) {
        memcpy(p, key, nkey);
        p += nkey;
    } else {
        p += proto_base64_encode((const unsigned char *)key, nkey, p, PROTO_META_KEY_MAX - 4);
        *p++ = ' ';
        *p++ = 'b';
    }
    return (size_t)(p - dst);
}

size_t proto_meta_u64(char *dst, char flag, uint64_t v)
{
    dst[0] = ' ';
    dst[1] = flag;
    return 2 + (size_t)proto_u64_to_dec(v, dst + 2);
}
