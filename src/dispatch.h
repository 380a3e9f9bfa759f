/*-------------------------------------------------------------------------
 * dispatch.h
 *		Internal header of the orchestration dispatcher, shared by its files
 *		(one per phase of a batch, like pgvector's hnsw*.c):
 *
 *		dispatcher.c		the batch: claim, load, run each turn in a
 *							subtransaction, write, and the work kind for worker.c
 *		dispatch_claim.c	claiming instances and releasing claims
 *		dispatch_load.c		reading the claimed instances' messages and histories
 *		history_cache.c		the per-process cache of histories (owns its memory)
 *		dispatch_effects.c	what a turn does: messages into history, elision,
 *							side effects (activities, timers, children, cancels)
 *		dispatch_write.c	the set-based write buffer of a batch and its flush
 *
 * Everything here lives in the batch's memory context unless said otherwise.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_DISPATCH_H
#define DUROXIDE_DISPATCH_H

#include "postgres.h"

#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "protocol.h"
#include "replay.h"
#include "util.h"

/* one claimed message */
typedef struct Message
{
	int64		id;
	int32		execution_id;	/* 0: current */
	DxMessageKind kind;
	char	   *kind_name;		/* as stored (for messages of an unknown kind) */
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
	/* what the history cache learns from the turn, applied once the batch committed (history_cache.c) */
	bool		cache_update;	/* the turn committed: update (or drop) the entry */
	bool		cache_drop;		/* drop the entry (the instance ended) */
	int32		cache_exec;		/* the execution after the turn */
	HistRow    *cache_rows;		/* the turn's new events (copies, batch memory) */
	int			cache_nrows;
	int			cache_prefix;	/* hist[0..cache_prefix) lent by an older entry (the rest read) */
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

/* a growing array of datums */
typedef struct DatumList
{
	Datum	   *values;
	bool	   *nulls;
	int			n;
	int			max;
} DatumList;

/* everything the turns of a batch write, flushed set-based */
typedef struct Writes
{
	/* duroxide.history */
	DatumList	h_inst, h_exec, h_id, h_type, h_src, h_data;
	/* duroxide.worker_queue */
	DatumList	w_inst, w_exec, w_aid, w_name, w_input, w_attempt, w_timeout, w_oname, w_oversion, w_due;
	/* duroxide.orchestrator_queue inserts and deletes */
	DatumList	m_inst, m_exec, m_kind, m_src, m_data, m_due;
	DatumList	consumed;
	DatumList	terminal;
	DatumList	settled;		/* terminal instances: claim released, nothing else */
	/* duroxide.instances */
	DatumList	u_id, u_status, u_output, u_error, u_cs_set, u_cs, u_exec, u_version, u_input, u_mark, u_wait,
				u_hlen;
	/* duroxide.executions (one row per ended execution) */
	DatumList	e_inst, e_exec, e_version, e_input, e_status, e_output, e_error;
} Writes;

/* ---- dispatch_write.c */
extern void DxListAdd(DatumList *l, Datum v, bool isnull);
extern Datum DxListArray(DatumList *l, Oid elemtype);

/* a nullable text datum */
static inline void
DxListText(DatumList *l, const char *s)
{
	DxListAdd(l, s ? CStringGetTextDatum(s) : (Datum) 0, s == NULL);
}

/* a nullable jsonb datum */
static inline void
DxListJsonb(DatumList *l, Jsonb *j)
{
	DxListAdd(l, j ? JsonbPGetDatum(j) : (Datum) 0, j == NULL);
}

extern void DxWritesTruncate(Writes *w, const Writes *saved);
extern void DxWritesAddMessage(Writes *w, const char *instance_id, int32 execution_id, DxMessageKind kind,
							   int64 source_id, Jsonb *data, TimestampTz due_at);
extern void DxWritesAddTurn(Writes *w, DxTurn *t, Instance *inst, TurnResult *r);
extern void DxWritesFlush(Writes *w, int slot);

/* ---- dispatch_claim.c */
extern int	DxClaimInstances(int slot, bool suspect, int limit, MemoryContext cxt, void **out);
extern void DxReleaseClaims(Instance *insts, int n, bool transient);
extern DxPlan dx_dispatch_next_due_plan;
extern DxPlan dx_dispatch_next_suspect_due_plan;
extern DxPlan dx_dispatch_recover_plan;
extern DxPlan dx_dispatch_unclaim_plan;

/* ---- dispatch_load.c */
extern void DxLoadBatch(Instance *insts, int n, MemoryContext batch_cxt);
extern char *DxSpiText(int row, int col);
extern Jsonb *DxSpiJsonb(int row, int col);
extern int64 DxSpiInt(int row, int col, int64 dflt);

/* ---- history_cache.c */
extern bool DxHistCacheLend(Instance *inst);
extern int64 DxHistCacheLendPrefix(Instance *inst);
extern void DxHistCacheNoteTurn(Instance *inst, DxTurn *t, TurnResult *r, MemoryContext batch_cxt);
extern void DxHistCacheAfterCommit(void *items, int n);

/* ---- dispatch_effects.c */
extern char *DxApplyMessages(DxTurn *t, Instance *inst, Message *msgs, int n, bool *started);
extern void DxAppendEnd(DxTurn *t, DxEventType type, const char *key, Jsonb *value, const char *text);
extern void DxPerformActions(DxTurn *t, Instance *inst, Writes *w, TurnResult *r);
extern void DxAbandonWork(Instance *inst, const char *status);
extern bool DxCanElide(DxTurn *t, Instance *inst);

/* ---- dispatcher.c */
extern void DxRunInstances(void *items, int n, int slot, MemoryContext cxt);

#endif
