/*
 * syscheck.c - the system checks of postmeter-milter -t and start-up
 * (see syscheck.h).
 *
 * DESCRIPTION
 *   Who does what decides who is asked. Root (start-up as root) creates
 *   the socket and writes the pid file before the privilege drop: their
 *   directories are checked as this process. The user creates the
 *   database, its side files and the spool, and reads the DKIM keys,
 *   after the drop: a child process becomes that user exactly as the
 *   daemon does (daemon_drop_privileges: its primary group only) and
 *   asks the kernel (access(2), and the key reader postmeter-milter
 *   uses), so ACLs, groups and read-only file systems count as they
 *   will. The child writes its findings to a pipe, one line each; the
 *   parent reads them.
 *
 *   database, ledger_spool and pid_file must be absolute: the daemon
 *   works from "/" once detached, so a relative path would name another
 *   file than the one -t, a foreground run and postmeter(1) see.
 *   dkim_key_dir, pixel_module and a unix: milter_socket are refused
 *   when relative by the configuration itself.
 *
 * NEVER
 *   Never opens, creates or changes, as root, anything in a directory
 *   the user can write (STYLE habit 14): as root only stat(2), access(2)
 *   and the pixel engine's dlopen (pixel_module, root's). A path from
 *   the database (a key file: the user can write the database) is only
 *   looked at by the child. Never prints any part of a key file.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "log.h"
#include "pemkey.h"
#include "stage_track.h"
#include "store.h"
#include "syscheck.h"
#include "util.h"

#define KEYS_SHOWN 20           /* key files with a problem said one by one; the rest counted */
#define CHILD_OUT  (256 * 1024) /* what root reads of the child's findings at most */

/* One run: the configuration, what was found, and the user. */
struct syscheck {
    const struct config *c;
    struct buf *problems, *notes;
    unsigned n;
    unsigned keys_bad; /* key files with a problem; the first KEYS_SHOWN get a line */
    bool have_user;
    struct daemon_user u;
    char *group; /* name of u's primary group (its gid if it has none) */
};

/* syscheck_line - "KEY: WHAT; fix: FIX\n", control characters (C0, DEL, C1) made '?' */
void syscheck_line(struct buf *out, const char *key, const char *what, const char *fix)
{
    const char *part[] = {key, ": ", what, "; fix: ", fix};

    for (size_t i = 0; i < sizeof(part) / sizeof(part[0]); i++)
        buf_put_clean(out, part[i], strlen(part[i]));
    buf_putc(out, '\n');
}

/* problem - one problem: what (printf format) is wrong with key, and fix */
static void problem(struct syscheck *s, const char *key, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void problem(struct syscheck *s, const char *key, const char *fix, const char *fmt, ...)
{
    struct buf what = BUF_INIT;
    va_list ap;

    va_start(ap, fmt);
    buf_vprintf(&what, fmt, ap);
    va_end(ap);
    syscheck_line(s->problems, key, buf_cstr(&what), fix);
    buf_free(&what);
    s->n++;
}

/* dir_of - the directory holding path; caller frees */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    return slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
}

/* absolute - is key's path absolute (or empty, when may_be_empty)? Else a problem */
static bool absolute(struct syscheck *s, const char *key, const char *path, bool may_be_empty)
{
    if (path[0] == '/' || (may_be_empty && path[0] == '\0'))
        return true;
    problem(s, key,
            "give its absolute path (the daemon works from /, so a relative one names another "
            "file than this check and postmeter see)",
            "\"%s\" is not an absolute path", path);
    return false;
}

/* lookup_error - why getpwnam/getgrnam found nothing: "" when it is not there */
static const char *lookup_error(int e)
{
    /* the "not found" answers getpwnam(3) lists, besides 0 */
    if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
        return "";
    return strerror(e);
}

