#ifndef SHOAL_DAEMON_H
#define SHOAL_DAEMON_H
/* Process plumbing: -d, -P, -u, -r, -k and the descriptor limit for -c. Each returns 0, or the
 * exit code to stop with after printing memcached's message on stderr. */
#include <stdbool.h>

/* Forks into the background and detaches from the terminal; the parent exits 0. Keeps stderr
 * when verbose (as memcached does), otherwise points stdio at /dev/null. */
int daemon_detach(bool keep_stderr);
/* Writes the pid to path (through path.tmp and rename). The path is remembered, absolute, for
 * daemon_remove_pid_file. */
int daemon_write_pid_file(const char *path);
void daemon_remove_pid_file(void);
/* As root, becomes user (-u). Not root: nothing to do. */
int daemon_drop_root(const char *user);
/* Raises RLIMIT_NOFILE to cover maxconns plus the server's own descriptors. */
int daemon_raise_fd_limit(int maxconns, int reserved);
/* -r: core files as large as allowed. */
void daemon_enable_coredumps(void);
/* -k: lock all memory; a failure is a warning, as in memcached. */
void daemon_lock_memory(void);

#endif
