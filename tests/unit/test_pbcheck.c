/*
 * test_pbcheck.c: the string checks (util.c str_check, pbcheck.c): strict
 * UTF-8 and NUL bytes over a table; pbcheck_strings() on messages packed by
 * protobuf-c (control Request, peer Hello) with NUL bytes and bad UTF-8
 * patched in, bytes fields left alone, unknown fields skipped, malformed
 * wire bytes refused, the depth limit on a self-nesting descriptor, and
 * every prefix, mutations and random bytes without a crash.
 *
 * No daemon, no sockets: bytes and descriptors only.
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

#include "pbcheck.h"
#include "util.h"
#include "proto/vfiomig-ctl.pb-c.h"
#include "proto/vfiomig-peer.pb-c.h"
#include "testrng.h"

#define BUF_MAX		1024

static const ProtobufCMessageDescriptor *const req_desc =
    &vfiomig__v1__request__descriptor;
static const ProtobufCMessageDescriptor *const hello_desc =
    &vfiomig__peer__hello__descriptor;

/* pbcheck_strings() on an exact-size heap copy, so ASan sees overreads. */
static int
check(const ProtobufCMessageDescriptor *d, const uint8_t *buf, size_t len,
    struct err *e)
{
	uint8_t *copy = malloc(len ? len : 1);
	int rc;

	assert_non_null(copy);
	if (len > 0)
		memcpy(copy, buf, len);
	err_clear(e);
	rc = pbcheck_strings(d, copy, len, e);
	free(copy);
	return rc;
}

/* The result is -@code and the message is exactly @msg. */
static void
expect_err(int rc, const struct err *e, int code, const char *msg)
{
	if (rc != -code || strcmp(e->msg, msg) != 0)
		print_error("rc %d (want %d), message \"%s\" (want \"%s\")\n",
		    rc, -code, e->msg, msg);
	assert_int_equal(rc, -code);
	assert_int_equal(e->code, code);
	assert_string_equal(e->msg, msg);
}

/* Replaces the one @from byte inside the first @mark in @buf by @to. */
static void
patch(uint8_t *buf, size_t len, const char *mark, char from, char to)
{
	size_t n = strlen(mark), i;
	const char *at = strchr(mark, from);

	assert_non_null(at);
	for (i = 0; i + n <= len; i++) {
		if (memcmp(buf + i, mark, n) == 0) {
			buf[i + (size_t)(at - mark)] = (uint8_t)to;
			return;
		}
	}
	fail_msg("\"%s\" not in the packed message", mark);
}

static size_t
pack(const ProtobufCMessage *m, uint8_t *buf)
{
	size_t n = protobuf_c_message_get_packed_size(m);

	assert_true(n <= BUF_MAX);
	assert_int_equal(protobuf_c_message_pack(m, buf), n);
	return n;
}

/*
 * A Request { id 7, create_set { @set, token, devices [ @dev0 (sim),
 * @dev1 (group @group) ] } }, packed into @buf.
 */
static size_t
pack_create(uint8_t *buf, const char *set, const char *dev0, const char *dev1,
    const char *group)
{
	Vfiomig__V1__Request req = VFIOMIG__V1__REQUEST__INIT;
	Vfiomig__V1__CreateSetRequest cs =
	    VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec d0 = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Vfiomig__V1__DeviceSpec d1 = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Vfiomig__V1__DeviceSpec *devs[] = { &d0, &d1 };
	Vfiomig__V1__SimParams sim = VFIOMIG__V1__SIM_PARAMS__INIT;
	Vfiomig__V1__VfioGroup grp = VFIOMIG__V1__VFIO_GROUP__INIT;

	sim.has_state_size = 1;
	sim.state_size = 1u << 20;
	sim.has_seed = 1;
	sim.seed = 0x0123456789abcdefull;
	d0.name = (char *)dev0;
	d0.backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM;
	d0.sim = &sim;
	grp.group = (char *)"/dev/vfio/12";
	grp.device = (char *)group;
	d1.name = (char *)dev1;
	d1.backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_GROUP;
	d1.group = &grp;
	cs.name = (char *)set;
	cs.has_allow_non_p2p = 1;
	cs.token = (char *)"s\xc3\xa9" "cret-\xe2\x82\xac-\xf0\x9f\x94\x91-tok";
	cs.n_devices = 2;
	cs.devices = devs;
	req.has_id = 1;
	req.id = 7;
	req.body_case = VFIOMIG__V1__REQUEST__BODY_CREATE_SET;
	req.create_set = &cs;
	return pack(&req.base, buf);
}

