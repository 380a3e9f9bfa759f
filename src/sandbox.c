/*-------------------------------------------------------------------------
 * sandbox.c
 *		Running user code: the contract is in sandbox.h.
 *
 * One call, in order:
 *	  the owner's search_path is looked up (cached for the transaction);
 *	  BeginInternalSubTransaction; NewGUCNestLevel; the function is checked
 *	  (exists, owner has EXECUTE); search_path, enable_seqscan and jit are
 *	  set for the call; the owner becomes the current user with
 *	  SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION; the
 *	  function runs; the user, XactReadOnly and the statement timeout are
 *	  restored; AtEOXact_GUC(false, nest) undoes every setting the call made;
 *	  the cursors it left open are dropped; the subtransaction is released
 *	  (or, on error, rolled back, which undoes the same things itself); the
 *	  session-level advisory locks it took are released.
 *
 * The order matters where it touches the engine: the checks run before the
 * switch to the owner (they read catalogs as the engine), and the rights are
 * restored before AtEOXact_GUC, whose assign hooks run as the engine.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/portal.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timeout.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "sandbox.h"
#include "util.h"

/* settings the workers change for the engine's statements (worker.c) */
static const char *const engine_settings[] = {"enable_seqscan", "jit"};

/* the last owner's search_path, valid for one transaction */
static Oid	path_owner = InvalidOid;
static LocalTransactionId path_lxid = InvalidLocalTransactionId;
static char *path_value = NULL;

/* the value of search_path in one pg_db_role_setting row, or NULL */
static char *
RoleSearchPath(Relation rel, Oid db, Oid role)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tup;
	char	   *value = NULL;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(db));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, Anum_pg_db_role_setting_setconfig,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
		{
			Datum	   *elems;
			bool	   *nulls;
			int			n;

			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &n);
			for (int i = 0; i < n; i++)
			{
				char	   *s = nulls[i] ? NULL : TextDatumGetCString(elems[i]);

				if (s && strncmp(s, "search_path=", 12) == 0)
					value = s + 12;
			}
		}
	}
	systable_endscan(scan);
	return value;
}

/*
 * The search_path a session of the owner would start with: its setting for
 * this database, else its own, else the server's (the reset value: the
 * configuration file and ALTER DATABASE ... SET).
 */
static const char *
OwnerSearchPath(Oid owner)
{
	Relation	rel;
	char	   *path;

	if (owner == path_owner && path_lxid == DxLocalXid() && path_value != NULL)
		return path_value;
	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	path = RoleSearchPath(rel, MyDatabaseId, owner);
	if (path == NULL)
		path = RoleSearchPath(rel, InvalidOid, owner);
	table_close(rel, AccessShareLock);
	if (path == NULL)
		path = (char *) GetConfigOptionResetString("search_path");
	if (path_value != NULL)
		pfree(path_value);
	path_value = MemoryContextStrdup(TopMemoryContext, path);
	path_owner = owner;
	path_lxid = DxLocalXid();
	return path_value;
}

/* raise a clear error unless the owner can call the function now */
static void
CheckCallable(const DxSandboxRequest *req)
{
	char	   *owner;

	if (!SearchSysCacheExists1(PROCOID, ObjectIdGetDatum(req->fn)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("the function of %s no longer exists (function %u)", req->what, req->fn),
				 errhint("Register it again with a function that exists, or unregister it.")));
	if (DxProcExecutable(req->fn, req->owner))
		return;
	owner = GetUserNameFromId(req->owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for function %s of %s",
					format_procedure(req->fn), req->what),
			 errdetail("The %s runs as its owner %s, who no longer has EXECUTE on the function.",
					   req->what, owner ? quote_identifier(owner) : "(dropped role)"),
			 errhint("GRANT EXECUTE on the function to its owner again, or register it anew.")));
}

