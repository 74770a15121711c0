/*
 * util.c - allocation that never returns NULL, and small string helpers.
 *
 * Out of memory ends the process through die(); nothing here returns an
 * error the caller must test.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* xmalloc - malloc or die */
void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* xcalloc - calloc or die */
void *xcalloc(size_t n, size_t size)
{
    void *p;

    if (size != 0 && n > SIZE_MAX / size)
        die("out of memory (%zu x %zu bytes)", n, size);
    p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* xrealloc - realloc or die */
void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        die("out of memory (%zu bytes)", n);
    return q;
}

/* xstrdup - strdup or die; NULL stays NULL */
char *xstrdup(const char *s)
{
    return s ? xstrndup(s, strlen(s)) : NULL;
}

/* xstrndup - copy at most n bytes plus a NUL */
char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* xasprintf - formatted string or die */
char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n < 0)
        die("out of memory (asprintf)");
    return p;
}

/* xfree - free and return NULL */
void *xfree(void *p)
{
    free(p);
    return NULL;
}

/* str_trim - strip ASCII white space at both ends, in place */
char *str_trim(char *s)
{
    char *start = s, *end;

    while (*start && isspace((unsigned char)*start))
        start++;
    end = start + strlen(start);
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    *end = '\0';
    if (start != s)
        memmove(s, start, (size_t)(end - start) + 1);
    return s;
}

/* str_lower - ASCII lower-case in place */
char *str_lower(char *s)
{
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return s;
}

/* str_eq_nocase - ASCII case-insensitive equality, NULL-safe */
bool str_eq_nocase(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcasecmp(a, b) == 0;
}

/* strlcpy_ok - bounded copy; false if truncated */
bool strlcpy_ok(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size == 0)
        return false;
    if (len >= size) {
        memcpy(dst, src, size - 1);
        dst[size - 1] = '\0';
        return false;
    }
    memcpy(dst, src, len + 1);
    return true;
}

/* snprintf_ok - snprintf that reports error or truncation as false */
bool snprintf_ok(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return n >= 0 && (size_t)n < size;
}

/* vsnprintf_cut - a message into dst[size]; one that does not fit ends in "..." */
void vsnprintf_cut(char *dst, size_t size, const char *fmt, va_list ap)
{
    int n;

    if (size == 0)
        return;
    n = vsnprintf(dst, size, fmt, ap);
    if (n < 0)
        dst[0] = '\0';
    else if ((size_t)n >= size && size > 4)
        memcpy(dst + size - 4, "...", 4);
}

/* snprintf_cut - vsnprintf_cut with arguments */
void snprintf_cut(char *dst, size_t size, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf_cut(dst, size, fmt, ap);
    va_end(ap);
}

/* write_all - write data[0..len) to fd, retrying short writes and EINTR */
bool write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t w = write(fd, p, len);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

/* random_bytes - fill p[0..n) from getrandom(), retrying short reads and EINTR */
void random_bytes(void *p, size_t n)
{
    unsigned char *b = p;
    size_t got = 0;

    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);

        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            die("getrandom: %s", r < 0 ? strerror(errno) : "no data");
        got += (size_t)r;
    }
}
