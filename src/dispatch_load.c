/*-------------------------------------------------------------------------
 * dispatch_load.c
 *		Loading a claimed batch: the visible messages of every instance in
 *		one query, the histories the cache does not hold in another
 *		(history_cache.c lends the rest), and the SPI column readers the
 *		dispatcher's files share.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/memutils.h"

#include "dispatch.h"
#include "protocol.h"
#include "util.h"

/*
 * Per-instance index lookups (LATERAL ... OFFSET 0 keeps them parameterised):
 * the cost of a batch must not depend on how long the queue is, nor on
 * statistics that lag behind a queue's churn.
 */
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

/* $3: per instance, the last event id the history cache lent (0: none) */
static DxPlan history_plan = {NULL,
	"SELECT u.ord::int4, h.event_id, h.event_type, h.source_event_id, h.data"
	"  FROM unnest($1::text[], $2::int4[], $3::int8[]) WITH ORDINALITY u(iid, eid, after, ord)"
	"  JOIN duroxide.history h ON h.instance_id = u.iid AND h.execution_id = u.eid AND h.event_id > u.after"
	" ORDER BY u.ord, h.event_id",
3, {TEXTARRAYOID, INT4ARRAYOID, INT8ARRAYOID}};

/* a text column of the current SPI row, or NULL */
char *
DxSpiText(int row, int col)
{
	return SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
}

/* a jsonb column of the current SPI row copied out, or NULL */
Jsonb *
DxSpiJsonb(int row, int col)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);

	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* an integer column of the current SPI row, or a default */
int64
DxSpiInt(int row, int col, int64 dflt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, &isnull);
	Oid			type = SPI_gettypeid(SPI_tuptable->tupdesc, col);

	if (isnull)
		return dflt;
	return type == INT8OID ? DatumGetInt64(d) : DatumGetInt32(d);
}

/*
 * An array of n elements of size bytes with room for one more: doubled when
 * full (*max elements), first elements at first, in the current context.
 */
static void *
Grow(void *array, int n, int *max, Size size, int first)
{
	if (n < *max)
		return array;
	*max = *max ? *max * 2 : first;
	return array ? repalloc(array, size * *max) : palloc(size * *max);
}

static void HistRows(Instance *insts, int *which);
static void LoadMessagesAndHistories(Instance *insts, int n, MemoryContext batch_cxt);

/*
 * Read the visible messages and the current histories of claimed instances,
 * into the batch context: an SPI call leaves CurrentMemoryContext
 * at SPI's procedure memory, which a commit frees, and histories outlive the
 * transaction in the history cache.
 */
void
DxLoadBatch(Instance *insts, int n, MemoryContext batch_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);

	LoadMessagesAndHistories(insts, n, batch_cxt);
	MemoryContextSwitchTo(old);
}

/* DxLoadBatch's work (allocations land in the current context) */
static void
LoadMessagesAndHistories(Instance *insts, int n, MemoryContext batch_cxt)
{
	DatumList	ids = {0};
	DatumList	execs = {0};
	Datum		values[3];

	for (int i = 0; i < n; i++)
	{
		DxListText(&ids, insts[i].instance_id);
		DxListAdd(&execs, Int32GetDatum(insts[i].execution_id), false);
	}
	values[0] = DxListArray(&ids, TEXTOID);
	values[1] = DxListArray(&execs, INT4OID);

	DxExpect(DxExecPlan(&messages_plan, values, NULL, false, 0), SPI_OK_SELECT, "message lookup");
	MemoryContextSwitchTo(batch_cxt);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[DxSpiInt(r, 1, 1) - 1];
		Message    *m;

		inst->msgs = Grow(inst->msgs, inst->nmsgs, &inst->maxmsgs, sizeof(Message), 8);
		m = &inst->msgs[inst->nmsgs++];
		m->id = DxSpiInt(r, 2, 0);
		m->execution_id = (int32) DxSpiInt(r, 3, 0);
		m->kind_name = DxSpiText(r, 4);
		m->kind = DxMessageKindFromName(m->kind_name);
		m->source_id = DxSpiInt(r, 5, 0);
		m->data = DxSpiJsonb(r, 6);
	}
	SPI_freetuptable(SPI_tuptable);

	/* histories: from the cache where it holds them, else one query for the rest */
	{
		DatumList	mids = {0};
		DatumList	mexecs = {0};
		DatumList	mafter = {0};
		int		   *which = palloc(sizeof(int) * (n + 1));

		for (int i = 0; i < n; i++)
		{
			insts[i].cache_update = false;
			insts[i].cache_prefix = 0;
			if (DxHistCacheLend(&insts[i]))
				continue;
			which[mids.n] = i;
			DxListText(&mids, insts[i].instance_id);
			DxListAdd(&mexecs, Int32GetDatum(insts[i].execution_id), false);
			/* only the rows after the start an older entry holds */
			DxListAdd(&mafter, Int64GetDatum(DxHistCacheLendPrefix(&insts[i])), false);
		}
		if (mids.n == 0)
			return;
		values[0] = DxListArray(&mids, TEXTOID);
		values[1] = DxListArray(&mexecs, INT4OID);
		values[2] = DxListArray(&mafter, INT8OID);
		DxExpect(DxExecPlan(&history_plan, values, NULL, false, 0), SPI_OK_SELECT, "history lookup");
		MemoryContextSwitchTo(batch_cxt);
		HistRows(insts, which);
	}
}

/* the rows of the history query, each to its instance (which: query position -> instance) */
static void
HistRows(Instance *insts, int *which)
{
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		Instance   *inst = &insts[which[DxSpiInt(r, 1, 1) - 1]];
		HistRow    *h;
		char	   *type;

		inst->hist = Grow(inst->hist, inst->nhist, &inst->maxhist, sizeof(HistRow), 16);
		h = &inst->hist[inst->nhist++];
		h->event_id = DxSpiInt(r, 2, 0);
		type = DxSpiText(r, 3);
		h->type = DxEventTypeFromName(type);
		h->source_id = DxSpiInt(r, 4, 0);
		h->data = DxSpiJsonb(r, 5);
	}
	SPI_freetuptable(SPI_tuptable);
}
