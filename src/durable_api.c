/*-------------------------------------------------------------------------
 * durable_api.c
 *		The SQL-callable durable functions that orchestration code calls:
 *		schedule_* and start_orchestration_detached, await / await_all /
 *		await_all_settled / await_any, continue_as_new, utc_now, new_guid,
 *		is_replaying, set_custom_status and _trace.  Each checks that it runs
 *		inside a turn of the instance its context names, matches itself with
 *		history through replay.c, and records what is new.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "compat.h"
#include "guc.h"
#include "protocol.h"
#include "registry.h"
#include "replay.h"
#include "replay_internal.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_schedule_activity);
PG_FUNCTION_INFO_V1(duroxide_schedule_activity_with_retry);
PG_FUNCTION_INFO_V1(duroxide_schedule_timer);
PG_FUNCTION_INFO_V1(duroxide_schedule_wait_for_event);
PG_FUNCTION_INFO_V1(duroxide_schedule_sub_orchestration);
PG_FUNCTION_INFO_V1(duroxide_start_orchestration_detached);
PG_FUNCTION_INFO_V1(duroxide_await);
PG_FUNCTION_INFO_V1(duroxide_call_activity);
PG_FUNCTION_INFO_V1(duroxide_call_activity_with_retry);
PG_FUNCTION_INFO_V1(duroxide_await_all);
PG_FUNCTION_INFO_V1(duroxide_await_all_settled);
PG_FUNCTION_INFO_V1(duroxide_await_any);
PG_FUNCTION_INFO_V1(duroxide_continue_as_new);
PG_FUNCTION_INFO_V1(duroxide_utc_now);
PG_FUNCTION_INFO_V1(duroxide_new_guid);
PG_FUNCTION_INFO_V1(duroxide_is_replaying);
PG_FUNCTION_INFO_V1(duroxide_set_custom_status);
PG_FUNCTION_INFO_V1(duroxide_trace);

/* ------------------------------------------------------------------------
 * Arguments and results
 * ------------------------------------------------------------------------ */

/* the running turn for a context argument, or an error */
static DxTurn *
CurrentTurn(FunctionCallInfo fcinfo, const char *fname)
{
	DxTurn	   *t = dx_running_turn;
	HeapTupleHeader ctx;
	bool		isnull;
	Datum		d;

	if (t == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s can only be called by an orchestration function run by duroxide", fname),
				 errhint("Start the orchestration with duroxide.start_orchestration().")));
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: the context argument must not be null", fname)));
	if (t->ended)
		DxTurnUnwind(t);
	ctx = PG_GETARG_HEAPTUPLEHEADER(0);
	d = GetAttributeByNum(ctx, 1, &isnull);
	if (isnull || strcmp(TextDatumGetCString(d), t->instance_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the context does not belong to the running instance \"%s\"",
						fname, t->instance_id)));
	return t;
}

/* the running turn for functions whose first argument is a task */
static DxTurn *
TurnForTask(const char *fname)
{
	if (dx_running_turn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s can only be called by an orchestration function run by duroxide", fname)));
	if (dx_running_turn->ended)
		DxTurnUnwind(dx_running_turn);
	return dx_running_turn;
}

/* the blessed result row type of a function, cached for its call site */
static TupleDesc
ResultTupleDesc(FunctionCallInfo fcinfo)
{
	TupleDesc	tupdesc;

	if (fcinfo->flinfo->fn_extra != NULL)
		return (TupleDesc) fcinfo->flinfo->fn_extra;
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "duroxide: return type must be a row type");
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		tupdesc = BlessTupleDesc(CreateTupleDescCopy(tupdesc));
		MemoryContextSwitchTo(old);
	}
	fcinfo->flinfo->fn_extra = tupdesc;
	return tupdesc;
}

