/*
 * metrics.h: the metrics endpoint (vfiomigd(8), "Metrics"): Prometheus'
 * text format over HTTP at GET /metrics, bound to the configuration's
 * metrics.listen, served by libevent's evhttp in the daemon's event loop.
 *
 * Not here: the numbers themselves (the sets' info and counters, dset.c
 * and xfer-info.c; the handshakes' counters, xfer-dst.c).
 */
#ifndef VFIOMIG_METRICS_H
#define VFIOMIG_METRICS_H

#include "util.h"

struct daemon;
struct metrics;

/*
 * Binds metrics.listen and serves it in dm->base (the loop's thread).
 * NULL with nothing to do when metrics.listen is not configured; NULL
 * with a message in @e when it cannot bind (*@e's code non-zero).
 */
struct metrics *metrics_start(struct daemon *dm, struct err *e);
/* The address bound ("127.0.0.1:9477"). */
const char *metrics_where(const struct metrics *m);
/* Closes the endpoint and every connection; NULL is fine. */
void metrics_free(struct metrics *m);

#endif
