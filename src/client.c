/*-------------------------------------------------------------------------
 * client.c
 *		Client functions in C: start_orchestration (the hot path of every
 *		workflow: one statement instead of a chain of PL/pgSQL helpers),
 *		raise_event, cancel_orchestration, delete_instance and
 *		wait_for_orchestration.
 *
 * Tenant writes: duroxide_user may read the engine's tables (row-level
 * security shows each role its own instances) but not write them.  The
 * client functions check the caller first, as the caller: membership for
 * start_orchestration, and for the others the instance as row-level
 * security shows it to the caller (with search_path pinned, so no schema of
 * the caller can redirect that read).  Only then do they write, with the
 * engine's rights (DxEngineBegin), and only rows of an instance whose owner
 * is the one the caller saw.
 *
 * Waiting protocol: publish the instance in the waiter registry (shmem.c),
 * then read the status, then sleep on our latch.  The commit that makes the
 * instance terminal sets our latch after it is visible, so the order
 * register -> read -> sleep cannot miss it.  Each read runs with a fresh
 * snapshot (READ COMMITTED); under REPEATABLE READ or SERIALIZABLE the
 * status could never change, so that is refused.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/dbcommands.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "launcher.h"
#include "protocol.h"
#include "registry.h"
#include "shmem.h"
#include "suspend.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_wait_for_orchestration);
PG_FUNCTION_INFO_V1(duroxide_start_orchestration);
PG_FUNCTION_INFO_V1(duroxide_raise_event);
PG_FUNCTION_INFO_V1(duroxide_cancel_orchestration);
PG_FUNCTION_INFO_V1(duroxide_delete_instance);

/* engine: the caller (checked before) is written as the owner explicitly */
static DxPlan create_plan = {NULL,
	"INSERT INTO duroxide.instances (instance_id, orchestration_name, orchestration_version, input, owner)"
	" VALUES ($1, $2, $3, $4, $5::oid::regrole) ON CONFLICT (instance_id) DO NOTHING",
5, {TEXTOID, TEXTOID, TEXTOID, JSONBOID, OIDOID}};

/* $2: the ExecutionStarted kind */
static DxPlan first_message_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind) VALUES ($1, 1, $2)",
2, {TEXTOID, TEXTOID}};

/* engine: who owns an existing instance id */
static DxPlan owner_plan = {NULL,
	"SELECT i.owner::oid FROM duroxide.instances i WHERE i.instance_id = $1",
1, {TEXTOID}};

/* as the caller: the instance and its sub-orchestrations, recursively */
static DxPlan tree_plan = {NULL,
	"WITH RECURSIVE tree(id, owner) AS ("
	"  SELECT i.instance_id, i.owner::oid FROM duroxide.instances i"
	"   WHERE i.instance_id OPERATOR(pg_catalog.=) $1"
	"  UNION"
	"  SELECT c.instance_id, c.owner::oid FROM duroxide.instances c"
	"    JOIN tree t ON c.parent_instance_id OPERATOR(pg_catalog.=) t.id)"
	" SELECT pg_catalog.array_agg(id), pg_catalog.array_agg(owner) FROM tree",
1, {TEXTOID}};

/* engine: a message for an instance of a given owner (execution: the current one) */
static DxPlan message_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)"
	" SELECT i.instance_id, $2, $3 FROM duroxide.instances i"
	"  WHERE i.instance_id = $1 AND i.owner::oid = $4",
4, {TEXTOID, TEXTOID, JSONBOID, OIDOID}};

/* engine: delete_instance, the instance rows first (waits for a turn in progress to commit) */
static DxPlan delete_instances_plan = {NULL,
	"DELETE FROM duroxide.instances i USING unnest($1::text[], $2::oid[]) u(id, owner)"
	" WHERE i.instance_id = u.id AND i.owner::oid = u.owner RETURNING i.instance_id",
2, {TEXTARRAYOID, OIDARRAYOID}};

static DxPlan delete_messages_plan = {NULL,
	"DELETE FROM duroxide.orchestrator_queue q WHERE q.instance_id = ANY ($1)",
1, {TEXTARRAYOID}};

static DxPlan delete_activities_plan = {NULL,
	"DELETE FROM duroxide.worker_queue w WHERE w.instance_id = ANY ($1)",
1, {TEXTARRAYOID}};

static DxPlan delete_history_plan = {NULL,
	"DELETE FROM duroxide.history h WHERE h.instance_id = ANY ($1)",
1, {TEXTARRAYOID}};

