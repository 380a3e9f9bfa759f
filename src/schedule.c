/*-------------------------------------------------------------------------
 * schedule.c
 *		Schedules: recurring orchestrations fired by the engine.  Owns the
 *		client functions create_schedule, drop_schedule, pause_schedule and
 *		resume_schedule, the table duroxide.schedule_entries, and the firing
 *		of due runs (DxScheduleTick, called from the first dispatcher's loop;
 *		duroxide._fire_schedules for tests and operators).  The expressions
 *		and their fire times are cron.c's.
 *
 * Rights: as in client.c.  The client functions check the caller first
 * (membership in duroxide_user; the registration it names, with EXECUTE on
 * its function, as start_orchestration checks; an existing schedule as
 * row-level security shows it to the caller), then write with the engine's
 * rights (DxEngineBegin), and only rows of the owner the caller saw.
 *
 * A schedule's state: active (next_run_at is its next fire time), paused
 * (fires nothing; resume computes the next fire time after now, so the runs
 * missed while paused are not started), or stopped (next_run_at NULL: it
 * will never fire again, e.g. a cron date that no longer occurs or an owner
 * that was dropped; last_error says why).  Dropping removes it; its runs stay.
 *
 * Firing, exactly once per fire time: a dispatcher locks the due rows
 * (next_run_at <= now, not paused) FOR UPDATE SKIP LOCKED, so two
 * dispatchers, or a dispatcher and _fire_schedules, never take one row
 * together.  For each it starts ONE run, for the latest fire time not after
 * now (after downtime the earlier missed ones are dropped: never a burst),
 * as instance `<schedule_name>@<fire time, UTC, ISO 8601 to the
 * millisecond>`, through duroxide.start_orchestration called as the
 * schedule's owner (the owner's rights are checked as for any start), and
 * moves next_run_at to the first fire time after now, in the same
 * transaction.  A crash before the commit loses both; the next dispatcher
 * redoes both.  start_orchestration is idempotent on the instance id, so a
 * run whose instance exists already (a failover that replayed the schedule
 * row's older version, a manual start of that id by the owner) is not
 * started twice.  Only a primary runs dispatchers (they start when recovery
 * has finished), so a standby fires nothing.
 *
 * Overlap: `skip` starts no run while the instance of the previous run is
 * in any non-terminal status (Running, Suspended); the fire time passes.
 * `allow` starts it anyway.  A run that cannot start (orchestration
 * unregistered, owner no longer allowed, the id taken by another role) is
 * logged and recorded in last_error; the schedule moves on.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "cron.h"
#include "guc.h"
#include "registry.h"
#include "schedule.h"
#include "shmem.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_create_schedule);
PG_FUNCTION_INFO_V1(duroxide_drop_schedule);
PG_FUNCTION_INFO_V1(duroxide_pause_schedule);
PG_FUNCTION_INFO_V1(duroxide_resume_schedule);
PG_FUNCTION_INFO_V1(duroxide_fire_schedules);

/* schedules locked per firing transaction; more wait for the next one */
#define DX_SCHEDULE_BATCH 32

/* how soon to look again at a due schedule that another firer holds */
#define DX_SCHEDULE_LOCKED_RETRY_MS 100

/* the suffix of a run's instance id: "@2026-12-01T02:00:00.000Z" */
#define DX_RUN_SUFFIX_BYTES 25

/* engine: a new schedule (the caller, checked before, is its owner) */
static DxPlan insert_plan = {NULL,
	"INSERT INTO duroxide.schedule_entries (schedule_name, schedule, orchestration_name, input, version,"
	"   overlap, time_zone, anchor, next_run_at, owner)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::oid::regrole)"
	" ON CONFLICT (schedule_name) DO NOTHING",
10, {TEXTOID, TEXTOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, OIDOID}};

/* engine: an instance of another role whose id would be a run of the schedule */
static DxPlan taken_plan = {NULL,
	"SELECT 1 FROM duroxide.instances i"
	" WHERE pg_catalog.starts_with(i.instance_id, $1) AND i.owner::oid <> $2 LIMIT 1",
2, {TEXTOID, OIDOID}};

/* as the caller: the schedule as row-level security shows it */
static DxPlan visible_plan = {NULL,
	"SELECT s.schedule_name, s.owner::oid, s.paused, s.schedule, s.time_zone, s.anchor"
	"  FROM duroxide.schedule_entries s WHERE s.schedule_name OPERATOR(pg_catalog.=) $1",
1, {TEXTOID}};

