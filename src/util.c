/*-------------------------------------------------------------------------
 * util.c
 *		Prepared SPI plans, jsonb helpers, engine rights (DxEngineBegin/End),
 *		the checks of callers (engine users, the instances they see) and of
 *		user-given names and versions.
 *
 * User code never runs here: sandbox.c is the one place that calls it.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "utils/typcache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"

#include "compat.h"
#include "guc.h"
#include "util.h"

/* execute a lazily prepared plan; returns the SPI code */
int
DxExecPlan(DxPlan *p, Datum *values, const char *nulls, bool read_only, long count)
{
	if (p->plan == NULL)
	{
		/*
		 * Generic plans: with array parameters the plan cache would otherwise
		 * keep choosing custom plans and plan the statement on every batch.
		 */
		SPIPlanPtr	plan = SPI_prepare_cursor(p->sql, p->nargs, p->argtypes, CURSOR_OPT_GENERIC_PLAN);

		if (plan == NULL)
			elog(ERROR, "duroxide: SPI_prepare failed (%s) for: %s",
				 SPI_result_code_string(SPI_result), p->sql);
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "duroxide: SPI_keepplan failed");
		p->plan = plan;
	}
	return SPI_execute_plan(p->plan, values, nulls, read_only, count);
}

/* raise an internal error unless an SPI call returned what was expected */
void
DxExpect(int ret, int expected, const char *what)
{
	if (ret != expected)
		elog(ERROR, "duroxide: %s failed: %s", what, SPI_result_code_string(ret));
}

/* start a jsonb object */
void
DxJbBegin(DxJsonBuilder *b)
{
	b->state = NULL;
	(void) pushJsonbValue(&b->state, WJB_BEGIN_OBJECT, NULL);
}

/* push an object key */
static void
DxJbKey(DxJsonBuilder *b, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	(void) pushJsonbValue(&b->state, WJB_KEY, &k);
}

