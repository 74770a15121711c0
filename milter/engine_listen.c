/*
 * engine_listen.c - postmeter-milter's listening socket: the socket
 * specs, a unix socket's file (a stale one replaced, a live one or a
 * file that is not a socket left alone). See engine.h. Must never remove
 * a file that is not a socket, nor connect as root to a socket a link
 * swapped into the socket's directory names (it may be the service
 * user's): the stale-socket probe reaches the file through the
 * directory's descriptor and connects to that inode, without blocking.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine.h"
#include "engine_int.h"
#include "log.h"
#include "safefile.h"
#include "util.h"

#define LISTEN_BACKLOG 256

/*
 * probe - is someone listening on the socket file sock (an O_PATH
 * descriptor)? 1 yes, 0 nobody (stale), -1 cannot tell (reason in
 * err). Connects to the very inode through /proc/self/fd, never to a
 * name the directory's owner could have swapped for a link to another
 * socket, and without blocking: a listener whose queue is full
 * (EAGAIN) is a live one too, however long it would take to accept.
 */
static int probe(int sock, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd, rc, e;

    if (!snprintf_ok(sun.sun_path, sizeof(sun.sun_path), "/proc/self/fd/%d", sock))
        bug("probe: /proc path does not fit");
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
        snprintf_cut(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
    e = errno;
    close(fd);
    if (rc == 0 || e == EAGAIN || e == EINPROGRESS) {
        snprintf_cut(err, errlen, "%s: another process listens on it%s", path,
                     rc == 0 ? "" : " (its queue is full)");
        return 1;
    }
    if (e == ECONNREFUSED)
        return 0;
    snprintf_cut(err, errlen, "%s: cannot tell whether it is in use (%s): not removed", path,
                 strerror(e));
    return -1;
}

/*
 * clear_stale - path's directory may be the service user's (this runs as
 * root): reach the file through the directory's descriptor, never
 * following a link; leave anything that is not a socket, or a socket
 * someone answers on; remove a stale socket by that name only if it is
 * still the inode probed. True if path is free now.
 */
static bool clear_stale(const char *path, char *err, size_t errlen)
{
    const char *base = NULL;
    struct stat st, now;
    int dfd, sock, rc;

    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return errno == ENOENT; /* bind says what is missing */
    if ((sock = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        rc = errno;
        close(dfd);
        if (rc == ENOENT)
            return true;
        snprintf_cut(err, errlen, "%s: %s", path, strerror(rc));
        return false;
    }
    if (fstat(sock, &st) != 0 || !S_ISSOCK(st.st_mode)) {
        snprintf_cut(err, errlen, "%s exists and is not a socket (not removed)", path);
        rc = 1;
    } else if ((rc = probe(sock, path, err, errlen)) == 0) {
        if (fstatat(dfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
            now.st_ino != st.st_ino) {
            snprintf_cut(err, errlen, "%s changed while it was probed (not removed)", path);
            rc = 1;
        } else if (unlinkat(dfd, base, 0) != 0) {
            snprintf_cut(err, errlen, "%s: cannot remove the stale socket: %s", path,
                         strerror(errno));
            rc = 1;
        }
    }
    close(sock);
    close(dfd);
    return rc == 0;
}

/* listen_unix - a unix socket at path with the given mode */
static bool listen_unix(struct engine *e, const char *path, unsigned mode, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    mode_t old;
    int rc;

    if (path[0] != '/' || strlen(path) >= sizeof(sun.sun_path)) {
        snprintf_cut(err, errlen, "a unix socket needs an absolute path of at most %zu bytes",
                     sizeof(sun.sun_path) - 1);
        return false;
    }
    strcpy(sun.sun_path, path);
    if ((e->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf_cut(err, errlen, "socket: %s", strerror(errno));
        return false;
    }
    /* someone answering on it: in use; nobody: stale, replace it */
    if (!clear_stale(path, err, errlen))
        return false;
    old = umask(0777 & ~mode);
    rc = bind(e->fd, (struct sockaddr *)&sun, sizeof(sun));
    umask(old);
    if (rc != 0) {
        snprintf_cut(err, errlen, "bind %s: %s (does its directory exist?)", path, strerror(errno));
        return false;
    }
    e->path = xstrdup(path);
    return true;
}

/* listen_inet - PORT[@HOST] for family AF_INET or AF_INET6 */
static bool listen_inet(struct engine *e, const char *arg, int family, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_family = family,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE},
                    *res = NULL;
    char *port = xstrdup(arg), *host = strchr(port, '@');
    char *end;
    unsigned long pn;
    int rc, one = 1;

    if (host)
        *host++ = '\0';
    pn = strtoul(port, &end, 10);
    if (port[0] == '\0' || *end || pn == 0 || pn > 65535 || (host && host[0] == '\0')) {
        snprintf_cut(err, errlen, "want PORT or PORT@HOST (port 1-65535)");
        free(port);
        return false;
    }
    if ((rc = getaddrinfo(host, port, &hints, &res)) != 0) {
        snprintf_cut(err, errlen, "%s: %s", host ? host : "any address", gai_strerror(rc));
        free(port);
        return false;
    }
    free(port);
    e->fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (e->fd < 0 || setsockopt(e->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(e->fd, res->ai_addr, res->ai_addrlen) != 0) {
        snprintf_cut(err, errlen, "%s", strerror(errno));
        freeaddrinfo(res);
        return false;
    }
    freeaddrinfo(res);
    e->tcp = true;
    return true;
}

/* engine_listen - create, bind, listen */
struct engine *engine_listen(const char *spec, unsigned mode, char *err, size_t errlen)
{
    struct engine *e = engine_new();
    bool ok;

    if (strncmp(spec, "unix:", 5) == 0)
        ok = listen_unix(e, spec + 5, mode, err, errlen);
    else if (strncmp(spec, "local:", 6) == 0)
        ok = listen_unix(e, spec + 6, mode, err, errlen);
    else if (strncmp(spec, "inet:", 5) == 0)
        ok = listen_inet(e, spec + 5, AF_INET, err, errlen);
    else if (strncmp(spec, "inet6:", 6) == 0)
        ok = listen_inet(e, spec + 6, AF_INET6, err, errlen);
    else {
        snprintf_cut(err, errlen, "want unix:PATH, inet:PORT@HOST or inet6:PORT@HOST");
        ok = false;
    }
    if (ok && listen(e->fd, LISTEN_BACKLOG) != 0) {
        snprintf_cut(err, errlen, "listen: %s", strerror(errno));
        ok = false;
    }
    if (ok && pipe2(e->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf_cut(err, errlen, "pipe: %s", strerror(errno));
        ok = false;
    }
    if (!ok) {
        if (e->path)
            unlink(e->path);
        engine_free(e);
        return NULL;
    }
    return e;
}

const char *engine_path(const struct engine *e)
{
    return e->path;
}
