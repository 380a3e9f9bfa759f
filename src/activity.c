/*-------------------------------------------------------------------------
 * activity.c
 *		Activity workers: claim activity attempts, run each as its owner in a
 *		subtransaction, and record the result in the same transaction.
 *
 * Claim protocol (two transactions per batch, like dispatcher.c):
 *
 *	 1. claim: up to duroxide.batch_size worker_queue rows that are visible
 *		and unclaimed (FOR UPDATE SKIP LOCKED) get claim_boot / claim_slot and
 *		delivery_count + 1; commit.  The committed delivery count is what
 *		catches an attempt that kills its process (poison).
 *	 2. run: the claimed rows are deleted (a row already gone was withdrawn by
 *		its orchestration and is skipped); each attempt runs in its own
 *		subtransaction; its ActivityCompleted / ActivityFailed message is
 *		inserted into the orchestrator queue; commit.  The activity's own
 *		writes and its recorded result therefore commit together or not at
 *		all: for database side effects an attempt is exactly-once.
 *
 * A row whose delivery_count exceeds duroxide.max_attempts is not run again:
 * it is recorded as failed ("poison").
 *
 * Rows with a task_queue are external tasks (external.c): never claimed
 * here.  DxRecordActivityOutcome is shared with external.c.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/typcache.h"

#include "activity.h"
#include "dispatcher.h"
#include "guc.h"
#include "concurrency.h"
#include "protocol.h"
#include "registry.h"
#include "sandbox.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_activity_trace);
PG_FUNCTION_INFO_V1(duroxide_activity_batch);

/* one claimed attempt */
typedef struct Attempt
{
	int64		id;
	char	   *instance_id;
	int32		execution_id;
	int64		activity_id;
	char	   *name;
	Jsonb	   *input;
	int32		attempt;
	int64		timeout_ms;
	char	   *orchestration_name;
	char	   *orchestration_version;
	int32		delivery_count;
} Attempt;

static DxPlan claim_plan = {NULL,
	"UPDATE duroxide.worker_queue w SET claim_boot = $1, claim_slot = $2, delivery_count = w.delivery_count + 1"
	" WHERE w.id IN (SELECT id FROM duroxide.worker_queue"
	"                 WHERE claim_boot IS NULL AND delivery_count = 0 AND visible_at <= now()"
	"                   AND task_queue IS NULL"	/* external tasks: external.c */
	"                   AND activity_name NOT IN (" DX_LIMITED_ACTIVITIES ")"	/* src/concurrency.c */
	"                 ORDER BY visible_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
	" RETURNING w.id, w.instance_id, w.execution_id, w.activity_id, w.activity_name, w.input, w.attempt,"
	"           w.timeout_ms, w.orchestration_name, w.orchestration_version, w.delivery_count",
3, {INT8OID, INT4OID, INT4OID}};

/* a suspect: delivered before without a committed attempt (see dispatcher.c) */
static DxPlan claim_suspect_plan = {NULL,
	"UPDATE duroxide.worker_queue w SET claim_boot = $1, claim_slot = $2, delivery_count = w.delivery_count + 1"
	" WHERE w.id = (SELECT id FROM duroxide.worker_queue"
	"                WHERE claim_boot IS NULL AND delivery_count > 0 AND visible_at <= now()"
	"                  AND task_queue IS NULL"
	"                  AND activity_name NOT IN (" DX_LIMITED_ACTIVITIES ")"
	"                ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)"
	" RETURNING w.id, w.instance_id, w.execution_id, w.activity_id, w.activity_name, w.input, w.attempt,"
	"           w.timeout_ms, w.orchestration_name, w.orchestration_version, w.delivery_count",
2, {INT8OID, INT4OID}};

/* for spread.c: the never-delivered attempts ready to claim, at most $1 */
static DxPlan count_ready_plan = {NULL,
	"SELECT count(*) FROM (SELECT 1 FROM duroxide.worker_queue"
	"  WHERE claim_boot IS NULL AND delivery_count = 0 AND visible_at <= now() LIMIT $1) r",
1, {INT8OID}};

static DxPlan next_due_plan = {NULL,
	"SELECT (extract(epoch FROM min(visible_at) - clock_timestamp()) * 1000)::bigint"
	"  FROM duroxide.worker_queue WHERE visible_at > now() AND claim_boot IS NULL AND delivery_count = 0"
	"   AND task_queue IS NULL",
0, {0}};

static DxPlan next_suspect_due_plan = {NULL,
	"SELECT min(visible_at) FROM duroxide.worker_queue WHERE claim_boot IS NULL AND delivery_count > 0"
	"   AND task_queue IS NULL",
0, {0}};

