/*
 * classify_nets.c - the machine-networks data files and lookups in them.
 *
 * A data file has one network per line: "CIDR CLASS SOURCE...", CLASS
 * one of scanner, prefetch, proxy, SOURCE a few words naming who
 * publishes the network (they end up in the open's reason, never the
 * network itself: an admin's /32 must not undo open_ip_storage). '#'
 * starts a comment (at the start of a line or after white space); blank
 * lines are skipped. A bad line is reported as FILE:LINE and adds
 * nothing; the caller decides whether that is fatal (start-up: yes;
 * reload: the old set stays).
 *
 * Bounds: CLASSIFY_NETS_MAX networks, CLASSIFY_LINE_MAX bytes a line,
 * CLASSIFY_DIR_FILES files in the admin's directory, 20 errors reported
 * per file, the errors of 10 files reported (every file is read, so all
 * their problems show at once; the rest are counted). A network wider
 * than /8 (IPv4) or /16 (IPv6) is refused: no scanner owns that much,
 * and 0.0.0.0/0 would make every open a machine's. IPv4-mapped IPv6 is
 * refused too (write the IPv4 form). A lookup is one binary search per distinct (family, prefix
 * length) present: fast with the tens of thousands of networks of a
 * privacy relay list. Never fetches anything; never writes.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "classify.h"
#include "util.h"

#define ERRORS_PER_FILE 20
#define ERROR_FILES_MAX 10 /* files whose errors are reported; the others are counted */
#define NET_MIN_PREFIX4 8  /* a wider network is refused: a typo, not a machine's range */
#define NET_MIN_PREFIX6 16
#define FILE_MAX_BYTES  (256u << 20)

struct net_entry {
    struct cidr net;
    enum open_class cls;
    size_t source; /* index into sources */
};

/* Entries of one family and prefix length: v[start .. start + n), sorted by address. */
struct net_group {
    int family;
    unsigned prefix;
    size_t start, n;
};

struct classify_nets {
    struct net_entry *v;
    size_t n, cap;
    char **sources;
    size_t nsources;
    struct net_group *groups;
    size_t ngroups;
};

/* classify_nets_new - an empty set */
struct classify_nets *classify_nets_new(void)
{
    return xcalloc(1, sizeof(struct classify_nets));
}

/* classify_nets_free - everything */
struct classify_nets *classify_nets_free(struct classify_nets *nets)
{
    if (nets == NULL)
        return NULL;
    for (size_t i = 0; i < nets->nsources; i++)
        free(nets->sources[i]);
    free(nets->sources);
    free(nets->v);
    free(nets->groups);
    return xfree(nets);
}

/* classify_nets_count - networks held */
size_t classify_nets_count(const struct classify_nets *nets)
{
    return nets ? nets->n : 0;
}

/* addr_cmp - order of two addresses of the same family */
static int addr_cmp(const struct netaddr *a, const struct netaddr *b)
{
    return memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16);
}

/* entry_cmp - by family, prefix length, address, class */
static int entry_cmp(const void *pa, const void *pb)
{
    const struct net_entry *a = pa, *b = pb;
    int d;

    if (a->net.net.family != b->net.net.family)
        return a->net.net.family < b->net.net.family ? -1 : 1;
    if (a->net.prefix != b->net.prefix)
        return a->net.prefix < b->net.prefix ? -1 : 1;
    if ((d = addr_cmp(&a->net.net, &b->net.net)) != 0)
        return d;
    return (int)a->cls - (int)b->cls;
}

/* index_groups - sort the entries and find the runs of one family and prefix */
static void index_groups(struct classify_nets *nets)
{
    if (nets->n > 0)
        qsort(nets->v, nets->n, sizeof(*nets->v), entry_cmp);
    nets->groups = xfree(nets->groups);
    nets->ngroups = 0;
    for (size_t i = 0; i < nets->n; i++) {
        struct net_group *g = nets->ngroups ? &nets->groups[nets->ngroups - 1] : NULL;

        if (g == NULL || g->family != nets->v[i].net.net.family ||
            g->prefix != nets->v[i].net.prefix) {
            nets->groups = xrealloc(nets->groups, (nets->ngroups + 1) * sizeof(*nets->groups));
            g = &nets->groups[nets->ngroups++];
            g->family = nets->v[i].net.net.family;
            g->prefix = nets->v[i].net.prefix;
            g->start = i;
            g->n = 0;
        }
        g->n++;
    }
}

/* source_index - the index of source words s, added if they differ from the last */
static size_t source_index(struct classify_nets *nets, const char *s)
{
    if (nets->nsources > 0 && strcmp(nets->sources[nets->nsources - 1], s) == 0)
        return nets->nsources - 1;
    nets->sources = xrealloc(nets->sources, (nets->nsources + 1) * sizeof(*nets->sources));
    nets->sources[nets->nsources] = xstrdup(s);
    return nets->nsources++;
}

