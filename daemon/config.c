/*
 * config.c: vfiomigd.conf(5), JSON read with json-c, into a struct config
 * (conf.h).  Every key is known: an unknown key is an error, so that a typo
 * is never silently ignored; every error names the file and the JSON path
 * of the key ("sets[0].devices[2].backend"), and syntax errors the line
 * and column.
 *
 * Pure: config_load() reads the one file and nothing else; no device is
 * opened and no path is checked beyond its syntax.  The daemon maps the
 * result onto devices (dev-vfio.c, dev-sim.c) and sets.
 */
#include "config.h"

#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "conf.h"
#include "fsm.h"
#include "util.h"

#define SET_NAME_CHARS	"_.-"
#define DEV_NAME_CHARS	"_.:-"
#define SOCKET_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define HOST_MAX	253

/* Where the parser is: the file, the JSON path of the current value. */
struct cfg {
	const char *file;
	struct err *e;
	char path[256];
	size_t plen;
};

enum cfg_kind {
	K_STR,		/* char *, non-empty */
	K_PATH,		/* char *, absolute */
	K_BOOL,		/* bool */
	K_INT,		/* int in [min, max] */
	K_U32,		/* uint32_t in [min, max] */
	K_U64,		/* uint64_t in [min, max] */
	K_SIZE32,	/* uint32_t, a size: 4096 or "4K" */
	K_SIZE64,	/* uint64_t, a size */
	K_FN,		/* fn(cfg, value, object) */
};

struct cfg_key {
	const char *name;
	enum cfg_kind kind;
	size_t off;
	int64_t min, max;
	int (*fn)(struct cfg *, struct json_object *, void *);
};

#define KEY(n, k, st, f, lo, hi) { n, k, offsetof(st, f), lo, hi, NULL }
#define KEY_FN(n, fn) { n, K_FN, 0, 0, 0, fn }

static int cfg_err(struct cfg *, const char *, ...) PRINTFLIKE(2, 3);

/* The JSON path. */

static size_t
cfg_push_key(struct cfg *c, const char *key)
{
	size_t old = c->plen, i = old;
	const char *k;

	if (old != 0 && i < sizeof c->path - 1)
		c->path[i++] = '.';
	for (k = key; *k != '\0' && i < sizeof c->path - 1; k++) {
		/* An unknown key may hold anything: keep it printable. */
		c->path[i++] = isprint((unsigned char)*k) ? *k : '?';
	}
	c->path[i] = '\0';
	c->plen = i;
	return old;
}

static size_t
cfg_push_index(struct cfg *c, size_t idx)
{
	size_t old = c->plen;
	int n;

	n = snprintf(c->path + old, sizeof c->path - old, "[%zu]", idx);
	if (n > 0)
		c->plen = MIN(old + n, sizeof c->path - 1);
	return old;
}

static void
cfg_pop(struct cfg *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

static int
cfg_err(struct cfg *c, const char *fmt, ...)
{
	char msg[sizeof c->e->msg];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (c->plen == 0)
		return err_set(c->e, EINVAL, "%s: %s", c->file, msg);
	return err_set(c->e, EINVAL, "%s: %s: %s", c->file, c->path, msg);
}

/* Scalars. */

static const char *
cfg_type_name(struct json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		return "null";
	case json_type_boolean:
		return "a boolean";
	case json_type_double:
		return "a non-integer number";
	case json_type_int:
		return "an integer";
	case json_type_object:
		return "an object";
	case json_type_array:
		return "an array";
	case json_type_string:
		return "a string";
	}
	return "something else";
}

static int
cfg_expect(struct cfg *c, struct json_object *v, enum json_type t,
    const char *what)
{
	if (json_object_is_type(v, t))
		return 0;
	return cfg_err(c, "expected %s, got %s", what, cfg_type_name(v));
}

/* A non-empty string of valid UTF-8 without NUL bytes. */
static int
cfg_string(struct cfg *c, struct json_object *v, const char **out)
{
	const char *s;

	if (cfg_expect(c, v, json_type_string, "a string") != 0)
		return -EINVAL;
	s = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(s))
		return cfg_err(c, "contains a NUL character");
	/* json-c lets overlong forms and surrogates through. */
	if (str_check(s, strlen(s)) != NULL)
		return cfg_err(c, "is not valid UTF-8");
	if (*s == '\0')
		return cfg_err(c, "must not be empty");
	*out = s;
	return 0;
}

static int
cfg_strdup(struct cfg *c, struct json_object *v, char **out)
{
	const char *s;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	*out = xstrdup(s);
	return 0;
}

static int
cfg_path(struct cfg *c, struct json_object *v, char **out)
{
	const char *s;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if (*s != '/')
		return cfg_err(c, "\"%s\" is not an absolute path", s);
	*out = xstrdup(s);
	return 0;
}

static int
cfg_bool(struct cfg *c, struct json_object *v, bool *out)
{
	if (cfg_expect(c, v, json_type_boolean, "true or false") != 0)
		return -EINVAL;
	*out = json_object_get_boolean(v);
	return 0;
}

static int
cfg_int(struct cfg *c, struct json_object *v, int64_t min, int64_t max,
    int64_t *out)
{
	int64_t n;

	if (cfg_expect(c, v, json_type_int, "an integer") != 0)
		return -EINVAL;
	n = json_object_get_int64(v);	/* clamps beyond int64_t */
	if (n < min || n > max) {
		return cfg_err(c, "%s is out of range (%" PRId64 "..%" PRId64
		    ")", json_object_to_json_string(v), min, max);
	}
	*out = n;
	return 0;
}

