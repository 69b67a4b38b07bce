/*
 * store.c: the daemon's fds in the service manager's fd store, the sets'
 * record beside them, and the recovery of a restarted daemon (store.h).
 *
 * The record is a JSON document in a memfd stored as "state":
 *   {"version": 1, "sets": [{"name": "vm1", "from_config": true,
 *     "status": "idle", "allow_non_p2p": false, "token": "..." | null,
 *     ["ending": true,]
 *     "devices": [{"name": "sim0", "backend": "sim",
 *       "identity": "sim:1048576", "fds": {"sim": "d.vm1.sim0.sim"}}]}]}
 * status: idle, outgoing, incoming, migrated, failed; "ending": an outgoing
 * job may have sent its last DEV_END (the destination may have committed).
 * The memfd starts with
 * a header (magic, generation, offset and length of the document); a new
 * document is written where it does not overlap the current one, then the
 * header, in one small pwrite(): a crash in between leaves the old one.
 *
 * Locking: store_lock, then dm->sets_lock, then a set's lock (the order of
 * daemon.h); callers of store_update() hold none of them.
 *
 * Not here: the sd_notify messages (notify.c), the sets (dset.c), the
 * collective rollback and reset (migset.c).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "daemon.h"
#include "dset.h"
#include "dev-sim.h"
#include "log.h"
#include "notify.h"
#include "store.h"

#define STORE_MAGIC		"VFMGST01"
#define STORE_VERSION		1
#define STORE_BASE		4096u	/* the first document's offset */
#define STORE_MAX_DOC		(16u << 20)
#define STORE_NAME_MAX		256	/* FDNAME: 255 bytes */
#define STORE_MAX_PASSED	1024

struct store_hdr {
	char		magic[8];
	uint64_t	gen;
	uint64_t	off;
	uint64_t	len;
};

struct store_fd {
	char	*name;
	int	 fd;		/* -1 once taken */
};

static pthread_mutex_t store_lock = PTHREAD_MUTEX_INITIALIZER;
static struct daemon *store_dm;
static bool store_on;		/* a manager takes the fds */
static bool store_recovering;	/* no record written until the end */
static int store_state_fd = -1;
static uint64_t store_gen, store_off, store_len;
static struct store_fd *store_fds;	/* passed at start */
static int store_nfds;

static const char *store_vfio_kinds[] = { "dev", "group", "container",
    "iommufd" };

/* ---- Names. ---- */

/*
 * "d.SET.DEV": systemd refuses ':' in a name (LISTEN_FDNAMES is
 * colon-separated), so names keep to [A-Za-z0-9_.-], '.' separates, and
 * in SET and DEV '_' is written "__", '.' "_d" and ':' "_c".  False if the
 * whole, with ".container" after it, would pass 255 bytes.
 */
static bool
store_base_name(char *buf, size_t len, const char *set, const char *dev)
{
	const char *parts[2] = { set, dev }, *p;
	size_t n = 0;
	int i;

	buf[n++] = 'd';
	for (i = 0; i < 2; i++) {
		buf[n++] = '.';
		for (p = parts[i]; *p != '\0' && n + 3 < len; p++) {
			if (*p == '_' || *p == '.' || *p == ':') {
				buf[n++] = '_';
				buf[n++] = *p == '_' ? '_' : *p == '.' ? 'd' :
				    'c';
			} else
				buf[n++] = *p;
		}
	}
	buf[n] = '\0';
	return n + strlen(".container") <= 255;
}

static void
store_put(const char *name, int fd)
{
	int rc;

	if (!store_on || fd < 0)
		return;
	if ((rc = notify_fdstore(name, fd)) < 0)
		log_warnx("fd store: \"%s\" (fd %d) not stored: %s", name, fd,
		    strerror(-rc));
	else
		log_debug("fd store: \"%s\" stored", name);
}

