/*
 * ledger.c: the sets' durable records under the state directory
 * (ledger.h): one JSON document per set,
 *   {"version": 1, "set": "vm1",
 *    "fence": {"job": "89ab...", "peer": "10.0.0.2:4444",
 *              "time_ms": 1796300000000, "why": "migrated"},
 *    "token": {"sha256": "e3b0...", "job": "89ab...", "committed": true}}
 * either part absent when off, the file gone when both are.
 *
 * Not here: what the records mean to a set (dset.c).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <gnutls/crypto.h>
#include <json-c/json.h>

#include "ledger.h"
#include "log.h"

#define LEDGER_VERSION	1
#define LEDGER_MAX_DOC	(64 * 1024)

static pthread_mutex_t ledger_lock = PTHREAD_MUTEX_INITIALIZER;
static char *ledger_path;	/* the state directory */
static int ledger_sets_fd = -1;	/* STATE_DIR/sets */
static int ledger_lock_fd = -1;	/* STATE_DIR/lock, flocked */

/* ---- Opening. ---- */

static int
ledger_mkdir(const char *path, mode_t mode, struct err *e)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_set(e, errno, "state_dir: mkdir %s: %s", path,
		    strerror(errno));
	return 0;
}

/* Makes @path (0700) and its missing parents (0755, as mkdir -p). */
static int
ledger_mkdirs(const char *path, struct err *e)
{
	char *p = xstrdup(path), *s;
	int rc = 0;

	for (s = p + 1; rc == 0 && (s = strchr(s, '/')) != NULL; s++) {
		*s = '\0';
		rc = ledger_mkdir(p, 0755, e);
		*s = '/';
	}
	if (rc == 0)
		rc = ledger_mkdir(p, 0700, e);
	free(p);
	return rc;
}

/* STATE_DIR/lock: ours, or -EBUSY naming the holder. */
static int
ledger_take_lock(const char *dir, struct err *e)
{
	char path[4096], pid[32];
	int fd, n;

	snprintf(path, sizeof path, "%s/lock", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, errno, "state_dir: %s: %s", path,
		    strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = errno;
		memset(pid, 0, sizeof pid);
		if (pread(fd, pid, sizeof pid - 1, 0) < 0)
			pid[0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		if (n == EWOULDBLOCK)
			return err_set(e, EBUSY, "state_dir %s is used by "
			    "another vfiomigd (pid %s): give each daemon a "
			    "state_dir of its own", dir,
			    *pid != '\0' ? pid : "?");
		return err_set(e, n, "state_dir: flock %s: %s", path,
		    strerror(n));
	}
	n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, n, 0) != n)
		log_debug("state_dir: %s: cannot write the pid", path);
	ledger_lock_fd = fd;
	return 0;
}

/* The configuration's state_dir, else $STATE_DIRECTORY's first, else ours. */
static char *
ledger_dir_of(const char *dir)
{
	const char *env = getenv("STATE_DIRECTORY");
	char path[4096];

	if (dir == NULL && env != NULL && *env == '/' &&
	    strlen(env) < sizeof path)
		dir = strtok(strcpy(path, env), ":");	/* the first of them */
	if (dir == NULL)
		dir = LEDGER_DEFAULT_DIR;
	return xstrdup(dir);
}

/*
 * What ledger_open() would refuse, found without making, locking or
 * writing anything (vfiomigd --check-config): a component of the path that
 * is not a directory, or a lock file that cannot be.  A lock another
 * daemon holds is no error here: that daemon may be the one about to
 * reload this configuration.  Messages as ledger_open()'s.
 */
int
ledger_check(const char *dir, struct err *e)
{
	char *p = ledger_dir_of(dir), *s, *end;
	struct stat st;
	int rc = 0;

	/* As ledger_mkdirs(): each prefix that exists is taken as it is. */
	end = p + strlen(p);
	for (s = p + 1; rc == 0 && s <= end; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		*s = '\0';
		if (stat(p, &st) < 0) {
			/* mkdir would make it: only its parent matters. */
			if (errno != ENOENT)
				rc = err_set(e, errno, "state_dir: mkdir %s: %s",
				    p, strerror(errno));
			*s = s == end ? '\0' : '/';
			break;
		}
		if (s == end && !S_ISDIR(st.st_mode))
			rc = err_set(e, ENOTDIR, "state_dir: %s/lock: %s", p,
			    strerror(ENOTDIR));
		*s = s == end ? '\0' : '/';
	}
	free(p);
	return rc;
}

