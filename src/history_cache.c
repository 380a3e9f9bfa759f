/*-------------------------------------------------------------------------
 * history_cache.c
 *		The dispatcher's per-process cache of orchestration histories.  It
 *		owns its memory and its lifetime: entries are lent to a batch
 *		(DxHistCacheLend), a turn's new events are noted in the batch's
 *		memory (DxHistCacheNoteTurn), and the cache changes only after the
 *		batch committed (DxHistCacheAfterCommit, the work kind's committed
 *		callback).
 *
 * Every turn replays the whole current execution, so long histories would be
 * read back from duroxide.history on every turn.  A dispatcher keeps the
 * histories of the instances it ran, each under the instance's incarnation
 * (created_at), execution and length.  An entry serves a turn only when all
 * three equal the claimed instance row: history is append-only within an
 * execution, continue-as-new moves to a new execution and a deleted and
 * re-created id gets a new created_at, so a matching entry holds exactly the
 * rows in the table.  Entries are written only after the batch's
 * transaction committed (DxHistCacheAfterCommit, DxDispatcherWork.committed).
 * Short histories are cheap to read and are not kept.
 *
 * Memory: the cache holds at most duroxide.history_cache_size (each entry's
 * memory context counted with its overhead); least recently used entries go
 * first.  While a batch runs, its instances borrow their entries' rows
 * (DxHistCacheLend: inst->hist = e->rows), so nothing is freed then:
 * entries change only in DxHistCacheAfterCommit(), which first stores every
 * instance of the batch (reading the borrowed rows) and evicts only after
 * the last one.  A deleted entry is never borrowed again, since the
 * batch's instances are done with theirs.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/ilist.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "dispatch.h"
#include "guc.h"
#include "replay.h"

#define DX_HIST_KEY_LEN 1100
#define DX_HIST_MIN_ROWS 32

typedef struct HistEntry
{
	char		key[DX_HIST_KEY_LEN];
	TimestampTz created_at;
	int32		execution_id;
	int			n;
	int			max;
	HistRow    *rows;
	MemoryContext cxt;
	Size		bytes;			/* cxt's memory, as last counted */
	dlist_node	lru;			/* in hist_lru, most recently used last */
} HistEntry;

static HTAB *hist_cache = NULL;
static MemoryContext hist_cxt = NULL;
static Size hist_bytes = 0;		/* the entries' memory */
static dlist_head hist_lru = DLIST_STATIC_INIT(hist_lru);

/* duroxide.history_cache_size in bytes */
static Size
HistLimit(void)
{
	return (Size) duroxide_history_cache_size * 1024;
}

/* the cache entry that holds exactly this instance's current history, or NULL */
static HistEntry *
HistLookup(Instance *inst)
{
	HistEntry  *e;

	if (hist_cache == NULL || strlen(inst->instance_id) >= DX_HIST_KEY_LEN)
		return NULL;
	e = hash_search(hist_cache, inst->instance_id, HASH_FIND, NULL);
	if (e == NULL || e->created_at != inst->created_at || e->execution_id != inst->execution_id ||
		e->n != inst->history_len)
		return NULL;
	/* used: to the recent end */
	dlist_delete(&e->lru);
	dlist_push_tail(&hist_lru, &e->lru);
	return e;
}

/*
 * Lend the instance its cached history, if the cache holds exactly its
 * current one: inst->hist points at the entry's rows, for reading only (the
 * cache changes only after the batch committed, DxHistCacheAfterCommit).
 */
bool
DxHistCacheLend(Instance *inst)
{
	HistEntry  *e = HistLookup(inst);

	if (e == NULL)
		return false;
	inst->hist = e->rows;
	inst->nhist = inst->maxhist = e->n;
	return true;
}

/*
 * Lend the instance the start of its current history, when the cache holds
 * an older state of the same execution (another dispatcher ran the turns
 * since): inst->hist gets the entry's rows (their data borrowed, for reading
 * only) and room for the rest, which the caller reads from the table.
 * Returns the last event id lent (0: nothing lent).  The rows the table
 * adds are appended to the entry after commit (HistStore), so a history
 * that alternates between dispatchers is read once, not on every turn.
 */
int64
DxHistCacheLendPrefix(Instance *inst)
{
	HistEntry  *e;

	inst->cache_prefix = 0;
	if (hist_cache == NULL || strlen(inst->instance_id) >= DX_HIST_KEY_LEN)
		return 0;
	e = hash_search(hist_cache, inst->instance_id, HASH_FIND, NULL);
	if (e == NULL || e->created_at != inst->created_at || e->execution_id != inst->execution_id ||
		e->n == 0 || e->n >= inst->history_len || e->rows[e->n - 1].event_id != e->n)
		return 0;
	dlist_delete(&e->lru);
	dlist_push_tail(&hist_lru, &e->lru);
	inst->maxhist = inst->history_len + 16;
	inst->hist = palloc(sizeof(HistRow) * inst->maxhist);
	memcpy(inst->hist, e->rows, sizeof(HistRow) * e->n);
	inst->nhist = inst->cache_prefix = e->n;
	return e->rows[e->n - 1].event_id;
}

/* forget an entry (never while a running batch borrows its rows) */
static void
HistDelete(HistEntry *e)
{
	hist_bytes -= e->bytes;
	dlist_delete(&e->lru);
	MemoryContextDelete(e->cxt);
	(void) hash_search(hist_cache, e->key, HASH_REMOVE, NULL);
}

/* forget an instance */
static void
HistDrop(const char *instance_id)
{
	HistEntry  *e;

	if (hist_cache == NULL || strlen(instance_id) >= DX_HIST_KEY_LEN)
		return;
	e = hash_search(hist_cache, instance_id, HASH_FIND, NULL);
	if (e != NULL)
		HistDelete(e);
}

