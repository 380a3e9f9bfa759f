/*-------------------------------------------------------------------------
 * dispatcher.c
 *		Orchestration dispatchers: claim instances with visible messages, run
 *		one turn each, and commit the turns.  This file owns the batch (the
 *		subtransactions around it and around each turn, the retry one by one
 *		after a failed write), one turn (RunTurn) and the work kind worker.c
 *		runs (DxDispatcherWork); the phases are in the files dispatch.h lists.
 *
 * Claim protocol (two transactions per batch):
 *
 *	 1. claim: lock up to duroxide.batch_size instances that have visible
 *		messages and no claim (FOR UPDATE SKIP LOCKED), set claim_boot /
 *		claim_slot and increment claim_count; commit.  The committed count is
 *		what detects a turn that crashes its process: past
 *		duroxide.max_attempts the instance is failed as poison.  The claim
 *		returns the instance rows, which nobody but the claimer changes while
 *		the claim is held.
 *	 2. process, set-based: one query reads the visible messages of every
 *		claimed instance, one reads their histories; each turn runs in its own
 *		subtransaction (RunTurnIsolated; the function itself through
 *		replay.c) and only adds to the batch's write lists
 *		when it succeeded; then one statement per table writes the history
 *		delta, the new activity attempts, the new messages, the consumed
 *		message deletions and the instance rows (clearing the claims).  An
 *		engine error in one turn releases only that instance's claim.  If the
 *		set-based write itself fails, the batch is rolled back and its
 *		instances are run again one per batch, so one bad instance never takes
 *		the others down.  The instance update checks the claim: an instance
 *		deleted (force) meanwhile makes its turn's writes roll back.
 *
 * A claim is held by (boot id, slot).  A claimed instance is skipped by
 * other dispatchers even when its row is not locked, so two dispatchers never
 * run one instance at once.  Claims of a dead process are released by the
 * next process of the same slot, or by any worker when they carry an
 * earlier boot id (Recover in worker.c).
 *
 * Messages that arrive while a turn runs are not read by it (they are
 * committed after its read) and stay in the queue for the next turn: the
 * dispatcher loops without sleeping after a batch that found work, and the
 * committer woke the dispatchers.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "dispatch.h"
#include "dispatcher.h"
#include "guc.h"
#include "registry.h"
#include "replay.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_dispatch_batch);

/* ------------------------------------------------------------------------
 * One turn
 * ------------------------------------------------------------------------ */

