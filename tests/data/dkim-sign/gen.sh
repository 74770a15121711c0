#!/bin/sh
# gen.sh - make the test-only signing keys of tests/data/dkim-sign with
# openssl. They sign test messages and nothing else: never publish them.
#
#   rsa2048.pem          RSA 2048, PKCS#8  (openssl genpkey)
#   rsa2048-pkcs1.pem    another RSA 2048, PKCS#1 ("BEGIN RSA PRIVATE KEY")
#   ed25519.pem          Ed25519, PKCS#8   (openssl genpkey -algorithm ed25519)
#   rsa512.pem           RSA 512: too short, must be refused
#   ec-p256.pem          an EC key: a key type DKIM signing does not use
#   encrypted.pem        RSA 2048 under a passphrase ("test"): refused, no prompt
#   garbage.pem          a PEM armour around bytes that are no key
#   empty.pem            an empty file
set -e
cd "$(dirname "$0")"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa2048.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 |
    openssl rsa -traditional -out rsa2048-pkcs1.pem
openssl genpkey -algorithm ed25519 -out ed25519.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512 -out rsa512.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec-p256.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-128-cbc -pass pass:test \
    -out encrypted.pem
{
    echo "-----BEGIN PRIVATE KEY-----"
    echo "bm90IGEga2V5IGF0IGFsbCwganVzdCBzb21lIHRleHQgaW4gYSBQRU0gYXJtb3Vy"
    echo "-----END PRIVATE KEY-----"
} >garbage.pem
: >empty.pem
chmod 600 ./*.pem
