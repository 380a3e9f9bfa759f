/*-------------------------------------------------------------------------
 * launcher.c
 *		The launcher: starts and restarts the engine's workers, in every
 *		database it serves.
 *
 * Process tree:
 *
 *	 postmaster
 *	   `- duroxide launcher        static worker, registered in _PG_init,
 *		   |                        started once recovery has finished (so
 *		   |                        never on a standby), restarted by the
 *		   |                        postmaster if it dies
 *		   |- database A: dispatcher 0..N-1, activity worker 0..M-1
 *		   `- database B: dispatcher 0..N-1, activity worker 0..M-1
 *		                            dynamic workers, one registry slot each
 *
 * Which databases: duroxide.database is a comma-separated list of names,
 * or "*".  A listed database gets its N + M workers as soon as it exists
 * (the launcher says so in the server log once when it does not, and again
 * every DX_DB_MISSING_RELOG_MS while it still does not); they wait there for
 * CREATE EXTENSION.  With "*" the launcher serves every database of
 * pg_database that accepts connections and is not a template, but only
 * while the extension is created in it: it cannot look (it connects to no
 * database), so for a database it knows nothing about it starts one worker,
 * which reports whether the extension is there (shmem.c, "Databases") and
 * exits when it is not.  So a database without the extension costs one
 * short-lived process when the launcher starts or first sees the database,
 * and none afterwards.  A committed CREATE EXTENSION (the install script
 * calls duroxide._extension_created) wakes the launcher at once; a worker
 * that finds the extension dropped reports it and exits, and the launcher
 * starts nobody there until the next CREATE EXTENSION.
 *
 * The launcher reads pg_database (a shared catalog) at most every
 * DX_DB_SCAN_MS and whenever a worker stopped.  It registers the dynamic
 * workers with BGW_NEVER_RESTART and itself as bgw_notify_pid, and
 * re-registers any that stops (at most once a second per worker), unless
 * its database is gone or being dropped (DROP DATABASE holds a lock on the
 * database that the launcher tries to take without waiting), so DROP
 * DATABASE ... WITH (FORCE) terminates the workers like any session and no
 * new one starts in their place.  Workers start round-robin over the
 * databases (each database's first dispatcher, then each one's first
 * activity worker, ...), so when max_worker_processes has no room every
 * database still gets a share, and the log names each database left short,
 * once, with the setting to raise.
 *
 * Worker slots: the shared registry has max_worker_processes slots (a
 * worker is a background worker, so it cannot run out first); a slot
 * belongs to (database, index), the index being the number its claims
 * carry.  After a crash restart the postmaster forgets never-restart
 * workers, and the new launcher starts a fresh set; after a restart of the
 * launcher alone, a worker of the old one still running keeps its (database,
 * index) and the new launcher starts none in its place.  Each worker, before
 * its first batch, releases the queue claims of its own index and those of
 * earlier shared-memory lifetimes: both can only belong to dead processes
 * (Recover in worker.c; the claims: dispatcher.c, activity.c).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "tcop/tcopprot.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "guc.h"
#include "launcher.h"
#include "shmem.h"

/* how often a missing duroxide.database is logged again */
#define DX_DB_MISSING_RELOG_MS (10 * 60 * 1000)
/* how often pg_database is read when nothing happens */
#define DX_DB_SCAN_MS 1000
/* "*": databases looked at by a worker at the same time */
#define DX_MAX_PROBES 2

/* one worker of a served database */
typedef struct LauncherWorker
{
	BackgroundWorkerHandle *handle;
	int			slot;			/* registry slot while started (-1: none) */
	TimestampTz last_start;
} LauncherWorker;

/* one database the launcher serves or may serve */
typedef struct LauncherDb
{
	char		name[NAMEDATALEN];
	Oid			dboid;			/* InvalidOid: a listed name that does not exist */
	bool		listed;			/* named in duroxide.database */
	bool		seen;			/* in the last read of pg_database */
	bool		locked;			/* being dropped or changed: start nobody now */
	bool		announced;		/* the start of its workers was logged */
	bool		warned_no_room; /* the lack of worker slots was logged */
	bool		short_of_room;	/* this round, a worker found no slot */
	bool		absent;			/* "*": a worker found no extension (entry freed) */
	bool		probing;		/* "*": one worker looks for the extension */
	TimestampTz missing_logged;
	LauncherWorker *workers;	/* [nworkers] */
} LauncherDb;

