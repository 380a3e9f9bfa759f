/*-------------------------------------------------------------------------
 * registry.c
 *		Cached lookups of duroxide.orchestrations and duroxide.activities,
 *		and the resolution of their stored function identities.
 *
 * Storage: a registration keeps its function as text, the identity that
 * PostgreSQL itself reports for it (pg_identify_object, and object_identity
 * in pg_event_trigger_dropped_objects): schema-qualified name and
 * schema-qualified argument types, quoted where needed, for example
 * public.hello(duroxide.context,pg_catalog.jsonb).  It is what regprocedure
 * input accepts under any search_path; it survives pg_dump / restore and
 * pg_upgrade, which OIDs (regproc columns) do not.  DxFunctionIdentity
 * produces it.
 *
 * Every turn needs its orchestration's function and owner, every scheduled
 * activity needs to exist, and every activity attempt needs its function:
 * reading the registry tables and resolving the identity each time was a
 * visible share of a turn.  Each backend keeps a hash of what it looked up.
 * Its key is (kind, name, version): the four kinds of lookup (orchestration
 * function, activity function, latest version, given version) never share
 * an entry, and every entry is fully initialised when it is entered.
 *
 * Invalidation:
 *	 - a statement trigger on both registry tables asks for the shared
 *	   registry generation to be incremented when the transaction commits
 *	   (shmem.c).  A lookup first compares the generation it cached under
 *	   with the shared one and drops the whole cache when they differ, so a
 *	   lookup that starts after a registration committed always sees it.  A
 *	   transaction that changed the registry itself reads it directly until
 *	   it commits.  Without shared memory (library not preloaded) nothing is
 *	   cached.
 *	 - an entry's resolved function OID is forgotten when pg_proc changes
 *	   for that OID (syscache callback on PROCOID: DROP, RENAME, SET SCHEMA,
 *	   CREATE OR REPLACE); the next lookup resolves the identity again.  An
 *	   identity that resolves to nothing is never cached, so a function
 *	   created again under the same identity is found at once.
 *
 * The registry queries run with engine rights and a pinned search_path
 * (DxEngineBegin): activity lookups also run while orchestration code is on
 * the stack, and a plan prepared under the caller's search_path would keep
 * it for every later execution in this backend.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/syscache.h"

#include "registry.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_registry_changed);
PG_FUNCTION_INFO_V1(duroxide_resolve_version);

#define REGISTRY_VERSION_LEN 64	/* valid versions have at most 39 bytes */

/* what a cache entry answers */
typedef enum RegistryKind
{
	REG_ORCHESTRATION,			/* function of (name, version) */
	REG_ACTIVITY,				/* function of name */
	REG_LATEST_VERSION,			/* highest version of name */
	REG_GIVEN_VERSION			/* (name, version) is registered */
} RegistryKind;

/* zero-filled, compared as bytes (HASH_BLOBS) */
typedef struct RegistryKey
{
	int32		kind;
	char		name[DX_MAX_NAME_BYTES + 1];
	char		version[REGISTRY_VERSION_LEN];
} RegistryKey;

typedef struct RegistryEntry
{
	RegistryKey key;
	/* function kinds */
	char	   *identity;
	Oid			owner;
	bool		is_procedure;
	Oid			fn;				/* InvalidOid: not (yet) resolved */
	uint32		fn_hash;		/* PROCOID hash of fn */
	bool		wrong_kind;		/* resolved to a function of another kind */
	char	   *call_name;
	/* version kinds */
	char	   *version;
} RegistryEntry;

static HTAB *registry_cache = NULL;
static MemoryContext registry_cxt = NULL;	/* the cache's entries and strings */
static uint64 cached_generation = 0;
static bool callback_registered = false;

static DxPlan orchestration_plan = {NULL,
	"SELECT fn, owner::pg_catalog.oid, false FROM duroxide.orchestrations"
	" WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static DxPlan activity_plan = {NULL,
	"SELECT fn, owner::pg_catalog.oid, is_procedure FROM duroxide.activities WHERE name = $1",
1, {TEXTOID}};

static DxPlan latest_version_plan = {NULL,
	"SELECT version FROM duroxide.orchestrations WHERE name = $1 ORDER BY version_key DESC LIMIT 1",
1, {TEXTOID}};

