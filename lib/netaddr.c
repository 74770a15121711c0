/*
 * netaddr.c - IPv4/IPv6 addresses, CIDR networks and lists of them.
 *
 * SUMMARY
 *   Literal addresses are parsed with inet_pton(), so only the strict
 *   forms are accepted: dotted quads without leading zeros, RFC 4291
 *   IPv6 text. IPv4-mapped IPv6 (::ffff:a.b.c.d) becomes IPv4 on the way
 *   in, from text and from a sockaddr alike, so one trusted network or
 *   SPF ip4: mechanism matches both spellings of a client.
 *
 *   A network is "addr" or "addr/prefix"; the prefix is decimal, 0..32
 *   for IPv4 and 0..128 for IPv6, with no sign, no white space and no
 *   leading zeros ("/0" is allowed, SPF uses it). Host bits are cleared.
 *   A mapped IPv6 network with a prefix of 96 or more is stored as the
 *   IPv4 network it covers; a shorter one stays IPv6.
 *
 * NEVER
 *   Never touches DNS (no getaddrinfo, no names), never accepts zone ids
 *   ("fe80::1%eth0"), brackets, or the classic inet_aton() short forms
 *   ("127.1", "0x7f.1").
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "log.h"
#include "netaddr.h"
#include "util.h"

static const unsigned char v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* addr_len - bytes of the address used by the family */
static size_t addr_len(int family)
{
    return family == AF_INET ? 4 : 16;
}

/* max_prefix - the longest prefix for the family */
static unsigned max_prefix(int family)
{
    return family == AF_INET ? 32 : 128;
}

/* set_v6 - fill out from 16 bytes, turning a v4-mapped address into v4 */
static void set_v6(struct netaddr *out, const unsigned char *a16, bool normalise)
{
    memset(out, 0, sizeof(*out));
    if (normalise && memcmp(a16, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        out->family = AF_INET;
        memcpy(out->addr, a16 + 12, 4);
        return;
    }
    out->family = AF_INET6;
    memcpy(out->addr, a16, 16);
}

/* parse_raw - parse a literal; normalise says whether to map v4-in-v6 */
static bool parse_raw(const char *s, struct netaddr *out, bool normalise)
{
    unsigned char a[16];

    if (s == NULL || *s == '\0')
        return false;
    if (inet_pton(AF_INET, s, a) == 1) {
        memset(out, 0, sizeof(*out));
        out->family = AF_INET;
        memcpy(out->addr, a, 4);
        return true;
    }
    if (inet_pton(AF_INET6, s, a) == 1) {
        set_v6(out, a, normalise);
        return true;
    }
    return false;
}

/* netaddr_parse - parse a literal IPv4 or IPv6 address; false if invalid */
bool netaddr_parse(const char *s, struct netaddr *out)
{
    return parse_raw(s, out, true);
}

/* netaddr_from_sockaddr - convert; false for families other than v4/v6 */
bool netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out)
{
    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

        memset(out, 0, sizeof(*out));
        out->family = AF_INET;
        memcpy(out->addr, &sin->sin_addr, 4);
        return true;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;

        set_v6(out, sin6->sin6_addr.s6_addr, true);
        return true;
    }
    return false;
}

/* netaddr_format - print into out[NETADDR_STRLEN]; returns out */
char *netaddr_format(const struct netaddr *a, char *out)
{
    if (a->family != AF_INET && a->family != AF_INET6)
        bug("netaddr_format: bad family %d", a->family);
    if (inet_ntop(a->family, a->addr, out, NETADDR_STRLEN) == NULL)
        bug("netaddr_format: inet_ntop failed");
    return out;
}

/* parse_prefix - strict decimal prefix, at most max; false if invalid */
static bool parse_prefix(const char *s, unsigned max, unsigned *out)
{
    unsigned v = 0;
    size_t n = 0;

    if (s[0] == '0' && s[1] != '\0')
        return false; /* "/024" is ambiguous; nobody writes it */
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9' || n >= 3)
            return false;
        v = v * 10 + (unsigned)(s[n] - '0');
    }
    if (n == 0 || v > max)
        return false;
    *out = v;
    return true;
}

/* clear_host_bits - zero every bit after the first prefix bits */
static void clear_host_bits(struct netaddr *a, unsigned prefix)
{
    size_t len = addr_len(a->family);
    size_t byte = prefix / 8;

    if (byte < len) {
        unsigned rem = prefix % 8;

        a->addr[byte] &= (unsigned char)(0xff00u >> rem);
        for (size_t i = byte + 1; i < len; i++)
            a->addr[i] = 0;
    }
    for (size_t i = len; i < sizeof(a->addr); i++)
        a->addr[i] = 0;
}

/* cidr_parse - "addr" or "addr/prefix"; false if invalid or prefix too big */
bool cidr_parse(const char *s, struct cidr *out)
{
    char addr[NETADDR_STRLEN];
    const char *slash;
    struct netaddr a;
    unsigned prefix;
    size_t alen;

    if (s == NULL)
        return false;
    slash = strchr(s, '/');
    alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr))
        return false;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    if (!parse_raw(addr, &a, false))
        return false;
    if (slash == NULL)
        prefix = max_prefix(a.family);
    else if (!parse_prefix(slash + 1, max_prefix(a.family), &prefix))
        return false;
    if (a.family == AF_INET6 && prefix >= 96 &&
        memcmp(a.addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        set_v6(&a, a.addr, true);
        prefix -= 96;
    }
    clear_host_bits(&a, prefix);
    out->net = a;
    out->prefix = prefix;
    return true;
}

/* cidr_match - true if a is inside c (families must agree) */
bool cidr_match(const struct cidr *c, const struct netaddr *a)
{
    size_t full = c->prefix / 8;
    unsigned rem = c->prefix % 8;

    if (c->net.family != a->family || c->prefix > max_prefix(a->family))
        return false;
    if (memcmp(c->net.addr, a->addr, full) != 0)
        return false;
    if (rem != 0) {
        unsigned char mask = (unsigned char)(0xff00u >> rem);

        if ((c->net.addr[full] & mask) != (a->addr[full] & mask))
            return false;
    }
    return true;
}

/* netlist_add - append a parsed network (list owns its array) */
void netlist_add(struct netlist *l, const struct cidr *c)
{
    /* capacity is implicit: 4, then doubled whenever n reaches a power of 2 */
    if (l->n == 0 || (l->n >= 4 && (l->n & (l->n - 1)) == 0)) {
        size_t cap = l->n == 0 ? 4 : l->n * 2;

        if (cap > ((size_t)-1) / sizeof(*l->v))
            die("netlist_add: list too long");
        l->v = xrealloc(l->v, cap * sizeof(*l->v));
    }
    l->v[l->n++] = *c;
}

/* netlist_match - true if any network in l contains a */
bool netlist_match(const struct netlist *l, const struct netaddr *a)
{
    for (size_t i = 0; i < l->n; i++)
        if (cidr_match(&l->v[i], a))
            return true;
    return false;
}

/* netlist_free - release the array; the list is empty after */
void netlist_free(struct netlist *l)
{
    l->v = xfree(l->v);
    l->n = 0;
}
