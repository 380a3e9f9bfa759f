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
 *		duroxide.max_attempts the instance is failed as poison.  The claim
 *		returns the instance rows, which nobody but the claimer changes while
 *		the claim is held.
 *	 2. process, set-based: one query reads the visible messages of every
 *		claimed instance, one reads their histories; each turn runs in its own
 *		subtransaction (replay.c) and only adds to the batch's write lists
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
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "lib/ilist.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "dispatcher.h"
#include "registry.h"
#include "fmgr.h"
#include "guc.h"
#include "replay.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

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

/* one loaded history event */
typedef struct HistRow
{
	int64		event_id;
	DxEventType type;
	int64		source_id;
	Jsonb	   *data;
} HistRow;

/* a claimed instance: its row, messages and history */
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
	Jsonb	   *waiting_on;		/* what the last suspended turn awaited */
	int			history_len;	/* events of the current execution */
	TimestampTz created_at;		/* tells incarnations of an id apart */
	/* for the history cache, applied once the batch committed */
	bool		stage;
	bool		stage_drop;
	int32		stage_exec;
	HistRow    *stage_rows;
	int			stage_n;
	Message    *msgs;
	int			nmsgs;
	int			maxmsgs;
	HistRow    *hist;
	int			nhist;
	int			maxhist;
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
	Jsonb	   *waiting_on;
	bool		terminal;
} TurnResult;

#define CLAIM_COLUMNS \
	"i.instance_id, i.orchestration_name, i.orchestration_version, i.status, i.execution_id, i.input," \
	" i.parent_instance_id, i.parent_execution_id, i.parent_event_id, i.replay_mark, i.claim_count, i.owner::oid," \
	" i.waiting_on, i.history_len, i.created_at"

/*
 * Candidates: the instances of the oldest visible messages (a window of $1
 * rows read from orchestrator_queue_visible_idx), leaving out $2, with the
 * number of window rows each has.  See ClaimInstances.
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

static DxPlan next_suspect_due_plan = {NULL,
	"SELECT min(q.visible_at) FROM duroxide.instances i"
	"  JOIN duroxide.orchestrator_queue q ON q.instance_id = i.instance_id"
	" WHERE i.claim_count > 0 AND i.claim_boot IS NULL",
0, {0}};

static DxPlan recover_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL"
	" WHERE claim_boot IS NOT NULL AND (claim_boot <> $1 OR claim_slot = $2)",
2, {INT8OID, INT4OID}};

static DxPlan unclaim_plan = {NULL,
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

static DxPlan settle_plan = {NULL,
	"UPDATE duroxide.instances SET claim_boot = NULL, claim_slot = NULL, claim_count = 0"
	" WHERE instance_id = ANY($1)",
1, {TEXTARRAYOID}};

/*
 * Per-instance index lookups (LATERAL ... OFFSET 0 keeps them parameterised):
 * the cost of a batch must not depend on how long the queue is, nor on
 * statistics that lag behind a queue's churn.
 */
static DxPlan messages_plan = {NULL,
	"SELECT u.ord::int4, q.id, q.execution_id, q.kind, q.source_event_id, q.data"
	"  FROM unnest($1::text[]) WITH ORDINALITY u(iid, ord),"
	"       LATERAL (SELECT * FROM duroxide.orchestrator_queue m"
	"                 WHERE m.instance_id = u.iid"
	"                   AND m.visible_at + interval '0 s' <= now() OFFSET 0) q"	/* a filter, not an index scan */
	" ORDER BY u.ord, q.id",
1, {TEXTARRAYOID}};

static DxPlan history_plan = {NULL,
	"SELECT u.ord::int4, h.event_id, h.event_type, h.source_event_id, h.data"
	"  FROM unnest($1::text[], $2::int4[]) WITH ORDINALITY u(iid, eid, ord)"
	"  JOIN duroxide.history h ON h.instance_id = u.iid AND h.execution_id = u.eid"
	" ORDER BY u.ord, h.event_id",
2, {TEXTARRAYOID, INT4ARRAYOID}};

static DxPlan insert_history_plan = {NULL,
	"INSERT INTO duroxide.history (instance_id, execution_id, event_id, event_type, source_event_id, data)"
	" SELECT * FROM unnest($1::text[], $2::int4[], $3::int8[], $4::text[], $5::int8[], $6::jsonb[])",
6, {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, JSONBARRAYOID}};

static DxPlan insert_activities_plan = {NULL,
	"INSERT INTO duroxide.worker_queue (instance_id, execution_id, activity_id, activity_name, input, attempt,"
	"  timeout_ms, orchestration_name, orchestration_version, visible_at, task_queue)"
	" SELECT u.i, u.e, u.a, u.n, u.inp, u.att, NULLIF(u.t, 0), u.o, u.v, coalesce(u.due, now()),"
	"        (SELECT r.task_queue FROM duroxide.activities r WHERE r.name = u.n)"	/* external.c */
	"   FROM unnest($1::text[], $2::int4[], $3::int8[], $4::text[], $5::jsonb[], $6::int4[], $7::int8[],"
	"               $8::text[], $9::text[], $10::timestamptz[]) u(i, e, a, n, inp, att, t, o, v, due)",
10, {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, INT4ARRAYOID, INT8ARRAYOID,
TEXTARRAYOID, TEXTARRAYOID, TIMESTAMPTZARRAYOID}};

static DxPlan insert_messages_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind, source_event_id, data, visible_at)"
	" SELECT u.i, u.e, u.k, u.s, u.d, coalesce(u.due, now())"
	"   FROM unnest($1::text[], $2::int4[], $3::text[], $4::int8[], $5::jsonb[], $6::timestamptz[]) u(i, e, k, s, d, due)",
6, {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID, JSONBARRAYOID, TIMESTAMPTZARRAYOID}};

static DxPlan delete_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE id = ANY($1)",
1, {INT8ARRAYOID}};

static DxPlan delete_terminal_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue d USING ("
	"  SELECT q.id FROM unnest($1::text[]) u(iid),"
	"       LATERAL (SELECT m.id FROM duroxide.orchestrator_queue m WHERE m.instance_id = u.iid OFFSET 0) q) t"
	" WHERE d.id = t.id",
1, {TEXTARRAYOID}};

