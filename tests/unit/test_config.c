/*
 * test_config.c: config.c against vfiomigd.conf(5).  The shipped example
 * parses into the values it spells; every kind of mistake is refused with
 * -EINVAL and a message that names the file and the JSON path of the key
 * (line:column for syntax errors).  Under ASan every error path is checked
 * for leaks.  No device is opened.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "fsm.h"
#include "util.h"

#define FILE_NAME "t.json"

/* Tests spell JSON with ' for readability; this turns them into ". */
static char *
dq(const char *s)
{
	char *p, *r = xstrdup(s);

	for (p = r; *p != '\0'; p++)
		if (*p == '\'')
			*p = '"';
	return r;
}

static struct config *
accept_json(const char *json)
{
	struct config *c = NULL;
	struct err e;
	char *text = dq(json);
	int rc;

	err_clear(&e);
	rc = config_parse(text, strlen(text), FILE_NAME, &c, &e);
	if (rc != 0)
		print_message("refused: %s\n  %s\n", text, e.msg);
	free(text);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

/* @json is refused with -EINVAL and a message that starts with @want. */
static void
refuse_len(const char *text, size_t len, const char *want)
{
	struct config *c = (struct config *)&c;	/* must be reset to NULL */
	struct err e;
	int rc;

	err_clear(&e);
	rc = config_parse(text, len, FILE_NAME, &c, &e);
	if (rc != -EINVAL || strncmp(e.msg, want, strlen(want)) != 0) {
		print_message("json: %.*s\nwant: %s...\ngot:  %s (%d)\n",
		    (int)len, text, want, e.msg, rc);
	}
	assert_int_equal(rc, -EINVAL);
	assert_null(c);
	assert_int_equal(e.code, EINVAL);
	assert_true(strncmp(e.msg, want, strlen(want)) == 0);
}

static void
refuse(const char *json, const char *want)
{
	char *text = dq(json), *w = dq(want);

	refuse_len(text, strlen(text), w);
	free(text);
	free(w);
}

/* Sets with the devices @devs (JSON text). */
#define ONE_SET(devs) "{'sets': [{'name': 'vm1', 'devices': [" devs "]}]}"
#define SIM(name) "{'name': '" name "', 'backend': 'sim'}"
#define VFIO(name) "{'name': '" name "', 'backend': 'vfio', 'path': '/dev/vfio/devices/vfio0'}"
#define MIG(keys) "{'migration': {" keys "}}"

/* @rel (under the source tree) as a path from the current directory. */
static char *
src_path(const char *rel)
{
	const char *srcdir = getenv("srcdir");
	const char *tail = "tests/unit/test_config.c";
	char buf[4096];
	size_t n;

	if (srcdir != NULL) {
		snprintf(buf, sizeof buf, "%s/%s", srcdir, rel);
		return xstrdup(buf);
	}
	/* Not run by make: find the source tree from this file's name. */
	assert_true(strlen(__FILE__) >= strlen(tail));
	n = strlen(__FILE__) - strlen(tail);
	assert_string_equal(&__FILE__[n], tail);
	snprintf(buf, sizeof buf, "%.*s%s", (int)n, __FILE__, rel);
	return xstrdup(buf);
}

static void
check_example(const struct config *c)
{
	const struct config_set *s;
	const struct config_device *d;

	assert_string_equal(c->control_socket, "/run/vfiomigd/control.sock");
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_string_equal(c->migration.listen, "0.0.0.0:4444");
	assert_string_equal(c->migration.listen_host, "0.0.0.0");
	assert_string_equal(c->migration.listen_port, "4444");
	assert_string_equal(c->metrics.listen, "127.0.0.1:9477");
	assert_string_equal(c->migration.tls_dir, "/etc/pki/vfiomigd");
	assert_false(c->migration.insecure);
	assert_int_equal(c->migration.connections, 4);
	assert_int_equal(c->migration.max_frame, 1 << 20);
	assert_int_equal(c->migration.downtime_limit_ms, 300);
	assert_int_equal(c->migration.max_iterations, 10);
	assert_int_equal(c->nsets, 2);

	s = config_find_set(c, "vm1");
	assert_ptr_equal(s, &c->sets[0]);
	assert_false(s->allow_non_p2p);
	assert_string_equal(s->token, "change-me-to-a-long-random-string");
	assert_int_equal(s->ndevices, 2);
	d = &s->devices[0];
	assert_string_equal(d->name, "nic0");
	assert_int_equal(d->backend, CONFIG_BACKEND_VFIO);
	assert_string_equal(d->path, "/dev/vfio/devices/vfio3");
	assert_null(d->group);
	assert_null(d->device);
	d = &s->devices[1];
	assert_string_equal(d->name, "gpu0");
	assert_int_equal(d->backend, CONFIG_BACKEND_VFIO);
	assert_null(d->path);
	assert_string_equal(d->group, "/dev/vfio/12");
	assert_string_equal(d->device, "0000:3b:00.0");

	s = config_find_set(c, "sim-demo");
	assert_ptr_equal(s, &c->sets[1]);
	assert_null(s->token);
	assert_int_equal(s->ndevices, 2);
	d = &s->devices[0];
	assert_string_equal(d->name, "sim0");
	assert_int_equal(d->backend, CONFIG_BACKEND_SIM);
	assert_int_equal(d->state_size, 256ull << 20);
	assert_int_equal(d->dirty_rate, 2000);
	assert_int_equal(d->p2p_rate, 5000);
	assert_int_equal(d->arc_latency_us, 0);
	assert_int_equal(d->flags, CONFIG_SIM_ALL);
	assert_int_equal(d->seed, 1);
	d = &s->devices[1];
	assert_int_equal(d->state_size, 64ull << 20);
	assert_int_equal(d->flags, CONFIG_SIM_STOP_COPY | CONFIG_SIM_P2P);
	assert_null(config_find_set(c, "vm2"));
}

static void
test_example(void **state)
{
	struct config *c;
	struct err e;
	char *path = src_path("docs/vfiomigd.conf.example");

	err_clear(&e);
	if (config_load(path, &c, &e) != 0)
		print_message("%s\n", e.msg);
	assert_non_null(c);
	assert_string_equal(c->filename, path);
	check_example(c);
	config_free(c);
	free(path);
}

/* The example in the man page's EXAMPLES is valid too. */
static void
test_manpage_example(void **state)
{
	char *path = src_path("docs/vfiomigd.conf.5"), *text, *start, *end;
	struct config *c;
	struct err e;
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	text = xcalloc(1, 65536);
	n = read_full(fd, text, 65535);
	close(fd);
	assert_true(n > 0 && n < 65535);
	start = strstr(text, "\n.Sh EXAMPLES\n");
	assert_non_null(start);
	start = strstr(start, "\n.Bd -literal");
	assert_non_null(start);
	start = strchr(start + 1, '\n') + 1;
	end = strstr(start, "\n.Ed\n");
	assert_non_null(end);
	err_clear(&e);
	if (config_parse(start, end - start + 1, "vfiomigd.conf.5", &c, &e) != 0)
		print_message("%s\n", e.msg);
	assert_non_null(c);
	assert_int_equal(c->nsets, 2);
	assert_string_equal(c->sets[0].devices[1].device, "0000:3b:00.0");
	assert_string_equal(c->metrics.listen, "127.0.0.1:9477");
	config_free(c);
	free(text);
	free(path);
}

static void
test_defaults(void **state)
{
	struct config *c = accept_json("{}");

	assert_string_equal(c->control_socket, CONFIG_DEFAULT_CONTROL_SOCKET);
	assert_int_equal(c->log_level, LOG_LVL_INFO);
	assert_null(c->migration.listen);
	assert_null(c->migration.tls_dir);
	assert_int_equal(c->migration.connections, 1);
	assert_int_equal(c->migration.max_frame, 1 << 20);
	assert_int_equal(c->migration.downtime_limit_ms, 300);
	assert_int_equal(c->migration.max_iterations, 10);
	/* Pre-copy that does not converge is aborted: the VM runs on. */
	assert_int_equal(c->migration.action, MIG_ACT_ABORT);
	assert_int_equal(c->migration.precopy_timeout_ms, 0);
	assert_int_equal(c->migration.max_active_jobs, 0);
	assert_int_equal(c->nsets, 0);
	config_free(c);

	c = accept_json("{'log_level': 'debug', 'migration': {'insecure': true,"
	    " 'listen': '[::1]:7000', 'max_frame': 4096}, 'sets': [{'name': "
	    "'a', 'allow_non_p2p': true, 'devices': [" SIM("s") "]}]}");
	assert_int_equal(c->log_level, LOG_LVL_DEBUG);
	assert_true(c->migration.insecure);
	assert_null(c->migration.tls_dir);
	assert_string_equal(c->migration.listen_host, "::1");
	assert_string_equal(c->migration.listen_port, "7000");
	assert_int_equal(c->migration.max_frame, 4096);
	assert_true(c->sets[0].allow_non_p2p);
	assert_int_equal(c->sets[0].devices[0].state_size,
	    CONFIG_DEFAULT_SIM_STATE_SIZE);
	assert_int_equal(c->sets[0].devices[0].flags, CONFIG_SIM_ALL);
	assert_int_equal(c->sets[0].devices[0].seed, 0);
	assert_int_equal(c->sets[0].devices[0].dirty_rate,
	    CONFIG_DEFAULT_SIM_DIRTY_RATE);
	assert_int_equal(c->sets[0].devices[0].p2p_rate,
	    CONFIG_DEFAULT_SIM_P2P_RATE);
	assert_int_equal(c->sets[0].devices[0].arc_latency_us, 0);
	config_free(c);
}

static void
test_syntax(void **state)
{
	static const char nul[] = "{\n\"a\0\": 1}";

	/* Missing ',' before "b": line 3, column 3. */
	refuse("{\n  'sets': []\n  'log_level': 'info'\n}",
	    FILE_NAME ":3:3: syntax error: ");
	refuse("{'sets': [],\n}", FILE_NAME ":2:1: syntax error: ");
	refuse("{\n\t'sets': [\n", FILE_NAME ":3:1: syntax error: ");
	refuse("{} x", FILE_NAME ":1:4: syntax error: ");
	refuse("{}{}", FILE_NAME ":1:3: syntax error: ");
	refuse("{'a': /* no */ 1}", FILE_NAME ":1:7: syntax error: ");
	refuse("{'a': \xff}", FILE_NAME ":1:7: syntax error: ");
	refuse_len(nul, sizeof nul - 1, FILE_NAME ":2:3: syntax error: NUL");
}

static void
test_empty(void **state)
{
	refuse("", FILE_NAME ": empty");
	refuse(" \n\t\r\n", FILE_NAME ": empty");
	refuse_len("{}", 0, FILE_NAME ": empty");
}

static void
test_not_object(void **state)
{
	refuse("[]", FILE_NAME ": the top level must be an object, not an array");
	refuse("5", FILE_NAME ": the top level must be an object, not an integer");
	refuse("'x'", FILE_NAME ": the top level must be an object, not a string");
	refuse("null", FILE_NAME ": the top level must be an object, not null");
}

static void
test_unknown_key(void **state)
{
	refuse("{'contorl_socket': '/x'}", FILE_NAME ": contorl_socket: unknown key");
	refuse(MIG("'tls_dir': '/t', 'lisen': ':1'"),
	    FILE_NAME ": migration.lisen: unknown key");
	refuse("{'sets': [{'name': 'a', 'devise': []}]}",
	    FILE_NAME ": sets[0].devise: unknown key");
	refuse(ONE_SET(SIM("a") ", {'name': 'b', 'backend': 'sim', "
	    "'stat_size': 1}"), FILE_NAME ": sets[0].devices[1].stat_size: "
	    "unknown key (expected one of: name, backend, path,");
	/* A key of the other backend is not ignored either. */
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'path': '/d', "
	    "'dirty_rate': 1}"), FILE_NAME ": sets[0].devices[0].dirty_rate: "
	    "only valid with backend 'sim'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'group': '/g'}"),
	    FILE_NAME ": sets[0].devices[0].group: only valid with backend 'vfio'");
}

