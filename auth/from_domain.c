/*
 * from_domain.c - the candidate author domains of RFC5322.From, read
 * strictly, for DMARC.
 *
 * SUMMARY
 *   A lexer turns a field body into RFC 5322 tokens (atoms, quoted
 *   strings, domain literals, specials), dropping CFWS: white space,
 *   folding and nested comments with quoted-pairs. A recursive-descent
 *   parser accepts address-list (RFC 6854: mailboxes and groups), with
 *   the obsolete forms that cost nothing: null list elements, '.' in
 *   display names (obs-phrase), CFWS around dots (white space only in a
 *   domain), and one trailing dot on a domain. Anything else - an
 *   unterminated comment, quote, literal or angle-addr, a route, nested
 *   groups, a word where a separator must be, a domain that is not a
 *   usable DNS name, a comment inside a domain, a comment holding an '@'
 *   inside an address - rejects the whole field,
 *   and then every "@domain" in its raw text, and in that text with its
 *   encoded-words decoded (from_readout.c), becomes a candidate instead
 *   (salvage). In a field that parses, a local-part holding an '@' or a
 *   look-alike (quoted or not) is bad (QUOTED) and adds every domain a
 *   reader could see after it; an encoded-word in one adds what it
 *   shows. A field over FROM_VALUE_MAX bytes is salvaged, not parsed
 *   (CUT); one with a bidi control is salvaged as written and as
 *   displayed too (BIDI, from_view.c). See from_domain.h for the
 *   outcome of each case.
 *
 *   lib/mailaddr.c is deliberately not used: it is the ledger's lenient
 *   reader (it recovers from unbalanced brackets and keeps going), which
 *   is right for logging and wrong for deciding who the author is.
 *
 * NEVER
 *   Never reads past a value's end, never decodes the encoded-words of a
 *   display name of a well-formed field (a display name is not an
 *   identity), never lets a syntax error remove a domain from the
 *   candidates, never keeps more than FROM_DOMAIN_MAX, never reads more
 *   than FROM_VALUE_MAX bytes of a field and never calls a cut field clean.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "from_domain.h"
#include "from_domain_int.h"
#include "orgdomain.h"
#include "util.h"

enum tok {
    T_END,
    T_ERR,
    T_ATOM,
    T_QSTR,
    T_DLIT,
    T_DOT,
    T_AT,
    T_LT,
    T_GT,
    T_COMMA,
    T_SEMI,
    T_COLON
};

struct lex {
    const char *p, *end; /* unread input */
    enum tok t;          /* current token */
    const char *s;       /* its text (quotes and brackets included) */
    size_t len;
    unsigned cfws; /* LX_COMMENT / LX_AT: comments skipped just before it */
};

#define LX_COMMENT 0x1u /* a comment came before the current token */
#define LX_AT      0x2u /* ... and one of them held an '@' (or a look-alike) */

/* One field's findings, committed only if the field parses. */
struct field {
    struct dset addr;   /* addr-spec domains */
    struct dset quoted; /* '@domain' inside local-parts */
    unsigned flags;
    size_t nmailboxes;
};

/*
 * skip_comment - skip a comment starting at lx->p ('('), noting in
 * lx->cfws that there was one and whether it held an '@'; false if
 * unterminated
 */
static bool skip_comment(struct lex *lx)
{
    size_t depth = 0;

    lx->cfws |= LX_COMMENT;
    while (lx->p < lx->end) {
        char c;

        if (from_at_len(lx->p, lx->end) != 0)
            lx->cfws |= LX_AT;
        c = *lx->p++;

        if (c == '\\') {
            if (lx->p == lx->end)
                return false;
            if (from_at_len(lx->p, lx->end) != 0)
                lx->cfws |= LX_AT; /* "(\\@)" shows an '@' too */
            lx->p++;
        } else if (c == '(') {
            depth++;
        } else if (c == ')' && --depth == 0) {
            return true;
        }
    }
    return false;
}

