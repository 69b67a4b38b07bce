/*
 * fuzz_hello.c: libFuzzer harness of the handshake's parsing and checks
 * (frame.c, pbcheck.c): the input is a protobuf payload.  It is decoded
 * as Hello (with frame_hello_check(), its devices compared with a fixed
 * list and with themselves), as HelloReply and as Abort, each after
 * pbcheck_strings() on the wire bytes, as the destination's handshake does.
 * Pure.  tests/fuzz/README.md: how to run it.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "pbcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A destination's set of two devices. */
static Vfiomig__Peer__Device dev0 = VFIOMIG__PEER__DEVICE__INIT;
static Vfiomig__Peer__Device dev1 = VFIOMIG__PEER__DEVICE__INIT;
static Vfiomig__Peer__Device *devs[2] = { &dev0, &dev1 };

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Vfiomig__Peer__HelloReply *r;
	Vfiomig__Peer__Abort *a;
	Vfiomig__Peer__Hello *h;
	struct err e;

	dev0.name = "sim0";
	dev0.flags = 7;
	dev0.backend = "sim";
	dev0.identity = "sim:1048576";
	dev1 = dev0;
	dev1.name = "sim1";
	dev1.index = 1;
	(void)pbcheck_strings(&vfiomig__peer__hello__descriptor, data, size,
	    &e);
	if (frame_unpack_hello(data, size, &h, &e) == 0) {
		(void)frame_devices_match(h->devices, h->n_devices, devs, 2,
		    &e);
		(void)frame_hello_same_job(h, h, &e);
		(void)frame_token_equal(h->token.data, h->token.len,
		    "0123456789abcdef-vm1-token", 26);
		vfiomig__peer__hello__free_unpacked(h, NULL);
	}
	if (frame_unpack_hello_reply(data, size, &r, &e) == 0) {
		(void)frame_devices_match(devs, 2, r->devices, r->n_devices,
		    &e);
		vfiomig__peer__hello_reply__free_unpacked(r, NULL);
	}
	if (frame_unpack_abort(data, size, &a, &e) == 0)
		vfiomig__peer__abort__free_unpacked(a, NULL);
	return 0;
}