/* run one turn of a claimed instance; adds its writes to w */
static void
RunTurn(Instance *inst, Writes *w, MemoryContext batch_cxt, MemoryContext cxt)
{
	DxTurn	   *t = NULL;
	TurnResult	r;
	bool		started;
	char	   *cancel;

	memset(&r, 0, sizeof(r));
	r.status = inst->status;
	r.execution_id = inst->execution_id;
	r.version = inst->version;
	r.input = inst->input;
	r.replay_mark = inst->replay_mark;

	if (strcmp(inst->status, "Running") != 0)
	{
		/* terminal already: drop whatever still arrives, change nothing else */
		for (int i = 0; i < inst->nmsgs; i++)
			DxListAdd(&w->consumed, Int64GetDatum(inst->msgs[i].id), false);
		DxListText(&w->settled, inst->instance_id);
		inst->cache_update = true;
		inst->cache_drop = true;
		return;
	}
	DxSlotSetState(DX_STATE_BUSY, inst->instance_id);

	t = DxTurnCreate(cxt, inst->instance_id, inst->execution_id, inst->name, inst->version,
					 inst->parent_instance_id, inst->replay_mark);
	for (int i = 0; i < inst->nhist; i++)
		DxTurnLoadEvent(t, inst->hist[i].event_id, inst->hist[i].type, inst->hist[i].source_id,
						inst->hist[i].data);
	cancel = DxApplyMessages(t, inst, inst->msgs, inst->nmsgs, &started);

	if (inst->claim_count > duroxide_max_attempts)
	{
		r.status = "Failed";
		r.error = psprintf("poison: a turn of this orchestration was started %d times without completing "
						   "(its process crashed or was stopped, or it hit a transient error, each time); "
						   "duroxide.max_attempts is %d",
						   inst->claim_count - 1, duroxide_max_attempts);
		DxAppendEnd(t, EV_ORCHESTRATION_FAILED, "error", NULL, r.error);
	}
	else if (cancel)
	{
		r.status = "Cancelled";
		r.error = cancel;
		DxAppendEnd(t, EV_ORCHESTRATION_CANCELLED, "reason", NULL, cancel);
	}
	else if (started && DxCanElide(t, inst))
	{
		/* the function would suspend where it did: record, do not run */
		r.waiting_on = inst->waiting_on;
		DxPerformActions(t, inst, w, &r);		/* retries from DxApplyMessages */
	}
	else if (started)
	{
		DxFunctionInfo fi;
		Jsonb	   *output = NULL;
		char	   *error = NULL;
		DxOutcome	outcome;

		if (!DxLookupOrchestration(inst->name, inst->version, &fi))
		{
			outcome = DX_OUTCOME_FAILED;
			error = psprintf("orchestration \"%s\" version %s is not registered", inst->name, inst->version);
		}
		else if ((error = DxFunctionProblem(&fi, psprintf("orchestration \"%s\" version %s",
														inst->name, inst->version))) != NULL)
			outcome = DX_OUTCOME_FAILED;
		else
			outcome = DxTurnRun(t, fi.fn, fi.owner, inst->input, &output, &error);

		/* not the orchestration's own failure: roll the turn back, retry it */
		if (outcome == DX_OUTCOME_FAILED && !DxTurnIsNondeterministic(t) && DxTransientError(DxTurnCallError(t)))
			ReThrowError(DxTurnCallError(t));

		switch (outcome)
		{
			case DX_OUTCOME_SUSPENDED:
				r.replay_mark = DxTurnResolvedAwaits(t);
				r.waiting_on = DxTurnWaitingOn(t);
				break;
			case DX_OUTCOME_COMPLETED:
				r.status = "Completed";
				r.output = output;
				DxAppendEnd(t, EV_ORCHESTRATION_COMPLETED, "output", output, NULL);
				break;
			case DX_OUTCOME_FAILED:
				r.status = "Failed";
				r.error = error;
				DxAppendEnd(t, EV_ORCHESTRATION_FAILED, "error", NULL, error);
				if (DxLogEnabled(DX_LOG_WARN))
					ereport(DxServerLevel(DX_LOG_WARN),
							(errmsg("duroxide: orchestration instance \"%s\" (%s) failed: %s",
									inst->instance_id, inst->name, error)));
				break;
			case DX_OUTCOME_CONTINUED_AS_NEW:
				{
					DxJsonBuilder b;
					Jsonb	   *can_input;
					const char *can_version;

					DxTurnContinueAsNew(t, &can_input, &can_version);
					DxJbBegin(&b);
					DxJbJsonb(&b, "input", can_input);
					DxJbString(&b, "version", can_version);
					DxTurnAppend(t, EV_CONTINUED_AS_NEW, 0, DxJbEnd(&b));
					r.execution_id = inst->execution_id + 1;
					r.version = can_version;
					r.input = can_input;
					r.replay_mark = -1;
				}
				break;
		}
		if (outcome != DX_OUTCOME_FAILED)
			DxPerformActions(t, inst, w, &r);
	}
	/* else: messages for an execution that has not started: consume them */

	r.terminal = strcmp(r.status, "Running") != 0;
	if (r.terminal && strcmp(r.status, "Completed") != 0)
		DxAbandonWork(inst, r.status);
	DxWritesAddTurn(w, t, inst, &r);
	DxHistCacheNoteTurn(inst, t, &r, batch_cxt);
}

/* report an engine error, or a transient error, of a turn or a batch */
static void
ReportTurnError(const char *what, Instance *inst, ErrorData *e, bool transient)
{
	if (transient)
	{
		if (DxLogEnabled(DX_LOG_WARN))
			ereport(DxServerLevel(DX_LOG_WARN),
					(errmsg("duroxide: %s of instance \"%s\" hit a transient error, retried in %d ms: %s",
							what, inst->instance_id, DxTransientBackoffMs(inst->claim_count),
							e->message ? e->message : ""),
					 errdetail("SQLSTATE %s; after duroxide.max_attempts deliveries the instance fails as poison.",
							   unpack_sql_state(e->sqlerrcode))));
	}
	else
		ereport(WARNING,
				(errmsg("duroxide: %s of instance \"%s\" failed in the engine: %s",
						what, inst->instance_id, e->message ? e->message : ""),
				 errdetail("The turn will be retried; after duroxide.max_attempts the instance fails as poison.")));
}