static int
cfg_size(struct cfg *c, struct json_object *v, uint64_t min, uint64_t max,
    uint64_t *out)
{
	char lo[32], hi[32];
	const char *s;
	struct err e;
	uint64_t n;
	int rc;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) < 0)
			return cfg_err(c, "a size cannot be negative");
		n = json_object_get_uint64(v);
	} else if (json_object_is_type(v, json_type_string)) {
		if (cfg_string(c, v, &s) != 0)
			return -EINVAL;
		/* Too large for 64 bits: out of range below. */
		rc = size_parse(s, &n, &e);
		if (rc == -EINVAL)
			return cfg_err(c, "bad size: %s", e.msg);
		if (rc == -ERANGE)
			n = UINT64_MAX;
	} else {
		return cfg_err(c, "expected a size (an integer or a string "
		    "such as \"256M\"), got %s", cfg_type_name(v));
	}
	if (n < min || n > max) {
		return cfg_err(c, "%s is out of range (%s..%s)",
		    json_object_to_json_string(v),
		    fmt_bytes(min, lo, sizeof lo),
		    fmt_bytes(max, hi, sizeof hi));
	}
	*out = n;
	return 0;
}

/* A name of 1..CONFIG_NAME_MAX letters, digits and @extra. */
static int
cfg_name(struct cfg *c, struct json_object *v, const char *extra, char **out)
{
	const char *s, *p;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if (strlen(s) > CONFIG_NAME_MAX) {
		return cfg_err(c, "name longer than %d characters",
		    CONFIG_NAME_MAX);
	}
	for (p = s; *p != '\0'; p++) {
		if (!isalnum((unsigned char)*p) && strchr(extra, *p) == NULL) {
			return cfg_err(c, "bad name \"%s\" (letters, digits "
			    "and \"%s\" only)", s, extra);
		}
	}
	*out = xstrdup(s);
	return 0;
}

/* Objects: a table of keys, anything else is an error. */

static int
cfg_unknown(struct cfg *c, const struct cfg_key *keys, size_t nkeys)
{
	char list[256];
	size_t i, n = 0;

	list[0] = '\0';
	for (i = 0; i < nkeys && n < sizeof list; i++) {
		n += snprintf(list + n, sizeof list - n, "%s%s",
		    i == 0 ? "" : ", ", keys[i].name);
	}
	return cfg_err(c, "unknown key (expected one of: %s)", list);
}

static int
cfg_value(struct cfg *c, const struct cfg_key *k, struct json_object *v,
    void *obj)
{
	void *p = (char *)obj + k->off;
	uint64_t u = 0;
	int64_t n = 0;
	int rc;

	switch (k->kind) {
	case K_STR:
		return cfg_strdup(c, v, p);
	case K_PATH:
		return cfg_path(c, v, p);
	case K_BOOL:
		return cfg_bool(c, v, p);
	case K_INT:
	case K_U32:
	case K_U64:
		if ((rc = cfg_int(c, v, k->min, k->max, &n)) != 0)
			return rc;
		if (k->kind == K_INT)
			*(int *)p = n;
		else if (k->kind == K_U32)
			*(uint32_t *)p = n;
		else
			*(uint64_t *)p = n;
		return 0;
	case K_SIZE32:
	case K_SIZE64:
		if ((rc = cfg_size(c, v, k->min, k->max, &u)) != 0)
			return rc;
		if (k->kind == K_SIZE32)
			*(uint32_t *)p = u;
		else
			*(uint64_t *)p = u;
		return 0;
	case K_FN:
		return k->fn(c, v, obj);
	}
	return cfg_err(c, "internal error: bad key kind");
}

/* Parses object @o into @obj by @keys; *@seen gets bit i for keys[i]. */
static int
cfg_object(struct cfg *c, struct json_object *o, const struct cfg_key *keys,
    size_t nkeys, void *obj, uint32_t *seen)
{
	struct json_object_iterator it, end;
	size_t i, old;
	int rc;

	*seen = 0;
	if (cfg_expect(c, o, json_type_object, "an object") != 0)
		return -EINVAL;
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
		const char *name = json_object_iter_peek_name(&it);

		for (i = 0; i < nkeys; i++)
			if (strcmp(keys[i].name, name) == 0)
				break;
		old = cfg_push_key(c, name);
		if (i == nkeys)
			rc = cfg_unknown(c, keys, nkeys);
		else
			rc = cfg_value(c, &keys[i],
			    json_object_iter_peek_value(&it), obj);
		cfg_pop(c, old);
		if (rc != 0)
			return rc;
		*seen |= 1u << i;
	}
	return 0;
}

/* An error about key @key of the object at the current path. */
static int
cfg_key_err(struct cfg *c, const char *key, const char *msg)
{
	size_t old = cfg_push_key(c, key);
	int rc = cfg_err(c, "%s", msg);

	cfg_pop(c, old);
	return rc;
}

/* Devices. */

static int
cfg_dev_name(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_device *d = obj;

	return cfg_name(c, v, DEV_NAME_CHARS, &d->name);
}

static int
cfg_dev_backend(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_device *d = obj;
	const char *s;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if (strcmp(s, "vfio") == 0)
		d->backend = CONFIG_BACKEND_VFIO;
	else if (strcmp(s, "sim") == 0)
		d->backend = CONFIG_BACKEND_SIM;
	else {
		return cfg_err(c, "unknown backend \"%s\" (expected \"vfio\" "
		    "or \"sim\")", s);
	}
	return 0;
}

