/*
 * pbcheck.c: the string check of packed protobuf messages (pbcheck.h).  It
 * reads the wire format itself (varint tags; wire types 0, 1, 2 and 5),
 * follows the descriptors into nested messages and hands every `string`
 * field's bytes to str_check().
 *
 * Pure: no I/O, no libevent, no allocation.  It does not unpack, and it
 * checks nothing but strings and the framing that leads to them: required
 * fields, wire types that do not match the schema and the values of
 * scalars are protobuf-c's or the caller's business.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "pbcheck.h"

#define PB_FIELD_MAX	0x1fffffffu	/* 2^29 - 1, the largest field number */
#define PB_VARINT_MAX	10		/* bytes of a 64-bit varint */

/* One walk: the top message's first byte and the names down to here. */
struct pbwalk {
	const uint8_t	*base;
	const char	*path[PBCHECK_DEPTH_MAX];
	unsigned	 depth;		/* names in path */
	struct err	*e;
};

/* The dotted field names down to here, then @leaf (may be NULL). */
static const char *
pb_path(const struct pbwalk *w, const char *leaf, char *buf, size_t size)
{
	size_t n = 0;
	unsigned i;
	int r;

	buf[0] = '\0';
	for (i = 0; i <= w->depth && n < size; i++) {
		const char *name = i < w->depth ? w->path[i] : leaf;

		if (name == NULL)
			break;
		r = snprintf(buf + n, size - n, "%s%s", n ? "." : "", name);
		if (r < 0)
			break;
		n += (size_t)r;
	}
	return buf;
}

/* -EBADMSG: "PATH: WHAT at byte N" (no "PATH: " in the top message). */
static int PRINTFLIKE(3, 4)
pb_bad(const struct pbwalk *w, const uint8_t *at, const char *fmt, ...)
{
	char path[256], what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	pb_path(w, NULL, path, sizeof path);
	return err_set(w->e, EBADMSG, "%s%s%s at byte %zu", path,
	    path[0] ? ": " : "", what, (size_t)(at - w->base));
}

/* Reads a varint from *@p (< @end) into @v and moves *@p past it. */
static int
pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	uint64_t r = 0;
	unsigned i;

	for (i = 0; i < PB_VARINT_MAX && *p < end; i++) {
		uint8_t b = *(*p)++;

		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return 0;
		}
	}
	return -EBADMSG;
}

static int pb_walk(struct pbwalk *w, const ProtobufCMessageDescriptor *d,
    const uint8_t *p, const uint8_t *end);

/* A length-delimited field's @n bytes at @p: a string, a message or else. */
static int
pb_field(struct pbwalk *w, const ProtobufCFieldDescriptor *f,
    const uint8_t *p, size_t n)
{
	char path[256];
	const char *why;
	int rc;

	if (f == NULL)
		return 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		if ((why = str_check(p, n)) == NULL)
			return 0;
		return err_set(w->e, EINVAL, "%s: %s",
		    pb_path(w, f->name, path, sizeof path), why);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (f->descriptor == NULL)
			return 0;
		if (w->depth >= PBCHECK_DEPTH_MAX)
			return pb_bad(w, p, "%s: nested deeper than %u",
			    f->name, PBCHECK_DEPTH_MAX);
		w->path[w->depth++] = f->name;
		rc = pb_walk(w, f->descriptor, p, p + n);
		w->depth--;
		return rc;
	default:
		return 0;
	}
}

/* The fields of one message of type @d, from @p to @end. */
static int
pb_walk(struct pbwalk *w, const ProtobufCMessageDescriptor *d,
    const uint8_t *p, const uint8_t *end)
{
	const ProtobufCFieldDescriptor *f;
	const uint8_t *at;
	const char *why;
	uint64_t tag, v;
	unsigned num;
	int rc;

	while (p < end) {
		at = p;
		if (pb_varint(&p, end, &tag) < 0)
			return pb_bad(w, at, "truncated tag");
		if (tag >> 3 == 0 || tag >> 3 > PB_FIELD_MAX)
			return pb_bad(w, at, "field number %llu",
			    (unsigned long long)(tag >> 3));
		num = (unsigned)(tag >> 3);
		why = NULL;
		switch (tag & 7) {
		case 0:		/* varint */
			if (pb_varint(&p, end, &v) < 0)
				why = "truncated varint";
			break;
		case 1:		/* 64-bit */
		case 5:		/* 32-bit */
			v = (tag & 7) == 1 ? 8 : 4;
			if (v > (uint64_t)(end - p))
				why = "truncated value";
			else
				p += v;
			break;
		case 2:		/* length-delimited */
			if (pb_varint(&p, end, &v) < 0) {
				why = "truncated length";
				break;
			}
			if (v > (uint64_t)(end - p)) {
				why = "length past the end";
				break;
			}
			f = protobuf_c_message_descriptor_get_field(d, num);
			if ((rc = pb_field(w, f, p, (size_t)v)) < 0)
				return rc;
			p += v;
			break;
		case 3:		/* start group */
		case 4:		/* end group */
			why = "groups are not supported";
			break;
		default:
			why = "bad wire type";
			break;
		}
		if (why != NULL)
			return pb_bad(w, at, "field %u: %s", num, why);
	}
	return 0;
}

int
pbcheck_strings(const ProtobufCMessageDescriptor *d, const void *buf,
    size_t len, struct err *e)
{
	struct pbwalk w = { .base = buf, .e = e };

	if (len == 0)
		return 0;
	return pb_walk(&w, d, w.base, w.base + len);
}
