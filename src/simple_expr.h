/*-------------------------------------------------------------------------
 * simple_expr.h
 *		Keeps PL/pgSQL's fast path for simple expressions working across the
 *		turns of one dispatcher batch (see simple_expr.c).
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SIMPLE_EXPR_H
#define DUROXIDE_SIMPLE_EXPR_H

extern void DxSimpleExprTurnBegin(void);
extern void DxSimpleExprTurnEnd(void);

#endif
