/*-------------------------------------------------------------------------
 * worker.c
 *		The main loop and unit-of-work skeleton shared by dispatchers and
 *		activity workers.
 *
 * Loop (worker_spi shape): reset the latch -> one bounded batch -> if it
 * found work, loop at once; else sleep on the latch until woken, until the
 * earliest due timer or retry, or duroxide.poll_interval.  Before its first
 * batch a worker waits for CREATE EXTENSION (at the library's version, see
 * "The extension in the worker's database") and repairs what a crash of its
 * slot's previous process left (its claims).
 *
 * Batch (DxRunBatch), for both kinds of work:
 *	 1. if suspects may exist (shmem.c's gate) and no other suspect runs
 *		(the suspect runner slot in shared memory, which no SQL role can
 *		take): claim one suspect, commit, run it alone,
 *		commit;
 *	 2. claim up to N never-delivered items, commit; run them, commit.
 *		N is duroxide.batch_size, less when recent items ran slowly: the
 *		results of a batch commit together, so one slow item holds back the
 *		others of its batch.  A moving average of the run time per item
 *		sizes the next claim to about DX_BATCH_TARGET_MS of work, and
 *		for activities no more than a fair share of the ready items among
 *		the idle workers (spread.c).
 * Claim before run, each committed, is what counts deliveries: see the
 * poison accounting above DxDispatcherWork in dispatcher.c; RunSuspect
 * below runs the suspects.
 *
 * Transient errors (DxTransientError) are not the work's own failure: a
 * turn or attempt that hits one is rolled back and put back with its
 * delivery counted, made visible again after DxTransientBackoffMs, and so
 * goes through the suspect path like the work of a crashed process: it
 * fails as poison only after duroxide.max_attempts deliveries.
 *
 * Orderly stops are not deliveries: a worker stopped by SIGTERM (fast
 * shutdown, pg_terminate_backend) gives its claims back with their counts
 * decremented before it exits (ReleaseOwnClaims), so a long activity is not
 * turned into poison by planned restarts.  A crash, SIGKILL or an immediate
 * shutdown runs no exit callback: those claims count.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/instrument.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lmgr.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/inval.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "activity.h"
#include "dispatcher.h"
#include "guc.h"
#include "schedule.h"
#include "launcher.h"
#include "shmem.h"
#include "spread.h"
#include "util.h"
#include "worker.h"

/* ------------------------------------------------------------------------
 * Transaction skeleton (worker_spi)
 * ------------------------------------------------------------------------ */

/* start a unit of work */
void
DxBeginTxn(const char *what)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "duroxide: SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
}

/* commit a unit of work */
void
DxCommitTxn(void)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_stat(false);
}

/* milliseconds until the result of a "next due" query, or poll_interval */
static long
MsUntilPlan(DxPlan *plan)
{
	int			ret = DxExecPlan(plan, NULL, NULL, true, 1);
	bool		isnull;
	Datum		d;

	DxExpect(ret, SPI_OK_SELECT, "next due lookup");
	if (SPI_processed == 0)
		return duroxide_poll_interval;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return duroxide_poll_interval;
	return (long) Max(Min(DatumGetInt64(d) + 1, duroxide_poll_interval), 1);
}


/* ------------------------------------------------------------------------
 * Transient errors
 * ------------------------------------------------------------------------ */

/*
 * True for an error that says nothing about the turn or attempt itself and
 * may not recur: an administrator's cancel (pg_cancel_backend; not a
 * statement_timeout, which is the code's own), a deadlock, a serialization
 * failure, running out of memory, a lock that was not available in time.
 */
bool
DxTransientError(const ErrorData *e)
{
	if (e == NULL)
		return false;
	switch (e->sqlerrcode)
	{
		case ERRCODE_QUERY_CANCELED:
			/* the untranslated text of ProcessInterrupts' user-request cancel */
			return e->message_id != NULL &&
				strcmp(e->message_id, "canceling statement due to user request") == 0;
		case ERRCODE_T_R_DEADLOCK_DETECTED:
		case ERRCODE_T_R_SERIALIZATION_FAILURE:
		case ERRCODE_OUT_OF_MEMORY:
		case ERRCODE_LOCK_NOT_AVAILABLE:
			return true;
		default:
			return false;
	}
}

