/*
 * crc32.c - CRC-32 (IEEE 802.3, reflected polynomial 0xedb88320, as
 * zlib), eight bytes per step ("slicing-by-8"): every spooled or
 * journaled ledger record is summed when written and when read, in the
 * tracker once per pixel request under a flood, where the four-bit table
 * this replaces cost more than the rest of the encoding. The values are
 * the same as before, so records written by older versions still check.
 *
 * The eight tables (8 KiB) are computed once, on first use.
 */
#include <pthread.h>
#include <string.h>

#include "crc32.h"

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* make_tables - table[0] is the byte-wise table; table[k] advances k more zero bytes */
static void make_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t c = b;

        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
        table[0][b] = c;
    }
    for (uint32_t b = 0; b < 256; b++)
        for (int k = 1; k < 8; k++)
            table[k][b] = (table[k - 1][b] >> 8) ^ table[0][table[k - 1][b] & 0xff];
}

/* crc32_update - the CRC of p[0..n) continuing from crc (0 to start) */
uint32_t crc32_update(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;

    pthread_once(&table_once, make_tables);
    crc = ~crc;
    for (; n >= 8; n -= 8, b += 8) {
        uint32_t lo, hi;

        memcpy(&lo, b, 4); /* the eight bytes as two words: little-endian order */
        memcpy(&hi, b + 4, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        lo ^= crc;
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
              table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
#else
        (void)lo, (void)hi;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 8) ^ table[0][(crc ^ b[k]) & 0xff];
#endif
    }
    for (; n > 0; n--, b++)
        crc = (crc >> 8) ^ table[0][(crc ^ *b) & 0xff];
    return ~crc;
}
