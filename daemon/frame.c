/*
 * frame.c: the migration channel's wire format (docs/protocol.md): frame
 * headers in and out, their checks, the streaming reader, the DEV_END
 * payload and stream digest, and the checks of the handshake messages.
 *
 * Pure: bytes in, bytes or verdicts out.  No sockets, no libevent, no
 * ioctls; no policy about what a side does next (xfer.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compat.h"
#include "crc32c.h"
#include "frame.h"
#include "pbcheck.h"

/* The VFIO_MIGRATION_* capability flags (kept here: no ioctl headers). */
#define FRAME_CAP_STOP_COPY	(1u << 0)
#define FRAME_CAP_ALL		0x7u

#define FRAME_OFF_CRC		24
#define FRAME_LIMIT		UINT32_MAX	/* "the reader's limit" */

/* What each type may carry, and who sends it. */
struct frame_type_info {
	const char	*name;
	enum frame_role	 from;		/* the sender; ANY: either side */
	uint8_t		 flags;		/* flags allowed */
	bool		 dev;		/* names a device (else FRAME_DEV_ALL) */
	bool		 conn0;		/* travels on connection 0 only */
	uint32_t	 min;		/* payload bytes */
	uint32_t	 max;
};

static const struct frame_type_info frame_types[FRAME_TYPE_MAX + 1] = {
	[FRAME_HELLO] = { "HELLO", FRAME_ROLE_SRC, 0, false, false,
	    1, FRAME_CTL_MAX },
	[FRAME_HELLO_REPLY] = { "HELLO_REPLY", FRAME_ROLE_DST, 0, false, false,
	    1, FRAME_CTL_MAX },
	[FRAME_DATA] = { "DATA", FRAME_ROLE_SRC, FRAME_F_STOP_COPY, true, false,
	    1, FRAME_LIMIT },
	[FRAME_DEV_INITIAL_DONE] = { "DEV_INITIAL_DONE", FRAME_ROLE_SRC, 0,
	    true, false, 0, 0 },
	[FRAME_DEV_END] = { "DEV_END", FRAME_ROLE_SRC, 0, true, false,
	    FRAME_DEV_END_SIZE, FRAME_DEV_END_SIZE },
	[FRAME_INIT_ACK] = { "INIT_ACK", FRAME_ROLE_DST, 0, false, true, 0, 0 },
	[FRAME_SWITCHOVER] = { "SWITCHOVER", FRAME_ROLE_SRC, 0, false, true,
	    0, 0 },
	[FRAME_COMMITTED] = { "COMMITTED", FRAME_ROLE_DST, 0, false, true,
	    0, 0 },
	[FRAME_ABORT] = { "ABORT", FRAME_ROLE_ANY, 0, false, false,
	    1, FRAME_CTL_MAX },
	[FRAME_RESUMED] = { "RESUMED", FRAME_ROLE_DST, 0, false, true,
	    0, FRAME_CTL_MAX },
};

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, v);
	put16(p + 2, v >> 16);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

static uint16_t
get16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t
get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t
get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

const char *
frame_type_name(unsigned int type)
{
	if (type == 0 || type > FRAME_TYPE_MAX)
		return "?";
	return frame_types[type].name;
}

/*
 * Header layout, little-endian:
 *  0 magic u32   4 version u8   5 type u8   6 flags u8   7 reserved u8
 *  8 device u16  10 reserved u16  12 length u32  16 sequence u64
 * 24 crc32c u32  28 reserved u32
 */
void
frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE])
{
	memset(out, 0, FRAME_HDR_SIZE);
	put32(out, FRAME_MAGIC);
	out[4] = FRAME_VERSION;
	out[5] = h->type;
	out[6] = h->flags;
	put16(out + 8, h->dev);
	put32(out + 12, h->len);
	put64(out + 16, h->seq);
	put32(out + FRAME_OFF_CRC, h->crc);
}

uint32_t
frame_crc(const uint8_t hdr[FRAME_HDR_SIZE], const void *payload, size_t len)
{
	uint8_t tmp[FRAME_HDR_SIZE];
	uint32_t crc;

	memcpy(tmp, hdr, sizeof tmp);
	put32(tmp + FRAME_OFF_CRC, 0);
	crc = crc32c(0, tmp, sizeof tmp);
	return crc32c(crc, payload, len);
}

uint32_t
frame_crc_join(const uint8_t hdr[FRAME_HDR_SIZE], uint32_t pcrc, size_t len)
{
	uint8_t tmp[FRAME_HDR_SIZE];

	memcpy(tmp, hdr, sizeof tmp);
	put32(tmp + FRAME_OFF_CRC, 0);
	return crc32c_combine(crc32c(0, tmp, sizeof tmp), pcrc, len);
}

