/*
 * cmd_auth.c - postmeter auth: run the inbound pipeline (SPF, DKIM,
 * DMARC, policy) on a message file exactly as postmeter-milter would,
 * and print the Authentication-Results header it would add, then the
 * action.
 *
 * The message is handed over the way Postfix hands it to a milter:
 * header fields one by one (name, value with its leading space and its
 * folds as "\n"), then the body with CRLF line ends. Uses the configured
 * dns_servers; never touches the database and never prints anything
 * from the message but what the header itself carries.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dns.h"
#include "inbound.h"
#include "netaddr.h"
#include "usage.h"
#include "util.h"

#define MESSAGE_MAX (64u << 20) /* bigger input is refused */

/* auth_usage - what is missing, one line on stderr; returns CLI_USAGE */
static int auth_usage(void)
{
    return cli_usage("give --ip IP and the message on standard input");
}

/* read_all - all of fp into b; false (with a message) on error or if too big */
static bool read_all(FILE *fp, struct buf *b)
{
    char chunk[65536];
    size_t n;

    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (b->len + n > MESSAGE_MAX) {
            fprintf(stderr, "postmeter: auth: message larger than %u MiB\n", MESSAGE_MAX >> 20);
            return false;
        }
        buf_add(b, chunk, n);
    }
    if (ferror(fp)) {
        fprintf(stderr, "postmeter: auth: cannot read the message\n");
        return false;
    }
    return true;
}

/* line_end - length of the line at p (without CR LF) and, in *next, where the next starts */
static size_t line_end(const char *p, const char *end, const char **next)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n;

    if (nl == NULL) {
        *next = end;
        return (size_t)(end - p);
    }
    *next = nl + 1;
    n = (size_t)(nl - p);
    return n > 0 && p[n - 1] == '\r' ? n - 1 : n;
}

/* feed - split the message into header fields and body and feed m */
static void feed(struct inbound_msg *m, const char *p, size_t len)
{
    const char *end = p + len, *next;
    struct buf name = BUF_INIT, value = BUF_INIT, body = BUF_INIT;
    bool in_field = false;

    while (p < end) {
        size_t n = line_end(p, end, &next);

        if (n == 0) { /* the empty line: end of the header */
            p = next;
            break;
        }
        if ((p[0] == ' ' || p[0] == '\t') && in_field) {
            buf_putc(&value, '\n');
            buf_add(&value, p, n);
        } else {
            const char *colon = memchr(p, ':', n);

            if (in_field)
                inbound_header(m, buf_cstr(&name), buf_cstr(&value));
            in_field = colon != NULL;
            if (colon == NULL) {
                /* Not a header field: Postfix would end the header here too. */
                break;
            }
            buf_reset(&name);
            buf_reset(&value);
            buf_add(&name, p, (size_t)(colon - p));
            buf_add(&value, colon + 1, n - (size_t)(colon - p) - 1);
        }
        p = next;
    }
    if (in_field)
        inbound_header(m, buf_cstr(&name), buf_cstr(&value));
    inbound_eoh(m);
    while (p < end) {
        size_t n = line_end(p, end, &next);

        /* Over SMTP every line, the last one too, ends in CRLF. */
        buf_add(&body, p, n);
        buf_add(&body, "\r\n", 2);
        p = next;
    }
    inbound_body(m, (const unsigned char *)body.data, body.len);
    buf_free(&name);
    buf_free(&value);
    buf_free(&body);
}

/* envelope - ADDR or <ADDR> -> ADDR ("<>" -> ""); caller frees */
static char *envelope(const char *arg)
{
    size_t n = strlen(arg);

    if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>')
        return xstrndup(arg + 1, n - 2);
    return xstrdup(arg);
}

/* cmd_auth - postmeter auth --ip IP [--helo NAME] [--mail-from ADDR] < message */
int cmd_auth(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ip", required_argument, NULL, 'i'},
        {"helo", required_argument, NULL, 'h'},
        {"mail-from", required_argument, NULL, 'm'},
        {NULL, 0, NULL, 0},
    };
    const char *ip = NULL, *helo = "";
    char *from = NULL, err[512];
    struct buf msg = BUF_INIT;
    struct netaddr addr;
    struct dns *d = NULL;
    struct inbound *ib = NULL;
    struct inbound_msg *m;
    const struct inbound_verdict *v;
    int ch, status = CLI_FAIL;

    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            ip = optarg;
            break;
        case 'h':
            helo = optarg;
            break;
        case 'm':
            free(from);
            from = envelope(optarg);
            break;
        default:
            free(from);
            return cli_bad_option(ch, argv);
        }
    }
    if (optind != argc || ip == NULL || !netaddr_parse(ip, &addr)) {
        free(from);
        if (optind != argc)
            return cli_usage("unexpected '%s'", argv[optind]);
        if (ip)
            return cli_usage("--ip: '%s' is not an IPv4 or IPv6 address", ip);
        return auth_usage();
    }
    if (!read_all(stdin, &msg))
        goto out;
    if ((d = dns_open(c->dns_servers, c->dns_timeout_ms, err, sizeof(err))) == NULL ||
        (ib = inbound_open(d, c, err, sizeof(err))) == NULL) {
        fprintf(stderr, "postmeter: %s\n", err);
        goto out;
    }
    m = inbound_begin(ib, c, ip, helo, from ? from : "", INBOUND_LEADSPC);
    feed(m, msg.data ? msg.data : "", msg.len);
    v = inbound_eom(m);
    printf("%s: %s\n", "Authentication-Results", v->authres);
    if (v->rcode)
        printf("action: %s %s %s %s\n", inbound_action_name(v->action), v->rcode, v->xcode,
               v->reason);
    else if (v->action == INBOUND_QUARANTINE)
        printf("action: quarantine (%s) %s\n", v->quarantine_header ? "header" : "hold", v->reason);
    else
        printf("action: accept\n");
    for (size_t i = 0; i < v->nremove; i++)
        printf("remove: %s #%u (claims our authserv-id)\n", "Authentication-Results", v->remove[i]);
    inbound_end(m);
    status = fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
out:
    inbound_close(ib);
    dns_close(d);
    buf_free(&msg);
    free(from);
    return status;
}
