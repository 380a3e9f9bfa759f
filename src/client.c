/*-------------------------------------------------------------------------
 * client.c
 *		Client functions that need C: wait_for_orchestration.
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
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_wait_for_orchestration);

static DxPlan status_plan = {NULL,
	"SELECT s, i.xmin FROM duroxide.get_orchestration_status($1) s"
	"  LEFT JOIN duroxide.instances i ON i.instance_id = $1",
1, {TEXTOID}};

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
