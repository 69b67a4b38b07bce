/*
 * crc32c.h: CRC32C (Castagnoli, reflected polynomial 0x82f63b78), the
 * checksum of the migration channel's frames and of device stream digests.
 * Pure: no I/O, no state visible to callers.
 */
#ifndef VFIOMIG_CRC32C_H
#define VFIOMIG_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Chains like zlib's crc32(): start with 0, pass the previous result to go
 * on; crc32c(0, "123456789", 9) == 0xe3069283.  @buf may be NULL if @len is
 * 0.  Uses the SSE4.2 instruction when the CPU has it, slicing-by-8 tables
 * otherwise.  Thread-safe.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * The CRC of A followed by B from @crc1 = crc32c(0, A, ...) and @crc2 =
 * crc32c(0, B, @len2) without reading either: about a microsecond, so
 * that one pass over the bytes can feed two chained CRCs.
 */
uint32_t crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

/* The table-driven version alone (tests compare the two). */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* True if crc32c() uses the CPU's instruction. */
bool crc32c_hw(void);

#endif
