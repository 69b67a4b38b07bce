/*
 * util.h: error reports that travel with a return code, time, fd helpers
 * and a string check.  No policy here.
 */
#ifndef VFIOMIG_UTIL_H
#define VFIOMIG_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "compat.h"

/*
 * An error on its way up: the negative errno and a message that names what
 * failed ("dev0: RUNNING -> STOP: Input/output error").  Functions that can
 * fail take a struct err * (may be NULL) and return -errno.
 */
struct err {
	int code;		/* positive errno, 0 = none */
	char msg[512];
};

/* Sets @e (if not NULL) and returns -@code.  @code is a positive errno. */
int err_set(struct err *e, int code, const char *fmt, ...) PRINTFLIKE(3, 4);
/* Prefixes the message already in @e with "prefix: "; returns -e->code. */
int err_prefix(struct err *e, const char *fmt, ...) PRINTFLIKE(2, 3);
void err_clear(struct err *e);

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t now_ns(void);
/* CLOCK_REALTIME in milliseconds since the epoch. */
uint64_t realtime_ms(void);
void sleep_us(uint64_t us);

/* Closes *fd if >= 0 and sets it to -1; keeps errno. */
void close_fd(int *fd);
int fd_set_nonblock(int fd, int on);
/* write()/read() all of @len, retrying on EINTR (and, for blocking fds, partial I/O). */
ssize_t write_full(int fd, const void *buf, size_t len);
ssize_t read_full(int fd, void *buf, size_t len);

struct sockaddr;
/* "192.0.2.1:4444", "[2001:db8::1]:4444", "unix" or "?" into @buf. */
const char *sockaddr_str(const struct sockaddr *sa, unsigned int salen,
			 char *buf, size_t size);

/*
 * A job id or a digest, wherever people read it (logs, the journal, error
 * messages, vfiomigctl's text): decimal, the digits of the string that
 * `vfiomigctl -o json` prints for it (protobuf's JSON mapping), so that one
 * value reads and greps the same everywhere.  "job " FMT_ID, id.
 */
#define FMT_ID	"%" PRIu64

/*
 * A byte size, the one syntax of the CLI, the configuration and
 * vfiomig-local (vfiomigd.conf(5), "Sizes"): decimal digits with an
 * optional binary suffix K, M, G or T (either case; powers of 1024), which
 * may be spelled KiB, MiB, GiB, TiB; with a suffix, a decimal fraction of
 * up to 12 digits that gives a whole number of bytes ("1.5G", "0.5K";
 * "1.1K" is 1126.4 bytes: refused).  No sign, space, hex, exponent, "B"
 * alone or "KB" (powers of 1000?).  -EINVAL (not that syntax), -ERANGE
 * (above UINT64_MAX); @e says which and quotes @s.  Exact: no floating
 * point.
 */
int size_parse(const char *s, uint64_t *out, struct err *e);

/* "1.5 GiB", "512 KiB" into @buf. */
const char *fmt_bytes(uint64_t n, char *buf, size_t len);

/*
 * NULL if the @len bytes at @s are strict UTF-8 (RFC 3629: no overlong
 * form, no surrogate, nothing above U+10FFFF, no truncated sequence) and
 * hold no NUL byte; else why not: "holds a NUL byte" (checked first) or
 * "is not valid UTF-8".
 */
const char *str_check(const void *s, size_t len);

/* Allocation that cannot fail (aborts with a message on ENOMEM). */
void *xcalloc(size_t n, size_t size);
char *xstrdup(const char *s);

#endif
