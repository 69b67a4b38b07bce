/*
 * output.c: vfiomigctl's generic output: any protobuf-c message as a JSON
 * object, units for people, and the progress of
 * `migrate --wait`, and the text forms of the control API's answers (set
 * and device tables, MigrationInfo, events).  No socket I/O here.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf.h"
#include "output.h"
#include "util.h"

int
output_parse_mode(const char *s, enum output_mode *mode)
{
	if (strcmp(s, "text") == 0)
		*mode = OUTPUT_TEXT;
	else if (strcmp(s, "json") == 0)
		*mode = OUTPUT_JSON;
	else
		return -EINVAL;
	return 0;
}

/* Is field @f of @m set?  Repeated fields: have they elements? */
static bool
output_present(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	const void *p;

	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)(base + f->quantifier_offset) > 0;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
		return *(const uint32_t *)(base + f->quantifier_offset) ==
		    f->id;
	if (f->type == PROTOBUF_C_TYPE_MESSAGE ||
	    f->type == PROTOBUF_C_TYPE_STRING) {
		memcpy(&p, base + f->offset, sizeof p);
		return p != NULL;
	}
	if (f->label == PROTOBUF_C_LABEL_OPTIONAL)
		return *(const protobuf_c_boolean *)(base +
		    f->quantifier_offset);
	return true;
}

static size_t
output_elem_size(ProtobufCType t)
{
	switch (t) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return 4;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_FLOAT:
		return sizeof(float);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	}
	return 0;
}

const char *
output_enum_name(const ProtobufCEnumDescriptor *d, int v, char *buf,
    size_t len)
{
	const ProtobufCEnumValue *ev;
	const char *first;
	size_t i, cut, n;

	ev = protobuf_c_enum_descriptor_get_value(d, v);
	if (ev == NULL) {
		snprintf(buf, len, "%d", v);
		return buf;
	}
	/* The prefix shared by every value, cut after an underscore. */
	first = d->values[0].name;
	cut = d->n_values > 1 ? strlen(first) : 0;
	for (i = 1; i < d->n_values; i++) {
		for (n = 0; n < cut && first[n] == d->values[i].name[n]; n++)
			;
		cut = n;
	}
	while (cut > 0 && first[cut - 1] != '_')
		cut--;
	if (ev->name[cut] == '\0')
		cut = 0;
	for (n = 0; ev->name[cut + n] != '\0' && n + 1 < len; n++)
		buf[n] = (char)tolower((unsigned char)ev->name[cut + n]);
	if (len > 0)
		buf[n] = '\0';
	return buf;
}

/*
 * The field's JSON name as protoc computes json_name (protobuf-c 1.4's
 * descriptors carry none): the underscores dropped, the letter after each
 * one in upper case ("bytes_processed" -> "bytesProcessed").
 */
const char *
output_json_name(const char *name, char *buf, size_t len)
{
	bool up = false;
	size_t n = 0;

	for (; *name != '\0' && n + 1 < len; name++) {
		if (*name == '_')
			up = true;
		else {
			buf[n++] = up ? (char)toupper((unsigned char)*name) :
			    *name;
			up = false;
		}
	}
	if (len > 0)
		buf[n] = '\0';
	return buf;
}

/* Standard base64 (RFC 4648, with padding), as the mapping has bytes. */
static struct json_object *
output_json_base64(const ProtobufCBinaryData *b)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct json_object *o;
	uint32_t v;
	size_t i, n = 0;
	char *s;

	s = xcalloc(1, (b->len + 2) / 3 * 4 + 1);
	for (i = 0; i < b->len; i += 3) {
		v = (uint32_t)b->data[i] << 16;
		if (i + 1 < b->len)
			v |= (uint32_t)b->data[i + 1] << 8;
		if (i + 2 < b->len)
			v |= b->data[i + 2];
		s[n++] = a[v >> 18 & 63];
		s[n++] = a[v >> 12 & 63];
		s[n++] = i + 1 < b->len ? a[v >> 6 & 63] : '=';
		s[n++] = i + 2 < b->len ? a[v & 63] : '=';
	}
	o = json_object_new_string(s);
	free(s);
	return o;
}

