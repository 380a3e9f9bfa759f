/*-------------------------------------------------------------------------
 * dispatch_effects.c
 *		What a turn does besides running the orchestration function: the
 *		claimed messages become history (as protocol.c's table says), an
 *		ActivityFailed is retried or recorded, a turn the function could not
 *		take further is elided, the events that end an execution, and the
 *		side effects the turn asked for (activities and timers into the
 *		batch's writes; children and detached instances created; withdrawn
 *		activities, timers and children cancelled).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "dispatch.h"
#include "protocol.h"
#include "replay.h"
#include "util.h"

static DxPlan create_instance_plan = {NULL,
	"SELECT duroxide._create_instance($1, $2, $3, $4, $5, $6, $7, $8::oid::regrole)",
8, {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, INT4OID, INT8OID, OIDOID}};

/* engine: who owns an existing instance id */
static DxPlan instance_owner_plan = {NULL,
	"SELECT owner::oid FROM duroxide.instances WHERE instance_id = $1",
1, {TEXTOID}};

/*
 * Withdrawing queued tasks skips rows locked by someone else: an external
 * task leased in a client's still open transaction (a tenant could keep it
 * open and so stall this dispatcher for everyone).  Such a task stays; its
 * late outcome, like that of a task already running, is ignored.
 */
static DxPlan cancel_activity_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE id IN (SELECT w.id FROM duroxide.worker_queue w"
	"   WHERE w.instance_id = $1 AND w.execution_id = $2"
	"   AND w.activity_id = $3 AND w.claim_boot IS NULL FOR UPDATE SKIP LOCKED)",
3, {TEXTOID, INT4OID, INT8OID}};

/* $3: the TimerFired kind */
static DxPlan cancel_timer_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue WHERE instance_id = $1 AND kind = $3"
	"   AND source_event_id = $2",
3, {TEXTOID, INT8OID, TEXTOID}};

/* the live (running or suspended) children of $1: all of them, or only the one with id $3; $4: the CancelRequested kind */
static DxPlan cancel_children_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)"
	" SELECT instance_id, $4, $2 FROM duroxide.instances"
	"  WHERE status IN ('Running', 'Suspended') AND parent_instance_id = $1 AND ($3 IS NULL OR instance_id = $3)",
4, {TEXTOID, JSONBOID, TEXTOID, TEXTOID}};

/* (skips locked rows, as cancel_activity_plan) */
static DxPlan withdraw_activities_plan = {NULL,
	"DELETE FROM duroxide.worker_queue WHERE id IN (SELECT w.id FROM duroxide.worker_queue w"
	"   WHERE w.instance_id = $1 AND w.claim_boot IS NULL FOR UPDATE SKIP LOCKED)",
1, {TEXTOID}};

/* ------------------------------------------------------------------------
 * Messages into history
 * ------------------------------------------------------------------------ */

/* true when a completion message matches the command at its source_event_id */
static bool
CompletionMatches(const DxMessageInfo *mi, DxEvent *cmd, Message *m)
{
	char	   *child;
	char	   *from;

	if (cmd->type != mi->completes)
		return false;
	if (!mi->from_child)
		return true;
	child = DxJbGetText(cmd->data, "instance_id");
	from = m->data ? DxJbGetText(m->data, DX_CHILD_ID_KEY) : NULL;
	return child != NULL && from != NULL && strcmp(child, from) == 0;
}

