/*
 * config_check.c - checks of single configuration values, named by the
 * key table in config.c (see config_check.h).
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config_check.h"
#include "netaddr.h"
#include "track.h"
#include "util.h"

/* check_base_url - empty, or an http(s) URL safe in an HTML attribute */
bool config_check_base_url(const char *v, struct buf *why)
{
    return *v == '\0' || track_base_url_ok(v, why);
}

/* check_track_pattern - an address or @domain */
bool config_check_track_pattern(const char *v, struct buf *why)
{
    char *p = track_pattern_normalize(v, why);

    free(p);
    return p != NULL;
}

/* check_nonempty - the value must not be empty */
bool config_check_nonempty(const char *v, struct buf *why)
{
    if (*v == '\0') {
        buf_puts(why, "must not be empty");
        return false;
    }
    return true;
}

/* check_absolute - the value must be an absolute path */
bool config_check_absolute(const char *v, struct buf *why)
{
    if (v[0] != '/') {
        buf_printf(why, "\"%s\" is not an absolute path", v);
        return false;
    }
    return true;
}

/* check_net_or_domain - an address, ADDRESS/PREFIX, or a domain name */
bool config_check_net_or_domain(const char *v, struct buf *why)
{
    struct cidr cidr;
    size_t n = strlen(v);

    if (cidr_parse(v, &cidr))
        return true;
    if (n > 0 && n <= 253 && v[0] != '.' && v[0] != '-' &&
        strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") == n &&
        strstr(v, "..") == NULL && strchr(v, '.') != NULL)
        return true;
    buf_printf(why, "\"%s\" is neither a network (ADDRESS[/PREFIX]) nor a domain name", v);
    return false;
}

/* check_port - "1".."65535" */
static bool check_port(const char *p)
{
    char *end;
    unsigned long port;

    if (*p < '0' || *p > '9')
        return false;
    errno = 0;
    port = strtoul(p, &end, 10);
    return errno == 0 && *end == '\0' && port >= 1 && port <= 65535;
}

/* check_socket - libmilter socket syntax we support */
bool config_check_socket(const char *v, struct buf *why)
{
    if (strncmp(v, "unix:", 5) == 0 || strncmp(v, "local:", 6) == 0) {
        const char *path = strchr(v, ':') + 1;

        if (path[0] != '/') {
            buf_puts(why, "unix socket path must be absolute");
            return false;
        }
        return true;
    }
    if (strncmp(v, "inet:", 5) == 0 || strncmp(v, "inet6:", 6) == 0) {
        char *copy = xstrdup(strchr(v, ':') + 1), *at = strchr(copy, '@');
        bool ok;

        if (at)
            *at = '\0';
        ok = check_port(copy);
        free(copy);
        if (!ok)
            buf_puts(why, "expected inet:PORT@ADDRESS with PORT 1..65535");
        return ok;
    }
    buf_puts(why, "expected unix:PATH or inet:PORT@ADDRESS");
    return false;
}

/* check_dns_server - ADDR or ADDR@PORT with a literal address */
bool config_check_dns_server(const char *v, struct buf *why)
{
    char *copy = xstrdup(v), *at = strchr(copy, '@');
    struct netaddr a;
    bool ok = true;

    if (at) {
        *at = '\0';
        ok = check_port(at + 1);
    }
    ok = ok && netaddr_parse(copy, &a);
    free(copy);
    if (!ok)
        buf_printf(why, "\"%s\" is not ADDRESS[@PORT] with a literal IP address", v);
    return ok;
}

/* check_net - an address or ADDRESS/PREFIX */
bool config_check_net(const char *v, struct buf *why)
{
    struct cidr cidr;

    if (cidr_parse(v, &cidr))
        return true;
    buf_printf(why, "\"%s\" is not an address or ADDRESS/PREFIX network", v);
    return false;
}

/* config_parse_listen - ADDR:PORT or [ADDR6]:PORT */
bool config_parse_listen(const char *v, struct netaddr *a, unsigned *port)
{
    const char *colon = strrchr(v, ':');
    char host[NETADDR_STRLEN + 2];
    size_t n;

    if (colon == NULL || !check_port(colon + 1) || (n = (size_t)(colon - v)) >= sizeof(host))
        return false;
    memcpy(host, v, n);
    host[n] = '\0';
    if (v[0] == '[') { /* [ADDR6]:PORT */
        if (n < 3 || host[n - 1] != ']')
            return false;
        host[n - 1] = '\0';
        if (!netaddr_parse(host + 1, a) || strchr(host + 1, ':') == NULL)
            return false;
    } else if (!netaddr_parse(host, a) || a->family != AF_INET || strchr(host, ':') != NULL)
        return false; /* an IPv6 address needs its brackets */
    *port = (unsigned)strtoul(colon + 1, NULL, 10);
    return true;
}

/* check_listen - ADDR:PORT or [ADDR6]:PORT */
bool config_check_listen(const char *v, struct buf *why)
{
    struct netaddr a;
    unsigned port;

    if (config_parse_listen(v, &a, &port))
        return true;
    buf_printf(why, "\"%s\" is not ADDRESS:PORT or [IPV6-ADDRESS]:PORT with a literal address", v);
    return false;
}