static DxPlan given_version_plan = {NULL,
	"SELECT version FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static char *QueryVersion(const char *name, const char *version);

/* pg_proc changed: forget the resolutions it may concern */
static void
ProcChanged(Datum arg, int cacheid, uint32 hashvalue)
{
	HASH_SEQ_STATUS seq;
	RegistryEntry *e;

	if (registry_cache == NULL)
		return;
	hash_seq_init(&seq, registry_cache);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (OidIsValid(e->fn) && (hashvalue == 0 || e->fn_hash == hashvalue))
		{
			e->fn = InvalidOid;
			e->wrong_kind = false;
		}
}

/*
 * The cache, valid for the current registry generation (emptied if the
 * registry changed since it was filled); NULL when nothing may be cached.
 */
static HTAB *
CurrentCache(void)
{
	uint64		gen = DxRegistryGeneration();

	if (DxRegistryChangedInXact())
		return NULL;
	if (registry_cache != NULL && gen == cached_generation)
		return registry_cache;
	if (registry_cache != NULL)
		MemoryContextDelete(registry_cxt);	/* the hash and its strings */
	registry_cache = NULL;
	if (!DxShmemAvailable())
		return NULL;
	if (!callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, ProcChanged, (Datum) 0);
		callback_registered = true;
	}
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(RegistryKey);
		ctl.entrysize = sizeof(RegistryEntry);
		registry_cxt = AllocSetContextCreate(TopMemoryContext, "duroxide registry", ALLOCSET_SMALL_SIZES);
		ctl.hcxt = registry_cxt;
		registry_cache = hash_create("duroxide registry", 64, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	cached_generation = gen;
	return registry_cache;
}

/* fill a key; false when the strings do not fit (looked up uncached) */
static bool
MakeKey(RegistryKey *key, RegistryKind kind, const char *name, const char *version)
{
	memset(key, 0, sizeof(RegistryKey));
	if (strlen(name) > DX_MAX_NAME_BYTES || (version && strlen(version) >= REGISTRY_VERSION_LEN))
		return false;
	key->kind = kind;
	strcpy(key->name, name);
	if (version)
		strcpy(key->version, version);
	return true;
}

/*
 * Read a function registration into e (strings in cxt); returns whether a
 * row was found.  The resolution fields are left unresolved.
 */
static bool
RegistryQuery(RegistryKind kind, const char *name, const char *version, RegistryEntry *e,
			  MemoryContext cxt)
{
	Datum		values[2];
	bool		found;
	DxEngineSave save;

	SPI_connect();
	DxEngineBegin(&save);
	values[0] = CStringGetTextDatum(name);
	if (version)
		values[1] = CStringGetTextDatum(version);
	DxExpect(DxExecPlan(kind == REG_ORCHESTRATION ? &orchestration_plan : &activity_plan,
						values, NULL, true, 1),
			 SPI_OK_SELECT, "registry lookup");
	found = SPI_processed > 0;
	if (found)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		Datum		d = SPI_getbinval(tup, desc, 1, &isnull);

		char	   *identity;

		/*
		 * A 0.1.0 schema (this library running before ALTER EXTENSION
		 * duroxide UPDATE converted the column) has the OID in a regproc.
		 */
		if (SPI_gettypeid(desc, 1) == REGPROCOID)
			identity = SearchSysCacheExists1(PROCOID, d) ? DxFunctionIdentity(DatumGetObjectId(d))
				: psprintf("OID %u", DatumGetObjectId(d));
		else
			identity = TextDatumGetCString(d);
		e->identity = MemoryContextStrdup(cxt, identity);
		e->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		e->is_procedure = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	}
	DxEngineEnd(&save);
	SPI_finish();
	return found;
}

static void ResolveAsEngine(RegistryEntry *e, MemoryContext cxt);

/*
 * Resolve e's identity to a function (names in cxt).  Leaves e->fn invalid
 * when nothing has that identity.  The identity is qualified throughout, so
 * the result does not depend on search_path; it is resolved with the
 * engine's rights, so it does not depend on the caller's USAGE on the
 * function's schema either (the cache is shared by every caller in the
 * backend; who may use a registration is DxCheckMayUse's question).
 */
static void
Resolve(RegistryEntry *e, MemoryContext cxt)
{
	DxEngineSave save;

	DxEngineBegin(&save);
	ResolveAsEngine(e, cxt);
	DxEngineEnd(&save);
}