/* parse_class - a machine class's name */
static bool parse_class(const char *s, enum open_class *out)
{
    static const enum open_class machine[] = {OPEN_SCANNER, OPEN_PREFETCH, OPEN_PROXY};

    for (size_t i = 0; i < sizeof(machine) / sizeof(machine[0]); i++)
        if (strcmp(s, classify_class_name(machine[i])) == 0) {
            *out = machine[i];
            return true;
        }
    return false;
}

/* parse_net - CIDR with no host bits set; false with the reason in why */
static bool parse_net(char *s, struct cidr *out, struct buf *why)
{
    char *slash = strchr(s, '/');
    struct netaddr a;

    if (slash == NULL || !cidr_parse(s, out)) {
        buf_printf(why, "\"%s\" is not a network (ADDRESS/PREFIX)", s);
        return false;
    }
    *slash = '\0';
    if (strchr(s, ':') != NULL && netaddr_parse(s, &a) && a.family == AF_INET) {
        buf_printf(why, "%s/%s: IPv4-mapped IPv6 networks are not accepted, write the IPv4 form", s,
                   slash + 1);
        return false;
    }
    if (out->prefix < (out->net.family == AF_INET ? NET_MIN_PREFIX4 : NET_MIN_PREFIX6)) {
        buf_printf(why,
                   "%s/%s is wider than /%d (IPv4) or /%d (IPv6): it would make most opens a "
                   "machine's",
                   s, slash + 1, NET_MIN_PREFIX4, NET_MIN_PREFIX6);
        return false;
    }
    if (!netaddr_parse(s, &a) || a.family != out->net.family || addr_cmp(&a, &out->net) != 0) {
        buf_printf(why, "%s/%s has host bits set", s, slash + 1);
        return false;
    }
    return true;
}

/* parse_line - one line (NUL-terminated, without its newline); false with why */
static bool parse_line(struct classify_nets *nets, char *line, struct buf *why)
{
    char *cidr, *cls, *source, *save = NULL;
    struct net_entry e;

    for (char *p = line; *p; p++)
        if (*p == '#' && (p == line || p[-1] == ' ' || p[-1] == '\t')) {
            *p = '\0';
            break;
        }
    if ((cidr = strtok_r(line, " \t\r", &save)) == NULL)
        return true; /* blank or comment */
    if ((cls = strtok_r(NULL, " \t\r", &save)) == NULL) {
        buf_printf(why, "expected \"CIDR CLASS SOURCE\"");
        return false;
    }
    source = str_trim(save ? save : (char *)"");
    if (!parse_net(cidr, &e.net, why))
        return false;
    if (!parse_class(cls, &e.cls)) {
        buf_printf(why, "class \"%s\" is not scanner, prefetch or proxy", cls);
        return false;
    }
    if (*source == '\0') {
        buf_puts(why, "no source after the class (who publishes this network?)");
        return false;
    }
    if (strlen(source) > CLASSIFY_SOURCE_MAX) {
        buf_printf(why, "source longer than %d bytes", CLASSIFY_SOURCE_MAX);
        return false;
    }
    for (const char *p = source; *p; p++)
        if (*p < ' ' || *p > '~') {
            buf_puts(why, "source has a byte that is not printable ASCII");
            return false;
        }
    if (nets->n >= CLASSIFY_NETS_MAX) {
        buf_printf(why, "more than %d networks", CLASSIFY_NETS_MAX);
        return false;
    }
    if (nets->n == nets->cap) {
        nets->cap = nets->cap ? 2 * nets->cap : 64;
        nets->v = xrealloc(nets->v, nets->cap * sizeof(*nets->v));
    }
    e.source = source_index(nets, source);
    nets->v[nets->n++] = e;
    return true;
}

/* classify_nets_parse - every line of text */
bool classify_nets_parse(struct classify_nets *nets, const char *name, const char *text, size_t len,
                         struct buf *errors)
{
    unsigned lineno = 0, nerr = 0;
    char line[CLASSIFY_LINE_MAX + 1];
    struct buf why = BUF_INIT;

    for (size_t at = 0; at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        bool ok;

        lineno++;
        buf_reset(&why);
        if (n > CLASSIFY_LINE_MAX) {
            buf_printf(&why, "line longer than %d bytes", CLASSIFY_LINE_MAX);
            ok = false;
        } else if (memchr(text + at, '\0', n) != NULL) {
            buf_puts(&why, "line holds a NUL byte");
            ok = false;
        } else {
            memcpy(line, text + at, n);
            line[n] = '\0';
            ok = parse_line(nets, line, &why);
        }
        if (!ok && nerr++ < ERRORS_PER_FILE)
            buf_printf(errors, "%s:%u: %s\n", name, lineno, buf_cstr(&why));
        at += n + 1;
    }
    if (nerr > ERRORS_PER_FILE)
        buf_printf(errors, "%s: %u more bad lines\n", name, nerr - ERRORS_PER_FILE);
    buf_free(&why);
    index_groups(nets);
    return nerr == 0;
}