/* A peer Hello for set @set with one device whose identity is @ident. */
static size_t
pack_hello(uint8_t *buf, const char *set, const char *ident,
    const uint8_t *token, size_t tlen)
{
	Vfiomig__Peer__Hello h = VFIOMIG__PEER__HELLO__INIT;
	Vfiomig__Peer__Device dev = VFIOMIG__PEER__DEVICE__INIT;
	Vfiomig__Peer__Device *devs[] = { &dev };

	dev.name = (char *)"dev0";
	dev.backend = (char *)"sim";
	dev.identity = (char *)ident;
	h.version = 1;
	h.set_name = (char *)set;
	h.token.data = (uint8_t *)token;
	h.token.len = tlen;
	h.job_id = 77;
	h.conn_count = 1;
	h.n_devices = 1;
	h.devices = devs;
	return pack(&h.base, buf);
}

static void
test_str_check(void **state)
{
	static const struct {
		const char	*s;
		size_t		 len;
		const char	*want;
	} cases[] = {
#define OK(s)		{ s, sizeof s - 1, NULL }
#define NUL(s)		{ s, sizeof s - 1, "holds a NUL byte" }
#define BAD(s)		{ s, sizeof s - 1, "is not valid UTF-8" }
		OK(""),
		OK("vm1"),
		OK("0000:3b:00.0 /dev/vfio/12 ~!@#$%^&*()\x7f"),
		OK("\xc2\x80"),			/* U+0080, the first 2-byte */
		OK("caf\xc3\xa9"),		/* U+00E9 */
		OK("\xdf\xbf"),			/* U+07FF */
		OK("\xe0\xa0\x80"),		/* U+0800, the first 3-byte */
		OK("\xe2\x82\xac"),		/* U+20AC */
		OK("\xed\x9f\xbf"),		/* U+D7FF, below surrogates */
		OK("\xee\x80\x80"),		/* U+E000, above them */
		OK("\xef\xbf\xbf"),		/* U+FFFF */
		OK("\xf0\x90\x80\x80"),		/* U+10000, the first 4-byte */
		OK("\xf0\x9f\x94\x91"),		/* U+1F511 */
		OK("\xf4\x8f\xbf\xbf"),		/* U+10FFFF, the last */
		OK("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x94\x91z"),
		NUL("\0vm1"),
		NUL("vm1\0x"),
		NUL("vm1\0"),
		NUL("\0"),
		NUL("\xff\0"),			/* the NUL is reported first */
		BAD("\xc0\x80"),		/* overlong U+0000 */
		BAD("\xc1\xbf"),		/* overlong U+007F */
		BAD("\xe0\x80\x80"),		/* overlong U+0000 */
		BAD("\xe0\x9f\xbf"),		/* overlong U+07FF */
		BAD("\xf0\x8f\xbf\xbf"),	/* overlong U+FFFF */
		BAD("\xed\xa0\x80"),		/* U+D800 */
		BAD("\xed\xbf\xbf"),		/* U+DFFF */
		BAD("\xf4\x90\x80\x80"),	/* U+110000 */
		BAD("\xf5\x80\x80\x80"),
		BAD("\xf7\xbf\xbf\xbf"),
		BAD("\xf8\x88\x80\x80\x80"),	/* 5-byte form */
		BAD("\xfe"),
		BAD("\xff"),
		BAD("\xe2\x82"),		/* truncated */
		BAD("\xf0\x9f\x94"),
		BAD("\xc3"),
		BAD("ok\xe2\x82"),
		BAD("\x80"),			/* lone continuation */
		BAD("a\xbf" "b"),
		BAD("\xc3\xa9\xa9"),
		BAD("\xe2\x28\xa1"),		/* bad continuation */
		BAD("\xc3("),
		BAD("\xf0\x9f\x94("),
#undef OK
#undef NUL
#undef BAD
	};
	const char *got;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		got = str_check(cases[i].s, cases[i].len);
		if (got == cases[i].want ||
		    (got != NULL && cases[i].want != NULL &&
		    strcmp(got, cases[i].want) == 0))
			continue;
		fail_msg("case %zu: \"%s\", want \"%s\"", i,
		    got ? got : "(null)",
		    cases[i].want ? cases[i].want : "(null)");
	}
	assert_null(str_check(NULL, 0));
}

