/*
 * test_frame.c: the migration channel's wire format (frame.c, crc32c.c):
 * CRC32C against published vectors, every frame type through encode and
 * decode, every kind of corruption refused with its errno and message, the
 * streaming reader against chunking, truncation and garbage, the reader's
 * direction and routing checks, the handshake checks, DEV_END and digests.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "frame.h"
#include "testrng.h"

#define STREAM_MAX	16

static void
rng_fill(void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = rng_next() >> 56;
}

/* The error @rc/@e is -@code and its message holds @sub. */
static void
expect_err(int rc, const struct err *e, int code, const char *sub)
{
	if (rc != -code || strstr(e->msg, sub) == NULL)
		print_error("rc %d (want %d), message \"%s\" (want \"%s\")\n",
		    rc, -code, e->msg, sub);
	assert_int_equal(rc, -code);
	assert_int_equal(e->code, code);
	assert_non_null(strstr(e->msg, sub));
}

/* Writes a whole frame into @out; returns its size. */
static size_t
build(uint8_t *out, uint8_t type, uint8_t flags, uint16_t dev, uint64_t seq,
    const void *payload, uint32_t len)
{
	struct frame_hdr h = {
		.type = type, .flags = flags, .dev = dev, .len = len, .seq = seq
	};

	frame_encode(&h, payload, out);
	if (len > 0)
		memmove(out + FRAME_HDR_SIZE, payload, len);
	return FRAME_HDR_SIZE + len;
}

/* Decodes and checks a frame in a buffer, as a receiver does. */
static int
parse(const uint8_t *buf, uint32_t max, uint64_t seq, struct frame_hdr *h,
    struct err *e)
{
	int rc;

	err_clear(e);
	rc = frame_hdr_decode(buf, h, max, seq, e);
	if (rc == 0)
		rc = frame_check(h, buf, buf + FRAME_HDR_SIZE, seq, e);
	return rc;
}

/* A handshake with @n devices "d0".. of backend sim. */
struct hello_fixture {
	Vfiomig__Peer__Hello h;
	Vfiomig__Peer__Device devs[FRAME_MAX_DEVICES + 1];
	Vfiomig__Peer__Device *pdevs[FRAME_MAX_DEVICES + 1];
	char names[FRAME_MAX_DEVICES + 1][16];
	uint8_t token[32];
};

static struct hello_fixture *
hello_new(size_t n)
{
	struct hello_fixture *x = calloc(1, sizeof *x);
	Vfiomig__Peer__Hello init = VFIOMIG__PEER__HELLO__INIT;
	Vfiomig__Peer__Device dinit = VFIOMIG__PEER__DEVICE__INIT;
	size_t i;

	assert_non_null(x);
	x->h = init;
	x->h.version = FRAME_VERSION;
	x->h.set_name = "vm1";
	memset(x->token, 'T', sizeof x->token);
	x->h.token.data = x->token;
	x->h.token.len = sizeof x->token;
	x->h.job_id = 77;
	x->h.conn_index = 0;
	x->h.conn_count = 2;
	for (i = 0; i < n; i++) {
		x->devs[i] = dinit;
		snprintf(x->names[i], sizeof x->names[i], "d%u", (unsigned int)i);
		x->devs[i].name = x->names[i];
		x->devs[i].index = i;
		x->devs[i].flags = 0x7;
		x->devs[i].backend = "sim";
		x->devs[i].identity = "4096";
		x->pdevs[i] = &x->devs[i];
	}
	x->h.n_devices = n;
	x->h.devices = x->pdevs;
	return x;
}

/* The test stream: every type, payloads of several sizes. */
struct expect {
	uint8_t type, flags;
	uint16_t dev;
	uint8_t *payload;
	uint32_t len;
};

struct stream {
	uint8_t *buf;
	size_t len;
	struct expect fr[STREAM_MAX];
	size_t end[STREAM_MAX];	/* offset just past each frame */
	int n;
	uint8_t data[3][5000];
	uint8_t hello[1024], reply[1024], abort[256], resumed[32];
	uint8_t dev_end[2][16];
};

static void
stream_add(struct stream *s, uint8_t type, uint8_t flags, uint16_t dev,
    uint8_t *payload, uint32_t len)
{
	struct expect *x = &s->fr[s->n];

	assert_true(s->n < STREAM_MAX);
	x->type = type;
	x->flags = flags;
	x->dev = dev;
	x->payload = payload;
	x->len = len;
	s->buf = realloc(s->buf, s->len + FRAME_HDR_SIZE + len);
	assert_non_null(s->buf);
	s->len += build(s->buf + s->len, type, flags, dev, s->n, payload, len);
	s->end[s->n++] = s->len;
}

static size_t
pack_reply(uint8_t *buf, size_t cap, Vfiomig__Peer__Device **devs, size_t n)
{
	Vfiomig__Peer__HelloReply r = VFIOMIG__PEER__HELLO_REPLY__INIT;
	struct err e;
	size_t len;

	r.accepted = 1;
	r.n_devices = n;
	r.devices = devs;
	assert_int_equal(frame_pack_msg(&r.base, buf, cap, &len, &e), 0);
	return len;
}

static struct stream *
stream_new(void)
{
	struct stream *s = calloc(1, sizeof *s);
	struct hello_fixture *x = hello_new(2);
	struct err e;
	size_t hl, rl, al, ml;

	assert_non_null(s);
	rng_seed(7);
	rng_fill(s->data, sizeof s->data);
	assert_int_equal(frame_pack_msg(&x->h.base, s->hello, sizeof s->hello,
	    &hl, &e), 0);
	rl = pack_reply(s->reply, sizeof s->reply, x->pdevs, 2);
	assert_int_equal(frame_pack_abort(EIO, "d1: load failed", s->abort,
	    sizeof s->abort, &al, &e), 0);
	assert_int_equal(frame_pack_resumed(4711, false, s->resumed,
	    sizeof s->resumed, &ml, &e), 0);
	frame_dev_end_pack(s->dev_end[0], 5001, 1);
	frame_dev_end_pack(s->dev_end[1], 1007, 2);
	stream_add(s, FRAME_HELLO, 0, FRAME_DEV_ALL, s->hello, hl);
	stream_add(s, FRAME_HELLO_REPLY, 0, FRAME_DEV_ALL, s->reply, rl);
	stream_add(s, FRAME_DATA, 0, 0, s->data[0], 1);
	stream_add(s, FRAME_DATA, 0, 1, s->data[1], 1000);
	stream_add(s, FRAME_DEV_INITIAL_DONE, 0, 0, NULL, 0);
	stream_add(s, FRAME_DEV_INITIAL_DONE, 0, 1, NULL, 0);
	stream_add(s, FRAME_INIT_ACK, 0, FRAME_DEV_ALL, NULL, 0);
	stream_add(s, FRAME_SWITCHOVER, 0, FRAME_DEV_ALL, NULL, 0);
	stream_add(s, FRAME_DATA, FRAME_F_STOP_COPY, 0, s->data[2], 5000);
	stream_add(s, FRAME_DATA, FRAME_F_STOP_COPY, 1, s->data[1] + 3, 7);
	stream_add(s, FRAME_DEV_END, 0, 0, s->dev_end[0], 16);
	stream_add(s, FRAME_DEV_END, 0, 1, s->dev_end[1], 16);
	stream_add(s, FRAME_COMMITTED, 0, FRAME_DEV_ALL, NULL, 0);
	stream_add(s, FRAME_RESUMED, 0, FRAME_DEV_ALL, s->resumed, ml);
	stream_add(s, FRAME_ABORT, 0, FRAME_DEV_ALL, s->abort, al);
	free(x);
	return s;
}

