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

int proto_u64_to_dec(uint64_t v, char *dst)
{
    char tmp[20];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (int i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}

int proto_i64_to_dec(int64_t v, char *dst)
{
    if (v >= 0)
        return proto_u64_to_dec((uint64_t)v, dst);
    dst[0] = '-';
    return 1 + proto_u64_to_dec((uint64_t)0 - (uint64_t)v, dst + 1);
}