static void
store_drop(const char *name)
{
	int rc;

	if (!store_on)
		return;
	if ((rc = notify_fdstore_remove(name)) < 0)
		log_warnx("fd store: \"%s\" not removed: %s", name,
		    strerror(-rc));
	else
		log_debug("fd store: \"%s\" removed", name);
}

/* The device's fds by kind: up to four; returns how many. */
static int
store_device_fds(const struct device *d, const char **kinds, int *fds)
{
	struct device_vfio_fds v;
	int n = 0, i, f[4];

	if (device_is_sim(d)) {
		kinds[0] = "sim";
		fds[0] = dev_sim_memfd(d);
		return fds[0] >= 0;
	}
	if (!device_vfio_fds(d, &v))
		return 0;
	f[0] = v.dev;
	f[1] = v.group;
	f[2] = v.container;
	f[3] = v.iommufd;
	for (i = 0; i < 4; i++) {
		if (f[i] >= 0) {
			kinds[n] = store_vfio_kinds[i];
			fds[n++] = f[i];
		}
	}
	return n;
}

static void
store_data_hook(struct device *d, int fd)
{
	char name[STORE_NAME_MAX + 8];

	if (d->store_name == NULL || !store_on)
		return;
	snprintf(name, sizeof name, "%s.data", d->store_name);
	if (fd >= 0)
		store_put(name, fd);
	else
		store_drop(name);
}

void
store_device_join(const char *set, struct device *d)
{
	char base[STORE_NAME_MAX], name[STORE_NAME_MAX + 16];
	const char *kinds[4];
	int fds[4], n, i;

	if (!store_on)
		return;
	if (!store_base_name(base, sizeof base, set, d->name)) {
		log_warnx("fd store: set %s, device %s: the names are too "
		    "long for the fd store; not stored (not crash-safe)", set,
		    d->name);
		return;
	}
	free(d->store_name);
	d->store_name = xstrdup(base);
	n = store_device_fds(d, kinds, fds);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.%s", base, kinds[i]);
		store_put(name, fds[i]);
	}
	if (d->data_fd >= 0)
		store_data_hook(d, d->data_fd);
}

void
store_device_leave(struct device *d)
{
	char name[STORE_NAME_MAX + 16];
	const char *kinds[4];
	int fds[4], n, i;

	if (d == NULL || d->store_name == NULL)
		return;
	n = store_device_fds(d, kinds, fds);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof name, "%s.%s", d->store_name, kinds[i]);
		store_drop(name);
	}
	if (d->data_fd >= 0)
		store_data_hook(d, -1);
	free(d->store_name);
	d->store_name = NULL;
}

/* ---- The record. ---- */

static const char *
store_status_name(enum dset_status st)
{
	switch (st) {
	case DSET_IDLE:
		return "idle";
	case DSET_MIGRATING_OUT:
		return "outgoing";
	case DSET_INCOMING:
		return "incoming";
	case DSET_MIGRATED:
		return "migrated";
	case DSET_FAILED:
		break;
	}
	return "failed";
}

static json_object *
store_json_device(const struct dset *ds, int i, struct device *d)
{
	json_object *o = json_object_new_object(), *f;
	char name[STORE_NAME_MAX + 16];
	const char *kinds[4];
	int fds[4], n, k;

	json_object_object_add(o, "name", json_object_new_string(d->name));
	json_object_object_add(o, "backend",
	    json_object_new_string(d->ops->backend));
	json_object_object_add(o, "identity", json_object_new_string(
	    ds->ids[i] != NULL ? ds->ids[i] : ""));
	f = json_object_new_object();
	n = store_device_fds(d, kinds, fds);
	for (k = 0; k < n && d->store_name != NULL; k++) {
		snprintf(name, sizeof name, "%s.%s", d->store_name, kinds[k]);
		json_object_object_add(f, kinds[k],
		    json_object_new_string(name));
	}
	json_object_object_add(o, "fds", f);
	return o;
}

