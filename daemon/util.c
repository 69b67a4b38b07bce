/*
 * util.c: error reports, time, fd helpers, the string check and allocation
 * that cannot fail.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int
err_set(struct err *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (code < 0)
		code = -code;
	if (e != NULL) {
		e->code = code;
		va_start(ap, fmt);
		vsnprintf(e->msg, sizeof e->msg, fmt, ap);
		va_end(ap);
	}
	return -code;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char prefix[256], tmp[sizeof prefix + sizeof e->msg + 2];
	va_list ap;
	size_t n;

	if (e == NULL)
		return -EIO;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof prefix, fmt, ap);
	va_end(ap);
	snprintf(tmp, sizeof tmp, "%s: %s", prefix, e->msg);
	n = strnlen(tmp, sizeof e->msg - 1);
	memcpy(e->msg, tmp, n);
	e->msg[n] = '\0';
	return -e->code;
}

void
err_clear(struct err *e)
{
	if (e != NULL) {
		e->code = 0;
		e->msg[0] = '\0';
	}
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

uint64_t
realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
sleep_us(uint64_t us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

void
close_fd(int *fd)
{
	int saved = errno;

	if (*fd >= 0)
		close(*fd);
	*fd = -1;
	errno = saved;
}

int
fd_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, fl) < 0)
		return -errno;
	return 0;
}

ssize_t
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	size_t done = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (n < 0)
			return -errno;
		done += n;
	}
	return done;
}

ssize_t
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	size_t done = 0;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	while (done < len) {
		ssize_t n = read(fd, p + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		done += n;
	}
	return done;
}

const char *
sockaddr_str(const struct sockaddr *sa, unsigned int salen, char *buf,
    size_t size)
{
	char host[NI_MAXHOST], port[NI_MAXSERV];

	if (sa->sa_family == AF_UNIX)
		snprintf(buf, size, "unix");
	else if (getnameinfo(sa, salen, host, sizeof host, port, sizeof port,
	    NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, size, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, size, "[%s]:%s", host, port);
	else
		snprintf(buf, size, "%s:%s", host, port);
	return buf;
}

#define SIZE_SYNTAX "bytes, or a number with a K, M, G or T suffix: " \
	"4096, 64K, 256MiB, 1.5G"

int
size_parse(const char *s, uint64_t *out, struct err *e)
{
	static const char units[] = "KMGT";
	const char *p, *frac = NULL, *u;
	uint64_t v = 0, mult = 1, f = 0;
	size_t nfrac = 0;

	for (p = s; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return err_set(e, ERANGE, "\"%s\" is larger than %"
			    PRIu64 " bytes", s, UINT64_MAX);
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (p == s)
		goto syntax;
	if (*p == '.') {
		frac = ++p;
		while (*p >= '0' && *p <= '9')
			p++;
		nfrac = (size_t)(p - frac);
		/* 12 digits: a TiB's exact fractions need no more than 40,
		 * but nobody writes them; the digits stay small below. */
		if (nfrac == 0 || nfrac > 12)
			goto syntax;
	}
	if ((u = memchr(units, *p & ~0x20, 4)) == NULL)
		goto suffix;
	mult = 1ull << (10 * (u - units + 1));
	p++;
	if (p[0] == 'i' && p[1] == 'B')
		p += 2;
suffix:
	if (*p != '\0' || (frac != NULL && mult == 1))
		goto syntax;
	/*
	 * The fraction times @mult, exactly: Horner's rule from the last
	 * digit, each step a tail 0.dk..dn times @mult, which is a whole
	 * number whenever the whole fraction gives one (the tail is the
	 * product less a multiple of @mult).  Each step stays below
	 * 10 * mult, far from overflow.
	 */
	while (nfrac > 0) {
		nfrac--;
		f = (uint64_t)(frac[nfrac] - '0') * mult + f;
		if (f % 10 != 0)
			return err_set(e, EINVAL, "\"%s\" is not a whole "
			    "number of bytes", s);
		f /= 10;
	}
	if (v > (UINT64_MAX - f) / mult)
		return err_set(e, ERANGE, "\"%s\" is larger than %" PRIu64
		    " bytes", s, UINT64_MAX);
	*out = v * mult + f;
	return 0;
syntax:
	return err_set(e, EINVAL, "\"%s\" is not a size (" SIZE_SYNTAX ")",
	    s);
}

const char *
fmt_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = n;
	unsigned u = 0;

	while (v >= 1024 && u + 1 < ARRAY_SIZE(units)) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

const char *
str_check(const void *s, size_t len)
{
	const unsigned char *p = s, *end;
	unsigned c, n;
	uint32_t cp, min;

	if (len == 0)
		return NULL;
	if (memchr(s, '\0', len) != NULL)
		return "holds a NUL byte";
	for (end = p + len; p < end; ) {
		c = *p++;
		if (c < 0x80)
			continue;
		/* 0x80..0xc1: a continuation or an overlong lead byte. */
		if (c < 0xc2 || c > 0xf4)
			return "is not valid UTF-8";
		n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1;
		if ((size_t)(end - p) < n)
			return "is not valid UTF-8";
		min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
		for (cp = c & (0x3f >> n); n > 0; n--, p++) {
			if ((*p & 0xc0) != 0x80)
				return "is not valid UTF-8";
			cp = cp << 6 | (*p & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return "is not valid UTF-8";
	}
	return NULL;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		fatal("calloc(%zu, %zu)", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		fatal("strdup");
	return p;
}