static DxPlan delete_executions_plan = {NULL,
	"DELETE FROM duroxide.executions e WHERE e.instance_id = ANY ($1)",
1, {TEXTARRAYOID}};

static DxPlan status_plan = {NULL,
	"SELECT s, i.xmin FROM duroxide.get_orchestration_status($1) s"
	"  LEFT JOIN duroxide.instances i ON i.instance_id = $1",
1, {TEXTOID}};

/* engine: queue a message for the instance the caller saw (owner) */
static void
QueueMessage(const char *instance_id, Oid owner, DxMessageKind kind, Jsonb *data)
{
	Datum		values[4];
	DxEngineSave save;

	values[0] = CStringGetTextDatum(instance_id);
	values[1] = CStringGetTextDatum(DxMessageKindName(kind));
	values[2] = JsonbPGetDatum(data);
	values[3] = ObjectIdGetDatum(owner);
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&message_plan, values, NULL, false, 0), SPI_OK_INSERT, "message insert");
	DxEngineEnd(&save);
}


/*
 * Warn when nothing will run the instance just started: duroxide is not
 * preloaded, no dispatcher is configured for this database, or the launcher
 * is not running.  Workers the launcher is about to start (right after
 * CREATE DATABASE or a restart) are no reason to warn.  The configuration
 * checks are made once per session: the settings involved take effect only
 * at server start, and a database with sessions cannot be renamed.
 */
static void
WarnIfNoWorkers(void)
{
	static bool checked = false;
	static bool configured = false;
	char	   *db;

	if (checked && configured && DxWorkersRunning(MyDatabaseId))
		return;
	db = get_database_name(MyDatabaseId);
	if (!DxShmemAvailable())
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("no duroxide worker runs for database \"%s\": duroxide is not in shared_preload_libraries", db),
				 errdetail("The instance is recorded and runs once workers start."),
				 errhint("Add duroxide to shared_preload_libraries, set duroxide.database to this database, and restart the server.")));
	else if (!DxDatabaseConfigured(db))
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("no duroxide worker runs for database \"%s\": duroxide.database is \"%s\"",
						db, duroxide_database ? duroxide_database : ""),
				 errdetail("The instance is recorded and runs once workers start for this database."),
				 errhint("Add this database to duroxide.database (a list, or * for every database with the extension) and restart the server.")));
	else if (duroxide_orchestration_concurrency == 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg("no duroxide worker runs for database \"%s\": duroxide.orchestration_concurrency is 0", db),
				 errhint("Set duroxide.orchestration_concurrency to 1 or more and restart the server.")));
	else
	{
		checked = configured = true;
		if (!DxWorkersRunning(MyDatabaseId) && !DxLauncherRunning())
			ereport(WARNING,
					(errcode(ERRCODE_WARNING),
					 errmsg("no duroxide worker runs for database \"%s\": the duroxide launcher is not running", db),
					 errdetail("The postmaster restarts the launcher within seconds; the server log says why it stopped.")));
		return;
	}
	checked = true;
}

/* SQL: duroxide.start_orchestration(instance_id, name, input, version) */
Datum
duroxide_start_orchestration(PG_FUNCTION_ARGS)
{
	char	   *instance_id = DxNameArg(fcinfo, 0, "instance id");
	char	   *name = DxNameArg(fcinfo, 1, "orchestration name");
	Jsonb	   *input = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *version = DxTextArg(fcinfo, 3);
	Oid			caller = GetUserId();
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	DxEngineSave save;
	Oid			existing = InvalidOid;
	char	   *resolved;
	DxFunctionInfo fi;

	DxRequireExtensionVersion();
	DxCheckEngineUser(caller, "start orchestrations");

	DxCheckPayload("input", input);
	SPI_connect();
	resolved = DxResolveVersion(name, version);
	if (DxLookupOrchestration(name, resolved, &fi))
		DxCheckMayUse(&fi, psprintf("orchestration \"%s\" version %s", name, resolved));
	DxEngineBegin(&save);
	values[2] = CStringGetTextDatum(resolved);
	values[0] = CStringGetTextDatum(instance_id);
	values[1] = CStringGetTextDatum(name);
	values[3] = input ? JsonbPGetDatum(input) : (Datum) 0;
	if (input == NULL)
		nulls[3] = 'n';
	values[4] = ObjectIdGetDatum(caller);
	/* transactional and idempotent: an existing id of the caller is left as it is */
	DxExpect(DxExecPlan(&create_plan, values, nulls, false, 0), SPI_OK_INSERT, "instance creation");
	if (SPI_processed > 0)
	{
		Datum		first[2];

		first[0] = values[0];
		first[1] = CStringGetTextDatum(DxMessageKindName(MSG_EXECUTION_STARTED));
		DxExpect(DxExecPlan(&first_message_plan, first, NULL, false, 0), SPI_OK_INSERT, "instance start");
	}
	else
	{
		bool		isnull;

		DxExpect(DxExecPlan(&owner_plan, values, NULL, true, 1), SPI_OK_SELECT, "instance owner lookup");
		if (SPI_processed > 0)
			existing = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	}
	DxEngineEnd(&save);
	SPI_finish();
	if (OidIsValid(existing) && existing != caller)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("orchestration instance \"%s\" already exists and belongs to another role", instance_id),
				 errhint("Instance ids are unique across all roles: choose another instance id.")));

	WarnIfNoWorkers();
	PG_RETURN_TEXT_P(cstring_to_text(instance_id));
}

