/*
 * dkim_sign.c - DKIM signing of outbound mail over libopendkim: keys
 * loaded once from PEM files, one libopendkim signing handle per key per
 * message, the DKIM-Signature values ready for smfi_insheader().
 *
 * SUMMARY
 *   One DKIM_LIB per process (dkims_open), set up with the list of header
 *   fields to sign (DKIM_OPTS_SIGNHDRS: libopendkim adds From itself) and
 *   From to oversign (DKIM_OPTS_OVERSIGNHDRS: libopendkim 2.11 appends
 *   each listed name to h= once after the instances it signed). Both are
 *   process-wide: a per-handle list (dkim_signhdrs) would compile a
 *   regular expression for every message.
 *
 * KEYS
 *   Loaded and checked once in dkim_sign_key.c; a message hands each
 *   key's PEM to dkim_sign(). libopendkim copies it into every handle and
 *   decodes it again at end of message (dkim_privkey_load): 2.11 has no
 *   call to take a parsed key. Our allocator for libopendkim wipes every
 *   block it frees, so those per-message copies leave nothing behind.
 *
 *   libopendkim 2.11 leaks the key it decodes for an Ed25519 signature
 *   (dkim_free() releases the crypto state of RSA signatures only): about
 *   0.5 KiB per Ed25519 signature, never wiped. Nothing outside the
 *   library can free it.
 *
 * HEADER FIELDS
 *   libmilter gives name and value apart (folds "\n"+WSP, one leading
 *   space removed unless SMFIP_HDR_LEADSPC); dkimv_header_line() of
 *   auth/dkim_verify.c rebuilds "Name:value" with CRLF folds exactly as
 *   the verifier side does. Only fields whose names are signed are given
 *   to libopendkim (the others cannot change the hash).
 *
 * SIGNATURE FIELD
 *   dkim_getsighdr_d() with the width of "DKIM-Signature: " as first-line
 *   margin - the same call dkim_eom() makes for the copy it hashes - then
 *   its CRLF folds become "\n". The folding of the field we insert must
 *   be the folding libopendkim hashed (with b= empty) or simple header
 *   canonicalization fails. For RSA it is: libopendkim forces the break
 *   before b= from the key size in both copies. For Ed25519 it is not:
 *   the hashed copy keeps "b=" on the line when it fits, the final field
 *   always moves "b=<88 characters>" to a new line. So an Ed25519 key
 *   under simple header canonicalization signs with margin 0 (no folding
 *   in either copy) and we fold inside the b= value only, which
 *   verifiers delete before hashing (RFC 6376 3.7); its first line is
 *   then long (about 250 characters, well below 998).
 *
 * NEVER
 *   Never logs, prints or puts in an error string any key material or
 *   message content; never prompts for a passphrase; never aborts on a
 *   key or message libopendkim refuses (that key gets an error, the
 *   others still sign); never keeps a pointer into a caller's string.
 */
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <dkim.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#include "buf.h"
#include "dkim_sign.h"
#include "dkim_sign_int.h"
#include "dkim_verify.h"
#include "log.h"
#include "util.h"

/* The header fields we sign (those present); libopendkim adds From if missing here. */
static const char *const signed_fields[] = {
    "From",       "To",       "Cc",           "Subject",      "Date",
    "Message-ID", "Reply-To", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    NULL,
};
/* Listed in h= once more than they appear. */
static const char *const oversigned_fields[] = {"From", NULL};

struct dkims {
    DKIM_LIB *lib;
    bool ed25519; /* libopendkim was built with Ed25519 */
};

/* One key's signing handle within a message. */
struct signer {
    DKIM *dkim; /* NULL once it failed (or never started) */
    char *domain;
    char *selector;
    const char *algorithm; /* static */
    bool fold_b;           /* unfolded by libopendkim (margin 0): fold the b= value here */
    char *value;           /* the result */
    char *error;           /* why not */
};

struct dkims_msg {
    struct dkims *s;
    bool leadspc;
    bool eoh_done, eom_done;
    struct buf line; /* one "Name:value" at a time */
    bool body_seen;  /* some body was given */
    char tail[2];    /* its last two bytes */
    struct signer *sg;
    size_t n;
    struct dkims_sig *res; /* n entries, made at end of message */
    size_t nok;
};

