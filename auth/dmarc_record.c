/*
 * dmarc_record.c - reading one DMARC policy record (RFC 7489 6.3, 6.4;
 * np= from RFC 9989) out of a TXT string.
 *
 * SUMMARY
 *   A record counts only if it starts with the version tag: "v" [WSP]
 *   "=" [WSP] "DMARC1" exactly (case-sensitive value, RFC 7489 6.3),
 *   followed by ';' or the end. The rest is a ';'-separated tag list;
 *   white space around tags, names and values is dropped, empty segments
 *   (";;", a trailing ';') are skipped, tag names compare without case
 *   and so do keyword values (p=Reject). Unknown tags are ignored (6.3).
 *
 *   Errors (6.3: "discarded in favor of default values"): a segment
 *   without '=' or with a bad name, a bad value, or a tag seen twice
 *   (DKIM's tag-list rule, RFC 6376 3.2, makes a repeated tag invalid; we
 *   drop that tag's value rather than the whole record) count in ->bad
 *   and leave the tag at its default. Then 6.6.3 step 5: if p= is missing
 *   or invalid, or sp= is invalid, a record with at least one valid rua=
 *   URI is read as "v=DMARC1; p=none" (sp and np dropped); without one it
 *   is DMARC_RECORD_INVALID and no DMARC processing applies. An invalid
 *   np= is only dropped (np is not in 7489's rule; the p/sp fallback
 *   applies).
 *
 * NEVER
 *   Never reads past len (TXT data may hold NUL bytes: they make a value
 *   invalid), never keeps a rua/ruf longer than URILIST_MAX or holding
 *   control bytes. One pass over the record: a hostile 64 KiB TXT costs
 *   a few microseconds.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "dmarc.h"
#include "util.h"

#define URILIST_MAX 4096 /* longest rua/ruf kept */

enum tag { TAG_P, TAG_SP, TAG_NP, TAG_ADKIM, TAG_ASPF, TAG_PCT, TAG_RUA, TAG_RUF, TAG_OTHER };

/* Known tags; fo, rf, ri are valid but not needed before reports exist. */
static const struct {
    const char *name;
    enum tag tag;
} tags[] = {{"p", TAG_P},       {"sp", TAG_SP},    {"np", TAG_NP},    {"adkim", TAG_ADKIM},
            {"aspf", TAG_ASPF}, {"pct", TAG_PCT},  {"rua", TAG_RUA},  {"ruf", TAG_RUF},
            {"fo", TAG_OTHER},  {"rf", TAG_OTHER}, {"ri", TAG_OTHER}, {"v", TAG_OTHER}};

