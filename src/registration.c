/*-------------------------------------------------------------------------
 * registration.c
 *		The writers of duroxide.orchestrations and duroxide.activities:
 *		register_orchestration, register_activity, register_external_activity,
 *		unregister_orchestration, unregister_activity, and the event triggers
 *		that keep registrations consistent with the functions they name.
 *
 * Rights: no role but the engine writes the registry tables (duroxide_user
 * has SELECT only).  Each function first checks its caller with GetUserId():
 * membership in duroxide_user, EXECUTE on the function, its signature, and
 * that a registration of another role is replaced or removed only by an
 * admin (superuser or member of duroxide_admin); so is a new version of an
 * orchestration name that another role registered (it would run the other
 * role's new instances as ours).  Then it writes with the
 * engine's rights and a pinned search_path (DxEngineBegin).  The owner check
 * is part of the write statement itself (ON CONFLICT ... WHERE, DELETE ...
 * WHERE), so two roles racing for one name cannot take each other's.
 *
 * A registration depends on its function, as a pg_depend dependency would:
 *	 - DROP FUNCTION / PROCEDURE (RESTRICT, the default) of a registered
 *	   function is refused, with a hint naming the unregister call;
 *	 - DROP ... CASCADE (of the function, its schema, its type, its
 *	   extension, DROP OWNED ... CASCADE) removes the registrations with it,
 *	   with a NOTICE for each;
 *	 - DROP OWNED BY r removes the registrations that r made (they are r's,
 *	   like the objects it owns), so DROP OWNED + DROP ROLE leaves nothing
 *	   that names a dropped role.
 * The check is an event trigger (sql_drop), so a drop made while it is
 * disabled, a rename, or a restore without the function is seen at run
 * time instead: registry.c then reports the function as missing and the
 * instance (or the activity attempt) fails with a message naming both.
 * Registration locks the function (AccessShareLock, as a dependency would)
 * so that a concurrent DROP either commits first or waits for us.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "registry.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_register_orchestration);
PG_FUNCTION_INFO_V1(duroxide_register_activity);
PG_FUNCTION_INFO_V1(duroxide_register_external_activity);
PG_FUNCTION_INFO_V1(duroxide_unregister_orchestration);
PG_FUNCTION_INFO_V1(duroxide_unregister_activity);
PG_FUNCTION_INFO_V1(duroxide_registered_drop);

/* duroxide.c */
extern PGDLLEXPORT Datum duroxide_version_key(PG_FUNCTION_ARGS);

static DxPlan upsert_orchestration_plan = {NULL,
	"INSERT INTO duroxide.orchestrations AS o (name, version, version_key, fn, owner)"
	" VALUES ($1, $2, $3, $4, $5)"
	" ON CONFLICT ON CONSTRAINT orchestrations_pkey"
	" DO UPDATE SET fn = EXCLUDED.fn, owner = EXCLUDED.owner, registered_at = now()"
	" WHERE o.owner = EXCLUDED.owner OR $6",
6, {TEXTOID, TEXTOID, INT4ARRAYOID, TEXTOID, REGROLEOID, BOOLOID}};

static DxPlan other_versions_plan = {NULL,
	"SELECT 1 FROM duroxide.orchestrations WHERE name = $1 AND version <> $2 AND owner <> $3 LIMIT 1",
3, {TEXTOID, TEXTOID, REGROLEOID}};

static DxPlan upsert_activity_plan = {NULL,
	"INSERT INTO duroxide.activities AS a (name, fn, is_procedure, owner)"
	" VALUES ($1, $2, $3, $4)"
	" ON CONFLICT (name)"
	" DO UPDATE SET fn = EXCLUDED.fn, is_procedure = EXCLUDED.is_procedure,"
	"               owner = EXCLUDED.owner, task_queue = NULL, registered_at = now()"
	" WHERE a.owner = EXCLUDED.owner OR $5",
5, {TEXTOID, TEXTOID, BOOLOID, REGROLEOID, BOOLOID}};

/* an external activity: no function, a task queue (external.c) */
static DxPlan upsert_external_plan = {NULL,
	"INSERT INTO duroxide.activities AS a (name, fn, is_procedure, owner, task_queue)"
	" VALUES ($1, NULL, false, $2, $3)"
	" ON CONFLICT (name)"
	" DO UPDATE SET fn = NULL, is_procedure = false, owner = EXCLUDED.owner,"
	"               task_queue = EXCLUDED.task_queue, registered_at = now()"
	" WHERE a.owner = EXCLUDED.owner OR $4",
4, {TEXTOID, REGROLEOID, TEXTOID, BOOLOID}};

