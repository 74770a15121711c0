/*
 * privsep_policy.c - the key-file requests root's privsep parent answers
 * for one command (see privsep_policy.h): read from the command line as
 * the command itself reads it, checked per request.
 *
 * Must never widen what is allowed from anything the child sends, and
 * never print: the child reports usage errors itself.
 */
#include <ctype.h>
#include <getopt.h>
#include <string.h>

#include "privsep_policy.h"
#include "util.h"

const struct option privsep_dkim_options[] = {
    {"selector", required_argument, NULL, 's'}, {"algorithm", required_argument, NULL, 'a'},
    {"bits", required_argument, NULL, 'b'},     {"activate", no_argument, NULL, 'A'},
    {"force", no_argument, NULL, 'f'},          {"delete-file", no_argument, NULL, 'D'},
    {"format", required_argument, NULL, 'F'},   {NULL, 0, NULL, 0},
};

const struct option privsep_dns_options[] = {
    {"mx", required_argument, NULL, 'm'},
    {"rua", required_argument, NULL, 'r'},
    {"check", no_argument, NULL, 'C'},
    {NULL, 0, NULL, 0},
};

#define BIT(op) (1u << (op))

/* lower_into - s in lower case into out[outlen]; false if it does not fit */
static bool lower_into(char *out, size_t outlen, const char *s)
{
    if (!strlcpy_ok(out, s, outlen))
        return false;
    for (char *p = out; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return true;
}

/* set_domain - sc's domain from argument arg, as cli_dkim_domain() reads it; false if none */
static bool set_domain(struct privsep_scope *sc, const char *arg)
{
    size_t n;

    if (!lower_into(sc->domain, sizeof(sc->domain), arg))
        return false;
    n = strlen(sc->domain);
    if (n > 1 && sc->domain[n - 1] == '.')
        sc->domain[n - 1] = '\0';
    return dkim_txt_domain_ok(sc->domain);
}

/* set_selector - sc's only selector from argument arg, lower case; false if not a selector */
static bool set_selector(struct privsep_scope *sc, const char *arg)
{
    return dkim_txt_selector_ok(arg) && lower_into(sc->selector, sizeof(sc->selector), arg);
}

/*
 * parse - getopt_long over argv[0..argc) with opts, silently; the
 * selector (--selector), --activate and --delete-file seen. Index of the
 * first positional argument, -1 on an error.
 */
static int parse(int argc, char **argv, const struct option *opts, const char **sel, bool *activate,
                 bool *delete_file)
{
    int ch, saved = opterr;

    opterr = 0;
    optind = 0; /* as the commands do: start afresh, options may follow positionals */
    while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (ch == '?' || ch == ':')
            break;
        if (ch == 's')
            *sel = optarg;
        else if (ch == 'A')
            *activate = true;
        else if (ch == 'D')
            *delete_file = true;
    }
    opterr = saved;
    return ch == -1 ? optind : -1;
}

/* dkim_scope - the scope of dkim SUB ... (argv[0] = SUB) */
static void dkim_scope(int argc, char **argv, struct privsep_scope *sc)
{
    const char *sel = NULL;
    bool activate = false, delete_file = false;
    int i = parse(argc, argv, privsep_dkim_options, &sel, &activate, &delete_file);
    int npos = argc - i;
    bool make = strcmp(argv[0], "keygen") == 0 || (strcmp(argv[0], "rotate") == 0 && !activate);

    if (i < 0 || npos < 1 || !set_domain(sc, argv[i])) {
        sc->domain[0] = '\0';
        return;
    }
    if (make && npos == 1 && (sel == NULL || set_selector(sc, sel))) {
        sc->ops = BIT(PRIVSEP_DIR) | BIT(PRIVSEP_EXISTS) | BIT(PRIVSEP_CREATE);
    } else if (strcmp(argv[0], "rotate") == 0 && activate && (npos == 1 || npos == 2) &&
               (npos == 1 || set_selector(sc, argv[i + 1]))) {
        sc->ops = BIT(PRIVSEP_PUBLIC);
    } else if (strcmp(argv[0], "remove") == 0 && delete_file && npos == 2 &&
               set_selector(sc, argv[i + 1])) {
        sc->ops = BIT(PRIVSEP_REMOVE);
    }
    if (sc->ops == 0)
        sc->domain[0] = '\0';
}

/* privsep_scope_of - what command argv[0..argc) may ask of root */
void privsep_scope_of(int argc, char **argv, struct privsep_scope *sc)
{
    memset(sc, 0, sizeof(*sc));
    if (argc >= 2 && strcmp(argv[0], "dkim") == 0) {
        dkim_scope(argc - 1, argv + 1, sc);
    } else if (argc >= 1 && strcmp(argv[0], "dns") == 0) {
        const char *unused_sel = NULL;
        bool unused = false;
        int i = parse(argc, argv, privsep_dns_options, &unused_sel, &unused, &unused);

        if (i > 0 && argc - i == 1 && set_domain(sc, argv[i]))
            sc->ops = BIT(PRIVSEP_PUBLIC);
        else
            sc->domain[0] = '\0';
    }
}

/*
 * key_name - is name DOMAIN.SELECTOR.key, of sc's domain and a selector
 * (sc's, if it names one), as dkim_keys.c names key files?
 */
static bool key_name(const struct privsep_scope *sc, const char *name)
{
    size_t dn = strlen(sc->domain), n = strlen(name);
    char sel[DKIM_SELECTOR_MAX + 1];

    if (dn == 0 || n <= dn + 1 + 4 || strncmp(name, sc->domain, dn) != 0 || name[dn] != '.' ||
        strcmp(name + n - 4, ".key") != 0 || n - dn - 1 - 4 >= sizeof(sel))
        return false;
    memcpy(sel, name + dn + 1, n - dn - 1 - 4);
    sel[n - dn - 1 - 4] = '\0';
    if (!dkim_txt_selector_ok(sel))
        return false;
    return sc->selector[0] == '\0' || strcmp(sel, sc->selector) == 0;
}

/* privsep_allow - may root do op on name for this command? NULL if so (counted), else why */
const char *privsep_allow(struct privsep_scope *sc, enum privsep_op op, const char *name)
{
    if (sc->requests >= PRIVSEP_MAX_REQUESTS)
        return "too many requests for one command";
    sc->requests++;
    if (op == PRIVSEP_REMOVE && sc->created[0] != '\0' && strcmp(name, sc->created) == 0 &&
        !sc->remove_asked) {
        sc->remove_asked = true; /* the file this command made, cleaned up */
        return NULL;
    }
    if ((op < PRIVSEP_DIR || op > PRIVSEP_PUBLIC) || !(sc->ops & BIT(op)))
        return "not a request this command makes";
    if (op == PRIVSEP_DIR)
        return NULL;
    if (!key_name(sc, name))
        return sc->selector[0] ? "not the key file this command is about"
                               : "not a key file of the domain this command is about";
    if (op == PRIVSEP_CREATE) {
        if (sc->create_asked)
            return "this command makes one key only";
        sc->create_asked = true;
    } else if (op == PRIVSEP_REMOVE) {
        if (sc->remove_asked || sc->selector[0] == '\0')
            return "this command deletes one key file only";
        sc->remove_asked = true;
    }
    return NULL;
}

/* privsep_made - name was made for this command: the one file it may delete again */
void privsep_made(struct privsep_scope *sc, const char *name)
{
    if (!strlcpy_ok(sc->created, name, sizeof(sc->created)))
        sc->created[0] = '\0';
}