/* engine: the changes of the client functions, to the owner's row only */
static DxPlan drop_plan = {NULL,
	"DELETE FROM duroxide.schedule_entries s WHERE s.schedule_name = $1 AND s.owner::oid = $2",
2, {TEXTOID, OIDOID}};

static DxPlan pause_plan = {NULL,
	"UPDATE duroxide.schedule_entries s SET paused = true"
	" WHERE s.schedule_name = $1 AND s.owner::oid = $2 AND NOT s.paused",
2, {TEXTOID, OIDOID}};

static DxPlan resume_plan = {NULL,
	"UPDATE duroxide.schedule_entries s SET paused = false, next_run_at = $3, last_error = NULL"
	" WHERE s.schedule_name = $1 AND s.owner::oid = $2 AND s.paused",
3, {TEXTOID, OIDOID, TIMESTAMPTZOID}};

/* engine: the due schedules, with the status of each one's previous run */
static DxPlan due_plan = {NULL,
	"SELECT s.schedule_name, s.schedule, s.orchestration_name, s.input, s.version, s.overlap,"
	"       s.time_zone, s.anchor, s.next_run_at, s.owner::oid, i.status"
	"  FROM duroxide.schedule_entries s"
	"  LEFT JOIN duroxide.instances i ON i.instance_id = s.last_instance_id"
	" WHERE NOT s.paused AND s.next_run_at <= $1"
	" ORDER BY s.next_run_at LIMIT " CppAsString2(DX_SCHEDULE_BATCH)
	" FOR UPDATE OF s SKIP LOCKED",
1, {TIMESTAMPTZOID}};

/* engine: a schedule after a fire time ($3, $4 NULL: no run started) */
static DxPlan advance_plan = {NULL,
	"UPDATE duroxide.schedule_entries s SET next_run_at = $2,"
	"       last_run_at = coalesce($3, s.last_run_at), last_instance_id = coalesce($4, s.last_instance_id),"
	"       last_error = $5"
	" WHERE s.schedule_name = $1",
5, {TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTOID, TEXTOID}};

/* as the owner: one run */
static DxPlan start_plan = {NULL,
	"SELECT duroxide.start_orchestration($1, $2, $3, $4)",
4, {TEXTOID, TEXTOID, JSONBOID, TEXTOID}};

/* engine: the next fire time of any active schedule */
static DxPlan next_due_plan = {NULL,
	"SELECT pg_catalog.min(s.next_run_at) FROM duroxide.schedule_entries s WHERE NOT s.paused",
0, {InvalidOid}};

/* a schedule as the caller sees it */
typedef struct Visible
{
	Oid			owner;
	bool		paused;
	char	   *schedule;
	char	   *time_zone;
	TimestampTz anchor;
} Visible;

/* a due schedule, copied out of SPI */
typedef struct Due
{
	char	   *name;
	char	   *schedule;
	char	   *orchestration;
	Datum		input;			/* jsonb or 0 */
	char	   *version;		/* or NULL: the latest at each run */
	bool		allow_overlap;
	char	   *time_zone;
	TimestampTz anchor;
	TimestampTz first_due;
	Oid			owner;
	char	   *previous_status;	/* of the previous run's instance, or NULL */
} Due;

/* a schedule name argument: a name, without '@', that leaves room for a run's suffix */
static char *
ScheduleNameArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *s = DxNameArg(fcinfo, argno, "schedule name");

	if (strchr(s, '@') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule name \"%s\" must not contain \"@\"", s),
				 errdetail("Each run is instance <schedule_name>@<time>; \"@\" separates the two.")));
	if (strlen(s) > DX_MAX_NAME_BYTES - DX_RUN_SUFFIX_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("schedule name is too long (%zu bytes)", strlen(s)),
				 errdetail("A schedule name has at most %d bytes, so that its runs' instance ids fit.",
						   DX_MAX_NAME_BYTES - DX_RUN_SUFFIX_BYTES)));
	return s;
}

/*
 * The schedule as the caller sees it (row-level security, read as the
 * caller with search_path pinned); undefined_object when it sees none.
 * Inside SPI.
 */
