/*-------------------------------------------------------------------------
 * external.c
 *		External activities: the worker protocol of API.md section 7.1
 *		(claim_tasks, complete_task, fail_task, heartbeat_task,
 *		release_task, and complete_tasks for many at once) and the wake-up
 *		of waiting claims.
 *
 * Storage.  An external activity is registered without a function and
 * with a task queue (registration.c).  The dispatcher writes each attempt
 * into worker_queue as usual, with task_queue set from the registration
 * (dispatcher.c); the in-database activity workers never claim such a row
 * (activity.c).  A task is one worker_queue row; task_id is its id.
 *
 * Lease state machine (docs/DESIGN.md has the diagram).  While leased,
 * visible_at equals lease_expires_at, so a task is claimable exactly when
 * visible_at <= now, leased or not:
 *
 *	 queued   (lease_token NULL, visible_at: when it may run)
 *		--claim_tasks-->  leased (token, worker_id, leased_at, expiry;
 *						  delivery_count + 1)
 *	 leased
 *		--complete_task / fail_task (token matches, not expired)-->
 *						  row deleted, ActivityCompleted / ActivityFailed
 *		--heartbeat_task-->  leased, expiry = min(now + lease_ms,
 *							 leased_at + timeoutMs)
 *		--release_task-->  queued (delivery_count - 1), queue woken
 *		--expiry-->  claimable again; the next claim that finds it
 *			- timed out (its expiry reached leased_at + timeoutMs):
 *			  row deleted, ActivityFailed "timed out"
 *			- delivered duroxide.max_attempts times: row deleted,
 *			  ActivityFailed "poison"
 *			- else leased again (a new token: the old one is dead)
 *	 any state
 *		--withdrawal (cancel, lost await_any, delete_instance)-->  row
 *		  deleted by the dispatcher / client.c
 * Every transition is one statement on the row, under its row lock, and
 * every outcome deletes the row: of two racing transitions (completion
 * and expiry-then-claim, completion and withdrawal) the second finds the
 * row changed or gone and does nothing, so at most one outcome is recorded.
 *
 * Rights.  The functions are executable by duroxide_user.  Each checks the
 * caller, then runs its statement with the engine's rights (DxEngineBegin),
 * and the statement itself acts only on tasks whose registration's owner
 * the caller has the privileges of (pg_has_role USAGE), unless the caller
 * is an admin: another role's tasks are invisible to claim, and complete,
 * fail, heartbeat and release return false for them as for a lost lease.
 *
 * Long poll.  claim_tasks with wait_ms > 0 publishes (database, queue) in
 * the waiter registry (shmem.c), then claims, then sleeps on its latch
 * until the deadline or the next time a task of the queue becomes visible
 * (a lease expiry, a retry delay).  The row trigger on worker_queue asks
 * for the queue's waiters to be woken when the inserting transaction
 * commits (release_task likewise), so register -> claim -> sleep cannot
 * miss a task.  Each claim statement takes a fresh snapshot (READ
 * COMMITTED; waiting is refused under REPEATABLE READ and SERIALIZABLE).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "activity.h"
#include "concurrency.h"
#include "guc.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_claim_tasks);
PG_FUNCTION_INFO_V1(duroxide_complete_task);
PG_FUNCTION_INFO_V1(duroxide_complete_tasks);
PG_FUNCTION_INFO_V1(duroxide_fail_task);
PG_FUNCTION_INFO_V1(duroxide_heartbeat_task);
PG_FUNCTION_INFO_V1(duroxide_release_task);
PG_FUNCTION_INFO_V1(duroxide_wake_task_queue);

#define DX_MAX_CLAIM_TASKS 1000
#define DX_MAX_COMPLETE_TASKS DX_MAX_CLAIM_TASKS	/* elements of one complete_tasks call */
#define DX_MAX_LEASE_MS INT64CONST(86400000)	/* one day */
#define DX_MAX_WAIT_MS INT64CONST(86400000)

/*
 * The caller may act on task w: $1 (the caller is an admin) or the caller,
 * $2, has the privileges of the role that registered the activity.  Every
 * statement below starts with these two parameters.
 */