/* find_user - does user exist? Fills s->u and s->group */
static void find_user(struct syscheck *s)
{
    struct passwd *pw;
    struct group *gr;
    const char *why;
    char *fix;

    errno = 0;
    if ((pw = getpwnam(s->c->user)) == NULL) {
        why = lookup_error(errno);
        fix = xasprintf("create it (adduser --system --group %s), or set user to the account "
                        "postmeter-milter is to run as",
                        s->c->user);
        problem(s, "user", fix, "user \"%s\" does not exist%s%s", s->c->user, *why ? ": " : "",
                why);
        free(fix);
        return;
    }
    s->u.uid = pw->pw_uid;
    s->u.gid = pw->pw_gid;
    s->u.name = xstrdup(s->c->user);
    s->have_user = true;
    gr = getgrgid(s->u.gid);
    s->group = gr ? xstrdup(gr->gr_name) : xasprintf("%ld", (long)s->u.gid);
}

/* socket_path - the file of a unix: or local: milter_socket, else NULL */
static const char *socket_path(const char *spec)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return spec + 5;
    if (strncmp(spec, "local:", 6) == 0)
        return spec + 6;
    return NULL;
}

/* find_group - does a unix socket's milter_socket_group exist? */
static void find_group(struct syscheck *s)
{
    const char *g = s->c->milter_socket_group, *why;

    errno = 0;
    if (g[0] == '\0' || socket_path(s->c->milter_socket) == NULL || getgrnam(g) != NULL)
        return;
    why = lookup_error(errno);
    problem(s, "milter_socket_group",
            "set it to the group the MTA's milter clients run as (postfix for Postfix's smtpd "
            "and cleanup), or leave it empty for the primary group of user",
            "group \"%s\" does not exist%s%s", g, *why ? ": " : "", why);
}

/*
 * creator_dir - can this process (root at start-up) make key's file
 * path: does its directory exist, and may we write it? Only stat(2) and
 * access(2): nothing is made here.
 */
static void creator_dir(struct syscheck *s, const char *key, const char *path, const char *what)
{
    char *dir = dir_of(path), *fix;
    const char *who = geteuid() == 0 ? "root" : NULL;
    struct passwd *me = who ? NULL : getpwuid(geteuid());
    struct stat st;
    int e = 0;

    if (who == NULL)
        who = me ? me->pw_name : "the user running this";
    if (stat(dir, &st) != 0)
        e = errno;
    else if (!S_ISDIR(st.st_mode))
        e = ENOTDIR;
    if (e != 0) {
        fix = xasprintf("create it before start-up (under /run: at every boot, by a tmpfiles.d "
                        "entry or the unit's RuntimeDirectory=), or set %s to a path in a "
                        "directory that exists",
                        key);
        if (e == ENOENT || e == ENOTDIR)
            problem(s, key, fix, "the directory %s (for %s) does not exist", dir, what);
        else
            problem(s, key, fix, "the directory %s (for %s) cannot be reached: %s", dir, what,
                    strerror(e));
        free(fix);
    } else if (access(dir, W_OK | X_OK) != 0) {
        e = errno;
        fix = xasprintf("set %s to a path in a directory %s can write%s", key, who,
                        geteuid() == 0 ? "" : ", or start postmeter-milter as root");
        problem(s, key, fix, "%s cannot make %s in the directory %s: %s", who, what, dir,
                strerror(e));
        free(fix);
    }
    free(dir);
}

/* check_socket - a unix socket's directory, and nothing but a socket at its name */
static void check_socket(struct syscheck *s)
{
    const char *path = socket_path(s->c->milter_socket);
    struct stat st;

    if (path == NULL || path[0] != '/')
        return; /* inet:, or refused by config_load */
    creator_dir(s, "milter_socket", path, "the socket");
    if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode))
        problem(s, "milter_socket", "remove it, or set milter_socket to another path",
                "%s exists and is not a socket (start-up never removes it)", path);
}

