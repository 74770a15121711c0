/*
 * daemon.h - what every postmeter daemon does to become one: detach,
 * write a pid file, hand files to its user and drop privileges.
 *
 * Each privilege step is checked and fatal on failure; a daemon never
 * runs on as root by accident.
 */
#ifndef POSTMETER_DAEMON_H
#define POSTMETER_DAEMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct daemon_user {
    uid_t uid;
    gid_t gid;
    char *name;
};

/* daemon_lookup_user - find user by name or die; caller frees name */
void daemon_lookup_user(const char *name, struct daemon_user *u);
/* daemon_detach - fork into the background, new session, stdio to /dev/null */
void daemon_detach(void);
/* daemon_write_pidfile - write our pid to path (no-op for "") or die */
void daemon_write_pidfile(const char *path);
/* daemon_remove_pidfile - remove path if it holds our pid */
void daemon_remove_pidfile(const char *path);
/*
 * daemon_give - if we are root and path exists: make it owned by u and
 * not accessible to others (0640 stays, 0644 becomes 0640), through a
 * descriptor (safefile_give), and say so in the log. False with a reason
 * in err when path is not a plain file or is reached through a symbolic
 * link someone else could have planted: then nothing was touched.
 */
bool daemon_give(const char *path, const struct daemon_user *u, char *err, size_t errlen);
/*
 * daemon_user_can - may u access path with amode (R_OK, W_OK, X_OK)?
 * Asked as u itself; true when that cannot be done (neither root nor u).
 */
bool daemon_user_can(const struct daemon_user *u, const char *path, int amode);
/*
 * daemon_drop_privileges - become u for good (setgroups, setresgid,
 * setresuid, then check nothing of root is left). First the process
 * gives up its controlling terminal (TIOCNOTTY), root's, which u could
 * otherwise type commands into (TIOCSTI); it stays in its process group
 * (Ctrl-C still reaches it). Dies if it leads its session and has a
 * controlling terminal: that cannot be given up without hanging up the
 * session. When not started as root, only warn if the current user
 * differs from u.
 */
void daemon_drop_privileges(const struct daemon_user *u);

/* The command line both daemons take: -c FILE -f -d -t -V -h. */
struct daemon_args {
    const char *config; /* -c, else CONFIG_DEFAULT_PATH */
    bool foreground;    /* -f */
    bool debug;         /* -d */
    bool check;         /* -t */
};

/*
 * daemon_args_parse - read the command line of the daemon called name into
 * a; -V prints the version and -h the usage and exit 0, a usage error
 * prints the usage and exits 2
 */
void daemon_args_parse(int argc, char **argv, const char *name, struct daemon_args *a);

#endif