static void
test_valid(void **state)
{
	static const uint8_t token[] = { 0, 1, 2 };
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n;

	(void)state;
	n = pack_create(buf, "vm1", "dev0", "gpu-\xc3\xa9", "0000:3b:00.0");
	assert_int_equal(check(req_desc, buf, n, &e), 0);
	assert_int_equal(pbcheck_strings(req_desc, buf, n, NULL), 0);
	n = pack_hello(buf, "vm1", "sim:1048576", token, sizeof token);
	assert_int_equal(check(hello_desc, buf, n, &e), 0);
	assert_int_equal(check(req_desc, buf, 0, &e), 0);
	assert_int_equal(pbcheck_strings(req_desc, NULL, 0, &e), 0);
}

/* The truncation that pbcheck exists for, and its refusal. */
static void
test_nul_in_name(void **state)
{
	static const uint8_t raw[] = {
		0x62, 0x07,			/* 12 create_set, 7 bytes */
		0x0a, 0x05, 'v', 'm', '1', 0, 'x'	/* 1 name */
	};
	Vfiomig__V1__Request *req;
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n;

	(void)state;
	n = pack_create(buf, "vm1#x", "dev0", "dev1", "0000:3b:00.0");
	patch(buf, n, "vm1#x", '#', '\0');
	req = vfiomig__v1__request__unpack(NULL, n, buf);
	assert_non_null(req);
	assert_string_equal(req->create_set->name, "vm1");
	vfiomig__v1__request__free_unpacked(req, NULL);
	expect_err(check(req_desc, buf, n, &e), &e, EINVAL,
	    "create_set.name: holds a NUL byte");
	expect_err(check(req_desc, raw, sizeof raw, &e), &e, EINVAL,
	    "create_set.name: holds a NUL byte");
	assert_int_equal(pbcheck_strings(req_desc, raw, sizeof raw, NULL),
	    -EINVAL);
}

static void
test_nested_paths(void **state)
{
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n;

	(void)state;
	/* The second of the repeated devices. */
	n = pack_create(buf, "vm1", "dev0", "dev\xff", "0000:3b:00.0");
	expect_err(check(req_desc, buf, n, &e), &e, EINVAL,
	    "create_set.devices.name: is not valid UTF-8");
	/* The first. */
	n = pack_create(buf, "vm1", "d\xed\xa0\x80", "dev1", "0000:3b:00.0");
	expect_err(check(req_desc, buf, n, &e), &e, EINVAL,
	    "create_set.devices.name: is not valid UTF-8");
	/* Three levels down, in a oneof. */
	n = pack_create(buf, "vm1", "dev0", "dev1", "0000:3b:00.0#");
	patch(buf, n, "0000:3b:00.0#", '#', '\0');
	expect_err(check(req_desc, buf, n, &e), &e, EINVAL,
	    "create_set.devices.group.device: holds a NUL byte");
	n = pack_create(buf, "vm1", "dev0", "dev1", "0000:3b:00.\xc0\xae");
	expect_err(check(req_desc, buf, n, &e), &e, EINVAL,
	    "create_set.devices.group.device: is not valid UTF-8");
}

