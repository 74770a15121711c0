/*
 * cmd_dkim.c - postmeter dkim keygen | list | rotate | remove: the DKIM
 * keys outbound mail is signed with.
 *
 * keygen and rotate make a key file in dkim_key_dir, register it in the
 * database and print the TXT record to publish (dkim_keys.c), in
 * zone-file syntax on stdout (everything else on those lines is a ';'
 * comment). rotate --activate moves signing to a pending key once its
 * record is visible in DNS and retires the key it replaces; remove
 * forgets a key and, if asked, deletes its file - only
 * dkim_key_dir/DOMAIN.SELECTOR.key, the name keygen gives it, taken from
 * the command line, and only a plain file, through that directory's
 * descriptor: whoever can write the database must not make root delete
 * anything else (a row naming another file gets its row removed, no
 * file deleted).
 *
 * Must never print or log a private key: only the public half derived
 * from a key file ever reaches the output.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dkim_keyfile.h"
#include "dkim_txt.h"
#include "output.h"
#include "privsep.h"
#include "privsep_policy.h"
#include "timeutil.h"
#include "usage.h"
#include "util.h"

static bool told; /* parse_opts() printed what is wrong */

/* dkim_usage - one line on stderr (unless parse_opts() printed one); returns CLI_USAGE */
static int dkim_usage(void)
{
    return told ? CLI_USAGE : cli_usage("wrong arguments");
}

/* said - parse_opts() printed what is wrong: false */
static bool said(void)
{
    told = true;
    return false;
}

/* parse_alg - "rsa"/"rsa-sha256" or "ed25519"/"ed25519-sha256" */
static bool parse_alg(const char *v, enum store_dkim_alg *a)
{
    if (strcmp(v, "rsa") == 0 || strcmp(v, "ed25519") == 0) {
        *a = v[0] == 'r' ? STORE_DKIM_RSA_SHA256 : STORE_DKIM_ED25519_SHA256;
        return true;
    }
    if (store_dkim_alg_parse(v, a))
        return true;
    fprintf(stderr, "postmeter: --algorithm: use rsa or ed25519\n");
    return false;
}

/* parse_bits - an RSA key size within the allowed range */
static bool parse_bits(const char *v, unsigned *bits)
{
    char *end;
    unsigned long n;

    errno = 0;
    n = strtoul(v, &end, 10);
    if (*v < '0' || *v > '9' || *end != '\0' || errno != 0 || n < KEYFILE_RSA_MIN ||
        n > KEYFILE_RSA_MAX) {
        fprintf(stderr, "postmeter: --bits: \"%s\" is not a key size from %u to %u\n", v,
                KEYFILE_RSA_MIN, KEYFILE_RSA_MAX);
        return false;
    }
    *bits = (unsigned)n;
    return true;
}

/* Options keygen and rotate share. */
struct key_opts {
    const char *selector;
    enum store_dkim_alg algorithm;
    bool have_alg;
    unsigned bits; /* 0 = not given */
    bool activate, force, delete_file;
    enum out_format format;
};

/* parse_opts - options of a dkim subcommand; positional arguments stay at argv[optind..] */
static bool parse_opts(int argc, char **argv, struct key_opts *o)
{
    int ch;

    memset(o, 0, sizeof(*o));
    /*
     * 0, not 1: glibc then starts afresh and permutes, so options may
     * follow DOMAIN (main's getopt stops at the first non-option).
     */
    optind = 0;
    while ((ch = getopt_long(argc, argv, ":", privsep_dkim_options, NULL)) != -1) {
        switch (ch) {
        case 's':
            o->selector = optarg;
            if (!dkim_txt_selector_ok(optarg)) {
                fprintf(stderr,
                        "postmeter: --selector: \"%s\" is not a selector (letters, "
                        "digits, inner hyphens, dots; at most %d)\n",
                        optarg, DKIM_SELECTOR_MAX);
                return said();
            }
            break;
        case 'a':
            if (!parse_alg(optarg, &o->algorithm))
                return said();
            o->have_alg = true;
            break;
        case 'b':
            if (!parse_bits(optarg, &o->bits))
                return said();
            break;
        case 'A':
            o->activate = true;
            break;
        case 'f':
            o->force = true;
            break;
        case 'D':
            o->delete_file = true;
            break;
        case 'F':
            if (!out_parse_format(optarg, &o->format)) {
                fprintf(stderr, "postmeter: --format: use table, csv, json or ndjson\n");
                return said();
            }
            break;
        default:
            cli_bad_option(ch, argv);
            return said();
        }
    }
    if (o->bits && o->have_alg && o->algorithm != STORE_DKIM_RSA_SHA256) {
        fprintf(stderr, "postmeter: --bits is for RSA keys only\n");
        return said();
    }
    return true;
}

