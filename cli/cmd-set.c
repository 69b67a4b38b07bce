/*
 * cmd-set.c: the commands that make and unmake sets: set list, create and
 * remove; device list, add (a cdev, a group's device, a passed fd or a
 * simulated device with its parameters) and remove.  Migrating a set is
 * cmd-migrate.c's; the requests and answers are cli.c's.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "output.h"
#include "util.h"

/* ---- set ---- */

static const struct option list_opts[] = {
	{ "page-size", required_argument, NULL, 'P' },
	{ NULL, 0, NULL, 0 }
};

/* --page-size N, into the uint32_t at @arg. */
static int
ctl_page_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ctl_parse_u32(val, 10, arg) < 0 || *(uint32_t *)arg < 1 ||
	    *(uint32_t *)arg > CTL_LIST_PAGE)
		return ctl_bad(ctl, "--page-size: 1..%d sets, not "
		    "\"%s\"", CTL_LIST_PAGE, val);
	return -1;
}

/* `set list' and `device list': the List answer, JSON or @text. */
static int
ctl_list_print(struct ctl *ctl, int argc, char **argv,
    void (*text)(FILE *, const Vfiomig__V1__ListReply *))
{
	uint32_t page = CTL_LIST_PAGE;
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &page)) >= 0)
		return rc;
	if ((rc = ctl_list_paged(ctl, argc > 0 ? argv[0] : NULL, page)) !=
	    EXIT_OK)
		return rc;
	if (!ctl_print_pb(ctl, &ctl_answer(ctl)->list->base))
		text(stdout, ctl_answer(ctl)->list);
	return EXIT_OK;
}

static int
cmd_set_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_print(ctl, argc, argv, output_text_sets);
}

static const struct option set_create_opts[] = {
	{ "token", required_argument, NULL, 't' },
	{ "allow-non-p2p", no_argument, NULL, 'n' },
	{ NULL, 0, NULL, 0 }
};

struct ctl_set_args {
	const char	*token;
	bool		 allow_non_p2p;
};

static int
ctl_set_create_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	if (ch == 't')
		((struct ctl_set_args *)arg)->token = val;
	else
		((struct ctl_set_args *)arg)->allow_non_p2p = true;
	return -1;
}

static int
cmd_set_create(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__CreateSetRequest cs = VFIOMIG__V1__CREATE_SET_REQUEST__INIT;
	struct ctl_set_args a = { NULL, false };
	int rc;

	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	cs.name = argv[0];
	cs.token = (char *)a.token;
	cs.has_allow_non_p2p = a.allow_non_p2p;
	cs.allow_non_p2p = a.allow_non_p2p;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_CREATE_SET, &cs,
	    NULL, 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "set %s created", argv[0]);
}

static int
cmd_set_remove(struct ctl *ctl, int argc, char **argv)
{
	return ctl_call_done(ctl, VFIOMIG__V1__REQUEST__BODY_REMOVE_SET,
	    argv[0], " removed");
}

/* ---- device ---- */

static int
cmd_device_list(struct ctl *ctl, int argc, char **argv)
{
	return ctl_list_print(ctl, argc, argv, output_text_devices);
}

static const struct option device_add_opts[] = {
	{ "path", required_argument, NULL, 'p' },
	{ "group", required_argument, NULL, 'g' },
	{ "device", required_argument, NULL, 'd' },
	{ "fd", required_argument, NULL, 'f' },
	{ "sim", no_argument, NULL, 'S' },
	{ "state-size", required_argument, NULL, 'z' },
	{ "dirty-rate", required_argument, NULL, 'r' },
	{ "p2p-rate", required_argument, NULL, 'P' },
	{ "arc-latency-us", required_argument, NULL, 'l' },
	{ "flags", required_argument, NULL, 'F' },
	{ "seed", required_argument, NULL, 'e' },
	{ "state-file", required_argument, NULL, 's' },
	{ "reset", no_argument, NULL, 'R' },
	{ NULL, 0, NULL, 0 }
};

/* "stop-copy,p2p,pre-copy" or a number. */
static int
ctl_parse_flags(const char *s, uint32_t *v)
{
	char *copy, *tok, *save;
	int r = 0;

	if (ctl_parse_u32(s, 0, v) == 0)
		return 0;
	*v = 0;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL && r == 0;
	    tok = strtok_r(NULL, ",", &save)) {
		if (strcmp(tok, "stop-copy") == 0)
			*v |= CONFIG_SIM_STOP_COPY;
		else if (strcmp(tok, "p2p") == 0)
			*v |= CONFIG_SIM_P2P;
		else if (strcmp(tok, "pre-copy") == 0)
			*v |= CONFIG_SIM_PRE_COPY;
		else
			r = -EINVAL;
	}
	free(copy);
	return r;
}

