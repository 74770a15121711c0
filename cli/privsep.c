/*
 * privsep.c - postmeter run by root on a database in the service user's
 * directory: the database as that user, key files as root (see
 * privsep.h).
 *
 * The root parent answers a fixed-size request per SOCK_SEQPACKET
 * message: make the key directory, make a key, say whether a name
 * exists, delete a key file, read a key's public half. A request names a
 * file by its name within dkim_key_dir only; the parent builds the path
 * itself and dkim_keyfile.c acts through the key directory's descriptor,
 * so the child (which reads what the service user wrote) can never make
 * root touch a file elsewhere. Which requests, on which names, and how
 * many, the parent decides from its own command line
 * (privsep_policy.h): a child a hostile database took over gets no more
 * than the command asked for. The group of new key files is the
 * parent's own choice (the configured user's), not the child's.
 *
 * The child gives up root's terminal when it drops privileges
 * (daemon_drop_privileges), and dies with its parent (PR_SET_PDEATHSIG):
 * killing the root process ends the command.
 *
 * Must never open the database in the parent, never act as root on a
 * path the child sent, never return private key material to the child.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "daemon.h"
#include "log.h"
#include "privsep.h"
#include "privsep_policy.h"
#include "safefile.h"
#include "util.h"

#define KEYREP_TEXT 2048 /* a public key's base64 (RSA-4096: 736) or a message */

/* A request to the root parent: op on name, directly in dkim_key_dir. */
struct keyreq {
    int op;  /* enum privsep_op */
    int alg; /* PRIVSEP_CREATE */
    unsigned bits;
    char name[NAME_MAX + 1];
};

/* Its answer: rc (operation's result), the public key or a message in text. */
struct keyrep {
    int rc;
    int alg;
    unsigned bits;
    char text[KEYREP_TEXT];
};

static int helper_fd = -1; /* the child's end of the socket to the root parent */

/* copy - s into out[outlen], cut if it must be */
static void copy(char *out, size_t outlen, const char *s)
{
    if (!strlcpy_ok(out, s, outlen) && outlen > 4)
        memcpy(out + outlen - 4, "...", 4);
}

/* cut - mark text[len], which snprintf_ok could not fit, as cut: "..." at its end */
static void cut(char *text, size_t len)
{
    if (len > 4)
        memcpy(text + len - 4, "...", 4);
}

/* key_path - dkim_key_dir/name; caller frees */
static char *key_path(const struct config *c, const char *name)
{
    size_t n = strlen(c->dkim_key_dir);

    while (n > 1 && c->dkim_key_dir[n - 1] == '/')
        n--;
    return xasprintf("%.*s%s%s", (int)n, c->dkim_key_dir, n == 1 ? "" : "/", name);
}

/* handle - as root: carry out q for the child into r, if sc's command makes it */
static void handle(const struct config *c, gid_t gid, struct privsep_scope *sc,
                   const struct keyreq *q, struct keyrep *r)
{
    struct keyfile_pub pub = {0};
    char *path = key_path(c, q->name);
    const char *no;

    r->rc = -1;
    if (q->op != PRIVSEP_DIR &&
        (keyfile_base(c->dkim_key_dir, path) == NULL || q->name[0] == '.')) {
        copy(r->text, sizeof(r->text), "not a key file name");
    } else if ((no = privsep_allow(sc, (enum privsep_op)q->op, q->name)) != NULL) {
        if (!snprintf_ok(r->text, sizeof(r->text), "%s%srefused: %s", q->name,
                         q->name[0] ? ": " : "", no))
            copy(r->text, sizeof(r->text), no);
    } else if (q->op == PRIVSEP_DIR) {
        r->rc = keyfile_ensure_dir(c->dkim_key_dir, gid, r->text, sizeof(r->text));
    } else if (q->op == PRIVSEP_EXISTS) {
        r->rc = keyfile_exists(c->dkim_key_dir, path);
    } else if (q->op == PRIVSEP_REMOVE) {
        r->rc = keyfile_remove(c->dkim_key_dir, path, r->text, sizeof(r->text));
    } else if (q->op == PRIVSEP_CREATE || q->op == PRIVSEP_PUBLIC) {
        /* keyfile_create refuses an algorithm or an RSA size it does not make */
        bool ok = q->op == PRIVSEP_CREATE
                      ? keyfile_create(path, (enum store_dkim_alg)q->alg, q->bits, gid, &pub,
                                       r->text, sizeof(r->text))
                      : keyfile_public(c->dkim_key_dir, path, &pub, r->text, sizeof(r->text));

        if (ok && q->op == PRIVSEP_CREATE)
            privsep_made(sc, q->name);
        if (ok) {
            r->rc = 1;
            r->alg = (int)pub.algorithm;
            r->bits = pub.bits;
            copy(r->text, sizeof(r->text), pub.p);
        }
        keyfile_pub_free(&pub);
    } else {
        copy(r->text, sizeof(r->text), "unknown request");
    }
    free(path);
}