/* The simulator's fault injection (a test knob). */
static void
test_sim_faults(void **state)
{
	struct config_device *d;
	struct config *c;

	c = accept_json(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': ["
	    "{'from': 'STOP', 'to': 'running_p2p', 'count': 2}, {'to': "
	    "'VFIO_DEVICE_STATE_STOP_COPY', 'errno': 16, 'to_error': true}, "
	    "{}, {'reset': true, 'count': 3}]}, " SIM("b")));
	d = &c->sets[0].devices[0];
	assert_int_equal(d->nfaults, 4);
	assert_int_equal(d->faults[0].from, VFIO_DEVICE_STATE_STOP);
	assert_int_equal(d->faults[0].to, VFIO_DEVICE_STATE_RUNNING_P2P);
	assert_int_equal(d->faults[0].err, EIO);
	assert_false(d->faults[0].to_error);
	assert_int_equal(d->faults[0].count, 2);
	assert_int_equal(d->faults[1].from, -1);
	assert_int_equal(d->faults[1].to, VFIO_DEVICE_STATE_STOP_COPY);
	assert_int_equal(d->faults[1].err, EBUSY);
	assert_true(d->faults[1].to_error);
	assert_int_equal(d->faults[1].count, 0);
	assert_false(d->faults[1].reset);
	assert_int_equal(d->faults[2].from, -1);
	assert_int_equal(d->faults[2].to, -1);
	assert_false(d->faults[2].reset);
	assert_true(d->faults[3].reset);
	assert_int_equal(d->faults[3].count, 3);
	assert_int_equal(c->sets[0].devices[1].nfaults, 0);
	config_free(c);

	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': {}}"),
	    FILE_NAME ": sets[0].devices[0].faults: expected an array of "
	    "faults, got an object");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{'to': "
	    "'STOPPED'}]}"), FILE_NAME ": sets[0].devices[0].faults[0].to: "
	    "'STOPPED' is no state a device moves into or out of");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{}, "
	    "{'from': 'ERROR'}]}"), FILE_NAME ": sets[0].devices[0].faults[1]."
	    "from: 'ERROR' is no state");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{'errno': "
	    "0}]}"), FILE_NAME ": sets[0].devices[0].faults[0].errno: 0 is out "
	    "of range (1..4095)");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{'count': "
	    "-1}]}"), FILE_NAME ": sets[0].devices[0].faults[0].count: -1 is "
	    "out of range");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{'cont': "
	    "1}]}"), FILE_NAME ": sets[0].devices[0].faults[0].cont: unknown "
	    "key (expected one of: from, to, errno, to_error, reset, count)");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{'reset': "
	    "true, 'to': 'STOP'}]}"), FILE_NAME ": sets[0].devices[0].faults[0]:"
	    " a reset fault names no arc ('from', 'to')");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'faults': [{}, {}, "
	    "{}, {}, {}, {}, {}, {}, {}]}"), FILE_NAME ": sets[0].devices[0]."
	    "faults: more than 8 faults");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'path': '/dev/x', "
	    "'faults': []}"), FILE_NAME ": sets[0].devices[0].faults: only "
	    "valid with backend 'sim'");
}

