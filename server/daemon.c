#include "server/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

static char *pid_file_path; /* absolute; owned here */

int daemon_detach(bool keep_stderr)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "failed to daemon() in order to daemonize: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    if (pid > 0)
        _exit(0);
    if (setsid() < 0) {
        fprintf(stderr, "setsid: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    if (chdir("/") != 0) {
        fprintf(stderr, "chdir: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    int null = open("/dev/null", O_RDWR);
    if (null < 0) {
        fprintf(stderr, "open /dev/null: %s\n", strerror(errno));
        return EXIT_FAILURE;
    }
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    if (!keep_stderr)
        dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO)
        close(null);
    return 0;
}

int daemon_write_pid_file(const char *path)
{
    char abs[PATH_MAX];
    if (path[0] != '/') {
        if (!getcwd(abs, sizeof(abs)) || strlen(abs) + strlen(path) + 2 > sizeof(abs)) {
            fprintf(stderr, "Could not open the pid file %s for writing: %s\n", path,
                    strerror(ENAMETOOLONG));
            return EXIT_FAILURE;
        }
        strcat(abs, "/");
        strcat(abs, path);
    } else {
        snprintf(abs, sizeof(abs), "%s", path);
    }
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", abs);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        /* memcached carries on without the pid file; so does Shoal, with its message. */
        fprintf(stderr, "Could not open the pid file %s for writing: %s\n", tmp, strerror(errno));
        return 0;
    }
    fprintf(f, "%ld\n", (long)getpid());
    if (fclose(f) != 0 || rename(tmp, abs) != 0) {
        fprintf(stderr, "Could not save the pid file %s: %s\n", abs, strerror(errno));
        unlink(tmp);
        return 0;
    }
    free(pid_file_path);
    pid_file_path = strdup(abs);
    return 0;
}

void daemon_remove_pid_file(void)
{
    if (!pid_file_path)
        return;
    if (unlink(pid_file_path) != 0)
        fprintf(stderr, "Could not remove the pid file %s: %s\n", pid_file_path, strerror(errno));
    free(pid_file_path);
    pid_file_path = NULL;
}

int daemon_drop_root(const char *user)
{
    if (getuid() != 0 && geteuid() != 0)
        return 0;
    if (!user)
        return 0; /* Shoal allows root without -u; main warns at -v */
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "can't find the user %s to switch to\n", user);
        return EX_NOUSER;
    }
    /* The pid file was written as root: give it to the user, so that removing it at exit still
     * works in a sticky directory such as /tmp. */
    if (pid_file_path && chown(pid_file_path, pw->pw_uid, pw->pw_gid) != 0)
        fprintf(stderr, "Could not chown the pid file %s: %s\n", pid_file_path, strerror(errno));
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "failed to assume identity of user %s\n", user);
        return EX_OSERR;
    }
    return 0;
}

int daemon_raise_fd_limit(int maxconns, int reserved)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "failed to getrlimit number of files\n");
        return EX_OSERR;
    }
    rlim_t want = (rlim_t)maxconns + (rlim_t)reserved;
    if (rl.rlim_cur >= want)
        return 0;
    rl.rlim_cur = want;
    if (rl.rlim_max < want)
        rl.rlim_max = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        fprintf(stderr, "failed to set rlimit for open files. Try starting as root or requesting"
                        " smaller maxconns value.\n");
        return EX_OSERR;
    }
    return 0;
}

void daemon_enable_coredumps(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_CORE, &rl) != 0)
            fprintf(stderr, "failed to ensure corefile creation\n");
    }
}

void daemon_lock_memory(void)
{
    if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
        fprintf(stderr, "warning: -k invalid, mlockall() failed: %s\n", strerror(errno));
}