void
frame_encode(struct frame_hdr *h, const void *payload,
    uint8_t out[FRAME_HDR_SIZE])
{
	frame_encode_pcrc(h, crc32c(0, payload, h->len), out);
}

void
frame_encode_pcrc(struct frame_hdr *h, uint32_t pcrc,
    uint8_t out[FRAME_HDR_SIZE])
{
	h->crc = 0;
	frame_hdr_encode(h, out);
	h->crc = frame_crc_join(out, pcrc, h->len);
	put32(out + FRAME_OFF_CRC, h->crc);
}

void
frame_encode_no_crc(struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE])
{
	h->crc = 0;
	frame_hdr_encode(h, out);
}

static int
frame_hdr_check_fixed(const uint8_t *in, uint64_t n, struct err *e)
{
	uint32_t magic = get32(in);

	if (magic != FRAME_MAGIC)
		return err_set(e, EPROTO, "frame %" PRIu64 ": bad magic 0x%08x "
		    "(expected 0x%08x)", n, magic, FRAME_MAGIC);
	if (in[4] != FRAME_VERSION)
		return err_set(e, EPROTONOSUPPORT, "frame %" PRIu64 ": "
		    "protocol version %u not supported (this side speaks %u)",
		    n, in[4], FRAME_VERSION);
	if (in[5] == 0 || in[5] > FRAME_TYPE_MAX)
		return err_set(e, EPROTO, "frame %" PRIu64 ": unknown frame "
		    "type %u", n, in[5]);
	if (in[7] != 0 || get16(in + 10) != 0 || get32(in + 28) != 0)
		return err_set(e, EPROTO, "frame %" PRIu64 ": reserved header "
		    "bytes are not zero", n);
	return 0;
}

static int
frame_hdr_check_type(const struct frame_hdr *h, uint32_t max_payload,
    uint64_t n, struct err *e)
{
	const struct frame_type_info *ti = &frame_types[h->type];
	uint32_t max = MIN(ti->max, max_payload);

	if (h->flags & ~ti->flags)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s with unknown "
		    "flags 0x%02x", n, ti->name, h->flags);
	if (ti->dev && h->dev >= FRAME_MAX_DEVICES)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s for device "
		    "%u (at most %u devices)", n, ti->name, h->dev,
		    FRAME_MAX_DEVICES);
	if (!ti->dev && h->dev != FRAME_DEV_ALL)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s names device "
		    "%u; it must be set-wide", n, ti->name, h->dev);
	if (ti->min == ti->max && h->len != ti->min)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s payload of "
		    "%" PRIu32 " bytes (expected %" PRIu32 ")", n, ti->name,
		    h->len, ti->min);
	if (h->len > max)
		return err_set(e, EMSGSIZE, "frame %" PRIu64 ": %s payload of "
		    "%" PRIu32 " bytes exceeds the limit of %" PRIu32, n,
		    ti->name, h->len, max);
	if (h->len < ti->min)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s payload of "
		    "%" PRIu32 " bytes (expected at least %" PRIu32 ")", n,
		    ti->name, h->len, ti->min);
	return 0;
}

int
frame_hdr_decode(const uint8_t in[FRAME_HDR_SIZE], struct frame_hdr *h,
    uint32_t max_payload, uint64_t frame_no, struct err *e)
{
	int rc;

	if ((rc = frame_hdr_check_fixed(in, frame_no, e)) != 0)
		return rc;
	h->type = in[5];
	h->flags = in[6];
	h->dev = get16(in + 8);
	h->len = get32(in + 12);
	h->seq = get64(in + 16);
	h->crc = get32(in + FRAME_OFF_CRC);
	return frame_hdr_check_type(h, max_payload, frame_no, e);
}

/* The sequence number, once the CRC is settled. */
static int
frame_check_seq(const struct frame_hdr *h, uint64_t expected_seq,
    struct err *e)
{
	if (h->seq != expected_seq)
		return err_set(e, EPROTO, "frame %" PRIu64 ": sequence number "
		    "%" PRIu64 ", expected %" PRIu64 " (a frame was lost or "
		    "replayed)", expected_seq, h->seq, expected_seq);
	return 0;
}

static int
frame_check_crc(const struct frame_hdr *h, uint32_t crc,
    uint64_t expected_seq, struct err *e)
{
	if (crc != h->crc)
		return err_set(e, EBADMSG, "frame %" PRIu64 ": bad CRC32C "
		    "(got 0x%08x, computed 0x%08x)", expected_seq, h->crc, crc);
	return frame_check_seq(h, expected_seq, e);
}

