/*
 * status_probe.c - does postmeter-milter answer on its socket? One
 * milter option negotiation (SMFIC_OPTNEG, as an MTA starts), then
 * SMFIC_QUIT: the milter sees a connection that ends before a message.
 *
 * Bounded: one connection, one packet each way, a deadline for all of
 * it. Reads only the packet header it needs, never trusts the length.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libmilter/mfdef.h>

#include "status.h"
#include "util.h"

/* now_ms - monotonic milliseconds */
static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* put32 - v big-endian at p */
static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* wait_fd - poll fd for events until deadline (monotonic ms); false on timeout or error */
static bool wait_fd(int fd, short events, long long deadline)
{
    struct pollfd p = {.fd = fd, .events = events};

    for (;;) {
        long long left = deadline - now_ms();
        int n;

        if (left <= 0)
            return false;
        n = poll(&p, 1, (int)left);
        if (n > 0)
            return true;
        if (n < 0 && errno != EINTR)
            return false;
    }
}

/*
 * open_socket - a non-blocking socket connecting to spec; -1 with why.
 * inet: without an address, or with a wildcard one, means this host.
 */
static int open_socket(const char *spec, struct sockaddr_storage *sa, socklen_t *len, char *why,
                       size_t whylen)
{
    const char *colon = strchr(spec, ':');
    int fd;

    memset(sa, 0, sizeof(*sa));
    if (colon && (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0)) {
        struct sockaddr_un *un = (struct sockaddr_un *)sa;

        if (!strlcpy_ok(un->sun_path, colon + 1, sizeof(un->sun_path))) {
            snprintf_cut(why, whylen, "socket path too long");
            return -1;
        }
        un->sun_family = AF_UNIX;
        *len = sizeof(*un);
    } else if (colon && (strncmp(spec, "inet:", 5) == 0 || strncmp(spec, "inet6:", 6) == 0)) {
        bool six = spec[4] == '6';
        char *port = xstrdup(colon + 1), *at = strchr(port, '@');
        const char *host = at ? at + 1 : "";
        struct addrinfo hints = {.ai_family = six ? AF_INET6 : AF_INET,
                                 .ai_socktype = SOCK_STREAM,
                                 .ai_flags = AI_NUMERICSERV | AI_NUMERICHOST},
                        *res = NULL;
        int rc;

        if (at)
            *at = '\0';
        if (*host == '\0' || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 ||
            strcmp(host, "[::]") == 0 || strcmp(host, "localhost") == 0)
            host = six ? "::1" : "127.0.0.1";
        /* Numeric only: a name lookup could take longer than the probe may. */
        rc = getaddrinfo(host, port, &hints, &res);
        if (rc != 0 || res == NULL || res->ai_addrlen > sizeof(*sa)) {
            snprintf_cut(why, whylen, "cannot probe %s: %s (the probe takes addresses only)", host,
                         rc ? gai_strerror(rc) : "no address");
            free(port);
            if (res)
                freeaddrinfo(res);
            return -1;
        }
        free(port);
        memcpy(sa, res->ai_addr, res->ai_addrlen);
        *len = res->ai_addrlen;
        freeaddrinfo(res);
    } else {
        snprintf_cut(why, whylen, "not a socket postmeter-milter listens on");
        return -1;
    }
    if ((fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        snprintf_cut(why, whylen, "socket: %s", strerror(errno));
    return fd;
}

/* status_probe - one option negotiation with the milter at spec */
bool status_probe(const char *spec, unsigned timeout_ms, long long *ms, char *why, size_t whylen)
{
    struct sockaddr_storage sa;
    socklen_t len = 0;
    long long start = now_ms(), deadline = start + timeout_ms;
    unsigned char pkt[4 + 1 + 12], quit[5], got[5];
    size_t have = 0;
    int fd, err = 0;
    socklen_t errlen = sizeof(err);
    bool ok = false;

    *ms = 0;
    why[0] = '\0';
    if ((fd = open_socket(spec, &sa, &len, why, whylen)) < 0)
        return false;
    if (connect(fd, (struct sockaddr *)&sa, len) != 0 && errno != EINPROGRESS) {
        snprintf_cut(why, whylen, "connect: %s", strerror(errno));
        goto out;
    }
    if (!wait_fd(fd, POLLOUT, deadline) ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) != 0 || err != 0) {
        snprintf_cut(why, whylen, "connect: %s", err ? strerror(err) : "timed out");
        goto out;
    }
    /* what an MTA sends first: version 6, every action, every protocol step */
    put32(pkt, 1 + 12);
    pkt[4] = SMFIC_OPTNEG;
    put32(pkt + 5, SMFI_PROT_VERSION);
    put32(pkt + 9, 0x1ff);
    put32(pkt + 13, SMFI_CURR_PROT);
    if (send(fd, pkt, sizeof(pkt), MSG_NOSIGNAL) != (ssize_t)sizeof(pkt)) {
        snprintf_cut(why, whylen, "send: %s", strerror(errno));
        goto out;
    }
    while (have < sizeof(got)) {
        ssize_t n;

        if (!wait_fd(fd, POLLIN, deadline)) {
            snprintf_cut(why, whylen, "no answer to the option negotiation within %u ms",
                         timeout_ms);
            goto out;
        }
        n = recv(fd, got + have, sizeof(got) - have, 0);
        if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
            snprintf_cut(why, whylen, "connection closed before the option negotiation");
            goto out;
        }
        if (n > 0)
            have += (size_t)n;
    }
    if (got[4] != SMFIC_OPTNEG) {
        snprintf_cut(why, whylen, "answered '%c' to the option negotiation, not 'O'",
                     got[4] >= 0x20 && got[4] < 0x7f ? got[4] : '?');
        goto out;
    }
    ok = true;
    *ms = now_ms() - start;
    put32(quit, 1);
    quit[4] = SMFIC_QUIT;
    if (send(fd, quit, sizeof(quit), MSG_NOSIGNAL) < 0) {
        /* it answered; a close that beats the quit is harmless */
    }
out:
    close(fd);
    return ok;
}
