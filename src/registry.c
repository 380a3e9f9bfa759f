/*-------------------------------------------------------------------------
 * registry.c
 *		Cached lookups of duroxide.orchestrations and duroxide.activities.
 *
 * Every turn needs its orchestration's function and owner, every scheduled
 * activity needs to exist, and every activity attempt needs its function:
 * reading the registry tables each time was a visible share of a turn.  Each
 * backend keeps a hash of what it looked up.
 *
 * Invalidation: a statement trigger on both registry tables asks for the
 * shared registry generation to be incremented when the transaction commits
 * (shmem.c).  A lookup first compares the generation it cached under with
 * the shared one and drops the whole cache when they differ, so a lookup
 * that starts after a registration committed always sees it.  A transaction
 * that changed the registry itself reads it directly until it commits.
 * Without shared memory (library not preloaded) nothing is cached.
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "registry.h"
#include "shmem.h"
#include "util.h"

PG_FUNCTION_INFO_V1(duroxide_registry_changed);
PG_FUNCTION_INFO_V1(duroxide_resolve_version);

#define REGISTRY_KEY_LEN 2064	/* name (1024) + separator + version */

typedef struct RegistryEntry
{
	char		key[REGISTRY_KEY_LEN];
	bool		found;
	DxFunctionInfo info;
	char	   *version;		/* version entries: the resolved version */
} RegistryEntry;

static HTAB *registry_cache = NULL;
static MemoryContext registry_cxt = NULL;	/* the cache's entries and versions */
static uint64 cached_generation = 0;

static DxPlan orchestration_plan = {NULL,
	"SELECT fn::oid, owner::oid, false FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static DxPlan activity_plan = {NULL,
	"SELECT fn::oid, owner::oid, is_procedure FROM duroxide.activities WHERE name = $1",
1, {TEXTOID}};

static DxPlan latest_version_plan = {NULL,
	"SELECT version FROM duroxide.orchestrations WHERE name = $1 ORDER BY version_key DESC LIMIT 1",
1, {TEXTOID}};

static DxPlan given_version_plan = {NULL,
	"SELECT version FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static char *QueryVersion(const char *name, const char *version);

/* the cache, emptied if the registry changed since it was filled */
static HTAB *
Cache(void)
{
	uint64		gen = DxRegistryGeneration();

	if (DxRegistryChangedInXact())
		return NULL;
	if (registry_cache != NULL && gen == cached_generation)
		return registry_cache;
	if (registry_cache != NULL)
		MemoryContextDelete(registry_cxt);	/* the hash and its versions */
	registry_cache = NULL;
	if (!DxShmemAvailable())
		return NULL;
	{
		HASHCTL		ctl;

		ctl.keysize = REGISTRY_KEY_LEN;
		ctl.entrysize = sizeof(RegistryEntry);
		registry_cxt = AllocSetContextCreate(TopMemoryContext, "duroxide registry", ALLOCSET_SMALL_SIZES);
		ctl.hcxt = registry_cxt;
		registry_cache = hash_create("duroxide registry", 64, &ctl,
									 HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	cached_generation = gen;
	return registry_cache;
}

/* run a registry query; fills info and returns whether a row was found */
static bool
RegistryQuery(DxPlan *plan, const char *name, const char *version, DxFunctionInfo *info)
{
	Datum		values[2];
	bool		found;

	SPI_connect();
	values[0] = CStringGetTextDatum(name);
	if (version)
		values[1] = CStringGetTextDatum(version);
	DxExpect(DxExecPlan(plan, values, NULL, true, 1), SPI_OK_SELECT, "registry lookup");
	found = SPI_processed > 0;
	if (found)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		info->fn = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		info->owner = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
		info->is_procedure = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	}
	SPI_finish();
	return found;
}

/* a cached lookup */
static bool
Lookup(DxPlan *plan, const char *name, const char *version, DxFunctionInfo *info)
{
	HTAB	   *cache = Cache();
	char		key[REGISTRY_KEY_LEN];
	RegistryEntry *e;
	bool		hit;

	if (cache == NULL || strlen(name) + (version ? strlen(version) : 0) + 2 > REGISTRY_KEY_LEN)
		return RegistryQuery(plan, name, version, info);
	snprintf(key, sizeof(key), "%s%c%s", name, 1, version ? version : "");
	e = hash_search(cache, key, HASH_FIND, &hit);
	if (!hit)
	{
		DxFunctionInfo fi;
		bool		found = RegistryQuery(plan, name, version, &fi);

		/* only positive answers are kept: an unknown name is an error path */
		if (!found)
			return false;
		e = hash_search(cache, key, HASH_ENTER, NULL);
		e->found = true;
		e->info = fi;
	}
	*info = e->info;
	return e->found;
}

/* the function and owner of an orchestration version */
bool
DxLookupOrchestration(const char *name, const char *version, DxFunctionInfo *info)
{
	return Lookup(&orchestration_plan, name, version, info);
}

/* the function and owner of an activity */
bool
DxLookupActivity(const char *name, DxFunctionInfo *info)
{
	return Lookup(&activity_plan, name, NULL, info);
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
	HTAB	   *cache = Cache();
	char		key[REGISTRY_KEY_LEN];
	RegistryEntry *e;
	bool		hit;
	char	   *v;

	if (cache == NULL || strlen(name) + (version ? strlen(version) : 0) + 4 > REGISTRY_KEY_LEN)
		return QueryVersion(name, version);
	snprintf(key, sizeof(key), "%c%s%c%s", version ? 'v' : 'l', name, 1, version ? version : "");
	e = hash_search(cache, key, HASH_FIND, &hit);
	if (hit)
		return pstrdup(e->version);
	v = QueryVersion(name, version);
	if (v == NULL)
		return NULL;			/* not cached: an error path */
	e = hash_search(cache, key, HASH_ENTER, NULL);
	e->found = true;
	e->version = MemoryContextStrdup(registry_cxt, v);
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

/* the version from the registry, NULL when not registered */
static char *
QueryVersion(const char *name, const char *version)
{
	Datum		values[2];
	char	   *v = NULL;

	values[0] = CStringGetTextDatum(name);
	if (version)
		values[1] = CStringGetTextDatum(version);
	DxExpect(DxExecPlan(version ? &given_version_plan : &latest_version_plan, values, NULL, true, 1),
			 SPI_OK_SELECT, "version lookup");
	if (SPI_processed > 0)
		v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
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