static List *dbs = NIL;			/* of LauncherDb, in TopMemoryContext */
static int	nworkers;			/* per database: N + M */
static int *start_order;		/* [nworkers]: index of the p-th worker to start */
static bool *slot_taken;		/* [DxSlotCount()]: registry slots we assigned */

/* register the launcher (called from _PG_init while preloading) */
void
DxRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = 5;
	strlcpy(worker.bgw_library_name, "duroxide", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "duroxide_launcher_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "duroxide launcher", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "duroxide launcher", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* true when duroxide.database is "*" */
bool
DxServeAllDatabases(void)
{
	const char *p = duroxide_database;

	if (p == NULL)
		return false;
	while (*p == ' ')
		p++;
	if (*p++ != '*')
		return false;
	while (*p == ' ')
		p++;
	return *p == '\0';
}

/* the names of duroxide.database (a list of palloc'd strings; NIL for "*") */
static List *
ConfiguredNames(void)
{
	char	   *raw;
	List	   *names = NIL;

	if (duroxide_database == NULL || DxServeAllDatabases())
		return NIL;
	raw = pstrdup(duroxide_database);
	if (!SplitGUCList(raw, ',', &names))
	{
		ereport(LOG,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("duroxide launcher: duroxide.database \"%s\" is not a valid list of databases",
						duroxide_database),
				 errhint("Give database names separated by commas (double-quote a name that contains a comma), or *.")));
		return NIL;
	}
	return names;
}

/* true when duroxide.database names this database, or is "*" */
bool
DxDatabaseConfigured(const char *dbname)
{
	List	   *names;
	ListCell   *lc;

	if (DxServeAllDatabases())
		return true;
	names = ConfiguredNames();
	foreach(lc, names)
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			return true;
	return false;
}

/* a new database entry, with no worker started */
static LauncherDb *
NewDb(const char *name, Oid dboid, bool listed)
{
	LauncherDb *db = MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherDb));

	strlcpy(db->name, name, sizeof(db->name));
	db->dboid = dboid;
	db->listed = listed;
	db->workers = MemoryContextAllocZero(TopMemoryContext, sizeof(LauncherWorker) * Max(nworkers, 1));
	for (int i = 0; i < nworkers; i++)
		db->workers[i].slot = -1;
	dbs = lappend(dbs, db);
	return db;
}

/* the entry of a database by oid, or NULL */
static LauncherDb *
FindDb(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, dbs)
	{
		LauncherDb *db = lfirst(lc);

		if (db->dboid == dboid)
			return db;
	}
	return NULL;
}

