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
 * that starts after a registration committed always sees it.  Without
 * shared memory (library not preloaded) nothing is cached.
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

#define REGISTRY_KEY_LEN 2064	/* name (1024) + separator + version */

typedef struct RegistryEntry
{
	char		key[REGISTRY_KEY_LEN];
	bool		found;
	DxFunctionInfo info;
} RegistryEntry;

static HTAB *registry_cache = NULL;
static uint64 cached_generation = 0;

static DxPlan orchestration_plan = {NULL,
	"SELECT fn::oid, owner::oid, false FROM duroxide.orchestrations WHERE name = $1 AND version = $2",
2, {TEXTOID, TEXTOID}};

static DxPlan activity_plan = {NULL,
	"SELECT fn::oid, owner::oid, is_procedure FROM duroxide.activities WHERE name = $1",
1, {TEXTOID}};

/* the cache, emptied if the registry changed since it was filled */
static HTAB *
Cache(void)
{
	uint64		gen = DxRegistryGeneration();

	if (registry_cache != NULL && gen == cached_generation)
		return registry_cache;
	if (registry_cache != NULL)
		hash_destroy(registry_cache);
	registry_cache = NULL;
	if (!DxShmemAvailable())
		return NULL;
	{
		HASHCTL		ctl;

		ctl.keysize = REGISTRY_KEY_LEN;
		ctl.entrysize = sizeof(RegistryEntry);
		ctl.hcxt = TopMemoryContext;
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
