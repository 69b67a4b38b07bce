/*
 * output.h: how vfiomigctl prints: text for people, JSON (json-c) for
 * programs.  Any protobuf-c message converts to a JSON object field by
 * field, by protobuf's JSON mapping (so that jq and protobuf's own JSON
 * parsers read every value exactly); the text forms of the control API's
 * main answers show the key figures with units, enums as lower-case names
 * without their common prefix, job ids and digests in decimal (FMT_ID).  Progress lines and the TTY progress bar of
 * `migrate --wait` are here too.  No socket I/O here.
 */
#ifndef VFIOMIG_OUTPUT_H
#define VFIOMIG_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>
#include <protobuf-c/protobuf-c.h>

#include "proto/vfiomig-ctl.pb-c.h"

enum output_mode {
	OUTPUT_TEXT,
	OUTPUT_JSON,
};

/* Parses "text" or "json"; -EINVAL otherwise. */
int	output_parse_mode(const char *s, enum output_mode *mode);

/*
 * A new JSON object of @m by protobuf's JSON mapping
 * (https://protobuf.dev/programming-guides/json/): the fields that are
 * present, named by their lowerCamelCase json_name ("jobId"); 64-bit
 * integers as decimal strings ("4155470637749650534"), 32-bit ones as
 * numbers; enums by their full value name ("MIGRATION_STATUS_COMPLETED");
 * bytes in base64; floats as numbers or "NaN", "Infinity"; nested messages
 * as objects; repeated fields as arrays, [] when empty.
 */
struct json_object *output_pb_json(const ProtobufCMessage *m);

/* The JSON name of proto field @name, as protoc makes json_name. */
const char *output_json_name(const char *name, char *buf, size_t len);

/* Prints @o on @f: pretty, or on one line (NDJSON) if @oneline. */
void	output_json(FILE *f, struct json_object *o, bool oneline);

/*
 * The name of enum value @v of @d, lower case, without the prefix its
 * values share ("MIGRATION_STATUS_ACTIVE" -> "active"), in @buf; the
 * number if @v has no name.
 */
const char *output_enum_name(const ProtobufCEnumDescriptor *d, int v,
	    char *buf, size_t len);

/* "230.4 MiB/s", "1m 05s", "12.3 ms" into @buf (bytes: fmt_bytes()). */
const char *output_rate(uint64_t bytes_per_s, char *buf, size_t len);
const char *output_duration_s(uint64_t s, char *buf, size_t len);
const char *output_ms(double ms, char *buf, size_t len);

/* What `migrate --wait` shows about a running migration. */
struct output_progress {
	const char	*set;
	const char	*status;	/* the phase: "precopy", "completed" */
	uint64_t	 total;		/* bytes, 0 = unknown */
	uint64_t	 processed;
	uint64_t	 remaining;
	uint64_t	 throughput;	/* bytes/s */
	uint32_t	 iteration;
	double		 elapsed_s;
};

/* Percent done, 0..100 (from processed and remaining, else total). */
int	output_progress_percent(const struct output_progress *p);
/*
 * Shows @p: on a TTY one line redrawn in place (a bar, percent, bytes,
 * throughput, ETA, iteration), else one plain line per call.
 * output_progress_end() ends the redrawn line.
 */
void	output_progress(FILE *f, bool tty, const struct output_progress *p);
void	output_progress_end(FILE *f, bool tty);
/* @p from @mi; the strings point into @mi and @buf. */
void	output_progress_info(const Vfiomig__V1__MigrationInfo *mi,
	    struct output_progress *p, char *buf, size_t len);

/* "stop-copy,p2p,pre-copy" (VFIO_MIGRATION_* bits) into @buf. */
const char *output_flags(uint32_t flags, char *buf, size_t len);
/* An enum value's name for people: "migrating-out". */
const char *output_enum_text(const ProtobufCEnumDescriptor *d, int v,
	    char *buf, size_t len);

/* The text forms of the control API's answers. */
void	output_text_sets(FILE *f, const Vfiomig__V1__ListReply *l);
void	output_text_devices(FILE *f, const Vfiomig__V1__ListReply *l);
void	output_text_info(FILE *f, const Vfiomig__V1__MigrationInfo *mi);
/* MigrationInfo.history as a table (`info --history`). */
void	output_text_history(FILE *f, const Vfiomig__V1__MigrationInfo *mi);
/* One line per event: time, seq, kind, set, what it says. */
void	output_text_event(FILE *f, const Vfiomig__V1__Event *ev);

#endif