static DxPlan update_instances_plan = {NULL,
	"UPDATE duroxide.instances i SET status = u.st, output = u.o, error = u.err,"
	"  custom_status = CASE WHEN u.css THEN u.cs ELSE i.custom_status END,"
	"  execution_id = u.e, orchestration_version = u.v,"
	"  input = CASE WHEN u.e <> i.execution_id THEN u.inp ELSE i.input END,"
	"  replay_mark = u.m, waiting_on = u.w, history_len = u.hl, claim_boot = NULL, claim_slot = NULL,"
	"  claim_count = 0, updated_at = now(), completed_at = CASE WHEN u.st <> 'Running' THEN now() END"
	" FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::text[], $5::bool[], $6::jsonb[], $7::int4[],"
	"             $8::text[], $9::jsonb[], $10::int4[], $11::jsonb[], $12::int4[])"
	"      u(id, st, o, err, css, cs, e, v, inp, m, w, hl)"
	" WHERE i.instance_id = u.id AND i.claim_boot = $13 AND i.claim_slot = $14",
14, {TEXTARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, BOOLARRAYOID, JSONBARRAYOID, INT4ARRAYOID,
TEXTARRAYOID, JSONBARRAYOID, INT4ARRAYOID, JSONBARRAYOID, INT4ARRAYOID, INT8OID, INT4OID}};

static DxPlan insert_executions_plan = {NULL,
	"INSERT INTO duroxide.executions (instance_id, execution_id, orchestration_version, input, status, output, error)"
	" SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::jsonb[], $5::text[], $6::jsonb[], $7::text[])",
7, {TEXTARRAYOID, INT4ARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TEXTARRAYOID}};

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

/* engine: who owns an existing instance id */
static DxPlan instance_owner_plan = {NULL,
	"SELECT owner::oid FROM duroxide.instances WHERE instance_id = $1",
1, {TEXTOID}};

/* the running children of $1: all of them, or only the one with id $3 */
static DxPlan cancel_children_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)"
	" SELECT instance_id, 'CancelRequested', $2 FROM duroxide.instances"
	"  WHERE status = 'Running' AND parent_instance_id = $1 AND ($3 IS NULL OR instance_id = $3)",
3, {TEXTOID, JSONBOID, TEXTOID}};

static DxPlan withdraw_activities_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE instance_id = $1 AND claim_boot IS NULL",
1, {TEXTOID}};

static DxPlan next_due_plan = {NULL,
	"SELECT (extract(epoch FROM min(visible_at) - clock_timestamp()) * 1000)::bigint"
	"  FROM duroxide.orchestrator_queue WHERE visible_at > now()",
0, {0}};

/* ------------------------------------------------------------------------
 * Claims
 * ------------------------------------------------------------------------ */


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


/* ------------------------------------------------------------------------
 * The batch's writes
 * ------------------------------------------------------------------------ */

/* everything the turns of a batch write, flushed set-based */
typedef struct Writes
{
	/* duroxide.history */
	DatumList	h_inst, h_exec, h_id, h_type, h_src, h_data;
	/* duroxide.worker_queue */
	DatumList	w_inst, w_exec, w_aid, w_name, w_input, w_attempt, w_timeout, w_oname, w_over, w_due;
	/* duroxide.orchestrator_queue inserts and deletes */
	DatumList	m_inst, m_exec, m_kind, m_src, m_data, m_due;
	DatumList	consumed;
	DatumList	terminal;
	DatumList	settled;		/* terminal instances: claim released, nothing else */
	/* duroxide.instances */
	DatumList	u_id, u_status, u_output, u_error, u_css, u_cs, u_exec, u_version, u_input, u_mark, u_wait,
				u_hlen;
	/* duroxide.executions (one row per ended execution) */
	DatumList	e_inst, e_exec, e_version, e_input, e_status, e_output, e_error;
} Writes;

/* forget what was added since saved (lists keep their current arrays) */
static void
TruncateWrites(Writes *w, const Writes *saved)
{
	DatumList  *cur = (DatumList *) w;
	const DatumList *old = (const DatumList *) saved;

	for (size_t i = 0; i < sizeof(Writes) / sizeof(DatumList); i++)
		cur[i].n = old[i].n;
}

/* a nullable text datum */
static inline void
DlText(DatumList *l, const char *s)
{
	DlAdd(l, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

/* a nullable jsonb datum */
static inline void
DlJsonb(DatumList *l, Jsonb *j)
{
	DlAdd(l, j ? JsonbPGetDatum(j) : (Datum) 0, j == NULL);
}

/* queue a message for some instance */
static void
AddMessage(Writes *w, const char *instance_id, int32 execution_id, const char *kind,
		   int64 source_id, Jsonb *data, TimestampTz due_at)
{
	DlText(&w->m_inst, instance_id);
	DlAdd(&w->m_exec, Int32GetDatum(execution_id), execution_id == 0);
	DlText(&w->m_kind, kind);
	DlAdd(&w->m_src, Int64GetDatum(source_id), source_id == 0);
	DlJsonb(&w->m_data, data);
	DlAdd(&w->m_due, TimestampTzGetDatum(due_at), due_at == 0);
}

/* execute a flush statement if its first list is not empty */
static void
Flush(DxPlan *plan, DatumList **lists, Oid *types, int n, int expected, const char *what)
{
	Datum		values[12];

	if (lists[0]->n == 0)
		return;
	for (int i = 0; i < n; i++)
		values[i] = DlArray(lists[i], types[i]);
	DxExpect(DxExecPlan(plan, values, NULL, false, 0), expected, what);
}

/* write everything the batch's turns produced */
static void
FlushWrites(Writes *w, int slot)
{
	{
		DatumList  *l[] = {&w->h_inst, &w->h_exec, &w->h_id, &w->h_type, &w->h_src, &w->h_data};
		Oid			t[] = {TEXTOID, INT4OID, INT8OID, TEXTOID, INT8OID, JSONBOID};

		Flush(&insert_history_plan, l, t, 6, SPI_OK_INSERT, "history insert");
	}
	{
		DatumList  *l[] = {&w->w_inst, &w->w_exec, &w->w_aid, &w->w_name, &w->w_input, &w->w_attempt,
		&w->w_timeout, &w->w_oname, &w->w_over, &w->w_due};
		Oid			t[] = {TEXTOID, INT4OID, INT8OID, TEXTOID, JSONBOID, INT4OID, INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID};

		Flush(&insert_activities_plan, l, t, 10, SPI_OK_INSERT, "activity insert");
	}
	{
		DatumList  *l[] = {&w->consumed};
		Oid			t[] = {INT8OID};

		Flush(&delete_messages_plan, l, t, 1, SPI_OK_DELETE, "message delete");
	}
	{
		DatumList  *l[] = {&w->terminal};
		Oid			t[] = {TEXTOID};

		Flush(&delete_terminal_messages_plan, l, t, 1, SPI_OK_DELETE, "queue cleanup");
	}
	{
		DatumList  *l[] = {&w->settled};
		Oid			t[] = {TEXTOID};

		Flush(&settle_plan, l, t, 1, SPI_OK_UPDATE, "claim release");
	}
	{
		DatumList  *l[] = {&w->m_inst, &w->m_exec, &w->m_kind, &w->m_src, &w->m_data, &w->m_due};
		Oid			t[] = {TEXTOID, INT4OID, TEXTOID, INT8OID, JSONBOID, TIMESTAMPTZOID};

		Flush(&insert_messages_plan, l, t, 6, SPI_OK_INSERT, "message insert");
	}
	{
		DatumList  *l[] = {&w->e_inst, &w->e_exec, &w->e_version, &w->e_input, &w->e_status, &w->e_output, &w->e_error};
		Oid			t[] = {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, JSONBOID, TEXTOID};

		Flush(&insert_executions_plan, l, t, 7, SPI_OK_INSERT, "execution insert");
	}
	if (w->u_id.n > 0)
	{
		Datum		values[14];
		DatumList  *l[] = {&w->u_id, &w->u_status, &w->u_output, &w->u_error, &w->u_css, &w->u_cs,
		&w->u_exec, &w->u_version, &w->u_input, &w->u_mark, &w->u_wait, &w->u_hlen};
		Oid			t[] = {TEXTOID, TEXTOID, JSONBOID, TEXTOID, BOOLOID, JSONBOID, INT4OID, TEXTOID, JSONBOID,
		INT4OID, JSONBOID, INT4OID};

		for (int i = 0; i < 12; i++)
			values[i] = DlArray(l[i], t[i]);
		values[12] = Int64GetDatum(DxBootId());
		values[13] = Int32GetDatum(slot);
		DxExpect(DxExecPlan(&update_instances_plan, values, NULL, false, 0), SPI_OK_UPDATE, "instance update");
		if (SPI_processed != (uint64) w->u_id.n)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("duroxide: %d of %d claimed instances changed under their turn",
							w->u_id.n - (int) SPI_processed, w->u_id.n),
					 errdetail("An instance was deleted or its claim released while its turn ran.")));
	}
}