/* delay before the next delivery of work whose last one hit a transient error */
int
DxTransientBackoffMs(int deliveries)
{
	int			shift = Min(Max(deliveries, 1) - 1, 10);

	return Min(100 << shift, 30000);
}

/* ------------------------------------------------------------------------
 * Claim recovery
 * ------------------------------------------------------------------------ */

/*
 * Release the claims of this slot (its previous process died) and of earlier
 * boots (a crash restarted everything): both belong to dead processes.  The
 * released work becomes suspects (see dispatcher.c).
 */
static void
Recover(const DxWorkOps *k, int slot)
{
	Datum		values[2];

	DxBeginTxn("duroxide: releasing stale claims");
	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	DxExpect(DxExecPlan(k->recover, values, NULL, false, 0), SPI_OK_UPDATE, "claim recovery");
	if (SPI_processed > 0)
	{
		ereport(LOG, (errmsg("duroxide %s: released %lu %s claims left by a stopped process",
							 k->worker_name, (unsigned long) SPI_processed, k->item_name)));
		DxSuspectsPending(k->worker_kind);
	}
	DxCommitTxn();
}

/* ------------------------------------------------------------------------
 * Batches
 * ------------------------------------------------------------------------ */

#define DX_BATCH_TARGET_MS 50.0

/* moving average of the run time of one item, in ms */
static double item_ms = 0.0;

/* how many items to claim next */
static int
ClaimLimit(void)
{
	if (item_ms <= DX_BATCH_TARGET_MS / duroxide_batch_size)
		return duroxide_batch_size;
	return Max(1, Min(duroxide_batch_size, (int) (DX_BATCH_TARGET_MS / item_ms)));
}

/* run claimed items, timing them for ClaimLimit */
static void
RunTimed(const DxWorkOps *k, void *items, int n, int slot, MemoryContext cxt)
{
	instr_time	start,
				elapsed;

	INSTR_TIME_SET_CURRENT(start);
	k->run(items, n, slot, cxt);
	INSTR_TIME_SET_CURRENT(elapsed);
	INSTR_TIME_SUBTRACT(elapsed, start);
	item_ms = 0.7 * item_ms + 0.3 * (INSTR_TIME_GET_MILLISEC(elapsed) / n);
}

/* when the work of the next suspect becomes visible (0: there is none) */
static TimestampTz
NextSuspectDue(const DxWorkOps *k)
{
	bool		isnull;
	Datum		d;

	DxExpect(DxExecPlan(k->next_suspect_due, NULL, NULL, true, 1), SPI_OK_SELECT, "suspect lookup");
	if (SPI_processed == 0)
		return 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetTimestampTz(d);
}

/*
 * Run one suspect alone, if the gate is open and no other suspect (of any
 * kind) runs in the database; returns whether one ran.
 */
static bool
RunSuspect(const DxWorkOps *k, int slot, MemoryContext cxt)
{
	uint32		epoch;
	void	   *items;
	int			n;

	if (!DxSuspectsPossible(k->worker_kind, &epoch))
		return false;
	DxBeginTxn(k->suspect_claim_what);
	if (!DxSuspectLockTry())
	{
		DxCommitTxn();
		return false;
	}
	n = k->claim(slot, true, 1, cxt, &items);
	if (n == 0)
		DxSuspectsNoneAt(k->worker_kind, epoch, NextSuspectDue(k));
	DxCommitTxn();
	MemoryContextSwitchTo(cxt);
	if (n > 0)
	{
		DxBeginTxn(k->suspect_run_what);
		RunTimed(k, items, n, slot, cxt);
		DxCommitTxn();
		MemoryContextSwitchTo(cxt);
		if (k->committed)
			k->committed(items, n);
	}
	DxSuspectLockRelease();
	return n > 0;
}

