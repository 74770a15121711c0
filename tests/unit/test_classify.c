/*
 * test_classify.c - who fetched a pixel (tracker-httpd/classify.c): each
 * rule of the table, their precedence, and the machine-networks data
 * files (parser with every kind of bad line reported as FILE:LINE,
 * lookups, the shipped file and the admin's directory).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "classify.h"
#include "tmpdir_fixture.h"
#include "util.h"

static char tmpdir[] = "/tmp/pm-test-classify-XXXXXX";

#define CHROME                                                                                     \
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "            \
    "Chrome/120.0.0.0 Safari/537.36"
#define HEADLESS                                                                                   \
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "                      \
    "HeadlessChrome/120.0.6099.71 Safari/537.36"
#define GMAIL                                                                                      \
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
#define YAHOO "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"

/* The networks every rule case sees: the shipped kinds plus an admin's prefetch and proxy. */
static const char test_nets[] = "# test networks\n"
                                "40.92.0.0/15 scanner Microsoft 365 filtering\n"
                                "2a01:111:f400::/48 scanner Microsoft 365 filtering\n"
                                "\n"
                                "172.224.0.0/12 prefetch Apple relay # a trailing comment\n"
                                "198.51.100.0/24 proxy Example Mail proxy\n";

struct rule_case {
    const char *name;
    const char *method;
    const char *agent;
    const char *headers; /* "Name: value\n..." */
    const char *client;  /* NULL = unknown */
    enum open_class want;
    const char *reason; /* classify_reason() */
};

