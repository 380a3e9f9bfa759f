/*-------------------------------------------------------------------------
 * compat.h
 *		The differences between the PostgreSQL major versions duroxide
 *		builds against (15, 17, 18), in one place.
 *
 * Code uses these macros instead of the version-specific names, so that
 * every #if on PG_VERSION_NUM lives here (the way pgvector keeps its
 * compatibility shims).  Add a macro here rather than an #if in a .c file.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_COMPAT_H
#define DUROXIDE_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "duroxide needs PostgreSQL 15 or later"
#endif

/*
 * DxMyProcNumber: this backend's index into ProcGlobal->allProcs (what
 * GetPGProcByNumber takes).  PostgreSQL 17 removed PGPROC.pgprocno and
 * exports MyProcNumber instead.  Only valid once MyProc is set.
 */
#include "storage/proc.h"
#if PG_VERSION_NUM >= 170000
#define DxMyProcNumber() ((int) MyProcNumber)
#else
#define DxMyProcNumber() (MyProc->pgprocno)
#endif

/*
 * DX_NORETURN: marks a function that never returns; it goes first in the
 * declaration ("DX_NORETURN static void f(...)").  PostgreSQL 18 replaced
 * pg_attribute_noreturn() with pg_noreturn, which has to come first.
 */
#if PG_VERSION_NUM >= 180000
#define DX_NORETURN pg_noreturn
#else
#define DX_NORETURN pg_attribute_noreturn()
#endif

/*
 * DxPlpgsqlUseCount(func): the use count of a compiled PL/pgSQL function
 * (PLpgSQL_function *), which keeps PL/pgSQL from freeing it while raised.
 * PostgreSQL 18 moved it into the function cache's CachedFunction header.
 */
#if PG_VERSION_NUM >= 180000
#define DxPlpgsqlUseCount(func) ((func)->cfunc.use_count)
#else
#define DxPlpgsqlUseCount(func) ((func)->use_count)
#endif

/*
 * DxLocalXid(): this backend's local transaction id.  PostgreSQL 17 moved
 * PGPROC.lxid into PGPROC.vxid.  Only valid once MyProc is set.
 */
#if PG_VERSION_NUM >= 170000
#define DxLocalXid() (MyProc->vxid.lxid)
#else
#define DxLocalXid() (MyProc->lxid)
#endif

/*
 * DxProcAclCheck(fn, role, mode): pg_proc_aclcheck, which PostgreSQL 16
 * replaced with object_aclcheck(ProcedureRelationId, ...).
 */
#include "catalog/pg_proc.h"
#include "utils/acl.h"
#if PG_VERSION_NUM >= 160000
#define DxProcAclCheck(fn, role, mode) object_aclcheck(ProcedureRelationId, (fn), (role), (mode))
#else
#define DxProcAclCheck(fn, role, mode) pg_proc_aclcheck((fn), (role), (mode))
#endif

#endif							/* DUROXIDE_COMPAT_H */