/* only - argv[optind..] holds between min and max positional arguments */
static bool only(int argc, char **argv, int min, int max)
{
    int n = argc - optind;

    if (n > max)
        fprintf(stderr, "postmeter: dkim %s: unexpected \"%s\"\n", argv[0], argv[optind + max]);
    return n >= min && n <= max;
}

/* dkim_keygen - postmeter dkim keygen DOMAIN [--selector S] [--algorithm A] [--bits N] */
static int dkim_keygen(const struct config *c, int argc, char **argv)
{
    struct key_opts o;
    struct cli_new_key nk = {0};
    struct cli_keys ks;
    struct store *s;
    char *domain;
    int status;

    if (!parse_opts(argc, argv, &o) || !only(argc, argv, 1, 1) || o.activate || o.force ||
        o.delete_file)
        return dkim_usage();
    if ((domain = cli_dkim_domain(argv[optind])) == NULL)
        return CLI_USAGE;
    nk.domain = domain;
    nk.selector = o.selector ? str_lower(xstrdup(o.selector)) : NULL;
    nk.algorithm = o.have_alg ? o.algorithm : STORE_DKIM_RSA_SHA256;
    nk.bits = o.bits ? o.bits : KEYFILE_RSA_BITS;
    s = cli_dkim_open_rw(c);
    if (!cli_dkim_keys(c, s, domain, &ks)) {
        status = CLI_FAIL;
    } else {
        nk.state = cli_dkim_find_state(&ks, nk.algorithm, STORE_DKIM_ACTIVE) ? STORE_DKIM_PENDING
                                                                             : STORE_DKIM_ACTIVE;
        status = cli_dkim_make(c, s, &ks, &nk);
        cli_dkim_keys_free(&ks);
    }
    store_close(s);
    free((char *)nk.selector);
    free(domain);
    return status;
}

/* list_cols - the columns of postmeter dkim list */
static const struct out_col list_cols[] = {
    {"domain", OUT_STR, true},       {"selector", OUT_STR, true},   {"algorithm", OUT_STR, true},
    {"bits", OUT_INT, true},         {"state", OUT_STR, true},      {"created_at", OUT_STR, true},
    {"activated_at", OUT_STR, true}, {"retired_at", OUT_STR, true}, {"key_file", OUT_STR, false},
};
#define NLISTCOLS (sizeof(list_cols) / sizeof(list_cols[0]))

/* list_row - one key as an output row */
static int list_row(const struct store_dkim_key *k, void *arg)
{
    char created[TIME_ISO_LEN], activated[TIME_ISO_LEN], retired[TIME_ISO_LEN];
    struct out_val v[NLISTCOLS] = {
        {.s = k->domain},
        {.s = k->selector},
        {.s = store_dkim_alg_name(k->algorithm)},
        {.i = k->bits},
        {.s = store_dkim_state_name(k->state)},
        {.s = time_format_iso(k->created_at, created)},
        {.s = k->activated_at ? time_format_iso(k->activated_at, activated) : NULL},
        {.s = k->retired_at ? time_format_iso(k->retired_at, retired) : NULL},
        {.s = k->key_file},
    };

    out_row(arg, v);
    return 0;
}

