/*-------------------------------------------------------------------------
 * dispatcher.c
 *		Orchestration dispatchers: claim instances with visible messages, run
 *		one turn each, and commit the turns.
 *
 * Claim protocol (two transactions per batch):
 *
 *	 1. claim: lock up to duroxide.batch_size instances that have visible
 *		messages and no claim (FOR UPDATE SKIP LOCKED), set claim_boot /
 *		claim_slot and increment claim_count; commit.  The committed count is
 *		what detects a turn that crashes its process: past
 *		duroxide.max_attempts the instance is failed as poison.
 *	 2. process: for each claimed instance, in its own subtransaction: lock
 *		the instance row, read its visible messages and its history, run the
 *		turn (replay.c), write the history delta, the new work and the
 *		instance row (which clears the claim), delete the consumed messages.
 *		An engine error in one instance rolls back only its subtransaction
 *		and releases its claim; the batch commits the others.
 *
 * A claim is held by (boot id, slot).  A claimed instance is skipped by
 * other dispatchers even when its row is not locked, so two dispatchers never
 * run one instance at once.  Claims of a dead process are released by the
 * next process of the same slot, or by any worker when they carry an
 * earlier boot id (DxDispatcherRecover).
 *
 * Messages that arrive while a turn runs are not read by it (they are
 * committed after its read, or after its claim) and stay in the queue for the
 * next turn: the dispatcher loops without sleeping after a batch that found
 * work, and the committer woke the dispatchers.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "dispatcher.h"
#include "fmgr.h"
#include "guc.h"
#include "replay.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_dispatch_batch);

/* one claimed message */
typedef struct Message
{
	int64		id;
	int32		execution_id;	/* 0: current */
	char	   *kind;
	int64		source_id;
	Jsonb	   *data;
} Message;

/* the instance row as the turn reads it */
typedef struct Instance
{
	char	   *instance_id;
	char	   *name;
	char	   *version;
	char	   *status;
	int32		execution_id;
	Jsonb	   *input;
	char	   *parent_instance_id;
	int32		parent_execution_id;
	int64		parent_event_id;
	int			replay_mark;
	int			claim_count;
	Oid			owner;
} Instance;

/* what a turn writes back */
typedef struct TurnResult
{
	const char *status;
	Jsonb	   *output;
	char	   *error;
	int32		execution_id;
	const char *version;
	Jsonb	   *input;
	int			replay_mark;
	bool		terminal;
} TurnResult;

static DxPlan claim_plan = {NULL,
	"WITH cand AS ("
	"  SELECT DISTINCT q.instance_id FROM ("
	"    SELECT instance_id FROM duroxide.orchestrator_queue"
	"     WHERE visible_at <= now() ORDER BY visible_at LIMIT $4) q"
	"), c AS ("
	"  SELECT i.instance_id FROM duroxide.instances i JOIN cand ON cand.instance_id = i.instance_id"
	"   WHERE i.claim_boot IS NULL FOR UPDATE OF i SKIP LOCKED LIMIT $3"
	") UPDATE duroxide.instances i SET claim_boot = $1, claim_slot = $2, claim_count = i.claim_count + 1"
	"  FROM c WHERE i.instance_id = c.instance_id RETURNING i.instance_id",
4, {INT8OID, INT4OID, INT4OID, INT4OID}};

static DxPlan recover_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL"
	" WHERE claim_boot IS NOT NULL AND (claim_boot <> $1 OR claim_slot = $2)",
2, {INT8OID, INT4OID}};

static DxPlan release_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL WHERE instance_id = $1",
1, {TEXTOID}};

static DxPlan instance_plan = {NULL,
	"SELECT orchestration_name, orchestration_version, status, execution_id, input,"
	"       parent_instance_id, parent_execution_id, parent_event_id, replay_mark, claim_count, owner::oid"
	"  FROM duroxide.instances WHERE instance_id = $1 FOR UPDATE",
1, {TEXTOID}};

static DxPlan messages_plan = {NULL,
	"SELECT id, execution_id, kind, source_event_id, data FROM duroxide.orchestrator_queue"
	" WHERE instance_id = $1 AND visible_at <= now() ORDER BY id",
1, {TEXTOID}};

static DxPlan history_plan = {NULL,
	"SELECT event_id, event_type, source_event_id, data FROM duroxide.history"
	" WHERE instance_id = $1 AND execution_id = $2 ORDER BY event_id",
2, {TEXTOID, INT4OID}};

static DxPlan function_plan = {NULL,
	"SELECT fn::oid, owner::oid FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static DxPlan insert_history_plan = {NULL,
	"INSERT INTO duroxide.history (instance_id, execution_id, event_id, event_type, source_event_id, data)"
	" SELECT $1, $2, u.e, u.t, u.s, u.d FROM unnest($3::bigint[], $4::text[], $5::bigint[], $6::jsonb[]) u(e, t, s, d)",
6, {TEXTOID, INT4OID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, JSONBARRAYOID}};