struct ctl_dev_args {
	const char		*path;
	const char		*group;
	const char		*device;
	int			 fd;
	bool			 sim;
	bool			 reset;
	Vfiomig__V1__SimParams	 params;
};

static int
ctl_dev_sim_opt(struct ctl *ctl, struct ctl_dev_args *a, int ch,
    const char *arg)
{
	Vfiomig__V1__SimParams *p = &a->params;
	int r = 0;

	a->sim = true;
	switch (ch) {
	case 'z':
		if (ctl_parse_size(ctl, arg, &p->state_size) != 0)
			return EXIT_USAGE;
		p->has_state_size = 1;
		break;
	case 'r':
		r = ctl_parse_u32(arg, 10, &p->dirty_rate);
		p->has_dirty_rate = 1;
		break;
	case 'P':
		r = ctl_parse_u32(arg, 10, &p->p2p_rate);
		p->has_p2p_rate = 1;
		break;
	case 'l':
		r = ctl_parse_u32(arg, 10, &p->arc_latency_us);
		p->has_arc_latency_us = 1;
		break;
	case 'F':
		r = ctl_parse_flags(arg, &p->flags);
		p->has_flags = 1;
		break;
	case 'e':
		r = ctl_parse_u64(arg, 0, &p->seed);
		p->has_seed = 1;
		break;
	case 's':
		if (arg[0] != '/')
			return ctl_bad(ctl, "--state-file: an absolute path, "
			    "not \"%s\"", arg);
		p->state_file = (char *)arg;
		break;
	}
	if (r < 0)
		return ctl_bad(ctl, "--%s: bad value \"%s\"", ctl->optname,
		    arg);
	return -1;
}

static int
ctl_dev_opt(struct ctl *ctl, void *arg, int ch, const char *val)
{
	struct ctl_dev_args *a = arg;
	uint32_t fd;

	switch (ch) {
	case 'p':
		a->path = val;
		return -1;
	case 'g':
		a->group = val;
		return -1;
	case 'd':
		a->device = val;
		return -1;
	case 'f':
		if (ctl_parse_u32(val, 10, &fd) < 0 || fd > INT32_MAX)
			return ctl_bad(ctl, "--fd: not an fd number: \"%s\"",
			    val);
		if (fcntl((int)fd, F_GETFD) < 0)
			return ctl_bad(ctl, "--fd %s: not an open fd", val);
		a->fd = (int)fd;
		return -1;
	case 'S':
		a->sim = true;
		return -1;
	case 'R':
		a->reset = true;
		return -1;
	}
	return ctl_dev_sim_opt(ctl, a, ch, val);
}

/* Exactly one backend, its options complete. */
static int
ctl_dev_check(struct ctl *ctl, struct ctl_dev_args *a)
{
	int n;

	n = (a->path != NULL) + (a->group != NULL || a->device != NULL) +
	    (a->fd >= 0) + a->sim;
	if (n == 0)
		return ctl_bad(ctl, "one of --path, --group and --device, "
		    "--sim, --fd is needed");
	if (n > 1)
		return ctl_bad(ctl, "only one of --path, --group/--device, "
		    "--sim (or its options), --fd");
	if ((a->group != NULL) != (a->device != NULL))
		return ctl_bad(ctl, "--group and --device go together");
	return -1;
}

static void
ctl_dev_spec(struct ctl_dev_args *a, Vfiomig__V1__DeviceSpec *ds,
    Vfiomig__V1__VfioGroup *g, Vfiomig__V1__PassedFd *pf)
{
	if (a->path != NULL) {
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_CDEV;
		ds->cdev = (char *)a->path;
	} else if (a->group != NULL) {
		g->group = (char *)a->group;
		g->device = (char *)a->device;
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_GROUP;
		ds->group = g;
	} else if (a->fd >= 0) {
		pf->has_index = 1;
		pf->index = 0;
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_FD;
		ds->fd = pf;
	} else {
		ds->backend_case = VFIOMIG__V1__DEVICE_SPEC__BACKEND_SIM;
		ds->sim = &a->params;
	}
}

