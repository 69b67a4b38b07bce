/*
 * sim-content.c: the simulator's content, pure (no fd, no lock, no device):
 * a 64-bit mix and hash, a page's bytes as a function of (seed, index,
 * version) and its CRC32C without the bytes, and the digest of a whole
 * state.  The save stream writes these pages, the loader checks them
 * (sim-stream.c); the digest is the end record's and dev_sim_digest()'s.
 *
 * Cost: the simulator shares the CPU with the daemon it feeds.  A page is a
 * cheap fill (one XOR per 8-byte word, in vector registers) whose CRC32C
 * follows from its seed without reading it (sim_page_crc()).
 *
 * Not here: where the versions live (the shared state, sim-internal.h),
 * when pages change (sim-fabric.c).
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "sim-internal.h"

#define SIM_FILL_STEP		0x9e3779b97f4a7c15ull	/* odd */

uint64_t
sim_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static uint64_t
sim_hash(uint64_t h, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w;

	while (len >= 8) {
		memcpy(&w, p, 8);
		h = sim_mix(h ^ w) + 0x9e3779b97f4a7c15ull;
		p += 8;
		len -= 8;
	}
	w = 0;
	memcpy(&w, p, len);
	return sim_mix(h ^ w ^ ((uint64_t)len << 56));
}

/*
 * Page content: word i of page @index at @version for @seed is
 * base ^ (i * SIM_FILL_STEP), base a hash of the three: one XOR per word,
 * two 64-bit lanes per vector, two vectors per step (the compiler's generic
 * vectors: SSE2 on x86-64, plain code elsewhere).
 *
 * A page is thus a fixed pattern XOR its base repeated, and CRC32C is
 * affine over GF(2): crc32c(0, X ^ Y) = crc32c(0, X) ^ crc32c(0, Y) ^
 * crc32c(0, zeros).  So a page's CRC32C is the pattern's XOR a linear
 * function of base, eight table lookups (sim_crc_tab, built once from
 * crc32c() itself), and neither end has to run a CRC over the page bytes.
 */
typedef uint64_t sim_v2 __attribute__((vector_size(16)));

static uint32_t sim_crc_tab[8][256];	/* byte j of base = v: its share */
static uint32_t sim_crc_pattern;	/* crc32c(0, the page of base 0) */
static pthread_once_t sim_crc_once = PTHREAD_ONCE_INIT;

uint64_t
sim_page_base(uint64_t seed, uint64_t index, uint32_t version)
{
	return sim_mix(seed ^ sim_mix((index << 32) | version));
}

/* Lanes of words 0-1 (*a), 2-3 (*b) and the step to words 4-7 (*inc). */
static void
sim_page_lanes(uint64_t step, sim_v2 *a, sim_v2 *b, sim_v2 *inc)
{
	*a = (sim_v2){ 0, step };
	*b = *a + 2 * step;
	*inc = (sim_v2){ 4 * step, 4 * step };
}

/* Word i = @base ^ (i * @step). */
static void
sim_page_make(uint64_t base, uint64_t step, void *buf)
{
	uint8_t *p = buf;
	sim_v2 a, b, inc, x, y, bv = { base, base };
	size_t i;

	sim_page_lanes(step, &a, &b, &inc);
	for (i = 0; i < SIM_PAGE_SIZE; i += 32, a += inc, b += inc) {
		x = a ^ bv;
		y = b ^ bv;
		memcpy(p + i, &x, sizeof x);
		memcpy(p + i + 16, &y, sizeof y);
	}
}

/* The bytes of the page of @base. */
void
sim_page_fill(uint64_t base, void *buf)
{
	sim_page_make(base, SIM_FILL_STEP, buf);
}

/* Whether @buf holds exactly the page of @base. */
bool
sim_page_check(uint64_t base, const void *buf)
{
	const uint8_t *p = buf;
	sim_v2 a, b, inc, x, y, bv = { base, base }, diff = { 0, 0 };
	size_t i;

	sim_page_lanes(SIM_FILL_STEP, &a, &b, &inc);
	for (i = 0; i < SIM_PAGE_SIZE; i += 32, a += inc, b += inc) {
		memcpy(&x, p + i, sizeof x);
		memcpy(&y, p + i + 16, sizeof y);
		diff |= (x ^ a ^ bv) | (y ^ b ^ bv);
	}
	return (diff[0] | diff[1]) == 0;
}

static void
sim_crc_init(void)
{
	uint8_t *page = xcalloc(1, SIM_PAGE_SIZE);
	uint32_t zeros, bit[64];
	int b, j, v;

	zeros = crc32c(0, page, SIM_PAGE_SIZE);
	for (b = 0; b < 64; b++) {
		sim_page_make(1ull << b, 0, page);
		bit[b] = crc32c(0, page, SIM_PAGE_SIZE) ^ zeros;
	}
	for (j = 0; j < 8; j++) {
		for (v = 0; v < 256; v++) {
			for (b = 0; b < 8; b++)
				if (v & (1 << b))
					sim_crc_tab[j][v] ^= bit[8 * j + b];
		}
	}
	sim_page_fill(0, page);
	sim_crc_pattern = crc32c(0, page, SIM_PAGE_SIZE);
	free(page);
}

void
sim_content_init(void)
{
	pthread_once(&sim_crc_once, sim_crc_init);
}

/* crc32c(0, the page of @base), without the page. */
uint32_t
sim_page_crc(uint64_t base)
{
	uint32_t c = sim_crc_pattern;
	int j;

	for (j = 0; j < 8; j++, base >>= 8)
		c ^= sim_crc_tab[j][base & 0xff];
	return c;
}

/*
 * The digest of a state: its seed, page count, page versions and BAR.  The
 * versions enter as the XOR of one mixed term per page (index and version),
 * so that a changed page changes the sum in O(1) and the digest never reads
 * every page: the control socket asks for it at any time.
 */
uint64_t
sim_vterm(uint64_t i, uint32_t v)
{
	return sim_mix((i << 32 | v) ^ 0x243f6a8885a308d3ull);
}

/* sim_vacc() of @npages versions 0, or of @versions. */
uint64_t
sim_vacc_zero(uint64_t npages)
{
	uint64_t acc = 0, i;

	for (i = 0; i < npages; i++)
		acc ^= sim_vterm(i, 0);
	return acc;
}

uint64_t
sim_vacc(const uint32_t *versions, uint64_t npages)
{
	uint64_t acc = 0, i;

	for (i = 0; i < npages; i++)
		acc ^= sim_vterm(i, versions[i]);
	return acc;
}

uint64_t
sim_digest_of(uint64_t seed, uint64_t npages, uint64_t vacc,
    const uint8_t *bar)
{
	uint64_t h;

	h = sim_mix(seed ^ 0x5a5a5a5a5a5a5a5aull);
	h = sim_hash(h, &npages, sizeof npages);
	h = sim_hash(h, &vacc, sizeof vacc);
	return sim_hash(h, bar, SIM_BAR_SIZE);
}

uint64_t
sim_name_seed(const char *name)
{
	uint64_t h = sim_hash(0x6a09e667f3bcc909ull, name, strlen(name));

	return h != 0 ? h : 1;
}