/* lib_malloc - libopendkim's allocator: never NULL */
static void *lib_malloc(void *closure, size_t n)
{
    (void)closure;
    return xmalloc(n ? n : 1);
}

/* lib_free - libopendkim's deallocator: wipes the block first (it may hold a copy of a key) */
static void lib_free(void *closure, void *p)
{
    (void)closure;
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, malloc_usable_size(p));
    free(p);
}

/* dkims_open - the process-wide signer */
struct dkims *dkims_open(char *err, size_t errlen)
{
    struct dkims *s = xcalloc(1, sizeof(*s));

    s->lib = dkim_init(lib_malloc, lib_free);
    if (s->lib == NULL) {
        strlcpy_ok(err, "dkim-sign: cannot initialise libopendkim", errlen);
        return xfree(s);
    }
    if (!dkim_libfeature(s->lib, DKIM_FEATURE_SHA256) ||
        !dkim_libfeature(s->lib, DKIM_FEATURE_OVERSIGN)) {
        strlcpy_ok(err, "dkim-sign: libopendkim lacks SHA-256 or oversigning", errlen);
        goto fail;
    }
    s->ed25519 = dkim_libfeature(s->lib, DKIM_FEATURE_ED25519);
    if (!s->ed25519)
        warn("dkim-sign: libopendkim has no Ed25519: ed25519-sha256 keys will not sign");
    /* libopendkim copies both lists; the casts drop a const it does not honour in its types */
    if (dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_SIGNHDRS, (void *)(uintptr_t)signed_fields,
                     sizeof(char **)) != DKIM_STAT_OK ||
        dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_OVERSIGNHDRS,
                     (void *)(uintptr_t)oversigned_fields, sizeof(char **)) != DKIM_STAT_OK) {
        strlcpy_ok(err, "dkim-sign: libopendkim refused the signed header list", errlen);
        goto fail;
    }
    return s;
fail:
    dkim_close(s->lib);
    return xfree(s);
}

/* dkims_close - free the signer */
struct dkims *dkims_close(struct dkims *s)
{
    if (s == NULL)
        return NULL;
    dkim_close(s->lib);
    return xfree(s);
}

/* dkims_set_time - a fixed t= for every later signature */
bool dkims_set_time(struct dkims *s, unsigned long long when)
{
    uint64_t t = when;

    return dkim_options(s->lib, DKIM_OP_SETOPT, DKIM_OPTS_FIXEDTIME, &t, sizeof(t)) == DKIM_STAT_OK;
}

/* signer_fail - give up on one key with a reason; frees its handle */
static void signer_fail(struct signer *sg, const char *stage, DKIM_STAT st)
{
    const char *why = sg->dkim ? dkim_geterror(sg->dkim) : NULL;

    if (why == NULL || *why == '\0')
        why = dkim_getresultstr(st);
    if (why == NULL)
        why = "libopendkim error";
    if (sg->error == NULL)
        sg->error = xasprintf("%s: %s", stage, why);
    if (sg->dkim)
        dkim_free(sg->dkim);
    sg->dkim = NULL;
}