/* SQL: duroxide.raise_event(instance_id, event_name, data) */
Datum
duroxide_raise_event(PG_FUNCTION_ARGS)
{
	char	   *instance_id = DxNameArg(fcinfo, 0, "instance id");
	char	   *event_name = DxNameArg(fcinfo, 1, "event name");
	Jsonb	   *data = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Oid			owner = InvalidOid;
	DxJsonBuilder b;

	DxCheckPayload("event data", data);
	SPI_connect();
	/* terminal: the event is ignored (a suspended instance keeps it for after its resume) */
	if (DxStatusLive(DxVisibleInstance(instance_id, &owner, NULL)))
	{
		DxJbBegin(&b);
		DxJbString(&b, "name", event_name);
		if (data)
			DxJbJsonb(&b, "data", data);
		else
			DxJbNull(&b, "data");
		QueueMessage(instance_id, owner, MSG_EVENT_RAISED, DxJbEnd(&b));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* SQL: duroxide.cancel_orchestration(instance_id, reason) */
Datum
duroxide_cancel_orchestration(PG_FUNCTION_ARGS)
{
	char	   *instance_id = DxNameArg(fcinfo, 0, "instance id");
	char	   *reason = PG_ARGISNULL(1) ? "cancelled" : TextDatumGetCString(PG_GETARG_DATUM(1));
	Oid			owner = InvalidOid;
	DxJsonBuilder b;

	SPI_connect();
	/* terminal: nothing to cancel */
	if (DxStatusLive(DxVisibleInstance(instance_id, &owner, NULL)))
	{
		DxJbBegin(&b);
		DxJbString(&b, "reason", reason);
		/* a suspended instance (or descendant) is resumed to be cancelled */
		DxResumeForCancel(instance_id, owner, reason, DxJbEnd(&b));
		DxJbBegin(&b);
		DxJbString(&b, "reason", reason);
		QueueMessage(instance_id, owner, MSG_CANCEL_REQUESTED, DxJbEnd(&b));
	}
	SPI_finish();
	PG_RETURN_VOID();
}

/* SQL: duroxide.delete_instance(instance_id, force) */
Datum
duroxide_delete_instance(PG_FUNCTION_ARGS)
{
	char	   *instance_id = DxNameArg(fcinfo, 0, "instance id");
	bool		force = !PG_ARGISNULL(1) && PG_GETARG_BOOL(1);
	Oid			owner = InvalidOid;
	Datum		values[2];
	Datum		ids;
	bool		isnull;
	int			nest;
	char	   *status;
	DxEngineSave save;

	SPI_connect();
	status = DxVisibleInstance(instance_id, &owner, NULL);
	if (strcmp(status, "Running") == 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("orchestration instance \"%s\" is still running", instance_id),
				 errhint("Cancel it first, or pass force => true.")));
	if (strcmp(status, DX_STATUS_SUSPENDED) == 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("orchestration instance \"%s\" is suspended", instance_id),
				 errhint("Resume or cancel it first, or pass force => true.")));
	/* the subtree as the caller sees it */
	values[0] = CStringGetTextDatum(instance_id);
	nest = DxPinSearchPath();
	DxExpect(DxExecPlan(&tree_plan, values, NULL, false, 0), SPI_OK_SELECT, "instance tree lookup");
	DxUnpinSearchPath(nest);
	values[0] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	values[1] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
	{
		SPI_finish();			/* deleted meanwhile */
		PG_RETURN_VOID();
	}

	DxEngineBegin(&save);
	/* the instance rows first: this waits for a turn in progress to commit */
	DxExpect(DxExecPlan(&delete_instances_plan, values, NULL, false, 0), SPI_OK_DELETE_RETURNING,
			 "instance delete");
	if (SPI_processed > 0)
	{
		int			n = (int) SPI_processed;
		Datum	   *deleted = palloc(sizeof(Datum) * n);

		for (int i = 0; i < n; i++)
			deleted[i] = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);
		ids = PointerGetDatum(construct_array(deleted, n, TEXTOID, -1, false, TYPALIGN_INT));
		DxExpect(DxExecPlan(&delete_messages_plan, &ids, NULL, false, 0), SPI_OK_DELETE, "message delete");
		DxExpect(DxExecPlan(&delete_activities_plan, &ids, NULL, false, 0), SPI_OK_DELETE, "activity delete");
		DxExpect(DxExecPlan(&delete_history_plan, &ids, NULL, false, 0), SPI_OK_DELETE, "history delete");
		DxExpect(DxExecPlan(&delete_executions_plan, &ids, NULL, false, 0), SPI_OK_DELETE, "execution delete");
		DxDeleteSuspensions(ids);
	}
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_VOID();
}

