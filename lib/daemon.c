/*
 * daemon.c - detach, pid file, privilege drop.
 *
 * Every privilege step is checked and fatal when it fails (OpenSMTPD's
 * rule): a daemon that meant to drop root must not continue as root.
 * What root does to files here goes through safefile.c: the pid file's
 * and the database's directories may belong to the service user.
 */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
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

/* open_tty - our controlling terminal (close it), -1 if we have none; dies if we cannot tell */
static int open_tty(void)
{
    int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);

    if (fd < 0 && errno != ENXIO)
        die("cannot tell whether we have a controlling terminal: /dev/tty: %s", strerror(errno));
    return fd;
}

/*
 * drop_tty - give up our controlling terminal before becoming u: the
 * terminal is root's (the shell that started us reads it), and whoever
 * has a terminal as controlling terminal can push input into it with
 * ioctl(TIOCSTI), which the shell then runs as root. Only the process
 * forgets the terminal (TIOCNOTTY of a process that does not lead its
 * session): its descriptors still write to it and it stays in its
 * process group, so Ctrl-C still stops it. A session leader cannot do
 * that without hanging up the whole session: refused.
 */
static void drop_tty(const struct daemon_user *u)
{
    int fd = open_tty();
    const char *name;

    if (fd < 0)
        return;
    if (getsid(0) == getpid()) {
        name = ttyname(fd);
        die("will not run as %s with the terminal %s: this process leads its session, so it "
            "cannot give the terminal up, and %s could type commands into it; start it from "
            "a shell (not with exec), or without a terminal (setsid)",
            u->name, name ? name : "/dev/tty", u->name);
    }
    if (ioctl(fd, TIOCNOTTY) != 0)
        die("cannot give up the controlling terminal (TIOCNOTTY): %s", strerror(errno));
    close(fd);
    if ((fd = open_tty()) >= 0)
        die("the controlling terminal is still ours after TIOCNOTTY");
}

/* daemon_drop_privileges - become u for good, without a controlling terminal */
void daemon_drop_privileges(const struct daemon_user *u)
{
    uid_t ruid, euid, suid;
    gid_t rgid, egid, sgid;

    if (geteuid() != 0) {
        if (geteuid() != u->uid)
            warn("not started as root: running as uid %ld, not as %s", (long)geteuid(), u->name);
        return;
    }
    drop_tty(u);
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

/* usage - how to call the daemon called name; exits with status */
__attribute__((noreturn)) static void usage(const char *name, int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [-c FILE] [-f] [-d] [-t] [-V]\n"
            "  -c FILE  configuration file (default %s)\n"
            "  -f       stay in the foreground, log to stderr\n"
            "  -d       log debug detail\n"
            "  -t       check the configuration, print the effective values, exit\n"
            "  -V       print the version and exit\n",
            name, CONFIG_DEFAULT_PATH);
    exit(status);
}

/* daemon_args_parse - the daemons' command line into a (see daemon.h) */
void daemon_args_parse(int argc, char **argv, const char *name, struct daemon_args *a)
{
    int ch;

    *a = (struct daemon_args){.config = CONFIG_DEFAULT_PATH};
    while ((ch = getopt(argc, argv, "c:fdtVh")) != -1) {
        switch (ch) {
        case 'c':
            a->config = optarg;
            break;
        case 'f':
            a->foreground = true;
            break;
        case 'd':
            a->debug = true;
            break;
        case 't':
            a->check = true;
            break;
        case 'V':
            printf("%s %s\n", name, POSTMETER_VERSION);
            exit(0);
        case 'h':
            usage(name, 0);
        default:
            usage(name, 2);
        }
    }
    if (optind != argc)
        usage(name, 2);
}