/* true when DROP DATABASE (or another exclusive change) holds the database */
static bool
DatabaseLocked(Oid dboid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_OBJECT(tag, InvalidOid, DatabaseRelationId, dboid, 0);
	if (LockAcquire(&tag, AccessShareLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return true;
	LockRelease(&tag, AccessShareLock, false);
	return false;
}

/*
 * Read pg_database (a heap scan, as the autovacuum launcher does: no index
 * without a database) and bring the list of databases up to date.
 */
static void
ScanDatabases(void)
{
	bool		all = DxServeAllDatabases();
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	ListCell   *lc;

	foreach(lc, dbs)
		((LauncherDb *) lfirst(lc))->seen = false;

	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);
		LauncherDb *db = NULL;

		if (all)
		{
			/* templates are copied by CREATE DATABASE, which a session in them blocks */
			if (d->datistemplate || !d->datallowconn || d->datconnlimit == DATCONNLIMIT_INVALID_DB)
				continue;
			db = FindDb(d->oid);
			if (db == NULL)
				db = NewDb(NameStr(d->datname), d->oid, false);
		}
		else
		{
			foreach(lc, dbs)
			{
				LauncherDb *l = lfirst(lc);

				if (strcmp(l->name, NameStr(d->datname)) == 0)
					db = l;
			}
			if (db == NULL || d->datconnlimit == DATCONNLIMIT_INVALID_DB)
				continue;
			if (db->dboid != d->oid)
			{
				/* created (again): a new database under the name */
				if (OidIsValid(db->dboid))
					DxDbForget(db->dboid);
				db->dboid = d->oid;
				db->announced = false;
			}
		}
		db->seen = true;
		db->locked = DatabaseLocked(d->oid);
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
}

/* true while one of the database's workers may still run */
static bool
AnyWorkerLeft(LauncherDb *db)
{
	for (int i = 0; i < nworkers; i++)
		if (db->workers[i].handle != NULL ||
			(OidIsValid(db->dboid) && DxSlotLivePid(db->dboid, i) != 0))
			return true;
	return false;
}

/* forget the databases that are gone, once none of their workers runs */
static void
ForgetGoneDatabases(TimestampTz now, long *timeout)
{
	ListCell   *lc;

	foreach(lc, dbs)
	{
		LauncherDb *db = lfirst(lc);

		if (db->seen)
			continue;
		if (db->listed)
		{
			if (db->missing_logged == 0 ||
				TimestampDifferenceExceeds(db->missing_logged, now, DX_DB_MISSING_RELOG_MS))
			{
				ereport(LOG,
						(errcode(ERRCODE_UNDEFINED_DATABASE),
						 errmsg("duroxide launcher: database \"%s\" named by duroxide.database does not exist",
								db->name),
						 errdetail("No duroxide worker starts in it until it exists; the launcher keeps checking."),
						 errhint("Create the database, or remove it from duroxide.database and restart the server.")));
				db->missing_logged = now;
			}
			*timeout = Min(*timeout, 200);
		}
		if (!OidIsValid(db->dboid) || AnyWorkerLeft(db))
			continue;
		DxDbForget(db->dboid);
		if (db->listed)
		{
			db->dboid = InvalidOid; /* wait for the name to exist again */
			db->announced = false;
			continue;
		}
		dbs = foreach_delete_current(dbs, lc);
		pfree(db->workers);
		pfree(db);
	}
}

/*
 * How many of a database's workers should run now (the first ones of
 * start_order).  With "*", a database whose extension a worker found
 * absent frees its shared entry once its workers are gone (entries are for
 * served databases) until a CREATE EXTENSION is reported.
 */
static int
WantedWorkers(LauncherDb *db)
{
	db->probing = false;
	if (!OidIsValid(db->dboid) || !db->seen || db->locked || nworkers == 0 || db->absent)
		return 0;
	if (!DxDbTrack(db->dboid))
		return 0;				/* cannot happen: an entry per slot */
	if (db->listed)
		return nworkers;
	switch (DxDbState(db->dboid, NULL))
	{
		case DX_DBEXT_UNKNOWN:
			db->probing = true;
			return 1;			/* one worker looks, and says (see file header) */
		case DX_DBEXT_PRESENT:
			return nworkers;
		case DX_DBEXT_ABSENT:
			if (!AnyWorkerLeft(db))
			{
				DxDbForget(db->dboid);
				db->absent = true;
			}
			break;
	}
	return 0;
}

/* true when the first want workers of start_order run */
static bool
AllRunning(LauncherDb *db, int want)
{
	for (int p = 0; p < want; p++)
		if (db->workers[start_order[p]].handle == NULL &&
			DxSlotLivePid(db->dboid, start_order[p]) == 0)
			return false;
	return true;
}

/* forget the handle of a stopped worker; true while it runs */
static bool
WorkerRunning(LauncherDb *db, int index)
{
	LauncherWorker *w = &db->workers[index];
	pid_t		pid;

	if (w->handle != NULL && GetBackgroundWorkerPid(w->handle, &pid) != BGWH_STOPPED)
		return true;
	if (w->handle != NULL)
	{
		pfree(w->handle);
		w->handle = NULL;
	}
	if (w->slot >= 0)
	{
		slot_taken[w->slot] = false;
		w->slot = -1;
	}
	/* started by an earlier launcher and still running */
	return DxSlotLivePid(db->dboid, index) != 0;
}

/* a registry slot that is free, or -1 */
static int
FreeSlot(void)
{
	for (int i = 0; i < DxSlotCount(); i++)
		if (!slot_taken[i] && DxSlotFree(i))
			return i;
	return -1;
}

/* register the dynamic worker number index of a database; false: no room */
static bool
StartWorker(LauncherDb *db, int index)
{
	LauncherWorker *w = &db->workers[index];
	BackgroundWorker worker;
	DxWorkerStart start;
	bool		dispatcher = index < duroxide_orchestration_concurrency;
	int			n = dispatcher ? index : index - duroxide_orchestration_concurrency;
	int			slot = FreeSlot();

	w->last_start = GetCurrentTimestamp();
	if (slot < 0)
		return false;
	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "duroxide", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "duroxide_worker_main", BGW_MAXLEN);
	snprintf(worker.bgw_name, BGW_MAXLEN, "duroxide %s %d",
			 dispatcher ? "dispatcher" : "activity worker", n);
	strlcpy(worker.bgw_type, dispatcher ? "duroxide dispatcher" : "duroxide activity worker",
			BGW_MAXLEN);
	worker.bgw_main_arg = Int32GetDatum(slot);
	memset(&start, 0, sizeof(start));
	start.dboid = db->dboid;
	start.index = index;
	StaticAssertStmt(sizeof(start) <= BGW_EXTRALEN, "DxWorkerStart fits in bgw_extra");
	memcpy(worker.bgw_extra, &start, sizeof(start));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &w->handle))
	{
		w->handle = NULL;
		return false;
	}
	w->slot = slot;
	slot_taken[slot] = true;
	return true;
}

