/*
 * fuzz_tracker_request.c - libFuzzer target for postmeter-tracker's
 * request helpers (tracker-httpd/request.c), everything of a request a
 * stranger controls but HTTP itself: the route and token of a path
 * (tracker_route, tracker_token_ok), the token's verdict under a key
 * (tracker_token_verdict), the client behind X-Forwarded-For
 * (tracker_client), what of its address is stored (tracker_ip_keep) and
 * of its agent (tracker_agent_cut).
 *
 * Input: a byte of flags (bit 0: the peer is a trusted proxy; bits 1-3:
 * X-Forwarded-For fields, 0..7), then NUL-separated strings: the prefix,
 * the path, each X-Forwarded-For field, the User-Agent.
 *
 * Besides "no crash, leak, hang or sanitizer report", it checks:
 *   - a pixel route's token lies in the path, right after
 *     "<prefix>/o/", is TRACK_TOKEN_LEN characters, well-formed, and
 *     followed by exactly ".gif"; any other route sets no token;
 *   - a well-formed token's verdict is valid or forged under a key,
 *     never unverified; without a key always unverified; valid exactly
 *     when track_token_valid() says so; a token made under the key is
 *     valid and, with one character changed, forged;
 *   - the client is the peer unless the peer is a trusted proxy, else an
 *     address of one of the fields or the peer;
 *   - a kept address: "full" formats the client, "truncate" ends in /24
 *     or /48 and its address part parses, "none" keeps nothing;
 *   - the agent is cut to at most TRACKER_AGENT_MAX bytes and never
 *     before a UTF-8 continuation byte;
 *   - all of it within a CPU budget linear in the input (STYLE habit 15).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "reader.h"
#include "track.h"
#include "tracker.h"

#define XFF_MAX 7

/*
 * The CPU budget of one input: CPU_BASE_MS + CPU_PER_KB_MS per KB. Each
 * helper is a single pass over its string (the X-Forwarded-For walk
 * looks at TRACKER_XFF_MAX entries at most), plus two HMACs.
 */
#define CPU_BASE_MS   100.0
#define CPU_PER_KB_MS 8.0

static struct track_key key;
static struct netlist proxies;

/* setup - the key and the trusted proxies, once */
static void setup(void)
{
    static const char *const nets[] = {"127.0.0.0/8", "10.0.0.0/8", "::1/128", "2001:db8::/32"};
    unsigned char raw[TRACK_KEY_LEN];

    for (size_t i = 0; i < sizeof(raw); i++)
        raw[i] = (unsigned char)(i * 7 + 1);
    track_key_set(&key, raw);
    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++) {
        struct cidr c;

        fuzz_check(cidr_parse(nets[i], &c));
        netlist_add(&proxies, &c);
    }
}

/* check_route - the route of url under prefix, and its token's verdict */
static void check_route(const char *prefix, const char *url)
{
    const char *token = (const char *)url; /* must be overwritten */
    enum tracker_route r = tracker_route(prefix, url, &token);
    size_t plen = strlen(prefix);

    fuzz_check(r == ROUTE_PIXEL || r == ROUTE_BLANK || r == ROUTE_HEALTHZ || r == ROUTE_METRICS ||
               r == ROUTE_NOT_FOUND);
    if (r != ROUTE_PIXEL) {
        fuzz_check(token == NULL);
        return;
    }
    fuzz_check(token == url + plen + 3);
    fuzz_check(strncmp(url, prefix, plen) == 0 && strncmp(url + plen, "/o/", 3) == 0);
    fuzz_check(strlen(token) == TRACK_TOKEN_LEN + 4 &&
               strcmp(token + TRACK_TOKEN_LEN, ".gif") == 0);
    fuzz_check(tracker_token_ok(token, TRACK_TOKEN_LEN));
    fuzz_check(tracker_token_verdict(NULL, token, TRACK_TOKEN_LEN) == TOKEN_UNVERIFIED);
    switch (tracker_token_verdict(&key, token, TRACK_TOKEN_LEN)) {
    case TOKEN_VALID:
        fuzz_check(track_token_valid(&key, token, TRACK_TOKEN_LEN));
        break;
    case TOKEN_FORGED:
        fuzz_check(!track_token_valid(&key, token, TRACK_TOKEN_LEN));
        break;
    default:
        fuzz_check(0);
    }
}