/* check_pixel - the pixel engine loads, if tracking is on (loaded for good) */
static void check_pixel(struct syscheck *s)
{
    char err[768];

    if (!track_stage_engine(s->c, err, sizeof(err)))
        problem(s, "pixel_module",
                "install the pixel engine (postmeter-pixel.so of this postmeter) there, set "
                "pixel_module to where it is, or turn tracking off (tracking_base_url empty)",
                "tracking: %s", err);
}

/*
 * user_dir - as the user (in the child): can it make files in the
 * directory holding path? what says which files ("... are").
 */
static void user_dir(struct syscheck *s, const char *key, const char *path, const char *what)
{
    char *dir = dir_of(path), *fix;
    int e;

    if (access(dir, W_OK | X_OK) == 0) {
        free(dir);
        return;
    }
    e = errno;
    if (e == ENOENT) {
        fix = xasprintf("install -d -o %s -g %s -m 0750 %s", s->u.name, s->group, dir);
        problem(s, key, fix,
                "the directory %s does not exist; it must exist and be writable by user %s (%s "
                "made there)",
                dir, s->u.name, what);
    } else if (e == EROFS) {
        /* Under systemd, ProtectSystem=strict mounts everything read-only
           but the unit's StateDirectory= and ReadWritePaths=. */
        fix = xasprintf("make %s writable where it is mounted; under systemd add "
                        "ReadWritePaths=%s with 'systemctl edit postmeter-milter'",
                        dir, dir);
        problem(s, key, fix,
                "the directory %s is on a read-only file system; it must be writable by user %s "
                "(%s made there)",
                dir, s->u.name, what);
    } else {
        fix = xasprintf("chown %s %s (or give user %s write access to it), or set %s to a file in "
                        "a directory %s can write",
                        s->u.name, dir, s->u.name, key, s->u.name);
        problem(s, key, fix,
                "the directory %s must exist and be writable by user %s (%s made there): %s", dir,
                s->u.name, what, strerror(e));
    }
    free(fix);
    free(dir);
}

/*
 * user_db_file - as the user: an existing database file must be
 * readable and writable by it; unless given, only one that is the
 * user's already (start-up gives the others to it first).
 */
static void user_db_file(struct syscheck *s, bool given)
{
    const char *db = s->c->database;
    struct stat st;
    char *fix;

    if (lstat(db, &st) != 0 || (!given && st.st_uid != s->u.uid) || access(db, R_OK | W_OK) == 0)
        return;
    fix = xasprintf("chmod 0640 %s", db);
    problem(s, "database", fix, "the file %s must be readable and writable by user %s (mode %04o)",
            db, s->u.name, (unsigned)(st.st_mode & 07777));
    free(fix);
}

/* key_usable - the key file at path reads as a private key (as the user) */
static bool key_usable(const char *path)
{
    char why[512];
    EVP_PKEY *pkey = pemkey_read_path(path, why, sizeof(why));

    EVP_PKEY_free(pkey);
    return pkey != NULL;
}

/* user_key - store callback, as the user: can an active or pending key's file be used? */
static int user_key(const struct store_dkim_key *k, void *arg)
{
    struct syscheck *s = arg;
    const char *state = store_dkim_state_name(k->state);
    char why[512], *fix;
    EVP_PKEY *pkey;

    if (k->state != STORE_DKIM_ACTIVE && k->state != STORE_DKIM_PENDING)
        return 0;
    if (s->keys_bad >= KEYS_SHOWN) { /* enough lines: count the rest */
        if (access(k->key_file, R_OK) != 0 || !key_usable(k->key_file))
            s->keys_bad++;
        return 0;
    }
    if (access(k->key_file, R_OK) != 0) {
        int e = errno;

        if (e == ENOENT)
            fix = xasprintf("make a new key (postmeter dkim keygen %s) and remove this one "
                            "(postmeter dkim remove %s %s --force)",
                            k->domain, k->domain, k->selector);
        else
            fix = xasprintf("chgrp %s %s && chmod 0640 %s, and let group %s through the "
                            "directories above it (as postmeter dkim keygen does)",
                            s->group, k->key_file, k->key_file, s->group);
        problem(s, "dkim_key_dir", fix, "%s key %s of %s: user %s cannot read %s: %s", state,
                k->selector, k->domain, s->u.name, k->key_file, strerror(e));
        s->keys_bad++;
        free(fix);
        return 0;
    }
    if ((pkey = pemkey_read_path(k->key_file, why, sizeof(why))) != NULL) {
        EVP_PKEY_free(pkey);
        return 0;
    }
    fix = xasprintf("put the key postmeter dkim keygen made back, or make a new key and remove "
                    "this one (postmeter dkim remove %s %s --force)",
                    k->domain, k->selector);
    problem(s, "dkim_key_dir", fix, "%s key %s of %s cannot be used: %s", state, k->selector,
            k->domain, why);
    s->keys_bad++;
    free(fix);
    return 0;
}

