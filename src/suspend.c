/*-------------------------------------------------------------------------
 * suspend.c
 *		suspend_orchestration and resume_orchestration (API.md 8.1), and the
 *		resume that cancel_orchestration does for a suspended instance.
 *
 * A suspended instance has status 'Suspended' in duroxide.instances.  The
 * dispatchers' claims skip it (a condition of the claim queries, rechecked
 * under the row lock), so it runs no turn; messages for it (activity
 * results, fired timers, events) stay in duroxide.orchestrator_queue and are
 * processed, in order, by the first turn after the resume.  A turn claimed
 * before the suspend committed and still running when it commits writes
 * nothing: the turn's instance update requires the status not to be
 * Suspended, so that batch rolls back and the turn runs again after the
 * resume (see src/dispatcher.c).
 *
 * Each suspension is recorded in duroxide.suspensions (who, when, why, and
 * the same for its resume), visible under row-level security to the
 * instance's owner and admins.
 *
 * Security: the caller must see the instance through row-level security
 * (its owner or an admin), read as the caller with search_path pinned;
 * then the engine writes (DxEngineBegin), only rows of the owner the caller
 * saw.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "guc.h"
#include "protocol.h"
#include "shmem.h"
#include "suspend.h"
#include "util.h"
#include "worker.h"

PG_FUNCTION_INFO_V1(duroxide_suspend_orchestration);
PG_FUNCTION_INFO_V1(duroxide_resume_orchestration);

#define DX_MAX_REASON_BYTES 4096

/* the hint of the error for an instance the caller does not see */
#define VISIBLE_HINT "Only the instance's owner and members of duroxide_admin see it."

/* engine: Running -> Suspended (rechecked under the row lock) */
static DxPlan suspend_plan = {NULL,
	"UPDATE duroxide.instances i SET status = 'Suspended', updated_at = now()"
	" WHERE i.instance_id = $1 AND i.owner::oid = $2 AND i.status = 'Running'",
2, {TEXTOID, OIDOID}};

static DxPlan record_suspend_plan = {NULL,
	"INSERT INTO duroxide.suspensions (instance_id, suspended_by, suspend_reason)"
	" VALUES ($1, $2::oid::regrole, $3)",
3, {TEXTOID, OIDOID, TEXTOID}};

/* engine: Suspended -> Running; returns claim_count (> 0: a suspect) */
static DxPlan resume_plan = {NULL,
	"UPDATE duroxide.instances i SET status = 'Running', updated_at = now()"
	" WHERE i.instance_id = $1 AND i.owner::oid = $2 AND i.status = 'Suspended'"
	" RETURNING i.instance_id, i.claim_count",
2, {TEXTOID, OIDOID}};

/* engine: the instance $1 and its live descendants of owner $2; resume the suspended ones */
static DxPlan resume_tree_plan = {NULL,
	"WITH RECURSIVE tree(id) AS ("
	"  SELECT $1::text"
	"  UNION"
	"  SELECT c.instance_id FROM duroxide.instances c JOIN tree t ON c.parent_instance_id = t.id"
	"   WHERE c.owner::oid = $2 AND c.status IN ('Running', 'Suspended'))"
	" UPDATE duroxide.instances i SET status = 'Running', updated_at = now()"
	"   FROM tree WHERE i.instance_id = tree.id AND i.owner::oid = $2 AND i.status = 'Suspended'"
	" RETURNING i.instance_id, i.claim_count",
2, {TEXTOID, OIDOID}};

static DxPlan record_resume_plan = {NULL,
	"UPDATE duroxide.suspensions s SET resumed_at = now(), resumed_by = $2::oid::regrole, resume_reason = $3"
	" WHERE s.instance_id = ANY ($1) AND s.resumed_at IS NULL",
3, {TEXTARRAYOID, OIDOID, TEXTOID}};

/* engine: a message of kind $3 (CancelRequested) for resumed descendants ($1), data $2 */
static DxPlan cancel_resumed_plan = {NULL,
	"INSERT INTO duroxide.orchestrator_queue (instance_id, kind, data)"
	" SELECT u.id, $3, $2 FROM unnest($1::text[]) u(id)",
3, {TEXTARRAYOID, JSONBOID, TEXTOID}};

static DxPlan delete_plan = {NULL,
	"DELETE FROM duroxide.suspensions s WHERE s.instance_id = ANY ($1)",
1, {TEXTARRAYOID}};

/* Running or Suspended: the instance has not ended */
bool
DxStatusLive(const char *status)
{
	return strcmp(status, "Running") == 0 || strcmp(status, DX_STATUS_SUSPENDED) == 0;
}

/* the reason argument: NULL or a bounded text */
static char *
ReasonArg(FunctionCallInfo fcinfo, int argno)
{
	char	   *reason;

	if (PG_ARGISNULL(argno))
		return NULL;
	reason = TextDatumGetCString(PG_GETARG_DATUM(argno));
	if (strlen(reason) > DX_MAX_REASON_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("reason is too long (%zu bytes; at most %d)", strlen(reason), DX_MAX_REASON_BYTES)));
	return reason;
}

/* a nullable text parameter */
static Datum
TextOrNull(const char *s, char *null)
{
	*null = s ? ' ' : 'n';
	return s ? CStringGetTextDatum(s) : (Datum) 0;
}