/* count an entry's memory again after it changed */
static void
HistRecount(HistEntry *e)
{
	Size		now = MemoryContextMemAllocated(e->cxt, true);

	hist_bytes = hist_bytes - e->bytes + now;
	e->bytes = now;
}

/* append rows to an entry, copying their data into its memory */
static void
HistAppend(HistEntry *e, HistRow *rows, int n)
{
	if (e->n + n > e->max)
	{
		e->max = Max(e->max * 2, e->n + n + 16);
		e->rows = e->rows ? repalloc(e->rows, sizeof(HistRow) * e->max)
			: MemoryContextAlloc(e->cxt, sizeof(HistRow) * e->max);
	}
	for (int i = 0; i < n; i++)
	{
		HistRow    *r = &e->rows[e->n++];

		*r = rows[i];
		if (rows[i].data)
		{
			r->data = MemoryContextAlloc(e->cxt, VARSIZE(rows[i].data));
			memcpy(r->data, rows[i].data, VARSIZE(rows[i].data));
		}
	}
	HistRecount(e);
}

/* evict least recently used entries until the cache fits its limit */
static void
HistEvict(void)
{
	while (hist_bytes > HistLimit() && !dlist_is_empty(&hist_lru))
		HistDelete(dlist_container(HistEntry, lru, dlist_head_node(&hist_lru)));
}

/*
 * The instance's history after its committed turn: loaded rows plus the
 * turn's new ones.  Frees nothing another instance of the batch may still borrow: an
 * entry is replaced or dropped only for its own instance, and eviction
 * waits for the end of DxHistCacheAfterCommit().
 */
static void
HistStore(Instance *inst)
{
	HistEntry  *e = HistLookup(inst);	/* still matching the turn's start? */
	bool		found;

	if (inst->cache_drop || strlen(inst->instance_id) >= DX_HIST_KEY_LEN)
	{
		HistDrop(inst->instance_id);
		return;
	}
	if (inst->cache_exec != inst->execution_id)
	{
		HistDrop(inst->instance_id);	/* continue-as-new: a new, empty execution */
		return;
	}
	if (e != NULL && e->rows == inst->hist)
	{
		HistAppend(e, inst->cache_rows, inst->cache_nrows);
		return;
	}
	if (inst->cache_prefix > 0)
	{
		/* the entry lent the start (DxHistCacheLendPrefix): add what was read */
		e = hash_search(hist_cache, inst->instance_id, HASH_FIND, NULL);
		if (e != NULL && e->created_at == inst->created_at && e->execution_id == inst->execution_id &&
			e->n == inst->cache_prefix)
		{
			HistAppend(e, inst->hist + inst->cache_prefix, inst->nhist - inst->cache_prefix);
			HistAppend(e, inst->cache_rows, inst->cache_nrows);
			return;
		}
		/* (cannot happen: only this instance's own store changes its entry) */
		HistDrop(inst->instance_id);
		return;
	}

	if (inst->nhist + inst->cache_nrows < DX_HIST_MIN_ROWS || HistLimit() == 0)
	{
		HistDrop(inst->instance_id);
		return;
	}
	if (hist_cache == NULL)
	{
		HASHCTL		ctl;

		hist_cxt = AllocSetContextCreate(TopMemoryContext, "duroxide history cache", ALLOCSET_DEFAULT_SIZES);
		ctl.keysize = DX_HIST_KEY_LEN;
		ctl.entrysize = sizeof(HistEntry);
		ctl.hcxt = hist_cxt;
		hist_cache = hash_create("duroxide history cache", 256, &ctl, HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
		hist_bytes = 0;
	}
	HistDrop(inst->instance_id);
	e = hash_search(hist_cache, inst->instance_id, HASH_ENTER, &found);
	e->created_at = inst->created_at;
	e->execution_id = inst->execution_id;
	e->n = 0;
	e->max = 0;
	e->rows = NULL;
	e->bytes = 0;
	e->cxt = AllocSetContextCreate(hist_cxt, "duroxide history", ALLOCSET_SMALL_SIZES);
	dlist_push_tail(&hist_lru, &e->lru);
	HistAppend(e, inst->hist, inst->nhist);
	HistAppend(e, inst->cache_rows, inst->cache_nrows);
}

/* after the batch committed: bring the cache up to date (DxWorkKind.committed) */
void
DxHistCacheAfterCommit(void *items, int n)
{
	Instance   *insts = (Instance *) items;

	for (int i = 0; i < n; i++)
		if (insts[i].cache_update)
			HistStore(&insts[i]);
	/* the batch borrows nothing any more */
	HistEvict();
}

/* after a successful turn: note its new events for the cache (in the batch's memory) */
void
DxHistCacheNoteTurn(Instance *inst, DxTurn *t, TurnResult *r, MemoryContext batch_cxt)
{
	MemoryContext old = MemoryContextSwitchTo(batch_cxt);
	DxEvent    *new_events = DxTurnNewEvents(t, &inst->cache_nrows);

	inst->cache_update = true;
	inst->cache_drop = r->terminal;
	inst->cache_exec = r->execution_id;
	inst->cache_rows = palloc(sizeof(HistRow) * (inst->cache_nrows + 1));
	for (int i = 0; i < inst->cache_nrows; i++)
	{
		DxEvent    *ev = &new_events[i];
		HistRow    *h = &inst->cache_rows[i];

		h->event_id = ev->event_id;
		h->type = ev->type;
		h->source_id = ev->source_id;
		h->data = NULL;
		if (ev->data)
		{
			h->data = palloc(VARSIZE(ev->data));
			memcpy(h->data, ev->data, VARSIZE(ev->data));
		}
	}
	MemoryContextSwitchTo(old);
}