/* dkim_list - postmeter dkim list [DOMAIN] [--format F] */
static int dkim_list(const struct config *c, int argc, char **argv)
{
    struct key_opts o;
    char *domain = NULL;
    struct store *s;
    struct out *out;
    enum store_status st;

    if (!parse_opts(argc, argv, &o) || !only(argc, argv, 0, 1) || o.selector || o.have_alg ||
        o.bits || o.activate || o.force || o.delete_file)
        return dkim_usage();
    if (optind < argc && (domain = cli_dkim_domain(argv[optind])) == NULL)
        return CLI_USAGE;
    if ((s = cli_open_current(c)) == NULL) {
        free(domain);
        return CLI_FAIL;
    }
    out = out_new(o.format, list_cols, NLISTCOLS, stdout);
    st = store_list_dkim_keys(s, domain, list_row, out);
    out_end(out);
    if (st != STORE_OK)
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
    store_close(s);
    free(domain);
    return st == STORE_OK ? CLI_OK : CLI_FAIL;
}

/* rotate_new - rotate without --activate: a new pending key */
static int rotate_new(const struct config *c, const char *domain, const struct key_opts *o)
{
    struct cli_new_key nk = {.domain = domain, .state = STORE_DKIM_PENDING};
    const struct store_dkim_key *active = NULL, *pending;
    struct store *s = cli_dkim_open_rw(c);
    struct cli_keys ks;
    int status = CLI_FAIL;

    if (!cli_dkim_keys(c, s, domain, &ks)) {
        store_close(s);
        return CLI_FAIL;
    }
    if (o->have_alg) {
        nk.algorithm = o->algorithm;
    } else {
        const struct store_dkim_key *rsa =
            cli_dkim_find_state(&ks, STORE_DKIM_RSA_SHA256, STORE_DKIM_ACTIVE);
        const struct store_dkim_key *ed =
            cli_dkim_find_state(&ks, STORE_DKIM_ED25519_SHA256, STORE_DKIM_ACTIVE);

        if (rsa && ed) {
            fprintf(stderr,
                    "postmeter: %s signs with an RSA and an Ed25519 key: say which to "
                    "rotate with --algorithm rsa|ed25519\n",
                    domain);
            goto out;
        }
        nk.algorithm = ed ? STORE_DKIM_ED25519_SHA256 : STORE_DKIM_RSA_SHA256;
    }
    if (o->bits && nk.algorithm != STORE_DKIM_RSA_SHA256) {
        fprintf(stderr, "postmeter: --bits is for RSA keys only\n");
        status = CLI_USAGE;
        goto out;
    }
    active = cli_dkim_find_state(&ks, nk.algorithm, STORE_DKIM_ACTIVE);
    if ((pending = cli_dkim_find_state(&ks, nk.algorithm, STORE_DKIM_PENDING)) != NULL) {
        fprintf(stderr,
                "postmeter: %s already has a pending %s key (selector %s): activate it "
                "with 'postmeter dkim rotate %s --activate %s' or remove it first\n",
                domain, store_dkim_alg_name(nk.algorithm), pending->selector, domain,
                pending->selector);
        goto out;
    }
    nk.selector = o->selector;
    /* The size of the key it replaces, unless told otherwise. */
    nk.bits = KEYFILE_RSA_BITS;
    if (o->bits)
        nk.bits = o->bits;
    else if (active && active->bits >= KEYFILE_RSA_MIN && active->bits <= KEYFILE_RSA_MAX)
        nk.bits = active->bits;
    status = cli_dkim_make(c, s, &ks, &nk);
    if (status == CLI_OK && active == NULL)
        printf("; note: %s has no active %s key; until you activate this one it signs with none\n",
               domain, store_dkim_alg_name(nk.algorithm));
out:
    cli_dkim_keys_free(&ks);
    store_close(s);
    return status;
}