static void
test_hello(void **state)
{
	static const uint8_t token[] = {
		0x00, 0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0x00,
		0xf4, 0x90, 0x80, 0x80, 0xe2, 0x82, 0x00, 0x80
	};
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n;

	(void)state;
	/* token is bytes: anything goes. */
	n = pack_hello(buf, "vm1", "sim:1048576", token, sizeof token);
	assert_int_equal(check(hello_desc, buf, n, &e), 0);
	n = pack_hello(buf, "vm1#x", "sim:1048576", token, sizeof token);
	patch(buf, n, "vm1#x", '#', '\0');
	expect_err(check(hello_desc, buf, n, &e), &e, EINVAL,
	    "set_name: holds a NUL byte");
	n = pack_hello(buf, "vm1", "sim:\xf4\x90\x80\x80", token, 3);
	expect_err(check(hello_desc, buf, n, &e), &e, EINVAL,
	    "devices.identity: is not valid UTF-8");
}

/* Unknown numbers of every wire type, and known ones that are no string. */
static void
test_skipped(void **state)
{
	static const uint8_t tail[] = {
		0x9a, 0x06, 0x03, 0x00, 0xff, 0xc0,	/* 99, 3 bytes */
		0xa0, 0x06, 0xff, 0xff, 0x03,		/* 100, varint */
		0xa9, 0x06, 0, 0, 0, 0, 0, 0, 0, 0,	/* 101, 64-bit */
		0xb5, 0x06, 0xff, 0, 0xff, 0,		/* 102, 32-bit */
		0x82, 0xa4, 0xe8, 0x03, 0x01, 0x00,	/* 1000000, 1 byte */
		0xfa, 0xff, 0xff, 0xff, 0x0f, 0x00	/* 2^29 - 1, empty */
	};
	static const uint8_t nested[] = {
		0x62, 0x07,				/* 12 create_set */
		0x0a, 0x01, 'a',			/* 1 name */
		0x7a, 0x02, 0x00, 0xff,			/* 15, unknown */
		0x52, 0x04,				/* 10 hello */
		0x0a, 0x02, 0x01, 0x02,			/* 1 versions, packed */
		0x5a, 0x02,				/* 11 list */
		0x08, 0x00,				/* 1 set, as a varint */
		0x62, 0x04,				/* 12 create_set */
		0x22, 0x02,				/* 4 devices */
		0x28, 0x01,				/* 5 fd, as a varint */
	};
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n;

	(void)state;
	n = pack_create(buf, "vm1", "dev0", "dev1", "0000:3b:00.0");
	memcpy(buf + n, tail, sizeof tail);
	assert_int_equal(check(req_desc, buf, n + sizeof tail, &e), 0);
	assert_int_equal(check(req_desc, nested, sizeof nested, &e), 0);
}

