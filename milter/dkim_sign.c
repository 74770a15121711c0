/*
 * dkim_sign.c - DKIM signing of outbound mail (RFC 6376; RSA-SHA256 and
 * Ed25519-SHA256 per RFC 8463) with OpenSSL: the message flow, the
 * header hash and the DKIM-Signature values ready for smfi_insheader().
 *
 * SUMMARY
 *   Keys are parsed once (dkim_sign_key.c); a message takes a reference
 *   to each key's EVP_PKEY in dkims_begin(). The body is canonicalized
 *   and hashed as it streams in (lib/dkim_canon.c), once for all keys: they
 *   share the message's canonicalization. Header fields whose names are
 *   signed are kept in canonical form (small) until end of header, when
 *   h= and the canonical header data are made; the other fields are not
 *   kept. At end of message each key gets its field value and signature.
 *
 * HEADER HASH
 *   h= lists the signed fields present in header order with their names
 *   as written, then From once more (oversigned). The hash takes them as
 *   a verifier will (RFC 6376 5.4.2): for each name of h= the last
 *   instance not yet taken, nothing for a name with none left; then the
 *   DKIM-Signature field exactly as it will appear once inserted -
 *   "DKIM-Signature: " + the value, folds as CRLF + TAB - up to and
 *   including "b=" (b= last, its value empty), canonicalized like the
 *   others, without a final CRLF (RFC 6376 3.7). The folds before "b="
 *   depend only on lengths known before signing, so the hashed text is
 *   the exact start of the field inserted; the b= value is folded inside
 *   (verifiers delete it with its white space).
 *
 *   RSA: EVP_DigestSign with SHA-256 over that data. Ed25519: PureEdDSA
 *   (EVP_DigestSign, no digest) over the 32-byte SHA-256 of that data,
 *   as RFC 8463 section 3 says.
 *
 * NEVER
 *   Never logs, prints or puts in an error string any key material or
 *   message content; never aborts on a message or key that cannot sign
 *   (that key gets an error, the others still sign); never keeps a
 *   pointer into a caller's string.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "buf.h"
#include "dkim_sign.h"
#include "dkim_sign_int.h"
#include "dkim_verify.h"
#include "log.h"
#include "util.h"

#define SIG_NAME   "DKIM-Signature"
#define SIG_PREFIX SIG_NAME ": " /* what the MTA (or a LEADSPC caller) writes before the value */
#define FOLD_WIDTH 78            /* RFC 5322 2.1.1: lines SHOULD stay within 78 characters */
#define TAB_WIDTH  8             /* a fold's TAB counts as this many columns */

/* The header fields we sign (those present, every instance). */
static const char *const signed_fields[] = {
    "From",       "To",       "Cc",           "Subject",      "Date",
    "Message-ID", "Reply-To", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
    NULL,
};

struct dkims {
    unsigned long long fixed_time; /* t= for every signature; 0: the time of signing */
};

#define NSIGNED (sizeof(signed_fields) / sizeof(signed_fields[0]) - 1)

/* One signed header field as seen, in canonical form. */
struct field {
    char *name;  /* as written */
    char *canon; /* canonical "name:value" + CRLF */
    size_t len;
    size_t which; /* its name's index in signed_fields */
};

/* One key's signature within a message. */
struct signer {
    char *domain;
    char *selector;
    enum dkims_alg alg;
    EVP_PKEY *pkey; /* our reference; NULL once it failed */
    char *value;    /* the result */
    char *error;    /* why not */
};

struct dkims_msg {
    struct dkims *s;
    bool leadspc, relaxed_header;
    bool eoh_done, eom_done;
    struct buf line; /* one "Name:value" at a time */
    struct field *f;
    size_t nf, fcap;
    struct buf hlist;  /* h= value, unfolded: "From:To:...:From" */
    struct buf hcanon; /* the canonical header fields in the order hashed */
    struct dkim_body body;
    struct signer *sg;
    size_t n;
    struct dkims_sig *res; /* n entries, made at end of message */
    size_t nok;
};

