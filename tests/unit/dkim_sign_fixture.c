/*
 * dkim_sign_fixture.c - the keys, messages, signing and verifying
 * helpers the DKIM signer unit tests share; see dkim_sign_fixture.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "dkim_sign.h"
#include "dkim_verify.h"
#include "dns.h"
#include "util.h"

#include "dkim_sign_fixture.h"

static const char *const full_fields[] = {
    "Received: from client.example.test by mx.example.test",
    "From: Alice <alice@example.test>",
    "To: Bob <bob@example.org>,\n\tCarol <carol@example.org>",
    "Cc: dave@example.org",
    "Subject: a subject\n that is folded",
    "Date: Mon, 1 Jan 2024 10:00:00 +0000",
    "message-id: <1@example.test>",
    "Reply-To: alice+reply@example.test",
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    "Content-Transfer-Encoding: 8bit",
    "X-Mailer: test",
    "List-Id: <list.example.test>",
};
const struct tmsg full = {full_fields, sizeof(full_fields) / sizeof(full_fields[0]),
                          "Hello \xc3\xa9t\xc3\xa9,\r\n\r\nline  with   spaces  \r\n\r\n\r\n"};

const char *const short_fields[] = {
    "From: alice@example.test",
    "To: bob@example.org",
    "Subject: short",
};
const struct tmsg short_msg = {short_fields, 3, "x\r\n"};

/* load - a key of tests/data/dkim-sign that must load */
struct dkims_key *load(const char *file, const char *alg, const char *selector)
{
    char path[512], err[256] = "";
    struct dkims_key *k;

    assert_true(snprintf_ok(path, sizeof(path), "%s%s", KEYDIR, file));
    k = dkims_key_load("example.test", selector, alg, path, err, sizeof(err));
    if (k == NULL)
        fail_msg("%s: %s", file, err);
    return k;
}

/* split - "Name: value" into the name and the value as libmilter gives it; caller frees both */
static void split(const char *text, bool leadspc, char **name, char **value)
{
    const char *colon = strchr(text, ':'), *v;

    assert_non_null(colon);
    v = colon + 1;
    if (!leadspc && *v == ' ')
        v++;
    *name = xstrndup(text, (size_t)(colon - text));
    *value = xstrdup(v);
}

/* feed - a message through a signer up to (not including) end of message */
void feed(struct dkims_msg *m, const struct tmsg *t, bool leadspc, size_t chunk)
{
    size_t len = strlen(t->body);

    for (size_t i = 0; i < t->nf; i++) {
        char *name, *value;

        split(t->fields[i], leadspc, &name, &value);
        dkims_header(m, name, value);
        free(name);
        free(value);
    }
    dkims_eoh(m);
    for (size_t i = 0; i < len; i += chunk)
        dkims_body(m, (const unsigned char *)t->body + i, len - i < chunk ? len - i : chunk);
}

/* sign - sign t; the message (caller ends it) and its results in *sigs */
struct dkims_msg *sign(struct dkims *s, struct dkims_key *const *keys, size_t nkeys, unsigned flags,
                       const struct tmsg *t, size_t chunk, const struct dkims_sig **sigs,
                       size_t *nok)
{
    struct dkims_msg *m = dkims_begin(s, keys, nkeys, flags);

    feed(m, t, (flags & DKIMS_LEADSPC) != 0, chunk);
    *nok = dkims_eom(m, sigs);
    return m;
}

/* pub_lookup - a dkimv lookup function over loaded keys */
static struct dns_result *pub_lookup(void *arg, const char *name)
{
    const struct pubkeys *pk = arg;
    struct dns_result *r = xcalloc(1, sizeof(*r));

    r->status = DNS_NXDOMAIN;
    r->rcode = 3;
    for (size_t i = 0; i < pk->n; i++) {
        const struct dkims_key *k = pk->keys[i];
        char want[300], *p;

        assert_true(snprintf_ok(want, sizeof(want), "%s._domainkey.%s", dkims_key_selector(k),
                                dkims_key_domain(k)));
        if (strcmp(want, name) != 0)
            continue;
        p = dkims_key_public(k);
        r->status = DNS_OK;
        r->rcode = 0;
        r->n = 1;
        r->txt = xcalloc(1, sizeof(char *));
        r->txt_len = xcalloc(1, sizeof(size_t));
        r->txt[0] = xasprintf("v=DKIM1; k=%s; p=%s",
                              strncmp(dkims_key_algorithm(k), "ed25519", 7) ? "rsa" : "ed25519", p);
        r->txt_len[0] = strlen(r->txt[0]);
        free(p);
        break;
    }
    return r;
}

/* vfield - one field into the verifier */
static void vfield(struct dkimv_msg *vm, const char *text, bool leadspc)
{
    char *name, *value;

    split(text, leadspc, &name, &value);
    dkimv_header(vm, name, value);
    free(name);
    free(value);
}

/*
 * verify - what auth/dkim_verify says about the signatures of a signed
 * message, as "pass|pass"; caller frees.
 */
static char *verify(const struct pubkeys *pk, const struct dkims_sig *sigs, size_t n,
                    const struct tmsg *t, const struct change *c)
{
    char err[256];
    struct dkimv *v = dkimv_open(NULL, 5, 1024, err, sizeof(err));
    bool leadspc = c && c->leadspc_verify;
    struct dkimv_msg *vm;
    const struct dkimv_results *r;
    const char *body = c && c->body ? c->body : t->body;
    struct buf out = BUF_INIT;

    assert_non_null(v);
    dkimv_set_lookup(v, pub_lookup, (void *)pk);
    vm = dkimv_begin(v, "unit", leadspc ? DKIMV_LEADSPC : 0);
    if (c && c->top)
        vfield(vm, c->top, leadspc);
    for (size_t i = 0; i < n; i++) {
        /* the MTA wrote "DKIM-Signature: " + value; a milter gets it back like this */
        char *text = xasprintf("DKIM-Signature: %s", sigs[i].value);

        vfield(vm, text, leadspc);
        free(text);
    }
    for (size_t i = 0; i < t->nf; i++) {
        if (c && c->refold == i + 1) {
            char *text = xstrdup(t->fields[i]), *sp = strchr(strchr(text, ':') + 2, ' ');
            char *refolded;

            assert_non_null(sp);
            *sp = '\0';
            refolded = xasprintf("%s\n\t%s", text, sp + 1);
            vfield(vm, refolded, leadspc);
            free(refolded);
            free(text);
        } else {
            vfield(vm, t->fields[i], leadspc);
        }
    }
    if (c && c->bottom)
        vfield(vm, c->bottom, leadspc);
    dkimv_eoh(vm);
    dkimv_body(vm, (const unsigned char *)body, strlen(body));
    r = dkimv_eom(vm);
    for (size_t i = 0; i < r->n; i++)
        buf_printf(&out, "%s%s", i ? "|" : "", dkimv_result_name(r->sig[i].result));
    dkimv_end(vm);
    dkimv_close(v);
    return out.data ? buf_steal(&out) : xstrdup("none");
}

/* check_verify - assert what the verifier says */
void check_verify(const struct pubkeys *pk, const struct dkims_sig *sigs, size_t n,
                  const struct tmsg *t, const struct change *c, const char *want)
{
    char *got = verify(pk, sigs, n, t, c);

    assert_string_equal(got, want);
    free(got);
}
