/*
 * reader.c - cutting one fuzz input into pieces (see reader.h), and the
 * one way a target reports a broken property: fuzz_fail() aborts, which
 * libFuzzer records as a crash with its reproducer.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reader.h"
#include "util.h"

/* reader_init - a reader over data[0..size) */
struct reader reader_init(const uint8_t *data, size_t size)
{
    struct reader r = {data, size};

    return r;
}

/* reader_done - true when the input is used up */
bool reader_done(const struct reader *r)
{
    return r->len == 0;
}

/* reader_byte - the next byte, 0 past the end */
unsigned reader_byte(struct reader *r)
{
    unsigned b;

    if (r->len == 0)
        return 0;
    b = r->p[0];
    r->p++;
    r->len--;
    return b;
}

/* reader_u16 - the next two bytes, big-endian */
unsigned reader_u16(struct reader *r)
{
    unsigned hi = reader_byte(r);

    return hi << 8 | reader_byte(r);
}

/* reader_str - the bytes up to the next NUL or the end; caller frees */
char *reader_str(struct reader *r)
{
    const uint8_t *nul = r->len ? memchr(r->p, '\0', r->len) : NULL;
    size_t n = nul ? (size_t)(nul - r->p) : r->len;
    char *s = xstrndup((const char *)r->p, n);

    r->p += n;
    r->len -= n;
    if (nul != NULL) {
        r->p++;
        r->len--;
    }
    return s;
}

/* reader_mem - the next n bytes as a NUL-terminated copy; caller frees */
char *reader_mem(struct reader *r, size_t n, size_t *got)
{
    char *s;

    if (n > r->len)
        n = r->len;
    s = xmalloc(n + 1);
    if (n > 0)
        memcpy(s, r->p, n);
    s[n] = '\0';
    r->p += n;
    r->len -= n;
    *got = n;
    return s;
}

/* fuzz_cstr - data as a C string in a buffer of exactly its size; caller frees */
char *fuzz_cstr(const uint8_t *data, size_t size)
{
    return xstrndup((const char *)data, size);
}

/* fuzz_fail - report a broken property and abort */
void fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: property failed: %s\n", file, line, what);
    abort();
}