int
ledger_open(const char *dir, struct err *e)
{
	char path[4096];
	int rc;

	ledger_path = ledger_dir_of(dir);
	if ((rc = ledger_mkdirs(ledger_path, e)) < 0 ||
	    (rc = ledger_take_lock(ledger_path, e)) < 0)
		goto fail;
	snprintf(path, sizeof path, "%s/sets", ledger_path);
	if ((rc = ledger_mkdir(path, 0700, e)) < 0)
		goto fail;
	ledger_sets_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ledger_sets_fd < 0) {
		rc = err_set(e, errno, "state_dir: %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	return 0;
fail:
	ledger_close();
	return rc;
}

void
ledger_close(void)
{
	close_fd(&ledger_sets_fd);
	close_fd(&ledger_lock_fd);
	free(ledger_path);
	ledger_path = NULL;
}

const char *
ledger_dir(void)
{
	return ledger_path != NULL ? ledger_path : "(none)";
}

/* ---- The documents. ---- */

static void
ledger_hex(const uint8_t *b, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", b[i]);
}

static bool
ledger_unhex(const char *s, uint8_t *b, size_t n)
{
	unsigned int v;
	size_t i;

	if (s == NULL || strlen(s) != 2 * n)
		return false;
	for (i = 0; i < n; i++) {
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return false;
		b[i] = v;
	}
	return true;
}

static void
ledger_add_u64hex(json_object *o, const char *key, uint64_t v)
{
	char buf[17];

	snprintf(buf, sizeof buf, "%016" PRIx64, v);
	json_object_object_add(o, key, json_object_new_string(buf));
}

static const char *
ledger_jstr(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static uint64_t
ledger_ju64hex(json_object *o, const char *key)
{
	const char *s = ledger_jstr(o, key);

	return s != NULL ? strtoull(s, NULL, 16) : 0;
}

static json_object *
ledger_to_json(const char *set, const struct ledger_rec *r)
{
	json_object *o = json_object_new_object(), *f, *t;
	char hex[2 * LEDGER_SHA256_LEN + 1];

	json_object_object_add(o, "version",
	    json_object_new_int(LEDGER_VERSION));
	json_object_object_add(o, "set", json_object_new_string(set));
	if (r->fence.on) {
		f = json_object_new_object();
		ledger_add_u64hex(f, "job", r->fence.job);
		json_object_object_add(f, "peer",
		    json_object_new_string(r->fence.peer));
		json_object_object_add(f, "time_ms",
		    json_object_new_int64((int64_t)r->fence.time_ms));
		json_object_object_add(f, "why",
		    json_object_new_string(r->fence.why));
		json_object_object_add(o, "fence", f);
	}
	if (r->token_used) {
		t = json_object_new_object();
		ledger_hex(r->token_sha256, LEDGER_SHA256_LEN, hex);
		json_object_object_add(t, "sha256",
		    json_object_new_string(hex));
		ledger_add_u64hex(t, "job", r->token_job);
		json_object_object_add(t, "committed",
		    json_object_new_boolean(r->token_committed));
		json_object_object_add(o, "token", t);
	}
	return o;
}

static int
ledger_from_json(json_object *o, struct ledger_rec *r)
{
	json_object *f = NULL, *t = NULL, *v;

	memset(r, 0, sizeof *r);
	if (!json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, "version", &v) ||
	    json_object_get_int(v) != LEDGER_VERSION)
		return -EINVAL;
	if (json_object_object_get_ex(o, "fence", &f)) {
		r->fence.on = true;
		r->fence.job = ledger_ju64hex(f, "job");
		snprintf(r->fence.peer, sizeof r->fence.peer, "%s",
		    ledger_jstr(f, "peer") ? ledger_jstr(f, "peer") : "");
		snprintf(r->fence.why, sizeof r->fence.why, "%s",
		    ledger_jstr(f, "why") ? ledger_jstr(f, "why") : "");
		if (json_object_object_get_ex(f, "time_ms", &v))
			r->fence.time_ms = json_object_get_int64(v);
	}
	if (json_object_object_get_ex(o, "token", &t)) {
		if (!ledger_unhex(ledger_jstr(t, "sha256"), r->token_sha256,
		    LEDGER_SHA256_LEN))
			return -EINVAL;
		r->token_used = true;
		r->token_job = ledger_ju64hex(t, "job");
		r->token_committed = json_object_object_get_ex(t, "committed",
		    &v) && json_object_get_boolean(v);
	}
	return 0;
}

/* "NAME.json": set names never hold '/' (config.c, control-cmd.c). */
static int
ledger_file(const char *set, char *buf, size_t len, struct err *e)
{
	if (ledger_sets_fd < 0)
		return err_set(e, ENOTCONN, "no state_dir is open");
	if (*set == '\0' || strchr(set, '/') != NULL ||
	    (size_t)snprintf(buf, len, "%s.json", set) >= len)
		return err_set(e, EINVAL, "set \"%s\": no ledger name", set);
	return 0;
}

/* ledger_lock held. */
static int
ledger_read_locked(const char *set, struct ledger_rec *r, struct err *e)
{
	char name[128], *doc;
	json_object *o;
	ssize_t n;
	int fd, rc;

	memset(r, 0, sizeof *r);
	if ((rc = ledger_file(set, name, sizeof name, e)) < 0)
		return rc;
	fd = openat(ledger_sets_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0)
		return err_set(e, errno, "%s/sets/%s: %s", ledger_path, name,
		    strerror(errno));
	doc = xcalloc(1, LEDGER_MAX_DOC + 1);
	n = read_full(fd, doc, LEDGER_MAX_DOC);
	close(fd);
	o = n > 0 ? json_tokener_parse(doc) : NULL;
	free(doc);
	rc = o != NULL ? ledger_from_json(o, r) : -EINVAL;
	json_object_put(o);
	if (rc < 0)
		return err_set(e, EINVAL, "%s/sets/%s: not a set record "
		    "(remove it by hand if the set is free to run)",
		    ledger_path, name);
	return 0;
}

/* Written to NAME.json.tmp, fsync'd, renamed, the directory fsync'd. */
static int
ledger_write_locked(const char *set, const struct ledger_rec *r,
    struct err *e)
{
	char name[128], tmp[140];
	json_object *o;
	const char *doc;
	int fd, rc = 0;

	if ((rc = ledger_file(set, name, sizeof name, e)) < 0)
		return rc;
	if (!r->fence.on && !r->token_used) {
		if (unlinkat(ledger_sets_fd, name, 0) < 0 && errno != ENOENT)
			return err_set(e, errno, "%s/sets/%s: unlink: %s",
			    ledger_path, name, strerror(errno));
		goto sync;
	}
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	fd = openat(ledger_sets_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC |
	    O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return err_set(e, errno, "%s/sets/%s: %s", ledger_path, tmp,
		    strerror(errno));
	o = ledger_to_json(set, r);
	doc = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	if (write_full(fd, doc, strlen(doc)) < 0 || write_full(fd, "\n", 1) < 0
	    || fsync(fd) < 0)
		rc = err_set(e, errno, "%s/sets/%s: write: %s", ledger_path,
		    tmp, strerror(errno));
	json_object_put(o);
	close(fd);
	if (rc == 0 && renameat(ledger_sets_fd, tmp, ledger_sets_fd, name) < 0)
		rc = err_set(e, errno, "%s/sets/%s: rename: %s", ledger_path,
		    name, strerror(errno));
	if (rc < 0) {
		unlinkat(ledger_sets_fd, tmp, 0);
		return rc;
	}
sync:
	if (fsync(ledger_sets_fd) < 0)
		return err_set(e, errno, "%s/sets: fsync: %s", ledger_path,
		    strerror(errno));
	return 0;
}

int
ledger_get(const char *set, struct ledger_rec *r, struct err *e)
{
	int rc;

	pthread_mutex_lock(&ledger_lock);
	rc = ledger_read_locked(set, r, e);
	pthread_mutex_unlock(&ledger_lock);
	return rc;
}

int
ledger_fence(const char *set, bool on, uint64_t job, const char *peer,
    const char *why, struct err *e)
{
	struct ledger_rec r;
	int rc;

	pthread_mutex_lock(&ledger_lock);
	if ((rc = ledger_read_locked(set, &r, e)) == 0 &&
	    (on || r.fence.on)) {
		memset(&r.fence, 0, sizeof r.fence);
		if (on) {
			r.fence.on = true;
			r.fence.job = job;
			r.fence.time_ms = realtime_ms();
			snprintf(r.fence.peer, sizeof r.fence.peer, "%s",
			    peer != NULL ? peer : "");
			snprintf(r.fence.why, sizeof r.fence.why, "%s", why);
		}
		rc = ledger_write_locked(set, &r, e);
	}
	pthread_mutex_unlock(&ledger_lock);
	return rc;
}

static void
ledger_sha256(const char *token, uint8_t *out)
{
	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, token, strlen(token), out) < 0)
		fatalx("gnutls_hash_fast(SHA256) failed");
}

int
ledger_token(const char *set, const char *token, uint64_t job,
    bool committed, struct err *e)
{
	struct ledger_rec r;
	int rc;

	pthread_mutex_lock(&ledger_lock);
	if ((rc = ledger_read_locked(set, &r, e)) == 0 &&
	    (token != NULL || r.token_used)) {
		r.token_used = token != NULL;
		memset(r.token_sha256, 0, sizeof r.token_sha256);
		if (token != NULL)
			ledger_sha256(token, r.token_sha256);
		r.token_job = token != NULL ? job : 0;
		r.token_committed = token != NULL && committed;
		rc = ledger_write_locked(set, &r, e);
	}
	pthread_mutex_unlock(&ledger_lock);
	return rc;
}

bool
ledger_token_was_used(const struct ledger_rec *r, const char *token)
{
	uint8_t h[LEDGER_SHA256_LEN];

	if (!r->token_used || token == NULL)
		return false;
	ledger_sha256(token, h);
	return memcmp(h, r->token_sha256, sizeof h) == 0;
}

const char *
ledger_fmt_time(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms == 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "(unknown time)");
	else
		strftime(buf, len, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}
