/*
 * frame.h: the wire format of the migration channel between two vfiomigd
 * daemons (docs/protocol.md is the specification): the 32-byte frame
 * header, its checks, a streaming reader that cuts a byte stream into
 * checked frames, the DEV_END payload and stream digest, and the checks of
 * the handshake's protobuf messages.
 *
 * Pure: no sockets, no libevent, no ioctls.  Who sends which frame when,
 * and what a side does with a frame, is xfer's business.
 */
#ifndef VFIOMIG_FRAME_H
#define VFIOMIG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/vfiomig-peer.pb-c.h"
#include "util.h"

#define FRAME_HDR_SIZE		32
#define FRAME_MAGIC		0x47494d56u	/* "VMIG" as bytes on the wire */
#define FRAME_VERSION		1
#define FRAME_VERSION_CHECK	2		/* a check-only HELLO */
#define FRAME_DEV_ALL		0xffff		/* device index: the whole set */

#define FRAME_PAYLOAD_MIN	(4u << 10)	/* no DATA limit may be below */
#define FRAME_PAYLOAD_MAX	(1u << 20)	/* default payload limit */
#define FRAME_PAYLOAD_CEIL	(64u << 20)	/* no limit may exceed this */
#define FRAME_CTL_MAX		(64u << 10)	/* HELLO, HELLO_REPLY, ABORT */
#define FRAME_DEV_END_SIZE	16

#define FRAME_MAX_DEVICES	1024
#define FRAME_MAX_CONNS		64
#define FRAME_SET_NAME_MAX	255
#define FRAME_DEV_NAME_MAX	64
#define FRAME_BACKEND_MAX	16
#define FRAME_IDENTITY_MAX	256
#define FRAME_TOKEN_MIN		16
#define FRAME_TOKEN_MAX		256
#define FRAME_MESSAGE_MAX	1024
#define FRAME_MAX_CHECKS	16		/* HelloReply.checks */
#define FRAME_CHECK_NAME_MAX	32

/* DATA flags. */
#define FRAME_F_STOP_COPY	0x01	/* the chunk belongs to the stop-copy phase */

enum frame_type {
	FRAME_HELLO = 1,		/* src -> dst, Hello */
	FRAME_HELLO_REPLY = 2,		/* dst -> src, HelloReply */
	FRAME_DATA = 3,			/* src -> dst, a chunk of one device's stream */
	FRAME_DEV_INITIAL_DONE = 4,	/* src -> dst, a device's initial data sent */
	FRAME_DEV_END = 5,		/* src -> dst, a device's stream complete */
	FRAME_INIT_ACK = 6,		/* dst -> src, all initial data loaded */
	FRAME_SWITCHOVER = 7,		/* src -> dst, stop-copy data follows */
	FRAME_COMMITTED = 8,		/* dst -> src, all devices RUNNING */
	FRAME_ABORT = 9,		/* either way, Abort */
	FRAME_RESUMED = 10,		/* dst -> src, Resumed (vmm.h) */
};
#define FRAME_TYPE_MAX		FRAME_RESUMED

/* Which side a reader runs on: it refuses frames the peer may not send. */
enum frame_role {
	FRAME_ROLE_ANY = 0,		/* no direction or phase checks (tests) */
	FRAME_ROLE_SRC,			/* receives what the destination sends */
	FRAME_ROLE_DST,			/* receives what the source sends */
};

/* A header, decoded.  The wire's reserved fields are always 0. */
struct frame_hdr {
	uint8_t		 type;
	uint8_t		 flags;
	uint16_t	 dev;		/* device index or FRAME_DEV_ALL */
	uint32_t	 len;		/* payload bytes */
	uint64_t	 seq;
	uint32_t	 crc;
};

/* A whole, checked frame.  @payload lives in the reader (see below). */
struct frame {
	struct frame_hdr h;
	const uint8_t	*payload;	/* h.len bytes; NULL if 0 */
	uint32_t	 pcrc;		/* crc32c(0, payload, h.len); 0 on a
					   connection without frame CRCs */
};

/* "DATA", "HELLO", ...; "?" for an unknown type. */
const char *frame_type_name(unsigned int type);

/* Writes @h as it is (its crc too) in wire order.  No checks. */
void frame_hdr_encode(const struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE]);
/*
 * The CRC32C of a frame: over the header with its CRC field taken as zero,
 * then the payload.
 */
uint32_t frame_crc(const uint8_t hdr[FRAME_HDR_SIZE], const void *payload,
		   size_t len);
/*
 * The same from the payload's own CRC32C, @pcrc = crc32c(0, payload, len):
 * one pass over a payload feeds both the frame CRC and a stream digest.
 */
uint32_t frame_crc_join(const uint8_t hdr[FRAME_HDR_SIZE], uint32_t pcrc,
		   size_t len);
/*
 * The sender's call: sets h->crc from @payload (h->len bytes) and writes
 * the header into @out.  The caller keeps the sequence numbers.
 */
void frame_encode(struct frame_hdr *h, const void *payload,
		  uint8_t out[FRAME_HDR_SIZE]);
