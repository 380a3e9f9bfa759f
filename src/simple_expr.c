/*-------------------------------------------------------------------------
 * simple_expr.c
 *		Keeps PL/pgSQL's fast path for simple expressions working across the
 *		turns of one dispatcher batch.
 *
 * PL/pgSQL evaluates a "simple" expression (no table, one result: `acc :=
 * duroxide.call_activity(...)`) with an expression state kept in the
 * expression itself, flagged expr_simple_in_use while it runs so that a
 * recursive call of the same function does not reuse it.  The flag is
 * cleared when the evaluation returns, but not when it ends in an error, and
 * while it is set (and the top-level transaction is the same) the expression
 * is evaluated through SPI: an executor start, run and end per evaluation,
 * about ten times the cost.  A turn that suspends ends with an error raised
 * inside the expression of the durable call that suspended (replay.c,
 * Unwind), and a dispatcher runs many turns in one transaction: every later
 * turn of the batch that runs the same function then evaluated that
 * expression, on every iteration of its loops, the slow way (issue 15: 37%
 * of a dispatcher's time in Chain1000 with 4 instances).
 *
 * The repair: a PL/pgSQL plugin (the documented instrumentation interface,
 * the rendezvous variable "PLpgSQL_plugin"), installed in dispatchers only
 * (background workers, never a batch run from SQL) and only when no other
 * plugin (a debugger, plpgsql_check) is installed,
 * keeps the statements that have begun and not ended during a turn.  When
 * the turn is over nothing of PL/pgSQL runs in the process any more, so
 * every in-use flag is stale: DxSimpleExprTurnEnd clears the flags of the
 * expressions of the statements that were left by an error (and of the
 * variable defaults of the blocks among them).  The compiled functions
 * these point into cannot have been freed in between: PL/pgSQL frees a
 * compiled function only when it looks it up for a new call and finds it
 * out of date (a CREATE OR REPLACE committed meanwhile), and only when its
 * use count is zero; a statement left by an error keeps its function's use
 * count raised until the turn end, so a function replaced and called again
 * later in the same turn is not freed under the repair (it is left to
 * PL/pgSQL, as one it replaced while in use).
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "plpgsql.h"
#include "postmaster/bgworker.h"

#include "compat.h"
#include "simple_expr.h"

#define DX_STMT_STACK 256

static PLpgSQL_plugin dx_plugin;
static bool installed = false;
static bool in_turn = false;

/* statements begun and not ended in this turn, innermost last */
static PLpgSQL_stmt *stack[DX_STMT_STACK];
static PLpgSQL_function *stack_func[DX_STMT_STACK];
static int	depth = 0;
static int	overflow = 0;		/* pushes beyond DX_STMT_STACK, not kept */

/* statements left by an error that a handler caught, to repair at turn end */
static PLpgSQL_stmt *left[DX_STMT_STACK];
static PLpgSQL_function *left_func[DX_STMT_STACK];
static int	nleft = 0;

/* clear an expression's in-use flag (called when nothing of PL/pgSQL runs) */
static void
ClearExpr(PLpgSQL_expr *expr)
{
	if (expr != NULL)
		expr->expr_simple_in_use = false;
}

/* clear the flags of a list of expressions */
static void
ClearExprList(List *exprs)
{
	ListCell   *lc;

	foreach(lc, exprs)
		ClearExpr((PLpgSQL_expr *) lfirst(lc));
}