/* ds->lock held. */
static json_object *
store_json_set(const struct dset *ds)
{
	json_object *o = json_object_new_object(), *devs;
	int i, n = migset_count(ds->ms);

	json_object_object_add(o, "name", json_object_new_string(ds->name));
	json_object_object_add(o, "from_config",
	    json_object_new_boolean(ds->from_config));
	json_object_object_add(o, "status",
	    json_object_new_string(store_status_name(ds->status)));
	if (ds->status == DSET_MIGRATING_OUT && ds->ending)
		json_object_object_add(o, "ending",
		    json_object_new_boolean(true));
	json_object_object_add(o, "allow_non_p2p",
	    json_object_new_boolean(migset_allow_non_p2p(ds->ms)));
	json_object_object_add(o, "token", ds->token != NULL ?
	    json_object_new_string(ds->token) : NULL);
	devs = json_object_new_array();
	for (i = 0; i < n && i < CONFIG_MAX_DEVICES; i++)
		json_object_array_add(devs, store_json_device(ds, i,
		    migset_device(ds->ms, i)));
	json_object_object_add(o, "devices", devs);
	return o;
}

static json_object *
store_json(struct daemon *dm)
{
	json_object *o = json_object_new_object(), *sets;
	struct dset *ds;
	int i;

	json_object_object_add(o, "version",
	    json_object_new_int(STORE_VERSION));
	sets = json_object_new_array();
	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets; i++) {
		ds = dm->sets[i];
		pthread_mutex_lock(&ds->lock);
		if (!ds->removed && ds->ms != NULL)
			json_object_array_add(sets, store_json_set(ds));
		pthread_mutex_unlock(&ds->lock);
	}
	pthread_mutex_unlock(&dm->sets_lock);
	json_object_object_add(o, "sets", sets);
	return o;
}