static void
stream_free(struct stream *s)
{
	free(s->buf);
	free(s);
}

static void
expect_frame(const struct stream *s, int k, const struct frame *f)
{
	const struct expect *x = &s->fr[k];

	assert_true(k < s->n);
	assert_int_equal(f->h.type, x->type);
	assert_int_equal(f->h.flags, x->flags);
	assert_int_equal(f->h.dev, x->dev);
	assert_int_equal(f->h.seq, k);
	assert_int_equal(f->h.len, x->len);
	if (x->len > 0)
		assert_memory_equal(f->payload, x->payload, x->len);
	else
		assert_null(f->payload);
}

/*
 * Feeds @len bytes in chunks of @chunk to @r; checks each frame against
 * the stream from frame *k on.  Returns the last feed's result (<0: error).
 */
static int
feed_chunks(struct frame_reader *r, const struct stream *s, const uint8_t *p,
    size_t len, size_t chunk, int *k, struct err *e)
{
	struct frame f;
	size_t off = 0, c, used;
	int rc = 0;

	while (off < len) {
		c = MIN(chunk, len - off);
		while (c > 0) {
			rc = frame_reader_feed(r, p + off, c, &used, &f, e);
			if (rc < 0)
				return rc;
			assert_true(used <= c);
			if (rc == 1 && s != NULL)
				expect_frame(s, (*k)++, &f);
			else if (rc == 1)
				(*k)++;
			off += used;
			c -= used;
		}
	}
	return rc;
}

/* CRC32C */

static void
test_crc32c_vectors(void **state)
{
	uint8_t buf[32];
	int i;

	/* The check value of the catalogue, and RFC 3720 B.4. */
	assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283);
	assert_int_equal(crc32c_sw(0, "123456789", 9), 0xe3069283);
	memset(buf, 0, sizeof buf);
	assert_int_equal(crc32c(0, buf, 32), 0x8a9136aa);
	memset(buf, 0xff, sizeof buf);
	assert_int_equal(crc32c(0, buf, 32), 0x62a8ab43);
	for (i = 0; i < 32; i++)
		buf[i] = i;
	assert_int_equal(crc32c(0, buf, 32), 0x46dd794e);
	assert_int_equal(crc32c_sw(0, buf, 32), 0x46dd794e);
	/* Chains like zlib's crc32. */
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
	assert_int_equal(crc32c(0, NULL, 0), 0);
	print_message("crc32c: %s\n", crc32c_hw() ? "sse4.2" : "software");
}

/* combine(crc(A), crc(B), |B|) == crc(AB): every split of short inputs, random
   ones of long inputs, and lengths past 32 bits. */
static void
test_crc32c_combine(void **state)
{
	static uint8_t buf[3 << 20];
	size_t cut, len;
	uint32_t a, b, whole;
	int i;

	(void)state;
	rng_seed(7);
	rng_fill(buf, sizeof buf);
	for (len = 0; len <= 64; len++) {
		whole = crc32c(0, buf, len);
		for (cut = 0; cut <= len; cut++) {
			a = crc32c(0, buf, cut);
			b = crc32c(0, buf + cut, len - cut);
			assert_int_equal(crc32c_combine(a, b, len - cut), whole);
		}
	}
	for (i = 0; i < 200; i++) {
		len = rng_next() % sizeof buf;
		cut = rng_next() % (len + 1);
		a = crc32c(0, buf, cut);
		b = crc32c(0, buf + cut, len - cut);
		assert_int_equal(crc32c_combine(a, b, len - cut),
		    crc32c(0, buf, len));
	}
	/* "x" and 4 MiB of zeros, chained and combined. */
	memset(buf, 0, 1u << 20);
	a = crc32c(0, "x", 1);
	for (b = 0, whole = a, i = 0; i < 4; i++) {
		b = crc32c(b, buf, 1u << 20);
		whole = crc32c(whole, buf, 1u << 20);
	}
	assert_int_equal(crc32c_combine(a, b, 4u << 20), whole);
	/* A length past 32 bits differs from its low 32 bits. */
	assert_int_not_equal(crc32c_combine(a, 0, (1ull << 32) + 5),
	    crc32c_combine(a, 0, 5));
	/* A wrong length is caught (the test can fail). */
	assert_int_not_equal(crc32c_combine(crc32c(0, buf, 7),
	    crc32c(0, buf + 7, 9), 8), crc32c(0, buf, 16));
}

static void
test_crc32c_hw_equals_sw(void **state)
{
	uint8_t buf[4096 + 16];
	size_t off, len;
	uint32_t seed;

	rng_seed(1);
	rng_fill(buf, sizeof buf);
	for (off = 0; off < 16; off++) {
		for (len = 0; len <= 300; len++) {
			seed = rng_next();
			assert_int_equal(crc32c(seed, buf + off, len),
			    crc32c_sw(seed, buf + off, len));
		}
		assert_int_equal(crc32c(0, buf + off, 4096),
		    crc32c_sw(0, buf + off, 4096));
	}
}

/*
 * The long path: three chains of 8 KiB blocks (3 x 8192 bytes at a time),
 * then of 256-byte blocks, then words and bytes; every boundary between
 * them, at every alignment, with a seed.  The reference is the table-driven
 * software CRC the vectors above check.
 */
static void
test_crc32c_hw_equals_sw_long(void **state)
{
	static const size_t lens[] = { 24575, 24576, 24577, 24576 + 767,
	    24576 + 768, 24576 + 775, 49151, 49152, 49152 + 768 + 7,
	    73728, 65536, 100000 };
	size_t off, i, blen = 100000 + 16;
	uint8_t *buf = malloc(blen);
	uint32_t seed;

	assert_non_null(buf);
	rng_seed(7);
	rng_fill(buf, blen);
	for (off = 0; off < 8; off++) {
		for (i = 0; i < ARRAY_SIZE(lens); i++) {
			seed = rng_next();
			assert_int_equal(crc32c(seed, buf + off, lens[i]),
			    crc32c_sw(seed, buf + off, lens[i]));
		}
	}
	/* A change anywhere in a long buffer changes the CRC. */
	seed = crc32c(0, buf, 73728);
	buf[12345] ^= 0x10;
	assert_int_not_equal(crc32c(0, buf, 73728), seed);
	free(buf);
}

/* Encode and decode */

static void
test_roundtrip_every_type(void **state)
{
	struct stream *s = stream_new();
	struct frame_hdr h;
	struct frame f;
	struct err e;
	int k, types = 0;

	for (k = 0; k < s->n; k++) {
		const uint8_t *p = s->buf + (k ? s->end[k - 1] : 0);

		assert_int_equal(parse(p, FRAME_PAYLOAD_MAX, k, &h, &e), 0);
		f.h = h;
		f.payload = s->fr[k].len ? p + FRAME_HDR_SIZE : NULL;
		expect_frame(s, k, &f);
		types |= 1 << h.type;
		assert_string_not_equal(frame_type_name(h.type), "?");
	}
	/* Every type 1..FRAME_TYPE_MAX was there. */
	assert_int_equal(types, ((1 << (FRAME_TYPE_MAX + 1)) - 1) & ~1);
	assert_string_equal(frame_type_name(0), "?");
	assert_string_equal(frame_type_name(FRAME_TYPE_MAX + 1), "?");
	stream_free(s);
}