static DxPlan insert_activity_plan = {NULL,
	"INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name, input, attempt,"
	"  timeout_ms, orchestration_name, orchestration_version, visible_at)"
	" VALUES ($1, $2, $3, $4, $5, $6, NULLIF($7, 0), $8, $9, now() + $10 * interval '1 millisecond')",
10, {TEXTOID, INT4OID, INT8OID, TEXTOID, JSONBOID, INT4OID, INT8OID, TEXTOID, TEXTOID, INT8OID}};

static DxPlan insert_message_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id, data, visible_at)"
	" VALUES ($1, $2, $3, $4, $5, now() + $6 * interval '1 millisecond')",
6, {TEXTOID, INT4OID, TEXTOID, INT8OID, JSONBOID, INT8OID}};

static DxPlan create_instance_plan = {NULL,
	"SELECT duroxide._create_instance($1, $2, $3, $4, $5, $6, $7, $8::oid::regrole)",
8, {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, INT4OID, INT8OID, OIDOID}};

static DxPlan cancel_activity_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE instance_id = $1 AND execution_id = $2"
	"   AND activity_id = $3 AND claim_boot IS NULL",
3, {TEXTOID, INT4OID, INT8OID}};

static DxPlan cancel_timer_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE instance_id = $1 AND kind = 'TimerFired'"
	"   AND source_event_id = $2",
2, {TEXTOID, INT8OID}};

static DxPlan cancel_children_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)"
	" SELECT instance_id, 'CancelRequested', $2 FROM duroxide.instances"
	"  WHERE status = 'Running' AND (parent_instance_id = $1 OR instance_id = $3)",
3, {TEXTOID, JSONBOID, TEXTOID}};

static DxPlan delete_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE id = ANY($1)",
1, {INT8ARRAYOID}};

static DxPlan delete_all_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE instance_id = $1",
1, {TEXTOID}};

static DxPlan withdraw_activities_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE instance_id = $1 AND claim_boot IS NULL",
1, {TEXTOID}};

static DxPlan update_instance_plan = {NULL,
	"UPDATE duroxide.instances SET status = $2, output = $3, error = $4,"
	"  custom_status = CASE WHEN $5 THEN $6 ELSE custom_status END,"
	"  execution_id = $7, orchestration_version = $8, input = $9, replay_mark = $10,"
	"  claim_boot = NULL, claim_slot = NULL, claim_count = 0, updated_at = now(),"
	"  completed_at = CASE WHEN $2 <> 'Running' THEN now() END"
	" WHERE instance_id = $1",
10, {TEXTOID, TEXTOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID, INT4OID, TEXTOID, JSONBOID, INT4OID}};

static DxPlan end_execution_plan = {NULL,
	"UPDATE duroxide.executions SET status = $3, output = $4, error = $5, completed_at = now()"
	" WHERE instance_id = $1 AND execution_id = $2",
5, {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID}};

static DxPlan new_execution_plan = {NULL,
	"WITH e AS (INSERT INTO duroxide.executions (instance_id, execution_id, orchestration_version, input)"
	"           VALUES ($1, $2, $3, $4))"
	" INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind) VALUES ($1, $2, 'ExecutionStarted')",
4, {TEXTOID, INT4OID, TEXTOID, JSONBOID}};

static DxPlan next_due_plan = {NULL,
	"SELECT (extract(epoch FROM min(visible_at) - clock_timestamp()) * 1000)::bigint"
	"  FROM duroxide.orchestrator_queue WHERE visible_at > now()",
0, {0}};

/* ------------------------------------------------------------------------
 * Transaction skeleton (worker_spi)
 * ------------------------------------------------------------------------ */

/* start a unit of work */
void
DxBeginTxn(const char *what)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "duroxide: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

