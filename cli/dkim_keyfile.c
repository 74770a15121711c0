/*
 * dkim_keyfile.c - DKIM private key files (see dkim_keyfile.h), with
 * OpenSSL 3.
 *
 * A new key is never readable by anyone but its owner until it has its
 * final group, and never by "other" at all: the temporary file is made
 * with O_EXCL and mode 0600 (the umask can only take bits away), chowned,
 * then chmodded to 0640 before the key is written; it reaches its name
 * with a rename that refuses to replace a file. All of that happens
 * relative to the key directory opened once (safefile_walk), through
 * descriptors, never following a link: this runs as root. The PEM passes through
 * OpenSSL's secure-memory BIO only, which is wiped when freed.
 *
 * This file must never print, log or return private key material: error
 * messages name files and OpenSSL reasons only.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim_keyfile.h"
#include "pemkey.h"
#include "safefile.h"
#include "util.h"

/* set_err - printf into err[errlen] (vsnprintf_cut); returns false */
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf_cut(err, errlen, fmt, ap);
    va_end(ap);
    return false;
}

/* ssl_reason - the first queued OpenSSL error as text (static buffer); clears the queue */
static const char *ssl_reason(void)
{
    static char text[256];
    unsigned long e = ERR_get_error();

    if (e == 0)
        return "unknown OpenSSL error";
    ERR_error_string_n(e, text, sizeof(text));
    ERR_clear_error();
    return text;
}

