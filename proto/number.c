#include "proto/number.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The character that ends a number must be the string's end or whitespace. */
static bool ends_number(const char *start, const char *end)
{
    return isspace((unsigned char)*end) || (*end == '\0' && end != start);
}

bool proto_parse_u32(const char *s, uint32_t *out)
{
    char *end;
    *out = 0;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end))
        return false;
    /* strtoul accepts "-1" as ULONG_MAX; refuse a sign only when the value wrapped. */
    if ((long)v < 0 && memchr(s, '-', (size_t)(end - s)) != NULL)
        return false;
    *out = (uint32_t)v;
    return true;
}

bool proto_parse_i32(const char *s, int32_t *out)
{
    char *end;
    *out = 0;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end))
        return false;
    *out = (int32_t)v;
    return true;
}

bool proto_parse_u64(const char *s, uint64_t *out)
{
    char *end;
    *out = 0;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE || end == s || !ends_number(s, end))
        return false;
    if ((long long)v < 0 && memchr(s, '-', (size_t)(end - s)) != NULL)
        return false;
    *out = (uint64_t)v;
    return true;
}

/* "00" to "99": two digits per division, since every VALUE line formats two or three numbers and
 * a digit per division showed in a get's profile (BENCHMARKS.md, "What this run says",
 * "Instructions per request"). */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899";

static int dec_length(uint64_t v)
{
    int n = 1;
    while (v >= 10000) {
        v /= 10000;
        n += 4;
    }
    return n + (v >= 10) + (v >= 100) + (v >= 1000);
}

int proto_u64_to_dec(uint64_t v, char *dst)
{
    int n = dec_length(v);
    char *p = dst + n;
    while (v >= 100) {
        unsigned pair = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, &digit_pairs[2 * pair], 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, &digit_pairs[2 * v], 2);
    } else {
        *--p = (char)('0' + v);
    }
    return n;
}

int proto_i64_to_dec(int64_t v, char *dst)
{
    if (v >= 0)
        return proto_u64_to_dec((uint64_t)v, dst);
    dst[0] = '-';
    return 1 + proto_u64_to_dec((uint64_t)0 - (uint64_t)v, dst + 1);
}