/* one batch (see file header); false when there was no work */
static bool
DxRunBatch(const DxWorkOps *k, int slot, long *sleep_ms)
{
	MemoryContext batch = CurrentMemoryContext;
	bool		suspect = RunSuspect(k, slot, batch);
	void	   *items;
	int			n;

	DxBeginTxn(k->claim_what);
	n = k->claim(slot, false, DxFairShare(k, ClaimLimit()), batch, &items);
	if (n == 0 && !suspect)
		*sleep_ms = MsUntilPlan(k->next_due);
	DxSlotSetHolding(n > 0);
	DxCommitTxn();
	MemoryContextSwitchTo(batch);
	if (n > 0)
	{
		DxBeginTxn(k->run_what);
		RunTimed(k, items, n, slot, batch);
		DxCommitTxn();
		DxSlotSetHolding(false);
		MemoryContextSwitchTo(batch);
		if (k->committed)
			k->committed(items, n);
	}
	return n > 0 || suspect;
}

/*
 * One batch in the caller's transaction (claim and run commit together),
 * with the engine's rights and search_path, as in a worker.
 */
int
DxRunBatchHere(const DxWorkOps *k, int slot)
{
	void	   *items;
	int			n;
	DxEngineSave save;

	DxRequireExtensionVersion();
	DxEngineBegin(&save);
	SPI_connect();
	n = k->claim(slot, false, duroxide_batch_size, CurrentMemoryContext, &items);
	if (n > 0)
		k->run(items, n, slot, CurrentMemoryContext);
	SPI_finish();
	DxEngineEnd(&save);
	return n;
}

/* ------------------------------------------------------------------------
 * Main loop
 * ------------------------------------------------------------------------ */

static volatile sig_atomic_t got_sigterm = false;
static int	my_slot = -1;
static const DxWorkOps *my_work = NULL;
static Oid	ran_oid = InvalidOid;	/* the extension this process ran batches for */

/* SIGTERM: remember that the stop is orderly, then the usual die() */
static void
DxDie(SIGNAL_ARGS)
{
	got_sigterm = true;
	die(postgres_signal_arg);
}

/* before_shmem_exit: after SIGTERM, give this slot's claims back uncounted */
static void
ReleaseOwnClaims(int code, Datum arg)
{
	/* a worker that never ran a batch has no claims (nor, maybe, tables) */
	if (!got_sigterm || my_work == NULL || !OidIsValid(ran_oid))
		return;
	HOLD_INTERRUPTS();			/* we are exiting: finish this, whatever arrives */
	AbortOutOfAnyTransaction();
	PG_TRY();
	{
		Datum		values[2];

		DxBeginTxn("duroxide: returning claims at shutdown");
		values[0] = Int64GetDatum(DxBootId());
		values[1] = Int32GetDatum(my_slot);
		DxExpect(DxExecPlan(my_work->unclaim, values, NULL, false, 0), SPI_OK_UPDATE, "claim return");
		if (SPI_processed > 0)
			ereport(LOG,
					(errmsg("duroxide: stopping; returned %lu claims uncounted", (unsigned long) SPI_processed)));
		DxCommitTxn();
	}
	PG_CATCH();
	{
		/* the claims stay; the next process of this slot releases them, counted */
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
	RESUME_INTERRUPTS();
}

/* ------------------------------------------------------------------------
 * The extension in the worker's database
 *
 * A worker runs batches only while the extension is installed at the
 * version this library was built for (DX_EXTENSION_VERSION, from
 * duroxide.control).  Before CREATE EXTENSION, and between installing a new
 * library and ALTER EXTENSION duroxide UPDATE, it waits (state "waiting for
 * CREATE EXTENSION" / "waiting for ALTER EXTENSION UPDATE", logged once).
 *
 * The worker checks the extension before its first batch after a sleep,
 * and while busy at most every DX_EXTENSION_RECHECK_MS, and holds a
 * session-level AccessShareLock on it from the check until it sleeps or
 * checks again: DROP EXTENSION takes AccessExclusiveLock on the extension
 * before it drops anything, so it waits at most that long plus one batch,
 * and no batch sees half a schema.  A worker that has
 * run batches and then finds the extension dropped or changed exits (its
 * caches name the old objects); the launcher starts a fresh one, which
 * waits for the extension.
 *
 * With duroxide.database = '*' a database without the extension keeps no
 * process: a worker that finds it absent reports so (DxDbReport, which the
 * launcher reads: it starts nobody there until the next CREATE EXTENSION)
 * and exits.  A database named in a list keeps its workers waiting, as the
 * DBA asked for that database.
 * ------------------------------------------------------------------------ */

typedef enum DxExtensionState
{
	DX_EXT_ABSENT,				/* not installed in this database */
	DX_EXT_OTHER_VERSION,		/* installed at another version */
	DX_EXT_READY				/* installed at DX_EXTENSION_VERSION */
} DxExtensionState;

/* the installed duroxide (pg_extension), in the current transaction */
static DxExtensionState
ExtensionLookup(Oid *extoid, char *version, Size version_size)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	DxExtensionState state = DX_EXT_ABSENT;

	*extoid = InvalidOid;
	version[0] = '\0';
	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("duroxide"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion, RelationGetDescr(rel), &isnull);

		*extoid = ((Form_pg_extension) GETSTRUCT(tuple))->oid;
		if (!isnull)
			text_to_cstring_buffer(DatumGetTextPP(d), version, version_size);
		state = strcmp(version, DX_EXTENSION_VERSION) == 0 ? DX_EXT_READY : DX_EXT_OTHER_VERSION;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return state;
}