static const struct rule_case rule_cases[] = {
    /* each rule on its own */
    {"person", "GET", CHROME, "", "192.0.2.1", OPEN_HUMAN, "no machine signal"},
    {"person, no address", "GET", CHROME, "", NULL, OPEN_HUMAN, "no machine signal"},
    {"HEAD", "HEAD", CHROME, "", "192.0.2.1", OPEN_SCANNER, "HEAD request"},
    {"no agent", "GET", NULL, "", "192.0.2.1", OPEN_SCANNER, "no user agent"},
    {"empty agent", "GET", "", "", "192.0.2.1", OPEN_SCANNER, "no user agent"},
    {"Barracuda", "GET", "Mozilla/5.0 (compatible; Barracuda Link Protection)", "", "192.0.2.1",
     OPEN_SCANNER, "agent: Barracuda"},
    {"Mimecast", "GET", "Mimecast-URL-Protect/1.0", "", "192.0.2.1", OPEN_SCANNER,
     "agent: Mimecast"},
    {"Proofpoint", "GET", "proofpoint url defense", "", "192.0.2.1", OPEN_SCANNER,
     "agent: Proofpoint"},
    {"BingPreview", "GET", "Mozilla/5.0 (Windows NT 10.0) BingPreview/1.0b", "", "192.0.2.1",
     OPEN_SCANNER, "agent: BingPreview"},
    {"curl", "GET", "curl/7.88.1", "", "192.0.2.1", OPEN_SCANNER, "agent: curl"},
    {"Wget", "GET", "Wget/1.21.3", "", "192.0.2.1", OPEN_SCANNER, "agent: Wget"},
    {"requests", "GET", "python-requests/2.28.1", "", "192.0.2.1", OPEN_SCANNER,
     "agent: python-requests"},
    {"urllib", "GET", "Python-urllib/3.11", "", "192.0.2.1", OPEN_SCANNER, "agent: Python-urllib"},
    {"Go", "GET", "Go-http-client/1.1", "", "192.0.2.1", OPEN_SCANNER, "agent: Go-http-client"},
    {"LWP", "GET", "libwww-perl/6.68", "", "192.0.2.1", OPEN_SCANNER, "agent: libwww-perl"},
    {"Java", "GET", "Java/17.0.8", "", "192.0.2.1", OPEN_SCANNER, "agent: Java"},
    {"headless Chrome", "GET", HEADLESS, "", "192.0.2.1", OPEN_SCANNER, "headless browser"},
    {"PhantomJS", "GET", "Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1 Safari/538.1", "",
     "192.0.2.1", OPEN_SCANNER, "headless browser"},
    {"M365 network", "GET", CHROME, "", "40.93.7.7", OPEN_SCANNER,
     "scanner network (Microsoft 365 filtering)"},
    {"M365 network v6", "GET", CHROME, "", "2a01:111:f400:1::9", OPEN_SCANNER,
     "scanner network (Microsoft 365 filtering)"},
    {"M365 network v4-mapped", "GET", CHROME, "", "::ffff:40.92.0.1", OPEN_SCANNER,
     "scanner network (Microsoft 365 filtering)"},
    {"Sec-Purpose", "GET", CHROME, "Sec-Purpose: prefetch;prerender\n", "192.0.2.1", OPEN_PREFETCH,
     "Sec-Purpose: prefetch"},
    {"Purpose", "GET", CHROME, "Purpose: prefetch\n", "192.0.2.1", OPEN_PREFETCH,
     "Purpose: prefetch"},
    {"Purpose, any case", "GET", CHROME, "purpose: Prefetch\n", "192.0.2.1", OPEN_PREFETCH,
     "Purpose: prefetch"},
    {"X-Moz", "GET", CHROME, "X-Moz: prefetch\n", "192.0.2.1", OPEN_PREFETCH, "X-Moz: prefetch"},
    {"Apple MPP agent", "GET", "Mozilla/5.0", "", "192.0.2.1", OPEN_PREFETCH,
     "Apple Mail Privacy Protection agent"},
    {"Apple relay network", "GET", CHROME, "", "172.225.1.2", OPEN_PREFETCH,
     "prefetch network (Apple relay)"},
    {"Gmail proxy", "GET", GMAIL, "", "66.249.84.1", OPEN_PROXY, "Gmail image proxy"},
    {"Yahoo proxy", "GET", YAHOO, "", "192.0.2.1", OPEN_PROXY, "Yahoo Mail image proxy"},
    {"proxy network", "GET", CHROME, "", "198.51.100.77", OPEN_PROXY,
     "proxy network (Example Mail proxy)"},

    /* near misses: not the signal */
    {"Mozilla/5.0 plus more", "GET", "Mozilla/5.0 ", "", "192.0.2.1", OPEN_HUMAN,
     "no machine signal"},
    {"mozilla/5.0 in lower case", "GET", "mozilla/5.0", "", "192.0.2.1", OPEN_HUMAN,
     "no machine signal"},
    {"Purpose not a token", "GET", CHROME, "Purpose: prefetched\n", "192.0.2.1", OPEN_HUMAN,
     "no machine signal"},
    {"Purpose: preview", "GET", CHROME, "Purpose: preview\n", "192.0.2.1", OPEN_HUMAN,
     "no machine signal"},
    {"next to a network", "GET", CHROME, "", "40.94.0.1", OPEN_HUMAN, "no machine signal"},
    {"v6 next to a network", "GET", CHROME, "", "2a01:111:f401::1", OPEN_HUMAN,
     "no machine signal"},

    /* agent words in any case, anywhere in the agent */
    {"CURL in capitals", "GET", "CURL/8.0", "", "192.0.2.1", OPEN_SCANNER, "agent: curl"},
    {"googleimageproxy in lower case", "GET", "Mozilla/5.0 (via ggpht.com googleimageproxy)", "",
     "192.0.2.1", OPEN_PROXY, "Gmail image proxy"},
    {"mixed case at the end", "GET", "Mozilla/5.0 (X11) hEaDlEsScHrOmE", "", "192.0.2.1",
     OPEN_SCANNER, "headless browser"},
    {"a word split by a byte", "GET", "Barra-cuda/1.0", "", "192.0.2.1", OPEN_HUMAN,
     "no machine signal"},
    {"not ASCII around", "GET", "\xc3\x84JAVA/17\xc3\xa4", "", "192.0.2.1", OPEN_SCANNER,
     "agent: Java"},

    /* precedence: scanner > prefetch > proxy > human */
    {"HEAD through Gmail's proxy", "HEAD", GMAIL, "", "192.0.2.1", OPEN_SCANNER, "HEAD request"},
    {"headless with a prefetch header", "GET", HEADLESS, "Purpose: prefetch\n", "192.0.2.1",
     OPEN_SCANNER, "headless browser"},
    {"MPP agent from a scanner network", "GET", "Mozilla/5.0", "", "40.92.0.1", OPEN_SCANNER,
     "scanner network (Microsoft 365 filtering)"},
    {"curl from a prefetch network", "GET", "curl/8.0", "", "172.224.0.1", OPEN_SCANNER,
     "agent: curl"},
    {"prefetch through Gmail's proxy", "GET", GMAIL, "X-Moz: prefetch\n", "192.0.2.1",
     OPEN_PREFETCH, "X-Moz: prefetch"},
    {"Gmail's proxy from a prefetch network", "GET", GMAIL, "", "172.224.9.9", OPEN_PREFETCH,
     "prefetch network (Apple relay)"},
    {"Sec-Purpose before Purpose", "GET", CHROME, "Purpose: prefetch\nSec-Purpose: prefetch\n",
     "192.0.2.1", OPEN_PREFETCH, "Sec-Purpose: prefetch"},
    {"Yahoo's proxy from a proxy network", "GET", YAHOO, "", "198.51.100.1", OPEN_PROXY,
     "Yahoo Mail image proxy"},
};