/* ------------------------------------------------------------------------
 * Claiming and loading
 * ------------------------------------------------------------------------ */

/* read the claimed instance rows of the last claim into insts[from..] */
static void
ReadClaimed(Instance *insts, int from)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[from + r];
		int			i = (int) r;
		bool		isnull;

		inst->instance_id = GetText(i, 1);
		inst->name = GetText(i, 2);
		inst->version = GetText(i, 3);
		inst->status = GetText(i, 4);
		inst->execution_id = (int32) GetInt(i, 5, 1);
		inst->input = GetJsonb(i, 6);
		inst->parent_instance_id = GetText(i, 7);
		inst->parent_execution_id = (int32) GetInt(i, 8, 0);
		inst->parent_event_id = GetInt(i, 9, 0);
		inst->replay_mark = (int) GetInt(i, 10, -1);
		inst->claim_count = (int) GetInt(i, 11, 0);
		inst->owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 12, &isnull));
		inst->waiting_on = GetJsonb(i, 13);
		inst->history_len = (int) GetInt(i, 14, 0);
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
static int
ClaimInstances(int slot, bool suspect, int limit, MemoryContext cxt, void **out)
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
		cvalues[1] = DlArray(&seen, TEXTOID);
		DxExpect(DxExecPlan(&candidates_plan, cvalues, NULL, true, 0), SPI_OK_SELECT, "candidate lookup");
		if (SPI_processed == 0)
			break;
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			old = MemoryContextSwitchTo(cxt);
			id = datumCopy(id, false, -1);
			DlAdd(&cands, id, false);
			DlAdd(&seen, id, false);
			MemoryContextSwitchTo(old);
			rows += GetInt((int) i, 2, 0);
		}
		values[2] = DlArray(&cands, TEXTOID);
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

/* ------------------------------------------------------------------------
 * History cache
 *
 * Every turn replays the whole current execution, so long histories would be
 * read back from duroxide.history on every turn.  A dispatcher keeps the
 * histories of the instances it ran, each under the instance's incarnation
 * (created_at), execution and length.  An entry serves a turn only when all
 * three equal the claimed instance row: history is append-only within an
 * execution, continue-as-new moves to a new execution and a deleted and
 * re-created id gets a new created_at, so a matching entry holds exactly the
 * rows in the table.  Entries are written only after the batch's
 * transaction committed (DxDispatcherWork.committed).  Short histories are
 * cheap to read and are not kept.
 *
 * Memory: the cache holds at most duroxide.history_cache_size (each entry's
 * memory context counted with its overhead); least recently used entries go
 * first.  While a batch runs, its instances borrow their entries' rows
 * (inst->hist = e->rows), so nothing is freed then: entries change only in
 * Committed(), which first stores every instance of the batch (reading the
 * borrowed rows) and evicts only after the last one.  A deleted entry is
 * never borrowed again, since the batch's instances are done with theirs.
 * ------------------------------------------------------------------------ */

#define DX_HIST_KEY_LEN 1100
#define DX_HIST_MIN_ROWS 32

typedef struct HistEntry
{
	char		key[DX_HIST_KEY_LEN];
	TimestampTz created_at;
	int32		execution_id;
	int			n;
	int			max;
	HistRow    *rows;
	MemoryContext cxt;
	Size		bytes;			/* cxt's memory, as last counted */
	dlist_node	lru;			/* in hist_lru, most recently used last */
} HistEntry;

static HTAB *hist_cache = NULL;
static MemoryContext hist_cxt = NULL;
static Size hist_bytes = 0;		/* the entries' memory */
static dlist_head hist_lru = DLIST_STATIC_INIT(hist_lru);
static MemoryContext stage_cxt = NULL;	/* where turns stage their new events */

/* duroxide.history_cache_size in bytes */
static Size
HistLimit(void)
{
	return (Size) duroxide_history_cache_size * 1024;
}

/* the cache entry that holds exactly this instance's current history, or NULL */
static HistEntry *
HistLookup(Instance *inst)
{
	HistEntry  *e;

	if (hist_cache == NULL || strlen(inst->instance_id) >= DX_HIST_KEY_LEN)
		return NULL;
	e = hash_search(hist_cache, inst->instance_id, HASH_FIND, NULL);
	if (e == NULL || e->created_at != inst->created_at || e->execution_id != inst->execution_id ||
		e->n != inst->history_len)
		return NULL;
	/* used: to the recent end */
	dlist_delete(&e->lru);
	dlist_push_tail(&hist_lru, &e->lru);
	return e;
}

