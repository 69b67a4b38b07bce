/*
 * vm_util.h: what the real-kernel test programs (vm_kernel_test.c,
 * vm_cdev_test.c) share: the check counters and their output, the state
 * the kernel reports, one checked state request, the UART registers of an
 * mtty's BAR0, and a migration by hand of one device's stream (source
 * pre-copy and stop-copy, destination load) with its checks.
 *
 * Not here: what each program tests (its main()), the guest (run-guest.sh).
 */
#ifndef VFIOMIG_VM_UTIL_H
#define VFIOMIG_VM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "compat.h"
#include "device.h"

#define VM_STREAM	4096
#define VM_CHUNK	16	/* small reads: the stream position matters */

/* BAR0 of an mtty port is a 16550 UART: LCR at 3, the scratch register 7. */
#define UART_LCR	3
#define UART_SCR	7

struct stream {
	uint8_t buf[VM_STREAM];
	size_t len;
	size_t precopy;		/* bytes read in PRE_COPY */
};

extern int npass, nfail;

/* "ok: ..." or "FAIL: ...", counted; stdout flushed. */
void check(bool ok, const char *fmt, ...) PRINTFLIKE(2, 3);
void section(const char *what);
/* The state the kernel reports now, or -1. */
int kstate(struct device *d);
void show(struct device *d, const char *when);
/* One request (the kernel may walk several arcs); checks and shows it. */
bool step(struct device *d, int target);
/* One byte of BAR0 at @off; a failure's message printed. */
int reg_rw(struct device *d, uint64_t off, uint8_t *val, bool write);
/* The UART registers source @i gets (scratch, LCR): distinct per device. */
void regs_want(int i, uint8_t *scr, uint8_t *lcr);
/* Writes source @i's registers into @d's BAR0 and reads them back. */
void regs_put(struct device *d, int i);
/* Whether @d holds source @i's registers; @want_equal says what to expect. */
void regs_compare(struct device *d, int i, bool want_equal, const char *why);
/*
 * Reads what the data fd has now: until -EAGAIN (pre-copy: empty for now)
 * or 0 (end of stream, *eof).  Returns the bytes read or a negative errno.
 */
ssize_t read_now(struct device *d, struct stream *s, bool *eof);
/* RUNNING -> PRE_COPY: the initial data, up to -EAGAIN.  false: no fd. */
bool src_precopy(struct device *d, struct stream *s);
/*
 * PRE_COPY_P2P -> STOP_COPY: the same data fd, the rest of the stream,
 * then 0; the whole stream as long as the stop-copy size said.
 */
void src_stopcopy(struct device *d, struct stream *s);
/* Destination: RUNNING -> RESUMING (one request), write it all, STOP. */
bool dst_load(struct device *d, const struct stream *s);

#endif