/* The same from the payload's CRC32C (frame_crc_join()). */
void frame_encode_pcrc(struct frame_hdr *h, uint32_t pcrc,
		       uint8_t out[FRAME_HDR_SIZE]);
/*
 * A frame of a connection without frame CRCs (frame_reader_no_crc() on
 * the peer's reader): the CRC field 0.
 */
void frame_encode_no_crc(struct frame_hdr *h, uint8_t out[FRAME_HDR_SIZE]);

/*
 * Parses and checks a header as far as a header alone can be checked:
 * magic, version, known type, reserved bytes zero, flags, device index and
 * length as the type allows, length <= @max_payload.  @frame_no (the
 * expected sequence number) names the frame in messages: "frame 17: ...".
 * -EPROTO, -EPROTONOSUPPORT (version) or -EMSGSIZE (length).
 */
int frame_hdr_decode(const uint8_t in[FRAME_HDR_SIZE], struct frame_hdr *h,
		     uint32_t max_payload, uint64_t frame_no, struct err *e);
/*
 * Checks a decoded frame against its raw header and payload (h->len
 * bytes): the CRC (-EBADMSG), then the sequence number (-EPROTO).
 */
int frame_check(const struct frame_hdr *h, const uint8_t raw[FRAME_HDR_SIZE],
		const void *payload, uint64_t expected_seq, struct err *e);
/* The same from the payload's CRC32C (frame_crc_join()). */
int frame_check_pcrc(const struct frame_hdr *h,
		     const uint8_t raw[FRAME_HDR_SIZE], uint32_t pcrc,
		     uint64_t expected_seq, struct err *e);

/*
 * A streaming reader: bytes in, in chunks of any size, checked frames out,
 * one at a time.  It holds at most one frame (header + max_payload bytes)
 * and never reads past the end of the current frame, so a caller can read
 * from a socket straight into it:
 *
 *	n = frame_reader_want(r, &p);	(bytes the current frame still needs)
 *	n = read(fd, p, n);
 *	rc = frame_reader_put(r, n, &f, e);  (1: f is a frame, 0: more, <0)
 *
 * or hand it what it has with frame_reader_feed().  A frame's payload stays
 * valid until the next call that takes bytes.  Any error is final: the
 * reader returns it again on every later call, and the peer is dropped.
 *
 * With a role, the reader also refuses what the peer may not send: a type
 * of the wrong direction, a first frame that is not the handshake, any
 * other frame before frame_reader_route() was called (the handshake was
 * accepted), control frames on a connection other than 0, and device
 * frames for a device that does not belong to this connection.
 */
struct frame_reader {
	enum frame_role	 role;
	uint32_t	 max_payload;
	uint64_t	 seq;		/* the next frame's expected number */
	uint8_t		 hdr[FRAME_HDR_SIZE];
	struct frame_hdr h;
	size_t		 have;		/* bytes of this frame, header included */
	bool		 ready;		/* a frame was returned; reset on next call */
	uint8_t		*buf;		/* payload */
	size_t		 cap;
	bool		 routed;
	bool		 no_crc;	/* frame_reader_no_crc() */
	uint16_t	 conn_index;
	uint16_t	 conn_count;
	uint16_t	 ndev;
	struct err	 err;		/* the final error, once err.code != 0 */
};

/* @max_payload is clamped to FRAME_PAYLOAD_CEIL; use FRAME_CTL_MAX until
 * the handshake is accepted. */
void frame_reader_init(struct frame_reader *r, enum frame_role role,
		       uint32_t max_payload);
void frame_reader_free(struct frame_reader *r);
/* After the handshake: this connection's place, the set's size, and the
 * payload limit from now on.  -EINVAL if they do not fit together. */
int frame_reader_route(struct frame_reader *r, unsigned int conn_index,
		       unsigned int conn_count, unsigned int ndev,
		       uint32_t max_payload);
/*
 * From the next frame on, frames carry no CRC: their CRC field must be 0
 * and f->pcrc is 0.  Only where the channel itself authenticates every
 * byte (TLS: an AEAD tag on each record), as the handshake agreed
 * (docs/protocol.md).
 */
void frame_reader_no_crc(struct frame_reader *r);
size_t frame_reader_want(struct frame_reader *r, void **ptr);
int frame_reader_put(struct frame_reader *r, size_t n, struct frame *f,
		     struct err *e);
/*
 * Takes bytes from @buf up to the end of the next frame; *used says how
 * many.  1: *f is a frame (call again with the rest), 0: all taken, no
 * frame yet, <0: error.
 */
int frame_reader_feed(struct frame_reader *r, const void *buf, size_t len,
		      size_t *used, struct frame *f, struct err *e);
/* Bytes the reader holds allocated (bounded by max_payload). */
size_t frame_reader_mem(const struct frame_reader *r);

/*
 * A device's stream digest: ((uint64_t)crc32c of all its DATA payload
 * bytes in order << 32) | (byte count & 0xffffffff).  On connections
 * without frame CRCs the CRC part is 0: the digest counts the bytes.
 */