#define DX_MAY_CLAIM \
	"($1 OR EXISTS (SELECT 1 FROM duroxide.activities a WHERE a.name = w.activity_name" \
	"               AND pg_catalog.pg_has_role($2, a.owner::pg_catalog.oid, 'USAGE')))"

/*
 * The candidates of a claim: tasks of queue $3 claimable at $5 (now: a
 * parameter, so that it bounds the index scan) that the caller may claim,
 * oldest first, at most $4, locked.  Columns: id, whether a lease
 * expired, delivery_count, whether that lease ran out at the attempt's
 * timeout.  The one place that decides what a claim may take.  Tasks of
 * activities with a concurrency limit are left out here and taken by
 * limited_candidate_plan, within their limits (src/concurrency.c).
 */
static DxPlan candidate_plan = {NULL,
	"SELECT w.id, w.lease_token IS NOT NULL, w.delivery_count,"
	"       w.lease_token IS NOT NULL AND w.timeout_ms IS NOT NULL"
	"         AND w.lease_expires_at >= w.leased_at + w.timeout_ms * interval '1 ms'"
	"  FROM duroxide.worker_queue w"
	" WHERE w.task_queue = $3 AND w.visible_at <= $5 AND " DX_MAY_CLAIM
	"   AND w.activity_name NOT IN (" DX_LIMITED_ACTIVITIES ")"
	" ORDER BY w.visible_at, w.id LIMIT $4"
	" FOR UPDATE SKIP LOCKED",
5, {BOOLOID, OIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID}};

/*
 * The candidates of limited activities, with the columns and the rights
 * condition of candidate_plan, at most the free slots of each (their limit
 * rows locked until the transaction ends); $6: the boot id.
 */
static DxPlan limited_candidate_plan = {NULL,
	"SELECT * FROM duroxide._limited_task_candidates($1, $2, $3, $4, $5, $6)",
6, {BOOLOID, OIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID, INT8OID}};

/* lease candidates $1 to worker $2 for $3 ms (capped at the attempt's timeout) */
static DxPlan lease_plan = {NULL,
	"UPDATE duroxide.worker_queue w"
	"   SET lease_token = pg_catalog.gen_random_uuid(), worker_id = $2, leased_at = c.t,"
	"       delivery_count = w.delivery_count + 1,"
	"       lease_expires_at = LEAST(c.t + $3 * interval '1 ms', c.t + w.timeout_ms * interval '1 ms'),"
	"       visible_at = LEAST(c.t + $3 * interval '1 ms', c.t + w.timeout_ms * interval '1 ms')"
	"  FROM (SELECT pg_catalog.clock_timestamp() AS t) c"
	" WHERE w.id = ANY ($1)"
	" RETURNING w.id, w.lease_token, w.activity_name, w.input, w.instance_id, w.execution_id,"
	"           w.orchestration_name, w.orchestration_version, w.activity_id, w.attempt, w.lease_expires_at",
3, {INT8ARRAYOID, TEXTOID, INT8OID}};

/* a locked candidate whose attempt ends without an outcome from a worker */
static DxPlan expire_plan = {NULL,
	"DELETE FROM duroxide.worker_queue w WHERE w.id = $1"
	" RETURNING w.instance_id, w.execution_id, w.activity_id, w.attempt, w.activity_name,"
	"           w.timeout_ms, w.delivery_count",
1, {INT8OID}};

/* the next time after $5 that a task of queue $3 that the caller may claim becomes claimable */
static DxPlan next_visible_plan = {NULL,
	"SELECT pg_catalog.min(w.visible_at) FROM duroxide.worker_queue w"
	" WHERE w.task_queue = $3 AND w.visible_at > $5 AND " DX_MAY_CLAIM,
5, {BOOLOID, OIDOID, TEXTOID, INT4OID, TIMESTAMPTZOID}};

/* complete_task / fail_task: take task $3 if lease $4 still holds it */
static DxPlan finish_plan = {NULL,
	"DELETE FROM duroxide.worker_queue w"
	" WHERE w.id = $3 AND w.lease_token = $4 AND w.lease_expires_at > pg_catalog.clock_timestamp()"
	"   AND " DX_MAY_CLAIM
	" RETURNING w.instance_id, w.execution_id, w.activity_id, w.attempt, w.activity_name, w.task_queue",
4, {BOOLOID, OIDOID, INT8OID, UUIDOID}};