/* record the resume of the instances in ids (text[]) and wake the dispatchers */
static void
RecordResume(Datum ids, Oid by, const char *reason, bool suspects)
{
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};

	values[0] = ids;
	values[1] = ObjectIdGetDatum(by);
	values[2] = TextOrNull(reason, &nulls[2]);
	DxExpect(DxExecPlan(&record_resume_plan, values, nulls, false, 0), SPI_OK_UPDATE, "resume record");
	/* their messages waited in the queue: wake the dispatchers at commit */
	DxRequestWake(DX_WAKE_ORCHESTRATOR);
	/* a turn rolled back by the suspend left claim_count > 0: a suspect */
	if (suspects)
		DxSuspectsPending(DX_KIND_DISPATCHER);
}

/* suspend (true) or resume (false) the instance of argument 0 */
static void
SetSuspended(FunctionCallInfo fcinfo, bool suspend)
{
	char	   *instance_id = DxNameArg(fcinfo, 0, "instance id");
	char	   *reason;
	Oid			caller = GetUserId();
	Oid			owner = InvalidOid;
	Datum		values[3];
	char		nulls[3] = {' ', ' ', ' '};
	char	   *status;
	bool		changed = false;
	DxEngineSave save;

	reason = ReasonArg(fcinfo, 1);
	SPI_connect();
	status = DxVisibleInstance(instance_id, &owner, VISIBLE_HINT);
	/* terminal, already suspended, or not suspended: ignored */
	if (strcmp(status, suspend ? "Running" : DX_STATUS_SUSPENDED) == 0)
	{
		values[0] = CStringGetTextDatum(instance_id);
		values[1] = ObjectIdGetDatum(owner);
		DxEngineBegin(&save);
		if (suspend)
		{
			DxExpect(DxExecPlan(&suspend_plan, values, NULL, false, 0), SPI_OK_UPDATE, "instance suspend");
			changed = SPI_processed > 0;
			if (changed)
			{
				values[1] = ObjectIdGetDatum(caller);
				values[2] = TextOrNull(reason, &nulls[2]);
				DxExpect(DxExecPlan(&record_suspend_plan, values, nulls, false, 0), SPI_OK_INSERT,
						 "suspend record");
			}
		}
		else
		{
			DxExpect(DxExecPlan(&resume_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING,
					 "instance resume");
			changed = SPI_processed > 0;
			if (changed)
			{
				bool		isnull;
				int32		claims = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
																  SPI_tuptable->tupdesc, 2, &isnull));
				Datum		id = CStringGetTextDatum(instance_id);

				RecordResume(PointerGetDatum(construct_array(&id, 1, TEXTOID, -1, false, TYPALIGN_INT)),
							 caller, reason, claims > 0);
			}
		}
		DxEngineEnd(&save);
	}
	SPI_finish();
	if (changed && DxLogEnabled(DX_LOG_INFO))
		ereport(DxServerLevel(DX_LOG_INFO),
				(errmsg("duroxide: orchestration instance \"%s\" %s by %s%s%s",
						instance_id, suspend ? "suspended" : "resumed",
						GetUserNameFromId(caller, false),
						reason ? ": " : "", reason ? reason : "")));
}

/* SQL: duroxide.suspend_orchestration(instance_id, reason) */
Datum
duroxide_suspend_orchestration(PG_FUNCTION_ARGS)
{
	SetSuspended(fcinfo, true);
	PG_RETURN_VOID();
}

/* SQL: duroxide.resume_orchestration(instance_id, reason) */
Datum
duroxide_resume_orchestration(PG_FUNCTION_ARGS)
{
	SetSuspended(fcinfo, false);
	PG_RETURN_VOID();
}

/* see suspend.h */
void
DxResumeForCancel(const char *instance_id, Oid owner, const char *reason, Jsonb *data)
{
	Datum		values[3];
	DxEngineSave save;
	int			n;
	Datum	   *ids;
	Datum	   *below;
	int			nbelow = 0;
	bool		suspects = false;

	values[0] = CStringGetTextDatum(instance_id);
	values[1] = ObjectIdGetDatum(owner);
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&resume_tree_plan, values, NULL, false, 0), SPI_OK_UPDATE_RETURNING,
			 "instance resume for cancel");
	n = (int) SPI_processed;
	if (n > 0)
	{
		ids = palloc(sizeof(Datum) * n);
		below = palloc(sizeof(Datum) * n);
		for (int i = 0; i < n; i++)
		{
			bool		isnull;
			char	   *id = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));

			ids[i] = CStringGetTextDatum(id);
			if (DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2, &isnull)) > 0)
				suspects = true;
			if (strcmp(id, instance_id) != 0)
				below[nbelow++] = ids[i];
		}
		if (nbelow > 0)
		{
			values[0] = PointerGetDatum(construct_array(below, nbelow, TEXTOID, -1, false, TYPALIGN_INT));
			values[1] = JsonbPGetDatum(data);
			values[2] = CStringGetTextDatum(DxMessageKindName(MSG_CANCEL_REQUESTED));
			DxExpect(DxExecPlan(&cancel_resumed_plan, values, NULL, false, 0), SPI_OK_INSERT,
					 "cancel of resumed descendants");
		}
		RecordResume(PointerGetDatum(construct_array(ids, n, TEXTOID, -1, false, TYPALIGN_INT)),
					 GetUserId(), psprintf("cancel_orchestration: %s", reason), suspects);
	}
	DxEngineEnd(&save);
}

/* see suspend.h */
void
DxDeleteSuspensions(Datum ids)
{
	DxExpect(DxExecPlan(&delete_plan, &ids, NULL, false, 0), SPI_OK_DELETE, "suspension delete");
}
