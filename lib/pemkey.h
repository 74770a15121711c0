/*
 * pemkey.h - a private key from a PEM file: the one reader of key files
 * that postmeter (dkim, dns) and postmeter-milter share.
 *
 * The file is read through safefile_read (no link followed, no FIFO
 * waited on, one name, at most PEMKEY_MAX bytes) and parsed from memory
 * with no passphrase prompt: an encrypted key is an error. Nothing here
 * logs, prints or puts in a message any part of the file.
 */
#ifndef POSTMETER_PEMKEY_H
#define POSTMETER_PEMKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#define PEMKEY_MAX (64 * 1024) /* an RSA-16384 PEM is about 12 KiB */

/*
 * pemkey_read - the private key in plain file name in directory dfd
 * (PEM: PKCS#8 or traditional); messages name shown. NULL with a reason
 * in err[errlen]. Caller frees the key (EVP_PKEY_free).
 */
EVP_PKEY *pemkey_read(int dfd, const char *name, const char *shown, char *err, size_t errlen);

/*
 * pemkey_read_path - pemkey_read of path: its directory walked with
 * safefile_walk (a symbolic link on the way followed only if nobody but
 * root or we could have made it; never the last component).
 */
EVP_PKEY *pemkey_read_path(const char *path, char *err, size_t errlen);

#endif