/* forget an entry (never while a running batch borrows its rows) */
static void
HistDelete(HistEntry *e)
{
	hist_bytes -= e->bytes;
	dlist_delete(&e->lru);
	MemoryContextDelete(e->cxt);
	(void) hash_search(hist_cache, e->key, HASH_REMOVE, NULL);
}

/* forget an instance */
static void
HistDrop(const char *instance_id)
{
	HistEntry  *e;

	if (hist_cache == NULL || strlen(instance_id) >= DX_HIST_KEY_LEN)
		return;
	e = hash_search(hist_cache, instance_id, HASH_FIND, NULL);
	if (e != NULL)
		HistDelete(e);
}

/* count an entry's memory again after it changed */
static void
HistRecount(HistEntry *e)
{
	Size		now = MemoryContextMemAllocated(e->cxt, true);

	hist_bytes = hist_bytes - e->bytes + now;
	e->bytes = now;
}

/* append rows to an entry, copying their data into its memory */
static void
HistAppend(HistEntry *e, HistRow *rows, int n)
{
	if (e->n + n > e->max)
	{
		e->max = Max(e->max * 2, e->n + n + 16);
		e->rows = e->rows ? repalloc(e->rows, sizeof(HistRow) * e->max)
			: MemoryContextAlloc(e->cxt, sizeof(HistRow) * e->max);
	}
	for (int i = 0; i < n; i++)
	{
		HistRow    *r = &e->rows[e->n++];

		*r = rows[i];
		if (rows[i].data)
		{
			r->data = MemoryContextAlloc(e->cxt, VARSIZE(rows[i].data));
			memcpy(r->data, rows[i].data, VARSIZE(rows[i].data));
		}
	}
	HistRecount(e);
}

/* evict least recently used entries until the cache fits its limit */
static void
HistEvict(void)
{
	while (hist_bytes > HistLimit() && !dlist_is_empty(&hist_lru))
		HistDelete(dlist_container(HistEntry, lru, dlist_head_node(&hist_lru)));
}

/*
 * The instance's history after its committed turn: loaded rows plus staged
 * ones.  Frees nothing another instance of the batch may still borrow: an
 * entry is replaced or dropped only for its own instance, and eviction
 * waits for the end of Committed().
 */
static void
HistStore(Instance *inst)
{
	HistEntry  *e = HistLookup(inst);	/* still matching the turn's start? */
	bool		found;

	if (inst->stage_drop || strlen(inst->instance_id) >= DX_HIST_KEY_LEN)
	{
		HistDrop(inst->instance_id);
		return;
	}
	if (inst->stage_exec != inst->execution_id)
	{
		HistDrop(inst->instance_id);	/* continue-as-new: a new, empty execution */
		return;
	}
	if (e != NULL && e->rows == inst->hist)
	{
		HistAppend(e, inst->stage_rows, inst->stage_n);
		return;
	}

	if (inst->nhist + inst->stage_n < DX_HIST_MIN_ROWS || HistLimit() == 0)
	{
		HistDrop(inst->instance_id);
		return;
	}
	if (hist_cache == NULL)
	{
		HASHCTL		ctl;

		hist_cxt = AllocSetContextCreate(TopMemoryContext, "duroxide history cache", ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = DX_HIST_KEY_LEN;
		ctl.entrysize = sizeof(HistEntry);
		ctl.hcxt = hist_cxt;
		hist_cache = hash_create("duroxide history cache", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		hist_bytes = 0;
	}
	HistDrop(inst->instance_id);
	e = hash_search(hist_cache, inst->instance_id, HASH_ENTER, &found);
	e->created_at = inst->created_at;
	e->execution_id = inst->execution_id;
	e->n = 0;
	e->max = 0;
	e->rows = NULL;
	e->bytes = 0;
	e->cxt = AllocSetContextCreate(hist_cxt, "duroxide history", ALLOCSET_SMALL_SIZES);
	dlist_push_tail(&hist_lru, &e->lru);
	HistAppend(e, inst->hist, inst->nhist);
	HistAppend(e, inst->stage_rows, inst->stage_n);
}

/* after the batch committed: bring the cache up to date (DxWorkKind.committed) */
static void
Committed(void *items, int n)
{
	Instance   *insts = (Instance *) items;

	for (int i = 0; i < n; i++)
		if (insts[i].stage)
			HistStore(&insts[i]);
	/* the batch borrows nothing any more */
	HistEvict();
}

/* after a successful turn: stage its new events for the cache */
static void
Stage(Instance *inst, DxTurn *t, TurnResult *r)
{
	MemoryContext old = MemoryContextSwitchTo(stage_cxt);

	inst->stage = true;
	inst->stage_drop = r->terminal;
	inst->stage_exec = r->execution_id;
	inst->stage_n = t->nevents - t->nloaded;
	inst->stage_rows = palloc(sizeof(HistRow) * (inst->stage_n + 1));
	for (int i = 0; i < inst->stage_n; i++)
	{
		DxEvent    *ev = &t->events[t->nloaded + i];
		HistRow    *h = &inst->stage_rows[i];

		h->event_id = ev->event_id;
		h->type = ev->type;
		h->source_id = ev->source_id;
		h->data = NULL;
		if (ev->data)
		{
			h->data = palloc(VARSIZE(ev->data));
			memcpy(h->data, ev->data, VARSIZE(ev->data));
		}
	}
	MemoryContextSwitchTo(old);
}

static void HistRows(Instance *insts, int *which);
static void LoadMessagesAndHistories(Instance *insts, int n);

/*
 * Read the visible messages and the current histories of claimed instances,
 * into the batch context (stage_cxt): an SPI call leaves CurrentMemoryContext
 * at SPI's procedure memory, which a commit frees, and histories outlive the
 * transaction in the history cache.
 */
static void
LoadBatch(Instance *insts, int n)
{
	MemoryContext old = MemoryContextSwitchTo(stage_cxt);

	LoadMessagesAndHistories(insts, n);
	MemoryContextSwitchTo(old);
}

/* LoadBatch's work (allocations land in the current context) */
static void
LoadMessagesAndHistories(Instance *insts, int n)
{
	DatumList	ids = {0};
	DatumList	execs = {0};
	Datum		values[2];

	for (int i = 0; i < n; i++)
	{
		DlText(&ids, insts[i].instance_id);
		DlAdd(&execs, Int32GetDatum(insts[i].execution_id), false);
	}
	values[0] = DlArray(&ids, TEXTOID);
	values[1] = DlArray(&execs, INT4OID);

	DxExpect(DxExecPlan(&messages_plan, values, NULL, false, 0), SPI_OK_SELECT, "message lookup");
	MemoryContextSwitchTo(stage_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[GetInt(r, 1, 1) - 1];
		Message    *m;

		if (inst->nmsgs == inst->maxmsgs)
		{
			inst->maxmsgs = inst->maxmsgs ? inst->maxmsgs * 2 : 8;
			inst->msgs = inst->msgs ? repalloc(inst->msgs, sizeof(Message) * inst->maxmsgs)
				: palloc(sizeof(Message) * inst->maxmsgs);
		}
		m = &inst->msgs[inst->nmsgs++];
		m->id = GetInt(r, 2, 0);
		m->execution_id = (int32) GetInt(r, 3, 0);
		m->kind = GetText(r, 4);
		m->source_id = GetInt(r, 5, 0);
		m->data = GetJsonb(r, 6);
	}
	SPI_freetuptable(SPI_tuptable);

	/* histories: from the cache where it holds them, else one query for the rest */
	{
		DatumList	mids = {0};
		DatumList	mexecs = {0};
		int		   *which = palloc(sizeof(int) * (n + 1));

		for (int i = 0; i < n; i++)
		{
			HistEntry  *e = HistLookup(&insts[i]);

			insts[i].stage = false;
			if (e != NULL)
			{
				/* read-only use: the cache changes only after commit */
				insts[i].hist = e->rows;
				insts[i].nhist = insts[i].maxhist = e->n;
				continue;
			}
			which[mids.n] = i;
			DlText(&mids, insts[i].instance_id);
			DlAdd(&mexecs, Int32GetDatum(insts[i].execution_id), false);
		}
		if (mids.n == 0)
			return;
		values[0] = DlArray(&mids, TEXTOID);
		values[1] = DlArray(&mexecs, INT4OID);
		DxExpect(DxExecPlan(&history_plan, values, NULL, false, 0), SPI_OK_SELECT, "history lookup");
		MemoryContextSwitchTo(stage_cxt);
		HistRows(insts, which);
	}
}

/* the rows of the history query, each to its instance (which: query position -> instance) */
static void
HistRows(Instance *insts, int *which)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[which[GetInt(r, 1, 1) - 1]];
		HistRow    *h;
		char	   *type;

		if (inst->nhist == inst->maxhist)
		{
			inst->maxhist = inst->maxhist ? inst->maxhist * 2 : 16;
			inst->hist = inst->hist ? repalloc(inst->hist, sizeof(HistRow) * inst->maxhist)
				: palloc(sizeof(HistRow) * inst->maxhist);
		}
		h = &inst->hist[inst->nhist++];
		h->event_id = GetInt(r, 2, 0);
		type = GetText(r, 3);
		h->type = DxEventTypeFromName(type);
		h->source_id = GetInt(r, 4, 0);
		h->data = GetJsonb(r, 5);
	}
	SPI_freetuptable(SPI_tuptable);
}

