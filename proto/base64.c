#include "proto/base64.h"

#include <stdbool.h>
#include <stdint.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t proto_base64_encode(const unsigned char *src, size_t n, char *dst, size_t dstlen)
{
    size_t need = 4 * ((n + 2) / 3);
    if (need > dstlen)
        return 0;
    size_t o = 0;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
        dst[o++] = alphabet[v >> 18 & 63];
        dst[o++] = alphabet[v >> 12 & 63];
        dst[o++] = alphabet[v >> 6 & 63];
        dst[o++] = alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)src[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)src[i + 1] << 8;
        dst[o++] = alphabet[v >> 18 & 63];
        dst[o++] = alphabet[v >> 12 & 63];
        dst[o++] = (i + 1 < n) ? alphabet[v >> 6 & 63] : '=';
        dst[o++] = '=';
    }
    return o;
}

/* 0..63 for alphabet characters, 64 for '=', -1 for anything else. */
static int sextet(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    if (c == '=') return 64;
    return -1;
}

size_t proto_base64_decode(const char *src, size_t n, unsigned char *dst, size_t dstlen)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        if (sextet((unsigned char)src[i]) >= 0)
            count++;
    if (count == 0 || count % 4 != 0)
        return 0;

    size_t o = 0;
    int quad[4];
    int have = 0;
    int pad = 0;
    for (size_t i = 0; i < n; i++) {
        int v = sextet((unsigned char)src[i]);
        if (v < 0)
            continue;
        if (v == 64) {
            pad++;
            v = 0;
        }
        quad[have++] = v;
        if (have < 4)
            continue;
        have = 0;
        if (pad > 2)
            return 0;
        size_t bytes = 3 - (size_t)pad;
        if (o + bytes > dstlen)
            return 0;
        uint32_t w = (uint32_t)quad[0] << 18 | (uint32_t)quad[1] << 12 | (uint32_t)quad[2] << 6 |
                     (uint32_t)quad[3];
        dst[o++] = (unsigned char)(w >> 16);
        if (bytes > 1)
            dst[o++] = (unsigned char)(w >> 8);
        if (bytes > 2)
            dst[o++] = (unsigned char)w;
        if (pad)
            break; /* padding ends the data */
    }
    return o;
}