static void
VisibleSchedule(const char *name, Visible *v)
{
	Datum		values[1];
	int			nest = DxPinSearchPath();
	bool		found = false;

	values[0] = CStringGetTextDatum(name);
	DxExpect(DxExecPlan(&visible_plan, values, NULL, false, 0), SPI_OK_SELECT, "schedule lookup");
	DxUnpinSearchPath(nest);
	for (uint64 r = 0; r < SPI_processed && !found; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *n = SPI_getvalue(tup, desc, 1);
		bool		isnull;

		if (n == NULL || strcmp(n, name) != 0)
			continue;
		found = true;
		v->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		v->paused = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		v->schedule = SPI_getvalue(tup, desc, 4);
		v->time_zone = SPI_getvalue(tup, desc, 5);
		v->anchor = DatumGetTimestampTz(SPI_getbinval(tup, desc, 6, &isnull));
	}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("schedule \"%s\" does not exist", name)));
}

/* a timestamptz parameter, NULL for "never" */
static void
SetTime(Datum *values, char *nulls, int i, TimestampTz t)
{
	values[i] = TimestampTzGetDatum(t);
	nulls[i] = t == DX_CRON_NEVER ? 'n' : ' ';
}

/* SQL: duroxide.create_schedule(name, schedule, orchestration_name, input, version, overlap, time_zone) */
Datum
duroxide_create_schedule(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *schedule;
	char	   *orchestration;
	Jsonb	   *input = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	char	   *version = DxTextArg(fcinfo, 4);
	char	   *overlap = DxTextArg(fcinfo, 5);
	char	   *zone_name = DxTextArg(fcinfo, 6);
	DxCron		cron;
	pg_tz	   *tz;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	TimestampTz anchor = now - ((now % USECS_PER_SEC) + USECS_PER_SEC) % USECS_PER_SEC;
	TimestampTz next;
	char	   *resolved;
	DxFunctionInfo fi;
	Datum		values[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	DxEngineSave save;
	uint64		inserted;

	DxRequireExtensionVersion();
	DxCheckEngineUser(GetUserId(), "manage schedules");
	name = ScheduleNameArg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("schedule of \"%s\" must not be null", name)));
	schedule = TextDatumGetCString(PG_GETARG_DATUM(1));
	orchestration = DxNameArg(fcinfo, 2, "orchestration name");
	DxCronParse(schedule, &cron);
	tz = DxCronTimeZone(zone_name);
	if (overlap == NULL || (strcmp(overlap, "skip") != 0 && strcmp(overlap, "allow") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid overlap \"%s\" for schedule \"%s\"", overlap ? overlap : "", name),
				 errhint("Use 'skip' (no run while the previous one has not ended) or 'allow'.")));
	DxCheckPayload("input", input);
	next = DxCronNext(&cron, tz, anchor, now);
	if (next == DX_CRON_NEVER)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("schedule \"%s\" never fires", schedule),
				 errdetail("No date within %d years matches it.", DX_CRON_SEARCH_YEARS)));

	SPI_connect();
	/* as start_orchestration checks: registered, and usable by the caller */
	resolved = DxResolveVersion(orchestration, version);
	if (DxLookupOrchestration(orchestration, resolved, &fi))
		DxCheckMayUse(&fi, psprintf("orchestration \"%s\" version %s", orchestration, resolved));

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(schedule);
	values[2] = CStringGetTextDatum(orchestration);
	values[3] = input ? JsonbPGetDatum(input) : (Datum) 0;
	nulls[3] = input ? ' ' : 'n';
	values[4] = version ? CStringGetTextDatum(version) : (Datum) 0;
	nulls[4] = version ? ' ' : 'n';
	values[5] = CStringGetTextDatum(overlap);
	values[6] = CStringGetTextDatum(pg_get_timezone_name(tz));
	values[7] = TimestampTzGetDatum(anchor);
	SetTime(values, nulls, 8, next);
	values[9] = ObjectIdGetDatum(GetUserId());
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&insert_plan, values, nulls, false, 0), SPI_OK_INSERT, "schedule creation");
	inserted = SPI_processed;
	if (inserted > 0)
	{
		Datum		taken_values[2];

		/* ids <name>@... are the schedule's: none may belong to another role */
		taken_values[0] = CStringGetTextDatum(psprintf("%s@", name));
		taken_values[1] = ObjectIdGetDatum(save.userid);
		DxExpect(DxExecPlan(&taken_plan, taken_values, NULL, true, 1), SPI_OK_SELECT, "schedule name check");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_DUPLICATE_OBJECT),
					 errmsg("schedule name \"%s\" is in use by instances of another role", name),
					 errdetail("The runs of a schedule are instances <schedule_name>@<time>, and such instances of another role exist."),
					 errhint("Choose another schedule name.")));
	}
	DxEngineEnd(&save);
	SPI_finish();
	if (inserted == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("schedule \"%s\" already exists", name),
				 errhint("Schedule names are unique across all roles: drop it first or choose another name.")));
	/* the first dispatcher looks at the schedules when this commits */
	DxRequestWake(DX_WAKE_ORCHESTRATOR);
	PG_RETURN_VOID();
}

