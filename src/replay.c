/*-------------------------------------------------------------------------
 * replay.c
 *		The replay engine: one orchestration turn, and the durable functions
 *		that orchestration code calls (schedule_*, await*, utc_now, ...).
 *
 * How a turn replays (see docs/DESIGN.md for the whole state machine):
 *
 *	  History is a sequence of events with dense ids 1, 2, 3, ...  Some are
 *	  *commands* (ActivityScheduled, TimerCreated, EventSubscribed,
 *	  SubOrchestrationScheduled, DetachedStarted, SystemCall), recorded when
 *	  the orchestration first made the call; the others are completions that
 *	  point at their command through source_event_id, or arrivals
 *	  (EventRaised).
 *
 *	  The function is run from the start.  The n-th durable call is matched
 *	  with the n-th recorded command: kind, name and input must be the same,
 *	  or the turn fails with "nondeterministic: ...".  A call beyond the
 *	  recorded ones is new: it is appended to history and its side effect
 *	  (an action) is handed to the dispatcher.  Scheduling never blocks.
 *
 *	  await* answers from history.  When a task is not done, the turn is
 *	  *suspended*: the engine sets t->suspended and t->ended and raises
 *	  SQLSTATE DX000 to unwind the function.  The engine's flags, not the
 *	  exception, decide the outcome: if user code catches DX000 with WHEN
 *	  OTHERS and goes on, every later durable call raises DX000 again, and a
 *	  normal return is still treated as a suspension.
 *
 *	  Determinism of await_any: the winner is the done task whose completion
 *	  (or matched event) has the lowest event id.  History is append-only,
 *	  so that answer never changes in later replays.
 *
 *	  Events: the k-th live subscription to event name X receives the k-th
 *	  arrival of X (subscriptions cancelled as await_any losers do not count),
 *	  so an event raised before anyone waits for it is kept.
 *
 *	  is_replaying: replay_mark is the number of awaits that had resolved
 *	  when the previous turn suspended.  Code runs "replaying" while no more
 *	  awaits than that have resolved; trace lines and the one-time side
 *	  effects of await_any (cancelling losers) happen only when live.
 *
 * Invariants: a turn's memory lives in t->cxt; durable functions are only
 * valid while dx_turn is set, i.e. inside DxTurnRun.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "parser/parse_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/uuid.h"

#include "compat.h"
#include "guc.h"
#include "registry.h"
#include "replay.h"
#include "sandbox.h"
#include "simple_expr.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_schedule_activity);
PG_FUNCTION_INFO_V1(duroxide_schedule_activity_with_retry);
PG_FUNCTION_INFO_V1(duroxide_schedule_timer);
PG_FUNCTION_INFO_V1(duroxide_schedule_wait_for_event);
PG_FUNCTION_INFO_V1(duroxide_schedule_sub_orchestration);
PG_FUNCTION_INFO_V1(duroxide_start_orchestration_detached);
PG_FUNCTION_INFO_V1(duroxide_await);
PG_FUNCTION_INFO_V1(duroxide_await_all);
PG_FUNCTION_INFO_V1(duroxide_await_all_settled);
PG_FUNCTION_INFO_V1(duroxide_await_any);
PG_FUNCTION_INFO_V1(duroxide_continue_as_new);
PG_FUNCTION_INFO_V1(duroxide_utc_now);
PG_FUNCTION_INFO_V1(duroxide_new_guid);
PG_FUNCTION_INFO_V1(duroxide_is_replaying);
PG_FUNCTION_INFO_V1(duroxide_set_custom_status);
PG_FUNCTION_INFO_V1(duroxide_trace);

/* the turn being run by this process, if any */
static DxTurn *dx_turn = NULL;

