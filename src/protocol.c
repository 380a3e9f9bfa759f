/*-------------------------------------------------------------------------
 * protocol.c
 *		The message and event tables (see protocol.h): the only place where
 *		the stored names of message kinds and event types are spelled, the
 *		name <-> enum functions, and duroxide._protocol(), which shows both
 *		tables to SQL (sql/60_protocol.sql compares them with the install
 *		script).
 *
 * How a message becomes history (dispatch_effects.c ApplyMessages):
 *	 - ExecutionStarted records OrchestrationStarted, once per execution;
 *	 - CancelRequested makes the turn end the instance (OrchestrationCancelled);
 *	 - EventRaised records EventRaised as it is;
 *	 - a completion (completes set) is applied only to a pending command of
 *	   the kind it completes, at its source_event_id, and for a child's
 *	   completion (from_child) only from the child that command created;
 *	   ActivityFailed may instead record ActivityAttemptFailed and retry
 *	   (retry.c).  A turn whose every message is elidable and whose await
 *	   they do not complete is recorded without running the function.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "protocol.h"

PG_FUNCTION_INFO_V1(duroxide_protocol);

/* the messages, indexed by DxMessageKind */
static const DxMessageInfo message_table[MSG__COUNT] = {
	[MSG_UNKNOWN] = {MSG_UNKNOWN, "Unknown", EV_UNKNOWN, EV_UNKNOWN, false, false, 0},
	[MSG_EXECUTION_STARTED] = {MSG_EXECUTION_STARTED, "ExecutionStarted",
		EV_ORCHESTRATION_STARTED, EV_UNKNOWN, false, false, DX_BY_SQL | DX_BY_CLIENT | DX_BY_DISPATCHER},
	[MSG_ACTIVITY_COMPLETED] = {MSG_ACTIVITY_COMPLETED, "ActivityCompleted",
		EV_ACTIVITY_COMPLETED, EV_ACTIVITY_SCHEDULED, false, true, DX_BY_ACTIVITY},
	[MSG_ACTIVITY_FAILED] = {MSG_ACTIVITY_FAILED, "ActivityFailed",
		EV_ACTIVITY_FAILED, EV_ACTIVITY_SCHEDULED, false, true, DX_BY_ACTIVITY},
	[MSG_TIMER_FIRED] = {MSG_TIMER_FIRED, "TimerFired",
		EV_TIMER_FIRED, EV_TIMER_CREATED, false, true, DX_BY_DISPATCHER},
	[MSG_EVENT_RAISED] = {MSG_EVENT_RAISED, "EventRaised",
		EV_EVENT_RAISED, EV_UNKNOWN, false, false, DX_BY_CLIENT},
	[MSG_SUB_ORCHESTRATION_COMPLETED] = {MSG_SUB_ORCHESTRATION_COMPLETED, "SubOrchestrationCompleted",
		EV_SUB_ORCHESTRATION_COMPLETED, EV_SUB_ORCHESTRATION_SCHEDULED, true, true, DX_BY_DISPATCHER},
	[MSG_SUB_ORCHESTRATION_FAILED] = {MSG_SUB_ORCHESTRATION_FAILED, "SubOrchestrationFailed",
		EV_SUB_ORCHESTRATION_FAILED, EV_SUB_ORCHESTRATION_SCHEDULED, true, true, DX_BY_DISPATCHER},
	[MSG_CANCEL_REQUESTED] = {MSG_CANCEL_REQUESTED, "CancelRequested",
		EV_ORCHESTRATION_CANCELLED, EV_UNKNOWN, false, false, DX_BY_CLIENT | DX_BY_DISPATCHER},
};

/* one row of the event table */
typedef struct EventInfo
{
	const char *name;			/* history.event_type */
	bool		command;		/* records a durable call */
	bool		completion;		/* completes a command (source_event_id) */
	const char *task_kind;		/* duroxide.task.kind of a command */
} EventInfo;