static int
store_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		if ((n = pwrite(fd, p, len, off)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

static uint64_t
store_round(uint64_t x)
{
	return (x + STORE_BASE - 1) / STORE_BASE * STORE_BASE;
}

/* store_lock held.  The document where it does not overlap the current. */
static int
store_write(const char *doc, size_t len)
{
	struct store_hdr h;
	uint64_t off;
	int rc;

	if (store_state_fd < 0) {
		store_state_fd = memfd_create("vfiomig-state", MFD_CLOEXEC);
		if (store_state_fd < 0)
			return -errno;
		store_off = store_len = 0;
		store_put("state", store_state_fd);
	}
	if (store_off == 0)
		off = STORE_BASE;
	else if (store_off == STORE_BASE)
		off = store_round(STORE_BASE + store_len);
	else if (STORE_BASE + len <= store_off)
		off = STORE_BASE;
	else
		off = store_round(store_off + store_len);
	if ((rc = store_pwrite_all(store_state_fd, doc, len, off)) < 0)
		return rc;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, STORE_MAGIC, sizeof h.magic);
	h.gen = ++store_gen;
	h.off = off;
	h.len = len;
	if ((rc = store_pwrite_all(store_state_fd, &h, sizeof h, 0)) < 0)
		return rc;
	store_off = off;
	store_len = len;
	return 0;
}

void
store_update(void)
{
	json_object *o;
	const char *doc;
	int rc;

	if (!store_on || store_dm == NULL)
		return;
	pthread_mutex_lock(&store_lock);
	if (!store_recovering) {
		o = store_json(store_dm);
		doc = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
		if ((rc = store_write(doc, strlen(doc))) < 0)
			log_warnx("fd store: the state record: %s",
			    strerror(-rc));
		else
			log_debug("fd store: state record %" PRIu64 ": %s",
			    store_gen, doc);
		json_object_put(o);
	}
	pthread_mutex_unlock(&store_lock);
}

void
store_set_event(void *arg, const struct dset_event *ev)
{
	switch (ev->kind) {
	case DSET_EV_RECORD:
		store_update();
		break;
	case DSET_EV_DEVICE_JOIN:
		store_device_join(ev->set, ev->dev);
		break;
	case DSET_EV_DEVICE_LEAVE:
		store_device_leave(ev->dev);
		break;
	default:
		break;
	}
}

/* ---- Start and stop. ---- */

void
store_init(struct daemon *dm)
{
	const char *ns = getenv("NOTIFY_SOCKET");

	store_dm = dm;
	store_on = ns != NULL && *ns != '\0';
	if (store_on)
		device_data_hook = store_data_hook;
}

void
store_fini(void)
{
	struct daemon *dm = store_dm;
	int i, j;

	if (!store_on || dm == NULL) {
		close_fd(&store_state_fd);
		return;
	}
	pthread_mutex_lock(&dm->sets_lock);
	for (i = 0; i < dm->nsets; i++) {
		pthread_mutex_lock(&dm->sets[i]->lock);
		for (j = 0; dm->sets[i]->ms != NULL &&
		    j < migset_count(dm->sets[i]->ms); j++)
			store_device_leave(migset_device(dm->sets[i]->ms, j));
		pthread_mutex_unlock(&dm->sets[i]->lock);
	}
	pthread_mutex_unlock(&dm->sets_lock);
	pthread_mutex_lock(&store_lock);
	store_drop("state");
	close_fd(&store_state_fd);
	store_on = false;
	pthread_mutex_unlock(&store_lock);
	log_info("fd store: every stored fd removed (clean exit)");
}

void
store_passed(const char *name, int fd)
{
	if (store_nfds >= STORE_MAX_PASSED) {
		log_warnx("fd store: too many fds passed; \"%s\" (fd %d) "
		    "closed", name, fd);
		close(fd);
		return;
	}
	store_fds = reallocarray(store_fds, store_nfds + 1, sizeof *store_fds);
	if (store_fds == NULL)
		fatal("reallocarray");
	store_fds[store_nfds].name = xstrdup(name);
	store_fds[store_nfds++].fd = fd;
}

/* The passed fd of that name, now the caller's; -1 if none. */
static int
store_take(const char *name)
{
	int i, fd;

	for (i = 0; name != NULL && i < store_nfds; i++) {
		if (store_fds[i].fd >= 0 &&
		    strcmp(store_fds[i].name, name) == 0) {
			fd = store_fds[i].fd;
			store_fds[i].fd = -1;
			return fd;
		}
	}
	return -1;
}

/* Every passed fd nobody took: closed, and out of the store. */
static int
store_passed_close(void)
{
	int i, n = 0;

	for (i = 0; i < store_nfds; i++) {
		if (store_fds[i].fd >= 0) {
			log_debug("fd store: \"%s\" (fd %d) not taken; closed",
			    store_fds[i].name, store_fds[i].fd);
			close(store_fds[i].fd);
			store_drop(store_fds[i].name);
			n++;
		}
		free(store_fds[i].name);
	}
	free(store_fds);
	store_fds = NULL;
	store_nfds = 0;
	return n;
}

/* ---- Recovery. ---- */

/* The record's document from the state memfd; NULL with @why set. */
static char *
store_read(int fd, const char **why)
{
	struct store_hdr h;
	struct stat st;
	char *doc;

	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
		return NULL;
	}
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    memcmp(h.magic, STORE_MAGIC, sizeof h.magic) != 0) {
		*why = "no record header";
		return NULL;
	}
	if (h.len == 0 || h.len > STORE_MAX_DOC || h.off < STORE_BASE ||
	    h.off > (uint64_t)st.st_size ||
	    h.len > (uint64_t)st.st_size - h.off) {
		*why = "the header's offset and length are outside the memfd";
		return NULL;
	}
	doc = xcalloc(1, h.len + 1);
	if (pread(fd, doc, h.len, h.off) != (ssize_t)h.len) {
		free(doc);
		*why = "short read";
		return NULL;
	}
	store_gen = h.gen;
	store_off = h.off;
	store_len = h.len;
	return doc;
}