/* drop_schedule, pause_schedule, resume_schedule */
typedef enum Change
{
	CHANGE_DROP,
	CHANGE_PAUSE,
	CHANGE_RESUME
} Change;

/* change a schedule the caller sees (its owner's row only) */
static void
ChangeSchedule(FunctionCallInfo fcinfo, Change change)
{
	char	   *name;
	Visible		v;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	DxEngineSave save;
	DxPlan	   *plan = change == CHANGE_DROP ? &drop_plan : change == CHANGE_PAUSE ? &pause_plan : &resume_plan;

	DxRequireExtensionVersion();
	DxCheckEngineUser(GetUserId(), "manage schedules");
	name = DxNameArg(fcinfo, 0, "schedule name");
	SPI_connect();
	VisibleSchedule(name, &v);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(v.owner);
	if (change == CHANGE_RESUME)
	{
		DxCron		cron;
		pg_tz	   *tz;

		if (!v.paused)
		{
			SPI_finish();
			return;
		}
		/* the runs missed while paused are not started: the next one after now */
		DxCronParse(v.schedule, &cron);
		tz = DxCronTimeZone(v.time_zone);
		SetTime(values, nulls, 2, DxCronNext(&cron, tz, v.anchor, GetCurrentTransactionStartTimestamp()));
	}
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(plan, values, nulls, false, 0),
			 change == CHANGE_DROP ? SPI_OK_DELETE : SPI_OK_UPDATE, "schedule change");
	DxEngineEnd(&save);
	SPI_finish();
	if (change == CHANGE_RESUME)
		DxRequestWake(DX_WAKE_ORCHESTRATOR);
}

/* SQL: duroxide.drop_schedule(name) */
Datum
duroxide_drop_schedule(PG_FUNCTION_ARGS)
{
	ChangeSchedule(fcinfo, CHANGE_DROP);
	PG_RETURN_VOID();
}

/* SQL: duroxide.pause_schedule(name) */
Datum
duroxide_pause_schedule(PG_FUNCTION_ARGS)
{
	ChangeSchedule(fcinfo, CHANGE_PAUSE);
	PG_RETURN_VOID();
}