static void
test_header_layout(void **state)
{
	struct frame_hdr h = {
		.type = FRAME_DATA, .flags = FRAME_F_STOP_COPY, .dev = 0x0102,
		.len = 3, .seq = 0x0807060504030201ull
	};
	uint8_t out[FRAME_HDR_SIZE], zero[4] = { 0 };

	frame_encode(&h, "abc", out);
	assert_memory_equal(out, "VMIG", 4);
	assert_int_equal(out[4], FRAME_VERSION);
	assert_int_equal(out[5], FRAME_DATA);
	assert_int_equal(out[6], FRAME_F_STOP_COPY);
	assert_int_equal(out[8], 0x02);
	assert_int_equal(out[9], 0x01);
	assert_int_equal(out[12], 3);
	assert_int_equal(out[16], 0x01);
	assert_int_equal(out[23], 0x08);
	assert_int_equal(out[24] | out[25] << 8 | out[26] << 16 |
	    (uint32_t)out[27] << 24, h.crc);
	assert_memory_equal(out + 28, zero, 4);
	assert_int_equal(h.crc, frame_crc(out, "abc", 3));
}

/* Corruption, one kind at a time */

static void
test_bad_magic_version_type(void **state)
{
	uint8_t buf[64];
	struct frame_hdr h;
	struct err e;

	build(buf, FRAME_INIT_ACK, 0, FRAME_DEV_ALL, 3, NULL, 0);
	buf[0] ^= 0x20;
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 3, &h, &e), &e, EPROTO,
	    "frame 3: bad magic 0x");
	build(buf, FRAME_INIT_ACK, 0, FRAME_DEV_ALL, 3, NULL, 0);
	buf[4] = 2;
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 3, &h, &e), &e,
	    EPROTONOSUPPORT, "frame 3: protocol version 2 not supported");
	build(buf, 0, 0, FRAME_DEV_ALL, 3, NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 3, &h, &e), &e, EPROTO,
	    "frame 3: unknown frame type 0");
	build(buf, FRAME_TYPE_MAX + 1, 0, FRAME_DEV_ALL, 3, NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 3, &h, &e), &e, EPROTO,
	    "unknown frame type 11");
}

/* RESUMED (vmm.h): its figure both ways, and what a reader refuses. */
static void
test_resumed(void **state)
{
	uint8_t buf[64];
	uint64_t us;
	size_t len;
	bool late;
	struct err e;

	assert_int_equal(frame_pack_resumed(123456, true, buf, sizeof buf,
	    &len, &e), 0);
	assert_int_equal(frame_unpack_resumed(buf, len, &us, &late, &e), 0);
	assert_int_equal(us, 123456);
	assert_true(late);
	assert_int_equal(frame_pack_resumed(0, false, buf, sizeof buf, &len,
	    &e), 0);
	assert_int_equal(frame_unpack_resumed(buf, len, &us, &late, &e), 0);
	assert_int_equal(us, 0);
	assert_false(late);
	/* Past 2^32 us (over an hour): no VMM's deadline allows it. */
	assert_int_equal(frame_pack_resumed(1ull << 33, false, buf,
	    sizeof buf, &len, &e), 0);
	expect_err(frame_unpack_resumed(buf, len, &us, &late, &e), &e, EPROTO,
	    "RESUMED: resume_us out of range");
	/* Empty: the figure missing. */
	expect_err(frame_unpack_resumed(buf, 0, &us, &late, &e), &e, EPROTO,
	    "RESUMED: resume_us missing");
	/* Not a message at all. */
	memset(buf, 0xff, 8);
	expect_err(frame_unpack_resumed(buf, 8, &us, &late, &e), &e, EBADMSG,
	    "does not parse");
}

static void
test_bad_reserved(void **state)
{
	static const int offs[] = { 7, 10, 11, 28, 29, 30, 31 };
	uint8_t buf[64];
	struct frame_hdr h;
	struct err e;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		build(buf, FRAME_SWITCHOVER, 0, FRAME_DEV_ALL, 0, NULL, 0);
		buf[offs[i]] = 0x10;
		expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
		    "frame 0: reserved header bytes are not zero");
	}
}

static void
test_bad_length(void **state)
{
	uint8_t *buf = calloc(1, FRAME_HDR_SIZE + FRAME_PAYLOAD_MAX + 1);
	struct frame_hdr h;
	struct err e;

	assert_non_null(buf);
	build(buf, FRAME_DATA, 0, 0, 0, buf + FRAME_HDR_SIZE,
	    FRAME_PAYLOAD_MAX);
	assert_int_equal(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), 0);
	build(buf, FRAME_DATA, 0, 0, 0, buf + FRAME_HDR_SIZE,
	    FRAME_PAYLOAD_MAX + 1);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EMSGSIZE,
	    "frame 0: DATA payload of 1048577 bytes exceeds the limit of "
	    "1048576");
	/* The handshake limit holds whatever the reader's. */
	build(buf, FRAME_HELLO, 0, FRAME_DEV_ALL, 0, buf + FRAME_HDR_SIZE,
	    FRAME_CTL_MAX + 1);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EMSGSIZE,
	    "HELLO payload of 65537 bytes exceeds the limit of 65536");
	build(buf, FRAME_DEV_END, 0, 0, 0, buf + FRAME_HDR_SIZE, 15);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "DEV_END payload of 15 bytes (expected 16)");
	build(buf, FRAME_DATA, 0, 0, 0, NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "DATA payload of 0 bytes (expected at least 1)");
	build(buf, FRAME_COMMITTED, 0, FRAME_DEV_ALL, 0, buf, 4);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "COMMITTED payload of 4 bytes (expected 0)");
	free(buf);
}

static void
test_bad_flags_and_device(void **state)
{
	uint8_t buf[64];
	struct frame_hdr h;
	struct err e;

	build(buf, FRAME_SWITCHOVER, FRAME_F_STOP_COPY, FRAME_DEV_ALL, 0,
	    NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "SWITCHOVER with unknown flags 0x01");
	build(buf, FRAME_DATA, 0x02, 0, 0, "x", 1);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "DATA with unknown flags 0x02");
	build(buf, FRAME_INIT_ACK, 0, 3, 0, NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "INIT_ACK names device 3; it must be set-wide");
	build(buf, FRAME_DATA, 0, FRAME_DEV_ALL, 0, "x", 1);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "DATA for device 65535");
	build(buf, FRAME_DEV_INITIAL_DONE, 0, FRAME_MAX_DEVICES, 0, NULL, 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 0, &h, &e), &e, EPROTO,
	    "DEV_INITIAL_DONE for device 1024");
}

static void
test_bad_sequence(void **state)
{
	uint8_t buf[64];
	struct frame_hdr h;
	struct err e;

	build(buf, FRAME_DATA, 0, 2, 5, "abcd", 4);
	assert_int_equal(parse(buf, FRAME_PAYLOAD_MAX, 5, &h, &e), 0);
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 4, &h, &e), &e, EPROTO,
	    "frame 4: sequence number 5, expected 4");
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 6, &h, &e), &e, EPROTO,
	    "frame 6: sequence number 5, expected 6");
}