static void
test_malformed(void **state)
{
	static const struct {
		uint8_t		 b[16];
		size_t		 len;
		const char	*msg;
	} cases[] = {
		{ { 0x80 }, 1, "truncated tag at byte 0" },
		{ { 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x80, 0x01 }, 11, "truncated tag at byte 0" },
		{ { 0x08, 0x80 }, 2, "field 1: truncated varint at byte 0" },
		{ { 0x08, 0x07, 0x08 }, 3,
		    "field 1: truncated varint at byte 2" },
		{ { 0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		    0x80, 0x80, 0x01 }, 12,
		    "field 1: truncated varint at byte 0" },
		{ { 0xa9, 0x06, 1, 2, 3, 4, 5, 6, 7 }, 9,
		    "field 101: truncated value at byte 0" },
		{ { 0xb5, 0x06, 1, 2, 3 }, 5,
		    "field 102: truncated value at byte 0" },
		{ { 0x62 }, 1, "field 12: truncated length at byte 0" },
		{ { 0x62, 0x80 }, 2, "field 12: truncated length at byte 0" },
		{ { 0x62, 0x05, 0x0a, 0x01, 'a' }, 5,
		    "field 12: length past the end at byte 0" },
		{ { 0x62, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x01, 'a' }, 12,
		    "field 12: length past the end at byte 0" },
		{ { 0x62, 0x03, 0x0a, 0x05, 'a', 'b', 'c', 'd', 'e' }, 9,
		    "create_set: field 1: length past the end at byte 2" },
		{ { 0x62, 0x04, 0x22, 0x02, 0x22, 0x09 }, 6,
		    "create_set.devices: field 4: length past the end "
		    "at byte 4" },
		{ { 0x62, 0x02, 0x0a, 0x80, 0x00 }, 5,
		    "create_set: field 1: truncated length at byte 2" },
		{ { 0x02, 0x00 }, 2, "field number 0 at byte 0" },
		{ { 0x00 }, 1, "field number 0 at byte 0" },
		{ { 0x80, 0x80, 0x80, 0x80, 0x10, 0x00 }, 6,
		    "field number 536870912 at byte 0" },
		{ { 0x0b, 0x0c }, 2,
		    "field 1: groups are not supported at byte 0" },
		{ { 0x08, 0x01, 0x0c }, 3,
		    "field 1: groups are not supported at byte 2" },
		{ { 0x0e }, 1, "field 1: bad wire type at byte 0" },
		{ { 0x62, 0x01, 0x0f }, 3,
		    "create_set: field 1: bad wire type at byte 2" },
	};
	struct err e;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		expect_err(check(req_desc, cases[i].b, cases[i].len, &e), &e,
		    EBADMSG, cases[i].msg);
	}
}

/* Cut anywhere but between fields, a packed message is malformed. */
static void
test_truncated(void **state)
{
	uint8_t buf[BUF_MAX];
	struct err e;
	size_t n, i;
	int rc;

	(void)state;
	n = pack_create(buf, "vm1", "dev0", "dev1", "0000:3b:00.0");
	assert_int_equal(buf[0], 0x08);		/* id 7, 2 bytes */
	assert_int_equal(buf[2], 0x62);		/* then create_set */
	for (i = 0; i < n; i++) {
		rc = check(req_desc, buf, i, &e);
		if (i == 0 || i == 2)
			assert_int_equal(rc, 0);
		else
			assert_int_equal(rc, -EBADMSG);
	}
}

/*
 * A self-nesting message: Node { optional Node child = 1; optional string
 * name = 2; }, written by hand as protoc-c would.
 */
static const ProtobufCMessageDescriptor node_desc;
static const ProtobufCFieldDescriptor node_fields[] = {
	{ .name = "child", .id = 1, .label = PROTOBUF_C_LABEL_OPTIONAL,
	  .type = PROTOBUF_C_TYPE_MESSAGE, .descriptor = &node_desc },
	{ .name = "name", .id = 2, .label = PROTOBUF_C_LABEL_OPTIONAL,
	  .type = PROTOBUF_C_TYPE_STRING },
};
static const unsigned node_by_name[] = { 0, 1 };
static const ProtobufCIntRange node_ranges[] = { { 1, 0 }, { 0, 2 } };
static const ProtobufCMessageDescriptor node_desc = {
	.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	.name = "test.Node",
	.short_name = "Node",
	.c_name = "Node",
	.package_name = "test",
	.sizeof_message = sizeof(ProtobufCMessage),
	.n_fields = 2,
	.fields = node_fields,
	.fields_sorted_by_name = node_by_name,
	.n_field_ranges = 1,
	.field_ranges = node_ranges,
};

/* @depth children around a name @name; returns where it starts in @buf. */
static const uint8_t *
nest(uint8_t *buf, size_t size, unsigned depth, const char *name, size_t *len)
{
	size_t nl = strlen(name), n = nl + 2;
	uint8_t *p = buf + size - n;

	assert_true(nl < 128);
	p[0] = 0x12;
	p[1] = (uint8_t)nl;
	memcpy(p + 2, name, nl);
	for (; depth > 0; depth--) {
		assert_true(n < 128 && n + 2 <= size);
		p -= 2;
		p[0] = 0x0a;
		p[1] = (uint8_t)n;
		n += 2;
	}
	*len = n;
	return p;
}

