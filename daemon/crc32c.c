/*
 * crc32c.c: CRC32C (Castagnoli), slicing-by-8 in software and the SSE4.2
 * crc32 instruction on x86-64 when the CPU has it (checked at run time).
 * The instruction has a latency of three cycles and a throughput of one, so
 * the hardware path runs three independent chains over three adjacent
 * blocks and joins them with "shift by a block of zeros" tables (the
 * technique of Intel's and Mark Adler's crc32c).  The tables are built once,
 * on first use.  crc32c_combine() joins two CRCs as zlib's crc32_combine()
 * does: multiplication by x^(8 len) modulo the polynomial, from a table of
 * x^(2^k).
 */
#include "config.h"

#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#define CRC32C_POLY	0x82f63b78u	/* reflected 0x1edc6f41 */
/* The hardware path's block sizes: three blocks per step, multiples of 8. */
#define CRC32C_LONG	8192
#define CRC32C_SHORT	256

static uint32_t crc32c_table[8][256];
/* The raw CRC register moved over CRC32C_LONG (SHORT) zero bytes. */
static uint32_t crc32c_long[4][256];
static uint32_t crc32c_short[4][256];
static uint32_t (*crc32c_impl)(uint32_t, const uint8_t *, size_t);
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;
/* x^(2^k) modulo the polynomial, reflected. */
static uint32_t crc32c_x2k[32];

/* The unreflected-in, unreflected-out core: no pre/post inversion. */
static uint32_t
crc32c_sw_raw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t w;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
		len--;
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		w = __builtin_bswap64(w);
#endif
		w ^= crc;
		crc = crc32c_table[7][w & 0xff] ^
		    crc32c_table[6][(w >> 8) & 0xff] ^
		    crc32c_table[5][(w >> 16) & 0xff] ^
		    crc32c_table[4][(w >> 24) & 0xff] ^
		    crc32c_table[3][(w >> 32) & 0xff] ^
		    crc32c_table[2][(w >> 40) & 0xff] ^
		    crc32c_table[1][(w >> 48) & 0xff] ^
		    crc32c_table[0][w >> 56];
	}
	while (len-- > 0)
		crc = crc32c_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* GF(2) 32x32 matrices, column n the image of bit n (zlib's gf2_matrix). */
static uint32_t
crc32c_gf2_times(const uint32_t *mat, uint32_t vec)
{
	uint32_t sum = 0;

	for (; vec != 0; vec >>= 1, mat++) {
		if (vec & 1)
			sum ^= *mat;
	}
	return sum;
}

/* @out = @a after @b (the two commute: both are powers of one operator). */
static void
crc32c_gf2_mul(uint32_t *out, const uint32_t *a, const uint32_t *b)
{
	uint32_t tmp[32];
	int n;

	for (n = 0; n < 32; n++)
		tmp[n] = crc32c_gf2_times(a, b[n]);
	memcpy(out, tmp, sizeof tmp);
}

/* The tables that move a raw register over @len zero bytes. */
static void
crc32c_zeros_init(uint32_t zeros[4][256], size_t len)
{
	uint32_t op[32], res[32];
	int n, k, v;

	op[0] = CRC32C_POLY;		/* one zero bit */
	for (n = 1; n < 32; n++)
		op[n] = 1u << (n - 1);
	for (n = 0; n < 3; n++)		/* one zero byte */
		crc32c_gf2_mul(op, op, op);
	for (n = 0; n < 32; n++)
		res[n] = 1u << n;
	for (; len > 0; len >>= 1) {
		if (len & 1)
			crc32c_gf2_mul(res, op, res);
		crc32c_gf2_mul(op, op, op);
	}
	for (k = 0; k < 4; k++) {
		for (v = 0; v < 256; v++)
			zeros[k][v] = crc32c_gf2_times(res, (uint32_t)v << (8 * k));
	}
}

static inline uint32_t
crc32c_shift(uint32_t zeros[4][256], uint32_t crc)
{
	return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^
	    zeros[2][(crc >> 16) & 0xff] ^ zeros[3][crc >> 24];
}

#if defined(__x86_64__)
/*
 * Three chains over the blocks [p, p + n), [p + n, p + 2n), [p + 2n, p + 3n)
 * while at least 3n bytes are left, joined through @zeros (n zero bytes).
 */
__attribute__((target("sse4.2")))
static inline uint32_t
crc32c_hw_3way(uint32_t crc, const uint8_t **pp, size_t *len, size_t n,
    uint32_t zeros[4][256])
{
	const uint8_t *p = *pp, *end;
	uint64_t c0 = crc, c1, c2, w0, w1, w2;

	for (; *len >= 3 * n; *len -= 3 * n, p += 2 * n) {
		c1 = c2 = 0;
		for (end = p + n; p < end; p += 8) {
			memcpy(&w0, p, 8);
			memcpy(&w1, p + n, 8);
			memcpy(&w2, p + 2 * n, 8);
			c0 = __builtin_ia32_crc32di(c0, w0);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
		}
		c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c1;
		c0 = crc32c_shift(zeros, (uint32_t)c0) ^ (uint32_t)c2;
	}
	*pp = p;
	return (uint32_t)c0;
}

__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw_raw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c, w;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		crc = __builtin_ia32_crc32qi(crc, *p++);
		len--;
	}
	crc = crc32c_hw_3way(crc, &p, &len, CRC32C_LONG, crc32c_long);
	crc = crc32c_hw_3way(crc, &p, &len, CRC32C_SHORT, crc32c_short);
	for (c = crc; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
	}
	for (crc = (uint32_t)c; len > 0; len--)
		crc = __builtin_ia32_crc32qi(crc, *p++);
	return crc;
}
#endif

