/*
 * listen.c - the tracker's listening sockets, made as root before the
 * privileges go (a port below 1024 needs it), one per tracker_listen
 * entry. An IPv6 socket takes IPv6 only (IPV6_V6ONLY): "[::]:80" and
 * "0.0.0.0:80" can both be listed.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config_check.h"
#include "log.h"
#include "tracker.h"
#include "util.h"

#define LISTEN_BACKLOG 1024

/* listen_one - bind and listen on spec or die */
static int listen_one(const char *spec)
{
    struct sockaddr_storage ss;
    struct netaddr a;
    unsigned port;
    socklen_t len;
    int fd, one = 1;

    if (!config_parse_listen(spec, &a, &port))
        bug("tracker_listen \"%s\" passed the config check", spec);
    memset(&ss, 0, sizeof(ss));
    if (a.family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        memcpy(&sin->sin_addr, a.addr, 4);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        memcpy(&sin6->sin6_addr, a.addr, 16);
        len = sizeof(*sin6);
    }
    fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        die("tracker_listen = %s: socket: %s", spec, strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (a.family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0))
        die("tracker_listen = %s: setsockopt: %s", spec, strerror(errno));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        die("tracker_listen = %s: bind: %s", spec, strerror(errno));
    if (listen(fd, LISTEN_BACKLOG) != 0)
        die("tracker_listen = %s: listen: %s", spec, strerror(errno));
    return fd;
}

/* listen_open - a socket per entry */
int *listen_open(char *const *listen, size_t *n)
{
    int *fds;

    for (*n = 0; listen && listen[*n]; (*n)++)
        ;
    if (*n == 0)
        die("tracker_listen is empty: nowhere to serve the pixel");
    fds = xcalloc(*n, sizeof(*fds));
    for (size_t i = 0; i < *n; i++)
        fds[i] = listen_one(listen[i]);
    return fds;
}
