/*
 * config_check.h - the checks of single values that the key table in
 * config.c names (what a socket, a DNS server, a URL ... must look like).
 * Each returns true if v is fine, else false with the reason in why.
 */
#ifndef POSTMETER_CONFIG_CHECK_H
#define POSTMETER_CONFIG_CHECK_H

#include <stdbool.h>

#include "buf.h"
#include "netaddr.h"

bool config_check_socket(const char *v, struct buf *why);
bool config_check_dns_server(const char *v, struct buf *why);
bool config_check_nonempty(const char *v, struct buf *why);
bool config_check_absolute(const char *v, struct buf *why);
bool config_check_net_or_domain(const char *v, struct buf *why);
bool config_check_base_url(const char *v, struct buf *why);
bool config_check_track_pattern(const char *v, struct buf *why);
bool config_check_net(const char *v, struct buf *why);
bool config_check_listen(const char *v, struct buf *why);
/* config_parse_listen - "ADDR:PORT" or "[ADDR6]:PORT" with a literal address into a, port */
bool config_parse_listen(const char *v, struct netaddr *a, unsigned *port);

#endif