static DxPlan unclaim_plan = {NULL,
	"UPDATE duroxide.worker_queue SET claim_boot = NULL, claim_slot = NULL,"
	"       delivery_count = greatest(delivery_count - 1, 0)"
	" WHERE claim_boot = $1 AND claim_slot = $2",
2, {INT8OID, INT4OID}};

static DxPlan recover_plan = {NULL,
	"UPDATE duroxide.worker_queue SET claim_boot = NULL, claim_slot = NULL"
	" WHERE claim_boot IS NOT NULL AND (claim_boot <> $1 OR claim_slot = $2)",
2, {INT8OID, INT4OID}};

static DxPlan take_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE id = ANY($1) RETURNING id",
1, {INT8ARRAYOID}};

static DxPlan result_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id, data)"
	" VALUES ($1, $2, $3, $4, $5)",
5, {TEXTOID, INT4OID, TEXTOID, INT8OID, JSONBOID}};

/* an attempt taken and run back into the queue (same id, delivery counted) */
static DxPlan put_back_plan = {NULL,
	"INSERT INTO duroxide.worker_queue (id, instance_id, execution_id, activity_id, activity_name, input,"
	"  attempt, timeout_ms, orchestration_name, orchestration_version, visible_at, delivery_count)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, clock_timestamp() + $11 * interval '1 ms', $12)",
12, {INT8OID, TEXTOID, INT4OID, INT8OID, TEXTOID, JSONBOID, INT4OID, INT8OID, TEXTOID, TEXTOID, INT4OID, INT4OID}};

/*
 * Record an attempt's outcome for its orchestration: an ActivityCompleted
 * message (data {"attempt", "result"}) or ActivityFailed ({"attempt",
 * "error", and "sqlstate", "detail", "hint" when known}).  The in-database
 * workers and the external workers' complete_task / fail_task (external.c)
 * both record through here; the dispatcher applies retries when it reads
 * the message.  SPI connected, engine rights.
 */
void
DxRecordActivityOutcome(const char *instance_id, int32 execution_id, int64 activity_id,
						bool failed, Jsonb *data)
{
	Datum		values[5];

	values[0] = CStringGetTextDatum(instance_id);
	values[1] = Int32GetDatum(execution_id);
	values[2] = CStringGetTextDatum(DxMessageKindName(failed ? MSG_ACTIVITY_FAILED : MSG_ACTIVITY_COMPLETED));
	values[3] = Int64GetDatum(activity_id);
	values[4] = JsonbPGetDatum(data);
	DxExpect(DxExecPlan(&result_plan, values, NULL, false, 0), SPI_OK_INSERT, "activity result");
}

/* the error of an attempt delivered too often without an outcome (poison) */
char *
DxPoisonError(const char *name, int deliveries, const char *why)
{
	return psprintf("poison: activity \"%s\" was delivered %d times without completing (%s); "
					"duroxide.max_attempts is %d",
					name, deliveries, why, duroxide_max_attempts);
}

/* the error of an attempt that ran out of its retry policy's timeoutMs */
char *
DxTimeoutError(const char *name, int64 timeout_ms)
{
	return psprintf("activity \"%s\" timed out after " INT64_FORMAT " ms", name, timeout_ms);
}

/* the duroxide.activity_context datum of an attempt */
static Datum
MakeActivityContext(Attempt *a, int slot)
{
	Datum		values[8];
	bool		nulls[8] = {false, false, false, false, false, false, false, false};

	values[0] = CStringGetTextDatum(a->instance_id);
	values[1] = Int32GetDatum(a->execution_id);
	values[2] = CStringGetTextDatum(a->orchestration_name);
	values[3] = CStringGetTextDatum(a->orchestration_version);
	values[4] = CStringGetTextDatum(a->name);
	values[5] = Int64GetDatum(a->activity_id);
	values[6] = Int32GetDatum(a->attempt);
	values[7] = CStringGetTextDatum(psprintf("%d/%d", MyProcPid, slot));
	return DxFormRow("activity_context", 8, values, nulls);
}

typedef struct InvokeArgs
{
	Oid			fn;
	bool		is_procedure;
	const char *call_name;		/* procedures: the resolved, quoted schema.name */
	Datum		ctx;
	Jsonb	   *input;
} InvokeArgs;