static void
test_wrong_type(void **state)
{
	refuse(MIG("'insecure': true, 'connections': '2'"),
	    FILE_NAME ": migration.connections: expected an integer, got a string");
	refuse(MIG("'insecure': 1"),
	    FILE_NAME ": migration.insecure: expected true or false, got an integer");
	refuse(MIG("'insecure': true, 'downtime_limit_ms': 1.5"),
	    FILE_NAME ": migration.downtime_limit_ms: expected an integer, got a "
	    "non-integer number");
	refuse("{'migration': []}",
	    FILE_NAME ": migration: expected an object, got an array");
	refuse("{'sets': {}}", FILE_NAME ": sets: expected an array of sets, got "
	    "an object");
	refuse("{'control_socket': null}",
	    FILE_NAME ": control_socket: expected a string, got null");
	refuse("{'sets': [5]}", FILE_NAME ": sets[0]: expected an object, got an "
	    "integer");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'flags': 'P2P'}"),
	    FILE_NAME ": sets[0].devices[0].flags: expected an array");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': true}"),
	    FILE_NAME ": sets[0].devices[0].state_size: expected a size");
	refuse("{'control_socket': 'run/x.sock'}",
	    FILE_NAME ": control_socket: 'run/x.sock' is not an absolute path");
	refuse("{'control_socket': ''}", FILE_NAME ": control_socket: must not be "
	    "empty");
	refuse("{'control_socket': '/a\\u0000b'}", FILE_NAME ": control_socket: "
	    "contains a NUL");
	/* Every string: a token with a NUL inside, invalid UTF-8 anywhere. */
	refuse("{'sets': [{'name': 'vm1', 'token': 'AAAAAAAAAAAAAAAA\\u0000"
	    "secret', 'devices': [{'name': 'a', 'backend': 'sim'}]}]}",
	    FILE_NAME ": sets[0].token: contains a NUL");
	refuse("{'sets': [{'name': 'v\\u0000m', 'devices': []}]}",
	    FILE_NAME ": sets[0].name: contains a NUL");
	refuse("{'control_socket': '/a\xc0\x80" "b'}", FILE_NAME
	    ": control_socket: is not valid UTF-8");
	refuse("{'log_level': '\xed\xa0\x80'}", FILE_NAME
	    ": log_level: is not valid UTF-8");
	refuse("{'state_dir': 'var/lib/x'}", FILE_NAME ": state_dir: "
	    "'var/lib/x' is not an absolute path");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_file': 'x'}"),
	    FILE_NAME ": sets[0].devices[0].state_file: 'x' is not an "
	    "absolute path");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'path': '/dev/x', "
	    "'state_file': '/x'}"), FILE_NAME ": sets[0].devices[0].state_file: "
	    "only valid with backend \"sim\"");
}