/* the error fields of an ActivityFailed message besides "error" (activity.c) */
static const char *const error_fields[] = {"sqlstate", "detail", "hint"};

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
			for (int k = 0; k < lengthof(error_fields); k++)
				if (DxJbGetText(m->data, error_fields[k]) != NULL)
					DxJbString(&b, error_fields[k], DxJbGetText(m->data, error_fields[k]));
			DxJbInt(&b, "retry_delay_ms", delay);
			DxTurnAppend(t, EV_ACTIVITY_ATTEMPT_FAILED, m->source_id, DxJbEnd(&b));

			memset(&a, 0, sizeof(a));
			a.kind = ACT_ACTIVITY;
			a.event_id = m->source_id;
			a.name = DxJbGetText(cmd->data, "name");
			a.input = DxJbGet(cmd->data, "input");
			a.attempt = (int) attempt + 1;
			a.due_at = delay > 0 ? TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay) : 0;
			a.timeout_ms = p.timeout_ms;
			if (deadline > 0 && (a.timeout_ms == 0 || a.timeout_ms > deadline - now_ms - delay))
				a.timeout_ms = Max(deadline - now_ms - delay, 1);
			DxTurnAddAction(t, &a);
			return;
		}
	}
	DxTurnAppend(t, EV_ACTIVITY_FAILED, m->source_id, m->data);
}

/*
 * Completion messages: the command each one completes and the event it
 * records.  A completion is applied only to a pending command of this kind
 * (and, for a child's, only when it comes from the child that command
 * created).  Self-contained: issue 11 moves it into protocol.c.
 */
typedef struct CompletionKind
{
	const char *kind;			/* orchestrator_queue.kind */
	DxEventType command;		/* the command it completes */
	DxEventType completion;		/* the history event it records */
} CompletionKind;

static const CompletionKind completion_kinds[] = {
	{"ActivityCompleted", EV_ACTIVITY_SCHEDULED, EV_ACTIVITY_COMPLETED},
	{"ActivityFailed", EV_ACTIVITY_SCHEDULED, EV_ACTIVITY_FAILED},
	{"TimerFired", EV_TIMER_CREATED, EV_TIMER_FIRED},
	{"SubOrchestrationCompleted", EV_SUB_ORCHESTRATION_SCHEDULED, EV_SUB_ORCHESTRATION_COMPLETED},
	{"SubOrchestrationFailed", EV_SUB_ORCHESTRATION_SCHEDULED, EV_SUB_ORCHESTRATION_FAILED},
};

/* the key of a child's completion message that names the child */
#define DX_CHILD_ID_KEY "child_instance_id"

/* the completion kind of a message kind, or NULL */
static const CompletionKind *
CompletionKindOf(const char *kind)
{
	for (size_t i = 0; i < lengthof(completion_kinds); i++)
		if (strcmp(completion_kinds[i].kind, kind) == 0)
			return &completion_kinds[i];
	return NULL;
}

