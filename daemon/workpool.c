/*
 * workpool.c: worker threads that run one batch of jobs and wait for all.
 * A batch is an index range; workers take indices from a shared counter.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "log.h"
#include "util.h"
#include "workpool.h"

struct workpool {
	pthread_mutex_t lock;
	pthread_cond_t work;	/* a batch is posted, or shutdown */
	pthread_cond_t done;	/* the last job of a batch finished */
	pthread_t *threads;
	int nthreads;
	bool shutdown;
	uint64_t generation;	/* batch number */
	void (*fn)(void *, int);
	void *arg;
	int njobs, next, finished;
};

static void *
workpool_main(void *a)
{
	struct workpool *wp = a;
	uint64_t seen = 0;

	pthread_mutex_lock(&wp->lock);
	for (;;) {
		while (!wp->shutdown && (wp->generation == seen ||
		    wp->next >= wp->njobs))
			pthread_cond_wait(&wp->work, &wp->lock);
		if (wp->shutdown)
			break;
		seen = wp->generation;
		while (wp->next < wp->njobs) {
			int i = wp->next++;

			pthread_mutex_unlock(&wp->lock);
			wp->fn(wp->arg, i);
			pthread_mutex_lock(&wp->lock);
			if (++wp->finished == wp->njobs)
				pthread_cond_signal(&wp->done);
		}
	}
	pthread_mutex_unlock(&wp->lock);
	return NULL;
}

struct workpool *
workpool_new(int nthreads)
{
	struct workpool *wp;
	int i, rc;

	if (nthreads < 1) {
		errno = EINVAL;
		return NULL;
	}
	wp = xcalloc(1, sizeof *wp);
	pthread_mutex_init(&wp->lock, NULL);
	pthread_cond_init(&wp->work, NULL);
	pthread_cond_init(&wp->done, NULL);
	wp->threads = xcalloc(nthreads, sizeof *wp->threads);
	for (i = 0; i < nthreads; i++) {
		rc = pthread_create(&wp->threads[i], NULL, workpool_main, wp);
		if (rc != 0) {
			wp->nthreads = i;
			workpool_free(wp);
			errno = rc;
			return NULL;
		}
	}
	wp->nthreads = nthreads;
	return wp;
}

void
workpool_free(struct workpool *wp)
{
	int i;

	if (wp == NULL)
		return;
	pthread_mutex_lock(&wp->lock);
	wp->shutdown = true;
	pthread_cond_broadcast(&wp->work);
	pthread_mutex_unlock(&wp->lock);
	for (i = 0; i < wp->nthreads; i++)
		pthread_join(wp->threads[i], NULL);
	pthread_cond_destroy(&wp->done);
	pthread_cond_destroy(&wp->work);
	pthread_mutex_destroy(&wp->lock);
	free(wp->threads);
	free(wp);
}

int
workpool_size(const struct workpool *wp)
{
	return wp->nthreads;
}

void
workpool_run(struct workpool *wp, int njobs, void (*fn)(void *, int),
	     void *arg)
{
	if (njobs <= 0)
		return;
	pthread_mutex_lock(&wp->lock);
	wp->fn = fn;
	wp->arg = arg;
	wp->njobs = njobs;
	wp->next = 0;
	wp->finished = 0;
	wp->generation++;
	pthread_cond_broadcast(&wp->work);
	while (wp->finished < wp->njobs)
		pthread_cond_wait(&wp->done, &wp->lock);
	pthread_mutex_unlock(&wp->lock);
}
