/*
 * simstate.c: TEST ONLY.  Plays a process that dies in mid-migration: it
 * makes (or takes over) a simulated device whose state lives in FILE (a
 * sim "state_file", vfiomigd.conf(5)), walks it to STATE with one request
 * as a source or a destination would, prints its digest, and exits
 * without closing anything: the file keeps the device in STATE with no
 * data stream, as the kernel keeps a real device's migration state after
 * its holder is gone.  tests/integration/adopt.sh hands such files to
 * vfiomigd.
 *
 * Usage: simstate FILE STATE [STATE_SIZE]
 * STATE is a uAPI name (RUNNING, STOP, PRE_COPY, STOP_COPY, RESUMING,
 * RUNNING_P2P, PRE_COPY_P2P).  Prints "device NAME digest 0x... state
 * STATE", NAME the file's base name (it seeds the content).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dev-sim.h"

int
main(int argc, char **argv)
{
	struct sim_params p;
	struct err e = { 0, "" };
	struct device *d;
	const char *name;
	int target;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: simstate FILE STATE [STATE_SIZE]\n");
		return 2;
	}
	if ((target = fsm_parse(argv[2])) < 0) {
		fprintf(stderr, "simstate: %s: no such state\n", argv[2]);
		return 2;
	}
	sim_params_default(&p);
	p.dirty_rate = 0;
	p.p2p_rate = 0;
	if (argc == 4)
		p.state_size = strtoull(argv[3], NULL, 0);
	/* Named after the file: its seed (so its content) differs. */
	name = strrchr(argv[1], '/') != NULL ? strrchr(argv[1], '/') + 1 :
	    argv[1];
	if (device_sim_open(name, &p, argv[1], &d, &e) < 0 ||
	    device_set_state(d, target, &e) < 0) {
		fprintf(stderr, "simstate: %s\n", e.msg);
		return 1;
	}
	printf("device %s digest " FMT_ID " state %s\n", name,
	    dev_sim_digest(d), fsm_name(d->state));
	fflush(stdout);
	/* As a crash: nothing closed, nothing stepped back. */
	_exit(0);
}
