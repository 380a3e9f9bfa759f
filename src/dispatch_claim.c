/*-------------------------------------------------------------------------
 * dispatch_claim.c
 *		Claiming instances for a dispatcher batch, and giving claims back:
 *		the candidate window and its fairness, the suspect claim, the release
 *		of a failed turn's claim (with its transient-error backoff), and the
 *		queries worker.c runs for this kind of work (next due, next suspect,
 *		recovery, orderly unclaim).  The protocol: dispatcher.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"

#include "dispatch.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

/* the columns of a claimed instance row, in ReadClaimed's order */
#define CLAIM_COLUMNS \
	"i.instance_id, i.orchestration_name, i.orchestration_version, i.status, i.execution_id, i.input," \
	" i.parent_instance_id, i.parent_execution_id, i.parent_event_id, i.replay_mark, i.claim_count, i.owner::oid," \
	" i.waiting_on, i.history_len, i.created_at"

/*
 * Candidates: the instances of the oldest visible messages (a window of $1
 * rows read from orchestrator_queue_visible_idx), leaving out $2, with the
 * number of window rows each has.  See DxClaimInstances.
 */
static DxPlan candidates_plan = {NULL,
	"SELECT q.instance_id, count(*)::int4 FROM ("
	"  SELECT instance_id FROM duroxide.orchestrator_queue"
	"   WHERE visible_at <= now() AND NOT (instance_id = ANY($2))"
	"   ORDER BY visible_at LIMIT $1) q"
	" GROUP BY q.instance_id",
2, {INT4OID, TEXTARRAYOID}};

static DxPlan claim_plan = {NULL,
	"UPDATE duroxide.instances i SET claim_boot = $1, claim_slot = $2, claim_count = i.claim_count + 1"
	" WHERE i.instance_id IN (SELECT c.instance_id FROM duroxide.instances c"
	"                          WHERE c.instance_id = ANY($3) AND c.claim_boot IS NULL AND c.claim_count = 0"
	"                          LIMIT $4 FOR UPDATE SKIP LOCKED)"
	" RETURNING " CLAIM_COLUMNS,
4, {INT8OID, INT4OID, TEXTARRAYOID, INT4OID}};

/* a suspect: claimed before without a committed turn (see DxDispatcherWork) */
static DxPlan claim_suspect_plan = {NULL,
	"UPDATE duroxide.instances i SET claim_boot = $1, claim_slot = $2, claim_count = i.claim_count + 1"
	" WHERE i.instance_id = (SELECT c.instance_id FROM duroxide.instances c"
	"                         WHERE c.claim_count > 0 AND c.claim_boot IS NULL"
	"                           AND EXISTS (SELECT 1 FROM duroxide.orchestrator_queue q"
	"                                        WHERE q.instance_id = c.instance_id AND q.visible_at <= now())"
	"                         LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" RETURNING " CLAIM_COLUMNS,
2, {INT8OID, INT4OID}};

DxPlan		dx_dispatch_next_suspect_due_plan = {NULL,
	"SELECT min(q.visible_at) FROM duroxide.instances i"
	"  JOIN duroxide.orchestrator_queue q ON q.instance_id = i.instance_id"
	" WHERE i.claim_count > 0 AND i.claim_boot IS NULL",
0, {0}};

DxPlan		dx_dispatch_recover_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL"
	" WHERE claim_boot IS NOT NULL AND (claim_boot <> $1 OR claim_slot = $2)",
2, {INT8OID, INT4OID}};

DxPlan		dx_dispatch_unclaim_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL, claim_count = greatest(claim_count - 1, 0)"
	" WHERE claim_boot = $1 AND claim_slot = $2",
2, {INT8OID, INT4OID}};

static DxPlan release_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL WHERE instance_id = ANY($1)",
1, {TEXTARRAYOID}};

/* hide an instance's visible messages for a backoff (after a transient error) */
static DxPlan backoff_plan = {NULL,
	"UPDATE duroxide.orchestrator_queue SET visible_at = clock_timestamp() + $2 * interval '1 ms'"
	" WHERE instance_id = $1 AND visible_at <= now()",
2, {TEXTOID, INT4OID}};

DxPlan		dx_dispatch_next_due_plan = {NULL,
	"SELECT (extract(epoch FROM min(visible_at) - clock_timestamp()) * 1000)::bigint"
	"  FROM duroxide.orchestrator_queue WHERE visible_at > now()",
0, {0}};