/* check_minted - a token made under the key is valid; one character changed, forged */
static void check_minted(unsigned pos)
{
    char tok[TRACK_TOKEN_LEN + 1];
    size_t i = pos % TRACK_TOKEN_LEN;

    track_token_new(&key, tok);
    fuzz_check(tracker_token_verdict(&key, tok, TRACK_TOKEN_LEN) == TOKEN_VALID);
    tok[i] = tok[i] == 'A' ? 'B' : 'A';
    fuzz_check(tracker_token_verdict(&key, tok, TRACK_TOKEN_LEN) == TOKEN_FORGED);
}

/* in_field - a comma-separated entry of field v (spaces and tabs around it) is address a */
static bool in_field(const char *v, const struct netaddr *a)
{
    while (*v) {
        size_t len = strcspn(v, ","), b = 0, e = len;
        char text[NETADDR_STRLEN];
        struct netaddr x;

        while (b < e && (v[b] == ' ' || v[b] == '\t'))
            b++;
        while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - b < sizeof(text)) {
            memcpy(text, v + b, e - b);
            text[e - b] = '\0';
            if (netaddr_parse(text, &x) && memcmp(&x, a, sizeof(x)) == 0)
                return true;
        }
        v += len + (v[len] == ',');
    }
    return false;
}

/* check_client - the client of a peer and X-Forwarded-For fields, and what is kept of it */
static void check_client(bool trusted, char *const *xff, size_t n)
{
    struct netaddr peer, got, hop;
    char full[NETADDR_STRLEN + 4], text[NETADDR_STRLEN];
    const char *kept;
    bool from_field = false;

    fuzz_check(netaddr_parse(trusted ? "127.0.0.1" : "192.0.2.7", &peer));
    got = tracker_client(&peer, &proxies, (const char *const *)xff, n);
    fuzz_check(got.family == AF_INET || got.family == AF_INET6);
    if (!trusted) {
        fuzz_check(memcmp(&got, &peer, sizeof(got)) == 0);
    } else {
        for (size_t i = 0; i < n && !from_field; i++)
            from_field = in_field(xff[i], &got);
        fuzz_check(from_field || memcmp(&got, &peer, sizeof(got)) == 0);
    }
    kept = tracker_ip_keep(&got, IP_STORAGE_FULL, full);
    fuzz_check(kept != NULL && strcmp(kept, netaddr_format(&got, text)) == 0);
    kept = tracker_ip_keep(&got, IP_STORAGE_TRUNCATE, full);
    fuzz_check(kept != NULL);
    {
        const char *slash = strrchr(kept, '/');
        char addr[NETADDR_STRLEN];

        fuzz_check(slash != NULL && (size_t)(slash - kept) < sizeof(addr));
        fuzz_check(strcmp(slash, got.family == AF_INET ? "/24" : "/48") == 0);
        memcpy(addr, kept, (size_t)(slash - kept));
        addr[slash - kept] = '\0';
        fuzz_check(netaddr_parse(addr, &hop));
    }
    fuzz_check(tracker_ip_keep(&got, IP_STORAGE_NONE, full) == NULL);
}

/* check_agent - the agent's cut */
static void check_agent(const char *agent)
{
    size_t n = tracker_agent_cut(agent), len = strlen(agent);

    fuzz_check(n <= len && n <= TRACKER_AGENT_MAX);
    fuzz_check(len <= TRACKER_AGENT_MAX ? n == len : ((unsigned char)agent[n] & 0xc0) != 0x80);
}

/* cpu_ms - this process's CPU time in milliseconds */
static double cpu_ms(void)
{
    struct timespec ts;

    fuzz_check(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) == 0);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* LLVMFuzzerTestOneInput - one request's pieces */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    struct reader rd = reader_init(data, size);
    double c0 = cpu_ms();
    unsigned flags = reader_byte(&rd);
    char *prefix = reader_str(&rd), *url = reader_str(&rd), *xff[XFF_MAX], *agent;
    size_t n = (flags >> 1) & 7;

    if (!ready) {
        setup();
        ready = true;
    }
    for (size_t i = 0; i < n; i++)
        xff[i] = reader_str(&rd);
    agent = reader_str(&rd);
    check_route(prefix, url);
    check_minted(flags >> 4);
    check_client(flags & 1, xff, n);
    check_agent(agent);
    for (size_t i = 0; i < n; i++)
        free(xff[i]);
    free(prefix);
    free(url);
    free(agent);
    fuzz_check(cpu_ms() - c0 <= CPU_BASE_MS + CPU_PER_KB_MS * (double)size / 1024);
    return 0;
}