static const char *
store_jstr(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static bool
store_jbool(json_object *o, const char *key)
{
	json_object *v;

	return json_object_object_get_ex(o, key, &v) &&
	    json_object_get_boolean(v);
}

/* A set's name as configurations allow it. */
static bool
store_name_ok(const char *s, const char *extra)
{
	size_t n = s != NULL ? strlen(s) : 0, i;

	if (n == 0 || n > CONFIG_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || strchr(extra, s[i])))
			return false;
	}
	return true;
}

static const char *
store_dev_fdname(json_object *dev, const char *kind)
{
	json_object *f;

	if (!json_object_object_get_ex(dev, "fds", &f))
		return NULL;
	return store_jstr(f, kind);
}

/* One recorded device back from its stored fds. */
static int
store_adopt_device(const char *set, json_object *dev, struct device **out,
    struct err *e)
{
	const char *name = store_jstr(dev, "name");
	const char *backend = store_jstr(dev, "backend");
	struct device_vfio_fds v;
	int *f[4] = { &v.dev, &v.group, &v.container, &v.iommufd };
	int fd, i;

	*out = NULL;
	if (!store_name_ok(name, "_.:-") || backend == NULL)
		return err_set(e, EINVAL, "a device without a valid name or "
		    "backend");
	if (strcmp(backend, "sim") == 0) {
		fd = store_take(store_dev_fdname(dev, "sim"));
		if (fd < 0)
			return err_set(e, ENOENT, "%s: no stored sim memfd",
			    name);
		return device_sim_adopt(name, fd, out, e);
	}
	if (strcmp(backend, "vfio") != 0)
		return err_set(e, EINVAL, "%s: unknown backend \"%s\"", name,
		    backend);
	for (i = 0; i < 4; i++)
		*f[i] = store_take(store_dev_fdname(dev, store_vfio_kinds[i]));
	if (v.dev < 0) {
		for (i = 1; i < 4; i++)
			if (*f[i] >= 0)
				close(*f[i]);
		return err_set(e, ENOENT, "%s: no stored device fd", name);
	}
	return device_adopt_vfio(name, &v, out, e);
}

/* A set not recovered: the names its devices had leave the store. */
static void
store_drop_recorded(json_object *jdevs)
{
	json_object *f;
	int i, n = json_object_array_length(jdevs);

	for (i = 0; i < n; i++) {
		if (!json_object_object_get_ex(json_object_array_get_idx(jdevs,
		    i), "fds", &f) || !json_object_is_type(f,
		    json_type_object))
			continue;
		json_object_object_foreach(f, key, val) {
			(void)key;
			if (json_object_is_type(val, json_type_string))
				store_drop(json_object_get_string(val));
		}
	}
}

/* Whether the configuration's set @cs has exactly these devices. */
static bool
store_matches(const struct config_set *cs, struct device **devs, int n)
{
	int i;

	if (cs == NULL || cs->ndevices != n)
		return false;
	for (i = 0; i < n; i++) {
		if (strcmp(cs->devices[i].name, devs[i]->name) != 0)
			return false;
	}
	return true;
}