/* The pre-copy policy: the daemon's and a set's own. */
static void
test_policy(void **state)
{
	struct config *c = accept_json("{'migration': {'insecure': true, "
	    "'precopy_timeout_action': 'wait', 'precopy_timeout_ms': 60000, "
	    "'max_active_jobs': 3}, 'sets': [{'name': 'a', 'devices': ["
	    SIM("s") "], 'downtime_limit_ms': 50, 'max_iterations': 5, "
	    "'precopy_timeout_ms': 2000, 'precopy_timeout_action': "
	    "'switchover'}, {'name': 'b', 'devices': [" SIM("s") "]}]}");

	assert_int_equal(c->migration.action, MIG_ACT_WAIT);
	assert_int_equal(c->migration.precopy_timeout_ms, 60000);
	assert_int_equal(c->migration.max_active_jobs, 3);
	assert_int_equal(c->sets[0].policy.downtime_limit_ms, 50);
	assert_int_equal(c->sets[0].policy.max_iterations, 5);
	assert_int_equal(c->sets[0].policy.precopy_timeout_ms, 2000);
	assert_int_equal(c->sets[0].policy.action, MIG_ACT_SWITCHOVER);
	/* Set b names none: the daemon's apply. */
	assert_int_equal(c->sets[1].policy.downtime_limit_ms, 0);
	assert_int_equal(c->sets[1].policy.action, MIG_ACT_DEFAULT);
	config_free(c);
	assert_int_equal(mig_action_parse("abort"), MIG_ACT_ABORT);
	assert_int_equal(mig_action_parse("wait"), MIG_ACT_WAIT);
	assert_int_equal(mig_action_parse("default"), -EINVAL);
	assert_int_equal(mig_action_parse("Abort"), -EINVAL);
	assert_string_equal(mig_action_name(MIG_ACT_SWITCHOVER), "switchover");
	refuse(MIG("'insecure': true, 'precopy_timeout_action': 'retry'"),
	    FILE_NAME ": migration.precopy_timeout_action: \"retry\" is no "
	    "action: abort, switchover or wait");
	refuse(MIG("'insecure': true, 'precopy_timeout_action': 1"),
	    FILE_NAME ": migration.precopy_timeout_action: expected a string");
	refuse(MIG("'insecure': true, 'max_active_jobs': 0"),
	    FILE_NAME ": migration.max_active_jobs: 0 is out of range");
	refuse(MIG("'insecure': true, 'precopy_timeout_ms': 86400001"),
	    FILE_NAME ": migration.precopy_timeout_ms: 86400001 is out of range");
	refuse("{'sets': [{'name': 'a', 'downtime_limit_ms': 0, 'devices': ["
	    SIM("s") "]}]}",
	    FILE_NAME ": sets[0].downtime_limit_ms: 0 is out of range");
	refuse("{'sets': [{'name': 'a', 'precopy_timeout_action': 'default', "
	    "'devices': [" SIM("s") "]}]}", FILE_NAME ": sets[0]."
	    "precopy_timeout_action: \"default\" is no action: abort, "
	    "switchover or wait");
}

