/*-------------------------------------------------------------------------
 * concurrency.h
 *		Activity concurrency limits (API.md 8.3).
 *-------------------------------------------------------------------------
 */
#ifndef DUROXIDE_CONCURRENCY_H
#define DUROXIDE_CONCURRENCY_H

#include "postgres.h"

/*
 * The limited activities, for the activity workers' common claim (a NOT IN
 * subquery: one hashed scan of a small table per claim).  Their attempts
 * are claimed only by DxClaimLimitedAttempts.
 */
#define DX_LIMITED_ACTIVITIES "SELECT l.name FROM duroxide.activity_limits l"

/* true when some activity has a limit (cached until the registry changes) */
extern bool DxActivityLimitsExist(void);

/*
 * Claim up to n attempts of limited activities within their limits (one
 * suspect at most with suspect), in the current transaction, as
 * DxBootId() / slot.  Leaves the claimed rows in SPI_tuptable with the
 * columns of the activity workers' claim.  Inside SPI.
 */
extern void DxClaimLimitedAttempts(int slot, int n, bool suspect);

/*
 * The hook for other claimers of activity attempts (external leases):
 * -1 when the activity has no limit; otherwise how many more attempts of it
 * the current transaction may claim, with the limit row locked until the
 * transaction ends (claims of one limited activity are serialized), so
 * that the caller's claims committed with it count for the next claimer.
 * Inside SPI.
 */
extern int	DxActivitySlotsFree(const char *name);

#endif