int
frame_check(const struct frame_hdr *h, const uint8_t raw[FRAME_HDR_SIZE],
    const void *payload, uint64_t expected_seq, struct err *e)
{
	return frame_check_crc(h, frame_crc(raw, payload, h->len),
	    expected_seq, e);
}

int
frame_check_pcrc(const struct frame_hdr *h, const uint8_t raw[FRAME_HDR_SIZE],
    uint32_t pcrc, uint64_t expected_seq, struct err *e)
{
	return frame_check_crc(h, frame_crc_join(raw, pcrc, h->len),
	    expected_seq, e);
}

/* The streaming reader. */

void
frame_reader_init(struct frame_reader *r, enum frame_role role,
    uint32_t max_payload)
{
	memset(r, 0, sizeof *r);
	r->role = role;
	r->max_payload = MIN(max_payload, FRAME_PAYLOAD_CEIL);
}

void
frame_reader_free(struct frame_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

int
frame_reader_route(struct frame_reader *r, unsigned int conn_index,
    unsigned int conn_count, unsigned int ndev, uint32_t max_payload)
{
	if (conn_count == 0 || conn_count > FRAME_MAX_CONNS ||
	    conn_index >= conn_count || ndev == 0 || ndev > FRAME_MAX_DEVICES)
		return -EINVAL;
	r->conn_index = conn_index;
	r->conn_count = conn_count;
	r->ndev = ndev;
	r->max_payload = MIN(max_payload, FRAME_PAYLOAD_CEIL);
	r->routed = true;
	return 0;
}

void
frame_reader_no_crc(struct frame_reader *r)
{
	r->no_crc = true;
}

size_t
frame_reader_mem(const struct frame_reader *r)
{
	return r->cap;
}

static void
frame_reader_next(struct frame_reader *r)
{
	if (!r->ready)
		return;
	r->ready = false;
	r->have = 0;
	memset(&r->h, 0, sizeof r->h);
}

size_t
frame_reader_want(struct frame_reader *r, void **ptr)
{
	*ptr = NULL;
	if (r->err.code != 0)
		return 0;
	frame_reader_next(r);
	if (r->have < FRAME_HDR_SIZE) {
		*ptr = r->hdr + r->have;
		return FRAME_HDR_SIZE - r->have;
	}
	*ptr = r->buf + (r->have - FRAME_HDR_SIZE);
	return FRAME_HDR_SIZE + r->h.len - r->have;
}

/* Direction and phase: may the peer send this frame now, here? */
static int
frame_reader_check_route(const struct frame_reader *r,
    const struct frame_hdr *h, struct err *e)
{
	const struct frame_type_info *ti = &frame_types[h->type];
	enum frame_role peer;
	uint8_t first;
	uint64_t n = r->seq;

	if (r->role == FRAME_ROLE_ANY)
		return 0;
	peer = r->role == FRAME_ROLE_DST ? FRAME_ROLE_SRC : FRAME_ROLE_DST;
	first = peer == FRAME_ROLE_SRC ? FRAME_HELLO : FRAME_HELLO_REPLY;
	if (ti->from != FRAME_ROLE_ANY && ti->from != peer)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s may not come "
		    "from the %s", n, ti->name,
		    peer == FRAME_ROLE_SRC ? "source" : "destination");
	if (n == 0 && h->type != first)
		return err_set(e, EPROTO, "frame 0: %s where %s must come "
		    "first", ti->name, frame_type_name(first));
	if (n != 0 && h->type == first)
		return err_set(e, EPROTO, "frame %" PRIu64 ": a second %s",
		    n, ti->name);
	if (n != 0 && !r->routed)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s before the "
		    "handshake was accepted", n, ti->name);
	return 0;
}

/* Once routed: control frames on connection 0, devices where they belong. */
static int
frame_reader_check_conn(const struct frame_reader *r,
    const struct frame_hdr *h, struct err *e)
{
	const struct frame_type_info *ti = &frame_types[h->type];

	if (!r->routed)
		return 0;
	if (ti->conn0 && r->conn_index != 0)
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s on connection "
		    "%u (control frames travel on connection 0)", r->seq,
		    ti->name, r->conn_index);
	if (ti->dev && (h->dev >= r->ndev ||
	    h->dev % r->conn_count != r->conn_index))
		return err_set(e, EPROTO, "frame %" PRIu64 ": %s for device %u, "
		    "which connection %u of %u does not carry (%u devices)",
		    r->seq, ti->name, h->dev, r->conn_index, r->conn_count,
		    r->ndev);
	return 0;
}

static int
frame_reader_grow(struct frame_reader *r, struct err *e)
{
	size_t want = r->h.len;

	if (want <= r->cap)
		return 0;
	want = MIN((want + 4095) & ~(size_t)4095, r->max_payload);
	free(r->buf);
	r->cap = 0;
	if ((r->buf = malloc(want)) == NULL)
		return err_set(e, ENOMEM, "frame %" PRIu64 ": cannot buffer "
		    "%zu bytes", r->seq, want);
	r->cap = want;
	return 0;
}