/* turn the claimed messages into history; returns the cancel reason if any */
char *
DxApplyMessages(DxTurn *t, Instance *inst, Message *msgs, int n, bool *started)
{
	char	   *cancel = NULL;

	*started = DxTurnStarted(t);

	for (int i = 0; i < n; i++)
	{
		Message    *m = &msgs[i];
		const DxMessageInfo *mi = DxMessageInfoOf(m->kind);
		bool		current = m->execution_id == 0 || m->execution_id == DxTurnExecutionId(t);
		DxEvent    *cmd = NULL;

		if (m->kind == MSG_CANCEL_REQUESTED)
		{
			cancel = DxJbGetText(m->data, "reason");
			if (cancel == NULL)
				cancel = "cancelled";
		}
		else if (!current)
			continue;			/* for an earlier execution */
		else if (m->kind == MSG_EXECUTION_STARTED)
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
				DxTurnAppend(t, mi->records, 0, DxJbEnd(&b));
				*started = true;
			}
		}
		else if (m->kind == MSG_EVENT_RAISED)
			DxTurnAppend(t, mi->records, 0, m->data);
		else if (mi->completes == EV_UNKNOWN)
			ereport(WARNING,
					(errmsg("duroxide: ignoring message of unknown kind \"%s\" for instance \"%s\"",
							m->kind_name, DxTurnInstanceId(t))));
		else if (DxTurnHasCompletion(t, m->source_id) || (cmd = DxTurnEvent(t, m->source_id)) == NULL)
			continue;			/* duplicate, or for a task this execution never made */
		else if (!CompletionMatches(mi, cmd, m))
			ereport(WARNING,
					(errmsg("duroxide: ignoring %s message for instance \"%s\": it does not match the command at event " INT64_FORMAT,
							m->kind_name, DxTurnInstanceId(t), m->source_id),
					 errdetail("The event is a %s%s.", DxEventTypeName(cmd->type),
							   cmd->type == mi->completes ? " of another child instance" : "")));
		else if (m->kind == MSG_ACTIVITY_FAILED)
		{
			if (!DxRetryActivityFailure(t, m->source_id, m->data))
				DxTurnAppend(t, mi->records, m->source_id, m->data);
		}
		else if (m->kind == MSG_TIMER_FIRED)
			DxTurnAppend(t, mi->records, m->source_id, NULL);
		else if (mi->from_child)
			DxTurnAppend(t, mi->records, m->source_id,	/* history keeps its format */
						 DatumGetJsonbP(DirectFunctionCall2(jsonb_delete, JsonbPGetDatum(m->data),
															CStringGetTextDatum(DX_CHILD_ID_KEY))));
		else
			DxTurnAppend(t, mi->records, m->source_id, m->data);
	}
	return cancel;
}