static void
test_out_of_range(void **state)
{
	refuse(MIG("'insecure': true, 'connections': 17"),
	    FILE_NAME ": migration.connections: 17 is out of range (1..16)");
	refuse(MIG("'insecure': true, 'connections': 0"),
	    FILE_NAME ": migration.connections: 0 is out of range (1..16)");
	refuse(MIG("'insecure': true, 'connections': -1"),
	    FILE_NAME ": migration.connections: -1 is out of range");
	refuse(MIG("'insecure': true, 'connections': 99999999999999999999999"),
	    FILE_NAME ": migration.connections: ");
	refuse(MIG("'insecure': true, 'max_frame': '1K'"),
	    FILE_NAME ": migration.max_frame: '1K' is out of range");
	refuse(MIG("'insecure': true, 'max_frame': 16777217"),
	    FILE_NAME ": migration.max_frame: 16777217 is out of range");
	refuse(MIG("'insecure': true, 'max_iterations': 0"),
	    FILE_NAME ": migration.max_iterations: 0 is out of range");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': '65G'}"),
	    FILE_NAME ": sets[0].devices[0].state_size: '65G' is out of range");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': "
	    "'99999999999999999999'}"),
	    FILE_NAME ": sets[0].devices[0].state_size: '99999999999999999999' "
	    "is out of range");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': -4096}"),
	    FILE_NAME ": sets[0].devices[0].state_size: a size cannot be negative");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'p2p_rate': 4294967296}"),
	    FILE_NAME ": sets[0].devices[0].p2p_rate: 4294967296 is out of range");
	refuse("{'sets': [{'name': 'a', 'token': 'short', 'devices': [" SIM("s")
	    "]}]}", FILE_NAME ": sets[0].token: a token has 16 to 256 bytes, not 5");
	refuse("{'sets': [{'name': 'a', 'token': '123456789012345', 'devices': ["
	    SIM("s") "]}]}", FILE_NAME ": sets[0].token: a token has 16 to 256 "
	    "bytes, not 15");
}