/* header_of - classify's header callback over "Name: value\n" lines (ctx) */
static const char *header_of(void *ctx, const char *name)
{
    static char value[256];
    const char *p = ctx;
    size_t n = strlen(name);

    while (*p) {
        const char *nl = strchr(p, '\n');

        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1 + strspn(p + n + 1, " ");

            snprintf(value, sizeof(value), "%.*s", (int)(nl - v), v);
            return value;
        }
        p = nl + 1;
    }
    return NULL;
}

/* parse_ok - nets from text that must parse cleanly */
static struct classify_nets *parse_ok(const char *text)
{
    struct classify_nets *nets = classify_nets_new();
    struct buf errors = BUF_INIT;

    if (!classify_nets_parse(nets, "test", text, strlen(text), &errors))
        fail_msg("unexpected errors: %s", buf_cstr(&errors));
    buf_free(&errors);
    return nets;
}

static void test_rules(void **state)
{
    struct classify_nets *nets = parse_ok(test_nets);

    (void)state;
    assert_int_equal(classify_nets_count(nets), 4);
    for (size_t i = 0; i < sizeof(rule_cases) / sizeof(rule_cases[0]); i++) {
        const struct rule_case *t = &rule_cases[i];
        struct netaddr a;
        struct classify_request r = {.method = t->method,
                                     .agent = t->agent,
                                     .client = NULL,
                                     .header = header_of,
                                     .header_ctx = (void *)t->headers};
        struct classify_result res;
        struct buf reason = BUF_INIT;

        if (t->client != NULL) {
            assert_true(netaddr_parse(t->client, &a));
            r.client = &a;
        }
        classify(nets, &r, &res);
        classify_reason(&res, &reason);
        if (res.cls != t->want || strcmp(buf_cstr(&reason), t->reason) != 0)
            fail_msg("%s: got %s \"%s\", want %s \"%s\"", t->name, classify_class_name(res.cls),
                     buf_cstr(&reason), classify_class_name(t->want), t->reason);
        buf_free(&reason);
    }
    classify_nets_free(nets);
}

/* A long agent (lowered on the heap, past the stack's buffer): its words count wherever they are.
 */
static void test_long_agent(void **state)
{
    static const char *const tails[] = {" Proofpoint", " PROOFPOINT", ""};
    static const size_t lens[] = {1000, 1022, 1023, 1024, 1025, 7000};

    (void)state;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        for (size_t k = 0; k < sizeof(tails) / sizeof(tails[0]); k++) {
            size_t tl = strlen(tails[k]);
            char *agent = malloc(lens[i] + 1);
            struct classify_request r = {.method = "GET", .agent = agent};
            struct classify_result res;

            assert_non_null(agent);
            memset(agent, 'x', lens[i]);
            memcpy(agent, "Mozilla/5.0 ", 12);
            memcpy(agent + lens[i] - tl, tails[k], tl);
            agent[lens[i]] = '\0';
            classify(NULL, &r, &res);
            if (res.cls != (tl ? OPEN_SCANNER : OPEN_HUMAN))
                fail_msg("agent of %zu bytes ending \"%s\": %s", lens[i], tails[k],
                         classify_class_name(res.cls));
            free(agent);
        }
}

/* Without networks (none loaded, or no client address), the network rules never match. */
static void test_no_nets(void **state)
{
    struct netaddr a;
    struct classify_request r = {.method = "GET", .agent = CHROME, .client = &a};
    struct classify_result res;

    (void)state;
    assert_true(netaddr_parse("40.92.0.1", &a));
    classify(NULL, &r, &res);
    assert_int_equal(res.cls, OPEN_HUMAN);
    assert_null(res.source);
}

struct parse_case {
    const char *name;
    const char *text;
    size_t added;       /* networks added: bad lines add nothing */
    const char *errors; /* every error line, "" = none */
};

