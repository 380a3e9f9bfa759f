/*-------------------------------------------------------------------------
 * replay.h
 *		One orchestration turn as the dispatcher sees it: the history it
 *		holds, running the orchestration function against it (DxTurnRun),
 *		what the turn decided (accessors), and retry policies.  Files:
 *		turn.c (history, accessors), replay.c (replay matching, DxTurnRun),
 *		durable_api.c (the SQL-callable durable functions), retry.c.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_REPLAY_H
#define DUROXIDE_REPLAY_H

#include "postgres.h"

#include "nodes/pg_list.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "protocol.h"

/* one history event */
typedef struct DxEvent
{
	int64		event_id;
	DxEventType type;
	int64		source_id;		/* 0: none */
	Jsonb	   *data;
	int			cmdpos;			/* position among commands, -1 if not one */
	bool		decoded;		/* name and input below are filled */
	char	   *name;			/* data->>'name' of a command */
	Jsonb	   *input;			/* data->'input' of a command */
} DxEvent;

/* side effects a turn asks the dispatcher to perform */
typedef enum DxActionKind
{
	ACT_ACTIVITY,				/* queue an activity attempt */
	ACT_TIMER,					/* queue a TimerFired message */
	ACT_SUB_ORCHESTRATION,		/* create a child instance */
	ACT_DETACHED,				/* create an unrelated instance */
	ACT_CANCEL_ACTIVITY,		/* withdraw a queued activity attempt */
	ACT_CANCEL_TIMER,			/* delete a pending TimerFired message */
	ACT_CANCEL_CHILD			/* cancel a child instance */
} DxActionKind;

typedef struct DxAction
{
	DxActionKind kind;
	int64		event_id;		/* the command's event id */
	const char *name;
	const char *instance_id;
	const char *version;
	Jsonb	   *input;
	TimestampTz due_at;			/* timers and retries: when it becomes visible (0: now) */
	int64		timeout_ms;
	int			attempt;
} DxAction;

typedef enum DxOutcome
{
	DX_OUTCOME_SUSPENDED,
	DX_OUTCOME_COMPLETED,
	DX_OUTCOME_FAILED,
	DX_OUTCOME_CONTINUED_AS_NEW
} DxOutcome;

/*
 * One turn (opaque outside the replay engine: replay_internal.h).  Its
 * memory lives in the context given to DxTurnCreate.
 */
typedef struct DxTurn DxTurn;

extern DxTurn *DxTurnCreate(MemoryContext cxt, const char *instance_id, int32 execution_id,
							const char *name, const char *version,
							const char *parent_instance_id, int replay_mark);
extern void DxTurnLoadEvent(DxTurn *t, int64 event_id, DxEventType type, int64 source_id, Jsonb *data);
extern int64 DxTurnAppend(DxTurn *t, DxEventType type, int64 source_id, Jsonb *data);
extern DxEvent *DxTurnEvent(DxTurn *t, int64 event_id);
extern bool DxTurnHasCompletion(DxTurn *t, int64 source_id);
extern DxOutcome DxTurnRun(DxTurn *t, Oid fn, Oid owner, Jsonb *input,
						   Jsonb **output, char **error);
extern void DxTurnAddAction(DxTurn *t, DxAction *a);

/* what a turn holds and decided (turn.c) */
extern const char *DxTurnInstanceId(DxTurn *t);
extern int32 DxTurnExecutionId(DxTurn *t);
extern const char *DxTurnName(DxTurn *t);
extern const char *DxTurnVersion(DxTurn *t);
extern bool DxTurnStarted(DxTurn *t);
extern int	DxTurnEventCount(DxTurn *t);
extern DxEvent *DxTurnNewEvents(DxTurn *t, int *n);
extern int64 DxTurnLastLoadedId(DxTurn *t);
extern List *DxTurnActions(DxTurn *t);
extern bool DxTurnCustomStatus(DxTurn *t, Jsonb **status);
extern bool DxTurnIsNondeterministic(DxTurn *t);
extern ErrorData *DxTurnCallError(DxTurn *t);
extern int	DxTurnResolvedAwaits(DxTurn *t);
extern Jsonb *DxTurnWaitingOn(DxTurn *t);
extern void DxTurnContinueAsNew(DxTurn *t, Jsonb **input, const char **version);



/* a parsed retry policy (README.md, "Retry policy") */
typedef struct DxRetryPolicy
{
	int			max_attempts;
	int			backoff;		/* DX_BACKOFF_* */
	int64		initial_delay_ms;
	int64		max_delay_ms;
	int64		timeout_ms;		/* per attempt, 0: none */
	int64		total_timeout_ms;	/* 0: none */
} DxRetryPolicy;

#define DX_BACKOFF_EXPONENTIAL	0
#define DX_BACKOFF_FIXED		1
#define DX_BACKOFF_LINEAR		2
#define DX_BACKOFF_NONE			3

extern void DxParseRetryPolicy(Jsonb *retry, DxRetryPolicy *policy);
extern int64 DxRetryDelay(const DxRetryPolicy *policy, int failed_attempt);
extern bool DxRetryActivityFailure(DxTurn *t, int64 source_id, Jsonb *failure);
#endif
