/*
 * pbcheck.h: checks the strings of a packed protobuf message before
 * protobuf-c unpacks it.  protobuf-c turns a `string` field into a C
 * string, so an embedded NUL byte silently cuts it ("vm1\0x" becomes
 * "vm1"), and it does not check UTF-8; this walk refuses both.
 *
 * Pure: bytes and a descriptor in, a verdict out.  No I/O, no libevent.
 * What a field may contain beyond that (lengths, names) is the caller's
 * business.
 */
#ifndef VFIOMIG_PBCHECK_H
#define VFIOMIG_PBCHECK_H

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "util.h"

/* Nested messages below the top one that pbcheck_strings() follows. */
#define PBCHECK_DEPTH_MAX	32

/*
 * Walks the wire bytes of a message of type @d: every `string` field, in
 * the message and in every message nested in it, must pass str_check().
 * Bytes fields, scalars and unknown field numbers are skipped.  Returns 0;
 * -EINVAL for a bad string ("create_set.devices.name: holds a NUL byte");
 * -EBADMSG for malformed bytes (a truncated varint or field, a length
 * past the end, field number 0, a group, nesting deeper than
 * PBCHECK_DEPTH_MAX).
 */
int pbcheck_strings(const ProtobufCMessageDescriptor *d, const void *buf,
    size_t len, struct err *e);

#endif
