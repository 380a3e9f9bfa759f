/*-------------------------------------------------------------------------
 * concurrency.c
 *		Activity concurrency limits (API.md 8.3): set_activity_concurrency,
 *		and the claims of attempts of limited activities.
 *
 * A limit is a row of duroxide.activity_limits (name, max_concurrent).  It
 * stays when the activity is registered again by its owner, and goes when
 * the registration goes or changes owner (trigger on duroxide.activities).
 *
 * Running attempts of an activity: its worker_queue rows claimed in the
 * current boot (claim_boot = DxBootId(); rows claimed by a boot before the
 * last server start belong to dead processes and are recovered at start),
 * which includes the attempts of a batch claimed but not yet run, and (once
 * external workers exist) its unexpired leases.  A claimed row stays until
 * the transaction that ran the attempt commits, so a slot is held exactly
 * from the claim's commit to the result's commit.
 *
 * The activity workers' common claim leaves limited activities out (a
 * condition of that one query; unlimited activities pay nothing else).
 * When limits exist, DxClaimLimitedAttempts then claims per limited
 * activity: lock its limit row (FOR UPDATE SKIP LOCKED, until the claim
 * commits), count its running attempts with a fresh snapshot, claim at most
 * the free slots.  The lock serializes claims of one activity, so two
 * claimers never both take its last slot; one that finds the row locked
 * skips the activity (the holder takes what is free, and loops again).
 *
 * A slot is freed when the attempt's result commits, when its worker's
 * claim is released (the next process of its slot, or recovery after a
 * crash), or when the server restarts (a new boot id).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "concurrency.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_set_activity_concurrency);
PG_FUNCTION_INFO_V1(duroxide_boot_id);

static DxPlan exist_plan = {NULL,
	"SELECT EXISTS (SELECT 1 FROM duroxide.activity_limits)",
0, {0}};

static DxPlan claim_limited_plan = {NULL,
	"SELECT * FROM duroxide._claim_limited_activities($1, $2, $3, $4)",
4, {INT8OID, INT4OID, INT4OID, BOOLOID}};

static DxPlan slots_plan = {NULL,
	"SELECT duroxide._activity_slots_free($1, $2, true)",
2, {TEXTOID, INT8OID}};

/* the registration, locked against a concurrent unregistration */
static DxPlan registration_plan = {NULL,
	"SELECT a.owner::oid FROM duroxide.activities a WHERE a.name = $1 FOR SHARE",
1, {TEXTOID}};

static DxPlan set_plan = {NULL,
	"INSERT INTO duroxide.activity_limits AS l (name, max_concurrent) VALUES ($1, $2)"
	" ON CONFLICT (name) DO UPDATE SET max_concurrent = EXCLUDED.max_concurrent, set_at = now()",
2, {TEXTOID, INT4OID}};

static DxPlan unset_plan = {NULL,
	"DELETE FROM duroxide.activity_limits l WHERE l.name = $1",
1, {TEXTOID}};

static bool limits_known = false;
static bool limits_exist = false;
static uint64 limits_generation = 0;

/* see concurrency.h */
bool
DxActivityLimitsExist(void)
{
	uint64		gen = DxRegistryGeneration();	/* read before the query */
	bool		isnull;

	if (limits_known && DxShmemAvailable() && gen == limits_generation && !DxRegistryChangedInXact())
		return limits_exist;
	DxExpect(DxExecPlan(&exist_plan, NULL, NULL, false, 1), SPI_OK_SELECT, "activity limit lookup");
	limits_exist = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	limits_known = !DxRegistryChangedInXact();
	limits_generation = gen;
	return limits_exist;
}

/* see concurrency.h */
void
DxClaimLimitedAttempts(int slot, int n, bool suspect)
{
	Datum		values[4];

	values[0] = Int64GetDatum(DxBootId());
	values[1] = Int32GetDatum(slot);
	values[2] = Int32GetDatum(n);
	values[3] = BoolGetDatum(suspect);
	DxExpect(DxExecPlan(&claim_limited_plan, values, NULL, false, 0), SPI_OK_SELECT, "limited activity claim");
}

/* see concurrency.h */
int
DxActivitySlotsFree(const char *name)
{
	Datum		values[2];
	bool		isnull;
	Datum		d;

	values[0] = CStringGetTextDatum(name);
	values[1] = Int64GetDatum(DxBootId());
	DxExpect(DxExecPlan(&slots_plan, values, NULL, false, 1), SPI_OK_SELECT, "activity slot count");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? -1 : DatumGetInt32(d);
}

/* SQL: duroxide.set_activity_concurrency(name, max_concurrent) */
Datum
duroxide_set_activity_concurrency(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	bool		unlimited = PG_ARGISNULL(1);
	int32		max_concurrent = unlimited ? 0 : PG_GETARG_INT32(1);
	Oid			me = GetUserId();
	bool		admin = DxIsAdmin(me);
	Datum		values[2];
	bool		isnull;
	Oid			owner;
	DxEngineSave save;

	DxCheckName("activity name", name);
	if (!unlimited && max_concurrent <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_concurrent of activity \"%s\" must be at least 1 (got %d)", name, max_concurrent),
				 errhint("Pass NULL to remove the limit.")));
	values[0] = CStringGetTextDatum(name);
	values[1] = Int32GetDatum(max_concurrent);
	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&registration_plan, values, NULL, false, 0), SPI_OK_SELECT,
			 "activity registration lock");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("activity \"%s\" is not registered", name),
				 errhint("Register it with duroxide.register_activity() first.")));
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (owner != me && !admin)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("activity \"%s\" is registered by another role", name),
				 errhint("Only its owner or a member of duroxide_admin can set its concurrency limit.")));
	if (unlimited)
		DxExpect(DxExecPlan(&unset_plan, values, NULL, false, 0), SPI_OK_DELETE, "activity limit removal");
	else
		DxExpect(DxExecPlan(&set_plan, values, NULL, false, 0), SPI_OK_INSERT, "activity limit");
	DxEngineEnd(&save);
	SPI_finish();
	/* attempts that waited for a slot may be claimable now */
	DxRequestWake(DX_WAKE_WORKER);
	PG_RETURN_VOID();
}

/* SQL: duroxide._boot_id() -- the claims' boot id (0 without shared memory) */
Datum
duroxide_boot_id(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT64(DxBootId());
}
