/*
 * crc32.h - CRC-32 (IEEE 802.3, the one zlib and gzip use), as the
 * ledger's spool and journal records carry it.
 */
#ifndef POSTMETER_CRC32_H
#define POSTMETER_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* crc32_update - the CRC of p[0..n) continuing from crc (0 to start) */
uint32_t crc32_update(uint32_t crc, const void *p, size_t n);

#endif
