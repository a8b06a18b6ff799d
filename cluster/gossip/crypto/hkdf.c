/* HKDF-SHA-256 per RFC 5869 section 2. */
#include "cluster/gossip/crypto/hkdf.h"

#include <string.h>

#include "cluster/gossip/crypto/ct.h"
#include "cluster/gossip/crypto/hmac_sha256.h"

void hkdf_sha256_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                         uint8_t prk[HKDF_SHA256_PRK_LEN])
{
    static const uint8_t zero_salt[HMAC_SHA256_LEN];
    if (salt == NULL || salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    hmac_sha256(salt, salt_len, ikm, ikm_len, prk);
}

int hkdf_sha256_expand(const uint8_t prk[HKDF_SHA256_PRK_LEN], const uint8_t *info, size_t info_len,
                       uint8_t *okm, size_t okm_len)
{
    if (okm_len > HKDF_SHA256_MAX_OKM)
        return -1;
    /* T(i) = HMAC(PRK, T(i-1) | info | i), OKM = T(1) | T(2) | ... truncated. */
    uint8_t t[HMAC_SHA256_LEN];
    size_t t_len = 0;
    for (uint8_t i = 1; okm_len > 0; i++) {
        struct hmac_sha256_ctx ctx;
        hmac_sha256_init(&ctx, prk, HKDF_SHA256_PRK_LEN);
        hmac_sha256_update(&ctx, t, t_len);
        if (info_len > 0)
            hmac_sha256_update(&ctx, info, info_len);
        hmac_sha256_update(&ctx, &i, 1);
        hmac_sha256_final(&ctx, t);
        t_len = sizeof(t);
        size_t take = okm_len < t_len ? okm_len : t_len;
        memcpy(okm, t, take);
        okm += take;
        okm_len -= take;
    }
    ct_wipe(t, sizeof(t));
    return 0;
}

int hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len)
{
    if (okm_len > HKDF_SHA256_MAX_OKM)
        return -1;
    uint8_t prk[HKDF_SHA256_PRK_LEN];
    hkdf_sha256_extract(salt, salt_len, ikm, ikm_len, prk);
    int rc = hkdf_sha256_expand(prk, info, info_len, okm, okm_len);
    ct_wipe(prk, sizeof(prk));
    return rc;
}