/* Resolve's work */
static void
ResolveAsEngine(RegistryEntry *e, MemoryContext cxt)
{
	LOCAL_FCINFO(fcinfo, 1);
	Datum		d;
	Oid			fn;
	HeapTuple	tup;
	Form_pg_proc proc;
	char	   *nsp;

	InitFunctionCallInfoData(*fcinfo, NULL, 1, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = CStringGetTextDatum(e->identity);
	fcinfo->args[0].isnull = false;

	/* an identity has its argument types (not so "OID n" of a dropped one) */
	if (strchr(e->identity, '(') == NULL)
		return;
	d = to_regprocedure(fcinfo);
	if (fcinfo->isnull)
		return;
	fn = DatumGetObjectId(d);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	if (!HeapTupleIsValid(tup))
		return;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	nsp = get_namespace_name(proc->pronamespace);
	if (nsp == NULL)
	{
		ReleaseSysCache(tup);
		return;
	}
	/* the same argument types; a function of another kind is not run */
	if (e->is_procedure)
		e->wrong_kind = proc->prokind != PROKIND_PROCEDURE;
	else
		e->wrong_kind = proc->prokind != PROKIND_FUNCTION || proc->proretset ||
			proc->prorettype != JSONBOID;
	e->call_name = MemoryContextStrdup(cxt, quote_qualified_identifier(nsp, NameStr(proc->proname)));
	ReleaseSysCache(tup);
	e->fn_hash = GetSysCacheHashValue1(PROCOID, ObjectIdGetDatum(fn));
	e->fn = fn;
}

/* a cached lookup of a function registration */
static bool
LookupFunction(RegistryKind kind, const char *name, const char *version, DxFunctionInfo *info)
{
	HTAB	   *cache = CurrentCache();
	RegistryKey key;
	RegistryEntry local;
	RegistryEntry *e;
	MemoryContext cxt;

	memset(info, 0, sizeof(DxFunctionInfo));
	if (cache == NULL || !MakeKey(&key, kind, name, version))
	{
		memset(&local, 0, sizeof(local));
		if (!RegistryQuery(kind, name, version, &local, CurrentMemoryContext))
			return false;
		e = &local;
		cxt = CurrentMemoryContext;
	}
	else
	{
		bool		hit;

		e = hash_search(cache, &key, HASH_FIND, &hit);
		if (e == NULL)
		{
			/* only positive answers are kept: an unknown name is an error path */
			memset(&local, 0, sizeof(local));
			if (!RegistryQuery(kind, name, version, &local, registry_cxt))
				return false;
			e = hash_search(cache, &key, HASH_ENTER, NULL);
			local.key = e->key;
			*e = local;
		}
		cxt = registry_cxt;
	}
	if (!OidIsValid(e->fn))
		Resolve(e, cxt);

	info->owner = e->owner;
	info->is_procedure = e->is_procedure;
	info->identity = pstrdup(e->identity);
	if (!OidIsValid(e->fn))
		info->problem = DX_FN_MISSING;
	else if (e->wrong_kind)
		info->problem = DX_FN_SIGNATURE;
	else if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(e->owner)))
		info->problem = DX_FN_NO_OWNER;
	else
	{
		info->fn = e->fn;
		info->call_name = pstrdup(e->call_name);
	}
	return true;
}

/* the function and owner of an orchestration version (false: not registered) */
bool
DxLookupOrchestration(const char *name, const char *version, DxFunctionInfo *info)
{
	return LookupFunction(REG_ORCHESTRATION, name, version, info);
}

/* the function and owner of an activity (false: not registered) */
bool
DxLookupActivity(const char *name, DxFunctionInfo *info)
{
	return LookupFunction(REG_ACTIVITY, name, NULL, info);
}

/*
 * Using a registration (scheduling an activity, starting an orchestration)
 * runs its function as the role that registered it, with the input the
 * caller chooses: like calling a SECURITY DEFINER function, it needs EXECUTE
 * on that function.  Checked for the current user (the caller of
 * start_orchestration, or an orchestration's owner while its code runs)
 * when the registration is first used, not on replay.  A registration
 * whose function cannot run is let through: its run reports the problem.
 */
void
DxCheckMayUse(const DxFunctionInfo *info, const char *what)
{
	Oid			role = GetUserId();

	if (!OidIsValid(info->fn) || role == info->owner || DxProcExecutable(info->fn, role))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to use %s", what),
			 errdetail("It runs as the role that registered it, and using it requires EXECUTE on its function %s.",
					   info->identity),
			 errhint("The function's owner can GRANT EXECUTE ON FUNCTION %s TO %s.",
					 info->identity, quote_identifier(GetUserNameFromId(role, false)))));
}