static const struct {
	const char *name;
	uint32_t flag;
} cfg_sim_flags[] = {
	{ "STOP_COPY", CONFIG_SIM_STOP_COPY },
	{ "P2P", CONFIG_SIM_P2P },
	{ "PRE_COPY", CONFIG_SIM_PRE_COPY },
};

static int
cfg_dev_flag(struct cfg *c, struct json_object *v, uint32_t *flags)
{
	const char *s;
	size_t i;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(cfg_sim_flags); i++) {
		if (strcmp(s, cfg_sim_flags[i].name) != 0)
			continue;
		if (*flags & cfg_sim_flags[i].flag)
			return cfg_err(c, "duplicate flag \"%s\"", s);
		*flags |= cfg_sim_flags[i].flag;
		return 0;
	}
	return cfg_err(c, "unknown flag \"%s\" (expected \"STOP_COPY\", "
	    "\"P2P\" or \"PRE_COPY\")", s);
}

static int
cfg_dev_flags(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_device *d = obj;
	size_t i, n, old;
	int rc;

	if (cfg_expect(c, v, json_type_array, "an array of flags") != 0)
		return -EINVAL;
	d->flags = 0;
	n = json_object_array_length(v);
	for (i = 0; i < n; i++) {
		old = cfg_push_index(c, i);
		rc = cfg_dev_flag(c, json_object_array_get_idx(v, i),
		    &d->flags);
		cfg_pop(c, old);
		if (rc != 0)
			return rc;
	}
	if ((d->flags & CONFIG_SIM_STOP_COPY) == 0) {
		return cfg_err(c, "\"STOP_COPY\" missing (every migratable "
		    "device has it)");
	}
	return 0;
}

/*
 * "faults": a test knob, the simulator's fault injection.  Each fault
 * names its arc by the kernel's state names ("from" and "to", either
 * omitted for any state), or is a reset's ("reset": true).
 */
static int
cfg_fault_state(struct cfg *c, struct json_object *v, int *out)
{
	const char *s;
	int st;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if ((st = fsm_parse(s)) < 0 || st == VFIO_DEVICE_STATE_ERROR)
		return cfg_err(c, "\"%s\" is no state a device moves into "
		    "or out of (RUNNING, STOP, STOP_COPY, RESUMING, "
		    "RUNNING_P2P, PRE_COPY, PRE_COPY_P2P)", s);
	*out = st;
	return 0;
}

static int
cfg_fault_from(struct cfg *c, struct json_object *v, void *obj)
{
	return cfg_fault_state(c, v, &((struct config_sim_fault *)obj)->from);
}

static int
cfg_fault_to(struct cfg *c, struct json_object *v, void *obj)
{
	return cfg_fault_state(c, v, &((struct config_sim_fault *)obj)->to);
}

#define FAULT_KEY(n, k, f, lo, hi) KEY(n, k, struct config_sim_fault, f, lo, hi)
static const struct cfg_key cfg_fault_keys[] = {
	KEY_FN("from", cfg_fault_from),
	KEY_FN("to", cfg_fault_to),
	FAULT_KEY("errno", K_INT, err, 1, 4095),
	FAULT_KEY("to_error", K_BOOL, to_error, 0, 0),
	FAULT_KEY("reset", K_BOOL, reset, 0, 0),
	FAULT_KEY("count", K_INT, count, 0, 1000000),
};
#define FAULT_K_ARC	0x3u	/* from, to */

static int
cfg_dev_faults(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_device *d = obj;
	struct config_sim_fault *f;
	size_t i, n, old;
	uint32_t seen;
	int rc;

	if (cfg_expect(c, v, json_type_array, "an array of faults") != 0)
		return -EINVAL;
	n = json_object_array_length(v);
	if (n > CONFIG_SIM_MAX_FAULTS)
		return cfg_err(c, "more than %d faults", CONFIG_SIM_MAX_FAULTS);
	for (i = 0; i < n; i++) {
		f = &d->faults[i];
		*f = (struct config_sim_fault){ .from = -1, .to = -1,
		    .err = EIO, .to_error = false, .reset = false, .count = 0 };
		old = cfg_push_index(c, i);
		rc = cfg_object(c, json_object_array_get_idx(v, i),
		    cfg_fault_keys, ARRAY_SIZE(cfg_fault_keys), f, &seen);
		if (rc == 0 && f->reset && (seen & FAULT_K_ARC))
			rc = cfg_err(c, "a reset fault names no arc (\"from\""
			    ", \"to\")");
		cfg_pop(c, old);
		if (rc != 0)
			return rc;
	}
	d->nfaults = n;
	return 0;
}

#define DEV_KEY(n, k, f, lo, hi) KEY(n, k, struct config_device, f, lo, hi)
static const struct cfg_key cfg_device_keys[] = {
	KEY_FN("name", cfg_dev_name),
	KEY_FN("backend", cfg_dev_backend),
	/* vfio */
	DEV_KEY("path", K_PATH, path, 0, 0),
	DEV_KEY("group", K_PATH, group, 0, 0),
	DEV_KEY("device", K_STR, device, 0, 0),
	/* sim */
	DEV_KEY("state_size", K_SIZE64, state_size, 4096, 64ll << 30),
	DEV_KEY("dirty_rate", K_U32, dirty_rate, 0, 10000000),
	DEV_KEY("p2p_rate", K_U32, p2p_rate, 0, 10000000),
	DEV_KEY("arc_latency_us", K_U32, arc_latency_us, 0, 10000000),
	KEY_FN("flags", cfg_dev_flags),
	DEV_KEY("seed", K_U64, seed, 0, INT64_MAX),
	DEV_KEY("state_file", K_PATH, state_file, 0, 0),
	KEY_FN("faults", cfg_dev_faults),
};
#define DEV_K_NAME	(1u << 0)
#define DEV_K_BACKEND	(1u << 1)
#define DEV_K_PATH	(1u << 2)
#define DEV_K_GROUP	(1u << 3)
#define DEV_K_DEVICE	(1u << 4)
#define DEV_K_VFIO	(DEV_K_PATH | DEV_K_GROUP | DEV_K_DEVICE)
#define DEV_K_SIM	(((1u << ARRAY_SIZE(cfg_device_keys)) - 1) & ~0x1fu)