/* heartbeat_task: extend lease $4 of task $3 by $5 ms (never past the attempt's timeout) */
static DxPlan heartbeat_plan = {NULL,
	"UPDATE duroxide.worker_queue w"
	"   SET lease_expires_at = LEAST(c.t + $5 * interval '1 ms', w.leased_at + w.timeout_ms * interval '1 ms'),"
	"       visible_at = LEAST(c.t + $5 * interval '1 ms', w.leased_at + w.timeout_ms * interval '1 ms')"
	"  FROM (SELECT pg_catalog.clock_timestamp() AS t) c"
	" WHERE w.id = $3 AND w.lease_token = $4 AND w.lease_expires_at > c.t AND " DX_MAY_CLAIM
	" RETURNING w.id",
5, {BOOLOID, OIDOID, INT8OID, UUIDOID, INT8OID}};

/* release_task: give task $3 back (claimable now, the delivery not counted) */
static DxPlan release_plan = {NULL,
	"UPDATE duroxide.worker_queue w"
	"   SET lease_token = NULL, lease_expires_at = NULL, leased_at = NULL, worker_id = NULL,"
	"       visible_at = c.t, delivery_count = GREATEST(w.delivery_count - 1, 0)"
	"  FROM (SELECT pg_catalog.clock_timestamp() AS t) c"
	" WHERE w.id = $3 AND w.lease_token = $4 AND w.lease_expires_at > c.t AND " DX_MAY_CLAIM
	" RETURNING w.task_queue",
4, {BOOLOID, OIDOID, INT8OID, UUIDOID}};

/* the caller and its rights, as every statement takes them ($1, $2) */
typedef struct Caller
{
	Oid			role;
	bool		admin;
} Caller;

/* the caller may use the worker protocol: it has the rights of duroxide_user */
static Caller
CheckCaller(const char *what)
{
	Caller		c;

	c.role = GetUserId();
	c.admin = DxIsAdmin(c.role);
	if (!c.admin)
		DxCheckEngineUser(c.role, what);
	return c;
}

/* a required argument: an error names it when it is NULL */
static void
Required(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
}

/* a bigint argument within [min, max] */
static int64
RangeArg(FunctionCallInfo fcinfo, int argno, const char *name, int64 min, int64 max)
{
	int64		v;

	Required(fcinfo, argno, name);
	v = PG_GETARG_INT64(argno);
	if (v < min || v > max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between " INT64_FORMAT " and " INT64_FORMAT " (got " INT64_FORMAT ")",
						name, min, max, v)));
	return v;
}