/* lex_next - read the next token into lx->t / s / len */
static void lex_next(struct lex *lx)
{
    const char *start;
    unsigned char c;

    lx->cfws = 0;
    for (;;) {
        while (lx->p < lx->end && from_is_wsp((unsigned char)*lx->p))
            lx->p++;
        if (lx->p == lx->end || *lx->p != '(')
            break;
        if (!skip_comment(lx)) {
            lx->t = T_ERR;
            return;
        }
    }
    start = lx->s = lx->p;
    lx->len = 1;
    if (lx->p == lx->end) {
        lx->t = T_END;
        lx->len = 0;
        return;
    }
    c = (unsigned char)*lx->p++;
    switch (c) {
    case '.':
        lx->t = T_DOT;
        return;
    case '@':
        lx->t = T_AT;
        return;
    case '<':
        lx->t = T_LT;
        return;
    case '>':
        lx->t = T_GT;
        return;
    case ',':
        lx->t = T_COMMA;
        return;
    case ';':
        lx->t = T_SEMI;
        return;
    case ':':
        lx->t = T_COLON;
        return;
    case '"':
    case '[':
        lx->t = T_ERR;
        while (lx->p < lx->end) {
            char d = *lx->p++;

            if (d == '\\') {
                if (lx->p == lx->end)
                    return;
                lx->p++;
            } else if (c == '"' && d == '"') {
                lx->t = T_QSTR;
                break;
            } else if (c == '[' && d == ']') {
                lx->t = T_DLIT;
                break;
            } else if (c == '[' && d == '[') {
                return;
            }
        }
        lx->len = (size_t)(lx->p - start);
        return;
    }
    if (!from_is_atext(c)) {
        lx->t = T_ERR;
        return;
    }
    while (lx->p < lx->end && from_is_atext((unsigned char)*lx->p))
        lx->p++;
    lx->t = T_ATOM;
    lx->len = (size_t)(lx->p - start);
}

struct words {
    const char *start, *end; /* raw span of the words */
    size_t nwords, ndots;
    bool local_ok;  /* word *("." word) */
    bool phrase_ok; /* word *(word / ".") */
    bool has_qstr;
    bool inner_at; /* a comment with an '@' after the first word (before the next token) */
};

/* collect_words - consume atoms, quoted strings and dots; classify them */
static void collect_words(struct lex *lx, struct words *w)
{
    enum tok prev = T_END;

    memset(w, 0, sizeof(*w));
    w->start = w->end = lx->s;
    w->local_ok = w->phrase_ok = true;
    while (lx->t == T_ATOM || lx->t == T_QSTR || lx->t == T_DOT) {
        if (prev != T_END && (lx->cfws & LX_AT))
            w->inner_at = true;
        if (lx->t == T_DOT) {
            w->ndots++;
            if (prev != T_ATOM && prev != T_QSTR)
                w->local_ok = false;
            if (prev == T_END)
                w->phrase_ok = false;
        } else {
            w->nwords++;
            if (prev == T_ATOM || prev == T_QSTR)
                w->local_ok = false;
            if (lx->t == T_QSTR)
                w->has_qstr = true;
        }
        prev = lx->t;
        w->end = lx->s + lx->len;
        lex_next(lx);
    }
    if (prev != T_END && (lx->cfws & LX_AT))
        w->inner_at = true; /* "ceo(ceo@victim.example)@..." */
    if (prev == T_DOT || w->nwords == 0)
        w->local_ok = false;
    if (w->nwords == 0)
        w->phrase_ok = false;
}

/*
 * parse_domain - the domain after '@'; false on a syntax error or a bad
 * name, and on any comment inside it ("ceo@(victim.example)example.org":
 * RFC 5322 allows it, no client writes it, a reader shows the comment
 * as part of the address)
 */
static bool parse_domain(struct lex *lx, struct field *f)
{
    char text[4 * ORGDOMAIN_LEN], name[ORGDOMAIN_LEN];
    size_t n = 0;
    bool too_long = false;
    enum orgdomain_kind kind;

    if (lx->cfws & LX_COMMENT)
        return false;
    if (lx->t == T_DLIT) {
        /* no DNS name; "[victim.example]" is still shown as victim.example */
        from_read_literal(lx->s + 1, lx->s + lx->len - 1, &f->addr, &f->flags);
        lex_next(lx);
        return true;
    }
    if (lx->t != T_ATOM)
        return false;
    for (;;) {
        if (n + lx->len + 1 < sizeof(text)) {
            memcpy(text + n, lx->s, lx->len);
            n += lx->len;
        } else {
            too_long = true;
        }
        lex_next(lx);
        if (lx->t != T_DOT)
            break;
        if (lx->cfws & LX_COMMENT)
            return false;
        if (n + 1 < sizeof(text))
            text[n++] = '.';
        lex_next(lx);
        if (lx->t != T_ATOM)
            break; /* one trailing dot */
        if (lx->cfws & LX_COMMENT)
            return false;
    }
    if (too_long)
        return false;
    kind = orgdomain_normalize(text, n, name);
    if (kind == ORGDOMAIN_LITERAL) {
        f->flags |= FROM_DOMAIN_INVALID;
        return true;
    }
    if (kind != ORGDOMAIN_NAME)
        return false;
    from_dset_add(&f->addr, name);
    return true;
}