/* What the recorded status says to do, done and logged. */
static bool
store_decide(struct dset *ds, const char *status, bool ending)
{
	struct err e = { 0, "" };
	const char *note;

	/* The ledger's fence is written before the store's "ending". */
	ending = ending || ds->fence.on;
	if (strcmp(status, "outgoing") == 0 && ending) {
		/* As src_unknown(): resuming here could run the VM twice. */
		if (migset_goto(ds->ms, VFIO_DEVICE_STATE_STOP, &e) < 0)
			log_warnx("recovery: set %s: %s", ds->name, e.msg);
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: "
		    "was outgoing, every DEV_END was sent: outcome unknown; the "
		    "devices stay stopped: ask the destination whether it "
		    "committed", ds->name);
		dset_mark_unknown(ds, ds->fence.job, ds->fence.peer);
		dset_release(ds, DSET_FAILED);
		return true;
	}
	if (strcmp(status, "idle") == 0) {
		/* As a set opened without a record (dset.c's rule). */
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: "
		    "was idle: managed again", ds->name);
		dset_release(ds, dset_settle(ds));
		return true;
	}
	if (strcmp(status, "outgoing") == 0) {
		if (migset_rollback(ds->ms, &e) < 0) {
			log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: "
			    "set %s: was %s: rollback failed: %s", ds->name,
			    status, e.msg);
			dset_release(ds, DSET_FAILED);
			return true;
		}
		note = migset_rollback_note(ds->ms);
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: "
		    "was %s: rolled back, every device RUNNING%s%s", ds->name,
		    status, *note != '\0' ? "; " : "", note);
		dset_release(ds, DSET_IDLE);
		return true;
	}
	if (strcmp(status, "incoming") == 0) {
		if (migset_reset(ds->ms, &e) < 0) {
			log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: "
			    "set %s: was incoming: reset failed: %s", ds->name,
			    e.msg);
			dset_release(ds, DSET_FAILED);
			return true;
		}
		if (!ds->from_config) {
			log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: "
			    "set %s: was incoming: devices reset, set dropped",
			    ds->name);
			return false;
		}
		/* The VM did not come back: a fenced set stays so. */
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: "
		    "was incoming: devices reset, set %s", ds->name,
		    ds->fence.on ? "migrated (fenced)" : "idle");
		dset_release(ds, ds->fence.on ? DSET_MIGRATED : DSET_IDLE);
		return true;
	}
	if (strcmp(status, "migrated") == 0) {
		log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: "
		    "was migrated: kept as it was", ds->name);
		dset_release(ds, DSET_MIGRATED);
		return true;
	}
	log_event(LOG_EV_RECOVERED, ds->name, NULL, "recovery: set %s: was "
	    "%s: kept as failed", ds->name, status);
	dset_release(ds, DSET_FAILED);
	return true;
}