/* serve - as root: answer the child's requests (sc's) until it closes fd; its exit status */
static int serve(const struct config *c, struct privsep_scope *sc, int fd, gid_t gid, pid_t child)
{
    int status;

    for (;;) {
        struct keyreq q;
        struct keyrep r;
        ssize_t n = recv(fd, &q, sizeof(q), 0);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        memset(&r, 0, sizeof(r));
        if ((size_t)n != sizeof(q)) {
            r.rc = -1;
            copy(r.text, sizeof(r.text), "malformed request");
        } else {
            q.name[sizeof(q.name) - 1] = '\0';
            handle(c, gid, sc, &q, &r);
        }
        if (send(fd, &r, sizeof(r), MSG_NOSIGNAL) != (ssize_t)sizeof(r))
            break;
    }
    close(fd);
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid: %s", strerror(errno));
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : CLI_FAIL;
}

/*
 * root_only_file - can only root change path (if it is there: a
 * symbolic link, and what it leads to, owned by root; the file writable
 * by root only)? Else false with a reason in why[whylen].
 */
static bool root_only_file(const char *path, char *why, size_t whylen)
{
    struct stat st;
    const char *no = NULL;

    if (lstat(path, &st) != 0)
        no = errno == ENOENT ? NULL : strerror(errno);
    else if (st.st_uid != 0)
        no = "not owned by root";
    else if (!S_ISLNK(st.st_mode) && (st.st_mode & (S_IWGRP | S_IWOTH)))
        no = "writable by others than root";
    else if (S_ISLNK(st.st_mode) && stat(path, &st) == 0 &&
             (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))))
        no = "a link to a file others than root can change";
    if (no != NULL && !snprintf_ok(why, whylen, "%s: %s", path, no))
        cut(why, whylen);
    return no == NULL;
}

/*
 * root_only_db - only root can change the database: its directory
 * (safefile_root_dir) and the database, -wal, -shm and -journal files
 * there are (root_only_file). Else false with a reason in why[whylen].
 */
static bool root_only_db(const char *db, char *why, size_t whylen)
{
    bool ok = safefile_root_dir(db, why, whylen);
    char *p;

    if (ok)
        ok = root_only_file(db, why, whylen);
    for (size_t i = 0; ok && store_side_suffixes[i] != NULL; i++) {
        p = xasprintf("%s%s", db, store_side_suffixes[i]);
        ok = root_only_file(p, why, whylen);
        free(p);
    }
    return ok;
}

/* child - in the child, as it starts: drop to u, die with the root parent */
static void child(struct daemon_user *u, pid_t parent)
{
    daemon_drop_privileges(u);
    /* After the drop: a change of credentials clears the parent-death signal. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        die("prctl(PR_SET_PDEATHSIG): %s", strerror(errno));
    if (getppid() != parent) /* it died before that */
        _exit(CLI_FAIL);
}

/* cli_privsep - as root on a database the service user can change: work on it as that user */
int cli_privsep(const struct config *c, enum cli_need need, int argc, char **argv)
{
    struct privsep_scope sc;
    struct daemon_user u;
    char why[512];
    int sv[2], status;
    pid_t pid, parent = getpid();

    if (need == CLI_NEED_NOTHING || geteuid() != 0 || root_only_db(c->database, why, sizeof(why)))
        return -1;
    daemon_lookup_user(c->user, &u);
    debug("%s; working on the database as %s", why, u.name);
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair: %s", strerror(errno));
    fflush(NULL);
    if ((pid = fork()) < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        close(sv[0]);
        helper_fd = sv[1];
        child(&u, parent);
        free(u.name);
        return -1;
    }
    close(sv[1]);
    /* From our own command line, before anything the child says. */
    privsep_scope_of(argc, argv, &sc);
    if (need != CLI_NEED_KEYS)
        memset(&sc, 0, sizeof(sc));
    status = serve(c, &sc, sv[0], u.gid, pid);
    free(u.name);
    return status;
}

/* ask - send q to the root parent, its answer into r; false with a message in r->text */
static bool ask(int op, const char *path, const struct config *c, struct keyreq *q,
                struct keyrep *r)
{
    const char *base = path != NULL ? keyfile_base(c->dkim_key_dir, path) : "";
    const char *who = path ? path : c->dkim_key_dir, *why;
    ssize_t n = -1;

