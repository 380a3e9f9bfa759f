/*-------------------------------------------------------------------------
 * duroxide.c
 *		Module entry point: settings, shared-memory hooks, the launcher's
 *		registration, and the small SQL-callable helpers of the install
 *		script (wake-up triggers, worker presence, the workers view).
 *
 * Settings are defined whether or not the library is preloaded, so that SQL
 * callers can read them; workers and shared memory exist only when it is
 * (shared_preload_libraries = 'duroxide').  The settings that size the
 * engine's processes take effect at server start (PGC_POSTMASTER); such
 * variables can only be created while preloading, so a backend that loads
 * the library later (CREATE EXTENSION, or the first call of one of its
 * functions, in a server without preloading) defines them as reload-only
 * settings instead: their values from postgresql.conf stay readable, and
 * they change nothing there, since no worker runs.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/extension.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/guc.h"
#include "utils/rel.h"

#include "guc.h"
#include "launcher.h"
#include "shmem.h"
#include "util.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(duroxide_wake_on_insert);
PG_FUNCTION_INFO_V1(duroxide_wake_waiters);
PG_FUNCTION_INFO_V1(duroxide_workers_running);
PG_FUNCTION_INFO_V1(duroxide_extension_created);
PG_FUNCTION_INFO_V1(duroxide_check_payload);
PG_FUNCTION_INFO_V1(duroxide_check_name);
PG_FUNCTION_INFO_V1(duroxide_version_key);
PG_FUNCTION_INFO_V1(duroxide_workers);

void		_PG_init(void);

char	   *duroxide_database = NULL;
int			duroxide_orchestration_concurrency = 2;
int			duroxide_worker_concurrency = 2;
int			duroxide_poll_interval = 1000;
int			duroxide_max_attempts = 10;
int			duroxide_log_level = DX_LOG_INFO;
int			duroxide_batch_size = 32;
int			duroxide_max_payload_size = 1024 * 1024;
int			duroxide_max_history_events = 100000;
int			duroxide_history_cache_size = 64 * 1024;

static const struct config_enum_entry log_level_options[] = {
	{"debug", DX_LOG_DEBUG, false},
	{"info", DX_LOG_INFO, false},
	{"warn", DX_LOG_WARN, false},
	{"warning", DX_LOG_WARN, true},
	{"error", DX_LOG_ERROR, false},
	{NULL, 0, false}
};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* shmem_request_hook: reserve the registry */
static void
DxShmemRequestHook(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	DxShmemRequest();
}

/* shmem_startup_hook: create the registry */
static void
DxShmemStartupHook(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	DxShmemStartup();
}

/* the server log level used for a duroxide level */
int
DxServerLevel(DxLogLevel level)
{
	switch (level)
	{
		case DX_LOG_DEBUG:
			return LOG;
		case DX_LOG_INFO:
			return LOG;
		case DX_LOG_WARN:
		case DX_LOG_ERROR:
			return WARNING;
	}
	return LOG;
}

/* a level name as a DxLogLevel */
DxLogLevel
DxLogLevelFromName(const char *name)
{
	for (int i = 0; log_level_options[i].name; i++)
		if (strcmp(log_level_options[i].name, name) == 0)
			return (DxLogLevel) log_level_options[i].val;
	return DX_LOG_INFO;
}

