/*-------------------------------------------------------------------------
 * turn.c
 *		A turn's history: the events loaded from duroxide.history and those
 *		the turn appends, indexed by id, by command position and by the
 *		command each completion completes; the side effects the turn asks
 *		for; and the accessors through which the dispatcher reads what the
 *		turn decided (replay.h).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "protocol.h"
#include "replay.h"
#include "replay_internal.h"
#include "util.h"

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

	if (DxEventIsCompletion(type) && source_id > 0)
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
	if (DxEventIsCommand(type))
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
void
DxTurnDecode(DxTurn *t, DxEvent *ev)
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
 * What the turn holds and decided, for the dispatcher
 * ------------------------------------------------------------------------ */

/* the instance the turn runs */
const char *
DxTurnInstanceId(DxTurn *t)
{
	return t->instance_id;
}

/* the execution the turn runs */
int32
DxTurnExecutionId(DxTurn *t)
{
	return t->execution_id;
}

/* the orchestration's name */
const char *
DxTurnName(DxTurn *t)
{
	return t->name;
}

/* the orchestration's version */
const char *
DxTurnVersion(DxTurn *t)
{
	return t->version;
}

/* true when the history holds OrchestrationStarted */
bool
DxTurnStarted(DxTurn *t)
{
	bool		started = false;

	for (int i = 0; i < t->nevents; i++)
		if (t->events[i].type == EV_ORCHESTRATION_STARTED)
			started = true;
	return started;
}

/* how many events the execution has, loaded and new */
int
DxTurnEventCount(DxTurn *t)
{
	return t->nevents;
}

/* the events this turn appended (after the loaded ones), and how many */
DxEvent *
DxTurnNewEvents(DxTurn *t, int *n)
{
	*n = t->nevents - t->nloaded;
	return &t->events[t->nloaded];
}

/* the id of the last loaded event, 0 when nothing was loaded */
int64
DxTurnLastLoadedId(DxTurn *t)
{
	return t->nloaded > 0 ? t->events[t->nloaded - 1].event_id : 0;
}

/* the side effects the turn asked for (List of DxAction) */
List *
DxTurnActions(DxTurn *t)
{
	return t->actions;
}

/* whether the function set a custom status, and which (*status) */
bool
DxTurnCustomStatus(DxTurn *t, Jsonb **status)
{
	*status = t->custom_status;
	return t->custom_status_set;
}

/* true when replay found the function nondeterministic */
bool
DxTurnIsNondeterministic(DxTurn *t)
{
	return t->nondeterministic != NULL;
}

/* the error the function ended with (DxTurnRun), NULL if none */
ErrorData *
DxTurnCallError(DxTurn *t)
{
	return t->call_error;
}

/* how many awaits resolved in this turn (the next turn's replay mark) */
int
DxTurnResolvedAwaits(DxTurn *t)
{
	return t->resolved;
}

/* the input and version continue_as_new asked for */
void
DxTurnContinueAsNew(DxTurn *t, Jsonb **input, const char **version)
{
	*input = t->can_input;
	*version = t->can_version;
}

/*
 * {"ids": [...], "any": bool}: what the await that suspended the turn waits
 * for (instances.waiting_on, read by turn elision); NULL when it awaited nothing.
 */
Jsonb *
DxTurnWaitingOn(DxTurn *t)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				v;

	if (t->nwait == 0)
		return NULL;
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