/*
 * finish_mailbox - count a mailbox; an '@' (or a look-alike) anywhere in
 * its local-part makes the From bad (QUOTED), whatever follows it, and
 * every domain a reader may see after one is a candidate; an
 * encoded-word in it is decoded, as a reader shows it
 */
static void finish_mailbox(struct field *f, const struct words *local)
{
    size_t len = (size_t)(local->end - local->start);
    bool odd = local->has_qstr || memchr(local->start, '(', len), at = false;

    f->nmailboxes++;
    for (size_t i = 0; i < len && !odd; i++)
        odd = (unsigned char)local->start[i] >= 0x80 || local->start[i] == '=';
    if (!odd)
        return;
    for (const char *p = local->start; p < local->end && !at; p++)
        at = from_at_len(p, local->end) != 0;
    if (at) {
        f->flags |= FROM_DOMAIN_QUOTED;
        from_salvage_local(local->start, len, &f->quoted, &f->flags);
    }
    /* any encoded-word in a local-part: a reader shows it decoded */
    if (from_salvage_decoded(local->start, len, NULL, &f->quoted, &f->flags))
        f->flags |= FROM_DOMAIN_ENCODED;
}

/* parse_mailbox - a mailbox, or a group's display name and ':' (*group set) */
static bool parse_mailbox(struct lex *lx, struct field *f, bool *group)
{
    struct words w, local;

    collect_words(lx, &w);
    switch (lx->t) {
    case T_AT: /* addr-spec */
        if (!w.local_ok || w.inner_at)
            return false;
        lex_next(lx);
        if (!parse_domain(lx, f))
            return false;
        finish_mailbox(f, &w);
        return true;
    case T_LT: /* [display-name] angle-addr */
        if (w.nwords + w.ndots > 0 && !w.phrase_ok)
            return false;
        lex_next(lx);
        if (lx->cfws & LX_AT)
            return false; /* "<(ceo@victim.example)a@b.example>" */
        collect_words(lx, &local);
        if (lx->t != T_AT || !local.local_ok || local.inner_at)
            return false;
        lex_next(lx);
        if (!parse_domain(lx, f) || lx->t != T_GT || (lx->cfws & LX_AT))
            return false;
        lex_next(lx);
        finish_mailbox(f, &local);
        return true;
    case T_COLON: /* display-name ":" of a group */
        if (!w.phrase_ok)
            return false;
        lex_next(lx);
        *group = true;
        return true;
    default:
        return false;
    }
}

/* parse_field - a whole address-list value[0..len); false on any syntax error */
static bool parse_field(const char *value, size_t len, struct field *f)
{
    struct lex lx = {value, value + len, T_END, value, 0, 0};
    bool in_group = false;

    lex_next(&lx);
    for (;;) {
        bool group = false;

        switch (lx.t) {
        case T_END:
            return !in_group;
        case T_COMMA: /* null element (obs-addr-list) */
            lex_next(&lx);
            continue;
        case T_SEMI:
            if (!in_group)
                return false;
            in_group = false;
            lex_next(&lx);
            if (lx.t != T_COMMA && lx.t != T_END)
                return false;
            continue;
        default:
            break;
        }
        if (!parse_mailbox(&lx, f, &group))
            return false;
        if (group) {
            if (in_group)
                return false; /* groups do not nest */
            in_group = true;
            f->flags |= FROM_DOMAIN_GROUP;
            continue;
        }
        if (lx.t == T_COMMA || lx.t == T_END || (lx.t == T_SEMI && in_group))
            continue;
        return false;
    }
}

/*
 * analyze_field - one field into the running sets: parsed strictly, or
 * (malformed, or longer than FROM_VALUE_MAX) salvaged; a bidi control
 * anywhere adds what a bidi display shows
 */
