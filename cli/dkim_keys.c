/*
 * dkim_keys.c - DKIM keys as the dkim and dns commands see them: the
 * stored list, copied out of the store, and making a new key (file in
 * dkim_key_dir, row in the database, TXT record on stdout).
 *
 * Must never print or log a private key: a new key's file is written by
 * dkim_keyfile.c and only its public half comes back here.
 */
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "dkim_keyfile.h"
#include "dkim_txt.h"
#include "log.h"
#include "privsep.h"
#include "timeutil.h"
#include "util.h"

#define DKIM_SELECTOR_TRIES 100 /* s20261125, s20261125-2, ... s20261125-100 */

/* keys_add - append a copy of k to ks */
static int keys_add(const struct store_dkim_key *k, void *arg)
{
    struct cli_keys *ks = arg;
    struct store_dkim_key *c;

    ks->k = xrealloc(ks->k, (ks->n + 1) * sizeof(*ks->k));
    c = &ks->k[ks->n++];
    *c = *k;
    c->domain = xstrdup(k->domain);
    c->selector = xstrdup(k->selector);
    c->key_file = xstrdup(k->key_file);
    return 0;
}

/* cli_dkim_keys_free - free a key list */
void cli_dkim_keys_free(struct cli_keys *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        free((char *)ks->k[i].domain);
        free((char *)ks->k[i].selector);
        free((char *)ks->k[i].key_file);
    }
    ks->k = xfree(ks->k);
    ks->n = 0;
}

/* cli_dkim_keys - the stored keys of domain (NULL = all) */
bool cli_dkim_keys(const struct config *c, struct store *s, const char *domain,
                   struct cli_keys *out)
{
    int v;

    out->k = NULL;
    out->n = 0;
    if (store_list_dkim_keys(s, domain, keys_add, out) == STORE_OK)
        return true;
    fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
    v = store_version(s);
    if (v >= 0 && v < (int)store_migrations_count)
        fprintf(stderr,
                "postmeter: the database has schema version %d, this binary %zu: run "
                "'postmeter db migrate'\n",
                v, store_migrations_count);
    cli_dkim_keys_free(out);
    return false;
}

/* cli_dkim_find - the key with selector sel in ks, NULL if none */
const struct store_dkim_key *cli_dkim_find(const struct cli_keys *ks, const char *sel)
{
    for (size_t i = 0; i < ks->n; i++)
        if (str_eq_nocase(ks->k[i].selector, sel))
            return &ks->k[i];
    return NULL;
}

/* cli_dkim_find_state - the first key of algorithm a in state st, NULL if none */
const struct store_dkim_key *cli_dkim_find_state(const struct cli_keys *ks, enum store_dkim_alg a,
                                                 enum store_dkim_state st)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->k[i].algorithm == a && ks->k[i].state == st)
            return &ks->k[i];
    return NULL;
}

/* cli_dkim_domain - a domain argument, checked, lower case, no trailing dot */
char *cli_dkim_domain(const char *arg)
{
    char *d = str_lower(xstrdup(arg));
    size_t n = strlen(d);

    if (n > 1 && d[n - 1] == '.')
        d[n - 1] = '\0';
    if (!dkim_txt_domain_ok(d)) {
        fprintf(stderr,
                "postmeter: \"%s\" is not a domain name (letters, digits, hyphens; "
                "IDNs as xn--)\n",
                arg);
        return xfree(d);
    }
    return d;
}

/* cli_dkim_open_rw - the database for writing, created and migrated if need be; exits on failure */
struct store *cli_dkim_open_rw(const struct config *c)
{
    struct store *s = cli_open_store(c, 0);

    if (store_migrate(s, store_migrations, store_migrations_count) != STORE_OK) {
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
        store_close(s);
        exit(CLI_FAIL);
    }
    return s;
}

/*
 * key_group - the name of the group key files get, for the report: when
 * root makes them (we are root, or our root parent is: privsep.h), the
 * primary group of the configured user (postmeter-milter reads keys as
 * that user; dies if it does not exist); otherwise "" (left as it is).
 */
static void key_group(const struct config *c, char *name, size_t namelen)
{
    struct daemon_user u;
    struct group *gr;

    name[0] = '\0';
    if (!cli_key_as_root())
        return;
    daemon_lookup_user(c->user, &u);
    gr = getgrgid(u.gid);
    if (gr == NULL || !strlcpy_ok(name, gr->gr_name, namelen))
        if (!snprintf_ok(name, namelen, "%u", (unsigned)u.gid))
            bug("key_group: no room for a group id");
    free(u.name);
}

/* key_path - dkim_key_dir/DOMAIN.SELECTOR.key; caller frees */
static char *key_path(const struct config *c, const char *domain, const char *selector)
{
    return keyfile_path(c->dkim_key_dir, domain, selector);
}