static void
test_bad_crc_message(void **state)
{
	uint8_t buf[128], want[128];
	struct frame_hdr h;
	struct err e;
	uint32_t good;

	build(buf, FRAME_DATA, 0, 1, 17, "some device state", 17);
	good = frame_crc(buf, buf + FRAME_HDR_SIZE, 17);
	buf[FRAME_HDR_SIZE + 5] ^= 0x04;
	snprintf((char *)want, sizeof want, "frame 17: bad CRC32C (got 0x%08x,"
	    " computed 0x%08x)", good, frame_crc(buf, buf + FRAME_HDR_SIZE, 17));
	assert_int_not_equal(good, frame_crc(buf, buf + FRAME_HDR_SIZE, 17));
	expect_err(parse(buf, FRAME_PAYLOAD_MAX, 17, &h, &e), &e, EBADMSG,
	    (char *)want);
	assert_string_equal(e.msg, (char *)want);
}

/* Every single-bit flip in header or payload: refused, no frame. */
static void
test_every_bit_flip(void **state)
{
	enum { PAY = 300, LIMIT = 4096 };
	size_t flen = FRAME_HDR_SIZE + PAY, total = flen + LIMIT + 64, bit;
	uint8_t *buf = calloc(1, total), *orig = calloc(1, flen);
	struct frame_reader r;
	struct err e;
	int rc, k;

	assert_non_null(buf);
	assert_non_null(orig);
	rng_seed(3);
	rng_fill(orig + FRAME_HDR_SIZE, PAY);
	build(orig, FRAME_DATA, FRAME_F_STOP_COPY, 5, 0, orig + FRAME_HDR_SIZE,
	    PAY);
	for (bit = 0; bit < flen * 8; bit++) {
		memset(buf, 0, total);
		memcpy(buf, orig, flen);
		buf[bit / 8] ^= 1 << (bit % 8);
		frame_reader_init(&r, FRAME_ROLE_ANY, LIMIT);
		k = 0;
		err_clear(&e);
		rc = feed_chunks(&r, NULL, buf, total, total, &k, &e);
		if (rc >= 0 || k != 0)
			print_error("bit %zu: rc %d, %d frames\n", bit, rc, k);
		assert_true(rc < 0);
		assert_int_equal(k, 0);
		assert_true(e.msg[0] != '\0');
		if (bit >= FRAME_HDR_SIZE * 8)
			assert_int_equal(rc, -EBADMSG);
		assert_true(frame_reader_mem(&r) <= LIMIT);
		frame_reader_free(&r);
	}
	free(buf);
	free(orig);
}

/* The streaming reader */

static void
test_reader_every_chunk_size(void **state)
{
	struct stream *s = stream_new();
	struct frame_reader r;
	struct err e;
	size_t chunk;
	int k;

	for (chunk = 1; chunk <= s->len; chunk++) {
		frame_reader_init(&r, FRAME_ROLE_ANY, FRAME_PAYLOAD_MAX);
		k = 0;
		assert_true(feed_chunks(&r, s, s->buf, s->len, chunk, &k,
		    &e) >= 0);
		assert_int_equal(k, s->n);
		frame_reader_free(&r);
	}
	stream_free(s);
}

/* want/put, as a caller reading a socket straight into the reader does. */
static void
test_reader_want_put(void **state)
{
	struct stream *s = stream_new();
	struct frame_reader r;
	struct frame f;
	struct err e;
	size_t off = 0, n;
	void *p;
	int rc, k = 0;

	frame_reader_init(&r, FRAME_ROLE_ANY, FRAME_PAYLOAD_MAX);
	while (off < s->len) {
		n = frame_reader_want(&r, &p);
		assert_true(n > 0);
		n = MIN(n, MIN(s->len - off, 1 + off % 97));
		memcpy(p, s->buf + off, n);
		off += n;
		rc = frame_reader_put(&r, n, &f, &e);
		assert_true(rc >= 0);
		if (rc == 1) {
			/* The reader never wants bytes past a frame's end. */
			assert_int_equal(off, s->end[k]);
			expect_frame(s, k++, &f);
		}
	}
	assert_int_equal(k, s->n);
	/* Putting more than wanted is a caller's bug: refused. */
	n = frame_reader_want(&r, &p);
	expect_err(frame_reader_put(&r, n + 1, &f, &e), &e, EINVAL,
	    "more than wanted");
	frame_reader_free(&r);
	stream_free(s);
}

/* A stream cut anywhere: the whole frames before the cut, no error. */
static void
test_reader_truncated(void **state)
{
	struct stream *s = stream_new();
	struct frame_reader r;
	struct err e;
	size_t cut;
	int k, whole;

	for (cut = 0; cut <= s->len; cut++) {
		frame_reader_init(&r, FRAME_ROLE_ANY, FRAME_PAYLOAD_MAX);
		k = 0;
		for (whole = 0; whole < s->n && s->end[whole] <= cut; whole++)
			;
		assert_int_equal(feed_chunks(&r, s, s->buf, cut, 4096, &k,
		    &e) >= 0, 1);
		assert_int_equal(k, whole);
		assert_int_equal(feed_chunks(&r, s, s->buf + cut,
		    s->len - cut, 4096, &k, &e) >= 0, 1);
		assert_int_equal(k, s->n);
		frame_reader_free(&r);
	}
	stream_free(s);
}

static void
test_reader_random_garbage(void **state)
{
	enum { LEN = 1 << 20 };
	uint8_t *buf = malloc(LEN);
	struct frame_reader r;
	struct err e;
	size_t off, c, used;
	struct frame f;
	int rc, k = 0, errors = 0;

	assert_non_null(buf);
	rng_seed(0x5eed);
	rng_fill(buf, LEN);
	frame_reader_init(&r, FRAME_ROLE_DST, FRAME_CTL_MAX);
	for (off = 0; off < LEN; off += c) {
		c = 1 + rng_next() % 8192;
		c = MIN(c, LEN - off);
		err_clear(&e);
		rc = frame_reader_feed(&r, buf + off, c, &used, &f, &e);
		if (rc == 1)
			k++;
		if (rc < 0)
			errors++;
		assert_true(frame_reader_mem(&r) <= FRAME_CTL_MAX);
	}
	assert_int_equal(k, 0);
	assert_true(errors > 0);
	/* The error is final, with a message, on every later call. */
	expect_err(frame_reader_feed(&r, buf, 100, &used, &f, &e), &e, EPROTO,
	    "frame 0: bad magic");
	frame_reader_free(&r);
	free(buf);
}

/* A valid header that claims the most, then garbage: one buffer, refused. */
static void
test_reader_garbage_payload(void **state)
{
	enum { LEN = 1 << 20 };
	uint8_t *buf = malloc(FRAME_HDR_SIZE + LEN);
	struct frame_reader r;
	struct err e;
	int k = 0;

	assert_non_null(buf);
	rng_seed(11);
	rng_fill(buf, FRAME_HDR_SIZE + LEN);
	build(buf, FRAME_DATA, 0, 0, 0, buf + FRAME_HDR_SIZE, LEN);
	buf[FRAME_HDR_SIZE + LEN / 2] ^= 1;
	frame_reader_init(&r, FRAME_ROLE_ANY, LEN);
	expect_err(feed_chunks(&r, NULL, buf, FRAME_HDR_SIZE + LEN, 65536, &k,
	    &e), &e, EBADMSG, "frame 0: bad CRC32C");
	assert_int_equal(k, 0);
	assert_true(frame_reader_mem(&r) <= LEN);
	frame_reader_free(&r);
	free(buf);
}

/* Direction, handshake first, connections */