/* how long a busy worker keeps the extension's lock between two looks */
#define DX_EXTENSION_RECHECK_MS 100

/* the extension whose session lock this process holds (InvalidOid: none) */
static Oid	locked_extoid = InvalidOid;

/* the lock tag of the extension object */
static void
ExtensionLockTag(LOCKTAG *tag, Oid extoid)
{
	SET_LOCKTAG_OBJECT(*tag, MyDatabaseId, ExtensionRelationId, extoid, 0);
}

static void ExtensionUnlock(void);

/*
 * Check the extension; when it is ready, take the session lock that keeps
 * DROP EXTENSION out until ExtensionUnlock.  Returns the state and sets
 * *extoid and version.
 */
static DxExtensionState
ExtensionCheckAndLock(Oid *extoid, char *version, Size version_size)
{
	DxExtensionState state;
	MemoryContext cxt = CurrentMemoryContext;

	StartTransactionCommand();
	state = ExtensionLookup(extoid, version, version_size);
	if (state == DX_EXT_READY)
	{
		LOCKTAG		tag;
		Oid			again;

		ExtensionLockTag(&tag, *extoid);
		(void) LockAcquire(&tag, AccessShareLock, true, false);
		locked_extoid = *extoid;
		/* a DROP may have committed while we waited for the lock */
		AcceptInvalidationMessages();
		state = ExtensionLookup(&again, version, version_size);
		if (state != DX_EXT_READY || again != *extoid)
		{
			ExtensionUnlock();
			if (state == DX_EXT_READY)
				state = DX_EXT_ABSENT;	/* dropped and created again: a new one */
			*extoid = again;
		}
	}
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);	/* CommitTransactionCommand left TopMemoryContext current */
	return state;
}

/* release the lock taken by ExtensionCheckAndLock, if held */
static void
ExtensionUnlock(void)
{
	LOCKTAG		tag;

	if (!OidIsValid(locked_extoid))
		return;
	ExtensionLockTag(&tag, locked_extoid);
	LockRelease(&tag, AccessShareLock, true);
	locked_extoid = InvalidOid;
}

/*
 * before_shmem_exit: a session lock outlives the process unless released
 * (only an aborting transaction releases it), and would block DROP
 * EXTENSION until the server restarts
 */
static void
ExtensionUnlockAtExit(int code, Datum arg)
{
	ExtensionUnlock();
}

/*
 * Client functions of this library refuse to run against the schema of
 * another extension version (a new library installed, ALTER EXTENSION
 * duroxide UPDATE not run yet), with an error that says what to do.  Checked
 * once per session: the version cannot change back once it matched.
 */