/*
 * A 64-bit integer: a decimal string, as the mapping has it (a JSON number
 * loses digits above 2^53 in jq, JavaScript and most JSON parsers).
 */
static struct json_object *
output_json_u64(uint64_t v)
{
	char buf[24];

	snprintf(buf, sizeof buf, "%" PRIu64, v);
	return json_object_new_string(buf);
}

static struct json_object *
output_json_i64(int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof buf, "%" PRId64, v);
	return json_object_new_string(buf);
}

/* A float or a double: a number, or "NaN", "Infinity", "-Infinity". */
static struct json_object *
output_json_double(double v)
{
	if (isnan(v))
		return json_object_new_string("NaN");
	if (isinf(v))
		return json_object_new_string(v > 0 ? "Infinity" :
		    "-Infinity");
	return json_object_new_double(v);
}

/* An enum value: its full name ("SET_STATUS_IDLE"), else its number. */
static struct json_object *
output_json_enum(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev;

	if ((ev = protobuf_c_enum_descriptor_get_value(d, v)) == NULL)
		return json_object_new_int(v);
	return json_object_new_string(ev->name);
}

/* One value of type @f->type at @p as a JSON value (protobuf's mapping). */
static struct json_object *
output_json_value(const ProtobufCFieldDescriptor *f, const void *p)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_object_new_int(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_object_new_int64(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return output_json_i64(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return output_json_u64(*(const uint64_t *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return output_json_double(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return output_json_double(*(const double *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_object_new_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return output_json_enum(f->descriptor, *(const int *)p);
	case PROTOBUF_C_TYPE_STRING:
		return json_object_new_string(*(char *const *)p != NULL ?
		    *(char *const *)p : "");
	case PROTOBUF_C_TYPE_BYTES:
		return output_json_base64(p);
	case PROTOBUF_C_TYPE_MESSAGE:
		if (*(ProtobufCMessage *const *)p == NULL)
			return NULL;
		return output_pb_json(*(ProtobufCMessage *const *)p);
	}
	return NULL;
}

static struct json_object *
output_json_field(const ProtobufCMessage *m, const ProtobufCFieldDescriptor *f)
{
	const char *base = (const char *)m;
	struct json_object *a;
	const char *elems;
	size_t i, n;

	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return output_json_value(f, base + f->offset);
	n = *(const size_t *)(base + f->quantifier_offset);
	memcpy(&elems, base + f->offset, sizeof elems);
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, output_json_value(f,
		    elems + i * output_elem_size(f->type)));
	return a;
}

struct json_object *
output_pb_json(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const ProtobufCFieldDescriptor *f;
	struct json_object *o;
	char name[128];
	unsigned i;

	/*
	 * The fields that are present (proto2: every singular field has
	 * presence, so an absent one is left out, a present one printed
	 * even when 0); repeated fields always, [] when empty (as the
	 * mapping's "print fields without presence" option: `.sets[]` works
	 * on an empty list).
	 */
	o = json_object_new_object();
	for (i = 0; i < d->n_fields; i++) {
		f = &d->fields[i];
		if (!output_present(m, f) &&
		    f->label != PROTOBUF_C_LABEL_REPEATED)
			continue;
		json_object_object_add(o, output_json_name(f->name, name,
		    sizeof name), output_json_field(m, f));
	}
	return o;
}

void
output_json(FILE *f, struct json_object *o, bool oneline)
{
	int flags;

	flags = JSON_C_TO_STRING_NOSLASHESCAPE;
	flags |= oneline ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED;
	fprintf(f, "%s\n", json_object_to_json_string_ext(o, flags));
	fflush(f);
}

const char *
output_rate(uint64_t bytes_per_s, char *buf, size_t len)
{
	char b[32];

	snprintf(buf, len, "%s/s", fmt_bytes(bytes_per_s, b, sizeof b));
	return buf;
}

const char *
output_duration_s(uint64_t s, char *buf, size_t len)
{
	if (s >= 3600)
		snprintf(buf, len, "%" PRIu64 "h %02" PRIu64 "m", s / 3600,
		    s / 60 % 60);
	else if (s >= 60)
		snprintf(buf, len, "%" PRIu64 "m %02" PRIu64 "s", s / 60,
		    s % 60);
	else
		snprintf(buf, len, "%" PRIu64 "s", s);
	return buf;
}

const char *
output_ms(double ms, char *buf, size_t len)
{
	if (ms >= 10000)
		snprintf(buf, len, "%.1f s", ms / 1000);
	else
		snprintf(buf, len, "%.1f ms", ms);
	return buf;
}

/*
 * The VMM in the loop: the vCPU policy, the VM's downtime beside the
 * devices', the drain taken out of it, each VMM's answer.
 */
static void
output_vm_downtime(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	char b[32], pol[32];

	if (!mi->has_vcpu_policy)
		return;
	output_enum_text(&vfiomig__v1__vcpu_policy__descriptor,
	    mi->vcpu_policy, pol, sizeof pol);
	fprintf(f, "%-14s", "vm downtime:");
	if (mi->has_vm_downtime_us)
		fprintf(f, "%s", output_ms((double)mi->vm_downtime_us / 1e3, b,
		    sizeof b));
	else
		fprintf(f, "-");
	fprintf(f, " (vCPU policy %s", pol);
	if (mi->has_vm_downtime_us)
		fprintf(f, mi->vm_downtime_to_commit ? "; paused until "
		    "COMMITTED: no VMM on the destination" : "; paused until "
		    "the destination's VMM resumed");
	if (mi->has_drain_us && mi->vcpu_policy ==
	    VFIOMIG__V1__VCPU_POLICY__VCPU_POLICY_COOPERATIVE)
		fprintf(f, "; drained %s with the vCPUs running", output_ms(
		    (double)mi->drain_us / 1e3, b, sizeof b));
	if (mi->has_pause_ack_us)
		fprintf(f, "; pause acknowledged in %s", output_ms(
		    (double)mi->pause_ack_us / 1e3, b, sizeof b));
	if (mi->has_resume_ack_us)
		fprintf(f, "; resume acknowledged in %s", output_ms(
		    (double)mi->resume_ack_us / 1e3, b, sizeof b));
	fprintf(f, ")\n");
}

/* The downtime in ms, to the microsecond when the daemon says it. */
static double
output_downtime(const Vfiomig__V1__MigrationInfo *mi)
{
	if (mi->has_downtime_us)
		return (double)mi->downtime_us / 1e3;
	return (double)mi->downtime_ms;
}

int
output_progress_percent(const struct output_progress *p)
{
	uint64_t whole;

	whole = p->processed + p->remaining;
	if (whole == 0)
		whole = p->total;
	if (whole == 0)
		return 0;
	if (p->processed >= whole)
		return 100;
	return (int)(p->processed * 100 / whole);
}

/* "ETA 12s", or "ETA -" when it cannot be told. */
static const char *
output_eta(const struct output_progress *p, char *buf, size_t len)
{
	char d[32];

	if (p->throughput == 0)
		snprintf(buf, len, "ETA -");
	else
		snprintf(buf, len, "ETA %s", output_duration_s(
		    (p->remaining + p->throughput - 1) / p->throughput, d,
		    sizeof d));
	return buf;
}

void
output_progress(FILE *f, bool tty, const struct output_progress *p)
{
	char bar[25], done[32], whole[32], rate[32], eta[32], rem[32];
	int pct, i, fill;

	pct = output_progress_percent(p);
	fmt_bytes(p->processed, done, sizeof done);
	fmt_bytes(p->processed + p->remaining > p->total ?
	    p->processed + p->remaining : p->total, whole, sizeof whole);
	output_rate(p->throughput, rate, sizeof rate);
	output_eta(p, eta, sizeof eta);
	if (!tty) {
		fprintf(f, "%s: %s %d%% sent %s remaining %s "
		    "throughput %s %s iteration %" PRIu32 "\n", p->set,
		    p->status, pct, done,
		    fmt_bytes(p->remaining, rem, sizeof rem), rate, eta,
		    p->iteration);
		fflush(f);
		return;
	}
	fill = pct * ((int)sizeof bar - 1) / 100;
	for (i = 0; i < (int)sizeof bar - 1; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[sizeof bar - 1] = '\0';
	fprintf(f, "\r\033[K%s %-9s [%s] %3d%% %s / %s  %s  %s  iter %" PRIu32,
	    p->set, p->status, bar, pct, done,
	    whole, rate, eta, p->iteration);
	fflush(f);
}

void
output_progress_end(FILE *f, bool tty)
{
	if (tty) {
		fputc('\n', f);
		fflush(f);
	}
}

/* ---- the control API's answers ---- */

const char *
output_flags(uint32_t flags, char *buf, size_t len)
{
	static const char *names[] = { "stop-copy", "p2p", "pre-copy" };
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (flags & (1u << i))
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
			    n > 0 ? "," : "", names[i]);
	}
	if (flags >> ARRAY_SIZE(names))
		snprintf(buf + n, n < len ? len - n : 0, "%s0x%x",
		    n > 0 ? "," : "", flags & ~((1u << ARRAY_SIZE(names)) - 1));
	if (buf[0] == '\0')
		snprintf(buf, len, "-");
	return buf;
}

const char *
output_enum_text(const ProtobufCEnumDescriptor *d, int v, char *buf,
    size_t len)
{
	char *p;

	output_enum_name(d, v, buf, len);
	for (p = buf; *p != '\0'; p++)
		if (*p == '_')
			*p = '-';
	return buf;
}

#define MIGSTATUS(v, b) output_enum_text( \
	&vfiomig__v1__migration_status__descriptor, (v), (b), sizeof (b))

static int
output_name_width(const Vfiomig__V1__ListReply *l, bool devices, int min)
{
	size_t i, j;
	int w = min, n;

	for (i = 0; i < l->n_sets; i++) {
		if (!devices && (n = (int)strlen(l->sets[i]->name)) > w)
			w = n;
		for (j = 0; devices && j < l->sets[i]->n_devices; j++)
			if ((n = (int)strlen(l->sets[i]->devices[j]->name)) > w)
				w = n;
	}
	return w;
}

void
output_text_sets(FILE *f, const Vfiomig__V1__ListReply *l)
{
	const Vfiomig__V1__SetInfo *s;
	char st[32], job[32];
	size_t i;
	int w;

	w = output_name_width(l, false, 3);
	fprintf(f, "%-*s  %-13s  %7s  %-9s  %-5s  %s\n", w, "SET", "STATUS",
	    "DEVICES", "LAST-JOB", "TOKEN", "ORIGIN");
	for (i = 0; i < l->n_sets; i++) {
		s = l->sets[i];
		fprintf(f, "%-*s  %-13s  %7zu  %-9s  %-5s  %s\n", w, s->name,
		    output_enum_text(&vfiomig__v1__set_status__descriptor,
		    s->status, st, sizeof st), s->n_devices,
		    s->has_migration ? MIGSTATUS(s->migration, job) : "-",
		    s->has_has_token ? (s->has_token ? "yes" : "no") : "-",
		    s->from_config ? "config" : "runtime");
	}
	/* Why a set is migrated, after a blank line (below the table). */
	for (i = 0, w = 0; i < l->n_sets; i++) {
		s = l->sets[i];
		if (s->reason == NULL || *s->reason == '\0')
			continue;
		fprintf(f, "%s%s: %s\n", w++ == 0 ? "\n" : "", s->name,
		    s->reason);
	}
}

static const char *
output_digest(const Vfiomig__V1__SimCounters *sim, char *buf, size_t len)
{
	if (sim == NULL || !sim->has_digest)
		return "-";
	snprintf(buf, len, FMT_ID, sim->digest);
	return buf;
}

void
output_text_devices(FILE *f, const Vfiomig__V1__ListReply *l)
{
	const Vfiomig__V1__DeviceInfo *d;
	char fl[64], dg[32];
	size_t i, j;
	int ws, wd;

	ws = output_name_width(l, false, 3);
	wd = output_name_width(l, true, 6);
	fprintf(f, "%-*s  %-*s  %-7s  %-12s  %-22s  %-20s  %s\n", ws, "SET",
	    wd, "DEVICE", "BACKEND", "STATE", "FLAGS", "DIGEST", "IDENTITY");
	for (i = 0; i < l->n_sets; i++) {
		for (j = 0; j < l->sets[i]->n_devices; j++) {
			d = l->sets[i]->devices[j];
			fprintf(f, "%-*s  %-*s  %-7s  %-12s  %-22s  %-20s  %s\n",
			    ws, l->sets[i]->name, wd, d->name,
			    d->backend != NULL ? d->backend : "-",
			    d->state_name != NULL ? d->state_name : "-",
			    d->has_flags ? output_flags(d->flags, fl,
			    sizeof fl) : "-", output_digest(d->sim, dg,
			    sizeof dg), d->identity != NULL ? d->identity : "-");
		}
	}
}

/* "12:00:01.123" (local time) of a realtime in ms. */
static const char *
output_clock(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char hms[16];

	localtime_r(&t, &tm);
	strftime(hms, sizeof hms, "%H:%M:%S", &tm);
	snprintf(buf, len, "%s.%03u", hms, (unsigned)(ms % 1000));
	return buf;
}

static void
output_text_phases(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	const Vfiomig__V1__PhaseTime *p;
	char st[32], ck[32];
	size_t i;

	if (mi->n_phases == 0)
		return;
	fprintf(f, "%-14s", "phases:");
	for (i = 0; i < mi->n_phases; i++) {
		p = mi->phases[i];
		if (i == 0)
			fprintf(f, "%s %s", MIGSTATUS(p->status, st),
			    output_clock(p->realtime_ms, ck, sizeof ck));
		else
			fprintf(f, ", %s +%.3f s", MIGSTATUS(p->status, st),
			    (double)(p->realtime_ms - mi->phases[0]->realtime_ms)
			    / 1000);
	}
	fputc('\n', f);
}

static void
output_text_job(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	char dir[32], sw[32];

	fprintf(f, "%-14s%s\n", "set:", mi->set);
	if (mi->has_job_id)
		fprintf(f, "%-14s" FMT_ID "\n", "job:", mi->job_id);
	if (mi->has_direction)
		fprintf(f, "%-14s%s%s%s\n", "direction:", output_enum_text(
		    &vfiomig__v1__migration_direction__descriptor,
		    mi->direction, dir, sizeof dir),
		    mi->peer != NULL ? (mi->direction ==
		    VFIOMIG__V1__MIGRATION_DIRECTION__MIGRATION_DIRECTION_INCOMING
		    ? ", from " : ", to ") : "",
		    mi->peer != NULL ? mi->peer : "");
	if (mi->has_switchover)
		fprintf(f, "%-14s%s%s\n", "switchover:", output_enum_text(
		    &vfiomig__v1__switchover_mode__descriptor, mi->switchover,
		    sw, sizeof sw), mi->awaiting_switchover ?
		    " (pre-copy waits for `switchover')" : "");
	if (mi->has_connections)
		fprintf(f, "%-14s%" PRIu32 "\n", "connections:",
		    mi->connections);
}

static void
output_text_figures(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	char a[32], b[32], c[32];
	struct output_progress p;

	output_progress_info(mi, &p, a, sizeof a);
	fprintf(f, "%-14s%d%% (%s of %s, %" PRIu64 " bytes)\n", "progress:",
	    output_progress_percent(&p), fmt_bytes(mi->bytes_processed, b,
	    sizeof b), fmt_bytes(mi->bytes_total, c, sizeof c),
	    mi->bytes_processed);
	fprintf(f, "%-14s%s (%" PRIu64 " bytes)\n", "remaining:",
	    fmt_bytes(mi->bytes_remaining, b, sizeof b),
	    mi->bytes_remaining);
	if (mi->has_precopy_bytes || mi->has_stopcopy_bytes)
		fprintf(f, "%-14spre-copy %s, stop-copy %s\n", "sent:",
		    fmt_bytes(mi->precopy_bytes, b, sizeof b),
		    fmt_bytes(mi->stopcopy_bytes, c, sizeof c));
	fprintf(f, "%-14s%s\n", "throughput:", output_rate(mi->throughput, b,
	    sizeof b));
	if (mi->has_bandwidth_limit && mi->bandwidth_limit > 0)
		fprintf(f, "%-14s%s\n", "bandwidth:", output_rate(
		    mi->bandwidth_limit, b, sizeof b));
	fprintf(f, "%-14s%" PRIu32 "\n", "iteration:", mi->iteration);
	fprintf(f, "%-14s", "downtime:");
	if (mi->has_downtime_ms)
		fprintf(f, "%s", output_ms(output_downtime(mi), b, sizeof b));
	else
		fprintf(f, "-");
	if (mi->has_predicted_downtime_ms)
		fprintf(f, " (predicted %s", output_ms(
		    (double)mi->predicted_downtime_ms, b, sizeof b));
	else if (mi->has_expected_downtime_ms)
		fprintf(f, " (expected %s", output_ms(
		    (double)mi->expected_downtime_ms, b, sizeof b));
	if (mi->has_downtime_limit_ms)
		fprintf(f, "%s limit %s", mi->has_predicted_downtime_ms ||
		    mi->has_expected_downtime_ms ? "," : " (",
		    output_ms((double)mi->downtime_limit_ms, b, sizeof b));
	if (mi->has_predicted_downtime_ms || mi->has_expected_downtime_ms ||
	    mi->has_downtime_limit_ms)
		fputc(')', f);
	fputc('\n', f);
	output_vm_downtime(f, mi);
	if (mi->has_predicted_stopcopy_bytes || mi->has_dirty_rate)
		fprintf(f, "%-14s%s to move stopped, the devices dirty %s\n",
		    "prediction:", fmt_bytes(mi->predicted_stopcopy_bytes, a,
		    sizeof a), output_rate(mi->dirty_rate, b, sizeof b));
	if (mi->has_precopy_timeout_action) {
		fprintf(f, "%-14s%" PRIu32 " iterations", "policy:",
		    mi->max_iterations);
		if (mi->precopy_timeout_ms > 0)
			fprintf(f, " or %s", output_ms(
			    (double)mi->precopy_timeout_ms, b, sizeof b));
		fprintf(f, ", then %s%s\n", mig_action_name(
		    (enum mig_action)mi->precopy_timeout_action),
		    mi->stalled ? " (stalled: waits for the operator)" : "");
	}
	if (mi->has_total_ms)
		fprintf(f, "%-14s%s\n", "total time:", output_ms(
		    (double)mi->total_ms, b, sizeof b));
}

static void
output_text_devprogress(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	const Vfiomig__V1__DeviceProgress *d;
	char a[32], b[32], c[32], e[32], g[32], h[32];
	size_t i;
	int w = 6;

	if (mi->n_devices == 0)
		return;
	for (i = 0; i < mi->n_devices; i++)
		if ((int)strlen(mi->devices[i]->name) > w)
			w = (int)strlen(mi->devices[i]->name);
	fprintf(f, "devices:\n  %-*s  %-12s  %10s  %10s  %10s  %10s  %12s  "
	    "%s\n", w, "DEVICE", "STATE", "MOVED", "INITIAL", "DIRTY",
	    "STOPCOPY", "DIRTY RATE", "DIGEST");
	for (i = 0; i < mi->n_devices; i++) {
		d = mi->devices[i];
		fprintf(f, "  %-*s  %-12s  %10s  %10s  %10s  %10s  %12s  %s\n",
		    w, d->name, d->state_name != NULL ? d->state_name : "-",
		    fmt_bytes(d->bytes_moved, a, sizeof a),
		    fmt_bytes(d->initial_bytes, b, sizeof b),
		    fmt_bytes(d->dirty_bytes, c, sizeof c),
		    fmt_bytes(d->stopcopy_estimate, e, sizeof e),
		    d->has_dirty_rate ? output_rate(d->dirty_rate, h,
		    sizeof h) : "-", output_digest(d->sim, g, sizeof g));
	}
}

void
output_text_info(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	char st[32];

	output_text_job(f, mi);
	fprintf(f, "%-14s%s%s\n", "status:", MIGSTATUS(mi->status, st),
	    mi->outcome_unknown ? " (outcome unknown)" : "");
	if (mi->has_error && mi->error != 0)
		fprintf(f, "%-14s%s (%s)\n", "error:", mi->error_message !=
		    NULL ? mi->error_message : "-", strerror(mi->error));
	output_text_phases(f, mi);
	output_text_figures(f, mi);
	output_text_devprogress(f, mi);
}

void
output_progress_info(const Vfiomig__V1__MigrationInfo *mi,
    struct output_progress *p, char *buf, size_t len)
{
	memset(p, 0, sizeof *p);
	p->set = mi->set;
	p->status = output_enum_text(&vfiomig__v1__migration_status__descriptor,
	    mi->status, buf, len);
	p->total = mi->bytes_total;
	p->processed = mi->bytes_processed;
	p->remaining = mi->bytes_remaining;
	p->throughput = mi->throughput;
	p->iteration = mi->iteration;
	p->elapsed_s = (double)mi->total_ms / 1000;
}

void
output_text_event(FILE *f, const Vfiomig__V1__Event *ev)
{
	const Vfiomig__V1__MigrationInfo *mi = ev->info;
	char kind[32], ck[32], st[32], a[32], b[32], c[32];
	struct output_progress p;

	fprintf(f, "%s #%" PRIu64 " %s %s",
	    ev->has_realtime_ms ? output_clock(ev->realtime_ms, ck, sizeof ck)
	    : "-", ev->seq, output_enum_text(&vfiomig__v1__event_kind__descriptor,
	    ev->kind, kind, sizeof kind), ev->set != NULL ? ev->set : "-");
	if (mi != NULL) {
		output_progress_info(mi, &p, st, sizeof st);
		fprintf(f, " %s %d%% sent %s remaining %s throughput %s "
		    "iteration %" PRIu32, p.status,
		    output_progress_percent(&p), fmt_bytes(p.processed, a,
		    sizeof a), fmt_bytes(p.remaining, b, sizeof b),
		    output_rate(p.throughput, c, sizeof c), p.iteration);
		if (mi->has_downtime_ms)
			fprintf(f, " downtime %s", output_ms(
			    output_downtime(mi), a, sizeof a));
		if (mi->error_message != NULL)
			fprintf(f, " error: %s", mi->error_message);
	}
	if (ev->has_lost)
		fprintf(f, " lost %" PRIu64, ev->lost);
	if (ev->message != NULL)
		fprintf(f, " %s", ev->message);
	fputc('\n', f);
	fflush(f);
}

/*
 * `info --history`: one line per finished job, newest first.  Text and
 * logs show job ids in hex; the start is the local date and time.
 */
void
output_text_history(FILE *f, const Vfiomig__V1__MigrationInfo *mi)
{
	const Vfiomig__V1__MigrationInfo *h;
	char dir[32], st[32], start[32], tot[32], down[32];
	struct tm tm;
	time_t t;
	size_t i;

	fprintf(f, "%-20s  %-9s  %-9s  %-21s  %-19s  %9s  %9s  %s\n", "JOB",
	    "DIRECTION", "STATUS", "PEER", "START", "TOTAL", "DOWNTIME",
	    "ERROR");
	for (i = 0; i < mi->n_history; i++) {
		h = mi->history[i];
		snprintf(start, sizeof start, "-");
		if (h->n_phases > 0) {
			t = (time_t)(h->phases[0]->realtime_ms / 1000);
			localtime_r(&t, &tm);
			strftime(start, sizeof start, "%Y-%m-%d %H:%M:%S", &tm);
		}
		fprintf(f, "%-20" PRIu64 "  %-9s  %-9s  %-21s  %-19s  %9s  %9s  "
		    "%s\n", h->job_id, h->has_direction ? output_enum_text(
		    &vfiomig__v1__migration_direction__descriptor,
		    h->direction, dir, sizeof dir) : "-",
		    MIGSTATUS(h->status, st), h->peer != NULL && *h->peer !=
		    '\0' ? h->peer : "-", start, h->has_total_ms ?
		    output_ms((double)h->total_ms, tot, sizeof tot) : "-",
		    h->has_downtime_ms ? output_ms((double)h->downtime_ms, down,
		    sizeof down) : "-", h->outcome_unknown ? "outcome unknown" :
		    h->error_message != NULL && *h->error_message != '\0' ?
		    h->error_message : "-");
	}
}