static int
frame_reader_header(struct frame_reader *r, struct err *e)
{
	int rc;

	rc = frame_hdr_decode(r->hdr, &r->h, r->max_payload, r->seq, e);
	if (rc == 0)
		rc = frame_reader_check_route(r, &r->h, e);
	if (rc == 0)
		rc = frame_reader_check_conn(r, &r->h, e);
	if (rc == 0)
		rc = frame_reader_grow(r, e);
	return rc;
}

static int
frame_reader_finish(struct frame_reader *r, struct frame *f, struct err *e)
{
	const uint8_t *payload = r->h.len > 0 ? r->buf : NULL;
	uint32_t pcrc = 0;
	int rc;

	if (r->no_crc) {
		if (r->h.crc != 0)
			return err_set(e, EPROTO, "frame %" PRIu64 ": CRC "
			    "0x%08x on a connection without frame CRCs",
			    r->seq, r->h.crc);
		rc = frame_check_seq(&r->h, r->seq, e);
	} else {
		pcrc = crc32c(0, payload, r->h.len);
		rc = frame_check_pcrc(&r->h, r->hdr, pcrc, r->seq, e);
	}
	if (rc != 0)
		return rc;
	r->seq++;
	r->ready = true;
	f->h = r->h;
	f->payload = payload;
	f->pcrc = pcrc;
	return 1;
}

static int
frame_reader_step(struct frame_reader *r, size_t n, struct frame *f,
    struct err *e)
{
	size_t before = r->have;
	int rc;

	if (n > FRAME_HDR_SIZE + (size_t)r->h.len - r->have)
		return err_set(e, EINVAL, "frame %" PRIu64 ": %zu bytes put, "
		    "more than wanted", r->seq, n);
	r->have += n;
	if (r->have < FRAME_HDR_SIZE)
		return 0;
	if (before < FRAME_HDR_SIZE &&
	    (rc = frame_reader_header(r, e)) != 0)
		return rc;
	if (r->have < FRAME_HDR_SIZE + (size_t)r->h.len)
		return 0;
	return frame_reader_finish(r, f, e);
}

int
frame_reader_put(struct frame_reader *r, size_t n, struct frame *f,
    struct err *e)
{
	int rc;

	if (r->err.code != 0)
		return err_set(e, r->err.code, "%s", r->err.msg);
	frame_reader_next(r);
	if ((rc = frame_reader_step(r, n, f, &r->err)) >= 0)
		return rc;
	return err_set(e, r->err.code, "%s", r->err.msg);
}

int
frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
    size_t *used, struct frame *f, struct err *e)
{
	const uint8_t *p = buf;
	size_t off = 0, n;
	void *dst;
	int rc;

	do {
		n = MIN(frame_reader_want(r, &dst), len - off);
		if (n > 0)
			memcpy(dst, p + off, n);
		off += n;
		rc = frame_reader_put(r, n, f, e);
	} while (rc == 0 && off < len);
	*used = off;
	return rc;
}

/* The stream digest and DEV_END. */

void
frame_digest_init(struct frame_digest *d)
{
	d->crc = 0;
	d->bytes = 0;
}

void
frame_digest_update(struct frame_digest *d, const void *buf, size_t len)
{
	d->crc = crc32c(d->crc, buf, len);
	d->bytes += len;
}

void
frame_digest_add(struct frame_digest *d, uint32_t pcrc, size_t len)
{
	d->crc = crc32c_combine(d->crc, pcrc, len);
	d->bytes += len;
}

uint64_t
frame_digest_value(const struct frame_digest *d)
{
	return (uint64_t)d->crc << 32 | (d->bytes & 0xffffffffu);
}

void
frame_dev_end_pack(uint8_t out[FRAME_DEV_END_SIZE], uint64_t bytes,
    uint64_t digest)
{
	put64(out, bytes);
	put64(out + 8, digest);
}

int
frame_dev_end_unpack(const void *payload, size_t len, uint64_t *bytes,
    uint64_t *digest, struct err *e)
{
	if (len != FRAME_DEV_END_SIZE)
		return err_set(e, EPROTO, "DEV_END payload of %zu bytes "
		    "(expected %d)", len, FRAME_DEV_END_SIZE);
	*bytes = get64(payload);
	*digest = get64((const uint8_t *)payload + 8);
	if ((*digest & 0xffffffffu) != (*bytes & 0xffffffffu))
		return err_set(e, EPROTO, "DEV_END: digest " FMT_ID
		    " does not match its byte count %" PRIu64, *digest, *bytes);
	return 0;
}