/* append the event that ends an execution */
void
DxAppendEnd(DxTurn *t, DxEventType type, const char *key, Jsonb *value, const char *text)
{
	DxJsonBuilder b;

	DxJbBegin(&b);
	if (text)
		DxJbString(&b, key, text);
	else if (value)
		DxJbJsonb(&b, key, value);
	DxTurnAppend(t, type, 0, DxJbEnd(&b));
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
bool
DxCanElide(DxTurn *t, Instance *inst)
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
		if (!DxMessageInfoOf(inst->msgs[i].kind)->elidable)
			return false;
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

/* ------------------------------------------------------------------------
 * Side effects
 * ------------------------------------------------------------------------ */

/* the longest CreateInstance waits for a transaction that holds the id */
#define DX_CREATE_LOCK_TIMEOUT "200ms"

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
	int			nest;

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

	/*
	 * An id inserted by a transaction still open (any role's start) would
	 * make the insert wait for that transaction, and this dispatcher with
	 * it: wait at most DX_CREATE_LOCK_TIMEOUT, then the lock_not_available
	 * error retries the turn later (a transient error, src/worker.c).
	 */
	nest = NewGUCNestLevel();
	(void) set_config_option("lock_timeout", DX_CREATE_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	DxExpect(DxExecPlan(&create_instance_plan, values, nulls, false, 1), SPI_OK_SELECT, "instance creation");
	AtEOXact_GUC(true, nest);
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

	foreach(lc, DxTurnActions(t))
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
void
DxPerformActions(DxTurn *t, Instance *inst, Writes *w, TurnResult *r)
{
	ListCell   *lc;
	bool		ended = strcmp(r->status, "Running") != 0 || r->execution_id != inst->execution_id;

	foreach(lc, DxTurnActions(t))
	{
		DxAction   *a = (DxAction *) lfirst(lc);
		Datum		values[4];

		if ((a->kind == ACT_ACTIVITY &&
			 ((ended && strcmp(r->status, "Completed") != 0) || CancelledInTurn(t, a, ACT_CANCEL_ACTIVITY))) ||
			(a->kind == ACT_TIMER && (ended || CancelledInTurn(t, a, ACT_CANCEL_TIMER))))
			continue;
		if ((a->kind == ACT_CANCEL_ACTIVITY || a->kind == ACT_CANCEL_TIMER) &&
			a->event_id > DxTurnLastLoadedId(t))
			continue;			/* scheduled in this turn: never inserted */

		values[0] = CStringGetTextDatum(DxTurnInstanceId(t));
		values[1] = Int32GetDatum(DxTurnExecutionId(t));
		switch (a->kind)
		{
			case ACT_ACTIVITY:
				DxListText(&w->w_inst, DxTurnInstanceId(t));
				DxListAdd(&w->w_exec, Int32GetDatum(DxTurnExecutionId(t)), false);
				DxListAdd(&w->w_aid, Int64GetDatum(a->event_id), false);
				DxListText(&w->w_name, a->name);
				DxListJsonb(&w->w_input, a->input);
				DxListAdd(&w->w_attempt, Int32GetDatum(a->attempt), false);
				DxListAdd(&w->w_timeout, Int64GetDatum(a->timeout_ms), false);
				DxListText(&w->w_oname, DxTurnName(t));
				DxListText(&w->w_oversion, DxTurnVersion(t));
				DxListAdd(&w->w_due, TimestampTzGetDatum(a->due_at), a->due_at == 0);
				break;
			case ACT_TIMER:
				DxWritesAddMessage(w, DxTurnInstanceId(t), DxTurnExecutionId(t), MSG_TIMER_FIRED, a->event_id, NULL, a->due_at);
				break;
			case ACT_SUB_ORCHESTRATION:
				{
					CreateResult cr = CreateInstance(a, inst, true, DxTurnExecutionId(t));
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
					DxWritesAddMessage(w, DxTurnInstanceId(t), DxTurnExecutionId(t), MSG_SUB_ORCHESTRATION_FAILED,
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
									DxTurnInstanceId(t), a->instance_id)));
				break;
			case ACT_CANCEL_ACTIVITY:
				values[2] = Int64GetDatum(a->event_id);
				DxExpect(DxExecPlan(&cancel_activity_plan, values, NULL, false, 0),
						 SPI_OK_DELETE, "activity withdrawal");
				break;
			case ACT_CANCEL_TIMER:
				values[1] = Int64GetDatum(a->event_id);
				values[2] = CStringGetTextDatum(DxMessageKindName(MSG_TIMER_FIRED));
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
					values[3] = CStringGetTextDatum(DxMessageKindName(MSG_CANCEL_REQUESTED));
					DxExpect(DxExecPlan(&cancel_children_plan, values, NULL, false, 0),
							 SPI_OK_INSERT, "child cancellation");
				}
				break;
		}
	}
}

/* an execution ended other than by completing: withdraw its work, cancel its children */
void
DxAbandonWork(Instance *inst, const char *status)
{
	Datum		values[4];
	DxJsonBuilder b;

	values[0] = CStringGetTextDatum(inst->instance_id);
	DxExpect(DxExecPlan(&withdraw_activities_plan, values, NULL, false, 0),
			 SPI_OK_DELETE, "activity withdrawal");
	DxJbBegin(&b);
	DxJbString(&b, "reason", psprintf("parent orchestration \"%s\" ended: %s", inst->instance_id, status));
	values[1] = JsonbPGetDatum(DxJbEnd(&b));
	values[2] = (Datum) 0;		/* all of them */
	values[3] = CStringGetTextDatum(DxMessageKindName(MSG_CANCEL_REQUESTED));
	DxExpect(DxExecPlan(&cancel_children_plan, values, "  n ", false, 0), SPI_OK_INSERT, "child cancellation");
}
