/*
 * fuzz_ctl.c: libFuzzer harness of the control socket's request path
 * (control.c's ctl_serve(): unpacking, the string checks, the
 * credentials, control-cmd.c's handlers) against a daemon built in
 * memory: two configured sets of two small simulated devices, a ledger in
 * a temporary directory, a control socket and one client (root, on a
 * socketpair).  The input is one Request packet.  After each, the event
 * loop runs once (events fan out) and the client's side is drained.
 *
 * What would reach outside is left out, as the daemon's other requests
 * would not be: PrepareIncoming with a listen address (binds sockets),
 * devices by cdev or group path (opens arbitrary paths) or with a
 * state_file (makes files), simulated devices of more than 1 MiB; and no
 * job starts: the daemon here is stopping from the start, so
 * xfer_job_register() refuses ("the daemon is stopping") and Migrate goes
 * as far as claiming the set and rolls back.
 * tests/fuzz/README.md: how to run it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "control.h"
#include "daemon.h"
#include "dset.h"
#include "ledger.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct daemon dm;
static struct dset_observer ctl_obs = { ctl_set_event, NULL, NULL };
static struct ctl_client *client;
static int peer = -1;
static char tdir[64];

/* ---- The daemon. ---- */

static const char conf_fmt[] =
    "{\"control_socket\": \"%s/ctl.sock\", \"state_dir\": \"%s/state\","
    " \"log_level\": \"error\","
    " \"migration\": {\"insecure\": true},"
    " \"sets\": ["
    "  {\"name\": \"vm1\", \"token\": \"0123456789abcdef-vm1-token\","
    "   \"devices\": ["
    "    {\"name\": \"sim0\", \"backend\": \"sim\", \"state_size\": \"64K\","
    "     \"dirty_rate\": 0, \"p2p_rate\": 0},"
    "    {\"name\": \"sim1\", \"backend\": \"sim\", \"state_size\": \"64K\","
    "     \"dirty_rate\": 0, \"p2p_rate\": 0}]},"
    "  {\"name\": \"vm2\", \"devices\": ["
    "    {\"name\": \"sim0\", \"backend\": \"sim\", \"state_size\": \"64K\","
    "     \"dirty_rate\": 0, \"p2p_rate\": 0}]}]}";

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char text[2048];
	struct err e = { 0, "" };
	struct dset *ds;
	int i, sp[2];

	log_init("fuzz_ctl", LOG_LVL_ERR);
	snprintf(tdir, sizeof tdir, "/tmp/fuzz_ctl.XXXXXX");
	if (mkdtemp(tdir) == NULL)
		abort();
	snprintf(text, sizeof text, conf_fmt, tdir, tdir);
	memset(&dm, 0, sizeof dm);
	pthread_mutex_init(&dm.sets_lock, NULL);
	pthread_mutex_init(&dm.jobs_lock, NULL);
	pthread_cond_init(&dm.cond, NULL);
	TAILQ_INIT(&dm.jobs);
	TAILQ_INIT(&dm.checks);
	TAILQ_INIT(&dm.handshakes);
	dm.stopping = true;	/* no job starts: xfer_job_register() refuses */
	/* As main wires it: the sets' notices reach the control socket. */
	ctl_obs.arg = &dm;
	dset_observe(&ctl_obs);
	if (evthread_use_pthreads() < 0 ||
	    (dm.base = event_base_new()) == NULL ||
	    config_parse(text, strlen(text), "fuzz", &dm.conf, &e) < 0 ||
	    chan_creds_load(NULL, true, &dm.creds, &e) < 0 ||
	    ledger_open(dm.conf->state_dir, &e) < 0)
		goto fail;
	for (i = 0; i < dm.conf->nsets; i++) {
		if (dset_new(&dm.conf->sets[i], &ds, &e) < 0 ||
		    daemon_add_set(&dm, ds, &e) < 0)
			goto fail;
	}
	if (ctl_open_fd(&dm, -1, &e) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sp) < 0)
		goto fail;
	client = ctl_client_attach(dm.ctl, sp[0]);
	peer = sp[1];
	return 0;
fail:
	fprintf(stderr, "fuzz_ctl: setup: %s\n", e.msg);
	abort();
}

/* ---- What is left out (see the top). ---- */

static bool
spec_ok(const Vfiomig__V1__DeviceSpec *sp)
{
	if (sp == NULL)
		return true;
	switch (sp->backend_case) {
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_CDEV:
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_GROUP:
		return false;
	case VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM:
		return sp->sim->state_file == NULL &&
		    (!sp->sim->has_state_size || sp->sim->state_size <= 1 << 20);
	default:
		return true;
	}
}

static bool
request_ok(const uint8_t *data, size_t size)
{
	Vfiomig__V1__Request *rq;
	bool ok = true;
	size_t i;

	if ((rq = vfiomig__v1__request__unpack(NULL, size, data)) == NULL)
		return true;	/* the daemon's refusal is what we test */
	switch (rq->body_case) {
	case VFIOMIG__V1__REQUEST__BODY_PREPARE_INCOMING:
		ok = rq->prepare_incoming->listen == NULL ||
		    rq->prepare_incoming->listen[0] == '\0';
		break;
	case VFIOMIG__V1__REQUEST__BODY_CHECK:
		/* A check connects out, from a thread of its own. */
		ok = false;
		break;
	case VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE:
		ok = spec_ok(rq->add_device->device);
		break;
	case VFIOMIG__V1__REQUEST__BODY_CREATE_SET:
		for (i = 0; i < rq->create_set->n_devices && ok; i++)
			ok = spec_ok(rq->create_set->devices[i]);
		break;
	default:
		break;
	}
	vfiomig__v1__request__free_unpacked(rq, NULL);
	return ok;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t sink[1 << 16];
	struct ctl_reply r;
	uint8_t *out;
	size_t len;

	if (size > CTL_MAX_PACKET || !request_ok(data, size))
		return 0;
	ctl_serve(client, data, size, NULL, 0, &r);
	len = vfiomig__v1__response__get_packed_size(&r.rsp);
	if ((out = malloc(len + 1)) == NULL)
		abort();
	if (vfiomig__v1__response__pack(&r.rsp, out) != len)
		abort();
	free(out);
	ctl_reply_free(&r);
	event_base_loop(dm.base, EVLOOP_NONBLOCK);
	while (read(peer, sink, sizeof sink) > 0)
		;
	return 0;
}
