/*
 * test_util.c: the byte-size syntax (size_parse(): one table of what is
 * taken, with its exact value, and what is refused, with its errno) and the
 * SCM_RIGHTS helpers (scm.c): fds arrive close-on-exec beside their
 * packet; too many fds, other ancillary data and a truncated packet are
 * refused with no fd left open.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "scm.h"
#include "util.h"

static const struct {
	const char	*s;
	uint64_t	 v;
} accepted[] = {
	{ "0", 0 },
	{ "4096", 4096 },
	{ "007", 7 },
	{ "64K", 64 << 10 },
	{ "64k", 64 << 10 },
	{ "64KiB", 64 << 10 },
	{ "256M", 256ull << 20 },
	{ "256m", 256ull << 20 },
	{ "256MiB", 256ull << 20 },
	{ "1G", 1ull << 30 },
	{ "1GiB", 1ull << 30 },
	{ "2T", 2ull << 40 },
	{ "2t", 2ull << 40 },
	{ "2TiB", 2ull << 40 },
	{ "1.5G", 1610612736 },
	{ "1.5GiB", 1610612736 },
	{ "0.5K", 512 },
	{ "1.25M", 1310720 },
	{ "0.0009765625M", 1024 },	/* 2^-10 M: 10 digits */
	{ "1.000000000000K", 1024 },	/* 12 digits */
	{ "18446744073709551615", UINT64_MAX },
	{ "16777215T", UINT64_MAX - (1ull << 40) + 1 },
	{ "16777215.5T", 18446743523953737728ull },
	{ "17179869183G", (17179869183ull << 30) },
	{ "16777215.75T", 18446743798831644672ull },	/* 2^64 - 2^38 */
	{ "16777215.9990234375T", 18446744072635809792ull }, /* 2^64 - 2^30 */
};

static const struct {
	const char	*s;
	int		 err;
} refused[] = {
	{ "", EINVAL },
	{ "nan", EINVAL },
	{ "NaN", EINVAL },
	{ "inf", EINVAL },
	{ "-1", EINVAL },
	{ "-0", EINVAL },
	{ "+1", EINVAL },
	{ " 1", EINVAL },
	{ "1 ", EINVAL },
	{ "1 K", EINVAL },
	{ "1e5", EINVAL },
	{ "1E5", EINVAL },
	{ "0x10000", EINVAL },
	{ "1.5", EINVAL },		/* a fraction needs a suffix */
	{ "1.", EINVAL },
	{ "1.K", EINVAL },
	{ ".5K", EINVAL },
	{ "1..5K", EINVAL },
	{ "1.5.5K", EINVAL },
	{ "1.1K", EINVAL },		/* 1126.4 bytes */
	{ "0.001T", EINVAL },		/* 1099511627.776 bytes */
	{ "1.0000000000000K", EINVAL },	/* 13 digits */
	{ "K", EINVAL },
	{ "1B", EINVAL },
	{ "1KB", EINVAL },
	{ "1Ki", EINVAL },
	{ "1KIB", EINVAL },
	{ "1KiBB", EINVAL },
	{ "1P", EINVAL },
	{ "1K5", EINVAL },
	{ "1KK", EINVAL },
	{ "18446744073709551616", ERANGE },
	{ "99999999999999999999999", ERANGE },
	{ "16777216T", ERANGE },
	{ "17179869184G", ERANGE },
	{ "16777215.999999999999T", EINVAL },	/* not whole */
	{ "18446744073709551615.5K", ERANGE },
};

static void
test_size_table(void **state)
{
	struct err e;
	uint64_t v;
	size_t i;
	int r;

	(void)state;
	for (i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
		v = 12345;
		err_clear(&e);
		r = size_parse(accepted[i].s, &v, &e);
		if (r != 0 || v != accepted[i].v)
			fail_msg("\"%s\": %d %s, %" PRIu64 " (want %" PRIu64
			    ")", accepted[i].s, r, e.msg, v, accepted[i].v);
	}
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		v = 12345;
		err_clear(&e);
		r = size_parse(refused[i].s, &v, &e);
		if (r != -refused[i].err)
			fail_msg("\"%s\": %d (want %d)", refused[i].s, r,
			    -refused[i].err);
		if (r == 0)
			continue;
		/* Untouched, and the message quotes the input. */
		assert_int_equal(v, 12345);
		assert_int_equal(e.code, refused[i].err);
		assert_non_null(strstr(e.msg, refused[i].s));
	}
}

