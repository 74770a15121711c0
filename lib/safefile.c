/*
 * safefile.c - acting as root on paths that someone else can change
 * (see safefile.h).
 *
 * A path is walked from "/" (a relative one from the working directory,
 * or, where every directory on the way must be checked, from "/" through
 * the working directory's absolute name) one component at a time, each directory opened
 * O_PATH|O_NOFOLLOW relative to the one before, so what was checked is what is used. A symbolic
 * link on the way is followed only if it is "stable": it sits in a directory owned by root (or us)
 * that nobody else can write, or it is owned by root (or us) in such a sticky directory. This file
 * must never call chown, chmod, open or rename on a whole path: only on a descriptor, or on a
 * single name relative to a directory descriptor, with O_NOFOLLOW.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "safefile.h"
#include "util.h"

#define SAFEFILE_LINKS_MAX 40 /* symbolic links followed in one walk, like the kernel */
#define SAFEFILE_TMP_TRIES 20 /* random temporary names tried before giving up */

/* What one walk needs to follow links and say what went wrong. */
struct walk {
    const char *path; /* as the caller named it, for messages */
    int flags;
    int links;
    char *err;
    size_t errlen;
};

/* set_err - printf into err[errlen] (a cut message keeps its start); sets errno to e, returns -1 */
static int set_err(char *err, size_t errlen, int e, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t errlen, int e, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf_cut(err, errlen, fmt, ap);
    va_end(ap);
    errno = e;
    return -1;
}

/* close_keep - close fd without losing errno; returns rc */
static int close_keep(int rc, int fd)
{
    int e = errno;

    if (fd >= 0)
        close(fd);
    errno = e;
    return rc;
}