/* A key of the other backend is an error, not ignored. */
static int
cfg_dev_foreign(struct cfg *c, struct config_device *d, uint32_t seen)
{
	bool vfio = d->backend == CONFIG_BACKEND_VFIO;
	uint32_t foreign = vfio ? DEV_K_SIM : DEV_K_VFIO;
	char msg[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cfg_device_keys); i++) {
		if ((seen & foreign & (1u << i)) == 0)
			continue;
		snprintf(msg, sizeof msg, "only valid with backend \"%s\"",
		    vfio ? "sim" : "vfio");
		return cfg_key_err(c, cfg_device_keys[i].name, msg);
	}
	return 0;
}

static int
cfg_dev_vfio(struct cfg *c, struct config_device *d)
{
	if (d->path != NULL && (d->group != NULL || d->device != NULL)) {
		return cfg_err(c, "\"path\" excludes \"group\" and \"device\" "
		    "(a vfio device has a path, or a group and a device)");
	}
	if (d->path != NULL)
		return 0;
	if (d->group == NULL && d->device == NULL)
		return cfg_err(c, "missing \"path\" (or \"group\" and "
		    "\"device\")");
	if (d->device == NULL)
		return cfg_err(c, "\"group\" needs \"device\"");
	if (d->group == NULL)
		return cfg_err(c, "\"device\" needs \"group\"");
	return 0;
}

static int
cfg_device(struct cfg *c, struct json_object *v, struct config_device *d)
{
	uint32_t seen;
	int rc;

	d->state_size = CONFIG_DEFAULT_SIM_STATE_SIZE;
	d->dirty_rate = CONFIG_DEFAULT_SIM_DIRTY_RATE;
	d->p2p_rate = CONFIG_DEFAULT_SIM_P2P_RATE;
	d->flags = CONFIG_SIM_ALL;
	rc = cfg_object(c, v, cfg_device_keys, ARRAY_SIZE(cfg_device_keys), d,
	    &seen);
	if (rc != 0)
		return rc;
	if (!(seen & DEV_K_NAME))
		return cfg_err(c, "missing \"name\"");
	if (!(seen & DEV_K_BACKEND))
		return cfg_err(c, "missing \"backend\" (\"vfio\" or \"sim\")");
	if ((rc = cfg_dev_foreign(c, d, seen)) != 0)
		return rc;
	if (d->backend == CONFIG_BACKEND_VFIO)
		return cfg_dev_vfio(c, d);
	return 0;
}

/* Sets. */

static int
cfg_set_name(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_set *s = obj;

	return cfg_name(c, v, SET_NAME_CHARS, &s->name);
}

static int
cfg_set_token(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_set *s = obj;
	const char *t;

	if (cfg_string(c, v, &t) != 0)
		return -EINVAL;
	if (strlen(t) < CONFIG_TOKEN_MIN || strlen(t) > CONFIG_TOKEN_MAX) {
		return cfg_err(c, "a token has %d to %d bytes, not %zu",
		    CONFIG_TOKEN_MIN, CONFIG_TOKEN_MAX, strlen(t));
	}
	s->token = xstrdup(t);
	return 0;
}

static int
cfg_devices_unique(struct cfg *c, struct config_set *s)
{
	int i, j;

	for (i = 1; i < s->ndevices; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(s->devices[i].name, s->devices[j].name) != 0)
				continue;
			cfg_push_index(c, i);
			cfg_push_key(c, "name");
			return cfg_err(c, "duplicate device name \"%s\" (also "
			    "devices[%d])", s->devices[i].name, j);
		}
	}
	return 0;
}

static int
cfg_set_devices(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_set *s = obj;
	size_t i, n, old;
	int rc;

	if (cfg_expect(c, v, json_type_array, "an array of devices") != 0)
		return -EINVAL;
	n = json_object_array_length(v);
	if (n == 0)
		return cfg_err(c, "a set needs at least one device");
	if (n > CONFIG_MAX_DEVICES)
		return cfg_err(c, "more than %d devices", CONFIG_MAX_DEVICES);
	s->devices = xcalloc(n, sizeof *s->devices);
	for (i = 0; i < n; i++) {
		old = cfg_push_index(c, i);
		s->ndevices++;
		rc = cfg_device(c, json_object_array_get_idx(v, i),
		    &s->devices[i]);
		cfg_pop(c, old);
		if (rc != 0)
			return rc;
	}
	return cfg_devices_unique(c, s);
}

static const char *const mig_action_names[] = {
	[MIG_ACT_DEFAULT] = "default",
	[MIG_ACT_ABORT] = "abort",
	[MIG_ACT_SWITCHOVER] = "switchover",
	[MIG_ACT_WAIT] = "wait",
};

const char *
mig_action_name(enum mig_action a)
{
	if ((unsigned)a >= ARRAY_SIZE(mig_action_names))
		return "?";
	return mig_action_names[a];
}

