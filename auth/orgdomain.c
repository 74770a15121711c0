/*
 * orgdomain.c - normalised domain names and Organizational Domains
 * (RFC 7489 3.2) from the Public Suffix List.
 *
 * SUMMARY
 *   The list is loaded once (pthread_once) with psl_latest() on Debian's
 *   dafsa file, which libpsl compares with its built-in copy and takes
 *   the newer; psl_builtin() is the fallback. libpsl only reads the list
 *   afterwards, so lookups from many threads need no lock. The list
 *   holds both ICANN and private entries (blogspot.com, github.io), as
 *   RFC 7489 asks: "the" Public Suffix List.
 *
 *   Organizational Domain = psl_registrable_domain() (public suffix + one
 *   label). A name that is itself a public suffix (co.uk, com, a single
 *   label by the implicit "*" rule) has no registrable part; it is taken
 *   as its own Organizational Domain, so "co.uk" never aligns with
 *   "x.co.uk" and _dmarc.co.uk is looked up once, not twice.
 *
 * NEVER
 *   Never hands libpsl an address (it would call "2.1" the registrable
 *   part of 192.0.2.1); never reads past len; never returns a name longer
 *   than 253 octets.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <idn2.h>
#include <libpsl.h>

#include "log.h"
#include "orgdomain.h"
#include "util.h"

#define PSL_FILE "/usr/share/publicsuffix/public_suffix_list.dafsa"

static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl; /* written once under psl_once, read-only after */

/* psl_load - load the list (run once); dies without any list */
static void psl_load(void)
{
    psl = psl_latest(PSL_FILE);
    if (psl == NULL)
        psl = psl_builtin();
    if (psl == NULL)
        die("orgdomain: no Public Suffix List (%s missing and libpsl has no built-in list)",
            PSL_FILE);
}

/* orgdomain_init - load the Public Suffix List now */
void orgdomain_init(void)
{
    pthread_once(&psl_once, psl_load);
}

/* ascii_lower - ASCII lower case of one byte */
static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* label_char - may c appear in a label of a name DMARC looks up? */
static bool label_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* check_ascii - validate a lower-case ASCII name in place */
static enum orgdomain_kind check_ascii(const char *s)
{
    size_t label = 0, total = strlen(s);
    bool all_digits = true; /* of the last label */
    unsigned char v6[16];

    if (total == 0 || total > 253)
        return ORGDOMAIN_INVALID;
    if (strchr(s, ':') != NULL && inet_pton(AF_INET6, s, v6) == 1)
        return ORGDOMAIN_LITERAL;
    for (const char *p = s;; p++) {
        if (*p == '.' || *p == '\0') {
            if (label == 0 || label > 63)
                return ORGDOMAIN_INVALID;
            if (*p == '\0')
                break;
            label = 0;
            all_digits = true;
            continue;
        }
        if (!label_char(*p))
            return ORGDOMAIN_INVALID;
        if (*p < '0' || *p > '9')
            all_digits = false;
        label++;
    }
    /* no top-level domain is numeric: 192.0.2.1 is an address, not a name */
    return all_digits ? ORGDOMAIN_LITERAL : ORGDOMAIN_NAME;
}

/* orgdomain_normalize - the comparable form of in[0..len) */
enum orgdomain_kind orgdomain_normalize(const char *in, size_t len, char out[ORGDOMAIN_LEN])
{
    char tmp[4 * ORGDOMAIN_LEN]; /* room for a UTF-8 name before conversion */
    bool ascii = true;
    enum orgdomain_kind kind;

    if (len > 0 && in[0] == '[')
        return ORGDOMAIN_LITERAL;
    if (len > 0 && in[len - 1] == '.')
        len--; /* one trailing dot: the root */
    if (len == 0 || len >= sizeof(tmp))
        return ORGDOMAIN_INVALID;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == '\0')
            return ORGDOMAIN_INVALID;
        if ((unsigned char)in[i] >= 0x80)
            ascii = false;
        tmp[i] = ascii_lower(in[i]);
    }
    tmp[len] = '\0';
    if (!ascii) {
        char *alabel = NULL;

        if (idn2_to_ascii_8z(tmp, &alabel, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) != IDN2_OK)
            return ORGDOMAIN_INVALID;
        if (!strlcpy_ok(tmp, alabel, sizeof(tmp))) {
            idn2_free(alabel);
            return ORGDOMAIN_INVALID;
        }
        idn2_free(alabel);
        for (char *p = tmp; *p; p++)
            *p = ascii_lower(*p);
    }
    kind = check_ascii(tmp);
    if (kind == ORGDOMAIN_NAME && !strlcpy_ok(out, tmp, ORGDOMAIN_LEN))
        return ORGDOMAIN_INVALID;
    return kind;
}

/* orgdomain_get - the Organizational Domain of a normalised name */
bool orgdomain_get(const char *domain, char out[ORGDOMAIN_LEN])
{
    const char *reg;

    out[0] = '\0';
    if (check_ascii(domain) != ORGDOMAIN_NAME)
        return false;
    orgdomain_init();
    reg = psl_registrable_domain(psl, domain);
    if (reg == NULL)
        reg = domain; /* a public suffix or a single label: its own */
    return strlcpy_ok(out, reg, ORGDOMAIN_LEN);
}

/* orgdomain_aligned - strict or relaxed alignment of two normalised names */
bool orgdomain_aligned(const char *a, const char *b, bool strict)
{
    char oa[ORGDOMAIN_LEN], ob[ORGDOMAIN_LEN];

    if (check_ascii(a) != ORGDOMAIN_NAME || check_ascii(b) != ORGDOMAIN_NAME)
        return false;
    if (strict)
        return strcmp(a, b) == 0;
    return orgdomain_get(a, oa) && orgdomain_get(b, ob) && strcmp(oa, ob) == 0;
}