int
frame_dev_end_verify(const struct frame_digest *got, uint64_t bytes,
    uint64_t digest, const char *dev_name, struct err *e)
{
	uint64_t mine = frame_digest_value(got);

	if (got->bytes == bytes && mine == digest)
		return 0;
	return err_set(e, EBADMSG, "%s: stream differs from the source's: "
	    "received %" PRIu64 " bytes, digest " FMT_ID "; sent %"
	    PRIu64 " bytes, digest " FMT_ID, dev_name, got->bytes, mine,
	    bytes, digest);
}

/* Protobuf payloads. */

int
frame_pack_msg(const ProtobufCMessage *m, void *buf, size_t cap,
    size_t *len, struct err *e)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	if (n > cap || n > FRAME_CTL_MAX)
		return err_set(e, EMSGSIZE, "%s of %zu bytes does not fit in "
		    "%zu", m->descriptor->short_name, n,
		    (size_t)MIN(cap, FRAME_CTL_MAX));
	*len = protobuf_c_message_pack(m, buf);
	return 0;
}

int
frame_pack_abort(int error, const char *message, void *buf, size_t cap,
    size_t *len, struct err *e)
{
	Vfiomig__Peer__Abort a = VFIOMIG__PEER__ABORT__INIT;

	a.error = error < 0 ? -error : error;
	a.message = (char *)message;
	return frame_pack_msg(&a.base, buf, cap, len, e);
}

static int
frame_unpack(const ProtobufCMessageDescriptor *d, const void *payload,
    size_t len, ProtobufCMessage **out, struct err *e)
{
	int rc;

	if (len > FRAME_CTL_MAX)
		return err_set(e, EMSGSIZE, "%s of %zu bytes exceeds %u",
		    d->short_name, len, FRAME_CTL_MAX);
	*out = protobuf_c_message_unpack(d, NULL, len, payload);
	if (*out == NULL)
		return err_set(e, EBADMSG, "%s payload does not parse as %s",
		    d->short_name, d->name);
	/* protobuf-c cuts a string at a NUL byte and checks no UTF-8. */
	if ((rc = pbcheck_strings(d, payload, len, e)) < 0) {
		protobuf_c_message_free_unpacked(*out, NULL);
		*out = NULL;
		return err_prefix(e, "%s", d->short_name);
	}
	return 0;
}

int
frame_unpack_hello(const void *payload, size_t len,
    Vfiomig__Peer__Hello **out, struct err *e)
{
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	rc = frame_unpack(&vfiomig__peer__hello__descriptor, payload, len,
	    &m, e);
	if (rc == 0 && (rc = frame_hello_check((void *)m, e)) != 0)
		protobuf_c_message_free_unpacked(m, NULL);
	else if (rc == 0)
		*out = (Vfiomig__Peer__Hello *)m;
	return rc;
}

int
frame_unpack_hello_reply(const void *payload, size_t len,
    Vfiomig__Peer__HelloReply **out, struct err *e)
{
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	rc = frame_unpack(&vfiomig__peer__hello_reply__descriptor, payload,
	    len, &m, e);
	if (rc == 0 && (rc = frame_hello_reply_check((void *)m, e)) != 0)
		protobuf_c_message_free_unpacked(m, NULL);
	else if (rc == 0)
		*out = (Vfiomig__Peer__HelloReply *)m;
	return rc;
}

int
frame_pack_resumed(uint64_t resume_us, bool timed_out, void *buf, size_t cap,
    size_t *len, struct err *e)
{
	Vfiomig__Peer__Resumed r = VFIOMIG__PEER__RESUMED__INIT;

	r.has_resume_us = true;
	r.resume_us = resume_us;
	r.has_timed_out = timed_out;
	r.timed_out = timed_out;
	return frame_pack_msg(&r.base, buf, cap, len, e);
}

int
frame_unpack_resumed(const void *payload, size_t len, uint64_t *resume_us,
    bool *timed_out, struct err *e)
{
	ProtobufCMessage *m;
	Vfiomig__Peer__Resumed *r;
	int rc;

	rc = frame_unpack(&vfiomig__peer__resumed__descriptor, payload, len,
	    &m, e);
	if (rc < 0)
		return rc;
	r = (Vfiomig__Peer__Resumed *)m;
	if (!r->has_resume_us || r->resume_us > UINT32_MAX)
		rc = err_set(e, EPROTO, "RESUMED: resume_us %s",
		    r->has_resume_us ? "out of range" : "missing");
	*resume_us = r->resume_us;
	*timed_out = r->timed_out;
	protobuf_c_message_free_unpacked(m, NULL);
	return rc;
}