/* clear the flags of the expressions a statement evaluates itself */
static void
ClearStmt(PLpgSQL_stmt *stmt, PLpgSQL_function *func)
{
	ListCell   *lc;

	switch (stmt->cmd_type)
	{
		case PLPGSQL_STMT_BLOCK:
			{
				PLpgSQL_stmt_block *b = (PLpgSQL_stmt_block *) stmt;

				for (int i = 0; i < b->n_initvars && func != NULL; i++)
				{
					PLpgSQL_datum *d = func->datums[b->initvarnos[i]];

					if (d->dtype == PLPGSQL_DTYPE_VAR || d->dtype == PLPGSQL_DTYPE_REC)
						ClearExpr(((PLpgSQL_variable *) d)->default_val);
				}
				break;
			}
		case PLPGSQL_STMT_ASSIGN:
			ClearExpr(((PLpgSQL_stmt_assign *) stmt)->expr);
			break;
		case PLPGSQL_STMT_PERFORM:
			ClearExpr(((PLpgSQL_stmt_perform *) stmt)->expr);
			break;
		case PLPGSQL_STMT_RETURN:
			ClearExpr(((PLpgSQL_stmt_return *) stmt)->expr);
			break;
		case PLPGSQL_STMT_RETURN_NEXT:
			ClearExpr(((PLpgSQL_stmt_return_next *) stmt)->expr);
			break;
		case PLPGSQL_STMT_IF:
			{
				PLpgSQL_stmt_if *s = (PLpgSQL_stmt_if *) stmt;

				ClearExpr(s->cond);
				foreach(lc, s->elsif_list)
					ClearExpr(((PLpgSQL_if_elsif *) lfirst(lc))->cond);
				break;
			}
		case PLPGSQL_STMT_CASE:
			{
				PLpgSQL_stmt_case *s = (PLpgSQL_stmt_case *) stmt;

				ClearExpr(s->t_expr);
				foreach(lc, s->case_when_list)
					ClearExpr(((PLpgSQL_case_when *) lfirst(lc))->expr);
				break;
			}
		case PLPGSQL_STMT_WHILE:
			ClearExpr(((PLpgSQL_stmt_while *) stmt)->cond);
			break;
		case PLPGSQL_STMT_FORI:
			{
				PLpgSQL_stmt_fori *s = (PLpgSQL_stmt_fori *) stmt;

				ClearExpr(s->lower);
				ClearExpr(s->upper);
				ClearExpr(s->step);
				break;
			}
		case PLPGSQL_STMT_FOREACH_A:
			ClearExpr(((PLpgSQL_stmt_foreach_a *) stmt)->expr);
			break;
		case PLPGSQL_STMT_EXIT:
			ClearExpr(((PLpgSQL_stmt_exit *) stmt)->cond);
			break;
		case PLPGSQL_STMT_ASSERT:
			ClearExpr(((PLpgSQL_stmt_assert *) stmt)->cond);
			ClearExpr(((PLpgSQL_stmt_assert *) stmt)->message);
			break;
		case PLPGSQL_STMT_RAISE:
			ClearExprList(((PLpgSQL_stmt_raise *) stmt)->params);
			break;
		default:
			/* the others run their expressions through SPI anyway */
			break;
	}
}

/* plugin: a statement begins */
static void
StmtBeg(PLpgSQL_execstate *estate, PLpgSQL_stmt *stmt)
{
	if (!in_turn)
		return;
	if (depth < DX_STMT_STACK)
	{
		stack[depth] = stmt;
		stack_func[depth] = estate->func;
		depth++;
	}
	else
		overflow++;
}

/* plugin: a statement ended normally; what lies above it was left by an error */
static void
StmtEnd(PLpgSQL_execstate *estate, PLpgSQL_stmt *stmt)
{
	if (!in_turn)
		return;
	if (overflow > 0)
	{
		overflow--;
		return;
	}
	while (depth > 0 && stack[depth - 1] != stmt)
	{
		depth--;
		if (nleft < DX_STMT_STACK)
		{
			left[nleft] = stack[depth];
			left_func[nleft] = stack_func[depth];
			/* pinned: a CREATE OR REPLACE seen later in the turn must not free it */
			DxPlpgsqlUseCount(left_func[nleft])++;
			nleft++;
		}
	}
	if (depth > 0)
		depth--;
}

/* install the plugin in this process unless another one is there */
static void
Install(void)
{
	PLpgSQL_plugin **ptr;

	installed = true;			/* one try per process */
	ptr = (PLpgSQL_plugin **) find_rendezvous_variable("PLpgSQL_plugin");
	if (*ptr != NULL)
		return;
	memset(&dx_plugin, 0, sizeof(dx_plugin));
	dx_plugin.stmt_beg = StmtBeg;
	dx_plugin.stmt_end = StmtEnd;
	*ptr = &dx_plugin;
}

/*
 * A turn is about to run the orchestration function.  Only in a dispatcher
 * (a background worker, where no PL/pgSQL code runs around the turn): a
 * batch run from SQL (duroxide._dispatch_batch) may have PL/pgSQL frames
 * above it whose expressions are really in use.
 */
void
DxSimpleExprTurnBegin(void)
{
	if (MyBgworkerEntry == NULL)
		return;
	if (!installed)
		Install();
	depth = 0;
	overflow = 0;
	nleft = 0;
	in_turn = true;
}

/* the turn is over (normally or not): repair what its errors left */
void
DxSimpleExprTurnEnd(void)
{
	if (!in_turn)
		return;
	in_turn = false;
	for (int i = 0; i < depth; i++)
		ClearStmt(stack[i], stack_func[i]);
	for (int i = 0; i < nleft; i++)
	{
		ClearStmt(left[i], left_func[i]);
		DxPlpgsqlUseCount(left_func[i])--;
	}
	depth = 0;
	overflow = 0;
	nleft = 0;
}