/* the events, indexed by DxEventType */
static const EventInfo event_table[EV__COUNT] = {
	[EV_UNKNOWN] = {"Unknown", false, false, NULL},
	[EV_ORCHESTRATION_STARTED] = {"OrchestrationStarted", false, false, NULL},
	[EV_ORCHESTRATION_COMPLETED] = {"OrchestrationCompleted", false, false, NULL},
	[EV_ORCHESTRATION_FAILED] = {"OrchestrationFailed", false, false, NULL},
	[EV_ORCHESTRATION_CANCELLED] = {"OrchestrationCancelled", false, false, NULL},
	[EV_CONTINUED_AS_NEW] = {"OrchestrationContinuedAsNew", false, false, NULL},
	[EV_ACTIVITY_SCHEDULED] = {"ActivityScheduled", true, false, "activity"},
	[EV_ACTIVITY_COMPLETED] = {"ActivityCompleted", false, true, NULL},
	[EV_ACTIVITY_FAILED] = {"ActivityFailed", false, true, NULL},
	[EV_ACTIVITY_ATTEMPT_FAILED] = {"ActivityAttemptFailed", false, false, NULL},
	[EV_TIMER_CREATED] = {"TimerCreated", true, false, "timer"},
	[EV_TIMER_FIRED] = {"TimerFired", false, true, NULL},
	[EV_EVENT_SUBSCRIBED] = {"EventSubscribed", true, false, "event"},
	[EV_EVENT_RAISED] = {"EventRaised", false, false, NULL},
	[EV_SUB_ORCHESTRATION_SCHEDULED] = {"SubOrchestrationScheduled", true, false, "sub_orchestration"},
	[EV_SUB_ORCHESTRATION_COMPLETED] = {"SubOrchestrationCompleted", false, true, NULL},
	[EV_SUB_ORCHESTRATION_FAILED] = {"SubOrchestrationFailed", false, true, NULL},
	[EV_DETACHED_STARTED] = {"DetachedOrchestrationStarted", true, false, NULL},
	[EV_SYSTEM_CALL] = {"SystemCall", true, false, NULL},
};

/* the table row of a message kind (MSG_UNKNOWN's for an unknown one) */
const DxMessageInfo *
DxMessageInfoOf(DxMessageKind kind)
{
	return &message_table[(kind > 0 && kind < MSG__COUNT) ? kind : MSG_UNKNOWN];
}

/* the stored name of a message kind */
const char *
DxMessageKindName(DxMessageKind kind)
{
	return DxMessageInfoOf(kind)->name;
}

/* the message kind of a stored name, MSG_UNKNOWN if none */
DxMessageKind
DxMessageKindFromName(const char *name)
{
	for (int i = 1; i < MSG__COUNT; i++)
		if (strcmp(message_table[i].name, name) == 0)
			return (DxMessageKind) i;
	return MSG_UNKNOWN;
}

/* the stored name of an event type */
const char *
DxEventTypeName(DxEventType type)
{
	return event_table[(type > 0 && type < EV__COUNT) ? type : EV_UNKNOWN].name;
}

/* the event type of a stored name, EV_UNKNOWN if none */
DxEventType
DxEventTypeFromName(const char *name)
{
	for (int i = 1; i < EV__COUNT; i++)
		if (strcmp(event_table[i].name, name) == 0)
			return (DxEventType) i;
	return EV_UNKNOWN;
}

/* true for the event types that record a durable call */
bool
DxEventIsCommand(DxEventType type)
{
	return type > 0 && type < EV__COUNT && event_table[type].command;
}

/* true for the event types that complete a command */
bool
DxEventIsCompletion(DxEventType type)
{
	return type > 0 && type < EV__COUNT && event_table[type].completion;
}

/* task kind as shown in duroxide.task.kind, by command type ("other" for the rest) */
const char *
DxEventTaskKind(DxEventType type)
{
	if (type > 0 && type < EV__COUNT && event_table[type].task_kind != NULL)
		return event_table[type].task_kind;
	return "other";
}

/* the names of a DX_BY_* set, as text[] */
static Datum
ProducerArray(int producers)
{
	static const struct
	{
		int			bit;
		const char *name;
	}			names[] = {
		{DX_BY_SQL, "sql"},
		{DX_BY_CLIENT, "client"},
		{DX_BY_ACTIVITY, "activity"},
		{DX_BY_DISPATCHER, "dispatcher"},
	};
	Datum		elems[lengthof(names)];
	int			n = 0;

	for (int i = 0; i < lengthof(names); i++)
		if (producers & names[i].bit)
			elems[n++] = CStringGetTextDatum(names[i].name);
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * SQL: duroxide._protocol() -- both tables, one row per message kind
 * (category 'message') and per event type (category 'command',
 * 'completion' or 'event').  Internal: not executable by PUBLIC.
 */
Datum
duroxide_protocol(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 1; i < MSG__COUNT; i++)
	{
		const DxMessageInfo *m = &message_table[i];
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = CStringGetTextDatum("message");
		values[1] = CStringGetTextDatum(m->name);
		values[2] = CStringGetTextDatum(DxEventTypeName(m->records));
		if (m->completes != EV_UNKNOWN)
			values[3] = CStringGetTextDatum(DxEventTypeName(m->completes));
		else
			nulls[3] = true;
		values[4] = BoolGetDatum(m->from_child);
		values[5] = BoolGetDatum(m->elidable);
		values[6] = ProducerArray(m->producers);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	for (int i = 1; i < EV__COUNT; i++)
	{
		const EventInfo *e = &event_table[i];
		Datum		values[7];
		bool		nulls[7] = {false, false, true, true, true, true, true};

		values[0] = CStringGetTextDatum(e->command ? "command" : e->completion ? "completion" : "event");
		values[1] = CStringGetTextDatum(e->name);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