/* true when a completion message matches the command at its source_event_id */
static bool
CompletionMatches(const CompletionKind *ck, DxEvent *cmd, Message *m)
{
	char	   *child;
	char	   *from;

	if (cmd->type != ck->command)
		return false;
	if (ck->command != EV_SUB_ORCHESTRATION_SCHEDULED)
		return true;
	child = DxJbGetText(cmd->data, "instance_id");
	from = m->data ? DxJbGetText(m->data, DX_CHILD_ID_KEY) : NULL;
	return child != NULL && from != NULL && strcmp(child, from) == 0;
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
		else
		{
			const CompletionKind *ck = CompletionKindOf(m->kind);
			DxEvent    *cmd = NULL;

			if (ck == NULL)
				ereport(WARNING,
						(errmsg("duroxide: ignoring message of unknown kind \"%s\" for instance \"%s\"",
								m->kind, t->instance_id)));
			else if (DxTurnHasCompletion(t, m->source_id) || (cmd = DxTurnEvent(t, m->source_id)) == NULL)
				continue;		/* duplicate, or for a task this execution never made */
			else if (!CompletionMatches(ck, cmd, m))
				ereport(WARNING,
						(errmsg("duroxide: ignoring %s message for instance \"%s\": it does not match the command at event " INT64_FORMAT,
								m->kind, t->instance_id, m->source_id),
						 errdetail("The event is a %s%s.", DxEventTypeName(cmd->type),
								   cmd->type == ck->command ? " of another child instance" : "")));
			else if (ck->completion == EV_ACTIVITY_FAILED)
				ApplyActivityFailure(t, m);
			else if (ck->completion == EV_TIMER_FIRED)
				DxTurnAppend(t, EV_TIMER_FIRED, m->source_id, NULL);
			else if (ck->command == EV_SUB_ORCHESTRATION_SCHEDULED)
				DxTurnAppend(t, ck->completion, m->source_id,	/* history keeps its format */
							 DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(m->data),
																CStringGetTextDatum(DX_CHILD_ID_KEY))));
			else
				DxTurnAppend(t, ck->completion, m->source_id, m->data);
		}
	}
	return cancel;
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


/* ------------------------------------------------------------------------
 * One turn
 * ------------------------------------------------------------------------ */

/* what CreateInstance found */
typedef enum CreateResult
{
	CREATED,					/* a new instance */
	EXISTS_OWN,					/* the id exists and has the same owner */
	EXISTS_OTHER				/* the id exists and belongs to another role */
} CreateResult;

/*
 * Create an instance through duroxide._create_instance.  An existing id is
 * left alone; the result says whose it is (a vanished one counts as own).
 */
static CreateResult
CreateInstance(DxAction *a, Instance *inst, bool child, int32 parent_exec)
{
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bool		isnull;
	Oid			owner;

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
	if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
		return CREATED;
	DxExpect(DxExecPlan(&instance_owner_plan, values, NULL, true, 1), SPI_OK_SELECT, "instance owner lookup");
	if (SPI_processed == 0)
		return EXISTS_OWN;
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return owner == inst->owner ? EXISTS_OWN : EXISTS_OTHER;
}

/* true when a later action of the turn cancels this task */
static bool
CancelledInTurn(DxTurn *t, DxAction *a, DxActionKind cancel_kind)
{
	ListCell   *lc;

	foreach(lc, t->actions)
	{
		DxAction   *c = (DxAction *) lfirst(lc);

		if (c->kind == cancel_kind && c->event_id == a->event_id)
			return true;
	}
	return false;
}

/*
 * Perform the side effects the turn asked for.  Inserts are buffered until
 * the batch's write, so a task scheduled and cancelled in the same turn is
 * simply not inserted; one scheduled in an earlier turn is deleted now.  A
 * turn that ends its instance queues no timers for it, and no activities
 * unless it completed (a completed orchestration's unawaited activities
 * still run).
 */
static void
PerformActions(DxTurn *t, Instance *inst, Writes *w, TurnResult *r)
{
	ListCell   *lc;
	bool		ended = strcmp(r->status, "Running") != 0 || r->execution_id != inst->execution_id;

	foreach(lc, t->actions)
	{
		DxAction   *a = (DxAction *) lfirst(lc);
		Datum		values[3];

		if ((a->kind == ACT_ACTIVITY &&
			 ((ended && strcmp(r->status, "Completed") != 0) || CancelledInTurn(t, a, ACT_CANCEL_ACTIVITY))) ||
			(a->kind == ACT_TIMER && (ended || CancelledInTurn(t, a, ACT_CANCEL_TIMER))))
			continue;
		if ((a->kind == ACT_CANCEL_ACTIVITY || a->kind == ACT_CANCEL_TIMER) &&
			a->event_id > (t->nloaded > 0 ? t->events[t->nloaded - 1].event_id : 0))
			continue;			/* scheduled in this turn: never inserted */

		values[0] = CStringGetTextDatum(t->instance_id);
		values[1] = Int32GetDatum(t->execution_id);
		switch (a->kind)
		{
			case ACT_ACTIVITY:
				DlText(&w->w_inst, t->instance_id);
				DlAdd(&w->w_exec, Int32GetDatum(t->execution_id), false);
				DlAdd(&w->w_aid, Int64GetDatum(a->event_id), false);
				DlText(&w->w_name, a->name);
				DlJsonb(&w->w_input, a->input);
				DlAdd(&w->w_attempt, Int32GetDatum(a->attempt), false);
				DlAdd(&w->w_timeout, Int64GetDatum(a->timeout_ms), false);
				DlText(&w->w_oname, t->name);
				DlText(&w->w_over, t->version);
				DlAdd(&w->w_due, TimestampTzGetDatum(a->due_at), a->due_at == 0);
				break;
			case ACT_TIMER:
				AddMessage(w, t->instance_id, t->execution_id, "TimerFired", a->event_id, NULL, a->due_at);
				break;
			case ACT_SUB_ORCHESTRATION:
				{
					CreateResult cr = CreateInstance(a, inst, true, t->execution_id);
					DxJsonBuilder b;

					if (cr == CREATED)
						break;
					/* the task fails; another role's instance is neither attached nor read */
					DxJbBegin(&b);
					DxJbString(&b, "error",
							   psprintf(cr == EXISTS_OTHER
										? "orchestration instance \"%s\" already exists and belongs to another role"
										: "orchestration instance \"%s\" already exists", a->instance_id));
					DxJbString(&b, DX_CHILD_ID_KEY, a->instance_id);
					AddMessage(w, t->instance_id, t->execution_id, "SubOrchestrationFailed",
							   a->event_id, DxJbEnd(&b), 0);
				}
				break;
			case ACT_DETACHED:
				/* fire-and-forget: an existing id is left alone, the orchestration goes on */
				if (CreateInstance(a, inst, false, 0) == EXISTS_OTHER)
					ereport(WARNING,
							(errcode(ERRCODE_DUPLICATE_OBJECT),
							 errmsg("duroxide: orchestration instance \"%s\" did not start instance \"%s\" detached: "
									"that id already exists and belongs to another role",
									t->instance_id, a->instance_id)));
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
					/* only ever a child of this instance (values[0]) */
					values[1] = JsonbPGetDatum(DxJbEnd(&b));
					values[2] = CStringGetTextDatum(a->instance_id);
					DxExpect(DxExecPlan(&cancel_children_plan, values, NULL, false, 0),
							 SPI_OK_INSERT, "child cancellation");
				}
				break;
		}
	}
}