/* build a duroxide.task datum */
static Datum
MakeTask(FunctionCallInfo fcinfo, DxTurn *t, int64 task_id, DxEventType type)
{
	TupleDesc	tupdesc = ResultTupleDesc(fcinfo);
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};

	values[0] = CStringGetTextDatum(t->instance_id);
	values[1] = Int32GetDatum(t->execution_id);
	values[2] = Int64GetDatum(task_id);
	values[3] = CStringGetTextDatum(DxEventTaskKind(type));
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* a text argument that must be present */
static char *
RequiredText(FunctionCallInfo fcinfo, int argno, const char *fname, const char *what)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s: %s must not be null", fname, what)));
	s = TextDatumGetCString(PG_GETARG_DATUM(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: %s must not be empty", fname, what)));
	return s;
}

/* an optional jsonb argument copied into the turn's memory */
static Jsonb *
OptionalJsonb(FunctionCallInfo fcinfo, DxTurn *t, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return NULL;
	{
		Jsonb	   *j = PG_GETARG_JSONB_P(argno);
		Jsonb	   *copy = MemoryContextAlloc(t->cxt, VARSIZE(j));

		memcpy(copy, j, VARSIZE(j));
		return copy;
	}
}

/* the tasks of a duroxide.task[] argument */
static int
TaskArray(FunctionCallInfo fcinfo, Datum **elems)
{
	ArrayType  *arr;
	bool	   *nulls;
	int			n;
	int16		typlen;
	bool		typbyval;
	char		typalign;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duroxide: the task array must not be null")));
	arr = PG_GETARG_ARRAYTYPE_P(0);
	get_typlenbyvalalign(ARR_ELEMTYPE(arr), &typlen, &typbyval, &typalign);
	deconstruct_array(arr, ARR_ELEMTYPE(arr), typlen, typbyval, typalign, elems, &nulls, &n);
	for (int i = 0; i < n; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("duroxide: the task array must not contain nulls")));
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duroxide: the task array must not be empty")));
	return n;
}

/* ------------------------------------------------------------------------
 * Scheduling
 * ------------------------------------------------------------------------ */

/* check that an activity is registered and the owner may use it (live scheduling only) */
static void
CheckActivityRegistered(const char *name)
{
	DxFunctionInfo fi;

	if (!DxLookupActivity(name, &fi))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("activity \"%s\" is not registered", name),
				 errhint("Register it with duroxide.register_activity(name, function).")));
	DxCheckMayUse(&fi, psprintf("activity \"%s\"", name));
}

/* schedule_activity and schedule_activity_with_retry: the command's event id */
static int64
ScheduleActivityId(FunctionCallInfo fcinfo, const char *fname, bool with_retry, DxTurn **turn)
{
	DxTurn	   *t = *turn = CurrentTurn(fcinfo, fname);
	char	   *name = RequiredText(fcinfo, 1, fname, "activity name");
	Jsonb	   *input = OptionalJsonb(fcinfo, t, 2);
	Jsonb	   *retry = with_retry ? OptionalJsonb(fcinfo, t, 3) : NULL;
	DxEvent    *ev = DxReplayCommand(t, EV_ACTIVITY_SCHEDULED, name, input, true);
	int64		id;

	if (ev != NULL)
		id = ev->event_id;
	else
	{
		DxRetryPolicy policy;
		DxJsonBuilder b;
		DxAction	a;
		MemoryContext old;

		if (with_retry && retry == NULL)
			DxBadRetryPolicy("the policy must not be null");
		if (with_retry)
			DxParseRetryPolicy(retry, &policy);
		DxCheckPayload("activity input", input);
		CheckActivityRegistered(name);

		old = MemoryContextSwitchTo(t->cxt);
		DxJbBegin(&b);
		DxJbString(&b, "name", name);
		DxJbJsonb(&b, "input", input);
		if (with_retry)
		{
			DxJbJsonb(&b, "retry", retry);
			if (policy.total_timeout_ms > 0)
				DxJbInt(&b, "deadline_ms", DxRetryDeadline(&policy));
		}
		id = DxRecordCommand(t, EV_ACTIVITY_SCHEDULED, DxJbEnd(&b));

		memset(&a, 0, sizeof(a));
		a.kind = ACT_ACTIVITY;
		a.event_id = id;
		a.name = pstrdup(name);
		a.input = input;
		a.attempt = 1;
		a.timeout_ms = with_retry ? DxRetryFirstTimeout(&policy) : 0;
		DxTurnAddAction(t, &a);
		MemoryContextSwitchTo(old);
	}
	return id;
}