/* user_keys - as the user: every active and pending key in an existing database */
static void user_keys(struct syscheck *s)
{
    char err[512];
    struct store *st;

    if (access(s->c->database, F_OK) != 0)
        return; /* made at start-up: no keys yet */
    if ((st = store_open(s->c->database, STORE_READONLY | STORE_NOCREATE, err, sizeof(err))) ==
        NULL) {
        debug("syscheck: keys not checked: %s", err); /* the database checks say why */
        return;
    }
    if (store_list_dkim_keys(st, NULL, user_key, s) != STORE_OK)
        debug("syscheck: keys not checked: %s", store_error(st)); /* not migrated yet */
    store_close(st);
    if (s->keys_bad > KEYS_SHOWN)
        problem(s, "dkim_key_dir", "see postmeter dkim list, and -t again after each fix",
                "%u more key files cannot be used (the first %d are above)",
                s->keys_bad - KEYS_SHOWN, KEYS_SHOWN);
}

/* as_user - the checks the user's own answers decide; in the child */
static void as_user(struct syscheck *s, bool given)
{
    const struct config *c = s->c;
    char *spool, *db_dir, *spool_dir;

    if (c->database[0] != '/')
        return; /* said already */
    spool = config_spool_path(c);
    db_dir = dir_of(c->database);
    spool_dir = dir_of(spool);
    user_dir(s, "database", c->database,
             strcmp(db_dir, spool_dir) == 0
                 ? "the database, its -wal and -shm files and the spool are"
                 : "the database and its -wal and -shm files are");
    if (strcmp(db_dir, spool_dir) != 0 && spool[0] == '/')
        user_dir(s, "ledger_spool", spool, "the spool is");
    user_db_file(s, given);
    if (!given)
        user_keys(s);
    free(db_dir);
    free(spool_dir);
    free(spool);
}

/* read_bounded - read fd to its end into b, keeping at most max bytes (whole lines) */
static bool read_bounded(struct buf *b, int fd, size_t max)
{
    char chunk[4096];
    ssize_t r;

    while ((r = read(fd, chunk, sizeof(chunk))) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return false;
        if (b->len < max)
            buf_add(b, chunk, (size_t)r < max - b->len ? (size_t)r : max - b->len);
    }
    if (b->len == max) { /* cut: end at the last whole line */
        size_t n = b->len;

        while (n > 0 && b->data[n - 1] != '\n')
            n--;
        buf_truncate(b, n);
    }
    return true;
}

/*
 * ask_user - run as_user() in a child that has become the user; its
 * problem lines are added to s. As neither root nor the user, a note
 * says what was not checked.
 */