/* a(x) b(x) modulo the polynomial, both reflected (bit 31 is x^0). */
static uint32_t
crc32c_mulmod(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (; m != 0; m >>= 1) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		b = (b & 1) ? (b >> 1) ^ CRC32C_POLY : b >> 1;
	}
	return p;
}

static void
crc32c_init(void)
{
	uint32_t c;
	int i, j, k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
		crc32c_table[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		c = crc32c_table[0][i];
		for (k = 1; k < 8; k++) {
			c = crc32c_table[0][c & 0xff] ^ (c >> 8);
			crc32c_table[k][i] = c;
		}
	}
	crc32c_x2k[0] = 1u << 30;	/* x^1 */
	for (i = 1; i < 32; i++)
		crc32c_x2k[i] = crc32c_mulmod(crc32c_x2k[i - 1],
		    crc32c_x2k[i - 1]);
	crc32c_zeros_init(crc32c_long, CRC32C_LONG);
	crc32c_zeros_init(crc32c_short, CRC32C_SHORT);
	crc32c_impl = crc32c_sw_raw;
#if defined(__x86_64__)
	__builtin_cpu_init();
	if (__builtin_cpu_supports("sse4.2"))
		crc32c_impl = crc32c_hw_raw;
#endif
}

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	if (len == 0)
		return crc;
	return ~crc32c_impl(~crc, buf, len);
}

uint32_t
crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	pthread_once(&crc32c_once, crc32c_init);
	if (len == 0)
		return crc;
	return ~crc32c_sw_raw(~crc, buf, len);
}

uint32_t
crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
	uint32_t xn = 1u << 31;		/* x^0 */
	unsigned int k = 3;		/* x^(8 len2): len2 << 3 */

	pthread_once(&crc32c_once, crc32c_init);
	for (; len2 != 0; len2 >>= 1, k++) {
		if (len2 & 1)
			xn = crc32c_mulmod(crc32c_x2k[k & 31], xn);
	}
	return crc32c_mulmod(xn, crc1) ^ crc2;
}

bool
crc32c_hw(void)
{
	pthread_once(&crc32c_once, crc32c_init);
	return crc32c_impl != crc32c_sw_raw;
}