int
frame_unpack_abort(const void *payload, size_t len,
    Vfiomig__Peer__Abort **out, struct err *e)
{
	ProtobufCMessage *m;
	int rc;

	*out = NULL;
	rc = frame_unpack(&vfiomig__peer__abort__descriptor, payload, len,
	    &m, e);
	if (rc == 0 && (rc = frame_abort_check((void *)m, e)) != 0)
		protobuf_c_message_free_unpacked(m, NULL);
	else if (rc == 0)
		*out = (Vfiomig__Peer__Abort *)m;
	return rc;
}

/* A peer's string: bounded, no control characters (it ends up in logs). */
static int
frame_str_check(const char *what, const char *s, size_t min, size_t max,
    struct err *e)
{
	size_t i, n = s == NULL ? 0 : strlen(s);

	if (n < min || n > max)
		return err_set(e, EPROTO, "%s is %zu bytes long (%zu..%zu)",
		    what, n, min, max);
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return err_set(e, EPROTO, "%s holds a control "
			    "character", what);
	}
	return 0;
}

static int
frame_device_check(const Vfiomig__Peer__Device *d, size_t i, struct err *e)
{
	char what[64];
	int rc;

	snprintf(what, sizeof what, "device %zu: name", i);
	if ((rc = frame_str_check(what, d->name, 1, FRAME_DEV_NAME_MAX, e)))
		return rc;
	if (d->index != i)
		return err_set(e, EPROTO, "device %s: index %" PRIu32 " at "
		    "position %zu", d->name, d->index, i);
	snprintf(what, sizeof what, "device %s: backend", d->name);
	if ((rc = frame_str_check(what, d->backend, 1, FRAME_BACKEND_MAX, e)))
		return rc;
	if (strcmp(d->backend, "vfio") != 0 && strcmp(d->backend, "sim") != 0)
		return err_set(e, EPROTO, "device %s: unknown backend \"%s\"",
		    d->name, d->backend);
	snprintf(what, sizeof what, "device %s: identity", d->name);
	if ((rc = frame_str_check(what, d->identity, 0, FRAME_IDENTITY_MAX,
	    e)))
		return rc;
	if ((d->flags & ~FRAME_CAP_ALL) || !(d->flags & FRAME_CAP_STOP_COPY))
		return err_set(e, EPROTO, "device %s: bad capability flags "
		    "0x%" PRIx32, d->name, d->flags);
	return 0;
}

static int
frame_devices_check(Vfiomig__Peer__Device *const *d, size_t n,
    struct err *e)
{
	size_t i, j;
	int rc;

	if (n == 0 || n > FRAME_MAX_DEVICES)
		return err_set(e, EPROTO, "%zu devices (1..%u)", n,
		    FRAME_MAX_DEVICES);
	for (i = 0; i < n; i++) {
		if ((rc = frame_device_check(d[i], i, e)) != 0)
			return rc;
		for (j = 0; j < i; j++) {
			if (strcmp(d[i]->name, d[j]->name) == 0)
				return err_set(e, EPROTO, "device %s: name "
				    "used twice (%zu and %zu)", d[i]->name, j,
				    i);
		}
	}
	return 0;
}

int
frame_hello_check(const Vfiomig__Peer__Hello *h, struct err *e)
{
	const char *why;
	int rc;

	if (h->version != FRAME_VERSION && h->version != FRAME_VERSION_CHECK)
		return err_set(e, EPROTONOSUPPORT, "HELLO: protocol version "
		    "%" PRIu32 " not supported (this side speaks %u, and %u "
		    "for a check)", h->version, FRAME_VERSION,
		    FRAME_VERSION_CHECK);
	/* A check never passes for a migration, nor the reverse. */
	if ((h->version == FRAME_VERSION_CHECK) != (h->has_check_only &&
	    h->check_only))
		return err_set(e, EPROTO, "HELLO: version %" PRIu32 " %s "
		    "check_only", h->version, h->version == FRAME_VERSION ?
		    "with" : "without");
	if ((rc = frame_str_check("HELLO: set name", h->set_name, 1,
	    FRAME_SET_NAME_MAX, e)) != 0)
		return rc;
	if (h->token.len < FRAME_TOKEN_MIN || h->token.len > FRAME_TOKEN_MAX)
		return err_set(e, EPROTO, "HELLO: token of %zu bytes (%u..%u)",
		    h->token.len, FRAME_TOKEN_MIN, FRAME_TOKEN_MAX);
	/* Tokens are text everywhere else (configuration, control). */
	if ((why = str_check(h->token.data, h->token.len)) != NULL)
		return err_set(e, EINVAL, "HELLO: token %s", why);
	if (h->conn_count == 0 || h->conn_count > FRAME_MAX_CONNS ||
	    h->conn_index >= h->conn_count)
		return err_set(e, EPROTO, "HELLO: connection %" PRIu32 " of %"
		    PRIu32 " (1..%u connections)", h->conn_index,
		    h->conn_count, FRAME_MAX_CONNS);
	if ((rc = frame_devices_check(h->devices, h->n_devices, e)) != 0)
		err_prefix(e, "HELLO");
	return rc;
}

