/*
 * daemon.c - detach, pid file, privilege drop.
 *
 * Every privilege step is checked and fatal when it fails (OpenSMTPD's
 * rule): a daemon that meant to drop root must not continue as root.
 * What root does to files here goes through safefile.c: the pid file's
 * and the database's directories may belong to the service user.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "safefile.h"
#include "util.h"

/* daemon_lookup_user - find user by name or die */
void daemon_lookup_user(const char *name, struct daemon_user *u)
{
    struct passwd *pw;

    errno = 0;
    if ((pw = getpwnam(name)) == NULL)
        die("user \"%s\" does not exist%s%s", name, errno ? ": " : "",
            errno ? strerror(errno) : "");
    u->uid = pw->pw_uid;
    u->gid = pw->pw_gid;
    u->name = xstrdup(name);
}

/* daemon_detach - fork into the background */
void daemon_detach(void)
{
    pid_t pid;
    int fd;

    if ((pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (setsid() < 0)
        die("setsid: %s", strerror(errno));
    if ((pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        die("chdir /: %s", strerror(errno));
    if ((fd = open("/dev/null", O_RDWR)) < 0)
        die("open /dev/null: %s", strerror(errno));
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
}

/*
 * daemon_write_pidfile - write our pid to path, atomically (a new file
 * with a random name renamed over it), so a reader never sees an empty or
 * half-written pid file. The directory may be the service user's: nothing
 * planted there (a symbolic link as the pid file or as a temporary name)
 * is followed.
 */
void daemon_write_pidfile(const char *path)
{
    char line[32], err[512];

    if (path == NULL || *path == '\0')
        return;
    if (!snprintf_ok(line, sizeof(line), "%ld\n", (long)getpid()))
        bug("daemon_write_pidfile: pid does not fit");
    if (!safefile_replace(path, line, strlen(line), 0644, err, sizeof(err)))
        die("cannot write pid file: %s", err);
}

/* daemon_remove_pidfile - remove path if it holds our pid */
void daemon_remove_pidfile(const char *path)
{
    FILE *fp;
    long pid = 0;

    if (path == NULL || *path == '\0' || (fp = fopen(path, "r")) == NULL)
        return;
    if (fscanf(fp, "%ld", &pid) == 1 && pid == (long)getpid() && unlink(path) != 0)
        warn("%s: cannot remove pid file: %s", path, strerror(errno));
    fclose(fp);
}

/* daemon_give - path, if it exists, to u and not readable by others, if we are root */
bool daemon_give(const char *path, const struct daemon_user *u, char *err, size_t errlen)
{
    char was[128];
    int rc;

    if (geteuid() != 0)
        return true;
    rc = safefile_give(path, u->uid, u->gid, S_IRWXO, was, sizeof(was), err, errlen);
    if (rc > 0)
        info("%s: now owned by %s, mode without access for others (it had %s)", path, u->name, was);
    return rc >= 0;
}

/*
 * daemon_user_can - may u access path with amode (access(2) bits)?
 * Asked as u itself: as root, a child process drops to u and asks. Not
 * root and not u: true, nobody can tell (start-up as root asks again).
 */
bool daemon_user_can(const struct daemon_user *u, const char *path, int amode)
{
    pid_t pid;
    int status;

    if (geteuid() != 0) /* only u's own answer can be had, and only as u */
        return geteuid() != u->uid || access(path, amode) == 0;
    fflush(NULL);
    if ((pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        daemon_drop_privileges(u);
        _exit(access(path, amode) == 0 ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* daemon_drop_privileges - become u for good */
void daemon_drop_privileges(const struct daemon_user *u)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;

    if (geteuid() != 0) {
        if (geteuid() != u->uid)
            warn("not started as root: running as uid %ld, not as %s", (long)geteuid(), u->name);
        return;
    }
    if (setgroups(1, &u->gid) != 0)
        die("setgroups: %s", strerror(errno));
    if (setresgid(u->gid, u->gid, u->gid) != 0)
        die("setresgid(%ld): %s", (long)u->gid, strerror(errno));
    if (setresuid(u->uid, u->uid, u->uid) != 0)
        die("setresuid(%ld): %s", (long)u->uid, strerror(errno));
    if (getresuid(&ruid, &euid, &suid) != 0 || getresgid(&rgid, &egid, &sgid) != 0)
        die("cannot check privileges: %s", strerror(errno));
    if (ruid != u->uid || euid != u->uid || suid != u->uid || rgid != u->gid || egid != u->gid ||
        sgid != u->gid)
        die("privileges were not dropped to %s", u->name);
    if (u->uid != 0 && setuid(0) == 0)
        die("could regain root after dropping privileges");
}