void
DxRequireExtensionVersion(void)
{
	static bool checked = false;
	Oid			extoid;
	char		version[NAMEDATALEN];

	if (checked)
		return;
	if (ExtensionLookup(&extoid, version, sizeof(version)) == DX_EXT_OTHER_VERSION)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("extension duroxide is at version %s, but its library is version %s",
						version, DX_EXTENSION_VERSION),
				 errhint("Run ALTER EXTENSION duroxide UPDATE.")));
	checked = true;
}

/*
 * The kinds of worker, in the order of their numbers in a database (the
 * index launcher.c gives each: count of each kind, one kind after the
 * other).
 */
typedef struct WorkerKindSlots
{
	const DxWorkOps *work;
	const int  *count;			/* how many slots: a GUC */
} WorkerKindSlots;

static const WorkerKindSlots worker_kinds[] = {
	{&DxDispatcherWork, &duroxide_orchestration_concurrency},
	{&DxActivityWork, &duroxide_worker_concurrency},
};

/* the work of worker number slot of a database, and its number among the workers of its kind */
static const DxWorkOps *
WorkOfSlot(int slot, int *number)
{
	int			first = 0;
	int			i;

	for (i = 0; i < lengthof(worker_kinds) - 1; i++)
	{
		if (slot < first + *worker_kinds[i].count)
			break;
		first += *worker_kinds[i].count;
	}
	*number = slot - first;
	return worker_kinds[i].work;
}

