/*
 * request.c - what a pixel request is made of, apart from HTTP: which
 * route its path asks for, whether its token is well-formed, who the
 * client is (trusted_proxies, X-Forwarded-For) and what of the client's
 * address and agent is kept.
 *
 * Everything here is linear in the request's bytes, which the server's
 * header size limit bounds, and allocates nothing. It must never decide
 * anything from whether a token is known: that is the writer's business,
 * after the answer went out. Whether a token's tag is right (a token a
 * postmeter host made) is decided here, from the token and the key
 * alone.
 */
#include <string.h>

#include "log.h"
#include "track.h"
#include "tracker.h"
#include "util.h"

/* tracker_token_ok - TRACK_TOKEN_LEN base64url characters (track.h) */
bool tracker_token_ok(const char *s, size_t n)
{
    return track_token_wellformed(s, n);
}

/* tracker_token_verdict - valid, forged, or not checkable yet */
enum tracker_token tracker_token_verdict(const struct track_key *key, const char *token, size_t n)
{
    if (key == NULL)
        return TOKEN_UNVERIFIED;
    return track_token_valid(key, token, n) ? TOKEN_VALID : TOKEN_FORGED;
}

/* tracker_route - what the path asks for */
enum tracker_route tracker_route(const char *prefix, const char *url, const char **token)
{
    size_t n = strlen(prefix), len;
    const char *rest;

    *token = NULL;
    if (strcmp(url, "/healthz") == 0)
        return ROUTE_HEALTHZ;
    if (strcmp(url, "/metrics") == 0)
        return ROUTE_METRICS;
    if (strncmp(url, prefix, n) != 0 || (url[n] != '/' && url[n] != '\0'))
        return ROUTE_NOT_FOUND;
    rest = url + n;
    len = strlen(rest);
    if (len == 3 + TRACK_TOKEN_LEN + 4 && strncmp(rest, "/o/", 3) == 0 &&
        strcmp(rest + 3 + TRACK_TOKEN_LEN, ".gif") == 0 &&
        tracker_token_ok(rest + 3, TRACK_TOKEN_LEN)) {
        *token = rest + 3;
        return ROUTE_PIXEL;
    }
    return ROUTE_BLANK;
}

/* parse_hop - one X-Forwarded-For entry p[0..n) (white space around allowed) */
static bool parse_hop(const char *p, size_t n, struct netaddr *out)
{
    char text[NETADDR_STRLEN];

    while (n > 0 && (*p == ' ' || *p == '\t'))
        p++, n--;
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    if (n == 0 || n >= sizeof(text))
        return false;
    memcpy(text, p, n);
    text[n] = '\0';
    return netaddr_parse(text, out);
}

/* tracker_client - the rightmost address not of a trusted proxy */
struct netaddr tracker_client(const struct netaddr *peer, const struct netlist *proxies,
                              const char *const *xff, size_t n)
{
    struct netaddr client = *peer, hop;
    size_t looked = 0;

    if (!netlist_match(proxies, peer))
        return client;
    for (size_t h = n; h-- > 0;) {
        const char *v = xff[h];
        size_t end = strlen(v);

        for (;;) {
            const char *comma = memrchr(v, ',', end);
            size_t start = comma ? (size_t)(comma - v) + 1 : 0;

            if (looked++ == TRACKER_XFF_MAX || !parse_hop(v + start, end - start, &hop))
                return client; /* the last hop we believe passed on something we do not */
            client = hop;
            if (!netlist_match(proxies, &hop))
                return client;
            if (comma == NULL)
                break;
            end = start - 1;
        }
    }
    return client; /* every hop was a trusted proxy: the first of them */
}

/* tracker_ip_keep - the address, its /24 or /48, or nothing */
const char *tracker_ip_keep(const struct netaddr *a, int storage, char out[NETADDR_STRLEN + 4])
{
    struct netaddr m = *a;
    char text[NETADDR_STRLEN];

    switch (storage) {
    case IP_STORAGE_FULL:
        return netaddr_format(a, out);
    case IP_STORAGE_TRUNCATE:
        if (m.family == AF_INET)
            m.addr[3] = 0;
        else
            memset(m.addr + 6, 0, 10);
        netaddr_format(&m, text);
        if (!snprintf_ok(out, NETADDR_STRLEN + 4, "%s/%d", text, m.family == AF_INET ? 24 : 48))
            bug("tracker_ip_keep: %s does not fit", text);
        return out;
    default:
        return NULL;
    }
}

/* tracker_agent_cut - at most TRACKER_AGENT_MAX bytes, never half a UTF-8 sequence */
size_t tracker_agent_cut(const char *agent)
{
    size_t n = strnlen(agent, TRACKER_AGENT_MAX + 1);

    if (n <= TRACKER_AGENT_MAX)
        return n;
    n = TRACKER_AGENT_MAX;
    while (n > 0 && ((unsigned char)agent[n] & 0xc0) == 0x80)
        n--; /* agent[n] continues a sequence begun before it: cut before that */
    return n;
}
