/*
 * netaddr.h - IPv4/IPv6 addresses, CIDR networks and lists of them.
 *
 * Used for trusted_networks now and by SPF (ip4/ip6/a/mx with CIDR) and
 * allow-lists later. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are
 * normalised to IPv4 when parsed, so one rule matches both spellings.
 * Never touches DNS.
 */
#ifndef POSTMETER_NETADDR_H
#define POSTMETER_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

struct netaddr {
    int family;             /* AF_INET or AF_INET6 */
    unsigned char addr[16]; /* network order; IPv4 uses the first 4 bytes */
};

struct cidr {
    struct netaddr net; /* host bits are cleared */
    unsigned prefix;    /* 0..32 or 0..128 */
};

struct netlist {
    struct cidr *v;
    size_t n;
};

/* netaddr_parse - parse a literal IPv4 or IPv6 address; false if invalid */
bool netaddr_parse(const char *s, struct netaddr *out);
/* netaddr_from_sockaddr - convert; false for families other than v4/v6 */
bool netaddr_from_sockaddr(const struct sockaddr *sa, struct netaddr *out);
/* netaddr_format - print into out[NETADDR_STRLEN]; returns out */
char *netaddr_format(const struct netaddr *a, char *out);
/* cidr_parse - "addr" or "addr/prefix"; false if invalid or prefix too big */
bool cidr_parse(const char *s, struct cidr *out);
/* cidr_match - true if a is inside c (families must agree) */
bool cidr_match(const struct cidr *c, const struct netaddr *a);
/* netlist_add - append a parsed network (list owns its array) */
void netlist_add(struct netlist *l, const struct cidr *c);
/* netlist_match - true if any network in l contains a */
bool netlist_match(const struct netlist *l, const struct netaddr *a);
/* netlist_free - release the array; the list is empty after */
void netlist_free(struct netlist *l);

#endif
