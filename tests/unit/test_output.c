/*
 * test_output.c: vfiomigctl's JSON (cli/output.c) by protobuf's JSON
 * mapping, for the types the control API's messages do not use (signed
 * 64-bit, bytes, float and double, an enum value without a name) through
 * a message descriptor made here, and json_name as protoc makes it.
 * cli-json.sh checks the control API's messages against protobuf's own
 * parser.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/output.h"

struct t_msg {
	ProtobufCMessage base;
	protobuf_c_boolean has_neg;
	int64_t neg;
	protobuf_c_boolean has_big;
	uint64_t big;
	protobuf_c_boolean has_blob;
	ProtobufCBinaryData blob;
	protobuf_c_boolean has_nan_;
	double nan_;
	protobuf_c_boolean has_inf;
	float inf;
	protobuf_c_boolean has_half;
	double half;
	protobuf_c_boolean has_e_known;
	int e_known;
	protobuf_c_boolean has_e_unknown;
	int e_unknown;
	protobuf_c_boolean has_small;
	uint32_t small;
	protobuf_c_boolean has_absent;
	uint64_t absent;
};

#define T_FIELD(n, id, type, f, desc) { n, id, PROTOBUF_C_LABEL_OPTIONAL, \
	type, offsetof(struct t_msg, has_##f), offsetof(struct t_msg, f), \
	desc, NULL, 0, 0, NULL, NULL }

static const ProtobufCFieldDescriptor t_fields[] = {
	T_FIELD("neg_value", 1, PROTOBUF_C_TYPE_SINT64, neg, NULL),
	T_FIELD("big", 2, PROTOBUF_C_TYPE_FIXED64, big, NULL),
	T_FIELD("blob", 3, PROTOBUF_C_TYPE_BYTES, blob, NULL),
	T_FIELD("nan_", 4, PROTOBUF_C_TYPE_DOUBLE, nan_, NULL),
	T_FIELD("inf", 5, PROTOBUF_C_TYPE_FLOAT, inf, NULL),
	T_FIELD("half", 6, PROTOBUF_C_TYPE_DOUBLE, half, NULL),
	T_FIELD("e_known", 7, PROTOBUF_C_TYPE_ENUM, e_known,
	    &vfiomig__v1__set_status__descriptor),
	T_FIELD("e_unknown", 8, PROTOBUF_C_TYPE_ENUM, e_unknown,
	    &vfiomig__v1__set_status__descriptor),
	T_FIELD("small", 9, PROTOBUF_C_TYPE_UINT32, small, NULL),
	T_FIELD("absent", 10, PROTOBUF_C_TYPE_UINT64, absent, NULL),
};

static const ProtobufCMessageDescriptor t_desc = {
	.magic = PROTOBUF_C__MESSAGE_DESCRIPTOR_MAGIC,
	.name = "t.Msg",
	.short_name = "Msg",
	.c_name = "TMsg",
	.package_name = "t",
	.sizeof_message = sizeof(struct t_msg),
	.n_fields = sizeof t_fields / sizeof t_fields[0],
	.fields = t_fields,
};

/* @m in JSON, on one line as vfiomigctl prints it, is @want. */
static void
expect_json(const struct t_msg *m, const char *want)
{
	struct json_object *o;
	char got[512];

	o = output_pb_json(&m->base);
	snprintf(got, sizeof got, "%s", json_object_to_json_string_ext(o,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	assert_string_equal(got, want);
}

static void
test_types(void **state)
{
	uint8_t blob[] = { 'h', 'e', 'l', 'l', 'o', 0xff };
	struct t_msg m;

	(void)state;
	memset(&m, 0, sizeof m);
	m.base.descriptor = &t_desc;
	m.has_neg = m.has_big = m.has_blob = m.has_nan_ = m.has_inf = true;
	m.has_half = m.has_e_known = m.has_e_unknown = m.has_small = true;
	m.neg = -9007199254740993;		/* -(2^53 + 1) */
	m.big = 18446744073709551615u;
	m.blob.data = blob;
	m.blob.len = sizeof blob;
	m.nan_ = NAN;
	m.inf = -INFINITY;
	m.half = 0.5;
	m.e_known = VFIOMIG__V1__SET_STATUS__SET_STATUS_MIGRATING_OUT;
	m.e_unknown = 99;
	m.small = 4000000000u;
	m.absent = 7;		/* has_absent false: left out */
	expect_json(&m, "{\"negValue\":\"-9007199254740993\","
	    "\"big\":\"18446744073709551615\",\"blob\":\"aGVsbG//\","
	    "\"nan\":\"NaN\",\"inf\":\"-Infinity\",\"half\":0.5,"
	    "\"eKnown\":\"SET_STATUS_MIGRATING_OUT\",\"eUnknown\":99,"
	    "\"small\":4000000000}");

	/* Base64's padding: 1 and 2 bytes, and none. */
	memset(&m, 0, sizeof m);
	m.base.descriptor = &t_desc;
	m.has_blob = true;
	m.blob.data = blob;
	m.blob.len = 1;
	expect_json(&m, "{\"blob\":\"aA==\"}");
	m.blob.len = 2;
	expect_json(&m, "{\"blob\":\"aGU=\"}");
	m.blob.len = 0;
	expect_json(&m, "{\"blob\":\"\"}");
	/* A field that is present is printed, even when 0. */
	m.has_absent = true;
	expect_json(&m, "{\"blob\":\"\",\"absent\":\"0\"}");
}

/* protoc's ToJsonName: "_" dropped, the next character upper-cased. */
static void
test_json_name(void **state)
{
	static const char *cases[][2] = {
		{ "job_id", "jobId" },
		{ "p2p_lost", "p2pLost" },
		{ "allow_non_p2p", "allowNonP2p" },
		{ "set", "set" },
		{ "a__b", "aB" },
		{ "trailing_", "trailing" },
		{ "_lead", "Lead" },
	};
	char buf[64], small[4];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++)
		assert_string_equal(output_json_name(cases[i][0], buf,
		    sizeof buf), cases[i][1]);
	/* Cut to the buffer, NUL-terminated. */
	assert_string_equal(output_json_name("bytes_total", small,
	    sizeof small), "byt");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_json_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