/* the main function of dispatchers and activity workers */
void
duroxide_worker_main(Datum arg)
{
	int			registry_slot = DatumGetInt32(arg);
	DxWorkerStart start;
	int			slot;			/* the worker's number in its database */
	int			number;
	const DxWorkOps *work;
	MemoryContext loop_cxt;
	DxExtensionState logged_state = DX_EXT_READY;	/* the last waiting state logged */
	TimestampTz checked_at = 0; /* when the extension was last looked at */
	char		name[64];
	char		dbname[NAMEDATALEN];
	char	   *db;

	memcpy(&start, MyBgworkerEntry->bgw_extra, sizeof(start));
	slot = start.index;
	work = WorkOfSlot(slot, &number);
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, DxDie);
	pqsignal(SIGINT, StatementCancelHandler);	/* activity timeouts */
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(start.dboid, InvalidOid, 0);
	snprintf(name, sizeof(name), "duroxide %s %d", work->worker_name, number);
	pgstat_report_appname(name);
	StartTransactionCommand();
	db = get_database_name(MyDatabaseId);
	strlcpy(dbname, db ? db : "?", sizeof(dbname));
	CommitTransactionCommand();
	DxSlotAttach(registry_slot, work->worker_kind, slot);
	my_slot = slot;
	my_work = work;
	before_shmem_exit(ReleaseOwnClaims, (Datum) 0);
	/* registered last, so it runs first, while the lock is still held */
	before_shmem_exit(ExtensionUnlockAtExit, (Datum) 0);

	/*
	 * The engine's statements are written for their indexes, and a queue's
	 * size swings too fast for statistics to follow: with the tables empty
	 * when a plan is cached, the planner would scan them sequentially ever
	 * after.  They are short, so JIT compilation only costs.  No schema but
	 * pg_catalog's can shadow what they call.  User code runs with the
	 * configured settings and its owner's search_path, and none of its
	 * changes outlive the call (sandbox.h).
	 */
	SetConfigOption("enable_seqscan", "off", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("jit", "off", PGC_USERSET, PGC_S_SESSION);
	SetConfigOption("search_path", DX_ENGINE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION);

	loop_cxt = AllocSetContextCreate(TopMemoryContext, "duroxide worker loop",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		sleep_ms = duroxide_poll_interval;
		bool		found = false;
		DxExtensionState state;
		Oid			extoid;
		char		version[NAMEDATALEN];
		TimestampTz now;

		ResetLatch(MyLatch);

		/*
		 * A cancel (pg_cancel_backend) that arrives between batches has no
		 * statement to cancel: ignore it, as a backend waiting for a command
		 * does, rather than let the ERROR end the process.  One that arrives
		 * during a turn or an attempt is a transient error (see above).
		 */
		QueryCancelPending = false;
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		MemoryContextSwitchTo(loop_cxt);

		/*
		 * Look at the extension (a transaction of its own) before the first
		 * batch after a sleep, and while busy at most every
		 * DX_EXTENSION_RECHECK_MS: in between the session lock is kept, so
		 * a DROP EXTENSION waits at most that long plus one batch.
		 */
		now = GetCurrentTimestamp();
		if (OidIsValid(locked_extoid) &&
			!TimestampDifferenceExceeds(checked_at, now, DX_EXTENSION_RECHECK_MS))
		{
			state = DX_EXT_READY;
			extoid = locked_extoid;
		}
		else
		{
			uint32		gen;
			bool		gone;

			ExtensionUnlock();
			(void) DxDbState(MyDatabaseId, &gen);	/* before looking: see shmem.c */
			state = ExtensionCheckAndLock(&extoid, version, sizeof(version));
			checked_at = now;
			/* ABSENT with a valid oid: replaced while we waited for its lock */
			gone = state == DX_EXT_ABSENT && !OidIsValid(extoid);
			DxDbReport(gen, gone ? DX_DBEXT_ABSENT : DX_DBEXT_PRESENT);
			if (gone && DxServeAllDatabases())
			{
				/* duroxide.database = '*': no process waits in this database */
				ereport(LOG,
						(errmsg("%s: extension duroxide is %s in database \"%s\"; the worker stops",
								name, OidIsValid(ran_oid) ? "dropped" : "not created", dbname),
						 errdetail("CREATE EXTENSION duroxide in this database starts its workers again.")));
				proc_exit(0);
			}
		}
		if (OidIsValid(ran_oid) && (state != DX_EXT_READY || extoid != ran_oid))
		{
			/* dropped, re-created or changed under a worker that ran: start afresh */
			ereport(LOG,
					(errmsg("%s: extension duroxide was %s in database \"%s\"; restarting the worker",
							name,
							OidIsValid(extoid) && extoid != ran_oid ? "dropped and created again" :
							state == DX_EXT_ABSENT ? "dropped" :
							"changed to another version",
							dbname)));
			ExtensionUnlock();
			proc_exit(0);
		}
		if (state != DX_EXT_READY)
		{
			bool		absent = state == DX_EXT_ABSENT;

			DxSlotSetState(absent ? DX_STATE_WAITING_EXTENSION : DX_STATE_WAITING_UPDATE, NULL);
			if (logged_state != state)
			{
				if (absent)
					ereport(LOG,
							(errmsg("%s: waiting for CREATE EXTENSION duroxide in database \"%s\"",
									name, dbname)));
				else
					ereport(LOG,
							(errmsg("%s: extension duroxide is at version %s in database \"%s\", this library is version %s; waiting",
									name, version, dbname, DX_EXTENSION_VERSION),
							 errhint("Run ALTER EXTENSION duroxide UPDATE in database \"%s\".",
									 dbname)));
				logged_state = state;
			}
			pgstat_report_activity(STATE_IDLE, absent ? "waiting for CREATE EXTENSION duroxide"
								   : "waiting for ALTER EXTENSION duroxide UPDATE");
		}
		else
		{
			if (ran_oid == InvalidOid)
			{
				/* repair what a crash of this slot's previous process left */
				Recover(work, slot);
				ran_oid = extoid;
			}
			DxSlotSetState(DX_STATE_BUSY, NULL);
			/* the look at the extension committed: back to the loop's memory */
			MemoryContextSwitchTo(loop_cxt);
			found = DxRunBatch(work, slot, &sleep_ms);
			if (work == &DxDispatcherWork)
				DxScheduleTick(number, found, &sleep_ms);
			if (!found)
				ExtensionUnlock();	/* never sleep holding it */
			DxSlotSetState(DX_STATE_IDLE, NULL);
			pgstat_report_activity(STATE_IDLE, NULL);
		}
		MemoryContextSwitchTo(TopMemoryContext);
		MemoryContextReset(loop_cxt);

		if (found)
			continue;
		sleep_ms = Max(sleep_ms, 1);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Min(sleep_ms, duroxide_poll_interval), PG_WAIT_EXTENSION);
	}
}