static int
feed_one(struct frame_reader *r, uint8_t type, uint16_t dev, const void *p,
    uint32_t len, struct err *e)
{
	uint8_t buf[FRAME_HDR_SIZE + 1024];
	size_t n = build(buf, type, 0, dev, r->seq, p, len), used;
	struct frame f;
	int rc;

	err_clear(e);
	rc = frame_reader_feed(r, buf, n, &used, &f, e);
	if (rc == 1)
		assert_int_equal(f.h.type, type);
	return rc;
}

/* Frees what the reader held, then starts it anew. */
static void
reinit(struct frame_reader *r, enum frame_role role)
{
	frame_reader_free(r);
	frame_reader_init(r, role, FRAME_CTL_MAX);
}

static void
test_reader_route_destination(void **state)
{
	struct frame_reader r = { 0 };
	struct err e;

	reinit(&r, FRAME_ROLE_DST);
	expect_err(feed_one(&r, FRAME_DATA, 0, "x", 1, &e), &e, EPROTO,
	    "frame 0: DATA where HELLO must come first");
	reinit(&r, FRAME_ROLE_DST);
	assert_int_equal(feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e),
	    1);
	expect_err(feed_one(&r, FRAME_DATA, 1, "x", 1, &e), &e, EPROTO,
	    "frame 1: DATA before the handshake was accepted");

	reinit(&r, FRAME_ROLE_DST);
	assert_int_equal(feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e),
	    1);
	assert_int_equal(frame_reader_route(&r, 1, 2, 4, FRAME_PAYLOAD_MAX), 0);
	assert_int_equal(feed_one(&r, FRAME_DATA, 1, "x", 1, &e), 1);
	assert_int_equal(feed_one(&r, FRAME_DEV_END, 3, "0123456789abcdef",
	    16, &e), 1);
	assert_int_equal(feed_one(&r, FRAME_ABORT, FRAME_DEV_ALL, "a", 1, &e),
	    1);
	expect_err(feed_one(&r, FRAME_DATA, 2, "x", 1, &e), &e, EPROTO,
	    "frame 4: DATA for device 2, which connection 1 of 2 does not "
	    "carry (4 devices)");
	frame_reader_free(&r);

	reinit(&r, FRAME_ROLE_DST);
	feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e);
	assert_int_equal(frame_reader_route(&r, 1, 2, 4, FRAME_PAYLOAD_MAX), 0);
	expect_err(feed_one(&r, FRAME_SWITCHOVER, FRAME_DEV_ALL, NULL, 0, &e),
	    &e, EPROTO, "SWITCHOVER on connection 1 (control frames travel "
	    "on connection 0)");

	reinit(&r, FRAME_ROLE_DST);
	feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e);
	assert_int_equal(frame_reader_route(&r, 0, 1, 1, FRAME_PAYLOAD_MAX), 0);
	expect_err(feed_one(&r, FRAME_INIT_ACK, FRAME_DEV_ALL, NULL, 0, &e),
	    &e, EPROTO, "frame 1: INIT_ACK may not come from the source");
	reinit(&r, FRAME_ROLE_DST);
	feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e);
	assert_int_equal(frame_reader_route(&r, 0, 1, 1, FRAME_PAYLOAD_MAX), 0);
	expect_err(feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e), &e,
	    EPROTO, "frame 1: a second HELLO");
	assert_int_equal(frame_reader_route(&r, 2, 2, 1, FRAME_PAYLOAD_MAX),
	    -EINVAL);
	assert_int_equal(frame_reader_route(&r, 0, 1, 0, FRAME_PAYLOAD_MAX),
	    -EINVAL);
	frame_reader_free(&r);
}

static void
test_reader_route_source(void **state)
{
	struct frame_reader r = { 0 };
	struct err e;

	reinit(&r, FRAME_ROLE_SRC);
	expect_err(feed_one(&r, FRAME_HELLO, FRAME_DEV_ALL, "h", 1, &e), &e,
	    EPROTO, "frame 0: HELLO may not come from the destination");
	reinit(&r, FRAME_ROLE_SRC);
	assert_int_equal(feed_one(&r, FRAME_HELLO_REPLY, FRAME_DEV_ALL, "r", 1,
	    &e), 1);
	assert_int_equal(frame_reader_route(&r, 0, 3, 5, FRAME_PAYLOAD_MAX), 0);
	assert_int_equal(feed_one(&r, FRAME_INIT_ACK, FRAME_DEV_ALL, NULL, 0,
	    &e), 1);
	assert_int_equal(feed_one(&r, FRAME_COMMITTED, FRAME_DEV_ALL, NULL, 0,
	    &e), 1);
	assert_int_equal(feed_one(&r, FRAME_ABORT, FRAME_DEV_ALL, "a", 1, &e),
	    1);
	expect_err(feed_one(&r, FRAME_DATA, 0, "x", 1, &e), &e, EPROTO,
	    "frame 4: DATA may not come from the destination");
	frame_reader_free(&r);
}

/* The limit before the handshake is the small one; route raises it. */
static void
test_reader_limits(void **state)
{
	uint8_t *buf = calloc(1, 2 * FRAME_HDR_SIZE + 2 * FRAME_CTL_MAX);
	struct frame_reader r;
	struct err e;
	size_t n;
	int k = 0;

	assert_non_null(buf);
	frame_reader_init(&r, FRAME_ROLE_DST, FRAME_CTL_MAX);
	n = build(buf, FRAME_HELLO, 0, FRAME_DEV_ALL, 0, "h", 1);
	assert_int_equal(feed_chunks(&r, NULL, buf, n, n, &k, &e), 1);
	n = build(buf, FRAME_DATA, 0, 0, 1, buf + 2 * FRAME_HDR_SIZE,
	    FRAME_CTL_MAX + 1);
	assert_int_equal(frame_reader_route(&r, 0, 1, 1, FRAME_CTL_MAX), 0);
	expect_err(feed_chunks(&r, NULL, buf, n, n, &k, &e), &e, EMSGSIZE,
	    "frame 1: DATA payload of 65537 bytes exceeds the limit of 65536");
	frame_reader_free(&r);

	k = 0;
	frame_reader_init(&r, FRAME_ROLE_DST, FRAME_CTL_MAX);
	n = build(buf, FRAME_HELLO, 0, FRAME_DEV_ALL, 0, "h", 1);
	assert_int_equal(feed_chunks(&r, NULL, buf, n, n, &k, &e), 1);
	assert_int_equal(frame_reader_route(&r, 0, 1, 1, FRAME_PAYLOAD_MAX), 0);
	n = build(buf, FRAME_DATA, 0, 0, 1, buf + 2 * FRAME_HDR_SIZE,
	    FRAME_CTL_MAX + 1);
	assert_int_equal(feed_chunks(&r, NULL, buf, n, n, &k, &e), 1);
	assert_int_equal(k, 2);
	frame_reader_free(&r);
	free(buf);
}

/* Handshake messages */

static int
hello_roundtrip(struct hello_fixture *x, struct err *e)
{
	uint8_t *buf = malloc(FRAME_CTL_MAX);
	Vfiomig__Peer__Hello *h;
	size_t len;
	int rc;

	assert_non_null(buf);
	err_clear(e);
	rc = frame_pack_msg(&x->h.base, buf, FRAME_CTL_MAX, &len, e);
	if (rc == 0)
		rc = frame_unpack_hello(buf, len, &h, e);
	if (rc == 0) {
		assert_string_equal(h->set_name, x->h.set_name);
		assert_int_equal(h->job_id, x->h.job_id);
		assert_int_equal(h->n_devices, x->h.n_devices);
		assert_int_equal(frame_devices_match(h->devices, h->n_devices,
		    x->h.devices, x->h.n_devices, e), 0);
		assert_true(frame_token_equal(h->token.data, h->token.len,
		    x->token, sizeof x->token));
		vfiomig__peer__hello__free_unpacked(h, NULL);
	}
	free(buf);
	return rc;
}

