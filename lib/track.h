/*
 * track.h - what open tracking shares between postmeter-milter,
 * postmeter-pixelfilter, postmeter-tracker and the CLI: rule patterns,
 * the rule set a message is matched against, tokens and the pixel URL.
 *
 * A pattern is a whole address ("user@example.org") or "@domain" (every
 * address of exactly that domain); comparisons ignore case. The same
 * patterns make up track_exclude in postmeter.conf.
 */
#ifndef POSTMETER_TRACK_H
#define POSTMETER_TRACK_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "store.h"

/*
 * A token is TRACK_TOKEN_RAND random bytes (what tells tokens apart)
 * followed by the first TRACK_TOKEN_TAG bytes of HMAC-SHA256, under the
 * database's token key, of TRACK_TOKEN_LABEL and those random bytes (what
 * proves that a postmeter host made it), in base64url without padding:
 * 21 bytes, 28 characters, each carrying 6 bits. The tracker checks the
 * tag without the database, so a forged token never reaches the writer.
 */
#define TRACK_TOKEN_RAND  12
#define TRACK_TOKEN_TAG   9
#define TRACK_TOKEN_LEN   28
#define TRACK_TOKEN_LABEL "postmeter-open-token-v1"
#define TRACK_KEY_LEN     32 /* bytes of the token key (schema: token_key) */
#define TRACK_PATTERN_MAX 320

/*
 * track_pattern_normalize - check p and return it in lower case (caller
 * frees), or NULL with a one-line reason appended to why.
 */
char *track_pattern_normalize(const char *p, struct buf *why);
/* track_pattern_match - does address addr match the normalized pattern pat? */
bool track_pattern_match(const char *pat, const char *addr);
/* track_list_match - does addr match one of the patterns in list (NULL-terminated)? */
bool track_list_match(char *const *list, const char *addr);

/* A snapshot of the enabled rules, shared by reference. */
struct track_rules;

/*
 * track_rules_load - the enabled rules of the database and its token key
 * (a snapshot has both or does not exist); NULL with the store's error
 * in err[errlen] on failure.
 */
struct track_rules *track_rules_load(struct store *s, char *err, size_t errlen);
/* track_rules_count - enabled rules in r (0 for NULL) */
size_t track_rules_count(const struct track_rules *r);
/* track_rules_ref - another reference to r (thread-safe); returns r */
struct track_rules *track_rules_ref(struct track_rules *r);
/* track_rules_unref - drop a reference; the last frees; returns NULL */
struct track_rules *track_rules_unref(struct track_rules *r);
/* track_rules_match_sender - a sender rule matches addr (NULL never matches) */
bool track_rules_match_sender(const struct track_rules *r, const char *addr);
/* track_rules_match_recipient - a recipient rule matches addr */
bool track_rules_match_recipient(const struct track_rules *r, const char *addr);
/* track_rules_same - r and o hold the same rules and key (for cheap refreshes) */
bool track_rules_same(const struct track_rules *r, const struct track_rules *o);

/* The token key made ready for HMAC; plain data, read-only once set (shared by threads). */
struct track_key {
    unsigned char ipad[64], opad[64]; /* the key XOR HMAC's inner and outer pads */
};

/* track_key_set - k from the key's bytes raw[0..TRACK_KEY_LEN) */
void track_key_set(struct track_key *k, const unsigned char raw[TRACK_KEY_LEN]);
/*
 * track_key_load - the database's token key into k; false with the
 * store's error in err[errlen] (no such table before the migration, a
 * locked or missing database)
 */
bool track_key_load(struct store *s, struct track_key *k, char *err, size_t errlen);
/* track_rules_key - the token key read with the rules r (r not NULL) */
const struct track_key *track_rules_key(const struct track_rules *r);

/* track_token_new - a new token under key k: TRACK_TOKEN_LEN characters, NUL-terminated */
void track_token_new(const struct track_key *k, char out[TRACK_TOKEN_LEN + 1]);
/* track_token_wellformed - s[0..n) has a token's shape: TRACK_TOKEN_LEN base64url characters */
bool track_token_wellformed(const char *s, size_t n);
/*
 * track_token_valid - s[0..n) is well-formed and its tag is the one key k
 * gives its random bytes (compared in constant time)
 */
bool track_token_valid(const struct track_key *k, const char *s, size_t n);
/* track_pixel_url - "<base>/o/<token>.gif" (a trailing '/' of base is not doubled) */
void track_pixel_url(const char *base, const char *token, struct buf *out);
/* track_base_url_ok - http:// or https://, then printable ASCII without quotes, <, >, \, ` or
 * spaces */
bool track_base_url_ok(const char *url, struct buf *why);

#endif