/* define the settings */
static void
DxDefineSettings(void)
{
	/* start-time settings: PGC_POSTMASTER only while preloading (file header) */
	GucContext	start_time = process_shared_preload_libraries_in_progress ? PGC_POSTMASTER : PGC_SIGHUP;

	DefineCustomStringVariable("duroxide.database",
							   "Databases whose workflows the duroxide background workers run.",
							   "A comma-separated list of databases, or * for every database in which the extension is created.", &duroxide_database, "postgres",
							   start_time, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.orchestration_concurrency",
							"Number of orchestration dispatcher processes.",
							NULL, &duroxide_orchestration_concurrency, 2, 0, 32,
							start_time, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.worker_concurrency",
							"Number of activity worker processes.",
							NULL, &duroxide_worker_concurrency, 2, 0, 32,
							start_time, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.poll_interval",
							"Longest sleep of an idle worker; new work wakes workers at once.",
							NULL, &duroxide_poll_interval, 1000, 10, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.max_attempts",
							"Deliveries of one message (turn or activity attempt) before it is failed as poison.",
							NULL, &duroxide_max_attempts, 10, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("duroxide.log_level",
							 "Lowest level of engine and trace lines written to the server log.",
							 NULL, &duroxide_log_level, DX_LOG_INFO, log_level_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.batch_size",
							"Turns or activity attempts one worker runs per transaction.",
							NULL, &duroxide_batch_size, 32, 1, 1000,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.max_payload_size",
							"Largest input, output, event data or activity result accepted.",
							NULL, &duroxide_max_payload_size, 1024 * 1024, 1024, 256 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_BYTE, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.max_history_events",
							"Most history events one execution may have; beyond it the instance fails.",
							NULL, &duroxide_max_history_events, 100000, 100, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("duroxide.history_cache_size",
							"Memory each orchestration dispatcher may use to keep histories between turns.",
							"0 turns the cache off.",
							&duroxide_history_cache_size, 64 * 1024, 0, INT_MAX / 1024,
							PGC_SIGHUP, GUC_UNIT_KB, NULL, NULL, NULL);
	MarkGUCPrefixReserved("duroxide");
}

/* module load */
void
_PG_init(void)
{
	DxDefineSettings();

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = DxShmemRequestHook;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = DxShmemStartupHook;

	DxRegisterLauncher();
}

/* trigger: wake the workers of the queue named in the trigger argument */
Datum
duroxide_wake_on_insert(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "duroxide_wake_on_insert: not called by trigger manager");
	if (trigdata->tg_trigger->tgnargs > 0 &&
		strcmp(trigdata->tg_trigger->tgargs[0], "worker") == 0)
		DxRequestWake(DX_WAKE_WORKER);
	else
		DxRequestWake(DX_WAKE_ORCHESTRATOR);
	return PointerGetDatum(NULL);
}

/* trigger: an instance became terminal, wake its waiters after commit */
Datum
duroxide_wake_waiters(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HeapTuple	tuple;
	bool		isnull;
	Datum		d;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "duroxide_wake_waiters: not called by trigger manager");
	tuple = trigdata->tg_newtuple ? trigdata->tg_newtuple : trigdata->tg_trigtuple;
	d = heap_getattr(tuple, 1, RelationGetDescr(trigdata->tg_relation), &isnull);
	if (!isnull)
		DxRequestWaiterWake(TextDatumGetCString(d));
	return PointerGetDatum(tuple);
}

/* SQL: duroxide._extension_created(), run by the install and upgrade scripts */
Datum
duroxide_extension_created(PG_FUNCTION_ARGS)
{
	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("duroxide._extension_created() can only run inside CREATE EXTENSION or ALTER EXTENSION duroxide")));
	/* the launcher starts this database's workers once the transaction commits */
	DxExtensionCreatedPending();
	PG_RETURN_VOID();
}

/* SQL: are engine processes running for this database? */
Datum
duroxide_workers_running(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(DxWorkersRunning(MyDatabaseId));
}

/* SQL: duroxide._check_payload(what, value) */
Datum
duroxide_check_payload(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(1))
		DxCheckPayload(PG_ARGISNULL(0) ? "payload" : TextDatumGetCString(PG_GETARG_DATUM(0)),
					   PG_GETARG_JSONB_P(1));
	PG_RETURN_VOID();
}

/* SQL: duroxide._check_name(what, value) -- the checks of DxCheckName */
Datum
duroxide_check_name(PG_FUNCTION_ARGS)
{
	char	   *value = PG_ARGISNULL(1) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(1));

	DxCheckName(PG_ARGISNULL(0) ? "name" : TextDatumGetCString(PG_GETARG_DATUM(0)), value);
	PG_RETURN_DATUM(PG_GETARG_DATUM(1));
}

