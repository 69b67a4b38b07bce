/*
 * workpool.h: a fixed pool of worker threads that runs one batch of jobs in
 * parallel and waits for all of them (a collective step of a migration set:
 * a kernel transition can block for many milliseconds).
 */
#ifndef VFIOMIG_WORKPOOL_H
#define VFIOMIG_WORKPOOL_H

struct workpool;

/* @nthreads workers (>= 1). NULL on failure (errno set). */
struct workpool *workpool_new(int nthreads);
void workpool_free(struct workpool *wp);
int workpool_size(const struct workpool *wp);

/*
 * Runs fn(arg, i) for every i in [0, njobs) on the workers and returns when
 * all have returned.  One batch at a time per pool (callers serialise).
 */
void workpool_run(struct workpool *wp, int njobs, void (*fn)(void *arg, int i),
		  void *arg);

#endif