/* activation_target - the key rotate --activate [SELECTOR] means; NULL (message printed) */
static const struct store_dkim_key *activation_target(const struct cli_keys *ks, const char *domain,
                                                      const char *sel, const struct key_opts *o)
{
    const struct store_dkim_key *t = NULL;

    if (sel != NULL) {
        if ((t = cli_dkim_find(ks, sel)) == NULL)
            fprintf(stderr, "postmeter: %s has no key with selector %s\n", domain, sel);
        return t;
    }
    for (size_t i = 0; i < ks->n; i++) {
        if (ks->k[i].state != STORE_DKIM_PENDING ||
            (o->have_alg && ks->k[i].algorithm != o->algorithm))
            continue;
        if (t != NULL) {
            fprintf(stderr,
                    "postmeter: %s has several pending keys (%s, %s): name the one to "
                    "activate\n",
                    domain, t->selector, ks->k[i].selector);
            return NULL;
        }
        t = &ks->k[i];
    }
    if (t == NULL)
        fprintf(stderr,
                "postmeter: %s has no pending%s%s key: make one with 'postmeter dkim "
                "rotate %s'\n",
                domain, o->have_alg ? " " : "",
                o->have_alg ? store_dkim_alg_name(o->algorithm) : "", domain);
    return t;
}

/* rotate_activate - rotate --activate [SELECTOR]: sign with a published key, retire the old */
static int rotate_activate(const struct config *c, const char *domain, const char *sel,
                           const struct key_opts *o)
{
    struct store *s = cli_dkim_open_rw(c);
    const struct store_dkim_key *t, *old;
    struct buf why = BUF_INIT;
    struct cli_keys ks;
    int status = CLI_FAIL;

    if (!cli_dkim_keys(c, s, domain, &ks)) {
        store_close(s);
        return CLI_FAIL;
    }
    if ((t = activation_target(&ks, domain, sel, o)) == NULL)
        goto out;
    if (t->state == STORE_DKIM_ACTIVE) {
        printf("%s: %s (%s) is already active\n", domain, t->selector,
               store_dkim_alg_name(t->algorithm));
        status = CLI_OK;
        goto out;
    }
    if (!cli_dkim_published(c, t, &why)) {
        if (!o->force) {
            fprintf(stderr,
                    "postmeter: %s._domainkey.%s: %s\n"
                    "postmeter: not activated: receivers could not verify its "
                    "signatures; publish the record (postmeter dns %s) and wait for "
                    "it, or use --force\n",
                    t->selector, domain, buf_cstr(&why), domain);
            goto out;
        }
        fprintf(stderr, "postmeter: warning: %s._domainkey.%s: %s (activating anyway: --force)\n",
                t->selector, domain, buf_cstr(&why));
    }
    old = cli_dkim_find_state(&ks, t->algorithm, STORE_DKIM_ACTIVE);
    if (store_set_dkim_key_state(s, domain, t->selector, STORE_DKIM_ACTIVE, time_now()) !=
        STORE_OK) {
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
        goto out;
    }
    printf("%s: %s (%s) is active; reload postmeter-milter to sign with it\n", domain, t->selector,
           store_dkim_alg_name(t->algorithm));
    if (old != NULL)
        printf("%s: %s is retired: it no longer signs, and stays published so mail already "
               "sent verifies; after a week or so: postmeter dkim remove %s %s\n",
               domain, old->selector, domain, old->selector);
    status = CLI_OK;
out:
    buf_free(&why);
    cli_dkim_keys_free(&ks);
    store_close(s);
    return status;
}

/* dkim_rotate - postmeter dkim rotate DOMAIN [...] | rotate DOMAIN --activate [SELECTOR] */
static int dkim_rotate(const struct config *c, int argc, char **argv)
{
    struct key_opts o;
    char *domain, *sel = NULL;
    int status;

    if (!parse_opts(argc, argv, &o) || o.delete_file)
        return dkim_usage();
    if (!only(argc, argv, 1, o.activate ? 2 : 1))
        return dkim_usage();
    if (o.activate && (o.selector || o.bits)) {
        fprintf(stderr, "postmeter: rotate --activate takes the selector as an argument, and no "
                        "--bits\n");
        return CLI_USAGE;
    }
    if (!o.activate && o.force)
        return dkim_usage();
    if ((domain = cli_dkim_domain(argv[optind])) == NULL)
        return CLI_USAGE;
    if (o.activate && optind + 1 < argc) {
        if (!dkim_txt_selector_ok(argv[optind + 1])) {
            fprintf(stderr, "postmeter: \"%s\" is not a selector\n", argv[optind + 1]);
            free(domain);
            return CLI_USAGE;
        }
        sel = str_lower(xstrdup(argv[optind + 1]));
    }
    if (o.activate) {
        status = rotate_activate(c, domain, sel, &o);
    } else {
        char *low = o.selector ? str_lower(xstrdup(o.selector)) : NULL;

        o.selector = low;
        status = rotate_new(c, domain, &o);
        free(low);
    }
    free(sel);
    free(domain);
    return status;
}

