/*
 * reader.h - cutting one fuzz input into the pieces a target needs:
 * bytes, numbers and strings, taken from the front.
 *
 * A reader never fails: past the end it yields 0 and empty strings, so
 * every input, however short, drives the target somewhere. Strings end
 * at a NUL byte (or the end of the input), so a target that takes C
 * strings sees every byte value but NUL. Never reads past the input.
 */
#ifndef POSTMETER_FUZZ_READER_H
#define POSTMETER_FUZZ_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct reader {
    const uint8_t *p; /* unread input */
    size_t len;
};

/* reader_init - a reader over data[0..size) (not copied: must outlive it) */
struct reader reader_init(const uint8_t *data, size_t size);
/* reader_done - true when the input is used up */
bool reader_done(const struct reader *r);
/* reader_byte - the next byte, 0 past the end */
unsigned reader_byte(struct reader *r);
/* reader_u16 - the next two bytes, big-endian, 0 past the end */
unsigned reader_u16(struct reader *r);
/* reader_str - the bytes up to the next NUL (consumed) or the end; caller frees */
char *reader_str(struct reader *r);
/* reader_mem - the next n bytes (fewer at the end) as a copy with a NUL after; caller frees */
char *reader_mem(struct reader *r, size_t n, size_t *got);

/*
 * fuzz_cstr - data[0..size) up to its first NUL, as a C string in a
 * buffer of exactly its length + 1 (so ASan sees any read past the NUL);
 * caller frees
 */
char *fuzz_cstr(const uint8_t *data, size_t size);
/* fuzz_check - abort with the failed property when cond is false (a finding) */
#define fuzz_check(cond) ((cond) ? (void)0 : fuzz_fail(__FILE__, __LINE__, #cond))
/* fuzz_fail - print "file:line: property failed: what" and abort */
void fuzz_fail(const char *file, int line, const char *what) __attribute__((noreturn));

#endif
