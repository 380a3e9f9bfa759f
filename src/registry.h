/*-------------------------------------------------------------------------
 * registry.h
 *		Cached lookups of registered orchestrations and activities.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_REGISTRY_H
#define DUROXIDE_REGISTRY_H

#include "postgres.h"

typedef struct DxFunctionInfo
{
	Oid			fn;
	Oid			owner;
	bool		is_procedure;
} DxFunctionInfo;

extern bool DxLookupOrchestration(const char *name, const char *version, DxFunctionInfo *info);
extern bool DxLookupActivity(const char *name, DxFunctionInfo *info);
extern char *DxResolveVersion(const char *name, const char *version);

#endif
