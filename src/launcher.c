/*-------------------------------------------------------------------------
 * launcher.c
 *		The launcher: starts and restarts the engine's workers.
 *
 * Process tree:
 *
 *	 postmaster
 *	   `- duroxide launcher        static worker, registered in _PG_init,
 *		   |                        started once recovery has finished (so
 *		   |                        never on a standby), restarted by the
 *		   |                        postmaster if it dies
 *		   |- dispatcher 0..N-1     dynamic workers, slots 0..N-1
 *		   `- activity worker 0..M-1  dynamic workers, slots N..N+M-1
 *
 * The launcher connects to no database.  It waits until duroxide.database
 * exists (saying so in the server log once when it does not, and again
 * every DX_DB_MISSING_RELOG_MS while it still does not), then registers the dynamic workers with BGW_NEVER_RESTART and
 * itself as bgw_notify_pid, and re-registers any that stops (at most once a
 * second per slot).  After a crash restart the postmaster forgets
 * never-restart workers, and the new launcher starts a fresh set.  Each
 * worker, before its first batch, releases the queue claims of its own slot
 * and those of earlier shared-memory lifetimes: both can only belong to dead
 * processes (Recover in worker.c; the claims: dispatcher.c, activity.c).
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
#include "tcop/tcopprot.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "launcher.h"
#include "shmem.h"

/* how often a missing duroxide.database is logged again */
#define DX_DB_MISSING_RELOG_MS (10 * 60 * 1000)

/* per-slot bookkeeping of the launcher */
typedef struct LauncherSlot
{
	BackgroundWorkerHandle *handle;
	TimestampTz last_start;
	bool		warned_no_room;
} LauncherSlot;

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

/* true once duroxide.database exists (reads the shared catalog) */
static bool
DatabaseExists(void)
{
	bool		exists = false;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;

	/* a heap scan, as the autovacuum launcher does: no index without a database */
	StartTransactionCommand();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (!exists && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
		exists = strcmp(NameStr(((Form_pg_database) GETSTRUCT(tup))->datname), duroxide_database) == 0;
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	return exists;
}

/* register the dynamic worker of one slot */
static bool
StartWorker(int slot, LauncherSlot *ls)
{
	BackgroundWorker worker;
	bool		dispatcher = slot < duroxide_orchestration_concurrency;
	int			n = dispatcher ? slot : slot - duroxide_orchestration_concurrency;

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
	worker.bgw_notify_pid = MyProcPid;

	ls->last_start = GetCurrentTimestamp();
	if (!RegisterDynamicBackgroundWorker(&worker, &ls->handle))
	{
		ls->handle = NULL;
		if (!ls->warned_no_room)
			ereport(LOG,
					(errmsg("duroxide: no background worker slot is free for \"%s\"", worker.bgw_name),
					 errdetail("duroxide needs %d worker processes plus its launcher; max_worker_processes is %d.",
							   duroxide_orchestration_concurrency + duroxide_worker_concurrency,
							   max_worker_processes),
					 errhint("Increase max_worker_processes, or lower duroxide.orchestration_concurrency and duroxide.worker_concurrency.")));
		ls->warned_no_room = true;
		return false;
	}
	ls->warned_no_room = false;
	return true;
}

/* the launcher's main function */
void
duroxide_launcher_main(Datum arg)
{
	LauncherSlot slots[DX_MAX_WORKERS];
	int			nslots = duroxide_orchestration_concurrency + duroxide_worker_concurrency;
	bool		db_ready = false;
	TimestampTz db_missing_logged = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("duroxide launcher");
	DxLauncherAttach();

	if (nslots > DX_MAX_WORKERS)
	{
		ereport(LOG,
				(errmsg("duroxide: %d workers requested, only %d are supported", nslots, DX_MAX_WORKERS)));
		nslots = DX_MAX_WORKERS;
	}
	memset(slots, 0, sizeof(slots));

	for (;;)
	{
		long		timeout = 1000;
		int			i;

		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		if (!db_ready)
		{
			db_ready = DatabaseExists();
			if (db_ready)
				ereport(LOG,
						(errmsg("duroxide launcher: starting %d dispatchers and %d activity workers in database \"%s\"",
								duroxide_orchestration_concurrency, duroxide_worker_concurrency,
								duroxide_database)));
			else
			{
				if (db_missing_logged == 0 ||
					TimestampDifferenceExceeds(db_missing_logged, GetCurrentTimestamp(), DX_DB_MISSING_RELOG_MS))
				{
					ereport(LOG,
							(errcode(ERRCODE_UNDEFINED_DATABASE),
							 errmsg("duroxide launcher: database \"%s\" named by duroxide.database does not exist",
									duroxide_database),
							 errdetail("No duroxide worker starts until it exists; the launcher keeps checking."),
							 errhint("Create the database, or set duroxide.database to an existing database and restart the server.")));
					db_missing_logged = GetCurrentTimestamp();
				}
				timeout = 200;
			}
		}

		for (i = 0; db_ready && i < nslots; i++)
		{
			LauncherSlot *ls = &slots[i];
			pid_t		pid;

			if (ls->handle != NULL &&
				GetBackgroundWorkerPid(ls->handle, &pid) != BGWH_STOPPED)
				continue;
			if (ls->handle != NULL)
			{
				pfree(ls->handle);
				ls->handle = NULL;
			}
			/* at most one start per second per slot */
			if (ls->last_start != 0 &&
				!TimestampDifferenceExceeds(ls->last_start, GetCurrentTimestamp(), 1000))
			{
				timeout = Min(timeout, 200);
				continue;
			}
			if (!StartWorker(i, ls))
				timeout = Min(timeout, 1000);
		}

		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
	}
}