static const char *const event_type_names[EV__COUNT] = {
	[EV_UNKNOWN] = "Unknown",
	[EV_ORCHESTRATION_STARTED] = "OrchestrationStarted",
	[EV_ORCHESTRATION_COMPLETED] = "OrchestrationCompleted",
	[EV_ORCHESTRATION_FAILED] = "OrchestrationFailed",
	[EV_ORCHESTRATION_CANCELLED] = "OrchestrationCancelled",
	[EV_CONTINUED_AS_NEW] = "OrchestrationContinuedAsNew",
	[EV_ACTIVITY_SCHEDULED] = "ActivityScheduled",
	[EV_ACTIVITY_COMPLETED] = "ActivityCompleted",
	[EV_ACTIVITY_FAILED] = "ActivityFailed",
	[EV_ACTIVITY_ATTEMPT_FAILED] = "ActivityAttemptFailed",
	[EV_TIMER_CREATED] = "TimerCreated",
	[EV_TIMER_FIRED] = "TimerFired",
	[EV_EVENT_SUBSCRIBED] = "EventSubscribed",
	[EV_EVENT_RAISED] = "EventRaised",
	[EV_SUB_ORCHESTRATION_SCHEDULED] = "SubOrchestrationScheduled",
	[EV_SUB_ORCHESTRATION_COMPLETED] = "SubOrchestrationCompleted",
	[EV_SUB_ORCHESTRATION_FAILED] = "SubOrchestrationFailed",
	[EV_DETACHED_STARTED] = "DetachedOrchestrationStarted",
	[EV_SYSTEM_CALL] = "SystemCall",
};

/* task kinds as shown in duroxide.task.kind, by command type */
static const char *
TaskKindName(DxEventType type)
{
	switch (type)
	{
		case EV_ACTIVITY_SCHEDULED:
			return "activity";
		case EV_TIMER_CREATED:
			return "timer";
		case EV_EVENT_SUBSCRIBED:
			return "event";
		case EV_SUB_ORCHESTRATION_SCHEDULED:
			return "sub_orchestration";
		default:
			return "other";
	}
}

/* the stored name of an event type */
const char *
DxEventTypeName(DxEventType type)
{
	return (type > 0 && type < EV__COUNT) ? event_type_names[type] : "Unknown";
}

/* the event type of a stored name */
DxEventType
DxEventTypeFromName(const char *name)
{
	int			i;

	for (i = 1; i < EV__COUNT; i++)
		if (strcmp(event_type_names[i], name) == 0)
			return (DxEventType) i;
	return EV_UNKNOWN;
}

/* true for the event types that record a durable call */
static bool
IsCommand(DxEventType type)
{
	return type == EV_ACTIVITY_SCHEDULED || type == EV_TIMER_CREATED ||
		type == EV_EVENT_SUBSCRIBED || type == EV_SUB_ORCHESTRATION_SCHEDULED ||
		type == EV_DETACHED_STARTED || type == EV_SYSTEM_CALL;
}

/* true for the event types that complete a command */
static bool
IsCompletion(DxEventType type)
{
	return type == EV_ACTIVITY_COMPLETED || type == EV_ACTIVITY_FAILED ||
		type == EV_TIMER_FIRED || type == EV_SUB_ORCHESTRATION_COMPLETED ||
		type == EV_SUB_ORCHESTRATION_FAILED;
}

/* a new turn for one execution */
DxTurn *
DxTurnCreate(MemoryContext cxt, const char *instance_id, int32 execution_id,
			 const char *name, const char *version, const char *parent_instance_id,
			 int replay_mark)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	DxTurn	   *t = palloc0(sizeof(DxTurn));

	t->cxt = cxt;
	t->instance_id = pstrdup(instance_id);
	t->execution_id = execution_id;
	t->name = pstrdup(name);
	t->version = pstrdup(version);
	t->parent_instance_id = parent_instance_id ? pstrdup(parent_instance_id) : NULL;
	t->maxevents = 64;
	t->events = palloc(sizeof(DxEvent) * t->maxevents);
	t->ncompletion = 64;
	t->completion = palloc(sizeof(int) * t->ncompletion);
	memset(t->completion, -1, sizeof(int) * t->ncompletion);
	t->maxcommands = 32;
	t->commands = palloc(sizeof(int) * t->maxcommands);
	t->cancelled = palloc0(sizeof(bool) * t->maxcommands);
	t->replay_mark = replay_mark;
	MemoryContextSwitchTo(old);
	return t;
}