/*
 * dkims_open - the process-wide signer
 *
 * OpenSSL is not touched here: until a key is loaded or a message signed,
 * the process maps libcrypto but does not initialize it (its
 * configuration and providers cost about 3 MiB of pages), so a milter
 * that only keeps the ledger stays small. A broken OpenSSL shows at the
 * first signature: dkim_sha256() logs it, and that signature fails (on_sign_error).
 */
struct dkims *dkims_open(char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    return xcalloc(1, sizeof(struct dkims));
}

/* dkims_close - free the signer */
struct dkims *dkims_close(struct dkims *s)
{
    return xfree(s);
}

/* dkims_set_time - a fixed t= for every later signature */
bool dkims_set_time(struct dkims *s, unsigned long long when)
{
    s->fixed_time = when;
    return when > 0;
}

/* signer_fail - give up on one key with a reason (the first one given stays) */
static void signer_fail(struct signer *sg, const char *why)
{
    if (sg->error == NULL)
        sg->error = xstrdup(why);
    EVP_PKEY_free(sg->pkey);
    sg->pkey = NULL;
}

/* alive - how many keys can still sign */
static size_t alive(const struct dkims_msg *m)
{
    size_t n = 0;

    for (size_t i = 0; i < m->n; i++)
        n += m->sg[i].pkey != NULL;
    return n;
}

/* dkims_begin - start signing a message with nkeys keys */
struct dkims_msg *dkims_begin(struct dkims *s, struct dkims_key *const *keys, size_t nkeys,
                              unsigned flags)
{
    struct dkims_msg *m = xcalloc(1, sizeof(*m));
    bool body_ok = dkim_body_init(&m->body, (flags & DKIMS_SIMPLE_BODY) == 0, DKIM_BODY_ALL);

    m->s = s;
    m->leadspc = (flags & DKIMS_LEADSPC) != 0;
    m->relaxed_header = (flags & DKIMS_SIMPLE_HEADER) == 0;
    m->n = nkeys;
    m->sg = xcalloc(nkeys ? nkeys : 1, sizeof(*m->sg));
    for (size_t i = 0; i < nkeys; i++) {
        const struct dkims_key *k = keys[i];
        struct signer *sg = &m->sg[i];

        sg->domain = xstrdup(k->domain);
        sg->selector = xstrdup(k->selector);
        sg->alg = k->alg;
        if (EVP_PKEY_up_ref(k->pkey) == 1)
            sg->pkey = k->pkey;
        else
            signer_fail(sg, "start: cannot take a reference to the key");
        if (!body_ok)
            signer_fail(sg, "start: OpenSSL cannot hash the body");
    }
    ERR_clear_error();
    return m;
}

/* signed_index - name's index in signed_fields, NSIGNED if it is not signed */
static size_t signed_index(const char *name)
{
    size_t i;

    for (i = 0; signed_fields[i]; i++)
        if (strcasecmp(name, signed_fields[i]) == 0)
            break;
    return i;
}

/* dkims_header - one header field as libmilter gives it */
void dkims_header(struct dkims_msg *m, const char *name, const char *value)
{
    struct buf canon = BUF_INIT;
    struct field *f;

    size_t which;

    if (m->eoh_done || name == NULL || (which = signed_index(name)) == NSIGNED || alive(m) == 0)
        return;
    buf_reset(&m->line);
    dkimv_header_line(&m->line, name, value ? value : "", m->leadspc);
    dkim_canon_header(&canon, m->line.data, m->line.len, m->relaxed_header);
    buf_puts(&canon, "\r\n");
    if (m->nf == m->fcap) { /* doubling: a stranger may send 100,000 To: fields */
        m->fcap = m->fcap ? 2 * m->fcap : 16;
        m->f = xrealloc(m->f, m->fcap * sizeof(*m->f));
    }
    f = &m->f[m->nf++];
    f->name = xstrdup(name);
    f->len = canon.len;
    f->canon = buf_steal(&canon);
    f->which = which;
}