/* is_wsp - white space inside a TXT record */
static bool is_wsp(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* trim - shrink [*a, *b) past white space at both ends */
static void trim(const char **a, const char **b)
{
    while (*a < *b && is_wsp(**a))
        (*a)++;
    while (*b > *a && is_wsp((*b)[-1]))
        (*b)--;
}

/* word_is - does [a, b) equal word, ignoring ASCII case? */
static bool word_is(const char *a, const char *b, const char *word)
{
    size_t n = strlen(word);

    return (size_t)(b - a) == n && strncasecmp(a, word, n) == 0;
}

/* dmarc_record_is_dmarc - does txt[0..len) start with the v=DMARC1 tag? */
bool dmarc_record_is_dmarc(const char *txt, size_t len)
{
    size_t i = 1;

    if (len < 1 || (txt[0] != 'v' && txt[0] != 'V'))
        return false;
    while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
        i++;
    if (i == len || txt[i++] != '=')
        return false;
    while (i < len && (txt[i] == ' ' || txt[i] == '\t'))
        i++;
    if (len - i < 6 || memcmp(txt + i, "DMARC1", 6) != 0)
        return false;
    for (i += 6; i < len && (txt[i] == ' ' || txt[i] == '\t'); i++)
        ;
    return i == len || txt[i] == ';';
}

/* parse_policy - none / quarantine / reject, or UNSET if invalid */
static enum dmarc_policy parse_policy(const char *a, const char *b)
{
    if (word_is(a, b, "none"))
        return DMARC_POLICY_NONE;
    if (word_is(a, b, "quarantine"))
        return DMARC_POLICY_QUARANTINE;
    if (word_is(a, b, "reject"))
        return DMARC_POLICY_REJECT;
    return DMARC_POLICY_UNSET;
}

/* parse_pct - 1*3DIGIT in 0..100 into *out; false if invalid */
static bool parse_pct(const char *a, const char *b, unsigned *out)
{
    unsigned v = 0;

    if (a == b || b - a > 3)
        return false;
    for (const char *p = a; p < b; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v > 100)
        return false;
    *out = v;
    return true;
}

/* uri_ok - scheme ":" something, optional "!" size[kmgt] (RFC 7489 6.4) */
static bool uri_ok(const char *a, const char *b)
{
    const char *bang = NULL, *p = a;

    if (a == b || !((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z')))
        return false;
    for (const char *q = a; q < b; q++) {
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return false;
        if (*q == '!')
            bang = q;
    }
    if (bang != NULL) {
        const char *s = bang + 1, *e = b;

        if (e > s && strchr("kmgtKMGT", e[-1]) != NULL)
            e--;
        if (s == e)
            return false;
        for (; s < e; s++)
            if (*s < '0' || *s > '9')
                return false;
        b = bang;
    }
    while (p < b && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
        p++;
    return p < b && *p == ':' && p + 1 < b;
}

/* parse_urilist - keep a rua/ruf value; *valid if any URI is well formed */
static bool parse_urilist(const char *a, const char *b, char **out, bool *valid)
{
    const char *p = a;

    if ((size_t)(b - a) > URILIST_MAX)
        return false;
    for (const char *q = a; q < b; q++)
        if ((unsigned char)*q < 0x20 || (unsigned char)*q == 0x7f)
            return false;
    *valid = false;
    while (p <= b) {
        const char *e = memchr(p, ',', (size_t)(b - p));
        const char *s = p;

        if (e == NULL)
            e = b;
        p = e + 1;
        trim(&s, &e);
        if (uri_ok(s, e))
            *valid = true;
    }
    *out = xstrndup(a, (size_t)(b - a));
    return true;
}

/* apply_tag - store one tag's value; false if the value is invalid */
static bool apply_tag(enum tag t, const char *a, const char *b, struct dmarc_record *rec)
{
    switch (t) {
    case TAG_P:
        rec->p = parse_policy(a, b);
        rec->p_bad = rec->p == DMARC_POLICY_UNSET;
        return !rec->p_bad;
    case TAG_SP:
        rec->sp = parse_policy(a, b);
        rec->sp_bad = rec->sp == DMARC_POLICY_UNSET;
        return !rec->sp_bad;
    case TAG_NP:
        rec->np = parse_policy(a, b);
        return rec->np != DMARC_POLICY_UNSET;
    case TAG_ADKIM:
    case TAG_ASPF: {
        enum dmarc_align *m = t == TAG_ADKIM ? &rec->adkim : &rec->aspf;

        if (word_is(a, b, "s"))
            *m = DMARC_ALIGN_STRICT;
        else if (word_is(a, b, "r"))
            *m = DMARC_ALIGN_RELAXED;
        else
            return false;
        return true;
    }
    case TAG_PCT:
        return parse_pct(a, b, &rec->pct);
    case TAG_RUA:
        return parse_urilist(a, b, &rec->rua, &rec->rua_valid);
    case TAG_RUF: {
        bool ignored;

        return parse_urilist(a, b, &rec->ruf, &ignored);
    }
    case TAG_OTHER:
        return true;
    }
    return true;
}

/* drop_tag - a repeated tag: back to its default, as if invalid */
static void drop_tag(enum tag t, struct dmarc_record *rec)
{
    switch (t) {
    case TAG_P:
        rec->p = DMARC_POLICY_UNSET;
        rec->p_bad = true;
        break;
    case TAG_SP:
        rec->sp = DMARC_POLICY_UNSET;
        rec->sp_bad = true;
        break;
    case TAG_NP:
        rec->np = DMARC_POLICY_UNSET;
        break;
    case TAG_ADKIM:
        rec->adkim = DMARC_ALIGN_RELAXED;
        break;
    case TAG_ASPF:
        rec->aspf = DMARC_ALIGN_RELAXED;
        break;
    case TAG_PCT:
        rec->pct = 100;
        break;
    case TAG_RUA:
        rec->rua = xfree(rec->rua);
        rec->rua_valid = false;
        break;
    case TAG_RUF:
        rec->ruf = xfree(rec->ruf);
        break;
    case TAG_OTHER:
        break;
    }
}

/* name_ok - ALPHA *(ALPHA / DIGIT / "_") */
static bool name_ok(const char *a, const char *b)
{
    if (a == b || !((*a >= 'a' && *a <= 'z') || (*a >= 'A' && *a <= 'Z')))
        return false;
    for (const char *p = a; p < b; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_'))
            return false;
    return true;
}

/* dmarc_record_parse - parse one TXT record into *rec */
enum dmarc_record_status dmarc_record_parse(const char *txt, size_t len, struct dmarc_record *rec)
{
    const char *p, *end = txt + len;
    unsigned seen = 0, dropped = 0;

    memset(rec, 0, sizeof(*rec));
    rec->pct = 100;
    if (!dmarc_record_is_dmarc(txt, len))
        return DMARC_RECORD_NOT_DMARC;
    p = memchr(txt, ';', len);
    p = p ? p + 1 : end; /* past the version tag */
    while (p < end) {
        const char *seg = p, *segend = memchr(p, ';', (size_t)(end - p)), *eq;
        const char *na, *nb, *va, *vb;
        enum tag t = TAG_OTHER;
        bool known = false;

        if (segend == NULL)
            segend = end;
        p = segend + 1;
        trim(&seg, &segend);
        if (seg == segend)
            continue;
        eq = memchr(seg, '=', (size_t)(segend - seg));
        if (eq == NULL) {
            rec->bad++;
            continue;
        }
        na = seg, nb = eq, va = eq + 1, vb = segend;
        trim(&na, &nb);
        trim(&va, &vb);
        if (!name_ok(na, nb)) {
            rec->bad++;
            continue;
        }
        for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
            if (word_is(na, nb, tags[i].name)) {
                t = tags[i].tag;
                known = true;
                break;
            }
        }
        if (!known || t == TAG_OTHER) {
            if (word_is(na, nb, "v")) /* a second version tag */
                rec->bad++;
            continue;
        }
        if (dropped & (1u << t)) {
            rec->bad++;
            continue;
        }
        if (seen & (1u << t)) {
            drop_tag(t, rec);
            dropped |= 1u << t;
            rec->bad++;
            continue;
        }
        seen |= 1u << t;
        if (!apply_tag(t, va, vb, rec))
            rec->bad++;
    }
    if (rec->p == DMARC_POLICY_UNSET || rec->p_bad || rec->sp_bad) {
        if (!rec->rua_valid)
            return DMARC_RECORD_INVALID;
        rec->p = DMARC_POLICY_NONE; /* RFC 7489 6.6.3 step 5.1 */
        rec->sp = rec->np = DMARC_POLICY_UNSET;
    }
    return DMARC_RECORD_OK;
}

/* dmarc_record_clear - free rua/ruf and zero the record */
void dmarc_record_clear(struct dmarc_record *rec)
{
    free(rec->rua);
    free(rec->ruf);
    memset(rec, 0, sizeof(*rec));
}