static const struct parse_case parse_cases[] = {
    {"good", "# c\n\n1.2.3.0/24 scanner A B\n  2001:db8::/32\tprefetch  X # c\n", 2, ""},
    {"no newline at the end", "1.2.3.0/24 proxy P", 1, ""},
    {"CRLF", "1.2.3.0/24 proxy P\r\n10.0.0.0/8 scanner Q\r\n", 2, ""},
    {"only a network", "1.2.3.0/24\n", 0, "t:1: expected \"CIDR CLASS SOURCE\"\n"},
    {"no source", "1.2.3.0/24 scanner\n", 0,
     "t:1: no source after the class (who publishes this network?)\n"},
    {"no source, comment", "1.2.3.0/24 scanner # Microsoft\n", 0,
     "t:1: no source after the class (who publishes this network?)\n"},
    {"host bits", "1.2.3.4/24 scanner X\n", 0, "t:1: 1.2.3.4/24 has host bits set\n"},
    {"host bits v6", "2001:db8::1/32 scanner X\n", 0, "t:1: 2001:db8::1/32 has host bits set\n"},
    {"no prefix", "1.2.3.4 scanner X\n", 0, "t:1: \"1.2.3.4\" is not a network (ADDRESS/PREFIX)\n"},
    {"prefix too long", "1.2.3.0/33 scanner X\n", 0,
     "t:1: \"1.2.3.0/33\" is not a network (ADDRESS/PREFIX)\n"},
    {"a name", "mail.example/24 scanner X\n", 0,
     "t:1: \"mail.example/24\" is not a network (ADDRESS/PREFIX)\n"},
    {"class human", "1.2.3.0/24 human X\n", 0,
     "t:1: class \"human\" is not scanner, prefetch or proxy\n"},
    {"class in capitals", "1.2.3.0/24 Scanner X\n", 0,
     "t:1: class \"Scanner\" is not scanner, prefetch or proxy\n"},
    {"source not ASCII", "1.2.3.0/24 scanner Caf\xc3\xa9\n", 0,
     "t:1: source has a byte that is not printable ASCII\n"},
    {"source too long",
     "1.2.3.0/24 scanner "
     "123456789012345678901234567890123456789012345678901234567890123456789012345678901\n",
     0, "t:1: source longer than 80 bytes\n"},
    {"NUL byte", "1.2.3.0/24 scanner X\0Y\n", 0, "t:1: line holds a NUL byte\n"},
    {"IPv4-mapped network", "::ffff:10.0.0.0/104 scanner X\n", 0,
     "t:1: ::ffff:10.0.0.0/104: IPv4-mapped IPv6 networks are not accepted, write the IPv4 "
     "form\n"},
    {"IPv4-mapped, host bits too", "::ffff:10.0.0.1/104 scanner X\n", 0,
     "t:1: ::ffff:10.0.0.1/104: IPv4-mapped IPv6 networks are not accepted, write the IPv4 "
     "form\n"},
    {"every IPv4 address", "0.0.0.0/0 scanner X\n", 0,
     "t:1: 0.0.0.0/0 is wider than /8 (IPv4) or /16 (IPv6): it would make most opens a "
     "machine's\n"},
    {"every IPv6 address", "::/0 scanner X\n", 0,
     "t:1: ::/0 is wider than /8 (IPv4) or /16 (IPv6): it would make most opens a machine's\n"},
    {"IPv4 /7", "2.0.0.0/7 scanner X\n", 0,
     "t:1: 2.0.0.0/7 is wider than /8 (IPv4) or /16 (IPv6): it would make most opens a "
     "machine's\n"},
    {"IPv6 /15", "2000::/15 scanner X\n", 0,
     "t:1: 2000::/15 is wider than /8 (IPv4) or /16 (IPv6): it would make most opens a "
     "machine's\n"},
    {"the widest accepted", "3.0.0.0/8 scanner X\n2001::/16 scanner X\n", 2, ""},
    {"good lines around bad ones, numbered",
     "1.2.3.0/24 scanner A\n# x\n1.2.3.0/24 nobody B\n\n5.6.0.0/16 proxy C\n5.6.0.1/16 proxy C\n",
     2,
     "t:3: class \"nobody\" is not scanner, prefetch or proxy\n"
     "t:6: 5.6.0.1/16 has host bits set\n"},
};