/* the call's settings (inside its GUC nest level; undone when it ends) */
static void
SetCallSettings(const char *search_path)
{
	(void) set_config_option("search_path", search_path, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	for (int i = 0; i < lengthof(engine_settings); i++)
		(void) set_config_option(engine_settings[i], GetConfigOptionResetString(engine_settings[i]),
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
}

/*
 * Drop the cursors that were opened in subtransaction subid (or in one of
 * its children) and are still open: another tenant's call in this
 * transaction could otherwise FETCH from them by name.  pg_cursor() is the
 * one exported way to list the portals.
 */
static void
DropCallPortals(SubTransactionId subid)
{
	LOCAL_FCINFO(fcinfo, 0);
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo;
	ExprContext *econtext = CreateStandaloneExprContext();
	TupleTableSlot *slot;
	List	   *names = NIL;
	ListCell   *lc;

	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = econtext;
	rsinfo.allowedModes = SFRM_Materialize;
	rsinfo.returnMode = SFRM_Materialize;
	fmgr_info(F_PG_CURSOR, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL, (Node *) &rsinfo);
	(void) FunctionCallInvoke(fcinfo);
	if (rsinfo.setResult != NULL)
	{
		slot = MakeSingleTupleTableSlot(rsinfo.setDesc, &TTSOpsMinimalTuple);
		while (tuplestore_gettupleslot(rsinfo.setResult, true, false, slot))
		{
			bool		isnull;
			Datum		d = slot_getattr(slot, 1, &isnull);

			if (!isnull)
				names = lappend(names, TextDatumGetCString(d));
		}
		ExecDropSingleTupleTableSlot(slot);
		tuplestore_end(rsinfo.setResult);
	}
	FreeExprContext(econtext, true);

	foreach(lc, names)
	{
		Portal		portal = GetPortalByName((const char *) lfirst(lc));

		if (PortalIsValid(portal) && portal->createSubid >= subid &&
			portal->status != PORTAL_ACTIVE && !portal->portalPinned)
			PortalDrop(portal, false);
	}
	list_free_deep(names);
}

/* run req->invoker(req->arg) as the owner; see sandbox.h */
void
DxSandboxRun(const DxSandboxRequest *req, DxCallResult *result)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner resowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec;
	bool		save_read_only = XactReadOnly;
	const char *search_path = OwnerSearchPath(req->owner);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	result->ok = false;
	result->value = NULL;
	result->error = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);

	PG_TRY();
	{
		SubTransactionId subid = GetCurrentSubTransactionId();
		int			nest = NewGUCNestLevel();
		Datum		d;
		bool		isnull;

		CheckCallable(req);
		SetCallSettings(search_path);
		SetUserIdAndSecContext(req->owner,
							   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
		if (req->read_only)
			XactReadOnly = true;
		if (req->timeout_ms > 0)
			enable_timeout_after(STATEMENT_TIMEOUT, (int) Min(req->timeout_ms, INT_MAX));

		d = req->invoker(req->arg, &isnull);

		if (req->timeout_ms > 0)
			disable_timeout(STATEMENT_TIMEOUT, false);
		XactReadOnly = save_read_only;
		SetUserIdAndSecContext(save_userid, save_sec);
		AtEOXact_GUC(false, nest);
		DropCallPortals(subid);

		MemoryContextSwitchTo(cxt);
		result->value = isnull ? NULL : DatumGetJsonbPCopy(d);
		result->ok = true;

		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = resowner;
	}
	PG_CATCH();
	{
		if (req->timeout_ms > 0)
			disable_timeout(STATEMENT_TIMEOUT, false);
		XactReadOnly = save_read_only;
		SetUserIdAndSecContext(save_userid, save_sec);

		MemoryContextSwitchTo(cxt);
		result->error = CopyErrorData();
		FlushErrorState();

		/* also undoes the call's settings and drops its portals */
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = resowner;
		result->ok = false;
	}
	PG_END_TRY();

	/*
	 * Session-level advisory locks are not released by the end of a
	 * (sub)transaction.  The workers take none themselves; a session that
	 * runs a batch by hand (duroxide._dispatch_batch) keeps its own.
	 */
	if (MyBackendType == B_BG_WORKER)
		LockReleaseSession(USER_LOCKMETHOD);
}