/* schedule_activity and schedule_activity_with_retry: the task */
static Datum
ScheduleActivity(FunctionCallInfo fcinfo, const char *fname, bool with_retry)
{
	DxTurn	   *t;
	int64		id = ScheduleActivityId(fcinfo, fname, with_retry, &t);

	return MakeTask(fcinfo, t, id, EV_ACTIVITY_SCHEDULED);
}

/* SQL: duroxide.schedule_activity(ctx, name, input) */
Datum
duroxide_schedule_activity(PG_FUNCTION_ARGS)
{
	return ScheduleActivity(fcinfo, "duroxide.schedule_activity", false);
}

/* SQL: duroxide.schedule_activity_with_retry(ctx, name, input, retry) */
Datum
duroxide_schedule_activity_with_retry(PG_FUNCTION_ARGS)
{
	return ScheduleActivity(fcinfo, "duroxide.schedule_activity_with_retry", true);
}

/* SQL: duroxide.schedule_timer(ctx, delay_ms) */
Datum
duroxide_schedule_timer(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.schedule_timer");
	int64		delay;
	DxEvent    *ev;
	int64		id;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duroxide.schedule_timer: delay_ms must not be null")));
	delay = PG_GETARG_INT64(1);
	if (delay < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duroxide.schedule_timer: delay_ms must not be negative (got " INT64_FORMAT ")", delay)));
	ev = DxReplayCommand(t, EV_TIMER_CREATED, NULL, NULL, false);
	if (ev != NULL)
	{
		int64		rec = -1;

		(void) DxJbGetInt(ev->data, "delay_ms", &rec);
		if (rec != delay)
			DxNondeterministic(t, "nondeterministic: call %d of the orchestration is a timer of " INT64_FORMAT " ms, but history recorded a timer of " INT64_FORMAT " ms",
							 t->cursor, delay, rec);
		id = ev->event_id;
	}
	else
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);
		DxJsonBuilder b;
		DxAction	a;
		TimestampTz fire_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), delay);

		DxJbBegin(&b);
		DxJbInt(&b, "delay_ms", delay);
		DxJbString(&b, "fire_at", timestamptz_to_str(fire_at));
		id = DxRecordCommand(t, EV_TIMER_CREATED, DxJbEnd(&b));
		memset(&a, 0, sizeof(a));
		a.kind = ACT_TIMER;
		a.event_id = id;
		a.due_at = fire_at;		/* the time history records */
		DxTurnAddAction(t, &a);
		MemoryContextSwitchTo(old);
	}
	return MakeTask(fcinfo, t, id, EV_TIMER_CREATED);
}

/* SQL: duroxide.schedule_wait_for_event(ctx, event_name) */
Datum
duroxide_schedule_wait_for_event(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.schedule_wait_for_event");
	char	   *name = RequiredText(fcinfo, 1, "duroxide.schedule_wait_for_event", "event name");
	DxEvent    *ev = DxReplayCommand(t, EV_EVENT_SUBSCRIBED, name, NULL, false);
	int64		id;

	if (ev != NULL)
		id = ev->event_id;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);
		DxJsonBuilder b;

		DxJbBegin(&b);
		DxJbString(&b, "name", name);
		id = DxRecordCommand(t, EV_EVENT_SUBSCRIBED, DxJbEnd(&b));
		MemoryContextSwitchTo(old);
	}
	return MakeTask(fcinfo, t, id, EV_EVENT_SUBSCRIBED);
}