/* dkims_begin - start signing a message with nkeys keys */
struct dkims_msg *dkims_begin(struct dkims *s, struct dkims_key *const *keys, size_t nkeys,
                              unsigned flags)
{
    struct dkims_msg *m = xcalloc(1, sizeof(*m));
    dkim_canon_t hc = flags & DKIMS_SIMPLE_HEADER ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;
    dkim_canon_t bc = flags & DKIMS_SIMPLE_BODY ? DKIM_CANON_SIMPLE : DKIM_CANON_RELAXED;

    m->s = s;
    m->leadspc = (flags & DKIMS_LEADSPC) != 0;
    m->n = nkeys;
    m->sg = xcalloc(nkeys ? nkeys : 1, sizeof(*m->sg));
    for (size_t i = 0; i < nkeys; i++) {
        const struct dkims_key *k = keys[i];
        struct signer *sg = &m->sg[i];
        DKIM_STAT st = DKIM_STAT_OK;

        sg->domain = xstrdup(k->domain);
        sg->selector = xstrdup(k->selector);
        sg->algorithm = dkims_alg_name(k->alg);
        if (k->alg == DKIM_SIGN_ED25519SHA256 && !s->ed25519) {
            sg->error = xstrdup("start: libopendkim has no Ed25519");
            continue;
        }
        sg->dkim = dkim_sign(s->lib, (const unsigned char *)"postmeter", NULL,
                             (dkim_sigkey_t)(uintptr_t)k->pem, (const unsigned char *)k->selector,
                             (const unsigned char *)k->domain, hc, bc, k->alg, -1, &st);
        if (sg->dkim == NULL) {
            signer_fail(sg, "start", st);
        } else if (k->alg == DKIM_SIGN_ED25519SHA256 && hc == DKIM_CANON_SIMPLE) {
            st = dkim_set_margin(sg->dkim, 0); /* see SIGNATURE FIELD above */
            if (st == DKIM_STAT_OK)
                sg->fold_b = true;
            else
                signer_fail(sg, "start", st);
        }
    }
    return m;
}

/* is_signed_field - is name one of the fields we sign */
static bool is_signed_field(const char *name)
{
    for (size_t i = 0; signed_fields[i]; i++)
        if (strcasecmp(name, signed_fields[i]) == 0)
            return true;
    return false;
}

/* dkims_header - one header field as libmilter gives it */
void dkims_header(struct dkims_msg *m, const char *name, const char *value)
{
    if (m->eoh_done || name == NULL || !is_signed_field(name))
        return;
    buf_reset(&m->line);
    dkimv_header_line(&m->line, name, value ? value : "", m->leadspc);
    for (size_t i = 0; i < m->n; i++) {
        struct signer *sg = &m->sg[i];
        DKIM_STAT st;

        if (sg->dkim == NULL)
            continue;
        st = dkim_header(sg->dkim, (u_char *)m->line.data, m->line.len);
        if (st != DKIM_STAT_OK)
            signer_fail(sg, "header", st);
    }
}

/* dkims_eoh - end of the header */
void dkims_eoh(struct dkims_msg *m)
{
    if (m->eoh_done)
        return;
    m->eoh_done = true;
    for (size_t i = 0; i < m->n; i++) {
        struct signer *sg = &m->sg[i];
        DKIM_STAT st;

        if (sg->dkim == NULL)
            continue;
        st = dkim_eoh(sg->dkim);
        if (st != DKIM_STAT_OK)
            signer_fail(sg, "end of header", st);
    }
}

/* feed_body - a chunk to every signer still able to sign */
static void feed_body(struct dkims_msg *m, const unsigned char *chunk, size_t len)
{
    for (size_t i = 0; i < m->n; i++) {
        struct signer *sg = &m->sg[i];
        DKIM_STAT st;

        if (sg->dkim == NULL)
            continue;
        st = dkim_body(sg->dkim, (u_char *)(uintptr_t)chunk, len);
        if (st != DKIM_STAT_OK)
            signer_fail(sg, "body", st);
    }
}

/* dkims_body - a chunk of the body */
void dkims_body(struct dkims_msg *m, const unsigned char *chunk, size_t len)
{
    if (!m->eoh_done)
        dkims_eoh(m);
    if (m->eom_done || len == 0)
        return;
    if (len >= 2) {
        memcpy(m->tail, chunk + len - 2, 2);
    } else {
        m->tail[0] = m->tail[1];
        m->tail[1] = (char)chunk[0];
    }
    m->body_seen = true;
    feed_body(m, chunk, len);
}

/*
 * end_body - a body that does not end with CRLF gets one, as RFC 6376
 * 3.4.3 and 3.4.4 say both canonicalizations do (libopendkim's relaxed
 * one refuses such a body instead). Only other transports than SMTP can
 * make such a body.
 */
static void end_body(struct dkims_msg *m)
{
    if (m->body_seen && memcmp(m->tail, "\r\n", 2) != 0)
        feed_body(m, (const unsigned char *)"\r\n", 2);
}

/*
 * milter_value - the field value with "\n" folds instead of CRLF; NULL
 * if it holds a line end that is not a fold, a NUL, or starts with white
 * space (none of which can come out of libopendkim). Caller frees.
 */