static void ask_user(struct syscheck *s, bool given)
{
    struct buf got = BUF_INIT;
    int fds[2], status;
    pid_t pid;

    if (geteuid() != 0 && geteuid() != s->u.uid) {
        buf_printf(s->notes,
                   "not run as root or as user %s: what %s can write and read (database "
                   "directory, key files) was not checked\n",
                   s->u.name, s->u.name);
        return;
    }
    if (pipe2(fds, O_CLOEXEC) != 0)
        die("pipe: %s", strerror(errno));
    fflush(NULL);
    if ((pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        struct buf mine = BUF_INIT;

        close(fds[0]);
        daemon_drop_privileges(&s->u); /* no-op when we are the user */
        s->problems = &mine;
        as_user(s, given);
        _exit(write_all(fds[1], mine.data ? mine.data : "", mine.len) ? 0 : 1);
    }
    close(fds[1]);
    if (!read_bounded(&got, fds[0], CHILD_OUT))
        die("reading the checks of user %s: %s", s->u.name, strerror(errno));
    close(fds[0]);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the checks as user %s failed (status %d)", s->u.name, status);
    buf_add(s->problems, buf_cstr(&got), got.len);
    for (size_t i = 0; i < got.len; i++)
        s->n += got.data[i] == '\n';
    buf_free(&got);
}

/* syscheck_run - every check; the number of problems */
unsigned syscheck_run(const struct config *c, struct buf *problems, struct buf *notes)
{
    struct syscheck s = {.c = c, .problems = problems, .notes = notes};

    find_user(&s);
    find_group(&s);
    check_socket(&s);
    absolute(&s, "database", c->database, false);
    absolute(&s, "ledger_spool", c->ledger_spool, true);
    if (absolute(&s, "pid_file", c->pid_file, true) && c->pid_file[0])
        creator_dir(&s, "pid_file", c->pid_file, "the pid file");
    check_pixel(&s);
    if (s.have_user)
        ask_user(&s, false);
    free(s.u.name);
    free(s.group);
    return s.n;
}

/* say_lines - each line of b on stderr or through the log, as tag says */
static void say_lines(const struct buf *b, bool to_stderr, bool note)
{
    char *copy = xstrdup(buf_cstr(b)), *line, *save = NULL;

    for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (to_stderr)
            fprintf(stderr, "postmeter-milter: %s%s\n", note ? "note: " : "", line);
        else if (note)
            info("note: %s", line);
        else
            warn("%s", line);
    }
    free(copy);
}

/* key_lines - how many lines of b are about DKIM key files */
static unsigned key_lines(const struct buf *b)
{
    static const char tag[] = "dkim_key_dir: ";
    unsigned n = 0;

    for (const char *p = buf_cstr(b); *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
        n += strncmp(p, tag, sizeof(tag) - 1) == 0;
    return n;
}

/*
 * syscheck_say - run and say; true if no problem. At start-up (not
 * to_stderr) a key file the user cannot use is said but does not stop
 * the start: the signer already handles a key it cannot load, per
 * message (on_internal_error), and refusing to start would hold up all mail,
 * inbound too, for one pending key.
 */
bool syscheck_say(const struct config *c, bool to_stderr)
{
    struct buf problems = BUF_INIT, notes = BUF_INIT;
    unsigned n = syscheck_run(c, &problems, &notes);

    say_lines(&notes, to_stderr, true);
    say_lines(&problems, to_stderr, false);
    if (!to_stderr)
        n -= key_lines(&problems);
    buf_free(&problems);
    buf_free(&notes);
    return n == 0;
}

/* syscheck_given - after give_database: the database file is the user's to read and write */
bool syscheck_given(const struct config *c, const struct daemon_user *u)
{
    struct buf problems = BUF_INIT, notes = BUF_INIT;
    struct syscheck s = {.c = c, .problems = &problems, .notes = &notes, .have_user = true};
    struct group *gr = getgrgid(u->gid);

    s.u = *u;
    s.u.name = xstrdup(u->name);
    s.group = gr ? xstrdup(gr->gr_name) : xasprintf("%ld", (long)u->gid);
    ask_user(&s, true);
    say_lines(&notes, false, true);
    say_lines(&problems, false, false);
    buf_free(&problems);
    buf_free(&notes);
    free(s.u.name);
    free(s.group);
    return s.n == 0;
}