int
frame_hello_reply_check(const Vfiomig__Peer__HelloReply *r, struct err *e)
{
	size_t i;
	int rc;

	if ((rc = frame_str_check("HELLO_REPLY: message", r->message, 0,
	    FRAME_MESSAGE_MAX, e)) != 0)
		return rc;
	if (r->n_checks > FRAME_MAX_CHECKS)
		return err_set(e, EPROTO, "HELLO_REPLY: %zu checks (0..%u)",
		    r->n_checks, FRAME_MAX_CHECKS);
	for (i = 0; i < r->n_checks; i++) {
		if ((rc = frame_str_check("HELLO_REPLY: check name",
		    r->checks[i]->name, 1, FRAME_CHECK_NAME_MAX, e)) != 0 ||
		    (rc = frame_str_check("HELLO_REPLY: check message",
		    r->checks[i]->message, 0, FRAME_MESSAGE_MAX, e)) != 0)
			return rc;
	}
	if (!r->accepted) {
		if (!r->has_error || r->error <= 0 || r->error >= 4096)
			return err_set(e, EPROTO, "HELLO_REPLY: refused "
			    "without an errno");
		return 0;
	}
	if (r->has_error && r->error != 0)
		return err_set(e, EPROTO, "HELLO_REPLY: accepted with errno "
		    "%" PRId32, r->error);
	if (r->has_max_payload && (r->max_payload < FRAME_PAYLOAD_MIN ||
	    r->max_payload > FRAME_PAYLOAD_CEIL))
		return err_set(e, EPROTO, "HELLO_REPLY: payload limit %" PRIu32
		    " out of range (%u..%u)", r->max_payload,
		    FRAME_PAYLOAD_MIN, FRAME_PAYLOAD_CEIL);
	if ((rc = frame_devices_check(r->devices, r->n_devices, e)) != 0)
		err_prefix(e, "HELLO_REPLY");
	return rc;
}

int
frame_abort_check(const Vfiomig__Peer__Abort *a, struct err *e)
{
	if (a->error <= 0 || a->error >= 4096)
		return err_set(e, EPROTO, "ABORT: errno %" PRId32 " out of "
		    "range", a->error);
	return frame_str_check("ABORT: message", a->message, 0,
	    FRAME_MESSAGE_MAX, e);
}

bool
frame_token_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	const uint8_t *pa = a, *pb = b;
	uint8_t diff = 0;
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		diff |= pa[i] ^ pb[i];
	return diff == 0;
}

int
frame_hello_same_job(const Vfiomig__Peer__Hello *first,
    const Vfiomig__Peer__Hello *other, struct err *e)
{
	int rc;

	if (other->job_id != first->job_id)
		return err_set(e, EPROTO, "HELLO: job %" PRIu64 ", expected %"
		    PRIu64, other->job_id, first->job_id);
	if (!frame_token_equal(first->token.data, first->token.len,
	    other->token.data, other->token.len))
		return err_set(e, EACCES, "HELLO: job %" PRIu64 ": token "
		    "differs from the first connection's", other->job_id);
	if (strcmp(first->set_name, other->set_name) != 0)
		return err_set(e, EPROTO, "HELLO: set \"%s\", expected \"%s\"",
		    other->set_name, first->set_name);
	if (other->no_frame_crc != first->no_frame_crc)
		return err_set(e, EPROTO, "HELLO: no_frame_crc %s after "
		    "connection %" PRIu32 "'s %s", other->no_frame_crc ?
		    "true" : "false", first->conn_index, first->no_frame_crc ?
		    "true" : "false");
	if (other->conn_count != first->conn_count ||
	    other->conn_index == first->conn_index)
		return err_set(e, EPROTO, "HELLO: connection %" PRIu32 " of %"
		    PRIu32 " after connection %" PRIu32 " of %" PRIu32,
		    other->conn_index, other->conn_count, first->conn_index,
		    first->conn_count);
	rc = frame_devices_match(first->devices, first->n_devices,
	    other->devices, other->n_devices, e);
	if (rc != 0)
		err_prefix(e, "HELLO");
	return rc;
}

/*
 * The comparisons of a device's description with the other side's, one
 * aspect each: the migration's refusal (frame_devices_match()) and the
 * pre-flight check's lines (xfer-dst.c) are made by the same words.
 */