static void
test_hello_valid(void **state)
{
	struct hello_fixture *x = hello_new(3);
	struct err e;

	assert_int_equal(hello_roundtrip(x, &e), 0);
	free(x);
	/* The most devices, short names: it fits the handshake limit. */
	x = hello_new(FRAME_MAX_DEVICES);
	assert_int_equal(hello_roundtrip(x, &e), 0);
	free(x);
}

static void
test_hello_defects(void **state)
{
	struct hello_fixture *x;
	struct err e;

#define DEFECT(n, change, code, sub) do {				\
	x = hello_new(n);						\
	change;								\
	expect_err(hello_roundtrip(x, &e), &e, code, sub);		\
	free(x);							\
} while (0)
	DEFECT(2, x->h.version = 3, EPROTONOSUPPORT,
	    "HELLO: protocol version 3 not supported");
	/* A check is never taken for a migration, nor the reverse. */
	DEFECT(2, x->h.version = FRAME_VERSION_CHECK, EPROTO,
	    "HELLO: version 2 without check_only");
	DEFECT(2, (x->h.has_check_only = 1, x->h.check_only = 1), EPROTO,
	    "HELLO: version 1 with check_only");
	x = hello_new(2);
	x->h.version = FRAME_VERSION_CHECK;
	x->h.has_check_only = 1;
	x->h.check_only = 1;
	assert_int_equal(hello_roundtrip(x, &e), 0);
	free(x);
	DEFECT(2, x->h.set_name = "", EPROTO, "HELLO: set name is 0 bytes");
	DEFECT(2, x->h.set_name = "a\tb", EPROTO, "set name holds a control");
	DEFECT(2, x->h.token.len = 15, EPROTO, "HELLO: token of 15 bytes");
	DEFECT(2, x->h.conn_count = 0, EPROTO, "HELLO: connection 0 of 0");
	DEFECT(2, x->h.conn_index = 2, EPROTO, "HELLO: connection 2 of 2");
	DEFECT(0, (void)0, EPROTO, "HELLO: 0 devices (1..1024)");
	DEFECT(FRAME_MAX_DEVICES + 1, (void)0, EPROTO, "HELLO: 1025 devices");
	DEFECT(3, x->devs[2].name = "d0", EPROTO,
	    "HELLO: device d0: name used twice (0 and 2)");
	DEFECT(3, x->devs[1].index = 2, EPROTO,
	    "HELLO: device d1: index 2 at position 1");
	DEFECT(2, x->devs[1].backend = "qemu", EPROTO,
	    "device d1: unknown backend \"qemu\"");
	DEFECT(2, x->devs[0].flags = 0x6, EPROTO,
	    "device d0: bad capability flags 0x6");
	DEFECT(2, x->devs[0].flags = 0xf, EPROTO,
	    "device d0: bad capability flags 0xf");
	DEFECT(2, x->devs[0].name = "", EPROTO, "device 0: name is 0 bytes");
	DEFECT(2, x->devs[0].identity = "a\nb", EPROTO,
	    "device d0: identity holds a control character");
	/* Tokens are text: no NUL, UTF-8 (as the configuration's). */
	DEFECT(2, x->token[5] = '\0', EINVAL, "HELLO: token holds a NUL byte");
	DEFECT(2, x->token[31] = 0xff, EINVAL,
	    "HELLO: token is not valid UTF-8");
	DEFECT(2, x->devs[1].identity = "sim:\xc0\x80", EINVAL,
	    "Hello: devices.identity: is not valid UTF-8");
	DEFECT(2, x->h.set_name = "vm\xed\xa0\x80", EINVAL,
	    "Hello: set_name: is not valid UTF-8");
#undef DEFECT
}

/*
 * A string with a NUL byte inside: protobuf-c would cut it ("vm1\0x" is
 * "vm1"); the wire's bytes are checked, the message refused.  Packed
 * with a placeholder, patched.
 */
static void
test_hello_nul(void **state)
{
	static const char *fields[][2] = {
		{ "vm1#x", "Hello: set_name: holds a NUL byte" },
		{ "d#x", "Hello: devices.name: holds a NUL byte" },
		{ "s#m", "Hello: devices.backend: holds a NUL byte" },
	};
	Vfiomig__Peer__Hello *h;
	struct hello_fixture *x;
	uint8_t *buf, *p;
	struct err e;
	size_t len, i;

	for (i = 0; i < ARRAY_SIZE(fields); i++) {
		x = hello_new(2);
		if (i == 0)
			x->h.set_name = (char *)fields[i][0];
		else if (i == 1)
			x->devs[1].name = (char *)fields[i][0];
		else
			x->devs[1].backend = (char *)fields[i][0];
		buf = malloc(FRAME_CTL_MAX);
		assert_int_equal(frame_pack_msg(&x->h.base, buf,
		    FRAME_CTL_MAX, &len, &e), 0);
		p = memchr(buf, '#', len);
		assert_non_null(p);
		*p = '\0';
		expect_err(frame_unpack_hello(buf, len, &h, &e), &e, EINVAL,
		    fields[i][1]);
		assert_null(h);
		free(buf);
		free(x);
	}
}

static void
test_hello_garbage(void **state)
{
	static const uint8_t junk[] = { 0xff, 0xff, 0xff, 0x01, 0x02 };
	Vfiomig__Peer__Hello *h;
	Vfiomig__Peer__Abort *a;
	struct err e;

	expect_err(frame_unpack_hello(junk, sizeof junk, &h, &e), &e, EBADMSG,
	    "does not parse as vfiomig.peer.Hello");
	assert_null(h);
	/* An empty message lacks the required fields. */
	expect_err(frame_unpack_hello("", 0, &h, &e), &e, EBADMSG,
	    "does not parse");
	expect_err(frame_unpack_abort(junk, sizeof junk, &a, &e), &e, EBADMSG,
	    "does not parse as vfiomig.peer.Abort");
}

/*
 * Identities agree on their first token and on every key both sides
 * name; a key one side could not see (a device handed over by fd: no
 * sysfs) is no difference, one both see with other values is.
 */
static void
test_identity_agree(void **state)
{
	static const struct {
		const char	*a, *b;
		bool		 agree;
	} t[] = {
		{ "sim:1048576 flags=0x7", "sim:1048576 flags=0x7", true },
		{ "sim:1048576 flags=0x7", "sim:2097152 flags=0x7", false },
		{ "sim:1048576 flags=0x7", "sim:1048576 flags=0x3", false },
		/* mtty by a group (sysfs) and by an fd handed over (none). */
		{ "vfio:4348:3253 type=mtty-2 flags=0x7",
		  "vfio:4348:3253 flags=0x7", true },
		{ "vfio:4348:3253 flags=0x7",
		  "vfio:4348:3253 type=mtty-2 flags=0x7", true },
		{ "vfio:4348:3253 type=mtty-2 flags=0x7",
		  "vfio:4348:3253 type=mtty-1 flags=0x7", false },
		{ "vfio:1af4:1041 driver=vfio-pci version=0.2 flags=0x5",
		  "vfio:1af4:1041 driver=vfio-pci version=0.3 flags=0x5",
		  false },
		{ "vfio:1af4:1041 subsystem=1af4:1100 flags=0x5",
		  "vfio:1af4:1041 subsystem=1af4:1101 flags=0x5", false },
		{ "vfio:1af4:1041 flags=0x5", "vfio:1af4:1042 flags=0x5",
		  false },
		/* A key's prefix is not the key. */
		{ "vfio:1 type=a flags=0x1", "vfio:1 types=b flags=0x1",
		  true },
		/* Tokens without '=' must be in both. */
		{ "4096", "4096", true },
		{ "4096", "8192", false },
		{ "vfio:1 extra", "vfio:1", false },
		{ "vfio:1", "vfio:1 extra", false },
		{ "", "", true },
		{ "", "vfio:1", false },
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(t); i++) {
		if (frame_identity_agree(t[i].a, t[i].b) != t[i].agree)
			fail_msg("\"%s\" and \"%s\": want %s", t[i].a, t[i].b,
			    t[i].agree ? "agree" : "differ");
	}
}