/* DxInvoker for an activity function or procedure */
static Datum
InvokeActivity(void *arg, bool *isnull)
{
	InvokeArgs *a = (InvokeArgs *) arg;

	if (a->is_procedure)
	{
		/*
		 * CALL proc(ctx, INOUT result): the procedure's output row.  The name
		 * comes from the registry's resolution of the stored identity, never
		 * from a catalog lookup that a concurrent DROP could make NULL.
		 */
		char	   *sql = psprintf("CALL %s($1, $2)", a->call_name);
		Oid			types[2];
		Datum		values[2];
		char		nulls[2] = {' ', ' '};
		Datum		result = (Datum) 0;
		MemoryContext cxt = CurrentMemoryContext;

		types[0] = DxTypeOid("activity_context");
		types[1] = JSONBOID;
		values[0] = a->ctx;
		values[1] = a->input ? JsonbPGetDatum(a->input) : (Datum) 0;
		if (a->input == NULL)
			nulls[1] = 'n';
		*isnull = true;
		SPI_connect();
		DxExpect(SPI_execute_with_args(sql, 2, types, values, nulls, false, 0), SPI_OK_UTILITY, "activity procedure call");
		if (SPI_tuptable != NULL && SPI_processed == 1)
		{
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);

			if (!*isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(cxt);

				result = PointerGetDatum(DatumGetJsonbPCopy(d));
				MemoryContextSwitchTo(old);
			}
		}
		SPI_finish();
		return result;
	}
	return DxInvokeFunction2(a->fn, a->ctx, a->input ? JsonbPGetDatum(a->input) : (Datum) 0,
							 a->input == NULL, isnull);
}

/* the error fields of a failed attempt: "error", "sqlstate", "detail", "hint" */
static void
AddErrorFields(DxJsonBuilder *b, const char *message, ErrorData *e)
{
	DxJbString(b, "error", message);
	if (e == NULL)
		return;
	DxJbString(b, "sqlstate", unpack_sql_state(e->sqlerrcode));
	if (e->detail)
		DxJbString(b, "detail", e->detail);
	if (e->hint)
		DxJbString(b, "hint", e->hint);
}

/*
 * Run one attempt; returns the message data and sets *failed.  Sets
 * *transient (and returns NULL) when the attempt hit an error that is not
 * its own (DxTransientError): it is to be put back, not recorded.
 */
static Jsonb *
RunAttempt(Attempt *a, int slot, bool *failed, bool *transient)
{
	DxJsonBuilder b;
	DxFunctionInfo fi;
	InvokeArgs	args;
	DxCallResult res;
	Oid			owner;
	char	   *error = NULL;
	char	   *what = psprintf("activity \"%s\"", a->name);

	*failed = true;
	*transient = false;
	DxJbBegin(&b);
	DxJbInt(&b, "attempt", a->attempt);

	if (a->delivery_count > duroxide_max_attempts)
		error = DxPoisonError(a->name, a->delivery_count - 1,
							  "its process crashed or was stopped, or it hit a transient error, each time");
	else if (!DxLookupActivity(a->name, &fi))
		error = psprintf("activity \"%s\" is not registered", a->name);
	else
		error = DxFunctionProblem(&fi, what);
	if (error)
	{
		DxJbString(&b, "error", error);
		return DxJbEnd(&b);
	}
	args.fn = fi.fn;
	owner = fi.owner;
	args.is_procedure = fi.is_procedure;
	args.call_name = fi.call_name;
	args.ctx = MakeActivityContext(a, slot);
	args.input = a->input;

	DxSlotSetState(DX_STATE_BUSY, a->instance_id);
	{
		DxSandboxRequest req = {owner, args.fn, what, false, a->timeout_ms, InvokeActivity, &args};

		DxSandboxRun(&req, &res);
	}
	if (!res.ok && DxTransientError(res.error))
	{
		if (DxLogEnabled(DX_LOG_WARN))
			ereport(DxServerLevel(DX_LOG_WARN),
					(errmsg("duroxide: activity \"%s\" of instance \"%s\" hit a transient error, retried in %d ms: %s",
							a->name, a->instance_id, DxTransientBackoffMs(a->delivery_count),
							res.error->message ? res.error->message : ""),
					 errdetail("SQLSTATE %s; after duroxide.max_attempts deliveries the attempt fails as poison.",
							   unpack_sql_state(res.error->sqlerrcode))));
		*transient = true;
		return NULL;
	}
	if (res.ok && res.value && VARSIZE(res.value) > (Size) duroxide_max_payload_size)
		DxJbString(&b, "error", psprintf("activity \"%s\" returned a result that is too large (%zu bytes; duroxide.max_payload_size is %d)",
										 a->name, (Size) VARSIZE(res.value), duroxide_max_payload_size));
	else if (res.ok)
	{
		*failed = false;
		if (res.value)
			DxJbJsonb(&b, "result", res.value);
		else
			DxJbNull(&b, "result");
	}
	else if (res.error->sqlerrcode == ERRCODE_QUERY_CANCELED && a->timeout_ms > 0)
		AddErrorFields(&b, DxTimeoutError(a->name, a->timeout_ms), res.error);
	else
		AddErrorFields(&b, res.error->message ? res.error->message : "activity failed", res.error);
	return DxJbEnd(&b);
}