static void
test_depth(void **state)
{
	char want[512] = "";
	uint8_t buf[256];
	const uint8_t *p;
	struct err e;
	size_t n;
	unsigned i;

	(void)state;
	p = nest(buf, sizeof buf, PBCHECK_DEPTH_MAX, "ok", &n);
	assert_int_equal(check(&node_desc, p, n, &e), 0);
	p = nest(buf, sizeof buf, PBCHECK_DEPTH_MAX, "o\xff", &n);
	for (i = 0; i < PBCHECK_DEPTH_MAX; i++)
		strcat(want, "child.");
	strcat(want, "name: is not valid UTF-8");
	expect_err(check(&node_desc, p, n, &e), &e, EINVAL, want);
	p = nest(buf, sizeof buf, PBCHECK_DEPTH_MAX + 1, "ok", &n);
	want[0] = '\0';
	for (i = 0; i < PBCHECK_DEPTH_MAX; i++)
		strcat(want, i ? ".child" : "child");
	strcat(want, ": child: nested deeper than 32 at byte 66");
	expect_err(check(&node_desc, p, n, &e), &e, EBADMSG, want);
}

static void
expect_verdict(const ProtobufCMessageDescriptor *d, const uint8_t *buf,
    size_t len)
{
	struct err e;
	int rc = check(d, buf, len, &e);

	if (rc != 0 && rc != -EINVAL && rc != -EBADMSG)
		fail_msg("rc %d on %zu bytes", rc, len);
	if (rc != 0 && e.msg[0] == '\0')
		fail_msg("rc %d without a message", rc);
}

/* Prefixes, mutations and random bytes: a verdict, never a crash. */
static void
test_garbage(void **state)
{
	static const ProtobufCMessageDescriptor *const descs[] = {
		&vfiomig__v1__request__descriptor,
		&vfiomig__peer__hello__descriptor,
		&vfiomig__v1__response__descriptor,
		&node_desc,
	};
	static const uint8_t token[] = { 0, 1, 2, 3 };
	uint8_t msgs[2][BUF_MAX], buf[BUF_MAX];
	size_t lens[2], i, j, k, n;

	(void)state;
	rng_seed(0x7062636865636b);
	lens[0] = pack_create(msgs[0], "vm1", "dev0", "gpu-\xc3\xa9",
	    "0000:3b:00.0");
	lens[1] = pack_hello(msgs[1], "vm1", "sim:1048576", token,
	    sizeof token);
	for (i = 0; i < 2; i++)
		for (j = 0; j <= lens[i]; j++)
			for (k = 0; k < ARRAY_SIZE(descs); k++)
				expect_verdict(descs[k], msgs[i], j);
	/* Valid messages with a few bytes changed. */
	for (i = 0; i < 4000; i++) {
		n = lens[i & 1];
		memcpy(buf, msgs[i & 1], n);
		for (j = rng_next() % 4 + 1; j > 0; j--)
			buf[rng_next() % n] = (uint8_t)(rng_next() >> 56);
		n -= rng_next() % 4 == 0 ? rng_next() % n : 0;
		expect_verdict(descs[rng_next() % ARRAY_SIZE(descs)], buf, n);
	}
	/* Random bytes, some biased towards small tags and lengths. */
	for (i = 0; i < 4000; i++) {
		n = rng_next() % 96;
		for (j = 0; j < n; j++) {
			buf[j] = (uint8_t)(rng_next() >> 56);
			if (i & 1)
				buf[j] &= 0x7f;
		}
		for (k = 0; k < ARRAY_SIZE(descs); k++)
			expect_verdict(descs[k], buf, n);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_str_check),
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_nul_in_name),
		cmocka_unit_test(test_nested_paths),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_skipped),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_garbage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