static void
test_bad_size(void **state)
{
	static const char *bad[] = { "256X", "256MB", "M", "", " 1M", "1.5",
	    "1.1K", "-1K", "0x10", "nan", "1e5", "4096B" };
	char json[256], want[256];
	struct config *c;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(json, sizeof json, ONE_SET("{'name': 'a', 'backend': "
		    "'sim', 'state_size': '%s'}"), bad[i]);
		snprintf(want, sizeof want, FILE_NAME ": sets[0].devices[0]."
		    "state_size: %s", bad[i][0] ? "bad size" : "must not be empty");
		refuse(json, want);
	}
	/* size_parse()'s message, after the key. */
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': '1.1K'}"),
	    FILE_NAME ": sets[0].devices[0].state_size: bad size: \"1.1K\" is "
	    "not a whole number of bytes");
	/* Within the syntax, beyond the key's range (64 GiB). */
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': '1T'}"),
	    FILE_NAME ": sets[0].devices[0].state_size: '1T' is out of range");
	c = accept_json(ONE_SET("{'name': 'a', 'backend': 'sim', 'state_size': "
	    "'1g'}, {'name': 'b', 'backend': 'sim', 'state_size': '64k'}, "
	    "{'name': 'c', 'backend': 'sim', 'state_size': '1.5GiB'}, "
	    "{'name': 'd', 'backend': 'sim', 'state_size': 8192}"));
	assert_int_equal(c->sets[0].devices[0].state_size, 1ull << 30);
	assert_int_equal(c->sets[0].devices[1].state_size, 64 << 10);
	assert_int_equal(c->sets[0].devices[2].state_size, 1610612736);
	assert_int_equal(c->sets[0].devices[3].state_size, 8192);
	config_free(c);
}

static void
test_duplicates(void **state)
{
	/* json-c would keep the last one: the scan refuses both. */
	refuse("{'log_level': 'info',\n 'log_level': 'debug'}",
	    FILE_NAME ": log_level: duplicate key (lines 1 and 2)");
	refuse("{'sets': [{'name': 'a', 'devices': [" SIM("s") "]},\n{'name': "
	    "'b', 'devices': [" SIM("s") ", {'name': 'x', 'backend': 'sim',"
	    "\n'seed': 1, 'name': 'y'}]}]}",
	    FILE_NAME ": sets[1].devices[1].name: duplicate key (lines 2 and 3)");
	refuse("{'migration': {'insecure': true, 'x': {'a': 1, 'a': 2}}}",
	    FILE_NAME ": migration.x.a: duplicate key");
	refuse("{'sets': [{'name': 'vm1', 'devices': [" SIM("a") "]}, {'name': "
	    "'vm2', 'devices': [" SIM("a") "]}, {'name': 'vm1', 'devices': ["
	    SIM("b") "]}]}",
	    FILE_NAME ": sets[2].name: duplicate set name 'vm1' (also sets[0])");
	refuse(ONE_SET(SIM("a") "," VFIO("nic0") "," SIM("nic0")),
	    FILE_NAME ": sets[0].devices[2].name: duplicate device name 'nic0' "
	    "(also devices[1])");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'flags': ['P2P', "
	    "'STOP_COPY', 'P2P']}"),
	    FILE_NAME ": sets[0].devices[0].flags[2]: duplicate flag 'P2P'");
}

static void
test_same_keys(void **state)
{
	struct config *c;

	/* Same keys in different objects; quotes, braces, commas in strings. */
	c = accept_json("{'sets': [{'name': 'a', 'devices': [{'name': 'n', "
	    "'backend': 'sim'}, {'name': 'm', 'backend': 'vfio', 'group': "
	    "'/g\\'},{', 'device': 'x\\\\'}]}, {'name': 'b', 'devices': "
	    "[{'name': 'n', 'backend': 'sim'}]}]}");
	assert_int_equal(c->nsets, 2);
	assert_string_equal(c->sets[0].devices[1].group, "/g\"},{");
	assert_string_equal(c->sets[0].devices[1].device, "x\\");
	config_free(c);
}