/* SQL: duroxide.resume_schedule(name) */
Datum
duroxide_resume_schedule(PG_FUNCTION_ARGS)
{
	ChangeSchedule(fcinfo, CHANGE_RESUME);
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Firing
 * ------------------------------------------------------------------------ */

/* the due schedules, locked, copied into the current memory context */
static int
LockDue(TimestampTz now, Due **out)
{
	Datum		values[1];
	Due		   *due;
	int			n;

	values[0] = TimestampTzGetDatum(now);
	DxExpect(DxExecPlan(&due_plan, values, NULL, false, 0), SPI_OK_SELECT, "due schedules");
	n = (int) SPI_processed;
	due = palloc0(sizeof(Due) * Max(n, 1));
	for (int r = 0; r < n; r++)
	{
		HeapTuple	tup = SPI_tuptable->vals[r];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		d;

		due[r].name = SPI_getvalue(tup, desc, 1);
		due[r].schedule = SPI_getvalue(tup, desc, 2);
		due[r].orchestration = SPI_getvalue(tup, desc, 3);
		d = SPI_getbinval(tup, desc, 4, &isnull);
		due[r].input = isnull ? (Datum) 0 : PointerGetDatum(DatumGetJsonbPCopy(d));
		due[r].version = SPI_getvalue(tup, desc, 5);
		due[r].allow_overlap = strcmp(SPI_getvalue(tup, desc, 6), "allow") == 0;
		due[r].time_zone = SPI_getvalue(tup, desc, 7);
		due[r].anchor = DatumGetTimestampTz(SPI_getbinval(tup, desc, 8, &isnull));
		due[r].first_due = DatumGetTimestampTz(SPI_getbinval(tup, desc, 9, &isnull));
		due[r].owner = DatumGetObjectId(SPI_getbinval(tup, desc, 10, &isnull));
		due[r].previous_status = SPI_getvalue(tup, desc, 11);
	}
	*out = due;
	return n;
}

/* true for a status in which an instance can still run */
static bool
NotTerminal(const char *status)
{
	return status != NULL && strcmp(status, "Completed") != 0 &&
		strcmp(status, "Failed") != 0 && strcmp(status, "Cancelled") != 0;
}

/* the longest a run's start waits for a transaction that holds its id */
#define DX_START_LOCK_TIMEOUT "200ms"

/*
 * Start the run of a fire time as the schedule's owner, in a subtransaction;
 * returns NULL, or the error message when the run could not start.
 */
static char *
StartRun(Due *d, const char *instance_id)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	char	   *volatile error = NULL;
	Oid			save_user;
	int			save_sec;

	GetUserIdAndSecContext(&save_user, &save_sec);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		Datum		values[4];
		char		nulls[4] = {' ', ' ', ' ', ' '};
		int			nest;

		values[0] = CStringGetTextDatum(instance_id);
		values[1] = CStringGetTextDatum(d->orchestration);
		values[2] = d->input;
		nulls[2] = d->input ? ' ' : 'n';
		values[3] = d->version ? CStringGetTextDatum(d->version) : (Datum) 0;
		nulls[3] = d->version ? ' ' : 'n';
		SetUserIdAndSecContext(d->owner, save_sec | SECURITY_LOCAL_USERID_CHANGE);
		/* an id held by a transaction still open must not stall the dispatcher */
		nest = NewGUCNestLevel();
		(void) set_config_option("lock_timeout", DX_START_LOCK_TIMEOUT, PGC_SUSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		DxExpect(DxExecPlan(&start_plan, values, nulls, false, 0), SPI_OK_SELECT, "scheduled start");
		AtEOXact_GUC(true, nest);
		SetUserIdAndSecContext(save_user, save_sec);
		DxSubxactCommit(cxt, owner);
	}
	PG_CATCH();
	{
		ErrorData  *e = DxSubxactRollBack(cxt, owner);

		SetUserIdAndSecContext(save_user, save_sec);
		error = e->message ? e->message : pstrdup("unknown error");
		ereport(WARNING,
				(errcode(e->sqlerrcode),
				 errmsg("schedule \"%s\" could not start run \"%s\": %s", d->name, instance_id, error)));
	}
	PG_END_TRY();
	return error;
}

/* the next fire time of a schedule after now; DX_CRON_NEVER and *error when it cannot say */
static TimestampTz
NextOf(Due *d, TimestampTz now, DxCron *cron, pg_tz **tz, char **error)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile TimestampTz next = DX_CRON_NEVER;

	/* an expression or zone that parsed at creation may not after a tzdata update */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		DxCronParse(d->schedule, cron);
		*tz = DxCronTimeZone(d->time_zone);
		next = DxCronNext(cron, *tz, d->anchor, now);
		DxSubxactCommit(cxt, owner);
	}
	PG_CATCH();
	{
		ErrorData  *e = DxSubxactRollBack(cxt, owner);

		*error = e->message;
		*tz = NULL;
	}
	PG_END_TRY();
	if (next == DX_CRON_NEVER && *error == NULL)
		*error = psprintf("schedule \"%s\" has no fire time after %s", d->schedule, timestamptz_to_str(now));
	return next;
}

/*
 * Fire the due schedules (see the file header) in the current transaction,
 * SPI connected, with the engine's rights; returns the runs started and
 * sets *more when a full batch was locked (more may be due).
 */