static DxPlan lock_orchestrations_plan = {NULL,
	"SELECT owner::oid FROM duroxide.orchestrations"
	" WHERE name = $1 AND ($2::text IS NULL OR version = $2) FOR UPDATE",
2, {TEXTOID, TEXTOID}};

static DxPlan delete_orchestrations_plan = {NULL,
	"DELETE FROM duroxide.orchestrations"
	" WHERE name = $1 AND ($2::text IS NULL OR version = $2) AND (owner = $3 OR $4)",
4, {TEXTOID, TEXTOID, REGROLEOID, BOOLOID}};

static DxPlan lock_activity_plan = {NULL,
	"SELECT owner::oid FROM duroxide.activities WHERE name = $1 FOR UPDATE",
1, {TEXTOID}};

static DxPlan delete_activity_plan = {NULL,
	"DELETE FROM duroxide.activities WHERE name = $1 AND (owner = $2 OR $3)",
3, {TEXTOID, REGROLEOID, BOOLOID}};

/*
 * Check a function given for registration: it exists (locked against a
 * concurrent DROP until we commit), is not temporary, has the signature of
 * a duroxide <kind>, and the caller may execute it.  Returns whether it is
 * a procedure (only allowed with allow_procedure) and sets *identity.
 */
static bool
CheckFunction(FunctionCallInfo fcinfo, int argno, const char *kind, Oid ctx_type,
			  const char *ctx_name, bool allow_procedure, char **identity)
{
	Oid			fn;
	HeapTuple	tup;
	Form_pg_proc p;
	char	   *display;
	bool		is_proc = false;
	bool		ok;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s function must not be null", kind)));
	fn = PG_GETARG_OID(argno);
	LockDatabaseObject(ProcedureRelationId, fn, 0, AccessShareLock);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	p = (Form_pg_proc) GETSTRUCT(tup);
	display = quote_qualified_identifier(get_namespace_name(p->pronamespace), NameStr(p->proname));

	if (p->prokind == PROKIND_PROCEDURE && allow_procedure)
	{
		Datum		modes;
		bool		isnull;
		bool		inout = false;

		modes = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proargmodes, &isnull);
		if (!isnull)
		{
			ArrayType  *arr = DatumGetArrayTypeP(modes);

			inout = ARR_NDIM(arr) == 1 && ARR_DIMS(arr)[0] == 2 &&
				((char *) ARR_DATA_PTR(arr))[1] == PROARGMODE_INOUT;
		}
		ok = p->pronargs == 2 && p->proargtypes.values[0] == ctx_type &&
			p->proargtypes.values[1] == JSONBOID && inout;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
					 errmsg("procedure %s does not have the signature of a duroxide %s", display, kind),
					 errhint("An %s procedure must be declared as (ctx %s, INOUT result jsonb).",
							 kind, ctx_name)));
		is_proc = true;
	}
	else
	{
		ok = p->prokind == PROKIND_FUNCTION && p->pronargs == 2 &&
			p->proargtypes.values[0] == ctx_type && p->proargtypes.values[1] == JSONBOID &&
			p->prorettype == JSONBOID && !p->proretset;
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
					 errmsg("function %s does not have the signature of a duroxide %s", display, kind),
					 errhint("An %s function must be declared as (ctx %s, input jsonb) RETURNS jsonb.",
							 kind, ctx_name)));
	}
	if (isAnyTempNamespace(p->pronamespace))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s %s is in a temporary schema", is_proc ? "procedure" : "function",
						quote_identifier(NameStr(p->proname))),
				 errhint("A registered function must outlive the session that registers it: create it in a permanent schema.")));
	ReleaseSysCache(tup);

	if (!DxProcExecutable(fn, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", display),
				 errhint("Registering an %s requires EXECUTE on its function.", kind)));
	*identity = DxFunctionIdentity(fn);
	return is_proc;
}