/*
 * load_file - parse one file; false with its problems in errors, if
 * fewer than ERROR_FILES_MAX files had some before (*bad_files counts them)
 */
static bool load_file(struct classify_nets *nets, const char *path, struct buf *errors,
                      unsigned *bad_files)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct buf text = BUF_INIT, mine = BUF_INIT;
    struct stat st;
    bool ok = false;

    if (fd < 0)
        buf_printf(&mine, "%s: cannot open: %s\n", path, strerror(errno));
    else if (fstat(fd, &st) != 0)
        buf_printf(&mine, "%s: fstat: %s\n", path, strerror(errno));
    else if (!S_ISREG(st.st_mode))
        buf_printf(&mine, "%s: not a regular file\n", path);
    else if ((uint64_t)st.st_size > FILE_MAX_BYTES)
        buf_printf(&mine, "%s: larger than %u MiB\n", path, FILE_MAX_BYTES >> 20);
    else if (!buf_read_fd(&text, fd))
        buf_printf(&mine, "%s: read: %s\n", path, strerror(errno));
    else
        ok = classify_nets_parse(nets, path, text.data ? text.data : "", text.len, &mine);
    if (fd >= 0)
        close(fd);
    if (!ok && (*bad_files)++ < ERROR_FILES_MAX)
        buf_add(errors, mine.data ? mine.data : "", mine.len);
    buf_free(&mine);
    buf_free(&text);
    return ok;
}

/* skip_name - names in the admin's directory that are not data files */
static bool skip_name(const char *name)
{
    size_t n = strlen(name);

    return name[0] == '.' || (n > 0 && name[n - 1] == '~') || strstr(name, ".dpkg-") != NULL ||
           strstr(name, ".ucf-") != NULL;
}

/* name_cmp - qsort by name */
static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* load_dir - every data file of dir, in name order; a missing dir is fine */
static bool load_dir(struct classify_nets *nets, const char *dir, struct buf *errors,
                     unsigned *bad_files)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0;
    bool ok = true;

    if (d == NULL) {
        if (errno == ENOENT)
            return true;
        buf_printf(errors, "%s: cannot open: %s\n", dir, strerror(errno));
        return false;
    }
    while ((de = readdir(d)) != NULL) {
        if (skip_name(de->d_name))
            continue;
        if (n == CLASSIFY_DIR_FILES) {
            buf_printf(errors, "%s: more than %d files\n", dir, CLASSIFY_DIR_FILES);
            ok = false;
            break;
        }
        names = xrealloc(names, (n + 1) * sizeof(*names));
        names[n++] = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof(*names), name_cmp);
    for (size_t i = 0; i < n; i++) {
        struct stat st;

        /* subdirectories and the like are not data files; a bad file does not stop the others */
        if ((stat(names[i], &st) != 0 || S_ISREG(st.st_mode)) &&
            !load_file(nets, names[i], errors, bad_files))
            ok = false;
        free(names[i]);
    }
    free(names);
    return ok;
}

/* classify_nets_load - the shipped file and the admin's directory */
struct classify_nets *classify_nets_load(const char *file, const char *dir, struct buf *errors)
{
    struct classify_nets *nets = classify_nets_new();
    unsigned bad_files = 0;
    bool ok = load_file(nets, file, errors, &bad_files);

    ok = load_dir(nets, dir, errors, &bad_files) && ok;
    if (bad_files > ERROR_FILES_MAX)
        buf_printf(errors, "%u more file(s) with errors\n", bad_files - ERROR_FILES_MAX);
    if (!ok)
        return classify_nets_free(nets);
    return nets;
}

/* mask - a with every bit past prefix cleared */
static struct netaddr mask(const struct netaddr *a, unsigned prefix)
{
    struct netaddr m = *a;
    size_t len = a->family == AF_INET ? 4 : 16;

    for (size_t i = 0; i < len; i++) {
        unsigned keep = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;

        m.addr[i] &= (unsigned char)(0xff00u >> keep);
    }
    return m;
}

/* classify_nets_lookup - a network of class c holding a */
const char *classify_nets_lookup(const struct classify_nets *nets, const struct netaddr *a,
                                 enum open_class c)
{
    for (size_t g = 0; g < nets->ngroups; g++) {
        const struct net_group *gr = &nets->groups[g];
        struct netaddr m;
        size_t lo = gr->start, hi = gr->start + gr->n;

        if (gr->family != a->family)
            continue;
        m = mask(a, gr->prefix);
        while (lo < hi) { /* the first entry not below m */
            size_t mid = lo + (hi - lo) / 2;

            if (addr_cmp(&nets->v[mid].net.net, &m) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < gr->start + gr->n && addr_cmp(&nets->v[lo].net.net, &m) == 0; lo++)
            if (nets->v[lo].cls == c)
                return nets->sources[nets->v[lo].source];
    }
    return NULL;
}