    memset(r, 0, sizeof(*r));
    r->rc = -1;
    q->op = op;
    if (path != NULL && (base == NULL || strlen(base) > NAME_MAX)) {
        if (!snprintf_ok(r->text, sizeof(r->text), "%s is not a file directly in dkim_key_dir (%s)",
                         path, c->dkim_key_dir))
            cut(r->text, sizeof(r->text));
        return false;
    }
    copy(q->name, sizeof(q->name), base);
    if (send(helper_fd, q, sizeof(*q), MSG_NOSIGNAL) != (ssize_t)sizeof(*q))
        why = strerror(errno);
    else if ((n = recv(helper_fd, r, sizeof(*r), 0)) < 0)
        why = strerror(errno);
    else if (n == 0)
        why = "the other process closed the connection";
    else if (n != (ssize_t)sizeof(*r))
        why = "a malformed answer";
    else
        why = NULL;
    if (why != NULL) {
        memset(r, 0, sizeof(*r));
        r->rc = -1;
        if (!snprintf_ok(r->text, sizeof(r->text),
                         "%s: the root process that handles key files: %s", who, why))
            cut(r->text, sizeof(r->text));
        return false;
    }
    r->text[sizeof(r->text) - 1] = '\0';
    return true;
}

/* own_gid - the group of key files we make ourselves: the configured user's as root */
static gid_t own_gid(const struct config *c)
{
    struct daemon_user u;

    if (geteuid() != 0)
        return (gid_t)-1;
    daemon_lookup_user(c->user, &u);
    free(u.name);
    return u.gid;
}

/* cli_key_as_root - are key files made as root? */
bool cli_key_as_root(void)
{
    return helper_fd >= 0 || geteuid() == 0;
}

/* cli_key_dir - make dkim_key_dir unless it exists */
bool cli_key_dir(const struct config *c, char *err, size_t errlen)
{
    struct keyreq q = {0};
    struct keyrep r;

    if (helper_fd < 0)
        return keyfile_ensure_dir(c->dkim_key_dir, own_gid(c), err, errlen);
    ask(PRIVSEP_DIR, NULL, c, &q, &r);
    if (r.rc <= 0)
        copy(err, errlen, r.text);
    return r.rc > 0;
}

/* take_pub - a key the parent sent into *pub; false (message in err) if it sent none */
static bool take_pub(const struct keyrep *r, struct keyfile_pub *pub, char *err, size_t errlen)
{
    memset(pub, 0, sizeof(*pub));
    if (r->rc <= 0) {
        copy(err, errlen, r->text);
        return false;
    }
    pub->algorithm = (enum store_dkim_alg)r->alg;
    pub->bits = r->bits;
    pub->p = xstrdup(r->text);
    return true;
}

/* cli_key_create - make a key file in dkim_key_dir */
bool cli_key_create(const struct config *c, const char *path, enum store_dkim_alg a, unsigned bits,
                    struct keyfile_pub *pub, char *err, size_t errlen)
{
    struct keyreq q = {.alg = (int)a, .bits = bits};
    struct keyrep r;

    if (helper_fd < 0)
        return keyfile_create(path, a, bits, own_gid(c), pub, err, errlen);
    ask(PRIVSEP_CREATE, path, c, &q, &r);
    return take_pub(&r, pub, err, errlen);
}

/* cli_key_exists - is the name path taken in dkim_key_dir? */
bool cli_key_exists(const struct config *c, const char *path)
{
    struct keyreq q = {0};
    struct keyrep r;

    if (helper_fd < 0)
        return keyfile_exists(c->dkim_key_dir, path);
    return ask(PRIVSEP_EXISTS, path, c, &q, &r) && r.rc > 0;
}

/* cli_key_remove - delete a key file in dkim_key_dir */
int cli_key_remove(const struct config *c, const char *path, char *err, size_t errlen)
{
    struct keyreq q = {0};
    struct keyrep r;

    if (helper_fd < 0)
        return keyfile_remove(c->dkim_key_dir, path, err, errlen);
    ask(PRIVSEP_REMOVE, path, c, &q, &r);
    if (r.rc < 0)
        copy(err, errlen, r.text);
    return r.rc < 0 ? -1 : r.rc;
}

/* cli_key_public_of - the public half of stored key k's file */
bool cli_key_public_of(const struct config *c, const struct store_dkim_key *k,
                       struct keyfile_pub *pub, char *err, size_t errlen)
{
    struct keyreq q = {0};
    struct keyrep r;

    if (helper_fd < 0)
        return keyfile_public_of(c->dkim_key_dir, k, pub, err, errlen);
    ask(PRIVSEP_PUBLIC, k->key_file, c, &q, &r);
    return take_pub(&r, pub, err, errlen) && keyfile_pub_matches(k, pub, err, errlen);
}