/* commit a unit of work */
void
DxCommitTxn(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/* milliseconds until the result of a "next due" query, or poll_interval */
static long
MsUntilPlan(DxPlan *plan)
{
	int			ret = DxExecPlan(plan, NULL, NULL, true, 1);
	bool		isnull;
	Datum		d;

	DxExpect(ret, SPI_OK_SELECT, "next due lookup");
	if (SPI_processed == 0)
		return duroxide_poll_interval;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return duroxide_poll_interval;
	return (long) Max(Min(DatumGetInt64(d) + 1, duroxide_poll_interval), 1);
}

/* milliseconds until the next future visible_at of the query's table */
long
DxMsUntil(const char *sql)
{
	static DxPlan worker_due = {NULL, NULL, 0, {0}};

	worker_due.sql = sql;
	return MsUntilPlan(&worker_due);
}

/* ------------------------------------------------------------------------
 * Claims
 * ------------------------------------------------------------------------ */

/* release the claims a dead process left (see file header) */
void
DxDispatcherRecover(int slot)
{
	Datum		values[2];

	DxBeginTxn("duroxide: releasing stale claims");
	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	DxExpect(DxExecPlan(&recover_plan, values, NULL, false, 0), SPI_OK_UPDATE, "claim recovery");
	if (SPI_processed > 0)
		ereport(LOG, (errmsg("duroxide dispatcher: released %lu instance claims left by a stopped process",
							 (unsigned long) SPI_processed)));
	DxCommitTxn();
}

/* ------------------------------------------------------------------------
 * Arrays for SPI
 * ------------------------------------------------------------------------ */

/* a growing array of datums */
typedef struct DatumList
{
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int			max;
} DatumList;

/* append a datum (or a NULL) */
static void
DlAdd(DatumList *l, Datum v, bool isnull)
{
	if (l->n == l->max)
	{
		l->max = l->max ? l->max * 2 : 16;
		l->values = l->values ? repalloc(l->values, sizeof(Datum) * l->max) : palloc(sizeof(Datum) * l->max);
		l->nulls = l->nulls ? repalloc(l->nulls, sizeof(bool) * l->max) : palloc(sizeof(bool) * l->max);
	}
	l->values[l->n] = v;
	l->nulls[l->n] = isnull;
	l->n++;
}

/* the list as a one-dimensional array datum */
static Datum
DlArray(DatumList *l, Oid elemtype)
{
	int			dims[1];
	int			lbs[1] = {1};
	int16		typlen;
	bool		typbyval;
	char		typalign;

	dims[0] = l->n;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(l->values, l->nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

/* ------------------------------------------------------------------------
 * One turn
 * ------------------------------------------------------------------------ */

/* a text column of the current SPI row, or NULL */
static char *
GetText(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* a jsonb column of the current SPI row copied out, or NULL */
static Jsonb *
GetJsonb(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* an integer column of the current SPI row, or a default */
static int64
GetInt(int row, int col, int64 dflt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	Oid			type = SPI_gettypeid(SPI_tuptable->tupdesc, col);

	if (isnull)
		return dflt;
	return type == INT8OID ? DatumGetInt64(d) : DatumGetInt32(d);
}

/* read and lock the instance row; false if it is gone */
static bool
LoadInstance(const char *instance_id, Instance *inst)
{
	Datum		values[1];

	values[0] = CStringGetTextDatum(instance_id);
	DxExpect(DxExecPlan(&instance_plan, values, NULL, false, 1), SPI_OK_SELECT, "instance lookup");
	if (SPI_processed == 0)
		return false;
	inst->instance_id = pstrdup(instance_id);
	inst->name = GetText(0, 1);
	inst->version = GetText(0, 2);
	inst->status = GetText(0, 3);
	inst->execution_id = (int32) GetInt(0, 4, 1);
	inst->input = GetJsonb(0, 5);
	inst->parent_instance_id = GetText(0, 6);
	inst->parent_execution_id = (int32) GetInt(0, 7, 0);
	inst->parent_event_id = GetInt(0, 8, 0);
	inst->replay_mark = (int) GetInt(0, 9, -1);
	inst->claim_count = (int) GetInt(0, 10, 0);
	{
		bool		isnull;

		inst->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 11, &isnull));
	}
	return true;
}

/* read the visible messages of an instance */
static Message *
LoadMessages(const char *instance_id, int *n)
{
	Datum		values[1];
	Message    *msgs;

	values[0] = CStringGetTextDatum(instance_id);
	DxExpect(DxExecPlan(&messages_plan, values, NULL, false, 0), SPI_OK_SELECT, "message lookup");
	*n = (int) SPI_processed;
	msgs = palloc0(sizeof(Message) * (*n + 1));
	for (int i = 0; i < *n; i++)
	{
		msgs[i].id = GetInt(i, 1, 0);
		msgs[i].execution_id = (int32) GetInt(i, 2, 0);
		msgs[i].kind = GetText(i, 3);
		msgs[i].source_id = GetInt(i, 4, 0);
		msgs[i].data = GetJsonb(i, 5);
	}
	return msgs;
}

/* read the history of the current execution into the turn */
static void
LoadHistory(DxTurn *t)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(t->instance_id);
	values[1] = Int32GetDatum(t->execution_id);
	DxExpect(DxExecPlan(&history_plan, values, NULL, false, 0), SPI_OK_SELECT, "history lookup");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *type = GetText(i, 2);

		DxTurnLoadEvent(t, GetInt(i, 1, 0), DxEventTypeFromName(type), GetInt(i, 3, 0),
						GetJsonb(i, 4));
	}
}

/* an ActivityFailed message: retry it or record the final failure */
static void
ApplyActivityFailure(DxTurn *t, Message *m)
{
	DxEvent    *cmd = DxTurnEvent(t, m->source_id);
	Jsonb	   *retry = cmd ? DxJbGet(cmd->data, "retry") : NULL;
	int64		attempt = 1;
	char	   *error = DxJbGetText(m->data, "error");

	(void) DxJbGetInt(m->data, "attempt", &attempt);
	if (retry != NULL)
	{
		DxRetryPolicy p;
		int64		delay;
		int64		deadline = 0;
		int64		now_ms = GetCurrentTimestamp() / 1000;

		DxParseRetryPolicy(retry, &p);
		delay = DxRetryDelay(&p, (int) attempt);
		(void) DxJbGetInt(cmd->data, "deadline_ms", &deadline);
		if (attempt < p.max_attempts && (deadline == 0 || now_ms + delay < deadline))
		{
			DxJsonBuilder b;
			DxAction	a;

			DxJbBegin(&b);
			DxJbInt(&b, "attempt", attempt);
			DxJbString(&b, "error", error);
			DxJbInt(&b, "retry_delay_ms", delay);
			DxTurnAppend(t, EV_ACTIVITY_ATTEMPT_FAILED, m->source_id, DxJbEnd(&b));

			memset(&a, 0, sizeof(a));
			a.kind = ACT_ACTIVITY;
			a.event_id = m->source_id;
			a.name = DxJbGetText(cmd->data, "name");
			a.input = DxJbGet(cmd->data, "input");
			a.attempt = (int) attempt + 1;
			a.delay_ms = delay;
			a.timeout_ms = p.timeout_ms;
			if (deadline > 0 && (a.timeout_ms == 0 || a.timeout_ms > deadline - now_ms - delay))
				a.timeout_ms = Max(deadline - now_ms - delay, 1);
			DxTurnAddAction(t, &a);
			return;
		}
	}
	DxTurnAppend(t, EV_ACTIVITY_FAILED, m->source_id, m->data);
}

/* turn the claimed messages into history; returns the cancel reason if any */
static char *
ApplyMessages(DxTurn *t, Instance *inst, Message *msgs, int n, bool *started)
{
	char	   *cancel = NULL;

	*started = false;
	for (int i = 0; i < t->nevents; i++)
		if (t->events[i].type == EV_ORCHESTRATION_STARTED)
			*started = true;

	for (int i = 0; i < n; i++)
	{
		Message    *m = &msgs[i];
		bool		current = m->execution_id == 0 || m->execution_id == t->execution_id;

		if (strcmp(m->kind, "CancelRequested") == 0)
		{
			cancel = DxJbGetText(m->data, "reason");
			if (cancel == NULL)
				cancel = "cancelled";
		}
		else if (!current)
			continue;			/* for an earlier execution */
		else if (strcmp(m->kind, "ExecutionStarted") == 0)
		{
			if (!*started)
			{
				DxJsonBuilder b;

				DxJbBegin(&b);
				DxJbString(&b, "name", inst->name);
				DxJbString(&b, "version", inst->version);
				DxJbJsonb(&b, "input", inst->input);
				if (inst->parent_instance_id)
					DxJbString(&b, "parent_instance_id", inst->parent_instance_id);
				DxTurnAppend(t, EV_ORCHESTRATION_STARTED, 0, DxJbEnd(&b));
				*started = true;
			}
		}
		else if (strcmp(m->kind, "EventRaised") == 0)
			DxTurnAppend(t, EV_EVENT_RAISED, 0, m->data);
		else if (DxTurnHasCompletion(t, m->source_id) || DxTurnEvent(t, m->source_id) == NULL)
			continue;			/* duplicate, or for a task this execution never made */
		else if (strcmp(m->kind, "ActivityCompleted") == 0)
			DxTurnAppend(t, EV_ACTIVITY_COMPLETED, m->source_id, m->data);
		else if (strcmp(m->kind, "ActivityFailed") == 0)
			ApplyActivityFailure(t, m);
		else if (strcmp(m->kind, "TimerFired") == 0)
			DxTurnAppend(t, EV_TIMER_FIRED, m->source_id, NULL);
		else if (strcmp(m->kind, "SubOrchestrationCompleted") == 0)
			DxTurnAppend(t, EV_SUB_ORCHESTRATION_COMPLETED, m->source_id, m->data);
		else if (strcmp(m->kind, "SubOrchestrationFailed") == 0)
			DxTurnAppend(t, EV_SUB_ORCHESTRATION_FAILED, m->source_id, m->data);
		else
			ereport(WARNING,
					(errmsg("duroxide: ignoring message of unknown kind \"%s\" for instance \"%s\"",
							m->kind, t->instance_id)));
	}
	return cancel;
}

/* look up the function and owner of an orchestration version */
static bool
LookupOrchestration(const char *name, const char *version, Oid *fn, Oid *owner)
{
	Datum		values[2];

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(version);
	DxExpect(DxExecPlan(&function_plan, values, NULL, true, 1), SPI_OK_SELECT, "orchestration lookup");
	if (SPI_processed == 0)
		return false;
	*fn = (Oid) GetInt(0, 1, 0);
	*owner = (Oid) GetInt(0, 2, 0);
	return true;
}

/* insert a message into an instance's queue */
static void
InsertMessage(const char *instance_id, int32 execution_id, const char *kind,
			  int64 source_id, Jsonb *data, int64 delay_ms)
{
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(instance_id);
	values[1] = Int32GetDatum(execution_id);
	if (execution_id == 0)
		nulls[1] = 'n';
	values[2] = CStringGetTextDatum(kind);
	values[3] = Int64GetDatum(source_id);
	if (source_id == 0)
		nulls[3] = 'n';
	values[4] = data ? JsonbPGetDatum(data) : (Datum) 0;
	if (data == NULL)
		nulls[4] = 'n';
	values[5] = Int64GetDatum(delay_ms);
	DxExpect(DxExecPlan(&insert_message_plan, values, nulls, false, 0), SPI_OK_INSERT, "message insert");
}

/* create an instance through duroxide._create_instance; false if it existed */
static bool
CreateInstance(DxAction *a, Instance *inst, bool child, int32 parent_exec)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;

	values[0] = CStringGetTextDatum(a->instance_id);
	values[1] = CStringGetTextDatum(a->name);
	values[2] = CStringGetTextDatum(a->version);
	values[3] = a->input ? JsonbPGetDatum(a->input) : (Datum) 0;
	if (a->input == NULL)
		nulls[3] = 'n';
	if (child)
	{
		values[4] = CStringGetTextDatum(inst->instance_id);
		values[5] = Int32GetDatum(parent_exec);
		values[6] = Int64GetDatum(a->event_id);
	}
	else
		nulls[4] = nulls[5] = nulls[6] = 'n';
	/* the new instance belongs to whoever owns the one that started it */
	values[7] = ObjectIdGetDatum(inst->owner);
	DxExpect(DxExecPlan(&create_instance_plan, values, nulls, false, 1), SPI_OK_SELECT, "instance creation");
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/* perform the side effects the turn asked for */
static void
PerformActions(DxTurn *t, Instance *inst)
{
	ListCell   *lc;

	foreach(lc, t->actions)
	{
		DxAction   *a = (DxAction *) lfirst(lc);
		Datum		values[10];
		char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		values[0] = CStringGetTextDatum(t->instance_id);
		values[1] = Int32GetDatum(t->execution_id);
		switch (a->kind)
		{
			case ACT_ACTIVITY:
				values[2] = Int64GetDatum(a->event_id);
				values[3] = CStringGetTextDatum(a->name);
				values[4] = a->input ? JsonbPGetDatum(a->input) : (Datum) 0;
				if (a->input == NULL)
					nulls[4] = 'n';
				values[5] = Int32GetDatum(a->attempt);
				values[6] = Int64GetDatum(a->timeout_ms);
				values[7] = CStringGetTextDatum(t->name);
				values[8] = CStringGetTextDatum(t->version);
				values[9] = Int64GetDatum(a->delay_ms);
				DxExpect(DxExecPlan(&insert_activity_plan, values, nulls, false, 0),
						 SPI_OK_INSERT, "activity insert");
				break;
			case ACT_TIMER:
				InsertMessage(t->instance_id, t->execution_id, "TimerFired", a->event_id, NULL, a->delay_ms);
				break;
			case ACT_SUB_ORCHESTRATION:
				if (!CreateInstance(a, inst, true, t->execution_id))
				{
					DxJsonBuilder b;

					DxJbBegin(&b);
					DxJbString(&b, "error", psprintf("orchestration instance \"%s\" already exists", a->instance_id));
					InsertMessage(t->instance_id, t->execution_id, "SubOrchestrationFailed",
								  a->event_id, DxJbEnd(&b), 0);
				}
				break;
			case ACT_DETACHED:
				(void) CreateInstance(a, inst, false, 0);
				break;
			case ACT_CANCEL_ACTIVITY:
				values[2] = Int64GetDatum(a->event_id);
				DxExpect(DxExecPlan(&cancel_activity_plan, values, NULL, false, 0),
						 SPI_OK_DELETE, "activity withdrawal");
				break;
			case ACT_CANCEL_TIMER:
				values[1] = Int64GetDatum(a->event_id);
				DxExpect(DxExecPlan(&cancel_timer_plan, values, NULL, false, 0),
						 SPI_OK_DELETE, "timer withdrawal");
				break;
			case ACT_CANCEL_CHILD:
				{
					DxJsonBuilder b;

					DxJbBegin(&b);
					DxJbString(&b, "reason", "cancelled by the parent orchestration");
					values[0] = CStringGetTextDatum("");
					values[1] = JsonbPGetDatum(DxJbEnd(&b));
					values[2] = CStringGetTextDatum(a->instance_id);
					DxExpect(DxExecPlan(&cancel_children_plan, values, NULL, false, 0),
							 SPI_OK_INSERT, "child cancellation");
				}
				break;
		}
	}
}

/* write the events this turn appended */
static void
InsertHistory(DxTurn *t)
{
	DatumList	ids = {0}, types = {0}, sources = {0}, data = {0};
	Datum		values[6];

	if (t->nevents == t->nloaded)
		return;
	for (int i = t->nloaded; i < t->nevents; i++)
	{
		DxEvent    *ev = &t->events[i];

		DlAdd(&ids, Int64GetDatum(ev->event_id), false);
		DlAdd(&types, CStringGetTextDatum(DxEventTypeName(ev->type)), false);
		DlAdd(&sources, Int64GetDatum(ev->source_id), ev->source_id == 0);
		DlAdd(&data, ev->data ? JsonbPGetDatum(ev->data) : (Datum) 0, ev->data == NULL);
	}
	values[0] = CStringGetTextDatum(t->instance_id);
	values[1] = Int32GetDatum(t->execution_id);
	values[2] = DlArray(&ids, INT8OID);
	values[3] = DlArray(&types, TEXTOID);
	values[4] = DlArray(&sources, INT8OID);
	values[5] = DlArray(&data, JSONBOID);
	DxExpect(DxExecPlan(&insert_history_plan, values, NULL, false, 0), SPI_OK_INSERT, "history insert");
}

/* tell the parent that this child ended */
static void
NotifyParent(Instance *inst, TurnResult *r)
{
	DxJsonBuilder b;
	bool		ok = strcmp(r->status, "Completed") == 0;

	if (inst->parent_instance_id == NULL || inst->parent_event_id == 0)
		return;
	DxJbBegin(&b);
	if (ok)
	{
		if (r->output)
			DxJbJsonb(&b, "result", r->output);
		else
			DxJbNull(&b, "result");
	}
	else
		DxJbString(&b, "error", r->error ? r->error : r->status);
	InsertMessage(inst->parent_instance_id, inst->parent_execution_id,
				  ok ? "SubOrchestrationCompleted" : "SubOrchestrationFailed",
				  inst->parent_event_id, DxJbEnd(&b), 0);
}

/* write the instance row, the execution row, and what follows from the end */
static void
WriteInstance(DxTurn *t, Instance *inst, TurnResult *r)
{
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

	values[0] = CStringGetTextDatum(inst->instance_id);
	values[1] = CStringGetTextDatum(r->status);
	values[2] = r->output ? JsonbPGetDatum(r->output) : (Datum) 0;
	if (r->output == NULL)
		nulls[2] = 'n';
	values[3] = r->error ? CStringGetTextDatum(r->error) : (Datum) 0;
	if (r->error == NULL)
		nulls[3] = 'n';
	values[4] = BoolGetDatum(t && t->custom_status_set);
	values[5] = (t && t->custom_status) ? JsonbPGetDatum(t->custom_status) : (Datum) 0;
	if (!(t && t->custom_status))
		nulls[5] = 'n';
	values[6] = Int32GetDatum(r->execution_id);
	values[7] = CStringGetTextDatum(r->version);
	values[8] = r->input ? JsonbPGetDatum(r->input) : (Datum) 0;
	if (r->input == NULL)
		nulls[8] = 'n';
	values[9] = Int32GetDatum(r->replay_mark);
	DxExpect(DxExecPlan(&update_instance_plan, values, nulls, false, 0), SPI_OK_UPDATE, "instance update");

	if (r->terminal || r->execution_id != inst->execution_id)
	{
		/* the execution that ran this turn has ended */
		const char *st = r->terminal ? r->status : "ContinuedAsNew";

		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(inst->instance_id);
		values[1] = Int32GetDatum(inst->execution_id);
		values[2] = CStringGetTextDatum(st);
		nulls[3] = r->output ? ' ' : 'n';
		values[3] = r->output ? JsonbPGetDatum(r->output) : (Datum) 0;
		nulls[4] = r->error ? ' ' : 'n';
		values[4] = r->error ? CStringGetTextDatum(r->error) : (Datum) 0;
		DxExpect(DxExecPlan(&end_execution_plan, values, nulls, false, 0), SPI_OK_UPDATE, "execution update");
	}
	if (r->terminal)
	{
		values[0] = CStringGetTextDatum(inst->instance_id);
		DxExpect(DxExecPlan(&delete_all_messages_plan, values, NULL, false, 0), SPI_OK_DELETE, "queue cleanup");
		if (strcmp(r->status, "Completed") != 0)
		{
			DxJsonBuilder b;

			DxExpect(DxExecPlan(&withdraw_activities_plan, values, NULL, false, 0),
					 SPI_OK_DELETE, "activity withdrawal");
			/* cancel running children, recursively through their own turns */
			DxJbBegin(&b);
			DxJbString(&b, "reason", psprintf("parent orchestration \"%s\" ended: %s",
											  inst->instance_id, r->status));
			values[1] = JsonbPGetDatum(DxJbEnd(&b));
			values[2] = CStringGetTextDatum("");
			DxExpect(DxExecPlan(&cancel_children_plan, values, NULL, false, 0),
					 SPI_OK_INSERT, "child cancellation");
		}
		NotifyParent(inst, r);
	}
	else if (r->execution_id != inst->execution_id)
	{
		/* continue-as-new: the next execution starts with its first message */
		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(inst->instance_id);
		values[1] = Int32GetDatum(r->execution_id);
		values[2] = CStringGetTextDatum(r->version);
		values[3] = r->input ? JsonbPGetDatum(r->input) : (Datum) 0;
		nulls[3] = r->input ? ' ' : 'n';
		DxExpect(DxExecPlan(&new_execution_plan, values, nulls, false, 0), SPI_OK_INSERT, "new execution");
	}
}

/* delete the messages the turn consumed */
static void
DeleteMessages(Message *msgs, int n)
{
	DatumList	ids = {0};
	Datum		values[1];

	if (n == 0)
		return;
	for (int i = 0; i < n; i++)
		DlAdd(&ids, Int64GetDatum(msgs[i].id), false);
	values[0] = DlArray(&ids, INT8OID);
	DxExpect(DxExecPlan(&delete_messages_plan, values, NULL, false, 0), SPI_OK_DELETE, "message delete");
}

/* delete messages that no turn will use, and release the claim */
static void
DropMessages(const char *instance_id, Message *msgs, int n)
{
	Datum		v[1];

	DeleteMessages(msgs, n);
	v[0] = CStringGetTextDatum(instance_id);
	DxExpect(DxExecPlan(&release_plan, v, NULL, false, 0), SPI_OK_UPDATE, "claim release");
}

/* append the event that ends an execution */
static void
AppendEnd(DxTurn *t, DxEventType type, const char *key, Jsonb *value, const char *text)
{
	DxJsonBuilder b;

	DxJbBegin(&b);
	if (text)
		DxJbString(&b, key, text);
	else if (value)
		DxJbJsonb(&b, key, value);
	DxTurnAppend(t, type, 0, DxJbEnd(&b));
}

/* run one turn of an instance (inside the caller's subtransaction) */
static void
RunTurn(const char *instance_id, MemoryContext cxt)
{
	Instance	inst;
	Message    *msgs;
	int			nmsgs;
	DxTurn	   *t;
	TurnResult	r;
	bool		started;
	char	   *cancel;

	if (!LoadInstance(instance_id, &inst))
		return;					/* deleted meanwhile */
	msgs = LoadMessages(instance_id, &nmsgs);
	DxSlotSetState(DX_STATE_BUSY, instance_id);

	memset(&r, 0, sizeof(r));
	r.status = "Running";
	r.execution_id = inst.execution_id;
	r.version = inst.version;
	r.input = inst.input;
	r.replay_mark = inst.replay_mark;

	if (strcmp(inst.status, "Running") != 0)
	{
		/* terminal already: drop whatever still arrives */
		DropMessages(instance_id, msgs, nmsgs);
		return;
	}

	t = DxTurnCreate(cxt, instance_id, inst.execution_id, inst.name, inst.version,
					 inst.parent_instance_id, inst.replay_mark);
	LoadHistory(t);
	cancel = ApplyMessages(t, &inst, msgs, nmsgs, &started);

	if (inst.claim_count > duroxide_max_attempts)
	{
		r.status = "Failed";
		r.error = psprintf("poison: a turn of this orchestration was started %d times without completing "
						   "(its process crashed or was stopped each time); duroxide.max_attempts is %d",
						   inst.claim_count - 1, duroxide_max_attempts);
		AppendEnd(t, EV_ORCHESTRATION_FAILED, "error", NULL, r.error);
	}
	else if (cancel)
	{
		r.status = "Cancelled";
		r.error = cancel;
		AppendEnd(t, EV_ORCHESTRATION_CANCELLED, "reason", NULL, cancel);
	}
	else if (!started)
	{
		/* nothing to run: messages for an execution that has not started */
		DropMessages(instance_id, msgs, nmsgs);
		return;
	}
	else
	{
		Oid			fn,
					owner;
		Jsonb	   *output;
		char	   *error;
		DxOutcome	outcome;

		if (!LookupOrchestration(inst.name, inst.version, &fn, &owner))
		{
			outcome = DX_OUTCOME_FAILED;
			error = psprintf("orchestration \"%s\" version %s is not registered", inst.name, inst.version);
			output = NULL;
		}
		else
			outcome = DxTurnRun(t, fn, owner, inst.input, &output, &error);

		switch (outcome)
		{
			case DX_OUTCOME_SUSPENDED:
				r.replay_mark = t->resolved;
				break;
			case DX_OUTCOME_COMPLETED:
				r.status = "Completed";
				r.output = output;
				AppendEnd(t, EV_ORCHESTRATION_COMPLETED, "output", output, NULL);
				break;
			case DX_OUTCOME_FAILED:
				r.status = "Failed";
				r.error = error;
				AppendEnd(t, EV_ORCHESTRATION_FAILED, "error", NULL, error);
				if (DxLogEnabled(DX_LOG_WARN))
					ereport(DxServerLevel(DX_LOG_WARN),
							(errmsg("duroxide: orchestration instance \"%s\" (%s) failed: %s",
									instance_id, inst.name, error)));
				break;
			case DX_OUTCOME_CONTINUED_AS_NEW:
				{
					DxJsonBuilder b;

					DxJbBegin(&b);
					DxJbJsonb(&b, "input", t->can_input);
					DxJbString(&b, "version", t->can_version);
					DxTurnAppend(t, EV_CONTINUED_AS_NEW, 0, DxJbEnd(&b));
					r.execution_id = inst.execution_id + 1;
					r.version = t->can_version;
					r.input = t->can_input;
					r.replay_mark = -1;
				}
				break;
		}
		if (outcome != DX_OUTCOME_FAILED)
			PerformActions(t, &inst);
	}
	r.terminal = strcmp(r.status, "Running") != 0;

	InsertHistory(t);
	DeleteMessages(msgs, nmsgs);
	WriteInstance(t, &inst, &r);
}

/* run one claimed instance in a subtransaction; an engine error releases it */
static void
RunClaimed(const char *instance_id, MemoryContext cxt)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		RunTurn(instance_id, cxt);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;
		Datum		v[1];

		MemoryContextSwitchTo(old);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		ereport(WARNING,
				(errmsg("duroxide: turn of instance \"%s\" failed in the engine: %s", instance_id, e->message),
				 errdetail("The turn will be retried; after duroxide.max_attempts the instance fails as poison.")));
		v[0] = CStringGetTextDatum(instance_id);
		DxExpect(DxExecPlan(&release_plan, v, NULL, false, 0), SPI_OK_UPDATE, "claim release");
	}
	PG_END_TRY();
}