static void analyze_field(const char *value, struct dset *addr, struct dset *quoted,
                          struct from_domains *out)
{
    size_t len = strnlen(value, FROM_VALUE_MAX + 1), declen = 0;
    unsigned cut = len > FROM_VALUE_MAX ? FROM_DOMAIN_CUT : 0;
    char *dec = NULL;
    bool any = false;
    struct field f;

    if (cut)
        len = FROM_VALUE_MAX;
    /* decoded once: salvage and the bidi check both read it */
    if (memmem(value, len, "=?", 2) != NULL) {
        dec = xmalloc(len + 1);
        declen = from_decode_words(value, len, dec, &any);
    }
    memset(&f, 0, sizeof(f));
    if (!cut && parse_field(value, len, &f)) {
        out->nmailboxes += f.nmailboxes;
    } else {
        /* not an address-list (or not all of it read): every "@domain" in it */
        f.flags = cut ? cut : FROM_DOMAIN_SYNTAX;
        memset(&f.addr, 0, sizeof(f.addr));
        memset(&f.quoted, 0, sizeof(f.quoted));
        from_salvage(value, len, &f.addr, &f.flags);
        if (any)
            from_salvage_words(dec, declen, &f.addr, &f.addr, &f.flags);
    }
    from_salvage_bidi(value, len, any ? dec : NULL, declen, &f.addr, &f.flags);
    free(dec);
    from_dset_merge(addr, &f.addr);
    from_dset_merge(quoted, &f.quoted);
    out->flags |= f.flags;
    if (f.addr.n == 0 && f.quoted.n == 0 && !f.addr.overflow)
        out->flags |= FROM_DOMAIN_EMPTY;
}

/* from_domain_analyze - the candidate author domains of the From fields */
void from_domain_analyze(const char *const *values, size_t nvalues, struct from_domains *out)
{
    struct dset addr, quoted, all;

    memset(out, 0, sizeof(*out));
    out->nfields = nvalues;
    if (nvalues == 0) {
        out->flags = FROM_DOMAIN_ABSENT;
        return;
    }
    if (nvalues > 1)
        out->flags |= FROM_DOMAIN_FIELDS;
    memset(&addr, 0, sizeof(addr));
    memset(&quoted, 0, sizeof(quoted));
    for (size_t i = 0; i < nvalues && !addr.overflow && !quoted.overflow; i++)
        analyze_field(values[i] ? values[i] : "", &addr, &quoted, out);

    memset(&all, 0, sizeof(all));
    from_dset_merge(&all, &addr);
    from_dset_merge(&all, &quoted);
    out->n = all.n;
    memcpy(out->domain, all.d, sizeof(out->domain));
    if (all.overflow)
        out->flags |= FROM_DOMAIN_TOO_MANY;
    if (all.n > 1 || all.overflow)
        out->flags |= FROM_DOMAIN_MULTI;
}

/* from_domain_clean - can DMARC be evaluated as usual for these candidates? */
bool from_domain_clean(const struct from_domains *fd, unsigned bad)
{
    return fd->n > 0 && !(fd->flags & bad);
}

/* from_is_name - "From", also with white space before the colon */
bool from_is_name(const char *name)
{
    size_t n = strlen(name);

    while (n > 4 && (name[n - 1] == ' ' || name[n - 1] == '\t'))
        n--;
    return n == 4 && strncasecmp(name, "From", 4) == 0;
}

/* from_domain_problem - short text for the oddest flag, or NULL */
const char *from_domain_problem(unsigned flags)
{
    static const struct {
        unsigned flag;
        const char *text;
    } texts[] = {
        {FROM_DOMAIN_ABSENT, "no From field"},
        {FROM_DOMAIN_TOO_MANY, "too many From domains"},
        {FROM_DOMAIN_CUT, "From field too long"},
        {FROM_DOMAIN_BIDI, "bidi control in a From field"},
        {FROM_DOMAIN_FIELDS, "several From fields"},
        {FROM_DOMAIN_ENCODED, "encoded-word in a From address"},
        {FROM_DOMAIN_SYNTAX, "malformed From field"},
        {FROM_DOMAIN_INVALID, "From domain is a literal or invalid"},
        {FROM_DOMAIN_QUOTED, "'@' inside a From local-part"},
        {FROM_DOMAIN_EMPTY, "From field without a mailbox"},
        {FROM_DOMAIN_MULTI, "several From domains"},
    };

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        if (flags & texts[i].flag)
            return texts[i].text;
    return NULL;
}
