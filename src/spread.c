/*-------------------------------------------------------------------------
 * spread.c
 *		Claim sizing that spreads work over the free workers of a kind
 *		(issue 15: slow activities must not wait behind each other in one
 *		worker's batch while another worker is idle).
 *
 * A batch's items run one after another in one worker, and their results
 * commit together.  worker.c sizes a claim from the recent run time per
 * item; after a burst of fast items that says "claim many", and a fan-out
 * of slow items that arrives then would all go to the first worker that
 * looks, the others staying idle.  So before a claim of more than one item,
 * a worker of a kind that spreads (DxWorkOps.count_ready) counts the
 * other workers of its kind that hold no claimed items (shared memory,
 * DxFreePeers) and, when there are any, the items ready to claim, and
 * claims at most its fair share: ceil(ready / (1 + free peers)).  When that
 * leaves items behind it wakes the peers (at the claim's commit), so they
 * take the rest at once rather than at their next poll.
 *
 * The fast path stays as it was: with every peer busy (a full queue keeps
 * them busy) nothing is counted and the claim keeps its size; with a free
 * peer the batch is split in two, which a deep queue hardly notices (each
 * claims up to duroxide.batch_size of a long queue).  A claim that the
 * timing already limits to one item counts nothing either.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"

#include "shmem.h"
#include "spread.h"
#include "util.h"

/* at most limit, and no more than a fair share of the ready items (see above) */
int
DxFairShare(const DxWorkOps *k, int limit)
{
	int			free_peers;
	int64		ready;
	int64		share;
	Datum		values[1];
	bool		isnull;
	Datum		d;

	if (k->count_ready == NULL || limit <= 1)
		return limit;
	free_peers = DxFreePeers(k->worker_kind);
	if (free_peers == 0)
		return limit;
	values[0] = Int64GetDatum((int64) limit * (free_peers + 1));
	DxExpect(DxExecPlan(k->count_ready, values, NULL, true, 1), SPI_OK_SELECT, "ready count");
	if (SPI_processed == 0)
		return limit;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	ready = isnull ? 0 : DatumGetInt64(d);
	share = (ready + free_peers) / (free_peers + 1);
	if (share < ready)
		DxRequestWake(k->worker_kind == DX_KIND_ACTIVITY ? DX_WAKE_WORKER : DX_WAKE_ORCHESTRATOR);
	return (int) Max(1, Min(limit, share));
}