/* put an attempt back after a transient error: counted, visible after a backoff */
static void
PutBack(Attempt *a)
{
	Datum		values[12];
	char		nulls[12] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = Int64GetDatum(a->id);
	values[1] = CStringGetTextDatum(a->instance_id);
	values[2] = Int32GetDatum(a->execution_id);
	values[3] = Int64GetDatum(a->activity_id);
	values[4] = CStringGetTextDatum(a->name);
	values[5] = a->input ? JsonbPGetDatum(a->input) : (Datum) 0;
	if (a->input == NULL)
		nulls[5] = 'n';
	values[6] = Int32GetDatum(a->attempt);
	values[7] = Int64GetDatum(a->timeout_ms);
	if (a->timeout_ms == 0)
		nulls[7] = 'n';
	values[8] = CStringGetTextDatum(a->orchestration_name);
	values[9] = CStringGetTextDatum(a->orchestration_version);
	values[10] = Int32GetDatum(DxTransientBackoffMs(a->delivery_count));
	values[11] = Int32GetDatum(a->delivery_count);
	DxExpect(DxExecPlan(&put_back_plan, values, nulls, false, 0), SPI_OK_INSERT, "activity put-back");
	DxSuspectsPending(DX_KIND_ACTIVITY);
}

/* a column of the claim result */
static Datum
AttemptColumn(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* append the claimed rows in SPI_tuptable to attempts[0..n) (in cxt); returns the array */
static Attempt *
ReadAttempts(Attempt *attempts, int *n, MemoryContext cxt)
{
	int			from = *n;
	int			got = (int) SPI_processed;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	if (attempts == NULL)
		attempts = palloc0(sizeof(Attempt) * (got + 1));
	else if (got > 0)
		attempts = repalloc(attempts, sizeof(Attempt) * (from + got + 1));
	for (int r = 0; r < got; r++)
	{
		Attempt    *a = &attempts[from + r];
		int			i = r;
		bool		isnull;
		Datum		d;

		a->id = DatumGetInt64(AttemptColumn(i, 1, &isnull));
		a->instance_id = TextDatumGetCString(AttemptColumn(i, 2, &isnull));
		a->execution_id = DatumGetInt32(AttemptColumn(i, 3, &isnull));
		a->activity_id = DatumGetInt64(AttemptColumn(i, 4, &isnull));
		a->name = TextDatumGetCString(AttemptColumn(i, 5, &isnull));
		d = AttemptColumn(i, 6, &isnull);
		a->input = isnull ? NULL : DatumGetJsonbPCopy(d);
		a->attempt = DatumGetInt32(AttemptColumn(i, 7, &isnull));
		d = AttemptColumn(i, 8, &isnull);
		a->timeout_ms = isnull ? 0 : DatumGetInt64(d);
		a->orchestration_name = TextDatumGetCString(AttemptColumn(i, 9, &isnull));
		a->orchestration_version = TextDatumGetCString(AttemptColumn(i, 10, &isnull));
		a->delivery_count = DatumGetInt32(AttemptColumn(i, 11, &isnull));
	}
	MemoryContextSwitchTo(old);
	*n = from + got;
	return attempts;
}

/*
 * Claim attempts (in the current transaction); returns them in cxt.
 * Normally up to limit never-delivered attempts; with suspect, one suspect
 * attempt.  Attempts of limited activities are claimed apart, within their
 * limits (src/concurrency.c).
 */
static int
ClaimAttempts(int slot, bool suspect, int limit, MemoryContext cxt, void **out)
{
	Datum		values[3];
	Attempt    *attempts;
	int			n = 0;
	int			want = suspect ? 1 : limit;

	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	values[2] = Int32GetDatum(limit);
	DxExpect(DxExecPlan(suspect ? &claim_suspect_plan : &claim_plan, values, NULL, false, 0),
			 SPI_OK_UPDATE_RETURNING, "activity claim");
	attempts = ReadAttempts(NULL, &n, cxt);
	if (n < want && DxActivityLimitsExist())
	{
		DxClaimLimitedAttempts(slot, want - n, suspect);
		attempts = ReadAttempts(attempts, &n, cxt);
	}
	*out = (void *) attempts;
	return n;
}

/* run claimed attempts and record their results (in the current transaction) */
static void
RunAttempts(void *items, int n, int slot, MemoryContext cxt)
{
	Attempt    *attempts = (Attempt *) items;
	MemoryContext item_cxt = AllocSetContextCreate(cxt, "duroxide activity", ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = CurrentMemoryContext;
	Datum	   *ids = palloc(sizeof(Datum) * (n + 1));
	bool	   *taken = palloc0(sizeof(bool) * (n + 1));
	Datum		values[1];
	int			dims[1];
	int			lbs[1] = {1};

	/* take the rows; the ones already deleted were withdrawn */
	for (int i = 0; i < n; i++)
		ids[i] = Int64GetDatum(attempts[i].id);
	dims[0] = n;
	values[0] = PointerGetDatum(construct_md_array(ids, NULL, 1, dims, lbs, INT8OID, 8, true, 'd'));
	DxExpect(DxExecPlan(&take_plan, values, NULL, false, 0), SPI_OK_DELETE_RETURNING, "activity take");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		bool		isnull;
		int64		id = DatumGetInt64(AttemptColumn(r, 1, &isnull));

		for (int i = 0; i < n; i++)
			if (attempts[i].id == id)
				taken[i] = true;
	}
	for (int i = 0; i < n; i++)
	{
		Attempt    *a = &attempts[i];
		bool		failed;
		bool		transient;
		Jsonb	   *data;

		if (!taken[i])
			continue;
		MemoryContextSwitchTo(item_cxt);
		data = RunAttempt(a, slot, &failed, &transient);
		if (transient)
		{
			PutBack(a);
			MemoryContextSwitchTo(old);
			MemoryContextReset(item_cxt);
			continue;
		}
		DxRecordActivityOutcome(a->instance_id, a->execution_id, a->activity_id, failed, data);
		MemoryContextSwitchTo(old);
		MemoryContextReset(item_cxt);
	}
	MemoryContextDelete(item_cxt);
	DxSlotSetState(DX_STATE_BUSY, NULL);
}

/* activity attempts for worker.c (poison accounting: see dispatcher.c) */
const DxWorkOps DxActivityWork = {
	.worker_kind = DX_KIND_ACTIVITY,
	.worker_name = "activity worker",
	.item_name = "activity",
	.claim_what = "duroxide: claiming activities",
	.run_what = "duroxide: running activities",
	.suspect_claim_what = "duroxide: claiming a suspect activity",
	.suspect_run_what = "duroxide: running a suspect activity alone",
	.claim = ClaimAttempts,
	.run = RunAttempts,
	.count_ready = &count_ready_plan,
	.next_due = &next_due_plan,
	.next_suspect_due = &next_suspect_due_plan,
	.recover = &recover_plan,
	.unclaim = &unclaim_plan,
};

/*
 * SQL: duroxide._activity_batch(slot) -- one activity batch in the caller's
 * transaction; returns the number of attempts claimed.
 */
Datum
duroxide_activity_batch(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(DxRunBatchHere(&DxActivityWork, PG_GETARG_INT32(0)));
}

/* SQL: duroxide._trace(ctx duroxide.activity_context, level, message) */
Datum
duroxide_activity_trace(PG_FUNCTION_ARGS)
{
	HeapTupleHeader ctx;
	bool		isnull;
	char	   *level;
	char	   *msg;
	DxLogLevel	lv;
	Datum		d;
	char	   *fields[4];
	static const int attnums[4] = {5, 6, 1, 8};	/* name, id, instance, worker */

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duroxide.trace_*: the context argument must not be null")));
	ctx = PG_GETARG_HEAPTUPLEHEADER(0);
	level = TextDatumGetCString(PG_GETARG_DATUM(1));
	msg = PG_ARGISNULL(2) ? "" : TextDatumGetCString(PG_GETARG_DATUM(2));
	lv = DxLogLevelFromName(level);
	for (int i = 0; i < 4; i++)
	{
		d = GetAttributeByNum(ctx, attnums[i], &isnull);
		if (isnull)
			fields[i] = "";
		else if (attnums[i] == 6)
			fields[i] = psprintf(INT64_FORMAT, DatumGetInt64(d));
		else
			fields[i] = TextDatumGetCString(d);
	}
	if (DxLogEnabled(lv))
		ereport(DxServerLevel(lv),
				(errmsg("duroxide [%s] activity=%s activity_id=%s instance=%s worker=%s: %s",
						level, fields[0], fields[1], fields[2], fields[3], msg),
				 errhidestmt(true), errhidecontext(true)));
	PG_RETURN_VOID();
}