/* pick_selector - the first free default selector of today into out[outlen] */
static bool pick_selector(const struct config *c, const struct cli_keys *ks, const char *domain,
                          enum store_dkim_alg a, int64_t now, char *out, size_t outlen)
{
    for (unsigned n = 1; n <= DKIM_SELECTOR_TRIES; n++) {
        char *path;
        bool taken;

        if (!dkim_txt_selector(a, now, n, out, outlen))
            bug("pick_selector: selector does not fit");
        path = key_path(c, domain, out);
        taken = cli_dkim_find(ks, out) != NULL || cli_key_exists(c, path);
        free(path);
        if (!taken)
            return true;
    }
    fprintf(stderr, "postmeter: %s: %d keys made today already; name one with --selector\n", domain,
            DKIM_SELECTOR_TRIES);
    return false;
}

/* print_record - the TXT record of a public key, in zone-file syntax */
static void print_record(const char *domain, const char *selector, const struct keyfile_pub *pub)
{
    struct buf owner = BUF_INIT, value = BUF_INIT, out = BUF_INIT;

    buf_printf(&owner, "%s._domainkey.%s", selector, domain);
    dkim_txt_value(&value, pub->algorithm, pub->p);
    dkim_txt_zone(&out, buf_cstr(&owner), buf_cstr(&value));
    fputs(buf_cstr(&out), stdout);
    buf_free(&owner);
    buf_free(&value);
    buf_free(&out);
}

/* cli_dkim_make - write, register and print a new key; exit status */
int cli_dkim_make(const struct config *c, struct store *s, const struct cli_keys *ks,
                  const struct cli_new_key *nk)
{
    const char *alg = store_dkim_alg_name(nk->algorithm);
    char sel[DKIM_SELECTOR_MAX + 1], group[64], err[512];
    int64_t now = time_now();
    struct keyfile_pub pub;
    struct store_dkim_key k;
    char *path;

    if (nk->selector != NULL) {
        if (!strlcpy_ok(sel, nk->selector, sizeof(sel)))
            bug("make_key: selector was checked");
        if (cli_dkim_find(ks, sel) != NULL) {
            fprintf(stderr, "postmeter: %s already has a key with selector %s\n", nk->domain, sel);
            return CLI_FAIL;
        }
    } else if (!pick_selector(c, ks, nk->domain, nk->algorithm, now, sel, sizeof(sel))) {
        return CLI_FAIL;
    }
    if (strlen(sel) + strlen("._domainkey.") + strlen(nk->domain) > 253) {
        fprintf(stderr, "postmeter: %s._domainkey.%s is longer than a DNS name may be\n", sel,
                nk->domain);
        return CLI_USAGE;
    }
    key_group(c, group, sizeof(group));
    if (!cli_key_dir(c, err, sizeof(err))) {
        fprintf(stderr, "postmeter: dkim_key_dir: %s\n", err);
        return CLI_FAIL;
    }
    path = key_path(c, nk->domain, sel);
    if (!cli_key_create(c, path, nk->algorithm, nk->bits, &pub, err, sizeof(err))) {
        fprintf(stderr, "postmeter: %s\n", err);
        free(path);
        return CLI_FAIL;
    }
    k = (struct store_dkim_key){
        .domain = nk->domain,
        .selector = sel,
        .algorithm = nk->algorithm,
        .bits = pub.bits,
        .key_file = path,
        .state = nk->state,
        .created_at = now,
        .activated_at = nk->state == STORE_DKIM_ACTIVE ? now : 0,
    };
    if (store_put_dkim_key(s, &k) != STORE_OK) {
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
        /* ours, made a moment ago: never leave a key nobody knows */
        if (cli_key_remove(c, path, err, sizeof(err)) < 0)
            fprintf(stderr, "postmeter: %s\n", err);
        keyfile_pub_free(&pub);
        free(path);
        return CLI_FAIL;
    }
    printf("; %s: new %s key", nk->domain, alg);
    if (nk->algorithm == STORE_DKIM_RSA_SHA256)
        printf(" of %u bits", pub.bits);
    printf(", selector %s, %s\n", sel,
           nk->state == STORE_DKIM_ACTIVE ? "active (signs once postmeter-milter reloads)"
                                          : "pending (published, not signing)");
    printf("; private key: %s (mode %04o%s%s)\n", path, KEYFILE_MODE, group[0] ? ", group " : "",
           group);
    if (nk->state == STORE_DKIM_ACTIVE)
        printf("; publish this record, then reload postmeter-milter; check it with:\n"
               ";   postmeter dns %s --check\n",
               nk->domain);
    else
        printf("; publish this record; once \"postmeter dns %s --check\" shows it, sign with it:\n"
               ";   postmeter dkim rotate %s --activate %s\n",
               nk->domain, nk->domain, sel);
    print_record(nk->domain, sel, &pub);
    keyfile_pub_free(&pub);
    free(path);
    return fflush(stdout) == 0 ? CLI_OK : CLI_FAIL;
}