int
mig_action_parse(const char *s)
{
	int i;

	for (i = MIG_ACT_ABORT; i < (int)ARRAY_SIZE(mig_action_names); i++) {
		if (strcmp(s, mig_action_names[i]) == 0)
			return i;
	}
	return -EINVAL;
}

/* "precopy_timeout_action": into the enum mig_action at @obj + @off. */
static int
cfg_action(struct cfg *c, struct json_object *v, enum mig_action *out)
{
	const char *s;
	int a;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if ((a = mig_action_parse(s)) < 0)
		return cfg_err(c, "\"%s\" is no action: abort, switchover or "
		    "wait", s);
	*out = a;
	return 0;
}

static int
cfg_set_action(struct cfg *c, struct json_object *v, void *obj)
{
	return cfg_action(c, v, &((struct config_set *)obj)->policy.action);
}

#define SET_KEY(n, k, f) KEY(n, k, struct config_set, f, 0, 0)
#define POL_KEY(n, k, f, lo, hi) KEY(n, k, struct config_set, policy.f, lo, hi)
static const struct cfg_key cfg_set_keys[] = {
	KEY_FN("name", cfg_set_name),
	SET_KEY("allow_non_p2p", K_BOOL, allow_non_p2p),
	KEY_FN("token", cfg_set_token),
	KEY_FN("devices", cfg_set_devices),
	POL_KEY("downtime_limit_ms", K_U32, downtime_limit_ms, 1, 60000),
	POL_KEY("max_iterations", K_INT, max_iterations, 1, 1000),
	POL_KEY("precopy_timeout_ms", K_U32, precopy_timeout_ms, 1, 86400000),
	KEY_FN("precopy_timeout_action", cfg_set_action),
};

static int
cfg_set(struct cfg *c, struct json_object *v, struct config_set *s)
{
	uint32_t seen;
	int rc;

	rc = cfg_object(c, v, cfg_set_keys, ARRAY_SIZE(cfg_set_keys), s, &seen);
	if (rc != 0)
		return rc;
	if (s->name == NULL)
		return cfg_err(c, "missing \"name\"");
	if (s->devices == NULL)
		return cfg_err(c, "missing \"devices\"");
	return 0;
}

static int
cfg_sets_unique(struct cfg *c, struct config *conf)
{
	int i, j;

	for (i = 1; i < conf->nsets; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(conf->sets[i].name, conf->sets[j].name) != 0)
				continue;
			cfg_push_index(c, i);
			cfg_push_key(c, "name");
			return cfg_err(c, "duplicate set name \"%s\" (also "
			    "sets[%d])", conf->sets[i].name, j);
		}
	}
	return 0;
}

static int
cfg_sets(struct cfg *c, struct json_object *v, void *obj)
{
	struct config *conf = obj;
	size_t i, n, old;
	int rc;

	if (cfg_expect(c, v, json_type_array, "an array of sets") != 0)
		return -EINVAL;
	n = json_object_array_length(v);
	if (n > CONFIG_MAX_SETS)
		return cfg_err(c, "more than %d sets", CONFIG_MAX_SETS);
	conf->sets = xcalloc(n, sizeof *conf->sets);
	for (i = 0; i < n; i++) {
		old = cfg_push_index(c, i);
		conf->nsets++;
		rc = cfg_set(c, json_object_array_get_idx(v, i),
		    &conf->sets[i]);
		cfg_pop(c, old);
		if (rc != 0)
			return rc;
	}
	return cfg_sets_unique(c, conf);
}

/* Migration. */

/* A listen address, "host:port" or "[v6]:port": as written, and split. */
static int
cfg_hostport(struct cfg *c, struct json_object *v, char **as_written,
    char **host, char **port)
{
	struct err e2;
	const char *s;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	if (config_parse_hostport(s, host, port, &e2) != 0)
		return cfg_err(c, "%s", e2.msg);
	*as_written = xstrdup(s);
	return 0;
}

static int
cfg_listen(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_migration *m = obj;

	return cfg_hostport(c, v, &m->listen, &m->listen_host,
	    &m->listen_port);
}

static int
cfg_mig_action(struct cfg *c, struct json_object *v, void *obj)
{
	return cfg_action(c, v, &((struct config_migration *)obj)->action);
}

#define MIG_KEY(n, k, f, lo, hi) KEY(n, k, struct config_migration, f, lo, hi)
static const struct cfg_key cfg_migration_keys[] = {
	KEY_FN("listen", cfg_listen),
	MIG_KEY("tls_dir", K_PATH, tls_dir, 0, 0),
	MIG_KEY("insecure", K_BOOL, insecure, 0, 0),
	MIG_KEY("kernel_tls", K_BOOL, kernel_tls, 0, 0),
	MIG_KEY("connections", K_INT, connections, 1, 16),
	MIG_KEY("max_frame", K_SIZE32, max_frame, 4096, 16 << 20),
	MIG_KEY("downtime_limit_ms", K_U32, downtime_limit_ms, 1, 60000),
	MIG_KEY("max_iterations", K_INT, max_iterations, 1, 1000),
	MIG_KEY("precopy_timeout_ms", K_U32, precopy_timeout_ms, 0, 86400000),
	KEY_FN("precopy_timeout_action", cfg_mig_action),
	MIG_KEY("max_active_jobs", K_INT, max_active_jobs, 1, 1024),
	MIG_KEY("max_handshakes", K_INT, max_handshakes, 1, 65536),
	MIG_KEY("max_handshakes_per_peer", K_INT, max_handshakes_per_peer, 1,
	    65536),
	MIG_KEY("handshake_timeout_ms", K_U32, handshake_timeout_ms, 100,
	    600000),
};

