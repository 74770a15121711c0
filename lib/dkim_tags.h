/*
 * dkim_tags.h - RFC 6376 tag-lists (section 3.2), strictly: the syntax of
 * DKIM-Signature fields and DKIM key records, and base64 values in them.
 *
 * tag-list = tag-spec *( ";" tag-spec ) [ ";" ]; a tag-spec is
 * [FWS] tag-name [FWS] "=" [FWS] tag-value [FWS]; tag-name is ALPHA then
 * ALPHA / DIGIT / "_"; tag-value is runs of VALCHAR (%x21-3A / %x3C-7E)
 * separated by white space. A tag named twice, a tag-spec without "=",
 * a bad name or a value byte outside VALCHAR makes the whole list
 * invalid (RFC 6376 3.2: "Tags with duplicate names MUST NOT occur").
 * Empty tag-specs (";;") are tolerated.
 *
 * Values are kept with all white space removed (base64 and h= lists are
 * folded with FWS; no other tag needs its white space).
 */
#ifndef POSTMETER_DKIM_TAGS_H
#define POSTMETER_DKIM_TAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define DKIM_TAGS_MAX 32 /* tags in one list; more is refused */

struct dkim_tags {
    size_t n;
    struct {
        size_t name, value; /* offsets of NUL-terminated strings in text */
    } t[DKIM_TAGS_MAX];
    struct buf text;
};

/*
 * dkim_tags_parse - parse s[0..len) into tl (which must be zeroed or
 * freed before); false if it is not a valid tag-list (tl is then empty
 * but still to be freed).
 */
bool dkim_tags_parse(struct dkim_tags *tl, const char *s, size_t len);
/* dkim_tags_get - the value of tag name (white space removed), NULL if absent */
const char *dkim_tags_get(const struct dkim_tags *tl, const char *name);
/* dkim_tags_free - release a tag-list */
void dkim_tags_free(struct dkim_tags *tl);

/*
 * dkim_base64_decode - append the bytes of base64 text s to out (white
 * space skipped); false if s is not base64 (bad character, "=" not at the
 * end, impossible length). Padding may be left out. (lib/base64.c)
 */
bool dkim_base64_decode(const char *s, struct buf *out);

#endif