/* SQL: duroxide._version_key(version) -- DxCheckVersion, then the numbers */
Datum
duroxide_version_key(PG_FUNCTION_ARGS)
{
	char	   *version = TextDatumGetCString(PG_GETARG_DATUM(0));
	Datum		parts[4];
	int			n = 0;

	DxCheckVersion(version);
	for (char *p = strtok(version, "."); p != NULL; p = strtok(NULL, "."))
		parts[n++] = Int32GetDatum(atoi(p));
	PG_RETURN_ARRAYTYPE_P(construct_array(parts, n, INT4OID, sizeof(int32), true, TYPALIGN_INT));
}

/*
 * The instance ids among ids[0..n) that the caller may see: all for
 * superusers and members of duroxide_admin; otherwise the ones row-level
 * security shows the caller in duroxide.instances (its own), read as the
 * caller with every name qualified and compared exactly.  A truncated id
 * (a generated child id longer than a slot holds) cannot be checked
 * exactly and is shown to admins only.
 */
static void
VisibleInstances(DxSlotInfo *slots, bool *visible, int n)
{
	Oid			user = GetUserId();
	Datum	   *ids = palloc(sizeof(Datum) * (n + 1));
	int			nids = 0;
	Datum		arg;
	Oid			argtype = TEXTARRAYOID;

	for (int i = 0; i < n; i++)
		visible[i] = false;
	if (DxIsAdmin(user))
	{
		for (int i = 0; i < n; i++)
			visible[i] = slots[i].instance[0] != '\0';
		return;
	}
	for (int i = 0; i < n; i++)
		if (slots[i].instance[0] != '\0' && !slots[i].instance_truncated)
			ids[nids++] = CStringGetTextDatum(slots[i].instance);
	if (nids == 0)
		return;
	arg = PointerGetDatum(construct_array(ids, nids, TEXTOID, -1, false, TYPALIGN_INT));
	SPI_connect();
	if (SPI_execute_with_args("SELECT i.instance_id FROM duroxide.instances i"
							  " WHERE i.instance_id OPERATOR(pg_catalog.=) ANY ($1)",
							  1, &argtype, &arg, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "duroxide: instance visibility lookup failed");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		for (int i = 0; id != NULL && i < n; i++)
			if (!slots[i].instance_truncated && strcmp(slots[i].instance, id) == 0)
				visible[i] = true;
	}
	SPI_finish();
}

/* SQL: duroxide._workers(), the registry of engine processes */
Datum
duroxide_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			nslots = Max(DxSlotCount(), 1);
	DxSlotInfo *slots = palloc(sizeof(DxSlotInfo) * nslots);
	int		   *slotno = palloc(sizeof(int) * nslots);
	bool	   *visible = palloc(sizeof(bool) * nslots);
	int			n = 0;

	InitMaterializedSRF(fcinfo, 0);
	for (int slot = 0; slot < DxSlotCount(); slot++)
		if (DxSlotRead(slot, &slots[n]))
		{
			/* another database's instance ids are not this one's to show */
			if (slots[n].dboid != MyDatabaseId)
				slots[n].instance[0] = '\0';
			slotno[n++] = slot;
		}
	VisibleInstances(slots, visible, n);
	for (int i = 0; i < n; i++)
	{
		DxSlotInfo *info = &slots[i];
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = Int32GetDatum(slotno[i]);
		values[1] = Int32GetDatum(info->pid);
		values[2] = CStringGetTextDatum(info->kind == DX_KIND_DISPATCHER ? "dispatcher" : "activity worker");
		values[3] = CStringGetTextDatum(DxWorkerStateName(info->state));
		if (visible[i])
			values[4] = CStringGetTextDatum(info->instance);
		else
			nulls[4] = true;
		values[5] = ObjectIdGetDatum(info->dboid);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