static void
test_size_messages(void **state)
{
	struct err e;
	uint64_t v;

	(void)state;
	assert_int_equal(size_parse("nan", &v, &e), -EINVAL);
	assert_string_equal(e.msg, "\"nan\" is not a size (bytes, or a "
	    "number with a K, M, G or T suffix: 4096, 64K, 256MiB, 1.5G)");
	assert_int_equal(size_parse("1.1K", &v, &e), -EINVAL);
	assert_string_equal(e.msg, "\"1.1K\" is not a whole number of bytes");
	assert_int_equal(size_parse("16777216T", &v, &e), -ERANGE);
	assert_string_equal(e.msg, "\"16777216T\" is larger than "
	    "18446744073709551615 bytes");
	/* No struct err: the code alone. */
	assert_int_equal(size_parse("-1", &v, NULL), -EINVAL);
}

/* The number of fds this process has open. */
static int
nfds_open(void)
{
	struct dirent *de;
	DIR *d;
	int n = 0;

	assert_non_null(d = opendir("/proc/self/fd"));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
}

static void
test_scm_fds(void **state)
{
	int sv[2], p[2], fds[SCM_MAX_FDS], many[SCM_MAX_FDS + 1], send3[3], i;
	struct stat a, b;
	char buf[16];
	size_t nfds;

	(void)state;
	pair(sv);
	assert_int_equal(pipe(p), 0);	/* no O_CLOEXEC: it must come set */
	send3[0] = p[0];
	send3[1] = p[1];
	send3[2] = p[0];
	assert_int_equal(scm_send(sv[0], "hello", 5, send3, 3, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, 0), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(nfds, 3);
	for (i = 0; i < 3; i++) {
		assert_true(fds[i] != send3[i]);
		assert_true(fcntl(fds[i], F_GETFD) & FD_CLOEXEC);
		assert_int_equal(fstat(fds[i], &a), 0);
		assert_int_equal(fstat(send3[i], &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		close(fds[i]);
	}
	/* No fds: none come. */
	assert_int_equal(scm_send(sv[0], "x", 1, NULL, 0, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, 0), 1);
	assert_int_equal(nfds, 0);
	/* More than SCM_MAX_FDS cannot be sent. */
	for (i = 0; i <= SCM_MAX_FDS; i++)
		many[i] = p[0];
	assert_int_equal(scm_send(sv[0], "x", 1, many, SCM_MAX_FDS + 1, 0),
	    -EINVAL);
	/* Nothing there: EAGAIN with MSG_DONTWAIT. */
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, MSG_DONTWAIT), -EAGAIN);
	/* The peer gone: 0, no fds. */
	close(sv[0]);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, 0), 0);
	assert_int_equal(nfds, 0);
	assert_int_equal(scm_send(sv[1], "x", 1, NULL, 0, 0), -EPIPE);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

static void
test_scm_refused(void **state)
{
	int sv[2], fds[SCM_MAX_FDS], three[3], on = 1, before, sent;
	char buf[64];
	size_t nfds;

	(void)state;
	pair(sv);
	three[0] = three[1] = three[2] = STDIN_FILENO;
	before = nfds_open();

	/* More fds than the receiver takes: EPROTO, all closed. */
	assert_int_equal(scm_send(sv[0], "abc", 3, three, 3, 0), 0);
	nfds = 99;
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, 2, &nfds, 0),
	    -EPROTO);
	assert_int_equal(nfds, 0);
	assert_int_equal(nfds_open(), before);
	/* Negative control: room for 3, taken. */
	assert_int_equal(scm_send(sv[0], "abc", 3, three, 3, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, 3, &nfds, 0),
	    3);
	assert_int_equal(nfds, 3);
	assert_int_equal(nfds_open(), before + 3);
	for (sent = 0; sent < 3; sent++)
		close(fds[sent]);

	/* A packet longer than the buffer: EMSGSIZE, its fds closed. */
	assert_int_equal(scm_send(sv[0], "0123456789", 10, three, 1, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, 4, fds, SCM_MAX_FDS, &nfds, 0),
	    -EMSGSIZE);
	assert_int_equal(nfds, 0);
	assert_int_equal(nfds_open(), before);

	/* SCM_CREDENTIALS (the receiver asked for them): EPROTO, and the
	 * fds beside them closed. */
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof on), 0);
	assert_int_equal(scm_send(sv[0], "abc", 3, three, 2, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, 0), -EPROTO);
	assert_int_equal(nfds, 0);
	assert_int_equal(nfds_open(), before);
	/* Negative control: without SO_PASSCRED the same packet passes. */
	on = 0;
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof on), 0);
	assert_int_equal(scm_send(sv[0], "abc", 3, NULL, 0, 0), 0);
	assert_int_equal(scm_recv(sv[1], buf, sizeof buf, fds, SCM_MAX_FDS,
	    &nfds, 0), 3);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size_table),
		cmocka_unit_test(test_size_messages),
		cmocka_unit_test(test_scm_fds),
		cmocka_unit_test(test_scm_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