/* One recorded set: adopted, decided, added to the daemon. */
static bool
store_recover_set(struct daemon *dm, json_object *js)
{
	const char *name = store_jstr(js, "name");
	const char *status = store_jstr(js, "status");
	struct device *devs[CONFIG_MAX_DEVICES];
	const char *ids[CONFIG_MAX_DEVICES];
	const struct config_set *cs;
	struct err e = { 0, "" };
	json_object *jdevs, *jd;
	struct dset *ds;
	char prefix[CONFIG_NAME_MAX + 32];
	int i, n, rc;
	bool match;

	if (!store_name_ok(name, "_.-") || status == NULL ||
	    !json_object_object_get_ex(js, "devices", &jdevs) ||
	    !json_object_is_type(jdevs, json_type_array) ||
	    (n = json_object_array_length(jdevs)) > CONFIG_MAX_DEVICES) {
		log_warnx("recovery: a recorded set without a valid name, "
		    "status or devices; skipped");
		return false;
	}
	if (daemon_find_set(dm, name) != NULL) {
		log_warnx("recovery: set %s recorded twice; skipped", name);
		return false;
	}
	for (i = 0; i < n; i++) {
		jd = json_object_array_get_idx(jdevs, i);
		ids[i] = store_jstr(jd, "identity");
		rc = store_adopt_device(name, jd, &devs[i], &e);
		if (rc < 0) {
			log_event(LOG_EV_DEVICE_ERROR, name, NULL, "recovery: "
			    "set %s: %s; the set is not recovered", name,
			    e.msg);
			while (i-- > 0)
				device_free(devs[i]);
			store_drop_recorded(jdevs);
			return false;
		}
	}
	cs = config_find_set(dm->conf, name);
	match = store_matches(cs, devs, n);
	if (cs != NULL && !match)
		log_warnx("recovery: set %s: the configuration's devices are "
		    "not the recorded ones; recovered as a run-time set",
		    name);
	rc = dset_adopt(dm, match ? cs : NULL, name, match ?
	    cs->allow_non_p2p : store_jbool(js, "allow_non_p2p"), match ?
	    cs->token : store_jstr(js, "token"), devs, ids, n, &ds, &e);
	if (rc < 0) {
		log_event(LOG_EV_DEVICE_ERROR, name, NULL, "recovery: set %s: "
		    "%s; the set is not recovered", name, e.msg);
		store_drop_recorded(jdevs);
		return false;
	}
	snprintf(prefix, sizeof prefix, "recovery: set %s", name);
	log_info("%s: recorded %s, %d device%s: %s", prefix, status, n,
	    n != 1 ? "s" : "", migset_states_str(ds->ms, (char[512]){ 0 },
	    512));
	if (!store_decide(ds, status, store_jbool(js, "ending"))) {
		for (i = 0; i < migset_count(ds->ms); i++)
			store_device_leave(migset_device(ds->ms, i));
		dset_unref(ds);
		return false;
	}
	if (daemon_add_set(dm, ds, &e) < 0) {
		log_warnx("%s: %s; closed", prefix, e.msg);
		for (i = 0; i < migset_count(ds->ms); i++)
			store_device_leave(migset_device(ds->ms, i));
		dset_unref(ds);
		return false;
	}
	dset_log_devices(ds, prefix);
	return true;
}

int
store_recover(struct daemon *dm)
{
	json_object *o = NULL, *sets = NULL, *v;
	const char *why = NULL;
	char *doc = NULL;
	int fd, i, n = 0, left, nfds = store_nfds;

	if (store_nfds == 0)
		return 0;
	if ((fd = store_take("state")) < 0) {
		left = store_passed_close();
		log_warnx("recovery: %d stored fd%s without a state record; "
		    "closed", left, left != 1 ? "s" : "");
		return 0;
	}
	pthread_mutex_lock(&store_lock);
	store_recovering = true;
	store_state_fd = fd;
	pthread_mutex_unlock(&store_lock);
	if ((doc = store_read(fd, &why)) == NULL)
		;
	else if ((o = json_tokener_parse(doc)) == NULL)
		why = "not JSON";
	else if (!json_object_object_get_ex(o, "version", &v) ||
	    json_object_get_int(v) != STORE_VERSION)
		why = "unknown version";
	else if (!json_object_object_get_ex(o, "sets", &sets) ||
	    !json_object_is_type(sets, json_type_array))
		why = "no sets";
	if (why != NULL) {
		store_off = store_len = 0;
		left = store_passed_close();
		log_warnx("recovery: the state record does not parse: %s; "
		    "%d stored fd%s closed; starting fresh", why, left,
		    left != 1 ? "s" : "");
	} else {
		log_info("recovery: state record with %zu set%s, %d stored "
		    "fd%s", json_object_array_length(sets),
		    json_object_array_length(sets) != 1 ? "s" : "", nfds,
		    nfds != 1 ? "s" : "");
		for (i = 0; i < (int)json_object_array_length(sets); i++)
			n += store_recover_set(dm,
			    json_object_array_get_idx(sets, i));
		left = store_passed_close();
		log_info("recovery: %d set%s recovered; %d stored fd%s not "
		    "taken (data fds among them) closed and removed", n,
		    n != 1 ? "s" : "", left, left != 1 ? "s" : "");
	}
	json_object_put(o);
	free(doc);
	pthread_mutex_lock(&store_lock);
	store_recovering = false;
	pthread_mutex_unlock(&store_lock);
	store_update();
	return n;
}
