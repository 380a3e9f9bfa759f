/*-------------------------------------------------------------------------
 * sandbox.h
 *		The one place that runs user code: orchestration turns, activity
 *		attempts and every other call of a function that a user registered.
 *
 * The engine's workers are connected as the bootstrap superuser and run the
 * code of every tenant, one call after another, in the same process.  A call
 * through DxSandboxRun promises:
 *
 *	  1. Rights: the function runs as the role that registered it (current
 *		 user = owner) with SECURITY_LOCAL_USERID_CHANGE and
 *		 SECURITY_RESTRICTED_OPERATION, as REFRESH MATERIALIZED VIEW runs a
 *		 view's owner's code (matview.c).  So SET ROLE and SET SESSION
 *		 AUTHORIZATION are refused, and so is anything that would outlive the
 *		 call as session state: CREATE TEMP TABLE, PREPARE / DEALLOCATE,
 *		 DECLARE ... WITH HOLD, LISTEN / UNLISTEN, DISCARD, CLOSE.
 *	  2. Callable: the function must still exist and its owner must have
 *		 EXECUTE on it now (a REVOKE after registration takes effect);
 *		 otherwise the call fails with a clear error naming `what`.
 *	  3. Settings: the call starts with the settings a normal session of the
 *		 owner would have where the engine changes them: search_path is the
 *		 owner's (ALTER ROLE ... [IN DATABASE ...] SET search_path, else the
 *		 server's default), enable_seqscan and jit their configured values.
 *		 Every setting the call changes, at any level (SET, SET LOCAL,
 *		 set_config(..., false)), is rolled back when it returns
 *		 (AtEOXact_GUC(false, ...)); a function's own SET clauses work as
 *		 usual inside it.
 *	  4. Leftovers: cursors the call opened and did not close are closed, and
 *		 session-level advisory locks it took are released (in the engine's
 *		 workers, which hold none of their own).  Transaction-level locks
 *		 stay until the batch's transaction ends, as in any transaction.
 *	  5. Isolation: the call runs in an internal subtransaction, so its
 *		 failure rolls back only its own work; with read_only, XactReadOnly
 *		 is set for the call (table writes fail with SQLSTATE 25006); with a
 *		 timeout, STATEMENT_TIMEOUT is armed for the call only.
 *	  6. Result: the value (jsonb, copied into the caller's memory context)
 *		 or the error (ErrorData) is returned; nothing escapes as an ERROR.
 *
 * The engine's own statements never depend on what user code does: the
 * workers pin search_path to pg_catalog, pg_temp for their own statements,
 * user code cannot change it (3), and engine SQL that runs while user code
 * is on the stack is bracketed by DxEngineBegin/DxEngineEnd (util.h).
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SANDBOX_H
#define DUROXIDE_SANDBOX_H

#include "postgres.h"

#include "utils/jsonb.h"

/* calls the user function; returns its result (jsonb) and sets *isnull */
typedef Datum (*DxInvoker) (void *arg, bool *isnull);

/* what to run, for whom */
typedef struct DxSandboxRequest
{
	Oid			owner;			/* the role that registered the function */
	Oid			fn;				/* the function: checked to exist and be executable */
	const char *what;			/* for errors: e.g. activity "SendEmail" */
	bool		read_only;		/* refuse table writes (orchestrations) */
	int64		timeout_ms;		/* STATEMENT_TIMEOUT for the call; 0: none */
	DxInvoker	invoker;
	void	   *arg;
} DxSandboxRequest;

/* what came back */
typedef struct DxCallResult
{
	bool		ok;
	Jsonb	   *value;			/* NULL for SQL NULL */
	ErrorData  *error;			/* when !ok */
} DxCallResult;

extern void DxSandboxRun(const DxSandboxRequest *req, DxCallResult *result);

#endif
