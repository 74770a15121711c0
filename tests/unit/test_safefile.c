/*
 * test_safefile.c - what root does to files in a directory the service
 * user owns: handing the database files over (daemon_give), opening the
 * database (store_open: side-file healing, new-file mode), writing the
 * pid file, making the milter socket's owner and the DKIM key directory;
 * whether a database directory is root's alone (safefile_root_dir: else
 * the CLI works on it as the service user); reading and deleting key
 * files the database names (only plain files directly in dkim_key_dir),
 * and the milter loading a FIFO named as a key without hanging.
 *
 * Each case plants what a hostile service user could (a symbolic link to
 * a root file, a FIFO, a hard link, a symbolic link as a directory on the
 * way) and checks that the root file behind it is untouched: owner, mode
 * and content. Runs as root, like the milter's start-up.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon.h"
#include "dkim_sign.h"
#include "dkim_keyfile.h"
#include "safefile.h"
#include "store.h"
#include "store_sqlite_int.h"
#include "tmpdir_fixture.h"
#include "util.h"

#define SVC_ID 65534 /* the service user ("nobody") and its group */

static char tmpdir[] = "/tmp/pm-test-safefile-XXXXXX";
static unsigned case_no;
static char dir[256]; /* this case's directory: root/ (root's), user/ (the service user's) */

/* at - dir/rel (static buffer, one of four in turn: copy what must live longer) */
static const char *at(const char *rel)
{
    static char bufs[4][512];
    static int i;
    char *b = bufs[i++ % 4];

    assert_true(snprintf_ok(b, sizeof(bufs[0]), "%s/%s", dir, rel));
    return b;
}

/* new_case - a fresh case directory with root/ (root, 0755) and user/ (SVC_ID, 0755) */
static void new_case(void)
{
    assert_true(snprintf_ok(dir, sizeof(dir), "%s/c%u", tmpdir, ++case_no));
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(at("root"), 0755), 0);
    assert_int_equal(mkdir(at("user"), 0755), 0);
    assert_int_equal(chown(at("user"), SVC_ID, SVC_ID), 0);
}

/* put - a root file rel with mode and a line of content */
static void put(const char *rel, mode_t mode)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_EXCL, 0600);

    assert_true(fd >= 0);
    assert_true(write_all(fd, "root's file\n", 12));
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(close(fd), 0);
}

static unsigned failures; /* cases of the current table that failed */

/* bad - report a failed case; the table goes on, the test fails at its end */
static void bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void bad(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("FAILED: ", stdout);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    failures++;
}

/* untouched - rel is still root's file: owner 0:0, mode, content; else reported under what */
static void untouched(const char *what, const char *rel, mode_t mode)
{
    struct stat st;
    char buf[64] = "";
    int fd;

    if (lstat(at(rel), &st) != 0 || !S_ISREG(st.st_mode)) {
        bad("%s: %s is gone or not a file", what, rel);
        return;
    }
    if (st.st_uid != 0 || st.st_gid != 0 || (st.st_mode & 07777) != mode)
        bad("%s: %s became %ld:%ld %04o, was 0:0 %04o", what, rel, (long)st.st_uid, (long)st.st_gid,
            (unsigned)(st.st_mode & 07777), (unsigned)mode);
    if ((fd = open(at(rel), O_RDONLY)) < 0 || read(fd, buf, sizeof(buf) - 1) < 0 ||
        strcmp(buf, "root's file\n") != 0)
        bad("%s: %s was written to: \"%s\"", what, rel, buf);
    if (fd >= 0)
        close(fd);
}

/* link_to - symbolic link rel -> target */
static void link_to(const char *target, const char *rel)
{
    assert_int_equal(symlink(target, at(rel)), 0);
}

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0) {
        fprintf(stderr, "test_safefile: must run as root (it tests what root does)\n");
        return -1;
    }
    umask(022); /* root's usual umask: the modes below must not depend on it */
    return tmpdir_make(tmpdir) != 0 || chmod(tmpdir, 0755) != 0 ? -1 : 0;
}

static int teardown(void **state)
{
    (void)state;
    return tmpdir_remove(tmpdir);
}