/* resolve a version for a child or detached start, which the owner must be allowed to use (live only) */
static char *
ResolveVersion(const char *name, const char *version)
{
	char	   *v;
	DxFunctionInfo fi;

	SPI_connect();
	v = MemoryContextStrdup(dx_running_turn->cxt, DxResolveVersion(name, version));
	SPI_finish();
	if (DxLookupOrchestration(name, v, &fi))
		DxCheckMayUse(&fi, psprintf("orchestration \"%s\" version %s", name, v));
	return v;
}

/* shared by schedule_sub_orchestration and start_orchestration_detached */
static int64
StartChild(FunctionCallInfo fcinfo, DxTurn *t, const char *fname, bool detached,
		   int name_arg, int id_arg, int input_arg, int version_arg)
{
	char	   *name = RequiredText(fcinfo, name_arg, fname, "orchestration name");
	char	   *child_id = NULL;
	char	   *version = NULL;
	Jsonb	   *input = OptionalJsonb(fcinfo, t, input_arg);
	DxEventType type = detached ? EV_DETACHED_STARTED : EV_SUB_ORCHESTRATION_SCHEDULED;
	DxEvent    *ev;

	if (detached)
		child_id = RequiredText(fcinfo, id_arg, fname, "instance id");
	else if (!PG_ARGISNULL(id_arg))
		child_id = RequiredText(fcinfo, id_arg, fname, "instance id");
	if (!PG_ARGISNULL(version_arg))
		version = RequiredText(fcinfo, version_arg, fname, "version");

	ev = DxReplayCommand(t, type, name, input, true);
	if (ev != NULL)
	{
		char	   *rec_id = DxJbGetText(ev->data, "instance_id");

		if (child_id && rec_id && strcmp(child_id, rec_id) != 0)
			DxNondeterministic(t, "nondeterministic: call %d of the orchestration starts instance \"%s\", but history recorded \"%s\"",
							 t->cursor, child_id, rec_id);
		return ev->event_id;
	}
	else
	{
		MemoryContext old;
		DxJsonBuilder b;
		DxAction	a;
		int64		id;
		char	   *resolved;

		DxCheckPayload("orchestration input", input);
		resolved = ResolveVersion(name, version);

		old = MemoryContextSwitchTo(t->cxt);
		/* an automatic child id is derived from the parent and the call */
		id = (t->nevents > 0 ? t->events[t->nevents - 1].event_id + 1 : 1);
		if (child_id == NULL)
			child_id = psprintf("%s::%d::sub::" INT64_FORMAT, t->instance_id, t->execution_id, id);
		else
			child_id = pstrdup(child_id);
		DxJbBegin(&b);
		DxJbString(&b, "name", name);
		DxJbString(&b, "instance_id", child_id);
		DxJbString(&b, "version", resolved);
		DxJbJsonb(&b, "input", input);
		id = DxRecordCommand(t, type, DxJbEnd(&b));
		memset(&a, 0, sizeof(a));
		a.kind = detached ? ACT_DETACHED : ACT_SUB_ORCHESTRATION;
		a.event_id = id;
		a.name = pstrdup(name);
		a.instance_id = child_id;
		a.version = resolved;
		a.input = input;
		DxTurnAddAction(t, &a);
		MemoryContextSwitchTo(old);
		return id;
	}
}

/* SQL: duroxide.schedule_sub_orchestration(ctx, name, input, instance_id, version) */
Datum
duroxide_schedule_sub_orchestration(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.schedule_sub_orchestration");
	int64		id = StartChild(fcinfo, t, "duroxide.schedule_sub_orchestration", false, 1, 3, 2, 4);

	return MakeTask(fcinfo, t, id, EV_SUB_ORCHESTRATION_SCHEDULED);
}