/* a text column of the current SPI result */
static char *
ColText(uint64 row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* a by-value column of the current SPI result (NULL as 0) */
static Datum
ColValue(uint64 row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* what identifies a taken attempt for its outcome */
typedef struct Taken
{
	char	   *instance_id;
	int32		execution_id;
	int64		activity_id;
	int32		attempt;
	char	   *name;
} Taken;

/* read a taken attempt from row 0 of a DELETE ... RETURNING (columns 1-5) */
static Taken
ReadTaken(void)
{
	Taken		t;
	bool		isnull;

	t.instance_id = ColText(0, 1);
	t.execution_id = DatumGetInt32(ColValue(0, 2, &isnull));
	t.activity_id = DatumGetInt64(ColValue(0, 3, &isnull));
	t.attempt = DatumGetInt32(ColValue(0, 4, &isnull));
	t.name = ColText(0, 5);
	return t;
}

/* record a failed attempt with an error message (SPI connected, engine rights) */
static void
RecordFailure(Taken *t, const char *error)
{
	DxJsonBuilder b;

	DxJbBegin(&b);
	DxJbInt(&b, "attempt", t->attempt);
	DxJbString(&b, "error", error);
	DxRecordActivityOutcome(t->instance_id, t->execution_id, t->activity_id, true, DxJbEnd(&b));
}

/* the state of one claim_tasks call */
typedef struct Claim
{
	Caller		caller;
	char	   *queue;
	char	   *worker_id;
	int			max_tasks;
	int64		lease_ms;
	ReturnSetInfo *rsinfo;
} Claim;

/* why a candidate is not leased again */
typedef enum CandidateEnd
{
	END_NONE,
	END_TIMEOUT,
	END_POISON
} CandidateEnd;

/* end a candidate as timed out or poison (SPI connected, engine rights) */
static void
EndCandidate(int64 id, CandidateEnd why)
{
	Datum		values[1];
	Taken		t;
	bool		isnull;
	Datum		d;

	values[0] = Int64GetDatum(id);
	DxExpect(DxExecPlan(&expire_plan, values, NULL, false, 0), SPI_OK_DELETE_RETURNING, "task expiry");
	if (SPI_processed != 1)
		elog(ERROR, "duroxide: locked task " INT64_FORMAT " vanished", id);
	t = ReadTaken();
	if (why == END_TIMEOUT)
	{
		d = ColValue(0, 6, &isnull);
		RecordFailure(&t, DxTimeoutError(t.name, isnull ? 0 : DatumGetInt64(d)));
	}
	else
	{
		int32		deliveries = DatumGetInt32(ColValue(0, 7, &isnull));

		RecordFailure(&t, DxPoisonError(t.name, deliveries,
										"its lease expired each time: the worker stopped, lost its connection "
										"or ran longer than its lease without a heartbeat"));
	}
}

static int	LeaseCandidates(Claim *c, DxPlan *plan, Datum *values, int leased, int *ended);

/*
 * Lease what can be leased now into the result (SPI connected, engine
 * rights); returns how many.  *ended counts the expired attempts it ended
 * (timed out, poison) instead.  When none was leased, *next is the next
 * time a task of the queue becomes claimable (0: none known).
 */
static int
ClaimOnce(Claim *c, TimestampTz *next, int *ended)
{
	int			leased = 0;
	Datum		values[6];

	*next = 0;
	*ended = 0;
	values[0] = BoolGetDatum(c->caller.admin);
	values[1] = ObjectIdGetDatum(c->caller.role);
	values[2] = CStringGetTextDatum(c->queue);
	values[5] = Int64GetDatum(DxBootId());
	leased = LeaseCandidates(c, &candidate_plan, values, 0, ended);
	if (leased < c->max_tasks && DxActivityLimitsExist())
	{
		/*
		 * Limited activities, in a subtransaction: when it leases and ends
		 * nothing it is rolled back, which releases the limit rows it
		 * locked, so a claim that then waits does not keep other claimers
		 * of those activities out.
		 */
		MemoryContext old = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;
		int			before = *ended;
		int			got;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(old);
		got = LeaseCandidates(c, &limited_candidate_plan, values, leased, ended);
		if (got > leased || *ended > before)
			ReleaseCurrentSubTransaction();
		else
			RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		leased = got;
	}
	if (leased == 0)
	{
		bool		isnull;
		Datum		d;

		values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
		DxExpect(DxExecPlan(&next_visible_plan, values, NULL, false, 1), SPI_OK_SELECT, "task queue wait");
		d = ColValue(0, 1, &isnull);
		if (!isnull)
			*next = DatumGetTimestampTz(d);
	}
	return leased;
}

/*
 * Lease the candidates that plan returns (columns of candidate_plan) into
 * the result, starting from leased already leased; returns the new total.
 * *ended counts the expired attempts it ended (timed out, poison) instead.
 */
static int
LeaseCandidates(Claim *c, DxPlan *plan, Datum *values, int leased, int *ended)
{
	while (leased < c->max_tasks)
	{
		int			limit = c->max_tasks - leased;
		uint64		n;
		int64	   *ids;
		CandidateEnd *ends;
		Datum	   *lease_ids;
		int			nlease = 0;

		values[3] = Int32GetDatum(limit);
		values[4] = TimestampTzGetDatum(GetCurrentTimestamp());
		DxExpect(DxExecPlan(plan, values, NULL, false, 0), SPI_OK_SELECT, "task claim");
		n = SPI_processed;
		if (n == 0)
			break;
		ids = palloc(sizeof(int64) * n);
		ends = palloc(sizeof(CandidateEnd) * n);
		for (uint64 i = 0; i < n; i++)
		{
			bool		isnull;
			bool		expired = DatumGetBool(ColValue(i, 2, &isnull));
			int32		deliveries = DatumGetInt32(ColValue(i, 3, &isnull));
			bool		timed_out = DatumGetBool(ColValue(i, 4, &isnull));

			ids[i] = DatumGetInt64(ColValue(i, 1, &isnull));
			ends[i] = !expired ? END_NONE
				: timed_out ? END_TIMEOUT
				: deliveries >= duroxide_max_attempts ? END_POISON
				: END_NONE;
		}
		lease_ids = palloc(sizeof(Datum) * n);
		for (uint64 i = 0; i < n; i++)
		{
			if (ends[i] != END_NONE)
			{
				EndCandidate(ids[i], ends[i]);
				(*ended)++;
			}
			else
				lease_ids[nlease++] = Int64GetDatum(ids[i]);
		}
		if (nlease > 0)
		{
			Datum		lv[3];
			int			dims[1] = {nlease};
			int			lbs[1] = {1};

			lv[0] = PointerGetDatum(construct_md_array(lease_ids, NULL, 1, dims, lbs, INT8OID, 8, true, 'd'));
			lv[1] = CStringGetTextDatum(c->worker_id);
			lv[2] = Int64GetDatum(c->lease_ms);
			DxExpect(DxExecPlan(&lease_plan, lv, NULL, false, 0), SPI_OK_UPDATE_RETURNING, "task lease");
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				Datum		out[11];
				bool		nulls[11];

				heap_deform_tuple(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, out, nulls);
				tuplestore_putvalues(c->rsinfo->setResult, c->rsinfo->setDesc, out, nulls);
			}
			leased += (int) SPI_processed;
		}
		if (n < (uint64) limit)
			break;				/* the queue has no more for us */
	}
	return leased;
}

/*
 * SQL: duroxide.claim_tasks(task_queue, worker_id, max_tasks, lease_ms,
 * wait_ms) -- lease up to max_tasks tasks of the queue; with wait_ms > 0
 * and none to lease, wait for one (see the file header).
 */
Datum
duroxide_claim_tasks(PG_FUNCTION_ARGS)
{
	Claim		c;
	int64		wait_ms;
	TimestampTz deadline;

	c.caller = CheckCaller("claim tasks");
	c.queue = DxNameArg(fcinfo, 0, "task queue");
	c.worker_id = DxNameArg(fcinfo, 1, "worker id");
	Required(fcinfo, 2, "max_tasks");
	c.max_tasks = PG_GETARG_INT32(2);
	if (c.max_tasks < 1 || c.max_tasks > DX_MAX_CLAIM_TASKS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_tasks must be between 1 and %d (got %d)", DX_MAX_CLAIM_TASKS, c.max_tasks)));
	c.lease_ms = RangeArg(fcinfo, 3, "lease_ms", 1, DX_MAX_LEASE_MS);
	wait_ms = RangeArg(fcinfo, 4, "wait_ms", 0, DX_MAX_WAIT_MS);
	if (wait_ms > 0 && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("duroxide.claim_tasks cannot wait inside a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in READ COMMITTED, where each try sees newly committed tasks, or with wait_ms => 0.")));

	InitMaterializedSRF(fcinfo, 0);
	c.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_ms);

	if (wait_ms > 0)
		DxQueueWaiterRegister(c.queue);
	PG_TRY();
	{
		for (;;)
		{
			TimestampTz next;
			TimestampTz now;
			TimestampTz until;
			DxEngineSave save;
			int			got;
			int			ended;
			long		left;

			SPI_connect();
			DxEngineBegin(&save);
			got = ClaimOnce(&c, &next, &ended);
			DxEngineEnd(&save);
			SPI_finish();

			/*
			 * An attempt ended here (timed out, poison) is recorded when
			 * our transaction commits: return rather than wait, so that its
			 * orchestration (and a retry) need not wait for our deadline.
			 */
			if (got > 0 || ended > 0 || wait_ms == 0)
				break;
			now = GetCurrentTimestamp();
			if (now >= deadline)
				break;
			until = (next != 0 && next < deadline) ? next : deadline;
			left = (long) ((until - now + 999) / 1000);
			if (left < 1)
				left = 1;
			/* no preload: nobody sets our latch, so poll */
			if (!DxShmemAvailable())
				left = Min(left, duroxide_poll_interval);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 left, PG_WAIT_EXTENSION);
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		if (wait_ms > 0)
			DxWaiterUnregister();
	}
	PG_END_TRY();
	return (Datum) 0;
}