/* trusted - root, or the user we run as */
static bool trusted(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* stable - can only root (or we) replace entry e of directory d? */
static bool stable(const struct stat *d, const struct stat *e)
{
    if (!trusted(d->st_uid))
        return false;
    if (!(d->st_mode & (S_IWGRP | S_IWOTH)))
        return true;
    return (d->st_mode & S_ISVTX) && trusted(e->st_uid);
}

/* not_plain - why st is not a plain file (regular, one link), NULL if it is */
static const char *not_plain(const struct stat *st)
{
    if (S_ISLNK(st->st_mode))
        return "a symbolic link";
    if (S_ISFIFO(st->st_mode))
        return "a FIFO";
    if (S_ISDIR(st->st_mode))
        return "a directory";
    if (!S_ISREG(st->st_mode))
        return "not a regular file";
    if (st->st_nlink != 1)
        return "a file with more than one name (hard link)";
    return NULL;
}

static int walk_from(struct walk *w, int fd, const char *path, const char **last);

/* follow - fd/name is a symbolic link (st): walk its target if it is stable; takes fd */
static int follow(struct walk *w, int fd, const struct stat *dst, const char *name,
                  const struct stat *st)
{
    char target[PATH_MAX];
    ssize_t n;

    if (!stable(dst, st))
        return close_keep(set_err(w->err, w->errlen, EPERM,
                                  "%s: symbolic link \"%s\" is in a directory that users other "
                                  "than root can change: not followed",
                                  w->path, name),
                          fd);
    if (++w->links > SAFEFILE_LINKS_MAX)
        return close_keep(set_err(w->err, w->errlen, ELOOP, "%s: %s", w->path, strerror(ELOOP)),
                          fd);
    if ((n = readlinkat(fd, name, target, sizeof(target) - 1)) < 0)
        return close_keep(
            set_err(w->err, w->errlen, errno, "%s: %s: %s", w->path, name, strerror(errno)), fd);
    target[n] = '\0';
    if (target[0] == '/') {
        close(fd);
        if ((fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return set_err(w->err, w->errlen, errno, "/: %s", strerror(errno));
    }
    return walk_from(w, fd, target, NULL);
}

/* step - from directory fd (stat dst) into its subdirectory name (st); takes fd */
static int step(struct walk *w, int fd, const struct stat *dst, const char *name,
                const struct stat *st)
{
    struct stat now;
    int nfd;

    if ((w->flags & SAFEFILE_STABLE) && strcmp(name, "..") != 0 && !stable(dst, st))
        return close_keep(set_err(w->err, w->errlen, EPERM,
                                  "%s: directory \"%s\" can be replaced by users other than root",
                                  w->path, name),
                          fd);
    nfd = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    close(fd);
    if (nfd < 0)
        return set_err(w->err, w->errlen, errno, "%s: %s: %s", w->path, name, strerror(errno));
    if (fstat(nfd, &now) != 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino)
        return close_keep(
            set_err(w->err, w->errlen, EAGAIN, "%s: %s changed while it was opened", w->path, name),
            nfd);
    return nfd;
}

/*
 * walk_from - walk path from directory fd (taken over: closed, or
 * returned). Every component must be a directory; with last != NULL the
 * final one is not walked but left in *last.
 */
static int walk_from(struct walk *w, int fd, const char *path, const char **last)
{
    char name[NAME_MAX + 1];
    struct stat dst, st;
    const char *p = path;

    while (*p) {
        size_t n;
        const char *next;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        n = strcspn(p, "/");
        for (next = p + n; *next == '/'; next++)
            ;
        if (last != NULL && *next == '\0') {
            *last = p;
            return fd;
        }
        if (n > NAME_MAX)
            return close_keep(
                set_err(w->err, w->errlen, ENAMETOOLONG, "%s: %s", w->path, strerror(ENAMETOOLONG)),
                fd);
        memcpy(name, p, n);
        name[n] = '\0';
        p = next;
        if (strcmp(name, ".") == 0)
            continue;
        if (fstat(fd, &dst) != 0 || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            return close_keep(
                set_err(w->err, w->errlen, errno, "%s: %s: %s", w->path, name, strerror(errno)),
                fd);
        if (S_ISLNK(st.st_mode))
            fd = follow(w, fd, &dst, name, &st);
        else if (S_ISDIR(st.st_mode))
            fd = step(w, fd, &dst, name, &st);
        else
            return close_keep(
                set_err(w->err, w->errlen, ENOTDIR, "%s: %s: %s", w->path, name, strerror(ENOTDIR)),
                fd);
        if (fd < 0)
            return -1;
    }
    if (last != NULL)
        return close_keep(set_err(w->err, w->errlen, EINVAL, "%s: names no file", w->path), fd);
    return fd;
}

/*
 * walk_cwd - with SAFEFILE_STABLE a relative path is walked from "/"
 * through the working directory's absolute name, so that the working
 * directory and those above it are checked too: "/" in *fd and the path
 * to walk in abs[abslen] (which *from then points at); else *fd is "."
 * or "/" and *from is path. -1 with a reason in err.
 */
static int walk_cwd(const char *path, int flags, int *fd, const char **from, char *abs,
                    size_t abslen, char *err, size_t errlen)
{
    char cwd[PATH_MAX];

    *from = path;
    if (path[0] == '\0')
        return set_err(err, errlen, EINVAL, "an empty path names no file");
    if (path[0] != '/' && (flags & SAFEFILE_STABLE)) {
        if (getcwd(cwd, sizeof(cwd)) == NULL)
            return set_err(err, errlen, errno, "%s: the working directory: %s", path,
                           strerror(errno));
        if (!snprintf_ok(abs, abslen, "%s/%s", cwd, path))
            return set_err(err, errlen, ENAMETOOLONG, "%s: %s", path, strerror(ENAMETOOLONG));
        *from = abs;
    }
    if ((*fd = open((*from)[0] == '/' ? "/" : ".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return set_err(err, errlen, errno, "%s: %s", path, strerror(errno));
    return 0;
}

/* safefile_walk - descriptor of the directory path names (or of its last component's) */
int safefile_walk(const char *path, int flags, const char **base, char *err, size_t errlen)
{
    struct walk w = {.path = path, .flags = flags, .err = err, .errlen = errlen};
    char abs[PATH_MAX];
    const char *last = NULL, *from;
    int fd = -1;

    if (walk_cwd(path, flags, &fd, &from, abs, sizeof(abs), err, errlen) < 0)
        return -1;
    fd = walk_from(&w, fd, from, (flags & SAFEFILE_PARENT) ? &last : NULL);
    if (fd < 0 || !(flags & SAFEFILE_PARENT))
        return fd;
    if (strchr(last, '/') != NULL || strcmp(last, ".") == 0 || strcmp(last, "..") == 0)
        return close_keep(
            set_err(err, errlen, EINVAL, "%s: not a regular file (it names a directory)", path),
            fd);
    /* last points into from: the same name at the end of path */
    *base = from == path ? last : path + strlen(path) - strlen(last);
    return fd;
}

/* safefile_root_dir - is the directory holding path's last component root's alone? */
bool safefile_root_dir(const char *path, char *err, size_t errlen)
{
    const char *base = NULL;
    struct stat st;
    int dfd = safefile_walk(path, SAFEFILE_PARENT | SAFEFILE_STABLE, &base, err, errlen);

    if (dfd < 0)
        return false;
    if (fstat(dfd, &st) != 0) {
        close_keep(set_err(err, errlen, errno, "%s: %s", path, strerror(errno)), dfd);
        return false;
    }
    close(dfd);
    if (st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH))) {
        set_err(err, errlen, EPERM,
                "%s: its directory can be changed by users other than root (owner %ld, "
                "mode %04o)",
                path, (long)st.st_uid, (unsigned)(st.st_mode & 07777));
        return false;
    }
    return true;
}

/* check_as - safefile_check, messages naming shown */
static int check_as(int dirfd, const char *name, const char *shown, struct stat *st, char *err,
                    size_t errlen)
{
    const char *why;

    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            return 0;
        return set_err(err, errlen, errno, "%s: %s", shown, strerror(errno));
    }
    if ((why = not_plain(st)) != NULL)
        return set_err(err, errlen, EPERM, "%s is %s", shown, why);
    return 1;
}

/* safefile_check - name in dirfd absent (0), plain (1) or anything else (-1) */
int safefile_check(int dirfd, const char *name, struct stat *st, char *err, size_t errlen)
{
    return check_as(dirfd, name, name, st, err, errlen);
}

/* open_as - safefile_open, messages naming shown */
static int open_as(int dirfd, const char *name, const char *shown, struct stat *st, char *err,
                   size_t errlen)
{
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    const char *why;

    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        if (errno == ELOOP) /* the O_NOFOLLOW answer to a symbolic link */
            return set_err(err, errlen, EPERM, "%s is a symbolic link", shown);
        if (errno == ENXIO) /* a socket */
            return set_err(err, errlen, EPERM, "%s is not a regular file", shown);
        return set_err(err, errlen, errno, "%s: %s", shown, strerror(errno));
    }
    if (fstat(fd, st) != 0)
        return close_keep(set_err(err, errlen, errno, "%s: %s", shown, strerror(errno)), fd);
    if ((why = not_plain(st)) != NULL)
        return close_keep(set_err(err, errlen, EPERM, "%s is %s", shown, why), fd);
    return fd;
}

/* safefile_open - open plain file name in dirfd for fchown/fchmod */
int safefile_open(int dirfd, const char *name, struct stat *st, char *err, size_t errlen)
{
    return open_as(dirfd, name, name, st, err, errlen);
}

/* safefile_read - the whole plain file name in dirfd, at most max bytes; caller wipes, frees */
unsigned char *safefile_read(int dirfd, const char *name, const char *shown, size_t max,
                             size_t *len, size_t *size, char *err, size_t errlen)
{
    struct stat st;
    unsigned char *data;
    size_t got = 0;
    int fd, e;

    if ((fd = open_as(dirfd, name, shown, &st, err, errlen)) < 0) {
        if (errno == ENOENT)
            set_err(err, errlen, ENOENT, "%s: %s", shown, strerror(ENOENT));
        return NULL;
    }
    if (st.st_size <= 0 || (unsigned long long)st.st_size > max) {
        if (st.st_size <= 0)
            set_err(err, errlen, EFBIG, "%s: empty file", shown);
        else
            set_err(err, errlen, EFBIG, "%s: too large (more than %zu bytes)", shown, max);
        close_keep(0, fd);
        return NULL;
    }
    *size = (size_t)st.st_size + 1;
    data = xmalloc(*size);
    while (got < *size - 1) {
        ssize_t n = read(fd, data + got, *size - 1 - got);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            e = errno;
            explicit_bzero(data, *size);
            free(data);
            set_err(err, errlen, e, "%s: read error: %s", shown, strerror(e));
            close_keep(0, fd);
            return NULL;
        }
        if (n == 0)
            break; /* shrank since fstat: take what is there */
        got += (size_t)n;
    }
    close(fd);
    data[got] = '\0';
    *len = got;
    return data;
}

/* safefile_give - path, if it exists, to uid:gid without the mode bits in clear */
int safefile_give(const char *path, uid_t uid, gid_t gid, mode_t clear, char *was, size_t waslen,
                  char *err, size_t errlen)
{
    const char *base = NULL;
    struct stat st;
    int dfd, fd, rc = 1;

    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return errno == ENOENT ? 0 : -1;
    fd = open_as(dfd, base, path, &st, err, errlen);
    close_keep(0, dfd);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    if (st.st_uid == uid && st.st_gid == gid && !(st.st_mode & clear)) {
        close(fd);
        return 0;
    }
    if (!snprintf_ok(was, waslen, "owner %ld:%ld, mode %04o", (long)st.st_uid, (long)st.st_gid,
                     (unsigned)(st.st_mode & 07777)) &&
        waslen > 0)
        was[0] = '\0';
    if ((st.st_uid != uid || st.st_gid != gid) && fchown(fd, uid, gid) != 0)
        rc = set_err(err, errlen, errno, "chown %s: %s", path, strerror(errno));
    else if ((st.st_mode & clear) && fchmod(fd, st.st_mode & 07777 & ~clear) != 0)
        rc = set_err(err, errlen, errno, "chmod %s: %s", path, strerror(errno));
    close_keep(0, fd);
    return rc;
}

/* safefile_give_socket - the socket just bound at path to uid:gid, mode */
bool safefile_give_socket(const char *path, uid_t uid, gid_t gid, mode_t mode, char *err,
                          size_t errlen)
{
    char proc[64];
    const char *base = NULL;
    struct stat st;
    int dfd, fd;
    bool ok = false;

    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return false;
    fd = openat(dfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    close(dfd);
    if (fd < 0) {
        set_err(err, errlen, errno, "%s: %s", path, strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0)
        set_err(err, errlen, errno, "%s: %s", path, strerror(errno));
    else if (!S_ISSOCK(st.st_mode) || st.st_nlink != 1)
        set_err(err, errlen, EPERM, "%s is no longer the socket we made: not touched", path);
    else if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
             fchownat(fd, "", uid, gid, AT_EMPTY_PATH) != 0)
        set_err(err, errlen, errno, "chown %s: %s", path, strerror(errno));
    else if ((st.st_mode & 07777) == mode)
        ok = true;
    /* A socket has no descriptor fchmod() could use: its /proc name is this very inode. */
    else if (!snprintf_ok(proc, sizeof(proc), "/proc/self/fd/%d", fd) || chmod(proc, mode) != 0)
        set_err(err, errlen, errno, "chmod %s: %s", path, strerror(errno));
    else
        ok = true;
    close_keep(0, fd);
    return ok;
}

/* safefile_tmp - a new file ".BASE.<random>.tmp" of mode in dfd; its name in tmp; fd or -1 */
int safefile_tmp(int dfd, const char *base, mode_t mode, char *tmp, size_t tmplen)
{
    for (int i = 0; i < SAFEFILE_TMP_TRIES; i++) {
        unsigned long long r;
        int fd;

        random_bytes(&r, sizeof(r));
        if (!snprintf_ok(tmp, tmplen, ".%.200s.%016llx.tmp", base, r)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    return -1; /* errno EEXIST */
}

/* safefile_replace - data into a new file renamed over path */
bool safefile_replace(const char *path, const void *data, size_t len, mode_t mode, char *err,
                      size_t errlen)
{
    char tmp[NAME_MAX + 1];
    const char *base = NULL;
    int dfd, fd;
    bool ok;

    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return false;
    if ((fd = safefile_tmp(dfd, base, mode, tmp, sizeof(tmp))) < 0) {
        set_err(err, errlen, errno, "cannot create a file beside %s: %s", path, strerror(errno));
        close_keep(0, dfd);
        return false;
    }
    ok = fchmod(fd, mode) == 0 && write_all(fd, data, len);
    if (close(fd) != 0)
        ok = false;
    if (ok && renameat(dfd, tmp, dfd, base) != 0)
        ok = false;
    if (!ok) {
        set_err(err, errlen, errno, "%s: %s", path, strerror(errno));
        unlinkat(dfd, tmp, 0);
    }
    close_keep(0, dfd);
    return ok;
}