/* SQL: duroxide.start_orchestration_detached(ctx, name, instance_id, input, version) */
Datum
duroxide_start_orchestration_detached(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.start_orchestration_detached");

	(void) StartChild(fcinfo, t, "duroxide.start_orchestration_detached", true, 1, 2, 3, 4);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Awaiting
 * ------------------------------------------------------------------------ */

/*
 * Raise the failure of a task as DX001 / DX002.  An activity's own error
 * keeps its SQLSTATE, detail and hint (recorded by activity.c): the SQLSTATE
 * and detail in the DX001 detail, the hint as the hint.
 */
DX_NORETURN static void
RaiseTaskFailure(TaskState *st)
{
	char	   *name = DxJbGetText(st->command->data, "name");
	bool		child = st->command->type == EV_SUB_ORCHESTRATION_SCHEDULED;
	char	   *sqlstate = st->failure ? DxJbGetText(st->failure, "sqlstate") : NULL;
	char	   *detail = st->failure ? DxJbGetText(st->failure, "detail") : NULL;
	char	   *hint = st->failure ? DxJbGetText(st->failure, "hint") : NULL;
	StringInfoData d;

	initStringInfo(&d);
	appendStringInfo(&d, "%s \"%s\" failed", child ? "Sub-orchestration" : "Activity", name ? name : "");
	if (sqlstate)
		appendStringInfo(&d, " with SQLSTATE %s", sqlstate);
	if (detail && detail[0])
		appendStringInfo(&d, ": %s", detail);
	else
		appendStringInfoChar(&d, '.');
	ereport(ERROR,
			(errcode(child ? ERRCODE_DX_CHILD_FAILED : ERRCODE_DX_ACTIVITY_FAILED),
			 errmsg("%s", st->error ? st->error : "task failed"),
			 errdetail("%s", d.data),
			 (hint && hint[0]) ? errhint("%s", hint) : 0));
}

/* SQL: duroxide.await(task) */
Datum
duroxide_await(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = TurnForTask("duroxide.await");
	TaskState	st;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("duroxide.await: the task must not be null")));
	DxGetTaskState(t, PG_GETARG_HEAPTUPLEHEADER(0), &st);
	if (!st.done)
		DxSuspend(t, &st, 1, false);
	(void) DxResolveAwait(t);
	if (st.failed)
		RaiseTaskFailure(&st);
	if (st.value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(st.value);
}

/*
 * call_activity and call_activity_with_retry: schedule_activity and await in
 * one call, with the fast path for a call whose result is recorded
 * (replay_fast.c); the same checks, errors and history as the two calls
 */