/* an execution ended other than by completing: withdraw its work, cancel its children */
static void
AbandonWork(Instance *inst, const char *status)
{
	Datum		values[3];
	DxJsonBuilder b;

	values[0] = CStringGetTextDatum(inst->instance_id);
	DxExpect(DxExecPlan(&withdraw_activities_plan, values, NULL, false, 0),
			 SPI_OK_DELETE, "activity withdrawal");
	DxJbBegin(&b);
	DxJbString(&b, "reason", psprintf("parent orchestration \"%s\" ended: %s", inst->instance_id, status));
	values[1] = JsonbPGetDatum(DxJbEnd(&b));
	values[2] = (Datum) 0;		/* all of them */
	DxExpect(DxExecPlan(&cancel_children_plan, values, "  n", false, 0), SPI_OK_INSERT, "child cancellation");
}

/* add the turn's history delta, consumed messages and instance row to the batch */
static void
AddTurnWrites(Writes *w, DxTurn *t, Instance *inst, TurnResult *r)
{
	for (int i = t ? t->nloaded : 0; t && i < t->nevents; i++)
	{
		DxEvent    *ev = &t->events[i];

		DlText(&w->h_inst, t->instance_id);
		DlAdd(&w->h_exec, Int32GetDatum(t->execution_id), false);
		DlAdd(&w->h_id, Int64GetDatum(ev->event_id), false);
		DlText(&w->h_type, DxEventTypeName(ev->type));
		DlAdd(&w->h_src, Int64GetDatum(ev->source_id), ev->source_id == 0);
		DlJsonb(&w->h_data, ev->data);
	}
	/* a terminal instance's messages all go (w->terminal below) */
	for (int i = 0; !r->terminal && i < inst->nmsgs; i++)
		DlAdd(&w->consumed, Int64GetDatum(inst->msgs[i].id), false);

	DlText(&w->u_id, inst->instance_id);
	DlText(&w->u_status, r->status);
	DlJsonb(&w->u_output, r->output);
	DlText(&w->u_error, r->error);
	DlAdd(&w->u_css, BoolGetDatum(t && t->custom_status_set), false);
	DlJsonb(&w->u_cs, t ? t->custom_status : NULL);
	DlAdd(&w->u_exec, Int32GetDatum(r->execution_id), false);
	DlText(&w->u_version, r->version);
	DlJsonb(&w->u_input, r->input);
	DlAdd(&w->u_mark, Int32GetDatum(r->replay_mark), false);
	DlJsonb(&w->u_wait, r->waiting_on);
	DlAdd(&w->u_hlen, Int32GetDatum(r->execution_id != inst->execution_id ? 0 : t->nevents), false);

	if (r->terminal || r->execution_id != inst->execution_id)
	{
		/* the execution that ran this turn has ended */
		DlText(&w->e_inst, inst->instance_id);
		DlAdd(&w->e_exec, Int32GetDatum(inst->execution_id), false);
		DlText(&w->e_version, inst->version);
		DlJsonb(&w->e_input, inst->input);
		DlText(&w->e_status, r->terminal ? r->status : "ContinuedAsNew");
		DlJsonb(&w->e_output, r->output);
		DlText(&w->e_error, r->error);
	}
	if (r->terminal)
	{
		DlText(&w->terminal, inst->instance_id);
		if (inst->parent_instance_id && inst->parent_event_id != 0)
		{
			DxJsonBuilder b;
			bool		ok = strcmp(r->status, "Completed") == 0;

			DxJbBegin(&b);
			if (ok && r->output)
				DxJbJsonb(&b, "result", r->output);
			else if (ok)
				DxJbNull(&b, "result");
			else
				DxJbString(&b, "error", r->error ? r->error : r->status);
			/* the parent applies it only from the child its command created */
			DxJbString(&b, DX_CHILD_ID_KEY, inst->instance_id);
			AddMessage(w, inst->parent_instance_id, inst->parent_execution_id,
					   ok ? "SubOrchestrationCompleted" : "SubOrchestrationFailed",
					   inst->parent_event_id, DxJbEnd(&b), 0);
		}
	}
	else if (r->execution_id != inst->execution_id)
		AddMessage(w, inst->instance_id, r->execution_id, "ExecutionStarted", 0, NULL, 0);
}

/* {"ids": [...], "any": bool}: what the await that suspended the turn waits for */
static Jsonb *
WaitingOn(DxTurn *t)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				v;

	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "ids";
	k.val.string.len = 3;
	(void) pushJsonbValue(&ps, WJB_KEY, &k);
	(void) pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < t->nwait; i++)
	{
		v.type = jbvNumeric;
		v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(t->wait_ids[i])));
		(void) pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	(void) pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	k.val.string.val = "any";
	(void) pushJsonbValue(&ps, WJB_KEY, &k);
	v.type = jbvBool;
	v.val.boolean = t->wait_any;
	(void) pushJsonbValue(&ps, WJB_VALUE, &v);
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Turn elision: true when running the function cannot get further than the
 * last turn did, so the new events are recorded without running it.  The
 * code before the await it suspended on depends only on the history it
 * already consumed (resolved awaits keep their results; new completions of
 * tasks nobody awaited yet change nothing), so the replay would suspend at
 * the same await unless the new events complete it.  That is decided from
 * history alone when every new message is a completion and the await waits
 * for no event subscription (whose matching depends on replay).
 */
static bool
CanElide(DxTurn *t, Instance *inst)
{
	JsonbValue *ids;
	JsonbValue *any;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			n = 0,
				done = 0;

	if (inst->waiting_on == NULL || inst->nmsgs == 0)
		return false;
	for (int i = 0; i < inst->nmsgs; i++)
	{
		const char *k = inst->msgs[i].kind;

		if (strcmp(k, "ActivityCompleted") != 0 && strcmp(k, "ActivityFailed") != 0 &&
			strcmp(k, "TimerFired") != 0 && strcmp(k, "SubOrchestrationCompleted") != 0 &&
			strcmp(k, "SubOrchestrationFailed") != 0)
			return false;
	}
	ids = getKeyJsonValueFromContainer(&inst->waiting_on->root, "ids", 3, NULL);
	any = getKeyJsonValueFromContainer(&inst->waiting_on->root, "any", 3, NULL);
	if (ids == NULL || ids->type != jbvBinary || any == NULL || any->type != jbvBool)
		return false;
	it = JsonbIteratorInit(ids->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int64		id;
		DxEvent    *cmd;

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvNumeric)
			return false;
		id = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v.val.numeric)));
		cmd = DxTurnEvent(t, id);
		if (cmd == NULL || cmd->type == EV_EVENT_SUBSCRIBED)
			return false;
		n++;
		if (DxTurnHasCompletion(t, id))
			done++;
	}
	return n > 0 && (any->val.boolean ? done == 0 : done < n);
}