/* add "key": string (null for NULL) */
void
DxJbString(DxJsonBuilder *b, const char *key, const char *value)
{
	JsonbValue	v;

	DxJbKey(b, key);
	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

/* add "key": integer */
void
DxJbInt(DxJsonBuilder *b, const char *key, int64 value)
{
	JsonbValue	v;

	DxJbKey(b, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(value)));
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

/* add "key": null */
void
DxJbNull(DxJsonBuilder *b, const char *key)
{
	JsonbValue	v;

	DxJbKey(b, key);
	v.type = jbvNull;
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

/* the text of a jsonb string scalar (an error for anything else) */
char *
DxJsonbScalarText(Jsonb *j)
{
	JsonbValue	v;

	if (j == NULL || !JsonbExtractScalar(&j->root, &v) || v.type != jbvString)
		elog(ERROR, "duroxide: a recorded value is not a JSON string");
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* add "key": any jsonb value; the key is left out for SQL NULL */
void
DxJbJsonb(DxJsonBuilder *b, const char *key, Jsonb *value)
{
	JsonbValue	v;

	if (value == NULL)
		return;
	DxJbKey(b, key);
	v.type = jbvBinary;
	v.val.binary.data = &value->root;
	v.val.binary.len = VARSIZE(value) - VARHDRSZ;
	(void) pushJsonbValue(&b->state, WJB_VALUE, &v);
}

/* finish the object */
Jsonb *
DxJbEnd(DxJsonBuilder *b)
{
	JsonbValue *res = pushJsonbValue(&b->state, WJB_END_OBJECT, NULL);

	return JsonbValueToJsonb(res);
}

/* a jsonb string scalar */
Jsonb *
DxJsonbString(const char *value)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = strlen(value);
	return JsonbValueToJsonb(&v);
}

/* look up a key of an object */
static JsonbValue *
DxJbLookup(Jsonb *obj, const char *key)
{
	if (obj == NULL || !JB_ROOT_IS_OBJECT(obj))
		return NULL;
	return getKeyJsonValueFromContainer(&obj->root, key, strlen(key), NULL);
}

/* the value of a key as jsonb (JSON null included), NULL when absent */
Jsonb *
DxJbGet(Jsonb *obj, const char *key)
{
	JsonbValue *v = DxJbLookup(obj, key);

	return v ? JsonbValueToJsonb(v) : NULL;
}

/* the value of a string key as a C string, NULL when absent or not a string */
char *
DxJbGetText(Jsonb *obj, const char *key)
{
	JsonbValue *v = DxJbLookup(obj, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* the value of a numeric key as int64; false when absent or not a number */
bool
DxJbGetInt(Jsonb *obj, const char *key, int64 *value)
{
	JsonbValue *v = DxJbLookup(obj, key);

	if (v == NULL || v->type != jbvNumeric)
		return false;
	*value = DatumGetInt64(DirectFunctionCall1(numeric_int8, NumericGetDatum(v->val.numeric)));
	return true;
}

/* jsonb equality, SQL NULL equal only to SQL NULL */
bool
DxJsonbEqual(Jsonb *a, Jsonb *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return compareJsonbContainers(&a->root, &b->root) == 0;
}

/* call a two-argument function, allowing a NULL second argument and result */
Datum
DxInvokeFunction2(Oid fn, Datum arg1, Datum arg2, bool arg2null, bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 2);
	FmgrInfo	flinfo;
	Datum		result;

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, 2, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg1;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg2;
	fcinfo->args[1].isnull = arg2null;
	result = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	return result;
}

/*
 * Commit the subtransaction begun (BeginInternalSubTransaction) in memory
 * context old with resource owner owner, and go back to both.
 */
void
DxSubxactCommit(MemoryContext old, ResourceOwner owner)
{
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
}

/*
 * In PG_CATCH: roll back the subtransaction begun in old and owner, and go
 * back to both; returns the error, copied into old.
 */
ErrorData *
DxSubxactRollBack(MemoryContext old, ResourceOwner owner)
{
	ErrorData  *e;

	MemoryContextSwitchTo(old);
	e = CopyErrorData();
	FlushErrorState();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	return e;
}

/* a text argument, or NULL */
char *
DxTextArg(FunctionCallInfo fcinfo, int argno)
{
	return PG_ARGISNULL(argno) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(argno));
}

/* a name argument, checked by DxCheckName (what names it in the errors) */
char *
DxNameArg(FunctionCallInfo fcinfo, int argno, const char *what)
{
	char	   *s = DxTextArg(fcinfo, argno);

	DxCheckName(what, s);
	return s;
}

/* pin search_path to the engine's for what follows; returns the GUC nest level */
int
DxPinSearchPath(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", DX_ENGINE_SEARCH_PATH, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* the search_path from before DxPinSearchPath again */
void
DxUnpinSearchPath(int nest)
{
	AtEOXact_GUC(true, nest);
}

/* true for superusers and members of duroxide_admin (as duroxide._is_admin) */
bool
DxIsAdmin(Oid role)
{
	Oid			admin = get_role_oid("duroxide_admin", true);

	return superuser_arg(role) || (OidIsValid(admin) && is_member_of_role(role, admin));
}

/*
 * True for the roles that may use the engine: superusers and roles with the
 * privileges of duroxide_user (has_privs_of_role, PostgreSQL's convention
 * for privileges through roles: a NOINHERIT member must SET ROLE first).
 * Members of duroxide_admin have them: the install script grants
 * duroxide_user to duroxide_admin.
 */
bool
DxIsEngineUser(Oid role)
{
	Oid			user = get_role_oid("duroxide_user", true);

	return superuser_arg(role) || (OidIsValid(user) && has_privs_of_role(role, user));
}

/*
 * Refuse a caller (role) that is not an engine user (DxIsEngineUser):
 * "permission denied to <what>", with a hint naming the grant.
 */
void
DxCheckEngineUser(Oid role, const char *what)
{
	if (!DxIsEngineUser(role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to %s", what),
				 errhint("Grant the role duroxide_user to %s.",
						 quote_identifier(GetUserNameFromId(role, false)))));
}

/* as the caller: the instance as row-level security shows it */
static DxPlan visible_instance_plan = {NULL,
	"SELECT i.instance_id, i.status, i.owner::oid FROM duroxide.instances i"
	" WHERE i.instance_id OPERATOR(pg_catalog.=) $1",
1, {TEXTOID}};

/*
 * The instance as the caller sees it (row-level security, read as the
 * caller with search_path pinned); raises undefined_object, with hint when
 * not NULL, when it sees none.  Returns its status and sets *owner.  Inside
 * SPI.
 */
char *
DxVisibleInstance(const char *instance_id, Oid *owner, const char *hint)
{
	Datum		values[1];
	int			nest = DxPinSearchPath();
	char	   *status = NULL;
	bool		isnull;

	values[0] = CStringGetTextDatum(instance_id);
	DxExpect(DxExecPlan(&visible_instance_plan, values, NULL, false, 0), SPI_OK_SELECT, "instance lookup");
	DxUnpinSearchPath(nest);
	for (uint64 r = 0; r < SPI_processed && status == NULL; r++)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);

		if (id == NULL || strcmp(id, instance_id) != 0)
			continue;
		status = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2);
		*owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3, &isnull));
	}
	if (status == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("orchestration instance \"%s\" does not exist", instance_id),
				 hint ? errhint("%s", hint) : 0));
	return status;
}