/* keyfile_ensure_dir - make the key directory unless it exists */
bool keyfile_ensure_dir(const char *dir, gid_t gid, char *err, size_t errlen)
{
    const char *base = NULL;
    int dfd, fd;
    bool ok = false;

    if ((fd = safefile_walk(dir, 0, NULL, err, errlen)) >= 0) {
        close(fd);
        return true;
    }
    if (errno != ENOENT)
        return false;
    if ((dfd = safefile_walk(dir, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return false;
    /* Made 0700 and changed through its descriptor: never by name, never followed. */
    if (mkdirat(dfd, base, 0700) != 0)
        set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    else if ((fd = openat(dfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        set_err(err, errlen, "%s: %s", dir, strerror(errno));
    else if (gid != (gid_t)-1 && fchown(fd, geteuid() == 0 ? 0 : (uid_t)-1, gid) != 0)
        set_err(err, errlen, "chown %s: %s", dir, strerror(errno));
    else if (fchmod(fd, KEYFILE_DIR_MODE) != 0)
        set_err(err, errlen, "chmod %s: %s", dir, strerror(errno));
    else
        ok = true;
    if (fd >= 0)
        close(fd);
    close(dfd);
    return ok;
}

/* b64 - base64 of in[0..n) without line breaks; caller frees */
static char *b64(const unsigned char *in, size_t n)
{
    char *out = xmalloc(4 * ((n + 2) / 3) + 1);

    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    return out;
}

/* pub_of - the public half of pkey into *pub; false with a reason */
static bool pub_of(EVP_PKEY *pkey, struct keyfile_pub *pub, char *err, size_t errlen)
{
    int id = EVP_PKEY_get_base_id(pkey);

    memset(pub, 0, sizeof(*pub));
    if (id == EVP_PKEY_RSA) {
        unsigned char *der = NULL;
        int n = i2d_PUBKEY(pkey, &der); /* SubjectPublicKeyInfo, as RFC 6376 3.6.1 wants */

        if (n <= 0)
            return set_err(err, errlen, "cannot encode the RSA public key: %s", ssl_reason());
        pub->algorithm = STORE_DKIM_RSA_SHA256;
        pub->bits = (unsigned)EVP_PKEY_get_bits(pkey);
        pub->p = b64(der, (size_t)n);
        OPENSSL_free(der);
        return true;
    }
    if (id == EVP_PKEY_ED25519) {
        unsigned char raw[32];
        size_t n = sizeof(raw);

        if (EVP_PKEY_get_raw_public_key(pkey, raw, &n) != 1 || n != sizeof(raw))
            return set_err(err, errlen, "cannot read the Ed25519 public key: %s", ssl_reason());
        pub->algorithm = STORE_DKIM_ED25519_SHA256;
        pub->bits = KEYFILE_ED25519_BITS;
        pub->p = b64(raw, n); /* the bare 32 bytes, RFC 8463 section 4 */
        return true;
    }
    return set_err(err, errlen, "not an RSA or Ed25519 key (%s)",
                   OBJ_nid2sn(id) ? OBJ_nid2sn(id) : "unknown type");
}

/* generate - a new key of algorithm a (bits for RSA); NULL with a reason */
static EVP_PKEY *generate(enum store_dkim_alg a, unsigned bits, char *err, size_t errlen)
{
    EVP_PKEY *pkey;

    if (a == STORE_DKIM_RSA_SHA256)
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
    else
        pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    if (pkey == NULL)
        set_err(err, errlen, "key generation failed: %s", ssl_reason());
    return pkey;
}

/* fsync_dir - fsync directory dfd (an O_PATH descriptor), so a rename survives a crash */
static void fsync_dir(int dfd)
{
    int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/* place - give tmp the name base in dfd unless base exists; 0 or an errno */
static int place(int dfd, const char *tmp, const char *base)
{
    if (renameat2(dfd, tmp, dfd, base, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return errno;
    /* A file system without RENAME_NOREPLACE: link() refuses an existing name too. */
    if (linkat(dfd, tmp, dfd, base, 0) != 0)
        return errno;
    unlinkat(dfd, tmp, 0);
    return 0;
}

/* write_pem - write pkey as PKCS#8 PEM into the open fd; false with a reason */
static bool write_pem(int fd, EVP_PKEY *pkey, const char *tmp, char *err, size_t errlen)
{
    BIO *mem = BIO_new(BIO_s_secmem());
    char *data = NULL;
    long n;
    bool ok;

    if (mem == NULL)
        return set_err(err, errlen, "cannot allocate a buffer: %s", ssl_reason());
    if (PEM_write_bio_PrivateKey(mem, pkey, NULL, NULL, 0, NULL, NULL) != 1 ||
        (n = BIO_get_mem_data(mem, &data)) <= 0) {
        BIO_free(mem);
        return set_err(err, errlen, "cannot encode the key: %s", ssl_reason());
    }
    ok = write_all(fd, data, (size_t)n);
    BIO_free(mem); /* secure memory: wiped */
    if (!ok)
        return set_err(err, errlen, "write %s: %s", tmp, strerror(errno));
    return true;
}

/* keyfile_create - generate a key and write it to path, which must not exist */
bool keyfile_create(const char *path, enum store_dkim_alg a, unsigned bits, gid_t gid,
                    struct keyfile_pub *pub, char *err, size_t errlen)
{
    char tmp[NAME_MAX + 1];
    const char *base = NULL;
    struct stat st;
    EVP_PKEY *pkey = NULL;
    int dfd, fd, e;
    bool ok = false;

    memset(pub, 0, sizeof(*pub));
    /* Checked here, not only by the option parser: root's privsep parent makes keys too. */
    if (a == STORE_DKIM_RSA_SHA256 && (bits < KEYFILE_RSA_MIN || bits > KEYFILE_RSA_MAX))
        return set_err(err, errlen, "an RSA key of %u bits: the size must be from %u to %u", bits,
                       KEYFILE_RSA_MIN, KEYFILE_RSA_MAX);
    if (a != STORE_DKIM_RSA_SHA256 && a != STORE_DKIM_ED25519_SHA256)
        return set_err(err, errlen, "no such algorithm");
    /* The key directory, opened once: every name below is relative to it. */
    if ((dfd = safefile_walk(path, SAFEFILE_PARENT, &base, err, errlen)) < 0)
        return false;
    if (fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT) {
        set_err(err, errlen, "%s already exists: refusing to overwrite a key", path);
        goto out;
    }
    if ((pkey = generate(a, bits, err, errlen)) == NULL || !pub_of(pkey, pub, err, errlen))
        goto out;
    /* ".NAME.<random>.tmp" beside the target: same file system, never matched by "*.key". */
    if ((fd = safefile_tmp(dfd, base, 0600, tmp, sizeof(tmp))) < 0) {
        set_err(err, errlen, "cannot create a file in the key directory: %s", strerror(errno));
        goto out;
    }
    if (gid != (gid_t)-1 && fchown(fd, geteuid() == 0 ? 0 : (uid_t)-1, gid) != 0)
        set_err(err, errlen, "chown %s: %s", tmp, strerror(errno));
    else if (fchmod(fd, KEYFILE_MODE) != 0)
        set_err(err, errlen, "chmod %s: %s", tmp, strerror(errno));
    else if (write_pem(fd, pkey, tmp, err, errlen)) {
        if (fsync(fd) != 0)
            set_err(err, errlen, "fsync %s: %s", tmp, strerror(errno));
        else
            ok = true;
    }
    if (close(fd) != 0 && ok) {
        set_err(err, errlen, "close %s: %s", tmp, strerror(errno));
        ok = false;
    }
    if (ok && (e = place(dfd, tmp, base)) != 0) {
        if (e == EEXIST)
            set_err(err, errlen, "%s already exists: refusing to overwrite a key", path);
        else
            set_err(err, errlen, "rename %s to %s: %s", tmp, path, strerror(e));
        ok = false;
    }
    if (ok)
        fsync_dir(dfd);
    else
        unlinkat(dfd, tmp, 0);
out:
    if (!ok)
        keyfile_pub_free(pub);
    EVP_PKEY_free(pkey);
    close(dfd);
    return ok;
}

/* keyfile_path - dir/DOMAIN.SELECTOR.key, the name of a key we make; caller frees */
char *keyfile_path(const char *dir, const char *domain, const char *selector)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    return xasprintf("%.*s/%s.%s.key", (int)n, dir, domain, selector);
}

/* keyfile_base - the name of path inside dir if path lies directly in it, else NULL */
const char *keyfile_base(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    const char *base;

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (strncmp(path, dir, n) != 0 || (path[n] != '/' && !(n == 1 && dir[0] == '/')))
        return NULL;
    base = path + n + (path[n] == '/');
    if (base[0] == '\0' || strchr(base, '/') != NULL || strcmp(base, ".") == 0 ||
        strcmp(base, "..") == 0)
        return NULL;
    return base;
}

/*
 * open_dir - dir (walked without following a link someone else could
 * plant) and the name of path inside it; -1 with a reason in err
 */
static int open_dir(const char *dir, const char *path, const char **base, char *err, size_t errlen)
{
    int dfd;

    if ((*base = keyfile_base(dir, path)) == NULL) {
        set_err(err, errlen, "%s is not a file directly in dkim_key_dir (%s)", path, dir);
        return -1;
    }
    if ((dfd = safefile_walk(dir, 0, NULL, err, errlen)) < 0)
        return -1;
    return dfd;
}

/* keyfile_public - the public half of the private key in path, directly inside dir */
bool keyfile_public(const char *dir, const char *path, struct keyfile_pub *pub, char *err,
                    size_t errlen)
{
    const char *base;
    EVP_PKEY *pkey;
    int dfd;
    bool ok;

    memset(pub, 0, sizeof(*pub));
    if ((dfd = open_dir(dir, path, &base, err, errlen)) < 0)
        return false;
    pkey = pemkey_read(dfd, base, path, err, errlen); /* the reader postmeter-milter uses */
    close(dfd);
    if (pkey == NULL)
        return false;
    ok = pub_of(pkey, pub, err, errlen);
    EVP_PKEY_free(pkey);
    return ok;
}

/* keyfile_pub_matches - does pub, read from k's file, have k's algorithm? */
bool keyfile_pub_matches(const struct store_dkim_key *k, struct keyfile_pub *pub, char *err,
                         size_t errlen)
{
    if (pub->algorithm == k->algorithm)
        return true;
    set_err(err, errlen, "%s holds a %s key, but %s %s is registered as %s", k->key_file,
            store_dkim_alg_name(pub->algorithm), k->domain, k->selector,
            store_dkim_alg_name(k->algorithm));
    keyfile_pub_free(pub);
    return false;
}

/* keyfile_public_of - the public half of a stored key, of the stored algorithm */
bool keyfile_public_of(const char *dir, const struct store_dkim_key *k, struct keyfile_pub *pub,
                       char *err, size_t errlen)
{
    return keyfile_public(dir, k->key_file, pub, err, errlen) &&
           keyfile_pub_matches(k, pub, err, errlen);
}

/* keyfile_exists - is there anything named path directly in dir? */
bool keyfile_exists(const char *dir, const char *path)
{
    char err[512];
    const char *base;
    struct stat st;
    int dfd = open_dir(dir, path, &base, err, sizeof(err));
    bool there;

    if (dfd < 0)
        return false;
    there = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
    close(dfd);
    return there;
}

/* keyfile_remove - delete plain file path, directly in dir, through dir's descriptor */
int keyfile_remove(const char *dir, const char *path, char *err, size_t errlen)
{
    char why[384];
    const char *base;
    struct stat st, now;
    int dfd, rc;

    if ((dfd = open_dir(dir, path, &base, err, errlen)) < 0)
        return -1;
    if ((rc = safefile_check(dfd, base, &st, why, sizeof(why))) <= 0) {
        if (rc < 0)
            set_err(err, errlen, "%s: %s: not deleted", path, why);
        close(dfd);
        return rc;
    }
    /* The name still holds the file checked: unlinkat() removes a name, never follows one. */
    if (fstatat(dfd, base, &now, AT_SYMLINK_NOFOLLOW) != 0 || now.st_dev != st.st_dev ||
        now.st_ino != st.st_ino) {
        set_err(err, errlen, "%s changed while it was checked: not deleted", path);
        rc = -1;
    } else if (unlinkat(dfd, base, 0) != 0) {
        set_err(err, errlen, "delete %s: %s", path, strerror(errno));
        rc = -1;
    }
    close(dfd);
    return rc;
}

/* keyfile_pub_free - free pub's strings */
void keyfile_pub_free(struct keyfile_pub *pub)
{
    pub->p = xfree(pub->p);
}