/* say once per database that it is left short of workers */
static void
WarnNoRoom(LauncherDb *db, int wanted)
{
	int			running = 0;
	int			ndbs = 0;
	ListCell   *lc;

	for (int p = 0; p < wanted; p++)
		running += db->workers[start_order[p]].handle != NULL ||
			DxSlotLivePid(db->dboid, start_order[p]) != 0;
	foreach(lc, dbs)
		ndbs += OidIsValid(((LauncherDb *) lfirst(lc))->dboid) && !((LauncherDb *) lfirst(lc))->absent;
	ereport(LOG,
			(errmsg("duroxide: no background worker slot is free for database \"%s\": %d of its %d workers run",
					db->name, running, wanted),
			 errdetail("duroxide runs %d dispatchers and %d activity workers per database, in %d databases, plus its launcher; max_worker_processes is %d.",
					   duroxide_orchestration_concurrency, duroxide_worker_concurrency, ndbs,
					   max_worker_processes),
			 errhint("Increase max_worker_processes, or lower duroxide.orchestration_concurrency and duroxide.worker_concurrency, or serve fewer databases (duroxide.database).")));
	db->warned_no_room = true;
}

/*
 * Start the workers that should run and do not, round-robin over the
 * databases.  Only right after a read of pg_database (fresh): a worker may
 * have been terminated by a DROP DATABASE that the last read did not see
 * (one of an earlier launcher, say, whose exit this launcher does not hear
 * of).  Returns true, having started nobody, when it would start one but
 * the read is not fresh.
 */
