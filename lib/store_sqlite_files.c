/*
 * store_sqlite_files.c - the SQLite backend's files before SQLite opens
 * them: a new database is made mode 0640 (the ledger holds addresses and
 * subjects: never readable by everyone), side files left read-only are
 * healed, and as root nothing planted is opened.
 *
 * Code here may run as root on a directory the service user owns: it
 * must never chmod, chown or open by a whole path, only through
 * safefile.c's descriptors (STYLE habit 14). SQLite itself opens every
 * file with O_NOFOLLOW, but by name, so as root the directories on the
 * way must be ones only root can replace (SAFEFILE_STABLE).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "safefile.h"
#include "store_sqlite_int.h"
#include "util.h"

/* The files SQLite keeps beside a database in WAL mode, and its rollback journal (store.h). */
const char *const store_side_suffixes[] = {"-wal", "-shm", "-journal", NULL};

/*
 * heal_side_files - give the side files the database file's write bits again.
 * SQLite creates them with the mode the database has at that moment, and
 * a connection that could not write leaves them behind: after an admin
 * made the database read-only and writable again, read-only side files
 * would refuse every write forever. Only plain files we own are touched,
 * through a descriptor, and only write bits the database file itself has
 * are added.
 */
static void heal_side_files(int dfd, const char *base, const char *path)
{
    struct stat db, side;
    char name[NAME_MAX + 1], why[512];

    if (safefile_check(dfd, base, &db, why, sizeof(why)) != 1 || faccessat(dfd, base, W_OK, 0) != 0)
        return;
    for (size_t i = 0; store_side_suffixes[i] != NULL; i++) {
        int fd;

        if (!snprintf_ok(name, sizeof(name), "%s%s", base, store_side_suffixes[i]))
            return;
        if ((fd = safefile_open(dfd, name, &side, why, sizeof(why))) < 0) {
            if (errno != ENOENT)
                warn("database: %s: %s: not touched", path, why);
            continue;
        }
        if (side.st_uid == geteuid() && (side.st_mode & 0222) != (db.st_mode & 0222) &&
            !(side.st_mode & db.st_mode & 0200)) {
            if (fchmod(fd, (side.st_mode | (db.st_mode & 0222)) & 07777) == 0)
                info("database: %s%s was read-only; made writable like %s", path,
                     store_side_suffixes[i], path);
            else
                warn("database: chmod %s%s: %m", path, store_side_suffixes[i]);
        }
        close(fd);
    }
}

/*
 * check_as_root - as root: may SQLite open path and its side files by
 * name? Only in a directory root alone can change (safefile_root_dir),
 * every file absent or plain. False with a reason in err otherwise, on
 * any error: a missing directory too (nothing to open: said so).
 */
static bool check_as_root(const char *path, char *err, size_t errlen)
{
    char name[NAME_MAX + 1], why[512];
    const char *base = NULL;
    struct stat st;
    int dfd;

    if (!safefile_root_dir(path, why, sizeof(why))) {
        /* missing: nothing to open, said in the words SQLite uses when it is not root */
        if (!snprintf_ok(err, errlen,
                         errno == ENOENT ? "unable to open database file: %s"
                                         : "%s: not opened as root",
                         why))
            debug("sqlite_prepare_files: message cut");
        return false;
    }
    if ((dfd = safefile_walk(path, SAFEFILE_PARENT | SAFEFILE_STABLE, &base, err, errlen)) < 0)
        return false;
    for (size_t i = 0; i == 0 || store_side_suffixes[i - 1] != NULL; i++) {
        if (!snprintf_ok(name, sizeof(name), "%s%s", base, i ? store_side_suffixes[i - 1] : "")) {
            if (!snprintf_ok(err, errlen, "%s: name too long", path))
                debug("sqlite_prepare_files: message cut");
            close(dfd);
            return false;
        }
        if (safefile_check(dfd, name, &st, why, sizeof(why)) < 0) {
            /* why names the file within its directory: put the directory back in front */
            if (!snprintf_ok(err, errlen, "%.*s%s: not opened as root", (int)(base - path), path,
                             why))
                debug("sqlite_prepare_files: message cut");
            close(dfd);
            return false;
        }
    }
    close(dfd);
    return true;
}

/*
 * sqlite_prepare_files - what happens to path's files before SQLite opens
 * them: as root, refuse a path someone else could redirect (a directory
 * on the way, or the one holding the database, that users other than
 * root could change: SQLite opens by name), files that are not plain (a
 * planted FIFO, hard link or symbolic link), and any path that cannot be
 * checked; make a new database file mode 0640, never readable by others (SQLite gives the side
 * files the database's mode); heal the side files. False with a reason in err: then SQLite must not
 * open path.
 */
bool sqlite_prepare_files(const char *path, int flags, char *err, size_t errlen)
{
    bool root = geteuid() == 0;
    const char *base = NULL;
    int dfd, fd;

    if (root && !check_as_root(path, err, errlen))
        return false;
    dfd = safefile_walk(path, SAFEFILE_PARENT | (root ? SAFEFILE_STABLE : 0), &base, err, errlen);
    if (dfd < 0) /* not root: a missing or unreadable directory is SQLite's to report */
        return !root;
    if (!(flags & (STORE_READONLY | STORE_NOCREATE))) {
        fd = openat(dfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0640);
        if (fd >= 0)
            close(fd); /* an empty file is an empty database to SQLite */
    }
    if (!(flags & STORE_READONLY))
        heal_side_files(dfd, base, path);
    close(dfd);
    return true;
}
