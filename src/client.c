/*-------------------------------------------------------------------------
 * client.c
 *		Client functions in C: start_orchestration (the hot path of every
 *		workflow: one statement instead of a chain of PL/pgSQL helpers) and
 *		wait_for_orchestration.
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
#include "registry.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_wait_for_orchestration);
PG_FUNCTION_INFO_V1(duroxide_start_orchestration);

/* two statements: row-level security checks the message against the instance */
static DxPlan create_plan = {NULL,
	"INSERT INTO duroxide.instances (instance_id, orchestration_name, orchestration_version, input)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT (instance_id) DO NOTHING",
4, {TEXTOID, TEXTOID, TEXTOID, JSONBOID}};

static DxPlan first_message_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, execution_id, kind) VALUES ($1, 1, 'ExecutionStarted')",
1, {TEXTOID}};

static DxPlan status_plan = {NULL,
	"SELECT s, i.xmin FROM duroxide.get_orchestration_status($1) s"
	"  LEFT JOIN duroxide.instances i ON i.instance_id = $1",
1, {TEXTOID}};

/* a name argument, checked as duroxide._check_name does */
static char *
NameArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *s = PG_ARGISNULL(argno) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(argno));

	DxCheckName(what, s);
	return s;
}

/* SQL: duroxide.start_orchestration(instance_id, name, input, version) */
Datum
duroxide_start_orchestration(PG_FUNCTION_ARGS)
{
	char	   *instance_id = NameArg(fcinfo, 0, "instance id");
	char	   *name = NameArg(fcinfo, 1, "orchestration name");
	Jsonb	   *input = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	char	   *version = PG_ARGISNULL(3) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(3));
	Oid			instances = get_relname_relid("instances", get_namespace_oid("duroxide", false));
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};

	DxRequireExtensionVersion();
	if (pg_class_aclcheck(instances, GetUserId(), ACL_INSERT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to start orchestrations"),
				 errhint("Grant the role duroxide_user to %s.", quote_identifier(GetUserNameFromId(GetUserId(), false)))));

	SPI_connect();
	values[2] = CStringGetTextDatum(DxResolveVersion(name, version));
	DxCheckPayload("input", input);
	values[0] = CStringGetTextDatum(instance_id);
	values[1] = CStringGetTextDatum(name);
	values[3] = input ? JsonbPGetDatum(input) : (Datum) 0;
	if (input == NULL)
		nulls[3] = 'n';
	/* transactional and idempotent: an existing id is left as it is */
	DxExpect(DxExecPlan(&create_plan, values, nulls, false, 0), SPI_OK_INSERT, "instance creation");
	if (SPI_processed > 0)
		DxExpect(DxExecPlan(&first_message_plan, values, NULL, false, 0), SPI_OK_INSERT, "instance start");
	SPI_finish();

	if (!DxWorkersRunning(MyDatabaseId))
		ereport(WARNING,
				(errmsg("no duroxide worker runs for database \"%s\"", get_database_name(MyDatabaseId)),
				 errhint("Add duroxide to shared_preload_libraries and set duroxide.database to this database.")));
	PG_RETURN_TEXT_P(cstring_to_text(instance_id));
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
	*terminal = strcmp(status, "Running") != 0 && !*missing;
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
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("timed out after " INT64_FORMAT " ms waiting for orchestration instance \"%s\"",
								timeout_ms, instance_id),
						 errhint("The instance is still running; wait again or raise timeout_ms.")));
			/* no preload: nobody sets our latch, so poll */
			if (!DxShmemAvailable())
				left = Min(left, duroxide_poll_interval);
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 left, PG_WAIT_EXTENSION);
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