/* ---- daemon_give: the milter's start-up hands the database files over ---- */

enum plant {
    P_NONE,
    P_ROOTS,
    P_USERS,
    P_SYMLINK,
    P_FIFO,
    P_HARDLINK,
    P_DIRLINK_USER,
    P_DIRLINK_ROOT
};

struct give_case {
    const char *name;
    enum plant plant;
    mode_t target_mode; /* of root/target, which a plant points at */
    int ok;             /* daemon_give's answer */
    int given;          /* the file ends owned by SVC_ID, without "other" bits */
};

static const struct give_case give_cases[] = {
    {"absent", P_NONE, 0600, 1, 0},
    {"root's 0644 database", P_ROOTS, 0644, 1, 1},
    {"the user's already", P_USERS, 0640, 1, 1},
    {"symbolic link to a 0600 root file", P_SYMLINK, 0600, 0, 0},
    {"symbolic link to a 0440 root file", P_SYMLINK, 0440, 0, 0},
    {"FIFO", P_FIFO, 0600, 0, 0},
    {"hard link to a root file", P_HARDLINK, 0600, 0, 0},
    {"directory on the way: link in the user's directory", P_DIRLINK_USER, 0600, 0, 0},
    {"directory on the way: link in root's directory", P_DIRLINK_ROOT, 0644, 1, 1},
};

/* plant_db - set up user/db as c says; returns the path daemon_give gets */
static const char *plant_db(const struct give_case *c)
{
    put("root/target", c->target_mode);
    switch (c->plant) {
    case P_NONE:
        break;
    case P_ROOTS:
        put("user/db", 0644);
        break;
    case P_USERS:
        put("user/db", 0640);
        assert_int_equal(chown(at("user/db"), SVC_ID, SVC_ID), 0);
        break;
    case P_SYMLINK:
        link_to(at("root/target"), "user/db");
        break;
    case P_FIFO:
        assert_int_equal(mkfifo(at("user/db"), 0600), 0);
        break;
    case P_HARDLINK:
        assert_int_equal(link(at("root/target"), at("user/db")), 0);
        break;
    case P_DIRLINK_USER: /* user/sub -> root: "user/sub/target" is root/target */
        link_to("../root", "user/sub");
        return at("user/sub/target");
    case P_DIRLINK_ROOT: /* root/lnk -> ../user, made by root: may be followed */
        put("user/db", 0644);
        link_to("../user", "root/lnk");
        return at("root/lnk/db");
    }
    return at("user/db");
}

static void test_give(void **state)
{
    struct daemon_user u = {.uid = SVC_ID, .gid = SVC_ID, .name = "nobody"};

    (void)state;
    failures = 0;
    alarm(10); /* a FIFO opened for reading without O_NONBLOCK would hang here */
    for (size_t i = 0; i < sizeof(give_cases) / sizeof(*give_cases); i++) {
        const struct give_case *c = &give_cases[i];
        char err[512] = "";
        struct stat st;
        char path[512];
        bool ok;

        new_case();
        assert_true(strlcpy_ok(path, plant_db(c), sizeof(path)));
        ok = daemon_give(path, &u, err, sizeof(err));
        if ((int)ok != c->ok)
            bad("%s: daemon_give says %d (%s), want %d", c->name, ok, err, c->ok);
        if (!c->ok && err[0] == '\0')
            bad("%s: refused without a reason", c->name);
        untouched(c->name, "root/target", c->target_mode);
        if (c->given) {
            if (lstat(at("user/db"), &st) != 0 || st.st_uid != SVC_ID || st.st_gid != SVC_ID ||
                (st.st_mode & 07777) != 0640)
                bad("%s: user/db is %ld:%ld %04o, want %d:%d 0640", c->name, (long)st.st_uid,
                    (long)st.st_gid, (unsigned)(st.st_mode & 07777), SVC_ID, SVC_ID);
        }
    }
    alarm(0);
    assert_int_equal(failures, 0);
}

/* ---- store_open as root (the CLI when the directory is root's alone) ---- */

