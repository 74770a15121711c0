/*
 * track.h - what open tracking shares between postmeter-milter,
 * postmeter-pixelfilter and the CLI: rule patterns, the rule set a
 * message is matched against, tokens and the pixel URL.
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

#define TRACK_TOKEN_LEN   22 /* base64url of 128 random bits, no padding */
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
 * track_rules_load - the enabled rules of the database; NULL with the
 * store's error in err[errlen] on failure.
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
/* track_rules_same - r and o hold the same rules (for cheap refreshes) */
bool track_rules_same(const struct track_rules *r, const struct track_rules *o);

/* track_token_new - TRACK_TOKEN_LEN URL-safe characters from 128 random bits, NUL-terminated */
void track_token_new(char out[TRACK_TOKEN_LEN + 1]);
/* track_pixel_url - "<base>/o/<token>.gif" (a trailing '/' of base is not doubled) */
void track_pixel_url(const char *base, const char *token, struct buf *out);
/* track_base_url_ok - http:// or https://, then printable ASCII without quotes, <, >, \, ` or
 * spaces */
bool track_base_url_ok(const char *url, struct buf *why);

#endif