/*
 * take_all - the header data into hcanon: for each signed field in header
 * order (each name of h=), the last instance of its name not yet taken
 * (RFC 6376 5.4.2). The k-th field of a name in header order takes the
 * k-th of that name from the bottom: fields grouped by name once
 * (counting sort), O(fields), never a walk over the fields per name.
 */
static void take_all(struct dkims_msg *m)
{
    size_t count[NSIGNED] = {0}, start[NSIGNED], seen[NSIGNED] = {0};
    size_t *byname = xcalloc(m->nf ? m->nf : 1, sizeof(*byname)), sum = 0;

    for (size_t i = 0; i < m->nf; i++)
        count[m->f[i].which]++;
    for (size_t w = 0; w < NSIGNED; w++) {
        start[w] = sum;
        sum += count[w];
    }
    for (size_t i = 0; i < m->nf; i++) { /* each name's fields in header order */
        size_t w = m->f[i].which;

        byname[start[w] + seen[w]++] = i;
    }
    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < m->nf; i++) {
        size_t w = m->f[i].which;
        const struct field *f = &m->f[byname[start[w] + count[w] - 1 - seen[w]++]];

        buf_add(&m->hcanon, f->canon, f->len);
    }
    free(byname);
}

/* dkims_eoh - end of the header: h= and the header data every key hashes */
void dkims_eoh(struct dkims_msg *m)
{
    bool from = false;

    if (m->eoh_done)
        return;
    m->eoh_done = true;
    for (size_t i = 0; i < m->nf; i++) {
        buf_printf(&m->hlist, "%s%s", i ? ":" : "", m->f[i].name);
        from = from || strcasecmp(m->f[i].name, "From") == 0;
    }
    if (!from) { /* RFC 6376 5.4: From MUST be signed */
        for (size_t i = 0; i < m->n; i++)
            signer_fail(&m->sg[i], "end of header: required header \"from\" not found");
        return;
    }
    buf_puts(&m->hlist, ":From"); /* oversigned: a From added later breaks the signature */
    take_all(m);
}

/* dkims_body - a chunk of the body */
void dkims_body(struct dkims_msg *m, const unsigned char *chunk, size_t len)
{
    if (!m->eoh_done)
        dkims_eoh(m);
    if (m->eom_done || len == 0 || alive(m) == 0)
        return;
    dkim_body_update(&m->body, chunk, len);
}

/* Folding of the field value as it is built. */
struct fold {
    struct buf *out;
    size_t col; /* the column after the last character written */
};

/* fold_put - a token, after a space if space, on a new line ("\n\t") if it would pass the width */
static void fold_put(struct fold *f, const char *tok, size_t len, bool space)
{
    if (f->col > TAB_WIDTH && f->col + (space ? 1 : 0) + len > FOLD_WIDTH) {
        buf_puts(f->out, "\n\t");
        f->col = TAB_WIDTH;
    } else if (space) {
        buf_putc(f->out, ' ');
        f->col++;
    }
    buf_add(f->out, tok, len);
    f->col += len;
}

/* fold_tag - a whole "tag=value;" token */
static void fold_tag(struct fold *f, const char *tag, const char *value)
{
    char *tok = xasprintf("%s=%s;", tag, value);

    fold_put(f, tok, strlen(tok), f->out->len > 0);
    free(tok);
}

/*
 * head_value - the field value of this key for this message up to and
 * including "b=" (LF folds): what is hashed, and the start of what is
 * inserted. Caller frees.
 */