static Datum
CallActivity(FunctionCallInfo fcinfo, const char *fname, bool with_retry)
{
	DxTurn	   *t;
	TaskState	st;
	Jsonb	   *value;
	int64		id;

	if (DxReplayRecordedActivity(fcinfo, &value))
	{
		if (value == NULL)
			PG_RETURN_NULL();
		PG_RETURN_JSONB_P(value);
	}
	id = ScheduleActivityId(fcinfo, fname, with_retry, &t);
	DxGetTaskStateById(t, id, &st);
	if (!st.done)
		DxSuspend(t, &st, 1, false);
	(void) DxResolveAwait(t);
	if (st.failed)
		RaiseTaskFailure(&st);
	if (st.value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(st.value);
}

/* SQL: duroxide.call_activity(ctx, name, input) */
Datum
duroxide_call_activity(PG_FUNCTION_ARGS)
{
	return CallActivity(fcinfo, "duroxide.schedule_activity", false);
}

/* SQL: duroxide.call_activity_with_retry(ctx, name, input, retry) */
Datum
duroxide_call_activity_with_retry(PG_FUNCTION_ARGS)
{
	return CallActivity(fcinfo, "duroxide.schedule_activity_with_retry", true);
}

/* await_all and await_all_settled */
static Datum
AwaitAll(FunctionCallInfo fcinfo, bool settled)
{
	DxTurn	   *t = TurnForTask(settled ? "duroxide.await_all_settled" : "duroxide.await_all");
	Datum	   *elems;
	int			n = TaskArray(fcinfo, &elems);
	TaskState  *st = palloc(sizeof(TaskState) * n);
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			i;

	for (i = 0; i < n; i++)
		DxGetTaskState(t, DatumGetHeapTupleHeader(elems[i]), &st[i]);
	for (i = 0; i < n; i++)
		if (!st[i].done)
			DxSuspend(t, st, n, false);
	(void) DxResolveAwait(t);
	if (!settled)
		for (i = 0; i < n; i++)
			if (st[i].failed)
				RaiseTaskFailure(&st[i]);

	(void) pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		JsonbValue	v;

		if (settled)
		{
			DxJsonBuilder b;
			Jsonb	   *o;

			DxJbBegin(&b);
			if (st[i].failed)
				DxJbString(&b, "error", st[i].error);
			else if (st[i].value)
				DxJbJsonb(&b, "ok", st[i].value);
			else
				DxJbNull(&b, "ok");
			o = DxJbEnd(&b);
			v.type = jbvBinary;
			v.val.binary.data = &o->root;
			v.val.binary.len = VARSIZE(o) - VARHDRSZ;
		}
		else if (st[i].value)
		{
			v.type = jbvBinary;
			v.val.binary.data = &st[i].value->root;
			v.val.binary.len = VARSIZE(st[i].value) - VARHDRSZ;
		}
		else
			v.type = jbvNull;
		(void) pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}

/* SQL: duroxide.await_all(tasks) */
Datum
duroxide_await_all(PG_FUNCTION_ARGS)
{
	return AwaitAll(fcinfo, false);
}

/* SQL: duroxide.await_all_settled(tasks) */
Datum
duroxide_await_all_settled(PG_FUNCTION_ARGS)
{
	return AwaitAll(fcinfo, true);
}

/* cancel a task that lost an await_any (live only) */
static void
CancelLoser(DxTurn *t, TaskState *st)
{
	DxAction	a;

	memset(&a, 0, sizeof(a));
	a.event_id = st->command->event_id;
	switch (st->command->type)
	{
		case EV_ACTIVITY_SCHEDULED:
			a.kind = ACT_CANCEL_ACTIVITY;
			break;
		case EV_TIMER_CREATED:
			a.kind = ACT_CANCEL_TIMER;
			break;
		case EV_SUB_ORCHESTRATION_SCHEDULED:
			a.kind = ACT_CANCEL_CHILD;
			a.instance_id = DxJbGetText(st->command->data, "instance_id");
			break;
		default:
			return;				/* an event subscription has nothing queued */
	}
	DxTurnAddAction(t, &a);
}

/* SQL: duroxide.await_any(tasks, OUT index, OUT value) */
Datum
duroxide_await_any(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = TurnForTask("duroxide.await_any");
	Datum	   *elems;
	int			n = TaskArray(fcinfo, &elems);
	TaskState  *st = palloc(sizeof(TaskState) * n);
	int			winner = -1;
	int			i;
	bool		live;
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	for (i = 0; i < n; i++)
	{
		DxGetTaskState(t, DatumGetHeapTupleHeader(elems[i]), &st[i]);
		if (st[i].done && (winner < 0 || st[i].position < st[winner].position))
			winner = i;
	}
	if (winner < 0)
		DxSuspend(t, st, n, true);
	live = DxResolveAwait(t);
	/*
	 * Every non-winner is cancelled, whatever it did later: a rule that does
	 * not depend on timing, so replays agree (a lost subscription must not
	 * take an event that arrives after the race).  Only work still pending
	 * is withdrawn, once, when the await resolves live.
	 */
	for (i = 0; i < n; i++)
	{
		if (i == winner)
			continue;
		t->cancelled[st[i].cmdpos] = true;
		if (live && !st[i].done)
			CancelLoser(t, &st[i]);
	}
	if (st[winner].failed)
		RaiseTaskFailure(&st[winner]);

	tupdesc = ResultTupleDesc(fcinfo);
	values[0] = Int32GetDatum(winner + 1);
	if (st[winner].value)
		values[1] = JsonbPGetDatum(st[winner].value);
	else
		nulls[1] = true;
	return HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/* ------------------------------------------------------------------------
 * Other durable operations
 * ------------------------------------------------------------------------ */

/* SQL: duroxide.continue_as_new(ctx, input, version) */
Datum
duroxide_continue_as_new(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.continue_as_new");
	char	   *version = NULL;

	if (!PG_ARGISNULL(2))
		version = RequiredText(fcinfo, 2, "duroxide.continue_as_new", "version");
	version = ResolveVersion(t->name, version);
	t->can_input = OptionalJsonb(fcinfo, t, 1);
	DxCheckPayload("continue_as_new input", t->can_input);
	t->can_version = version;
	t->continue_as_new = true;
	DxTurnUnwind(t);
}

/* a recorded value: SystemCall {op, value} */
static Jsonb *
SystemCall(FunctionCallInfo fcinfo, const char *fname, const char *op, Jsonb *(*make) (void))
{
	DxTurn	   *t = CurrentTurn(fcinfo, fname);
	DxEvent    *ev = DxReplayCommand(t, EV_SYSTEM_CALL, op, NULL, false);

	if (ev == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);
		DxJsonBuilder b;
		Jsonb	   *value = make();

		DxJbBegin(&b);
		DxJbString(&b, "name", op);
		DxJbJsonb(&b, "value", value);
		(void) DxRecordCommand(t, EV_SYSTEM_CALL, DxJbEnd(&b));
		MemoryContextSwitchTo(old);
		return value;
	}
	return DxJbGet(ev->data, "value");
}

/* the current time as a jsonb string */
static Jsonb *
MakeNow(void)
{
	return DxJsonbString(timestamptz_to_str(GetCurrentTimestamp()));
}

/* a random uuid as a jsonb string */
static Jsonb *
MakeGuid(void)
{
	Datum		u = DirectFunctionCall1(gen_random_uuid, (Datum) 0);

	return DxJsonbString(DatumGetCString(DirectFunctionCall1(uuid_out, u)));
}

/* SQL: duroxide.utc_now(ctx) */
Datum
duroxide_utc_now(PG_FUNCTION_ARGS)
{
	Jsonb	   *v = SystemCall(fcinfo, "duroxide.utc_now", "utc_now", MakeNow);

	return DirectFunctionCall3(timestamptz_in, CStringGetDatum(DxJsonbScalarText(v)),
							   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
}

/* SQL: duroxide.new_guid(ctx) */
Datum
duroxide_new_guid(PG_FUNCTION_ARGS)
{
	Jsonb	   *v = SystemCall(fcinfo, "duroxide.new_guid", "new_guid", MakeGuid);

	return DirectFunctionCall1(uuid_in, CStringGetDatum(DxJsonbScalarText(v)));
}

/* SQL: duroxide.is_replaying(ctx) */
Datum
duroxide_is_replaying(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.is_replaying");

	PG_RETURN_BOOL(DxIsReplaying(t));
}

/* SQL: duroxide.set_custom_status(ctx, status) */
Datum
duroxide_set_custom_status(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.set_custom_status");

	t->custom_status = OptionalJsonb(fcinfo, t, 1);
	t->custom_status_set = true;
	PG_RETURN_VOID();
}

/* SQL: duroxide._trace(ctx duroxide.context, level, message) */
Datum
duroxide_trace(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.trace_*");
	DxLogLevel	level = DxLogLevelFromName(TextDatumGetCString(PG_GETARG_DATUM(1)));
	char	   *msg = PG_ARGISNULL(2) ? "" : TextDatumGetCString(PG_GETARG_DATUM(2));

	if (!DxIsReplaying(t) && DxLogEnabled(level))
		ereport(DxServerLevel(level),
				(errmsg("duroxide [%s] instance=%s execution=%d orchestration=%s: %s",
						TextDatumGetCString(PG_GETARG_DATUM(1)), t->instance_id,
						t->execution_id, t->name, msg),
				 errhidestmt(true), errhidecontext(true)));
	PG_RETURN_VOID();
}