/* claim instances (in the current transaction); returns their ids in cxt */
static int
ClaimInstances(int slot, MemoryContext cxt, char ***ids)
{
	Datum		values[4];
	int			n;

	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	values[2] = Int32GetDatum(duroxide_batch_size);
	values[3] = Int32GetDatum(Max(256, duroxide_batch_size * 8));
	DxExpect(DxExecPlan(&claim_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING, "instance claim");
	n = (int) SPI_processed;
	*ids = MemoryContextAlloc(cxt, sizeof(char *) * (n + 1));
	for (int i = 0; i < n; i++)
		(*ids)[i] = MemoryContextStrdup(cxt, GetText(i, 1));
	return n;
}

/* run the turns of claimed instances (in the current transaction) */
static void
RunInstances(char **ids, int n, MemoryContext cxt)
{
	MemoryContext turn_cxt = AllocSetContextCreate(cxt, "duroxide turn", ALLOCSET_DEFAULT_SIZES);

	for (int i = 0; i < n; i++)
	{
		RunClaimed(ids[i], turn_cxt);
		MemoryContextReset(turn_cxt);
	}
	MemoryContextDelete(turn_cxt);
	DxSlotSetState(DX_STATE_BUSY, NULL);
}

/* one batch: claim and commit, then run and commit; false when no work */
bool
DxDispatchBatch(int slot, long *sleep_ms)
{
	char	  **ids;
	int			n;
	MemoryContext batch = CurrentMemoryContext;

	DxBeginTxn("duroxide: claiming instances");
	n = ClaimInstances(slot, batch, &ids);
	if (n == 0)
		*sleep_ms = MsUntilPlan(&next_due_plan);
	DxCommitTxn();
	MemoryContextSwitchTo(batch);
	if (n == 0)
		return false;

	DxBeginTxn("duroxide: running turns");
	RunInstances(ids, n, batch);
	DxCommitTxn();
	MemoryContextSwitchTo(batch);
	return true;
}

/*
 * SQL: duroxide._dispatch_batch(slot) -- one dispatcher batch in the caller's
 * transaction (claim and turns commit together).  For isolation tests and
 * for operators running turns by hand; returns the number of turns run.
 */
Datum
duroxide_dispatch_batch(PG_FUNCTION_ARGS)
{
	char	  **ids;
	int			n;

	SPI_connect();
	n = ClaimInstances(PG_GETARG_INT32(0), CurrentMemoryContext, &ids);
	RunInstances(ids, n, CurrentMemoryContext);
	SPI_finish();
	PG_RETURN_INT32(n);
}
