/*-------------------------------------------------------------------------
 * worker.h
 *		The main loop and unit-of-work skeleton shared by dispatchers and
 *		activity workers.
 *
 * Words: a *worker* is one of the engine's background processes (a slot of
 * the shared-memory registry, shmem.h), of a kind (DxWorkerKind): a
 * *dispatcher* runs orchestration turns, an *activity worker* runs activity
 * attempts.  What a kind of worker claims and runs is described by its
 * DxWorkOps (DxDispatcherWork in dispatcher.c, DxActivityWork in
 * activity.c); worker.c holds the table of kinds.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_WORKER_H
#define DUROXIDE_WORKER_H

#include "postgres.h"

#include "shmem.h"
#include "util.h"

/* what DxRunBatch needs to know about the work of one kind of worker */
typedef struct DxWorkOps
{
	DxWorkerKind worker_kind;
	const char *worker_name;	/* log texts: "dispatcher", "instance" */
	const char *item_name;
	const char *claim_what;		/* pg_stat_activity texts */
	const char *run_what;
	const char *suspect_claim_what;
	const char *suspect_run_what;
	/* claim up to limit items (one suspect with suspect) into cxt */
	int			(*claim) (int slot, bool suspect, int limit, MemoryContext cxt, void **items);
	/* run claimed items in the current transaction */
	void		(*run) (void *items, int n, int slot, MemoryContext cxt);
	/*
	 * ($1 bigint limit) how many never-delivered items are ready to claim, at
	 * most $1; set: claims are a fair share among free workers (spread.c)
	 */
	DxPlan	   *count_ready;
	/* "ms until the next item becomes visible" query */
	DxPlan	   *next_due;
	/* "when does the next suspect's work become visible" query (timestamptz) */
	DxPlan	   *next_suspect_due;
	/* ($1 boot, $2 slot) release the claims of this slot and of earlier boots */
	DxPlan	   *recover;
	/* ($1 boot, $2 slot) give this process's claims back, uncounted */
	DxPlan	   *unclaim;
	/* after the transaction that ran items committed (optional) */
	void		(*committed) (void *items, int n);
} DxWorkOps;

/*
 * Transient errors: a turn or activity attempt that hits one is rolled back
 * and retried with backoff (counted like a crash) instead of failing.
 */
extern bool DxTransientError(const ErrorData *e);
extern int	DxTransientBackoffMs(int deliveries);

extern void DxBeginTxn(const char *what);
extern void DxCommitTxn(void);
extern int	DxRunBatchHere(const DxWorkOps *k, int slot);
extern void DxRequireExtensionVersion(void);

extern PGDLLEXPORT void duroxide_worker_main(Datum arg);

#endif