/* SQL: duroxide.register_orchestration(name text, fn regproc, version text DEFAULT '1.0.0') */
Datum
duroxide_register_orchestration(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	char	   *version = DxTextArg(fcinfo, 2);
	char	   *identity;
	Datum		key;
	Oid			me = GetUserId();
	Datum		values[6];
	DxEngineSave save;

	DxCheckEngineUser(GetUserId(), "register orchestrations");
	DxCheckName("orchestration name", name);
	DxCheckName("version", version);
	(void) CheckFunction(fcinfo, 1, "orchestration", DxTypeOid("context"), "duroxide.context",
						 false, &identity);
	key = DirectFunctionCall1(duroxide_version_key, PG_GETARG_DATUM(2));

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(version);
	values[2] = key;
	values[3] = CStringGetTextDatum(identity);
	values[4] = ObjectIdGetDatum(me);
	values[5] = BoolGetDatum(DxIsAdmin(me));
	SPI_connect();
	DxEngineBegin(&save);
	/* a name belongs to its registering role: no one else adds versions to it */
	if (!DatumGetBool(values[5]))
	{
		Datum		other[3] = {values[0], values[1], values[4]};

		DxExpect(DxExecPlan(&other_versions_plan, other, NULL, true, 1), SPI_OK_SELECT,
				 "orchestration registration check");
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("orchestration \"%s\" is registered by another role", name),
					 errhint("Only its owner or a member of duroxide_admin can register versions of it.")));
	}
	DxExpect(DxExecPlan(&upsert_orchestration_plan, values, NULL, false, 0), SPI_OK_INSERT,
			 "orchestration registration");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("orchestration \"%s\" version %s is registered by another role", name, version),
				 errhint("Only its owner or a member of duroxide_admin can replace a registration.")));
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * Write an activity registration with plan (upsert_activity_plan or
 * upsert_external_plan and their values) as the engine; refused when name
 * is registered by another role and the caller is no admin.
 */
static void
UpsertActivity(DxPlan *plan, Datum *values, const char *name)
{
	DxEngineSave save;

	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(plan, values, NULL, false, 0), SPI_OK_INSERT, "activity registration");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("activity \"%s\" is registered by another role", name),
				 errhint("Only its owner or a member of duroxide_admin can replace a registration.")));
	DxEngineEnd(&save);
	SPI_finish();
}

/* SQL: duroxide.register_activity(name text, fn regproc) */
Datum
duroxide_register_activity(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	char	   *identity;
	bool		is_proc;
	Oid			me = GetUserId();
	Datum		values[5];

	DxCheckEngineUser(GetUserId(), "register activities");
	DxCheckName("activity name", name);
	is_proc = CheckFunction(fcinfo, 1, "activity", DxTypeOid("activity_context"),
							"duroxide.activity_context", true, &identity);

	values[0] = CStringGetTextDatum(name);
	values[1] = CStringGetTextDatum(identity);
	values[2] = BoolGetDatum(is_proc);
	values[3] = ObjectIdGetDatum(me);
	values[4] = BoolGetDatum(DxIsAdmin(me));
	UpsertActivity(&upsert_activity_plan, values, name);
	PG_RETURN_VOID();
}

/*
 * SQL: duroxide.register_external_activity(name text, task_queue text DEFAULT 'default')
 * -- the same rules as register_activity, without a function: its attempts
 * become tasks of task_queue for external workers (external.c).
 */
Datum
duroxide_register_external_activity(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	char	   *queue = DxTextArg(fcinfo, 1);
	Oid			me = GetUserId();
	Datum		values[4];

	DxCheckEngineUser(GetUserId(), "register activities");
	DxCheckName("activity name", name);
	DxCheckName("task queue", queue);

	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(me);
	values[2] = CStringGetTextDatum(queue);
	values[3] = BoolGetDatum(DxIsAdmin(me));
	UpsertActivity(&upsert_external_plan, values, name);
	PG_RETURN_VOID();
}

/* true when a locked row set (owner oids in column 1) has a row of another role */
static bool
OtherOwner(Oid me)
{
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc,
														  1, &isnull));

		if (owner != me)
			return true;
	}
	return false;
}

