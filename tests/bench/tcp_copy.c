/*
 * tcp_copy.c: the raw TCP baseline of bench_xfer.sh.  Sends BYTES over
 * loopback TCP from a child process to its parent, on CONNS connections (a
 * thread per connection on each side, 1 MiB read() and write() calls), and
 * prints the rate the receiver saw, from the go signal to its last byte:
 *
 *   tcp_copy: bytes N connections C seconds S throughput R bytes/s
 *
 * Not here: any vfiomigd code, framing, TLS or device data.
 */
#include "config.h"

#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <arpa/inet.h>

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 16
#define BUF_SIZE (1u << 20)

struct side {
	int		 fd;
	uint64_t	 bytes;
	pthread_t	 thread;
};

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "tcp_copy: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static void *
sender(void *arg)
{
	struct side *s = arg;
	char *buf, go;
	ssize_t n;

	if ((buf = malloc(BUF_SIZE)) == NULL)
		die("malloc");
	memset(buf, 0x5a, BUF_SIZE);
	if (read(s->fd, &go, 1) != 1)
		die("read go");
	while (s->bytes > 0) {
		n = write(s->fd, buf, s->bytes < BUF_SIZE ? s->bytes : BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write");
		s->bytes -= n;
	}
	free(buf);
	return NULL;
}

static void *
receiver(void *arg)
{
	struct side *s = arg;
	char *buf;
	ssize_t n;

	if ((buf = malloc(BUF_SIZE)) == NULL)
		die("malloc");
	for (;;) {
		n = read(s->fd, buf, BUF_SIZE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		if (n == 0)
			break;
		s->bytes += n;
	}
	free(buf);
	return NULL;
}

/* The child: connects every connection, sends its share once told to. */
static void __attribute__((noreturn))
child(const struct sockaddr_in *sin, uint64_t bytes, int conns)
{
	struct side s[MAX_CONNS];
	int i;

	for (i = 0; i < conns; i++) {
		s[i].fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (s[i].fd < 0 || connect(s[i].fd, (const struct sockaddr *)sin,
		    sizeof *sin) < 0)
			die("connect");
		s[i].bytes = bytes / conns + (i == 0 ? bytes % conns : 0);
	}
	for (i = 0; i < conns; i++)
		if (pthread_create(&s[i].thread, NULL, sender, &s[i]) != 0)
			die("pthread_create");
	for (i = 0; i < conns; i++) {
		pthread_join(s[i].thread, NULL);
		close(s[i].fd);
	}
	_exit(0);
}

static int
listener(struct sockaddr_in *sin)
{
	socklen_t len = sizeof *sin;
	int fd;

	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)sin, sizeof *sin) < 0 ||
	    listen(fd, MAX_CONNS) < 0 ||
	    getsockname(fd, (struct sockaddr *)sin, &len) < 0)
		die("listen");
	return fd;
}

int
main(int argc, char **argv)
{
	struct side s[MAX_CONNS];
	struct sockaddr_in sin;
	uint64_t bytes, total = 0, t0, dt;
	int lfd, conns, i, status;
	pid_t pid;

	if (argc != 3 || (bytes = strtoull(argv[1], NULL, 0)) == 0 ||
	    (conns = atoi(argv[2])) < 1 || conns > MAX_CONNS) {
		fprintf(stderr, "usage: tcp_copy BYTES CONNS (1 to %d)\n",
		    MAX_CONNS);
		return 2;
	}
	lfd = listener(&sin);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0)
		child(&sin, bytes, conns);
	for (i = 0; i < conns; i++) {
		if ((s[i].fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			die("accept");
		s[i].bytes = 0;
	}
	t0 = now_ns();
	for (i = 0; i < conns; i++) {
		if (write(s[i].fd, "g", 1) != 1)
			die("write go");
		if (pthread_create(&s[i].thread, NULL, receiver, &s[i]) != 0)
			die("pthread_create");
	}
	for (i = 0; i < conns; i++) {
		pthread_join(s[i].thread, NULL);
		total += s[i].bytes;
	}
	dt = now_ns() - t0;
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0 || total != bytes) {
		fprintf(stderr, "tcp_copy: received %llu of %llu bytes\n",
		    (unsigned long long)total, (unsigned long long)bytes);
		return 1;
	}
	printf("tcp_copy: bytes %llu connections %d seconds %.3f throughput "
	    "%.0f bytes/s\n", (unsigned long long)bytes, conns, dt / 1e9,
	    bytes / (dt / 1e9));
	return 0;
}