static int
cfg_migration(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_migration *m = &((struct config *)obj)->migration;
	uint32_t seen;
	int rc;

	rc = cfg_object(c, v, cfg_migration_keys,
	    ARRAY_SIZE(cfg_migration_keys), m, &seen);
	if (rc != 0)
		return rc;
	if (m->insecure && m->tls_dir != NULL)
		return cfg_err(c, "\"tls_dir\" and \"insecure\": true exclude "
		    "each other");
	if (!m->insecure && m->tls_dir == NULL)
		return cfg_err(c, "missing \"tls_dir\" (or \"insecure\": true "
		    "for plaintext)");
	return 0;
}

/* Metrics. */

static int
cfg_metrics_listen(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_metrics *m = obj;

	return cfg_hostport(c, v, &m->listen, &m->listen_host,
	    &m->listen_port);
}

static const struct cfg_key cfg_metrics_keys[] = {
	KEY_FN("listen", cfg_metrics_listen),
};

static int
cfg_metrics(struct cfg *c, struct json_object *v, void *obj)
{
	struct config_metrics *m = &((struct config *)obj)->metrics;
	uint32_t seen;
	int rc;

	rc = cfg_object(c, v, cfg_metrics_keys, ARRAY_SIZE(cfg_metrics_keys),
	    m, &seen);
	if (rc != 0)
		return rc;
	/* An empty object is a mistake rather than a way to say "off". */
	if (m->listen == NULL)
		return cfg_err(c, "missing \"listen\" (leave \"metrics\" out "
		    "for no metrics endpoint)");
	return 0;
}

/* The top level. */

static int
cfg_control_socket(struct cfg *c, struct json_object *v, void *obj)
{
	struct config *conf = obj;

	if (cfg_path(c, v, &conf->control_socket) != 0)
		return -EINVAL;
	if (strlen(conf->control_socket) > SOCKET_PATH_MAX) {
		return cfg_err(c, "longer than %zu bytes (the limit of a Unix "
		    "socket path)", SOCKET_PATH_MAX);
	}
	return 0;
}

static int
cfg_log_level(struct cfg *c, struct json_object *v, void *obj)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	static const enum log_level levels[] = {
		LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG
	};
	const char *s;
	size_t i;

	if (cfg_string(c, v, &s) != 0)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		if (strcmp(s, names[i]) == 0) {
			((struct config *)obj)->log_level = levels[i];
			return 0;
		}
	}
	return cfg_err(c, "unknown level \"%s\" (expected \"error\", "
	    "\"warning\", \"info\" or \"debug\")", s);
}

static const struct cfg_key cfg_top_keys[] = {
	KEY_FN("control_socket", cfg_control_socket),
	KEY("control_group", K_STR, struct config, control_group, 0, 0),
	KEY("control_read_group", K_STR, struct config, control_read_group,
	    0, 0),
	KEY_FN("migration", cfg_migration),
	KEY_FN("metrics", cfg_metrics),
	KEY_FN("log_level", cfg_log_level),
	KEY_FN("sets", cfg_sets),
	KEY("state_dir", K_PATH, struct config, state_dir, 0, 0),
};

static int
cfg_top(struct cfg *c, struct json_object *root, struct config *conf)
{
	uint32_t seen;
	int rc;

	if (!json_object_is_type(root, json_type_object)) {
		return cfg_err(c, "the top level must be an object, not %s",
		    cfg_type_name(root));
	}
	rc = cfg_object(c, root, cfg_top_keys, ARRAY_SIZE(cfg_top_keys), conf,
	    &seen);
	if (rc != 0)
		return rc;
	if (conf->control_socket == NULL)
		conf->control_socket = xstrdup(CONFIG_DEFAULT_CONTROL_SOCKET);
	/* Both would bind: the second start would fail on EADDRINUSE. */
	if (conf->metrics.listen != NULL && conf->migration.listen != NULL &&
	    strcmp(conf->metrics.listen_host,
	    conf->migration.listen_host) == 0 &&
	    strcmp(conf->metrics.listen_port,
	    conf->migration.listen_port) == 0) {
		cfg_push_key(c, "metrics");
		cfg_push_key(c, "listen");
		return cfg_err(c, "\"%s\" is migration.listen's address too",
		    conf->metrics.listen);
	}
	return 0;
}

/* The text. */

static void
cfg_line_col(const char *text, size_t off, size_t *line, size_t *col)
{
	size_t i;

	*line = *col = 1;
	for (i = 0; i < off; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else
			++*col;
	}
}

static int
cfg_syntax(struct cfg *c, const char *text, size_t off, const char *what)
{
	size_t line, col;

	cfg_line_col(text, off, &line, &col);
	return err_set(c->e, EINVAL, "%s:%zu:%zu: syntax error: %s", c->file,
	    line, col, what);
}

/*
 * Duplicate keys: json-c keeps the last value of a key given twice, so a
 * second "tls_dir" would silently win.  This scan of the text (valid JSON
 * by then) finds them.  Keys are compared as written ("a" and "\u0061"
 * differ).  Only the first DUP_KEYS_MAX keys of an object are kept: no
 * object of the schema has that many keys, so a larger one is refused for
 * its unknown keys anyway.
 */
#define DUP_DEPTH_MAX	64	/* json-c stops at 32 */
#define DUP_KEYS_MAX	32

struct dup_span {
	size_t off, len;
};

struct dup_frame {
	bool obj;
	bool want_key;
	size_t idx;			/* array: the current element */
	struct dup_span key;		/* object: the current key */
	struct dup_span keys[DUP_KEYS_MAX];
	int nkeys;
};

