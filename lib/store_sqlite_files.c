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

/* The files SQLite keeps beside a database in WAL mode (and a rollback journal). */
static const char *const sqlite_side_suffix[] = {"-wal", "-shm", "-journal"};

/*
 * heal_side_files - give -wal and -shm the database file's mode again.
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
    for (size_t i = 0; i < 2; i++) {
        int fd;

        if (!snprintf_ok(name, sizeof(name), "%s%s", base, sqlite_side_suffix[i]))
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
                     sqlite_side_suffix[i], path);
            else
                warn("database: chmod %s%s: %m", path, sqlite_side_suffix[i]);
        }
        close(fd);
    }
}

/*
 * sqlite_prepare_files - what happens to path's files before SQLite opens
 * them: as root, refuse a path someone else could redirect (a symbolic
 * link, or a directory on the way, that users other than root could
 * replace: SQLite opens by name) and files that are not plain (a planted
 * FIFO, hard link or symbolic link); make a new database
 * file mode 0640, never readable by others (SQLite gives the side files
 * the database's mode); heal the side files. False with a reason in err:
 * then SQLite must not open path.
 */
bool sqlite_prepare_files(const char *path, int flags, char *err, size_t errlen)
{
    bool root = geteuid() == 0;
    char name[NAME_MAX + 1], why[512];
    const char *base = NULL;
    struct stat st;
    int dfd, fd;

    dfd = safefile_walk(path, SAFEFILE_PARENT | (root ? SAFEFILE_STABLE : 0), &base, err, errlen);
    if (dfd < 0) /* a missing or unreadable directory: SQLite says so; not root: its business */
        return !root || (errno != EPERM && errno != ELOOP);
    for (size_t i = 0; root && i <= 3; i++) {
        if (!snprintf_ok(name, sizeof(name), "%s%s", base, i ? sqlite_side_suffix[i - 1] : "")) {
            snprintf_ok(err, errlen, "%s: name too long", path);
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
