/*
 * util.h - allocation that never returns NULL, and small string helpers.
 *
 * Every x*() function either succeeds or ends the process with a log line
 * (out of memory is not a recoverable condition in postmeter). Callers
 * never test the result for NULL.
 */
#ifndef POSTMETER_UTIL_H
#define POSTMETER_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

/* xmalloc - malloc or die; caller frees */
void *xmalloc(size_t n);
/* xcalloc - calloc or die (checks n * size for overflow); caller frees */
void *xcalloc(size_t n, size_t size);
/* xrealloc - realloc or die */
void *xrealloc(void *p, size_t n);
/* xstrdup - strdup or die; xstrdup(NULL) returns NULL */
char *xstrdup(const char *s);
/* xstrndup - copy at most n bytes plus a NUL; caller frees */
char *xstrndup(const char *s, size_t n);
/* xasprintf - formatted string or die; caller frees */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* write_all - write data[0..len) to fd, retrying short writes and EINTR; false with errno */
bool write_all(int fd, const void *data, size_t len);
/* random_bytes - n bytes from the kernel's CSPRNG (getrandom); dies if there are none */
void random_bytes(void *p, size_t n);
/* xfree - free(p) and return NULL, so callers write p = xfree(p) */
void *xfree(void *p);

/* str_trim - strip ASCII white space at both ends, in place; returns s */
char *str_trim(char *s);
/* str_lower - ASCII lower-case in place; returns s */
char *str_lower(char *s);
/* str_eq_nocase - ASCII case-insensitive equality, NULL-safe */
bool str_eq_nocase(const char *a, const char *b);
/* strlcpy_ok - copy into dst[size]; false (dst still terminated) if truncated */
bool strlcpy_ok(char *dst, const char *src, size_t size);
/* snprintf_ok - snprintf that returns false on error or truncation */
bool snprintf_ok(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* snprintf_cut - a message into dst[size]; one that does not fit ends in "..." */
void snprintf_cut(char *dst, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* vsnprintf_cut - snprintf_cut with a va_list */
void vsnprintf_cut(char *dst, size_t size, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