int
frame_device_match_name(const Vfiomig__Peer__Device *a,
    const Vfiomig__Peer__Device *b, struct err *e)
{
	if (strcmp(a->name, b->name) != 0)
		return err_set(e, ENODEV, "device %" PRIu32 ": \"%s\" against "
		    "\"%s\"", a->index, a->name, b->name);
	return 0;
}

int
frame_device_match_caps(const Vfiomig__Peer__Device *a,
    const Vfiomig__Peer__Device *b, struct err *e)
{
	if (a->flags != b->flags)
		return err_set(e, ENODEV, "device %s: capability flags 0x%"
		    PRIx32 " against 0x%" PRIx32, a->name, a->flags, b->flags);
	if (strcmp(a->backend, b->backend) != 0)
		return err_set(e, ENODEV, "device %s: backend %s against %s",
		    a->name, a->backend, b->backend);
	return 0;
}

#define FRAME_ID_TOKENS	32

/* @s cut into its space-separated tokens (in @buf); how many. */
static int
frame_id_tokens(const char *s, char *buf, size_t len,
    char *tok[FRAME_ID_TOKENS])
{
	char *p, *save = NULL;
	int n = 0;

	snprintf(buf, len, "%s", s);
	for (p = strtok_r(buf, " ", &save); p != NULL && n < FRAME_ID_TOKENS;
	    p = strtok_r(NULL, " ", &save))
		tok[n++] = p;
	return n;
}

/*
 * Identities are tokens: the first ("vfio:1af4:1041", "sim:1048576")
 * and KEY=VALUE ones.  They agree if their first tokens are equal and
 * every key both name has the same value (and a token without '=' is in
 * both): a key one side lacks is what its host could not see (sysfs
 * does not lead from an fd handed over to the device), not a difference.
 */
bool
frame_identity_agree(const char *a, const char *b)
{
	char ba[FRAME_IDENTITY_MAX + 1], bb[FRAME_IDENTITY_MAX + 1];
	char *ta[FRAME_ID_TOKENS], *tb[FRAME_ID_TOKENS], *eq;
	int na, nb, i, j;
	size_t kl;
	bool found;

	na = frame_id_tokens(a, ba, sizeof ba, ta);
	nb = frame_id_tokens(b, bb, sizeof bb, tb);
	if (na == 0 || nb == 0 || strcmp(ta[0], tb[0]) != 0)
		return na == 0 && nb == 0;
	for (i = 1; i < na; i++) {
		eq = strchr(ta[i], '=');
		kl = eq != NULL ? (size_t)(eq - ta[i]) + 1 : strlen(ta[i]);
		found = false;
		for (j = 1; j < nb && !found; j++) {
			if (strncmp(ta[i], tb[j], kl) != 0 ||
			    (eq == NULL && tb[j][kl] != '\0'))
				continue;
			if (strcmp(ta[i], tb[j]) != 0)
				return false;
			found = true;
		}
		if (!found && eq == NULL)
			return false;
	}
	/* A bare token of b's that a lacks. */
	for (j = 1; j < nb; j++) {
		if (strchr(tb[j], '=') != NULL)
			continue;
		found = false;
		for (i = 1; i < na && !found; i++)
			found = strcmp(ta[i], tb[j]) == 0;
		if (!found)
			return false;
	}
	return true;
}

int
frame_device_match_identity(const Vfiomig__Peer__Device *a,
    const Vfiomig__Peer__Device *b, struct err *e)
{
	if (!frame_identity_agree(a->identity, b->identity))
		return err_set(e, ENODEV, "device %s: identity \"%s\" against "
		    "\"%s\"", a->name, a->identity, b->identity);
	return 0;
}

int
frame_devices_count_match(size_t na, size_t nb, struct err *e)
{
	if (na != nb)
		return err_set(e, ENODEV, "%zu devices against %zu", na, nb);
	return 0;
}

static int
frame_device_match(const Vfiomig__Peer__Device *a,
    const Vfiomig__Peer__Device *b, struct err *e)
{
	int rc;

	if ((rc = frame_device_match_name(a, b, e)) != 0 ||
	    (rc = frame_device_match_caps(a, b, e)) != 0)
		return rc;
	return frame_device_match_identity(a, b, e);
}

int
frame_devices_match(Vfiomig__Peer__Device *const *a, size_t na,
    Vfiomig__Peer__Device *const *b, size_t nb, struct err *e)
{
	size_t i;
	int rc;

	if ((rc = frame_devices_count_match(na, nb, e)) != 0)
		return rc;
	for (i = 0; i < na; i++) {
		if ((rc = frame_device_match(a[i], b[i], e)) != 0)
			return rc;
	}
	return 0;
}
