/*
 * fuzz_frame.c: libFuzzer harness of the migration channel's frame
 * decoder (frame.c): the input is a byte stream as a peer would send it,
 * cut into chunks (the first byte chooses the role and the chunk size),
 * fed to a frame_reader; every frame that comes out is decoded as its
 * type says (HELLO, HELLO_REPLY, ABORT, DEV_END), and after the first
 * frame the reader is routed as an accepted handshake would route it.
 * Pure: no sockets, no threads.  tests/fuzz/README.md: how to run it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode(const struct frame *f)
{
	Vfiomig__Peer__Hello *h;
	Vfiomig__Peer__HelloReply *r;
	Vfiomig__Peer__Abort *a;
	uint64_t bytes, digest;
	struct frame_digest dg;
	struct err e;

	switch (f->h.type) {
	case FRAME_HELLO:
		if (frame_unpack_hello(f->payload, f->h.len, &h, &e) == 0)
			vfiomig__peer__hello__free_unpacked(h, NULL);
		break;
	case FRAME_HELLO_REPLY:
		if (frame_unpack_hello_reply(f->payload, f->h.len, &r, &e) == 0)
			vfiomig__peer__hello_reply__free_unpacked(r, NULL);
		break;
	case FRAME_ABORT:
		if (frame_unpack_abort(f->payload, f->h.len, &a, &e) == 0)
			vfiomig__peer__abort__free_unpacked(a, NULL);
		break;
	case FRAME_DEV_END:
		if (frame_dev_end_unpack(f->payload, f->h.len, &bytes, &digest,
		    &e) == 0) {
			frame_digest_init(&dg);
			frame_dev_end_verify(&dg, bytes, digest, "dev", &e);
		}
		break;
	case FRAME_DATA:
		frame_digest_init(&dg);
		frame_digest_update(&dg, f->payload, f->h.len);
		(void)frame_digest_value(&dg);
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_reader rd;
	struct frame f;
	struct err e;
	size_t off = 1, used, chunk;
	int rc, nframes = 0;

	if (size < 1)
		return 0;
	frame_reader_init(&rd, (enum frame_role)(data[0] % 3),
	    FRAME_CTL_MAX);
	chunk = 1 + (data[0] >> 2) * 97;
	while (off < size) {
		rc = frame_reader_feed(&rd, data + off, MIN(chunk, size - off),
		    &used, &f, &e);
		off += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			decode(&f);
			if (nframes++ == 0)
				(void)frame_reader_route(&rd, 0, 1 + data[0] % 4,
				    1 + data[0] % 7, FRAME_PAYLOAD_MAX);
		}
		if (rc == 0 && used == 0)
			break;
	}
	frame_reader_free(&rd);
	return 0;
}
