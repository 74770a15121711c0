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
/* daemon_give - chown path to u if it exists and we are root; warn on failure */
void daemon_give(const char *path, const struct daemon_user *u);
/*
 * daemon_drop_privileges - become u for good (setgroups, setresgid,
 * setresuid, then check nothing of root is left). When not started as
 * root, only warn if the current user differs from u.
 */
void daemon_drop_privileges(const struct daemon_user *u);

#endif