/* the task id and lease token arguments (both required) */
static void
TaskArgs(FunctionCallInfo fcinfo, Datum *values)
{
	Required(fcinfo, 0, "task_id");
	Required(fcinfo, 1, "lease_token");
	values[2] = PG_GETARG_DATUM(0);
	values[3] = PG_GETARG_DATUM(1);
}

/*
 * Take task id if lease token still holds it and record its outcome;
 * false (nothing recorded) otherwise.  SPI connected, engine rights.
 */
static bool
FinishTask(Caller *caller, Datum id, Datum token, bool failed, Jsonb *result, const char *error)
{
	Datum		values[4];

	values[0] = BoolGetDatum(caller->admin);
	values[1] = ObjectIdGetDatum(caller->role);
	values[2] = id;
	values[3] = token;
	DxExpect(DxExecPlan(&finish_plan, values, NULL, false, 0), SPI_OK_DELETE_RETURNING, "task completion");
	if (SPI_processed != 1)
		return false;
	{
		Taken		t = ReadTaken();
		char	   *queue = ColText(0, 6);

		/* a slot of a limited activity is free at commit: claims may wait for it */
		if (DxActivityLimitsExist())
			DxRequestQueueWake(queue);
		if (failed)
			RecordFailure(&t, error ? error : psprintf("activity \"%s\" failed", t.name));
		else
		{
			DxJsonBuilder b;

			DxJbBegin(&b);
			DxJbInt(&b, "attempt", t.attempt);
			if (result)
				DxJbJsonb(&b, "result", result);
			else
				DxJbNull(&b, "result");
			DxRecordActivityOutcome(t.instance_id, t.execution_id, t.activity_id, false, DxJbEnd(&b));
		}
	}
	return true;
}