/* dkim_remove - postmeter dkim remove DOMAIN SELECTOR [--delete-file] [--force] */
static int dkim_remove(const struct config *c, int argc, char **argv)
{
    const struct store_dkim_key *k;
    struct key_opts o;
    struct cli_keys ks;
    struct store *s;
    char *domain;
    int status = CLI_FAIL;

    if (!parse_opts(argc, argv, &o) || !only(argc, argv, 2, 2) || o.selector || o.have_alg ||
        o.bits || o.activate)
        return dkim_usage();
    if ((domain = cli_dkim_domain(argv[optind])) == NULL)
        return CLI_USAGE;
    s = cli_dkim_open_rw(c);
    if (!cli_dkim_keys(c, s, domain, &ks))
        goto out_store;
    if ((k = cli_dkim_find(&ks, argv[optind + 1])) == NULL) {
        fprintf(stderr, "postmeter: %s has no key with selector %s\n", domain, argv[optind + 1]);
        goto out;
    }
    if (k->state == STORE_DKIM_ACTIVE && !o.force) {
        fprintf(stderr,
                "postmeter: %s %s is active (it signs mail): retire it first with "
                "'postmeter dkim rotate %s --activate NEWSELECTOR', or use --force\n",
                domain, k->selector, domain);
        goto out;
    }
    if (store_remove_dkim_key(s, domain, k->selector, o.force) != STORE_OK) {
        fprintf(stderr, "postmeter: %s: %s\n", c->database, store_error(s));
        goto out;
    }
    printf("%s: removed %s (%s, was %s)%s\n", domain, k->selector,
           store_dkim_alg_name(k->algorithm), store_dkim_state_name(k->state),
           k->state == STORE_DKIM_ACTIVE ? "; reload postmeter-milter" : "");
    status = CLI_OK;
    if (o.delete_file) {
        char err[512];
        char *sel = str_lower(xstrdup(k->selector));
        char *path = keyfile_path(c->dkim_key_dir, domain, sel);
        const char *base = keyfile_base(c->dkim_key_dir, k->key_file);
        const char *want = keyfile_base(c->dkim_key_dir, path);
        int rc;

        /* Only the name keygen gave it: the database's word is not enough. */
        if (base == NULL || want == NULL || strcmp(base, want) != 0) {
            rc = -1;
            if (!snprintf_ok(err, sizeof(err),
                             "the database names %s as its key file, not %s: not deleted",
                             k->key_file, path))
                strlcpy_ok(err, "the database names another key file: not deleted", sizeof(err));
        } else {
            rc = cli_key_remove(c, path, err, sizeof(err));
        }
        if (rc > 0) {
            printf("%s: deleted %s\n", domain, path);
        } else if (rc == 0) {
            printf("%s: %s was already gone\n", domain, path);
        } else {
            fprintf(stderr,
                    "postmeter: %s (only a plain file directly in dkim_key_dir is ever "
                    "deleted; the key's row is removed)\n",
                    err);
            status = CLI_FAIL;
        }
        free(path);
        free(sel);
    } else {
        printf("%s: the key file %s is kept (--delete-file deletes it)\n", domain, k->key_file);
    }
    printf("%s: remove the TXT record %s._domainkey.%s from DNS\n", domain, k->selector, domain);
out:
    cli_dkim_keys_free(&ks);
out_store:
    store_close(s);
    free(domain);
    return status;
}

/* cmd_dkim - dkim keygen | list | rotate | remove */
int cmd_dkim(const struct config *c, int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "keygen") == 0)
        return dkim_keygen(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "list") == 0)
        return dkim_list(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
        return dkim_rotate(c, argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "remove") == 0)
        return dkim_remove(c, argc - 1, argv + 1);
    return dkim_usage();
}
