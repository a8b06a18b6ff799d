/* MD5 as a key hash: ketama's "md5" mode reads the digest's first word little-endian. */
#include "cluster/route/hash/hash.h"
#include "cluster/route/hash/md5.h"

uint32_t hash_md5(const void *key, size_t len)
{
    unsigned char digest[MD5_DIGEST_LEN];
    md5_digest(key, len, digest);
    return md5_digest_word(digest, 0);
}