/* read the claimed instance rows of the last claim into insts[from..] */
static void
ReadClaimed(Instance *insts, int from)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[from + r];
		int			i = (int) r;
		bool		isnull;

		inst->instance_id = DxSpiText(i, 1);
		inst->name = DxSpiText(i, 2);
		inst->version = DxSpiText(i, 3);
		inst->status = DxSpiText(i, 4);
		inst->execution_id = (int32) DxSpiInt(i, 5, 1);
		inst->input = DxSpiJsonb(i, 6);
		inst->parent_instance_id = DxSpiText(i, 7);
		inst->parent_execution_id = (int32) DxSpiInt(i, 8, 0);
		inst->parent_event_id = DxSpiInt(i, 9, 0);
		inst->replay_mark = (int) DxSpiInt(i, 10, -1);
		inst->claim_count = (int) DxSpiInt(i, 11, 0);
		inst->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 12, &isnull));
		inst->waiting_on = DxSpiJsonb(i, 13);
		inst->history_len = (int) DxSpiInt(i, 14, 0);
		inst->created_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 15, &isnull));
	}
}

/* how many windows of candidates one claim looks at, at most */
#define DX_CLAIM_ROUNDS 3

/*
 * Claim instances (in the current transaction); their rows go into cxt.
 * Normally up to limit never-claimed instances; with suspect, one suspect
 * instance.
 *
 * Fairness: the candidates are the instances of the oldest visible messages,
 * a window of max(256, 8 x limit) rows.  When the window was full and the
 * claim got fewer than limit instances (the window is taken by a few
 * instances with many messages each, claimed or not), the next window leaves
 * out the instances already seen, so a burst of messages for one instance
 * hides nobody else's.  In the common case this is one window query and one
 * claim, as before; a dominated window costs one more index scan that skips
 * the dominating instances' rows.
 */
int
DxClaimInstances(int slot, bool suspect, int limit, MemoryContext cxt, void **out)
{
	Datum		values[4];
	DatumList	seen = {0};
	Instance   *insts;
	int			n = 0;
	int			window = Max(256, limit * 8);
	MemoryContext old;

	insts = MemoryContextAllocZero(cxt, sizeof(Instance) * (Max(limit, 1) + 1));
	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	if (suspect)
	{
		DxExpect(DxExecPlan(&claim_suspect_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING,
				 "suspect claim");
		n = (int) Min(SPI_processed, 1);
		old = MemoryContextSwitchTo(cxt);
		ReadClaimed(insts, 0);
		MemoryContextSwitchTo(old);
		*out = (void *) insts;
		return n;
	}
	for (int round = 0; round < DX_CLAIM_ROUNDS && n < limit; round++)
	{
		DatumList	cands = {0};
		Datum		cvalues[2];
		int64		rows = 0;

		cvalues[0] = Int32GetDatum(window);
		cvalues[1] = DxListArray(&seen, TEXTOID);
		DxExpect(DxExecPlan(&candidates_plan, cvalues, NULL, true, 0), SPI_OK_SELECT, "candidate lookup");
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			old = MemoryContextSwitchTo(cxt);
			id = datumCopy(id, false, -1);
			DxListAdd(&cands, id, false);
			DxListAdd(&seen, id, false);
			MemoryContextSwitchTo(old);
			rows += DxSpiInt((int) i, 2, 0);
		}
		values[2] = DxListArray(&cands, TEXTOID);
		values[3] = Int32GetDatum(limit - n);
		DxExpect(DxExecPlan(&claim_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING, "instance claim");
		old = MemoryContextSwitchTo(cxt);
		ReadClaimed(insts, n);
		MemoryContextSwitchTo(old);
		n += (int) SPI_processed;
		if (rows < window)
			break;				/* the window saw every visible message */
	}
	*out = (void *) insts;
	return n;
}

/*
 * Release the claims of some instances (their turns will be retried, as
 * suspects).  After a transient error their visible messages are also
 * hidden for a backoff that grows with the deliveries.
 */
void
DxReleaseClaims(Instance *insts, int n, bool transient)
{
	DatumList	ids = {0};
	Datum		values[2];

	for (int i = 0; i < n; i++)
		DxListText(&ids, insts[i].instance_id);
	values[0] = DxListArray(&ids, TEXTOID);
	DxExpect(DxExecPlan(&release_plan, values, NULL, false, 0), SPI_OK_UPDATE, "claim release");
	for (int i = 0; transient && i < n; i++)
	{
		values[0] = CStringGetTextDatum(insts[i].instance_id);
		values[1] = Int32GetDatum(DxTransientBackoffMs(insts[i].claim_count));
		DxExpect(DxExecPlan(&backoff_plan, values, NULL, false, 0), SPI_OK_UPDATE, "retry backoff");
	}
	DxSuspectsPending(DX_KIND_DISPATCHER);	/* their claim_count stays > 0 */
}