static char *milter_value(const unsigned char *p, size_t len)
{
    struct buf b = BUF_INIT;

    if (len == 0 || p[0] == ' ' || p[0] == '\t')
        goto bad;
    for (size_t i = 0; i < len; i++) {
        bool next_wsp = i + 1 < len && (p[i + 1] == ' ' || p[i + 1] == '\t');

        if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n')
            continue; /* the LF is looked at next */
        if (p[i] == '\r' || (p[i] == '\n' && !next_wsp) || p[i] == '\0')
            goto bad;
        buf_putc(&b, p[i]);
    }
    return buf_steal(&b);
bad:
    buf_free(&b);
    return NULL;
}

/*
 * fold_b - fold the b= value (the last tag, after "; b=") of an unfolded
 * field value: "\n\t " before every 64 characters of it. Nothing outside
 * the b= value changes. NULL if there is no such tag; caller frees.
 */
static char *fold_b(const char *value)
{
    const char *b = NULL, *p;
    struct buf out = BUF_INIT;

    for (p = strstr(value, "; b="); p; p = strstr(p + 1, "; b="))
        b = p + 4;
    if (b == NULL || strchr(b, ';') || strpbrk(b, " \t\r\n"))
        return NULL;
    buf_add(&out, value, (size_t)(b - value));
    for (p = b; *p; p += strnlen(p, 64)) {
        buf_puts(&out, "\n\t ");
        buf_add(&out, p, strnlen(p, 64));
    }
    return buf_steal(&out);
}

/* sign_one - end of message for one key: its value or its error */
static void sign_one(struct signer *sg)
{
    DKIM_STAT st = dkim_eom(sg->dkim, NULL);
    unsigned char *hdr = NULL;
    size_t len = 0;

    if (st != DKIM_STAT_OK) {
        signer_fail(sg, "signing", st);
        return;
    }
    st = dkim_getsighdr_d(sg->dkim, sizeof(DKIM_SIGNHEADER ": ") - 1, &hdr, &len);
    if (st != DKIM_STAT_OK || hdr == NULL) {
        signer_fail(sg, "signature field", st);
        return;
    }
    sg->value = milter_value(hdr, len);
    if (sg->value && sg->fold_b) {
        char *folded = fold_b(sg->value);

        free(sg->value);
        sg->value = folded;
    }
    if (sg->value == NULL) {
        sg->error = xstrdup("signature field: malformed by libopendkim");
        dkim_free(sg->dkim);
        sg->dkim = NULL;
    }
}

/* dkims_eom - end of message: sign with every key still able to */
size_t dkims_eom(struct dkims_msg *m, const struct dkims_sig **sigs)
{
    if (!m->eoh_done)
        dkims_eoh(m);
    if (!m->eom_done) {
        end_body(m);
        m->eom_done = true;
        m->res = xcalloc(m->n ? m->n : 1, sizeof(*m->res));
        for (size_t i = 0; i < m->n; i++) {
            struct signer *sg = &m->sg[i];

            if (sg->dkim)
                sign_one(sg);
            m->res[i] = (struct dkims_sig){.domain = sg->domain,
                                           .selector = sg->selector,
                                           .algorithm = sg->algorithm,
                                           .value = sg->value,
                                           .error = sg->value ? NULL : sg->error};
            if (sg->value)
                m->nok++;
            else if (sg->error == NULL) /* cannot happen: a handle without value failed */
                m->res[i].error = sg->error = xstrdup("signing: unknown error");
        }
        ERR_clear_error(); /* what libopendkim left in this thread's OpenSSL queue */
    }
    *sigs = m->res;
    return m->nok;
}

/* dkims_end - free everything of the message */
struct dkims_msg *dkims_end(struct dkims_msg *m)
{
    if (m == NULL)
        return NULL;
    for (size_t i = 0; i < m->n; i++) {
        struct signer *sg = &m->sg[i];

        if (sg->dkim)
            dkim_free(sg->dkim);
        free(sg->domain);
        free(sg->selector);
        free(sg->value);
        free(sg->error);
    }
    free(m->sg);
    free(m->res);
    buf_free(&m->line);
    return xfree(m);
}