/*
 * Why a registered function cannot run, as an error message naming what
 * (e.g. `activity "Send"`) and the function; NULL when it can.
 */
char *
DxFunctionProblem(const DxFunctionInfo *info, const char *what)
{
	switch (info->problem)
	{
		case DX_FN_OK:
			return NULL;
		case DX_FN_MISSING:
			return psprintf("%s cannot run: its function %s does not exist "
							"(it was dropped or renamed, or not restored); "
							"create it again or register another function",
							what, info->identity);
		case DX_FN_SIGNATURE:
			return psprintf("%s cannot run: its function %s no longer has the signature it was registered with "
							"(it was created again as another kind of routine); register it again",
							what, info->identity);
		case DX_FN_NO_OWNER:
			return psprintf("%s cannot run: the role that registered it (OID %u) no longer exists; "
							"register it again as an existing role",
							what, info->owner);
	}
	return NULL;
}

/*
 * The stored identity of a function: what pg_identify_object reports,
 * schema-qualified name and argument types (see the file header).  The
 * function must exist.
 */
char *
DxFunctionIdentity(Oid fn)
{
	return format_procedure_qualified(fn);
}

/* trigger: the registry changed; bump the generation when this commits */
Datum
duroxide_registry_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "duroxide_registry_changed: not called by trigger manager");
	DxRequestRegistryBump();
	return PointerGetDatum(NULL);
}

/* the resolved version, from the cache or the registry (NULL: not registered) */
static char *
CachedVersion(const char *name, const char *version)
{
	HTAB	   *cache = CurrentCache();
	RegistryKey key;
	RegistryEntry *e;
	bool		hit;
	char	   *v;

	if (cache == NULL ||
		!MakeKey(&key, version ? REG_GIVEN_VERSION : REG_LATEST_VERSION, name, version))
		return QueryVersion(name, version);
	e = hash_search(cache, &key, HASH_FIND, &hit);
	if (e != NULL)
		return pstrdup(e->version);
	v = QueryVersion(name, version);
	if (v == NULL)
		return NULL;			/* not cached: an error path */
	{
		RegistryEntry entry;

		memset(&entry, 0, sizeof(entry));
		entry.version = MemoryContextStrdup(registry_cxt, v);
		e = hash_search(cache, &key, HASH_ENTER, NULL);
		entry.key = e->key;
		*e = entry;
	}
	return v;
}

/*
 * The highest registered version of an orchestration, or the given one; an
 * error names what is not registered.  Needs SPI connected; the result is
 * allocated in the caller's (SPI procedure) memory.
 */
char *
DxResolveVersion(const char *name, const char *version)
{
	char	   *v;

	if (version)
		DxCheckVersion(version);
	v = CachedVersion(name, version);

	if (v == NULL && version == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("orchestration \"%s\" is not registered", name),
				 errhint("Register it with duroxide.register_orchestration(name, function).")));
	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("version %s of orchestration \"%s\" is not registered", version, name),
				 errhint("Register it with duroxide.register_orchestration(name, function, version).")));
	return v;
}

/* the version from the registry, NULL when not registered (SPI connected) */
static char *
QueryVersion(const char *name, const char *version)
{
	Datum		values[2];
	char	   *v = NULL;
	DxEngineSave save;

	DxEngineBegin(&save);
	values[0] = CStringGetTextDatum(name);
	if (version)
		values[1] = CStringGetTextDatum(version);
	DxExpect(DxExecPlan(version ? &given_version_plan : &latest_version_plan, values, NULL, true, 1),
			 SPI_OK_SELECT, "version lookup");
	if (SPI_processed > 0)
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	DxEngineEnd(&save);
	return v;
}

/* SQL: duroxide._resolve_version(name, version) */
Datum
duroxide_resolve_version(PG_FUNCTION_ARGS)
{
	char	   *v;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("orchestration name must not be null or empty")));
	SPI_connect();
	v = DxResolveVersion(TextDatumGetCString(PG_GETARG_DATUM(0)),
						 PG_ARGISNULL(1) ? NULL : TextDatumGetCString(PG_GETARG_DATUM(1)));
	v = strcpy(SPI_palloc(strlen(v) + 1), v);	/* outlives SPI_finish */
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(v));
}