/* complete_task / fail_task: FinishTask for the call's task id and lease token */
static bool
Finish(FunctionCallInfo fcinfo, Caller *caller, bool failed, Jsonb *result, const char *error)
{
	Datum		values[4];
	DxEngineSave save;
	bool		found;

	TaskArgs(fcinfo, values);
	SPI_connect();
	DxEngineBegin(&save);
	found = FinishTask(caller, values[2], values[3], failed, result, error);
	DxEngineEnd(&save);
	SPI_finish();
	return found;
}

/* SQL: duroxide.complete_task(task_id, lease_token, result) */
Datum
duroxide_complete_task(PG_FUNCTION_ARGS)
{
	Caller		caller = CheckCaller("complete tasks");
	Jsonb	   *result = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);

	DxCheckPayload("task result", result);
	PG_RETURN_BOOL(Finish(fcinfo, &caller, false, result, NULL));
}

/*
 * SQL: duroxide.complete_tasks(task_ids bigint[], lease_tokens uuid[],
 * results jsonb[]) RETURNS boolean[] -- complete_task for each position, in
 * one call and one transaction: element i of the result is what
 * complete_task(task_ids[i], lease_tokens[i], results[i]) would return.
 * Every result is checked against duroxide.max_payload_size first, so an
 * oversized one records none of them.
 */