/* run one turn of a claimed instance; adds its writes to w */
static void
RunTurn(Instance *inst, Writes *w, MemoryContext cxt)
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
			DlAdd(&w->consumed, Int64GetDatum(inst->msgs[i].id), false);
		DlText(&w->settled, inst->instance_id);
		inst->stage = true;
		inst->stage_drop = true;
		return;
	}
	DxSlotSetState(DX_STATE_BUSY, inst->instance_id);

	t = DxTurnCreate(cxt, inst->instance_id, inst->execution_id, inst->name, inst->version,
					 inst->parent_instance_id, inst->replay_mark);
	for (int i = 0; i < inst->nhist; i++)
		DxTurnLoadEvent(t, inst->hist[i].event_id, inst->hist[i].type, inst->hist[i].source_id,
						inst->hist[i].data);
	cancel = ApplyMessages(t, inst, inst->msgs, inst->nmsgs, &started);

	if (inst->claim_count > duroxide_max_attempts)
	{
		r.status = "Failed";
		r.error = psprintf("poison: a turn of this orchestration was started %d times without completing "
						   "(its process crashed or was stopped, or it hit a transient error, each time); "
						   "duroxide.max_attempts is %d",
						   inst->claim_count - 1, duroxide_max_attempts);
		AppendEnd(t, EV_ORCHESTRATION_FAILED, "error", NULL, r.error);
	}
	else if (cancel)
	{
		r.status = "Cancelled";
		r.error = cancel;
		AppendEnd(t, EV_ORCHESTRATION_CANCELLED, "reason", NULL, cancel);
	}
	else if (started && CanElide(t, inst))
	{
		/* the function would suspend where it did: record, do not run */
		r.waiting_on = inst->waiting_on;
		PerformActions(t, inst, w, &r);		/* retries from ApplyMessages */
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
		if (outcome == DX_OUTCOME_FAILED && t->nondeterministic == NULL && DxTransientError(t->call_error))
			ReThrowError(t->call_error);

		switch (outcome)
		{
			case DX_OUTCOME_SUSPENDED:
				r.replay_mark = t->resolved;
				r.waiting_on = t->nwait > 0 ? WaitingOn(t) : NULL;
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
									inst->instance_id, inst->name, error)));
				break;
			case DX_OUTCOME_CONTINUED_AS_NEW:
				{
					DxJsonBuilder b;

					DxJbBegin(&b);
					DxJbJsonb(&b, "input", t->can_input);
					DxJbString(&b, "version", t->can_version);
					DxTurnAppend(t, EV_CONTINUED_AS_NEW, 0, DxJbEnd(&b));
					r.execution_id = inst->execution_id + 1;
					r.version = t->can_version;
					r.input = t->can_input;
					r.replay_mark = -1;
				}
				break;
		}
		if (outcome != DX_OUTCOME_FAILED)
			PerformActions(t, inst, w, &r);
	}
	/* else: messages for an execution that has not started: consume them */

	r.terminal = strcmp(r.status, "Running") != 0;
	if (r.terminal && strcmp(r.status, "Completed") != 0)
		AbandonWork(inst, r.status);
	AddTurnWrites(w, t, inst, &r);
	Stage(inst, t, &r);
}

/*
 * Release the claims of some instances (their turns will be retried, as
 * suspects).  After a transient error their visible messages are also
 * hidden for a backoff that grows with the deliveries.
 */
static void
ReleaseClaims(Instance *insts, int n, bool transient)
{
	DatumList	ids = {0};
	Datum		values[2];

	for (int i = 0; i < n; i++)
		DlText(&ids, insts[i].instance_id);
	values[0] = DlArray(&ids, TEXTOID);
	DxExpect(DxExecPlan(&release_plan, values, NULL, false, 0), SPI_OK_UPDATE, "claim release");
	for (int i = 0; transient && i < n; i++)
	{
		values[0] = CStringGetTextDatum(insts[i].instance_id);
		values[1] = Int32GetDatum(DxTransientBackoffMs(insts[i].claim_count));
		DxExpect(DxExecPlan(&backoff_plan, values, NULL, false, 0), SPI_OK_UPDATE, "retry backoff");
	}
	DxSuspectsPending(DX_KIND_DISPATCHER);	/* their claim_count stays > 0 */
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
RunTurnIsolated(Instance *inst, Writes *w, MemoryContext turn_cxt)
{
	Writes		saved = *w;		/* list lengths to roll back to */
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		RunTurn(inst, w, turn_cxt);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;
		bool		transient;

		MemoryContextSwitchTo(old);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		transient = DxTransientError(e);
		ReportTurnError("turn", inst, e, transient);
		FreeErrorData(e);
		TruncateWrites(w, &saved);
		inst->stage = false;
		ReleaseClaims(inst, 1, transient);
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
		stage_cxt = cxt;
		LoadBatch(insts, n);
		for (int i = 0; i < n; i++)
			RunTurnIsolated(&insts[i], &w, turn_cxt);
		FlushWrites(&w, slot);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *e;

		MemoryContextSwitchTo(old);
		e = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
		*transient = DxTransientError(e);
		ReportTurnError("batch write", &insts[0], e, *transient);
		FreeErrorData(e);
		for (int i = 0; i < n; i++)
			insts[i].stage = false;
		ok = false;
	}
	PG_END_TRY();
	MemoryContextDelete(turn_cxt);
	return ok;
}

/* run claimed instances; after a failed batch write, one instance per batch */
static void
RunInstances(void *items, int n, int slot, MemoryContext cxt)
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
				ReleaseClaims(&insts[i], 1, transient);
		}
		if (n == 1)
			ReleaseClaims(insts, 1, transient);
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
const DxWorkKind DxDispatcherWork = {
	.kind = DX_KIND_DISPATCHER,
	.worker_name = "dispatcher",
	.item_name = "instance",
	.claim_what = "duroxide: claiming instances",
	.run_what = "duroxide: running turns",
	.suspect_claim_what = "duroxide: claiming a suspect instance",
	.suspect_run_what = "duroxide: running a suspect turn alone",
	.claim = ClaimInstances,
	.run = RunInstances,
	.next_due = &next_due_plan,
	.next_suspect_due = &next_suspect_due_plan,
	.recover = &recover_plan,
	.committed = Committed,
	.unclaim = &unclaim_plan,
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
