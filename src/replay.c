/*-------------------------------------------------------------------------
 * replay.c
 *		The replay engine: running the orchestration function for a turn
 *		(DxTurnRun) and matching each durable call it makes with history
 *		(commands, task states, suspension).  The durable functions that
 *		call into it are in durable_api.c; the history itself in turn.c.
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
 * valid while dx_running_turn is set, i.e. inside DxTurnRun.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "compat.h"
#include "guc.h"
#include "protocol.h"
#include "replay.h"
#include "replay_internal.h"
#include "sandbox.h"
#include "simple_expr.h"
#include "util.h"

/* the turn being run by this process, if any */
DxTurn	   *dx_running_turn = NULL;

/* ------------------------------------------------------------------------
 * Entering a durable call
 * ------------------------------------------------------------------------ */

/* unwind the orchestration function: the turn is over */
DX_NORETURN void
DxTurnUnwind(DxTurn *t)
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
void
DxNondeterministic(DxTurn *t, const char *fmt,...)
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

/*
 * Match the next durable call with history.  Returns the recorded command
 * event, or NULL when the call is new (the caller then records it).
 */
DxEvent *
DxReplayCommand(DxTurn *t, DxEventType type, const char *name, Jsonb *input, bool compare_input)
{
	int			pos = t->cursor++;
	DxEvent    *ev;
	char	   *rec_name;

	if (pos >= t->ncommands)
		return NULL;
	ev = &t->events[t->commands[pos]];
	DxTurnDecode(t, ev);
	rec_name = ev->name;
	if (ev->type != type)
		DxNondeterministic(t, "nondeterministic: call %d of the orchestration is %s%s%s%s, but history recorded %s%s%s%s",
						 pos + 1, DxEventTypeName(type),
						 name ? " \"" : "", name ? name : "", name ? "\"" : "",
						 DxEventTypeName(ev->type),
						 rec_name ? " \"" : "", rec_name ? rec_name : "", rec_name ? "\"" : "");
	if ((name || rec_name) && (name == NULL || rec_name == NULL || strcmp(name, rec_name) != 0))
		DxNondeterministic(t, "nondeterministic: call %d of the orchestration is %s \"%s\", but history recorded \"%s\"",
						 pos + 1, DxEventTypeName(type), name ? name : "", rec_name ? rec_name : "");
	if (compare_input && !DxJsonbEqual(input, ev->input))
		DxNondeterministic(t, "nondeterministic: call %d of the orchestration (%s \"%s\") has a different input than history recorded",
						 pos + 1, DxEventTypeName(type), name ? name : "");
	return ev;
}

/* record a new command; returns its event id */
int64
DxRecordCommand(DxTurn *t, DxEventType type, Jsonb *data)
{
	return DxTurnAppend(t, type, 0, data);
}

/* true while replaying (see file header) */
bool
DxIsReplaying(DxTurn *t)
{
	return t->resolved <= t->replay_mark;
}

/* ------------------------------------------------------------------------
 * Task states
 * ------------------------------------------------------------------------ */

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

	DxTurnDecode(t, sub);
	name = sub->name;
	for (i = 0; i < cmdpos; i++)
	{
		DxEvent    *c = &t->events[t->commands[i]];

		if (c->type == EV_EVENT_SUBSCRIBED && !t->cancelled[i])
		{
			DxTurnDecode(t, c);
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
void
DxGetTaskState(DxTurn *t, HeapTupleHeader task, TaskState *st)
{
	bool		isnull;
	Datum		d;
	int64		task_id;
	char	   *iid;

	d = GetAttributeByNum(task, 1, &isnull);
	iid = isnull ? NULL : TextDatumGetCString(d);
	d = GetAttributeByNum(task, 3, &isnull);
	task_id = isnull ? -1 : DatumGetInt64(d);
	if (iid == NULL || strcmp(iid, t->instance_id) != 0)
		task_id = -1;
	DxGetTaskStateById(t, task_id, st);
}

/* what history says about the task of a command event id (of this execution) */
void
DxGetTaskStateById(DxTurn *t, int64 task_id, TaskState *st)
{
	memset(st, 0, sizeof(*st));
	if ((st->cmdpos = CommandPosition(t, task_id)) < 0)
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

/* suspend the turn at an await of the given tasks (all of them, or any) */
DX_NORETURN void
DxSuspend(DxTurn *t, TaskState *st, int n, bool any)
{
	t->suspended = true;
	t->wait_ids = MemoryContextAlloc(t->cxt, sizeof(int64) * n);
	for (int i = 0; i < n; i++)
		t->wait_ids[i] = st[i].command->event_id;
	t->nwait = n;
	t->wait_any = any;
	DxTurnUnwind(t);
}

/* count an await as resolved; returns whether it resolved live (not in replay) */
bool
DxResolveAwait(DxTurn *t)
{
	bool		live = t->resolved >= t->replay_mark;

	t->resolved++;
	return live;
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

	dx_running_turn = t;
	DxSimpleExprTurnBegin();
	PG_TRY();
	{
		DxSandboxRequest req = {owner, fn, psprintf("orchestration \"%s\"", t->name),
		true, 0, InvokeOrchestration, &args};

		DxSandboxRun(&req, &res);
	}
	PG_FINALLY();
	{
		dx_running_turn = NULL;
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