static int
cmd_device_add(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__AddDeviceRequest ad = VFIOMIG__V1__ADD_DEVICE_REQUEST__INIT;
	Vfiomig__V1__DeviceSpec ds = VFIOMIG__V1__DEVICE_SPEC__INIT;
	Vfiomig__V1__VfioGroup g = VFIOMIG__V1__VFIO_GROUP__INIT;
	Vfiomig__V1__PassedFd pf = VFIOMIG__V1__PASSED_FD__INIT;
	struct ctl_dev_args a;
	int rc;

	memset(&a, 0, sizeof a);
	a.fd = -1;
	vfiomig__v1__sim_params__init(&a.params);
	if ((rc = cmd_getopt(ctl, &argc, &argv, &a)) >= 0)
		return rc;
	if ((rc = ctl_dev_check(ctl, &a)) >= 0)
		return rc;
	ctl_dev_spec(&a, &ds, &g, &pf);
	ds.name = argv[1];
	ds.has_reset = a.reset;
	ds.reset = a.reset;
	ad.set = argv[0];
	ad.device = &ds;
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_ADD_DEVICE, &ad,
	    &a.fd, a.fd >= 0 ? 1 : 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "device %s added to set %s", argv[1], argv[0]);
}

static int
cmd_device_remove(struct ctl *ctl, int argc, char **argv)
{
	Vfiomig__V1__RemoveDeviceRequest rd =
	    VFIOMIG__V1__REMOVE_DEVICE_REQUEST__INIT;
	int rc;

	rd.set = argv[0];
	rd.device = argv[1];
	if ((rc = ctl_call(ctl, VFIOMIG__V1__REQUEST__BODY_REMOVE_DEVICE, &rd,
	    NULL, 0)) != EXIT_OK)
		return rc;
	return ctl_done(ctl, "device %s removed from set %s", argv[1],
	    argv[0]);
}

/* ---- the entries ---- */

const struct cli_cmd cmd_set_list_entry = {
	"set list", "[SET] [--page-size N]",
	"the sets: status, devices, last job",
	"  --page-size N      ask for N sets a request (1..256; default 256):\n"
	"                     the pages are gathered into one list\n",
	list_opts, 0, 1, cmd_set_list, ctl_page_opt
};
const struct cli_cmd cmd_set_create_entry = {
	"set create", "SET [--token TOKEN] [--allow-non-p2p]",
	"create an empty set",
	"  --token TOKEN      incoming migrations must present it (16..256 bytes)\n"
	"  --allow-non-p2p    allow devices without the P2P states\n",
	set_create_opts, 1, 1, cmd_set_create, ctl_set_create_opt
};
const struct cli_cmd cmd_set_remove_entry = {
	"set remove", "SET", "remove a set and close its devices",
	NULL, NULL, 1, 1, cmd_set_remove, NULL
};
const struct cli_cmd cmd_device_list_entry = {
	"device list", "[SET] [--page-size N]",
	"the devices: backend, state, capabilities",
	"  --page-size N      ask for N sets a request (1..256; default 256)\n",
	list_opts, 0, 1, cmd_device_list, ctl_page_opt
};
const struct cli_cmd cmd_device_add_entry = {
	"device add", "SET NAME --path CDEV | --group GROUP --device DEV | "
	"--fd N | --sim [--state-size SIZE] [--dirty-rate N] [--p2p-rate N] "
	"[--arc-latency-us N] [--flags stop-copy,p2p,pre-copy] [--seed N] "
	"[--state-file PATH] [--reset]",
	"add a device to a set",
	"  --path CDEV        a VFIO cdev (/dev/vfio/devices/vfioN)\n"
	"  --group GROUP      a VFIO group (/dev/vfio/N) with --device\n"
	"  --device DEV       the device in the group (0000:3b:00.0, mdev uuid)\n"
	"  --fd N             pass this process's open fd N (SCM_RIGHTS)\n"
	"  --sim              a simulated device, with the simulator's options:\n"
	"  --state-size SIZE  device state: bytes, 64K, 256M, 1.5G (K, M, G, T)\n"
	"  --dirty-rate N     pages dirtied per second while running\n"
	"  --p2p-rate N       P2P writes per second while running\n"
	"  --arc-latency-us N latency of each state transition\n"
	"  --flags LIST       stop-copy,p2p,pre-copy (or a number)\n"
	"  --seed N           0: derived from the name\n"
	"  --state-file PATH  keep the sim's state in PATH (it outlives the\n"
	"                     daemon; an existing one is taken over)\n"
	"  --reset            reset the device if it is not RUNNING (its\n"
	"                     migration state is dropped); without it a device\n"
	"                     in STOP is refused\n",
	device_add_opts, 2, 2, cmd_device_add, ctl_dev_opt
};
const struct cli_cmd cmd_device_remove_entry = {
	"device remove", "SET NAME", "remove a device from a set",
	NULL, NULL, 2, 2, cmd_device_remove, NULL
};