/* parse_case_len - the text's length (the NUL case holds a NUL) */
static size_t parse_case_len(const struct parse_case *t)
{
    return strcmp(t->name, "NUL byte") == 0 ? sizeof("1.2.3.0/24 scanner X\0Y\n") - 1
                                            : strlen(t->text);
}

static void test_parse(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
        const struct parse_case *t = &parse_cases[i];
        struct classify_nets *nets = classify_nets_new();
        struct buf errors = BUF_INIT;
        bool ok = classify_nets_parse(nets, "t", t->text, parse_case_len(t), &errors);

        if (strcmp(buf_cstr(&errors), t->errors) != 0)
            fail_msg("%s: errors \"%s\", want \"%s\"", t->name, buf_cstr(&errors), t->errors);
        if (ok != (t->errors[0] == '\0') || classify_nets_count(nets) != t->added)
            fail_msg("%s: ok %d, %zu added", t->name, ok, classify_nets_count(nets));
        buf_free(&errors);
        classify_nets_free(nets);
    }
}

/* A line too long, and more bad lines than are reported one by one. */
static void test_parse_bounds(void **state)
{
    struct classify_nets *nets = classify_nets_new();
    struct buf text = BUF_INIT, errors = BUF_INIT;
    char want[128];

    (void)state;
    buf_puts(&text, "1.2.3.0/24 scanner ");
    for (size_t i = 0; i < CLASSIFY_LINE_MAX; i++)
        buf_putc(&text, 'x');
    buf_puts(&text, "\n");
    for (int i = 0; i < 25; i++)
        buf_puts(&text, "bad\n");
    assert_false(classify_nets_parse(nets, "t", text.data, text.len, &errors));
    snprintf(want, sizeof(want), "t:1: line longer than %d bytes\n", CLASSIFY_LINE_MAX);
    assert_true(strncmp(buf_cstr(&errors), want, strlen(want)) == 0);
    assert_non_null(strstr(buf_cstr(&errors), "t:19: expected"));
    assert_null(strstr(buf_cstr(&errors), "t:21:"));
    assert_non_null(strstr(buf_cstr(&errors), "t: 6 more bad lines\n"));
    assert_int_equal(classify_nets_count(nets), 0);
    buf_free(&text);
    buf_free(&errors);
    classify_nets_free(nets);
}

/* Lookups across prefix lengths, families and classes. */
static void test_lookup(void **state)
{
    static const struct {
        const char *addr;
        enum open_class cls;
        const char *want; /* NULL = none */
    } cases[] = {
        {"10.1.2.3", OPEN_SCANNER, "wide"},        {"10.9.9.9", OPEN_SCANNER, "wide"},
        {"10.1.2.3", OPEN_PROXY, "narrow"},        {"10.1.3.3", OPEN_PROXY, NULL},
        {"11.0.0.0", OPEN_SCANNER, NULL},          {"9.255.255.255", OPEN_SCANNER, NULL},
        {"192.0.2.7", OPEN_PREFETCH, "host"},      {"192.0.2.8", OPEN_PREFETCH, NULL},
        {"2001:db8::1", OPEN_SCANNER, "six"},      {"2001:db9::1", OPEN_SCANNER, NULL},
        {"::ffff:10.0.0.1", OPEN_SCANNER, "wide"}, {"0.0.0.1", OPEN_SCANNER, NULL},
        {"203.0.113.1", OPEN_PREFETCH, "all"},
    };
    struct classify_nets *nets = parse_ok("10.0.0.0/8 scanner wide\n"
                                          "10.1.2.0/24 proxy narrow\n"
                                          "192.0.2.7/32 prefetch host\n"
                                          "2001:db8::/32 scanner six\n"
                                          "203.0.113.0/24 prefetch all\n"
                                          "203.0.112.0/23 prefetch all\n");

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct netaddr a;
        const char *got;

        assert_true(netaddr_parse(cases[i].addr, &a));
        got = classify_nets_lookup(nets, &a, cases[i].cls);
        if (cases[i].want == NULL ? got != NULL : got == NULL || strcmp(got, cases[i].want))
            fail_msg("%s as %s: got %s, want %s", cases[i].addr, classify_class_name(cases[i].cls),
                     got ? got : "none", cases[i].want ? cases[i].want : "none");
    }
    classify_nets_free(nets);
}