/* The offset just past the string whose quote is at @off. */
static size_t
dup_skip_string(const char *t, size_t len, size_t off)
{
	size_t i;

	for (i = off + 1; i < len && t[i] != t[off]; i++)
		if (t[i] == '\\')
			i++;
	return i + 1;
}

static int
dup_err(struct cfg *c, const char *t, const struct dup_frame *fr, int depth,
    const struct dup_span *first)
{
	size_t l1, l2, col;
	char key[128];
	int d, rc;

	for (d = 0; d <= depth; d++) {
		if (!fr[d].obj) {
			cfg_push_index(c, fr[d].idx);
			continue;
		}
		snprintf(key, sizeof key, "%.*s", (int)MIN(fr[d].key.len, 127),
		    t + fr[d].key.off);
		cfg_push_key(c, key);
	}
	cfg_line_col(t, first->off, &l1, &col);
	cfg_line_col(t, fr[depth].key.off, &l2, &col);
	rc = cfg_err(c, "duplicate key (lines %zu and %zu)", l1, l2);
	cfg_pop(c, 0);
	return rc;
}

static int
dup_key(struct cfg *c, const char *t, struct dup_frame *fr, int depth,
    struct dup_span key)
{
	struct dup_frame *f = &fr[depth];
	int k;

	f->want_key = false;
	f->key = key;
	for (k = 0; k < f->nkeys; k++) {
		if (f->keys[k].len == key.len &&
		    memcmp(t + f->keys[k].off, t + key.off, key.len) == 0)
			return dup_err(c, t, fr, depth, &f->keys[k]);
	}
	if (f->nkeys < DUP_KEYS_MAX)
		f->keys[f->nkeys++] = key;
	return 0;
}

static int
cfg_dup_keys(struct cfg *c, const char *t, size_t len)
{
	struct dup_frame *fr = xcalloc(DUP_DEPTH_MAX, sizeof *fr);
	size_t i = 0, end;
	int depth = -1, rc = 0;

	while (i < len && rc == 0) {
		switch (t[i]) {
		case '{':
		case '[':
			if (depth + 1 == DUP_DEPTH_MAX)
				goto out;
			depth++;
			memset(&fr[depth], 0, sizeof fr[depth]);
			fr[depth].obj = fr[depth].want_key = t[i] == '{';
			break;
		case '}':
		case ']':
			depth--;
			break;
		case ',':
			if (depth >= 0 && fr[depth].obj)
				fr[depth].want_key = true;
			else if (depth >= 0)
				fr[depth].idx++;
			break;
		case '"':
		case '\'':
			end = dup_skip_string(t, len, i);
			if (depth >= 0 && fr[depth].obj && fr[depth].want_key) {
				rc = dup_key(c, t, fr, depth,
				    (struct dup_span){ i + 1, end - i - 2 });
			}
			i = end;
			continue;
		}
		i++;
	}
out:
	free(fr);
	return rc;
}

static int
cfg_tokenize(struct cfg *c, const char *text, size_t len,
    struct json_object **out)
{
	struct json_tokener *tok;
	enum json_tokener_error jerr;
	const char *nul;
	char *buf;
	size_t i;

	*out = NULL;
	for (i = 0; i < len && text[i] != '\0' &&
	    strchr(" \t\r\n", text[i]) != NULL; i++)
		;
	if (i == len)
		return err_set(c->e, EINVAL, "%s: empty (expected a JSON "
		    "object)", c->file);
	if ((nul = memchr(text, '\0', len)) != NULL)
		return cfg_syntax(c, text, nul - text, "NUL byte");
	/* json-c wants the final NUL counted to know the text ends there. */
	buf = xcalloc(1, len + 1);
	memcpy(buf, text, len);
	if ((tok = json_tokener_new()) == NULL)
		fatalx("json_tokener_new");
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	/* A JSON null comes back as NULL with json_tokener_success. */
	*out = json_tokener_parse_ex(tok, buf, len + 1);
	jerr = json_tokener_get_error(tok);
	if (jerr != json_tokener_success) {
		cfg_syntax(c, text, MIN(json_tokener_get_parse_end(tok), len),
		    json_tokener_error_desc(jerr));
		json_object_put(*out);
		*out = NULL;
	}
	json_tokener_free(tok);
	free(buf);
	if (jerr != json_tokener_success)
		return -EINVAL;
	if (cfg_dup_keys(c, text, len) != 0) {
		json_object_put(*out);
		*out = NULL;
		return -EINVAL;
	}
	return 0;
}

static struct config *
config_new(const char *filename)
{
	struct config *conf = xcalloc(1, sizeof *conf);

	conf->filename = xstrdup(filename);
	conf->log_level = LOG_LVL_INFO;
	conf->migration.connections = CONFIG_DEFAULT_CONNECTIONS;
	conf->migration.kernel_tls = true;
	conf->migration.max_frame = CONFIG_DEFAULT_MAX_FRAME;
	conf->migration.downtime_limit_ms = CONFIG_DEFAULT_DOWNTIME_MS;
	conf->migration.max_iterations = CONFIG_DEFAULT_MAX_ITERATIONS;
	conf->migration.action = CONFIG_DEFAULT_ACTION;
	conf->migration.max_handshakes = CONFIG_DEFAULT_MAX_HANDSHAKES;
	conf->migration.max_handshakes_per_peer =
	    CONFIG_DEFAULT_MAX_HANDSHAKES_PER_PEER;
	conf->migration.handshake_timeout_ms = CONFIG_DEFAULT_HANDSHAKE_MS;
	return conf;
}