/* add an event to the in-memory history and index it */
static void
AddEvent(DxTurn *t, int64 event_id, DxEventType type, int64 source_id, Jsonb *data)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);
	DxEvent    *ev;

	if (t->nevents == t->maxevents)
	{
		t->maxevents *= 2;
		t->events = repalloc(t->events, sizeof(DxEvent) * t->maxevents);
	}
	ev = &t->events[t->nevents];
	ev->event_id = event_id;
	ev->type = type;
	ev->source_id = source_id;
	ev->data = data;
	ev->cmdpos = -1;
	ev->decoded = false;

	if (IsCompletion(type) && source_id > 0)
	{
		if (source_id >= t->ncompletion)
		{
			int			n = t->ncompletion;

			while (n <= source_id)
				n *= 2;
			t->completion = repalloc(t->completion, sizeof(int) * n);
			memset(t->completion + t->ncompletion, -1, sizeof(int) * (n - t->ncompletion));
			t->ncompletion = n;
		}
		if (t->completion[source_id] < 0)
			t->completion[source_id] = t->nevents;
	}
	if (IsCommand(type))
	{
		if (t->ncommands == t->maxcommands)
		{
			t->maxcommands *= 2;
			t->commands = repalloc(t->commands, sizeof(int) * t->maxcommands);
			t->cancelled = repalloc(t->cancelled, sizeof(bool) * t->maxcommands);
		}
		t->cancelled[t->ncommands] = false;
		ev->cmdpos = t->ncommands;
		t->commands[t->ncommands++] = t->nevents;
	}
	t->nevents++;
	MemoryContextSwitchTo(old);
}

/* add an event read from duroxide.history */
void
DxTurnLoadEvent(DxTurn *t, int64 event_id, DxEventType type, int64 source_id, Jsonb *data)
{
	AddEvent(t, event_id, type, source_id, data);
	t->nloaded = t->nevents;
}

/* append a new event; returns its id */
int64
DxTurnAppend(DxTurn *t, DxEventType type, int64 source_id, Jsonb *data)
{
	int64		id = t->nevents > 0 ? t->events[t->nevents - 1].event_id + 1 : 1;

	AddEvent(t, id, type, source_id, data);
	return id;
}

/* the event with an id, or NULL */
DxEvent *
DxTurnEvent(DxTurn *t, int64 event_id)
{
	int			i;

	/* ids are dense, so the index is normally event_id - 1 */
	if (event_id >= 1 && event_id <= t->nevents && t->events[event_id - 1].event_id == event_id)
		return &t->events[event_id - 1];
	for (i = 0; i < t->nevents; i++)
		if (t->events[i].event_id == event_id)
			return &t->events[i];
	return NULL;
}

/* decode a command's name and input once (replay reads them on every turn) */
static void
Decode(DxTurn *t, DxEvent *ev)
{
	if (!ev->decoded)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);

		ev->name = DxJbGetText(ev->data, "name");
		ev->input = DxJbGet(ev->data, "input");
		ev->decoded = true;
		MemoryContextSwitchTo(old);
	}
}

/* true when the command with this id already has its completion */
bool
DxTurnHasCompletion(DxTurn *t, int64 source_id)
{
	return source_id > 0 && source_id < t->ncompletion && t->completion[source_id] >= 0;
}

/* queue a side effect for the dispatcher */
void
DxTurnAddAction(DxTurn *t, DxAction *a)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);
	DxAction   *copy = palloc(sizeof(DxAction));

	memcpy(copy, a, sizeof(DxAction));
	t->actions = lappend(t->actions, copy);
	MemoryContextSwitchTo(old);
}

/* ------------------------------------------------------------------------
 * Entering a durable call
 * ------------------------------------------------------------------------ */

/* unwind the orchestration function: the turn is over */
DX_NORETURN static void
Unwind(DxTurn *t)
{
	t->ended = true;
	ereport(ERROR,
			(errcode(ERRCODE_DX_SUSPEND),
			 errmsg("duroxide: orchestration turn suspended"),
			 errdetail("This error ends the current turn of instance \"%s\"; the engine handles it.",
					   t->instance_id),
			 errhint("Do not swallow it with EXCEPTION WHEN OTHERS; catch SQLSTATE DX001 or DX002 instead.")));
}

/* fail the turn as nondeterministic */
DX_NORETURN static void
Nondeterministic(DxTurn *t, const char *fmt,...) pg_attribute_printf(2, 3);