/* read the status row; sets *terminal, *missing, *own_xact */
static Datum
ReadStatus(const char *instance_id, bool *terminal, bool *missing, bool *own_xact)
{
	Datum		values[1];
	bool		isnull;
	Datum		row;
	Datum		xmin;
	HeapTupleHeader h;
	char	   *status;

	values[0] = CStringGetTextDatum(instance_id);
	DxExpect(DxExecPlan(&status_plan, values, NULL, false, 1), SPI_OK_SELECT, "status lookup");
	row = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	xmin = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*own_xact = !isnull && TransactionIdIsCurrentTransactionId(DatumGetTransactionId(xmin));
	h = DatumGetHeapTupleHeader(row);
	status = TextDatumGetCString(GetAttributeByNum(h, 4, &isnull));
	*missing = strcmp(status, "NotFound") == 0;
	*terminal = !DxStatusLive(status) && !*missing;
	return SPI_datumTransfer(row, false, -1);
}

/* SQL: duroxide.wait_for_orchestration(instance_id, timeout_ms) */
Datum
duroxide_wait_for_orchestration(PG_FUNCTION_ARGS)
{
	char	   *instance_id;
	int64		timeout_ms;
	TimestampTz deadline;
	volatile Datum row = (Datum) 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("instance id must not be null or empty")));
	instance_id = TextDatumGetCString(PG_GETARG_DATUM(0));
	if (instance_id[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("instance id must not be null or empty")));
	timeout_ms = PG_ARGISNULL(1) ? 30000 : PG_GETARG_INT64(1);
	if (timeout_ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout_ms must not be negative (got " INT64_FORMAT ")", timeout_ms)));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("duroxide.wait_for_orchestration cannot wait inside a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in READ COMMITTED, where each check sees newly committed changes.")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(timeout_ms, INT64CONST(3153600000000)));

	DxWaiterRegister(instance_id);
	/* a latch set before we registered is not about this instance: we look first */
	ResetLatch(MyLatch);
	PG_TRY();
	{
		for (;;)
		{
			bool		terminal,
						missing,
						own;
			long		left;

			SPI_connect();
			row = ReadStatus(instance_id, &terminal, &missing, &own);
			SPI_finish();
			if (terminal)
				break;
			if (own)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("orchestration instance \"%s\" was started in this transaction, which has not committed",
								instance_id),
						 errhint("Commit the transaction that called duroxide.start_orchestration() before waiting for it.")));
			if (missing)
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("orchestration instance \"%s\" does not exist", instance_id)));
			left = (long) ((deadline - GetCurrentTimestamp()) / 1000);
			if (left <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_DX_WAIT_TIMEOUT),
						 errmsg("timed out after " INT64_FORMAT " ms waiting for orchestration instance \"%s\"",
								timeout_ms, instance_id),
						 errhint("The instance is still running; wait again or raise timeout_ms.")));
			/* no preload: nobody sets our latch, so poll */
			if (!DxShmemAvailable())
				left = Min(left, duroxide_poll_interval);
			if (WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						  left, PG_WAIT_EXTENSION) & WL_LATCH_SET)
				ereport(DEBUG1,
						(errmsg_internal("duroxide: wait_for_orchestration(\"%s\") woken", instance_id)));
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_FINALLY();
	{
		DxWaiterUnregister();
	}
	PG_END_TRY();
	PG_RETURN_DATUM(row);
}