static bool
StartWorkers(TimestampTz now, long *timeout, bool fresh)
{
	ListCell   *lc;
	int		   *wanted = palloc0(sizeof(int) * (list_length(dbs) + 1));
	int			d;
	int			probes = 0;

	d = 0;
	foreach(lc, dbs)
	{
		LauncherDb *db = lfirst(lc);

		db->short_of_room = false;
		wanted[d] = WantedWorkers(db);
		/* a few databases are looked at a time: each look costs a process */
		if (db->probing && !AllRunning(db, 1) && probes++ >= DX_MAX_PROBES)
			wanted[d] = 0;
		else if (db->probing && AllRunning(db, 1))
			probes++;
		d++;
	}
	for (int p = 0; p < nworkers; p++)
	{
		d = 0;
		foreach(lc, dbs)
		{
			LauncherDb *db = lfirst(lc);
			int			index = start_order[p];
			LauncherWorker *w = &db->workers[index];

			if (p >= wanted[d++] || WorkerRunning(db, index))
				continue;
			/* at most one start per second per worker */
			if (w->last_start != 0 && !TimestampDifferenceExceeds(w->last_start, now, 1000))
			{
				*timeout = Min(*timeout, 200);
				continue;
			}
			if (!fresh)
			{
				pfree(wanted);
				return true;
			}
			if (!StartWorker(db, index))
			{
				db->short_of_room = true;
				*timeout = Min(*timeout, 1000);
			}
		}
	}
	d = 0;
	foreach(lc, dbs)
	{
		LauncherDb *db = lfirst(lc);
		int			want = wanted[d++];

		if (db->short_of_room && !db->warned_no_room)
			WarnNoRoom(db, want);
		else if (!db->short_of_room && want == nworkers && AllRunning(db, want))
			db->warned_no_room = false;
		if (want == nworkers && !db->announced && !db->short_of_room)
		{
			ereport(LOG,
					(errmsg("duroxide launcher: starting %d dispatchers and %d activity workers in database \"%s\"",
							duroxide_orchestration_concurrency, duroxide_worker_concurrency, db->name)));
			db->announced = true;
		}
		else if (want == 0)
			db->announced = false;
	}
	pfree(wanted);
	return false;
}

/* the launcher's main function */
void
duroxide_launcher_main(Datum arg)
{
	TimestampTz scanned_at = 0;
	bool		rescan = true;
	List	   *names;
	ListCell   *lc;
	int			nd = 0,
				na = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("duroxide launcher");
	DxLauncherAttach();

	/* dispatchers and activity workers alternate: each gets a share of little room */
	nworkers = duroxide_orchestration_concurrency + duroxide_worker_concurrency;
	start_order = MemoryContextAlloc(TopMemoryContext, sizeof(int) * Max(nworkers, 1));
	for (int p = 0; p < nworkers; p++)
	{
		bool		disp = nd < duroxide_orchestration_concurrency &&
			(p % 2 == 0 || na >= duroxide_worker_concurrency);

		start_order[p] = disp ? nd++ : duroxide_orchestration_concurrency + na++;
	}
	slot_taken = MemoryContextAllocZero(TopMemoryContext, sizeof(bool) * Max(DxSlotCount(), 1));
	names = ConfiguredNames();
	foreach(lc, names)
	{
		ListCell   *dup;
		bool		twice = false;

		foreach(dup, dbs)
			twice |= strcmp(((LauncherDb *) lfirst(dup))->name, (char *) lfirst(lc)) == 0;
		if (!twice)
			NewDb((char *) lfirst(lc), InvalidOid, true);
	}

	for (;;)
	{
		long		timeout = DX_DB_SCAN_MS;
		TimestampTz now;
		Oid			created[64];
		bool		overflow;
		bool		fresh;
		int			ncreated;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		/* CREATE EXTENSION committed somewhere: look again at once */
		ncreated = DxTakeCreated(created, lengthof(created), &overflow);
		for (int i = 0; i < ncreated; i++)
		{
			LauncherDb *db = FindDb(created[i]);

			/* a database the launcher had not seen yet is added by the scan */
			if (db != NULL)
				db->absent = false;
			rescan = true;
		}
		if (overflow)
		{
			/* too many at once to know which: look at every database again */
			foreach(lc, dbs)
				((LauncherDb *) lfirst(lc))->absent = false;
			rescan = true;
		}

		/* reap every stopped worker: is its database still there? */
		now = GetCurrentTimestamp();
		foreach(lc, dbs)
		{
			LauncherDb *db = lfirst(lc);

			for (int i = 0; i < nworkers; i++)
				if (db->workers[i].handle != NULL && !WorkerRunning(db, i))
					rescan = true;
		}
		fresh = false;
		if (rescan || TimestampDifferenceExceeds(scanned_at, now, DX_DB_SCAN_MS))
		{
			ScanDatabases();
			scanned_at = now;
			rescan = false;
			fresh = true;
		}
		ForgetGoneDatabases(now, &timeout);
		if (StartWorkers(now, &timeout, fresh))
		{
			/* someone is to be started: look at pg_database first */
			ScanDatabases();
			scanned_at = now;
			ForgetGoneDatabases(now, &timeout);
			(void) StartWorkers(now, &timeout, true);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	}
}