enum db_plant {
    D_NEW,
    D_WAL_LINK,
    D_SHM_LINK,
    D_SHM_FIFO,
    D_JOURNAL_LINK,
    D_DB_HARDLINK,
    D_DIR_LINK
};

struct open_case {
    const char *name;
    const char *dir; /* "root" (root's alone) or "user" (the service user's) */
    enum db_plant plant;
    mode_t target_mode;
    bool opens;
};

static const struct open_case open_cases[] = {
    {"new database in root's directory", "root", D_NEW, 0600, true},
    {"new database in the user's directory", "user", D_NEW, 0600, false},
    {"-wal: symbolic link to a 0440 root file", "user", D_WAL_LINK, 0440, false},
    {"-shm: symbolic link to a 0600 root file", "user", D_SHM_LINK, 0600, false},
    {"-shm: FIFO", "user", D_SHM_FIFO, 0600, false},
    {"database: hard link to a root file", "user", D_DB_HARDLINK, 0600, false},
    {"directory on the way: link in the user's directory", "user", D_DIR_LINK, 0600, false},
    {"root's directory, -shm: FIFO", "root", D_SHM_FIFO, 0600, false},
    {"root's directory, -journal: symbolic link", "root", D_JOURNAL_LINK, 0600, false},
    {"root's directory, database: hard link", "root", D_DB_HARDLINK, 0600, false},
};

/* make_db - a migrated database at dir/db, owned by the service user, mode 0666 */
static void make_db(const char *dir_rel)
{
    char err[512], path[512];
    struct store *s = store_open(at("root/made.db"), 0, err, sizeof(err));

    if (s == NULL)
        fail_msg("store_open root/made.db: %s", err);
    assert_int_equal(store_migrate(s, store_migrations, store_migrations_count), STORE_OK);
    store_close(s);
    assert_true(snprintf_ok(path, sizeof(path), "%s/db", dir_rel));
    assert_int_equal(rename(at("root/made.db"), at(path)), 0);
    /* an admin (or the user) made it writable for all: healing adds write bits */
    assert_int_equal(chown(at(path), SVC_ID, SVC_ID), 0);
    assert_int_equal(chmod(at(path), 0666), 0);
}

/* plant_in - what c plants beside dir/db (a symbolic link or FIFO in dir) */
static void plant_in(const struct open_case *c, const char *db)
{
    char side[512];

    if (c->plant == D_WAL_LINK || c->plant == D_SHM_LINK || c->plant == D_JOURNAL_LINK) {
        assert_true(snprintf_ok(side, sizeof(side), "%s%s", db,
                                c->plant == D_WAL_LINK   ? "-wal"
                                : c->plant == D_SHM_LINK ? "-shm"
                                                         : "-journal"));
        assert_int_equal(symlink(at("root/target"), side), 0);
    } else if (c->plant == D_SHM_FIFO) {
        assert_true(snprintf_ok(side, sizeof(side), "%s-shm", db));
        assert_int_equal(mkfifo(side, 0600), 0);
    } else if (c->plant == D_DB_HARDLINK) {
        assert_int_equal(link(at("root/target"), db), 0);
    }
}

static void test_store_open_as_root(void **state)
{
    (void)state;
    failures = 0;
    alarm(10);
    for (size_t i = 0; i < sizeof(open_cases) / sizeof(*open_cases); i++) {
        const struct open_case *c = &open_cases[i];
        char err[512] = "", path[512], rel[64];
        struct store *s;
        struct stat st;

        new_case();
        put("root/target", c->target_mode);
        assert_true(snprintf_ok(rel, sizeof(rel), "%s/db", c->dir));
        assert_true(strlcpy_ok(path, at(rel), sizeof(path)));
        if (c->plant != D_NEW && c->plant != D_DIR_LINK && c->plant != D_DB_HARDLINK)
            make_db(c->dir);
        plant_in(c, path);
        if (c->plant == D_DIR_LINK) {
            link_to("../root", "user/sub");
            assert_true(strlcpy_ok(path, at("user/sub/db"), sizeof(path)));
        }
        s = store_open(path, 0, err, sizeof(err));
        if ((s != NULL) != c->opens || (s == NULL && err[0] == '\0'))
            bad("%s: store_open %s (%s)", c->name, s ? "opened" : "refused", err);
        if (s != NULL)
            store_close(s);
        untouched(c->name, "root/target", c->target_mode);
        if (c->plant == D_DIR_LINK && lstat(at("root/db"), &st) == 0)
            bad("%s: root made root/db through the link", c->name);
        if (c->plant == D_NEW && c->opens) {
            /* the ledger holds addresses and subjects: never readable by others */
            if (stat(path, &st) != 0 || (st.st_mode & 07777) != 0640)
                bad("new database has mode %04o, want 0640", (unsigned)(st.st_mode & 07777));
        } else if (c->plant == D_NEW && lstat(path, &st) == 0) {
            bad("%s: root made the database file", c->name);
        }
    }
    alarm(0);
    assert_int_equal(failures, 0);
}