/* SQL: duroxide.unregister_orchestration(name text, version text DEFAULT NULL) */
Datum
duroxide_unregister_orchestration(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	char	   *version = DxTextArg(fcinfo, 1);
	Oid			me = GetUserId();
	bool		admin = DxIsAdmin(me);
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	DxEngineSave save;

	DxCheckEngineUser(GetUserId(), "unregister orchestrations");
	DxCheckName("orchestration name", name);
	values[0] = CStringGetTextDatum(name);
	values[1] = version ? CStringGetTextDatum(version) : (Datum) 0;
	if (version == NULL)
		nulls[1] = 'n';
	values[2] = ObjectIdGetDatum(me);
	values[3] = BoolGetDatum(admin);
	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&lock_orchestrations_plan, values, nulls, false, 0), SPI_OK_SELECT,
			 "orchestration registration lock");
	if (!admin && OtherOwner(me))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("orchestration \"%s\" is registered by another role", name),
				 errhint("Only its owner or a member of duroxide_admin can unregister it.")));
	DxExpect(DxExecPlan(&delete_orchestrations_plan, values, nulls, false, 0), SPI_OK_DELETE,
			 "orchestration unregistration");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("orchestration \"%s\"%s is not registered", name,
						version ? psprintf(" version %s", version) : "")));
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_VOID();
}

/* SQL: duroxide.unregister_activity(name text) */
Datum
duroxide_unregister_activity(PG_FUNCTION_ARGS)
{
	char	   *name = DxTextArg(fcinfo, 0);
	Oid			me = GetUserId();
	bool		admin = DxIsAdmin(me);
	Datum		values[3];
	DxEngineSave save;

	DxCheckEngineUser(GetUserId(), "unregister activities");
	DxCheckName("activity name", name);
	values[0] = CStringGetTextDatum(name);
	values[1] = ObjectIdGetDatum(me);
	values[2] = BoolGetDatum(admin);
	SPI_connect();
	DxEngineBegin(&save);
	DxExpect(DxExecPlan(&lock_activity_plan, values, NULL, false, 0), SPI_OK_SELECT,
			 "activity registration lock");
	if (!admin && OtherOwner(me))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("activity \"%s\" is registered by another role", name),
				 errhint("Only its owner or a member of duroxide_admin can unregister it.")));
	DxExpect(DxExecPlan(&delete_activity_plan, values, NULL, false, 0), SPI_OK_DELETE,
			 "activity unregistration");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("activity \"%s\" is not registered", name)));
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Event triggers: a registration depends on its function
 * ------------------------------------------------------------------------ */

/* whether the dropping command cascades (DROP ... CASCADE and the like) */
static bool
DropCascades(Node *parsetree)
{
	if (parsetree == NULL)
		return false;
	if (IsA(parsetree, DropStmt))
		return ((DropStmt *) parsetree)->behavior == DROP_CASCADE;
	if (IsA(parsetree, DropOwnedStmt))
		return ((DropOwnedStmt *) parsetree)->behavior == DROP_CASCADE;
	if (IsA(parsetree, AlterTableStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
		{
			Node	   *cmd = lfirst(lc);

			if (IsA(cmd, AlterTableCmd) && ((AlterTableCmd *) cmd)->behavior == DROP_CASCADE)
				return true;
		}
	}
	return false;
}

/* `orchestration "N" version V` or `activity "N"` from columns col (name), col + 1 (version) */
static char *
RegistrationName(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *name = SPI_getvalue(tup, desc, col);
	char	   *version = SPI_getvalue(tup, desc, col + 1);

	return version ? psprintf("orchestration \"%s\" version %s", name, version)
		: psprintf("activity \"%s\"", name);
}

/* DROP OWNED BY roles: remove the registrations those roles made (SPI, engine rights) */
static void
DropOwnedRegistrations(DropOwnedStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->roles)
	{
		Oid			role = get_rolespec_oid(lfirst(lc), true);
		Datum		values[1];
		static const char *const sql[] = {
			"DELETE FROM duroxide.orchestrations WHERE owner = $1 RETURNING name, version",
			"DELETE FROM duroxide.activities WHERE owner = $1 RETURNING name, NULL::text",
		};
		Oid			types[1] = {REGROLEOID};

		if (!OidIsValid(role))
			continue;
		values[0] = ObjectIdGetDatum(role);
		for (int i = 0; i < lengthof(sql); i++)
		{
			DxExpect(SPI_execute_with_args(sql[i], 1, types, values, NULL, false, 0),
					 SPI_OK_DELETE_RETURNING, "registration removal");
			for (uint64 r = 0; r < SPI_processed; r++)
				ereport(NOTICE,
						(errmsg("drop owned removes duroxide %s registered by %s",
								RegistrationName(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1),
								quote_identifier(GetUserNameFromId(role, false)))));
		}
	}
}