int
config_parse(const char *text, size_t len, const char *filename,
    struct config **out, struct err *e)
{
	struct cfg c = { .file = filename != NULL ? filename : "(config)" };
	struct json_object *root;
	struct config *conf;
	struct err e2 = { .code = 0 };
	int rc;

	c.e = e != NULL ? e : &e2;
	*out = NULL;
	if (len > CONFIG_FILE_MAX) {
		return err_set(e, EFBIG, "%s: larger than %d bytes", c.file,
		    CONFIG_FILE_MAX);
	}
	if ((rc = cfg_tokenize(&c, text, len, &root)) != 0)
		return rc;
	conf = config_new(c.file);
	rc = cfg_top(&c, root, conf);
	json_object_put(root);
	if (rc != 0) {
		config_free(conf);
		return rc;
	}
	*out = conf;
	return 0;
}

/* Reads a regular file of at most CONFIG_FILE_MAX bytes into *@buf. */
static int
config_read(int fd, const char *path, char **buf, size_t *len, struct err *e)
{
	struct stat st;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return err_set(e, EINVAL, "%s: not a regular file", path);
	if (st.st_size > CONFIG_FILE_MAX)
		goto toobig;
	*buf = xcalloc(1, CONFIG_FILE_MAX + 1);
	n = read_full(fd, *buf, CONFIG_FILE_MAX + 1);
	if (n < 0) {
		free(*buf);
		return err_set(e, -n, "%s: %s", path, strerror(-n));
	}
	if (n > CONFIG_FILE_MAX) {
		free(*buf);
		goto toobig;
	}
	*len = n;
	return 0;
toobig:
	return err_set(e, EFBIG, "%s: larger than %d bytes", path,
	    CONFIG_FILE_MAX);
}

int
config_load(const char *path, struct config **out, struct err *e)
{
	char *buf = NULL;
	size_t len = 0;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(e, errno, "%s: %s", path, strerror(errno));
	rc = config_read(fd, path, &buf, &len, e);
	close_fd(&fd);
	if (rc != 0)
		return rc;
	rc = config_parse(buf, len, path, out, e);
	free(buf);
	return rc;
}

static void
config_device_free(struct config_device *d)
{
	free(d->name);
	free(d->path);
	free(d->group);
	free(d->device);
	free(d->state_file);
}

static void
config_set_free(struct config_set *s)
{
	int i;

	for (i = 0; i < s->ndevices; i++)
		config_device_free(&s->devices[i]);
	free(s->devices);
	free(s->name);
	free(s->token);
}

void
config_free(struct config *c)
{
	int i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nsets; i++)
		config_set_free(&c->sets[i]);
	free(c->sets);
	free(c->migration.listen);
	free(c->migration.listen_host);
	free(c->migration.listen_port);
	free(c->migration.tls_dir);
	free(c->metrics.listen);
	free(c->metrics.listen_host);
	free(c->metrics.listen_port);
	free(c->control_socket);
	free(c->control_group);
	free(c->control_read_group);
	free(c->state_dir);
	free(c->filename);
	free(c);
}

const struct config_set *
config_find_set(const struct config *c, const char *name)
{
	int i;

	for (i = 0; i < c->nsets; i++)
		if (strcmp(c->sets[i].name, name) == 0)
			return &c->sets[i];
	return NULL;
}

const char *
config_backend_name(enum config_backend b)
{
	return b == CONFIG_BACKEND_VFIO ? "vfio" : "sim";
}

/* host:port */

static int
hostport_host_ok(const char *h, size_t len, bool bracketed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char ch = h[i];

		if (isalnum(ch) || ch == '.' || ch == '-' || ch == '_')
			continue;
		if (bracketed && (ch == ':' || ch == '%'))
			continue;
		return 0;
	}
	return 1;
}

static int
hostport_port_ok(const char *p)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; isdigit((unsigned char)p[i]); i++) {
		v = v * 10 + (p[i] - '0');
		if (v > 65535)
			return 0;
	}
	return i > 0 && p[i] == '\0' && v > 0;
}

int
config_parse_hostport(const char *s, char **host, char **port, struct err *e)
{
	const char *h = s, *hend, *p;
	bool br = s[0] == '[';

	*host = *port = NULL;
	if (br) {
		h = s + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return err_set(e, EINVAL, "bad address \"%s\": no "
			    "\"]\"", s);
		if (hend[1] != ':') {
			return err_set(e, EINVAL, "bad address \"%s\": expected "
			    "\":port\" after \"]\"", s);
		}
		p = hend + 2;
	} else {
		if ((hend = strrchr(s, ':')) == NULL) {
			return err_set(e, EINVAL, "bad address \"%s\": missing "
			    "\":port\"", s);
		}
		if (memchr(s, ':', hend - s) != NULL) {
			return err_set(e, EINVAL, "bad address \"%s\": an IPv6 "
			    "address needs brackets (\"[::1]:4444\")", s);
		}
		p = hend + 1;
	}
	if (hend == h)
		return err_set(e, EINVAL, "bad address \"%s\": empty host", s);
	if (hend - h > HOST_MAX || !hostport_host_ok(h, hend - h, br))
		return err_set(e, EINVAL, "bad address \"%s\": bad host", s);
	if (!hostport_port_ok(p)) {
		return err_set(e, EINVAL, "bad address \"%s\": the port must be "
		    "a number from 1 to 65535", s);
	}
	*host = strndup(h, hend - h);
	if (*host == NULL)
		fatal("strndup");
	*port = xstrdup(p);
	return 0;
}