static void
test_vfio(void **state)
{
	struct config *c;

	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'path': '/d', "
	    "'group': '/dev/vfio/1', 'device': '0000:00:01.0'}"),
	    FILE_NAME ": sets[0].devices[0]: 'path' excludes 'group'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'path': '/d', "
	    "'device': 'x'}"), FILE_NAME ": sets[0].devices[0]: 'path' excludes");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'group': '/dev/vfio/1'}"),
	    FILE_NAME ": sets[0].devices[0]: 'group' needs 'device'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfio', 'device': 'x'}"),
	    FILE_NAME ": sets[0].devices[0]: 'device' needs 'group'");
	refuse(ONE_SET(SIM("s") ", {'name': 'a', 'backend': 'vfio'}"),
	    FILE_NAME ": sets[0].devices[1]: missing 'path'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'vfi'}"),
	    FILE_NAME ": sets[0].devices[0].backend: unknown backend 'vfi' "
	    "(expected 'vfio' or 'sim')");
	refuse(ONE_SET("{'name': 'a'}"),
	    FILE_NAME ": sets[0].devices[0]: missing 'backend'");
	refuse(ONE_SET("{'backend': 'sim'}"),
	    FILE_NAME ": sets[0].devices[0]: missing 'name'");
	refuse(ONE_SET("{'name': 'a b', 'backend': 'sim'}"),
	    FILE_NAME ": sets[0].devices[0].name: bad name 'a b'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'flags': ['P2P', 'X']}"),
	    FILE_NAME ": sets[0].devices[0].flags[1]: unknown flag 'X'");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'flags': ['P2P', "
	    "'PRE_COPY']}"),
	    FILE_NAME ": sets[0].devices[0].flags: 'STOP_COPY' missing");
	refuse(ONE_SET("{'name': 'a', 'backend': 'sim', 'flags': []}"),
	    FILE_NAME ": sets[0].devices[0].flags: 'STOP_COPY' missing");
	c = accept_json(ONE_SET("{'name': 'gpu:0', 'backend': 'vfio', 'group': "
	    "'/dev/vfio/7', 'device': '83b8f4f2-509f-382f-3c1e-e6bfe0fa1001'}"));
	assert_string_equal(c->sets[0].devices[0].name, "gpu:0");
	assert_null(c->sets[0].devices[0].path);
	config_free(c);
}

static void
test_sets(void **state)
{
	refuse("{'sets': [{'name': 'vm:1', 'devices': [" SIM("a") "]}]}",
	    FILE_NAME ": sets[0].name: bad name 'vm:1'");
	refuse("{'sets': [{'name': '" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaa', 'devices': [" SIM("a") "]}]}",
	    FILE_NAME ": sets[0].name: name longer than 64");
	refuse("{'sets': [{'devices': [" SIM("a") "]}]}",
	    FILE_NAME ": sets[0]: missing 'name'");
	refuse("{'sets': [{'name': 'a'}]}", FILE_NAME ": sets[0]: missing 'devices'");
	refuse("{'sets': [{'name': 'a', 'devices': []}]}",
	    FILE_NAME ": sets[0].devices: a set needs at least one device");
	refuse("{'log_level': 'verbose'}",
	    FILE_NAME ": log_level: unknown level 'verbose'");
}

static void
test_tls(void **state)
{
	struct config *c;

	refuse(MIG("'listen': '0.0.0.0:4444'"),
	    FILE_NAME ": migration: missing 'tls_dir' (or 'insecure': true");
	refuse(MIG("'insecure': false"), FILE_NAME ": migration: missing 'tls_dir'");
	refuse(MIG("'insecure': true, 'tls_dir': '/etc/pki/vfiomigd'"),
	    FILE_NAME ": migration: 'tls_dir' and 'insecure': true exclude");
	refuse(MIG("'tls_dir': 'pki'"),
	    FILE_NAME ": migration.tls_dir: 'pki' is not an absolute path");
	c = accept_json(MIG("'insecure': true, 'listen': '127.0.0.1:1'"));
	assert_true(c->migration.insecure);
	assert_string_equal(c->migration.listen_port, "1");
	config_free(c);
}

static void
test_listen(void **state)
{
	static const char *bad[] = {
		"0.0.0.0", "::1:4444", "[::1]", "[::1]4444", "[::1:4444",
		"[]:4444", ":4444", "h:0", "h:65536", "h:", "h:44a", "h:+1",
		"a b:1", "h:-1",
	};
	char json[256], want[256];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(json, sizeof json, MIG("'insecure': true, 'listen': "
		    "'%s'"), bad[i]);
		snprintf(want, sizeof want, FILE_NAME ": migration.listen: bad "
		    "address '%s': ", bad[i]);
		refuse(json, want);
	}
}

