/*
 * classify.c - the one table that decides who fetched a pixel.
 *
 * The rules are tried in table order and the first that matches decides:
 * every scanner rule comes before every prefetch rule, which come before
 * the proxy rules; what nothing matches is a person (human). So a
 * machine's signal always wins over a proxy's or a person's: a HEAD from
 * an image proxy is a scanner's, a prefetch through a proxy a prefetch.
 * Each rule names where its signal comes from. Agent words are matched
 * as case-insensitive substrings of the User-Agent (bounded by the
 * server's header size limit), lowered once per request (on the stack
 * when under AGENT_STACK_MAX bytes, as every real agent is).
 *
 * One rule of the table is applied elsewhere: "too soon after
 * acceptance" (open_min_seconds) needs the message's accept time, which
 * only the database knows. The tracker puts the threshold in the open's
 * record and the writer's store step applies it (lib/store_sqlite_opens.c,
 * sql_open_insert), as the last scanner rule: it turns a prefetch, proxy
 * or human open into a scanner's, never changes a scanner's reason.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "classify.h"
#include "log.h"
#include "util.h"

enum rule_kind {
    RULE_METHOD,     /* the request method is arg */
    RULE_NO_AGENT,   /* no User-Agent, or an empty one */
    RULE_AGENT_HAS,  /* the User-Agent holds arg (any case) */
    RULE_AGENT_IS,   /* the User-Agent is exactly arg */
    RULE_HEADER_HAS, /* request header 'header' holds the token arg (any case) */
    RULE_NETWORK,    /* the client is in a data file's network of the rule's class */
};

struct rule {
    enum rule_kind kind;
    const char *arg;
    const char *header;
    enum open_class cls;
    const char *reason;
};

static const struct rule rules[] = {
    /* --- scanner: security gateways and bots --- */
    /* RFC 9110 9.3.2: HEAD asks for the headers without the image; no mail client
       renders from it, link checkers and security gateways send it. */
    {RULE_METHOD, "HEAD", NULL, OPEN_SCANNER, "HEAD request"},
    /* RFC 9110 10.1.5: every browser and mail client sends a User-Agent; none, or an
       empty one, is a script. */
    {RULE_NO_AGENT, NULL, NULL, OPEN_SCANNER, "no user agent"},
    /* Vendors' own product names in the agents of their mail security gateways'
       link and image checks. */
    {RULE_AGENT_HAS, "Barracuda", NULL, OPEN_SCANNER, "agent: Barracuda"},
    {RULE_AGENT_HAS, "Mimecast", NULL, OPEN_SCANNER, "agent: Mimecast"},
    {RULE_AGENT_HAS, "Proofpoint", NULL, OPEN_SCANNER, "agent: Proofpoint"},
    /* Microsoft's link preview crawler (Bing, Outlook and Teams previews). */
    {RULE_AGENT_HAS, "BingPreview", NULL, OPEN_SCANNER, "agent: BingPreview"},
    /* The default agents of HTTP tools and libraries, as each sends it: curl
       ("curl/8.1.2"), GNU Wget ("Wget/1.21.3"), Python Requests
       ("python-requests/2.28.1"), Python's urllib ("Python-urllib/3.11"), Go's
       net/http ("Go-http-client/1.1"), Perl's LWP ("libwww-perl/6.68"), Java's
       HttpURLConnection ("Java/17.0.8"). */
    {RULE_AGENT_HAS, "curl/", NULL, OPEN_SCANNER, "agent: curl"},
    {RULE_AGENT_HAS, "Wget/", NULL, OPEN_SCANNER, "agent: Wget"},
    {RULE_AGENT_HAS, "python-requests/", NULL, OPEN_SCANNER, "agent: python-requests"},
    {RULE_AGENT_HAS, "Python-urllib/", NULL, OPEN_SCANNER, "agent: Python-urllib"},
    {RULE_AGENT_HAS, "Go-http-client/", NULL, OPEN_SCANNER, "agent: Go-http-client"},
    {RULE_AGENT_HAS, "libwww-perl/", NULL, OPEN_SCANNER, "agent: libwww-perl"},
    {RULE_AGENT_HAS, "Java/", NULL, OPEN_SCANNER, "agent: Java"},
    /* Headless browsers: Chrome's headless mode says "HeadlessChrome/<version>" where
       a person's Chrome says "Chrome/<version>"; PhantomJS names itself. */
    {RULE_AGENT_HAS, "HeadlessChrome", NULL, OPEN_SCANNER, "headless browser"},
    {RULE_AGENT_HAS, "PhantomJS", NULL, OPEN_SCANNER, "headless browser"},
    /* Mail filtering networks (Microsoft 365's, Barracuda's) in the data files. */
    {RULE_NETWORK, NULL, NULL, OPEN_SCANNER, "scanner network"},
    /* (Not a row here: an open sooner than open_min_seconds after its message was accepted
       is a scanner's - security gateways fetch images as the mail passes them, before any
       reader could. Its signal is the tracked message's accept time in the database, so the
       writer's store step applies it: lib/store_sqlite_opens.c, reason "opened N ms after
       acceptance (open_min_seconds)".) */

    /* --- prefetch: fetched for the reader before anyone looked --- */
    /* Prefetch request headers: Sec-Purpose (Fetch standard; Chrome's prefetches),
       Purpose (Chrome before Sec-Purpose, Safari), X-Moz (Firefox's link
       prefetching). */
    {RULE_HEADER_HAS, "prefetch", "Sec-Purpose", OPEN_PREFETCH, "Sec-Purpose: prefetch"},
    {RULE_HEADER_HAS, "prefetch", "Purpose", OPEN_PREFETCH, "Purpose: prefetch"},
    {RULE_HEADER_HAS, "prefetch", "X-Moz", OPEN_PREFETCH, "X-Moz: prefetch"},
    /* Apple Mail Privacy Protection fetches every remote image when the mail arrives,
       through Apple's proxies, with the bare agent "Mozilla/5.0" (as senders observe
       and publish it; no browser sends it bare). */
    {RULE_AGENT_IS, "Mozilla/5.0", NULL, OPEN_PREFETCH, "Apple Mail Privacy Protection agent"},
    /* Apple's privacy relay egress networks, where the admin adds them to the data
       files (Apple publishes the list; it is not shipped). */
    {RULE_NETWORK, NULL, NULL, OPEN_PREFETCH, "prefetch network"},

    /* --- proxy: a person, through a mail provider's image proxy --- */
    /* Gmail's image proxy: "... (via ggpht.com GoogleImageProxy)". */
    {RULE_AGENT_HAS, "GoogleImageProxy", NULL, OPEN_PROXY, "Gmail image proxy"},
    /* Yahoo Mail's image proxy: "YahooMailProxy; https://help.yahoo.com/...". */
    {RULE_AGENT_HAS, "YahooMailProxy", NULL, OPEN_PROXY, "Yahoo Mail image proxy"},
    /* Other providers' proxy networks the admin lists in the data files. */
    {RULE_NETWORK, NULL, NULL, OPEN_PROXY, "proxy network"},
};

