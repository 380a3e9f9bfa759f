/*-------------------------------------------------------------------------
 * util.h
 *		Helpers shared by the engine's subsystems: prepared SPI plans, jsonb
 *		building and reading, engine rights for engine statements, checks of
 *		callers and of user-given names.  User code runs through sandbox.h.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_UTIL_H
#define DUROXIDE_UTIL_H

#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "utils/jsonb.h"
#include "utils/resowner.h"

/* SQLSTATEs of the engine */
#define ERRCODE_DX_SUSPEND			MAKE_SQLSTATE('D','X','0','0','0')
#define ERRCODE_DX_ACTIVITY_FAILED	MAKE_SQLSTATE('D','X','0','0','1')
#define ERRCODE_DX_CHILD_FAILED		MAKE_SQLSTATE('D','X','0','0','2')
#define ERRCODE_DX_NONDETERMINISTIC	MAKE_SQLSTATE('D','X','0','0','3')
#define ERRCODE_DX_WAIT_TIMEOUT		MAKE_SQLSTATE('D','X','0','0','4')

/* a lazily prepared, kept SPI plan */
typedef struct DxPlan
{
	SPIPlanPtr	plan;
	const char *sql;
	int			nargs;
	Oid			argtypes[16];
} DxPlan;

extern int	DxExecPlan(DxPlan *p, Datum *values, const char *nulls, bool read_only, long count);
extern void DxExpect(int ret, int expected, const char *what);

/* internal subtransactions: commit, or in PG_CATCH roll back (returns the error) */
extern void DxSubxactCommit(MemoryContext old, ResourceOwner owner);
extern ErrorData *DxSubxactRollBack(MemoryContext old, ResourceOwner owner);

/* jsonb object building */
typedef struct DxJsonBuilder
{
	JsonbParseState *state;
} DxJsonBuilder;

extern void DxJbBegin(DxJsonBuilder *b);
extern void DxJbString(DxJsonBuilder *b, const char *key, const char *value);
extern void DxJbInt(DxJsonBuilder *b, const char *key, int64 value);
extern void DxJbNull(DxJsonBuilder *b, const char *key);
extern void DxJbJsonb(DxJsonBuilder *b, const char *key, Jsonb *value);
extern Jsonb *DxJbEnd(DxJsonBuilder *b);
extern Jsonb *DxJsonbString(const char *value);
extern char *DxJsonbScalarText(Jsonb *j);

/* jsonb object reading; NULL / default when the key is absent */
extern Jsonb *DxJbGet(Jsonb *obj, const char *key);
extern char *DxJbGetText(Jsonb *obj, const char *key);
extern bool DxJbGetInt(Jsonb *obj, const char *key, int64 *value);
extern bool DxJsonbEqual(Jsonb *a, Jsonb *b);

/*
 * Engine statements reachable from user context (client functions called by
 * any role, durable functions called by orchestration code): between
 * DxEngineBegin and DxEngineEnd the current user is the bootstrap superuser
 * (SECURITY_LOCAL_USERID_CHANGE, so user code cannot SET ROLE out of it) and
 * search_path is pinned to pg_catalog, pg_temp, so no schema of the caller
 * can shadow a function, operator or type the statement uses.  Permission
 * checks are the caller's job, made before DxEngineBegin with GetUserId().
 * An ERROR in between is safe: (sub)transaction abort restores both.
 */
typedef struct DxEngineSave
{
	Oid			userid;
	int			sec_context;
	int			guc_nest;
} DxEngineSave;

extern int	DxPinSearchPath(void);
extern void DxUnpinSearchPath(int nest);
extern bool DxIsAdmin(Oid role);
extern bool DxIsEngineUser(Oid role);
extern void DxCheckEngineUser(Oid role, const char *what);
extern char *DxVisibleInstance(const char *instance_id, Oid *owner, const char *hint);
extern void DxEngineBegin(DxEngineSave *save);
extern void DxEngineEnd(DxEngineSave *save);
#define DX_ENGINE_SEARCH_PATH "pg_catalog, pg_temp"

extern bool DxProcExecutable(Oid fn, Oid role);

extern Oid	DxTypeOid(const char *name);
extern Datum DxFormRow(const char *name, int natts, Datum *values, bool *nulls);
extern void DxCheckPayload(const char *what, Jsonb *value);

#define DX_MAX_NAME_BYTES 1024
extern void DxCheckName(const char *what, const char *value);
extern char *DxTextArg(FunctionCallInfo fcinfo, int argno);
extern char *DxNameArg(FunctionCallInfo fcinfo, int argno, const char *what);
extern void DxCheckVersion(const char *version);
extern Datum DxInvokeFunction2(Oid fn, Datum arg1, Datum arg2, bool arg2null, bool *isnull);

#endif
