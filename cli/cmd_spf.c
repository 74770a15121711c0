/*
 * cmd_spf.c - postmeter spf: evaluate SPF for a client address, HELO name
 * and envelope sender with the same code as postmeter-milter, so an admin
 * can see why a record gives the result it gives.
 *
 * Prints the result word (none, neutral, pass, fail, softfail, temperror,
 * permerror) on line 1, the explanation (fail), the problem (none,
 * temperror, permerror) or what matched (pass, neutral, softfail) on
 * line 2, then "key: value" details. Exit status 0 whatever the SPF
 * result, 2 for wrong usage, 1 if DNS cannot be set up. Uses the
 * configured dns_servers and dns_timeout_ms; never touches the database.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dns.h"
#include "netaddr.h"
#include "spf.h"
#include "usage.h"
#include "util.h"

/* spf_usage - what is missing, one line on stderr; returns CLI_USAGE */
static int spf_usage(void)
{
    return cli_usage("give --ip IP and --helo NAME or --mail-from ADDR");
}

/* envelope - ADDR or <ADDR> -> ADDR ("<>" -> ""); caller frees */
static char *envelope(const char *arg)
{
    size_t n = strlen(arg);

    if (n >= 2 && arg[0] == '<' && arg[n - 1] == '>')
        return xstrndup(arg + 1, n - 2);
    return xstrdup(arg);
}

/* print_answer - the lines described above */
static void print_answer(const struct spf_answer *a)
{
    printf("%s\n", spf_result_name(a->result));
    if (a->result == SPF_FAIL)
        printf("%s\n", a->explanation ? a->explanation : "");
    else if (a->problem != NULL)
        printf("%s\n", a->problem);
    else if (a->mechanism != NULL)
        printf("matched \"%s\" in the SPF record of %s (or a record it leads to)\n", a->mechanism,
               a->domain);
    else
        printf("no mechanism matched in the SPF record of %s\n", a->domain);
    printf("identity: %s\n", spf_identity_name(a->identity));
    printf("domain: %s\n", a->domain);
    printf("sender: %s\n", a->sender);
    if (a->mechanism != NULL)
        printf("mechanism: %s\n", a->mechanism);
    if (a->problem != NULL)
        printf("problem: %s\n", a->problem);
    printf("dns-lookups: %u of 10, void: %u of 2\n", a->dns_terms, a->void_lookups);
}

/* cmd_spf - postmeter spf --ip IP [--helo NAME] [--mail-from ADDR] */
int cmd_spf(const struct config *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"ip", required_argument, NULL, 'i'},
        {"helo", required_argument, NULL, 'h'},
        {"mail-from", required_argument, NULL, 'm'},
        {"identity", required_argument, NULL, 'I'},
        {NULL, 0, NULL, 0},
    };
    struct spf_request req = {0};
    struct spf_answer a;
    struct netaddr addr;
    char *from = NULL, err[512];
    struct dns *d;
    int ch;

    while ((ch = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
        switch (ch) {
        case 'i':
            req.client_ip = optarg;
            break;
        case 'h':
            req.helo = optarg;
            break;
        case 'm':
            free(from);
            from = envelope(optarg);
            break;
        case 'I':
            if (strcmp(optarg, "mailfrom") != 0 && strcmp(optarg, "helo") != 0) {
                free(from);
                return cli_usage("--identity: use mailfrom or helo");
            }
            req.identity = strcmp(optarg, "helo") == 0 ? SPF_ID_HELO : SPF_ID_MAILFROM;
            break;
        default:
            free(from);
            return cli_bad_option(ch, argv);
        }
    }
    if (optind != argc || req.client_ip == NULL ||
        (req.helo == NULL && (from == NULL || *from == '\0'))) {
        free(from);
        if (optind != argc)
            return cli_usage("unexpected '%s'", argv[optind]);
        return spf_usage();
    }
    if (!netaddr_parse(req.client_ip, &addr)) {
        free(from);
        return cli_usage("--ip: '%s' is not an IPv4 or IPv6 address", req.client_ip);
    }
    req.mail_from = from;
    req.receiver = config_effective_hostname(c);

    d = dns_open(c->dns_servers, c->dns_timeout_ms, err, sizeof(err));
    if (d == NULL) {
        fprintf(stderr, "postmeter: %s\n", err);
        free(from);
        return CLI_FAIL;
    }
    spf_eval(d, &req, &a);
    dns_close(d);
    print_answer(&a);
    spf_answer_free(&a);
    free(from);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