Datum
duroxide_complete_tasks(PG_FUNCTION_ARGS)
{
	Caller		caller = CheckCaller("complete tasks");
	Datum	   *ids;
	Datum	   *tokens;
	Datum	   *results;
	bool	   *id_nulls;
	bool	   *token_nulls;
	bool	   *result_nulls;
	int			n,
				ntokens,
				nresults;
	Datum	   *out;
	DxEngineSave save;

	Required(fcinfo, 0, "task_ids");
	Required(fcinfo, 1, "lease_tokens");
	Required(fcinfo, 2, "results");
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(0), INT8OID, 8, true, 'd', &ids, &id_nulls, &n);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(1), UUIDOID, UUID_LEN, false, 'c', &tokens, &token_nulls, &ntokens);
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(2), JSONBOID, -1, false, 'i', &results, &result_nulls, &nresults);
	/* each element's statements keep memory until SPI_finish: bound them */
	if (n > DX_MAX_COMPLETE_TASKS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("complete_tasks takes at most %d tasks (got %d)", DX_MAX_COMPLETE_TASKS, n),
				 errhint("Complete the tasks in several calls.")));
	if (ntokens != n || nresults != n)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("task_ids, lease_tokens and results must have the same length (got %d, %d and %d)",
						n, ntokens, nresults)));
	for (int i = 0; i < n; i++)
	{
		if (id_nulls[i] || token_nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("task_ids and lease_tokens must not contain nulls (position %d)", i + 1)));
		if (!result_nulls[i])
			DxCheckPayload(psprintf("task result %d", i + 1), DatumGetJsonbP(results[i]));
	}
	out = palloc(sizeof(Datum) * (n + 1));
	SPI_connect();
	DxEngineBegin(&save);
	for (int i = 0; i < n; i++)
	{
		out[i] = BoolGetDatum(FinishTask(&caller, ids[i], tokens[i], false,
										 result_nulls[i] ? NULL : DatumGetJsonbP(results[i]), NULL));
		SPI_freetuptable(SPI_tuptable);
	}
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_ARRAYTYPE_P(construct_array(out, n, BOOLOID, 1, true, 'c'));
}

/* SQL: duroxide.fail_task(task_id, lease_token, error) */
Datum
duroxide_fail_task(PG_FUNCTION_ARGS)
{
	Caller		caller = CheckCaller("fail tasks");
	text	   *error = PG_ARGISNULL(2) ? NULL : PG_GETARG_TEXT_PP(2);

	if (error != NULL && VARSIZE_ANY_EXHDR(error) > (Size) duroxide_max_payload_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("task error text is too large (%zu bytes)", (Size) VARSIZE_ANY_EXHDR(error)),
				 errdetail("duroxide.max_payload_size is %d bytes.", duroxide_max_payload_size),
				 errhint("Report a shorter message and keep the details elsewhere.")));
	PG_RETURN_BOOL(Finish(fcinfo, &caller, true, NULL,
						  error && VARSIZE_ANY_EXHDR(error) > 0 ? text_to_cstring(error) : NULL));
}

/* SQL: duroxide.heartbeat_task(task_id, lease_token, lease_ms) */
Datum
duroxide_heartbeat_task(PG_FUNCTION_ARGS)
{
	Caller		caller = CheckCaller("heartbeat tasks");
	Datum		values[5];
	DxEngineSave save;
	bool		found;

	values[0] = BoolGetDatum(caller.admin);
	values[1] = ObjectIdGetDatum(caller.role);
	TaskArgs(fcinfo, values);
	values[4] = Int64GetDatum(RangeArg(fcinfo, 2, "lease_ms", 1, DX_MAX_LEASE_MS));
	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&heartbeat_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING, "task heartbeat");
	found = SPI_processed == 1;
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/* SQL: duroxide.release_task(task_id, lease_token) */
Datum
duroxide_release_task(PG_FUNCTION_ARGS)
{
	Caller		caller = CheckCaller("release tasks");
	Datum		values[4];
	DxEngineSave save;
	bool		found;

	values[0] = BoolGetDatum(caller.admin);
	values[1] = ObjectIdGetDatum(caller.role);
	TaskArgs(fcinfo, values);
	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&release_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING, "task release");
	found = SPI_processed == 1;
	if (found)
		DxRequestQueueWake(ColText(0, 1));
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_BOOL(found);
}

/* row trigger (AFTER INSERT on worker_queue, task_queue set): wake the queue's claims after commit */
Datum
duroxide_wake_task_queue(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	bool		isnull;
	Datum		d;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "duroxide_wake_task_queue: not called as a row trigger");
	desc = RelationGetDescr(trigdata->tg_relation);
	d = heap_getattr(trigdata->tg_trigtuple, SPI_fnumber(desc, "task_queue"), desc, &isnull);
	if (!isnull)
		DxRequestQueueWake(TextDatumGetCString(d));
	return PointerGetDatum(NULL);
}