/* write_file - dir/name holds text */
static char *write_file(const char *dir, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", dir, name);
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* The shipped file, the admin's directory (skipped names, name order), and their errors. */
static void test_load(void **state)
{
    char *shipped = write_file(tmpdir, "shipped", "10.0.0.0/8 scanner shipped\n");
    char *dir = xasprintf("%s/d", tmpdir), *missing = xasprintf("%s/none", tmpdir);
    char *repo = xasprintf("%s/data/machine-networks", TEST_SOURCE_DIR);
    struct buf errors = BUF_INIT;
    struct classify_nets *nets;
    struct netaddr a;
    char *bad;

    (void)state;
    assert_int_equal(mkdir(dir, 0755), 0);
    free(write_file(dir, "20-mine", "192.0.2.0/24 prefetch mine\n"));
    free(write_file(dir, "10-first", "198.51.100.0/24 proxy first\n"));
    free(write_file(dir, ".hidden", "bad line\n"));
    free(write_file(dir, "old~", "bad line\n"));
    free(write_file(dir, "x.dpkg-old", "bad line\n"));
    bad = xasprintf("%s/sub", dir); /* a directory in there is no data file */
    assert_int_equal(mkdir(bad, 0755), 0);
    bad = xfree(bad);
    nets = classify_nets_load(shipped, dir, &errors);
    if (nets == NULL)
        fail_msg("load: %s", buf_cstr(&errors));
    assert_int_equal(classify_nets_count(nets), 3);
    assert_true(netaddr_parse("192.0.2.9", &a));
    assert_string_equal(classify_nets_lookup(nets, &a, OPEN_PREFETCH), "mine");
    nets = classify_nets_free(nets);

    /* no directory: fine; no shipped file: an error */
    nets = classify_nets_load(shipped, missing, &errors);
    assert_non_null(nets);
    nets = classify_nets_free(nets);
    assert_null(classify_nets_load(missing, dir, &errors));
    assert_non_null(strstr(buf_cstr(&errors), "/none: cannot open: No such file"));

    /* a bad line in the directory names its file and line */
    buf_reset(&errors);
    bad = write_file(dir, "30-bad", "# mine\n192.0.2.0/24 prefetch ok\n192.0.2.1/24 proxy bad\n");
    assert_null(classify_nets_load(shipped, dir, &errors));
    {
        char *want = xasprintf("%s:3: 192.0.2.1/24 has host bits set\n", bad);

        assert_string_equal(buf_cstr(&errors), want);
        free(want);
    }

    /* every file is read: the errors of a later file show with the first's */
    buf_reset(&errors);
    free(write_file(dir, "40-bad", "0.0.0.0/0 scanner everyone\n"));
    assert_null(classify_nets_load(shipped, dir, &errors));
    {
        char *want = xasprintf("%s:3: 192.0.2.1/24 has host bits set\n"
                               "%s/40-bad:1: 0.0.0.0/0 is wider than /8 (IPv4) or /16 (IPv6): it "
                               "would make most opens a machine's\n",
                               bad, dir);

        assert_string_equal(buf_cstr(&errors), want);
        free(want);
    }
    /* ... the first 10 bad files' errors, then a count of the others */
    buf_reset(&errors);
    for (int i = 0; i < 11; i++) {
        char name[32];

        snprintf(name, sizeof(name), "50-bad%02d", i);
        free(write_file(dir, name, "bad\n"));
    }
    assert_null(classify_nets_load(shipped, dir, &errors));
    assert_non_null(strstr(buf_cstr(&errors), "/50-bad07:1: expected"));
    assert_null(strstr(buf_cstr(&errors), "/50-bad08:"));
    assert_non_null(strstr(buf_cstr(&errors), "\n3 more file(s) with errors\n"));

    /* the shipped data file of the repository parses */
    buf_reset(&errors);
    nets = classify_nets_load(repo, missing, &errors);
    if (nets == NULL)
        fail_msg("data/machine-networks: %s", buf_cstr(&errors));
    assert_true(classify_nets_count(nets) > 0);
    assert_true(netaddr_parse("40.92.0.1", &a));
    assert_non_null(classify_nets_lookup(nets, &a, OPEN_SCANNER));
    classify_nets_free(nets);

    buf_free(&errors);
    free(bad);
    free(repo);
    free(missing);
    free(dir);
    free(shipped);
}

static int setup(void **state)
{
    (void)state;
    return tmpdir_make(tmpdir);
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),        cmocka_unit_test(test_no_nets),
        cmocka_unit_test(test_long_agent),   cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_bounds), cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_load),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
