#ifndef SHOAL_CRYPTO_SECRET_H
#define SHOAL_CRYPTO_SECRET_H
/* The cluster secret file (`--cluster-secret-file FILE`). Format, see cluster/gossip/crypto/README.md:
 * one or two lines, each a secret written in hex (32..128 hex digits = 16..64 bytes); the first is
 * the current secret (used to send and receive), the optional second the previous one (accepted
 * on receive during a key rotation). Blank lines and lines starting with '#' are ignored.
 * The file must be a regular file without any permission for "other" users (mode & 007 == 0). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_MIN_LEN 16
#define SECRET_MAX_LEN 64
#define SECRET_FILE_MAX 4096    /* larger files are refused */

struct cluster_secret {
    uint8_t bytes[SECRET_MAX_LEN];
    size_t len;
};

struct cluster_secrets {
    struct cluster_secret current;
    struct cluster_secret previous;     /* valid when has_previous */
    bool has_previous;
    bool group_accessible;              /* file mode grants group access: caller should warn */
};

/* Reads and parses path. Returns 0, or -1 with a one-line reason in err (err_len bytes). */
int cluster_secrets_load(const char *path, struct cluster_secrets *out, char *err, size_t err_len);

/* Parses the file's contents (no permission checks). Returns 0, or -1 with a reason in err. */
int cluster_secrets_parse(const char *text, size_t len, struct cluster_secrets *out,
                          char *err, size_t err_len);

/* Wipes the secrets from memory. */
void cluster_secrets_wipe(struct cluster_secrets *secrets);

#endif