struct frame_digest {
	uint32_t	 crc;
	uint64_t	 bytes;
};
void frame_digest_init(struct frame_digest *d);
void frame_digest_update(struct frame_digest *d, const void *buf, size_t len);
/* @len more bytes whose CRC32C is @pcrc (crc32c(0, buf, len)): no pass
   over them (a frame's f->pcrc). */
void frame_digest_add(struct frame_digest *d, uint32_t pcrc, size_t len);
uint64_t frame_digest_value(const struct frame_digest *d);

/* DEV_END payload: total bytes u64, digest u64, little-endian. */
void frame_dev_end_pack(uint8_t out[FRAME_DEV_END_SIZE], uint64_t bytes,
			uint64_t digest);
int frame_dev_end_unpack(const void *payload, size_t len, uint64_t *bytes,
			 uint64_t *digest, struct err *e);
/* Compares what arrived with what the source says; -EBADMSG with both
 * sides in the message, which starts with @dev_name. */
int frame_dev_end_verify(const struct frame_digest *got, uint64_t bytes,
			 uint64_t digest, const char *dev_name, struct err *e);

/*
 * Protobuf payloads.  The pack calls write into @buf (@cap bytes; -EMSGSIZE
 * if the message is larger than @cap or FRAME_CTL_MAX) and set *len.  The
 * unpack calls check what they decoded (the *_check calls below) and hand
 * back a message to free with the generated *__free_unpacked(m, NULL);
 * -EBADMSG if it does not parse.
 */
int frame_pack_msg(const ProtobufCMessage *m, void *buf, size_t cap,
		   size_t *len, struct err *e);
int frame_pack_abort(int error, const char *message, void *buf, size_t cap,
		     size_t *len, struct err *e);
int frame_unpack_hello(const void *payload, size_t len,
		       Vfiomig__Peer__Hello **out, struct err *e);
int frame_unpack_hello_reply(const void *payload, size_t len,
			     Vfiomig__Peer__HelloReply **out, struct err *e);
/* RESUMED's payload (HelloReply.vmm_resume): packed, unpacked. */
int frame_pack_resumed(uint64_t resume_us, bool timed_out, void *buf,
		       size_t cap, size_t *len, struct err *e);
int frame_unpack_resumed(const void *payload, size_t len, uint64_t *resume_us,
			 bool *timed_out, struct err *e);
int frame_unpack_abort(const void *payload, size_t len,
		       Vfiomig__Peer__Abort **out, struct err *e);

/*
 * A Hello is sane: version 1, or 2 with check_only (-EPROTONOSUPPORT
 * for another version, -EPROTO for check_only with the wrong one), a set name, a token of
 * FRAME_TOKEN_MIN..MAX bytes, 1..FRAME_MAX_CONNS connections and an index
 * below the count, 1..FRAME_MAX_DEVICES devices with index == position,
 * unique names, known backends and flags, no control characters in any
 * string.  -EPROTO otherwise.
 */
int frame_hello_check(const Vfiomig__Peer__Hello *h, struct err *e);
int frame_hello_reply_check(const Vfiomig__Peer__HelloReply *r,
			    struct err *e);
int frame_abort_check(const Vfiomig__Peer__Abort *a, struct err *e);
/* Another connection's Hello belongs to the same job as the first's: same
 * set, token, job id, count and devices, another index.  -EPROTO. */
int frame_hello_same_job(const Vfiomig__Peer__Hello *first,
			 const Vfiomig__Peer__Hello *other, struct err *e);
/* Two device lists describe the same devices (name, index, flags, backend,
 * identity), e.g. the source's against the destination's.  -ENODEV with
 * the first difference. */
int frame_devices_match(Vfiomig__Peer__Device *const *a, size_t na,
			Vfiomig__Peer__Device *const *b, size_t nb,
			struct err *e);
/*
 * The aspects frame_devices_match() compares, one by one (the pre-flight
 * check reports each): the count; a device's name (the order);
 * capability flags and backend; identity.  -ENODEV with the difference,
 * in the words a refused migration uses.
 */
int frame_devices_count_match(size_t na, size_t nb, struct err *e);
int frame_device_match_name(const Vfiomig__Peer__Device *a,
			    const Vfiomig__Peer__Device *b, struct err *e);
int frame_device_match_caps(const Vfiomig__Peer__Device *a,
			    const Vfiomig__Peer__Device *b, struct err *e);
/*
 * Whether two identities (dset_make_identity()) are of the same device:
 * the same first token ("vfio:VVVV:DDDD", "sim:SIZE"), and the same value
 * for every KEY=VALUE both hold; a key only one side holds is not
 * compared (its host could not see it: a device handed over by fd).
 */
bool frame_identity_agree(const char *a, const char *b);
int frame_device_match_identity(const Vfiomig__Peer__Device *a,
				const Vfiomig__Peer__Device *b,
				struct err *e);
/* Compares two tokens in time independent of where they differ. */
bool frame_token_equal(const void *a, size_t alen, const void *b,
		       size_t blen);

#endif
