/*
 * dkim_keyfile.c - DKIM private key files (see dkim_keyfile.h), with
 * OpenSSL 3.
 *
 * A new key is never readable by anyone but its owner until it has its
 * final group, and never by "other" at all: the temporary file is made
 * with O_EXCL and mode 0600 (the umask can only take bits away), chowned,
 * then chmodded to 0640 before the key is written; it reaches its name
 * with a rename that refuses to replace a file. The PEM passes through
 * OpenSSL's secure-memory BIO only, which is wiped when freed.
 *
 * This file must never print, log or return private key material: error
 * messages name files and OpenSSL reasons only.
 */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dkim_keyfile.h"
#include "util.h"

/* set_err - printf into err[errlen]; a long message is cut */
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool set_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    if (n < 0 && errlen > 0)
        err[0] = '\0';
    else if ((size_t)n >= errlen && errlen > 4)
        memcpy(err + errlen - 4, "...", 4);
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
    struct stat st;

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return set_err(err, errlen, "%s: not a directory", dir);
        return true;
    }
    if (errno != ENOENT)
        return set_err(err, errlen, "%s: %s", dir, strerror(errno));
    if (mkdir(dir, 0700) != 0)
        return set_err(err, errlen, "cannot create %s: %s", dir, strerror(errno));
    if (gid != (gid_t)-1 && chown(dir, geteuid() == 0 ? 0 : (uid_t)-1, gid) != 0)
        return set_err(err, errlen, "chown %s: %s", dir, strerror(errno));
    if (chmod(dir, KEYFILE_DIR_MODE) != 0)
        return set_err(err, errlen, "chmod %s: %s", dir, strerror(errno));
    return true;
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

/* fsync_dir - fsync the directory holding path, so a rename survives a crash */
static void fsync_dir(const char *path)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    int fd;

    if (slash == dir)
        slash[1] = '\0';
    else if (slash)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(dir);
}

/* place - give tmp the name path unless path exists; 0 or an errno */
static int place(const char *tmp, const char *path)
{
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
        return 0;
    if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
        return errno;
    /* A file system without RENAME_NOREPLACE: link() refuses an existing name too. */
    if (link(tmp, path) != 0)
        return errno;
    unlink(tmp);
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
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    char *tmp = NULL;
    EVP_PKEY *pkey;
    int fd, e;
    bool ok = false;

    memset(pub, 0, sizeof(*pub));
    if (access(path, F_OK) == 0 || errno != ENOENT)
        return set_err(err, errlen, "%s already exists: refusing to overwrite a key", path);
    if ((pkey = generate(a, bits, err, errlen)) == NULL)
        return false;
    if (!pub_of(pkey, pub, err, errlen))
        goto out;
    /* ".NAME.XXXXXX" beside the target: same file system, never matched by "*.key". */
    tmp = xasprintf("%.*s.%s.XXXXXX", (int)(base - path), path, base);
    fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, mode 0600 */
    if (fd < 0) {
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
    if (ok && (e = place(tmp, path)) != 0) {
        if (e == EEXIST)
            set_err(err, errlen, "%s already exists: refusing to overwrite a key", path);
        else
            set_err(err, errlen, "rename %s to %s: %s", tmp, path, strerror(e));
        ok = false;
    }
    if (ok)
        fsync_dir(path);
    else
        unlink(tmp);
out:
    if (!ok)
        keyfile_pub_free(pub);
    EVP_PKEY_free(pkey);
    free(tmp);
    return ok;
}

/* no_passphrase - PEM password callback that never prompts (an encrypted key fails) */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

/* keyfile_public - the public half of the private key in path */
bool keyfile_public(const char *path, struct keyfile_pub *pub, char *err, size_t errlen)
{
    BIO *in;
    EVP_PKEY *pkey;
    bool ok;

    memset(pub, 0, sizeof(*pub));
    if ((in = BIO_new_file(path, "r")) == NULL) {
        int e = errno;

        ERR_clear_error();
        return set_err(err, errlen, "%s: %s", path, e ? strerror(e) : "cannot open");
    }
    pkey = PEM_read_bio_PrivateKey(in, NULL, no_passphrase, NULL);
    BIO_free(in);
    if (pkey == NULL)
        return set_err(err, errlen, "%s: not a usable PEM private key (%s)", path, ssl_reason());
    ok = pub_of(pkey, pub, err, errlen);
    EVP_PKEY_free(pkey);
    return ok;
}

/* keyfile_public_of - the public half of a stored key, of the stored algorithm */
bool keyfile_public_of(const struct store_dkim_key *k, struct keyfile_pub *pub, char *err,
                       size_t errlen)
{
    char why[384];

    if (!keyfile_public(k->key_file, pub, why, sizeof(why)))
        return set_err(err, errlen, "%s", why);
    if (pub->algorithm != k->algorithm) {
        set_err(err, errlen, "%s holds a %s key, but %s %s is registered as %s", k->key_file,
                store_dkim_alg_name(pub->algorithm), k->domain, k->selector,
                store_dkim_alg_name(k->algorithm));
        keyfile_pub_free(pub);
        return false;
    }
    return true;
}

/* keyfile_pub_free - free pub's strings */
void keyfile_pub_free(struct keyfile_pub *pub)
{
    pub->p = xfree(pub->p);
}