static void
test_hello_same_job(void **state)
{
	struct hello_fixture *a = hello_new(3), *b = hello_new(3);
	struct err e;

	b->h.conn_index = 1;
	assert_int_equal(frame_hello_same_job(&a->h, &b->h, &e), 0);
	b->devs[2].identity = "8192";
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, ENODEV,
	    "HELLO: device d2: identity \"4096\" against \"8192\"");
	/* The pre-flight check's aspect says it in the same words. */
	assert_int_equal(frame_device_match_name(a->h.devices[2],
	    b->h.devices[2], &e), 0);
	assert_int_equal(frame_device_match_caps(a->h.devices[2],
	    b->h.devices[2], &e), 0);
	expect_err(frame_device_match_identity(a->h.devices[2],
	    b->h.devices[2], &e), &e, ENODEV,
	    "device d2: identity \"4096\" against \"8192\"");
	expect_err(frame_devices_match(a->h.devices, 3, b->h.devices, 3, &e),
	    &e, ENODEV, "device d2: identity \"4096\" against \"8192\"");
	expect_err(frame_devices_count_match(3, 2, &e), &e, ENODEV,
	    "3 devices against 2");
	expect_err(frame_devices_match(a->h.devices, 3, b->h.devices, 2, &e),
	    &e, ENODEV, "3 devices against 2");
	b->devs[2].identity = "4096";
	b->token[31] ^= 1;
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, EACCES,
	    "token differs");
	b->token[31] ^= 1;
	b->h.job_id++;
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, EPROTO,
	    "HELLO: job 78, expected 77");
	b->h.job_id--;
	/* The offer of frames without CRC: the same on every connection. */
	a->h.has_no_frame_crc = a->h.no_frame_crc = true;
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, EPROTO,
	    "HELLO: no_frame_crc false after connection 0's true");
	b->h.has_no_frame_crc = b->h.no_frame_crc = true;
	assert_int_equal(frame_hello_same_job(&a->h, &b->h, &e), 0);
	b->h.conn_index = 0;
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, EPROTO,
	    "connection 0 of 2 after connection 0 of 2");
	b->h.conn_index = 1;
	b->h.n_devices = 2;
	expect_err(frame_hello_same_job(&a->h, &b->h, &e), &e, ENODEV,
	    "3 devices against 2");
	assert_false(frame_token_equal("abc", 3, "abd", 3));
	assert_false(frame_token_equal("abc", 3, "abcd", 4));
	assert_true(frame_token_equal("abc", 3, "abc", 3));
	free(a);
	free(b);
}

static void
test_hello_reply(void **state)
{
	Vfiomig__Peer__HelloReply r = VFIOMIG__PEER__HELLO_REPLY__INIT, *out;
	struct hello_fixture *x = hello_new(2);
	uint8_t buf[1024];
	struct err e;
	size_t len;

	len = pack_reply(buf, sizeof buf, x->pdevs, 2);
	assert_int_equal(frame_unpack_hello_reply(buf, len, &out, &e), 0);
	assert_true(out->accepted);
	assert_int_equal(out->n_devices, 2);
	assert_false(out->has_max_payload);
	vfiomig__peer__hello_reply__free_unpacked(out, NULL);

	r.accepted = 1;
	r.n_devices = 2;
	r.devices = x->pdevs;
	r.has_max_payload = 1;
	r.max_payload = 4 << 20;
	assert_int_equal(frame_pack_msg(&r.base, buf, sizeof buf, &len, &e), 0);
	assert_int_equal(frame_unpack_hello_reply(buf, len, &out, &e), 0);
	assert_int_equal(out->max_payload, 4 << 20);
	vfiomig__peer__hello_reply__free_unpacked(out, NULL);
	r.max_payload = 100;
	assert_int_equal(frame_pack_msg(&r.base, buf, sizeof buf, &len, &e), 0);
	expect_err(frame_unpack_hello_reply(buf, len, &out, &e), &e, EPROTO,
	    "HELLO_REPLY: payload limit 100 out of range");
	r.has_max_payload = 0;
	r.n_devices = 0;
	r.devices = NULL;

	r.accepted = 0;
	r.has_error = 1;
	r.error = EACCES;
	r.message = "bad token";
	assert_int_equal(frame_pack_msg(&r.base, buf, sizeof buf, &len, &e), 0);
	assert_int_equal(frame_unpack_hello_reply(buf, len, &out, &e), 0);
	assert_false(out->accepted);
	assert_int_equal(out->error, EACCES);
	assert_string_equal(out->message, "bad token");
	vfiomig__peer__hello_reply__free_unpacked(out, NULL);

	r.has_error = 0;
	assert_int_equal(frame_pack_msg(&r.base, buf, sizeof buf, &len, &e), 0);
	expect_err(frame_unpack_hello_reply(buf, len, &out, &e), &e, EPROTO,
	    "HELLO_REPLY: refused without an errno");
	/* Too small a buffer: refused, nothing written past it. */
	expect_err(frame_pack_msg(&r.base, buf, 2, &len, &e), &e, EMSGSIZE,
	    "does not fit in 2");
	free(x);
}

static void
test_abort(void **state)
{
	Vfiomig__Peer__Abort *a;
	uint8_t buf[2048];
	char msg[FRAME_MESSAGE_MAX + 2];
	struct err e;
	size_t len;

	assert_int_equal(frame_pack_abort(-ECONNRESET, "d1: load failed", buf,
	    sizeof buf, &len, &e), 0);
	assert_int_equal(frame_unpack_abort(buf, len, &a, &e), 0);
	assert_int_equal(a->error, ECONNRESET);
	assert_string_equal(a->message, "d1: load failed");
	vfiomig__peer__abort__free_unpacked(a, NULL);

	assert_int_equal(frame_pack_abort(0, NULL, buf, sizeof buf, &len, &e),
	    0);
	expect_err(frame_unpack_abort(buf, len, &a, &e), &e, EPROTO,
	    "ABORT: errno 0 out of range");
	memset(msg, 'm', sizeof msg - 1);
	msg[sizeof msg - 1] = '\0';
	assert_int_equal(frame_pack_abort(EIO, msg, buf, sizeof buf, &len, &e),
	    0);
	expect_err(frame_unpack_abort(buf, len, &a, &e), &e, EPROTO,
	    "ABORT: message is 1025 bytes long");
}