static int
FireDue(TimestampTz now, bool *more)
{
	Due		   *due;
	int			n = LockDue(now, &due);
	int			started = 0;

	*more = n >= DX_SCHEDULE_BATCH;
	for (int i = 0; i < n; i++)
	{
		Due		   *d = &due[i];
		DxCron		cron;
		pg_tz	   *tz = NULL;
		char	   *error = NULL;
		TimestampTz next = NextOf(d, now, &cron, &tz, &error);
		TimestampTz fire = 0;
		char	   *instance_id = NULL;
		Datum		values[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		if (tz != NULL && !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(d->owner)))
		{
			/* the owner was dropped: nobody can run it any more; stop it */
			error = psprintf("the role that owned schedule \"%s\" (OID %u) no longer exists", d->name, d->owner);
			ereport(WARNING,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("%s; the schedule is stopped", error),
					 errhint("Drop the schedule, or create it again as an existing role.")));
			next = DX_CRON_NEVER;
		}
		else if (tz != NULL)
		{
			fire = DxCronLatestDue(&cron, tz, d->anchor, d->first_due, now);
			if (!d->allow_overlap && NotTerminal(d->previous_status))
				ereport(DEBUG1,
						(errmsg("schedule \"%s\": run of %s skipped, the previous run has not ended",
								d->name, DxCronFormatUtc(fire))));
			else
			{
				instance_id = psprintf("%s@%s", d->name, DxCronFormatUtc(fire));
				error = StartRun(d, instance_id);
				if (error == NULL)
					started++;
			}
		}
		values[0] = CStringGetTextDatum(d->name);
		SetTime(values, nulls, 1, next);
		values[2] = TimestampTzGetDatum(fire);
		nulls[2] = instance_id && error == NULL ? ' ' : 'n';
		values[3] = instance_id ? CStringGetTextDatum(instance_id) : (Datum) 0;
		nulls[3] = nulls[2];
		values[4] = error ? CStringGetTextDatum(error) : (Datum) 0;
		nulls[4] = error ? ' ' : 'n';
		DxExpect(DxExecPlan(&advance_plan, values, nulls, false, 0), SPI_OK_UPDATE, "schedule advance");
	}
	return started;
}

/* the next fire time of any active schedule (DX_CRON_NEVER: none) */
static TimestampTz
NextDue(void)
{
	bool		isnull;
	Datum		d;

	DxExpect(DxExecPlan(&next_due_plan, NULL, NULL, true, 1), SPI_OK_SELECT, "next schedule");
	if (SPI_processed == 0)
		return DX_CRON_NEVER;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? DX_CRON_NEVER : DatumGetTimestampTz(d);
}

/* when the first dispatcher looks at the schedules next */
static TimestampTz next_tick = 0;

/*
 * The dispatchers' hook (worker.c, after each batch): the first dispatcher
 * of the database fires the due schedules, after a batch that found no
 * work and otherwise when the next one is due (at the latest every
 * poll_interval, so a schedule created while it is busy is seen), in a
 * transaction of its own; it shortens *sleep_ms to the next fire time.
 */
void
DxScheduleTick(int slot, bool busy, long *sleep_ms)
{
	MemoryContext cxt = CurrentMemoryContext;
	TimestampTz now;
	TimestampTz next;
	bool		more;
	long		secs;
	int			usecs;

	if (slot != 0)
		return;
	now = GetCurrentTimestamp();
	if (busy && now < next_tick)
		return;
	DxBeginTxn("duroxide: firing due schedules");
	(void) FireDue(now, &more);
	next = more ? now : NextDue();
	/* due but not taken: another firer (_fire_schedules) holds it; look again soon */
	if (!more && next <= now)
		next = TimestampTzPlusMilliseconds(now, DX_SCHEDULE_LOCKED_RETRY_MS);
	DxCommitTxn();
	MemoryContextSwitchTo(cxt);
	next_tick = Min(next, TimestampTzPlusMilliseconds(now, duroxide_poll_interval));
	TimestampDifference(GetCurrentTimestamp(), next_tick, &secs, &usecs);
	*sleep_ms = Min(*sleep_ms, secs * 1000 + (usecs + 999) / 1000);
}

/* SQL: duroxide._fire_schedules(now): fire what is due at now in the caller's transaction */
Datum
duroxide_fire_schedules(PG_FUNCTION_ARGS)
{
	TimestampTz now = PG_ARGISNULL(0) ? GetCurrentTimestamp() : PG_GETARG_TIMESTAMPTZ(0);
	DxEngineSave save;
	bool		more;
	int			started;

	DxRequireExtensionVersion();
	DxEngineBegin(&save);
	SPI_connect();
	started = FireDue(now, &more);
	SPI_finish();
	DxEngineEnd(&save);
	PG_RETURN_INT32(started);
}
