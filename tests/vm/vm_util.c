/*
 * vm_util.c: the checks and the migration by hand that the real-kernel
 * test programs share (vm_util.h).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vm_util.h"

int npass, nfail;

void
check(bool ok, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		npass++;
	else
		nfail++;
	printf("%s: ", ok ? "ok" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void
section(const char *what)
{
	printf("\n== %s\n", what);
	fflush(stdout);
}

int
kstate(struct device *d)
{
	int s;

	if (device_get_state(d, &s, NULL) < 0)
		return -1;
	return s;
}

void
show(struct device *d, const char *when)
{
	char fl[64];

	printf("  %s: %s: flags 0x%x (%s), state %s, data fd %s\n", d->name,
	    when, d->flags, fsm_flags_str(d->flags, fl, sizeof fl),
	    fsm_name(kstate(d)), device_data_fd(d) >= 0 ? "open" : "none");
	fflush(stdout);
}

bool
step(struct device *d, int target)
{
	struct err e = { 0, "" };
	int from = d->state, rc;

	rc = device_set_state(d, target, &e);
	check(rc == 0 && kstate(d) == target, "%s: %s -> %s%s%s", d->name,
	    fsm_name(from), fsm_name(target), rc < 0 ? ": " : "",
	    rc < 0 ? e.msg : "");
	show(d, "after");
	return rc == 0;
}

int
reg_rw(struct device *d, uint64_t off, uint8_t *val, bool write)
{
	struct err e = { 0, "" };
	int rc;

	rc = device_region_rw(d, 0, off, val, 1, write, &e);
	if (rc < 0)
		printf("  %s\n", e.msg);
	return rc;
}

/* The observable state a source gets: distinct per device. */
void
regs_want(int i, uint8_t *scr, uint8_t *lcr)
{
	*scr = 0x5a + i;
	*lcr = 0x03 | (i << 3);
}

void
regs_put(struct device *d, int i)
{
	uint8_t scr, lcr, got_scr = 0, got_lcr = 0;
	bool ok;

	regs_want(i, &scr, &lcr);
	/* Apart from check(): its arguments are evaluated in any order. */
	ok = reg_rw(d, UART_SCR, &scr, true) == 0 &&
	    reg_rw(d, UART_LCR, &lcr, true) == 0 &&
	    reg_rw(d, UART_SCR, &got_scr, false) == 0 &&
	    reg_rw(d, UART_LCR, &got_lcr, false) == 0 &&
	    got_scr == scr && got_lcr == lcr;
	check(ok, "%s: BAR0 scratch 0x%02x, LCR 0x%02x written, read back 0x%02x, "
	    "0x%02x", d->name, scr, lcr, got_scr, got_lcr);
}

/* Whether @d holds source @i's registers; @want_equal says what to expect. */
void
regs_compare(struct device *d, int i, bool want_equal, const char *why)
{
	uint8_t scr, lcr, got_scr = 0, got_lcr = 0;
	bool equal;
	int rc;

	regs_want(i, &scr, &lcr);
	rc = reg_rw(d, UART_SCR, &got_scr, false);
	if (rc == 0)
		rc = reg_rw(d, UART_LCR, &got_lcr, false);
	equal = got_scr == scr && got_lcr == lcr;
	check(rc == 0 && equal == want_equal, "%s: %s: scratch 0x%02x, LCR "
	    "0x%02x (source's 0x%02x, 0x%02x: %s)", d->name, why, got_scr,
	    got_lcr, scr, lcr, equal ? "equal" : "different");
}

ssize_t
read_now(struct device *d, struct stream *s, bool *eof)
{
	size_t start = s->len;
	ssize_t n;

	*eof = false;
	for (;;) {
		if (s->len + VM_CHUNK > sizeof s->buf)
			return -EFBIG;
		n = device_read_data(d, s->buf + s->len, VM_CHUNK);
		if (n == -EAGAIN)
			break;
		if (n < 0)
			return n;
		if (n == 0) {
			*eof = true;
			break;
		}
		s->len += n;
	}
	return s->len - start;
}

bool
src_precopy(struct device *d, struct stream *s)
{
	uint64_t initial = 0, dirty = 0;
	bool eof;
	ssize_t n;
	int rc;

	if (!step(d, VFIO_DEVICE_STATE_PRE_COPY))
		return false;
	check(device_data_fd(d) >= 0, "%s: PRE_COPY gave a data fd",
	    d->name);
	rc = device_precopy_info(d, &initial, &dirty, NULL);
	check(rc == 0 && initial > 0, "%s: pre-copy info: initial %" PRIu64
	    ", dirty %" PRIu64 " (rc %d)", d->name, initial, dirty, rc);
	n = read_now(d, s, &eof);
	check(n > 0 && (uint64_t)n == initial && !eof, "%s: initial data: "
	    "%zd bytes, then empty for now (-EAGAIN)", d->name, n);
	s->precopy = s->len;
	return device_data_fd(d) >= 0;
}

void
src_stopcopy(struct device *d, struct stream *s)
{
	uint64_t size = 0;
	int fd = device_data_fd(d), rc;
	bool eof;
	ssize_t n;

	if (!step(d, VFIO_DEVICE_STATE_STOP_COPY))
		return;
	check(device_data_fd(d) == fd && fd >= 0, "%s: STOP_COPY keeps the "
	    "pre-copy data fd (%d, now %d)", d->name, fd, device_data_fd(d));
	rc = device_stop_copy_size(d, &size, NULL);
	check(rc == 0 && size > 0, "%s: stop-copy size %" PRIu64 " (rc %d)",
	    d->name, size, rc);
	n = read_now(d, s, &eof);
	check(n > 0 && eof, "%s: stop-copy data: %zd bytes, then 0 (end)",
	    d->name, n);
	check(s->len == size, "%s: whole stream %zu bytes (%zu pre-copy), "
	    "stop-copy size said %" PRIu64, d->name, s->len, s->precopy, size);
}

bool
dst_load(struct device *d, const struct stream *s)
{
	ssize_t n;

	if (!step(d, VFIO_DEVICE_STATE_RESUMING))
		return false;
	check(device_data_fd(d) >= 0, "%s: RESUMING gave a data fd", d->name);
	n = device_write_data(d, s->buf, s->len);
	check(n >= 0, "%s: wrote %zu bytes%s%s", d->name, s->len,
	    n < 0 ? ": " : "", n < 0 ? strerror(-n) : "");
	return step(d, VFIO_DEVICE_STATE_STOP);
}