/* switch to the engine's rights and search_path (see util.h) */
void
DxEngineBegin(DxEngineSave *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	save->guc_nest = DxPinSearchPath();
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save->sec_context | SECURITY_LOCAL_USERID_CHANGE);
}

/* back to the caller's rights and settings */
void
DxEngineEnd(DxEngineSave *save)
{
	SetUserIdAndSecContext(save->userid, save->sec_context);
	DxUnpinSearchPath(save->guc_nest);
}

/* true when role may EXECUTE function fn */
bool
DxProcExecutable(Oid fn, Oid role)
{
	return DxProcAclCheck(fn, role, ACL_EXECUTE) == ACLCHECK_OK;
}

/* the oid of a type in schema duroxide */
Oid
DxTypeOid(const char *name)
{
	Oid			nsp = get_namespace_oid("duroxide", false);
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										PointerGetDatum(name), ObjectIdGetDatum(nsp));

	if (!OidIsValid(typid))
		elog(ERROR, "duroxide: type duroxide.%s does not exist", name);
	return typid;
}

/* raise a clear error when a payload exceeds duroxide.max_payload_size */
void
DxCheckPayload(const char *what, Jsonb *value)
{
	if (value != NULL && VARSIZE(value) > (Size) duroxide_max_payload_size)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large (%zu bytes)", what, (Size) VARSIZE(value)),
				 errdetail("duroxide.max_payload_size is %d bytes.", duroxide_max_payload_size),
				 errhint("Store large data in a table and pass its key instead.")));
}

/* a name given by a user: not null, not empty, bounded (as duroxide._check_name) */
void
DxCheckName(const char *what, const char *value)
{
	size_t		len = value ? strlen(value) : 0;

	if (len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null or empty", what)));
	if (len > DX_MAX_NAME_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_NAME_TOO_LONG),
				 errmsg("%s is too long (%zu bytes)", what, len),
				 errdetail("The limit is %d bytes.", DX_MAX_NAME_BYTES)));
}

/* a semantic version of 1 to 4 dot-separated numbers (as duroxide._version_key) */
void
DxCheckVersion(const char *version)
{
	const char *p = version;
	int			parts = 0;

	DxCheckName("version", version);
	for (;;)
	{
		int			digits = 0;

		while (*p >= '0' && *p <= '9')
			p++, digits++;
		if (digits == 0 || digits > 9 || ++parts > 4)
			break;
		if (*p == '\0')
			return;
		if (*p++ != '.')
			break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid version \"%s\"", version),
			 errhint("Use a semantic version of dot-separated numbers, such as 1.0.0.")));
}

/*
 * A row of composite type duroxide.<name> with natts columns; the type's
 * cached tuple descriptor is used as it is (no copy on these hot paths).
 */
Datum
DxFormRow(const char *name, int natts, Datum *values, bool *nulls)
{
	TupleDesc	tupdesc = lookup_rowtype_tupdesc(DxTypeOid(name), -1);
	HeapTuple	tuple;

	if (tupdesc->natts != natts)
	{
		ReleaseTupleDesc(tupdesc);
		elog(ERROR, "duroxide: type duroxide.%s does not have %d columns", name, natts);
	}
	tuple = heap_form_tuple(tupdesc, values, nulls);
	ReleaseTupleDesc(tupdesc);
	return HeapTupleGetDatum(tuple);
}