#define NRULES          (sizeof(rules) / sizeof(rules[0]))
#define AGENT_STACK_MAX 1024 /* agents shorter than this are lowered on the stack */

/* classify_class_name - the class's name */
const char *classify_class_name(enum open_class c)
{
    static const char *const names[OPEN_NCLASSES] = {"human", "proxy", "prefetch", "scanner"};

    if ((unsigned)c >= OPEN_NCLASSES)
        bug("classify_class_name: class %d", (int)c);
    return names[c];
}

/*
 * has_token - does the header value v hold word as one of its tokens
 * (separated by commas, semicolons, '=' or white space), in any case?
 * Linear in v.
 */
static bool has_token(const char *v, const char *word)
{
    size_t n = strlen(word);

    while (*v) {
        size_t len = strcspn(v, ",;= \t");

        if (len == n && strncasecmp(v, word, n) == 0)
            return true;
        v += len;
        v += strspn(v, ",;= \t");
    }
    return false;
}

/* The rules' agent words lowered, made once (lower_words): strstr() on the lowered agent
   finds them in any case; strcasestr() took ten times as long, 1.2 us of every request
   for a person's agent that no rule matches. */
static const char *words_low[NRULES];
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

/* lower_words - words_low of every "agent holds" rule (kept for the process's life) */
static void lower_words(void)
{
    for (size_t i = 0; i < NRULES; i++)
        if (rules[i].kind == RULE_AGENT_HAS)
            words_low[i] = str_lower(xstrdup(rules[i].arg));
}

/* rule_matches - does rule u match r (agent_low: its agent lowered)? *source gets a network's
 * source words */
static bool rule_matches(const struct rule *u, const struct classify_nets *nets,
                         const struct classify_request *r, const char *agent_low,
                         const char **source)
{
    const char *v;

    switch (u->kind) {
    case RULE_METHOD:
        return r->method != NULL && strcmp(r->method, u->arg) == 0;
    case RULE_NO_AGENT:
        return r->agent == NULL || r->agent[0] == '\0';
    case RULE_AGENT_HAS:
        return agent_low != NULL && strstr(agent_low, words_low[u - rules]) != NULL;
    case RULE_AGENT_IS:
        return r->agent != NULL && strcmp(r->agent, u->arg) == 0;
    case RULE_HEADER_HAS:
        v = r->header != NULL ? r->header(r->header_ctx, u->header) : NULL;
        return v != NULL && has_token(v, u->arg);
    case RULE_NETWORK:
        if (nets == NULL || r->client == NULL)
            return false;
        *source = classify_nets_lookup(nets, r->client, u->cls);
        return *source != NULL;
    }
    bug("classify: rule kind %d", (int)u->kind);
}

/* classify - the first rule that matches r decides; else human */
void classify(const struct classify_nets *nets, const struct classify_request *r,
              struct classify_result *out)
{
    char stack[AGENT_STACK_MAX], *low = NULL;

    pthread_once(&words_once, lower_words);
    if (r->agent != NULL) { /* lowered once for every "agent holds" rule */
        size_t n = strlen(r->agent);

        low = n < sizeof(stack) ? stack : xmalloc(n + 1);
        memcpy(low, r->agent, n + 1);
        str_lower(low);
    }
    out->cls = OPEN_HUMAN;
    out->reason = "no machine signal";
    out->source = NULL;
    for (size_t i = 0; i < NRULES; i++) {
        const char *source = NULL;

        if (rule_matches(&rules[i], nets, r, low, &source)) {
            out->cls = rules[i].cls;
            out->reason = rules[i].reason;
            out->source = source;
            break;
        }
    }
    if (low != stack)
        free(low);
}

/* classify_reason - the reason, with the network's source words if any */
void classify_reason(const struct classify_result *res, struct buf *out)
{
    buf_puts(out, res->reason);
    if (res->source != NULL)
        buf_printf(out, " (%s)", res->source);
}
