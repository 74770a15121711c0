/*
 * safefile.h - acting as root on paths that someone else can change,
 * without being led to another file (STYLE habit 14).
 *
 * The service user owns the database directory and may be hostile: it
 * can plant a symbolic link, a FIFO or a hard link where our files
 * belong. Code here walks a path one component at a time with
 * descriptors, follows a symbolic link only where nobody but root (or
 * the caller) could have made it, never follows the last component, and
 * changes only a plain file (regular, one link) through its descriptor.
 */
#ifndef POSTMETER_SAFEFILE_H
#define POSTMETER_SAFEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#define SAFEFILE_PARENT 1 /* open the directory holding the last component */
/*
 * SAFEFILE_STABLE: also every directory on the way must be one that only
 * root (or the caller) can replace, because the path will be opened again
 * by name (SQLite does), not through the descriptor. A relative path is
 * walked from "/" through the working directory's absolute name, so the
 * working directory and those above it are checked too.
 */
#define SAFEFILE_STABLE 2

/*
 * safefile_walk - an O_PATH descriptor of the directory path names (with
 * SAFEFILE_PARENT: of the directory holding its last component, which
 * *base then points at, inside path). -1 with errno and a reason in err;
 * errno EPERM means the walk refused a link or directory someone else
 * could have planted. Caller closes the descriptor.
 */
int safefile_walk(const char *path, int flags, const char **base, char *err, size_t errlen);

/*
 * safefile_root_dir - can only root change the directory holding path's
 * last component, and every directory on the way (SAFEFILE_STABLE, and
 * that directory itself owned by root, writable by nobody else)? Then
 * files in it may be opened again by name (SQLite does) without a
 * check-then-open race. False with a reason in err otherwise, also when
 * it cannot be reached (errno ENOENT: a directory on the way is missing).
 */
bool safefile_root_dir(const char *path, char *err, size_t errlen);

/*
 * safefile_check - is name in dirfd absent (0, errno ENOENT) or a plain
 * file: regular, not a symbolic link, one link (1, *st filled)? -1 with
 * a reason in err (errno EPERM) when it is something else.
 */
int safefile_check(int dirfd, const char *name, struct stat *st, char *err, size_t errlen);

/*
 * safefile_open - open plain file name in dirfd to change its owner or
 * mode (fchown, fchmod): never follows a symbolic link, never blocks on
 * a FIFO. -1 with errno ENOENT if absent; -1 with errno EPERM and a
 * reason in err if it is not a plain file. Caller closes it.
 */
int safefile_open(int dirfd, const char *name, struct stat *st, char *err, size_t errlen);

/*
 * safefile_read - the whole plain file name in dirfd (as safefile_open:
 * no link followed, no FIFO waited on, one name only) of at most max
 * bytes, in a new buffer of *size bytes: *len bytes of data, then a NUL.
 * NULL with a reason naming shown in err: errno ENOENT absent, EPERM not
 * a plain file, EFBIG empty or larger than max. The buffer may hold a
 * private key: caller wipes (*size bytes) and frees it.
 */
unsigned char *safefile_read(int dirfd, const char *name, const char *shown, size_t max,
                             size_t *len, size_t *size, char *err, size_t errlen);

/*
 * safefile_give - if path exists, make it owned by uid:gid and take the
 * permission bits in clear away. 0: absent or already so; 1: changed,
 * what it was is in was[] ("owner 0:0, mode 0644"); -1: refused or
 * failed, reason in err (the file is left as it was).
 */
int safefile_give(const char *path, uid_t uid, gid_t gid, mode_t clear, char *was, size_t waslen,
                  char *err, size_t errlen);

/*
 * safefile_give_socket - the unix socket at path (just bound by us) to
 * uid:gid with mode; false with a reason in err if path is not a socket
 * with one link any more.
 */
bool safefile_give_socket(const char *path, uid_t uid, gid_t gid, mode_t mode, char *err,
                          size_t errlen);

/*
 * safefile_tmp - a new file ".BASE.<random>.tmp" (never matched by
 * "*.key" or BASE's own pattern) of mode in directory dfd, made with
 * O_EXCL and O_NOFOLLOW; its name in tmp[tmplen]. Its descriptor, or -1
 * with errno. Caller closes it and renames or removes it.
 */
int safefile_tmp(int dfd, const char *base, mode_t mode, char *tmp, size_t tmplen);

/*
 * safefile_replace - write data[0..len) to a new file of mode beside
 * path and rename it over path (whatever path is: a symbolic link is
 * replaced, not followed); false with a reason in err.
 */
bool safefile_replace(const char *path, const void *data, size_t len, mode_t mode, char *err,
                      size_t errlen);

#endif