/* "metrics": off unless given; its listen as migration.listen's. */
static void
test_metrics(void **state)
{
	static const char *bad[] = {
		"0.0.0.0", "::1:9477", "[::1]", "h:0", "h:65536", "h:", "a b:1",
	};
	struct config *c;
	char json[256], want[256];
	size_t i;

	c = accept_json("{}");
	assert_null(c->metrics.listen);
	config_free(c);
	c = accept_json("{'metrics': {'listen': '127.0.0.1:9477'}}");
	assert_string_equal(c->metrics.listen, "127.0.0.1:9477");
	assert_string_equal(c->metrics.listen_host, "127.0.0.1");
	assert_string_equal(c->metrics.listen_port, "9477");
	config_free(c);
	c = accept_json("{'metrics': {'listen': '[::1]:9477'}, "
	    "'migration': {'insecure': true, 'listen': '[::1]:4444'}}");
	assert_string_equal(c->metrics.listen_host, "::1");
	config_free(c);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		snprintf(json, sizeof json, "{'metrics': {'listen': '%s'}}",
		    bad[i]);
		snprintf(want, sizeof want, FILE_NAME ": metrics.listen: bad "
		    "address '%s': ", bad[i]);
		refuse(json, want);
	}
	refuse("{'metrics': {}}", FILE_NAME ": metrics: missing 'listen' "
	    "(leave 'metrics' out for no metrics endpoint)");
	refuse("{'metrics': '127.0.0.1:9477'}", FILE_NAME ": metrics: "
	    "expected an object");
	refuse("{'metrics': {'listen': 9477}}", FILE_NAME ": metrics.listen: "
	    "expected a string");
	refuse("{'metrics': {'listen': '127.0.0.1:9477', 'port': 1}}",
	    FILE_NAME ": metrics.port: unknown key");
	refuse("{'migration': {'insecure': true, 'listen': '127.0.0.1:4444'}, "
	    "'metrics': {'listen': '127.0.0.1:4444'}}", FILE_NAME
	    ": metrics.listen: '127.0.0.1:4444' is migration.listen");
}

static void
test_hostport(void **state)
{
	static const struct {
		const char *in, *host, *port;
	} ok[] = {
		{ "0.0.0.0:4444", "0.0.0.0", "4444" },
		{ "[::]:4444", "::", "4444" },
		{ "[fe80::1%eth0]:65535", "fe80::1%eth0", "65535" },
		{ "dst.example.org:1", "dst.example.org", "1" },
	};
	char *host, *port;
	struct err e;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		assert_int_equal(config_parse_hostport(ok[i].in, &host, &port,
		    &e), 0);
		assert_string_equal(host, ok[i].host);
		assert_string_equal(port, ok[i].port);
		free(host);
		free(port);
	}
	assert_int_equal(config_parse_hostport("::1", &host, &port, &e), -EINVAL);
	assert_null(host);
	assert_null(port);
	assert_non_null(strstr(e.msg, "\"::1\""));
}

static void
write_file(const char *path, const char *text, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write_full(fd, text, len), (ssize_t)len);
	close(fd);
}

static void
test_load(void **state)
{
	char dir[] = "/tmp/test_config.XXXXXX", path[64];
	struct config *c = (struct config *)&c;
	struct err e;
	char *big;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/missing.json", dir);
	assert_int_equal(config_load(path, &c, &e), -ENOENT);
	assert_null(c);
	assert_true(strncmp(e.msg, path, strlen(path)) == 0);

	assert_int_equal(config_load(dir, &c, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "not a regular file"));

	snprintf(path, sizeof path, "%s/vfiomigd.json", dir);
	write_file(path, "{\n  \"sets\": 1\n}", strlen("{\n  \"sets\": 1\n}"));
	assert_int_equal(config_load(path, &c, &e), -EINVAL);
	assert_null(c);
	assert_true(strncmp(e.msg, path, strlen(path)) == 0);
	assert_non_null(strstr(e.msg, ": sets: expected an array"));

	big = xcalloc(1, CONFIG_FILE_MAX + 1);
	memset(big, ' ', CONFIG_FILE_MAX + 1);
	big[0] = '{';
	big[CONFIG_FILE_MAX] = '}';
	write_file(path, big, CONFIG_FILE_MAX + 1);
	assert_int_equal(config_load(path, &c, &e), -EFBIG);
	assert_null(c);
	big[1] = '{';	/* exactly at the limit */
	write_file(path, big + 1, CONFIG_FILE_MAX);
	assert_int_equal(config_load(path, &c, &e), 0);
	assert_int_equal(c->nsets, 0);
	config_free(c);
	free(big);

	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_manpage_example),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_syntax),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_not_object),
		cmocka_unit_test(test_unknown_key),
		cmocka_unit_test(test_wrong_type),
		cmocka_unit_test(test_sim_faults),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_policy),
		cmocka_unit_test(test_bad_size),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_same_keys),
		cmocka_unit_test(test_vfio),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_hostport),
		cmocka_unit_test(test_load),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