/* test_prepare_fails_closed - as root, a path that cannot be checked is never opened */
static void test_prepare_fails_closed(void **state)
{
    static const struct {
        const char *rel, *why;
    } cases[] = {
        {"root/file/db", "Not a directory"},               /* ENOTDIR in the walk */
        {"root/none/db", "unable to open database file"},  /* a missing directory: said so */
        {"user/db", "can be changed by users other than"}, /* the directory holding it */
    };

    (void)state;
    failures = 0;
    new_case();
    put("root/file", 0644);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512] = "";

        if (sqlite_prepare_files(at(cases[i].rel), 0, err, sizeof(err)) ||
            strstr(err, cases[i].why) == NULL)
            bad("%s: SQLite may open it as root (%s)", cases[i].rel, err);
    }
    assert_int_equal(failures, 0);
}

/* ---- the pid file: written as root, maybe in the user's directory ---- */

static void test_pidfile(void **state)
{
    char old_tmp[512], buf[64] = "", want[32];
    struct stat st;
    int fd;

    (void)state;
    new_case();
    put("root/target", 0644);
    put("root/target2", 0600);
    /* the temporary name the pid file used to be written through */
    assert_true(
        snprintf_ok(old_tmp, sizeof(old_tmp), "%s.%ld.tmp", at("user/pm.pid"), (long)getpid()));
    assert_int_equal(symlink(at("root/target"), old_tmp), 0);
    link_to(at("root/target2"), "user/pm.pid");
    failures = 0;
    daemon_write_pidfile(at("user/pm.pid"));
    untouched("pid file", "root/target", 0644);
    untouched("pid file", "root/target2", 0600);
    assert_int_equal(failures, 0);
    assert_int_equal(lstat(at("user/pm.pid"), &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_true((fd = open(at("user/pm.pid"), O_RDONLY)) >= 0);
    assert_true(read(fd, buf, sizeof(buf) - 1) > 0);
    close(fd);
    assert_true(snprintf_ok(want, sizeof(want), "%ld\n", (long)getpid()));
    assert_string_equal(buf, want);
}

/* ---- the milter socket: its owner and mode through a descriptor ---- */

static void test_socket(void **state)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char err[512] = "";
    struct stat st;
    int fd;

    (void)state;
    new_case();
    put("root/target", 0600);
    /* the socket was replaced by a link between bind() and chown() */
    link_to(at("root/target"), "user/milter.sock");
    failures = 0;
    if (safefile_give_socket(at("user/milter.sock"), SVC_ID, SVC_ID, 0660, err, sizeof(err)))
        bad("socket: a symbolic link was taken for the socket");
    untouched("socket", "root/target", 0600);
    assert_int_equal(failures, 0);

    assert_true(strlcpy_ok(sun.sun_path, at("user/real.sock"), sizeof(sun.sun_path)));
    assert_true((fd = socket(AF_UNIX, SOCK_STREAM, 0)) >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    if (!safefile_give_socket(sun.sun_path, SVC_ID, 0, 0660, err, sizeof(err)))
        fail_msg("a real socket: %s", err);
    close(fd);
    assert_int_equal(lstat(sun.sun_path, &st), 0);
    assert_int_equal(st.st_uid, SVC_ID);
    assert_int_equal(st.st_gid, 0);
    assert_int_equal(st.st_mode & 07777, 0660);
}

/* ---- postmeter dkim: the key directory, made as root ---- */

static void test_key_dir(void **state)
{
    struct keyfile_pub pub;
    char err[512] = "";
    struct stat st;

    (void)state;
    new_case();
    /* dkim_key_dir below a directory the user can change: user/etc -> ../root */
    link_to("../root", "user/etc");
    assert_false(keyfile_ensure_dir(at("user/etc/keys"), SVC_ID, err, sizeof(err)));
    if (lstat(at("root/keys"), &st) == 0)
        fail_msg("root made root/keys through the user's link");

    /* a plain path: made 0750, group of the service user */
    if (!keyfile_ensure_dir(at("root/keys"), SVC_ID, err, sizeof(err)))
        fail_msg("key directory: %s", err);
    assert_int_equal(lstat(at("root/keys"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_uid, 0);
    assert_int_equal(st.st_gid, SVC_ID);
    assert_int_equal(st.st_mode & 07777, KEYFILE_DIR_MODE);

    /* an RSA size the option parser refuses: root's privsep parent refuses it too */
    if (keyfile_create(at("root/keys/small.key"), STORE_DKIM_RSA_SHA256, 512, 0, &pub, err,
                       sizeof(err)) ||
        lstat(at("root/keys/small.key"), &st) == 0)
        fail_msg("an RSA key of 512 bits was made");
}

/* ---- safefile_root_dir: may root's CLI open the database by name? ---- */

static void test_root_dir(void **state)
{
    static const struct {
        const char *rel; /* a database in it */
        bool root;
    } cases[] = {
        {"root/db", true},      /* root's 0755 directory */
        {"user/db", false},     /* the service user's */
        {"root/grp/db", false}, /* root's, but group-writable */
        {"root/tmp/db", false}, /* root's, sticky and writable by all (/tmp) */
        {"user/sub/db", false}, /* user/sub -> ../root: a link the user made */
    };
    char err[512];

    (void)state;
    failures = 0;
    new_case();
    assert_int_equal(mkdir(at("root/grp"), 0770), 0);
    assert_int_equal(chmod(at("root/grp"), 0770), 0);
    assert_int_equal(mkdir(at("root/tmp"), 01777), 0);
    assert_int_equal(chmod(at("root/tmp"), 01777), 0);
    link_to("../root", "user/sub");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (safefile_root_dir(at(cases[i].rel), err, sizeof(err)) != cases[i].root)
            bad("%s: safefile_root_dir says %d (%s)", cases[i].rel, !cases[i].root, err);
        else if (!cases[i].root && err[0] == '\0')
            bad("%s: no reason given", cases[i].rel);
    }
    assert_int_equal(failures, 0);
}

/* test_relative_stable - a relative path: the working directory's parents are checked too */
static void test_relative_stable(void **state)
{
    char err[512] = "", cwd[512];

    (void)state;
    new_case();
    /* root's own directory, but inside the user's: the user can rename it away */
    assert_int_equal(mkdir(at("user/rootsub"), 0755), 0);
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(at("user/rootsub")), 0);
    if (safefile_root_dir("db", err, sizeof(err)))
        bad("db in user/rootsub: taken for root's alone");
    assert_int_equal(chdir(at("root")), 0);
    if (!safefile_root_dir("db", err, sizeof(err)))
        bad("db in root: %s", err);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal(failures, 0);
}

/* ---- key files the database names: read and deleted as root only in dkim_key_dir ---- */

struct key_case {
    const char *name;
    const char *key_file; /* relative to the case directory, as the database names it */
    bool read;            /* keyfile_public gives a key */
    int removed;          /* keyfile_remove's answer */
};

static const struct key_case key_cases[] = {
    {"the key, in the key directory", "root/keys/a.key", true, 1},
    {"a root key outside the key directory", "root/secret.pem", false, -1},
    {"the same through ..", "root/keys/../secret.pem", false, -1},
    {"in a subdirectory of the key directory", "root/keys/sub/b.key", false, -1},
    {"a FIFO in the key directory", "root/keys/fifo.key", false, -1},
    {"a symbolic link to a root key", "root/keys/link.key", false, -1},
    {"a hard link to a root key", "root/keys/hard.key", false, -1},
    {"absent", "root/keys/gone.key", false, 0},
};

/* key_files - root/keys (the key directory) with a.key and a plant of each kind */
static void key_files(char *keydir, size_t len)
{
    static const char *const keys[] = {"root/keys/a.key", "root/secret.pem", "root/keys/sub/b.key"};
    struct keyfile_pub pub;
    char err[512];

    new_case();
    assert_true(strlcpy_ok(keydir, at("root/keys"), len));
    assert_true(keyfile_ensure_dir(keydir, 0, err, sizeof(err)));
    assert_int_equal(mkdir(at("root/keys/sub"), 0750), 0);
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (!keyfile_create(at(keys[i]), STORE_DKIM_ED25519_SHA256, 0, 0, &pub, err, sizeof(err)))
            fail_msg("keyfile_create %s: %s", keys[i], err);
        keyfile_pub_free(&pub);
    }
    assert_int_equal(chmod(at("root/secret.pem"), 0600), 0);
    assert_int_equal(mkfifo(at("root/keys/fifo.key"), 0600), 0);
    link_to(at("root/secret.pem"), "root/keys/link.key");
    assert_int_equal(link(at("root/secret.pem"), at("root/keys/hard.key")), 0);
}

static void test_key_files(void **state)
{
    static const struct {
        const char *rel, *why;
    } milter_cases[] = {
        {"root/keys/fifo.key", "is a FIFO"}, /* must not hang it either */
        {"root/keys/link.key", "is a symbolic link"},
        {"root/keys/hard.key", "more than one name"},
    };
    char keydir[512];
    struct dkims_key *k;

    (void)state;
    failures = 0;
    key_files(keydir, sizeof(keydir));
    alarm(10); /* a FIFO opened without O_NONBLOCK would hang here */
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const struct key_case *c = &key_cases[i];
        char err[512] = "", path[512];
        struct keyfile_pub pub;
        bool read;
        int rc;

        assert_true(strlcpy_ok(path, at(c->key_file), sizeof(path)));
        read = keyfile_public(keydir, path, &pub, err, sizeof(err));
        if (read)
            keyfile_pub_free(&pub);
        if (read != c->read || (!read && err[0] == '\0'))
            bad("%s: keyfile_public says %d (%s)", c->name, read, err);
        err[0] = '\0';
        rc = keyfile_remove(keydir, path, err, sizeof(err));
        if (rc != c->removed || (rc < 0 && err[0] == '\0'))
            bad("%s: keyfile_remove says %d (%s), want %d", c->name, rc, err, c->removed);
    }
    if (access(at("root/secret.pem"), F_OK) != 0 || access(at("root/keys/sub/b.key"), F_OK) != 0)
        bad("root deleted a file outside the key directory");
    if (access(at("root/keys/a.key"), F_OK) == 0)
        bad("the key in the key directory was not deleted");
    /* the milter (as its user) loads what the database names: the reader postmeter uses */
    for (size_t i = 0; i < sizeof(milter_cases) / sizeof(milter_cases[0]); i++) {
        char err[512] = "";

        k = dkims_key_load("example.test", "s", "ed25519", at(milter_cases[i].rel), err,
                           sizeof(err));
        if (k != NULL || strstr(err, milter_cases[i].why) == NULL)
            bad("dkims_key_load of %s: %s", milter_cases[i].rel, k ? "loaded" : err);
        dkims_key_free(k);
    }
    alarm(0);
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_give),
        cmocka_unit_test(test_store_open_as_root),
        cmocka_unit_test(test_pidfile),
        cmocka_unit_test(test_socket),
        cmocka_unit_test(test_key_dir),
        cmocka_unit_test(test_root_dir),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_prepare_fails_closed),
        cmocka_unit_test(test_relative_stable),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
