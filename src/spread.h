/*-------------------------------------------------------------------------
 * spread.h
 *		Claim sizing that spreads work over the free workers of a kind.
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_SPREAD_H
#define DUROXIDE_SPREAD_H

#include "postgres.h"

#include "worker.h"

extern int	DxFairShare(const DxWorkOps *k, int limit);

#endif