static char *head_value(const struct dkims_msg *m, const struct signer *sg, const char *bh,
                        unsigned long long when)
{
    struct buf out = BUF_INIT;
    struct fold f = {&out, sizeof(SIG_PREFIX) - 1};
    struct buf tok = BUF_INIT;
    char num[32];
    const char *h = buf_cstr(&m->hlist), *end = h + m->hlist.len;

    fold_tag(&f, "v", "1");
    fold_tag(&f, "a", dkims_alg_name(sg->alg));
    fold_tag(&f, "c",
             m->relaxed_header ? (m->body.relaxed ? "relaxed/relaxed" : "relaxed/simple")
                               : (m->body.relaxed ? "simple/relaxed" : "simple/simple"));
    fold_tag(&f, "d", sg->domain);
    fold_tag(&f, "s", sg->selector);
    if (!snprintf_ok(num, sizeof(num), "%llu", when))
        bug("dkim-sign: t= does not fit");
    fold_tag(&f, "t", num);
    /*
     * h=: folded after a colon where needed. Each name is found with
     * memchr over what is left, never a string function that measures
     * the rest of the list (80,000 names would make that quadratic).
     */
    for (bool first = true; h < end; first = false) {
        const char *colon = memchr(h, ':', (size_t)(end - h));
        size_t n = colon ? (size_t)(colon - h) : (size_t)(end - h);

        buf_reset(&tok);
        if (first)
            buf_puts(&tok, "h=");
        buf_add(&tok, h, n);
        buf_putc(&tok, colon ? ':' : ';');
        fold_put(&f, tok.data, tok.len, first);
        h += n + (colon ? 1 : 0);
    }
    buf_free(&tok);
    fold_tag(&f, "bh", bh);
    buf_puts(&out, "\n\tb="); /* always on a line of its own */
    return buf_steal(&out);
}

/*
 * field_canon - SIG_PREFIX + value with CRLF folds (the field as it will
 * be in the message), canonicalized into out, no final CRLF
 */
static void field_canon(struct buf *out, const char *value, bool relaxed)
{
    struct buf raw = BUF_INIT;

    buf_puts(&raw, SIG_PREFIX);
    for (const char *p = value; *p; p++) {
        if (*p == '\n')
            buf_putc(&raw, '\r');
        buf_putc(&raw, *p);
    }
    dkim_canon_header(out, raw.data, raw.len, relaxed);
    buf_free(&raw);
}