/*
 * One pass: a frame encoded from its payload's CRC is the frame encoded
 * from the payload; the reader hands that CRC up (f.pcrc), and a digest
 * chained from it equals one over the bytes.  Without frame CRCs: CRC 0
 * is taken, any other refused, and f.pcrc is 0.
 */
static void
test_pcrc_and_no_crc(void **state)
{
	enum { LEN = 70000 };
	uint8_t *data = malloc(LEN), a[FRAME_HDR_SIZE], b[FRAME_HDR_SIZE];
	struct frame_hdr h1 = { .type = FRAME_DATA, .dev = 2, .len = LEN,
	    .seq = 0 }, h2 = h1;
	struct frame_digest bytes, joined;
	struct frame_reader r;
	struct frame f;
	struct err e;
	size_t used;
	uint8_t *wire = malloc(FRAME_HDR_SIZE + LEN);

	(void)state;
	assert_non_null(data);
	assert_non_null(wire);
	rng_seed(11);
	rng_fill(data, LEN);
	frame_encode(&h1, data, a);
	frame_encode_pcrc(&h2, crc32c(0, data, LEN), b);
	assert_memory_equal(a, b, FRAME_HDR_SIZE);
	assert_int_equal(h1.crc, h2.crc);

	frame_reader_init(&r, FRAME_ROLE_ANY, FRAME_PAYLOAD_MAX);
	memcpy(wire, a, FRAME_HDR_SIZE);
	memcpy(wire + FRAME_HDR_SIZE, data, LEN);
	assert_int_equal(frame_reader_feed(&r, wire, FRAME_HDR_SIZE + LEN,
	    &used, &f, &e), 1);
	assert_int_equal(f.pcrc, crc32c(0, data, LEN));
	frame_digest_init(&bytes);
	frame_digest_update(&bytes, data, 1000);
	frame_digest_update(&bytes, data, LEN);
	frame_digest_init(&joined);
	frame_digest_add(&joined, crc32c(0, data, 1000), 1000);
	frame_digest_add(&joined, f.pcrc, f.h.len);
	assert_int_equal(frame_digest_value(&bytes),
	    frame_digest_value(&joined));

	/* Frame 1 without CRC: taken once the reader knows. */
	frame_reader_no_crc(&r);
	h1.seq = 1;
	frame_encode_no_crc(&h1, wire);
	assert_int_equal(h1.crc, 0);
	assert_int_equal(frame_reader_feed(&r, wire, FRAME_HDR_SIZE + LEN,
	    &used, &f, &e), 1);
	assert_int_equal(f.pcrc, 0);
	assert_memory_equal(f.payload, data, LEN);
	/* Frame 2 with its CRC: refused, as a frame with a CRC is there. */
	h1.seq = 2;
	frame_encode(&h1, data, wire);
	expect_err(frame_reader_feed(&r, wire, FRAME_HDR_SIZE + LEN, &used,
	    &f, &e), &e, EPROTO, "frame 2: CRC 0x");
	expect_err(frame_reader_feed(&r, wire, 1, &used, &f, &e), &e, EPROTO,
	    "on a connection without frame CRCs");
	frame_reader_free(&r);

	/* And a reader with CRCs refuses CRC 0. */
	frame_reader_init(&r, FRAME_ROLE_ANY, FRAME_PAYLOAD_MAX);
	h1.seq = 0;
	frame_encode_no_crc(&h1, wire);
	expect_err(frame_reader_feed(&r, wire, FRAME_HDR_SIZE + LEN, &used,
	    &f, &e), &e, EBADMSG, "frame 0: bad CRC32C (got 0x00000000");
	frame_reader_free(&r);
	free(wire);
	free(data);
}

/* DEV_END and the stream digest */

static void
test_digest_and_dev_end(void **state)
{
	enum { LEN = 100000 };
	uint8_t *data = malloc(LEN), pl[FRAME_DEV_END_SIZE];
	struct frame_digest whole, parts, bad;
	uint64_t bytes, digest;
	struct err e;
	size_t off, c;

	assert_non_null(data);
	rng_seed(9);
	rng_fill(data, LEN);
	frame_digest_init(&whole);
	frame_digest_update(&whole, data, LEN);
	frame_digest_init(&parts);
	for (off = 0; off < LEN; off += c) {
		c = 1 + rng_next() % 3000;
		c = MIN(c, LEN - off);
		frame_digest_update(&parts, data + off, c);
	}
	assert_int_equal(frame_digest_value(&whole), frame_digest_value(&parts));
	assert_int_equal(frame_digest_value(&whole) >> 32,
	    crc32c(0, data, LEN));
	assert_int_equal(frame_digest_value(&whole) & 0xffffffff, LEN);

	frame_dev_end_pack(pl, whole.bytes, frame_digest_value(&whole));
	assert_int_equal(frame_dev_end_unpack(pl, sizeof pl, &bytes, &digest,
	    &e), 0);
	assert_int_equal(bytes, LEN);
	assert_int_equal(frame_dev_end_verify(&parts, bytes, digest, "d0", &e),
	    0);

	/* One byte changed, or a chunk missing: the digests differ. */
	data[LEN / 3] ^= 0x80;
	frame_digest_init(&bad);
	frame_digest_update(&bad, data, LEN);
	expect_err(frame_dev_end_verify(&bad, bytes, digest, "d0", &e), &e,
	    EBADMSG, "d0: stream differs from the source's: received 100000 "
	    "bytes");
	frame_digest_init(&bad);
	frame_digest_update(&bad, data, LEN - 10);
	expect_err(frame_dev_end_verify(&bad, bytes, digest, "d0", &e), &e,
	    EBADMSG, "received 99990 bytes");

	expect_err(frame_dev_end_unpack(pl, 15, &bytes, &digest, &e), &e,
	    EPROTO, "DEV_END payload of 15 bytes (expected 16)");
	frame_dev_end_pack(pl, 5, 6);
	expect_err(frame_dev_end_unpack(pl, sizeof pl, &bytes, &digest, &e),
	    &e, EPROTO, "does not match its byte count 5");
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vectors),
		cmocka_unit_test(test_crc32c_hw_equals_sw),
		cmocka_unit_test(test_crc32c_hw_equals_sw_long),
		cmocka_unit_test(test_roundtrip_every_type),
		cmocka_unit_test(test_header_layout),
		cmocka_unit_test(test_bad_magic_version_type),
		cmocka_unit_test(test_resumed),
		cmocka_unit_test(test_bad_reserved),
		cmocka_unit_test(test_bad_length),
		cmocka_unit_test(test_bad_flags_and_device),
		cmocka_unit_test(test_bad_sequence),
		cmocka_unit_test(test_bad_crc_message),
		cmocka_unit_test(test_every_bit_flip),
		cmocka_unit_test(test_crc32c_combine),
		cmocka_unit_test(test_pcrc_and_no_crc),
		cmocka_unit_test(test_reader_every_chunk_size),
		cmocka_unit_test(test_reader_want_put),
		cmocka_unit_test(test_reader_truncated),
		cmocka_unit_test(test_reader_random_garbage),
		cmocka_unit_test(test_reader_garbage_payload),
		cmocka_unit_test(test_reader_route_destination),
		cmocka_unit_test(test_reader_route_source),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_hello_valid),
		cmocka_unit_test(test_hello_defects),
		cmocka_unit_test(test_hello_nul),
		cmocka_unit_test(test_hello_garbage),
		cmocka_unit_test(test_identity_agree),
		cmocka_unit_test(test_hello_same_job),
		cmocka_unit_test(test_hello_reply),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_digest_and_dev_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
