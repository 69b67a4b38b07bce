/*
 * ctl_load.c: a load on the control socket, and its latency (benchmark,
 * tests/bench/bench_ctl.sh).  NCLIENTS connections, each a closed loop:
 * send a request, wait for its reply, send the next; for SECONDS.  The
 * requests alternate as KIND says: list (every set, what `vfiomigctl
 * status` asks), info SET, or mix (both in turn).  Prints one line:
 *   requests N rate R/s p50 X ms p99 Y ms max Z ms errors E
 * Every latency is kept (nanoseconds, CLOCK_MONOTONIC, from the send to
 * the whole reply) and sorted at the end.
 *
 * Usage: ctl_load SOCKET NCLIENTS SECONDS list|info|mix [SET]
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "proto/vfiomig-ctl.pb-c.h"

struct client {
	int		 fd;
	uint64_t	 sent_ns;
	unsigned	 n;
};

static uint64_t
mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t
pack(int kind, const char *set, uint64_t id, uint8_t *buf)
{
	Vfiomig__V1__Request rq = VFIOMIG__V1__REQUEST__INIT;
	Vfiomig__V1__ListRequest l = VFIOMIG__V1__LIST_REQUEST__INIT;
	Vfiomig__V1__InfoRequest in = VFIOMIG__V1__INFO_REQUEST__INIT;

	rq.has_id = 1;
	rq.id = id;
	if (kind == 0) {
		rq.body_case = VFIOMIG__V1__REQUEST__BODY_LIST;
		rq.list = &l;
	} else {
		in.set = (char *)set;
		rq.body_case = VFIOMIG__V1__REQUEST__BODY_INFO;
		rq.info = &in;
	}
	return vfiomig__v1__request__pack(&rq, buf);
}

int
main(int argc, char **argv)
{
	static uint8_t buf[4 << 20];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct client *cl;
	struct pollfd *pfd;
	uint64_t *lat, end, now, id = 1;
	size_t nlat = 0, cap = 1 << 20, len;
	int n, i, mode, errors = 0, kind;
	const char *set;
	Vfiomig__V1__Response *r;
	ssize_t got;

	if (argc < 5) {
		fprintf(stderr, "usage: ctl_load SOCKET NCLIENTS SECONDS "
		    "list|info|mix [SET]\n");
		return 2;
	}
	n = atoi(argv[2]);
	mode = strcmp(argv[4], "list") == 0 ? 0 : strcmp(argv[4], "info") == 0
	    ? 1 : 2;
	set = argc > 5 ? argv[5] : "vm1";
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", argv[1]);
	cl = calloc(n, sizeof *cl);
	pfd = calloc(n, sizeof *pfd);
	lat = malloc(cap * sizeof *lat);
	if (n < 1 || cl == NULL || pfd == NULL || lat == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		cl[i].fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (cl[i].fd < 0 || connect(cl[i].fd, (struct sockaddr *)&sa,
		    sizeof sa) < 0) {
			perror("ctl_load: connect");
			return 1;
		}
		pfd[i].fd = cl[i].fd;
		pfd[i].events = POLLIN;
	}
	end = mono_ns() + (uint64_t)atoi(argv[3]) * 1000000000ull;
	for (i = 0; i < n; i++) {
		kind = mode == 2 ? (int)(cl[i].n % 2) : mode;
		len = pack(kind, set, id++, buf);
		cl[i].sent_ns = mono_ns();
		if (send(cl[i].fd, buf, len, 0) < 0)
			return 1;
	}
	while ((now = mono_ns()) < end) {
		if (poll(pfd, n, 100) < 0 && errno != EINTR)
			return 1;
		for (i = 0; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			got = recv(cl[i].fd, buf, sizeof buf, 0);
			now = mono_ns();
			if (got <= 0)
				return 1;
			r = vfiomig__v1__response__unpack(NULL, got, buf);
			if (r == NULL || r->error != 0)
				errors++;
			if (r != NULL &&
			    r->body_case == VFIOMIG__V1__RESPONSE__BODY_EVENT) {
				vfiomig__v1__response__free_unpacked(r, NULL);
				continue;
			}
			if (r != NULL)
				vfiomig__v1__response__free_unpacked(r, NULL);
			if (nlat == cap &&
			    (lat = realloc(lat, (cap *= 2) * sizeof *lat)) ==
			    NULL)
				return 1;
			lat[nlat++] = now - cl[i].sent_ns;
			cl[i].n++;
			if (now >= end)
				continue;
			kind = mode == 2 ? (int)(cl[i].n % 2) : mode;
			len = pack(kind, set, id++, buf);
			cl[i].sent_ns = mono_ns();
			if (send(cl[i].fd, buf, len, 0) < 0)
				return 1;
		}
	}
	qsort(lat, nlat, sizeof *lat, cmp_u64);
	printf("requests %zu rate %.0f/s p50 %.3f ms p99 %.3f ms max %.3f ms "
	    "errors %d\n", nlat, nlat / (double)atoi(argv[3]),
	    nlat ? lat[nlat / 2] / 1e6 : 0.0,
	    nlat ? lat[(size_t)(nlat * 0.99)] / 1e6 : 0.0,
	    nlat ? lat[nlat - 1] / 1e6 : 0.0, errors);
	return 0;
}