static void
Nondeterministic(DxTurn *t, const char *fmt,...)
{
	va_list		ap;
	char		buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (t->nondeterministic == NULL)
		t->nondeterministic = MemoryContextStrdup(t->cxt, buf);
	t->ended = true;
	ereport(ERROR,
			(errcode(ERRCODE_DX_NONDETERMINISTIC),
			 errmsg("%s", buf)));
}

/* the running turn for a context argument, or an error */
static DxTurn *
CurrentTurn(FunctionCallInfo fcinfo, const char *fname)
{
	DxTurn	   *t = dx_turn;
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
		Unwind(t);
	ctx = PG_GETARG_HEAPTUPLEHEADER(0);
	d = GetAttributeByNum(ctx, 1, &isnull);
	if (isnull || strcmp(TextDatumGetCString(d), t->instance_id) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s: the context does not belong to the running instance \"%s\"",
						fname, t->instance_id)));
	return t;
}

/*
 * Match the next durable call with history.  Returns the recorded command
 * event, or NULL when the call is new (the caller then records it).
 */
static DxEvent *
ReplayCommand(DxTurn *t, DxEventType type, const char *name, Jsonb *input, bool compare_input)
{
	int			pos = t->cursor++;
	DxEvent    *ev;
	char	   *rec_name;

	if (pos >= t->ncommands)
		return NULL;
	ev = &t->events[t->commands[pos]];
	Decode(t, ev);
	rec_name = ev->name;
	if (ev->type != type)
		Nondeterministic(t, "nondeterministic: call %d of the orchestration is %s%s%s%s, but history recorded %s%s%s%s",
						 pos + 1, DxEventTypeName(type),
						 name ? " \"" : "", name ? name : "", name ? "\"" : "",
						 DxEventTypeName(ev->type),
						 rec_name ? " \"" : "", rec_name ? rec_name : "", rec_name ? "\"" : "");
	if ((name || rec_name) && (name == NULL || rec_name == NULL || strcmp(name, rec_name) != 0))
		Nondeterministic(t, "nondeterministic: call %d of the orchestration is %s \"%s\", but history recorded \"%s\"",
						 pos + 1, DxEventTypeName(type), name ? name : "", rec_name ? rec_name : "");
	if (compare_input && !DxJsonbEqual(input, ev->input))
		Nondeterministic(t, "nondeterministic: call %d of the orchestration (%s \"%s\") has a different input than history recorded",
						 pos + 1, DxEventTypeName(type), name ? name : "");
	return ev;
}

/* record a new command; returns its event id */
static int64
RecordCommand(DxTurn *t, DxEventType type, Jsonb *data)
{
	return DxTurnAppend(t, type, 0, data);
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
	values[3] = CStringGetTextDatum(TaskKindName(type));
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

/* ------------------------------------------------------------------------
 * Retry policies
 * ------------------------------------------------------------------------ */

/* error for a bad retry policy field */
DX_NORETURN static void
BadPolicy(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid retry policy: %s", detail),
			 errhint("Use {\"maxAttempts\": 3, \"backoff\": \"exponential\", \"initialDelayMs\": 100, \"maxDelayMs\": 30000, \"timeoutMs\": 5000, \"totalTimeoutMs\": 30000}; every field is optional.")));
}

/* a non-negative integer field of a policy */
static int64
PolicyInt(Jsonb *retry, const char *key, int64 dflt, int64 min)
{
	JsonbValue *v = getKeyJsonValueFromContainer(&retry->root, key, strlen(key), NULL);
	int64		value;

	if (v == NULL || v->type == jbvNull)
		return dflt;
	if (v->type != jbvNumeric)
		BadPolicy(psprintf("\"%s\" must be a number", key));
	value = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	if (value < min)
		BadPolicy(psprintf("\"%s\" must be at least " INT64_FORMAT, key, min));
	return value;
}