/* sign_data - the signature of the header data; xmalloc'd in *sig, NULL on failure */
static unsigned char *sign_data(const struct signer *sg, const struct buf *hcanon,
                                const struct buf *sigcanon, size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char digest[DKIM_SHA256_LEN], *sig = NULL;
    unsigned int dlen = 0;
    bool ok = false;

    if (ctx == NULL)
        return NULL;
    if (sg->alg == DKIMS_RSA_SHA256) {
        ok = EVP_DigestSignInit(ctx, NULL, dkim_sha256(), NULL, sg->pkey) == 1 &&
             EVP_DigestSignUpdate(ctx, hcanon->data, hcanon->len) == 1 &&
             EVP_DigestSignUpdate(ctx, sigcanon->data, sigcanon->len) == 1 &&
             EVP_DigestSignFinal(ctx, NULL, siglen) == 1;
        if (ok) {
            sig = xmalloc(*siglen);
            ok = EVP_DigestSignFinal(ctx, sig, siglen) == 1;
        }
    } else {
        /* RFC 8463 3: Ed25519 signs the SHA-256 hash of the header data */
        ok = EVP_DigestInit_ex(ctx, dkim_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(ctx, hcanon->data, hcanon->len) == 1 &&
             EVP_DigestUpdate(ctx, sigcanon->data, sigcanon->len) == 1 &&
             EVP_DigestFinal_ex(ctx, digest, &dlen) == 1 && dlen == sizeof(digest) &&
             EVP_MD_CTX_reset(ctx) == 1 &&
             EVP_DigestSignInit(ctx, NULL, NULL, NULL, sg->pkey) == 1 &&
             EVP_DigestSign(ctx, NULL, siglen, digest, sizeof(digest)) == 1;
        if (ok) {
            sig = xmalloc(*siglen);
            ok = EVP_DigestSign(ctx, sig, siglen, digest, sizeof(digest)) == 1;
        }
    }
    EVP_MD_CTX_free(ctx);
    OPENSSL_cleanse(digest, sizeof(digest));
    if (!ok)
        sig = xfree(sig);
    return sig;
}

/* base64 - standard base64 of len bytes; caller frees */
static char *base64(const unsigned char *p, size_t len)
{
    char *out = xmalloc(4 * ((len + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    return out;
}

/* sign_one - end of message for one key: its value or its error */
static void sign_one(struct dkims_msg *m, struct signer *sg, const char *bh,
                     unsigned long long when)
{
    char *head = head_value(m, sg, bh, when), *b64;
    struct buf sigcanon = BUF_INIT, value = BUF_INIT;
    unsigned char *sig;
    size_t siglen = 0, col = TAB_WIDTH + 2; /* after "\tb=" */

    field_canon(&sigcanon, head, m->relaxed_header);
    sig = sign_data(sg, &m->hcanon, &sigcanon, &siglen);
    buf_free(&sigcanon);
    if (sig == NULL) {
        free(head);
        signer_fail(sg, "signing: OpenSSL cannot sign with the key");
        return;
    }
    b64 = base64(sig, siglen);
    free(sig);
    buf_puts(&value, head);
    for (const char *p = b64; *p;) { /* fold inside the b= value */
        size_t n = strnlen(p, FOLD_WIDTH - col);

        if (p != b64)
            buf_puts(&value, "\n\t");
        buf_add(&value, p, n);
        p += n;
        col = TAB_WIDTH;
    }
    free(b64);
    free(head);
    sg->value = buf_steal(&value);
}

/* dkims_eom - end of message: sign with every key still able to */
size_t dkims_eom(struct dkims_msg *m, const struct dkims_sig **sigs)
{
    if (!m->eoh_done)
        dkims_eoh(m);
    if (!m->eom_done) {
        unsigned char bh[DKIM_SHA256_LEN];
        char *bh64 = NULL;
        unsigned long long when =
            m->s->fixed_time ? m->s->fixed_time : (unsigned long long)time(NULL);

        m->eom_done = true;
        if (alive(m) > 0) {
            if (dkim_body_final(&m->body, bh))
                bh64 = base64(bh, sizeof(bh));
            for (size_t i = 0; i < m->n; i++)
                if (bh64 == NULL)
                    signer_fail(&m->sg[i], "body: OpenSSL cannot hash the body");
        }
        m->res = xcalloc(m->n ? m->n : 1, sizeof(*m->res));
        for (size_t i = 0; i < m->n; i++) {
            struct signer *sg = &m->sg[i];

            if (sg->pkey)
                sign_one(m, sg, bh64, when);
            m->res[i] = (struct dkims_sig){.domain = sg->domain,
                                           .selector = sg->selector,
                                           .algorithm = dkims_alg_name(sg->alg),
                                           .value = sg->value,
                                           .error = sg->value ? NULL : sg->error};
            if (sg->value)
                m->nok++;
            else if (sg->error == NULL) /* cannot happen: a key without value failed */
                m->res[i].error = sg->error = xstrdup("signing: unknown error");
        }
        free(bh64);
        ERR_clear_error(); /* nothing of ours for the next user of this thread's queue */
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

        EVP_PKEY_free(sg->pkey);
        free(sg->domain);
        free(sg->selector);
        free(sg->value);
        free(sg->error);
    }
    for (size_t i = 0; i < m->nf; i++) {
        free(m->f[i].name);
        free(m->f[i].canon);
    }
    free(m->f);
    free(m->sg);
    free(m->res);
    dkim_body_free(&m->body);
    buf_free(&m->line);
    buf_free(&m->hlist);
    buf_free(&m->hcanon);
    return xfree(m);
}