/* the registrations whose functions this command dropped (SPI, engine rights) */
static const char *const dependents_sql =
"SELECT d.object_type, d.object_identity, r.kind, r.name, r.version, r.owner::pg_catalog.oid"
"  FROM pg_catalog.pg_event_trigger_dropped_objects() d"
"  JOIN (SELECT 'orchestration' AS kind, o.name, o.version, o.fn, o.owner FROM duroxide.orchestrations o"
"        UNION ALL"
"        SELECT 'activity', a.name, NULL, a.fn, a.owner FROM duroxide.activities a) r"
"    ON r.fn = d.object_identity"
" WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass"
" ORDER BY 2, 3, 4, 5";

/*
 * Event trigger (sql_drop, and ddl_command_end of DROP OWNED): refuse to
 * drop a registered function, or remove its registrations when the drop
 * cascades (see the file header).
 */
Datum
duroxide_registered_drop(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	Oid			nsp;
	bool		cascade;
	DxEngineSave save;
	SPITupleTable *deps;
	uint64		ndeps;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "duroxide_registered_drop: not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;

	/* DROP EXTENSION duroxide, DROP SCHEMA duroxide: the registries go too */
	nsp = get_namespace_oid("duroxide", true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("orchestrations", nsp)) ||
		!OidIsValid(get_relname_relid("activities", nsp)))
		PG_RETURN_VOID();

	cascade = DropCascades(trigdata->parsetree);
	SPI_connect();
	DxEngineBegin(&save);
	if (trigdata->parsetree != NULL && IsA(trigdata->parsetree, DropOwnedStmt))
		DropOwnedRegistrations((DropOwnedStmt *) trigdata->parsetree);

	if (strcmp(trigdata->event, "sql_drop") == 0)
	{
		DxExpect(SPI_execute(dependents_sql, false, 0), SPI_OK_SELECT, "registration dependents");
		if (SPI_processed > 0 && !cascade)
		{
			HeapTuple	tup = SPI_tuptable->vals[0];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *type = SPI_getvalue(tup, desc, 1);
			char	   *identity = SPI_getvalue(tup, desc, 2);
			char	   *name = SPI_getvalue(tup, desc, 4);
			char	   *version = SPI_getvalue(tup, desc, 5);
			bool		isnull;
			Oid			owner = DatumGetObjectId(SPI_getbinval(tup, desc, 6, &isnull));
			char	   *owner_name = GetUserNameFromId(owner, true);
			char	   *what = RegistrationName(tup, desc, 4);
			char	   *call = version ? psprintf("duroxide.unregister_orchestration(%s, %s)",
												 quote_literal_cstr(name), quote_literal_cstr(version))
				: psprintf("duroxide.unregister_activity(%s)", quote_literal_cstr(name));

			ereport(ERROR,
					(errcode(ERRCODE_DEPENDENT_OBJECTS_STILL_EXIST),
					 errmsg("cannot drop %s %s because duroxide %s is registered with it",
							type, identity, what),
					 errdetail("%s was registered by role %s%s.", what,
							   owner_name ? quote_identifier(owner_name) : psprintf("with OID %u", owner),
							   SPI_processed > 1
							   ? psprintf("; %d more registrations use the dropped functions",
										  (int) SPI_processed - 1)
							   : ""),
					 errhint("Unregister it first with %s, or drop with CASCADE to unregister it too.", call)));
		}
		deps = SPI_tuptable;
		ndeps = SPI_processed;
		for (uint64 r = 0; r < ndeps; r++)
		{
			HeapTuple	tup = deps->vals[r];
			TupleDesc	desc = deps->tupdesc;
			char	   *name = SPI_getvalue(tup, desc, 4);
			char	   *version = SPI_getvalue(tup, desc, 5);
			Datum		values[2];
			Oid			types[2] = {TEXTOID, TEXTOID};

			values[0] = CStringGetTextDatum(name);
			values[1] = version ? CStringGetTextDatum(version) : (Datum) 0;
			if (version)
				DxExpect(SPI_execute_with_args("DELETE FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
											   2, types, values, NULL, false, 0),
						 SPI_OK_DELETE, "registration removal");
			else
				DxExpect(SPI_execute_with_args("DELETE FROM duroxide.activities WHERE name = $1",
											   1, types, values, NULL, false, 0),
						 SPI_OK_DELETE, "registration removal");
			ereport(NOTICE,
					(errmsg("drop cascades to duroxide %s", RegistrationName(tup, desc, 4))));
		}
	}
	DxEngineEnd(&save);
	SPI_finish();
	PG_RETURN_VOID();
}