/* run one turn in its own subtransaction: an engine or transient error drops only it */
static void
RunTurnIsolated(Instance *inst, Writes *w, MemoryContext batch_cxt, MemoryContext turn_cxt)
{
	Writes		saved = *w;		/* list lengths to roll back to */
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		RunTurn(inst, w, batch_cxt, turn_cxt);
		DxSubxactCommit(old, owner);
	}
	PG_CATCH();
	{
		ErrorData  *e = DxSubxactRollBack(old, owner);
		bool		transient = DxTransientError(e);

		ReportTurnError("turn", inst, e, transient);
		FreeErrorData(e);
		DxWritesTruncate(w, &saved);
		inst->cache_update = false;
		DxReleaseClaims(inst, 1, transient);
	}
	PG_END_TRY();
}

/*
 * Run the turns of claimed instances and write them, in a subtransaction.
 * Returns false (everything rolled back) when the set-based write failed;
 * *transient then says whether with a transient error.
 */
static bool
RunBatch(Instance *insts, int n, int slot, MemoryContext cxt, bool *transient)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	MemoryContext turn_cxt = AllocSetContextCreate(cxt, "duroxide turn", ALLOCSET_DEFAULT_SIZES);
	volatile bool ok = true;

	*transient = false;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Writes		w;

		memset(&w, 0, sizeof(w));
		DxLoadBatch(insts, n, cxt);
		for (int i = 0; i < n; i++)
			RunTurnIsolated(&insts[i], &w, cxt, turn_cxt);
		DxWritesFlush(&w, slot);
		DxSubxactCommit(old, owner);
	}
	PG_CATCH();
	{
		ErrorData  *e = DxSubxactRollBack(old, owner);

		*transient = DxTransientError(e);
		ReportTurnError("batch write", &insts[0], e, *transient);
		FreeErrorData(e);
		for (int i = 0; i < n; i++)
			insts[i].cache_update = false;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextDelete(turn_cxt);
	return ok;
}

/* run claimed instances; after a failed batch write, one instance per batch */
void
DxRunInstances(void *items, int n, int slot, MemoryContext cxt)
{
	Instance   *insts = (Instance *) items;
	bool		transient;

	if (!RunBatch(insts, n, slot, cxt, &transient))
	{
		for (int i = 0; i < n && n > 1; i++)
		{
			/* read again (a cached history is only ever read, never written) */
			insts[i].nmsgs = insts[i].nhist = insts[i].maxhist = 0;
			insts[i].hist = NULL;
			if (!RunBatch(&insts[i], 1, slot, cxt, &transient))
				DxReleaseClaims(&insts[i], 1, transient);
		}
		if (n == 1)
			DxReleaseClaims(insts, 1, transient);
	}
	DxSlotSetState(DX_STATE_BUSY, NULL);
}

/*
 * Orchestration turns for worker.c.  Poison accounting: a normal claim takes
 * only instances never claimed since their last committed turn and
 * increments claim_count 0 -> 1.  When a process crashes, every process of
 * the server restarts, so everything in flight anywhere becomes a suspect
 * (claim_count > 0, claim released).  Suspects run one at a time in the
 * cluster (the suspect runner slot in shared memory), each alone in its own
 * transactions: an innocent one commits and returns to 0; only the one that
 * crashes the server while it runs alone keeps counting up to
 * duroxide.max_attempts, where it is failed as poison.
 */
const DxWorkOps DxDispatcherWork = {
	.worker_kind = DX_KIND_DISPATCHER,
	.worker_name = "dispatcher",
	.item_name = "instance",
	.claim_what = "duroxide: claiming instances",
	.run_what = "duroxide: running turns",
	.suspect_claim_what = "duroxide: claiming a suspect instance",
	.suspect_run_what = "duroxide: running a suspect turn alone",
	.claim = DxClaimInstances,
	.run = DxRunInstances,
	.next_due = &dx_dispatch_next_due_plan,
	.next_suspect_due = &dx_dispatch_next_suspect_due_plan,
	.recover = &dx_dispatch_recover_plan,
	.committed = DxHistCacheAfterCommit,
	.unclaim = &dx_dispatch_unclaim_plan,
};

/*
 * SQL: duroxide._dispatch_batch(slot) -- one dispatcher batch in the caller's
 * transaction (claim and turns commit together).  For isolation tests and
 * for operators running turns by hand; returns the number of turns run.
 */
Datum
duroxide_dispatch_batch(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(DxRunBatchHere(&DxDispatcherWork, PG_GETARG_INT32(0)));
}