/* parse and validate a retry policy */
void
DxParseRetryPolicy(Jsonb *retry, DxRetryPolicy *p)
{
	static const char *const known[] = {"maxAttempts", "backoff", "initialDelayMs", "maxDelayMs",
	"timeoutMs", "totalTimeoutMs", NULL};
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *backoff;

	if (retry == NULL || !JB_ROOT_IS_OBJECT(retry) || JB_ROOT_IS_SCALAR(retry))
		BadPolicy("the policy must be a JSON object");
	/* refuse unknown keys: a typo would otherwise be silently ignored */
	it = JsonbIteratorInit(&retry->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			int			i;
			char	   *key = pnstrdup(v.val.string.val, v.val.string.len);

			for (i = 0; known[i]; i++)
				if (strcmp(known[i], key) == 0)
					break;
			if (known[i] == NULL)
				BadPolicy(psprintf("unknown field \"%s\"", key));
		}
	}
	p->max_attempts = (int) PolicyInt(retry, "maxAttempts", 3, 1);
	if (p->max_attempts > 1000)
		BadPolicy("\"maxAttempts\" must be at most 1000");
	p->initial_delay_ms = PolicyInt(retry, "initialDelayMs", 100, 0);
	p->max_delay_ms = PolicyInt(retry, "maxDelayMs", 30000, 0);
	p->timeout_ms = PolicyInt(retry, "timeoutMs", 0, 0);
	p->total_timeout_ms = PolicyInt(retry, "totalTimeoutMs", 0, 0);
	{
		JsonbValue *b = getKeyJsonValueFromContainer(&retry->root, "backoff", 7, NULL);

		if (b != NULL && b->type != jbvNull && b->type != jbvString)
			BadPolicy("\"backoff\" must be a string");
		backoff = (b && b->type == jbvString) ? pnstrdup(b->val.string.val, b->val.string.len) : "exponential";
	}
	if (strcmp(backoff, "exponential") == 0)
		p->backoff = DX_BACKOFF_EXPONENTIAL;
	else if (strcmp(backoff, "fixed") == 0)
		p->backoff = DX_BACKOFF_FIXED;
	else if (strcmp(backoff, "linear") == 0)
		p->backoff = DX_BACKOFF_LINEAR;
	else if (strcmp(backoff, "none") == 0)
		p->backoff = DX_BACKOFF_NONE;
	else
		BadPolicy(psprintf("\"backoff\" must be \"exponential\", \"fixed\", \"linear\" or \"none\", not \"%s\"", backoff));
}

