#ifndef SHOAL_CRYPTO_HKDF_H
#define SHOAL_CRYPTO_HKDF_H
/* HKDF with HMAC-SHA-256 (RFC 5869): turns a secret into independent keys, so that a configured
 * secret is never used directly as a key. */
#include <stddef.h>
#include <stdint.h>

#define HKDF_SHA256_PRK_LEN 32
#define HKDF_SHA256_MAX_OKM (255 * 32)

/* PRK = HMAC(salt, ikm). A NULL or empty salt means 32 zero bytes, as the RFC says. */
void hkdf_sha256_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                         uint8_t prk[HKDF_SHA256_PRK_LEN]);

/* OKM of okm_len bytes from PRK and info. Returns 0, or -1 when okm_len > HKDF_SHA256_MAX_OKM. */
int hkdf_sha256_expand(const uint8_t prk[HKDF_SHA256_PRK_LEN], const uint8_t *info, size_t info_len,
                       uint8_t *okm, size_t okm_len);

/* Extract then expand. Returns 0, or -1 when okm_len > HKDF_SHA256_MAX_OKM. */
int hkdf_sha256(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                const uint8_t *info, size_t info_len, uint8_t *okm, size_t okm_len);

#endif
