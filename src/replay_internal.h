/*-------------------------------------------------------------------------
 * replay_internal.h
 *		The inside of a turn (struct DxTurn) and the replay functions shared
 *		by the files of the replay engine: turn.c (history and the turn's
 *		accessors), replay.c (matching calls with history, running the
 *		function), durable_api.c (the SQL-callable durable functions) and
 *		retry.c.  The dispatcher sees a turn only through replay.h.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_REPLAY_INTERNAL_H
#define DUROXIDE_REPLAY_INTERNAL_H

#include "postgres.h"

#include "access/htup_details.h"

#include "compat.h"
#include "replay.h"
#include "util.h"

/* the state of one turn */
struct DxTurn
{
	MemoryContext cxt;
	/* identity */
	const char *instance_id;
	int32		execution_id;
	const char *name;
	const char *version;
	const char *parent_instance_id;
	/* history: loaded events first, then the ones this turn appends */
	DxEvent    *events;
	int			nevents;
	int			maxevents;
	int			nloaded;
	int		   *completion;		/* by source event id: index of its completion, -1 */
	int			ncompletion;
	int		   *commands;		/* indexes of command events, in order */
	int			ncommands;
	int			maxcommands;
	bool	   *cancelled;		/* by command position: a loser of await_any */
	/* replay */
	int			cursor;			/* next command position */
	int			resolved;		/* awaits resolved so far */
	int			replay_mark;	/* awaits resolved when the last turn blocked */
	bool		suspended;		/* the function awaited something not done */
	bool		ended;			/* no durable call may be made any more */
	char	   *nondeterministic;	/* message, when replay mismatched */
	bool		continue_as_new;
	Jsonb	   *can_input;
	const char *can_version;
	bool		custom_status_set;
	Jsonb	   *custom_status;
	List	   *actions;		/* of DxAction */
	/* what the await that suspended the turn waits for (DxTurnWaitingOn) */
	int64	   *wait_ids;
	int			nwait;
	bool		wait_any;
	/* the error the function ended with (DxTurnRun), for the dispatcher to classify */
	ErrorData  *call_error;
};

/* the turn being run by this process (set only inside DxTurnRun) */
extern DxTurn *dx_running_turn;

/* turn.c */
extern void DxTurnDecode(DxTurn *t, DxEvent *ev);

/* replay.c: entering a durable call, matching it with history */
DX_NORETURN extern void DxTurnUnwind(DxTurn *t);
DX_NORETURN extern void DxNondeterministic(DxTurn *t, const char *fmt,...) pg_attribute_printf(2, 3);
extern DxEvent *DxReplayCommand(DxTurn *t, DxEventType type, const char *name, Jsonb *input, bool compare_input);
extern int64 DxRecordCommand(DxTurn *t, DxEventType type, Jsonb *data);
extern bool DxIsReplaying(DxTurn *t);

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

extern void DxGetTaskState(DxTurn *t, HeapTupleHeader task, TaskState *st);
extern void DxGetTaskStateById(DxTurn *t, int64 task_id, TaskState *st);

/* replay_fast.c */
extern bool DxReplayRecordedActivity(FunctionCallInfo fcinfo, Jsonb **result);
DX_NORETURN extern void DxSuspend(DxTurn *t, TaskState *st, int n, bool any);
extern bool DxResolveAwait(DxTurn *t);

/* retry.c */
DX_NORETURN extern void DxBadRetryPolicy(const char *detail);
extern int64 DxRetryDeadline(const DxRetryPolicy *policy);
extern int64 DxRetryFirstTimeout(const DxRetryPolicy *policy);

#endif