/* the wait after the given failed attempt (1-based) */
int64
DxRetryDelay(const DxRetryPolicy *p, int failed_attempt)
{
	int64		d;

	switch (p->backoff)
	{
		case DX_BACKOFF_NONE:
			return 0;
		case DX_BACKOFF_FIXED:
			d = p->initial_delay_ms;
			break;
		case DX_BACKOFF_LINEAR:
			d = p->initial_delay_ms * failed_attempt;
			break;
		default:
			d = p->initial_delay_ms;
			for (int i = 1; i < failed_attempt && d < p->max_delay_ms; i++)
				d *= 2;
			break;
	}
	return Min(d, p->max_delay_ms);
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

/* schedule_activity and schedule_activity_with_retry */
static Datum
ScheduleActivity(FunctionCallInfo fcinfo, const char *fname, bool with_retry)
{
	DxTurn	   *t = CurrentTurn(fcinfo, fname);
	char	   *name = RequiredText(fcinfo, 1, fname, "activity name");
	Jsonb	   *input = OptionalJsonb(fcinfo, t, 2);
	Jsonb	   *retry = with_retry ? OptionalJsonb(fcinfo, t, 3) : NULL;
	DxEvent    *ev = ReplayCommand(t, EV_ACTIVITY_SCHEDULED, name, input, true);
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
			BadPolicy("the policy must not be null");
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
				DxJbInt(&b, "deadline_ms",
						(GetCurrentTimestamp() / 1000) + policy.total_timeout_ms);
		}
		id = RecordCommand(t, EV_ACTIVITY_SCHEDULED, DxJbEnd(&b));

		memset(&a, 0, sizeof(a));
		a.kind = ACT_ACTIVITY;
		a.event_id = id;
		a.name = pstrdup(name);
		a.input = input;
		a.attempt = 1;
		a.timeout_ms = with_retry ? policy.timeout_ms : 0;
		if (with_retry && policy.total_timeout_ms > 0 &&
			(a.timeout_ms == 0 || a.timeout_ms > policy.total_timeout_ms))
			a.timeout_ms = policy.total_timeout_ms;
		DxTurnAddAction(t, &a);
		MemoryContextSwitchTo(old);
	}
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
	ev = ReplayCommand(t, EV_TIMER_CREATED, NULL, NULL, false);
	if (ev != NULL)
	{
		int64		rec = -1;

		(void) DxJbGetInt(ev->data, "delay_ms", &rec);
		if (rec != delay)
			Nondeterministic(t, "nondeterministic: call %d of the orchestration is a timer of " INT64_FORMAT " ms, but history recorded a timer of " INT64_FORMAT " ms",
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
		id = RecordCommand(t, EV_TIMER_CREATED, DxJbEnd(&b));
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
	DxEvent    *ev = ReplayCommand(t, EV_EVENT_SUBSCRIBED, name, NULL, false);
	int64		id;

	if (ev != NULL)
		id = ev->event_id;
	else
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);
		DxJsonBuilder b;

		DxJbBegin(&b);
		DxJbString(&b, "name", name);
		id = RecordCommand(t, EV_EVENT_SUBSCRIBED, DxJbEnd(&b));
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
	v = MemoryContextStrdup(dx_turn->cxt, DxResolveVersion(name, version));
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

	ev = ReplayCommand(t, type, name, input, true);
	if (ev != NULL)
	{
		char	   *rec_id = DxJbGetText(ev->data, "instance_id");

		if (child_id && rec_id && strcmp(child_id, rec_id) != 0)
			Nondeterministic(t, "nondeterministic: call %d of the orchestration starts instance \"%s\", but history recorded \"%s\"",
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
		id = RecordCommand(t, type, DxJbEnd(&b));
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

/* what history says about one task */
typedef struct TaskState
{
	int			cmdpos;			/* position among commands */
	DxEvent    *command;
	bool		done;
	bool		failed;
	int64		position;		/* event id of the completion, for await_any */
	Jsonb	   *value;
	char	   *error;
	Jsonb	   *failure;		/* the failure event's data */
} TaskState;

/* the command position of an event id, -1 if it is not a command */
static int
CommandPosition(DxTurn *t, int64 event_id)
{
	DxEvent    *ev = DxTurnEvent(t, event_id);

	return ev ? ev->cmdpos : -1;
}

/* the EventRaised matched to a subscription, or NULL */
static DxEvent *
MatchEvent(DxTurn *t, int cmdpos)
{
	DxEvent    *sub = &t->events[t->commands[cmdpos]];
	char	   *name;
	int			k = 0;
	int			i;

	Decode(t, sub);
	name = sub->name;
	for (i = 0; i < cmdpos; i++)
	{
		DxEvent    *c = &t->events[t->commands[i]];

		if (c->type == EV_EVENT_SUBSCRIBED && !t->cancelled[i])
		{
			Decode(t, c);
			if (strcmp(c->name, name) == 0)
				k++;
		}
	}
	for (i = 0; i < t->nevents; i++)
	{
		DxEvent    *e = &t->events[i];

		if (e->type == EV_EVENT_RAISED)
		{
			char	   *n = DxJbGetText(e->data, "name");

			if (n && strcmp(n, name) == 0 && k-- == 0)
				return e;
		}
	}
	return NULL;
}

/* read a duroxide.task datum and find what history says about it */
static void
GetTaskState(DxTurn *t, HeapTupleHeader task, TaskState *st)
{
	bool		isnull;
	Datum		d;
	int64		task_id;
	char	   *iid;

	memset(st, 0, sizeof(*st));
	d = GetAttributeByNum(task, 1, &isnull);
	iid = isnull ? NULL : TextDatumGetCString(d);
	d = GetAttributeByNum(task, 3, &isnull);
	task_id = isnull ? -1 : DatumGetInt64(d);
	if (iid == NULL || strcmp(iid, t->instance_id) != 0 ||
		(st->cmdpos = CommandPosition(t, task_id)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duroxide: the task was not scheduled by this orchestration execution"),
				 errhint("Await only tasks returned by duroxide.schedule_* in the same orchestration.")));
	st->command = &t->events[t->commands[st->cmdpos]];
	switch (st->command->type)
	{
		case EV_EVENT_SUBSCRIBED:
			{
				DxEvent    *e = MatchEvent(t, st->cmdpos);

				if (e)
				{
					st->done = true;
					st->position = e->event_id;
					st->value = DxJbGet(e->data, "data");
				}
				break;
			}
		case EV_ACTIVITY_SCHEDULED:
		case EV_TIMER_CREATED:
		case EV_SUB_ORCHESTRATION_SCHEDULED:
			if (DxTurnHasCompletion(t, st->command->event_id))
			{
				DxEvent    *c = &t->events[t->completion[st->command->event_id]];

				st->done = true;
				st->position = c->event_id;
				st->failed = (c->type == EV_ACTIVITY_FAILED || c->type == EV_SUB_ORCHESTRATION_FAILED);
				if (st->failed)
				{
					st->error = DxJbGetText(c->data, "error");
					st->failure = c->data;
				}
				else
					st->value = DxJbGet(c->data, "result");
			}
			break;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("duroxide: this call cannot be awaited")));
	}
}

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

/* suspend the turn at an await of the given tasks (all of them, or any) */
DX_NORETURN static void
Suspend(DxTurn *t, TaskState *st, int n, bool any)
{
	t->suspended = true;
	t->wait_ids = MemoryContextAlloc(t->cxt, sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		t->wait_ids[i] = st[i].command->event_id;
	t->nwait = n;
	t->wait_any = any;
	Unwind(t);
}

/* an await resolved; returns whether it resolved live (not in replay) */
static bool
Resolved(DxTurn *t)
{
	bool		live = t->resolved >= t->replay_mark;

	t->resolved++;
	return live;
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

/* the running turn for functions whose first argument is a task */
static DxTurn *
TurnForTask(const char *fname)
{
	if (dx_turn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s can only be called by an orchestration function run by duroxide", fname)));
	if (dx_turn->ended)
		Unwind(dx_turn);
	return dx_turn;
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
	GetTaskState(t, PG_GETARG_HEAPTUPLEHEADER(0), &st);
	if (!st.done)
		Suspend(t, &st, 1, false);
	(void) Resolved(t);
	if (st.failed)
		RaiseTaskFailure(&st);
	if (st.value == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(st.value);
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
		GetTaskState(t, DatumGetHeapTupleHeader(elems[i]), &st[i]);
	for (i = 0; i < n; i++)
		if (!st[i].done)
			Suspend(t, st, n, false);
	(void) Resolved(t);
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
		GetTaskState(t, DatumGetHeapTupleHeader(elems[i]), &st[i]);
		if (st[i].done && (winner < 0 || st[i].position < st[winner].position))
			winner = i;
	}
	if (winner < 0)
		Suspend(t, st, n, true);
	live = Resolved(t);
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
	Unwind(t);
}

/* a recorded value: SystemCall {op, value} */
static Jsonb *
SystemCall(FunctionCallInfo fcinfo, const char *fname, const char *op, Jsonb *(*make) (void))
{
	DxTurn	   *t = CurrentTurn(fcinfo, fname);
	DxEvent    *ev = ReplayCommand(t, EV_SYSTEM_CALL, op, NULL, false);

	if (ev == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(t->cxt);
		DxJsonBuilder b;
		Jsonb	   *value = make();

		DxJbBegin(&b);
		DxJbString(&b, "name", op);
		DxJbJsonb(&b, "value", value);
		(void) RecordCommand(t, EV_SYSTEM_CALL, DxJbEnd(&b));
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

/* true while replaying (see file header) */
static bool
IsReplaying(DxTurn *t)
{
	return t->resolved <= t->replay_mark;
}

/* SQL: duroxide.is_replaying(ctx) */
Datum
duroxide_is_replaying(PG_FUNCTION_ARGS)
{
	DxTurn	   *t = CurrentTurn(fcinfo, "duroxide.is_replaying");

	PG_RETURN_BOOL(IsReplaying(t));
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

	if (!IsReplaying(t) && DxLogEnabled(level))
		ereport(DxServerLevel(level),
				(errmsg("duroxide [%s] instance=%s execution=%d orchestration=%s: %s",
						TextDatumGetCString(PG_GETARG_DATUM(1)), t->instance_id,
						t->execution_id, t->name, msg),
				 errhidestmt(true), errhidecontext(true)));
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Running a turn
 * ------------------------------------------------------------------------ */

typedef struct InvokeArgs
{
	Oid			fn;
	Datum		ctx;
	Jsonb	   *input;
} InvokeArgs;

/* DxInvoker for an orchestration function */
static Datum
InvokeOrchestration(void *arg, bool *isnull)
{
	InvokeArgs *a = (InvokeArgs *) arg;

	return DxInvokeFunction2(a->fn, a->ctx, a->input ? JsonbPGetDatum(a->input) : (Datum) 0,
							 a->input == NULL, isnull);
}

/* build the duroxide.context datum */
static Datum
MakeContext(DxTurn *t)
{
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};

	values[0] = CStringGetTextDatum(t->instance_id);
	values[1] = Int32GetDatum(t->execution_id);
	values[2] = CStringGetTextDatum(t->name);
	values[3] = CStringGetTextDatum(t->version);
	if (t->parent_instance_id)
		values[4] = CStringGetTextDatum(t->parent_instance_id);
	else
		nulls[4] = true;
	return DxFormRow("context", 5, values, nulls);
}

/*
 * Run the orchestration function for this turn and decide the outcome.
 * *output is set for COMPLETED, *error for FAILED.
 */
DxOutcome
DxTurnRun(DxTurn *t, Oid fn, Oid owner, Jsonb *input, Jsonb **output, char **error)
{
	MemoryContext old = MemoryContextSwitchTo(t->cxt);
	InvokeArgs	args;
	DxCallResult res;

	args.fn = fn;
	args.ctx = MakeContext(t);
	args.input = input;
	*output = NULL;
	*error = NULL;

	dx_turn = t;
	DxSimpleExprTurnBegin();
	PG_TRY();
	{
		DxSandboxRequest req = {owner, fn, psprintf("orchestration \"%s\"", t->name),
		true, 0, InvokeOrchestration, &args};

		DxSandboxRun(&req, &res);
	}
	PG_FINALLY();
	{
		dx_turn = NULL;
		DxSimpleExprTurnEnd();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	t->call_error = res.ok ? NULL : res.error;

	if (t->nondeterministic)
	{
		*error = t->nondeterministic;
		return DX_OUTCOME_FAILED;
	}
	if (t->continue_as_new)
		return DX_OUTCOME_CONTINUED_AS_NEW;
	if (!t->suspended && !res.ok)
	{
		ErrorData  *e = res.error;

		if (e->sqlerrcode == ERRCODE_READ_ONLY_SQL_TRANSACTION)
			*error = psprintf("orchestration \"%s\" tried to write to the database (%s); "
							  "orchestration code must be deterministic and cannot write to tables: "
							  "move the write into an activity",
							  t->name, e->message);
		else
			*error = pstrdup(e->message ? e->message : "orchestration failed");
		return DX_OUTCOME_FAILED;
	}
	/* every recorded call must have been made again */
	if (t->cursor < t->ncommands)
	{
		DxEvent    *ev = &t->events[t->commands[t->cursor]];
		char	   *name = DxJbGetText(ev->data, "name");

		*error = psprintf("nondeterministic: history recorded %s \"%s\" as call %d, but the orchestration %s without making it",
						  DxEventTypeName(ev->type), name ? name : "", t->cursor + 1,
						  t->suspended ? "waited" : "returned");
		return DX_OUTCOME_FAILED;
	}
	if (t->nevents >= duroxide_max_history_events)
	{
		*error = psprintf("the history of this execution has %d events, the most duroxide.max_history_events allows; "
						  "use duroxide.continue_as_new to start a new execution with fresh history", t->nevents);
		return DX_OUTCOME_FAILED;
	}
	if (t->suspended)
		return DX_OUTCOME_SUSPENDED;
	if (res.value && VARSIZE(res.value) > (Size) duroxide_max_payload_size)
	{
		*error = psprintf("orchestration output is too large (%zu bytes; duroxide.max_payload_size is %d)",
						  (Size) VARSIZE(res.value), duroxide_max_payload_size);
		return DX_OUTCOME_FAILED;
	}
	*output = res.value;
	return DX_OUTCOME_COMPLETED;
}
