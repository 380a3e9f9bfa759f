/*-------------------------------------------------------------------------
 * registry.h
 *		Cached lookups of registered orchestrations and activities, and the
 *		stored identity of their functions.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_REGISTRY_H
#define DUROXIDE_REGISTRY_H

#include "postgres.h"

/*
 * A registration as a lookup returns it.  The strings are the caller's
 * (allocated in CurrentMemoryContext).  An external activity (external.c)
 * has no function: identity is NULL, task_queue is set and problem is
 * DX_FN_EXTERNAL.  fn is InvalidOid when the registered
 * function cannot run (dropped, renamed, restored without it, its signature
 * changed) or its registering role no longer exists: DxFunctionProblem then
 * says why.
 */
typedef struct DxFunctionInfo
{
	Oid			fn;
	Oid			owner;
	bool		is_procedure;
	char	   *identity;		/* as stored: schema.name(argtype,argtype) */
	char	   *call_name;		/* resolved: quoted schema.name; else NULL */
	char	   *task_queue;		/* an external activity's queue; else NULL */
	int			problem;		/* DX_FN_* */
} DxFunctionInfo;

#define DX_FN_OK			0
#define DX_FN_MISSING		1	/* the identity resolves to no function */
#define DX_FN_SIGNATURE		2	/* it resolves to one of another kind */
#define DX_FN_NO_OWNER		3	/* the registering role was dropped */
#define DX_FN_EXTERNAL		4	/* an external activity: no function (task_queue) */

extern bool DxLookupOrchestration(const char *name, const char *version, DxFunctionInfo *info);
extern bool DxLookupActivity(const char *name, DxFunctionInfo *info);
extern char *DxFunctionProblem(const DxFunctionInfo *info, const char *what);
extern void DxCheckMayUse(const DxFunctionInfo *info, const char *what);
extern char *DxResolveVersion(const char *name, const char *version);
extern char *DxFunctionIdentity(Oid fn);

#endif
